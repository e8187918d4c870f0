// SPDX-License-Identifier: MIT
/*
 * boot: a generation's two normal starts. Fresh: the page allocator over
 * an empty RAM, then the VM as the VMM asks (lu/vmm.c). From a handover:
 * validate and claim it, check the IOMMU runs what it says, let the guest
 * run again (degraded mode) where the strategy allows, read the intent,
 * then restore every preserved table: adopt it, attach its devices, and
 * hand it to the strategy. Memory hotplug arriving meanwhile waits for
 * the end of recovery.
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "abi/hw_abi_ste.h"
#include "ioh/ioh.h"

int lu_boot_fresh(struct lu_gen *g)
{
	int err = kho_init(&g->k, &g->pm, 0);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "allocator: %s",
				   strerror(-err));
	return lu_vmm_create_vm(g);
}

/*
 * What this kernel needs of a handover as a whole, checked with the rest
 * of the blob at boot (kho_blob_check_set), before anything is touched
 * or the guest resumes: the IOMMU unit, and in the VM's session its
 * guest memory, at most IOMMUFD_MAX_MEMFDS memfds, exactly one IOAS and
 * between one HWPT and one fewer than the object table holds (a rebuild
 * builds its new table beside the preserved one).
 */
int lu_handover_check(struct kho_vctx *v, const struct kho_parsed *p)
{
	unsigned int units = 0, memfds = 0, ioas = 0, hwpt = 0;
	bool guest = false;
	for (size_t i = 0; i < p->nr_objs; i++) {
		const struct kho_pobj *o = &p->objs[i];
		const char *ss = p->subsys[o->subsys].ss ?
			p->subsys[o->subsys].ss->name : "";
		const char *sess = p->sessions[o->session];
		const char *type = kho_fdt_get_str(p->fdt, o->node, "type");
		if (!strcmp(ss, IOMMUFD_KHO_IOMMU) && !strcmp(sess, LU_UNIT_SESSION))
			units++;
		if (strcmp(sess, LU_VM_SESSION))
			continue;
		if (!strcmp(ss, KHO_MEMFD_SUBSYS)) {
			memfds++;
			guest |= !strcmp(o->name, LU_GUEST_MEMFD);
		} else if (!strcmp(ss, IOMMUFD_KHO_IOMMUFD) && type) {
			ioas += !strcmp(type, "ioas");
			hwpt += !strcmp(type, "hwpt");
		}
	}
	if (units != 1)
		return kho_vctx_fail(v, "live update: %u iommu units in session "
				     "%s, expected one", units, LU_UNIT_SESSION);
	if (!guest)
		return kho_vctx_fail(v, "live update: session %s has no memfd "
				     "'%s' (the guest's memory)", LU_VM_SESSION,
				     LU_GUEST_MEMFD);
	if (memfds > IOMMUFD_MAX_MEMFDS)
		return kho_vctx_fail(v, "live update: session %s has %u memfds, "
				     "at most %u", LU_VM_SESSION, memfds,
				     IOMMUFD_MAX_MEMFDS);
	if (ioas != 1 || !hwpt || hwpt > IOMMUFD_MAX_OBJS - 1)
		return kho_vctx_fail(v, "live update: session %s has %u ioas and "
				     "%u hwpt objects, expected one ioas and 1 to "
				     "%u hwpts", LU_VM_SESSION, ioas, hwpt,
				     IOMMUFD_MAX_OBJS - 1);
	return 0;
}

int lu_attach_restored(struct lu_gen *g, struct iommufd_hwpt *h,
		       const struct iommufd_hwpt_rec *rec)
{
	for (unsigned int i = 0; i < rec->nr_devs; i++) {
		uint32_t sid = rec->devs[i];
		uint64_t ste[HW_STE_WORDS], want[HW_STE_WORDS];
		int err = iommu_drv_read_ste(&g->drv, sid, ste);
		iommufd_rec_ste(rec, sid, want);
		if (err || !hw_ste_same_config(ste, want))
			return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "device %u: its "
					   "configuration entry does not point at "
					   "the preserved table 0x%" PRIx64, sid,
					   rec->root);
		/* The ATS flag came over in the handover (version 2): the
		 * device's ATC is invalidated with every change of h. */
		bool ats = rec->ats_mask & (1u << sid);
		if (ats != iommu_drv_ats(&g->drv, sid))
			return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "device %u: "
					   "ATS is %s but the handover says %s",
					   sid, ats ? "off" : "on",
					   ats ? "on" : "off");
		g->ictx.dev[sid].ats = ats;
		/* A nested device keeps its guest's stage 1 (version 3). */
		err = iommufd_restore_device(&g->ictx, h, rec, sid);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "device %u: %s", sid,
					   strerror(-err));
	}
	/* PASIDs translating through h, and its devices' CD tables
	 * (version 4; checked against the hardware at boot). */
	int err = iommufd_restore_pasids(&g->ictx, h, rec);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "hwpt %u: PASIDs: %s",
				   rec->id, strerror(-err));
	return 0;
}

int lu_preserve_memfds(struct lu_gen *g, struct luo_session *vm)
{
	int err = 0;
	for (unsigned int i = 0; i < g->nr_memfds && !err; i++)
		err = kho_memfd_preserve(vm, g->memfds[i]->name, g->memfds[i]);
	return err;
}

int lu_retrieve_memfds(struct lu_gen *g)
{
	const struct kho_parsed *p = &g->k.in;
	for (size_t i = 0; i < p->nr_objs; i++) {
		const struct kho_pobj *o = &p->objs[i];
		if (!p->subsys[o->subsys].ss ||
		    strcmp(p->subsys[o->subsys].ss->name, KHO_MEMFD_SUBSYS) ||
		    strcmp(p->sessions[o->session], LU_VM_SESSION))
			continue;
		if (g->nr_memfds == IOMMUFD_MAX_MEMFDS)
			return -E2BIG;
		struct kho_memfd *m;
		int err = kho_memfd_retrieve(&g->k, LU_VM_SESSION, o->name, &m);
		if (err)
			return err;
		g->memfds[g->nr_memfds++] = m;
		if (!strcmp(m->name, LU_GUEST_MEMFD))
			g->guest = m;
	}
	return g->guest ? 0 : -ENOENT;
}

void lu_finish_incoming(struct lu_gen *g)
{
	if (!g->k.has_incoming)
		return;
	lu_crash_point(g, "finish");
	uint64_t t = ioh_now_ns();
	kho_finish(&g->k);
	g->phase_ns[LU_PH_FINISH] += ioh_now_ns() - t;
}

static void inject_point(void *arg, const char *point)
{
	lu_crash_point(arg, point);
}

/* Adopt the preserved table and attach its devices and PASIDs. */
static int adopt_hwpt(struct lu_gen *g, const struct iommufd_hwpt_rec *rec,
		      struct iommufd_hwpt **old)
{
	const struct lu_strategy *s = g->cfg->strategy;
	struct kho_err kerr = { { 0 } };
	int err = iommufd_adopt_hwpt(&g->ictx, g->ioas, rec, s->immutable, old,
				     &kerr);
	if (err)
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "%s; the preserved table "
				   "stays live", kerr.msg);
	return lu_attach_restored(g, *old, rec);
}

/*
 * Every preserved table adopted first (tables devices translate through
 * before those only PASIDs use, so a PASID comes back on a restored
 * device), while the handover is still incoming; then the strategy
 * finishes each (a rebuild's journal ends the incoming handover).
 */
static int restore_hwpts(struct lu_gen *g, const struct iommufd_incoming *in)
{
	struct iommufd_hwpt *old[IOMMUFD_MAX_OBJS] = { NULL };
	int err = 0;
	g->restore_t0 = ioh_now_ns();
	for (unsigned int pass = 0; pass < 2; pass++)
		for (unsigned int i = 0; i < in->nr_hwpt && !err; i++)
			if ((in->hwpt[i].nr_devs > 0) == (pass == 0))
				err = adopt_hwpt(g, &in->hwpt[i], &old[i]);
	/*
	 * PASIDs' tables first: a crash at the first switch or free point
	 * is then one in a PASID's switch. With several tables, the old
	 * ones go only after the last switch: no new table reuses their
	 * pages meanwhile, and a journal never names a freed one.
	 */
	g->defer_old = in->nr_hwpt > 1;
	for (unsigned int pass = 0; pass < 2; pass++)
		for (unsigned int i = 0; i < in->nr_hwpt && !err; i++)
			if ((in->hwpt[i].nr_devs > 0) == (pass == 1))
				err = g->cfg->strategy->restore(g, old[i],
								&in->hwpt[i]);
	/* After a failure too: a switched table's old one has no user. */
	lu_free_deferred_old(g);
	g->defer_old = false;
	return err;
}

/*
 * Claim the handover and check the hardware agrees with it; with an
 * early-resume strategy the guest runs again right after. Returns with
 * the intent read into in.
 */
static int claim_handover(struct lu_gen *g, struct iommufd_incoming *in)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct kho_err kerr = { { 0 } };
	uint64_t t0 = ioh_now_ns();
	lu_crash_point(g, "exec");
	/*
	 * Inside the blackout only what the guest must wait for: the whole
	 * blob validated where it lies (so a handover this kernel cannot
	 * restore is refused with the guest still paused), and the IOMMU
	 * seen to run the stream table it names. The copy, the reservation
	 * and the poison only have to come before this kernel's first
	 * allocation, and nothing allocates before the guest runs again.
	 */
	int err = kho_boot_early(&g->k, &g->pm, c->handover.pa, &kerr);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INPUT, "handover at 0x%" PRIx64 " refused: "
				   "%s; devices keep running on the preserved tables",
				   c->handover.pa, kerr.msg);
	struct iommu_unit unit;
	char why[160];
	err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (!err)
		err = iommufd_peek_unit(&g->k, LU_UNIT_SESSION, &unit);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommu unit: %s",
				   strerror(-err));
	/* Units, topology and stream tables: the hardware's, or refused. */
	if (iommufd_unit_check(&unit, &g->drv, why, sizeof(why)))
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "handover at 0x%"
				   PRIx64 " refused: %s; devices keep running "
				   "on the preserved tables", c->handover.pa,
				   why);
	/*
	 * Degraded mode: the validated handover and the hardware agree on
	 * the configuration, which is all the devices need; the VM runs
	 * again now, before anything that grows with guest memory (copying
	 * the blob, reserving and poisoning RAM, claiming the guest's
	 * folios, reading the intent).
	 */
	uint64_t t_parse = ioh_now_ns() - t0;
	if (c->strategy->early_resume) {
		uint64_t t = ioh_now_ns();
		int rerr = iommu_drv_guest_resume(&g->drv);
		g->blackout_ns = ioh_now_ns() - c->t_pause_ns;
		g->phase_ns[LU_PH_RESUME] = ioh_now_ns() - t;
		if (rerr)
			lu_log("guest resume: %s", strerror(-rerr));
	}
	uint64_t t_after_resume = ioh_now_ns();
	err = kho_boot_late(&g->k, &kerr);
	if (err)
		return lu_gen_fail(g, err == -ENOMEM ? LU_EXIT_INTERNAL : LU_EXIT_INPUT,
				   "handover at 0x%" PRIx64 ": %s; devices keep "
				   "running on the preserved tables",
				   c->handover.pa, kerr.msg);
	kho_poison_trap_install(&g->k);
	err = iommufd_retrieve_unit(&g->k, LU_UNIT_SESSION, &g->unit);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommu unit: %s",
				   strerror(-err));
	err = lu_retrieve_memfds(g);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "guest memory: %s",
				   strerror(-err));
	err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, g->unit.fmt,
			   g->unit.va_bits);
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommufd: %s", strerror(-err));
	g->ictx.skip_atc_inv = c->naive_ats;
	g->ictx.skip_nested_inv = c->naive_nested;
	g->ictx.skip_cd_inv = c->naive_pasids;
	g->ictx.preserve_pasids = c->replay_pasids;
	g->ictx.skip_units_inv = c->naive_units;
	/* iommufd's own crash points (mid-switch) are the kernel's. */
	g->ictx.inject = inject_point;
	g->ictx.inject_arg = g;
	/* One ioas and its hwpts: lu_handover_check saw to that at boot. */
	err = iommufd_retrieve(&g->ictx, LU_VM_SESSION, g->memfds, g->nr_memfds,
			       in, &kerr);
	if (err) {
		iommufd_incoming_free(in);
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "iommufd state: %s", kerr.msg);
	}
	g->ioas = in->ioas[0];
	/* Every PASID record must be what the CD tables hold, before any
	 * of it is adopted: a handover that disagrees is refused whole. */
	err = iommufd_pasids_check_hw(in, &g->drv, &kerr);
	if (err) {
		iommufd_incoming_free(in);
		return lu_gen_fail(g, LU_EXIT_INPUT, "handover at 0x%" PRIx64
				   " refused: %s; devices keep running on the "
				   "preserved tables", c->handover.pa, kerr.msg);
	}
	/* Before this kernel builds any table: no ID the hardware may still
	 * cache under is ever handed out again. */
	g->reserved_ids = iommufd_reserve_live_ids(&g->ictx, in,
						   1u << g->unit.strtab_log2);
	/* Only what the guest waited for counts as boot; reading guest
	 * memory and the intent after it resumed starts the replay. */
	g->phase_ns[LU_PH_BOOT] = t_parse;
	g->phase_ns[LU_PH_REPLAY] += ioh_now_ns() - t_after_resume;
	return 0;
}

/*
 * The devices the handover does not name were not preserved: the old
 * kernel put them in abort before the exec. They stay there (no DMA of
 * theirs is re-enabled); one found translating runs a table nobody
 * handed over, whose pages this kernel poisoned and may reuse, so it is
 * put in abort too, and said so.
 */
static int check_unpreserved(struct lu_gen *g)
{
	for (unsigned int d = 0; d < g->cfg->devices; d++) {
		if (g->ictx.dev[d].hwpt) {
			g->preserved_mask |= 1u << d;
			continue;
		}
		g->aborted_mask |= 1u << d;
		uint64_t ste[HW_STE_WORDS], abort[HW_STE_WORDS];
		int err = iommu_drv_read_ste(&g->drv, d, ste);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "device %u: %s", d,
					   strerror(-err));
		if (!(ste[0] & HW_STE0_V) ||
		    HW_FIELD_GET(HW_STE0_MODE, ste[0]) == HW_STE_MODE_ABORT)
			continue;
		lu_log("device %u is in no preserved table but its stream "
		       "translates: put in abort", d);
		hw_ste_make(abort, HW_STE_MODE_ABORT, 0, 0, 0, 0);
		err = iommu_drv_write_ste(&g->drv, d, abort, NULL);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "device %u: abort: %s",
					   d, strerror(-err));
	}
	return 0;
}

int lu_boot_handover(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	const struct lu_strategy *s = c->strategy;
	struct iommufd_incoming in;
	int err = claim_handover(g, &in);
	if (err)
		return err;
	/* While restoring, address-map changes wait (degraded mode). */
	bool recovering = s->early_resume;
	struct lu_hotplug *hp = NULL;
	if (recovering)
		iommufd_begin_recovery(&g->ictx);
	if (c->hotplug && recovering) {
		err = lu_vmm_hotplug_start(g, &hp);
		if (err) {
			iommufd_end_recovery(&g->ictx);
			iommufd_incoming_free(&in);
			return err;
		}
	}
	if (!err)
		err = restore_hwpts(g, &in);
	iommufd_incoming_free(&in);
	if (!err)
		err = check_unpreserved(g);
	/* Nested: stage 2 was all this kernel replayed; the guest's stage 1
	 * must be as the guest left it, and its configuration carried. */
	g->s1_hash = c->s1_hash;
	if (!err && c->nested && c->naive_s1)
		lu_vmm_naive_s1(g);
	if (!err && c->nested)
		err = lu_vmm_check_nested(g);
	if (recovering)
		iommufd_end_recovery(&g->ictx);
	if (hp)
		err = lu_vmm_hotplug_finish(g, hp, err);
	/* Only the preserved ones: an unpreserved device stays stopped. */
	if (s->stops_dma)
		for (unsigned int d = 0; d < c->devices; d++)
			if (g->ictx.dev[d].hwpt)
				iommu_drv_dma_enable(&g->drv, d, true);
	if (!s->early_resume) {
		iommu_drv_guest_resume(&g->drv);
		g->blackout_ns = ioh_now_ns() - c->t_pause_ns;
	}
	if (err)
		return err;
	lu_finish_incoming(g);
	return 0;
}
