/* SPDX-License-Identifier: MIT */
/*
 * hw test rig: a machine (in this process or forked) over a fresh physmem,
 * a host driver attached to it, table pages allocated from physmem, and
 * helpers to run the sequences of docs/reference.md section 4.
 *
 * physmem layout: stream table at RIG_STRTAB_PA, table pages bump
 * allocated from RIG_TABLES_PA (never reused, so a freed page stays
 * freed), DMA targets from RIG_DATA_PA, guest RAM at RIG_GUEST_PA.
 */
#ifndef IOH_TESTS_HW_RIG_H
#define IOH_TESTS_HW_RIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hw/machine.h"
#include "iommufd/iommu_drv.h"
#include "pt/pt.h"

#define RIG_PHYSMEM (1ull << 30)
#define RIG_STRTAB_PA 0x0ull
#define RIG_STRTAB_LOG2 6u
/* Unit u's stream table (64 entries: one page each). */
#define RIG_STRTAB_PA_OF(u) (RIG_STRTAB_PA + (uint64_t)(u) * 4096u)
#define RIG_TABLES_PA 0x100000ull
#define RIG_TABLES_END 0x8000000ull
#define RIG_DATA_PA 0x10000000ull
#define RIG_GUEST_PA 0x30000000ull
#define RIG_MAX_DEFERRED 4096u

struct hw_rig_opts {
	unsigned int bbm_level;
	unsigned int nr_units;  /* IOMMU units (0: 1); device d behind d % n */
	bool forked;            /* machine in its own process */
	unsigned int engines[HW_MAX_DEVS];
	uint64_t pace_ns;
	struct hw_machine_cfg mcfg;
};

void hw_rig_opts_default(struct hw_rig_opts *o, unsigned int bbm_level);

struct hw_rig {
	struct physmem pm;
	struct hw_region region;
	struct iommu_drv drv;
	struct hw_machine *m;
	pid_t pid;
	uint64_t next_table;
	uint64_t deferred[RIG_MAX_DEFERRED];
	unsigned int nr_deferred;
};

extern const struct pt_mem_ops hw_rig_mem_ops;

/* Everything up, machine running; the stream table is set. */
int hw_rig_start(struct hw_rig *r, const struct hw_rig_opts *o);
/* Region and physmem only, no machine (for queue tests). */
int hw_rig_start_bare(struct hw_rig *r, unsigned int bbm_level);
/* The same with nr_units IOMMU units, each with its stream table. */
int hw_rig_start_units(struct hw_rig *r, unsigned int bbm_level,
		       unsigned int nr_units);
void hw_rig_stop(struct hw_rig *r);

/* As hw_rig_table_init, of va_bits (ARM stage 2 below 44 bits: a
 * concatenated start level). */
int hw_rig_table_init_va(struct hw_rig *r, struct pt_table *t,
			 enum pt_format_id fmt, unsigned int va_bits,
			 uint64_t pgsizes);
int hw_rig_table_init(struct hw_rig *r, struct pt_table *t,
		      enum pt_format_id fmt, uint64_t pgsizes);
/* Declare every page pt handed to defer_free as freed, now. */
void hw_rig_free_deferred(struct hw_rig *r);

/* Point dev's stream at table t in domain did (hitless update, synced). */
int hw_rig_attach(struct hw_rig *r, unsigned int dev, const struct pt_table *t,
		  uint16_t did);
/* Map in t and declare it to dev's oracle. */
int hw_rig_map(struct hw_rig *r, unsigned int dev, struct pt_table *t,
	       uint64_t iova, uint64_t pa, uint64_t len);
/* Restrict dev's engines to [lo, hi]. */
void hw_rig_window(struct hw_rig *r, unsigned int dev, uint64_t lo,
		   uint64_t hi);
/* Wait until dev has done n more operations (false on timeout). */
bool hw_rig_wait_ops(struct hw_rig *r, unsigned int dev, uint64_t n);
/* Wait for a few machine loop iterations and two checker passes. */
void hw_rig_settle(struct hw_rig *r);

/* The table word that maps va at level (the caller knows it exists). */
_Atomic uint64_t *hw_rig_entry(struct hw_rig *r, const struct pt_table *t,
			       uint64_t va, unsigned int level);
/* A fresh zeroed table page from the rig's allocator. */
uint64_t *hw_rig_page(struct hw_rig *r, uint64_t *pa);

uint64_t hw_rig_errors(struct hw_rig *r, unsigned int dev);
const struct hw_dev_stats *hw_rig_stats(struct hw_rig *r, unsigned int dev);
/* Whether the event log still holds an event of type. */
bool hw_rig_has_event(struct hw_rig *r, uint32_t type);
/* Print dev's counters and the last events, for failing tests. */
void hw_rig_dump(struct hw_rig *r, unsigned int dev, const char *what);

#endif /* IOH_TESTS_HW_RIG_H */
