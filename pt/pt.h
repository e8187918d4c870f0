/* SPDX-License-Identifier: MIT */
/*
 * pt: generic radix IO page table.
 *
 * One set of algorithms (map, unmap, walk, split, join, diff, reconcile)
 * over several hardware formats, each a small description plus entry
 * encoders (pt_fmt.h). Freestanding: only <stdint.h>, <stddef.h>,
 * <stdbool.h> and <string.h>; table pages come from the caller.
 *
 * Levels are numbered from the leaf up, whatever the manual calls them:
 *
 *   pt level | item size | ARM VMSAv8-64 4K | VT-d second stage | x86-64
 *   ---------+-----------+------------------+-------------------+--------
 *       0    |   4 KiB   | level 3 (page)   | SS-PTE            | PTE
 *       1    |   2 MiB   | level 2 (block)  | SS-PDE            | PDE
 *       2    |   1 GiB   | level 1 (block)  | SS-PDPTE          | PDPTE
 *       3    | 512 GiB   | level 0          | SS-PML4E          | PML4E
 *       4    | 256 TiB   | -                | SS-PML5E          | PML5E
 *
 * Units are in names: *_lg2 is a log2, va/last are an inclusive IOVA range,
 * oa is an output (physical) address, len a byte count.
 *
 * Hardware visibility: every table word is read and written with one
 * 64-bit single-copy-atomic access; a new table page is fully written
 * before a release store links it in. Pages that leave the tree are handed
 * to the caller's defer_free() and must stay intact until the caller's
 * invalidation of the range covering them has completed.
 *
 * Mutations of one table must be serialised by the caller; lookups
 * (pt_iova_to_phys, the iterator, hardware walks) may run concurrently.
 */
#ifndef IOH_PT_H
#define IOH_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t pt_vaddr_t; /* IO virtual address */
typedef uint64_t pt_oaddr_t; /* output (physical) address */

/* Errors: negative errno values, spelt out so the core needs no errno.h. */
#define PT_EPERM 1      /* operation not allowed on this entry */
#define PT_ENOENT 2     /* nothing mapped there */
#define PT_ENOMEM 12    /* table page allocation failed */
#define PT_EFAULT 14    /* a table pointer does not resolve to table memory */
#define PT_EEXIST 17    /* range already (partly) mapped */
#define PT_EINVAL 22    /* malformed argument */
#define PT_ERANGE 34    /* address beyond the format's width */
#define PT_EOPNOTSUPP 95 /* protection or size the format cannot express */
#define PT_EOVERFLOW 75 /* va + len wraps */
/* EPROTO: a mutation needed other table pages than it counted before
 * writing. A bug in pt, reported rather than trusted; the call is undone
 * (docs/pt.md, "All or nothing"). */
#define PT_EPLAN 71

const char *pt_strerror(int err);

enum pt_format_id {
	PT_FMT_ARM_S1,  /* VMSAv8-64 stage 1, 4K granule (SMMUv3 CD tables) */
	PT_FMT_ARM_S2,  /* VMSAv8-64 stage 2, 4K granule (SMMUv3 STE S2TTB) */
	PT_FMT_VTD_SS,  /* Intel VT-d second-stage tables */
	PT_FMT_X86_64,  /* x86-64 first stage (VT-d FS, AMD v2), sign-extended */
	PT_FMT_AMD_V1,  /* AMD IOMMU v1 host tables, replicated page sizes */
	PT_FMT_RISCV,   /* RISC-V IOMMU Sv39/48/57 with Svnapot, sign-extended */
	PT_FMT_COUNT
};

/* Generic protection; each format maps it or refuses with PT_EOPNOTSUPP. */
#define PT_PROT_READ (1u << 0)
#define PT_PROT_WRITE (1u << 1)
#define PT_PROT_CACHE (1u << 2)  /* coherent, cacheable memory */
#define PT_PROT_NOEXEC (1u << 3)
#define PT_PROT_PRIV (1u << 4)   /* privileged accesses only */
#define PT_PROT_ALL (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE | \
		     PT_PROT_NOEXEC | PT_PROT_PRIV)

/* Leaf sizes as a bitmap of byte sizes (bit n set = 2^n bytes allowed). */
#define PT_SZ_4K (1ull << 12)
#define PT_SZ_64K (1ull << 16)  /* ARM contiguous run of 16 x 4K */
#define PT_SZ_2M (1ull << 21)
#define PT_SZ_32M (1ull << 25)  /* ARM contiguous run of 16 x 2M */
#define PT_SZ_1G (1ull << 30)

#define PT_MAX_LEVELS 6
#define PT_TABLE_SIZE 4096u
#define PT_TABLE_ITEMS 512u

struct pt_fmt;

/*
 * Table memory supplied by the caller. Pages are PT_TABLE_SIZE bytes,
 * aligned to their size.
 */
struct pt_mem_ops {
	/*
	 * One page, contents undefined (pt initialises every word before
	 * hardware can see the page); its physical address in *pa. NULL
	 * when out of memory.
	 */
	void *(*alloc)(void *ctx, pt_oaddr_t *pa);
	/* Free a page hardware has never seen, or at deinit. */
	void (*free)(void *ctx, void *page, pt_oaddr_t pa);
	/*
	 * A page left the tree; hardware may still walk it until the
	 * caller's next invalidation completes. Free it only after that.
	 */
	void (*defer_free)(void *ctx, void *page, pt_oaddr_t pa);
	/*
	 * A concatenated top (ARM stage 2, see pt_fmt_top_lg2): 2^lg2
	 * physically contiguous pages aligned to their size, contents
	 * undefined; and its release. Needed only for such tables (pt_init
	 * refuses them with PT_EOPNOTSUPP without it).
	 */
	void *(*alloc_top)(void *ctx, unsigned int lg2, pt_oaddr_t *pa);
	void (*free_top)(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2);
	/* Virtual address of table memory at pa, or NULL if pa is not RAM. */
	void *(*phys_to_virt)(void *ctx, pt_oaddr_t pa);
	/*
	 * Optional linear window: when set, every table page the library
	 * itself installed is at virtual address pa + linear_offset, and
	 * walks use that instead of calling phys_to_virt.
	 */
	bool linear;
	uintptr_t linear_offset;
};

struct pt_cfg {
	enum pt_format_id fmt;
	unsigned int va_bits;  /* IOVA width; picks the number of levels */
	unsigned int oa_bits;  /* output address width */
	uint64_t pgsizes;      /* leaf sizes map may choose; 0 = all the format has */
};

struct pt_table {
	const struct pt_fmt *fmt;
	const struct pt_mem_ops *mem;
	void *mem_ctx;
	uint64_t *top;          /* virtual address of the top table */
	pt_oaddr_t top_pa;
	unsigned int top_level; /* level of the top table */
	unsigned int top_lg2;   /* the top is 2^top_lg2 contiguous pages */
	unsigned int va_bits;
	unsigned int oa_bits;
	uint64_t pgsizes;       /* effective: cfg & format & oa_bits */
	uint64_t nr_tables;     /* table pages in the tree, top included */
};

/*
 * What a mutation changed, for the caller's invalidation: the IOVA span
 * touched and whether table (non-leaf) entries changed, in which case a
 * leaf-only invalidation would leave stale walk-cache entries behind.
 */
struct pt_gather {
	pt_vaddr_t va;
	pt_vaddr_t last;      /* va > last: nothing touched */
	uint8_t leaf_levels;  /* bit n: a leaf at level n was removed/changed */
	bool tables_changed;
	uint32_t nr_deferred; /* pages passed to defer_free */
};

void pt_gather_init(struct pt_gather *g);
static inline bool pt_gather_empty(const struct pt_gather *g)
{
	return g->va > g->last;
}

int pt_init(struct pt_table *t, const struct pt_cfg *cfg,
	    const struct pt_mem_ops *mem, void *mem_ctx);
/* Free every table page with mem->free; the caller has fenced hardware. */
void pt_deinit(struct pt_table *t);

/* Format facts for the hardware side (walkers, configuration entries). */
const struct pt_fmt *pt_fmt_get(enum pt_format_id id);
const char *pt_fmt_name(enum pt_format_id id);
int pt_fmt_by_name(const char *name, enum pt_format_id *id);
/*
 * Whether break-before-make levels apply to the format (ARM, SMMUv3
 * 3.21.1): a change of leaf size on a live address needs BBM level 2 (or
 * 1 for contiguous-hint-only changes). Other formats tolerate size-only
 * changes and have no BBM level.
 */
bool pt_fmt_bbm_levels(enum pt_format_id id);
/* Whether IOVA bit va_bits-1 extends to bit 63 (x86-64 canonical form). */
bool pt_fmt_sign_extends(enum pt_format_id id);
uint64_t pt_fmt_pgsizes(enum pt_format_id id);
/* Widest output address the format encodes (ARM: 48, no FEAT_LPA). */
unsigned int pt_fmt_max_oa_bits(enum pt_format_id id);
/* prot as a leaf of the format reads back (e.g. VT-d never executes), so
 * intent and table can be compared; 0 when the format refuses it. */
uint32_t pt_fmt_canon_prot(enum pt_format_id id, uint32_t prot);
/* Levels a table of va_bits walks (after concatenation), or < 0. */
int pt_fmt_levels_for(enum pt_format_id id, unsigned int va_bits);
/*
 * log2 of the pages of the top table: 0, or 1..4 where the format
 * concatenates its start level (ARM stage 2, as Linux's io-pgtable-arm
 * does: a top that would use at most 16 entries becomes that many
 * contiguous tables one level lower; SMMUv3 STE S2SL0 and S2T0SZ).
 */
int pt_fmt_top_lg2(enum pt_format_id id, unsigned int va_bits);

/*
 * Map [va, va + len) to [pa, pa + len). Leaves are the largest allowed
 * size both addresses are aligned to and that fits, so the same calls with
 * the same cfg give bit-identical tables. All or nothing: on error the
 * table is unchanged byte for byte. (PT_EPLAN, pt catching a bug of its
 * own, is undone too, but hardware may have seen part of the map: g then
 * covers the range, to invalidate before freeing deferred pages.)
 */
int pt_map_range(struct pt_table *t, pt_vaddr_t va, pt_oaddr_t pa,
		 uint64_t len, uint32_t prot, struct pt_gather *g);
/*
 * Failure injection, for tests of pt's callers (docs/testing.md): while
 * nonzero, each pt_map_range call counts it down, and the call that
 * brings it to zero commits with one table page more than it planned,
 * as a plan/commit disagreement (a pt bug) would: its leaves are written
 * live, then undone, and it fails with PT_EPLAN. Not thread-safe; 0 in
 * normal use.
 */
extern unsigned long pt_inject_eplan;

/*
 * Unmap [va, va + len). A leaf that straddles an end of the range is
 * split when PT_UNMAP_SPLIT is given (the remainder keeps its
 * translation), otherwise the call fails with PT_EINVAL and nothing
 * changes. Never removes more than asked. A hole inside the range is
 * fine; the bytes actually unmapped are returned through *unmapped.
 * Tables left empty are removed. PT_EPLAN is undone as for pt_map_range.
 */
#define PT_UNMAP_SPLIT (1u << 0)
int pt_unmap_range(struct pt_table *t, pt_vaddr_t va, uint64_t len,
		   unsigned int flags, struct pt_gather *g, uint64_t *unmapped);

/* PA of va (with the offset inside the page), or PT_ENOENT. */
int pt_iova_to_phys(const struct pt_table *t, pt_vaddr_t va, pt_oaddr_t *pa);

/* One leaf entry; a contiguous run counts as one leaf of its full size. */
struct pt_leaf {
	pt_vaddr_t va;
	pt_oaddr_t oa;
	unsigned int size_lg2;
	unsigned int level;
	uint32_t prot;      /* decoded generic protection */
	uint64_t attr;      /* raw attribute bits (format's attr mask) */
	bool contig;
};

/*
 * Iterator over the leaves intersecting [va, last], in IOVA order. It
 * keeps no pointers into the table, so mutating between steps is fine.
 */
struct pt_iter {
	pt_vaddr_t next;
	pt_vaddr_t last;
	bool done;
};
void pt_iter_init(struct pt_iter *it, const struct pt_table *t,
		  pt_vaddr_t va, pt_vaddr_t last);
bool pt_iter_next(const struct pt_table *t, struct pt_iter *it,
		  struct pt_leaf *leaf);
/* The leaf containing va, or PT_ENOENT. */
int pt_leaf_at(const struct pt_table *t, pt_vaddr_t va, struct pt_leaf *leaf);

/*
 * Layout operations. Both keep every translation as it is and change only
 * granularity; both write the new layout with single 64-bit stores (a
 * split's new table is complete before it is linked). Whether a live
 * table may be reshaped that way is the hardware's BBM level: see
 * docs/pt.md. Sizes are any the format can express, whatever cfg.pgsizes.
 */
/* Split the leaf containing va one step: contiguous run -> its items,
 * block -> a table of next-level items. */
int pt_split(struct pt_table *t, pt_vaddr_t va, struct pt_gather *g);
/* Make [va, va + 2^size_lg2) one leaf; PT_EINVAL if its translations are
 * not one linear run with one set of attributes. */
int pt_join(struct pt_table *t, pt_vaddr_t va, unsigned int size_lg2,
	    struct pt_gather *g);

enum pt_diff_kind {
	PT_DIFF_SAME,        /* same leaves, bit for bit */
	PT_DIFF_GRANULE,     /* same translations, different leaf sizes */
	PT_DIFF_TRANSLATION, /* different output, attributes, or presence */
};
const char *pt_diff_kind_name(enum pt_diff_kind k);

struct pt_diff_range {
	pt_vaddr_t va;
	pt_vaddr_t last;
	enum pt_diff_kind kind;
};
typedef int (*pt_diff_fn)(void *arg, const struct pt_diff_range *r);

/*
 * Compare a and b (same format, any allocators) over [va, last]. Calls fn
 * for each maximal range of one kind; ranges unmapped in both are skipped.
 * A non-zero return from fn stops the walk and is returned.
 */
int pt_diff(const struct pt_table *a, const struct pt_table *b,
	    pt_vaddr_t va, pt_vaddr_t last, pt_diff_fn fn, void *arg);

struct pt_reconcile_stats {
	uint64_t splits;
	uint64_t joins;
	uint64_t granule_bytes;     /* bytes whose layout was changed */
	uint64_t mismatch_bytes;    /* translation differs: left untouched */
};
/*
 * Split and join nt until its layout equals old wherever their
 * translations agree; ranges that differ are left as they are and
 * counted. Afterwards pt_diff(nt, old) reports no PT_DIFF_GRANULE.
 */
int pt_reconcile(struct pt_table *nt, const struct pt_table *old,
		 struct pt_gather *g, struct pt_reconcile_stats *st);

/* Each table page (pa and level), top first (each page of a
 * concatenated top); a non-zero return stops. */
typedef int (*pt_table_fn)(void *arg, pt_oaddr_t pa, unsigned int level);
int pt_for_each_table(const struct pt_table *t, pt_table_fn fn, void *arg);

/*
 * Take over a table somebody else built (a previous kernel) at top_pa,
 * after checking all of it: every table pointer resolves through
 * phys_to_virt, every entry decodes (no reserved bits, no misplaced or
 * misaligned leaf, outputs within cfg->oa_bits), every contiguous run is
 * whole and consistent, and claim() accepts each table page, which it
 * sees exactly once if the tree is a tree (the caller records its claims:
 * a page reached twice, through a cycle or a shared subtree, must fail
 * there). On error *bad_va is the IOVA of the offending entry, the table
 * is not adopted and the caller undoes its claims.
 */
int pt_adopt(struct pt_table *t, const struct pt_cfg *cfg,
	     const struct pt_mem_ops *mem, void *mem_ctx, pt_oaddr_t top_pa,
	     pt_table_fn claim, void *claim_arg, pt_vaddr_t *bad_va);

/* Human-readable dump of the leaves (runs folded) through emit(). */
typedef void (*pt_emit_fn)(void *arg, const char *s);
void pt_dump(const struct pt_table *t, pt_emit_fn emit, void *arg);

/*
 * Decoding a single entry, for the hardware model's walker: what the
 * entry at this level is, and if a leaf, what it maps.
 */
enum pt_entry_type { PT_ENTRY_EMPTY, PT_ENTRY_TABLE, PT_ENTRY_LEAF,
		     PT_ENTRY_BAD };
struct pt_entry_info {
	enum pt_entry_type type;
	pt_oaddr_t oa;          /* leaf output or next-table address */
	unsigned int size_lg2;  /* leaf: size of this item (one item, not the run) */
	bool contig;            /* leaf: an item of a run (contiguous or replicated) */
	bool replicated;        /* leaf: of a replicated run; oa is the page's */
	unsigned int run_lg2;   /* leaf: items in its run, log2 (0: no run) */
	uint32_t prot;
	uint64_t attr;
};
/* Index of va in a table at level. */
static inline unsigned int pt_level_index(pt_vaddr_t va, unsigned int level)
{
	return (unsigned int)(va >> (12 + 9 * level)) & (PT_TABLE_ITEMS - 1);
}

/* Entries of t's table at level: more for a concatenated top. */
static inline unsigned int pt_items(const struct pt_table *t,
				    unsigned int level)
{
	return level == t->top_level ? PT_TABLE_ITEMS << t->top_lg2 :
				       PT_TABLE_ITEMS;
}

/* Index of va in t's table at level (pt_level_index, top-aware). */
static inline unsigned int pt_index(const struct pt_table *t, pt_vaddr_t va,
				    unsigned int level)
{
	return (unsigned int)(va >> (12 + 9 * level)) & (pt_items(t, level) - 1);
}
void pt_fmt_decode(const struct pt_fmt *f, uint64_t entry, unsigned int level,
		   struct pt_entry_info *info);
/* The entry linking a next-level table at pa (tools and tests that
 * build or damage tables by hand). */
uint64_t pt_fmt_table_entry(const struct pt_fmt *f, unsigned int level,
			    pt_oaddr_t pa);
/* Run lengths a leaf at level may have: bit k, runs of 2^k items. */
unsigned int pt_fmt_run_lg2s(const struct pt_fmt *f, unsigned int level);
/* Whether every item of a run holds the same entry (AMD v1, RISC-V). */
bool pt_fmt_runs_replicated(const struct pt_fmt *f);

#endif /* IOH_PT_H */
