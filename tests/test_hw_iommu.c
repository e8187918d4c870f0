// SPDX-License-Identifier: MIT
/*
 * The IOMMU model's caches driven directly from one thread (no machine
 * loop, no DMA engines), so every hit and miss is deterministic: what is
 * cached (valid leaves only, invalid configurations too), which sizes
 * coexist and how a multi-hit resolves per BBM level, the exact scope of
 * level hints and leaf-only invalidation, LRU eviction, and the
 * reproducibility of randomized mode.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "abi/hw_abi_ste.h"
#include "hw/iommu.h"
#include "tests/lib/hw_rig.h"

#define IOVA 0x40000000ull
#define LEN (4ull << 20)
#define BLK (2ull << 20)
#define DID 3
#define MOVED (RIG_DATA_PA + (64ull << 20))
#define ARM_CONTIG (1ull << 52)

struct unit {
	struct hw_rig r;
	struct hw_iommu *m;
	struct pt_table t;
};

static struct unit U;

static _Atomic uint64_t *ste_word(unsigned int sid, unsigned int w)
{
	_Atomic uint64_t *ste = physmem_ptr(&U.r.pm, RIG_STRTAB_PA +
					    sid * HW_STE_SIZE, HW_STE_SIZE);
	return &ste[w];
}

static void write_ste(unsigned int sid, const struct pt_table *t,
		      enum pt_format_id fmt)
{
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, fmt, 48, t->top_pa, DID);
	for (unsigned int w = 0; w < HW_STE_WORDS; w++)
		atomic_store(ste_word(sid, w), ste[w]);
}

static void unit_up_cfg(unsigned int bbm, enum pt_format_id fmt,
			uint64_t pgsizes, const struct hw_iommu_cfg *cfg)
{
	struct pt_gather g;
	assert_int_equal(hw_rig_start_bare(&U.r, bbm), 0);
	assert_int_equal(hw_iommu_create(&U.m, cfg, &U.r.pm, U.r.region.regs,
					 U.r.region.freed_map), 0);
	assert_int_equal(hw_rig_table_init(&U.r, &U.t, fmt, pgsizes), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&U.t, IOVA, RIG_DATA_PA, LEN,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
	write_ste(0, &U.t, fmt);
	hw_iommu_cfgi_ste(U.m, 0);
}

static void unit_up(unsigned int bbm, enum pt_format_id fmt, uint64_t pgsizes)
{
	struct hw_iommu_cfg cfg;
	hw_iommu_cfg_default(&cfg);
	unit_up_cfg(bbm, fmt, pgsizes, &cfg);
}

static int unit_teardown(void **state)
{
	(void)state;
	hw_iommu_destroy(U.m);
	U.m = NULL;
	hw_rig_stop(&U.r);
	return 0;
}

/* Translate a read of sid 0; the fault type, HW_EVT_NONE on success. */
static uint32_t xl(uint64_t iova, uint64_t *pa)
{
	struct hw_xlate x;
	hw_iommu_translate(U.m, 0, iova, HW_ACCESS_READ, &x);
	*pa = x.pa;
	return x.fault;
}

static void expect_pa(uint64_t iova, uint64_t want)
{
	uint64_t pa;
	assert_int_equal(xl(iova, &pa), HW_EVT_NONE);
	assert_int_equal(pa, want);
}

static uint64_t misses(void)
{
	return atomic_load(&U.r.region.regs->iotlb_misses);
}

static void test_invalid_leaf_never_cached(void **state)
{
	(void)state;
	struct pt_gather g;
	uint64_t pa;
	unit_up(0, PT_FMT_ARM_S2, 0);
	assert_int_equal(xl(IOVA + LEN, &pa), HW_EVT_TRANSLATION);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&U.t, IOVA + LEN, MOVED, BLK,
				      PT_PROT_READ | PT_PROT_CACHE, &g), 0);
	/* No invalidation needed: the fault left nothing cached. */
	expect_pa(IOVA + LEN + 0x123, MOVED + 0x123);
}

static void test_config_cache_holds_invalid(void **state)
{
	(void)state;
	struct hw_xlate x;
	unit_up(0, PT_FMT_ARM_S2, 0);
	assert_int_equal(hw_iommu_translate(U.m, 1, IOVA, HW_ACCESS_READ, &x),
			 -EFAULT);
	assert_int_equal(x.fault, HW_EVT_STE_ABORT);
	write_ste(1, &U.t, PT_FMT_ARM_S2);
	assert_int_equal(hw_iommu_translate(U.m, 1, IOVA, HW_ACCESS_READ, &x),
			 -EFAULT);
	assert_int_equal(x.fault, HW_EVT_STE_ABORT);
	hw_iommu_cfgi_ste(U.m, 1);
	assert_int_equal(hw_iommu_translate(U.m, 1, IOVA, HW_ACCESS_READ, &x),
			 0);
	assert_int_equal(x.pa, RIG_DATA_PA);
}

/* A cached 2M block and, after a one-store split, the new 4K leaf. */
static uint32_t split_then_translate(unsigned int bbm, enum pt_format_id fmt)
{
	struct pt_gather g;
	uint64_t pa;
	unit_up(bbm, fmt, 0);
	expect_pa(IOVA + 0x5000, RIG_DATA_PA + 0x5000);
	pt_gather_init(&g);
	assert_int_equal(pt_split(&U.t, IOVA, &g), 0);
	/* Still the block: nothing told the IOMMU. */
	expect_pa(IOVA + 0x5000, RIG_DATA_PA + 0x5000);
	hw_iommu_scrub(U.m);
	uint64_t before = misses();
	uint32_t fault = xl(IOVA + 0x5000, &pa);
	assert_int_equal(misses(), before);
	if (!fault)
		assert_int_equal(pa, RIG_DATA_PA + 0x5000);
	return fault;
}

static void test_two_sizes_bbm0_conflict(void **state)
{
	(void)state;
	assert_int_equal(split_then_translate(0, PT_FMT_ARM_S2),
			 HW_EVT_TLB_CONFLICT);
	assert_int_equal(atomic_load(&U.r.region.regs->dev_stats[0].conflicts),
			 1);
}

static void test_two_sizes_bbm1_conflict(void **state)
{
	(void)state;
	assert_int_equal(split_then_translate(1, PT_FMT_ARM_S2),
			 HW_EVT_TLB_CONFLICT);
}

static void test_two_sizes_bbm2_one_used(void **state)
{
	(void)state;
	assert_int_equal(split_then_translate(2, PT_FMT_ARM_S2), HW_EVT_NONE);
}

static void test_two_sizes_vtd_one_used(void **state)
{
	(void)state;
	assert_int_equal(split_then_translate(0, PT_FMT_VTD_SS), HW_EVT_NONE);
}

/* SMMU TTL: a hint naming the new level leaves the old block cached. */
static void test_level_hint_scope(void **state)
{
	(void)state;
	struct pt_gather g;
	unit_up(2, PT_FMT_ARM_S2, 0);
	expect_pa(IOVA, RIG_DATA_PA);
	pt_gather_init(&g);
	assert_int_equal(pt_split(&U.t, IOVA, &g), 0);
	_Atomic uint64_t *pte = hw_rig_entry(&U.r, &U.t, IOVA, 0);
	assert_non_null(pte);
	atomic_store(pte, (atomic_load(pte) & ~HW_GENMASK(47, 12)) | MOVED);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, false, 0);
	expect_pa(IOVA, RIG_DATA_PA);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, false, 1);
	expect_pa(IOVA, MOVED);
}

/* Leaf=1 keeps the walk cache: a moved table pointer is not seen. */
static void test_leaf_only_spares_walk_cache(void **state)
{
	(void)state;
	unit_up(0, PT_FMT_ARM_S2, PT_SZ_4K);
	expect_pa(IOVA, RIG_DATA_PA);
	_Atomic uint64_t *pde = hw_rig_entry(&U.r, &U.t, IOVA, 1);
	uint64_t old_pa = atomic_load(pde) & HW_GENMASK(47, 12);
	uint64_t new_pa;
	uint64_t *copy = hw_rig_page(&U.r, &new_pa);
	memcpy(copy, physmem_ptr(&U.r.pm, old_pa, 4096), 4096);
	copy[0] = (copy[0] & ~HW_GENMASK(47, 12)) | MOVED;
	atomic_store(pde, (atomic_load(pde) & ~HW_GENMASK(47, 12)) | new_pa);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, true, -1);
	expect_pa(IOVA, RIG_DATA_PA);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, false, -1);
	expect_pa(IOVA, MOVED);
}

static void test_walk_of_freed_table_is_uaf(void **state)
{
	(void)state;
	unit_up(0, PT_FMT_ARM_S2, PT_SZ_4K);
	expect_pa(IOVA, RIG_DATA_PA);
	_Atomic uint64_t *pde = hw_rig_entry(&U.r, &U.t, IOVA, 1);
	uint64_t table = atomic_load(pde) & HW_GENMASK(47, 12);
	iommu_drv_table_page_freed(&U.r.drv, table);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + 4095, true, -1);
	expect_pa(IOVA, RIG_DATA_PA);
	assert_true(atomic_load(&U.r.region.regs->dev_stats[0].use_after_free)
		    > 0);
}

/*
 * Shareability changed on a live block without a break: flagged when the
 * entry is invalidated; a permission-only change is not.
 */
static void attr_change(uint64_t bits, uint64_t want_violations)
{
	unit_up(2, PT_FMT_ARM_S2, 0);
	expect_pa(IOVA, RIG_DATA_PA);
	_Atomic uint64_t *e = hw_rig_entry(&U.r, &U.t, IOVA, 1);
	atomic_store(e, atomic_load(e) ^ bits);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, false, -1);
	assert_int_equal(atomic_load(&U.r.region.regs->dev_stats[0]
				     .bbm_violations), want_violations);
}

static void test_shareability_change_flagged(void **state)
{
	(void)state;
	attr_change(HW_GENMASK(9, 8), 1);
}

static void test_permission_change_allowed(void **state)
{
	(void)state;
	attr_change(1ull << 7, 0); /* S2AP write */
}

/* VT-d: a 4K page-selective invalidation does not remove a 2M entry. */
static void test_vtd_superpage_needs_full_range(void **state)
{
	(void)state;
	unit_up(0, PT_FMT_VTD_SS, 0);
	expect_pa(IOVA, RIG_DATA_PA);
	_Atomic uint64_t *e = hw_rig_entry(&U.r, &U.t, IOVA, 1);
	atomic_store(e, (atomic_load(e) & ~HW_GENMASK(47, 12)) | MOVED);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + 4095, false, -1);
	expect_pa(IOVA, RIG_DATA_PA);
	hw_iommu_tlbi_range(U.m, DID, IOVA, IOVA + BLK - 1, false, -1);
	expect_pa(IOVA, MOVED);
}

/* A cached 64K contiguous run whose contiguous bits are then cleared. */
static uint32_t contig_cleared_then_translate(unsigned int bbm)
{
	uint64_t pa;
	unit_up(bbm, PT_FMT_ARM_S2, PT_SZ_4K | PT_SZ_64K);
	expect_pa(IOVA + 0x3000, RIG_DATA_PA + 0x3000);
	for (unsigned int i = 0; i < 16; i++) {
		_Atomic uint64_t *e = hw_rig_entry(&U.r, &U.t,
						   IOVA + i * 4096ull, 0);
		assert_true(atomic_load(e) & ARM_CONTIG);
		atomic_store(e, atomic_load(e) & ~ARM_CONTIG);
	}
	hw_iommu_scrub(U.m);
	uint32_t fault = xl(IOVA + 0x3000, &pa);
	if (!fault)
		assert_int_equal(pa, RIG_DATA_PA + 0x3000);
	return fault;
}

static void test_contig_only_change_bbm1_no_conflict(void **state)
{
	(void)state;
	assert_int_equal(contig_cleared_then_translate(1), HW_EVT_NONE);
}

static void test_contig_only_change_bbm0_conflict(void **state)
{
	(void)state;
	assert_int_equal(contig_cleared_then_translate(0), HW_EVT_TLB_CONFLICT);
}

static void test_lru_eviction(void **state)
{
	(void)state;
	struct hw_iommu_cfg cfg;
	hw_iommu_cfg_default(&cfg);
	cfg.tlb_sets_lg2 = 0;
	cfg.tlb_ways = 2;
	unit_up_cfg(0, PT_FMT_ARM_S2, PT_SZ_4K, &cfg);
	uint64_t p[3] = { IOVA, IOVA + 0x1000, IOVA + 0x2000 };
	uint64_t m0 = misses();
	expect_pa(p[0], RIG_DATA_PA);
	expect_pa(p[1], RIG_DATA_PA + 0x1000);
	expect_pa(p[0], RIG_DATA_PA);
	assert_int_equal(misses() - m0, 2);
	expect_pa(p[2], RIG_DATA_PA + 0x2000); /* evicts p1, least recent */
	expect_pa(p[0], RIG_DATA_PA);
	assert_int_equal(misses() - m0, 3);
	expect_pa(p[1], RIG_DATA_PA + 0x1000);
	assert_int_equal(misses() - m0, 4);
}

static uint64_t random_run(uint64_t seed)
{
	struct hw_iommu_cfg cfg;
	hw_iommu_cfg_default(&cfg);
	cfg.randomized = true;
	cfg.seed = seed;
	cfg.tlb_sets_lg2 = 1;
	cfg.tlb_ways = 4;
	unit_up_cfg(0, PT_FMT_ARM_S2, PT_SZ_4K, &cfg);
	uint64_t x = 12345;
	for (int i = 0; i < 4000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t off = ((x >> 33) % 24) << 12;
		expect_pa(IOVA + off, RIG_DATA_PA + off);
	}
	uint64_t n = misses();
	unit_teardown(NULL);
	return n;
}

static void test_random_mode_reproducible(void **state)
{
	(void)state;
	uint64_t a = random_run(9);
	uint64_t b = random_run(9);
	assert_int_equal(a, b);
	assert_true(a > 24);
	unit_up(0, PT_FMT_ARM_S2, 0);
}

/* ---- torn configuration without sampling (SMMUv3 3.21.3) ---- */

static uint64_t torn(unsigned int sid)
{
	return atomic_load(&U.r.region.regs->dev_stats[sid].torn_config);
}

/*
 * Nothing samples the entry here (no machine loop): only the mix rule at
 * the invalidation can see a torn update, however fast it was written.
 * Root and domain are in two words: a valid entry changed in both
 * between two invalidations may be read half old, half new.
 */
static void test_torn_mix_seen_without_sampling(void **state)
{
	(void)state;
	struct pt_table t2;
	struct pt_gather g;
	unit_up(0, PT_FMT_ARM_S2, 0);
	assert_int_equal(hw_rig_table_init(&U.r, &t2, PT_FMT_ARM_S2, 0), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&t2, IOVA, RIG_DATA_PA, LEN,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
	uint64_t a[HW_STE_WORDS], b[HW_STE_WORDS];
	hw_ste_make(a, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, U.t.top_pa,
		    DID);
	hw_ste_make(b, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, t2.top_pa,
		    DID + 1);

	/* Two used words at once: torn, counted once. */
	atomic_store(ste_word(0, 1), b[1]);
	atomic_store(ste_word(0, 2), b[2]);
	hw_iommu_cfgi_ste(U.m, 0);
	assert_int_equal(torn(0), 1);
	/* One word (same domain, new root): hitless. */
	atomic_store(ste_word(0, 1), a[1]);
	hw_iommu_cfgi_ste(U.m, 0);
	assert_int_equal(torn(0), 1);
	/* Back through V=0, an invalidation after each step: clean. */
	atomic_store(ste_word(0, 0), b[0] & ~HW_STE0_V);
	hw_iommu_cfgi_ste(U.m, 0);
	atomic_store(ste_word(0, 1), a[1]);
	atomic_store(ste_word(0, 2), a[2]);
	hw_iommu_cfgi_ste(U.m, 0);
	atomic_store(ste_word(0, 0), a[0]);
	hw_iommu_cfgi_ste(U.m, 0);
	assert_int_equal(torn(0), 1);
	/* V=0 and the rest in one go: the old V may be read with new words. */
	atomic_store(ste_word(0, 0), b[0] & ~HW_STE0_V);
	atomic_store(ste_word(0, 1), b[1]);
	atomic_store(ste_word(0, 2), b[2]);
	hw_iommu_cfgi_ste(U.m, 0);
	assert_int_equal(torn(0), 2);
}

/* ---- domain invalidation scope ---- */

#define DOM_SPAN (7ull << 20)
#define DOM_B_PA (RIG_DATA_PA + (16ull << 20))
#define DOM_MOVED (RIG_DATA_PA + (32ull << 20))
#define NR_PROBES (2 + 16 + 256)

/* Two 2M blocks, sixteen 64K contiguous runs, 256 4K pages. */
static void map_mixed(struct pt_table *t, uint64_t pa)
{
	struct pt_gather g;
	const uint32_t prot = PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE;
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(t, IOVA, pa, 2 * BLK, prot, &g), 0);
	assert_int_equal(pt_map_range(t, IOVA + 2 * BLK, pa + 2 * BLK,
				      1ull << 20, prot, &g), 0);
	/* The output 4K off a 64K boundary: pages only. */
	assert_int_equal(pt_map_range(t, IOVA + 3 * BLK, pa + 3 * BLK + 4096,
				      1ull << 20, prot, &g), 0);
}

/* One IOVA per leaf of map_mixed, and where it goes from pa. */
static void probes(uint64_t pa, uint64_t iova[NR_PROBES],
		   uint64_t want[NR_PROBES])
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < 2; i++, n++) {
		iova[n] = IOVA + i * BLK + 0x1234;
		want[n] = pa + i * BLK + 0x1234;
	}
	for (unsigned int i = 0; i < 16; i++, n++) {
		iova[n] = IOVA + 2 * BLK + i * 0x10000ull + 0x5000;
		want[n] = pa + 2 * BLK + i * 0x10000ull + 0x5000;
	}
	for (unsigned int i = 0; i < 256; i++, n++) {
		iova[n] = IOVA + 3 * BLK + i * 4096ull;
		want[n] = pa + 3 * BLK + 4096 + i * 4096ull;
	}
}

static void expect_sid_pa(unsigned int sid, uint64_t iova, uint64_t want)
{
	struct hw_xlate x;
	int rc = hw_iommu_translate(U.m, sid, iova, HW_ACCESS_READ, &x);
	if (rc || x.pa != want)
		fail_msg("sid %u iova 0x%" PRIx64 ": fault 0x%x pa 0x%" PRIx64
			 ", want 0x%" PRIx64, sid, iova, x.fault, x.pa, want);
}

/*
 * TLBI by domain (no range) removes every IOTLB and walk-cache entry of
 * its domain, whatever its size or level, and nothing of another domain.
 * Both tables are remapped elsewhere in memory without a break first:
 * a surviving entry of the invalidated domain still gives the old
 * address (a stale table pointer leads into an emptied table and
 * faults); the other domain must still give its old ones, all from the
 * IOTLB.
 */
static void test_tlbi_domain_scope(void **state)
{
	(void)state;
	struct hw_iommu_cfg cfg;
	struct pt_table tb;
	struct pt_gather g;
	uint64_t iova[NR_PROBES], want_a[NR_PROBES], want_b[NR_PROBES];
	uint64_t moved[NR_PROBES];
	const uint64_t pgsizes = PT_SZ_4K | PT_SZ_64K | PT_SZ_2M;
	hw_iommu_cfg_default(&cfg);
	cfg.tlb_sets_lg2 = 10; /* room for every entry: no eviction */
	assert_int_equal(hw_rig_start_bare(&U.r, 2), 0);
	assert_int_equal(hw_iommu_create(&U.m, &cfg, &U.r.pm, U.r.region.regs,
					 U.r.region.freed_map), 0);
	assert_int_equal(hw_rig_table_init(&U.r, &U.t, PT_FMT_ARM_S2, pgsizes),
			 0);
	assert_int_equal(hw_rig_table_init(&U.r, &tb, PT_FMT_ARM_S2, pgsizes),
			 0);
	map_mixed(&U.t, RIG_DATA_PA);
	map_mixed(&tb, DOM_B_PA);
	write_ste(0, &U.t, PT_FMT_ARM_S2);
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, tb.top_pa,
		    DID + 1);
	for (unsigned int w = 0; w < HW_STE_WORDS; w++)
		atomic_store(ste_word(1, w), ste[w]);
	hw_iommu_cfgi_ste(U.m, 0);
	hw_iommu_cfgi_ste(U.m, 1);

	probes(RIG_DATA_PA, iova, want_a);
	probes(DOM_B_PA, iova, want_b);
	probes(DOM_MOVED, iova, moved);
	for (unsigned int i = 0; i < NR_PROBES; i++) {
		expect_sid_pa(0, iova[i], want_a[i]);
		expect_sid_pa(1, iova[i], want_b[i]);
	}
	/* Cached now: a second pass hits every time. */
	uint64_t m0 = misses();
	for (unsigned int i = 0; i < NR_PROBES; i++) {
		expect_sid_pa(0, iova[i], want_a[i]);
		expect_sid_pa(1, iova[i], want_b[i]);
	}
	assert_int_equal(misses(), m0);

	struct pt_table *both[2] = { &U.t, &tb };
	for (unsigned int k = 0; k < 2; k++) {
		pt_gather_init(&g);
		assert_int_equal(pt_unmap_range(both[k], IOVA, DOM_SPAN, 0, &g,
						NULL), 0);
		map_mixed(both[k], DOM_MOVED);
	}
	hw_iommu_tlbi_domain(U.m, DID);
	m0 = misses();
	for (unsigned int i = 0; i < NR_PROBES; i++)
		expect_sid_pa(1, iova[i], want_b[i]);
	assert_int_equal(misses(), m0);
	for (unsigned int i = 0; i < NR_PROBES; i++)
		expect_sid_pa(0, iova[i], moved[i]);
	assert_int_equal(misses() - m0, NR_PROBES);
}

/*
 * The CD cache: a PASID's CD stays cached across CFGI_STE, and goes with
 * CFGI_CD (or CFGI_CD_ALL); its IOTLB entries (its own domain) go with a
 * TLBI of that domain only. No PASID means the STE's own table.
 */
static void pasid_xl(uint32_t pasid, uint64_t want)
{
	struct hw_xlate x;
	assert_int_equal(hw_iommu_translate_pasid(U.m, 0, pasid, IOVA,
						  HW_ACCESS_READ, &x), 0);
	assert_int_equal(x.pa, want);
}

static void test_cd_cache_until_cfgi_cd(void **state)
{
	(void)state;
	struct pt_table t2;
	struct pt_gather g;
	uint64_t cdtab, cd[HW_CD_WORDS], ste[HW_STE_WORDS];
	unit_up(0, PT_FMT_ARM_S2, 0);
	assert_int_equal(hw_rig_table_init(&U.r, &t2, PT_FMT_ARM_S2, 0), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&t2, IOVA, MOVED, LEN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	_Atomic uint64_t *cds = (_Atomic uint64_t *)hw_rig_page(&U.r, &cdtab);
	hw_cd_make(cd, PT_FMT_ARM_S2, 48, U.t.top_pa, DID + 1);
	for (unsigned int w = 0; w < HW_CD_WORDS; w++)
		atomic_store(&cds[HW_CD_WORDS + w], cd[w]);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, U.t.top_pa,
		    DID);
	hw_ste_set_cdtab(ste, cdtab, 1);
	for (unsigned int w = 0; w < HW_STE_WORDS; w++)
		atomic_store(ste_word(0, w), ste[w]);
	hw_iommu_cfgi_ste(U.m, 0);
	pasid_xl(0, RIG_DATA_PA);
	pasid_xl(1, RIG_DATA_PA);
	struct hw_xlate x;
	assert_int_equal(hw_iommu_translate_pasid(U.m, 0, 2, IOVA,
						  HW_ACCESS_READ, &x), -EFAULT);
	assert_int_equal(x.fault, HW_EVT_BAD_SUBSTREAMID);

	/* PASID 1 to t2 (its root word only). */
	atomic_store(&cds[HW_CD_WORDS + 1], t2.top_pa);
	hw_iommu_cfgi_ste(U.m, 0);
	hw_iommu_tlbi_domain(U.m, DID + 1);
	pasid_xl(1, RIG_DATA_PA); /* the cached CD: still the old table */
	hw_iommu_cfgi_cd(U.m, 0, 2); /* another substream's */
	pasid_xl(1, RIG_DATA_PA);
	hw_iommu_cfgi_cd(U.m, 0, 1);
	pasid_xl(1, RIG_DATA_PA); /* the old table's IOTLB entry */
	hw_iommu_tlbi_domain(U.m, DID);
	pasid_xl(1, RIG_DATA_PA); /* another domain's TLBI leaves it */
	hw_iommu_tlbi_domain(U.m, DID + 1);
	pasid_xl(1, MOVED);
	pasid_xl(0, RIG_DATA_PA);
	/* Back, through CFGI_CD_ALL. */
	atomic_store(&cds[HW_CD_WORDS + 1], U.t.top_pa);
	hw_iommu_cfgi_cd_all(U.m, 0);
	hw_iommu_tlbi_domain(U.m, DID + 1);
	pasid_xl(1, RIG_DATA_PA);
	/* A CD made invalid: CD_ABORT, PASID 0 untouched. */
	atomic_store(&cds[HW_CD_WORDS], 0);
	hw_iommu_cfgi_cd(U.m, 0, 1);
	assert_int_equal(hw_iommu_translate_pasid(U.m, 0, 1, IOVA,
						  HW_ACCESS_READ, &x), -EFAULT);
	assert_int_equal(x.fault, HW_EVT_CD_ABORT);
	pasid_xl(0, RIG_DATA_PA);
}

#define T(f) cmocka_unit_test_teardown(f, unit_teardown)

/*
 * Walks racing invalidations. A translator thread translates without
 * pause while this thread switches stream 0 from one table to a fresh
 * one (the range mapped elsewhere each round, three places in turn),
 * invalidates the domain, waits for the translation in flight to end
 * and frees the old table. What a walk read before or during an
 * invalidation must not be cached past it: a translation that started
 * after that point gets the current or (once the next switch began) the
 * next round's address, never the last round's, and no walk reaches a
 * freed page through a walk-cache entry left behind.
 */
#define RACE_ROUNDS 400u
#define RACE_PAGES 1024u

struct race {
	_Atomic bool stop;
	_Atomic uint64_t done;    /* translations finished */
	_Atomic uint64_t allow;   /* ... and how many may be, for now */
	_Atomic uint64_t settled; /* the round whose table alone is current */
	_Atomic uint64_t stale, faults, odd;
	uint64_t base[3];
};

static void *race_translator(void *arg)
{
	struct race *rc = arg;
	uint64_t prng = 0x9e3779b97f4a7c15ull;
	const struct timespec idle = { .tv_sec = 0, .tv_nsec = 20000 };
	while (!atomic_load(&rc->stop)) {
		/* Within its allowance only: under Valgrind, which runs one
		 * thread at a time, it would otherwise starve this one. */
		if (atomic_load(&rc->done) >= atomic_load(&rc->allow)) {
			nanosleep(&idle, NULL);
			continue;
		}
		uint64_t r = atomic_load(&rc->settled);
		prng ^= prng << 13;
		prng ^= prng >> 7;
		prng ^= prng << 17;
		uint64_t off = (prng % RACE_PAGES) * 4096;
		struct hw_xlate x;
		hw_iommu_translate(U.m, 0, IOVA + off, HW_ACCESS_READ, &x);
		if (x.fault)
			atomic_fetch_add(&rc->faults, 1);
		else if (x.pa == rc->base[(r + 2) % 3] + off)
			atomic_fetch_add(&rc->stale, 1);
		else if (x.pa != rc->base[r % 3] + off &&
			 x.pa != rc->base[(r + 1) % 3] + off)
			atomic_fetch_add(&rc->odd, 1);
		atomic_fetch_add(&rc->done, 1);
	}
	return NULL;
}

/*
 * Until at least n more translations have ended (sleeping, not
 * spinning); the translator may do RACE_BURST more than that.
 */
#define RACE_BURST 256u
static void race_wait(struct race *rc, uint64_t n)
{
	uint64_t until = atomic_load(&rc->done) + n;
	atomic_store(&rc->allow, until + RACE_BURST);
	const struct timespec ts = { .tv_sec = 0, .tv_nsec = 20000 };
	while (atomic_load(&rc->done) < until)
		nanosleep(&ts, NULL);
}

static void race_map(struct pt_table *t, uint64_t pa)
{
	struct pt_gather g;
	assert_int_equal(hw_rig_table_init(&U.r, t, PT_FMT_ARM_S2, PT_SZ_4K),
			 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(t, IOVA, pa, RACE_PAGES * 4096ull,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
}

static void test_walk_racing_invalidation_not_cached(void **state)
{
	(void)state;
	static struct race rc;
	memset(&rc, 0, sizeof(rc));
	rc.base[0] = RIG_DATA_PA;
	rc.base[1] = RIG_DATA_PA + (64ull << 20);
	rc.base[2] = RIG_DATA_PA + (128ull << 20);
	assert_int_equal(hw_rig_start_bare(&U.r, 0), 0);
	struct hw_iommu_cfg cfg;
	hw_iommu_cfg_default(&cfg);
	assert_int_equal(hw_iommu_create(&U.m, &cfg, &U.r.pm, U.r.region.regs,
					 U.r.region.freed_map), 0);
	race_map(&U.t, rc.base[0]);
	write_ste(0, &U.t, PT_FMT_ARM_S2);
	hw_iommu_cfgi_ste(U.m, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, race_translator, &rc), 0);
	race_wait(&rc, 64);
	for (uint64_t r = 0; r < RACE_ROUNDS; r++) {
		struct pt_table nt;
		race_map(&nt, rc.base[(r + 1) % 3]);
		/* Translating while the switch and its invalidation go on. */
		atomic_store(&rc.allow, atomic_load(&rc.done) + RACE_BURST);
		write_ste(0, &nt, PT_FMT_ARM_S2);
		hw_iommu_cfgi_ste(U.m, 0);
		hw_iommu_tlbi_domain(U.m, DID);
		/* The translation in flight ends: what a SYNC waits for. */
		race_wait(&rc, 1);
		atomic_store(&rc.settled, r + 1);
		pt_deinit(&U.t);
		U.t = nt;
		race_wait(&rc, 16);
	}
	atomic_store(&rc.stop, true);
	pthread_join(th, NULL);
	const struct hw_dev_stats *s = &U.r.region.regs->dev_stats[0];
	print_message("%" PRIu64 " translations, %" PRIu64 " stale, %" PRIu64
		      " uaf\n", atomic_load(&rc.done), atomic_load(&rc.stale),
		      atomic_load(&s->use_after_free));
	assert_int_equal(atomic_load(&rc.faults), 0);
	assert_int_equal(atomic_load(&rc.odd), 0);
	assert_int_equal(atomic_load(&rc.stale), 0);
	assert_int_equal(atomic_load(&s->use_after_free), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_invalid_leaf_never_cached),
		T(test_config_cache_holds_invalid),
		T(test_cd_cache_until_cfgi_cd),
		T(test_two_sizes_bbm0_conflict),
		T(test_two_sizes_bbm1_conflict),
		T(test_two_sizes_bbm2_one_used),
		T(test_two_sizes_vtd_one_used),
		T(test_level_hint_scope),
		T(test_leaf_only_spares_walk_cache),
		T(test_walk_of_freed_table_is_uaf),
		T(test_shareability_change_flagged),
		T(test_permission_change_allowed),
		T(test_vtd_superpage_needs_full_range),
		T(test_contig_only_change_bbm1_no_conflict),
		T(test_contig_only_change_bbm0_conflict),
		T(test_lru_eviction),
		T(test_random_mode_reproducible),
		T(test_torn_mix_seen_without_sampling),
		T(test_tlbi_domain_scope),
		T(test_walk_racing_invalidation_not_cached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
