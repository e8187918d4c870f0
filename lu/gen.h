/* SPDX-License-Identifier: MIT */
/*
 * gen: what one host kernel generation holds, and the few helpers every
 * part of lu/ uses on it: the console, failure reporting (lu_gen_fail
 * keeps the first words of what went wrong for the report line), crash
 * points and the report lines that say where a handover was committed.
 * Internal to lu/.
 */
#ifndef IOH_LU_GEN_H
#define IOH_LU_GEN_H

#include "abi/region.h"
#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "lu/lu.h"

#define LU_VM_SESSION "vm0"
#define LU_UNIT_SESSION "iommu"
#define LU_RW_CACHE (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)

/* Everything one generation holds. */
struct lu_gen {
	const struct lu_gen_cfg *cfg;
	struct physmem pm;
	struct hw_region region;
	struct kho k;
	struct iommu_drv drv;
	struct iommufd_ctx ictx;
	struct iommu_unit unit;
	struct kho_memfd *guest;
	/* Every memfd the VM's IOAS uses: the guest's, then hotplugged ones. */
	struct kho_memfd *memfds[IOMMUFD_MAX_MEMFDS];
	unsigned int nr_memfds;
	struct iommufd_ioas *ioas;
	const struct iommufd_profile *profile;
	uint64_t restore_t0; /* a table's restore began (adopt counts as replay) */
	/* Several preserved tables (PASIDs): each rebuild frees its old
	 * table only once every table is switched (lu_free_deferred_old). */
	bool defer_old;
	struct iommufd_hwpt *old_hwpts[IOMMUFD_MAX_OBJS];
	unsigned int nr_old_hwpts;

	/* This generation's report. */
	uint64_t phase_ns[LU_NR_PHASES];
	uint64_t blackout_ns;
	uint64_t extra_table_pages;
	struct pt_reconcile_stats rec;
	uint64_t diff_granule_bytes; /* rebuild: at another page size before any reconcile */
	bool hotplug_done;
	bool hotplug_waited; /* its map found recovery running and waited */
	uint64_t hotplug_wait_ns;
	char error[256];
	const char *from;
	uint64_t commit_ns;  /* guest paused -> handover committed */
	/* Partial preservation: devices this generation runs on preserved
	 * (or fresh) tables, and those it found (or put) in abort. */
	uint32_t preserved_mask, aborted_mask;
	unsigned int reserved_ids; /* domain IDs reserved from the handover */
	/* Nested: the VMM's hash of the guest's stage-1 region (taken at the
	 * fresh boot, passed on), and the bytes this generation compared. */
	uint64_t s1_hash;
	uint64_t s1_bytes_checked;
	/* Recovery after a crash. */
	const char *recovery_mode;
	uint64_t leaked_bytes;
};

/* The kernel's console: stderr, one line per message. */
void lu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record and log why the generation fails; returns code (enum lu_exit). */
int lu_gen_fail(struct lu_gen *g, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* SIGKILL here if this is the crash point asked for (lu_crash_points). */
void lu_crash_point(struct lu_gen *g, const char *point);
/* A handover committed at pa, where a recovery kernel will look. */
void lu_report_handover(struct lu_gen *g, const char *kind, uint64_t pa);
/* The generation's report line (lu/report.c). */
void lu_report(struct lu_gen *g, const char *event, bool ok);

/* ---- boot (lu/boot.c) and recovery (lu/recover.c) ----------------------- */

int lu_boot_fresh(struct lu_gen *g);
int lu_boot_handover(struct lu_gen *g);
int lu_boot_recovery(struct lu_gen *g);

/* Every memfd of the VM's session; the guest's is the one so named. */
int lu_retrieve_memfds(struct lu_gen *g);
int lu_preserve_memfds(struct lu_gen *g, struct luo_session *vm);
/* Point the devices rec lists at h, checking each one's configuration
 * entry really runs the preserved table. */
int lu_attach_restored(struct lu_gen *g, struct iommufd_hwpt *h,
		       const struct iommufd_hwpt_rec *rec);
/* Release what the previous kernel preserved and nobody claimed. */
void lu_finish_incoming(struct lu_gen *g);

/* ---- shared by the strategies (lu/strategy.c) --------------------------- */

/* Re-pin the guest's memory (once), counted as replay. */
int lu_replay(struct lu_gen *g);
/* Every leaf of t is exactly what the intent says, nothing is missing. */
int lu_verify_table(struct lu_gen *g, const struct pt_table *t);
/* Whether a switch between layouts needs the same granularity here. */
bool lu_needs_same_granule(const struct lu_gen *g);
/*
 * Replay (re-pin), build a new table with the preserved features (or this
 * kernel's own, naive), diff it with old, reconcile the granularity if asked and
 * needed, commit a journal naming both tables, switch every device to
 * it and free old (lu/strat_rebuild.c).
 */
int lu_rebuild_and_switch(struct lu_gen *g, struct iommufd_hwpt *old,
			  const struct iommufd_hwpt_rec *rec, bool reconcile);
/* The old tables a rebuild of several kept until all were switched:
 * destroyed now (each flushed and synced before its pages go). */
void lu_free_deferred_old(struct lu_gen *g);

/* ---- the VMM (lu/vmm.c) -------------------------------------------------- */

/* A fresh guest: memory, its IOAS and HWPT, devices attached, DMA windows
 * given to the machine's engines and the guest CPU. */
int lu_vmm_create_vm(struct lu_gen *g);
/*
 * Nested (cfg->nested), after the update: the guest's stage-1 region is
 * byte for byte what the guest wrote (its hash equals the VMM's), and
 * every preserved device is nested over its stage 2 with the guest's
 * root and DID, as its entry says.
 */
int lu_vmm_check_nested(struct lu_gen *g);
/* The naive kernel (cfg->naive_s1): replays the guest's stage 1 as if it
 * were its own, rebuilding it in place in guest memory. */
void lu_vmm_naive_s1(struct lu_gen *g);
/* Memory hot-added while the kernel recovers: returns once its map is
 * waiting for recovery to end. */
struct lu_hotplug;
int lu_vmm_hotplug_start(struct lu_gen *g, struct lu_hotplug **out);
/* Wait for it; checks the new memory is translated as mapped. */
int lu_vmm_hotplug_finish(struct lu_gen *g, struct lu_hotplug *hp, int err);

/* ---- the outgoing side (lu/outgoing.c) ---------------------------------- */

/* The devices (a mask of stream IDs) that survive an update: 0 to
 * preserve - 1, or all. */
uint32_t lu_keep_mask(const struct lu_gen_cfg *c);

int lu_live_update(struct lu_gen *g);
/* Both sessions (the VM's, the IOMMU unit's) with every memfd and the
 * iommufd state preserved; on failure nothing stays preserved. */
int lu_preserve_all(struct lu_gen *g);
/* Undo lu_preserve_all (and a prepare or freeze after it). */
void lu_unpreserve_all(struct lu_gen *g);

#endif /* IOH_LU_GEN_H */
