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
