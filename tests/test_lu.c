// SPDX-License-Identifier: MIT
/*
 * Live updates end to end: the machine process, real kernel generations
 * replacing each other by execve, DMA engines running throughout. Issue 5's
 * acceptance, on guests small enough for make check (bench/bench_lu runs
 * the full sizes).
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

static void scenario(struct world_scenario *sc, enum pt_format_id fmt,
		     const char *from, const char *to, const struct lu_strategy *s,
		     unsigned int bbm)
{
	world_scenario_default(sc);
	sc->kernel_path = kernel_path;
	sc->guest_mem = 1ull << 30;
	sc->fmt = fmt;
	sc->from = from;
	sc->to = to;
	sc->strategy = s;
	sc->bbm_level = bbm;
	sc->run_ms = 60;
}

static void print_result(const struct world_scenario *sc, const struct world_result *r)
{
	printf("  %s %s->%s %s bbm%u%s: status %d, %s; dma ops %llu faults %llu "
	       "conflicts %llu misdirected %llu lost %llu bbm %llu uaf %llu\n",
	       pt_fmt_name(sc->fmt), sc->from, sc->to,
	       sc->strategy->name, sc->bbm_level,
	       sc->naive ? " naive" : "", r->kernel_status,
	       r->hitless ? "hitless" : "NOT hitless",
	       (unsigned long long)r->dma.ops, (unsigned long long)r->dma.faults,
	       (unsigned long long)r->dma.conflicts,
	       (unsigned long long)r->dma.misdirected,
	       (unsigned long long)r->dma.lost_writes,
	       (unsigned long long)r->dma.bbm_violations,
	       (unsigned long long)r->dma.use_after_free);
	for (unsigned int i = 0; i < r->nr_upd; i++)
		if (!r->upd[i].ok)
			printf("    update %u: %s\n", i, r->upd[i].error);
	if (r->kernel_error[0])
		printf("    kernel: %s\n", r->kernel_error);
}

static void run(const struct world_scenario *sc, struct world_result *r)
{
	assert_int_equal(world_run(sc, r), 0);
	print_result(sc, r);
}

static void assert_hitless(const struct world_result *r, unsigned int updates)
{
	assert_int_equal(r->kernel_status, 0);
	assert_int_equal(r->nr_upd, updates);
	for (unsigned int i = 0; i < r->nr_upd; i++)
		assert_true(r->upd[i].ok);
	assert_true(r->dma.ops > 0);
	assert_int_equal(r->dma.faults, 0);
	assert_int_equal(r->dma.conflicts, 0);
	assert_int_equal(r->dma.misdirected, 0);
	assert_int_equal(r->dma.lost_writes, 0);
	assert_int_equal(r->dma.bbm_violations, 0);
	assert_int_equal(r->dma.use_after_free, 0);
	assert_int_equal(r->dma.torn_config, 0);
	assert_true(r->hitless);
}

/* v1->v2, v2->v1 (rollback), v2->v2; verify and rebuild; BBM 0 and 2 on
 * ARM stage 2, and VT-d (no BBM levels). */
static void test_matrix(void **state)
{
	(void)state;
	static const char *const tr[3][2] = { { "v1", "v2" }, { "v2", "v1" },
					      { "v2", "v2" } };
	static const enum pt_format_id fmts[2] = { PT_FMT_ARM_S2, PT_FMT_VTD_SS };
	static const struct lu_strategy *const strat[2] = { &lu_strategy_verify, &lu_strategy_rebuild };
	for (unsigned int f = 0; f < 2; f++)
		for (unsigned int t = 0; t < 3; t++)
			for (unsigned int s = 0; s < 2; s++)
				for (unsigned int bbm = 0; bbm <= 2; bbm += 2) {
					if (fmts[f] == PT_FMT_VTD_SS && bbm)
						continue;
					struct world_scenario sc;
					struct world_result r;
					scenario(&sc, fmts[f], tr[t][0], tr[t][1],
						 strat[s], bbm);
					run(&sc, &r);
					assert_hitless(&r, 1);
					world_result_free(&r);
				}
}

/* Rollback on ARM at BBM 0 must reconcile: the v1 kernel cannot build
 * contiguous runs, so it joins its table to the v2 layout. */
static void test_rollback_reconciles(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v2", "v1", &lu_strategy_rebuild, 0);
	sc.mix.ppm_1g = 0; /* 2M folios: 32M contiguous runs in v2 */
	run(&sc, &r);
	assert_hitless(&r, 1);
	assert_true(r.upd[0].joins > 0);
	assert_true(r.upd[0].granule_bytes > 0);
	world_result_free(&r);
}

/* The naive rebuild (new defaults, no reconcile) is what the machine
 * exists to catch: TLB conflicts at BBM 0 on ARM; fine at BBM 2. */
static void test_naive(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.naive = true;
	sc.mix.ppm_1g = 0;
	run(&sc, &r);
	assert_false(r.hitless);
	assert_true(r.dma.conflicts > 0);
	world_result_free(&r);

	sc.bbm_level = 2;
	run(&sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);
}

/* Memory hotplug during recovery waits, then completes and translates. */
static void test_hotplug(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[2] = { &lu_strategy_verify, &lu_strategy_rebuild };
	for (unsigned int s = 0; s < 2; s++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", strat[s], 0);
		sc.hotplug = true;
		run(&sc, &r);
		assert_hitless(&r, 1);
		assert_true(r.upd[0].hotplug_done);
		world_result_free(&r);
	}
}

/* deserialize: hitless, but the restored domain is immutable. */
static void test_deserialize(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_VTD_SS, "v1", "v2", &lu_strategy_deserialize, 0);
	run(&sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);

	sc.hotplug = true;
	run(&sc, &r);
	assert_int_equal(r.kernel_status, LU_EXIT_NOT_HITLESS);
	assert_false(r.upd[0].ok);
	assert_non_null(strstr(r.upd[0].error, "hotplug"));
	/* Refusing the map harmed nobody's DMA. */
	assert_int_equal(r.dma.faults + r.dma.misdirected + r.dma.conflicts, 0);
	world_result_free(&r);
}

/* A table that disagrees with the intent: no switch, no adoption, a
 * message naming the IOVA, and DMA keeps going on the preserved table. */
static void test_mismatch_refused(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[2] = { &lu_strategy_verify, &lu_strategy_rebuild };
	for (unsigned int s = 0; s < 2; s++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", strat[s], 0);
		sc.inject = "table-prot";
		run(&sc, &r);
		assert_int_equal(r.kernel_status, LU_EXIT_NOT_HITLESS);
		assert_false(r.upd[0].ok);
		assert_non_null(strstr(r.upd[0].error, "preserved table stays live"));
		assert_true(r.dma.ops > 0);
		assert_int_equal(r.dma.faults + r.dma.misdirected + r.dma.conflicts +
				 r.dma.lost_writes + r.dma.use_after_free, 0);
		world_result_free(&r);
	}
}

/*
 * Tables damaged after the handover was committed (a table pointer out
 * of RAM, a cycle, a malformed entry) are refused by every strategy with
 * the reason and the IOVA, and the machine shows DMA never left guest
 * memory: nothing misdirected, nothing faulted.
 */
static void test_hostile_tables(void **state)
{
	(void)state;
	static const char *const damage[3][2] = {
		{ "table-outside", "outside the preserved table pages" },
		{ "table-cycle", "reached twice" },
		{ "table-bad-entry", "malformed entry" },
	};
	static const struct lu_strategy *const strat[3] = { &lu_strategy_deserialize, &lu_strategy_verify,
						   &lu_strategy_rebuild };
	for (unsigned int d = 0; d < 3; d++) {
		for (unsigned int s = 0; s < 3; s++) {
			struct world_scenario sc;
			struct world_result r;
			scenario(&sc, s == 1 ? PT_FMT_VTD_SS : PT_FMT_ARM_S2,
				 "v1", "v2", strat[s], 0);
			sc.inject = damage[d][0];
			run(&sc, &r);
			assert_int_equal(r.kernel_status, LU_EXIT_NOT_HITLESS);
			assert_false(r.upd[0].ok);
			assert_non_null(strstr(r.upd[0].error, damage[d][1]));
			assert_non_null(strstr(r.upd[0].error, "at IOVA 0x"));
			assert_true(r.dma.ops > 0);
			assert_int_equal(r.dma.faults + r.dma.misdirected +
					 r.dma.conflicts + r.dma.lost_writes +
					 r.dma.use_after_free, 0);
			world_result_free(&r);
		}
	}
}

/* Guest resumes the machine logged after its last pause. */
static unsigned int resumes_after_last_pause(const struct world_result *r)
{
	size_t last = r->nr_events;
	for (size_t i = 0; i < r->nr_events; i++)
		if (r->events[i].type == HW_EVT_GUEST_PAUSED)
			last = i;
	assert_true(last < r->nr_events);
	unsigned int n = 0;
	for (size_t i = last; i < r->nr_events; i++)
		n += r->events[i].type == HW_EVT_GUEST_RESUMED;
	return n;
}

/*
 * An ioas the next kernel could not restore (a memfd the handover does
 * not hold, an area past its memfd) is refused at boot with the whole
 * handover: exit 2 with the object and the field named, the guest never
 * resumed on state that would not come back, and the devices translating
 * through the preserved table throughout (no fault, nothing misdirected).
 */
static void test_bad_ioas_refused_at_boot(void **state)
{
	(void)state;
	static const char *const damage[2][2] = {
		{ "ioas-memfd", "'memfds' names 'Guest-ram'" },
		{ "ioas-range", "beyond memfd 'guest-ram'" },
	};
	for (unsigned int d = 0; d < 2; d++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
		sc.inject = damage[d][0];
		run(&sc, &r);
		assert_int_equal(r.kernel_status, LU_EXIT_INPUT);
		assert_int_equal(r.nr_upd, 1);
		assert_false(r.upd[0].ok);
		assert_non_null(strstr(r.upd[0].error, "refused: iommufd object "
							"vm0/ioas-"));
		assert_non_null(strstr(r.upd[0].error, damage[d][1]));
		assert_int_equal(resumes_after_last_pause(&r), 0);
		assert_true(r.dma.ops > 0);
		assert_int_equal(r.dma.faults + r.dma.misdirected + r.dma.conflicts +
				 r.dma.lost_writes + r.dma.use_after_free, 0);
		world_result_free(&r);
	}
}

/* A chain: v1 -> v2 -> v1 -> v2 with the same machine throughout. */
static void test_chain(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2,v1,v2", &lu_strategy_rebuild, 0);
	sc.updates = 3;
	sc.run_ms = 40;
	/* Every update hot-adds memory: later ones must carry it along. */
	sc.hotplug = true;
	sc.strategies = "rebuild,verify,stop-the-world";
	run(&sc, &r);
	assert_hitless(&r, 3);
	assert_string_equal(r.upd[1].from, "v2");
	assert_string_equal(r.upd[1].to, "v1");
	assert_string_equal(r.upd[1].strategy, "verify");
	assert_true(r.upd[0].hotplug_done && r.upd[1].hotplug_done);
	world_result_free(&r);
}

/*
 * Degraded mode keeps re-pinning out of the blackout; stop-the-world
 * pays it inside. Work that scales with the guest (pinning every page)
 * is timed per phase; the blackout must contain it only for
 * stop-the-world.
 */
static void test_blackout_vs_size(void **state)
{
	(void)state;
	const uint64_t small = 256ull << 20, big = 16ull << 30;
	struct world_scenario sc;
	struct world_result r;
	uint64_t repin[2], blackout[2];
	for (int i = 0; i < 2; i++) {
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_stop_the_world, 0);
		sc.guest_mem = i ? big : small;
		sc.mix.ppm_1g = 0;
		run(&sc, &r);
		assert_hitless(&r, 1);
		repin[i] = r.upd[0].phases_us[LU_PH_REPLAY];
		blackout[i] = r.upd[0].blackout_us;
		/* Inside the blackout: replay, build, diff, switch. */
		assert_true(blackout[i] >= repin[i] + r.upd[0].phases_us[LU_PH_BUILD]);
		world_result_free(&r);
	}
	printf("  stop-the-world: re-pin %llu -> %llu us, blackout %llu -> %llu us\n",
	       (unsigned long long)repin[0], (unsigned long long)repin[1],
	       (unsigned long long)blackout[0], (unsigned long long)blackout[1]);
	/* 64x the pages: the re-pin must grow with them. */
	assert_true(repin[1] > 8 * repin[0]);

	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = big;
	sc.mix.ppm_1g = 0;
	run(&sc, &r);
	assert_hitless(&r, 1);
	printf("  rebuild at 16G: re-pin %llu us, blackout %llu us\n",
	       (unsigned long long)r.upd[0].phases_us[LU_PH_REPLAY],
	       (unsigned long long)r.upd[0].blackout_us);
	/* Degraded mode: the guest runs again before the replay starts. */
	assert_true(r.upd[0].phases_us[LU_PH_RESUME] <= r.upd[0].blackout_us);
	world_result_free(&r);
}

static void test_bad_scenarios(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v3", "v2", &lu_strategy_rebuild, 0);
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2,v1", &lu_strategy_rebuild, 0);
	assert_int_equal(world_run(&sc, &r), -EINVAL); /* 2 names, 1 update */
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 3);
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = 3ull << 20;
	assert_int_equal(world_run(&sc, &r), -EINVAL);
}

int main(void)
{
	if (test_kernel_path(kernel_path, sizeof(kernel_path)))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_scenarios),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_rollback_reconciles),
		cmocka_unit_test(test_naive),
		cmocka_unit_test(test_hotplug),
		cmocka_unit_test(test_deserialize),
		cmocka_unit_test(test_mismatch_refused),
		cmocka_unit_test(test_hostile_tables),
		cmocka_unit_test(test_bad_ioas_refused_at_boot),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_blackout_vs_size),
	};
	return cmocka_run_group_tests_name("lu", tests, NULL, NULL);
}
