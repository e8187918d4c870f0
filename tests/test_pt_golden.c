// SPDX-License-Identifier: MIT
/*
 * Golden page-table entries, derived by hand from the manuals rather than
 * from pt/fmt_*.c: every format, every leaf level (4K page, 2M and 1G
 * blocks), ARM contiguous runs (64K at ARM level 3, 32M at ARM level 2),
 * the table entries on the way down, every generic protection
 * combination a format can express and the ones it must refuse, and the
 * decoder on malformed entries.
 *
 * Sources (docs/reference.md section 1 has the facts as gathered; its
 * section 6 maps the Arm ARM numbers below onto issue M.a.a):
 *   ARM  Arm ARM DDI 0487, D8.3 (VMSAv8-64 descriptor formats, 4 KiB
 *        granule), D8.4 (memory access control: AP[2:1], S2AP, XN),
 *        D8.6 (contiguous bit).
 *   VT-d Intel VT-d specification, 9.8 (second-stage paging entries).
 *   x86  Intel SDM vol. 3A, 4.5 and tables 4-15..4-20 (4- and 5-level
 *        paging entries), 4.6 (access rights).
 *
 * pt levels (pt.h): 0 = 4K item (ARM L3, SS-PTE, PTE), 1 = 2M (ARM L2,
 * SS-PDE, PDE), 2 = 1G (ARM L1, SS-PDPTE, PDPTE), 3 = ARM L0 / PML4E,
 * 4 = PML5E.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "tests/lib/pt_testmem.h"

#define BIT(n) (1ull << (n))
/* Bits h..l inclusive. */
#define MASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))

#define R PT_PROT_READ
#define W PT_PROT_WRITE
#define C PT_PROT_CACHE
#define NX PT_PROT_NOEXEC
#define PRIV PT_PROT_PRIV

/* ---- manual facts ----------------------------------------------------- */

/*
 * Arm ARM D8.3, 4 KiB granule, 48-bit OA (no FEAT_LPA2):
 * bits 1:0 = 11 table (levels 0-2) or page (level 3), 01 block (levels
 * 1-2), x0 invalid; next-table and output address in bits 47:12 (a level 2
 * block uses 47:21, level 1 47:30, the bits below are RES0); bits 49:48
 * RES0. Lower leaf attributes: stage 1 AttrIndx 4:2, NS 5, AP[2:1] 7:6
 * (AP[1] = bit 6: EL0 / unprivileged access, AP[2] = bit 7: read-only),
 * SH 9:8 (10 outer, 11 inner shareable), AF 10, nG 11; stage 2 MemAttr
 * 5:2, S2AP 7:6 (bit 6 read, bit 7 write), SH 9:8, AF 10, bit 11 RES0
 * (FnXS only with FEAT_XS). Upper: DBM 51, Contiguous 52, stage 1 PXN 53
 * and UXN 54, stage 2 XN[1] 54 (XN[0] = bit 53 only with FEAT_XNX).
 */
#define ARM_TYPE_TABLE 3ull
#define ARM_TYPE_PAGE 3ull
#define ARM_TYPE_BLOCK 1ull
#define ARM_ADDR MASK(47, 12)
#define ARM_ATTRINDX(n) ((uint64_t)(n) << 2)
#define ARM_AP_EL0 BIT(6)
#define ARM_AP_RO BIT(7)
#define ARM_SH_OUTER (2ull << 8)
#define ARM_SH_INNER (3ull << 8)
#define ARM_AF BIT(10)
#define ARM_NG BIT(11)
#define ARM_CONT BIT(52)
#define ARM_PXN BIT(53)
#define ARM_UXN BIT(54)
#define ARM_S2_MEMATTR(n) ((uint64_t)(n) << 2)
#define ARM_S2AP_R BIT(6)
#define ARM_S2AP_W BIT(7)
#define ARM_S2_XN BIT(54)
/*
 * Memory types. Stage 1 points AttrIndx into MAIR; the SMMU driver
 * convention (Linux io-pgtable-arm, docs/reference.md section 1.1) is
 * index 0 = Normal non-cacheable, 1 = Normal write-back. Stage 2 MemAttr
 * encodes the type directly (D8.5.5, FWB = 0): 0b1111 Normal outer+inner
 * write-back, 0b0101 Normal outer+inner non-cacheable.
 */
#define MAIR_IDX_NC 0
#define MAIR_IDX_WB 1
#define S2_MEMATTR_WB 0xfull
#define S2_MEMATTR_NC 0x5ull

/*
 * VT-d 9.8: R 0, W 1, PS 7 (SS-PDE / SS-PDPTE only; reserved in SS-PML4E
 * and SS-PML5E), A 8, D 9, SNP 11 (leaves), address 51:12 (a 2M leaf uses
 * 51:21 with 20:12 reserved, a 1G leaf 51:30 with 29:12 reserved). No
 * present bit: an entry with R = W = 0 is not present at every level
 * (Linux dma_pte_present tests bits 1:0); software keeps such entries 0.
 */
#define VTD_R BIT(0)
#define VTD_W BIT(1)
#define VTD_PS BIT(7)
#define VTD_SNP BIT(11)
#define VTD_ADDR MASK(51, 12)

/*
 * SDM 4.5, tables 4-15..4-20: P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6
 * (leaves), PS 7 in PDPTE / PDE (reserved, must be 0, in PML4E and
 * PML5E; PAT in a PTE), address 51:12 (large pages: PAT at 12, 20:13 resp.
 * 29:13 reserved), XD 63.
 */
#define X86_P BIT(0)
#define X86_RW BIT(1)
#define X86_US BIT(2)
#define X86_PCD BIT(4)
#define X86_A BIT(5)
#define X86_D BIT(6)
#define X86_PS BIT(7)
#define X86_XD BIT(63)
#define X86_ADDR MASK(51, 12)

/* ---- the expected encodings ------------------------------------------- */

/*
 * Generic protection -> expected error, from what each manual can
 * express:
 *  - unknown bits, or neither READ nor WRITE: -PT_EINVAL (pt.h);
 *  - ARM stage 1 (D8.4.1, AP[2:1] table: 00 RW/none, 01 RW/RW, 10 RO/none,
 *    11 RO/RO) and x86 (SDM 4.6: a present entry always permits reads)
 *    have no write-only encoding: -PT_EOPNOTSUPP;
 *  - ARM stage 2 (S2AP) and VT-d second stage (R/W) have no privilege
 *    level: PRIV is -PT_EOPNOTSUPP.
 */
static int expected_err(enum pt_format_id fmt, uint32_t prot)
{
	if (prot & ~PT_PROT_ALL)
		return -PT_EINVAL;
	if (!(prot & (R | W)))
		return -PT_EINVAL;
	switch (fmt) {
	case PT_FMT_ARM_S1:
	case PT_FMT_X86_64:
		return (prot & R) ? 0 : -PT_EOPNOTSUPP;
	case PT_FMT_ARM_S2:
	case PT_FMT_VTD_SS:
		return (prot & PRIV) ? -PT_EOPNOTSUPP : 0;
	default:
		fail();
	}
	return 0;
}

/* D8.3 / D8.4: stage 1 leaf bits apart from the output address. */
static uint64_t arm_s1_bits(unsigned int level, uint32_t prot)
{
	uint64_t e = (level == 0 ? ARM_TYPE_PAGE : ARM_TYPE_BLOCK) | ARM_AF |
		     ARM_NG;
	if (!(prot & W))
		e |= ARM_AP_RO;
	if (!(prot & PRIV))
		e |= ARM_AP_EL0;
	if (prot & C)
		e |= ARM_ATTRINDX(MAIR_IDX_WB) | ARM_SH_INNER;
	else
		e |= ARM_ATTRINDX(MAIR_IDX_NC) | ARM_SH_OUTER;
	/* Not executable at EL1 (PXN) nor EL0 (UXN). */
	if (prot & NX)
		e |= ARM_PXN | ARM_UXN;
	return e;
}

/*
 * D8.3 / D8.4.3: stage 2 leaf bits. XN[1:0] = 10 (bit 54 alone) is
 * "execute never at any EL" both with and without FEAT_XNX; Linux's
 * io-pgtable-arm writes 3 << 53, which with FEAT_XNX means "executable at
 * EL1", so bit 54 alone is the manual-correct choice.
 */
static uint64_t arm_s2_bits(unsigned int level, uint32_t prot)
{
	uint64_t e = (level == 0 ? ARM_TYPE_PAGE : ARM_TYPE_BLOCK) | ARM_AF;
	if (prot & R)
		e |= ARM_S2AP_R;
	if (prot & W)
		e |= ARM_S2AP_W;
	if (prot & C)
		e |= ARM_S2_MEMATTR(S2_MEMATTR_WB) | ARM_SH_INNER;
	else
		e |= ARM_S2_MEMATTR(S2_MEMATTR_NC) | ARM_SH_OUTER;
	if (prot & NX)
		e |= ARM_S2_XN;
	return e;
}

/* VT-d 9.8: R, W, PS on 2M/1G leaves, SNP forces snooping (coherent). */
static uint64_t vtd_bits(unsigned int level, uint32_t prot)
{
	uint64_t e = level ? VTD_PS : 0;
	if (prot & R)
		e |= VTD_R;
	if (prot & W)
		e |= VTD_W;
	if (prot & C)
		e |= VTD_SNP;
	return e;
}

/*
 * SDM 4.5: P, A preset (the IOMMU need not write it back), R/W and D for
 * writable leaves, U/S unless privileged, PCD for non-cacheable, XD for
 * no-exec, PS on 2M/1G leaves.
 */
static uint64_t x86_bits(unsigned int level, uint32_t prot)
{
	uint64_t e = X86_P | X86_A | (level ? X86_PS : 0);
	if (prot & W)
		e |= X86_RW | X86_D;
	if (!(prot & PRIV))
		e |= X86_US;
	if (!(prot & C))
		e |= X86_PCD;
	if (prot & NX)
		e |= X86_XD;
	return e;
}

struct fmt_facts {
	enum pt_format_id fmt;
	uint64_t addr;       /* address field of table and leaf entries */
	uint64_t table_bits; /* every non-address bit of a table entry */
	unsigned int oa_bits;
	uint64_t (*leaf_bits)(unsigned int level, uint32_t prot);
	uint64_t contig_bit; /* 0: no contiguous runs */
};

static const struct fmt_facts facts[PT_FMT_COUNT] = {
	/* D8.3: a table descriptor is address | 0b11; the hierarchical
	 * attributes (bits 63:59) are left 0 = no restriction. */
	[PT_FMT_ARM_S1] = { PT_FMT_ARM_S1, ARM_ADDR, ARM_TYPE_TABLE, 48,
			    arm_s1_bits, ARM_CONT },
	[PT_FMT_ARM_S2] = { PT_FMT_ARM_S2, ARM_ADDR, ARM_TYPE_TABLE, 48,
			    arm_s2_bits, ARM_CONT },
	/* VT-d 9.8: non-leaf entries carry R|W (ANDed down the walk). */
	[PT_FMT_VTD_SS] = { PT_FMT_VTD_SS, VTD_ADDR, VTD_R | VTD_W, 52,
			    vtd_bits, 0 },
	/* SDM 4.5: P|R/W|U/S|A, so the leaf alone decides the access. */
	[PT_FMT_X86_64] = { PT_FMT_X86_64, X86_ADDR,
			    X86_P | X86_RW | X86_US | X86_A, 52, x86_bits, 0 },
};

/*
 * What pt_fmt_decode should report for a leaf written with prot: the
 * same, except that VT-d second stage has no execute permission to grant
 * (the X bit is never set for DMA), so its leaves always read as NOEXEC.
 */
static uint32_t decoded_prot(enum pt_format_id fmt, uint32_t prot)
{
	return fmt == PT_FMT_VTD_SS ? prot | NX : prot;
}

/* ---- hand-computed literals --------------------------------------------- */

/*
 * A few entries written out bit by bit, as a check on the helpers above
 * (which would otherwise check the library only against themselves).
 */
struct literal {
	enum pt_format_id fmt;
	unsigned int level;
	uint32_t prot;
	uint64_t oa;
	uint64_t entry;
};

static const struct literal literals[] = {
	/* ARM S1 page, RW cacheable unprivileged: 11 | AttrIndx 1 (0x4) |
	 * AP 01 (0x40) | SH 11 (0x300) | AF (0x400) | nG (0x800). */
	{ PT_FMT_ARM_S1, 0, R | W | C, 0x0000123456789000ull,
	  0x0000123456789f47ull },
	/* ARM S1 2M block, RO NC privileged no-exec: 01 | AttrIndx 0 |
	 * AP 10 (0x80) | SH 10 (0x200) | AF | nG | PXN | UXN. */
	{ PT_FMT_ARM_S1, 1, R | NX | PRIV, 0x0000000080200000ull,
	  0x0060000080200e81ull },
	/* ARM S1 1G block, RW NC: 01 | AP 01 | SH 10 | AF | nG. */
	{ PT_FMT_ARM_S1, 2, R | W, 0x0000800040000000ull,
	  0x0000800040000e41ull },
	/* ARM S2 page RW cacheable: 11 | MemAttr 1111 (0x3c) | S2AP 11
	 * (0xc0) | SH 11 | AF. */
	{ PT_FMT_ARM_S2, 0, R | W | C, 0x0000fedcba987000ull,
	  0x0000fedcba9877ffull },
	/* ARM S2 2M block, write-only NC no-exec: 01 | MemAttr 0101 (0x14)
	 * | S2AP 10 (0x80) | SH 10 | AF | XN[1]. */
	{ PT_FMT_ARM_S2, 1, W | NX, 0x0000000000400000ull,
	  0x0040000000400695ull },
	/* ARM S2 1G block, read-only cacheable. */
	{ PT_FMT_ARM_S2, 2, R | C, 0x0000004000000000ull,
	  0x000000400000077dull },
	/* VT-d SS-PTE RW snooped: R | W | SNP. */
	{ PT_FMT_VTD_SS, 0, R | W | C, 0x000f123456789000ull,
	  0x000f123456789803ull },
	/* VT-d SS-PDE 2M read-only: R | PS. */
	{ PT_FMT_VTD_SS, 1, R, 0x0008000000200000ull,
	  0x0008000000200081ull },
	/* VT-d SS-PDPTE 1G write-only snooped: W | PS | SNP. */
	{ PT_FMT_VTD_SS, 2, W | C | NX, 0x0000000140000000ull,
	  0x0000000140000882ull },
	/* x86 PTE RW cacheable user: P | R/W | U/S | A | D. */
	{ PT_FMT_X86_64, 0, R | W | C, 0x000abcdef0123000ull,
	  0x000abcdef0123067ull },
	/* x86 2M PDE RO uncached supervisor no-exec: P | PCD | A | PS | XD. */
	{ PT_FMT_X86_64, 1, R | PRIV | NX, 0x0000000000600000ull,
	  0x80000000006000b1ull },
	/* x86 1G PDPTE RW cacheable supervisor: P | R/W | A | D | PS. */
	{ PT_FMT_X86_64, 2, R | W | C | PRIV, 0x000fffffc0000000ull,
	  0x000fffffc00000e3ull },
};

static void test_literals_agree_with_helpers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		const struct literal *l = &literals[i];
		const struct fmt_facts *ff = &facts[l->fmt];
		assert_int_equal(ff->leaf_bits(l->level, l->prot) | l->oa,
				 l->entry);
	}
}

/* ---- fixture and walker ------------------------------------------------- */

struct fx {
	enum pt_format_id fmt;
	struct pt_testmem mem;
	struct pt_table t;
};

static void fx_init(struct fx *x, enum pt_format_id fmt, unsigned int va_bits,
		    uint64_t pgsizes)
{
	x->fmt = fmt;
	assert_int_equal(ptm_init(&x->mem, 64, 0x7654300000ull), 0);
	struct pt_cfg cfg = { .fmt = fmt, .va_bits = va_bits,
			      .oa_bits = facts[fmt].oa_bits,
			      .pgsizes = pgsizes };
	assert_int_equal(pt_init(&x->t, &cfg, &x->mem.ops, &x->mem), 0);
}

static void fx_fini(struct fx *x)
{
	pt_deinit(&x->t);
	ptm_invalidate_done(&x->mem);
	assert_int_equal(x->mem.in_use, 0);
	ptm_destroy(&x->mem);
}

static unsigned int nonzero_words(const uint64_t *table)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < PT_TABLE_ITEMS; i++)
		n += table[i] != 0;
	return n;
}

/*
 * Walk from the top to the table at leaf_level holding va, by the manual's
 * rules (not the library's): every entry on the way must be exactly
 * table bits | address of a live arena page, decode as a table to that
 * address, and be the only entry of its table (one mapping was made).
 */
static uint64_t *walk_to(struct fx *x, uint64_t va, unsigned int leaf_level)
{
	const struct fmt_facts *ff = &facts[x->fmt];
	uint64_t *table = x->t.top;
	for (unsigned int level = x->t.top_level; level > leaf_level; level--) {
		assert_int_equal(nonzero_words(table), 1);
		uint64_t e = table[pt_level_index(va, level)];
		uint64_t pa = e & ff->addr;
		assert_int_equal(e & ~ff->addr, ff->table_bits);
		assert_true(ptm_page_live(&x->mem, pa));
		struct pt_entry_info info;
		pt_fmt_decode(x->t.fmt, e, level, &info);
		assert_int_equal(info.type, PT_ENTRY_TABLE);
		assert_int_equal(info.oa, pa);
		table = x->mem.ops.phys_to_virt(&x->mem, pa);
		assert_non_null(table);
	}
	return table;
}

/* ---- every format x level x size x protection --------------------------- */

struct leaf_kind {
	unsigned int size_lg2;  /* mapping size */
	unsigned int level;     /* pt level of its entries */
	unsigned int n;         /* entries written: 16 for a contiguous run */
};

/* D8.6: 16 contiguous entries at ARM level 3 (64K) and level 2 (32M). */
static const struct leaf_kind kinds[] = {
	{ 12, 0, 1 }, { 16, 0, 16 }, { 21, 1, 1 }, { 25, 1, 16 }, { 30, 2, 1 },
};

/*
 * An IOVA with a different index at every level (so a wrong level shift
 * shows), aligned down to size. In x86 the top index is >= 256: the upper,
 * sign-extended half.
 */
static uint64_t pattern_va(enum pt_format_id fmt, unsigned int va_bits,
			   unsigned int size_lg2)
{
	static const unsigned int idx[5] = { 0x0f5, 0x0e7, 0x0c3, 0x1c5, 0x1ab };
	unsigned int levels = (unsigned int)pt_fmt_levels_for(fmt, va_bits);
	uint64_t va = 0;
	for (unsigned int l = 0; l < levels; l++)
		va |= (uint64_t)idx[l] << (12 + 9 * l);
	va &= (1ull << va_bits) - 1;
	va &= ~((1ull << size_lg2) - 1);
	if (fmt == PT_FMT_X86_64 && (va >> (va_bits - 1)) & 1)
		va |= ~0ull << va_bits;
	return va;
}

/* An output address using the top bits the format has (51:48 on VT-d and
 * x86), aligned to size. */
static uint64_t pattern_oa(enum pt_format_id fmt, unsigned int size_lg2)
{
	uint64_t oa = facts[fmt].oa_bits == 52 ? 0x000f9a543210f000ull :
						 0x00009a543210f000ull;
	return oa & ~((1ull << size_lg2) - 1);
}

struct cfg_case {
	enum pt_format_id fmt;
	unsigned int va_bits;
};

static const struct cfg_case cfgs[] = {
	{ PT_FMT_ARM_S1, 48 }, { PT_FMT_ARM_S1, 39 },
	{ PT_FMT_ARM_S2, 48 }, { PT_FMT_ARM_S2, 39 },
	{ PT_FMT_VTD_SS, 39 }, { PT_FMT_VTD_SS, 48 }, { PT_FMT_VTD_SS, 57 },
	{ PT_FMT_X86_64, 48 }, { PT_FMT_X86_64, 57 },
};

static void check_one(const struct cfg_case *cc, const struct leaf_kind *k,
		      uint32_t prot)
{
	const struct fmt_facts *ff = &facts[cc->fmt];
	struct fx x;
	fx_init(&x, cc->fmt, cc->va_bits, 0);
	uint64_t va = pattern_va(cc->fmt, cc->va_bits, k->size_lg2);
	uint64_t oa = pattern_oa(cc->fmt, k->size_lg2);
	uint64_t len = 1ull << k->size_lg2;
	int want = expected_err(cc->fmt, prot);
	int err = pt_map_range(&x.t, va, oa, len, prot, NULL);
	if (err != want)
		fail_msg("%s va_bits %u size 2^%u prot %#x: map gave %d, want %d",
			 pt_fmt_name(cc->fmt), cc->va_bits, k->size_lg2, prot,
			 err, want);
	if (want) {
		/* Refused: nothing written, nothing allocated. */
		assert_int_equal(nonzero_words(x.t.top), 0);
		assert_int_equal(x.t.nr_tables, 1);
		assert_int_equal(x.mem.in_use, 1);
		fx_fini(&x);
		return;
	}
	assert_int_equal(x.t.nr_tables, x.t.top_level - k->level + 1);
	uint64_t *table = walk_to(&x, va, k->level);
	assert_int_equal(nonzero_words(table), k->n);
	unsigned int idx = pt_level_index(va, k->level);
	unsigned int ilg2 = 12 + 9 * k->level;
	uint64_t bits = ff->leaf_bits(k->level, prot) |
			(k->n > 1 ? ff->contig_bit : 0);
	for (unsigned int i = 0; i < k->n; i++) {
		/* D8.6: each entry of a run carries its own output address. */
		uint64_t item_oa = oa + ((uint64_t)i << ilg2);
		uint64_t want_e = bits | item_oa;
		uint64_t e = table[idx + i];
		if (e != want_e)
			fail_msg("%s va_bits %u size 2^%u prot %#x entry %u: "
				 "%#018llx, want %#018llx",
				 pt_fmt_name(cc->fmt), cc->va_bits, k->size_lg2,
				 prot, i, (unsigned long long)e,
				 (unsigned long long)want_e);
		struct pt_entry_info info;
		pt_fmt_decode(x.t.fmt, e, k->level, &info);
		assert_int_equal(info.type, PT_ENTRY_LEAF);
		assert_int_equal(info.oa, item_oa);
		assert_int_equal(info.size_lg2, ilg2);
		assert_int_equal(info.contig, k->n > 1);
		assert_int_equal(info.prot, decoded_prot(cc->fmt, prot));
	}
	/* The library's own view agrees with the bits. */
	struct pt_leaf leaf;
	assert_int_equal(pt_leaf_at(&x.t, va + len - 1, &leaf), 0);
	assert_int_equal(leaf.va, va);
	assert_int_equal(leaf.oa, oa);
	assert_int_equal(leaf.size_lg2, k->size_lg2);
	assert_int_equal(leaf.level, k->level);
	assert_int_equal(leaf.contig, k->n > 1);
	assert_int_equal(leaf.prot, decoded_prot(cc->fmt, prot));
	pt_oaddr_t out;
	assert_int_equal(pt_iova_to_phys(&x.t, va + len - 8, &out), 0);
	assert_int_equal(out, oa + len - 8);
	fx_fini(&x);
}

static void test_leaves_every_prot(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		const struct cfg_case *cc = &cfgs[c];
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (kinds[k].n > 1 && !facts[cc->fmt].contig_bit)
				continue;
			/* All 32 combinations of the five bits, and
			 * unknown bits on top of a valid one. */
			for (uint32_t prot = 0; prot <= PT_PROT_ALL; prot++)
				check_one(cc, &kinds[k], prot);
			check_one(cc, &kinds[k], R | BIT(5));
			check_one(cc, &kinds[k], R | W | BIT(31));
		}
	}
}

/* The literals go through the library too, at the level they name. */
static void test_literals_mapped(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		const struct literal *l = &literals[i];
		struct fx x;
		fx_init(&x, l->fmt, 48, 0);
		unsigned int lg2 = 12 + 9 * l->level;
		uint64_t va = 0x0000004000000000ull + (3ull << lg2);
		assert_int_equal(pt_map_range(&x.t, va, l->oa, 1ull << lg2,
					      l->prot, NULL), 0);
		uint64_t *table = walk_to(&x, va, l->level);
		assert_int_equal(table[pt_level_index(va, l->level)], l->entry);
		fx_fini(&x);
	}
}

/*
 * D8.6: with the 4K granule the contiguous hint groups 16 entries at ARM
 * levels 3, 2 and 1: 64 KiB, 32 MiB and 16 GiB. A 16 GiB aligned range
 * becomes one run of 16 1G blocks, each with its own output address.
 */
static void test_sizes_and_contig_facts(void **state)
{
	(void)state;
	const uint64_t all = PT_SZ_4K | PT_SZ_64K | PT_SZ_2M | PT_SZ_32M |
			     PT_SZ_1G | (16ull << 30);
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_ARM_S1), all);
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_ARM_S2), all);
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_VTD_SS), PT_SZ_4K | PT_SZ_2M | PT_SZ_1G);
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_X86_64), PT_SZ_4K | PT_SZ_2M | PT_SZ_1G);
	const struct pt_fmt *arm = pt_fmt_get(PT_FMT_ARM_S1);
	assert_int_equal(pt_fmt_run_lg2s(arm, 0), BIT(4));
	assert_int_equal(pt_fmt_run_lg2s(arm, 1), BIT(4));
	assert_int_equal(pt_fmt_run_lg2s(arm, 2), BIT(4));
	assert_int_equal(pt_fmt_run_lg2s(arm, 3), 0);
	assert_false(pt_fmt_runs_replicated(arm));
	assert_int_equal(pt_fmt_run_lg2s(pt_fmt_get(PT_FMT_VTD_SS), 0), 0);
	assert_int_equal(pt_fmt_run_lg2s(pt_fmt_get(PT_FMT_X86_64), 1), 0);

	struct fx x;
	fx_init(&x, PT_FMT_ARM_S2, 48, 0);
	const uint64_t va = 0x0000000400000000ull, oa = 0x0000001400000000ull;
	assert_int_equal(pt_map_range(&x.t, va, oa, 16ull << 30, R | W, NULL), 0);
	uint64_t *table = walk_to(&x, va, 2);
	assert_int_equal(nonzero_words(table), 16);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(table[pt_level_index(va, 2) + i],
				 arm_s2_bits(2, R | W) | ARM_CONT |
				 (oa + ((uint64_t)i << 30)));
	fx_fini(&x);

	/* Without 64K/32M allowed, the same ranges are plain entries. */
	fx_init(&x, PT_FMT_ARM_S1, 48, PT_SZ_4K | PT_SZ_2M | PT_SZ_1G);
	assert_int_equal(pt_map_range(&x.t, 0x2000000, 0x4000000, 1ull << 25,
				      R | W | C, NULL), 0);
	table = walk_to(&x, 0x2000000, 1);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(table[pt_level_index(0x2000000, 1) + i],
				 arm_s1_bits(1, R | W | C) |
				 (0x4000000 + ((uint64_t)i << 21)));
	fx_fini(&x);
}

/* ---- decoding malformed entries ------------------------------------------ */

struct bad_case {
	enum pt_format_id fmt;
	unsigned int level;
	uint64_t entry;
	enum pt_entry_type want;
	const char *why;
};

static const struct bad_case bad_cases[] = {
	/* D8.3: at level 3, 0b01 is reserved, so invalid. */
	{ PT_FMT_ARM_S1, 0, 0x0000000012345000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM L3 descriptor 0b01" },
	{ PT_FMT_ARM_S2, 0, 0x0000000012345000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM S2 L3 descriptor 0b01" },
	/* D8.3: level 0 holds tables only (4K granule, no FEAT_LPA2). */
	{ PT_FMT_ARM_S1, 3, 0x0000008000000000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM L0 block" },
	{ PT_FMT_ARM_S2, 3, 0x0000008000000000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM S2 L0 block" },
	/* D8.3: bit 0 clear = invalid whatever the rest holds. */
	{ PT_FMT_ARM_S1, 1, 0xfffffffffffffffeull, PT_ENTRY_EMPTY,
	  "ARM invalid with junk" },
	/* D8.3: bits 49:48 RES0 with a 48-bit OA (leaf and table). */
	{ PT_FMT_ARM_S1, 0, BIT(48) | 0x5000 | 3 | ARM_AF, PT_ENTRY_BAD,
	  "ARM page with bit 48" },
	{ PT_FMT_ARM_S2, 1, BIT(49) | 0x200000 | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM S2 block with bit 49" },
	{ PT_FMT_ARM_S1, 2, BIT(48) | 0x7000 | 3, PT_ENTRY_BAD,
	  "ARM table with bit 48" },
	/* Stage 2 bit 11 is RES0 (nG has no stage 2 meaning; FnXS needs
	 * FEAT_XS). */
	{ PT_FMT_ARM_S2, 0, 0x5000 | 3 | ARM_AF | BIT(11), PT_ENTRY_BAD,
	  "ARM S2 page with bit 11" },
	/* D8.3: output bits below the block size are RES0. */
	{ PT_FMT_ARM_S1, 1, 0x00201000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM 2M block, OA bit 12" },
	{ PT_FMT_ARM_S2, 2, 0x40200000ull | 1 | ARM_AF, PT_ENTRY_BAD,
	  "ARM 1G block, OA bit 21" },
	/* VT-d 9.8: R = W = 0 is not present, at every level. */
	{ PT_FMT_VTD_SS, 0, 0x0000000012345000ull | VTD_SNP, PT_ENTRY_BAD,
	  "VT-d PTE without R/W" },
	{ PT_FMT_VTD_SS, 1, 0x0000000000200000ull | VTD_PS, PT_ENTRY_BAD,
	  "VT-d 2M leaf without R/W" },
	{ PT_FMT_VTD_SS, 1, 0x0000000012345000ull, PT_ENTRY_BAD,
	  "VT-d PDE (table) without R/W" },
	{ PT_FMT_VTD_SS, 3, 0x0000000012345000ull, PT_ENTRY_BAD,
	  "VT-d PML4E without R/W" },
	/* VT-d 9.8: PS is reserved in SS-PML4E / SS-PML5E. */
	{ PT_FMT_VTD_SS, 3, 0x0000000040000000ull | VTD_PS | VTD_R | VTD_W,
	  PT_ENTRY_BAD, "VT-d PS in PML4E" },
	{ PT_FMT_VTD_SS, 4, 0x0000000040000000ull | VTD_PS | VTD_R | VTD_W,
	  PT_ENTRY_BAD, "VT-d PS in PML5E" },
	/* VT-d 9.8: bits 20:12 of a 2M leaf, 29:12 of a 1G leaf reserved. */
	{ PT_FMT_VTD_SS, 1, 0x0000000000201000ull | VTD_PS | VTD_R,
	  PT_ENTRY_BAD, "VT-d 2M leaf, bit 12" },
	{ PT_FMT_VTD_SS, 2, 0x0000000040200000ull | VTD_PS | VTD_R,
	  PT_ENTRY_BAD, "VT-d 1G leaf, bit 21" },
	/* SDM table 4-15 / 4-14: PS must be 0 in a PML4E / PML5E. */
	{ PT_FMT_X86_64, 3, 0x0000000040000000ull | X86_P | X86_RW | X86_PS,
	  PT_ENTRY_BAD, "x86 PS in PML4E" },
	{ PT_FMT_X86_64, 4, 0x0000000040000000ull | X86_P | X86_RW | X86_PS,
	  PT_ENTRY_BAD, "x86 PS in PML5E" },
	/* SDM 4.5: P = 0 is not present whatever the rest holds. */
	{ PT_FMT_X86_64, 2, 0xfffffffffffffffeull, PT_ENTRY_EMPTY,
	  "x86 not present with junk" },
	/* SDM tables 4-17 / 4-18: bits 20:13 (2M) and 29:13 (1G) reserved. */
	{ PT_FMT_X86_64, 1, 0x0000000000202000ull | X86_P | X86_PS,
	  PT_ENTRY_BAD, "x86 2M leaf, bit 13" },
	{ PT_FMT_X86_64, 2, 0x0000000040200000ull | X86_P | X86_PS,
	  PT_ENTRY_BAD, "x86 1G leaf, bit 21" },
	/* And the well-formed neighbours of those, so BAD is not the
	 * answer to everything. */
	{ PT_FMT_ARM_S1, 3, 0x0000000012345000ull | 3, PT_ENTRY_TABLE,
	  "ARM L0 table" },
	{ PT_FMT_ARM_S1, 0, 0x0000000012345000ull | 3 | ARM_AF, PT_ENTRY_LEAF,
	  "ARM L3 page" },
	{ PT_FMT_VTD_SS, 3, 0x0000000012345000ull | VTD_R | VTD_W,
	  PT_ENTRY_TABLE, "VT-d PML4E" },
	{ PT_FMT_VTD_SS, 0, 0x0000000012345000ull | VTD_W, PT_ENTRY_LEAF,
	  "VT-d write-only PTE" },
	{ PT_FMT_VTD_SS, 0, 0, PT_ENTRY_EMPTY, "VT-d zero" },
	{ PT_FMT_X86_64, 3, 0x0000000012345000ull | X86_P | X86_RW,
	  PT_ENTRY_TABLE, "x86 PML4E" },
	/* SDM table 4-19: bit 7 of a PTE is PAT, not PS. */
	{ PT_FMT_X86_64, 0, 0x0000000012345000ull | X86_P | BIT(7),
	  PT_ENTRY_LEAF, "x86 PTE with PAT" },
	/*
	 * Not listed, because the decoder disagrees with the manuals on
	 * entries pt never writes (reported, not asserted):
	 *  - SDM tables 4-17/4-18: bit 12 of a 2M/1G leaf is PAT, a valid
	 *    attribute; pt_fmt_decode takes it for a misaligned address and
	 *    says BAD.
	 *  - D8.3: bit 16 of a level 1/2 block is nT with FEAT_BBM; the
	 *    decoder says BAD (hw/iommu.c strips nT before decoding).
	 *  - D8.4: a leaf with AF = 0 decodes as a leaf, though without
	 *    hardware AF management an access to it takes an Access flag
	 *    fault.
	 */
};

static void test_decode_malformed(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct pt_entry_info info;
		pt_fmt_decode(pt_fmt_get(b->fmt), b->entry, b->level, &info);
		if (info.type != b->want) {
			print_error("%s: %s level %u entry %#018llx decodes as %d, want %d\n",
				    b->why, pt_fmt_name(b->fmt), b->level,
				    (unsigned long long)b->entry, info.type,
				    b->want);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* A decoded table entry at every level of each format, through mapping. */
static void test_decode_round_trip_levels(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		const struct cfg_case *cc = &cfgs[c];
		struct fx x;
		fx_init(&x, cc->fmt, cc->va_bits, 0);
		uint64_t va = pattern_va(cc->fmt, cc->va_bits, 12);
		uint64_t oa = pattern_oa(cc->fmt, 12);
		assert_int_equal(pt_map_range(&x.t, va, oa, 4096, R, NULL), 0);
		/* walk_to checks every table entry on the way. */
		uint64_t *table = walk_to(&x, va, 0);
		struct pt_entry_info info;
		pt_fmt_decode(x.t.fmt, table[pt_level_index(va, 0)], 0, &info);
		assert_int_equal(info.type, PT_ENTRY_LEAF);
		assert_int_equal(info.oa, oa);
		assert_int_equal(x.t.nr_tables, x.t.top_level + 1);
		fx_fini(&x);
	}
}

/* ---- AMD IOMMU v1 and RISC-V, written out by hand ------------------------ */

static int count_pages(void *arg, pt_oaddr_t pa, unsigned int level)
{
	(void)pa;
	(void)level;
	(*(unsigned int *)arg)++;
	return 0;
}

/*
 * AMD 48882 2.2.3, figures "PDE" and "PTE": PR 0, NextLevel 11:9, address
 * 51:12, FC 60, IR 61, IW 62. NextLevel 7 with n ones from bit 12: a page
 * of 2^(n + 13) bytes, the same entry in every slot it covers.
 * RISC-V privileged spec, Sv39/48/57 and Svnapot: V 0, R 1, W 2, X 3, U 4,
 * A 6, D 7, PPN 53:10 (= PA 55:12), PBMT 62:61 (1 = NC), N 63; a 64 KiB
 * NAPOT page sets N and PPN[3:0] = 1000b in all 16 of its entries.
 */
#define AMD_PR BIT(0)
#define AMD_NL(n) ((uint64_t)(n) << 9)
#define AMD_FC BIT(60)
#define AMD_IR BIT(61)
#define AMD_IW BIT(62)
#define RV_V BIT(0)
#define RV_R BIT(1)
#define RV_W BIT(2)
#define RV_X BIT(3)
#define RV_U BIT(4)
#define RV_A BIT(6)
#define RV_D BIT(7)
#define RV_NC BIT(61)
#define RV_N BIT(63)

/* The table entry at level pointing to pa, by each manual. */
static uint64_t repl_table_entry(enum pt_format_id fmt, unsigned int level,
				 uint64_t pa)
{
	if (fmt == PT_FMT_AMD_V1)
		return AMD_PR | AMD_IR | AMD_IW | AMD_NL(level) | pa;
	return RV_V | ((pa >> 12) << 10);
}

static uint64_t repl_table_pa(enum pt_format_id fmt, uint64_t e)
{
	if (fmt == PT_FMT_AMD_V1)
		return e & 0x000ffffffffff000ull;
	return ((e >> 10) & ((1ull << 44) - 1)) << 12;
}

struct repl_literal {
	enum pt_format_id fmt;
	unsigned int va_bits;
	unsigned int level;
	unsigned int size_lg2;
	uint32_t prot;
	uint64_t oa;
	uint64_t entry;      /* every one of the page's slots */
	unsigned int copies;
};

static const struct repl_literal repl_literals[] = {
	/* AMD 4K, RW coherent: PR | FC | IR | IW. */
	{ PT_FMT_AMD_V1, 48, 0, 12, R | W | C, 0x000f123456789000ull,
	  0x700f123456789001ull, 1 },
	/* AMD 2M, read-only: PR | IR, NextLevel 0. */
	{ PT_FMT_AMD_V1, 48, 1, 21, R, 0x0008000000200000ull,
	  0x2008000000200001ull, 1 },
	/* AMD 1G write-only in a 3-level (39-bit) table. */
	{ PT_FMT_AMD_V1, 39, 2, 30, W, 0x0000004040000000ull,
	  0x4000004040000001ull, 1 },
	/* AMD 8K: NextLevel 7, no ones (bit 12 clear), two copies. */
	{ PT_FMT_AMD_V1, 48, 0, 13, R | W, 0x0000000123456000ull,
	  0x6000000123456e01ull, 2 },
	/* AMD 64K: ones at 14:12 (0x7000), 16 copies. */
	{ PT_FMT_AMD_V1, 48, 0, 16, R | W, 0x0000000123450000ull,
	  0x6000000123457e01ull, 16 },
	/* AMD 1M: ones at 18:12, 256 copies. */
	{ PT_FMT_AMD_V1, 57, 0, 20, R | C, 0x0000000987600000ull,
	  0x300000098767fe01ull, 256 },
	/* AMD 32M: at the 2M level, ones at 23:12, 16 copies. */
	{ PT_FMT_AMD_V1, 48, 1, 25, R, 0x0000000042000000ull,
	  0x2000000042fffe01ull, 16 },
	/* AMD 4G in the full 64-bit (6-level) table: 1G level, ones 30:12. */
	{ PT_FMT_AMD_V1, 64, 2, 32, R | W, 0x0000012300000000ull,
	  0x600001237ffffe01ull, 4 },
	/* RISC-V 4K RW cacheable unprivileged: V R W U A D, PPN 0x1234567. */
	{ PT_FMT_RISCV, 39, 0, 12, R | W | C | NX, 0x0000001234567000ull,
	  0x000000048d159cd7ull, 1 },
	/* RISC-V 2M read-only non-coherent privileged: V R A, PBMT NC. */
	{ PT_FMT_RISCV, 48, 1, 21, R | PRIV | NX, 0x0000000040200000ull,
	  0x2000000010080043ull, 1 },
	/* RISC-V 512G leaf at Sv48's top level. */
	{ PT_FMT_RISCV, 48, 3, 39, R | C | NX, 0x0000008000000000ull,
	  0x0000002000000053ull, 1 },
	/* RISC-V 64K NAPOT: PPN 0x123450 | 1000b, N, 16 copies. */
	{ PT_FMT_RISCV, 57, 0, 16, R | W | C | NX, 0x0000000123450000ull,
	  0x8000000048d160d7ull, 16 },
};

static void test_repl_literals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(repl_literals) / sizeof(repl_literals[0]); i++) {
		const struct repl_literal *l = &repl_literals[i];
		struct pt_testmem mem;
		assert_int_equal(ptm_init(&mem, 64, 0x7654300000ull), 0);
		struct pt_cfg cfg = { .fmt = l->fmt, .va_bits = l->va_bits,
				      .oa_bits = l->fmt == PT_FMT_AMD_V1 ? 52 : 56 };
		struct pt_table t;
		assert_int_equal(pt_init(&t, &cfg, &mem.ops, &mem), 0);
		uint64_t size = 1ull << l->size_lg2;
		/* Indices 0x0f5, 0x0e7, 0x0c3 ... as in pattern_va, aligned;
		 * in RISC-V the upper (sign-extended) half. */
		uint64_t va = 0x0000386030e7f5000ull & ((1ull << (l->va_bits - 1)) - 1);
		va &= ~(size - 1);
		if (l->fmt == PT_FMT_RISCV)
			va |= ~0ull << (l->va_bits - 1);
		assert_int_equal(pt_map_range(&t, va, l->oa, size, l->prot, NULL), 0);
		/* Walk by the manual: each table entry exact, to a live page. */
		uint64_t *table = t.top;
		for (unsigned int lv = t.top_level; lv > l->level; lv--) {
			uint64_t e = table[pt_level_index(va, lv)];
			uint64_t pa = repl_table_pa(l->fmt, e);
			assert_int_equal(e, repl_table_entry(l->fmt, lv, pa));
			assert_true(ptm_page_live(&mem, pa));
			table = mem.ops.phys_to_virt(&mem, pa);
		}
		unsigned int idx = pt_level_index(va, l->level);
		assert_int_equal(nonzero_words(table), l->copies);
		for (unsigned int k = 0; k < l->copies; k++) {
			if (table[idx + k] != l->entry)
				fail_msg("%s 2^%u copy %u: %#018llx, want %#018llx",
					 pt_fmt_name(l->fmt), l->size_lg2, k,
					 (unsigned long long)table[idx + k],
					 (unsigned long long)l->entry);
			struct pt_entry_info info;
			pt_fmt_decode(t.fmt, table[idx + k], l->level, &info);
			assert_int_equal(info.type, PT_ENTRY_LEAF);
			assert_int_equal(info.oa, l->oa);
			assert_int_equal(info.replicated, l->copies > 1);
			assert_int_equal(info.size_lg2 + info.run_lg2, l->size_lg2);
			assert_int_equal(info.prot, l->prot | NX);
		}
		struct pt_leaf leaf;
		assert_int_equal(pt_leaf_at(&t, va + size - 1, &leaf), 0);
		assert_int_equal(leaf.va, va);
		assert_int_equal(leaf.oa, l->oa);
		assert_int_equal(leaf.size_lg2, l->size_lg2);
		pt_oaddr_t out;
		assert_int_equal(pt_iova_to_phys(&t, va + size - 8, &out), 0);
		assert_int_equal(out, l->oa + size - 8);
		/* Splitting the page gives its items, each with its own
		 * output, by the same manual rules. */
		if (l->copies > 1) {
			assert_int_equal(pt_split(&t, va, NULL), 0);
			for (unsigned int k = 0; k < l->copies; k++) {
				struct pt_entry_info info;
				pt_fmt_decode(t.fmt, table[idx + k], l->level, &info);
				assert_int_equal(info.type, PT_ENTRY_LEAF);
				assert_false(info.contig);
				assert_int_equal(info.oa, l->oa + ((uint64_t)k <<
						 (12 + 9 * l->level)));
			}
			assert_int_equal(pt_join(&t, va, l->size_lg2, NULL), 0);
			for (unsigned int k = 0; k < l->copies; k++)
				assert_int_equal(table[idx + k], l->entry);
		}
		pt_deinit(&t);
		ptm_invalidate_done(&mem);
		assert_int_equal(mem.in_use, 0);
		ptm_destroy(&mem);
	}
}

static const struct bad_case repl_bad_cases[] = {
	/* 48882 2.2.3: a PDE's NextLevel names the next table's level; one
	 * that skips a level (legal to hardware, never written by Linux)
	 * is refused, as is NextLevel 0 above the leaf levels. */
	{ PT_FMT_AMD_V1, 3, AMD_PR | AMD_IR | AMD_IW | AMD_NL(2) | 0x5000,
	  PT_ENTRY_BAD, "AMD PDE skipping a level" },
	{ PT_FMT_AMD_V1, 3, AMD_PR | AMD_IR | AMD_NL(0) | 0x8000000000ull,
	  PT_ENTRY_BAD, "AMD 512G page" },
	{ PT_FMT_AMD_V1, 3, AMD_PR | AMD_IR | AMD_IW | AMD_NL(3) | 0x5000,
	  PT_ENTRY_TABLE, "AMD PDE at level 4" },
	{ PT_FMT_AMD_V1, 1, AMD_PR | AMD_NL(1) | 0x5000, PT_ENTRY_BAD,
	  "AMD PDE without IR/IW" },
	/* NextLevel 7 sizes: 2M encoded at the 4K level (512 copies is
	 * the next level's page), 64K at the 1G level, any at level 3. */
	{ PT_FMT_AMD_V1, 0, AMD_PR | AMD_IR | AMD_NL(7) | 0xff000, PT_ENTRY_BAD,
	  "AMD 2M page at level 0" },
	{ PT_FMT_AMD_V1, 2, AMD_PR | AMD_IR | AMD_NL(7) | 0x40007000ull,
	  PT_ENTRY_BAD, "AMD 64K page at level 2" },
	{ PT_FMT_AMD_V1, 3, AMD_PR | AMD_IR | AMD_NL(7) | 0x1007ffff000ull,
	  PT_ENTRY_BAD, "AMD 1T page" },
	{ PT_FMT_AMD_V1, 0, AMD_PR | AMD_IR | AMD_NL(7) | 0x7000,
	  PT_ENTRY_LEAF, "AMD 64K page" },
	/* Reserved 58:52, a natural page not aligned, no access at all. */
	{ PT_FMT_AMD_V1, 0, AMD_PR | AMD_IR | BIT(52) | 0x5000, PT_ENTRY_BAD,
	  "AMD bit 52" },
	{ PT_FMT_AMD_V1, 1, AMD_PR | AMD_IR | 0x201000, PT_ENTRY_BAD,
	  "AMD 2M page, bit 12" },
	{ PT_FMT_AMD_V1, 0, AMD_PR | 0x5000, PT_ENTRY_BAD, "AMD page without IR/IW" },
	{ PT_FMT_AMD_V1, 2, ~AMD_PR, PT_ENTRY_EMPTY, "AMD PR clear with junk" },
	/* RISC-V: W without R reserved; N only at level 0 and only for
	 * 64K; pointers carry no A, D, U; leaves aligned to their size;
	 * bits 60:54 reserved; a pointer where level 0 needs a leaf. */
	{ PT_FMT_RISCV, 0, RV_V | RV_W | RV_A | 0x1400, PT_ENTRY_BAD,
	  "RISC-V write-only" },
	{ PT_FMT_RISCV, 1, RV_V | RV_R | RV_A | RV_N | 0x80200ull, PT_ENTRY_BAD,
	  "RISC-V N at level 1" },
	{ PT_FMT_RISCV, 0, RV_V | RV_R | RV_A | RV_N | (0x123454ull << 10),
	  PT_ENTRY_BAD, "RISC-V NAPOT 32K" },
	{ PT_FMT_RISCV, 0, RV_V | RV_R | RV_A | RV_N | (0x123458ull << 10),
	  PT_ENTRY_LEAF, "RISC-V NAPOT 64K" },
	{ PT_FMT_RISCV, 2, RV_V | RV_A | (0x1234ull << 10), PT_ENTRY_BAD,
	  "RISC-V pointer with A" },
	{ PT_FMT_RISCV, 2, RV_V | (0x1234ull << 10), PT_ENTRY_TABLE,
	  "RISC-V pointer" },
	{ PT_FMT_RISCV, 1, RV_V | RV_R | (0x40201ull << 10), PT_ENTRY_BAD,
	  "RISC-V 2M leaf, PPN bit 0" },
	{ PT_FMT_RISCV, 0, RV_V | RV_R | BIT(54) | (0x5ull << 10), PT_ENTRY_BAD,
	  "RISC-V bit 54" },
	{ PT_FMT_RISCV, 0, RV_V | (0x5ull << 10), PT_ENTRY_BAD,
	  "RISC-V pointer at level 0" },
	{ PT_FMT_RISCV, 0, RV_V | RV_X | (0x5ull << 10), PT_ENTRY_LEAF,
	  "RISC-V execute-only" },
	{ PT_FMT_RISCV, 3, ~RV_V, PT_ENTRY_EMPTY, "RISC-V V clear with junk" },
};

static void test_repl_decode_malformed(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(repl_bad_cases) / sizeof(repl_bad_cases[0]); i++) {
		const struct bad_case *b = &repl_bad_cases[i];
		struct pt_entry_info info;
		pt_fmt_decode(pt_fmt_get(b->fmt), b->entry, b->level, &info);
		if (info.type != b->want) {
			print_error("%s: level %u entry %#018llx decodes as %d, want %d\n",
				    b->why, b->level, (unsigned long long)b->entry,
				    info.type, b->want);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* The sizes each manual allows, as pt reports them. */
static void test_repl_sizes(void **state)
{
	(void)state;
	/* 48882: every power of two from 4K; levels 0-2 here (256G). */
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_AMD_V1),
			 ((1ull << 39) - 1) & ~((1ull << 12) - 1));
	assert_int_equal(pt_fmt_pgsizes(PT_FMT_RISCV),
			 PT_SZ_4K | PT_SZ_64K | PT_SZ_2M | PT_SZ_1G |
			 (1ull << 39) | (1ull << 48));
	assert_true(pt_fmt_runs_replicated(pt_fmt_get(PT_FMT_AMD_V1)));
	assert_true(pt_fmt_runs_replicated(pt_fmt_get(PT_FMT_RISCV)));
	assert_int_equal(pt_fmt_levels_for(PT_FMT_AMD_V1, 64), 6);
	assert_int_equal(pt_fmt_levels_for(PT_FMT_AMD_V1, 39), 3);
	assert_true(pt_fmt_levels_for(PT_FMT_AMD_V1, 40) < 0);
	assert_true(pt_fmt_levels_for(PT_FMT_RISCV, 64) < 0);
	assert_int_equal(pt_fmt_levels_for(PT_FMT_RISCV, 57), 5);
	assert_true(pt_fmt_sign_extends(PT_FMT_RISCV));
	assert_false(pt_fmt_sign_extends(PT_FMT_AMD_V1));
	assert_false(pt_fmt_bbm_levels(PT_FMT_AMD_V1));
	assert_false(pt_fmt_bbm_levels(PT_FMT_RISCV));
	/* A canonical map picks the largest replicated size that fits:
	 * [64K, 3M) on AMD is 64K 128K 256K 512K 1M 1M. */
	struct pt_testmem mem;
	assert_int_equal(ptm_init(&mem, 64, 0x7654300000ull), 0);
	struct pt_cfg cfg = { .fmt = PT_FMT_AMD_V1, .va_bits = 48, .oa_bits = 52 };
	struct pt_table t;
	assert_int_equal(pt_init(&t, &cfg, &mem.ops, &mem), 0);
	assert_int_equal(pt_map_range(&t, 0x10000, 0x10000, 0x2f0000, R, NULL), 0);
	static const unsigned int want[] = { 16, 17, 18, 19, 20, 20 };
	struct pt_iter it;
	struct pt_leaf lf;
	unsigned int n = 0;
	pt_iter_init(&it, &t, 0, ~0ull);
	while (pt_iter_next(&t, &it, &lf)) {
		assert_true(n < sizeof(want) / sizeof(want[0]));
		assert_int_equal(lf.size_lg2, want[n]);
		n++;
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	pt_deinit(&t);
	ptm_invalidate_done(&mem);
	ptm_destroy(&mem);
}

/*
 * Adopting a foreign table: every copy of a replicated page must be the
 * same word (48882 2.2.3 and Svnapot leave disagreeing copies undefined),
 * and an AMD PDE whose NextLevel skips a level is refused, with the IOVA.
 */
static void test_repl_adopt(void **state)
{
	(void)state;
	static const struct { enum pt_format_id fmt; unsigned int oa_bits; } f[] = {
		{ PT_FMT_AMD_V1, 52 }, { PT_FMT_RISCV, 56 },
	};
	for (unsigned int i = 0; i < 2; i++) {
		struct pt_testmem mem;
		assert_int_equal(ptm_init(&mem, 64, 0x7654300000ull), 0);
		struct pt_cfg cfg = { .fmt = f[i].fmt, .va_bits = 48,
				      .oa_bits = f[i].oa_bits };
		struct pt_table t, ad;
		assert_int_equal(pt_init(&t, &cfg, &mem.ops, &mem), 0);
		const uint64_t va = 0x40000000, pa = 0x123450000;
		assert_int_equal(pt_map_range(&t, va, pa, 0x10000, R | W, NULL), 0);
		pt_vaddr_t bad = 0;
		assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa,
					  NULL, NULL, &bad), 0);
		uint64_t *pte = mem.ops.phys_to_virt(&mem, t.top_pa);
		for (unsigned int lv = t.top_level; lv > 0; lv--) {
			struct pt_entry_info info;
			pt_fmt_decode(t.fmt, pte[pt_level_index(va, lv)], lv, &info);
			pte = mem.ops.phys_to_virt(&mem, info.oa);
		}
		uint64_t *slot = &pte[pt_level_index(va, 0)];
		/* Copy 5 names another 64K page: refused at copy 5. */
		uint64_t keep = slot[5];
		slot[5] = slot[0] + (f[i].fmt == PT_FMT_RISCV ? 0x10ull << 10 : 0x10000);
		assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa,
					  NULL, NULL, &bad), -PT_EINVAL);
		assert_int_equal(bad, va + 5 * 0x1000);
		/* Copy 9 as the plain 4K item it stands for: a split in
		 * progress, still refused (a foreign table must be whole). */
		slot[5] = keep;
		keep = slot[9];
		struct pt_entry_info info;
		pt_fmt_decode(t.fmt, slot[9], 0, &info);
		slot[9] = f[i].fmt == PT_FMT_RISCV ?
			(slot[9] & ~(BIT(63) | (0xfull << 10))) | ((pa + 0x9000) >> 12 << 10) :
			(slot[9] & ~(AMD_NL(7) | 0x7000ull)) | 0x9000;
		pt_fmt_decode(t.fmt, slot[9], 0, &info);
		assert_int_equal(info.type, PT_ENTRY_LEAF);
		assert_int_equal(info.oa, pa + 0x9000);
		assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa,
					  NULL, NULL, &bad), -PT_EINVAL);
		assert_int_equal(bad, va + 9 * 0x1000);
		slot[9] = keep;
		if (f[i].fmt == PT_FMT_AMD_V1) {
			/* The level-3 PDE says its table is level 2: a skip. */
			uint64_t *top = mem.ops.phys_to_virt(&mem, t.top_pa);
			uint64_t *e = &top[pt_level_index(va, 3)];
			keep = *e;
			*e = (*e & ~AMD_NL(7)) | AMD_NL(2);
			assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem,
						  t.top_pa, NULL, NULL, &bad),
					 -PT_EINVAL);
			assert_int_equal(bad, 0);
			*e = keep;
		}
		assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa,
					  NULL, NULL, &bad), 0);
		pt_deinit(&t);
		ptm_invalidate_done(&mem);
		ptm_destroy(&mem);
	}
}

/*
 * ARM stage 2 concatenates its start level (DDI 0487 D8.2.6): where the
 * top table would use at most 16 entries, that many contiguous tables,
 * aligned to their whole size, start one level lower. Linux's
 * io-pgtable-arm does it whenever it can. A 40-bit IPA: two tables at ARM
 * level 1 (pt level 2), not a level-0 table with two entries; 32 to 34
 * bits: 4 to 16 tables at ARM level 2. Stage 1 never concatenates.
 */
static void test_arm_s2_concatenation(void **state)
{
	(void)state;
	static const struct { unsigned int va_bits, levels, lg2; } c[] = {
		{ 32, 2, 2 }, { 33, 2, 3 }, { 34, 2, 4 }, { 35, 3, 0 },
		{ 39, 3, 0 }, { 40, 3, 1 }, { 41, 3, 2 }, { 42, 3, 3 },
		{ 43, 3, 4 }, { 44, 4, 0 }, { 48, 4, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		assert_int_equal(pt_fmt_levels_for(PT_FMT_ARM_S2, c[i].va_bits),
				 c[i].levels);
		assert_int_equal(pt_fmt_top_lg2(PT_FMT_ARM_S2, c[i].va_bits),
				 c[i].lg2);
	}
	assert_int_equal(pt_fmt_levels_for(PT_FMT_ARM_S1, 40), 4);
	assert_int_equal(pt_fmt_top_lg2(PT_FMT_ARM_S1, 40), 0);

	/* 40 bits: IOVA 0x98_4040_0000 is index 0x261 of the 1024-entry top,
	 * entry 0x61 of its second page. */
	struct pt_testmem mem;
	assert_int_equal(ptm_init(&mem, 64, 0x7654300000ull), 0);
	struct pt_cfg cfg = { .fmt = PT_FMT_ARM_S2, .va_bits = 40, .oa_bits = 48 };
	struct pt_table t;
	assert_int_equal(pt_init(&t, &cfg, &mem.ops, &mem), 0);
	assert_int_equal(t.top_level, 2);
	assert_int_equal(t.top_lg2, 1);
	assert_int_equal(t.nr_tables, 2);
	assert_int_equal(t.top_pa & 0x1fff, 0);
	const uint64_t va = 0x0000009840400000ull, oa = 0x0000001234600000ull;
	assert_int_equal(pt_map_range(&t, va, oa, PT_SZ_2M, R | W, NULL), 0);
	assert_int_equal(nonzero_words(t.top), 0);
	uint64_t e = t.top[PT_TABLE_ITEMS + 0x61];
	assert_int_equal(e & ~ARM_ADDR, ARM_TYPE_TABLE);
	uint64_t *l2 = mem.ops.phys_to_virt(&mem, e & ARM_ADDR);
	assert_non_null(l2);
	assert_int_equal(l2[pt_level_index(va, 1)], arm_s2_bits(1, R | W) | oa);
	pt_oaddr_t out;
	assert_int_equal(pt_iova_to_phys(&t, va + 0x1234, &out), 0);
	assert_int_equal(out, oa + 0x1234);
	/* The top's pages are reported one by one, and adoption claims both,
	 * and refuses a top not aligned to its 8 KiB. */
	unsigned int pages = 0;
	assert_int_equal(pt_for_each_table(&t, count_pages, &pages), 0);
	assert_int_equal(pages, 3);
	struct pt_table ad;
	pt_vaddr_t bad;
	assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa, NULL,
				  NULL, &bad), 0);
	assert_int_equal(ad.nr_tables, 3);
	assert_int_equal(pt_adopt(&ad, &cfg, &mem.ops, &mem, t.top_pa + 0x1000,
				  NULL, NULL, &bad), -PT_EINVAL);
	uint64_t un;
	assert_int_equal(pt_unmap_range(&t, va, PT_SZ_2M, 0, NULL, &un), 0);
	assert_int_equal(un, PT_SZ_2M);
	assert_int_equal(t.nr_tables, 2);
	pt_deinit(&t);
	ptm_invalidate_done(&mem);
	assert_int_equal(mem.in_use, 0);
	/* Without contiguous pages to give, such a table cannot be made. */
	struct pt_mem_ops ops = mem.ops;
	ops.alloc_top = NULL;
	assert_int_equal(pt_init(&t, &cfg, &ops, &mem), -PT_EOPNOTSUPP);
	ptm_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_agree_with_helpers),
		cmocka_unit_test(test_literals_mapped),
		cmocka_unit_test(test_leaves_every_prot),
		cmocka_unit_test(test_sizes_and_contig_facts),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_round_trip_levels),
		cmocka_unit_test(test_repl_literals),
		cmocka_unit_test(test_repl_decode_malformed),
		cmocka_unit_test(test_repl_sizes),
		cmocka_unit_test(test_repl_adopt),
		cmocka_unit_test(test_arm_s2_concatenation),
	};
	return cmocka_run_group_tests_name("pt_golden", tests, NULL, NULL);
}
