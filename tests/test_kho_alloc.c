// SPDX-License-Identifier: MIT
/*
 * kho page allocator: deterministic lowest-first placement, merging back to
 * zero metadata, random operations against a reference model, claims that
 * change nothing on error, flag runs and walks, and a 1 TiB RAM that costs
 * almost nothing until it is split.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kho/alloc.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)

static void test_deterministic_placement(void **state)
{
	(void)state;
	struct kho_alloc a;
	uint64_t pa;
	assert_int_equal(kho_alloc_init(&a, 3 * GIB + 6 * MIB), 0);
	uint64_t meta0 = a.meta_bytes;

	/* Already split blocks first: the partial last GiB is split. */
	const uint64_t last = 3 * GIB;
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa), 0);
	assert_int_equal(pa, last);
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa), 0);
	assert_int_equal(pa, last + 0x1000);
	assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), 0);
	assert_int_equal(pa, last + 2 * MIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(pa, 0);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(pa, 1 * GIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(pa, 2 * GIB);
	/* The partial last GiB has no 1G folio. */
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), -ENOMEM);
	assert_int_equal(kho_folio_alloc(&a, 13, &pa), -EINVAL);
	assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), 0);
	assert_int_equal(pa, last + 4 * MIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), -ENOMEM);

	struct kho_folio_info fi;
	assert_int_equal(kho_folio_lookup(&a, last + 2 * MIB + 12345, &fi), 0);
	assert_int_equal(fi.pa, last + 2 * MIB);
	assert_int_equal(fi.size_lg2, KHO_2M_LG2);
	assert_int_equal(kho_folio_info(&a, last + 2 * MIB + 4096, &fi),
			 -ENOENT);
	assert_int_equal(kho_folio_free(&a, last + 2 * MIB + 4096), -ENOENT);

	/* Free everything: the metadata shrinks back to the top level. */
	assert_int_equal(kho_folio_free(&a, last), 0);
	assert_int_equal(kho_folio_free(&a, last + 0x1000), 0);
	assert_int_equal(kho_folio_free(&a, last + 0x1000), -ENOENT);
	assert_int_equal(kho_folio_free(&a, last + 2 * MIB), 0);
	assert_int_equal(kho_folio_free(&a, last + 4 * MIB), 0);
	for (uint64_t g = 0; g < 3; g++)
		assert_int_equal(kho_folio_free(&a, g * GIB), 0);
	assert_int_equal(a.meta_bytes, meta0);
	assert_int_equal(a.free_bytes, 3 * GIB + 6 * MIB);
	kho_alloc_fini(&a);
}

struct ref {
	uint64_t pa;
	unsigned lg2;
};

static int cmp_ref(const void *x, const void *y)
{
	const struct ref *a = x, *b = y;
	return a->pa < b->pa ? -1 : a->pa > b->pa;
}

static void test_random_vs_model(void **state)
{
	(void)state;
	struct kho_alloc a;
	const uint64_t ram = 3 * GIB + 64 * MIB;
	assert_int_equal(kho_alloc_init(&a, ram), 0);
	uint64_t meta0 = a.meta_bytes;
	enum { N = 6000 };
	struct ref *live = calloc(N, sizeof(*live));
	size_t n = 0;
	uint64_t used = 0, rng = 42;

	for (int step = 0; step < 40000; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned r = (unsigned)(rng >> 33);
		if (n < N && (r % 3 != 0 || n == 0)) {
			unsigned lg2 = r % 100 < 70 ? KHO_4K_LG2 :
				       r % 100 < 98 ? KHO_2M_LG2 : KHO_1G_LG2;
			uint64_t pa;
			int err = kho_folio_alloc(&a, lg2, &pa);
			if (err) {
				assert_int_equal(err, -ENOMEM);
				continue;
			}
			assert_int_equal(pa % (1ull << lg2), 0);
			assert_true(pa + (1ull << lg2) <= ram);
			live[n++] = (struct ref){ pa, lg2 };
			used += 1ull << lg2;
		} else {
			size_t i = r % n;
			assert_int_equal(kho_folio_free(&a, live[i].pa), 0);
			used -= 1ull << live[i].lg2;
			live[i] = live[--n];
		}
		assert_int_equal(a.free_bytes, ram - used);
	}
	qsort(live, n, sizeof(*live), cmp_ref);
	for (size_t i = 0; i < n; i++) {
		struct kho_folio_info fi;
		assert_int_equal(kho_folio_info(&a, live[i].pa, &fi), 0);
		assert_int_equal(fi.size_lg2, live[i].lg2);
		if (i)
			assert_true(live[i - 1].pa + (1ull << live[i - 1].lg2) <=
				    live[i].pa);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kho_folio_free(&a, live[i].pa), 0);
	assert_int_equal(a.meta_bytes, meta0);
	assert_int_equal(a.free_bytes, ram);
	free(live);
	kho_alloc_fini(&a);
}

static void test_claim_unchanged_on_error(void **state)
{
	(void)state;
	struct kho_alloc a;
	uint64_t pa;
	assert_int_equal(kho_alloc_init(&a, 4 * GIB), 0);
	assert_int_equal(kho_alloc_claim_run(&a, 4 * MIB, KHO_2M_LG2, 3,
					     KHO_FOLIO_INCOMING), 0);
	uint64_t free0 = a.free_bytes, meta0 = a.meta_bytes;
	/* Overlaps the claimed 2M folios: refused, nothing changes. */
	assert_int_equal(kho_alloc_claim_run(&a, 0, KHO_2M_LG2, 4, 0), -EBUSY);
	assert_int_equal(kho_alloc_claim_run(&a, 5 * MIB, KHO_4K_LG2, 512, 0),
			 -EBUSY);
	assert_int_equal(kho_alloc_claim_run(&a, 0, KHO_1G_LG2, 1, 0), -EBUSY);
	assert_int_equal(kho_alloc_claim_run(&a, 4 * GIB - 2 * MIB, KHO_2M_LG2,
					     2, 0),
			 -EINVAL);
	assert_int_equal(kho_alloc_claim_run(&a, 4096 + 1, KHO_4K_LG2, 1, 0),
			 -EINVAL);
	assert_int_equal(a.free_bytes, free0);
	assert_int_equal(a.meta_bytes, meta0);

	/* 4K run crossing 2 MiB blocks, then allocation avoids it. */
	assert_int_equal(kho_alloc_claim_run(&a, 2 * MIB - 8192, KHO_4K_LG2, 4,
					     KHO_FOLIO_INCOMING),
			 0);
	uint64_t mask[8] = { 0x5 };
	assert_int_equal(kho_alloc_claim_4k_mask(&a, 0, mask, 0), 0);
	assert_int_equal(kho_alloc_claim_4k_mask(&a, 0, mask, 0), -EBUSY);
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa), 0);
	assert_int_equal(pa, 0x1000);
	assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), 0);
	assert_int_equal(pa, 10 * MIB);

	/* Flags: require INCOMING, clear it; second time refused. */
	assert_int_equal(kho_folio_run_flags(&a, 4 * MIB, KHO_2M_LG2, 3,
					     KHO_FOLIO_INCOMING, 0,
					     KHO_FOLIO_INCOMING),
			 0);
	assert_int_equal(kho_folio_run_flags(&a, 4 * MIB, KHO_2M_LG2, 3,
					     KHO_FOLIO_INCOMING, 0,
					     KHO_FOLIO_INCOMING),
			 -EPERM);
	assert_int_equal(kho_folio_run_flags(&a, 4 * MIB, KHO_4K_LG2, 1, 0, 0,
					     0),
			 -ENOENT);
	kho_alloc_fini(&a);
}

struct walk_log {
	uint64_t runs[16][3];
	size_t nr_runs, nr_masks;
	uint64_t mask0;
};

static int log_run(void *ctx, uint64_t pa, unsigned lg2, uint64_t count)
{
	struct walk_log *l = ctx;
	assert_true(l->nr_runs < 16);
	l->runs[l->nr_runs][0] = pa;
	l->runs[l->nr_runs][1] = lg2;
	l->runs[l->nr_runs++][2] = count;
	return 0;
}

static int log_mask(void *ctx, uint64_t blk, const uint64_t m[8])
{
	struct walk_log *l = ctx;
	(void)blk;
	l->nr_masks++;
	l->mask0 = m[0];
	return 0;
}

static void test_walk_and_free_flagged(void **state)
{
	(void)state;
	struct kho_alloc a;
	assert_int_equal(kho_alloc_init(&a, 8 * GIB), 0);
	assert_int_equal(kho_alloc_claim_run(&a, 2 * GIB, KHO_1G_LG2, 2,
					     KHO_FOLIO_PRESERVED), 0);
	assert_int_equal(kho_alloc_claim_run(&a, 1 * GIB - 4 * MIB, KHO_2M_LG2,
					     2, KHO_FOLIO_PRESERVED), 0);
	assert_int_equal(kho_alloc_claim_run(&a, 0x3000, KHO_4K_LG2, 2,
					     KHO_FOLIO_PRESERVED), 0);
	static const struct kho_walk_ops ops = { log_run, log_mask };
	struct walk_log l = { 0 };
	assert_int_equal(kho_alloc_walk(&a, KHO_FOLIO_PRESERVED, &ops, &l), 0);
	assert_int_equal(l.nr_runs, 2);
	assert_int_equal(l.runs[0][0], 2 * GIB);
	assert_int_equal(l.runs[0][2], 2);
	assert_int_equal(l.runs[1][0], 1 * GIB - 4 * MIB);
	assert_int_equal(l.runs[1][2], 2);
	assert_int_equal(l.nr_masks, 1);
	assert_int_equal(l.mask0, 0x18);
	assert_int_equal(kho_alloc_free_flagged(&a, KHO_FOLIO_PRESERVED, NULL,
						NULL),
			 2 * GIB + 4 * MIB + 8192);
	assert_int_equal(a.free_bytes, 8 * GIB);
	kho_alloc_fini(&a);
}

static void test_1tib_sparse(void **state)
{
	(void)state;
	struct kho_alloc a;
	uint64_t pa;
	assert_int_equal(kho_alloc_init(&a, 1ull << 40), 0);
	/* The top level of a 1 TiB RAM: a few KiB. */
	assert_true(a.meta_bytes < 64 * 1024);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), 0);
	assert_int_equal(pa, 999 * 2 * MIB);
	assert_int_equal(kho_alloc_claim_run(&a, 512 * GIB, KHO_2M_LG2,
					     256 * 512, KHO_FOLIO_INCOMING),
			 0);
	/* 256 + 2 split GiBs, not 262144 per-folio records. */
	assert_true(a.meta_bytes < 2 * MIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(pa, 2 * GIB);
	assert_int_equal(kho_alloc_free_flagged(&a, KHO_FOLIO_INCOMING, NULL,
						NULL),
			 256 * GIB);
	kho_alloc_fini(&a);
}

struct unguard_log {
	uint64_t pa[16], len[16];
	size_t n;
};

static void log_unguard(void *ctx, uint64_t pa, uint64_t len)
{
	struct unguard_log *l = ctx;
	assert_true(l->n < 16);
	l->pa[l->n] = pa;
	l->len[l->n++] = len;
}

/* After a handover boot every block is guarded; the first allocation in
 * a block lifts its guard once, whatever the folio size. */
static void test_guard_lifted_once_per_block(void **state)
{
	(void)state;
	struct kho_alloc a;
	struct unguard_log l = { 0 };
	uint64_t pa, pa2;
	assert_int_equal(kho_alloc_init(&a, 4 * GIB), 0);
	a.unguard = log_unguard;
	a.unguard_ctx = &l;
	kho_alloc_guard_all(&a);
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa), 0);
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa2), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.pa[0], 0);
	assert_int_equal(l.len[0], 2 * MIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_2M_LG2, &pa), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.pa[1], pa);
	assert_int_equal(l.len[1], 2 * MIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.pa[2], GIB);
	assert_int_equal(l.len[2], GIB);
	/* Freed and reallocated: no second unguard... */
	assert_int_equal(kho_folio_free(&a, pa), 0);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(l.n, 3);
	/* ...unless the memory was guarded again (finish). */
	assert_int_equal(kho_folio_free(&a, pa), 0);
	kho_alloc_guard_range(&a, GIB, GIB);
	assert_int_equal(kho_folio_alloc(&a, KHO_1G_LG2, &pa), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.pa[3], GIB);
	kho_alloc_guard_range(&a, 0, 4096);
	assert_int_equal(kho_folio_alloc(&a, KHO_4K_LG2, &pa), 0);
	assert_int_equal(pa, 2 * 4096);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.pa[4], 0);
	kho_alloc_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic_placement),
		cmocka_unit_test(test_random_vs_model),
		cmocka_unit_test(test_claim_unchanged_on_error),
		cmocka_unit_test(test_walk_and_free_flagged),
		cmocka_unit_test(test_1tib_sparse),
		cmocka_unit_test(test_guard_lifted_once_per_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
