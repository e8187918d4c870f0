/* SPDX-License-Identifier: MIT */
/*
 * region: the register region of abi/hw_abi.h as a process sees it. One
 * memory file holds struct hw_regs, then the freed-table-page bitmap (one
 * bit per physmem page). The world runner creates it; the machine and
 * every host kernel generation attach to it by inheriting its descriptor,
 * and attach refuses a region whose magic, layout version or sizes are
 * not those this binary was built for.
 */
#ifndef IOH_ABI_REGION_H
#define IOH_ABI_REGION_H

#include <stdbool.h>
#include <stdint.h>

#include "abi/hw_abi.h"

/* The shared register region (one memfd). */
struct hw_region {
	int fd;
	struct hw_regs *regs;
	uint64_t size;
	uint64_t *freed_map; /* one bit per physmem page */
};

/* A new region for a machine over physmem_size bytes of RAM. */
int hw_region_create(struct hw_region *r, uint64_t physmem_size,
		     unsigned int bbm_level);
/*
 * Set the topology (the creator only, before the machine or a host
 * attaches): nr_units units, device d behind unit d % nr_units. -EINVAL
 * (nothing changed) unless 1 <= nr_units <= HW_MAX_UNITS.
 */
int hw_region_set_units(struct hw_region *r, unsigned int nr_units);
/* Map a region inherited as descriptor fd; checks magic and version. */
int hw_region_attach(struct hw_region *r, int fd);
void hw_region_detach(struct hw_region *r, bool close_fd);

#endif /* IOH_ABI_REGION_H */
