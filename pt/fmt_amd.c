// SPDX-License-Identifier: MIT
/*
 * AMD IOMMU v1 host page tables: AMD I/O Virtualization Technology
 * (IOMMU) Specification 48882, section 2.2.3 (I/O page tables for host
 * translations), figures "I/O Page Translation Entry (PTE)" and "PDE".
 *
 *   pt level | AMD level | VA bits | natural leaf | larger pages (NextLevel 7)
 *   ---------+-----------+---------+--------------+---------------------------
 *       5    |     6     |  63:57  | none         | none (128 entries used)
 *       4    |     5     |  56:48  | none         | none
 *       3    |     4     |  47:39  | none (*)     | none (not modelled)
 *       2    |     3     |  38:30  | 1 GiB        | 2 GiB .. 256 GiB
 *       1    |     2     |  29:21  | 2 MiB        | 4 MiB .. 512 MiB
 *       0    |     1     |  20:12  | 4 KiB        | 8 KiB .. 1 MiB
 *
 * Bits: PR 0, D 6, NextLevel 11:9, address 51:12, FC 60, IR 61, IW 62.
 * A table entry (PDE) has NextLevel = the AMD level of the table it
 * points to, which is our level number of the entry itself, and IR|IW
 * (permissions AND down the walk, so tables grant both and leaves
 * decide). A leaf has NextLevel 0 and maps its level's item; NextLevel 7
 * maps a larger power-of-two page whose size is encoded by a run of ones
 * in the address field from bit 12 (size 2^(13 + ones)), and that same
 * entry is written into every slot the page covers: a 64 KiB page is 16
 * identical level-0 entries. A NextLevel that skips a level (the
 * hardware allows it, Linux never writes it) is refused here.
 *
 * (*) 512 GiB leaves are excluded by Linux (an erratum), and pages of 1
 * TiB and up (NextLevel 7 at level 3) are not modelled: no guest here is
 * that large, and Linux's generic page table caps them at the OA width.
 *
 * The top is fixed: the table is created with its final depth (the
 * device table entry's Mode), chosen from the IOVA width, rather than
 * grown on demand as Linux's generic page table does (its DYNAMIC_TOP).
 * A live update replays into a table of the same depth, so growing it
 * would only add device-table writes to the switch; see docs/pt.md.
 */
#include "pt/pt_fmt.h"

#define AMD_PR PT_BIT(0)
#define AMD_D PT_BIT(6)
#define AMD_NL PT_GENMASK(11, 9)
#define AMD_NL_PAGE 7ull
#define AMD_ADDR PT_GENMASK(51, 12)
#define AMD_RSVD PT_GENMASK(58, 52)
#define AMD_FC PT_BIT(60)
#define AMD_IR PT_BIT(61)
#define AMD_IW PT_BIT(62)

#define AMD_PDE(l) (AMD_PR | AMD_IR | AMD_IW | PT_FIELD_PREP(AMD_NL, l))

static int amd_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* Host page tables have no privilege level. */
	if (prot & PT_PROT_PRIV)
		return -PT_EOPNOTSUPP;
	uint64_t a = 0;
	if (prot & PT_PROT_READ)
		a |= AMD_IR;
	if (prot & PT_PROT_WRITE)
		a |= AMD_IW;
	/* Coherent memory: force the access to be snooped. */
	if (prot & PT_PROT_CACHE)
		a |= AMD_FC;
	/* DMA never executes: nothing to clear for NOEXEC. */
	*attr = a;
	return 0;
}

static uint32_t amd_attr_to_prot(uint64_t a)
{
	uint32_t prot = PT_PROT_NOEXEC;
	if (a & AMD_IR)
		prot |= PT_PROT_READ;
	if (a & AMD_IW)
		prot |= PT_PROT_WRITE;
	if (a & AMD_FC)
		prot |= PT_PROT_CACHE;
	return prot;
}

/* A leaf must grant some access, or it maps nothing usable. */
static bool amd_leaf_attr_ok(uint64_t a)
{
	return (a & (AMD_IR | AMD_IW)) != 0;
}

const struct pt_fmt pt_fmt_amd_v1 = {
	.id = PT_FMT_AMD_V1,
	.name = "amd-v1",
	.min_va_bits = 39,
	.max_va_bits = 64,
	/* va_bits_allowed is bits 0..63; 64 bits (6 levels) is max_va_bits. */
	.va_bits_allowed = PT_BIT(39) | PT_BIT(48) | PT_BIT(57),
	.max_oa_bits = 52,
	.sign_extend = false,
	.bbm_levels = false,
	.present_mask = AMD_PR,
	/* A table at level l names AMD level l (its child's) with IR|IW. */
	.table_mask = { 0, AMD_NL | AMD_IR | AMD_IW, AMD_NL | AMD_IR | AMD_IW,
			AMD_NL | AMD_IR | AMD_IW, AMD_NL | AMD_IR | AMD_IW,
			AMD_NL | AMD_IR | AMD_IW },
	.table_match = { 1, AMD_PDE(1) & ~AMD_PR, AMD_PDE(2) & ~AMD_PR,
			 AMD_PDE(3) & ~AMD_PR, AMD_PDE(4) & ~AMD_PR,
			 AMD_PDE(5) & ~AMD_PR },
	.oa_lsb = 12,
	.table_bits = { 0, AMD_PDE(1), AMD_PDE(2), AMD_PDE(3), AMD_PDE(4),
			AMD_PDE(5) },
	.leaf_levels = 0x7,
	.leaf_type = { AMD_PR, AMD_PR, AMD_PR },
	.leaf_type_mask = { AMD_PR | AMD_NL, AMD_PR | AMD_NL, AMD_PR | AMD_NL },
	.run_kind = PT_RUN_ONES,
	.run_bits = PT_FIELD_PREP(AMD_NL, AMD_NL_PAGE),
	/* 2..256 items: 512 would be the next level's natural page. */
	.run_lg2s = { PT_GENMASK(8, 1), PT_GENMASK(8, 1), PT_GENMASK(8, 1) },
	.attr_mask = AMD_IR | AMD_IW | AMD_FC | AMD_D,
	.leaf_rsvd = AMD_RSVD,
	.table_rsvd = AMD_RSVD | AMD_FC | AMD_D,
	.prot_to_attr = amd_prot_to_attr,
	.attr_to_prot = amd_attr_to_prot,
	.leaf_attr_ok = amd_leaf_attr_ok,
};
