/* SPDX-License-Identifier: MIT */
/*
 * physmem: the machine's RAM. One shared, sparse memory file; physical
 * address = file offset. Every process of the machine (the machine model
 * and each host kernel generation) maps the same file, so a store by one
 * is a store to "RAM" for all. Only touched pages use memory, so the
 * address space can be far larger than the host's memory (1 TiB and up).
 *
 * The file is a memfd passed down by descriptor number (it survives the
 * host kernel's execve the way RAM survives kexec).
 */
#ifndef IOH_ABI_PHYSMEM_H
#define IOH_ABI_PHYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHYSMEM_PAGE_SIZE 4096ull

struct physmem {
	int fd;
	uint8_t *base;
	uint64_t size; /* bytes of physical address space */
};

/* A new zero-filled RAM of size bytes (a multiple of 2 MiB). */
int physmem_create(struct physmem *pm, uint64_t size);
/* Map RAM inherited as descriptor fd (size read from the file). */
int physmem_attach(struct physmem *pm, int fd);
/* Unmap; closes the descriptor only when close_fd. */
void physmem_detach(struct physmem *pm, bool close_fd);

static inline bool physmem_contains(const struct physmem *pm, uint64_t pa,
				    uint64_t len)
{
	return len <= pm->size && pa <= pm->size - len;
}

/* Host view of [pa, pa + len); NULL when it is not all RAM. */
static inline void *physmem_ptr(const struct physmem *pm, uint64_t pa,
				uint64_t len)
{
	return physmem_contains(pm, pa, len) ? pm->base + pa : NULL;
}

static inline uint64_t physmem_pa(const struct physmem *pm, const void *va)
{
	return (uint64_t)((const uint8_t *)va - pm->base);
}

/*
 * Drop this process's page tables for all of RAM; contents stay (the file
 * keeps them) and pages map again on the next access. Protections set on
 * parts of the mapping (kho's guard) are reset. A host kernel does this
 * just before its exec, so the exec does not spend the guest's blackout
 * tearing page tables down (a real kexec tears nothing down).
 */
int physmem_drop_mappings(struct physmem *pm);

/*
 * Copy len bytes into RAM at pa through the file, not the mapping: no
 * page of this process's mapping is faulted in (a kernel writes through
 * a direct map that is already there). The mapping sees the bytes at
 * once (one shared file). 0, or -errno with RAM partly written.
 */
int physmem_write(struct physmem *pm, uint64_t pa, const void *buf,
		  uint64_t len);

/* Give the backing memory of [pa, pa + len) back; it reads as zero after. */
int physmem_discard(struct physmem *pm, uint64_t pa, uint64_t len);

#endif /* IOH_ABI_PHYSMEM_H */
