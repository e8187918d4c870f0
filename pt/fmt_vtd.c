// SPDX-License-Identifier: MIT
/*
 * Intel VT-d second-stage tables: VT-d specification rev 4.x, section
 * 9.8 ("Second-Stage Paging Entries") and 3.7 (second-stage translation).
 *
 *   pt level | VT-d entry | leaf
 *   ---------+------------+---------------------
 *       4    | SS-PML5E   | none (5-level, 57-bit)
 *       3    | SS-PML4E   | none (4-level, 48-bit)
 *       2    | SS-PDPTE   | 1 GiB when PS (bit 7)
 *       1    | SS-PDE     | 2 MiB when PS (bit 7)
 *       0    | SS-PTE     | 4 KiB
 *
 * There is no present bit: hardware treats an entry with neither R nor W
 * as not present, and software keeps an unused entry all zero. Table
 * entries carry R|W (permissions are ANDed down the walk). No contiguous
 * runs. AGAW 39/48/57 bits = 3/4/5 levels.
 */
#include "pt/pt_fmt.h"

#define VTD_R PT_BIT(0)
#define VTD_W PT_BIT(1)
#define VTD_PS PT_BIT(7)
#define VTD_A PT_BIT(8)
#define VTD_D PT_BIT(9)
#define VTD_SNP PT_BIT(11)
#define VTD_ADDR PT_GENMASK(51, 12)

static int vtd_prot_to_attr(uint32_t prot, uint64_t *attr)
{
	if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)))
		return -PT_EINVAL;
	/* Second-stage permissions have no privilege level. */
	if (prot & PT_PROT_PRIV)
		return -PT_EOPNOTSUPP;
	uint64_t a = 0;
	if (prot & PT_PROT_READ)
		a |= VTD_R;
	if (prot & PT_PROT_WRITE)
		a |= VTD_W;
	/* Coherent memory: force snooping of the access. */
	if (prot & PT_PROT_CACHE)
		a |= VTD_SNP;
	/* DMA never executes: the X bit stays clear, NOEXEC needs nothing. */
	*attr = a;
	return 0;
}

static uint32_t vtd_attr_to_prot(uint64_t a)
{
	uint32_t prot = PT_PROT_NOEXEC;
	if (a & VTD_R)
		prot |= PT_PROT_READ;
	if (a & VTD_W)
		prot |= PT_PROT_WRITE;
	if (a & VTD_SNP)
		prot |= PT_PROT_CACHE;
	return prot;
}

const struct pt_fmt pt_fmt_vtd_ss = {
	.id = PT_FMT_VTD_SS,
	.name = "vtd-ss",
	.min_va_bits = 39,
	.max_va_bits = 57,
	.va_bits_allowed = PT_BIT(39) | PT_BIT(48) | PT_BIT(57),
	.max_oa_bits = 52,
	.sign_extend = false,
	.present_mask = ~0ull,
	/* Levels 1-2: table unless PS; 3-4 always tables; 0 never. */
	.table_mask = { 0, VTD_PS, VTD_PS, 0, 0 },
	.table_match = { 1, 0, 0, 0, 0 },
	.oa_lsb = 12,
	.table_bits = { [0 ... PT_MAX_LEVELS - 1] = VTD_R | VTD_W },
	.leaf_levels = 0x7,
	.leaf_type = { 0, VTD_PS, VTD_PS },
	.leaf_type_mask = { 0, VTD_PS, VTD_PS },
	.access_mask = VTD_R | VTD_W,
	.run_kind = PT_RUN_NONE,
	.attr_mask = ~(VTD_ADDR | VTD_PS),
	.leaf_rsvd = 0,
	.table_rsvd = VTD_PS,
	.prot_to_attr = vtd_prot_to_attr,
	.attr_to_prot = vtd_attr_to_prot,
};
