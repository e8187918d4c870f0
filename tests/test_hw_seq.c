// SPDX-License-Identifier: MIT
/*
 * The sequences of docs/reference.md section 4, each run against the machine
 * with DMA engines active: the unsafe version is caught with the fault
 * kind the rules predict, the correct version leaves every error counter
 * of the device at zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "abi/hw_abi_ste.h"
#include "pt/pt_fmt.h"
#include "tests/lib/hw_rig.h"

/* Invalidations in these tests go to every unit. */
#define ALL_UNITS IOMMU_DRV_ALL_UNITS

#define IOVA 0x40000000ull
#define LEN (4ull << 20)
#define BLK (2ull << 20)
#define DID 1
#define DMA_OPS 400
#define DEV1_PA (RIG_DATA_PA + (128ull << 20))

#define ARM_TYPE_MASK 0x3ull
#define ARM_TABLE 0x3ull
#define ARM_PAGE 0x3ull
#define ARM_NT (1ull << 16)
#define OA_MASK HW_GENMASK(47, 12)

enum verdict { CLEAN, CONFLICT, FLAGGED, UAF, BBM, TORN, FAULT, STALE,
	       STALE_DMA };

struct seq {
	struct hw_rig r;
	struct pt_table t;
};

static struct seq S;

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void seq_up_opts(struct hw_rig_opts *o, enum pt_format_id fmt,
			uint64_t pgsizes)
{
	assert_int_equal(hw_rig_start(&S.r, o), 0);
	assert_int_equal(hw_rig_table_init(&S.r, &S.t, fmt, pgsizes), 0);
	assert_int_equal(hw_rig_attach(&S.r, 0, &S.t, DID), 0);
	assert_int_equal(hw_rig_map(&S.r, 0, &S.t, IOVA, RIG_DATA_PA, LEN), 0);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	if (hw_rig_errors(&S.r, 0))
		hw_rig_dump(&S.r, 0, "setup");
	assert_int_equal(hw_rig_errors(&S.r, 0), 0);
}

static void seq_up(unsigned int bbm, enum pt_format_id fmt, uint64_t pgsizes)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, bbm);
	seq_up_opts(&o, fmt, pgsizes);
}

static int seq_teardown(void **state)
{
	(void)state;
	hw_rig_stop(&S.r);
	return 0;
}

static uint64_t stat(size_t off)
{
	const struct hw_dev_stats *s = hw_rig_stats(&S.r, 0);
	return atomic_load((_Atomic uint64_t *)((const char *)s + off));
}

#define STAT(f) stat(offsetof(struct hw_dev_stats, f))

/* Let DMA run on the result, then judge the device's counters. */
static void expect(enum verdict v, const char *what)
{
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	hw_rig_settle(&S.r);
	bool ok;
	switch (v) {
	case CLEAN:
		ok = hw_rig_errors(&S.r, 0) == 0;
		break;
	case CONFLICT:
		ok = STAT(conflicts) > 0;
		break;
	case FLAGGED:
		ok = STAT(conflicts) + STAT(misdirected) +
		     STAT(bbm_violations) > 0;
		break;
	case UAF:
		ok = STAT(use_after_free) > 0;
		break;
	case BBM:
		ok = STAT(bbm_violations) > 0;
		break;
	case TORN:
		ok = STAT(torn_config) > 0;
		break;
	case STALE: /* a stale ATC entry, whether or not DMA used it */
		ok = STAT(stale_atc) > 0;
		break;
	case STALE_DMA: /* and DMA went through it to the wrong page */
		ok = STAT(stale_atc) > 0 && STAT(misdirected) > 0;
		break;
	default:
		ok = STAT(faults) > 0;
		break;
	}
	if (!ok)
		hw_rig_dump(&S.r, 0, what);
	assert_true(ok);
}

static void window(uint64_t lo, uint64_t len)
{
	hw_rig_window(&S.r, 0, lo, lo + len - 1);
	assert_true(hw_rig_wait_ops(&S.r, 0, 64));
}

static void inv_sync(uint64_t va, uint64_t len, unsigned int flags, int hint)
{
	assert_int_equal(iommu_drv_tlbi_range(&S.r.drv, ALL_UNITS,
					      DID, va, len, flags, hint), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
}

/* An ARM table of 512 pages with the block's translation and attributes. */
static uint64_t arm_table_from_block(uint64_t blk)
{
	uint64_t pa;
	uint64_t *pg = hw_rig_page(&S.r, &pa);
	assert_non_null(pg);
	uint64_t oa = blk & HW_GENMASK(47, 21);
	uint64_t attrs = blk & ~OA_MASK & ~ARM_TYPE_MASK & ~ARM_NT;
	for (unsigned int i = 0; i < 512; i++)
		pg[i] = attrs | ARM_PAGE | (oa + (uint64_t)i * 4096);
	return pa | ARM_TABLE;
}

/* ---- 1: split a live block in one store ---- */

static void seq1_split_one_store(enum verdict v)
{
	struct pt_gather g;
	window(IOVA, BLK);
	pt_gather_init(&g);
	assert_int_equal(pt_split(&S.t, IOVA, &g), 0);
	inv_sync(IOVA, BLK, 0, -1);
	expect(v, "seq1");
}

static void test_seq1_bbm0_conflict(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	seq1_split_one_store(CONFLICT);
}

static void test_seq1_bbm1_without_nt_conflict(void **state)
{
	(void)state;
	seq_up(1, PT_FMT_ARM_S2, 0);
	seq1_split_one_store(CONFLICT);
}

static void test_seq1_bbm2_clean(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, 0);
	seq1_split_one_store(CLEAN);
}

static void test_seq1_vtd_clean(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, 0);
	seq1_split_one_store(CLEAN);
}

/* BBM level 1 recipe (IHI 0070 3.21.1.2): nT on the block, invalidate,
 * replace with the table, invalidate. */
static void test_seq1_bbm1_nt_clean(void **state)
{
	(void)state;
	seq_up(1, PT_FMT_ARM_S2, 0);
	window(IOVA, BLK);
	_Atomic uint64_t *e = hw_rig_entry(&S.r, &S.t, IOVA, 1);
	assert_non_null(e);
	uint64_t blk = atomic_load(e);
	atomic_store(e, blk | ARM_NT);
	inv_sync(IOVA, BLK, 0, 1);
	atomic_store(e, arm_table_from_block(blk));
	inv_sync(IOVA, BLK, 0, -1);
	expect(CLEAN, "seq1 nT");
}

/* Break-before-make proper: the only safe way at level 0 (DMA to the
 * range is stopped while the entry is invalid). */
static void test_seq1_bbm0_break_clean(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	_Atomic uint64_t *e = hw_rig_entry(&S.r, &S.t, IOVA, 1);
	uint64_t blk = atomic_load(e);
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, BLK), 0);
	atomic_store(e, 0);
	inv_sync(IOVA, BLK, 0, -1);
	atomic_store(e, arm_table_from_block(blk));
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, RIG_DATA_PA,
					      BLK, PT_PROT_READ | PT_PROT_WRITE),
			 0);
	window(IOVA, BLK);
	expect(CLEAN, "seq1 break");
}

/* ---- 2: split, invalidate naming only the new level ---- */

/* Split, invalidate with hint_level, then move page 0 elsewhere properly. */
static void seq2(int hint_level, enum verdict v)
{
	struct pt_gather g;
	uint64_t moved = RIG_DATA_PA + (64ull << 20);
	pt_gather_init(&g);
	assert_int_equal(pt_split(&S.t, IOVA, &g), 0);
	inv_sync(IOVA, BLK, 0, hint_level);

	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, 4096), 0);
	uint64_t unmapped;
	pt_gather_init(&g);
	assert_int_equal(pt_unmap_range(&S.t, IOVA, 4096, 0, &g, &unmapped), 0);
	inv_sync(IOVA, 4096, IOMMU_DRV_LEAF, 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&S.t, IOVA, moved, 4096, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, moved, 4096,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	window(IOVA, 4096);
	expect(v, "seq2");
}

static void test_seq2_bbm0_flagged(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	seq2(0, FLAGGED);
}

static void test_seq2_bbm2_flagged(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, 0);
	seq2(0, FLAGGED);
}

static void test_seq2_vtd_flagged(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, 0);
	seq2(0, FLAGGED);
}

static void test_seq2_bbm2_old_level_clean(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, 0);
	seq2(1, CLEAN);
}

/* ---- 3: promote pages to a block with a leaf-only invalidation ---- */

static void seq3(unsigned int inv_flags, enum verdict v)
{
	struct pt_gather g;
	window(IOVA, BLK);
	pt_gather_init(&g);
	assert_int_equal(pt_join(&S.t, IOVA, 21, &g), 0);
	assert_true(g.tables_changed);
	inv_sync(IOVA, BLK, inv_flags, -1);
	hw_rig_free_deferred(&S.r);
	expect(v, "seq3");
}

static void test_seq3_vtd_leaf_only_uaf(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, PT_SZ_4K);
	seq3(IOMMU_DRV_LEAF, UAF);
}

static void test_seq3_vtd_full_clean(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, PT_SZ_4K);
	seq3(0, CLEAN);
}

static void test_seq3_bbm2_leaf_only_uaf(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, PT_SZ_4K);
	seq3(IOMMU_DRV_LEAF, UAF);
}

static void test_seq3_bbm2_full_clean(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, PT_SZ_4K);
	seq3(0, CLEAN);
}

/* ---- 4: output address change of a live entry ---- */

static void seq4(bool with_break, enum verdict v)
{
	uint64_t moved = RIG_DATA_PA + (64ull << 20);
	window(IOVA, BLK);
	_Atomic uint64_t *e = hw_rig_entry(&S.r, &S.t, IOVA, 1);
	uint64_t blk = atomic_load(e);
	uint64_t nblk = (blk & ~OA_MASK) | moved;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, BLK), 0);
	if (with_break) {
		atomic_store(e, 0);
		inv_sync(IOVA, BLK, 0, -1);
		atomic_store(e, nblk);
		assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, moved,
						      BLK, PT_PROT_READ |
						      PT_PROT_WRITE), 0);
	} else {
		atomic_store(e, nblk);
		assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, moved,
						      BLK, PT_PROT_READ |
						      PT_PROT_WRITE), 0);
		inv_sync(IOVA, BLK, 0, -1);
	}
	expect(v, "seq4");
}

static void test_seq4_bbm0_flagged(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	seq4(false, BBM);
}

static void test_seq4_bbm2_flagged(void **state)
{
	(void)state;
	seq_up(2, PT_FMT_ARM_S2, 0);
	seq4(false, BBM);
}

static void test_seq4_vtd_flagged(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, 0);
	seq4(false, BBM);
}

static void test_seq4_bbm0_break_clean(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	seq4(true, CLEAN);
}

/* ---- 5: free an unmapped table page before the covering sync ---- */

static void seq5(bool free_early, enum verdict v)
{
	struct pt_gather g;
	uint64_t unmapped;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, BLK), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_unmap_range(&S.t, IOVA, BLK, 0, &g, &unmapped), 0);
	assert_true(S.r.nr_deferred > 0);
	if (free_early)
		hw_rig_free_deferred(&S.r);
	inv_sync(IOVA, BLK, 0, -1);
	hw_rig_free_deferred(&S.r);
	expect(v, "seq5");
}

static void test_seq5_free_before_sync_uaf(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, PT_SZ_4K);
	seq5(true, UAF);
}

static void test_seq5_free_after_sync_clean(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, PT_SZ_4K);
	seq5(false, CLEAN);
}

static void test_seq5_vtd_free_before_sync_uaf(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_VTD_SS, PT_SZ_4K);
	seq5(true, UAF);
}

/* ---- 6: multi-word configuration entry update ---- */

static struct pt_table T2;

static void build_copy(uint64_t pgsizes)
{
	struct pt_gather g;
	assert_int_equal(hw_rig_table_init(&S.r, &T2, S.t.fmt->id, pgsizes), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&T2, IOVA, RIG_DATA_PA, LEN,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
}

static _Atomic uint64_t *ste_word(unsigned int sid, unsigned int w)
{
	_Atomic uint64_t *ste = physmem_ptr(&S.r.pm, RIG_STRTAB_PA +
					    sid * HW_STE_SIZE, HW_STE_SIZE);
	return &ste[w];
}

static void test_seq6_torn_update_flagged(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, 0);
	build_copy(0);
	/* Root and domain are in different words: two stores, no break. */
	atomic_store(ste_word(0, 1), T2.top_pa);
	sleep_ms(20);
	atomic_store(ste_word(0, 2), HW_FIELD_PREP(HW_STE2_DID, DID + 1));
	assert_int_equal(iommu_drv_cfgi_ste(&S.r.drv, 0), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	expect(TORN, "seq6 torn");
}

static void test_seq6_hitless_update_clean(void **state)
{
	(void)state;
	uint64_t ste[HW_STE_WORDS];
	bool hitless = false;
	seq_up(0, PT_FMT_ARM_S2, 0);
	build_copy(0);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, T2.top_pa,
		    DID);
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, &hitless), 0);
	assert_true(hitless);
	assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, ALL_UNITS, DID), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	expect(CLEAN, "seq6 hitless");
}

static void test_seq6_disruptive_update_not_torn(void **state)
{
	(void)state;
	uint64_t ste[HW_STE_WORDS];
	bool hitless = true;
	seq_up(0, PT_FMT_ARM_S2, 0);
	build_copy(0);
	/* Two used words change: through V=0, with the device quiesced. */
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, LEN), 0);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, T2.top_pa,
		    DID + 1);
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, &hitless), 0);
	assert_false(hitless);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, RIG_DATA_PA,
					      LEN, PT_PROT_READ | PT_PROT_WRITE),
			 0);
	expect(CLEAN, "seq6 disruptive");
}

/* ---- 7: entry made valid without configuration invalidation ---- */

static void seq7(bool with_cfgi, enum verdict v)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 0);
	o.engines[1] = 2;
	seq_up_opts(&o, PT_FMT_ARM_S2, 0);
	/* Device 1's entry is invalid, and by now cached as such. */
	hw_rig_settle(&S.r);
	uint64_t ste[HW_STE_WORDS];
	/* Its own domain and pages, so stamps of the two never collide. */
	struct pt_gather g;
	assert_int_equal(hw_rig_table_init(&S.r, &T2, PT_FMT_ARM_S2, 0), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&T2, IOVA, DEV1_PA, LEN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, T2.top_pa,
		    DID + 1);
	if (with_cfgi) {
		assert_int_equal(iommu_drv_write_ste(&S.r.drv, 1, ste, NULL), 0);
	} else {
		for (int w = HW_STE_WORDS - 1; w >= 0; w--)
			atomic_store(ste_word(1, (unsigned int)w), ste[w]);
	}
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 1, IOVA, DEV1_PA,
					      LEN, PT_PROT_READ | PT_PROT_WRITE),
			 0);
	assert_true(hw_rig_wait_ops(&S.r, 1, DMA_OPS));
	bool ok = v == CLEAN ? hw_rig_errors(&S.r, 1) == 0
			     : atomic_load(&hw_rig_stats(&S.r, 1)->faults) > 0;
	if (!ok)
		hw_rig_dump(&S.r, 1, "seq7");
	assert_true(ok);
	expect(CLEAN, "seq7 other device");
}

static void test_seq7_valid_without_cfgi_faults(void **state)
{
	(void)state;
	seq7(false, FAULT);
}

static void test_seq7_valid_with_cfgi_clean(void **state)
{
	(void)state;
	seq7(true, CLEAN);
}

/* ---- 8: nested, stage 2 changed with a stage-2-only invalidation ---- */

#define VMID 7

static struct pt_table S2T;

/*
 * Stage 2 maps IPA = PA over the first 512 MiB (so stage-1 tables, which
 * the rig allocates there, are reachable); stage 1 maps IOVA -> IPA.
 * Then stage 2 moves one 2M block, break-before-make, invalidated either
 * by IPA (stage-2 entries only) or for the whole VMID.
 */
static void seq8(bool vmid_wide, enum verdict v)
{
	struct pt_gather g;
	uint64_t ste[HW_STE_WORDS];
	uint64_t moved = RIG_DATA_PA + (64ull << 20);
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 2);
	assert_int_equal(hw_rig_start(&S.r, &o), 0);
	assert_int_equal(hw_rig_table_init(&S.r, &S2T, PT_FMT_ARM_S2,
					   PT_SZ_4K | PT_SZ_2M), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&S2T, 0, 0, 512ull << 20, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(hw_rig_table_init(&S.r, &S.t, PT_FMT_ARM_S1, 0), 0);
	hw_ste_make_nested(ste, PT_FMT_ARM_S1, 48, S.t.top_pa, DID,
			   PT_FMT_ARM_S2, 48, S2T.top_pa, VMID);
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, NULL), 0);
	assert_int_equal(hw_rig_map(&S.r, 0, &S.t, IOVA, RIG_DATA_PA, LEN), 0);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	assert_int_equal(hw_rig_errors(&S.r, 0), 0);

	window(IOVA, BLK);
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, BLK), 0);
	_Atomic uint64_t *e = hw_rig_entry(&S.r, &S2T, RIG_DATA_PA, 1);
	uint64_t blk = atomic_load(e);
	atomic_store(e, 0);
	if (vmid_wide)
		assert_int_equal(iommu_drv_tlbi_vmid(&S.r.drv, ALL_UNITS, VMID), 0);
	else
		assert_int_equal(iommu_drv_tlbi_s2_range(&S.r.drv, ALL_UNITS, VMID,
							 RIG_DATA_PA, BLK), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	atomic_store(e, (blk & ~OA_MASK) | moved);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, moved, BLK,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	expect(v, "seq8");
}

static void test_seq8_s2_only_invalidation_flagged(void **state)
{
	(void)state;
	seq8(false, FLAGGED);
}

static void test_seq8_vmid_invalidation_clean(void **state)
{
	(void)state;
	seq8(true, CLEAN);
}

/* ---- 9 and 10: switch the device to a new table ---- */

static void switch_table(void)
{
	uint64_t ste[HW_STE_WORDS];
	bool hitless = false;
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, T2.fmt->id, 48, T2.top_pa,
		    DID);
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, &hitless), 0);
	assert_true(hitless);
	assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, ALL_UNITS, DID), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	/* The old table is no longer reachable: give it back. */
	pt_deinit(&S.t);
}

static void seq9(unsigned int bbm, enum pt_format_id fmt)
{
	seq_up(bbm, fmt, 0);
	build_copy(0);
	switch_table();
	expect(CLEAN, "seq9");
}

static void test_seq9_bbm0_clean(void **state)
{
	(void)state;
	seq9(0, PT_FMT_ARM_S2);
}

static void test_seq9_bbm2_clean(void **state)
{
	(void)state;
	seq9(2, PT_FMT_ARM_S2);
}

static void test_seq9_vtd_clean(void **state)
{
	(void)state;
	seq9(0, PT_FMT_VTD_SS);
}

static void seq10(unsigned int bbm, enum pt_format_id fmt, bool reconcile,
		  enum verdict v)
{
	seq_up(bbm, fmt, 0);
	build_copy(PT_SZ_4K);
	if (reconcile) {
		struct pt_gather g;
		struct pt_reconcile_stats st;
		pt_gather_init(&g);
		assert_int_equal(pt_reconcile(&T2, &S.t, &g, &st), 0);
		assert_true(st.joins > 0);
	}
	switch_table();
	expect(v, "seq10");
}

static void test_seq10_bbm0_conflict(void **state)
{
	(void)state;
	seq10(0, PT_FMT_ARM_S2, false, CONFLICT);
}

static void test_seq10_bbm0_reconciled_clean(void **state)
{
	(void)state;
	seq10(0, PT_FMT_ARM_S2, true, CLEAN);
}

static void test_seq10_bbm2_clean(void **state)
{
	(void)state;
	seq10(2, PT_FMT_ARM_S2, false, CLEAN);
}

static void test_seq10_vtd_clean(void **state)
{
	(void)state;
	seq10(0, PT_FMT_VTD_SS, false, CLEAN);
}

/* ---- 15: a preserved domain ID reused for another table ---- */

/*
 * Device 0 runs the preserved table under DID, its IOTLB warm. The new
 * kernel builds a table for another device (another VM: the same IOVAs
 * to other pages) and attaches it correctly (CFGI + SYNC), but tags it
 * with an ID it did not know was live (reused) or with one it knew to
 * avoid. The IOTLB is tagged by domain, not by stream: under one ID the
 * entries of either table answer the other device's DMA, which reaches
 * the wrong pages (misdirected, no fault reveals it).
 */
static void seq15(bool reuse, enum verdict v)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 0);
	o.engines[1] = 2;
	seq_up_opts(&o, PT_FMT_ARM_S2, 0);
	assert_int_equal(hw_rig_table_init(&S.r, &T2, PT_FMT_ARM_S2, 0), 0);
	struct pt_gather g;
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&T2, IOVA, DEV1_PA, LEN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(hw_rig_attach(&S.r, 1, &T2, reuse ? DID : DID + 1), 0);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 1, IOVA, DEV1_PA,
					      LEN, PT_PROT_READ | PT_PROT_WRITE),
			 0);
	assert_true(hw_rig_wait_ops(&S.r, 1, DMA_OPS));
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	hw_rig_settle(&S.r);
	uint64_t mis = atomic_load(&hw_rig_stats(&S.r, 0)->misdirected) +
		       atomic_load(&hw_rig_stats(&S.r, 1)->misdirected);
	bool ok = v == CLEAN ? hw_rig_errors(&S.r, 0) + hw_rig_errors(&S.r, 1) == 0
			     : mis > 0;
	if (!ok) {
		hw_rig_dump(&S.r, 0, "seq15 device 0");
		hw_rig_dump(&S.r, 1, "seq15 device 1");
	}
	assert_true(ok);
}

static void test_seq15_reused_did_misdirected(void **state)
{
	(void)state;
	seq15(true, FLAGGED);
}

static void test_seq15_reserved_did_clean(void **state)
{
	(void)state;
	seq15(false, CLEAN);
}

/* ---- AMD v1 and RISC-V: no BBM levels, replicated pages ---- */

/*
 * Neither manual has a break-before-make level: a change of page size
 * alone may leave entries of both sizes cached, and both give the same
 * output, so the model accepts it (docs/hw.md). The sequences that are
 * wrong on every IOMMU stay wrong: a translation changed without a break
 * (2), a leaf-only invalidation after tables were freed (3), a table page
 * freed before its sync (5).
 */
/* Leaves of each level's own size: no replicated page in the way. */
#define NATURAL (PT_SZ_4K | PT_SZ_2M | PT_SZ_1G)
#define FMT_SEQS(name, fmt)                                              \
	static void test_seq1_##name##_clean(void **state)               \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, NATURAL);                                  \
		seq1_split_one_store(CLEAN);                              \
	}                                                                 \
	static void test_seq2_##name##_flagged(void **state)             \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, NATURAL);                                  \
		seq2(0, FLAGGED);                                         \
	}                                                                 \
	static void test_seq3_##name##_leaf_only_uaf(void **state)       \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, PT_SZ_4K);                                 \
		seq3(IOMMU_DRV_LEAF, UAF);                                \
	}                                                                 \
	static void test_seq5_##name##_free_before_sync_uaf(void **state) \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, PT_SZ_4K);                                 \
		seq5(true, UAF);                                          \
	}                                                                 \
	static void test_seq9_##name##_clean(void **state)               \
	{                                                                 \
		(void)state;                                              \
		seq9(0, fmt);                                             \
	}                                                                 \
	static void test_seq10_##name##_clean(void **state)              \
	{                                                                 \
		(void)state;                                              \
		seq10(0, fmt, false, CLEAN);                              \
	}                                                                 \
	static void test_seq11_##name##_torn_page_flagged(void **state)  \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, PT_SZ_4K | PT_SZ_64K);                     \
		seq11(false, BBM);                                        \
	}                                                                 \
	static void test_seq11_##name##_break_clean(void **state)        \
	{                                                                 \
		(void)state;                                              \
		seq_up(0, fmt, PT_SZ_4K | PT_SZ_64K);                     \
		seq11(true, CLEAN);                                       \
	}

/* The level-0 table holding IOVA, and IOVA's slot in it. */
static _Atomic uint64_t *leaf_slot0(void)
{
	const struct pt_fmt *f = S.t.fmt;
	uint64_t *table = S.t.top;
	for (unsigned int l = S.t.top_level; l > 0; l--) {
		struct pt_entry_info info;
		pt_fmt_decode(f, table[pt_level_index(IOVA, l)], l, &info);
		assert_int_equal(info.type, PT_ENTRY_TABLE);
		table = physmem_ptr(&S.r.pm, info.oa, PT_TABLE_SIZE);
	}
	return (_Atomic uint64_t *)&table[pt_level_index(IOVA, 0)];
}

/*
 * 11: move a replicated 64K page elsewhere. Wrong: rewrite copy 0 alone
 * (as a writer that updates copies one by one would leave it for a
 * while), so the hardware may cache the page from either value. Right:
 * clear every copy, invalidate and sync, then write every copy anew.
 */
static void seq11(bool with_break, enum verdict v)
{
	const struct pt_fmt *f = S.t.fmt;
	const uint64_t page = 0x10000, moved = RIG_DATA_PA + (64ull << 20);
	_Atomic uint64_t *slot = leaf_slot0();
	struct pt_entry_info info;
	pt_fmt_decode(f, atomic_load(slot), 0, &info);
	assert_true(info.replicated);
	assert_int_equal(info.run_lg2, 4);
	uint64_t e = atomic_load(slot);
	uint64_t ne = (e & ~pt_oa_mask(f)) |
		      ((e & pt_oa_mask(f)) + pt_oa_bits(f, moved - RIG_DATA_PA));
	if (!with_break) {
		/*
		 * Copy 0 changed, the rest not yet, the whole domain
		 * invalidated: DMA into slot 5 alone, whose own copy still
		 * says what the oracle says. The page it caches from copy 5
		 * covers slot 0 too, which now translates elsewhere: the
		 * checker's comparison of cached pages with the tables
		 * (which looks at a page's first item) flags it.
		 */
		window(IOVA + 5 * 4096, 4096);
		atomic_store(&slot[0], ne);
		assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, ALL_UNITS, DID), 0);
		assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
		expect(v, "seq11");
		return;
	}
	window(IOVA, page);
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, page), 0);
	for (unsigned int k = 0; k < 16; k++)
		atomic_store(&slot[k], 0);
	inv_sync(IOVA, page, IOMMU_DRV_LEAF, 0);
	for (unsigned int k = 0; k < 16; k++)
		atomic_store(&slot[k], ne);
	inv_sync(IOVA, page, IOMMU_DRV_LEAF, 0);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, moved, page,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	expect(v, "seq11");
}

FMT_SEQS(amd, PT_FMT_AMD_V1)
FMT_SEQS(riscv, PT_FMT_RISCV)

/* ---- ARM stage 2 with a concatenated start level ---- */

/*
 * A 40-bit IPA space starts with two contiguous tables at ARM level 1
 * (pt_fmt_top_lg2): DMA at an IOVA whose entry is in the second page is
 * translated; the same table named by a root that is not aligned to the
 * pair is a malformed configuration, and the device faults.
 */
/* A 40-bit table attached through ste (NULL: the right one), then mapped
 * (engines DMA into what is mapped, so the configuration comes first). */
static void concat_up(uint64_t iova, bool misaligned)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 0);
	assert_int_equal(hw_rig_start(&S.r, &o), 0);
	assert_int_equal(hw_rig_table_init_va(&S.r, &S.t, PT_FMT_ARM_S2, 40, 0), 0);
	assert_int_equal(S.t.top_lg2, 1);
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 40,
		    S.t.top_pa + (misaligned ? PT_TABLE_SIZE : 0), DID);
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, NULL), 0);
	assert_int_equal(hw_rig_map(&S.r, 0, &S.t, iova, RIG_DATA_PA, LEN), 0);
	hw_rig_window(&S.r, 0, iova, iova + LEN - 1);
}

static void test_concat_second_page_clean(void **state)
{
	(void)state;
	concat_up((512ull << 30) + (3ull << 30), false);
	expect(CLEAN, "concat");
}

static void test_concat_misaligned_root_faults(void **state)
{
	(void)state;
	concat_up((512ull << 30) + (3ull << 30), true);
	expect(FAULT, "concat misaligned");
	/* Refused as a configuration, not walked off the end of the pair. */
	assert_true(hw_rig_has_event(&S.r, HW_EVT_BAD_STE));
}

/* ---- 12-14: ATS device TLBs (the ATC) ---- */

#define ATC_WIN (16ull * 4096) /* 16 pages: the device's ATC holds them all */

static const uint64_t MOVED = RIG_DATA_PA + (64ull << 20);

/* Device 0 with ATS, a table of pgsizes, DMA in the first ATC_WIN of IOVA. */
static void ats_up_sizes(enum pt_format_id fmt, uint64_t pgsizes)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 0);
	assert_int_equal(hw_rig_start(&S.r, &o), 0);
	assert_int_equal(iommu_drv_set_ats(&S.r.drv, 0, true), 0);
	assert_int_equal(hw_rig_table_init(&S.r, &S.t, fmt, pgsizes), 0);
	assert_int_equal(hw_rig_attach(&S.r, 0, &S.t, DID), 0);
	hw_rig_window(&S.r, 0, IOVA, IOVA + ATC_WIN - 1);
	assert_int_equal(hw_rig_map(&S.r, 0, &S.t, IOVA, RIG_DATA_PA, LEN), 0);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	assert_int_equal(hw_rig_errors(&S.r, 0), 0);
	/* The device works from its ATC. */
	assert_true(STAT(atc_hits) > 0);
	assert_true(STAT(atc_misses) > 0);
}

/* The same with 4K pages. */
static void ats_up(enum pt_format_id fmt)
{
	ats_up_sizes(fmt, PT_SZ_4K);
}

static void atc_inv_sync(uint64_t va, uint64_t len)
{
	if (len)
		assert_int_equal(iommu_drv_atc_inv(&S.r.drv, 0, va, len), 0);
	else
		assert_int_equal(iommu_drv_atc_inv_all(&S.r.drv, 0), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
}

/* Map [IOVA, IOVA + ATC_WIN) to pa again, declare it, DMA into it. */
static void remap_window(uint64_t pa)
{
	struct pt_gather g;
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&S.t, IOVA, pa, ATC_WIN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, pa, ATC_WIN,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	hw_rig_window(&S.r, 0, IOVA, IOVA + ATC_WIN - 1);
}

/*
 * 12: unmap a 2M range (its leaf table goes), TLBI + SYNC, then free the
 * table page: before the ATC invalidation completed (atc_order 1), with
 * no ATC invalidation and the IOVA mapped again elsewhere (2), or after
 * ATC_INV + SYNC (0, the safe order). DMA carries on in the other 2M.
 */
static void seq12(int atc_order, enum verdict v)
{
	struct pt_gather g;
	uint64_t unmapped;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, BLK), 0);
	hw_rig_window(&S.r, 0, IOVA + BLK, IOVA + BLK + ATC_WIN - 1);
	pt_gather_init(&g);
	assert_int_equal(pt_unmap_range(&S.t, IOVA, BLK, 0, &g, &unmapped), 0);
	assert_true(S.r.nr_deferred > 0);
	inv_sync(IOVA, BLK, 0, -1);
	if (atc_order == 0)
		atc_inv_sync(IOVA, BLK);
	hw_rig_free_deferred(&S.r);
	if (atc_order == 1)
		atc_inv_sync(IOVA, BLK);
	if (atc_order == 2)
		remap_window(MOVED);
	expect(v, "seq12");
}

static void test_seq12_free_before_atc_inv_stale(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq12(1, STALE);
}

static void test_seq12_no_atc_inv_remapped_misdirected(void **state)
{
	(void)state;
	ats_up(PT_FMT_VTD_SS);
	seq12(2, STALE_DMA);
}

static void test_seq12_atc_inv_then_free_clean(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq12(0, CLEAN);
	assert_true(STAT(atc_invalidations) > 0);
}

/*
 * 13: the device is moved to another table (and domain); the old table
 * is freed after its TLBI + SYNC. Without an ATC invalidation the device
 * keeps the old translations: to the old pages when the new table maps
 * others (moved), and from a freed table even when it maps the same.
 */
static void seq13(bool atc_inv, uint64_t new_pa, enum verdict v)
{
	struct pt_gather g;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, LEN), 0);
	assert_int_equal(hw_rig_table_init(&S.r, &T2, S.t.fmt->id, PT_SZ_4K), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&T2, IOVA, new_pa, LEN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(hw_rig_attach(&S.r, 0, &T2, DID + 1), 0);
	assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, ALL_UNITS, DID), 0);
	assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	if (atc_inv)
		atc_inv_sync(0, 0);
	pt_deinit(&S.t);
	hw_rig_free_deferred(&S.r);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, IOVA, new_pa, LEN,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	expect(v, "seq13");
	S.t = T2;
}

static void test_seq13_replace_no_atc_inv_misdirected(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq13(false, MOVED, STALE_DMA);
}

static void test_seq13_replace_same_map_no_atc_inv_stale(void **state)
{
	(void)state;
	ats_up(PT_FMT_VTD_SS);
	seq13(false, RIG_DATA_PA, STALE);
}

static void test_seq13_replace_atc_inv_clean(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq13(true, MOVED, CLEAN);
}

/*
 * 14: the window is unmapped and mapped again to other pages; the ATC is
 * invalidated before the IOTLB (atc_first), so the device's immediate
 * re-request is answered from the stale IOTLB and it keeps the old pages.
 */
static void seq14(bool atc_first, enum verdict v)
{
	struct pt_gather g;
	uint64_t unmapped;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, IOVA, ATC_WIN), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_unmap_range(&S.t, IOVA, ATC_WIN, 0, &g, &unmapped),
			 0);
	if (atc_first)
		atc_inv_sync(IOVA, ATC_WIN);
	inv_sync(IOVA, ATC_WIN, IOMMU_DRV_LEAF, 0);
	if (!atc_first)
		atc_inv_sync(IOVA, ATC_WIN);
	remap_window(MOVED);
	expect(v, "seq14");
}

static void test_seq14_atc_before_iotlb_misdirected(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq14(true, STALE_DMA);
}

static void test_seq14_amd_atc_before_iotlb_misdirected(void **state)
{
	(void)state;
	ats_up(PT_FMT_AMD_V1);
	seq14(true, STALE_DMA);
}

static void test_seq14_iotlb_then_atc_clean(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	seq14(false, CLEAN);
}

/* Without ATS the same sequence is clean: the IOTLB is what counts. */
static void test_seq14_no_ats_clean(void **state)
{
	(void)state;
	ats_up(PT_FMT_ARM_S2);
	assert_int_equal(iommu_drv_set_ats(&S.r.drv, 0, false), 0);
	seq14(true, CLEAN);
}

/*
 * A translation the IOMMU answered from a 2M block is one ATC entry of
 * 2M: the device's DMA over 16 pages of it misses fewer than 16 times.
 * Unmapping the block's second page (split into a 4K table; VT-d takes
 * the change of page size) and mapping it elsewhere needs only that
 * page's ATC_INV: the whole 2M entry overlaps it and goes (PCIe ATS: an
 * invalidation removes every translation overlapping its range). A
 * device that kept the 2M entry would write the moved page's old PA.
 */
static void test_atc_block_entry(void **state)
{
	(void)state;
	ats_up_sizes(PT_FMT_VTD_SS, PT_SZ_4K | PT_SZ_2M);
	assert_true(STAT(atc_misses) < ATC_WIN / 4096);

	struct pt_gather g;
	uint64_t unmapped;
	const uint64_t page = IOVA + 4096;
	assert_int_equal(iommu_drv_oracle_unmap(&S.r.drv, 0, page, 4096), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_unmap_range(&S.t, page, 4096, PT_UNMAP_SPLIT, &g,
					&unmapped), 0);
	assert_int_equal(unmapped, 4096);
	inv_sync(IOVA, BLK, 0, -1);
	atc_inv_sync(page, 4096);
	hw_rig_free_deferred(&S.r);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&S.t, page, MOVED, 4096, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
	assert_int_equal(iommu_drv_oracle_map(&S.r.drv, 0, page, MOVED, 4096,
					      PT_PROT_READ | PT_PROT_WRITE), 0);
	expect(CLEAN, "atc block entry");
}

/* ---- 16: substreams (PASIDs) through a CD table ---- */

#define PASID_DID (DID + 1)
#define PASID_PA DEV1_PA
#define CD_LOG2 2u /* 4 CDs: PASIDs 1 to 3 */

static struct pt_table PT1; /* PASID 1's table */
static uint64_t CDTAB;

static uint64_t cd_val(const struct pt_table *t, uint16_t did, uint64_t cd[HW_CD_WORDS])
{
	hw_cd_make(cd, t->fmt->id, t->va_bits, t->top_pa, did);
	return cd[0];
}

static void table_at(struct pt_table *t, uint64_t pa)
{
	struct pt_gather g;
	assert_int_equal(hw_rig_table_init(&S.r, t, S.t.fmt->id, PT_SZ_4K), 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(t, IOVA, pa, LEN, PT_PROT_READ |
				      PT_PROT_WRITE | PT_PROT_CACHE, &g), 0);
}

/*
 * Device 0: no PASID through S.t (DID), PASID 1 through PT1 (PASID_DID)
 * to other pages, both DMAing; its STE points at a table of 4 CDs.
 */
static void pasid_up(enum pt_format_id fmt)
{
	uint64_t ste[HW_STE_WORDS], cd[HW_CD_WORDS];
	seq_up(0, fmt, PT_SZ_4K);
	assert_non_null(hw_rig_page(&S.r, &CDTAB));
	table_at(&PT1, PASID_PA);
	cd_val(&PT1, PASID_DID, cd);
	assert_int_equal(iommu_drv_write_cd(&S.r.drv, 0, CDTAB, CD_LOG2, 1, cd,
					    0, NULL), 0);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, S.t.fmt->id, S.t.va_bits,
		    S.t.top_pa, DID);
	hw_ste_set_cdtab(ste, CDTAB, CD_LOG2);
	bool hitless = false;
	assert_int_equal(iommu_drv_write_ste(&S.r.drv, 0, ste, &hitless), 0);
	assert_true(hitless); /* only unused words and CDLOG2 change */
	assert_int_equal(iommu_drv_oracle_map_pasid(&S.r.drv, 0, 1, IOVA,
						    PASID_PA, LEN,
						    PT_PROT_READ | PT_PROT_WRITE),
			 0);
	expect(CLEAN, "pasid setup");
}

static void xlate_is(uint32_t pasid, uint64_t pa)
{
	struct hw_xlate x;
	assert_int_equal(hw_iommu_translate_pasid(hw_machine_iommu(S.r.m), 0,
						  pasid, IOVA + 4096,
						  HW_ACCESS_READ, &x), 0);
	assert_int_equal(x.pa, pa + 4096);
}

/*
 * PASID 1 moves to a fresh table mapping new_pa, in domain did (the old
 * one: only the ROOT word of its CD changes, hitless; another: through
 * V=0, which only a PASID without DMA may take); then, unless tlbi is
 * false, TLBI of the old domain + SYNC; then the old table is freed.
 * cfgi false: the CD is written without CFGI_CD, so the IOMMU keeps the
 * cached old one.
 */
static void seq16_did(bool cfgi, bool tlbi, uint64_t new_pa, uint16_t did,
		      enum verdict v)
{
	struct pt_table nt;
	uint64_t cd[HW_CD_WORDS];
	bool hitless = false;
	if (new_pa != PASID_PA)
		assert_int_equal(iommu_drv_oracle_unmap_pasid(&S.r.drv, 0, 1,
							      IOVA, LEN), 0);
	table_at(&nt, new_pa);
	cd_val(&nt, did, cd);
	assert_int_equal(iommu_drv_write_cd(&S.r.drv, 0, CDTAB, CD_LOG2, 1, cd,
					    cfgi ? 0 : IOMMU_DRV_CD_NO_CFGI,
					    &hitless), 0);
	assert_true(hitless == (did == PASID_DID));
	if (tlbi) {
		assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, ALL_UNITS, PASID_DID), 0);
		assert_int_equal(iommu_drv_sync(&S.r.drv), 0);
	}
	pt_deinit(&PT1);
	hw_rig_free_deferred(&S.r);
	if (new_pa != PASID_PA)
		assert_int_equal(iommu_drv_oracle_map_pasid(&S.r.drv, 0, 1, IOVA,
							    new_pa, LEN,
							    PT_PROT_READ |
							    PT_PROT_WRITE), 0);
	expect(v, "seq16");
	PT1 = nt;
}

static void seq16(bool cfgi, bool tlbi, uint64_t new_pa, enum verdict v)
{
	seq16_did(cfgi, tlbi, new_pa, PASID_DID, v);
}

static void test_seq16_cd_switch_without_cfgi_uaf(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	seq16(false, true, PASID_PA, UAF);
}

static void test_seq16_cd_switch_without_cfgi_misdirected(void **state)
{
	(void)state;
	pasid_up(PT_FMT_VTD_SS);
	seq16(false, true, MOVED, FLAGGED);
	assert_true(STAT(misdirected) > 0);
}

static void test_seq16_cd_free_before_tlbi_uaf(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	seq16(true, false, PASID_PA, UAF);
}

static void test_seq16_cd_switch_safe_clean(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	seq16(true, true, PASID_PA, CLEAN);
	xlate_is(0, RIG_DATA_PA);
	xlate_is(1, PASID_PA);
}

static void test_seq16_vtd_cd_switch_moved_clean(void **state)
{
	(void)state;
	pasid_up(PT_FMT_VTD_SS);
	seq16_did(true, true, MOVED, PASID_DID + 1, CLEAN);
	xlate_is(1, MOVED);
}

/*
 * The device's errors other than faults: what a bad PASID must not cause.
 * Summed without the fault count, which still grows while it is read.
 */
static uint64_t non_fault_errors(void)
{
	const struct hw_dev_stats *s = hw_rig_stats(&S.r, 0);
	return atomic_load(&s->conflicts) + atomic_load(&s->misdirected) +
	       atomic_load(&s->lost_writes) + atomic_load(&s->bbm_violations) +
	       atomic_load(&s->use_after_free) + atomic_load(&s->torn_config) +
	       atomic_load(&s->stale_atc);
}

/*
 * DMA on PASID pasid to [IOVA2, +LEN): a CD that is invalid, malformed or
 * beyond the table faults with ev; no PASID and PASID 1 keep translating
 * as mapped.
 */
#define IOVA2 (IOVA + (1ull << 30))
static void bad_pasid_dma(uint32_t pasid, uint32_t ev)
{
	uint64_t bad_before = atomic_load(&S.r.region.regs->bad_input);
	assert_int_equal(iommu_drv_oracle_map_pasid(&S.r.drv, 0, pasid, IOVA2,
						    PASID_PA, LEN,
						    PT_PROT_READ | PT_PROT_WRITE),
			 0);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	hw_rig_settle(&S.r);
	if (!STAT(faults) || non_fault_errors() || !hw_rig_has_event(&S.r, ev))
		hw_rig_dump(&S.r, 0, "bad pasid");
	assert_true(STAT(faults) > 0);
	assert_true(hw_rig_has_event(&S.r, ev));
	assert_int_equal(non_fault_errors(), 0);
	uint64_t bad = atomic_load(&S.r.region.regs->bad_input) - bad_before;
	if (ev == HW_EVT_BAD_CD)
		assert_true(bad > 0);
	else
		assert_int_equal(bad, 0);
	xlate_is(0, RIG_DATA_PA);
	xlate_is(1, PASID_PA);
	/* Withdrawn, the device runs clean again. */
	assert_int_equal(iommu_drv_oracle_unmap_pasid(&S.r.drv, 0, pasid, IOVA2,
						      LEN), 0);
	uint64_t faults = STAT(faults);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	hw_rig_settle(&S.r);
	assert_int_equal(STAT(faults), faults);
}

static void test_seq16_pasid_beyond_table_faults(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	bad_pasid_dma(1u << CD_LOG2, HW_EVT_BAD_SUBSTREAMID);
}

static void test_seq16_invalid_cd_faults(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	bad_pasid_dma(2, HW_EVT_CD_ABORT);
}

static void test_seq16_malformed_cd_faults(void **state)
{
	(void)state;
	pasid_up(PT_FMT_VTD_SS);
	uint64_t cd[HW_CD_WORDS];
	cd_val(&PT1, PASID_DID + 1, cd);
	cd[3] = 1; /* RES0 */
	assert_int_equal(iommu_drv_write_cd(&S.r.drv, 0, CDTAB, CD_LOG2, 3, cd,
					    0, NULL), 0);
	bad_pasid_dma(3, HW_EVT_BAD_CD);
}

static void test_seq16_pasid_on_stream_without_table_faults(void **state)
{
	(void)state;
	seq_up(0, PT_FMT_ARM_S2, PT_SZ_4K);
	uint64_t bad_before = atomic_load(&S.r.region.regs->bad_input);
	assert_int_equal(iommu_drv_oracle_map_pasid(&S.r.drv, 0, 1, IOVA2,
						    PASID_PA, LEN,
						    PT_PROT_READ | PT_PROT_WRITE),
			 0);
	expect(FAULT, "pasid without table");
	assert_true(hw_rig_has_event(&S.r, HW_EVT_BAD_SUBSTREAMID));
	assert_int_equal(non_fault_errors(), 0);
	assert_int_equal(atomic_load(&S.r.region.regs->bad_input), bad_before);
	xlate_is(0, RIG_DATA_PA);
}

/* A CD whose ROOT and DID both change between two CFGI_CDs: the IOMMU may
 * read the new ROOT with the old DID. */
static void test_seq16_torn_cd_flagged(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	struct pt_table nt;
	uint64_t cd[HW_CD_WORDS];
	table_at(&nt, PASID_PA);
	cd_val(&nt, PASID_DID + 1, cd);
	assert_int_equal(iommu_drv_write_cd(&S.r.drv, 0, CDTAB, CD_LOG2, 1, cd,
					    IOMMU_DRV_CD_NO_CFGI, NULL), 0);
	/* NO_CFGI skipped the break too: the plan went through V=0, so
	 * write the target over it in one go. */
	_Atomic uint64_t *e = physmem_ptr(&S.r.pm, CDTAB + HW_CD_SIZE,
					  HW_CD_SIZE);
	atomic_store(&e[0], cd[0]);
	assert_int_equal(iommu_drv_cfgi_cd_sync(&S.r.drv, 0, 1), 0);
	expect(TORN, "torn cd");
}

/* The same change through the driver: via V=0, disruptive but not torn. */
static void test_seq16_disruptive_cd_not_torn(void **state)
{
	(void)state;
	pasid_up(PT_FMT_ARM_S2);
	struct pt_table nt;
	uint64_t cd[HW_CD_WORDS];
	bool hitless = true;
	table_at(&nt, PASID_PA);
	cd_val(&nt, PASID_DID + 1, cd);
	assert_int_equal(iommu_drv_write_cd(&S.r.drv, 0, CDTAB, CD_LOG2, 1, cd,
					    0, &hitless), 0);
	assert_false(hitless);
	assert_true(hw_rig_wait_ops(&S.r, 0, DMA_OPS));
	hw_rig_settle(&S.r);
	assert_int_equal(STAT(torn_config), 0);
	xlate_is(1, PASID_PA);
}

/*
 * 17: several IOMMU units. Devices 0 and 1 sit behind units 0 and 1 and
 * share one table (one domain, a range each). Both are switched to a copy
 * and the old table is freed; only unit 0 was invalidated (units_inv =
 * 1) or every unit that had the table attached (3). Unit 1's walk cache
 * and IOTLB still hold the old table's pages: device 1 walks or is found
 * holding freed pages. Its IOTLB entries translate alike (a copy), so the
 * verdict is a use after free, not a misdirected write.
 */
#define IOVA1 (IOVA + LEN)

static void units_up(void)
{
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 0);
	o.nr_units = 2;
	o.engines[1] = 2;
	assert_int_equal(hw_rig_start(&S.r, &o), 0);
	assert_int_equal(iommu_drv_unit_of(&S.r.drv, 0), 0);
	assert_int_equal(iommu_drv_unit_of(&S.r.drv, 1), 1);
	assert_int_equal(hw_rig_table_init(&S.r, &S.t, PT_FMT_ARM_S2,
					   PT_SZ_4K), 0);
	assert_int_equal(hw_rig_attach(&S.r, 0, &S.t, DID), 0);
	assert_int_equal(hw_rig_attach(&S.r, 1, &S.t, DID), 0);
	assert_int_equal(hw_rig_map(&S.r, 0, &S.t, IOVA, RIG_DATA_PA, LEN), 0);
	assert_int_equal(hw_rig_map(&S.r, 1, &S.t, IOVA1, DEV1_PA, LEN), 0);
	for (unsigned int d = 0; d < 2; d++) {
		assert_true(hw_rig_wait_ops(&S.r, d, DMA_OPS));
		if (hw_rig_errors(&S.r, d))
			hw_rig_dump(&S.r, d, "seq17 setup");
		assert_int_equal(hw_rig_errors(&S.r, d), 0);
	}
	/* Each unit walked the table for its own device only. */
	const struct hw_regs *g = S.r.region.regs;
	assert_true(atomic_load(&g->unit[0].walks) > 0);
	assert_true(atomic_load(&g->unit[1].walks) > 0);
}

static void seq17(uint32_t units_inv, bool expect_uaf)
{
	struct pt_gather g;
	const uint32_t sids[2] = { 0, 1 };
	uint64_t ste[2][HW_STE_WORDS];
	bool hitless = false;
	assert_int_equal(hw_rig_table_init(&S.r, &T2, PT_FMT_ARM_S2, PT_SZ_4K),
			 0);
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(&T2, IOVA, RIG_DATA_PA, LEN,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
	assert_int_equal(pt_map_range(&T2, IOVA1, DEV1_PA, LEN,
				      PT_PROT_READ | PT_PROT_WRITE |
				      PT_PROT_CACHE, &g), 0);
	for (unsigned int k = 0; k < 2; k++)
		hw_ste_make(ste[k], HW_STE_MODE_TRANSLATE, T2.fmt->id, 48,
			    T2.top_pa, DID);
	/* Each entry on its own unit: CFGI_STE and SYNC there. */
	assert_int_equal(iommu_drv_write_stes(&S.r.drv, 2, sids,
					      (const uint64_t (*)[HW_STE_WORDS])ste,
					      &hitless, NULL, NULL), 0);
	assert_true(hitless);
	assert_int_equal(iommu_drv_tlbi_domain(&S.r.drv, units_inv, DID), 0);
	assert_int_equal(iommu_drv_sync_units(&S.r.drv, units_inv), 0);
	pt_deinit(&S.t);
	for (unsigned int d = 0; d < 2; d++)
		assert_true(hw_rig_wait_ops(&S.r, d, DMA_OPS));
	hw_rig_settle(&S.r);
	/* Unit 0 was invalidated either way: its device is clean. */
	if (hw_rig_errors(&S.r, 0))
		hw_rig_dump(&S.r, 0, "seq17 unit 0");
	assert_int_equal(hw_rig_errors(&S.r, 0), 0);
	const struct hw_dev_stats *s1 = hw_rig_stats(&S.r, 1);
	uint64_t caught = atomic_load(&s1->use_after_free) +
			  atomic_load(&s1->misdirected);
	if (expect_uaf != (caught > 0) || (!expect_uaf && hw_rig_errors(&S.r, 1)))
		hw_rig_dump(&S.r, 1, "seq17 unit 1");
	if (expect_uaf)
		assert_true(caught > 0);
	else
		assert_int_equal(hw_rig_errors(&S.r, 1), 0);
}

static void test_seq17_units_one_invalidated_uaf(void **state)
{
	(void)state;
	units_up();
	seq17(1u << 0, true);
}

static void test_seq17_units_every_unit_clean(void **state)
{
	(void)state;
	units_up();
	seq17((1u << 0) | (1u << 1), false);
}

/* ---- randomized mode keeps the verdicts ---- */

static void test_random_mode_seq4_flagged(void **state)
{
	(void)state;
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 2);
	o.mcfg.iommu.randomized = true;
	o.mcfg.iommu.seed = 42;
	seq_up_opts(&o, PT_FMT_ARM_S2, 0);
	seq4(false, FLAGGED);
}

static void test_random_mode_seq1_bbm2_clean(void **state)
{
	(void)state;
	struct hw_rig_opts o;
	hw_rig_opts_default(&o, 2);
	o.mcfg.iommu.randomized = true;
	o.mcfg.iommu.seed = 7;
	seq_up_opts(&o, PT_FMT_ARM_S2, 0);
	seq1_split_one_store(CLEAN);
}

#define T(f) cmocka_unit_test_teardown(f, seq_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_seq1_bbm0_conflict),
		T(test_seq17_units_one_invalidated_uaf),
		T(test_seq17_units_every_unit_clean),
		T(test_seq1_bbm1_without_nt_conflict),
		T(test_seq1_bbm2_clean),
		T(test_seq1_vtd_clean),
		T(test_seq1_bbm1_nt_clean),
		T(test_seq1_bbm0_break_clean),
		T(test_seq2_bbm0_flagged),
		T(test_seq2_bbm2_flagged),
		T(test_seq2_vtd_flagged),
		T(test_seq2_bbm2_old_level_clean),
		T(test_seq3_vtd_leaf_only_uaf),
		T(test_seq3_vtd_full_clean),
		T(test_seq3_bbm2_leaf_only_uaf),
		T(test_seq3_bbm2_full_clean),
		T(test_seq4_bbm0_flagged),
		T(test_seq4_bbm2_flagged),
		T(test_seq4_vtd_flagged),
		T(test_seq4_bbm0_break_clean),
		T(test_seq5_free_before_sync_uaf),
		T(test_seq5_free_after_sync_clean),
		T(test_seq5_vtd_free_before_sync_uaf),
		T(test_seq6_torn_update_flagged),
		T(test_seq6_hitless_update_clean),
		T(test_seq6_disruptive_update_not_torn),
		T(test_seq7_valid_without_cfgi_faults),
		T(test_seq7_valid_with_cfgi_clean),
		T(test_seq8_s2_only_invalidation_flagged),
		T(test_seq8_vmid_invalidation_clean),
		T(test_seq9_bbm0_clean),
		T(test_seq9_bbm2_clean),
		T(test_seq9_vtd_clean),
		T(test_seq10_bbm0_conflict),
		T(test_seq10_bbm0_reconciled_clean),
		T(test_seq10_bbm2_clean),
		T(test_seq10_vtd_clean),
		T(test_seq15_reused_did_misdirected),
		T(test_seq15_reserved_did_clean),
		T(test_seq1_amd_clean),
		T(test_seq2_amd_flagged),
		T(test_seq3_amd_leaf_only_uaf),
		T(test_seq5_amd_free_before_sync_uaf),
		T(test_seq9_amd_clean),
		T(test_seq10_amd_clean),
		T(test_seq11_amd_torn_page_flagged),
		T(test_seq11_amd_break_clean),
		T(test_seq1_riscv_clean),
		T(test_seq2_riscv_flagged),
		T(test_seq3_riscv_leaf_only_uaf),
		T(test_seq5_riscv_free_before_sync_uaf),
		T(test_seq9_riscv_clean),
		T(test_seq10_riscv_clean),
		T(test_seq11_riscv_torn_page_flagged),
		T(test_seq11_riscv_break_clean),
		T(test_concat_second_page_clean),
		T(test_concat_misaligned_root_faults),
		T(test_seq12_free_before_atc_inv_stale),
		T(test_seq12_no_atc_inv_remapped_misdirected),
		T(test_seq12_atc_inv_then_free_clean),
		T(test_seq13_replace_no_atc_inv_misdirected),
		T(test_seq13_replace_same_map_no_atc_inv_stale),
		T(test_seq13_replace_atc_inv_clean),
		T(test_seq14_atc_before_iotlb_misdirected),
		T(test_seq14_amd_atc_before_iotlb_misdirected),
		T(test_seq14_iotlb_then_atc_clean),
		T(test_seq14_no_ats_clean),
		T(test_atc_block_entry),
		T(test_seq16_cd_switch_without_cfgi_uaf),
		T(test_seq16_cd_switch_without_cfgi_misdirected),
		T(test_seq16_cd_free_before_tlbi_uaf),
		T(test_seq16_cd_switch_safe_clean),
		T(test_seq16_vtd_cd_switch_moved_clean),
		T(test_seq16_pasid_beyond_table_faults),
		T(test_seq16_invalid_cd_faults),
		T(test_seq16_malformed_cd_faults),
		T(test_seq16_pasid_on_stream_without_table_faults),
		T(test_seq16_torn_cd_flagged),
		T(test_seq16_disruptive_cd_not_torn),
		T(test_random_mode_seq4_flagged),
		T(test_random_mode_seq1_bbm2_clean),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
