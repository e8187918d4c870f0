// SPDX-License-Identifier: MIT
/*
 * stop-the-world: the baseline every hitless strategy is measured
 * against. The outgoing kernel stops the devices with the guest; the new
 * one rebuilds a table with the preserved features and switches to it,
 * without reconciling granularity (no DMA runs to notice), and only then
 * lets devices and guest run again: the blackout grows with guest size.
 */
#include "lu/gen.h"

static int stw_restore(struct lu_gen *g, struct iommufd_hwpt *old,
		       const struct iommufd_hwpt_rec *rec)
{
	return lu_rebuild_and_switch(g, old, rec, false);
}

const struct lu_strategy lu_strategy_stop_the_world = {
	.name = "stop-the-world",
	.summary = "guest and DMA stopped across the update, tables rebuilt",
	.stops_dma = true,
	.restore = stw_restore,
};
