/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fileread.h"

int bh_read_fd_secret(int fd, size_t size, BhSecret **ret_buf, size_t *ret_len) {
        BhSecret *buf = bh_secret_new(size + 1);
        size_t len = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf->data + len, buf->len - len);

                if (k < 0) {
                        int r = -errno;

                        if (r == -EINTR)
                                continue;
                        bh_secret_free(buf);
                        return r;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len == buf->len) {
                        bh_secret_free(buf);
                        return -EFBIG;
                }
        }
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

static void close_fdp(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* Reads a whole regular file of at most `max` bytes. */
int bh_read_bounded(const char *path, size_t max, char **ret_text, size_t *ret_len) {
        __attribute__((cleanup(close_fdp))) int fd = -EBADF;
        g_autoptr(GString) buf = NULL;
        struct stat st;

        /* O_NONBLOCK: a FIFO at the path must not hang the caller before
         * fstat() lets us refuse it. It changes nothing for a regular file. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uintmax_t) st.st_size > max)
                return -EFBIG;

        buf = g_string_sized_new((size_t) st.st_size + 1);
        for (;;) {
                char chunk[4096];
                ssize_t k = read(fd, chunk, sizeof chunk);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                /* The file may have grown since fstat(). */
                if ((size_t) k > max - buf->len)
                        return -EFBIG;
                g_string_append_len(buf, chunk, k);
        }

        *ret_len = buf->len;
        *ret_text = g_string_free(g_steal_pointer(&buf), FALSE);
        return 0;
}
