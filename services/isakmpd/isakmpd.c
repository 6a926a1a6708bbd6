/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <openssl/evp.h>

#include "frag.h"
#include "ike-sa.h"
#include "isakmpd.h"
#include "msg.h"
#include "secmem.h"
#include "tunnel.h"

/*
 * isakmpd: IKEv2 (RFC 7296) with pre-shared keys, IKE_SA_INIT and IKE_AUTH
 * with the first CHILD SA, INFORMATIONAL (Delete, liveness). Every key
 * operation is a call into cryptod on a handle: the exchange here only lays
 * out messages, chooses proposals and keeps the state machine.
 *
 * A step that needs cryptod sends its call and returns; the reply continues
 * the exchange. While a call is out the SA is busy and a datagram for it is
 * dropped: the peer retransmits.
 */

#define IKE_PORT 500
#define NATT_PORT 4500
/* Retransmission (RFC 7296 2.1): after 0.5 s, doubling up to 8 s, five
 * times; the exchange fails 8 s after the last, 23.5 s after the first
 * send, within the 30 s an operator's ike waits. */
#define RETRANSMIT_FIRST_MS 500
#define RETRANSMIT_MAX_MS 8000
#define RETRANSMIT_TRIES 5
/* A responder's IKE SA that does not complete IKE_AUTH in this time goes. */
#define HALF_OPEN_TIMEOUT_S 30
#define COOKIE_THRESHOLD_DEFAULT 10
/* IKE fragmentation (RFC 7383): the largest IP datagram of a message sent
 * after IKE_SA_INIT before it goes in fragments. 1280 passes every IPv6
 * path and nearly every IPv4 one (2.5.1). */
#define FRAGMENT_SIZE_DEFAULT 1280
#define FRAGMENT_SIZE_MIN 128
#define COOKIE_SECRET_LIFETIME_S 120
#define COOKIE_HASH_LEN 16      /* COOKIE: secret version, then this much of the HMAC */
#define NONESP_MARKER_LEN 4

typedef enum SaState {
        SA_INIT_SENT,           /* initiator: IKE_SA_INIT request out */
        SA_AUTH_SENT,           /* initiator: IKE_AUTH request out */
        SA_HALF_OPEN,           /* responder: IKE_SA_INIT answered */
        SA_ESTABLISHED,
        SA_DELETING,            /* our Delete is out */
        SA_DEAD,
} SaState;

static const char *const sa_state_names[] = {
        [SA_INIT_SENT] = "IKE_SA_INIT sent", [SA_AUTH_SENT] = "IKE_AUTH sent", [SA_HALF_OPEN] = "half-open",
        [SA_ESTABLISHED] = "established", [SA_DELETING] = "deleting", [SA_DEAD] = "dead",
};

typedef struct Endpoint {
        BhAddr addr;
        uint16_t port;
} Endpoint;

typedef struct Sa Sa;

struct Isakmpd {
        BhService *svc;
        int udp4, udp6, natt4, natt6;
        GSource *sources[4];
        GHashTable *sas;        /* our SPI -> Sa */
        GHashTable *tunnels;    /* tunnel name -> Sa (the tunnel's current IKE SA) */
        unsigned half_open;
        uint64_t dropped;
        /* COOKIEs (RFC 7296 2.6): asked for above cookie_threshold half-open
         * SAs; made with the current secret, the one before still accepted. */
        unsigned cookie_threshold;
        uint64_t cookies_sent;
        unsigned fragment_size;
        uint64_t fragments_sent, fragments_received;
        struct {
                uint8_t key[32];
                uint8_t version;
                gint64 since;           /* monotonic, microseconds */
        } cookie_secret[2];             /* [0] current, [1] the one before */
        GSequence *timers;      /* Timer, by when it is due */
        GHashTable *by_spi_i;   /* responder SAs by the initiator's SPI: a retransmitted IKE_SA_INIT */
        guint timer_source;     /* one GLib timeout, for the first of them */
};

struct Sa {
        Isakmpd *d;
        int refs;
        SaState state;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        BhTunnel *def;
        bool initiator;
        uint64_t spi_i, spi_r;
        Endpoint local, remote;
        bool natt;              /* IKE on 4500 with the non-ESP marker */
        bool nat;               /* a NAT was detected: ESP in UDP */
        uint64_t handle;        /* cryptod's; 0 = none */
        uint16_t group;
        bool ke_retried;
        BhProposal ike;         /* chosen (one transform per type) */
        BhProposal esp;
        BhIkeSuite suite;
        uint32_t child_spi_in, child_spi_out;
        IkeTsList tsi, tsr;     /* the CHILD SA's, as agreed */
        GBytes *our_init, *peer_init;   /* the IKE_SA_INIT messages */
        GBytes *peer_ke, *peer_nonce, *our_nonce;
        GBytes *cookie;
        uint32_t next_request;  /* message ID of our next request */
        uint32_t peer_request;  /* message ID the peer's next request has */
        GPtrArray *request;     /* of GBytes: our outstanding request (its fragments), for retransmission */
        unsigned tries;
        guint retransmit_timer;
        GPtrArray *response;    /* of GBytes: our last response (its fragments), for the peer's retransmission */
        bool frag;              /* both sides announced IKEV2_FRAGMENTATION_SUPPORTED */
        IkeFragBuf frags[2];    /* the peer's fragmented request [0] and response [1] being collected */
        GQueue frag_queue;      /* Queued: fragments that came while cryptod worked */
        struct FragSend *frag_sending;
        GSequenceIter *timeout;         /* timers of the isakmpd queue (timer_add) */
        unsigned busy;          /* cryptod calls out */
        bool up;                /* tmd was told TunnelUp */
        uint8_t ike_prop_num;   /* responder: the numbers of the peer's proposals chosen */
        uint8_t esp_prop_num;
        char *peer_id;          /* the peer's identity in words, once seen */
        char *failure;          /* responder: why an IKE_AUTH was refused, once answered */
        uint16_t refusal;       /* responder: the CHILD SA's refusal, sent once the peer's AUTH verified */
        /* CREATE_CHILD_SA: the CHILD SA on its way in, either side's */
        struct {
                bool active;            /* we asked: our request is out */
                bool answering;         /* the peer asked: our answer is being made */
                bool fresh;             /* a CHILD SA of its own, not a rekey (phase 2 again) */
                bool ke_retried;        /* asked again with the group of the peer's INVALID_KE_PAYLOAD */
                uint32_t xid;           /* cryptod's exchange */
                uint32_t msg_id;        /* the peer's request */
                uint32_t spi_in, spi_out;
                BhProposal esp;
                uint8_t esp_num;
                uint16_t group;
                GBytes *nonce, *ke;     /* ours */
                GBytes *peer_nonce, *peer_ke;
                IkeTsList tsi, tsr;     /* the peer asked: its TSi and TSr, narrowed */
        } rk;
        /* IKE SA rekey: the new SA on its way, either side's */
        struct {
                bool active;            /* we asked */
                bool answering;         /* the peer asked */
                uint64_t handle;        /* cryptod's handle of the new SA */
                uint64_t spi, peer_spi; /* the new SA's, ours and the peer's */
                BhProposal ike;
                uint8_t num;
                uint16_t group;
                uint32_t msg_id;
                GBytes *ke, *nonce, *peer_ke, *peer_nonce;
        } ik;
        bool superseded;        /* a rekey replaced this IKE SA: it only waits for its Delete */
        gint64 child_since;     /* when the current CHILD SA came (monotonic µs): its rekey is due from then */
        GSequenceIter *ike_rekey_timer;
        uint32_t old_spi_in, old_spi_out;       /* the CHILD SA a rekey replaced, until deleted */
        bool out_deferred;      /* filterd still sends on old_spi_out (we answered the rekey) */
        uint32_t delete_msg_id; /* the peer's Delete of the old CHILD SA, being answered */
        bool deleting_old;      /* our Delete of it is out */
        uint32_t delete_child;  /* the CHILD SA (our inbound SPI) removed by tmd, its Delete not yet sent */
        bool want_child;        /* tmd asked for phase 2 over this IKE SA: a new CHILD SA is to be made */
        uint16_t child_group;   /* the PFS group the peer asked for with INVALID_KE_PAYLOAD; 0: our first */
        GSequenceIter *delete_timer;
        GSequenceIter *ike_delete_timer;        /* a superseded SA's Delete, waiting for cryptod */
        GSequenceIter *rekey_timer, *dpd_timer;
        struct SealCtx *sealing;        /* a protected message cryptod is sealing */
        struct Opening *opening;        /* a protected message cryptod is opening */
};

/* ---------------------------------------------------------------- helpers */

typedef struct Opening Opening;
static void opening_free(Opening *op);

static void ike_rekey_clear(Sa *sa) {
        g_clear_pointer(&sa->ik.ke, g_bytes_unref);
        g_clear_pointer(&sa->ik.nonce, g_bytes_unref);
        g_clear_pointer(&sa->ik.peer_ke, g_bytes_unref);
        g_clear_pointer(&sa->ik.peer_nonce, g_bytes_unref);
        sa->ik.active = sa->ik.answering = false;
        sa->ik.handle = 0;
}

static void rekey_clear(Sa *sa) {
        g_clear_pointer(&sa->rk.nonce, g_bytes_unref);
        g_clear_pointer(&sa->rk.ke, g_bytes_unref);
        g_clear_pointer(&sa->rk.peer_nonce, g_bytes_unref);
        g_clear_pointer(&sa->rk.peer_ke, g_bytes_unref);
        sa->rk.active = sa->rk.answering = sa->rk.fresh = sa->rk.ke_retried = false;
}

/*
 * The timers of the IKE SAs (rekeys, liveness checks, the half-open
 * timeout) wait in one queue ordered by when they are due, behind one GLib
 * timeout for the first: GLib walks every source of its loop at every turn,
 * which costs in proportion to the SAs when each has sources of its own. A
 * timer is cancelled through the handle timer_add returned; its function
 * runs once, after the timer has left the queue.
 */
typedef struct Timer {
        gint64 due;             /* monotonic µs */
        GSourceFunc func;
        void *data;
} Timer;

static gint timer_compare(gconstpointer a, gconstpointer b, gpointer userdata) {
        const Timer *x = a, *y = b;
        return x->due < y->due ? -1 : x->due > y->due;
}

static gboolean timers_fire(gpointer userdata);

static void timers_arm(Isakmpd *d) {
        if (d->timer_source) {
                g_source_remove(d->timer_source);
                d->timer_source = 0;
        }
        if (g_sequence_is_empty(d->timers))
                return;
        const Timer *first = g_sequence_get(g_sequence_get_begin_iter(d->timers));
        gint64 wait = first->due - g_get_monotonic_time();
        gint64 ms = wait <= 0 ? 0 : (wait + 999) / 1000;
        d->timer_source = g_timeout_add((guint) MIN(ms, (gint64) G_MAXUINT), timers_fire, d);
}

static gboolean timers_fire(gpointer userdata) {
        Isakmpd *d = userdata;
        d->timer_source = 0;
        gint64 now = g_get_monotonic_time();
        while (!g_sequence_is_empty(d->timers)) {
                GSequenceIter *it = g_sequence_get_begin_iter(d->timers);
                Timer t = *(const Timer *) g_sequence_get(it);
                if (t.due > now)
                        break;
                g_sequence_remove(it);
                t.func(t.data);
        }
        timers_arm(d);
        return G_SOURCE_REMOVE;
}

static GSequenceIter *timer_add(Isakmpd *d, gint64 ms, GSourceFunc func, void *data) {
        Timer *t = g_new(Timer, 1);
        t->due = g_get_monotonic_time() + ms * 1000;
        t->func = func;
        t->data = data;
        GSequenceIter *it = g_sequence_insert_sorted(d->timers, t, timer_compare, NULL);
        if (g_sequence_iter_is_begin(it))
                timers_arm(d);
        return it;
}

static void timer_cancel(Isakmpd *d, GSequenceIter **it) {
        if (!*it)
                return;
        bool first = g_sequence_iter_is_begin(*it);
        g_sequence_remove(*it);
        *it = NULL;
        if (first)
                timers_arm(d);
}

static Sa *sa_ref(Sa *sa) {
        sa->refs++;
        return sa;
}

static void queued_clear(Sa *sa);
static void drain_fragments(Sa *sa);
static void frag_send_free(struct FragSend *fs);

static void sa_unref(Sa *sa) {
        if (!sa || --sa->refs > 0)
                return;
        bh_tunnel_free(sa->def);
        g_clear_pointer(&sa->our_init, g_bytes_unref);
        g_clear_pointer(&sa->peer_init, g_bytes_unref);
        g_clear_pointer(&sa->peer_ke, g_bytes_unref);
        g_clear_pointer(&sa->peer_nonce, g_bytes_unref);
        g_clear_pointer(&sa->our_nonce, g_bytes_unref);
        g_clear_pointer(&sa->cookie, g_bytes_unref);
        g_clear_pointer(&sa->request, g_ptr_array_unref);
        g_clear_pointer(&sa->response, g_ptr_array_unref);
        ike_frag_clear(&sa->frags[0]);
        ike_frag_clear(&sa->frags[1]);
        queued_clear(sa);
        frag_send_free(sa->frag_sending);
        rekey_clear(sa);
        ike_rekey_clear(sa);
        g_free(sa->sealing);
        opening_free(sa->opening);
        g_free(sa->peer_id);
        g_free(sa->failure);
        g_free(sa);
}

static uint64_t sa_local_spi(const Sa *sa) {
        return sa->initiator ? sa->spi_i : sa->spi_r;
}

/* SPIs from the kernel's generator (the sandbox allows getrandom, not
 * opening /dev/urandom). */
static void random_bytes(void *buf, size_t len) {
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = getrandom(p, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        g_error("getrandom: %s", g_strerror(errno));
                }
                p += n;
                len -= (size_t) n;
        }
}

static uint64_t random_spi(void) {
        uint64_t v = 0;
        while (v == 0)
                random_bytes(&v, sizeof v);
        return v;
}

static const char *endpoint_string(const Endpoint *e, char *buf, size_t size) {
        char a[BH_ADDR_STRLEN];
        bh_addr_to_string(&e->addr, a);
        g_snprintf(buf, size, e->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, e->port);
        return buf;
}

static const BhProposalTransform *find_type(const BhProposal *p, uint8_t type) {
        for (unsigned i = 0; i < p->n; i++)
                if (p->t[i].type == type)
                        return &p->t[i];
        return NULL;
}

static uint16_t transform_id(const BhProposal *p, uint8_t type) {
        const BhProposalTransform *t = find_type(p, type);
        return t ? t->id : 0;
}

static bool has_transform(const BhProposal *p, const BhProposalTransform *t) {
        for (unsigned i = 0; i < p->n; i++)
                if (p->t[i].type == t->type && p->t[i].id == t->id && p->t[i].key_bits == t->key_bits)
                        return true;
        return false;
}

/*
 * The first of our proposals (in our order of preference) that one of the
 * peer's proposals can meet: for every transform type either side names,
 * our first alternative the peer also offers. *ret holds one transform per
 * type; *ret_index the peer's proposal. A type the peer names and we do
 * not (a D-H group in an ESP proposal: PFS) fails that pair.
 */
static bool choose(const BhProposal *ours, size_t n_ours, const IkeSa *peer, BhProposal *ret, size_t *ret_index) {
        for (size_t o = 0; o < n_ours; o++) {
                for (size_t p = 0; p < peer->n; p++) {
                        const IkeProposal *pp = &peer->prop[p];
                        if (pp->verdict != IKE_OK || pp->proto != ours[o].proto)
                                continue;
                        BhProposal r = { .proto = ours[o].proto };
                        bool ok = true;
                        /* Types in our order (the canonical one), each once. */
                        for (unsigned i = 0; ok && i < ours[o].n; i++) {
                                uint8_t type = ours[o].t[i].type;
                                if (find_type(&r, type))
                                        continue;
                                ok = false;
                                for (unsigned k = i; k < ours[o].n && !ok; k++)
                                        if (ours[o].t[k].type == type && has_transform(&pp->p, &ours[o].t[k])) {
                                                r.t[r.n++] = ours[o].t[k];
                                                ok = true;
                                        }
                        }
                        for (unsigned i = 0; ok && i < pp->p.n; i++)
                                ok = find_type(&r, pp->p.t[i].type) != NULL;
                        if (ok) {
                                *ret = r;
                                *ret_index = p;
                                return true;
                        }
                }
        }
        return false;
}

static BhIkeSuite suite_of(const BhProposal *p) {
        const BhProposalTransform *e = find_type(p, BH_TRANSFORM_ENCR);
        return (BhIkeSuite){ .encr = e ? e->id : 0, .encr_bits = e ? e->key_bits : 0,
                             .prf = transform_id(p, BH_TRANSFORM_PRF), .integ = transform_id(p, BH_TRANSFORM_INTEG),
                             .dh = transform_id(p, BH_TRANSFORM_DH) };
}

/* RFC 7296 2.23: SHA-1(SPIi | SPIr | IP | port). */
static void natd_hash(uint64_t spi_i, uint64_t spi_r, const Endpoint *e, uint8_t out[IKE_NATD_HASH_LEN]) {
        uint8_t buf[8 + 8 + 16 + 2];
        size_t n = 0;
        for (int i = 7; i >= 0; i--)
                buf[n++] = (uint8_t) (spi_i >> (8 * i));
        for (int i = 7; i >= 0; i--)
                buf[n++] = (uint8_t) (spi_r >> (8 * i));
        size_t alen = bh_addr_len(e->addr.family);
        memcpy(buf + n, e->addr.bytes, alen);
        n += alen;
        buf[n++] = (uint8_t) (e->port >> 8);
        buf[n++] = (uint8_t) e->port;
        unsigned len = 0;
        uint8_t md[EVP_MAX_MD_SIZE];
        EVP_Digest(buf, n, md, &len, EVP_sha1(), NULL);
        memcpy(out, md, IKE_NATD_HASH_LEN);
}

/* The ID payload body (ID Type, three reserved octets, data) of an identity. */
static GBytes *id_body(const BhIdentity *id, const Endpoint *fallback) {
        uint8_t buf[4 + BH_IDENTITY_MAX];
        memset(buf, 0, 4);
        size_t len;
        if (id->type == BH_ID_ANY) {
                buf[0] = fallback->addr.family == AF_INET6 ? IKE_ID_IPV6_ADDR : IKE_ID_IPV4_ADDR;
                len = bh_addr_len(fallback->addr.family);
                memcpy(buf + 4, fallback->addr.bytes, len);
        } else {
                buf[0] = (uint8_t) id->type;
                len = id->len;
                memcpy(buf + 4, id->data, len);
        }
        return g_bytes_new(buf, 4 + len);
}

static bool id_matches(const BhIdentity *want, const IkeId *got) {
        if (want->type == BH_ID_ANY)
                return true;
        return got->type == (uint8_t) want->type && got->len == want->len && memcmp(got->data, want->data, got->len) == 0;
}

static char *id_describe(const IkeId *id) {
        if (id->type == IKE_ID_IPV4_ADDR || id->type == IKE_ID_IPV6_ADDR) {
                BhAddr a = { .family = id->type == IKE_ID_IPV4_ADDR ? AF_INET : AF_INET6 };
                char buf[BH_ADDR_STRLEN];
                memcpy(a.bytes, id->data, id->len);
                return g_strdup_printf("%s:%s", id->type == IKE_ID_IPV4_ADDR ? "ipv4" : "ipv6", bh_addr_to_string(&a, buf));
        }
        if (id->type == IKE_ID_FQDN || id->type == IKE_ID_RFC822_ADDR) {
                g_autofree char *text = g_strndup((const char *) id->data, id->len);
                for (char *c = text; *c; c++)
                        if (!g_ascii_isprint(*c))
                                *c = '?';
                return g_strdup_printf("%s:%s", id->type == IKE_ID_FQDN ? "fqdn" : "email", text);
        }
        return g_strdup_printf("%s (%zu octets)", ike_id_type_name(id->type), id->len);
}

/* Selectors: the part of a that b also covers; false when nothing. */
static bool ts_intersect(const IkeTs *a, const IkeTs *b, IkeTs *ret) {
        if (a->type != b->type || (a->proto && b->proto && a->proto != b->proto))
                return false;
        size_t alen = a->type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;
        IkeTs r = *a;
        r.proto = a->proto ? a->proto : b->proto;
        r.port_start = MAX(a->port_start, b->port_start);
        r.port_end = MIN(a->port_end, b->port_end);
        if (memcmp(b->start, a->start, alen) > 0)
                memcpy(r.start, b->start, alen);
        if (memcmp(b->end, a->end, alen) < 0)
                memcpy(r.end, b->end, alen);
        if (r.port_start > r.port_end || memcmp(r.start, r.end, alen) > 0)
                return false;
        *ret = r;
        return true;
}

/* What the peer proposed, narrowed to what the definition allows (2.9). */
static void ts_narrow(const IkeTsList *proposed, const BhTs *allowed, size_t n_allowed, IkeTsList *ret) {
        ret->n = 0;
        for (size_t i = 0; i < proposed->n; i++)
                for (size_t j = 0; j < n_allowed && ret->n < IKE_TS_MAX; j++) {
                        IkeTs mine;
                        if (ike_ts_from_bh(&allowed[j], &mine) == 0 &&
                            ts_intersect(&proposed->ts[i], &mine, &ret->ts[ret->n]))
                                ret->n++;
                }
}

static void ts_from_def(const BhTs *ts, size_t n, IkeTsList *ret) {
        ret->n = 0;
        for (size_t i = 0; i < n && ret->n < IKE_TS_MAX; i++)
                if (ike_ts_from_bh(&ts[i], &ret->ts[ret->n]) == 0)
                        ret->n++;
}

/* ---------------------------------------------------------------- sending */

static int socket_for(Isakmpd *d, int family, bool natt) {
        if (family == AF_INET6)
                return natt ? d->natt6 : d->udp6;
        return natt ? d->natt4 : d->udp4;
}

/* One datagram from local to remote, with the non-ESP marker on 4500. */
static void send_datagram(Isakmpd *d, const Endpoint *local, const Endpoint *remote, bool natt, const uint8_t *msg,
                          size_t len) {
        int fd = socket_for(d, remote->addr.family, natt);
        if (fd < 0) {
                bh_log_error("no %s socket for %s", natt ? "UDP 4500" : "UDP 500", bh_family_name(remote->addr.family));
                return;
        }
        static const uint8_t marker[NONESP_MARKER_LEN];
        struct iovec iov[2];
        int n = 0;
        if (natt)
                iov[n++] = (struct iovec){ (void *) marker, sizeof marker };
        iov[n++] = (struct iovec){ (void *) msg, len };
        union {
                struct sockaddr_in v4;
                struct sockaddr_in6 v6;
        } to = { 0 };
        union {
                char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
                struct cmsghdr align;
        } control = { 0 };
        struct msghdr mh = { .msg_name = &to, .msg_iov = iov, .msg_iovlen = (size_t) n, .msg_control = control.buf };
        struct cmsghdr *cm = (struct cmsghdr *) control.buf;
        if (remote->addr.family == AF_INET) {
                to.v4.sin_family = AF_INET;
                to.v4.sin_port = htons(remote->port);
                memcpy(&to.v4.sin_addr, remote->addr.bytes, 4);
                mh.msg_namelen = sizeof to.v4;
                struct in_pktinfo pi = { 0 };
                memcpy(&pi.ipi_spec_dst, local->addr.bytes, 4);
                cm->cmsg_level = IPPROTO_IP;
                cm->cmsg_type = IP_PKTINFO;
                cm->cmsg_len = CMSG_LEN(sizeof pi);
                memcpy(CMSG_DATA(cm), &pi, sizeof pi);
                mh.msg_controllen = CMSG_SPACE(sizeof pi);
        } else {
                to.v6.sin6_family = AF_INET6;
                to.v6.sin6_port = htons(remote->port);
                memcpy(&to.v6.sin6_addr, remote->addr.bytes, 16);
                mh.msg_namelen = sizeof to.v6;
                struct in6_pktinfo pi = { 0 };
                memcpy(&pi.ipi6_addr, local->addr.bytes, 16);
                cm->cmsg_level = IPPROTO_IPV6;
                cm->cmsg_type = IPV6_PKTINFO;
                cm->cmsg_len = CMSG_LEN(sizeof pi);
                memcpy(CMSG_DATA(cm), &pi, sizeof pi);
                mh.msg_controllen = CMSG_SPACE(sizeof pi);
        }
        if (local->addr.family == AF_UNSPEC)
                mh.msg_controllen = 0;
        if (sendmsg(fd, &mh, 0) < 0) {
                char buf[64];
                bh_log_info("sending to %s: %s", endpoint_string(remote, buf, sizeof buf), g_strerror(errno));
        }
}

/* A message as it goes out: one datagram, or its fragments in order. */
static GPtrArray *datagrams_of(GBytes *one) {
        GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        g_ptr_array_add(a, one);
        return a;
}

static void sa_send(Sa *sa, GPtrArray *msg) {
        for (guint i = 0; i < msg->len; i++) {
                gsize len;
                const uint8_t *data = g_bytes_get_data(g_ptr_array_index(msg, i), &len);
                send_datagram(sa->d, &sa->local, &sa->remote, sa->natt, data, len);
        }
}

static void sa_fail(Sa *sa, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void sa_established(Sa *sa);
static void sa_delete(Sa *sa, bool tell_peer);

static gboolean retransmit(gpointer userdata) {
        Sa *sa = userdata;
        if (!sa->request) {
                sa->retransmit_timer = 0;
                return G_SOURCE_REMOVE;
        }
        if (++sa->tries > RETRANSMIT_TRIES) {
                sa->retransmit_timer = 0;
                if (sa->state == SA_DELETING) {
                        sa_delete(sa, false);
                } else {
                        sa_fail(sa, "no answer from the peer after %u retransmissions (%s)", RETRANSMIT_TRIES,
                                sa->state == SA_ESTABLISHED ? "dead peer detection" : sa_state_names[sa->state]);
                }
                return G_SOURCE_REMOVE;
        }
        bh_log_tunnel(BH_LOG_DEBUG, sa->tunnel, "retransmitting (%u of %u)", sa->tries, RETRANSMIT_TRIES);
        sa_send(sa, sa->request);
        sa->retransmit_timer = g_timeout_add(MIN(RETRANSMIT_FIRST_MS << sa->tries, RETRANSMIT_MAX_MS), retransmit, sa);
        return G_SOURCE_REMOVE;
}

/* Sends a request and keeps it until the answer comes. */
static void sa_request(Sa *sa, GPtrArray *msg) {
        g_clear_pointer(&sa->request, g_ptr_array_unref);
        if (sa->retransmit_timer)
                g_source_remove(sa->retransmit_timer);
        sa->request = msg;
        sa->tries = 0;
        sa_send(sa, msg);
        sa->retransmit_timer = g_timeout_add(RETRANSMIT_FIRST_MS, retransmit, sa);
}

static void sa_answered(Sa *sa) {
        g_clear_pointer(&sa->request, g_ptr_array_unref);
        if (sa->retransmit_timer) {
                g_source_remove(sa->retransmit_timer);
                sa->retransmit_timer = 0;
        }
}

static void sa_respond(Sa *sa, GPtrArray *msg) {
        g_clear_pointer(&sa->response, g_ptr_array_unref);
        sa->response = msg;
        sa_send(sa, msg);
}

/* ---------------------------------------------------------------- tmd, cryptod */

static DBusMessage *tmd_method(const char *member, const char *tunnel) {
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_TMD, &bh_iface_tmd1, member);
        dbus_message_append_args(m, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_INVALID);
        return m;
}

/* TunnelDown or NegotiationFailed: the tunnel and the cause in words. */
static void tell_tmd(Sa *sa, const char *member, const char *cause) {
        DBusMessage *m = tmd_method(member, sa->tunnel);
        dbus_message_append_args(m, DBUS_TYPE_STRING, &cause, DBUS_TYPE_INVALID);
        bh_ipc_call(sa->d->svc->ipc, BH_SERVICE_TMD, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
        dbus_message_unref(m);
}

static void tell_down(Sa *sa, const char *cause) {
        tell_tmd(sa, "TunnelDown", cause);
}

/* The CHILD SA alone ended or could not be made: the IKE SA stays. */
static void tell_child_down(Sa *sa, const char *cause) {
        tell_tmd(sa, "ChildDown", cause);
}

static void add_info(DBusMessageIter *arr, const char *key, const char *value) {
        DBusMessageIter e;
        dbus_message_iter_open_container(arr, DBUS_TYPE_DICT_ENTRY, NULL, &e);
        dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key);
        dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &value);
        dbus_message_iter_close_container(arr, &e);
}

static void tell_up(Sa *sa, const char *remote_id) {
        DBusMessage *m = tmd_method("TunnelUp", sa->tunnel);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{ss}", &arr);
        g_autofree char *ike = bh_proposal_to_string(&sa->ike), *esp = bh_proposal_to_string(&sa->esp);
        g_autofree char *spis = g_strdup_printf("%016" G_GINT64_MODIFIER "x_i %016" G_GINT64_MODIFIER "x_r",
                                                (guint64) sa->spi_i, (guint64) sa->spi_r);
        g_autofree char *in = g_strdup_printf("%08x", sa->child_spi_in), *out = g_strdup_printf("%08x", sa->child_spi_out);
        char l[64], r[64];
        add_info(&arr, "role", sa->initiator ? "initiator" : "responder");
        add_info(&arr, "ike_proposal", ike);
        add_info(&arr, "ike_spis", spis);
        /* Without these, phase 1 alone is up (its CHILD SA was removed). */
        if (sa->child_spi_in) {
                add_info(&arr, "esp_proposal", esp);
                add_info(&arr, "esp_spi_in", in);
                add_info(&arr, "esp_spi_out", out);
        }
        add_info(&arr, "local_endpoint", endpoint_string(&sa->local, l, sizeof l));
        add_info(&arr, "remote_endpoint", endpoint_string(&sa->remote, r, sizeof r));
        add_info(&arr, "remote_id", remote_id);
        add_info(&arr, "encap", sa->nat || sa->def->encap == BH_ENCAP_UDP ? "udp" : "esp");
        add_info(&arr, "nat", sa->nat ? "detected" : "none");
        add_info(&arr, "fragmentation", sa->frag ? "yes" : "no");
        dbus_message_iter_close_container(&it, &arr);
        bh_ipc_call(sa->d->svc->ipc, BH_SERVICE_TMD, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
        dbus_message_unref(m);
        sa->up = true;
}

typedef void (*CryptoReply)(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message);

typedef struct CryptoCall {
        Sa *sa;
        CryptoReply func;
} CryptoCall;

static void crypto_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        CryptoCall *cc = userdata;
        Sa *sa = cc->sa;
        sa->busy--;
        if (sa->state != SA_DEAD)
                cc->func(sa, reply, error_name, error_message);
        if (!sa->busy)
                drain_fragments(sa);
        sa_unref(sa);
        g_free(cc);
}

static DBusMessage *crypto_method(const char *member) {
        return bh_method_new_peer(BH_SERVICE_CRYPTOD, &bh_iface_crypto1, member);
}

/* IkeFree, answer unheard: cryptod wipes the handle's keys. */
static void free_handle(Isakmpd *d, uint64_t *handle) {
        if (!*handle)
                return;
        DBusMessage *m = crypto_method("IkeFree");
        dbus_uint64_t h = *handle;
        dbus_message_append_args(m, DBUS_TYPE_UINT64, &h, DBUS_TYPE_INVALID);
        bh_ipc_call(d->svc->ipc, BH_SERVICE_CRYPTOD, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
        dbus_message_unref(m);
        *handle = 0;
}

/* The negotiated IKE SA transforms, as IkeDerive, IkeNewDerive and IkeRekeyDerive take them. */
static void append_suite(DBusMessageIter *it, const BhIkeSuite *s) {
        DBusMessageIter st;
        dbus_uint16_t v[5] = { s->encr, s->encr_bits, s->prf, s->integ, s->dh };
        dbus_message_iter_open_container(it, DBUS_TYPE_STRUCT, NULL, &st);
        for (int k = 0; k < 5; k++)
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &v[k]);
        dbus_message_iter_close_container(it, &st);
}

static void crypto_call(Sa *sa, DBusMessage *m, CryptoReply func) {
        CryptoCall *cc = g_new0(CryptoCall, 1);
        cc->sa = sa_ref(sa);
        cc->func = func;
        sa->busy++;
        bh_ipc_call(sa->d->svc->ipc, BH_SERVICE_CRYPTOD, m, BH_CALL_TIMEOUT_MS, crypto_reply, cc);
        dbus_message_unref(m);
}

static void append_bytes(DBusMessageIter *it, const void *data, size_t len) {
        DBusMessageIter arr;
        const uint8_t *p = data;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &arr);
        dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &p, (int) len);
        dbus_message_iter_close_container(it, &arr);
}

static void append_gbytes(DBusMessageIter *it, GBytes *b) {
        gsize len;
        const void *data = g_bytes_get_data(b, &len);
        append_bytes(it, data, len);
}

static GBytes *read_bytes(DBusMessageIter *it) {
        DBusMessageIter arr;
        const uint8_t *data;
        int n = 0;
        dbus_message_iter_recurse(it, &arr);
        dbus_message_iter_get_fixed_array(&arr, &data, &n);
        dbus_message_iter_next(it);
        return g_bytes_new(data, (gsize) n);
}

static DBusMessage *handle_method(Sa *sa, const char *member, DBusMessageIter *it) {
        DBusMessage *m = crypto_method(member);
        dbus_uint64_t h = sa->handle;
        dbus_message_iter_init_append(m, it);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT64, &h);
        return m;
}

/* ---------------------------------------------------------------- SA life */

static Sa *sa_new(Isakmpd *d, const BhTunnel *def, bool initiator) {
        Sa *sa = g_new0(Sa, 1);
        sa->d = d;
        sa->refs = 1;
        sa->def = bh_tunnel_copy(def);
        g_strlcpy(sa->tunnel, def->name, sizeof sa->tunnel);
        sa->initiator = initiator;
        return sa;
}

/* The SA becomes its tunnel's IKE SA; one it replaces is deleted. */
static void sa_make_current(Sa *sa) {
        Isakmpd *d = sa->d;
        Sa *old = g_hash_table_lookup(d->tunnels, sa->tunnel);
        if (old == sa)
                return;
        if (old && !old->superseded)
                sa_delete(old, true);
        g_hash_table_insert(d->tunnels, g_strdup(sa->tunnel), sa_ref(sa));
}

/* Known by its SPI. An initiator's SA is its tunnel's at once; a
 * responder's only once the peer has authenticated (sa_make_current): an
 * IKE_SA_INIT anyone can send must not touch the tunnel's IKE SA. */
static void sa_register(Sa *sa) {
        Isakmpd *d = sa->d;
        uint64_t *key = g_new(uint64_t, 1);
        *key = sa_local_spi(sa);
        g_hash_table_insert(d->sas, key, sa_ref(sa));
        if (sa->initiator)
                sa_make_current(sa);
}

static bool sa_is_current(const Sa *sa) {
        return g_hash_table_lookup(sa->d->tunnels, sa->tunnel) == sa;
}

/* Ends an SA here: timers, cryptod's keys, the tables. */
static void sa_drop(Sa *sa) {
        Isakmpd *d = sa->d;
        if (sa->state == SA_DEAD)
                return;
        if (sa->state == SA_HALF_OPEN && d->half_open > 0)
                d->half_open--;
        sa->state = SA_DEAD;
        sa_answered(sa);
        timer_cancel(sa->d, &sa->timeout);
        timer_cancel(sa->d, &sa->rekey_timer);
        timer_cancel(sa->d, &sa->dpd_timer);
        timer_cancel(sa->d, &sa->ike_rekey_timer);
        timer_cancel(sa->d, &sa->delete_timer);
        timer_cancel(sa->d, &sa->ike_delete_timer);
        free_handle(d, &sa->ik.handle);        /* a rekey that did not finish */
        free_handle(d, &sa->handle);
        sa_ref(sa);
        if (!sa->initiator && g_hash_table_lookup(d->by_spi_i, &sa->spi_i) == sa)
                g_hash_table_remove(d->by_spi_i, &sa->spi_i);
        if (g_hash_table_lookup(d->tunnels, sa->tunnel) == sa)
                g_hash_table_remove(d->tunnels, sa->tunnel);
        uint64_t spi = sa_local_spi(sa);
        if (spi && g_hash_table_lookup(d->sas, &spi) == sa)
                g_hash_table_remove(d->sas, &spi);
        sa_unref(sa);
}

static void sa_fail(Sa *sa, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_autofree char *why = g_strdup_vprintf(format, ap);
        va_end(ap);
        bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE SA %016" G_GINT64_MODIFIER "x failed: %s", (guint64) sa->spi_i, why);
        /* The tunnel's own IKE SA going down takes the tunnel down; a
         * responder's attempt that failed before it authenticated is only
         * recorded, whatever the tunnel's state. */
        if (sa_is_current(sa))
                tell_down(sa, why);
        else
                tell_tmd(sa, "NegotiationFailed", why);
        sa_drop(sa);
}

/* ---------------------------------------------------------------- building */

#define MSG_BUF 8192

static IkeHeader header_for(Sa *sa, uint8_t exchange, bool response, uint32_t msg_id) {
        IkeHeader h = { .spi_i = sa->spi_i, .spi_r = sa->spi_r, .major = 2, .minor = 0, .exchange = exchange,
                        .msg_id = msg_id };
        h.flags = (sa->initiator ? IKE_FLAG_INITIATOR : 0) | (response ? IKE_FLAG_RESPONSE : 0);
        return h;
}

typedef void (*AfterSend)(Sa *sa);

static void sealed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message);

/* A protected message on its way: cryptod seals the inner payloads, then
 * it goes out as a request or a response. */
typedef struct SealCtx {
        uint8_t buf[MSG_BUF];
        size_t len, body_off, body_len;
        bool response;
        AfterSend then;
} SealCtx;

static void send_fragments(Sa *sa, uint8_t exchange, bool response, uint32_t msg_id, uint8_t first,
                           const uint8_t *plain, size_t plain_len, AfterSend then);

/* The IP datagram that carries an IKE message of len octets to the peer. */
static size_t datagram_len(const Sa *sa, size_t len) {
        return len + (sa->remote.addr.family == AF_INET6 ? 40 : 20) + 8 + (sa->natt ? NONESP_MARKER_LEN : 0);
}

/* Lays out header and SK around the inner chain and asks cryptod to seal;
 * a message too large for one datagram goes in fragments when the peer
 * takes them. */
static void send_protected(Sa *sa, uint8_t exchange, bool response, uint32_t msg_id, IkeBuilder *inner,
                           AfterSend then) {
        size_t plain_len;
        if (ike_build_finish(inner, &plain_len) < 0) {
                sa_fail(sa, "cannot build the %s message", ike_exchange_name(exchange));
                return;
        }
        size_t whole = IKE_HEADER_LEN + IKE_PAYLOAD_HEADER_LEN + bh_ike_sk_body_len(&sa->suite, plain_len);
        if (sa->frag && datagram_len(sa, whole) > sa->d->fragment_size) {
                send_fragments(sa, exchange, response, msg_id, ike_builder_first_type(inner), inner->buf, plain_len,
                               then);
                return;
        }
        SealCtx *sc = g_new0(SealCtx, 1);
        size_t body_len = bh_ike_sk_body_len(&sa->suite, plain_len);
        IkeBuilder b;
        IkeHeader h = header_for(sa, exchange, response, msg_id);
        uint8_t *body;
        size_t aad_len;
        ike_builder_init(&b, sc->buf, sizeof sc->buf);
        ike_build_header(&b, &h);
        ike_build_sk(&b, ike_builder_first_type(inner), body_len, 0, 0, &body, &aad_len);
        if (ike_build_finish(&b, &sc->len) < 0) {
                g_free(sc);
                sa_fail(sa, "the %s message does not fit", ike_exchange_name(exchange));
                return;
        }
        sc->body_off = (size_t) (body - sc->buf);
        sc->body_len = body_len;
        sc->response = response;
        sc->then = then;
        g_free(sa->sealing);
        sa->sealing = sc;
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeSeal", &it);
        append_bytes(&it, sc->buf, aad_len);
        append_bytes(&it, inner->buf, plain_len);
        crypto_call(sa, m, sealed);
}

static void sealed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        g_autofree SealCtx *sc = g_steal_pointer(&sa->sealing);
        if (!sc)
                return;
        if (!reply) {
                sa_fail(sa, "cryptod could not seal: %s", error_message);
                return;
        }
        DBusMessageIter it;
        dbus_message_iter_init(reply, &it);
        g_autoptr(GBytes) body = read_bytes(&it);
        if (g_bytes_get_size(body) != sc->body_len) {
                sa_fail(sa, "cryptod sealed %zu octets, %zu expected", g_bytes_get_size(body), sc->body_len);
                return;
        }
        memcpy(sc->buf + sc->body_off, g_bytes_get_data(body, NULL), sc->body_len);
        GPtrArray *msg = datagrams_of(g_bytes_new(sc->buf, sc->len));
        AfterSend then = sc->then;
        bool response = sc->response;
        if (response)
                sa_respond(sa, msg);
        else
                sa_request(sa, msg);
        if (then)
                then(sa);
}

/* A message in fragments (RFC 7383 2.5): each an SKF payload of its own,
 * sealed by cryptod in turn with the fragment's header as associated data;
 * once all are sealed they go out together, and are kept together for
 * retransmission. */
typedef struct FragSend {
        uint8_t exchange, first;
        bool response;
        uint32_t msg_id;
        AfterSend then;
        uint8_t plain[MSG_BUF];
        size_t plain_len, per, total, number;   /* number: the fragment being sealed, from 1 */
        GPtrArray *out;
        uint8_t buf[MSG_BUF];
        size_t len, body_off, body_len;
} FragSend;

static void frag_send_free(FragSend *fs) {
        if (!fs)
                return;
        g_ptr_array_unref(fs->out);
        g_free(fs);
}

static void fragment_sealed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message);

static void seal_fragment(Sa *sa, FragSend *fs) {
        size_t off, len;
        ike_frag_piece(fs->plain_len, fs->per, fs->number, &off, &len);
        IkeBuilder b;
        IkeHeader h = header_for(sa, fs->exchange, fs->response, fs->msg_id);
        uint8_t *body;
        size_t aad_len;
        fs->body_len = bh_ike_sk_body_len(&sa->suite, len);
        ike_builder_init(&b, fs->buf, sizeof fs->buf);
        ike_build_header(&b, &h);
        /* Only the first fragment names the first inner payload (2.5). */
        ike_build_sk(&b, fs->number == 1 ? fs->first : 0, fs->body_len, (uint16_t) fs->number, (uint16_t) fs->total,
                     &body, &aad_len);
        if (ike_build_finish(&b, &fs->len) < 0) {
                size_t number = fs->number;
                frag_send_free(fs);
                sa_fail(sa, "cannot build fragment %zu of the %s message", number, ike_exchange_name(h.exchange));
                return;
        }
        fs->body_off = (size_t) (body - fs->buf);
        if (sa->frag_sending != fs)
                frag_send_free(sa->frag_sending);
        sa->frag_sending = fs;
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeSeal", &it);
        append_bytes(&it, fs->buf, aad_len);
        append_bytes(&it, fs->plain + off, len);
        crypto_call(sa, m, fragment_sealed);
}

static void fragment_sealed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        FragSend *fs = g_steal_pointer(&sa->frag_sending);
        if (!fs)
                return;
        DBusMessageIter it;
        g_autoptr(GBytes) body = NULL;
        if (reply) {
                dbus_message_iter_init(reply, &it);
                body = read_bytes(&it);
        }
        if (!reply || g_bytes_get_size(body) != fs->body_len) {
                frag_send_free(fs);
                sa_fail(sa, "cryptod could not seal a fragment: %s", reply ? "wrong length" : error_message);
                return;
        }
        memcpy(fs->buf + fs->body_off, g_bytes_get_data(body, NULL), fs->body_len);
        g_ptr_array_add(fs->out, g_bytes_new(fs->buf, fs->len));
        if (fs->number < fs->total) {
                fs->number++;
                seal_fragment(sa, fs);
                return;
        }
        sa->d->fragments_sent += fs->total;
        bh_log_tunnel(BH_LOG_DEBUG, sa->tunnel, "%s %s sent in %zu fragments", ike_exchange_name(fs->exchange),
                      fs->response ? "response" : "request", fs->total);
        AfterSend then = fs->then;
        if (fs->response)
                sa_respond(sa, fs->out);
        else
                sa_request(sa, fs->out);
        g_free(fs);
        if (then)
                then(sa);
}

static void send_fragments(Sa *sa, uint8_t exchange, bool response, uint32_t msg_id, uint8_t first,
                           const uint8_t *plain, size_t plain_len, AfterSend then) {
        /* The most plaintext a fragment can carry within fragment_size. */
        size_t overhead = datagram_len(sa, IKE_HEADER_LEN + IKE_PAYLOAD_HEADER_LEN + 4);
        size_t per = sa->d->fragment_size > overhead ? sa->d->fragment_size - overhead : 0;
        while (per > 0 && overhead + bh_ike_sk_body_len(&sa->suite, per) > sa->d->fragment_size)
                per--;
        size_t total = ike_frag_count(plain_len, per);
        if (total == 0 || plain_len > MSG_BUF) {
                sa_fail(sa, "the %s message (%zu octets) does not fit in %u fragments of %u octets",
                        ike_exchange_name(exchange), plain_len, IKE_FRAG_MAX_FRAGMENTS, sa->d->fragment_size);
                return;
        }
        FragSend *fs = g_new0(FragSend, 1);
        fs->exchange = exchange;
        fs->first = first;
        fs->response = response;
        fs->msg_id = msg_id;
        fs->then = then;
        memcpy(fs->plain, plain, plain_len);
        fs->plain_len = plain_len;
        fs->per = per;
        fs->total = total;
        fs->number = 1;
        fs->out = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        seal_fragment(sa, fs);
}

/* An INFORMATIONAL (or other) response with notifications only, protected. */
static void respond_notify(Sa *sa, uint8_t exchange, uint32_t msg_id, uint16_t type, AfterSend then) {
        uint8_t plain[256];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        if (type)
                ike_build_notify(&b, 0, NULL, 0, type, NULL, 0);
        send_protected(sa, exchange, true, msg_id, &b, then);
}

/* Which errors an unprotected IKE_SA_INIT answer may carry (RFC 7296
 * 2.21.1, 3.10.1): the others (INVALID_SYNTAX above all) go only inside SK,
 * so a request that breaks them is dropped without an answer. */
static bool clear_notify_allowed(uint16_t type) {
        return type == IKE_N_NO_PROPOSAL_CHOSEN || type == IKE_N_INVALID_KE_PAYLOAD ||
               type == IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD || type == IKE_N_INVALID_MAJOR_VERSION;
}

/* An unprotected answer with one error notification (IKE_SA_INIT). */
static void respond_clear_notify(Isakmpd *d, const IkeHeader *req, const Endpoint *local, const Endpoint *remote,
                                 bool natt, uint16_t type, const uint8_t *data, size_t len) {
        uint8_t buf[256];
        IkeBuilder b;
        IkeHeader h = { .spi_i = req->spi_i, .spi_r = 0, .major = 2, .exchange = req->exchange,
                        .flags = IKE_FLAG_RESPONSE, .msg_id = req->msg_id };
        size_t n;
        ike_builder_init(&b, buf, sizeof buf);
        ike_build_header(&b, &h);
        ike_build_notify(&b, 0, NULL, 0, type, data, len);
        if (ike_build_finish(&b, &n) == 0)
                send_datagram(d, local, remote, natt, buf, n);
}

/* ---------------------------------------------------------------- initiator */

static void send_init_request(Sa *sa, GBytes *ke) {
        uint8_t buf[MSG_BUF];
        IkeBuilder b;
        IkeHeader h = header_for(sa, IKE_EXCH_IKE_SA_INIT, false, 0);
        ike_builder_init(&b, buf, sizeof buf);
        ike_build_header(&b, &h);
        if (sa->cookie)
                ike_build_cookie(&b, g_bytes_get_data(sa->cookie, NULL), g_bytes_get_size(sa->cookie));
        ike_build_sa(&b, sa->def->ike_proposals, sa->def->n_ike_proposals, 1, NULL, 0);
        ike_build_ke(&b, sa->group, g_bytes_get_data(ke, NULL), g_bytes_get_size(ke));
        ike_build_nonce(&b, g_bytes_get_data(sa->our_nonce, NULL), g_bytes_get_size(sa->our_nonce));
        uint8_t hash[IKE_NATD_HASH_LEN];
        natd_hash(sa->spi_i, 0, &sa->local, hash);
        ike_build_nat_detection(&b, false, hash);
        natd_hash(sa->spi_i, 0, &sa->remote, hash);
        ike_build_nat_detection(&b, true, hash);
        ike_build_notify(&b, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
        size_t len;
        if (ike_build_finish(&b, &len) < 0) {
                sa_fail(sa, "cannot build IKE_SA_INIT (the proposals are too many?)");
                return;
        }
        g_clear_pointer(&sa->our_init, g_bytes_unref);
        sa->our_init = g_bytes_new(buf, len);
        sa->state = SA_INIT_SENT;
        sa->next_request = 1;
        sa_request(sa, datagrams_of(g_bytes_ref(sa->our_init)));
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "IKE_SA_INIT sent to %s, group %s",
                      bh_addr_to_string(&sa->remote.addr, (char[BH_ADDR_STRLEN]){ 0 }), ike_dh_name(sa->group));
}

/* IkeNew's or IkeNewDerive's answer: the handle and our nonce are kept,
 * our KE value returned. */
static GBytes *handle_made(Sa *sa, DBusMessage *reply) {
        DBusMessageIter it;
        dbus_uint64_t h;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_get_basic(&it, &h);
        dbus_message_iter_next(&it);
        sa->handle = h;
        GBytes *ke = read_bytes(&it);
        g_clear_pointer(&sa->our_nonce, g_bytes_unref);
        sa->our_nonce = read_bytes(&it);
        return ke;
}

static void new_made(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                sa_fail(sa, "cryptod: %s", error_message);
                return;
        }
        g_autoptr(GBytes) ke = handle_made(sa, reply);
        send_init_request(sa, ke);
}

/* The initiator's IKE SA in cryptod: our KE value and nonce. */
static void ike_new(Sa *sa, CryptoReply then) {
        DBusMessage *m = crypto_method("IkeNew");
        const char *tunnel = sa->tunnel;
        dbus_uint16_t group = sa->group;
        dbus_message_append_args(m, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_UINT16, &group, DBUS_TYPE_INVALID);
        crypto_call(sa, m, then);
}

static void initiator_start(Sa *sa) {
        const BhProposalTransform *dh = find_type(&sa->def->ike_proposals[0], BH_TRANSFORM_DH);
        sa->group = dh ? dh->id : BH_CURVE_25519;
        ike_new(sa, new_made);
}

/* What the keys of IKE_SA_INIT come from: the peer's KE value and nonce,
 * the SPIs, the suite (IkeDerive and IkeNewDerive). */
static void append_derive_args(DBusMessageIter *it, const Sa *sa) {
        append_gbytes(it, sa->peer_ke);
        append_gbytes(it, sa->peer_nonce);
        dbus_uint64_t i = sa->spi_i, r = sa->spi_r;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT64, &i);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT64, &r);
        append_suite(it, &sa->suite);
}

/* The initiator's keys, once the peer answered IKE_SA_INIT. */
static void derive(Sa *sa, CryptoReply then) {
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeDerive", &it);
        append_derive_args(&it, sa);
        crypto_call(sa, m, then);
}

/* The responder's IKE SA in cryptod, keys and all, in one call: the
 * request gave everything they need. */
static void new_derive(Sa *sa, CryptoReply then) {
        DBusMessageIter it;
        DBusMessage *m = crypto_method("IkeNewDerive");
        const char *tunnel = sa->tunnel;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &tunnel);
        append_derive_args(&it, sa);
        crypto_call(sa, m, then);
}

static uint32_t random_child_spi(void) {
        uint32_t v = 0;
        while (v < 256)
                random_bytes(&v, sizeof v);
        return v;
}

static void auth_signed_initiator(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message);

static void auth_sign(Sa *sa, CryptoReply then) {
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeAuth", &it);
        append_gbytes(&it, sa->our_init);
        g_autoptr(GBytes) id = id_body(&sa->def->local_id, &sa->local);
        append_gbytes(&it, id);
        crypto_call(sa, m, then);
}

static void init_sent_keys(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                sa_fail(sa, "key derivation: %s", error_message);
                return;
        }
        /* The keys are there: IKE_AUTH, from 4500 if a NAT was found. */
        if (sa->nat && !sa->natt) {
                sa->natt = true;
                sa->local.port = NATT_PORT;
                sa->remote.port = NATT_PORT;
        }
        sa->child_spi_in = random_child_spi();
        auth_sign(sa, auth_signed_initiator);
}

static void ts_build(IkeBuilder *b, uint8_t type, const IkeTsList *l) {
        ike_build_ts(b, type, l->ts, l->n);
}

static void auth_signed_initiator(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                sa_fail(sa, "AUTH: %s", error_message);
                return;
        }
        DBusMessageIter it;
        dbus_message_iter_init(reply, &it);
        g_autoptr(GBytes) auth = read_bytes(&it);
        g_autoptr(GBytes) idi = id_body(&sa->def->local_id, &sa->local);
        uint8_t plain[MSG_BUF];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        const uint8_t *id = g_bytes_get_data(idi, NULL);
        ike_build_id(&b, IKE_PL_IDI, id[0], id + 4, g_bytes_get_size(idi) - 4);
        if (sa->def->remote_id.type != BH_ID_ANY) {
                g_autoptr(GBytes) idr = id_body(&sa->def->remote_id, &sa->remote);
                const uint8_t *r = g_bytes_get_data(idr, NULL);
                ike_build_id(&b, IKE_PL_IDR, r[0], r + 4, g_bytes_get_size(idr) - 4);
        }
        ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, g_bytes_get_data(auth, NULL), g_bytes_get_size(auth));
        if (sa->def->mode == BH_MODE_TRANSPORT)
                ike_build_notify(&b, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
        uint8_t spi[4] = { (uint8_t) (sa->child_spi_in >> 24), (uint8_t) (sa->child_spi_in >> 16),
                           (uint8_t) (sa->child_spi_in >> 8), (uint8_t) sa->child_spi_in };
        ike_build_sa(&b, sa->def->esp_proposals, sa->def->n_esp_proposals, 1, spi, sizeof spi);
        IkeTsList tsi, tsr;
        ts_from_def(sa->def->local_ts, sa->def->n_local_ts, &tsi);
        ts_from_def(sa->def->remote_ts, sa->def->n_remote_ts, &tsr);
        ts_build(&b, IKE_PL_TSI, &tsi);
        ts_build(&b, IKE_PL_TSR, &tsr);
        sa->state = SA_AUTH_SENT;
        uint32_t id_ = sa->next_request++;
        send_protected(sa, IKE_EXCH_IKE_AUTH, false, id_, &b, NULL);
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "IKE_AUTH sent%s", sa->natt ? " (UDP 4500: NAT detected)" : "");
}

/* NAT detection (2.23) in an IKE_SA_INIT message from the peer: did the
 * hashes come from the addresses and ports we see? */
static bool nat_detected(const Sa *sa, const IkeMsg *m, uint64_t spi_r) {
        bool nat = false;
        for (size_t i = 0; i < m->n; i++) {
                IkeNotify n;
                if (m->pl[i].type != IKE_PL_NOTIFY || ike_notify_decode(m->pl[i].body, m->pl[i].len, &n) != IKE_OK)
                        continue;
                if (n.type != IKE_N_NAT_DETECTION_SOURCE_IP && n.type != IKE_N_NAT_DETECTION_DESTINATION_IP)
                        continue;
                uint8_t want[IKE_NATD_HASH_LEN];
                natd_hash(sa->spi_i, spi_r, n.type == IKE_N_NAT_DETECTION_SOURCE_IP ? &sa->remote : &sa->local, want);
                if (n.data_len != IKE_NATD_HASH_LEN || memcmp(n.data, want, IKE_NATD_HASH_LEN) != 0)
                        nat = true;
        }
        return nat;
}

/* The first error notification of a message, 0 if none. */
/* Whether one of the proposals has key exchange group GROUP. */
static bool proposals_offer_group(const BhProposal *p, size_t n, uint16_t group) {
        for (size_t i = 0; i < n; i++)
                for (unsigned t = 0; t < p[i].n; t++)
                        if (p[i].t[t].type == BH_TRANSFORM_DH && p[i].t[t].id == group)
                                return true;
        return false;
}

static uint16_t error_notify(const IkeMsg *m, IkeNotify *ret) {
        for (size_t i = 0; i < m->n; i++) {
                IkeNotify n;
                if (m->pl[i].type == IKE_PL_NOTIFY && ike_notify_decode(m->pl[i].body, m->pl[i].len, &n) == IKE_OK &&
                    ike_notify_is_error(n.type)) {
                        if (ret)
                                *ret = n;
                        return n.type;
                }
        }
        return 0;
}

static void initiator_init_response(Sa *sa, const IkeMsg *m, GBytes *raw) {
        IkeNotify n;
        const IkePayload *cookie = ike_msg_find_notify(m, IKE_N_COOKIE);
        if (cookie && !sa->cookie) {
                IkeNotify c;
                if (ike_notify_decode(cookie->body, cookie->len, &c) == IKE_OK && c.data_len >= 1 &&
                    c.data_len <= IKE_COOKIE_MAX) {
                        sa->cookie = g_bytes_new(c.data, c.data_len);
                        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the peer asks for a cookie: sending again");
                        sa_answered(sa);
                        /* Same KE value and nonce: IKE_SA_INIT again with the cookie first. */
                        gsize len;
                        const uint8_t *ours = g_bytes_get_data(sa->our_init, &len);
                        IkeMsg prev;
                        if (ike_msg_parse(ours, len, &prev) == IKE_OK) {
                                const IkePayload *ke = ike_msg_find(&prev, IKE_PL_KE);
                                IkeKe k;
                                if (ke && ike_ke_decode(ke->body, ke->len, &k) == IKE_OK) {
                                        g_autoptr(GBytes) kb = g_bytes_new(k.data, k.len);
                                        send_init_request(sa, kb);
                                        return;
                                }
                        }
                }
                sa_fail(sa, "the peer's COOKIE cannot be used");
                return;
        }
        uint16_t err = error_notify(m, &n);
        if (err == IKE_N_INVALID_KE_PAYLOAD && n.data_len == 2 && !sa->ke_retried) {
                uint16_t group = (uint16_t) (n.data[0] << 8 | n.data[1]);
                if (!proposals_offer_group(sa->def->ike_proposals, sa->def->n_ike_proposals, group)) {
                        sa_fail(sa, "INVALID_KE_PAYLOAD from the peer: it wants group %u, which we do not offer", group);
                        return;
                }
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "INVALID_KE_PAYLOAD: the peer wants %s; starting again with it",
                              ike_dh_name(group));
                sa_answered(sa);
                sa->ke_retried = true;
                free_handle(sa->d, &sa->handle);
                sa->group = group;
                ike_new(sa, new_made);
                return;
        }
        if (err) {
                sa_fail(sa, "%s from the peer in IKE_SA_INIT", ike_notify_name(err));
                return;
        }
        IkeSa peer;
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA);
        const IkePayload *kep = ike_msg_find(m, IKE_PL_KE), *np = ike_msg_find(m, IKE_PL_NONCE);
        IkeKe ke;
        IkeNonce nonce;
        if (!sap || !kep || !np || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_IKE_SA_INIT, true, &peer) != IKE_OK ||
            ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK || ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK) {
                sa_fail(sa, "the peer's IKE_SA_INIT response is malformed");
                return;
        }
        size_t idx;
        if (!choose(sa->def->ike_proposals, sa->def->n_ike_proposals, &peer, &sa->ike, &idx)) {
                sa_fail(sa, "the peer chose a proposal we did not offer");
                return;
        }
        sa->suite = suite_of(&sa->ike);
        if (ke.group != sa->group || sa->suite.dh != sa->group) {
                sa_fail(sa, "the peer answered with group %u for our %u", ke.group, sa->group);
                return;
        }
        sa->spi_r = m->hdr.spi_r;
        sa->nat = nat_detected(sa, m, m->hdr.spi_r);
        sa->frag = ike_msg_find_notify(m, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED) != NULL;
        sa->peer_ke = g_bytes_new(ke.data, ke.len);
        sa->peer_nonce = g_bytes_new(nonce.data, nonce.len);
        sa->peer_init = g_bytes_ref(raw);
        sa_answered(sa);
        g_autofree char *p = bh_proposal_to_string(&sa->ike);
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "IKE_SA_INIT answered: %s%s", p, sa->nat ? ", NAT detected" : "");
        derive(sa, init_sent_keys);
}

/* The CHILD SA's two SAs (out, then in) for cryptod to install. */
static void append_child_sas(DBusMessageIter *it, Sa *sa, const BhProposal *esp, uint32_t spi_out, uint32_t spi_in) {
        DBusMessageIter arr, st;
        const BhProposalTransform *e = find_type(esp, BH_TRANSFORM_ENCR);
        const BhProposalTransform *esn = find_type(esp, BH_TRANSFORM_ESN);
        char local[BH_ADDR_STRLEN], remote[BH_ADDR_STRLEN];
        const char *tunnel = sa->tunnel, *proto = "esp";
        const char *mode = sa->def->mode == BH_MODE_TRANSPORT ? "transport" : "tunnel";
        const char *encap = sa->nat || sa->def->encap == BH_ENCAP_UDP ? "udp" : "esp";
        const char *l = bh_addr_to_string(&sa->local.addr, local), *r = bh_addr_to_string(&sa->remote.addr, remote);
        dbus_uint16_t encr = e ? e->id : 0, bits = e ? e->key_bits : 0, integ = transform_id(esp, BH_TRANSFORM_INTEG);
        dbus_bool_t x = esn && esn->id == BH_ESN, replay = TRUE;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "(sssuqqqbbssss)", &arr);
        for (int k = 0; k < 2; k++) {
                const char *dir = k == 0 ? "out" : "in";
                dbus_uint32_t spi = k == 0 ? spi_out : spi_in;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &tunnel);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &dir);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &proto);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &spi);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &encr);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &bits);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &integ);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &x);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &replay);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &mode);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &encap);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &l);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &r);
                dbus_message_iter_close_container(&arr, &st);
        }
        dbus_message_iter_close_container(it, &arr);
}

/* The peer's IKE_AUTH answer verified and the CHILD SA in: established. */
static void initiator_verified(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bool auth = error_name && strcmp(error_name, BH_ERROR_AUTH_FAILED) == 0;
                sa_fail(sa, "%s: %s", auth ? "AUTHENTICATION_FAILED" : "cryptod", error_message);
                return;
        }
        sa_established(sa);
        const char *rid = sa->peer_id;
        g_autofree char *esp = bh_proposal_to_string(&sa->esp);
        bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "IKE SA established with %s, CHILD SA %08x/%08x (%s)",
                      rid ? rid : "the peer", sa->child_spi_in, sa->child_spi_out, esp);
        tell_up(sa, rid ? rid : "");
}

/* The payloads of a decrypted IKE_AUTH message, checked. */
typedef struct AuthPayloads AuthPayloads;
struct AuthPayloads {
        IkeId id;
        IkeAuth auth;
        bool has_sa;
        IkeSa child;
        IkeTsList tsi, tsr;
        const IkePayload *id_pl;
};

static IkeErr auth_payloads(const IkeMsg *m, bool request, AuthPayloads *ret) {
        const IkePayload *id = ike_msg_find(m, request ? IKE_PL_IDI : IKE_PL_IDR);
        const IkePayload *auth = ike_msg_find(m, IKE_PL_AUTH);
        const IkePayload *sa = ike_msg_find(m, IKE_PL_SA);
        const IkePayload *tsi = ike_msg_find(m, IKE_PL_TSI), *tsr = ike_msg_find(m, IKE_PL_TSR);
        IkeErr e;
        if (!id || !auth)
                return IKE_ERR_MISSING_PAYLOAD;
        if ((e = ike_id_decode(id->body, id->len, &ret->id)) != IKE_OK)
                return e;
        if ((e = ike_auth_decode(auth->body, auth->len, &ret->auth)) != IKE_OK)
                return e;
        ret->id_pl = id;
        ret->has_sa = sa && tsi && tsr;
        if (ret->has_sa) {
                if ((e = ike_sa_decode(sa->body, sa->len, IKE_SA_CTX_CHILD, !request, &ret->child)) != IKE_OK)
                        return e;
                if ((e = ike_ts_decode(tsi->body, tsi->len, &ret->tsi)) != IKE_OK)
                        return e;
                if ((e = ike_ts_decode(tsr->body, tsr->len, &ret->tsr)) != IKE_OK)
                        return e;
        }
        return IKE_OK;
}

/* What cryptod's IkeVerify does once the peer's AUTH matched: nothing
 * more (the responder then refuses the CHILD SA), the first CHILD SA (the
 * initiator), or our AUTH and then the CHILD SA (the responder). */
typedef enum VerifyThen {
        VERIFY_THEN_NONE,
        VERIFY_THEN_CHILD,
        VERIFY_THEN_AUTH_CHILD,
} VerifyThen;

static void verify(Sa *sa, const AuthPayloads *ap, VerifyThen then, CryptoReply func) {
        static const char *const words[] = { [VERIFY_THEN_NONE] = "none", [VERIFY_THEN_CHILD] = "child",
                                             [VERIFY_THEN_AUTH_CHILD] = "auth-child" };
        DBusMessageIter it, arr;
        DBusMessage *m = handle_method(sa, "IkeVerify", &it);
        append_gbytes(&it, sa->peer_init);
        append_bytes(&it, ap->id_pl->body, ap->id_pl->len);
        append_bytes(&it, ap->auth.data, ap->auth.len);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &words[then]);
        if (then == VERIFY_THEN_AUTH_CHILD) {
                g_autoptr(GBytes) id = id_body(&sa->def->local_id, &sa->local);
                append_gbytes(&it, sa->our_init);
                append_gbytes(&it, id);
        } else {
                append_bytes(&it, NULL, 0);
                append_bytes(&it, NULL, 0);
        }
        if (then == VERIFY_THEN_NONE) {
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(sssuqqqbbssss)", &arr);
                dbus_message_iter_close_container(&it, &arr);
        } else
                append_child_sas(&it, sa, &sa->esp, sa->child_spi_out, sa->child_spi_in);
        crypto_call(sa, m, func);
}

static uint32_t proposal_spi(const IkeProposal *p) {
        return (uint32_t) p->spi[0] << 24 | (uint32_t) p->spi[1] << 16 | (uint32_t) p->spi[2] << 8 | p->spi[3];
}

static void initiator_auth_response(Sa *sa, const IkeMsg *m) {
        IkeNotify n;
        uint16_t err = error_notify(m, &n);
        if (err) {
                sa_answered(sa);
                sa_fail(sa, "%s from the peer in IKE_AUTH", ike_notify_name(err));
                return;
        }
        AuthPayloads ap;
        IkeErr e = auth_payloads(m, false, &ap);
        if (e != IKE_OK) {
                sa_answered(sa);
                sa_fail(sa, "the peer's IKE_AUTH response: %s", ike_err_name(e));
                return;
        }
        sa_answered(sa);
        g_autofree char *rid = id_describe(&ap.id);
        if (!id_matches(&sa->def->remote_id, &ap.id)) {
                g_autofree char *want = bh_identity_to_string(&sa->def->remote_id);
                sa_fail(sa, "the peer is %s, not %s", rid, want);
                return;
        }
        if (ap.auth.method != IKE_AUTH_SHARED_KEY_MIC) {
                sa_fail(sa, "the peer authenticates with %s; only pre-shared keys are configured",
                        ike_auth_method_name(ap.auth.method));
                return;
        }
        size_t idx;
        if (!ap.has_sa || !choose(sa->def->esp_proposals, sa->def->n_esp_proposals, &ap.child, &sa->esp, &idx)) {
                sa_fail(sa, "the peer's CHILD SA was not among our proposals");
                return;
        }
        sa->child_spi_out = proposal_spi(&ap.child.prop[idx]);
        sa->tsi = ap.tsi;
        sa->tsr = ap.tsr;
        g_free(sa->peer_id);
        sa->peer_id = g_steal_pointer(&rid);
        verify(sa, &ap, VERIFY_THEN_CHILD, initiator_verified);
}

/* ---------------------------------------------------------------- responder */

typedef struct Incoming Incoming;
static void sa_receive(Sa *sa, GBytes *raw, const IkeMsg *m, const Incoming *in);

struct Incoming {
        Endpoint local, remote;
        bool natt;
};

/* A fragment that came while cryptod worked on the SA. */
typedef struct Queued {
        GBytes *raw;
        Incoming in;
} Queued;

static void queued_free(void *p) {
        Queued *q = p;
        g_bytes_unref(q->raw);
        g_free(q);
}

static void queued_clear(Sa *sa) {
        g_queue_clear_full(&sa->frag_queue, queued_free);
}

/* cryptod is done with the SA: the fragments that waited go in. */
static void drain_fragments(Sa *sa) {
        Queued *q;
        while (!sa->busy && sa->state != SA_DEAD && (q = g_queue_pop_head(&sa->frag_queue))) {
                gsize len;
                const uint8_t *data = g_bytes_get_data(q->raw, &len);
                IkeMsg m;
                if (ike_msg_parse(data, len, &m) == IKE_OK)
                        sa_receive(sa, q->raw, &m, &q->in);
                queued_free(q);
        }
}

/* ---------------------------------------------------------------- cookies */

/* A new secret every COOKIE_SECRET_LIFETIME_S; the one before stays valid
 * so that a COOKIE handed out just before the change still works. */
static void cookie_secret_refresh(Isakmpd *d) {
        gint64 now = g_get_monotonic_time();
        if (d->cookie_secret[0].since && now - d->cookie_secret[0].since < COOKIE_SECRET_LIFETIME_S * G_USEC_PER_SEC)
                return;
        d->cookie_secret[1] = d->cookie_secret[0];
        random_bytes(d->cookie_secret[0].key, sizeof d->cookie_secret[0].key);
        d->cookie_secret[0].version = (uint8_t) (d->cookie_secret[1].version + 1);
        d->cookie_secret[0].since = now;
}

/* COOKIE = version | HMAC-SHA-256(secret, Ni | IPi | SPIi), truncated: it
 * binds the initiator's nonce, address and SPI, so that only who receives
 * at that address can send it back. */
static void cookie_make(const Isakmpd *d, int which, const IkeMsg *m, const Endpoint *remote,
                        uint8_t out[1 + COOKIE_HASH_LEN]) {
        const IkePayload *np = ike_msg_find(m, IKE_PL_NONCE);
        GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, d->cookie_secret[which].key, sizeof d->cookie_secret[which].key);
        if (np)
                g_hmac_update(h, np->body, (gssize) np->len);
        g_hmac_update(h, remote->addr.bytes, remote->addr.family == AF_INET ? 4 : 16);
        uint8_t spi[8];
        for (int i = 0; i < 8; i++)
                spi[i] = (uint8_t) (m->hdr.spi_i >> (56 - 8 * i));
        g_hmac_update(h, spi, sizeof spi);
        uint8_t digest[32];
        gsize len = sizeof digest;
        g_hmac_get_digest(h, digest, &len);
        g_hmac_unref(h);
        out[0] = d->cookie_secret[which].version;
        memcpy(out + 1, digest, COOKIE_HASH_LEN);
}

/* Whether an IKE_SA_INIT may make state: below the threshold, or with a
 * valid COOKIE as its first payload. Otherwise it is answered with a COOKIE
 * and forgotten. */
static bool cookie_passes(Isakmpd *d, const IkeMsg *m, const Incoming *in) {
        if (d->half_open < d->cookie_threshold)
                return true;
        cookie_secret_refresh(d);
        const IkePayload *cp = ike_msg_find_notify(m, IKE_N_COOKIE);
        IkeNotify n;
        if (cp && cp == &m->pl[0] && ike_notify_decode(cp->body, cp->len, &n) == IKE_OK &&
            n.data_len == 1 + COOKIE_HASH_LEN) {
                for (int which = 0; which < 2; which++) {
                        uint8_t want[1 + COOKIE_HASH_LEN];
                        if (!d->cookie_secret[which].since || n.data[0] != d->cookie_secret[which].version)
                                continue;
                        cookie_make(d, which, m, &in->remote, want);
                        if (bh_secure_memcmp(want, n.data, sizeof want) == 0)
                                return true;
                }
        }
        uint8_t cookie[1 + COOKIE_HASH_LEN];
        cookie_make(d, 0, m, &in->remote, cookie);
        char buf[64];
        bh_log_debug("IKE_SA_INIT from %s: %u half-open SAs, %s COOKIE: answered with one",
                     endpoint_string(&in->remote, buf, sizeof buf), d->half_open, cp ? "a stale or wrong" : "no");
        d->cookies_sent++;
        respond_clear_notify(d, &m->hdr, &in->local, &in->remote, in->natt, IKE_N_COOKIE, cookie, sizeof cookie);
        return false;
}

static void responder_auth_reply_sent(Sa *sa);

/* A refusal we answered: the SA ends once the answer is out. */
static void refusal_sent(Sa *sa) {
        g_autofree char *why = g_steal_pointer(&sa->failure);
        sa_fail(sa, "%s", why ? why : "refused");
}

static void responder_keys(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                /* InvalidArgs: the peer's KE value was refused (a zero or
                 * off-curve value). Either way cryptod kept nothing, and
                 * nothing is answered (RFC 8031 2). */
                if (error_name && strcmp(error_name, DBUS_ERROR_INVALID_ARGS) == 0) {
                        bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_SA_INIT from the peer refused: %s",
                                      error_message);
                        sa->d->dropped++;
                } else
                        bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "cannot answer IKE_SA_INIT: %s", error_message);
                sa_drop(sa);
                return;
        }
        g_autoptr(GBytes) our_ke = handle_made(sa, reply);
        /* IKE_SA_INIT response: SA, KE, Nr, NAT detection. */
        gsize kl;
        const uint8_t *ke = g_bytes_get_data(our_ke, &kl);
        uint8_t buf[MSG_BUF];
        IkeBuilder b;
        IkeHeader h = header_for(sa, IKE_EXCH_IKE_SA_INIT, true, 0);
        ike_builder_init(&b, buf, sizeof buf);
        ike_build_header(&b, &h);
        ike_build_sa(&b, &sa->ike, 1, sa->ike_prop_num, NULL, 0);
        ike_build_ke(&b, sa->group, ke, kl);
        ike_build_nonce(&b, g_bytes_get_data(sa->our_nonce, NULL), g_bytes_get_size(sa->our_nonce));
        uint8_t hash[IKE_NATD_HASH_LEN];
        natd_hash(sa->spi_i, sa->spi_r, &sa->local, hash);
        ike_build_nat_detection(&b, false, hash);
        natd_hash(sa->spi_i, sa->spi_r, &sa->remote, hash);
        ike_build_nat_detection(&b, true, hash);
        if (sa->frag)
                ike_build_notify(&b, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
        size_t len;
        if (ike_build_finish(&b, &len) < 0) {
                sa_drop(sa);
                return;
        }
        sa->our_init = g_bytes_new(buf, len);
        sa->peer_request = 1;
        sa_respond(sa, datagrams_of(g_bytes_ref(sa->our_init)));
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "IKE_SA_INIT answered%s", sa->nat ? " (NAT detected)" : "");
}

static gboolean half_open_expired(gpointer userdata) {
        Sa *sa = userdata;
        sa->timeout = 0;
        if (sa->state == SA_HALF_OPEN) {
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "half-open IKE SA %016" G_GINT64_MODIFIER "x expired",
                              (guint64) sa->spi_i);
                sa_drop(sa);
        }
        return G_SOURCE_REMOVE;
}

/* The first message from a new peer: which tunnel, from tmd. */
typedef struct MatchCtx {
        Isakmpd *d;
        GBytes *raw;
        Incoming in;
} MatchCtx;

static void responder_init(Isakmpd *d, const BhTunnel *def, GBytes *raw, const Incoming *in) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(raw, &len);
        IkeMsg m;
        IkeErr e = ike_msg_parse(data, len, &m);
        uint8_t type;
        /* A KE of a group we do not implement leaves the chain whole: the
         * exchange rules are checked all the same, the group answered below. */
        if (e == IKE_OK || e == IKE_ERR_KE_GROUP) {
                IkeErr x = ike_msg_check_exchange(&m, &type);
                if (x != IKE_OK && x != IKE_ERR_PROPOSAL_UNSUPPORTED)
                        e = x;
        }
        if (e != IKE_OK && e != IKE_ERR_KE_GROUP) {
                bh_log_tunnel(BH_LOG_ERRORS, def->name, "IKE_SA_INIT from the peer refused: %s", ike_err_name(e));
                uint16_t n = ike_err_notify(e);
                if (clear_notify_allowed(n))
                        respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt, n, NULL, 0);
                else
                        d->dropped++;
                return;
        }
        const IkePayload *sap = ike_msg_find(&m, IKE_PL_SA), *kep = ike_msg_find(&m, IKE_PL_KE),
                         *np = ike_msg_find(&m, IKE_PL_NONCE);
        IkeSa peer;
        BhProposal chosen;
        size_t idx;
        if (!sap || !kep || !np)
                return;         /* check_exchange requires them: not reached */
        if (ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_IKE_SA_INIT, false, &peer) != IKE_OK ||
            !choose(def->ike_proposals, def->n_ike_proposals, &peer, &chosen, &idx)) {
                g_autofree char *ours = bh_proposal_list_to_string(def->ike_proposals, def->n_ike_proposals);
                bh_log_tunnel(BH_LOG_ERRORS, def->name,
                              "NO_PROPOSAL_CHOSEN: none of the peer's %zu IKE proposals meets ours (%s)", peer.n_sent,
                              ours);
                respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
                return;
        }
        uint16_t group = transform_id(&chosen, BH_TRANSFORM_DH);
        IkeKe ke;
        if (e == IKE_ERR_KE_GROUP || ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK || ke.group != group) {
                uint8_t g[2] = { (uint8_t) (group >> 8), (uint8_t) group };
                bh_log_tunnel(BH_LOG_EVENTS, def->name, "INVALID_KE_PAYLOAD: asking the peer for %s", ike_dh_name(group));
                respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt, IKE_N_INVALID_KE_PAYLOAD, g, 2);
                return;
        }
        IkeNonce nonce;
        ike_nonce_decode(np->body, np->len, &nonce);
        Sa *sa = sa_new(d, def, false);
        sa->spi_i = m.hdr.spi_i;
        sa->spi_r = random_spi();
        sa->local = in->local;
        sa->remote = in->remote;
        sa->natt = in->natt;
        sa->ike = chosen;
        sa->suite = suite_of(&chosen);
        sa->group = group;
        sa->ike_prop_num = peer.prop[idx].num;
        sa->peer_ke = g_bytes_new(ke.data, ke.len);
        sa->peer_nonce = g_bytes_new(nonce.data, nonce.len);
        sa->peer_init = g_bytes_ref(raw);
        sa->nat = nat_detected(sa, &m, 0);
        sa->frag = ike_msg_find_notify(&m, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED) != NULL;
        sa->state = SA_HALF_OPEN;
        sa_register(sa);
        g_hash_table_replace(d->by_spi_i, &sa->spi_i, sa);
        d->half_open++;
        sa->timeout = timer_add(d, HALF_OPEN_TIMEOUT_S * 1000, half_open_expired, sa);
        new_derive(sa, responder_keys);
        sa_unref(sa);
}

static void matched(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        MatchCtx *mc = userdata;
        if (!reply) {
                char buf[64];
                bh_log_error("IKE_SA_INIT from %s: no tunnel: %s", endpoint_string(&mc->in.remote, buf, sizeof buf),
                             error_message);
                gsize len;
                const uint8_t *data = g_bytes_get_data(mc->raw, &len);
                IkeHeader h;
                if (ike_header_parse(data, len, &h) == IKE_OK)
                        respond_clear_notify(mc->d, &h, &mc->in.local, &mc->in.remote, mc->in.natt,
                                             IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
        } else {
                const char *name, *text;
                g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
                if (dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &text,
                                          DBUS_TYPE_INVALID) &&
                    bh_tunnel_set_parse(set, text, strlen(text), "tmd", NULL) == 0 && bh_tunnel_set_size(set) == 1) {
                        const BhTunnel *def = bh_tunnel_set_get(set, 0);
                        Sa *busy = g_hash_table_lookup(mc->d->tunnels, def->name);
                        if (busy && busy->initiator && busy->state == SA_INIT_SENT)
                                bh_log_tunnel(BH_LOG_INFORMATION, def->name, "both ends started: answering the peer too");
                        responder_init(mc->d, def, mc->raw, &mc->in);
                } else {
                        bh_log_error("tmd's definition could not be read");
                }
        }
        g_bytes_unref(mc->raw);
        g_free(mc);
}

/* The peer's AUTH did not verify: AUTHENTICATION_FAILED, then the SA ends. */
static void responder_auth_failed(Sa *sa, const char *error_name, const char *error_message) {
        bool auth = error_name && strcmp(error_name, BH_ERROR_AUTH_FAILED) == 0;
        bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_AUTH from the peer: %s%s", auth ? "AUTHENTICATION_FAILED: " : "",
                      error_message);
        g_free(sa->failure);
        sa->failure = g_strdup_printf("%s: %s", auth ? "AUTHENTICATION_FAILED" : "verifying the peer", error_message);
        respond_notify(sa, IKE_EXCH_IKE_AUTH, 1, IKE_N_AUTHENTICATION_FAILED, refusal_sent);
}

/* Authenticated, our AUTH made and the CHILD SA in (IkeVerify auth-child):
 * the IKE_AUTH answer. */
static void responder_authenticated(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                if (error_name && strcmp(error_name, BH_ERROR_AUTH_FAILED) == 0) {
                        responder_auth_failed(sa, error_name, error_message);
                        return;
                }
                /* Our AUTH or the CHILD SA failed (or cryptod could not
                 * check the peer's at all): tell the peer, then forget the SA. */
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_AUTH from the peer not completed: cryptod: %s",
                              error_message);
                g_free(sa->failure);
                sa->failure = g_strdup_printf("cryptod: %s", error_message);
                respond_notify(sa, IKE_EXCH_IKE_AUTH, 1, IKE_N_NO_PROPOSAL_CHOSEN, refusal_sent);
                return;
        }
        DBusMessageIter it;
        dbus_message_iter_init(reply, &it);
        g_autoptr(GBytes) auth = read_bytes(&it);
        g_autoptr(GBytes) idr = id_body(&sa->def->local_id, &sa->local);
        const uint8_t *id = g_bytes_get_data(idr, NULL);
        uint8_t plain[MSG_BUF];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_id(&b, IKE_PL_IDR, id[0], id + 4, g_bytes_get_size(idr) - 4);
        ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, g_bytes_get_data(auth, NULL), g_bytes_get_size(auth));
        if (sa->def->mode == BH_MODE_TRANSPORT)
                ike_build_notify(&b, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
        uint8_t spi[4] = { (uint8_t) (sa->child_spi_in >> 24), (uint8_t) (sa->child_spi_in >> 16),
                           (uint8_t) (sa->child_spi_in >> 8), (uint8_t) sa->child_spi_in };
        /* Our answer names the proposal number the peer gave. */
        ike_build_sa(&b, &sa->esp, 1, sa->esp_prop_num, spi, sizeof spi);
        ts_build(&b, IKE_PL_TSI, &sa->tsi);
        ts_build(&b, IKE_PL_TSR, &sa->tsr);
        send_protected(sa, IKE_EXCH_IKE_AUTH, true, 1, &b, responder_auth_reply_sent);
}

static void responder_auth_reply_sent(Sa *sa) {
        if (sa->d->half_open > 0)
                sa->d->half_open--;
        sa_make_current(sa);
        sa_established(sa);
        timer_cancel(sa->d, &sa->timeout);
        sa->peer_request = 2;
        g_autofree char *esp = bh_proposal_to_string(&sa->esp);
        char r[64];
        bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "IKE SA established as responder with %s, CHILD SA %08x/%08x (%s)",
                      endpoint_string(&sa->remote, r, sizeof r), sa->child_spi_in, sa->child_spi_out, esp);
        tell_up(sa, sa->peer_id ? sa->peer_id : "");
}

/* Authenticated (IkeVerify none), but the CHILD SA the peer asks for is
 * refused: the refusal chosen before goes out now. */
static void responder_verified_refused(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                responder_auth_failed(sa, error_name, error_message);
                return;
        }
        bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_AUTH from %s refused: %s", sa->peer_id, sa->failure);
        respond_notify(sa, IKE_EXCH_IKE_AUTH, 1, sa->refusal, refusal_sent);
}

/* The CHILD SA the peer asks for, against the tunnel's proposals and
 * selectors: 0, or the notification that refuses it (*ret_why in words). */
static uint16_t responder_child(Sa *sa, const AuthPayloads *ap, char **ret_why) {
        size_t idx = 0;
        if (!ap->has_sa) {
                *ret_why = g_strdup("the peer asks for no CHILD SA; that is not supported");
                return IKE_N_NO_PROPOSAL_CHOSEN;
        }
        if (!choose(sa->def->esp_proposals, sa->def->n_esp_proposals, &ap->child, &sa->esp, &idx)) {
                g_autofree char *ours = bh_proposal_list_to_string(sa->def->esp_proposals, sa->def->n_esp_proposals);
                *ret_why = g_strdup_printf("NO_PROPOSAL_CHOSEN: none of the peer's %zu ESP proposals meets ours (%s)",
                                           ap->child.n_sent, ours);
                return IKE_N_NO_PROPOSAL_CHOSEN;
        }
        ts_narrow(&ap->tsi, sa->def->remote_ts, sa->def->n_remote_ts, &sa->tsi);
        ts_narrow(&ap->tsr, sa->def->local_ts, sa->def->n_local_ts, &sa->tsr);
        if (sa->tsi.n == 0 || sa->tsr.n == 0) {
                *ret_why = g_strdup("TS_UNACCEPTABLE: the peer's traffic selectors are outside the tunnel's");
                return IKE_N_TS_UNACCEPTABLE;
        }
        sa->child_spi_out = proposal_spi(&ap->child.prop[idx]);
        sa->esp_prop_num = ap->child.prop[idx].num;
        sa->child_spi_in = random_child_spi();
        return 0;
}

static void responder_auth(Sa *sa, const IkeMsg *m) {
        AuthPayloads ap;
        IkeErr e = auth_payloads(m, true, &ap);
        if (e != IKE_OK) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_AUTH from the peer refused: %s", ike_err_name(e));
                g_free(sa->failure);
                sa->failure = g_strdup_printf("the peer's IKE_AUTH is malformed: %s", ike_err_name(e));
                respond_notify(sa, IKE_EXCH_IKE_AUTH, m->hdr.msg_id,
                               ike_err_notify(e) ? ike_err_notify(e) : IKE_N_INVALID_SYNTAX, refusal_sent);
                return;
        }
        g_autofree char *rid = id_describe(&ap.id);
        uint16_t refuse = 0;
        g_autofree char *why = NULL;
        /* Only what authentication needs is looked at before the AUTH is
         * verified: a peer without the key learns nothing of the tunnel's
         * proposals or selectors. */
        if (!id_matches(&sa->def->remote_id, &ap.id)) {
                g_autofree char *want = bh_identity_to_string(&sa->def->remote_id);
                why = g_strdup_printf("AUTHENTICATION_FAILED: the peer is %s, tunnel %s expects %s", rid, sa->tunnel, want);
                refuse = IKE_N_AUTHENTICATION_FAILED;
        } else if (ap.auth.method != IKE_AUTH_SHARED_KEY_MIC) {
                why = g_strdup_printf("AUTHENTICATION_FAILED: the peer uses %s; only pre-shared keys are configured",
                                      ike_auth_method_name(ap.auth.method));
                refuse = IKE_N_AUTHENTICATION_FAILED;
        }
        if (refuse) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE_AUTH from %s refused: %s", rid, why);
                g_free(sa->failure);
                sa->failure = g_steal_pointer(&why);
                respond_notify(sa, IKE_EXCH_IKE_AUTH, m->hdr.msg_id, refuse, refusal_sent);
                return;
        }
        g_free(sa->peer_id);
        sa->peer_id = g_steal_pointer(&rid);
        /* The CHILD SA is chosen now, so that one call to cryptod verifies
         * the peer's AUTH, makes ours and installs it; a refusal of it is
         * only told (and logged) once the AUTH verified, as above. */
        refuse = responder_child(sa, &ap, &why);
        if (refuse) {
                g_free(sa->failure);
                sa->failure = g_steal_pointer(&why);
                sa->refusal = refuse;
                verify(sa, &ap, VERIFY_THEN_NONE, responder_verified_refused);
                return;
        }
        verify(sa, &ap, VERIFY_THEN_AUTH_CHILD, responder_authenticated);
}

/* ---------------------------------------------------------------- CREATE_CHILD_SA */

/*
 * CHILD SA rekeying (RFC 7296 1.3.3, 2.8): a new CHILD SA with fresh nonces
 * (and a new key exchange when the ESP proposal has a group) replaces the
 * old one; the side that asked deletes the old one afterwards. cryptod makes
 * our nonce and KE value (IkeChildStart) and installs the new SAs
 * (IkeChildInstall); the outbound SA switches at once, the old inbound one
 * stays until the Delete exchange ends.
 *
 * Both sides rekey every child_rekey_time; the responder of the IKE SA
 * waits a tenth longer, so that the two do not collide in the common case.
 * A request that comes while our own is out is answered TEMPORARY_FAILURE
 * (2.25) and the peer asks again later.
 */

static void rekey_schedule(Sa *sa, unsigned seconds);
static void dpd_schedule(Sa *sa);
static void ike_rekey_request(Sa *sa, const IkeMsg *m);

static uint16_t esp_group(const BhProposal *p) {
        return transform_id(p, BH_TRANSFORM_DH);
}

static uint8_t *spi_octets(uint32_t spi, uint8_t out[4]) {
        out[0] = (uint8_t) (spi >> 24);
        out[1] = (uint8_t) (spi >> 16);
        out[2] = (uint8_t) (spi >> 8);
        out[3] = (uint8_t) spi;
        return out;
}

static void child_exchange_started(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message);

static void child_start(Sa *sa, uint16_t group) {
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeChildStart", &it);
        dbus_uint16_t g = group;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT16, &g);
        crypto_call(sa, m, child_exchange_started);
}

/* The side that answers a rekey keeps sending on the old CHILD SA until the
 * peer deletes it (by then the peer receives on the new one): RFC 7296
 * 2.8 leaves the moment open, and switching at once loses the packets that
 * reach the peer before it installed its half. */
static void child_install(Sa *sa, bool initiated, CryptoReply then) {
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeChildInstall", &it);
        dbus_uint32_t xid = sa->rk.xid;
        /* A CHILD SA of its own replaces nothing: it sends at once. */
        dbus_bool_t i = initiated, defer = !initiated && !sa->rk.fresh;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &xid);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_BOOLEAN, &i);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_BOOLEAN, &defer);
        append_gbytes(&it, sa->rk.peer_nonce);
        if (sa->rk.peer_ke)
                append_gbytes(&it, sa->rk.peer_ke);
        else
                append_bytes(&it, NULL, 0);
        append_child_sas(&it, sa, &sa->rk.esp, sa->rk.spi_out, sa->rk.spi_in);
        crypto_call(sa, m, then);
}

/* The new CHILD SA is in: it becomes the current one. */
static void child_switch(Sa *sa) {
        sa->old_spi_in = sa->child_spi_in;
        sa->old_spi_out = sa->child_spi_out;
        sa->child_spi_in = sa->rk.spi_in;
        sa->child_spi_out = sa->rk.spi_out;
        sa->child_since = g_get_monotonic_time();
        sa->out_deferred = !sa->rk.active && !sa->rk.fresh;
        sa->esp = sa->rk.esp;
        g_autofree char *esp = bh_proposal_to_string(&sa->esp);
        if (sa->rk.fresh)
                sa->want_child = false;
        if (sa->rk.fresh)
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "CHILD SA created (%s by %s): %08x/%08x", esp,
                              sa->rk.active ? "us" : "the peer", sa->child_spi_in, sa->child_spi_out);
        else
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "CHILD SA rekeyed (%s by %s): %08x/%08x replaces %08x/%08x",
                              esp, sa->rk.active ? "us" : "the peer", sa->child_spi_in, sa->child_spi_out,
                              sa->old_spi_in, sa->old_spi_out);
        tell_up(sa, sa->peer_id ? sa->peer_id : "");
}

static void old_child_removed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply)
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "removing the old inbound SA: %s", error_message);
}

/* The old inbound SA stays a little after the Delete exchange: packets
 * the peer sent on it before it switched may still be on their way, or
 * waiting in filterd's socket while isakmpd already heard the Delete. */
#define OLD_CHILD_GRACE_MS 2000

typedef struct Retiring {
        Isakmpd *d;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        uint32_t spi;
} Retiring;

/* Through the tunnel's IKE SA of the moment: an IKE SA rekey may have
 * replaced the one that retired the SA (cryptod moved the CHILD SAs). */
static gboolean retire_due(gpointer userdata) {
        Retiring *r = userdata;
        Sa *sa = g_hash_table_lookup(r->d->tunnels, r->tunnel);
        if (sa && sa->state != SA_DEAD && sa->handle) {
                DBusMessageIter it;
                DBusMessage *m = handle_method(sa, "IkeChildRemove", &it);
                dbus_uint32_t spi = r->spi, out = 0;    /* the new outbound SA replaced the old */
                dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &spi);
                dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &out);
                crypto_call(sa, m, old_child_removed);
        }
        g_free(r);
        return G_SOURCE_REMOVE;
}

static void remove_old_child(Sa *sa) {
        if (!sa->old_spi_in)
                return;
        Retiring *r = g_new0(Retiring, 1);
        r->d = sa->d;
        g_strlcpy(r->tunnel, sa->tunnel, sizeof r->tunnel);
        r->spi = sa->old_spi_in;
        sa->old_spi_in = sa->old_spi_out = 0;
        g_timeout_add(OLD_CHILD_GRACE_MS, retire_due, r);
}

/* --- we ask */

static void rekey_request_installed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the %s CHILD SA could not be installed: %s",
                              sa->rk.fresh ? "new" : "rekeyed", error_message);
                if (sa->rk.fresh) {
                        sa->want_child = false;
                        g_autofree char *cause = g_strdup_printf("the CHILD SA could not be installed: %s", error_message);
                        rekey_clear(sa);
                        tell_child_down(sa, cause);
                        return;
                }
                rekey_clear(sa);
                rekey_schedule(sa, 10);
                return;
        }
        child_switch(sa);
        if (sa->rk.fresh) {
                rekey_clear(sa);
                rekey_schedule(sa, sa->def->child_rekey_time);
                return;
        }
        rekey_clear(sa);
        /* Delete the old one: the peer answers with its half. */
        uint8_t plain[64];
        IkeBuilder b;
        uint32_t spi = sa->old_spi_in;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_delete(&b, BH_PROTO_ESP, &spi, 1);
        sa->deleting_old = true;
        uint32_t id = sa->next_request++;
        send_protected(sa, IKE_EXCH_INFORMATIONAL, false, id, &b, NULL);
        rekey_schedule(sa, sa->def->child_rekey_time);
}

static void rekey_response(Sa *sa, const IkeMsg *m) {
        sa_answered(sa);
        IkeNotify n;
        uint16_t err = error_notify(m, &n);
        if (err == IKE_N_INVALID_KE_PAYLOAD && n.data_len == 2 && !sa->rk.ke_retried) {
                /* RFC 7296 1.3: once more, with the group the peer names,
                 * when it is one of ours (with PFS). */
                uint16_t group = (uint16_t) (n.data[0] << 8 | n.data[1]);
                if (group && proposals_offer_group(sa->def->esp_proposals, sa->def->n_esp_proposals, group)) {
                        bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "CREATE_CHILD_SA: INVALID_KE_PAYLOAD, the peer wants "
                                      "%s; asking again with it", ike_dh_name(group));
                        g_clear_pointer(&sa->rk.nonce, g_bytes_unref);
                        g_clear_pointer(&sa->rk.ke, g_bytes_unref);
                        sa->rk.ke_retried = true;
                        sa->rk.group = sa->child_group = group;
                        child_start(sa, group);
                        return;
                }
        }
        if (err == IKE_N_TEMPORARY_FAILURE && sa->rk.fresh) {
                /* Both ends asked at once, or the peer is busy: again soon. */
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "new CHILD SA: TEMPORARY_FAILURE from the peer, trying again");
                rekey_clear(sa);
                uint8_t r;
                random_bytes(&r, 1);
                rekey_schedule(sa, 1u + r % 4u);
                return;
        }
        if (err && sa->rk.fresh) {
                sa->want_child = false;
                g_autofree char *cause = g_strdup_printf("%s from the peer in CREATE_CHILD_SA", ike_notify_name(err));
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "new CHILD SA refused by the peer: %s", ike_notify_name(err));
                rekey_clear(sa);
                tell_child_down(sa, cause);
                return;
        }
        if (err) {
                bh_log_tunnel(err == IKE_N_TEMPORARY_FAILURE ? BH_LOG_INFORMATION : BH_LOG_ERRORS, sa->tunnel,
                              "CHILD SA rekey refused by the peer: %s", ike_notify_name(err));
                rekey_clear(sa);
                /* A collision or a refusal: the old CHILD SA stays; try again. */
                uint8_t r;
                random_bytes(&r, 1);
                rekey_schedule(sa, err == IKE_N_TEMPORARY_FAILURE ? 2u + r % 4u : 30);
                return;
        }
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA), *np = ike_msg_find(m, IKE_PL_NONCE),
                         *kep = ike_msg_find(m, IKE_PL_KE);
        IkeSa child;
        IkeNonce nonce;
        IkeKe ke;
        size_t idx;
        if (!sap || !np || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_CHILD, true, &child) != IKE_OK ||
            ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK ||
            !choose(sa->def->esp_proposals, sa->def->n_esp_proposals, &child, &sa->rk.esp, &idx) ||
            (esp_group(&sa->rk.esp) != 0) != (kep != NULL) ||
            (kep && (ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK || ke.group != esp_group(&sa->rk.esp)))) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the peer's answer to our CHILD SA rekey is not acceptable");
                bool fresh = sa->rk.fresh;
                rekey_clear(sa);
                if (fresh) {
                        sa->want_child = false;
                        tell_child_down(sa, "the peer's answer to CREATE_CHILD_SA is not acceptable");
                }
                else
                        rekey_schedule(sa, 30);
                return;
        }
        if (sa->rk.fresh) {
                /* Its selectors, as the peer narrowed them: TSi is ours. */
                const IkePayload *tsi = ike_msg_find(m, IKE_PL_TSI), *tsr = ike_msg_find(m, IKE_PL_TSR);
                IkeTsList ours, theirs;
                if (!tsi || !tsr || ike_ts_decode(tsi->body, tsi->len, &ours) != IKE_OK ||
                    ike_ts_decode(tsr->body, tsr->len, &theirs) != IKE_OK || ours.n == 0 || theirs.n == 0) {
                        rekey_clear(sa);
                        sa->want_child = false;
                        tell_child_down(sa, "the peer's answer to CREATE_CHILD_SA has no usable traffic selectors");
                        return;
                }
                sa->tsi = sa->initiator ? ours : theirs;
                sa->tsr = sa->initiator ? theirs : ours;
        }
        sa->rk.spi_out = proposal_spi(&child.prop[idx]);
        sa->rk.peer_nonce = g_bytes_new(nonce.data, nonce.len);
        sa->rk.peer_ke = kep ? g_bytes_new(ke.data, ke.len) : NULL;
        child_install(sa, true, rekey_request_installed);
}

static void rekey_send(Sa *sa) {
        uint8_t plain[MSG_BUF];
        IkeBuilder b;
        uint8_t spi[4];
        ike_builder_init(&b, plain, sizeof plain);
        if (!sa->rk.fresh)
                ike_build_notify(&b, BH_PROTO_ESP, spi_octets(sa->child_spi_in, spi), 4, IKE_N_REKEY_SA, NULL, 0);
        if (sa->def->mode == BH_MODE_TRANSPORT)
                ike_build_notify(&b, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
        ike_build_sa(&b, sa->def->esp_proposals, sa->def->n_esp_proposals, 1, spi_octets(sa->rk.spi_in, spi), 4);
        ike_build_nonce(&b, g_bytes_get_data(sa->rk.nonce, NULL), g_bytes_get_size(sa->rk.nonce));
        if (sa->rk.ke)
                ike_build_ke(&b, sa->rk.group, g_bytes_get_data(sa->rk.ke, NULL), g_bytes_get_size(sa->rk.ke));
        if (sa->rk.fresh) {
                /* A new CHILD SA asks for what the definition allows. */
                IkeTsList ours, theirs;
                ts_from_def(sa->def->local_ts, sa->def->n_local_ts, &ours);
                ts_from_def(sa->def->remote_ts, sa->def->n_remote_ts, &theirs);
                ts_build(&b, IKE_PL_TSI, &ours);
                ts_build(&b, IKE_PL_TSR, &theirs);
        } else {
                /* sa->tsi is the IKE SA initiator's side; TSi here is ours. */
                ts_build(&b, IKE_PL_TSI, sa->initiator ? &sa->tsi : &sa->tsr);
                ts_build(&b, IKE_PL_TSR, sa->initiator ? &sa->tsr : &sa->tsi);
        }
        uint32_t id = sa->next_request++;
        send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, false, id, &b, NULL);
        if (sa->rk.fresh)
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "phase 2: asking the peer for a CHILD SA");
        else
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "rekeying the CHILD SA %08x/%08x", sa->child_spi_in,
                              sa->child_spi_out);
}

/* --- the peer asks */

static void rekey_answer_sent(Sa *sa) {
        rekey_clear(sa);
}

static void rekey_answer_installed(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the peer's rekeyed CHILD SA could not be installed: %s",
                              error_message);
                uint32_t id = sa->rk.msg_id;
                rekey_clear(sa);
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_NO_PROPOSAL_CHOSEN, NULL);
                return;
        }
        child_switch(sa);
        uint8_t plain[MSG_BUF];
        IkeBuilder b;
        uint8_t spi[4];
        ike_builder_init(&b, plain, sizeof plain);
        if (sa->def->mode == BH_MODE_TRANSPORT)
                ike_build_notify(&b, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
        ike_build_sa(&b, &sa->rk.esp, 1, sa->rk.esp_num, spi_octets(sa->rk.spi_in, spi), 4);
        ike_build_nonce(&b, g_bytes_get_data(sa->rk.nonce, NULL), g_bytes_get_size(sa->rk.nonce));
        if (sa->rk.ke)
                ike_build_ke(&b, sa->rk.group, g_bytes_get_data(sa->rk.ke, NULL), g_bytes_get_size(sa->rk.ke));
        /* TSi is the side of whoever started this exchange: the peer. */
        ts_build(&b, IKE_PL_TSI, &sa->rk.tsi);
        ts_build(&b, IKE_PL_TSR, &sa->rk.tsr);
        send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, true, sa->rk.msg_id, &b, rekey_answer_sent);
        /* Our own rekey would now replace the new one: wait a full period. */
        rekey_schedule(sa, sa->def->child_rekey_time);
}

static void child_exchange_started(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "cryptod cannot start a CHILD SA exchange: %s", error_message);
                bool answering = sa->rk.answering, fresh = sa->rk.fresh;
                uint32_t id = sa->rk.msg_id;
                rekey_clear(sa);
                if (answering)
                        respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TEMPORARY_FAILURE, NULL);
                else if (fresh) {
                        sa->want_child = false;
                        tell_child_down(sa, "cryptod cannot start a CHILD SA exchange");
                }
                else
                        rekey_schedule(sa, 30);
                return;
        }
        DBusMessageIter it;
        dbus_uint32_t xid;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_get_basic(&it, &xid);
        dbus_message_iter_next(&it);
        sa->rk.xid = xid;
        sa->rk.nonce = read_bytes(&it);
        GBytes *ke = read_bytes(&it);
        if (g_bytes_get_size(ke) == 0)
                g_bytes_unref(ke);
        else
                sa->rk.ke = ke;
        if (sa->rk.answering)
                child_install(sa, false, rekey_answer_installed);
        else
                rekey_send(sa);
}

/* The peer's CREATE_CHILD_SA request, decrypted and checked. */
static void child_request(Sa *sa, const IkeMsg *m) {
        uint32_t id = m->hdr.msg_id;
        sa->peer_request = id + 1;
        const IkePayload *rekey = ike_msg_find_notify(m, IKE_N_REKEY_SA);
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA), *np = ike_msg_find(m, IKE_PL_NONCE),
                         *kep = ike_msg_find(m, IKE_PL_KE);
        const IkePayload *tsi = ike_msg_find(m, IKE_PL_TSI), *tsr = ike_msg_find(m, IKE_PL_TSR);
        IkeNotify rn;
        if (!tsi && !tsr && !rekey) {
                ike_rekey_request(sa, m);
                return;
        }
        if (!tsi || !tsr) {
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_INVALID_SYNTAX, NULL);
                return;
        }
        /* One CHILD SA per tunnel: without REKEY_SA, a request makes it
         * anew after it was removed (phase 2 again), and only then. */
        bool fresh = rekey == NULL;
        if (fresh && sa->delete_child) {
                /* Our Delete of the last one is still to go out: soon. */
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TEMPORARY_FAILURE, NULL);
                return;
        }
        if (fresh && sa->child_spi_in) {
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the peer asks for a second CHILD SA: refused");
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_NO_ADDITIONAL_SAS, NULL);
                return;
        }
        if (!fresh && (ike_notify_decode(rekey->body, rekey->len, &rn) != IKE_OK || rn.spi_size != 4)) {
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_INVALID_SYNTAX, NULL);
                return;
        }
        uint32_t old = fresh ? 0 : (uint32_t) rn.spi[0] << 24 | (uint32_t) rn.spi[1] << 16 | (uint32_t) rn.spi[2] << 8 | rn.spi[3];
        if (!fresh && old != sa->child_spi_out) {
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the peer rekeys an unknown CHILD SA %08x", old);
                uint8_t spi[4];
                uint8_t plain[64];
                IkeBuilder b;
                ike_builder_init(&b, plain, sizeof plain);
                ike_build_notify(&b, BH_PROTO_ESP, spi_octets(old, spi), 4, IKE_N_CHILD_SA_NOT_FOUND, NULL, 0);
                send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, true, id, &b, NULL);
                return;
        }
        if (sa->rk.active || sa->deleting_old || sa->old_spi_in || sa->ik.active || sa->ik.answering || sa->superseded) {
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the peer's CHILD SA rekey collides with ours: TEMPORARY_FAILURE");
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TEMPORARY_FAILURE, NULL);
                return;
        }
        IkeSa child;
        IkeNonce nonce;
        IkeTsList pi, pr, ni, nr;
        size_t idx;
        if (ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_CHILD, false, &child) != IKE_OK ||
            ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK ||
            !choose(sa->def->esp_proposals, sa->def->n_esp_proposals, &child, &sa->rk.esp, &idx)) {
                g_autofree char *ours = bh_proposal_list_to_string(sa->def->esp_proposals, sa->def->n_esp_proposals);
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "CHILD SA rekey: NO_PROPOSAL_CHOSEN: none of the peer's "
                              "proposals meets ours (%s)", ours);
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_NO_PROPOSAL_CHOSEN, NULL);
                return;
        }
        uint16_t group = esp_group(&sa->rk.esp);
        IkeKe ke;
        if (group && (!kep || ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK || ke.group != group)) {
                uint8_t g[2] = { (uint8_t) (group >> 8), (uint8_t) group };
                uint8_t plain[64];
                IkeBuilder b;
                ike_builder_init(&b, plain, sizeof plain);
                ike_build_notify(&b, 0, NULL, 0, IKE_N_INVALID_KE_PAYLOAD, g, 2);
                send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, true, id, &b, NULL);
                return;
        }
        if (ike_ts_decode(tsi->body, tsi->len, &pi) != IKE_OK || ike_ts_decode(tsr->body, tsr->len, &pr) != IKE_OK) {
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TS_UNACCEPTABLE, NULL);
                return;
        }
        /* The peer's TSi is its side: our remote selectors. */
        ts_narrow(&pi, sa->def->remote_ts, sa->def->n_remote_ts, &ni);
        ts_narrow(&pr, sa->def->local_ts, sa->def->n_local_ts, &nr);
        if (ni.n == 0 || nr.n == 0) {
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TS_UNACCEPTABLE, NULL);
                return;
        }
        sa->rk.answering = true;
        sa->rk.fresh = fresh;
        sa->rk.msg_id = id;
        sa->rk.tsi = ni;
        sa->rk.tsr = nr;
        if (fresh) {
                /* ni is the peer's side, nr ours; sa->tsi the IKE SA initiator's. */
                sa->tsi = sa->initiator ? nr : ni;
                sa->tsr = sa->initiator ? ni : nr;
        }
        sa->rk.esp_num = child.prop[idx].num;
        sa->rk.group = group;
        sa->rk.spi_out = proposal_spi(&child.prop[idx]);
        sa->rk.spi_in = random_child_spi();
        sa->rk.peer_nonce = g_bytes_new(nonce.data, nonce.len);
        sa->rk.peer_ke = group ? g_bytes_new(ke.data, ke.len) : NULL;
        child_start(sa, group);
}

/* --- timers */

/* A rekey timer: the IKE SA's responder waits a tenth longer (see above). */
static GSequenceIter *add_rekey_timer(Sa *sa, unsigned seconds, GSourceFunc func) {
        gint64 ms = (gint64) seconds * 1000 + (sa->initiator ? 0 : (gint64) seconds * 100);
        return timer_add(sa->d, ms, func, sa);
}

static gboolean rekey_due(gpointer userdata) {
        Sa *sa = userdata;
        sa->rekey_timer = 0;
        if (sa->state != SA_ESTABLISHED)
                return G_SOURCE_REMOVE;
        if (!sa->child_spi_in && !sa->want_child)
                return G_SOURCE_REMOVE;         /* phase 2 is down, and nobody asked for it */
        if (sa->child_spi_in && sa->want_child) {
                /* The peer made it meanwhile: its own schedule from now. */
                sa->want_child = false;
                rekey_schedule(sa, sa->def->child_rekey_time);
                return G_SOURCE_REMOVE;
        }
        if (sa->busy || sa->request || sa->rk.answering || sa->old_spi_in || sa->ik.active || sa->ik.answering ||
            sa->superseded || sa->delete_child) {
                rekey_schedule(sa, 1);  /* an exchange is under way: soon */
                return G_SOURCE_REMOVE;
        }
        sa->rk.active = true;
        sa->rk.fresh = sa->child_spi_in == 0;
        sa->rk.group = sa->child_group ? sa->child_group
                       : sa->def->n_esp_proposals ? esp_group(&sa->def->esp_proposals[0]) : 0;
        sa->rk.spi_in = random_child_spi();
        child_start(sa, sa->rk.group);
        return G_SOURCE_REMOVE;
}

static void rekey_schedule(Sa *sa, unsigned seconds) {
        timer_cancel(sa->d, &sa->rekey_timer);
        if (seconds == 0 || sa->state == SA_DEAD)
                return;
        sa->rekey_timer = add_rekey_timer(sa, seconds, rekey_due);
}

/* Dead peer detection: an empty INFORMATIONAL every dpd_delay seconds;
 * the retransmissions that go unanswered end the IKE SA (retransmit()). */
static gboolean dpd_due(gpointer userdata) {
        Sa *sa = userdata;
        sa->dpd_timer = 0;
        if (sa->state != SA_ESTABLISHED)
                return G_SOURCE_REMOVE;
        if (!sa->busy && !sa->request) {
                uint8_t plain[8];
                IkeBuilder b;
                ike_builder_init(&b, plain, sizeof plain);
                uint32_t id = sa->next_request++;
                bh_log_tunnel(BH_LOG_DEBUG, sa->tunnel, "liveness check");
                send_protected(sa, IKE_EXCH_INFORMATIONAL, false, id, &b, NULL);
        }
        dpd_schedule(sa);
        return G_SOURCE_REMOVE;
}

static void dpd_schedule(Sa *sa) {
        timer_cancel(sa->d, &sa->dpd_timer);
        if (sa->def->dpd_delay && sa->state == SA_ESTABLISHED)
                sa->dpd_timer = timer_add(sa->d, (gint64) sa->def->dpd_delay * 1000, dpd_due, sa);
}

static void ike_rekey_schedule(Sa *sa, unsigned seconds);

static void sa_established(Sa *sa) {
        sa->state = SA_ESTABLISHED;
        /* A new IKE SA from a rekey keeps its CHILD SA, and the CHILD SA's
         * own schedule. */
        gint64 now = g_get_monotonic_time();
        if (!sa->child_since)
                sa->child_since = now;
        gint64 left = (gint64) sa->def->child_rekey_time - (now - sa->child_since) / G_USEC_PER_SEC;
        rekey_schedule(sa, sa->def->child_rekey_time && sa->child_spi_in ? (unsigned) MAX(left, 1) : 0);
        ike_rekey_schedule(sa, sa->def->rekey_time);
        dpd_schedule(sa);
}

/* ---------------------------------------------------------------- IKE SA rekey */

/*
 * IKE SA rekeying (RFC 7296 1.3.2, 2.18): CREATE_CHILD_SA with an IKE
 * proposal (SPI of 8 octets), a nonce and a KE value makes a new IKE SA
 * whose keys come from the old SK_d and a new shared secret (cryptod:
 * IkeRekeyNew, IkeRekeyDerive). The side that started it initiates the new
 * SA, moves the CHILD SAs over and deletes the old SA; the other side keeps
 * the old one, superseded, until that Delete comes.
 */

static void ike_rekey_schedule(Sa *sa, unsigned seconds);

static uint8_t *spi64_octets(uint64_t spi, uint8_t out[8]) {
        for (int i = 0; i < 8; i++)
                out[i] = (uint8_t) (spi >> (56 - 8 * i));
        return out;
}

static uint64_t proposal_spi64(const IkeProposal *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p->spi[i];
        return v;
}

/* The new IKE SA takes over from old: same tunnel, endpoints and CHILD SA,
 * new SPIs, handle and message IDs. */
static Sa *sa_successor(Sa *old, bool initiator) {
        Sa *n = sa_new(old->d, old->def, initiator);
        n->spi_i = initiator ? old->ik.spi : old->ik.peer_spi;
        n->spi_r = initiator ? old->ik.peer_spi : old->ik.spi;
        n->local = old->local;
        n->remote = old->remote;
        n->natt = old->natt;
        n->nat = old->nat;
        n->frag = old->frag;
        n->handle = old->ik.handle;
        old->ik.handle = 0;
        n->ike = old->ik.ike;
        n->suite = suite_of(&n->ike);
        n->group = old->ik.group;
        n->esp = old->esp;
        n->child_spi_in = old->child_spi_in;
        n->child_spi_out = old->child_spi_out;
        /* tsi is the IKE SA initiator's side: it follows the role. */
        n->tsi = initiator == old->initiator ? old->tsi : old->tsr;
        n->tsr = initiator == old->initiator ? old->tsr : old->tsi;
        n->peer_id = g_strdup(old->peer_id);
        n->child_since = old->child_since;
        n->want_child = old->want_child;
        n->child_group = old->child_group;
        old->want_child = false;
        old->superseded = true;
        timer_cancel(old->d, &old->rekey_timer);
        timer_cancel(old->d, &old->dpd_timer);
        timer_cancel(old->d, &old->ike_rekey_timer);
        sa_register(n);
        sa_make_current(n);
        sa_established(n);
        if (n->want_child && !n->child_spi_in)
                n->rekey_timer = timer_add(n->d, 0, rekey_due, n);      /* phase 2 still to come */
        g_autofree char *p = bh_proposal_to_string(&n->ike);
        bh_log_tunnel(BH_LOG_EVENTS, n->tunnel,
                      "IKE SA rekeyed (%s by %s): %016" G_GINT64_MODIFIER "x_i %016" G_GINT64_MODIFIER
                      "x_r replaces %016" G_GINT64_MODIFIER "x_i %016" G_GINT64_MODIFIER "x_r",
                      p, initiator ? "us" : "the peer", (guint64) n->spi_i, (guint64) n->spi_r, (guint64) old->spi_i,
                      (guint64) old->spi_r);
        tell_up(n, n->peer_id ? n->peer_id : "");
        return n;
}

static void ike_rekey_derive(Sa *sa, CryptoReply then) {
        DBusMessageIter it;
        DBusMessage *m = crypto_method("IkeRekeyDerive");
        dbus_uint64_t h = sa->ik.handle, old = sa->handle;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &h);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &old);
        append_gbytes(&it, sa->ik.peer_ke);
        append_gbytes(&it, sa->ik.peer_nonce);
        bool we = sa->ik.active;
        dbus_uint64_t spi_i = we ? sa->ik.spi : sa->ik.peer_spi, spi_r = we ? sa->ik.peer_spi : sa->ik.spi;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &spi_i);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &spi_r);
        BhIkeSuite suite = suite_of(&sa->ik.ike);
        append_suite(&it, &suite);
        crypto_call(sa, m, then);
}

static void ike_rekey_new(Sa *sa, CryptoReply then) {
        DBusMessage *m = crypto_method("IkeRekeyNew");
        dbus_uint64_t old = sa->handle;
        dbus_bool_t initiated = sa->ik.active;
        dbus_uint16_t group = sa->ik.group;
        dbus_message_append_args(m, DBUS_TYPE_UINT64, &old, DBUS_TYPE_BOOLEAN, &initiated, DBUS_TYPE_UINT16, &group,
                                 DBUS_TYPE_INVALID);
        crypto_call(sa, m, then);
}

/* cryptod's answer to IkeRekeyNew: the new handle, KE value and nonce. */
static bool ike_rekey_made(Sa *sa, DBusMessage *reply, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "cryptod cannot make the rekeyed IKE SA: %s", error_message);
                return false;
        }
        DBusMessageIter it;
        dbus_uint64_t h;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_get_basic(&it, &h);
        dbus_message_iter_next(&it);
        sa->ik.handle = h;
        sa->ik.ke = read_bytes(&it);
        sa->ik.nonce = read_bytes(&it);
        sa->ik.spi = random_spi();
        return true;
}

/* --- we ask */

static void ike_rekey_derived_initiator(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the rekeyed IKE SA's keys: %s", error_message);
                ike_rekey_clear(sa);
                ike_rekey_schedule(sa, 30);
                return;
        }
        Sa *old = sa_ref(sa);
        sa_successor(old, true);
        ike_rekey_clear(old);
        sa_delete(old, true);   /* the old IKE SA goes: Delete on it */
        sa_unref(old);
}

static void ike_rekey_response(Sa *sa, const IkeMsg *m) {
        sa_answered(sa);
        IkeNotify n;
        uint16_t err = error_notify(m, &n);
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA), *np = ike_msg_find(m, IKE_PL_NONCE),
                         *kep = ike_msg_find(m, IKE_PL_KE);
        IkeSa peer;
        IkeNonce nonce;
        IkeKe ke;
        size_t idx;
        BhProposal chosen;
        if (err || !sap || !np || !kep || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_REKEY_IKE, true, &peer) != IKE_OK ||
            ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK || ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK ||
            !choose(sa->def->ike_proposals, sa->def->n_ike_proposals, &peer, &chosen, &idx) ||
            transform_id(&chosen, BH_TRANSFORM_DH) != sa->ik.group || ke.group != sa->ik.group) {
                bh_log_tunnel(err == IKE_N_TEMPORARY_FAILURE ? BH_LOG_INFORMATION : BH_LOG_ERRORS, sa->tunnel,
                              "IKE SA rekey %s", err ? ike_notify_name(err) : "answered with what we did not offer");
                /* Its new handle goes; the old IKE SA stays. */
                free_handle(sa->d, &sa->ik.handle);
                ike_rekey_clear(sa);
                uint8_t r;
                random_bytes(&r, 1);
                ike_rekey_schedule(sa, err == IKE_N_TEMPORARY_FAILURE ? 2u + r % 4u : 30);
                return;
        }
        sa->ik.ike = chosen;
        sa->ik.peer_spi = proposal_spi64(&peer.prop[idx]);
        sa->ik.peer_ke = g_bytes_new(ke.data, ke.len);
        sa->ik.peer_nonce = g_bytes_new(nonce.data, nonce.len);
        ike_rekey_derive(sa, ike_rekey_derived_initiator);
}

static void ike_rekey_started(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!ike_rekey_made(sa, reply, error_message)) {
                ike_rekey_clear(sa);
                ike_rekey_schedule(sa, 30);
                return;
        }
        uint8_t plain[MSG_BUF], spi[8];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_sa(&b, sa->def->ike_proposals, sa->def->n_ike_proposals, 1, spi64_octets(sa->ik.spi, spi), 8);
        ike_build_nonce(&b, g_bytes_get_data(sa->ik.nonce, NULL), g_bytes_get_size(sa->ik.nonce));
        ike_build_ke(&b, sa->ik.group, g_bytes_get_data(sa->ik.ke, NULL), g_bytes_get_size(sa->ik.ke));
        uint32_t id = sa->next_request++;
        send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, false, id, &b, NULL);
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "rekeying the IKE SA %016" G_GINT64_MODIFIER "x",
                      (guint64) sa_local_spi(sa));
}

static gboolean ike_rekey_due(gpointer userdata) {
        Sa *sa = userdata;
        sa->ike_rekey_timer = 0;
        if (sa->state != SA_ESTABLISHED || sa->superseded)
                return G_SOURCE_REMOVE;
        if (sa->busy || sa->request || sa->rk.active || sa->rk.answering || sa->ik.answering || sa->old_spi_in ||
            sa->delete_child) {
                ike_rekey_schedule(sa, 1);
                return G_SOURCE_REMOVE;
        }
        sa->ik.active = true;
        /* The group of the first IKE proposal: the one we would start with. */
        sa->ik.group = transform_id(&sa->def->ike_proposals[0], BH_TRANSFORM_DH);
        ike_rekey_new(sa, ike_rekey_started);
        return G_SOURCE_REMOVE;
}

static void ike_rekey_schedule(Sa *sa, unsigned seconds) {
        timer_cancel(sa->d, &sa->ike_rekey_timer);
        if (seconds == 0 || sa->state == SA_DEAD || sa->superseded)
                return;
        sa->ike_rekey_timer = add_rekey_timer(sa, seconds, ike_rekey_due);
}

/* --- the peer asks */

static void ike_rekey_answered(Sa *sa) {
        /* The answer is out on the old SA: the new one takes over. The old
         * one waits, superseded, for the peer's Delete. */
        sa_successor(sa, false);
        ike_rekey_clear(sa);
}

static void ike_rekey_derived_responder(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply) {
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the peer's rekeyed IKE SA: %s", error_message);
                uint32_t id = sa->ik.msg_id;
                free_handle(sa->d, &sa->ik.handle);
                ike_rekey_clear(sa);
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_NO_PROPOSAL_CHOSEN, NULL);
                return;
        }
        uint8_t plain[MSG_BUF], spi[8];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_sa(&b, &sa->ik.ike, 1, sa->ik.num, spi64_octets(sa->ik.spi, spi), 8);
        ike_build_nonce(&b, g_bytes_get_data(sa->ik.nonce, NULL), g_bytes_get_size(sa->ik.nonce));
        ike_build_ke(&b, sa->ik.group, g_bytes_get_data(sa->ik.ke, NULL), g_bytes_get_size(sa->ik.ke));
        send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, true, sa->ik.msg_id, &b, ike_rekey_answered);
}

static void ike_rekey_made_responder(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!ike_rekey_made(sa, reply, error_message)) {
                uint32_t id = sa->ik.msg_id;
                ike_rekey_clear(sa);
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TEMPORARY_FAILURE, NULL);
                return;
        }
        ike_rekey_derive(sa, ike_rekey_derived_responder);
}

/* The peer's CREATE_CHILD_SA without selectors: a rekey of this IKE SA. */
static void ike_rekey_request(Sa *sa, const IkeMsg *m) {
        uint32_t id = m->hdr.msg_id;
        const IkePayload *sap = ike_msg_find(m, IKE_PL_SA), *np = ike_msg_find(m, IKE_PL_NONCE),
                         *kep = ike_msg_find(m, IKE_PL_KE);
        if (sa->ik.active || sa->rk.active || sa->rk.answering || sa->deleting_old || sa->old_spi_in || sa->delete_child) {
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the peer's IKE SA rekey collides with another: TEMPORARY_FAILURE");
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_TEMPORARY_FAILURE, NULL);
                return;
        }
        IkeSa peer;
        IkeNonce nonce;
        IkeKe ke;
        size_t idx;
        BhProposal chosen;
        if (!sap || !np || !kep || ike_sa_decode(sap->body, sap->len, IKE_SA_CTX_REKEY_IKE, false, &peer) != IKE_OK ||
            ike_nonce_decode(np->body, np->len, &nonce) != IKE_OK ||
            !choose(sa->def->ike_proposals, sa->def->n_ike_proposals, &peer, &chosen, &idx)) {
                g_autofree char *ours = bh_proposal_list_to_string(sa->def->ike_proposals, sa->def->n_ike_proposals);
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "IKE SA rekey: NO_PROPOSAL_CHOSEN: none of the peer's "
                              "proposals meets ours (%s)", ours);
                respond_notify(sa, IKE_EXCH_CREATE_CHILD_SA, id, IKE_N_NO_PROPOSAL_CHOSEN, NULL);
                return;
        }
        uint16_t group = transform_id(&chosen, BH_TRANSFORM_DH);
        if (ike_ke_decode(kep->body, kep->len, &ke) != IKE_OK || ke.group != group) {
                uint8_t g[2] = { (uint8_t) (group >> 8), (uint8_t) group };
                uint8_t plain[64];
                IkeBuilder b;
                ike_builder_init(&b, plain, sizeof plain);
                ike_build_notify(&b, 0, NULL, 0, IKE_N_INVALID_KE_PAYLOAD, g, 2);
                send_protected(sa, IKE_EXCH_CREATE_CHILD_SA, true, id, &b, NULL);
                return;
        }
        sa->ik.answering = true;
        sa->ik.msg_id = id;
        sa->ik.ike = chosen;
        sa->ik.num = peer.prop[idx].num;
        sa->ik.group = group;
        sa->ik.peer_spi = proposal_spi64(&peer.prop[idx]);
        sa->ik.peer_ke = g_bytes_new(ke.data, ke.len);
        sa->ik.peer_nonce = g_bytes_new(nonce.data, nonce.len);
        ike_rekey_new(sa, ike_rekey_made_responder);
}

/* ---------------------------------------------------------------- phase 2 alone */

/*
 * ike cmd=remove phase=2 ends the CHILD SA and keeps the IKE SA; ike
 * cmd=activate then makes a new one over it with CREATE_CHILD_SA (no
 * REKEY_SA: rekey_due with rk.fresh). Our half leaves filterd at once; the
 * Delete follows as soon as no other exchange of ours is out.
 */

static void child_gone(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (!reply)
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "removing the CHILD SA: %s", error_message);
}

static void child_drop(Sa *sa) {
        DBusMessageIter it;
        DBusMessage *m = handle_method(sa, "IkeChildRemove", &it);
        dbus_uint32_t in = sa->child_spi_in, out = sa->child_spi_out;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &in);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &out);
        crypto_call(sa, m, child_gone);
        sa->child_spi_in = sa->child_spi_out = 0;
        sa->child_since = 0;
        timer_cancel(sa->d, &sa->rekey_timer);
}

static gboolean child_delete_due(gpointer userdata) {
        Sa *sa = userdata;
        sa->delete_timer = NULL;
        if (sa->state != SA_ESTABLISHED || !sa->delete_child)
                return G_SOURCE_REMOVE;
        if (sa->busy || sa->request) {
                sa->delete_timer = timer_add(sa->d, 100, child_delete_due, sa);
                return G_SOURCE_REMOVE;
        }
        uint8_t plain[64];
        IkeBuilder b;
        uint32_t spi = sa->delete_child;
        sa->delete_child = 0;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_delete(&b, BH_PROTO_ESP, &spi, 1);
        uint32_t id = sa->next_request++;
        send_protected(sa, IKE_EXCH_INFORMATIONAL, false, id, &b, NULL);
        return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------- informational */

/* Our Delete is out, sealed once for every retransmission: the keys and
 * the CHILD SAs go now (cryptod takes them out of filterd with the handle),
 * so that a new IKE SA of the tunnel never meets them. The answer, or the
 * end of the retransmissions, ends the SA. */
static void delete_sent(Sa *sa) {
        timer_cancel(sa->d, &sa->rekey_timer);
        timer_cancel(sa->d, &sa->dpd_timer);
        timer_cancel(sa->d, &sa->ike_rekey_timer);
        timer_cancel(sa->d, &sa->delete_timer);
        free_handle(sa->d, &sa->ik.handle);
        free_handle(sa->d, &sa->handle);
}

static gboolean ike_delete_due(gpointer userdata) {
        Sa *sa = userdata;
        sa->ike_delete_timer = NULL;
        sa_delete(sa, true);
        return G_SOURCE_REMOVE;
}

static void sa_delete(Sa *sa, bool tell_peer) {
        if (sa->state == SA_DEAD)
                return;
        if (tell_peer && sa->state == SA_ESTABLISHED && sa->busy && sa->superseded) {
                /* The IKE SA our rekey replaced, while cryptod still works
                 * for it (a retransmitted answer being opened): its Delete
                 * goes once that is done. Dropped without one, the peer
                 * would keep its half, waiting for it. */
                timer_cancel(sa->d, &sa->ike_delete_timer);
                sa->ike_delete_timer = timer_add(sa->d, 100, ike_delete_due, sa);
                return;
        }
        if (tell_peer && (sa->state == SA_ESTABLISHED) && !sa->busy) {
                uint8_t plain[64];
                IkeBuilder b;
                ike_builder_init(&b, plain, sizeof plain);
                ike_build_delete(&b, BH_PROTO_IKE, NULL, 0);
                uint32_t id = sa->next_request++;
                sa_answered(sa);
                /* Deleting from now on, while cryptod seals: the tunnel may
                 * be negotiated again at once (Initiate). */
                sa->state = SA_DELETING;
                send_protected(sa, IKE_EXCH_INFORMATIONAL, false, id, &b, delete_sent);
                return;
        }
        sa_drop(sa);
}

static void outbound_switched(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        if (sa->out_deferred && !reply)
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "the new outbound SA %08x could not be installed: %s",
                              sa->child_spi_out, error_message);
        sa->out_deferred = false;
        uint8_t plain[64];
        IkeBuilder b;
        uint32_t old = sa->old_spi_in;
        ike_builder_init(&b, plain, sizeof plain);
        ike_build_delete(&b, BH_PROTO_ESP, &old, 1);
        send_protected(sa, IKE_EXCH_INFORMATIONAL, true, sa->delete_msg_id, &b, remove_old_child);
}

static void informational_request(Sa *sa, const IkeMsg *m) {
        bool delete_ike = false, delete_old = false;
        uint32_t child_spis[IKE_MSG_PAYLOADS_MAX];
        size_t n_child = 0;
        for (size_t i = 0; i < m->n; i++) {
                IkeDelete del;
                if (m->pl[i].type != IKE_PL_DELETE || ike_delete_decode(m->pl[i].body, m->pl[i].len, &del) != IKE_OK)
                        continue;
                if (del.proto == BH_PROTO_IKE)
                        delete_ike = true;
                else if (del.proto == BH_PROTO_ESP)
                        for (size_t k = 0; k < del.n; k++) {
                                uint32_t spi = ike_delete_spi(&del, k);
                                if (spi == sa->child_spi_out && n_child < G_N_ELEMENTS(child_spis))
                                        child_spis[n_child++] = sa->child_spi_in;
                                else if (spi == sa->old_spi_out && sa->old_spi_in && !delete_old)
                                        delete_old = true;      /* after the peer's rekey */
                        }
        }
        uint8_t plain[256];
        IkeBuilder b;
        ike_builder_init(&b, plain, sizeof plain);
        if (delete_old && !delete_ike && !n_child) {
                /* The peer rekeyed and now receives on the new CHILD SA:
                 * ours goes out on it too, and our half of the old one goes. */
                sa->peer_request = m->hdr.msg_id + 1;
                sa->delete_msg_id = m->hdr.msg_id;
                if (sa->out_deferred) {
                        DBusMessageIter it;
                        DBusMessage *o = handle_method(sa, "IkeChildOutbound", &it);
                        dbus_uint32_t spi = sa->child_spi_out;
                        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &spi);
                        crypto_call(sa, o, outbound_switched);
                } else {
                        outbound_switched(sa, NULL, NULL, NULL);
                }
                return;
        }
        if (n_child && !delete_ike)
                ike_build_delete(&b, BH_PROTO_ESP, child_spis, n_child);
        sa->peer_request = m->hdr.msg_id + 1;
        if (delete_ike && sa->superseded) {
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "the rekeyed IKE SA's old one deleted by the peer");
                send_protected(sa, IKE_EXCH_INFORMATIONAL, true, m->hdr.msg_id, &b, sa_drop);
                return;
        }
        if (n_child && !delete_ike) {
                /* Phase 2 alone ends: our half goes too, the IKE SA stays. */
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "CHILD SA %08x/%08x deleted by the peer; the IKE SA stays",
                              sa->child_spi_in, sa->child_spi_out);
                send_protected(sa, IKE_EXCH_INFORMATIONAL, true, m->hdr.msg_id, &b, NULL);
                child_drop(sa);
                tell_child_down(sa, "CHILD SA deleted by the peer");
                return;
        }
        if (delete_ike) {
                const char *what = "IKE SA deleted by the peer";
                bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "%s", what);
                /* tmd takes the tunnel down while cryptod seals the answer; the
                 * IKE SA goes once it is out. */
                tell_down(sa, what);
                send_protected(sa, IKE_EXCH_INFORMATIONAL, true, m->hdr.msg_id, &b, sa_drop);
                return;
        }
        bh_log_tunnel(BH_LOG_DEBUG, sa->tunnel, "liveness check from the peer answered");
        send_protected(sa, IKE_EXCH_INFORMATIONAL, true, m->hdr.msg_id, &b, NULL);
}

/* ---------------------------------------------------------------- receiving */

struct Opening {
        GBytes *raw;
        IkeMsg m;
};

static void opened(Sa *sa, DBusMessage *reply, const char *error_name, const char *error_message) {
        Opening *op = g_steal_pointer(&sa->opening);
        if (!op)
                return;
        if (!reply) {
                sa->d->dropped++;
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "%s message dropped: %s",
                              ike_exchange_name(op->m.hdr.exchange), error_message);
                opening_free(op);
                return;
        }
        DBusMessageIter it;
        dbus_message_iter_init(reply, &it);
        GBytes *plain = read_bytes(&it);
        IkeMsg *m = &op->m;
        uint8_t first = m->sk.next;
        if (m->sk.type == IKE_PL_SKF) {
                /* One verified fragment (RFC 7383 2.6): kept until the
                 * message is whole, which is then read as if from SK. */
                sa->d->fragments_received++;
                /* The two directions count message IDs apart (RFC 7383 2.6.2). */
                IkeFragBuf *fb = &sa->frags[ike_header_is_response(&m->hdr)];
                IkeFragResult r = ike_frag_add(fb, m->hdr.msg_id, m->sk.frag_number, m->sk.frag_total, m->sk.next,
                                               g_bytes_get_data(plain, NULL), g_bytes_get_size(plain));
                g_bytes_unref(plain);
                if (r != IKE_FRAG_COMPLETE) {
                        if (r == IKE_FRAG_INVALID || r == IKE_FRAG_STALE)
                                sa->d->dropped++;
                        bh_log_tunnel(r == IKE_FRAG_STORED ? BH_LOG_DEBUG : BH_LOG_INFORMATION, sa->tunnel,
                                      "%s fragment %u of %u: %s", ike_exchange_name(m->hdr.exchange), m->sk.frag_number,
                                      m->sk.frag_total, ike_frag_result_name(r));
                        opening_free(op);
                        return;
                }
                size_t len;
                const uint8_t *whole = ike_frag_message(fb, &len, &first);
                plain = g_bytes_new(whole, len);
                ike_frag_clear(fb);
                bh_log_tunnel(BH_LOG_DEBUG, sa->tunnel, "%s reassembled from %u fragments",
                              ike_exchange_name(m->hdr.exchange), m->sk.frag_total);
        }
        IkeErr e = ike_msg_parse_inner(m, first, g_bytes_get_data(plain, NULL), g_bytes_get_size(plain));
        uint8_t type = 0;
        if (e == IKE_OK)
                e = ike_msg_check_exchange(m, &type);
        bool response = ike_header_is_response(&m->hdr);
        if (e != IKE_OK) {
                sa->d->dropped++;
                bh_log_tunnel(BH_LOG_ERRORS, sa->tunnel, "%s %s refused: %s (%s)", ike_exchange_name(m->hdr.exchange),
                              response ? "response" : "request", ike_err_name(e), ike_payload_name(type));
                if (!response) {
                        uint16_t n = ike_err_notify(e);
                        /* An IKE_AUTH that cannot be read ends the half-open
                         * SA once answered (2.21.2): nothing is kept. */
                        bool ends = m->hdr.exchange == IKE_EXCH_IKE_AUTH && sa->state == SA_HALF_OPEN;
                        if (ends) {
                                g_free(sa->failure);
                                sa->failure = g_strdup_printf("the peer's IKE_AUTH is malformed: %s (%s)", ike_err_name(e),
                                                              ike_payload_name(type));
                                sa->peer_request = m->hdr.msg_id + 1;
                        }
                        respond_notify(sa, m->hdr.exchange, m->hdr.msg_id, n ? n : IKE_N_INVALID_SYNTAX,
                                       ends ? refusal_sent : NULL);
                }
                g_bytes_unref(plain);
                opening_free(op);
                return;
        }
        if (m->hdr.exchange == IKE_EXCH_IKE_AUTH && response && sa->state == SA_AUTH_SENT)
                initiator_auth_response(sa, m);
        else if (m->hdr.exchange == IKE_EXCH_IKE_AUTH && !response && sa->state == SA_HALF_OPEN)
                responder_auth(sa, m);
        else if (m->hdr.exchange == IKE_EXCH_INFORMATIONAL && !response && sa->state >= SA_ESTABLISHED)
                informational_request(sa, m);
        else if (m->hdr.exchange == IKE_EXCH_INFORMATIONAL && response) {
                sa_answered(sa);
                if (sa->deleting_old) {
                        sa->deleting_old = false;
                        remove_old_child(sa);
                }
        } else if (m->hdr.exchange == IKE_EXCH_CREATE_CHILD_SA && !response && sa->state == SA_ESTABLISHED) {
                child_request(sa, m);
        } else if (m->hdr.exchange == IKE_EXCH_CREATE_CHILD_SA && response && sa->rk.active) {
                rekey_response(sa, m);
        } else if (m->hdr.exchange == IKE_EXCH_CREATE_CHILD_SA && response && sa->ik.active) {
                ike_rekey_response(sa, m);
        } else {
                sa->d->dropped++;
                bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "%s %s unexpected in state %s: dropped",
                              ike_exchange_name(m->hdr.exchange), response ? "response" : "request",
                              sa_state_names[sa->state]);
        }
        g_bytes_unref(plain);
        opening_free(op);
}

static void opening_free(Opening *op) {
        if (!op)
                return;
        g_bytes_unref(op->raw);
        g_free(op);
}

/* A message for an SA we have. */
static void sa_receive(Sa *sa, GBytes *raw, const IkeMsg *m, const Incoming *in) {
        bool response = ike_header_is_response(&m->hdr);
        bool fragment = m->sk.present && m->sk.type == IKE_PL_SKF;
        if (sa->busy) {
                /* Fragments come in bursts: they wait for cryptod in turn. */
                if (fragment && g_queue_get_length(&sa->frag_queue) < IKE_FRAG_MAX_FRAGMENTS) {
                        Queued *q = g_new0(Queued, 1);
                        q->raw = g_bytes_ref(raw);
                        q->in = *in;
                        g_queue_push_tail(&sa->frag_queue, q);
                        return;
                }
                sa->d->dropped++;
                return;
        }
        if (!response) {
                /* The peer's retransmission of a request we answered: once
                 * per retransmission, on its first fragment (RFC 7383 2.6.1). */
                if (m->hdr.msg_id + 1 == sa->peer_request && sa->response) {
                        if (!fragment || m->sk.frag_number == 1)
                                sa_send(sa, sa->response);
                        return;
                }
                if (m->hdr.msg_id != sa->peer_request) {
                        sa->d->dropped++;
                        return;
                }
        } else if (!sa->request || m->hdr.msg_id + 1 != sa->next_request) {
                sa->d->dropped++;
                return;
        }
        /* The peer moved to 4500 (RFC 7296 2.23): follow it. */
        if (in->natt && !sa->natt) {
                sa->natt = true;
                sa->remote = in->remote;
                sa->local.port = NATT_PORT;
        }
        if (m->hdr.exchange == IKE_EXCH_IKE_SA_INIT) {
                if (response && sa->state == SA_INIT_SENT)
                        initiator_init_response(sa, m, raw);
                return;
        }
        if (!m->sk.present || sa->state == SA_INIT_SENT) {
                sa->d->dropped++;
                return;
        }
        if (sa->state == SA_DELETING) {
                /* The keys went with our Delete (delete_sent): its answer,
                 * known by its message ID, ends the SA unread. */
                if (response && m->hdr.exchange == IKE_EXCH_INFORMATIONAL) {
                        sa_answered(sa);
                        bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "IKE SA deleted");
                        sa_drop(sa);
                } else {
                        sa->d->dropped++;
                }
                return;
        }
        Opening *op = g_new0(Opening, 1);
        op->raw = g_bytes_ref(raw);
        IkeMsg *copy = &op->m;
        gsize len;
        const uint8_t *data = g_bytes_get_data(op->raw, &len);
        if (ike_msg_parse(data, len, copy) != IKE_OK) {
                opening_free(op);
                return;
        }
        opening_free(sa->opening);
        sa->opening = op;
        DBusMessageIter it;
        DBusMessage *msg = handle_method(sa, "IkeOpen", &it);
        append_bytes(&it, data, copy->sk.aad_len);
        append_bytes(&it, copy->sk.body, copy->sk.body_len);
        crypto_call(sa, msg, opened);
}

static void receive(Isakmpd *d, const uint8_t *data, size_t len, const Incoming *in) {
        IkeMsg m;
        IkeErr e = ike_msg_parse(data, len, &m);
        char buf[64];
        if (e != IKE_OK && !(e == IKE_ERR_KE_GROUP && m.hdr.exchange == IKE_EXCH_IKE_SA_INIT)) {
                d->dropped++;
                bh_log_info("datagram from %s dropped: %s", endpoint_string(&in->remote, buf, sizeof buf),
                            ike_err_name(e));
                if (e == IKE_ERR_CRITICAL && m.hdr.exchange == IKE_EXCH_IKE_SA_INIT && !ike_header_is_response(&m.hdr)) {
                        uint8_t t = m.err_type;
                        respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt,
                                             IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, &t, 1);
                }
                /* A later IKE (1.5): our version, 2, is in the answer's header. */
                if (e == IKE_ERR_MAJOR_VERSION && m.hdr.major > IKE_MAJOR_VERSION && !ike_header_is_response(&m.hdr))
                        respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt,
                                             IKE_N_INVALID_MAJOR_VERSION, NULL, 0);
                return;
        }
        bool response = ike_header_is_response(&m.hdr);
        /* Our SPI: the initiator's when we initiated, else the responder's. */
        bool we_initiated = !ike_header_is_initiator(&m.hdr);
        uint64_t spi = we_initiated ? m.hdr.spi_i : m.hdr.spi_r;
        g_autoptr(GBytes) raw = g_bytes_new(data, len);
        if (m.hdr.exchange == IKE_EXCH_IKE_SA_INIT && !response) {
                /* A retransmitted IKE_SA_INIT: answer from the half-open SA. */
                Sa *s = g_hash_table_lookup(d->by_spi_i, &m.hdr.spi_i);
                if (s && bh_addr_equal(&s->remote.addr, &in->remote.addr)) {
                        if (s->response && s->state == SA_HALF_OPEN)
                                sa_send(s, s->response);
                        return;
                }
                if (e == IKE_OK && (e = ike_msg_check_exchange(&m, NULL)) != IKE_OK && e != IKE_ERR_KE_GROUP &&
                    e != IKE_ERR_PROPOSAL_UNSUPPORTED) {
                        d->dropped++;
                        bh_log_info("IKE_SA_INIT from %s refused: %s", endpoint_string(&in->remote, buf, sizeof buf),
                                    ike_err_name(e));
                        uint16_t n = ike_err_notify(e);
                        if (clear_notify_allowed(n))
                                respond_clear_notify(d, &m.hdr, &in->local, &in->remote, in->natt, n, NULL, 0);
                        return;
                }
                if (!cookie_passes(d, &m, in))
                        return;
                MatchCtx *mc = g_new0(MatchCtx, 1);
                mc->d = d;
                mc->raw = g_bytes_ref(raw);
                mc->in = *in;
                char l[BH_ADDR_STRLEN], r[BH_ADDR_STRLEN];
                const char *ls = bh_addr_to_string(&in->local.addr, l), *rs = bh_addr_to_string(&in->remote.addr, r);
                DBusMessage *q = bh_method_new_peer(BH_SERVICE_TMD, &bh_iface_tmd1, "Match");
                dbus_message_append_args(q, DBUS_TYPE_STRING, &ls, DBUS_TYPE_STRING, &rs, DBUS_TYPE_INVALID);
                bh_ipc_call(d->svc->ipc, BH_SERVICE_TMD, q, BH_CALL_TIMEOUT_MS, matched, mc);
                dbus_message_unref(q);
                return;
        }
        Sa *sa = g_hash_table_lookup(d->sas, &spi);
        if (!sa || (m.hdr.exchange != IKE_EXCH_IKE_SA_INIT && m.hdr.spi_r != sa->spi_r && sa->spi_r) ||
            !bh_addr_equal(&sa->remote.addr, &in->remote.addr)) {
                d->dropped++;
                bh_log_debug("datagram from %s for an unknown IKE SA dropped", endpoint_string(&in->remote, buf, sizeof buf));
                return;
        }
        sa_ref(sa);
        sa_receive(sa, raw, &m, in);
        sa_unref(sa);
}

static gboolean readable(gint fd, GIOCondition cond, gpointer userdata) {
        Isakmpd *d = userdata;
        bool natt = fd == d->natt4 || fd == d->natt6;
        for (int k = 0; k < 64; k++) {
                uint8_t buf[IKE_MSG_MAX_LEN + NONESP_MARKER_LEN];
                union {
                        struct sockaddr_in v4;
                        struct sockaddr_in6 v6;
                } from;
                union {
                        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
                        struct cmsghdr align;
                } control;
                struct iovec iov = { buf, sizeof buf };
                struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                                     .msg_control = control.buf, .msg_controllen = sizeof control.buf };
                ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
                if (n < 0)
                        break;
                Incoming in = { .natt = natt };
                if (from.v4.sin_family == AF_INET) {
                        in.remote.addr.family = AF_INET;
                        memcpy(in.remote.addr.bytes, &from.v4.sin_addr, 4);
                        in.remote.port = ntohs(from.v4.sin_port);
                } else {
                        in.remote.addr.family = AF_INET6;
                        memcpy(in.remote.addr.bytes, &from.v6.sin6_addr, 16);
                        in.remote.port = ntohs(from.v6.sin6_port);
                }
                in.local.addr.family = in.remote.addr.family;
                in.local.port = natt ? NATT_PORT : IKE_PORT;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                                struct in_pktinfo pi;
                                memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                                memcpy(in.local.addr.bytes, &pi.ipi_addr, 4);
                        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
                                struct in6_pktinfo pi;
                                memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                                memcpy(in.local.addr.bytes, &pi.ipi6_addr, 16);
                        }
                }
                const uint8_t *msg = buf;
                size_t len = (size_t) n;
                if (natt) {
                        /* The selector sends only marked datagrams here. */
                        if (len < NONESP_MARKER_LEN || memcmp(buf, "\0\0\0\0", NONESP_MARKER_LEN) != 0) {
                                d->dropped++;
                                continue;
                        }
                        msg += NONESP_MARKER_LEN;
                        len -= NONESP_MARKER_LEN;
                }
                receive(d, msg, len, &in);
        }
        return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- methods */

static void isakmpd_handle_initiate(BhCall *call, void *userdata) {
        Isakmpd *d = userdata;
        const char *name, *text;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &text,
                              DBUS_TYPE_INVALID);
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        if (bh_tunnel_set_parse(set, text, strlen(text), "definition", errors) != 0 || bh_tunnel_set_size(set) != 1 ||
            g_ascii_strcasecmp(bh_tunnel_set_get(set, 0)->name, name) != 0) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "the definition of tunnel %s cannot be read: %s", name,
                              errors->len ? (const char *) g_ptr_array_index(errors, 0) : "not one tunnel");
                return;
        }
        const BhTunnel *def = bh_tunnel_set_get(set, 0);
        if (def->type != BH_TUNNEL_IKE || bh_addr_is_any(&def->remote) || def->n_ike_proposals == 0 ||
            def->n_esp_proposals == 0) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "tunnel %s is not an IKE tunnel with a remote address", name);
                return;
        }
        if (socket_for(d, def->remote.family, false) < 0) {
                bh_call_error(call, BH_ERROR_UNAVAILABLE, "no UDP 500 socket for %s", bh_family_name(def->remote.family));
                return;
        }
        Sa *old = g_hash_table_lookup(d->tunnels, def->name);
        if (old && old->state == SA_ESTABLISHED && !old->superseded && !old->child_spi_in) {
                /* Phase 1 stayed up: phase 2 alone, over it, as the IKE SA
                 * was negotiated. */
                if (!bh_tunnel_equal(old->def, def)) {
                        bh_call_error(call, BH_ERROR_INVALID_STATE, "tunnel %s was redefined while its phase 1 stayed up: "
                                      "remove phase 1 first", def->name);
                        return;
                }
                old->want_child = true;
                if (!old->rk.active && !old->rk.answering) {
                        timer_cancel(d, &old->rekey_timer);
                        old->rekey_timer = timer_add(d, 0, rekey_due, old);
                }
                bh_call_return_empty(call);
                return;
        }
        if (old && old->state != SA_DEAD && old->state != SA_DELETING) {
                bh_call_error(call, BH_ERROR_EXISTS, "tunnel %s already has an IKE SA (%s)", def->name,
                              sa_state_names[old->state]);
                return;
        }
        Sa *sa = sa_new(d, def, true);
        sa->spi_i = random_spi();
        sa->local = (Endpoint){ def->local, IKE_PORT };
        sa->remote = (Endpoint){ def->remote, IKE_PORT };
        sa_register(sa);
        bh_log_tunnel(BH_LOG_INFORMATION, def->name, "phase 1: negotiating with %s",
                      bh_addr_to_string(&def->remote, (char[BH_ADDR_STRLEN]){ 0 }));
        initiator_start(sa);
        sa_unref(sa);
        bh_call_return_empty(call);
}

static void isakmpd_handle_terminate(BhCall *call, void *userdata) {
        Isakmpd *d = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        Sa *sa = g_hash_table_lookup(d->tunnels, name);
        if (!sa) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "tunnel %s has no IKE SA", name);
                return;
        }
        bh_log_tunnel(BH_LOG_INFORMATION, sa->tunnel, "terminating: Delete to the peer");
        sa->up = false;
        sa_delete(sa, true);
        bh_call_return_empty(call);
}

static void isakmpd_handle_remove_child(BhCall *call, void *userdata) {
        Isakmpd *d = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        Sa *sa = g_hash_table_lookup(d->tunnels, name);
        if (!sa || sa->state != SA_ESTABLISHED || sa->superseded) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "tunnel %s has no established IKE SA", name);
                return;
        }
        if (!sa->child_spi_in) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "tunnel %s has no CHILD SA", name);
                return;
        }
        if (sa->rk.active || sa->rk.answering || sa->old_spi_in || sa->deleting_old || sa->ik.active ||
            sa->ik.answering) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "tunnel %s is being rekeyed: try again in a moment", name);
                return;
        }
        bh_log_tunnel(BH_LOG_EVENTS, sa->tunnel, "phase 2: removing the CHILD SA %08x/%08x; the IKE SA stays",
                      sa->child_spi_in, sa->child_spi_out);
        sa->delete_child = sa->child_spi_in;
        sa->want_child = false;
        child_drop(sa);
        timer_cancel(d, &sa->delete_timer);
        sa->delete_timer = timer_add(d, 0, child_delete_due, sa);
        bh_call_return_empty(call);
}

static void isakmpd_handle_list_sas(BhCall *call, void *userdata) {
        Isakmpd *d = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ttsss)", &arr);
        GHashTableIter hi;
        gpointer value;
        g_hash_table_iter_init(&hi, d->sas);
        while (g_hash_table_iter_next(&hi, NULL, &value)) {
                Sa *sa = value;
                dbus_uint64_t l = sa_local_spi(sa), r = sa->initiator ? sa->spi_r : sa->spi_i;
                char lb[64], rb[64];
                const char *ls = endpoint_string(&sa->local, lb, sizeof lb), *rs = endpoint_string(&sa->remote, rb, sizeof rb);
                const char *state = sa_state_names[sa->state];
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &l);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &r);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &ls);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &rs);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &state);
                dbus_message_iter_close_container(&arr, &st);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

/* A property that is one field of Isakmpd, read as it is. */
#define FIELD_GETTER(func, type, dbus_type, field)                          \
        static void func(DBusMessageIter *it, void *userdata) {             \
                type v = ((const Isakmpd *) userdata)->field;               \
                dbus_message_iter_append_basic(it, dbus_type, &v);          \
        }
FIELD_GETTER(get_half_open, dbus_uint32_t, DBUS_TYPE_UINT32, half_open)
FIELD_GETTER(get_cookie_threshold, dbus_uint32_t, DBUS_TYPE_UINT32, cookie_threshold)
FIELD_GETTER(get_cookies_sent, dbus_uint64_t, DBUS_TYPE_UINT64, cookies_sent)
FIELD_GETTER(get_fragment_size, dbus_uint32_t, DBUS_TYPE_UINT32, fragment_size)
FIELD_GETTER(get_fragments_sent, dbus_uint64_t, DBUS_TYPE_UINT64, fragments_sent)
FIELD_GETTER(get_fragments_received, dbus_uint64_t, DBUS_TYPE_UINT64, fragments_received)
FIELD_GETTER(get_dropped, dbus_uint64_t, DBUS_TYPE_UINT64, dropped)

static void set_cookie_threshold(BhCall *call, DBusMessageIter *value, void *userdata) {
        Isakmpd *d = userdata;
        dbus_uint32_t n;
        dbus_message_iter_get_basic(value, &n);
        d->cookie_threshold = n;
        bh_log_event("COOKIEs asked for above %u half-open IKE SAs", n);
        bh_call_return_empty(call);
}

static void set_fragment_size(BhCall *call, DBusMessageIter *value, void *userdata) {
        Isakmpd *d = userdata;
        dbus_uint32_t n;
        dbus_message_iter_get_basic(value, &n);
        if (n < FRAGMENT_SIZE_MIN || n > IKE_MSG_MAX_LEN) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "a fragment size is %u to %u octets", FRAGMENT_SIZE_MIN,
                              (unsigned) IKE_MSG_MAX_LEN);
                return;
        }
        d->fragment_size = n;
        bh_log_event("IKE messages above %u octets go in fragments where the peer takes them", n);
        bh_call_return_empty(call);
}

static const BhMethodImpl isakmpd_methods[] = {
        { "ListSAs", isakmpd_handle_list_sas },
        { "Initiate", isakmpd_handle_initiate },
        { "Terminate", isakmpd_handle_terminate },
        { "RemoveChild", isakmpd_handle_remove_child },
        {},
};

static const BhPropertyImpl isakmpd_properties[] = {
        { "HalfOpen", get_half_open, NULL },
        { "CookieThreshold", get_cookie_threshold, set_cookie_threshold },
        { "CookiesSent", get_cookies_sent, NULL },
        { "FragmentSize", get_fragment_size, set_fragment_size },
        { "FragmentsSent", get_fragments_sent, NULL },
        { "FragmentsReceived", get_fragments_received, NULL },
        { "Dropped", get_dropped, NULL },
        {},
};

static int take_socket(Isakmpd *d, const char *name, int family, int slot) {
        int fd = bh_service_fd(d->svc, name);
        if (fd < 0)
                return -1;
        int one = 1;
        if (family == AF_INET)
                setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        else
                setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        GSource *s = g_unix_fd_source_new(fd, G_IO_IN);
        g_source_set_callback(s, (GSourceFunc) (void (*)(void)) readable, d, NULL);
        g_source_attach(s, NULL);
        d->sources[slot] = s;
        return fd;
}

static void sa_table_unref(void *p) {
        sa_unref(p);
}

/* filterd's Filter1.SALimit: the current CHILD SA of a tunnel reached a
 * soft or hard limit of its lifetime (lifetime_bytes, lifetime_packets, or
 * its sequence numbers): it is rekeyed now. Only filterd's word counts. */
static void sa_limit(DBusMessage *signal, void *userdata) {
        Isakmpd *d = userdata;
        const char *owner = bh_ipc_owner(d->svc->ipc, BH_SERVICE_FILTERD);
        const char *tunnel, *dir, *what;
        dbus_uint32_t spi;
        dbus_bool_t hard;
        if (!owner || g_strcmp0(dbus_message_get_sender(signal), owner) != 0 ||
            !dbus_message_get_args(signal, NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_STRING, &dir, DBUS_TYPE_UINT32,
                                   &spi, DBUS_TYPE_STRING, &what, DBUS_TYPE_BOOLEAN, &hard, DBUS_TYPE_INVALID))
                return;
        Sa *sa = g_hash_table_lookup(d->tunnels, tunnel);
        if (!sa || sa->state != SA_ESTABLISHED || !sa->child_spi_in ||
            spi != (strcmp(dir, "in") == 0 ? sa->child_spi_in : sa->child_spi_out))
                return;         /* an SA already replaced, or not ours */
        bh_log_tunnel(hard ? BH_LOG_ERRORS : BH_LOG_EVENTS, sa->tunnel, "CHILD SA %08x/%08x reached its %s limit of %s: "
                      "rekeying it", sa->child_spi_in, sa->child_spi_out, hard ? "hard" : "soft", what);
        if (sa->rk.active || sa->rk.answering)
                return;         /* a rekey is already on its way */
        timer_cancel(d, &sa->rekey_timer);
        sa->rekey_timer = timer_add(d, 0, rekey_due, sa);
}

Isakmpd *isakmpd_new(BhService *svc) {
        Isakmpd *d = g_new0(Isakmpd, 1);
        d->svc = svc;
        d->sas = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, sa_table_unref);
        d->tunnels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sa_table_unref);
        d->timers = g_sequence_new(g_free);
        d->cookie_threshold = COOKIE_THRESHOLD_DEFAULT;
        d->fragment_size = FRAGMENT_SIZE_DEFAULT;
        d->by_spi_i = g_hash_table_new(g_int64_hash, g_int64_equal);
        /* OpenSSL reads its configuration on first use: before the sandbox. */
        uint8_t hash[IKE_NATD_HASH_LEN];
        natd_hash(1, 0, &(Endpoint){ .addr.family = AF_INET }, hash);
        d->udp4 = take_socket(d, "ike-udp4", AF_INET, 0);
        d->udp6 = take_socket(d, "ike-udp6", AF_INET6, 1);
        d->natt4 = take_socket(d, "ike-natt4", AF_INET, 2);
        d->natt6 = take_socket(d, "ike-natt6", AF_INET6, 3);
        if (d->udp4 < 0 && d->udp6 < 0)
                bh_log_error("no UDP 500 socket was handed over: IKE cannot run");
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_isakmpd1, isakmpd_methods, isakmpd_properties, d);
        bh_ipc_watch_signal(svc->ipc, bh_iface_filter1.name, "SALimit", sa_limit, d);
        return d;
}

void isakmpd_free(Isakmpd *d) {
        if (!d)
                return;
        for (int i = 0; i < 4; i++)
                if (d->sources[i]) {
                        g_source_destroy(d->sources[i]);
                        g_source_unref(d->sources[i]);
                }
        g_hash_table_destroy(d->tunnels);
        g_hash_table_destroy(d->sas);
        if (d->timer_source)
                g_source_remove(d->timer_source);
        g_sequence_free(d->timers);
        g_hash_table_destroy(d->by_spi_i);
        g_free(d);
}
