// SPDX-License-Identifier: MIT
#include "abi/region.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ull

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int region_map(struct hw_region *r, int fd, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED |
		       MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->fd = fd;
	r->regs = p;
	r->size = size;
	r->freed_map = (uint64_t *)((uint8_t *)p + r->regs->freed_map_off);
	return 0;
}

/*
 * A device starts disabled, as out of reset: its driver publishes its DMA
 * window (and the oracle its mappings) first and only then enables it, so
 * no engine ever runs with another device's window (lost writes).
 */
static void dev_ctl_defaults(struct hw_dev_ctl *c)
{
	atomic_store(&c->enabled, 0);
	atomic_store(&c->write_pct, 50);
	atomic_store(&c->size, 64);
	atomic_store(&c->win_lo, 0);
	atomic_store(&c->win_hi, ~0ull);
}

int hw_region_create(struct hw_region *r, uint64_t physmem_size,
		     unsigned int bbm_level)
{
	if (bbm_level > 2 || !physmem_size || physmem_size % PAGE)
		return -EINVAL;
	uint64_t map_off = round_up(sizeof(struct hw_regs), PAGE);
	uint64_t map_bytes = round_up(physmem_size / PAGE / 8 + 8, PAGE);
	uint64_t size = map_off + map_bytes;
	int fd = memfd_create("ioh-hwregs", 0);
	if (fd < 0)
		return -errno;
	int err = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (!err) {
		/* The header must be there before region_map reads it. */
		struct hw_regs hdr;
		memset(&hdr, 0, sizeof(hdr));
		hdr.freed_map_off = map_off;
		if (pwrite(fd, &hdr.freed_map_off, sizeof(hdr.freed_map_off),
			   (off_t)offsetof(struct hw_regs, freed_map_off)) !=
		    (ssize_t)sizeof(hdr.freed_map_off))
			err = -EIO;
	}
	if (!err)
		err = region_map(r, fd, size);
	if (err) {
		close(fd);
		return err;
	}
	struct hw_regs *g = r->regs;
	g->abi_version = HW_ABI_VERSION;
	g->bbm_level = bbm_level;
	g->region_size = size;
	g->physmem_size = physmem_size;
	g->nr_units = 1;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		dev_ctl_defaults(&g->dev_ctl[d]);
	atomic_thread_fence(memory_order_release);
	g->magic = HW_ABI_MAGIC;
	return 0;
}

int hw_region_set_units(struct hw_region *r, unsigned int nr_units)
{
	if (!nr_units || nr_units > HW_MAX_UNITS)
		return -EINVAL;
	r->regs->nr_units = nr_units;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		r->regs->dev_unit[d] = (uint8_t)(d % nr_units);
	return 0;
}

static bool topology_ok(const struct hw_regs *g)
{
	if (!g->nr_units || g->nr_units > HW_MAX_UNITS)
		return false;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		if (g->dev_unit[d] >= g->nr_units)
			return false;
	return true;
}

int hw_region_attach(struct hw_region *r, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < sizeof(struct hw_regs))
		return -EINVAL;
	int err = region_map(r, fd, (uint64_t)st.st_size);
	if (err)
		return err;
	const struct hw_regs *g = r->regs;
	/* A binary built against another layout must not attach. */
	if (g->magic != HW_ABI_MAGIC || g->abi_version != HW_ABI_VERSION ||
	    g->freed_map_off != round_up(sizeof(struct hw_regs), PAGE) ||
	    g->region_size != (uint64_t)st.st_size || !topology_ok(g) ||
	    g->freed_map_off + g->physmem_size / PAGE / 8 > g->region_size) {
		munmap(r->regs, r->size);
		r->regs = NULL;
		return -EPROTO;
	}
	return 0;
}

void hw_region_detach(struct hw_region *r, bool close_fd)
{
	if (r->regs)
		munmap(r->regs, r->size);
	if (close_fd && r->fd >= 0)
		close(r->fd);
	r->regs = NULL;
	r->freed_map = NULL;
	r->fd = -1;
}

