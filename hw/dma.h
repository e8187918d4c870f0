/* SPDX-License-Identifier: MIT */
/*
 * DMA engines and the guest CPU: the rig that keeps the IOMMU busy and
 * checks every transaction against the host's declared intent (the
 * oracle of hw_abi.h). Not a manual's device: a generic bus master that
 * issues reads and writes of one size through the IOMMU (SMMUv3 IHI 0070
 * 3.2: a transaction carries its StreamID; here stream ID = device).
 *
 * Each engine thread per operation: publishes the invalidation epoch it
 * starts under (so a CMD_SYNC waits for it), translates, checks the PA
 * against the oracle (misdirected), performs the access (a write stamps
 * device and sequence), and now and then re-reads an earlier stamp from
 * RAM directly (lost write). A misdirected write is counted and not
 * performed, so one error does not cascade into corrupted tables.
 */
#ifndef IOH_HW_DMA_H
#define IOH_HW_DMA_H

#include "abi/hw_abi.h"
#include "hw/iommu.h"
#include "abi/physmem.h"

struct hw_dma;

/*
 * Start regs->dev_ctl[d].engines threads per device, and the guest CPU.
 * units[u] is unit u's IOMMU (one for each of regs->nr_units): device d's
 * DMA is translated by units[regs->dev_unit[d]].
 */
int hw_dma_start(struct hw_dma **out, struct hw_iommu *const *units,
		 struct hw_regs *regs, struct physmem *pm);
void hw_dma_stop(struct hw_dma *d);

#endif /* IOH_HW_DMA_H */
