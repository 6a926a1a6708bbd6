/* SPDX-License-Identifier: ISC */
#pragma once

/* The confinement every service enters once its initialisation is done:
 * no new privileges, no capabilities, and a seccomp allowlist of its own
 * (policy/sandbox.c, one commented group of syscalls at a time). A syscall
 * outside the list kills the process with SIGSYS; just before, it writes
 * "SIGSYS <number>\n" to the report fd the supervisor handed it, so that
 * the supervisor can say which syscall it was. */

#include <stdbool.h>
#include <stdint.h>

/* 1 in builds with AddressSanitizer, whose run-time the supervisor profile
 * makes room for (policy/sandbox.c); the tests expect that room there. */
#if defined(__SANITIZE_ADDRESS__)
#define BH_SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BH_SANITIZER_RUNTIME 1
#endif
#endif
#ifndef BH_SANITIZER_RUNTIME
#define BH_SANITIZER_RUNTIME 0
#endif

/* Applies the named profile ("tmd", "isakmpd", ...) to every thread of the
 * process. report_fd < 0: no report. Returns 0 or a negative errno (unknown
 * profile, kernel refusal). */
int bh_sandbox_enter(const char *profile, int report_fd);

/* The same for a process that stays root with a few capabilities (the
 * supervisor): keep_caps (bits 1 << CAP_*) stay in its effective, permitted
 * and bounding sets, as far as it holds them; every other capability goes. */
int bh_sandbox_enter_keeping(const char *profile, int report_fd, uint64_t keep_caps);

/* Drops every capability from the effective, permitted, inheritable and
 * bounding sets (also what a root process keeps after exec). */
int bh_sandbox_drop_capabilities(void);

/* The names of the profiles, NULL-terminated (for tests and docs). */
extern const char *const bh_sandbox_profiles[];

/* Syscall name for a number on this architecture, or NULL. */
const char *bh_sandbox_syscall_name(int nr);
/* Does the profile allow this syscall (by name, under some condition)? For
 * tests. */
bool bh_sandbox_allows(const char *profile, const char *syscall);
/* Filters stack, so a process started under the outer profile that enters
 * the inner one can make only the calls both allow. Returns NULL when the
 * outer profile allows every call the inner one does (the same syscall with
 * no condition or the same one), else the first syscall it does not (or
 * the name of an unknown profile). For tests. */
const char *bh_sandbox_uncovered(const char *outer, const char *inner);
