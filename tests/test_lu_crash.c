// SPDX-License-Identifier: MIT
/*
 * A kernel killed (SIGKILL) at every named step of a live update, then a
 * recovery kernel booting from the last handover that was completely
 * written. Before freeze there is none: devices go to abort mode and may
 * fault, but nothing is misdirected or written outside guest memory.
 * From freeze on, the update completes or falls back to the preserved
 * tables with no fault at all. No page leaks, none is freed twice.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "world/world.h"
#include "tests/lib/kernel_path.h"

static char kernel_path[PATH_MAX];

struct expect {
	const char *point;
	const char *mode;   /* recovery outcome */
	unsigned int iommus; /* IOMMU units the point needs (0: 1) */
};

static const struct expect rebuild_points[] = {
	{ "serialize", "abort", 0 },
	{ "freeze", "fell-back", 0 },
	{ "exec", "fell-back", 0 },
	{ "replay", "fell-back", 0 },
	{ "reconcile", "fell-back", 0 },
	{ "switch", "split", 0 },
	{ "switch-unit", "split", 2 },
	{ "atc", "completed", 0 },
	{ "free", "completed", 0 },
	{ "finish", "fell-back", 0 },
};

/* Partial preservation for the next crash_run_devs (0: every device). */
static unsigned int crash_preserve;
/* A nested guest for the next crash_run_devs. */
static bool crash_nested;
/* Replayed PASIDs of device 0 for the next crash_run_devs (0: none). */
static unsigned int crash_pasids;

/* devices: 0 for the default. */
static void crash_run_devs(const struct lu_strategy *s, enum pt_format_id fmt,
			   const struct expect *e, unsigned int devices,
			   struct world_result *r)
{
	struct world_scenario sc;
	world_scenario_default(&sc);
	sc.kernel_path = kernel_path;
	sc.fmt = fmt;
	sc.strategy = s;
	sc.crash_at = e->point;
	sc.run_ms = 60;
	if (devices)
		sc.devices = devices;
	sc.preserve = crash_preserve;
	sc.nested = crash_nested;
	sc.pasids = crash_pasids;
	sc.replay_pasids = crash_pasids > 0;
	sc.iommus = e->iommus ? e->iommus : 1;
	if (sc.iommus > sc.devices)
		sc.devices = sc.iommus;
	/* The point between the IOMMUs' and the devices' TLB invalidation
	 * exists only with ATS devices. */
	if (!strcmp(e->point, "atc"))
		sc.ats = sc.devices;
	assert_int_equal(world_run(&sc, r), 0);
	printf("  %s %s crash at %-9s: recovery %s (%d)%s%s; dma ops %llu "
	       "faults %llu misdirected %llu lost %llu uaf %llu\n",
	       s->name, pt_fmt_name(fmt), e->point,
	       r->recovery_mode, r->recovery_status,
	       r->recovery_error[0] ? ": " : "", r->recovery_error,
	       (unsigned long long)r->dma.ops, (unsigned long long)r->dma.faults,
	       (unsigned long long)r->dma.misdirected,
	       (unsigned long long)r->dma.lost_writes,
	       (unsigned long long)r->dma.use_after_free);
	assert_true(r->crashed);
	assert_string_equal(r->recovery_mode, e->mode);
	/* Whatever happened, DMA never went astray. */
	assert_true(r->dma.ops > 0);
	assert_int_equal(r->dma.misdirected, 0);
	assert_int_equal(r->dma.lost_writes, 0);
	assert_int_equal(r->dma.bbm_violations, 0);
	assert_int_equal(r->dma.use_after_free, 0);
	assert_int_equal(r->dma.torn_config, 0);
	assert_int_equal(r->dma.stale_atc, 0);
	if (strcmp(e->mode, "abort")) {
		/* From freeze on: not a single fault. */
		assert_int_equal(r->recovery_status, 0);
		assert_int_equal(r->dma.faults, 0);
		assert_int_equal(r->dma.conflicts, 0);
		assert_int_equal(r->recovery_leaked_bytes, 0);
		assert_int_equal(r->recovery_bad_frees, 0);
	} else {
		assert_int_equal(r->recovery_status, LU_EXIT_NOT_HITLESS);
	}
}

static void crash_run(const struct lu_strategy *s, enum pt_format_id fmt,
		      const struct expect *e, struct world_result *r)
{
	crash_run_devs(s, fmt, e, 0, r);
}

static void test_rebuild_every_point(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rebuild_points) / sizeof(rebuild_points[0]); i++) {
		struct world_result r;
		crash_run(&lu_strategy_rebuild, PT_FMT_ARM_S2, &rebuild_points[i], &r);
		world_result_free(&r);
	}
}

/*
 * One device, killed at its configuration write: the recovery kernel
 * finds it on the new table (completed) and releases the old one, which
 * the walk cache may still reach (same domain tag, the switch's own
 * invalidation never came). Recovery must flush before releasing; the
 * released pages are declared freed, so a walk through them is counted.
 */
static void test_switch_one_device(void **state)
{
	(void)state;
	static const struct expect e = { "switch", "completed", 0 };
	for (int i = 0; i < 3; i++) {
		struct world_result r;
		crash_run_devs(&lu_strategy_rebuild, PT_FMT_ARM_S2, &e, 1, &r);
		world_result_free(&r);
	}
}

/*
 * --devices 4 --preserve 2, killed after the handover was committed: the
 * recovery kernel finds streams 2 and 3 in abort (the crashed kernel
 * dropped them before preserving), leaves them there with their DMA
 * stopped, and recovers the two preserved devices as usual, without a
 * fault; it must not take the aborted streams for devices on no
 * preserved table (which would put every stream in abort).
 */
static void test_partial_preservation_points(void **state)
{
	(void)state;
	static const struct expect pts[] = {
		{ "freeze", "fell-back", 0 }, { "switch", "split", 0 },
		{ "free", "completed", 0 },
	};
	for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		struct world_result r;
		crash_preserve = 2;
		crash_run_devs(&lu_strategy_rebuild, PT_FMT_ARM_S2, &pts[i], 4, &r);
		crash_preserve = 0;
		assert_int_equal(r.dma_enabled, 0x3);
		for (unsigned int d = 0; d < 4; d++)
			assert_true(r.dev[d].ops > 0);
		world_result_free(&r);
	}
}

/*
 * A nested guest, killed at every point of a rebuild: the same outcomes
 * as without nesting. The recovery kernel recognises a device nested over
 * the table built mid-update (split, completed) though the journal's
 * record of that table names no nested device yet (none had moved), by
 * the nested record the old table's record holds; and no combined entry
 * of a released stage 2 outlives its pages (the machine would count a use
 * after free).
 */
static void test_nested_every_point(void **state)
{
	(void)state;
	crash_nested = true;
	for (size_t i = 0; i < sizeof(rebuild_points) / sizeof(rebuild_points[0]); i++) {
		struct world_result r;
		/* Nested devices have no ATS (refused): no "atc" point. */
		if (!strcmp(rebuild_points[i].point, "atc"))
			continue;
		crash_run(&lu_strategy_rebuild, PT_FMT_ARM_S2, &rebuild_points[i], &r);
		world_result_free(&r);
	}
	crash_nested = false;
}

/*
 * The same with ATS: the killed kernel never invalidated the device's
 * ATC, which holds the old table's translations. The recovery kernel
 * must invalidate it (after the IOTLB) before it releases the old table.
 */
static void test_switch_one_ats_device(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct world_scenario sc;
		struct world_result r;
		world_scenario_default(&sc);
		sc.kernel_path = kernel_path;
		sc.crash_at = "switch";
		sc.devices = 1;
		sc.ats = 1;
		sc.run_ms = 60;
		assert_int_equal(world_run(&sc, &r), 0);
		assert_true(r.crashed);
		assert_string_equal(r.recovery_mode, "completed");
		assert_int_equal(r.recovery_status, 0);
		assert_true(r.dev[0].atc_hits > 0);
		assert_int_equal(r.dma.stale_atc, 0);
		assert_int_equal(r.dma.misdirected, 0);
		assert_int_equal(r.dma.use_after_free, 0);
		assert_true(r.hitless);
		world_result_free(&r);
	}
}

/*
 * Device 0 with 2 replayed PASIDs, killed at every point of a rebuild.
 * The new kernel rebuilds the PASIDs' tables first, so the first switch
 * is PASID 1's CD, killed after its store and before its CFGI_CD: the
 * IOMMU may still use the cached CD of the old table. The recovery kernel
 * finds PASID 1 on the new table (its CD says so) and the rest on their
 * preserved ones (split), invalidates every CD of the device, then the
 * TLB, before it releases the old table. Killed at the atc or free point, the
 * same (PASID 1 switched, the others not yet). Stop-the-world (on
 * VT-d) likewise.
 */
static void test_pasids_every_point(void **state)
{
	(void)state;
	crash_pasids = 2;
	for (size_t i = 0; i < sizeof(rebuild_points) / sizeof(rebuild_points[0]); i++) {
		struct expect e = rebuild_points[i];
		if (!strcmp(e.point, "free") || !strcmp(e.point, "atc"))
			e.mode = "split";
		struct world_result r;
		crash_run(&lu_strategy_rebuild, PT_FMT_ARM_S2, &e, &r);
		world_result_free(&r);
	}
	/* stop-the-world, DMA stopped: the recovery kernel restarts it. */
	static const struct expect stw[] = {
		{ "replay", "fell-back", 0 }, { "switch", "split", 0 },
		{ "free", "split", 0 },
	};
	for (size_t i = 0; i < sizeof(stw) / sizeof(stw[0]); i++) {
		struct world_result r;
		crash_run(&lu_strategy_stop_the_world, PT_FMT_VTD_SS, &stw[i], &r);
		world_result_free(&r);
	}
	crash_pasids = 0;
}

/*
 * Several IOMMU units, killed between units (switch-unit: unit 0's devices
 * switched and synced, the others' not yet): the recovery kernel finds
 * each device on the table its entry names, keeps both tables' devices
 * where they are (split), flushes every unit's caches before releasing
 * anything, and not a single DMA of any unit goes astray. Also killed
 * mid-entry (switch) and after every unit switched (free), for the
 * strategies that switch tables.
 */
static void test_units_crash_between_units(void **state)
{
	(void)state;
	static const struct expect pts[] = {
		{ "switch", "split", 4 }, { "switch-unit", "split", 4 },
		{ "free", "completed", 4 },
	};
	static const struct lu_strategy *const strats[] = {
		&lu_strategy_rebuild, &lu_strategy_stop_the_world,
	};
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
			struct world_result r;
			if (s && strcmp(pts[i].point, "switch-unit"))
				continue;
			crash_run_devs(strats[s], PT_FMT_ARM_S2, &pts[i], 8, &r);
			assert_int_equal(r.nr_units, 4);
			for (unsigned int d = 0; d < 8; d++) {
				assert_int_equal(r.dev_unit[d], d % 4);
				assert_true(r.dev[d].ops > 0);
			}
			/* Every unit saw its devices' switch or recovery. */
			for (unsigned int u = 0; u < 4; u++)
				assert_true(r.unit[u].syncs > 0);
			assert_true(r.hitless);
			world_result_free(&r);
		}
	}
}

/* Every point is named and reachable. */
static void test_points_listed(void **state)
{
	(void)state;
	size_t n = 0;
	while (lu_crash_points[n])
		n++;
	assert_int_equal(n, sizeof(rebuild_points) / sizeof(rebuild_points[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(lu_crash_points[i], rebuild_points[i].point);
}

/* verify never switches: a crash anywhere after freeze falls back. */
static void test_verify_points(void **state)
{
	(void)state;
	static const struct expect pts[] = {
		{ "freeze", "fell-back", 0 }, { "replay", "fell-back", 0 },
		{ "finish", "fell-back", 0 },
	};
	for (size_t i = 0; i < 3; i++) {
		struct world_result r;
		crash_run(&lu_strategy_verify, PT_FMT_VTD_SS, &pts[i], &r);
		world_result_free(&r);
	}
}

/* stop-the-world stopped the guest and DMA: recovery restarts both. */
static void test_stop_the_world_points(void **state)
{
	(void)state;
	static const struct expect pts[] = {
		{ "replay", "fell-back", 0 }, { "free", "completed", 0 },
	};
	for (size_t i = 0; i < 2; i++) {
		struct world_result r;
		crash_run(&lu_strategy_stop_the_world, PT_FMT_ARM_S2, &pts[i], &r);
		world_result_free(&r);
	}
}

int main(void)
{
	if (test_kernel_path(kernel_path, sizeof(kernel_path)))
		return 1;
	/* TEST_FILTER=test_partial* runs only the tests it matches. */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_points_listed),
		cmocka_unit_test(test_rebuild_every_point),
		cmocka_unit_test(test_switch_one_device),
		cmocka_unit_test(test_partial_preservation_points),
		cmocka_unit_test(test_nested_every_point),
		cmocka_unit_test(test_pasids_every_point),
		cmocka_unit_test(test_switch_one_ats_device),
		cmocka_unit_test(test_units_crash_between_units),
		cmocka_unit_test(test_verify_points),
		cmocka_unit_test(test_stop_the_world_points),
	};
	return cmocka_run_group_tests_name("lu_crash", tests, NULL, NULL);
}
