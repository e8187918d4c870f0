/* SPDX-License-Identifier: MIT */
/*
 * lu: the live update engine. One host kernel generation either boots
 * fresh (sets up the IOMMU, the VM's memory and its devices, as the VMM
 * asks) or boots from a handover and takes the IOMMU state over again
 * with a restore strategy, then runs, and, if told of a next generation,
 * preserves its state and execs it.
 *
 * Strategies plug in as formats do in pt/: a struct lu_strategy (its
 * traits and its restore function), one file each (lu/strat_*.c) and one
 * line in the table of lu/strategy.c. Built in:
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
 *                   update, a fresh table built and switched to
 *
 * Degraded mode: a strategy with early_resume lets the guest CPU run
 * again as soon as the preserved configuration is re-adopted, before
 * replay, so the VM blackout does not grow with guest size; address-map
 * changes (memory hotplug) arriving meanwhile wait for recovery to end.
 *
 * A generation's configuration is its command line (lu/cmdline.h), as a
 * kexec'd kernel's is; each generation writes one JSON report line to a
 * descriptor kept across exec (lu/report.c, docs/report.md). The world
 * runner (world/) starts the machine and the first kernel.
 *
 * Files: gen.h (one generation's state, internal), strategy.c and
 * strat_*.c, vmm.c (the VMM: guest memory, hotplug), boot.c (fresh boot
 * and boot from a handover), recover.c (after a crash), outgoing.c
 * (preserve, freeze, exec), report.c, cmdline.c, kernel.c (main).
 */
#ifndef IOH_LU_LU_H
#define IOH_LU_LU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommufd/iommufd.h"
#include "iommufd/preserve.h"
#include "kho/memfd.h"
#include "pt/pt.h"

struct lu_gen; /* one generation's state: lu/gen.h */

/* ---- restore strategies -------------------------------------------------- */

struct lu_strategy {
	const char *name;
	const char *summary;     /* one line, for help and docs */
	bool stops_dma;          /* devices stopped from freeze to restored */
	bool early_resume;       /* guest runs again before restore (degraded
				    mode); otherwise only once it is done */
	bool immutable;          /* the adopted table stays immutable */
	/*
	 * Called with the preserved table adopted as old (immutable as the
	 * strategy says) and rec's devices attached to it: leave every device
	 * on a table this kernel owns. Returns 0 or an enum lu_exit, with the
	 * generation's error set (lu_gen_fail). On failure the devices must
	 * still translate as preserved.
	 */
	int (*restore)(struct lu_gen *g, struct iommufd_hwpt *old,
		       const struct iommufd_hwpt_rec *rec);
};

extern const struct lu_strategy lu_strategy_deserialize;
extern const struct lu_strategy lu_strategy_verify;
extern const struct lu_strategy lu_strategy_rebuild;
extern const struct lu_strategy lu_strategy_stop_the_world;

#define LU_MAX_STRATEGIES 16

/* By name; NULL if unknown. */
const struct lu_strategy *lu_strategy_find(const char *name);
/* The i-th strategy (built-in ones first, in table order); NULL past the
 * last. Indices are stable within a process. */
const struct lu_strategy *lu_strategy_at(unsigned int i);
unsigned int lu_nr_strategies(void);
/* Index of s in lu_strategy_at's order, or LU_MAX_STRATEGIES. */
unsigned int lu_strategy_index(const struct lu_strategy *s);
/* "deserialize, verify, ..." for messages. */
const char *lu_strategy_names(void);
/*
 * Add a strategy at run time (a test build's, say): -EEXIST if the name
 * is taken, -ENOSPC when full. A process that execs kernels must register
 * it in every generation, before parsing a command line that names it.
 */
int lu_strategy_register(const struct lu_strategy *s);

/* ---- phases of an update, as reported ----------------------------------- */

enum lu_phase {
	LU_PH_PRESERVE,       /* outgoing: mark and describe what survives */
	LU_PH_UNMAP,          /* outgoing: drop its RAM mappings (process artefact) */
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

/* Exit codes of a generation (the iohandover command's own). */
enum lu_exit {
	LU_EXIT_OK = 0,
	LU_EXIT_NOT_HITLESS = 1, /* ran, but the update was refused or unsafe */
	LU_EXIT_INPUT = 2,       /* bad configuration or handover refused */
	LU_EXIT_INTERNAL = 3,
};

/*
 * Test hooks an outgoing kernel applies to the first update, to show what
 * the next one does with state that is wrong:
 *   table-prot       before preserving: the last leaf becomes read-only
 *                    behind the intent's back (a buggy table the next
 *                    kernel must refuse to adopt or switch from)
 *   table-outside    after the handover is committed: the last block
 *   table-cycle      leaf's slot is overwritten with a table pointer out
 *   table-bad-entry  of RAM, back to the root, or with a RES0 bit set
 *   ioas-memfd       after the handover is committed (checksum and commit
 *   ioas-range       redone, as a buggy writer would leave them): the ioas
 *                    names a memfd the handover does not hold, or its
 *                    first area ends one page past its memfd
 *   hwpt-ioas        the same way: the hwpt's 'ioas' names no ioas
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
 *   switch-unit incoming, the devices of some IOMMU units switched (and
 *              synced), those of the others not yet (several units only)
 *   atc        incoming, every device switched and the IOMMUs' TLBs
 *              invalidated, the ATS devices' TLBs (ATCs) not yet
 *   free       incoming, devices switched, old table not yet freed
 *   finish     incoming, before unclaimed handover state is released
 * A recovery kernel then boots (recover in its command line) from the
 * last handover that was completely written, or finds none and puts
 * every device in abort mode.
 */
extern const char *const lu_crash_points[];

#include "lu/cmdline.h"

/*
 * The whole-handover check a kernel generation installs at boot
 * (kho_blob_check_set): the one VM it restores (lu/boot.c). `handover
 * check` runs it too.
 */
struct kho_vctx;
struct kho_parsed;
int lu_handover_check(struct kho_vctx *v, const struct kho_parsed *p);

/* Run one generation; returns an enum lu_exit. Does not return on a
 * successful exec of the next generation. */
int lu_kernel_main(const struct lu_gen_cfg *cfg);

/* ---- the VMM's guest layout (lu/vmm.c), for whoever must match it ------- */

/* Bytes of RAM the machine gets for a guest of guest_size bytes: the
 * guest, its tables and handovers, rounded up to 1 GiB. */
uint64_t lu_vmm_ram_size(uint64_t guest_size);
/* Name of the guest's memfd in the VM's session. */
#define LU_GUEST_MEMFD "guest-ram"
/*
 * Guest memory: created first, while RAM is unfragmented (as hugetlb pools
 * are set aside at boot), and mapped as a VMM maps RAM below and above a
 * hole: two IOAS areas that continue each other at half the guest (2M
 * aligned), so a kernel that coalesces areas builds other leaves across
 * the seam.
 */
int lu_vmm_create_guest(struct kho *k, uint64_t size,
			const struct kho_memfd_mix *mix, struct kho_memfd **out);
int lu_vmm_map_guest(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		     struct kho_memfd *guest, uint64_t size);

#endif /* IOH_LU_LU_H */
