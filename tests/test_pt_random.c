// SPDX-License-Identifier: MIT
/*
 * Randomized map / unmap / split / join sequences against a reference
 * model, for every format and several configurations (allowed sizes
 * restricted or all, ARM with and without contiguous runs, 3/4/5 levels,
 * windows at the bottom, the top and across a top-level boundary of the
 * IOVA space, x86 in both canonical halves).
 *
 * The model is a sorted array of leaves (va, oa, size, level, contiguous,
 * protection). It predicts each call's result and the exact layout
 * independently of pt: map places the largest allowed size that IOVA and
 * PA are both aligned to and that fits (docs/reference.md section 2), split
 * breaks one leaf one step, join merges a linear run, unmap removes whole
 * leaves and, with PT_UNMAP_SPLIT, first splits the leaves straddling its
 * ends. After every step the leaf iterator must yield exactly the model's
 * leaves, pt_iova_to_phys must agree at sampled addresses and at the ends
 * of the range just touched, and t.nr_tables must equal the arena pages in
 * use minus those awaiting invalidation. Failed calls must leave every
 * table byte as it was. Allocation failures are injected now and then.
 *
 * Seeds are fixed; PT_RANDOM_SEED and PT_RANDOM_STEPS override them to
 * explore (a failure prints the seed, step and operation).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "tests/lib/pt_testmem.h"

#define SZ_4K (1ull << 12)
#define SZ_64K (1ull << 16)
#define SZ_2M (1ull << 21)
#define SZ_32M (1ull << 25)
#define SZ_1G (1ull << 30)
#define WINDOW (8ull << 30)     /* IOVA window the operations stay in */
#define LEAF_CAP 2000           /* above this, no splitting of blocks */
#define LEAF_TRIM 2600          /* above this, a gigabyte is cleared */
#define ARENA_PAGES 8192
#define WATCHDOG_S 120          /* one configuration, even under ASan */

/* ---- PRNG: xorshift64* ---------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Uniform enough in [0, n). */
static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return rnd_below(100) < percent;
}

/* ---- the reference model ------------------------------------------- */

struct mleaf {
	uint64_t va;
	uint64_t oa;
	unsigned int size_lg2;
	unsigned int level;
	bool contig;
	uint32_t prot;  /* as pt reports it */
};

struct model {
	struct mleaf *v;
	size_t n;
	size_t cap;
};

static uint64_t mlast(const struct mleaf *l)
{
	return l->va + ((1ull << l->size_lg2) - 1);
}

/* First leaf whose last byte is at or after va. */
static size_t mlower(const struct model *m, uint64_t va)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mlast(&m->v[mid]) < va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the leaf containing va, or -1. */
static long mfind(const struct model *m, uint64_t va)
{
	size_t i = mlower(m, va);
	if (i < m->n && m->v[i].va <= va)
		return (long)i;
	return -1;
}

static void mreserve(struct model *m, size_t extra)
{
	if (m->v && m->n + extra <= m->cap)
		return;
	size_t cap = m->cap ? m->cap : 1024;
	while (cap < m->n + extra)
		cap *= 2;
	m->v = realloc(m->v, cap * sizeof(*m->v));
	assert_non_null(m->v);
	m->cap = cap;
}

/* Replace v[at, at + del) by the n leaves in add. */
static void msplice(struct model *m, size_t at, size_t del,
		    const struct mleaf *add, size_t n)
{
	mreserve(m, n);
	memmove(&m->v[at + n], &m->v[at + del],
		(m->n - at - del) * sizeof(*m->v));
	if (n)
		memcpy(&m->v[at], add, n * sizeof(*add));
	m->n = m->n - del + n;
}

/* Split leaf i one step: a run into its items, a block into 512 items. */
static void msplit(struct model *m, size_t i)
{
	static struct mleaf kids[512];
	struct mleaf l = m->v[i];
	unsigned int n, lg2, level;
	if (l.contig) {
		level = l.level;
		lg2 = 12 + 9 * level;
		n = 1u << (l.size_lg2 - lg2);
	} else {
		assert_true(l.level > 0);
		level = l.level - 1;
		lg2 = 12 + 9 * level;
		n = 512;
	}
	for (unsigned int k = 0; k < n; k++)
		kids[k] = (struct mleaf){ .va = l.va + ((uint64_t)k << lg2),
					  .oa = l.oa + ((uint64_t)k << lg2),
					  .size_lg2 = lg2, .level = level,
					  .contig = false, .prot = l.prot };
	msplice(m, i, 1, kids, n);
}

/* Split until va starts a leaf (or is unmapped); the levels of the
 * leaves split. */
static uint8_t msplit_to(struct model *m, uint64_t va)
{
	long i;
	uint8_t levels = 0;
	while ((i = mfind(m, va)) >= 0 && m->v[i].va != va) {
		levels |= (uint8_t)(1u << m->v[i].level);
		msplit(m, (size_t)i);
	}
	return levels;
}

/* Whether leaf i straddles va (starts before it). */
static bool mcuts(const struct model *m, uint64_t va)
{
	long i = mfind(m, va);
	return i >= 0 && m->v[i].va != va;
}

/* Leaves that splitting down to va adds to the model. */
static size_t msplit_cost(const struct model *m, uint64_t va)
{
	long i = mfind(m, va);
	if (i < 0)
		return 0;
	unsigned int level = m->v[i].level, lg2 = m->v[i].size_lg2;
	bool contig = m->v[i].contig;
	size_t cost = 0;
	while (va & ((1ull << lg2) - 1)) {
		if (contig) {
			cost += (1u << (lg2 - (12 + 9 * level))) - 1;
			contig = false;
		} else {
			cost += 511;
			level--;
		}
		lg2 = 12 + 9 * level;
	}
	return cost;
}

static bool moverlaps(const struct model *m, uint64_t va, uint64_t last)
{
	size_t i = mlower(m, va);
	return i < m->n && m->v[i].va <= last;
}

/* ---- configuration ---------------------------------------------------- */

struct rcfg {
	const char *name;
	enum pt_format_id fmt;
	unsigned int va_bits;
	uint64_t pgsizes;    /* 0: all */
	uint64_t wbase;      /* start of the IOVA window */
	uint64_t seed;
	unsigned int steps;
};

#define ALL_ARM (PT_SZ_4K | PT_SZ_64K | PT_SZ_2M | PT_SZ_32M | PT_SZ_1G | \
		 (16ull << 30))
#define ALL_X86 (PT_SZ_4K | PT_SZ_2M | PT_SZ_1G)
/* AMD v1: every power of two from 4K to 256G (levels 0-2 and their
 * replicated pages). RISC-V: 4K, 64K NAPOT, 2M, 1G, 512G, 256T. */
#define ALL_AMD (((1ull << 39) - 1) & ~((1ull << 12) - 1))
#define ALL_RISCV (PT_SZ_4K | PT_SZ_64K | PT_SZ_2M | PT_SZ_1G | (1ull << 39) | \
		   (1ull << 48))

static const struct rcfg rcfgs[] = {
	{ "arm-s1 48 all, bottom", PT_FMT_ARM_S1, 48, 0, 0, 0x1001, 2500 },
	{ "arm-s1 48 no contig, top", PT_FMT_ARM_S1, 48,
	  PT_SZ_4K | PT_SZ_2M | PT_SZ_1G, (1ull << 48) - WINDOW, 0x1002, 2000 },
	{ "arm-s2 39 all, top", PT_FMT_ARM_S2, 39, 0, (1ull << 39) - WINDOW,
	  0x1003, 2500 },
	{ "arm-s2 48 4K+64K, across 512G", PT_FMT_ARM_S2, 48,
	  PT_SZ_4K | PT_SZ_64K, (512ull << 30) - WINDOW / 2, 0x1004, 1500 },
	{ "arm-s1 48 4K+32M", PT_FMT_ARM_S1, 48, PT_SZ_4K | PT_SZ_32M,
	  64ull << 30, 0x1005, 1500 },
	/* Concatenated start levels: two tables at ARM level 1, crossing
	 * from the first to the second; sixteen at ARM level 2. */
	{ "arm-s2 40 all, across the top's pages", PT_FMT_ARM_S2, 40, 0,
	  (512ull << 30) - WINDOW / 2, 0x1006, 2000 },
	{ "arm-s2 34 all, top", PT_FMT_ARM_S2, 34, 0, (1ull << 34) - WINDOW,
	  0x1007, 1500 },
	{ "vtd-ss 39 all, bottom", PT_FMT_VTD_SS, 39, 0, 0, 0x2001, 2000 },
	{ "vtd-ss 48 4K+2M, across 512G", PT_FMT_VTD_SS, 48,
	  PT_SZ_4K | PT_SZ_2M, (512ull << 30) - WINDOW / 2, 0x2002, 1500 },
	{ "vtd-ss 57 all, top", PT_FMT_VTD_SS, 57, 0, (1ull << 57) - WINDOW,
	  0x2003, 2000 },
	{ "x86-64 48 all, upper half", PT_FMT_X86_64, 48, 0,
	  0xffff800000000000ull, 0x3001, 2000 },
	{ "x86-64 48 4K+1G, top of lower half", PT_FMT_X86_64, 48,
	  PT_SZ_4K | PT_SZ_1G, (1ull << 47) - WINDOW, 0x3002, 1500 },
	{ "x86-64 57 all, top", PT_FMT_X86_64, 57, 0, 0ull - WINDOW, 0x3003,
	  2000 },
	{ "amd-v1 48 all, bottom", PT_FMT_AMD_V1, 48, 0, 0, 0x4001, 2500 },
	{ "amd-v1 39 4K+64K+2M+1G, top", PT_FMT_AMD_V1, 39,
	  PT_SZ_4K | PT_SZ_64K | PT_SZ_2M | PT_SZ_1G, (1ull << 39) - WINDOW,
	  0x4002, 2000 },
	{ "amd-v1 64 all, top", PT_FMT_AMD_V1, 64, 0, 0ull - WINDOW, 0x4003,
	  2000 },
	{ "amd-v1 57 4K+8K+1M+4M, across 512G", PT_FMT_AMD_V1, 57,
	  PT_SZ_4K | (1ull << 13) | (1ull << 20) | (1ull << 22),
	  (512ull << 30) - WINDOW / 2, 0x4004, 1500 },
	{ "riscv 39 all, upper half", PT_FMT_RISCV, 39, 0,
	  0xffffffc000000000ull, 0x5001, 2500 },
	{ "riscv 48 all, bottom", PT_FMT_RISCV, 48, 0, 0, 0x5002, 2000 },
	{ "riscv 57 4K+2M, top of lower half", PT_FMT_RISCV, 57,
	  PT_SZ_4K | PT_SZ_2M, (1ull << 56) - WINDOW, 0x5003, 1500 },
};

/* Every size the format can express, as (lg2, level, contiguous). */
struct fsize {
	unsigned int lg2;
	unsigned int level;
	bool contig;
};

static const struct fsize arm_sizes[] = {
	{ 12, 0, false }, { 16, 0, true }, { 21, 1, false }, { 25, 1, true },
	{ 30, 2, false },
};
static const struct fsize x86_sizes[] = {
	{ 12, 0, false }, { 21, 1, false }, { 30, 2, false },
};
static const struct fsize amd_sizes[] = {
	{ 12, 0, false }, { 13, 0, true }, { 14, 0, true }, { 15, 0, true },
	{ 16, 0, true }, { 17, 0, true }, { 18, 0, true }, { 19, 0, true },
	{ 20, 0, true }, { 21, 1, false }, { 22, 1, true }, { 23, 1, true },
	{ 24, 1, true }, { 25, 1, true }, { 26, 1, true }, { 27, 1, true },
	{ 28, 1, true }, { 29, 1, true }, { 30, 2, false }, { 31, 2, true },
	{ 32, 2, true }, { 33, 2, true },
};
static const struct fsize riscv_sizes[] = {
	{ 12, 0, false }, { 16, 0, true }, { 21, 1, false }, { 30, 2, false },
};

struct ctx {
	const struct rcfg *cfg;
	uint64_t seed;
	unsigned int step;
	char op[160];
	struct pt_testmem mem;
	struct pt_table t;
	struct model m;
	const struct fsize *sizes;
	unsigned int nsizes;
	uint64_t pgsizes;        /* expected effective sizes */
	uint32_t prots[32];
	unsigned int nprots;
	uint8_t *snap;
	size_t snap_len;
	/* Leaves split lately: joining them back should work. */
	uint64_t split_va[16];
	unsigned int split_lg2[16];
	unsigned int nsplit_seen;
	/* statistics, to show the run reached the interesting cases */
	unsigned long n_map, n_map_fail, n_unmap, n_unmap_cut, n_unmap_split,
		n_split, n_join, n_join_ok, n_join_prot, n_nomem, leaves_by_lg2[64];
};

static void ctx_fail(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ctx_fail(const struct ctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("[%s] seed %#" PRIx64 " step %u, %s: %s", c->cfg->name,
		 c->seed, c->step, c->op, msg);
}

#define CHECK(c, cond, ...)                         \
	do {                                        \
		if (!(cond))                        \
			ctx_fail((c), __VA_ARGS__); \
	} while (0)

/* Protections each manual can express (see test_pt_golden.c). */
static bool prot_ok(enum pt_format_id fmt, uint32_t prot)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return false;
	if (fmt == PT_FMT_ARM_S1 || fmt == PT_FMT_X86_64 || fmt == PT_FMT_RISCV)
		return prot & PT_PROT_READ;
	return !(prot & PT_PROT_PRIV);
}

/* VT-d has no execute permission to grant: leaves read back NOEXEC. */
static uint32_t prot_norm(enum pt_format_id fmt, uint32_t prot)
{
	return fmt == PT_FMT_VTD_SS || fmt == PT_FMT_AMD_V1 ||
	       fmt == PT_FMT_RISCV ? prot | PT_PROT_NOEXEC : prot;
}

static const struct fsize *size_info(const struct ctx *c, unsigned int lg2)
{
	for (unsigned int i = 0; i < c->nsizes; i++)
		if (c->sizes[i].lg2 == lg2)
			return &c->sizes[i];
	return NULL;
}

/* ---- table memory checks ---------------------------------------------- */

/* Pages at or above this index were never handed out. */
static uint64_t arena_hwm(const struct pt_testmem *m)
{
	uint64_t i = 0;
	while (i < m->nfree && m->free_stack[i] == m->pages - 1 - i)
		i++;
	return m->pages - i;
}

static void snap_take(struct ctx *c)
{
	c->snap_len = arena_hwm(&c->mem) * PT_TABLE_SIZE;
	c->snap = malloc(c->snap_len ? c->snap_len : 1);
	assert_non_null(c->snap);
	memcpy(c->snap, c->mem.base, c->snap_len);
}

static void snap_check(struct ctx *c)
{
	CHECK(c, !memcmp(c->snap, c->mem.base, c->snap_len),
	      "a failed call changed table memory");
	free(c->snap);
	c->snap = NULL;
}

static void snap_drop(struct ctx *c)
{
	free(c->snap);
	c->snap = NULL;
}

/*
 * Walk every table: each entry decodes (no BAD), every table below the
 * top holds something (unmap removes emptied tables), and the tree has
 * exactly t.nr_tables pages.
 */
static uint64_t walk_tables(struct ctx *c, const uint64_t *table,
			    unsigned int level, bool top)
{
	/* A concatenated top is 2^top_lg2 pages of entries. */
	unsigned int items = top ? PT_TABLE_ITEMS << c->t.top_lg2 : PT_TABLE_ITEMS;
	uint64_t n = top ? 1ull << c->t.top_lg2 : 1;
	unsigned int present = 0;
	for (unsigned int i = 0; i < items; i++) {
		struct pt_entry_info info;
		pt_fmt_decode(c->t.fmt, table[i], level, &info);
		CHECK(c, info.type != PT_ENTRY_BAD,
		      "level %u entry %u %#" PRIx64 " is malformed", level, i,
		      table[i]);
		if (info.type == PT_ENTRY_EMPTY)
			continue;
		present++;
		if (info.type == PT_ENTRY_TABLE) {
			CHECK(c, level > 0, "table entry at level 0");
			const uint64_t *next =
				c->mem.ops.phys_to_virt(&c->mem, info.oa);
			CHECK(c, next != NULL, "table pointer outside arena");
			n += walk_tables(c, next, level - 1, false);
		}
	}
	CHECK(c, top || present, "empty level %u table left in the tree",
	      level);
	return n;
}

static void check_tree(struct ctx *c)
{
	uint64_t n = walk_tables(c, c->t.top, c->t.top_level, true);
	CHECK(c, n == c->t.nr_tables, "tree has %" PRIu64
	      " tables, nr_tables %" PRIu64, n, c->t.nr_tables);
}

static void check_counts(struct ctx *c)
{
	CHECK(c, c->t.nr_tables == c->mem.in_use - c->mem.ndeferred,
	      "nr_tables %" PRIu64 " != in use %" PRIu64 " - deferred %" PRIu64,
	      c->t.nr_tables, c->mem.in_use, c->mem.ndeferred);
}

/* ---- translation checks ----------------------------------------------- */

static void check_iter(struct ctx *c)
{
	struct pt_iter it;
	struct pt_leaf l;
	size_t i = 0;
	pt_iter_init(&it, &c->t, 0, ~0ull);
	while (pt_iter_next(&c->t, &it, &l)) {
		CHECK(c, i < c->m.n, "extra leaf va %#" PRIx64 " size 2^%u",
		      l.va, l.size_lg2);
		const struct mleaf *e = &c->m.v[i];
		CHECK(c, l.va == e->va && l.oa == e->oa &&
		      l.size_lg2 == e->size_lg2 && l.level == e->level &&
		      l.contig == e->contig && l.prot == e->prot,
		      "leaf %zu: got va %#" PRIx64 " oa %#" PRIx64
		      " 2^%u L%u c%d p%#x, model va %#" PRIx64 " oa %#" PRIx64
		      " 2^%u L%u c%d p%#x", i, l.va, l.oa, l.size_lg2, l.level,
		      l.contig, l.prot, e->va, e->oa, e->size_lg2, e->level,
		      e->contig, e->prot);
		i++;
	}
	CHECK(c, i == c->m.n, "iterator gave %zu leaves, model has %zu", i,
	      c->m.n);
}

static void check_addr(struct ctx *c, uint64_t va)
{
	pt_oaddr_t pa = 0;
	int err = pt_iova_to_phys(&c->t, va, &pa);
	long i = mfind(&c->m, va);
	if (i < 0) {
		CHECK(c, err == -PT_ENOENT, "iova_to_phys(%#" PRIx64
		      ") = %d pa %#" PRIx64 ", model: unmapped", va, err, pa);
		return;
	}
	uint64_t want = c->m.v[i].oa + (va - c->m.v[i].va);
	CHECK(c, err == 0 && pa == want, "iova_to_phys(%#" PRIx64 ") = %d pa %#"
	      PRIx64 ", model %#" PRIx64, va, err, pa, want);
}

/* Around [va, last]: both ends, their neighbours, and random samples. */
static void check_after(struct ctx *c, uint64_t va, uint64_t last)
{
	check_counts(c);
	check_iter(c);
	uint64_t off = rnd_below(SZ_4K);
	check_addr(c, va + off);
	check_addr(c, last - off);
	if (va != c->cfg->wbase)
		check_addr(c, va - 1 - off);
	if (last != c->cfg->wbase + (WINDOW - 1))
		check_addr(c, last + 1 + off);
	for (int k = 0; k < 6; k++)
		check_addr(c, c->cfg->wbase + rnd_below(WINDOW));
	for (int k = 0; k < 2 && c->m.n; k++) {
		const struct mleaf *l = &c->m.v[rnd_below(c->m.n)];
		check_addr(c, l->va);
		check_addr(c, mlast(l));
	}
	if (c->step % 8 == 0)
		check_tree(c);
}

/* ---- operations ------------------------------------------------------- */

/* Leaves the canonical layout places for [va, va + len) -> pa. */
static size_t greedy_layout(const struct ctx *c, uint64_t va, uint64_t pa,
			    uint64_t len, struct mleaf *out, size_t max,
			    uint32_t prot)
{
	size_t n = 0;
	while (len) {
		const struct fsize *best = NULL;
		for (unsigned int i = 0; i < c->nsizes; i++) {
			const struct fsize *s = &c->sizes[i];
			uint64_t sz = 1ull << s->lg2;
			if (!(c->pgsizes & sz) || ((va | pa) & (sz - 1)) || sz > len)
				continue;
			if (!best || s->lg2 > best->lg2)
				best = s;
		}
		assert_non_null(best);
		if (n < max && out)
			out[n] = (struct mleaf){ .va = va, .oa = pa,
						 .size_lg2 = best->lg2,
						 .level = best->level,
						 .contig = best->contig,
						 .prot = prot };
		n++;
		va += 1ull << best->lg2;
		pa += 1ull << best->lg2;
		len -= 1ull << best->lg2;
	}
	return n;
}

/* Arm allocation failure for the next call now and then. */
static bool maybe_nomem(struct ctx *c)
{
	if (!chance(3))
		return false;
	c->mem.fail_after = (long)rnd_below(3);
	return true;
}

/* The lowest 1 TiB of output addresses, or now and then a 1 TiB stretch
 * near the top of the output space (bits 51:48 on VT-d and x86). */
static uint64_t oa_top_base;

static uint64_t rand_pa(unsigned int align_lg2)
{
	uint64_t pa = rnd_below(1ull << 40) & ~((1ull << align_lg2) - 1);
	return chance(25) ? oa_top_base + pa : pa;
}

/* Map and check; whether the range got mapped. */
static bool map_at(struct ctx *c, uint64_t va, uint64_t pa, uint64_t len,
		   uint32_t prot)
{
	uint64_t last = va + (len - 1);
	uint32_t np = prot_norm(c->cfg->fmt, prot);
	bool overlap = moverlaps(&c->m, va, last);
	size_t nleaves = overlap ? 0 : greedy_layout(c, va, pa, len, NULL, 0, np);
	if (!overlap && nleaves > 256)
		return false;  /* keep the model small */
	snprintf(c->op, sizeof(c->op), "map va %#" PRIx64 " pa %#" PRIx64
		 " len %#" PRIx64 " prot %#x", va, pa, len, prot);

	bool nomem = maybe_nomem(c), mapped = false;
	if (overlap || nomem)
		snap_take(c);
	uint64_t tables = c->t.nr_tables, deferred = c->mem.ndeferred;
	struct pt_gather g;
	pt_gather_init(&g);
	int err = pt_map_range(&c->t, va, pa, len, prot, &g);
	c->mem.fail_after = -1;
	c->n_map++;
	if (overlap) {
		CHECK(c, err == -PT_EEXIST, "map over a mapping gave %d", err);
		CHECK(c, c->t.nr_tables == tables, "failed map changed nr_tables");
		snap_check(c);
		c->n_map_fail++;
	} else if (nomem && err == -PT_ENOMEM) {
		snap_check(c);
		c->n_nomem++;
	} else {
		CHECK(c, err == 0, "map gave %d", err);
		snap_drop(c);
		CHECK(c, !pt_gather_empty(&g) && g.va <= va && g.last >= last,
		      "gather [%#" PRIx64 ", %#" PRIx64 "] misses the range",
		      g.va, g.last);
		CHECK(c, g.nr_deferred == c->mem.ndeferred - deferred,
		      "gather counts %u deferred pages, allocator %" PRIu64,
		      g.nr_deferred, c->mem.ndeferred - deferred);
		struct mleaf *add = malloc(nleaves * sizeof(*add));
		assert_non_null(add);
		greedy_layout(c, va, pa, len, add, nleaves, np);
		for (size_t i = 0; i < nleaves; i++)
			c->leaves_by_lg2[add[i].size_lg2]++;
		msplice(&c->m, mlower(&c->m, va), 0, add, nleaves);
		free(add);
		mapped = true;
	}
	check_after(c, va, last);
	return mapped;
}

static void op_map(struct ctx *c)
{
	uint64_t off, len, pa;
	unsigned int r = (unsigned int)rnd_below(100);
	if (r < 25) {
		off = rnd_below(WINDOW >> 12) << 12;
		len = (1 + rnd_below(24)) << 12;
		pa = rand_pa(12);
	} else if (r < 40) {
		off = rnd_below(WINDOW >> 16) << 16;
		len = ((1 + rnd_below(40)) << 16) + (chance(30) ? rnd_below(16) << 12 : 0);
		pa = rand_pa(16);
	} else if (r < 60) {
		off = rnd_below(WINDOW >> 21) << 21;
		len = ((1 + rnd_below(24)) << 21) + (chance(30) ? rnd_below(20) << 16 : 0);
		pa = rand_pa(21);
	} else if (r < 70) {
		off = rnd_below(WINDOW >> 25) << 25;
		len = ((1 + rnd_below(4)) << 25) + (chance(30) ? rnd_below(8) << 21 : 0);
		pa = rand_pa(chance(80) ? 25 : 21);
	} else if (r < 80) {
		off = rnd_below(WINDOW >> 30) << 30;
		len = ((1 + rnd_below(2)) << 30) + (chance(30) ? rnd_below(8) << 21 : 0);
		/* Sometimes only 2M-congruent: then no 1G leaf may appear. */
		pa = rand_pa(chance(75) ? 30 : 21);
	} else if (r < 85) {
		/* IOVA well aligned, PA only to 4K: all 4K leaves. */
		off = rnd_below(WINDOW >> 21) << 21;
		len = (1 + rnd_below(64)) << 12;
		pa = rand_pa(12) | SZ_4K;
	} else if (r < 92) {
		/*
		 * One aligned block mapped as two halves with continuing
		 * output: a join of the block must merge them when the
		 * protections agree and refuse when they differ.
		 */
		const struct fsize *s = &c->sizes[1 + rnd_below(c->nsizes - 1)];
		if (s->lg2 > 25)
			s = &c->sizes[1];
		uint64_t half = 1ull << (s->lg2 - 1);
		uint64_t va = c->cfg->wbase +
			      (rnd_below(WINDOW >> s->lg2) << s->lg2);
		pa = rand_pa(s->lg2);
		uint32_t p1 = c->prots[rnd_below(c->nprots)];
		uint32_t p2 = chance(50) ? p1 : c->prots[rnd_below(c->nprots)];
		if (moverlaps(&c->m, va, va + 2 * half - 1))
			return;
		if (map_at(c, va, pa, half, p1) &&
		    map_at(c, va + half, pa + half, half, p2)) {
			unsigned int slot = c->nsplit_seen++ % 16;
			c->split_va[slot] = va;
			c->split_lg2[slot] = s->lg2;
		}
		return;
	} else {
		/* Aimed at an existing leaf: must fail with -PT_EEXIST. */
		if (!c->m.n)
			return;
		const struct mleaf *l = &c->m.v[rnd_below(c->m.n)];
		uint64_t loff = l->va - c->cfg->wbase;
		uint64_t back = loff < SZ_2M ? loff : SZ_2M;
		off = (loff - back) + (rnd_below((back + (1ull << l->size_lg2)) >> 12) << 12);
		uint64_t min_len = off < loff ? loff - off + SZ_4K : SZ_4K;
		len = min_len + (rnd_below(64) << 12);
		pa = rand_pa(12);
	}
	uint32_t prot = c->prots[rnd_below(c->nprots)];
	if (off >= WINDOW)
		return;
	if (len > WINDOW - off)
		len = (WINDOW - off) & ~(SZ_4K - 1);
	if (!len)
		return;
	map_at(c, c->cfg->wbase + off, pa, len, prot);
}

static void op_unmap(struct ctx *c)
{
	uint64_t va, len;
	unsigned int r = (unsigned int)rnd_below(100);
	if (r < 35 && c->m.n) {
		/* Whole leaves, possibly several, holes between allowed. */
		size_t i = rnd_below(c->m.n);
		size_t j = i + rnd_below(4);
		if (j >= c->m.n)
			j = c->m.n - 1;
		va = c->m.v[i].va;
		len = mlast(&c->m.v[j]) - va + 1;
	} else if (r < 80 && c->m.n) {
		/* Starting or ending inside a leaf, preferably a large one. */
		const struct mleaf *l = &c->m.v[rnd_below(c->m.n)];
		for (int t = 0; t < 6 && l->size_lg2 == 12; t++)
			l = &c->m.v[rnd_below(c->m.n)];
		va = l->va + (rnd_below(1ull << (l->size_lg2 - 12)) << 12);
		unsigned int lg2 = 12 + (unsigned int)rnd_below(l->size_lg2 - 11);
		len = (1 + rnd_below(4)) << lg2;
	} else if (r < 90) {
		uint64_t off = rnd_below(WINDOW >> 21) << 21;
		va = c->cfg->wbase + off;
		len = (1 + rnd_below(64)) << 21;
	} else {
		/* A large stretch, ends anywhere on a 4K boundary. */
		uint64_t off = rnd_below(WINDOW >> 12) << 12;
		va = c->cfg->wbase + off;
		len = (1 + rnd_below(1ull << 18)) << 12;
	}
	uint64_t off = va - c->cfg->wbase;
	if (len > WINDOW - off)
		len = WINDOW - off;
	uint64_t last = va + (len - 1);
	unsigned int flags = chance(55) ? PT_UNMAP_SPLIT : 0;
	bool cut = mcuts(&c->m, va) ||
		   (last != ~0ull && mcuts(&c->m, last + 1));
	/* Splitting both ends may add up to 2 x 1023 leaves. */
	if (cut && flags &&
	    c->m.n + msplit_cost(&c->m, va) +
	    (last != ~0ull ? msplit_cost(&c->m, last + 1) : 0) > LEAF_TRIM + 600)
		flags = 0;
	snprintf(c->op, sizeof(c->op), "unmap va %#" PRIx64 " len %#" PRIx64
		 " flags %u%s", va, len, flags, cut ? " (cuts a leaf)" : "");

	bool nomem = cut && flags && maybe_nomem(c);
	if ((cut && !flags) || nomem)
		snap_take(c);
	uint64_t deferred = c->mem.ndeferred;
	struct pt_gather g;
	pt_gather_init(&g);
	uint64_t unmapped = 0xdead;
	int err = pt_unmap_range(&c->t, va, len, flags, &g, &unmapped);
	c->mem.fail_after = -1;
	c->n_unmap++;
	if (cut && !flags) {
		CHECK(c, err == -PT_EINVAL, "unmap cutting a leaf gave %d", err);
		CHECK(c, unmapped == 0xdead, "failed unmap wrote *unmapped");
		snap_check(c);
		c->n_unmap_cut++;
	} else if (nomem && err == -PT_ENOMEM) {
		snap_check(c);
		c->n_nomem++;
	} else {
		CHECK(c, err == 0, "unmap gave %d", err);
		snap_drop(c);
		if (cut)
			c->n_unmap_split++;
		uint8_t levels = msplit_to(&c->m, va);
		if (last != ~0ull)
			levels |= msplit_to(&c->m, last + 1);
		size_t i = mlower(&c->m, va), j = i;
		uint64_t bytes = 0;
		while (j < c->m.n && c->m.v[j].va <= last) {
			bytes += 1ull << c->m.v[j].size_lg2;
			levels |= (uint8_t)(1u << c->m.v[j].level);
			j++;
		}
		/* The caller invalidates by these: none may be missing. */
		CHECK(c, (g.leaf_levels & levels) == levels,
		      "gather leaf_levels %#x, leaves changed at levels %#x",
		      g.leaf_levels, levels);
		CHECK(c, !g.nr_deferred || g.tables_changed,
		      "tables retired but tables_changed not set");
		msplice(&c->m, i, j - i, NULL, 0);
		CHECK(c, unmapped == bytes, "unmapped %#" PRIx64 ", model %#"
		      PRIx64, unmapped, bytes);
		CHECK(c, g.nr_deferred == c->mem.ndeferred - deferred,
		      "gather counts %u deferred pages, allocator %" PRIu64,
		      g.nr_deferred, c->mem.ndeferred - deferred);
		if (bytes)
			CHECK(c, !pt_gather_empty(&g) && g.va <= va &&
			      g.last >= last, "gather misses the range");
	}
	check_after(c, va, last);
}

static void op_split(struct ctx *c)
{
	uint64_t va;
	if (c->m.n && chance(90)) {
		/* Mostly look for something splittable: random leaves are
		 * mostly 4K ones. */
		const struct mleaf *l = &c->m.v[rnd_below(c->m.n)];
		for (int t = chance(80) ? 8 : 0; t > 0 && !l->contig && !l->level; t--)
			l = &c->m.v[rnd_below(c->m.n)];
		if (!l->contig && l->level &&
		    (c->m.n > LEAF_CAP || (c->m.n > LEAF_CAP / 2 && chance(50))))
			return;
		va = l->va + rnd_below(1ull << l->size_lg2);
	} else {
		va = c->cfg->wbase + rnd_below(WINDOW);
	}
	long i = mfind(&c->m, va);
	int want = i < 0 ? -PT_ENOENT :
		   (!c->m.v[i].contig && c->m.v[i].level == 0) ? -PT_EINVAL : 0;
	snprintf(c->op, sizeof(c->op), "split va %#" PRIx64 " (want %d)", va,
		 want);
	bool nomem = !want && !c->m.v[i].contig && maybe_nomem(c);
	if (want || nomem)
		snap_take(c);
	uint64_t tables = c->t.nr_tables;
	struct pt_gather g;
	pt_gather_init(&g);
	int err = pt_split(&c->t, va, &g);
	c->mem.fail_after = -1;
	c->n_split++;
	if (nomem && err == -PT_ENOMEM) {
		snap_check(c);
		c->n_nomem++;
	} else {
		CHECK(c, err == want, "split gave %d", err);
		if (want) {
			snap_check(c);
		} else {
			snap_drop(c);
			const struct mleaf l = c->m.v[i];
			CHECK(c, c->t.nr_tables == tables + !l.contig,
			      "split of a %s added %" PRIu64 " tables",
			      l.contig ? "run" : "block", c->t.nr_tables - tables);
			CHECK(c, g.va <= l.va && g.last >= mlast(&l),
			      "gather misses the split leaf");
			CHECK(c, g.leaf_levels & (1u << l.level),
			      "gather leaf_levels %#x misses level %u",
			      g.leaf_levels, l.level);
			msplit(&c->m, (size_t)i);
			unsigned int slot = c->nsplit_seen++ % 16;
			c->split_va[slot] = l.va;
			c->split_lg2[slot] = l.size_lg2;
		}
	}
	check_after(c, va & ~(SZ_4K - 1), va | (SZ_4K - 1));
}

/* What pt_join should do, and the model after it. With !same_prot,
 * whether the range would be joinable if protections did not count. */
static int join_check(const struct ctx *c, uint64_t va, unsigned int lg2,
		      size_t *first, size_t *count, bool same_prot)
{
	const struct fsize *s = size_info(c, lg2);
	if (!s)
		return -PT_EOPNOTSUPP;
	uint64_t size = 1ull << lg2;
	if (va & (size - 1))
		return -PT_EINVAL;
	/* A size of a level above the top (a concatenated start level). */
	if (s->level > c->t.top_level)
		return -PT_EOPNOTSUPP;
	long i = mfind(&c->m, va);
	if (i < 0)
		return -PT_EINVAL;
	const struct mleaf *f = &c->m.v[i];
	if (f->size_lg2 > lg2 || (f->oa & (size - 1)))
		return -PT_EINVAL;
	*first = (size_t)i;
	*count = 0;
	if (f->size_lg2 == lg2)
		return 0;
	uint64_t last = va + (size - 1), expect = va;
	size_t j = (size_t)i;
	for (; j < c->m.n && c->m.v[j].va <= last; j++) {
		const struct mleaf *l = &c->m.v[j];
		if (l->va != expect || l->oa != f->oa + (l->va - va) ||
		    (same_prot && l->prot != f->prot))
			return -PT_EINVAL;
		expect = mlast(l) + 1;
	}
	if (expect - 1 != last)
		return -PT_EINVAL;
	*count = j - (size_t)i;
	return 0;
}

static int join_expect(const struct ctx *c, uint64_t va, unsigned int lg2,
		       size_t *first, size_t *count)
{
	return join_check(c, va, lg2, first, count, true);
}

static void op_join(struct ctx *c)
{
	uint64_t va;
	unsigned int lg2;
	unsigned int r = (unsigned int)rnd_below(100);
	if (r < 45 && c->nsplit_seen) {
		/* Mostly the latest split, before other calls break it. */
		unsigned int slot = chance(60) ? (c->nsplit_seen - 1) % 16 :
			(unsigned int)rnd_below(c->nsplit_seen < 16 ?
						c->nsplit_seen : 16);
		va = c->split_va[slot];
		lg2 = c->split_lg2[slot];
	} else if (r < 85 && c->m.n) {
		/* Around a random leaf, one of the next two sizes up; most
		 * of the time look a little for a range that can merge. */
		unsigned int tries = chance(70) ? 16 : 1;
		for (unsigned int t = 0; t < tries; t++) {
			const struct mleaf *l = &c->m.v[rnd_below(c->m.n)];
			unsigned int k = 0;
			while (k < c->nsizes && c->sizes[k].lg2 <= l->size_lg2)
				k++;
			if (k == c->nsizes)
				return;
			if (k + 1 < c->nsizes && chance(30))
				k++;
			lg2 = c->sizes[k].lg2;
			va = l->va & ~((1ull << lg2) - 1);
			/* Joinable, or linear with mixed protections (which
			 * must be refused). */
			size_t f, n;
			if (!join_check(c, va, lg2, &f, &n, chance(70)) && n)
				break;
		}
		if (chance(5))
			va += SZ_4K;  /* misaligned */
	} else if (r < 93) {
		/* Sizes no level of the format can hold (of 8K, 4M, 32G
		 * and 512G: AMD has the first two, none has the others). */
		static const unsigned int odd[] = { 13, 22, 35, 39 };
		uint64_t have = pt_fmt_pgsizes(c->cfg->fmt);
		do
			lg2 = odd[rnd_below(4)];
		while ((have >> lg2) & 1);
		va = c->cfg->wbase;
	} else {
		lg2 = c->sizes[rnd_below(c->nsizes)].lg2;
		va = (c->cfg->wbase + rnd_below(WINDOW)) & ~((1ull << lg2) - 1);
	}
	size_t first = 0, count = 0;
	int want = join_expect(c, va, lg2, &first, &count);
	size_t f2, n2;
	if (want && !join_check(c, va, lg2, &f2, &n2, false))
		c->n_join_prot++;
	snprintf(c->op, sizeof(c->op), "join va %#" PRIx64 " size 2^%u (want %d, %zu leaves)",
		 va, lg2, want, count);
	if (want || !count)
		snap_take(c);
	uint64_t deferred = c->mem.ndeferred;
	struct pt_gather g;
	pt_gather_init(&g);
	int err = pt_join(&c->t, va, lg2, &g);
	c->n_join++;
	CHECK(c, err == want, "join gave %d", err);
	if (want || !count) {
		snap_check(c);
	} else {
		snap_drop(c);
		c->n_join_ok++;
		const struct fsize *s = size_info(c, lg2);
		struct mleaf l = { .va = va, .oa = c->m.v[first].oa,
				   .size_lg2 = lg2, .level = s->level,
				   .contig = s->contig,
				   .prot = c->m.v[first].prot };
		uint8_t levels = 0;
		for (size_t k = first; k < first + count; k++)
			levels |= (uint8_t)(1u << c->m.v[k].level);
		msplice(&c->m, first, count, &l, 1);
		CHECK(c, (g.leaf_levels & levels) == levels,
		      "gather leaf_levels %#x, replaced leaves at levels %#x",
		      g.leaf_levels, levels);
		CHECK(c, !g.nr_deferred || g.tables_changed,
		      "tables retired but tables_changed not set");
		CHECK(c, g.nr_deferred == c->mem.ndeferred - deferred,
		      "gather counts %u deferred pages, allocator %" PRIu64,
		      g.nr_deferred, c->mem.ndeferred - deferred);
		CHECK(c, g.va <= va && g.last >= mlast(&l),
		      "gather misses the joined range");
	}
	uint64_t cva = va < c->cfg->wbase ? c->cfg->wbase : va;
	check_after(c, cva, cva | (SZ_4K - 1));
}

/* ---- driver ------------------------------------------------------------ */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* A call that never returns is a failure too: say which one. */
static const struct ctx *watched;

static void watchdog(int sig)
{
	(void)sig;
	char msg[400];
	int n = snprintf(msg, sizeof(msg), "watchdog: [%s] seed %#" PRIx64
			 " step %u, %s: no progress for %u s\n",
			 watched->cfg->name, watched->seed, watched->step,
			 watched->op, WATCHDOG_S);
	if (write(2, msg, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

static void run_cfg(const struct rcfg *cfg)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->cfg = cfg;
	c->seed = env_u64("PT_RANDOM_SEED", cfg->seed);
	rng_state = c->seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned int steps = (unsigned int)env_u64("PT_RANDOM_STEPS", cfg->steps);
	snprintf(c->op, sizeof(c->op), "init");
	watched = c;
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);

	bool arm = cfg->fmt == PT_FMT_ARM_S1 || cfg->fmt == PT_FMT_ARM_S2;
	uint64_t all;
	if (arm) {
		c->sizes = arm_sizes;
		c->nsizes = sizeof(arm_sizes) / sizeof(arm_sizes[0]);
		all = ALL_ARM;
	} else if (cfg->fmt == PT_FMT_AMD_V1) {
		c->sizes = amd_sizes;
		c->nsizes = sizeof(amd_sizes) / sizeof(amd_sizes[0]);
		all = ALL_AMD;
	} else if (cfg->fmt == PT_FMT_RISCV) {
		c->sizes = riscv_sizes;
		c->nsizes = sizeof(riscv_sizes) / sizeof(riscv_sizes[0]);
		all = ALL_RISCV;
	} else {
		c->sizes = x86_sizes;
		c->nsizes = sizeof(x86_sizes) / sizeof(x86_sizes[0]);
		all = ALL_X86;
	}
	/* Nothing at or above the top level's reach. */
	unsigned int levels = (unsigned int)pt_fmt_levels_for(cfg->fmt,
							      cfg->va_bits);
	if (12 + 9 * levels < 64)
		all &= (1ull << (12 + 9 * levels)) - 1;
	c->pgsizes = cfg->pgsizes ? cfg->pgsizes : all;
	for (uint32_t p = 0; p <= PT_PROT_ALL; p++)
		if (prot_ok(cfg->fmt, p))
			c->prots[c->nprots++] = p;

	assert_int_equal(ptm_init(&c->mem, ARENA_PAGES, 0x4000000000ull), 0);
	unsigned int oa_bits = arm ? 48 : 52;
	oa_top_base = (1ull << oa_bits) - (2ull << 40);
	struct pt_cfg pcfg = { .fmt = cfg->fmt, .va_bits = cfg->va_bits,
			       .oa_bits = oa_bits, .pgsizes = cfg->pgsizes };
	assert_int_equal(pt_init(&c->t, &pcfg, &c->mem.ops, &c->mem), 0);
	CHECK(c, c->t.pgsizes == c->pgsizes, "effective pgsizes %#" PRIx64
	      ", expected %#" PRIx64, c->t.pgsizes, c->pgsizes);

	for (c->step = 1; c->step <= steps; c->step++) {
		unsigned int r = (unsigned int)rnd_below(100);
		if (r < 35)
			op_map(c);
		else if (r < 65)
			op_unmap(c);
		else if (r < 80)
			op_split(c);
		else if (r < 95)
			op_join(c);
		else
			ptm_invalidate_done(&c->mem);
		/* Too many leaves: clear a random gigabyte. */
		if (c->m.n > LEAF_TRIM) {
			uint64_t va = c->cfg->wbase +
				      (rnd_below(WINDOW >> 30) << 30);
			uint64_t un;
			snprintf(c->op, sizeof(c->op), "trim %#" PRIx64, va);
			CHECK(c, pt_unmap_range(&c->t, va, SZ_1G, PT_UNMAP_SPLIT,
						NULL, &un) == 0, "trim failed");
			msplit_to(&c->m, va);
			if (va + SZ_1G - 1 != ~0ull)
				msplit_to(&c->m, va + SZ_1G);
			size_t i = mlower(&c->m, va), j = i;
			while (j < c->m.n && c->m.v[j].va <= va + SZ_1G - 1)
				j++;
			msplice(&c->m, i, j - i, NULL, 0);
			check_after(c, va, va + SZ_1G - 1);
		}
	}

	/* Everything goes; only the top table stays. */
	c->step = steps + 1;
	snprintf(c->op, sizeof(c->op), "final unmap");
	uint64_t total = 0, un = 0;
	for (size_t i = 0; i < c->m.n; i++)
		total += 1ull << c->m.v[i].size_lg2;
	assert_int_equal(pt_unmap_range(&c->t, cfg->wbase, WINDOW, 0, NULL, &un), 0);
	CHECK(c, un == total, "final unmap %#" PRIx64 ", model %#" PRIx64, un,
	      total);
	c->m.n = 0;
	check_after(c, cfg->wbase, cfg->wbase + (WINDOW - 1));
	check_tree(c);
	CHECK(c, c->t.nr_tables == 1ull << c->t.top_lg2, "%" PRIu64 " tables left",
	      c->t.nr_tables);
	pt_deinit(&c->t);
	ptm_invalidate_done(&c->mem);
	CHECK(c, c->mem.in_use == 0, "%" PRIu64 " table pages leaked",
	      c->mem.in_use);

	print_message("  %-36s %5u steps: map %lu (%lu EEXIST), unmap %lu "
		      "(%lu refused cuts, %lu split), split %lu, join %lu (%lu "
		      "merged, %lu refused for prot), ENOMEM %lu; leaves 4K %lu 64K %lu 2M %lu 32M %lu "
		      "1G %lu\n", cfg->name, steps, c->n_map, c->n_map_fail,
		      c->n_unmap, c->n_unmap_cut, c->n_unmap_split, c->n_split,
		      c->n_join, c->n_join_ok, c->n_join_prot, c->n_nomem, c->leaves_by_lg2[12],
		      c->leaves_by_lg2[16], c->leaves_by_lg2[21],
		      c->leaves_by_lg2[25], c->leaves_by_lg2[30]);
	/* The run must have reached the cases it is for. */
	assert_true(c->n_map_fail > 0 && c->n_unmap_cut > 0 &&
		    c->n_unmap_split > 0 && c->n_join_ok > 0);
	alarm(0);
	ptm_destroy(&c->mem);
	free(c->m.v);
	free(c);
}

static void test_arm(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcfgs) / sizeof(rcfgs[0]); i++)
		if (rcfgs[i].fmt == PT_FMT_ARM_S1 || rcfgs[i].fmt == PT_FMT_ARM_S2)
			run_cfg(&rcfgs[i]);
}

static void test_vtd(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcfgs) / sizeof(rcfgs[0]); i++)
		if (rcfgs[i].fmt == PT_FMT_VTD_SS)
			run_cfg(&rcfgs[i]);
}

static void test_x86(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcfgs) / sizeof(rcfgs[0]); i++)
		if (rcfgs[i].fmt == PT_FMT_X86_64)
			run_cfg(&rcfgs[i]);
}

static void test_amd(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcfgs) / sizeof(rcfgs[0]); i++)
		if (rcfgs[i].fmt == PT_FMT_AMD_V1)
			run_cfg(&rcfgs[i]);
}

static void test_riscv(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcfgs) / sizeof(rcfgs[0]); i++)
		if (rcfgs[i].fmt == PT_FMT_RISCV)
			run_cfg(&rcfgs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arm),
		cmocka_unit_test(test_vtd),
		cmocka_unit_test(test_x86),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_riscv),
	};
	return cmocka_run_group_tests_name("pt_random", tests, NULL, NULL);
}
