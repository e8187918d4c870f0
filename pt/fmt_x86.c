// SPDX-License-Identifier: MIT
/*
 * x86-64 4- and 5-level paging as used by the VT-d first stage and AMD
 * IOMMU v2 tables: Intel SDM vol. 3A, section 4.5 and tables 4-15 to 4-20.
 *
 *   pt level | x86 entry | leaf
 *   ---------+-----------+-------------------
 *       4    | PML5E     | none (57-bit)
 *       3    | PML4E     | none
 *       2    | PDPTE     | 1 GiB when PS (bit 7)
 *       1    | PDE       | 2 MiB when PS (bit 7)
 *       0    | PTE       | 4 KiB (bit 7 is PAT there, never set)
 *
 * IOVAs are sign-extended from bit 47 (or 56): the upper half lives in
 * the top table's entries 256-511. Leaves always carry A, and D when
 * writable, so the walker never needs to write them back.
 */
#include "pt/pt_fmt.h"

#define X86_P PT_BIT(0)
#define X86_RW PT_BIT(1)
#define X86_US PT_BIT(2)
#define X86_PCD PT_BIT(4)
#define X86_A PT_BIT(5)
#define X86_D PT_BIT(6)
#define X86_PS PT_BIT(7)
#define X86_ADDR PT_GENMASK(51, 12)
#define X86_XD PT_BIT(63)

static int x86_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* A present entry is always readable: no write-only encoding. */
	if (!(prot & PT_PROT_READ))
		return -PT_EOPNOTSUPP;
	uint64_t a = X86_A;
	if (prot & PT_PROT_WRITE)
		a |= X86_RW | X86_D;
	if (!(prot & PT_PROT_PRIV))
		a |= X86_US;
	if (!(prot & PT_PROT_CACHE))
		a |= X86_PCD;
	if (prot & PT_PROT_NOEXEC)
		a |= X86_XD;
	*attr = a;
	return 0;
}

static uint32_t x86_attr_to_prot(uint64_t a)
{
	uint32_t prot = PT_PROT_READ;
	if (a & X86_RW)
		prot |= PT_PROT_WRITE;
	if (!(a & X86_US))
		prot |= PT_PROT_PRIV;
	if (!(a & X86_PCD))
		prot |= PT_PROT_CACHE;
	if (a & X86_XD)
		prot |= PT_PROT_NOEXEC;
	return prot;
}

const struct pt_fmt pt_fmt_x86_64 = {
	.id = PT_FMT_X86_64,
	.name = "x86-64",
	.min_va_bits = 48,
	.max_va_bits = 57,
	.va_bits_allowed = PT_BIT(48) | PT_BIT(57),
	.max_oa_bits = 52,
	.sign_extend = true,
	.present_mask = X86_P,
	.table_mask = { 0, X86_PS, X86_PS, 0, 0 },
	.table_match = { 1, 0, 0, 0, 0 },
	.oa_lsb = 12,
	.table_bits = { [0 ... PT_MAX_LEVELS - 1] = X86_P | X86_RW | X86_US | X86_A },
	.leaf_levels = 0x7,
	.leaf_type = { X86_P, X86_P | X86_PS, X86_P | X86_PS },
	/* Bit 7 of a PTE is PAT, not PS. */
	.leaf_type_mask = { X86_P, X86_P | X86_PS, X86_P | X86_PS },
	.run_kind = PT_RUN_NONE,
	.attr_mask = ~(X86_ADDR | X86_P | X86_PS),
	.leaf_rsvd = 0,
	.table_rsvd = X86_PS,
	.prot_to_attr = x86_prot_to_attr,
	.attr_to_prot = x86_attr_to_prot,
};
