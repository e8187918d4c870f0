/* SPDX-License-Identifier: MIT */
/*
 * world: the world a live update runs in, as a test or the CLI sets it
 * up. It creates the machine's RAM and register region, forks the machine
 * process (hw/) and the first host kernel generation (lu/, which execs
 * the rest), waits, starts a recovery kernel if one crashed, and gathers
 * each generation's report line, the machine's DMA counters and its
 * event log into a result. Only the world, the CLI, tests and benchmarks
 * stand above both the machine and the host kernel.
 */
#ifndef IOH_WORLD_WORLD_H
#define IOH_WORLD_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/hw_abi.h"
#include "lu/lu.h"


#define WORLD_MAX_UPDATES 128

/*
 * What the runner sees while the kernels run, for progress displays and
 * sampling: the machine's live registers (DMA counters, guest pause flag,
 * event log) and how many report lines the kernels wrote so far (1 once
 * the first kernel booted, 1 + k once update k recovered).
 */
struct world_tick {
	uint64_t ns;                /* since the scenario started */
	const struct hw_regs *regs;
	unsigned int reports;
};

struct world_scenario {
	uint64_t guest_mem;
	struct kho_memfd_mix mix;
	unsigned int devices;
	enum pt_format_id fmt;
	unsigned int va_bits;
	const char *from;         /* first kernel's profile */
	const char *to;           /* profiles of the updates, comma separated;
				     one name repeats for every update */
	const struct lu_strategy *strategy;
	const char *strategies;   /* one per update, comma separated; NULL:
				     strategy for all */
	unsigned int bbm_level;
	unsigned int updates;
	bool hotplug;
	bool naive;
	unsigned int preserve;    /* devices 0..K-1 survive the updates; 0: all */
	unsigned int pasids;      /* PASIDs in use on device 0 (refused) */
	bool replay_pasids;       /* with pasids: attached, preserved, replayed */
	bool naive_pasids;        /* test hook: CDs switched without CFGI_CD */
	unsigned int ats;         /* the first N devices have ATS (an ATC) */
	bool naive_ats;           /* test hook: no kernel invalidates ATCs */
	bool nested;              /* guest stage 1 over the host's stage 2 */
	bool naive_nested;        /* test hook: replace without TLBI by VMID */
	bool naive_s1;            /* test hook: new kernels rewrite stage 1 */
	unsigned int iommus;      /* IOMMU units; device d behind d % iommus */
	bool naive_units;         /* test hook: a domain's invalidations go to
				     its first unit only */
	const char *inject;       /* lu_injections, or NULL */
	const char *crash_at;     /* lu_crash_points, or NULL */
	const char *fail_at;      /* lu/cmdline.h fail-at, or NULL */
	uint64_t seed;
	uint64_t run_ms;
	unsigned int engines;     /* DMA engine threads per device */
	const char *kernel_path;  /* the iohandover binary */
	const char *save_dir;
	/* Optional: called about every tick_ms (0: 10 ms; the runner polls
	 * every 2 ms) from the runner's process while the kernels run; must
	 * not block. */
	void (*tick)(void *arg, const struct world_tick *t);
	void *tick_arg;
	unsigned int tick_ms;
};
void world_scenario_default(struct world_scenario *sc);

struct world_update {
	char strategy[24], from[64], to[64], format[16];
	unsigned int bbm_level;
	bool ok;
	char error[256];
	uint64_t blackout_us;
	uint64_t phases_us[LU_NR_PHASES];
	uint64_t extra_table_bytes;
	uint64_t table_bytes;
	uint64_t splits, joins, granule_bytes;
	uint64_t diff_granule_bytes; /* rebuild: new vs preserved layout, before reconcile */
	bool hotplug_done;
	bool hotplug_waited;      /* its map waited for recovery to end */
	uint64_t hotplug_wait_us;
	uint32_t preserved_devices; /* masks of stream IDs: on preserved tables, */
	uint32_t aborted_devices;   /* and left in abort (not preserved) */
	unsigned int reserved_ids;  /* domain IDs reserved from the handover */
	unsigned int ats_devices; /* ATS devices the new kernel knew of */
	unsigned int pasids[HW_MAX_DEVS]; /* PASIDs it replayed, per device */
	bool nested;
	uint64_t s1_bytes_checked; /* guest stage-1 bytes compared after it */
};

struct world_dma_totals {
	uint64_t ops, faults, conflicts, misdirected, lost_writes;
	uint64_t bbm_violations, use_after_free, torn_config;
	uint64_t stale_atc;       /* an error, like those above */
	uint64_t atc_hits, atc_misses, atc_invalidations; /* not errors */
	uint64_t max_gap_us;
};

/* One IOMMU unit's counters at the end of the scenario. */
struct world_unit_totals {
	uint64_t cmds, syncs, iotlb_hits, iotlb_misses, walks;
};

struct world_result {
	struct world_update upd[WORLD_MAX_UPDATES];
	unsigned int nr_units;
	struct world_unit_totals unit[HW_MAX_UNITS];
	uint8_t dev_unit[HW_MAX_DEVS]; /* the unit device d is behind */
	unsigned int nr_upd;
	struct world_dma_totals dma;
	struct world_dma_totals dev[HW_MAX_DEVS];
	unsigned int devices;
	int kernel_status;        /* exit code of the last generation */
	char kernel_error[256];
	char injected[32];        /* site a fail-at injection fired at, or "" */
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
	uint32_t dma_enabled;     /* devices whose DMA was enabled at the end */
	uint64_t wall_us;
	/* The machine's event log (timeline), oldest first. */
	struct hw_event *events;
	size_t nr_events;
	uint64_t t0_ns;           /* scenario start, CLOCK_MONOTONIC */
};

/*
 * Whether this machine can back sc before anything starts: the guest
 * (and the hotplug slots above it) inside the IOVA width, its RAM inside
 * the host allocator's limit, and an estimate of the memory its folios,
 * tables, DMA windows and the machine's per-page state take against
 * MemAvailable. 0, or -ERANGE / -E2BIG / -ENOMEM with the limit named in
 * why. world_run refuses what fails it.
 */
int world_check_capacity(const struct world_scenario *sc, char *why, size_t len);
/* Estimated peak memory of the largest process (bytes). */
uint64_t world_memory_estimate(const struct world_scenario *sc);

int world_run(const struct world_scenario *sc, struct world_result *res);
/* Why the nested options of sc cannot run (a sentence naming the
 * reason), or NULL when they can (or sc is not nested). */
/* Why sc's IOMMU units cannot run (count, devices, naive variant), or NULL. */
const char *world_units_refusal(const struct world_scenario *sc);
const char *world_nested_refusal(const struct world_scenario *sc);
/*
 * The bare exec round trip of sc's kernel binary, the floor of a
 * blackout: RAM and region as world_run makes them for sc, no machine;
 * fork, exec the kernel with --probe (it maps physmem and the region and
 * reports), wait for it.
 */
int world_exec_probe(const struct world_scenario *sc, uint64_t *round_trip_ns);
void world_result_free(struct world_result *res);

#endif /* IOH_WORLD_WORLD_H */
