// SPDX-License-Identifier: MIT
#include "hw/machine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hw/dma.h"
#include "ioh/ioh.h"

#define PAGE 4096ull
#define SYNC_WAIT_MAX_NS 2000000000ull   /* a stuck engine cannot hang sync */
#define DMA_WINDOW_MAX_NS 100000000ull /* engines may be descheduled */
#define IDLE_SPINS 200u
#define IDLE_SLEEP_NS 20000u
#define WAIT_SLICE_NS 1000000ull /* a doorbell sleep's bound */

struct hw_machine {
	struct hw_machine_cfg cfg;
	struct physmem pm;
	struct hw_region region;
	struct hw_iommu *mmu;
	struct hw_dma *dma;
	pthread_t loop;
	bool loop_started;
	_Atomic bool stop;
	uint64_t last_scrub_ns;
};

/* ---- commands ---- */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ns };
	nanosleep(&ts, NULL);
}

static void cmd_error(struct hw_machine *m, uint64_t idx, enum hw_cmd_err e)
{
	struct hw_regs *r = m->region.regs;
	atomic_store(&r->cmdq_error, idx << 8 | e);
	atomic_fetch_add(&r->cmd_errors, 1);
	atomic_fetch_add(&r->bad_input, 1);
	hw_iommu_event(m->mmu, HW_EVT_CMD_ERROR, 0, 0, idx << 8 | e);
}

/*
 * CMD_SYNC completion (IHI 0070 3.21.1): every transaction that started
 * before the last invalidation, and so may have used an invalidated
 * entry or walked an invalidated pointer, has finished.
 */
struct inflight_wait {
	_Atomic uint64_t *f;
	uint64_t epoch;
};

static bool inflight_done(void *arg)
{
	const struct inflight_wait *w = arg;
	uint64_t e = atomic_load(w->f);
	return !e || e > w->epoch;
}

static void sync_wait_inflight(struct hw_machine *m)
{
	struct hw_regs *r = m->region.regs;
	uint64_t epoch = hw_iommu_epoch(m->mmu);
	uint64_t deadline = ioh_now_ns() + SYNC_WAIT_MAX_NS;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		for (unsigned int i = 0; i < HW_MAX_ENGINES; i++) {
			/* Engines ring engine_bell as each operation ends. */
			struct inflight_wait w = {
				&r->engines[d][i].inflight_epoch, epoch
			};
			if (!ioh_bell_wait(&r->engine_bell, inflight_done, &w,
					   deadline, WAIT_SLICE_NS))
				return;
		}
	}
}

static void cmd_sync(struct hw_machine *m, uint64_t seq)
{
	struct hw_regs *r = m->region.regs;
	sync_wait_inflight(m);
	/* Counted and logged before completion: the host may look at once. */
	atomic_fetch_add(&r->syncs, 1);
	hw_iommu_event(m->mmu, HW_EVT_SYNC_DONE, 0, 0, seq);
	atomic_store_explicit(&r->sync_done, seq, memory_order_seq_cst);
	ioh_bell_ring(&r->host_bell);
}

static bool cmd_reserved(const struct hw_cmd *c, uint64_t w0_fields,
			 uint64_t w1_fields)
{
	return (c->w[0] & ~(HW_CMD_OP | w0_fields)) || (c->w[1] & ~w1_fields);
}

/* [*va, *last] of a range command: (NUM + 1) * 2^SCALE pages at ADDR. */
static bool cmd_range(const struct hw_cmd *c, uint64_t *va, uint64_t *last)
{
	unsigned int num = (unsigned int)HW_FIELD_GET(HW_CMD_NUM, c->w[0]);
	unsigned int scale = (unsigned int)HW_FIELD_GET(HW_CMD_SCALE, c->w[0]);
	if (scale > 51)
		return false;
	*va = c->w[1] & HW_CMD1_ADDR;
	uint64_t len_pages = (uint64_t)(num + 1) << scale;
	*last = *va + (len_pages << 12) - 1;
	if (*last < *va || (len_pages << 12) >> 12 != len_pages)
		*last = ~0ull;
	return true;
}

static uint16_t cmd_did(const struct hw_cmd *c)
{
	return (uint16_t)HW_FIELD_GET(HW_CMD_DID, c->w[0]);
}

static enum hw_cmd_err cmd_tlbi_range(struct hw_machine *m,
				      const struct hw_cmd *c)
{
	uint64_t va, last;
	if (cmd_reserved(c, HW_CMD_DID | HW_CMD_LEAF | HW_CMD_TTL |
			 HW_CMD_NUM | HW_CMD_SCALE, HW_CMD1_ADDR))
		return HW_CERR_ILL;
	unsigned int ttl = (unsigned int)HW_FIELD_GET(HW_CMD_TTL, c->w[0]);
	if (ttl > 5 || !cmd_range(c, &va, &last))
		return HW_CERR_ILL;
	hw_iommu_tlbi_range(m->mmu, cmd_did(c), va, last,
			    c->w[0] & HW_CMD_LEAF, (int)ttl - 1);
	return HW_CERR_NONE;
}

static enum hw_cmd_err cmd_tlbi_s2_range(struct hw_machine *m,
					 const struct hw_cmd *c)
{
	uint64_t ipa, last;
	if (cmd_reserved(c, HW_CMD_DID | HW_CMD_NUM | HW_CMD_SCALE,
			 HW_CMD1_ADDR) || !cmd_range(c, &ipa, &last))
		return HW_CERR_ILL;
	hw_iommu_tlbi_s2_range(m->mmu, cmd_did(c), ipa, last);
	return HW_CERR_NONE;
}

static enum hw_cmd_err cmd_atc_inv(struct hw_machine *m,
				   const struct hw_cmd *c)
{
	if (cmd_reserved(c, HW_CMD_SID | HW_CMD_ATC_SIZE, HW_CMD1_ADDR))
		return HW_CERR_ILL;
	uint64_t sid = HW_FIELD_GET(HW_CMD_SID, c->w[0]);
	unsigned int size = (unsigned int)HW_FIELD_GET(HW_CMD_ATC_SIZE,
						       c->w[0]);
	uint64_t va = c->w[1] & HW_CMD1_ADDR;
	if (sid >= HW_MAX_DEVS || size > HW_ATC_INV_SIZE_ALL)
		return HW_CERR_ILL;
	uint64_t last = size == HW_ATC_INV_SIZE_ALL
				? ~0ull
				: va + ((4096ull << size) - 1);
	if (size == HW_ATC_INV_SIZE_ALL ? va != 0
					: (va & ((4096ull << size) - 1)))
		return HW_CERR_ILL; /* the range must be naturally aligned */
	hw_iommu_atc_inv(m->mmu, (uint32_t)sid, va, last);
	return HW_CERR_NONE;
}

static enum hw_cmd_err cmd_exec(struct hw_machine *m, const struct hw_cmd *c)
{
	switch (HW_FIELD_GET(HW_CMD_OP, c->w[0])) {
	case HW_CMD_CFGI_STE:
		if (cmd_reserved(c, HW_CMD_SID, 0))
			return HW_CERR_ILL;
		hw_iommu_cfgi_ste(m->mmu,
				  (uint32_t)HW_FIELD_GET(HW_CMD_SID, c->w[0]));
		return HW_CERR_NONE;
	case HW_CMD_CFGI_CD:
		if (cmd_reserved(c, HW_CMD_SID | HW_CMD_SSID, 0) ||
		    HW_FIELD_GET(HW_CMD_SID, c->w[0]) >= HW_MAX_DEVS)
			return HW_CERR_ILL;
		hw_iommu_cfgi_cd(m->mmu,
				 (uint32_t)HW_FIELD_GET(HW_CMD_SID, c->w[0]),
				 (uint32_t)HW_FIELD_GET(HW_CMD_SSID, c->w[0]));
		return HW_CERR_NONE;
	case HW_CMD_CFGI_CD_ALL:
		if (cmd_reserved(c, HW_CMD_SID, 0) ||
		    HW_FIELD_GET(HW_CMD_SID, c->w[0]) >= HW_MAX_DEVS)
			return HW_CERR_ILL;
		hw_iommu_cfgi_cd_all(m->mmu,
				     (uint32_t)HW_FIELD_GET(HW_CMD_SID, c->w[0]));
		return HW_CERR_NONE;
	case HW_CMD_CFGI_ALL:
		if (cmd_reserved(c, 0, 0))
			return HW_CERR_ILL;
		hw_iommu_cfgi_all(m->mmu);
		return HW_CERR_NONE;
	case HW_CMD_TLBI_DOMAIN:
		if (cmd_reserved(c, HW_CMD_DID, 0))
			return HW_CERR_ILL;
		hw_iommu_tlbi_domain(m->mmu, cmd_did(c));
		return HW_CERR_NONE;
	case HW_CMD_TLBI_RANGE:
		return cmd_tlbi_range(m, c);
	case HW_CMD_TLBI_VMID:
		if (cmd_reserved(c, HW_CMD_DID, 0))
			return HW_CERR_ILL;
		hw_iommu_tlbi_vmid(m->mmu, cmd_did(c));
		return HW_CERR_NONE;
	case HW_CMD_TLBI_S2_RANGE:
		return cmd_tlbi_s2_range(m, c);
	case HW_CMD_TLBI_ALL:
		if (cmd_reserved(c, 0, 0))
			return HW_CERR_ILL;
		hw_iommu_tlbi_all(m->mmu);
		return HW_CERR_NONE;
	case HW_CMD_ATC_INV:
		return cmd_atc_inv(m, c);
	case HW_CMD_SYNC:
		if (cmd_reserved(c, 0, ~0ull))
			return HW_CERR_ILL;
		cmd_sync(m, c->w[1]);
		return HW_CERR_NONE;
	default:
		return HW_CERR_ILL;
	}
}

/*
 * Strict mode: let every active engine run a few operations against the
 * state the host left before the commands that follow take effect.
 */
struct window_wait {
	struct hw_engine_slot *s;
	uint64_t start;
	unsigned int want;
};

static bool window_done(void *arg)
{
	const struct window_wait *w = arg;
	return !atomic_load(&w->s->oracle_seq) ||
	       atomic_load(&w->s->ops) - w->start >= w->want;
}

static void dma_window(struct hw_machine *m)
{
	struct hw_regs *r = m->region.regs;
	unsigned int want = m->cfg.dma_window_ops;
	uint64_t start[HW_MAX_DEVS][HW_MAX_ENGINES];
	if (!want || m->cfg.iommu.randomized)
		return;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		for (unsigned int i = 0; i < HW_MAX_ENGINES; i++)
			start[d][i] = atomic_load(&r->engines[d][i].ops);
	uint64_t deadline = ioh_now_ns() + DMA_WINDOW_MAX_NS;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		for (unsigned int i = 0; i < HW_MAX_ENGINES; i++) {
			struct window_wait w = { &r->engines[d][i], start[d][i],
						 want };
			if (!ioh_bell_wait(&r->engine_bell, window_done, &w,
					   deadline, WAIT_SLICE_NS))
				return;
		}
	}
}

/* Consume everything between cons and prod; false if the queue is empty. */
static bool cmdq_drain(struct hw_machine *m)
{
	struct hw_regs *r = m->region.regs;
	uint64_t cons = atomic_load(&r->cmdq_cons);
	uint64_t prod = atomic_load_explicit(&r->cmdq_prod,
					     memory_order_acquire);
	if (prod == cons)
		return false;
	if (prod - cons > HW_CMDQ_ENTRIES) {
		cmd_error(m, cons, HW_CERR_OVERRUN);
		atomic_store(&r->cmdq_cons, prod);
		return true;
	}
	hw_iommu_scrub(m->mmu);
	dma_window(m);
	for (; cons != prod; cons++) {
		struct hw_cmd c = r->cmdq[cons & (HW_CMDQ_ENTRIES - 1)];
		/* Counted first: a sync completes inside cmd_exec. */
		atomic_fetch_add(&r->cmds, 1);
		enum hw_cmd_err e = cmd_exec(m, &c);
		if (e)
			cmd_error(m, cons, e);
		atomic_store_explicit(&r->cmdq_cons, cons + 1,
				      memory_order_seq_cst);
	}
	ioh_bell_ring(&r->host_bell);
	m->last_scrub_ns = ioh_now_ns();
	return true;
}

static bool loop_has_work(void *arg)
{
	struct hw_machine *m = arg;
	struct hw_regs *r = m->region.regs;
	return atomic_load(&r->cmdq_prod) != atomic_load(&r->cmdq_cons) ||
	       atomic_load(&m->stop) || atomic_load(&r->shutdown);
}

static void *machine_loop(void *arg)
{
	struct hw_machine *m = arg;
	struct hw_regs *r = m->region.regs;
	unsigned int idle = 0;
	while (!atomic_load(&m->stop) && !atomic_load(&r->shutdown)) {
		atomic_fetch_add_explicit(&r->heartbeat, 1,
					  memory_order_relaxed);
		hw_iommu_prefetch_configs(m->mmu, HW_MAX_DEVS);
		if (cmdq_drain(m)) {
			idle = 0;
			continue;
		}
		uint64_t now = ioh_now_ns();
		uint64_t period = m->cfg.scrub_period_us * 1000ull;
		if (now - m->last_scrub_ns > period) {
			hw_iommu_scrub(m->mmu);
			m->last_scrub_ns = now;
		}
		if (++idle < IDLE_SPINS) {
			ioh_cpu_relax();
			continue;
		}
		/*
		 * Idle: sleep until the host rings (a command queued) or the
		 * next checker pass is due, instead of yielding in a loop that
		 * competes with the engines and the host for the cores.
		 */
		uint64_t due = m->last_scrub_ns + period;
		ioh_bell_wait(&r->cmd_bell, loop_has_work, m,
			      due > now ? due : now + IDLE_SLEEP_NS, WAIT_SLICE_NS);
		idle = 0;
	}
	return NULL;
}

/* ---- life cycle ---- */

void hw_machine_cfg_default(struct hw_machine_cfg *c)
{
	memset(c, 0, sizeof(*c));
	hw_iommu_cfg_default(&c->iommu);
	c->dma_window_ops = 8;
	c->scrub_period_us = 5000;
}

struct hw_iommu *hw_machine_iommu(struct hw_machine *m)
{
	return m->mmu;
}

int hw_machine_start(struct hw_machine **out, const struct hw_machine_cfg *cfg,
		     int physmem_fd, int region_fd)
{
	struct hw_machine *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->pm.fd = -1;
	m->region.fd = -1;
	int err = physmem_attach(&m->pm, physmem_fd);
	if (!err)
		err = hw_region_attach(&m->region, region_fd);
	if (!err && m->region.regs->physmem_size != m->pm.size)
		err = -EPROTO;
	if (!err)
		err = hw_iommu_create(&m->mmu, &cfg->iommu, &m->pm,
				      m->region.regs, m->region.freed_map);
	if (!err)
		err = hw_dma_start(&m->dma, m->mmu, m->region.regs, &m->pm);
	if (!err) {
		atomic_store(&m->region.regs->machine_pid, (uint64_t)getpid());
		hw_iommu_event(m->mmu, HW_EVT_MACHINE_START, 0, 0,
			       (uint64_t)getpid());
		err = -pthread_create(&m->loop, NULL, machine_loop, m);
		m->loop_started = !err;
	}
	if (err) {
		hw_machine_stop(m);
		return err;
	}
	*out = m;
	return 0;
}

void hw_machine_stop(struct hw_machine *m)
{
	if (!m)
		return;
	atomic_store(&m->stop, true);
	if (m->loop_started)
		pthread_join(m->loop, NULL);
	hw_dma_stop(m->dma);
	hw_iommu_destroy(m->mmu);
	hw_region_detach(&m->region, false);
	physmem_detach(&m->pm, false);
	free(m);
}

int hw_machine_run(const struct hw_machine_cfg *cfg, int physmem_fd,
		   int region_fd)
{
	struct hw_machine *m;
	int err = hw_machine_start(&m, cfg, physmem_fd, region_fd);
	if (err)
		return err;
	while (!atomic_load(&m->region.regs->shutdown))
		sleep_ns(1000000);
	hw_machine_stop(m);
	return 0;
}

int hw_machine_fork(const struct hw_machine_cfg *cfg, int physmem_fd,
		    int region_fd, pid_t *pid)
{
	pid_t parent = getpid();
	pid_t p = fork();
	if (p < 0)
		return -errno;
	if (p == 0) {
		/* The machine outlives hosts, not the runner that made it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		int rc = hw_machine_run(cfg, physmem_fd, region_fd) ? 1 : 0;
		ioh_coverage_flush();
		_exit(rc);
	}
	*pid = p;
	return 0;
}

uint64_t hw_dev_errors(const struct hw_dev_stats *s)
{
	return atomic_load(&s->faults) + atomic_load(&s->conflicts) +
	       atomic_load(&s->misdirected) + atomic_load(&s->lost_writes) +
	       atomic_load(&s->bbm_violations) +
	       atomic_load(&s->use_after_free) +
	       atomic_load(&s->torn_config) + atomic_load(&s->stale_atc);
}
