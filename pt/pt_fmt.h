/* SPDX-License-Identifier: MIT */
/*
 * pt_fmt: what a page-table format is, as data. The algorithms in pt.c
 * and pt_layout.c know nothing else about a format than this struct, so
 * adding a format means one fmt_*.c file and one line in pt_fmt_get().
 *
 * An entry is built as  type bits | attribute bits | output address
 * (| contiguous bit), and classified with two masks per level:
 *   present: (e & present_mask) != 0
 *   table:   (e & table_mask[level]) == table_match[level]
 * which fits every 4 KiB-granule radix format we model (ARM bits 1:0,
 * x86 P and PS, VT-d "any bit set" and PS).
 */
#ifndef IOH_PT_FMT_H
#define IOH_PT_FMT_H

#include "pt/pt.h"

struct pt_fmt {
	enum pt_format_id id;
	const char *name;
	unsigned int min_va_bits;
	unsigned int max_va_bits;
	uint64_t va_bits_allowed;   /* bit n: va_bits == n accepted */
	unsigned int max_oa_bits;
	bool sign_extend;           /* IOVA bit va_bits-1 extends to bit 63 */
	/*
	 * Break-before-make levels apply (SMMUv3 IHI 0070 3.21.1): on a live
	 * address a change of leaf size may make the TLB hold two entries and
	 * abort below BBM level 2; level 1 allows contiguous-hint-only changes.
	 * Without it (VT-d, x86) size-only changes are tolerated and the
	 * hardware has no BBM level to set.
	 */
	bool bbm_levels;

	uint64_t present_mask;
	uint64_t table_mask[PT_MAX_LEVELS];
	uint64_t table_match[PT_MAX_LEVELS];
	uint64_t table_bits;        /* type/permission bits of a table entry */
	uint8_t leaf_levels;        /* bit n: leaves allowed at level n */
	uint64_t leaf_type[PT_MAX_LEVELS]; /* type bits of a leaf at level n */
	uint64_t leaf_type_mask[PT_MAX_LEVELS]; /* bits leaf_type is read from */
	/* Bits of which a present entry, leaf or table, needs one (VT-d R|W:
	 * with neither the entry is not present to hardware), or 0. */
	uint64_t access_mask;
	uint64_t contig_bit;
	uint8_t contig_lg2[PT_MAX_LEVELS]; /* items per run, log2; 0: none */
	/* Bits that are neither address, type nor contiguous hint. */
	uint64_t attr_mask;
	/* Bits that must be zero in a leaf / a table entry (reserved). */
	uint64_t leaf_rsvd;
	uint64_t table_rsvd;

	/* Generic protection -> attribute bits, or PT_EOPNOTSUPP/PT_EINVAL. */
	int (*prot_to_attr)(uint32_t prot, uint64_t *attr);
	uint32_t (*attr_to_prot)(uint64_t attr);
};

extern const struct pt_fmt pt_fmt_arm_s1;
extern const struct pt_fmt pt_fmt_arm_s2;
extern const struct pt_fmt pt_fmt_vtd_ss;
extern const struct pt_fmt pt_fmt_x86_64;

#define PT_BIT(n) (1ull << (n))
/* Bits h..l inclusive, h >= l. */
#define PT_GENMASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))
#define PT_FIELD_PREP(mask, v) (((uint64_t)(v) << __builtin_ctzll(mask)) & (mask))
#define PT_FIELD_GET(mask, e) (((e) & (mask)) >> __builtin_ctzll(mask))

static inline unsigned int pt_item_lg2(unsigned int level)
{
	return 12 + 9 * level;
}

static inline uint64_t pt_oa_mask(const struct pt_fmt *f)
{
	return PT_GENMASK(f->max_oa_bits - 1, 12);
}

static inline bool pt_fmt_present(const struct pt_fmt *f, uint64_t e)
{
	return (e & f->present_mask) != 0;
}

static inline bool pt_fmt_is_table(const struct pt_fmt *f, uint64_t e,
				   unsigned int level)
{
	return (e & f->table_mask[level]) == f->table_match[level];
}

static inline bool pt_fmt_leaf_ok(const struct pt_fmt *f, unsigned int level)
{
	return (f->leaf_levels >> level) & 1;
}

#endif /* IOH_PT_FMT_H */
