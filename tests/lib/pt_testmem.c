// SPDX-License-Identifier: MIT
#include "tests/lib/pt_testmem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void *ptm_alloc(void *ctx, pt_oaddr_t *pa)
{
	struct pt_testmem *m = ctx;
	if (m->fail_after == 0 || !m->nfree)
		return NULL;
	if (m->fail_after > 0)
		m->fail_after--;
	uint64_t idx = m->free_stack[--m->nfree];
	/* Left as poison: pt must initialise the pages it uses. */
	void *page = m->base + idx * PT_TABLE_SIZE;
	*pa = m->base_pa + idx * PT_TABLE_SIZE;
	m->in_use++;
	m->allocs++;
	return page;
}

static uint64_t ptm_index(const struct pt_testmem *m, void *page)
{
	return (uint64_t)((uint8_t *)page - m->base) / PT_TABLE_SIZE;
}

static void ptm_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct pt_testmem *m = ctx;
	(void)pa;
	/* Poison freed pages so a later walk through them is noticed. */
	memset(page, 0xa5, PT_TABLE_SIZE);
	m->free_stack[m->nfree++] = ptm_index(m, page);
	m->in_use--;
}

/* 2^lg2 free pages in a row, aligned to their size: the lowest such. */
static void *ptm_alloc_top(void *ctx, unsigned int lg2, pt_oaddr_t *pa)
{
	struct pt_testmem *m = ctx;
	uint64_t n = 1ull << lg2;
	if (m->fail_after == 0 || m->nfree < n)
		return NULL;
	uint8_t *is_free = calloc(m->pages, 1);
	if (!is_free)
		return NULL;
	for (uint64_t i = 0; i < m->nfree; i++)
		is_free[m->free_stack[i]] = 1;
	uint64_t first = m->pages;
	for (uint64_t s = 0; s + n <= m->pages && first == m->pages; s += n) {
		uint64_t k = 0;
		while (k < n && is_free[s + k])
			k++;
		if (k == n && !((m->base_pa + s * PT_TABLE_SIZE) & ((n * PT_TABLE_SIZE) - 1)))
			first = s;
	}
	free(is_free);
	if (first == m->pages)
		return NULL;
	if (m->fail_after > 0)
		m->fail_after--;
	uint64_t j = 0;
	for (uint64_t i = 0; i < m->nfree; i++)
		if (m->free_stack[i] < first || m->free_stack[i] >= first + n)
			m->free_stack[j++] = m->free_stack[i];
	m->nfree = j;
	m->in_use += n;
	m->allocs++;
	*pa = m->base_pa + first * PT_TABLE_SIZE;
	return m->base + first * PT_TABLE_SIZE;
}

static void ptm_free_top(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2)
{
	for (uint64_t i = 0; i < 1ull << lg2; i++)
		ptm_free(ctx, (uint8_t *)pages + i * PT_TABLE_SIZE,
			 pa + i * PT_TABLE_SIZE);
}

static void ptm_defer_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct pt_testmem *m = ctx;
	(void)pa;
	m->deferred[m->ndeferred++] = ptm_index(m, page);
}

static void *ptm_phys_to_virt(void *ctx, pt_oaddr_t pa)
{
	struct pt_testmem *m = ctx;
	if (pa < m->base_pa || pa - m->base_pa >= m->pages * PT_TABLE_SIZE)
		return NULL;
	return m->base + (pa - m->base_pa);
}

int ptm_init(struct pt_testmem *m, uint64_t pages, uint64_t base_pa)
{
	memset(m, 0, sizeof(*m));
	m->base = mmap(NULL, pages * PT_TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED)
		return -1;
	m->free_stack = calloc(pages, sizeof(uint64_t));
	m->deferred = calloc(pages, sizeof(uint64_t));
	if (!m->free_stack || !m->deferred) {
		ptm_destroy(m);
		return -1;
	}
	m->pages = pages;
	m->base_pa = base_pa;
	/* Free pages always read as poison, never-used ones included. */
	memset(m->base, 0xa5, pages * PT_TABLE_SIZE);
	/* Hand out low pages first: deterministic physical addresses. */
	for (uint64_t i = 0; i < pages; i++)
		m->free_stack[i] = pages - 1 - i;
	m->nfree = pages;
	m->fail_after = -1;
	m->ops = (struct pt_mem_ops){
		.alloc = ptm_alloc,
		.alloc_top = ptm_alloc_top,
		.free_top = ptm_free_top,
		.free = ptm_free,
		.defer_free = ptm_defer_free,
		.phys_to_virt = ptm_phys_to_virt,
		.linear = true,
		.linear_offset = (uintptr_t)m->base - base_pa,
	};
	return 0;
}

void ptm_invalidate_done(struct pt_testmem *m)
{
	while (m->ndeferred) {
		uint64_t idx = m->deferred[--m->ndeferred];
		ptm_free(m, m->base + idx * PT_TABLE_SIZE, 0);
	}
}

int ptm_page_live(const struct pt_testmem *m, uint64_t pa)
{
	if (pa < m->base_pa || pa - m->base_pa >= m->pages * PT_TABLE_SIZE)
		return 0;
	uint64_t idx = (pa - m->base_pa) / PT_TABLE_SIZE;
	for (uint64_t i = 0; i < m->nfree; i++)
		if (m->free_stack[i] == idx)
			return 0;
	return 1;
}

void ptm_destroy(struct pt_testmem *m)
{
	if (m->base && m->base != MAP_FAILED)
		munmap(m->base, m->pages * PT_TABLE_SIZE);
	free(m->free_stack);
	free(m->deferred);
	memset(m, 0, sizeof(*m));
}
