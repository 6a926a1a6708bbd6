/* SPDX-License-Identifier: ISC */
#include <netinet/in.h>
#include <string.h>

#include "datapath.h"
#include "filterd.h"
#include "trace.h"
#include "transform.h"

struct Filterd {
        BhService *svc;
        Datapath *dp;
};

/* ---------------------------------------------------------------- counters */

#define COUNTER(name, field) { name, offsetof(DpCounters, field) }
static const struct {
        const char *name;
        size_t offset;
} counters[] = {
        COUNTER("in_total", in_total),
        COUNTER("in_ah", in_ah),
        COUNTER("in_esp", in_esp),
        COUNTER("out_total", out_total),
        COUNTER("out_ah", out_ah),
        COUNTER("out_esp", out_esp),
        COUNTER("in_dropped", in_dropped),
        COUNTER("in_filter_deny", in_filter_deny),
        COUNTER("in_ah_compute", in_ah_compute),
        COUNTER("in_esp_compute", in_esp_compute),
        COUNTER("in_ah_replay", in_ah_replay),
        COUNTER("in_esp_replay", in_esp_replay),
        COUNTER("out_dropped", out_dropped),
        COUNTER("out_filter_deny", out_filter_deny),
        COUNTER("cache_added", cache_added),
        COUNTER("cache_expired", cache_expired),
        COUNTER("cache_deleted", cache_deleted),
        COUNTER("in_unknown_spi", in_unknown_spi),
        COUNTER("in_wrong_source", in_wrong_source),
        COUNTER("in_selector_mismatch", in_selector_mismatch),
        COUNTER("in_malformed", in_malformed),
        COUNTER("in_not_esp", in_not_esp),
        COUNTER("in_write_failed", in_write_failed),
        COUNTER("in_misrouted", in_misrouted),
        COUNTER("in_sa_expired", in_sa_expired),
        COUNTER("out_sa_expired", out_sa_expired),
        COUNTER("out_no_sa", out_no_sa),
        COUNTER("out_encap_failed", out_encap_failed),
        COUNTER("out_send_failed", out_send_failed),
        COUNTER("out_trapped", out_trapped),
        COUNTER("keepalives_in", keepalives_in),
        COUNTER("keepalives_out", keepalives_out),
        COUNTER("tso_super_packets", tso_super_packets),
        COUNTER("gro_super_packets", gro_super_packets),
        COUNTER("udp_gro_datagrams", udp_gro_datagrams),
        COUNTER("in_handed_off", in_handed_off),
        COUNTER("in_handoff_full", in_handoff_full),
};

static void filterd_handle_get_counters(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        DpCounters sum;
        dp_counters(f->dp, &sum);
        const DpCounters *c = &sum;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{st}", &arr);
        for (size_t i = 0; i < G_N_ELEMENTS(counters); i++) {
                dbus_uint64_t v = *(const uint64_t *) ((const char *) c + counters[i].offset);
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &counters[i].name);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_UINT64, &v);
                dbus_message_iter_close_container(&arr, &ent);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

/* ---------------------------------------------------------------- SAs */

/* Untrusted in shape even from cryptod: every field is checked. */
static bool parse_spec(DBusMessageIter *st, DpSaSpec *s, char **ret_why) {
        const char *tunnel, *dir, *proto, *mode, *encap, *local, *remote;
        dbus_uint32_t spi;
        dbus_uint16_t encr, bits, integ;
        dbus_bool_t esn, replay;
        dbus_message_iter_get_basic(st, &tunnel);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &dir);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &proto);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &spi);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &encr);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &bits);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &integ);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &esn);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &replay);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &mode);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &encap);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &local);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &remote);

        memset(s, 0, sizeof *s);
        if (!bh_tunnel_name_valid(tunnel)) {
                *ret_why = g_strdup("invalid tunnel name");
                return false;
        }
        g_strlcpy(s->tunnel, tunnel, sizeof s->tunnel);
        if (strcmp(dir, "in") == 0)
                s->direction = DP_IN;
        else if (strcmp(dir, "out") == 0)
                s->direction = DP_OUT;
        else {
                *ret_why = g_strdup("direction must be in or out");
                return false;
        }
        if (strcmp(proto, "esp") == 0)
                s->protocol = IPPROTO_ESP;
        else if (strcmp(proto, "ah") == 0)
                s->protocol = IPPROTO_AH;
        else {
                *ret_why = g_strdup("protocol must be esp or ah");
                return false;
        }
        if (spi < 256) {
                *ret_why = g_strdup_printf("SPI %u is reserved", spi);
                return false;
        }
        s->spi = spi;
        s->encr = encr;
        s->encr_bits = bits;
        s->integ = integ;
        s->esn = esn;
        s->replay = replay;
        if (strcmp(mode, "tunnel") == 0)
                s->mode = BH_MODE_TUNNEL;
        else if (strcmp(mode, "transport") == 0)
                s->mode = BH_MODE_TRANSPORT;
        else {
                *ret_why = g_strdup("mode must be tunnel or transport");
                return false;
        }
        if (strcmp(encap, "udp") == 0)
                s->encap = BH_ENCAP_UDP;
        else if (strcmp(encap, "esp") == 0)
                s->encap = BH_ENCAP_ESP;
        else {
                *ret_why = g_strdup("encapsulation must be udp or esp");
                return false;
        }
        if (bh_addr_parse(local, false, &s->local) < 0 || bh_addr_parse(remote, false, &s->remote) < 0 ||
            s->local.family != s->remote.family) {
                *ret_why = g_strdup("local and remote must be addresses of one family");
                return false;
        }
        return true;
}

static void filterd_handle_install_sa(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        DBusMessageIter it, st, arr;
        /* Keys travel only on the direct connection from cryptod: never
         * through the bus daemon, whose memory would keep a copy. */
        if (!bh_conn_is_peer(bh_call_conn(call))) {
                dbus_message_iter_init(bh_call_message(call), &it);
                dbus_message_iter_next(&it);
                dbus_message_iter_recurse(&it, &arr);
                const uint8_t *k = NULL;
                int kn = 0;
                dbus_message_iter_get_fixed_array(&arr, &k, &kn);
                bh_secure_wipe((void *) k, (size_t) kn);
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "SAs are installed over cryptod's peer connection only");
                return;
        }
        dbus_message_iter_init(bh_call_message(call), &it);
        dbus_message_iter_recurse(&it, &st);
        DpSaSpec spec;
        g_autofree char *why = NULL;
        bool ok = parse_spec(&st, &spec, &why);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &arr);
        const uint8_t *bytes = NULL;
        int n = 0;
        dbus_message_iter_get_fixed_array(&arr, &bytes, &n);
        BhSecret *keymat = bh_secret_new_copy(bytes, (size_t) n);
        /* The message's copy of the key goes now, not when libdbus frees it. */
        bh_secure_wipe((void *) bytes, (size_t) n);
        if (!ok) {
                bh_secret_free(keymat);
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "%s", why);
                return;
        }
        int r = keymat ? dp_install_sa(f->dp, &spec, keymat, &why) : -ENOMEM;
        bh_secret_free(keymat);
        if (r < 0) {
                bh_call_error(call, r == -EOPNOTSUPP ? BH_ERROR_NOT_SUPPORTED : DBUS_ERROR_INVALID_ARGS, "%s", why);
                return;
        }
        char a[BH_ADDR_STRLEN];
        bh_log_tunnel(BH_LOG_INFORMATION, spec.tunnel, "SA installed: %s %s SPI 0x%08x %s/%s%s to %s",
                      spec.direction == DP_IN ? "in" : "out", spec.protocol == IPPROTO_ESP ? "ESP" : "AH", spec.spi,
                      bh_encr_name(spec.encr), bh_integ_name(spec.integ),
                      spec.encap == BH_ENCAP_UDP ? " in UDP" : "", bh_addr_to_string(&spec.remote, a));
        bh_call_return_empty(call);
}

static void filterd_handle_remove_sas(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        const char *tunnel;
        const uint32_t *keep = NULL;
        int n_keep = 0;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_ARRAY, DBUS_TYPE_UINT32,
                              &keep, &n_keep, DBUS_TYPE_INVALID);
        unsigned n = dp_remove_sas(f->dp, tunnel, keep, (size_t) n_keep);
        if (n_keep > 0)
                bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "%u SAs removed, keys wiped; %d kept", n, n_keep);
        else
                bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "%u SAs removed, keys wiped", n);
        bh_call_return_empty(call);
}

static void filterd_handle_remove_sa(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        const char *tunnel, *direction;
        dbus_uint32_t spi;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_STRING, &direction,
                              DBUS_TYPE_UINT32, &spi, DBUS_TYPE_INVALID);
        DpDirection dir;
        if (strcmp(direction, "in") == 0)
                dir = DP_IN;
        else if (strcmp(direction, "out") == 0)
                dir = DP_OUT;
        else {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "direction must be in or out");
                return;
        }
        if (!dp_remove_sa(f->dp, tunnel, dir, spi)) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "tunnel %s has no %s SA 0x%08x", tunnel,
                              dir == DP_IN ? "inbound" : "outbound", spi);
                return;
        }
        bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "%s SA 0x%08x removed, keys wiped", dir == DP_IN ? "inbound" : "outbound",
                      spi);
        bh_call_return_empty(call);
}

static bool parse_ts_list(DBusMessageIter *it, GArray *out, char **ret_why) {
        DBusMessageIter arr;
        dbus_message_iter_recurse(it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING; dbus_message_iter_next(&arr)) {
                const char *s;
                BhTs ts;
                dbus_message_iter_get_basic(&arr, &s);
                if (out->len >= BH_TUNNEL_TS_MAX || bh_ts_parse(s, &ts, ret_why) < 0) {
                        if (!*ret_why)
                                *ret_why = g_strdup("too many selectors");
                        return false;
                }
                g_array_append_val(out, ts);
        }
        if (out->len == 0) {
                *ret_why = g_strdup("no selector");
                return false;
        }
        return true;
}

/* What SetPolicy and SetTrap begin with: the tunnel and its two selector
 * lists, checked (the call is answered with the error otherwise); it is
 * left on the last list. */
static bool policy_args(BhCall *call, DBusMessageIter *it, const char **ret_tunnel, GArray *local, GArray *remote) {
        g_autofree char *why = NULL;
        dbus_message_iter_init(bh_call_message(call), it);
        dbus_message_iter_get_basic(it, ret_tunnel);
        dbus_message_iter_next(it);
        if (!bh_tunnel_name_valid(*ret_tunnel)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "invalid tunnel name");
                return false;
        }
        if (!parse_ts_list(it, local, &why) || (dbus_message_iter_next(it), !parse_ts_list(it, remote, &why))) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "%s", why);
                return false;
        }
        return true;
}

static void filterd_handle_set_policy(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        DBusMessageIter it;
        const char *tunnel;
        g_autoptr(GArray) local = g_array_new(FALSE, FALSE, sizeof(BhTs));
        g_autoptr(GArray) remote = g_array_new(FALSE, FALSE, sizeof(BhTs));
        if (!policy_args(call, &it, &tunnel, local, remote))
                return;
        dbus_uint64_t soft_bytes, soft_packets;
        dbus_uint32_t soft_seconds;
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &soft_bytes);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &soft_packets);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &soft_seconds);
        dp_set_policy(f->dp, tunnel, (BhTs *) local->data, local->len, (BhTs *) remote->data, remote->len);
        dp_set_limits(f->dp, tunnel, soft_bytes, soft_packets, soft_seconds);
        bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "policy set: %u local, %u remote selectors; soft limits %" G_GUINT64_FORMAT
                      " bytes, %" G_GUINT64_FORMAT " packets, %u s (0: none)", local->len, remote->len, soft_bytes,
                      soft_packets, soft_seconds);
        bh_call_return_empty(call);
}

static void filterd_handle_set_trap(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        DBusMessageIter it;
        const char *tunnel;
        g_autoptr(GArray) local = g_array_new(FALSE, FALSE, sizeof(BhTs));
        g_autoptr(GArray) remote = g_array_new(FALSE, FALSE, sizeof(BhTs));
        if (!policy_args(call, &it, &tunnel, local, remote))
                return;
        dbus_uint32_t holddown;
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &holddown);
        if (holddown > 3600) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "a hold-down of %u s is more than an hour", holddown);
                return;
        }
        dp_set_trap(f->dp, tunnel, (BhTs *) local->data, local->len, (BhTs *) remote->data, remote->len, holddown);
        bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "trap set: %u local, %u remote selectors; no Acquire for %u s",
                      local->len, remote->len, holddown);
        bh_call_return_empty(call);
}

static void filterd_handle_remove_policy(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        const char *tunnel;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_INVALID);
        if (!dp_remove_policy(f->dp, tunnel)) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no policy for that tunnel");
                return;
        }
        bh_call_return_empty(call);
}

static void append_sa(const DpSaInfo *sa, void *userdata) {
        DBusMessageIter *arr = userdata, st;
        const char *dir = sa->direction == DP_IN ? "in" : "out";
        const char *proto = sa->protocol == IPPROTO_ESP ? "esp" : "ah";
        /* Key size 0 is the cipher's only one (3DES, ChaCha20-Poly1305),
         * which the name shows as for the others; ENCR_NULL has none. */
        const BhEncrInfo *e = bh_encr_lookup(sa->encr);
        unsigned bits = sa->encr_bits ? sa->encr_bits : e ? e->key_bits[0] : 0;
        g_autofree char *encr = bits ? g_strdup_printf("%s_%u", bh_encr_name(sa->encr), bits)
                                     : g_strdup(bh_encr_name(sa->encr));
        g_autofree char *transforms = sa->protocol == IPPROTO_AH ? g_strdup(bh_integ_name(sa->integ))
                                      : sa->integ ? g_strdup_printf("%s/%s", encr, bh_integ_name(sa->integ))
                                                  : g_strdup(encr);
        dbus_uint32_t spi = sa->spi;
        dbus_uint64_t packets = sa->packets, bytes = sa->bytes, drops = sa->drops;
        const char *t = transforms;
        dbus_message_iter_open_container(arr, DBUS_TYPE_STRUCT, NULL, &st);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &sa->tunnel);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &dir);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &proto);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &spi);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &t);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &packets);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &bytes);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &drops);
        dbus_message_iter_close_container(arr, &st);
}

static void filterd_handle_list_sas(BhCall *call, void *userdata) {
        Filterd *f = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(sssusttt)", &arr);
        dp_foreach_sa(f->dp, append_sa, &arr);
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void filterd_handle_read_trace(BhCall *call, void *userdata) {
        dbus_uint64_t after;
        dbus_uint32_t max;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_UINT64, &after, DBUS_TYPE_UINT32, &max,
                              DBUS_TYPE_INVALID);
        const TraceEvent *ev;
        uint64_t next, lost;
        unsigned n = trace_read(after, MIN(max, 1024u), &ev, &next, &lost);
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init_append(reply, &it);
        dbus_uint64_t nx = next, lo = lost;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &nx);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &lo);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(txss)", &arr);
        for (unsigned i = 0; i < n; i++) {
                dbus_uint64_t seq = ev[i].seq;
                dbus_int64_t usec = ev[i].usec;
                const char *cat = trace_category_name(ev[i].category), *text = ev[i].text;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &seq);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_INT64, &usec);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &cat);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &text);
                dbus_message_iter_close_container(&arr, &st);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void set_mask(Filterd *f, uint32_t mask, const BhCaller *caller) {
        char who[128];
        __atomic_store_n(&trace_mask, mask & TRACE_ALL, __ATOMIC_RELAXED);
        bh_log_event("trace categories 0x%03x set by %s", trace_mask, bh_caller_describe(caller, who, sizeof who));
        bh_ipc_property_changed(f->svc->ipc, f->svc->entry->path, bh_iface_filter1.name, "TraceMask");
}

static void filterd_handle_set_trace_level(BhCall *call, void *userdata) {
        dbus_uint32_t level;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_UINT32, &level, DBUS_TYPE_INVALID);
        if (level > 2) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "trace level must be 0, 1 or 2");
                return;
        }
        bh_call_return_empty(call);
        set_mask(userdata, trace_mask_for_level(level), bh_call_caller(call));
}

static void get_trace_mask(DBusMessageIter *it, void *userdata) {
        dbus_uint32_t m = trace_mask;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &m);
}

static void set_trace_mask(BhCall *call, DBusMessageIter *value, void *userdata) {
        dbus_uint32_t m;
        dbus_message_iter_get_basic(value, &m);
        if (m & ~(uint32_t) TRACE_ALL) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "unknown trace category bits 0x%x", m & ~(uint32_t) TRACE_ALL);
                return;
        }
        bh_call_return_empty(call);
        set_mask(userdata, m, bh_call_caller(call));
}

static void get_sas(DBusMessageIter *it, void *userdata) {
        Filterd *f = userdata;
        dbus_uint32_t n = dp_sa_count(f->dp);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

/* The packets each worker carried, in and out: how the load spreads. */
static void get_workers(DBusMessageIter *it, void *userdata) {
        Filterd *f = userdata;
        DBusMessageIter arr;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "t", &arr);
        for (unsigned k = 0; k < dp_worker_count(f->dp); k++) {
                dbus_uint64_t n = dp_worker_packets(f->dp, k);
                dbus_message_iter_append_basic(&arr, DBUS_TYPE_UINT64, &n);
        }
        dbus_message_iter_close_container(it, &arr);
}

static const BhMethodImpl filterd_methods[] = {
        { "GetCounters", filterd_handle_get_counters },
        { "InstallSA", filterd_handle_install_sa },
        { "RemoveSAs", filterd_handle_remove_sas },
        { "RemoveSA", filterd_handle_remove_sa },
        { "SetPolicy", filterd_handle_set_policy },
        { "RemovePolicy", filterd_handle_remove_policy },
        { "SetTrap", filterd_handle_set_trap },
        { "ListSAs", filterd_handle_list_sas },
        { "ReadTrace", filterd_handle_read_trace },
        { "SetTraceLevel", filterd_handle_set_trace_level },
        {},
};

static const BhPropertyImpl filterd_properties[] = {
        { "SAs", get_sas, NULL },
        { "Workers", get_workers, NULL },
        { "TraceMask", get_trace_mask, set_trace_mask },
        {},
};

/* An SA reached a lifetime limit: the bus hears it (SALimit), and isakmpd
 * rekeys its CHILD SA. */
static void limit_reached(const char *tunnel, DpDirection direction, uint32_t spi, const char *what, bool hard,
                          void *userdata) {
        Filterd *f = userdata;
        const char *dir = direction == DP_IN ? "in" : "out";
        dbus_uint32_t s = spi;
        dbus_bool_t h = hard;
        bh_log_tunnel(hard ? BH_LOG_ERRORS : BH_LOG_INFORMATION, tunnel, "%s SA 0x%08x reached its %s limit (%s)%s", dir,
                      spi, hard ? "hard" : "soft", what, hard ? ": it carries no more packets" : "");
        bh_ipc_emit(f->svc->ipc, f->svc->entry->path, &bh_iface_filter1, "SALimit", DBUS_TYPE_STRING, &tunnel,
                    DBUS_TYPE_STRING, &dir, DBUS_TYPE_UINT32, &s, DBUS_TYPE_STRING, &what, DBUS_TYPE_BOOLEAN, &h,
                    DBUS_TYPE_INVALID);
}

/* Traffic met a trap (start = trap): tmd hears it (Acquire) and
 * negotiates the tunnel. The data path says so at most once per trap and
 * negotiation. */
static void acquire(const char *tunnel, const BhAddr *src, const BhAddr *dst, void *userdata) {
        Filterd *f = userdata;
        char sb[BH_ADDR_STRLEN], db[BH_ADDR_STRLEN];
        const char *s = bh_addr_to_string(src, sb), *d = bh_addr_to_string(dst, db);
        bh_log_tunnel(BH_LOG_INFORMATION, tunnel, "traffic from %s to %s held by the trap: Acquire", s, d);
        bh_ipc_emit(f->svc->ipc, f->svc->entry->path, &bh_iface_filter1, "Acquire", DBUS_TYPE_STRING, &tunnel,
                    DBUS_TYPE_STRING, &s, DBUS_TYPE_STRING, &d, DBUS_TYPE_INVALID);
}

Filterd *filterd_new(BhService *svc) {
        Filterd *f = g_new0(Filterd, 1);
        f->svc = svc;
        DpFds fds = {
                .raw4 = bh_service_fd(svc, "esp-raw4"),
                .raw6 = bh_service_fd(svc, "esp-raw6"),
                .ah4 = bh_service_fd(svc, "ah-raw4"),
                .ah6 = bh_service_fd(svc, "ah-raw6"),
                .ip4 = bh_service_fd(svc, "ip-raw4"),
                .ip6 = bh_service_fd(svc, "ip-raw6"),
        };
        /* Worker k's: "tun.K", "esp-udp4.K", "esp-udp6.K" (k from 1). */
        for (unsigned k = 0; k < DP_MAX_WORKERS; k++) {
                g_autofree char *suffix = k ? g_strdup_printf(".%u", k) : g_strdup("");
                g_autofree char *tun = g_strconcat("tun", suffix, NULL);
                g_autofree char *udp4 = g_strconcat("esp-udp4", suffix, NULL);
                g_autofree char *udp6 = g_strconcat("esp-udp6", suffix, NULL);
                fds.tun[k] = bh_service_fd(svc, tun);
                fds.udp4[k] = bh_service_fd(svc, udp4);
                fds.udp6[k] = bh_service_fd(svc, udp6);
        }
        f->dp = dp_new(NULL, &fds);
        bh_log_info("data path: %u worker%s", dp_worker_count(f->dp), dp_worker_count(f->dp) == 1 ? "" : "s");
        dp_on_limit(f->dp, limit_reached, f);
        dp_on_acquire(f->dp, acquire, f);
        g_autofree char *why = NULL;
        if (!dp_ready(f->dp, &why))
                bh_log_error("the data path cannot carry packets: %s", why);
        int r = bh_transform_preload();
        if (r < 0)
                bh_log_error("cannot load the ciphers: %s", g_strerror(-r));
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_filter1, filterd_methods, filterd_properties, f);
        return f;
}

void filterd_free(Filterd *f) {
        if (!f)
                return;
        dp_free(f->dp);
        g_free(f);
}
