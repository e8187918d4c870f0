// SPDX-License-Identifier: MIT
#include "iommufd/iommu_drv.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "abi/hw_abi_ste.h"
#include "pt/pt.h"
#include "ioh/ioh.h"

#define DRV_TIMEOUT_NS 10000000000ull /* generous: sanitizers are slow */
/* A sleep on the machine's doorbell lasts at most this (a bound, not a poll). */
#define WAIT_SLICE_NS 1000000ull

/*
 * Wait for the machine: a short spin, then sleep on its doorbell, which
 * it rings after every store a driver waits for (docs/hw.md). -ETIMEDOUT
 * after the driver's timeout.
 */
static int drv_wait(struct iommu_drv *d, bool (*cond)(void *arg), void *arg)
{
	return ioh_bell_wait(&d->regs->host_bell, cond, arg,
			     ioh_now_ns() + d->timeout_ns, WAIT_SLICE_NS) ?
	       0 : -ETIMEDOUT;
}

int iommu_drv_init(struct iommu_drv *d, struct hw_regs *regs,
		   uint64_t *freed_map, const struct physmem *pm)
{
	if (!regs || regs->magic != HW_ABI_MAGIC ||
	    regs->abi_version != HW_ABI_VERSION ||
	    regs->physmem_size != pm->size)
		return -EINVAL;
	d->regs = regs;
	d->freed_map = freed_map;
	d->pm = pm;
	d->timeout_ns = DRV_TIMEOUT_NS;
	/* A generation killed while writing an oracle left it odd. */
	for (unsigned int dev = 0; dev < HW_MAX_DEVS; dev++) {
		uint64_t seq = atomic_load(&regs->oracle[dev].seq);
		if (seq & 1)
			atomic_store(&regs->oracle[dev].seq, seq + 1);
	}
	return 0;
}

int iommu_drv_set_strtab(struct iommu_drv *d, uint64_t pa, unsigned int log2)
{
	if (log2 > HW_STRTAB_MAX_LOG2 ||
	    !physmem_contains(d->pm, pa, (uint64_t)HW_STE_SIZE << log2))
		return -EINVAL;
	atomic_store(&d->regs->strtab_base, pa);
	atomic_store(&d->regs->strtab_log2, log2);
	return 0;
}

/* ---- command queue ---- */

struct cmdq_room {
	struct hw_regs *r;
	uint64_t prod;
	unsigned int n;
};

static bool cmdq_has_room(void *arg)
{
	const struct cmdq_room *q = arg;
	return q->prod + q->n - atomic_load_explicit(&q->r->cmdq_cons,
						     memory_order_acquire) <=
	       HW_CMDQ_ENTRIES;
}

int iommu_drv_submit(struct iommu_drv *d, const struct hw_cmd *cmds,
		     unsigned int n)
{
	struct hw_regs *r = d->regs;
	if (n > HW_CMDQ_ENTRIES)
		return -EINVAL;
	/* Injected: the queue stays full past the timeout. */
	if (ioh_fail("drv.submit"))
		return -EBUSY;
	uint64_t prod = atomic_load(&r->cmdq_prod);
	struct cmdq_room q = { r, prod, n };
	if (drv_wait(d, cmdq_has_room, &q))
		return -EBUSY;
	for (unsigned int i = 0; i < n; i++)
		r->cmdq[(prod + i) & (HW_CMDQ_ENTRIES - 1)] = cmds[i];
	/* Orders table and entry writes, then commands, before prod. */
	atomic_store_explicit(&r->cmdq_prod, prod + n, memory_order_seq_cst);
	ioh_bell_ring(&r->cmd_bell);
	return 0;
}

struct sync_wait {
	struct hw_regs *r;
	uint64_t seq;
};

static bool sync_reached(void *arg)
{
	const struct sync_wait *w = arg;
	return (int64_t)(atomic_load_explicit(&w->r->sync_done,
					      memory_order_acquire) - w->seq) >= 0;
}

static int wait_sync(struct iommu_drv *d, uint64_t seq)
{
	struct sync_wait w = { d->regs, seq };
	return drv_wait(d, sync_reached, &w);
}

/*
 * Submit cmds followed by a SYNC in one submission (one doorbell, one
 * wait): the machine consumes commands in order and completes the SYNC
 * only after those before it, and every transaction in flight, are done.
 * The sequence is the SYNC's queue index + 1: unique across host
 * generations, since the queue indices live in the hardware.
 */
static int submit_sync(struct iommu_drv *d, const struct hw_cmd *cmds,
		       unsigned int n)
{
	struct hw_cmd c[IOMMU_DRV_BATCH + 1];
	if (n > IOMMU_DRV_BATCH)
		return -EINVAL;
	if (n)
		memcpy(c, cmds, n * sizeof(*c));
	uint64_t seq = atomic_load(&d->regs->cmdq_prod) + n + 1;
	c[n] = (struct hw_cmd){ { HW_FIELD_PREP(HW_CMD_OP, HW_CMD_SYNC), seq } };
	int err = iommu_drv_submit(d, c, n + 1);
	/* Injected: the sync was queued but not seen to complete in time. */
	if (!err && ioh_fail("drv.sync"))
		return -ETIMEDOUT;
	return err ? err : wait_sync(d, seq);
}

int iommu_drv_sync(struct iommu_drv *d)
{
	return submit_sync(d, NULL, 0);
}

static int submit_one(struct iommu_drv *d, uint64_t w0, uint64_t w1)
{
	struct hw_cmd c = { { w0, w1 } };
	return iommu_drv_submit(d, &c, 1);
}

int iommu_drv_cfgi_ste(struct iommu_drv *d, uint32_t sid)
{
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_CFGI_STE) |
			  HW_FIELD_PREP(HW_CMD_SID, sid), 0);
}

static uint64_t cfgi_cd_cmd(uint32_t sid, uint32_t ssid)
{
	return HW_FIELD_PREP(HW_CMD_OP, HW_CMD_CFGI_CD) |
	       HW_FIELD_PREP(HW_CMD_SID, sid) | HW_FIELD_PREP(HW_CMD_SSID, ssid);
}

int iommu_drv_cfgi_cd(struct iommu_drv *d, uint32_t sid, uint32_t ssid)
{
	return submit_one(d, cfgi_cd_cmd(sid, ssid), 0);
}

int iommu_drv_cfgi_cd_sync(struct iommu_drv *d, uint32_t sid, uint32_t ssid)
{
	struct hw_cmd c = { { cfgi_cd_cmd(sid, ssid), 0 } };
	return submit_sync(d, &c, 1);
}

int iommu_drv_cfgi_cd_all(struct iommu_drv *d, uint32_t sid)
{
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_CFGI_CD_ALL) |
			  HW_FIELD_PREP(HW_CMD_SID, sid), 0);
}

int iommu_drv_tlbi_domain(struct iommu_drv *d, uint16_t did)
{
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_DOMAIN) |
			  HW_FIELD_PREP(HW_CMD_DID, did), 0);
}

int iommu_drv_tlbi_domain_sync(struct iommu_drv *d, uint16_t did)
{
	struct hw_cmd c = { { HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_DOMAIN) |
			      HW_FIELD_PREP(HW_CMD_DID, did), 0 } };
	return submit_sync(d, &c, 1);
}

int iommu_drv_cfgi_stes_sync(struct iommu_drv *d, const uint32_t *sids,
			     unsigned int n)
{
	struct hw_cmd c[IOMMU_DRV_BATCH];
	if (n > IOMMU_DRV_BATCH)
		return -EINVAL;
	for (unsigned int k = 0; k < n; k++)
		c[k] = (struct hw_cmd){ {
			HW_FIELD_PREP(HW_CMD_OP, HW_CMD_CFGI_STE) |
			HW_FIELD_PREP(HW_CMD_SID, sids[k]), 0 } };
	return submit_sync(d, c, n);
}

int iommu_drv_tlbi_all(struct iommu_drv *d)
{
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_ALL), 0);
}

int iommu_drv_tlbi_vmid(struct iommu_drv *d, uint16_t vmid)
{
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_VMID) |
			  HW_FIELD_PREP(HW_CMD_DID, vmid), 0);
}

static unsigned int floor_lg2(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

/* Range commands (NUM+1) * 2^SCALE pages each, covering [va, va + len). */
static int submit_ranges(struct iommu_drv *d, uint64_t w0, uint64_t va,
			 uint64_t len)
{
	uint64_t pages = len >> 12;
	while (pages) {
		/* (NUM + 1) * 2^SCALE pages, NUM < 32. */
		unsigned int lg = floor_lg2(pages);
		unsigned int scale = lg > 4 ? lg - 4 : 0;
		uint64_t num = (pages >> scale) - 1;
		if (num > 31)
			num = 31;
		int err = submit_one(d, w0 | HW_FIELD_PREP(HW_CMD_NUM, num) |
				     HW_FIELD_PREP(HW_CMD_SCALE, scale),
				     va & HW_CMD1_ADDR);
		if (err)
			return err;
		uint64_t done = (num + 1) << scale;
		va += done << 12;
		pages -= done;
	}
	return 0;
}

int iommu_drv_tlbi_range(struct iommu_drv *d, uint16_t did, uint64_t va,
			 uint64_t len, unsigned int flags, int level_hint)
{
	if ((va | len) & 0xfff || !len || level_hint > 4 || level_hint < -1)
		return -EINVAL;
	return submit_ranges(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_RANGE) |
			     HW_FIELD_PREP(HW_CMD_DID, did) |
			     HW_FIELD_PREP(HW_CMD_TTL, level_hint + 1) |
			     ((flags & IOMMU_DRV_LEAF) ? HW_CMD_LEAF : 0),
			     va, len);
}

int iommu_drv_tlbi_s2_range(struct iommu_drv *d, uint16_t vmid, uint64_t ipa,
			    uint64_t len)
{
	if ((ipa | len) & 0xfff || !len)
		return -EINVAL;
	return submit_ranges(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_TLBI_S2_RANGE) |
			     HW_FIELD_PREP(HW_CMD_DID, vmid), ipa, len);
}

/*
 * One ATC_INV covering [va, va + len): the smallest naturally aligned
 * power-of-two span of pages that contains it (as Linux's
 * arm_smmu_atc_inv_to_cmd computes it; a device may drop more than asked).
 */
int iommu_drv_atc_inv(struct iommu_drv *d, uint32_t sid, uint64_t va,
		      uint64_t len)
{
	if (sid >= HW_MAX_DEVS || (va | len) & 0xfff || !len ||
	    va + len - 1 < va)
		return -EINVAL;
	uint64_t first = va >> 12, last = (va + len - 1) >> 12;
	unsigned int size = first == last ? 0 : floor_lg2(first ^ last) + 1;
	if (size >= HW_ATC_INV_SIZE_ALL)
		return iommu_drv_atc_inv_all(d, sid);
	first &= ~((1ull << size) - 1);
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_ATC_INV) |
			  HW_FIELD_PREP(HW_CMD_SID, sid) |
			  HW_FIELD_PREP(HW_CMD_ATC_SIZE, size),
			  (first << 12) & HW_CMD1_ADDR);
}

int iommu_drv_atc_inv_all(struct iommu_drv *d, uint32_t sid)
{
	if (sid >= HW_MAX_DEVS)
		return -EINVAL;
	return submit_one(d, HW_FIELD_PREP(HW_CMD_OP, HW_CMD_ATC_INV) |
			  HW_FIELD_PREP(HW_CMD_SID, sid) |
			  HW_FIELD_PREP(HW_CMD_ATC_SIZE, HW_ATC_INV_SIZE_ALL),
			  0);
}

/* ---- stream table entries ---- */

static _Atomic uint64_t *ste_ptr(struct iommu_drv *d, uint32_t sid)
{
	uint32_t log2 = atomic_load(&d->regs->strtab_log2);
	if (!log2 || sid >> log2)
		return NULL;
	return physmem_ptr(d->pm, atomic_load(&d->regs->strtab_base) +
			   (uint64_t)sid * HW_STE_SIZE, HW_STE_SIZE);
}

int iommu_drv_read_ste(struct iommu_drv *d, uint32_t sid,
		       uint64_t ste[HW_STE_WORDS])
{
	_Atomic uint64_t *e = ste_ptr(d, sid);
	if (!e)
		return -EINVAL;
	for (unsigned int i = 0; i < HW_STE_WORDS; i++)
		ste[i] = atomic_load(&e[i]);
	return 0;
}

/*
 * The steps that take an entry of n words from cur to target (as Linux's
 * arm_smmu_write_entry): bits the hardware ignores now first, then the
 * one critical word (hitless); or, when more than one word's used bits
 * change, through V=0 (disruptive). Returns whether it is hitless. An
 * STE and a CD both have V in bit 0 of word 0; used gives their used
 * bits.
 */
typedef void (*entry_used_fn)(const uint64_t *e, uint64_t *used);

static bool entry_plan(unsigned int n, entry_used_fn used,
		       const uint64_t *cur, const uint64_t *target,
		       uint64_t step[3][HW_STE_WORDS])
{
	uint64_t used_cur[HW_STE_WORDS], used_tgt[HW_STE_WORDS];
	used(cur, used_cur);
	used(target, used_tgt);
	unsigned int critical = 0, crit_word = 0;
	for (unsigned int i = 0; i < n; i++) {
		step[0][i] = (cur[i] & used_cur[i]) | (target[i] & ~used_cur[i]);
		if ((step[0][i] & used_tgt[i]) != (target[i] & used_tgt[i])) {
			critical++;
			crit_word = i;
		}
	}
	size_t bytes = n * sizeof(uint64_t);
	if (critical <= 1) {
		memcpy(step[1], step[0], bytes);
		if (critical)
			step[1][crit_word] = target[crit_word];
	} else {
		memcpy(step[0], cur, bytes);
		step[0][0] &= ~HW_BIT(0);
		memcpy(step[1], target, bytes);
		step[1][0] = cur[0] & ~HW_BIT(0);
	}
	memcpy(step[2], target, bytes);
	return critical <= 1;
}

static bool ste_plan(const uint64_t cur[HW_STE_WORDS],
		     const uint64_t target[HW_STE_WORDS],
		     uint64_t step[3][HW_STE_WORDS])
{
	return entry_plan(HW_STE_WORDS, hw_ste_used, cur, target, step);
}

int iommu_drv_write_stes(struct iommu_drv *d, unsigned int n,
			 const uint32_t *sids,
			 const uint64_t (*target)[HW_STE_WORDS], bool *hitless,
			 void (*stored)(void *arg), void *arg)
{
	_Atomic uint64_t *e[IOMMU_DRV_BATCH];
	uint64_t cur[IOMMU_DRV_BATCH][HW_STE_WORDS];
	uint64_t step[IOMMU_DRV_BATCH][3][HW_STE_WORDS];
	bool all_hitless = true;
	if (n > IOMMU_DRV_BATCH)
		return -EINVAL;
	for (unsigned int k = 0; k < n; k++) {
		e[k] = ste_ptr(d, sids[k]);
		if (!e[k])
			return -EINVAL;
		for (unsigned int j = 0; j < k; j++)
			if (sids[j] == sids[k])
				return -EINVAL;
		for (unsigned int i = 0; i < HW_STE_WORDS; i++)
			cur[k][i] = atomic_load(&e[k][i]);
		all_hitless &= ste_plan(cur[k], target[k], step[k]);
	}
	if (hitless)
		*hitless = all_hitless;
	/*
	 * Step by step, every entry at once: each entry still changes by
	 * one step between two of its invalidations, and every step is
	 * invalidated and synced before the next one is written; only the
	 * entries' steps share one CFGI batch and one SYNC.
	 */
	for (unsigned int s = 0; s < 3; s++) {
		struct hw_cmd c[IOMMU_DRV_BATCH];
		unsigned int nc = 0;
		for (unsigned int k = 0; k < n; k++) {
			bool changed = false;
			for (unsigned int i = 0; i < HW_STE_WORDS; i++) {
				if (cur[k][i] == step[k][s][i])
					continue;
				atomic_store_explicit(&e[k][i], step[k][s][i],
						      memory_order_release);
				cur[k][i] = step[k][s][i];
				changed = true;
			}
			if (!changed)
				continue;
			if (stored && !nc)
				stored(arg);
			c[nc++] = (struct hw_cmd){ {
				HW_FIELD_PREP(HW_CMD_OP, HW_CMD_CFGI_STE) |
				HW_FIELD_PREP(HW_CMD_SID, sids[k]), 0 } };
		}
		if (nc) {
			int err = submit_sync(d, c, nc);
			if (err)
				return err;
		}
	}
	return 0;
}

int iommu_drv_write_ste(struct iommu_drv *d, uint32_t sid,
			const uint64_t target[HW_STE_WORDS], bool *hitless)
{
	const uint64_t (*t)[HW_STE_WORDS] = (const uint64_t (*)[HW_STE_WORDS])target;
	return iommu_drv_write_stes(d, 1, &sid, t, hitless, NULL, NULL);
}

/* ---- context descriptors ---- */

static _Atomic uint64_t *cd_ptr(struct iommu_drv *d, uint64_t cdtab,
				unsigned int cd_log2, uint32_t ssid)
{
	if (!ssid || !cd_log2 || cd_log2 > HW_CD_MAX_LOG2 || ssid >> cd_log2 ||
	    cdtab % PT_TABLE_SIZE)
		return NULL;
	return physmem_ptr(d->pm, cdtab + (uint64_t)ssid * HW_CD_SIZE,
			   HW_CD_SIZE);
}

int iommu_drv_read_cd(struct iommu_drv *d, uint64_t cdtab,
		      unsigned int cd_log2, uint32_t ssid,
		      uint64_t cd[HW_CD_WORDS])
{
	_Atomic uint64_t *e = cd_ptr(d, cdtab, cd_log2, ssid);
	if (!e)
		return -EINVAL;
	for (unsigned int i = 0; i < HW_CD_WORDS; i++)
		cd[i] = atomic_load(&e[i]);
	return 0;
}

int iommu_drv_write_cd(struct iommu_drv *d, uint32_t sid, uint64_t cdtab,
		       unsigned int cd_log2, uint32_t ssid,
		       const uint64_t target[HW_CD_WORDS], unsigned int flags,
		       bool *hitless)
{
	return iommu_drv_write_cd_cb(d, sid, cdtab, cd_log2, ssid, target,
				     flags, hitless, NULL, NULL);
}

int iommu_drv_write_cd_cb(struct iommu_drv *d, uint32_t sid, uint64_t cdtab,
			  unsigned int cd_log2, uint32_t ssid,
			  const uint64_t target[HW_CD_WORDS], unsigned int flags,
			  bool *hitless, void (*stored)(void *arg), void *arg)
{
	_Atomic uint64_t *e = cd_ptr(d, cdtab, cd_log2, ssid);
	uint64_t cur[HW_CD_WORDS], step[3][HW_STE_WORDS];
	if (!e || sid >= HW_MAX_DEVS)
		return -EINVAL;
	for (unsigned int i = 0; i < HW_CD_WORDS; i++)
		cur[i] = atomic_load(&e[i]);
	bool h = entry_plan(HW_CD_WORDS, hw_cd_used, cur, target, step);
	if (hitless)
		*hitless = h;
	for (unsigned int s = 0; s < 3; s++) {
		bool changed = false;
		for (unsigned int i = 0; i < HW_CD_WORDS; i++) {
			if (cur[i] == step[s][i])
				continue;
			atomic_store_explicit(&e[i], step[s][i],
					      memory_order_release);
			cur[i] = step[s][i];
			changed = true;
		}
		if (changed && stored)
			stored(arg);
		if (!changed || (flags & IOMMU_DRV_CD_NO_CFGI))
			continue;
		int err = iommu_drv_cfgi_cd_sync(d, sid, ssid);
		if (err)
			return err;
	}
	return 0;
}

/* ---- freed table pages ---- */

static _Atomic uint64_t *freed_word(struct iommu_drv *d, uint64_t pa)
{
	return (_Atomic uint64_t *)&d->freed_map[(pa >> 12) / 64];
}

static uint64_t freed_bit(uint64_t pa)
{
	return 1ull << ((pa >> 12) % 64);
}

void iommu_drv_table_page_freed(struct iommu_drv *d, uint64_t pa)
{
	if (physmem_contains(d->pm, pa, 1))
		atomic_fetch_or(freed_word(d, pa), freed_bit(pa));
}

void iommu_drv_table_page_used(struct iommu_drv *d, uint64_t pa)
{
	if (physmem_contains(d->pm, pa, 1))
		atomic_fetch_and(freed_word(d, pa), ~freed_bit(pa));
}

/* ---- oracle ---- */

static void oracle_begin(struct hw_oracle *o)
{
	atomic_store(&o->seq, atomic_load(&o->seq) + 1);
	atomic_thread_fence(memory_order_seq_cst);
}

static uint64_t oracle_end(struct hw_oracle *o)
{
	uint64_t seq = atomic_load(&o->seq) + 1;
	atomic_store_explicit(&o->seq, seq, memory_order_release);
	return seq;
}

int iommu_drv_oracle_map(struct iommu_drv *d, unsigned int dev, uint64_t iova,
			 uint64_t pa, uint64_t len, uint32_t prot)
{
	return iommu_drv_oracle_map_pasid(d, dev, 0, iova, pa, len, prot);
}

int iommu_drv_oracle_map_pasid(struct iommu_drv *d, unsigned int dev,
			       uint32_t pasid, uint64_t iova, uint64_t pa,
			       uint64_t len, uint32_t prot)
{
	if (dev >= HW_MAX_DEVS || !len || pasid >> HW_CD_MAX_LOG2 ||
	    !(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -EINVAL;
	struct hw_oracle *o = &d->regs->oracle[dev];
	if (o->nr >= HW_ORACLE_RANGES)
		return -ENOSPC;
	oracle_begin(o);
	o->r[o->nr] = (struct hw_oracle_range){ .iova = iova, .len = len,
						.pa = pa, .prot = prot,
						.pasid = pasid };
	o->nr++;
	oracle_end(o);
	return 0;
}

struct grace {
	_Atomic uint64_t *slot;
	uint64_t seq;
};

static bool engine_past(void *arg)
{
	const struct grace *g = arg;
	uint64_t v = atomic_load(g->slot);
	return !v || v >= g->seq + 2;
}

/* Wait until no engine of dev still works from an oracle older than seq. */
static int oracle_grace(struct iommu_drv *d, unsigned int dev, uint64_t seq)
{
	for (unsigned int i = 0; i < HW_MAX_ENGINES; i++) {
		struct grace g = { &d->regs->engines[dev][i].oracle_seq, seq };
		int err = drv_wait(d, engine_past, &g);
		if (err)
			return err;
	}
	return 0;
}

/* Withdraw [iova, iova + len) of substream pasid, or of every one
 * (pasid ORACLE_ALL_PASIDS). */
#define ORACLE_ALL_PASIDS UINT32_MAX
static int oracle_withdraw(struct iommu_drv *d, unsigned int dev,
			   uint32_t pasid, uint64_t iova, uint64_t len)
{
	if (dev >= HW_MAX_DEVS || !len)
		return -EINVAL;
	struct hw_oracle *o = &d->regs->oracle[dev];
	struct hw_oracle_range keep[HW_ORACLE_RANGES];
	unsigned int n = 0;
	uint64_t last = iova + len - 1;
	for (unsigned int i = 0; i < o->nr; i++) {
		struct hw_oracle_range r = o->r[i];
		uint64_t rlast = r.iova + r.len - 1;
		if (rlast < iova || r.iova > last ||
		    (pasid != ORACLE_ALL_PASIDS && r.pasid != pasid)) {
			if (n == HW_ORACLE_RANGES)
				return -ENOSPC;
			keep[n++] = r;
			continue;
		}
		if (r.iova < iova) {
			if (n == HW_ORACLE_RANGES)
				return -ENOSPC;
			keep[n] = r;
			keep[n++].len = iova - r.iova;
		}
		if (rlast > last) {
			if (n == HW_ORACLE_RANGES)
				return -ENOSPC;
			keep[n] = r;
			keep[n].iova = last + 1;
			keep[n].pa = r.pa + (last + 1 - r.iova);
			keep[n++].len = rlast - last;
		}
	}
	oracle_begin(o);
	memcpy(o->r, keep, n * sizeof(keep[0]));
	o->nr = n;
	return oracle_grace(d, dev, oracle_end(o));
}

int iommu_drv_oracle_unmap(struct iommu_drv *d, unsigned int dev,
			   uint64_t iova, uint64_t len)
{
	return oracle_withdraw(d, dev, 0, iova, len);
}

int iommu_drv_oracle_unmap_pasid(struct iommu_drv *d, unsigned int dev,
				 uint32_t pasid, uint64_t iova, uint64_t len)
{
	if (pasid >> HW_CD_MAX_LOG2)
		return -EINVAL;
	return oracle_withdraw(d, dev, pasid, iova, len);
}

void iommu_drv_dma_enable(struct iommu_drv *d, unsigned int dev, bool on)
{
	if (dev < HW_MAX_DEVS)
		atomic_store(&d->regs->dev_ctl[dev].enabled, on ? 1u : 0u);
}

int iommu_drv_dma_stop(struct iommu_drv *d, unsigned int dev)
{
	if (dev >= HW_MAX_DEVS)
		return -EINVAL;
	iommu_drv_dma_enable(d, dev, false);
	/* The whole IOVA space of every substream; the grace waits for
	 * every engine of dev. */
	return oracle_withdraw(d, dev, ORACLE_ALL_PASIDS, 0, UINT64_MAX);
}

int iommu_drv_set_ats(struct iommu_drv *d, unsigned int dev, bool on)
{
	if (dev >= HW_MAX_DEVS)
		return -EINVAL;
	atomic_store(&d->regs->dev_ctl[dev].ats, on ? 1u : 0u);
	return 0;
}

bool iommu_drv_ats(const struct iommu_drv *d, unsigned int dev)
{
	return dev < HW_MAX_DEVS && atomic_load(&d->regs->dev_ctl[dev].ats);
}

/* ---- guest CPU and events ---- */

struct paused_wait {
	struct hw_regs *r;
	uint32_t want;
};

static bool paused_is(void *arg)
{
	const struct paused_wait *w = arg;
	return atomic_load(&w->r->guest_paused) == w->want;
}

static int wait_paused(struct iommu_drv *d, uint32_t want)
{
	struct paused_wait w = { d->regs, want };
	return drv_wait(d, paused_is, &w);
}

int iommu_drv_guest_pause(struct iommu_drv *d)
{
	atomic_store(&d->regs->guest_pause_req, 1);
	ioh_bell_ring(&d->regs->guest_bell);
	/* Injected: the guest not seen to stop in time. */
	if (ioh_fail("drv.pause"))
		return -ETIMEDOUT;
	return wait_paused(d, 1);
}

int iommu_drv_guest_resume(struct iommu_drv *d)
{
	atomic_store(&d->regs->guest_pause_req, 0);
	ioh_bell_ring(&d->regs->guest_bell);
	return wait_paused(d, 0);
}

int iommu_drv_next_event(struct iommu_drv *d, struct hw_event *ev)
{
	struct hw_regs *r = d->regs;
	uint64_t cons = atomic_load(&r->evtq_cons);
	if (cons == atomic_load_explicit(&r->evtq_prod, memory_order_acquire))
		return 0;
	*ev = r->evtq[cons & (HW_EVTQ_ENTRIES - 1)];
	atomic_store(&r->evtq_cons, cons + 1);
	return 1;
}
