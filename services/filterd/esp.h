/* SPDX-License-Identifier: ISC */
#pragma once

/* ESP (RFC 4303) encapsulation and decapsulation, in place, for one SA.
 *
 * Outbound, tunnel mode: the inner IPv4/IPv6 packet becomes the ESP packet
 * SPI | seq | IV | payload | padding | pad length | next header | ICV, and
 * pkt_push_outer() (or the UDP socket) adds what goes around it. Transport
 * mode: the IP packet keeps its header, ESP goes behind it.
 *
 * Inbound, in the data path order: SPI match (the SA look-up is the
 * caller's), length and alignment, replay pre-check, ICV verify (AEAD AAD
 * SPI | seq, with the high ESN bits in between, RFC 4106 §5 / RFC 7634 §2.1;
 * HMAC over the packet with the high ESN bits appended, RFC 4303 §2.2.1),
 * decrypt, padding (1, 2, 3, ...), next header, and only then the replay
 * window update and the counters. Every failure returns its own PktDrop and
 * counts it in the SA.
 *
 * No allocation and no lock: the caller's buffer needs PKT_HEADROOM and
 * PKT_TAILROOM around the packet; one SA is driven by one worker at a time. */

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"
#include "replay.h"
#include "transform.h"

#define ESP_HDR_LEN 8u /* SPI + sequence number */

typedef enum EspMode {
        ESP_MODE_TUNNEL,
        ESP_MODE_TRANSPORT,
} EspMode;

const char *esp_mode_name(EspMode mode);

typedef struct EspSa {
        uint32_t spi;             /* host order */
        EspMode mode;
        bool esn;                 /* extended (64-bit) sequence numbers */
        BhTransform *transform;   /* owned: freed by esp_sa_clear() */
        uint64_t seq_out;         /* outbound: last sequence number sent */
        uint64_t *seq_src;        /* where sequence numbers are taken: &seq_out, or the
                                   * seq_out of the SA this one is a worker's copy of */
        ReplayWindow replay;      /* inbound */
        bool anti_replay;         /* check the window (esp_sa_init: on) */
        PktCounters counters;
} EspSa;

/* Sets up an SA around a transform it takes over. replay_window 0: the
 * default (REPLAY_WINDOW_DEFAULT). */
void esp_sa_init(EspSa *sa, uint32_t spi, EspMode mode, bool esn, uint32_t replay_window,
                 BhTransform *transform);
/* Frees the transform and wipes the SA; accepts NULL. */
void esp_sa_clear(EspSa *sa);

/* Room an outbound packet of payload_len bytes needs around it for ESP
 * alone (no outer header): header + IV before, padding + trailer + ICV
 * after. */
void esp_overhead(const EspSa *sa, size_t payload_len, size_t *ret_head, size_t *ret_tail);

/* Outbound. Tunnel: pkt holds the inner IP packet and becomes the ESP
 * packet. Transport: pkt holds an IP packet (not a fragment) and becomes the
 * same header (protocol ESP, lengths and IPv4 checksum updated) followed by
 * ESP. Takes the next sequence number; PKT_DROP_SEQ_EXHAUSTED when the SA
 * must be rekeyed. On a drop, pkt holds garbage. */
PktDrop esp_encap(EspSa *sa, PktBuf *pkt);

/* Inbound. ip NULL: pkt starts at the ESP header (from the UDP 4500 socket
 * or a raw IPv6 socket); tunnel mode only. ip from pkt_ip_parse(): pkt
 * starts at that IP header, protocol ESP, or UDP with ESP inside (RFC 3948).
 * Tunnel: pkt becomes the inner packet (trimmed to its own length, which
 * drops TFC padding). Transport: pkt becomes the IP header with the
 * decrypted payload. On a drop, pkt holds garbage. */
PktDrop esp_decap(EspSa *sa, PktBuf *pkt, const PktIpInfo *ip);

/* The layer under both: pkt holds the payload, and becomes the ESP packet
 * (SPI .. ICV) with next_header in its trailer. */
PktDrop esp_seal(EspSa *sa, PktBuf *pkt, uint8_t next_header);
/* The same with the sequence number and IV given, for known-answer tests
 * (and never otherwise: an IV must not repeat under a key). seq_out is left
 * alone. iv NULL: generated as esp_seal() does. */
PktDrop esp_seal_with(EspSa *sa, PktBuf *pkt, uint8_t next_header, uint64_t seq, const uint8_t *iv);
/* pkt holds the ESP packet (SPI .. ICV) and becomes the payload; the next
 * header is checked against the SA's mode (tunnel: IPv4 or IPv6; transport:
 * a protocol that may follow ESP), then the replay window is updated.
 * PKT_DROP_DUMMY for a dummy packet (next header 59, RFC 4303 §2.6),
 * which is authentic but carries nothing. */
PktDrop esp_open(EspSa *sa, PktBuf *pkt, uint8_t *ret_next_header);

/* ------------------------------------------------------------ outer headers */

/* What arrived on UDP 4500 (RFC 3948): ESP, IKE behind the non-ESP marker
 * (four zero bytes where an SPI would be; SPI 0 is reserved), a NAT
 * keepalive (the single byte 0xFF), or too short to be anything. */
typedef enum EspUdpKind {
        ESP_UDP_ESP,
        ESP_UDP_IKE,
        ESP_UDP_KEEPALIVE,
        ESP_UDP_INVALID,
} EspUdpKind;

const char *esp_udp_kind_name(EspUdpKind kind);
/* payload: the UDP payload (untrusted). */
EspUdpKind esp_udp_classify(const uint8_t *payload, size_t len);

/* For an IP packet from a raw socket or the TUN device: parses the IP
 * header into ret_ip and tells where the ESP header starts (after the UDP
 * header for ESP in UDP 4500). PKT_OK only for ESP; a UDP 4500 datagram that
 * is IKE or a keepalive gives PKT_DROP_NEXT_HEADER with *ret_kind set, so
 * that the caller can hand it on or ignore it. */
PktDrop esp_locate(const uint8_t *p, size_t len, PktIpInfo *ret_ip, size_t *ret_esp_off, EspUdpKind *ret_kind);

/* Tunnel mode, after esp_encap(): the outer IPv4/IPv6 header (checksum
 * set), with a UDP header first when o->udp_sport/dport are set. */
PktDrop esp_push_outer(PktBuf *pkt, const PktOuter *o, uint16_t ip_id);
