/* SPDX-License-Identifier: ISC */
#pragma once

#include <stddef.h>

/* Reads a whole regular file of at most max bytes, for the configuration
 * parsers: 0, or -errno; -EISDIR for a directory, -EBADFD for any other
 * file that is not regular (a FIFO does not hang it), -EFBIG above max, also
 * when the file grows while it is read. The caller frees *ret_text. */
int bh_read_bounded(const char *path, size_t max, char **ret_text, size_t *ret_len);
