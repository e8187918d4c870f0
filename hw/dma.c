// SPDX-License-Identifier: MIT
#include "hw/dma.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt/pt.h"
#include "ioh/ioh.h"

#define VERIFY_RING 32u
#define VERIFY_EVERY 16u
#define PACE_EVERY 64u
#define PACE_MIN 8u
#define IDLE_SLEEP_NS 200000u
#define GUEST_SLICE_NS 1000000ull

struct written {
	uint64_t pa;
	uint64_t seq;
};

struct engine {
	struct hw_dma *d;
	unsigned int dev;
	unsigned int idx;
	pthread_t th;
	bool started;
	uint64_t prng;
	/* Local copy of the device's oracle at sequence oseq. */
	uint64_t oseq;
	unsigned int nr;
	struct hw_oracle_range r[HW_ORACLE_RANGES];
	uint64_t wseq;
	struct written ring[VERIFY_RING];
	unsigned int ring_n, ring_head;
	uint64_t last_ok_ns;
};

struct hw_dma {
	struct hw_iommu *mmu;            /* unit 0: the machine-wide events */
	struct hw_iommu *unit[HW_MAX_DEVS]; /* the unit device d is behind */
	struct hw_regs *regs;
	struct physmem *pm;
	_Atomic bool stop;
	unsigned int nr_engines;
	struct engine eng[HW_MAX_DEVS * HW_MAX_ENGINES];
	pthread_t guest;
	bool guest_started;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

/* ---- oracle ---- */

/* Copy the oracle if it changed; false while the host is writing it. */
static bool oracle_copy(struct engine *e, uint64_t seq)
{
	struct hw_oracle *o = &e->d->regs->oracle[e->dev];
	if (seq == e->oseq)
		return true;
	uint32_t nr = o->nr;
	if (nr > HW_ORACLE_RANGES)
		nr = HW_ORACLE_RANGES;
	memcpy(e->r, o->r, nr * sizeof(e->r[0]));
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load(&o->seq) != seq)
		return false;
	e->nr = nr;
	e->oseq = seq;
	/* Pages the host unmapped may be reused: forget old stamps. */
	e->ring_n = 0;
	return true;
}

/*
 * Publish the oracle sequence this operation uses (the host's unmap waits
 * until no engine uses an older one), then make sure the copy is current.
 */
static bool oracle_enter(struct engine *e, struct hw_engine_slot *slot)
{
	struct hw_oracle *o = &e->d->regs->oracle[e->dev];
	for (int tries = 0; tries < 4; tries++) {
		uint64_t seq = atomic_load(&o->seq);
		if (seq & 1)
			break;
		atomic_store(&slot->oracle_seq, seq + 2);
		if (atomic_load(&o->seq) != seq)
			continue;
		if (oracle_copy(e, seq))
			return true;
	}
	atomic_store(&slot->oracle_seq, 0);
	return false;
}

/* A random op-aligned IOVA of the oracle inside the device's window. */
static const struct hw_oracle_range *pick_iova(struct engine *e,
					       uint64_t size, uint64_t *iova)
{
	const struct hw_dev_ctl *ctl = &e->d->regs->dev_ctl[e->dev];
	uint64_t lo = atomic_load(&ctl->win_lo), hi = atomic_load(&ctl->win_hi);
	if (!e->nr)
		return NULL;
	unsigned int start = (unsigned int)(rnd(&e->prng) % e->nr);
	for (unsigned int i = 0; i < e->nr; i++) {
		const struct hw_oracle_range *r = &e->r[(start + i) % e->nr];
		uint64_t a = r->iova > lo ? r->iova : lo;
		uint64_t b = r->iova + r->len - 1 < hi ? r->iova + r->len - 1 : hi;
		if (!r->len || a > b || b - a + 1 < size)
			continue;
		uint64_t slots = (b - a + 1) / size;
		*iova = (a + (rnd(&e->prng) % slots) * size) & ~(size - 1);
		if (*iova < a)
			*iova += size;
		if (*iova + size - 1 > b)
			continue;
		return r;
	}
	return NULL;
}

/* ---- checks ---- */

static void count(struct engine *e, _Atomic uint64_t *c, uint32_t type,
		  uint64_t iova, uint64_t info)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
	hw_iommu_event(e->d->unit[e->dev], type, e->dev, iova, info);
}

static uint64_t stamp_dev(const struct engine *e)
{
	return ((uint64_t)HW_STAMP_MAGIC << 32) | e->dev;
}

static uint64_t stamp_seq(const struct engine *e, uint64_t n)
{
	return ((uint64_t)e->idx << 56) | n;
}

static bool stamp_still_ours(const struct engine *e, const struct written *w)
{
	_Atomic uint64_t *p = physmem_ptr(e->d->pm, w->pa, 16);
	uint64_t dev = atomic_load_explicit(&p[0], memory_order_relaxed);
	uint64_t seq = atomic_load_explicit(&p[1], memory_order_relaxed);
	if (dev != stamp_dev(e))
		return false;
	/* Another engine of the same device may have written since. */
	if ((seq >> 56) != e->idx)
		return true;
	return seq >= w->seq;
}

static void verify_oldest(struct engine *e)
{
	if (!e->ring_n)
		return;
	unsigned int i = (e->ring_head + VERIFY_RING - e->ring_n) % VERIFY_RING;
	struct written *w = &e->ring[i];
	e->ring_n--;
	if (!stamp_still_ours(e, w))
		count(e, &e->d->regs->dev_stats[e->dev].lost_writes,
		      HW_EVT_LOST_WRITE, 0, w->pa);
}

static void do_write(struct engine *e, uint64_t pa, uint64_t size)
{
	_Atomic uint64_t *p = physmem_ptr(e->d->pm, pa, size);
	uint64_t seq = stamp_seq(e, ++e->wseq);
	atomic_store_explicit(&p[0], stamp_dev(e), memory_order_relaxed);
	atomic_store_explicit(&p[1], seq, memory_order_relaxed);
	if (size > 16)
		memset((uint8_t *)p + 16, (int)(seq & 0xff), size - 16);
	e->ring[e->ring_head] = (struct written){ .pa = pa, .seq = seq };
	e->ring_head = (e->ring_head + 1) % VERIFY_RING;
	if (e->ring_n < VERIFY_RING)
		e->ring_n++;
}

static void do_read(struct engine *e, uint64_t pa, uint64_t size)
{
	volatile const uint8_t *p = physmem_ptr(e->d->pm, pa, size);
	(void)p[0];
	(void)p[size - 1];
}

static void note_success(struct engine *e, struct hw_dev_stats *s)
{
	uint64_t now = ioh_now_ns();
	if (e->last_ok_ns) {
		uint64_t gap = now - e->last_ok_ns;
		uint64_t max = atomic_load_explicit(&s->max_gap_ns,
						    memory_order_relaxed);
		while (gap > max &&
		       !atomic_compare_exchange_weak(&s->max_gap_ns, &max, gap))
			;
	}
	e->last_ok_ns = now;
}

/* ---- one operation ---- */

static uint64_t op_size(const struct hw_dev_ctl *ctl)
{
	uint64_t size = atomic_load(&ctl->size);
	if (size < 16 || size > 4096 || (size & (size - 1)))
		size = 64;
	return size;
}

/* Returns false when the engine has nothing to do. */
static bool engine_op(struct engine *e)
{
	struct hw_regs *regs = e->d->regs;
	struct hw_engine_slot *slot = &regs->engines[e->dev][e->idx];
	struct hw_dev_stats *s = &regs->dev_stats[e->dev];
	const struct hw_dev_ctl *ctl = &regs->dev_ctl[e->dev];
	uint64_t size = op_size(ctl), iova;

	if (!atomic_load(&ctl->enabled)) {
		atomic_store(&slot->oracle_seq, 0);
		return false;
	}
	if (!oracle_enter(e, slot))
		return false;
	const struct hw_oracle_range *r = pick_iova(e, size, &iova);
	if (!r) {
		atomic_store(&slot->oracle_seq, 0);
		return false;
	}
	bool write = (r->prot & PT_PROT_WRITE) &&
		     (rnd(&e->prng) % 100) < atomic_load(&ctl->write_pct);
	if (!write && !(r->prot & PT_PROT_READ))
		write = true;
	uint64_t expect = r->pa + (iova - r->iova);

	struct hw_iommu *mmu = e->d->unit[e->dev];
	atomic_store(&slot->inflight_epoch, hw_iommu_epoch(mmu) + 1);
	struct hw_xlate x;
	int err = hw_iommu_translate_pasid(mmu, e->dev, r->pasid, iova,
					   write ? HW_ACCESS_WRITE :
						   HW_ACCESS_READ, &x);
	if (!err && !physmem_contains(e->d->pm, x.pa, size)) {
		count(e, &s->faults, HW_EVT_WALK_EABT, iova, x.pa);
		err = -EFAULT;
	}
	if (!err && x.pa != expect) {
		count(e, &s->misdirected, HW_EVT_MISDIRECTED, iova, x.pa);
		hw_iommu_atc_misdirected(mmu, e->dev, x.atc);
		err = -EFAULT;
		if (!write)
			do_read(e, x.pa, size);
	} else if (!err) {
		if (write)
			do_write(e, x.pa, size);
		else
			do_read(e, x.pa, size);
	}
	atomic_store_explicit(&slot->inflight_epoch, 0, memory_order_seq_cst);

	atomic_fetch_add_explicit(write ? &s->writes : &s->reads, 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&slot->ops, 1, memory_order_relaxed);
	if (!err)
		note_success(e, s);
	return true;
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;
	const struct hw_dev_ctl *ctl = &e->d->regs->dev_ctl[e->dev];
	uint64_t n = 0;
	unsigned int burst = 0;
	struct hw_regs *regs = e->d->regs;
	while (!atomic_load_explicit(&e->d->stop, memory_order_relaxed)) {
		bool did = engine_op(e);
		/*
		 * An operation ended (or the engine went idle): whoever waits
		 * for that (a sync, a DMA window, an oracle grace) sleeps on
		 * these bells; one load each when nobody does.
		 */
		bool woke = ioh_bell_ring(&regs->engine_bell);
		woke |= ioh_bell_ring(&regs->host_bell);
		if (!did) {
			e->last_ok_ns = 0;
			sleep_ns(IDLE_SLEEP_NS);
			continue;
		}
		n++;
		burst++;
		if (n % VERIFY_EVERY == 0)
			verify_oldest(e);
		/*
		 * Pace: a pause after every PACE_EVERY operations, or sooner
		 * once a woken waiter may need this core (after at least a
		 * machine's DMA window of operations), so that on a loaded
		 * machine a sync is not held up by an engine's whole burst.
		 */
		if (burst >= PACE_EVERY || (woke && burst >= PACE_MIN)) {
			uint64_t pace = atomic_load(&ctl->pace_ns);
			burst = 0;
			if (pace)
				sleep_ns(pace);
			else
				sched_yield();
		}
	}
	atomic_store(&e->d->regs->engines[e->dev][e->idx].oracle_seq, 0);
	return NULL;
}

/* ---- guest CPU ---- */

static bool resume_requested(void *arg)
{
	struct hw_dma *d = arg;
	return !atomic_load(&d->regs->guest_pause_req) ||
	       atomic_load_explicit(&d->stop, memory_order_relaxed);
}

static void guest_pause(struct hw_dma *d)
{
	struct hw_regs *r = d->regs;
	uint64_t t0 = ioh_now_ns();
	atomic_store(&r->guest_paused, 1);
	ioh_bell_ring(&r->host_bell);
	hw_iommu_event(d->mmu, HW_EVT_GUEST_PAUSED, 0, 0, 0);
	/* Until the host resumes it (and rings guest_bell). */
	while (!ioh_bell_wait(&r->guest_bell, resume_requested, d, 0,
			      GUEST_SLICE_NS))
		;
	uint64_t paused = ioh_now_ns() - t0;
	atomic_fetch_add(&r->blackout_ns, paused);
	atomic_fetch_add(&r->pauses, 1);
	uint64_t max = atomic_load(&r->blackout_max_ns);
	if (paused > max)
		atomic_store(&r->blackout_max_ns, paused);
	hw_iommu_event(d->mmu, HW_EVT_GUEST_RESUMED, 0, 0, paused);
	atomic_store(&r->guest_paused, 0);
	ioh_bell_ring(&r->host_bell);
}

/* The guest's vCPU: writes its RAM directly, no IOMMU in the way. */
static void *guest_main(void *arg)
{
	struct hw_dma *d = arg;
	struct hw_regs *r = d->regs;
	uint64_t prng = 0x1234567;
	uint64_t n = 0;
	while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
		if (atomic_load(&r->guest_pause_req)) {
			guest_pause(d);
			continue;
		}
		uint64_t base = atomic_load(&r->guest_ram_pa);
		uint64_t len = atomic_load(&r->guest_ram_len);
		_Atomic uint64_t *p = physmem_ptr(d->pm, base, len);
		if (!len || !p || len < 8) {
			sleep_ns(IDLE_SLEEP_NS);
			continue;
		}
		atomic_store_explicit(&p[rnd(&prng) % (len / 8)], ++n,
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&r->guest_ops, 1,
					  memory_order_relaxed);
		if (n % 256 == 0)
			sleep_ns(10000);
	}
	return NULL;
}

/* ---- life cycle ---- */

int hw_dma_start(struct hw_dma **out, struct hw_iommu *const *units,
		 struct hw_regs *regs, struct physmem *pm)
{
	struct hw_dma *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->mmu = units[0];
	for (unsigned int dev = 0; dev < HW_MAX_DEVS; dev++)
		d->unit[dev] = units[hw_dev_unit(regs, dev)];
	d->regs = regs;
	d->pm = pm;
	int err = 0;
	for (unsigned int dev = 0; dev < HW_MAX_DEVS && !err; dev++) {
		unsigned int n = atomic_load(&regs->dev_ctl[dev].engines);
		if (n > HW_MAX_ENGINES)
			n = HW_MAX_ENGINES;
		for (unsigned int i = 0; i < n && !err; i++) {
			struct engine *e = &d->eng[d->nr_engines++];
			e->d = d;
			e->dev = dev;
			e->idx = i;
			e->prng = 0x9e3779b97f4a7c15ull * (dev * 8 + i + 1);
			e->oseq = ~0ull;
			err = -pthread_create(&e->th, NULL, engine_main, e);
			e->started = !err;
		}
	}
	if (!err) {
		err = -pthread_create(&d->guest, NULL, guest_main, d);
		d->guest_started = !err;
	}
	if (err) {
		hw_dma_stop(d);
		return err;
	}
	*out = d;
	return 0;
}

void hw_dma_stop(struct hw_dma *d)
{
	if (!d)
		return;
	atomic_store(&d->stop, true);
	for (unsigned int i = 0; i < d->nr_engines; i++)
		if (d->eng[i].started)
			pthread_join(d->eng[i].th, NULL);
	if (d->guest_started)
		pthread_join(d->guest, NULL);
	free(d);
}
