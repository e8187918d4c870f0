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
/*
 * Nested (run --nested): the guest's own stage 1, an ARM stage-1 table
 * in its RAM, maps the DMA window at IOVA NEST_IOVA + x to IPA x; its
 * pages come from a 2 MiB region at IPA guest_size / 2, between the
 * devices' window (below) and the vCPU's (the top quarter), so nothing
 * but the guest's table-building writes it. The guest tags it with its
 * own ASID, NEST_DID; the host's stage-2 domain ID is the VMID.
 */
#define NEST_IOVA (1ull << 40)
#define NEST_REGION KHO_2M
#define NEST_DID 0x51u

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
	uint64_t shift;  /* nested: device IOVA = IPA + shift */
	uint32_t nest_mask; /* the devices it applies to */
};

/* PASIDs of device 0 that are attached and replayed (0: none). */
static unsigned int pasids_replayed(const struct lu_gen_cfg *c)
{
	return c->replay_pasids ? c->pasids : 0;
}

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
	/* Device 0 DMAs on each of its PASIDs too: one oracle range each. */
	unsigned int per_dev0 = 1 + pasids_replayed(o->g->cfg);
	if ((o->n + 1) * per_dev0 > HW_ORACLE_RANGES) {
		o->hi = r->iova - 1;
		return 1;
	}
	for (unsigned int d = 0; d < o->g->cfg->devices; d++) {
		uint64_t sh = o->nest_mask >> d & 1 ? o->shift : 0;
		for (uint32_t p = 0; p < (d ? 1 : per_dev0); p++) {
			int err = iommu_drv_oracle_map_pasid(&o->g->drv, d, p,
							     r->iova + sh, r->pa,
							     end - r->iova + 1,
							     r->prot);
			if (err)
				return err;
		}
	}
	o->n++;
	return 0;
}

/* Device 0's PASIDs 1 .. c->pasids, each on a HWPT of its own over the
 * guest's IOAS, built like the device's own table. */
static int attach_pasids(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	if (c->pasids >= IOMMUFD_MAX_PASIDS || c->nested)
		return lu_gen_fail(g, LU_EXIT_INPUT, "replayed PASIDs: device 0 "
				   "can have 1 to %u, not nested (asked: %u%s)",
				   IOMMUFD_MAX_PASIDS - 1, c->pasids,
				   c->nested ? ", nested" : "");
	for (uint32_t p = 1; p <= c->pasids; p++) {
		struct iommufd_hwpt *hp;
		int err = iommufd_hwpt_alloc(&g->ictx, g->ioas, 0, &hp);
		if (!err)
			err = iommufd_device_attach_pasid(&g->ictx, 0, p, hp);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "PASID %u: %s", p,
					   strerror(-err));
	}
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

/* ---- the guest's stage 1 (nested) --------------------------------------- */

static uint64_t nest_region_ipa(uint64_t guest_size)
{
	return guest_size / 2;
}

/* Host virtual address of guest IPA ipa (one 4 KiB page), or NULL. */
static void *guest_page(struct lu_gen *g, uint64_t ipa)
{
	const struct kho_memfd *m = g->guest;
	size_t lo = 0, hi = m->nr_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kho_memfd_run *r = &m->runs[mid];
		if (ipa < r->offset)
			hi = mid;
		else if (ipa - r->offset >= r->count << r->size_lg2)
			lo = mid + 1;
		else
			return kho_va(&g->k, r->pa + (ipa - r->offset), KHO_4K);
	}
	return NULL;
}

/* The guest's page allocator for its stage 1: the region, bottom up. */
struct guest_pool {
	struct lu_gen *g;
	uint64_t next;
};

static void *pool_alloc(void *ctx, pt_oaddr_t *ipa)
{
	struct guest_pool *p = ctx;
	uint64_t base = nest_region_ipa(p->g->cfg->guest_size);
	if (p->next - base >= NEST_REGION)
		return NULL;
	*ipa = p->next;
	p->next += KHO_4K;
	return guest_page(p->g, *ipa);
}

static void pool_free(void *ctx, void *page, pt_oaddr_t ipa)
{
	(void)ctx;
	(void)page;
	(void)ipa;
}

static void *pool_va(void *ctx, pt_oaddr_t ipa)
{
	struct guest_pool *p = ctx;
	return guest_page(p->g, ipa);
}

static const struct pt_mem_ops pool_ops = {
	.alloc = pool_alloc, .free = pool_free, .defer_free = pool_free,
	.phys_to_virt = pool_va,
};

/*
 * What the guest does: build its stage 1 over [0, win) of its RAM at
 * IOVA NEST_IOVA, leaves of the sizes given. Returns the root IPA.
 */
static int guest_build_s1(struct lu_gen *g, uint64_t win, uint64_t pgsizes,
			  uint64_t *root)
{
	static struct guest_pool pool;
	struct pt_table t;
	struct pt_gather gat;
	pool = (struct guest_pool){ g, nest_region_ipa(g->cfg->guest_size) };
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S1, .va_bits = 48, .oa_bits = 48,
			      .pgsizes = pgsizes };
	int err = pt_init(&t, &cfg, &pool_ops, &pool);
	if (err)
		return err;
	pt_gather_init(&gat);
	err = pt_map_range(&t, NEST_IOVA, 0, win, LU_RW_CACHE, &gat);
	*root = t.top_pa;
	/* The table is the guest's: the host keeps no handle on it. */
	return err;
}

/* The VMM's view of the guest's stage-1 region: a 64-bit FNV-1a over
 * its words (the region is guest RAM; the host only reads it). */
static uint64_t s1_region_hash(struct lu_gen *g, uint64_t *bytes)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint64_t base = nest_region_ipa(g->cfg->guest_size);
	*bytes = 0;
	for (uint64_t off = 0; off < NEST_REGION; off += KHO_4K) {
		const uint64_t *p = guest_page(g, base + off);
		if (!p)
			break;
		for (unsigned int i = 0; i < KHO_4K / 8; i++)
			h = (h ^ p[i]) * 0x100000001b3ull;
		*bytes += KHO_4K;
	}
	return h;
}

int lu_vmm_check_nested(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	uint64_t bytes;
	uint64_t h = s1_region_hash(g, &bytes);
	g->s1_bytes_checked = bytes;
	if (bytes != NEST_REGION || h != g->s1_hash)
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "the guest's stage-1 "
				   "table (IPA 0x%" PRIx64 ", %" PRIu64 " KiB) "
				   "changed across the update: the host must "
				   "never write it", nest_region_ipa(c->guest_size),
				   (uint64_t)(NEST_REGION >> 10));
	for (unsigned int d = 0; d < c->devices; d++) {
		const struct iommufd_device *dev = &g->ictx.dev[d];
		if (!dev->hwpt || !(lu_keep_mask(c) >> d & 1))
			continue;
		uint64_t ste[HW_STE_WORDS];
		const struct iommufd_hwpt_nested *n = dev->nested;
		if (!n || n->s1_did != NEST_DID || n->fmt != PT_FMT_ARM_S1 ||
		    iommu_drv_read_ste(&g->drv, d, ste) ||
		    HW_FIELD_GET(HW_STE0_MODE, ste[0]) != HW_STE_MODE_NESTED ||
		    (ste[1] & HW_STE1_ROOT) != n->s1_root ||
		    HW_FIELD_GET(HW_STE2_DID, ste[2]) != NEST_DID ||
		    (ste[3] & HW_STE3_S2ROOT) != dev->hwpt->pt.top_pa)
			return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "device %u: its "
					   "nested configuration (the guest's "
					   "stage 1, DID 0x%x) was not carried "
					   "over", d, NEST_DID);
	}
	return 0;
}

void lu_vmm_naive_s1(struct lu_gen *g)
{
	uint64_t win = g->cfg->guest_size / 2 < DMA_WINDOW_MAX ?
		       g->cfg->guest_size / 2 : DMA_WINDOW_MAX;
	uint64_t root;
	/* As if stage 1 were the host's to replay: rebuilt in place, this
	 * kernel's way (4 KiB pages), over the guest's live table. */
	int err = guest_build_s1(g, win, PT_SZ_4K, &root);
	lu_log("naive: replayed the guest's stage 1 in place (root 0x%" PRIx64
	       "): %s", root, err ? pt_strerror(err) : "done");
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
	/* DMA into the start of guest RAM, the guest CPU writes its end. */
	uint64_t win = c->guest_size / 2 < DMA_WINDOW_MAX ? c->guest_size / 2 :
		       DMA_WINDOW_MAX;
	/*
	 * Nested: the guest builds its stage 1 in its RAM; its VMM asks for
	 * a nested HWPT over h (the host's stage 2) and attaches the
	 * preserved devices to it. The other VM's devices stay unnested.
	 */
	struct iommufd_hwpt_nested *nest = NULL;
	uint64_t shift = 0;
	if (c->nested) {
		uint64_t root;
		const char *why;
		err = iommufd_nest_check(PT_FMT_ARM_S1, c->fmt, &why);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INPUT, "--nested: %s", why);
		err = guest_build_s1(g, win, PT_SZ_4K | PT_SZ_2M, &root);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "guest stage 1: %s",
					   pt_strerror(err));
		uint64_t bytes;
		g->s1_hash = s1_region_hash(g, &bytes);
		err = iommufd_hwpt_alloc_nested(&g->ictx, h, PT_FMT_ARM_S1, 48,
						root, NEST_DID, &nest);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "nested hwpt: %s",
					   strerror(-err));
		shift = NEST_IOVA;
	}
	for (unsigned int d = 0; d < c->devices && !err; d++)
		err = nest && keep >> d & 1 ?
		      iommufd_device_attach_nested(&g->ictx, d, nest) :
		      iommufd_device_attach(&g->ictx, d, keep >> d & 1 ? h : other);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "attach: %s", strerror(-err));
	g->preserved_mask = (uint32_t)((1ull << c->devices) - 1);
	g->ictx.preserve_pasids = c->replay_pasids;
	/*
	 * What a device's driver asked for. Replayed: each PASID of device
	 * 0 attached to a table of its own over the guest's IOAS (its own
	 * domain ID), DMAing like PASID 0. Otherwise a count the kernel
	 * does not track, which makes the device unpreservable.
	 */
	if (c->replay_pasids && c->pasids) {
		err = attach_pasids(g);
		if (err)
			return err;
	} else {
		g->ictx.dev[0].pasids = c->pasids;
	}

	struct oracle_feed o = { .g = g, .lo = 0, .hi = win - 1, .shift = shift,
				 .nest_mask = nest ? keep : 0 };
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
		/* The other VM's devices (unnested) DMA at the IPAs. */
		uint64_t sh = nest && keep >> d & 1 ? shift : 0;
		atomic_store(&regs->dev_ctl[d].win_lo, sh + o.lo + d * slice);
		atomic_store(&regs->dev_ctl[d].win_hi, sh + o.lo + d * slice + span - 1);
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
	/* A stream table per IOMMU unit; the topology is the hardware's. */
	g->unit = (struct iommu_unit){ .nr_units = g->drv.nr_units,
				       .strtab_log2 = STRTAB_LOG2,
				       .fmt = c->fmt, .va_bits = c->va_bits };
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		g->unit.dev_unit[d] = (uint8_t)iommu_drv_unit_of(&g->drv, d);
	for (unsigned int u = 0; u < g->unit.nr_units && !err; u++) {
		uint64_t strtab;
		err = kho_folio_alloc(&g->k.alloc, KHO_4K_LG2, &strtab);
		if (!err) {
			memset(kho_va(&g->k, strtab, KHO_4K), 0, KHO_4K);
			err = iommu_drv_set_strtab(&g->drv, u, strtab, STRTAB_LOG2);
		}
		g->unit.strtab_pa[u] = strtab;
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "stream table of "
					   "IOMMU unit %u: %s", u, strerror(-err));
	}
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
