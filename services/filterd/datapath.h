/* SPDX-License-Identifier: ISC */
#pragma once

/* filterd's data path: the SAD (inbound SAs by SPI, outbound SAs by tunnel),
 * the SPD (each tunnel's selectors), and the I/O between the TUN device and
 * the ESP sockets, on the GLib main loop. The packet work itself is esp.c. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "secmem.h"
#include "ts.h"
#include "tunnel.h"

/* What ipsecstat(8) reports, in the seed's words. */
typedef struct DpCounters {
        uint64_t in_total, in_ah, in_esp;
        uint64_t out_total, out_ah, out_esp;
        uint64_t in_dropped, in_filter_deny, in_ah_compute, in_esp_compute, in_ah_replay, in_esp_replay;
        uint64_t out_dropped, out_filter_deny;
        uint64_t cache_added, cache_expired, cache_deleted;
        /* Detail behind the seed's lines. */
        uint64_t in_unknown_spi, in_wrong_source, in_selector_mismatch, in_malformed, in_not_esp;
        uint64_t out_no_sa, out_encap_failed, out_send_failed;
        uint64_t out_trapped;   /* held by a trap: its tunnel has no SA yet */
        uint64_t in_write_failed;
        uint64_t in_misrouted;  /* ESP that came another way than its SA's (raw / in UDP) */
        uint64_t in_sa_expired, out_sa_expired;     /* past the hard lifetime */
        uint64_t keepalives_in, keepalives_out;     /* RFC 3948 NAT keepalives */
        /* TUN offloads (offload.h): super packets read and cut into
         * segments, and writes that joined several segments. */
        uint64_t tso_super_packets, gro_super_packets;
        /* UDP GRO: datagrams of the UDP 4500 sockets that held several
         * the peer sent (each then goes its own way, as if alone). */
        uint64_t udp_gro_datagrams;
        /* ESP in UDP at another worker than its SA's (a joined datagram
         * mixing SAs): handed to the SA's worker, or dropped because that
         * worker's hand-off queue was full. */
        uint64_t in_handed_off, in_handoff_full;
} DpCounters;

typedef enum DpDirection {
        DP_IN = 1,
        DP_OUT = 2,
} DpDirection;

/* One SA as cryptod installs it. */
typedef struct DpSaSpec {
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        DpDirection direction;
        uint8_t protocol;       /* IPPROTO_ESP or IPPROTO_AH */
        uint32_t spi;
        unsigned encr, encr_bits, integ;
        bool esn;
        bool replay;            /* anti-replay checks on the inbound SA */
        BhTunnelMode mode;
        BhEncap encap;          /* BH_ENCAP_UDP or BH_ENCAP_ESP */
        BhAddr local, remote;
} DpSaSpec;

typedef struct DpSaInfo {
        const char *tunnel;
        DpDirection direction;
        uint8_t protocol;
        uint32_t spi;
        unsigned encr, encr_bits, integ;
        uint64_t packets, bytes, drops;
} DpSaInfo;

typedef struct Datapath Datapath;

/* Workers at most (each a thread, with a TUN queue and UDP 4500 sockets). */
#define DP_MAX_WORKERS 4

/* The descriptors come from the supervisor; -1 where one is missing. One
 * worker for each TUN queue: tun[0], and tun[k] while it is >= 0, with
 * udp4[k] and udp6[k]. Worker 0 runs on the context given to dp_new(),
 * the others on threads of their own. */
typedef struct DpFds {
        int tun[DP_MAX_WORKERS], udp4[DP_MAX_WORKERS], udp6[DP_MAX_WORKERS];
        int raw4, raw6;
        int ah4, ah6;   /* AH in (IPv4: from the IP header; IPv6: from AH) */
        int ip4, ip6;   /* whole IP packets out (AH) */
} DpFds;

Datapath *dp_new(GMainContext *ctx, const DpFds *fds);
void dp_free(Datapath *dp);
/* Whether packets can flow at all (the TUN device and a socket). */
bool dp_ready(const Datapath *dp, char **ret_why);

/* Takes the key material into the SA's transform (copied; the caller
 * wipes its own). An inbound SA replaces the one with its SPI; an outbound
 * SA replaces its tunnel's outbound SA, whatever that one's SPI. */
int dp_install_sa(Datapath *dp, const DpSaSpec *spec, const BhSecret *keymat, char **ret_error);
/* Every SA of the tunnel but those whose SPI is in KEEP; returns how many
 * went. Keys are wiped. */
unsigned dp_remove_sas(Datapath *dp, const char *tunnel, const uint32_t *keep, size_t n_keep);
/* The tunnel's inbound ESP SA with this SPI, or its outbound SA if that
 * has this SPI; false if there is none. */
bool dp_remove_sa(Datapath *dp, const char *tunnel, DpDirection direction, uint32_t spi);
int dp_set_policy(Datapath *dp, const char *tunnel, const BhTs *local, size_t n_local, const BhTs *remote,
                  size_t n_remote);
bool dp_remove_policy(Datapath *dp, const char *tunnel);

/* start = trap: the tunnel's policy without an SA. A packet it claims
 * while the tunnel has no outbound SA is dropped (out_trapped), and the
 * acquire function is told, at most once per trap: not before HOLDDOWN
 * seconds from now, then not within DP_ACQUIRE_PENDING seconds of the
 * last time (setting the trap again starts over). Replaces the tunnel's
 * policy; dp_set_policy() and dp_remove_policy() replace or remove it. */
#define DP_ACQUIRE_PENDING 30
int dp_set_trap(Datapath *dp, const char *tunnel, const BhTs *local, size_t n_local, const BhTs *remote,
                size_t n_remote, unsigned holddown);
typedef void (*DpAcquireFunc)(const char *tunnel, const BhAddr *src, const BhAddr *dst, void *userdata);
void dp_on_acquire(Datapath *dp, DpAcquireFunc func, void *userdata);

/* Lifetimes: the soft limits of every SA of the tunnel, present and to
 * come (0: none). Once an SA has carried that many packets or bytes, or
 * lived that many seconds since it was installed (checked once a second),
 * the limit function is told (hard = false); a tenth further on it is told
 * again (hard = true) and the SA carries no more. An outbound SA whose
 * sequence numbers ran out is told hard ("sequence numbers") too.
 * -ENOENT without a policy for the tunnel. */
int dp_set_limits(Datapath *dp, const char *tunnel, uint64_t soft_bytes, uint64_t soft_packets,
                  uint32_t soft_seconds);
typedef void (*DpLimitFunc)(const char *tunnel, DpDirection direction, uint32_t spi, const char *what, bool hard,
                            void *userdata);
void dp_on_limit(Datapath *dp, DpLimitFunc func, void *userdata);

/* Every worker's counters and the data path's own, summed. */
void dp_counters(Datapath *dp, DpCounters *ret);
unsigned dp_sa_count(Datapath *dp);
void dp_foreach_sa(Datapath *dp, void (*func)(const DpSaInfo *sa, void *userdata), void *userdata);
unsigned dp_worker_count(const Datapath *dp);
/* Packets worker k carried in and out. */
uint64_t dp_worker_packets(Datapath *dp, unsigned k);
