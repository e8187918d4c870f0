// SPDX-License-Identifier: MIT
/*
 * tsrc: what both kinds of source share (the page store, adopting through
 * pt), and tables in a raw physical memory image.
 */
#include "tsrc/tsrc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt/pt_fmt.h"

int tsrc_fail(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err;
}

void tsrc_opts_init(struct tsrc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fmt = -1;
	o->pasid = -1;
}

/* ---- the store: pa -> pointer ----------------------------------------- */

static size_t hash_pa(uint64_t pa, size_t nslot)
{
	uint64_t h = (pa >> 12) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (nslot - 1);
}

void *tsrc_store_get(const struct tsrc_store *s, uint64_t pa, bool *found)
{
	if (found)
		*found = false;
	if (!s->nslot)
		return NULL;
	for (size_t i = hash_pa(pa, s->nslot);; i = (i + 1) & (s->nslot - 1)) {
		if (!s->keys[i])
			return NULL;
		if (s->keys[i] == pa + 1) {
			if (found)
				*found = true;
			return s->vals[i];
		}
	}
}

static int store_grow(struct tsrc_store *s)
{
	size_t n = s->nslot ? s->nslot * 2 : 64;
	uint64_t *keys = calloc(n, sizeof(*keys));
	void **vals = calloc(n, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nslot; i++) {
		if (!s->keys[i])
			continue;
		size_t j = hash_pa(s->keys[i] - 1, n);
		while (keys[j])
			j = (j + 1) & (n - 1);
		keys[j] = s->keys[i];
		vals[j] = s->vals[i];
	}
	free(s->keys);
	free(s->vals);
	s->keys = keys;
	s->vals = vals;
	s->nslot = n;
	return 0;
}

int tsrc_store_put(struct tsrc_store *s, uint64_t pa, void *val)
{
	if (pa == ~0ull)
		return -EINVAL;
	if ((s->n + 1) * 2 > s->nslot && store_grow(s))
		return -ENOMEM;
	size_t i = hash_pa(pa, s->nslot);
	while (s->keys[i] && s->keys[i] != pa + 1)
		i = (i + 1) & (s->nslot - 1);
	if (!s->keys[i])
		s->n++;
	s->keys[i] = pa + 1;
	s->vals[i] = val;
	return 0;
}

void tsrc_store_free(struct tsrc_store *s, bool free_vals)
{
	if (free_vals)
		for (size_t i = 0; i < s->nslot; i++)
			if (s->keys[i])
				free(s->vals[i]);
	free(s->keys);
	free(s->vals);
	memset(s, 0, sizeof(*s));
}

/* ---- helpers ------------------------------------------------------------ */

void tsrc_level_name(char *out, size_t len, unsigned int level)
{
	static const char *const sizes[] = { "4 KiB", "2 MiB", "1 GiB",
					     "512 GiB", "256 TiB" };
	snprintf(out, len, "level %u (%s items)", level,
		 level < 5 ? sizes[level] : "?");
}

/*
 * The widest IOVA a table of that many levels has, with a one-page top:
 * a listing or image given by depth shows no concatenated start level
 * (ARM stage 2's 40-43 bit tables have 3 levels too, over 2-16 pages).
 */
unsigned int tsrc_va_bits_for_levels(enum pt_format_id fmt, unsigned int levels)
{
	for (unsigned int b = 64; b >= 12; b--)
		if (pt_fmt_levels_for(fmt, b) == (int)levels &&
		    pt_fmt_top_lg2(fmt, b) == 0)
			return b;
	return 0;
}

void tsrc_fmt_list(char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (int id = 0; id < PT_FMT_COUNT && off < len; id++) {
		const char *n = pt_fmt_name((enum pt_format_id)id);
		if (!n)
			continue;
		int w = snprintf(out + off, len - off, "%s%s", off ? ", " : "", n);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int claim_page(void *arg, pt_oaddr_t pa, unsigned int level)
{
	struct tsrc_table *t = arg;
	bool found;
	tsrc_store_get(&t->claimed, pa, &found);
	if (found) {
		t->dup_pa = pa;
		t->dup_level = level;
		return -PT_EEXIST;
	}
	return tsrc_store_put(&t->claimed, pa, NULL) ? -PT_ENOMEM : 0;
}

int tsrc_adopt(struct tsrc_table *t, pt_vaddr_t *bad_va)
{
	struct pt_cfg cfg = {
		.fmt = t->fmt, .va_bits = t->va_bits,
		.oa_bits = pt_fmt_get(t->fmt)->max_oa_bits,
	};
	t->dup_pa = ~0ull;
	tsrc_store_free(&t->claimed, false);
	int err = pt_adopt(&t->t, &cfg, &t->ops, t, t->root_pa, claim_page, t,
			   bad_va);
	tsrc_store_free(&t->claimed, false);
	if (!err)
		t->adopted = true;
	return err;
}

uint64_t tsrc_count_leaves(const struct tsrc_table *t)
{
	struct pt_iter it;
	struct pt_leaf l;
	uint64_t n = 0;
	pt_iter_init(&it, &t->t, 0, ~0ull);
	while (pt_iter_next(&t->t, &it, &l))
		n++;
	return n;
}

void tsrc_free(struct tsrc_table *t)
{
	/* Adopted tables are not pt_deinit'ed: their pages are not pt's. */
	tsrc_store_free(&t->pages, true);
	tsrc_store_free(&t->claimed, false);
	if (t->map)
		munmap(t->map, t->map_len);
	memset(t, 0, sizeof(*t));
}

/* ---- memory images ------------------------------------------------------ */

static void *image_p2v(void *ctx, pt_oaddr_t pa)
{
	const struct tsrc_table *t = ctx;
	if ((pa & (PT_TABLE_SIZE - 1)) || t->img_len < PT_TABLE_SIZE ||
	    pa > t->img_len - PT_TABLE_SIZE)
		return NULL;
	return (void *)(uintptr_t)(t->img + pa);
}

static uint64_t image_word(const struct tsrc_table *t, pt_oaddr_t pa,
			   unsigned int idx)
{
	uint64_t w;
	memcpy(&w, t->img + pa + 8ull * idx, sizeof(w));
	return w;
}

static bool va_fits(const struct tsrc_table *t, pt_vaddr_t va)
{
	if (t->va_bits >= 64)
		return true;
	if (pt_fmt_sign_extends(t->fmt)) {
		uint64_t top = va >> (t->va_bits - 1);
		return top == 0 || top == (~0ull >> (t->va_bits - 1));
	}
	return !(va >> t->va_bits);
}

/*
 * Where pt_adopt stopped: walk from the root towards bad_va with pt's
 * decoder and name the entry (its PA, level, value) that is wrong.
 */
static int image_explain(const struct tsrc_table *t, const char *name,
			 int err, pt_vaddr_t bad_va, char *msg, size_t mlen)
{
	const struct pt_fmt *f = pt_fmt_get(t->fmt);
	pt_oaddr_t pa = t->root_pa;
	char lv[48], where[200];
	int top_lg2 = pt_fmt_top_lg2(t->fmt, t->va_bits);
	for (unsigned int level = t->levels - 1;; level--) {
		/* A concatenated top (ARM stage 2) indexes across its pages. */
		unsigned int items = PT_TABLE_ITEMS <<
			(level == t->levels - 1 && top_lg2 > 0 ? top_lg2 : 0);
		unsigned int idx = (unsigned int)(bad_va >> (12 + 9 * level)) &
				   (items - 1);
		uint64_t e = image_word(t, pa, idx);
		struct pt_entry_info info;
		pt_fmt_decode(f, e, level, &info);
		tsrc_level_name(lv, sizeof(lv), level);
		snprintf(where, sizeof(where), "%s@0x%" PRIx64 ": the entry "
			 "0x%016" PRIx64 " at PA 0x%" PRIx64 " (%s, IOVA 0x%"
			 PRIx64 ")", name, t->root_pa, e, (uint64_t)(pa + 8ull * idx), lv,
			 (uint64_t)(bad_va & ~((1ull << (12 + 9 * level)) - 1)));
		bool last = level == 0 || info.type != PT_ENTRY_TABLE;
		if (err == -PT_ERANGE && level == t->levels - 1 && !va_fits(t, bad_va))
			return tsrc_fail(msg, mlen, -EINVAL, "%s is beyond the %u-bit "
					 "IOVA width of a %u-level table", where,
					 t->va_bits, t->levels);
		if (!last && err == -PT_EEXIST && info.oa == t->dup_pa &&
		    level == t->dup_level + 1)
			return tsrc_fail(msg, mlen, -EINVAL, "%s points to the table "
					 "page 0x%" PRIx64 ", which the walk has already "
					 "reached: a loop or a shared subtree", where,
					 info.oa);
		if (!last && !image_p2v((void *)(uintptr_t)t, info.oa))
			return tsrc_fail(msg, mlen, -EINVAL, "%s points to a table "
					 "at 0x%" PRIx64 ", outside the image (%zu bytes)",
					 where, info.oa, t->img_len);
		if (last) {
			if (err == -PT_ERANGE)
				return tsrc_fail(msg, mlen, -EINVAL, "%s maps an "
						 "output beyond the format's %u-bit "
						 "physical width", where,
						 pt_fmt_get(t->fmt)->max_oa_bits);
			return tsrc_fail(msg, mlen, -EINVAL, "%s is not a valid %s "
					 "entry at this level (reserved bits, a leaf "
					 "where the format allows none, a misaligned "
					 "output, or a broken contiguous run)", where,
					 pt_fmt_name(t->fmt));
		}
		pa = info.oa;
	}
}

static int image_setup(struct tsrc_table *t, const char *name, pt_oaddr_t root,
		       const struct tsrc_opts *o, char *msg, size_t mlen)
{
	char list[160];
	t->kind = TSRC_IMAGE;
	t->pasid = -1;
	t->root_pa = root;
	if (o->fmt < 0 || o->fmt >= PT_FMT_COUNT) {
		tsrc_fmt_list(list, sizeof(list));
		return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": an image "
				 "does not say its format: give --format (%s)",
				 name, root, list);
	}
	t->fmt = (enum pt_format_id)o->fmt;
	if (o->va_bits) {
		if (pt_fmt_levels_for(t->fmt, o->va_bits) < 0)
			return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": %s "
					 "has no %u-bit IOVA tables", name, root,
					 pt_fmt_name(t->fmt), o->va_bits);
		t->va_bits = o->va_bits;
	} else if (o->levels) {
		t->va_bits = tsrc_va_bits_for_levels(t->fmt, o->levels);
		if (!t->va_bits)
			return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": %s "
					 "has no %u-level tables", name, root,
					 pt_fmt_name(t->fmt), o->levels);
	} else {
		return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": an image "
				 "does not say the table's depth: give --va-bits N "
				 "or --levels N", name, root);
	}
	t->levels = (unsigned int)pt_fmt_levels_for(t->fmt, t->va_bits);
	t->depth_known = true;
	if (root & (PT_TABLE_SIZE - 1))
		return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": the root is "
				 "not 4 KiB aligned", name, root);
	if (!image_p2v(t, root))
		return tsrc_fail(msg, mlen, -EINVAL, "%s@0x%" PRIx64 ": the root "
				 "table is beyond the image (%zu bytes)", name, root,
				 t->img_len);
	t->ops = (struct pt_mem_ops){ .phys_to_virt = image_p2v };
	pt_vaddr_t bad = 0;
	int err = tsrc_adopt(t, &bad);
	if (err == -PT_ENOMEM)
		return tsrc_fail(msg, mlen, -ENOMEM, "%s: out of memory", name);
	if (err)
		return image_explain(t, name, err, bad, msg, mlen);
	t->leaves = tsrc_count_leaves(t);
	return 0;
}

int tsrc_image_mem(struct tsrc_table *t, const char *name, const uint8_t *img,
		   size_t len, pt_oaddr_t root, const struct tsrc_opts *o,
		   char *msg, size_t mlen)
{
	memset(t, 0, sizeof(*t));
	t->img = img;
	t->img_len = len;
	int err = image_setup(t, name, root, o, msg, mlen);
	if (err)
		tsrc_free(t);
	return err;
}

int tsrc_image_open(struct tsrc_table *t, const char *path, pt_oaddr_t root,
		    const struct tsrc_opts *o, char *msg, size_t mlen)
{
	memset(t, 0, sizeof(*t));
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return tsrc_fail(msg, mlen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return tsrc_fail(msg, mlen, -EINVAL, "%s: not a memory image (an "
				 "empty or special file)", path);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int merr = errno;
	close(fd);
	if (m == MAP_FAILED)
		return tsrc_fail(msg, mlen, -merr, "%s: %s", path, strerror(merr));
	t->map = m;
	t->map_len = (size_t)st.st_size;
	t->img = m;
	t->img_len = (size_t)st.st_size;
	int err = image_setup(t, path, root, o, msg, mlen);
	if (err)
		tsrc_free(t);
	return err;
}
