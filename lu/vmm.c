// SPDX-License-Identifier: MIT
/*
 * vmm: what the VMM asks of the host kernel for its VM: guest memory (a
 * memfd of folios), its IOAS with the guest's RAM mapped, one HWPT with
 * every device attached, the DMA windows the machine's engines and the
 * guest CPU use, and memory hot-added during an update's recovery. The
 * guest layout functions are also what `iohandover dump` builds, so the
 * two cannot drift apart.
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioh/ioh.h"

#define HOTPLUG_MEMFD "hotplug"
#define HOTPLUG_SIZE (64ull << 20)
#define HOTPLUG_ARRIVAL_MS 10000
#define STRTAB_LOG2 6u
#define DMA_WINDOW_MAX (256ull << 20)
#define ATS_SPAN ((uint64_t)HW_ATC_ENTRIES / 2 * KHO_4K)
#define GUEST_CPU_MAX (16ull << 20)
/*
 * Guest data is stamped on a sample of its folios: every folio of a
 * small guest, 4 Ki of them spread over a large one (at most 32 MiB of
 * physmem touched; stamping every folio of a 1 TiB guest faulted in
 * 1.5 M pages, most of the first boot's time and resident memory).
 */
#define GUEST_STAMP_FOLIOS 4096u

uint64_t lu_vmm_ram_size(uint64_t guest_size)
{
	uint64_t ram = guest_size + guest_size / 32 + (512ull << 20);
	return (ram + KHO_1G - 1) & ~(KHO_1G - 1);
}

int lu_vmm_create_guest(struct kho *k, uint64_t size,
			const struct kho_memfd_mix *mix, struct kho_memfd **out)
{
	return kho_memfd_create(k, LU_GUEST_MEMFD, size, mix, out);
}

int lu_vmm_map_guest(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		     struct kho_memfd *guest, uint64_t size)
{
	uint64_t half = size / 2 & ~(KHO_2M - 1);
	uint64_t seam = half ? half : size;
	int err = iommufd_ioas_map_file(ioas, ictx, guest, 0, seam, 0, LU_RW_CACHE);
	if (!err && seam < size)
		err = iommufd_ioas_map_file(ioas, ictx, guest, seam, size - seam,
					    seam, LU_RW_CACHE);
	return err;
}

/* ---- a fresh VM ---------------------------------------------------------- */

struct oracle_feed {
	struct lu_gen *g;
	uint64_t lo, hi; /* window */
	unsigned int n;
};

static int feed_oracle(void *arg, const struct iommufd_run *r)
{
	struct oracle_feed *o = arg;
	if (r->iova > o->hi)
		return 1;
	uint64_t end = r->iova + r->len - 1;
	if (end > o->hi)
		end = o->hi;
	if (o->n == HW_ORACLE_RANGES) {
		/* Out of oracle slots: the window ends here. */
		o->hi = r->iova - 1;
		return 1;
	}
	for (unsigned int d = 0; d < o->g->cfg->devices; d++) {
		int err = iommu_drv_oracle_map(&o->g->drv, d, r->iova, r->pa,
					       end - r->iova + 1, r->prot);
		if (err)
			return err;
	}
	o->n++;
	return 0;
}

/* Guest memory first, while RAM is still unfragmented. */
static int create_guest_memory(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = lu_vmm_create_guest(&g->k, c->guest_size, &c->mix, &g->guest);
	if (!err)
		err = kho_memfd_stamp_some(g->guest, GUEST_STAMP_FOLIOS);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INPUT, "guest memory of %" PRIu64
				   " bytes: %s", c->guest_size, strerror(-err));
	g->memfds[g->nr_memfds++] = g->guest;
	return 0;
}

static int setup_vm(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = iommufd_ioas_alloc(&g->ictx, &g->ioas);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "ioas: %s", strerror(-err));
	err = lu_vmm_map_guest(&g->ictx, g->ioas, g->guest, c->guest_size);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "map guest memory: %s",
				   strerror(-err));
	struct iommufd_hwpt *h;
	err = iommufd_hwpt_alloc(&g->ictx, g->ioas, 0, &h);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "hwpt: %s", strerror(-err));
	/*
	 * Partial preservation: the devices that will not survive an update
	 * belong to another VM, with its own IOAS and HWPT. Its memory is
	 * modelled by the same guest memfd (mapped again, pinned again), so
	 * the DMA windows and the oracle stay one per device as for the
	 * first VM; nothing of it is handed over.
	 */
	struct iommufd_hwpt *other = h;
	uint32_t keep = lu_keep_mask(c);
	if (c->preserve && c->preserve < c->devices) {
		struct iommufd_ioas *ioas2;
		err = iommufd_ioas_alloc(&g->ictx, &ioas2);
		if (!err)
			err = lu_vmm_map_guest(&g->ictx, ioas2, g->guest, c->guest_size);
		if (!err)
			err = iommufd_hwpt_alloc(&g->ictx, ioas2, 0, &other);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "the other VM: %s",
					   strerror(-err));
	}
	/* ATS is enabled before the device is attached (its ATC empty). */
	for (unsigned int d = 0; d < c->ats && d < c->devices && !err; d++)
		err = iommufd_device_set_ats(&g->ictx, d, true);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "ats: %s", strerror(-err));
	for (unsigned int d = 0; d < c->devices && !err; d++)
		err = iommufd_device_attach(&g->ictx, d, keep >> d & 1 ? h : other);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "attach: %s", strerror(-err));
	g->preserved_mask = (uint32_t)((1ull << c->devices) - 1);
	/* What a device's driver asked for: PASIDs make it unpreservable. */
	g->ictx.dev[0].pasids = c->pasids;

	/* DMA into the start of guest RAM, the guest CPU writes its end. */
	uint64_t win = c->guest_size / 2 < DMA_WINDOW_MAX ? c->guest_size / 2 :
		       DMA_WINDOW_MAX;
	struct oracle_feed o = { .g = g, .lo = 0, .hi = win - 1 };
	err = iommufd_ioas_for_each_run(g->ioas, true, feed_oracle, &o);
	if (err < 0)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "oracle: %s", strerror(-err));
	/*
	 * Each device gets its own slice of the window: two devices writing
	 * one buffer would overwrite each other's stamps, which the machine
	 * rightly counts as lost writes. Devices come out of reset disabled
	 * with the full window: each is enabled only once its slice is
	 * published, or it could write into another's in between.
	 */
	struct hw_regs *regs = g->region.regs;
	uint64_t slice = ((o.hi - o.lo + 1) / c->devices) & ~(KHO_4K - 1);
	for (unsigned int d = 0; d < c->devices; d++) {
		/*
		 * An ATS device works on as many pages as half its ATC holds,
		 * so that its ATC is warm throughout and still holds the old
		 * table's translations when an update switches tables: the
		 * case the ATC invalidation exists for. Spread over the whole
		 * slice it would evict them before the old table is freed.
		 */
		uint64_t span = d < c->ats && slice > ATS_SPAN ? ATS_SPAN : slice;
		atomic_store(&regs->dev_ctl[d].win_lo, o.lo + d * slice);
		atomic_store(&regs->dev_ctl[d].win_hi, o.lo + d * slice + span - 1);
		iommu_drv_dma_enable(&g->drv, d, true);
	}
	/*
	 * The vCPU writes the tail of the last run: at the top of guest
	 * memory, at most a quarter of it, so never where devices DMA (the
	 * bottom half); its stores would wipe their stamps.
	 */
	const struct kho_memfd_run *last = &g->guest->runs[g->guest->nr_runs - 1];
	uint64_t run_len = last->count << last->size_lg2;
	uint64_t cpu_len = c->guest_size / 4 < GUEST_CPU_MAX ? c->guest_size / 4 :
			   GUEST_CPU_MAX;
	if (cpu_len > run_len)
		cpu_len = run_len;
	atomic_store(&regs->guest_ram_pa, last->pa + run_len - cpu_len);
	atomic_store(&regs->guest_ram_len, cpu_len);
	return 0;
}

int lu_vmm_create_vm(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = create_guest_memory(g);
	if (err)
		return err;
	err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommu: %s", strerror(-err));
	uint64_t strtab;
	err = kho_folio_alloc(&g->k.alloc, KHO_4K_LG2, &strtab);
	if (!err) {
		memset(kho_va(&g->k, strtab, KHO_4K), 0, KHO_4K);
		err = iommu_drv_set_strtab(&g->drv, strtab, STRTAB_LOG2);
	}
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "stream table: %s",
				   strerror(-err));
	g->unit = (struct iommu_unit){ strtab, STRTAB_LOG2, c->fmt, c->va_bits };
	err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, c->fmt, c->va_bits);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INPUT, "iommufd: %s", strerror(-err));
	return setup_vm(g);
}

/* ---- memory hotplug during recovery -------------------------------------- */

struct lu_hotplug {
	struct lu_gen *g;
	pthread_t thread;
	struct kho_memfd *memfd;
	uint64_t iova;
	int err;
	uint64_t wait_ns;
};

/* The VMM hot-adds memory while the kernel is still recovering. */
static void *hotplug_thread(void *arg)
{
	struct lu_hotplug *hp = arg;
	uint64_t t0 = ioh_now_ns();
	hp->err = iommufd_ioas_map_file(hp->g->ioas, &hp->g->ictx, hp->memfd, 0,
					HOTPLUG_SIZE, hp->iova, LU_RW_CACHE);
	hp->wait_ns = ioh_now_ns() - t0;
	return NULL;
}

int lu_vmm_hotplug_start(struct lu_gen *g, struct lu_hotplug **out)
{
	static struct lu_hotplug slot;
	struct lu_hotplug *hp = &slot;
	*hp = (struct lu_hotplug){ .g = g };
	/* Each update's hotplug gets its own 1 GiB slot above RAM. */
	char name[32];
	snprintf(name, sizeof(name), HOTPLUG_MEMFD "-%" PRIu64, g->k.generation);
	hp->iova = ((g->cfg->guest_size + KHO_1G) & ~(KHO_1G - 1)) +
		   (g->k.generation - 2) * KHO_1G;
	int err = g->nr_memfds == IOMMUFD_MAX_MEMFDS ? -E2BIG :
		  kho_memfd_create(&g->k, name, HOTPLUG_SIZE,
				   &kho_memfd_mix_default, &hp->memfd);
	if (!err && pthread_create(&hp->thread, NULL, hotplug_thread, hp))
		err = -EAGAIN;
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "hotplug: %s", strerror(-err));
	/*
	 * The request arrives now, while recovery runs: wait until its map
	 * is waiting, however late the thread runs on a loaded machine.
	 */
	if (!iommufd_await_recovery_waiter(&g->ictx, HOTPLUG_ARRIVAL_MS))
		lu_log("hotplug did not arrive during recovery");
	*out = hp;
	return 0;
}

int lu_vmm_hotplug_finish(struct lu_gen *g, struct lu_hotplug *hp, int err)
{
	pthread_join(hp->thread, NULL);
	g->memfds[g->nr_memfds++] = hp->memfd;
	g->hotplug_wait_ns = hp->wait_ns;
	g->hotplug_done = !hp->err;
	/* The hotplug's map is the only one during recovery. */
	g->hotplug_waited = g->ictx.stats.maps_waited > 0;
	if (hp->err && !err)
		err = lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "hotplug map: %s",
				  strerror(-hp->err));
	if (hp->err)
		return err;
	for (uint64_t off = 0; off < HOTPLUG_SIZE && !err; off += KHO_2M) {
		pt_oaddr_t pa;
		const struct kho_memfd_folio *f = kho_memfd_lookup(hp->memfd, off);
		struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
		if (pt_iova_to_phys(&h->pt, hp->iova + off, &pa) ||
		    pa != f->pa + (off - f->offset))
			err = lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "hotplugged IOVA 0x%"
					  PRIx64 " is not translated as mapped",
					  hp->iova + off);
	}
	return err;
}
