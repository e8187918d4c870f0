// SPDX-License-Identifier: MIT
#include "kho/alloc.h"
#include "ioh/ioh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kho/bitmap.h"

#define BLKS_PER_GIG 512u /* 2 MiB blocks in a 1 GiB block */
#define PAGES_PER_BLK 512u /* 4 KiB pages in a 2 MiB block */
#define WORDS_512 8u

struct kho_blk {
	uint64_t used[WORDS_512];
	uint64_t pres[WORDS_512];
	uint64_t inc[WORDS_512];
	uint32_t nr_used;
};

struct kho_gig {
	uint64_t free[WORDS_512];  /* wholly free 2 MiB block */
	uint64_t folio[WORDS_512]; /* 2 MiB folio */
	uint64_t split[WORDS_512]; /* split into 4K pages (blk[] set) */
	uint64_t has4k[WORDS_512]; /* split and not full */
	uint64_t pres[WORDS_512];
	uint64_t inc[WORDS_512];
	uint64_t guard[WORDS_512];
	uint32_t nr_free;
	uint32_t nr_hole; /* blocks beyond the end of RAM (last block only) */
	struct kho_blk **blk; /* BLKS_PER_GIG slots, only while some are split */
};

static uint64_t *bits_new(uint32_t nbits)
{
	return calloc(KHO_BITMAP_WORDS(nbits) ? KHO_BITMAP_WORDS(nbits) : 1,
		      sizeof(uint64_t));
}

static void gig_lists_update(struct kho_alloc *a, uint32_t g)
{
	struct kho_gig *gig = a->gigs[g];
	if (gig && gig->nr_free)
		kho_bit_set(a->gig_has2m, g);
	else
		kho_bit_clear(a->gig_has2m, g);
	if (gig && kho_bits_any(gig->has4k, BLKS_PER_GIG))
		kho_bit_set(a->gig_has4k, g);
	else
		kho_bit_clear(a->gig_has4k, g);
}

static struct kho_gig *gig_split(struct kho_alloc *a, uint32_t g)
{
	struct kho_gig *gig = ioh_fail("kho.meta") ? NULL : calloc(1, sizeof(*gig));
	if (!gig)
		return NULL;
	kho_bits_apply(gig->free, 0, BLKS_PER_GIG, KHO_BITS_SET);
	gig->nr_free = BLKS_PER_GIG;
	if (kho_bit_test(a->gig_guard, g))
		kho_bits_apply(gig->guard, 0, BLKS_PER_GIG, KHO_BITS_SET);
	kho_bit_clear(a->gig_free, g);
	kho_bit_clear(a->gig_guard, g);
	a->gigs[g] = gig;
	a->meta_bytes += sizeof(*gig);
	gig_lists_update(a, g);
	return gig;
}

static void gig_maybe_merge(struct kho_alloc *a, uint32_t g)
{
	struct kho_gig *gig = a->gigs[g];
	if (!gig || gig->nr_hole || gig->nr_free != BLKS_PER_GIG)
		return;
	if (kho_bits_any(gig->guard, BLKS_PER_GIG))
		kho_bit_set(a->gig_guard, g);
	free(gig);
	a->gigs[g] = NULL;
	a->meta_bytes -= sizeof(*gig);
	kho_bit_set(a->gig_free, g);
	gig_lists_update(a, g);
}

static struct kho_blk *blk_split(struct kho_alloc *a, struct kho_gig *gig,
				 uint32_t b)
{
	if (!gig->blk) {
		gig->blk = ioh_fail("kho.meta") ? NULL :
			calloc(BLKS_PER_GIG, sizeof(*gig->blk));
		if (!gig->blk)
			return NULL;
		a->meta_bytes += BLKS_PER_GIG * sizeof(*gig->blk);
	}
	struct kho_blk *blk = ioh_fail("kho.meta") ? NULL : calloc(1, sizeof(*blk));
	if (!blk)
		return NULL;
	kho_bit_clear(gig->free, b);
	gig->nr_free--;
	kho_bit_set(gig->split, b);
	kho_bit_set(gig->has4k, b);
	gig->blk[b] = blk;
	a->meta_bytes += sizeof(*blk);
	return blk;
}

static void blk_maybe_merge(struct kho_alloc *a, struct kho_gig *gig,
			    uint32_t b)
{
	struct kho_blk *blk = gig->blk[b];
	if (!blk || blk->nr_used)
		return;
	free(blk);
	gig->blk[b] = NULL;
	a->meta_bytes -= sizeof(*blk);
	kho_bit_clear(gig->split, b);
	kho_bit_clear(gig->has4k, b);
	kho_bit_set(gig->free, b);
	gig->nr_free++;
	if (!kho_bits_any(gig->split, BLKS_PER_GIG)) {
		free(gig->blk);
		gig->blk = NULL;
		a->meta_bytes -= BLKS_PER_GIG * sizeof(*gig->blk);
	}
}

static void blk_unguard(struct kho_alloc *a, struct kho_gig *gig, uint32_t g,
			uint32_t b)
{
	if (!kho_bit_test(gig->guard, b))
		return;
	kho_bit_clear(gig->guard, b);
	if (a->unguard)
		a->unguard(a->unguard_ctx,
			   ((uint64_t)g << KHO_1G_LG2) +
				   ((uint64_t)b << KHO_2M_LG2),
			   KHO_2M);
}

void kho_alloc_fini(struct kho_alloc *a)
{
	if (a->gigs) {
		for (uint32_t g = 0; g < a->nr_gigs; g++) {
			struct kho_gig *gig = a->gigs[g];
			if (!gig)
				continue;
			for (uint32_t b = 0; gig->blk && b < BLKS_PER_GIG; b++)
				free(gig->blk[b]);
			free(gig->blk);
			free(gig);
		}
	}
	free(a->gigs);
	free(a->gig_free);
	free(a->gig_folio);
	free(a->gig_has2m);
	free(a->gig_has4k);
	free(a->gig_pres);
	free(a->gig_inc);
	free(a->gig_guard);
	memset(a, 0, sizeof(*a));
}

int kho_alloc_init(struct kho_alloc *a, uint64_t ram_size)
{
	memset(a, 0, sizeof(*a));
	if (ram_size == 0 || ram_size % KHO_2M || ram_size > KHO_RAM_MAX)
		return -EINVAL;
	a->ram_size = ram_size;
	a->nr_gigs = (uint32_t)((ram_size + KHO_1G - 1) >> KHO_1G_LG2);
	uint64_t **maps[] = { &a->gig_free, &a->gig_folio, &a->gig_has2m,
			      &a->gig_has4k, &a->gig_pres, &a->gig_inc,
			      &a->gig_guard };
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		*maps[i] = bits_new(a->nr_gigs);
		if (!*maps[i])
			goto nomem;
	}
	a->gigs = calloc(a->nr_gigs, sizeof(*a->gigs));
	if (!a->gigs)
		goto nomem;
	a->meta_bytes = a->nr_gigs * sizeof(void *) +
			7 * KHO_BITMAP_WORDS(a->nr_gigs) * sizeof(uint64_t);
	uint32_t full = (uint32_t)(ram_size >> KHO_1G_LG2);
	kho_bits_apply(a->gig_free, 0, full, KHO_BITS_SET);
	if (full < a->nr_gigs) {
		/* The last block is partial: split, with holes past the end. */
		kho_bit_set(a->gig_free, full);
		struct kho_gig *gig = gig_split(a, full);
		if (!gig)
			goto nomem;
		uint32_t present = (uint32_t)((ram_size % KHO_1G) >> KHO_2M_LG2);
		kho_bits_apply(gig->free, present, BLKS_PER_GIG, KHO_BITS_CLEAR);
		gig->nr_hole = BLKS_PER_GIG - present;
		gig->nr_free = present;
		gig_lists_update(a, full);
	}
	a->free_bytes = ram_size;
	return 0;
nomem:
	kho_alloc_fini(a);
	return -ENOMEM;
}

void kho_alloc_guard_all(struct kho_alloc *a)
{
	kho_bits_apply(a->gig_guard, 0, a->nr_gigs, KHO_BITS_SET);
	for (uint32_t g = 0; g < a->nr_gigs; g++)
		if (a->gigs[g])
			kho_bits_apply(a->gigs[g]->guard, 0, BLKS_PER_GIG,
				       KHO_BITS_SET);
}

void kho_alloc_guard_range(struct kho_alloc *a, uint64_t pa, uint64_t len)
{
	if (!len || pa >= a->ram_size)
		return;
	uint64_t last = (pa + len - 1) >> KHO_2M_LG2;
	for (uint64_t bi = pa >> KHO_2M_LG2; bi <= last; bi++) {
		uint32_t g = (uint32_t)(bi / BLKS_PER_GIG);
		if (g >= a->nr_gigs)
			break;
		if (a->gigs[g])
			kho_bit_set(a->gigs[g]->guard, (uint32_t)(bi % BLKS_PER_GIG));
		else
			kho_bit_set(a->gig_guard, g);
	}
}

/* Lowest free 2 MiB block, preferring blocks already split. */
static int take_free_2m(struct kho_alloc *a, uint32_t *gp, uint32_t *bp)
{
	uint32_t g = (uint32_t)kho_bit_next_set(a->gig_has2m, 0, a->nr_gigs);
	if (g == a->nr_gigs) {
		g = (uint32_t)kho_bit_next_set(a->gig_free, 0, a->nr_gigs);
		if (g == a->nr_gigs)
			return -ENOMEM;
		if (!gig_split(a, g))
			return -ENOMEM;
	}
	*gp = g;
	*bp = (uint32_t)kho_bit_next_set(a->gigs[g]->free, 0, BLKS_PER_GIG);
	return 0;
}

int kho_folio_alloc(struct kho_alloc *a, unsigned size_lg2, uint64_t *pa)
{
	enum kho_order o = kho_lg2_order(size_lg2);
	uint32_t g, b;
	int err;

	if (ioh_fail("kho.alloc"))
		return -ENOMEM;
	if (o == KHO_ORDER_1G) {
		g = (uint32_t)kho_bit_next_set(a->gig_free, 0, a->nr_gigs);
		if (g == a->nr_gigs)
			return -ENOMEM;
		kho_bit_clear(a->gig_free, g);
		kho_bit_set(a->gig_folio, g);
		*pa = (uint64_t)g << KHO_1G_LG2;
		if (kho_bit_test(a->gig_guard, g)) {
			kho_bit_clear(a->gig_guard, g);
			if (a->unguard)
				a->unguard(a->unguard_ctx, *pa, KHO_1G);
		}
	} else if (o == KHO_ORDER_2M) {
		err = take_free_2m(a, &g, &b);
		if (err)
			return err;
		struct kho_gig *gig = a->gigs[g];
		kho_bit_clear(gig->free, b);
		gig->nr_free--;
		kho_bit_set(gig->folio, b);
		blk_unguard(a, gig, g, b);
		gig_lists_update(a, g);
		*pa = ((uint64_t)g << KHO_1G_LG2) + ((uint64_t)b << KHO_2M_LG2);
	} else if (o == KHO_ORDER_4K) {
		struct kho_gig *gig;
		struct kho_blk *blk;
		g = (uint32_t)kho_bit_next_set(a->gig_has4k, 0, a->nr_gigs);
		if (g < a->nr_gigs) {
			gig = a->gigs[g];
			b = (uint32_t)kho_bit_next_set(gig->has4k, 0,
						       BLKS_PER_GIG);
			blk = gig->blk[b];
		} else {
			err = take_free_2m(a, &g, &b);
			if (err)
				return err;
			gig = a->gigs[g];
			blk = blk_split(a, gig, b);
			if (!blk)
				return -ENOMEM;
		}
		blk_unguard(a, gig, g, b);
		uint32_t p = (uint32_t)kho_bit_next_clear(blk->used, 0,
							  PAGES_PER_BLK);
		kho_bit_set(blk->used, p);
		if (++blk->nr_used == PAGES_PER_BLK)
			kho_bit_clear(gig->has4k, b);
		gig_lists_update(a, g);
		*pa = ((uint64_t)g << KHO_1G_LG2) + ((uint64_t)b << KHO_2M_LG2) +
		      ((uint64_t)p << KHO_4K_LG2);
	} else {
		return -EINVAL;
	}
	a->nr_folios[o]++;
	a->free_bytes -= 1ull << size_lg2;
	return 0;
}

int kho_folio_free(struct kho_alloc *a, uint64_t pa)
{
	uint64_t g64 = pa >> KHO_1G_LG2;
	if (pa >= a->ram_size || g64 >= a->nr_gigs)
		return -ENOENT;
	uint32_t g = (uint32_t)g64;
	if (kho_bit_test(a->gig_folio, g)) {
		if (pa % KHO_1G)
			return -ENOENT;
		kho_bit_clear(a->gig_folio, g);
		kho_bit_clear(a->gig_pres, g);
		kho_bit_clear(a->gig_inc, g);
		kho_bit_set(a->gig_free, g);
		a->nr_folios[KHO_ORDER_1G]--;
		a->free_bytes += KHO_1G;
		return 0;
	}
	struct kho_gig *gig = a->gigs[g];
	if (!gig)
		return -ENOENT;
	uint32_t b = (uint32_t)((pa >> KHO_2M_LG2) % BLKS_PER_GIG);
	if (kho_bit_test(gig->folio, b)) {
		if (pa % KHO_2M)
			return -ENOENT;
		kho_bit_clear(gig->folio, b);
		kho_bit_clear(gig->pres, b);
		kho_bit_clear(gig->inc, b);
		kho_bit_set(gig->free, b);
		gig->nr_free++;
		a->nr_folios[KHO_ORDER_2M]--;
		a->free_bytes += KHO_2M;
	} else if (kho_bit_test(gig->split, b)) {
		struct kho_blk *blk = gig->blk[b];
		uint32_t p = (uint32_t)((pa >> KHO_4K_LG2) % PAGES_PER_BLK);
		if (pa % KHO_4K || !kho_bit_test(blk->used, p))
			return -ENOENT;
		kho_bit_clear(blk->used, p);
		kho_bit_clear(blk->pres, p);
		kho_bit_clear(blk->inc, p);
		blk->nr_used--;
		kho_bit_set(gig->has4k, b);
		blk_maybe_merge(a, gig, b);
		a->nr_folios[KHO_ORDER_4K]--;
		a->free_bytes += KHO_4K;
	} else {
		return -ENOENT;
	}
	gig_lists_update(a, g);
	gig_maybe_merge(a, g);
	return 0;
}

static unsigned blk_flags(const struct kho_blk *blk, uint32_t p)
{
	return (kho_bit_test(blk->pres, p) ? KHO_FOLIO_PRESERVED : 0) |
	       (kho_bit_test(blk->inc, p) ? KHO_FOLIO_INCOMING : 0);
}

int kho_folio_lookup(const struct kho_alloc *a, uint64_t pa,
		     struct kho_folio_info *info)
{
	if (pa >= a->ram_size)
		return -ENOENT;
	uint32_t g = (uint32_t)(pa >> KHO_1G_LG2);
	if (kho_bit_test(a->gig_folio, g)) {
		info->pa = (uint64_t)g << KHO_1G_LG2;
		info->size_lg2 = KHO_1G_LG2;
		info->flags =
			(kho_bit_test(a->gig_pres, g) ? KHO_FOLIO_PRESERVED : 0) |
			(kho_bit_test(a->gig_inc, g) ? KHO_FOLIO_INCOMING : 0);
		return 0;
	}
	const struct kho_gig *gig = a->gigs[g];
	if (!gig)
		return -ENOENT;
	uint32_t b = (uint32_t)((pa >> KHO_2M_LG2) % BLKS_PER_GIG);
	if (kho_bit_test(gig->folio, b)) {
		info->pa = pa & ~(KHO_2M - 1);
		info->size_lg2 = KHO_2M_LG2;
		info->flags =
			(kho_bit_test(gig->pres, b) ? KHO_FOLIO_PRESERVED : 0) |
			(kho_bit_test(gig->inc, b) ? KHO_FOLIO_INCOMING : 0);
		return 0;
	}
	if (!kho_bit_test(gig->split, b))
		return -ENOENT;
	const struct kho_blk *blk = gig->blk[b];
	uint32_t p = (uint32_t)((pa >> KHO_4K_LG2) % PAGES_PER_BLK);
	if (!kho_bit_test(blk->used, p))
		return -ENOENT;
	info->pa = pa & ~(KHO_4K - 1);
	info->size_lg2 = KHO_4K_LG2;
	info->flags = blk_flags(blk, p);
	return 0;
}

int kho_folio_info(const struct kho_alloc *a, uint64_t pa,
		   struct kho_folio_info *info)
{
	int err = kho_folio_lookup(a, pa, info);
	if (err)
		return err;
	return info->pa == pa ? 0 : -ENOENT;
}

static int run_check_args(const struct kho_alloc *a, uint64_t pa,
			  unsigned size_lg2, uint64_t count)
{
	if (kho_lg2_order(size_lg2) == KHO_NR_ORDERS || count == 0)
		return -EINVAL;
	if (pa % (1ull << size_lg2) || pa >= a->ram_size)
		return -EINVAL;
	if (count > (a->ram_size - pa) >> size_lg2)
		return -EINVAL;
	return 0;
}

/*
 * Split a run of count folios of one size into the pieces that fall in one
 * container (a 1 GiB block for 2 MiB folios, a 2 MiB block for 4K ones):
 * each call of the loop body sees container index c and the folio index
 * range [lo, hi) inside it.
 */
#define FOR_EACH_PIECE(first, count, per, c, lo, hi)                        \
	for (uint64_t _i = (first), _end = (first) + (count), c, lo, hi;      \
	     _i < _end && ((c = _i / (per)), (lo = _i % (per)),               \
			   (hi = (_end - c * (per)) < (per) ? _end - c * (per) \
							    : (per)),         \
			   1);                                                \
	     _i = c * (per) + hi)

static void flags_apply(uint64_t *pres, uint64_t *inc, uint64_t lo,
			uint64_t hi, unsigned set, unsigned clear)
{
	if (set & KHO_FOLIO_PRESERVED)
		kho_bits_apply(pres, lo, hi, KHO_BITS_SET);
	if (set & KHO_FOLIO_INCOMING)
		kho_bits_apply(inc, lo, hi, KHO_BITS_SET);
	if (clear & KHO_FOLIO_PRESERVED)
		kho_bits_apply(pres, lo, hi, KHO_BITS_CLEAR);
	if (clear & KHO_FOLIO_INCOMING)
		kho_bits_apply(inc, lo, hi, KHO_BITS_CLEAR);
}

static bool flags_have(const uint64_t *pres, const uint64_t *inc, uint64_t lo,
		       uint64_t hi, unsigned require)
{
	if ((require & KHO_FOLIO_PRESERVED) && !kho_bits_all(pres, lo, hi, true))
		return false;
	if ((require & KHO_FOLIO_INCOMING) && !kho_bits_all(inc, lo, hi, true))
		return false;
	return true;
}

/* True when every page of mask in the 2 MiB block at blk_pa is free. */
static bool blk_4k_free(const struct kho_alloc *a, uint64_t blk_pa,
			const uint64_t mask[8])
{
	uint32_t g = (uint32_t)(blk_pa >> KHO_1G_LG2);
	uint32_t b = (uint32_t)((blk_pa >> KHO_2M_LG2) % BLKS_PER_GIG);
	const struct kho_gig *gig = a->gigs[g];

	if (kho_bit_test(a->gig_free, g))
		return true;
	if (!gig)
		return false;
	if (kho_bit_test(gig->free, b))
		return true;
	if (!kho_bit_test(gig->split, b))
		return false;
	for (unsigned w = 0; w < WORDS_512; w++)
		if (gig->blk[b]->used[w] & mask[w])
			return false;
	return true;
}

static int claim_4k(struct kho_alloc *a, uint64_t blk_pa,
		    const uint64_t mask[8], uint64_t n, unsigned flags)
{
	uint32_t g = (uint32_t)(blk_pa >> KHO_1G_LG2);
	uint32_t b = (uint32_t)((blk_pa >> KHO_2M_LG2) % BLKS_PER_GIG);
	struct kho_gig *gig = a->gigs[g];

	if (!gig && !(gig = gig_split(a, g)))
		return -ENOMEM;
	struct kho_blk *blk = gig->blk ? gig->blk[b] : NULL;
	if (!blk && !(blk = blk_split(a, gig, b)))
		return -ENOMEM;
	for (unsigned w = 0; w < WORDS_512; w++) {
		blk->used[w] |= mask[w];
		if (flags & KHO_FOLIO_PRESERVED)
			blk->pres[w] |= mask[w];
		if (flags & KHO_FOLIO_INCOMING)
			blk->inc[w] |= mask[w];
	}
	blk->nr_used += (uint32_t)n;
	if (blk->nr_used == PAGES_PER_BLK)
		kho_bit_clear(gig->has4k, b);
	gig_lists_update(a, g);
	a->nr_folios[KHO_ORDER_4K] += n;
	a->free_bytes -= n << KHO_4K_LG2;
	return 0;
}

int kho_alloc_claim_run(struct kho_alloc *a, uint64_t pa, unsigned size_lg2,
			uint64_t count, unsigned flags)
{
	int err = run_check_args(a, pa, size_lg2, count);
	if (err)
		return err;
	uint64_t first = pa >> size_lg2;
	enum kho_order o = kho_lg2_order(size_lg2);

	if (o == KHO_ORDER_1G) {
		if (!kho_bits_all(a->gig_free, first, first + count, true))
			return -EBUSY;
		kho_bits_apply(a->gig_free, first, first + count, KHO_BITS_CLEAR);
		kho_bits_apply(a->gig_folio, first, first + count, KHO_BITS_SET);
		flags_apply(a->gig_pres, a->gig_inc, first, first + count, flags,
			    0);
	} else if (o == KHO_ORDER_2M) {
		FOR_EACH_PIECE(first, count, BLKS_PER_GIG, g, lo, hi) {
			if (kho_bit_test(a->gig_free, g))
				continue;
			if (!a->gigs[g] ||
			    !kho_bits_all(a->gigs[g]->free, lo, hi, true))
				return -EBUSY;
		}
		FOR_EACH_PIECE(first, count, BLKS_PER_GIG, g, lo, hi) {
			struct kho_gig *gig = a->gigs[g];
			if (!gig && !(gig = gig_split(a, (uint32_t)g)))
				return -ENOMEM;
			kho_bits_apply(gig->free, lo, hi, KHO_BITS_CLEAR);
			kho_bits_apply(gig->folio, lo, hi, KHO_BITS_SET);
			flags_apply(gig->pres, gig->inc, lo, hi, flags, 0);
			gig->nr_free -= (uint32_t)(hi - lo);
			gig_lists_update(a, (uint32_t)g);
		}
	} else {
		FOR_EACH_PIECE(first, count, PAGES_PER_BLK, bi, lo, hi) {
			uint64_t mask[WORDS_512] = { 0 };
			kho_bits_apply(mask, lo, hi, KHO_BITS_SET);
			if (!blk_4k_free(a, bi << KHO_2M_LG2, mask))
				return -EBUSY;
		}
		FOR_EACH_PIECE(first, count, PAGES_PER_BLK, bi, lo, hi) {
			uint64_t mask[WORDS_512] = { 0 };
			kho_bits_apply(mask, lo, hi, KHO_BITS_SET);
			err = claim_4k(a, bi << KHO_2M_LG2, mask, hi - lo, flags);
			if (err)
				return err;
		}
		return 0;
	}
	a->nr_folios[o] += count;
	a->free_bytes -= count << size_lg2;
	return 0;
}

int kho_alloc_claim_4k_mask(struct kho_alloc *a, uint64_t blk_pa,
			    const uint64_t mask[8], unsigned flags)
{
	uint64_t n = 0;

	if (blk_pa % KHO_2M || blk_pa >= a->ram_size)
		return -EINVAL;
	for (unsigned w = 0; w < WORDS_512; w++)
		n += (uint64_t)__builtin_popcountll(mask[w]);
	if (n == 0)
		return -EINVAL;
	if (a->ram_size - blk_pa < KHO_2M)
		return -EINVAL;
	if (!blk_4k_free(a, blk_pa, mask))
		return -EBUSY;
	return claim_4k(a, blk_pa, mask, n, flags);
}

int kho_folio_run_flags(struct kho_alloc *a, uint64_t pa, unsigned size_lg2,
			uint64_t count, unsigned require, unsigned set,
			unsigned clear)
{
	int err = run_check_args(a, pa, size_lg2, count);
	if (err)
		return err == -EINVAL && count ? -ENOENT : err;
	uint64_t first = pa >> size_lg2;
	enum kho_order o = kho_lg2_order(size_lg2);

	if (o == KHO_ORDER_1G) {
		if (!kho_bits_all(a->gig_folio, first, first + count, true))
			return -ENOENT;
		if (!flags_have(a->gig_pres, a->gig_inc, first, first + count,
				require))
			return -EPERM;
		flags_apply(a->gig_pres, a->gig_inc, first, first + count, set,
			    clear);
	} else if (o == KHO_ORDER_2M) {
		FOR_EACH_PIECE(first, count, BLKS_PER_GIG, g, lo, hi) {
			struct kho_gig *gig = a->gigs[g];
			if (!gig || !kho_bits_all(gig->folio, lo, hi, true))
				return -ENOENT;
			if (!flags_have(gig->pres, gig->inc, lo, hi, require))
				return -EPERM;
		}
		FOR_EACH_PIECE(first, count, BLKS_PER_GIG, g, lo, hi)
			flags_apply(a->gigs[g]->pres, a->gigs[g]->inc, lo, hi,
				    set, clear);
	} else {
		FOR_EACH_PIECE(first, count, PAGES_PER_BLK, bi, lo, hi) {
			struct kho_gig *gig = a->gigs[bi / BLKS_PER_GIG];
			uint32_t b = (uint32_t)(bi % BLKS_PER_GIG);
			if (!gig || !kho_bit_test(gig->split, b) ||
			    !kho_bits_all(gig->blk[b]->used, lo, hi, true))
				return -ENOENT;
			if (!flags_have(gig->blk[b]->pres, gig->blk[b]->inc, lo,
					hi, require))
				return -EPERM;
		}
		FOR_EACH_PIECE(first, count, PAGES_PER_BLK, bi, lo, hi) {
			struct kho_blk *blk =
				a->gigs[bi / BLKS_PER_GIG]->blk[bi % BLKS_PER_GIG];
			flags_apply(blk->pres, blk->inc, lo, hi, set, clear);
		}
	}
	return 0;
}

static int walk_runs(const uint64_t *bits, uint64_t nbits, uint64_t base_pa,
		     unsigned size_lg2, const struct kho_walk_ops *ops,
		     void *ctx)
{
	uint64_t i = kho_bit_next_set(bits, 0, nbits);
	while (i < nbits) {
		uint64_t end = kho_bit_next_clear(bits, i, nbits);
		int err = ops->run(ctx, base_pa + (i << size_lg2), size_lg2,
				   end - i);
		if (err)
			return err;
		i = kho_bit_next_set(bits, end, nbits);
	}
	return 0;
}

int kho_alloc_walk(const struct kho_alloc *a, unsigned flag,
		   const struct kho_walk_ops *ops, void *ctx)
{
	bool pres = flag == KHO_FOLIO_PRESERVED;
	int err = walk_runs(pres ? a->gig_pres : a->gig_inc, a->nr_gigs, 0,
			    KHO_1G_LG2, ops, ctx);
	if (err)
		return err;
	for (uint32_t g = 0; g < a->nr_gigs; g++) {
		const struct kho_gig *gig = a->gigs[g];
		if (!gig)
			continue;
		uint64_t base = (uint64_t)g << KHO_1G_LG2;
		err = walk_runs(pres ? gig->pres : gig->inc, BLKS_PER_GIG, base,
				KHO_2M_LG2, ops, ctx);
		if (err)
			return err;
	}
	for (uint32_t g = 0; g < a->nr_gigs; g++) {
		const struct kho_gig *gig = a->gigs[g];
		if (!gig)
			continue;
		uint64_t b = kho_bit_next_set(gig->split, 0, BLKS_PER_GIG);
		for (; b < BLKS_PER_GIG;
		     b = kho_bit_next_set(gig->split, b + 1, BLKS_PER_GIG)) {
			const struct kho_blk *blk = gig->blk[b];
			const uint64_t *m = pres ? blk->pres : blk->inc;
			if (!kho_bits_any(m, PAGES_PER_BLK))
				continue;
			err = ops->mask(ctx,
					((uint64_t)g << KHO_1G_LG2) +
						(b << KHO_2M_LG2),
					m);
			if (err)
				return err;
		}
	}
	return 0;
}

struct pending_free {
	void (*on_free)(void *ctx, uint64_t pa, uint64_t len);
	void *ctx;
	uint64_t pa, len, total;
};

static void pending_add(struct pending_free *pf, uint64_t pa, uint64_t len)
{
	pf->total += len;
	if (!pf->on_free)
		return;
	if (pf->len && pf->pa + pf->len == pa) {
		pf->len += len;
		return;
	}
	if (pf->len)
		pf->on_free(pf->ctx, pf->pa, pf->len);
	pf->pa = pa;
	pf->len = len;
}

uint64_t kho_alloc_free_flagged(struct kho_alloc *a, unsigned flag,
				void (*on_free)(void *ctx, uint64_t pa,
						uint64_t len),
				void *ctx)
{
	bool pres = flag == KHO_FOLIO_PRESERVED;
	struct pending_free pf = { .on_free = on_free, .ctx = ctx };

	for (uint32_t g = 0; g < a->nr_gigs; g++) {
		uint64_t gpa = (uint64_t)g << KHO_1G_LG2;
		if (kho_bit_test(pres ? a->gig_pres : a->gig_inc, g)) {
			pending_add(&pf, gpa, KHO_1G);
			kho_folio_free(a, gpa);
			continue;
		}
		if (!a->gigs[g])
			continue;
		/* Only blocks that can hold flagged folios. */
		uint64_t cand[WORDS_512];
		for (unsigned w = 0; w < WORDS_512; w++)
			cand[w] = (pres ? a->gigs[g]->pres[w] : a->gigs[g]->inc[w]) |
				  a->gigs[g]->split[w];
		for (uint64_t b = kho_bit_next_set(cand, 0, BLKS_PER_GIG);
		     b < BLKS_PER_GIG && a->gigs[g];
		     b = kho_bit_next_set(cand, b + 1, BLKS_PER_GIG)) {
			struct kho_gig *gig = a->gigs[g];
			uint64_t bpa = gpa + (b << KHO_2M_LG2);
			if (kho_bit_test(pres ? gig->pres : gig->inc, b)) {
				pending_add(&pf, bpa, KHO_2M);
				kho_folio_free(a, bpa);
				continue;
			}
			if (!kho_bit_test(gig->split, b))
				continue;
			struct kho_blk *blk = gig->blk[b];
			uint64_t m[WORDS_512];
			memcpy(m, pres ? blk->pres : blk->inc, sizeof(m));
			for (uint64_t p = kho_bit_next_set(m, 0, PAGES_PER_BLK);
			     p < PAGES_PER_BLK;
			     p = kho_bit_next_set(m, p + 1, PAGES_PER_BLK)) {
				pending_add(&pf, bpa + (p << KHO_4K_LG2), KHO_4K);
				kho_folio_free(a, bpa + (p << KHO_4K_LG2));
			}
		}
	}
	if (pf.on_free && pf.len)
		pf.on_free(pf.ctx, pf.pa, pf.len);
	return pf.total;
}

/*
 * 2^count_lg2 consecutive 4K folios aligned to their total size: the
 * lowest such run in a block already split into 4K folios, else the
 * start of the lowest free 2M block (found as kho_folio_alloc would take
 * it, which also lifts its guard). Each page is its own 4K folio, so the
 * run is freed, flagged and preserved page by page.
 */
int kho_folio_alloc_4k_run(struct kho_alloc *a, unsigned count_lg2,
			   uint64_t *pa)
{
	if (count_lg2 > 9)
		return -EINVAL;
	const uint32_t n = 1u << count_lg2;
	for (uint32_t g = (uint32_t)kho_bit_next_set(a->gig_has4k, 0, a->nr_gigs);
	     g < a->nr_gigs;
	     g = (uint32_t)kho_bit_next_set(a->gig_has4k, g + 1, a->nr_gigs)) {
		struct kho_gig *gig = a->gigs[g];
		for (uint32_t b = (uint32_t)kho_bit_next_set(gig->has4k, 0, BLKS_PER_GIG);
		     b < BLKS_PER_GIG;
		     b = (uint32_t)kho_bit_next_set(gig->has4k, b + 1, BLKS_PER_GIG)) {
			const struct kho_blk *blk = gig->blk[b];
			for (uint32_t p = 0; p < PAGES_PER_BLK; p += n) {
				if (!kho_bits_all(blk->used, p, p + n, false))
					continue;
				uint64_t base = ((uint64_t)g << KHO_1G_LG2) +
						((uint64_t)b << KHO_2M_LG2);
				uint64_t mask[WORDS_512] = { 0 };
				kho_bits_apply(mask, p, p + n, KHO_BITS_SET);
				blk_unguard(a, gig, g, b);
				int err = claim_4k(a, base, mask, n, 0);
				if (err)
					return err;
				*pa = base + ((uint64_t)p << KHO_4K_LG2);
				return 0;
			}
		}
	}
	uint64_t blk_pa;
	int err = kho_folio_alloc(a, KHO_2M_LG2, &blk_pa);
	if (err)
		return err;
	kho_folio_free(a, blk_pa);
	uint64_t mask[WORDS_512] = { 0 };
	kho_bits_apply(mask, 0, n, KHO_BITS_SET);
	err = claim_4k(a, blk_pa, mask, n, 0);
	if (err)
		return err;
	*pa = blk_pa;
	return 0;
}
