// SPDX-License-Identifier: MIT
/*
 * Reading a handover blob: checksum, header, and the validation of the
 * whole FDT that a booting kernel (and `iohandover handover check`) runs
 * before it touches anything. The blob is hostile until proven otherwise:
 * every offset and length comes from libfdt's checked accessors, every
 * count is bounded by the bytes that carry it, and nothing is allocated in
 * proportion to a number the blob merely claims.
 */
#include "kho/kho.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kho/bitmap.h"
#include "kho/kho_internal.h"

uint64_t kho_csum(const void *buf, size_t len)
{
	/* Word-at-a-time multiply/xorshift hash: detects corruption, not
	 * an adversary (the blob comes from the previous kernel). */
	const uint8_t *p = buf;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < len; i++) {
		h = (h ^ p[i]) * 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 29;
	}
	return h ^ (h >> 31);
}

void kho_errf(struct kho_err *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* ---- Subsystem registry ------------------------------------------------- */

static const struct kho_subsys kho_iommu_placeholder = {
	.name = "iommu", .version = 1, .min_version = 1,
};
static const struct kho_subsys kho_iommufd_placeholder = {
	.name = "iommufd", .version = 1, .min_version = 1,
};

static const struct kho_subsys *kho_subsystems[KHO_MAX_SUBSYS] = {
	&kho_memfd_subsys,
	&kho_iommu_placeholder,
	&kho_iommufd_placeholder,
};

int kho_subsys_register(const struct kho_subsys *ss)
{
	if (!ss->name || !ss->version || ss->min_version > ss->version ||
	    strlen(ss->name) >= 32)
		return -EINVAL;
	for (size_t i = 0; i < KHO_MAX_SUBSYS; i++) {
		if (!kho_subsystems[i] ||
		    !strcmp(kho_subsystems[i]->name, ss->name)) {
			kho_subsystems[i] = ss;
			return 0;
		}
	}
	return -ENOSPC;
}

const struct kho_subsys *kho_subsys_find(const char *name)
{
	for (size_t i = 0; i < KHO_MAX_SUBSYS && kho_subsystems[i]; i++)
		if (!strcmp(kho_subsystems[i]->name, name))
			return kho_subsystems[i];
	return NULL;
}

const struct kho_subsys *kho_subsys_at(size_t i)
{
	return i < KHO_MAX_SUBSYS ? kho_subsystems[i] : NULL;
}

/*
 * "iohandover,<name>-v<N>": the name (into name[namesz]) and version.
 * -EINVAL when the string does not have that shape.
 */
int kho_compat_parse(const char *compat, char *name, size_t namesz,
		     uint32_t *version)
{
	size_t pl = strlen(KHO_COMPAT_PREFIX);
	if (strncmp(compat, KHO_COMPAT_PREFIX, pl))
		return -EINVAL;
	const char *n = compat + pl;
	const char *v = strrchr(n, '-');
	if (!v || v == n || v[1] != 'v' || v[2] < '0' || v[2] > '9')
		return -EINVAL;
	if ((size_t)(v - n) >= namesz)
		return -EINVAL;
	uint64_t ver = 0;
	for (const char *c = v + 2; *c; c++) {
		if (*c < '0' || *c > '9' || ver > UINT32_MAX / 10)
			return -EINVAL;
		ver = ver * 10 + (uint64_t)(*c - '0');
	}
	if (ver == 0 || ver > UINT32_MAX)
		return -EINVAL;
	memcpy(name, n, (size_t)(v - n));
	name[v - n] = '\0';
	*version = (uint32_t)ver;
	return 0;
}

/* ---- FDT helpers ---------------------------------------------------------- */

int kho_fdt_get_u64(const void *fdt, int node, const char *prop,
		    uint64_t *val)
{
	int len;
	const void *p = fdt_getprop(fdt, node, prop, &len);
	if (!p)
		return -ENOENT;
	if (len != 8)
		return -EINVAL;
	*val = kho_be64_ld(p);
	return 0;
}

const char *kho_fdt_get_str(const void *fdt, int node, const char *prop)
{
	int len;
	const char *p = fdt_getprop(fdt, node, prop, &len);
	if (!p || len < 1 || p[len - 1] != '\0' || strlen(p) != (size_t)len - 1)
		return NULL;
	return p;
}

int kho_fdt_put_u64(void *fdt, const char *prop, uint64_t val)
{
	return fdt_property_u64(fdt, prop, val) ? -ENOSPC : 0;
}

/* ---- Validation context --------------------------------------------------- */

struct kho_own {
	uint64_t pa, end;
	uint32_t obj;
};

struct kho_vctx {
	struct kho_parsed *p;
	struct kho_err *err;
	struct kho_own *own;
	size_t nr_own, cap_own;
	uint32_t cur_obj;
	const char *cur_what; /* "memfd object vm0/guest-ram" */
	char what_buf[160];
};

int kho_vctx_fail(struct kho_vctx *v, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v->cur_what)
		kho_errf(v->err, "%s: %s", v->cur_what, msg);
	else
		kho_errf(v->err, "%s", msg);
	return -EINVAL;
}

const char *kho_vctx_session(const struct kho_vctx *v)
{
	const struct kho_parsed *p = v->p;
	/* cur_what is set exactly while an object's validator runs; its
	 * entry is filled in (at cur_obj) before that. */
	return v->cur_what ? p->sessions[p->objs[v->cur_obj].session] : NULL;
}

int kho_vctx_find_obj(const struct kho_vctx *v, const char *subsys,
		      const char *name, int *node, uint32_t *version)
{
	const struct kho_parsed *p = v->p;
	const char *sess = kho_vctx_session(v);
	int child;

	if (!sess)
		return -EINVAL;
	/* Every known sub-node was found before any object is validated. */
	for (size_t i = 0; i < p->nr_subsys; i++) {
		const struct kho_psubsys *ps = &p->subsys[i];
		if (strcmp(ps->ss->name, subsys))
			continue;
		fdt_for_each_subnode(child, p->fdt, ps->node) {
			const char *s = kho_fdt_get_str(p->fdt, child, "session");
			const char *o = kho_fdt_get_str(p->fdt, child, "object");
			if (s && o && !strcmp(s, sess) && !strcmp(o, name)) {
				*node = child;
				if (version)
					*version = ps->version;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* Index of the last run with pa <= x, or -1. */
static ptrdiff_t run_floor(const struct kho_parsed *p, uint64_t x)
{
	size_t lo = 0, hi = p->nr_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->runs[mid].pa <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

static const struct kho_mask *mask_find(const struct kho_parsed *p,
					uint64_t blk_pa)
{
	size_t lo = 0, hi = p->nr_masks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->masks[mid].blk_pa == blk_pa)
			return &p->masks[mid];
		if (p->masks[mid].blk_pa < blk_pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint64_t run_end(const struct kho_run *r)
{
	return r->pa + (r->count << r->size_lg2);
}

int kho_vctx_own(struct kho_vctx *v, uint64_t pa, unsigned size_lg2,
		 uint64_t count)
{
	const struct kho_parsed *p = v->p;
	if (kho_lg2_order(size_lg2) == KHO_NR_ORDERS)
		return kho_vctx_fail(v, "folio size 2^%u is not 4K, 2M or 1G",
				     size_lg2);
	if (count == 0 || pa % (1ull << size_lg2) || pa >= p->ram_size ||
	    count > (p->ram_size - pa) >> size_lg2)
		return kho_vctx_fail(v,
				     "folios [0x%" PRIx64 " +%" PRIu64
				     " x 2^%u] are misaligned or outside RAM",
				     pa, count, size_lg2);
	uint64_t end = pa + (count << size_lg2);
	/* Every byte must be preserved, as folios of exactly this size. */
	for (uint64_t cur = pa; cur < end;) {
		ptrdiff_t i = run_floor(p, cur);
		if (i >= 0 && cur < run_end(&p->runs[i])) {
			const struct kho_run *r = &p->runs[i];
			if (r->size_lg2 != size_lg2)
				return kho_vctx_fail(
					v,
					"folio at 0x%" PRIx64
					" is preserved as 2^%u bytes, not 2^%u",
					cur, r->size_lg2, size_lg2);
			cur = run_end(r) < end ? run_end(r) : end;
			continue;
		}
		const struct kho_mask *m =
			size_lg2 == KHO_4K_LG2 ? mask_find(p, cur & ~(KHO_2M - 1))
					       : NULL;
		if (!m)
			return kho_vctx_fail(v,
					     "memory at 0x%" PRIx64
					     " is not preserved",
					     cur);
		uint64_t blk_end = m->blk_pa + KHO_2M;
		uint64_t stop = end < blk_end ? end : blk_end;
		uint64_t lo = (cur - m->blk_pa) >> KHO_4K_LG2;
		uint64_t hi = (stop - m->blk_pa) >> KHO_4K_LG2;
		if (!kho_bits_all(m->bits, lo, hi, true))
			return kho_vctx_fail(v,
					     "4K page in [0x%" PRIx64
					     ", 0x%" PRIx64 ") is not preserved",
					     cur, stop);
		cur = stop;
	}
	if (v->nr_own == v->cap_own) {
		size_t cap = v->cap_own ? v->cap_own * 2 : 64;
		struct kho_own *n = realloc(v->own, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		v->own = n;
		v->cap_own = cap;
	}
	v->own[v->nr_own++] = (struct kho_own){ pa, end, v->cur_obj };
	return 0;
}

/* ---- Validation ----------------------------------------------------------- */

static int cmp_run(const void *a, const void *b)
{
	const struct kho_run *x = a, *y = b;
	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

static int cmp_own(const void *a, const void *b)
{
	const struct kho_own *x = a, *y = b;
	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

#define RANGE_REC 16u /* u64 pa, u64 count */
#define MASK_REC 72u  /* u64 block pa, 8 x u64 bits */

static int parse_ranges(struct kho_vctx *v, const void *fdt, int node,
			const char *prop, unsigned size_lg2)
{
	struct kho_parsed *p = v->p;
	int len;
	const uint8_t *d = fdt_getprop(fdt, node, prop, &len);
	if (!d)
		return len == -FDT_ERR_NOTFOUND ? 0 :
		       kho_vctx_fail(v, "preserved-memory/%s: unreadable", prop);
	if (len % RANGE_REC)
		return kho_vctx_fail(v,
				     "preserved-memory/%s: length %d is not a "
				     "multiple of %u",
				     prop, len, RANGE_REC);
	size_t n = (size_t)len / RANGE_REC;
	struct kho_run *nr = realloc(p->runs, (p->nr_runs + n + 1) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	p->runs = nr;
	uint64_t prev_end = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t pa = kho_be64_ld(d + i * RANGE_REC);
		uint64_t count = kho_be64_ld(d + i * RANGE_REC + 8);
		if (count == 0 || pa % (1ull << size_lg2))
			return kho_vctx_fail(
				v,
				"preserved-memory/%s[%zu]: range 0x%" PRIx64
				" x %" PRIu64 " is empty or misaligned",
				prop, i, pa, count);
		if (pa >= p->ram_size || count > (p->ram_size - pa) >> size_lg2)
			return kho_vctx_fail(
				v,
				"preserved-memory/%s[%zu]: range 0x%" PRIx64
				" x %" PRIu64 " is outside RAM (0x%" PRIx64
				" bytes)",
				prop, i, pa, count, p->ram_size);
		if (i && pa < prev_end)
			return kho_vctx_fail(
				v,
				"preserved-memory/%s[%zu]: range at 0x%" PRIx64
				" overlaps or is out of order",
				prop, i, pa);
		prev_end = pa + (count << size_lg2);
		p->runs[p->nr_runs++] =
			(struct kho_run){ pa, count, size_lg2 };
		p->preserved_bytes += count << size_lg2;
	}
	return 0;
}

static int parse_masks(struct kho_vctx *v, const void *fdt, int node)
{
	struct kho_parsed *p = v->p;
	int len;
	const uint8_t *d = fdt_getprop(fdt, node, "bitmaps-4k", &len);
	if (!d)
		return len == -FDT_ERR_NOTFOUND ? 0 :
		       kho_vctx_fail(v, "preserved-memory/bitmaps-4k: unreadable");
	if (len % MASK_REC)
		return kho_vctx_fail(v,
				     "preserved-memory/bitmaps-4k: length %d is "
				     "not a multiple of %u",
				     len, MASK_REC);
	size_t n = (size_t)len / MASK_REC;
	p->masks = calloc(n ? n : 1, sizeof(*p->masks));
	if (!p->masks)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct kho_mask *m = &p->masks[i];
		m->blk_pa = kho_be64_ld(d + i * MASK_REC);
		bool any = false;
		for (unsigned w = 0; w < 8; w++) {
			m->bits[w] = kho_be64_ld(d + i * MASK_REC + 8 + w * 8);
			any |= m->bits[w] != 0;
		}
		if (m->blk_pa % KHO_2M || m->blk_pa >= p->ram_size ||
		    p->ram_size - m->blk_pa < KHO_2M)
			return kho_vctx_fail(v,
					     "preserved-memory/bitmaps-4k[%zu]: "
					     "block 0x%" PRIx64
					     " is misaligned or outside RAM",
					     i, m->blk_pa);
		if (!any)
			return kho_vctx_fail(v,
					     "preserved-memory/bitmaps-4k[%zu]: "
					     "empty bitmap",
					     i);
		if (i && m->blk_pa <= p->masks[i - 1].blk_pa)
			return kho_vctx_fail(v,
					     "preserved-memory/bitmaps-4k[%zu]: "
					     "block 0x%" PRIx64
					     " is duplicated or out of order",
					     i, m->blk_pa);
		p->nr_masks++;
		p->preserved_bytes += kho_bits_count(m->bits, 0, 512)
				      << KHO_4K_LG2;
	}
	return 0;
}

static int validate_memory_map(struct kho_vctx *v, const void *fdt, int node)
{
	struct kho_parsed *p = v->p;
	static const struct {
		const char *prop;
		unsigned lg2;
	} props[] = { { "ranges-1g", KHO_1G_LG2 },
		      { "ranges-2m", KHO_2M_LG2 },
		      { "ranges-4k", KHO_4K_LG2 } };
	int err;

	for (size_t i = 0; i < 3; i++) {
		err = parse_ranges(v, fdt, node, props[i].prop, props[i].lg2);
		if (err)
			return err;
	}
	err = parse_masks(v, fdt, node);
	if (err)
		return err;
	if (p->nr_runs)
		qsort(p->runs, p->nr_runs, sizeof(*p->runs), cmp_run);
	for (size_t i = 1; i < p->nr_runs; i++)
		if (p->runs[i].pa < run_end(&p->runs[i - 1]))
			return kho_vctx_fail(
				v,
				"preserved-memory: ranges at 0x%" PRIx64
				" (2^%u) and 0x%" PRIx64 " (2^%u) overlap",
				p->runs[i - 1].pa, p->runs[i - 1].size_lg2,
				p->runs[i].pa, p->runs[i].size_lg2);
	/* A bitmap block must not share a page with any range. */
	for (size_t i = 0; i < p->nr_masks; i++) {
		const struct kho_mask *m = &p->masks[i];
		uint64_t blk_end = m->blk_pa + KHO_2M;
		ptrdiff_t j = run_floor(p, blk_end - 1);
		for (; j >= 0 && run_end(&p->runs[j]) > m->blk_pa; j--) {
			const struct kho_run *r = &p->runs[j];
			uint64_t lo = r->pa > m->blk_pa ? r->pa : m->blk_pa;
			uint64_t hi = run_end(r) < blk_end ? run_end(r) : blk_end;
			if (!kho_bits_all(m->bits, (lo - m->blk_pa) >> KHO_4K_LG2,
					  (hi - m->blk_pa) >> KHO_4K_LG2, false))
				return kho_vctx_fail(
					v,
					"preserved-memory: bitmap block 0x%" PRIx64
					" overlaps the range at 0x%" PRIx64,
					m->blk_pa, r->pa);
		}
	}
	return 0;
}

static int validate_sessions(struct kho_vctx *v, const void *fdt, int node)
{
	struct kho_parsed *p = v->p;
	int child;
	size_t n = 0;

	fdt_for_each_subnode(child, fdt, node)
		n++;
	p->sessions = calloc(n ? n : 1, sizeof(*p->sessions));
	if (!p->sessions)
		return -ENOMEM;
	fdt_for_each_subnode(child, fdt, node) {
		const char *name = kho_fdt_get_str(fdt, child, "session");
		if (!name || !name[0] || strlen(name) >= KHO_NAME_MAX)
			return kho_vctx_fail(v,
					     "luo: session node '%s' has no valid "
					     "name",
					     fdt_get_name(fdt, child, NULL));
		for (size_t i = 0; i < p->nr_sessions; i++)
			if (!strcmp(p->sessions[i], name))
				return kho_vctx_fail(v,
						     "luo: duplicate session '%s'",
						     name);
		p->sessions[p->nr_sessions++] = name;
	}
	return 0;
}

static int session_index(const struct kho_parsed *p, const char *name)
{
	for (size_t i = 0; i < p->nr_sessions; i++)
		if (!strcmp(p->sessions[i], name))
			return (int)i;
	return -1;
}

static int validate_subsys_objects(struct kho_vctx *v, const void *fdt,
				   uint32_t si)
{
	struct kho_parsed *p = v->p;
	struct kho_psubsys *ps = &p->subsys[si];
	int child, err;

	fdt_for_each_subnode(child, fdt, ps->node) {
		const char *sess = kho_fdt_get_str(fdt, child, "session");
		const char *name = kho_fdt_get_str(fdt, child, "object");
		const char *nn = fdt_get_name(fdt, child, NULL);
		if (!sess || !name || !name[0] || strlen(name) >= KHO_NAME_MAX)
			return kho_vctx_fail(v,
					     "%s: object node '%s' lacks a valid "
					     "session or name",
					     ps->ss->name, nn ? nn : "?");
		int s = session_index(p, sess);
		if (s < 0)
			return kho_vctx_fail(v,
					     "%s: object '%s' names unknown "
					     "session '%s'",
					     ps->ss->name, name, sess);
		for (size_t i = 0; i < p->nr_objs; i++)
			if (p->objs[i].session == (uint32_t)s &&
			    !strcmp(p->objs[i].name, name))
				return kho_vctx_fail(v,
						     "duplicate object '%s/%s'",
						     sess, name);
		if (!ps->ss->validate_obj)
			return kho_vctx_fail(v,
					     "%s: object '%s/%s' but this kernel "
					     "has no %s handler",
					     ps->ss->name, sess, name,
					     ps->ss->name);
		struct kho_pobj *no =
			realloc(p->objs, (p->nr_objs + 1) * sizeof(*no));
		if (!no)
			return -ENOMEM;
		p->objs = no;
		p->objs[p->nr_objs] = (struct kho_pobj){
			.node = child, .subsys = si, .session = (uint32_t)s,
			.name = name,
		};
		v->cur_obj = (uint32_t)p->nr_objs;
		snprintf(v->what_buf, sizeof(v->what_buf), "%s object %s/%s",
			 ps->ss->name, sess, name);
		v->cur_what = v->what_buf;
		err = ps->ss->validate_obj(v, fdt, child, ps->version);
		v->cur_what = NULL;
		if (err)
			return err;
		p->nr_objs++;
	}
	return 0;
}

static int validate_ownership(struct kho_vctx *v)
{
	struct kho_parsed *p = v->p;
	if (v->nr_own)
		qsort(v->own, v->nr_own, sizeof(*v->own), cmp_own);
	for (size_t i = 1; i < v->nr_own; i++) {
		if (v->own[i].pa < v->own[i - 1].end) {
			const struct kho_pobj *a = &p->objs[v->own[i - 1].obj];
			const struct kho_pobj *b = &p->objs[v->own[i].obj];
			return kho_vctx_fail(
				v,
				"objects %s/%s and %s/%s both own memory at "
				"0x%" PRIx64,
				p->sessions[a->session], a->name,
				p->sessions[b->session], b->name, v->own[i].pa);
		}
	}
	return 0;
}

static int validate_root(struct kho_vctx *v, const void *fdt,
			 uint64_t ram_size)
{
	struct kho_parsed *p = v->p;
	const char *compat = kho_fdt_get_str(fdt, 0, "compatible");
	char name[32];
	uint32_t ver;

	if (!compat)
		return kho_vctx_fail(v, "root: no compatible string");
	if (kho_compat_parse(compat, name, sizeof(name), &ver) ||
	    strcmp(name, KHO_ROOT_NAME))
		return kho_vctx_fail(v,
				     "root: compatible '%s' is not a handover "
				     "blob (want " KHO_COMPAT_PREFIX
				     KHO_ROOT_NAME "-v<N>)",
				     compat);
	if (ver != KHO_ABI_VERSION)
		return kho_vctx_fail(v,
				     "root: handover ABI version v%u is not "
				     "supported (this kernel reads v%u)",
				     ver, KHO_ABI_VERSION);
	p->abi_version = ver;
	if (kho_fdt_get_u64(fdt, 0, "generation", &p->generation) ||
	    p->generation == 0)
		return kho_vctx_fail(v, "root: missing or bad 'generation'");
	if (kho_fdt_get_u64(fdt, 0, "ram-size", &p->ram_size))
		return kho_vctx_fail(v, "root: missing or bad 'ram-size'");
	if (p->ram_size == 0 || p->ram_size % KHO_2M ||
	    p->ram_size > KHO_RAM_MAX)
		return kho_vctx_fail(v, "root: ram-size 0x%" PRIx64 " is invalid",
				     p->ram_size);
	if (ram_size && ram_size != p->ram_size)
		return kho_vctx_fail(v,
				     "root: blob is for 0x%" PRIx64
				     " bytes of RAM, this machine has 0x%" PRIx64,
				     p->ram_size, ram_size);
	/* Optional and informative, but printed by tools: one short line
	 * of printable ASCII. */
	int len;
	const char *prod = fdt_getprop(fdt, 0, "producer", &len);
	p->producer = "";
	if (prod) {
		if (len < 1 || len > (int)KHO_PRODUCER_MAX + 1 || prod[len - 1])
			return kho_vctx_fail(v, "root: 'producer' is not a "
					     "string of at most %u bytes",
					     KHO_PRODUCER_MAX);
		for (int i = 0; i < len - 1; i++)
			if (prod[i] < 0x20 || prod[i] > 0x7e)
				return kho_vctx_fail(v, "root: 'producer' has a "
						     "non-printable byte at %d",
						     i);
		p->producer = prod;
	}
	return 0;
}

static kho_blob_check_fn blob_check;

void kho_blob_check_set(kho_blob_check_fn fn)
{
	blob_check = fn;
}

int kho_blob_validate(const void *fdt, size_t size, uint64_t ram_size,
		      struct kho_parsed *out, struct kho_err *err)
{
	struct kho_parsed *p = out;
	struct kho_vctx v = { .p = p, .err = err };
	int node, rc, mem_node = -1, luo_node = -1;

	memset(p, 0, sizeof(*p));
	p->fdt = fdt;
	p->fdt_size = size;
	if (size < sizeof(struct fdt_header)) {
		kho_errf(err, "blob: truncated (%zu bytes, less than an FDT "
			 "header)", size);
		return -EINVAL;
	}
	if (size > KHO_FDT_MAX) {
		kho_errf(err, "blob: oversized (%zu bytes, limit %u)", size,
			 KHO_FDT_MAX);
		return -EINVAL;
	}
	if (fdt_magic(fdt) != FDT_MAGIC) {
		kho_errf(err, "blob: not a flattened device tree (bad magic)");
		return -EINVAL;
	}
	if (fdt_totalsize(fdt) > size) {
		kho_errf(err, "blob: truncated (header says %u bytes, have %zu)",
			 fdt_totalsize(fdt), size);
		return -EINVAL;
	}
	/* The producer writes FDT version 17. Older layouts are refused
	 * before libfdt walks them: their node names follow other rules,
	 * and libfdt 1.6.1's fdt_check_full dereferences the NULL name
	 * fdt_get_name returns for an old-layout root. */
	if (fdt_version(fdt) < 17 || fdt_last_comp_version(fdt) > 17) {
		kho_errf(err, "blob: FDT format version %u (compatible with "
			 "%u); this kernel reads version 17",
			 fdt_version(fdt), fdt_last_comp_version(fdt));
		return -EINVAL;
	}
	rc = fdt_check_full(fdt, size);
	if (rc) {
		kho_errf(err, "blob: corrupted FDT structure (%s)",
			 fdt_strerror(rc));
		return -EINVAL;
	}
	rc = validate_root(&v, fdt, ram_size);
	if (rc)
		goto fail;

	/* Root sub-nodes: identify each by compatible; exactly one each. */
	fdt_for_each_subnode(node, fdt, 0) {
		const char *nn = fdt_get_name(fdt, node, NULL);
		const char *compat = kho_fdt_get_str(fdt, node, "compatible");
		char name[32];
		uint32_t ver;
		if (!compat || kho_compat_parse(compat, name, sizeof(name), &ver)) {
			rc = kho_vctx_fail(&v,
					   "sub-node '%s': missing or malformed "
					   "compatible",
					   nn ? nn : "?");
			goto fail;
		}
		if (!strcmp(name, "preserved-memory") || !strcmp(name, "luo")) {
			int *slot = name[0] == 'p' ? &mem_node : &luo_node;
			if (*slot >= 0) {
				rc = kho_vctx_fail(&v, "duplicate sub-node %s",
						   name);
				goto fail;
			}
			if (ver != 1) {
				rc = kho_vctx_fail(&v,
						   "%s: version v%u is not "
						   "supported (this kernel reads "
						   "v1)",
						   name, ver);
				goto fail;
			}
			*slot = node;
			continue;
		}
		const struct kho_subsys *ss = kho_subsys_find(name);
		if (!ss) {
			if (fdt_getprop(fdt, node, "optional", NULL))
				continue;
			rc = kho_vctx_fail(&v,
					   "sub-node '%s' (%s) is unknown to this "
					   "kernel and not optional",
					   nn ? nn : "?", compat);
			goto fail;
		}
		for (size_t i = 0; i < p->nr_subsys; i++) {
			if (p->subsys[i].ss == ss) {
				rc = kho_vctx_fail(&v, "duplicate sub-node %s",
						   name);
				goto fail;
			}
		}
		if (ver < ss->min_version || ver > ss->version) {
			rc = kho_vctx_fail(&v,
					   "%s: version v%u is not supported "
					   "(this kernel reads v%u..v%u)",
					   name, ver, ss->min_version,
					   ss->version);
			goto fail;
		}
		p->subsys[p->nr_subsys++] =
			(struct kho_psubsys){ ss, node, ver };
	}
	if (node < 0 && node != -FDT_ERR_NOTFOUND) {
		rc = kho_vctx_fail(&v, "root: cannot walk sub-nodes (%s)",
				   fdt_strerror(node));
		goto fail;
	}
	if (mem_node < 0 || luo_node < 0) {
		rc = kho_vctx_fail(&v, "missing sub-node %s",
				   mem_node < 0 ? "preserved-memory" : "luo");
		goto fail;
	}
	for (size_t i = 0; i < KHO_MAX_SUBSYS && kho_subsys_at(i); i++) {
		bool found = false;
		for (size_t j = 0; j < p->nr_subsys; j++)
			found |= p->subsys[j].ss == kho_subsys_at(i);
		if (!found) {
			rc = kho_vctx_fail(&v, "missing sub-node %s",
					   kho_subsys_at(i)->name);
			goto fail;
		}
	}
	rc = validate_memory_map(&v, fdt, mem_node);
	if (rc)
		goto fail;
	rc = validate_sessions(&v, fdt, luo_node);
	if (rc)
		goto fail;
	for (uint32_t i = 0; i < p->nr_subsys; i++) {
		const struct kho_psubsys *ps = &p->subsys[i];
		if (ps->ss->validate_global) {
			rc = ps->ss->validate_global(&v, fdt, ps->node,
						     ps->version);
			if (rc)
				goto fail;
		}
		rc = validate_subsys_objects(&v, fdt, i);
		if (rc)
			goto fail;
	}
	rc = validate_ownership(&v);
	if (rc)
		goto fail;
	for (uint32_t i = 0; i < p->nr_subsys; i++) {
		const struct kho_psubsys *ps = &p->subsys[i];
		if (ps->ss->validate_all) {
			rc = ps->ss->validate_all(&v, p);
			if (rc)
				goto fail;
		}
	}
	if (blob_check) {
		rc = blob_check(&v, p);
		if (rc)
			goto fail;
	}
	free(v.own);
	return 0;
fail:
	free(v.own);
	kho_parsed_free(p);
	if (rc == -ENOMEM)
		kho_errf(err, "out of memory while validating the blob");
	return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

void kho_parsed_free(struct kho_parsed *p)
{
	free(p->runs);
	free(p->masks);
	free(p->sessions);
	free(p->objs);
	memset(p, 0, sizeof(*p));
}

int kho_header_read(const struct physmem *pm, uint64_t pa,
		    struct kho_header *hdr, const void **fdt,
		    struct kho_err *err)
{
	int rc = kho_header_check(pm, pa, hdr, fdt, err);
	if (rc)
		return rc;
	if (kho_csum(*fdt, hdr->fdt_size) != hdr->fdt_csum) {
		kho_errf(err, "header at 0x%" PRIx64 ": FDT checksum mismatch "
			 "(blob corrupted)", pa);
		*fdt = NULL;
		return -EINVAL;
	}
	return 0;
}

int kho_header_check(const struct physmem *pm, uint64_t pa,
		     struct kho_header *hdr, const void **fdt,
		     struct kho_err *err)
{
	if (pa % KHO_4K || !physmem_contains(pm, pa, KHO_HDR_SIZE)) {
		kho_errf(err, "header: address 0x%" PRIx64
			 " is misaligned or outside RAM", pa);
		return -EINVAL;
	}
	const struct kho_header *h = physmem_ptr(pm, pa, sizeof(*h));
	if (!h)
		return -EINVAL;
	/* Commit first, with acquire: everything it covers was written before. */
	uint64_t commit = __atomic_load_n(&h->commit, __ATOMIC_ACQUIRE);
	memcpy(hdr, h, sizeof(*hdr));
	hdr->commit = commit;
	if (hdr->magic != KHO_HDR_MAGIC) {
		kho_errf(err, "header at 0x%" PRIx64 ": bad magic 0x%016" PRIx64
			 " (no handover there)", pa, hdr->magic);
		return -EINVAL;
	}
	if (hdr->hdr_version != KHO_HDR_VERSION ||
	    hdr->hdr_size != KHO_HDR_SIZE) {
		kho_errf(err, "header at 0x%" PRIx64 ": version %u size %u not "
			 "supported (this kernel reads version %u)", pa,
			 hdr->hdr_version, hdr->hdr_size, KHO_HDR_VERSION);
		return -EINVAL;
	}
	if (hdr->commit != (KHO_COMMIT_MAGIC ^ hdr->fdt_csum)) {
		kho_errf(err, "header at 0x%" PRIx64 ": not committed (the "
			 "handover was not completely written)", pa);
		return -EINVAL;
	}
	if (hdr->fdt_size == 0 || hdr->fdt_size > KHO_FDT_MAX) {
		kho_errf(err, "header at 0x%" PRIx64 ": FDT size %" PRIu64
			 " is out of bounds (limit %u)", pa, hdr->fdt_size,
			 KHO_FDT_MAX);
		return -EINVAL;
	}
	if ((hdr->region_size != KHO_2M && hdr->region_size != KHO_1G) ||
	    pa % hdr->region_size ||
	    !physmem_contains(pm, pa, hdr->region_size)) {
		kho_errf(err, "header at 0x%" PRIx64 ": region of %" PRIu64
			 " bytes is invalid or outside RAM", pa,
			 hdr->region_size);
		return -EINVAL;
	}
	/* The FDT lies in the region, after the header: bound it by the
	 * region (inside RAM, checked above) before reading a byte of it. */
	if (hdr->fdt_size > hdr->region_size - KHO_HDR_SIZE) {
		kho_errf(err, "header at 0x%" PRIx64 ": FDT size %" PRIu64
			 " exceeds the handover region (%" PRIu64 " bytes, "
			 "%u of them the header)", pa, hdr->fdt_size,
			 hdr->region_size, KHO_HDR_SIZE);
		return -EINVAL;
	}
	const void *f = physmem_ptr(pm, pa + KHO_HDR_SIZE, hdr->fdt_size);
	if (!f)
		return -EINVAL;
	*fdt = f;
	return 0;
}

bool kho_parsed_overlaps(const struct kho_parsed *p, uint64_t pa,
			 uint64_t len)
{
	uint64_t end = pa + len;
	ptrdiff_t i = run_floor(p, end - 1);
	if (i >= 0 && run_end(&p->runs[i]) > pa)
		return true;
	for (uint64_t blk = pa & ~(KHO_2M - 1); blk < end; blk += KHO_2M) {
		const struct kho_mask *m = mask_find(p, blk);
		if (!m)
			continue;
		uint64_t lo = pa > blk ? pa : blk;
		uint64_t hi = end < blk + KHO_2M ? end : blk + KHO_2M;
		if (!kho_bits_all(m->bits, (lo - blk) >> KHO_4K_LG2,
				  (hi - blk + KHO_4K - 1) >> KHO_4K_LG2, false))
			return true;
	}
	return false;
}

int kho_latest_committed(const struct physmem *pm, const uint64_t *pas,
			 size_t n, uint64_t *pa)
{
	uint64_t best_gen = 0;
	for (size_t i = 0; i < n; i++) {
		struct kho_header h;
		const void *fdt;
		if (kho_header_read(pm, pas[i], &h, &fdt, NULL))
			continue;
		if (h.generation >= best_gen) {
			best_gen = h.generation;
			*pa = pas[i];
		}
	}
	return best_gen ? 0 : -ENOENT;
}
