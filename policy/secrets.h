/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <glib.h>

#include "secmem.h"
#include "tunnel.h"

/*
 * secrets.conf: bulkhead-secrets(5), the one file only cryptod reads. One
 * entry per line:
 *
 *   psk TUNNEL "passphrase" | psk TUNNEL 0xHEX
 *   esp TUNNEL in|out 0xHEX        encryption key [+ salt] + integrity key
 *   ah  TUNNEL in|out 0xHEX        integrity key
 *
 * Key bytes are decoded straight into BhSecret buffers (locked, wiped when
 * freed) and appear nowhere else. No report ever quotes a word of the file
 * other than the fixed keywords: a misplaced key must not reach a log
 * through an error message. Reports name lines; tunnel names appear only in
 * the reports of bh_secrets_check_tunnel(), taken from the definition.
 */

#define BH_SECRETS_LINE_MAX 4096
#define BH_SECRETS_SIZE_MAX (256 * 1024)
/* Longest key or passphrase, in bytes. */
#define BH_SECRETS_KEY_MAX 1024
/* Entries read at most: each key takes a locked page of its own. Four per
 * manual tunnel leaves room for thousands of tunnels. */
#define BH_SECRETS_ENTRIES_MAX 16384

typedef enum BhSecretKind {
        BH_SECRET_PSK = 1,
        BH_SECRET_ESP = 2,
        BH_SECRET_AH = 3,
} BhSecretKind;

typedef enum BhSecretDir {
        BH_SECRET_DIR_NONE = 0,         /* psk */
        BH_SECRET_IN = 1,
        BH_SECRET_OUT = 2,
} BhSecretDir;

typedef struct BhSecretEntry {
        BhSecretKind kind;
        BhSecretDir dir;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        size_t line;
        BhSecret *key;
} BhSecretEntry;

typedef struct BhSecrets BhSecrets;

/* Who may own secrets.conf besides root, and which group may read it. */
typedef struct BhSecretsOwner {
        uid_t uid;                      /* the cryptod user */
        gid_t gid;                      /* its group; (gid_t) -1: no group may read */
} BhSecretsOwner;

BhSecrets *bh_secrets_new(void);
/* Wipes every key. Accepts NULL. */
void bh_secrets_free(BhSecrets *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhSecrets, bh_secrets_free)

size_t bh_secrets_size(const BhSecrets *s);
const BhSecretEntry *bh_secrets_get(const BhSecrets *s, size_t i);

/* The entry for (kind, tunnel, dir), tunnel names compared
 * case-insensitively; dir is BH_SECRET_DIR_NONE for psk. NULL if absent. */
const BhSecretEntry *bh_secrets_find(const BhSecrets *s, BhSecretKind kind, const char *tunnel, BhSecretDir dir);

/*
 * Parses `len` bytes of secrets.conf text (untrusted; need not be
 * NUL-terminated). The entries replace whatever `s` held. A bad line is
 * skipped and reported as "FILENAME:LINE: reason"; a second entry for the
 * same key is an error and the first one stays. After
 * BH_SECRETS_ENTRIES_MAX entries the rest of the text is ignored (reported
 * once). The caller wipes `text`.
 * filename NULL means "secrets.conf". Returns the number of bad lines.
 */
int bh_secrets_parse(BhSecrets *s, const char *text, size_t len, const char *filename, GPtrArray *ret_errors);

/*
 * May a secrets file with this stat be trusted? It must be a regular file
 * owned by root or owner->uid; nobody else may write it; others may not read
 * it; its group may read it only if that group is owner->gid (0640
 * root:cryptod, as /etc/shadow is root:shadow); no execute or special bits.
 * So: 0600 or 0400, or 0640 or 0440 with cryptod's group.
 * Returns 0, or -EPERM with a g_free'd reason (if ret_reason is not NULL).
 */
int bh_secrets_check_permissions(const struct stat *st, const BhSecretsOwner *owner, char **ret_reason);

/*
 * Reads and parses the file at `path`. With `owner` not NULL the file's
 * permissions are checked first (bh_secrets_check_permissions(), on the
 * opened file) and a failure refuses the whole file with -EACCES; NULL skips
 * the check, for a caller that decided otherwise (tests, embedded mode).
 * The file is read into a BhSecret buffer, wiped once parsed.
 *
 * Returns -ENOENT for a missing file (no report: the caller knows whether it
 * needs one), -EACCES (permissions), -EBADFD (not a regular file), -EFBIG
 * (above BH_SECRETS_SIZE_MAX), -EAGAIN (changed while read), another -errno,
 * each but -ENOENT reported as "FILENAME: reason" and leaving `s` empty;
 * else what bh_secrets_parse() returns.
 */
int bh_secrets_load(BhSecrets *s, const char *path, const BhSecretsOwner *owner, GPtrArray *ret_errors);

/*
 * Checks that `t` has the keys it needs, of the lengths its transforms need:
 * a psk for an IKE tunnel; esp in/out and ah in/out keys for a manual
 * tunnel, as bh_proposal_key_len() says ("FILENAME:LINE: esp in key for
 * tunnel "x" is 31 bytes, expected 36 (aes256gcm16: 32-byte key + 4-byte
 * salt)"). Entries a tunnel does not use are reported as warnings. Returns
 * the number of errors.
 */
int bh_secrets_check_tunnel(const BhSecrets *s, const BhTunnel *t, const char *filename, GPtrArray *ret_errors);

/* Reports, as warnings, the entries that name no tunnel of `set` (without
 * quoting the name). Returns how many. */
int bh_secrets_check_unused(const BhSecrets *s, const BhTunnelSet *set, const char *filename, GPtrArray *ret_errors);

const char *bh_secret_kind_to_string(BhSecretKind kind);
const char *bh_secret_dir_to_string(BhSecretDir dir);
