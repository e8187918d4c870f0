// SPDX-License-Identifier: MIT
/*
 * pt core: table life cycle, map, unmap, lookup and the leaf iterator,
 * written once for every format described by struct pt_fmt, and the
 * one-step split (pt_split_one) unmap and the layout operations share.
 * pt_layout.c builds on this file; nothing here calls into pt_layout.c.
 *
 * Mutations are all or nothing. A map or unmap first walks the range
 * read-only to find every conflict and count the table pages it will
 * need, allocates them into a private pool, and only then writes; the
 * write pass cannot fail. So a failed call leaves the table byte for byte
 * as it was, and hardware never sees a half-done change. A map's two
 * passes (map_check, map_commit) step through the range with one cursor,
 * struct pt_map_step, so they place leaves and tables identically.
 *
 * The pool still does not trust the count: a write pass that needs other
 * pages than were counted fails with PT_EPLAN (a bug in pt) and is
 * undone, tables it had linked going to defer_free (docs/pt.md).
 */
#include "pt/pt_internal.h"

#include <string.h>

const char *pt_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case PT_EPERM: return "operation not permitted on this entry";
	case PT_ENOENT: return "nothing mapped at that address";
	case PT_ENOMEM: return "out of table memory";
	case PT_EFAULT: return "table pointer outside table memory";
	case PT_EEXIST: return "range already mapped";
	case PT_EINVAL: return "invalid argument";
	case PT_ERANGE: return "address beyond the format's width";
	case PT_EOPNOTSUPP: return "not expressible in this format";
	case PT_EOVERFLOW: return "address range wraps around";
	case PT_EPLAN: return "internal error: table pages needed differ from the plan (call undone)";
	default: return "unknown error";
	}
}

static const struct pt_fmt *const pt_fmts[PT_FMT_COUNT] = {
	[PT_FMT_ARM_S1] = &pt_fmt_arm_s1,
	[PT_FMT_ARM_S2] = &pt_fmt_arm_s2,
	[PT_FMT_VTD_SS] = &pt_fmt_vtd_ss,
	[PT_FMT_X86_64] = &pt_fmt_x86_64,
	[PT_FMT_AMD_V1] = &pt_fmt_amd_v1,
	[PT_FMT_RISCV] = &pt_fmt_riscv,
};

const struct pt_fmt *pt_fmt_get(enum pt_format_id id)
{
	return (unsigned int)id < PT_FMT_COUNT ? pt_fmts[id] : NULL;
}

const char *pt_fmt_name(enum pt_format_id id)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	return f ? f->name : "unknown";
}

int pt_fmt_by_name(const char *name, enum pt_format_id *id)
{
	for (unsigned int i = 0; i < PT_FMT_COUNT; i++) {
		if (!strcmp(pt_fmts[i]->name, name)) {
			*id = (enum pt_format_id)i;
			return 0;
		}
	}
	return -PT_EINVAL;
}

bool pt_fmt_bbm_levels(enum pt_format_id id)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	return f && f->bbm_levels;
}

bool pt_fmt_sign_extends(enum pt_format_id id)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	return f && f->sign_extend;
}

/* Every leaf size the format can express: items plus runs. */
static uint64_t fmt_sizes(const struct pt_fmt *f)
{
	uint64_t sizes = 0;
	for (unsigned int l = 0; l < PT_MAX_LEVELS; l++) {
		if (!pt_fmt_leaf_ok(f, l) || pt_item_lg2(l) >= 64)
			continue;
		sizes |= 1ull << pt_item_lg2(l);
		for (unsigned int k = 1; k < 16; k++)
			if ((f->run_lg2s[l] >> k) & 1 && pt_item_lg2(l) + k < 64)
				sizes |= 1ull << (pt_item_lg2(l) + k);
	}
	return sizes;
}

uint64_t pt_fmt_pgsizes(enum pt_format_id id)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	return f ? fmt_sizes(f) : 0;
}

unsigned int pt_fmt_max_oa_bits(enum pt_format_id id)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	return f ? f->max_oa_bits : 0;
}

uint32_t pt_fmt_canon_prot(enum pt_format_id id, uint32_t prot)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	uint64_t attr;
	if (!f || (prot & ~PT_PROT_ALL) || f->prot_to_attr(prot, &attr))
		return 0;
	return f->attr_to_prot(attr);
}

/* Levels and top pages of a table: the plain radix depth, one level less
 * where the format concatenates a top of at most 16 entries. */
static int fmt_shape(const struct pt_fmt *f, unsigned int va_bits,
		     unsigned int *top_lg2)
{
	int levels = (int)((va_bits - 12 + 8) / 9);
	*top_lg2 = 0;
	if (f->concat_top && levels > 1) {
		unsigned int used = va_bits - pt_item_lg2((unsigned int)levels - 1);
		if (used <= 4) {
			*top_lg2 = used;
			levels--;
		}
	}
	return levels;
}

int pt_fmt_top_lg2(enum pt_format_id id, unsigned int va_bits)
{
	int levels = pt_fmt_levels_for(id, va_bits);
	if (levels < 0)
		return levels;
	unsigned int lg2;
	fmt_shape(pt_fmt_get(id), va_bits, &lg2);
	return (int)lg2;
}

int pt_fmt_levels_for(enum pt_format_id id, unsigned int va_bits)
{
	const struct pt_fmt *f = pt_fmt_get(id);
	if (!f)
		return -PT_EINVAL;
	/* The full 64-bit space (AMD v1's six levels) is the one width
	 * va_bits_allowed cannot hold. */
	if (va_bits < 64 ? !((f->va_bits_allowed >> va_bits) & 1) :
	    va_bits != 64 || f->max_va_bits != 64)
		return -PT_EINVAL;
	unsigned int lg2;
	return fmt_shape(f, va_bits, &lg2);
}

uint64_t pt_fmt_table_entry(const struct pt_fmt *f, unsigned int level,
			    pt_oaddr_t pa)
{
	if (level >= PT_MAX_LEVELS)
		return 0;
	return f->table_bits[level] | (pt_oa_bits(f, pa) & pt_oa_mask(f));
}

unsigned int pt_fmt_run_lg2s(const struct pt_fmt *f, unsigned int level)
{
	return level < PT_MAX_LEVELS ? f->run_lg2s[level] : 0;
}

bool pt_fmt_runs_replicated(const struct pt_fmt *f)
{
	return pt_fmt_replicated(f);
}

void pt_fmt_decode(const struct pt_fmt *f, uint64_t e, unsigned int level,
		   struct pt_entry_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!pt_fmt_present(f, e)) {
		info->type = PT_ENTRY_EMPTY;
		return;
	}
	info->type = PT_ENTRY_BAD;
	if (level >= PT_MAX_LEVELS)
		return;
	/* VT-d: an entry with neither R nor W is not present to hardware at
	 * any level (9.8), table entries included; nothing may follow it. */
	if (f->access_mask && !(e & f->access_mask))
		return;
	if (pt_fmt_is_table(f, e, level)) {
		if (e & f->table_rsvd)
			return;
		info->type = PT_ENTRY_TABLE;
		info->oa = pt_bits_oa(f, e);
		return;
	}
	if (!pt_fmt_leaf_ok(f, level) || (e & f->leaf_rsvd))
		return;
	/* Run bits that are type bits (AMD NextLevel 7) replace the type. */
	uint64_t type = e & f->leaf_type_mask[level];
	bool run = pt_fmt_run_entry(f, e, level);
	if (type != (f->leaf_type[level] |
		     (run ? f->run_bits & f->leaf_type_mask[level] : 0)))
		return;
	/* Run bits at a level without runs: reserved (RISC-V N above
	 * level 0, AMD NextLevel 7 where no larger page exists). */
	if (!f->run_lg2s[level] && f->run_bits &&
	    (e & f->run_bits) == f->run_bits)
		return;
	unsigned int ilg2 = pt_item_lg2(level);
	uint64_t isz = 1ull << ilg2;
	pt_oaddr_t oa = pt_bits_oa(f, e);
	info->attr = e & f->attr_mask;
	if (f->leaf_attr_ok && !f->leaf_attr_ok(info->attr))
		return;
	if (run && pt_fmt_replicated(f)) {
		/* The page size is in the address bits; all below it are
		 * the encoding. */
		unsigned int s = pt_fmt_repl_size_lg2(f, oa);
		if (s <= ilg2 || s - ilg2 >= 16 ||
		    !((f->run_lg2s[level] >> (s - ilg2)) & 1))
			return;
		info->replicated = true;
		info->run_lg2 = s - ilg2;
		oa &= ~((1ull << s) - 1);
	} else {
		/* Output bits below the item size are RES0 in a block. */
		if (oa & (isz - 1))
			return;
		if (run)
			info->run_lg2 = 31u - (unsigned int)
				__builtin_clz(f->run_lg2s[level]);
	}
	info->type = PT_ENTRY_LEAF;
	info->oa = oa;
	info->size_lg2 = ilg2;
	info->contig = run;
	info->prot = f->attr_to_prot(info->attr);
}

void pt_gather_init(struct pt_gather *g)
{
	memset(g, 0, sizeof(*g));
	g->va = ~0ull;
}

void pt_gather_add(struct pt_gather *g, pt_vaddr_t va, pt_vaddr_t last)
{
	if (!g)
		return;
	if (va < g->va)
		g->va = va;
	if (pt_gather_empty(g) || last > g->last)
		g->last = last;
}

/* ---- addresses ---------------------------------------------------- */

static bool va_valid(const struct pt_table *t, pt_vaddr_t va)
{
	if (t->fmt->sign_extend) {
		int64_t top = (int64_t)va >> (t->va_bits - 1);
		return top == 0 || top == -1;
	}
	return t->va_bits >= 64 || (va >> t->va_bits) == 0;
}

pt_vaddr_t pt_max_va(const struct pt_table *t)
{
	if (t->fmt->sign_extend || t->va_bits >= 64)
		return ~0ull;
	return (1ull << t->va_bits) - 1;
}

/* Last address of the canonical half va is in. */
static pt_vaddr_t half_last(const struct pt_table *t, pt_vaddr_t va)
{
	if (t->fmt->sign_extend && !(va >> 63))
		return (1ull << (t->va_bits - 1)) - 1;
	return pt_max_va(t);
}

int pt_check_range(const struct pt_table *t, pt_vaddr_t va, uint64_t len)
{
	if (!len)
		return -PT_EINVAL;
	if (len - 1 > ~va)
		return -PT_EOVERFLOW;
	pt_vaddr_t last = va + (len - 1);
	if (!va_valid(t, va) || !va_valid(t, last) || last > half_last(t, va))
		return -PT_ERANGE;
	return 0;
}

/* ---- init / deinit ------------------------------------------------ */

int pt_init(struct pt_table *t, const struct pt_cfg *cfg,
	    const struct pt_mem_ops *mem, void *mem_ctx)
{
	const struct pt_fmt *f = pt_fmt_get(cfg->fmt);
	if (!f || !mem || !mem->alloc || !mem->free || !mem->defer_free ||
	    !mem->phys_to_virt)
		return -PT_EINVAL;
	int levels = pt_fmt_levels_for(cfg->fmt, cfg->va_bits);
	if (levels < 0)
		return levels;
	if (cfg->oa_bits < 32 || cfg->oa_bits > f->max_oa_bits)
		return -PT_EINVAL;
	unsigned int top_lg2 = (unsigned int)pt_fmt_top_lg2(cfg->fmt, cfg->va_bits);
	if (top_lg2 && (!mem->alloc_top || !mem->free_top))
		return -PT_EOPNOTSUPP;
	uint64_t sizes = fmt_sizes(f);
	if (cfg->pgsizes & ~sizes)
		return -PT_EOPNOTSUPP;
	uint64_t pgsizes = cfg->pgsizes ? cfg->pgsizes : sizes;
	/* A leaf larger than the output space can never be placed. */
	if (cfg->oa_bits < 64)
		pgsizes &= (1ull << cfg->oa_bits) - 1;
	/* Nor one at or above the top level's reach. */
	if (pt_item_lg2((unsigned int)levels) < 64)
		pgsizes &= (1ull << pt_item_lg2((unsigned int)levels)) - 1;
	if (!pgsizes)
		return -PT_EINVAL;

	memset(t, 0, sizeof(*t));
	t->fmt = f;
	t->mem = mem;
	t->mem_ctx = mem_ctx;
	t->top_level = (unsigned int)levels - 1;
	t->top_lg2 = top_lg2;
	t->va_bits = cfg->va_bits;
	t->oa_bits = cfg->oa_bits;
	t->pgsizes = pgsizes;
	t->top = top_lg2 ? mem->alloc_top(mem_ctx, top_lg2, &t->top_pa) :
			   mem->alloc(mem_ctx, &t->top_pa);
	if (!t->top)
		return -PT_ENOMEM;
	memset(t->top, 0, (size_t)PT_TABLE_SIZE << top_lg2);
	t->nr_tables = 1ull << top_lg2;
	return 0;
}

static void free_subtree(struct pt_table *t, uint64_t *table, pt_oaddr_t pa,
			 unsigned int level)
{
	if (level > 0) {
		const unsigned int nitems = pt_items(t, level);
		for (unsigned int i = 0; i < nitems; i++) {
			uint64_t e = pt_read(&table[i]);
			if (pt_fmt_present(t->fmt, e) &&
			    pt_fmt_is_table(t->fmt, e, level))
				free_subtree(t, pt_next_table(t, e),
					     pt_entry_addr(t, e), level - 1);
		}
	}
	/* Only the top can be at top_level (a private table being filled
	 * is one level below the entry that will link it). */
	if (level == t->top_level && table == t->top && t->top_lg2) {
		t->mem->free_top(t->mem_ctx, table, pa, t->top_lg2);
		t->nr_tables -= 1ull << t->top_lg2;
		return;
	}
	t->mem->free(t->mem_ctx, table, pa);
	t->nr_tables--;
}

void pt_deinit(struct pt_table *t)
{
	if (!t->top)
		return;
	free_subtree(t, t->top, t->top_pa, t->top_level);
	t->top = NULL;
}

/* ---- page pool ---------------------------------------------------- */

/*
 * Index page layout: word 0 links the next index page, word 1 is this
 * page's own pa, word 2 the slots filled and word 3 the slots taken, of
 * (va, pa) pairs from word 4 on. Pages come out in the order they went
 * in (ascending addresses from a simple allocator), index pages last.
 */
#define POOL_LINK 0
#define POOL_SELF_PA 1
#define POOL_FILLED 2
#define POOL_TAKEN 3
#define POOL_SLOT0 4
#define POOL_SLOTS ((PT_TABLE_ITEMS - POOL_SLOT0) / 2)

static void pool_put(struct pt_pool *pool, uint64_t *page, pt_oaddr_t pa)
{
	uint64_t *ix = pool->tail;
	if (ix && ix[POOL_FILLED] < POOL_SLOTS) {
		uint64_t k = POOL_SLOT0 + 2 * ix[POOL_FILLED]++;
		ix[k] = (uint64_t)(uintptr_t)page;
		ix[k + 1] = pa;
	} else {
		page[POOL_LINK] = 0;
		page[POOL_SELF_PA] = pa;
		page[POOL_FILLED] = 0;
		page[POOL_TAKEN] = 0;
		if (ix)
			ix[POOL_LINK] = (uint64_t)(uintptr_t)page;
		else
			pool->head = page;
		pool->tail = page;
	}
	pool->count++;
}

int pt_pool_fill(struct pt_table *t, struct pt_pool *pool, unsigned long n)
{
	while (pool->count < n) {
		pt_oaddr_t pa;
		uint64_t *page = t->mem->alloc(t->mem_ctx, &pa);
		if (!page) {
			pt_pool_drain(t, pool);
			return -PT_ENOMEM;
		}
		pool_put(pool, page, pa);
	}
	return 0;
}

/*
 * NULL when the pool is empty: the mutation needs more pages than it
 * counted before writing, a bug its caller reports as PT_EPLAN (and
 * undoes) rather than taking a page that is not there.
 */
static uint64_t *pool_pop(struct pt_pool *pool, pt_oaddr_t *pa)
{
	uint64_t *ix = pool->head;
	if (!pool->count)
		return NULL;
	pool->count--;
	if (ix[POOL_TAKEN] < ix[POOL_FILLED]) {
		uint64_t k = POOL_SLOT0 + 2 * ix[POOL_TAKEN]++;
		*pa = ix[k + 1];
		return (uint64_t *)(uintptr_t)ix[k];
	}
	pool->head = (uint64_t *)(uintptr_t)ix[POOL_LINK];
	if (!pool->head)
		pool->tail = NULL;
	*pa = ix[POOL_SELF_PA];
	return ix;
}

uint64_t *pt_pool_take_raw(struct pt_table *t, struct pt_pool *pool,
			   pt_oaddr_t *pa)
{
	uint64_t *page = pool_pop(pool, pa);
	if (page)
		t->nr_tables++;
	return page;
}

uint64_t *pt_pool_take(struct pt_table *t, struct pt_pool *pool,
		       pt_oaddr_t *pa)
{
	uint64_t *page = pt_pool_take_raw(t, pool, pa);
	/* Zeroed now rather than at allocation: the caller fills it next,
	 * while it is still in cache. */
	if (page)
		memset(page, 0, PT_TABLE_SIZE);
	return page;
}

void pt_pool_drain(struct pt_table *t, struct pt_pool *pool)
{
	while (pool->count) {
		pt_oaddr_t pa;
		uint64_t *page = pool_pop(pool, &pa);
		t->mem->free(t->mem_ctx, page, pa);
	}
}

/* 16-byte vectors: native on x86-64 (SSE2) and arm64 (NEON); wider
 * generic vectors are split badly without AVX. */
void pt_fill_live(uint64_t *p, uint64_t n, uint64_t e0, uint64_t step)
{
	/*
	 * Hardware may be walking this table: one 64-bit store per entry.
	 * Template and address bits are disjoint, so entry i is e0 + i *
	 * step; a running sum instead of a shift and an or per entry.
	 */
	uint64_t i = 0, e = e0;
	for (; i + 4 <= n; i += 4, e += 4 * step) {
		pt_write(&p[i], e);
		pt_write(&p[i + 1], e + step);
		pt_write(&p[i + 2], e + 2 * step);
		pt_write(&p[i + 3], e + 3 * step);
	}
	for (; i < n; i++, e += step)
		pt_write(&p[i], e);
}

typedef uint64_t pt_v2u64 __attribute__((vector_size(16), aligned(8)));

void pt_fill_private(uint64_t *p, uint64_t n, uint64_t e0, uint64_t step,
		     bool stream)
{
	/* gcc's SSE2 builtins; clang (the fuzzer's build) takes the plain
	 * stores below. */
#if defined(__x86_64__) && !defined(__clang__)
	if (stream) {
		typedef long long v2di __attribute__((vector_size(16)));
		uint64_t i = 0;
		if ((uintptr_t)p & 15) {
			__builtin_ia32_movnti64((long long *)p, (long long)e0);
			i = 1;
		}
		v2di v = { (long long)(e0 + i * step),
			   (long long)(e0 + (i + 1) * step) };
		const v2di inc = { (long long)(2 * step), (long long)(2 * step) };
		for (; i + 2 <= n; i += 2) {
			__builtin_ia32_movntdq((v2di *)&p[i], v);
			v += inc;
		}
		if (i < n)
			__builtin_ia32_movnti64((long long *)&p[i],
						(long long)(e0 + i * step));
		return;
	}
#else
	(void)stream;
#endif
	/*
	 * Plain, wide stores: nothing can see this table until it is
	 * published with a release store. Template and address bits are
	 * disjoint, so entry i is simply e0 + i * step.
	 */
	pt_v2u64 a = { e0, e0 + step }, b = { e0 + 2 * step, e0 + 3 * step };
	const pt_v2u64 inc = { 4 * step, 4 * step };
	uint64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		*(pt_v2u64 *)&p[i] = a;
		*(pt_v2u64 *)&p[i + 2] = b;
		a += inc;
		b += inc;
	}
	for (; i < n; i++)
		p[i] = e0 + i * step;
}

void pt_fill_leaves(const struct pt_table *t, uint64_t *p, uint64_t items,
		    unsigned int level, uint64_t attr, pt_oaddr_t pa,
		    unsigned int size_lg2, enum pt_fill_mode mode)
{
	const struct pt_fmt *f = t->fmt;
	unsigned int ilg2 = pt_item_lg2(level);
	uint64_t step = pt_fmt_leaf_step(f, level, size_lg2);
	/* A replicated run is one value per page; anything else one
	 * progression over all the items. */
	uint64_t per = step ? items : 1ull << (size_lg2 - ilg2);
	for (uint64_t k = 0; k < items; k += per) {
		uint64_t e0 = pt_fmt_leaf_entry(f, level, attr, pa + (k << ilg2),
						size_lg2);
		if (mode == PT_FILL_LIVE)
			pt_fill_live(p + k, per, e0, step);
		else
			pt_fill_private(p + k, per, e0, step,
					mode == PT_FILL_STREAM);
	}
}

void pt_retire_subtree(struct pt_table *t, pt_oaddr_t pa, unsigned int level,
		       struct pt_gather *g)
{
	uint64_t *table = pt_table_va(t, pa);
	if (level > 0) {
		const unsigned int nitems = pt_items(t, level);
		for (unsigned int i = 0; i < nitems; i++) {
			uint64_t e = pt_read(&table[i]);
			if (pt_fmt_present(t->fmt, e) &&
			    pt_fmt_is_table(t->fmt, e, level))
				pt_retire_subtree(t, pt_entry_addr(t, e),
						  level - 1, g);
		}
	}
	t->mem->defer_free(t->mem_ctx, table, pa);
	t->nr_tables--;
	if (g) {
		g->nr_deferred++;
		g->tables_changed = true;
	}
}

/* ---- map ---------------------------------------------------------- */

/* The canonical choice: largest allowed size va and pa are aligned to
 * that fits in len; 0 when none does. */
static unsigned int pick_size_lg2(const struct pt_table *t, pt_vaddr_t va,
				  pt_oaddr_t pa, uint64_t len)
{
	uint64_t ok = t->pgsizes;
	uint64_t align = va | pa;
	if (align)
		ok &= ((align & -align) << 1) - 1;
	uint64_t top = 1ull << (63 - __builtin_clzll(len));
	ok &= (top << 1) - 1;
	return ok ? 63u - (unsigned int)__builtin_clzll(ok) : 0;
}

/* How many leaves of size 2^size_lg2 the canonical choice places in a row
 * from va, before a larger size becomes possible or len runs out. */
static uint64_t leaf_run(const struct pt_table *t, pt_vaddr_t va,
			 pt_oaddr_t pa, uint64_t len, unsigned int size_lg2)
{
	uint64_t count = len >> size_lg2;
	uint64_t bigger = t->pgsizes & ~((2ull << size_lg2) - 1);
	/* Larger sizes need va and pa congruent modulo that size. */
	uint64_t skew = (va ^ pa);
	if (skew)
		bigger &= ((skew & -skew) << 1) - 1;
	if (!bigger)
		return count;
	uint64_t s2 = bigger & -bigger;
	if (len < s2)
		return count;
	uint64_t to_boundary = ((va + s2 - 1) & ~(s2 - 1)) - va;
	uint64_t n = to_boundary >> size_lg2;
	return n < count ? n : count;
}

static bool subtree_empty(const struct pt_table *t, const uint64_t *table,
			  unsigned int level)
{
	const unsigned int nitems = pt_items(t, level);
	for (unsigned int i = 0; i < nitems; i++) {
		uint64_t e = pt_read(&table[i]);
		if (!pt_fmt_present(t->fmt, e))
			continue;
		if (level == 0 || !pt_fmt_is_table(t->fmt, e, level))
			return false;
		if (!subtree_empty(t, pt_next_table(t, e), level - 1))
			return false;
	}
	return true;
}

/*
 * A build larger than this many new tables (512 KiB) is written with
 * non-temporal stores: it would only evict the caches, and nothing reads
 * the new tables back soon but the IOMMU.
 */
#define PT_STREAM_MIN_TABLES 128

/*
 * The step cursor: how a map walks its range through one table. Each
 * step is either a run of leaves of one size in this table (the canonical
 * choice: the largest allowed size va and pa are aligned to that fits,
 * as many in a row as before a larger size becomes possible), or the
 * piece of the range under one entry, which goes one level down. The plan
 * (map_check) and the commit (map_commit) both walk with it, so they
 * cannot disagree on where leaves go and where a table is needed.
 */
enum pt_map_step_kind {
	PT_STEP_END,      /* the range is done */
	PT_STEP_LEAVES,   /* items leaves of 2^size_lg2 bytes from entry idx */
	PT_STEP_DOWN,     /* [va, va + bytes) lies under entry idx, a level down */
	PT_STEP_NOSIZE,   /* no allowed leaf size fits at va */
};

struct pt_map_step {
	unsigned int level;     /* of the table walked */
	pt_vaddr_t va;          /* the step's range: [va, va + bytes) */
	pt_oaddr_t pa;          /* ... mapped onto pa */
	uint64_t bytes;
	uint64_t left;          /* bytes after this step */
	unsigned int idx;       /* first entry of the table the step covers */
	uint64_t items;         /* LEAVES: entries written */
	unsigned int size_lg2;  /* LEAVES: leaf size (above the item size:
				 * contiguous runs) */
};

static inline void map_step_init(struct pt_map_step *s, unsigned int level,
				 pt_vaddr_t va, pt_oaddr_t pa, uint64_t len)
{
	s->level = level;
	s->va = va;
	s->pa = pa;
	s->bytes = 0;
	s->left = len;
}

static inline enum pt_map_step_kind map_step_next(const struct pt_table *t,
						  struct pt_map_step *s)
{
	/* Past the previous step (at the very top of the address space this
	 * wraps to 0 with nothing left, as the range ends there). */
	s->va += s->bytes;
	s->pa += s->bytes;
	s->bytes = 0;
	if (!s->left)
		return PT_STEP_END;
	unsigned int ilg2 = pt_item_lg2(s->level);
	unsigned int slg2 = pick_size_lg2(t, s->va, s->pa, s->left);
	s->idx = pt_index(t, s->va, s->level);
	if (!slg2)
		return PT_STEP_NOSIZE;
	if (slg2 >= ilg2) {
		s->size_lg2 = slg2;
		s->bytes = leaf_run(t, s->va, s->pa, s->left, slg2) << slg2;
		s->items = s->bytes >> ilg2;
		s->left -= s->bytes;
		return PT_STEP_LEAVES;
	}
	uint64_t isz = 1ull << ilg2;
	uint64_t span = isz - (s->va & (isz - 1));
	s->bytes = span < s->left ? span : s->left;
	s->items = 1;
	s->left -= s->bytes;
	return PT_STEP_DOWN;
}

/* Read-only pass: find conflicts, count pages. table NULL stands for a
 * table that does not exist yet (all empty). */
static int map_check(const struct pt_table *t, const uint64_t *table,
		     unsigned int level, pt_vaddr_t va, pt_oaddr_t pa,
		     uint64_t len, struct pt_map_plan *plan)
{
	const struct pt_fmt *f = t->fmt;
	struct pt_map_step s;
	enum pt_map_step_kind kind;

	map_step_init(&s, level, va, pa, len);
	while ((kind = map_step_next(t, &s)) != PT_STEP_END) {
		if (kind == PT_STEP_NOSIZE)
			return -PT_EINVAL;
		if (kind == PT_STEP_LEAVES) {
			if (!table)
				continue;
			for (uint64_t i = 0; i < s.items; i++) {
				uint64_t e = pt_read(&table[s.idx + i]);
				if (!pt_fmt_present(f, e))
					continue;
				if (level == 0 || !pt_fmt_is_table(f, e, level) ||
				    !subtree_empty(t, pt_next_table(t, e),
						   level - 1))
					return -PT_EEXIST;
				plan->replaces_tables = true;
			}
			continue;
		}
		uint64_t e = table ? pt_read(&table[s.idx]) : 0;
		const uint64_t *next = NULL;
		if (!pt_fmt_present(f, e))
			plan->tables++;
		else if (pt_fmt_is_table(f, e, level))
			next = pt_next_table(t, e);
		else
			return -PT_EEXIST;
		int err = map_check(t, next, level - 1, s.va, s.pa, s.bytes, plan);
		if (err)
			return err;
	}
	return 0;
}

/* Whether mapping [va, va + len) at level fills a whole table with one
 * step of same-size leaves (so the new table needs no zeroing). */
static bool fills_table(const struct pt_table *t, unsigned int level,
			pt_vaddr_t va, pt_oaddr_t pa, uint64_t len)
{
	if (len != pt_item_size(level + 1))
		return false;
	struct pt_map_step s;
	map_step_init(&s, level, va, pa, len);
	return map_step_next(t, &s) == PT_STEP_LEAVES && !s.left;
}

/*
 * Write pass; table is private (priv) or live. Cannot fail unless it
 * disagrees with the plan (a bug): then PT_EPLAN, with the private table
 * it was filling freed and never linked, and the live writes it already
 * made left for pt_map_commit to undo.
 */
static int map_commit(struct pt_table *t, uint64_t *table, unsigned int level,
		      pt_vaddr_t va, pt_oaddr_t pa, uint64_t len, uint64_t attr,
		      const struct pt_map_plan *plan, struct pt_pool *pool,
		      struct pt_gather *g, bool priv)
{
	const struct pt_fmt *f = t->fmt;
	unsigned int ilg2 = pt_item_lg2(level);
	struct pt_map_step s;
	enum pt_map_step_kind kind;

	map_step_init(&s, level, va, pa, len);
	while ((kind = map_step_next(t, &s)) != PT_STEP_END) {
		/* The plan refused such a range with PT_EINVAL. */
		if (kind == PT_STEP_NOSIZE)
			return -PT_EPLAN;
		uint64_t *p = &table[s.idx];
		if (kind == PT_STEP_LEAVES) {
			if (priv) {
				pt_fill_leaves(t, p, s.items, level, attr, s.pa,
					       s.size_lg2, plan->stream ?
					       PT_FILL_STREAM : PT_FILL_PRIVATE);
			} else if (plan->replaces_tables) {
				uint64_t step = pt_fmt_leaf_step(f, level, s.size_lg2);
				uint64_t per = 1ull << (s.size_lg2 - ilg2);
				uint64_t e = 0;
				for (uint64_t i = 0; i < s.items; i++) {
					uint64_t old = pt_read(&p[i]);
					e = i % per ? e + step :
						pt_fmt_leaf_entry(f, level, attr,
								  s.pa + (i << ilg2),
								  s.size_lg2);
					pt_write(&p[i], e);
					if (pt_fmt_present(f, old))
						pt_retire_subtree(t, pt_entry_addr(t, old),
								  level - 1, g);
				}
			} else {
				pt_fill_leaves(t, p, s.items, level, attr, s.pa,
					       s.size_lg2, PT_FILL_LIVE);
			}
			continue;
		}
		uint64_t e = pt_read(p);
		int err;
		if (pt_fmt_present(f, e)) {
			err = map_commit(t, pt_next_table(t, e), level - 1, s.va,
					 s.pa, s.bytes, attr, plan, pool, g, priv);
			if (err)
				return err;
			continue;
		}
		pt_oaddr_t npa;
		uint64_t *nt = fills_table(t, level - 1, s.va, s.pa, s.bytes) ?
			pt_pool_take_raw(t, pool, &npa) :
			pt_pool_take(t, pool, &npa);
		/* The plan counted fewer tables than the commit builds. */
		if (!nt)
			return -PT_EPLAN;
		/* Fill while private, then publish with release. */
		err = map_commit(t, nt, level - 1, s.va, s.pa, s.bytes, attr,
				 plan, pool, g, true);
		if (err) {
			/* Hardware has never seen it: free, not defer. */
			free_subtree(t, nt, npa, level - 1);
			return err;
		}
		if (priv) {
			p[0] = pt_make_table_entry(t, level, npa);
		} else {
			if (plan->stream)
				pt_stream_fence();
			pt_publish(p, pt_make_table_entry(t, level, npa));
		}
	}
	return 0;
}

int pt_map_plan(const struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		uint64_t len, struct pt_map_plan *plan)
{
	*plan = (struct pt_map_plan){ 0 };
	int err = map_check(t, t->top, t->top_level, va, pa, len, plan);
	plan->stream = plan->tables >= PT_STREAM_MIN_TABLES;
	return err;
}

static uint64_t unmap_level(struct pt_table *t, uint64_t *table,
			    unsigned int level, pt_vaddr_t va, pt_vaddr_t last,
			    struct pt_gather *g);

int pt_map_commit(struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		  uint64_t len, uint64_t attr, const struct pt_map_plan *plan,
		  struct pt_pool *pool, struct pt_gather *g)
{
	pt_vaddr_t last = va + (len - 1);
	int err = map_commit(t, t->top, t->top_level, va, pa, len, attr, plan,
			     pool, g, false);
	/* Pages left over: the plan counted tables the commit did not build. */
	if (!err && pool->count)
		err = -PT_EPLAN;
	if (!err) {
		pt_gather_add(g, va, last);
		return 0;
	}
	/*
	 * Plan and commit disagree, a bug: report it, and take back what
	 * the commit wrote. The plan found no leaf in the range, so that is
	 * every leaf there now; unmapping them removes the tables the commit
	 * linked (hardware may have walked those: they are deferred, and the
	 * gather covers the range), and no table that still maps anything.
	 */
	if (plan->stream)
		pt_stream_fence();
	unmap_level(t, t->top, t->top_level, va, last, g);
	pt_gather_add(g, va, last);
	pt_pool_drain(t, pool);
	return err;
}

/*
 * The common case in one walk: the range is a single run of same-size
 * leaves into a table that already exists and is empty there. Returns
 * false (having changed nothing) whenever the general path is needed,
 * including for every error, which that path then reports.
 */
static bool map_fast(struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		     uint64_t len, uint64_t attr, struct pt_gather *g)
{
	const struct pt_fmt *f = t->fmt;
	unsigned int slg2 = pick_size_lg2(t, va, pa, len);
	if (!slg2 || (leaf_run(t, va, pa, len, slg2) << slg2) != len)
		return false;
	unsigned int level = (slg2 - 12) / 9;
	pt_vaddr_t last = va + (len - 1);
	/* One table at that level must hold the whole run. */
	if ((va ^ last) >> pt_item_lg2(level + 1))
		return false;
	uint64_t *table = t->top;
	for (unsigned int l = t->top_level; l > level; l--) {
		uint64_t e = pt_read(&table[pt_index(t, va, l)]);
		if (!pt_fmt_present(f, e) || !pt_fmt_is_table(f, e, l))
			return false;
		table = pt_next_table(t, e);
	}
	uint64_t items = len >> pt_item_lg2(level);
	uint64_t *p = &table[pt_index(t, va, level)];
	/*
	 * Plain loads, folded so the loop vectorises: only this (serialised)
	 * mutation writes these entries, hardware only reads them.
	 */
	uint64_t any = 0;
	for (uint64_t i = 0; i < items; i++)
		any |= p[i];
	if (any & f->present_mask)
		return false;
	/* One progression unless the run is replicated (pt_fill_leaves);
	 * a single entry, the commonest call, is one store. */
	uint64_t step = pt_fmt_leaf_step(f, level, slg2);
	uint64_t e0 = pt_fmt_leaf_entry(f, level, attr, pa, slg2);
	if (!step)
		pt_fill_leaves(t, p, items, level, attr, pa, slg2, PT_FILL_LIVE);
	else if (items == 1)
		pt_write(p, e0);
	else
		pt_fill_live(p, items, e0, step);
	pt_gather_add(g, va, last);
	return true;
}

static int check_oa(const struct pt_table *t, pt_oaddr_t pa, uint64_t len)
{
	if (len - 1 > ~pa)
		return -PT_EOVERFLOW;
	if (t->oa_bits < 64 && ((pa + (len - 1)) >> t->oa_bits))
		return -PT_ERANGE;
	return 0;
}

unsigned long pt_inject_eplan;

int pt_map_range(struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		 uint64_t len, uint32_t prot, struct pt_gather *g)
{
	const uint64_t gmask = PT_TABLE_SIZE - 1;
	if ((va | pa | len) & gmask)
		return -PT_EINVAL;
	int err = pt_check_range(t, va, len);
	if (!err)
		err = check_oa(t, pa, len);
	if (err)
		return err;
	if (prot & ~PT_PROT_ALL)
		return -PT_EINVAL;
	uint64_t attr;
	err = t->fmt->prot_to_attr(prot, &attr);
	if (err)
		return err;

	bool skew = pt_inject_eplan && !--pt_inject_eplan;
	if (!skew && map_fast(t, va, pa, len, attr, g))
		return 0;
	struct pt_map_plan plan;
	err = pt_map_plan(t, va, pa, len, &plan);
	if (err)
		return err;
	struct pt_pool pool = { 0 };
	err = pt_pool_fill(t, &pool, plan.tables + skew);
	if (err)
		return err;
	return pt_map_commit(t, va, pa, len, attr, &plan, &pool, g);
}

/* ---- lookup ------------------------------------------------------- */

static void leaf_from_entry(const struct pt_table *t, uint64_t e,
			    unsigned int level, unsigned int idx,
			    pt_vaddr_t item_va, struct pt_leaf *leaf)
{
	const struct pt_fmt *f = t->fmt;
	unsigned int lg2 = pt_item_lg2(level);
	pt_oaddr_t oa = pt_entry_item_oa(t, e, level, idx);
	bool contig = pt_entry_contig(t, e, level);
	if (contig) {
		unsigned int c = pt_entry_run_lg2(t, e, level);
		uint64_t off = (uint64_t)(idx & ((1u << c) - 1)) << lg2;
		item_va -= off;
		oa -= off;
		lg2 += c;
	}
	leaf->va = item_va;
	leaf->oa = oa;
	leaf->size_lg2 = lg2;
	leaf->level = level;
	leaf->attr = e & f->attr_mask;
	leaf->prot = f->attr_to_prot(leaf->attr);
	leaf->contig = contig;
}

int pt_leaf_at(const struct pt_table *t, pt_vaddr_t va, struct pt_leaf *leaf)
{
	if (!va_valid(t, va))
		return -PT_ERANGE;
	const uint64_t *table = t->top;
	for (unsigned int level = t->top_level;; level--) {
		unsigned int idx = pt_index(t, va, level);
		uint64_t e = pt_read(&table[idx]);
		if (!pt_fmt_present(t->fmt, e))
			return -PT_ENOENT;
		if (level == 0 || !pt_fmt_is_table(t->fmt, e, level)) {
			uint64_t isz = pt_item_size(level);
			leaf_from_entry(t, e, level, idx, va & ~(isz - 1), leaf);
			return 0;
		}
		table = pt_next_table(t, e);
	}
}

int pt_iova_to_phys(const struct pt_table *t, pt_vaddr_t va, pt_oaddr_t *pa)
{
	if (!va_valid(t, va))
		return -PT_ERANGE;
	const uint64_t *table = t->top;
	for (unsigned int level = t->top_level;; level--) {
		unsigned int idx = pt_index(t, va, level);
		uint64_t e = pt_read(&table[idx]);
		if (!pt_fmt_present(t->fmt, e))
			return -PT_ENOENT;
		if (level == 0 || !pt_fmt_is_table(t->fmt, e, level)) {
			uint64_t isz = pt_item_size(level);
			*pa = pt_entry_item_oa(t, e, level, idx) | (va & (isz - 1));
			return 0;
		}
		table = pt_next_table(t, e);
	}
}

/* First leaf intersecting [va, last] in this table and below. */
static bool scan_leaf(const struct pt_table *t, const uint64_t *table,
		      unsigned int level, pt_vaddr_t va, pt_vaddr_t last,
		      struct pt_leaf *leaf)
{
	uint64_t isz = pt_item_size(level);
	pt_vaddr_t es = va & ~(isz - 1);
	const unsigned int nitems = pt_items(t, level);
	for (unsigned int i = pt_index(t, va, level); i < nitems; i++) {
		uint64_t e = pt_read(&table[i]);
		if (pt_fmt_present(t->fmt, e)) {
			if (level > 0 && pt_fmt_is_table(t->fmt, e, level)) {
				if (scan_leaf(t, pt_next_table(t, e), level - 1,
					      es > va ? es : va, last, leaf))
					return true;
			} else {
				leaf_from_entry(t, e, level, i, es, leaf);
				return true;
			}
		}
		if (last - es < isz)
			return false;
		es += isz;
	}
	return false;
}

void pt_iter_init(struct pt_iter *it, const struct pt_table *t,
		  pt_vaddr_t va, pt_vaddr_t last)
{
	it->next = va;
	it->last = last < pt_max_va(t) ? last : pt_max_va(t);
	it->done = va > it->last;
}

bool pt_iter_next(const struct pt_table *t, struct pt_iter *it,
		  struct pt_leaf *leaf)
{
	while (!it->done) {
		/* Skip the non-canonical hole of a sign-extended space. */
		if (!va_valid(t, it->next)) {
			pt_vaddr_t upper = ~0ull << (t->va_bits - 1);
			if (it->next > upper || it->last < upper) {
				it->done = true;
				break;
			}
			it->next = upper;
		}
		pt_vaddr_t hl = half_last(t, it->next);
		pt_vaddr_t last = it->last < hl ? it->last : hl;
		if (scan_leaf(t, t->top, t->top_level, it->next, last, leaf)) {
			pt_vaddr_t end = leaf->va + ((1ull << leaf->size_lg2) - 1);
			if (end >= it->last)
				it->done = true;
			else
				it->next = end + 1;
			return true;
		}
		if (last >= it->last)
			it->done = true;
		else
			it->next = last + 1;
	}
	return false;
}

/* ---- split, unmap ------------------------------------------------- */

/*
 * The one-step split is here, not in pt_layout.c, because unmap needs it
 * to cut a leaf straddling an end of its range: pt_layout.c (pt_split,
 * pt_reconcile) builds on this file and nothing here calls into it.
 */

/* Entry pointer and level of the leaf containing va (PT_ENOENT if none). */
static int leaf_slot(const struct pt_table *t, pt_vaddr_t va, uint64_t **slot,
		     unsigned int *levelp)
{
	uint64_t *table = t->top;
	for (unsigned int level = t->top_level;; level--) {
		uint64_t *p = &table[pt_index(t, va, level)];
		uint64_t e = pt_read(p);
		if (!pt_fmt_present(t->fmt, e))
			return -PT_ENOENT;
		if (level == 0 || !pt_fmt_is_table(t->fmt, e, level)) {
			*slot = p;
			*levelp = level;
			return 0;
		}
		table = pt_next_table(t, e);
	}
}

int pt_split_one(struct pt_table *t, pt_vaddr_t va, struct pt_pool *pool,
		 struct pt_gather *g)
{
	const struct pt_fmt *f = t->fmt;
	uint64_t *p;
	unsigned int level;
	int err = leaf_slot(t, va, &p, &level);
	if (err)
		return err;
	uint64_t e = pt_read(p);
	uint64_t isz = pt_item_size(level);

	if (pt_entry_contig(t, e, level)) {
		/*
		 * Run -> its items: a contiguous item already maps its own
		 * piece and loses the hint; a replicated copy is rewritten as
		 * the item it stands for. One store each, and every copy
		 * still translates its piece the same way meanwhile.
		 */
		unsigned int c = pt_entry_run_lg2(t, e, level);
		unsigned int n = 1u << c;
		unsigned int i0 = pt_index(t, va, level) & ~(n - 1);
		uint64_t *first = p - (pt_index(t, va, level) & (n - 1));
		for (unsigned int i = 0; i < n; i++) {
			uint64_t ei = pt_read(&first[i]);
			if (pt_fmt_replicated(f))
				pt_write(&first[i], pt_fmt_leaf_entry(f, level,
					 ei & f->attr_mask,
					 pt_entry_item_oa(t, ei, level, i0 + i),
					 pt_item_lg2(level)));
			else
				pt_write(&first[i], ei & ~f->run_bits);
		}
		pt_vaddr_t run_va = va & ~((isz << c) - 1);
		pt_gather_add(g, run_va, run_va + ((isz << c) - 1));
		if (g)
			g->leaf_levels |= (uint8_t)(1u << level);
		return 0;
	}
	if (level == 0)
		return -PT_EINVAL;

	pt_oaddr_t npa;
	uint64_t *nt = pt_pool_take(t, pool, &npa);
	/* Fewer pages than the caller counted (pt_split_need): a bug. */
	if (!nt)
		return -PT_EPLAN;
	unsigned int cl = level - 1;
	pt_oaddr_t oa = pt_entry_item_oa(t, e, level, pt_index(t, va, level));
	pt_fill_private(nt, PT_TABLE_ITEMS,
			pt_fmt_leaf_entry(f, cl, e & f->attr_mask, oa,
					  pt_item_lg2(cl)),
			pt_fmt_leaf_step(f, cl, pt_item_lg2(cl)), false);
	pt_publish(p, pt_make_table_entry(t, level, npa));
	pt_vaddr_t bva = va & ~(isz - 1);
	pt_gather_add(g, bva, bva + (isz - 1));
	if (g)
		g->leaf_levels |= (uint8_t)(1u << level);
	return 0;
}

int pt_split_need(const struct pt_table *t, pt_vaddr_t va, unsigned long *n)
{
	struct pt_leaf leaf;
	*n = 0;
	/* The common case first: va starts an item that is not in a run
	 * (or nothing is mapped there), so nothing is cut. */
	const uint64_t *table = t->top;
	for (unsigned int level = t->top_level;; level--) {
		uint64_t e = pt_read(&table[pt_index(t, va, level)]);
		if (!pt_fmt_present(t->fmt, e))
			return 0;
		if (level == 0 || !pt_fmt_is_table(t->fmt, e, level)) {
			if (!(va & (pt_item_size(level) - 1)) &&
			    !pt_entry_contig(t, e, level))
				return 0;
			break;
		}
		table = pt_next_table(t, e);
	}
	if (pt_leaf_at(t, va, &leaf) || leaf.va == va)
		return 0;
	unsigned int level = leaf.level;
	/* A contiguous run first falls apart into its items, for free. */
	while (va & (pt_item_size(level) - 1)) {
		(*n)++;
		level--;
	}
	return 1;
}

/* Whether an unmap's range [., last] has an address after it to keep. */
static bool has_end(const struct pt_table *t, pt_vaddr_t last)
{
	return last != pt_max_va(t) && va_valid(t, last + 1);
}

/*
 * How to put back whole a leaf split_until() split: the entry it had, in
 * the slot that held it. Splits only ever add tables below that slot and,
 * for a contiguous run, clear the contiguous bit of the run's items.
 */
struct split_undo {
	uint64_t *slot;     /* NULL: nothing to undo */
	uint64_t e;
	unsigned int level;
	pt_vaddr_t va;
};

/* Split the leaf containing va until va starts a leaf. */
static int split_until(struct pt_table *t, pt_vaddr_t va, struct pt_pool *pool,
		       struct pt_gather *g, struct split_undo *u)
{
	struct pt_leaf leaf;
	u->slot = NULL;
	if (pt_leaf_at(t, va, &leaf) || leaf.va == va)
		return 0;
	if (leaf_slot(t, va, &u->slot, &u->level))
		return 0;
	u->e = pt_read(u->slot);
	u->va = va;
	do {
		int err = pt_split_one(t, va, pool, g);
		if (err)
			return err;
	} while (!pt_leaf_at(t, va, &leaf) && leaf.va != va);
	return 0;
}

/* Put the leaf back as it was, as pt_join would: single stores, the
 * tables the splits added deferred. No translation ever changed. */
static void split_undo(struct pt_table *t, const struct split_undo *u,
		       struct pt_gather *g)
{
	const struct pt_fmt *f = t->fmt;
	if (!u->slot)
		return;
	uint64_t now = pt_read(u->slot);
	if (pt_entry_contig(t, u->e, u->level)) {
		unsigned int n = 1u << pt_entry_run_lg2(t, u->e, u->level);
		uint64_t *first = u->slot - (pt_index(t, u->va, u->level) & (n - 1));
		for (unsigned int i = 0; i < n; i++)
			if (&first[i] != u->slot)
				pt_write(&first[i], pt_fmt_replicated(f) ? u->e :
					 pt_read(&first[i]) | f->run_bits);
	}
	pt_write(u->slot, u->e);
	if (u->level > 0 && pt_fmt_present(f, now) &&
	    pt_fmt_is_table(f, now, u->level))
		pt_retire_subtree(t, pt_entry_addr(t, now), u->level - 1, g);
}

int pt_split_ends(struct pt_table *t, pt_vaddr_t va, pt_vaddr_t last,
		  struct pt_pool *pool, struct pt_gather *g)
{
	struct split_undo us, ue = { 0 };
	int err = split_until(t, va, pool, g, &us);
	if (!err && has_end(t, last))
		err = split_until(t, last + 1, pool, g, &ue);
	if (err) {
		/* The end's splits may sit in tables the start's added. */
		split_undo(t, &ue, g);
		split_undo(t, &us, g);
	}
	return err;
}

/*
 * Whether a table whose entries strictly between first and last were just
 * cleared is now empty. Looks outward from the cleared range, where a
 * surviving neighbour is most likely, so a dense table answers at once.
 */
static bool table_empty_around(const struct pt_table *t, const uint64_t *table,
			       unsigned int first, unsigned int last)
{
	for (unsigned int d = 0; d < PT_TABLE_ITEMS; d++) {
		bool in = false;
		if (first >= d) {
			in = true;
			if (pt_fmt_present(t->fmt, pt_read(&table[first - d])))
				return false;
		}
		if (last + d < PT_TABLE_ITEMS) {
			in = true;
			if (pt_fmt_present(t->fmt, pt_read(&table[last + d])))
				return false;
		}
		if (!in)
			break;
	}
	return true;
}

/* Clears leaves in [va, last] (ends already on leaf boundaries); removes
 * tables left empty. Returns the bytes unmapped. */
static uint64_t unmap_level(struct pt_table *t, uint64_t *table,
			    unsigned int level, pt_vaddr_t va, pt_vaddr_t last,
			    struct pt_gather *g)
{
	const struct pt_fmt *f = t->fmt;
	uint64_t isz = pt_item_size(level);
	pt_vaddr_t es = va & ~(isz - 1);
	uint64_t bytes = 0;

	if (level == 0) {
		/* Only leaves here: clear the run without branching. */
		unsigned int first = pt_index(t, va, 0);
		unsigned int n = pt_index(t, last, 0) - first + 1;
		uint64_t *p = &table[first];
		unsigned int present = 0;
		for (unsigned int i = 0; i < n; i++) {
			present += pt_fmt_present(f, pt_read(&p[i]));
			pt_write(&p[i], 0);
		}
		if (present && g)
			g->leaf_levels |= 1;
		return (uint64_t)present << 12;
	}
	const unsigned int nitems = pt_items(t, level);
	for (unsigned int i = pt_index(t, va, level); i < nitems; i++) {
		uint64_t *p = &table[i];
		uint64_t e = pt_read(p);
		pt_vaddr_t el = es + (isz - 1);
		if (pt_fmt_present(f, e)) {
			if (level > 0 && pt_fmt_is_table(f, e, level)) {
				uint64_t *child = pt_next_table(t, e);
				pt_vaddr_t cva = es > va ? es : va;
				pt_vaddr_t clast = el < last ? el : last;
				bytes += unmap_level(t, child, level - 1, cva,
						     clast, g);
				if ((es >= va && el <= last) ||
				    table_empty_around(t, child,
						       pt_index(t, cva, level - 1),
						       pt_index(t, clast, level - 1))) {
					pt_write(p, 0);
					pt_retire_subtree(t, pt_entry_addr(t, e),
							  level - 1, g);
				}
			} else {
				pt_write(p, 0);
				bytes += isz;
				if (g)
					g->leaf_levels |= (uint8_t)(1u << level);
			}
		}
		if (el >= last)
			break;
		es += isz;
	}
	return bytes;
}

int pt_unmap_range(struct pt_table *t, pt_vaddr_t va, uint64_t len,
		   unsigned int flags, struct pt_gather *g, uint64_t *unmapped)
{
	if ((va | len) & (PT_TABLE_SIZE - 1))
		return -PT_EINVAL;
	if (flags & ~PT_UNMAP_SPLIT)
		return -PT_EINVAL;
	int err = pt_check_range(t, va, len);
	if (err)
		return err;
	pt_vaddr_t last = va + (len - 1);

	/* A leaf straddling either end must be split first, or refused. */
	unsigned long need_start, need_end = 0;
	bool cut_start = pt_split_need(t, va, &need_start);
	bool cut_end = has_end(t, last) && pt_split_need(t, last + 1, &need_end);
	if ((cut_start || cut_end) && !(flags & PT_UNMAP_SPLIT))
		return -PT_EINVAL;
	if (cut_start || cut_end) {
		struct pt_pool pool = { 0 };
		err = pt_pool_fill(t, &pool, need_start + need_end);
		if (err)
			return err;
		err = pt_split_ends(t, va, last, &pool, g);
		/* Both ends in one leaf counted its pages twice. */
		pt_pool_drain(t, &pool);
		if (err)
			return err;
	}

	uint64_t bytes = unmap_level(t, t->top, t->top_level, va, last, g);
	pt_gather_add(g, va, last);
	if (unmapped)
		*unmapped = bytes;
	return 0;
}

/* ---- whole-table walks -------------------------------------------- */

static int for_each_table(const struct pt_table *t, const uint64_t *table,
			  pt_oaddr_t pa, unsigned int level, pt_table_fn fn,
			  void *arg)
{
	/* A concatenated top is reported page by page. */
	unsigned int pages = level == t->top_level ? 1u << t->top_lg2 : 1;
	int ret = 0;
	for (unsigned int k = 0; k < pages && !ret; k++)
		ret = fn(arg, pa + (uint64_t)k * PT_TABLE_SIZE, level);
	if (ret || level == 0)
		return ret;
	const unsigned int nitems = pt_items(t, level);
	for (unsigned int i = 0; i < nitems; i++) {
		uint64_t e = pt_read(&table[i]);
		if (!pt_fmt_present(t->fmt, e) || !pt_fmt_is_table(t->fmt, e, level))
			continue;
		ret = for_each_table(t, pt_next_table(t, e), pt_entry_addr(t, e),
				     level - 1, fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int pt_for_each_table(const struct pt_table *t, pt_table_fn fn, void *arg)
{
	return for_each_table(t, t->top, t->top_pa, t->top_level, fn, arg);
}

struct adopt {
	struct pt_table *t;
	pt_table_fn claim;
	void *arg;
	pt_vaddr_t bad_va;
};

/* IOVA of item idx of a table at level whose range starts at base. */
static pt_vaddr_t item_va(const struct pt_table *t, pt_vaddr_t base,
			  unsigned int level, unsigned int idx)
{
	pt_vaddr_t va = base + ((uint64_t)idx << pt_item_lg2(level));
	/* Upper half of a sign-extended space: bits above va_bits - 1. */
	if (t->fmt->sign_extend && (va >> (t->va_bits - 1)) & 1)
		va |= ~0ull << (t->va_bits - 1);
	return va;
}

static int adopt_run(struct adopt *a, const uint64_t *table, unsigned int level,
		     unsigned int idx, const struct pt_entry_info *first)
{
	const struct pt_fmt *f = a->t->fmt;
	unsigned int n = 1u << first->run_lg2;
	uint64_t run = (uint64_t)n << pt_item_lg2(level);
	if (first->oa & (run - 1))
		return -PT_EINVAL;
	for (unsigned int i = 1; i < n; i++) {
		struct pt_entry_info info;
		pt_fmt_decode(f, pt_read(&table[idx + i]), level, &info);
		if (info.type != PT_ENTRY_LEAF || !info.contig ||
		    info.attr != first->attr ||
		    info.oa != first->oa + ((uint64_t)i << pt_item_lg2(level)))
			return -PT_EINVAL;
	}
	return 0;
}

/*
 * A contiguous run is checked whole at its first item; a later item is
 * fine only when the run it belongs to starts with a contiguous item
 * (checked). Every copy of a replicated run must equal the run's first
 * slot word for word: copies that disagree leave the page size and
 * output to whichever copy the hardware happens to read.
 */
static int adopt_contig_item(struct adopt *a, const uint64_t *table,
			     unsigned int level, unsigned int idx,
			     const struct pt_entry_info *info)
{
	unsigned int n = 1u << info->run_lg2;
	unsigned int start = idx & ~(n - 1);
	if (info->replicated && idx != start)
		return pt_read(&table[start]) == pt_read(&table[idx]) ?
			0 : -PT_EINVAL;
	if (info->replicated) {
		for (unsigned int j = 1; j < n; j++) {
			if (pt_read(&table[start + j]) != pt_read(&table[start])) {
				/* Name the copy that disagrees. */
				a->bad_va += (uint64_t)j << pt_item_lg2(level);
				return -PT_EINVAL;
			}
		}
		return 0;
	}
	if (idx == start)
		return adopt_run(a, table, level, idx, info);
	return pt_entry_contig(a->t, pt_read(&table[start]), level) ?
		0 : -PT_EINVAL;
}

static int adopt_table(struct adopt *a, const uint64_t *table, pt_oaddr_t pa,
		       unsigned int level, pt_vaddr_t base)
{
	struct pt_table *t = a->t;
	const struct pt_fmt *f = t->fmt;
	unsigned int pages = level == t->top_level ? 1u << t->top_lg2 : 1;
	for (unsigned int k = 0; k < pages; k++) {
		int err = a->claim ? a->claim(a->arg, pa + (uint64_t)k *
					      PT_TABLE_SIZE, level) : 0;
		if (err) {
			a->bad_va = base;
			return err;
		}
		t->nr_tables++;
	}
	int err;
	const unsigned int nitems = pt_items(t, level);
	for (unsigned int i = 0; i < nitems; i++) {
		uint64_t e = pt_read(&table[i]);
		struct pt_entry_info info;
		pt_fmt_decode(f, e, level, &info);
		pt_vaddr_t va = item_va(t, base, level, i);
		a->bad_va = va;
		switch (info.type) {
		case PT_ENTRY_EMPTY:
			continue;
		case PT_ENTRY_BAD:
			return -PT_EINVAL;
		case PT_ENTRY_LEAF:
			if (!va_valid(t, va) ||
			    (t->oa_bits < 64 && (info.oa >> t->oa_bits)))
				return -PT_ERANGE;
			if (info.contig) {
				err = adopt_contig_item(a, table, level, i, &info);
				if (err)
					return err;
			}
			continue;
		case PT_ENTRY_TABLE:
			break;
		}
		if (!va_valid(t, va))
			return -PT_ERANGE;
		const uint64_t *child = t->mem->phys_to_virt(t->mem_ctx, info.oa);
		if (!child)
			return -PT_EFAULT;
		err = adopt_table(a, child, info.oa, level - 1, va);
		if (err)
			return err;
	}
	return 0;
}

int pt_adopt(struct pt_table *t, const struct pt_cfg *cfg,
	     const struct pt_mem_ops *mem, void *mem_ctx, pt_oaddr_t top_pa,
	     pt_table_fn claim, void *claim_arg, pt_vaddr_t *bad_va)
{
	const struct pt_fmt *f = pt_fmt_get(cfg->fmt);
	if (!f || !mem || !mem->phys_to_virt)
		return -PT_EINVAL;
	int levels = pt_fmt_levels_for(cfg->fmt, cfg->va_bits);
	if (levels < 0 || cfg->oa_bits < 32 || cfg->oa_bits > f->max_oa_bits)
		return -PT_EINVAL;
	unsigned int top_lg2 = (unsigned int)pt_fmt_top_lg2(cfg->fmt, cfg->va_bits);
	/* A concatenated top is aligned to its whole size (D8.2.6). */
	if (top_pa & ((PT_TABLE_SIZE << top_lg2) - 1))
		return -PT_EINVAL;
	uint64_t sizes = fmt_sizes(f);
	if (cfg->pgsizes & ~sizes)
		return -PT_EOPNOTSUPP;
	uint64_t *top = mem->phys_to_virt(mem_ctx, top_pa);
	if (!top)
		return -PT_EFAULT;
	for (unsigned int k = 1; k < 1u << top_lg2; k++)
		if (mem->phys_to_virt(mem_ctx, top_pa + (uint64_t)k * PT_TABLE_SIZE) !=
		    top + (size_t)k * PT_TABLE_ITEMS)
			return -PT_EFAULT;

	struct pt_table nt = {
		.fmt = f, .mem = mem, .mem_ctx = mem_ctx, .top = top,
		.top_pa = top_pa, .top_level = (unsigned int)levels - 1,
		.top_lg2 = top_lg2,
		.va_bits = cfg->va_bits, .oa_bits = cfg->oa_bits,
		.pgsizes = cfg->pgsizes ? cfg->pgsizes : sizes,
	};
	if (pt_item_lg2((unsigned int)levels) < 64)
		nt.pgsizes &= (1ull << pt_item_lg2((unsigned int)levels)) - 1;
	struct adopt a = { .t = &nt, .claim = claim, .arg = claim_arg };
	int err = adopt_table(&a, top, top_pa, nt.top_level, 0);
	if (err) {
		if (bad_va)
			*bad_va = a.bad_va;
		return err;
	}
	*t = nt;
	return 0;
}
