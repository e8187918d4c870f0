// SPDX-License-Identifier: MIT
/*
 * Large buffers of the host kernel model (the serialized blob, its copy
 * at boot, a memfd's folio runs) in mappings of their own.
 *
 * Why not malloc: at 1 TiB these are megabytes (a memfd of shuffled 4 KiB
 * folios has 530 K runs, 17 MB), and the process pays for each 4 KiB page
 * twice, a fault when it is first written and a free when the exec tears
 * the process down, inside the blackout (a kexec tears nothing down: the
 * cost is the model's process, not a kernel's; docs/liveupdate.md). A
 * buffer of 1 MiB or more is given 2 MiB aligned, whole 2 MiB pages and
 * MADV_HUGEPAGE (when the caller allows it), so where the host has transparent huge pages it costs one
 * fault and one free per 2 MiB; where it has none, the same as malloc.
 * Every page is still written as before: nothing the kernel must do is
 * skipped, only the process's page bookkeeping shrinks.
 *
 * A header in the first 64 bytes records the mapping, so kho_big_free
 * needs only the pointer.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "kho/kho_internal.h"

#define BIG_HDR 64u
#define BIG_HUGE (2ull << 20)
#define BIG_HUGE_MIN (1ull << 20)
#define BIG_MAGIC 0x6b686f6269676275ull /* "khobigbu" */

struct big_hdr {
	uint64_t magic;
	void *base;
	size_t len;
};

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

void *kho_big_alloc(size_t len, bool huge_ok)
{
	if (ioh_fail("kho.alloc") || len > SIZE_MAX / 2)
		return NULL;
	size_t want = len + BIG_HDR;
	bool huge = huge_ok && len >= BIG_HUGE_MIN;
	size_t map = huge ? round_up(want, BIG_HUGE) : round_up(want, 4096);
	size_t slack = huge ? BIG_HUGE : 0;
	uint8_t *p = mmap(NULL, map + slack, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (huge) {
		/* Trim to a 2 MiB aligned start, so every 2 MiB of the
		 * buffer can be one huge page. */
		uint8_t *a = (uint8_t *)round_up((uintptr_t)p, BIG_HUGE);
		if (a > p)
			munmap(p, (size_t)(a - p));
		if (a + map < p + map + slack)
			munmap(a + map, (size_t)(p + map + slack - (a + map)));
		p = a;
		/* Advice only: without huge pages the buffer works the same. */
		(void)madvise(p, map, MADV_HUGEPAGE);
	}
	struct big_hdr *h = (struct big_hdr *)p;
	*h = (struct big_hdr){ BIG_MAGIC, p, map };
	return p + BIG_HDR;
}

void *kho_big_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / 2 / size)
		return NULL;
	/* Anonymous mappings read as zeroes. */
	return kho_big_alloc(n * size, true);
}

void kho_big_trim(void *buf, size_t used)
{
	if (!buf)
		return;
	struct big_hdr *h = (struct big_hdr *)((uint8_t *)buf - BIG_HDR);
	size_t keep = round_up(used + BIG_HDR, h->len >= BIG_HUGE ?
			       BIG_HUGE : 4096);
	if (keep < h->len) {
		munmap((uint8_t *)h->base + keep, h->len - keep);
		h->len = keep;
	}
}

void kho_big_free(void *buf)
{
	if (!buf)
		return;
	struct big_hdr *h = (struct big_hdr *)((uint8_t *)buf - BIG_HDR);
	if (h->magic != BIG_MAGIC)
		__builtin_trap();
	munmap(h->base, h->len);
}
