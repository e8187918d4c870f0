/* SPDX-License-Identifier: MIT */
/*
 * ioh: the few libc-level helpers every hosted folder shares, stated once:
 * the monotonic clock, a JSON string writer and a growable array of
 * 64-bit values. It uses nothing of the project; everything but the
 * freestanding pt/ may use it (docs/design.md).
 */
#ifndef IOH_IOH_IOH_H
#define IOH_IOH_IOH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC in nanoseconds: comparable across processes and exec. */
uint64_t ioh_now_ns(void);

/* Sleep ms milliseconds, resuming after signals. */
void ioh_sleep_ms(uint64_t ms);

/*
 * Write s as a JSON string, quotes included: '"' and '\\' escaped, control
 * characters as \u00XX, everything else as is (UTF-8 passes through).
 * NULL writes "".
 */
void ioh_json_str(FILE *f, const char *s);

/*
 * Write out this process's coverage counters (a `make coverage` build;
 * nothing otherwise). For processes that end with _exit, which skips
 * the exit handlers that normally write them; exec and fork are handled
 * by the compiler's own wrappers.
 */
void ioh_coverage_flush(void);

/*
 * A doorbell: a futex word and a count of sleepers, in memory shared by
 * threads or processes (zero-initialised is ready). A waiter spins
 * briefly on its condition, then sleeps on the word; whoever makes the
 * condition true rings after the store that does, which costs one load
 * when nobody sleeps. The sleeper counts itself before its last check
 * and the ringer reads the count after its store (both sequentially
 * consistent), so a ring cannot fall between the check and the sleep;
 * waits are bounded anyway (slice_ns), so a lost wake-up costs time,
 * never correctness.
 */
struct ioh_bell {
	_Atomic uint32_t word;
	_Atomic uint32_t sleepers;
};

/* True if it woke a sleeper. */
bool ioh_bell_ring(struct ioh_bell *b);
/*
 * Wait until cond(arg) is true or the clock passes deadline_ns (0: no
 * deadline); true if cond held. Each sleep lasts at most slice_ns.
 */
bool ioh_bell_wait(struct ioh_bell *b, bool (*cond)(void *arg), void *arg,
		   uint64_t deadline_ns, uint64_t slice_ns);
/* A pause instruction for spin loops. */
void ioh_cpu_relax(void);

/*
 * Failure injection, for tests (docs/testing.md): a step that can fail
 * (an allocation, a driver call) asks ioh_fail(site) first and fails as
 * it would for real when the answer is true. Sites are named
 * "folder.what" ("kho.alloc", "drv.sync"). ioh_fail_arm(prefix, n) makes
 * the n-th call (from 1) of a site starting with prefix fail, once
 * ("" counts every site); n 0 disarms. Counting is atomic, so threads may
 * share it. A test walks n = 1, 2, ... over an operation until it runs
 * without the injection firing, asserting at each n that the failure is
 * clean.
 */
bool ioh_fail(const char *site);
void ioh_fail_arm(const char *prefix, unsigned long nth);
/* Whether the armed failure fired; the site it fired at (or NULL). */
bool ioh_fail_fired(void);
const char *ioh_fail_site(void);
/* "PREFIX:N" (as a command line gives it): arm; -EINVAL if malformed. */
int ioh_fail_arm_spec(const char *spec);

/* A growable array of uint64_t; zero-initialised is empty. */
struct ioh_u64vec {
	uint64_t *v;
	size_t n, cap;
};

/* Append x; -ENOMEM leaves the array as it was. */
int ioh_u64vec_push(struct ioh_u64vec *vec, uint64_t x);
void ioh_u64vec_free(struct ioh_u64vec *vec);

#endif /* IOH_IOH_IOH_H */
