/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cli.h"
#include "fileread.h"
#include "suite.h"
#include "tunxfer.h"

/* ---- the partner's view ----------------------------------------------- */

int xfer_mirror(const BhTunnel *t, BhTunnel **ret, char **ret_reason) {
        g_autofree char *q = bh_quote(t->name);
        BhTunnel *m;
        BhAddr addr;
        BhIdentity id;
        BhTs *ts;
        size_t n;
        uint32_t spi;

        /* The partner's own address and identity would have to be guessed. */
        if (bh_addr_is_any(&t->remote)) {
                *ret_reason = g_strdup_printf("tunnel %s has remote %%any: it answers any peer, and its partner's side "
                                              "cannot be derived from it", q);
                return -EINVAL;
        }
        if (t->type == BH_TUNNEL_IKE && t->remote_id.type == BH_ID_ANY) {
                *ret_reason = g_strdup_printf("tunnel %s has remote_id %%any: the partner's local_id cannot be derived "
                                              "from it (set remote_id to the partner's identity)", q);
                return -EINVAL;
        }

        m = bh_tunnel_copy(t);

        addr = m->local;
        m->local = m->remote;
        m->remote = addr;

        ts = m->local_ts;
        n = m->n_local_ts;
        m->local_ts = m->remote_ts;
        m->n_local_ts = m->n_remote_ts;
        m->remote_ts = ts;
        m->n_remote_ts = n;

        id = m->local_id;
        m->local_id = m->remote_id;
        m->remote_id = id;

        spi = m->esp_spi_in;
        m->esp_spi_in = m->esp_spi_out;
        m->esp_spi_out = spi;
        spi = m->ah_spi_in;
        m->ah_spi_in = m->ah_spi_out;
        m->ah_spi_out = spi;

        m->number = 0;
        m->number_given = false;
        g_clear_pointer(&m->file, g_free);
        m->line = 0;

        *ret = m;
        return 0;
}

size_t xfer_tunnel_keys(const BhTunnel *t, BhSecretKind ret_kinds[4], BhSecretDir ret_dirs[4]) {
        size_t n = 0;

        if (t->type == BH_TUNNEL_IKE) {
                ret_kinds[n] = BH_SECRET_PSK;
                ret_dirs[n++] = BH_SECRET_DIR_NONE;
                return n;
        }
        if (t->has_esp) {
                ret_kinds[n] = BH_SECRET_ESP;
                ret_dirs[n++] = BH_SECRET_OUT;
                ret_kinds[n] = BH_SECRET_ESP;
                ret_dirs[n++] = BH_SECRET_IN;
        }
        if (t->has_ah) {
                ret_kinds[n] = BH_SECRET_AH;
                ret_dirs[n++] = BH_SECRET_OUT;
                ret_kinds[n] = BH_SECRET_AH;
                ret_dirs[n++] = BH_SECRET_IN;
        }
        return n;
}

BhSecretDir xfer_swap_dir(BhSecretDir dir) {
        return dir == BH_SECRET_IN ? BH_SECRET_OUT : dir == BH_SECRET_OUT ? BH_SECRET_IN : dir;
}

/* ---- secrets ---------------------------------------------------------- */

void xfer_cryptod_owner(BhSecretsOwner *ret) {
        const struct passwd *pw;

        if (getuid() != 0) {
                *ret = (BhSecretsOwner) { getuid(), getgid() };
                return;
        }
        /* bulkheadd runs cryptod as this user when it exists (and when it
         * runs as root, which it must). */
        pw = getpwnam(bh_suite[BH_SERVICE_CRYPTOD].user);
        if (pw)
                *ret = (BhSecretsOwner) { pw->pw_uid, pw->pw_gid };
        else
                *ret = (BhSecretsOwner) { 0, 0 };
}

static void close_fdp(int *fd) {
        if (*fd > STDIN_FILENO)
                (void) close(*fd);
}

int xfer_read_secret(const char *path, size_t max, BhSecret **ret_buf, size_t *ret_len, struct stat *ret_st) {
        __attribute__((cleanup(close_fdp))) int fd = -EBADF;
        bool stream = false;
        BhSecret *buf;
        struct stat st;
        size_t len = 0;

        if (strcmp(path, "-") == 0)
                fd = STDIN_FILENO;
        else {
                /* O_NONBLOCK: a FIFO with no writer must not hang the open. */
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        return -errno;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISFIFO(st.st_mode) || (fd == STDIN_FILENO && (S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)))) {
                /* A pipe (exptun -f - | imptun -, or <(...)): read it to its end. */
                int flags = fcntl(fd, F_GETFL);

                if (flags >= 0 && (flags & O_NONBLOCK))
                        (void) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
                stream = true;
        } else if (!S_ISREG(st.st_mode))
                return -EBADFD;
        else if ((uintmax_t) st.st_size > max)
                return -EFBIG;

        /* More than the file's size: it grew while it was read. */
        int r = bh_read_fd_secret(fd, stream ? max : (size_t) st.st_size, &buf, &len);
        if (r < 0)
                return r == -EFBIG && !stream ? -EAGAIN : r;

        if (ret_st)
                *ret_st = st;
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

size_t xfer_key_line_max(size_t key_len) {
        /* "psk " or "esp ", the name, " out ", quotes or "0x", two characters
         * a byte at most, the newline. */
        return 4 + BH_TUNNEL_NAME_MAX + 5 + 2 + 2 * key_len + 1;
}

static void put(BhSecret *buf, size_t *off, const char *s, size_t n) {
        g_assert(n <= buf->len - *off);
        memcpy(buf->data + *off, s, n);
        *off += n;
}

static bool printable(const BhSecret *key) {
        for (size_t i = 0; i < key->len; i++)
                if (key->data[i] < 0x20 || key->data[i] > 0x7e)
                        return false;
        return true;
}

void xfer_put_key_line(BhSecret *buf, size_t *off, BhSecretKind kind, const char *tunnel, BhSecretDir dir,
                       const BhSecret *key) {
        static const char hex[] = "0123456789abcdef";
        const char *word = bh_secret_kind_to_string(kind);

        g_assert(xfer_key_line_max(key->len) <= buf->len - *off);

        put(buf, off, word, strlen(word));
        put(buf, off, " ", 1);
        put(buf, off, tunnel, strlen(tunnel));
        if (dir != BH_SECRET_DIR_NONE) {
                const char *d = bh_secret_dir_to_string(dir);

                put(buf, off, " ", 1);
                put(buf, off, d, strlen(d));
        }
        put(buf, off, " ", 1);

        /* A passphrase stays one, as the administrator typed it. */
        if (kind == BH_SECRET_PSK && printable(key)) {
                put(buf, off, "\"", 1);
                for (size_t i = 0; i < key->len; i++) {
                        if (key->data[i] == '"' || key->data[i] == '\\')
                                put(buf, off, "\\", 1);
                        buf->data[(*off)++] = key->data[i];
                }
                put(buf, off, "\"", 1);
        } else {
                put(buf, off, "0x", 2);
                for (size_t i = 0; i < key->len; i++) {
                        buf->data[(*off)++] = (uint8_t) hex[key->data[i] >> 4];
                        buf->data[(*off)++] = (uint8_t) hex[key->data[i] & 0xf];
                }
        }
        put(buf, off, "\n", 1);
}

/* ---- files ------------------------------------------------------------ */

int xfer_write_all(int fd, const void *buf, size_t len) {
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t k = write(fd, p, len);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

static int sync_dir_of(const char *path) {
        g_autofree char *dir = g_path_get_dirname(path);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        (void) close(fd);
        return r;
}

int xfer_out_write(XferOut *o, const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);
        g_autofree char *tmp = NULL;
        int fd, r = 0;

        g_return_val_if_fail(o && !o->tmp, -EINVAL);

        /* Hidden, and without .conf: no loader reads it meanwhile. */
        tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
        fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode & 0600);
        if (fd < 0)
                return -errno;

        /* The owner before the mode and the data: never a moment with keys
         * in a file that its future owner's rules would not allow. */
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                r = -errno;
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0)
                r = xfer_write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        o->path = g_strdup(path);
        o->tmp = g_steal_pointer(&tmp);
        return 0;
}

int xfer_out_commit(XferOut *o, bool replace) {
        int r = 0;

        if (!o->tmp)
                return 0;
        if (replace) {
                if (rename(o->tmp, o->path) < 0)
                        r = -errno;
        } else {
                /* link() refuses an existing name: no window for a race. */
                if (link(o->tmp, o->path) < 0)
                        r = -errno;
                (void) unlink(o->tmp);
        }
        if (r < 0) {
                xfer_out_abort(o);
                return r;
        }
        g_clear_pointer(&o->tmp, g_free);
        return sync_dir_of(o->path);
}

void xfer_out_abort(XferOut *o) {
        if (!o)
                return;
        if (o->tmp)
                (void) unlink(o->tmp);
        g_clear_pointer(&o->tmp, g_free);
        g_clear_pointer(&o->path, g_free);
}

char **xfer_split_names(const char *list, char **ret_bad) {
        g_auto(GStrv) names = g_strsplit(list, ",", -1);

        if (!names[0]) {
                *ret_bad = g_strdup("");
                return NULL;
        }
        for (char **n = names; *n; n++) {
                g_strstrip(*n);
                if (!bh_tunnel_name_valid(*n)) {
                        *ret_bad = g_strdup(*n);
                        return NULL;
                }
        }
        return g_steal_pointer(&names);
}

/* ---- reports ---------------------------------------------------------- */

int xfer_fail(int code, const char *format, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);
        fprintf(stderr, "%s: %s\n", g_get_prgname(), msg);
        return code;
}

int xfer_exit_code(int r) {
        return r == -EACCES || r == -EPERM ? CLI_EXIT_DENIED : CLI_EXIT_FAILED;
}

bool xfer_report_is_warning(const char *report) {
        return strstr(report, ": warning: ") != NULL;
}

int xfer_print_reports(const GPtrArray *reports, bool warnings) {
        int n = 0;

        for (guint i = 0; reports && i < reports->len; i++) {
                const char *r = reports->pdata[i];
                bool w = xfer_report_is_warning(r);

                if (!w)
                        n++;
                if (!w || warnings)
                        fprintf(stderr, "%s\n", r);
        }
        return n;
}
