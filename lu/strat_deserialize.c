// SPDX-License-Identifier: MIT
/*
 * deserialize: keep the preserved table as it is, as an immutable domain
 * (Linux's 2026 live update series). Nothing is replayed or rebuilt, so
 * nothing can differ from what the devices use; the price is that the
 * domain never changes again (map and unmap are refused, so memory
 * hotplug fails).
 */
#include "lu/gen.h"

static int deserialize_restore(struct lu_gen *g, struct iommufd_hwpt *old,
			       const struct iommufd_hwpt_rec *rec)
{
	(void)g;
	(void)old;
	(void)rec;
	return 0;
}

const struct lu_strategy lu_strategy_deserialize = {
	.name = "deserialize",
	.summary = "adopt the preserved tables as an immutable domain",
	.early_resume = true,
	.immutable = true,
	.restore = deserialize_restore,
};
