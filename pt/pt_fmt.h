/* SPDX-License-Identifier: MIT */
/*
 * pt_fmt: what a page-table format is, as data. The algorithms in pt.c
 * and pt_layout.c know nothing else about a format than this struct, so
 * adding a format means one fmt_*.c file and one line in pt_fmt_get().
 *
 * An entry is built as  type bits | attribute bits | output address
 * (| run bits), and classified with two masks per level:
 *   present: (e & present_mask) != 0
 *   table:   (e & table_mask[level]) == table_match[level]
 * which fits every 4 KiB-granule radix format we model (ARM bits 1:0,
 * x86 P and PS, VT-d "any bit set" and PS, AMD v1 NextLevel, RISC-V
 * R|W|X clear). The output address's bit 12 sits at entry bit oa_lsb
 * (12, or 10 for RISC-V's PPN field).
 *
 * Leaves larger than their level's item are runs of 2^k items, in one of
 * three encodings (run_kind):
 *   PT_RUN_CONTIG  each item keeps its own output address and sets
 *                  run_bits (ARM's contiguous bit, one run length a level)
 *   PT_RUN_ONES    every item holds the same entry: run_bits set and the
 *                  page size as a run of one bits from address bit 12,
 *                  size 2^(13 + ones) (AMD v1 NextLevel 7)
 *   PT_RUN_NAPOT   every item holds the same entry: run_bits set and the
 *                  page size as the lowest one bit of the address, size
 *                  2^(13 + zeros below it) (RISC-V Svnapot)
 * run_lg2s[level] says which k are allowed at a level.
 */
#ifndef IOH_PT_FMT_H
#define IOH_PT_FMT_H

#include "pt/pt.h"

enum pt_run_kind {
	PT_RUN_NONE,
	PT_RUN_CONTIG,
	PT_RUN_ONES,
	PT_RUN_NAPOT,
};

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
	/* Start-level concatenation (ARM stage 2, DDI 0487 D8.2.6; IHI 0070
	 * STE.S2SL0): a top of at most 16 entries is replaced by that many
	 * contiguous tables one level lower. */
	bool concat_top;

	uint64_t present_mask;
	uint64_t table_mask[PT_MAX_LEVELS];
	uint64_t table_match[PT_MAX_LEVELS];
	unsigned int oa_lsb;        /* entry bit of output address bit 12 */
	/* type/permission bits of a table entry at level n */
	uint64_t table_bits[PT_MAX_LEVELS];
	uint8_t leaf_levels;        /* bit n: leaves allowed at level n */
	uint64_t leaf_type[PT_MAX_LEVELS]; /* type bits of a leaf at level n */
	uint64_t leaf_type_mask[PT_MAX_LEVELS]; /* bits leaf_type is read from */
	/* Bits of which a present entry, leaf or table, needs one (VT-d R|W:
	 * with neither the entry is not present to hardware), or 0. */
	uint64_t access_mask;
	enum pt_run_kind run_kind;
	uint64_t run_bits;          /* set in every entry of a run */
	uint16_t run_lg2s[PT_MAX_LEVELS]; /* bit k: runs of 2^k items (k >= 1) */
	/* Bits that are neither address, type nor run bits. */
	uint64_t attr_mask;
	/* Bits that must be zero in a leaf / a table entry (reserved). */
	uint64_t leaf_rsvd;
	uint64_t table_rsvd;

	/* Generic protection -> attribute bits, or PT_EOPNOTSUPP/PT_EINVAL. */
	int (*prot_to_attr)(uint32_t prot, uint64_t *attr);
	uint32_t (*attr_to_prot)(uint64_t attr);
	/* Optional: whether a leaf's attribute bits are a valid combination
	 * (RISC-V: W without R is reserved). NULL: all are. */
	bool (*leaf_attr_ok)(uint64_t attr);
};

extern const struct pt_fmt pt_fmt_arm_s1;
extern const struct pt_fmt pt_fmt_arm_s2;
extern const struct pt_fmt pt_fmt_vtd_ss;
extern const struct pt_fmt pt_fmt_x86_64;
extern const struct pt_fmt pt_fmt_amd_v1;
extern const struct pt_fmt pt_fmt_riscv;

#define PT_BIT(n) (1ull << (n))
/* Bits h..l inclusive, h >= l. */
#define PT_GENMASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))
#define PT_FIELD_PREP(mask, v) (((uint64_t)(v) << __builtin_ctzll(mask)) & (mask))
#define PT_FIELD_GET(mask, e) (((e) & (mask)) >> __builtin_ctzll(mask))

static inline unsigned int pt_item_lg2(unsigned int level)
{
	return 12 + 9 * level;
}

/* The entry bits holding the output address. */
static inline uint64_t pt_oa_mask(const struct pt_fmt *f)
{
	return PT_GENMASK(f->max_oa_bits - 13 + f->oa_lsb, f->oa_lsb);
}

/* Output address pa (4 KiB aligned) as entry bits, and back. */
static inline uint64_t pt_oa_bits(const struct pt_fmt *f, uint64_t pa)
{
	return (pa >> 12) << f->oa_lsb;
}

static inline uint64_t pt_bits_oa(const struct pt_fmt *f, uint64_t e)
{
	return ((e & pt_oa_mask(f)) >> f->oa_lsb) << 12;
}

/* Whether e (a leaf at level) is an item of a run. */
static inline bool pt_fmt_run_entry(const struct pt_fmt *f, uint64_t e,
				    unsigned int level)
{
	return f->run_lg2s[level] && f->run_bits &&
	       (e & f->run_bits) == f->run_bits;
}

static inline bool pt_fmt_replicated(const struct pt_fmt *f)
{
	return f->run_kind == PT_RUN_ONES || f->run_kind == PT_RUN_NAPOT;
}

/*
 * The page size a replicated entry encodes in its address bits pa, or 0
 * when the encoding is malformed.
 */
static inline unsigned int pt_fmt_repl_size_lg2(const struct pt_fmt *f,
						uint64_t pa)
{
	uint64_t x = pa >> 12;
	if (f->run_kind == PT_RUN_ONES)
		x = ~x;
	if (!x)
		return 0;
	return 13u + (unsigned int)__builtin_ctzll(x);
}

/* Address bits encoding a replicated page of 2^size_lg2 bytes. */
static inline uint64_t pt_fmt_repl_size_bits(const struct pt_fmt *f,
					     unsigned int size_lg2)
{
	if (f->run_kind == PT_RUN_ONES)
		return ((1ull << (size_lg2 - 1)) - 1) & ~0xfffull;
	return 1ull << (size_lg2 - 1);
}

/*
 * The entry for the first item of a leaf of 2^size_lg2 bytes at level
 * mapping pa with attr; the next item's entry is this plus
 * pt_fmt_leaf_step() (0 for a replicated run: every item is the same).
 */
static inline uint64_t pt_fmt_leaf_entry(const struct pt_fmt *f,
					 unsigned int level, uint64_t attr,
					 uint64_t pa, unsigned int size_lg2)
{
	uint64_t e = attr | f->leaf_type[level];
	if (size_lg2 == pt_item_lg2(level))
		return e | pt_oa_bits(f, pa);
	e |= f->run_bits;
	if (pt_fmt_replicated(f))
		pa |= pt_fmt_repl_size_bits(f, size_lg2);
	return e | pt_oa_bits(f, pa);
}

static inline uint64_t pt_fmt_leaf_step(const struct pt_fmt *f,
					unsigned int level,
					unsigned int size_lg2)
{
	if (size_lg2 != pt_item_lg2(level) && pt_fmt_replicated(f))
		return 0;
	return pt_oa_bits(f, 1ull << pt_item_lg2(level));
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
