// SPDX-License-Identifier: MIT
/*
 * kernel: one host kernel generation from start to exec. Attach to the
 * machine (RAM, registers), boot (fresh, from a handover, or as a
 * recovery kernel after a crash), report, run the VM for a while, and
 * hand over to the next generation if there is one.
 */
#include "lu/gen.h"

#include <errno.h>
#include <string.h>

#include "ioh/ioh.h"

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
		/* From the guest's pause (freeze begins) to this kernel's start. */
		g->phase_ns[LU_PH_FREEZE_TO_EXEC] = t_start - cfg->t_pause_ns;
		g->commit_ns = cfg->t_freeze_ns - cfg->t_pause_ns;
	}
	g->profile = iommufd_profile_find(cfg->profile);
	if (!g->profile)
		return lu_gen_fail(g, LU_EXIT_INPUT, "unknown profile '%s' (known: %s)",
				   cfg->profile, iommufd_profile_names());
	int err = iommufd_kho_register();
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "kho: %s", strerror(-err));
	err = physmem_attach(&g->pm, cfg->physmem_fd);
	if (!err)
		err = hw_region_attach(&g->region, cfg->region_fd);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INPUT, "machine: %s", strerror(-err));

	int rc = cfg->recover ? lu_boot_recovery(g) :
		 cfg->handover.set ? lu_boot_handover(g) : lu_boot_fresh(g);
	if (cfg->save_dir)
		snprintf(g->k.save_dir, sizeof(g->k.save_dir), "%s", cfg->save_dir);
	lu_report(g, cfg->recover ? "recovery" : cfg->handover.set ? "update" : "boot",
		  rc == 0);
	if (rc)
		return rc;
	ioh_sleep_ms(cfg->run_ms);
	if (cfg->recover || !cfg->next || !cfg->next[0])
		return LU_EXIT_OK;
	return lu_live_update(g);
}
