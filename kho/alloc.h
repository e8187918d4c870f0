/* SPDX-License-Identifier: MIT */
/*
 * kho_alloc: the host kernel's page allocator over physmem.
 *
 * Folios are 4 KiB, 2 MiB or 1 GiB, naturally aligned. Metadata is three
 * levels of bitmaps and is created only where RAM is split: a 1 GiB block
 * that is wholly free or one 1 GiB folio costs a few bits, a block split
 * into 2 MiB folios costs one struct kho_gig, a 2 MiB block split into
 * 4 KiB folios one struct kho_blk. A 1 TiB machine therefore needs no
 * per-page array, and nothing here touches the RAM itself.
 *
 * Allocation is deterministic (always the lowest free address, preferring
 * already split blocks, as a buddy allocator would) and costs a scan of at
 * most a few bitmap words per level. Run operations (claim, flag changes)
 * work a word (64 folios) at a time.
 *
 * Per-folio metadata: its size and two flags:
 *   PRESERVED  the folio is passed on at the next live update;
 *   INCOMING   reserved at boot from the previous kernel's handover and not
 *              yet claimed by a subsystem (released by kho_finish).
 *
 * Not thread-safe: callers serialise (the host kernel's allocator lock).
 * A run claim that fails with -ENOMEM (metadata allocation) may have
 * claimed part of the run; every other error changes nothing.
 *
 * Guard: after a boot from a handover, every page that was not preserved is
 * mapped inaccessible in this process (see boot.c); the allocator calls
 * unguard() for a 2 MiB (or 1 GiB) block the first time it hands out memory
 * from it, so only memory the kernel really allocated becomes accessible.
 */
#ifndef IOH_KHO_ALLOC_H
#define IOH_KHO_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define KHO_4K_LG2 12u
#define KHO_2M_LG2 21u
#define KHO_1G_LG2 30u
#define KHO_4K (1ull << KHO_4K_LG2)
#define KHO_2M (1ull << KHO_2M_LG2)
#define KHO_1G (1ull << KHO_1G_LG2)

/* Largest RAM the allocator manages: 64 TiB (65536 one-GiB blocks). */
#define KHO_RAM_MAX (1ull << 46)

enum kho_folio_flags {
	KHO_FOLIO_PRESERVED = 1u << 0,
	KHO_FOLIO_INCOMING = 1u << 1,
};

/* Index of a folio size in per-size arrays: 0 = 4K, 1 = 2M, 2 = 1G. */
enum kho_order { KHO_ORDER_4K, KHO_ORDER_2M, KHO_ORDER_1G, KHO_NR_ORDERS };

static inline unsigned kho_order_lg2(enum kho_order o)
{
	return o == KHO_ORDER_4K ? KHO_4K_LG2 :
	       o == KHO_ORDER_2M ? KHO_2M_LG2 : KHO_1G_LG2;
}

/* KHO_NR_ORDERS when size_lg2 is not a folio size. */
static inline enum kho_order kho_lg2_order(unsigned size_lg2)
{
	return size_lg2 == KHO_4K_LG2 ? KHO_ORDER_4K :
	       size_lg2 == KHO_2M_LG2 ? KHO_ORDER_2M :
	       size_lg2 == KHO_1G_LG2 ? KHO_ORDER_1G : KHO_NR_ORDERS;
}

struct kho_blk;
struct kho_gig;

struct kho_alloc {
	uint64_t ram_size;
	uint32_t nr_gigs;
	/* Per 1 GiB block bitmaps (nr_gigs bits each). */
	uint64_t *gig_free;  /* wholly free */
	uint64_t *gig_folio; /* one 1 GiB folio */
	uint64_t *gig_has2m; /* split, with a free 2 MiB block */
	uint64_t *gig_has4k; /* split, with a split 2 MiB block with free 4K */
	uint64_t *gig_pres;  /* 1 GiB folio flags */
	uint64_t *gig_inc;
	uint64_t *gig_guard; /* not yet unguarded since boot */
	struct kho_gig **gigs; /* split blocks; NULL otherwise */

	uint64_t free_bytes;
	uint64_t nr_folios[KHO_NR_ORDERS];
	uint64_t meta_bytes;

	void (*unguard)(void *ctx, uint64_t pa, uint64_t len);
	void *unguard_ctx;
};

struct kho_folio_info {
	uint64_t pa;
	unsigned size_lg2;
	unsigned flags; /* enum kho_folio_flags */
};

/* RAM of ram_size bytes (a multiple of 2 MiB, at most KHO_RAM_MAX), all free. */
int kho_alloc_init(struct kho_alloc *a, uint64_t ram_size);
void kho_alloc_fini(struct kho_alloc *a);

/* One folio of 2^size_lg2 bytes: -ENOMEM when none, -EINVAL for a bad size. */
int kho_folio_alloc(struct kho_alloc *a, unsigned size_lg2, uint64_t *pa);
/* 2^count_lg2 (at most 512) consecutive 4K folios, aligned to their
 * total size (a concatenated page-table top). */
int kho_folio_alloc_4k_run(struct kho_alloc *a, unsigned count_lg2,
			   uint64_t *pa);
/* Free the folio whose first byte is pa (any flags). -ENOENT if none. */
int kho_folio_free(struct kho_alloc *a, uint64_t pa);
/* Size and flags of the folio starting at pa; -ENOENT if none. */
int kho_folio_info(const struct kho_alloc *a, uint64_t pa,
		   struct kho_folio_info *info);
/* The folio containing pa, if any (pa anywhere inside it). */
int kho_folio_lookup(const struct kho_alloc *a, uint64_t pa,
		     struct kho_folio_info *info);

/*
 * Claim count free folios of 2^size_lg2 bytes starting at pa (consecutive),
 * marking them allocated with flags. -EBUSY if any part is not free,
 * -EINVAL if misaligned or out of RAM. Nothing changes on error.
 */
int kho_alloc_claim_run(struct kho_alloc *a, uint64_t pa, unsigned size_lg2,
			uint64_t count, unsigned flags);
/* Same for the 4K pages of one 2 MiB block selected by mask[8]. */
int kho_alloc_claim_4k_mask(struct kho_alloc *a, uint64_t blk_pa,
			    const uint64_t mask[8], unsigned flags);

/*
 * For count consecutive allocated folios of 2^size_lg2 bytes at pa: check
 * that each has all of `require` flags, then set `set` and clear `clear`.
 * -ENOENT if some folio is not allocated at that size, -EPERM if a
 * required flag is missing; nothing changes on error.
 */
int kho_folio_run_flags(struct kho_alloc *a, uint64_t pa, unsigned size_lg2,
			uint64_t count, unsigned require, unsigned set,
			unsigned clear);

/*
 * Walk folios having flag (one of enum kho_folio_flags) in address order:
 * run() for maximal runs of 1 GiB and 2 MiB folios (within one 1 GiB
 * block for 2 MiB), mask() once per 2 MiB block with such 4K folios.
 * Stops at the first non-zero return and returns it.
 */
struct kho_walk_ops {
	int (*run)(void *ctx, uint64_t pa, unsigned size_lg2, uint64_t count);
	int (*mask)(void *ctx, uint64_t blk_pa, const uint64_t mask[8]);
};
int kho_alloc_walk(const struct kho_alloc *a, unsigned flag,
		   const struct kho_walk_ops *ops, void *ctx);

/* Free every folio having flag; returns the bytes freed (and calls
 * on_free for each freed run, if set, before its metadata goes). */
uint64_t kho_alloc_free_flagged(struct kho_alloc *a, unsigned flag,
				void (*on_free)(void *ctx, uint64_t pa,
						uint64_t len),
				void *ctx);

/* Mark every block as guarded (after a boot that poisoned RAM). */
void kho_alloc_guard_all(struct kho_alloc *a);
/* Mark the blocks covering [pa, pa + len) as guarded (the caller made
 * that memory inaccessible); the next allocation there unguards. */
void kho_alloc_guard_range(struct kho_alloc *a, uint64_t pa, uint64_t len);

#endif /* IOH_KHO_ALLOC_H */
