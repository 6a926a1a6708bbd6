/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "proposal.h"
#include "ts.h"

/*
 * Tunnel definitions: bulkhead-tunnels(5). One format for manual tunnels and
 * IKE tunnels, in files CONFIG_DIR/tunnels.d/ *.conf, one [tunnel NAME]
 * section per tunnel. No secret is ever in these files (secrets.h).
 */

/* Longest line accepted, newline excluded; longer lines are reported. */
#define BH_TUNNEL_LINE_MAX 4096
/* Larger files are refused whole (-EFBIG): a file of a thousand tunnels is
 * well under this. */
#define BH_TUNNEL_FILE_SIZE_MAX (1024 * 1024)
/* *.conf files read from one directory at most; the rest are reported. */
#define BH_TUNNEL_FILES_MAX 1024
#define BH_TUNNEL_NAME_MAX 32
#define BH_TUNNEL_NUMBER_MAX 65535
/* Selectors in one local_ts or remote_ts list. */
#define BH_TUNNEL_TS_MAX 32
/* Longest identity (the ID payload data), as a DNS name is at most 253. */
#define BH_IDENTITY_MAX 255

/* Used when an IKE tunnel does not say. Documented in bulkhead-tunnels(5). */
#define BH_TUNNEL_DEFAULT_IKE_PROPOSALS \
        "aes256gcm16-chacha20poly1305-prfsha256-curve25519-ecp256-modp3072, aes256-sha256-curve25519-ecp256-modp3072"
#define BH_TUNNEL_DEFAULT_ESP_PROPOSALS "aes256gcm16-chacha20poly1305, aes256-sha256"
#define BH_TUNNEL_DEFAULT_REKEY_TIME (4 * 3600)
#define BH_TUNNEL_DEFAULT_CHILD_REKEY_TIME 3600

typedef enum BhTunnelType {
        BH_TUNNEL_IKE = 1,
        BH_TUNNEL_MANUAL = 2,
} BhTunnelType;

typedef enum BhTunnelMode {
        BH_MODE_TUNNEL = 1,
        BH_MODE_TRANSPORT = 2,
} BhTunnelMode;

typedef enum BhEncap {
        BH_ENCAP_UDP = 1,               /* ESP in UDP 4500 always (RFC 3948) */
        BH_ENCAP_ESP = 2,               /* raw ESP, IP protocol 50 (AH: 51) */
        BH_ENCAP_AUTO = 3,              /* IKE: UDP when NAT detection finds a NAT */
} BhEncap;

typedef enum BhStart {
        BH_START_NONE = 1,              /* on `ike cmd=activate` (or as responder) */
        BH_START_START = 2,             /* when the suite starts */
        BH_START_TRAP = 3,              /* IKE: on the first packet that matches */
} BhStart;

/* ID Type (RFC 7296 3.5); BH_ID_ANY: accept any identity (remote only). */
typedef enum BhIdType {
        BH_ID_ANY = 0,
        BH_ID_IPV4_ADDR = 1,
        BH_ID_FQDN = 2,
        BH_ID_RFC822_ADDR = 3,
        BH_ID_IPV6_ADDR = 5,
        BH_ID_KEY_ID = 11,
} BhIdType;

typedef struct BhIdentity {
        BhIdType type;
        uint8_t len;
        uint8_t data[BH_IDENTITY_MAX];  /* the Identification Data, as sent */
} BhIdentity;

typedef struct BhTunnel {
        char name[BH_TUNNEL_NAME_MAX + 1];
        uint32_t number;                /* 1..65535; 0 until bh_tunnel_set_finish() assigns one */
        bool number_given;              /* written in the file, not assigned */
        BhTunnelType type;
        BhAddr local;
        BhAddr remote;                  /* AF_UNSPEC: %any (IKE responder only) */
        /* Empty remote_ts with remote %any: the peer's address once known. */
        BhTs *local_ts;
        size_t n_local_ts;
        BhTs *remote_ts;
        size_t n_remote_ts;
        BhTunnelMode mode;
        BhEncap encap;
        BhStart start;

        /* IKE tunnels */
        BhIdentity local_id;
        BhIdentity remote_id;
        BhProposal *ike_proposals;
        size_t n_ike_proposals;
        BhProposal *esp_proposals;
        size_t n_esp_proposals;
        uint32_t dpd_delay;             /* seconds; 0 = off */
        uint32_t rekey_time;            /* seconds; 0 = never */
        uint32_t child_rekey_time;      /* seconds; 0 = never */
        uint64_t lifetime_bytes;        /* 0 = no limit */
        uint64_t lifetime_packets;      /* 0 = no limit */
        uint32_t lifetime;              /* manual: seconds each SA lives (soft); 0 = no limit */

        /* Manual tunnels: one transform set each, keys in secrets.conf */
        bool has_esp;
        BhProposal esp;
        uint32_t esp_spi_out;
        uint32_t esp_spi_in;
        bool has_ah;
        BhProposal ah;
        uint32_t ah_spi_out;
        uint32_t ah_spi_in;
        bool replay;                    /* anti-replay on the inbound SAs (default off, as AIX) */

        /* Where it was defined: for reports only, not part of equality. */
        char *file;
        size_t line;
} BhTunnel;

BhTunnel *bh_tunnel_new(void);
BhTunnel *bh_tunnel_copy(const BhTunnel *t);
/* Accepts NULL. */
void bh_tunnel_free(BhTunnel *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhTunnel, bh_tunnel_free)

/* [A-Za-z0-9._-]{1,32}. */
bool bh_tunnel_name_valid(const char *name);

/* Every field a definition can set, the number included; not where it was
 * defined, and not whether the number was written or assigned. */
bool bh_tunnel_equal(const BhTunnel *a, const BhTunnel *b);

/* The keys whose values differ, comma-separated in the order of the man
 * page ("remote, esp_proposals"; "name" for a change of case); NULL when
 * bh_tunnel_equal(). g_free() the result. */
char *bh_tunnel_changes(const BhTunnel *a, const BhTunnel *b);

/* The tunnel as a [tunnel NAME] section, every key written out in canonical
 * form (defaults included), which the parser reads back equal. For exptun
 * and for `ike cmd=list` details. */
char *bh_tunnel_format(const BhTunnel *t);

/* "ipv4:192.0.2.1", "fqdn:gw.example.org", "keyid:0x0102", "%any". */
char *bh_identity_to_string(const BhIdentity *id);

const char *bh_tunnel_type_to_string(BhTunnelType type);
const char *bh_tunnel_mode_to_string(BhTunnelMode mode);
const char *bh_encap_to_string(BhEncap encap);
const char *bh_start_to_string(BhStart start);

/* A set of good tunnels, unique by name (case-insensitively), by number, and
 * by inbound SPI. */
typedef struct BhTunnelSet BhTunnelSet;

BhTunnelSet *bh_tunnel_set_new(void);
/* Accepts NULL. */
void bh_tunnel_set_free(BhTunnelSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhTunnelSet, bh_tunnel_set_free)

guint bh_tunnel_set_size(const BhTunnelSet *set);
/* In the order they were defined (files by name, then lines). */
const BhTunnel *bh_tunnel_set_get(const BhTunnelSet *set, guint i);
/* Case-insensitive; NULL if absent. */
const BhTunnel *bh_tunnel_set_find(const BhTunnelSet *set, const char *name);
const BhTunnel *bh_tunnel_set_find_number(const BhTunnelSet *set, uint32_t number);

/*
 * Parses `len` bytes of one file (untrusted; need not be NUL-terminated;
 * text may be NULL when len is 0) and adds its good tunnels to `set`.
 *
 * A bad line never stops the other tunnels: each problem is appended to
 * ret_errors (may be NULL) as "FILENAME:LINE: reason"; a tunnel with any
 * problem is not added, and a last report "FILENAME:LINE: tunnel "x" is not
 * loaded (N errors)" names it at its [tunnel] line. Duplicate names, numbers
 * and inbound SPIs are checked against the tunnels already in the set: the
 * first definition stays. Legacy algorithms in a manual tunnel's esp or ah
 * are reported as "FILENAME:LINE: warning: ..." and do not stop it; in an
 * IKE tunnel's proposals they are errors.
 *
 * Tunnels without a number have none until bh_tunnel_set_finish().
 * filename is used in the reports; NULL means "tunnels.conf".
 * Returns the number of reports that are not warnings, or -EINVAL.
 */
int bh_tunnel_set_parse(BhTunnelSet *set, const char *text, size_t len, const char *filename, GPtrArray *ret_errors);

/*
 * Gives each tunnel without a number the number it had in `previous` (may be
 * NULL) if nobody has taken it, else the lowest free one. Returns the number
 * of tunnels dropped for lack of a free number (reported), normally 0.
 */
int bh_tunnel_set_finish(BhTunnelSet *set, const BhTunnelSet *previous, GPtrArray *ret_errors);

/*
 * Loads every "*.conf" file in `dir` (names in C-locale order; names starting
 * with '.' skipped), parses them into a new set, and finishes it against
 * `previous`. A file that cannot be read is reported as "FILENAME: reason"
 * and skipped. A missing directory gives an empty set and returns 0.
 * Returns the number of error reports, or -errno when the directory exists
 * but cannot be read (then *ret_set is NULL).
 */
int bh_tunnel_set_load(const char *dir, const BhTunnelSet *previous, GPtrArray *ret_errors, BhTunnelSet **ret_set);

/* Is `name` (no directory) a file that bh_tunnel_set_load() reads: it ends
 * in ".conf" and does not start with '.'. Files are read in strcmp() order. */
bool bh_tunnel_file_name_valid(const char *name);

/*
 * What a reload changes. Tunnels are matched by name (case-insensitively).
 * The arrays hold borrowed const BhTunnel *: added, changed and unchanged
 * point into the new set, removed into the old one. An unchanged tunnel
 * must not be touched by the reload.
 */
typedef struct BhTunnelDiff {
        GPtrArray *added;
        GPtrArray *changed;
        GPtrArray *removed;
        GPtrArray *unchanged;
} BhTunnelDiff;

/* old_set may be NULL (first load). */
void bh_tunnel_diff(const BhTunnelSet *old_set, const BhTunnelSet *new_set, BhTunnelDiff *ret);
/* Accepts a zeroed struct. */
void bh_tunnel_diff_clear(BhTunnelDiff *diff);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BhTunnelDiff, bh_tunnel_diff_clear)
