// SPDX-License-Identifier: MIT
/*
 * recover: the kernel that boots after one died mid-update. It looks
 * for the last handover that was completely written (the crashed kernels
 * reported where they wrote them) and keeps each device on the table it
 * uses now: the old one (the update falls back) or, if a journal shows
 * the switch began, the new one (the update completes). Tables no device
 * uses are released after a sync. With no usable handover nothing in RAM
 * can be trusted to describe what the devices use, so every stream goes
 * to abort.
 */
#include "lu/gen.h"

#include <errno.h>
#include <string.h>

#include "abi/hw_abi_ste.h"
#include "ioh/ioh.h"

/* DMA faults from now on, but nothing is misdirected and nothing lands
 * outside guest memory. */
static int recover_abort(struct lu_gen *g, const char *why)
{
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_ABORT, 0, 0, 0, 0);
	int err = 0;
	/* Every stream of every unit that has a stream table. */
	for (unsigned int sid = 0; sid < HW_MAX_DEVS && !err; sid++) {
		uint64_t pa;
		unsigned int log2;
		iommu_drv_strtab(&g->drv, iommu_drv_unit_of(&g->drv, sid), &pa,
				 &log2);
		if (log2 && !(sid >> log2))
			err = iommu_drv_write_ste(&g->drv, sid, ste, NULL);
	}
	if (!err)
		err = iommu_drv_tlbi_all(&g->drv, IOMMU_DRV_ALL_UNITS);
	if (!err)
		err = iommu_drv_sync(&g->drv);
	iommu_drv_guest_resume(&g->drv);
	g->recovery_mode = "abort";
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "abort mode: %s",
				   strerror(-err));
	return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "%s: devices put in abort mode",
			   why);
}

/* Device d's stream is in abort: a device the crashed kernel did not
 * preserve (partial preservation), stopped for good. */
static bool stream_in_abort(struct lu_gen *g, unsigned int d)
{
	uint64_t ste[HW_STE_WORDS];
	return !iommu_drv_read_ste(&g->drv, d, ste) && (ste[0] & HW_STE0_V) &&
	       HW_FIELD_GET(HW_STE0_MODE, ste[0]) == HW_STE_MODE_ABORT;
}

/*
 * A step failed for want of a resource (memory, an object slot, a sync
 * not seen to complete), not because the handover is unusable: the
 * devices keep translating through the preserved tables they run, which
 * the handover says are right, the VM runs on, and the kernel reports
 * the failure. Anything else is the handover's fault: abort mode.
 */
static int recover_fail(struct lu_gen *g, int err, const char *why)
{
	if (err != -ENOMEM && err != -ENOSPC && err != -ETIMEDOUT && err != -EBUSY)
		return recover_abort(g, why);
	for (unsigned int d = 0; d < g->cfg->devices; d++)
		if (!stream_in_abort(g, d))
			iommu_drv_dma_enable(&g->drv, d, true);
	iommu_drv_guest_resume(&g->drv);
	return lu_gen_fail(g, LU_EXIT_INTERNAL, "recovery: %s; the devices keep "
			   "the preserved tables they run", why);
}

/* Bytes allocated beyond what the recovered kernel owns: a leak. */
static uint64_t leaked_bytes(struct lu_gen *g)
{
	uint64_t used = g->k.alloc.ram_size - g->k.alloc.free_bytes;
	uint64_t owned = g->ictx.stats.table_pages * KHO_4K +
			 g->unit.nr_units *
			 ((((uint64_t)HW_STE_SIZE << g->unit.strtab_log2) + KHO_4K - 1) /
			  KHO_4K * KHO_4K);
	for (unsigned int i = 0; i < g->nr_memfds; i++)
		owned += g->memfds[i]->size;
	return used > owned ? used - owned : 0;
}

/*
 * The devices whose configuration entry runs rec's table now. A device's
 * guest stage 1 (nested) belongs to the device, like ATS: nested holds
 * every record of the handover (a table built mid-update was journaled
 * before any device moved to it, so its own record names none), and a
 * device nested over rec's table gets its record in users.
 */
/*
 * PASIDs, like nested records, belong to the device: dev holds every
 * PASID record and CD table of the handover. A PASID uses rec's table
 * when its CD (read from the device's CD table) runs it; a device
 * running rec's table takes its CD table along.
 */
static void pasid_users(struct lu_gen *g, const struct iommufd_hwpt_rec *rec,
			const struct iommufd_hwpt_rec *dev,
			struct iommufd_hwpt_rec *users)
{
	users->nr_pasids = 0;
	users->nr_cdtabs = 0;
	for (unsigned int i = 0; i < dev->nr_cdtabs; i++) {
		uint32_t sid = dev->cdtabs[i].sid;
		for (unsigned int j = 0; j < users->nr_devs; j++)
			if (users->devs[j] == sid && !iommufd_rec_nested(users, sid))
				users->cdtabs[users->nr_cdtabs++] = dev->cdtabs[i];
		uint64_t want[HW_CD_WORDS];
		hw_cd_make(want, rec->fmt, rec->va_bits, rec->root, rec->did);
		for (unsigned int j = 0; j < dev->nr_pasids; j++) {
			uint64_t cd[HW_CD_WORDS];
			if (dev->pasids[j].sid != sid ||
			    iommu_drv_read_cd(&g->drv, dev->cdtabs[i].pa,
					      IOMMUFD_CD_LOG2,
					      dev->pasids[j].pasid, cd) ||
			    !hw_cd_same_config(cd, want))
				continue;
			users->pasids[users->nr_pasids++] = dev->pasids[j];
		}
	}
}

static void current_users(struct lu_gen *g, const struct iommufd_hwpt_rec *rec,
			  const struct iommufd_hwpt_rec *nested,
			  struct iommufd_hwpt_rec *users)
{
	struct iommufd_hwpt_rec probe = *rec;
	memcpy(probe.nested, nested->nested, sizeof(probe.nested));
	probe.nr_nested = nested->nr_nested;
	memcpy(probe.cdtabs, nested->cdtabs, sizeof(probe.cdtabs));
	probe.nr_cdtabs = nested->nr_cdtabs;
	*users = *rec;
	users->nr_devs = 0;
	users->nr_nested = 0;
	for (unsigned int d = 0; d < g->cfg->devices; d++) {
		uint64_t ste[HW_STE_WORDS], want[HW_STE_WORDS];
		iommufd_rec_ste(&probe, d, want);
		if (iommu_drv_read_ste(&g->drv, d, ste) ||
		    !hw_ste_same_config(ste, want))
			continue;
		users->devs[users->nr_devs++] = d;
		const struct iommufd_nested_rec *n = iommufd_rec_nested(&probe, d);
		if (n)
			users->nested[users->nr_nested++] = *n;
	}
	pasid_users(g, rec, nested, users);
}

int lu_boot_recovery(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct kho_err kerr = { { 0 } };
	uint64_t pa;
	int err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommu: %s", strerror(-err));
	if (kho_latest_committed(&g->pm, c->candidates.pa, c->candidates.n, &pa))
		return recover_abort(g, "no complete handover");
	err = kho_boot(&g->k, &g->pm, pa, &kerr);
	if (err)
		return recover_fail(g, err, kerr.msg);
	kho_poison_trap_install(&g->k);
	err = iommufd_retrieve_unit(&g->k, LU_UNIT_SESSION, &g->unit);
	char why[160];
	/* A handover for other hardware (units, topology) is unusable. */
	if (!err && iommufd_unit_check(&g->unit, &g->drv, why, sizeof(why)))
		return recover_abort(g, why);
	if (!err)
		err = lu_retrieve_memfds(g);
	if (!err)
		err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, g->unit.fmt,
				   g->unit.va_bits);
	if (err)
		return recover_fail(g, err, err == -ENOMEM ? "out of memory" :
				    "handover state unusable");
	g->ictx.skip_atc_inv = c->naive_ats;
	g->ictx.skip_cd_inv = c->naive_pasids;
	g->ictx.preserve_pasids = c->replay_pasids;
	g->ictx.skip_units_inv = c->naive_units;
	/* One ioas: lu_handover_check saw to that at boot. */
	struct iommufd_incoming in;
	err = iommufd_retrieve(&g->ictx, LU_VM_SESSION, g->memfds, g->nr_memfds,
			       &in, &kerr);
	if (err) {
		iommufd_incoming_free(&in);
		return recover_fail(g, err, kerr.msg);
	}
	g->ioas = in.ioas[0];
	g->reserved_ids = iommufd_reserve_live_ids(&g->ictx, &in,
						   1u << g->unit.strtab_log2);

	/* Which preserved table does each device use right now? */
	unsigned int newest = 0, used_newest = 0;
	/* A journal names a table built mid-update, which its own record
	 * gives no device and no PASID (every other table has users: PASID
	 * tables too, so more than one record alone is no journal). */
	bool journal = false;
	struct ioh_u64vec unused = { 0 };
	/* ATS belongs to the device: whichever record names it (a table
	 * built mid-update was journaled before any device moved to it). */
	uint32_t ats = 0;
	/* only its nested records, PASID records and CD tables */
	static struct iommufd_hwpt_rec nested;
	nested.nr_nested = 0;
	nested.nr_pasids = 0;
	nested.nr_cdtabs = 0;
	for (unsigned int i = 0; i < in.nr_hwpt; i++) {
		if (!in.hwpt[i].nr_devs && !in.hwpt[i].nr_pasids &&
		    (!journal || in.hwpt[i].id > in.hwpt[newest].id)) {
			newest = i;
			journal = true;
		}
		ats |= in.hwpt[i].ats_mask;
		/* Validated: each (device, PASID) and CD table once. */
		for (unsigned int k = 0; k < in.hwpt[i].nr_pasids; k++)
			nested.pasids[nested.nr_pasids++] = in.hwpt[i].pasids[k];
		for (unsigned int k = 0; k < in.hwpt[i].nr_cdtabs; k++)
			nested.cdtabs[nested.nr_cdtabs++] = in.hwpt[i].cdtabs[k];
		for (unsigned int k = 0; k < in.hwpt[i].nr_nested; k++)
			if (!iommufd_rec_nested(&nested, in.hwpt[i].nested[k].sid) &&
			    nested.nr_nested < HW_MAX_DEVS)
				nested.nested[nested.nr_nested++] = in.hwpt[i].nested[k];
	}
	unsigned int pasids_placed = 0;
	for (unsigned int i = 0; i < in.nr_hwpt && !err; i++) {
		static struct iommufd_hwpt_rec users;
		current_users(g, &in.hwpt[i], &nested, &users);
		users.ats_mask = ats;
		pasids_placed += users.nr_pasids;
		bool used = users.nr_devs || users.nr_pasids;
		/* No device or PASID uses it: its pages go at finish. */
		for (size_t p = 0; !used && p < in.hwpt[i].nr_pages && !err; p++)
			err = ioh_u64vec_push(&unused, in.hwpt[i].pages[p]);
		if (!used)
			continue;
		struct iommufd_hwpt *h;
		err = iommufd_adopt_hwpt(&g->ictx, g->ioas, &in.hwpt[i], false, &h,
					 &kerr);
		if (err) {
			iommufd_incoming_free(&in);
			ioh_u64vec_free(&unused);
			return recover_fail(g, err, kerr.msg);
		}
		err = lu_attach_restored(g, h, &users);
		if (!err)
			err = lu_verify_table(g, &h->pt);
		used_newest += i == newest ? users.nr_devs + users.nr_pasids : 0;
	}
	iommufd_incoming_free(&in);
	if (err) {
		ioh_u64vec_free(&unused);
		return recover_abort(g, kerr.msg[0] ? kerr.msg : g->error);
	}
	if (pasids_placed != nested.nr_pasids) {
		ioh_u64vec_free(&unused);
		return recover_abort(g, "a PASID's CD runs no preserved table");
	}
	/*
	 * A device on no preserved table is fine only in abort: one the
	 * crashed kernel did not preserve (partial preservation), which
	 * stays there. One that translates through a table nobody handed
	 * over cannot be trusted.
	 */
	/* PASIDs count as users of their tables, like devices. */
	unsigned int preserved = pasids_placed;
	for (unsigned int d = 0; d < c->devices; d++) {
		if (g->ictx.dev[d].hwpt) {
			preserved++;
			g->preserved_mask |= 1u << d;
			continue;
		}
		if (stream_in_abort(g, d)) {
			g->aborted_mask |= 1u << d;
			continue;
		}
		ioh_u64vec_free(&unused);
		return recover_abort(g, "a device uses no preserved table");
	}
	/*
	 * Walk caches may still reach tables no device uses (the switch was
	 * cut short before the invalidation that would have dropped them):
	 * flush them before finish releases their pages, and declare the
	 * pages freed to the machine, which then counts any walk still
	 * reaching them as a use after free.
	 */
	uint32_t sids[HW_MAX_DEVS];
	unsigned int nsid = c->devices < HW_MAX_DEVS ? c->devices : HW_MAX_DEVS;
	for (unsigned int d = 0; d < nsid; d++)
		sids[d] = d;
	/*
	 * First the configuration caches: a kernel killed between its store
	 * of an entry and that entry's CFGI_STE leaves the IOMMU walking the
	 * old table through the cached entry, whatever the entry now says.
	 * Synced before the TLB flush, so no walk of a released table can
	 * start after it.
	 */
	err = iommu_drv_cfgi_stes_sync(&g->drv, sids, nsid);
	/* The same for CDs: one stored but not yet invalidated leaves the
	 * IOMMU on the PASID's old table. */
	bool cds = false;
	for (unsigned int d = 0; d < HW_MAX_DEVS && !err; d++)
		if (g->ictx.dev[d].cdtab) {
			err = iommu_drv_cfgi_cd_all(&g->drv, d);
			cds = true;
		}
	if (!err && cds)
		err = iommu_drv_sync(&g->drv);
	if (!err)
		err = iommu_drv_tlbi_all(&g->drv, IOMMU_DRV_ALL_UNITS);
	if (!err)
		err = iommu_drv_sync(&g->drv);
	/* And the ATCs, after the IOTLB: a device switched before its ATC
	 * invalidation still holds the old table's translations. */
	bool atc = false;
	for (unsigned int d = 0; d < HW_MAX_DEVS && !err; d++)
		if (g->ictx.dev[d].ats && !g->ictx.skip_atc_inv) {
			err = iommu_drv_atc_inv_all(&g->drv, d);
			atc = true;
		}
	if (!err && atc)
		err = iommu_drv_sync(&g->drv);
	for (size_t p = 0; !err && p < unused.n; p++)
		iommu_drv_table_page_freed(&g->drv, unused.v[p]);
	ioh_u64vec_free(&unused);
	if (err)
		return recover_fail(g, err, "the flush before finish did not complete");
	int64_t pinned = iommufd_ioas_pin(&g->ictx, g->ioas, true);
	if (pinned < 0)
		return recover_fail(g, (int)pinned, "re-pinning guest memory failed");
	for (unsigned int d = 0; d < c->devices; d++)
		if (g->ictx.dev[d].hwpt)
			iommu_drv_dma_enable(&g->drv, d, true);
	iommu_drv_guest_resume(&g->drv);
	lu_finish_incoming(g);
	/* completed: all on the new table; fell-back: all on the old one;
	 * split: the crash came mid-switch, each device stays where it is
	 * (both tables translate alike). */
	g->recovery_mode = journal && used_newest == preserved ? "completed" :
			   journal && used_newest ? "split" : "fell-back";
	g->leaked_bytes = leaked_bytes(g);
	return 0;
}
