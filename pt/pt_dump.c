// SPDX-License-Identifier: MIT
/*
 * Human-readable dump of a table's leaves. Consecutive leaves of one size
 * and protection whose outputs continue each other fold into one line:
 *
 *   0x0000000040000000-0x00000000401fffff -> 0x0000000080000000  4K x 512  L0  rw-- c
 *
 * Freestanding: formats numbers itself and hands each line to emit().
 */
#include "pt/pt_internal.h"

struct line {
	char buf[192];
	unsigned int len;
};

static void put_str(struct line *l, const char *s)
{
	while (*s && l->len + 1 < sizeof(l->buf))
		l->buf[l->len++] = *s++;
	l->buf[l->len] = '\0';
}

static void put_hex(struct line *l, uint64_t v, unsigned int digits)
{
	char tmp[19] = "0x";
	for (unsigned int i = 0; i < digits; i++)
		tmp[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 0xf];
	tmp[2 + digits] = '\0';
	put_str(l, tmp);
}

static void put_dec(struct line *l, uint64_t v)
{
	char tmp[21];
	unsigned int i = sizeof(tmp) - 1;
	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_str(l, &tmp[i]);
}

static void put_size(struct line *l, unsigned int lg2)
{
	static const char *const unit[] = { "", "K", "M", "G", "T" };
	unsigned int u = lg2 / 10;
	if (u > 4)
		u = 4;
	put_dec(l, 1ull << (lg2 - 10 * u));
	put_str(l, unit[u]);
}

static void put_prot(struct line *l, uint32_t prot, bool contig)
{
	char p[] = "----";
	if (prot & PT_PROT_READ)
		p[0] = 'r';
	if (prot & PT_PROT_WRITE)
		p[1] = 'w';
	if (!(prot & PT_PROT_NOEXEC))
		p[2] = 'x';
	if (prot & PT_PROT_PRIV)
		p[3] = 'p';
	put_str(l, p);
	if (prot & PT_PROT_CACHE)
		put_str(l, " cache");
	if (contig)
		put_str(l, " contig");
}

struct run {
	struct pt_leaf first;
	uint64_t count;
};

static void emit_run(const struct run *r, pt_emit_fn emit, void *arg)
{
	struct line l = { .len = 0 };
	uint64_t bytes = r->count << r->first.size_lg2;
	put_hex(&l, r->first.va, 16);
	put_str(&l, "-");
	put_hex(&l, r->first.va + (bytes - 1), 16);
	put_str(&l, " -> ");
	put_hex(&l, r->first.oa, 16);
	put_str(&l, "  ");
	put_size(&l, r->first.size_lg2);
	put_str(&l, " x ");
	put_dec(&l, r->count);
	put_str(&l, "  L");
	put_dec(&l, r->first.level);
	put_str(&l, "  ");
	put_prot(&l, r->first.prot, r->first.contig);
	emit(arg, l.buf);
}

static bool run_extends(const struct run *r, const struct pt_leaf *n)
{
	uint64_t bytes = r->count << r->first.size_lg2;
	return n->size_lg2 == r->first.size_lg2 && n->attr == r->first.attr &&
	       n->contig == r->first.contig && n->va == r->first.va + bytes &&
	       n->oa == r->first.oa + bytes;
}

void pt_dump(const struct pt_table *t, pt_emit_fn emit, void *arg)
{
	struct line l = { .len = 0 };
	put_str(&l, "table ");
	put_str(&l, t->fmt->name);
	put_str(&l, ": ");
	put_dec(&l, t->top_level + 1);
	put_str(&l, " levels, va ");
	put_dec(&l, t->va_bits);
	put_str(&l, " bits, oa ");
	put_dec(&l, t->oa_bits);
	put_str(&l, " bits, top ");
	put_hex(&l, t->top_pa, 12);
	if (t->top_lg2) {
		put_str(&l, " (");
		put_dec(&l, 1ull << t->top_lg2);
		put_str(&l, " concatenated pages)");
	}
	put_str(&l, ", ");
	put_dec(&l, t->nr_tables);
	put_str(&l, " table pages");
	emit(arg, l.buf);

	struct pt_iter it;
	struct pt_leaf leaf;
	struct run r = { .count = 0 };
	pt_iter_init(&it, t, 0, pt_max_va(t));
	while (pt_iter_next(t, &it, &leaf)) {
		if (r.count && run_extends(&r, &leaf)) {
			r.count++;
			continue;
		}
		if (r.count)
			emit_run(&r, emit, arg);
		r.first = leaf;
		r.count = 1;
	}
	if (r.count)
		emit_run(&r, emit, arg);
}
