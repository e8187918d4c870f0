// SPDX-License-Identifier: MIT
/*
 * pt/'s VT-d second-stage tables judged by a machine nobody here wrote:
 * QEMU's intel-iommu on q35 (legacy mode: root table, context entry,
 * second-stage pointer), with QEMU's `edu` PCI device doing the DMA
 * (issue 17; docs/testing.md "QEMU as a second machine").
 *
 * The checks are tests/lib/qemu_rig.c's: for random intents, in tables
 * with the leaf sizes of the real VT-d drivers' profiles (intel-iommu
 * 4K+2M+1G, -sllps-2m, -sp_off 4K only, and the genpt-vtdss ones), edu
 * DMAs at the first, last and a random word of sampled leaves and into
 * holes: writes land where pt_iova_to_phys said, reads return what is
 * there, holes and read-only writes are in the fault recording register,
 * and nothing else in guest RAM changes. A negative control flips one
 * leaf's address bit; the switch moves edu's context entry to another
 * table under DMA, with two unsafe variants that must fail. This file is
 * only the VT-d programming: registers, context entries, the fault
 * recording register and the invalidation queue.
 *
 * Skips (with a message) when qemu-system-x86_64 is not installed.
 * IOH_QEMU_FULL=1 (make qemu-check) runs more intents and more checks;
 * IOH_QEMU_SEED picks the seed; IOH_QEMU_DIR points at another QEMU.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "tests/lib/qemu_rig.h"
#include "tests/lib/qtest.h"

/* Guest RAM layout (PA = offset of the shared file), beside qemu_rig's. */
#define ROOT_PA 0x100000ull
#define CTX_PA 0x101000ull
#define IQ_PA 0x102000ull
#define STATUS_PA 0x105000ull

/* QEMU facts: q35's DMAR unit and edu (hw/i386/intel_iommu*.[ch],
 * hw/misc/edu.c; the VT-d manual for the layout). */
#define DMAR 0xfed90000ull
#define R_CAP 0x08
#define R_ECAP 0x10
#define R_GCMD 0x18
#define R_GSTS 0x1c
#define R_RTADDR 0x20
#define R_CCMD 0x28
#define R_FSTS 0x34
#define R_FECTL 0x38
#define R_IQH 0x80
#define R_IQT 0x88
#define R_IQA 0x90
#define GCMD_TE (1u << 31)
#define GCMD_SRTP (1u << 30)
#define GCMD_QIE (1u << 26)
#define CCMD_ICC (1ull << 63)
#define CCMD_GLOBAL (1ull << 61)
#define IOTLB_IVT (1ull << 63)
#define IOTLB_GLOBAL (1ull << 60)
#define FSTS_PFO 1u
#define FSTS_PPF 2u
#define FRCD_F (1ull << 63)
#define EDU_BAR 0xfe000000ull

/* The rig's IOMMU state. */
#define FRCD(r) ((r)->priv[0])     /* fault recording register offset */
#define IOTLB(r) ((r)->priv[1])    /* IOTLB invalidation register offset */
#define IQ_TAIL(r) ((r)->priv[2])
#define IQ_SEQ(r) ((r)->priv[3])
#define IQ_DW(r) ((r)->priv[4])    /* 256-bit descriptors (scalable mode) */

static uint64_t dmar_rdq(struct qrig *r, uint64_t off)
{
	return qt_readq(&r->q, DMAR + off);
}

static void wait_gsts(struct qrig *r, uint32_t bit, bool set)
{
	for (int i = 0; i < 1000; i++)
		if (!!(qt_readl(&r->q, DMAR + R_GSTS) & bit) == set)
			return;
	fail_msg("GSTS bit %#x never became %d", bit, set);
}

static void wait_clear64(struct qrig *r, uint64_t off, uint64_t bit)
{
	for (int i = 0; i < 1000; i++)
		if (!(dmar_rdq(r, off) & bit))
			return;
	fail_msg("DMAR register %#" PRIx64 " bit never cleared", off);
}

static void flush_iotlb(struct qrig *r)
{
	qt_writeq(&r->q, DMAR + IOTLB(r), IOTLB_IVT | IOTLB_GLOBAL);
	wait_clear64(r, IOTLB(r), IOTLB_IVT);
}

/* Global context-cache and IOTLB invalidation through the registers. */
static void invalidate_all(struct qrig *r)
{
	qt_writeq(&r->q, DMAR + R_CCMD, CCMD_ICC | CCMD_GLOBAL);
	wait_clear64(r, R_CCMD, CCMD_ICC);
	flush_iotlb(r);
}

static void vtd_init(struct qrig *r)
{
	/* edu: vendor/device, BAR 0, memory decoding and bus mastering. */
	assert_int_equal(qt_pci_read(&r->q, QRIG_EDU_DEVFN, 0), 0x11e81234);
	qt_pci_write(&r->q, QRIG_EDU_DEVFN, 0x10, (uint32_t)EDU_BAR);
	qt_pci_write(&r->q, QRIG_EDU_DEVFN, 0x04, 0x6);
	assert_int_equal(qt_readl(&r->q, EDU_BAR), 0x010000ed);

	uint64_t cap = dmar_rdq(r, R_CAP), ecap = dmar_rdq(r, R_ECAP);
	FRCD(r) = ((cap >> 24) & 0x3ff) * 16;
	IOTLB(r) = ((ecap >> 8) & 0x3ff) * 16 + 8;
	assert_true(cap & (1ull << 10));   /* SAGAW: 4-level */
	assert_true(cap & (1ull << 9));    /* SAGAW: 3-level */
	qt_writel(&r->q, DMAR + R_FECTL, 1u << 31);   /* fault events masked */
}

/* Point bus 0 / edu's devfn at a second-stage table and turn TE on. */
static void vtd_load(struct qrig *r, const struct pt_table *t)
{
	unsigned int aw = t->va_bits == 48 ? 2 : 1;
	qrig_put64(r, ROOT_PA, CTX_PA | 1);
	qrig_put64(r, ROOT_PA + 8, 0);
	qrig_put64(r, CTX_PA + QRIG_EDU_DEVFN * 16, t->top_pa | 1);
	qrig_put64(r, CTX_PA + QRIG_EDU_DEVFN * 16 + 8, aw | 1u << 8);   /* DID 1 */
	qt_writeq(&r->q, DMAR + R_RTADDR, ROOT_PA);
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_SRTP);
	wait_gsts(r, 1u << 30, true);
	invalidate_all(r);
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_TE);
	wait_gsts(r, GCMD_TE, true);
}

/* The fault recording register (NFR 0: one), cleared after reading. */
static struct qrig_fault vtd_fault(struct qrig *r)
{
	struct qtest *q = &r->q;
	struct qrig_fault f = { 0, 0 };
	uint32_t fsts = qt_readl(q, DMAR + R_FSTS);
	if (fsts & FSTS_PPF) {
		f.hi = dmar_rdq(r, FRCD(r) + 8);
		f.lo = dmar_rdq(r, FRCD(r));
		qt_writel(q, DMAR + FRCD(r) + 12, (uint32_t)(FRCD_F >> 32));
	}
	if (fsts & FSTS_PFO)
		qt_writel(q, DMAR + R_FSTS, FSTS_PFO);
	return f;
}

/*
 * QEMU 7.2 records no fault for a write through a read-only translation
 * its IOTLB holds (a hit returns the permissions and the memory core
 * refuses the write silently; docs/testing.md): flush first so the write
 * walks the table, as the manual has it.
 */
static void vtd_before_ro_write(struct qrig *r)
{
	flush_iotlb(r);
}

/* The switch, as a hitless replace does it in legacy mode. */
static void qi_enable(struct qrig *r)
{
	IQ_TAIL(r) = 0;
	qt_writeq(&r->q, DMAR + R_IQT, 0);
	qt_writeq(&r->q, DMAR + R_IQA, IQ_PA);   /* 256 128-bit descriptors */
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_TE | GCMD_QIE);
	wait_gsts(r, GCMD_QIE, true);
}

/* One descriptor (its upper 128 bits zero when 256-bit), 4 KiB of queue. */
static void qi_push(struct qrig *r, uint64_t lo, uint64_t hi)
{
	uint64_t size = IQ_DW(r) ? 32 : 16, at = IQ_PA + IQ_TAIL(r) * size;
	qrig_put64(r, at, lo);
	qrig_put64(r, at + 8, hi);
	if (IQ_DW(r)) {
		qrig_put64(r, at + 16, 0);
		qrig_put64(r, at + 24, 0);
	}
	IQ_TAIL(r) = (IQ_TAIL(r) + 1) % (4096 / size);
}

/* Submit what was pushed plus a wait descriptor; poll its status write. */
static void qi_sync(struct qrig *r)
{
	uint32_t want = (uint32_t)++IQ_SEQ(r);
	qi_push(r, 0x5 | 1u << 5 | (uint64_t)want << 32, STATUS_PA);
	qt_writeq(&r->q, DMAR + R_IQT, IQ_TAIL(r) << (IQ_DW(r) ? 5 : 4));
	for (int i = 0; i < 10000; i++) {
		uint32_t got;
		memcpy(&got, r->q.ram + STATUS_PA, 4);
		if (got == want) {
			qrig_absorb(r, STATUS_PA, 4);
			return;
		}
		qt_readl(&r->q, DMAR + R_IQH);
	}
	fail_msg("invalidation wait never completed (FSTS %#x)",
		 qt_readl(&r->q, DMAR + R_FSTS));
}

/* One 64-bit store: B's root, present; domain id and width stay. */
static void vtd_switch_root(struct qrig *r, const struct pt_table *b)
{
	qrig_put64(r, CTX_PA + QRIG_EDU_DEVFN * 16, b->top_pa | 1);
}

/* Device-selective context-cache invalidation (domain 1, edu's source id). */
static void vtd_inval_config(struct qrig *r)
{
	qi_push(r, 0x1 | 3u << 4 | 1u << 16 | (uint64_t)QRIG_EDU_DEVFN << 32, 0);
	qi_sync(r);
}

/* Domain-selective IOTLB invalidation (domain 1). */
static void vtd_inval_tlb(struct qrig *r)
{
	qi_push(r, 0x2 | 2u << 4 | 1u << 16, 0);
	qi_sync(r);
}

static const char *const vtd_args[] = {
	"-machine", "q35,memory-backend=ram0",
	"-device", "intel-iommu,aw-bits=48,intremap=off",
	"-device", "edu,addr=03.0,dma_mask=0xffffffffffffffff",
	NULL,
};

static const struct qrig_ops vtd_ops = {
	.iommu = "intel-iommu",
	.target = "x86_64",
	.arch = QT_X86,
	.args = vtd_args,
	.ram_base = 0,
	.edu_bar = EDU_BAR,
	.init = vtd_init,
	.load = vtd_load,
	.fault = vtd_fault,
	.before_ro_write = vtd_before_ro_write,
	.switch_begin = qi_enable,
	.switch_root = vtd_switch_root,
	.inval_config = vtd_inval_config,
	.inval_tlb = vtd_inval_tlb,
	.poison = (0 + QRIG_TRAP) | 3,   /* read and write to the trap page */
	.switch_skips_ro = true,         /* RO words need the register flush */
};

/*
 * VT-d scalable mode, first stage (QEMU 10 with x-scalable-mode=on,
 * x-flts=on; 7.2 has no first-stage walk): root table in scalable mode
 * (RTADDR.TTM 01), edu's scalable-mode context entry (256 bits, lower
 * context table) pointing at a PASID directory, whose entry 0 points at
 * a PASID table whose entry 0 (RID_PASID 0, what a request without
 * PASID uses) is "first-stage only" with FSPTPTR = pt's x86-64 table,
 * 4-level, domain 1. Invalidation only through the queue (context
 * cache, PASID cache, PASID-based IOTLB, each with a wait).
 */
#define PDIR_PA 0x10a000ull
#define PTBL_PA 0x10b000ull
#define RTADDR_SMT (1ull << 10)

static void qi_start(struct qrig *r)
{
	IQ_TAIL(r) = 0;
	IQ_DW(r) = 1;
	qt_writeq(&r->q, DMAR + R_IQT, 0);
	qt_writeq(&r->q, DMAR + R_IQA, IQ_PA | 1u << 11);   /* DW: 128 256-bit */
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_QIE);
	wait_gsts(r, GCMD_QIE, true);
}

/* PASID-based IOTLB, PASID-selective (granularity 10b): domain 1,
 * PASID 0. */
static void fs_flush_iotlb(struct qrig *r)
{
	qi_push(r, 0x6 | 2u << 4 | 1u << 16, 0);
	qi_sync(r);
}

static void fs_load(struct qrig *r, const struct pt_table *t)
{
	assert_int_equal(t->top_level, 3);   /* 4-level, FSPM 0 */
	qrig_put64(r, ROOT_PA, CTX_PA | 1);   /* lower context table */
	qrig_put64(r, ROOT_PA + 8, 0);
	uint64_t ce = CTX_PA + QRIG_EDU_DEVFN * 32;
	qrig_put64(r, ce, PDIR_PA | 1);       /* P, PDTS 0 (128 entries) */
	qrig_put64(r, ce + 8, 0);             /* RID_PASID 0 */
	qrig_put64(r, ce + 16, 0);
	qrig_put64(r, ce + 24, 0);
	qrig_put64(r, PDIR_PA, PTBL_PA | 1);
	/* P, AW 2 (48-bit: QEMU 10 checks first-stage IOVAs against it),
	 * PGTT 001 first stage. */
	qrig_put64(r, PTBL_PA, 1 | 2u << 2 | 1u << 6);
	qrig_put64(r, PTBL_PA + 8, 1);        /* DID 1 */
	qrig_put64(r, PTBL_PA + 16, t->top_pa);   /* FSPTPTR, FSPM 0 */
	for (int i = 3; i < 8; i++)
		qrig_put64(r, PTBL_PA + 8 * i, 0);
	qt_writeq(&r->q, DMAR + R_RTADDR, ROOT_PA | RTADDR_SMT);
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_SRTP);
	wait_gsts(r, 1u << 30, true);
	qi_start(r);
	qi_push(r, 0x1 | 1u << 4, 0);         /* context cache, global */
	qi_sync(r);
	qi_push(r, 0x7 | 3u << 4, 0);         /* PASID cache, global */
	qi_sync(r);
	fs_flush_iotlb(r);
	qt_writel(&r->q, DMAR + R_GCMD, GCMD_TE | GCMD_QIE);
	wait_gsts(r, GCMD_TE, true);
}

static void fs_init(struct qrig *r)
{
	vtd_init(r);
	uint64_t ecap = dmar_rdq(r, R_ECAP);
	assert_true(ecap & (1ull << 43));   /* SMTS: scalable mode */
	assert_true(ecap & (1ull << 47));   /* FLTS: first stage */
}

static const char *const fs_args[] = {
	"-machine", "q35,memory-backend=ram0",
	"-device", "intel-iommu,aw-bits=48,intremap=off,x-scalable-mode=on,x-flts=on",
	"-device", "edu,addr=03.0,dma_mask=0xffffffffffffffff",
	NULL,
};

static const struct qrig_ops fs_ops = {
	.iommu = "intel-iommu first stage",
	.target = "x86_64",
	.arch = QT_X86,
	.args = fs_args,
	.ram_base = 0,
	.edu_bar = EDU_BAR,
	.init = fs_init,
	.load = fs_load,
	.fault = vtd_fault,
	.before_ro_write = fs_flush_iotlb,
};

static struct qrig rig;
static unsigned long total_dma;

static const char *qemu_or_skip(void)
{
	return qrig_qemu_or_skip("x86_64", "qemu-system-x86");
}

static struct qrig_run vtd_run(unsigned int va_bits, const char *profile,
			       uint64_t seed, unsigned int ranges,
			       unsigned int leaves)
{
	return (struct qrig_run){ .fmt = PT_FMT_VTD_SS, .va_bits = va_bits,
				  .oa_bits = 48, .profile = profile,
				  .ranges = ranges, .leaves = leaves,
				  .seed = seed, .flip_bit = -1 };
}

static void conform(const struct qrig_run *run)
{
	struct qrig_result res = qrig_conformance(&rig, &vtd_ops, run);
	total_dma += res.dma;
	assert_int_equal(res.mismatches, 0);
	assert_true(res.writes_ok > 0 && res.reads_ok > 0 && res.faults_ok > 0);
}

/*
 * Random intents in tables with each VT-d profile's leaf sizes. The
 * short version: intel-iommu at 48 bits, -sllps-2m at 39, a smaller
 * -sp_off; the long one every VT-d profile at both widths.
 */
static void test_vtd_conformance(void **state)
{
	(void)state;
	const char *qemu = qemu_or_skip();
	printf("  %s: %s\n", qemu, qt_qemu_version(qemu));
	uint64_t s = qrig_base_seed();
	if (!qrig_full_run()) {
		struct qrig_run runs[] = {
			vtd_run(39, "intel-iommu-sllps-2m", s + 39, 16, 3),
			vtd_run(48, "intel-iommu", s + 48, 16, 3),
			vtd_run(48, "intel-iommu-sp_off", s + 7, 5, 1),
		};
		for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
			conform(&runs[i]);
		return;
	}
	static const char *const profiles[] = {
		"intel-iommu", "intel-iommu-sllps-2m", "intel-iommu-sp_off",
		"genpt-vtdss", "genpt-vtdss-sllps-2m", "genpt-vtdss-sp_off",
	};
	for (size_t p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++)
		for (unsigned int va = 39; va <= 48; va += 9) {
			struct qrig_run run = vtd_run(va, profiles[p],
						      s + va + p * 16, 48, 6);
			conform(&run);
		}
}

/* One leaf's address bit flipped: the run must see it. */
static void test_vtd_negative_control(void **state)
{
	(void)state;
	qemu_or_skip();
	struct qrig_run run = vtd_run(48, NULL, qrig_base_seed() + 99, 6, 1);
	run.flip_bit = 12;
	struct qrig_result res = qrig_conformance(&rig, &vtd_ops, &run);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
	run = vtd_run(39, NULL, qrig_base_seed() + 98, 6, 1);
	run.flip_bit = 21;
	res = qrig_conformance(&rig, &vtd_ops, &run);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
}

static void test_vtd_switch(void **state)
{
	(void)state;
	qemu_or_skip();
	unsigned int runs = qrig_full_run() ? 3 : 1;
	for (unsigned int i = 0; i < runs; i++) {
		struct qrig_run run = vtd_run(48, NULL, qrig_base_seed() + 50 + i,
					      qrig_full_run() ? 32 : 12, 3);
		struct qrig_result res = qrig_switch(&rig, &vtd_ops, &run, QRIG_SW_SAFE);
		total_dma += res.dma;
		assert_int_equal(res.mismatches, 0);
		assert_true(res.writes_ok > 0 && res.faults_ok > 0);
	}
}

/* The unsafe switches must show QEMU's stale context entry. */
static void test_vtd_switch_unsafe(void **state)
{
	(void)state;
	qemu_or_skip();
	struct qrig_run run = vtd_run(48, NULL, qrig_base_seed() + 60, 12, 3);
	struct qrig_result res = qrig_switch(&rig, &vtd_ops, &run, QRIG_SW_NO_INVAL);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
	run.seed = qrig_base_seed() + 61;
	res = qrig_switch(&rig, &vtd_ops, &run, QRIG_SW_FREE_FIRST);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
}

/*
 * x86-64 first stage where the QEMU walks it (10.0 tried): pt's x86-64
 * tables (48-bit, IOVAs in the lower half) with the x86-64-fs (4K, 2M,
 * 1G) and x86-64-fs-no1g profiles' sizes, and a negative control.
 */
static void test_vtd_fs_conformance(void **state)
{
	(void)state;
	const char *qemu = qemu_or_skip();
	unsigned int v = qt_qemu_version_num(qemu);
	if (v < 1000) {
		printf("  %s is %u.%u: VT-d first stage (x-flts) needs QEMU 10 "
		       "(scripts/qemu-backports.sh, IOH_QEMU_DIR): skipped\n",
		       qemu, v / 100, v % 100);
		skip();
	}
	static const char *const profiles[] = { "x86-64-fs", "x86-64-fs-no1g" };
	unsigned int runs = qrig_full_run() ? 2 : 1;
	for (unsigned int i = 0; i < runs; i++)
		for (unsigned int p = 0; p < 2; p++) {
			struct qrig_run run = {
				.fmt = PT_FMT_X86_64, .va_bits = 48, .oa_bits = 48,
				.profile = profiles[p],
				.ranges = qrig_full_run() ? 48 : 16,
				.leaves = qrig_full_run() ? 6 : 3,
				.seed = qrig_base_seed() + 300 + i * 2 + p,
				.flip_bit = -1,
			};
			struct qrig_result res = qrig_conformance(&rig, &fs_ops, &run);
			total_dma += res.dma;
			assert_int_equal(res.mismatches, 0);
			assert_true(res.writes_ok > 0 && res.reads_ok > 0 &&
				    res.faults_ok > 0);
		}
	/* Negative control: the leaf's lowest address bit (bit 12 of a 2M
	 * or 1G leaf is PAT, not address) flipped. */
	struct qrig_run bad = {
		.fmt = PT_FMT_X86_64, .va_bits = 48, .oa_bits = 48,
		.ranges = 6, .leaves = 1, .seed = qrig_base_seed() + 399,
		.flip_bit = 0, .flip_above_leaf = true,
	};
	struct qrig_result res = qrig_conformance(&rig, &fs_ops, &bad);
	total_dma += res.dma;
	assert_true(res.mismatches > 0);
}

static int report(void **state)
{
	(void)state;
	printf("  %lu edu DMAs through QEMU's intel-iommu in all\n", total_dma);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vtd_conformance),
		cmocka_unit_test(test_vtd_negative_control),
		cmocka_unit_test(test_vtd_switch),
		cmocka_unit_test(test_vtd_switch_unsafe),
		cmocka_unit_test(test_vtd_fs_conformance),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
