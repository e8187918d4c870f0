/* SPDX-License-Identifier: MIT */
/*
 * Table memory for pt tests and benchmarks: an arena of 4 KiB pages with
 * made-up physical addresses, counts of every page in use, a deferred-free
 * list released only by ptm_invalidate_done() (as a driver would after its
 * IOTLB sync), and allocation-failure injection.
 */
#ifndef IOH_TESTS_PT_TESTMEM_H
#define IOH_TESTS_PT_TESTMEM_H

#include <stdint.h>

#include "pt/pt.h"

struct pt_testmem {
	uint8_t *base;
	uint64_t base_pa;
	uint64_t pages;
	uint64_t *free_stack;   /* page indices */
	uint64_t nfree;
	uint64_t *deferred;     /* page indices awaiting invalidation */
	uint64_t ndeferred;
	uint64_t in_use;        /* allocated and not freed (deferred count) */
	uint64_t allocs;
	long fail_after;        /* allocations to allow before failing; <0 never */
	struct pt_mem_ops ops;
};

/* pages of arena at physical base base_pa (4 KiB aligned). */
int ptm_init(struct pt_testmem *m, uint64_t pages, uint64_t base_pa);
void ptm_destroy(struct pt_testmem *m);
/* The caller's invalidation completed: free the deferred pages. */
void ptm_invalidate_done(struct pt_testmem *m);
/* 1 if pa is a page the arena handed out and has not freed. */
int ptm_page_live(const struct pt_testmem *m, uint64_t pa);

#endif /* IOH_TESTS_PT_TESTMEM_H */
