/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fileread.h"
#include "tunnel.h"

/* Untrusted: everything below reads bulkhead-tunnels(5) text, which any
 * administrator edits and a converter may generate. Lines are bounded and
 * copied into a stack buffer; no byte is trusted to be printable, NUL-free
 * or newline-terminated. A problem drops its tunnel, never the others. */

typedef enum KeyId {
        K_NUMBER,
        K_TYPE,
        K_LOCAL,
        K_REMOTE,
        K_LOCAL_TS,
        K_REMOTE_TS,
        K_MODE,
        K_ENCAP,
        K_START,
        K_LOCAL_ID,
        K_REMOTE_ID,
        K_IKE_PROPOSALS,
        K_ESP_PROPOSALS,
        K_DPD_DELAY,
        K_REKEY_TIME,
        K_CHILD_REKEY_TIME,
        K_LIFETIME,
        K_LIFETIME_BYTES,
        K_LIFETIME_PACKETS,
        K_ESP,
        K_ESP_SPI_OUT,
        K_ESP_SPI_IN,
        K_AH,
        K_AH_SPI_OUT,
        K_AH_SPI_IN,
        K_REPLAY,
        _K_MAX,
} KeyId;

#define FOR_IKE (1u << BH_TUNNEL_IKE)
#define FOR_MANUAL (1u << BH_TUNNEL_MANUAL)
#define FOR_BOTH (FOR_IKE | FOR_MANUAL)

/* One table says which keys exist and which tunnels take them; the order is
 * the man page's, and bh_tunnel_changes() reports in it. */
static const struct {
        const char *name;
        unsigned types;
} keys[_K_MAX] = {
        [K_NUMBER]           = { "number",           FOR_BOTH },
        [K_TYPE]             = { "type",             FOR_BOTH },
        [K_LOCAL]            = { "local",            FOR_BOTH },
        [K_REMOTE]           = { "remote",           FOR_BOTH },
        [K_LOCAL_TS]         = { "local_ts",         FOR_BOTH },
        [K_REMOTE_TS]        = { "remote_ts",        FOR_BOTH },
        [K_MODE]             = { "mode",             FOR_BOTH },
        [K_ENCAP]            = { "encap",            FOR_BOTH },
        [K_START]            = { "start",            FOR_BOTH },
        [K_LOCAL_ID]         = { "local_id",         FOR_IKE },
        [K_REMOTE_ID]        = { "remote_id",        FOR_IKE },
        [K_IKE_PROPOSALS]    = { "ike_proposals",    FOR_IKE },
        [K_ESP_PROPOSALS]    = { "esp_proposals",    FOR_IKE },
        [K_DPD_DELAY]        = { "dpd_delay",        FOR_IKE },
        [K_REKEY_TIME]       = { "rekey_time",       FOR_IKE },
        [K_CHILD_REKEY_TIME] = { "child_rekey_time", FOR_IKE },
        [K_LIFETIME]         = { "lifetime",         FOR_MANUAL },
        [K_LIFETIME_BYTES]   = { "lifetime_bytes",   FOR_BOTH },
        [K_LIFETIME_PACKETS] = { "lifetime_packets", FOR_BOTH },
        [K_ESP]              = { "esp",              FOR_MANUAL },
        [K_ESP_SPI_OUT]      = { "esp_spi_out",      FOR_MANUAL },
        [K_ESP_SPI_IN]       = { "esp_spi_in",       FOR_MANUAL },
        [K_AH]               = { "ah",               FOR_MANUAL },
        [K_AH_SPI_OUT]       = { "ah_spi_out",       FOR_MANUAL },
        [K_AH_SPI_IN]        = { "ah_spi_in",        FOR_MANUAL },
        [K_REPLAY]           = { "replay",           FOR_MANUAL },
};

struct BhTunnelSet {
        GPtrArray *tunnels;             /* BhTunnel *, owned, in definition order */
        GHashTable *by_name;            /* lower-cased name -> BhTunnel * */
        GHashTable *by_number;          /* number -> BhTunnel * */
        GHashTable *by_esp_spi_in;      /* inbound ESP SPI of manual tunnels -> BhTunnel * */
        GHashTable *by_ah_spi_in;
};

typedef struct ParseState {
        BhTunnelSet *set;
        const char *filename;
        GPtrArray *errors;              /* may be NULL */
        size_t line;                    /* 1-based number of the current line */
        int n_errors;
        /* The section being read. */
        BhTunnel *t;                    /* NULL: none */
        bool skipping;                  /* bad [tunnel] line: ignore up to the next one */
        size_t header_line;
        int section_errors;
        size_t key_line[_K_MAX];        /* 0 = not set */
        bool key_bad[_K_MAX];           /* set, but its value was refused */
} ParseState;

/* ---- tunnels ---------------------------------------------------------- */

BhTunnel *bh_tunnel_new(void) {
        return g_new0(BhTunnel, 1);
}

void bh_tunnel_free(BhTunnel *t) {
        if (!t)
                return;
        g_free(t->local_ts);
        g_free(t->remote_ts);
        g_free(t->ike_proposals);
        g_free(t->esp_proposals);
        g_free(t->file);
        g_free(t);
}

BhTunnel *bh_tunnel_copy(const BhTunnel *t) {
        BhTunnel *c;

        g_return_val_if_fail(t, NULL);

        c = g_memdup2(t, sizeof *t);
        c->local_ts = g_memdup2(t->local_ts, t->n_local_ts * sizeof *t->local_ts);
        c->remote_ts = g_memdup2(t->remote_ts, t->n_remote_ts * sizeof *t->remote_ts);
        c->ike_proposals = g_memdup2(t->ike_proposals, t->n_ike_proposals * sizeof *t->ike_proposals);
        c->esp_proposals = g_memdup2(t->esp_proposals, t->n_esp_proposals * sizeof *t->esp_proposals);
        c->file = g_strdup(t->file);
        return c;
}

bool bh_tunnel_name_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > BH_TUNNEL_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
                        return false;
        return true;
}

const char *bh_tunnel_type_to_string(BhTunnelType type) {
        return type == BH_TUNNEL_IKE ? "ike" : type == BH_TUNNEL_MANUAL ? "manual" : "invalid";
}

const char *bh_tunnel_mode_to_string(BhTunnelMode mode) {
        return mode == BH_MODE_TUNNEL ? "tunnel" : mode == BH_MODE_TRANSPORT ? "transport" : "invalid";
}

const char *bh_encap_to_string(BhEncap encap) {
        switch (encap) {
        case BH_ENCAP_UDP:
                return "udp";
        case BH_ENCAP_ESP:
                return "esp";
        case BH_ENCAP_AUTO:
                return "auto";
        default:
                return "invalid";
        }
}

const char *bh_start_to_string(BhStart start) {
        switch (start) {
        case BH_START_NONE:
                return "none";
        case BH_START_START:
                return "start";
        case BH_START_TRAP:
                return "trap";
        default:
                return "invalid";
        }
}

static bool printable_word(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] <= 0x20 || p[i] >= 0x7f)
                        return false;
        return true;
}

char *bh_identity_to_string(const BhIdentity *id) {
        char buf[BH_ADDR_STRLEN];
        GString *s;

        switch (id->type) {
        case BH_ID_ANY:
                return g_strdup("%any");
        case BH_ID_IPV4_ADDR:
        case BH_ID_IPV6_ADDR: {
                BhAddr a = { .family = id->type == BH_ID_IPV4_ADDR ? AF_INET : AF_INET6 };

                memcpy(a.bytes, id->data, MIN((size_t) id->len, sizeof a.bytes));
                return g_strdup_printf("%s:%s", id->type == BH_ID_IPV4_ADDR ? "ipv4" : "ipv6", bh_addr_to_string(&a, buf));
        }
        case BH_ID_FQDN:
                return g_strdup_printf("fqdn:%.*s", (int) id->len, (const char *) id->data);
        case BH_ID_RFC822_ADDR:
                return g_strdup_printf("email:%.*s", (int) id->len, (const char *) id->data);
        case BH_ID_KEY_ID:
                s = g_string_new("keyid:");
                if (printable_word(id->data, id->len) &&
                    !(id->len >= 2 && id->data[0] == '0' && (id->data[1] == 'x' || id->data[1] == 'X')))
                        g_string_append_len(s, (const char *) id->data, id->len);
                else {
                        g_string_append(s, "0x");
                        for (size_t i = 0; i < id->len; i++)
                                g_string_append_printf(s, "%02x", id->data[i]);
                }
                return g_string_free(s, FALSE);
        default:
                return g_strdup_printf("unknown%u", (unsigned) id->type);
        }
}

static bool identity_equal(const BhIdentity *a, const BhIdentity *b) {
        return a->type == b->type && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static bool ts_list_equal(const BhTs *a, size_t n_a, const BhTs *b, size_t n_b) {
        if (n_a != n_b)
                return false;
        for (size_t i = 0; i < n_a; i++)
                if (!bh_ts_equal(&a[i], &b[i]))
                        return false;
        return true;
}

/* Does key k hold the same value in both? */
static bool key_equal(const BhTunnel *a, const BhTunnel *b, KeyId k) {
        switch (k) {
        case K_NUMBER:
                return a->number == b->number;
        case K_TYPE:
                return a->type == b->type;
        case K_LOCAL:
                return bh_addr_equal(&a->local, &b->local);
        case K_REMOTE:
                return bh_addr_equal(&a->remote, &b->remote);
        case K_LOCAL_TS:
                return ts_list_equal(a->local_ts, a->n_local_ts, b->local_ts, b->n_local_ts);
        case K_REMOTE_TS:
                return ts_list_equal(a->remote_ts, a->n_remote_ts, b->remote_ts, b->n_remote_ts);
        case K_MODE:
                return a->mode == b->mode;
        case K_ENCAP:
                return a->encap == b->encap;
        case K_START:
                return a->start == b->start;
        case K_LOCAL_ID:
                return identity_equal(&a->local_id, &b->local_id);
        case K_REMOTE_ID:
                return identity_equal(&a->remote_id, &b->remote_id);
        case K_IKE_PROPOSALS:
                return bh_proposal_list_equal(a->ike_proposals, a->n_ike_proposals, b->ike_proposals, b->n_ike_proposals);
        case K_ESP_PROPOSALS:
                return bh_proposal_list_equal(a->esp_proposals, a->n_esp_proposals, b->esp_proposals, b->n_esp_proposals);
        case K_DPD_DELAY:
                return a->dpd_delay == b->dpd_delay;
        case K_REKEY_TIME:
                return a->rekey_time == b->rekey_time;
        case K_CHILD_REKEY_TIME:
                return a->child_rekey_time == b->child_rekey_time;
        case K_LIFETIME:
                return a->lifetime == b->lifetime;
        case K_LIFETIME_BYTES:
                return a->lifetime_bytes == b->lifetime_bytes;
        case K_LIFETIME_PACKETS:
                return a->lifetime_packets == b->lifetime_packets;
        case K_ESP:
                return a->has_esp == b->has_esp && (!a->has_esp || bh_proposal_equal(&a->esp, &b->esp));
        case K_ESP_SPI_OUT:
                return a->esp_spi_out == b->esp_spi_out;
        case K_ESP_SPI_IN:
                return a->esp_spi_in == b->esp_spi_in;
        case K_AH:
                return a->has_ah == b->has_ah && (!a->has_ah || bh_proposal_equal(&a->ah, &b->ah));
        case K_AH_SPI_OUT:
                return a->ah_spi_out == b->ah_spi_out;
        case K_AH_SPI_IN:
                return a->ah_spi_in == b->ah_spi_in;
        case K_REPLAY:
                return a->replay == b->replay;
        default:
                g_assert_not_reached();
        }
}

char *bh_tunnel_changes(const BhTunnel *a, const BhTunnel *b) {
        GString *s = g_string_new(NULL);

        g_return_val_if_fail(a && b, NULL);

        /* The display name counts: a change of case renames the D-Bus object. */
        if (strcmp(a->name, b->name) != 0)
                g_string_append(s, "name");
        for (KeyId k = 0; k < _K_MAX; k++)
                if (!key_equal(a, b, k))
                        g_string_append_printf(s, "%s%s", s->len ? ", " : "", keys[k].name);

        if (s->len == 0) {
                g_string_free(s, TRUE);
                return NULL;
        }
        return g_string_free(s, FALSE);
}

bool bh_tunnel_equal(const BhTunnel *a, const BhTunnel *b) {
        g_autofree char *changes = NULL;

        if (a == b)
                return true;
        if (!a || !b)
                return false;
        changes = bh_tunnel_changes(a, b);
        return changes == NULL;
}

/* ---- canonical text --------------------------------------------------- */

static void append_duration(GString *s, uint32_t v) {
        if (v == 0)
                g_string_append(s, "0");
        else if (v % 86400 == 0)
                g_string_append_printf(s, "%ud", v / 86400);
        else if (v % 3600 == 0)
                g_string_append_printf(s, "%uh", v / 3600);
        else if (v % 60 == 0)
                g_string_append_printf(s, "%um", v / 60);
        else
                g_string_append_printf(s, "%us", v);
}

static void append_count(GString *s, uint64_t v) {
        static const char units[] = "GMk";

        for (int i = 0; i < 3; i++) {
                uint64_t m = 1ull << (10 * (3 - i));

                if (v != 0 && v % m == 0) {
                        g_string_append_printf(s, "%" G_GUINT64_FORMAT "%c", v / m, units[i]);
                        return;
                }
        }
        g_string_append_printf(s, "%" G_GUINT64_FORMAT, v);
}

static void append_ts_list(GString *s, const char *key, const BhTs *ts, size_t n) {
        char buf[BH_TS_STRLEN];

        if (n == 0)
                return;
        g_string_append_printf(s, "%s = ", key);
        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "%s%s", i ? ", " : "", bh_ts_to_string(&ts[i], buf));
        g_string_append_c(s, '\n');
}

char *bh_tunnel_format(const BhTunnel *t) {
        GString *s = g_string_new(NULL);
        char buf[BH_ADDR_STRLEN];

        g_return_val_if_fail(t, NULL);

        g_string_append_printf(s, "[tunnel %s]\n", t->name);
        if (t->number)
                g_string_append_printf(s, "number = %u\n", t->number);
        g_string_append_printf(s, "type = %s\n", bh_tunnel_type_to_string(t->type));
        g_string_append_printf(s, "local = %s\n", bh_addr_to_string(&t->local, buf));
        g_string_append_printf(s, "remote = %s\n", bh_addr_to_string(&t->remote, buf));
        append_ts_list(s, "local_ts", t->local_ts, t->n_local_ts);
        append_ts_list(s, "remote_ts", t->remote_ts, t->n_remote_ts);
        g_string_append_printf(s, "mode = %s\n", bh_tunnel_mode_to_string(t->mode));
        g_string_append_printf(s, "encap = %s\n", bh_encap_to_string(t->encap));
        g_string_append_printf(s, "start = %s\n", bh_start_to_string(t->start));

        if (t->type == BH_TUNNEL_IKE) {
                g_autofree char *lid = bh_identity_to_string(&t->local_id);
                g_autofree char *rid = bh_identity_to_string(&t->remote_id);
                g_autofree char *ike = bh_proposal_list_to_string(t->ike_proposals, t->n_ike_proposals);
                g_autofree char *esp = bh_proposal_list_to_string(t->esp_proposals, t->n_esp_proposals);

                g_string_append_printf(s, "local_id = %s\nremote_id = %s\n", lid, rid);
                g_string_append_printf(s, "ike_proposals = %s\nesp_proposals = %s\n", ike, esp);
                g_string_append(s, "dpd_delay = ");
                append_duration(s, t->dpd_delay);
                g_string_append(s, "\nrekey_time = ");
                append_duration(s, t->rekey_time);
                g_string_append(s, "\nchild_rekey_time = ");
                append_duration(s, t->child_rekey_time);
                g_string_append(s, "\nlifetime_bytes = ");
                append_count(s, t->lifetime_bytes);
                g_string_append(s, "\nlifetime_packets = ");
                append_count(s, t->lifetime_packets);
                g_string_append_c(s, '\n');
        } else {
                if (t->has_esp) {
                        g_autofree char *esp = bh_proposal_to_string(&t->esp);

                        g_string_append_printf(s, "esp = %s\nesp_spi_out = 0x%x\nesp_spi_in = 0x%x\n", esp, t->esp_spi_out,
                                               t->esp_spi_in);
                }
                if (t->has_ah) {
                        g_autofree char *ah = bh_proposal_to_string(&t->ah);

                        g_string_append_printf(s, "ah = %s\nah_spi_out = 0x%x\nah_spi_in = 0x%x\n", ah, t->ah_spi_out,
                                               t->ah_spi_in);
                }
                g_string_append_printf(s, "replay = %s\n", t->replay ? "yes" : "no");
                if (t->lifetime) {
                        g_string_append(s, "lifetime = ");
                        append_duration(s, t->lifetime);
                        g_string_append_c(s, '\n');
                }
                if (t->lifetime_bytes) {
                        g_string_append(s, "lifetime_bytes = ");
                        append_count(s, t->lifetime_bytes);
                        g_string_append_c(s, '\n');
                }
                if (t->lifetime_packets) {
                        g_string_append(s, "lifetime_packets = ");
                        append_count(s, t->lifetime_packets);
                        g_string_append_c(s, '\n');
                }
        }

        return g_string_free(s, FALSE);
}

/* ---- sets ------------------------------------------------------------- */

BhTunnelSet *bh_tunnel_set_new(void) {
        BhTunnelSet *set = g_new0(BhTunnelSet, 1);

        set->tunnels = g_ptr_array_new_with_free_func((GDestroyNotify) bh_tunnel_free);
        set->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        set->by_number = g_hash_table_new(g_direct_hash, g_direct_equal);
        set->by_esp_spi_in = g_hash_table_new(g_direct_hash, g_direct_equal);
        set->by_ah_spi_in = g_hash_table_new(g_direct_hash, g_direct_equal);
        return set;
}

void bh_tunnel_set_free(BhTunnelSet *set) {
        if (!set)
                return;
        g_hash_table_unref(set->by_name);
        g_hash_table_unref(set->by_number);
        g_hash_table_unref(set->by_esp_spi_in);
        g_hash_table_unref(set->by_ah_spi_in);
        g_ptr_array_unref(set->tunnels);
        g_free(set);
}

guint bh_tunnel_set_size(const BhTunnelSet *set) {
        return set ? set->tunnels->len : 0;
}

const BhTunnel *bh_tunnel_set_get(const BhTunnelSet *set, guint i) {
        g_return_val_if_fail(set && i < set->tunnels->len, NULL);
        return set->tunnels->pdata[i];
}

const BhTunnel *bh_tunnel_set_find(const BhTunnelSet *set, const char *name) {
        g_autofree char *key = NULL;

        if (!set || !name)
                return NULL;
        key = g_ascii_strdown(name, -1);
        return g_hash_table_lookup(set->by_name, key);
}

const BhTunnel *bh_tunnel_set_find_number(const BhTunnelSet *set, uint32_t number) {
        if (!set || number == 0)
                return NULL;
        return g_hash_table_lookup(set->by_number, GUINT_TO_POINTER(number));
}

static const BhTunnel *find_spi_in(const BhTunnelSet *set, bool ah, uint32_t spi) {
        return g_hash_table_lookup(ah ? set->by_ah_spi_in : set->by_esp_spi_in, GUINT_TO_POINTER(spi));
}

/* Takes ownership; the caller checked that nothing collides. */
static void set_add(BhTunnelSet *set, BhTunnel *t) {
        g_ptr_array_add(set->tunnels, t);
        g_hash_table_insert(set->by_name, g_ascii_strdown(t->name, -1), t);
        if (t->number)
                g_hash_table_insert(set->by_number, GUINT_TO_POINTER(t->number), t);
        if (t->type == BH_TUNNEL_MANUAL && t->has_esp)
                g_hash_table_insert(set->by_esp_spi_in, GUINT_TO_POINTER(t->esp_spi_in), t);
        if (t->type == BH_TUNNEL_MANUAL && t->has_ah)
                g_hash_table_insert(set->by_ah_spi_in, GUINT_TO_POINTER(t->ah_spi_in), t);
}

static void set_remove(BhTunnelSet *set, BhTunnel *t) {
        g_autofree char *key = g_ascii_strdown(t->name, -1);

        g_hash_table_remove(set->by_name, key);
        if (t->number && g_hash_table_lookup(set->by_number, GUINT_TO_POINTER(t->number)) == t)
                g_hash_table_remove(set->by_number, GUINT_TO_POINTER(t->number));
        if (g_hash_table_lookup(set->by_esp_spi_in, GUINT_TO_POINTER(t->esp_spi_in)) == t)
                g_hash_table_remove(set->by_esp_spi_in, GUINT_TO_POINTER(t->esp_spi_in));
        if (g_hash_table_lookup(set->by_ah_spi_in, GUINT_TO_POINTER(t->ah_spi_in)) == t)
                g_hash_table_remove(set->by_ah_spi_in, GUINT_TO_POINTER(t->ah_spi_in));
        g_ptr_array_remove(set->tunnels, t);    /* frees it */
}

/* ---- reports ---------------------------------------------------------- */

G_GNUC_PRINTF(4, 0)
static void report_valist(ParseState *st, size_t line, bool warning, const char *format, va_list ap) {
        g_autofree char *msg = NULL;

        if (!warning) {
                if (st->n_errors < INT_MAX)
                        st->n_errors++;
                if (st->t && st->section_errors < INT_MAX)
                        st->section_errors++;
        }
        if (!st->errors)
                return;

        msg = g_strdup_vprintf(format, ap);
        g_ptr_array_add(st->errors, g_strdup_printf("%s:%zu: %s%s", st->filename, line, warning ? "warning: " : "", msg));
}

/* A problem with the current line. */
G_GNUC_PRINTF(2, 3)
static void bad_line(ParseState *st, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        report_valist(st, st->line, false, format, ap);
        va_end(ap);
}

/* A problem found at the end of a section, reported at the line it is about. */
G_GNUC_PRINTF(3, 4)
static void bad_at(ParseState *st, size_t line, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        report_valist(st, line, false, format, ap);
        va_end(ap);
}

G_GNUC_PRINTF(2, 3)
static void warn_line(ParseState *st, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        report_valist(st, st->line, true, format, ap);
        va_end(ap);
}

/* The line a key was set on, or the [tunnel] line when it took its default. */
static size_t key_or_header(const ParseState *st, KeyId k) {
        return st->key_line[k] ? st->key_line[k] : st->header_line;
}

static bool key_ok(const ParseState *st, KeyId k) {
        return st->key_line[k] && !st->key_bad[k];
}

/* ---- values ----------------------------------------------------------- */

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static char *strip(char *p) {
        char *e;

        while (is_blank(*p))
                p++;
        e = p + strlen(p);
        while (e > p && is_blank(e[-1]))
                *--e = '\0';
        return p;
}

/* Decimal, no sign; 0 or -EINVAL / -ERANGE. */
static int parse_u64(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (!g_ascii_isdigit(s[i]))
                        return -EINVAL;
                d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* A number with an optional unit: "30s" with units "smhd". */
static int parse_scaled(const char *s, const char *units, const uint64_t *factors, uint64_t *ret) {
        size_t n = strlen(s);
        uint64_t v, f = 1;
        int r;

        if (n > 0 && !g_ascii_isdigit(s[n - 1])) {
                const char *u = strchr(units, s[n - 1]);

                if (!u)
                        return -EINVAL;
                f = factors[u - units];
                n--;
        }
        r = parse_u64(s, n, &v);
        if (r < 0)
                return r;
        if (f > 1 && v > UINT64_MAX / f)
                return -ERANGE;
        *ret = v * f;
        return 0;
}

static int parse_spi(const char *s, uint32_t *ret) {
        uint64_t v = 0;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                size_t n = strlen(s + 2);

                if (n == 0 || n > 8)
                        return -EINVAL;
                for (size_t i = 0; i < n; i++) {
                        int d = g_ascii_xdigit_value(s[2 + i]);

                        if (d < 0)
                                return -EINVAL;
                        v = v * 16 + (unsigned) d;
                }
        } else if (parse_u64(s, strlen(s), &v) < 0 || v > UINT32_MAX)
                return -EINVAL;

        *ret = (uint32_t) v;
        return 0;
}

static int parse_ts_list(ParseState *st, KeyId k, const char *v, BhTs **ret, size_t *ret_n) {
        g_auto(GStrv) items = g_strsplit(v, ",", BH_TUNNEL_TS_MAX + 2);
        g_autofree BhTs *list = NULL;
        size_t n = 0;

        if (g_strv_length(items) > BH_TUNNEL_TS_MAX) {
                bad_line(st, "%s has more than %d selectors", keys[k].name, BH_TUNNEL_TS_MAX);
                return -EINVAL;
        }

        list = g_new0(BhTs, BH_TUNNEL_TS_MAX);
        for (char **item = items; *item; item++) {
                g_autofree char *reason = NULL, *q = NULL;
                char *w = strip(*item);

                if (*w == '\0') {
                        bad_line(st, "%s has an empty entry (two ',' in a row, or a ',' at an end)", keys[k].name);
                        return -EINVAL;
                }
                q = bh_quote(w);
                if (bh_ts_parse(w, &list[n], &reason) < 0) {
                        bad_line(st, "%s %s: %s", keys[k].name, q, reason);
                        return -EINVAL;
                }
                for (size_t i = 0; i < n; i++)
                        if (bh_ts_equal(&list[i], &list[n])) {
                                bad_line(st, "%s lists %s twice", keys[k].name, q);
                                return -EINVAL;
                        }
                n++;
        }

        *ret = g_renew(BhTs, g_steal_pointer(&list), n);
        *ret_n = n;
        return 0;
}

static int parse_identity(ParseState *st, KeyId k, const char *v, BhIdentity *ret) {
        static const struct {
                const char *prefix;
                BhIdType type;
        } prefixes[] = {
                { "ipv4:", BH_ID_IPV4_ADDR }, { "ipv6:", BH_ID_IPV6_ADDR }, { "fqdn:", BH_ID_FQDN },
                { "email:", BH_ID_RFC822_ADDR }, { "keyid:", BH_ID_KEY_ID },
        };
        g_autofree char *q = bh_quote(v);
        BhIdentity id = { 0 };
        const char *data = NULL;
        size_t n;

        if (strcmp(v, "%any") == 0) {
                if (k == K_LOCAL_ID) {
                        bad_line(st, "local_id cannot be %%any: this end must say who it is");
                        return -EINVAL;
                }
                *ret = id;
                return 0;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(prefixes) && !data; i++)
                if (g_ascii_strncasecmp(v, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0) {
                        id.type = prefixes[i].type;
                        data = v + strlen(prefixes[i].prefix);
                }
        if (!data) {
                bad_line(st, "%s %s needs a type prefix: ipv4:, ipv6:, fqdn:, email: or keyid:", keys[k].name, q);
                return -EINVAL;
        }
        n = strlen(data);

        switch (id.type) {
        case BH_ID_IPV4_ADDR:
        case BH_ID_IPV6_ADDR: {
                int family = id.type == BH_ID_IPV4_ADDR ? AF_INET : AF_INET6;
                BhAddr a;

                if (bh_addr_parse(data, false, &a) < 0 || a.family != family) {
                        bad_line(st, "%s %s: not an %s address", keys[k].name, q, bh_family_name(family));
                        return -EINVAL;
                }
                id.len = (uint8_t) bh_addr_len(family);
                memcpy(id.data, a.bytes, id.len);
                break;
        }
        case BH_ID_FQDN:
                if (n < 1 || n > 253 || !printable_word((const uint8_t *) data, n)) {
                        bad_line(st, "%s %s: a DNS name is 1 to 253 printable characters without blanks", keys[k].name, q);
                        return -EINVAL;
                }
                id.len = (uint8_t) n;
                memcpy(id.data, data, n);
                break;
        case BH_ID_RFC822_ADDR: {
                const char *at = strchr(data, '@');

                if (n > BH_IDENTITY_MAX || !at || at == data || at[1] == '\0' || !printable_word((const uint8_t *) data, n)) {
                        bad_line(st, "%s %s: not an e-mail address (user@domain, printable, without blanks)", keys[k].name, q);
                        return -EINVAL;
                }
                id.len = (uint8_t) n;
                memcpy(id.data, data, n);
                break;
        }
        case BH_ID_KEY_ID:
                if (n >= 2 && data[0] == '0' && (data[1] == 'x' || data[1] == 'X')) {
                        size_t digits = n - 2;

                        if (digits == 0 || digits % 2 != 0 || digits / 2 > BH_IDENTITY_MAX) {
                                bad_line(st, "%s %s: a hex key id takes an even number of hex digits (at most %d bytes)",
                                         keys[k].name, q, BH_IDENTITY_MAX);
                                return -EINVAL;
                        }
                        for (size_t i = 0; i < digits / 2; i++) {
                                int hi = g_ascii_xdigit_value(data[2 + 2 * i]);
                                int lo = g_ascii_xdigit_value(data[3 + 2 * i]);

                                if (hi < 0 || lo < 0) {
                                        bad_line(st, "%s %s: a hex key id takes an even number of hex digits (at most %d bytes)",
                                                 keys[k].name, q, BH_IDENTITY_MAX);
                                        return -EINVAL;
                                }
                                id.data[i] = (uint8_t) (hi << 4 | lo);
                        }
                        id.len = (uint8_t) (digits / 2);
                } else {
                        if (n < 1 || n > BH_IDENTITY_MAX || !printable_word((const uint8_t *) data, n)) {
                                bad_line(st, "%s %s: a key id is 0x and hex digits, or 1 to %d printable characters without blanks",
                                         keys[k].name, q, BH_IDENTITY_MAX);
                                return -EINVAL;
                        }
                        id.len = (uint8_t) n;
                        memcpy(id.data, data, n);
                }
                break;
        default:
                g_assert_not_reached();
        }

        *ret = id;
        return 0;
}

static void warn_legacy(ParseState *st, KeyId k, const BhProposal *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *legacy = bh_proposal_legacy(&p[i]);

                if (legacy) {
                        g_autofree char *q = bh_quote(legacy);

                        warn_line(st, "%s uses the legacy algorithm %s", keys[k].name, q);
                        return;
                }
        }
}

static int parse_manual_set(ParseState *st, KeyId k, const char *v, BhProposal *ret) {
        BhProtocolId proto = k == K_ESP ? BH_PROTO_ESP : BH_PROTO_AH;
        g_autofree char *reason = NULL, *q = bh_quote(v);

        if (strchr(v, ',')) {
                bad_line(st, "%s takes one transform set, not a list of proposals", keys[k].name);
                return -EINVAL;
        }
        if (bh_proposal_parse(proto, v, ret, &reason) < 0 || bh_proposal_check_single(ret, &reason) < 0) {
                bad_line(st, "%s %s: %s", keys[k].name, q, reason);
                return -EINVAL;
        }
        warn_legacy(st, k, ret, 1);
        return 0;
}

/* Parses the value of key k into st->t. Reports and returns -EINVAL when
 * the value is refused. */
static int parse_value(ParseState *st, KeyId k, const char *v) {
        static const uint64_t duration_factors[] = { 1, 60, 3600, 86400 };
        static const uint64_t count_factors[] = { 1024, 1024, 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024, 1024 * 1024 * 1024 };
        BhTunnel *t = st->t;
        g_autofree char *q = bh_quote(v);
        g_autofree char *reason = NULL;
        uint64_t u;
        int r;

        switch (k) {
        case K_NUMBER:
                if (parse_u64(v, strlen(v), &u) < 0 || u < 1 || u > BH_TUNNEL_NUMBER_MAX) {
                        bad_line(st, "number must be from 1 to %d, not %s", BH_TUNNEL_NUMBER_MAX, q);
                        return -EINVAL;
                }
                t->number = (uint32_t) u;
                t->number_given = true;
                return 0;

        case K_TYPE:
                if (g_ascii_strcasecmp(v, "ike") == 0)
                        t->type = BH_TUNNEL_IKE;
                else if (g_ascii_strcasecmp(v, "manual") == 0)
                        t->type = BH_TUNNEL_MANUAL;
                else {
                        bad_line(st, "type must be ike or manual, not %s", q);
                        return -EINVAL;
                }
                return 0;

        case K_LOCAL:
                if (strcmp(v, "%any") == 0) {
                        bad_line(st, "local must be an address of this host, not %%any");
                        return -EINVAL;
                }
                if (bh_addr_parse(v, false, &t->local) < 0) {
                        bad_line(st, "local %s is not an IPv4 or IPv6 address", q);
                        return -EINVAL;
                }
                if (!bh_addr_is_unicast(&t->local)) {
                        bad_line(st, "local %s is not a unicast address", q);
                        return -EINVAL;
                }
                return 0;

        case K_REMOTE:
                if (bh_addr_parse(v, true, &t->remote) < 0) {
                        bad_line(st, "remote %s is not an IPv4 or IPv6 address (or %%any)", q);
                        return -EINVAL;
                }
                if (!bh_addr_is_any(&t->remote) && !bh_addr_is_unicast(&t->remote)) {
                        bad_line(st, "remote %s is not a unicast address", q);
                        return -EINVAL;
                }
                return 0;

        case K_LOCAL_TS:
                return parse_ts_list(st, k, v, &t->local_ts, &t->n_local_ts);
        case K_REMOTE_TS:
                return parse_ts_list(st, k, v, &t->remote_ts, &t->n_remote_ts);

        case K_MODE:
                if (g_ascii_strcasecmp(v, "tunnel") == 0)
                        t->mode = BH_MODE_TUNNEL;
                else if (g_ascii_strcasecmp(v, "transport") == 0)
                        t->mode = BH_MODE_TRANSPORT;
                else {
                        bad_line(st, "mode must be tunnel or transport, not %s", q);
                        return -EINVAL;
                }
                return 0;

        case K_ENCAP:
                if (g_ascii_strcasecmp(v, "udp") == 0)
                        t->encap = BH_ENCAP_UDP;
                else if (g_ascii_strcasecmp(v, "esp") == 0)
                        t->encap = BH_ENCAP_ESP;
                else if (g_ascii_strcasecmp(v, "auto") == 0)
                        t->encap = BH_ENCAP_AUTO;
                else {
                        bad_line(st, "encap must be udp, esp or auto, not %s", q);
                        return -EINVAL;
                }
                return 0;

        case K_START:
                if (g_ascii_strcasecmp(v, "none") == 0)
                        t->start = BH_START_NONE;
                else if (g_ascii_strcasecmp(v, "start") == 0)
                        t->start = BH_START_START;
                else if (g_ascii_strcasecmp(v, "trap") == 0)
                        t->start = BH_START_TRAP;
                else {
                        bad_line(st, "start must be none, start or trap, not %s", q);
                        return -EINVAL;
                }
                return 0;

        case K_LOCAL_ID:
                return parse_identity(st, k, v, &t->local_id);
        case K_REMOTE_ID:
                return parse_identity(st, k, v, &t->remote_id);

        case K_IKE_PROPOSALS:
        case K_ESP_PROPOSALS: {
                BhProposal **list = k == K_IKE_PROPOSALS ? &t->ike_proposals : &t->esp_proposals;
                size_t *n = k == K_IKE_PROPOSALS ? &t->n_ike_proposals : &t->n_esp_proposals;

                if (bh_proposal_list_parse(k == K_IKE_PROPOSALS ? BH_PROTO_IKE : BH_PROTO_ESP, v, list, n, &reason) < 0) {
                        bad_line(st, "%s: %s", keys[k].name, reason);
                        return -EINVAL;
                }
                /* IKE proposals refuse them already (bh_proposal_parse());
                 * a negotiated CHILD SA must not take them either: only a
                 * manual tunnel's esp or ah names a legacy algorithm. */
                for (size_t i = 0; i < *n; i++) {
                        const char *legacy = bh_proposal_legacy(&(*list)[i]);

                        if (legacy) {
                                g_autofree char *one = bh_proposal_to_string(&(*list)[i]);
                                g_autofree char *qp = bh_quote(one), *ql = bh_quote(legacy);

                                bad_line(st, "%s: proposal %s: %s is a legacy algorithm, for manual tunnels only: "
                                         "a negotiated tunnel does not take it", keys[k].name, qp, ql);
                                return -EINVAL;
                        }
                }
                return 0;
        }

        case K_DPD_DELAY:
        case K_REKEY_TIME:
        case K_CHILD_REKEY_TIME:
        case K_LIFETIME: {
                uint32_t *field = k == K_DPD_DELAY ? &t->dpd_delay : k == K_REKEY_TIME ? &t->rekey_time
                                  : k == K_CHILD_REKEY_TIME ? &t->child_rekey_time : &t->lifetime;

                r = parse_scaled(v, "smhd", duration_factors, &u);
                if (r == -ERANGE || (r == 0 && u > UINT32_MAX)) {
                        bad_line(st, "%s %s is too long (at most %u seconds)", keys[k].name, q, UINT32_MAX);
                        return -EINVAL;
                }
                if (r < 0) {
                        bad_line(st, "%s must be a duration such as 30s, 10m, 4h or 1d (0 = off), not %s", keys[k].name, q);
                        return -EINVAL;
                }
                *field = (uint32_t) u;
                return 0;
        }

        case K_LIFETIME_BYTES:
        case K_LIFETIME_PACKETS:
                r = parse_scaled(v, "kKmMgG", count_factors, &u);
                if (r == -ERANGE) {
                        bad_line(st, "%s %s is too large", keys[k].name, q);
                        return -EINVAL;
                }
                if (r < 0) {
                        bad_line(st, "%s must be a number with an optional k, M or G (such as 500M; 0 = no limit), not %s",
                                 keys[k].name, q);
                        return -EINVAL;
                }
                if (k == K_LIFETIME_BYTES)
                        t->lifetime_bytes = u;
                else
                        t->lifetime_packets = u;
                return 0;

        case K_REPLAY:
                /* AIX's replay prevention for manual tunnels, off unless
                 * asked: a restarted sender starts its sequence over. */
                if (g_ascii_strcasecmp(v, "yes") == 0 || g_ascii_strcasecmp(v, "on") == 0 ||
                    g_ascii_strcasecmp(v, "true") == 0)
                        t->replay = true;
                else if (g_ascii_strcasecmp(v, "no") == 0 || g_ascii_strcasecmp(v, "off") == 0 ||
                         g_ascii_strcasecmp(v, "false") == 0)
                        t->replay = false;
                else {
                        bad_line(st, "replay must be yes or no, not %s", q);
                        return -EINVAL;
                }
                return 0;

        case K_ESP:
                r = parse_manual_set(st, k, v, &t->esp);
                t->has_esp = r == 0;
                return r;
        case K_AH:
                r = parse_manual_set(st, k, v, &t->ah);
                t->has_ah = r == 0;
                return r;

        case K_ESP_SPI_OUT:
        case K_ESP_SPI_IN:
        case K_AH_SPI_OUT:
        case K_AH_SPI_IN: {
                uint32_t *field = k == K_ESP_SPI_OUT ? &t->esp_spi_out :
                                  k == K_ESP_SPI_IN  ? &t->esp_spi_in :
                                  k == K_AH_SPI_OUT  ? &t->ah_spi_out : &t->ah_spi_in;
                uint32_t spi;

                if (parse_spi(v, &spi) < 0) {
                        bad_line(st, "%s must be an SPI from 256 to 0xffffffff (decimal or 0x hex), not %s", keys[k].name, q);
                        return -EINVAL;
                }
                if (spi < 256) {
                        bad_line(st, "%s %s is reserved (SPIs 0 to 255 are, RFC 4303)", keys[k].name, q);
                        return -EINVAL;
                }
                *field = spi;
                return 0;
        }

        default:
                g_assert_not_reached();
        }
}

/* ---- sections --------------------------------------------------------- */

static void set_defaults(ParseState *st) {
        BhTunnel *t = st->t;
        g_autofree char *reason = NULL;

        if (!st->key_line[K_MODE])
                t->mode = BH_MODE_TUNNEL;
        if (!st->key_line[K_START])
                t->start = BH_START_NONE;
        if (!st->key_line[K_ENCAP])
                t->encap = t->type == BH_TUNNEL_IKE ? BH_ENCAP_AUTO : BH_ENCAP_ESP;

        /* Host to host: the addresses themselves. With remote %any, the
         * peer's address once it is known (left empty here). */
        if (!st->key_line[K_LOCAL_TS] && key_ok(st, K_LOCAL)) {
                t->local_ts = g_new0(BhTs, 1);
                t->n_local_ts = 1;
                bh_ts_from_addr(&t->local, &t->local_ts[0]);
        }
        if (!st->key_line[K_REMOTE_TS] && key_ok(st, K_REMOTE) && !bh_addr_is_any(&t->remote)) {
                t->remote_ts = g_new0(BhTs, 1);
                t->n_remote_ts = 1;
                bh_ts_from_addr(&t->remote, &t->remote_ts[0]);
        }

        if (t->type != BH_TUNNEL_IKE)
                return;

        if (!st->key_line[K_LOCAL_ID] && key_ok(st, K_LOCAL)) {
                t->local_id.type = t->local.family == AF_INET ? BH_ID_IPV4_ADDR : BH_ID_IPV6_ADDR;
                t->local_id.len = (uint8_t) bh_addr_len(t->local.family);
                memcpy(t->local_id.data, t->local.bytes, t->local_id.len);
        }
        if (!st->key_line[K_REMOTE_ID] && key_ok(st, K_REMOTE) && !bh_addr_is_any(&t->remote)) {
                t->remote_id.type = t->remote.family == AF_INET ? BH_ID_IPV4_ADDR : BH_ID_IPV6_ADDR;
                t->remote_id.len = (uint8_t) bh_addr_len(t->remote.family);
                memcpy(t->remote_id.data, t->remote.bytes, t->remote_id.len);
        }
        if (!st->key_line[K_IKE_PROPOSALS] &&
            bh_proposal_list_parse(BH_PROTO_IKE, BH_TUNNEL_DEFAULT_IKE_PROPOSALS, &t->ike_proposals, &t->n_ike_proposals, &reason) < 0)
                g_error("default IKE proposals: %s", reason);
        if (!st->key_line[K_ESP_PROPOSALS] &&
            bh_proposal_list_parse(BH_PROTO_ESP, BH_TUNNEL_DEFAULT_ESP_PROPOSALS, &t->esp_proposals, &t->n_esp_proposals, &reason) < 0)
                g_error("default ESP proposals: %s", reason);
        if (!st->key_line[K_REKEY_TIME])
                t->rekey_time = BH_TUNNEL_DEFAULT_REKEY_TIME;
        if (!st->key_line[K_CHILD_REKEY_TIME])
                t->child_rekey_time = BH_TUNNEL_DEFAULT_CHILD_REKEY_TIME;
}

/* Every family of one list must appear in the other, or its selectors can
 * never pair with anything. */
static void check_ts_families(ParseState *st) {
        const BhTunnel *t = st->t;
        static const int families[] = { AF_INET, AF_INET6 };

        if (t->n_remote_ts == 0 || t->n_local_ts == 0)
                return;         /* remote %any: paired once the peer is known */

        for (size_t f = 0; f < G_N_ELEMENTS(families); f++) {
                bool in_local = false, in_remote = false;

                for (size_t i = 0; i < t->n_local_ts; i++)
                        in_local |= t->local_ts[i].addr.family == families[f];
                for (size_t i = 0; i < t->n_remote_ts; i++)
                        in_remote |= t->remote_ts[i].addr.family == families[f];

                if (in_local && !in_remote)
                        bad_at(st, key_or_header(st, K_LOCAL_TS),
                               "local_ts has %s selectors but remote_ts has none (selectors pair up by family)",
                               bh_family_name(families[f]));
                else if (in_remote && !in_local)
                        bad_at(st, key_or_header(st, K_REMOTE_TS),
                               "remote_ts has %s selectors but local_ts has none (selectors pair up by family)",
                               bh_family_name(families[f]));
        }
}

/* Transport mode protects the two hosts' own traffic: every selector must
 * contain its end's address. */
static void check_transport_ts(ParseState *st, KeyId k, const BhTs *ts, size_t n, const BhAddr *a) {
        char tbuf[BH_TS_STRLEN], abuf[BH_ADDR_STRLEN];

        for (size_t i = 0; i < n; i++)
                if (!bh_ts_contains_addr(&ts[i], a)) {
                        bad_at(st, key_or_header(st, k),
                               "%s %s does not contain %s %s (transport mode protects the two hosts' own traffic)",
                               keys[k].name, bh_ts_to_string(&ts[i], tbuf), k == K_LOCAL_TS ? "local" : "remote",
                               bh_addr_to_string(a, abuf));
                        return;
                }
}

static void check_manual_sa(ParseState *st, KeyId set_key, KeyId out_key, KeyId in_key) {
        KeyId spis[] = { out_key, in_key };

        for (size_t i = 0; i < G_N_ELEMENTS(spis); i++) {
                if (st->key_line[set_key] && !st->key_line[spis[i]])
                        bad_at(st, st->header_line, "\"%s\" is missing (%s is set on line %zu)", keys[spis[i]].name,
                               keys[set_key].name, st->key_line[set_key]);
                else if (!st->key_line[set_key] && st->key_line[spis[i]])
                        bad_at(st, st->key_line[spis[i]], "%s without %s", keys[spis[i]].name, keys[set_key].name);
        }
}

static void check_duplicates(ParseState *st) {
        const BhTunnel *t = st->t;
        const BhTunnel *other;
        g_autofree char *q = NULL;

        other = bh_tunnel_set_find(st->set, t->name);
        if (other) {
                q = bh_quote(other->name);
                bad_at(st, st->header_line, "tunnel %s is already defined at %s:%zu", q, other->file, other->line);
                g_clear_pointer(&q, g_free);
        }

        if (key_ok(st, K_NUMBER) && (other = bh_tunnel_set_find_number(st->set, t->number))) {
                q = bh_quote(other->name);
                bad_at(st, st->key_line[K_NUMBER], "number %u is already taken by tunnel %s (%s:%zu)", t->number, q,
                       other->file, other->line);
                g_clear_pointer(&q, g_free);
        }

        if (t->type != BH_TUNNEL_MANUAL)
                return;
        if (key_ok(st, K_ESP_SPI_IN) && (other = find_spi_in(st->set, false, t->esp_spi_in))) {
                q = bh_quote(other->name);
                bad_at(st, st->key_line[K_ESP_SPI_IN], "esp_spi_in 0x%x is already the inbound ESP SPI of tunnel %s (%s:%zu)",
                       t->esp_spi_in, q, other->file, other->line);
                g_clear_pointer(&q, g_free);
        }
        if (key_ok(st, K_AH_SPI_IN) && (other = find_spi_in(st->set, true, t->ah_spi_in))) {
                q = bh_quote(other->name);
                bad_at(st, st->key_line[K_AH_SPI_IN], "ah_spi_in 0x%x is already the inbound AH SPI of tunnel %s (%s:%zu)",
                       t->ah_spi_in, q, other->file, other->line);
        }
}

static void validate(ParseState *st) {
        BhTunnel *t = st->t;
        bool type_ok = key_ok(st, K_TYPE);
        bool family_mismatch;
        char abuf[BH_ADDR_STRLEN], rbuf[BH_ADDR_STRLEN];

        if (!st->key_line[K_TYPE])
                bad_at(st, st->header_line, "\"type\" is missing (ike or manual)");
        if (!st->key_line[K_LOCAL])
                bad_at(st, st->header_line, "\"local\" is missing (the address of this end)");
        if (!st->key_line[K_REMOTE])
                bad_at(st, st->header_line, "\"remote\" is missing (the address of the other end%s)",
                       type_ok && t->type == BH_TUNNEL_MANUAL ? "" : ", or %any");

        if (type_ok)
                for (KeyId k = 0; k < _K_MAX; k++)
                        if (st->key_line[k] && !(keys[k].types & (1u << t->type)))
                                bad_at(st, st->key_line[k], "\"%s\" belongs to %s tunnels, not to %s tunnels", keys[k].name,
                                       t->type == BH_TUNNEL_IKE ? "manual" : "IKE", t->type == BH_TUNNEL_IKE ? "IKE" : "manual");

        set_defaults(st);

        family_mismatch = key_ok(st, K_LOCAL) && key_ok(st, K_REMOTE) && !bh_addr_is_any(&t->remote) &&
                          t->local.family != t->remote.family;
        if (family_mismatch)
                bad_at(st, st->key_line[K_REMOTE], "remote %s is %s but local %s is %s (both ends of a tunnel use one family)",
                       bh_addr_to_string(&t->remote, rbuf), bh_family_name(t->remote.family),
                       bh_addr_to_string(&t->local, abuf), bh_family_name(t->local.family));

        if (type_ok && t->type == BH_TUNNEL_MANUAL) {
                if (key_ok(st, K_REMOTE) && bh_addr_is_any(&t->remote))
                        bad_at(st, st->key_line[K_REMOTE], "a manual tunnel needs the remote address (%%any is for IKE responders)");
                if (key_ok(st, K_START) && t->start == BH_START_TRAP)
                        bad_at(st, st->key_line[K_START], "start = trap needs IKE (a manual tunnel takes none or start)");
                if (key_ok(st, K_ENCAP) && t->encap == BH_ENCAP_AUTO)
                        bad_at(st, st->key_line[K_ENCAP], "encap = auto needs IKE's NAT detection (a manual tunnel takes udp or esp)");
                if (key_ok(st, K_ENCAP) && t->encap == BH_ENCAP_UDP && st->key_line[K_AH])
                        bad_at(st, st->key_line[K_ENCAP], "encap = udp cannot carry AH (RFC 3948 encapsulates ESP only): use encap = esp");
                if (!st->key_line[K_ESP] && !st->key_line[K_AH])
                        bad_at(st, st->header_line, "a manual tunnel needs esp, ah or both");
                check_manual_sa(st, K_ESP, K_ESP_SPI_OUT, K_ESP_SPI_IN);
                check_manual_sa(st, K_AH, K_AH_SPI_OUT, K_AH_SPI_IN);
        }

        if (type_ok && t->type == BH_TUNNEL_IKE && key_ok(st, K_REMOTE) && bh_addr_is_any(&t->remote) &&
            key_ok(st, K_START) && t->start != BH_START_NONE)
                bad_at(st, st->key_line[K_START], "start = %s needs a remote address to initiate to, and remote is %%any",
                       bh_start_to_string(t->start));

        /* Selectors, with the values that parsed (or took their default);
         * after a family mismatch the defaults would only repeat it. */
        if (!family_mismatch && !st->key_bad[K_LOCAL_TS] && !st->key_bad[K_REMOTE_TS] && !st->key_bad[K_MODE]) {
                if (t->mode == BH_MODE_TRANSPORT) {
                        if (key_ok(st, K_LOCAL))
                                check_transport_ts(st, K_LOCAL_TS, t->local_ts, t->n_local_ts, &t->local);
                        if (key_ok(st, K_REMOTE) && !bh_addr_is_any(&t->remote))
                                check_transport_ts(st, K_REMOTE_TS, t->remote_ts, t->n_remote_ts, &t->remote);
                } else
                        check_ts_families(st);
        }

        check_duplicates(st);
}

/* Closes the section being read: the tunnel joins the set, or is reported. */
static void end_section(ParseState *st) {
        BhTunnel *t = st->t;

        if (!t)
                return;

        validate(st);
        st->t = NULL;

        if (st->section_errors == 0) {
                set_add(st->set, t);
                return;
        }

        {
                g_autofree char *q = bh_quote(t->name);

                bad_at(st, st->header_line, "tunnel %s is not loaded (%d error%s)", q, st->section_errors,
                       st->section_errors == 1 ? "" : "s");
        }
        bh_tunnel_free(t);
}

static void parse_header(ParseState *st, char *p) {
        size_t n = strlen(p);
        char *words[3];
        size_t n_words = 0;
        g_autofree char *q = NULL;

        end_section(st);
        st->skipping = true;

        if (p[n - 1] != ']') {
                bad_line(st, "malformed section header (expected [tunnel NAME])");
                return;
        }
        p[n - 1] = '\0';
        p++;

        /* Split the inside into at most 3 words. */
        while (n_words < G_N_ELEMENTS(words)) {
                while (is_blank(*p))
                        p++;
                if (*p == '\0')
                        break;
                words[n_words++] = p;
                while (*p != '\0' && !is_blank(*p))
                        p++;
                if (*p == '\0')
                        break;
                *p++ = '\0';
        }

        if (n_words == 0) {
                bad_line(st, "malformed section header (expected [tunnel NAME])");
                return;
        }
        if (g_ascii_strcasecmp(words[0], "tunnel") != 0) {
                q = bh_quote(words[0]);
                bad_line(st, "unknown section %s (expected [tunnel NAME])", q);
                return;
        }
        if (n_words < 2) {
                bad_line(st, "[tunnel] needs a name");
                return;
        }
        if (n_words > 2) {
                q = bh_quote(words[2]);
                bad_line(st, "unexpected %s after the tunnel name (names cannot contain blanks)", q);
                return;
        }
        if (!bh_tunnel_name_valid(words[1])) {
                q = bh_quote(words[1]);
                bad_line(st, "invalid tunnel name %s (1 to %d of A-Z a-z 0-9 . _ -)", q, BH_TUNNEL_NAME_MAX);
                return;
        }

        st->skipping = false;
        st->t = bh_tunnel_new();
        g_strlcpy(st->t->name, words[1], sizeof st->t->name);
        st->t->file = g_strdup(st->filename);
        st->t->line = st->line;
        st->header_line = st->line;
        st->section_errors = 0;
        memset(st->key_line, 0, sizeof st->key_line);
        memset(st->key_bad, 0, sizeof st->key_bad);
}

static void parse_setting(ParseState *st, char *p) {
        char *eq = strchr(p, '=');
        char *key, *value;
        g_autofree char *q = NULL;
        int k;

        if (!st->t) {
                bad_line(st, "settings must follow a [tunnel NAME] line");
                return;
        }
        if (!eq) {
                bad_line(st, "expected KEY = VALUE");
                return;
        }
        *eq = '\0';
        key = strip(p);
        value = strip(eq + 1);
        if (*key == '\0') {
                bad_line(st, "expected KEY = VALUE");
                return;
        }

        for (k = 0; k < _K_MAX; k++)
                if (g_ascii_strcasecmp(key, keys[k].name) == 0)
                        break;
        if (k == _K_MAX) {
                q = bh_quote(key);
                bad_line(st, "unknown key %s", q);
                return;
        }
        if (st->key_line[k]) {
                bad_line(st, "\"%s\" is already set on line %zu", keys[k].name, st->key_line[k]);
                return;
        }
        st->key_line[k] = st->line;
        if (*value == '\0') {
                bad_line(st, "\"%s\" needs a value", keys[k].name);
                st->key_bad[k] = true;
                return;
        }
        if (parse_value(st, (KeyId) k, value) < 0)
                st->key_bad[k] = true;
}

static void parse_line(ParseState *st, const char *line, size_t n) {
        char buf[BH_TUNNEL_LINE_MAX + 1];
        char *p;

        if (n > BH_TUNNEL_LINE_MAX) {
                bad_line(st, "line is longer than %d bytes", BH_TUNNEL_LINE_MAX);
                return;
        }
        if (memchr(line, '\0', n)) {
                bad_line(st, "line contains a NUL byte");
                return;
        }
        memcpy(buf, line, n);
        buf[n] = '\0';

        /* A '#' at the start of a word begins a comment, as in isakmpd.conf. */
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '#' && (i == 0 || is_blank(buf[i - 1]))) {
                        buf[i] = '\0';
                        break;
                }
        p = strip(buf);
        if (*p == '\0')
                return;

        if (*p == '[')
                parse_header(st, p);
        else if (!st->skipping)
                parse_setting(st, p);
}

int bh_tunnel_set_parse(BhTunnelSet *set, const char *text, size_t len, const char *filename, GPtrArray *ret_errors) {
        ParseState st = {
                .set = set,
                .filename = filename ? filename : "tunnels.conf",
                .errors = ret_errors,
        };
        size_t off = 0;

        g_return_val_if_fail(set, -EINVAL);
        g_return_val_if_fail(text || len == 0, -EINVAL);

        while (off < len) {
                const char *line = text + off;
                const char *nl = memchr(line, '\n', len - off);
                size_t n = nl ? (size_t) (nl - line) : len - off;

                off += nl ? n + 1 : n;
                st.line++;
                parse_line(&st, line, n);
        }
        end_section(&st);

        return st.n_errors;
}

int bh_tunnel_set_finish(BhTunnelSet *set, const BhTunnelSet *previous, GPtrArray *ret_errors) {
        g_autofree uint8_t *used = g_new0(uint8_t, BH_TUNNEL_NUMBER_MAX + 1);
        g_autoptr(GPtrArray) dropped = g_ptr_array_new();
        uint32_t next = 1;

        g_return_val_if_fail(set, -EINVAL);

        for (guint i = 0; i < set->tunnels->len; i++) {
                const BhTunnel *t = set->tunnels->pdata[i];

                if (t->number)
                        used[t->number] = 1;
        }

        /* First the numbers tunnels had before, so that a reload does not
         * renumber a tunnel because another one appeared before it. */
        if (previous)
                for (guint i = 0; i < set->tunnels->len; i++) {
                        BhTunnel *t = set->tunnels->pdata[i];
                        const BhTunnel *old = t->number ? NULL : bh_tunnel_set_find(previous, t->name);

                        if (old && old->number >= 1 && old->number <= BH_TUNNEL_NUMBER_MAX && !used[old->number]) {
                                t->number = old->number;
                                used[t->number] = 1;
                                g_hash_table_insert(set->by_number, GUINT_TO_POINTER(t->number), t);
                        }
                }

        for (guint i = 0; i < set->tunnels->len; i++) {
                BhTunnel *t = set->tunnels->pdata[i];

                if (t->number)
                        continue;
                while (next <= BH_TUNNEL_NUMBER_MAX && used[next])
                        next++;
                if (next > BH_TUNNEL_NUMBER_MAX) {
                        g_ptr_array_add(dropped, t);
                        continue;
                }
                t->number = next;
                used[next] = 1;
                g_hash_table_insert(set->by_number, GUINT_TO_POINTER(t->number), t);
        }

        for (guint i = 0; i < dropped->len; i++) {
                BhTunnel *t = dropped->pdata[i];

                if (ret_errors) {
                        g_autofree char *q = bh_quote(t->name);

                        g_ptr_array_add(ret_errors, g_strdup_printf("%s:%zu: tunnel %s is not loaded: every number from 1 to %d is taken",
                                                                    t->file, t->line, q, BH_TUNNEL_NUMBER_MAX));
                }
                set_remove(set, t);
        }

        return (int) dropped->len;
}

/* ---- files ------------------------------------------------------------ */

bool bh_tunnel_file_name_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        /* Hidden files are editors' locks and backups. */
        return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

static gint compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int bh_tunnel_set_load(const char *dir, const BhTunnelSet *previous, GPtrArray *ret_errors, BhTunnelSet **ret_set) {
        g_autoptr(BhTunnelSet) set = NULL;
        g_autoptr(GPtrArray) names = NULL;
        DIR *d;
        struct dirent *de;
        int n_errors = 0;

        g_return_val_if_fail(dir, -EINVAL);
        g_return_val_if_fail(ret_set, -EINVAL);
        *ret_set = NULL;

        set = bh_tunnel_set_new();
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        *ret_set = g_steal_pointer(&set);
                        return 0;
                }
                return -errno;
        }

        names = g_ptr_array_new_with_free_func(g_free);
        while ((de = readdir(d)))
                if (bh_tunnel_file_name_valid(de->d_name))
                        g_ptr_array_add(names, g_strdup(de->d_name));
        closedir(d);
        g_ptr_array_sort(names, compare_names);

        if (names->len > BH_TUNNEL_FILES_MAX) {
                if (ret_errors)
                        g_ptr_array_add(ret_errors, g_strdup_printf("%s: more than %d *.conf files; only the first %d are read",
                                                                    dir, BH_TUNNEL_FILES_MAX, BH_TUNNEL_FILES_MAX));
                n_errors++;
                g_ptr_array_set_size(names, BH_TUNNEL_FILES_MAX);
        }

        for (guint i = 0; i < names->len; i++) {
                g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
                g_autofree char *text = NULL;
                size_t len = 0;
                int r;

                r = bh_read_bounded(path, BH_TUNNEL_FILE_SIZE_MAX, &text, &len);
                if (r < 0) {
                        if (ret_errors) {
                                if (r == -EFBIG)
                                        g_ptr_array_add(ret_errors, g_strdup_printf("%s: larger than %d bytes; not read", path,
                                                                                    BH_TUNNEL_FILE_SIZE_MAX));
                                else if (r == -EBADFD)
                                        g_ptr_array_add(ret_errors, g_strdup_printf("%s: not a regular file; not read", path));
                                else
                                        g_ptr_array_add(ret_errors, g_strdup_printf("%s: cannot be read: %s", path, g_strerror(-r)));
                        }
                        n_errors++;
                        continue;
                }
                r = bh_tunnel_set_parse(set, text, len, path, ret_errors);
                if (r > 0)
                        n_errors += r;
        }

        n_errors += bh_tunnel_set_finish(set, previous, ret_errors);

        *ret_set = g_steal_pointer(&set);
        return n_errors;
}

/* ---- reload ----------------------------------------------------------- */

void bh_tunnel_diff(const BhTunnelSet *old_set, const BhTunnelSet *new_set, BhTunnelDiff *ret) {
        g_return_if_fail(ret);

        *ret = (BhTunnelDiff) {
                .added = g_ptr_array_new(),
                .changed = g_ptr_array_new(),
                .removed = g_ptr_array_new(),
                .unchanged = g_ptr_array_new(),
        };

        for (guint i = 0; i < bh_tunnel_set_size(new_set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(new_set, i);
                const BhTunnel *old = bh_tunnel_set_find(old_set, t->name);

                if (!old)
                        g_ptr_array_add(ret->added, (gpointer) t);
                else if (bh_tunnel_equal(old, t))
                        g_ptr_array_add(ret->unchanged, (gpointer) t);
                else
                        g_ptr_array_add(ret->changed, (gpointer) t);
        }
        for (guint i = 0; i < bh_tunnel_set_size(old_set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(old_set, i);

                if (!bh_tunnel_set_find(new_set, t->name))
                        g_ptr_array_add(ret->removed, (gpointer) t);
        }
}

void bh_tunnel_diff_clear(BhTunnelDiff *diff) {
        if (!diff)
                return;
        g_clear_pointer(&diff->added, g_ptr_array_unref);
        g_clear_pointer(&diff->changed, g_ptr_array_unref);
        g_clear_pointer(&diff->removed, g_ptr_array_unref);
        g_clear_pointer(&diff->unchanged, g_ptr_array_unref);
}
