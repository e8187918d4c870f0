// SPDX-License-Identifier: MIT
/*
 * verify: replay the intent (re-pin the guest), check that the preserved
 * table holds exactly it (every leaf's address, size-independent extent
 * and permissions), then own it as a normal, mutable domain. There is no
 * second table and no switch; a table that disagrees is refused and stays
 * live as the devices use it.
 */
#include "lu/gen.h"

#include "ioh/ioh.h"

static int verify_restore(struct lu_gen *g, struct iommufd_hwpt *old,
			  const struct iommufd_hwpt_rec *rec)
{
	(void)rec;
	int err = lu_replay(g);
	if (err)
		return err;
	uint64_t t = ioh_now_ns();
	err = lu_verify_table(g, &old->pt);
	g->phase_ns[LU_PH_DIFF] += ioh_now_ns() - t;
	if (!err)
		old->immutable = false;
	return err;
}

const struct lu_strategy lu_strategy_verify = {
	.name = "verify",
	.summary = "check the preserved tables hold the intent, then own them",
	.early_resume = true,
	.restore = verify_restore,
};
