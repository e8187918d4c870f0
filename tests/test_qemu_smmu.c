// SPDX-License-Identifier: MIT
/*
 * pt/'s ARM stage-1 tables judged by QEMU's SMMUv3 on the virt machine
 * (a linear stream table, one stage-1 context descriptor, the command and
 * event queues), with edu doing the DMA: the checks of test_qemu_vtd.c
 * (first, last and a random word of sampled leaves, holes, read-only
 * writes, the whole of RAM compared at the end, a negative control),
 * faults read from the event queue; and the switch (TTB0 replaced under
 * DMA, CFGI_CD and TLBI_NH_ASID, old pages poisoned) with its two unsafe
 * variants. Skips without qemu-system-aarch64.
 * guest PA = 0x40000000 + offset in the RAM file.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "tests/lib/qtest.h"

#define SZ_4K (1ull << 12)
#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)

/* Guest RAM layout: guest PA = RAM_BASE + offset in the shared file. */
#define RAM_BASE 0x40000000ull
#define RAM_SIZE (2 * SZ_1G)
#define OFF(pa) ((pa) - RAM_BASE)
#define STRTAB_PA (RAM_BASE + 0x100000ull)   /* 32 STEs of 64 bytes */
#define CD_PA (RAM_BASE + 0x101000ull)
#define CMDQ_PA (RAM_BASE + 0x102000ull)     /* 256 commands of 16 bytes */
#define STAGE_PA (RAM_BASE + 0x103000ull)
#define BACK_PA (RAM_BASE + 0x104000ull)
#define EVTQ_PA (RAM_BASE + 0x108000ull)     /* 128 events of 32 bytes */
#define POOL_PA (RAM_BASE + 0x200000ull)
#define POOL_END (RAM_BASE + 0x1000000ull)
#define TGT_PA POOL_END
#define TGT_END (RAM_BASE + SZ_1G)
#define TGT_1G (RAM_BASE + SZ_1G)

#define STAGE_IOVA 0x1000ull
#define BACK_IOVA 0x2000ull

/* virt's SMMUv3 and ECAM (QEMU hw/arm/virt.c, hw/arm/smmuv3*; the SMMUv3
 * manual for the STE, CD, command and event layouts). */
#define SMMU 0x09050000ull
#define S_CR0 0x20
#define S_CR0ACK 0x24
#define S_CR1 0x28
#define S_GERROR 0x60
#define S_STRTAB_BASE 0x80
#define S_STRTAB_CFG 0x88
#define S_CMDQ_BASE 0x90
#define S_CMDQ_PROD 0x98
#define S_CMDQ_CONS 0x9c
#define S_EVTQ_BASE 0xa0
#define S_EVTQ_PROD 0x100a8
#define S_EVTQ_CONS 0x100ac
#define CR0_SMMUEN 1u
#define CR0_EVTQEN 4u
#define CR0_CMDQEN 8u
#define ECAM 0x3f000000ull
#define FRCD_F (1ull << 63)     /* the fault struct of test_qemu_vtd.c */
#define FRCD_T (1ull << 62)     /* read */

#define EDU_DEVFN 0x18          /* 00:03.0, stream id 0x18 */
#define EDU_BAR 0x10000000ull
#define EDU_SRC 0x80
#define EDU_DST 0x88
#define EDU_CNT 0x90
#define EDU_CMD 0x98
#define EDU_BUF 0x40000ull
#define EDU_RUN 1u
#define EDU_TO_RAM 2u

struct rig {
	struct qtest q;
	uint8_t *shadow;         /* what guest RAM must hold */
	uint64_t pool_next;
	uint32_t cmdq_prod, evtq_cons;
	uint64_t rng;
	unsigned long dma, writes_ok, reads_ok, faults_ok, mismatches;
	bool bad_on_purpose;     /* negative control or unsafe switch */
	unsigned long fault_reason[256];
};

static uint64_t rnd(struct rig *r)
{
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->rng = x;
}

static uint64_t rnd_below(struct rig *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool full_run(void)
{
	const char *s = getenv("IOH_QEMU_FULL");
	return s && *s && strcmp(s, "0");
}

static void *pool_alloc(void *ctx, pt_oaddr_t *pa)
{
	struct rig *r = ctx;
	if (r->pool_next >= POOL_END)
		return NULL;
	*pa = r->pool_next;
	r->pool_next += SZ_4K;
	return r->q.ram + OFF(*pa);
}

static void pool_free(void *ctx, void *page, pt_oaddr_t pa)
{
	(void)ctx;
	(void)pa;
	memset(page, 0, PT_TABLE_SIZE);
}

static void *pool_p2v(void *ctx, pt_oaddr_t pa)
{
	struct rig *r = ctx;
	return pa >= POOL_PA && pa < POOL_END ? r->q.ram + OFF(pa) : NULL;
}

static const struct pt_mem_ops pool_ops = {
	.alloc = pool_alloc,
	.free = pool_free,
	.defer_free = pool_free,
	.phys_to_virt = pool_p2v,
};

static void put64(struct rig *r, uint64_t pa, uint64_t v)
{
	memcpy(r->q.ram + OFF(pa), &v, 8);
	memcpy(r->shadow + OFF(pa), &v, 8);
}

static uint64_t get64(const uint8_t *mem, uint64_t pa)
{
	uint64_t v;
	memcpy(&v, mem + OFF(pa), 8);
	return v;
}

static void for_each_data(struct rig *r, void (*fn)(struct rig *, uint64_t))
{
	off_t pos = 0;
	while (pos < (off_t)RAM_SIZE) {
		off_t d = lseek(r->q.ram_fd, pos, SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(r->q.ram_fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)RAM_SIZE;
		for (uint64_t o = (uint64_t)d & ~(SZ_4K - 1); o < (uint64_t)h; o += SZ_4K)
			fn(r, o);
		pos = h;
	}
}

static void copy_to_shadow(struct rig *r, uint64_t o)
{
	memcpy(r->shadow + o, r->q.ram + o, SZ_4K);
}

/* One command, then CMD_SYNC; QEMU consumes the queue on the PROD write. */
static void cmdq(struct rig *r, uint64_t w0, uint64_t w1)
{
	uint64_t cmds[2][2] = { { w0, w1 }, { 0x46, 0 } };
	for (int i = 0; i < 2; i++) {
		uint64_t slot = CMDQ_PA + (r->cmdq_prod & 255) * 16;
		put64(r, slot, cmds[i][0]);
		put64(r, slot + 8, cmds[i][1]);
		r->cmdq_prod = (r->cmdq_prod + 1) & 511;   /* index + wrap bit */
	}
	qt_writel(&r->q, SMMU + S_CMDQ_PROD, r->cmdq_prod);
	for (int i = 0; i < 1000; i++) {
		uint32_t cons = qt_readl(&r->q, SMMU + S_CMDQ_CONS);
		if ((cons & 511) == r->cmdq_prod)
			return;
		if (cons >> 24)
			fail_msg("command queue error %#x", cons >> 24);
	}
	fail_msg("command queue never drained");
}

static uint32_t ecam_addr(unsigned int reg)
{
	return (uint32_t)(ECAM + ((uint64_t)EDU_DEVFN << 12) + reg);
}

static void rig_start(struct rig *r, uint64_t seed)
{
	static const char *const args[] = {
		"-machine", "virt,iommu=smmuv3,highmem=off,memory-backend=ram0",
		"-cpu", "cortex-a57",
		"-device", "edu,addr=03.0,dma_mask=0xffffffffffffffff",
		NULL,
	};
	const char *qemu = qt_find_qemu("aarch64");
	memset(r, 0, sizeof(*r));
	r->rng = seed ? seed : 1;
	assert_non_null(qemu);
	assert_int_equal(qt_start_arch(&r->q, qemu, RAM_SIZE, args, QT_ARM), 0);
	r->shadow = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(r->shadow != MAP_FAILED);
	for_each_data(r, copy_to_shadow);
	r->pool_next = POOL_PA;

	assert_int_equal(qt_readl(&r->q, ecam_addr(0)), 0x11e81234);
	qt_writel(&r->q, ecam_addr(0x10), (uint32_t)EDU_BAR);
	qt_writel(&r->q, ecam_addr(0x04), 0x6);
	assert_int_equal(qt_readl(&r->q, EDU_BAR), 0x010000ed);
	assert_true(qt_readl(&r->q, SMMU) & 2);   /* IDR0.S1P */
}

static void rig_stop(struct rig *r)
{
	munmap(r->shadow, RAM_SIZE);
	qt_stop(&r->q);
}

/* Stream edu -> a stage-1 CD whose TTB0 is t; queues; SMMU on. */
static void load_table(struct rig *r, const struct pt_table *t)
{
	uint64_t ste = STRTAB_PA + EDU_DEVFN * 64;
	/* STE: valid, config S1 translate / S2 bypass, S1ContextPtr. */
	put64(r, ste, 1 | 5u << 1 | CD_PA);
	for (int i = 1; i < 8; i++)
		put64(r, ste + 8 * i, 0);
	/* CD: T0SZ 64 - va_bits, TG0 4K, EPD1, valid; IPS 44-bit, AA64,
	 * R (record faults), A (abort), ASID 1; TTB0. */
	uint64_t w0 = (64 - t->va_bits) | 1u << 30 | 1u << 31;
	uint64_t w1 = 4 | 1u << 9 | 1u << 13 | 1u << 14 | 1u << 16;
	put64(r, CD_PA, w0 | w1 << 32);
	put64(r, CD_PA + 8, t->top_pa);
	put64(r, CD_PA + 16, 0);
	put64(r, CD_PA + 24, 0x44ull);   /* MAIR: normal non-cacheable */
	for (int i = 4; i < 8; i++)
		put64(r, CD_PA + 8 * i, 0);
	qt_writeq(&r->q, SMMU + S_STRTAB_BASE, STRTAB_PA);
	qt_writel(&r->q, SMMU + S_STRTAB_CFG, 5);   /* linear, 32 entries */
	qt_writeq(&r->q, SMMU + S_CMDQ_BASE, CMDQ_PA | 8);   /* 256 */
	qt_writeq(&r->q, SMMU + S_EVTQ_BASE, EVTQ_PA | 7);   /* 128 */
	qt_writel(&r->q, SMMU + S_CMDQ_PROD, 0);
	qt_writel(&r->q, SMMU + S_CMDQ_CONS, 0);
	qt_writel(&r->q, SMMU + S_EVTQ_PROD, 0);
	qt_writel(&r->q, SMMU + S_EVTQ_CONS, 0);
	qt_writel(&r->q, SMMU + S_CR1, 0);
	qt_writel(&r->q, SMMU + S_CR0, CR0_CMDQEN | CR0_EVTQEN);
	cmdq(r, 0x3 | (uint64_t)EDU_DEVFN << 32, 1);   /* CFGI_STE, leaf */
	cmdq(r, 0x30, 0);                             /* TLBI_NSNH_ALL */
	qt_writel(&r->q, SMMU + S_CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN);
	assert_int_equal(qt_readl(&r->q, SMMU + S_CR0ACK),
			 CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN);
}

struct fault {
	uint64_t hi, lo;
};

/*
 * One edu transfer of 8 bytes; the first event it queued, in the shape
 * of test_qemu_vtd.c's fault record (F, read bit, type at 39:32, stream
 * id at 15:0; lo = input address), or zero.
 */
static struct fault edu_dma(struct rig *r, uint64_t src, uint64_t dst,
			    bool to_ram)
{
	struct qtest *q = &r->q;
	qt_writeq(q, EDU_BAR + EDU_SRC, src);
	qt_writeq(q, EDU_BAR + EDU_DST, dst);
	qt_writeq(q, EDU_BAR + EDU_CNT, 8);
	qt_writeq(q, EDU_BAR + EDU_CMD, EDU_RUN | (to_ram ? EDU_TO_RAM : 0));
	int i = 0;
	while (qt_readq(q, EDU_BAR + EDU_CMD) & EDU_RUN)
		if (++i > 100000)
			fail_msg("edu DMA never completed");
	r->dma++;
	struct fault f = { 0, 0 };
	uint32_t prod = qt_readl(q, SMMU + S_EVTQ_PROD) & 255;
	bool first = true;
	while (r->evtq_cons != prod) {
		uint64_t e = EVTQ_PA + (r->evtq_cons & 127) * 32;
		uint64_t d0 = get64(r->q.ram, e), d1 = get64(r->q.ram, e + 8);
		uint64_t d2 = get64(r->q.ram, e + 16);
		if (getenv("IOH_QEMU_EVENTS"))
			fprintf(stderr, "event %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
				d0, d1, d2, get64(r->q.ram, e + 24));
		if (first) {
			f.hi = FRCD_F | (d0 & 0xff) << 32 | (d0 >> 32 & 0xffff) |
			       ((d1 >> 35) & 1 ? FRCD_T : 0);
			f.lo = d2;
			first = false;
		}
		for (int k = 0; k < 4; k++)   /* the queue is RAM the SMMU writes */
			memcpy(r->shadow + OFF(e) + 8 * k, r->q.ram + OFF(e) + 8 * k, 8);
		r->evtq_cons = (r->evtq_cons + 1) & 255;
	}
	qt_writel(q, SMMU + S_EVTQ_CONS, r->evtq_cons);
	if (qt_readl(q, SMMU + S_GERROR))
		fail_msg("SMMU global error %#x", qt_readl(q, SMMU + S_GERROR));
	return f;
}

static void mismatch(struct rig *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void mismatch(struct rig *r, const char *fmt, ...)
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

static bool fault_is(struct rig *r, struct fault f, uint64_t iova, bool read)
{
	if (!(f.hi & FRCD_F))
		return false;
	r->fault_reason[(f.hi >> 32) & 0xff]++;
	return (f.hi & 0xffff) == EDU_DEVFN && f.lo >> 12 == iova >> 12 &&
	       !!(f.hi & FRCD_T) == read;
}

/* One expected translation: iova -> pa (taken from pt before loading). */
struct expect {
	uint64_t iova, pa;
	bool writable, hole;
	unsigned int size_lg2; /* of the leaf */
};

static void check_one(struct rig *r, const struct expect *e)
{
	uint64_t token = rnd(r) | 1;
	struct fault f;

	/* Write: token -> staging page -> edu -> iova. */
	put64(r, STAGE_PA, token);
	f = edu_dma(r, STAGE_IOVA, EDU_BUF, false);
	if (f.hi & FRCD_F)
		mismatch(r, "staging read faulted (%#" PRIx64 ")", f.hi);
	f = edu_dma(r, EDU_BUF, e->iova, true);
	if (e->hole || !e->writable) {
		if (fault_is(r, f, e->iova, false))
			r->faults_ok++;
		else
			mismatch(r, "write to %s iova %#" PRIx64 ": no matching fault (%#" PRIx64 " %#" PRIx64 ")",
				 e->hole ? "hole" : "read-only", e->iova, f.hi, f.lo);
	} else {
		if (f.hi & FRCD_F)
			mismatch(r, "write to iova %#" PRIx64 " faulted (%#" PRIx64 ")",
				 e->iova, f.hi);
		else if (get64(r->q.ram, e->pa) != token)
			mismatch(r, "write to iova %#" PRIx64 " not at pa %#" PRIx64,
				 e->iova, e->pa);
		else
			r->writes_ok++;
		memcpy(r->shadow + OFF(e->pa), &token, 8);
	}

	/* Read: a fresh value at pa -> edu -> scratch page. */
	uint64_t val = rnd(r) | 2;
	if (!e->hole)
		put64(r, e->pa, val);
	put64(r, BACK_PA, 0);
	f = edu_dma(r, e->iova, EDU_BUF, false);
	if (e->hole) {
		if (fault_is(r, f, e->iova, true))
			r->faults_ok++;
		else
			mismatch(r, "read of hole iova %#" PRIx64 ": no matching fault",
				 e->iova);
		return;
	}
	if (f.hi & FRCD_F) {
		mismatch(r, "read of iova %#" PRIx64 " faulted (%#" PRIx64 ")",
			 e->iova, f.hi);
		return;
	}
	f = edu_dma(r, EDU_BUF, BACK_IOVA, true);
	uint64_t got = get64(r->q.ram, BACK_PA);
	memcpy(r->shadow + OFF(BACK_PA), &got, 8);
	if (got != val)
		mismatch(r, "read of iova %#" PRIx64 " gave %#" PRIx64 ", pa %#" PRIx64 " holds %#" PRIx64,
			 e->iova, got, e->pa, val);
	else
		r->reads_ok++;
}

/* Every page of guest RAM as the test says it must be. */
static void compare_page(struct rig *r, uint64_t pa)
{
	if (memcmp(r->q.ram + pa, r->shadow + pa, SZ_4K))
		mismatch(r, "guest RAM page %#" PRIx64 " changed behind the test",
			 (uint64_t)(RAM_BASE + pa));
}

static void compare_ram(struct rig *r)
{
	for_each_data(r, compare_page);
}

/* A random intent: ranges mapped into t; returns their count. */
struct range {
	uint64_t iova, len;
};

static unsigned int build_intent(struct rig *r, struct pt_table *t,
				 struct range *rs, unsigned int want)
{
	struct pt_gather g;
	uint64_t pa_next = TGT_PA;
	bool have_1g = false;
	unsigned int n = 0;
	uint64_t top = 1ull << t->va_bits;

	pt_gather_init(&g);
	assert_int_equal(pt_map_range(t, STAGE_IOVA, STAGE_PA, SZ_4K,
				      PT_PROT_READ, &g), 0);
	assert_int_equal(pt_map_range(t, BACK_IOVA, BACK_PA, SZ_4K,
				      PT_PROT_READ | PT_PROT_WRITE, &g), 0);
	for (unsigned int tries = 0; n < want && tries < want * 8; tries++) {
		uint64_t len, ialign, palign;
		unsigned int kind = (unsigned int)rnd_below(r, 6);
		switch (kind) {
		case 0: /* a 4K run, often across a 2M boundary */
			len = (1 + rnd_below(r, 700)) * SZ_4K;
			ialign = palign = SZ_4K;
			break;
		case 1: /* 2M blocks */
			len = (1 + rnd_below(r, 4)) * SZ_2M;
			ialign = palign = SZ_2M;
			break;
		case 2: /* 2M blocks then 4K pages */
			len = (1 + rnd_below(r, 2)) * SZ_2M +
			      (1 + rnd_below(r, 100)) * SZ_4K;
			ialign = palign = SZ_2M;
			break;
		case 3: /* 2M-aligned IOVA, PA only 4K-aligned: 4K leaves */
			len = SZ_2M + (1 + rnd_below(r, 50)) * SZ_4K;
			ialign = SZ_2M;
			palign = SZ_4K;
			break;
		case 4: /* one 1G block */
			if (have_1g)
				continue;
			len = SZ_1G;
			ialign = palign = SZ_1G;
			break;
		default: /* a few pages */
			len = (1 + rnd_below(r, 8)) * SZ_4K;
			ialign = palign = SZ_4K;
			break;
		}
		uint64_t iova = (SZ_1G * 4 + rnd_below(r, top - SZ_1G * 8)) &
				~(ialign - 1);
		uint64_t pa;
		if (kind == 4) {
			pa = TGT_1G;
		} else {
			pa = (pa_next + palign - 1) & ~(palign - 1);
			if (kind == 3)
				pa += SZ_4K;
			if (pa + len > TGT_END)
				continue;
		}
		uint32_t prot = PT_PROT_READ |
				(rnd_below(r, 5) ? PT_PROT_WRITE : 0);
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

static void add_word(struct rig *r, const struct pt_table *t, uint64_t iova,
		     struct expect *ex, unsigned int *nex)
{
	struct expect *e = &ex[(*nex)++];
	struct pt_leaf leaf;
	pt_oaddr_t pa;
	(void)r;
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

/* Expectations: first, last and a random word of sampled leaves; holes. */
static unsigned int plan(struct rig *r, const struct pt_table *t,
			 const struct range *rs, unsigned int n,
			 unsigned int leaves_per_range, struct expect *ex)
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
				     rnd_below(r, nleaves) < leaves_per_range);
			k++;
			if (!take)
				continue;
			taken++;
			uint64_t size = 1ull << leaf.size_lg2;
			add_word(r, t, leaf.va, ex, &nex);
			add_word(r, t, leaf.va + size - 8, ex, &nex);
			add_word(r, t, leaf.va + (rnd_below(r, size) & ~7ull),
				 ex, &nex);
		}
		/* The holes on either side (if they are holes) and one random. */
		add_word(r, t, rs[i].iova - 8, ex, &nex);
		add_word(r, t, rs[i].iova + rs[i].len, ex, &nex);
		add_word(r, t, (SZ_1G * 4 + rnd_below(r, (1ull << t->va_bits) - SZ_1G * 8)) & ~7ull,
			 ex, &nex);
	}
	return nex;
}

struct run_result {
	unsigned long dma, checks, mismatches, writes_ok, reads_ok, faults_ok;
};

/*
 * One run: a fresh QEMU, a random intent in a table of va_bits, every
 * planned check; flip_bit >= 0 flips address bit (leaf size lg2 + flip_bit) of the PTE of the
 * first planned writable leaf word after the expectations were taken.
 */
static struct run_result run_smmu(unsigned int va_bits, uint64_t seed,
				 unsigned int ranges, unsigned int leaves,
				 int flip_bit)
{
	static struct rig r;
	struct pt_table t;
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S1, .va_bits = va_bits,
			      .oa_bits = 48 };
	struct range *rs = calloc(ranges, sizeof(*rs));
	rig_start(&r, seed);
	assert_int_equal(pt_init(&t, &cfg, &pool_ops, &r), 0);
	unsigned int n = build_intent(&r, &t, rs, ranges);
	struct expect *ex = calloc((size_t)n * (3 * (leaves + 2) + 3) + 8, sizeof(*ex));
	unsigned int nex = plan(&r, &t, rs, n, leaves, ex);
	/* The tables pt wrote are RAM content the test expects. */
	memcpy(r.shadow + OFF(POOL_PA), r.q.ram + OFF(POOL_PA), POOL_END - POOL_PA);
	r.bad_on_purpose = flip_bit >= 0;
	if (flip_bit >= 0) {
		for (unsigned int i = 0; i < nex; i++) {
			if (ex[i].hole || !ex[i].writable)
				continue;
			/* Find the leaf's PTE: walk the table by hand. */
			uint64_t tpa = t.top_pa, pte_pa = 0;
			for (int lvl = (int)t.top_level; lvl >= 0; lvl--) {
				unsigned int idx = (ex[i].iova >> (12 + 9 * lvl)) & 511;
				pte_pa = tpa + idx * 8;
				uint64_t pte = get64(r.q.ram, pte_pa);
				if (lvl == 0 || !(pte & 2))   /* page or block */
					break;
				tpa = pte & 0x000ffffffffff000ull;
			}
			/* Bits below a block's size are RES0 and QEMU ignores them:
			 * flip one the leaf's output really uses. */
			uint64_t pte = get64(r.q.ram, pte_pa) ^
				       (1ull << (ex[i].size_lg2 + (unsigned int)flip_bit));
			put64(&r, pte_pa, pte);
			break;
		}
	}
	unsigned int by_size[3] = { 0, 0, 0 }, holes = 0;
	for (unsigned int i = 0; i < nex; i++) {
		if (ex[i].hole)
			holes++;
		else
			by_size[ex[i].size_lg2 == 30 ? 2 : ex[i].size_lg2 == 21]++;
	}
	load_table(&r, &t);
	for (unsigned int i = 0; i < nex; i++)
		check_one(&r, &ex[i]);
	compare_ram(&r);

	struct run_result res = {
		.dma = r.dma, .checks = nex, .mismatches = r.mismatches,
		.writes_ok = r.writes_ok, .reads_ok = r.reads_ok,
		.faults_ok = r.faults_ok,
	};
	printf("  arm-s1 %u-bit seed %#" PRIx64 "%s: %u ranges, %" PRIu64
	       " table pages, %u words, %lu DMAs: %lu writes and %lu reads landed, "
	       "%lu faults as expected, %lu mismatches (%" PRIu64 " qtest commands)\n",
	       va_bits, seed, flip_bit >= 0 ? " (negative control)" : "", n,
	       t.nr_tables, nex, r.dma, r.writes_ok, r.reads_ok, r.faults_ok,
	       r.mismatches, r.q.cmds);
	printf("    words in 4K leaves %u, 2M %u, 1G %u, holes %u\n",
	       by_size[0], by_size[1], by_size[2], holes);
	for (int i = 0; i < 256; i++)
		if (r.fault_reason[i])
			printf("    fault reason %d: %lu\n", i, r.fault_reason[i]);
	pt_deinit(&t);
	rig_stop(&r);
	free(ex);
	free(rs);
	return res;
}

/*
 * The switch on QEMU's SMMUv3: the context descriptor's TTB0 moves from
 * table A to table B (the same intent built again) with one 64-bit store
 * while edu keeps DMAing, then CFGI_CD (stream 0x18, SSID 0, leaf) and
 * TLBI_NH_ASID (ASID 1) through the command queue, each with CMD_SYNC;
 * then A's pages are poisoned. SW_SAFE must see no mismatch;
 * SW_NO_INVAL and SW_FREE_FIRST must show QEMU's cached configuration
 * walking the poisoned pages.
 */
enum sw_variant { SW_SAFE, SW_NO_INVAL, SW_FREE_FIRST };
static const char *const sw_name[] = { "safe", "no invalidation",
				       "poison before invalidation" };
#define TRAP_PA (RAM_BASE + 0x106000ull)

static void poison(struct rig *r, uint64_t from, uint64_t to)
{
	/* A page descriptor at every level: valid, table/page, AF. */
	for (uint64_t pa = from; pa < to; pa += 8)
		put64(r, pa, TRAP_PA | 3 | 1u << 10);
}

static struct run_result run_switch(enum sw_variant v, uint64_t seed,
				    unsigned int ranges)
{
	static struct rig r;
	struct pt_table a, b;
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S1, .va_bits = 48,
			      .oa_bits = 44 };
	struct range *rs = calloc(ranges, sizeof(*rs));
	rig_start(&r, seed);
	assert_int_equal(pt_init(&a, &cfg, &pool_ops, &r), 0);
	unsigned int n = build_intent(&r, &a, rs, ranges);
	uint64_t a_end = r.pool_next;
	r.rng = seed;
	assert_int_equal(pt_init(&b, &cfg, &pool_ops, &r), 0);
	assert_int_equal(build_intent(&r, &b, rs, ranges), n);
	struct expect *ex = calloc((size_t)n * (3 * 5 + 3) + 8, sizeof(*ex));
	unsigned int nex = plan(&r, &b, rs, n, 3, ex);
	memcpy(r.shadow + OFF(POOL_PA), r.q.ram + OFF(POOL_PA), POOL_END - POOL_PA);
	load_table(&r, &a);
	for (unsigned int i = 0; i < nex / 2; i++)
		check_one(&r, &ex[i]);
	r.bad_on_purpose = v != SW_SAFE;
	unsigned long before = r.mismatches;
	unsigned int i = nex / 2;
	put64(&r, CD_PA + 8, b.top_pa);   /* TTB0 */
	check_one(&r, &ex[i++ % nex]);
	if (v == SW_FREE_FIRST) {
		poison(&r, POOL_PA, a_end);
		for (unsigned int j = 0; j < 8; j++)
			check_one(&r, &ex[i++ % nex]);
	}
	if (v != SW_NO_INVAL) {
		cmdq(&r, 0x5 | (uint64_t)EDU_DEVFN << 32, 1);   /* CFGI_CD */
		check_one(&r, &ex[i++ % nex]);
		cmdq(&r, 0x11 | 1ull << 48, 0);                /* TLBI_NH_ASID */
	}
	if (v != SW_FREE_FIRST)
		poison(&r, POOL_PA, a_end);
	for (unsigned int j = 0; j < nex; j++)
		check_one(&r, &ex[j]);
	compare_ram(&r);
	struct run_result res = {
		.dma = r.dma, .checks = nex, .mismatches = r.mismatches,
		.writes_ok = r.writes_ok, .reads_ok = r.reads_ok,
		.faults_ok = r.faults_ok,
	};
	printf("  switch A -> B (%s), seed %#" PRIx64 ": %u ranges, %" PRIu64
	       " + %" PRIu64 " table pages, %lu DMAs: %lu writes and %lu reads "
	       "landed, %lu faults as expected, %lu mismatches (%lu before the switch)\n",
	       sw_name[v], seed, n, a.nr_tables, b.nr_tables, r.dma,
	       r.writes_ok, r.reads_ok, r.faults_ok, r.mismatches, before);
	assert_int_equal(before, 0);
	/* A's pages are poison now: they go with the pool, not pt_deinit. */
	pt_deinit(&b);
	rig_stop(&r);
	free(ex);
	free(rs);
	return res;
}

static const char *qemu_or_skip(void)
{
	const char *qemu = qt_find_qemu("aarch64");
	if (!qemu) {
		printf("  no qemu-system-aarch64 %s%s: skipped "
		       "(apt-get install qemu-system-arm, or make deps as root)\n",
		       getenv("IOH_QEMU_DIR") ? "in IOH_QEMU_DIR=" : "on PATH",
		       getenv("IOH_QEMU_DIR") ? getenv("IOH_QEMU_DIR") : "");
		skip();
	}
	return qemu;
}

static uint64_t base_seed(void)
{
	const char *s = getenv("IOH_QEMU_SEED");
	return s && *s ? strtoull(s, NULL, 0) : 0x5eed17;
}

static unsigned long total_dma;

static void test_smmu_conformance(void **state)
{
	(void)state;
	const char *qemu = qemu_or_skip();
	printf("  %s: %s\n", qemu, qt_qemu_version(qemu));
	unsigned int runs = full_run() ? 4 : 1;
	unsigned int ranges = full_run() ? 48 : 16;
	unsigned int leaves = full_run() ? 6 : 3;
	for (unsigned int i = 0; i < runs; i++) {
		for (unsigned int va = 39; va <= 48; va += 9) {
			struct run_result res = run_smmu(va, base_seed() + i * 2 + va,
							ranges, leaves, -1);
			total_dma += res.dma;
			assert_int_equal(res.mismatches, 0);
			assert_true(res.writes_ok > 0 && res.reads_ok > 0 &&
				    res.faults_ok > 0);
		}
	}
}

/* One leaf's address bit flipped: the run must see it. */
static void test_smmu_negative_control(void **state)
{
	(void)state;
	qemu_or_skip();
	struct run_result res = run_smmu(48, base_seed() + 99, 6, 1, 0);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
	res = run_smmu(39, base_seed() + 98, 6, 1, 1);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
}

static void test_smmu_switch(void **state)
{
	(void)state;
	qemu_or_skip();
	unsigned int runs = full_run() ? 3 : 1;
	for (unsigned int i = 0; i < runs; i++) {
		struct run_result res = run_switch(SW_SAFE, base_seed() + 50 + i,
						   full_run() ? 32 : 12);
		total_dma += res.dma;
		assert_int_equal(res.mismatches, 0);
		assert_true(res.writes_ok > 0 && res.faults_ok > 0);
	}
}

/* The unsafe switches must show QEMU's stale configuration. */
static void test_smmu_switch_unsafe(void **state)
{
	(void)state;
	qemu_or_skip();
	struct run_result res = run_switch(SW_NO_INVAL, base_seed() + 60, 12);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
	res = run_switch(SW_FREE_FIRST, base_seed() + 61, 12);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
}

static int report(void **state)
{
	(void)state;
	printf("  %lu edu DMAs through QEMU's SMMUv3 in all\n", total_dma);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smmu_conformance),
		cmocka_unit_test(test_smmu_negative_control),
		cmocka_unit_test(test_smmu_switch),
		cmocka_unit_test(test_smmu_switch_unsafe),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
