// SPDX-License-Identifier: MIT
/*
 * outgoing: the live update as the old kernel does it. Preserve (while
 * the VM still runs: the blob grows with guest memory, the blackout must
 * not), pause the guest (and, for a strategy that stops DMA, the
 * devices), freeze the handover, write the next generation's command line
 * and exec it. On any failure before the exec the handover is cancelled
 * and the VM runs on, as if nothing had been tried.
 *
 * Also the test hooks (lu_injections) that damage the state handed over.
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "ioh/ioh.h"

int lu_preserve_all(struct lu_gen *g)
{
	struct luo_session *vm, *unit;
	int err = luo_session_create(&g->k, LU_VM_SESSION, &vm);
	if (!err)
		err = luo_session_create(&g->k, LU_UNIT_SESSION, &unit);
	if (!err)
		err = lu_preserve_memfds(g, vm);
	if (!err)
		err = iommufd_preserve(&g->ictx, &g->unit, unit, vm);
	if (err)
		lu_unpreserve_all(g);
	return err;
}

void lu_unpreserve_all(struct lu_gen *g)
{
	kho_cancel(&g->k);
	iommufd_unpreserve(&g->ictx);
}

/* ---- test hooks ---------------------------------------------------------- */

/*
 * The slot of the last block leaf of the table (at the top of guest
 * memory, where no device DMAs), for damage done after the handover is
 * committed: what a stray write or a hostile agent would leave for the
 * next kernel to find.
 */
static _Atomic uint64_t *last_block_slot(struct lu_gen *g, unsigned int *level)
{
	struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
	const struct pt_fmt *f = pt_fmt_get(g->ictx.fmt);
	struct pt_iter it;
	struct pt_leaf l, last = { 0 };
	pt_iter_init(&it, &h->pt, 0, ~0ull);
	while (pt_iter_next(&h->pt, &it, &l))
		if (l.level > 0 && !l.contig)
			last = l;
	if (!last.level)
		return NULL;
	uint64_t *table = h->pt.top;
	for (unsigned int lv = h->pt.top_level;; lv--) {
		_Atomic uint64_t *slot = (_Atomic uint64_t *)&table[pt_index(&h->pt, last.va, lv)];
		if (lv == last.level) {
			*level = lv;
			return slot;
		}
		struct pt_entry_info info;
		pt_fmt_decode(f, atomic_load(slot), lv, &info);
		table = kho_va(&g->k, info.oa, PT_TABLE_SIZE);
	}
}

static int inject_after_freeze(struct lu_gen *g, const char *what)
{
	const struct pt_fmt *f = pt_fmt_get(g->ictx.fmt);
	unsigned int level;
	_Atomic uint64_t *slot = last_block_slot(g, &level);
	if (!slot)
		return -ENOENT;
	if (!strcmp(what, "table-outside"))
		atomic_store(slot, pt_fmt_table_entry(f, level, g->pm.size + (1ull << 30)));
	else if (!strcmp(what, "table-cycle"))
		atomic_store(slot, pt_fmt_table_entry(f, level, g->ictx.dev[0].hwpt->pt.top_pa));
	else
		/* Bit 12 inside a block's output: misaligned, RES0. */
		atomic_store(slot, atomic_load(slot) | (1ull << 12));
	return 0;
}

/*
 * ioas-memfd, ioas-range, hwpt-ioas: damage the ioas (or the hwpt's
 * 'ioas') in the committed handover
 * itself and redo its checksum and commit, as a writer with a bug would
 * leave it: the first memfd name no longer names a memfd of the handover
 * (its first letter's case flipped), or the first area ends one page past
 * its memfd. The next kernel must refuse the handover at boot.
 */
static int inject_ioas(struct lu_gen *g, uint64_t pa, const char *what)
{
	struct kho_header *h = kho_va(&g->k, pa, KHO_HDR_SIZE);
	if (!h)
		return -EFAULT;
	uint8_t *fdt = kho_va(&g->k, pa + KHO_HDR_SIZE, h->fdt_size);
	if (fdt && !strcmp(what, "hwpt-ioas")) {
		int hn = fdt_node_offset_by_prop_value(fdt, -1, "type", "hwpt",
						       sizeof("hwpt"));
		uint64_t id = 0;
		if (hn < 0 || kho_fdt_get_u64(fdt, hn, "ioas", &id) ||
		    fdt_setprop_inplace_u64(fdt, hn, "ioas", id + 100))
			return -ENOENT;
		h->fdt_csum = kho_csum(fdt, h->fdt_size);
		h->commit = KHO_COMMIT_MAGIC ^ h->fdt_csum;
		return 0;
	}
	int node = fdt ? fdt_node_offset_by_prop_value(fdt, -1, "type", "ioas",
							sizeof("ioas")) : -1;
	int nlen, alen;
	char *names = node < 0 ? NULL : fdt_getprop_w(fdt, node, "memfds", &nlen);
	uint8_t *area = node < 0 ? NULL : fdt_getprop_w(fdt, node, "areas", &alen);
	if (!names || nlen < 2 || !area || alen < 40)
		return -ENOENT;
	if (!strcmp(what, "ioas-memfd")) {
		names[0] ^= 0x20;
	} else {
		/* Area 0: iova, len, offset, prot, memfd index (big-endian,
		 * 4-byte aligned). */
		fdt64_t be;
		memcpy(&be, area + 8, 8);
		uint64_t len = fdt64_to_cpu(be);
		memcpy(&be, area + 32, 8);
		uint64_t idx = fdt64_to_cpu(be);
		const char *name = names;
		for (; idx && name < names + nlen; idx--)
			name += strlen(name) + 1;
		const struct kho_memfd *m = NULL;
		for (unsigned int i = 0; i < g->nr_memfds; i++)
			if (name < names + nlen && !strcmp(g->memfds[i]->name, name))
				m = g->memfds[i];
		if (!m || len > m->size)
			return -ENOENT;
		be = cpu_to_fdt64(m->size - len + KHO_4K);
		memcpy(area + 16, &be, 8);
	}
	h->fdt_csum = kho_csum(fdt, h->fdt_size);
	h->commit = KHO_COMMIT_MAGIC ^ h->fdt_csum;
	return 0;
}

/*
 * table-prot: remap the last leaf read-only behind the intent's back,
 * with a proper break (unmap, invalidate, map): the hardware is fine, the
 * table and the intent now disagree.
 */
static int inject_table_prot(struct lu_gen *g)
{
	struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
	struct pt_iter it;
	struct pt_leaf l, last = { 0 };
	bool any = false;
	pt_iter_init(&it, &h->pt, 0, ~0ull);
	while (pt_iter_next(&h->pt, &it, &l)) {
		last = l;
		any = true;
	}
	if (!any)
		return -ENOENT;
	struct pt_gather pg;
	pt_gather_init(&pg);
	uint64_t size = 1ull << last.size_lg2;
	int err = pt_unmap_range(&h->pt, last.va, size, 0, &pg, NULL);
	if (!err)
		err = iommufd_flush(&g->ictx, h, &pg);
	if (!err)
		err = pt_map_range(&h->pt, last.va, last.oa, size,
				   PT_PROT_READ | PT_PROT_CACHE, NULL);
	return err;
}

/* ---- the next generation's command line ---------------------------------- */

/* Split "a,b,c" into "a" and "b,c" (rest empty when there is none). */
static int list_head(const char *list, char *head, size_t hlen, char *rest,
		     size_t rlen)
{
	const char *comma = strchr(list, ',');
	size_t n = comma ? (size_t)(comma - list) : strlen(list);
	if (n >= hlen || (comma && strlen(comma + 1) >= rlen))
		return -EINVAL;
	memcpy(head, list, n);
	head[n] = '\0';
	snprintf(rest, rlen, "%s", comma ? comma + 1 : "");
	return 0;
}

struct next_gen {
	struct lu_gen_cfg cfg;
	char profile[64], profiles[4096], strategies[4096];
};

/* What this generation tells the next one; times are filled at freeze. */
static int plan_next(struct lu_gen *g, struct next_gen *n)
{
	const struct lu_gen_cfg *c = g->cfg;
	char first[24];
	n->cfg = *c;
	if (list_head(c->next, n->profile, sizeof(n->profile), n->profiles,
		      sizeof(n->profiles)))
		return lu_gen_fail(g, LU_EXIT_INPUT, "bad profile list '%s'", c->next);
	/* The strategy of the update about to happen, and those after. */
	n->strategies[0] = '\0';
	if (c->next_strategies && c->next_strategies[0]) {
		if (list_head(c->next_strategies, first, sizeof(first),
			      n->strategies, sizeof(n->strategies)))
			return lu_gen_fail(g, LU_EXIT_INPUT, "bad strategy list '%s'",
					   c->next_strategies);
		n->cfg.strategy = lu_strategy_find(first);
		if (!n->cfg.strategy)
			return lu_gen_fail(g, LU_EXIT_INPUT, "unknown strategy '%s'",
					   first);
	}
	n->cfg.profile = n->profile;
	n->cfg.from_profile = c->profile;
	n->cfg.next = n->profiles[0] ? n->profiles : NULL;
	n->cfg.next_strategies = n->strategies[0] ? n->strategies : NULL;
	n->cfg.physmem_fd = g->pm.fd;
	n->cfg.s1_hash = g->s1_hash;
	n->cfg.recover = false;
	n->cfg.candidates.n = 0;
	/* Test hooks damage the first update only; a failure asked for at
	 * boot happens in the next kernel. */
	n->cfg.inject = NULL;
	n->cfg.fail_at = c->fail_at && !c->handover.set && !c->recover &&
			 !strncmp(c->fail_at, "boot:", 5) ? c->fail_at : NULL;
	return 0;
}

/* After a failed update: the devices a strategy stopped, then the guest. */
static void resume_vm(struct lu_gen *g, const struct lu_strategy *out)
{
	if (out->stops_dma)
		for (unsigned int d = 0; d < g->cfg->devices; d++)
			if (g->ictx.dev[d].hwpt)
				iommu_drv_dma_enable(&g->drv, d, true);
	iommu_drv_guest_resume(&g->drv);
}

uint32_t lu_keep_mask(const struct lu_gen_cfg *c)
{
	unsigned int k = c->preserve ? c->preserve : HW_MAX_DEVS;
	return k >= 32 ? UINT32_MAX : (1u << k) - 1;
}

/*
 * Partial preservation: the devices whose VM does not survive are
 * stopped (their DMA quiesced, as a VMM resets a device it gives up),
 * then put in abort mode, and the tables only they used are freed after
 * the sync; nothing of them is handed over. The IOMMU stays enabled and
 * the other devices keep translating. Cannot be undone if the update
 * fails later: those VMs are gone either way.
 */
static int drop_unpreserved(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	uint32_t keep = lu_keep_mask(c), dropped = 0;
	/* Test hook: leave their DMA running into the abort (counted). */
	bool running = c->inject && !strcmp(c->inject, "unpreserved-running");
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		if (!g->ictx.dev[d].hwpt || keep >> d & 1 || running)
			continue;
		int err = iommu_drv_dma_stop(&g->drv, d);
		if (err)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "stopping device %u "
					   "(not preserved): %s", d, strerror(-err));
	}
	int err = iommufd_drop_devices(&g->ictx, keep, &dropped);
	g->aborted_mask |= dropped;
	g->preserved_mask &= ~dropped;
	if (dropped)
		lu_log("devices not preserved (mask 0x%x): %s, put in abort, "
		       "their tables freed", dropped, running ?
		       "left running (inject)" : "stopped");
	if (err)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "abort of the unpreserved "
				   "devices: %s", strerror(-err));
	return 0;
}

int lu_live_update(struct lu_gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	static struct next_gen next;
	int err = plan_next(g, &next);
	if (err)
		return err;
	const struct lu_strategy *out = next.cfg.strategy;

	/*
	 * Refusals first, before anything changes: a device that cannot be
	 * carried across (PASIDs in use, I/O page faults) means no update
	 * at all, as Linux's live-update series refuses it; the VM keeps
	 * running as it was.
	 */
	char why[160];
	if (iommufd_preserve_check(&g->ictx, lu_keep_mask(c), why, sizeof(why)))
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "live update refused "
				   "(EOPNOTSUPP): %s; the update was not attempted, "
				   "the VM keeps running", why);

	if (c->inject && !strcmp(c->inject, "table-prot")) {
		int ierr = inject_table_prot(g);
		if (ierr)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "inject: %s",
					   strerror(-ierr));
	}
	uint64_t t = ioh_now_ns();
	err = drop_unpreserved(g);
	if (err)
		return err;
	err = lu_preserve_all(g);
	/*
	 * Serialize while the VM still runs (LUO's prepare): the blob grows
	 * with guest memory, the blackout must not.
	 */
	lu_crash_point(g, "serialize");
	if (!err)
		err = kho_prepare(&g->k);
	if (err) {
		lu_unpreserve_all(g);
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "preserve: %s", strerror(-err));
	}
	uint64_t preserve_ns = ioh_now_ns() - t;
	/*
	 * Still outside the blackout: leave the exec nothing to tear down
	 * (a process artefact, reported on its own: a kexec tears nothing
	 * down).
	 */
	physmem_drop_mappings(&g->pm);
	for (unsigned int i = 0; i < g->nr_memfds; i++)
		kho_memfd_drop_index(g->memfds[i]);
	uint64_t unmap_ns = ioh_now_ns() - t - preserve_ns;

	/* The VMM stops the vCPUs; a strategy may stop the devices too. */
	err = iommu_drv_guest_pause(&g->drv);
	uint64_t t_pause = ioh_now_ns();
	if (out->stops_dma)
		for (unsigned int d = 0; d < c->devices; d++)
			iommu_drv_dma_enable(&g->drv, d, false);
	uint64_t pa = 0;
	if (!err)
		err = kho_freeze(&g->k, &pa);
	if (err) {
		lu_unpreserve_all(g);
		resume_vm(g, out);
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "handover: %s", strerror(-err));
	}
	lu_report_handover(g, "update", pa);
	lu_crash_point(g, "freeze");
	if (c->inject && strcmp(c->inject, "table-prot") &&
	    strcmp(c->inject, "unpreserved-running")) {
		int ierr = !strncmp(c->inject, "ioas-", 5) ||
			   !strcmp(c->inject, "hwpt-ioas") ?
			   inject_ioas(g, pa, c->inject) :
			   inject_after_freeze(g, c->inject);
		if (ierr)
			lu_log("inject %s: %s", c->inject, strerror(-ierr));
	}
	next.cfg.handover = (struct lu_opt_pa){ true, pa };
	next.cfg.t_pause_ns = t_pause;
	next.cfg.preserve_ns = preserve_ns;
	next.cfg.unmap_ns = unmap_ns;
	next.cfg.t_freeze_ns = ioh_now_ns();
	const char *exe = c->exe ? c->exe : "/proc/self/exe";
	struct lu_argv av;
	err = lu_cmdline_to_argv(&next.cfg, exe, &av);
	if (!err) {
		int keep[2] = { c->region_fd, c->report_fd };
		const struct kho_exec_args ea = {
			.path = exe, .argv = av.argv, .keep_fds = keep, .nr_keep_fds = 2,
		};
		fflush(NULL);
		err = kho_exec(&g->k, &ea);
		lu_argv_free(&av);
	}
	/* Only on failure: back to normal, the VM runs on. */
	lu_unpreserve_all(g);
	resume_vm(g, out);
	return lu_gen_fail(g, LU_EXIT_INTERNAL, "exec %s: %s", exe, strerror(-err));
}
