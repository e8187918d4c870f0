// SPDX-License-Identifier: MIT
/*
 * kernel: one host kernel generation from start to exec. Attach to the
 * machine (RAM, registers), boot (fresh, from a handover, or as a
 * recovery kernel after a crash), report, run the VM for a while (and
 * until every device has done DMA), and hand over to the next generation
 * if there is one.
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ioh/ioh.h"

#define DMA_WAIT_MAX_NS (30 * 1000000000ull)

/*
 * The VM runs for run_ms, and until every device has done DMA since the
 * kernel booted: on a loaded machine the engines may get no CPU for a
 * while, and an update (or the end) must not come before any DMA did.
 */
static void run_vm(struct lu_gen *g)
{
	const struct hw_regs *regs = g->region.regs;
	unsigned int n = g->cfg->devices < HW_MAX_DEVS ? g->cfg->devices : HW_MAX_DEVS;
	uint64_t before[HW_MAX_DEVS];
	for (unsigned int d = 0; d < n; d++)
		before[d] = atomic_load(&regs->dev_stats[d].ops);
	ioh_sleep_ms(g->cfg->run_ms);
	uint64_t deadline = ioh_now_ns() + DMA_WAIT_MAX_NS;
	for (unsigned int d = 0; d < n; d++)
		/* A device put in abort (not preserved) is stopped for good. */
		while (g->ictx.dev[d].hwpt &&
		       atomic_load(&regs->dev_stats[d].ops) == before[d]) {
			if (ioh_now_ns() > deadline) {
				lu_log("device %u did no DMA in %llu s", d,
				       DMA_WAIT_MAX_NS / 1000000000ull);
				return;
			}
			ioh_sleep_ms(1);
		}
}

/* PHASE:SITE:N as lu/cmdline.h's fail-at says. */
static bool fail_at_valid(const char *spec)
{
	static const char *const phases[] = { "fresh:", "update:", "boot:",
					      "recover:" };
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		size_t n = strlen(phases[i]);
		if (strncmp(spec, phases[i], n))
			continue;
		/* Parsed by arming, then disarmed again. */
		bool ok = !ioh_fail_arm_spec(spec + n);
		ioh_fail_arm(NULL, 0);
		return ok;
	}
	return false;
}

int lu_kernel_main(const struct lu_gen_cfg *cfg)
{
	static struct lu_gen gs;
	struct lu_gen *g = &gs;
	uint64_t t_start = ioh_now_ns();
	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	g->from = cfg->from_profile ? cfg->from_profile : "";
	if (cfg->handover.set) {
		g->phase_ns[LU_PH_PRESERVE] = cfg->preserve_ns;
		g->phase_ns[LU_PH_UNMAP] = cfg->unmap_ns;
		/* From the guest's pause (freeze begins) to this kernel's start. */
		g->phase_ns[LU_PH_FREEZE_TO_EXEC] = t_start - cfg->t_pause_ns;
		g->commit_ns = cfg->t_freeze_ns - cfg->t_pause_ns;
	}
	g->profile = iommufd_profile_find(cfg->profile);
	if (!g->profile)
		return lu_gen_fail(g, LU_EXIT_INPUT, "unknown profile '%s' (known: %s)",
				   cfg->profile, iommufd_profile_names());
	int err = iommufd_kho_register();
	kho_blob_check_set(lu_handover_check);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "kho: %s", strerror(-err));
	err = physmem_attach(&g->pm, cfg->physmem_fd);
	if (!err)
		err = hw_region_attach(&g->region, cfg->region_fd);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INPUT, "machine: %s", strerror(-err));
	if (cfg->probe) {
		/* The floor a blackout is compared with (bench_scale). */
		dprintf(cfg->report_fd, "{\"probe\":true,\"exec_us\":%" PRIu64 "}\n",
			(t_start - cfg->t_pause_ns) / 1000);
		return LU_EXIT_OK;
	}

	/* A failure injected at boot (lu/cmdline.h fail-at). */
	const char *phase = cfg->recover ? "recover:" : cfg->handover.set ?
			    "boot:" : "fresh:";
	if (cfg->fail_at && !fail_at_valid(cfg->fail_at)) {
		int rc = lu_gen_fail(g, LU_EXIT_INPUT, "--fail-at: bad '%s' (PHASE:"
				     "SITE:N, PHASE fresh, update, boot or "
				     "recover, N from 1)", cfg->fail_at);
		lu_report(g, "boot", false);
		return rc;
	}
	if (cfg->fail_at && !strncmp(cfg->fail_at, phase, strlen(phase)))
		ioh_fail_arm_spec(cfg->fail_at + strlen(phase));
	int rc = cfg->recover ? lu_boot_recovery(g) :
		 cfg->handover.set ? lu_boot_handover(g) : lu_boot_fresh(g);
	if (cfg->save_dir)
		snprintf(g->k.save_dir, sizeof(g->k.save_dir), "%s", cfg->save_dir);
	lu_report(g, cfg->recover ? "recovery" : cfg->handover.set ? "update" : "boot",
		  rc == 0);
	if (rc)
		return rc;
	run_vm(g);
	if (cfg->recover || !cfg->next || !cfg->next[0])
		return LU_EXIT_OK;
	if (cfg->fail_at && !cfg->handover.set && !strncmp(cfg->fail_at, "update:", 7))
		ioh_fail_arm_spec(cfg->fail_at + 7);
	/* Returns only when the update failed: say why, the VM runs on. */
	rc = lu_live_update(g);
	lu_report(g, "outgoing", false);
	return rc;
}
