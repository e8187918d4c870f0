// SPDX-License-Identifier: MIT
#include "tests/lib/hw_rig.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/hw_abi_ste.h"
#include "pt/pt_fmt.h"

#define RIG_WAIT_NS 30000000000ull

static uint64_t rig_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rig_sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (long)(us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

void hw_rig_opts_default(struct hw_rig_opts *o, unsigned int bbm_level)
{
	memset(o, 0, sizeof(*o));
	o->bbm_level = bbm_level;
	o->engines[0] = 2;
	o->pace_ns = 100000;
	hw_machine_cfg_default(&o->mcfg);
}

/* ---- table memory ---- */

uint64_t *hw_rig_page(struct hw_rig *r, uint64_t *pa)
{
	if (r->next_table + PT_TABLE_SIZE > RIG_TABLES_END)
		return NULL;
	*pa = r->next_table;
	r->next_table += PT_TABLE_SIZE;
	iommu_drv_table_page_used(&r->drv, *pa);
	return physmem_ptr(&r->pm, *pa, PT_TABLE_SIZE);
}

static void *rig_alloc(void *ctx, pt_oaddr_t *pa)
{
	return hw_rig_page(ctx, pa);
}

static void *rig_alloc_top(void *ctx, unsigned int lg2, pt_oaddr_t *pa)
{
	struct hw_rig *r = ctx;
	uint64_t bytes = (uint64_t)PT_TABLE_SIZE << lg2;
	uint64_t at = (r->next_table + bytes - 1) & ~(bytes - 1);
	if (at + bytes > RIG_TABLES_END)
		return NULL;
	r->next_table = at + bytes;
	for (uint64_t o = 0; o < bytes; o += PT_TABLE_SIZE)
		iommu_drv_table_page_used(&r->drv, at + o);
	*pa = at;
	return physmem_ptr(&r->pm, at, bytes);
}

static void rig_free_top(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2)
{
	struct hw_rig *r = ctx;
	(void)pages;
	for (uint64_t o = 0; o < ((uint64_t)PT_TABLE_SIZE << lg2); o += PT_TABLE_SIZE)
		iommu_drv_table_page_freed(&r->drv, pa + o);
}

static void rig_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct hw_rig *r = ctx;
	(void)page;
	iommu_drv_table_page_freed(&r->drv, pa);
}

static void rig_defer_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct hw_rig *r = ctx;
	(void)page;
	if (r->nr_deferred < RIG_MAX_DEFERRED)
		r->deferred[r->nr_deferred++] = pa;
}

static void *rig_phys_to_virt(void *ctx, pt_oaddr_t pa)
{
	struct hw_rig *r = ctx;
	return physmem_ptr(&r->pm, pa, PT_TABLE_SIZE);
}

const struct pt_mem_ops hw_rig_mem_ops = {
	.alloc = rig_alloc,
	.free = rig_free,
	.alloc_top = rig_alloc_top,
	.free_top = rig_free_top,
	.defer_free = rig_defer_free,
	.phys_to_virt = rig_phys_to_virt,
};

void hw_rig_free_deferred(struct hw_rig *r)
{
	for (unsigned int i = 0; i < r->nr_deferred; i++)
		iommu_drv_table_page_freed(&r->drv, r->deferred[i]);
	r->nr_deferred = 0;
}

int hw_rig_table_init_va(struct hw_rig *r, struct pt_table *t,
			 enum pt_format_id fmt, unsigned int va_bits,
			 uint64_t pgsizes)
{
	struct pt_cfg cfg = { .fmt = fmt, .va_bits = va_bits, .oa_bits = 48,
			      .pgsizes = pgsizes };
	return pt_init(t, &cfg, &hw_rig_mem_ops, r);
}

int hw_rig_table_init(struct hw_rig *r, struct pt_table *t,
		      enum pt_format_id fmt, uint64_t pgsizes)
{
	return hw_rig_table_init_va(r, t, fmt, 48, pgsizes);
}

/* ---- life cycle ---- */

int hw_rig_start_bare(struct hw_rig *r, unsigned int bbm_level)
{
	return hw_rig_start_units(r, bbm_level, 1);
}

int hw_rig_start_units(struct hw_rig *r, unsigned int bbm_level,
		       unsigned int nr_units)
{
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	r->next_table = RIG_TABLES_PA;
	int err = physmem_create(&r->pm, RIG_PHYSMEM);
	if (err)
		return err;
	err = hw_region_create(&r->region, RIG_PHYSMEM, bbm_level);
	if (err)
		return err;
	err = hw_region_set_units(&r->region, nr_units);
	if (err)
		return err;
	/* The rig's devices DMA wherever the oracle says, from the start. */
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		atomic_store(&r->region.regs->dev_ctl[d].enabled, 1);
	err = iommu_drv_init(&r->drv, r->region.regs, r->region.freed_map,
			     &r->pm);
	for (unsigned int u = 0; u < nr_units && !err; u++)
		err = iommu_drv_set_strtab(&r->drv, u, RIG_STRTAB_PA_OF(u),
					   RIG_STRTAB_LOG2);
	return err;
}

int hw_rig_start(struct hw_rig *r, const struct hw_rig_opts *o)
{
	int err = hw_rig_start_units(r, o->bbm_level,
				     o->nr_units ? o->nr_units : 1);
	if (err)
		return err;
	struct hw_regs *g = r->region.regs;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		atomic_store(&g->dev_ctl[d].engines, o->engines[d]);
		atomic_store(&g->dev_ctl[d].pace_ns, o->pace_ns);
	}
	if (o->forked)
		err = hw_machine_fork(&o->mcfg, r->pm.fd, r->region.fd, &r->pid);
	else
		err = hw_machine_start(&r->m, &o->mcfg, r->pm.fd, r->region.fd);
	if (!err)
		hw_rig_settle(r);
	return err;
}

void hw_rig_stop(struct hw_rig *r)
{
	if (r->m)
		hw_machine_stop(r->m);
	if (r->pid > 0) {
		int status;
		atomic_store(&r->region.regs->shutdown, 1);
		uint64_t deadline = rig_now() + RIG_WAIT_NS;
		while (waitpid(r->pid, &status, WNOHANG) == 0) {
			if (rig_now() > deadline) {
				kill(r->pid, SIGKILL);
				waitpid(r->pid, &status, 0);
				break;
			}
			rig_sleep_us(1000);
		}
	}
	r->m = NULL;
	r->pid = -1;
	hw_region_detach(&r->region, true);
	physmem_detach(&r->pm, true);
}

/* ---- helpers ---- */

int hw_rig_attach(struct hw_rig *r, unsigned int dev, const struct pt_table *t,
		  uint16_t did)
{
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, t->fmt->id, t->va_bits,
		    t->top_pa, did);
	return iommu_drv_write_ste(&r->drv, dev, ste, NULL);
}

int hw_rig_map(struct hw_rig *r, unsigned int dev, struct pt_table *t,
	       uint64_t iova, uint64_t pa, uint64_t len)
{
	struct pt_gather g;
	pt_gather_init(&g);
	int err = pt_map_range(t, iova, pa, len,
			       PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE, &g);
	if (err)
		return err;
	return iommu_drv_oracle_map(&r->drv, dev, iova, pa, len,
				    PT_PROT_READ | PT_PROT_WRITE);
}

void hw_rig_window(struct hw_rig *r, unsigned int dev, uint64_t lo,
		   uint64_t hi)
{
	struct hw_dev_ctl *c = &r->region.regs->dev_ctl[dev];
	atomic_store(&c->win_lo, lo);
	atomic_store(&c->win_hi, hi);
}

bool hw_rig_wait_ops(struct hw_rig *r, unsigned int dev, uint64_t n)
{
	_Atomic uint64_t *ops = &r->region.regs->dev_stats[dev].ops;
	uint64_t want = atomic_load(ops) + n;
	uint64_t deadline = rig_now() + RIG_WAIT_NS;
	while (atomic_load(ops) < want) {
		if (rig_now() > deadline)
			return false;
		rig_sleep_us(200);
	}
	return true;
}

void hw_rig_settle(struct hw_rig *r)
{
	_Atomic uint64_t *hb = &r->region.regs->heartbeat;
	_Atomic uint64_t *scrubs = &r->region.regs->scrubs;
	uint64_t want = atomic_load(hb) + 3;
	uint64_t want_scrubs = atomic_load(scrubs) + 2;
	uint64_t deadline = rig_now() + RIG_WAIT_NS;
	while ((atomic_load(hb) < want || atomic_load(scrubs) < want_scrubs) &&
	       rig_now() < deadline)
		rig_sleep_us(100);
}

_Atomic uint64_t *hw_rig_entry(struct hw_rig *r, const struct pt_table *t,
			       uint64_t va, unsigned int level)
{
	uint64_t *table = t->top;
	for (unsigned int l = t->top_level; l > level; l--) {
		struct pt_entry_info info;
		pt_fmt_decode(t->fmt, table[pt_level_index(va, l)], l, &info);
		if (info.type != PT_ENTRY_TABLE)
			return NULL;
		table = physmem_ptr(&r->pm, info.oa, PT_TABLE_SIZE);
	}
	return (_Atomic uint64_t *)&table[pt_level_index(va, level)];
}

const struct hw_dev_stats *hw_rig_stats(struct hw_rig *r, unsigned int dev)
{
	return &r->region.regs->dev_stats[dev];
}

uint64_t hw_rig_errors(struct hw_rig *r, unsigned int dev)
{
	return hw_dev_errors(&r->region.regs->dev_stats[dev]);
}

void hw_rig_dump(struct hw_rig *r, unsigned int dev, const char *what)
{
	const struct hw_dev_stats *s = hw_rig_stats(r, dev);
	struct hw_regs *g = r->region.regs;
	fprintf(stderr,
		"%s: dev %u ops %" PRIu64 " faults %" PRIu64 " conflicts %" PRIu64
		" misdirected %" PRIu64 " lost %" PRIu64 " bbm %" PRIu64
		" uaf %" PRIu64 " torn %" PRIu64 " stale_atc %" PRIu64
		" (atc %" PRIu64 "/%" PRIu64 "/%" PRIu64 ") | cmds %" PRIu64
		" syncs %" PRIu64 " hits %" PRIu64 " misses %" PRIu64 "\n",
		what, dev, atomic_load(&s->ops), atomic_load(&s->faults),
		atomic_load(&s->conflicts), atomic_load(&s->misdirected),
		atomic_load(&s->lost_writes), atomic_load(&s->bbm_violations),
		atomic_load(&s->use_after_free), atomic_load(&s->torn_config),
		atomic_load(&s->stale_atc), atomic_load(&s->atc_hits),
		atomic_load(&s->atc_misses), atomic_load(&s->atc_invalidations),
		atomic_load(&g->cmds), atomic_load(&g->syncs),
		atomic_load(&g->iotlb_hits), atomic_load(&g->iotlb_misses));
	uint64_t prod = atomic_load(&g->log_prod);
	uint64_t from = prod > 8 ? prod - 8 : 0;
	for (uint64_t i = from; i < prod; i++) {
		const struct hw_event *e = &g->log[i & (HW_LOG_ENTRIES - 1)];
		fprintf(stderr, "  event 0x%x sid %u iova 0x%" PRIx64
			" info 0x%" PRIx64 "\n", e->type, e->sid, e->iova,
			e->info);
	}
}

bool hw_rig_has_event(struct hw_rig *r, uint32_t type)
{
	struct hw_regs *g = r->region.regs;
	uint64_t prod = atomic_load(&g->log_prod);
	uint64_t from = prod > HW_LOG_ENTRIES ? prod - HW_LOG_ENTRIES : 0;
	for (uint64_t i = from; i < prod; i++)
		if (g->log[i & (HW_LOG_ENTRIES - 1)].type == type)
			return true;
	return false;
}
