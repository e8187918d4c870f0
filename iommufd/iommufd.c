// SPDX-License-Identifier: MIT
#include "iommufd/iommufd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi/hw_abi_ste.h"

/* ---- profiles --------------------------------------------------------- */

#define F_ARM (IOMMUFD_FMT_BIT(PT_FMT_ARM_S1) | IOMMUFD_FMT_BIT(PT_FMT_ARM_S2))
#define F_VTD IOMMUFD_FMT_BIT(PT_FMT_VTD_SS)
#define F_X86 IOMMUFD_FMT_BIT(PT_FMT_X86_64)
#define F_AMD IOMMUFD_FMT_BIT(PT_FMT_AMD_V1)
#define F_RV IOMMUFD_FMT_BIT(PT_FMT_RISCV)

/*
 * One row per kernel policy. Where each was read from, and what it
 * decides, is in docs/liveupdate.md ("Profiles of real Linux drivers");
 * keep the two in step. Every real driver maps one IOAS area (one VFIO
 * DMA mapping) at a time, so none has COALESCE.
 */
static const struct iommufd_profile profiles[] = {
	{ "v1", "model kernel: each level's own leaf sizes, one map call per area",
	  IOMMUFD_FMT_EVERY, 0, "iohandover's own model" },
	{ "v2", "model kernel: contiguous or replicated runs, coalesces areas "
	  "that continue each other", IOMMUFD_FMT_EVERY,
	  IOMMUFD_FEAT_CONTIG | IOMMUFD_FEAT_COALESCE, "iohandover's own model" },

	{ "io-pgtable-arm", "SMMUv3 io-pgtable-arm: 4K, 2M, 1G blocks, no "
	  "contiguous bit; stage 2 concatenates its start level", F_ARM, 0,
	  "drivers/iommu/io-pgtable-arm.c arm_lpae_alloc_pgtable, "
	  "arm_lpae_restrict_pgsizes, arm_lpae_map_pages (all versions)" },
	{ "genpt-armv8", "generic page table ARMv8 as posted: contiguous runs "
	  "(64K, 32M, 16G); stage 2 concatenates its start level", F_ARM,
	  IOMMUFD_FEAT_CONTIG,
	  "drivers/iommu/generic_pt/fmt/armv8.h (iommupt/armv8 series, 2026, "
	  "not merged)" },

	{ "intel-iommu", "VT-d second stage before the generic page table, "
	  "SLLPS 2M and 1G: 4K, 2M, 1G", F_VTD, 0,
	  "drivers/iommu/intel/iommu.c paging_domain_alloc, "
	  "iommu_superpage_capability (up to 6.18)" },
	{ "intel-iommu-sllps-2m", "the same, hardware with SLLPS 2M only: 4K, 2M",
	  F_VTD, IOMMUFD_FEAT_LIMIT_1G | IOMMUFD_FEAT_LIMIT_HUGE,
	  "intel/iommu.c cap_super_page_val (up to 6.18)" },
	{ "intel-iommu-sp_off", "the same with intel_iommu=sp_off, or SLLPS "
	  "none: 4K only", F_VTD, IOMMUFD_FEAT_4K_ONLY,
	  "intel/iommu.c intel_iommu_setup (sp_off), up to 6.18" },
	{ "genpt-vtdss", "generic page table VT-d SS, SLLPS 2M and 1G: 4K, 2M, 1G",
	  F_VTD, 0, "drivers/iommu/generic_pt/fmt/vtdss.h, intel/iommu.c "
	  "intel_iommu_domain_alloc_second_stage (6.19 on)" },
	{ "genpt-vtdss-sllps-2m", "the same, hardware with SLLPS 2M only: 4K, 2M",
	  F_VTD, IOMMUFD_FEAT_LIMIT_1G | IOMMUFD_FEAT_LIMIT_HUGE,
	  "intel/iommu.c paging_domain_compatible_second_stage (6.19 on)" },
	{ "genpt-vtdss-sp_off", "the same with intel_iommu=sp_off, or SLLPS "
	  "none: 4K only", F_VTD, IOMMUFD_FEAT_4K_ONLY,
	  "intel/iommu.c intel_iommu_setup (6.19 on)" },

	{ "x86-64-fs", "VT-d first stage or AMD v2 table, 1G pages supported: "
	  "4K, 2M, 1G", F_X86, 0, "generic_pt/fmt/x86_64.h; intel/iommu.c "
	  "paging_domain_compatible_first_stage (cap_fl1gp_support)" },
	{ "x86-64-fs-no1g", "VT-d first stage without FL1GP: 4K, 2M", F_X86,
	  IOMMUFD_FEAT_LIMIT_1G | IOMMUFD_FEAT_LIMIT_HUGE,
	  "intel/iommu.c paging_domain_compatible_first_stage" },

	{ "amd-v1", "AMD v1 host table: every power of two from 4K "
	  "(replicated PTEs, NextLevel 7) but 512G", F_AMD, IOMMUFD_FEAT_CONTIG,
	  "drivers/iommu/amd/amd_iommu_types.h AMD_IOMMU_PGSIZES, "
	  "amd/io_pgtable.c (to 6.18), generic_pt/fmt/amdv1.h (6.19 on)" },
	{ "amd-v1-v2_pgsizes_only", "the same with amd_iommu=v2_pgsizes_only: "
	  "4K, 2M, 1G", F_AMD, IOMMUFD_FEAT_LIMIT_HUGE,
	  "drivers/iommu/amd/init.c parse_amd_iommu_options (AMD_IOMMU_PGSIZES_V2)" },
	{ "amd-v1-nohugepages", "the same with amd_iommu=nohugepages: 4K only",
	  F_AMD, IOMMUFD_FEAT_4K_ONLY,
	  "drivers/iommu/amd/init.c parse_amd_iommu_options (AMD_IOMMU_PGSIZES_4K)" },

	{ "riscv-iommu", "RISC-V IOMMU before the generic page table: 4K, 2M, "
	  "1G, 512G, no Svnapot", F_RV, 0,
	  "drivers/iommu/riscv/iommu.c riscv_iommu_alloc_paging_domain (6.13 on)" },
	{ "genpt-riscv", "generic page table RISC-V with Svnapot: 64K NAPOT runs "
	  "too", F_RV, IOMMUFD_FEAT_CONTIG,
	  "drivers/iommu/generic_pt/fmt/riscv.h (PT_FEAT_RISCV_SVNAPOT_64K, 2026)" },
};

#define NR_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

size_t iommufd_profile_count(void)
{
	return NR_PROFILES;
}

const struct iommufd_profile *iommufd_profile_at(size_t i)
{
	return i < NR_PROFILES ? &profiles[i] : NULL;
}

const struct iommufd_profile *iommufd_profile_find(const char *name)
{
	for (size_t i = 0; name && i < NR_PROFILES; i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

const struct iommufd_profile *iommufd_profile_find_for(const char *name,
						       enum pt_format_id fmt)
{
	const struct iommufd_profile *p = iommufd_profile_find(name);
	return p && (unsigned int)fmt < PT_FMT_COUNT &&
	       (p->formats & IOMMUFD_FMT_BIT(fmt)) ? p : NULL;
}

static const char *names_for(uint32_t mask, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < NR_PROFILES; i++) {
		if (!(profiles[i].formats & mask))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
				 profiles[i].name);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

const char *iommufd_profile_names(void)
{
	static char buf[1024];
	return names_for(IOMMUFD_FMT_EVERY, buf, sizeof(buf));
}

const char *iommufd_profile_names_for(enum pt_format_id fmt)
{
	static char buf[PT_FMT_COUNT][1024];
	if ((unsigned int)fmt >= PT_FMT_COUNT)
		return "";
	return names_for(IOMMUFD_FMT_BIT(fmt), buf[fmt], sizeof(buf[fmt]));
}

uint32_t iommufd_features(const struct iommufd_profile *p, uint32_t flags)
{
	uint32_t f = p->features;
	if (flags & IOMMUFD_HWPT_NO_CONTIG)
		f &= ~IOMMUFD_FEAT_CONTIG;
	if (flags & IOMMUFD_HWPT_NO_COALESCE)
		f &= ~IOMMUFD_FEAT_COALESCE;
	/* The limit flags and features share their bits. */
	return f | (flags & IOMMUFD_FEAT_LIMITS);
}

uint32_t iommufd_features_common(uint32_t a, uint32_t b)
{
	return (a & b & ~IOMMUFD_FEAT_LIMITS) | ((a | b) & IOMMUFD_FEAT_LIMITS);
}

uint32_t iommufd_flags_for(uint32_t features)
{
	return (features & IOMMUFD_FEAT_CONTIG ? 0 : IOMMUFD_HWPT_NO_CONTIG) |
	       (features & IOMMUFD_FEAT_COALESCE ? 0 : IOMMUFD_HWPT_NO_COALESCE) |
	       (features & IOMMUFD_FEAT_LIMITS);
}

uint64_t iommufd_pgsizes(enum pt_format_id fmt, uint32_t features)
{
	uint64_t sizes = pt_fmt_pgsizes(fmt), out = 0;
	for (unsigned int lg2 = 12; lg2 < 64; lg2++) {
		if (!(sizes & (1ull << lg2)))
			continue;
		/* The level whose items the leaf is made of: a run (ARM
		 * contiguous, AMD NextLevel 7, RISC-V NAPOT) belongs to
		 * the level of the items it repeats. */
		unsigned int level = (lg2 - 12) / 9;
		bool item = (lg2 - 12) % 9 == 0;
		if (!item && !(features & IOMMUFD_FEAT_CONTIG))
			continue;
		if ((level == 1 && (features & IOMMUFD_FEAT_LIMIT_2M)) ||
		    (level == 2 && (features & IOMMUFD_FEAT_LIMIT_1G)) ||
		    (level >= 3 && (features & IOMMUFD_FEAT_LIMIT_HUGE)))
			continue;
		out |= 1ull << lg2;
	}
	return out;
}

/* ---- table memory ------------------------------------------------------ */

static void *tbl_alloc(void *ctx, pt_oaddr_t *pa)
{
	struct iommufd_ctx *ictx = ctx;
	uint64_t p;
	if (kho_folio_alloc(&ictx->k->alloc, KHO_4K_LG2, &p))
		return NULL;
	iommu_drv_table_page_used(ictx->drv, p);
	if (++ictx->stats.table_pages > ictx->stats.table_pages_peak)
		ictx->stats.table_pages_peak = ictx->stats.table_pages;
	*pa = p;
	return kho_va(ictx->k, p, PT_TABLE_SIZE);
}

static void tbl_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct iommufd_ctx *ictx = ctx;
	(void)page;
	iommu_drv_table_page_freed(ictx->drv, pa);
	/* Freeing what is not allocated is a bug the crash tests look for. */
	if (kho_folio_free(&ictx->k->alloc, pa))
		ictx->stats.bad_frees++;
	ictx->stats.table_pages--;
}

/* A concatenated top: 2^lg2 contiguous 4K folios, each a table page of
 * its own to the driver, the handover and the free path. */
static void *tbl_alloc_top(void *ctx, unsigned int lg2, pt_oaddr_t *pa)
{
	struct iommufd_ctx *ictx = ctx;
	uint64_t p;
	if (kho_folio_alloc_4k_run(&ictx->k->alloc, lg2, &p))
		return NULL;
	for (unsigned int i = 0; i < 1u << lg2; i++)
		iommu_drv_table_page_used(ictx->drv, p + (uint64_t)i * KHO_4K);
	ictx->stats.table_pages += 1u << lg2;
	if (ictx->stats.table_pages > ictx->stats.table_pages_peak)
		ictx->stats.table_pages_peak = ictx->stats.table_pages;
	*pa = p;
	return kho_va(ictx->k, p, (uint64_t)PT_TABLE_SIZE << lg2);
}

static void tbl_free_top(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2)
{
	(void)pages;
	for (unsigned int i = 0; i < 1u << lg2; i++)
		tbl_free(ctx, NULL, pa + (uint64_t)i * KHO_4K);
}

static void tbl_defer_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct iommufd_ctx *ictx = ctx;
	(void)page;
	/*
	 * Without room to remember the page it can never be freed safely;
	 * keeping it allocated is the only safe choice.
	 */
	(void)ioh_u64vec_push(&ictx->deferred, pa);
}

static void *tbl_phys_to_virt(void *ctx, pt_oaddr_t pa)
{
	struct iommufd_ctx *ictx = ctx;
	return kho_va(ictx->k, pa, PT_TABLE_SIZE);
}

void iommufd_free_deferred(struct iommufd_ctx *ictx)
{
	struct ioh_u64vec *d = &ictx->deferred;
	for (size_t i = 0; i < d->n; i++)
		tbl_free(ictx, NULL, d->v[i]);
	d->n = 0;
}

/* ---- context ----------------------------------------------------------- */

int iommufd_init(struct iommufd_ctx *ictx, struct kho *k, struct iommu_drv *drv,
		 const struct iommufd_profile *profile, enum pt_format_id fmt,
		 unsigned int va_bits)
{
	if (!k->pm || !profile || pt_fmt_levels_for(fmt, va_bits) < 0)
		return -EINVAL;
	memset(ictx, 0, sizeof(*ictx));
	ictx->k = k;
	ictx->drv = drv;
	ictx->profile = profile;
	ictx->fmt = fmt;
	ictx->va_bits = va_bits;
	ictx->mem = (struct pt_mem_ops){
		.alloc = tbl_alloc,
		.free = tbl_free,
		.alloc_top = tbl_alloc_top,
		.free_top = tbl_free_top,
		.defer_free = tbl_defer_free,
		.phys_to_virt = tbl_phys_to_virt,
		.linear = true,
		.linear_offset = (uintptr_t)k->pm->base,
	};
	ictx->next_id = 1;
	iommufd_ids_init(&ictx->dids);
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++) {
		ictx->dev[i].sid = i;
		/* Without hardware (dump, check): one unit. */
		ictx->dev[i].unit = drv ? iommu_drv_unit_of(drv, i) : 0;
	}
	pthread_mutex_init(&ictx->lock, NULL);
	pthread_cond_init(&ictx->recovered, NULL);
	pthread_cond_init(&ictx->waiter, NULL);
	return 0;
}

/* ---- domain IDs -------------------------------------------------------- */

void iommufd_ids_init(struct iommufd_ids *ids)
{
	memset(ids, 0, sizeof(*ids));
	ids->map[0] = 1; /* ID 0 is never a domain */
	ids->used = 1;
	ids->next = 1;
}

bool iommufd_id_busy(const struct iommufd_ids *ids, uint16_t id)
{
	return ids->map[id / 64] >> (id % 64) & 1;
}

int iommufd_id_reserve(struct iommufd_ids *ids, uint16_t id)
{
	if (!id)
		return -EINVAL;
	if (iommufd_id_busy(ids, id))
		return -EEXIST;
	ids->map[id / 64] |= 1ull << (id % 64);
	ids->used++;
	return 0;
}

void iommufd_id_free(struct iommufd_ids *ids, uint16_t id)
{
	if (id && iommufd_id_busy(ids, id)) {
		ids->map[id / 64] &= ~(1ull << (id % 64));
		ids->used--;
	}
}

int iommufd_id_alloc(struct iommufd_ids *ids, uint16_t *out)
{
	if (ids->used >= IOMMUFD_NR_IDS)
		return -ENOSPC;
	/* Word by word from the cursor, wrapping once. */
	uint32_t start = ids->next % IOMMUFD_NR_IDS;
	for (uint32_t n = 0; n <= IOMMUFD_NR_IDS / 64; n++) {
		uint32_t w = (start / 64 + n) % (IOMMUFD_NR_IDS / 64);
		uint64_t free_bits = ~ids->map[w];
		if (!n)
			free_bits &= ~0ull << (start % 64);
		if (!free_bits)
			continue;
		uint16_t id = (uint16_t)(w * 64 + (uint32_t)__builtin_ctzll(free_bits));
		ids->map[w] |= 1ull << (id % 64);
		ids->used++;
		ids->next = (uint32_t)id + 1;
		*out = id;
		return 0;
	}
	return -ENOSPC;
}

/* did goes back to the allocator unless a registered HWPT still has it. */
static void did_put(struct iommufd_ctx *ictx, uint16_t did)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->hwpt[i] && ictx->hwpt[i]->did == did)
			return;
	iommufd_id_free(&ictx->dids, did);
}

void iommufd_hwpt_take_did(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
			   uint16_t did)
{
	uint16_t own = hwpt->did;
	hwpt->did = did;
	if (own != did)
		did_put(ictx, own);
}

uint32_t iommufd_domain_units(const struct iommufd_ctx *ictx,
			      const struct iommufd_hwpt *hwpt)
{
	uint32_t units = hwpt->units;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->hwpt[i] && ictx->hwpt[i]->did == hwpt->did)
			units |= ictx->hwpt[i]->units;
	/* Never attached: nothing known, so every unit (as with one unit). */
	if (!units)
		units = iommu_drv_units(ictx->drv);
	/* The naive kernel: the first unit only. */
	if (ictx->skip_units_inv)
		units &= -units;
	return units;
}

void iommufd_hwpt_bind(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
		       uint32_t sid)
{
	ictx->dev[sid].hwpt = hwpt;
	hwpt->users++;
	hwpt->units |= 1u << ictx->dev[sid].unit;
}

void iommufd_pasid_bind(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
			uint32_t sid, uint32_t pasid)
{
	ictx->dev[sid].pasid_hwpt[pasid] = hwpt;
	hwpt->users++;
	hwpt->units |= 1u << ictx->dev[sid].unit;
}

static void hwpt_unregister(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->hwpt[i] == hwpt)
			ictx->hwpt[i] = NULL;
}

void iommufd_fini(struct iommufd_ctx *ictx)
{
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++)
		if (ictx->dev[i].hwpt)
			iommufd_device_detach(ictx, i);
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		free(ictx->nested[i]);
		ictx->nested[i] = NULL;
	}
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++)
		ictx->dev[i].nested = NULL;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		struct iommufd_hwpt *h = ictx->hwpt[i];
		/* A device that could not be detached keeps its table: only
		 * the object goes, its pages stay allocated. */
		if (h && iommufd_hwpt_destroy(ictx, h)) {
			hwpt_unregister(ictx, h);
			free(h);
		}
	}
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		if (ictx->ioas[i]) {
			free(ictx->ioas[i]->areas);
			free(ictx->ioas[i]);
			ictx->ioas[i] = NULL;
		}
	}
	for (unsigned int i = 0; i < IOMMUFD_MAX_MEMFDS; i++) {
		free(ictx->pins[i].refs);
		free(ictx->pins[i].run_folio);
	}
	ioh_u64vec_free(&ictx->deferred);
	pthread_cond_destroy(&ictx->recovered);
	pthread_cond_destroy(&ictx->waiter);
	pthread_mutex_destroy(&ictx->lock);
}

void iommufd_begin_recovery(struct iommufd_ctx *ictx)
{
	pthread_mutex_lock(&ictx->lock);
	ictx->recovering = true;
	pthread_mutex_unlock(&ictx->lock);
}

void iommufd_end_recovery(struct iommufd_ctx *ictx)
{
	pthread_mutex_lock(&ictx->lock);
	ictx->recovering = false;
	pthread_cond_broadcast(&ictx->recovered);
	pthread_mutex_unlock(&ictx->lock);
}

bool iommufd_await_recovery_waiter(struct iommufd_ctx *ictx, uint64_t timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ictx->lock);
	int rc = 0;
	while (ictx->recovering && !ictx->recovery_waiters && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&ictx->waiter, &ictx->lock, &until);
	bool waiting = ictx->recovery_waiters > 0;
	pthread_mutex_unlock(&ictx->lock);
	return waiting;
}

/* Address-map changes wait out recovery (memory hotplug in degraded mode). */
static void lock_for_map(struct iommufd_ctx *ictx)
{
	pthread_mutex_lock(&ictx->lock);
	if (!ictx->recovering)
		return;
	ictx->stats.maps_waited++;
	ictx->recovery_waiters++;
	pthread_cond_broadcast(&ictx->waiter);
	while (ictx->recovering)
		pthread_cond_wait(&ictx->recovered, &ictx->lock);
	ictx->recovery_waiters--;
}

struct iommufd_hwpt *iommufd_hwpt_find(struct iommufd_ctx *ictx, uint32_t id)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->hwpt[i] && ictx->hwpt[i]->id == id)
			return ictx->hwpt[i];
	return NULL;
}

struct iommufd_ioas *iommufd_ioas_find(struct iommufd_ctx *ictx, uint32_t id)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->ioas[i] && ictx->ioas[i]->id == id)
			return ictx->ioas[i];
	return NULL;
}

int iommufd_ioas_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas **out)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		if (ictx->ioas[i])
			continue;
		struct iommufd_ioas *ioas = ioh_fail("iommufd.alloc") ? NULL :
			calloc(1, sizeof(*ioas));
		if (!ioas)
			return -ENOMEM;
		ioas->id = ictx->next_id++;
		ictx->ioas[i] = ioas;
		*out = ioas;
		return 0;
	}
	return -ENOSPC;
}

int iommufd_register_hwpt(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		if (!ictx->hwpt[i]) {
			ictx->hwpt[i] = hwpt;
			if (hwpt->id >= ictx->next_id)
				ictx->next_id = hwpt->id + 1;
			/* Allocated here already, or an adopted table's: taken
			 * either way (a new kernel reserved it at boot). */
			iommufd_id_reserve(&ictx->dids, hwpt->did);
			return 0;
		}
	}
	return -ENOSPC;
}

/* ---- areas ------------------------------------------------------------- */

/* Index of the first area ending after iova. */
static size_t area_search(const struct iommufd_ioas *ioas, uint64_t iova)
{
	size_t lo = 0, hi = ioas->nr_areas;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct iommufd_area *a = &ioas->areas[mid];
		if (a->iova + (a->len - 1) < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iommufd_ioas_insert_area(struct iommufd_ioas *ioas,
			     const struct iommufd_area *a)
{
	size_t i = area_search(ioas, a->iova);
	if (i < ioas->nr_areas && ioas->areas[i].iova <= a->iova + (a->len - 1))
		return -EEXIST;
	if (ioas->nr_areas == ioas->cap_areas) {
		size_t cap = ioas->cap_areas ? 2 * ioas->cap_areas : 16;
		struct iommufd_area *n = ioh_fail("iommufd.alloc") ? NULL :
			realloc(ioas->areas, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ioas->areas = n;
		ioas->cap_areas = cap;
	}
	memmove(&ioas->areas[i + 1], &ioas->areas[i],
		(ioas->nr_areas - i) * sizeof(*a));
	ioas->areas[i] = *a;
	ioas->nr_areas++;
	ioas->mapped_bytes += a->len;
	return 0;
}

static void area_remove(struct iommufd_ioas *ioas, size_t i)
{
	ioas->mapped_bytes -= ioas->areas[i].len;
	memmove(&ioas->areas[i], &ioas->areas[i + 1],
		(ioas->nr_areas - i - 1) * sizeof(ioas->areas[0]));
	ioas->nr_areas--;
}

/* First memfd run holding byte offset. */
static size_t memfd_run_search(const struct kho_memfd *m, uint64_t offset)
{
	size_t lo = 0, hi = m->nr_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kho_memfd_run *r = &m->runs[mid];
		if (r->offset + (r->count << r->size_lg2) <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct run_acc {
	bool open;
	struct iommufd_run cur;
	iommufd_run_fn fn;
	void *arg;
};

static int run_push(struct run_acc *acc, uint64_t iova, uint64_t pa,
		    uint64_t len, uint32_t prot)
{
	struct iommufd_run *c = &acc->cur;
	if (acc->open && c->iova + c->len == iova && c->pa + c->len == pa &&
	    c->prot == prot) {
		c->len += len;
		return 0;
	}
	int ret = acc->open ? acc->fn(acc->arg, c) : 0;
	*c = (struct iommufd_run){ iova, pa, len, prot };
	acc->open = true;
	return ret;
}

/*
 * "Pinning" an area is walking its folios: the cost a replay pays to
 * re-pin guest memory, proportional to the folios behind the area.
 */
static int area_for_each_piece(const struct iommufd_area *a,
			       struct run_acc *acc)
{
	const struct kho_memfd *m = a->memfd;
	uint64_t off = a->offset, end = a->offset + a->len;
	for (size_t i = memfd_run_search(m, off); off < end && i < m->nr_runs; i++) {
		const struct kho_memfd_run *r = &m->runs[i];
		uint64_t rend = r->offset + (r->count << r->size_lg2);
		uint64_t piece_end = rend < end ? rend : end;
		uint64_t pa = r->pa + (off - r->offset);
		int ret = run_push(acc, a->iova + (off - a->offset), pa,
				   piece_end - off, a->prot);
		if (ret)
			return ret;
		off = piece_end;
	}
	return off == end ? 0 : -EFAULT;
}

int iommufd_ioas_for_each_run(const struct iommufd_ioas *ioas, bool coalesce,
			      iommufd_run_fn fn, void *arg)
{
	struct run_acc acc = { .fn = fn, .arg = arg };
	for (size_t i = 0; i < ioas->nr_areas; i++) {
		if (!coalesce && acc.open) {
			int ret = fn(arg, &acc.cur);
			acc.open = false;
			if (ret)
				return ret;
		}
		int ret = area_for_each_piece(&ioas->areas[i], &acc);
		if (ret)
			return ret;
	}
	return acc.open ? fn(arg, &acc.cur) : 0;
}

static int map_run(void *arg, const struct iommufd_run *r)
{
	struct pt_table *t = arg;
	return pt_map_range(t, r->iova, r->pa, r->len, r->prot, NULL);
}

int iommufd_build_table(const struct iommufd_ioas *ioas, struct pt_table *t,
			uint32_t features)
{
	return iommufd_ioas_for_each_run(ioas, features & IOMMUFD_FEAT_COALESCE,
					 map_run, t);
}

/* ---- pinning ----------------------------------------------------------- */

static struct iommufd_pins *pins_for(struct iommufd_ctx *ictx,
				     const struct kho_memfd *m)
{
	struct iommufd_pins *slot = NULL;
	for (unsigned int i = 0; i < IOMMUFD_MAX_MEMFDS; i++) {
		if (ictx->pins[i].memfd == m)
			return &ictx->pins[i];
		if (!ictx->pins[i].memfd && !slot)
			slot = &ictx->pins[i];
	}
	if (!slot)
		return NULL;
	uint64_t folios = 0;
	uint64_t *first = ioh_fail("iommufd.alloc") ? NULL : calloc(m->nr_runs ? m->nr_runs : 1, sizeof(*first));
	for (size_t r = 0; first && r < m->nr_runs; r++) {
		first[r] = folios;
		folios += m->runs[r].count;
	}
	uint32_t *refs = first ? calloc(folios ? folios : 1, sizeof(*refs)) : NULL;
	if (!refs) {
		free(first);
		return NULL;
	}
	*slot = (struct iommufd_pins){ m, refs, first };
	return slot;
}

/*
 * Pages [a->offset, end) of one area, folio by folio, as memfd_pin_folios
 * (what Linux's IOMMU_IOAS_MAP_FILE pins with) and gup's large-folio path
 * do: each folio the area touches takes (or drops) one reference per page
 * of it inside the range, in one add. The counts are pages, as
 * pin_user_pages takes them; the work is O(folios), not O(pages). Each
 * run of folios is checked whole before any of it is applied, so on an
 * error *done says exactly what was applied.
 */
static int area_pin_part(struct iommufd_pins *p, const struct iommufd_area *a,
			 uint64_t end, bool pin, uint64_t *done)
{
	const struct kho_memfd *m = a->memfd;
	const uint64_t ram = m->k->alloc.ram_size;
	uint64_t off = a->offset;
	*done = 0;
	for (size_t ri = memfd_run_search(m, off); off < end; ri++) {
		if (ri == m->nr_runs || m->runs[ri].offset > off)
			return -EFAULT;
		const struct kho_memfd_run *r = &m->runs[ri];
		uint64_t bytes = r->count << r->size_lg2;
		/* A frame outside RAM would be a broken memfd. */
		if (r->pa >= ram || bytes > ram - r->pa)
			return -EFAULT;
		uint64_t rend = r->offset + bytes;
		uint64_t idx = (off - r->offset) >> r->size_lg2;
		uint64_t f = p->run_folio[ri] + idx;
		uint64_t fend = r->offset + ((idx + 1) << r->size_lg2);
		for (; off < end && off < rend; f++, fend += 1ull << r->size_lg2) {
			uint64_t stop = fend < end ? fend : end;
			uint32_t pages = (uint32_t)((stop - off) / KHO_4K);
			p->refs[f] += pin ? pages : (uint32_t)-pages;
			off = stop;
		}
		*done = off - a->offset;
	}
	return 0;
}

/* One area whole, or nothing of it. */
static int area_pin(struct iommufd_pins *p, const struct iommufd_area *a,
		    bool pin)
{
	uint64_t done, undone;
	int err = area_pin_part(p, a, a->offset + a->len, pin, &done);
	if (err && done)
		area_pin_part(p, a, a->offset + done, !pin, &undone);
	return err;
}

int64_t iommufd_ioas_pin(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			 bool pin)
{
	int64_t pages = 0;
	int err = 0;
	size_t i;
	for (i = 0; i < ioas->nr_areas && !err; i++) {
		const struct iommufd_area *a = &ioas->areas[i];
		struct iommufd_pins *p = pins_for(ictx, a->memfd);
		err = p ? area_pin(p, a, pin) : -ENOMEM;
		if (!err)
			pages += (int64_t)(a->len / KHO_4K);
	}
	if (err) {
		/* All or nothing: the areas done before the failed one go back. */
		for (size_t j = 0; j + 1 < i; j++)
			area_pin(pins_for(ictx, ioas->areas[j].memfd),
				 &ioas->areas[j], !pin);
		return err;
	}
	if (pin)
		ictx->stats.pinned_bytes += (uint64_t)pages * KHO_4K;
	else
		ictx->stats.pinned_bytes -= (uint64_t)pages * KHO_4K;
	return pages;
}

uint64_t iommufd_pinned_pages(const struct iommufd_ctx *ictx,
			      const struct kho_memfd *m)
{
	uint64_t n = 0;
	for (unsigned int i = 0; i < IOMMUFD_MAX_MEMFDS; i++) {
		const struct iommufd_pins *p = &ictx->pins[i];
		if (p->memfd != m)
			continue;
		uint64_t folios = m->nr_runs ? p->run_folio[m->nr_runs - 1] +
			m->runs[m->nr_runs - 1].count : 0;
		for (uint64_t f = 0; f < folios; f++)
			n += p->refs[f];
	}
	return n;
}

/* ---- invalidation ------------------------------------------------------ */

unsigned int iommufd_hwpt_nested_users(const struct iommufd_ctx *ictx,
				       const struct iommufd_hwpt *hwpt)
{
	unsigned int n = 0;
	for (unsigned int sid = 0; sid < HW_MAX_DEVS; sid++)
		n += ictx->dev[sid].nested && ictx->dev[sid].hwpt == hwpt;
	return n;
}

/*
 * The ATCs of the ATS devices in hwpt's domain (every ATS device when
 * hwpt is NULL): [va, va + len), or all of them when len is 0; then
 * SYNC. The domain, not just hwpt: the IOTLB is tagged by domain, and a
 * replace keeps the domain ID, so a device on another table of the same
 * domain may have filled its ATC through entries read from this one.
 * Called after the IOTLB's invalidation has completed, so that a device
 * cannot refill its ATC from a stale IOTLB (Linux's arm-smmu-v3
 * invalidates the ATC after the TLB for the same reason). Nothing to do
 * (and no sync) without ATS devices.
 */
static int atc_inv_sync(struct iommufd_ctx *ictx,
			const struct iommufd_hwpt *hwpt, uint64_t va,
			uint64_t len)
{
	uint32_t units = 0;
	int err = 0;
	if (ictx->skip_atc_inv)
		return 0;
	for (uint32_t sid = 0; sid < HW_MAX_DEVS && !err; sid++) {
		const struct iommufd_device *d = &ictx->dev[sid];
		if (!d->ats || !d->hwpt || (hwpt && d->hwpt->did != hwpt->did))
			continue;
		err = len ? iommu_drv_atc_inv(ictx->drv, sid, va, len)
			  : iommu_drv_atc_inv_all(ictx->drv, sid);
		units |= 1u << d->unit;
	}
	/* A SYNC on every unit an ATC_INV went to. */
	if (!err && units) {
		err = iommu_drv_sync_units(ictx->drv, units);
		ictx->stats.syncs++;
	}
	return err;
}

/* One device's whole ATC, then SYNC (replace, detach). */
static int atc_inv_dev_sync(struct iommufd_ctx *ictx, uint32_t sid)
{
	if (!ictx->dev[sid].ats || ictx->skip_atc_inv)
		return 0;
	int err = iommu_drv_atc_inv_all(ictx->drv, sid);
	if (!err)
		err = iommu_drv_sync_units(ictx->drv, 1u << ictx->dev[sid].unit);
	ictx->stats.syncs++;
	return err;
}

int iommufd_flush(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
		  const struct pt_gather *g)
{
	int err = 0;
	/* Every unit that may cache the domain gets the TLBI and the SYNC. */
	uint32_t units = iommufd_domain_units(ictx, hwpt);
	if (!pt_gather_empty(g)) {
		/*
		 * Table entries changed: walk caches must go too, so no LEAF
		 * hint (docs/reference.md section 4, sequence 3).
		 */
		unsigned int flags = g->tables_changed ? 0 : IOMMU_DRV_LEAF;
		err = iommu_drv_tlbi_range(ictx->drv, units, hwpt->did, g->va,
					   g->last - g->va + 1, flags, -1);
		/*
		 * A stage 2 under nested HWPTs: a stage-2 invalidation leaves
		 * the combined stage 1+2 entries (docs/reference.md section
		 * 4, sequence 8); they go by VMID, whatever their stage-1
		 * address, which the host does not know.
		 */
		if (!err && iommufd_hwpt_nested_users(ictx, hwpt) &&
		    !ictx->skip_nested_inv)
			err = iommu_drv_tlbi_vmid(ictx->drv, units, hwpt->did);
		/* Its pages can be freed only once something covers them. */
		if (err)
			ictx->deferred_uncovered = true;
	}
	bool all = !err && ictx->deferred_uncovered;
	if (all) {
		units = iommu_drv_units(ictx->drv);
		err = iommu_drv_tlbi_all(ictx->drv, units);
	}
	if (!err)
		err = iommu_drv_sync_units(ictx->drv, units);
	ictx->stats.syncs++;
	/* Then the ATCs, which the completed TLBI can no longer refill. */
	if (!err && all)
		err = atc_inv_sync(ictx, NULL, 0, 0);
	else if (!err && !pt_gather_empty(g))
		err = atc_inv_sync(ictx, hwpt, g->va, g->last - g->va + 1);
	if (err)
		ictx->deferred_uncovered = true;
	/* Free only what these completed syncs cover. */
	if (!err) {
		if (all)
			ictx->deferred_uncovered = false;
		iommufd_free_deferred(ictx);
	}
	return err;
}

/* ---- map / unmap -------------------------------------------------------- */

struct map_undo {
	struct pt_table *t;
	uint64_t iova;
	uint64_t done; /* bytes mapped from iova on */
	/*
	 * What the maps touched. A map that fails with PT_EPLAN was undone
	 * by pt after hardware may have seen it: the tables it removed are
	 * deferred and only an invalidation of this range may free them.
	 */
	struct pt_gather g;
};

static int map_run_undoable(void *arg, const struct iommufd_run *r)
{
	struct map_undo *u = arg;
	int err = pt_map_range(u->t, r->iova, r->pa, r->len, r->prot, &u->g);
	if (!err)
		u->done = r->iova + r->len - u->iova;
	return err;
}

int iommufd_ioas_map_file(struct iommufd_ioas *ioas, struct iommufd_ctx *ictx,
			  struct kho_memfd *memfd, uint64_t offset, uint64_t len,
			  uint64_t iova, uint32_t prot)
{
	const uint64_t mask = PT_TABLE_SIZE - 1;
	if (!len || ((offset | len | iova) & mask) || offset > memfd->size ||
	    len > memfd->size - offset || len - 1 > ~iova ||
	    !(prot & (PT_PROT_READ | PT_PROT_WRITE)) || (prot & ~PT_PROT_ALL))
		return -EINVAL;

	lock_for_map(ictx);
	struct iommufd_area a = { iova, len, memfd, offset, prot };
	int err = ictx->frozen ? -EBUSY : 0;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS && !err; i++) {
		struct iommufd_hwpt *h = ictx->hwpt[i];
		if (h && h->ioas == ioas && h->immutable)
			err = -EPERM;
	}
	if (!err)
		err = iommufd_ioas_insert_area(ioas, &a);
	if (err)
		goto out;

	/* Pin, then into every HWPT of this IOAS, undoing all on a failure. */
	struct iommufd_hwpt *done[IOMMUFD_MAX_OBJS], *failed = NULL;
	unsigned int nr_done = 0;
	struct map_undo u = { .iova = iova };
	struct iommufd_ioas one = { .areas = &a, .nr_areas = 1 };
	int64_t pinned = iommufd_ioas_pin(ictx, &one, true);
	if (pinned < 0) {
		err = (int)pinned;
		area_remove(ioas, area_search(ioas, iova));
		goto out;
	}
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		struct iommufd_hwpt *h = ictx->hwpt[i];
		if (!h || h->ioas != ioas)
			continue;
		u.t = &h->pt;
		u.done = 0;
		pt_gather_init(&u.g);
		err = iommufd_ioas_for_each_run(&one, false, map_run_undoable, &u);
		if (err) {
			failed = h;
			break;
		}
		done[nr_done++] = h;
	}
	if (err) {
		struct pt_gather g;
		if (failed) {
			/* u.g covers a map undone by pt (PT_EPLAN) too. */
			if (u.done)
				pt_unmap_range(&failed->pt, iova, u.done, 0, &u.g,
					       NULL);
			if (!pt_gather_empty(&u.g) || u.g.nr_deferred)
				iommufd_flush(ictx, failed, &u.g);
		}
		for (unsigned int i = 0; i < nr_done; i++) {
			pt_gather_init(&g);
			pt_unmap_range(&done[i]->pt, iova, len, 0, &g, NULL);
			iommufd_flush(ictx, done[i], &g);
		}
		iommufd_ioas_pin(ictx, &one, false);
		area_remove(ioas, area_search(ioas, iova));
		goto out;
	}
	ictx->stats.maps++;
out:
	pthread_mutex_unlock(&ictx->lock);
	return err;
}

int iommufd_ioas_unmap(struct iommufd_ioas *ioas, struct iommufd_ctx *ictx,
		       uint64_t iova, uint64_t len)
{
	if (!len || len - 1 > ~iova)
		return -EINVAL;
	uint64_t last = iova + (len - 1);
	lock_for_map(ictx);
	int err = ictx->frozen ? -EBUSY : 0;
	size_t first = area_search(ioas, iova), end = first;
	while (end < ioas->nr_areas && ioas->areas[end].iova <= last)
		end++;
	/* Whole areas only, and at least one. */
	if (!err && (first == end || ioas->areas[first].iova < iova ||
		     ioas->areas[end - 1].iova +
		     (ioas->areas[end - 1].len - 1) > last))
		err = -ENOENT;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS && !err; i++) {
		struct iommufd_hwpt *h = ictx->hwpt[i];
		if (h && h->ioas == ioas && h->immutable)
			err = -EPERM;
	}
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS && !err; i++) {
		struct iommufd_hwpt *h = ictx->hwpt[i];
		if (!h || h->ioas != ioas)
			continue;
		struct pt_gather g;
		pt_gather_init(&g);
		for (size_t k = first; k < end; k++) {
			/* Each area was mapped whole: no leaf straddles it. */
			pt_unmap_range(&h->pt, ioas->areas[k].iova,
				       ioas->areas[k].len, 0, &g, NULL);
		}
		err = iommufd_flush(ictx, h, &g);
	}
	if (!err) {
		struct iommufd_ioas gone = { .areas = &ioas->areas[first],
					     .nr_areas = end - first };
		iommufd_ioas_pin(ictx, &gone, false);
		for (size_t k = end; k-- > first;)
			area_remove(ioas, k);
		ictx->stats.unmaps++;
	}
	pthread_mutex_unlock(&ictx->lock);
	return err;
}

/* ---- HWPTs ------------------------------------------------------------- */

int iommufd_hwpt_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		       uint32_t flags, struct iommufd_hwpt **out)
{
	if (flags & ~IOMMUFD_HWPT_FLAGS_ALL)
		return -EINVAL;
	struct iommufd_hwpt *h = ioh_fail("iommufd.alloc") ? NULL :
		calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&ictx->lock);
	h->ictx = ictx;
	h->ioas = ioas;
	h->features = iommufd_features(ictx->profile, flags);
	struct pt_cfg cfg = {
		.fmt = ictx->fmt,
		.va_bits = ictx->va_bits,
		.oa_bits = 48,
		.pgsizes = iommufd_pgsizes(ictx->fmt, h->features),
	};
	int err = pt_init(&h->pt, &cfg, &ictx->mem, ictx);
	if (err)
		goto fail;
	err = iommufd_build_table(ioas, &h->pt, h->features);
	if (!err)
		err = iommufd_id_alloc(&ictx->dids, &h->did);
	if (!err) {
		h->id = ictx->next_id++;
		err = iommufd_register_hwpt(ictx, h);
		if (err)
			iommufd_id_free(&ictx->dids, h->did);
	}
	if (err) {
		/* Never attached: no hardware can have seen these pages. */
		pt_deinit(&h->pt);
		goto fail;
	}
	pthread_mutex_unlock(&ictx->lock);
	*out = h;
	return 0;
fail:
	pthread_mutex_unlock(&ictx->lock);
	free(h);
	return err;
}

int iommufd_hwpt_destroy(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt)
{
	/* A device still translating through it would walk freed pages. */
	if (hwpt->users)
		return -EBUSY;
	hwpt_unregister(ictx, hwpt);
	/*
	 * Walk caches may still point into the table: flush the domain and
	 * wait before its pages go back to the allocator. No device is
	 * attached, but devices on another table of the same domain (after
	 * a replace) may have filled their ATCs through IOTLB entries read
	 * from this one: theirs go next, after the IOTLB's. Without a
	 * completed sync the hardware may still walk it: the pages stay
	 * allocated (leaked), the only safe choice.
	 */
	uint32_t units = iommufd_domain_units(ictx, hwpt);
	int err = iommu_drv_tlbi_domain(ictx->drv, units, hwpt->did);
	/*
	 * A nesting parent whose VMID no other HWPT carries on: the combined
	 * entries of the VMID go too. (After a replace the VMID lives on in
	 * the new stage 2, and the replace invalidated them already.)
	 */
	bool shared = false;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		shared |= ictx->hwpt[i] && ictx->hwpt[i]->did == hwpt->did;
	if (!err && hwpt->nest_parent && !shared)
		err = iommu_drv_tlbi_vmid(ictx->drv, units, hwpt->did);
	if (!err)
		err = iommu_drv_sync_units(ictx->drv, units);
	if (!err)
		err = atc_inv_sync(ictx, hwpt, 0, 0);
	/* The domain ID too is free only once nothing is cached under it. */
	if (!err) {
		pt_deinit(&hwpt->pt);
		did_put(ictx, hwpt->did);
	}
	free(hwpt);
	return 0;
}

/* ---- devices ----------------------------------------------------------- */

static void hwpt_ste(const struct iommufd_hwpt *h, uint64_t ste[HW_STE_WORDS])
{
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, h->ictx->fmt, h->pt.va_bits,
		    h->pt.top_pa, h->did);
}

/* The entry of a device on stage 2 h, nested under n (or not, n NULL). */
static void dev_ste(const struct iommufd_hwpt_nested *n,
		    const struct iommufd_hwpt *h, uint64_t ste[HW_STE_WORDS])
{
	if (!n) {
		hwpt_ste(h, ste);
		return;
	}
	hw_ste_make_nested(ste, n->fmt, n->va_bits, n->s1_root, n->s1_did,
			   h->ictx->fmt, h->pt.va_bits, h->pt.top_pa, h->did);
}

/* Device d's entry on h (nested under n or not), with its CD table. */
static void dev_ste_of(const struct iommufd_device *d,
		       const struct iommufd_hwpt_nested *n,
		       const struct iommufd_hwpt *h, uint64_t ste[HW_STE_WORDS])
{
	dev_ste(n, h, ste);
	if (!n && d->cdtab)
		hw_ste_set_cdtab(ste, d->cdtab, IOMMUFD_CD_LOG2);
}

int iommufd_nest_check(enum pt_format_id s1, enum pt_format_id s2,
		       const char **why)
{
	if (s2 != PT_FMT_ARM_S2) {
		*why = "only an ARM stage-2 table can be a nesting parent "
		       "(the model nests ARM stage 1 over ARM stage 2 only)";
		return -EOPNOTSUPP;
	}
	if (s1 != PT_FMT_ARM_S1) {
		*why = "only an ARM stage-1 table nests over ARM stage 2";
		return -EOPNOTSUPP;
	}
	return 0;
}

int iommufd_register_nested(struct iommufd_ctx *ictx,
			    struct iommufd_hwpt_nested *n)
{
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		if (!ictx->nested[i]) {
			ictx->nested[i] = n;
			return 0;
		}
	}
	return -ENOSPC;
}

int iommufd_hwpt_alloc_nested(struct iommufd_ctx *ictx,
			      struct iommufd_hwpt *parent, enum pt_format_id fmt,
			      unsigned int va_bits, uint64_t s1_root,
			      uint16_t s1_did, struct iommufd_hwpt_nested **out)
{
	const char *why;
	if (!parent || fmt >= PT_FMT_COUNT)
		return -EINVAL;
	if (iommufd_nest_check(fmt, parent->ictx->fmt, &why))
		return -EOPNOTSUPP;
	/* The stage-1 root is an IPA: page aligned, inside stage 2's input. */
	if (!s1_did || s1_root % PT_TABLE_SIZE || va_bits > 64 ||
	    pt_fmt_levels_for(fmt, va_bits) < 0 ||
	    (parent->pt.va_bits < 64 && s1_root >> parent->pt.va_bits))
		return -EINVAL;
	struct iommufd_hwpt_nested *n = ioh_fail("iommufd.alloc") ? NULL :
		calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = (struct iommufd_hwpt_nested){
		.parent = parent, .fmt = fmt, .va_bits = va_bits,
		.s1_root = s1_root, .s1_did = s1_did,
	};
	parent->nest_parent = true;
	pthread_mutex_lock(&ictx->lock);
	n->id = ictx->next_id++;
	int err = iommufd_register_nested(ictx, n);
	pthread_mutex_unlock(&ictx->lock);
	if (err) {
		free(n);
		return err;
	}
	*out = n;
	return 0;
}

int iommufd_hwpt_nested_destroy(struct iommufd_ctx *ictx,
				struct iommufd_hwpt_nested *n)
{
	if (n->users)
		return -EBUSY;
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++)
		if (ictx->nested[i] == n)
			ictx->nested[i] = NULL;
	free(n);
	return 0;
}

/* Attaches a detached device to hwpt, nested under n (or not: NULL). */
static int attach(struct iommufd_ctx *ictx, uint32_t sid, struct iommufd_hwpt *hwpt,
		  struct iommufd_hwpt_nested *n)
{
	if (sid >= HW_MAX_DEVS)
		return -EINVAL;
	struct iommufd_device *d = &ictx->dev[sid];
	if (d->hwpt)
		return -EBUSY;
	uint64_t ste[HW_STE_WORDS];
	dev_ste_of(d, n, hwpt, ste);
	int err = iommu_drv_write_ste(ictx->drv, sid, ste, NULL);
	if (err)
		return err;
	iommufd_hwpt_bind(ictx, hwpt, sid);
	d->nested = n;
	if (n)
		n->users++;
	return 0;
}

int iommufd_device_attach_nested(struct iommufd_ctx *ictx, uint32_t sid,
				 struct iommufd_hwpt_nested *n)
{
	return attach(ictx, sid, n->parent, n);
}

int iommufd_device_attach(struct iommufd_ctx *ictx, uint32_t sid,
			  struct iommufd_hwpt *hwpt)
{
	return attach(ictx, sid, hwpt, NULL);
}

static void switch_point(void *arg)
{
	struct iommufd_ctx *ictx = arg;
	if (ictx->inject)
		ictx->inject(ictx->inject_arg, "switch");
}

/* Each device is where its entry says, even after a failed step. */
static void switched_account(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
			     const uint32_t *sids,
			     const uint64_t (*ste)[HW_STE_WORDS], unsigned int n,
			     int err)
{
	for (unsigned int j = 0; j < n; j++) {
		struct iommufd_device *d = &ictx->dev[sids[j]];
		uint64_t now[HW_STE_WORDS];
		if (err && (iommu_drv_read_ste(ictx->drv, sids[j], now) ||
			    !hw_ste_same_config(now, ste[j])))
			continue;
		d->hwpt->users--;
		iommufd_hwpt_bind(ictx, hwpt, sids[j]);
		if (d->nested) {
			d->nested->parent = hwpt;
			hwpt->nest_parent = true;
		}
	}
}

int iommufd_devices_replace(struct iommufd_ctx *ictx, const uint32_t *sids,
			    unsigned int n, struct iommufd_hwpt *hwpt)
{
	uint32_t todo[IOMMU_DRV_BATCH];
	uint64_t ste[IOMMU_DRV_BATCH][HW_STE_WORDS];
	unsigned int m = 0;
	if (n > IOMMU_DRV_BATCH)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (sids[i] >= HW_MAX_DEVS)
			return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct iommufd_device *d = &ictx->dev[sids[i]];
		struct iommufd_hwpt *old = d->hwpt;
		if (old == hwpt)
			continue;
		if (!old) {
			int err = iommufd_device_attach(ictx, sids[i], hwpt);
			if (err)
				return err;
			continue;
		}
		if (hwpt->pt.fmt != old->pt.fmt || hwpt->pt.va_bits != old->pt.va_bits)
			return -EINVAL;
		/* Same domain tag: only the root word changes, a hitless store. */
		if (!hwpt->users && !m)
			iommufd_hwpt_take_did(ictx, hwpt, old->did);
		else if (hwpt->did != old->did)
			return -EBUSY;
		for (unsigned int j = 0; j < m; j++)
			if (todo[j] == sids[i])
				return -EINVAL;
		todo[m++] = sids[i];
	}
	if (!m)
		return 0;
	/* A nested HWPT has one stage 2: all its devices move together. */
	bool nested = false;
	for (unsigned int j = 0; j < m; j++) {
		const struct iommufd_hwpt_nested *nn = ictx->dev[todo[j]].nested;
		if (!nn)
			continue;
		nested = true;
		unsigned int moving = 0;
		for (unsigned int k = 0; k < m; k++)
			moving += ictx->dev[todo[k]].nested == nn;
		if (moving != nn->users)
			return -EBUSY;
	}
	for (unsigned int j = 0; j < m; j++)
		dev_ste_of(&ictx->dev[todo[j]], ictx->dev[todo[j]].nested,
			   hwpt, ste[j]);
	bool hitless = true;
	int err = 0;
	/*
	 * Unit by unit (as a driver attaches the masters of one SMMU after
	 * another): each unit's devices are switched, their entries synced
	 * on that unit, before the next unit's; the crash point between
	 * units leaves some units' devices on the new table, others on the
	 * old. Both translate alike, so either is hitless.
	 */
	uint32_t moving = 0;
	for (unsigned int j = 0; j < m; j++)
		moving |= 1u << ictx->dev[todo[j]].unit;
	for (unsigned int u = 0; u < HW_MAX_UNITS && !err; u++) {
		if (!(moving >> u & 1))
			continue;
		uint32_t sub[IOMMU_DRV_BATCH];
		uint64_t sub_ste[IOMMU_DRV_BATCH][HW_STE_WORDS];
		unsigned int ns = 0;
		for (unsigned int j = 0; j < m; j++) {
			if (ictx->dev[todo[j]].unit != u)
				continue;
			sub[ns] = todo[j];
			memcpy(sub_ste[ns++], ste[j], sizeof(ste[j]));
		}
		bool unit_hitless = false;
		err = iommu_drv_write_stes(ictx->drv, ns, sub,
					   (const uint64_t (*)[HW_STE_WORDS])sub_ste,
					   &unit_hitless, switch_point, ictx);
		hitless &= unit_hitless;
		switched_account(ictx, hwpt, sub, sub_ste, ns, err);
		moving &= ~(1u << u);
		if (!err && moving && ictx->inject)
			ictx->inject(ictx->inject_arg, "switch-unit");
	}
	if (err)
		return err;
	/* Entries cached from the old tables (same tag) go; then their pages
	 * may. The configuration was synced first: no walk of an old table
	 * can start after this invalidation. */
	uint32_t units = iommufd_domain_units(ictx, hwpt);
	err = iommu_drv_tlbi_domain_sync(ictx->drv, units, hwpt->did);
	/*
	 * Nested devices: the combined stage 1+2 entries were built through
	 * the old stage 2 and carry the VMID (kept by the replace), not the
	 * stage-2 domain's tag; a stage-2 invalidation leaves them. They go
	 * by VMID, after the entry's sync, before the old stage 2 is freed.
	 */
	if (!err && nested && !ictx->skip_nested_inv) {
		err = iommu_drv_tlbi_vmid(ictx->drv, units, hwpt->did);
		if (!err)
			err = iommu_drv_sync_units(ictx->drv, units);
		ictx->stats.syncs++;
	}
	/* The moved devices' ATCs hold the old tables' translations: after
	 * the IOTLB, so that they refill from the new table; one sync. */
	bool any_ats = false;
	for (unsigned int j = 0; j < m; j++)
		any_ats |= ictx->dev[todo[j]].ats;
	if (!err && any_ats && !ictx->skip_atc_inv && ictx->inject)
		ictx->inject(ictx->inject_arg, "atc");
	uint32_t atc_units = 0;
	for (unsigned int j = 0; j < m && !err && !ictx->skip_atc_inv; j++) {
		if (!ictx->dev[todo[j]].ats)
			continue;
		err = iommu_drv_atc_inv_all(ictx->drv, todo[j]);
		atc_units |= 1u << ictx->dev[todo[j]].unit;
	}
	if (!err && atc_units) {
		err = iommu_drv_sync_units(ictx->drv, atc_units);
		ictx->stats.syncs++;
	}
	return err ? err : hitless ? 0 : -EIO;
}

int iommufd_device_replace(struct iommufd_ctx *ictx, uint32_t sid,
			   struct iommufd_hwpt *hwpt)
{
	return iommufd_devices_replace(ictx, &sid, 1, hwpt);
}

static int pasids_release(struct iommufd_ctx *ictx, uint32_t sid);

int iommufd_device_detach(struct iommufd_ctx *ictx, uint32_t sid)
{
	if (sid >= HW_MAX_DEVS || !ictx->dev[sid].hwpt)
		return -EINVAL;
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_ABORT, 0, 0, 0, 0);
	int err = iommu_drv_write_ste(ictx->drv, sid, ste, NULL);
	if (err)
		return err;
	/* The entry aborts now (synced): the ATC cannot refill, and must
	 * be empty before the table it came from may be freed. */
	err = atc_inv_dev_sync(ictx, sid);
	if (!err)
		err = pasids_release(ictx, sid);
	if (err)
		return err;
	ictx->dev[sid].hwpt->users--;
	ictx->dev[sid].hwpt = NULL;
	if (ictx->dev[sid].nested)
		ictx->dev[sid].nested->users--;
	ictx->dev[sid].nested = NULL;
	return 0;
}

/* ---- PASIDs ------------------------------------------------------------ */

unsigned int iommufd_device_nr_pasids(const struct iommufd_ctx *ictx,
				      uint32_t sid)
{
	unsigned int n = 0;
	for (unsigned int p = 1; sid < HW_MAX_DEVS && p < IOMMUFD_MAX_PASIDS; p++)
		n += ictx->dev[sid].pasid_hwpt[p] != NULL;
	return n;
}

static void hwpt_cd(const struct iommufd_hwpt *h, uint64_t cd[HW_CD_WORDS])
{
	hw_cd_make(cd, h->ictx->fmt, h->pt.va_bits, h->pt.top_pa, h->did);
}

/* The device's entry aborts (synced): its CDs are unreachable. Every CD
 * cached from its table goes, then the table page, and the PASIDs'
 * references to their HWPTs. */
static int pasids_release(struct iommufd_ctx *ictx, uint32_t sid)
{
	struct iommufd_device *d = &ictx->dev[sid];
	if (!d->cdtab)
		return 0;
	int err = iommu_drv_cfgi_cd_all(ictx->drv, sid);
	if (!err)
		err = iommu_drv_sync(ictx->drv);
	if (err)
		return err;
	for (unsigned int p = 1; p < IOMMUFD_MAX_PASIDS; p++) {
		if (d->pasid_hwpt[p])
			d->pasid_hwpt[p]->users--;
		d->pasid_hwpt[p] = NULL;
	}
	tbl_free(ictx, NULL, d->cdtab);
	d->cdtab = 0;
	return 0;
}

/* attaching: the device must be attached (not nested) itself; else its
 * PASID's attachment is what replace and detach need. */
static int pasid_check(struct iommufd_ctx *ictx, uint32_t sid, uint32_t pasid,
		       const struct iommufd_hwpt *hwpt, bool attaching)
{
	if (sid >= HW_MAX_DEVS || !pasid || pasid >= IOMMUFD_MAX_PASIDS ||
	    (attaching && (!ictx->dev[sid].hwpt || ictx->dev[sid].nested)) ||
	    (!attaching && !ictx->dev[sid].cdtab))
		return -EINVAL;
	if (hwpt && (hwpt->ictx != ictx || hwpt->nest_parent))
		return -EINVAL;
	return 0;
}

/* The invalidations after a PASID's CD changed away from domain did:
 * the CD was synced, so no walk of the old table starts after the TLBI;
 * then the ATC of an ATS device, which could hold the old translations. */
static int pasid_flush(struct iommufd_ctx *ictx, uint32_t sid,
		       const struct iommufd_hwpt *old)
{
	/* Every unit that may cache the old domain: this device's, and
	 * those of the domain's other users. */
	uint32_t units = iommufd_domain_units(ictx, old) |
			 1u << ictx->dev[sid].unit;
	int err = iommu_drv_tlbi_domain_sync(ictx->drv, units, old->did);
	ictx->stats.syncs++;
	if (!err && ictx->dev[sid].ats && !ictx->skip_atc_inv)
		err = atc_inv_dev_sync(ictx, sid);
	return err;
}

static void switch_point(void *arg);

/* replacing: a switch (its crash point after the store). */
static int pasid_write_cd(struct iommufd_ctx *ictx, uint32_t sid,
			  uint32_t pasid, const uint64_t cd[HW_CD_WORDS],
			  bool *hitless, bool replacing)
{
	return iommu_drv_write_cd_cb(ictx->drv, sid, ictx->dev[sid].cdtab,
				     IOMMUFD_CD_LOG2, pasid, cd,
				     ictx->skip_cd_inv ? IOMMU_DRV_CD_NO_CFGI : 0,
				     hitless, replacing ? switch_point : NULL,
				     ictx);
}

int iommufd_device_attach_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				uint32_t pasid, struct iommufd_hwpt *hwpt)
{
	int err = pasid_check(ictx, sid, pasid, hwpt, true);
	if (err || !hwpt)
		return err ? err : -EINVAL;
	struct iommufd_device *d = &ictx->dev[sid];
	if (d->pasid_hwpt[pasid])
		return -EBUSY;
	uint64_t cd[HW_CD_WORDS];
	hwpt_cd(hwpt, cd);
	if (d->cdtab) {
		err = pasid_write_cd(ictx, sid, pasid, cd, NULL, false);
	} else {
		/* A fresh table: the CD first (CFGI_CD drops whatever the
		 * IOMMU still caches for the substream), then the STE. */
		uint64_t pa, ste[HW_STE_WORDS];
		void *va = tbl_alloc(ictx, &pa);
		if (!va)
			return -ENOMEM;
		memset(va, 0, PT_TABLE_SIZE);
		d->cdtab = pa;
		err = pasid_write_cd(ictx, sid, pasid, cd, NULL, false);
		dev_ste_of(d, NULL, d->hwpt, ste);
		if (!err)
			err = iommu_drv_write_ste(ictx->drv, sid, ste, NULL);
		if (err) {
			d->cdtab = 0;
			tbl_free(ictx, NULL, pa);
			return err;
		}
	}
	if (err)
		return err;
	iommufd_pasid_bind(ictx, hwpt, sid, pasid);
	return 0;
}

int iommufd_device_replace_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				 uint32_t pasid, struct iommufd_hwpt *hwpt)
{
	int err = pasid_check(ictx, sid, pasid, hwpt, false);
	if (err || !hwpt)
		return err ? err : -EINVAL;
	struct iommufd_device *d = &ictx->dev[sid];
	struct iommufd_hwpt *old = d->pasid_hwpt[pasid];
	if (!old)
		return -EBUSY;
	if (old == hwpt)
		return 0;
	if (hwpt->pt.fmt != old->pt.fmt || hwpt->pt.va_bits != old->pt.va_bits)
		return -EINVAL;
	/* Same domain tag: only the CD's root word changes, hitless. A
	 * HWPT nobody uses yet takes the old one's (once the CD is). */
	if (hwpt->users && hwpt->did != old->did)
		return -EBUSY;
	uint64_t cd[HW_CD_WORDS];
	bool hitless = false;
	hw_cd_make(cd, ictx->fmt, hwpt->pt.va_bits, hwpt->pt.top_pa, old->did);
	err = pasid_write_cd(ictx, sid, pasid, cd, &hitless, true);
	if (err)
		return err;
	iommufd_hwpt_take_did(ictx, hwpt, old->did);
	old->users--;
	iommufd_pasid_bind(ictx, hwpt, sid, pasid);
	err = pasid_flush(ictx, sid, old);
	return err ? err : hitless ? 0 : -EIO;
}

int iommufd_device_detach_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				uint32_t pasid)
{
	int err = pasid_check(ictx, sid, pasid, NULL, false);
	if (err)
		return err;
	struct iommufd_device *d = &ictx->dev[sid];
	struct iommufd_hwpt *old = d->pasid_hwpt[pasid];
	if (!old)
		return -EBUSY;
	uint64_t cd[HW_CD_WORDS] = { 0 };
	err = pasid_write_cd(ictx, sid, pasid, cd, NULL, false);
	if (!err)
		err = pasid_flush(ictx, sid, old);
	if (err)
		return err;
	old->users--;
	d->pasid_hwpt[pasid] = NULL;
	return 0;
}

/* ---- partial preservation ---------------------------------------------- */

int iommufd_drop_devices(struct iommufd_ctx *ictx, uint32_t keep,
			 uint32_t *dropped)
{
	struct iommufd_hwpt *left[HW_MAX_DEVS];
	unsigned int nleft = 0;
	int err = 0;
	*dropped = 0;
	for (unsigned int sid = 0; sid < HW_MAX_DEVS && !err; sid++) {
		struct iommufd_hwpt *h = ictx->dev[sid].hwpt;
		if (!h || keep >> sid & 1)
			continue;
		/* Abort mode: one entry write, CFGI + SYNC (the IOMMU stays on). */
		err = iommufd_device_detach(ictx, sid);
		if (err)
			break;
		*dropped |= 1u << sid;
		bool seen = false;
		for (unsigned int i = 0; i < nleft; i++)
			seen |= left[i] == h;
		if (!seen)
			left[nleft++] = h;
	}
	/*
	 * A table only unpreserved devices used goes now: its domain is
	 * flushed and synced before its pages are freed (hwpt_destroy), so
	 * nothing of it is handed over.
	 */
	for (unsigned int i = 0; i < nleft; i++) {
		struct iommufd_hwpt *h = left[i];
		if (h->users)
			continue;
		struct iommufd_ioas *ioas = h->ioas;
		iommufd_hwpt_destroy(ictx, h);
		bool used = false;
		for (unsigned int j = 0; j < IOMMUFD_MAX_OBJS; j++)
			used |= ictx->hwpt[j] && ictx->hwpt[j]->ioas == ioas;
		if (!used)
			ioas->dropped = true;
	}
	return err;
}

int iommufd_device_set_ats(struct iommufd_ctx *ictx, uint32_t sid, bool ats)
{
	if (sid >= HW_MAX_DEVS)
		return -EINVAL;
	if (ictx->dev[sid].hwpt)
		return -EBUSY;
	int err = iommu_drv_set_ats(ictx->drv, sid, ats);
	if (!err)
		ictx->dev[sid].ats = ats;
	return err;
}
