/* SPDX-License-Identifier: ISC */
/* ike-steps: cryptod's IKE SA handles over the bus, as isakmpd holds them,
 * against a suite that runs without isakmpd (tests/crypto/ike-steps.sh
 * starts it, and this program as isakmpd's user, which then owns
 * org.bulkhead.Isakmpd).
 *
 *   ike-steps --bus ADDRESS
 *
 * Two handles play the two ends of one IKE SA: the initiator's (IkeNew,
 * IkeDerive, IkeAuth, IkeVerify child) and the responder's (IkeNewDerive,
 * IkeVerify auth-child), each verifying the other's AUTH, and both CHILD
 * SAs go into filterd. Around them, every refusal of the per-handle state
 * machine through the calls that run several steps: a peer value refused
 * leaves no handle; a wrong AUTH is AuthenticationFailed, spends the
 * verification and installs nothing; our AUTH or the CHILD SA out of order
 * (the responder asking for "child", the initiator for "auth-child", a
 * handle not derived) is InvalidState after the step before it ran; a
 * call refused for its arguments spends nothing; a CHILD SA that filterd
 * refuses half leaves none behind. filterd's SAs property and cryptod's
 * Handles property are read after each call.
 *
 * Exits 0 when every check passed, 1 otherwise, 2 on a usage error. */
#include <dbus/dbus.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

#define CALL_MS 5000
#define CRYPTO_NAME "org.bulkhead.Crypto"
#define CRYPTO_PATH "/org/bulkhead/Crypto"
#define CRYPTO_IFACE "org.bulkhead.Crypto1"
#define SA_SIG "(sssuqqqbbssss)"

/* X25519, AES-GCM-16 with 256-bit keys, PRF_HMAC_SHA2_256 (IANA numbers). */
static const dbus_uint16_t suite[5] = { 20, 256, 5, 0, 31 };
static const dbus_uint16_t suite_unknown[5] = { 20, 256, 5, 0, 99 };

static DBusConnection *bus;
static int failures, checks;

static void G_GNUC_PRINTF(1, 2) fail(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("ike-steps: FAIL: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        failures++;
}

static void G_GNUC_PRINTF(1, 2) ok(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fputs("ike-steps: ok: ", stdout);
        vfprintf(stdout, format, ap);
        fputc('\n', stdout);
        va_end(ap);
}

/* ------------------------------------------------------------ messages */

static DBusMessage *method(const char *member) {
        return dbus_message_new_method_call(CRYPTO_NAME, CRYPTO_PATH, CRYPTO_IFACE, member);
}

static void append_bytes(DBusMessageIter *it, GBytes *b) {
        DBusMessageIter arr;
        gsize len = 0;
        const uint8_t *p = b ? g_bytes_get_data(b, &len) : NULL;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &arr);
        dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &p, (int) len);
        dbus_message_iter_close_container(it, &arr);
}

static GBytes *read_bytes(DBusMessageIter *it) {
        DBusMessageIter arr;
        const uint8_t *p = NULL;
        int n = 0;
        dbus_message_iter_recurse(it, &arr);
        dbus_message_iter_get_fixed_array(&arr, &p, &n);
        dbus_message_iter_next(it);
        return g_bytes_new(p, (gsize) n);
}

static void append_suite(DBusMessageIter *it, const dbus_uint16_t *v) {
        DBusMessageIter st;
        dbus_message_iter_open_container(it, DBUS_TYPE_STRUCT, NULL, &st);
        for (int i = 0; i < 5; i++)
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &v[i]);
        dbus_message_iter_close_container(it, &st);
}

/* The call's answer; NULL for an error, its name and message in *ret_name
 * and *ret_message (freed by the caller). Takes M. */
static DBusMessage *call(DBusMessage *m, char **ret_name, char **ret_message) {
        DBusError err;
        dbus_error_init(&err);
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(bus, m, CALL_MS, &err);
        dbus_message_unref(m);
        *ret_name = dbus_error_is_set(&err) ? g_strdup(err.name) : NULL;
        *ret_message = dbus_error_is_set(&err) ? g_strdup(err.message) : NULL;
        dbus_error_free(&err);
        return reply;
}

/* The call fails with error NAME and a message that contains WORDS. */
static void expect_error(const char *what, DBusMessage *m, const char *name, const char *words) {
        g_autofree char *got_name = NULL, *got_message = NULL;
        DBusMessage *reply = call(m, &got_name, &got_message);
        checks++;
        if (reply) {
                fail("%s: answered, expected %s", what, name);
                dbus_message_unref(reply);
        } else if (strcmp(got_name, name) != 0 || !strstr(got_message, words))
                fail("%s: %s \"%s\", expected %s \"...%s...\"", what, got_name, got_message, name, words);
        else
                ok("%s: %s \"%s\"", what, got_name, got_message);
}

/* The call succeeds; its answer (unref'd by the caller). */
static DBusMessage *expect_reply(const char *what, DBusMessage *m) {
        g_autofree char *name = NULL, *message = NULL;
        DBusMessage *reply = call(m, &name, &message);
        checks++;
        if (!reply)
                fail("%s: %s \"%s\"", what, name, message);
        return reply;
}

static dbus_uint32_t get_u(const char *service, const char *path, const char *iface, const char *prop) {
        DBusMessage *m = dbus_message_new_method_call(service, path, DBUS_INTERFACE_PROPERTIES, "Get");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop, DBUS_TYPE_INVALID);
        g_autofree char *name = NULL, *message = NULL;
        DBusMessage *reply = call(m, &name, &message);
        dbus_uint32_t v = UINT32_MAX;
        DBusMessageIter it, var;
        if (reply && dbus_message_iter_init(reply, &it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
                dbus_message_iter_recurse(&it, &var);
                if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_UINT32)
                        dbus_message_iter_get_basic(&var, &v);
        } else
                fail("%s.%s: %s", iface, prop, message ? message : "not a u");
        if (reply)
                dbus_message_unref(reply);
        return v;
}

static dbus_uint32_t filterd_sas(void) {
        return get_u("org.bulkhead.Filter", "/org/bulkhead/Filter", "org.bulkhead.Filter1", "SAs");
}

static dbus_uint32_t handles(void) {
        return get_u(CRYPTO_NAME, CRYPTO_PATH, CRYPTO_IFACE, "Handles");
}

/* filterd holds WANT SAs, within 3 s (a CHILD SA taken back goes with
 * calls whose answers nobody waits for). */
static void expect_sas(const char *what, dbus_uint32_t want) {
        dbus_uint32_t got = filterd_sas();
        for (int i = 0; i < 60 && got != want; i++) {
                g_usleep(50 * 1000);
                got = filterd_sas();
        }
        checks++;
        if (got != want)
                fail("%s: filterd holds %u SAs, expected %u", what, got, want);
        else
                ok("%s: filterd holds %u SAs", what, got);
}

static void expect_handles(const char *what, dbus_uint32_t want) {
        dbus_uint32_t got = handles();
        checks++;
        if (got != want)
                fail("%s: cryptod has %u handles, expected %u", what, got, want);
}

/* ------------------------------------------------------------ the two ends */

/* One end: its handle, tunnel, KE value, nonce and IKE_SA_INIT message. */
typedef struct End {
        dbus_uint64_t handle;
        const char *tunnel;
        GBytes *ke, *nonce, *init, *id;
        uint32_t spi_in;        /* its CHILD SA's inbound SPI */
} End;

typedef struct Pair {
        End i, r;
        dbus_uint64_t spi_i, spi_r;
        GBytes *auth_i;         /* the initiator's AUTH (IkeAuth) */
} Pair;

static void end_clear(End *e) {
        g_clear_pointer(&e->ke, g_bytes_unref);
        g_clear_pointer(&e->nonce, g_bytes_unref);
        g_clear_pointer(&e->init, g_bytes_unref);
        g_clear_pointer(&e->id, g_bytes_unref);
}

static void pair_clear(Pair *p) {
        end_clear(&p->i);
        end_clear(&p->r);
        g_clear_pointer(&p->auth_i, g_bytes_unref);
}

/* What cryptod checks an IKE_SA_INIT message for: the IKE header with SPIi
 * first, and the sender's KE value and nonce somewhere in it. */
static GBytes *init_message(const Pair *p, const End *e) {
        GByteArray *m = g_byte_array_new();
        uint8_t hdr[28] = { 0 };
        for (int k = 0; k < 8; k++) {
                hdr[k] = (uint8_t) (p->spi_i >> (56 - 8 * k));
                hdr[8 + k] = (uint8_t) (p->spi_r >> (56 - 8 * k));
        }
        hdr[17] = 0x20;
        hdr[18] = 34;   /* IKE_SA_INIT */
        g_byte_array_append(m, hdr, sizeof hdr);
        g_byte_array_append(m, g_bytes_get_data(e->ke, NULL), (guint) g_bytes_get_size(e->ke));
        g_byte_array_append(m, g_bytes_get_data(e->nonce, NULL), (guint) g_bytes_get_size(e->nonce));
        return g_byte_array_free_to_bytes(m);
}

static GBytes *id_fqdn(const char *name) {
        GByteArray *m = g_byte_array_new();
        const uint8_t head[4] = { 2, 0, 0, 0 }; /* ID_FQDN */
        g_byte_array_append(m, head, 4);
        g_byte_array_append(m, (const uint8_t *) name, (guint) strlen(name));
        return g_byte_array_free_to_bytes(m);
}

static void read_handle(DBusMessage *reply, End *e) {
        DBusMessageIter it;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_get_basic(&it, &e->handle);
        dbus_message_iter_next(&it);
        e->ke = read_bytes(&it);
        e->nonce = read_bytes(&it);
        dbus_message_unref(reply);
}

static DBusMessage *ike_new(const char *tunnel) {
        DBusMessage *m = method("IkeNew");
        dbus_uint16_t group = suite[4];
        dbus_message_append_args(m, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_UINT16, &group, DBUS_TYPE_INVALID);
        return m;
}

/* IkeNewDerive (HANDLE 0) or IkeDerive of HANDLE with the peer's values. */
static DBusMessage *derive(dbus_uint64_t handle, const char *tunnel, GBytes *ke, GBytes *nonce, const Pair *p,
                           const dbus_uint16_t *s) {
        DBusMessage *m = method(handle ? "IkeDerive" : "IkeNewDerive");
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        if (handle)
                dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &handle);
        else
                dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &tunnel);
        append_bytes(&it, ke);
        append_bytes(&it, nonce);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &p->spi_i);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &p->spi_r);
        append_suite(&it, s);
        return m;
}

/* The CHILD SA of END (out, then in); REMOTE_IN: the inbound SA's remote
 * address (a bad one makes filterd refuse that SA). */
static void append_sas(DBusMessageIter *it, const End *e, uint32_t spi_out, const char *remote_in) {
        DBusMessageIter arr, st;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, SA_SIG, &arr);
        for (int k = 0; k < 2; k++) {
                const char *dir = k == 0 ? "out" : "in", *proto = "esp", *mode = "tunnel", *encap = "udp";
                const char *local = "192.0.2.1", *remote = k == 1 && remote_in ? remote_in : "192.0.2.2";
                dbus_uint32_t spi = k == 0 ? spi_out : e->spi_in;
                dbus_uint16_t encr = 20, bits = 256, integ = 0;
                dbus_bool_t esn = FALSE, replay = TRUE;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &e->tunnel);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &dir);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &proto);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &spi);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &encr);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &bits);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &integ);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &esn);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &replay);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &mode);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &encap);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &local);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &remote);
                dbus_message_iter_close_container(&arr, &st);
                if (k == 0 && spi_out == 0)
                        break;  /* one SA only: a CHILD SA of the wrong shape */
        }
        dbus_message_iter_close_container(it, &arr);
}

typedef struct Verify {
        const char *then;
        GBytes *peer_init, *peer_id, *peer_auth;
        GBytes *our_init, *our_id;      /* NULL: empty */
        bool sas;                       /* the CHILD SA of the handle's end */
        uint32_t spi_out;               /* 0: a CHILD SA of one SA */
        const char *remote_in;
} Verify;

static DBusMessage *verify(const End *e, const Verify *v) {
        DBusMessage *m = method("IkeVerify");
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &e->handle);
        append_bytes(&it, v->peer_init);
        append_bytes(&it, v->peer_id);
        append_bytes(&it, v->peer_auth);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &v->then);
        append_bytes(&it, v->our_init);
        append_bytes(&it, v->our_id);
        if (v->sas)
                append_sas(&it, e, v->spi_out, v->remote_in);
        else {
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, SA_SIG, &arr);
                dbus_message_iter_close_container(&it, &arr);
        }
        return m;
}

/* The responder's IkeVerify auth-child as isakmpd makes it. */
static Verify responder_verify(const Pair *p) {
        return (Verify){ .then = "auth-child", .peer_init = p->i.init, .peer_id = p->i.id, .peer_auth = p->auth_i,
                         .our_init = p->r.init, .our_id = p->r.id, .sas = true, .spi_out = p->i.spi_in };
}

static GBytes *ike_auth(const End *e) {
        DBusMessage *m = method("IkeAuth");
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &e->handle);
        append_bytes(&it, e->init);
        append_bytes(&it, e->id);
        DBusMessage *reply = expect_reply("IkeAuth of the initiator", m);
        if (!reply)
                return g_bytes_new(NULL, 0);
        dbus_message_iter_init(reply, &it);
        GBytes *auth = read_bytes(&it);
        dbus_message_unref(reply);
        return auth;
}

static void ike_free(dbus_uint64_t handle) {
        DBusMessage *m = method("IkeFree");
        dbus_message_append_args(m, DBUS_TYPE_UINT64, &handle, DBUS_TYPE_INVALID);
        DBusMessage *reply = expect_reply("IkeFree", m);
        if (reply)
                dbus_message_unref(reply);
}

static unsigned n_pairs;

/* Both ends of a new IKE SA with their keys, and the initiator's AUTH. */
static bool pair_make(Pair *p) {
        *p = (Pair){ .i.tunnel = "ini", .r.tunnel = "res" };
        n_pairs++;
        p->spi_i = UINT64_C(0x1100000000000000) + n_pairs;
        p->spi_r = UINT64_C(0x2200000000000000) + n_pairs;
        p->i.spi_in = 0x10000000 + n_pairs;
        p->r.spi_in = 0x20000000 + n_pairs;
        p->i.id = id_fqdn("ini.test");
        p->r.id = id_fqdn("res.test");
        DBusMessage *reply = expect_reply("IkeNew", ike_new(p->i.tunnel));
        if (!reply)
                return false;
        read_handle(reply, &p->i);
        reply = expect_reply("IkeNewDerive", derive(0, p->r.tunnel, p->i.ke, p->i.nonce, p, suite));
        if (!reply)
                return false;
        read_handle(reply, &p->r);
        reply = expect_reply("IkeDerive", derive(p->i.handle, NULL, p->r.ke, p->r.nonce, p, suite));
        if (!reply)
                return false;
        dbus_message_unref(reply);
        p->i.init = init_message(p, &p->i);
        p->r.init = init_message(p, &p->r);
        p->auth_i = ike_auth(&p->i);
        return g_bytes_get_size(p->auth_i) > 0;
}

/* pair_make, or false (said) and nothing to free. */
static bool pair_start(Pair *p) {
        if (pair_make(p))
                return true;
        fail("no IKE SA to work on");
        pair_clear(p);
        return false;
}

/* Both handles freed (and their CHILD SAs with them). */
static void pair_end(Pair *p) {
        ike_free(p->i.handle);
        ike_free(p->r.handle);
        pair_clear(p);
}

/* ------------------------------------------------------------ the checks */

/* IkeNewDerive: a handle only when the keys are made. */
static void new_derive_refusals(void) {
        Pair p = { .spi_i = 1, .spi_r = 2 };
        GBytes *zero = g_bytes_new_take(g_malloc0(32), 32), *nonce = g_bytes_new_take(g_malloc0(32), 32);
        dbus_uint32_t before = handles();
        expect_error("IkeNewDerive with a KE value of zeros", derive(0, "res", zero, nonce, &p, suite),
                     DBUS_ERROR_INVALID_ARGS, "key derivation: ");
        expect_error("IkeNewDerive of a group not implemented", derive(0, "res", zero, nonce, &p, suite_unknown),
                     BH_ERROR_NOT_SUPPORTED, "not implemented");
        expect_error("IkeNewDerive for a tunnel without a pre-shared key", derive(0, "nokey", zero, nonce, &p, suite),
                     BH_ERROR_NOT_FOUND, "no pre-shared key for tunnel nokey");
        expect_handles("refused IkeNewDerive calls left no handle", before);
        g_bytes_unref(zero);
        g_bytes_unref(nonce);
}

/* The way isakmpd goes: both ends authenticated, both CHILD SAs in. */
static void exchange(void) {
        Pair p;
        dbus_uint32_t sas = filterd_sas();
        if (!pair_start(&p))
                return;
        expect_error("IkeDerive of the responder's handle", derive(p.r.handle, NULL, p.i.ke, p.i.nonce, &p, suite),
                     BH_ERROR_INVALID_STATE, "key derivation: already done for this SA");

        /* Refused for their arguments: no step spent (the right call
         * below still succeeds). */
        Verify v = responder_verify(&p);
        v.spi_out = 0;
        expect_error("IkeVerify auth-child with one SA", verify(&p.r, &v), DBUS_ERROR_INVALID_ARGS,
                     "a CHILD SA is two SAs");
        v = responder_verify(&p);
        v.then = "sideways";
        expect_error("IkeVerify with an unknown THEN", verify(&p.r, &v), DBUS_ERROR_INVALID_ARGS, "\"sideways\"");
        v = responder_verify(&p);
        v.then = "child";
        expect_error("IkeVerify child with our message", verify(&p.r, &v), DBUS_ERROR_INVALID_ARGS,
                     "auth-child only");
        v = responder_verify(&p);
        v.then = "none";
        v.our_init = v.our_id = NULL;
        expect_error("IkeVerify none with SAs", verify(&p.r, &v), DBUS_ERROR_INVALID_ARGS,
                     "SAs go with child or auth-child only");
        expect_sas("after the refusals for arguments", sas);

        v = responder_verify(&p);
        DBusMessage *reply = expect_reply("IkeVerify auth-child of the responder", verify(&p.r, &v));
        GBytes *auth_r = NULL;
        if (reply) {
                DBusMessageIter it;
                dbus_message_iter_init(reply, &it);
                auth_r = read_bytes(&it);
                dbus_message_unref(reply);
                checks++;
                if (g_bytes_get_size(auth_r) != 32)
                        fail("the responder's AUTH is %zu octets, not 32", g_bytes_get_size(auth_r));
                else
                        ok("IkeVerify auth-child: the initiator's AUTH verified, ours made, the CHILD SA in");
        }
        expect_sas("the responder's CHILD SA", sas + 2);
        expect_error("IkeVerify auth-child a second time", verify(&p.r, &v), BH_ERROR_INVALID_STATE,
                     "verifying the peer's AUTH: already done for this SA");
        DBusMessage *m = method("IkeAuth");
        dbus_message_append_args(m, DBUS_TYPE_UINT64, &p.r.handle, DBUS_TYPE_INVALID);
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        append_bytes(&it, p.r.init);
        append_bytes(&it, p.r.id);
        expect_error("IkeAuth of the responder after auth-child", m, BH_ERROR_INVALID_STATE,
                     "AUTH: already done for this SA");

        /* The initiator checks the responder's AUTH, then its CHILD SA. */
        Verify vi = { .then = "child", .peer_init = p.r.init, .peer_id = p.r.id, .peer_auth = auth_r, .sas = true,
                      .spi_out = p.r.spi_in };
        reply = expect_reply("IkeVerify child of the initiator", verify(&p.i, &vi));
        if (reply) {
                dbus_message_iter_init(reply, &it);
                g_autoptr(GBytes) none = read_bytes(&it);
                dbus_message_unref(reply);
                checks++;
                if (g_bytes_get_size(none) != 0)
                        fail("IkeVerify child answered %zu octets of AUTH", g_bytes_get_size(none));
                else
                        ok("IkeVerify child: the responder's AUTH verified, the CHILD SA in");
        }
        expect_sas("both CHILD SAs", sas + 4);
        expect_error("IkeVerify child a second time", verify(&p.i, &vi), BH_ERROR_INVALID_STATE,
                     "verifying the peer's AUTH: already done for this SA");
        expect_sas("after the second IkeVerify child", sas + 4);

        ike_free(p.i.handle);
        ike_free(p.r.handle);
        expect_sas("IkeFree took both CHILD SAs out", sas);
        if (auth_r)
                g_bytes_unref(auth_r);
        pair_clear(&p);
}

/* A wrong AUTH: AuthenticationFailed, nothing more, and once only. */
static void wrong_auth(void) {
        Pair p;
        dbus_uint32_t sas = filterd_sas();
        if (!pair_start(&p))
                return;
        gsize n = 0;
        const void *good = g_bytes_get_data(p.auth_i, &n);
        uint8_t *bad = g_memdup2(good, n);
        bad[0] ^= 1;
        g_autoptr(GBytes) bad_auth = g_bytes_new_take(bad, n);
        Verify v = responder_verify(&p);
        v.peer_auth = bad_auth;
        expect_error("IkeVerify auth-child with a wrong AUTH", verify(&p.r, &v), BH_ERROR_AUTH_FAILED,
                     "verifying the peer's AUTH: the peer's AUTH does not match the pre-shared key");
        expect_sas("after a wrong AUTH", sas);
        v = responder_verify(&p);
        expect_error("IkeVerify auth-child with the right AUTH after a wrong one", verify(&p.r, &v),
                     BH_ERROR_INVALID_STATE, "verifying the peer's AUTH: already done for this SA");
        expect_sas("after the second try", sas);
        pair_end(&p);
}

/* Our AUTH and the CHILD SA only in their order. */
static void out_of_order(void) {
        Pair p;
        dbus_uint32_t sas = filterd_sas();
        if (!pair_start(&p))
                return;
        /* The responder has not signed: no CHILD SA, once its peer's AUTH
         * verified. */
        Verify v = responder_verify(&p);
        v.then = "child";
        v.our_init = v.our_id = NULL;
        expect_error("IkeVerify child of the responder (our AUTH not made)", verify(&p.r, &v), BH_ERROR_INVALID_STATE,
                     "the first CHILD SA: not allowed in this state of the SA");
        expect_sas("after the CHILD SA before our AUTH", sas);
        pair_end(&p);

        /* The initiator, with the responder's real AUTH: the verification
         * passes, our AUTH a second time is refused, no CHILD SA. */
        if (!pair_start(&p))
                return;
        /* The responder's AUTH, as the initiator would get it. */
        DBusMessage *m = method("IkeAuth");
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &p.r.handle);
        append_bytes(&it, p.r.init);
        append_bytes(&it, p.r.id);
        DBusMessage *reply = expect_reply("IkeAuth of the responder", m);
        g_autoptr(GBytes) auth_r = NULL;
        if (reply) {
                dbus_message_iter_init(reply, &it);
                auth_r = read_bytes(&it);
                dbus_message_unref(reply);
        }
        Verify vi = { .then = "auth-child", .peer_init = p.r.init, .peer_id = p.r.id, .peer_auth = auth_r,
                      .our_init = p.i.init, .our_id = p.i.id, .sas = true, .spi_out = p.r.spi_in };
        expect_error("IkeVerify auth-child of the initiator", verify(&p.i, &vi), BH_ERROR_INVALID_STATE,
                     "AUTH: already done for this SA");
        expect_sas("after our AUTH twice", sas);
        /* The verification was spent by that call. */
        vi.then = "child";
        vi.our_init = vi.our_id = NULL;
        expect_error("IkeVerify child of the initiator after it", verify(&p.i, &vi), BH_ERROR_INVALID_STATE,
                     "verifying the peer's AUTH: already done for this SA");
        expect_sas("no CHILD SA", sas);
        pair_end(&p);

        /* A handle not derived yet: nothing to verify with. */
        reply = expect_reply("IkeNew", ike_new("ini"));
        if (reply) {
                End e = { .tunnel = "ini", .spi_in = 0x30000001 };
                read_handle(reply, &e);
                Verify vn = { .then = "child", .peer_init = e.ke, .peer_id = e.nonce, .peer_auth = e.nonce,
                              .sas = true, .spi_out = 0x30000002 };
                expect_error("IkeVerify child before the derivation", verify(&e, &vn), BH_ERROR_INVALID_STATE,
                             "verifying the peer's AUTH: not allowed in this state of the SA");
                expect_sas("no CHILD SA before the derivation", sas);
                ike_free(e.handle);
                end_clear(&e);
        }
}

/* filterd refuses the inbound SA: the outbound one that went in comes out
 * again, and the AUTH is not answered. */
static void filterd_refuses(void) {
        Pair p;
        dbus_uint32_t sas = filterd_sas();
        if (!pair_start(&p))
                return;
        Verify v = responder_verify(&p);
        v.remote_in = "not-an-address";
        g_autofree char *name = NULL, *message = NULL;
        DBusMessage *reply = call(verify(&p.r, &v), &name, &message);
        checks++;
        if (reply) {
                fail("IkeVerify auth-child with an SA filterd refuses: answered");
                dbus_message_unref(reply);
        } else if (!g_str_has_prefix(message, "filterd: "))
                fail("IkeVerify auth-child with an SA filterd refuses: %s \"%s\"", name, message);
        else
                ok("IkeVerify auth-child with an SA filterd refuses: %s \"%s\"", name, message);
        expect_sas("after a CHILD SA filterd refused half", sas);
        pair_end(&p);
}

/* ------------------------------------------------------------ main */

static void own_isakmpd_name(void) {
        DBusError err;
        dbus_error_init(&err);
        int r = dbus_bus_request_name(bus, "org.bulkhead.Isakmpd", DBUS_NAME_FLAG_DO_NOT_QUEUE, &err);
        if (r != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
                fprintf(stderr, "ike-steps: cannot own org.bulkhead.Isakmpd: %s\n",
                        dbus_error_is_set(&err) ? err.message : "another owner");
                exit(1);
        }
}

int main(int argc, char **argv) {
        if (argc != 3 || strcmp(argv[1], "--bus") != 0) {
                fprintf(stderr, "usage: ike-steps --bus ADDRESS\n");
                return 2;
        }
        DBusError err;
        dbus_error_init(&err);
        bus = dbus_connection_open_private(argv[2], &err);
        if (!bus || !dbus_bus_register(bus, &err)) {
                fprintf(stderr, "ike-steps: %s: %s\n", argv[2], err.message);
                return 1;
        }
        own_isakmpd_name();
        dbus_uint32_t h0 = handles(), sas0 = filterd_sas();
        new_derive_refusals();
        exchange();
        wrong_auth();
        out_of_order();
        filterd_refuses();
        expect_handles("every handle freed", h0);
        expect_sas("every CHILD SA gone", sas0);
        dbus_connection_close(bus);
        dbus_connection_unref(bus);
        if (failures) {
                fprintf(stderr, "ike-steps: %d of %d checks failed\n", failures, checks);
                return 1;
        }
        printf("ike-steps: all %d checks passed\n", checks);
        return 0;
}
