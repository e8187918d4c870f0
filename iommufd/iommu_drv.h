/* SPDX-License-Identifier: MIT */
/*
 * iommu_drv: the host kernel's driver for the machine's IOMMU (abi/hw_abi.h),
 * the only way host code talks to the hardware: command queue with
 * CMD_SYNC completion (SMMUv3 IHI 0070 4.1-4.7), hitless update of a
 * multi-word stream table entry (IHI 0070 3.21.3; the algorithm Linux's
 * arm_smmu_write_entry uses), and the rig's side channels: declaring freed
 * table pages, feeding the DMA oracle, pausing the guest CPU, reading
 * events.
 *
 * One struct iommu_drv per host process; calls on one driver must be
 * serialised by the caller. State lives in the hardware (registers,
 * queues), so a new host generation attaches and carries on where a killed
 * one stopped.
 *
 * Errors: -EBUSY command queue still full after the timeout, -ETIMEDOUT a
 * sync or an acknowledgement did not complete in time, -EINVAL bad
 * argument, -ENOSPC oracle full.
 */
#ifndef IOH_IOMMUFD_IOMMU_DRV_H
#define IOH_IOMMUFD_IOMMU_DRV_H

#include <stdbool.h>
#include <stdint.h>

#include "abi/hw_abi.h"
#include "abi/physmem.h"

struct iommu_drv {
	struct hw_regs *regs;
	uint64_t *freed_map;
	const struct physmem *pm;
	uint64_t timeout_ns;
};

/* Attach to a machine's registers (region mapped by the caller). */
int iommu_drv_init(struct iommu_drv *d, struct hw_regs *regs,
		   uint64_t *freed_map, const struct physmem *pm);

/* Point the IOMMU at a zeroed stream table of 2^log2 entries. */
int iommu_drv_set_strtab(struct iommu_drv *d, uint64_t pa, unsigned int log2);

/* ---- commands ---- */
int iommu_drv_submit(struct iommu_drv *d, const struct hw_cmd *cmds,
		     unsigned int n);
/* Submit CMD_SYNC and wait for its completion. */
int iommu_drv_sync(struct iommu_drv *d);
int iommu_drv_cfgi_ste(struct iommu_drv *d, uint32_t sid);
int iommu_drv_tlbi_domain(struct iommu_drv *d, uint16_t did);
/* TLBI of a domain and a SYNC, in one submission. */
int iommu_drv_tlbi_domain_sync(struct iommu_drv *d, uint16_t did);
int iommu_drv_tlbi_all(struct iommu_drv *d);
/* Nested: every combined entry of a VMID (what a stage-2 change needs);
 * stage-2-only entries of [ipa, ipa + len), which combined ones survive. */
int iommu_drv_tlbi_vmid(struct iommu_drv *d, uint16_t vmid);
int iommu_drv_tlbi_s2_range(struct iommu_drv *d, uint16_t vmid, uint64_t ipa,
			    uint64_t len);
/*
 * Invalidate [va, va + len) of domain did. IOMMU_DRV_LEAF spares walk
 * caches (only leaves changed); level_hint >= 0 hits only entries of that
 * pt level (SMMU TTL), -1 every level. Does not sync.
 */
#define IOMMU_DRV_LEAF 0x1u
int iommu_drv_tlbi_range(struct iommu_drv *d, uint16_t did, uint64_t va,
			 uint64_t len, unsigned int flags, int level_hint);

/*
 * The ATC (device TLB) of ATS device sid: [va, va + len) (one command
 * covering the smallest aligned power-of-two span around it), or all of
 * it. Order for a table change: TLBI, SYNC, then ATC_INV, SYNC, so the
 * device cannot refill from a stale IOTLB; free table pages only after
 * the second sync. Does not sync.
 */
int iommu_drv_atc_inv(struct iommu_drv *d, uint32_t sid, uint64_t va,
		      uint64_t len);
int iommu_drv_atc_inv_all(struct iommu_drv *d, uint32_t sid);

/*
 * Make stream sid's entry equal target, never exposing a state the
 * hardware could read as neither the old nor the new configuration:
 * words whose used bits do not change are written first, then the one
 * critical word (hitless), or, when more than one word's used bits
 * change, the entry goes through invalid (V=0: disruptive). Every step is
 * followed by CFGI_STE + SYNC. *hitless (optional) says which it was.
 */
int iommu_drv_write_ste(struct iommu_drv *d, uint32_t sid,
			const uint64_t target[HW_STE_WORDS], bool *hitless);
/*
 * The same for n entries (distinct streams, at most IOMMU_DRV_BATCH) at
 * once: each step of every entry is written, then one submission of a
 * CFGI_STE per changed entry and a SYNC, then the next step. *hitless:
 * every entry's change was. stored (optional) is called after the first
 * entry's store of each step, before its invalidation (a crash point).
 */
#define IOMMU_DRV_BATCH 16u
/* CFGI_STE of n streams and a SYNC, in one submission. */
int iommu_drv_cfgi_stes_sync(struct iommu_drv *d, const uint32_t *sids,
			     unsigned int n);
int iommu_drv_write_stes(struct iommu_drv *d, unsigned int n,
			 const uint32_t *sids,
			 const uint64_t (*target)[HW_STE_WORDS], bool *hitless,
			 void (*stored)(void *arg), void *arg);
/*
 * Context descriptors (a PASID's address space, abi/hw_abi.h): CD ssid
 * (1 .. 2^cd_log2 - 1) of the CD table at cdtab of stream sid, written
 * as an STE is (hitless when one used word changes, else through V=0),
 * each step followed by CFGI_CD + SYNC. IOMMU_DRV_CD_NO_CFGI skips the
 * invalidations (a test's or a naive kernel's bug: the IOMMU keeps its
 * cached CD). The old table's cached translations are the caller's:
 * TLBI of its domain and a SYNC before the table is freed.
 */
#define IOMMU_DRV_CD_NO_CFGI 0x1u
int iommu_drv_write_cd(struct iommu_drv *d, uint32_t sid, uint64_t cdtab,
		       unsigned int cd_log2, uint32_t ssid,
		       const uint64_t target[HW_CD_WORDS], unsigned int flags,
		       bool *hitless);
/* The same; stored (optional) is called after each step's store, before
 * its invalidation (a crash point). */
int iommu_drv_write_cd_cb(struct iommu_drv *d, uint32_t sid, uint64_t cdtab,
			  unsigned int cd_log2, uint32_t ssid,
			  const uint64_t target[HW_CD_WORDS], unsigned int flags,
			  bool *hitless, void (*stored)(void *arg), void *arg);
int iommu_drv_read_cd(struct iommu_drv *d, uint64_t cdtab,
		      unsigned int cd_log2, uint32_t ssid,
		      uint64_t cd[HW_CD_WORDS]);
/* CFGI_CD of (sid, ssid) (no sync; with one), CFGI_CD_ALL of sid. */
int iommu_drv_cfgi_cd(struct iommu_drv *d, uint32_t sid, uint32_t ssid);
int iommu_drv_cfgi_cd_sync(struct iommu_drv *d, uint32_t sid, uint32_t ssid);
int iommu_drv_cfgi_cd_all(struct iommu_drv *d, uint32_t sid);
/* Current contents of sid's entry (read word by word). */
int iommu_drv_read_ste(struct iommu_drv *d, uint32_t sid,
		       uint64_t ste[HW_STE_WORDS]);

/*
 * A table page left the host's hands (freed) or was taken again for a
 * table. The machine flags any walk of a freed page, and any page freed
 * while its walk cache could still reach it: free only after the sync
 * covering its removal has completed.
 */
void iommu_drv_table_page_freed(struct iommu_drv *d, uint64_t pa);
void iommu_drv_table_page_used(struct iommu_drv *d, uint64_t pa);

/* ---- the rig ---- */
/* Declare that device dev may now use [iova, iova + len) -> pa. */
int iommu_drv_oracle_map(struct iommu_drv *d, unsigned int dev, uint64_t iova,
			 uint64_t pa, uint64_t len, uint32_t prot);
/* The same on substream pasid: the device's engines DMA to it with that
 * PASID (the plain calls are pasid 0, the stream's own table). */
int iommu_drv_oracle_map_pasid(struct iommu_drv *d, unsigned int dev,
			       uint32_t pasid, uint64_t iova, uint64_t pa,
			       uint64_t len, uint32_t prot);
int iommu_drv_oracle_unmap_pasid(struct iommu_drv *d, unsigned int dev,
				 uint32_t pasid, uint64_t iova, uint64_t len);
/*
 * Withdraw [iova, iova + len) from dev's oracle and wait until none of
 * its engines can still be using the old oracle: after this returns the
 * range may be unmapped without its DMA faulting.
 */
int iommu_drv_oracle_unmap(struct iommu_drv *d, unsigned int dev,
			   uint64_t iova, uint64_t len);
/* Set a device's DMA parameters (see struct hw_dev_ctl). */
void iommu_drv_dma_enable(struct iommu_drv *d, unsigned int dev, bool on);
/*
 * Stop a device for good (what a VMM's reset of a device whose VM does
 * not survive does): disable its DMA, withdraw its whole oracle and wait
 * until none of its engines is still in an operation. After this its
 * stream may be put in abort without a DMA of it faulting.
 */
int iommu_drv_dma_stop(struct iommu_drv *d, unsigned int dev);
/* Enable or disable ATS of device dev (its ATC); whether it is enabled. */
int iommu_drv_set_ats(struct iommu_drv *d, unsigned int dev, bool on);
bool iommu_drv_ats(const struct iommu_drv *d, unsigned int dev);

/* Pause the guest CPU and wait until it has stopped; resume. */
int iommu_drv_guest_pause(struct iommu_drv *d);
int iommu_drv_guest_resume(struct iommu_drv *d);

/* Next fault record from the event queue: 1, or 0 when empty. */
int iommu_drv_next_event(struct iommu_drv *d, struct hw_event *ev);

#endif /* IOH_IOMMUFD_IOMMU_DRV_H */
