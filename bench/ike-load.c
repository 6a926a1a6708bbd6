/* SPDX-License-Identifier: ISC */
/*
 * ike-load: an IKEv2 load generator, like strongSwan's load-tester. One
 * process opens --count IKE SAs, each with one CHILD SA, against one
 * responder, --window of them in flight at once, from one epoll loop:
 *
 *   IKE_SA_INIT  SA (the --ike proposal), KE, Ni, N(NAT_DETECTION_*)
 *   IKE_AUTH     IDi, IDr, AUTH (PSK), SA (the --esp proposal, 4-octet SPI),
 *                TSi, TSr; from UDP 4500 when NAT detection says so
 *
 * IKE SA number i (0-based) comes from the address --src-base + i, calls
 * itself fqdn:PREFIX<i, --name-digits wide>SUFFIX and asks for the CHILD SA
 * (--ts-base + i)/32 === --ts-remote/32. The sources must be local addresses
 * of the generator's namespace (`ip route add local 198.18.0.0/15 dev lo`):
 * one socket on port 500 and one on 4500 send from each with IP_PKTINFO.
 *
 * Messages are built and parsed with isakmpd's own message layer
 * (services/isakmpd/msg.c); the keys are computed in-process with the IKE SA
 * key state of cryptod (crypto/ike-sa.c). This is a test tool: the keys live
 * in this process, which cryptod exists to prevent in the suite itself.
 *
 * While it runs, a second thread samples:
 *   - the memory of every process of the trees given with --watch PID (the
 *     process and all its descendants): Rss from statm every --sample-ms,
 *     Pss from smaps_rollup every --pss-ms and once more at the end (reading
 *     smaps_rollup walks every mapping of the process under its mmap lock);
 *   - with --routes-netns and --routes-dev, the IPv4 unicast routes (of any
 *     table) that leave by that device in that network namespace, counted
 *     from the kernel's route notifications as they come: the responder's
 *     tunnels that are up as far as routing goes.
 * Around the run it takes the CPU time of every watched process from
 * /proc/PID/stat. After the last IKE SA it waits (at most --settle-limit s)
 * until the routes of all the completed tunnels are in.
 *
 * Prints progress to stderr and one line of JSON to stdout. Exit status 0
 * when every IKE SA came up, 1 when some failed, 2 on a usage or set-up error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ike-sa.h"
#include "msg.h"
#include "proposal.h"
#include "secmem.h"

#define IKE_PORT 500
#define NATT_PORT 4500
#define NONESP_MARKER_LEN 4
#define MSG_BUF 4096
#define WATCH_MAX 8

/* ------------------------------------------------------------ options */

typedef struct Options {
        struct in_addr responder;
        struct in_addr src_base;
        struct in_addr ts_base;
        struct in_addr ts_remote;
        unsigned count;
        unsigned window;
        const char *name_prefix;
        unsigned name_digits;
        const char *id_suffix;
        const char *idr;                /* "fqdn:NAME", "ipv4:ADDR" or NULL (no IDr) */
        const char *psk_file;
        const char *ike;
        const char *esp;
        unsigned retransmit_ms;
        unsigned retries;
        unsigned limit_s;
        pid_t watch[WATCH_MAX];
        size_t n_watch;
        unsigned sample_ms;
        unsigned pss_ms;
        const char *routes_netns;
        const char *routes_dev;
        unsigned settle_limit_s;
        unsigned progress_ms;
} Options;

static Options opt = {
        .count = 1000,
        .window = 64,
        .name_prefix = "l",
        .name_digits = 5,
        .id_suffix = ".load",
        .ike = "aes256gcm16-prfsha256-x25519",
        .esp = "aes256gcm16",
        .retransmit_ms = 2000,
        .retries = 3,
        .limit_s = 600,
        .sample_ms = 100,
        .pss_ms = 1000,
        .settle_limit_s = 120,
        .progress_ms = 1000,
};

static void usage(FILE *f) {
        fputs("Usage: ike-load --responder ADDR --psk-file FILE [OPTION...]\n"
              "An IKEv2 initiator of many IKE SAs at once (PSK), for bench/ike-rate.sh.\n\n"
              "  --responder ADDR      the responder's IPv4 address (UDP 500, 4500)\n"
              "  --psk-file FILE       the pre-shared key: the file's first line\n"
              "  --count N             IKE SAs to open (default 1000)\n"
              "  --window W            IKE SAs in flight at once (default 64)\n"
              "  --src-base ADDR       IKE SA i comes from ADDR + i (default 198.18.0.1)\n"
              "  --ts-base ADDR        IKE SA i asks for TSi (ADDR + i)/32 (default 10.128.0.1)\n"
              "  --ts-remote ADDR      and TSr ADDR/32 (default 10.1.0.1)\n"
              "  --name-prefix P       IDi of IKE SA i: fqdn:P<i>SUFFIX (default l)\n"
              "  --name-digits D       <i> zero-padded to D digits (default 5)\n"
              "  --id-suffix SUFFIX    (default .load)\n"
              "  --idr fqdn:NAME|ipv4:ADDR|none   the IDr sent (default none)\n"
              "  --ike PROPOSAL        (default aes256gcm16-prfsha256-x25519)\n"
              "  --esp PROPOSAL        (default aes256gcm16)\n"
              "  --retransmit-ms MS    a request unanswered for MS is sent again (default 2000)\n"
              "  --retries R           at most R times (default 3), then the IKE SA fails\n"
              "  --limit S             stop after S seconds whatever happens (default 600)\n"
              "  --watch PID           sample this process and its descendants (repeatable)\n"
              "  --sample-ms MS        sampling period of Rss (statm; default 100)\n"
              "  --pss-ms MS           sampling period of Pss (smaps_rollup; default 1000)\n"
              "  --routes-netns PATH   count the routes by --routes-dev in this namespace\n"
              "  --routes-dev NAME\n"
              "  --settle-limit S      wait at most S s for the routes after the last IKE SA\n"
              "                        (default 120)\n"
              "  --progress-ms MS      a progress line on stderr every MS (default 1000)\n"
              "  --help\n",
              f);
}

/* ------------------------------------------------------------ time */

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static double secs(uint64_t ns) {
        return (double) ns / 1e9;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        (void) sig;
        interrupted = 1;
}

/* ------------------------------------------------------------ failures */

/* Failures counted by cause, as the JSON reports them. */
typedef struct Cause {
        char text[120];
        unsigned n;
} Cause;

static GArray *causes;

static void cause_add(const char *text) {
        for (guint i = 0; i < causes->len; i++) {
                Cause *c = &g_array_index(causes, Cause, i);
                if (strcmp(c->text, text) == 0) {
                        c->n++;
                        return;
                }
        }
        Cause c = { .n = 1 };
        g_strlcpy(c.text, text, sizeof c.text);
        g_array_append_val(causes, c);
}

/* ------------------------------------------------------------ the IKE SAs */

typedef enum State {
        ST_IDLE,
        ST_INIT_SENT,
        ST_AUTH_SENT,
        ST_DONE,
        ST_FAILED,
} State;

typedef struct Sa {
        uint32_t index;
        State state;
        uint64_t spi_i, spi_r;
        struct in_addr src;
        BhIkeSa *keys;
        uint8_t *our_init;              /* our IKE_SA_INIT as sent (AUTH signs it) */
        size_t our_init_len;
        uint8_t *peer_init;             /* the responder's (AUTH verifies it) */
        size_t peer_init_len;
        uint8_t *req;                   /* the request in flight, for retransmissions */
        size_t req_len;
        bool natt;                      /* IKE_AUTH from and to UDP 4500 */
        uint8_t cookie[IKE_COOKIE_MAX];
        size_t cookie_len;
        unsigned retransmits;
        uint64_t t_start, t_sent, t_init_rtt, t_done;
        int slot;                       /* in the in-flight table, -1 when not */
} Sa;

static Sa *sas;
static Sa **inflight;
static unsigned n_inflight;
static unsigned next_index, n_done, n_failed, n_resolved;
static unsigned total_retransmits, total_cookies, n_nat, n_stray;
static uint64_t t_first_send, t_last_resolved;
static int fd500 = -1, fd4500 = -1;
static BhSecret *psk;
static BhProposal ike_prop, esp_prop;
static BhIkeSuite suite;
static uint16_t dh_group;
static GArray *latencies_us, *init_rtts_us, *auth_rtts_us;

static void sa_release(Sa *sa) {
        bh_ike_sa_free(sa->keys);
        sa->keys = NULL;
        g_clear_pointer(&sa->our_init, g_free);
        g_clear_pointer(&sa->peer_init, g_free);
        g_clear_pointer(&sa->req, g_free);
        if (sa->slot >= 0) {
                Sa *last = inflight[--n_inflight];
                inflight[sa->slot] = last;
                last->slot = sa->slot;
                sa->slot = -1;
        }
}

static void sa_resolved(Sa *sa) {
        n_resolved++;
        t_last_resolved = now_ns();
        sa_release(sa);
}

static void sa_fail(Sa *sa, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void sa_fail(Sa *sa, const char *format, ...) {
        if (sa->state == ST_DONE || sa->state == ST_FAILED)
                return;
        char buf[120];
        va_list ap;
        va_start(ap, format);
        vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);
        cause_add(buf);
        sa->state = ST_FAILED;
        n_failed++;
        sa_resolved(sa);
}

static void sa_done(Sa *sa) {
        sa->state = ST_DONE;
        sa->t_done = now_ns();
        uint32_t us = (uint32_t) ((sa->t_done - sa->t_start) / 1000);
        g_array_append_val(latencies_us, us);
        n_done++;
        sa_resolved(sa);
}

/* ------------------------------------------------------------ sending */

static void send_from(int fd, struct in_addr src, uint16_t dport, const uint8_t *msg, size_t len, bool marker) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(dport), .sin_addr = opt.responder };
        static const uint8_t zero[NONESP_MARKER_LEN];
        struct iovec iov[2];
        int n = 0;
        if (marker)
                iov[n++] = (struct iovec){ (void *) zero, sizeof zero };
        iov[n++] = (struct iovec){ (void *) msg, len };
        union {
                char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
                struct cmsghdr align;
        } control;
        memset(&control, 0, sizeof control);
        struct msghdr mh = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = iov, .msg_iovlen = (size_t) n,
                             .msg_control = control.buf, .msg_controllen = sizeof control.buf };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = { .ipi_spec_dst = src };
        memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        if (sendmsg(fd, &mh, 0) < 0) {
                static unsigned reported;
                if (reported++ < 5)
                        fprintf(stderr, "ike-load: sendmsg from %s: %s\n", inet_ntoa(src), strerror(errno));
        }
}

static void sa_send_request(Sa *sa) {
        sa->t_sent = now_ns();
        if (!t_first_send)
                t_first_send = sa->t_sent;
        if (sa->natt)
                send_from(fd4500, sa->src, NATT_PORT, sa->req, sa->req_len, true);
        else
                send_from(fd500, sa->src, IKE_PORT, sa->req, sa->req_len, false);
}

static void sa_set_request(Sa *sa, const uint8_t *msg, size_t len) {
        g_free(sa->req);
        sa->req = g_memdup2(msg, len);
        sa->req_len = len;
        sa->retransmits = 0;
        sa_send_request(sa);
}

/* SHA-1(SPIi | SPIr | address | port), RFC 7296 2.23. */
static void natd_hash(uint64_t spi_i, uint64_t spi_r, struct in_addr a, uint16_t port, uint8_t out[IKE_NATD_HASH_LEN]) {
        uint8_t buf[8 + 8 + 4 + 2];
        size_t n = 0;
        for (int i = 7; i >= 0; i--)
                buf[n++] = (uint8_t) (spi_i >> (8 * i));
        for (int i = 7; i >= 0; i--)
                buf[n++] = (uint8_t) (spi_r >> (8 * i));
        memcpy(buf + n, &a, 4);
        n += 4;
        buf[n++] = (uint8_t) (port >> 8);
        buf[n++] = (uint8_t) port;
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_Digest(buf, n, md, &len, EVP_sha1(), NULL);
        memcpy(out, md, IKE_NATD_HASH_LEN);
}

static void send_init(Sa *sa) {
        uint8_t buf[MSG_BUF];
        IkeBuilder b;
        IkeHeader h = { .spi_i = sa->spi_i, .major = 2, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
        const uint8_t *ke, *nonce;
        size_t ke_len, nonce_len;
        bh_ike_sa_public(sa->keys, &ke, &ke_len);
        bh_ike_sa_nonce(sa->keys, &nonce, &nonce_len);
        ike_builder_init(&b, buf, sizeof buf);
        ike_build_header(&b, &h);
        if (sa->cookie_len)
                ike_build_cookie(&b, sa->cookie, sa->cookie_len);
        ike_build_sa(&b, &ike_prop, 1, 1, NULL, 0);
        ike_build_ke(&b, dh_group, ke, ke_len);
        ike_build_nonce(&b, nonce, nonce_len);
        uint8_t hash[IKE_NATD_HASH_LEN];
        natd_hash(sa->spi_i, 0, sa->src, IKE_PORT, hash);
        ike_build_nat_detection(&b, false, hash);
        natd_hash(sa->spi_i, 0, opt.responder, IKE_PORT, hash);
        ike_build_nat_detection(&b, true, hash);
        size_t len;
        if (ike_build_finish(&b, &len) < 0) {
                sa_fail(sa, "cannot build IKE_SA_INIT");
                return;
        }
        g_free(sa->our_init);
        sa->our_init = g_memdup2(buf, len);
        sa->our_init_len = len;
        sa->state = ST_INIT_SENT;
        sa_set_request(sa, buf, len);
}

static void sa_start(Sa *sa) {
        sa->t_start = now_ns();
        uint32_t r;
        RAND_bytes((unsigned char *) &r, sizeof r);
        /* The low half says which IKE SA a response is for. */
        sa->spi_i = (uint64_t) (r | 1u) << 32 | (sa->index + 1u);
        sa->src.s_addr = htonl(ntohl(opt.src_base.s_addr) + sa->index);
        sa->slot = (int) n_inflight;
        inflight[n_inflight++] = sa;
        int e = bh_ike_sa_new(true, dh_group, &sa->keys);
        if (e < 0) {
                sa_fail(sa, "bh_ike_sa_new: %s", strerror(-e));
                return;
        }
        send_init(sa);
}

/* The ID payload body of our identity: ID Type, 3 reserved octets, data. */
static size_t idi_body(const Sa *sa, uint8_t *out, size_t size) {
        memset(out, 0, 4);
        out[0] = IKE_ID_FQDN;
        int n = snprintf((char *) out + 4, size - 4, "%s%0*u%s", opt.name_prefix, (int) opt.name_digits, sa->index,
                         opt.id_suffix);
        return 4 + (size_t) n;
}

static uint8_t idr_type;
static uint8_t idr_data[256];
static size_t idr_len;

static void send_auth(Sa *sa) {
        uint8_t plain[MSG_BUF], idi[4 + 128], auth[64];
        size_t idi_len = idi_body(sa, idi, sizeof idi), auth_len = sizeof auth;
        int e = bh_ike_sa_auth_sign(sa->keys, sa->our_init, sa->our_init_len, idi, idi_len, psk, auth, &auth_len);
        if (e < 0) {
                sa_fail(sa, "AUTH sign: %s", strerror(-e));
                return;
        }
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_id(&b, IKE_PL_IDI, idi[0], idi + 4, idi_len - 4);
        if (idr_len)
                ike_build_id(&b, IKE_PL_IDR, idr_type, idr_data, idr_len);
        ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, auth, auth_len);
        uint32_t child_spi = 0;
        while (child_spi < 256)
                RAND_bytes((unsigned char *) &child_spi, sizeof child_spi);
        uint8_t spi[4] = { (uint8_t) (child_spi >> 24), (uint8_t) (child_spi >> 16), (uint8_t) (child_spi >> 8),
                           (uint8_t) child_spi };
        ike_build_sa(&b, &esp_prop, 1, 1, spi, sizeof spi);
        IkeTs tsi = { .type = IKE_TS_IPV4_ADDR_RANGE, .port_start = 0, .port_end = 65535 };
        IkeTs tsr = tsi;
        uint32_t ts = htonl(ntohl(opt.ts_base.s_addr) + sa->index);
        memcpy(tsi.start, &ts, 4);
        memcpy(tsi.end, &ts, 4);
        memcpy(tsr.start, &opt.ts_remote, 4);
        memcpy(tsr.end, &opt.ts_remote, 4);
        ike_build_ts(&b, IKE_PL_TSI, &tsi, 1);
        ike_build_ts(&b, IKE_PL_TSR, &tsr, 1);
        size_t plain_len;
        if (ike_build_finish(&b, &plain_len) < 0) {
                sa_fail(sa, "cannot build IKE_AUTH");
                return;
        }
        uint8_t buf[MSG_BUF];
        IkeBuilder o;
        IkeHeader h = { .spi_i = sa->spi_i, .spi_r = sa->spi_r, .major = 2, .exchange = IKE_EXCH_IKE_AUTH,
                        .flags = IKE_FLAG_INITIATOR, .msg_id = 1 };
        size_t body_len = bh_ike_sk_body_len(&suite, plain_len), aad_len, len;
        uint8_t *body;
        ike_builder_init(&o, buf, sizeof buf);
        ike_build_header(&o, &h);
        ike_build_sk(&o, ike_builder_first_type(&b), body_len, 0, 0, &body, &aad_len);
        if (body_len == 0 || ike_build_finish(&o, &len) < 0) {
                sa_fail(sa, "cannot lay out IKE_AUTH");
                return;
        }
        if ((e = bh_ike_sa_seal(sa->keys, buf, aad_len, plain, plain_len, body, body_len)) < 0) {
                sa_fail(sa, "SK seal: %s", strerror(-e));
                return;
        }
        sa->state = ST_AUTH_SENT;
        sa_set_request(sa, buf, len);
}

/* ------------------------------------------------------------ receiving */

/* The first error notification of the message, 0 if none. */
static uint16_t error_notify(const IkeMsg *m) {
        for (size_t i = 0; i < m->n; i++) {
                IkeNotify n;
                if (m->pl[i].type == IKE_PL_NOTIFY && ike_notify_decode(m->pl[i].body, m->pl[i].len, &n) == IKE_OK &&
                    ike_notify_is_error(n.type))
                        return n.type;
        }
        return 0;
}

static void init_response(Sa *sa, const uint8_t *data, size_t len, IkeMsg *m) {
        uint32_t rtt = (uint32_t) ((now_ns() - sa->t_sent) / 1000);
        const IkePayload *cookie = ike_msg_find_notify(m, IKE_N_COOKIE);
        if (cookie) {
                IkeNotify n;
                if (ike_notify_decode(cookie->body, cookie->len, &n) != IKE_OK || n.data_len == 0 ||
                    n.data_len > IKE_COOKIE_MAX || sa->cookie_len) {
                        sa_fail(sa, "a COOKIE that cannot be used");
                        return;
                }
                memcpy(sa->cookie, n.data, n.data_len);
                sa->cookie_len = n.data_len;
                total_cookies++;
                send_init(sa);
                return;
        }
        uint16_t err = error_notify(m);
        if (err) {
                sa_fail(sa, "%s in IKE_SA_INIT", ike_notify_name(err));
                return;
        }
        IkeErr e = ike_msg_check_exchange(m, NULL);
        if (e != IKE_OK) {
                sa_fail(sa, "IKE_SA_INIT response refused: %s", ike_err_name(e));
                return;
        }
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA), *kep = ike_msg_find(m, IKE_PL_KE),
                         *np = ike_msg_find(m, IKE_PL_NONCE);
        IkeSa chosen;
        IkeKe ke;
        IkeNonce nonce;
        if (!sap || !kep || !np || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_IKE_SA_INIT, true, &chosen) != IKE_OK ||
            chosen.n != 1 || chosen.prop[0].verdict != IKE_OK || ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK ||
            ke.group != dh_group || ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK) {
                sa_fail(sa, "IKE_SA_INIT response: SA, KE or Nr unusable");
                return;
        }
        sa->spi_r = m->hdr.spi_r;
        /* NAT detection: any hash that does not match ours means UDP 4500. */
        uint8_t want_src[IKE_NATD_HASH_LEN], want_dst[IKE_NATD_HASH_LEN];
        natd_hash(sa->spi_i, sa->spi_r, opt.responder, IKE_PORT, want_src);
        natd_hash(sa->spi_i, sa->spi_r, sa->src, IKE_PORT, want_dst);
        bool nat = false;
        for (size_t i = 0; i < m->n; i++) {
                IkeNotify n;
                if (m->pl[i].type != IKE_PL_NOTIFY || ike_notify_decode(m->pl[i].body, m->pl[i].len, &n) != IKE_OK)
                        continue;
                if (n.type == IKE_N_NAT_DETECTION_SOURCE_IP && memcmp(n.data, want_src, IKE_NATD_HASH_LEN) != 0)
                        nat = true;
                if (n.type == IKE_N_NAT_DETECTION_DESTINATION_IP && memcmp(n.data, want_dst, IKE_NATD_HASH_LEN) != 0)
                        nat = true;
        }
        int r = bh_ike_sa_derive(sa->keys, ke.data, ke.len, nonce.data, nonce.len, sa->spi_i, sa->spi_r, &suite);
        if (r < 0) {
                sa_fail(sa, "key derivation: %s", strerror(-r));
                return;
        }
        g_free(sa->peer_init);
        sa->peer_init = g_memdup2(data, len);
        sa->peer_init_len = len;
        g_array_append_val(init_rtts_us, rtt);
        if (nat) {
                sa->natt = true;
                n_nat++;
        }
        send_auth(sa);
}

static void auth_response(Sa *sa, IkeMsg *m) {
        uint32_t rtt = (uint32_t) ((now_ns() - sa->t_sent) / 1000);
        if (!m->sk.present || m->sk.type != IKE_PL_SK) {
                sa_fail(sa, "IKE_AUTH response without SK");
                return;
        }
        uint8_t plain[MSG_BUF];
        size_t plain_len;
        if (bh_ike_sk_plain_max(&suite, m->sk.body_len) > sizeof plain) {
                sa_fail(sa, "IKE_AUTH response too long");
                return;
        }
        int r = bh_ike_sa_open(sa->keys, m->raw, m->sk.aad_len, m->sk.body, m->sk.body_len, plain, &plain_len);
        if (r < 0) {
                /* Not ours, or damaged: wait for the real one. */
                n_stray++;
                return;
        }
        IkeErr e = ike_msg_parse_inner(m, m->sk.next, plain, plain_len);
        if (e != IKE_OK) {
                sa_fail(sa, "IKE_AUTH response: %s", ike_err_name(e));
                return;
        }
        uint16_t err = error_notify(m);
        if (err) {
                sa_fail(sa, "%s in IKE_AUTH", ike_notify_name(err));
                return;
        }
        if ((e = ike_msg_check_exchange(m, NULL)) != IKE_OK) {
                sa_fail(sa, "IKE_AUTH response refused: %s", ike_err_name(e));
                return;
        }
        const IkePayload *idr = ike_msg_find(m, IKE_PL_IDR), *authp = ike_msg_find(m, IKE_PL_AUTH),
                         *sap = ike_msg_find(m, IKE_PL_SA);
        IkeAuth auth;
        if (!idr || !authp || ike_auth_decode(authp->body, authp->len, &auth) != IKE_OK) {
                sa_fail(sa, "IKE_AUTH response without IDr or AUTH");
                return;
        }
        if (auth.method != IKE_AUTH_SHARED_KEY_MIC ||
            bh_ike_sa_auth_verify(sa->keys, sa->peer_init, sa->peer_init_len, idr->body, idr->len, psk, auth.data,
                                  auth.len) < 0) {
                sa_fail(sa, "the responder's AUTH does not verify");
                return;
        }
        IkeSa child;
        if (!sap || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_CHILD, true, &child) != IKE_OK || child.n != 1 ||
            child.prop[0].verdict != IKE_OK || !ike_msg_find(m, IKE_PL_TSI) || !ike_msg_find(m, IKE_PL_TSR)) {
                sa_fail(sa, "IKE_AUTH response: no usable CHILD SA");
                return;
        }
        g_array_append_val(auth_rtts_us, rtt);
        sa_done(sa);
}

static void receive(const uint8_t *buf, size_t len, bool natt) {
        if (natt) {
                /* NAT keepalives (0xff) and ESP are not for us. */
                if (len < NONESP_MARKER_LEN || memcmp(buf, "\0\0\0\0", NONESP_MARKER_LEN) != 0) {
                        n_stray++;
                        return;
                }
                buf += NONESP_MARKER_LEN;
                len -= NONESP_MARKER_LEN;
        }
        IkeMsg m;
        IkeErr e = ike_msg_parse(buf, len, &m);
        if (e != IKE_OK) {
                /* Whose it is still counts: the IKE SA fails with the reason. */
                IkeHeader h;
                if (ike_header_parse(buf, len, &h) != IKE_OK) {
                        n_stray++;
                        return;
                }
                m.hdr = h;
        }
        /* Only responses, from the responder (Initiator flag clear): it has
         * no reason to send a request before the generator is done. */
        if (!ike_header_is_response(&m.hdr) || ike_header_is_initiator(&m.hdr)) {
                n_stray++;
                return;
        }
        uint32_t low = (uint32_t) m.hdr.spi_i;
        if (low == 0 || low > opt.count) {
                n_stray++;
                return;
        }
        Sa *sa = &sas[low - 1];
        if (sa->spi_i != m.hdr.spi_i) {
                n_stray++;
                return;
        }
        if (m.hdr.exchange == IKE_EXCH_IKE_SA_INIT && sa->state == ST_INIT_SENT && m.hdr.msg_id == 0) {
                if (e != IKE_OK) {
                        sa_fail(sa, "IKE_SA_INIT response malformed: %s", ike_err_name(e));
                        return;
                }
                init_response(sa, buf, len, &m);
        } else if (m.hdr.exchange == IKE_EXCH_IKE_AUTH && sa->state == ST_AUTH_SENT && m.hdr.msg_id == 1 &&
                   m.hdr.spi_r == sa->spi_r) {
                if (e != IKE_OK) {
                        sa_fail(sa, "IKE_AUTH response malformed: %s", ike_err_name(e));
                        return;
                }
                auth_response(sa, &m);
        } else {
                n_stray++;      /* a late duplicate */
        }
}

static void drain(int fd, bool natt) {
        for (int k = 0; k < 256; k++) {
                uint8_t buf[IKE_MSG_MAX_LEN];
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0)
                        return;
                receive(buf, (size_t) n, natt);
        }
}

static void check_retransmits(uint64_t now) {
        uint64_t after = (uint64_t) opt.retransmit_ms * 1000000u;
        for (unsigned i = 0; i < n_inflight;) {
                Sa *sa = inflight[i];
                if (now - sa->t_sent < after) {
                        i++;
                        continue;
                }
                if (sa->retransmits >= opt.retries) {
                        sa_fail(sa, "no answer to %s after %u retransmissions",
                                sa->state == ST_INIT_SENT ? "IKE_SA_INIT" : "IKE_AUTH", opt.retries);
                        continue; /* inflight[i] is another SA now */
                }
                sa->retransmits++;
                total_retransmits++;
                sa_send_request(sa);
                i++;
        }
}

static int open_socket(uint16_t port) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        int one = 1, size = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0) {
                fprintf(stderr, "ike-load: bind UDP %u: %s\n", port, strerror(errno));
                close(fd);
                return -1;
        }
        return fd;
}

/* ------------------------------------------------------------ processes */

/* pid, and every descendant (from /proc/PID/task/TID/children). */
static void tree_collect(pid_t pid, GArray *out) {
        g_array_append_val(out, pid);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        GDir *dir = g_dir_open(path, 0, NULL);
        if (!dir)
                return;
        const char *tid;
        while ((tid = g_dir_read_name(dir))) {
                g_autofree char *p = g_strdup_printf("/proc/%d/task/%s/children", (int) pid, tid);
                g_autofree char *text = NULL;
                if (!g_file_get_contents(p, &text, NULL, NULL))
                        continue;
                char *s = text, *end;
                for (;;) {
                        long c = strtol(s, &end, 10);
                        if (end == s)
                                break;
                        tree_collect((pid_t) c, out);
                        s = end;
                }
        }
        g_dir_close(dir);
}

static GArray *watched_pids(void) {
        GArray *a = g_array_new(FALSE, FALSE, sizeof(pid_t));
        for (size_t i = 0; i < opt.n_watch; i++)
                tree_collect(opt.watch[i], a);
        return a;
}

/* The program's name: argv[0] without its directory. */
static char *proc_name(pid_t pid) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid);
        g_autofree char *text = NULL;
        gsize len;
        if (!g_file_get_contents(path, &text, &len, NULL) || len == 0) {
                snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
                if (!g_file_get_contents(path, &text, NULL, NULL))
                        return g_strdup("?");
                return g_strstrip(g_strdup(text));
        }
        return g_path_get_basename(text);
}

typedef struct ProcCpu {
        pid_t pid;
        char *name;
        unsigned long long utime, stime, cutime, cstime;
} ProcCpu;

static bool proc_cpu(pid_t pid, ProcCpu *ret) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return false;
        char *p = strrchr(text, ')');
        if (!p)
                return false;
        /* fields from 3 (state) on; utime is 14, stime 15, cutime 16, cstime 17 */
        char state;
        long long skip;
        unsigned long long ut, st;
        long long cut, cst;
        if (sscanf(p + 2, "%c %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %llu %llu %lld %lld", &state, &skip,
                   &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &ut, &st, &cut, &cst) != 15)
                return false;
        ret->pid = pid;
        ret->name = proc_name(pid);
        ret->utime = ut;
        ret->stime = st;
        ret->cutime = (unsigned long long) cut;
        ret->cstime = (unsigned long long) cst;
        return true;
}

static GArray *cpu_snapshot(void) {
        g_autoptr(GArray) pids = watched_pids();
        GArray *a = g_array_new(FALSE, TRUE, sizeof(ProcCpu));
        for (guint i = 0; i < pids->len; i++) {
                ProcCpu c;
                if (proc_cpu(g_array_index(pids, pid_t, i), &c))
                        g_array_append_val(a, c);
        }
        return a;
}

/* The whole machine's busy time, in clock ticks. */
static unsigned long long host_busy(void) {
        g_autofree char *text = NULL;
        if (!g_file_get_contents("/proc/stat", &text, NULL, NULL))
                return 0;
        unsigned long long v[8] = { 0 };
        if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) != 8)
                return 0;
        return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

/* ------------------------------------------------------------ sampler */

typedef struct MemByName {
        char name[48];
        uint64_t pss_kb, rss_kb;        /* in the current sample */
        uint64_t peak_pss_kb, peak_rss_kb;
        uint64_t idle_pss_kb, idle_rss_kb;
        unsigned procs;                 /* processes of that name at the peak */
} MemByName;

typedef struct RoutePoint {
        uint64_t t;
        unsigned n;
} RoutePoint;

static struct {
        atomic_bool stop;
        atomic_bool idle_done;
        atomic_uint routes_now;         /* last count */
        unsigned samples;
        uint64_t idle_pss_kb, idle_rss_kb;
        uint64_t peak_pss_kb, peak_rss_kb;
        uint64_t peak_t;
        unsigned peak_procs;
        GArray *by_name;                /* MemByName */
        GArray *routes;                 /* RoutePoint */
        int nl, mon;
        int ifindex;
        unsigned routes_base, routes_count;
        unsigned resyncs;
        unsigned pss_samples;
        uint64_t cpu_ns, max_sample_ns;
        pthread_mutex_t lock;
} smp = { .nl = -1, .mon = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static MemByName *by_name(const char *name) {
        for (guint i = 0; i < smp.by_name->len; i++) {
                MemByName *m = &g_array_index(smp.by_name, MemByName, i);
                if (strcmp(m->name, name) == 0)
                        return m;
        }
        MemByName m = { 0 };
        g_strlcpy(m.name, name, sizeof m.name);
        g_array_append_val(smp.by_name, m);
        return &g_array_index(smp.by_name, MemByName, smp.by_name->len - 1);
}

static bool smaps_rollup(pid_t pid, uint64_t *ret_pss) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        char line[256];
        bool pss = false;
        unsigned long long v;
        while (!pss && fgets(line, sizeof line, f))
                if (sscanf(line, "Pss: %llu kB", &v) == 1) {
                        *ret_pss = v;
                        pss = true;
                }
        fclose(f);
        return pss;
}

/* Resident pages from statm: a counter the kernel keeps, read in constant
 * time. smaps_rollup walks every mapping under the process's mmap lock,
 * which takes milliseconds for a process with tens of thousands of
 * mappings (cryptod's one page per secret) and holds up that process. */
static bool statm_rss(pid_t pid, uint64_t *ret_rss_kb) {
        char path[64], buf[128];
        snprintf(path, sizeof path, "/proc/%d/statm", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        unsigned long long size, resident;
        bool ok = fgets(buf, sizeof buf, f) && sscanf(buf, "%llu %llu", &size, &resident) == 2;
        fclose(f);
        if (ok)
                *ret_rss_kb = resident * (uint64_t) sysconf(_SC_PAGESIZE) / 1024u;
        return ok && size > 0;  /* kernel threads have no memory */
}

/* One sample of every watched process: Rss always, Pss when with_pss. */
static void sample_memory(bool idle, bool with_pss) {
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        uint64_t w0 = now_ns();
        g_autoptr(GArray) pids = watched_pids();
        uint64_t rss_sum = 0, pss_sum = 0;
        for (guint i = 0; i < smp.by_name->len; i++) {
                MemByName *m = &g_array_index(smp.by_name, MemByName, i);
                m->rss_kb = 0;
                if (with_pss)
                        m->pss_kb = 0;
        }
        unsigned procs = 0;
        for (guint i = 0; i < pids->len; i++) {
                pid_t pid = g_array_index(pids, pid_t, i);
                uint64_t rss, pss = 0;
                if (!statm_rss(pid, &rss))
                        continue;   /* gone, or a kernel thread */
                if (with_pss && !smaps_rollup(pid, &pss))
                        continue;
                g_autofree char *name = proc_name(pid);
                MemByName *m = by_name(name);
                m->rss_kb += rss;
                m->pss_kb += pss;
                rss_sum += rss;
                pss_sum += pss;
                procs++;
        }
        smp.samples++;
        if (with_pss)
                smp.pss_samples++;
        for (guint i = 0; i < smp.by_name->len; i++) {
                MemByName *m = &g_array_index(smp.by_name, MemByName, i);
                if (idle) {
                        m->idle_pss_kb = m->pss_kb;
                        m->idle_rss_kb = m->rss_kb;
                }
                if (with_pss && m->pss_kb > m->peak_pss_kb)
                        m->peak_pss_kb = m->pss_kb;
                if (m->rss_kb > m->peak_rss_kb)
                        m->peak_rss_kb = m->rss_kb;
        }
        if (idle) {
                smp.idle_pss_kb = pss_sum;
                smp.idle_rss_kb = rss_sum;
        }
        if (with_pss && pss_sum > smp.peak_pss_kb) {
                smp.peak_pss_kb = pss_sum;
                smp.peak_t = now_ns();
                smp.peak_procs = procs;
        }
        if (rss_sum > smp.peak_rss_kb)
                smp.peak_rss_kb = rss_sum;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        smp.cpu_ns += (uint64_t) (c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t) c1.tv_nsec - (uint64_t) c0.tv_nsec;
        uint64_t took = now_ns() - w0;
        if (took > smp.max_sample_ns)
                smp.max_sample_ns = took;
}

/* Is this route message about an IPv4 unicast route out of smp.ifindex? */
static bool route_ours(struct nlmsghdr *nh) {
        struct rtmsg *rt = NLMSG_DATA(nh);
        if (rt->rtm_family != AF_INET || rt->rtm_type != RTN_UNICAST)
                return false;
        int alen = (int) RTM_PAYLOAD(nh);
        for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
                if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int) && *(int *) RTA_DATA(a) == smp.ifindex)
                        return true;
        return false;
}

/* IPv4 unicast routes of every table whose output device is smp.ifindex,
 * by a dump on smp.nl; -1 on error. */
static int count_routes(void) {
        static uint32_t seq;
        struct {
                struct nlmsghdr nh;
                struct rtmsg rt;
        } req = {
                .nh = { .nlmsg_len = sizeof req, .nlmsg_type = RTM_GETROUTE, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                        .nlmsg_seq = ++seq },
                .rt = { .rtm_family = AF_INET },
        };
        if (send(smp.nl, &req, sizeof req, 0) < 0)
                return -1;
        static uint8_t buf[1 << 16];
        int count = 0;
        for (;;) {
                ssize_t n = recv(smp.nl, buf, sizeof buf, 0);
                if (n < 0)
                        return -1;
                for (struct nlmsghdr *nh = (struct nlmsghdr *) buf; NLMSG_OK(nh, (size_t) n); nh = NLMSG_NEXT(nh, n)) {
                        if (nh->nlmsg_seq != seq)
                                continue;
                        if (nh->nlmsg_type == NLMSG_DONE)
                                return count;
                        if (nh->nlmsg_type == NLMSG_ERROR)
                                return -1;
                        if (nh->nlmsg_type == RTM_NEWROUTE && route_ours(nh))
                                count++;
                }
        }
}

static void route_point(unsigned n) {
        RoutePoint p = { now_ns(), n };
        atomic_store(&smp.routes_now, n);
        pthread_mutex_lock(&smp.lock);
        g_array_append_val(smp.routes, p);
        pthread_mutex_unlock(&smp.lock);
}

/* Route changes as the kernel announces them (RTMGRP_IPV4_ROUTE on
 * smp.mon), each with the time it was read: exact to the wake-up, where a
 * periodic dump would be late by up to a period. When the socket overflowed
 * (ENOBUFS), a dump sets the count again. */
static void read_route_events(void) {
        static uint8_t buf[1 << 16];
        for (;;) {
                ssize_t n = recv(smp.mon, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == ENOBUFS) {
                                smp.resyncs++;
                                int c = count_routes();
                                if (c >= 0) {
                                        smp.routes_count = (unsigned) c;
                                        route_point(smp.routes_count);
                                }
                                continue;
                        }
                        return;
                }
                unsigned before = smp.routes_count;
                for (struct nlmsghdr *nh = (struct nlmsghdr *) buf; NLMSG_OK(nh, (size_t) n); nh = NLMSG_NEXT(nh, n)) {
                        if (nh->nlmsg_type == RTM_NEWROUTE && route_ours(nh))
                                smp.routes_count++;
                        else if (nh->nlmsg_type == RTM_DELROUTE && route_ours(nh) && smp.routes_count)
                                smp.routes_count--;
                }
                if (smp.routes_count != before)
                        route_point(smp.routes_count);
        }
}

static void *sampler(void *arg) {
        (void) arg;
        /* The idle baseline: five samples over half a second, of which the
         * last one counts (the others warm up the page cache of /proc). */
        for (int i = 0; i < 5; i++) {
                sample_memory(i == 4, true);
                usleep(opt.sample_ms * 1000u);
        }
        if (smp.nl >= 0) {
                int n = count_routes();
                smp.routes_base = smp.routes_count = n > 0 ? (unsigned) n : 0;
                atomic_store(&smp.routes_now, smp.routes_count);
                read_route_events(); /* what the dump already counted */
                smp.routes_count = smp.routes_base;
                atomic_store(&smp.routes_now, smp.routes_count);
        }
        atomic_store(&smp.idle_done, true);
        uint64_t period = (uint64_t) opt.sample_ms * 1000000u, next_mem = now_ns();
        uint64_t pss_period = (uint64_t) opt.pss_ms * 1000000u, next_pss = next_mem + pss_period;
        while (!atomic_load(&smp.stop)) {
                uint64_t now = now_ns();
                if (now >= next_mem) {
                        bool pss = now >= next_pss;
                        sample_memory(false, pss);
                        if (pss)
                                next_pss = now + pss_period;
                        next_mem = now + period;
                        now = now_ns();
                }
                int timeout = now < next_mem ? (int) ((next_mem - now) / 1000000u) : 0;
                if (smp.mon >= 0) {
                        struct pollfd p = { .fd = smp.mon, .events = POLLIN };
                        if (poll(&p, 1, timeout) > 0)
                                read_route_events();
                } else {
                        usleep((useconds_t) timeout * 1000u);
                }
        }
        /* The end state (every tunnel up) is where the memory peaks. */
        sample_memory(false, true);
        return NULL;
}

/* Two netlink sockets in the responder's namespace, one for dumps and one
 * that listens to route changes: sockets stay in the namespace they were
 * made in, so this thread enters it for a moment. */
static int routes_open(void) {
        int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int target = open(opt.routes_netns, O_RDONLY | O_CLOEXEC);
        if (self < 0 || target < 0) {
                fprintf(stderr, "ike-load: %s: %s\n", opt.routes_netns, strerror(errno));
                return -1;
        }
        if (setns(target, CLONE_NEWNET) < 0) {
                fprintf(stderr, "ike-load: setns %s: %s\n", opt.routes_netns, strerror(errno));
                return -1;
        }
        smp.nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        smp.mon = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        smp.ifindex = (int) if_nametoindex(opt.routes_dev);
        int r = setns(self, CLONE_NEWNET);
        close(self);
        close(target);
        if (r < 0 || smp.nl < 0 || smp.mon < 0 || smp.ifindex == 0) {
                fprintf(stderr, "ike-load: no netlink socket, or no device %s in %s\n", opt.routes_dev, opt.routes_netns);
                return -1;
        }
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        if (bind(smp.nl, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -1;
        sa.nl_groups = RTMGRP_IPV4_ROUTE;
        if (bind(smp.mon, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -1;
        int size = 16 << 20;
        setsockopt(smp.nl, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
        setsockopt(smp.mon, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
        return 0;
}

/* How many mappings a process has (lines of /proc/PID/maps): the kernel
 * refuses more than vm.max_map_count. -1 when it cannot be read. */
static long map_count(pid_t pid) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/maps", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        char buf[1 << 16];
        long lines = 0;
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                for (size_t i = 0; i < n; i++)
                        lines += buf[i] == '\n';
        fclose(f);
        return lines;
}

static void maps_json(GString *s) {
        g_autoptr(GArray) pids = watched_pids();
        g_string_append_c(s, '{');
        bool first = true;
        for (guint i = 0; i < pids->len; i++) {
                pid_t pid = g_array_index(pids, pid_t, i);
                long n = map_count(pid);
                if (n < 0)
                        continue;
                g_autofree char *name = proc_name(pid);
                if (!first)
                        g_string_append_c(s, ',');
                first = false;
                g_string_append_printf(s, "\"%s[%d]\":%ld", name, (int) pid, n);
        }
        g_string_append_c(s, '}');
}

/* ------------------------------------------------------------ report */

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

static double pct_ms(GArray *a, double p) {
        if (a->len == 0)
                return 0;
        qsort(a->data, a->len, sizeof(uint32_t), cmp_u32);
        size_t i = (size_t) ceil(p / 100.0 * (double) a->len);
        if (i > 0)
                i--;
        if (i >= a->len)
                i = a->len - 1;
        return g_array_index(a, uint32_t, i) / 1000.0;
}

static void json_string(GString *s, const char *text) {
        g_string_append_c(s, '"');
        for (const char *c = text; *c; c++) {
                if (*c == '"' || *c == '\\')
                        g_string_append_printf(s, "\\%c", *c);
                else if ((unsigned char) *c < 0x20)
                        g_string_append_printf(s, "\\u%04x", *c);
                else
                        g_string_append_c(s, *c);
        }
        g_string_append_c(s, '"');
}

static const ProcCpu *find_cpu(GArray *a, pid_t pid) {
        for (guint i = 0; i < a->len; i++)
                if (g_array_index(a, ProcCpu, i).pid == pid)
                        return &g_array_index(a, ProcCpu, i);
        return NULL;
}

typedef struct CpuByName {
        char name[48];
        double user, sys, children;
        unsigned procs;
} CpuByName;

static void cpu_json(GString *s, GArray *before, GArray *after) {
        double hz = (double) sysconf(_SC_CLK_TCK);
        g_autoptr(GArray) names = g_array_new(FALSE, TRUE, sizeof(CpuByName));
        for (guint i = 0; i < after->len; i++) {
                const ProcCpu *a = &g_array_index(after, ProcCpu, i), *b = find_cpu(before, a->pid);
                ProcCpu zero = { 0 };
                if (!b)
                        b = &zero;   /* started during the run */
                CpuByName *n = NULL;
                for (guint k = 0; k < names->len; k++)
                        if (strcmp(g_array_index(names, CpuByName, k).name, a->name) == 0)
                                n = &g_array_index(names, CpuByName, k);
                if (!n) {
                        CpuByName z = { 0 };
                        g_strlcpy(z.name, a->name, sizeof z.name);
                        g_array_append_val(names, z);
                        n = &g_array_index(names, CpuByName, names->len - 1);
                }
                n->user += (double) (a->utime - b->utime) / hz;
                n->sys += (double) (a->stime - b->stime) / hz;
                n->children += (double) ((a->cutime + a->cstime) - (b->cutime + b->cstime)) / hz;
                n->procs++;
        }
        g_string_append(s, "{");
        for (guint k = 0; k < names->len; k++) {
                const CpuByName *n = &g_array_index(names, CpuByName, k);
                if (k)
                        g_string_append_c(s, ',');
                json_string(s, n->name);
                g_string_append_printf(s, ":{\"user_s\":%.3f,\"sys_s\":%.3f,\"reaped_children_s\":%.3f,\"procs\":%u}",
                                       n->user, n->sys, n->children, n->procs);
        }
        g_string_append(s, "}");
}

static void cpu_free(GArray *a) {
        for (guint i = 0; i < a->len; i++)
                g_free(g_array_index(a, ProcCpu, i).name);
        g_array_free(a, TRUE);
}

/* ------------------------------------------------------------ main */

static bool parse_addr(const char *s, struct in_addr *ret) {
        return inet_pton(AF_INET, s, ret) == 1;
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return false;
        *ret = (unsigned) v;
        return true;
}

static int parse_args(int argc, char **argv) {
        static const char *const defaults[][2] = {
                { "src-base", "198.18.0.1" }, { "ts-base", "10.128.0.1" }, { "ts-remote", "10.1.0.1" },
        };
        parse_addr(defaults[0][1], &opt.src_base);
        parse_addr(defaults[1][1], &opt.ts_base);
        parse_addr(defaults[2][1], &opt.ts_remote);
        bool have_responder = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--help") == 0) {
                        usage(stdout);
                        exit(0);
                }
                if (i + 1 >= argc) {
                        fprintf(stderr, "ike-load: %s: missing value or unknown option\n", a);
                        return -1;
                }
                const char *v = argv[++i];
                bool ok = true;
                if (strcmp(a, "--responder") == 0)
                        ok = have_responder = parse_addr(v, &opt.responder);
                else if (strcmp(a, "--src-base") == 0)
                        ok = parse_addr(v, &opt.src_base);
                else if (strcmp(a, "--ts-base") == 0)
                        ok = parse_addr(v, &opt.ts_base);
                else if (strcmp(a, "--ts-remote") == 0)
                        ok = parse_addr(v, &opt.ts_remote);
                else if (strcmp(a, "--count") == 0)
                        ok = parse_uint(v, 1, 1000000, &opt.count);
                else if (strcmp(a, "--window") == 0)
                        ok = parse_uint(v, 1, 65536, &opt.window);
                else if (strcmp(a, "--name-prefix") == 0)
                        opt.name_prefix = v;
                else if (strcmp(a, "--name-digits") == 0)
                        ok = parse_uint(v, 1, 9, &opt.name_digits);
                else if (strcmp(a, "--id-suffix") == 0)
                        opt.id_suffix = v;
                else if (strcmp(a, "--idr") == 0)
                        opt.idr = strcmp(v, "none") == 0 ? NULL : v;
                else if (strcmp(a, "--psk-file") == 0)
                        opt.psk_file = v;
                else if (strcmp(a, "--ike") == 0)
                        opt.ike = v;
                else if (strcmp(a, "--esp") == 0)
                        opt.esp = v;
                else if (strcmp(a, "--retransmit-ms") == 0)
                        ok = parse_uint(v, 10, 600000, &opt.retransmit_ms);
                else if (strcmp(a, "--retries") == 0)
                        ok = parse_uint(v, 0, 100, &opt.retries);
                else if (strcmp(a, "--limit") == 0)
                        ok = parse_uint(v, 1, 86400, &opt.limit_s);
                else if (strcmp(a, "--watch") == 0) {
                        unsigned pid;
                        ok = opt.n_watch < WATCH_MAX && parse_uint(v, 1, INT32_MAX, &pid);
                        if (ok)
                                opt.watch[opt.n_watch++] = (pid_t) pid;
                } else if (strcmp(a, "--sample-ms") == 0)
                        ok = parse_uint(v, 10, 10000, &opt.sample_ms);
                else if (strcmp(a, "--pss-ms") == 0)
                        ok = parse_uint(v, 10, 60000, &opt.pss_ms);
                else if (strcmp(a, "--routes-netns") == 0)
                        opt.routes_netns = v;
                else if (strcmp(a, "--routes-dev") == 0)
                        opt.routes_dev = v;
                else if (strcmp(a, "--progress-ms") == 0)
                        ok = parse_uint(v, 100, 3600000, &opt.progress_ms);
                else if (strcmp(a, "--settle-limit") == 0)
                        ok = parse_uint(v, 0, 3600, &opt.settle_limit_s);
                else {
                        fprintf(stderr, "ike-load: unknown option %s\n", a);
                        return -1;
                }
                if (!ok) {
                        fprintf(stderr, "ike-load: %s: bad value %s\n", a, v);
                        return -1;
                }
        }
        if (!have_responder || !opt.psk_file) {
                fprintf(stderr, "ike-load: --responder and --psk-file are required\n");
                return -1;
        }
        if (!opt.routes_netns != !opt.routes_dev) {
                fprintf(stderr, "ike-load: --routes-netns and --routes-dev go together\n");
                return -1;
        }
        return 0;
}

static int setup_crypto(void) {
        g_autofree char *text = NULL;
        gsize len;
        if (!g_file_get_contents(opt.psk_file, &text, &len, NULL)) {
                fprintf(stderr, "ike-load: cannot read %s\n", opt.psk_file);
                return -1;
        }
        char *nl = strchr(text, '\n');
        if (nl)
                *nl = 0;
        if (!*text) {
                fprintf(stderr, "ike-load: %s: empty\n", opt.psk_file);
                return -1;
        }
        psk = bh_secret_new_copy(text, strlen(text));
        bh_secure_wipe(text, len);
        g_autofree char *why = NULL;
        if (bh_proposal_parse(BH_PROTO_IKE, opt.ike, &ike_prop, &why) < 0 ||
            bh_proposal_parse(BH_PROTO_ESP, opt.esp, &esp_prop, &why) < 0) {
                fprintf(stderr, "ike-load: proposal: %s\n", why ? why : "?");
                return -1;
        }
        /* One transform of each type: the first of each. */
        suite = (BhIkeSuite){ 0 };
        for (unsigned i = 0; i < ike_prop.n; i++) {
                const BhProposalTransform *t = &ike_prop.t[i];
                if (t->type == BH_TRANSFORM_ENCR && !suite.encr) {
                        suite.encr = t->id;
                        suite.encr_bits = t->key_bits;
                } else if (t->type == BH_TRANSFORM_PRF && !suite.prf)
                        suite.prf = t->id;
                else if (t->type == BH_TRANSFORM_INTEG && !suite.integ)
                        suite.integ = t->id;
                else if (t->type == BH_TRANSFORM_DH && !suite.dh)
                        suite.dh = t->id;
        }
        dh_group = suite.dh;
        if (!bh_ike_suite_supported(&suite)) {
                fprintf(stderr, "ike-load: %s: give one algorithm of each type\n", opt.ike);
                return -1;
        }
        if (opt.idr) {
                if (g_str_has_prefix(opt.idr, "fqdn:") && strlen(opt.idr) - 5 < sizeof idr_data) {
                        idr_type = IKE_ID_FQDN;
                        idr_len = strlen(opt.idr) - 5;
                        memcpy(idr_data, opt.idr + 5, idr_len);
                } else if (g_str_has_prefix(opt.idr, "ipv4:") && inet_pton(AF_INET, opt.idr + 5, idr_data) == 1) {
                        idr_type = IKE_ID_IPV4_ADDR;
                        idr_len = 4;
                } else {
                        fprintf(stderr, "ike-load: --idr: fqdn:NAME, ipv4:ADDR or none\n");
                        return -1;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        if (parse_args(argc, argv) < 0) {
                usage(stderr);
                return 2;
        }
        if (setup_crypto() < 0)
                return 2;
        causes = g_array_new(FALSE, TRUE, sizeof(Cause));
        latencies_us = g_array_new(FALSE, FALSE, sizeof(uint32_t));
        init_rtts_us = g_array_new(FALSE, FALSE, sizeof(uint32_t));
        auth_rtts_us = g_array_new(FALSE, FALSE, sizeof(uint32_t));
        smp.by_name = g_array_new(FALSE, TRUE, sizeof(MemByName));
        smp.routes = g_array_new(FALSE, FALSE, sizeof(RoutePoint));
        sas = g_new0(Sa, opt.count);
        inflight = g_new0(Sa *, opt.window);
        for (unsigned i = 0; i < opt.count; i++) {
                sas[i].index = i;
                sas[i].slot = -1;
        }
        if ((fd500 = open_socket(IKE_PORT)) < 0 || (fd4500 = open_socket(NATT_PORT)) < 0)
                return 2;
        int one = 1;
        setsockopt(fd500, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        setsockopt(fd4500, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        if (opt.routes_netns && routes_open() < 0)
                return 2;
        struct sigaction sa_int = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa_int, NULL);
        sigaction(SIGTERM, &sa_int, NULL);

        /* The idle baseline first, then the run. */
        pthread_t thread;
        bool sampling = opt.n_watch > 0 || smp.nl >= 0;
        if (sampling) {
                pthread_create(&thread, NULL, sampler, NULL);
                while (!atomic_load(&smp.idle_done))
                        usleep(10000);
        }
        GArray *cpu_before = cpu_snapshot();
        unsigned long long host0 = host_busy();
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        uint64_t t0 = now_ns(), deadline = t0 + (uint64_t) opt.limit_s * 1000000000u;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd500 };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd500, &ev);
        ev.data.fd = fd4500;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd4500, &ev);
        uint64_t next_progress = t0 + (uint64_t) opt.progress_ms * 1000000u;
        bool limited = false;

        while (n_resolved < opt.count) {
                while (n_inflight < opt.window && next_index < opt.count)
                        sa_start(&sas[next_index++]);
                struct epoll_event evs[4];
                int n = epoll_wait(ep, evs, 4, 20);
                for (int i = 0; i < n; i++)
                        drain(evs[i].data.fd, evs[i].data.fd == fd4500);
                uint64_t now = now_ns();
                check_retransmits(now);
                if (now >= next_progress) {
                        char routes[32] = "";
                        if (smp.nl >= 0)
                                snprintf(routes, sizeof routes, ", %u routes", atomic_load(&smp.routes_now));
                        fprintf(stderr, "ike-load: %6.1f s: %u up, %u failed, %u in flight, %u retransmissions%s\n",
                                secs(now - t0), n_done, n_failed, n_inflight, total_retransmits, routes);
                        next_progress += (uint64_t) opt.progress_ms * 1000000u;
                }
                if (interrupted || now >= deadline) {
                        limited = true;
                        const char *why = interrupted ? "interrupted" : "the run's time limit";
                        while (n_inflight)
                                sa_fail(inflight[0], "%s (in flight)", why);
                        for (; next_index < opt.count; next_index++) {
                                Sa *s = &sas[next_index];
                                s->state = ST_FAILED;
                                n_failed++;
                                n_resolved++;
                                cause_add(interrupted ? "interrupted (not started)" : "the run's time limit (not started)");
                        }
                        break;
                }
        }
        uint64_t t_ike_end = t_last_resolved ? t_last_resolved : now_ns();

        /* The routes of every tunnel that came up. */
        unsigned routes_want = n_done, routes_got = 0;
        uint64_t t_routes = 0;
        if (smp.nl >= 0 && !limited) {
                uint64_t settle_deadline = now_ns() + (uint64_t) opt.settle_limit_s * 1000000000u;
                while (!interrupted && now_ns() < settle_deadline) {
                        unsigned got = atomic_load(&smp.routes_now);
                        if (got >= smp.routes_base + routes_want)
                                break;
                        usleep(20000);
                }
                /* one more sample after the last count */
                usleep(opt.sample_ms * 1000u + 20000u);
        }
        GArray *cpu_after = cpu_snapshot();
        int routes_dump = -1;
        unsigned long long host1 = host_busy();
        getrusage(RUSAGE_SELF, &ru1);
        uint64_t t_end = now_ns();
        if (sampling) {
                atomic_store(&smp.stop, true);
                pthread_join(thread, NULL);
        }
        if (smp.nl >= 0)
                routes_dump = count_routes();
        GString *maps = g_string_new(NULL);
        maps_json(maps);
        for (guint i = 0; i < smp.routes->len; i++) {
                RoutePoint *p = &g_array_index(smp.routes, RoutePoint, i);
                unsigned got = p->n > smp.routes_base ? p->n - smp.routes_base : 0;
                if (got > routes_got)
                        routes_got = got;
                if (!t_routes && got >= routes_want && routes_want)
                        t_routes = p->t;
        }

        /* ---- report */
        double t_ike = t_first_send ? secs(t_ike_end - t_first_send) : 0;
        double t_settled = t_routes ? secs((t_routes > t_ike_end ? t_routes : t_ike_end) - t_first_send) : 0;
        double gen_cpu = (double) (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                                   ru0.ru_stime.tv_sec) +
                         (double) (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                                   ru0.ru_stime.tv_usec) / 1e6;
        double hz = (double) sysconf(_SC_CLK_TCK);
        GString *s = g_string_new("{");
        g_string_append_printf(s, "\"count\":%u,\"window\":%u,\"up\":%u,\"failed\":%u,", opt.count, opt.window, n_done,
                               n_failed);
        g_string_append(s, "\"failures\":{");
        for (guint i = 0; i < causes->len; i++) {
                const Cause *c = &g_array_index(causes, Cause, i);
                if (i)
                        g_string_append_c(s, ',');
                json_string(s, c->text);
                g_string_append_printf(s, ":%u", c->n);
        }
        g_string_append_printf(s, "},\"retransmissions\":%u,\"cookies\":%u,\"nat_detected\":%u,\"stray\":%u,",
                               total_retransmits, total_cookies, n_nat, n_stray);
        g_string_append_printf(s, "\"t_ike_s\":%.3f,\"rate_ike\":%.1f,", t_ike, t_ike > 0 ? n_done / t_ike : 0);
        char settled[32] = "null", rate_settled[32] = "null";
        if (t_routes && t_settled > 0) {
                snprintf(settled, sizeof settled, "%.3f", t_settled);
                snprintf(rate_settled, sizeof rate_settled, "%.1f", n_done / t_settled);
        }
        if (smp.nl >= 0)
                g_string_append_printf(s,
                                       "\"routes\":{\"base\":%u,\"want\":%u,\"got\":%u,\"at_end_by_dump\":%d,"
                                       "\"resyncs\":%u,\"t_settled_s\":%s},",
                                       smp.routes_base, routes_want, routes_got,
                                       routes_dump >= 0 ? routes_dump - (int) smp.routes_base : -1, smp.resyncs, settled);
        g_string_append_printf(s, "\"rate_settled\":%s,", rate_settled);
        g_string_append_printf(s,
                               "\"latency_ms\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
                               "\"init_rtt_ms_p50\":%.2f,\"auth_rtt_ms_p50\":%.2f,",
                               pct_ms(latencies_us, 50), pct_ms(latencies_us, 90), pct_ms(latencies_us, 99),
                               pct_ms(latencies_us, 100), pct_ms(init_rtts_us, 50), pct_ms(auth_rtts_us, 50));
        g_string_append_printf(s,
                               "\"mem\":{\"samples\":%u,\"pss_samples\":%u,\"sampler_cpu_s\":%.3f,"
                               "\"max_sample_ms\":%.1f,\"idle_pss_kb\":%" PRIu64 ",\"peak_pss_kb\":%" PRIu64
                               ",\"idle_rss_kb\":%" PRIu64 ",\"peak_rss_kb\":%" PRIu64 ",\"peak_at_s\":%.2f,"
                               "\"procs_at_peak\":%u,\"by_name\":{",
                               smp.samples, smp.pss_samples, secs(smp.cpu_ns), smp.max_sample_ns / 1e6, smp.idle_pss_kb,
                               smp.peak_pss_kb, smp.idle_rss_kb, smp.peak_rss_kb,
                               smp.peak_t && t_first_send ? secs(smp.peak_t - t_first_send) : 0.0, smp.peak_procs);
        for (guint i = 0; i < smp.by_name->len; i++) {
                const MemByName *m = &g_array_index(smp.by_name, MemByName, i);
                if (i)
                        g_string_append_c(s, ',');
                json_string(s, m->name);
                g_string_append_printf(s,
                                       ":{\"idle_pss_kb\":%" PRIu64 ",\"peak_pss_kb\":%" PRIu64 ",\"idle_rss_kb\":%" PRIu64
                                       ",\"peak_rss_kb\":%" PRIu64 "}",
                                       m->idle_pss_kb, m->peak_pss_kb, m->idle_rss_kb, m->peak_rss_kb);
        }
        g_string_append_printf(s, "},\"maps_at_end\":%s},", maps->str);
        g_string_free(maps, TRUE);
        g_string_append_printf(s, "\"cpu\":{\"wall_s\":%.3f,\"host_busy_cores\":%.2f,\"generator_s\":%.3f,\"procs\":",
                               secs(t_end - t0), (double) (host1 - host0) / hz / secs(t_end - t0), gen_cpu);
        cpu_json(s, cpu_before, cpu_after);
        g_string_append(s, "}}");
        puts(s->str);
        fflush(stdout);
        fprintf(stderr, "ike-load: %u of %u up in %.2f s (%.0f/s), %u failed, %u retransmissions\n", n_done, opt.count,
                t_ike, t_ike > 0 ? n_done / t_ike : 0, n_failed, total_retransmits);
        for (guint i = 0; i < causes->len; i++) {
                const Cause *c = &g_array_index(causes, Cause, i);
                fprintf(stderr, "ike-load:   %u x %s\n", c->n, c->text);
        }
        g_string_free(s, TRUE);
        cpu_free(cpu_before);
        cpu_free(cpu_after);
        bh_secret_free(psk);
        return n_failed ? 1 : 0;
}
