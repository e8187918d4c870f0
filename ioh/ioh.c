// SPDX-License-Identifier: MIT
#include "ioh/ioh.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t ioh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ioh_sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- doorbells ---- */

#define BELL_SPINS 256u

void ioh_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

bool ioh_bell_ring(struct ioh_bell *b)
{
	if (!atomic_load(&b->sleepers))
		return false;
	atomic_fetch_add(&b->word, 1);
	/* Not FUTEX_PRIVATE: the word may be shared between processes. */
	return syscall(SYS_futex, (uint32_t *)&b->word, FUTEX_WAKE, INT_MAX,
		       NULL, NULL, 0) > 0;
}

bool ioh_bell_wait(struct ioh_bell *b, bool (*cond)(void *arg), void *arg,
		   uint64_t deadline_ns, uint64_t slice_ns)
{
	for (unsigned int i = 0; i < BELL_SPINS; i++) {
		if (cond(arg))
			return true;
		ioh_cpu_relax();
	}
	for (;;) {
		atomic_fetch_add(&b->sleepers, 1);
		uint32_t seen = atomic_load(&b->word);
		if (cond(arg)) {
			atomic_fetch_sub(&b->sleepers, 1);
			return true;
		}
		uint64_t now = ioh_now_ns();
		if (deadline_ns && now >= deadline_ns) {
			atomic_fetch_sub(&b->sleepers, 1);
			return false;
		}
		uint64_t ns = slice_ns;
		if (deadline_ns && deadline_ns - now < ns)
			ns = deadline_ns - now;
		struct timespec ts = { (time_t)(ns / 1000000000ull),
				       (long)(ns % 1000000000ull) };
		syscall(SYS_futex, (uint32_t *)&b->word, FUTEX_WAIT, seen, &ts,
			NULL, 0);
		atomic_fetch_sub(&b->sleepers, 1);
	}
}

void ioh_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

#ifdef IOH_COVERAGE
void __gcov_dump(void);
#endif

void ioh_coverage_flush(void)
{
#ifdef IOH_COVERAGE
	__gcov_dump();
#endif
}

int ioh_u64vec_push(struct ioh_u64vec *vec, uint64_t x)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 64;
		uint64_t *n = realloc(vec->v, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		vec->v = n;
		vec->cap = cap;
	}
	vec->v[vec->n++] = x;
	return 0;
}

void ioh_u64vec_free(struct ioh_u64vec *vec)
{
	free(vec->v);
	*vec = (struct ioh_u64vec){ 0 };
}

/* ---- failure injection ---------------------------------------------------- */

static char fail_prefix[64];
static _Atomic unsigned long fail_left; /* calls to go; 0: disarmed */
static _Atomic bool fail_done;
static const char *_Atomic fail_at;

bool ioh_fail(const char *site)
{
	if (!atomic_load(&fail_left) ||
	    strncmp(site, fail_prefix, strlen(fail_prefix)))
		return false;
	unsigned long left = atomic_load(&fail_left);
	while (left && !atomic_compare_exchange_weak(&fail_left, &left, left - 1))
		;
	if (left != 1)
		return false;
	atomic_store(&fail_at, site);
	atomic_store(&fail_done, true);
	return true;
}

void ioh_fail_arm(const char *prefix, unsigned long nth)
{
	atomic_store(&fail_left, 0);
	snprintf(fail_prefix, sizeof(fail_prefix), "%s", prefix ? prefix : "");
	atomic_store(&fail_done, false);
	atomic_store(&fail_at, NULL);
	atomic_store(&fail_left, nth);
}

bool ioh_fail_fired(void)
{
	return atomic_load(&fail_done);
}

const char *ioh_fail_site(void)
{
	return atomic_load(&fail_at);
}

int ioh_fail_arm_spec(const char *spec)
{
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	char *end;
	if (!colon || (size_t)(colon - spec) >= sizeof(fail_prefix) ||
	    !colon[1])
		return -EINVAL;
	unsigned long n = strtoul(colon + 1, &end, 10);
	if (*end || !n)
		return -EINVAL;
	char prefix[sizeof(fail_prefix)];
	memcpy(prefix, spec, (size_t)(colon - spec));
	prefix[colon - spec] = '\0';
	ioh_fail_arm(prefix, n);
	return 0;
}
