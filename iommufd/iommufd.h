/* SPDX-License-Identifier: MIT */
/*
 * iommufd: the host kernel's IOMMU object model, after Linux's iommufd
 * (drivers/iommu/iommufd): an IOAS holds the user's intent (areas of
 * memfd mapped at IOVAs), HWPT paging objects realise it in page tables
 * of the IOMMU's format, devices are attached to HWPTs and can be moved
 * to another HWPT hitlessly.
 *
 *   iommufd (Linux)                | here
 *   -------------------------------+------------------------------------
 *   IOMMU_IOAS_ALLOC               | iommufd_ioas_alloc
 *   IOMMU_IOAS_MAP_FILE            | iommufd_ioas_map_file
 *   IOMMU_IOAS_UNMAP               | iommufd_ioas_unmap
 *   IOMMU_HWPT_ALLOC (+ flags)     | iommufd_hwpt_alloc
 *   IOMMU_DEVICE_ATTACH / REPLACE  | iommufd_device_attach / _replace
 *   iopt_area in an interval tree  | struct iommufd_area, sorted by IOVA
 *   pinned pages (pfns)            | pinned folio runs of the memfd
 *
 * Kernel versions are modelled by profiles: the page-table features a
 * kernel uses by default. A HWPT creation flag inhibits a feature, so a
 * newer kernel can build exactly what an older one built.
 *
 * Locking: one mutex per context serialises every operation. While the
 * context is recovering after a live update, address-map changes (map,
 * unmap) wait until recovery ends; everything else proceeds.
 */
#ifndef IOH_IOMMUFD_IOMMUFD_H
#define IOH_IOMMUFD_IOMMUFD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "iommufd/iommu_drv.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "pt/pt.h"
#include "ioh/ioh.h"

/*
 * Page-table features a HWPT may be built with. The first two are
 * features a kernel has or lacks; the LIMIT bits are leaf sizes a kernel
 * (or the hardware it found, or a boot option) refuses to use. A
 * rebuilding kernel takes what both have (iommufd_features_common).
 */
#define IOMMUFD_FEAT_CONTIG (1u << 0)   /* runs: ARM contiguous, AMD and RISC-V replicated */
#define IOMMUFD_FEAT_COALESCE (1u << 1) /* map across area boundaries */
#define IOMMUFD_FEAT_LIMIT_2M (1u << 2) /* no leaves at level 1 (2 MiB) */
#define IOMMUFD_FEAT_LIMIT_1G (1u << 3) /* no leaves at level 2 (1 GiB) */
#define IOMMUFD_FEAT_LIMIT_HUGE (1u << 4) /* no leaves above level 2 (512 GiB...) */
#define IOMMUFD_FEAT_LIMITS (IOMMUFD_FEAT_LIMIT_2M | IOMMUFD_FEAT_LIMIT_1G | \
			     IOMMUFD_FEAT_LIMIT_HUGE)
#define IOMMUFD_FEAT_4K_ONLY IOMMUFD_FEAT_LIMITS
#define IOMMUFD_FEAT_ALL (IOMMUFD_FEAT_CONTIG | IOMMUFD_FEAT_COALESCE | \
			  IOMMUFD_FEAT_LIMITS)

/* HWPT creation flags: inhibit features (IOMMU_HWPT_ALLOC_* style). The
 * LIMIT flags forbid leaf sizes the profile would use. */
#define IOMMUFD_HWPT_NO_CONTIG (1u << 0)
#define IOMMUFD_HWPT_NO_COALESCE (1u << 1)
#define IOMMUFD_HWPT_LIMIT_2M (1u << 2)
#define IOMMUFD_HWPT_LIMIT_1G (1u << 3)
#define IOMMUFD_HWPT_LIMIT_HUGE (1u << 4)
#define IOMMUFD_HWPT_FLAGS_ALL (IOMMUFD_HWPT_NO_CONTIG | IOMMUFD_HWPT_NO_COALESCE | \
				IOMMUFD_HWPT_LIMIT_2M | IOMMUFD_HWPT_LIMIT_1G | \
				IOMMUFD_HWPT_LIMIT_HUGE)

/*
 * A kernel's page-table policy, one row of data: a real Linux driver's
 * (named as its source is), or one of the two model kernels v1 and v2.
 * docs/liveupdate.md says where each row was read from.
 */
struct iommufd_profile {
	const char *name;
	const char *summary;
	uint32_t formats;  /* 1u << enum pt_format_id it exists for */
	uint32_t features; /* used by default; a kernel supports only these */
	const char *source; /* kernel file and function, versions */
};
#define IOMMUFD_FMT_BIT(f) (1u << (f))
#define IOMMUFD_FMT_EVERY ((1u << PT_FMT_COUNT) - 1)

const struct iommufd_profile *iommufd_profile_find(const char *name);
/* NULL unless name exists and exists for fmt. */
const struct iommufd_profile *iommufd_profile_find_for(const char *name,
						       enum pt_format_id fmt);
/* Comma-separated names, for messages: every profile, or fmt's. */
const char *iommufd_profile_names(void);
const char *iommufd_profile_names_for(enum pt_format_id fmt);
/* The table, in order. */
size_t iommufd_profile_count(void);
const struct iommufd_profile *iommufd_profile_at(size_t i);
/* What a kernel with features b can build of what features a built: the
 * features both have, and the leaf limits of either. */
uint32_t iommufd_features_common(uint32_t a, uint32_t b);
/* The creation flags that make a kernel of profile p build features f
 * (less anything p lacks). */
uint32_t iommufd_flags_for(uint32_t features);

/* One mapping the user asked for. */
struct iommufd_area {
	uint64_t iova;
	uint64_t len;
	struct kho_memfd *memfd;
	uint64_t offset;
	uint32_t prot; /* PT_PROT_* */
};

#define IOMMUFD_MAX_OBJS 16

struct iommufd_ioas {
	uint32_t id;
	bool dropped;        /* its HWPTs went with unpreserved devices */
	struct iommufd_area *areas; /* sorted by iova, never overlapping */
	size_t nr_areas, cap_areas;
	uint64_t mapped_bytes;
};

struct iommufd_ctx;

struct iommufd_hwpt {
	uint32_t id;
	struct iommufd_ctx *ictx;
	struct iommufd_ioas *ioas;
	struct pt_table pt;
	uint32_t features;   /* what the table was built with */
	uint16_t did;        /* the IOTLB tag */
	bool immutable;      /* restored as-is: no map/unmap (deserialize) */
	bool nest_parent;    /* a stage 2 of nested HWPTs (its VMID tags them) */
	unsigned int users;  /* devices attached */
	/*
	 * The IOMMU units that may cache entries of this table: those of
	 * every device attached to it since it was made (never cleared: a
	 * unit's caches may hold entries after its devices left).
	 */
	uint32_t units;
};

/*
 * A nested HWPT (Linux: IOMMU_HWPT_ALLOC with a parent paging HWPT and
 * IOMMU_HWPT_DATA_ARM_SMMUV3, the guest's stage-1 configuration): the
 * guest owns a stage-1 table in its own memory (root and every table
 * address are IPAs), the host's parent HWPT is its stage 2. The host
 * never reads or writes the stage-1 table; it only writes the nested
 * configuration entry (stage-1 root, format, the guest's DID, over the
 * parent's root and domain ID as the VMID). A device attached to it has
 * hwpt = the parent (its stage 2) and nested = this.
 */
struct iommufd_hwpt_nested {
	uint32_t id;
	struct iommufd_hwpt *parent; /* stage 2 its devices translate through */
	enum pt_format_id fmt;       /* stage-1 format */
	unsigned int va_bits;
	uint64_t s1_root;            /* IPA of the guest's stage-1 top table */
	uint16_t s1_did;             /* the guest's ASID/DID (tagged by VMID) */
	unsigned int users;
};

/*
 * PASIDs (substreams): a device attached to a paging HWPT may attach
 * PASIDs 1 .. IOMMUFD_MAX_PASIDS - 1 each to a HWPT of its own (its own
 * table and domain ID; Linux IOMMU_HWPT attach with a pasid). The driver
 * keeps one CD table page per device (2^IOMMUFD_CD_LOG2 CDs); PASID 0 is
 * the device's own table (the STE's).
 */
#define IOMMUFD_CD_LOG2 4u
#define IOMMUFD_MAX_PASIDS (1u << IOMMUFD_CD_LOG2)

struct iommufd_device {
	uint32_t sid;
	uint64_t cdtab;      /* CD table page (0: no PASID attached yet) */
	struct iommufd_hwpt *pasid_hwpt[IOMMUFD_MAX_PASIDS]; /* [0] unused */
	struct iommufd_hwpt *hwpt;   /* its table; nested: the stage 2 */
	struct iommufd_hwpt_nested *nested; /* nested: the guest's stage 1 */
	bool iopf;           /* depends on I/O page faults: not preservable */
	unsigned int pasids; /* PASIDs in use the kernel does not track (a
			      * VMM's count): never preservable */
	bool ats;            /* PCIe ATS enabled: has an ATC to invalidate */
	unsigned int unit;   /* the IOMMU unit it is behind (hardware topology) */
};

/*
 * Domain IDs (the IOTLB tag in a configuration entry: SMMU VMID/ASID,
 * VT-d DID): one bit per 16-bit ID, 0 never handed out. Allocation is
 * next-fit from a cursor (an ID freed is not reused before the others),
 * as Linux's ida over a cyclic range. A new kernel reserves every ID a
 * preserved record or a live configuration entry uses before it
 * allocates any (iommufd_reserve_live_ids): two tables under one ID
 * would answer each other's DMA from the IOTLB.
 */
#define IOMMUFD_NR_IDS (1u << 16)
struct iommufd_ids {
	uint64_t map[IOMMUFD_NR_IDS / 64];
	uint32_t next;       /* where the next search starts */
	uint32_t used;
};
void iommufd_ids_init(struct iommufd_ids *ids);
/* The lowest free ID from the cursor on (wrapping); -ENOSPC when none. */
int iommufd_id_alloc(struct iommufd_ids *ids, uint16_t *out);
/* Take id: 0 if it was free, -EEXIST if already taken, -EINVAL for 0. */
int iommufd_id_reserve(struct iommufd_ids *ids, uint16_t id);
void iommufd_id_free(struct iommufd_ids *ids, uint16_t id);
bool iommufd_id_busy(const struct iommufd_ids *ids, uint16_t id);

/*
 * Pins of one memfd's folios: a reference count per folio, taken a page
 * at a time as pin_user_pages does (one page pointer per 4 KiB page), so
 * pinning costs what it costs a kernel: time in pages, memory in folios.
 */
#define IOMMUFD_MAX_MEMFDS 8
struct iommufd_pins {
	const struct kho_memfd *memfd;
	uint32_t *refs;       /* per folio: pages of it pinned */
	uint64_t *run_folio;  /* per memfd run: index of its first folio */
};

struct iommufd_stats {
	uint64_t table_pages;       /* pages in all HWPT tables now */
	uint64_t table_pages_peak;
	uint64_t pinned_bytes;
	uint64_t maps, unmaps, syncs;
	uint64_t maps_waited;       /* address-map changes that waited out recovery */
	uint64_t bad_frees;         /* table pages freed that were not allocated */
};

struct iommufd_ctx {
	struct kho *k;
	struct iommu_drv *drv;
	const struct iommufd_profile *profile;
	enum pt_format_id fmt;
	unsigned int va_bits;
	struct pt_mem_ops mem;
	/* Table pages waiting for the invalidation that covers their removal. */
	struct ioh_u64vec deferred;
	/* An invalidation of some of them never reached the queue: the next
	 * flush invalidates everything before it frees them. */
	bool deferred_uncovered;

	struct iommufd_pins pins[IOMMUFD_MAX_MEMFDS];
	struct iommufd_ioas *ioas[IOMMUFD_MAX_OBJS];
	struct iommufd_hwpt *hwpt[IOMMUFD_MAX_OBJS];
	struct iommufd_hwpt_nested *nested[IOMMUFD_MAX_OBJS];
	struct iommufd_device dev[HW_MAX_DEVS];
	uint32_t next_id;
	struct iommufd_ids dids;    /* domain IDs in use or reserved */

	/* Fault injection for crash tests: called at named points. */
	void (*inject)(void *arg, const char *point);
	void *inject_arg;

	pthread_mutex_t lock;
	pthread_cond_t recovered;
	pthread_cond_t waiter;      /* an address-map change began waiting */
	bool recovering;
	unsigned int recovery_waiters;
	bool frozen;          /* preserved for a live update: no map/unmap */
	/* Test hook, the naive kernel: never invalidate ATCs (the machine
	 * must catch it). */
	bool skip_atc_inv;
	/* Test hook, the naive kernel: a stage-2 replace or change under a
	 * nested HWPT leaves the combined entries (no TLBI by VMID). */
	bool skip_nested_inv;
	/* Test hook, the naive kernel: a PASID's CD is switched without
	 * CFGI_CD (the IOMMU keeps the old one cached). */
	bool skip_cd_inv;
	/* Live update of devices with attached PASIDs: preserve each
	 * PASID's attachment and CD table (else such a device is refused). */
	bool preserve_pasids;
	/* Test hook, the naive kernel: a domain's invalidations go to the
	 * first of the units caching it only (the others keep stale entries). */
	bool skip_units_inv;
	struct iommufd_stats stats;
};

int iommufd_init(struct iommufd_ctx *ictx, struct kho *k, struct iommu_drv *drv,
		 const struct iommufd_profile *profile, enum pt_format_id fmt,
		 unsigned int va_bits);
/* Destroy every object (devices set to abort first). */
void iommufd_fini(struct iommufd_ctx *ictx);

int iommufd_ioas_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas **out);
/*
 * Map [offset, offset + len) of memfd at iova: pins its folios, records
 * the area, and maps it into every HWPT of the IOAS. -EEXIST overlap,
 * -EINVAL alignment or range, -EPERM into an immutable HWPT. All or
 * nothing.
 */
int iommufd_ioas_map_file(struct iommufd_ioas *ioas, struct iommufd_ctx *ictx,
			  struct kho_memfd *memfd, uint64_t offset, uint64_t len,
			  uint64_t iova, uint32_t prot);
/* Unmap whole areas covering exactly [iova, iova + len): -ENOENT if the
 * range does not start and end on area boundaries or holds no area. */
int iommufd_ioas_unmap(struct iommufd_ioas *ioas, struct iommufd_ctx *ictx,
		       uint64_t iova, uint64_t len);

/* A paging HWPT over ioas, built now with the profile's features less
 * those flags inhibits. */
int iommufd_hwpt_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		       uint32_t flags, struct iommufd_hwpt **out);
/* Flush the domain, sync, free the table. When the sync cannot complete,
 * the hardware may still walk the table: its pages are leaked instead.
 * -EBUSY, changing nothing, while a device is attached to it. */
int iommufd_hwpt_destroy(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt);
/* The features a HWPT gets from a profile and flags. */
uint32_t iommufd_features(const struct iommufd_profile *p, uint32_t flags);
/* Leaf sizes a HWPT with these features may use in format fmt. */
uint64_t iommufd_pgsizes(enum pt_format_id fmt, uint32_t features);

int iommufd_device_attach(struct iommufd_ctx *ictx, uint32_t sid,
			  struct iommufd_hwpt *hwpt);

/*
 * Whether a stage 1 of format s1 can nest over a stage 2 of format s2
 * here: 0, or -EOPNOTSUPP with the reason in *why (a static string).
 * Only ARM stage 1 over ARM stage 2 is modelled.
 */
int iommufd_nest_check(enum pt_format_id s1, enum pt_format_id s2,
		       const char **why);
/*
 * A nested HWPT over parent (a paging HWPT, the stage 2): the guest's
 * stage-1 table of format fmt and width va_bits at IPA s1_root (4 KiB
 * aligned, inside the parent's input range), tagged s1_did (nonzero).
 * -EOPNOTSUPP formats that cannot nest, -EINVAL a bad root or DID,
 * -ENOSPC no object slot. Reads nothing of the stage-1 table.
 */
int iommufd_hwpt_alloc_nested(struct iommufd_ctx *ictx,
			      struct iommufd_hwpt *parent, enum pt_format_id fmt,
			      unsigned int va_bits, uint64_t s1_root,
			      uint16_t s1_did, struct iommufd_hwpt_nested **out);
/* -EBUSY, changing nothing, while a device is attached to it. */
int iommufd_hwpt_nested_destroy(struct iommufd_ctx *ictx,
				struct iommufd_hwpt_nested *n);
/* Attach sid (detached) to n: one nested configuration entry write. */
int iommufd_device_attach_nested(struct iommufd_ctx *ictx, uint32_t sid,
				 struct iommufd_hwpt_nested *n);
/* Devices translating nested over stage 2 hwpt. */
unsigned int iommufd_hwpt_nested_users(const struct iommufd_ctx *ictx,
				       const struct iommufd_hwpt *hwpt);
/* Internal to iommufd/: add an adopted nested object. */
int iommufd_register_nested(struct iommufd_ctx *ictx,
			    struct iommufd_hwpt_nested *n);
/*
 * Move sid to hwpt without a window in which its DMA faults: the new HWPT
 * takes over the old one's domain ID, so only the root pointer word of
 * the configuration entry changes (one hitless store), then configuration
 * and TLB invalidation, sync. Translations must already agree; whether
 * granularity must too is the caller's business (BBM level).
 * A nested device keeps its stage 1 (its nested HWPT is re-pointed at
 * hwpt, its new stage 2): only the stage-2 root word changes, and after
 * that store's sync the combined stage 1+2 entries of the VMID are
 * invalidated (TLBI by VMID, SYNC) before the old stage 2 may be freed.
 * Every user of a nested HWPT moves in the same call (-EBUSY otherwise).
 */
int iommufd_device_replace(struct iommufd_ctx *ictx, uint32_t sid,
			   struct iommufd_hwpt *hwpt);
/*
 * The same for n devices at once (at most IOMMU_DRV_BATCH): every entry's
 * root store, one CFGI batch and one SYNC, then one TLBI of the shared
 * domain and one SYNC, instead of two syncs per device. On an error each
 * device is recorded on the table its entry names.
 */
int iommufd_devices_replace(struct iommufd_ctx *ictx, const uint32_t *sids,
			    unsigned int n, struct iommufd_hwpt *hwpt);
int iommufd_device_detach(struct iommufd_ctx *ictx, uint32_t sid);

/*
 * PASIDs of an attached (not nested) device. attach: pasid (1 ..
 * IOMMUFD_MAX_PASIDS - 1, free) to hwpt, the CD written before the STE
 * points at the table. replace: to another HWPT of the same format and
 * width, hitless (it takes the old domain ID when no device uses it yet;
 * else -EBUSY unless the IDs match): CD ROOT, CFGI_CD + SYNC, TLBI of the
 * domain + SYNC, the ATC of an ATS device; the old HWPT may be destroyed
 * after. detach: CD invalid, then the same invalidations. -EINVAL for a
 * bad PASID, device or HWPT, -EBUSY for a PASID in use (attach) or not
 * (replace, detach); nothing changes on error.
 */
int iommufd_device_attach_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				uint32_t pasid, struct iommufd_hwpt *hwpt);
int iommufd_device_replace_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				 uint32_t pasid, struct iommufd_hwpt *hwpt);
int iommufd_device_detach_pasid(struct iommufd_ctx *ictx, uint32_t sid,
				uint32_t pasid);
/* PASIDs attached to sid. */
unsigned int iommufd_device_nr_pasids(const struct iommufd_ctx *ictx,
				      uint32_t sid);
/* Devices and PASIDs using hwpt (users counts both). */
/*
 * Enable or disable PCIe ATS of device sid (its ATC), while it is not
 * attached: -EBUSY attached, -EINVAL bad sid. From then on every
 * invalidation of the HWPT it is attached to also invalidates its ATC,
 * after the IOTLB's (TLBI, SYNC, ATC_INV, SYNC) and before any table page
 * is freed; replace and detach invalidate its whole ATC.
 */
int iommufd_device_set_ats(struct iommufd_ctx *ictx, uint32_t sid, bool ats);

/*
 * Invalidate what g says changed in hwpt's domain, wait for completion,
 * then free the table pages removed meanwhile. Every mutation calls it.
 */
int iommufd_flush(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
		  const struct pt_gather *g);
/* Free deferred pages after a completed sync (declared to the machine). */
void iommufd_free_deferred(struct iommufd_ctx *ictx);

/* Translations the IOAS asks for, as maximal linear runs, in IOVA order. */
struct iommufd_run {
	uint64_t iova, pa, len;
	uint32_t prot;
};
typedef int (*iommufd_run_fn)(void *arg, const struct iommufd_run *r);
/* coalesce: merge runs across area boundaries when they continue. */
int iommufd_ioas_for_each_run(const struct iommufd_ioas *ioas, bool coalesce,
			      iommufd_run_fn fn, void *arg);
/* Map every run of the IOAS into t (a table no device uses yet). */
int iommufd_build_table(const struct iommufd_ioas *ioas, struct pt_table *t,
			uint32_t features);

/*
 * Pin (or unpin) the pages of every area of ioas: what a replay after a
 * live update must do again before it can map. Returns pages pinned.
 */
int64_t iommufd_ioas_pin(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			 bool pin);
/* Pages of memfd m pinned now. */
uint64_t iommufd_pinned_pages(const struct iommufd_ctx *ictx,
			      const struct kho_memfd *m);

/* Degraded mode after a live update. */
void iommufd_begin_recovery(struct iommufd_ctx *ictx);
void iommufd_end_recovery(struct iommufd_ctx *ictx);
/*
 * Wait, at most timeout_ms, until an address-map change is waiting out
 * the recovery; true if one is. For a VMM's request known to be on its
 * way (the live update engine's hotplug), so that it really arrives
 * during recovery whatever the scheduling.
 */
bool iommufd_await_recovery_waiter(struct iommufd_ctx *ictx, uint64_t timeout_ms);

/* Lookups. */
struct iommufd_hwpt *iommufd_hwpt_find(struct iommufd_ctx *ictx, uint32_t id);
struct iommufd_ioas *iommufd_ioas_find(struct iommufd_ctx *ictx, uint32_t id);

/*
 * Give hwpt (not attached to any device) the domain ID did of a table it
 * is about to replace: its own ID is released (unless another HWPT
 * still uses it).
 */
void iommufd_hwpt_take_did(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
			   uint16_t did);

/*
 * The IOMMU units whose caches may hold entries of hwpt's domain: the
 * units of every device attached to any table of that domain since it was
 * made (a replace keeps the domain ID). Every invalidation of the domain
 * goes to each of them, each followed by its own SYNC; a table page is
 * freed only after the last of those syncs.
 */
uint32_t iommufd_domain_units(const struct iommufd_ctx *ictx,
			      const struct iommufd_hwpt *hwpt);
/* Device sid now translates through hwpt (users and units follow). */
void iommufd_hwpt_bind(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
		       uint32_t sid);
/* PASID pasid of device sid now translates through hwpt (likewise). */
void iommufd_pasid_bind(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt,
			uint32_t sid, uint32_t pasid);

/*
 * Partial preservation (the outgoing kernel, before preserving): every
 * device attached and not in keep (a mask of stream IDs) is put in abort
 * mode (iommu_drv_write_ste: CFGI + SYNC); a HWPT left without users by
 * that is destroyed (domain flushed, synced, its pages freed), and an
 * IOAS left without HWPTs by that is marked dropped (not preserved).
 * Its DMA must have been stopped first (iommu_drv_dma_stop), or it
 * faults from here on. *dropped gets the mask of devices put in abort.
 * A refusal check (iommufd_preserve_check) comes before it.
 */
int iommufd_drop_devices(struct iommufd_ctx *ictx, uint32_t keep,
			 uint32_t *dropped);

/* Internal to iommufd/: add an adopted or rebuilt object. */
int iommufd_ioas_insert_area(struct iommufd_ioas *ioas,
			     const struct iommufd_area *a);
int iommufd_register_hwpt(struct iommufd_ctx *ictx, struct iommufd_hwpt *hwpt);

#endif /* IOH_IOMMUFD_IOMMUFD_H */
