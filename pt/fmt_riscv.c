// SPDX-License-Identifier: MIT
/*
 * RISC-V Sv39, Sv48 and Sv57 page tables as the RISC-V IOMMU walks them
 * (RISC-V IOMMU Architecture Specification, section 2.3 "Process to
 * translate an IOVA", which defers to the privileged architecture's
 * "Sv39/Sv48/Sv57" sections for the entries), with Svnapot 64 KiB pages
 * (privileged architecture, "Svnapot" chapter; the IOMMU requires it).
 *
 *   pt level | VA bits | leaf
 *   ---------+---------+---------------------------------------------
 *       4    |  56:48  | 256 TiB (Sv57)
 *       3    |  47:39  | 512 GiB (Sv48, Sv57)
 *       2    |  38:30  | 1 GiB
 *       1    |  29:21  | 2 MiB
 *       0    |  20:12  | 4 KiB; 64 KiB as 16 identical NAPOT entries
 *
 * Bits: V 0, R 1, W 2, X 3, U 4, G 5, A 6, D 7, RSW 9:8 (software),
 * PPN 53:10 (output address bit 12 at entry bit 10), reserved 60:54,
 * PBMT 62:61, N 63. An entry with V and R = W = X = 0 points to the next
 * table; any of R, W, X makes it a leaf, at any level, whose output must
 * be aligned to its size. W without R is reserved. In a pointer, D, A, U,
 * N and PBMT are reserved. A NAPOT leaf has N set and PPN[3:0] = 1000b;
 * every one of the 16 entries of the 64 KiB range holds that same value.
 *
 * Leaves always carry A, and D when writable, so an IOMMU without
 * hardware A/D updating never faults on them. U is set unless the
 * mapping is privileged (device requests are user-mode unless a PASID's
 * privilege says otherwise). Non-coherent memory is PBMT NC.
 * IOVAs are sign-extended from bit 38, 47 or 56.
 */
#include "pt/pt_fmt.h"

#define RV_V PT_BIT(0)
#define RV_R PT_BIT(1)
#define RV_W PT_BIT(2)
#define RV_X PT_BIT(3)
#define RV_U PT_BIT(4)
#define RV_G PT_BIT(5)
#define RV_A PT_BIT(6)
#define RV_D PT_BIT(7)
#define RV_PPN PT_GENMASK(53, 10)
#define RV_RSVD PT_GENMASK(60, 54)
#define RV_PBMT PT_GENMASK(62, 61)
#define RV_PBMT_NC 1ull
#define RV_N PT_BIT(63)
#define RV_RWX (RV_R | RV_W | RV_X)

static int rv_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* W without R is a reserved encoding. */
	if (!(prot & PT_PROT_READ))
		return -PT_EOPNOTSUPP;
	uint64_t a = RV_R | RV_A;
	if (prot & PT_PROT_WRITE)
		a |= RV_W | RV_D;
	if (!(prot & PT_PROT_PRIV))
		a |= RV_U;
	if (!(prot & PT_PROT_CACHE))
		a |= PT_FIELD_PREP(RV_PBMT, RV_PBMT_NC);
	/* DMA never executes: X stays clear, NOEXEC needs nothing. */
	*attr = a;
	return 0;
}

static uint32_t rv_attr_to_prot(uint64_t a)
{
	uint32_t prot = 0;
	if (a & RV_R)
		prot |= PT_PROT_READ;
	if (a & RV_W)
		prot |= PT_PROT_WRITE;
	if (!(a & RV_X))
		prot |= PT_PROT_NOEXEC;
	if (!(a & RV_U))
		prot |= PT_PROT_PRIV;
	if (!(a & RV_PBMT))
		prot |= PT_PROT_CACHE;
	return prot;
}

static bool rv_leaf_attr_ok(uint64_t a)
{
	if (!(a & RV_RWX))
		return false;	/* a pointer where no table can be */
	if ((a & RV_W) && !(a & RV_R))
		return false;
	/* PBMT 3 is reserved. */
	return PT_FIELD_GET(RV_PBMT, a) != 3;
}

#define RV_PTR_MASK (RV_RWX)

const struct pt_fmt pt_fmt_riscv = {
	.id = PT_FMT_RISCV,
	.name = "riscv",
	.min_va_bits = 39,
	.max_va_bits = 57,
	.va_bits_allowed = PT_BIT(39) | PT_BIT(48) | PT_BIT(57),
	.max_oa_bits = 56,
	.sign_extend = true,
	.bbm_levels = false,
	.present_mask = RV_V,
	/* Level 0 never holds a pointer; above, R = W = X = 0 is one. */
	.table_mask = { 0, RV_PTR_MASK, RV_PTR_MASK, RV_PTR_MASK, RV_PTR_MASK,
			RV_PTR_MASK },
	.table_match = { 1, 0, 0, 0, 0, 0 },
	.oa_lsb = 10,
	.table_bits = { [0 ... PT_MAX_LEVELS - 1] = RV_V },
	.leaf_levels = 0x1f,
	.leaf_type = { RV_V, RV_V, RV_V, RV_V, RV_V },
	.leaf_type_mask = { RV_V, RV_V, RV_V, RV_V, RV_V },
	.run_kind = PT_RUN_NAPOT,
	.run_bits = RV_N,
	.run_lg2s = { PT_BIT(4) },
	.attr_mask = RV_RWX | RV_U | RV_G | RV_A | RV_D | RV_PBMT,
	.leaf_rsvd = RV_RSVD,
	.table_rsvd = RV_RSVD | RV_U | RV_A | RV_D | RV_PBMT | RV_N,
	.prot_to_attr = rv_prot_to_attr,
	.attr_to_prot = rv_attr_to_prot,
	.leaf_attr_ok = rv_leaf_attr_ok,
};
