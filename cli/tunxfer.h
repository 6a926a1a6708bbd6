/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * What exptun(8) and imptun(8) share: the layout of an export file, a tunnel
 * as its partner sees it, bulkhead-secrets(5) lines written from keys, the
 * user whose secrets file cryptod trusts, and files written whole or not at
 * all.
 *
 * An export file is bulkhead-tunnels(5) text, then a line "[secrets]", then
 * bulkhead-secrets(5) text. The tunnel parser takes "[secrets]" for an
 * unknown section and skips what follows it, so an export dropped into
 * tunnels.d by mistake puts no key into a report.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "secmem.h"
#include "secrets.h"
#include "tunnel.h"

#define XFER_SECRETS_LINE "[secrets]"
/* The largest export file read: a full tunnels file and a full secrets file. */
#define XFER_FILE_MAX (BH_TUNNEL_FILE_SIZE_MAX + BH_SECRETS_SIZE_MAX)

/*
 * The definition the partner of `t` needs: local and remote, local_ts and
 * remote_ts, local_id and remote_id, and the inbound and outbound SPIs of a
 * manual tunnel exchanged; no number (the partner numbers its own tunnels).
 * -EINVAL, with a g_free'd reason, for a tunnel whose partner side cannot
 * be derived: remote %any or remote_id %any.
 */
int xfer_mirror(const BhTunnel *t, BhTunnel **ret, char **ret_reason);

/* The owner cryptod demands of secrets.conf (bh_secrets_check_permissions):
 * as root, the cryptod user of the suite table when it exists, else root;
 * as another user, that user, who then stands for cryptod, as in embedded
 * mode. */
void xfer_cryptod_owner(BhSecretsOwner *ret);

/*
 * Reads all of `path` ("-": standard input) into a locked buffer that is
 * wiped when freed: no other copy of the bytes is made. At most `max`
 * bytes. Returns 0; -EFBIG above max; -EISDIR, -EBADFD (a regular file, a
 * pipe or a terminal is expected); -EAGAIN when the file grew while it was
 * read; another -errno. With ret_st, the stat of the open file.
 */
int xfer_read_secret(const char *path, size_t max, BhSecret **ret_buf, size_t *ret_len, struct stat *ret_st);

/* Room that xfer_put_key_line() needs at most for a key of key_len bytes. */
size_t xfer_key_line_max(size_t key_len);

/* Writes one bulkhead-secrets(5) line ("esp NAME in 0xHEX\n", "psk NAME
 * \"...\"\n") into buf at *off and advances *off. A psk of printable
 * characters is written as a quoted passphrase, any other key in hex. The
 * caller made room (xfer_key_line_max()). */
void xfer_put_key_line(BhSecret *buf, size_t *off, BhSecretKind kind, const char *tunnel, BhSecretDir dir,
                       const BhSecret *key);

/* Where the keys of `t` are, in the order they are written: kinds and
 * directions as this host's secrets.conf has them. Returns the count
 * (at most 4). */
size_t xfer_tunnel_keys(const BhTunnel *t, BhSecretKind ret_kinds[4], BhSecretDir ret_dirs[4]);

BhSecretDir xfer_swap_dir(BhSecretDir dir);

/*
 * A file written next to its destination first, then put in place whole.
 * xfer_out_write() writes a hidden temporary file in the destination's
 * directory with `mode`, owned by uid:gid when they are not -1, and syncs
 * it; xfer_out_commit() renames it over the destination (replace) or links
 * it there only if nothing is there yet (-EEXIST otherwise), then syncs the
 * directory; xfer_out_abort() removes the temporary file if there is one
 * and releases the XferOut, also after a commit. All accept a zeroed
 * XferOut.
 */
typedef struct XferOut {
        char *path;
        char *tmp;
} XferOut;

int xfer_out_write(XferOut *o, const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid);
int xfer_out_commit(XferOut *o, bool replace);
void xfer_out_abort(XferOut *o);

/* Splits a comma-separated list of tunnel names; each must be a valid
 * name. Returns NULL with *ret_bad set to the bad word (g_free'd). */
char **xfer_split_names(const char *list, char **ret_bad);

/* Writes all of buf to fd, retrying on EINTR; 0 or -errno. */
int xfer_write_all(int fd, const void *buf, size_t len);

/* Prints "PROGRAM: message" on standard error (the program as
 * g_set_prgname() set it); returns code. */
int xfer_fail(int code, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* The exit code for a failed file operation: permission denied (4) for
 * -EACCES and -EPERM, else failed (1). */
int xfer_exit_code(int r);

/* Prints each report of a parser on standard error, warnings only when
 * asked; returns how many were errors. */
int xfer_print_reports(const GPtrArray *reports, bool warnings);
bool xfer_report_is_warning(const char *report);
