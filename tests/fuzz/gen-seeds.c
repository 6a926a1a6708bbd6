/* SPDX-License-Identifier: ISC */
/* Writes the binary seeds of the fuzz targets, made by the real code:
 *   corpus/esp/            packets from esp_encap() for every transform of
 *                          fuzz_esp_transforms[], with the fuzz target's keys,
 *                          so that they pass the ICV
 *   corpus/ah/             packets from ah_encap(), likewise, and packets to
 *                          protect for the target's round trip
 *   corpus/dbus-dispatch/  marshalled calls of every method and property of
 *                          bh_interfaces[], with zero arguments of the right
 *                          signature, from a sender allowed to make them
 *   dbus-dispatch.dict     the names in those messages
 *   corpus/ikev2/          messages of every exchange from the builder of
 *                          services/isakmpd/msg.c (with the plaintext their SK
 *                          payload would decrypt to), and each payload body
 *                          alone for its decoder
 *   corpus/offload/        TCP super packets as the stack hands them over, and
 *                          batches of the segments offload_tso_segment() cut
 *                          from them
 *
 *   fuzz-gen-seeds DIR [TARGET]   (DIR: tests/fuzz in the source tree;
 *                                  TARGET: only that target's seeds)
 *
 * The output is committed; run this again when a format changes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ah.h"
#include "esp.h"
#include "fuzz-shared.h"
#include "ipc.h"
#include "msg.h"
#include "offload.h"
#include "tunnel.h"

static const char *out_dir;
static unsigned n_written;

static void die(const char *what) {
        fprintf(stderr, "gen-seeds: %s\n", what);
        exit(1);
}

static void write_seed(const char *target, const char *name, const uint8_t *prefix, size_t prefix_len,
                       const uint8_t *data, size_t len) {
        g_autofree char *dir = g_build_filename(out_dir, "corpus", target, NULL);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_byte_array_append(b, prefix, (guint) prefix_len);
        g_byte_array_append(b, data, (guint) len);
        g_autoptr(GError) error = NULL;
        if (g_mkdir_with_parents(dir, 0755) < 0 || !g_file_set_contents(path, (const char *) b->data, b->len, &error))
                die(path);
        n_written++;
}

/* ------------------------------------------------------------ packets */

static void ipv4_checksum(uint8_t *h, size_t hlen) {
        pkt_ipv4_set_checksum(h, hlen);
}

/* An IPv4 UDP datagram with `opts` bytes of options (a multiple of 4). */
static size_t ipv4_udp(uint8_t *p, size_t payload, const uint8_t *opts, size_t n_opts, uint8_t seed) {
        size_t hl = PKT_IPV4_HDR_LEN + n_opts, total = hl + PKT_UDP_HDR_LEN + payload;
        memset(p, 0, total);
        p[0] = (uint8_t) (0x40 | hl / 4);
        pkt_store_be16(p + 2, (uint16_t) total);
        pkt_store_be16(p + 4, 0x1234);
        p[8] = 64;
        p[9] = PKT_PROTO_UDP;
        const uint8_t src[4] = { 10, 1, 0, 5 }, dst[4] = { 10, 2, 0, 9 };
        memcpy(p + 12, src, 4);
        memcpy(p + 16, dst, 4);
        if (n_opts)
                memcpy(p + PKT_IPV4_HDR_LEN, opts, n_opts);
        ipv4_checksum(p, hl);
        uint8_t *u = p + hl;
        pkt_store_be16(u, 5353);
        pkt_store_be16(u + 2, 53);
        pkt_store_be16(u + 4, (uint16_t) (PKT_UDP_HDR_LEN + payload));
        for (size_t i = 0; i < payload; i++)
                u[PKT_UDP_HDR_LEN + i] = (uint8_t) (seed + i);
        return total;
}

/* An IPv6 UDP datagram, behind `ext` bytes of extension headers whose
 * first next-header is first_nh (ext already chains to UDP). */
static size_t ipv6_udp(uint8_t *p, size_t payload, const uint8_t *ext, size_t n_ext, uint8_t first_nh, uint8_t seed) {
        size_t total = PKT_IPV6_HDR_LEN + n_ext + PKT_UDP_HDR_LEN + payload;
        memset(p, 0, total);
        p[0] = 0x60;
        pkt_store_be16(p + 4, (uint16_t) (total - PKT_IPV6_HDR_LEN));
        p[6] = n_ext ? first_nh : PKT_PROTO_UDP;
        p[7] = 64;
        p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
        p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
        if (n_ext)
                memcpy(p + PKT_IPV6_HDR_LEN, ext, n_ext);
        uint8_t *u = p + PKT_IPV6_HDR_LEN + n_ext;
        pkt_store_be16(u, 5353);
        pkt_store_be16(u + 2, 53);
        pkt_store_be16(u + 4, (uint16_t) (PKT_UDP_HDR_LEN + payload));
        for (size_t i = 0; i < payload; i++)
                u[PKT_UDP_HDR_LEN + i] = (uint8_t) (seed + i);
        return total;
}

static PktOuter outer(int family, bool udp) {
        PktOuter o = { .family = family, .ttl = 64 };
        if (family == AF_INET) {
                o.src.v4.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
                o.dst.v4.s_addr = htonl(0xc6336407); /* 198.51.100.7 */
        } else {
                o.src.v6.s6_addr[0] = 0x20, o.src.v6.s6_addr[1] = 0x01, o.src.v6.s6_addr[15] = 1;
                o.dst.v6.s6_addr[0] = 0x20, o.dst.v6.s6_addr[1] = 0x01, o.dst.v6.s6_addr[15] = 2;
        }
        if (udp)
                o.udp_sport = o.udp_dport = PKT_NATT_PORT;
        return o;
}

typedef struct Buf {
        uint8_t mem[4096];
        PktBuf pkt;
} Buf;

static void load(Buf *b, const uint8_t *data, size_t len) {
        memset(b->mem, 0, sizeof b->mem);
        memcpy(b->mem + 512, data, len);
        pkt_init(&b->pkt, b->mem, sizeof b->mem, 512, len);
}

static void check(PktDrop d, const char *what) {
        if (d != PKT_OK) {
                fprintf(stderr, "gen-seeds: %s: %s\n", what, pkt_drop_name(d));
                exit(1);
        }
}

/* ------------------------------------------------------------ ESP */

static void esp_seed(size_t ti, const char *kind, uint8_t flags, uint64_t top, EspMode mode, bool esn,
                     const uint8_t *inner, size_t inner_len, int outer_family, bool udp) {
        EspSa sa;
        esp_sa_init(&sa, FUZZ_ESP_SPI, mode, esn, 0, fuzz_esp_transform(ti));
        sa.seq_out = top;
        Buf b;
        load(&b, inner, inner_len);
        check(esp_encap(&sa, &b.pkt), "esp_encap");
        if (outer_family) {
                PktOuter o = outer(outer_family, udp);
                check(esp_push_outer(&b.pkt, &o, 1), "esp_push_outer");
        }
        uint8_t prefix[10] = { (uint8_t) ti, flags };
        size_t n_prefix = 2;
        if (flags & FUZZ_ESP_WINDOW)
                for (int i = 0; i < 8; i++)
                        prefix[n_prefix++] = (uint8_t) (top >> (56 - 8 * i));
        g_autofree char *name = g_strdup_printf("%s-%s", fuzz_esp_transforms[ti].name, kind);
        write_seed("esp", name, prefix, n_prefix, pkt_data(&b.pkt), b.pkt.len);
        esp_sa_clear(&sa);
}

/* For the target's "forge": outer header, ESP header, IV, the plaintext
 * with its padding and trailer, room for the ICV. */
static void esp_forge_seed(size_t ti, const uint8_t *inner, size_t inner_len) {
        BhTransform *t = fuzz_esp_transform(ti);
        size_t iv = bh_transform_iv_len(t), icv = bh_transform_icv_len(t), block = bh_transform_block_size(t);
        size_t pad = (block - (inner_len + 2) % block) % block;
        Buf b;
        uint8_t esp[2048] = { 0 };
        size_t n = 0;
        pkt_store_be32(esp, FUZZ_ESP_SPI);
        pkt_store_be32(esp + 4, 1);
        n = ESP_HDR_LEN + iv;
        memcpy(esp + n, inner, inner_len);
        n += inner_len;
        for (size_t i = 0; i < pad; i++)
                esp[n++] = (uint8_t) (i + 1);
        esp[n++] = (uint8_t) pad;
        esp[n++] = PKT_PROTO_IPIP;
        n += icv;
        load(&b, esp, n);
        PktOuter o = outer(AF_INET, false);
        check(esp_push_outer(&b.pkt, &o, 1), "esp_push_outer");
        uint8_t prefix[2] = { (uint8_t) ti, FUZZ_ESP_FORGE };
        g_autofree char *name = g_strdup_printf("%s-forge", fuzz_esp_transforms[ti].name);
        write_seed("esp", name, prefix, sizeof prefix, pkt_data(&b.pkt), b.pkt.len);
        bh_transform_free(t);
}

static void esp_seeds(void) {
        uint8_t in4[256], in6[256];
        size_t n4 = ipv4_udp(in4, 40, NULL, 0, 1), n6 = ipv6_udp(in6, 24, NULL, 0, 0, 2);
        for (size_t ti = 0; ti < FUZZ_N_ESP_TRANSFORMS; ti++) {
                esp_seed(ti, "tunnel4", 0, 0, ESP_MODE_TUNNEL, false, in4, n4, AF_INET, false);
                esp_seed(ti, "tunnel6-udp", 0, 0, ESP_MODE_TUNNEL, false, in6, n6, AF_INET6, true);
                esp_seed(ti, "bare", FUZZ_ESP_BARE, 0, ESP_MODE_TUNNEL, false, in6, n6, 0, false);
                esp_seed(ti, "transport4", FUZZ_ESP_TRANSPORT, 0, ESP_MODE_TRANSPORT, false, in4, n4, 0, false);
                esp_seed(ti, "esn", FUZZ_ESP_ESN | FUZZ_ESP_WINDOW, 0x100000005ull, ESP_MODE_TUNNEL, true, in4, n4,
                         AF_INET, false);
                esp_forge_seed(ti, in4, n4);
        }
}

/* ------------------------------------------------------------ AH */

static void ah_seed(size_t ti, const char *kind, uint8_t flags, uint64_t top, AhMode mode, bool esn,
                    const uint8_t *p, size_t len, int outer_family) {
        AhSa sa;
        ah_sa_init(&sa, FUZZ_AH_SPI, mode, esn, 0, fuzz_ah_transform(ti));
        sa.seq_out = top;
        Buf b;
        load(&b, p, len);
        PktOuter o = outer(outer_family, false);
        check(ah_encap(&sa, &b.pkt, mode == AH_MODE_TUNNEL ? &o : NULL, 1), "ah_encap");
        uint8_t prefix[10] = { (uint8_t) ti, flags };
        size_t n_prefix = 2;
        if (flags & FUZZ_AH_WINDOW)
                for (int i = 0; i < 8; i++)
                        prefix[n_prefix++] = (uint8_t) (top >> (56 - 8 * i));
        g_autofree char *name = g_strdup_printf("%s-%s", fuzz_ah_integs[ti].name, kind);
        write_seed("ah", name, prefix, n_prefix, pkt_data(&b.pkt), b.pkt.len);
        ah_sa_clear(&sa);
}

static void ah_seeds(void) {
        /* Router Alert (immutable), a timestamp (mutable), padding. */
        static const uint8_t opts[] = { 148, 4, 0, 0, 68, 8, 5, 0, 0, 0, 0, 0 };
        /* Destination options: PadN, then an option that may change en
         * route (type 0x3e has bit 0x20 set), chaining to UDP. */
        static const uint8_t dstopts[] = { PKT_PROTO_UDP, 0, 1, 0, 0x3e, 2, 0xaa, 0xbb };
        static const uint8_t hopopts[] = { PKT_PROTO_UDP, 0, 1, 4, 0, 0, 0, 0 };
        uint8_t in4[256], in6[256], opt4[256], ext6[256], hop6[256];
        size_t n4 = ipv4_udp(in4, 40, NULL, 0, 3), n6 = ipv6_udp(in6, 24, NULL, 0, 0, 4);
        size_t no4 = ipv4_udp(opt4, 20, opts, sizeof opts, 5);
        size_t ne6 = ipv6_udp(ext6, 20, dstopts, sizeof dstopts, PKT_PROTO_DSTOPTS, 6);
        size_t nh6 = ipv6_udp(hop6, 20, hopopts, sizeof hopopts, PKT_PROTO_HOPOPTS, 7);
        for (size_t ti = 0; ti < FUZZ_N_AH_INTEGS; ti++) {
                ah_seed(ti, "tunnel4", 0, 0, AH_MODE_TUNNEL, false, in4, n4, AF_INET);
                ah_seed(ti, "tunnel6", 0, 0, AH_MODE_TUNNEL, false, in6, n6, AF_INET6);
                ah_seed(ti, "transport4-options", FUZZ_AH_TRANSPORT, 0, AH_MODE_TRANSPORT, false, opt4, no4, 0);
                ah_seed(ti, "transport6-dstopts", FUZZ_AH_TRANSPORT, 0, AH_MODE_TRANSPORT, false, ext6, ne6, 0);
                ah_seed(ti, "esn", FUZZ_AH_ESN | FUZZ_AH_WINDOW, 0x200000010ull, AH_MODE_TUNNEL, true, in4, n4,
                        AF_INET);

                uint8_t prefix[2] = { (uint8_t) ti, FUZZ_AH_ROUND_TRIP | FUZZ_AH_MUTATE | FUZZ_AH_OUTER6 };
                g_autofree char *rt4 = g_strdup_printf("%s-round-trip-tunnel", fuzz_ah_integs[ti].name);
                write_seed("ah", rt4, prefix, sizeof prefix, in4, n4);
                prefix[1] = FUZZ_AH_ROUND_TRIP | FUZZ_AH_TRANSPORT | FUZZ_AH_MUTATE;
                g_autofree char *rto = g_strdup_printf("%s-round-trip-options", fuzz_ah_integs[ti].name);
                write_seed("ah", rto, prefix, sizeof prefix, opt4, no4);
                g_autofree char *rth = g_strdup_printf("%s-round-trip-hopopts", fuzz_ah_integs[ti].name);
                write_seed("ah", rth, prefix, sizeof prefix, hop6, nh6);
        }
}

/* ------------------------------------------------------------ D-Bus */

static GHashTable *dict_words;

static void dict_add(const char *word) {
        if (word && *word)
                g_hash_table_add(dict_words, g_strdup(word));
}

static void append_zero(DBusMessageIter *it, DBusSignatureIter *sig) {
        int type = dbus_signature_iter_get_current_type(sig);
        DBusMessageIter sub;
        DBusSignatureIter inner;
        if (type == DBUS_TYPE_ARRAY) {
                dbus_signature_iter_recurse(sig, &inner);
                char *elem = dbus_signature_iter_get_signature(&inner);
                dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, elem, &sub);
                dbus_message_iter_close_container(it, &sub);
                dbus_free(elem);
        } else if (type == DBUS_TYPE_STRUCT) {
                dbus_signature_iter_recurse(sig, &inner);
                dbus_message_iter_open_container(it, DBUS_TYPE_STRUCT, NULL, &sub);
                do
                        append_zero(&sub, &inner);
                while (dbus_signature_iter_next(&inner));
                dbus_message_iter_close_container(it, &sub);
        } else if (type == DBUS_TYPE_VARIANT) {
                const char *empty = "";
                dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "s", &sub);
                dbus_message_iter_append_basic(&sub, DBUS_TYPE_STRING, &empty);
                dbus_message_iter_close_container(it, &sub);
        } else if (type == DBUS_TYPE_STRING || type == DBUS_TYPE_SIGNATURE) {
                const char *empty = "";
                dbus_message_iter_append_basic(it, type, &empty);
        } else if (type == DBUS_TYPE_OBJECT_PATH) {
                const char *root = "/";
                dbus_message_iter_append_basic(it, type, &root);
        } else {
                DBusBasicValue zero;
                memset(&zero, 0, sizeof zero);
                dbus_message_iter_append_basic(it, type, &zero);
        }
}

static void append_args(DBusMessage *m, const char *sig) {
        DBusMessageIter it;
        DBusSignatureIter s;
        dbus_message_iter_init_append(m, &it);
        if (!*sig)
                return;
        dbus_signature_iter_init(&s, sig);
        do
                append_zero(&it, &s);
        while (dbus_signature_iter_next(&s));
}

static void dbus_seed(const char *name, uint8_t channel, DBusMessage *m) {
        char *bytes;
        int len;
        if (!dbus_message_get_serial(m))
                dbus_message_set_serial(m, 1);
        if (!dbus_message_marshal(m, &bytes, &len))
                die("dbus_message_marshal");
        write_seed("dbus-dispatch", name, &channel, 1, (const uint8_t *) bytes, (size_t) len);
        dbus_free(bytes);
        dbus_message_unref(m);
}

/* A sender that may call with this access mask. */
static uint8_t channel_for(uint32_t access) {
        if (access & BH_ACCESS_ANY)
                return FUZZ_DBUS_USER;
        if (access & BH_ACCESS_ADMIN)
                return FUZZ_DBUS_ROOT;
        for (int s = 0; s < _BH_SERVICE_MAX; s++)
                if (access & (bh_suite[s].access_bit | BH_ACCESS_SUITE))
                        return (uint8_t) (FUZZ_DBUS_SERVICE + s);
        return FUZZ_DBUS_NO_CREDS;
}

/* Where the fuzz target registers an interface (fuzz-dbus-dispatch.c). */
static const char *path_for(const BhInterfaceInfo *iface) {
        g_autofree char *bus_name = g_strdup(iface->name);
        for (char *e = bus_name + strlen(bus_name); e > bus_name && g_ascii_isdigit(e[-1]); e--)
                e[-1] = '\0';
        const BhSuiteEntry *owner = bh_suite_by_bus_name(bus_name);
        return owner ? owner->path : bh_suite[BH_SERVICE_CRYPTOD].path;
}

static gint by_string(gconstpointer a, gconstpointer b, gpointer unused) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void dbus_seeds(void) {
        dict_words = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (const BhInterfaceInfo *const *ip = bh_interfaces; *ip; ip++) {
                const BhInterfaceInfo *iface = *ip;
                const char *path = path_for(iface);
                const char *short_name = strrchr(iface->name, '.') + 1;
                dict_add(iface->name);
                dict_add(path);
                for (const BhMethodInfo *mi = iface->methods; mi->name; mi++) {
                        DBusMessage *m = dbus_message_new_method_call(NULL, path, iface->name, mi->name);
                        append_args(m, mi->in_sig);
                        g_autofree char *name = g_strdup_printf("%s-%s", short_name, mi->name);
                        dbus_seed(name, channel_for(mi->access), m);
                        dict_add(mi->name);
                        dict_add(mi->in_sig);
                }
                for (const BhPropertyInfo *pi = iface->properties; pi->name; pi++) {
                        DBusMessage *m = dbus_message_new_method_call(NULL, path, DBUS_INTERFACE_PROPERTIES, "Get");
                        dbus_message_append_args(m, DBUS_TYPE_STRING, &iface->name, DBUS_TYPE_STRING, &pi->name,
                                                 DBUS_TYPE_INVALID);
                        g_autofree char *name = g_strdup_printf("%s-Get-%s", short_name, pi->name);
                        dbus_seed(name, FUZZ_DBUS_USER, m);
                        dict_add(pi->name);
                        dict_add(pi->type);
                        if (!pi->writable)
                                continue;
                        m = dbus_message_new_method_call(NULL, path, DBUS_INTERFACE_PROPERTIES, "Set");
                        DBusMessageIter it, var;
                        DBusSignatureIter s;
                        dbus_message_iter_init_append(m, &it);
                        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface->name);
                        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &pi->name);
                        dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, pi->type, &var);
                        dbus_signature_iter_init(&s, pi->type);
                        append_zero(&var, &s);
                        dbus_message_iter_close_container(&it, &var);
                        g_autofree char *set_name = g_strdup_printf("%s-Set-%s", short_name, pi->name);
                        dbus_seed(set_name, channel_for(pi->access), m);
                }
                DBusMessage *m = dbus_message_new_method_call(NULL, path, DBUS_INTERFACE_PROPERTIES, "GetAll");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &iface->name, DBUS_TYPE_INVALID);
                g_autofree char *name = g_strdup_printf("%s-GetAll", short_name);
                dbus_seed(name, FUZZ_DBUS_USER, m);
        }

        /* The same calls on the peer connections, and what is not a call. */
        const char *crypto = bh_suite[BH_SERVICE_CRYPTOD].path;
        DBusMessage *m = dbus_message_new_method_call(NULL, crypto, bh_iface_service1.name, "Ping");
        dbus_seed("peer-bound-Ping", FUZZ_DBUS_PEER_BOUND, m);
        m = dbus_message_new_method_call(NULL, crypto, bh_iface_service1.name, "BindPeer");
        const char *token = "0123456789abcdef0123456789abcdef";
        dbus_message_append_args(m, DBUS_TYPE_STRING, &token, DBUS_TYPE_INVALID);
        dbus_seed("peer-unbound-BindPeer", FUZZ_DBUS_PEER_UNBOUND, m);
        m = dbus_message_new_method_call(NULL, crypto, bh_iface_service1.name, "Mark");
        const char *level = "events", *text = "mark";
        dbus_message_append_args(m, DBUS_TYPE_STRING, &level, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
        dbus_seed("peer-bound-Mark", FUZZ_DBUS_PEER_BOUND, m);
        m = dbus_message_new_method_call(NULL, "/", DBUS_INTERFACE_INTROSPECTABLE, "Introspect");
        dbus_seed("introspect-root", FUZZ_DBUS_USER, m);
        m = dbus_message_new_method_call(NULL, "/org/bulkhead", DBUS_INTERFACE_INTROSPECTABLE, "Introspect");
        dbus_seed("introspect-bulkhead", FUZZ_DBUS_NO_CREDS, m);
        m = dbus_message_new_method_call(NULL, crypto, DBUS_INTERFACE_INTROSPECTABLE, "Introspect");
        dbus_seed("introspect-crypto", FUZZ_DBUS_PEER_BOUND, m);
        m = dbus_message_new_method_call(NULL, "/", DBUS_INTERFACE_PEER, "GetMachineId");
        dbus_seed("peer-GetMachineId", FUZZ_DBUS_USER, m);
        m = dbus_message_new_method_call(NULL, crypto, NULL, "Ping");
        dbus_seed("no-interface-Ping", FUZZ_DBUS_ROOT, m);
        m = dbus_message_new_method_call(NULL, crypto, bh_iface_service1.name, "Ping");
        dbus_message_set_no_reply(m, TRUE);
        dbus_seed("no-reply-Ping", FUZZ_DBUS_USER, m);
        m = dbus_message_new_signal(crypto, bh_iface_service1.name, "Something");
        dbus_seed("signal", FUZZ_DBUS_SERVICE + BH_SERVICE_SUPERVISOR, m);
        DBusMessage *call = dbus_message_new_method_call(NULL, crypto, bh_iface_service1.name, "Ping");
        dbus_message_set_serial(call, 7);
        m = dbus_message_new_method_return(call);
        dbus_seed("method-return", FUZZ_DBUS_USER, m);
        m = dbus_message_new_error(call, DBUS_ERROR_FAILED, "failed");
        dbus_seed("error", FUZZ_DBUS_PEER_BOUND, m);
        dbus_message_unref(call);

        static const char *const extra[] = {
                DBUS_INTERFACE_PROPERTIES, DBUS_INTERFACE_INTROSPECTABLE, DBUS_INTERFACE_PEER,
                "Get", "GetAll", "Set", "Introspect", "Ping", "GetMachineId", "/", "/org/bulkhead",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(extra); i++)
                dict_add(extra[i]);

        /* Sorted, so that the file only changes when the words do. */
        g_autofree const char **words = (const char **) g_hash_table_get_keys_as_array(dict_words, NULL);
        g_qsort_with_data(words, (gint) g_hash_table_size(dict_words), sizeof *words, by_string, NULL);
        GString *dict = g_string_new("# Names of the D-Bus interfaces, written by gen-seeds.c.\n");
        for (guint i = 0; i < g_hash_table_size(dict_words); i++)
                g_string_append_printf(dict, "\"%s\"\n", words[i]);
        g_autofree char *path = g_build_filename(out_dir, "dbus-dispatch.dict", NULL);
        if (!g_file_set_contents(path, dict->str, (gssize) dict->len, NULL))
                die(path);
        g_string_free(dict, TRUE);
        g_hash_table_unref(dict_words);
}


/* ------------------------------------------------------------ IKEv2 */

/* fuzz-ikev2.c's input: mode, then for messages a 2-byte datagram length. */
enum { IKE_MODE_MESSAGE = 0, IKE_MODE_DECODER = 1, IKE_MODE_HEADER = 2 };
/* fuzz-ikev2.c's decoder numbers. */
enum { DEC_SA, DEC_KE, DEC_NONCE, DEC_NOTIFY, DEC_ID, DEC_AUTH, DEC_TS, DEC_DELETE, DEC_CERT, DEC_CERTREQ,
       DEC_CP, DEC_VENDOR, DEC_EAP, DEC_SKF };

static void ike_ok(int r, const char *what) {
        if (r != 0) {
                fprintf(stderr, "gen-seeds: %s: %d\n", what, r);
                exit(1);
        }
}

static void ike_message_seed(const char *name, const uint8_t *msg, size_t len, const uint8_t *plain, size_t plain_len) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        uint8_t hdr[3] = { IKE_MODE_MESSAGE, (uint8_t) (len >> 8), (uint8_t) len };
        g_byte_array_append(b, hdr, sizeof hdr);
        g_byte_array_append(b, msg, (guint) len);
        if (plain_len)
                g_byte_array_append(b, plain, (guint) plain_len);
        write_seed("ikev2", name, NULL, 0, b->data, b->len);
}

/* Every payload of a chain (buf[0, len), first payload `first`) as a
 * decoder seed. */
static void ike_decoder_seeds(const char *prefix, uint8_t first, const uint8_t *buf, size_t len) {
        size_t off = 0;
        uint8_t type = first;
        while (type != IKE_PL_NONE && off + 4 <= len) {
                uint8_t next = buf[off];
                size_t plen = (size_t) buf[off + 2] << 8 | buf[off + 3];
                int dec = -1;
                switch (type) {
                case IKE_PL_SA: dec = DEC_SA; break;
                case IKE_PL_KE: dec = DEC_KE; break;
                case IKE_PL_NONCE: dec = DEC_NONCE; break;
                case IKE_PL_NOTIFY: dec = DEC_NOTIFY; break;
                case IKE_PL_IDI: case IKE_PL_IDR: dec = DEC_ID; break;
                case IKE_PL_AUTH: dec = DEC_AUTH; break;
                case IKE_PL_TSI: case IKE_PL_TSR: dec = DEC_TS; break;
                case IKE_PL_DELETE: dec = DEC_DELETE; break;
                case IKE_PL_CERT: dec = DEC_CERT; break;
                case IKE_PL_CERTREQ: dec = DEC_CERTREQ; break;
                case IKE_PL_CP: dec = DEC_CP; break;
                case IKE_PL_VENDOR_ID: dec = DEC_VENDOR; break;
                case IKE_PL_EAP: dec = DEC_EAP; break;
                default: break;
                }
                if (dec >= 0) {
                        uint8_t pre[2] = { IKE_MODE_DECODER, (uint8_t) dec };
                        g_autofree char *name = g_strdup_printf("decode-%s-%s-%zu", prefix, ike_payload_name(type), off);
                        g_strdelimit(name, " ", '-');
                        write_seed("ikev2", name, pre, sizeof pre, buf + off + 4, plen - 4);
                }
                if (type == IKE_PL_SK || type == IKE_PL_SKF)
                        break;
                off += plen;
                type = next;
        }
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed + i * 7u) | 1u;
}

/* A message: header, a chain built by `cleartext`, and with `inner`
 * an SK payload whose plaintext is that chain (IV and ICV as zeros). */
typedef void (*ChainFunc)(IkeBuilder *b);

static void ike_message(const char *name, uint8_t exchange, uint8_t flags, uint32_t msg_id, uint64_t spi_r,
                        ChainFunc cleartext, ChainFunc inner, uint16_t frag_number, uint16_t frag_total) {
        uint8_t msg[4096], plain[4096];
        size_t len = 0, plain_len = 0;
        uint8_t first_inner = IKE_PL_NONE;
        if (inner) {
                IkeBuilder c;
                ike_builder_init(&c, plain, sizeof plain);
                inner(&c);
                ike_ok(ike_build_finish(&c, &plain_len), "inner chain");
                first_inner = ike_builder_first_type(&c);
        }
        IkeBuilder b;
        ike_builder_init(&b, msg, sizeof msg);
        IkeHeader h = { .spi_i = 0x0102030405060708ull, .spi_r = spi_r, .major = 2, .exchange = exchange,
                        .flags = flags, .msg_id = msg_id };
        ike_ok(ike_build_header(&b, &h), "header");
        if (cleartext)
                cleartext(&b);
        if (inner) {
                uint8_t *body;
                size_t aad;
                ike_ok(ike_build_sk(&b, frag_number <= 1 ? first_inner : IKE_PL_NONE, 8 + plain_len + 1 + 16,
                                    frag_number, frag_total, &body, &aad),
                       "SK");
                memset(body, 0, 8 + plain_len + 1 + 16);
        }
        ike_ok(ike_build_finish(&b, &len), name);
        ike_message_seed(name, msg, len, plain, plain_len);
        if (frag_number > 0)
                return; /* the same payloads as the unfragmented message */
        ike_decoder_seeds(name, msg[16], msg + IKE_HEADER_LEN, len - IKE_HEADER_LEN);
        if (inner)
                ike_decoder_seeds(name, first_inner, plain, plain_len);
}

static BhProposal ike_props[BH_PROPOSALS_MAX], esp_props[BH_PROPOSALS_MAX];
static size_t n_ike_props, n_esp_props;
/* What a responder answers with: one transform of each type. */
static BhProposal ike_chosen, esp_chosen;

static void chain_sa_init_request(IkeBuilder *b) {
        uint8_t ke[32], nonce[32], natd[IKE_NATD_HASH_LEN], vid[16];
        fill(ke, sizeof ke, 3);
        fill(nonce, sizeof nonce, 5);
        fill(natd, sizeof natd, 9);
        fill(vid, sizeof vid, 11);
        ike_ok(ike_build_sa(b, ike_props, n_ike_props, 1, NULL, 0), "SA");
        ike_ok(ike_build_ke(b, 31, ke, sizeof ke), "KE");
        ike_ok(ike_build_nonce(b, nonce, sizeof nonce), "Ni");
        ike_ok(ike_build_nat_detection(b, false, natd), "NAT-D");
        ike_ok(ike_build_nat_detection(b, true, natd), "NAT-D");
        ike_ok(ike_build_notify(b, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0), "N");
        ike_ok(ike_build_vendor(b, vid, sizeof vid), "V");
}

static void chain_sa_init_response(IkeBuilder *b) {
        uint8_t ke[32], nonce[32];
        fill(ke, sizeof ke, 13);
        fill(nonce, sizeof nonce, 17);
        ike_ok(ike_build_sa(b, &ike_chosen, 1, 1, NULL, 0), "SA response");
        ike_ok(ike_build_ke(b, 31, ke, sizeof ke), "KE");
        ike_ok(ike_build_nonce(b, nonce, sizeof nonce), "Nr");
        ike_ok(ike_build_cert(b, IKE_PL_CERTREQ, IKE_CERT_X509_SIGNATURE, NULL, 0), "CERTREQ");
}

static void chain_cookie(IkeBuilder *b) {
        uint8_t cookie[32];
        fill(cookie, sizeof cookie, 19);
        ike_ok(ike_build_cookie(b, cookie, sizeof cookie), "COOKIE");
}

static void ts_pair(IkeTs *tsi, IkeTs *tsr) {
        BhTs a, c;
        bh_ts_parse("10.1.0.0/16", &a, NULL);
        bh_ts_parse("2001:db8::/32[tcp/80-443]", &c, NULL);
        ike_ok(ike_ts_from_bh(&a, tsi), "TS");
        ike_ok(ike_ts_from_bh(&c, tsr), "TS");
}

static void chain_auth_request(IkeBuilder *b) {
        static const char fqdn[] = "gw1.example.org";
        uint8_t auth[32];
        IkeTs ts[2];
        fill(auth, sizeof auth, 23);
        ts_pair(&ts[0], &ts[1]);
        static const uint8_t spi[4] = { 0xc0, 0x01, 0xd0, 0x0d };
        IkeCpAttr attrs[] = { { 1, NULL, 0 }, { 8, NULL, 0 } };
        ike_ok(ike_build_id(b, IKE_PL_IDI, IKE_ID_FQDN, (const uint8_t *) fqdn, sizeof fqdn - 1), "IDi");
        ike_ok(ike_build_auth(b, IKE_AUTH_SHARED_KEY_MIC, auth, sizeof auth), "AUTH");
        ike_ok(ike_build_cp(b, 1, attrs, G_N_ELEMENTS(attrs)), "CP");
        ike_ok(ike_build_sa(b, esp_props, n_esp_props, 1, spi, 4), "SA");
        ike_ok(ike_build_ts(b, IKE_PL_TSI, ts, 2), "TSi");
        ike_ok(ike_build_ts(b, IKE_PL_TSR, ts, 2), "TSr");
        ike_ok(ike_build_notify(b, 0, NULL, 0, IKE_N_INITIAL_CONTACT, NULL, 0), "N");
}

static void chain_auth_response(IkeBuilder *b) {
        static const uint8_t v4[4] = { 192, 0, 2, 1 };
        uint8_t auth[32];
        IkeTs ts[2];
        fill(auth, sizeof auth, 29);
        ts_pair(&ts[0], &ts[1]);
        static const uint8_t spi[4] = { 0xc0, 0x02, 0xd0, 0x0d };
        ike_ok(ike_build_id(b, IKE_PL_IDR, IKE_ID_IPV4_ADDR, v4, 4), "IDr");
        ike_ok(ike_build_auth(b, IKE_AUTH_SHARED_KEY_MIC, auth, sizeof auth), "AUTH");
        ike_ok(ike_build_sa(b, &esp_chosen, 1, 1, spi, 4), "SA response");
        ike_ok(ike_build_ts(b, IKE_PL_TSI, ts, 1), "TSi");
        ike_ok(ike_build_ts(b, IKE_PL_TSR, ts + 1, 1), "TSr");
}

static void chain_create_child(IkeBuilder *b) {
        uint8_t nonce[32], ke[32];
        IkeTs ts[2];
        fill(nonce, sizeof nonce, 31);
        fill(ke, sizeof ke, 37);
        ts_pair(&ts[0], &ts[1]);
        static const uint8_t spi[4] = { 0xc0, 0x03, 0xd0, 0x0d };
        ike_ok(ike_build_notify(b, BH_PROTO_ESP, spi, 4, IKE_N_REKEY_SA, NULL, 0), "REKEY_SA");
        ike_ok(ike_build_sa(b, esp_props, n_esp_props, 1, spi, 4), "SA");
        ike_ok(ike_build_nonce(b, nonce, sizeof nonce), "Ni");
        ike_ok(ike_build_ke(b, 31, ke, sizeof ke), "KE");
        ike_ok(ike_build_ts(b, IKE_PL_TSI, ts, 1), "TSi");
        ike_ok(ike_build_ts(b, IKE_PL_TSR, ts + 1, 1), "TSr");
}

static void chain_rekey_ike(IkeBuilder *b) {
        uint8_t nonce[32], ke[32];
        static const uint8_t spi[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
        fill(nonce, sizeof nonce, 41);
        fill(ke, sizeof ke, 43);
        ike_ok(ike_build_sa(b, ike_props, 1, 1, spi, 8), "SA");
        ike_ok(ike_build_nonce(b, nonce, sizeof nonce), "Ni");
        ike_ok(ike_build_ke(b, 31, ke, sizeof ke), "KE");
}

static void chain_delete(IkeBuilder *b) {
        static const uint32_t spis[] = { 0xc001d00d, 0xc002d00d };
        ike_ok(ike_build_delete(b, BH_PROTO_ESP, spis, G_N_ELEMENTS(spis)), "D");
        ike_ok(ike_build_delete(b, BH_PROTO_IKE, NULL, 0), "D");
}

static void chain_eap(IkeBuilder *b) {
        static const uint8_t eap[] = { 1, 7, 0, 9, 1, 'u', 's', 'e', 'r' }; /* Request, Identity */
        ike_ok(ike_build_eap(b, eap, sizeof eap), "EAP");
}

static void ike_seeds(void) {
        g_autofree BhProposal *ike = NULL, *esp = NULL;
        if (bh_proposal_list_parse(BH_PROTO_IKE, BH_TUNNEL_DEFAULT_IKE_PROPOSALS, &ike, &n_ike_props, NULL) < 0 ||
            bh_proposal_list_parse(BH_PROTO_ESP, BH_TUNNEL_DEFAULT_ESP_PROPOSALS ", null-sha256-esn", &esp,
                                   &n_esp_props, NULL) < 0)
                die("default proposals");
        memcpy(ike_props, ike, n_ike_props * sizeof *ike);
        memcpy(esp_props, esp, n_esp_props * sizeof *esp);
        if (bh_proposal_parse(BH_PROTO_IKE, "aes256gcm16-prfsha256-curve25519", &ike_chosen, NULL) < 0 ||
            bh_proposal_parse(BH_PROTO_ESP, "aes256gcm16", &esp_chosen, NULL) < 0)
                die("chosen proposals");

        const uint64_t spi_r = 0x1112131415161718ull;
        ike_message("sa-init-request", IKE_EXCH_IKE_SA_INIT, IKE_FLAG_INITIATOR, 0, 0, chain_sa_init_request, NULL, 0, 0);
        ike_message("sa-init-response", IKE_EXCH_IKE_SA_INIT, IKE_FLAG_RESPONSE, 0, spi_r, chain_sa_init_response, NULL,
                    0, 0);
        ike_message("sa-init-cookie", IKE_EXCH_IKE_SA_INIT, IKE_FLAG_RESPONSE, 0, 0, chain_cookie, NULL, 0, 0);
        ike_message("auth-request", IKE_EXCH_IKE_AUTH, IKE_FLAG_INITIATOR, 1, spi_r, NULL, chain_auth_request, 0, 0);
        ike_message("auth-response", IKE_EXCH_IKE_AUTH, IKE_FLAG_RESPONSE, 1, spi_r, NULL, chain_auth_response, 0, 0);
        ike_message("auth-request-fragment", IKE_EXCH_IKE_AUTH, IKE_FLAG_INITIATOR, 1, spi_r, NULL, chain_auth_request,
                    1, 2);
        ike_message("auth-eap", IKE_EXCH_IKE_AUTH, IKE_FLAG_RESPONSE, 2, spi_r, NULL, chain_eap, 0, 0);
        ike_message("create-child", IKE_EXCH_CREATE_CHILD_SA, IKE_FLAG_INITIATOR, 2, spi_r, NULL, chain_create_child, 0,
                    0);
        ike_message("rekey-ike", IKE_EXCH_CREATE_CHILD_SA, 0, 3, spi_r, NULL, chain_rekey_ike, 0, 0);
        ike_message("informational-delete", IKE_EXCH_INFORMATIONAL, IKE_FLAG_INITIATOR, 4, spi_r, NULL, chain_delete, 0,
                    0);
        ike_message("informational-empty", IKE_EXCH_INFORMATIONAL, IKE_FLAG_RESPONSE, 4, spi_r, NULL, NULL, 0, 0);

        /* A header alone. */
        uint8_t hdr[IKE_HEADER_LEN + 1] = { IKE_MODE_HEADER };
        IkeBuilder b;
        size_t len;
        IkeHeader h = { .spi_i = 1, .major = 2, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
        ike_builder_init(&b, hdr + 1, IKE_HEADER_LEN);
        ike_ok(ike_build_header(&b, &h), "header");
        ike_ok(ike_build_finish(&b, &len), "header");
        write_seed("ikev2", "header", NULL, 0, hdr, sizeof hdr);
}

/* ------------------------------------------------------------ offload */

/* A TCP packet from 10.1.0.1 to 10.2.0.1 (or 2001:db8::1 to ::2) with 12
 * bytes of options, `payload` bytes of pattern, and a valid checksum. */
static size_t tcp_packet(uint8_t *p, int family, uint32_t seq, uint16_t sport, size_t payload) {
        size_t l4 = family == AF_INET ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN, len = l4 + 32 + payload;
        memset(p, 0, l4 + 32);
        if (family == AF_INET) {
                p[0] = 0x45;
                pkt_store_be16(p + 2, (uint16_t) len);
                p[6] = 0x40;
                p[8] = 64;
                p[9] = PKT_PROTO_TCP;
                memcpy(p + 12, "\x0a\x01\x00\x01\x0a\x02\x00\x01", 8);
                ipv4_checksum(p, l4);
        } else {
                p[0] = 0x60;
                pkt_store_be16(p + 4, (uint16_t) (len - l4));
                p[6] = PKT_PROTO_TCP;
                p[7] = 64;
                memcpy(p + 8, "\x20\x01\x0d\xb8", 4);
                p[23] = 1;
                memcpy(p + 24, "\x20\x01\x0d\xb8", 4);
                p[39] = 2;
        }
        uint8_t *t = p + l4;
        pkt_store_be16(t, sport);
        pkt_store_be16(t + 2, 5201);
        pkt_store_be32(t + 4, seq);
        pkt_store_be32(t + 8, 1);
        t[12] = 8 << 4;
        t[13] = 0x18; /* ACK PSH */
        pkt_store_be16(t + 14, 512);
        memcpy(t + 20, "\x01\x01\x08\x0a\x00\x00\x00\x07\x00\x00\x00\x09", 12); /* timestamps */
        for (size_t i = 0; i < payload; i++)
                t[32 + i] = (uint8_t) (i * 13 + seq);
        pkt_store_be16(t + 16, offload_l4_checksum(p, family, PKT_PROTO_TCP, t, len - l4));
        return len;
}

static void offload_seeds(void) {
        static uint8_t pkt[OFFLOAD_MAX_PACKET], seg[2048], batch[OFFLOAD_MAX_PACKET];
        for (int v = 0; v < 2; v++) {
                int family = v ? AF_INET6 : AF_INET;
                size_t l4 = v ? PKT_IPV6_HDR_LEN : PKT_IPV4_HDR_LEN, mss = 1000;
                size_t len = tcp_packet(pkt, family, 0xfffffc00u, 40000, 4500);
                /* As the stack hands it over: the pseudo-header sum only. */
                uint8_t *t = pkt + l4;
                t[16] = t[17] = 0;
                uint16_t full = offload_l4_checksum(pkt, family, PKT_PROTO_TCP, t, len - l4);
                uint16_t body = pkt_csum_fold(pkt_csum_add(0, t, len - l4));
                uint32_t pseudo = (uint16_t) ~full + (uint32_t) (uint16_t) ~body;
                pkt_store_be16(t + 16, pkt_csum_fold(pseudo));
                uint8_t hdr[11] = { 0x00, VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                    v ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
                                    (uint8_t) (l4 + 32), 0, (uint8_t) mss, (uint8_t) (mss >> 8),
                                    (uint8_t) l4, 0, 16, 0 };
                write_seed("offload", v ? "out-tso6" : "out-tso4", hdr, sizeof hdr, pkt, len);
                /* The same packet without GSO, its checksum to finish. */
                hdr[2] = VIRTIO_NET_HDR_GSO_NONE;
                write_seed("offload", v ? "out-csum6" : "out-csum4", hdr, sizeof hdr, pkt, len);

                /* Inbound: the segments cut from it, as they arrive, then
                 * two connections interleaved. */
                struct virtio_net_hdr vh;
                memcpy(&vh, hdr + 1, sizeof vh);
                vh.gso_type = v ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
                OffloadTso tso;
                if (offload_tso_plan(&vh, pkt, len, &tso) != PKT_OK)
                        die("offload_tso_plan refused its own seed");
                size_t at = 0;
                batch[at++] = 0x01;
                for (unsigned k = 0; k < tso.count; k++) {
                        size_t n = offload_tso_segment(&tso, pkt, k, seg);
                        pkt_store_be16(batch + at, (uint16_t) n);
                        memcpy(batch + at + 2, seg, n);
                        at += 2 + n;
                }
                write_seed("offload", v ? "in-segments6" : "in-segments4", NULL, 0, batch, at);
                at = 1;
                for (unsigned k = 0; k < 6; k++) {
                        size_t n = tcp_packet(seg, family, 1 + (k / 2) * 300, (uint16_t) (40000 + k % 2), 300);
                        pkt_store_be16(batch + at, (uint16_t) n);
                        memcpy(batch + at + 2, seg, n);
                        at += 2 + n;
                }
                write_seed("offload", v ? "in-two-flows6" : "in-two-flows4", NULL, 0, batch, at);
        }
}

int main(int argc, char **argv) {
        if (argc != 2 && argc != 3) {
                fprintf(stderr, "usage: %s DIR [TARGET]   (DIR: tests/fuzz in the source tree)\n", argv[0]);
                return 2;
        }
        out_dir = argv[1];
        const char *only = argc == 3 ? argv[2] : NULL;
        if (!only || strcmp(only, "esp") == 0)
                esp_seeds();
        if (!only || strcmp(only, "ah") == 0)
                ah_seeds();
        if (!only || strcmp(only, "dbus-dispatch") == 0)
                dbus_seeds();
        if (!only || strcmp(only, "ikev2") == 0)
                ike_seeds();
        if (!only || strcmp(only, "offload") == 0)
                offload_seeds();
        printf("gen-seeds: %u seeds written under %s/corpus\n", n_written, out_dir);
        return 0;
}
