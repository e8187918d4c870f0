// SPDX-License-Identifier: MIT
#include "tests/lib/qemu_rig.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "iommufd/iommufd.h"
#include "pt/pt_fmt.h"

/* edu's registers (docs/specs/edu.rst). */
#define EDU_SRC 0x80
#define EDU_DST 0x88
#define EDU_CNT 0x90
#define EDU_CMD 0x98
#define EDU_BUF 0x40000ull
#define EDU_RUN 1u
#define EDU_TO_RAM 2u

uint64_t qrig_rnd(struct qrig *r)
{
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->rng = x;
}

uint64_t qrig_rnd_below(struct qrig *r, uint64_t n)
{
	return n ? qrig_rnd(r) % n : 0;
}

bool qrig_full_run(void)
{
	const char *s = getenv("IOH_QEMU_FULL");
	return s && *s && strcmp(s, "0");
}

uint64_t qrig_base_seed(void)
{
	const char *s = getenv("IOH_QEMU_SEED");
	return s && *s ? strtoull(s, NULL, 0) : 0x5eed17;
}

const char *qrig_qemu_or_skip(const char *target, const char *package)
{
	const char *qemu = qt_find_qemu(target);
	if (!qemu) {
		const char *dir = getenv("IOH_QEMU_DIR");
		printf("  no qemu-system-%s %s%s: skipped "
		       "(apt-get install %s, or make deps as root)\n", target,
		       dir ? "in IOH_QEMU_DIR=" : "on PATH", dir ? dir : "",
		       package);
		skip();
	}
	return qemu;
}

/* ---- guest RAM and its shadow ------------------------------------------- */

static uint64_t off_of(const struct qrig *r, uint64_t pa)
{
	return pa - r->ram_base;
}

void qrig_put64(struct qrig *r, uint64_t pa, uint64_t v)
{
	memcpy(r->q.ram + off_of(r, pa), &v, 8);
	memcpy(r->shadow + off_of(r, pa), &v, 8);
}

uint64_t qrig_get64(const struct qrig *r, uint64_t pa)
{
	uint64_t v;
	memcpy(&v, r->q.ram + off_of(r, pa), 8);
	return v;
}

void qrig_absorb(struct qrig *r, uint64_t pa, uint64_t len)
{
	memcpy(r->shadow + off_of(r, pa), r->q.ram + off_of(r, pa), len);
}

/*
 * Each 4K page of guest RAM that holds data (by offset): the RAM file is
 * sparse, so only pages someone wrote (QEMU, its DMA, this test) count.
 */
static void for_each_data(struct qrig *r, void (*fn)(struct qrig *, uint64_t))
{
	off_t pos = 0;
	while (pos < (off_t)QRIG_RAM_SIZE) {
		off_t d = lseek(r->q.ram_fd, pos, SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(r->q.ram_fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)QRIG_RAM_SIZE;
		for (uint64_t o = (uint64_t)d & ~(QRIG_4K - 1); o < (uint64_t)h; o += QRIG_4K)
			fn(r, o);
		pos = h;
	}
}

static void copy_to_shadow(struct qrig *r, uint64_t o)
{
	memcpy(r->shadow + o, r->q.ram + o, QRIG_4K);
}

static void compare_page(struct qrig *r, uint64_t o)
{
	if (memcmp(r->q.ram + o, r->shadow + o, QRIG_4K))
		qrig_mismatch(r, "guest RAM page %#" PRIx64 " changed behind the test",
			      r->ram_base + o);
}

void qrig_compare_ram(struct qrig *r)
{
	for_each_data(r, compare_page);
}

/* ---- the table pool ------------------------------------------------------ */

/* Table memory: pages of the pool in guest RAM, never reused here. */
static void *pool_alloc(void *ctx, pt_oaddr_t *pa)
{
	struct qrig *r = ctx;
	if (r->pool_next >= qrig_pa(r, QRIG_POOL_END))
		return NULL;
	*pa = r->pool_next;
	r->pool_next += QRIG_4K;
	return r->q.ram + off_of(r, *pa);
}

static void pool_free(void *ctx, void *page, pt_oaddr_t pa)
{
	(void)ctx;
	(void)pa;
	memset(page, 0, PT_TABLE_SIZE);
}

/* A concatenated top (arm-s2): 2^lg2 pages, aligned to their size. */
static void *pool_alloc_top(void *ctx, unsigned int lg2, pt_oaddr_t *pa)
{
	struct qrig *r = ctx;
	uint64_t size = QRIG_4K << lg2;
	uint64_t at = (r->pool_next + size - 1) & ~(size - 1);
	if (at + size > qrig_pa(r, QRIG_POOL_END))
		return NULL;
	r->pool_next = at + size;
	*pa = at;
	return r->q.ram + off_of(r, at);
}

static void pool_free_top(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2)
{
	(void)ctx;
	(void)pa;
	memset(pages, 0, QRIG_4K << lg2);
}

static void *pool_p2v(void *ctx, pt_oaddr_t pa)
{
	struct qrig *r = ctx;
	return pa >= qrig_pa(r, QRIG_POOL) && pa < qrig_pa(r, QRIG_POOL_END) ?
	       r->q.ram + off_of(r, pa) : NULL;
}

const struct pt_mem_ops qrig_pool_ops = {
	.alloc = pool_alloc,
	.free = pool_free,
	.defer_free = pool_free,
	.alloc_top = pool_alloc_top,
	.free_top = pool_free_top,
	.phys_to_virt = pool_p2v,
};

/* ---- QEMU ---------------------------------------------------------------- */

void qrig_start(struct qrig *r, const struct qrig_ops *ops, uint64_t seed)
{
	const char *qemu = qt_find_qemu(ops->target);
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->ram_base = ops->ram_base;
	r->edu_bar = ops->edu_bar;
	r->rng = seed ? seed : 1;
	assert_non_null(qemu);
	assert_int_equal(qt_start_arch(&r->q, qemu, QRIG_RAM_SIZE, ops->args,
				       ops->arch), 0);
	r->shadow = mmap(NULL, QRIG_RAM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(r->shadow != MAP_FAILED);
	/* Whatever QEMU put in RAM at start is the baseline. */
	for_each_data(r, copy_to_shadow);
	r->pool_next = qrig_pa(r, QRIG_POOL);
	ops->init(r);
}

void qrig_stop(struct qrig *r)
{
	munmap(r->shadow, QRIG_RAM_SIZE);
	qt_stop(&r->q);
}

struct qrig_fault qrig_edu_dma(struct qrig *r, uint64_t src, uint64_t dst,
			       bool to_ram)
{
	struct qtest *q = &r->q;
	qt_writeq(q, r->edu_bar + EDU_SRC, src);
	qt_writeq(q, r->edu_bar + EDU_DST, dst);
	qt_writeq(q, r->edu_bar + EDU_CNT, 8);
	qt_writeq(q, r->edu_bar + EDU_CMD, EDU_RUN | (to_ram ? EDU_TO_RAM : 0));
	int i = 0;
	while (qt_readq(q, r->edu_bar + EDU_CMD) & EDU_RUN)
		if (++i > 100000)
			fail_msg("edu DMA never completed");
	r->dma++;
	return r->ops->fault(r);
}

void qrig_mismatch(struct qrig *r, const char *fmt, ...)
{
	va_list ap;
	if (r->mismatches++ < 8) {
		va_start(ap, fmt);
		fprintf(stderr, r->bad_on_purpose ? "  mismatch (wanted): " :
						     "  mismatch: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

/* Whether f is edu's fault at iova's page, of a read or of a write. */
static bool fault_is(struct qrig *r, struct qrig_fault f, uint64_t iova, bool read)
{
	if (!(f.hi & QRIG_F))
		return false;
	r->fault_reason[(f.hi >> 32) & 0xff]++;
	return (f.hi & 0xffff) == QRIG_EDU_DEVFN && f.lo >> 12 == iova >> 12 &&
	       !!(f.hi & QRIG_T) == read;
}

/* ---- one word ------------------------------------------------------------ */

void qrig_check(struct qrig *r, const struct qrig_expect *e)
{
	uint64_t token = qrig_rnd(r) | 1;
	uint64_t stage = qrig_pa(r, QRIG_STAGE), back = qrig_pa(r, QRIG_BACK);
	struct qrig_fault f;

	/* Write: token -> staging page -> edu -> iova. */
	qrig_put64(r, stage, token);
	f = qrig_edu_dma(r, QRIG_STAGE_IOVA, EDU_BUF, false);
	if (f.hi & QRIG_F)
		qrig_mismatch(r, "staging read faulted (%#" PRIx64 ")", f.hi);
	if (!e->hole && !e->writable && r->ops->before_ro_write)
		r->ops->before_ro_write(r);
	f = qrig_edu_dma(r, EDU_BUF, e->iova, true);
	if (e->hole || !e->writable) {
		if (fault_is(r, f, e->iova, false))
			r->faults_ok++;
		else
			qrig_mismatch(r, "write to %s iova %#" PRIx64 ": no matching fault (%#" PRIx64 " %#" PRIx64 ")",
				      e->hole ? "hole" : "read-only", e->iova, f.hi, f.lo);
	} else {
		if (f.hi & QRIG_F)
			qrig_mismatch(r, "write to iova %#" PRIx64 " faulted (%#" PRIx64 ")",
				      e->iova, f.hi);
		else if (qrig_get64(r, e->pa) != token)
			qrig_mismatch(r, "write to iova %#" PRIx64 " not at pa %#" PRIx64,
				      e->iova, e->pa);
		else
			r->writes_ok++;
		memcpy(r->shadow + off_of(r, e->pa), &token, 8);
	}

	/* Read: a fresh value at pa -> edu -> scratch page. */
	uint64_t val = qrig_rnd(r) | 2;
	if (!e->hole)
		qrig_put64(r, e->pa, val);
	qrig_put64(r, back, 0);
	f = qrig_edu_dma(r, e->iova, EDU_BUF, false);
	if (e->hole) {
		if (fault_is(r, f, e->iova, true))
			r->faults_ok++;
		else
			qrig_mismatch(r, "read of hole iova %#" PRIx64 ": no matching fault",
				      e->iova);
		return;
	}
	if (f.hi & QRIG_F) {
		qrig_mismatch(r, "read of iova %#" PRIx64 " faulted (%#" PRIx64 ")",
			      e->iova, f.hi);
		return;
	}
	f = qrig_edu_dma(r, EDU_BUF, QRIG_BACK_IOVA, true);
	uint64_t got = qrig_get64(r, back);
	memcpy(r->shadow + off_of(r, back), &got, 8);
	if (got != val)
		qrig_mismatch(r, "read of iova %#" PRIx64 " gave %#" PRIx64 ", pa %#" PRIx64 " holds %#" PRIx64,
			      e->iova, got, e->pa, val);
	else
		r->reads_ok++;
}

/* ---- tables: a kernel profile's sizes, a random intent, the plan -------- */

void qrig_table_cfg(struct pt_cfg *cfg, enum pt_format_id fmt,
		    unsigned int va_bits, unsigned int oa_bits,
		    const char *profile)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fmt = fmt;
	cfg->va_bits = va_bits;
	cfg->oa_bits = oa_bits;
	if (profile) {
		const struct iommufd_profile *p = iommufd_profile_find_for(profile, fmt);
		if (!p)
			fail_msg("no profile %s for %s", profile, pt_fmt_name(fmt));
		/* What iommufd_hwpt_alloc gives a HWPT of that kernel. */
		cfg->pgsizes = iommufd_pgsizes(fmt, iommufd_features(p, 0));
	}
}

struct range {
	uint64_t iova, len;
};

/*
 * The IOVAs intents and holes are drawn below: the table's whole space,
 * or its lower half where IOVAs are sign-extended (x86-64: the upper
 * half's addresses are not tried).
 */
static uint64_t iova_top(const struct pt_table *t)
{
	return 1ull << (t->va_bits - (pt_fmt_sign_extends(t->fmt->id) ? 1 : 0));
}

/*
 * A random intent: ranges mapped into t, as a VMM would map guest memory
 * (map calls of whole ranges; the table's leaf sizes decide the layout).
 * Where the table may use contiguous runs (64K of 4K pages, 32M of 2M
 * blocks: genpt-armv8), ranges aligned for them are asked for too.
 */
static unsigned int build_intent(struct qrig *r, struct pt_table *t,
				 struct range *rs, unsigned int want)
{
	struct pt_gather g;
	uint64_t pa_next = qrig_pa(r, QRIG_TGT), tgt_end = qrig_pa(r, QRIG_TGT_END);
	bool have_1g = false;
	unsigned int n = 0;
	uint64_t top = iova_top(t);
	bool runs64k = t->pgsizes & (1ull << 16), runs32m = t->pgsizes & (1ull << 25);
	unsigned int kinds = 6 + (runs64k || runs32m ? 2 : 0);

	pt_gather_init(&g);
	assert_int_equal(pt_map_range(t, QRIG_STAGE_IOVA, qrig_pa(r, QRIG_STAGE),
				      QRIG_4K, PT_PROT_READ, &g), 0);
	assert_int_equal(pt_map_range(t, QRIG_BACK_IOVA, qrig_pa(r, QRIG_BACK),
				      QRIG_4K, PT_PROT_READ | PT_PROT_WRITE, &g), 0);
	for (unsigned int tries = 0; n < want && tries < want * 8; tries++) {
		uint64_t len, ialign, palign;
		unsigned int kind = (unsigned int)qrig_rnd_below(r, kinds);
		switch (kind) {
		case 0: /* a 4K run, often across a 2M boundary */
			len = (1 + qrig_rnd_below(r, 700)) * QRIG_4K;
			ialign = palign = QRIG_4K;
			break;
		case 1: /* 2M blocks */
			len = (1 + qrig_rnd_below(r, 4)) * QRIG_2M;
			ialign = palign = QRIG_2M;
			break;
		case 2: /* 2M blocks then 4K pages */
			len = (1 + qrig_rnd_below(r, 2)) * QRIG_2M +
			      (1 + qrig_rnd_below(r, 100)) * QRIG_4K;
			ialign = palign = QRIG_2M;
			break;
		case 3: /* 2M-aligned IOVA, PA only 4K-aligned: 4K leaves */
			len = QRIG_2M + (1 + qrig_rnd_below(r, 50)) * QRIG_4K;
			ialign = QRIG_2M;
			palign = QRIG_4K;
			break;
		case 4: /* one 1G block */
			if (have_1g)
				continue;
			len = QRIG_1G;
			ialign = palign = QRIG_1G;
			break;
		case 6: /* 64K runs of 4K pages, then a tail of pages */
			len = (1 + qrig_rnd_below(r, 8)) * (16 * QRIG_4K) +
			      qrig_rnd_below(r, 16) * QRIG_4K;
			ialign = palign = 16 * QRIG_4K;
			break;
		case 7: /* 32M runs of 2M blocks, then blocks and pages */
			len = 16 * QRIG_2M + qrig_rnd_below(r, 16) * QRIG_2M +
			      qrig_rnd_below(r, 16) * QRIG_4K;
			ialign = palign = 16 * QRIG_2M;
			break;
		default: /* a few pages */
			len = (1 + qrig_rnd_below(r, 8)) * QRIG_4K;
			ialign = palign = QRIG_4K;
			break;
		}
		uint64_t iova = (QRIG_1G * 4 + qrig_rnd_below(r, top - QRIG_1G * 8)) &
				~(ialign - 1);
		uint64_t pa;
		if (kind == 4) {
			pa = qrig_pa(r, QRIG_TGT_1G);
		} else {
			/* Alignment relative to guest PA (ram_base is 1G-aligned). */
			pa = (pa_next + palign - 1) & ~(palign - 1);
			if (kind == 3)
				pa += QRIG_4K;
			if (pa + len > tgt_end)
				continue;
		}
		uint32_t prot = PT_PROT_READ |
				(qrig_rnd_below(r, 5) ? PT_PROT_WRITE : 0);
		int err = pt_map_range(t, iova, pa, len, prot, &g);
		if (err == -PT_EEXIST)
			continue;
		assert_int_equal(err, 0);
		if (kind == 4)
			have_1g = true;
		else
			pa_next = pa + len;
		rs[n].iova = iova;
		rs[n].len = len;
		n++;
	}
	return n;
}

static void add_word(const struct pt_table *t, uint64_t iova,
		     struct qrig_expect *ex, unsigned int *nex)
{
	struct qrig_expect *e = &ex[(*nex)++];
	struct pt_leaf leaf;
	pt_oaddr_t pa;
	memset(e, 0, sizeof(*e));
	e->iova = iova;
	if (pt_iova_to_phys(t, iova, &pa)) {
		e->hole = true;
		return;
	}
	assert_int_equal(pt_leaf_at(t, iova, &leaf), 0);
	e->pa = pa;
	e->writable = leaf.prot & PT_PROT_WRITE;
	e->size_lg2 = leaf.size_lg2;
}

/* Words a plan may take for n ranges of at most leaves sampled leaves. */
static size_t plan_cap(unsigned int n, unsigned int leaves)
{
	return (size_t)n * (3 * (leaves + 2) + 3) + 8;
}

/* Expectations: first, last and a random word of sampled leaves; holes. */
static unsigned int plan(struct qrig *r, const struct pt_table *t,
			 const struct range *rs, unsigned int n,
			 unsigned int leaves_per_range, struct qrig_expect *ex)
{
	unsigned int nex = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct pt_iter it;
		struct pt_leaf leaf;
		unsigned int nleaves = 0, k = 0, taken = 0;
		pt_iter_init(&it, t, rs[i].iova, rs[i].iova + rs[i].len - 1);
		while (pt_iter_next(t, &it, &leaf))
			nleaves++;
		pt_iter_init(&it, t, rs[i].iova, rs[i].iova + rs[i].len - 1);
		while (pt_iter_next(t, &it, &leaf)) {
			bool take = k == 0 || k == nleaves - 1 ||
				    (taken < leaves_per_range &&
				     qrig_rnd_below(r, nleaves) < leaves_per_range);
			k++;
			if (!take)
				continue;
			taken++;
			uint64_t size = 1ull << leaf.size_lg2;
			add_word(t, leaf.va, ex, &nex);
			add_word(t, leaf.va + size - 8, ex, &nex);
			add_word(t, leaf.va + (qrig_rnd_below(r, size) & ~7ull),
				 ex, &nex);
		}
		/* The holes on either side (if they are holes) and one random. */
		add_word(t, rs[i].iova - 8, ex, &nex);
		add_word(t, rs[i].iova + rs[i].len, ex, &nex);
		add_word(t, (QRIG_1G * 4 + qrig_rnd_below(r, iova_top(t) - QRIG_1G * 8)) & ~7ull,
			 ex, &nex);
	}
	return nex;
}

/*
 * The guest PA of the PTE that maps iova as a leaf: walked by hand from
 * the top, down to the level pt_leaf_at says the leaf is at (4K tables of
 * 512 entries, next-table address in bits 47:12 in every format here).
 */
static uint64_t leaf_pte_pa(const struct qrig *r, const struct pt_table *t,
			    uint64_t iova)
{
	struct pt_leaf leaf;
	assert_int_equal(pt_leaf_at(t, iova, &leaf), 0);
	uint64_t tpa = t->top_pa, pte_pa = 0;
	for (int lvl = (int)t->top_level; lvl >= (int)leaf.level; lvl--) {
		unsigned int idx = (iova >> (12 + 9 * lvl)) & 511;
		pte_pa = tpa + idx * 8;
		tpa = qrig_get64(r, pte_pa) & 0x0000fffffffff000ull;
	}
	return pte_pa;
}

static void count_words(struct qrig_result *res, const struct qrig_expect *ex,
			unsigned int nex, unsigned int *holes)
{
	*holes = 0;
	for (unsigned int i = 0; i < nex; i++) {
		if (ex[i].hole)
			(*holes)++;
		else
			res->leaf_words[ex[i].size_lg2 & 63]++;
	}
}

static void print_sizes(const struct qrig *r, const struct qrig_result *res,
			unsigned int holes)
{
	printf("    words in leaves of");
	for (unsigned int i = 12; i < 64; i++) {
		if (!res->leaf_words[i])
			continue;
		if (i >= 30)
			printf(" %lluG %lu", 1ull << (i - 30), res->leaf_words[i]);
		else if (i >= 20)
			printf(" %lluM %lu", 1ull << (i - 20), res->leaf_words[i]);
		else
			printf(" %lluK %lu", 1ull << (i - 10), res->leaf_words[i]);
		printf(",");
	}
	printf(" holes %u\n", holes);
	for (int i = 0; i < 256; i++)
		if (r->fault_reason[i])
			printf("    fault reason %d: %lu\n", i, r->fault_reason[i]);
}

static void fill_result(struct qrig_result *res, const struct qrig *r,
			unsigned int nex)
{
	res->dma = r->dma;
	res->checks = nex;
	res->mismatches = r->mismatches;
	res->writes_ok = r->writes_ok;
	res->reads_ok = r->reads_ok;
	res->faults_ok = r->faults_ok;
}

/*
 * A fresh QEMU and the run's intent built by pt into t (a table of the
 * run's format, width and profile's sizes); *rs gets its ranges.
 */
static unsigned int start_and_build(struct qrig *r, const struct qrig_ops *ops,
				    const struct qrig_run *run,
				    struct pt_cfg *cfg, struct pt_table *t,
				    struct range **rs)
{
	qrig_table_cfg(cfg, run->fmt, run->va_bits, run->oa_bits, run->profile);
	*rs = calloc(run->ranges, sizeof(**rs));
	assert_non_null(*rs);
	qrig_start(r, ops, run->seed);
	assert_int_equal(pt_init(t, cfg, &qrig_pool_ops, r), 0);
	return build_intent(r, t, *rs, run->ranges);
}

/* The plan for t's n ranges, in an array the caller frees. */
static struct qrig_expect *plan_alloc(struct qrig *r, const struct pt_table *t,
				      const struct range *rs, unsigned int n,
				      unsigned int leaves, unsigned int *nex)
{
	struct qrig_expect *ex = calloc(plan_cap(n, leaves), sizeof(*ex));
	assert_non_null(ex);
	*nex = plan(r, t, rs, n, leaves, ex);
	return ex;
}

struct qrig_result qrig_conformance(struct qrig *r, const struct qrig_ops *ops,
				    const struct qrig_run *run)
{
	struct qrig_result res;
	struct pt_table t;
	struct pt_cfg cfg;
	struct range *rs;
	unsigned int nex, holes;
	memset(&res, 0, sizeof(res));
	unsigned int n = start_and_build(r, ops, run, &cfg, &t, &rs);
	struct qrig_expect *ex = plan_alloc(r, &t, rs, n, run->leaves, &nex);
	/* The tables pt wrote are RAM content the test expects. */
	qrig_absorb(r, qrig_pa(r, QRIG_POOL), QRIG_POOL_END - QRIG_POOL);
	r->bad_on_purpose = run->flip_bit >= 0;
	if (run->flip_bit >= 0) {
		for (unsigned int i = 0; i < nex; i++) {
			if (ex[i].hole || !ex[i].writable)
				continue;
			uint64_t pte_pa = leaf_pte_pa(r, &t, ex[i].iova);
			unsigned int bit = (unsigned int)run->flip_bit +
					   (run->flip_above_leaf ? ex[i].size_lg2 : 0);
			qrig_put64(r, pte_pa, qrig_get64(r, pte_pa) ^ (1ull << bit));
			break;
		}
	}
	count_words(&res, ex, nex, &holes);
	ops->load(r, &t);
	for (unsigned int i = 0; i < nex; i++)
		qrig_check(r, &ex[i]);
	qrig_compare_ram(r);
	fill_result(&res, r, nex);
	printf("  %s %u-bit%s%s seed %#" PRIx64 "%s: %u ranges, %" PRIu64
	       " table pages, %u words, %lu DMAs: %lu writes and %lu reads landed, "
	       "%lu faults as expected, %lu mismatches (%" PRIu64 " qtest commands)\n",
	       pt_fmt_name(run->fmt), run->va_bits, run->profile ? " " : "",
	       run->profile ? run->profile : "", run->seed,
	       run->flip_bit >= 0 ? " (negative control)" : "", n, t.nr_tables,
	       nex, r->dma, r->writes_ok, r->reads_ok, r->faults_ok,
	       r->mismatches, r->q.cmds);
	print_sizes(r, &res, holes);
	pt_deinit(&t);
	qrig_stop(r);
	free(ex);
	free(rs);
	return res;
}

static void poison(struct qrig *r, uint64_t from, uint64_t to)
{
	for (uint64_t pa = from; pa < to; pa += 8)
		qrig_put64(r, pa, r->ops->poison);
}

static const char *const sw_name[] = { "safe", "no invalidation",
				       "poison before invalidation" };

struct qrig_result qrig_switch(struct qrig *r, const struct qrig_ops *ops,
			       const struct qrig_run *run, enum qrig_sw v)
{
	struct qrig_result res;
	struct pt_table a, b;
	struct pt_cfg cfg;
	struct range *rs;
	unsigned int nex, k = 0;
	memset(&res, 0, sizeof(res));
	unsigned int n = start_and_build(r, ops, run, &cfg, &a, &rs);
	uint64_t a_end = r->pool_next;
	r->rng = run->seed;   /* the same intent again, in other pages */
	assert_int_equal(pt_init(&b, &cfg, &qrig_pool_ops, r), 0);
	assert_int_equal(build_intent(r, &b, rs, run->ranges), n);
	struct qrig_expect *ex = plan_alloc(r, &b, rs, n, run->leaves, &nex);
	if (ops->switch_skips_ro) {
		for (unsigned int i = 0; i < nex; i++)
			if (ex[i].hole || ex[i].writable)
				ex[k++] = ex[i];
		nex = k;
	}
	qrig_absorb(r, qrig_pa(r, QRIG_POOL), QRIG_POOL_END - QRIG_POOL);
	ops->load(r, &a);
	if (ops->switch_begin)
		ops->switch_begin(r);
	/* Warm the IOMMU's caches with the first half. */
	for (unsigned int i = 0; i < nex / 2; i++)
		qrig_check(r, &ex[i]);
	r->bad_on_purpose = v != QRIG_SW_SAFE;
	unsigned long before = r->mismatches;
	unsigned int i = nex / 2;
	ops->switch_root(r, &b);
	qrig_check(r, &ex[i++ % nex]);
	if (v == QRIG_SW_FREE_FIRST) {
		poison(r, qrig_pa(r, QRIG_POOL), a_end);
		for (unsigned int j = 0; j < 8; j++)
			qrig_check(r, &ex[i++ % nex]);
	}
	if (v != QRIG_SW_NO_INVAL) {
		ops->inval_config(r);
		qrig_check(r, &ex[i++ % nex]);
		ops->inval_tlb(r);
	}
	if (v != QRIG_SW_FREE_FIRST)
		poison(r, qrig_pa(r, QRIG_POOL), a_end);
	/* Everything, the warm half included, after the old pages are gone. */
	for (unsigned int j = 0; j < nex; j++)
		qrig_check(r, &ex[j]);
	qrig_compare_ram(r);
	fill_result(&res, r, nex);
	printf("  %s switch A -> B (%s)%s%s, seed %#" PRIx64 ": %u ranges, %" PRIu64
	       " + %" PRIu64 " table pages, %lu DMAs: %lu writes and %lu reads "
	       "landed, %lu faults as expected, %lu mismatches (%lu before the switch)\n",
	       pt_fmt_name(run->fmt), sw_name[v], run->profile ? ", " : "",
	       run->profile ? run->profile : "", run->seed, n, a.nr_tables,
	       b.nr_tables, r->dma, r->writes_ok, r->reads_ok, r->faults_ok,
	       r->mismatches, before);
	assert_int_equal(before, 0);
	/* A's pages are poison now: they go with the pool, not pt_deinit. */
	pt_deinit(&b);
	qrig_stop(r);
	free(ex);
	free(rs);
	return res;
}
