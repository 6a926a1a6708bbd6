/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fileread.h"
#include "secrets.h"

/*
 * Untrusted, and secret: secrets.conf text. Two rules on top of the usual
 * ones for a parser:
 *  - key bytes are decoded straight from the text into a BhSecret; no other
 *    buffer (no line copy, no GString, no strdup) ever holds them;
 *  - no report quotes a word of the file. A key typed in the wrong column,
 *    a missing quote or a missing tunnel name would otherwise put the key
 *    in a log. Reports say which line and what is wrong, never what is there.
 */

/* Words a line has at most: esp NAME DIR KEY, and one more to tell "too many". */
#define WORDS_MAX 5

struct BhSecrets {
        GPtrArray *entries;             /* BhSecretEntry *, owned */
        GHashTable *index;              /* "kind/dir/lower-case name" -> BhSecretEntry * */
};

typedef struct Word {
        const char *p;
        size_t n;
        bool quoted;                    /* p/n: the inside of "...", escapes not decoded */
} Word;

typedef struct ParseState {
        BhSecrets *s;
        const char *filename;
        GPtrArray *errors;
        size_t line;
        int n_bad;
        bool full;                      /* BH_SECRETS_ENTRIES_MAX reached */
} ParseState;

static void entry_free(BhSecretEntry *e) {
        if (!e)
                return;
        bh_secret_free(e->key);
        g_free(e);
}

BhSecrets *bh_secrets_new(void) {
        BhSecrets *s = g_new0(BhSecrets, 1);

        s->entries = g_ptr_array_new_with_free_func((GDestroyNotify) entry_free);
        s->index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        return s;
}

void bh_secrets_free(BhSecrets *s) {
        if (!s)
                return;
        g_hash_table_unref(s->index);
        g_ptr_array_unref(s->entries);
        g_free(s);
}

size_t bh_secrets_size(const BhSecrets *s) {
        return s ? s->entries->len : 0;
}

const BhSecretEntry *bh_secrets_get(const BhSecrets *s, size_t i) {
        g_return_val_if_fail(s && i < s->entries->len, NULL);
        return s->entries->pdata[i];
}

const char *bh_secret_kind_to_string(BhSecretKind kind) {
        switch (kind) {
        case BH_SECRET_PSK:
                return "psk";
        case BH_SECRET_ESP:
                return "esp";
        case BH_SECRET_AH:
                return "ah";
        default:
                return "invalid";
        }
}

const char *bh_secret_dir_to_string(BhSecretDir dir) {
        switch (dir) {
        case BH_SECRET_IN:
                return "in";
        case BH_SECRET_OUT:
                return "out";
        default:
                return "";
        }
}

static char *index_key(BhSecretKind kind, const char *tunnel, BhSecretDir dir) {
        g_autofree char *lower = g_ascii_strdown(tunnel, -1);

        return g_strdup_printf("%d/%d/%s", (int) kind, (int) dir, lower);
}

const BhSecretEntry *bh_secrets_find(const BhSecrets *s, BhSecretKind kind, const char *tunnel, BhSecretDir dir) {
        g_autofree char *key = NULL;

        if (!s || !tunnel)
                return NULL;
        key = index_key(kind, tunnel, dir);
        return g_hash_table_lookup(s->index, key);
}

static void clear_entries(BhSecrets *s) {
        g_hash_table_remove_all(s->index);
        g_ptr_array_set_size(s->entries, 0);
}

/* ---- parsing ---------------------------------------------------------- */

/* Only fixed text and numbers go into a report: see the top of the file. */
G_GNUC_PRINTF(2, 3)
static void bad_line(ParseState *st, const char *format, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        if (st->n_bad < INT_MAX)
                st->n_bad++;
        if (!st->errors)
                return;

        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_ptr_array_add(st->errors, g_strdup_printf("%s:%zu: %s", st->filename, st->line, msg));
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool word_is(const Word *w, const char *s) {
        return !w->quoted && w->n == strlen(s) && g_ascii_strncasecmp(w->p, s, w->n) == 0;
}

/*
 * Splits a line into words without copying it. A word is a run of
 * non-blanks, or "..." in which \" and \\ stand for " and \ (a '#' or a
 * blank inside quotes is part of the word). A '#' that begins a word
 * outside quotes starts a comment. Returns the number of words (at most
 * WORDS_MAX), or -EINVAL after reporting a malformed quote.
 */
static int split_words(ParseState *st, const char *p, size_t n, Word *words) {
        size_t i = 0;
        int n_words = 0;

        while (n_words < WORDS_MAX) {
                Word w = { 0 };

                while (i < n && is_blank(p[i]))
                        i++;
                if (i >= n || p[i] == '#')
                        break;

                if (p[i] == '"') {
                        size_t start = ++i;

                        while (i < n && p[i] != '"') {
                                if (p[i] == '\\' && i + 1 < n)
                                        i++;
                                i++;
                        }
                        if (i >= n) {
                                bad_line(st, "a quote is not closed");
                                return -EINVAL;
                        }
                        w = (Word) { p + start, i - start, true };
                        i++;    /* the closing quote */
                        if (i < n && !is_blank(p[i])) {
                                bad_line(st, "a closing quote must be followed by a blank or the end of the line");
                                return -EINVAL;
                        }
                } else {
                        size_t start = i;

                        while (i < n && !is_blank(p[i]))
                                i++;
                        w = (Word) { p + start, i - start, false };
                }
                words[n_words++] = w;
        }

        return n_words;
}

static bool name_valid(const Word *w) {
        if (w->quoted || w->n < 1 || w->n > BH_TUNNEL_NAME_MAX)
                return false;
        for (size_t i = 0; i < w->n; i++)
                if (!g_ascii_isalnum(w->p[i]) && w->p[i] != '.' && w->p[i] != '_' && w->p[i] != '-')
                        return false;
        return true;
}

static bool is_hex_word(const Word *w) {
        return !w->quoted && w->n >= 2 && w->p[0] == '0' && (w->p[1] == 'x' || w->p[1] == 'X');
}

/* 0x followed by an even number of hex digits, straight into a BhSecret. */
static BhSecret *decode_hex(ParseState *st, const Word *w) {
        size_t digits = w->n - 2;
        BhSecret *key;

        if (digits == 0) {
                bad_line(st, "the key is empty (0x and no hex digits)");
                return NULL;
        }
        for (size_t i = 0; i < digits; i++)
                if (!g_ascii_isxdigit(w->p[2 + i])) {
                        bad_line(st, "the key has a character that is not a hex digit");
                        return NULL;
                }
        if (digits % 2 != 0) {
                bad_line(st, "the key has an odd number of hex digits (two per byte)");
                return NULL;
        }
        if (digits / 2 > BH_SECRETS_KEY_MAX) {
                bad_line(st, "the key is longer than %d bytes", BH_SECRETS_KEY_MAX);
                return NULL;
        }

        key = bh_secret_new(digits / 2);
        if (!key) {
                bad_line(st, "out of memory for the key");
                return NULL;
        }
        for (size_t i = 0; i < key->len; i++)
                key->data[i] = (uint8_t) (g_ascii_xdigit_value(w->p[2 + 2 * i]) << 4 | g_ascii_xdigit_value(w->p[3 + 2 * i]));
        return key;
}

/* The inside of "...", escapes decoded, straight into a BhSecret. */
static BhSecret *decode_quoted(ParseState *st, const Word *w) {
        size_t len = 0;
        BhSecret *key;

        /* First pass: validate and measure, so that nothing is copied twice. */
        for (size_t i = 0; i < w->n; i++) {
                unsigned char c = (unsigned char) w->p[i];

                if (c == '\\') {
                        if (i + 1 >= w->n || (w->p[i + 1] != '"' && w->p[i + 1] != '\\')) {
                                bad_line(st, "the passphrase has an unknown escape (only \\\" and \\\\ are known)");
                                return NULL;
                        }
                        i++;
                } else if (c < 0x20 || c == 0x7f) {
                        bad_line(st, "the passphrase has a control character (write such a key in hex)");
                        return NULL;
                }
                len++;
        }
        if (len == 0) {
                bad_line(st, "the passphrase is empty");
                return NULL;
        }
        if (len > BH_SECRETS_KEY_MAX) {
                bad_line(st, "the passphrase is longer than %d bytes", BH_SECRETS_KEY_MAX);
                return NULL;
        }

        key = bh_secret_new(len);
        if (!key) {
                bad_line(st, "out of memory for the key");
                return NULL;
        }
        for (size_t i = 0, o = 0; i < w->n; i++) {
                if (w->p[i] == '\\')
                        i++;
                key->data[o++] = (uint8_t) w->p[i];
        }
        return key;
}

static void parse_line(ParseState *st, const char *line, size_t n) {
        Word words[WORDS_MAX];
        BhSecretKind kind;
        BhSecretDir dir = BH_SECRET_DIR_NONE;
        const Word *name, *value;
        const BhSecretEntry *other;
        BhSecretEntry *e;
        BhSecret *key;
        int n_words, expect;

        if (n > BH_SECRETS_LINE_MAX) {
                bad_line(st, "line is longer than %d bytes", BH_SECRETS_LINE_MAX);
                return;
        }
        if (memchr(line, '\0', n)) {
                bad_line(st, "line contains a NUL byte");
                return;
        }

        n_words = split_words(st, line, n, words);
        if (n_words <= 0)
                return;

        if (word_is(&words[0], "psk"))
                kind = BH_SECRET_PSK;
        else if (word_is(&words[0], "esp"))
                kind = BH_SECRET_ESP;
        else if (word_is(&words[0], "ah"))
                kind = BH_SECRET_AH;
        else {
                bad_line(st, "unknown entry (a line starts with psk, esp or ah)");
                return;
        }

        expect = kind == BH_SECRET_PSK ? 3 : 4;
        if (n_words != expect) {
                if (kind == BH_SECRET_PSK)
                        bad_line(st, "%s words where a psk entry has 3: psk TUNNEL KEY (a passphrase with blanks goes in "
                                 "double quotes)", n_words > expect ? "more" : "fewer");
                else
                        bad_line(st, "%s words where an %s entry has 4: %s TUNNEL in|out 0xKEY", n_words > expect ? "more" : "fewer",
                                 bh_secret_kind_to_string(kind), bh_secret_kind_to_string(kind));
                return;
        }

        name = &words[1];
        if (!name_valid(name)) {
                bad_line(st, "the second word must be a tunnel name (1 to %d of A-Z a-z 0-9 . _ -)", BH_TUNNEL_NAME_MAX);
                return;
        }
        if (kind != BH_SECRET_PSK) {
                if (word_is(&words[2], "in"))
                        dir = BH_SECRET_IN;
                else if (word_is(&words[2], "out"))
                        dir = BH_SECRET_OUT;
                else {
                        bad_line(st, "the third word of an %s entry must be in or out", bh_secret_kind_to_string(kind));
                        return;
                }
        }

        if (st->s->entries->len >= BH_SECRETS_ENTRIES_MAX) {
                bad_line(st, "more than %d entries: this line and the ones after it are ignored", BH_SECRETS_ENTRIES_MAX);
                st->full = true;
                return;
        }

        value = &words[expect - 1];
        if (kind == BH_SECRET_PSK) {
                if (value->quoted)
                        key = decode_quoted(st, value);
                else if (is_hex_word(value))
                        key = decode_hex(st, value);
                else {
                        bad_line(st, "a psk is written in double quotes or as 0x and hex digits");
                        return;
                }
        } else {
                if (!is_hex_word(value)) {
                        bad_line(st, "an %s key is written as 0x and hex digits", bh_secret_kind_to_string(kind));
                        return;
                }
                key = decode_hex(st, value);
        }
        if (!key)
                return;

        e = g_new0(BhSecretEntry, 1);
        e->kind = kind;
        e->dir = dir;
        memcpy(e->tunnel, name->p, name->n);
        e->tunnel[name->n] = '\0';
        e->line = st->line;
        e->key = key;

        other = bh_secrets_find(st->s, kind, e->tunnel, dir);
        if (other) {
                if (kind == BH_SECRET_PSK)
                        bad_line(st, "line %zu already gives this tunnel's psk; this line is ignored", other->line);
                else
                        bad_line(st, "line %zu already gives this tunnel's %s %s key; this line is ignored", other->line,
                                 bh_secret_kind_to_string(kind), bh_secret_dir_to_string(dir));
                entry_free(e);
                return;
        }

        g_ptr_array_add(st->s->entries, e);
        g_hash_table_insert(st->s->index, index_key(e->kind, e->tunnel, e->dir), e);
}

int bh_secrets_parse(BhSecrets *s, const char *text, size_t len, const char *filename, GPtrArray *ret_errors) {
        ParseState st = {
                .s = s,
                .filename = filename ? filename : "secrets.conf",
                .errors = ret_errors,
        };
        size_t off = 0;

        g_return_val_if_fail(s, -EINVAL);
        g_return_val_if_fail(text || len == 0, -EINVAL);

        clear_entries(s);

        while (off < len && !st.full) {
                const char *line = text + off;
                const char *nl = memchr(line, '\n', len - off);
                size_t n = nl ? (size_t) (nl - line) : len - off;

                off += nl ? n + 1 : n;
                st.line++;
                parse_line(&st, line, n);
        }

        return st.n_bad;
}

/* ---- the file --------------------------------------------------------- */

int bh_secrets_check_permissions(const struct stat *st, const BhSecretsOwner *owner, char **ret_reason) {
        mode_t mode = st->st_mode & 07777;
        char *reason = NULL;

        g_return_val_if_fail(st && owner, -EINVAL);

        if (!S_ISREG(st->st_mode))
                reason = g_strdup("is not a regular file");
        else if (st->st_uid != 0 && st->st_uid != owner->uid)
                reason = g_strdup_printf("is owned by uid %u, not by root or the cryptod user (uid %u)", (unsigned) st->st_uid,
                                         (unsigned) owner->uid);
        else if (mode & 0007)
                reason = g_strdup_printf("mode %04o lets other users %s it (chmod 600)", (unsigned) mode,
                                         (mode & 0004) ? "read" : (mode & 0002) ? "write" : "execute");
        else if (mode & 0020)
                reason = g_strdup_printf("mode %04o lets group %u write it (chmod 600)", (unsigned) mode, (unsigned) st->st_gid);
        else if ((mode & 0040) && (owner->gid == (gid_t) -1 || st->st_gid != owner->gid))
                reason = g_strdup_printf("mode %04o lets group %u read it, and only cryptod's group may (chmod 600)",
                                         (unsigned) mode, (unsigned) st->st_gid);
        else if (mode & 07111)
                reason = g_strdup_printf("mode %04o has execute or set-id bits (a secrets file is 0600, or 0640 with "
                                         "cryptod's group)", (unsigned) mode);

        if (!reason)
                return 0;
        if (ret_reason)
                *ret_reason = reason;
        else
                g_free(reason);
        return -EPERM;
}

static void close_fdp(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

G_GNUC_PRINTF(3, 4)
static void report_file(GPtrArray *errors, const char *path, const char *format, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        if (!errors)
                return;
        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_ptr_array_add(errors, g_strdup_printf("%s: %s", path, msg));
}

int bh_secrets_load(BhSecrets *s, const char *path, const BhSecretsOwner *owner, GPtrArray *ret_errors) {
        __attribute__((cleanup(close_fdp))) int fd = -EBADF;
        g_autofree char *reason = NULL;
        BhSecret *buf = NULL;
        struct stat st;
        size_t len = 0;
        int r;

        g_return_val_if_fail(s, -EINVAL);
        g_return_val_if_fail(path, -EINVAL);

        clear_entries(s);

        /* O_NONBLOCK: a FIFO must not hang cryptod before fstat() refuses it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                if (r != -ENOENT)
                        report_file(ret_errors, path, "cannot be opened: %s", g_strerror(-r));
                return r;
        }
        /* Checked on the open file: what is read is what was checked. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                report_file(ret_errors, path, "cannot be examined: %s", g_strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                report_file(ret_errors, path, "is not a regular file");
                return -EBADFD;
        }
        if (owner && bh_secrets_check_permissions(&st, owner, &reason) < 0) {
                report_file(ret_errors, path, "%s; not read", reason);
                return -EACCES;
        }
        if ((uintmax_t) st.st_size > BH_SECRETS_SIZE_MAX) {
                report_file(ret_errors, path, "is larger than %d bytes; not read", BH_SECRETS_SIZE_MAX);
                return -EFBIG;
        }

        /* Locked and wiped by bh_secret_free(); more than the file's size
         * means it grew meanwhile. */
        r = bh_read_fd_secret(fd, (size_t) st.st_size, &buf, &len);
        if (r == -EFBIG) {
                report_file(ret_errors, path, "changed while it was read; try again");
                return -EAGAIN;
        }
        if (r == -ENOMEM) {
                report_file(ret_errors, path, "out of memory");
                return r;
        }
        if (r < 0) {
                report_file(ret_errors, path, "cannot be read: %s", g_strerror(-r));
                return r;
        }

        r = bh_secrets_parse(s, (const char *) buf->data, len, path, ret_errors);
        bh_secret_free(buf);
        return r;
}

/* ---- against the tunnels ---------------------------------------------- */

G_GNUC_PRINTF(5, 6)
static void report_entry(GPtrArray *errors, const char *filename, size_t line, bool warning, const char *format, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        if (!errors)
                return;
        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);
        if (line)
                g_ptr_array_add(errors, g_strdup_printf("%s:%zu: %s%s", filename, line, warning ? "warning: " : "", msg));
        else
                g_ptr_array_add(errors, g_strdup_printf("%s: %s%s", filename, warning ? "warning: " : "", msg));
}

/* "aes256gcm16: 32-byte key + 4-byte salt" */
static char *explain_len(const BhProposal *p, const BhKeyLen *k) {
        g_autofree char *set = bh_proposal_to_string(p);
        GString *s = g_string_new(set);
        const char *sep = ": ";

        if (k->encr) {
                g_string_append_printf(s, "%s%zu-byte key", sep, k->encr);
                sep = " + ";
        }
        if (k->salt) {
                g_string_append_printf(s, "%s%zu-byte salt", sep, k->salt);
                sep = " + ";
        }
        if (k->integ)
                g_string_append_printf(s, "%s%zu-byte integrity key", sep, k->integ);
        return g_string_free(s, FALSE);
}

static int check_manual_key(const BhSecrets *s, const BhTunnel *t, BhSecretKind kind, BhSecretDir dir, const char *filename,
                            GPtrArray *errors) {
        const BhProposal *p = kind == BH_SECRET_ESP ? &t->esp : &t->ah;
        const BhSecretEntry *e = bh_secrets_find(s, kind, t->name, dir);
        g_autofree char *q = bh_quote(t->name);
        BhKeyLen k;

        if (bh_proposal_key_len(p, &k) < 0) {
                report_entry(errors, filename, 0, false, "tunnel %s: no key length for its %s transform set", q,
                             bh_secret_kind_to_string(kind));
                return 1;
        }
        if (!e) {
                report_entry(errors, filename, 0, false, "tunnel %s has no %s %s key", q, bh_secret_kind_to_string(kind),
                             bh_secret_dir_to_string(dir));
                return 1;
        }
        if (e->key->len != k.total) {
                g_autofree char *why = explain_len(p, &k);

                report_entry(errors, filename, e->line, false, "%s %s key for tunnel %s is %zu bytes, expected %zu (%s)",
                             bh_secret_kind_to_string(kind), bh_secret_dir_to_string(dir), q, e->key->len, k.total, why);
                return 1;
        }
        return 0;
}

int bh_secrets_check_tunnel(const BhSecrets *s, const BhTunnel *t, const char *filename, GPtrArray *ret_errors) {
        g_autofree char *q = NULL;
        int n = 0;

        g_return_val_if_fail(s && t, -EINVAL);
        if (!filename)
                filename = "secrets.conf";
        q = bh_quote(t->name);

        if (t->type == BH_TUNNEL_IKE) {
                if (!bh_secrets_find(s, BH_SECRET_PSK, t->name, BH_SECRET_DIR_NONE)) {
                        report_entry(ret_errors, filename, 0, false, "tunnel %s has no psk", q);
                        n++;
                }
        } else {
                static const BhSecretDir dirs[] = { BH_SECRET_OUT, BH_SECRET_IN };

                for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                        if (t->has_esp)
                                n += check_manual_key(s, t, BH_SECRET_ESP, dirs[i], filename, ret_errors);
                        if (t->has_ah)
                                n += check_manual_key(s, t, BH_SECRET_AH, dirs[i], filename, ret_errors);
                }
        }

        /* Keys the tunnel does not use: harmless, but probably a mistake. */
        for (size_t i = 0; i < bh_secrets_size(s); i++) {
                const BhSecretEntry *e = bh_secrets_get(s, i);
                const char *why = NULL;

                if (g_ascii_strcasecmp(e->tunnel, t->name) != 0)
                        continue;
                if (e->kind == BH_SECRET_PSK && t->type != BH_TUNNEL_IKE)
                        why = "is a manual tunnel; a psk is for IKE tunnels";
                else if (e->kind != BH_SECRET_PSK && t->type == BH_TUNNEL_IKE)
                        why = "is an IKE tunnel, whose keys are negotiated";
                else if (e->kind == BH_SECRET_ESP && !t->has_esp)
                        why = "has no esp";
                else if (e->kind == BH_SECRET_AH && !t->has_ah)
                        why = "has no ah";
                if (why)
                        report_entry(ret_errors, filename, e->line, true, "this %s key is not used: tunnel %s %s",
                                     bh_secret_kind_to_string(e->kind), q, why);
        }

        return n;
}

int bh_secrets_check_unused(const BhSecrets *s, const BhTunnelSet *set, const char *filename, GPtrArray *ret_errors) {
        int n = 0;

        g_return_val_if_fail(s, -EINVAL);
        if (!filename)
                filename = "secrets.conf";

        for (size_t i = 0; i < bh_secrets_size(s); i++) {
                const BhSecretEntry *e = bh_secrets_get(s, i);

                if (bh_tunnel_set_find(set, e->tunnel))
                        continue;
                /* The name is not quoted: it may be a mistyped key. */
                report_entry(ret_errors, filename, e->line, true, "no tunnel of the name on this line is defined");
                n++;
        }
        return n;
}
