// SPDX-License-Identifier: MIT
/*
 * rebuild: replay the intent into a fresh table built with the preserved
 * table's features (less what this kernel lacks; or, naive, with its own
 * defaults), diff the two, reconcile granularity (split and join the new
 * table to the old layout) where the hardware lacks BBM level 2, commit a
 * journal naming both tables, switch every device with one configuration
 * write each, and free the old table after the sync that covers it.
 *
 * A translation difference aborts the switch: the preserved table stays
 * live. A crash from the journal on leaves a handover from which a
 * recovery kernel completes the switch or falls back (lu/recover.c).
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ioh/ioh.h"

struct diff_count {
	uint64_t bytes[3];
};

static int count_diff(void *arg, const struct pt_diff_range *r)
{
	struct diff_count *d = arg;
	d->bytes[r->kind] += r->last - r->va + 1;
	return 0;
}

/*
 * From the first configuration write on, the hardware may use the new
 * table, which the incoming handover does not describe: a journal naming
 * both tables goes first, so a crash from there on leaves a handover a
 * recovery kernel can complete the switch from.
 */
static int commit_journal(struct lu_gen *g)
{
	uint64_t pa;
	int err = lu_preserve_all(g);
	if (!err)
		err = kho_prepare(&g->k);
	if (!err)
		err = kho_freeze(&g->k, &pa);
	if (err) {
		lu_unpreserve_all(g);
		return err;
	}
	lu_report_handover(g, "journal", pa);
	return 0;
}

/* Diff nh against old; reconcile if asked and needed. */
static int diff_reconcile(struct lu_gen *g, struct iommufd_hwpt *nh,
			  struct iommufd_hwpt *old, bool reconcile)
{
	struct diff_count dc = { { 0 } };
	int err = pt_diff(&nh->pt, &old->pt, 0, ~0ull, count_diff, &dc);
	g->diff_granule_bytes += dc.bytes[PT_DIFF_GRANULE];
	if (!err && dc.bytes[PT_DIFF_TRANSLATION])
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "rebuilt table translates "
				   "0x%" PRIx64 " bytes differently from the "
				   "preserved one; switch aborted, the preserved "
				   "table stays live", dc.bytes[PT_DIFF_TRANSLATION]);
	if (!err && dc.bytes[PT_DIFF_GRANULE] && reconcile &&
	    lu_needs_same_granule(g)) {
		struct pt_gather pg;
		pt_gather_init(&pg);
		err = pt_reconcile(&nh->pt, &old->pt, &pg, &g->rec);
		/* The new table is not live: its removed pages can go now. */
		iommufd_free_deferred(&g->ictx);
		memset(&dc, 0, sizeof(dc));
		if (!err)
			err = pt_diff(&nh->pt, &old->pt, 0, ~0ull, count_diff, &dc);
		if (!err && dc.bytes[PT_DIFF_GRANULE])
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "reconcile left 0x%"
					   PRIx64 " bytes at another granularity",
					   dc.bytes[PT_DIFF_GRANULE]);
	}
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "diff: %s", pt_strerror(err));
	return 0;
}

int lu_rebuild_and_switch(struct lu_gen *g, struct iommufd_hwpt *old,
			  const struct iommufd_hwpt_rec *rec, bool reconcile)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct iommufd_hwpt *nh;
	int err = lu_replay(g);
	if (err)
		return err;
	uint64_t t = ioh_now_ns();
	uint32_t feats = c->naive ? g->profile->features :
			 iommufd_features_common(rec->features, g->profile->features);
	uint32_t flags = iommufd_flags_for(feats);
	uint64_t pages_before = g->ictx.stats.table_pages;
	err = iommufd_hwpt_alloc(&g->ictx, g->ioas, flags, &nh);
	g->phase_ns[LU_PH_BUILD] += ioh_now_ns() - t;
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "build: %s; the preserved "
				   "table stays live", strerror(-err));
	g->extra_table_pages = g->ictx.stats.table_pages - pages_before;
	/*
	 * It will run under the old domain ID (only the root word of the
	 * configuration changes): record that now, so the journal says
	 * what the hardware will use.
	 */
	iommufd_hwpt_take_did(&g->ictx, nh, old->did);

	t = ioh_now_ns();
	err = diff_reconcile(g, nh, old, reconcile && !c->naive);
	g->phase_ns[LU_PH_DIFF] += ioh_now_ns() - t;
	if (err) {
		iommufd_hwpt_destroy(&g->ictx, nh);
		return err;
	}
	lu_crash_point(g, "reconcile");

	lu_finish_incoming(g);
	err = commit_journal(g);
	if (err) {
		iommufd_hwpt_destroy(&g->ictx, nh);
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "journal: %s; the preserved "
				   "table stays live", strerror(-err));
	}
	t = ioh_now_ns();
	/* Every device of the HWPT in one batch: one configuration sync and
	 * one TLB sync for all of them. */
	err = iommufd_devices_replace(&g->ictx, rec->devs, rec->nr_devs, nh);
	/* Then each PASID on the old table: its CD's root, CFGI_CD + SYNC,
	 * TLBI of the (kept) domain + SYNC. */
	for (unsigned int i = 0; i < rec->nr_pasids && !err; i++)
		err = iommufd_device_replace_pasid(&g->ictx, rec->pasids[i].sid,
						   rec->pasids[i].pasid, nh);
	g->phase_ns[LU_PH_SWITCH] += ioh_now_ns() - t;
	if (err)
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "replace: %s",
				   strerror(-err));
	lu_crash_point(g, "free");

	t = ioh_now_ns();
	if (g->defer_old && g->nr_old_hwpts < IOMMUFD_MAX_OBJS)
		g->old_hwpts[g->nr_old_hwpts++] = old;
	else
		iommufd_hwpt_destroy(&g->ictx, old);
	g->phase_ns[LU_PH_FREE] += ioh_now_ns() - t;
	/* The switch is complete and the old table gone: no handover stays. */
	lu_unpreserve_all(g);
	return 0;
}

void lu_free_deferred_old(struct lu_gen *g)
{
	uint64_t t = ioh_now_ns();
	for (unsigned int i = 0; i < g->nr_old_hwpts; i++)
		iommufd_hwpt_destroy(&g->ictx, g->old_hwpts[i]);
	g->nr_old_hwpts = 0;
	g->phase_ns[LU_PH_FREE] += ioh_now_ns() - t;
}

static int rebuild_restore(struct lu_gen *g, struct iommufd_hwpt *old,
			   const struct iommufd_hwpt_rec *rec)
{
	return lu_rebuild_and_switch(g, old, rec, true);
}

const struct lu_strategy lu_strategy_rebuild = {
	.name = "rebuild",
	.summary = "replay into a fresh table, reconcile its layout, switch",
	.early_resume = true,
	.restore = rebuild_restore,
};
