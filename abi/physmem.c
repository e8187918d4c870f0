// SPDX-License-Identifier: MIT
#include "abi/physmem.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PHYSMEM_ALIGN (2ull << 20)

static int physmem_map(struct physmem *pm, int fd, uint64_t size)
{
	/*
	 * MAP_NORESERVE: the file is sparse and most of it is never
	 * touched; reserving swap for a TiB of address space would fail.
	 */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	pm->fd = fd;
	pm->base = p;
	pm->size = size;
	return 0;
}

int physmem_create(struct physmem *pm, uint64_t size)
{
	if (size == 0 || size % PHYSMEM_ALIGN)
		return -EINVAL;
	int fd = memfd_create("ioh-physmem", 0);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = physmem_map(pm, fd, size);
	if (err)
		close(fd);
	return err;
}

int physmem_attach(struct physmem *pm, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || (uint64_t)st.st_size % PHYSMEM_ALIGN)
		return -EINVAL;
	return physmem_map(pm, fd, (uint64_t)st.st_size);
}

void physmem_detach(struct physmem *pm, bool close_fd)
{
	if (pm->base)
		munmap(pm->base, pm->size);
	if (close_fd && pm->fd >= 0)
		close(pm->fd);
	pm->base = NULL;
	pm->fd = -1;
	pm->size = 0;
}

int physmem_write(struct physmem *pm, uint64_t pa, const void *buf,
		  uint64_t len)
{
	if (!physmem_contains(pm, pa, len))
		return -EINVAL;
	for (uint64_t done = 0; done < len;) {
		ssize_t n = pwrite(pm->fd, (const uint8_t *)buf + done,
				   len - done, (off_t)(pa + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

int physmem_discard(struct physmem *pm, uint64_t pa, uint64_t len)
{
	if (!physmem_contains(pm, pa, len) || pa % PHYSMEM_PAGE_SIZE ||
	    len % PHYSMEM_PAGE_SIZE)
		return -EINVAL;
	if (fallocate(pm->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)pa, (off_t)len) < 0)
		return -errno;
	return 0;
}

int physmem_drop_mappings(struct physmem *pm)
{
	/*
	 * Map the file afresh over the old mapping: unlike MADV_DONTNEED,
	 * which clears entries but keeps the page-table pages, this frees
	 * them too, so an exec after it has nothing left to tear down.
	 */
	void *p = mmap(pm->base, pm->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE | MAP_FIXED, pm->fd, 0);
	return p == MAP_FAILED ? -errno : 0;
}
