// SPDX-License-Identifier: MIT
/*
 * pt layout operations: split and join keep every translation; diff tells
 * same / granule / translation apart; reconcile makes a new table's layout
 * equal an old one's wherever they translate alike (contiguous runs,
 * block vs table) and leaves real differences alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "tests/lib/pt_testmem.h"

#define SZ_4K 0x1000ull
#define SZ_64K 0x10000ull
#define SZ_2M 0x200000ull
#define SZ_32M 0x2000000ull
#define SZ_1G 0x40000000ull
#define RW (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)

/* Profiles as kernel versions would build them. */
#define V1_SIZES (PT_SZ_4K | PT_SZ_2M | PT_SZ_1G)
#define V2_SIZES (V1_SIZES | PT_SZ_64K | PT_SZ_32M)

struct tbl {
	struct pt_testmem mem;
	struct pt_table t;
};

static void tbl_init(struct tbl *x, enum pt_format_id fmt, uint64_t sizes,
		     uint64_t base_pa)
{
	assert_int_equal(ptm_init(&x->mem, 4096, base_pa), 0);
	struct pt_cfg cfg = { .fmt = fmt, .va_bits = 48, .oa_bits = 48,
			      .pgsizes = sizes };
	assert_int_equal(pt_init(&x->t, &cfg, &x->mem.ops, &x->mem), 0);
}

static void tbl_fini(struct tbl *x)
{
	pt_deinit(&x->t);
	ptm_invalidate_done(&x->mem);
	assert_int_equal(x->mem.in_use, 0);
	ptm_destroy(&x->mem);
}

struct ranges {
	struct pt_diff_range r[64];
	unsigned int n;
};

static int collect(void *arg, const struct pt_diff_range *r)
{
	struct ranges *rs = arg;
	assert_true(rs->n < 64);
	rs->r[rs->n++] = *r;
	return 0;
}

static struct ranges diff_all(const struct tbl *a, const struct tbl *b)
{
	struct ranges rs = { .n = 0 };
	assert_int_equal(pt_diff(&a->t, &b->t, 0, (1ull << 48) - 1, collect, &rs), 0);
	return rs;
}

static unsigned int count_kind(const struct ranges *rs, enum pt_diff_kind k)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < rs->n; i++)
		n += rs->r[i].kind == k;
	return n;
}

/* Every translation of a equals b's, sampled every 4K over [va, va+len). */
static void assert_same_translations(const struct tbl *a, const struct tbl *b,
				     uint64_t va, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += SZ_4K) {
		pt_oaddr_t pa, pb;
		int ea = pt_iova_to_phys(&a->t, va + off, &pa);
		int eb = pt_iova_to_phys(&b->t, va + off, &pb);
		assert_int_equal(ea, eb);
		if (!ea)
			assert_int_equal(pa, pb);
	}
}

/* Guest-like intent: a 2M-aligned region, a 64K-aligned one, a 4K tail. */
static void map_intent(struct tbl *x)
{
	assert_int_equal(pt_map_range(&x->t, 0x40000000, 0x100000000ull,
				      SZ_32M + 3 * SZ_2M, RW, NULL), 0);
	assert_int_equal(pt_map_range(&x->t, 0x80010000, 0x200010000ull,
				      5 * SZ_64K + 3 * SZ_4K, RW, NULL), 0);
}

static void test_diff_same(void **state)
{
	(void)state;
	struct tbl a, b;
	tbl_init(&a, PT_FMT_ARM_S2, V2_SIZES, 0x10000000);
	tbl_init(&b, PT_FMT_ARM_S2, V2_SIZES, 0x20000000);
	map_intent(&a);
	map_intent(&b);
	struct ranges rs = diff_all(&a, &b);
	/* Two mapped regions, each one SAME range; unmapped space skipped. */
	assert_int_equal(rs.n, 2);
	assert_int_equal(count_kind(&rs, PT_DIFF_SAME), 2);
	assert_int_equal(rs.r[0].va, 0x40000000);
	assert_int_equal(rs.r[0].last, 0x40000000 + SZ_32M + 3 * SZ_2M - 1);
	tbl_fini(&a);
	tbl_fini(&b);
}

/* v1 (no contiguous runs) against v2: same translations, other layout. */
static void test_diff_contig_granule(void **state)
{
	(void)state;
	struct tbl v1, v2;
	tbl_init(&v1, PT_FMT_ARM_S2, V1_SIZES, 0x10000000);
	tbl_init(&v2, PT_FMT_ARM_S2, V2_SIZES, 0x20000000);
	map_intent(&v1);
	map_intent(&v2);
	struct ranges rs = diff_all(&v1, &v2);
	assert_int_equal(count_kind(&rs, PT_DIFF_TRANSLATION), 0);
	assert_true(count_kind(&rs, PT_DIFF_GRANULE) >= 2);
	/* The 32M run is granule, the trailing 3 x 2M blocks are the same. */
	assert_int_equal(rs.r[0].kind, PT_DIFF_GRANULE);
	assert_int_equal(rs.r[0].va, 0x40000000);
	assert_int_equal(rs.r[0].last, 0x40000000 + SZ_32M - 1);
	assert_int_equal(rs.r[1].kind, PT_DIFF_SAME);
	tbl_fini(&v1);
	tbl_fini(&v2);
}

static void test_diff_translation(void **state)
{
	(void)state;
	struct tbl a, b;
	tbl_init(&a, PT_FMT_VTD_SS, 0, 0x10000000);
	tbl_init(&b, PT_FMT_VTD_SS, 0, 0x20000000);
	assert_int_equal(pt_map_range(&a.t, 0, 0x40000000, SZ_2M, RW, NULL), 0);
	assert_int_equal(pt_map_range(&b.t, 0, 0x40000000, SZ_1G / 2, RW, NULL), 0);
	/* Another output, other permissions, and only-in-one ranges. */
	assert_int_equal(pt_map_range(&a.t, SZ_1G, 0x80000000, SZ_4K, RW, NULL), 0);
	assert_int_equal(pt_map_range(&b.t, SZ_1G, 0x80001000, SZ_4K, RW, NULL), 0);
	assert_int_equal(pt_map_range(&a.t, 2 * SZ_1G, 0x80000000, SZ_4K, RW, NULL), 0);
	assert_int_equal(pt_map_range(&b.t, 2 * SZ_1G, 0x80000000, SZ_4K, PT_PROT_READ, NULL), 0);
	struct ranges rs = diff_all(&a, &b);
	assert_int_equal(rs.n, 4);
	assert_int_equal(rs.r[0].kind, PT_DIFF_SAME);
	assert_int_equal(rs.r[0].last, SZ_2M - 1);
	assert_int_equal(rs.r[1].kind, PT_DIFF_TRANSLATION); /* only in b */
	assert_int_equal(rs.r[1].va, SZ_2M);
	assert_int_equal(rs.r[1].last, SZ_1G / 2 - 1);
	assert_int_equal(rs.r[2].kind, PT_DIFF_TRANSLATION);
	assert_int_equal(rs.r[2].va, SZ_1G);
	assert_int_equal(rs.r[3].kind, PT_DIFF_TRANSLATION);
	assert_int_equal(rs.r[3].va, 2 * SZ_1G);
	tbl_fini(&a);
	tbl_fini(&b);
}

/* Split a 1G block to 2M, one 2M to 4K, then join back: same bytes. */
static void test_split_join_roundtrip(void **state)
{
	(void)state;
	struct tbl x;
	tbl_init(&x, PT_FMT_X86_64, 0, 0x10000000);
	assert_int_equal(pt_map_range(&x.t, SZ_1G, 0x3c0000000ull, SZ_1G, RW, NULL), 0);
	uint64_t pdpte_before;
	struct pt_leaf l;
	assert_int_equal(pt_leaf_at(&x.t, SZ_1G, &l), 0);
	assert_int_equal(l.size_lg2, 30);
	uint64_t *l3 = x.mem.ops.phys_to_virt(&x.mem, x.t.top[0] & 0xffffffffff000ull);
	pdpte_before = l3[1];

	struct pt_gather g;
	pt_gather_init(&g);
	assert_int_equal(pt_split(&x.t, SZ_1G + 5 * SZ_2M, &g), 0);
	assert_int_equal(pt_leaf_at(&x.t, SZ_1G + 5 * SZ_2M, &l), 0);
	assert_int_equal(l.size_lg2, 21);
	assert_true(g.leaf_levels & (1u << 2));
	assert_int_equal(pt_split(&x.t, SZ_1G + 5 * SZ_2M + 0x3000, &g), 0);
	assert_int_equal(pt_leaf_at(&x.t, SZ_1G + 5 * SZ_2M + 0x3000, &l), 0);
	assert_int_equal(l.size_lg2, 12);
	assert_int_equal(l.oa, 0x3c0000000ull + 5 * SZ_2M + 0x3000);
	/* A 4K leaf cannot be split further. */
	assert_int_equal(pt_split(&x.t, SZ_1G + 5 * SZ_2M, &g), -PT_EINVAL);
	/* PML4, PDPT, the 2M split's PD and the 4K split's PT. */
	assert_int_equal(x.t.nr_tables, 4);

	pt_gather_init(&g);
	assert_int_equal(pt_join(&x.t, SZ_1G, 30, &g), 0);
	assert_int_equal(l3[1], pdpte_before);
	assert_true(g.tables_changed);
	assert_int_equal(g.nr_deferred, 2);
	assert_int_equal(x.t.nr_tables, 2);
	/* Joined tables wait for invalidation before they are freed. */
	assert_int_equal(x.mem.ndeferred, 2);
	ptm_invalidate_done(&x.mem);
	/* Joining what is already one leaf is a no-op. */
	assert_int_equal(pt_join(&x.t, SZ_1G, 30, NULL), 0);
	tbl_fini(&x);
}

static void test_join_refuses(void **state)
{
	(void)state;
	struct tbl x;
	tbl_init(&x, PT_FMT_ARM_S1, 0, 0x10000000);
	/* Not linear: the second 1M maps below the first. */
	assert_int_equal(pt_map_range(&x.t, 0, 0x40100000, SZ_2M / 2, RW, NULL), 0);
	assert_int_equal(pt_map_range(&x.t, SZ_2M / 2, 0x40000000, SZ_2M / 2, RW, NULL), 0);
	/* A hole. */
	assert_int_equal(pt_map_range(&x.t, SZ_1G, 0x80000000, SZ_2M - SZ_4K, RW, NULL), 0);
	/* Mixed permissions. */
	assert_int_equal(pt_map_range(&x.t, 2 * SZ_1G, 0x80000000, SZ_1G / 2, RW, NULL), 0);
	assert_int_equal(pt_map_range(&x.t, 2 * SZ_1G + SZ_1G / 2, 0x80000000 + SZ_1G / 2,
				      SZ_1G / 2, PT_PROT_READ, NULL), 0);
	/* Output not aligned to the joined size. */
	assert_int_equal(pt_map_range(&x.t, 3 * SZ_1G, 0x80001000, SZ_64K, RW, NULL), 0);

	uint8_t *snap = malloc(x.mem.pages * PT_TABLE_SIZE);
	assert_non_null(snap);
	memcpy(snap, x.mem.base, x.mem.pages * PT_TABLE_SIZE);
	assert_int_equal(pt_join(&x.t, 0, 21, NULL), -PT_EINVAL);
	assert_int_equal(pt_join(&x.t, SZ_1G, 21, NULL), -PT_EINVAL);
	assert_int_equal(pt_join(&x.t, 2 * SZ_1G, 30, NULL), -PT_EINVAL);
	assert_int_equal(pt_join(&x.t, 3 * SZ_1G, 16, NULL), -PT_EINVAL);
	assert_int_equal(pt_join(&x.t, 3 * SZ_1G + SZ_4K, 16, NULL), -PT_EINVAL);
	assert_int_equal(pt_join(&x.t, 4 * SZ_1G, 21, NULL), -PT_EINVAL); /* unmapped */
	assert_int_equal(pt_join(&x.t, 0, 13, NULL), -PT_EOPNOTSUPP);      /* no 8K leaf */
	assert_memory_equal(snap, x.mem.base, x.mem.pages * PT_TABLE_SIZE);
	free(snap);
	/* Joining part of a larger leaf is a split, not a join. */
	assert_int_equal(pt_map_range(&x.t, 5 * SZ_1G, 0x80000000, SZ_1G, RW, NULL), 0);
	assert_int_equal(pt_join(&x.t, 5 * SZ_1G, 21, NULL), -PT_EINVAL);
	tbl_fini(&x);
}

/* v2 (contiguous) rebuilt table reconciled to a v1 layout, and back. */
static void test_reconcile_contig_both_ways(void **state)
{
	(void)state;
	for (int dir = 0; dir < 2; dir++) {
		struct tbl old, nt;
		tbl_init(&old, PT_FMT_ARM_S2, dir ? V2_SIZES : V1_SIZES, 0x10000000);
		tbl_init(&nt, PT_FMT_ARM_S2, dir ? V1_SIZES : V2_SIZES, 0x20000000);
		map_intent(&old);
		map_intent(&nt);
		struct ranges before = diff_all(&nt, &old);
		assert_true(count_kind(&before, PT_DIFF_GRANULE) > 0);

		struct pt_gather g;
		struct pt_reconcile_stats st;
		pt_gather_init(&g);
		assert_int_equal(pt_reconcile(&nt.t, &old.t, &g, &st), 0);
		struct ranges after = diff_all(&nt, &old);
		assert_int_equal(count_kind(&after, PT_DIFF_GRANULE), 0);
		assert_int_equal(count_kind(&after, PT_DIFF_TRANSLATION), 0);
		assert_int_equal(st.mismatch_bytes, 0);
		assert_true(st.granule_bytes >= SZ_32M);
		if (dir)
			assert_true(st.joins > 0); /* v1 table gains runs */
		else
			assert_true(st.splits > 0); /* v2 runs broken up */
		assert_same_translations(&nt, &old, 0x40000000, SZ_32M + 3 * SZ_2M);
		assert_same_translations(&nt, &old, 0x80000000, SZ_2M);
		tbl_fini(&old);
		tbl_fini(&nt);
	}
}

/* Block vs table: old kernel mapped in pieces (4K), new one coalesced. */
static void test_reconcile_block_table(void **state)
{
	(void)state;
	struct tbl old, nt;
	tbl_init(&old, PT_FMT_VTD_SS, 0, 0x10000000);
	tbl_init(&nt, PT_FMT_VTD_SS, 0, 0x20000000);
	/* Old: the first 2M in 4K calls, a 1G region as 2M blocks. */
	for (uint64_t off = 0; off < SZ_2M; off += SZ_4K)
		assert_int_equal(pt_map_range(&old.t, SZ_1G + off, 0x80000000 + off,
					      SZ_4K, RW, NULL), 0);
	for (uint64_t off = 0; off < SZ_1G; off += SZ_2M)
		assert_int_equal(pt_map_range(&old.t, 4 * SZ_1G + off, 0x100000000ull + off,
					      SZ_2M, RW, NULL), 0);
	/* New: one call each, so a 2M block and a 1G block. */
	assert_int_equal(pt_map_range(&nt.t, SZ_1G, 0x80000000, SZ_2M, RW, NULL), 0);
	assert_int_equal(pt_map_range(&nt.t, 4 * SZ_1G, 0x100000000ull, SZ_1G, RW, NULL), 0);
	/* And a real difference reconcile must leave alone. */
	assert_int_equal(pt_map_range(&old.t, 8 * SZ_1G, 0x200000000ull, SZ_2M, RW, NULL), 0);
	assert_int_equal(pt_map_range(&nt.t, 8 * SZ_1G, 0x200200000ull, SZ_2M, RW, NULL), 0);

	struct pt_reconcile_stats st;
	assert_int_equal(pt_reconcile(&nt.t, &old.t, NULL, &st), 0);
	assert_int_equal(st.splits, 2);            /* 1G -> 2M, 2M -> 4K */
	assert_int_equal(st.mismatch_bytes, SZ_2M);
	struct ranges after = diff_all(&nt, &old);
	assert_int_equal(count_kind(&after, PT_DIFF_GRANULE), 0);
	assert_int_equal(count_kind(&after, PT_DIFF_TRANSLATION), 1);
	assert_same_translations(&nt, &old, SZ_1G, SZ_2M);
	/* The other way: joins. */
	assert_int_equal(pt_reconcile(&old.t, &nt.t, NULL, &st), 0);
	assert_int_equal(st.joins, 0); /* already equal now */
	tbl_fini(&old);
	tbl_fini(&nt);
}

static void test_reconcile_joins_blocks(void **state)
{
	(void)state;
	struct tbl old, nt;
	tbl_init(&old, PT_FMT_ARM_S2, V2_SIZES, 0x10000000);
	tbl_init(&nt, PT_FMT_ARM_S2, V2_SIZES, 0x20000000);
	assert_int_equal(pt_map_range(&old.t, 0, 0x40000000, SZ_1G, RW, NULL), 0);
	for (uint64_t off = 0; off < SZ_1G; off += SZ_64K)
		assert_int_equal(pt_map_range(&nt.t, off, 0x40000000 + off, SZ_64K, RW, NULL), 0);
	struct pt_gather g;
	struct pt_reconcile_stats st;
	pt_gather_init(&g);
	assert_int_equal(pt_reconcile(&nt.t, &old.t, &g, &st), 0);
	assert_int_equal(st.joins, 1);
	assert_int_equal(st.granule_bytes, SZ_1G);
	assert_int_equal(nt.t.nr_tables, 2);   /* top and the table holding the 1G block */
	assert_int_equal(g.nr_deferred, 1 + 512);
	struct ranges after = diff_all(&nt, &old);
	assert_int_equal(after.n, 1);
	assert_int_equal(after.r[0].kind, PT_DIFF_SAME);
	tbl_fini(&old);
	tbl_fini(&nt);
}

static int stop_at_first(void *arg, const struct pt_diff_range *r)
{
	(void)r;
	(*(int *)arg)++;
	return 42;
}

static void test_diff_bad_args(void **state)
{
	(void)state;
	struct tbl a, b;
	tbl_init(&a, PT_FMT_ARM_S2, 0, 0x10000000);
	tbl_init(&b, PT_FMT_ARM_S1, 0, 0x20000000);
	int calls = 0;
	assert_int_equal(pt_diff(&a.t, &b.t, 0, ~0ull, stop_at_first, &calls), -PT_EINVAL);
	assert_int_equal(pt_reconcile(&a.t, &b.t, NULL, NULL), -PT_EINVAL);
	assert_int_equal(pt_map_range(&a.t, 0, 0, SZ_2M, RW, NULL), 0);
	assert_int_equal(pt_map_range(&a.t, SZ_1G, 0, SZ_2M, RW, NULL), 0);
	/* The callback's non-zero return stops the walk and is returned. */
	assert_int_equal(pt_diff(&a.t, &a.t, 0, (1ull << 48) - 1, stop_at_first, &calls), 42);
	assert_int_equal(calls, 1);
	tbl_fini(&a);
	tbl_fini(&b);
}

/* Claims table pages into a small set; a second claim of one page fails. */
struct claims {
	uint64_t pa[64];
	unsigned int n;
};

static int claim_once(void *arg, pt_oaddr_t pa, unsigned int level)
{
	struct claims *c = arg;
	(void)level;
	for (unsigned int i = 0; i < c->n; i++)
		if (c->pa[i] == pa)
			return -PT_EEXIST;
	assert_true(c->n < 64);
	c->pa[c->n++] = pa;
	return 0;
}

static int count_table(void *arg, pt_oaddr_t pa, unsigned int level)
{
	(void)pa;
	(void)level;
	(*(unsigned int *)arg)++;
	return 0;
}

/* A preserved table adopted after a full check; damage of every kind is
 * refused with the IOVA of the bad entry. */
static void test_adopt(void **state)
{
	(void)state;
	struct tbl x;
	tbl_init(&x, PT_FMT_ARM_S2, V2_SIZES, 0x10000000);
	map_intent(&x);
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S2, .va_bits = 48, .oa_bits = 48 };
	struct pt_table ad;
	struct claims c = { .n = 0 };
	pt_vaddr_t bad = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), 0);
	assert_int_equal(ad.nr_tables, x.t.nr_tables);
	assert_int_equal(c.n, x.t.nr_tables);
	unsigned int pages = 0;
	assert_int_equal(pt_for_each_table(&ad, count_table, &pages), 0);
	assert_int_equal(pages, x.t.nr_tables);
	struct ranges rs = { .n = 0 };
	assert_int_equal(pt_diff(&ad, &x.t, 0, (1ull << 48) - 1, collect, &rs), 0);
	assert_int_equal(count_kind(&rs, PT_DIFF_SAME), rs.n);

	/* Find the level-0 table under 0x80010000 and its parent entry. */
	uint64_t *l3 = x.t.top;
	uint64_t *l2 = x.mem.ops.phys_to_virt(&x.mem, l3[0] & 0xfffffffff000ull);
	uint64_t *l1 = x.mem.ops.phys_to_virt(&x.mem, l2[2] & 0xfffffffff000ull);
	uint64_t *l0 = x.mem.ops.phys_to_virt(&x.mem, l1[0] & 0xfffffffff000ull);
	uint64_t saved;

	/* A cycle: a leaf-level slot pointing back at the top table. */
	saved = l1[7];
	l1[7] = (l3[0] & ~0xfffffffff000ull) | x.t.top_pa;
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EEXIST);
	l1[7] = saved;

	/* A shared subtree: two slots pointing at one table. */
	l1[9] = l1[0];
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EEXIST);
	l1[9] = 0;

	/* A table pointer outside table memory. */
	l1[9] = (l1[0] & ~0xfffffffff000ull) | 0x7f0000000000ull;
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EFAULT);
	assert_int_equal(bad, 0x80000000ull + 9 * SZ_2M);
	l1[9] = 0;

	/* Reserved bits in a leaf (bits 50:48 are RES0 with a 48-bit OA). */
	unsigned int leaf = 0x10000 / SZ_4K; /* first item of the 64K run */
	saved = l0[leaf + 20];
	l0[leaf + 20] |= 1ull << 49;
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EINVAL);
	/* Item 36 is inside the second 64K run, checked at its start. */
	assert_int_equal(bad, 0x80000000ull + (leaf + 16) * SZ_4K);
	l0[leaf + 20] = saved;

	/* A contiguous run with one item pointing elsewhere. */
	saved = l0[leaf + 3];
	l0[leaf + 3] += SZ_4K;
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EINVAL);
	assert_int_equal(bad, 0x80000000ull + leaf * SZ_4K);
	l0[leaf + 3] = saved;

	/* A contiguous run with one item of other attributes: S2AP write
	 * (bit 7) cleared, a valid read-only leaf on its own, but the run's
	 * items must all say the same (DDI 0487 D8.7.1). */
	saved = l0[leaf + 5];
	l0[leaf + 5] &= ~(1ull << 7);
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), -PT_EINVAL);
	assert_int_equal(bad, 0x80000000ull + leaf * SZ_4K);
	l0[leaf + 5] = saved;

	/* And whole again. */
	c.n = 0;
	assert_int_equal(pt_adopt(&ad, &cfg, &x.mem.ops, &x.mem, x.t.top_pa,
				  claim_once, &c, &bad), 0);
	tbl_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_same),
		cmocka_unit_test(test_diff_contig_granule),
		cmocka_unit_test(test_diff_translation),
		cmocka_unit_test(test_split_join_roundtrip),
		cmocka_unit_test(test_join_refuses),
		cmocka_unit_test(test_reconcile_contig_both_ways),
		cmocka_unit_test(test_reconcile_block_table),
		cmocka_unit_test(test_reconcile_joins_blocks),
		cmocka_unit_test(test_diff_bad_args),
		cmocka_unit_test(test_adopt),
	};
	return cmocka_run_group_tests_name("pt_layout", tests, NULL, NULL);
}
