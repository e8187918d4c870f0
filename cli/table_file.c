// SPDX-License-Identifier: MIT
/* Table memory and the raw table-dump format (docs/dump-format.md). */
#include "cli/table_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>

/* ---- table memory ------------------------------------------------------ */

/* Made-up physical addresses, so dumps of one table are reproducible. */
#define PTMEM_BASE_PA (1ull << 40)

static void *ptmem_alloc(void *ctx, pt_oaddr_t *pa)
{
	struct cli_ptmem *m = ctx;
	if (!m->nfree)
		return NULL;
	uint64_t idx = m->free_stack[--m->nfree];
	*pa = m->base_pa + idx * PT_TABLE_SIZE;
	return m->base + idx * PT_TABLE_SIZE;
}

static void ptmem_free(void *ctx, void *page, pt_oaddr_t pa)
{
	struct cli_ptmem *m = ctx;
	(void)page;
	m->free_stack[m->nfree++] = (pa - m->base_pa) / PT_TABLE_SIZE;
}

/* A concatenated top: the lowest 2^lg2 free pages in a row, aligned. */
static void *ptmem_alloc_top(void *ctx, unsigned int lg2, pt_oaddr_t *pa)
{
	struct cli_ptmem *m = ctx;
	uint64_t n = 1ull << lg2;
	uint8_t *is_free = calloc(m->pages, 1);
	if (!is_free)
		return NULL;
	for (uint64_t i = 0; i < m->nfree; i++)
		is_free[m->free_stack[i]] = 1;
	uint64_t first = m->pages;
	for (uint64_t s = 0; s + n <= m->pages && first == m->pages; s += n) {
		uint64_t k = 0;
		while (k < n && is_free[s + k])
			k++;
		if (k == n)
			first = s;
	}
	free(is_free);
	if (first == m->pages)
		return NULL;
	uint64_t j = 0;
	for (uint64_t i = 0; i < m->nfree; i++)
		if (m->free_stack[i] < first || m->free_stack[i] >= first + n)
			m->free_stack[j++] = m->free_stack[i];
	m->nfree = j;
	*pa = m->base_pa + first * PT_TABLE_SIZE;
	return m->base + first * PT_TABLE_SIZE;
}

static void ptmem_free_top(void *ctx, void *pages, pt_oaddr_t pa, unsigned int lg2)
{
	(void)pages;
	for (uint64_t i = 0; i < 1ull << lg2; i++)
		ptmem_free(ctx, NULL, pa + i * PT_TABLE_SIZE);
}

static void *ptmem_phys_to_virt(void *ctx, pt_oaddr_t pa)
{
	struct cli_ptmem *m = ctx;
	if (pa < m->base_pa || pa - m->base_pa >= m->pages * PT_TABLE_SIZE)
		return NULL;
	return m->base + (pa - m->base_pa);
}

int cli_ptmem_init(struct cli_ptmem *m, uint64_t pages)
{
	memset(m, 0, sizeof(*m));
	m->base = mmap(NULL, pages * PT_TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -ENOMEM;
	}
	m->free_stack = calloc(pages, sizeof(uint64_t));
	if (!m->free_stack) {
		cli_ptmem_destroy(m);
		return -ENOMEM;
	}
	m->pages = pages;
	m->base_pa = PTMEM_BASE_PA;
	for (uint64_t i = 0; i < pages; i++)
		m->free_stack[i] = pages - 1 - i; /* low pages first */
	m->nfree = pages;
	/* No hardware walks these tables: a page out of the tree is free. */
	m->ops = (struct pt_mem_ops){
		.alloc = ptmem_alloc,
		.free = ptmem_free,
		.alloc_top = ptmem_alloc_top,
		.free_top = ptmem_free_top,
		.defer_free = ptmem_free,
		.phys_to_virt = ptmem_phys_to_virt,
	};
	return 0;
}

void cli_ptmem_destroy(struct cli_ptmem *m)
{
	if (m->base)
		munmap(m->base, m->pages * PT_TABLE_SIZE);
	free(m->free_stack);
	memset(m, 0, sizeof(*m));
}

/* ---- writing ----------------------------------------------------------- */

int cli_dump_write(FILE *f, const struct pt_table *t, enum pt_format_id fmt,
		   const char *comment)
{
	fprintf(f, "%s %d\n", CLI_DUMP_MAGIC, CLI_DUMP_VERSION);
	if (comment)
		for (const char *c = comment; *c;) {
			const char *nl = strchr(c, '\n');
			size_t n = nl ? (size_t)(nl - c) : strlen(c);
			fprintf(f, "# %.*s\n", (int)n, c);
			c += n + (nl ? 1 : 0);
		}
	fprintf(f, "format %s\nva-bits %u\n", pt_fmt_name(fmt), t->va_bits);
	fprintf(f, "# iova pa size level prot contig\n");
	struct pt_iter it;
	struct pt_leaf l;
	uint64_t n = 0;
	pt_iter_init(&it, t, 0, ~0ull);
	while (pt_iter_next(t, &it, &l)) {
		fprintf(f, "0x%" PRIx64 " 0x%" PRIx64 " 0x%llx %u 0x%x %d\n",
			l.va, l.oa, 1ull << l.size_lg2, l.level, l.prot,
			l.contig ? 1 : 0);
		n++;
	}
	fprintf(f, "end %" PRIu64 "\n", n);
	return ferror(f) ? -EIO : 0;
}

/* ---- reading ----------------------------------------------------------- */

struct leaf_rec {
	uint64_t va, pa;
	unsigned int size_lg2, level;
	uint32_t prot;
	bool contig;
};

static int fail(char *msg, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return false;
	*v = x;
	return true;
}

/* Upper bound of table pages for the leaves (sorted by IOVA). */
static uint64_t tables_needed(const struct leaf_rec *r, size_t n,
			      unsigned int top_level)
{
	uint64_t pages = 1;
	for (unsigned int l = 0; l < top_level; l++) {
		uint64_t last = ~0ull;
		for (size_t i = 0; i < n; i++) {
			if (r[i].level > l)
				continue;
			uint64_t idx = r[i].va >> (12 + 9 * (l + 1));
			if (idx != last)
				pages++;
			last = idx;
		}
	}
	return pages + 16;
}

static int check_leaf(const struct pt_fmt *pf, enum pt_format_id fmt,
		      const struct leaf_rec *r, uint64_t size, char *why, size_t len)
{
	if (!size || size & (size - 1) || size < PT_TABLE_SIZE)
		return fail(why, len, -EINVAL, "size 0x%" PRIx64 " is not a power "
			    "of two of at least 4K", size);
	unsigned int item = 12 + 9 * r->level;
	if (r->level >= PT_MAX_LEVELS)
		return fail(why, len, -EINVAL, "level %u does not exist", r->level);
	unsigned int runs = pt_fmt_run_lg2s(pf, r->level);
	bool run_ok = r->size_lg2 > item && r->size_lg2 - item < 16 &&
		      ((runs >> (r->size_lg2 - item)) & 1);
	if (r->contig ? !run_ok : r->size_lg2 != item)
		return fail(why, len, -EINVAL, "size 0x%" PRIx64 " is not a%s leaf "
			    "of level %u in %s", size, r->contig ? " contiguous" : "",
			    r->level, pt_fmt_name(fmt));
	if (!(pt_fmt_pgsizes(fmt) & size))
		return fail(why, len, -EINVAL, "%s has no 0x%" PRIx64 " leaves",
			    pt_fmt_name(fmt), size);
	if ((r->va | r->pa) & (size - 1))
		return fail(why, len, -EINVAL, "iova or pa not aligned to its size");
	if (r->prot & ~PT_PROT_ALL || !pt_fmt_canon_prot(fmt, r->prot))
		return fail(why, len, -EINVAL, "prot 0x%x is not one %s can express",
			    r->prot, pt_fmt_name(fmt));
	return 0;
}

static int read_leaves(FILE *f, const char *path, struct cli_dump *d,
		       struct leaf_rec **out, size_t *nout, char *msg, size_t len)
{
	char line[256];
	unsigned int lineno = 0;
	bool have_fmt = false, have_vab = false, ended = false;
	struct leaf_rec *r = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	const struct pt_fmt *pf = NULL;
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		char why[160] = "";
		size_t ll = strlen(line);
		if (ll && line[ll - 1] == '\n')
			line[--ll] = '\0';
		else if (!feof(f)) {
			err = fail(msg, len, -EINVAL, lineno == 1 ?
				   "%s:%u: not a table dump (no text line "
				   "'" CLI_DUMP_MAGIC " N' at the start: a "
				   "binary file?)" :
				   "%s:%u: line longer than 255 characters",
				   path, lineno);
			break;
		}
		if (lineno == 1) {
			char magic[32];
			int ver;
			if (sscanf(line, "%31s %d", magic, &ver) != 2 ||
			    strcmp(magic, CLI_DUMP_MAGIC))
				err = fail(msg, len, -EINVAL, "%s:1: not a table dump "
					   "(expected '%s %d')", path, CLI_DUMP_MAGIC,
					   CLI_DUMP_VERSION);
			else if (ver != CLI_DUMP_VERSION)
				err = fail(msg, len, -EINVAL, "%s:1: dump version %d, "
					   "this iohandover reads %d", path, ver,
					   CLI_DUMP_VERSION);
			continue;
		}
		if (!line[0] || line[0] == '#')
			continue;
		if (ended) {
			err = fail(msg, len, -EINVAL, "%s:%u: text after 'end'", path,
				   lineno);
			break;
		}
		char a[5][40];
		int nf = sscanf(line, "%39s %39s %39s %39s %39s", a[0], a[1], a[2],
				a[3], a[4]);
		char f5[40], extra[8];
		if (!strcmp(a[0], "format") && nf == 2) {
			if (pt_fmt_by_name(a[1], &d->fmt))
				err = fail(msg, len, -EINVAL, "%s:%u: unknown format '%s'",
					   path, lineno, a[1]);
			have_fmt = true;
			pf = pt_fmt_get(d->fmt);
		} else if (!strcmp(a[0], "va-bits") && nf == 2) {
			uint64_t v;
			if (!parse_u64(a[1], &v) || v > 63)
				err = fail(msg, len, -EINVAL, "%s:%u: bad va-bits '%s'",
					   path, lineno, a[1]);
			d->va_bits = (unsigned int)v;
			have_vab = true;
		} else if (!strcmp(a[0], "end") && nf == 2) {
			uint64_t v;
			if (!parse_u64(a[1], &v) || v != n)
				err = fail(msg, len, -EINVAL, "%s:%u: 'end' counts %s "
					   "leaves, the file has %zu (truncated?)", path,
					   lineno, a[1], n);
			ended = true;
		} else if (nf == 5 && sscanf(line, "%*s %*s %*s %*s %*s %39s %7s",
					     f5, extra) == 1) {
			struct leaf_rec rec = { 0 };
			uint64_t size, level, prot, contig;
			if (!have_fmt || !have_vab) {
				err = fail(msg, len, -EINVAL, "%s:%u: leaf before the "
					   "'format' and 'va-bits' lines", path, lineno);
				break;
			}
			if (!parse_u64(a[0], &rec.va) || !parse_u64(a[1], &rec.pa) ||
			    !parse_u64(a[2], &size) || !parse_u64(a[3], &level) ||
			    !parse_u64(a[4], &prot) || !parse_u64(f5, &contig) ||
			    contig > 1 || level > 9 || prot > 0xffffffffu) {
				err = fail(msg, len, -EINVAL, "%s:%u: expected 'IOVA PA "
					   "SIZE LEVEL PROT CONTIG' numbers", path, lineno);
				break;
			}
			rec.level = (unsigned int)level;
			rec.prot = (uint32_t)prot;
			rec.contig = contig;
			rec.size_lg2 = (unsigned int)__builtin_ctzll(size ? size : 1);
			if (check_leaf(pf, d->fmt, &rec, size, why, sizeof(why))) {
				err = fail(msg, len, -EINVAL, "%s:%u: %s", path, lineno, why);
				break;
			}
			if (n && rec.va < r[n - 1].va + (1ull << r[n - 1].size_lg2)) {
				err = fail(msg, len, -EINVAL, "%s:%u: leaf at 0x%" PRIx64
					   " overlaps or precedes the one before",
					   path, lineno, rec.va);
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				struct leaf_rec *nr = realloc(r, cap * sizeof(*r));
				if (!nr) {
					err = fail(msg, len, -ENOMEM, "%s: out of memory",
						   path);
					break;
				}
				r = nr;
			}
			r[n++] = rec;
		} else {
			err = fail(msg, len, -EINVAL, "%s:%u: cannot read '%.60s'",
				   path, lineno, line);
		}
	}
	if (!err && ferror(f))
		err = fail(msg, len, -EIO, "%s: read error", path);
	if (!err && lineno == 0)
		err = fail(msg, len, -EINVAL, "%s: empty file", path);
	if (!err && !ended)
		err = fail(msg, len, -EINVAL, "%s: no 'end' line (truncated?)", path);
	if (!err && pt_fmt_levels_for(d->fmt, d->va_bits) < 0)
		err = fail(msg, len, -EINVAL, "%s: %s has no %u-bit IOVA tables",
			   path, pt_fmt_name(d->fmt), d->va_bits);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	*nout = n;
	return 0;
}

int cli_dump_read(const char *path, struct cli_dump *d, char *msg, size_t len)
{
	memset(d, 0, sizeof(*d));
	struct stat st;
	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return fail(msg, len, -EISDIR, "%s: is a directory, not a table dump",
			    path);
	FILE *f = fopen(path, "r");
	if (!f)
		return fail(msg, len, -errno, "%s: %s", path, strerror(errno));
	struct leaf_rec *r = NULL;
	size_t n = 0;
	int err = read_leaves(f, path, d, &r, &n, msg, len);
	fclose(f);
	if (err)
		return err;
	int levels = pt_fmt_levels_for(d->fmt, d->va_bits);
	err = cli_ptmem_init(&d->mem, tables_needed(r, n, (unsigned int)levels - 1));
	if (err) {
		free(r);
		return fail(msg, len, err, "%s: out of memory", path);
	}
	/*
	 * Rebuild leaf by leaf: each is aligned to its size, so mapping it
	 * with the format's plain sizes gives exactly that leaf; a contiguous
	 * run maps as its items and is joined into the run.
	 */
	struct pt_cfg cfg = {
		.fmt = d->fmt, .va_bits = d->va_bits, .oa_bits = 48,
		.pgsizes = pt_fmt_pgsizes(d->fmt) & ~(PT_SZ_64K | PT_SZ_32M),
	};
	err = pt_init(&d->t, &cfg, &d->mem.ops, &d->mem);
	if (err) {
		free(r);
		cli_ptmem_destroy(&d->mem);
		return fail(msg, len, -EINVAL, "%s: %s", path, pt_strerror(err));
	}
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t size = 1ull << r[i].size_lg2;
		err = pt_map_range(&d->t, r[i].va, r[i].pa, size, r[i].prot, NULL);
		if (!err && r[i].contig)
			err = pt_join(&d->t, r[i].va, r[i].size_lg2, NULL);
		if (err)
			fail(msg, len, -EINVAL, "%s: leaf %zu at 0x%" PRIx64 " cannot be "
			     "rebuilt: %s", path, i + 1, r[i].va, pt_strerror(err));
	}
	free(r);
	if (err) {
		cli_dump_free(d);
		return -EINVAL;
	}
	d->leaves = n;
	return 0;
}

void cli_dump_free(struct cli_dump *d)
{
	if (d->t.fmt)
		pt_deinit(&d->t);
	cli_ptmem_destroy(&d->mem);
	memset(d, 0, sizeof(*d));
}
