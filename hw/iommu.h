/* SPDX-License-Identifier: MIT */
/*
 * The IOMMU model: configuration fetch and cache, page-table walker,
 * walk cache, leaf IOTLB, invalidation, multi-hit resolution by
 * break-before-make level. Rules: SMMUv3 IHI 0070 3.20 (TLB conflict),
 * 3.21.1 (BBM levels 0/1/2 and invalidation completion), 3.21.3 (config
 * structures, cached even when invalid), 4.4 (TLBI scope: Leaf, TTL,
 * NUM/SCALE); Intel SDM vol. 3 4.10.2-4.10.4 for the x86-style formats
 * (several page sizes may be cached for one address; any may be used).
 *
 * Cache structure: set associative, sets x ways chosen at creation;
 * strict mode evicts the least recently used way and keeps every stale
 * entry until an invalidation that covers it or capacity removes it;
 * randomized mode evicts a random way, drops entries spontaneously and
 * picks among multiple hits at random, all from a seed.
 *
 * The IOMMU runs inside the machine process; tests and benchmarks may also
 * drive it in-process (hw_iommu_translate) without the machine loop.
 */
#ifndef IOH_HW_IOMMU_H
#define IOH_HW_IOMMU_H

#include <stdbool.h>
#include <stdint.h>

#include "abi/hw_abi.h"
#include "abi/physmem.h"
#include "ioh/ioh.h"

struct hw_iommu;

struct hw_iommu_cfg {
	bool randomized;        /* false: strict (adversarially stale) */
	uint64_t seed;
	unsigned int tlb_sets_lg2;
	unsigned int tlb_ways;
	unsigned int walk_sets_lg2;
	unsigned int walk_ways;
};

void hw_iommu_cfg_default(struct hw_iommu_cfg *c);

int hw_iommu_create(struct hw_iommu **out, const struct hw_iommu_cfg *cfg,
		    struct physmem *pm, struct hw_regs *regs,
		    uint64_t *freed_map);
/*
 * One instance per IOMMU unit: unit u reads regs->unit[u] (its stream
 * table, queues, counters) and has caches of its own. hw_iommu_create is
 * unit 0's.
 */
int hw_iommu_create_unit(struct hw_iommu **out, const struct hw_iommu_cfg *cfg,
			 struct physmem *pm, struct hw_regs *regs,
			 uint64_t *freed_map, unsigned int unit);
unsigned int hw_iommu_unit(const struct hw_iommu *m);
void hw_iommu_destroy(struct hw_iommu *m);

enum hw_access { HW_ACCESS_READ = 1, HW_ACCESS_WRITE = 2 };

struct hw_xlate {
	uint64_t pa;
	uint32_t fault;   /* enum hw_evt_type; HW_EVT_NONE on success */
	uint64_t atc;     /* nonzero: served by this ATC entry of the device */
};

/*
 * Translate one access of stream sid. A device with ATS enabled
 * (hw_dev_ctl.ats) uses its ATC first and fills it from the IOMMU's
 * answer (a translation request) on a miss. Faults are recorded (event queue,
 * event log, the device's counters) before returning; the return value
 * is 0 on success, -EFAULT on a fault.
 */
int hw_iommu_translate(struct hw_iommu *m, uint32_t sid, uint64_t iova,
		       enum hw_access access, struct hw_xlate *x);
/* The same on substream pasid (0: none, the entry's own table). */
int hw_iommu_translate_pasid(struct hw_iommu *m, uint32_t sid,
			     uint32_t pasid, uint64_t iova,
			     enum hw_access access, struct hw_xlate *x);

/* Invalidation, as the commands of hw_abi.h define it. */
/* Nested: all combined entries of a VMID; stage-2-only entries by IPA. */
void hw_iommu_tlbi_vmid(struct hw_iommu *m, uint16_t vmid);
void hw_iommu_tlbi_s2_range(struct hw_iommu *m, uint16_t vmid, uint64_t ipa,
			    uint64_t last);
void hw_iommu_cfgi_ste(struct hw_iommu *m, uint32_t sid);
/* Drop the cached CD of (sid, ssid), or every CD of sid. */
void hw_iommu_cfgi_cd(struct hw_iommu *m, uint32_t sid, uint32_t ssid);
void hw_iommu_cfgi_cd_all(struct hw_iommu *m, uint32_t sid);
void hw_iommu_cfgi_all(struct hw_iommu *m);
void hw_iommu_tlbi_all(struct hw_iommu *m);
void hw_iommu_tlbi_domain(struct hw_iommu *m, uint16_t did);
/* ttl_level: -1 any level, else the pt level whose entries are hit. */
void hw_iommu_tlbi_range(struct hw_iommu *m, uint16_t did, uint64_t va,
			 uint64_t last, bool leaf, int ttl_level);

/*
 * ATC_INV: remove stream sid's ATC entries in [va, last] (checking them
 * first), then let the strict device request them again at once.
 */
void hw_iommu_atc_inv(struct hw_iommu *m, uint32_t sid, uint64_t va,
		      uint64_t last);
/* A DMA served by ATC entry id (hw_xlate.atc) was misdirected: the entry
 * is stale, counted once. */
void hw_iommu_atc_misdirected(struct hw_iommu *m, uint32_t sid, uint64_t id);

/*
 * Invalidation epoch: bumped after every invalidation. A sync completes
 * once no translation that started before the bump is still in flight.
 */
uint64_t hw_iommu_epoch(const struct hw_iommu *m);

/*
 * Checker pass (the model being adversarial where hardware may be): every
 * cached leaf is compared with the tables in memory, marking size changes
 * (so the next hit also fetches the new size: a multi-hit) and flagging
 * address/attribute changes of live entries; every cached table pointer
 * to a page declared freed is flagged use-after-free; every ATC entry
 * read from a freed table page, or mapping an IOVA the oracle maps
 * elsewhere, is flagged stale_atc.
 */
void hw_iommu_scrub(struct hw_iommu *m);

/*
 * Fetch stream table entries that are not cached (hardware may prefetch
 * any reachable structure, invalid ones included) and sample every
 * entry for the torn-update check of hw_iommu_cfgi_ste.
 */
void hw_iommu_prefetch_configs(struct hw_iommu *m, uint32_t nr_sids);

/* Record an event: event queue (hardware faults) and event log. */
void hw_iommu_event(struct hw_iommu *m, uint32_t type, uint32_t sid,
		    uint64_t iova, uint64_t info);

/* Monotonic clock in nanoseconds. */

#endif /* IOH_HW_IOMMU_H */
