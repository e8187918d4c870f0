/* SPDX-License-Identifier: MIT */
/*
 * The memfd model: guest RAM is a file made of physical folios (what
 * memfd/hugetlbfs/guest_memfd give a VMM). A folio of 2^n bytes sits at a
 * file offset aligned to 2^n, as in the page cache. A preserved memfd comes
 * back after a live update with the same folios at the same offsets.
 *
 * Layout mix: the file is cut into 1 GiB chunks; a chunk is one 1 GiB folio
 * with probability ppm_1g (parts per million), else 512 slots of 2 MiB, and
 * each slot is split into 512 folios of 4 KiB with probability ppm_4k.
 * With scatter_4k the 4K folios of a slot are given to file offsets in a
 * shuffled order, so physically adjacent pages are not adjacent in the file
 * (fragmentation as left by a long-running host). Deterministic in seed.
 */
#ifndef IOH_KHO_MEMFD_H
#define IOH_KHO_MEMFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kho/kho.h"

#define KHO_MEMFD_SUBSYS "memfd"
#define KHO_MEMFD_VERSION 2u

struct kho_memfd_mix {
	uint32_t ppm_1g;
	uint32_t ppm_4k;
	uint64_t seed;
	bool scatter_4k;
};

/* Mostly 1G and 2M, some 4K fragmentation. */
extern const struct kho_memfd_mix kho_memfd_mix_default;

struct kho_memfd_folio {
	uint64_t offset;
	uint64_t pa;
	uint32_t size_lg2;
};

/* A run of folios: same size, consecutive offsets and addresses. */
struct kho_memfd_run {
	uint64_t offset;
	uint64_t pa;
	uint64_t count;
	uint32_t size_lg2;
};

struct kho_memfd {
	struct kho *k;
	char name[KHO_NAME_MAX];
	uint64_t size;
	struct kho_memfd_run *runs; /* by offset: the authoritative layout */
	size_t nr_runs;
	size_t nr_folios;
	/* Per-folio index by offset, built by the first kho_memfd_lookup
	 * (NULL until then: a retrieved 1 TiB memfd needs only its runs). */
	struct kho_memfd_folio *folios;
	bool preserved, frozen;
	/* Records the blob takes (runs, shuffled slots), counted when
	 * preserved, so the blob is sized and written without rescanning. */
	size_t ser_runs, ser_slots;
};

/* size: a multiple of 2 MiB. Allocates every folio from k's allocator. */
int kho_memfd_create(struct kho *k, const char *name, uint64_t size,
		     const struct kho_memfd_mix *mix, struct kho_memfd **out);
/* Frees the folios; -EBUSY while preserved. */
int kho_memfd_destroy(struct kho_memfd *m);
/* Frees only the description; the folios stay allocated (for when the
 * whole allocator goes away, or another owner keeps them). */
void kho_memfd_forget(struct kho_memfd *m);
/* The folio holding byte `offset`; NULL past the end (or out of memory
 * for the index). Not thread-safe on first use. */
const struct kho_memfd_folio *kho_memfd_lookup(const struct kho_memfd *m,
					       uint64_t offset);
/* Free the per-folio index (kho_memfd_lookup builds it again when
 * needed): at 1 TiB, 18 MB an exec would otherwise tear down. */
void kho_memfd_drop_index(struct kho_memfd *m);
/* Counts of folios by order. */
void kho_memfd_census(const struct kho_memfd *m, uint64_t count[3]);

/* Preserve m as object `name` of session s (LUO). */
int kho_memfd_preserve(struct luo_session *s, const char *name,
		       struct kho_memfd *m);
/* Incoming: rebuild object session/name, claiming its folios. */
int kho_memfd_retrieve(struct kho *k, const char *session, const char *name,
		       struct kho_memfd **out);

/*
 * For another subsystem's validate_obj (an object that uses a memfd by
 * name, as an iommufd ioas does): the size of memfd `name` of the session
 * being validated, in the blob fdt being validated. -ENOENT when the
 * handover holds no such memfd, -EINVAL when its size is malformed (its
 * own validation refuses it as well).
 */
int kho_memfd_vctx_size(const struct kho_vctx *v, const void *fdt,
			const char *name, uint64_t *size);

/*
 * Guest data stamp: the first and last 64-bit word of every folio get a
 * value derived from (memfd name, file offset), so a later kernel can tell
 * that the same data sits at the same offsets. Needs physmem.
 */
int kho_memfd_stamp(struct kho_memfd *m);
/* Folios whose stamp is wrong (0: all intact). */
uint64_t kho_memfd_check_stamp(const struct kho_memfd *m);
uint64_t kho_memfd_stamp_value(const char *name, uint64_t offset);
/*
 * The same for at most max_folios of them (every step-th folio in file
 * order; 0: all): a large guest's data is sampled, not every folio
 * touched, so stamping costs O(runs + max_folios) and at most two pages
 * of physmem per sampled folio.
 */
int kho_memfd_stamp_some(struct kho_memfd *m, uint64_t max_folios);
uint64_t kho_memfd_check_stamp_some(const struct kho_memfd *m,
				    uint64_t max_folios);

extern const struct kho_obj_ops kho_memfd_ops;

#endif /* IOH_KHO_MEMFD_H */
