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
	    r->dma.use_after_free || r->dma.torn_config)
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
 * Walk phase ("boot" or "update") of an update with strategy s; returns
 * the number of steps that failed cleanly.
 */
static unsigned int walk(const struct lu_strategy *s, const char *phase)
{
	char spec[64];
	unsigned int absorbed = 0;
	for (unsigned int n = 1; n <= MAX_STEPS; n++) {
		struct world_scenario sc;
		struct world_result r;
		scenario(&sc, s);
		snprintf(spec, sizeof(spec), "%s::%u", phase, n);
		sc.fail_at = spec;
		assert_int_equal(world_run(&sc, &r), 0);
		assert_dma_clean(&r, spec);
		if (r.kernel_status == 0) {
			assert_int_equal(r.nr_upd, 1);
			assert_true(r.upd[0].ok);
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
		if (r.kernel_status < LU_EXIT_NOT_HITLESS ||
		    r.kernel_status > LU_EXIT_INTERNAL || r.crashed)
			fail_msg("%s: kernel status %d%s", spec, r.kernel_status,
				 r.crashed ? " (crashed)" : "");
		const char *why = r.nr_upd ? r.upd[r.nr_upd - 1].error :
			r.kernel_error;
		if (!why[0] && r.kernel_error[0])
			why = r.kernel_error;
		if (!why[0])
			fail_msg("%s: failed (status %d) without a message", spec,
				 r.kernel_status);
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
		assert_true(walk(strat[i], "boot") > 0);
}

static void test_update_steps(void **state)
{
	(void)state;
	static const struct lu_strategy *const strat[] = {
		&lu_strategy_rebuild, &lu_strategy_stop_the_world,
	};
	for (size_t i = 0; i < sizeof(strat) / sizeof(strat[0]); i++)
		assert_true(walk(strat[i], "update") > 0);
}

int main(void)
{
	if (test_kernel_path(kernel_path, sizeof(kernel_path)))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_steps),
		cmocka_unit_test(test_boot_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
