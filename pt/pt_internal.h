/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of pt.c and pt_layout.c: single-copy-atomic entry access,
 * table lookup, and the private page pool a mutation draws from. The
 * functions declared here are defined in pt.c; pt_layout.c uses them and
 * defines none, so the dependency between the two files goes one way.
 * The map's and unmap's passes are declared too, for tests that hand the
 * write pass a pool its plan did not ask for (tests/test_pt_map.c).
 */
#ifndef IOH_PT_INTERNAL_H
#define IOH_PT_INTERNAL_H

#include "pt/pt_fmt.h"

/*
 * Every table word is read and written exactly once per access with a
 * 64-bit atomic: the IOMMU walks these tables concurrently and must never
 * see a torn entry. A table is linked with a release store so its
 * contents are visible before the pointer to it.
 */
static inline uint64_t pt_read(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void pt_write(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void pt_publish(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t pt_item_size(unsigned int level)
{
	return 1ull << pt_item_lg2(level);
}


static inline uint64_t *pt_table_va(const struct pt_table *t, pt_oaddr_t pa)
{
	if (t->mem->linear)
		return (uint64_t *)(uintptr_t)(pa + t->mem->linear_offset);
	return t->mem->phys_to_virt(t->mem_ctx, pa);
}

static inline pt_oaddr_t pt_entry_addr(const struct pt_table *t, uint64_t e)
{
	return pt_bits_oa(t->fmt, e);
}

static inline uint64_t *pt_next_table(const struct pt_table *t, uint64_t e)
{
	return pt_table_va(t, pt_entry_addr(t, e));
}

/* The entry at level linking the table at pa (one level down). */
static inline uint64_t pt_make_table_entry(const struct pt_table *t,
					   unsigned int level, pt_oaddr_t pa)
{
	return t->fmt->table_bits[level] | pt_oa_bits(t->fmt, pa);
}

/* Whether leaf e at level is an item of a run (either kind). */
static inline bool pt_entry_contig(const struct pt_table *t, uint64_t e,
				   unsigned int level)
{
	return pt_fmt_run_entry(t->fmt, e, level);
}

/*
 * Of a leaf e at level known to be well formed: log2 of the items in its
 * run (0: none), and the output address of the item at index idx.
 */
static inline unsigned int pt_entry_run_lg2(const struct pt_table *t,
					    uint64_t e, unsigned int level)
{
	const struct pt_fmt *f = t->fmt;
	if (!pt_fmt_run_entry(f, e, level))
		return 0;
	if (!pt_fmt_replicated(f))
		return 31u - (unsigned int)__builtin_clz(f->run_lg2s[level]);
	unsigned int s = pt_fmt_repl_size_lg2(f, pt_entry_addr(t, e));
	return s > pt_item_lg2(level) ? s - pt_item_lg2(level) : 0;
}

static inline pt_oaddr_t pt_entry_item_oa(const struct pt_table *t,
					  uint64_t e, unsigned int level,
					  unsigned int idx)
{
	unsigned int ilg2 = pt_item_lg2(level);
	pt_oaddr_t oa = pt_entry_addr(t, e);
	if (pt_fmt_replicated(t->fmt) && pt_fmt_run_entry(t->fmt, e, level)) {
		unsigned int run = pt_entry_run_lg2(t, e, level);
		oa &= ~((1ull << (ilg2 + run)) - 1);
		return oa + ((uint64_t)(idx & ((1u << run) - 1)) << ilg2);
	}
	return oa & ~((1ull << ilg2) - 1);
}

/*
 * Pages allocated before a mutation touches the table, so that the
 * mutation itself can no longer fail for lack of memory. Their addresses
 * are kept in index pages (themselves pool pages, handed out last), so a
 * take never has to touch the page it returns: a large map does not
 * stall on one cache miss per table page.
 */
struct pt_pool {
	uint64_t *head;       /* index page pages are taken from */
	uint64_t *tail;       /* index page pages are added to */
	unsigned long count;  /* pages in the pool, index pages included */
};

int pt_pool_fill(struct pt_table *t, struct pt_pool *pool, unsigned long n);
uint64_t *pt_pool_take(struct pt_table *t, struct pt_pool *pool,
		       pt_oaddr_t *pa);
/* As pt_pool_take, for a page the caller overwrites whole. */
uint64_t *pt_pool_take_raw(struct pt_table *t, struct pt_pool *pool,
			   pt_oaddr_t *pa);
void pt_pool_drain(struct pt_table *t, struct pt_pool *pool);
/* n leaf entries e0, e0 + step, ... into a table hardware may walk. */
void pt_fill_live(uint64_t *p, uint64_t n, uint64_t e0, uint64_t step);
/*
 * n leaf entries into a table hardware cannot see yet. With stream, the
 * stores bypass the cache (large builds, see map_commit); the caller must
 * then pt_stream_fence() before publishing the table.
 */
void pt_fill_private(uint64_t *p, uint64_t n, uint64_t e0, uint64_t step,
		     bool stream);
/*
 * The items leaves of 2^size_lg2 bytes from pa take at level: live
 * (single stores), private, or private bypassing the cache (stream).
 */
enum pt_fill_mode { PT_FILL_LIVE, PT_FILL_PRIVATE, PT_FILL_STREAM };
void pt_fill_leaves(const struct pt_table *t, uint64_t *p, uint64_t items,
		    unsigned int level, uint64_t attr, pt_oaddr_t pa,
		    unsigned int size_lg2, enum pt_fill_mode mode);

static inline void pt_stream_fence(void)
{
#if defined(__x86_64__)
	/* Non-temporal stores are not ordered by a later release store. */
	__builtin_ia32_sfence();
#endif
}

/* Hand a subtree (the table at pa, level, and all below) to defer_free. */
void pt_retire_subtree(struct pt_table *t, pt_oaddr_t pa, unsigned int level,
		       struct pt_gather *g);
void pt_gather_add(struct pt_gather *g, pt_vaddr_t va, pt_vaddr_t last);

/*
 * pt_map_range's two passes, for tests that make them disagree. The plan
 * (va, pa, len already checked as pt_map_range does): PT_EEXIST or
 * PT_EINVAL, or 0 with the table pages the commit will need. The commit
 * draws exactly plan->tables pages from pool; any other number is a bug
 * (PT_EPLAN), and the commit is then undone: the leaves it wrote are
 * cleared and the tables it linked deferred (the gather covers the range
 * for the caller's invalidation). The pool is empty on return.
 */
struct pt_map_plan {
	unsigned long tables;   /* new table pages needed */
	bool replaces_tables;   /* empty tables sit where leaves will go */
	bool stream;            /* fill new tables bypassing the cache */
};
int pt_map_plan(const struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		uint64_t len, struct pt_map_plan *plan);
int pt_map_commit(struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		  uint64_t len, uint64_t attr, const struct pt_map_plan *plan,
		  struct pt_pool *pool, struct pt_gather *g);

/* Split the leaf at va one step using a page from pool (if needed);
 * PT_EPLAN, having changed nothing, if pool has no page for it. */
int pt_split_one(struct pt_table *t, pt_vaddr_t va, struct pt_pool *pool,
		 struct pt_gather *g);
/* Pages pt_split_one needs to split down until va starts a leaf. */
int pt_split_need(const struct pt_table *t, pt_vaddr_t va, unsigned long *n);
/*
 * pt_unmap_range's splits: until va and last + 1 (if mapped and not past
 * the end) each start a leaf, with pages from pool, which pt_split_need
 * counted (leftovers stay in it). If pool runs dry (PT_EPLAN), both
 * leaves are put back as they were, the tables the splits added deferred.
 */
int pt_split_ends(struct pt_table *t, pt_vaddr_t va, pt_vaddr_t last,
		  struct pt_pool *pool, struct pt_gather *g);

/* Largest leaf va of the table, for walks over everything. */
pt_vaddr_t pt_max_va(const struct pt_table *t);
int pt_check_range(const struct pt_table *t, pt_vaddr_t va, uint64_t len);

#endif /* IOH_PT_INTERNAL_H */
