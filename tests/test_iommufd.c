// SPDX-License-Identifier: MIT
/*
 * iommufd/ against the real machine model: the object model (IOAS, HWPT,
 * devices, flush, preserve and adopt) and its IOMMU driver, with the
 * machine running in this process (tests/lib/hw_rig) and the host's page
 * allocator (kho) over the same physmem, as a host kernel has it. Each
 * test guards one thing a host must not go lax on: it fails when the
 * guarded line is broken (docs/testing.md lists each test and the break
 * it was checked against).
 *
 * DMA runs through the oracle (the test declares what the device may use
 * after iommufd mapped it, and withdraws it before unmapping); a window
 * (hw_rig_window) points the engines at the pages whose caches a test
 * wants warm. Waits are for DMA operations or checker passes, never for
 * time.
 */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/hw_abi_ste.h"
#include "iommufd/iommufd.h"
#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "tests/lib/hw_rig.h"

/* Invalidations in these tests go to every unit. */
#define ALL_UNITS IOMMU_DRV_ALL_UNITS
#include "ioh/ioh.h"

#define X 0x40000000ull            /* IOVA base, 1G aligned */
#define K64 0x10000ull
#define M2 (2ull << 20)
#define MEMFD_SIZE (16ull << 20)
#define NR_MEMFDS 2
#define RW (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)
#define DMA_RW (PT_PROT_READ | PT_PROT_WRITE)
#define OPS 300
#define FMT PT_FMT_ARM_S2
#define VA_BITS 48

/* Whole 2M folios, so every area's layout is known. */
static const struct kho_memfd_mix mix_2m = { .ppm_1g = 0, .ppm_4k = 0,
					     .seed = 1 };
static const char *const memfd_name[NR_MEMFDS] = { "ram", "other" };

/* Generation 1: the machine, a host allocator over its RAM, iommufd. */
struct fix {
	struct hw_rig r;
	bool rig_up;
	struct kho k;
	struct iommu_unit unit;
	struct iommufd_ctx ictx;
	struct kho_memfd *m[NR_MEMFDS];
	bool up;
};

static struct fix F;
/* DMA engines of device 1 at the next fix_up (device 0 always has 2). */
static unsigned int fix_engines1;

/* Engines of device 1 at the next fix_up (device 0 always has two). */
static unsigned int fix_engines1;
/* IOMMU units at the next fix_up (0: one); device d behind d % units. */
static unsigned int fix_units;

/* machine: false for a register region nobody serves (no sync completes). */
static void fix_up_with(unsigned int bbm, bool machine)
{
	struct hw_rig_opts o;
	uint64_t strtab;
	memset(&F, 0, sizeof(F));
	hw_rig_opts_default(&o, bbm);
	o.engines[1] = fix_engines1;
	o.nr_units = fix_units ? fix_units : 1;
	fix_engines1 = 0;
	fix_units = 0;
	assert_int_equal(machine ? hw_rig_start(&F.r, &o) :
			 hw_rig_start_units(&F.r, bbm, o.nr_units), 0);
	F.rig_up = true;
	assert_int_equal(kho_init(&F.k, &F.r.pm, 0), 0);
	F.unit = (struct iommu_unit){ .nr_units = o.nr_units,
				      .strtab_log2 = RIG_STRTAB_LOG2,
				      .fmt = FMT, .va_bits = VA_BITS };
	/* Each unit's stream table is the host's page, as a kernel
	 * allocates it. */
	for (unsigned int u = 0; u < o.nr_units; u++) {
		assert_int_equal(kho_folio_alloc(&F.k.alloc, KHO_4K_LG2,
						 &strtab), 0);
		memset(kho_va(&F.k, strtab, KHO_4K), 0, KHO_4K);
		assert_int_equal(iommu_drv_set_strtab(&F.r.drv, u, strtab,
						      RIG_STRTAB_LOG2), 0);
		F.unit.strtab_pa[u] = strtab;
	}
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		F.unit.dev_unit[d] = (uint8_t)(d % o.nr_units);
	assert_int_equal(iommufd_init(&F.ictx, &F.k, &F.r.drv,
				      iommufd_profile_find("v1"), FMT, VA_BITS),
			 0);
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(kho_memfd_create(&F.k, memfd_name[i],
						  MEMFD_SIZE, &mix_2m, &F.m[i]),
				 0);
	F.up = true;
}

static void fix_up(unsigned int bbm)
{
	fix_up_with(bbm, true);
}

static int fix_teardown(void **state)
{
	(void)state;
	ioh_fail_arm(NULL, 0);
	pt_inject_eplan = 0;
	if (F.up) {
		iommufd_fini(&F.ictx);
		for (unsigned int i = 0; i < NR_MEMFDS; i++)
			if (F.m[i])
				kho_memfd_forget(F.m[i]);
		kho_fini(&F.k);
	}
	if (F.rig_up)
		hw_rig_stop(&F.r);
	memset(&F, 0, sizeof(F));
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static struct iommufd_ioas *ioas_new(void)
{
	struct iommufd_ioas *ioas;
	assert_int_equal(iommufd_ioas_alloc(&F.ictx, &ioas), 0);
	return ioas;
}

static struct iommufd_hwpt *hwpt_new(struct iommufd_ioas *ioas)
{
	struct iommufd_hwpt *h;
	assert_int_equal(iommufd_hwpt_alloc(&F.ictx, ioas, 0, &h), 0);
	return h;
}

static void map(struct iommufd_ioas *ioas, unsigned int memfd, uint64_t off,
		uint64_t len, uint64_t iova)
{
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[memfd], off,
					       len, iova, RW), 0);
}

/* Declare to dev's oracle that iova of pasid maps [off, off + len) of
 * the memfd. */
static void oracle_file_pasid(unsigned int dev, uint32_t pasid,
			      unsigned int memfd, uint64_t off, uint64_t len,
			      uint64_t iova)
{
	const struct kho_memfd *m = F.m[memfd];
	for (size_t i = 0; i < m->nr_runs && len; i++) {
		const struct kho_memfd_run *r = &m->runs[i];
		uint64_t rend = r->offset + (r->count << r->size_lg2);
		if (off < r->offset || off >= rend)
			continue;
		uint64_t n = rend - off < len ? rend - off : len;
		assert_int_equal(iommu_drv_oracle_map_pasid(&F.r.drv, dev,
							    pasid, iova,
							    r->pa + (off - r->offset),
							    n, DMA_RW), 0);
		iova += n;
		off += n;
		len -= n;
	}
	assert_int_equal(len, 0);
}

static void oracle_file(unsigned int dev, unsigned int memfd, uint64_t off,
			uint64_t len, uint64_t iova)
{
	oracle_file_pasid(dev, 0, memfd, off, len, iova);
}

static void oracle_drop(unsigned int dev, uint64_t iova, uint64_t len)
{
	assert_int_equal(iommu_drv_oracle_unmap(&F.r.drv, dev, iova, len), 0);
}

/* Point dev's DMA at [lo, lo + len) until it has done OPS operations. */
static void dma_at(unsigned int dev, uint64_t lo, uint64_t len)
{
	hw_rig_window(&F.r, dev, lo, lo + len - 1);
	assert_true(hw_rig_wait_ops(&F.r, dev, OPS));
}

static uint64_t stat_of(unsigned int dev, size_t off)
{
	const struct hw_dev_stats *s = hw_rig_stats(&F.r, dev);
	return atomic_load((_Atomic uint64_t *)((const char *)s + off));
}

#define STAT(dev, f) stat_of(dev, offsetof(struct hw_dev_stats, f))

/* Leaves of h of 2^lg2 bytes. */
static unsigned int leaves(const struct iommufd_hwpt *h, unsigned int lg2)
{
	struct pt_iter it;
	struct pt_leaf l;
	unsigned int n = 0;
	pt_iter_init(&it, &h->pt, 0, ~0ull);
	while (pt_iter_next(&h->pt, &it, &l))
		n += l.size_lg2 == lg2;
	return n;
}

/* Two checker passes later, not a single error on dev. */
static void expect_clean(unsigned int dev, const char *what)
{
	hw_rig_settle(&F.r);
	if (hw_rig_errors(&F.r, dev))
		hw_rig_dump(&F.r, dev, what);
	assert_int_equal(hw_rig_errors(&F.r, dev), 0);
}

/* ---- several IOMMU units ------------------------------------------------ */

/*
 * Two units, a device behind each, both on one table: the live update's
 * switch (both replaced onto a copy, one domain) and the old table's
 * destruction invalidate and sync the domain on both units before its
 * pages go. naive: the kernel invalidates the first unit only
 * (skip_units_inv), and the machine counts unit 1's device walking the
 * freed table.
 */
static void units_replace(bool naive)
{
	fix_units = 2;
	fix_engines1 = 2;
	fix_up(0);
	assert_int_equal(F.ictx.dev[0].unit, 0);
	assert_int_equal(F.ictx.dev[1].unit, 1);
	struct iommufd_ioas *ioas1 = ioas_new(), *ioas2 = ioas_new();
	for (unsigned int i = 0; i < 2; i++) {
		struct iommufd_ioas *io = i ? ioas2 : ioas1;
		map(io, 0, 0, K64, X);
		map(io, 0, M2, K64, X + M2);
	}
	struct iommufd_hwpt *h1 = hwpt_new(ioas1), *h2 = hwpt_new(ioas2);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h1), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, h1), 0);
	assert_int_equal(h1->units, 3);
	oracle_file(0, 0, 0, K64, X);
	oracle_file(1, 0, M2, K64, X + M2);
	dma_at(0, X, K64);
	dma_at(1, X + M2, K64);
	expect_clean(0, "warm 0");
	expect_clean(1, "warm 1");

	const struct hw_regs *g = F.r.region.regs;
	uint64_t cmds1 = atomic_load(&g->unit[1].cmds);
	F.ictx.skip_units_inv = naive;
	const uint32_t sids[2] = { 0, 1 };
	assert_int_equal(iommufd_devices_replace(&F.ictx, sids, 2, h2), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h1), 0);
	dma_at(0, X, K64);
	dma_at(1, X + M2, K64);
	expect_clean(0, "unit 0");
	if (naive) {
		hw_rig_settle(&F.r);
		assert_true(STAT(1, use_after_free) + STAT(1, misdirected) > 0);
		return;
	}
	/* Unit 1 got its entry's CFGI and the domain's TLBI, each synced. */
	assert_true(atomic_load(&g->unit[1].cmds) >= cmds1 + 4);
	expect_clean(1, "unit 1");
}

static void test_units_replace_invalidates_every_unit(void **state)
{
	(void)state;
	units_replace(false);
}

static void test_units_naive_caught(void **state)
{
	(void)state;
	units_replace(true);
}

/* ---- flush after unmap: the leaf-only hint ----------------------------- */

/*
 * Unmapping a 64K area (4K pages) alone in its 2M slot frees its
 * last-level table page, which the walk cache points at since DMA
 * walked it. The flush
 * must not carry the leaf-only hint (docs/reference.md section 4,
 * sequence 3): with it the pointer outlives the page and the machine's
 * checker sees a walk-cache entry leading into a freed table.
 */
static void test_unmap_freeing_table_flushes_walk_cache(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	map(ioas, 0, M2, K64, X + M2);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(leaves(h, 12), 32);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, K64, X);
	oracle_file(0, 0, M2, K64, X + M2);
	dma_at(0, X, K64);
	dma_at(0, X, 2 * M2);
	expect_clean(0, "warm");

	uint64_t pages = F.ictx.stats.table_pages;
	oracle_drop(0, X, K64);
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, K64), 0);
	assert_true(F.ictx.stats.table_pages < pages); /* a table page went */
	dma_at(0, X + M2, K64);
	expect_clean(0, "unmap freeing a table");

	/* The slot maps again, to other memory, and translates so. */
	map(ioas, 1, 0, K64, X);
	oracle_file(0, 1, 0, K64, X);
	dma_at(0, X, K64);
	expect_clean(0, "remap");
}

/*
 * One unmap of 2M + 12K (a 2M block and three 4K pages in a table of
 * their own) needs several range commands: (NUM + 1) x 2^SCALE pages
 * each, NUM < 32. Every page of the range must really be invalidated,
 * the last three too: their IOTLB entries and the walk-cache pointer to
 * their freed table.
 */
static void test_unmap_needing_several_range_commands(void **state)
{
	(void)state;
	const uint64_t len = M2 + 3 * 4096;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, len, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(leaves(h, 21), 1);
	assert_int_equal(leaves(h, 12), 3);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, len, X);
	dma_at(0, X + M2, len - M2);
	dma_at(0, X, M2);
	expect_clean(0, "warm");

	struct hw_regs *g = F.r.region.regs;
	oracle_drop(0, X, len);
	uint64_t cmds = atomic_load(&g->cmds);
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, len), 0);
	/* At least two range commands and the sync. */
	assert_true(atomic_load(&g->cmds) - cmds >= 3);
	/* Before any table page is taken again: nothing points at them. */
	expect_clean(0, "unmap");

	/* The same IOVAs, other memory: no stale translation is left. */
	map(ioas, 1, 0, len, X);
	oracle_file(0, 1, 0, len, X);
	dma_at(0, X + M2, len - M2);
	dma_at(0, X, len);
	expect_clean(0, "remap");
}

/* ---- replace: invalidate the domain after the switch -------------------- */

/*
 * device_replace keeps the domain ID (only the root word changes), so the
 * walk cache, tagged by domain, still points into the old table until
 * the domain is invalidated after the configuration write and its sync.
 * Two IOASes agree at the switch; then the new one changes a page whose
 * last-level table stays (a leaf-only flush, rightly). A walk through a
 * pointer left from the old table reads the old IOAS's translation:
 * misdirected DMA. With one IOAS the break would not show: the tables
 * never diverge, and destroying the old HWPT (lu's rebuild does so right
 * after the switch) invalidates the same, shared domain before freeing.
 */
static void test_replace_invalidates_domain(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas1 = ioas_new(), *ioas2 = ioas_new();
	for (unsigned int i = 0; i < 2; i++) {
		struct iommufd_ioas *ioas = i ? ioas2 : ioas1;
		map(ioas, 0, 0, K64, X);
		map(ioas, 0, K64, K64, X + K64);
	}
	struct iommufd_hwpt *h1 = hwpt_new(ioas1), *h2 = hwpt_new(ioas2);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h1), 0);
	oracle_file(0, 0, 0, 2 * K64, X);
	dma_at(0, X, 2 * K64);
	expect_clean(0, "warm");

	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), 0);
	assert_int_equal(h2->did, h1->did);
	dma_at(0, X, 2 * K64);
	expect_clean(0, "replace");

	/* The new IOAS moves its first area to other memory. */
	oracle_drop(0, X, K64);
	assert_int_equal(iommufd_ioas_unmap(ioas2, &F.ictx, X, K64), 0);
	map(ioas2, 1, 0, K64, X);
	oracle_file(0, 1, 0, K64, X);
	dma_at(0, X, K64);
	expect_clean(0, "after replace, the new table only");
}

/* ---- destroy: free only after the flush and sync ----------------------- */

/*
 * A detached device leaves its domain's walk cache behind (a
 * configuration write invalidates the configuration, not the TLB).
 * Destroying the HWPT must invalidate the domain and sync before its
 * table pages go back to the allocator: freed earlier, the machine
 * finds walk-cache entries pointing at freed pages.
 */
static void test_destroy_frees_after_flush(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	map(ioas, 0, M2, M2, X + M2);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, K64, X);
	oracle_file(0, 0, M2, M2, X + M2);
	dma_at(0, X, 2 * M2);
	expect_clean(0, "warm");

	/* Quiesce, detach, destroy (what iommufd_fini does too). */
	oracle_drop(0, X, 2 * M2);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), 0);
	iommufd_hwpt_destroy(&F.ictx, h);
	assert_int_equal(F.ictx.stats.table_pages, 0);
	expect_clean(0, "destroy");
}

/*
 * When the flush cannot be confirmed (the sync times out: here no
 * machine serves the queue), the hardware may still walk the table, so
 * its pages must stay allocated: leaked, never handed out again.
 */
static void test_destroy_keeps_pages_without_sync(void **state)
{
	(void)state;
	fix_up_with(0, false);
	F.r.drv.timeout_ns = 20000000; /* a sync that cannot complete fails */
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	const uint64_t pages = F.ictx.stats.table_pages, root = h->pt.top_pa;
	const uint32_t id = h->id;
	struct kho_folio_info fi;
	assert_true(pages > 0);
	iommufd_hwpt_destroy(&F.ictx, h);
	assert_null(iommufd_hwpt_find(&F.ictx, id));
	assert_int_equal(F.ictx.stats.table_pages, pages);
	assert_int_equal(kho_folio_info(&F.k.alloc, root, &fi), 0);
	assert_false((F.r.region.freed_map[(root >> 12) / 64] >>
		      ((root >> 12) % 64)) & 1);
	/* Nothing of it is handed out again. */
	uint64_t pa;
	assert_int_equal(kho_folio_alloc(&F.k.alloc, KHO_4K_LG2, &pa), 0);
	assert_true(pa != root);
}

/* ---- the handover: pinning and adoption -------------------------------- */

/* Generation 2 in the same process, over the same RAM and machine. */
struct gen2 {
	struct kho k;
	bool k_up;
	struct iommufd_ctx ictx;
	bool ictx_up;
	struct kho_memfd *m[NR_MEMFDS];
	struct iommufd_incoming in;
};

/* Generation 1 preserves its memfds and iommufd state and commits. */
static uint64_t handover_out(void)
{
	struct luo_session *vm, *unit;
	uint64_t pa;
	assert_int_equal(luo_session_create(&F.k, "vm", &vm), 0);
	assert_int_equal(luo_session_create(&F.k, "unit", &unit), 0);
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(kho_memfd_preserve(vm, memfd_name[i], F.m[i]),
				 0);
	assert_int_equal(iommufd_preserve(&F.ictx, &F.unit, unit, vm), 0);
	assert_int_equal(kho_prepare(&F.k), 0);
	assert_int_equal(kho_freeze(&F.k, &pa), 0);
	return pa;
}

/* Generation 2 boots from it and reads the intent back. */
static void handover_in(struct gen2 *g, uint64_t pa)
{
	struct kho_err err = { { 0 } };
	memset(g, 0, sizeof(*g));
	if (kho_boot(&g->k, &F.r.pm, pa, &err))
		fail_msg("boot refused: %s", err.msg);
	g->k_up = true;
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(kho_memfd_retrieve(&g->k, "vm", memfd_name[i],
						    &g->m[i]), 0);
	assert_int_equal(iommufd_init(&g->ictx, &g->k, &F.r.drv,
				      iommufd_profile_find("v1"), FMT, VA_BITS),
			 0);
	g->ictx_up = true;
	if (iommufd_retrieve(&g->ictx, "vm", g->m, NR_MEMFDS, &g->in, &err))
		fail_msg("retrieve: %s", err.msg);
	assert_true(g->in.nr_ioas >= 1);
}

/* Generation 2 goes, then generation 1 takes its handover back. */
static void gen2_fini(struct gen2 *g)
{
	if (g->ictx_up)
		iommufd_fini(&g->ictx);
	iommufd_incoming_free(&g->in);
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		if (g->m[i])
			kho_memfd_forget(g->m[i]);
	if (g->k_up)
		kho_fini(&g->k);
	kho_cancel(&F.k);
}

static uint64_t area_pages(const struct iommufd_ioas *ioas,
			   const struct kho_memfd *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < ioas->nr_areas; i++)
		if (ioas->areas[i].memfd == m)
			n += ioas->areas[i].len / KHO_4K;
	return n;
}

/*
 * After an update the intent comes back unpinned; re-pinning (what a
 * replay does before it maps) must take every page of every area, the
 * last area too: per memfd exactly the pages its areas cover, and
 * nothing left after unpinning.
 */
static void test_repin_after_handover_covers_every_area(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	map(ioas, 0, 2 * M2, K64, X + 2 * M2);
	map(ioas, 1, M2, 2 * M2 + K64, X + KHO_1G); /* the last, another memfd */
	(void)hwpt_new(ioas);
	const uint64_t want[NR_MEMFDS] = { 512 + 16, 1024 + 16 };
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(iommufd_pinned_pages(&F.ictx, F.m[i]), want[i]);

	struct gen2 g;
	handover_in(&g, handover_out());
	struct iommufd_ioas *in = g.in.ioas[0];
	assert_int_equal(in->nr_areas, 3);
	for (unsigned int i = 0; i < NR_MEMFDS; i++) {
		assert_int_equal(area_pages(in, g.m[i]), want[i]);
		assert_int_equal(iommufd_pinned_pages(&g.ictx, g.m[i]), 0);
	}
	assert_int_equal(iommufd_ioas_pin(&g.ictx, in, true),
			 want[0] + want[1]);
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(iommufd_pinned_pages(&g.ictx, g.m[i]), want[i]);
	assert_int_equal(g.ictx.stats.pinned_bytes,
			 (want[0] + want[1]) * KHO_4K);
	assert_int_equal(iommufd_ioas_pin(&g.ictx, in, false),
			 want[0] + want[1]);
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(iommufd_pinned_pages(&g.ictx, g.m[i]), 0);
	gen2_fini(&g);
}

/* The handover's hwpt record lists one more page, pa (big-endian). */
static void record_extra_page(uint64_t hdr_pa, uint64_t pa)
{
	struct kho_header *h = kho_va(&F.k, hdr_pa, KHO_HDR_SIZE);
	void *fdt = (uint8_t *)h + KHO_HDR_SIZE;
	assert_int_equal(fdt_open_into(fdt, fdt, (int)(h->region_size -
						       KHO_HDR_SIZE)), 0);
	int parent = fdt_path_offset(fdt, "/" IOMMUFD_KHO_IOMMUFD), node;
	assert_true(parent >= 0);
	fdt_for_each_subnode(node, fdt, parent) {
		const char *type = fdt_getprop(fdt, node, "type", NULL);
		if (type && !strcmp(type, "hwpt"))
			break;
	}
	assert_true(node >= 0);
	int len;
	const uint8_t *pages = fdt_getprop(fdt, node, "pages", &len);
	assert_non_null(pages);
	uint8_t *buf = malloc((size_t)len + 8);
	assert_non_null(buf);
	memcpy(buf, pages, (size_t)len);
	fdt64_t be = cpu_to_fdt64(pa);
	memcpy(buf + len, &be, 8);
	assert_int_equal(fdt_setprop(fdt, node, "pages", buf, len + 8), 0);
	free(buf);
	assert_int_equal(fdt_pack(fdt), 0);
	h->fdt_size = fdt_totalsize(fdt);
	h->fdt_csum = kho_csum(fdt, h->fdt_size);
	h->commit = KHO_COMMIT_MAGIC ^ h->fdt_csum;
}

static bool incoming(struct gen2 *g, uint64_t pa)
{
	struct kho_folio_info fi;
	return !kho_folio_info(&g->k.alloc, pa, &fi) &&
	       (fi.flags & KHO_FOLIO_INCOMING);
}

/*
 * Adoption claims the table pages it reaches from the root; the record
 * must list exactly those. A record naming one more preserved page that
 * no table entry reaches (boot validation accepts it: it is preserved
 * and owned by this object alone) is refused, claiming nothing; without
 * it, the same record is adopted.
 */
static void test_adopt_refuses_unreachable_extra_page(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	map(ioas, 0, 2 * M2, K64, X + 2 * M2);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	const uint64_t nr_pages = F.ictx.stats.table_pages;
	/* A page as a table page would be: 4K, preserved, reachable by none. */
	uint64_t extra;
	assert_int_equal(kho_folio_alloc(&F.k.alloc, KHO_4K_LG2, &extra), 0);
	memset(kho_va(&F.k, extra, KHO_4K), 0, KHO_4K);
	assert_int_equal(kho_folio_run_flags(&F.k.alloc, extra, KHO_4K_LG2, 1,
					     0, KHO_FOLIO_PRESERVED, 0), 0);
	uint64_t pa = handover_out();
	record_extra_page(pa, extra);

	struct gen2 g;
	handover_in(&g, pa);
	assert_int_equal(g.in.nr_hwpt, 1);
	struct iommufd_hwpt_rec *rec = &g.in.hwpt[0];
	assert_int_equal(rec->nr_pages, nr_pages + 1);
	assert_int_equal(rec->root, h->pt.top_pa);
	struct iommufd_hwpt *out = NULL;
	struct kho_err err = { { 0 } };
	int rc = iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false, &out,
				    &err);
	if (rc != -EINVAL)
		fail_msg("adopted a record with an unreachable page (rc %d)", rc);
	if (!strstr(err.msg, "pages preserved"))
		fail_msg("refused for another reason: %s", err.msg);
	/* Nothing claimed, nothing registered. */
	for (size_t i = 0; i < rec->nr_pages; i++)
		assert_true(incoming(&g, rec->pages[i]));
	assert_int_equal(g.ictx.stats.table_pages, 0);
	assert_null(iommufd_hwpt_find(&g.ictx, rec->id));

	/* Without the extra page the same record is adopted. */
	size_t i = 0;
	while (i < rec->nr_pages && rec->pages[i] != extra)
		i++;
	assert_true(i < rec->nr_pages);
	rec->pages[i] = rec->pages[--rec->nr_pages];
	if (iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false, &out, &err))
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(g.ictx.stats.table_pages, nr_pages);
	assert_false(incoming(&g, rec->root));
	assert_true(incoming(&g, extra));
	gen2_fini(&g);
}

/*
 * Reached exactly once: a table whose two slots point at one last-level
 * table (a shared table; the other table page is then reached by none)
 * lists as many pages as it reaches, so only claiming each page once
 * can refuse it. Repaired, the same record is adopted.
 */
static void test_adopt_refuses_page_reached_twice(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	map(ioas, 0, M2, K64, X + M2);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	uint64_t pa = handover_out();
	/* After the commit, as a stray write would. */
	_Atomic uint64_t *a = hw_rig_entry(&F.r, &h->pt, X, 1);
	_Atomic uint64_t *b = hw_rig_entry(&F.r, &h->pt, X + M2, 1);
	assert_non_null(a);
	assert_non_null(b);
	uint64_t b_was = atomic_load(b);
	assert_true(atomic_load(a) != b_was);
	atomic_store(b, atomic_load(a));

	struct gen2 g;
	handover_in(&g, pa);
	struct iommufd_hwpt_rec *rec = &g.in.hwpt[0];
	struct iommufd_hwpt *out = NULL;
	struct kho_err err = { { 0 } };
	int rc = iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false, &out,
				    &err);
	if (!rc)
		fail_msg("adopted a table reaching one page twice");
	if (!strstr(err.msg, "reached twice"))
		fail_msg("refused for another reason: %s", err.msg);
	for (size_t i = 0; i < rec->nr_pages; i++)
		assert_true(incoming(&g, rec->pages[i]));
	assert_int_equal(g.ictx.stats.table_pages, 0);

	atomic_store(b, b_was);
	if (iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false, &out, &err))
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(g.ictx.stats.table_pages, rec->nr_pages);
	gen2_fini(&g);
}

/*
 * An adoption refused for want of a free object slot claims nothing
 * either: the table stays the handover's, and adopts once room is made.
 */
static void test_adopt_without_room_claims_nothing(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	(void)hwpt_new(ioas);
	uint64_t pa = handover_out();

	struct gen2 g;
	handover_in(&g, pa);
	struct iommufd_hwpt_rec *rec = &g.in.hwpt[0];
	struct iommufd_hwpt *full[IOMMUFD_MAX_OBJS], *out = NULL;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		assert_int_equal(iommufd_hwpt_alloc(&g.ictx, g.in.ioas[0], 0,
						    &full[i]), 0);
	struct kho_err err = { { 0 } };
	assert_int_equal(iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false,
					    &out, &err), -ENOSPC);
	for (size_t i = 0; i < rec->nr_pages; i++)
		if (!incoming(&g, rec->pages[i]))
			fail_msg("table page 0x%" PRIx64 " claimed by a refused "
				 "adoption", rec->pages[i]);
	iommufd_hwpt_destroy(&g.ictx, full[0]);
	if (iommufd_adopt_hwpt(&g.ictx, g.in.ioas[0], rec, false, &out, &err))
		fail_msg("adopt: %s", err.msg);
	assert_false(incoming(&g, rec->root));
	gen2_fini(&g);
}

/* ---- the driver: range commands ---------------------------------------- */

static uint64_t prng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 17;
}

/*
 * The commands one ranged invalidation put on the queue (no machine
 * consumes them here) tile [va, va + len) exactly, in order: each
 * (NUM + 1) x 2^SCALE pages starting where the previous one ended, with
 * the domain, leaf hint and level hint asked for. Returns how many.
 */
static unsigned int check_range_cmds(uint8_t op, uint64_t va, uint64_t len,
				     unsigned int flags, int hint)
{
	struct hw_regs *g = F.r.region.regs;
	const uint16_t did = 0x1234;
	uint64_t p0 = atomic_load(&g->unit[0].cmdq_prod);
	if (op == HW_CMD_TLBI_RANGE)
		assert_int_equal(iommu_drv_tlbi_range(&F.r.drv, ALL_UNITS, did,
						      va, len, flags, hint), 0);
	else
		assert_int_equal(iommu_drv_tlbi_s2_range(&F.r.drv, ALL_UNITS, did, va,
							 len), 0);
	uint64_t p1 = atomic_load(&g->unit[0].cmdq_prod);
	uint64_t at = va;
	for (uint64_t i = p0; i < p1; i++) {
		const struct hw_cmd c = g->unit[0].cmdq[i & (HW_CMDQ_ENTRIES - 1)];
		uint64_t fields = HW_CMD_OP | HW_CMD_DID | HW_CMD_NUM |
				  HW_CMD_SCALE;
		if (op == HW_CMD_TLBI_RANGE)
			fields |= HW_CMD_LEAF | HW_CMD_TTL;
		assert_int_equal(HW_FIELD_GET(HW_CMD_OP, c.w[0]), op);
		assert_int_equal(HW_FIELD_GET(HW_CMD_DID, c.w[0]), did);
		assert_int_equal(c.w[0] & ~fields, 0);
		if (op == HW_CMD_TLBI_RANGE) {
			assert_int_equal(!!(c.w[0] & HW_CMD_LEAF),
					 !!(flags & IOMMU_DRV_LEAF));
			assert_int_equal(HW_FIELD_GET(HW_CMD_TTL, c.w[0]),
					 hint + 1);
		}
		uint64_t num = HW_FIELD_GET(HW_CMD_NUM, c.w[0]);
		uint64_t scale = HW_FIELD_GET(HW_CMD_SCALE, c.w[0]);
		if (c.w[1] != at)
			fail_msg("range [0x%" PRIx64 ", +0x%" PRIx64 "): command "
				 "%" PRIu64 " at 0x%" PRIx64 ", the previous "
				 "ended at 0x%" PRIx64, va, len, i - p0, c.w[1],
				 at);
		assert_true(scale <= 51);
		at += ((num + 1) << scale) << 12;
	}
	if (at != va + len)
		fail_msg("range [0x%" PRIx64 ", +0x%" PRIx64 "): commands end at "
			 "0x%" PRIx64, va, len, at);
	/* Consumed, as far as the queue is concerned. */
	atomic_store(&g->unit[0].cmdq_cons, p1);
	return (unsigned int)(p1 - p0);
}

/*
 * A range split into several commands advances by the bytes each one
 * covers: checked on the commands themselves, for lengths from one page
 * to 2^47 bytes, aligned and not.
 */
static void test_drv_range_commands_tile_the_range(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	assert_int_equal(hw_rig_start_bare(&F.r, 0), 0);
	F.rig_up = true;
	const uint8_t op = HW_CMD_TLBI_RANGE;
	assert_int_equal(check_range_cmds(op, X, 4096, 0, -1), 1);
	assert_int_equal(check_range_cmds(op, X, M2, IOMMU_DRV_LEAF, 0), 1);
	/* 515 pages: 512 in one command, 3 in another. */
	assert_int_equal(check_range_cmds(op, X, M2 + 3 * 4096, 0, -1), 2);
	assert_true(check_range_cmds(op, X + 4096, KHO_1G + M2 + 9 * 4096,
				     IOMMU_DRV_LEAF, 1) >= 3);
	assert_true(check_range_cmds(op, 0, 1ull << 47, 0, 3) >= 1);
	assert_true(check_range_cmds(op, 4096, (1ull << 47) - 4096, 0, -1) > 5);
	uint64_t s = 12345;
	for (int i = 0; i < 2000; i++) {
		uint64_t pages = 1 + prng_next(&s) % (1ull << (prng_next(&s) % 28));
		uint64_t va = (prng_next(&s) % (1ull << 34)) << 12;
		int hint = (int)(prng_next(&s) % 6) - 1;
		check_range_cmds(op, va, pages << 12,
				 prng_next(&s) & 1 ? IOMMU_DRV_LEAF : 0, hint);
		check_range_cmds(HW_CMD_TLBI_S2_RANGE, va, pages << 12, 0, -1);
	}
}

/* ---- the driver: a disruptive entry update ----------------------------- */

/*
 * Moving a device to a table in another domain changes two used words
 * (root, DID) of its configuration entry: the driver must go through
 * V=0 with a sync before writing the new words, or the IOMMU may read a
 * valid mix of old and new (the machine counts it, whatever the timing:
 * docs/hw.md, torn configuration). A missing sync after V=0 alone shows
 * only if the new words are written before the machine executes the
 * invalidation, which it does after a checker pass: in practice always.
 */
static void test_drv_disruptive_ste_goes_through_invalid(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h1 = hwpt_new(ioas), *h2 = hwpt_new(ioas);
	assert_true(h1->did != h2->did);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h1), 0);
	oracle_file(0, 0, 0, M2, X);
	dma_at(0, X, M2);
	expect_clean(0, "warm");

	/* Disruptive: the device is quiesced around it. */
	uint64_t ste[HW_STE_WORDS], now[HW_STE_WORDS];
	bool hitless = true;
	oracle_drop(0, X, M2);
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, FMT, VA_BITS, h2->pt.top_pa,
		    h2->did);
	assert_int_equal(iommu_drv_write_ste(&F.r.drv, 0, ste, &hitless), 0);
	assert_false(hitless);
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, 0, now), 0);
	assert_memory_equal(now, ste, sizeof(ste));
	assert_int_equal(STAT(0, torn_config), 0);
	oracle_file(0, 0, 0, M2, X);
	dma_at(0, X, M2);
	expect_clean(0, "disruptive update");
}


/* ---- ATS devices: their ATC invalidated after the IOTLB ------------------ */

/* Device 0 with ATS on h, warm on [X, X + 2 x K64) (memfd 0 from offset
 * 0 there): its ATC holds it. */
static void ats_warm(struct iommufd_hwpt *h)
{
	assert_int_equal(iommufd_device_set_ats(&F.ictx, 0, true), 0);
	assert_true(F.ictx.dev[0].ats);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, 2 * K64, X);
	dma_at(0, X, 2 * K64);
	expect_clean(0, "warm");
	assert_true(STAT(0, atc_hits) > 0);
}

/*
 * Unmapping an area (its last-level table goes with it) must invalidate
 * the ATS device's ATC too, after the IOTLB and before the table page is
 * freed: without it the ATC outlives its table, and after a remap to
 * other memory the device DMAs to the old pages. Before the TLBI the
 * device would refill from the stale IOTLB.
 */
static void test_ats_unmap_invalidates_atc(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	map(ioas, 0, K64, K64, X + K64);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	ats_warm(h);

	uint64_t inv = STAT(0, atc_invalidations);
	oracle_drop(0, X, K64);
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, K64), 0);
	assert_true(STAT(0, atc_invalidations) > inv);
	dma_at(0, X + K64, K64);
	expect_clean(0, "unmap");

	map(ioas, 1, 0, K64, X);
	oracle_file(0, 1, 0, K64, X);
	dma_at(0, X, 2 * K64);
	expect_clean(0, "remap");
}

/*
 * Replace moves the ATS device to another table with the same
 * translations (the hitless switch of a live update), and the old HWPT
 * is destroyed: the device's ATC must be invalidated in between, or it
 * outlives the table it was filled from (the machine's stale_atc).
 */
static void test_ats_replace_invalidates_atc(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas1 = ioas_new(), *ioas2 = ioas_new();
	map(ioas1, 0, 0, 2 * K64, X);
	map(ioas2, 0, 0, 2 * K64, X);
	struct iommufd_hwpt *h1 = hwpt_new(ioas1), *h2 = hwpt_new(ioas2);
	ats_warm(h1);

	uint64_t inv = STAT(0, atc_invalidations);
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), 0);
	assert_int_equal(STAT(0, atc_invalidations), inv + 1);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h1), 0);
	dma_at(0, X, 2 * K64);
	expect_clean(0, "replace");
}

/*
 * Two devices in one 2M block, the ATS one moved first: while the other
 * still DMAs through the old table, the shared domain's IOTLB (a replace
 * keeps the domain ID) holds the old table's block, and the ATS
 * device's refill after its own ATC invalidation comes from it. So
 * destroying the old table must invalidate the ATCs of the domain's ATS
 * devices again, after its TLBI, before freeing the pages.
 */
static void test_ats_destroy_invalidates_domain_atcs(void **state)
{
	(void)state;
	fix_engines1 = 1;
	fix_up(0);
	struct iommufd_ioas *ioas1 = ioas_new(), *ioas2 = ioas_new();
	map(ioas1, 0, 0, M2, X);
	map(ioas2, 0, 0, M2, X);
	struct iommufd_hwpt *h1 = hwpt_new(ioas1), *h2 = hwpt_new(ioas2);
	assert_int_equal(leaves(h1, 21), 1);
	assert_int_equal(iommufd_device_set_ats(&F.ictx, 0, true), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h1), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, h1), 0);
	oracle_file(0, 0, 0, K64, X);
	oracle_file(1, 0, K64, K64, X + K64);
	dma_at(0, X, K64);
	dma_at(1, X + K64, K64);
	expect_clean(0, "warm");

	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), 0);
	dma_at(1, X + K64, K64);
	assert_int_equal(iommufd_device_replace(&F.ictx, 1, h2), 0);
	uint64_t inv = STAT(0, atc_invalidations);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h1), 0);
	assert_int_equal(STAT(0, atc_invalidations), inv + 1);
	dma_at(0, X, K64);
	expect_clean(0, "destroy");
	expect_clean(1, "destroy");
}

/* Detach (abort) and destroy: the ATC must be empty before the table
 * it was filled from is freed. */
static void test_ats_detach_invalidates_atc(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, 2 * K64, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	ats_warm(h);

	oracle_drop(0, X, 2 * K64);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h), 0);
	expect_clean(0, "detach and destroy");
}

/* ATS changes only while detached; a bad device is refused. */
static void test_ats_set_refused(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, K64, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_set_ats(&F.ictx, HW_MAX_DEVS, true),
			 -EINVAL);
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, h), 0);
	assert_int_equal(iommufd_device_set_ats(&F.ictx, 1, true), -EBUSY);
	assert_false(F.ictx.dev[1].ats);
	assert_false(iommu_drv_ats(&F.r.drv, 1));
	assert_int_equal(iommufd_device_detach(&F.ictx, 1), 0);
	assert_int_equal(iommufd_device_set_ats(&F.ictx, 1, true), 0);
	assert_true(iommu_drv_ats(&F.r.drv, 1));
}

/* ---- failures leave nothing behind -------------------------------------- */

/*
 * Re-pinning is all or nothing: when it fails at some area (here the
 * second memfd's pin table cannot be allocated) the pins the areas before
 * it took go back; when it fails inside an area (a memfd whose second
 * half lies outside RAM), the batches already taken go back too.
 */
static void test_pin_failing_partway_takes_nothing(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_area a[3] = {
		{ X, M2, F.m[0], 0, RW },
		{ X + M2, K64, F.m[0], M2, RW },
		{ X + KHO_1G, M2, F.m[1], 0, RW },
	};
	struct iommufd_ioas ioas = { .areas = a, .nr_areas = 3 };
	ioh_fail_arm("iommufd.alloc", 2); /* m[1]'s pin table */
	assert_int_equal(iommufd_ioas_pin(&F.ictx, &ioas, true), -ENOMEM);
	assert_true(ioh_fail_fired());
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		assert_int_equal(iommufd_pinned_pages(&F.ictx, F.m[i]), 0);
	assert_int_equal(F.ictx.stats.pinned_bytes, 0);
	assert_int_equal(iommufd_ioas_pin(&F.ictx, &ioas, true), 512 + 16 + 512);
	assert_int_equal(iommufd_ioas_pin(&F.ictx, &ioas, false), 512 + 16 + 512);

	/* A memfd whose second 8 MiB are beyond RAM: the pin fails there. */
	struct kho_memfd bad = *F.m[1];
	struct kho_memfd_run runs[2] = {
		{ 0, F.m[1]->runs[0].pa, 4, 21 },
		{ 4 * M2, F.k.alloc.ram_size, 4, 21 },
	};
	assert_true(F.m[1]->runs[0].count >= 4);
	bad.runs = runs;
	bad.nr_runs = 2;
	struct iommufd_area b = { X, MEMFD_SIZE, &bad, 0, RW };
	struct iommufd_ioas one = { .areas = &b, .nr_areas = 1 };
	assert_int_equal(iommufd_ioas_pin(&F.ictx, &one, true), -EFAULT);
	assert_int_equal(iommufd_pinned_pages(&F.ictx, &bad), 0);
	assert_int_equal(F.ictx.stats.pinned_bytes, 0);
}

/* A HWPT a device still translates through is not destroyed. */
static void test_destroy_refuses_attached(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, M2, X);
	const uint64_t pages = F.ictx.stats.table_pages;
	const uint32_t id = h->id;
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h), -EBUSY);
	assert_ptr_equal(iommufd_hwpt_find(&F.ictx, id), h);
	assert_int_equal(F.ictx.stats.table_pages, pages);
	dma_at(0, X, M2);
	expect_clean(0, "destroy refused");
	oracle_drop(0, X, M2);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h), 0);
	assert_null(iommufd_hwpt_find(&F.ictx, id));
	assert_int_equal(F.ictx.stats.table_pages, 0);
}

/*
 * A map pt undid itself (PT_EPLAN: its plan and commit disagreed) was
 * live for a while: the tables it linked and removed again wait for an
 * invalidation of its range, which the failed map must issue before it
 * returns (a later flush of another range would free them uncovered).
 */
static void test_map_undone_by_pt_is_invalidated(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	const uint64_t pages = F.ictx.stats.table_pages;
	const uint64_t syncs = F.ictx.stats.syncs;
	/* A new 1G region: new tables, linked live, then removed. */
	pt_inject_eplan = 1;
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], M2, K64,
					       X + 4 * KHO_1G, RW), -PT_EPLAN);
	assert_int_equal(pt_inject_eplan, 0);
	assert_int_equal(F.ictx.deferred.n, 0);
	assert_true(F.ictx.stats.syncs > syncs);
	assert_int_equal(F.ictx.stats.table_pages, pages);
	assert_int_equal(ioas->nr_areas, 1);
	assert_int_equal(iommufd_pinned_pages(&F.ictx, F.m[0]), 512);
	uint64_t pa;
	assert_int_equal(pt_iova_to_phys(&h->pt, X + 4 * KHO_1G, &pa), -PT_ENOENT);
	/* And the same map works. */
	map(ioas, 0, M2, K64, X + 4 * KHO_1G);
	assert_int_equal(pt_iova_to_phys(&h->pt, X + 4 * KHO_1G, &pa), 0);
}

/* ---- every failure of an operation, one at a time ----------------------- */

/* What an operation that fails must leave as it found it. */
struct fstate {
	size_t nr_areas;
	uint64_t pinned[NR_MEMFDS], pinned_bytes, table_pages, deferred;
	uint64_t free_bytes;
	unsigned int nr_hwpt;
	struct iommufd_hwpt *dev0;
};

static void fstate_get(struct fstate *st, const struct iommufd_ioas *ioas)
{
	memset(st, 0, sizeof(*st));
	st->nr_areas = ioas->nr_areas;
	for (unsigned int i = 0; i < NR_MEMFDS; i++)
		st->pinned[i] = iommufd_pinned_pages(&F.ictx, F.m[i]);
	st->pinned_bytes = F.ictx.stats.pinned_bytes;
	st->table_pages = F.ictx.stats.table_pages;
	st->deferred = F.ictx.deferred.n;
	st->free_bytes = F.k.alloc.free_bytes;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		st->nr_hwpt += F.ictx.hwpt[i] != NULL;
	st->dev0 = F.ictx.dev[0].hwpt;
}

struct fop {
	const char *what;
	int (*run)(struct fop *op);
	struct iommufd_ioas *ioas;
	struct iommufd_hwpt *out;
	uint64_t off, len, iova;
};

/*
 * Run op with its n-th failable step failing, n = 1, 2, ... until it
 * runs with none failing (then it has succeeded and its effect stays).
 * Each failing run must return an error and leave fstate unchanged.
 * Returns the number of steps failed.
 */
static unsigned int walk_failures(struct fop *op)
{
	for (unsigned int n = 1;; n++) {
		struct fstate before, after;
		fstate_get(&before, op->ioas);
		ioh_fail_arm("", n);
		int err = op->run(op);
		bool fired = ioh_fail_fired();
		const char *site = ioh_fail_site();
		ioh_fail_arm(NULL, 0);
		if (!fired) {
			assert_int_equal(err, 0);
			return n - 1;
		}
		if (!err)
			fail_msg("%s: succeeded with step %u (%s) failing", op->what,
				 n, site);
		fstate_get(&after, op->ioas);
		if (memcmp(&before, &after, sizeof(before)))
			fail_msg("%s, step %u (%s) failing (%d): areas %zu -> %zu, "
				 "pins %" PRIu64 " -> %" PRIu64 ", table pages %"
				 PRIu64 " -> %" PRIu64 ", deferred %" PRIu64 " -> %"
				 PRIu64 ", free %" PRIu64 " -> %" PRIu64 ", hwpts "
				 "%u -> %u", op->what, n, site, err, before.nr_areas,
				 after.nr_areas, before.pinned_bytes,
				 after.pinned_bytes, before.table_pages,
				 after.table_pages, before.deferred, after.deferred,
				 before.free_bytes, after.free_bytes, before.nr_hwpt,
				 after.nr_hwpt);
		assert_true(n < 1000);
	}
}

static int op_map(struct fop *op)
{
	return iommufd_ioas_map_file(op->ioas, &F.ictx, F.m[0], op->off, op->len,
				     op->iova, RW);
}

static int op_hwpt_alloc(struct fop *op)
{
	return iommufd_hwpt_alloc(&F.ictx, op->ioas, 0, &op->out);
}

/*
 * Map into an IOAS with two HWPTs (one attached, DMA running), and
 * allocate a HWPT over it: whatever allocation or driver call fails,
 * nothing is left of the attempt (no area, pin, table page or page
 * waiting for an invalidation), the device's DMA stays clean, and the
 * same call then succeeds.
 */
static void test_failures_leave_nothing(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	(void)hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, M2, X);
	hw_rig_window(&F.r, 0, X, X + M2 - 1);

	/* Into a new 1G region (new tables), then next to it (none). */
	struct fop op = { "map", op_map, ioas, NULL, M2, 3 * M2 + K64,
			  X + 4 * KHO_1G };
	assert_true(walk_failures(&op) >= 4);
	op.off = 5 * M2;
	op.len = K64;
	op.iova = X + 4 * KHO_1G + 4 * M2;
	assert_true(walk_failures(&op) >= 2);
	assert_int_equal(ioas->nr_areas, 3);

	struct fop alloc = { "hwpt alloc", op_hwpt_alloc, ioas, NULL, 0, 0, 0 };
	assert_true(walk_failures(&alloc) >= 3);
	assert_non_null(alloc.out);
	expect_clean(0, "failures");
}

/*
 * An unmap whose invalidation fails (its range command not queued, or
 * its sync not seen to complete) keeps its areas and pins, and every
 * table page it removed stays allocated; the same unmap again completes
 * it, and no page is freed while the walk cache may still point into it
 * (DMA walked the area's tables just before), even when the range
 * command of the failed attempt never reached the queue.
 */
static void test_unmap_failures_retry(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	oracle_file(0, 0, 0, M2, X);
	const uint64_t iova = X + 4 * KHO_1G;
	unsigned int n;
	for (n = 1;; n++) {
		struct fstate base, before, after;
		fstate_get(&base, ioas);
		map(ioas, 0, M2, K64, iova);
		oracle_file(0, 0, M2, K64, iova);
		dma_at(0, iova, K64);
		oracle_drop(0, iova, K64);
		fstate_get(&before, ioas);
		ioh_fail_arm("", n);
		int err = iommufd_ioas_unmap(ioas, &F.ictx, iova, K64);
		bool fired = ioh_fail_fired();
		const char *site = ioh_fail_site();
		ioh_fail_arm(NULL, 0);
		if (fired) {
			if (!err)
				fail_msg("unmap: succeeded with step %u (%s) failing",
					 n, site);
			fstate_get(&after, ioas);
			assert_int_equal(after.nr_areas, before.nr_areas);
			assert_int_equal(after.pinned_bytes, before.pinned_bytes);
			assert_int_equal(after.table_pages, before.table_pages);
			assert_int_equal(after.free_bytes, before.free_bytes);
			assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, iova, K64),
					 0);
		} else {
			assert_int_equal(err, 0);
		}
		fstate_get(&after, ioas);
		assert_int_equal(after.nr_areas, base.nr_areas);
		assert_int_equal(after.pinned_bytes, base.pinned_bytes);
		assert_int_equal(after.table_pages, base.table_pages);
		assert_int_equal(after.deferred, 0);
		dma_at(0, X, M2);
		expect_clean(0, "unmap retried");
		if (!fired)
			break;
	}
	assert_true(n > 2);
}

/* Calls with bad arguments or out of turn are refused and change nothing. */
static void test_misuse_refused(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new(), *other = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas), *h2 = hwpt_new(ioas), *out;
	assert_ptr_equal(iommufd_ioas_find(&F.ictx, ioas->id), ioas);
	assert_null(iommufd_ioas_find(&F.ictx, 999));
	assert_int_equal(iommufd_hwpt_alloc(&F.ictx, ioas, 0x80, &out), -EINVAL);
	/* Map: alignment, range, protection, overlap. */
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], 0, 0,
					       X + M2, RW), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], 0, 4096 + 1,
					       X + M2, RW), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], 0,
					       2 * MEMFD_SIZE, X + M2, RW), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], 0, M2,
					       X + M2, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], 0, M2,
					       X + K64, RW), -EEXIST);
	/* Unmap: only whole areas. */
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, K64), -ENOENT);
	assert_int_equal(iommufd_ioas_unmap(other, &F.ictx, X, M2), -ENOENT);
	/* Devices. */
	assert_int_equal(iommufd_device_attach(&F.ictx, HW_MAX_DEVS, h), -EINVAL);
	assert_int_equal(iommufd_device_replace(&F.ictx, HW_MAX_DEVS, h), -EINVAL);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), -EINVAL);
	assert_int_equal(iommufd_device_detach(&F.ictx, HW_MAX_DEVS), -EINVAL);
	/* Replace of a device on nothing attaches it; onto itself is a no-op. */
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h2), -EBUSY);
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h), 0);
	assert_int_equal(h->users, 1);
	/* A table in use under another domain cannot take this device. */
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, h2), 0);
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), -EBUSY);
	assert_ptr_equal(F.ictx.dev[0].hwpt, h);
	assert_int_equal(ioas->nr_areas, 1);
	/* An immutable table refuses map and unmap. */
	h2->immutable = true;
	assert_int_equal(iommufd_ioas_map_file(ioas, &F.ictx, F.m[0], M2, M2,
					       X + M2, RW), -EPERM);
	assert_int_equal(iommufd_ioas_unmap(ioas, &F.ictx, X, M2), -EPERM);
	h2->immutable = false;
	assert_int_equal(ioas->nr_areas, 1);
}

/* ---- partial preservation, domain IDs, PASIDs ------------------------- */

/* Device dev's stream is valid and in abort mode. */
static bool in_abort(unsigned int dev)
{
	uint64_t ste[HW_STE_WORDS];
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, dev, ste), 0);
	return (ste[0] & HW_STE0_V) &&
	       HW_FIELD_GET(HW_STE0_MODE, ste[0]) == HW_STE_MODE_ABORT;
}

/*
 * Two VMs: device 0 on ioas A (memfd 0 at X), device 1 on ioas B (memfd
 * 1 at the same IOVAs), each its own HWPT, both doing DMA. Returns A.
 */
static struct iommufd_ioas *two_vms(struct iommufd_hwpt **ha,
				    struct iommufd_hwpt **hb)
{
	fix_engines1 = 2;
	fix_up(0);
	struct iommufd_ioas *a = ioas_new(), *b = ioas_new();
	map(a, 0, 0, 2 * M2, X);
	map(b, 1, 0, 2 * M2, X);
	*ha = hwpt_new(a);
	*hb = hwpt_new(b);
	assert_true((*ha)->did != (*hb)->did);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, *ha), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, *hb), 0);
	oracle_file(0, 0, 0, 2 * M2, X);
	oracle_file(1, 1, 0, 2 * M2, X);
	dma_at(0, X, 2 * M2);
	dma_at(1, X, 2 * M2);
	expect_clean(0, "two VMs");
	expect_clean(1, "two VMs");
	return a;
}

/*
 * --preserve 1 of 2: the device whose VM does not survive is stopped,
 * then put in abort (CFGI + SYNC inside iommu_drv_write_ste), its HWPT
 * (only it used it) destroyed with its pages freed after the sync, its
 * IOAS not handed over. The preserved device keeps translating, and
 * neither device counts a single error: the stopped one did no DMA into
 * its abort.
 */
static void test_partial_preserve_drops_unpreserved(void **state)
{
	(void)state;
	struct iommufd_hwpt *ha, *hb;
	struct iommufd_ioas *a = two_vms(&ha, &hb);
	uint64_t pages_before = F.ictx.stats.table_pages;
	uint64_t root_b = hb->pt.top_pa;
	uint32_t dropped = 0;
	assert_int_equal(iommu_drv_dma_stop(&F.r.drv, 1), 0);
	assert_int_equal(iommufd_drop_devices(&F.ictx, 1u << 0, &dropped), 0);
	assert_int_equal(dropped, 1u << 1);
	assert_true(in_abort(1));
	assert_false(in_abort(0));
	assert_null(F.ictx.dev[1].hwpt);
	assert_ptr_equal(F.ictx.dev[0].hwpt, ha);
	/* B's table is gone, its pages back in the allocator. */
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		assert_true(F.ictx.hwpt[i] != hb);
	assert_true(F.ictx.stats.table_pages < pages_before);
	struct kho_folio_info fi;
	assert_int_equal(kho_folio_info(&F.k.alloc, root_b, &fi), -ENOENT);
	assert_false(a->dropped);
	dma_at(0, X, 2 * M2);
	expect_clean(0, "preserved device after the drop");
	expect_clean(1, "unpreserved device, stopped before its abort");

	/* Only A and its HWPT are handed over; B is not recorded. */
	struct gen2 g;
	handover_in(&g, handover_out());
	assert_int_equal(g.in.nr_hwpt, 1);
	assert_int_equal(g.in.hwpt[0].nr_devs, 1);
	assert_int_equal(g.in.hwpt[0].devs[0], 0);
	assert_int_equal(g.in.hwpt[0].did, ha->did);
	assert_int_equal(g.in.ioas[0]->id, a->id);
	gen2_fini(&g);
}

/* The naive variant: its DMA left running into the abort is counted. */
static void test_unpreserved_running_into_abort_faults(void **state)
{
	(void)state;
	struct iommufd_hwpt *ha, *hb;
	(void)two_vms(&ha, &hb);
	uint32_t dropped = 0;
	assert_int_equal(iommufd_drop_devices(&F.ictx, 1u << 0, &dropped), 0);
	assert_int_equal(dropped, 1u << 1);
	assert_true(hw_rig_wait_ops(&F.r, 1, OPS));
	hw_rig_settle(&F.r);
	assert_true(STAT(1, faults) > 0);
	assert_true(hw_rig_has_event(&F.r, HW_EVT_STE_ABORT));
	/* Faults, never a walk of the freed table or misdirected DMA. */
	assert_int_equal(STAT(1, use_after_free) + STAT(1, misdirected), 0);
	expect_clean(0, "preserved device beside a faulting one");
}

/*
 * The new kernel reserves the live domain IDs before it builds any
 * table. Here it builds one for another VM's device (device 1, memfd 1
 * at the IOVAs device 0 uses) while device 0 still runs the preserved
 * table, IOTLB warm: a fresh allocator would hand out the preserved ID
 * (1, its first) and the two tables would answer each other's DMA.
 */
static void test_new_kernel_reserves_preserved_dids(void **state)
{
	(void)state;
	struct iommufd_hwpt *ha, *hb;
	(void)two_vms(&ha, &hb);
	assert_int_equal(ha->did, 1);
	uint32_t dropped = 0;
	assert_int_equal(iommu_drv_dma_stop(&F.r.drv, 1), 0);
	assert_int_equal(iommufd_drop_devices(&F.ictx, 1u << 0, &dropped), 0);

	struct gen2 g;
	handover_in(&g, handover_out());
	/* One ID, named by the record and by device 0's entry alike. */
	assert_int_equal(iommufd_reserve_live_ids(&g.ictx, &g.in,
						  1u << RIG_STRTAB_LOG2), 1);
	assert_true(iommufd_id_busy(&g.ictx.dids, ha->did));
	struct iommufd_ioas *other;
	struct iommufd_hwpt *h;
	assert_int_equal(iommufd_ioas_alloc(&g.ictx, &other), 0);
	assert_int_equal(iommufd_ioas_map_file(other, &g.ictx, g.m[1], 0, 2 * M2,
					       X, RW), 0);
	assert_int_equal(iommufd_hwpt_alloc(&g.ictx, other, 0, &h), 0);
	if (h->did == ha->did)
		fail_msg("the new kernel tagged another table with the live "
			 "domain ID %u", h->did);
	assert_int_equal(iommufd_device_attach(&g.ictx, 1, h), 0);
	oracle_file(1, 1, 0, 2 * M2, X);
	iommu_drv_dma_enable(&F.r.drv, 1, true);
	dma_at(1, X, 2 * M2);
	dma_at(0, X, 2 * M2);
	expect_clean(0, "preserved device");
	expect_clean(1, "the new kernel's device");
	assert_int_equal(iommufd_device_detach(&g.ictx, 1), 0);
	assert_int_equal(iommu_drv_dma_stop(&F.r.drv, 1), 0);
	gen2_fini(&g);
}

/* Allocation is next-fit over 16-bit IDs, never 0, never a taken one. */
static void test_id_allocator(void **state)
{
	(void)state;
	static struct iommufd_ids ids;
	uint16_t id;
	iommufd_ids_init(&ids);
	assert_int_equal(iommufd_id_reserve(&ids, 0), -EINVAL);
	assert_int_equal(iommufd_id_reserve(&ids, 2), 0);
	assert_int_equal(iommufd_id_reserve(&ids, 2), -EEXIST);
	assert_int_equal(iommufd_id_alloc(&ids, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(iommufd_id_alloc(&ids, &id), 0);
	assert_int_equal(id, 3);
	iommufd_id_free(&ids, 1);
	/* Not reused before the cursor wraps. */
	assert_int_equal(iommufd_id_alloc(&ids, &id), 0);
	assert_int_equal(id, 4);
	assert_int_equal(iommufd_id_reserve(&ids, 65535), 0);
	unsigned int n = 0;
	while (!iommufd_id_alloc(&ids, &id)) {
		assert_true(id != 0 && id != 2 && id != 65535);
		n++;
	}
	/* Then every ID but 0: 65535 less the four taken (2, 3, 4, 65535). */
	assert_int_equal(n, 65535 - 4);
	assert_int_equal(iommufd_id_alloc(&ids, &id), -ENOSPC);
	iommufd_id_free(&ids, 777);
	assert_int_equal(iommufd_id_alloc(&ids, &id), 0);
	assert_int_equal(id, 777);
}

/*
 * A device with PASIDs in use cannot be preserved: refused with
 * -EOPNOTSUPP naming it, before anything changes (nothing frozen,
 * nothing preserved, the map path open). A PASID device that is not
 * preserved does not stand in the way.
 */
static void test_pasid_device_refused(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_ioas *ioas = ioas_new();
	map(ioas, 0, 0, M2, X);
	struct iommufd_hwpt *h = hwpt_new(ioas);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, h), 0);
	assert_int_equal(iommufd_device_attach(&F.ictx, 1, h), 0);
	F.ictx.dev[1].pasids = 3;
	char why[160] = "";
	assert_int_equal(iommufd_preserve_check(&F.ictx, 1u << 0, why,
						sizeof(why)), 0);
	assert_int_equal(iommufd_preserve_check(&F.ictx, 3, why, sizeof(why)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(why, "device 1 has 3 PASIDs"));
	struct luo_session *vm, *unit;
	assert_int_equal(luo_session_create(&F.k, "vm", &vm), 0);
	assert_int_equal(luo_session_create(&F.k, "unit", &unit), 0);
	assert_int_equal(iommufd_preserve(&F.ictx, &F.unit, unit, vm),
			 -EOPNOTSUPP);
	assert_false(F.ictx.frozen);
	assert_ptr_equal(F.ictx.dev[1].hwpt, h);
	map(ioas, 0, M2, M2, X + M2);
	kho_cancel(&F.k);
}

/* ---- PASIDs: each its own HWPT, through the device's CD table ---------- */

/*
 * Device 0 translates X through h0 (memfd 0) without a PASID and through
 * the HWPT *hp (memfd 1, the same IOVA) on PASID 1, both DMAing.
 */
static struct iommufd_ioas *pasid_dev(struct iommufd_hwpt **h0,
				      struct iommufd_hwpt **hp)
{
	struct iommufd_ioas *ioas1 = ioas_new(), *ioas2 = ioas_new();
	map(ioas1, 0, 0, K64, X);
	map(ioas2, 1, 0, K64, X);
	*h0 = hwpt_new(ioas1);
	*hp = hwpt_new(ioas2);
	assert_int_equal(iommufd_device_attach(&F.ictx, 0, *h0), 0);
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 0, 1, *hp), 0);
	assert_int_not_equal((*hp)->did, (*h0)->did);
	assert_int_equal(iommufd_device_nr_pasids(&F.ictx, 0), 1);
	oracle_file(0, 0, 0, K64, X);
	oracle_file_pasid(0, 1, 1, 0, K64, X);
	dma_at(0, X, K64);
	expect_clean(0, "pasid attach");
	return ioas2;
}

static void test_pasid_attach_replace_detach(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_hwpt *h0, *hp;
	struct iommufd_ioas *ioas2 = pasid_dev(&h0, &hp);
	/* Replacing the device's own table keeps its CD table. */
	struct iommufd_hwpt *h0b = hwpt_new(h0->ioas);
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h0b), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h0), 0);
	dma_at(0, X, K64);
	expect_clean(0, "device replace");

	struct iommufd_hwpt *hp2 = hwpt_new(ioas2);
	assert_int_equal(iommufd_device_replace_pasid(&F.ictx, 0, 1, hp2), 0);
	assert_int_equal(hp2->did, hp->did);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, hp), 0);
	dma_at(0, X, K64);
	expect_clean(0, "pasid replace");

	assert_int_equal(iommu_drv_oracle_unmap_pasid(&F.r.drv, 0, 1, X, K64), 0);
	assert_int_equal(iommufd_device_detach_pasid(&F.ictx, 0, 1), 0);
	assert_int_equal(iommufd_device_nr_pasids(&F.ictx, 0), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, hp2), 0);
	dma_at(0, X, K64);
	expect_clean(0, "pasid detach");
}

/* The naive kernel switches the CD without CFGI_CD: the IOMMU keeps
 * walking the old table, which is freed. */
static void test_pasid_replace_without_cfgi_caught(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_hwpt *h0, *hp;
	struct iommufd_ioas *ioas2 = pasid_dev(&h0, &hp);
	F.ictx.skip_cd_inv = true;
	struct iommufd_hwpt *hp2 = hwpt_new(ioas2);
	assert_int_equal(iommufd_device_replace_pasid(&F.ictx, 0, 1, hp2), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, hp), 0);
	dma_at(0, X, K64);
	hw_rig_settle(&F.r);
	assert_true(STAT(0, use_after_free) > 0);
}

static void test_pasid_misuse_refused(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_hwpt *h0, *hp;
	pasid_dev(&h0, &hp);
	unsigned int users = hp->users;
	uint64_t cdtab = F.ictx.dev[0].cdtab;
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 0, 0, hp), -EINVAL);
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 0,
						     IOMMUFD_MAX_PASIDS, hp),
			 -EINVAL);
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 0, 1, hp), -EBUSY);
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 0, 2, NULL),
			 -EINVAL);
	/* Device 1 is not attached: no PASID without a table of its own. */
	assert_int_equal(iommufd_device_attach_pasid(&F.ictx, 1, 1, hp), -EINVAL);
	assert_int_equal(iommufd_device_replace_pasid(&F.ictx, 0, 2, hp), -EBUSY);
	assert_int_equal(iommufd_device_detach_pasid(&F.ictx, 0, 2), -EBUSY);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, hp), -EBUSY);
	assert_int_equal(hp->users, users);
	assert_int_equal(F.ictx.dev[0].cdtab, cdtab);
	assert_ptr_equal(F.ictx.dev[0].pasid_hwpt[1], hp);
	dma_at(0, X, K64);
	expect_clean(0, "after refused calls");
	/* Detaching the device releases its PASIDs and their table. */
	assert_int_equal(iommu_drv_dma_stop(&F.r.drv, 0), 0);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), 0);
	assert_int_equal(F.ictx.dev[0].cdtab, 0);
	assert_int_equal(hp->users, 0);
	expect_clean(0, "device detach");
}

/*
 * A device with attached PASIDs is refused unless the update replays
 * them; replayed, the handover records each PASID on its HWPT and the
 * CD table on the device's own, and the records agree with the
 * hardware until a CD is changed under them.
 */
static void test_pasid_handover_records(void **state)
{
	(void)state;
	fix_up(0);
	struct iommufd_hwpt *h0, *hp;
	pasid_dev(&h0, &hp);
	char why[160] = "";
	assert_int_equal(iommufd_preserve_check(&F.ictx, 1, why, sizeof(why)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(why, "device 0 has 1 PASID in use"));
	F.ictx.preserve_pasids = true;
	assert_int_equal(iommufd_preserve_check(&F.ictx, 1, why, sizeof(why)), 0);
	/* A count the kernel does not track is refused all the same. */
	F.ictx.dev[0].pasids = 2;
	assert_int_equal(iommufd_preserve_check(&F.ictx, 1, why, sizeof(why)),
			 -EOPNOTSUPP);
	F.ictx.dev[0].pasids = 0;

	const uint64_t cdtab = F.ictx.dev[0].cdtab;
	struct gen2 g;
	handover_in(&g, handover_out());
	assert_int_equal(g.in.nr_hwpt, 2);
	const struct iommufd_hwpt_rec *r0 = NULL, *rp = NULL;
	for (unsigned int i = 0; i < g.in.nr_hwpt; i++) {
		if (g.in.hwpt[i].id == h0->id)
			r0 = &g.in.hwpt[i];
		if (g.in.hwpt[i].id == hp->id)
			rp = &g.in.hwpt[i];
	}
	assert_non_null(r0);
	assert_non_null(rp);
	assert_int_equal(r0->nr_cdtabs, 1);
	assert_int_equal(r0->cdtabs[0].sid, 0);
	assert_int_equal(r0->cdtabs[0].pa, cdtab);
	assert_int_equal(r0->nr_pasids, 0);
	assert_int_equal(rp->nr_devs, 0);
	assert_int_equal(rp->nr_pasids, 1);
	assert_int_equal(rp->pasids[0].sid, 0);
	assert_int_equal(rp->pasids[0].pasid, 1);
	/* The entry the device is expected to have carries the CD table. */
	uint64_t ste[HW_STE_WORDS], now[HW_STE_WORDS];
	iommufd_rec_ste(r0, 0, ste);
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, 0, now), 0);
	assert_true(hw_ste_same_config(ste, now));
	struct kho_err err = { { 0 } };
	assert_int_equal(iommufd_pasids_check_hw(&g.in, &F.r.drv, &err), 0);
	/* PASID 1's CD now runs another root: refused, naming it. */
	_Atomic uint64_t *cd = physmem_ptr(&F.r.pm, cdtab + HW_CD_SIZE,
					   HW_CD_SIZE);
	uint64_t root = atomic_load(&cd[1]);
	atomic_store(&cd[1], root + 4096);
	assert_int_equal(iommufd_pasids_check_hw(&g.in, &F.r.drv, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "device 0 PASID 1: its CD"));
	assert_non_null(strstr(err.msg, "disagrees with hwpt"));
	atomic_store(&cd[1], root);
	gen2_fini(&g);
}

/* ---- nesting: the guest's stage 1 over a stage-2 HWPT ------------------ */

#define GUEST_S1_OFF (8ull << 20)  /* guest's table pages: memfd 0 from here */
#define GUEST_S1_PAGES 16u
#define Y 0x80000000ull            /* the guest's IOVA (stage-1 input) */

/* The guest's own allocator: table pages in its RAM (memfd 0 mapped at
 * IPA X), addressed by IPA, as a guest kernel builds its stage 1. */
struct guest_mem {
	unsigned int used;
};
static struct guest_mem GM;

static void *guest_va(void *ctx, pt_oaddr_t ipa)
{
	(void)ctx;
	if (ipa < X || ipa - X >= MEMFD_SIZE)
		return NULL;
	const struct kho_memfd_folio *f = kho_memfd_lookup(F.m[0], ipa - X);
	return kho_va(&F.k, f->pa + (ipa - X - f->offset), KHO_4K);
}

static void *guest_alloc(void *ctx, pt_oaddr_t *ipa)
{
	if (GM.used == GUEST_S1_PAGES)
		return NULL;
	*ipa = X + GUEST_S1_OFF + (uint64_t)GM.used++ * KHO_4K;
	return guest_va(ctx, *ipa);
}

static void guest_free(void *ctx, void *page, pt_oaddr_t ipa)
{
	(void)ctx;
	(void)page;
	(void)ipa;
}

static const struct pt_mem_ops guest_ops = {
	.alloc = guest_alloc, .free = guest_free, .defer_free = guest_free,
	.phys_to_virt = guest_va,
};

/*
 * Device 0 nested: the guest's stage 1 maps Y -> IPA X (two 64K areas,
 * 4K pages) with its table in its RAM; two stage-2 HWPTs h1, h2 over
 * IOASes with the same translations; device on h1, DMA warm.
 */
static struct iommufd_hwpt_nested *nested_up(struct pt_table *s1,
					     struct iommufd_ioas **ioas2,
					     struct iommufd_hwpt **h1,
					     struct iommufd_hwpt **h2,
					     uint8_t *copy)
{
	fix_up(0);
	memset(&GM, 0, sizeof(GM));
	struct iommufd_ioas *ioas1 = ioas_new();
	*ioas2 = ioas_new();
	for (unsigned int i = 0; i < 2; i++) {
		struct iommufd_ioas *ioas = i ? *ioas2 : ioas1;
		map(ioas, 0, 0, K64, X);
		map(ioas, 0, K64, MEMFD_SIZE - K64, X + K64);
	}
	*h1 = hwpt_new(ioas1);
	*h2 = hwpt_new(*ioas2);
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S1, .va_bits = 48, .oa_bits = 48,
			      .pgsizes = PT_SZ_4K };
	assert_int_equal(pt_init(s1, &cfg, &guest_ops, NULL), 0);
	struct pt_gather g;
	pt_gather_init(&g);
	assert_int_equal(pt_map_range(s1, Y, X, 2 * K64, RW, &g), 0);
	for (unsigned int i = 0; i < GM.used; i++)
		memcpy(copy + (size_t)i * KHO_4K,
		       guest_va(NULL, X + GUEST_S1_OFF + i * KHO_4K), KHO_4K);
	struct iommufd_hwpt_nested *n;
	assert_int_equal(iommufd_hwpt_alloc_nested(&F.ictx, *h1, PT_FMT_ARM_S1,
						   48, s1->top_pa, 7, &n), 0);
	assert_int_equal(iommufd_device_attach_nested(&F.ictx, 0, n), 0);
	oracle_file(0, 0, 0, 2 * K64, Y);
	dma_at(0, Y, 2 * K64);
	expect_clean(0, "nested warm");
	return n;
}

/* The guest's stage-1 pages, byte for byte as the guest wrote them. */
static void expect_s1_untouched(const uint8_t *copy)
{
	for (unsigned int i = 0; i < GM.used; i++)
		assert_memory_equal(copy + (size_t)i * KHO_4K,
				    guest_va(NULL, X + GUEST_S1_OFF + i * KHO_4K),
				    KHO_4K);
}

/*
 * Replace the stage 2 under a nested device (a live update's switch)
 * and destroy the old one: the combined stage 1+2 entries were built
 * through the old stage 2 and carry the VMID the new one takes over, so
 * a stage-2 invalidation leaves them; the replace must invalidate by
 * VMID before the old table is freed. Without it (naive) the machine
 * finds combined entries whose stage-2 page was freed.
 */
static void nested_replace(bool naive)
{
	static uint8_t copy[GUEST_S1_PAGES * KHO_4K];
	struct pt_table s1;
	struct iommufd_ioas *ioas2;
	struct iommufd_hwpt *h1, *h2;
	struct iommufd_hwpt_nested *n = nested_up(&s1, &ioas2, &h1, &h2, copy);
	F.ictx.skip_nested_inv = naive;
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), 0);
	assert_ptr_equal(n->parent, h2);
	assert_ptr_equal(F.ictx.dev[0].nested, n);
	uint64_t ste[HW_STE_WORDS];
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, 0, ste), 0);
	assert_int_equal(HW_FIELD_GET(HW_STE0_MODE, ste[0]), HW_STE_MODE_NESTED);
	assert_int_equal(ste[1] & HW_STE1_ROOT, s1.top_pa);
	assert_int_equal(ste[3] & HW_STE3_S2ROOT, h2->pt.top_pa);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h1), 0);
	dma_at(0, Y, 2 * K64);
	hw_rig_settle(&F.r);
	if (naive) {
		assert_true(STAT(0, use_after_free) > 0);
	} else {
		expect_clean(0, "nested replace");
	}
	expect_s1_untouched(copy);
	(void)ioas2;
	pt_deinit(&s1);
}

static void test_nested_replace_invalidates_combined(void **state)
{
	(void)state;
	nested_replace(false);
}

static void test_nested_replace_naive_caught(void **state)
{
	(void)state;
	nested_replace(true);
}

/*
 * A stage-2 change under a nested device (the VMM moves guest RAM: an
 * area unmapped and mapped to other memory): the flush must remove the
 * combined entries by VMID, or DMA goes on through the old page
 * (misdirected) and the freed stage-2 page is still referenced.
 */
static void nested_s2_change(bool naive)
{
	static uint8_t copy[GUEST_S1_PAGES * KHO_4K];
	struct pt_table s1;
	struct iommufd_ioas *ioas2;
	struct iommufd_hwpt *h1, *h2;
	(void)nested_up(&s1, &ioas2, &h1, &h2, copy);
	F.ictx.skip_nested_inv = naive;
	oracle_drop(0, Y, K64);
	struct iommufd_ioas *ioas1 = h1->ioas;
	assert_int_equal(iommufd_ioas_unmap(ioas1, &F.ictx, X, K64), 0);
	map(ioas1, 1, 0, K64, X);
	oracle_file(0, 1, 0, K64, Y);
	dma_at(0, Y, K64);
	hw_rig_settle(&F.r);
	if (naive)
		assert_true(STAT(0, misdirected) > 0);
	else
		expect_clean(0, "nested stage-2 change");
	expect_s1_untouched(copy);
	pt_deinit(&s1);
}

static void test_nested_s2_change_invalidates_combined(void **state)
{
	(void)state;
	nested_s2_change(false);
}

static void test_nested_s2_change_naive_caught(void **state)
{
	(void)state;
	nested_s2_change(true);
}

/* What cannot nest, or is not a stage-1 configuration, is refused and
 * creates nothing; a nested HWPT in use is not destroyed. */
static void test_nested_refused(void **state)
{
	(void)state;
	static uint8_t copy[GUEST_S1_PAGES * KHO_4K];
	struct pt_table s1;
	struct iommufd_ioas *ioas2;
	struct iommufd_hwpt *h1, *h2;
	struct iommufd_hwpt_nested *n = nested_up(&s1, &ioas2, &h1, &h2, copy), *o;
	const char *why = NULL;
	assert_int_equal(iommufd_nest_check(PT_FMT_VTD_SS, PT_FMT_ARM_S2, &why),
			 -EOPNOTSUPP);
	assert_non_null(why);
	assert_int_equal(iommufd_nest_check(PT_FMT_ARM_S1, PT_FMT_VTD_SS, &why),
			 -EOPNOTSUPP);
	assert_int_equal(iommufd_hwpt_alloc_nested(&F.ictx, h2, PT_FMT_ARM_S2, 48,
						   s1.top_pa, 7, &o), -EOPNOTSUPP);
	assert_int_equal(iommufd_hwpt_alloc_nested(&F.ictx, h2, PT_FMT_ARM_S1, 48,
						   s1.top_pa + 8, 7, &o), -EINVAL);
	assert_int_equal(iommufd_hwpt_alloc_nested(&F.ictx, h2, PT_FMT_ARM_S1, 48,
						   s1.top_pa, 0, &o), -EINVAL);
	assert_int_equal(iommufd_hwpt_alloc_nested(&F.ictx, h2, PT_FMT_ARM_S1, 48,
						   1ull << 48, 7, &o), -EINVAL);
	unsigned int objs = 0;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		objs += F.ictx.nested[i] != NULL;
	assert_int_equal(objs, 1);
	assert_int_equal(iommufd_hwpt_nested_destroy(&F.ictx, n), -EBUSY);
	assert_int_equal(iommufd_device_attach_nested(&F.ictx, 0, n), -EBUSY);
	/* A nested HWPT has one stage 2: its devices move together. */
	assert_int_equal(iommufd_device_attach_nested(&F.ictx, 1, n), 0);
	uint64_t before[HW_STE_WORDS], after[HW_STE_WORDS];
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, 0, before), 0);
	assert_int_equal(iommufd_device_replace(&F.ictx, 0, h2), -EBUSY);
	assert_int_equal(iommu_drv_read_ste(&F.r.drv, 0, after), 0);
	assert_memory_equal(before, after, sizeof(before));
	assert_ptr_equal(n->parent, h1);
	assert_ptr_equal(F.ictx.dev[0].hwpt, h1);
	const uint32_t both[2] = { 0, 1 };
	assert_int_equal(iommufd_devices_replace(&F.ictx, both, 2, h2), 0);
	assert_ptr_equal(n->parent, h2);
	assert_int_equal(n->users, 2);
	expect_clean(0, "refusals");
	pt_deinit(&s1);
}

/*
 * The last device of a nesting parent goes (detached) and the stage 2
 * is destroyed: its VMID is retired, so the destroy invalidates the
 * combined entries by VMID before the pages go, or they outlive them.
 */
static void test_nested_destroy_retires_vmid(void **state)
{
	(void)state;
	static uint8_t copy[GUEST_S1_PAGES * KHO_4K];
	struct pt_table s1;
	struct iommufd_ioas *ioas2;
	struct iommufd_hwpt *h1, *h2;
	struct iommufd_hwpt_nested *n = nested_up(&s1, &ioas2, &h1, &h2, copy);
	hw_rig_window(&F.r, 0, 0, 0);
	iommu_drv_dma_enable(&F.r.drv, 0, false);
	oracle_drop(0, Y, 2 * K64);
	assert_int_equal(iommufd_device_detach(&F.ictx, 0), 0);
	assert_null(F.ictx.dev[0].nested);
	assert_int_equal(n->users, 0);
	assert_int_equal(iommufd_hwpt_nested_destroy(&F.ictx, n), 0);
	assert_int_equal(iommufd_hwpt_destroy(&F.ictx, h1), 0);
	expect_clean(0, "nested parent destroyed");
	expect_s1_untouched(copy);
	pt_deinit(&s1);
}

#define T(f) cmocka_unit_test_teardown(f, fix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_unmap_freeing_table_flushes_walk_cache),
		T(test_unmap_needing_several_range_commands),
		T(test_replace_invalidates_domain),
		T(test_pasid_attach_replace_detach),
		T(test_pasid_replace_without_cfgi_caught),
		T(test_pasid_misuse_refused),
		T(test_pasid_handover_records),
		T(test_destroy_frees_after_flush),
		T(test_units_replace_invalidates_every_unit),
		T(test_units_naive_caught),
		T(test_destroy_keeps_pages_without_sync),
		T(test_repin_after_handover_covers_every_area),
		T(test_adopt_refuses_unreachable_extra_page),
		T(test_adopt_refuses_page_reached_twice),
		T(test_adopt_without_room_claims_nothing),
		T(test_drv_range_commands_tile_the_range),
		T(test_drv_disruptive_ste_goes_through_invalid),
		T(test_pin_failing_partway_takes_nothing),
		T(test_destroy_refuses_attached),
		T(test_map_undone_by_pt_is_invalidated),
		T(test_failures_leave_nothing),
		T(test_unmap_failures_retry),
		T(test_misuse_refused),
		T(test_partial_preserve_drops_unpreserved),
		T(test_unpreserved_running_into_abort_faults),
		T(test_new_kernel_reserves_preserved_dids),
		T(test_id_allocator),
		T(test_pasid_device_refused),
		T(test_nested_replace_invalidates_combined),
		T(test_nested_replace_naive_caught),
		T(test_nested_s2_change_invalidates_combined),
		T(test_nested_s2_change_naive_caught),
		T(test_nested_refused),
		T(test_nested_destroy_retires_vmid),
		T(test_ats_unmap_invalidates_atc),
		T(test_ats_replace_invalidates_atc),
		T(test_ats_detach_invalidates_atc),
		T(test_ats_destroy_invalidates_domain_atcs),
		T(test_ats_set_refused),
	};
	if (iommufd_kho_register())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
