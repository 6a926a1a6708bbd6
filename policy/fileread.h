/* SPDX-License-Identifier: ISC */
#pragma once

#include <stddef.h>

#include "secmem.h"

/* Reads a whole regular file of at most max bytes, for the configuration
 * parsers: 0, or -errno; -EISDIR for a directory, -EBADFD for any other
 * file that is not regular (a FIFO does not hang it), -EFBIG above max, also
 * when the file grows while it is read. The caller frees *ret_text. */
int bh_read_bounded(const char *path, size_t max, char **ret_text, size_t *ret_len);

/* Reads fd to its end into one locked buffer of size + 1 bytes, never grown
 * (a realloc would leave a copy of the keys behind): 0 with *ret_buf and
 * *ret_len, or -errno; -EFBIG when there was more than size to read (the
 * buffer is wiped and freed then). For files of keys. */
int bh_read_fd_secret(int fd, size_t size, BhSecret **ret_buf, size_t *ret_len);
