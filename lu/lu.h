/* SPDX-License-Identifier: MIT */
/*
 * lu: the live update engine. One host kernel generation either boots
 * fresh (sets up the IOMMU, the VM's memory and its devices, as the VMM
 * asks) or boots from a handover and takes the IOMMU state over again
 * with one of four strategies:
 *
 *   deserialize     adopt the preserved tables as an immutable domain
 *                   (Linux's 2026 series); no map/unmap ever after
 *   verify          replay the intent (re-pin) and check the preserved
 *                   tables hold exactly it, then own them as a normal,
 *                   mutable domain; no second table
 *   rebuild         replay into a fresh table built with the preserved
 *                   features, diff it with the preserved one, reconcile
 *                   granularity where the hardware lacks BBM level 2,
 *                   switch the devices hitlessly, free the old table
 *   stop-the-world  the baseline: guest and DMA stopped across the whole
 *                   update, tables torn down and rebuilt
 *
 * Degraded mode: except for stop-the-world, the guest CPU resumes as
 * soon as the preserved configuration is re-adopted, before replay, so
 * the VM blackout does not grow with guest size; address-map changes
 * (memory hotplug) arriving meanwhile wait for recovery to end.
 *
 * Each generation reports one JSON line (phases, blackout, table memory)
 * to a descriptor kept across exec; lu_run_scenario (scenario.c) starts
 * the machine and the first kernel and gathers the lines and the
 * machine's DMA counters into a result.
 */
#ifndef IOH_LU_LU_H
#define IOH_LU_LU_H

#include <stdbool.h>
#include <stdint.h>

#include "abi/hw_abi.h"
#include "kho/memfd.h"
#include "pt/pt.h"

enum lu_strategy {
	LU_DESERIALIZE,
	LU_VERIFY,
	LU_REBUILD,
	LU_STOP_THE_WORLD,
	LU_NR_STRATEGIES
};
const char *lu_strategy_name(enum lu_strategy s);
int lu_strategy_by_name(const char *name, enum lu_strategy *s);

enum lu_phase {
	LU_PH_PRESERVE,       /* outgoing: mark and describe what survives */
	LU_PH_FREEZE_TO_EXEC, /* blob committed -> next kernel running */
	LU_PH_BOOT,           /* validate blob, reserve, poison, parse */
	LU_PH_RESUME,         /* re-adopt configuration, guest running again */
	LU_PH_REPLAY,         /* replay the intent, re-pin guest memory */
	LU_PH_BUILD,          /* build the new table */
	LU_PH_DIFF,           /* diff (and reconcile) or verify */
	LU_PH_SWITCH,         /* hitless replace of every device */
	LU_PH_FREE,           /* old tables freed after the sync */
	LU_PH_FINISH,         /* unclaimed handover state released */
	LU_NR_PHASES
};
const char *lu_phase_name(enum lu_phase p);

/* What one kernel generation is told (by argv, like a command line). */
struct lu_gen_cfg {
	int physmem_fd;
	int region_fd;
	int report_fd;
	bool has_handover;
	uint64_t handover_pa;
	const char *profile;      /* this kernel's profile */
	const char *from_profile; /* the previous generation's, on handover */
	const char *next;         /* profiles of the updates still to do, "v2,v1" */
	enum lu_strategy strategy; /* of the update into this generation */
	const char *next_strategies; /* of the updates still to do; NULL: same */
	enum pt_format_id fmt;
	unsigned int va_bits;
	unsigned int devices;
	uint64_t guest_size;
	struct kho_memfd_mix mix;
	bool hotplug;
	bool naive;               /* rebuild with own defaults, no reconcile */
	const char *inject;       /* test hook, see lu_injections */
	const char *crash_at;     /* lu_crash_points: SIGKILL there */
	bool recover;             /* a recovery kernel after a crash */
	uint64_t candidates[8];   /* handovers the crashed kernels reported */
	unsigned int nr_candidates;
	uint64_t run_ms;          /* DMA time before each update and at the end */
	uint64_t t_pause_ns;      /* guest paused by the previous generation */
	uint64_t t_freeze_ns;     /* its blob committed */
	uint64_t preserve_ns;
	const char *save_dir;
	const char *exe;          /* binary of the next kernel */
};

/* Exit codes of a generation (the iohandover command's own). */
enum lu_exit {
	LU_EXIT_OK = 0,
	LU_EXIT_NOT_HITLESS = 1, /* ran, but the update was refused or unsafe */
	LU_EXIT_INPUT = 2,       /* bad configuration or handover refused */
	LU_EXIT_INTERNAL = 3,
};

/*
 * Test hooks an outgoing kernel applies just before preserving, to show
 * what the next one does with state that is wrong:
 *   table-prot   the last leaf of the table becomes read-only, the
 *                intent still says read-write (a corrupted or buggy
 *                table the next kernel must refuse to adopt or switch)
 */
extern const char *const lu_injections[];

/*
 * Where a kernel kills itself (SIGKILL) for crash tests, in update order:
 *   serialize  outgoing, preserving, before any handover is committed
 *   freeze     outgoing, handover committed, before exec
 *   exec       incoming, running, before the handover is parsed
 *   replay     incoming, guest memory re-pinned
 *   reconcile  incoming, new table reconciled, not yet switched to
 *   switch     incoming, a configuration entry rewritten, before its sync
 *   free       incoming, devices switched, old table not yet freed
 *   finish     incoming, before unclaimed handover state is released
 * A recovery kernel then boots (lu_kernel_main with recover) from the last
 * handover that was completely written, or finds none and puts every
 * device in abort mode.
 */
extern const char *const lu_crash_points[];

/* Run one generation; returns an enum lu_exit. Does not return on a
 * successful exec of the next generation. */
int lu_kernel_main(const struct lu_gen_cfg *cfg);

/* ---- scenarios ---- */

#define LU_MAX_UPDATES 128

/*
 * What the runner sees while the kernels run, for progress displays and
 * sampling: the machine's live registers (DMA counters, guest pause flag,
 * event log) and how many report lines the kernels wrote so far (1 once
 * the first kernel booted, 1 + k once update k recovered).
 */
struct lu_tick {
	uint64_t ns;                /* since the scenario started */
	const struct hw_regs *regs;
	unsigned int reports;
};

struct lu_scenario {
	uint64_t guest_mem;
	struct kho_memfd_mix mix;
	unsigned int devices;
	enum pt_format_id fmt;
	unsigned int va_bits;
	const char *from;         /* first kernel's profile */
	const char *to;           /* profiles of the updates, comma separated;
				     one name repeats for every update */
	enum lu_strategy strategy;
	const char *strategies;   /* one per update, comma separated; NULL:
				     strategy for all */
	unsigned int bbm_level;
	unsigned int updates;
	bool hotplug;
	bool naive;
	const char *inject;       /* lu_injections, or NULL */
	const char *crash_at;     /* lu_crash_points, or NULL */
	uint64_t seed;
	uint64_t run_ms;
	unsigned int engines;     /* DMA engine threads per device */
	const char *kernel_path;  /* the iohandover binary */
	const char *save_dir;
	/* Optional: called about every 10 ms from the runner's process
	 * while the kernels run; must not block. */
	void (*tick)(void *arg, const struct lu_tick *t);
	void *tick_arg;
};
void lu_scenario_default(struct lu_scenario *sc);

struct lu_update {
	char strategy[24], from[16], to[16], format[16];
	unsigned int bbm_level;
	bool ok;
	char error[256];
	uint64_t blackout_us;
	uint64_t phases_us[LU_NR_PHASES];
	uint64_t extra_table_bytes;
	uint64_t table_bytes;
	uint64_t splits, joins, granule_bytes;
	bool hotplug_done;
	uint64_t hotplug_wait_us;
};

struct lu_dma_totals {
	uint64_t ops, faults, conflicts, misdirected, lost_writes;
	uint64_t bbm_violations, use_after_free, torn_config;
	uint64_t max_gap_us;
};

struct lu_result {
	struct lu_update upd[LU_MAX_UPDATES];
	unsigned int nr_upd;
	struct lu_dma_totals dma;
	struct lu_dma_totals dev[HW_MAX_DEVS];
	unsigned int devices;
	int kernel_status;        /* exit code of the last generation */
	char kernel_error[256];
	/* After a crash test: what the recovery kernel did. */
	bool crashed;             /* a kernel reached crash_at and died */
	int recovery_status;
	char recovery_mode[24];   /* completed, fell-back, split, abort */
	char recovery_error[256];
	uint64_t recovery_leaked_bytes;
	uint64_t recovery_bad_frees;
	uint64_t handovers[8];    /* committed handovers the kernels reported */
	unsigned int nr_handovers;
	bool hitless;
	uint64_t guest_ops;
	uint64_t wall_us;
	/* The machine's event log (timeline), oldest first. */
	struct hw_event *events;
	size_t nr_events;
	uint64_t t0_ns;           /* scenario start, CLOCK_MONOTONIC */
};

int lu_run_scenario(const struct lu_scenario *sc, struct lu_result *res);
void lu_result_free(struct lu_result *res);

#endif /* IOH_LU_LU_H */
