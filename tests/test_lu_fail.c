// SPDX-License-Identifier: MIT
/*
 * Every step of a live update that can fail, failed on purpose, one at a
 * time: the kernel's command line option fail-at (lu/cmdline.h) arms
 * ioh_fail in the outgoing kernel (update:SITE:N) or in the incoming one
 * (boot:SITE:N), and the N-th allocation or driver call from there on
 * fails as it would for real. For N = 1, 2, ... until a run in which the
 * injection no longer fires (the update then succeeds), each run must end
 * in a clear error (the kernel's exit status and message) and leave the
 * VM as it was: every DMA translated as mapped, nothing misdirected, lost
 * or used after free, no fault, whatever failed. Small guests, short runs:
 * the point is the count of steps, not their size.
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
#include <cmocka.h>

#include "world/world.h"
#include "tests/lib/kernel_path.h"

static char kernel_path[PATH_MAX];

/* Enough for every step of one update; a walk that gets here is a bug. */
#define MAX_STEPS 400

static void scenario(struct world_scenario *sc, const struct lu_strategy *s)
{
	world_scenario_default(sc);
	sc->kernel_path = kernel_path;
	sc->guest_mem = 256ull << 20;
	sc->fmt = PT_FMT_ARM_S2;
	sc->from = "v1";
	sc->to = "v2";
	sc->strategy = s;
	sc->run_ms = 10;
}

static void assert_dma_clean(const struct world_result *r, const char *spec)
{
	if (r->dma.faults || r->dma.conflicts || r->dma.misdirected ||
	    r->dma.lost_writes || r->dma.bbm_violations ||
	    r->dma.use_after_free || r->dma.torn_config || r->dma.stale_atc)
		fail_msg("%s: DMA errors: faults %llu conflicts %llu misdirected "
			 "%llu lost %llu bbm %llu uaf %llu torn %llu", spec,
			 (unsigned long long)r->dma.faults,
			 (unsigned long long)r->dma.conflicts,
			 (unsigned long long)r->dma.misdirected,
			 (unsigned long long)r->dma.lost_writes,
			 (unsigned long long)r->dma.bbm_violations,
			 (unsigned long long)r->dma.use_after_free,
			 (unsigned long long)r->dma.torn_config);
	assert_true(r->dma.ops > 0);
}

/* The guest was paused and not resumed since. */
static bool left_paused(const struct world_result *r)
{
	bool paused = false;
	for (size_t i = 0; i < r->nr_events; i++) {
		if (r->events[i].type == HW_EVT_GUEST_PAUSED)
			paused = true;
		else if (r->events[i].type == HW_EVT_GUEST_RESUMED)
			paused = false;
	}
	return paused;
}

/*
 * Walk phase ("fresh", "update", "boot" or "recover") of an update with
 * strategy s (for recover: a kernel killed at crash point crash, then
 * the recovery kernel fails); returns the number of steps that failed
 * cleanly.
 */
static unsigned int walk(const struct lu_strategy *s, const char *phase,
			 const char *crash, uint64_t guest_mem)
{
	char spec[64];
	unsigned int absorbed = 0;
	const bool recover = !strcmp(phase, "recover");
	for (unsigned int n = 1; n <= MAX_STEPS; n++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, s);
		if (guest_mem)
			sc.guest_mem = guest_mem;
		snprintf(spec, sizeof(spec), "%s::%u", phase, n);
		sc.fail_at = spec;
		sc.crash_at = crash;
		assert_int_equal(world_run(&sc, &r), 0);
		/* A fresh kernel that failed may have had no VM to run yet. */
		if (r.dma.ops || strcmp(phase, "fresh"))
			assert_dma_clean(&r, spec);
		int status = recover ? r.recovery_status : r.kernel_status;
		if (recover)
			assert_true(r.crashed);
		if (status == 0) {
			if (!recover) {
				assert_int_equal(r.nr_upd, 1);
				assert_true(r.upd[0].ok);
			}
			world_result_free(&r);
			/* A failure the kernel absorbs (a destroy whose sync
			 * failed keeps the pages): the update still succeeds. */
			if (r.injected[0]) {
				absorbed++;
				continue;
			}
			/* Nothing left to fail: the update went through. */
			printf("  %s %s: %u steps failed cleanly, %u of them "
			       "absorbed\n", s->name, phase, n - 1, absorbed);
			return n - 1;
		}
		/* A clear error: an exit status of the kernel's own and words. */
		if (status < LU_EXIT_NOT_HITLESS || status > LU_EXIT_INTERNAL ||
		    (!recover && r.crashed))
			fail_msg("%s: kernel status %d%s", spec, status,
				 r.crashed ? " (crashed)" : "");
		const char *why = recover ? r.recovery_error :
			r.nr_upd ? r.upd[r.nr_upd - 1].error : r.kernel_error;
		if (!why[0] && r.kernel_error[0])
			why = r.kernel_error;
		if (!why[0])
			fail_msg("%s: failed (status %d) without a message", spec,
				 status);
		/* An update that failed before the exec lets the VM run on. */
		if (!strcmp(phase, "update") && left_paused(&r))
			fail_msg("%s (%s): the guest stays paused", spec, why);
		world_result_free(&r);
	}
	fail_msg("%s %s: more than %u steps", s->name, phase, MAX_STEPS);
	return 0;
}

static void test_boot_steps(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[] = {
		&lu_strategy_rebuild, &lu_strategy_verify,
		&lu_strategy_deserialize, &lu_strategy_stop_the_world,
	};
	for (size_t i = 0; i < sizeof(strat) / sizeof(strat[0]); i++)
		assert_true(walk(strat[i], "boot", NULL, 0) > 0);
}

/* The first kernel's fresh boot: the VM's memory (16 MiB: each of its
 * folios is an allocation that can fail), IOAS, HWPT, devices. */
static void test_fresh_boot_steps(void **state)
{
	(void)state;
	assert_true(walk(&lu_strategy_rebuild, "fresh", NULL, 16ull << 20) > 0);
}

/* A recovery kernel after a crash mid-rebuild (the journal's two tables)
 * and after a crash before replay (the preserved table only). */
static void test_recovery_steps(void **state)
{
	(void)state;
	assert_true(walk(&lu_strategy_rebuild, "recover", "switch", 0) > 0);
	assert_true(walk(&lu_strategy_rebuild, "recover", "exec", 0) > 0);
}

/* A fail-at the kernel cannot read is refused, naming the option. */
static void test_bad_fail_at(void **state)
{
	(void)state;
	static const char *const bad[] = { "fresh:kho.alloc", "fresh::0",
					   "update:x:", "later:kho.alloc:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, &lu_strategy_rebuild);
		sc.fail_at = bad[i];
		assert_int_equal(world_run(&sc, &r), 0);
		assert_int_equal(r.kernel_status, LU_EXIT_INPUT);
		assert_non_null(strstr(r.kernel_error, "--fail-at: bad"));
		world_result_free(&r);
	}
}

static void test_update_steps(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[] = {
		&lu_strategy_rebuild, &lu_strategy_stop_the_world,
	};
	for (size_t i = 0; i < sizeof(strat) / sizeof(strat[0]); i++)
		assert_true(walk(strat[i], "update", NULL, 0) > 0);
}

int main(void)
{
	if (test_kernel_path(kernel_path, sizeof(kernel_path)))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_steps),
		cmocka_unit_test(test_boot_steps),
		cmocka_unit_test(test_fresh_boot_steps),
		cmocka_unit_test(test_recovery_steps),
		cmocka_unit_test(test_bad_fail_at),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
