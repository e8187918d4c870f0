// SPDX-License-Identifier: MIT
/*
 * tsrc: tables from outside iohandover. A table built with pt is written
 * out as a Linux VT-d debugfs listing (in the kernel's own row formats:
 * the old five-column layout, the per-device one that stops at the leaf,
 * the per-PASID header) and as a raw memory image, read back, and must
 * equal the original bit for bit (pt_diff: one "same" range per run).
 * Every format pt knows is walked from an image, found through
 * pt_fmt_name, not a list. Then hostile input, one damage at a time:
 * each must be refused with the line (or the PA and IOVA) named, never
 * a crash. Last, `iohandover check` over mixed kinds, a depth
 * difference, --json and --input-format.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pt/pt.h"
#include "pt/pt_fmt.h"
#include "tests/lib/kho_fixture.h"
#include "tests/lib/pt_testmem.h"
#include "tsrc/tsrc.h"

static char tmpdir[] = "/tmp/ioh-tsrc-test-XXXXXX";

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle)) {
		printf("expected \"%s\" in:\n%s\n", needle, text);
		fail();
	}
}

/* ---- building tables -------------------------------------------------- */

struct built {
	struct pt_testmem m;
	struct pt_table t;
	enum pt_format_id fmt;
};

/* A table of fmt at va_bits with a few leaves of each size it has. */
static int build(struct built *b, enum pt_format_id fmt, unsigned int va_bits)
{
	memset(b, 0, sizeof(*b));
	b->fmt = fmt;
	/* Base PA 0: the arena is a memory image as it stands. */
	if (ptm_init(&b->m, 64, 0))
		return -1;
	struct pt_cfg cfg = { .fmt = fmt, .va_bits = va_bits, .oa_bits = 40 };
	if (pt_init(&b->t, &cfg, &b->m.ops, &b->m))
		return -1;
	uint32_t prot = PT_PROT_READ | PT_PROT_WRITE;
	/* 4K pages, a 2M block and a 1G block where the format has them;
	 * an upper-half address for sign-extending formats. */
	if (pt_map_range(&b->t, 0x200000, 0x300000000ull, 0x3000, prot, NULL) ||
	    pt_map_range(&b->t, 0x400000, 0x300400000ull, 0x200000, prot, NULL) ||
	    pt_map_range(&b->t, 0x40000000, 0x240000000ull, 0x40000000, prot,
			 NULL))
		return -1;
	if (pt_fmt_sign_extends(fmt) &&
	    pt_map_range(&b->t, ~0ull << (va_bits - 1), 0x310000000ull, 0x1000,
			 prot, NULL))
		return -1;
	return 0;
}

static void unbuild(struct built *b)
{
	pt_deinit(&b->t);
	ptm_destroy(&b->m);
}

static int count_same(void *arg, const struct pt_diff_range *r)
{
	int *n = arg;
	if (r->kind != PT_DIFF_SAME)
		return 1;
	(*n)++;
	return 0;
}

static void assert_same(const struct pt_table *a, const struct pt_table *b)
{
	int n = 0;
	assert_int_equal(pt_diff(a, b, 0, ~0ull, count_same, &n), 0);
	assert_true(n > 0);
}

/* ---- writing a debugfs listing as the kernel prints it ---------------- */

struct lst {
	char *buf;
	size_t len, cap;
	bool old_layout;
};

static void put(struct lst *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct lst *l, const char *fmt, ...)
{
	va_list ap;
	if (l->cap - l->len < 512) {
		l->cap = l->cap ? l->cap * 2 : 1 << 16;
		l->buf = realloc(l->buf, l->cap);
		assert_non_null(l->buf);
	}
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	l->len += (size_t)n;
}

/* pgtable_walk_level + dump_page_info of drivers/iommu/intel/debugfs.c:
 * path[] holds the entries by VT-d level (1 = PTE ... 5 = PML5E). */
static void walk(struct lst *l, const struct pt_table *t, uint64_t pa,
		 unsigned int level, uint64_t start, uint64_t *path)
{
	const uint64_t *tbl = t->mem->phys_to_virt(t->mem_ctx, pa);
	for (unsigned int i = 0; i < 512; i++) {
		uint64_t e = tbl[i];
		struct pt_entry_info info;
		pt_fmt_decode(t->fmt, e, level, &info);
		if (info.type == PT_ENTRY_EMPTY)
			continue;
		uint64_t va = start + ((uint64_t)i << (12 + 9 * level));
		path[level + 1] = e;
		if (info.type == PT_ENTRY_LEAF) {
			put(l, "0x%013llx |\t0x%016llx\t0x%016llx\t0x%016llx",
			    (unsigned long long)(va >> 12),
			    (unsigned long long)path[5], (unsigned long long)path[4],
			    (unsigned long long)path[3]);
			if (l->old_layout) {
				put(l, "\t0x%016llx\t0x%016llx\n",
				    (unsigned long long)path[2],
				    (unsigned long long)path[1]);
			} else {
				if (path[2]) {
					put(l, "\t0x%016llx", (unsigned long long)path[2]);
					if (path[1])
						put(l, "\t0x%016llx",
						    (unsigned long long)path[1]);
				}
				put(l, "\n");
			}
		} else {
			walk(l, t, info.oa, level - 1, va, path);
		}
		path[level + 1] = 0;
	}
}

static void listing(struct lst *l, const struct pt_table *t, const char *dev,
		    long pasid)
{
	uint64_t path[6] = { 0 };
	if (pasid >= 0)
		put(l, "Device %s with pasid %lx @0x%llx\n", dev, pasid,
		    (unsigned long long)t->top_pa);
	else
		put(l, "Device %s @0x%llx\n", dev, (unsigned long long)t->top_pa);
	if (l->old_layout)
		put(l, "IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE\n");
	else
		put(l, "%-17s\t%-18s\t%-18s\t%-18s\t%-18s\t%-s\n", "IOVA_PFN",
		    "PML5E", "PML4E", "PDPE", "PDE", "PTE");
	walk(l, t, t->top_pa, t->top_level, 0, path);
	if (l->old_layout)
		put(l, "\n");
}

static enum pt_format_id fmt_named(const char *n)
{
	enum pt_format_id id;
	assert_int_equal(pt_fmt_by_name(n, &id), 0);
	return id;
}

static int parse(struct tsrc_table *t, const char *text,
		 const struct tsrc_opts *o, char *msg, size_t mlen)
{
	return tsrc_debugfs_parse(t, "dts", text, strlen(text), o, msg, mlen);
}

/* ---- round trips ------------------------------------------------------ */

/*
 * Both layouts and the PASID header, for every depth of VT-d, and for
 * every other format pt knows (a first-stage PASID table is x86-64; the
 * columns are the same for any 512-entry, 4 KiB-granule radix table).
 */
static void test_debugfs_layouts(void **state)
{
	(void)state;
	char msg[512];
	struct tsrc_opts o;
	int tables = 0;
	for (int id = 0; id < PT_FMT_COUNT; id++)
	for (unsigned int va_bits = 39; va_bits <= 57; va_bits += 9)
		for (int old = 0; old < 2; old++)
			for (int pasid = 0; pasid < 2; pasid++) {
				struct built b;
				enum pt_format_id f = (enum pt_format_id)id;
				if (!pt_fmt_name(f) || pt_fmt_levels_for(f, va_bits) < 3)
					continue;
				if (build(&b, f, va_bits)) {
					pt_deinit(&b.t);
					ptm_destroy(&b.m);
					continue;
				}
				tables++;
				struct lst l = { .old_layout = old };
				listing(&l, &b.t, "0000:00:02.0", pasid ? 0x1f : -1);
				put(&l, "%s", "");
				tsrc_opts_init(&o);
				o.fmt = id;
				struct tsrc_table t;
				int err = parse(&t, l.buf, &o, msg, sizeof(msg));
				if (err)
					printf("%s %u-bit old %d pasid %d: %s\n",
					       pt_fmt_name(f), va_bits, old, pasid, msg);
				assert_int_equal(err, 0);
				assert_int_equal(t.va_bits, va_bits);
				assert_true(t.depth_known);
				assert_int_equal(t.pasid, pasid ? 0x1f : -1);
				assert_string_equal(t.device, "0000:00:02.0");
				assert_int_equal(t.root_pa, b.t.top_pa);
				assert_int_equal(t.leaves, 3 + 1 + 1 +
						 (pt_fmt_sign_extends(f) ? 1 : 0));
				assert_same(&t.t, &b.t);
				tsrc_free(&t);
				free(l.buf);
				unbuild(&b);
			}
	/* VT-d at three depths, x86-64 at two, at least. */
	assert_true(tables >= 4 * 5);
}

/* The old global file: a section per device; one is chosen by option. */
static void test_debugfs_select(void **state)
{
	(void)state;
	char msg[512];
	struct built a, b;
	assert_int_equal(build(&a, fmt_named("vtd-ss"), 48), 0);
	assert_int_equal(build(&b, fmt_named("vtd-ss"), 39), 0);
	struct lst l = { .old_layout = true };
	listing(&l, &a.t, "0000:00:02.0", -1);
	listing(&l, &b.t, "0000:03:00.1", -1);
	struct tsrc_opts o;
	struct tsrc_table t;
	tsrc_opts_init(&o);
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), -EINVAL);
	assert_has(msg, "holds 2 tables");
	assert_has(msg, "0000:00:02.0, 0000:03:00.1");
	assert_has(msg, "--device");
	o.device = "03:00.1";
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), 0);
	assert_int_equal(t.va_bits, 39);
	assert_same(&t.t, &b.t);
	tsrc_free(&t);
	o.device = "0000:00:02.0";
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), 0);
	assert_int_equal(t.va_bits, 48);
	assert_same(&t.t, &a.t);
	tsrc_free(&t);
	o.device = "0000:00:07.0";
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), -EINVAL);
	assert_has(msg, "no table for 0000:00:07.0");
	/* PASIDs of one device. */
	free(l.buf);
	l = (struct lst){ 0 };
	listing(&l, &a.t, "0000:00:02.0", 1);
	listing(&l, &b.t, "0000:00:02.0", 0x2a);
	o.device = NULL;
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), -EINVAL);
	assert_has(msg, "0000:00:02.0 pasid 1, 0000:00:02.0 pasid 2a");
	o.pasid = 0x2a;
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), 0);
	assert_int_equal(t.pasid, 0x2a);
	assert_same(&t.t, &b.t);
	tsrc_free(&t);
	free(l.buf);
	unbuild(&a);
	unbuild(&b);
}

/* Every format pt knows, from a memory image, looked up by its name. */
static void test_image_every_format(void **state)
{
	(void)state;
	char msg[512];
	int formats = 0;
	for (int id = 0; id < PT_FMT_COUNT; id++) {
		const char *name = pt_fmt_name((enum pt_format_id)id);
		if (!name)
			continue;
		enum pt_format_id f = fmt_named(name);
		for (unsigned int va_bits = 32; va_bits <= 57; va_bits++) {
			if (pt_fmt_levels_for(f, va_bits) < 3)
				continue;
			struct built b;
			if (build(&b, f, va_bits)) {
				/* The format cannot hold these sample leaves. */
				pt_deinit(&b.t);
				ptm_destroy(&b.m);
				continue;
			}
			struct tsrc_opts o;
			tsrc_opts_init(&o);
			o.fmt = (int)f;
			o.va_bits = va_bits;
			struct tsrc_table t;
			int err = tsrc_image_mem(&t, "img", b.m.base,
						 b.m.pages * PT_TABLE_SIZE, b.t.top_pa,
						 &o, msg, sizeof(msg));
			if (err)
				printf("%s %u: %s\n", name, va_bits, msg);
			assert_int_equal(err, 0);
			assert_same(&t.t, &b.t);
			tsrc_free(&t);
			/* By level count as well. */
			o.va_bits = 0;
			o.levels = (unsigned int)pt_fmt_levels_for(f, va_bits);
			assert_int_equal(tsrc_image_mem(&t, "img", b.m.base,
							b.m.pages * PT_TABLE_SIZE,
							b.t.top_pa, &o, msg,
							sizeof(msg)), 0);
			assert_int_equal(t.levels, o.levels);
			tsrc_free(&t);
			unbuild(&b);
			formats++;
		}
	}
	assert_true(formats >= PT_FMT_COUNT);
}

/* ---- hostile images ---------------------------------------------------- */

/* PA of the first leaf entry of t below va, and its level. */
static uint64_t *entry_of(struct built *b, uint64_t va, unsigned int *level,
			  uint64_t *pa)
{
	uint64_t tpa = b->t.top_pa;
	for (unsigned int l = b->t.top_level;; l--) {
		uint64_t *tbl = b->t.mem->phys_to_virt(b->t.mem_ctx, tpa);
		unsigned int idx = pt_level_index(va, l);
		struct pt_entry_info info;
		pt_fmt_decode(b->t.fmt, tbl[idx], l, &info);
		if (info.type != PT_ENTRY_TABLE || l == *level) {
			*level = l;
			*pa = tpa + 8ull * idx;
			return &tbl[idx];
		}
		tpa = info.oa;
	}
}

static int image_err(struct built *b, char *msg, size_t len)
{
	struct tsrc_opts o;
	tsrc_opts_init(&o);
	o.fmt = (int)b->fmt;
	o.va_bits = b->t.va_bits;
	struct tsrc_table t;
	int err = tsrc_image_mem(&t, "img", b->m.base, b->m.pages * PT_TABLE_SIZE,
				 b->t.top_pa, &o, msg, len);
	if (!err)
		tsrc_free(&t);
	return err;
}

static void test_image_hostile(void **state)
{
	(void)state;
	char msg[512], want[128];
	for (int id = 0; id < PT_FMT_COUNT; id++) {
		const char *name = pt_fmt_name((enum pt_format_id)id);
		struct built b;
		if (!name || build(&b, (enum pt_format_id)id, 48)) {
			/* A format that cannot hold the sample at 48 bits. */
			if (name) {
				pt_deinit(&b.t);
				ptm_destroy(&b.m);
			}
			continue;
		}
		unsigned int level = 99;
		uint64_t pa;
		/* A leaf with each single bit flipped that pt's decoder calls
		 * bad: refused, naming its PA and IOVA. */
		uint64_t *e = entry_of(&b, 0x400000, &level, &pa);
		uint64_t keep = *e;
		int bad_bits = 0;
		for (unsigned int bit = 0; bit < 64; bit++) {
			struct pt_entry_info info;
			pt_fmt_decode(b.t.fmt, keep ^ (1ull << bit), level, &info);
			if (info.type != PT_ENTRY_BAD)
				continue;
			*e = keep ^ (1ull << bit);
			assert_int_equal(image_err(&b, msg, sizeof(msg)), -EINVAL);
			snprintf(want, sizeof(want), "at PA 0x%llx (level %u",
				 (unsigned long long)pa, level);
			assert_has(msg, want);
			assert_has(msg, "IOVA 0x400000");
			assert_has(msg, "not a valid");
			bad_bits++;
		}
		*e = keep;
		/* A block's low output bits at least are RES0. */
		assert_true(bad_bits > 0);
		/* A table pointer outside the image. */
		level = 1;
		e = entry_of(&b, 0x201000, &level, &pa);
		keep = *e;
		*e = pt_fmt_table_entry(b.t.fmt, level, 0x7ff000000ull);
		assert_int_equal(image_err(&b, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "outside the image");
		snprintf(want, sizeof(want), "at PA 0x%llx", (unsigned long long)pa);
		assert_has(msg, want);
		/* A loop: the level-1 table points back at the root. */
		*e = pt_fmt_table_entry(b.t.fmt, level, b.t.top_pa);
		assert_int_equal(image_err(&b, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "already reached: a loop");
		assert_has(msg, want); /* named at the entry that closes it */
		/* ... and at its own table page: named there, not at the
		 * entries above it on the way. */
		*e = pt_fmt_table_entry(b.t.fmt, level, pa & ~0xfffull);
		assert_int_equal(image_err(&b, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "already reached: a loop");
		assert_has(msg, want);
		*e = keep;
		assert_int_equal(image_err(&b, msg, sizeof(msg)), 0);
		/* Root outside, unaligned; no format, no depth. */
		struct tsrc_opts o;
		struct tsrc_table t;
		tsrc_opts_init(&o);
		o.fmt = id;
		o.va_bits = 48;
		assert_int_equal(tsrc_image_mem(&t, "img", b.m.base, 4096, 0x10000,
						&o, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "beyond the image");
		assert_int_equal(tsrc_image_mem(&t, "img", b.m.base, 65536, 0x10,
						&o, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "not 4 KiB aligned");
		o.va_bits = 0;
		assert_int_equal(tsrc_image_mem(&t, "img", b.m.base, 65536, 0, &o,
						msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "--va-bits N or --levels N");
		o.fmt = -1;
		assert_int_equal(tsrc_image_mem(&t, "img", b.m.base, 65536, 0, &o,
						msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "give --format");
		assert_has(msg, name);
		unbuild(&b);
	}
}

/* A top-level entry beyond the IOVA width (formats whose top table
 * reaches further than va_bits, such as ARM at 40 bits) is refused. */
static void test_image_beyond_width(void **state)
{
	(void)state;
	char msg[512];
	int seen = 0;
	for (int id = 0; id < PT_FMT_COUNT; id++) {
		enum pt_format_id f = (enum pt_format_id)id;
		if (!pt_fmt_name(f) || pt_fmt_sign_extends(f))
			continue;
		for (unsigned int va_bits = 32; va_bits < 57; va_bits++) {
			int lv = pt_fmt_levels_for(f, va_bits);
			if (lv < 3 || 12 + 9 * (unsigned int)lv <= va_bits)
				continue;
			struct built b;
			if (build(&b, f, va_bits)) {
				pt_deinit(&b.t);
				ptm_destroy(&b.m);
				continue;
			}
			unsigned int top = b.t.top_level;
			unsigned int idx = 1u << (va_bits - (12 + 9 * top));
			assert_true(idx < 512);
			b.t.top[idx] = b.t.top[0];
			assert_int_equal(image_err(&b, msg, sizeof(msg)), -EINVAL);
			assert_has(msg, "beyond the");
			assert_has(msg, "-bit IOVA width");
			b.t.top[idx] = 0;
			unbuild(&b);
			seen++;
		}
	}
	assert_true(seen > 0);
}

/* ---- hostile listings -------------------------------------------------- */

/* The listing of a 4-level VT-d table, one line replaced or removed. */
static char *damaged(const char *from, const char *to, bool old_layout)
{
	struct built b;
	assert_int_equal(build(&b, fmt_named("vtd-ss"), 48), 0);
	struct lst l = { .old_layout = old_layout };
	listing(&l, &b.t, "0000:00:02.0", -1);
	put(&l, "%s", "");
	unbuild(&b);
	if (!from)
		return l.buf;
	char *p = strstr(l.buf, from);
	assert_non_null(p);
	size_t fl = strlen(from), tl = strlen(to);
	char *out = malloc(l.len + tl + 1);
	memcpy(out, l.buf, (size_t)(p - l.buf));
	memcpy(out + (p - l.buf), to, tl);
	strcpy(out + (p - l.buf) + tl, p + fl);
	free(l.buf);
	return out;
}

/* The n-th line (1-based) of text, without its newline. */
static void line_of(const char *text, int n, char *out, size_t len)
{
	for (int i = 1; i < n; i++)
		text = strchr(text, '\n') + 1;
	const char *nl = strchr(text, '\n');
	size_t l = nl ? (size_t)(nl - text) : strlen(text);
	assert_true(l < len);
	memcpy(out, text, l);
	out[l] = '\0';
}

static void expect_refused(const char *text, const char *where, const char *why)
{
	char msg[512];
	struct tsrc_opts o;
	struct tsrc_table t;
	tsrc_opts_init(&o);
	int err = parse(&t, text, &o, msg, sizeof(msg));
	if (!err) {
		printf("accepted:\n%s\n", text);
		tsrc_free(&t);
	}
	assert_int_equal(err, -EINVAL);
	assert_has(msg, where);
	assert_has(msg, why);
}

static void test_debugfs_hostile(void **state)
{
	(void)state;
	char *good = damaged(NULL, NULL, false);
	char l3[256], l4[256], l5[256], l6[256], tmp[1024];
	/* Lines: 1 Device, 2 header, 3-5 the 4K pages at 0x200000, 6 the
	 * 2M block at 0x400000, 7 the 1G block at 0x40000000. */
	line_of(good, 3, l3, sizeof(l3));
	line_of(good, 4, l4, sizeof(l4));
	line_of(good, 5, l5, sizeof(l5));
	line_of(good, 6, l6, sizeof(l6));
	char *t;

	/* Truncated: the file ends mid-row; a value cut short. */
	char cut[2048];
	snprintf(cut, sizeof(cut), "%.*s", (int)(strstr(good, l4) - good + 40), good);
	expect_refused(cut, "dts:4:", "ends inside this line");
	snprintf(cut, sizeof(cut), "%.*s\n", (int)(strstr(good, l4) - good + 60), good);
	expect_refused(cut, "dts:4:", "not 0x and 16 hex digits");
	/* Wrong column counts. */
	snprintf(tmp, sizeof(tmp), "%s\t0x0000000000000000", l3);
	t = damaged(l3, tmp, false);
	expect_refused(t, "dts:3:", "more than 5 values");
	free(t);
	t = damaged(l3, "0x0000000000200 |\t0x0000000000000000\t0x0000000000000000", false);
	expect_refused(t, "dts:3:", "2 values after '|'");
	free(t);
	t = damaged(l3, "0x0000000000200 \t0x0000000000000000", false);
	expect_refused(t, "dts:3:", "no '|'");
	free(t);
	/* An IOVA beyond the 48-bit width. */
	snprintf(tmp, sizeof(tmp), "0x1000000000200%s", l3 + 15);
	t = damaged(l3, tmp, false);
	expect_refused(t, "dts:3:", "beyond the 48-bit width of a 4-level table");
	free(t);
	/* The leaf level contradicts the columns: the 4K row cut after its
	 * PDE (a table pointer), the 2M row given a PTE column. */
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(strrchr(l3, '\t') - l3), l3);
	t = damaged(l3, tmp, false);
	expect_refused(t, "dts:3:", "the row ends at the PDE, but");
	expect_refused(t, "dts:3:", "a table pointer, not a leaf");
	free(t);
	snprintf(tmp, sizeof(tmp), "%s\t0x0000000300000003", l6);
	t = damaged(l6, tmp, false);
	expect_refused(t, "dts:6:", "is a leaf, yet the row goes on to the PTE");
	free(t);
	/* Duplicate and out-of-order IOVAs. */
	snprintf(tmp, sizeof(tmp), "%s\n%s", l3, l3);
	t = damaged(l3, tmp, false);
	expect_refused(t, "dts:4:", "repeats the leaf on line 3");
	free(t);
	/* l4 first, then l3 (which precedes it). */
	snprintf(tmp, sizeof(tmp), "%s\n%s\n%s", l4, l3, l5);
	{
		char buf[4096];
		const char *p3 = strstr(good, l3);
		const char *after5 = strstr(good, l5) + strlen(l5);
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p3 - good), good, tmp,
			 after5);
		expect_refused(buf, "dts:4:", "precedes the leaf on line 3");
	}
	/* A torn walk: the second 4K row's PDE points elsewhere. */
	{
		char pde[32];
		/* The PDE is the 4th value: after the third tab. */
		const char *p = l4;
		for (int i = 0; i < 4; i++)
			p = strchr(p, '\t') + 1;
		snprintf(pde, sizeof(pde), "%.18s", p);
		char other[32];
		snprintf(other, sizeof(other), "0x%016llx",
			 (unsigned long long)(strtoull(pde, NULL, 16) + 0x1000));
		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - l4), l4, other,
			 p + 18);
		t = damaged(l4, tmp, false);
		expect_refused(t, "dts:4:", "here but");
		expect_refused(t, "dts:4:", "on line 3: the table changed while the "
			       "kernel walked it");
		free(t);
	}
	/* One table page in two places: the PD of [0, 1G) again under the
	 * PDPE of [2G, 3G) (a row appended after the last one, line 8). */
	{
		char l7[256];
		line_of(good, 7, l7, sizeof(l7));
		snprintf(tmp, sizeof(tmp), "%s\n0x0000000080200%s", l7, l3 + 15);
		t = damaged(l7, tmp, false);
		expect_refused(t, "dts:8:", "which line 3 uses for another part of "
			       "the table");
		free(t);
	}
	/* Reserved bits (PS in a PML4E) and a leaf misaligned to its IOVA. */
	{
		const char *p = strchr(l6, '\t') + 1;
		p = strchr(p, '\t') + 1; /* PML4E */
		snprintf(tmp, sizeof(tmp), "%.*s0x%016llx%s", (int)(p - l6), l6,
			 (unsigned long long)(strtoull(p, NULL, 16) | 0x80), p + 18);
		t = damaged(l6, tmp, false);
		expect_refused(t, "dts:6:", "the PML4E");
		expect_refused(t, "dts:6:", "not a valid table entry");
		free(t);
		snprintf(tmp, sizeof(tmp), "0x0000000000401%s", l6 + 15);
		t = damaged(l6, tmp, false);
		expect_refused(t, "dts:6:", "not aligned to its leaf");
		free(t);
	}
	/* Rows that start at different levels; a zero inside a walk. */
	t = damaged(l6, "0x0000000000400 |\t0x0000000000000000\t0x0000000000000000"
		    "\t0x0000000000000000\t0x0000000300400083", false);
	expect_refused(t, "dts:6:", "starts at the PDE here but at the PML4E");
	free(t);
	/* Garbage, a row before any Device line, a NUL, a bad Device line. */
	expect_refused("Device 0000:00:02.0 @0x1000\nhello\n", "dts:2:",
		       "not a line of a domain_translation_struct");
	expect_refused("0x0000000000000 |\t0x0\n", "dts:1:", "before any 'Device'");
	{
		/* An unknown last line with no newline and no NUL after it
		 * (the fuzzer's first find: the message read past it). */
		static const char txt[] = "Device 0000:00:02.0 @0x1000\nhello";
		char *nonul = malloc(sizeof(txt) - 1);
		memcpy(nonul, txt, sizeof(txt) - 1);
		char msg[512];
		struct tsrc_opts o;
		struct tsrc_table tt;
		tsrc_opts_init(&o);
		assert_int_equal(tsrc_debugfs_parse(&tt, "dts", nonul, sizeof(txt) - 1,
						    &o, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "dts:2: not a line of a domain_translation_struct "
			   "listing: 'hello'");
		free(nonul);
	}
	{
		static const char nul[] = "Device 0000:00:02.0 @0x1000\n\0x\n";
		char msg[512];
		struct tsrc_opts o;
		struct tsrc_table tt;
		tsrc_opts_init(&o);
		assert_int_equal(tsrc_debugfs_parse(&tt, "dts", nul, sizeof(nul) - 1,
						    &o, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "dts:2: a NUL byte");
	}
	expect_refused("Device 0000:00:02.0 0x1000\n", "dts:1:",
		       "a Device line reads");
	expect_refused("Device 0000:00:02.0 @0x1234\n", "dts:1:",
		       "not 4 KiB aligned");
	expect_refused("Device 0000:00:02.0 with pasid zz @0x1000\n", "dts:1:",
		       "PASID 'zz'");
	expect_refused("\n\n", "dts", "no 'Device ...' line");
	/* Options the rows contradict. */
	{
		char msg[512];
		struct tsrc_opts o;
		struct tsrc_table tt;
		tsrc_opts_init(&o);
		o.levels = 3;
		assert_int_equal(parse(&tt, good, &o, msg, sizeof(msg)), -EINVAL);
		assert_has(msg, "walk a 4-level table");
	}
	/* An empty listing takes its depth from the options. */
	{
		char msg[512];
		struct tsrc_opts o;
		struct tsrc_table tt;
		tsrc_opts_init(&o);
		const char *empty = "Device 0000:00:02.0 @0x1000\nIOVA_PFN\n";
		assert_int_equal(parse(&tt, empty, &o, msg, sizeof(msg)), 0);
		assert_false(tt.depth_known);
		tsrc_free(&tt);
		o.va_bits = 39;
		assert_int_equal(parse(&tt, empty, &o, msg, sizeof(msg)), 0);
		assert_true(tt.depth_known);
		assert_int_equal(tt.levels, 3);
		tsrc_free(&tt);
	}
	free(good);
}

/* Many table pages (past the page store's first size), notes between
 * rows, and what the kernel's rows never are. */
static void test_debugfs_many_and_odd(void **state)
{
	(void)state;
	char msg[512];
	struct built b;
	memset(&b, 0, sizeof(b));
	assert_int_equal(ptm_init(&b.m, 512, 0), 0);
	struct pt_cfg cfg = { .fmt = fmt_named("vtd-ss"), .va_bits = 48,
			      .oa_bits = 40 };
	assert_int_equal(pt_init(&b.t, &cfg, &b.m.ops, &b.m), 0);
	/* One 4 KiB page in each of 300 2 MiB ranges, over two 1 GiB
	 * ranges: 300 last-level tables. */
	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(pt_map_range(&b.t, (i << 21) + 0x5000,
					      0x400000000ull + (i << 12), 0x1000,
					      PT_PROT_READ, NULL), 0);
	struct lst l = { 0 };
	put(&l, "DMA Remapping is not enabled on dmar1\n");
	listing(&l, &b.t, "0000:00:02.0", -1);
	struct tsrc_opts o;
	struct tsrc_table t;
	tsrc_opts_init(&o);
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), 0);
	assert_int_equal(t.leaves, 300);
	assert_same(&t.t, &b.t);
	tsrc_free(&t);
	/* The same from an image. */
	o.fmt = (int)b.t.fmt->id;
	o.va_bits = 48;
	assert_int_equal(tsrc_image_mem(&t, "img", b.m.base, b.m.pages * 4096,
					b.t.top_pa, &o, msg, sizeof(msg)), 0);
	assert_int_equal(t.leaves, 300);
	assert_same(&t.t, &b.t);
	tsrc_free(&t);
	free(l.buf);
	unbuild(&b);

	/* Odd rows and headers. */
	static const char hdr[] = "Device 0000:00:02.0 @0x1000\nIOVA_PFN\n";
	static const char z[] = "\t0x0000000000000000";
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s0x0000000000 |%s%s%s\n", hdr, z, z, z);
	expect_refused(buf, "dts:3:", "IOVA_PFN '0x0000000000' is not 0x and 13");
	snprintf(buf, sizeof(buf), "%s0x0000000000000 |%s%s%s\n", hdr, z, z, z);
	expect_refused(buf, "dts:3:", "every value on the row is zero");
	snprintf(buf, sizeof(buf), "%s0x0000000000000 |%s | %s%s\n", hdr, z, z, z);
	expect_refused(buf, "dts:3:", "a second '|'");
	snprintf(buf, sizeof(buf), "%sIOVA_PFN\n", hdr);
	expect_refused(buf, "dts:3:", "a second column header");
	expect_refused("Device 0000:00:02.0 @0xzz\n", "dts:1:",
		       "the root '@0xzz'");
	char longl[1200];
	memset(longl, 'x', sizeof(longl) - 2);
	longl[sizeof(longl) - 2] = '\n';
	longl[sizeof(longl) - 1] = '\0';
	memcpy(longl, "Device ", 7);
	expect_refused(longl, "dts:1:", "longer than");
	/* Twelve devices: the list is cut short. */
	char many[2048] = "";
	for (int i = 0; i < 12; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "Device 0000:00:%02x.0 @0x1000\n", i);
	expect_refused(many, "dts", "(12 in all)");
}

/* What only pt_adopt sees: an ARM contiguous hint on a lone page, a run
 * of one. Named at its row. */
static void test_debugfs_broken_run(void **state)
{
	(void)state;
	struct built b;
	assert_int_equal(build(&b, fmt_named("arm-s2"), 48), 0);
	unsigned int level = 0;
	uint64_t pa;
	uint64_t *e = entry_of(&b, 0x201000, &level, &pa);
	assert_int_equal(level, 0);
	/* The format's contiguous bit: the one bit whose flip makes the
	 * decoder report a contiguous leaf. */
	uint64_t keep = *e;
	int found = 0;
	for (unsigned int bit = 0; bit < 64 && !found; bit++) {
		struct pt_entry_info info;
		pt_fmt_decode(b.t.fmt, keep | (1ull << bit), 0, &info);
		if (info.type == PT_ENTRY_LEAF && info.contig) {
			*e = keep | (1ull << bit);
			found = 1;
		}
	}
	assert_true(found);
	struct lst l = { 0 };
	listing(&l, &b.t, "0000:00:02.0", -1);
	put(&l, "%s", "");
	char msg[512];
	struct tsrc_opts o;
	struct tsrc_table t;
	tsrc_opts_init(&o);
	o.fmt = (int)b.t.fmt->id;
	assert_int_equal(parse(&t, l.buf, &o, msg, sizeof(msg)), -EINVAL);
	/* Line 4 is the row of 0x201000. */
	assert_has(msg, "dts:4: pt refuses the table at IOVA 0x201000");
	free(l.buf);
	unbuild(&b);
}

/* ---- the command ------------------------------------------------------- */

static int run(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int run(char *out, size_t len, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/iohandover' %s 2>&1 </dev/null",
		 tmpdir, kho_test_bindir(), args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	while (fgetc(p) != EOF)
		;
	int st = pclose(p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_cli_mixed(void **state)
{
	(void)state;
	static char out[65536];
	struct built a, b;
	assert_int_equal(build(&a, fmt_named("vtd-ss"), 48), 0);
	assert_int_equal(build(&b, fmt_named("vtd-ss"), 39), 0);
	struct lst l = { 0 };
	listing(&l, &a.t, "0000:00:02.0", -1);
	write_file("dts48.txt", l.buf, l.len);
	free(l.buf);
	l = (struct lst){ .old_layout = true };
	listing(&l, &a.t, "0000:00:02.0", -1);
	listing(&l, &b.t, "0000:00:03.0", -1);
	write_file("global.txt", l.buf, l.len);
	free(l.buf);
	write_file("a48.img", a.m.base, a.m.pages * PT_TABLE_SIZE);
	write_file("b39.img", b.m.base, b.m.pages * PT_TABLE_SIZE);
	char ra[64], rb[64];
	snprintf(ra, sizeof(ra), "a48.img@0x%llx", (unsigned long long)a.t.top_pa);
	snprintf(rb, sizeof(rb), "b39.img@0x%llx", (unsigned long long)b.t.top_pa);

	/* debugfs against an image of the same table: hitless. */
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --va-bits 48 "
			     "dts48.txt %s", ra), 0);
	assert_has(out, "OLD: VT-d debugfs, device 0000:00:02.0");
	assert_has(out, "NEW: memory image, root 0x0, vtd-ss, 4 levels (48-bit IOVA)");
	assert_has(out, "verdict: hitless");
	/* The image's format may come from the debugfs side. */
	assert_int_equal(run(out, sizeof(out), "check --va-bits 48 dts48.txt %s",
			     ra), 0);
	/* A global file needs --device; the 39-bit table against the
	 * 48-bit one: same translations, another depth. */
	assert_int_equal(run(out, sizeof(out), "check global.txt %s", ra), 2);
	assert_has(out, "OLD: global.txt: the listing");
	assert_has(out, "holds 2 tables");
	assert_int_equal(run(out, sizeof(out), "check --device 00:03.0 --new-levels 4 "
			     "global.txt %s", ra), 1);
	assert_has(out, "depth: OLD has 3 levels (39-bit IOVA), NEW has 4 (48-bit)");
	assert_has(out, "not a single-word replace");
	assert_has(out, "verdict: NOT hitless as a root switch");
	assert_null(strstr(out, "translation  "));
	assert_int_equal(run(out, sizeof(out), "check --old-device 00:03.0 "
			     "--new-device 00:02.0 global.txt global.txt"), 1);
	assert_has(out, "depth:");
	/* The global --va-bits is for the image: the debugfs side's rows
	 * show its own depth (the issue's own example, at 39 bits). */
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --va-bits 48 "
			     "--device 00:03.0 global.txt %s", ra), 1);
	assert_has(out, "depth: OLD has 3 levels");
	/* An image takes its format from a dump on the other side. */
	assert_int_equal(run(out, sizeof(out), "check --va-bits 39 %s %s", ra, rb),
			 2);
	assert_has(out, "give --format");
	/* An empty listing shows no depth: the global option gives it,
	 * else it is assumed and not compared. */
	static const char empty[] = "Device 0000:00:02.0 @0x1000\nIOVA_PFN\n";
	write_file("empty.txt", empty, sizeof(empty) - 1);
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --va-bits 39 "
			     "empty.txt %s", rb), 1);
	assert_has(out, "OLD: VT-d debugfs, device 0000:00:02.0, root 0x1000, "
		   "vtd-ss, 3 levels (39-bit IOVA), 0 leaves");
	assert_null(strstr(out, "depth:"));
	assert_int_equal(run(out, sizeof(out), "check --new-levels 3 empty.txt %s",
			     rb), 1);
	assert_has(out, "4 levels (48-bit IOVA) assumed: the listing is empty");
	assert_null(strstr(out, "depth:"));
	/* Same translations at other leaf sizes: VT-d tolerates it. */
	{
		struct built c;
		memset(&c, 0, sizeof(c));
		assert_int_equal(ptm_init(&c.m, 64, 0), 0);
		struct pt_cfg cfg = { .fmt = fmt_named("vtd-ss"), .va_bits = 48,
				      .oa_bits = 40, .pgsizes = PT_SZ_4K | PT_SZ_1G };
		assert_int_equal(pt_init(&c.t, &cfg, &c.m.ops, &c.m), 0);
		uint32_t prot = PT_PROT_READ | PT_PROT_WRITE;
		assert_int_equal(pt_map_range(&c.t, 0x200000, 0x300000000ull, 0x3000,
					      prot, NULL), 0);
		assert_int_equal(pt_map_range(&c.t, 0x400000, 0x300400000ull,
					      0x200000, prot, NULL), 0);
		assert_int_equal(pt_map_range(&c.t, 0x40000000, 0x240000000ull,
					      0x40000000, prot, NULL), 0);
		write_file("c48.img", c.m.base, c.m.pages * PT_TABLE_SIZE);
		char rc_[64];
		snprintf(rc_, sizeof(rc_), "c48.img@0x%llx",
			 (unsigned long long)c.t.top_pa);
		assert_int_equal(run(out, sizeof(out), "check --levels 4 dts48.txt %s",
				     rc_), 0);
		assert_has(out, "granule      tolerated (no BBM levels)");
		assert_has(out, "verdict: hitless");
		assert_int_equal(run(out, sizeof(out), "check --quiet --levels 4 "
				     "dts48.txt %s", rc_), 0);
		assert_null(strstr(out, "granule      tolerated"));
		unbuild(&c);
	}
	/* --json. */
	assert_int_equal(run(out, sizeof(out), "check --json --device 00:03.0 "
			     "--new-va-bits 48 global.txt %s", ra), 1);
	assert_has(out, "\"kind\": \"debugfs\"");
	assert_has(out, "\"kind\": \"image\"");
	assert_has(out, "\"device\": \"0000:00:03.0\"");
	assert_has(out, "\"depth\": {\"differs\": true, \"needs\": ");
	assert_has(out, "\"verdict\": \"not_hitless\"");
	assert_has(out, "\"exit\": 1");
	assert_has(out, "\"kind\": \"same\"");
	/* It parses as JSON, where a JSON reader is at hand. */
	if (!system("command -v python3 >/dev/null 2>&1")) {
		char cmd[4096];
		snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/iohandover' check --json "
			 "--device 00:03.0 --new-va-bits 48 global.txt %s | python3 -c "
			 "'import json,sys; d=json.load(sys.stdin); "
			 "sys.exit(0 if d[\"depth\"][\"differs\"] and "
			 "d[\"exit\"] == 1 and len(d[\"ranges\"]) > 0 else 1)'",
			 tmpdir, kho_test_bindir(), ra);
		assert_int_equal(system(cmd), 0);
	}
	/* Two images of one table at different depth, and the same. */
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --old-levels 3 "
			     "--new-levels 3 %s %s", rb, rb), 0);
	/* A project dump against a debugfs listing of another table. */
	assert_int_equal(run(out, sizeof(out), "dump --format vtd-ss --profile v1 "
			     "--guest-mem 64M --raw v1.dump --no-tree"), 0);
	assert_int_equal(run(out, sizeof(out), "check v1.dump dts48.txt"), 1);
	assert_has(out, "OLD: iohandover dump, vtd-ss");
	assert_has(out, "never hitless");
	assert_int_equal(run(out, sizeof(out), "check --levels 4 v1.dump %s", ra), 1);
	assert_has(out, "NEW: memory image, root 0x0, vtd-ss");
	/* Forcing the kind; what is not recognised; bad options. */
	assert_int_equal(run(out, sizeof(out), "check --input-format dump "
			     "dts48.txt dts48.txt"), 2);
	assert_has(out, "dts48.txt:1: not a table dump");
	assert_int_equal(run(out, sizeof(out), "check --input-format debugfs,image "
			     "dts48.txt dts48.txt"), 2);
	assert_has(out, "an image side is written FILE@ROOTPA");
	assert_int_equal(run(out, sizeof(out), "check --input-format disk "
			     "dts48.txt dts48.txt"), 2);
	assert_has(out, "--input-format: 'disk'");
	assert_int_equal(run(out, sizeof(out), "check a48.img dts48.txt"), 2);
	assert_has(out, "a48.img:1: not a table dump");
	assert_int_equal(run(out, sizeof(out), "check dts48.txt a48.img@0x12x"), 2);
	assert_has(out, "the root '0x12x'");
	assert_int_equal(run(out, sizeof(out), "check dts48.txt %s", ra), 2);
	assert_has(out, "--va-bits N or --levels N");
	assert_int_equal(run(out, sizeof(out), "check --format arm-s1 --va-bits 48 "
			     "v1.dump %s", ra), 2);
	assert_has(out, "a vtd-ss dump, but --format says arm-s1");
	assert_int_equal(run(out, sizeof(out), "check --format ppc dts48.txt "
			     "dts48.txt"), 2);
	assert_has(out, "--format: unknown format 'ppc'");
	assert_int_equal(run(out, sizeof(out), "check --pasid xyz dts48.txt "
			     "dts48.txt"), 2);
	assert_has(out, "--pasid: 'xyz'");
	assert_int_equal(run(out, sizeof(out), "check --levels 9 dts48.txt "
			     "dts48.txt"), 2);
	assert_has(out, "--levels: '9'");
	assert_int_equal(run(out, sizeof(out), "check --help"), 0);
	assert_has(out, "IMAGE@ROOTPA");
	unbuild(&a);
	unbuild(&b);
}

static char examples[4096];

/* The examples in docs/examples/ read as documented. */
static void test_examples(void **state)
{
	(void)state;
	static char out[65536];
	const char *ex = examples;
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --levels 4 "
			     "'%s/vtd-debugfs-device.txt' '%s/vtd-ss-memory.img@0x1000'",
			     ex, ex), 0);
	assert_has(out, "verdict: hitless");
	assert_int_equal(run(out, sizeof(out), "check '%s/vtd-debugfs-device.txt' "
			     "'%s/vtd-debugfs-pasid.txt'", ex, ex), 1);
	assert_has(out, "0x0000000000201000-0x0000000000201fff  4 KiB       "
		   "translation");
	assert_has(out, "device 0000:00:02.0 pasid 1");
	assert_int_equal(run(out, sizeof(out), "check --device 00:02.0 "
			     "'%s/vtd-debugfs-global.txt' '%s/vtd-debugfs-device.txt'",
			     ex, ex), 0);
	assert_int_equal(run(out, sizeof(out), "check --format vtd-ss --old-levels 3 "
			     "--new-levels 4 '%s/vtd-ss-memory.img@0x2000' "
			     "'%s/vtd-ss-memory.img@0x1000'", ex, ex), 1);
	assert_has(out, "depth: OLD has 3 levels");
	assert_int_equal(run(out, sizeof(out), "check --json '%s/vtd-ss.dump' "
			     "'%s/vtd-debugfs-device.txt'", ex, ex), 1);
	assert_has(out, "\"kind\": \"dump\"");
	assert_has(out, "\"verdict\": \"not_hitless\"");
	assert_int_equal(run(out, sizeof(out), "check --json '%s/vtd-debugfs-pasid.txt' "
			     "'%s/vtd-debugfs-device.txt'", ex, ex), 1);
	assert_has(out, "\"device\": \"0000:00:02.0\", \"pasid\": 1}");
	/* A per-side --new-device must match even a file of one table;
	 * --device only chooses among several. */
	assert_int_equal(run(out, sizeof(out), "check --old-device 00:02.0 --new-device 00:03.0 "
			     "'%s/vtd-debugfs-global.txt' '%s/vtd-debugfs-device.txt'",
			     ex, ex), 2);
	assert_has(out, "NEW:");
	assert_has(out, "no table for 00:03.0");
	assert_int_equal(run(out, sizeof(out), "check --device 00:03.0 "
			     "'%s/vtd-debugfs-global.txt' '%s/vtd-debugfs-device.txt'",
			     ex, ex), 1);
}

static int setup(void **state)
{
	(void)state;
	snprintf(examples, sizeof(examples), "%s/docs/examples",
		 kho_test_srcdir());
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debugfs_layouts),
		cmocka_unit_test(test_debugfs_select),
		cmocka_unit_test(test_image_every_format),
		cmocka_unit_test(test_image_hostile),
		cmocka_unit_test(test_image_beyond_width),
		cmocka_unit_test(test_debugfs_hostile),
		cmocka_unit_test(test_debugfs_many_and_odd),
		cmocka_unit_test(test_debugfs_broken_run),
		cmocka_unit_test(test_cli_mixed),
		cmocka_unit_test(test_examples),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
