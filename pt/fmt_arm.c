// SPDX-License-Identifier: MIT
/*
 * ARM VMSAv8-64 long descriptors, 4 KiB granule: Arm ARM DDI 0487, D8.3
 * (descriptor formats) and D8.6.1 (contiguous bit); used by SMMUv3 for
 * stage 1 (CD TTB0) and stage 2 (STE S2TTB), IHI 0070 section 3.4.
 *
 *   pt level | ARM level | VA bits | leaf           | contiguous run
 *   ---------+-----------+---------+----------------+-------------------
 *       3    |     0     |  47:39  | none           | -
 *       2    |     1     |  38:30  | 1 GiB block    | 16 x 1G = 16 GiB
 *       1    |     2     |  29:21  | 2 MiB block    | 16 x 2M = 32 MiB
 *       0    |     3     |  20:12  | 4 KiB page     | 16 x 4K = 64 KiB
 *
 * Descriptor bits 1:0: x0 invalid; 11 table (ARM levels 0-2) or page
 * (ARM level 3); 01 block (ARM levels 1-2; reserved, so invalid, at 3).
 * Output and next-table address in bits 47:12.
 *
 * Stage 2 concatenates its start level (D8.2.6, "Concatenated translation
 * tables for the initial lookup"; SMMUv3 STE.S2SL0/S2T0SZ): where the top
 * table would use at most 16 entries, up to 16 contiguous, size-aligned
 * tables one level lower replace it, saving a level of walk. Linux's
 * io-pgtable-arm does this for every stage-2 table it can (a 40-bit IPA:
 * two tables at ARM level 1 instead of a level-0 table with 2 entries).
 * Stage 1 never concatenates.
 */
#include "pt/pt_fmt.h"

#define ARM_VALID PT_BIT(0)
#define ARM_TYPE PT_GENMASK(1, 0)
#define ARM_TYPE_TABLE 3ull
#define ARM_TYPE_PAGE 3ull
#define ARM_TYPE_BLOCK 1ull
#define ARM_OA PT_GENMASK(47, 12)
#define ARM_RES0_OA PT_GENMASK(50, 48) /* 48-bit OA, no FEAT_LPA2 */

/* Lower and upper leaf attributes shared by both stages. */
#define ARM_SH PT_GENMASK(9, 8)
#define ARM_SH_OUTER 2
#define ARM_SH_INNER 3
#define ARM_AF PT_BIT(10)
#define ARM_DBM PT_BIT(51)
#define ARM_CONTIG PT_BIT(52)

/* Stage 1 (D8.3.2, "Stage 1 attribute fields"). */
#define ARM_S1_ATTRINDX PT_GENMASK(4, 2)
#define ARM_S1_NS PT_BIT(5)
#define ARM_S1_AP_UNPRIV PT_BIT(6) /* AP[1]: EL0 (unprivileged) access */
#define ARM_S1_AP_RDONLY PT_BIT(7) /* AP[2] */
#define ARM_S1_NG PT_BIT(11)
#define ARM_S1_PXN PT_BIT(53)
#define ARM_S1_UXN PT_BIT(54)
/* MAIR indices the driver programs: 0 normal NC, 1 normal WB, 2 device. */
#define ARM_MAIR_IDX_NC 0
#define ARM_MAIR_IDX_WB 1

/* Stage 2 (D8.3.3, "Stage 2 attribute fields"). */
#define ARM_S2_MEMATTR PT_GENMASK(5, 2)
#define ARM_S2_MEMATTR_NC 0x5   /* normal, outer and inner non-cacheable */
#define ARM_S2_MEMATTR_WB 0xf   /* normal, outer and inner write-back */
#define ARM_S2_AP_READ PT_BIT(6)
#define ARM_S2_AP_WRITE PT_BIT(7)
#define ARM_S2_XN PT_BIT(54)    /* XN[1]: not executable at any EL */
#define ARM_S2_RES0 PT_BIT(11)  /* nG has no meaning at stage 2 */

#define ARM_ATTR_MASK (PT_GENMASK(11, 2) | (PT_GENMASK(63, 51) & ~ARM_CONTIG))

static int arm_s1_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* Stage 1 has no write-only encoding: AP grants read with write. */
	if (!(prot & PT_PROT_READ))
		return -PT_EOPNOTSUPP;
	uint64_t a = ARM_AF | ARM_S1_NG;
	if (!(prot & PT_PROT_WRITE))
		a |= ARM_S1_AP_RDONLY;
	if (!(prot & PT_PROT_PRIV))
		a |= ARM_S1_AP_UNPRIV;
	if (prot & PT_PROT_CACHE)
		a |= PT_FIELD_PREP(ARM_S1_ATTRINDX, ARM_MAIR_IDX_WB) |
		     PT_FIELD_PREP(ARM_SH, ARM_SH_INNER);
	else
		a |= PT_FIELD_PREP(ARM_S1_ATTRINDX, ARM_MAIR_IDX_NC) |
		     PT_FIELD_PREP(ARM_SH, ARM_SH_OUTER);
	if (prot & PT_PROT_NOEXEC)
		a |= ARM_S1_PXN | ARM_S1_UXN;
	*attr = a;
	return 0;
}

static uint32_t arm_s1_attr_to_prot(uint64_t a)
{
	uint32_t prot = PT_PROT_READ;
	if (!(a & ARM_S1_AP_RDONLY))
		prot |= PT_PROT_WRITE;
	if (!(a & ARM_S1_AP_UNPRIV))
		prot |= PT_PROT_PRIV;
	if (PT_FIELD_GET(ARM_S1_ATTRINDX, a) == ARM_MAIR_IDX_WB)
		prot |= PT_PROT_CACHE;
	if (a & ARM_S1_UXN)
		prot |= PT_PROT_NOEXEC;
	return prot;
}

static int arm_s2_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* Stage 2 permissions do not distinguish privilege. */
	if (prot & PT_PROT_PRIV)
		return -PT_EOPNOTSUPP;
	uint64_t a = ARM_AF;
	if (prot & PT_PROT_READ)
		a |= ARM_S2_AP_READ;
	if (prot & PT_PROT_WRITE)
		a |= ARM_S2_AP_WRITE;
	if (prot & PT_PROT_CACHE)
		a |= PT_FIELD_PREP(ARM_S2_MEMATTR, ARM_S2_MEMATTR_WB) |
		     PT_FIELD_PREP(ARM_SH, ARM_SH_INNER);
	else
		a |= PT_FIELD_PREP(ARM_S2_MEMATTR, ARM_S2_MEMATTR_NC) |
		     PT_FIELD_PREP(ARM_SH, ARM_SH_OUTER);
	if (prot & PT_PROT_NOEXEC)
		a |= ARM_S2_XN;
	*attr = a;
	return 0;
}

static uint32_t arm_s2_attr_to_prot(uint64_t a)
{
	uint32_t prot = 0;
	if (a & ARM_S2_AP_READ)
		prot |= PT_PROT_READ;
	if (a & ARM_S2_AP_WRITE)
		prot |= PT_PROT_WRITE;
	if (PT_FIELD_GET(ARM_S2_MEMATTR, a) == ARM_S2_MEMATTR_WB)
		prot |= PT_PROT_CACHE;
	if (a & ARM_S2_XN)
		prot |= PT_PROT_NOEXEC;
	return prot;
}

/* Level 0 never holds a table: a mask of 0 can never match 1. */
#define ARM_COMMON                                                        \
	.min_va_bits = 32, .max_va_bits = 48,                             \
	.va_bits_allowed = PT_GENMASK(48, 32), .max_oa_bits = 48,         \
	.sign_extend = false, .bbm_levels = true,                         \
	.present_mask = ARM_VALID,                                         \
	.table_mask = { 0, ARM_TYPE, ARM_TYPE, ARM_TYPE, ARM_TYPE },      \
	.table_match = { 1, ARM_TYPE_TABLE, ARM_TYPE_TABLE,               \
			 ARM_TYPE_TABLE, ARM_TYPE_TABLE },                \
	.oa_lsb = 12, .leaf_levels = 0x7,                                 \
	.table_bits = { [0 ... PT_MAX_LEVELS - 1] = ARM_TYPE_TABLE },     \
	.leaf_type = { ARM_TYPE_PAGE, ARM_TYPE_BLOCK, ARM_TYPE_BLOCK },   \
	.leaf_type_mask = { ARM_TYPE, ARM_TYPE, ARM_TYPE },               \
	.run_kind = PT_RUN_CONTIG, .run_bits = ARM_CONTIG,                \
	.run_lg2s = { PT_BIT(4), PT_BIT(4), PT_BIT(4) },                  \
	.attr_mask = ARM_ATTR_MASK, .table_rsvd = ARM_RES0_OA

const struct pt_fmt pt_fmt_arm_s1 = {
	.id = PT_FMT_ARM_S1,
	.name = "arm-s1",
	ARM_COMMON,
	.leaf_rsvd = ARM_RES0_OA,
	.prot_to_attr = arm_s1_prot_to_attr,
	.attr_to_prot = arm_s1_attr_to_prot,
};

const struct pt_fmt pt_fmt_arm_s2 = {
	.id = PT_FMT_ARM_S2,
	.name = "arm-s2",
	ARM_COMMON,
	.concat_top = true,
	.leaf_rsvd = ARM_RES0_OA | ARM_S2_RES0,
	.prot_to_attr = arm_s2_prot_to_attr,
	.attr_to_prot = arm_s2_attr_to_prot,
};
