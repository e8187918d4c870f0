// SPDX-License-Identifier: MIT
/*
 * Linux VT-d debugfs domain_translation_struct listings (drivers/iommu/
 * intel/debugfs.c), as the kernel prints them:
 *
 *   Device 0000:00:02.0 @0x10b7f2000                 (per device, or the
 *   Device 0000:00:02.0 with pasid 1 @0x10b7f2000     per-PASID file: hex)
 *   IOVA_PFN   PML5E   PML4E   PDPE   PDE   PTE      (column header)
 *   0x0000000000100 |  0x0000000000000000  0x000000010b7f3003  ...
 *
 * One row per present leaf, in IOVA order: the IOVA's page number (13
 * hex digits) and the raw entry of every level of its walk from PML5E
 * down (16 hex digits each; zero above the table's top level). Before
 * the per-device files (Linux 6.7) one global file held a section per
 * device and every row had five values, zeros below a superpage; since,
 * a row stops at its leaf (3 values for a 1 GiB leaf, 4 for 2 MiB, 5 for
 * 4 KiB). The walk starts at the table's top (agaw + 2 levels), which the
 * first non-zero column shows.
 *
 * The kernel walks without locking out unmap (its own comment says the
 * walk "possibly races with the iommu_unmap() interface"), so two rows
 * may disagree about one entry: that is refused as a torn walk.
 */
#include "tsrc/tsrc_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS 5
static const char *const col_name[NCOLS] = { "PML5E", "PML4E", "PDPE", "PDE",
					     "PTE" };
/* Column c holds the entry of pt level 4 - c. */
#define COL_LEVEL(c) (4u - (unsigned int)(c))

#define MAX_LINE 1024

enum lkind { L_BLANK, L_DEVICE, L_HEADER, L_NOTE, L_ROW };

struct line {
	const char *s;
	size_t len;
	enum lkind kind;
};

struct section {
	unsigned int line; /* its Device line */
	const char *body;  /* the text after it */
	const char *end;   /* up to the next Device line */
	char dev[64];
	long pasid;
	uint64_t root;
};

struct row {
	unsigned int line;   /* 1-based */
	uint64_t pfn;
	uint64_t v[NCOLS];
	unsigned int n;      /* values on the row */
};

struct parse {
	const char *name;
	char *msg;
	size_t mlen;
};

static bool starts(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && !memcmp(s, p, n);
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

bool tsrc_debugfs_sniff(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = skip_ws(p, le);
		if (q < le)
			return starts(q, (size_t)(le - q), "Device ") ||
			       starts(q, (size_t)(le - q), "IOVA_PFN") ||
			       starts(q, (size_t)(le - q), "DMA Remapping is not enabled");
		p = le + 1;
	}
	return false;
}

/* A hex number "0x" + exactly width digits (0: 1 to 16) from [p, end). */
static bool hex_token(const char *p, const char *end, unsigned int width,
		      uint64_t *v)
{
	if (end - p < 3 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return false;
	p += 2;
	size_t n = (size_t)(end - p);
	if (width ? n != width : (n < 1 || n > 16))
		return false;
	uint64_t x = 0;
	for (; p < end; p++) {
		int c = tolower((unsigned char)*p);
		if (!isxdigit(c))
			return false;
		x = x << 4 | (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
	}
	*v = x;
	return true;
}

static const char *tok_end(const char *p, const char *end)
{
	while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '|')
		p++;
	return p;
}

static int parse_device(struct parse *ps, const struct line *l, unsigned int ln,
			struct section *sec)
{
	const char *p = l->s, *end = l->s + l->len;
	const char *tok[8];
	size_t tl[8];
	unsigned int n = 0;
	for (p = skip_ws(p, end); p < end && n < 8; p = skip_ws(p, end)) {
		const char *e = p;
		while (e < end && *e != ' ' && *e != '\t' && *e != '\r')
			e++;
		tok[n] = p;
		tl[n++] = (size_t)(e - p);
		p = e;
	}
	bool pasid = n == 6 && tl[2] == 4 && !memcmp(tok[2], "with", 4) &&
		     tl[3] == 5 && !memcmp(tok[3], "pasid", 5);
	if (p < end || (n != 3 && !pasid) || tl[1] >= sizeof(sec->dev) ||
	    tok[n - 1][0] != '@')
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: a Device line "
				 "reads 'Device BDF @0xROOT' or 'Device BDF with "
				 "pasid P @0xROOT'", ps->name, ln);
	memcpy(sec->dev, tok[1], tl[1]);
	sec->dev[tl[1]] = '\0';
	sec->pasid = -1;
	if (pasid) {
		uint64_t v = 0;
		const char *q = tok[4], *qe = tok[4] + tl[4];
		if (qe - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
			q += 2;
		bool ok = q < qe && qe - q <= 5;
		for (; ok && q < qe; q++) {
			int c = tolower((unsigned char)*q);
			ok = isxdigit(c);
			v = v << 4 | (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
		}
		if (!ok || v >= (1u << 20))
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: PASID "
					 "'%.*s' is not a 20-bit hex number", ps->name,
					 ln, (int)tl[4], tok[4]);
		sec->pasid = (long)v;
	}
	if (!hex_token(tok[n - 1] + 1, tok[n - 1] + tl[n - 1], 0, &sec->root))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the root "
				 "'%.*s' is not '@0x' and a hex address", ps->name,
				 ln, (int)tl[n - 1], tok[n - 1]);
	if (sec->root & (PT_TABLE_SIZE - 1))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the root "
				 "0x%" PRIx64 " is not 4 KiB aligned", ps->name, ln,
				 sec->root);
	return 0;
}

static int parse_row(struct parse *ps, const struct line *l, unsigned int ln,
		     struct row *r)
{
	const char *p = skip_ws(l->s, l->s + l->len), *end = l->s + l->len;
	const char *e = tok_end(p, end);
	memset(r, 0, sizeof(*r));
	r->line = ln;
	if (!hex_token(p, e, 13, &r->pfn))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: IOVA_PFN "
				 "'%.*s' is not 0x and 13 hex digits (a truncated or "
				 "altered line?)", ps->name, ln, (int)(e - p), p);
	p = skip_ws(e, end);
	if (p >= end || *p != '|')
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: no '|' after "
				 "the IOVA_PFN", ps->name, ln);
	for (p = skip_ws(p + 1, end); p < end; p = skip_ws(e, end)) {
		e = tok_end(p, end);
		if (e == p)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: a second "
					 "'|' on the row", ps->name, ln);
		if (r->n == NCOLS)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: more than "
					 "%d values after '|' (PML5E PML4E PDPE PDE "
					 "PTE)", ps->name, ln, NCOLS);
		if (!hex_token(p, e, 16, &r->v[r->n]))
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the %s "
					 "value '%.*s' is not 0x and 16 hex digits (a "
					 "truncated or altered line?)", ps->name, ln,
					 col_name[r->n], (int)(e - p), p);
		r->n++;
	}
	if (r->n < 3)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: %u values after "
				 "'|'; a row has 3 to 5 (PML5E PML4E PDPE [PDE "
				 "[PTE]])", ps->name, ln, r->n);
	return 0;
}

/* Lines of the text, one at a time, classified. */
struct liter {
	const char *p, *end;
	unsigned int ln;     /* of the line last returned */
};

/* The next line into *l: 1, or 0 at the end, or an error. */
static int next_line(struct parse *ps, struct liter *it, struct line *l)
{
	if (it->p >= it->end)
		return 0;
	const char *p = it->p, *end = it->end;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *le = nl ? nl : end;
	unsigned int ln = ++it->ln;
	it->p = le + 1;
	if (memchr(p, '\0', (size_t)(le - p)))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: a NUL byte: "
				 "not a text listing", ps->name, ln);
	if (le - p > MAX_LINE)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: line longer "
				 "than %d bytes", ps->name, ln, MAX_LINE);
	*l = (struct line){ .s = p, .len = (size_t)(le - p) };
	const char *q = skip_ws(p, le);
	size_t ql = (size_t)(le - q);
	if (q == le)
		l->kind = L_BLANK;
	else if (starts(q, ql, "Device "))
		l->kind = L_DEVICE;
	else if (starts(q, ql, "IOVA_PFN"))
		l->kind = L_HEADER;
	else if (starts(q, ql, "DMA Remapping is not enabled"))
		l->kind = L_NOTE;
	else if (starts(q, ql, "0x") || starts(q, ql, "0X"))
		l->kind = L_ROW;
	else
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: not a line of "
				 "a domain_translation_struct listing: '%.*s'",
				 ps->name, ln, (int)(le - p < 60 ? le - p : 60), p);
	if (!nl && l->kind != L_BLANK)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the file ends "
				 "inside this line (truncated?)", ps->name, ln);
	return 1;
}

static bool dev_match(const char *have, const char *want)
{
	char w[72];
	/* "00:02.0" means segment 0. */
	const char *c = strchr(want, ':');
	if (c && !strchr(c + 1, ':'))
		snprintf(w, sizeof(w), "0000:%s", want);
	else
		snprintf(w, sizeof(w), "%s", want);
	return !strcasecmp(have, w);
}

static void sec_name(char *out, size_t len, const struct section *s)
{
	if (s->pasid >= 0)
		snprintf(out, len, "%s pasid %lx", s->dev, s->pasid);
	else
		snprintf(out, len, "%s", s->dev);
}

static void sec_list(char *out, size_t len, const struct section *s, size_t n)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && off + 1 < len; i++) {
		char one[96];
		sec_name(one, sizeof(one), &s[i]);
		int w = snprintf(out + off, len - off, "%s%s", i ? ", " : "", one);
		if (w < 0)
			break;
		off += (size_t)w;
		if (i == 7 && n > 8) {
			snprintf(out + off, len > off ? len - off : 0, ", ... (%zu "
				 "in all)", n);
			break;
		}
	}
}

static void *store_p2v(void *ctx, pt_oaddr_t pa)
{
	const struct tsrc_table *t = ctx;
	struct tsrc_page *pg = tsrc_store_get(&t->pages, pa, NULL);
	return pg ? pg->words : NULL;
}

static int get_page(struct parse *ps, struct tsrc_table *t, pt_oaddr_t pa,
		    unsigned int level, uint64_t key, unsigned int ln,
		    const char *via, struct tsrc_page **out)
{
	struct tsrc_page *pg = tsrc_store_get(&t->pages, pa, NULL);
	char lv[48];
	if (pg) {
		if (pg->level != level || pg->key != key) {
			tsrc_level_name(lv, sizeof(lv), pg->level);
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the %s "
					 "points to table page 0x%" PRIx64 ", which line "
					 "%u uses for another part of the table (%s): a "
					 "torn walk or a shared table", ps->name, ln, via,
					 pa, pg->first_line, lv);
		}
		*out = pg;
		return 0;
	}
	pg = calloc(1, sizeof(*pg));
	if (!pg || tsrc_store_put(&t->pages, pa, pg)) {
		free(pg);
		return tsrc_fail(ps->msg, ps->mlen, -ENOMEM, "%s: out of memory",
				 ps->name);
	}
	pg->level = level;
	pg->key = key;
	pg->first_line = ln;
	*out = pg;
	return 0;
}

/* The first column with a non-zero value, or NCOLS. */
static unsigned int row_top(const struct row *r)
{
	for (unsigned int c = 0; c < r->n; c++)
		if (r->v[c])
			return c;
	return NCOLS;
}

/* The depth of the section's table, from its first row (NULL: there is
 * none) or the options. */
static int section_depth(struct parse *ps, struct tsrc_table *t,
			 const struct row *r, const struct tsrc_opts *o)
{
	unsigned int want = 0;
	if (o->va_bits) {
		int lv = pt_fmt_levels_for(t->fmt, o->va_bits);
		if (lv < 0)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s: %s has no "
					 "%u-bit IOVA tables", ps->name,
					 pt_fmt_name(t->fmt), o->va_bits);
		want = (unsigned int)lv;
	} else if (o->levels) {
		want = o->levels;
	}
	if (!r) {
		/* No row shows the depth: the option's, else 4 levels. */
		t->levels = want ? want : 4;
		t->depth_known = want != 0;
	} else {
		unsigned int top = row_top(r);
		t->levels = NCOLS - top;
		t->depth_known = true;
		if (want && want != t->levels)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the rows "
					 "walk a %u-level table (they start at the %s), "
					 "not %u levels as the options say", ps->name,
					 r->line, t->levels, col_name[top], want);
	}
	t->va_bits = tsrc_va_bits_for_levels(t->fmt, t->levels);
	if (!t->va_bits)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: %s has no "
				 "%u-level tables", ps->name, r ? r->line : 0,
				 pt_fmt_name(t->fmt), t->levels);
	return 0;
}

/* Check one row against pt's decoder and place its entries. */
static int place_row(struct parse *ps, struct tsrc_table *t, const struct row *r,
		     const struct row *prev, uint64_t *prev_last)
{
	const struct pt_fmt *f = pt_fmt_get(t->fmt);
	unsigned int top = NCOLS - t->levels, leaf = top;
	unsigned int ln = r->line;
	for (unsigned int c = top; c < r->n; c++)
		if (r->v[c])
			leaf = c;
	uint64_t va = r->pfn << 12;
	if (t->va_bits < 64 && (va >> t->va_bits))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: IOVA 0x%" PRIx64
				 " is beyond the %u-bit width of a %u-level table",
				 ps->name, ln, va, t->va_bits, t->levels);
	unsigned int leaf_level = COL_LEVEL(leaf);
	uint64_t size = 1ull << (12 + 9 * leaf_level);
	pt_oaddr_t pa = t->root_pa;
	for (unsigned int c = top; c <= leaf; c++) {
		unsigned int level = COL_LEVEL(c);
		uint64_t e = r->v[c];
		struct pt_entry_info info;
		if (!e)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the %s is "
					 "zero but the row goes on to the %s", ps->name,
					 ln, col_name[c], col_name[leaf]);
		pt_fmt_decode(f, e, level, &info);
		if (c < leaf && info.type != PT_ENTRY_TABLE)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the %s "
					 "0x%016" PRIx64 " is %s, yet the row goes on to "
					 "the %s: the leaf level contradicts the columns",
					 ps->name, ln, col_name[c], e,
					 info.type == PT_ENTRY_LEAF ? "a leaf" :
					 "not a valid table entry", col_name[leaf]);
		if (c == leaf && info.type != PT_ENTRY_LEAF)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the row "
					 "ends at the %s, but 0x%016" PRIx64 " is %s: the "
					 "leaf level contradicts the columns", ps->name,
					 ln, col_name[c], e, info.type == PT_ENTRY_TABLE ?
					 "a table pointer, not a leaf" :
					 "not a valid leaf at that level (reserved bits, "
					 "a misaligned output, or no leaves there)");
		uint64_t key = (12 + 9 * (level + 1)) >= 64 ? 0 :
			       va >> (12 + 9 * (level + 1));
		struct tsrc_page *pg;
		int err = get_page(ps, t, pa, level, key, ln,
				   c == top ? "root" : col_name[c - 1], &pg);
		if (err)
			return err;
		unsigned int idx = pt_level_index(va, level);
		if (pg->words[idx] && pg->words[idx] != e)
			return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: the %s "
					 "for IOVA 0x%" PRIx64 " is 0x%016" PRIx64 " here "
					 "but 0x%016" PRIx64 " on line %u: the table "
					 "changed while the kernel walked it (a torn walk: "
					 "debugfs does not lock out unmap); take the "
					 "listing again", ps->name, ln, col_name[c], va,
					 e, pg->words[idx], pg->line[idx]);
		if (!pg->words[idx]) {
			pg->words[idx] = e;
			pg->line[idx] = ln;
		}
		pa = info.oa;
	}
	if (va & (size - 1))
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: IOVA 0x%" PRIx64
				 " is not aligned to its leaf (the %s, %" PRIu64
				 " KiB)", ps->name, ln, va, col_name[leaf],
				 size >> 10);
	if (prev && va <= *prev_last)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s:%u: IOVA 0x%" PRIx64
				 " %s the leaf on line %u (rows are one per leaf, in "
				 "IOVA order)", ps->name, ln, va,
				 va == (prev->pfn << 12) ? "repeats" :
				 "overlaps or precedes", prev->line);
	*prev_last = va + (size - 1);
	return 0;
}

static int select_section(struct parse *ps, const struct section *secs,
			  size_t nsec, const struct tsrc_opts *o, size_t *out)
{
	char list[400], want[96];
	size_t found = 0, which = 0;
	if (!nsec)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s: no 'Device ...' "
				 "line: no table in the listing (is DMA remapping "
				 "on?)", ps->name);
	if (o->loose && nsec == 1) {
		*out = 0;
		return 0;
	}
	for (size_t i = 0; i < nsec; i++) {
		if (o->device && !dev_match(secs[i].dev, o->device))
			continue;
		if (o->pasid >= 0 && secs[i].pasid != o->pasid)
			continue;
		found++;
		which = i;
	}
	sec_list(list, sizeof(list), secs, nsec);
	snprintf(want, sizeof(want), "%s%s", o->device ? o->device : "",
		 o->device ? "" : "any device");
	if (o->pasid >= 0)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 " pasid %lx", o->pasid);
	if (!found)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s: no table for %s; "
				 "the listing has: %s", ps->name, want, list);
	if (found > 1)
		return tsrc_fail(ps->msg, ps->mlen, -EINVAL, "%s: the listing holds "
				 "%zu tables for %s (%s): choose one with --device "
				 "BDF%s", ps->name, found, want, list,
				 o->pasid < 0 ? " and, if need be, --pasid P" : "");
	*out = which;
	return 0;
}

int tsrc_debugfs_parse(struct tsrc_table *t, const char *name,
		       const char *text, size_t len, const struct tsrc_opts *o,
		       char *msg, size_t mlen)
{
	struct parse ps = { .name = name, .msg = msg, .mlen = mlen };
	struct section *secs = NULL;
	size_t nsec = 0, seccap = 0;
	uint64_t nrows = 0;
	struct line l;
	int err, more;
	memset(t, 0, sizeof(*t));
	t->kind = TSRC_DEBUGFS;
	if (o->fmt >= PT_FMT_COUNT)
		return tsrc_fail(msg, mlen, -EINVAL, "%s: no such format", name);
	if (o->fmt >= 0)
		t->fmt = (enum pt_format_id)o->fmt;
	else if (pt_fmt_by_name("vtd-ss", &t->fmt))
		return tsrc_fail(msg, mlen, -EINVAL, "%s: pt has no vtd-ss", name);

	/* Every line is one of the known kinds; sections run from a Device
	 * line to the next. Nothing but the sections is kept. */
	struct liter it = { .p = text, .end = text + len };
	while ((more = next_line(&ps, &it, &l)) > 0) {
		if (l.kind == L_ROW && !nsec) {
			err = tsrc_fail(msg, mlen, -EINVAL, "%s:%u: a row before any "
					"'Device' line", name, it.ln);
			goto out;
		}
		if (l.kind != L_DEVICE)
			continue;
		if (nsec == seccap) {
			seccap = seccap ? seccap * 2 : 8;
			struct section *ns = realloc(secs, seccap * sizeof(*ns));
			if (!ns) {
				err = tsrc_fail(msg, mlen, -ENOMEM, "%s: out of memory",
						name);
				goto out;
			}
			secs = ns;
		}
		struct section *sec = &secs[nsec];
		memset(sec, 0, sizeof(*sec));
		sec->line = it.ln;
		sec->body = it.p;
		err = parse_device(&ps, &l, it.ln, sec);
		if (err)
			goto out;
		if (nsec)
			secs[nsec - 1].end = l.s;
		nsec++;
	}
	if (more < 0) {
		err = more;
		goto out;
	}
	if (nsec)
		secs[nsec - 1].end = text + len;
	size_t si = 0;
	err = select_section(&ps, secs, nsec, o, &si);
	if (err)
		goto out;
	const struct section *sec = &secs[si];
	snprintf(t->device, sizeof(t->device), "%s", sec->dev);
	t->pasid = sec->pasid;
	t->root_pa = sec->root;

	/* Its rows, one at a time: the first gives the depth, each is
	 * checked and placed; a column header at most once, before them. */
	bool header = false;
	struct row r, prev = { 0 };
	unsigned int first_line = 0, top = 0;
	uint64_t prev_last = 0;
	it = (struct liter){ .p = sec->body, .end = sec->end, .ln = sec->line };
	while ((more = next_line(&ps, &it, &l)) > 0) {
		if (l.kind == L_HEADER) {
			if (header || nrows) {
				err = tsrc_fail(msg, mlen, -EINVAL, "%s:%u: a second "
						"column header in one table", name, it.ln);
				goto out;
			}
			header = true;
			continue;
		}
		if (l.kind != L_ROW)
			continue;
		err = parse_row(&ps, &l, it.ln, &r);
		if (err)
			goto out;
		unsigned int rt = row_top(&r);
		if (rt == NCOLS) {
			err = tsrc_fail(msg, mlen, -EINVAL, "%s:%u: every value on the "
					"row is zero: no walk", name, it.ln);
			goto out;
		}
		if (!nrows) {
			err = section_depth(&ps, t, &r, o);
			if (err)
				goto out;
			first_line = it.ln;
			top = rt;
		} else if (rt != top) {
			err = tsrc_fail(msg, mlen, -EINVAL, "%s:%u: the walk starts at "
					"the %s here but at the %s on line %u: the rows "
					"of one table start at its top level", name, it.ln,
					col_name[rt], col_name[top], first_line);
			goto out;
		}
		err = place_row(&ps, t, &r, nrows ? &prev : NULL, &prev_last);
		if (err)
			goto out;
		prev = r;
		nrows++;
	}
	if (more < 0) {
		err = more;
		goto out;
	}
	if (!nrows) {
		/* An empty table: its depth from the options, its root page
		 * all zero. */
		err = section_depth(&ps, t, NULL, o);
		struct tsrc_page *pg;
		if (!err)
			err = get_page(&ps, t, t->root_pa, t->levels - 1, 0,
				       sec->line, "root", &pg);
		if (err)
			goto out;
	}
	t->ops = (struct pt_mem_ops){ .phys_to_virt = store_p2v };
	pt_vaddr_t bad = 0;
	err = tsrc_adopt(t, &bad);
	if (err) {
		/* Name the row of the leaf at or before the IOVA pt refused. */
		unsigned int ln = sec->line;
		it = (struct liter){ .p = sec->body, .end = sec->end,
				     .ln = sec->line };
		while (next_line(&ps, &it, &l) > 0)
			if (l.kind == L_ROW && !parse_row(&ps, &l, it.ln, &r) &&
			    (r.pfn << 12) <= bad)
				ln = it.ln;
		err = tsrc_fail(msg, mlen, err == -PT_ENOMEM ? -ENOMEM : -EINVAL,
				"%s:%u: pt refuses the table at IOVA 0x%" PRIx64
				": %s", name, ln, bad, pt_strerror(err));
		goto out;
	}
	t->leaves = nrows;
out:
	free(secs);
	if (err)
		tsrc_free(t);
	return err;
}
