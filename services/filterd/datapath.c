/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ah.h"
#include "datapath.h"
#include "esp.h"
#include "log.h"
#include "offload.h"
#include "trace.h"
#include "transform.h"

/* Packets handled per wake-up and source before the loop serves others,
 * and moved per system call (recvmmsg, sendmmsg). */
#define BATCH 64
_Static_assert(BATCH <= OFFLOAD_GRO_MAX, "a batch of inbound packets must fit in one GRO batch");
/* TUN reads per wake-up, each up to 64 KiB of TCP (offload.h). */
#define TUN_READS 8
/* RFC 3948 §4: a NAT keepalive on every ESP-in-UDP SA this often, so that
 * a NAT on the way keeps its mapping. */
#define KEEPALIVE_SECONDS 20

/* One packet's room in a batch: a jumbo frame with the engine's head- and
 * tailroom. */
#define SLOT_DATA 9216
#define SLOT (PKT_HEADROOM + SLOT_DATA + PKT_TAILROOM)

/* UDP GRO: a UDP 4500 socket may hand over, as one datagram of up to 64
 * KiB, several that one peer sent (offload.h, offload_udp_segments). Its
 * batches are read into fewer, larger buffers, with the same room around
 * each; memory stays bounded, with nothing allocated per packet. */
#define UDP_BUFS 16
#define UDP_DATA 65536
#define UDP_BUF (PKT_HEADROOM + UDP_DATA + PKT_TAILROOM)
_Static_assert(UDP_BUFS <= BATCH, "a batch of UDP buffers uses the batch's message headers");

/* Hand-off: a datagram the kernel joined (UDP GRO) goes to the worker of
 * its first segment's SPI, and a NIC may join the ESP of several SAs of
 * one peer. A segment of an SA that another worker owns is copied into
 * that worker's queue, which it empties on its own thread, all at once
 * into its slots. Rare: the mutex is taken on this path only. */
#define HANDOFF_MAX BATCH
_Static_assert(HANDOFF_MAX <= BATCH, "a worker takes its whole hand-off queue into its slots");
_Static_assert(SLOT_DATA <= UINT16_MAX, "a handed packet's length is a uint16_t");

typedef struct DpSa {
        DpSaSpec spec;
        EspSa esp;              /* spec.protocol IPPROTO_ESP */
        AhSa ah;                /* spec.protocol IPPROTO_AH */
        /* An outbound SA with more than one worker: a copy for each of
         * workers 1..n_w, with its own cipher context, taking its sequence
         * numbers from esp or ah (seq_src). */
        EspSa *esp_w;
        AhSa *ah_w;
        unsigned n_w;
        /* Lifetime: what it carried (atomic: workers add), and the counts
         * at which the next limit is reached (UINT64_MAX: none), from the
         * soft limits of the tunnel. */
        uint64_t lt_packets, lt_bytes;
        uint64_t next_packets, next_bytes;
        uint64_t soft_packets, soft_bytes;
        /* In time: monotonic µs; the soft limit counts from installation. */
        gint64 installed_at, next_time;
        uint32_t soft_seconds;
        bool soft_reached;
        bool expired;           /* past the hard limit: carries nothing */
        Datapath *in_dp;        /* an inbound SA in the SAD: listed in its tunnel's in_by_tunnel */
} DpSa;

typedef struct DpPolicy {
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        BhTs *local, *remote;
        size_t n_local, n_remote;
        uint64_t soft_bytes, soft_packets;
        uint32_t soft_seconds;
        bool trap;              /* start = trap: Acquire while there is no SA */
        gint64 acquire_after;   /* monotonic µs: no Acquire before (atomic) */
} DpPolicy;

/* A worker's hand-off queue: the packets other workers handed to it, each
 * with its sender's address, in the order they came. */
typedef struct DpHandoff {
        GMutex lock;            /* n and the packets below n */
        unsigned n;
        int wake;               /* eventfd, watched on the owner's context; -1: none */
        uint16_t len[HANDOFF_MAX];
        struct sockaddr_storage from[HANDOFF_MAX];
        uint8_t data[HANDOFF_MAX][SLOT_DATA];
} DpHandoff;

/* A worker: one thread (worker 0: the caller's, on its main context) with
 * a queue of the TUN device and a UDP 4500 socket of each family, and its
 * own batch. The supervisor's selector hands each ESP-in-UDP packet to the
 * worker its SPI names (what reaches another worker all the same is handed
 * over: hand_off); the raw sockets are worker 0's; the kernel spreads what
 * the TUN device sends over its queues by flow. */
typedef struct DpWorker {
        Datapath *dp;
        unsigned index;
        int tun, udp4, udp6;
        bool udp_gro;           /* the UDP sockets have UDP_GRO: read into udp_bufs */
        GMainContext *ctx;
        GMainLoop *loop;        /* workers 1..: their thread's */
        GThread *thread;
        GSource *sources[8];
        DpCounters c;
        /* A batch of packets, processed in place with room around each. */
        uint8_t slots[BATCH][SLOT];
        struct mmsghdr msgs[BATCH];
        struct iovec iovs[BATCH];
        struct sockaddr_storage addrs[BATCH];
        /* Inbound over UDP with UDP_GRO: a batch of datagrams, each with
         * the size of the segments it joined, if it joined several; and
         * how many slots the segments copied out of them took. */
        uint8_t udp_bufs[UDP_BUFS][UDP_BUF];
        uint8_t udp_cmsg[UDP_BUFS][CMSG_SPACE(sizeof(int))];
        unsigned n_staged;
        /* Outbound: encapsulated packets waiting for one sendmmsg per socket. */
        unsigned n_out;
        int out_fd[BATCH];
        /* UDP segmentation offload: a run of equal packets to one peer
         * leaves as one send, which the kernel cuts into datagrams. */
        struct mmsghdr gso_msgs[BATCH];
        unsigned gso_count[BATCH];
        uint8_t gso_cmsg[BATCH][CMSG_SPACE(sizeof(uint16_t))];
        bool no_gso;            /* the kernel refused it once: one datagram per packet */
        /* A read from the TUN device: virtio-net header, then up to 64 KiB. */
        uint8_t tun_buf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_MAX_PACKET];
        /* Inbound: decapsulated packets waiting to be joined and written. */
        OffloadGro gro;
        struct iovec gro_iov[OFFLOAD_GRO_MAX + 1];
        /* Packets other workers handed to this one, and the workers this
         * one handed packets to in its current batch (a bit each), woken
         * when the batch ends. */
        DpHandoff handoff;
        unsigned handed_to;
} DpWorker;

struct Datapath {
        DpFds fds;
        GMainContext *main_ctx; /* where the limit and acquire functions run */
        /* The SAD and SPD: each worker reads them under this lock for a
         * batch at a time (never per packet); the calls that change them
         * write under it. */
        GRWLock lock;
        GMutex limit_lock;      /* an SA's limits, when one is reached */
        DpWorker *workers[DP_MAX_WORKERS];
        unsigned n_workers;
        guint keepalive_timer;
        guint lifetime_timer;   /* the limits in time, once a second */
        GHashTable *in_sas;     /* SPI -> DpSa (inbound ESP) */
        GHashTable *in_ah_sas;  /* SPI -> DpSa (inbound AH) */
        uint16_t ip_id;         /* IPv4 identification of the AH packets sent (atomic) */
        GHashTable *out_sas;    /* tunnel -> DpSa (outbound ESP) */
        GHashTable *in_by_tunnel; /* tunnel -> GPtrArray of its inbound DpSa, ESP and AH */
        GPtrArray *policies;    /* DpPolicy, in insertion order */
        GHashTable *policy_by_tunnel; /* tunnel -> its DpPolicy in policies */
        DpCounters c;           /* the calls' own: SAs added, deleted, expired; keepalives */
        DpLimitFunc on_limit;
        void *on_limit_data;
        DpAcquireFunc on_acquire;
        void *on_acquire_data;
};

/* ---------------------------------------------------------------- selectors */

/* Addresses, protocol and ports of an IP packet (untrusted: the TUN device
 * and the network). Ports only for a first fragment-free TCP/UDP/SCTP. */
typedef struct Flow {
        BhAddr src, dst;
        uint8_t proto;
        bool has_ports;
        uint16_t sport, dport;
} Flow;

static bool flow_parse(const uint8_t *p, size_t len, Flow *f) {
        PktIpInfo ip;
        if (pkt_ip_parse(p, len, &ip) != PKT_OK)
                return false;
        memset(f, 0, sizeof *f);
        f->src.family = f->dst.family = ip.family;
        if (ip.family == AF_INET) {
                memcpy(f->src.bytes, p + 12, 4);
                memcpy(f->dst.bytes, p + 16, 4);
        } else {
                memcpy(f->src.bytes, p + 8, 16);
                memcpy(f->dst.bytes, p + 24, 16);
        }
        f->proto = ip.proto;
        if (!ip.fragment && (ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP || ip.proto == IPPROTO_SCTP) &&
            ip.total_len >= ip.hdr_len && 4 <= ip.total_len - ip.hdr_len) {
                f->has_ports = true;
                f->sport = pkt_load_be16(p + ip.hdr_len);
                f->dport = pkt_load_be16(p + ip.hdr_len + 2);
        }
        return true;
}

static bool ts_match(const BhTs *ts, const BhAddr *a, const Flow *f, bool source) {
        if (!bh_ts_contains_addr(ts, a))
                return false;
        if (ts->proto && ts->proto != f->proto)
                return false;
        if (ts->port_from == 0 && ts->port_to == 65535)
                return true;
        if (!f->has_ports)
                return false;
        uint16_t port = source ? f->sport : f->dport;
        return port >= ts->port_from && port <= ts->port_to;
}

static bool ts_any(const BhTs *list, size_t n, const BhAddr *a, const Flow *f, bool source) {
        for (size_t i = 0; i < n; i++)
                if (ts_match(&list[i], a, f, source))
                        return true;
        return false;
}

static DpPolicy *policy_out(Datapath *dp, const Flow *f) {
        for (guint i = 0; i < dp->policies->len; i++) {
                DpPolicy *p = g_ptr_array_index(dp->policies, i);
                if (ts_any(p->local, p->n_local, &f->src, f, true) && ts_any(p->remote, p->n_remote, &f->dst, f, false))
                        return p;
        }
        return NULL;
}

static DpPolicy *policy_find(Datapath *dp, const char *tunnel) {
        return g_hash_table_lookup(dp->policy_by_tunnel, tunnel);
}

/* ---------------------------------------------------------------- lifetimes */

/* The hard limit: a tenth above the soft one (at least one more). */
static uint64_t hard_of(uint64_t soft) {
        uint64_t more = soft / 10 ? soft / 10 : 1;
        return soft > UINT64_MAX - more ? UINT64_MAX : soft + more;
}

static gint64 time_limit(const DpSa *sa, uint64_t seconds) {
        return seconds ? sa->installed_at + (gint64) MIN(seconds, (uint64_t) G_MAXUINT32 * 2) * G_USEC_PER_SEC
                       : G_MAXINT64;
}

/* Under the lock, as writer: no worker is in a batch. */
static void limits_arm(DpSa *sa, uint64_t soft_bytes, uint64_t soft_packets, uint32_t soft_seconds) {
        sa->soft_bytes = soft_bytes;
        sa->soft_packets = soft_packets;
        sa->soft_seconds = soft_seconds;
        sa->soft_reached = sa->expired = false;
        sa->next_bytes = soft_bytes ? soft_bytes : UINT64_MAX;
        sa->next_packets = soft_packets ? soft_packets : UINT64_MAX;
        sa->next_time = time_limit(sa, soft_seconds);
}

/* A limit told on the main context, whichever thread reached it. */
typedef struct LimitNote {
        Datapath *dp;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        DpDirection direction;
        uint32_t spi;
        const char *what;       /* a literal */
        bool hard;
} LimitNote;

static gboolean limit_told(gpointer data) {
        LimitNote *n = data;
        if (n->dp->on_limit)
                n->dp->on_limit(n->tunnel, n->direction, n->spi, n->what, n->hard, n->dp->on_limit_data);
        return G_SOURCE_REMOVE;
}

static void limit_reached(Datapath *dp, DpSa *sa, const char *what) {
        g_mutex_lock(&dp->limit_lock);
        /* Another worker may have been here first for the same packet count. */
        bool seq = strcmp(what, "sequence numbers") == 0, due;
        if (sa->expired)
                due = false;
        else if (seq)
                due = true;
        else if (strcmp(what, "time") == 0)
                due = g_get_monotonic_time() >= sa->next_time;
        else if (strcmp(what, "packets") == 0)
                due = __atomic_load_n(&sa->lt_packets, __ATOMIC_RELAXED) >= sa->next_packets;
        else
                due = __atomic_load_n(&sa->lt_bytes, __ATOMIC_RELAXED) >= sa->next_bytes;
        bool hard = sa->soft_reached || seq;
        if (due && hard) {
                __atomic_store_n(&sa->next_packets, UINT64_MAX, __ATOMIC_RELAXED);
                __atomic_store_n(&sa->next_bytes, UINT64_MAX, __ATOMIC_RELAXED);
                sa->next_time = G_MAXINT64;
                __atomic_store_n(&sa->expired, true, __ATOMIC_RELAXED);
                __atomic_add_fetch(&dp->c.cache_expired, 1, __ATOMIC_RELAXED);
        } else if (due) {
                sa->soft_reached = true;
                __atomic_store_n(&sa->next_packets, sa->soft_packets ? hard_of(sa->soft_packets) : UINT64_MAX,
                                 __ATOMIC_RELAXED);
                __atomic_store_n(&sa->next_bytes, sa->soft_bytes ? hard_of(sa->soft_bytes) : UINT64_MAX,
                                 __ATOMIC_RELAXED);
                sa->next_time = time_limit(sa, sa->soft_seconds ? hard_of(sa->soft_seconds) : 0);
        }
        g_mutex_unlock(&dp->limit_lock);
        if (!due)
                return;
        TRACE(TRACE_TUNNEL, "tunnel %s: SPI 0x%08x reached its %s limit of %s", sa->spec.tunnel, sa->spec.spi,
              hard ? "hard" : "soft", what);
        LimitNote *n = g_new0(LimitNote, 1);
        *n = (LimitNote) { dp, "", sa->spec.direction, sa->spec.spi, what, hard };
        g_strlcpy(n->tunnel, sa->spec.tunnel, sizeof n->tunnel);
        g_main_context_invoke_full(dp->main_ctx, G_PRIORITY_DEFAULT, limit_told, n, g_free);
}

/* After each packet an SA carried (bytes: the inner packet's): one
 * predictable branch, and two atomic additions, since the workers share
 * an outbound SA. */
static inline void limits_count(Datapath *dp, DpSa *sa, size_t bytes) {
        uint64_t packets = __atomic_add_fetch(&sa->lt_packets, 1, __ATOMIC_RELAXED);
        uint64_t total = __atomic_add_fetch(&sa->lt_bytes, bytes, __ATOMIC_RELAXED);
        bool p = packets >= __atomic_load_n(&sa->next_packets, __ATOMIC_RELAXED);
        if (G_UNLIKELY(p || total >= __atomic_load_n(&sa->next_bytes, __ATOMIC_RELAXED)))
                limit_reached(dp, sa, p ? "packets" : "bytes");
}

static inline bool sa_expired(DpSa *sa) {
        return __atomic_load_n(&sa->expired, __ATOMIC_RELAXED);
}

/* The worker's own copy of an outbound SA (its cipher context). */
static inline EspSa *esp_of(DpSa *sa, const DpWorker *w) {
        return w->index && sa->esp_w ? &sa->esp_w[w->index - 1] : &sa->esp;
}

static inline AhSa *ah_of(DpSa *sa, const DpWorker *w) {
        return w->index && sa->ah_w ? &sa->ah_w[w->index - 1] : &sa->ah;
}

void dp_on_limit(Datapath *dp, DpLimitFunc func, void *userdata) {
        dp->on_limit = func;
        dp->on_limit_data = userdata;
}

int dp_set_limits(Datapath *dp, const char *tunnel, uint64_t soft_bytes, uint64_t soft_packets,
                  uint32_t soft_seconds) {
        g_rw_lock_writer_lock(&dp->lock);
        DpPolicy *p = policy_find(dp, tunnel);
        if (!p) {
                g_rw_lock_writer_unlock(&dp->lock);
                return -ENOENT;
        }
        p->soft_bytes = soft_bytes;
        p->soft_packets = soft_packets;
        p->soft_seconds = soft_seconds;
        GPtrArray *in = g_hash_table_lookup(dp->in_by_tunnel, tunnel);
        for (guint i = 0; in && i < in->len; i++) {
                DpSa *sa = g_ptr_array_index(in, i);
                if (!sa->expired)
                        limits_arm(sa, soft_bytes, soft_packets, soft_seconds);
        }
        /* An SA past its hard limit stays so: only a new one carries again. */
        DpSa *out = g_hash_table_lookup(dp->out_sas, tunnel);
        if (out && !out->expired)
                limits_arm(out, soft_bytes, soft_packets, soft_seconds);
        g_rw_lock_writer_unlock(&dp->lock);
        return 0;
}

/* For trace text only (evaluated when the category is on). */
static const char *A(const BhAddr *a, char buf[static BH_ADDR_STRLEN]) {
        return bh_addr_to_string(a, buf);
}

static const char *S(const struct sockaddr_storage *ss, char buf[static BH_ADDR_STRLEN]) {
        BhAddr a = { .family = ss->ss_family };
        if (ss->ss_family == AF_INET)
                memcpy(a.bytes, &((const struct sockaddr_in *) ss)->sin_addr, 4);
        else if (ss->ss_family == AF_INET6)
                memcpy(a.bytes, &((const struct sockaddr_in6 *) ss)->sin6_addr, 16);
        return bh_addr_to_string(&a, buf);
}

/* ---------------------------------------------------------------- outbound */

static void sockaddr_of(const BhAddr *a, uint16_t port, struct sockaddr_storage *ss, socklen_t *len) {
        memset(ss, 0, sizeof *ss);
        if (a->family == AF_INET) {
                struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons(port);
                memcpy(&s4->sin_addr, a->bytes, 4);
                *len = sizeof *s4;
        } else {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(port);
                memcpy(&s6->sin6_addr, a->bytes, 16);
                *len = sizeof *s6;
        }
}

/* Queues pkt (in the slot of the batch it was read into) for sendmmsg. */
static void queue_out(DpWorker *w, PktBuf *pkt, int fd, const BhAddr *to, uint16_t port) {
        unsigned i = w->n_out++;
        socklen_t to_len;
        sockaddr_of(to, port, &w->addrs[i], &to_len);
        w->iovs[i] = (struct iovec){ pkt_data(pkt), pkt->len };
        w->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &w->addrs[i], .msg_namelen = to_len, .msg_iov = &w->iovs[i],
                                               .msg_iovlen = 1 };
        w->out_fd[i] = fd;
}

/* AH: the ICV covers the IP header, so filterd writes it (tunnel mode:
 * the outer one; transport mode: the packet's own) and the whole packet
 * leaves through the IPPROTO_RAW socket of its family, which changes no
 * field the ICV covers. */
static void process_out_ah(DpWorker *w, DpSa *sa, PktBuf *pkt, const DpPolicy *policy) {
        Datapath *dp = w->dp;
        char b1[BH_ADDR_STRLEN];
        int family = sa->spec.remote.family;
        int fd = family == AF_INET ? dp->fds.ip4 : dp->fds.ip6;
        size_t inner_len = pkt->len;
        AhSa *ah = ah_of(sa, w);
        PktDrop r;
        /* Never 0: the kernel fills in an IPv4 ID of 0 on a raw socket,
         * which would change a field the ICV covers. */
        uint16_t ip_id = 0;
        while (family == AF_INET && ip_id == 0)
                ip_id = __atomic_add_fetch(&dp->ip_id, 1, __ATOMIC_RELAXED);
        if (ah->mode == AH_MODE_TUNNEL) {
                PktOuter o = { .family = family, .ttl = 64 };
                memcpy(family == AF_INET ? (void *) &o.src.v4 : (void *) &o.src.v6, sa->spec.local.bytes,
                       bh_addr_len(family));
                memcpy(family == AF_INET ? (void *) &o.dst.v4 : (void *) &o.dst.v6, sa->spec.remote.bytes,
                       bh_addr_len(family));
                r = ah_encap(ah, pkt, &o, ip_id);
        } else {
                /* Transport: the packet's own ID, made nonzero as above. */
                uint8_t *h = pkt_data(pkt);
                if (family == AF_INET && pkt_load_be16(h + 4) == 0) {
                        pkt_store_be16(h + 4, ip_id);
                        pkt_ipv4_set_checksum(h, (size_t) (h[0] & 0x0f) * 4);
                }
                r = ah_encap(ah, pkt, NULL, 0);
        }
        if (r == PKT_DROP_SEQ_EXHAUSTED)
                limit_reached(dp, sa, "sequence numbers");
        if (r == PKT_OK)
                limits_count(dp, sa, inner_len);
        if (r != PKT_OK || fd < 0) {
                w->c.out_dropped++;
                w->c.out_encap_failed++;
                TRACE(TRACE_CAPS, "tunnel %s: AH on SPI 0x%08x failed: %s", policy->tunnel, sa->spec.spi,
                      r != PKT_OK ? pkt_drop_name(r) : "no raw IP socket");
                return;
        }
        TRACE(TRACE_CAPS_INFO, "tunnel %s: %zu bytes authenticated with AH, SPI 0x%08x, to %s", policy->tunnel, inner_len,
              sa->spec.spi, A(&sa->spec.remote, b1));
        queue_out(w, pkt, fd, &sa->spec.remote, 0);
}

/* Transport mode carries the two hosts' own packets only: from the SA's
 * local address to its remote one (the selectors may be wider). */
static bool transport_fits(const DpSa *sa, const Flow *f) {
        return bh_addr_equal(&f->src, &sa->spec.local) && bh_addr_equal(&f->dst, &sa->spec.remote);
}

/* A packet met a trap: dropped, and tmd told (Acquire) at most once per
 * trap while its negotiation may be under way. Nothing is allocated here,
 * and the network cannot make it speak more often: one clock read per
 * dropped packet. */
typedef struct AcquireNote {
        Datapath *dp;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        BhAddr src, dst;
} AcquireNote;

static gboolean acquire_told(gpointer data) {
        AcquireNote *n = data;
        if (n->dp->on_acquire)
                n->dp->on_acquire(n->tunnel, &n->src, &n->dst, n->dp->on_acquire_data);
        return G_SOURCE_REMOVE;
}

static void trap_hit(DpWorker *w, DpPolicy *policy, const Flow *f) {
        char b1[BH_ADDR_STRLEN], b2[BH_ADDR_STRLEN];
        w->c.out_dropped++;
        w->c.out_trapped++;
        TRACE(TRACE_FILTER, "hold out %s -> %s %s: tunnel %s has no SA yet", A(&f->src, b1), A(&f->dst, b2),
              pkt_proto_name(f->proto), policy->tunnel);
        gint64 now = g_get_monotonic_time();
        gint64 after = __atomic_load_n(&policy->acquire_after, __ATOMIC_RELAXED);
        /* One worker wins the exchange: one Acquire, whoever met the trap. */
        if (now < after || !__atomic_compare_exchange_n(&policy->acquire_after, &after,
                                                         now + DP_ACQUIRE_PENDING * G_USEC_PER_SEC, false,
                                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return;
        TRACE(TRACE_TUNNEL, "tunnel %s: acquire for %s -> %s", policy->tunnel, A(&f->src, b1), A(&f->dst, b2));
        AcquireNote *n = g_new0(AcquireNote, 1);
        *n = (AcquireNote) { w->dp, "", f->src, f->dst };
        g_strlcpy(n->tunnel, policy->tunnel, sizeof n->tunnel);
        g_main_context_invoke_full(w->dp->main_ctx, G_PRIORITY_DEFAULT, acquire_told, n, g_free);
}

static void process_out(DpWorker *w, PktBuf *pkt) {
        Datapath *dp = w->dp;
        Flow f;
        if (!flow_parse(pkt_data(pkt), pkt->len, &f)) {
                w->c.out_dropped++;
                w->c.out_filter_deny++;
                return;
        }
        char b1[BH_ADDR_STRLEN], b2[BH_ADDR_STRLEN];
        DpPolicy *policy = policy_out(dp, &f);
        if (!policy) {
                /* Routed to us but no tunnel claims it: the filter denies. */
                w->c.out_dropped++;
                w->c.out_filter_deny++;
                TRACE(TRACE_FILTER, "deny out %s -> %s %s: no tunnel's selectors match", A(&f.src, b1), A(&f.dst, b2),
                      pkt_proto_name(f.proto));
                return;
        }
        DpSa *sa = g_hash_table_lookup(dp->out_sas, policy->tunnel);
        if (!sa && policy->trap) {
                trap_hit(w, policy, &f);
                return;
        }
        if (!sa) {
                w->c.out_dropped++;
                w->c.out_no_sa++;
                TRACE(TRACE_ERROR, "tunnel %s: no outbound SA", policy->tunnel);
                return;
        }
        TRACE(TRACE_FILTER_INFO, "permit out %s -> %s %s: tunnel %s", A(&f.src, b1), A(&f.dst, b2),
              pkt_proto_name(f.proto), policy->tunnel);
        if (G_UNLIKELY(sa_expired(sa))) {
                w->c.out_dropped++;
                w->c.out_sa_expired++;
                TRACE(TRACE_ERROR, "tunnel %s: the outbound SA 0x%08x is past its lifetime", policy->tunnel,
                      sa->spec.spi);
                return;
        }
        if (sa->spec.mode == BH_MODE_TRANSPORT && !transport_fits(sa, &f)) {
                w->c.out_dropped++;
                w->c.out_filter_deny++;
                char b3[BH_ADDR_STRLEN], b4[BH_ADDR_STRLEN];
                TRACE(TRACE_FILTER, "deny out %s -> %s: tunnel %s is in transport mode between %s and %s",
                      A(&f.src, b1), A(&f.dst, b2), policy->tunnel, A(&sa->spec.local, b3), A(&sa->spec.remote, b4));
                return;
        }
        size_t inner_len = pkt->len;
        if (sa->spec.protocol == IPPROTO_AH) {
                process_out_ah(w, sa, pkt, policy);
                return;
        }
        EspSa *esp = esp_of(sa, w);
        PktDrop r = esp_encap(esp, pkt);
        if (r == PKT_DROP_SEQ_EXHAUSTED)
                limit_reached(dp, sa, "sequence numbers");
        if (r != PKT_OK) {
                w->c.out_dropped++;
                w->c.out_encap_failed++;
                TRACE(TRACE_CAPS, "tunnel %s: encapsulation on SPI 0x%08x failed: %s", policy->tunnel, sa->spec.spi,
                      pkt_drop_name(r));
                return;
        }
        TRACE(TRACE_CAPS_INFO, "tunnel %s: %zu bytes encapsulated, SPI 0x%08x seq %llu, %zu bytes ESP", policy->tunnel,
              inner_len, sa->spec.spi, (unsigned long long) __atomic_load_n(esp->seq_src, __ATOMIC_RELAXED), pkt->len);
        limits_count(dp, sa, inner_len);
        if (sa->spec.mode == BH_MODE_TRANSPORT) {
                /* The sockets write the IP header (and UDP's, RFC 3948
                 * §3.1.1) themselves, from and to the same two addresses
                 * the packet's own header carried (transport_fits): ESP
                 * leaves without it. */
                PktIpInfo ip;
                if (pkt_ip_parse(pkt_data(pkt), pkt->len, &ip) != PKT_OK || ip.proto != IPPROTO_ESP) {
                        w->c.out_dropped++;
                        w->c.out_encap_failed++;
                        return;
                }
                pkt_pull(pkt, ip.hdr_len);
        }
        int fd;
        if (sa->spec.encap == BH_ENCAP_UDP)
                /* Any UDP 4500 socket sends; a worker uses its own. */
                fd = sa->spec.remote.family == AF_INET ? w->udp4 : w->udp6;
        else
                fd = sa->spec.remote.family == AF_INET ? dp->fds.raw4 : dp->fds.raw6;
        if (fd < 0) {
                w->c.out_dropped++;
                w->c.out_send_failed++;
                TRACE(TRACE_ERROR, "sending to %s: no socket", A(&sa->spec.remote, b1));
                return;
        }
        /* Queued for the batch's sendmmsg; slot i holds packet i. */
        queue_out(w, pkt, fd, &sa->spec.remote, sa->spec.encap == BH_ENCAP_UDP ? PKT_NATT_PORT : 0);
}

/* Packets a and b go to one peer on one SA: ESP in UDP starts with the
 * SPI. The peer's selector picks the worker of a joined run from its first
 * packet's SPI, so a run never mixes SAs, whose workers may differ: the
 * peer's worker would have to hand the other SA's packets over (a copy
 * each, hand_off). */
static bool same_peer_sa(const DpWorker *w, unsigned a, unsigned b) {
        return w->msgs[a].msg_hdr.msg_namelen == w->msgs[b].msg_hdr.msg_namelen &&
               memcmp(&w->addrs[a], &w->addrs[b], w->msgs[a].msg_hdr.msg_namelen) == 0 &&
               memcmp(w->iovs[a].iov_base, w->iovs[b].iov_base, 4) == 0;
}

/* Packets [i, j) all go through one socket. Over UDP, runs to one peer on
 * one SA of equal length (the last may be shorter) become one message
 * with UDP_SEGMENT: the iovecs of the slots are already consecutive. */
static unsigned plan_sends(DpWorker *w, unsigned i, unsigned j) {
        bool udp = w->out_fd[i] == w->udp4 || w->out_fd[i] == w->udp6;
        unsigned n = 0;
        while (i < j) {
                unsigned k = i + 1;
                size_t seg = w->iovs[i].iov_len, total = seg;
                if (udp && !w->no_gso)
                        while (k < j && same_peer_sa(w, i, k) && w->iovs[k].iov_len <= seg &&
                               total + w->iovs[k].iov_len <= 65000 && k - i < 64) {
                                total += w->iovs[k].iov_len;
                                if (w->iovs[k++].iov_len < seg)
                                        break;  /* a shorter one ends the run */
                        }
                struct msghdr *h = &w->gso_msgs[n].msg_hdr;
                *h = w->msgs[i].msg_hdr;
                h->msg_iov = &w->iovs[i];
                h->msg_iovlen = k - i;
                if (k - i > 1) {
                        h->msg_control = w->gso_cmsg[n];
                        h->msg_controllen = sizeof w->gso_cmsg[n];
                        struct cmsghdr *c = CMSG_FIRSTHDR(h);
                        c->cmsg_level = SOL_UDP;
                        c->cmsg_type = UDP_SEGMENT;
                        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                        uint16_t size = (uint16_t) seg;
                        memcpy(CMSG_DATA(c), &size, sizeof size);
                }
                w->gso_count[n++] = k - i;
                i = k;
        }
        return n;
}

/* Sends what the batch queued: one sendmmsg per run of the same socket. */
static void flush_out(DpWorker *w) {
        unsigned i = 0;
        while (i < w->n_out) {
                unsigned j = i;
                while (j < w->n_out && w->out_fd[j] == w->out_fd[i])
                        j++;
                unsigned n = plan_sends(w, i, j), done = 0;
                while (done < n) {
                        int r = sendmmsg(w->out_fd[i], &w->gso_msgs[done], n - done, 0);
                        if (r <= 0 && w->gso_count[done] > 1 && (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT)) {
                                /* No segmentation offload here: plan again without. */
                                w->no_gso = true;
                                n = plan_sends(w, i, j);
                                done = 0;
                                TRACE(TRACE_ERROR, "UDP segmentation offload refused (%s): one datagram per packet",
                                      g_strerror(errno));
                                continue;
                        }
                        if (r <= 0) {
                                /* This one fails: count it, go on with the rest. */
                                w->c.out_dropped += w->gso_count[done];
                                w->c.out_send_failed += w->gso_count[done];
                                TRACE(TRACE_ERROR, "sending: %s", g_strerror(errno));
                                done++;
                                continue;
                        }
                        for (int m = 0; m < r; m++) {
                                unsigned packets = w->gso_count[done + (unsigned) m];
                                w->c.out_total += packets;
                                if (w->out_fd[i] == w->dp->fds.ip4 || w->out_fd[i] == w->dp->fds.ip6)
                                        w->c.out_ah += packets;
                                else
                                        w->c.out_esp += packets;
                        }
                        done += (unsigned) r;
                }
                i = j;
        }
        w->n_out = 0;
}

/* One read from the TUN device: a packet, or a TCP super packet that is cut
 * into the segments the wire carries. Each goes into the next free slot of
 * the batch; a full batch is sent first. */
static bool tun_read_one(DpWorker *w, int fd) {
        ssize_t n = read(fd, w->tun_buf, sizeof w->tun_buf);
        if (n < (ssize_t) OFFLOAD_VNET_HDR_LEN)
                return false;
        struct virtio_net_hdr vh;
        memcpy(&vh, w->tun_buf, sizeof vh);
        uint8_t *p = w->tun_buf + OFFLOAD_VNET_HDR_LEN;
        size_t len = (size_t) n - OFFLOAD_VNET_HDR_LEN;
        OffloadTso tso;
        PktDrop r = offload_tso_plan(&vh, p, len, &tso);
        if (r == PKT_OK && tso.hdr_len + tso.mss > SLOT_DATA)
                r = PKT_DROP_BAD_LENGTH;
        if (r != PKT_OK) {
                w->c.out_dropped++;
                w->c.out_encap_failed++;
                TRACE(TRACE_ERROR, "a %zu-byte packet from the TUN device refused: %s", len, pkt_drop_name(r));
                return true;
        }
        if (tso.mss)
                w->c.tso_super_packets++;
        for (unsigned k = 0; k < tso.count; k++) {
                if (w->n_out == BATCH)
                        flush_out(w);
                /* Each segment into the slot its ESP form will be sent from. */
                uint8_t *slot = w->slots[w->n_out];
                size_t seg = offload_tso_segment(&tso, p, k, slot + PKT_HEADROOM);
                PktBuf pkt;
                pkt_init(&pkt, slot, SLOT, PKT_HEADROOM, seg);
                process_out(w, &pkt);
        }
        return true;
}

static gboolean tun_readable(gint fd, GIOCondition cond, gpointer userdata) {
        DpWorker *w = userdata;
        g_rw_lock_reader_lock(&w->dp->lock);
        w->n_out = 0;
        for (int i = 0; i < TUN_READS && tun_read_one(w, fd); i++)
                ;
        flush_out(w);
        g_rw_lock_reader_unlock(&w->dp->lock);
        return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- inbound */

enum { VIA_ESP, VIA_AH };

/* Writes what the batch decapsulated to the TUN device: runs of one TCP
 * connection joined into one write (offload.h), the rest one by one. */
static void flush_in(DpWorker *w) {
        OffloadGro *g = &w->gro;
        for (unsigned h = 0; h < g->n; h++) {
                if (!g->items[h].head)
                        continue;
                struct virtio_net_hdr vh;
                unsigned packets;
                unsigned n = offload_gro_prepare(g, h, &vh, w->gro_iov, &packets);
                if (writev(w->tun, w->gro_iov, (int) n) < 0) {
                        w->c.in_dropped += packets;
                        w->c.in_write_failed += packets;
                        TRACE(TRACE_ERROR, "writing %u packets to the TUN device: %s", packets, g_strerror(errno));
                        continue;
                }
                w->c.in_total += packets;
                if (packets > 1)
                        w->c.gro_super_packets++;
                for (unsigned j = h; j != OFFLOAD_GRO_MAX; j = g->items[j].next)
                        if (g->items[j].tag == VIA_AH)
                                w->c.in_ah++;
                        else
                                w->c.in_esp++;
        }
        offload_gro_reset(g);
}

/* A decapsulated packet that passed every check, for flush_in(). */
static void deliver(DpWorker *w, PktBuf *pkt, unsigned via) {
        if (offload_gro_full(&w->gro))
                flush_in(w);
        offload_gro_add(&w->gro, pkt_data(pkt), pkt->len, via);
}

/* ESP too malformed to look at. */
static void count_malformed(DpWorker *w) {
        w->c.in_dropped++;
        w->c.in_esp_compute++;
        w->c.in_malformed++;
}

/* ESP that came another way than its SA's. */
static void count_misrouted(DpWorker *w) {
        w->c.in_dropped++;
        w->c.in_filter_deny++;
        w->c.in_misrouted++;
}

static void count_in_drop(DpWorker *w, PktDrop r) {
        w->c.in_dropped++;
        if (r == PKT_DROP_REPLAY || r == PKT_DROP_TOO_OLD)
                w->c.in_esp_replay++;
        else
                w->c.in_esp_compute++;
}

static bool same_addr(const BhAddr *a, const struct sockaddr_storage *from) {
        if (from->ss_family == AF_INET)
                return a->family == AF_INET &&
                       memcmp(a->bytes, &((const struct sockaddr_in *) from)->sin_addr, 4) == 0;
        if (from->ss_family == AF_INET6)
                return a->family == AF_INET6 &&
                       memcmp(a->bytes, &((const struct sockaddr_in6 *) from)->sin6_addr, 16) == 0;
        return false;
}

/* Transport mode keeps the IP header, and AH's ICV covers it, but the UDP
 * socket and the raw IPv6 sockets do not hand it over: it is written again
 * in front of pkt from the SA's addresses (the source was checked to be
 * the SA's remote one; the destination is ours, and any other would not
 * pass AH's ICV), for a packet of protocol proto, TTL or hop limit 64, no
 * options or extension headers; ret_ip describes it. */
static PktDrop rebuild_header(PktBuf *pkt, const DpSa *sa, uint8_t proto, PktIpInfo *ret_ip) {
        int family = sa->spec.remote.family;
        PktOuter o = { .family = family, .ttl = 64 };
        size_t alen = bh_addr_len(family);
        memcpy(family == AF_INET ? (void *) &o.src.v4 : (void *) &o.src.v6, sa->spec.remote.bytes, alen);
        memcpy(family == AF_INET ? (void *) &o.dst.v4 : (void *) &o.dst.v6, sa->spec.local.bytes, alen);
        PktDrop d = pkt_push_outer(pkt, &o, proto, 0);
        return d != PKT_OK ? d : pkt_ip_parse(pkt_data(pkt), pkt->len, ret_ip);
}

/* Wakes worker o to empty its hand-off queue: one write to its eventfd,
 * which its context watches. */
static void handoff_wake(DpWorker *o) {
        uint64_t one = 1;
        /* EAGAIN: the counter is full, the worker is woken anyway. */
        if (write(o->handoff.wake, &one, sizeof one) < 0 && errno != EAGAIN)
                TRACE(TRACE_ERROR, "waking worker %u: %s", o->index, g_strerror(errno));
}

/* The workers this one handed packets to in its batch, woken once each. */
static void handoff_wake_all(DpWorker *w) {
        for (unsigned k = 0; w->handed_to; k++)
                if (w->handed_to & (1u << k)) {
                        w->handed_to &= ~(1u << k);
                        handoff_wake(w->dp->workers[k]);
                }
}

/* ESP in UDP (pkt: from the ESP header on, as it came) of an SA that
 * worker o owns, at worker w: copied with its sender into o's queue, for
 * o to process as if it had read it itself. A full queue drops it. o is
 * woken as w's batch ends, or at once when the queue is half full, so
 * that it empties the queue while w goes on. */
static void hand_off(DpWorker *w, DpWorker *o, const PktBuf *pkt, const struct sockaddr_storage *from, uint32_t spi) {
        char b1[BH_ADDR_STRLEN];
        DpHandoff *q = &o->handoff;
        unsigned i = HANDOFF_MAX;
        if (q->wake >= 0 && pkt->len <= SLOT_DATA) {
                g_mutex_lock(&q->lock);
                i = q->n;
                if (i < HANDOFF_MAX) {
                        memcpy(q->data[i], pkt_data(pkt), pkt->len);
                        q->len[i] = (uint16_t) pkt->len;
                        q->from[i] = *from;
                        q->n = i + 1;
                }
                g_mutex_unlock(&q->lock);
        }
        if (i == HANDOFF_MAX) {
                w->c.in_dropped++;
                w->c.in_handoff_full++;
                TRACE(TRACE_FILTER, "drop in from %s: SPI 0x%08x came to worker %u, worker %u's hand-off queue is full",
                      S(from, b1), spi, w->index, o->index);
                return;
        }
        w->c.in_handed_off++;
        w->handed_to |= 1u << o->index;
        if (i + 1 == HANDOFF_MAX / 2)
                handoff_wake(o);
        TRACE(TRACE_FILTER_INFO, "SPI 0x%08x from %s came to worker %u: handed to worker %u", spi, S(from, b1),
              w->index, o->index);
}

/* pkt holds either the ESP header onwards (ip NULL) or the whole outer IP
 * packet (raw IPv4 socket) with the ESP header at esp_off. */
static void process_in(DpWorker *w, PktBuf *pkt, const PktIpInfo *ip, size_t esp_off,
                       const struct sockaddr_storage *from, bool udp) {
        const uint8_t *esp = pkt_data(pkt) + esp_off;
        if (pkt->len - esp_off < ESP_HDR_LEN) {
                count_malformed(w);
                return;
        }
        uint32_t spi = pkt_load_be32(esp);
        char b1[BH_ADDR_STRLEN], b2[BH_ADDR_STRLEN];
        DpSa *sa = g_hash_table_lookup(w->dp->in_sas, GUINT_TO_POINTER(spi));
        if (!sa) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_unknown_spi++;
                TRACE(TRACE_FILTER, "deny in from %s: unknown SPI 0x%08x", S(from, b1), spi);
                return;
        }
        if (!same_addr(&sa->spec.remote, from)) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_wrong_source++;
                TRACE(TRACE_FILTER, "deny in from %s: SPI 0x%08x belongs to %s", S(from, b1), spi,
                      A(&sa->spec.remote, b2));
                return;
        }
        /* The SA's encapsulation is part of what the peer agreed to: ESP
         * that comes the other way (raw for an SA in UDP, or in UDP for a
         * raw one) is refused. */
        bool sa_udp = sa->spec.encap == BH_ENCAP_UDP;
        if (G_UNLIKELY(sa_udp != udp)) {
                count_misrouted(w);
                TRACE(TRACE_FILTER, "deny in from %s: SPI 0x%08x came %s, its SA is %s", S(from, b1), spi,
                      udp ? "in UDP" : "raw", sa_udp ? "in UDP" : "raw");
                return;
        }
        /* Each inbound SA belongs to one worker, and its replay window and
         * cipher context with it: ESP in UDP to the worker its SPI names
         * (where the supervisor's selector sends it), raw ESP to worker 0
         * (whose the raw sockets are). ESP in UDP that reaches another
         * worker (a segment of a datagram the kernel joined behind another
         * SA's) goes to the SA's own. */
        unsigned owner = sa_udp ? spi % w->dp->n_workers : 0;
        if (G_UNLIKELY(w->index != owner)) {
                if (udp) {
                        hand_off(w, w->dp->workers[owner], pkt, from, spi);
                        return;
                }
                /* Raw ESP reaches worker 0 only: never here. */
                count_misrouted(w);
                return;
        }
        if (G_UNLIKELY(sa_expired(sa))) {
                w->c.in_dropped++;
                w->c.in_sa_expired++;
                TRACE(TRACE_ERROR, "tunnel %s: the inbound SA 0x%08x is past its lifetime", sa->spec.tunnel, spi);
                return;
        }
        size_t outer_len = pkt->len;
        PktIpInfo rebuilt;
        if (!ip && sa->spec.mode == BH_MODE_TRANSPORT) {
                if (rebuild_header(pkt, sa, PKT_PROTO_ESP, &rebuilt) != PKT_OK) {
                        count_malformed(w);
                        return;
                }
                ip = &rebuilt;
        }
        PktDrop r = esp_decap(&sa->esp, pkt, ip);
        if (r != PKT_OK) {
                if (r == PKT_DROP_DUMMY)
                        return;
                count_in_drop(w, r);
                TRACE(r == PKT_DROP_ICV || r == PKT_DROP_CRYPTO ? TRACE_CRYPTO : TRACE_CAPS,
                      "tunnel %s: decapsulation on SPI 0x%08x refused: %s", sa->spec.tunnel, spi, pkt_drop_name(r));
                return;
        }
        TRACE(TRACE_CRYPTO_INFO, "tunnel %s: SPI 0x%08x authenticated and decrypted", sa->spec.tunnel, spi);
        limits_count(w->dp, sa, pkt->len);
        /* What came out must be what the tunnel carries. */
        Flow f;
        DpPolicy *policy = policy_find(w->dp, sa->spec.tunnel);
        if (!flow_parse(pkt_data(pkt), pkt->len, &f) || !policy ||
            !ts_any(policy->remote, policy->n_remote, &f.src, &f, true) ||
            !ts_any(policy->local, policy->n_local, &f.dst, &f, false)) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_selector_mismatch++;
                TRACE(TRACE_FILTER, "deny in on tunnel %s: the inner packet is outside its selectors", sa->spec.tunnel);
                return;
        }
        TRACE(TRACE_CAPS_INFO, "tunnel %s: %zu bytes ESP decapsulated to %zu bytes %s -> %s", sa->spec.tunnel,
              outer_len, pkt->len, A(&f.src, b1), A(&f.dst, b2));
        deliver(w, pkt, VIA_ESP);
}

/* Receives up to a batch in one call; returns how many. Into the slots,
 * or for a UDP socket with UDP_GRO (joined) into the UDP buffers, each
 * with room for the control message that gives the size of what it
 * joined. */
static int receive_batch(DpWorker *w, int fd, bool joined) {
        unsigned n = joined ? UDP_BUFS : BATCH;
        for (unsigned i = 0; i < n; i++) {
                w->iovs[i] = joined ? (struct iovec){ w->udp_bufs[i] + PKT_HEADROOM, UDP_DATA }
                                    : (struct iovec){ w->slots[i] + PKT_HEADROOM, SLOT_DATA };
                w->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &w->addrs[i], .msg_namelen = sizeof w->addrs[i],
                                                       .msg_iov = &w->iovs[i], .msg_iovlen = 1,
                                                       .msg_control = joined ? w->udp_cmsg[i] : NULL,
                                                       .msg_controllen = joined ? sizeof w->udp_cmsg[i] : 0 };
        }
        int r = recvmmsg(fd, w->msgs, n, MSG_DONTWAIT, NULL);
        return r < 0 ? 0 : r;
}

/* The size of the segments a datagram joined (UDP_GRO's control message,
 * untrusted as to its value); false when it came as it was sent. A
 * message too short for the size gives 0, which no split accepts. */
static bool joined_size(struct msghdr *h, int *ret_size) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                        *ret_size = 0;
                        if (c->cmsg_len >= CMSG_LEN(sizeof(int)))
                                memcpy(ret_size, CMSG_DATA(c), sizeof(int));
                        return true;
                }
        return false;
}

/* A segment of a joined datagram: copied into the next free slot, where
 * it has the engine's head- and tailroom as any datagram read into one.
 * When the slots run out, what the batch decapsulated so far goes to the
 * TUN device first, and they are free again. */
static void stage(DpWorker *w, PktBuf *pkt, const uint8_t *p, size_t len) {
        if (w->n_staged == BATCH) {
                flush_in(w);
                w->n_staged = 0;
        }
        uint8_t *slot = w->slots[w->n_staged++];
        memcpy(slot + PKT_HEADROOM, p, len);
        pkt_init(pkt, slot, SLOT, PKT_HEADROOM, len);
}

/* One datagram from a UDP 4500 socket. */
static void udp_in(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from) {
        switch (esp_udp_classify(pkt_data(pkt), pkt->len)) {
        case ESP_UDP_ESP:
                process_in(w, pkt, NULL, 0, from, true);
                break;
        case ESP_UDP_KEEPALIVE:
                w->c.keepalives_in++;
                break;
        case ESP_UDP_IKE:
                /* IKE on 4500 belongs to isakmpd, not here. */
                w->c.in_not_esp++;
                break;
        case ESP_UDP_INVALID:
                count_malformed(w);
                break;
        }
}

/* A raw IPv4 socket hands over the IP header too. */
static void raw4_in(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from) {
        PktIpInfo ip;
        size_t esp_off;
        EspUdpKind kind;
        if (esp_locate(pkt_data(pkt), pkt->len, &ip, &esp_off, &kind) != PKT_OK) {
                count_malformed(w);
                return;
        }
        process_in(w, pkt, &ip, esp_off, from, false);
}

/* AH of a known SA from its remote address: pkt starts at the IP header
 * that ip describes. */
static void process_in_ah(DpWorker *w, DpSa *sa, PktBuf *pkt, const PktIpInfo *ip) {
        char b1[BH_ADDR_STRLEN], b2[BH_ADDR_STRLEN];
        if (G_UNLIKELY(sa_expired(sa))) {
                w->c.in_dropped++;
                w->c.in_sa_expired++;
                return;
        }
        /* AH arrives on worker 0's raw sockets only: the SA is its own. */
        PktDrop r = ah_decap(&sa->ah, pkt, ip);
        if (r == PKT_OK)
                limits_count(w->dp, sa, pkt->len);
        if (r != PKT_OK) {
                w->c.in_dropped++;
                if (r == PKT_DROP_REPLAY || r == PKT_DROP_TOO_OLD)
                        w->c.in_ah_replay++;
                else
                        w->c.in_ah_compute++;
                TRACE(r == PKT_DROP_ICV ? TRACE_CRYPTO : TRACE_CAPS, "tunnel %s: AH on SPI 0x%08x refused: %s",
                      sa->spec.tunnel, sa->spec.spi, pkt_drop_name(r));
                return;
        }
        Flow f;
        DpPolicy *policy = policy_find(w->dp, sa->spec.tunnel);
        if (!flow_parse(pkt_data(pkt), pkt->len, &f) || !policy ||
            !ts_any(policy->remote, policy->n_remote, &f.src, &f, true) ||
            !ts_any(policy->local, policy->n_local, &f.dst, &f, false)) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_selector_mismatch++;
                return;
        }
        TRACE(TRACE_CAPS_INFO, "tunnel %s: AH verified, %zu bytes %s -> %s", sa->spec.tunnel, pkt->len, A(&f.src, b1),
              A(&f.dst, b2));
        deliver(w, pkt, VIA_AH);
}

/* The SA of an AH header (at ah, len bytes on) and whether its sender may
 * use it; NULL (counted) otherwise. */
static DpSa *ah_sa_of(DpWorker *w, const uint8_t *ah, size_t len, const struct sockaddr_storage *from) {
        char b1[BH_ADDR_STRLEN];
        if (len < AH_HDR_LEN) {
                w->c.in_dropped++;
                w->c.in_ah_compute++;
                w->c.in_malformed++;
                return NULL;
        }
        uint32_t spi = pkt_load_be32(ah + 4);
        DpSa *sa = g_hash_table_lookup(w->dp->in_ah_sas, GUINT_TO_POINTER(spi));
        if (!sa) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_unknown_spi++;
                TRACE(TRACE_FILTER, "deny in from %s: unknown AH SPI 0x%08x", S(from, b1), spi);
                return NULL;
        }
        if (!same_addr(&sa->spec.remote, from)) {
                w->c.in_dropped++;
                w->c.in_filter_deny++;
                w->c.in_wrong_source++;
                return NULL;
        }
        return sa;
}

/* AH over IPv4: the raw socket hands over the whole packet, which the ICV
 * covers. */
static void ah4_in(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from) {
        PktIpInfo ip;
        if (pkt_ip_parse(pkt_data(pkt), pkt->len, &ip) != PKT_OK || ip.proto != IPPROTO_AH) {
                w->c.in_dropped++;
                w->c.in_ah_compute++;
                w->c.in_malformed++;
                return;
        }
        DpSa *sa = ah_sa_of(w, pkt_data(pkt) + ip.hdr_len, pkt->len - ip.hdr_len, from);
        if (sa)
                process_in_ah(w, sa, pkt, &ip);
}

/* AH over IPv6: the raw socket starts at the AH header. The IPv6 header
 * the ICV covers is written again from the SA's addresses
 * (rebuild_header: its mutable fields do not count); a packet that came
 * with extension headers before AH thus fails the ICV, and is dropped. */
static void ah6_in(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from) {
        DpSa *sa = ah_sa_of(w, pkt_data(pkt), pkt->len, from);
        PktIpInfo ip;
        if (!sa)
                return;
        if (rebuild_header(pkt, sa, PKT_PROTO_AH, &ip) != PKT_OK) {
                w->c.in_dropped++;
                w->c.in_ah_compute++;
                w->c.in_malformed++;
                return;
        }
        process_in_ah(w, sa, pkt, &ip);
}

/* IPv6 raw sockets start at the ESP header. */
static void raw6_in(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from) {
        process_in(w, pkt, NULL, 0, from, false);
}

typedef void (*InFunc)(DpWorker *w, PktBuf *pkt, const struct sockaddr_storage *from);

/*
 * Every socket's wake-up: a batch in one call, each datagram to the
 * socket's own function, then the decapsulated packets out to the TUN
 * device; all under the read lock of the SAD and SPD.
 *
 * A datagram the UDP socket joined (UDP_GRO) is cut into the segments the
 * peer sent, and each goes to the function on its own, as if it had come
 * alone: the same checks, counters and join for the TUN device. A datagram
 * of one segment is handled where it was read, with the room around it;
 * the segments of a joined one are copied out, each into a slot (stage).
 * What a slot cannot hold (longer than SLOT_DATA, or cut short: MSG_TRUNC,
 * or the size of its segments lost: MSG_CTRUNC), or a size that cannot be
 * right, is dropped as malformed, never read past.
 */
static void receive_each(DpWorker *w, int fd, InFunc func, bool joined) {
        g_rw_lock_reader_lock(&w->dp->lock);
        int n = receive_batch(w, fd, joined);
        w->n_staged = 0;
        for (int i = 0; i < n; i++) {
                struct msghdr *h = &w->msgs[i].msg_hdr;
                uint8_t *buf = joined ? w->udp_bufs[i] : w->slots[i];
                size_t len = w->msgs[i].msg_len;
                int size = 0;
                if (h->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                        count_malformed(w);
                        continue;
                }
                unsigned count = joined_size(h, &size) ? offload_udp_segments(len, size) : 1;
                if (count == 0) {
                        count_malformed(w);
                        continue;
                }
                if (count > 1)
                        w->c.udp_gro_datagrams++;
                for (unsigned k = 0; k < count; k++) {
                        size_t off = count > 1 ? (size_t) k * (size_t) size : 0;
                        size_t seg = count > 1 ? MIN((size_t) size, len - off) : len;
                        PktBuf pkt;
                        if (seg > SLOT_DATA) {
                                count_malformed(w);
                                continue;
                        }
                        if (count == 1)
                                pkt_init(&pkt, buf, joined ? UDP_BUF : SLOT, PKT_HEADROOM, len);
                        else
                                stage(w, &pkt, buf + PKT_HEADROOM + off, seg);
                        func(w, &pkt, &w->addrs[i]);
                }
        }
        flush_in(w);
        g_rw_lock_reader_unlock(&w->dp->lock);
        handoff_wake_all(w);
}

/* The packets other workers handed to this one (hand_off), taken out of
 * the queue at once into the slots, then each processed as the datagram
 * it came in: the same checks, counters and join for the TUN device. */
static gboolean handoff_readable(gint fd, GIOCondition cond, gpointer userdata) {
        DpWorker *w = userdata;
        DpHandoff *q = &w->handoff;
        uint16_t len[HANDOFF_MAX];
        uint64_t woken;
        /* Read first: a wake after it, for a packet queued after the
         * queue is taken below, makes the descriptor readable again. */
        if (read(fd, &woken, sizeof woken) < 0 && errno != EAGAIN)
                TRACE(TRACE_ERROR, "worker %u's hand-off wake-up: %s", w->index, g_strerror(errno));
        g_mutex_lock(&q->lock);
        unsigned n = q->n;
        for (unsigned i = 0; i < n; i++) {
                len[i] = q->len[i];
                memcpy(w->slots[i] + PKT_HEADROOM, q->data[i], len[i]);
                w->addrs[i] = q->from[i];
        }
        q->n = 0;
        g_mutex_unlock(&q->lock);
        if (n == 0)
                return G_SOURCE_CONTINUE;
        g_rw_lock_reader_lock(&w->dp->lock);
        for (unsigned i = 0; i < n; i++) {
                PktBuf pkt;
                pkt_init(&pkt, w->slots[i], SLOT, PKT_HEADROOM, len[i]);
                process_in(w, &pkt, NULL, 0, &w->addrs[i], true);
        }
        flush_in(w);
        g_rw_lock_reader_unlock(&w->dp->lock);
        handoff_wake_all(w);
        return G_SOURCE_CONTINUE;
}

#define READABLE(name, func, joined)                                                     \
        static gboolean name(gint fd, GIOCondition cond, gpointer userdata) {            \
                receive_each(userdata, fd, func, joined);                                \
                return G_SOURCE_CONTINUE;                                                \
        }
READABLE(udp_readable, udp_in, ((DpWorker *) userdata)->udp_gro)
READABLE(raw4_readable, raw4_in, false)
READABLE(raw6_readable, raw6_in, false)
READABLE(ah4_readable, ah4_in, false)
READABLE(ah6_readable, ah6_in, false)

/* ---------------------------------------------------------------- SAD, SPD */

/* What the calls below change, the workers read under dp->lock: each call
 * holds it as writer, and calls no other that takes it. */

/* The tunnel's list of inbound SAs: an SA joins it as it enters in_sas or
 * in_ah_sas, and leaves it as those tables free it (dp_sa_free), whichever
 * way that happens: removed, replaced by an SA of the same SPI, or the end. */
static void in_link(Datapath *dp, DpSa *sa) {
        GPtrArray *in = g_hash_table_lookup(dp->in_by_tunnel, sa->spec.tunnel);
        if (!in) {
                in = g_ptr_array_new();
                g_hash_table_insert(dp->in_by_tunnel, g_strdup(sa->spec.tunnel), in);
        }
        g_ptr_array_add(in, sa);
        sa->in_dp = dp;
}

static void in_unlink(DpSa *sa) {
        GHashTable *index = sa->in_dp->in_by_tunnel;
        GPtrArray *in = g_hash_table_lookup(index, sa->spec.tunnel);
        if (in && g_ptr_array_remove_fast(in, sa) && in->len == 0)
                g_hash_table_remove(index, sa->spec.tunnel);
        sa->in_dp = NULL;
}

static void dp_sa_free(void *p) {
        DpSa *sa = p;
        if (sa->in_dp)
                in_unlink(sa);
        if (sa->spec.protocol == IPPROTO_AH) {
                ah_sa_clear(&sa->ah);
                for (unsigned i = 0; sa->ah_w && i < sa->n_w; i++)
                        ah_sa_clear(&sa->ah_w[i]);
                g_free(sa->ah_w);
        } else {
                esp_sa_clear(&sa->esp);
                for (unsigned i = 0; sa->esp_w && i < sa->n_w; i++)
                        esp_sa_clear(&sa->esp_w[i]);
                g_free(sa->esp_w);
        }
        bh_secure_wipe(sa, sizeof *sa);
        g_free(sa);
}

/* One engine SA over its own transform: the primary, or a worker's copy. */
static int sa_engine_init(DpSa *sa, unsigned copy, const BhSecret *keymat, char **ret_error) {
        const DpSaSpec *spec = &sa->spec;
        BhTransform *t = NULL;
        int r = bh_transform_new(spec->protocol == IPPROTO_AH ? BH_ENCR_NONE : spec->encr,
                                 spec->protocol == IPPROTO_AH ? 0 : spec->encr_bits, spec->integ, keymat, &t);
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot set up %s/%s: %s", bh_encr_name(spec->encr),
                                             bh_integ_name(spec->integ), g_strerror(-r));
                return r;
        }
        if (spec->protocol == IPPROTO_AH) {
                AhSa *ah = copy ? &sa->ah_w[copy - 1] : &sa->ah;
                ah_sa_init(ah, spec->spi, spec->mode == BH_MODE_TRANSPORT ? AH_MODE_TRANSPORT : AH_MODE_TUNNEL,
                           spec->esn, 0, t);
                ah->anti_replay = spec->replay;
                if (copy)
                        ah->seq_src = &sa->ah.seq_out;
        } else {
                EspSa *esp = copy ? &sa->esp_w[copy - 1] : &sa->esp;
                esp_sa_init(esp, spec->spi, spec->mode == BH_MODE_TRANSPORT ? ESP_MODE_TRANSPORT : ESP_MODE_TUNNEL,
                            spec->esn, 0, t);
                esp->anti_replay = spec->replay;
                if (copy)
                        esp->seq_src = &sa->esp.seq_out;
        }
        return 0;
}

int dp_install_sa(Datapath *dp, const DpSaSpec *spec, const BhSecret *keymat, char **ret_error) {
        DpSa *sa = g_new0(DpSa, 1);
        sa->spec = *spec;
        /* Every worker may send on an outbound SA: each has its own cipher
         * context, and they share the sequence numbers. An inbound SA is
         * one worker's. */
        if (spec->direction == DP_OUT && dp->n_workers > 1) {
                sa->n_w = dp->n_workers - 1;
                if (spec->protocol == IPPROTO_AH)
                        sa->ah_w = g_new0(AhSa, sa->n_w);
                else
                        sa->esp_w = g_new0(EspSa, sa->n_w);
        }
        for (unsigned copy = 0; copy <= sa->n_w; copy++) {
                int r = sa_engine_init(sa, copy, keymat, ret_error);
                if (r < 0) {
                        sa->n_w = copy ? copy - 1 : 0;  /* the copies made so far */
                        dp_sa_free(sa);
                        return r;
                }
        }
        g_rw_lock_writer_lock(&dp->lock);
        const DpPolicy *p = policy_find(dp, spec->tunnel);
        sa->installed_at = g_get_monotonic_time();
        limits_arm(sa, p ? p->soft_bytes : 0, p ? p->soft_packets : 0, p ? p->soft_seconds : 0);
        if (spec->direction == DP_IN) {
                g_hash_table_replace(spec->protocol == IPPROTO_AH ? dp->in_ah_sas : dp->in_sas,
                                     GUINT_TO_POINTER(spec->spi), sa);
                in_link(dp, sa);
        } else
                g_hash_table_replace(dp->out_sas, sa->spec.tunnel, sa);
        dp->c.cache_added++;
        g_rw_lock_writer_unlock(&dp->lock);
        TRACE(TRACE_TUNNEL, "tunnel %s: %s SA 0x%08x added (%s%s%s)", spec->tunnel, spec->direction == DP_IN ? "in" : "out",
              spec->spi, bh_encr_name(spec->encr), spec->integ ? "/" : "", spec->integ ? bh_integ_name(spec->integ) : "");
        return 0;
}

static bool spi_kept(uint32_t spi, const uint32_t *keep, size_t n_keep) {
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] == spi)
                        return true;
        return false;
}

unsigned dp_remove_sas(Datapath *dp, const char *tunnel, const uint32_t *keep, size_t n_keep) {
        unsigned n = 0;
        g_rw_lock_writer_lock(&dp->lock);
        DpSa *out = g_hash_table_lookup(dp->out_sas, tunnel);
        if (out && !spi_kept(out->spec.spi, keep, n_keep)) {
                g_hash_table_remove(dp->out_sas, tunnel);
                n++;
        }
        /* From the end: each removal takes the SA out of this list. */
        GPtrArray *in = g_hash_table_lookup(dp->in_by_tunnel, tunnel);
        for (guint i = in ? in->len : 0; i > 0; i--) {
                const DpSa *sa = g_ptr_array_index(in, i - 1);
                if (spi_kept(sa->spec.spi, keep, n_keep))
                        continue;
                bool last = in->len == 1;
                g_hash_table_remove(sa->spec.protocol == IPPROTO_AH ? dp->in_ah_sas : dp->in_sas,
                                    GUINT_TO_POINTER(sa->spec.spi));
                n++;
                if (last)
                        break;  /* the list went with its last SA */
        }
        dp->c.cache_deleted += n;
        g_rw_lock_writer_unlock(&dp->lock);
        TRACE(TRACE_TUNNEL, "tunnel %s: %u SAs deleted, %zu kept", tunnel, n, n_keep);
        return n;
}

bool dp_remove_sa(Datapath *dp, const char *tunnel, DpDirection direction, uint32_t spi) {
        bool found = false;
        g_rw_lock_writer_lock(&dp->lock);
        if (direction == DP_OUT) {
                DpSa *sa = g_hash_table_lookup(dp->out_sas, tunnel);
                found = sa && sa->spec.spi == spi;
                if (found)
                        g_hash_table_remove(dp->out_sas, tunnel);
        } else {
                /* ESP or AH: the tunnel's inbound SA of that SPI. */
                GHashTable *table = dp->in_sas;
                DpSa *sa = g_hash_table_lookup(table, GUINT_TO_POINTER(spi));
                if (!sa || strcmp(sa->spec.tunnel, tunnel) != 0) {
                        table = dp->in_ah_sas;
                        sa = g_hash_table_lookup(table, GUINT_TO_POINTER(spi));
                }
                found = sa && strcmp(sa->spec.tunnel, tunnel) == 0;
                if (found)
                        g_hash_table_remove(table, GUINT_TO_POINTER(spi));
        }
        if (found)
                dp->c.cache_deleted++;
        g_rw_lock_writer_unlock(&dp->lock);
        if (found)
                TRACE(TRACE_TUNNEL, "tunnel %s: %s SA 0x%08x deleted", tunnel, direction == DP_IN ? "inbound" : "outbound",
                      spi);
        return found;
}

static void policy_free(void *p) {
        DpPolicy *pol = p;
        g_free(pol->local);
        g_free(pol->remote);
        g_free(pol);
}

static bool remove_policy(Datapath *dp, const char *tunnel) {
        DpPolicy *p = policy_find(dp, tunnel);
        if (!p)
                return false;
        g_hash_table_remove(dp->policy_by_tunnel, tunnel);
        return g_ptr_array_remove(dp->policies, p);
}

static DpPolicy *set_policy(Datapath *dp, const char *tunnel, const BhTs *local, size_t n_local, const BhTs *remote,
                            size_t n_remote) {
        remove_policy(dp, tunnel);
        DpPolicy *p = g_new0(DpPolicy, 1);
        g_strlcpy(p->tunnel, tunnel, sizeof p->tunnel);
        p->local = g_memdup2(local, n_local * sizeof *local);
        p->n_local = n_local;
        p->remote = g_memdup2(remote, n_remote * sizeof *remote);
        p->n_remote = n_remote;
        g_ptr_array_add(dp->policies, p);
        g_hash_table_insert(dp->policy_by_tunnel, p->tunnel, p);
        return p;
}

int dp_set_policy(Datapath *dp, const char *tunnel, const BhTs *local, size_t n_local, const BhTs *remote,
                  size_t n_remote) {
        g_rw_lock_writer_lock(&dp->lock);
        set_policy(dp, tunnel, local, n_local, remote, n_remote);
        g_rw_lock_writer_unlock(&dp->lock);
        TRACE(TRACE_TUNNEL_INFO, "tunnel %s: policy with %zu local and %zu remote selectors", tunnel, n_local, n_remote);
        return 0;
}

int dp_set_trap(Datapath *dp, const char *tunnel, const BhTs *local, size_t n_local, const BhTs *remote,
                size_t n_remote, unsigned holddown) {
        g_rw_lock_writer_lock(&dp->lock);
        DpPolicy *p = set_policy(dp, tunnel, local, n_local, remote, n_remote);
        p->trap = true;
        p->acquire_after = g_get_monotonic_time() + (gint64) holddown * G_USEC_PER_SEC;
        g_rw_lock_writer_unlock(&dp->lock);
        TRACE(TRACE_TUNNEL_INFO, "tunnel %s: trap set, no Acquire for %u s", tunnel, holddown);
        return 0;
}

void dp_on_acquire(Datapath *dp, DpAcquireFunc func, void *userdata) {
        dp->on_acquire = func;
        dp->on_acquire_data = userdata;
}

bool dp_remove_policy(Datapath *dp, const char *tunnel) {
        g_rw_lock_writer_lock(&dp->lock);
        bool r = remove_policy(dp, tunnel);
        g_rw_lock_writer_unlock(&dp->lock);
        return r;
}

void dp_counters(Datapath *dp, DpCounters *ret) {
        /* Every field is a uint64_t: summed as an array. */
        enum { N = sizeof(DpCounters) / sizeof(uint64_t) };
        _Static_assert(sizeof(DpCounters) % sizeof(uint64_t) == 0, "DpCounters holds uint64_t only");
        g_rw_lock_writer_lock(&dp->lock);
        uint64_t sum[N];
        memcpy(sum, &dp->c, sizeof sum);
        sum[offsetof(DpCounters, cache_expired) / sizeof(uint64_t)] =
                __atomic_load_n(&dp->c.cache_expired, __ATOMIC_RELAXED);
        for (unsigned k = 0; k < dp->n_workers; k++) {
                uint64_t one[N];
                memcpy(one, &dp->workers[k]->c, sizeof one);
                for (unsigned i = 0; i < N; i++)
                        sum[i] += one[i];
        }
        g_rw_lock_writer_unlock(&dp->lock);
        memcpy(ret, sum, sizeof sum);
}

unsigned dp_worker_count(const Datapath *dp) {
        return dp->n_workers;
}

uint64_t dp_worker_packets(Datapath *dp, unsigned k) {
        if (k >= dp->n_workers)
                return 0;
        g_rw_lock_writer_lock(&dp->lock);
        uint64_t n = dp->workers[k]->c.in_total + dp->workers[k]->c.out_total;
        g_rw_lock_writer_unlock(&dp->lock);
        return n;
}

unsigned dp_sa_count(Datapath *dp) {
        g_rw_lock_writer_lock(&dp->lock);
        unsigned n = g_hash_table_size(dp->in_sas) + g_hash_table_size(dp->in_ah_sas) + g_hash_table_size(dp->out_sas);
        g_rw_lock_writer_unlock(&dp->lock);
        return n;
}

static void add_counters(PktCounters *sum, const PktCounters *c) {
        sum->packets_in += c->packets_in;
        sum->bytes_in += c->bytes_in;
        sum->packets_out += c->packets_out;
        sum->bytes_out += c->bytes_out;
        for (int i = 0; i < _PKT_DROP_MAX; i++)
                sum->drops[i] += c->drops[i];
}

static void report_sa(const DpSa *sa, void (*func)(const DpSaInfo *, void *), void *userdata) {
        PktCounters c = { 0 };
        add_counters(&c, sa->spec.protocol == IPPROTO_AH ? &sa->ah.counters : &sa->esp.counters);
        for (unsigned i = 0; i < sa->n_w; i++)
                add_counters(&c, sa->spec.protocol == IPPROTO_AH ? &sa->ah_w[i].counters : &sa->esp_w[i].counters);
        uint64_t drops = 0;
        for (int i = 0; i < _PKT_DROP_MAX; i++)
                drops += c.drops[i];
        DpSaInfo info = {
                .tunnel = sa->spec.tunnel,
                .direction = sa->spec.direction,
                .protocol = sa->spec.protocol,
                .spi = sa->spec.spi,
                .encr = sa->spec.encr,
                .encr_bits = sa->spec.encr_bits,
                .integ = sa->spec.integ,
                .packets = sa->spec.direction == DP_IN ? c.packets_in : c.packets_out,
                .bytes = sa->spec.direction == DP_IN ? c.bytes_in : c.bytes_out,
                .drops = drops,
        };
        func(&info, userdata);
}

void dp_foreach_sa(Datapath *dp, void (*func)(const DpSaInfo *, void *), void *userdata) {
        GHashTableIter it;
        gpointer value;
        g_rw_lock_writer_lock(&dp->lock);
        g_hash_table_iter_init(&it, dp->out_sas);
        while (g_hash_table_iter_next(&it, NULL, &value))
                report_sa(value, func, userdata);
        g_hash_table_iter_init(&it, dp->in_sas);
        while (g_hash_table_iter_next(&it, NULL, &value))
                report_sa(value, func, userdata);
        g_hash_table_iter_init(&it, dp->in_ah_sas);
        while (g_hash_table_iter_next(&it, NULL, &value))
                report_sa(value, func, userdata);
        g_rw_lock_writer_unlock(&dp->lock);
}

/* ---------------------------------------------------------------- keepalives */

static gboolean send_keepalives(gpointer userdata) {
        Datapath *dp = userdata;
        static const uint8_t keepalive = 0xff;
        GHashTableIter it;
        gpointer value;
        g_rw_lock_writer_lock(&dp->lock);
        g_hash_table_iter_init(&it, dp->out_sas);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                const DpSa *sa = value;
                if (sa->spec.encap != BH_ENCAP_UDP)
                        continue;
                int fd = sa->spec.remote.family == AF_INET ? dp->workers[0]->udp4 : dp->workers[0]->udp6;
                struct sockaddr_storage to;
                socklen_t len;
                sockaddr_of(&sa->spec.remote, PKT_NATT_PORT, &to, &len);
                if (fd >= 0 && sendto(fd, &keepalive, 1, 0, (struct sockaddr *) &to, len) == 1)
                        dp->c.keepalives_out++;
        }
        g_rw_lock_writer_unlock(&dp->lock);
        return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- lifetimes */

static void time_check(Datapath *dp, GHashTable *table, gint64 now) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, table);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                DpSa *sa = value;
                if (G_UNLIKELY(now >= sa->next_time))
                        limit_reached(dp, sa, "time");
        }
}

/* The limits in time, a second at most late: the packet path counts only
 * packets and bytes. */
static gboolean check_lifetimes(gpointer userdata) {
        Datapath *dp = userdata;
        gint64 now = g_get_monotonic_time();
        g_rw_lock_writer_lock(&dp->lock);
        time_check(dp, dp->in_sas, now);
        time_check(dp, dp->in_ah_sas, now);
        time_check(dp, dp->out_sas, now);
        g_rw_lock_writer_unlock(&dp->lock);
        return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- life */

static GSource *watch(GMainContext *ctx, int fd, GUnixFDSourceFunc func, DpWorker *w) {
        if (fd < 0)
                return NULL;
        GSource *s = g_unix_fd_source_new(fd, G_IO_IN);
        g_source_set_callback(s, (GSourceFunc) (void (*)(void)) func, w, NULL);
        g_source_attach(s, ctx);
        return s;
}

static gpointer worker_run(gpointer data) {
        DpWorker *w = data;
        g_main_context_push_thread_default(w->ctx);
        g_main_loop_run(w->loop);
        g_main_context_pop_thread_default(w->ctx);
        return NULL;
}

/* UDP GRO on a UDP 4500 socket (if there is one): the kernel may then
 * join what a peer sent into one datagram. */
static bool udp_gro_set(int fd, int on) {
        return fd < 0 || setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
}

static DpWorker *worker_new(Datapath *dp, unsigned k, GMainContext *ctx) {
        DpWorker *w = g_new0(DpWorker, 1);
        w->dp = dp;
        w->index = k;
        w->tun = dp->fds.tun[k];
        w->udp4 = dp->fds.udp4[k];
        w->udp6 = dp->fds.udp6[k];
        /* Both sockets or neither: a worker reads its UDP sockets one way.
         * A kernel without UDP GRO hands each datagram over alone, into
         * the slots. */
        w->udp_gro = udp_gro_set(w->udp4, 1) && udp_gro_set(w->udp6, 1);
        if (!w->udp_gro) {
                int e = errno;
                udp_gro_set(w->udp4, 0);
                udp_gro_set(w->udp6, 0);
                bh_log_info("worker %u: no UDP GRO on the UDP 4500 sockets (%s): one datagram per packet", k,
                            g_strerror(e));
        }
        w->ctx = k ? g_main_context_new() : ctx;
        /* With other workers, a queue for the packets they hand over,
         * allocated here with the worker, and its wake-up on the
         * worker's context. Without one, they drop those packets. */
        g_mutex_init(&w->handoff.lock);
        w->handoff.wake = dp->n_workers > 1 ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
        if (dp->n_workers > 1 && w->handoff.wake < 0)
                bh_log_error("worker %u: no eventfd (%s): packets other workers hand over are dropped", k,
                             g_strerror(errno));
        w->sources[7] = watch(w->ctx, w->handoff.wake, handoff_readable, w);
        w->sources[0] = watch(w->ctx, w->tun, tun_readable, w);
        w->sources[1] = watch(w->ctx, w->udp4, udp_readable, w);
        w->sources[2] = watch(w->ctx, w->udp6, udp_readable, w);
        if (k == 0) {
                /* The raw sockets: one reader, so that an SA that is not
                 * in UDP has one worker. */
                w->sources[3] = watch(w->ctx, dp->fds.raw4, raw4_readable, w);
                w->sources[4] = watch(w->ctx, dp->fds.raw6, raw6_readable, w);
                w->sources[5] = watch(w->ctx, dp->fds.ah4, ah4_readable, w);
                w->sources[6] = watch(w->ctx, dp->fds.ah6, ah6_readable, w);
        }
        return w;
}

/* Workers 1..: their thread, once every worker exists (any may hand
 * packets to any other). */
static void worker_start(DpWorker *w) {
        w->loop = g_main_loop_new(w->ctx, FALSE);
        g_autofree char *name = g_strdup_printf("dp-worker-%u", w->index);
        w->thread = g_thread_new(name, worker_run, w);
}

static void worker_stop(DpWorker *w) {
        if (!w->thread)
                return;
        g_main_loop_quit(w->loop);
        g_thread_join(w->thread);
        g_main_loop_unref(w->loop);
        w->thread = NULL;
        w->loop = NULL;
}

/* Once no worker runs (worker_stop): none may hand it a packet. What its
 * queue still holds goes with it. */
static void worker_free(DpWorker *w) {
        for (size_t i = 0; i < G_N_ELEMENTS(w->sources); i++)
                if (w->sources[i]) {
                        g_source_destroy(w->sources[i]);
                        g_source_unref(w->sources[i]);
                }
        if (w->handoff.wake >= 0)
                close(w->handoff.wake);
        g_mutex_clear(&w->handoff.lock);
        if (w->index)
                g_main_context_unref(w->ctx);
        g_free(w);
}

Datapath *dp_new(GMainContext *ctx, const DpFds *fds) {
        Datapath *dp = g_new0(Datapath, 1);
        dp->fds = *fds;
        dp->main_ctx = ctx ? ctx : g_main_context_default();
        g_rw_lock_init(&dp->lock);
        g_mutex_init(&dp->limit_lock);
        dp->in_sas = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, dp_sa_free);
        dp->in_ah_sas = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, dp_sa_free);
        dp->out_sas = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, dp_sa_free);
        dp->in_by_tunnel = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
        dp->policies = g_ptr_array_new_with_free_func(policy_free);
        dp->policy_by_tunnel = g_hash_table_new(g_str_hash, g_str_equal);
        /* One worker for each TUN queue handed over, and at least one. */
        dp->n_workers = 1;
        while (dp->n_workers < DP_MAX_WORKERS && fds->tun[dp->n_workers] >= 0)
                dp->n_workers++;
        for (unsigned k = 0; k < dp->n_workers; k++)
                dp->workers[k] = worker_new(dp, k, ctx);
        for (unsigned k = 1; k < dp->n_workers; k++)
                worker_start(dp->workers[k]);
        dp->keepalive_timer = g_timeout_add_seconds(KEEPALIVE_SECONDS, send_keepalives, dp);
        dp->lifetime_timer = g_timeout_add_seconds(1, check_lifetimes, dp);
        return dp;
}

bool dp_ready(const Datapath *dp, char **ret_why) {
        if (dp->fds.tun[0] < 0) {
                *ret_why = g_strdup("no TUN device (see bulkheadd's messages)");
                return false;
        }
        if (dp->fds.udp4[0] < 0 && dp->fds.udp6[0] < 0 && dp->fds.raw4 < 0 && dp->fds.raw6 < 0) {
                *ret_why = g_strdup("no ESP socket (see bulkheadd's messages)");
                return false;
        }
        return true;
}

void dp_free(Datapath *dp) {
        if (!dp)
                return;
        if (dp->keepalive_timer)
                g_source_remove(dp->keepalive_timer);
        if (dp->lifetime_timer)
                g_source_remove(dp->lifetime_timer);
        for (unsigned k = 0; k < dp->n_workers; k++)
                worker_stop(dp->workers[k]);
        for (unsigned k = 0; k < dp->n_workers; k++)
                worker_free(dp->workers[k]);
        g_hash_table_destroy(dp->in_sas);
        g_hash_table_destroy(dp->in_ah_sas);
        g_hash_table_destroy(dp->out_sas);
        g_hash_table_destroy(dp->in_by_tunnel);     /* after the SAs that leave it */
        g_hash_table_destroy(dp->policy_by_tunnel);
        g_ptr_array_free(dp->policies, TRUE);
        g_rw_lock_clear(&dp->lock);
        g_mutex_clear(&dp->limit_lock);
        g_free(dp);
}
