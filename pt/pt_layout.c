// SPDX-License-Identifier: MIT
/*
 * Layout operations: change how a table realises its translations (leaf
 * sizes, contiguous runs) without changing any translation, and compare
 * two tables' layouts. These are what make a replayed table safe to
 * switch to on hardware without break-before-make level 2
 * (docs/reference.md section 3 rule 2): the new table must hold every old
 * translation at the old granularity.
 *
 * Built on pt.c (lookup, the iterator, the page pool and pt_split_one,
 * the one-step split unmap shares); pt.c calls nothing in this file.
 *
 * Leaves are aligned power-of-two blocks, so two leaves (of one table or
 * of two) are either disjoint or one contains the other. Comparisons run
 * in "clusters": the larger of the two leaves at an address, against all
 * leaves of the other table inside it.
 */
#include "pt/pt_internal.h"

#include <string.h>

int pt_split(struct pt_table *t, pt_vaddr_t va, struct pt_gather *g)
{
	struct pt_leaf leaf;
	int err = pt_leaf_at(t, va, &leaf);
	if (err)
		return err;
	if (!leaf.contig && leaf.level == 0)
		return -PT_EINVAL;
	struct pt_pool pool = { 0 };
	err = pt_pool_fill(t, &pool, leaf.contig ? 0 : 1);
	if (err)
		return err;
	err = pt_split_one(t, va, &pool, g);
	pt_pool_drain(t, &pool);
	return err;
}

/* Level and run flag for a leaf of 2^size_lg2 bytes. */
static int size_to_level(const struct pt_fmt *f, unsigned int size_lg2,
			 unsigned int *level, bool *contig)
{
	for (unsigned int l = 0; l < PT_MAX_LEVELS; l++) {
		if (!pt_fmt_leaf_ok(f, l) || size_lg2 < pt_item_lg2(l))
			continue;
		unsigned int k = size_lg2 - pt_item_lg2(l);
		if (!k) {
			*level = l;
			*contig = false;
			return 0;
		}
		if (k < 16 && (f->run_lg2s[l] >> k) & 1) {
			*level = l;
			*contig = true;
			return 0;
		}
	}
	return -PT_EOPNOTSUPP;
}

/*
 * Whether the leaves of t inside [va, last] map exactly va..last linearly
 * onto oa.. with attributes attr, without holes.
 */
static bool range_is_linear(const struct pt_table *t, pt_vaddr_t va,
			    pt_vaddr_t last, pt_oaddr_t oa, uint64_t attr)
{
	struct pt_iter it;
	struct pt_leaf l;
	pt_vaddr_t expect = va;
	pt_iter_init(&it, t, va, last);
	while (pt_iter_next(t, &it, &l)) {
		pt_vaddr_t lva = l.va < va ? va : l.va;
		pt_vaddr_t lend = l.va + ((1ull << l.size_lg2) - 1);
		if (lva != expect || l.attr != attr ||
		    l.oa + (lva - l.va) != oa + (lva - va))
			return false;
		if (lend >= last)
			return true;
		expect = lend + 1;
	}
	return false;
}

int pt_join(struct pt_table *t, pt_vaddr_t va, unsigned int size_lg2,
	    struct pt_gather *g)
{
	const struct pt_fmt *f = t->fmt;
	unsigned int level;
	bool contig;
	if (size_lg2 >= 64)
		return -PT_EINVAL;
	int err = size_to_level(f, size_lg2, &level, &contig);
	if (err)
		return err;
	uint64_t size = 1ull << size_lg2;
	if (va & (size - 1))
		return -PT_EINVAL;
	err = pt_check_range(t, va, size);
	if (err)
		return err;
	if (level > t->top_level)
		return -PT_EOPNOTSUPP;

	struct pt_leaf first;
	err = pt_leaf_at(t, va, &first);
	if (err)
		return -PT_EINVAL;
	if (first.size_lg2 > size_lg2 || (first.oa & (size - 1)))
		return -PT_EINVAL;
	if (first.size_lg2 == size_lg2)
		return 0;
	pt_vaddr_t last = va + (size - 1);
	if (!range_is_linear(t, va, last, first.oa, first.attr))
		return -PT_EINVAL;

	/* Walk to the slots at the target level; all above are tables. */
	uint64_t *table = t->top;
	for (unsigned int l = t->top_level; l > level; l--)
		table = pt_next_table(t, pt_read(&table[pt_index(t, va, l)]));

	unsigned int n = contig ? 1u << (size_lg2 - pt_item_lg2(level)) : 1;
	uint64_t e = pt_fmt_leaf_entry(f, level, first.attr, first.oa, size_lg2);
	uint64_t step = pt_fmt_leaf_step(f, level, size_lg2);
	uint64_t *p = &table[pt_index(t, va, level)];
	uint8_t levels = 0;
	for (unsigned int i = 0; i < n; i++, e += step) {
		uint64_t old = pt_read(&p[i]);
		pt_write(&p[i], e);
		if (level > 0 && pt_fmt_is_table(f, old, level)) {
			pt_retire_subtree(t, pt_entry_addr(t, old), level - 1, g);
			levels |= (uint8_t)((1u << level) - 1);
		} else {
			levels |= (uint8_t)(1u << level);
		}
	}
	pt_gather_add(g, va, last);
	if (g)
		g->leaf_levels |= levels;
	return 0;
}

/* ---- diff --------------------------------------------------------- */

const char *pt_diff_kind_name(enum pt_diff_kind k)
{
	switch (k) {
	case PT_DIFF_SAME: return "same";
	case PT_DIFF_GRANULE: return "granule";
	case PT_DIFF_TRANSLATION: return "translation";
	}
	return "unknown";
}

/* The leaf of t containing va, or the start of the next one (has = false). */
struct leaf_probe {
	bool has;        /* a leaf contains va */
	bool more;       /* a leaf starts after va (within last) */
	pt_vaddr_t next; /* its start */
	struct pt_leaf leaf;
};

static void probe(const struct pt_table *t, pt_vaddr_t va, pt_vaddr_t last,
		  struct leaf_probe *pr)
{
	struct pt_iter it;
	pt_iter_init(&it, t, va, last);
	pr->has = pr->more = false;
	if (!pt_iter_next(t, &it, &pr->leaf))
		return;
	if (pr->leaf.va <= va) {
		pr->has = true;
	} else {
		pr->more = true;
		pr->next = pr->leaf.va;
	}
}

static pt_vaddr_t leaf_last(const struct pt_leaf *l)
{
	return l->va + ((1ull << l->size_lg2) - 1);
}

/*
 * Classify the cluster [va, last] where big is the larger leaf (of one
 * table) and other is the other table.
 */
static enum pt_diff_kind cluster_kind(const struct pt_leaf *big,
				      const struct pt_table *other,
				      pt_vaddr_t va, pt_vaddr_t last)
{
	struct pt_leaf small;
	if (!pt_leaf_at(other, va, &small) && small.va == big->va &&
	    small.size_lg2 == big->size_lg2)
		return small.oa == big->oa && small.attr == big->attr ?
			PT_DIFF_SAME : PT_DIFF_TRANSLATION;
	return range_is_linear(other, va, last, big->oa + (va - big->va),
			       big->attr) ? PT_DIFF_GRANULE : PT_DIFF_TRANSLATION;
}

struct diff_out {
	pt_diff_fn fn;
	void *arg;
	bool open;
	struct pt_diff_range cur;
};

static int diff_emit(struct diff_out *o, pt_vaddr_t va, pt_vaddr_t last,
		     enum pt_diff_kind kind)
{
	if (o->open && o->cur.kind == kind && o->cur.last + 1 == va) {
		o->cur.last = last;
		return 0;
	}
	int ret = 0;
	if (o->open)
		ret = o->fn(o->arg, &o->cur);
	o->cur = (struct pt_diff_range){ .va = va, .last = last, .kind = kind };
	o->open = true;
	return ret;
}

/*
 * One step of a merged walk of a and b from va: the range [va, *end] and
 * its kind; *skip when neither maps va (then *end is where to go on, or
 * the walk is over when *done).
 */
struct step {
	pt_vaddr_t end;
	enum pt_diff_kind kind;
	bool skip;
	bool done;
	bool a_bigger;   /* cluster from a's leaf (else b's) */
	struct pt_leaf big;
};

static void diff_step(const struct pt_table *a, const struct pt_table *b,
		      pt_vaddr_t va, pt_vaddr_t last, struct step *s)
{
	struct leaf_probe pa, pb;
	probe(a, va, last, &pa);
	probe(b, va, last, &pb);
	memset(s, 0, sizeof(*s));
	if (!pa.has && !pb.has) {
		s->skip = true;
		if (!pa.more && !pb.more) {
			s->done = true;
			return;
		}
		if (pa.more && pb.more)
			s->end = pa.next < pb.next ? pa.next : pb.next;
		else
			s->end = pa.more ? pa.next : pb.next;
		return;
	}
	if (pa.has != pb.has) {
		/* Mapped in one table only, up to where the other starts. */
		const struct leaf_probe *in = pa.has ? &pa : &pb;
		const struct leaf_probe *out = pa.has ? &pb : &pa;
		pt_vaddr_t end = leaf_last(&in->leaf);
		if (out->more && out->next - 1 < end)
			end = out->next - 1;
		s->end = end < last ? end : last;
		s->kind = PT_DIFF_TRANSLATION;
		return;
	}
	s->a_bigger = pa.leaf.size_lg2 >= pb.leaf.size_lg2;
	s->big = s->a_bigger ? pa.leaf : pb.leaf;
	pt_vaddr_t end = leaf_last(&s->big);
	s->end = end < last ? end : last;
	s->kind = cluster_kind(&s->big, s->a_bigger ? b : a, va, s->end);
}

int pt_diff(const struct pt_table *a, const struct pt_table *b,
	    pt_vaddr_t va, pt_vaddr_t last, pt_diff_fn fn, void *arg)
{
	if (a->fmt != b->fmt || va > last)
		return -PT_EINVAL;
	struct diff_out o = { .fn = fn, .arg = arg };
	for (;;) {
		struct step s;
		diff_step(a, b, va, last, &s);
		if (s.done)
			break;
		if (!s.skip) {
			int ret = diff_emit(&o, va, s.end, s.kind);
			if (ret)
				return ret;
		}
		pt_vaddr_t next = s.skip ? s.end : s.end + 1;
		if (!s.skip && s.end >= last)
			break;
		va = next;
	}
	return o.open ? o.fn(o.arg, &o.cur) : 0;
}

/* ---- reconcile ---------------------------------------------------- */

int pt_reconcile(struct pt_table *nt, const struct pt_table *old,
		 struct pt_gather *g, struct pt_reconcile_stats *st)
{
	if (nt->fmt != old->fmt)
		return -PT_EINVAL;
	struct pt_reconcile_stats local = { 0 };
	pt_vaddr_t va = 0, last = pt_max_va(nt);
	if (pt_max_va(old) < last)
		last = pt_max_va(old);
	pt_vaddr_t changed_to = 0;
	bool changed_any = false;
	int err = 0;

	for (;;) {
		struct step s;
		diff_step(nt, old, va, last, &s);
		if (s.done)
			break;
		if (s.skip) {
			va = s.end;
			continue;
		}
		if (s.kind == PT_DIFF_TRANSLATION) {
			local.mismatch_bytes += s.end - va + 1;
		} else if (s.kind == PT_DIFF_GRANULE) {
			if (!changed_any || va > changed_to) {
				local.granule_bytes += s.end - va + 1;
				changed_to = s.end;
				changed_any = true;
			}
			if (s.a_bigger) {
				/* The new table's leaf is larger: break it up
				 * and look at the same address again. */
				err = pt_split(nt, va, g);
				if (err)
					break;
				local.splits++;
				continue;
			}
			err = pt_join(nt, s.big.va, s.big.size_lg2, g);
			if (err)
				break;
			local.joins++;
		}
		if (s.end >= last)
			break;
		va = s.end + 1;
	}
	if (st)
		*st = local;
	return err;
}
