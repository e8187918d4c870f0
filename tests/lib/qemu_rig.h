/* SPDX-License-Identifier: MIT */
/*
 * The checking half of the QEMU tests (issue 17, docs/testing.md "QEMU as
 * a second machine"), shared by test_qemu_vtd.c and test_qemu_smmu.c:
 * one QEMU with edu, guest RAM and the test's shadow of it, a pool of
 * table pages for pt, random intents, the plan of sampled words, the DMA
 * check of one expected word, the fault match, the RAM comparison, and
 * the two kinds of run (conformance with its negative control, and the
 * switch with its unsafe variants). What differs between IOMMUs is in
 * struct qrig_ops: how to program the IOMMU for a table, how to read the
 * fault one DMA caused, how to switch and invalidate.
 *
 * Guest RAM layout, as offsets from the RAM's guest PA (ram_base):
 * the IOMMU's own structures below 0x100000 + 0x10000 (each test's),
 * staging and write-back pages, a trap page, pt's table pool at 2-16 MiB,
 * targets of 4K and 2M leaves up to 1 GiB, one 1G leaf's target at 1 GiB.
 */
#ifndef IOH_TESTS_QEMU_RIG_H
#define IOH_TESTS_QEMU_RIG_H

#include <stdbool.h>
#include <stdint.h>

#include "pt/pt.h"
#include "tests/lib/qtest.h"

#define QRIG_4K (1ull << 12)
#define QRIG_2M (1ull << 21)
#define QRIG_1G (1ull << 30)
#define QRIG_RAM_SIZE (2 * QRIG_1G)

/* Offsets from ram_base (guest PA = ram_base + offset in the RAM file). */
#define QRIG_STAGE 0x103000ull   /* tokens edu reads */
#define QRIG_BACK 0x104000ull    /* where edu writes back what it read */
#define QRIG_TRAP 0x106000ull    /* where poisoned entries point */
#define QRIG_POOL 0x200000ull    /* pt table pages */
#define QRIG_POOL_END 0x1000000ull
#define QRIG_TGT QRIG_POOL_END   /* targets of 4K and 2M leaves */
#define QRIG_TGT_END QRIG_1G
#define QRIG_TGT_1G QRIG_1G      /* one 1G leaf's target */

#define QRIG_STAGE_IOVA 0x1000ull
#define QRIG_BACK_IOVA 0x2000ull

/* edu (QEMU hw/misc/edu.c, docs/specs/edu.rst) at 00:03.0 everywhere. */
#define QRIG_EDU_DEVFN 0x18

/*
 * The fault one DMA caused, in the shape of VT-d's fault recording
 * register: hi bit 63 F (a fault), bit 62 T (a read request), 39:32 the
 * reason (VT-d) or event type (SMMUv3), 15:0 the source (stream) id;
 * lo the faulting address. Zero: no fault.
 */
struct qrig_fault {
	uint64_t hi, lo;
};
#define QRIG_F (1ull << 63)
#define QRIG_T (1ull << 62)

struct qrig;

struct qrig_ops {
	const char *iommu;   /* "intel-iommu", "SMMUv3": for messages */
	const char *target;  /* qemu-system-<target> */
	enum qt_arch arch;
	const char *const *args;   /* the machine and its devices */
	uint64_t ram_base;   /* guest PA of the RAM file's offset 0 */
	uint64_t edu_bar;    /* where init puts edu's BAR 0 */
	/* After QEMU is up: edu's BAR and bus mastering, the IOMMU's ids. */
	void (*init)(struct qrig *r);
	/* Point edu's stream at table t and turn translation on. */
	void (*load)(struct qrig *r, const struct pt_table *t);
	/* The fault the DMA just done caused (and clear it), or zero. */
	struct qrig_fault (*fault)(struct qrig *r);
	/* Optional: before a write to a read-only leaf (VT-d: QEMU 7.2's
	 * IOTLB hit ignores permissions, so flush to make it walk). */
	void (*before_ro_write)(struct qrig *r);
	/* The switch: ready the queues after load (optional), the one store
	 * of b's root, the configuration and TLB invalidations, each waited
	 * for; poison is what every word of the old pages becomes. */
	void (*switch_begin)(struct qrig *r);
	void (*switch_root)(struct qrig *r, const struct pt_table *b);
	void (*inval_config)(struct qrig *r);
	void (*inval_tlb)(struct qrig *r);
	uint64_t poison;
	/* The switch plans no read-only words (they need before_ro_write,
	 * which the switch's queued invalidation forbids). */
	bool switch_skips_ro;
};

struct qrig {
	struct qtest q;
	const struct qrig_ops *ops;
	uint64_t ram_base, edu_bar;   /* ops' */
	uint8_t *shadow;         /* what guest RAM must hold (by offset) */
	uint64_t pool_next;      /* guest PA */
	uint64_t rng;
	unsigned long dma, writes_ok, reads_ok, faults_ok, mismatches;
	bool bad_on_purpose;     /* negative control or unsafe switch */
	unsigned long fault_reason[256];
	uint64_t priv[8];        /* the IOMMU's own state (offsets, indices) */
};

/* Guest PA of an offset of the layout, and back. */
static inline uint64_t qrig_pa(const struct qrig *r, uint64_t off)
{
	return r->ram_base + off;
}

uint64_t qrig_rnd(struct qrig *r);
uint64_t qrig_rnd_below(struct qrig *r, uint64_t n);
/* IOH_QEMU_FULL set (make qemu-check): the long version. */
bool qrig_full_run(void);
/* IOH_QEMU_SEED, or the default seed. */
uint64_t qrig_base_seed(void);
/* The QEMU for target, or a skip with the line saying why. */
const char *qrig_qemu_or_skip(const char *target, const char *package);

/* A word of guest RAM by PA, kept in the shadow too (put) or read. */
void qrig_put64(struct qrig *r, uint64_t pa, uint64_t v);
uint64_t qrig_get64(const struct qrig *r, uint64_t pa);
/* The shadow takes what the RAM holds at [pa, pa + len) (RAM QEMU wrote). */
void qrig_absorb(struct qrig *r, uint64_t pa, uint64_t len);

/* Start ops' QEMU, take the baseline, ops->init. Asserts on failure. */
void qrig_start(struct qrig *r, const struct qrig_ops *ops, uint64_t seed);
void qrig_stop(struct qrig *r);

/* One edu transfer of 8 bytes; the fault it caused (ops->fault). */
struct qrig_fault qrig_edu_dma(struct qrig *r, uint64_t src, uint64_t dst,
			       bool to_ram);
/* Count a mismatch; the first eight are printed. */
void qrig_mismatch(struct qrig *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One expected translation: iova -> pa (taken from pt before loading). */
struct qrig_expect {
	uint64_t iova, pa;
	bool writable, hole;
	unsigned int size_lg2; /* of the leaf */
};
/* A write and a read through e, judged (docs/testing.md). */
void qrig_check(struct qrig *r, const struct qrig_expect *e);
/* Every page of guest RAM that holds data against the shadow. */
void qrig_compare_ram(struct qrig *r);

/* The table pool (pt_mem_ops over guest RAM; ctx is the rig). */
extern const struct pt_mem_ops qrig_pool_ops;

/*
 * A table to build: its format and width, and the leaf sizes a kernel
 * profile allows (profile NULL: every size pt has for the format).
 * qrig_table_cfg fills cfg from a profile (iommufd_profile_find_for,
 * iommufd_features, iommufd_pgsizes), asserting it exists for fmt.
 */
void qrig_table_cfg(struct pt_cfg *cfg, enum pt_format_id fmt,
		    unsigned int va_bits, unsigned int oa_bits,
		    const char *profile);

/* One conformance run (a fresh QEMU); see qrig_conformance. */
struct qrig_run {
	enum pt_format_id fmt;
	unsigned int va_bits, oa_bits;
	const char *profile;    /* kernel profile whose leaf sizes to use, or NULL */
	unsigned int ranges, leaves;
	uint64_t seed;
	/* Negative control: flip_bit >= 0 flips that address bit (plus the
	 * leaf's size lg2 if flip_above_leaf) in the PTE of the first
	 * planned writable word, after the expectations were taken. */
	int flip_bit;
	bool flip_above_leaf;
};

struct qrig_result {
	unsigned long dma, checks, mismatches, writes_ok, reads_ok, faults_ok;
	unsigned long leaf_words[64]; /* planned words in leaves of 2^i bytes */
};

/*
 * A fresh QEMU; pt builds a random intent in a table of run->cfg in the
 * pool, the plan samples first, last and a random word of leaves and
 * holes, ops->load, every check, RAM compared. Prints a summary.
 */
struct qrig_result qrig_conformance(struct qrig *r, const struct qrig_ops *ops,
				    const struct qrig_run *run);

/*
 * The switch under DMA: intent built twice (A, B), A loaded and half the
 * checks run, then ops->switch_root(B) with a check after it, the
 * invalidations (each followed by a check), A's pages poisoned, every
 * check again. QRIG_SW_NO_INVAL skips the invalidations; QRIG_SW_FREE_FIRST
 * poisons before them (eight checks between). Asserts no mismatch before
 * the switch.
 */
enum qrig_sw { QRIG_SW_SAFE, QRIG_SW_NO_INVAL, QRIG_SW_FREE_FIRST };
struct qrig_result qrig_switch(struct qrig *r, const struct qrig_ops *ops,
			       const struct qrig_run *run, enum qrig_sw v);

#endif /* IOH_TESTS_QEMU_RIG_H */
