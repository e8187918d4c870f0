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
	assert_int_equal(r->dma.stale_atc, 0);
	assert_true(r->hitless);
}

/* v1->v2, v2->v1 (rollback), v2->v2; verify and rebuild; BBM 0 and 2 on
 * ARM stage 2, and VT-d, AMD v1 and RISC-V (no BBM levels). */
static void test_matrix(void **state)
{
	(void)state;
	static const char *const tr[3][2] = { { "v1", "v2" }, { "v2", "v1" },
					      { "v2", "v2" } };
	static const enum pt_format_id fmts[4] = { PT_FMT_ARM_S2, PT_FMT_VTD_SS,
						   PT_FMT_AMD_V1, PT_FMT_RISCV };
	static const struct lu_strategy *const strat[2] = { &lu_strategy_verify, &lu_strategy_rebuild };
	for (unsigned int f = 0; f < 4; f++)
		for (unsigned int t = 0; t < 3; t++)
			for (unsigned int s = 0; s < 2; s++)
				for (unsigned int bbm = 0; bbm <= 2; bbm += 2) {
					if (!pt_fmt_bbm_levels(fmts[f]) && bbm)
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

/*
 * On AMD v1 and RISC-V a naive rebuild changes page sizes (v2 builds
 * replicated pages, v1 does not: test_cli's check of their dumps shows
 * the granule ranges) and is still hitless: neither IOMMU has a BBM
 * level, and a size-only change is safe on both (docs/hw.md), so no
 * reconcile is needed either.
 */
static void test_naive_replicated_formats(void **state)
{
	(void)state;
	static const enum pt_format_id fmts[2] = { PT_FMT_AMD_V1, PT_FMT_RISCV };
	for (unsigned int f = 0; f < 2; f++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, fmts[f], "v2", "v1", &lu_strategy_rebuild, 0);
		sc.naive = true;
		run(&sc, &r);
		assert_hitless(&r, 1);
		assert_int_equal(r.upd[0].splits + r.upd[0].joins, 0);
		world_result_free(&r);
	}
}

/* AMD v1's six levels (the full 64-bit IOVA space) through a handover:
 * the width travels in the handover and the configuration entry. */
static void test_amd_full_width(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_AMD_V1, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.va_bits = 64;
	sc.guest_mem = 256ull << 20;
	run(&sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);
}

/* ARM stage 2 with a concatenated start level (40-bit IPA: two tables)
 * through every strategy: the top's pages are preserved, reserved and
 * adopted one by one, and a rebuilt table is concatenated the same way. */
static void test_arm_s2_concatenated(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[4] = {
		&lu_strategy_deserialize, &lu_strategy_verify,
		&lu_strategy_rebuild, &lu_strategy_stop_the_world,
	};
	for (unsigned int s = 0; s < 4; s++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", strat[s], 0);
		sc.va_bits = 40;
		run(&sc, &r);
		assert_hitless(&r, 1);
		world_result_free(&r);
	}
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
		/* It arrived during recovery and waited for its end: the map's
		 * own record, not a guess from timings. */
		assert_true(r.upd[0].hotplug_waited);
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
	/* The log is a ring: on a loaded machine the events after the
	 * pause (syncs, DMA marks) can push it out. Then every event kept
	 * came after it, and the window must be full. */
	if (last == r->nr_events) {
		assert_int_equal(r->nr_events, HW_LOG_ENTRIES);
		last = 0;
	}
	unsigned int n = 0;
	for (size_t i = last; i < r->nr_events; i++)
		n += r->events[i].type == HW_EVT_GUEST_RESUMED;
	return n;
}

/*
 * An ioas the next kernel could not restore (a memfd the handover does
 * not hold, an area past its memfd), or a hwpt whose 'ioas' names none,
 * is refused at boot with the whole
 * handover: exit 2 with the object and the field named, the guest never
 * resumed on state that would not come back, and the devices translating
 * through the preserved table throughout (no fault, nothing misdirected).
 */
static void test_bad_ioas_refused_at_boot(void **state)
{
	(void)state;
	static const char *const damage[3][3] = {
		{ "ioas-memfd", "refused: iommufd object vm0/ioas-",
		  "'memfds' names 'Guest-ram'" },
		{ "ioas-range", "refused: iommufd object vm0/ioas-",
		  "beyond memfd 'guest-ram'" },
		{ "hwpt-ioas", "refused: iommufd: hwpt ", "names no ioas" },
	};
	for (unsigned int d = 0; d < 3; d++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
		sc.inject = damage[d][0];
		run(&sc, &r);
		assert_int_equal(r.kernel_status, LU_EXIT_INPUT);
		assert_int_equal(r.nr_upd, 1);
		assert_false(r.upd[0].ok);
		assert_non_null(strstr(r.upd[0].error, damage[d][1]));
		assert_non_null(strstr(r.upd[0].error, damage[d][2]));
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
	assert_true(r.upd[0].hotplug_waited && r.upd[1].hotplug_waited);
	world_result_free(&r);
}

/*
 * Sixteen devices, each with its own slice of the DMA window. A device
 * enabled before its slice is published writes into another's for a
 * moment (lost writes in about one start in twenty before devices came
 * out of reset disabled); a few starts in a row give it the chance.
 */
static void test_many_devices(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	for (int i = 0; i < 6; i++) {
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
		sc.devices = HW_MAX_DEVS;
		sc.guest_mem = 512ull << 20;
		sc.engines = 1;
		sc.run_ms = 20;
		sc.seed = (uint64_t)i + 1;
		run(&sc, &r);
		assert_hitless(&r, 1);
		assert_int_equal(r.dma.lost_writes, 0);
		world_result_free(&r);
	}
}

/*
 * Degraded mode keeps re-pinning out of the blackout; stop-the-world
 * pays it inside. Work that scales with the guest (pinning every page)
 * is timed per phase; the blackout must contain it only for
 * stop-the-world. Only what holds by construction is asserted (phases
 * inside the blackout); the growth with size is measured by bench_lu.
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
	/* How much they grow is a timing question for bench_lu (make bench),
	 * not for a test that must pass on a loaded machine. */
	printf("  stop-the-world: re-pin %llu -> %llu us, blackout %llu -> %llu us\n",
	       (unsigned long long)repin[0], (unsigned long long)repin[1],
	       (unsigned long long)blackout[0], (unsigned long long)blackout[1]);

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

/* DMA ops seen while the devices were stopped, from the runner's ticks. */
struct pause_watch {
	unsigned int devices;
	unsigned int paused_samples;  /* guest paused and devices stopped */
	unsigned int stopped_running; /* devices stopped, guest running */
	unsigned int pending;         /* such samples not yet followed by DMA */
	bool seen_enabled, in_pause;
	uint64_t first, last, during;
};

static uint64_t ops_sum(const struct hw_regs *regs, unsigned int devices)
{
	uint64_t n = 0;
	for (unsigned int d = 0; d < devices; d++)
		n += atomic_load(&regs->dev_stats[d].ops);
	return n;
}

/*
 * A sample counts as stopped when the guest is paused and every device
 * is disabled: the kernel pauses the guest, then disables the devices,
 * and enables them again before resuming it, so the two flags change at
 * slightly different times (more so on a loaded machine) and only their
 * conjunction is the stop the strategy promises.
 */
static void watch_tick(void *arg, const struct world_tick *t)
{
	struct pause_watch *w = arg;
	bool paused = atomic_load(&t->regs->guest_paused);
	bool stopped = true;
	for (unsigned int d = 0; d < w->devices; d++)
		stopped &= !atomic_load(&t->regs->dev_ctl[d].enabled);
	/* Devices start disabled and are disabled at the end: only a stop
	 * between two samples of running devices is one the kernel made. */
	if (!stopped) {
		w->stopped_running += w->pending;
		w->pending = 0;
		w->seen_enabled = true;
	} else if (!paused && w->seen_enabled) {
		w->pending++;
	}
	stopped &= paused;
	uint64_t ops = ops_sum(t->regs, w->devices);
	if (stopped) {
		if (!w->in_pause)
			w->first = ops;
		w->last = ops;
		w->paused_samples++;
	} else if (w->in_pause) {
		w->during += w->last - w->first;
	}
	w->in_pause = stopped;
}

/*
 * Stop-the-world must really stop the devices: between two samples
 * taken while they are stopped, no DMA completes (an engine may finish
 * the op it was in when stopped; each pauses after 64 ops at the latest,
 * so the bound below is far under what running devices do between
 * samples), and they are stopped only while the guest is paused.
 * v2 -> v1 at BBM level 0 changes the layout under the devices: running,
 * they would see the switch as conflicts. The guest is all 4 KiB folios,
 * so that the re-pin and build inside the pause (O(folios) and O(table
 * pages)) last long enough to sample.
 */
static void test_stop_the_world_stops_dma(void **state)
{
	(void)state;
	static const uint64_t sizes[] = { 1ull << 30, 4ull << 30, 16ull << 30 };
	struct world_scenario sc;
	struct world_result r;
	struct pause_watch w = { 0 };
	for (unsigned int i = 0; i < 3 && w.paused_samples < 3; i++) {
		w = (struct pause_watch){ .devices = 2 };
		scenario(&sc, PT_FMT_ARM_S2, "v2", "v1", &lu_strategy_stop_the_world, 0);
		sc.guest_mem = sizes[i];
		sc.mix.ppm_1g = 0;
		sc.mix.ppm_4k = 1000000;
		sc.tick = watch_tick;
		sc.tick_arg = &w;
		/* Samples every poll: even a short blackout gets several. */
		sc.tick_ms = 1;
		run(&sc, &r);
		assert_hitless(&r, 1);
		world_result_free(&r);
		printf("  stop-the-world %llu GiB: %u samples stopped, %llu ops "
		       "between them\n", (unsigned long long)(sizes[i] >> 30),
		       w.paused_samples, (unsigned long long)w.during);
		assert_int_equal(w.stopped_running, 0);
	}
	/* Fewer samples than that: the stop was too short to judge. */
	assert_true(w.paused_samples >= 3);
	assert_true(w.during <= 2 * HW_MAX_ENGINES * 64);
}

/* A chain of the four strategies, one update each: hitless. */
static void every_strategy(struct world_scenario *sc, struct world_result *r)
{
	sc->updates = 4;
	sc->run_ms = 40;
	sc->strategies = "rebuild,verify,stop-the-world,deserialize";
	run(sc, r);
	assert_hitless(r, 4);
}

/* The same scenario once more on VT-d, one update of its strategy. */
static void once_on_vtd(struct world_scenario *sc)
{
	struct world_result r;
	sc->fmt = PT_FMT_VTD_SS;
	sc->updates = 1;
	sc->strategies = NULL;
	run(sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);
}

/*
 * ATS devices through every strategy, in a chain (the ATS flag must
 * survive each handover: a kernel that forgot it would switch and free
 * the old table under a warm ATC): hitless, every ATC working, and
 * invalidated where a table was switched (rebuild, stop-the-world).
 * One device without ATS beside them.
 */
static void test_ats_every_strategy(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.devices = 3;
	sc.ats = 2;
	every_strategy(&sc, &r);
	/* Every new kernel learnt both from its handover. */
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(r.upd[i].ats_devices, 2);
	for (unsigned int d = 0; d < 3; d++) {
		const struct world_dma_totals *t = &r.dev[d];
		assert_int_equal(t->stale_atc, 0);
		if (d < 2) {
			assert_true(t->atc_hits > t->atc_misses);
			/* Rebuild and stop-the-world switched tables. */
			assert_true(t->atc_invalidations >= 2);
		} else {
			assert_int_equal(t->atc_hits + t->atc_misses +
					 t->atc_invalidations, 0);
		}
	}
	world_result_free(&r);

	once_on_vtd(&sc);
}

/*
 * The naive kernel forgets the ATCs: the rebuild switches every device
 * to its new table and frees the old one while the devices' ATCs still
 * hold its translations. The machine counts the stale entries though
 * not one DMA faulted (the tables translate alike). Stop-the-world
 * likewise; deserialize keeps the old table, so nothing goes stale.
 */
static void test_ats_naive_caught(void **state)
{
	(void)state;
	static const struct lu_strategy *const caught[2] = {
		&lu_strategy_rebuild, &lu_strategy_stop_the_world };
	struct world_scenario sc;
	struct world_result r;
	for (unsigned int i = 0; i < 2; i++) {
		scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", caught[i], 0);
		sc.ats = sc.devices;
		sc.naive_ats = true;
		run(&sc, &r);
		assert_false(r.hitless);
		assert_true(r.dma.stale_atc > 0);
		assert_int_equal(r.dma.faults, 0);
		world_result_free(&r);
	}
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_deserialize, 0);
	sc.ats = sc.devices;
	sc.naive_ats = true;
	run(&sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);
}


/* ---- nesting: the guest's stage 1 over the host's stage 2 ---------------- */

/* A vIOMMU guest of 256 MiB, v1 -> v2. */
static void nested(struct world_scenario *sc, const struct lu_strategy *s)
{
	scenario(sc, PT_FMT_ARM_S2, "v1", "v2", s, 0);
	sc->guest_mem = 256ull << 20;
	sc->nested = true;
}

/*
 * A vIOMMU guest: every device translates nested, the guest's ARM stage
 * 1 (in its RAM, IOVA -> IPA) over the host's ARM stage 2 (IPA -> PA),
 * through a chain of every strategy. Only stage 2 is preserved and
 * replayed; each new kernel finds the guest's stage-1 region byte for
 * byte as the guest wrote it, and the nested configuration (root, DID)
 * carried over. DMA runs throughout, every counter zero.
 */
static void test_nested_every_strategy(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	nested(&sc, &lu_strategy_rebuild);
	every_strategy(&sc, &r);
	for (unsigned int i = 0; i < 4; i++) {
		assert_true(r.upd[i].nested);
		assert_int_equal(r.upd[i].s1_bytes_checked, 2ull << 20);
	}
	for (unsigned int d = 0; d < sc.devices; d++)
		assert_true(r.dev[d].ops > 0);
	world_result_free(&r);
	/* One device of another (unnested) VM dropped beside them. */
	nested(&sc, &lu_strategy_rebuild);
	sc.devices = 3;
	sc.preserve = 2;
	run(&sc, &r);
	assert_hitless(&r, 1);
	assert_int_equal(r.upd[0].s1_bytes_checked, 2ull << 20);
	world_result_free(&r);
}

/*
 * Several IOMMU units: 8 devices behind 4 units (device d behind d % 4),
 * through a chain of every strategy, with ATS on the first two: each
 * unit's devices switched on their
 * unit, every unit invalidated, the handover naming every unit's stream
 * table each time. DMA on every device throughout, every counter zero,
 * every unit busy. With ATS, a unit's ATC_INV goes to its own queue.
 */
static void test_units_every_strategy(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = 256ull << 20;
	sc.devices = 8;
	sc.iommus = 4;
	sc.ats = 2;
	every_strategy(&sc, &r);
	assert_int_equal(r.nr_units, 4);
	for (unsigned int d = 0; d < sc.devices; d++) {
		assert_true(r.dev[d].ops > 0);
		assert_int_equal(r.dev_unit[d], d % 4);
	}
	for (unsigned int u = 0; u < 4; u++) {
		assert_true(r.unit[u].syncs > 0);
		assert_true(r.unit[u].iotlb_hits > 0);
	}
	assert_true(r.dev[0].atc_invalidations > 0);
	assert_true(r.dev[1].atc_invalidations > 0);
	world_result_free(&r);
}

/*
 * The naive kernels: (a) a rebuild that replaces the stage 2 without
 * invalidating the combined entries by VMID frees the old stage 2 under
 * them (the machine's use_after_free); deserialize replaces nothing and
 * stays hitless. (b) A kernel that replays stage 1 as its own rewrites
 * the guest's table: the byte comparison refuses the update, whatever
 * the strategy.
 */
static void test_nested_naive_caught(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	nested(&sc, &lu_strategy_rebuild);
	sc.naive_nested = true;
	run(&sc, &r);
	assert_false(r.hitless);
	assert_true(r.dma.use_after_free > 0);
	world_result_free(&r);
	sc.strategy = &lu_strategy_deserialize;
	run(&sc, &r);
	assert_hitless(&r, 1);
	world_result_free(&r);

	static const struct lu_strategy *const all[2] = {
		&lu_strategy_deserialize, &lu_strategy_rebuild };
	for (unsigned int i = 0; i < 2; i++) {
		nested(&sc, all[i]);
		sc.naive_s1 = true;
		run(&sc, &r);
		assert_false(r.hitless);
		assert_false(r.upd[0].ok);
		assert_non_null(strstr(r.upd[0].error, "stage-1 table"));
		world_result_free(&r);
	}
}

/* What cannot nest is refused before anything runs. */
static void test_nested_refused(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_VTD_SS, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.nested = true;
	assert_non_null(world_nested_refusal(&sc));
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.naive_s1 = true;
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.nested = true;
	sc.ats = 1;
	assert_int_equal(world_run(&sc, &r), -EINVAL);
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
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.preserve = sc.devices + 1;
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.ats = sc.devices + 1;
	assert_int_equal(world_run(&sc, &r), -EINVAL);
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.naive_ats = true; /* no ATS device to be naive about */
	assert_int_equal(world_run(&sc, &r), -EINVAL);
}

/* ---- partial preservation, PASIDs ---------------------------------------- */

static void partial(struct world_scenario *sc, const struct lu_strategy *s)
{
	scenario(sc, PT_FMT_ARM_S2, "v1", "v2", s, 0);
	sc->guest_mem = 256ull << 20;
	sc->devices = 4;
	sc->preserve = 2;
	sc->run_ms = 40;
}

/*
 * --devices 4 --preserve 2 with every strategy: the two devices whose VM
 * does not survive are stopped and put in abort before the exec, the two
 * others keep translating; every counter of every device stays zero
 * (the stopped ones did DMA before, none into their abort), each new
 * kernel reports the two in abort and the two on preserved tables, and
 * reserved the preserved domain ID. Rebuild runs two updates: the second
 * new kernel still finds the dropped streams in abort and leaves them.
 */
static void test_partial_preservation(void **state)
{
	(void)state;
	const struct lu_strategy *const strat[] = {
		&lu_strategy_rebuild, &lu_strategy_verify, &lu_strategy_deserialize,
		&lu_strategy_stop_the_world,
	};
	for (unsigned int s = 0; s < sizeof(strat) / sizeof(strat[0]); s++) {
		struct world_scenario sc;
		struct world_result r;
		partial(&sc, strat[s]);
		if (strat[s] == &lu_strategy_rebuild) {
			sc.updates = 2;
			sc.to = "v2,v1";
		}
		run(&sc, &r);
		assert_hitless(&r, sc.updates);
		/* Stopped for good: no kernel re-enabled their DMA. */
		assert_int_equal(r.dma_enabled, 0x3);
		for (unsigned int u = 0; u < r.nr_upd; u++) {
			assert_int_equal(r.upd[u].preserved_devices, 0x3);
			assert_int_equal(r.upd[u].aborted_devices, 0xc);
			assert_true(r.upd[u].reserved_ids >= 1);
		}
		for (unsigned int d = 0; d < 4; d++) {
			assert_true(r.dev[d].ops > 0);
			assert_int_equal(r.dev[d].faults + r.dev[d].misdirected +
					 r.dev[d].lost_writes + r.dev[d].conflicts +
					 r.dev[d].use_after_free, 0);
		}
		world_result_free(&r);
	}
}

/* The naive variant: the unpreserved devices' DMA is left running into
 * their abort; the machine counts it, on those devices only. */
static void test_partial_naive_counted(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	partial(&sc, &lu_strategy_rebuild);
	sc.inject = "unpreserved-running";
	run(&sc, &r);
	assert_false(r.hitless);
	assert_int_equal(r.nr_upd, 1);
	assert_int_equal(r.upd[0].aborted_devices, 0xc);
	for (unsigned int d = 0; d < 4; d++) {
		if (d >= 2)
			assert_true(r.dev[d].faults > 0);
		else
			assert_int_equal(r.dev[d].faults, 0);
		assert_int_equal(r.dev[d].misdirected + r.dev[d].lost_writes +
				 r.dev[d].use_after_free, 0);
	}
	world_result_free(&r);
}

/*
 * --pasids N: the outgoing kernel refuses the update with EOPNOTSUPP
 * naming device 0, before anything changed: no update happens, no DMA
 * error of any kind, exit 1 (refused).
 */
static void test_pasids_refused(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = 256ull << 20;
	sc.pasids = 4;
	sc.run_ms = 40;
	run(&sc, &r);
	assert_int_equal(r.kernel_status, LU_EXIT_NOT_HITLESS);
	assert_int_equal(r.nr_upd, 0);
	assert_non_null(strstr(r.kernel_error, "EOPNOTSUPP"));
	assert_non_null(strstr(r.kernel_error, "device 0 has 4 PASIDs"));
	assert_non_null(strstr(r.kernel_error, "not attempted"));
	assert_true(r.dma.ops > 0);
	assert_int_equal(r.dma.faults + r.dma.misdirected + r.dma.lost_writes +
			 r.dma.conflicts + r.dma.use_after_free, 0);
	assert_false(r.hitless);
	world_result_free(&r);
}

/*
 * PASIDs preserved and replayed: device 0 DMAs on 3 PASIDs, each its own
 * table; every strategy carries them (rebuild and stop-the-world switch
 * each PASID's CD to a new table, verify and deserialize adopt them) and
 * the run is hitless.
 */
static void test_pasids_every_strategy(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = 256ull << 20;
	sc.pasids = 3;
	sc.replay_pasids = true;
	every_strategy(&sc, &r);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(r.upd[i].pasids[0], 3);
		assert_int_equal(r.upd[i].pasids[1], 0);
	}
	world_result_free(&r);

	once_on_vtd(&sc);
}

/* The naive kernel switches each PASID's CD without CFGI_CD and frees
 * the old table: the IOMMU keeps walking it. */
static void test_pasids_naive_caught(void **state)
{
	(void)state;
	struct world_scenario sc;
	struct world_result r;
	scenario(&sc, PT_FMT_ARM_S2, "v1", "v2", &lu_strategy_rebuild, 0);
	sc.guest_mem = 256ull << 20;
	sc.pasids = 2;
	sc.replay_pasids = true;
	sc.naive_pasids = true;
	sc.run_ms = 40;
	run(&sc, &r);
	assert_false(r.hitless);
	assert_true(r.dev[0].use_after_free > 0);
	assert_int_equal(r.dev[1].use_after_free, 0);
	world_result_free(&r);
}

int main(void)
{
	if (test_kernel_path(kernel_path, sizeof(kernel_path)))
		return 1;
	/* TEST_FILTER=test_partial* runs only the tests it matches. */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_scenarios),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_rollback_reconciles),
		cmocka_unit_test(test_naive),
		cmocka_unit_test(test_naive_replicated_formats),
		cmocka_unit_test(test_amd_full_width),
		cmocka_unit_test(test_arm_s2_concatenated),
		cmocka_unit_test(test_hotplug),
		cmocka_unit_test(test_deserialize),
		cmocka_unit_test(test_mismatch_refused),
		cmocka_unit_test(test_hostile_tables),
		cmocka_unit_test(test_bad_ioas_refused_at_boot),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_many_devices),
		cmocka_unit_test(test_blackout_vs_size),
		cmocka_unit_test(test_stop_the_world_stops_dma),
		cmocka_unit_test(test_partial_preservation),
		cmocka_unit_test(test_partial_naive_counted),
		cmocka_unit_test(test_pasids_refused),
		cmocka_unit_test(test_pasids_every_strategy),
		cmocka_unit_test(test_pasids_naive_caught),
		cmocka_unit_test(test_ats_every_strategy),
		cmocka_unit_test(test_ats_naive_caught),
		cmocka_unit_test(test_nested_every_strategy),
		cmocka_unit_test(test_units_every_strategy),
		cmocka_unit_test(test_nested_naive_caught),
		cmocka_unit_test(test_nested_refused),
	};
	return cmocka_run_group_tests_name("lu", tests, NULL, NULL);
}
