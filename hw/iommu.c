// SPDX-License-Identifier: MIT
#include "hw/iommu.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi/hw_abi_ste.h"
#include "pt/pt.h"
#include "ioh/ioh.h"

/* ARM block descriptor bit 16: nT (FEAT_BBM, Arm ARM D8.3.1). */
#define ARM_BLOCK_NT HW_BIT(16)
#define ARM_DESC_TYPE HW_GENMASK(1, 0)
#define ARM_DESC_BLOCK 1u

#define CFG_SLOTS 64u
#define CD_SLOTS 64u
#define CD_PER_DEV (1u << HW_CD_MAX_LOG2)
#define TLB_MAX_HITS 8u

/* IOTLB entry flags. */
#define TLB_F_SHADOWED 0x1 /* memory maps this IOVA with another size */
#define TLB_F_REPORTED 0x2 /* its BBM violation was counted already */

struct tlb_entry {
	uint64_t va;   /* base IOVA, aligned to the entry size */
	uint64_t oa;   /* base output address */
	uint64_t born; /* insertion order; 0: empty way */
	uint64_t used; /* LRU stamp */
	uint64_t attr; /* raw attribute bits of the descriptor */
	uint64_t src;  /* leaf table page it was read from (0: nested) */
	uint64_t s2src; /* nested: stage-2 leaf table page of its output */
	uint32_t vtag; /* nested: stage-2 VMID + 1 (combined entry); else 0 */
	uint32_t ssid; /* substream whose configuration filled it (0: none) */
	uint32_t prot;
	uint16_t did;
	uint16_t sid;  /* stream whose walk filled it, for attribution */
	uint8_t size_lg2;
	uint8_t level;
	uint8_t flags;
	uint8_t fmt;
};

/* Walk cache: one table entry (at level >= 1) pointing at the next table. */
struct wc_entry {
	uint64_t prefix; /* va >> item_lg2(level) */
	uint64_t next_pa;
	uint64_t born;
	uint64_t used;
	uint16_t did;
	uint16_t sid;
	uint8_t level;
	uint8_t flags;
};

struct cache_set {
	pthread_mutex_t lock;
	uint64_t clock;
};

/* A configuration as the IOMMU decoded it (cached even when invalid). */
struct ste_state {
	uint32_t status; /* HW_EVT_NONE: usable; else the fault it raises */
	uint8_t mode;
	uint8_t fmt;
	uint8_t top_level;
	uint8_t top_lg2;   /* concatenated start level: 2^top_lg2 pages */
	uint8_t va_bits;
	uint16_t did;
	uint64_t root;
	/* Nested: stage 2 under the stage 1 above. */
	bool nested;
	uint8_t s2_fmt;
	uint8_t s2_top_level;
	uint8_t s2_top_lg2;
	uint8_t s2_va_bits;
	uint16_t vmid;
	uint64_t s2_root;
	/* Substreams: the CD table of a translate entry (cd_log2 0: none);
	 * for a CD's configuration, ssid is its substream. */
	uint8_t cd_log2;
	uint32_t ssid;
	uint64_t cdtab;
	/* A translation's own copy only: the unit's inv_started when it
	 * began (FILL_NEVER: an invalidation was under way), so that what
	 * it read is not cached past an invalidation. */
	uint64_t fill_gen;
};

struct cfg_slot {
	pthread_mutex_t lock;
	uint64_t gen;    /* bumped by invalidation: stale fetches not installed */
	bool cached;
	uint32_t sid;
	uint32_t ssid;   /* CD cache: the substream */
	struct ste_state st;
};

/* Torn-update tracking of one stream's entry (machine thread only). */
#define TORN_SEEN 8u
struct torn_track {
	bool have;
	uint64_t committed[HW_STE_WORDS];
	unsigned int nr_seen;
	uint64_t seen[TORN_SEEN][HW_STE_WORDS];
};

/* A CD as last committed by a CFGI_CD (the torn-mix rule's old state). */
struct cd_torn {
	bool have;
	uint64_t cdtab; /* the table it was read from */
	uint64_t committed[HW_CD_WORDS];
};

struct walk_leaf {
	uint64_t va;      /* base of the leaf (whole contiguous run) */
	uint64_t oa;
	uint64_t attr;
	uint64_t src;     /* leaf table page (PA) read; 0 for nested */
	uint64_t s2src;   /* nested: the stage-2 leaf page of the output */
	uint32_t prot;
	uint8_t size_lg2;
	uint8_t level;
	bool nt;          /* ARM block with nT: not cached at BBM level 1 */
};

/*
 * A device's ATC (PCIe ATS): translations the device obtained through the
 * IOMMU, used for its DMA without asking the IOMMU again until an ATC_INV
 * removes them. Each covers what the IOMMU's answer covered: the leaf (or
 * IOTLB entry) the translation came from, 4 KiB up to a block or a whole
 * contiguous run (a PCIe translation completion may state any power-of-two
 * range). src is the rig's provenance (the leaf table page the
 * translation was read from), for the checker only.
 */
#define ATC_F_REPORTED 0x1
struct atc_entry {
	uint64_t va;   /* base IOVA, aligned to the size; born 0: empty */
	uint64_t pa;   /* base PA */
	uint64_t src;
	uint64_t born;
	uint64_t used;
	uint32_t prot;
	uint32_t pasid;
	uint16_t flags;
	uint8_t size_lg2;
};

static uint64_t atc_size(const struct atc_entry *e)
{
	return 1ull << e->size_lg2;
}

struct atc {
	pthread_mutex_t lock;
	uint64_t gen;   /* bumped by ATC_INV: a racing fill is not installed */
	uint64_t clock;
	struct atc_entry e[HW_ATC_ENTRIES];
};

struct hw_iommu {
	struct hw_iommu_cfg cfg;
	struct physmem *pm;
	struct hw_regs *regs;
	unsigned int unit;          /* which of regs->unit[] this is */
	struct hw_unit_regs *u;
	uint64_t *freed_map;
	unsigned int bbm_level;

	unsigned int tlb_sets, tlb_ways;
	struct cache_set *tlb_set;
	struct tlb_entry *tlb;
	unsigned int wc_sets, wc_ways;
	struct cache_set *wc_set;
	struct wc_entry *wc;
	_Atomic uint64_t tlb_sizes; /* bit n: entries of 2^n bytes exist */
	_Atomic uint64_t born;
	_Atomic uint64_t epoch;
	/*
	 * An invalidation of the TLB and walk cache bumps inv_started before
	 * it looks at any set and inv_done once it has scrubbed them all. A
	 * translation that began before one started, or while one was under
	 * way (and may have used a walk-cache entry not scrubbed yet), may
	 * have read what it removes: its fills are dropped (checked under
	 * the set's lock) instead of landing after the set was scrubbed,
	 * where no SYNC would ever remove them.
	 */
	_Atomic uint64_t inv_started;
	_Atomic uint64_t inv_done;
	_Atomic uint64_t prng_seed_ctr;
	uint64_t instance;

	struct cfg_slot cfgc[CFG_SLOTS];
	struct cfg_slot cdc[CD_SLOTS];
	struct torn_track torn[HW_MAX_DEVS];
	struct cd_torn cd_torn[HW_MAX_DEVS][CD_PER_DEV];
	struct atc atc[HW_MAX_DEVS];

	pthread_mutex_t evtq_lock;
};

/* ---- small utilities ---- */


/*
 * Each thread draws from its own stream, seeded from the configured seed
 * and the order in which threads first used this IOMMU instance.
 */
static _Thread_local uint64_t prng_state;
static _Thread_local uint64_t prng_instance;
static _Atomic uint64_t iommu_instances;

static uint64_t prng_next(struct hw_iommu *m)
{
	if (prng_instance != m->instance) {
		prng_instance = m->instance;
		prng_state = (m->cfg.seed ^ 0x9e3779b97f4a7c15ull) +
			     atomic_fetch_add(&m->prng_seed_ctr, 1) *
				     0xbf58476d1ce4e5b9ull + 1;
	}
	uint64_t x = prng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	prng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* True with probability 1/2^lg2, in randomized mode only. */
static bool chance(struct hw_iommu *m, unsigned int lg2)
{
	return m->cfg.randomized && !(prng_next(m) & ((1ull << lg2) - 1));
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static unsigned int item_lg2(unsigned int level)
{
	return 12 + 9 * level;
}

/*
 * What the machine does differently per format, stated once. The
 * break-before-make rules follow the format's trait (pt_fmt_bbm_levels);
 * the rest is how each IOMMU's hardware behaves:
 *   whole_leaf_inv  a ranged invalidation removes a large leaf only when
 *                   the range covers all of it (VT-d page-selective
 *                   invalidation: a 2M page needs an address mask >= 9);
 *                   ARM's range TLBI removes every leaf it touches
 *   memattr         descriptor bits giving memory type, cacheability and
 *                   shareability: changing them on a live entry needs a
 *                   break, permissions do not. ARM (DDI 0487 D8.3): stage 1
 *                   AttrIndx 4:2, SH 9:8, nG 11; stage 2 MemAttr 5:2,
 *                   SH 9:8. VT-d second stage: SNP 11. x86-64: PWT 3, PCD 4.
 *                   AMD v1: FC 60. RISC-V: PBMT 62:61.
 * AMD's INVALIDATE_IOMMU_PAGES names a naturally aligned range (S bit),
 * and the model asks it to cover a whole large page, as VT-d's address
 * mask must; RISC-V's IOTINVAL.VMA with an address removes every leaf
 * translating that address, as ARM's range TLBI does.
 */
static const struct fmt_rules {
	bool whole_leaf_inv;
	uint64_t memattr;
} fmt_rules[PT_FMT_COUNT] = {
	[PT_FMT_ARM_S1] = { false, HW_GENMASK(4, 2) | HW_GENMASK(9, 8) | HW_BIT(11) },
	[PT_FMT_ARM_S2] = { false, HW_GENMASK(5, 2) | HW_GENMASK(9, 8) },
	[PT_FMT_VTD_SS] = { true, HW_BIT(11) },
	[PT_FMT_X86_64] = { true, HW_BIT(3) | HW_BIT(4) },
	[PT_FMT_AMD_V1] = { true, HW_BIT(60) },
	[PT_FMT_RISCV] = { false, HW_GENMASK(62, 61) },
};

static const struct fmt_rules *rules_of(unsigned int fmt)
{
	static const struct fmt_rules none = { true, 0 };
	return fmt < PT_FMT_COUNT ? &fmt_rules[fmt] : &none;
}

static bool fmt_bbm(unsigned int fmt)
{
	return fmt < PT_FMT_COUNT && pt_fmt_bbm_levels((enum pt_format_id)fmt);
}

static struct hw_dev_stats *dev_stats(struct hw_iommu *m, uint32_t sid)
{
	return sid < HW_MAX_DEVS ? &m->regs->dev_stats[sid] : NULL;
}

static void stat_inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* A counter of the unit and the machine-wide sum of it. */
#define UNIT_INC(m, field)                   \
	do {                                 \
		stat_inc(&(m)->u->field);    \
		stat_inc(&(m)->regs->field); \
	} while (0)

/* Whether stream sid's device sits behind this unit. */
static bool sid_here(const struct hw_iommu *m, uint32_t sid)
{
	return sid < HW_MAX_DEVS && hw_dev_unit(m->regs, sid) == m->unit;
}

static bool page_freed(const struct hw_iommu *m, uint64_t pa)
{
	uint64_t pfn = pa >> 12;
	if (pa >= m->pm->size)
		return false;
	_Atomic uint64_t *w = (_Atomic uint64_t *)&m->freed_map[pfn / 64];
	return (atomic_load_explicit(w, memory_order_acquire) >> (pfn % 64)) & 1;
}

static uint64_t mem_read64(const uint64_t *p)
{
	return atomic_load_explicit((_Atomic uint64_t *)p,
				    memory_order_acquire);
}

/* ---- events ---- */

/* The event log is the machine's, shared by every unit's instance. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void hw_iommu_event(struct hw_iommu *m, uint32_t type, uint32_t sid,
		    uint64_t iova, uint64_t info)
{
	struct hw_regs *r = m->regs;
	struct hw_unit_regs *u = m->u;
	struct hw_event ev = {
		.ts_ns = ioh_now_ns(), .type = type, .sid = sid,
		.iova = iova, .info = info,
	};
	/*
	 * Under the lock: once the log ring wraps (a flood of faults in
	 * abort mode) two engines can land on one slot, and an entry must
	 * not come out torn.
	 */
	pthread_mutex_lock(&log_lock);
	uint64_t i = atomic_fetch_add(&r->log_prod, 1);
	r->log[i & (HW_LOG_ENTRIES - 1)] = ev;
	pthread_mutex_unlock(&log_lock);
	if (type >= 0x80)
		return;
	pthread_mutex_lock(&m->evtq_lock);
	uint64_t prod = atomic_load(&u->evtq_prod);
	uint64_t cons = atomic_load(&u->evtq_cons);
	if (prod - cons >= HW_EVTQ_ENTRIES) {
		stat_inc(&u->evtq_overflow);
	} else {
		u->evtq[prod & (HW_EVTQ_ENTRIES - 1)] = ev;
		atomic_store_explicit(&u->evtq_prod, prod + 1,
				      memory_order_release);
	}
	pthread_mutex_unlock(&m->evtq_lock);
}

static void count_uaf(struct hw_iommu *m, uint32_t sid, uint64_t iova,
		      uint64_t page)
{
	struct hw_dev_stats *s = dev_stats(m, sid);
	if (s)
		stat_inc(&s->use_after_free);
	hw_iommu_event(m, HW_EVT_USE_AFTER_FREE, sid, iova, page);
}

static void count_bbm(struct hw_iommu *m, uint32_t sid, uint64_t iova,
		      uint64_t old_pa)
{
	struct hw_dev_stats *s = dev_stats(m, sid);
	if (s)
		stat_inc(&s->bbm_violations);
	hw_iommu_event(m, HW_EVT_BBM_VIOLATION, sid, iova, old_pa);
}

/* A fault on a transaction: recorded, then returned. */
static int xlate_fault(struct hw_iommu *m, struct hw_xlate *x, uint32_t sid,
		       uint64_t iova, uint32_t type, uint64_t info)
{
	struct hw_dev_stats *s = dev_stats(m, sid);
	if (s)
		stat_inc(type == HW_EVT_TLB_CONFLICT ? &s->conflicts
						     : &s->faults);
	if (type == HW_EVT_BAD_STE || type == HW_EVT_WALK_EABT ||
	    type == HW_EVT_STE_FETCH || type == HW_EVT_BAD_CD ||
	    type == HW_EVT_CD_FETCH)
		stat_inc(&m->regs->bad_input);
	hw_iommu_event(m, type, sid, iova, info);
	x->fault = type;
	return -EFAULT;
}

/* ---- configuration fetch, decode and cache ---- */

/* n words (a power of two) of a configuration entry, one at a time, in a
 * random order, as the hardware may read them. */
static void read_words(struct hw_iommu *m, const uint64_t *e, uint64_t *w,
		       unsigned int n)
{
	unsigned int start = (unsigned int)prng_next(m) % n;
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = (start + i * 3) % n;
		w[k] = mem_read64(&e[k]);
	}
}

/*
 * Read the words of sid's entry one by one in a random order, as the
 * hardware may. Returns the fault the fetch raises, or HW_EVT_NONE.
 */
static uint32_t ste_read_raw(struct hw_iommu *m, uint32_t sid,
			     uint64_t w[HW_STE_WORDS])
{
	uint32_t log2 = atomic_load(&m->u->strtab_log2);
	uint64_t base = atomic_load(&m->u->strtab_base);
	if (!log2 || log2 > HW_STRTAB_MAX_LOG2 || sid >> log2)
		return HW_EVT_BAD_STREAMID;
	const uint64_t *e = physmem_ptr(m->pm, base + (uint64_t)sid *
					HW_STE_SIZE, HW_STE_SIZE);
	if (!e || base % HW_STE_SIZE)
		return HW_EVT_STE_FETCH;
	read_words(m, e, w, HW_STE_WORDS);
	return HW_EVT_NONE;
}

/*
 * Read CD ssid of the table of st (a decoded translate entry) one word
 * at a time in a random order. Returns the fault, or HW_EVT_NONE.
 */
static uint32_t cd_read_raw(struct hw_iommu *m, const struct ste_state *st,
			    uint32_t ssid, uint64_t w[HW_CD_WORDS])
{
	if (!ssid || !st->cd_log2 || ssid >> st->cd_log2)
		return HW_EVT_BAD_SUBSTREAMID;
	const uint64_t *e = physmem_ptr(m->pm, st->cdtab + (uint64_t)ssid *
					HW_CD_SIZE, HW_CD_SIZE);
	if (!e)
		return HW_EVT_CD_FETCH;
	read_words(m, e, w, HW_CD_WORDS);
	return HW_EVT_NONE;
}

static int table_levels(uint64_t fmt, uint64_t va_bits)
{
	return fmt < PT_FMT_COUNT ?
		pt_fmt_levels_for((enum pt_format_id)fmt, (unsigned int)va_bits) :
		-1;
}

/*
 * The (stage-1 or only) table of a configuration: a format and width
 * the walker knows, the root aligned. A concatenated start level is
 * aligned to its whole size (IHI 0070 STE.S2TTB; a misaligned one is not
 * a configuration we accept). False: malformed.
 */
static bool decode_table(uint64_t fmt, uint64_t va_bits, uint64_t root,
			 struct ste_state *st)
{
	int levels = table_levels(fmt, va_bits);
	if (levels <= 0)
		return false;
	st->fmt = (uint8_t)fmt;
	st->va_bits = (uint8_t)va_bits;
	st->top_level = (uint8_t)(levels - 1);
	st->top_lg2 = (uint8_t)pt_fmt_top_lg2((enum pt_format_id)fmt,
					      (unsigned int)va_bits);
	st->root = root;
	return !(root & ((HW_BIT(12) << st->top_lg2) - 1));
}

static void ste_decode(const uint64_t w[HW_STE_WORDS], struct ste_state *st)
{
	memset(st, 0, sizeof(*st));
	if (!(w[0] & HW_STE0_V)) {
		st->status = HW_EVT_STE_ABORT;
		return;
	}
	for (unsigned int i = 0; i < HW_STE_WORDS; i++) {
		if (w[i] & ~hw_ste_defined(i)) {
			st->status = HW_EVT_BAD_STE;
			return;
		}
	}
	st->mode = (uint8_t)HW_FIELD_GET(HW_STE0_MODE, w[0]);
	switch (st->mode) {
	case HW_STE_MODE_ABORT:
		st->status = HW_EVT_STE_ABORT;
		return;
	case HW_STE_MODE_BYPASS:
		return;
	case HW_STE_MODE_TRANSLATE:
	case HW_STE_MODE_NESTED:
		break;
	default:
		st->status = HW_EVT_BAD_STE;
		return;
	}
	if (!decode_table(HW_FIELD_GET(HW_STE0_FMT, w[0]),
			  HW_FIELD_GET(HW_STE0_VA_BITS, w[0]),
			  w[1] & HW_STE1_ROOT, st)) {
		st->status = HW_EVT_BAD_STE;
		return;
	}
	st->did = (uint16_t)HW_FIELD_GET(HW_STE2_DID, w[2]);
	unsigned int cd_log2 = (unsigned int)HW_FIELD_GET(HW_STE6_CDLOG2, w[6]);
	if (cd_log2 > HW_CD_MAX_LOG2 ||
	    (cd_log2 && st->mode == HW_STE_MODE_NESTED)) {
		st->status = HW_EVT_BAD_STE;
		return;
	}
	st->cd_log2 = (uint8_t)cd_log2;
	st->cdtab = cd_log2 ? w[5] & HW_STE5_CDTAB : 0;
	if (st->mode != HW_STE_MODE_NESTED)
		return;
	int levels = table_levels(HW_FIELD_GET(HW_STE4_S2FMT, w[4]),
				  HW_FIELD_GET(HW_STE4_S2VA_BITS, w[4]));
	if (levels <= 0) {
		st->status = HW_EVT_BAD_STE;
		return;
	}
	st->nested = true;
	st->s2_fmt = (uint8_t)HW_FIELD_GET(HW_STE4_S2FMT, w[4]);
	st->s2_va_bits = (uint8_t)HW_FIELD_GET(HW_STE4_S2VA_BITS, w[4]);
	st->s2_top_level = (uint8_t)(levels - 1);
	st->s2_top_lg2 = (uint8_t)pt_fmt_top_lg2((enum pt_format_id)st->s2_fmt,
						 st->s2_va_bits);
	st->s2_root = w[3] & HW_STE3_S2ROOT;
	if (st->s2_root & ((HW_BIT(12) << st->s2_top_lg2) - 1)) {
		st->status = HW_EVT_BAD_STE;
		return;
	}
	st->vmid = (uint16_t)HW_FIELD_GET(HW_STE4_VMID, w[4]);
}

/* The configuration CD w (substream ssid) gives: a translate one. */
static void cd_decode(const uint64_t w[HW_CD_WORDS], uint32_t ssid,
		      struct ste_state *st)
{
	memset(st, 0, sizeof(*st));
	st->ssid = ssid;
	if (!(w[0] & HW_CD0_V)) {
		st->status = HW_EVT_CD_ABORT;
		return;
	}
	for (unsigned int i = 0; i < HW_CD_WORDS; i++) {
		if (w[i] & ~hw_cd_defined(i)) {
			st->status = HW_EVT_BAD_CD;
			return;
		}
	}
	st->mode = HW_STE_MODE_TRANSLATE;
	if (!decode_table(HW_FIELD_GET(HW_CD0_FMT, w[0]),
			  HW_FIELD_GET(HW_CD0_VA_BITS, w[0]),
			  w[1] & HW_CD1_ROOT, st)) {
		st->status = HW_EVT_BAD_CD;
		return;
	}
	st->did = (uint16_t)HW_FIELD_GET(HW_CD2_DID, w[2]);
}

/* Stage 2 of a nested configuration, as a configuration of its own. */
static struct ste_state stage2_of(const struct ste_state *st)
{
	struct ste_state s2 = {
		.mode = HW_STE_MODE_TRANSLATE, .fmt = st->s2_fmt,
		.top_level = st->s2_top_level, .top_lg2 = st->s2_top_lg2,
		.va_bits = st->s2_va_bits,
		.did = st->vmid, .root = st->s2_root,
	};
	return s2;
}

/* The IOTLB tag beyond the domain: combined entries carry the VMID. */
static uint32_t vtag_of(const struct ste_state *st)
{
	return st->nested ? (uint32_t)st->vmid + 1 : 0;
}

static void cfg_fetch(struct hw_iommu *m, uint32_t sid, struct ste_state *st)
{
	uint64_t w[HW_STE_WORDS];
	uint32_t err = ste_read_raw(m, sid, w);
	if (err) {
		memset(st, 0, sizeof(*st));
		st->status = err;
		return;
	}
	ste_decode(w, st);
}

/* The configuration of sid from the cache, fetching it on a miss. */
static void cfg_get(struct hw_iommu *m, uint32_t sid, struct ste_state *st)
{
	struct cfg_slot *c = &m->cfgc[sid % CFG_SLOTS];
	pthread_mutex_lock(&c->lock);
	if (c->cached && c->sid == sid && !chance(m, 10)) {
		*st = c->st;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	uint64_t gen = c->gen;
	pthread_mutex_unlock(&c->lock);

	cfg_fetch(m, sid, st);

	pthread_mutex_lock(&c->lock);
	if (c->gen == gen) {
		c->cached = true;
		c->sid = sid;
		c->st = *st;
	}
	pthread_mutex_unlock(&c->lock);
}

static void cfg_drop(struct cfg_slot *c, uint32_t sid, bool all)
{
	pthread_mutex_lock(&c->lock);
	if (all || c->sid == sid)
		c->cached = false;
	c->gen++;
	pthread_mutex_unlock(&c->lock);
}

static void cd_fetch(struct hw_iommu *m, const struct ste_state *ste,
		     uint32_t ssid, struct ste_state *st)
{
	uint64_t w[HW_CD_WORDS];
	uint32_t err = cd_read_raw(m, ste, ssid, w);
	if (err) {
		memset(st, 0, sizeof(*st));
		st->status = err;
		st->ssid = ssid;
		return;
	}
	cd_decode(w, ssid, st);
}

static struct cfg_slot *cd_slot(struct hw_iommu *m, uint32_t sid,
				uint32_t ssid)
{
	return &m->cdc[(sid * 37u + ssid) % CD_SLOTS];
}

/*
 * The configuration of substream ssid of stream sid, whose entry is ste:
 * a PASID the entry has no CD for faults at once (nothing cached);
 * otherwise the CD from the cache, fetched from ste's table on a miss.
 * The cache is keyed by (sid, ssid) only: a CD stays cached until a
 * CFGI_CD, CFGI_CD_ALL or CFGI_ALL drops it, whatever the memory says.
 */
static void cd_get(struct hw_iommu *m, const struct ste_state *ste,
		   uint32_t sid, uint32_t ssid, struct ste_state *st)
{
	if (ste->mode != HW_STE_MODE_TRANSLATE || !ste->cd_log2 ||
	    ssid >> ste->cd_log2) {
		memset(st, 0, sizeof(*st));
		st->status = HW_EVT_BAD_SUBSTREAMID;
		return;
	}
	struct cfg_slot *c = cd_slot(m, sid, ssid);
	pthread_mutex_lock(&c->lock);
	if (c->cached && c->sid == sid && c->ssid == ssid && !chance(m, 10)) {
		*st = c->st;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	uint64_t gen = c->gen;
	pthread_mutex_unlock(&c->lock);

	cd_fetch(m, ste, ssid, st);

	pthread_mutex_lock(&c->lock);
	if (c->gen == gen) {
		c->cached = true;
		c->sid = sid;
		c->ssid = ssid;
		c->st = *st;
	}
	pthread_mutex_unlock(&c->lock);
}

static void cd_drop(struct hw_iommu *m, uint32_t sid, uint32_t ssid)
{
	struct cfg_slot *c = cd_slot(m, sid, ssid);
	pthread_mutex_lock(&c->lock);
	if (c->sid == sid && c->ssid == ssid)
		c->cached = false;
	c->gen++;
	pthread_mutex_unlock(&c->lock);
}

/* ---- torn configuration updates (SMMUv3 3.21.3) ---- */

static bool ste_valid(const uint64_t w[HW_STE_WORDS])
{
	return w[0] & HW_STE0_V;
}

static bool torn_seen_already(const struct torn_track *t,
			      const uint64_t w[HW_STE_WORDS])
{
	for (unsigned int i = 0; i < t->nr_seen; i++)
		if (hw_ste_same_config(t->seen[i], w))
			return true;
	return false;
}

/* Record a state of sid's entry as the hardware could have read it. */
static void torn_sample(struct hw_iommu *m, uint32_t sid)
{
	struct torn_track *t = &m->torn[sid];
	uint64_t w[HW_STE_WORDS];
	if (ste_read_raw(m, sid, w))
		return;
	if (!t->have) {
		memcpy(t->committed, w, sizeof(w));
		t->have = true;
		return;
	}
	if (!ste_valid(w) || hw_ste_same_config(w, t->committed) ||
	    torn_seen_already(t, w) || t->nr_seen == TORN_SEEN)
		return;
	memcpy(t->seen[t->nr_seen++], w, sizeof(w));
}

static uint64_t ste_diff_words(const uint64_t a[HW_STE_WORDS],
			       const uint64_t b[HW_STE_WORDS])
{
	uint64_t mask = 0;
	for (unsigned int i = 0; i < HW_STE_WORDS; i++)
		if (a[i] != b[i])
			mask |= 1ull << i;
	return mask;
}

/*
 * Words of the new entry that, mixed with the old one, make a valid entry
 * configuring neither (0: none). The IOMMU reads an entry a 64-bit word
 * at a time, in any order and at any time, so between two configuration
 * invalidations it may read any such mix, however fast the host wrote
 * the words: no sampling needs to have caught it. Only from a valid old
 * entry: making an invalid entry valid is judged by the samples alone
 * (the V bit in the last store is the host's part of that rule).
 */
/* The same for any entry of n words whose V bit is bit 0 of word 0 (an
 * STE or a CD), under its same-configuration rule. */
static uint64_t torn_mix_words(const uint64_t *old, const uint64_t *now,
			       unsigned int n,
			       int (*same)(const uint64_t *, const uint64_t *))
{
	uint64_t diff = 0, mix[HW_STE_WORDS];
	for (unsigned int i = 0; i < n; i++)
		if (old[i] != now[i])
			diff |= 1ull << i;
	if (!(old[0] & 1))
		return 0;
	/* Every proper, non-empty subset of the changed words. */
	for (uint64_t s = (diff - 1) & diff; s; s = (s - 1) & diff) {
		for (unsigned int i = 0; i < n; i++)
			mix[i] = (s >> i) & 1 ? now[i] : old[i];
		if ((mix[0] & 1) && !same(mix, old) && !same(mix, now))
			return s;
	}
	return 0;
}

static int ste_same(const uint64_t *a, const uint64_t *b)
{
	return hw_ste_same_config(a, b);
}

static int cd_same(const uint64_t *a, const uint64_t *b)
{
	return hw_cd_same_config(a, b);
}

static uint64_t torn_mix(const uint64_t old[HW_STE_WORDS],
			 const uint64_t now[HW_STE_WORDS])
{
	return torn_mix_words(old, now, HW_STE_WORDS, ste_same);
}

/*
 * At a configuration invalidation: every valid state observed since the
 * previous one must be the old or the new configuration under its used
 * bits, and so must every valid mix of the two; anything else is a torn
 * mix the hardware may have acted on (counted once per invalidation when
 * only the mix shows it).
 */
static void torn_commit(struct hw_iommu *m, uint32_t sid)
{
	struct torn_track *t = &m->torn[sid];
	uint64_t now[HW_STE_WORDS];
	if (ste_read_raw(m, sid, now))
		return;
	if (t->have) {
		bool counted = false;
		for (unsigned int i = 0; i < t->nr_seen; i++) {
			if (hw_ste_same_config(t->seen[i], now) ||
			    hw_ste_same_config(t->seen[i], t->committed))
				continue;
			stat_inc(&m->regs->dev_stats[sid].torn_config);
			hw_iommu_event(m, HW_EVT_TORN_CONFIG, sid, 0,
				       ste_diff_words(t->seen[i], now));
			counted = true;
		}
		uint64_t mix = counted ? 0 : torn_mix(t->committed, now);
		if (mix) {
			stat_inc(&m->regs->dev_stats[sid].torn_config);
			hw_iommu_event(m, HW_EVT_TORN_CONFIG, sid, 0, mix);
		}
	}
	memcpy(t->committed, now, sizeof(now));
	t->have = true;
	t->nr_seen = 0;
}

/*
 * At a CFGI_CD of (sid, ssid): the torn-mix rule on the CD (a CD changed
 * in more than one used word between two invalidations may be read as a
 * mix configuring neither). A CD read from another table than the one
 * last committed is a new entry, not a change of it.
 */
static void cd_torn_commit(struct hw_iommu *m, uint32_t sid,
			   const struct ste_state *ste, uint32_t ssid)
{
	uint64_t now[HW_CD_WORDS];
	if (sid >= HW_MAX_DEVS || ssid >= CD_PER_DEV ||
	    cd_read_raw(m, ste, ssid, now))
		return;
	struct cd_torn *t = &m->cd_torn[sid][ssid];
	if (t->have && t->cdtab == ste->cdtab) {
		uint64_t mix = torn_mix_words(t->committed, now, HW_CD_WORDS,
					      cd_same);
		if (mix) {
			stat_inc(&m->regs->dev_stats[sid].torn_config);
			hw_iommu_event(m, HW_EVT_TORN_CONFIG, sid, ssid,
				       mix << HW_STE_WORDS);
		}
	}
	memcpy(t->committed, now, sizeof(now));
	t->cdtab = ste->cdtab;
	t->have = true;
}

/*
 * At a CFGI_STE: the CDs of a table the entry now points at, that no
 * CFGI_CD committed from that table yet, are taken as they are (the
 * table went live with them).
 */
static void cd_table_commit(struct hw_iommu *m, uint32_t sid)
{
	struct ste_state ste;
	cfg_fetch(m, sid, &ste);
	if (ste.status || ste.mode != HW_STE_MODE_TRANSLATE || !ste.cd_log2)
		return;
	for (uint32_t s = 1; !(s >> ste.cd_log2); s++) {
		struct cd_torn *t = &m->cd_torn[sid][s];
		if (t->have && t->cdtab == ste.cdtab)
			continue;
		t->have = false;
		cd_torn_commit(m, sid, &ste, s);
	}
}

/* CD invalidation of sid: substream ssid, or every one (all). */
static void cfgi_cds(struct hw_iommu *m, uint32_t sid, uint32_t ssid,
		     bool all)
{
	struct ste_state ste;
	cfg_fetch(m, sid, &ste);
	bool table = !ste.status && ste.mode == HW_STE_MODE_TRANSLATE &&
		     ste.cd_log2;
	for (uint32_t s = all ? 1 : ssid; s < (all ? CD_PER_DEV : ssid + 1);
	     s++) {
		if (table && !(s >> ste.cd_log2))
			cd_torn_commit(m, sid, &ste, s);
		cd_drop(m, sid, s);
	}
	atomic_fetch_add(&m->epoch, 1);
}

void hw_iommu_cfgi_cd(struct hw_iommu *m, uint32_t sid, uint32_t ssid)
{
	cfgi_cds(m, sid, ssid, false);
}

void hw_iommu_cfgi_cd_all(struct hw_iommu *m, uint32_t sid)
{
	cfgi_cds(m, sid, 0, true);
}

void hw_iommu_prefetch_configs(struct hw_iommu *m, uint32_t nr_sids)
{
	if (nr_sids > HW_MAX_DEVS)
		nr_sids = HW_MAX_DEVS;
	for (uint32_t sid = 0; sid < nr_sids; sid++) {
		struct ste_state st, cd;
		/* A unit only sees the streams of the devices behind it. */
		if (!sid_here(m, sid))
			continue;
		torn_sample(m, sid);
		cfg_get(m, sid, &st);
		/* Every CD of its table too (valid or not): the hardware
		 * may fetch any at any time. */
		if (!st.status && st.mode == HW_STE_MODE_TRANSLATE)
			for (uint32_t s = 1; st.cd_log2 && !(s >> st.cd_log2); s++)
				cd_get(m, &st, sid, s, &cd);
	}
}

/* ---- walker ---- */

/* Decode entry e at level; strips and reports nT of ARM blocks (BBM >= 1;
 * at level 0 of BBM the bit is RES0 and the entry is malformed). */
static void entry_decode(const struct hw_iommu *m, const struct pt_fmt *f,
			 unsigned int fmt, uint64_t e, unsigned int level,
			 struct pt_entry_info *info, bool *nt)
{
	*nt = false;
	if (fmt_bbm(fmt) && m->bbm_level >= 1 && level >= 1 &&
	    (e & ARM_DESC_TYPE) == ARM_DESC_BLOCK && (e & ARM_BLOCK_NT)) {
		*nt = true;
		e &= ~ARM_BLOCK_NT;
	}
	pt_fmt_decode(f, e, level, info);
}

static void leaf_from_info(const struct pt_fmt *f,
			   const struct pt_entry_info *info,
			   unsigned int level, uint64_t iova, bool nt,
			   struct walk_leaf *lf)
{
	unsigned int isz = item_lg2(level);
	unsigned int sz = isz;
	uint64_t item_va = iova & ~((1ull << isz) - 1);
	(void)f;
	if (info->replicated) {
		/* Every copy encodes the whole page and its base. */
		sz = isz + info->run_lg2;
		lf->size_lg2 = (uint8_t)sz;
		lf->va = iova & ~((1ull << sz) - 1);
		lf->oa = info->oa;
	} else {
		if (info->contig) {
			unsigned int run = isz + info->run_lg2;
			uint64_t off = item_va & ((1ull << run) - 1);
			/* A run whose addresses do not line up is taken
			 * item-sized. */
			if ((info->oa & ((1ull << run) - 1)) == off)
				sz = run;
		}
		lf->size_lg2 = (uint8_t)sz;
		lf->va = iova & ~((1ull << sz) - 1);
		lf->oa = info->oa - (item_va - lf->va);
	}
	lf->prot = info->prot;
	lf->attr = info->attr;
	lf->level = (uint8_t)level;
	lf->nt = nt;
}

#define WALK_CACHED 0x1  /* use and fill the walk cache */
#define WALK_CHECKER 0x2 /* the rig's ground truth: no UAF, no counters */

static bool wc_lookup(struct hw_iommu *m, uint16_t did, unsigned int level,
		      uint64_t iova, uint64_t *next_pa);
static void wc_insert(struct hw_iommu *m, const struct ste_state *st,
		      uint16_t sid, unsigned int level, uint64_t iova,
		      uint64_t next_pa);

static bool iova_in_range(const struct ste_state *st, uint64_t iova)
{
	if (st->va_bits >= 64)
		return true;
	uint64_t hi = iova >> (st->va_bits - 1);
	if (pt_fmt_sign_extends((enum pt_format_id)st->fmt))
		return hi == 0 || hi == (~0ull >> (st->va_bits - 1));
	return hi <= 1;
}

static uint32_t walk_tables(struct hw_iommu *m, const struct ste_state *st,
			    uint32_t sid, uint64_t iova, unsigned int flags,
			    uint64_t table, unsigned int level,
			    struct walk_leaf *lf, uint64_t *info);

/* Stage 2 of a nested configuration: ipa through st's stage-2 tables.
 * These translations are not cached on their own. */
static uint32_t s2_walk(struct hw_iommu *m, const struct ste_state *st,
			uint32_t sid, uint64_t ipa, unsigned int flags,
			struct walk_leaf *l2, uint64_t *info)
{
	struct ste_state s2 = stage2_of(st);
	return walk_tables(m, &s2, sid, ipa, flags & WALK_CHECKER, s2.root,
			   s2.top_level, l2, info);
}

/*
 * A stage-1 leaf of a nested configuration becomes a combined entry:
 * output through stage 2, size the smaller of the two, permissions both
 * grant (IHI 0070 3.2: combined stage 1 and 2 TLB entries).
 */
static uint32_t nest_leaf(struct hw_iommu *m, const struct ste_state *st,
			  uint32_t sid, uint64_t iova, unsigned int flags,
			  struct walk_leaf *lf, uint64_t *info)
{
	struct walk_leaf l2;
	uint64_t ipa = lf->oa + (iova - lf->va);
	uint32_t fault = s2_walk(m, st, sid, ipa, flags, &l2, info);
	if (fault)
		return fault;
	if (l2.size_lg2 < lf->size_lg2) {
		lf->size_lg2 = l2.size_lg2;
		lf->level = (uint8_t)((l2.size_lg2 - 12) / 9);
		lf->nt = false;
	}
	lf->va = iova & ~((1ull << lf->size_lg2) - 1);
	lf->oa = l2.oa + (ipa - l2.va) - (iova - lf->va);
	lf->s2src = l2.src;
	uint32_t rw = PT_PROT_READ | PT_PROT_WRITE;
	lf->prot = (lf->prot & ~rw) | (lf->prot & l2.prot & rw);
	return HW_EVT_NONE;
}

/*
 * Walk st's tables for iova from table at level. Returns HW_EVT_NONE
 * with *lf filled, or the fault type with *info (table PA for
 * WALK_EABT). In a nested configuration every table address and the
 * output are IPAs, translated through stage 2.
 */
static uint32_t walk_tables(struct hw_iommu *m, const struct ste_state *st,
			    uint32_t sid, uint64_t iova, unsigned int flags,
			    uint64_t table, unsigned int level,
			    struct walk_leaf *lf, uint64_t *info)
{
	const struct pt_fmt *f = pt_fmt_get((enum pt_format_id)st->fmt);
	*info = 0;
	if (!iova_in_range(st, iova))
		return HW_EVT_TRANSLATION;
	if (!(flags & WALK_CHECKER))
		UNIT_INC(m, walks);
	for (;;) {
		/* A concatenated start level indexes across its pages. */
		unsigned int items = PT_TABLE_ITEMS <<
			(level == st->top_level ? st->top_lg2 : 0);
		unsigned int idx = (unsigned int)(iova >> item_lg2(level)) &
				   (items - 1);
		uint64_t page = table + (uint64_t)(idx / PT_TABLE_ITEMS) *
					PT_TABLE_SIZE;
		uint64_t table_pa = page;
		if (st->nested) {
			struct walk_leaf l2;
			uint32_t fault = s2_walk(m, st, sid, page, flags, &l2,
						 info);
			if (fault)
				return fault;
			table_pa = l2.oa + (page - l2.va);
		}
		const uint64_t *t = physmem_ptr(m->pm, table_pa, PT_TABLE_SIZE);
		if (!t) {
			*info = table_pa;
			return HW_EVT_WALK_EABT;
		}
		if (!(flags & WALK_CHECKER) && page_freed(m, table_pa))
			count_uaf(m, sid, iova, table_pa);
		uint64_t e = mem_read64(&t[idx % PT_TABLE_ITEMS]);
		struct pt_entry_info ei;
		bool nt;
		entry_decode(m, f, st->fmt, e, level, &ei, &nt);
		switch (ei.type) {
		case PT_ENTRY_TABLE:
			if (level == 0)
				return HW_EVT_TRANSLATION;
			if (flags & WALK_CACHED)
				wc_insert(m, st, (uint16_t)sid, level, iova,
					  ei.oa);
			table = ei.oa;
			level--;
			continue;
		case PT_ENTRY_LEAF:
			leaf_from_info(f, &ei, level, iova, nt, lf);
			lf->src = st->nested ? 0 : table_pa;
			lf->s2src = 0;
			return st->nested ? nest_leaf(m, st, sid, iova, flags, lf,
						      info)
					  : HW_EVT_NONE;
		case PT_ENTRY_BAD:
			*info = e;
			if (!(flags & WALK_CHECKER))
				stat_inc(&m->regs->bad_input);
			return HW_EVT_TRANSLATION;
		default:
			return HW_EVT_TRANSLATION;
		}
	}
}

/*
 * A walk from the root, or from the deepest table the walk cache knows.
 * Nested walks use no walk cache (its tag has no stage-2 part).
 */
static uint32_t walk(struct hw_iommu *m, const struct ste_state *st,
		     uint32_t sid, uint64_t iova, unsigned int flags,
		     struct walk_leaf *lf, uint64_t *info)
{
	unsigned int level = st->top_level;
	uint64_t table = st->root;
	if (st->nested)
		flags &= ~(unsigned int)WALK_CACHED;
	if ((flags & WALK_CACHED) && !chance(m, 4)) {
		for (unsigned int l = 1; l <= st->top_level; l++) {
			if (wc_lookup(m, st->did, l, iova, &table)) {
				level = l - 1;
				break;
			}
		}
	}
	return walk_tables(m, st, sid, iova, flags, table, level, lf, info);
}

/* ---- caches ---- */

static struct cache_set *tlb_set_of(struct hw_iommu *m, uint16_t did,
				    unsigned int size_lg2, uint64_t va,
				    struct tlb_entry **ways)
{
	uint64_t h = mix64(((uint64_t)did << 48) ^ ((uint64_t)size_lg2 << 56) ^
			   (va >> size_lg2));
	unsigned int s = (unsigned int)(h & (m->tlb_sets - 1));
	*ways = &m->tlb[(size_t)s * m->tlb_ways];
	return &m->tlb_set[s];
}

static bool tlb_entry_hits(const struct tlb_entry *e, uint16_t did,
			   uint32_t vtag, unsigned int size_lg2, uint64_t iova)
{
	return e->born && e->did == did && e->vtag == vtag &&
	       e->size_lg2 == size_lg2 &&
	       (iova >> size_lg2) == (e->va >> size_lg2);
}

/* Every cached entry matching iova, of any size. */
static unsigned int tlb_collect(struct hw_iommu *m, uint16_t did,
				uint32_t vtag, uint64_t iova,
				struct tlb_entry *hits)
{
	unsigned int n = 0;
	uint64_t sizes = atomic_load_explicit(&m->tlb_sizes,
					      memory_order_relaxed);
	while (sizes && n < TLB_MAX_HITS) {
		unsigned int sz = (unsigned int)__builtin_ctzll(sizes);
		sizes &= sizes - 1;
		struct tlb_entry *ways;
		struct cache_set *set = tlb_set_of(m, did, sz, iova, &ways);
		pthread_mutex_lock(&set->lock);
		for (unsigned int w = 0; w < m->tlb_ways && n < TLB_MAX_HITS;
		     w++) {
			struct tlb_entry *e = &ways[w];
			if (!tlb_entry_hits(e, did, vtag, sz, iova))
				continue;
			if (chance(m, 8)) {
				e->born = 0;
				continue;
			}
			e->used = ++set->clock;
			hits[n++] = *e;
		}
		pthread_mutex_unlock(&set->lock);
	}
	return n;
}

static unsigned int pick_victim(struct hw_iommu *m, const struct tlb_entry *ways,
				unsigned int nways)
{
	unsigned int victim = 0;
	for (unsigned int w = 0; w < nways; w++) {
		if (!ways[w].born)
			return w;
		if (ways[w].used < ways[victim].used)
			victim = w;
	}
	if (m->cfg.randomized)
		victim = (unsigned int)(prng_next(m) % nways);
	return victim;
}

/*
 * Under a set's lock: an invalidation started since the translation
 * began. It either scrubbed this set already (a fill now would outlive
 * it) or will, and the fill is dropped either way.
 */
#define FILL_NEVER UINT64_MAX

static bool fill_stale(struct hw_iommu *m, const struct ste_state *st)
{
	return st->fill_gen == FILL_NEVER ||
	       atomic_load_explicit(&m->inv_started, memory_order_relaxed) !=
	       st->fill_gen;
}

/*
 * At a translation's start, before it reads anything: inv_started, or
 * FILL_NEVER while an invalidation is under way. An invalidation that
 * starts after the first load is seen by fill_stale(); one that ended
 * before the second has scrubbed every set already.
 */
static uint64_t fill_gen_now(struct hw_iommu *m)
{
	uint64_t s = atomic_load(&m->inv_started);
	return atomic_load(&m->inv_done) == s ? s : FILL_NEVER;
}

static void tlb_insert(struct hw_iommu *m, const struct ste_state *st,
		       uint32_t sid, const struct walk_leaf *lf)
{
	struct tlb_entry *ways;
	struct cache_set *set = tlb_set_of(m, st->did, lf->size_lg2, lf->va,
					   &ways);
	struct tlb_entry ne = {
		.va = lf->va, .oa = lf->oa, .prot = lf->prot, .did = st->did,
		.attr = lf->attr, .vtag = vtag_of(st), .src = lf->src,
		.s2src = lf->s2src,
		.sid = (uint16_t)sid, .ssid = st->ssid,
		.size_lg2 = lf->size_lg2, .level = lf->level, .fmt = st->fmt,
		.born = atomic_fetch_add(&m->born, 1) + 1,
	};
	atomic_fetch_or(&m->tlb_sizes, 1ull << lf->size_lg2);
	pthread_mutex_lock(&set->lock);
	if (fill_stale(m, st)) {
		pthread_mutex_unlock(&set->lock);
		return;
	}
	unsigned int w;
	for (w = 0; w < m->tlb_ways; w++)
		if (tlb_entry_hits(&ways[w], st->did, vtag_of(st),
				   lf->size_lg2, lf->va))
			break;
	if (w == m->tlb_ways)
		w = pick_victim(m, ways, m->tlb_ways);
	ne.used = ++set->clock;
	ways[w] = ne;
	pthread_mutex_unlock(&set->lock);
}

/* Set flags on the cached copy of e, if it is still there. */
static void tlb_mark(struct hw_iommu *m, const struct tlb_entry *e,
		     uint8_t flags)
{
	struct tlb_entry *ways;
	struct cache_set *set = tlb_set_of(m, e->did, e->size_lg2, e->va,
					   &ways);
	pthread_mutex_lock(&set->lock);
	for (unsigned int w = 0; w < m->tlb_ways; w++)
		if (ways[w].born == e->born)
			ways[w].flags |= flags;
	pthread_mutex_unlock(&set->lock);
}

static struct cache_set *wc_set_of(struct hw_iommu *m, uint16_t did,
				   unsigned int level, uint64_t prefix,
				   struct wc_entry **ways)
{
	uint64_t h = mix64(((uint64_t)did << 48) ^ ((uint64_t)level << 56) ^
			   prefix);
	unsigned int s = (unsigned int)(h & (m->wc_sets - 1));
	*ways = &m->wc[(size_t)s * m->wc_ways];
	return &m->wc_set[s];
}

static bool wc_lookup(struct hw_iommu *m, uint16_t did, unsigned int level,
		      uint64_t iova, uint64_t *next_pa)
{
	uint64_t prefix = iova >> item_lg2(level);
	struct wc_entry *ways;
	struct cache_set *set = wc_set_of(m, did, level, prefix, &ways);
	bool hit = false;
	pthread_mutex_lock(&set->lock);
	for (unsigned int w = 0; w < m->wc_ways; w++) {
		struct wc_entry *e = &ways[w];
		if (e->born && e->did == did && e->level == level &&
		    e->prefix == prefix) {
			e->used = ++set->clock;
			*next_pa = e->next_pa;
			hit = true;
			break;
		}
	}
	pthread_mutex_unlock(&set->lock);
	return hit;
}

static void wc_insert(struct hw_iommu *m, const struct ste_state *st,
		      uint16_t sid, unsigned int level, uint64_t iova,
		      uint64_t next_pa)
{
	uint16_t did = st->did;
	uint64_t prefix = iova >> item_lg2(level);
	struct wc_entry *ways;
	struct cache_set *set = wc_set_of(m, did, level, prefix, &ways);
	uint64_t born = atomic_fetch_add(&m->born, 1) + 1;
	pthread_mutex_lock(&set->lock);
	if (fill_stale(m, st)) {
		pthread_mutex_unlock(&set->lock);
		return;
	}
	unsigned int w, victim = 0;
	for (w = 0; w < m->wc_ways; w++) {
		struct wc_entry *e = &ways[w];
		if (e->born && e->did == did && e->level == level &&
		    e->prefix == prefix)
			break;
		if (!e->born || (ways[victim].born && e->used < ways[victim].used))
			victim = w;
	}
	if (w == m->wc_ways)
		w = m->cfg.randomized ? (unsigned int)(prng_next(m) % m->wc_ways)
				      : victim;
	ways[w] = (struct wc_entry){
		.prefix = prefix, .next_pa = next_pa, .born = born,
		.used = ++set->clock, .did = did, .sid = sid,
		.level = (uint8_t)level,
	};
	pthread_mutex_unlock(&set->lock);
}

/* ---- the checker: cached entries against the tables in memory ---- */

enum gt_verdict { GT_NONE, GT_SAME, GT_SIZE, GT_CHANGED };

static bool same_translation(unsigned int fmt, uint64_t pa_a, uint64_t attr_a,
			     uint64_t pa_b, uint64_t attr_b)
{
	return pa_a == pa_b && !((attr_a ^ attr_b) & rules_of(fmt)->memattr);
}

static enum gt_verdict gt_check_at(struct hw_iommu *m,
				   const struct ste_state *st,
				   const struct tlb_entry *e, uint64_t a)
{
	struct walk_leaf lf;
	uint64_t info;
	if (walk(m, st, e->sid, a, WALK_CHECKER, &lf, &info))
		return GT_SAME; /* broken or unmapped: a legal break */
	if (!same_translation(e->fmt, e->oa + (a - e->va), e->attr,
			      lf.oa + (a - lf.va), lf.attr))
		return GT_CHANGED;
	return lf.size_lg2 != e->size_lg2 ? GT_SIZE : GT_SAME;
}

/*
 * Compare a cached leaf with what its stream's current configuration
 * maps now, at its first and last page and one page chosen at random.
 */
/* Configurations read from memory once per checker pass. */
struct scrub_ctx {
	bool have[HW_MAX_DEVS];
	struct ste_state st[HW_MAX_DEVS];
};

static const struct ste_state *scrub_config(struct hw_iommu *m,
					    struct scrub_ctx *sc, uint32_t sid)
{
	if (sid >= HW_MAX_DEVS)
		return NULL;
	if (!sc->have[sid]) {
		cfg_fetch(m, sid, &sc->st[sid]);
		sc->have[sid] = true;
	}
	return &sc->st[sid];
}

static enum gt_verdict gt_check(struct hw_iommu *m, struct scrub_ctx *sc,
				const struct tlb_entry *e)
{
	const struct ste_state *cur = scrub_config(m, sc, e->sid);
	struct ste_state st;
	if (!cur || cur->status)
		return GT_NONE;
	st = *cur;
	/* An entry a substream filled: that substream's CD as memory has it. */
	if (e->ssid) {
		if (st.mode != HW_STE_MODE_TRANSLATE || !st.cd_log2 ||
		    e->ssid >> st.cd_log2)
			return GT_NONE;
		cd_fetch(m, cur, e->ssid, &st);
		if (st.status)
			return GT_NONE;
	}
	if (st.mode != HW_STE_MODE_TRANSLATE || st.did != e->did ||
	    st.fmt != e->fmt || e->vtag)
		return GT_NONE;
	uint64_t size = 1ull << e->size_lg2;
	uint64_t pages = size >> 12;
	uint64_t samples[3] = { e->va, e->va + size - 4096,
				e->va + ((prng_next(m) % pages) << 12) };
	enum gt_verdict v = GT_SAME;
	for (unsigned int i = 0; i < (pages > 1 ? 3u : 1u); i++) {
		enum gt_verdict vi = gt_check_at(m, &st, e, samples[i]);
		if (vi == GT_CHANGED)
			return vi;
		if (vi == GT_SIZE)
			v = vi;
	}
	return v;
}

/* Check one cached leaf; flags it and counts a violation once. */
static void scrub_entry(struct hw_iommu *m, struct scrub_ctx *sc,
			struct tlb_entry *e)
{
	/*
	 * A combined entry outlived the stage-2 table its output came
	 * from: the stage 2 was replaced or changed and freed without the
	 * combined entries' invalidation (by VMID) completing first.
	 */
	if (e->vtag && e->s2src && !(e->flags & TLB_F_REPORTED) &&
	    page_freed(m, e->s2src)) {
		e->flags |= TLB_F_REPORTED;
		count_uaf(m, e->sid, e->va, e->s2src);
		return;
	}
	switch (gt_check(m, sc, e)) {
	case GT_SIZE:
		e->flags |= TLB_F_SHADOWED;
		break;
	case GT_CHANGED:
		if (!(e->flags & TLB_F_REPORTED)) {
			e->flags |= TLB_F_REPORTED;
			count_bbm(m, e->sid, e->va, e->oa);
		}
		break;
	case GT_SAME:
		e->flags &= (uint8_t)~TLB_F_SHADOWED;
		break;
	case GT_NONE:
		break;
	}
}

static void scrub_wc_entry(struct hw_iommu *m, struct wc_entry *e)
{
	if ((e->flags & TLB_F_REPORTED) || !page_freed(m, e->next_pa))
		return;
	e->flags |= TLB_F_REPORTED;
	count_uaf(m, e->sid, e->prefix << item_lg2(e->level), e->next_pa);
}

static void atc_check_all(struct hw_iommu *m, uint32_t sid);

void hw_iommu_scrub(struct hw_iommu *m)
{
	struct scrub_ctx sc = { .have = { false } };
	for (unsigned int s = 0; s < m->tlb_sets; s++) {
		pthread_mutex_lock(&m->tlb_set[s].lock);
		for (unsigned int w = 0; w < m->tlb_ways; w++) {
			struct tlb_entry *e = &m->tlb[(size_t)s * m->tlb_ways + w];
			if (e->born)
				scrub_entry(m, &sc, e);
		}
		pthread_mutex_unlock(&m->tlb_set[s].lock);
	}
	for (unsigned int s = 0; s < m->wc_sets; s++) {
		pthread_mutex_lock(&m->wc_set[s].lock);
		for (unsigned int w = 0; w < m->wc_ways; w++) {
			struct wc_entry *e = &m->wc[(size_t)s * m->wc_ways + w];
			if (e->born)
				scrub_wc_entry(m, e);
		}
		pthread_mutex_unlock(&m->wc_set[s].lock);
	}
	for (uint32_t sid = 0; sid < HW_MAX_DEVS; sid++)
		if (sid_here(m, sid))
			atc_check_all(m, sid);
	atomic_fetch_add(&m->regs->scrubs, 1);
}

/* ---- invalidation ---- */

struct inv_scope {
	bool all;
	bool by_vmid;   /* every combined entry of vmid + 1 == vtag */
	bool s2_only;   /* stage-2-only entries: the model caches none */
	uint32_t vtag;
	uint16_t did;
	bool ranged;
	uint64_t va, last;
	bool leaf;      /* walk cache spared */
	int ttl_level;  /* -1: any */
};

static bool inv_hits_tlb(const struct inv_scope *sc, const struct tlb_entry *e)
{
	if (sc->all)
		return true;
	if (sc->s2_only)
		return false;
	if (sc->by_vmid)
		return e->vtag == sc->vtag;
	if (e->did != sc->did)
		return false;
	if (!sc->ranged)
		return true;
	uint64_t last = e->va + (1ull << e->size_lg2) - 1;
	if (e->va > sc->last || last < sc->va)
		return false;
	/* VT-d page-selective invalidation: a large page goes only when the
	 * address mask covers all of it (a 2M page needs AM >= 9). */
	if (rules_of(e->fmt)->whole_leaf_inv && (e->va < sc->va || last > sc->last))
		return false;
	return sc->ttl_level < 0 || e->level == sc->ttl_level;
}

static bool inv_hits_wc(const struct inv_scope *sc, const struct wc_entry *e)
{
	if (sc->all)
		return true;
	if (sc->s2_only || sc->by_vmid)
		return false;
	if (e->did != sc->did)
		return false;
	if (!sc->ranged)
		return true;
	if (sc->leaf)
		return false;
	uint64_t va = e->prefix << item_lg2(e->level);
	uint64_t last = va + (1ull << item_lg2(e->level)) - 1;
	if (va > sc->last || last < sc->va)
		return false;
	/* TTL names the leaf level: only table entries above it go. */
	return sc->ttl_level < 0 || e->level > sc->ttl_level;
}

static void invalidate(struct hw_iommu *m, const struct inv_scope *sc)
{
	struct scrub_ctx ctx = { .have = { false } };
	atomic_fetch_add(&m->inv_started, 1);
	for (unsigned int s = 0; s < m->tlb_sets; s++) {
		pthread_mutex_lock(&m->tlb_set[s].lock);
		for (unsigned int w = 0; w < m->tlb_ways; w++) {
			struct tlb_entry *e = &m->tlb[(size_t)s * m->tlb_ways + w];
			if (!e->born || !inv_hits_tlb(sc, e))
				continue;
			/* A live entry changed in place shows now at the latest. */
			scrub_entry(m, &ctx, e);
			e->born = 0;
		}
		pthread_mutex_unlock(&m->tlb_set[s].lock);
	}
	for (unsigned int s = 0; s < m->wc_sets; s++) {
		pthread_mutex_lock(&m->wc_set[s].lock);
		for (unsigned int w = 0; w < m->wc_ways; w++) {
			struct wc_entry *e = &m->wc[(size_t)s * m->wc_ways + w];
			if (!e->born || !inv_hits_wc(sc, e))
				continue;
			/* Freed while the walk cache could still reach it. */
			scrub_wc_entry(m, e);
			e->born = 0;
		}
		pthread_mutex_unlock(&m->wc_set[s].lock);
	}
	atomic_fetch_add(&m->inv_done, 1);
	atomic_fetch_add(&m->epoch, 1);
}

void hw_iommu_tlbi_all(struct hw_iommu *m)
{
	struct inv_scope sc = { .all = true, .ttl_level = -1 };
	invalidate(m, &sc);
}

void hw_iommu_tlbi_domain(struct hw_iommu *m, uint16_t did)
{
	struct inv_scope sc = { .did = did, .ttl_level = -1 };
	invalidate(m, &sc);
}

void hw_iommu_tlbi_range(struct hw_iommu *m, uint16_t did, uint64_t va,
			 uint64_t last, bool leaf, int ttl_level)
{
	struct inv_scope sc = { .did = did, .ranged = true, .va = va,
				.last = last, .leaf = leaf,
				.ttl_level = ttl_level };
	invalidate(m, &sc);
}

void hw_iommu_tlbi_vmid(struct hw_iommu *m, uint16_t vmid)
{
	struct inv_scope sc = { .by_vmid = true, .vtag = (uint32_t)vmid + 1,
				.ttl_level = -1 };
	invalidate(m, &sc);
}

void hw_iommu_tlbi_s2_range(struct hw_iommu *m, uint16_t vmid, uint64_t ipa,
			    uint64_t last)
{
	/* Stage-2 translations are only held inside combined entries,
	 * which an IPA-based invalidation need not (and here does not)
	 * hit: IHI 0070 4.4.2, TLBI_S2_IPA. */
	struct inv_scope sc = { .s2_only = true, .vtag = (uint32_t)vmid + 1,
				.va = ipa, .last = last, .ttl_level = -1 };
	invalidate(m, &sc);
}

void hw_iommu_cfgi_ste(struct hw_iommu *m, uint32_t sid)
{
	if (sid < HW_MAX_DEVS) {
		torn_commit(m, sid);
		cd_table_commit(m, sid);
	}
	cfg_drop(&m->cfgc[sid % CFG_SLOTS], sid, false);
	atomic_fetch_add(&m->epoch, 1);
}

void hw_iommu_cfgi_all(struct hw_iommu *m)
{
	for (uint32_t sid = 0; sid < HW_MAX_DEVS; sid++) {
		torn_commit(m, sid);
		cfgi_cds(m, sid, 0, true);
	}
	for (unsigned int i = 0; i < CFG_SLOTS; i++)
		cfg_drop(&m->cfgc[i], 0, true);
	for (unsigned int i = 0; i < CD_SLOTS; i++)
		cfg_drop(&m->cdc[i], 0, true);
	atomic_fetch_add(&m->epoch, 1);
}

unsigned int hw_iommu_unit(const struct hw_iommu *m)
{
	return m->unit;
}

uint64_t hw_iommu_epoch(const struct hw_iommu *m)
{
	return atomic_load((_Atomic uint64_t *)&m->epoch);
}

/* ---- translation ---- */

static bool is_only_contig_change(const struct tlb_entry *hits,
				  unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		if (hits[i].level != hits[0].level)
			return false;
	return true;
}

static unsigned int pick_one(struct hw_iommu *m, const struct tlb_entry *hits,
			     unsigned int n)
{
	if (m->cfg.randomized)
		return (unsigned int)(prng_next(m) % n);
	unsigned int oldest = 0;
	for (unsigned int i = 1; i < n; i++)
		if (hits[i].born < hits[oldest].born)
			oldest = i;
	return oldest;
}

/*
 * Several cached entries match iova (SMMUv3 3.21.1, Intel SDM 4.10.2.3).
 * Returns the index used, or -1 for a TLB conflict abort.
 */
static int resolve_multi_hit(struct hw_iommu *m, struct tlb_entry *hits,
			     unsigned int n, uint64_t iova)
{
	for (unsigned int i = 1; i < n; i++) {
		if (same_translation(hits[0].fmt,
				     hits[0].oa + (iova - hits[0].va),
				     hits[0].attr,
				     hits[i].oa + (iova - hits[i].va),
				     hits[i].attr))
			continue;
		/* Entries that disagree: a live change without a break. */
		if (!((hits[0].flags | hits[i].flags) & TLB_F_REPORTED)) {
			count_bbm(m, hits[i].sid, iova, hits[0].oa);
			tlb_mark(m, &hits[0], TLB_F_REPORTED);
			tlb_mark(m, &hits[i], TLB_F_REPORTED);
		}
	}
	if (fmt_bbm(hits[0].fmt)) {
		if (m->bbm_level == 0)
			return -1;
		if (m->bbm_level == 1 && !is_only_contig_change(hits, n))
			return -1;
	}
	return (int)pick_one(m, hits, n);
}

static bool leaf_cacheable(const struct hw_iommu *m, const struct walk_leaf *lf)
{
	/* BBM level 1: nT blocks are never cached in a conflicting way;
	 * the model does not cache them at all. */
	return !(lf->nt && m->bbm_level == 1);
}

/*
 * A hit on an entry whose memory now has another size: the hardware may
 * walk and cache the new size too (prefetch is always allowed); the
 * strict model does, making the multi-hit the rules then judge.
 */
static unsigned int fill_shadow(struct hw_iommu *m, const struct ste_state *st,
				uint32_t sid, uint64_t iova,
				struct tlb_entry *hits, unsigned int n)
{
	struct walk_leaf lf;
	uint64_t info;
	/* From memory: the walk cache may be stale, and skipping it is
	 * always allowed. */
	if (walk(m, st, sid, iova, 0, &lf, &info) || !leaf_cacheable(m, &lf))
		return n;
	for (unsigned int i = 0; i < n; i++)
		if (hits[i].size_lg2 == lf.size_lg2)
			return n;
	tlb_insert(m, st, sid, &lf);
	return tlb_collect(m, st->did, vtag_of(st), iova, hits);
}

static bool any_shadowed(const struct tlb_entry *hits, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (hits[i].flags & TLB_F_SHADOWED)
			return true;
	return false;
}

static bool prot_allows(uint32_t prot, enum hw_access access)
{
	return access == HW_ACCESS_WRITE ? (prot & PT_PROT_WRITE)
					 : (prot & PT_PROT_READ);
}

/*
 * What the IOMMU itself answers (a translated transaction, or an ATS
 * translation request): *leaf gets the permissions the leaf grants and
 * its table page; *cacheable says whether a device may keep the answer
 * (not for bypass).
 */
struct xlate_leaf {
	uint32_t prot;
	uint64_t src;
	uint8_t size_lg2;  /* of the IOTLB entry or leaf that answered */
	bool cacheable;
};

static int iommu_xlate(struct hw_iommu *m, uint32_t sid, uint32_t pasid,
		       uint64_t iova, enum hw_access access, struct hw_xlate *x,
		       struct xlate_leaf *leaf, bool quiet)
{
	/* An ATS request the strict device makes on its own records no
	 * fault: the device just gets no translation. */
#define FAULT(type, info) \
	(quiet ? (x->fault = (type), -EFAULT) \
	       : xlate_fault(m, x, sid, iova, (type), (info)))
	struct ste_state st;
	x->fault = HW_EVT_NONE;
	leaf->cacheable = false;
	/* Before anything is read: see fill_stale(). */
	uint64_t fill_gen = fill_gen_now(m);
	cfg_get(m, sid, &st);
	if (st.status)
		return FAULT(st.status, 0);
	if (pasid) {
		struct ste_state cd;
		cd_get(m, &st, sid, pasid, &cd);
		if (cd.status)
			return FAULT(cd.status, pasid);
		st = cd;
	}
	st.fill_gen = fill_gen;
	if (st.mode == HW_STE_MODE_BYPASS) {
		if (!physmem_contains(m->pm, iova, 1))
			return FAULT(HW_EVT_TRANSLATION, iova);
		x->pa = iova;
		return 0;
	}

	struct tlb_entry hits[TLB_MAX_HITS];
	uint64_t oa;
	uint32_t prot;
	unsigned int n = tlb_collect(m, st.did, vtag_of(&st), iova, hits);
	if (n && any_shadowed(hits, n))
		n = fill_shadow(m, &st, sid, iova, hits, n);
	if (n) {
		UNIT_INC(m, iotlb_hits);
		int i = n == 1 ? 0 : resolve_multi_hit(m, hits, n, iova);
		if (i < 0)
			return FAULT(HW_EVT_TLB_CONFLICT, n);
		oa = hits[i].oa + (iova - hits[i].va);
		prot = hits[i].prot;
		leaf->src = hits[i].src;
		leaf->size_lg2 = hits[i].size_lg2;
	} else {
		struct walk_leaf lf;
		uint64_t info;
		UNIT_INC(m, iotlb_misses);
		uint32_t fault = walk(m, &st, sid, iova, WALK_CACHED, &lf,
				      &info);
		if (fault)
			return FAULT(fault, info);
		if (leaf_cacheable(m, &lf))
			tlb_insert(m, &st, sid, &lf);
		oa = lf.oa + (iova - lf.va);
		prot = lf.prot;
		leaf->src = lf.src;
		leaf->size_lg2 = lf.size_lg2;
	}
	if (!prot_allows(prot, access))
		return FAULT(HW_EVT_PERMISSION, oa);
	x->pa = oa;
	leaf->prot = prot;
	leaf->cacheable = true;
	return 0;
#undef FAULT
}

/* ---- the ATC of an ATS device ---- */

/* A consistent copy of dev's oracle, or false while the host writes it. */
static bool oracle_snapshot(struct hw_iommu *m, uint32_t dev,
			    struct hw_oracle_range *r, uint32_t *nr)
{
	struct hw_oracle *o = &m->regs->oracle[dev];
	uint64_t seq = atomic_load(&o->seq);
	if (seq & 1)
		return false;
	uint32_t n = o->nr;
	if (n > HW_ORACLE_RANGES)
		n = HW_ORACLE_RANGES;
	memcpy(r, o->r, n * sizeof(*r));
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load(&o->seq) != seq)
		return false;
	*nr = n;
	return true;
}

static void count_stale_atc(struct hw_iommu *m, uint32_t sid,
			    struct atc_entry *e)
{
	if (e->flags & ATC_F_REPORTED)
		return;
	e->flags |= ATC_F_REPORTED;
	stat_inc(&m->regs->dev_stats[sid].stale_atc);
	hw_iommu_event(m, HW_EVT_STALE_ATC, sid, e->va, e->pa);
}

/*
 * The checker on one ATC entry (lock held): stale if the table page its
 * translation was read from has been freed (the ATC outlived the table:
 * the invalidation did not complete before the free), or if the oracle
 * now maps its page elsewhere. An IOVA the oracle does not map is a
 * translation waiting for its invalidation: legal, since no DMA of the
 * device uses it.
 */
static void atc_check(struct hw_iommu *m, uint32_t sid, struct atc_entry *e,
		      const struct hw_oracle_range *r, uint32_t nr)
{
	if (e->flags & ATC_F_REPORTED)
		return;
	if (e->src && page_freed(m, e->src)) {
		count_stale_atc(m, sid, e);
		return;
	}
	/* Every range of the oracle the entry overlaps must map its part
	 * of the entry as the entry does. */
	uint64_t last = e->va + (atc_size(e) - 1);
	for (uint32_t i = 0; i < nr; i++) {
		if (!r[i].len || r[i].pasid != e->pasid || r[i].iova > last ||
		    r[i].iova + (r[i].len - 1) < e->va)
			continue;
		uint64_t at = r[i].iova > e->va ? r[i].iova : e->va;
		if (r[i].pa + (at - r[i].iova) != e->pa + (at - e->va)) {
			count_stale_atc(m, sid, e);
			return;
		}
	}
}

static void atc_check_all(struct hw_iommu *m, uint32_t sid)
{
	struct hw_oracle_range r[HW_ORACLE_RANGES];
	uint32_t nr = 0;
	struct atc *a = &m->atc[sid];
	if (!oracle_snapshot(m, sid, r, &nr))
		nr = 0;
	pthread_mutex_lock(&a->lock);
	for (unsigned int i = 0; i < HW_ATC_ENTRIES; i++)
		if (a->e[i].born)
			atc_check(m, sid, &a->e[i], r, nr);
	pthread_mutex_unlock(&a->lock);
}

/* Keeps the IOMMU's answer for iova (pa: its translation) as one entry
 * of the answer's size. */
static void atc_insert(struct hw_iommu *m, struct atc *a, uint64_t gen,
		       uint32_t pasid, uint64_t iova, uint64_t pa,
		       const struct xlate_leaf *lf)
{
	unsigned int lg2 = lf->size_lg2 >= 12 && lf->size_lg2 < 64 ? lf->size_lg2 : 12;
	uint64_t off = iova & ((1ull << lg2) - 1);
	uint64_t va = iova - off;
	pa -= off;
	pthread_mutex_lock(&a->lock);
	if (a->gen != gen) {
		/* An invalidation ran since the request: the answer may be
		 * one it was meant to remove (PCIe ATS: a completion for a
		 * request older than the invalidation is discarded). */
		pthread_mutex_unlock(&a->lock);
		return;
	}
	unsigned int w, victim = 0;
	for (w = 0; w < HW_ATC_ENTRIES; w++) {
		if (a->e[w].born && a->e[w].va == va &&
		    a->e[w].size_lg2 == lg2 && a->e[w].pasid == pasid)
			break;
		if (!a->e[w].born ||
		    (a->e[victim].born && a->e[w].used < a->e[victim].used))
			victim = w;
	}
	if (w == HW_ATC_ENTRIES)
		w = (m->cfg.randomized && a->e[victim].born)
			    ? (unsigned int)(prng_next(m) % HW_ATC_ENTRIES)
			    : victim;
	a->e[w] = (struct atc_entry){
		.va = va, .pa = pa, .src = lf->src, .prot = lf->prot,
		.pasid = pasid, .size_lg2 = (uint8_t)lg2,
		.born = atomic_fetch_add(&m->born, 1) + 1,
		.used = ++a->clock,
	};
	pthread_mutex_unlock(&a->lock);
}

/* An ATS device's DMA: its ATC first, else a translation request. */
static int atc_translate(struct hw_iommu *m, uint32_t sid, uint32_t pasid,
			 uint64_t iova, enum hw_access access,
			 struct hw_xlate *x)
{
	struct atc *a = &m->atc[sid];
	struct hw_dev_stats *s = &m->regs->dev_stats[sid];
	pthread_mutex_lock(&a->lock);
	for (unsigned int w = 0; w < HW_ATC_ENTRIES; w++) {
		struct atc_entry *e = &a->e[w];
		if (!e->born || e->pasid != pasid ||
		    iova - e->va >= atc_size(e) ||
		    !prot_allows(e->prot, access))
			continue;
		if (chance(m, 8)) {
			e->born = 0; /* randomized: a spontaneous drop */
			break;
		}
		e->used = ++a->clock;
		x->pa = e->pa + (iova - e->va);
		x->atc = e->born;
		pthread_mutex_unlock(&a->lock);
		stat_inc(&s->atc_hits);
		return 0;
	}
	uint64_t gen = a->gen;
	pthread_mutex_unlock(&a->lock);
	stat_inc(&s->atc_misses);
	struct xlate_leaf lf;
	int err = iommu_xlate(m, sid, pasid, iova, access, x, &lf, false);
	if (!err && lf.cacheable)
		atc_insert(m, a, gen, pasid, iova, x->pa, &lf);
	return err;
}

int hw_iommu_translate_pasid(struct hw_iommu *m, uint32_t sid,
			     uint32_t pasid, uint64_t iova,
			     enum hw_access access, struct hw_xlate *x)
{
	x->atc = 0;
	if (sid < HW_MAX_DEVS &&
	    atomic_load_explicit(&m->regs->dev_ctl[sid].ats,
				 memory_order_relaxed))
		return atc_translate(m, sid, pasid, iova, access, x);
	struct xlate_leaf lf;
	return iommu_xlate(m, sid, pasid, iova, access, x, &lf, false);
}

int hw_iommu_translate(struct hw_iommu *m, uint32_t sid, uint64_t iova,
		       enum hw_access access, struct hw_xlate *x)
{
	return hw_iommu_translate_pasid(m, sid, 0, iova, access, x);
}

void hw_iommu_atc_misdirected(struct hw_iommu *m, uint32_t sid, uint64_t id)
{
	if (sid >= HW_MAX_DEVS || !id)
		return;
	struct atc *a = &m->atc[sid];
	pthread_mutex_lock(&a->lock);
	for (unsigned int w = 0; w < HW_ATC_ENTRIES; w++)
		if (a->e[w].born == id)
			count_stale_atc(m, sid, &a->e[w]);
	pthread_mutex_unlock(&a->lock);
}

/*
 * ATC_INV: entries of sid in [va, last] are checked (an entry whose table
 * was freed before this invalidation shows now at the latest) and
 * removed. Then the strict device asks again at once for every page it
 * lost (a device may request a translation at any time): through an
 * IOTLB not invalidated yet, the refill is stale.
 */
void hw_iommu_atc_inv(struct hw_iommu *m, uint32_t sid, uint64_t va,
		      uint64_t last)
{
	if (sid >= HW_MAX_DEVS)
		return;
	struct atc *a = &m->atc[sid];
	struct hw_oracle_range r[HW_ORACLE_RANGES];
	uint32_t nr = 0;
	struct { uint64_t va; uint32_t prot, pasid; } refill[HW_ATC_ENTRIES];
	unsigned int nrefill = 0;
	if (!oracle_snapshot(m, sid, r, &nr))
		nr = 0;
	pthread_mutex_lock(&a->lock);
	for (unsigned int w = 0; w < HW_ATC_ENTRIES; w++) {
		struct atc_entry *e = &a->e[w];
		/* An entry overlapping the range goes whole. */
		if (!e->born || e->va > last || e->va + (atc_size(e) - 1) < va)
			continue;
		atc_check(m, sid, e, r, nr);
		refill[nrefill].va = e->va;
		refill[nrefill].pasid = e->pasid;
		refill[nrefill++].prot = e->prot;
		e->born = 0;
	}
	a->gen++;
	uint64_t gen = a->gen;
	pthread_mutex_unlock(&a->lock);
	stat_inc(&m->regs->dev_stats[sid].atc_invalidations);
	atomic_fetch_add(&m->epoch, 1);
	if (!atomic_load(&m->regs->dev_ctl[sid].ats))
		return;
	for (unsigned int i = 0; i < nrefill; i++) {
		struct hw_xlate x;
		struct xlate_leaf lf;
		enum hw_access acc = (refill[i].prot & PT_PROT_READ)
					     ? HW_ACCESS_READ
					     : HW_ACCESS_WRITE;
		if (!iommu_xlate(m, sid, refill[i].pasid, refill[i].va, acc,
				 &x, &lf, true) && lf.cacheable)
			atc_insert(m, a, gen, refill[i].pasid, refill[i].va,
				   x.pa, &lf);
	}
}

/* ---- life cycle ---- */

void hw_iommu_cfg_default(struct hw_iommu_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->seed = 1;
	c->tlb_sets_lg2 = 8;
	c->tlb_ways = 8;
	c->walk_sets_lg2 = 6;
	c->walk_ways = 4;
}

static int sets_init(struct cache_set **sets, unsigned int n)
{
	*sets = calloc(n, sizeof(**sets));
	if (!*sets)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++)
		pthread_mutex_init(&(*sets)[i].lock, NULL);
	return 0;
}

static void sets_fini(struct cache_set *sets, unsigned int n)
{
	if (!sets)
		return;
	for (unsigned int i = 0; i < n; i++)
		pthread_mutex_destroy(&sets[i].lock);
	free(sets);
}

int hw_iommu_create(struct hw_iommu **out, const struct hw_iommu_cfg *cfg,
		    struct physmem *pm, struct hw_regs *regs,
		    uint64_t *freed_map)
{
	return hw_iommu_create_unit(out, cfg, pm, regs, freed_map, 0);
}

int hw_iommu_create_unit(struct hw_iommu **out, const struct hw_iommu_cfg *cfg,
			 struct physmem *pm, struct hw_regs *regs,
			 uint64_t *freed_map, unsigned int unit)
{
	if (cfg->tlb_sets_lg2 > 20 || cfg->walk_sets_lg2 > 20 ||
	    !cfg->tlb_ways || cfg->tlb_ways > 64 || !cfg->walk_ways ||
	    cfg->walk_ways > 64 || regs->bbm_level > 2 ||
	    unit >= HW_MAX_UNITS)
		return -EINVAL;
	struct hw_iommu *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->instance = atomic_fetch_add(&iommu_instances, 1) + 1;
	m->pm = pm;
	m->regs = regs;
	m->unit = unit;
	m->u = &regs->unit[unit];
	m->freed_map = freed_map;
	m->bbm_level = regs->bbm_level;
	for (unsigned int i = 0; i < CFG_SLOTS; i++)
		pthread_mutex_init(&m->cfgc[i].lock, NULL);
	for (unsigned int i = 0; i < CD_SLOTS; i++)
		pthread_mutex_init(&m->cdc[i].lock, NULL);
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++)
		pthread_mutex_init(&m->atc[i].lock, NULL);
	pthread_mutex_init(&m->evtq_lock, NULL);
	m->tlb_sets = 1u << cfg->tlb_sets_lg2;
	m->tlb_ways = cfg->tlb_ways;
	m->wc_sets = 1u << cfg->walk_sets_lg2;
	m->wc_ways = cfg->walk_ways;
	m->tlb = calloc((size_t)m->tlb_sets * m->tlb_ways, sizeof(*m->tlb));
	m->wc = calloc((size_t)m->wc_sets * m->wc_ways, sizeof(*m->wc));
	int err = (!m->tlb || !m->wc) ? -ENOMEM : 0;
	if (!err)
		err = sets_init(&m->tlb_set, m->tlb_sets);
	if (!err)
		err = sets_init(&m->wc_set, m->wc_sets);
	if (err) {
		hw_iommu_destroy(m);
		return err;
	}
	*out = m;
	return 0;
}

void hw_iommu_destroy(struct hw_iommu *m)
{
	if (!m)
		return;
	sets_fini(m->tlb_set, m->tlb_sets);
	sets_fini(m->wc_set, m->wc_sets);
	free(m->tlb);
	free(m->wc);
	for (unsigned int i = 0; i < CFG_SLOTS; i++)
		pthread_mutex_destroy(&m->cfgc[i].lock);
	for (unsigned int i = 0; i < CD_SLOTS; i++)
		pthread_mutex_destroy(&m->cdc[i].lock);
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++)
		pthread_mutex_destroy(&m->atc[i].lock);
	pthread_mutex_destroy(&m->evtq_lock);
	free(m);
}
