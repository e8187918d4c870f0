/* SPDX-License-Identifier: MIT */
/*
 * The machine: physmem, the IOMMU of hw/iommu.h behind the register
 * region of abi/hw_abi.h, DMA engines per device and the guest CPU. It
 * runs as its own process for a whole scenario (`iohandover machine`, or
 * hw_machine_fork) and outlives every host kernel generation: a host
 * attaches by inheriting the physmem and register region descriptors.
 *
 * One IOMMU instance per unit of the region's topology (regs->nr_units,
 * regs->dev_unit): each drains its own command queue, completes its own
 * syncs (waiting for the DMA of its own devices only) and has its own
 * caches; a device's DMA goes through the unit it sits behind.
 *
 * Command processing follows SMMUv3 IHI 0070 4.1-4.7: commands are
 * consumed in order; CMD_SYNC completes (sync_done) only after every
 * earlier invalidation is complete, which includes waiting for the DMA
 * and walks in flight that may still use an invalidated entry (3.21.1).
 */
#ifndef IOH_HW_MACHINE_H
#define IOH_HW_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi/hw_abi.h"
#include "hw/iommu.h"
#include "abi/physmem.h"
#include "abi/region.h"

struct hw_machine_cfg {
	struct hw_iommu_cfg iommu;
	/*
	 * Strict mode: before each batch of commands, every active DMA engine
	 * runs this many operations against the state the host left (so a
	 * hazard created before an invalidation is exercised, not hidden by
	 * how fast the command is consumed). 0 disables.
	 */
	unsigned int dma_window_ops;
	unsigned int scrub_period_us;
};

void hw_machine_cfg_default(struct hw_machine_cfg *c);

struct hw_machine;

/*
 * Start the machine's threads in this process over inherited physmem and
 * region descriptors (both stay owned by the caller). Engines start per
 * regs->dev_ctl[d].engines, as set before this call.
 */
int hw_machine_start(struct hw_machine **out, const struct hw_machine_cfg *cfg,
		     int physmem_fd, int region_fd);
/* Stop and join every thread, unmap, free. */
void hw_machine_stop(struct hw_machine *m);
/* The IOMMU (unit 0) of a started machine, for in-process tests. */
struct hw_iommu *hw_machine_iommu(struct hw_machine *m);
/* Unit u's IOMMU (regs->nr_units of them); NULL beyond. */
struct hw_iommu *hw_machine_unit(struct hw_machine *m, unsigned int u);

/* Start, run until regs->shutdown is set, stop. 0 or a negative errno. */
int hw_machine_run(const struct hw_machine_cfg *cfg, int physmem_fd,
		   int region_fd);

/*
 * Fork a machine process running hw_machine_run over the descriptors;
 * call it while this process has a single thread. The child exits with 0
 * after a clean shutdown.
 */
int hw_machine_fork(const struct hw_machine_cfg *cfg, int physmem_fd,
		    int region_fd, pid_t *pid);

/* Sum of a device's error counters (everything but ops and gaps). */
uint64_t hw_dev_errors(const struct hw_dev_stats *s);

#endif /* IOH_HW_MACHINE_H */
