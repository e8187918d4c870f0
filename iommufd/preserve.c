// SPDX-License-Identifier: MIT
#include "iommufd/preserve.h"
#include "abi/hw_abi_ste.h"
#include "ioh/ioh.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Object properties (all integers big-endian 64-bit, as FDT cells are):
 *   every object: "type" = "unit" | "ioas" | "hwpt"
 *   unit: "strtab", "strtab-log2", "format", "va-bits"; version 1:
 *         "strtab" one base (one IOMMU unit); version 2: "strtab" =
 *         { base } per unit (1 to HW_MAX_UNITS, each 2^strtab-log2
 *         entries) and "device-units" = { unit } per device (HW_MAX_DEVS
 *         of them), the topology the tables were written for
 *   ioas: "id", "memfds" (NUL-separated names, same session),
 *         "areas" = { iova, len, offset, prot, memfd index } per area
 *   hwpt: "id", "ioas", "format", "va-bits", "oa-bits", "features", "did",
 *         "root", "pages" = { pa } per table page, "devices" = { sid },
 *         from version 2 on "ats-devices" = { sid } (those of "devices"
 *         with ATS enabled: the next kernel must invalidate their ATCs;
 *         a version-1 hwpt has none and no such property),
 *         from version 3 on "nested" = { sid, format, va-bits, root, did }
 *         per device of "devices" translating nested over this table as
 *         stage 2: the guest's stage-1 configuration (root an IPA); the
 *         stage-1 table is guest memory and not recorded (versions 1 and
 *         2 have no such property: no device nested),
 *         from version 4 on "pasids" = { sid, pasid } per PASID of a
 *         device translating through this table, and "cd-tables" =
 *         { sid, pa } per device of "devices" with PASIDs: its CD table
 *         page, owned by this object (earlier versions: no PASIDs)
 */
#define AREA_REC 40
#define NESTED_WORDS 5
#define NESTED_REC (8 * NESTED_WORDS)
#define PAIR_REC 16 /* "pasids", "cd-tables": two words each */

static void be64_st(void *p, uint64_t v)
{
	fdt64_t b = cpu_to_fdt64(v);
	memcpy(p, &b, 8);
}

static uint64_t be64_ld(const void *p)
{
	fdt64_t b;
	memcpy(&b, p, 8);
	return fdt64_to_cpu(b);
}

static int put_array(void *fdt, const char *name, const uint64_t *v, size_t n)
{
	void *buf;
	if (fdt_property_placeholder(fdt, name, (int)(n * 8), &buf))
		return -ENOSPC;
	for (size_t i = 0; i < n; i++)
		be64_st((uint8_t *)buf + 8 * i, v[i]);
	return 0;
}

/* ---- the unit ---------------------------------------------------------- */

/* Pages of one unit's stream table of 2^log2 entries. */
static uint64_t strtab_pages(uint64_t log2)
{
	return (((uint64_t)HW_STE_SIZE << log2) + KHO_4K - 1) / KHO_4K;
}

static void unit_flags(struct kho *k, const struct iommu_unit *u,
		       unsigned int n, uint32_t set, uint32_t clear)
{
	for (unsigned int i = 0; i < n; i++)
		kho_folio_run_flags(&k->alloc, u->strtab_pa[i], KHO_4K_LG2,
				    strtab_pages(u->strtab_log2), 0, set, clear);
}

static int unit_preserve(struct kho *k, void *obj)
{
	struct iommu_unit *u = obj;
	for (unsigned int i = 0; i < u->nr_units; i++) {
		int err = kho_folio_run_flags(&k->alloc, u->strtab_pa[i],
					      KHO_4K_LG2,
					      strtab_pages(u->strtab_log2), 0,
					      KHO_FOLIO_PRESERVED, 0);
		if (err) {
			unit_flags(k, u, i, 0, KHO_FOLIO_PRESERVED);
			return err;
		}
	}
	return 0;
}

static void unit_unpreserve(struct kho *k, void *obj)
{
	struct iommu_unit *u = obj;
	unit_flags(k, u, u->nr_units, 0, KHO_FOLIO_PRESERVED);
}

static int unit_serialize(struct kho *k, void *obj, void *fdt)
{
	struct iommu_unit *u = obj;
	uint64_t topo[HW_MAX_DEVS];
	(void)k;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		topo[d] = u->dev_unit[d];
	if (fdt_property_string(fdt, "type", "unit") ||
	    put_array(fdt, "strtab", u->strtab_pa, u->nr_units) ||
	    kho_fdt_put_u64(fdt, "strtab-log2", u->strtab_log2) ||
	    kho_fdt_put_u64(fdt, "format", u->fmt) ||
	    kho_fdt_put_u64(fdt, "va-bits", u->va_bits) ||
	    put_array(fdt, "device-units", topo, HW_MAX_DEVS))
		return -ENOSPC;
	return 0;
}

static const struct kho_obj_ops unit_ops = {
	.subsys = IOMMUFD_KHO_IOMMU,
	.preserve = unit_preserve,
	.unpreserve = unit_unpreserve,
	.serialize = unit_serialize,
};

/*
 * An IOVA width as stored: all 64 bits of the property are checked before
 * it is narrowed to the unsigned int the tables use (0x100000030 is not 48).
 */
static bool va_bits_valid(uint64_t fmt, uint64_t va_bits)
{
	return va_bits <= 64 &&
	       pt_fmt_levels_for((enum pt_format_id)fmt,
				 (unsigned int)va_bits) >= 0;
}

/*
 * "strtab": version 1 one base, version 2 one per unit (1 to
 * HW_MAX_UNITS); each page aligned. Returns the number of units, 0 when
 * malformed.
 */
static unsigned int strtabs_get(const void *fdt, int node, uint32_t version,
				uint64_t pa[HW_MAX_UNITS])
{
	int len;
	const uint8_t *p = fdt_getprop(fdt, node, "strtab", &len);
	unsigned int max = version >= 2 ? HW_MAX_UNITS : 1;
	if (!p || len <= 0 || len % 8 || (unsigned int)len / 8 > max)
		return 0;
	unsigned int n = (unsigned int)len / 8;
	for (unsigned int i = 0; i < n; i++) {
		pa[i] = be64_ld(p + 8 * i);
		if (pa[i] % KHO_4K)
			return 0;
	}
	return n;
}

/* Version 2's "device-units": HW_MAX_DEVS units below nr. */
static int dev_units_validate(struct kho_vctx *v, const void *fdt, int node,
			      unsigned int nr)
{
	int len;
	const uint8_t *p = fdt_getprop(fdt, node, "device-units", &len);
	if (!p || len != (int)(8 * HW_MAX_DEVS))
		return kho_vctx_fail(v, "missing or malformed 'device-units' "
				     "(one unit per device, %u devices)",
				     HW_MAX_DEVS);
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		uint64_t u = be64_ld(p + 8 * d);
		if (u >= nr)
			return kho_vctx_fail(v, "'device-units': device %u behind "
					     "unit %" PRIu64 ", the node records "
					     "%u unit%s", d, u, nr,
					     nr == 1 ? "" : "s");
	}
	return 0;
}

static int unit_validate(struct kho_vctx *v, const void *fdt, int node,
			 uint32_t version)
{
	uint64_t pa[HW_MAX_UNITS], log2, fmt, va_bits;
	const char *type = kho_fdt_get_str(fdt, node, "type");
	if (!type || strcmp(type, "unit"))
		return kho_vctx_fail(v, "iommu object is not a unit");
	unsigned int nr = strtabs_get(fdt, node, version, pa);
	if (!nr)
		return kho_vctx_fail(v, "missing or misaligned 'strtab'%s",
				     version >= 2 ? " (one page-aligned base "
				     "per unit, 1 to 8 units)" : "");
	if (kho_fdt_get_u64(fdt, node, "strtab-log2", &log2) ||
	    log2 > HW_STRTAB_MAX_LOG2)
		return kho_vctx_fail(v, "bad 'strtab-log2'");
	if (kho_fdt_get_u64(fdt, node, "format", &fmt) || fmt >= PT_FMT_COUNT)
		return kho_vctx_fail(v, "unknown page-table 'format'");
	if (kho_fdt_get_u64(fdt, node, "va-bits", &va_bits))
		return kho_vctx_fail(v, "missing or malformed 'va-bits'");
	if (!va_bits_valid(fmt, va_bits))
		return kho_vctx_fail(v, "bad 'va-bits' 0x%" PRIx64 " for %s",
				     va_bits, pt_fmt_name((enum pt_format_id)fmt));
	if (version >= 2) {
		int err = dev_units_validate(v, fdt, node, nr);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < nr; i++) {
		for (unsigned int j = 0; j < i; j++)
			if (pa[j] == pa[i])
				return kho_vctx_fail(v, "'strtab': units %u and %u "
						     "share stream table 0x%" PRIx64,
						     j, i, pa[i]);
		int err = kho_vctx_own(v, pa[i], KHO_4K_LG2, strtab_pages(log2));
		if (err)
			return err;
	}
	return 0;
}

static const struct kho_subsys iommu_subsys = {
	.name = IOMMUFD_KHO_IOMMU,
	.version = IOMMUFD_KHO_UNIT_VERSION,
	.min_version = IOMMUFD_KHO_UNIT_MIN_VERSION,
	.validate_obj = unit_validate,
};

/* ---- IOAS -------------------------------------------------------------- */

static int ioas_serialize(struct kho *k, void *obj, void *fdt)
{
	struct iommufd_ioas *ioas = obj;
	(void)k;
	/* Distinct memfds, in order of first use. */
	const struct kho_memfd *mf[64];
	size_t nmf = 0, names_len = 0;
	for (size_t i = 0; i < ioas->nr_areas; i++) {
		size_t j = 0;
		while (j < nmf && mf[j] != ioas->areas[i].memfd)
			j++;
		if (j == nmf) {
			if (nmf == 64)
				return -E2BIG;
			mf[nmf++] = ioas->areas[i].memfd;
			names_len += strlen(ioas->areas[i].memfd->name) + 1;
		}
	}
	void *names, *areas;
	if (fdt_property_string(fdt, "type", "ioas") ||
	    kho_fdt_put_u64(fdt, "id", ioas->id) ||
	    fdt_property_placeholder(fdt, "memfds", (int)names_len, &names) ||
	    fdt_property_placeholder(fdt, "areas",
				     (int)(ioas->nr_areas * AREA_REC), &areas))
		return -ENOSPC;
	char *np = names;
	for (size_t j = 0; j < nmf; j++) {
		size_t l = strlen(mf[j]->name) + 1;
		memcpy(np, mf[j]->name, l);
		np += l;
	}
	uint8_t *d = areas;
	for (size_t i = 0; i < ioas->nr_areas; i++, d += AREA_REC) {
		const struct iommufd_area *a = &ioas->areas[i];
		size_t j = 0;
		while (mf[j] != a->memfd)
			j++;
		be64_st(d, a->iova);
		be64_st(d + 8, a->len);
		be64_st(d + 16, a->offset);
		be64_st(d + 24, a->prot);
		be64_st(d + 32, j);
	}
	return 0;
}

static int noop_preserve(struct kho *k, void *obj)
{
	(void)k;
	(void)obj;
	return 0;
}

static void noop_unpreserve(struct kho *k, void *obj)
{
	(void)k;
	(void)obj;
}

static const struct kho_obj_ops ioas_ops = {
	.subsys = IOMMUFD_KHO_IOMMUFD,
	.preserve = noop_preserve,
	.unpreserve = noop_unpreserve,
	.serialize = ioas_serialize,
};

/* ---- HWPT -------------------------------------------------------------- */

/*
 * A preserved HWPT is a snapshot taken when it is preserved: its facts
 * and the list of its table pages. The live HWPT may then go away (an
 * update frees the old table while its journal still names it) without
 * leaving the preserved object pointing at freed memory.
 */
struct hwpt_snap {
	uint32_t id, ioas_id;
	uint16_t did;
	uint32_t features;
	enum pt_format_id fmt;
	unsigned int va_bits, oa_bits;
	uint64_t root;
	struct ioh_u64vec pages;
	uint64_t devs[HW_MAX_DEVS];
	size_t nr_devs;
	uint64_t ats_devs[HW_MAX_DEVS];
	size_t nr_ats_devs;
	uint64_t nested[HW_MAX_DEVS * NESTED_WORDS];
	size_t nr_nested; /* records */
	uint64_t pasids[HW_MAX_DEVS * IOMMUFD_MAX_PASIDS * 2];
	size_t nr_pasids; /* records */
	uint64_t cdtabs[HW_MAX_DEVS * 2];
	size_t nr_cdtabs; /* records */
};

static int snap_page(void *arg, pt_oaddr_t pa, unsigned int level)
{
	struct hwpt_snap *sn = arg;
	(void)level;
	return ioh_u64vec_push(&sn->pages, pa);
}

static struct hwpt_snap *hwpt_snapshot(struct iommufd_ctx *ictx,
				       struct iommufd_hwpt *h)
{
	struct hwpt_snap *sn = ioh_fail("iommufd.alloc") ? NULL :
		calloc(1, sizeof(*sn));
	if (!sn)
		return NULL;
	*sn = (struct hwpt_snap){
		.id = h->id, .ioas_id = h->ioas->id, .did = h->did,
		.features = h->features, .fmt = ictx->fmt,
		.va_bits = h->pt.va_bits, .oa_bits = h->pt.oa_bits,
		.root = h->pt.top_pa,
	};
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++) {
		if (ictx->dev[i].hwpt != h)
			continue;
		sn->devs[sn->nr_devs++] = i;
		if (ictx->dev[i].ats)
			sn->ats_devs[sn->nr_ats_devs++] = i;
		const struct iommufd_hwpt_nested *n = ictx->dev[i].nested;
		if (n) {
			uint64_t *w = &sn->nested[sn->nr_nested++ * NESTED_WORDS];
			w[0] = i;
			w[1] = n->fmt;
			w[2] = n->va_bits;
			w[3] = n->s1_root;
			w[4] = n->s1_did;
		}
		if (ictx->dev[i].cdtab) {
			sn->cdtabs[2 * sn->nr_cdtabs] = i;
			sn->cdtabs[2 * sn->nr_cdtabs++ + 1] = ictx->dev[i].cdtab;
		}
	}
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++)
		for (unsigned int p = 1; p < IOMMUFD_MAX_PASIDS; p++)
			if (ictx->dev[i].pasid_hwpt[p] == h) {
				sn->pasids[2 * sn->nr_pasids] = i;
				sn->pasids[2 * sn->nr_pasids++ + 1] = p;
			}
	if (pt_for_each_table(&h->pt, snap_page, sn)) {
		ioh_u64vec_free(&sn->pages);
		free(sn);
		return NULL;
	}
	return sn;
}

/* Page i of the snapshot's: its table pages, then its CD tables. */
static uint64_t snap_page_at(const struct hwpt_snap *sn, size_t i)
{
	return i < sn->pages.n ? sn->pages.v[i]
			       : sn->cdtabs[2 * (i - sn->pages.n) + 1];
}

static size_t snap_nr_pages(const struct hwpt_snap *sn)
{
	return sn->pages.n + sn->nr_cdtabs;
}

static void hwpt_snap_flags(struct kho *k, const struct hwpt_snap *sn,
			    size_t n, bool preserve)
{
	/* A page freed since (the old table after a switch) has no flags
	 * left to clear: that error is expected and ignored. */
	for (size_t i = 0; i < n; i++)
		kho_folio_run_flags(&k->alloc, snap_page_at(sn, i), KHO_4K_LG2,
				    1, 0, preserve ? KHO_FOLIO_PRESERVED : 0,
				    preserve ? 0 : KHO_FOLIO_PRESERVED);
}

static int hwpt_preserve(struct kho *k, void *obj)
{
	struct hwpt_snap *sn = obj;
	for (size_t i = 0; i < snap_nr_pages(sn); i++) {
		int err = kho_folio_run_flags(&k->alloc, snap_page_at(sn, i),
					      KHO_4K_LG2, 1, 0,
					      KHO_FOLIO_PRESERVED, 0);
		if (err) {
			hwpt_snap_flags(k, sn, i, false);
			return err;
		}
	}
	return 0;
}

/* The object goes: its pages are no longer preserved, the snapshot is freed. */
static void hwpt_unpreserve(struct kho *k, void *obj)
{
	struct hwpt_snap *sn = obj;
	hwpt_snap_flags(k, sn, snap_nr_pages(sn), false);
	ioh_u64vec_free(&sn->pages);
	free(sn);
}

static int hwpt_serialize(struct kho *k, void *obj, void *fdt)
{
	struct hwpt_snap *sn = obj;
	(void)k;
	if (fdt_property_string(fdt, "type", "hwpt") ||
	    kho_fdt_put_u64(fdt, "id", sn->id) ||
	    kho_fdt_put_u64(fdt, "ioas", sn->ioas_id) ||
	    kho_fdt_put_u64(fdt, "format", sn->fmt) ||
	    kho_fdt_put_u64(fdt, "va-bits", sn->va_bits) ||
	    kho_fdt_put_u64(fdt, "oa-bits", sn->oa_bits) ||
	    kho_fdt_put_u64(fdt, "features", sn->features) ||
	    kho_fdt_put_u64(fdt, "did", sn->did) ||
	    kho_fdt_put_u64(fdt, "root", sn->root) ||
	    put_array(fdt, "pages", sn->pages.v, sn->pages.n) ||
	    put_array(fdt, "devices", sn->devs, sn->nr_devs) ||
	    put_array(fdt, "ats-devices", sn->ats_devs, sn->nr_ats_devs) ||
	    put_array(fdt, "nested", sn->nested, sn->nr_nested * NESTED_WORDS) ||
	    put_array(fdt, "pasids", sn->pasids, sn->nr_pasids * 2) ||
	    put_array(fdt, "cd-tables", sn->cdtabs, sn->nr_cdtabs * 2))
		return -ENOSPC;
	return 0;
}

static const struct kho_obj_ops hwpt_ops = {
	.subsys = IOMMUFD_KHO_IOMMUFD,
	.preserve = hwpt_preserve,
	.unpreserve = hwpt_unpreserve,
	.serialize = hwpt_serialize,
};

/* ---- validation (before anything is touched) --------------------------- */

/* Memfds one ioas may name (retrieve_ioas' table; the writer's limit). */
#define IOAS_MAX_MEMFDS 64

/*
 * Everything retrieve_ioas relies on: every memfd named is a memfd of the
 * ioas's session in this handover, and every area lies inside its memfd.
 */
static int validate_ioas(struct kho_vctx *v, const void *fdt, int node)
{
	uint64_t id;
	int nlen, alen;
	if (kho_fdt_get_u64(fdt, node, "id", &id) || !id || id > UINT32_MAX)
		return kho_vctx_fail(v, "ioas: missing or bad 'id'");
	const char *names = fdt_getprop(fdt, node, "memfds", &nlen);
	const uint8_t *d = fdt_getprop(fdt, node, "areas", &alen);
	if (!names || nlen < 0 || (nlen && names[nlen - 1]))
		return kho_vctx_fail(v, "ioas %" PRIu64 ": malformed 'memfds'", id);
	if (!d || alen < 0 || alen % AREA_REC)
		return kho_vctx_fail(v, "ioas %" PRIu64 ": malformed 'areas'", id);
	const char *name[IOAS_MAX_MEMFDS];
	uint64_t size[IOAS_MAX_MEMFDS];
	size_t nnames = 0;
	for (int off = 0; off < nlen; off += (int)strlen(names + off) + 1) {
		const char *n = names + off;
		if (!n[0] || strlen(n) >= KHO_NAME_MAX)
			return kho_vctx_fail(v, "ioas %" PRIu64 ": 'memfds' entry "
					     "%zu: empty name or longer than %u "
					     "bytes", id, nnames, KHO_NAME_MAX - 1);
		if (nnames == IOAS_MAX_MEMFDS)
			return kho_vctx_fail(v, "ioas %" PRIu64 ": 'memfds' names "
					     "more than %u memfds", id,
					     IOAS_MAX_MEMFDS);
		int e = kho_memfd_vctx_size(v, fdt, n, &size[nnames]);
		if (e == -ENOENT)
			return kho_vctx_fail(v, "ioas %" PRIu64 ": 'memfds' names "
					     "'%s', which is not in the handover "
					     "(no memfd of that name in session "
					     "%s)", id, n, kho_vctx_session(v));
		if (e)
			return kho_vctx_fail(v, "ioas %" PRIu64 ": memfd '%s' has "
					     "a bad 'size'", id, n);
		name[nnames++] = n;
	}
	uint64_t prev_last = 0;
	for (size_t i = 0; i < (size_t)alen / AREA_REC; i++, d += AREA_REC) {
		uint64_t iova = be64_ld(d), len = be64_ld(d + 8);
		uint64_t off = be64_ld(d + 16), prot = be64_ld(d + 24);
		uint64_t mf = be64_ld(d + 32);
		if (!len || ((iova | len | off) & (KHO_4K - 1)) ||
		    len - 1 > ~iova)
			return kho_vctx_fail(v, "ioas %" PRIu64 " area %zu: bad "
					     "iova/len/offset", id, i);
		/* By last byte: an area may end at the top of the space. */
		if (i && iova <= prev_last)
			return kho_vctx_fail(v, "ioas %" PRIu64 " area %zu: "
					     "overlaps or out of order", id, i);
		if (!(prot & (PT_PROT_READ | PT_PROT_WRITE)) ||
		    (prot & ~(uint64_t)PT_PROT_ALL))
			return kho_vctx_fail(v, "ioas %" PRIu64 " area %zu: bad "
					     "prot 0x%" PRIx64, id, i, prot);
		if (mf >= nnames)
			return kho_vctx_fail(v, "ioas %" PRIu64 " area %zu: no "
					     "memfd %" PRIu64, id, i, mf);
		if (off > size[mf] || len > size[mf] - off)
			return kho_vctx_fail(v, "ioas %" PRIu64 " area %zu: "
					     "'areas' offset 0x%" PRIx64 " + len "
					     "0x%" PRIx64 " runs beyond memfd '%s' "
					     "(0x%" PRIx64 " bytes)", id, i, off,
					     len, name[mf], size[mf]);
		prev_last = iova + (len - 1);
	}
	return 0;
}

/* A stream ID that a hwpt property names (what: "ATS", "nested"): one of
 * the hwpt's "devices", named once (seen: the IDs named so far). */
static int check_listed(struct kho_vctx *v, uint64_t id, const char *what,
			uint64_t sid, const uint8_t *devs, int ndevs, uint32_t *seen)
{
	bool attached = false;
	for (int j = 0; j < ndevs && !attached; j++)
		attached = be64_ld(devs + 8 * j) == sid;
	if (!attached)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": %s device %" PRIu64
				     " is not one of its 'devices'", id, what, sid);
	if (*seen & (1u << sid))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": %s device %" PRIu64
				     " named twice", id, what, sid);
	*seen |= 1u << sid;
	return 0;
}

/* Version 2's "ats-devices": a subset of "devices", each once. */
static int validate_ats_devices(struct kho_vctx *v, const void *fdt, int node,
				uint64_t id, uint32_t version,
				const uint8_t *devs, int ndevs)
{
	int alen;
	const uint8_t *ats = fdt_getprop(fdt, node, "ats-devices", &alen);
	if (version < 2) {
		if (ats)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": 'ats-devices' "
					     "in a version-%u node (ATS came "
					     "with version 2)", id, version);
		return 0;
	}
	if (!ats || alen < 0 || alen % 8 || alen / 8 > ndevs)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": missing or malformed "
				     "'ats-devices'", id);
	uint32_t seen = 0;
	for (int i = 0; i < alen / 8; i++)
		if (check_listed(v, id, "ATS", be64_ld(ats + 8 * i), devs, ndevs,
				 &seen))
			return -EINVAL;
	return 0;
}

/*
 * Version 3's "nested": one record per nested device of "devices", each
 * once, a stage 1 that can nest over this table, its root an IPA inside
 * the table's input range.
 */
static int validate_nested(struct kho_vctx *v, const void *fdt, int node,
			   uint64_t id, uint32_t version, uint64_t s2_fmt,
			   uint64_t s2_va_bits, const uint8_t *devs, int ndevs)
{
	int nlen;
	const uint8_t *d = fdt_getprop(fdt, node, "nested", &nlen);
	if (version < 3) {
		if (d)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": 'nested' in a "
					     "version-%u node (nesting came with "
					     "version 3)", id, version);
		return 0;
	}
	if (!d || nlen < 0 || nlen % NESTED_REC || nlen / NESTED_REC > ndevs)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": missing or malformed "
				     "'nested'", id);
	uint32_t seen = 0;
	for (int i = 0; i < nlen / NESTED_REC; i++, d += NESTED_REC) {
		uint64_t sid = be64_ld(d), fmt = be64_ld(d + 8);
		uint64_t va_bits = be64_ld(d + 16), root = be64_ld(d + 24);
		uint64_t did = be64_ld(d + 32);
		if (check_listed(v, id, "nested", sid, devs, ndevs, &seen))
			return -EINVAL;
		const char *why = "bad stage-1 format";
		if (fmt >= PT_FMT_COUNT ||
		    iommufd_nest_check((enum pt_format_id)fmt,
				       (enum pt_format_id)s2_fmt, &why))
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": nested device "
					     "%" PRIu64 ": stage-1 format %" PRIu64
					     " cannot nest: %s", id, sid, fmt, why);
		if (!va_bits_valid(fmt, va_bits))
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": nested device "
					     "%" PRIu64 ": bad stage-1 va-bits %"
					     PRIu64 " for %s", id, sid, va_bits,
					     pt_fmt_name((enum pt_format_id)fmt));
		if (root % KHO_4K || (s2_va_bits < 64 && root >> s2_va_bits))
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": nested device "
					     "%" PRIu64 ": stage-1 root IPA 0x%"
					     PRIx64 " misaligned or beyond the "
					     "%" PRIu64 "-bit stage 2", id, sid,
					     root, s2_va_bits);
		if (!did || did > UINT16_MAX)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": nested device "
					     "%" PRIu64 ": bad stage-1 did 0x%"
					     PRIx64, id, sid, did);
	}
	return 0;
}

/* A version-4 property of two-word records (absent before version 4:
 * NULL); -EINVAL when it is refused. */
static int v4_pairs(struct kho_vctx *v, const void *fdt, int node, uint64_t id,
		    uint32_t version, const char *name, size_t max,
		    const uint8_t **d, int *n)
{
	int len;
	*d = fdt_getprop(fdt, node, name, &len);
	*n = 0;
	if (version < 4) {
		if (*d)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": '%s' in a "
					     "version-%u node (PASIDs came with "
					     "version 4)", id, name, version);
		return 0;
	}
	if (!*d || len < 0 || len % PAIR_REC || (size_t)len / PAIR_REC > max)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": missing or malformed "
				     "'%s'", id, name);
	*n = len / PAIR_REC;
	return 0;
}

/*
 * Version 4's "pasids" (each { sid, pasid } once, a PASID 1 ..
 * IOMMUFD_MAX_PASIDS - 1 of a device) and "cd-tables" (one of "devices",
 * not nested, once each, its CD table an aligned page this object owns).
 * That every PASID's device has a CD table is validate_all's.
 */
static int validate_pasids(struct kho_vctx *v, const void *fdt, int node,
			   uint64_t id, uint32_t version, const uint8_t *devs,
			   int ndevs)
{
	const uint8_t *d, *c;
	int n, nc;
	if (v4_pairs(v, fdt, node, id, version, "pasids",
		     HW_MAX_DEVS * IOMMUFD_MAX_PASIDS, &d, &n) ||
	    v4_pairs(v, fdt, node, id, version, "cd-tables", HW_MAX_DEVS, &c,
		     &nc))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		uint64_t sid = be64_ld(d + PAIR_REC * i);
		uint64_t pasid = be64_ld(d + PAIR_REC * i + 8);
		if (sid >= HW_MAX_DEVS)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": PASID record "
					     "%d: device %" PRIu64 " out of range",
					     id, i, sid);
		if (!pasid || pasid >= IOMMUFD_MAX_PASIDS)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": device %" PRIu64
					     ": bad PASID %" PRIu64 " (1 to %u)",
					     id, sid, pasid, IOMMUFD_MAX_PASIDS - 1);
		for (int j = 0; j < i; j++)
			if (be64_ld(d + PAIR_REC * j) == sid &&
			    be64_ld(d + PAIR_REC * j + 8) == pasid)
				return kho_vctx_fail(v, "hwpt %" PRIu64 ": device %"
						     PRIu64 " PASID %" PRIu64
						     " named twice", id, sid, pasid);
	}
	uint32_t seen = 0;
	int nlen;
	const uint8_t *nested = fdt_getprop(fdt, node, "nested", &nlen);
	for (int i = 0; i < nc; i++) {
		uint64_t sid = be64_ld(c + PAIR_REC * i);
		uint64_t pa = be64_ld(c + PAIR_REC * i + 8);
		if (sid >= HW_MAX_DEVS ||
		    check_listed(v, id, "CD table", sid, devs, ndevs, &seen))
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": CD table of "
					     "device %" PRIu64 ": not one of its "
					     "'devices', or named twice", id, sid);
		for (int j = 0; nested && j < nlen / NESTED_REC; j++)
			if (be64_ld(nested + NESTED_REC * j) == sid)
				return kho_vctx_fail(v, "hwpt %" PRIu64 ": device %"
						     PRIu64 " is nested and has a "
						     "CD table (PASIDs need a "
						     "translate entry)", id, sid);
		if (!pa || pa % KHO_4K)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": device %" PRIu64
					     ": CD table 0x%" PRIx64 " misaligned",
					     id, sid, pa);
		int err = kho_vctx_own(v, pa, KHO_4K_LG2, 1);
		if (err)
			return err;
	}
	return 0;
}

static int validate_hwpt(struct kho_vctx *v, const void *fdt, int node,
			 uint32_t version)
{
	uint64_t id, ioas, fmt, va_bits, oa_bits, features, did, root;
	int plen, dlen;
	if (kho_fdt_get_u64(fdt, node, "id", &id) || !id || id > UINT32_MAX ||
	    kho_fdt_get_u64(fdt, node, "ioas", &ioas) || ioas > UINT32_MAX)
		return kho_vctx_fail(v, "hwpt: missing or bad 'id'/'ioas'");
	if (kho_fdt_get_u64(fdt, node, "format", &fmt) || fmt >= PT_FMT_COUNT)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": bad 'format'", id);
	if (kho_fdt_get_u64(fdt, node, "va-bits", &va_bits))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": missing or malformed "
				     "'va-bits'", id);
	if (!va_bits_valid(fmt, va_bits))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": bad 'va-bits' 0x%" PRIx64
				     " for %s", id, va_bits,
				     pt_fmt_name((enum pt_format_id)fmt));
	if (kho_fdt_get_u64(fdt, node, "oa-bits", &oa_bits))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": missing or malformed "
				     "'oa-bits'", id);
	if (oa_bits < 32 || oa_bits > pt_fmt_max_oa_bits((enum pt_format_id)fmt))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": bad 'oa-bits' %" PRIu64
				     " (%s: 32 to %u)", id, oa_bits,
				     pt_fmt_name((enum pt_format_id)fmt),
				     pt_fmt_max_oa_bits((enum pt_format_id)fmt));
	if (kho_fdt_get_u64(fdt, node, "features", &features) ||
	    (features & ~(uint64_t)IOMMUFD_FEAT_ALL))
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": unknown 'features'", id);
	if (kho_fdt_get_u64(fdt, node, "did", &did) || !did || did > UINT16_MAX)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": bad 'did'", id);
	if (kho_fdt_get_u64(fdt, node, "root", &root) || root % KHO_4K)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": bad 'root'", id);
	const uint8_t *pages = fdt_getprop(fdt, node, "pages", &plen);
	const uint8_t *devs = fdt_getprop(fdt, node, "devices", &dlen);
	if (!pages || plen <= 0 || plen % 8)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": malformed 'pages'", id);
	if (!devs || dlen < 0 || dlen % 8 || dlen / 8 > (int)HW_MAX_DEVS)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": malformed 'devices'", id);
	for (int i = 0; i < dlen / 8; i++)
		if (be64_ld(devs + 8 * i) >= HW_MAX_DEVS)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": device %d out "
					     "of range", id, i);
	int err = validate_ats_devices(v, fdt, node, id, version, devs,
				       dlen / 8);
	if (!err)
		err = validate_nested(v, fdt, node, id, version, fmt, va_bits,
				      devs, dlen / 8);
	if (!err)
		err = validate_pasids(v, fdt, node, id, version, devs, dlen / 8);
	if (err)
		return err;
	bool has_root = false;
	for (int i = 0; i < plen / 8; i++) {
		uint64_t pa = be64_ld(pages + 8 * i);
		if (pa % KHO_4K)
			return kho_vctx_fail(v, "hwpt %" PRIu64 ": table page "
					     "0x%" PRIx64 " misaligned", id, pa);
		err = kho_vctx_own(v, pa, KHO_4K_LG2, 1);
		if (err)
			return err;
		has_root |= pa == root;
	}
	if (!has_root)
		return kho_vctx_fail(v, "hwpt %" PRIu64 ": root 0x%" PRIx64
				     " is not one of its pages", id, root);
	return 0;
}

/*
 * Between objects, once each passed alone: everything retrieve and adopt
 * would otherwise find out only after the guest resumed. Per session,
 * IOAS ids and HWPT ids are unique and each kind fits the object table;
 * a HWPT's 'ioas' names an IOAS of its session; every HWPT is in the
 * format and IOVA width of the IOMMU unit that runs it.
 */
static bool obj_of(const struct kho_parsed *p, size_t i, const char *subsys,
		   const char *type)
{
	const struct kho_pobj *o = &p->objs[i];
	const struct kho_subsys *ss = p->subsys[o->subsys].ss;
	if (!ss || strcmp(ss->name, subsys))
		return false;
	const char *t = kho_fdt_get_str(p->fdt, o->node, "type");
	return t && !strcmp(t, type);
}

static uint64_t obj_u64(const struct kho_parsed *p, size_t i, const char *prop)
{
	uint64_t v = 0;
	kho_fdt_get_u64(p->fdt, p->objs[i].node, prop, &v);
	return v;
}

/* The records of property name ("pasids" or "cd-tables") of object i. */
static const uint8_t *pairs_of(const struct kho_parsed *p, size_t i,
			       const char *name, int *n)
{
	int len;
	const uint8_t *d = fdt_getprop(p->fdt, p->objs[i].node, name, &len);
	*n = d && len > 0 ? len / PAIR_REC : 0;
	return d;
}

/*
 * Across the hwpts of session s: each (device, PASID) once, every PASID's
 * device has a CD table (recorded by the hwpt it translates through
 * without a PASID), every CD table serves at least one PASID.
 */
static int validate_session_pasids(struct kho_vctx *v,
				   const struct kho_parsed *p, size_t s)
{
	uint32_t has_cdtab = 0, has_pasid = 0;
	uint8_t seen[HW_MAX_DEVS][IOMMUFD_MAX_PASIDS];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < p->nr_objs; i++) {
		int n;
		if (p->objs[i].session != s ||
		    !obj_of(p, i, IOMMUFD_KHO_IOMMUFD, "hwpt"))
			continue;
		const uint8_t *c = pairs_of(p, i, "cd-tables", &n);
		for (int j = 0; c && j < n; j++) {
			uint64_t sid = be64_ld(c + PAIR_REC * j);
			if (has_cdtab & (1u << sid))
				return kho_vctx_fail(v, "iommufd: session %s: "
						     "device %" PRIu64 " has two "
						     "CD tables", p->sessions[s],
						     sid);
			has_cdtab |= 1u << sid;
		}
	}
	for (size_t i = 0; i < p->nr_objs; i++) {
		int n;
		if (p->objs[i].session != s ||
		    !obj_of(p, i, IOMMUFD_KHO_IOMMUFD, "hwpt"))
			continue;
		const uint8_t *d = pairs_of(p, i, "pasids", &n);
		for (int j = 0; d && j < n; j++) {
			uint64_t sid = be64_ld(d + PAIR_REC * j);
			uint64_t pasid = be64_ld(d + PAIR_REC * j + 8);
			if (!(has_cdtab & (1u << sid)))
				return kho_vctx_fail(v, "iommufd: hwpt %" PRIu64
						     ": device %" PRIu64 " PASID %"
						     PRIu64 ": the device has no "
						     "CD table in session %s",
						     obj_u64(p, i, "id"), sid,
						     pasid, p->sessions[s]);
			if (seen[sid][pasid]++)
				return kho_vctx_fail(v, "iommufd: hwpt %" PRIu64
						     ": device %" PRIu64 " PASID %"
						     PRIu64 " is attached to two "
						     "hwpts", obj_u64(p, i, "id"),
						     sid, pasid);
			has_pasid |= 1u << sid;
		}
	}
	uint32_t idle = has_cdtab & ~has_pasid;
	if (idle)
		return kho_vctx_fail(v, "iommufd: session %s: device %d has a CD "
				     "table but no PASID record", p->sessions[s],
				     __builtin_ctz(idle));
	return 0;
}

static int iommufd_validate_all(struct kho_vctx *v, const struct kho_parsed *p)
{
	size_t unit = SIZE_MAX, nr_units = 0;
	for (size_t i = 0; i < p->nr_objs; i++)
		if (obj_of(p, i, IOMMUFD_KHO_IOMMU, "unit")) {
			unit = i;
			nr_units++;
		}
	for (size_t s = 0; s < p->nr_sessions; s++) {
		const char *sess = p->sessions[s];
		unsigned int nr_ioas = 0, nr_hwpt = 0;
		for (size_t i = 0; i < p->nr_objs; i++) {
			if (p->objs[i].session != s)
				continue;
			bool ioas = obj_of(p, i, IOMMUFD_KHO_IOMMUFD, "ioas");
			bool hwpt = obj_of(p, i, IOMMUFD_KHO_IOMMUFD, "hwpt");
			if (!ioas && !hwpt)
				continue;
			uint64_t id = obj_u64(p, i, "id");
			nr_ioas += ioas;
			nr_hwpt += hwpt;
			for (size_t j = 0; j < i; j++)
				if (p->objs[j].session == s &&
				    obj_of(p, j, IOMMUFD_KHO_IOMMUFD,
					   ioas ? "ioas" : "hwpt") &&
				    obj_u64(p, j, "id") == id)
					return kho_vctx_fail(v, "iommufd: session %s "
							     "has two %s objects with "
							     "id %" PRIu64, sess,
							     ioas ? "ioas" : "hwpt", id);
			if (ioas)
				continue;
			uint64_t want = obj_u64(p, i, "ioas");
			bool found = false;
			for (size_t j = 0; j < p->nr_objs && !found; j++)
				found = p->objs[j].session == s &&
					obj_of(p, j, IOMMUFD_KHO_IOMMUFD, "ioas") &&
					obj_u64(p, j, "id") == want;
			if (!found)
				return kho_vctx_fail(v, "iommufd: hwpt %" PRIu64 " of "
						     "session %s: 'ioas' %" PRIu64
						     " names no ioas of its session",
						     id, sess, want);
			uint64_t fmt = obj_u64(p, i, "format");
			uint64_t va_bits = obj_u64(p, i, "va-bits");
			if (nr_units != 1)
				return kho_vctx_fail(v, "iommufd: hwpt %" PRIu64 " of "
						     "session %s: %zu iommu units "
						     "in the handover, one must run "
						     "it", id, sess, nr_units);
			uint64_t ufmt = obj_u64(p, unit, "format");
			uint64_t uva = obj_u64(p, unit, "va-bits");
			if (fmt != ufmt || va_bits != uva)
				return kho_vctx_fail(v, "iommufd: hwpt %" PRIu64 " of "
						     "session %s is a %s/%" PRIu64
						     "-bit table, the iommu unit "
						     "runs %s/%" PRIu64 "-bit", id,
						     sess,
						     pt_fmt_name((enum pt_format_id)fmt),
						     va_bits,
						     pt_fmt_name((enum pt_format_id)ufmt),
						     uva);
		}
		int err = validate_session_pasids(v, p, s);
		if (err)
			return err;
		if (nr_ioas > IOMMUFD_MAX_OBJS || nr_hwpt > IOMMUFD_MAX_OBJS)
			return kho_vctx_fail(v, "iommufd: session %s has %u ioas "
					     "and %u hwpt objects, at most %u of "
					     "each", sess, nr_ioas, nr_hwpt,
					     IOMMUFD_MAX_OBJS);
	}
	return 0;
}

static int iommufd_validate(struct kho_vctx *v, const void *fdt, int node,
			    uint32_t version)
{
	const char *type = kho_fdt_get_str(fdt, node, "type");
	if (type && !strcmp(type, "ioas"))
		return validate_ioas(v, fdt, node);
	if (type && !strcmp(type, "hwpt"))
		return validate_hwpt(v, fdt, node, version);
	return kho_vctx_fail(v, "iommufd object of unknown type '%s'",
			     type ? type : "(none)");
}

static void iommufd_describe(const void *fdt, int node, uint32_t version,
			     char *buf, size_t len)
{
	uint64_t id = 0, fmt = 0, root = 0, features = 0;
	int n = 0, ats = 0, nested = 0;
	(void)version;
	const char *type = kho_fdt_get_str(fdt, node, "type");
	kho_fdt_get_u64(fdt, node, "id", &id);
	if (type && !strcmp(type, "hwpt")) {
		kho_fdt_get_u64(fdt, node, "format", &fmt);
		kho_fdt_get_u64(fdt, node, "root", &root);
		kho_fdt_get_u64(fdt, node, "features", &features);
		fdt_getprop(fdt, node, "pages", &n);
		if (!fdt_getprop(fdt, node, "ats-devices", &ats))
			ats = 0;
		if (!fdt_getprop(fdt, node, "nested", &nested))
			nested = 0;
		int pasids = 0;
		if (!fdt_getprop(fdt, node, "pasids", &pasids))
			pasids = 0;
		char tail[80] = "";
		if (nested > 0)
			snprintf(tail, sizeof(tail), ", %d nested (stage 2)",
				 nested / NESTED_REC);
		if (pasids > 0)
			snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail),
				 ", %d PASID%s", pasids / PAIR_REC,
				 pasids == PAIR_REC ? "" : "s");
		snprintf(buf, len, "hwpt %" PRIu64 ": %s table at 0x%" PRIx64
			 ", %d pages, features 0x%" PRIx64 "%s%.0d%s%s", id,
			 pt_fmt_name((enum pt_format_id)fmt), root, n / 8, features,
			 ats > 0 ? ", " : "", ats / 8, ats > 0 ? " ATS devices" : "",
			 tail);
	} else {
		fdt_getprop(fdt, node, "areas", &n);
		snprintf(buf, len, "ioas %" PRIu64 ": %d areas", id, n / AREA_REC);
	}
}

static const struct kho_subsys iommufd_subsys = {
	.name = IOMMUFD_KHO_IOMMUFD,
	.version = IOMMUFD_KHO_VERSION,
	.min_version = IOMMUFD_KHO_MIN_VERSION,
	.validate_obj = iommufd_validate,
	.validate_all = iommufd_validate_all,
	.describe = iommufd_describe,
};

int iommufd_kho_register(void)
{
	int err = kho_subsys_register(&iommu_subsys);
	return err ? err : kho_subsys_register(&iommufd_subsys);
}

/* ---- outgoing ---------------------------------------------------------- */

int iommufd_preserve_check(const struct iommufd_ctx *ictx, uint32_t keep,
			   char *why, size_t len)
{
	for (unsigned int i = 0; i < HW_MAX_DEVS; i++) {
		const struct iommufd_device *d = &ictx->dev[i];
		if (!d->hwpt || !(keep >> i & 1))
			continue;
		if (d->iopf) {
			snprintf(why, len, "device %u depends on I/O page faults "
				 "(PRI), which a live update cannot carry", i);
			return -EOPNOTSUPP;
		}
		/* PASIDs the kernel does not track are never preserved;
		 * attached ones only when the update replays them. */
		unsigned int np = d->pasids ? d->pasids :
			ictx->preserve_pasids ? 0 :
			iommufd_device_nr_pasids(ictx, i);
		if (np) {
			snprintf(why, len, "device %u has %u PASID%s in use; live "
				 "update of PASID devices is not supported", i,
				 np, np == 1 ? "" : "s");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

int iommufd_preserve(struct iommufd_ctx *ictx, struct iommu_unit *unit,
		     struct luo_session *unit_session,
		     struct luo_session *vm_session)
{
	char why[128];
	int rc = iommufd_preserve_check(ictx, UINT32_MAX, why, sizeof(why));
	if (rc)
		return rc;
	pthread_mutex_lock(&ictx->lock);
	ictx->frozen = true;
	pthread_mutex_unlock(&ictx->lock);

	char names[2 * IOMMUFD_MAX_OBJS][32];
	unsigned int n = 0;
	int err = luo_preserve(unit_session, "unit", &unit_ops, unit);
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS && !err; i++) {
		if (!ictx->ioas[i] || ictx->ioas[i]->dropped)
			continue;
		snprintf(names[n], sizeof(names[n]), "ioas-%u", ictx->ioas[i]->id);
		err = luo_preserve(vm_session, names[n], &ioas_ops, ictx->ioas[i]);
		n += !err;
	}
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS && !err; i++) {
		if (!ictx->hwpt[i])
			continue;
		struct hwpt_snap *sn = hwpt_snapshot(ictx, ictx->hwpt[i]);
		if (!sn) {
			err = -ENOMEM;
			break;
		}
		snprintf(names[n], sizeof(names[n]), "hwpt-%u", ictx->hwpt[i]->id);
		err = luo_preserve(vm_session, names[n], &hwpt_ops, sn);
		if (err) {
			ioh_u64vec_free(&sn->pages);
			free(sn);
		}
		n += !err;
	}
	if (err) {
		while (n--)
			luo_unpreserve(vm_session, names[n]);
		luo_unpreserve(unit_session, "unit");
		iommufd_unpreserve(ictx);
	}
	return err;
}

void iommufd_unpreserve(struct iommufd_ctx *ictx)
{
	pthread_mutex_lock(&ictx->lock);
	ictx->frozen = false;
	pthread_mutex_unlock(&ictx->lock);
}

/* ---- incoming ---------------------------------------------------------- */

void iommufd_parse_unit(const void *fdt, int node, struct iommu_unit *unit)
{
	uint64_t log2 = 0, fmt = 0, va_bits = 0;
	int len;
	/* Validated at boot; read back. Version 1 has no topology: every
	 * device behind its one unit. */
	memset(unit, 0, sizeof(*unit));
	unit->nr_units = strtabs_get(fdt, node, 2, unit->strtab_pa);
	kho_fdt_get_u64(fdt, node, "strtab-log2", &log2);
	kho_fdt_get_u64(fdt, node, "format", &fmt);
	kho_fdt_get_u64(fdt, node, "va-bits", &va_bits);
	unit->strtab_log2 = (unsigned int)log2;
	unit->fmt = (enum pt_format_id)fmt;
	unit->va_bits = (unsigned int)va_bits;
	const uint8_t *p = fdt_getprop(fdt, node, "device-units", &len);
	if (p && len == (int)(8 * HW_MAX_DEVS))
		for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
			unit->dev_unit[d] = (uint8_t)be64_ld(p + 8 * d);
}

int iommufd_unit_check(const struct iommu_unit *unit,
		       const struct iommu_drv *drv, char *why, size_t len)
{
	if (unit->nr_units != drv->nr_units) {
		snprintf(why, len, "the handover records %u IOMMU unit%s, the "
			 "hardware has %u", unit->nr_units,
			 unit->nr_units == 1 ? "" : "s", drv->nr_units);
		return -EPROTO;
	}
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++) {
		unsigned int hw = iommu_drv_unit_of(drv, d);
		if (unit->dev_unit[d] != hw) {
			snprintf(why, len, "device %u is behind IOMMU unit %u in "
				 "the handover, behind unit %u in the hardware",
				 d, unit->dev_unit[d], hw);
			return -EPROTO;
		}
	}
	for (unsigned int u = 0; u < unit->nr_units; u++) {
		uint64_t pa;
		unsigned int log2;
		iommu_drv_strtab(drv, u, &pa, &log2);
		if (pa != unit->strtab_pa[u]) {
			snprintf(why, len, "IOMMU unit %u runs stream table "
				 "0x%" PRIx64 ", the handover says 0x%" PRIx64,
				 u, pa, unit->strtab_pa[u]);
			return -EPROTO;
		}
	}
	return 0;
}

int iommufd_peek_unit(const struct kho *k, const char *session,
		      struct iommu_unit *unit)
{
	int node;
	int err = luo_peek(k, session, "unit", IOMMUFD_KHO_IOMMU, &node);
	if (!err)
		iommufd_parse_unit(k->in.fdt, node, unit);
	return err;
}

int iommufd_retrieve_unit(struct kho *k, const char *session,
			  struct iommu_unit *unit)
{
	int node;
	struct iommu_unit u;
	int err = luo_retrieve(k, session, "unit", IOMMUFD_KHO_IOMMU, &node);
	if (err)
		return err;
	iommufd_parse_unit(k->in.fdt, node, &u);
	for (unsigned int i = 0; i < u.nr_units; i++) {
		err = kho_claim_run(k, u.strtab_pa[i], KHO_4K_LG2,
				    strtab_pages(u.strtab_log2));
		if (err)
			return err;
	}
	*unit = u;
	return 0;
}

static int fail(struct kho_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct kho_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static int retrieve_ioas(struct iommufd_ctx *ictx, const void *fdt, int node,
			 struct kho_memfd *const *memfds, size_t nr_memfds,
			 struct iommufd_incoming *in, struct kho_err *err)
{
	uint64_t id;
	int nlen, alen;
	kho_fdt_get_u64(fdt, node, "id", &id);
	const char *names = fdt_getprop(fdt, node, "memfds", &nlen);
	const uint8_t *d = fdt_getprop(fdt, node, "areas", &alen);
	struct kho_memfd *byidx[64];
	size_t nidx = 0;
	for (int off = 0; off < nlen; off += (int)strlen(names + off) + 1) {
		struct kho_memfd *m = NULL;
		for (size_t j = 0; j < nr_memfds; j++)
			if (!strcmp(memfds[j]->name, names + off))
				m = memfds[j];
		if (!m)
			return fail(err, -ENOENT, "ioas %" PRIu64 ": memfd '%s' "
				    "was not preserved with it", id, names + off);
		if (nidx == 64)
			return fail(err, -E2BIG, "ioas %" PRIu64 ": too many memfds", id);
		byidx[nidx++] = m;
	}
	struct iommufd_ioas *ioas;
	int e = iommufd_ioas_alloc(ictx, &ioas);
	if (e)
		return fail(err, e, "ioas %" PRIu64 ": %s", id, strerror(-e));
	ioas->id = (uint32_t)id;
	if (ictx->next_id <= id)
		ictx->next_id = (uint32_t)id + 1;
	in->ioas[in->nr_ioas++] = ioas;
	for (size_t i = 0; i < (size_t)alen / AREA_REC; i++, d += AREA_REC) {
		struct iommufd_area a = {
			.iova = be64_ld(d), .len = be64_ld(d + 8),
			.offset = be64_ld(d + 16),
			.prot = (uint32_t)be64_ld(d + 24),
			.memfd = byidx[be64_ld(d + 32)],
		};
		if (a.offset > a.memfd->size || a.len > a.memfd->size - a.offset)
			return fail(err, -EINVAL, "ioas %" PRIu64 " area %zu: "
				    "beyond memfd '%s'", id, i, a.memfd->name);
		e = iommufd_ioas_insert_area(ioas, &a);
		if (e)
			return fail(err, e, "ioas %" PRIu64 " area %zu: %s", id,
				    i, strerror(-e));
	}
	return 0;
}

int iommufd_parse_hwpt(const void *fdt, int node, struct iommufd_hwpt_rec *r)
{
	uint64_t v;
	int plen, dlen;
	memset(r, 0, sizeof(*r));
	kho_fdt_get_u64(fdt, node, "id", &v);
	r->id = (uint32_t)v;
	kho_fdt_get_u64(fdt, node, "ioas", &v);
	r->ioas_id = (uint32_t)v;
	kho_fdt_get_u64(fdt, node, "format", &v);
	r->fmt = (enum pt_format_id)v;
	kho_fdt_get_u64(fdt, node, "va-bits", &v);
	r->va_bits = (unsigned int)v;
	kho_fdt_get_u64(fdt, node, "oa-bits", &v);
	r->oa_bits = (unsigned int)v;
	kho_fdt_get_u64(fdt, node, "features", &v);
	r->features = (uint32_t)v;
	kho_fdt_get_u64(fdt, node, "did", &v);
	r->did = (uint16_t)v;
	kho_fdt_get_u64(fdt, node, "root", &r->root);
	const uint8_t *pages = fdt_getprop(fdt, node, "pages", &plen);
	const uint8_t *devs = fdt_getprop(fdt, node, "devices", &dlen);
	r->nr_pages = (size_t)plen / 8;
	r->pages = ioh_fail("iommufd.alloc") ? NULL :
		malloc(r->nr_pages * sizeof(uint64_t));
	if (!r->pages)
		return -ENOMEM;
	for (size_t i = 0; i < r->nr_pages; i++)
		r->pages[i] = be64_ld(pages + 8 * i);
	r->nr_devs = (unsigned int)dlen / 8;
	for (unsigned int i = 0; i < r->nr_devs; i++)
		r->devs[i] = (uint32_t)be64_ld(devs + 8 * i);
	/* Validated: absent before version 2, a subset of devices after. */
	int alen;
	const uint8_t *ats = fdt_getprop(fdt, node, "ats-devices", &alen);
	for (int i = 0; ats && i < alen / 8; i++)
		r->ats_mask |= 1u << be64_ld(ats + 8 * i);
	/* Validated: absent before version 3, one per nested device after. */
	int nlen;
	const uint8_t *d = fdt_getprop(fdt, node, "nested", &nlen);
	for (int i = 0; d && i < nlen / NESTED_REC; i++, d += NESTED_REC)
		r->nested[r->nr_nested++] = (struct iommufd_nested_rec){
			.sid = (uint32_t)be64_ld(d),
			.fmt = (enum pt_format_id)be64_ld(d + 8),
			.va_bits = (unsigned int)be64_ld(d + 16),
			.root = be64_ld(d + 24),
			.did = (uint16_t)be64_ld(d + 32),
		};
	/* Validated: absent before version 4. */
	int n;
	d = fdt_getprop(fdt, node, "pasids", &n);
	for (int i = 0; d && i < n / PAIR_REC; i++, d += PAIR_REC) {
		r->pasids[r->nr_pasids].sid = (uint32_t)be64_ld(d);
		r->pasids[r->nr_pasids++].pasid = (uint32_t)be64_ld(d + 8);
	}
	d = fdt_getprop(fdt, node, "cd-tables", &n);
	for (int i = 0; d && i < n / PAIR_REC; i++, d += PAIR_REC) {
		r->cdtabs[r->nr_cdtabs].sid = (uint32_t)be64_ld(d);
		r->cdtabs[r->nr_cdtabs++].pa = be64_ld(d + 8);
	}
	return 0;
}

/* ---- PASIDs of the incoming kernel ---- */

/* The hwpt record and index of in's record of (sid, pasid), or NULL. */
static const struct iommufd_hwpt_rec *
pasid_owner(const struct iommufd_incoming *in, uint32_t sid, uint32_t pasid)
{
	for (unsigned int i = 0; i < in->nr_hwpt; i++)
		for (unsigned int j = 0; j < in->hwpt[i].nr_pasids; j++)
			if (in->hwpt[i].pasids[j].sid == sid &&
			    in->hwpt[i].pasids[j].pasid == pasid)
				return &in->hwpt[i];
	return NULL;
}

static int check_cd_table(const struct iommufd_incoming *in, uint32_t sid,
			  uint64_t cdtab, const struct iommufd_hw_reader *hw,
			  struct kho_err *err)
{
	uint64_t ste[HW_STE_WORDS];
	if (hw->read_ste(hw->arg, sid, ste))
		return fail(err, -EINVAL, "device %u: its stream table entry "
			    "cannot be read", sid);
	uint64_t mode = (uint64_t)HW_FIELD_GET(HW_STE0_MODE, ste[0]);
	uint64_t log2 = (uint64_t)HW_FIELD_GET(HW_STE6_CDLOG2, ste[6]);
	uint64_t pa = ste[5] & HW_STE5_CDTAB;
	if (!(ste[0] & HW_STE0_V) || mode != HW_STE_MODE_TRANSLATE ||
	    log2 != IOMMUFD_CD_LOG2 || pa != cdtab)
		return fail(err, -EINVAL, "device %u: the handover records its "
			    "CD table at 0x%" PRIx64 " (%u entries), its stream "
			    "table entry has 0x%" PRIx64 " (2^%" PRIu64 ")%s", sid,
			    cdtab, IOMMUFD_MAX_PASIDS, pa, log2,
			    mode == HW_STE_MODE_TRANSLATE ? "" : ", not translating");
	for (uint32_t p = 1; p < IOMMUFD_MAX_PASIDS; p++) {
		uint64_t cd[HW_CD_WORDS], want[HW_CD_WORDS];
		if (hw->read_cd(hw->arg, cdtab, p, cd))
			return fail(err, -EINVAL, "device %u PASID %u: its CD "
				    "cannot be read at 0x%" PRIx64, sid, p, cdtab);
		const struct iommufd_hwpt_rec *r = pasid_owner(in, sid, p);
		if (!r) {
			if (cd[0] & HW_CD0_V)
				return fail(err, -EINVAL, "device %u PASID %u: "
					    "valid in the CD table, but the "
					    "handover has no record of it", sid,
					    p);
			continue;
		}
		hw_cd_make(want, r->fmt, r->va_bits, r->root, r->did);
		if (!hw_cd_same_config(cd, want))
			return fail(err, -EINVAL, "device %u PASID %u: its CD "
				    "(%s, root 0x%" PRIx64 ", did %" PRIu64 ") "
				    "disagrees with hwpt %u (root 0x%" PRIx64
				    ", did %u)", sid, p,
				    cd[0] & HW_CD0_V ? "valid" : "invalid",
				    (uint64_t)(cd[1] & HW_CD1_ROOT),
				    (uint64_t)HW_FIELD_GET(HW_CD2_DID, cd[2]), r->id,
				    r->root, r->did);
	}
	return 0;
}

int iommufd_pasids_check(const struct iommufd_incoming *in,
			 const struct iommufd_hw_reader *hw, struct kho_err *err)
{
	for (unsigned int i = 0; i < in->nr_hwpt; i++) {
		const struct iommufd_hwpt_rec *r = &in->hwpt[i];
		for (unsigned int j = 0; j < r->nr_cdtabs; j++) {
			int e = check_cd_table(in, r->cdtabs[j].sid,
					       r->cdtabs[j].pa, hw, err);
			if (e)
				return e;
		}
	}
	return 0;
}

static int drv_read_ste(void *arg, uint32_t sid, uint64_t ste[HW_STE_WORDS])
{
	return iommu_drv_read_ste(arg, sid, ste);
}

static int drv_read_cd(void *arg, uint64_t cdtab, uint32_t pasid,
		       uint64_t cd[HW_CD_WORDS])
{
	return iommu_drv_read_cd(arg, cdtab, IOMMUFD_CD_LOG2, pasid, cd);
}

int iommufd_pasids_check_hw(const struct iommufd_incoming *in,
			    struct iommu_drv *drv, struct kho_err *err)
{
	const struct iommufd_hw_reader hw = { drv_read_ste, drv_read_cd, drv };
	return iommufd_pasids_check(in, &hw, err);
}

int iommufd_restore_pasids(struct iommufd_ctx *ictx, struct iommufd_hwpt *h,
			   const struct iommufd_hwpt_rec *r)
{
	for (unsigned int j = 0; j < r->nr_pasids; j++) {
		struct iommufd_device *d = &ictx->dev[r->pasids[j].sid];
		if (d->pasid_hwpt[r->pasids[j].pasid])
			return -EINVAL;
	}
	for (unsigned int j = 0; j < r->nr_cdtabs; j++) {
		struct iommufd_device *d = &ictx->dev[r->cdtabs[j].sid];
		if (d->cdtab == r->cdtabs[j].pa)
			continue;
		if (d->cdtab)
			return -EINVAL;
		int err = kho_claim_run(ictx->k, r->cdtabs[j].pa, KHO_4K_LG2, 1);
		if (err)
			return err;
		d->cdtab = r->cdtabs[j].pa;
		ictx->stats.table_pages++;
	}
	for (unsigned int j = 0; j < r->nr_pasids; j++) {
		iommufd_pasid_bind(ictx, h, r->pasids[j].sid, r->pasids[j].pasid);
	}
	return 0;
}

const struct iommufd_nested_rec *
iommufd_rec_nested(const struct iommufd_hwpt_rec *r, uint32_t sid)
{
	for (unsigned int i = 0; i < r->nr_nested; i++)
		if (r->nested[i].sid == sid)
			return &r->nested[i];
	return NULL;
}

void iommufd_rec_ste(const struct iommufd_hwpt_rec *r, uint32_t sid,
		     uint64_t ste[HW_STE_WORDS])
{
	const struct iommufd_nested_rec *n = iommufd_rec_nested(r, sid);
	if (n)
		hw_ste_make_nested(ste, n->fmt, n->va_bits, n->root, n->did,
				   r->fmt, r->va_bits, r->root, r->did);
	else
		hw_ste_make(ste, HW_STE_MODE_TRANSLATE, r->fmt, r->va_bits,
			    r->root, r->did);
	/* A device with PASIDs: its CD table (version 4). */
	for (unsigned int i = 0; !n && i < r->nr_cdtabs; i++)
		if (r->cdtabs[i].sid == sid)
			hw_ste_set_cdtab(ste, r->cdtabs[i].pa, IOMMUFD_CD_LOG2);
}

int iommufd_restore_device(struct iommufd_ctx *ictx, struct iommufd_hwpt *h,
			   const struct iommufd_hwpt_rec *r, uint32_t sid)
{
	const struct iommufd_nested_rec *nr = iommufd_rec_nested(r, sid);
	struct iommufd_hwpt_nested *n = NULL;
	if (sid >= HW_MAX_DEVS)
		return -EINVAL;
	for (unsigned int i = 0; nr && !n && i < IOMMUFD_MAX_OBJS; i++) {
		struct iommufd_hwpt_nested *o = ictx->nested[i];
		if (o && o->parent == h && o->fmt == nr->fmt &&
		    o->va_bits == nr->va_bits && o->s1_root == nr->root &&
		    o->s1_did == nr->did)
			n = o;
	}
	if (nr && !n) {
		int err = iommufd_hwpt_alloc_nested(ictx, h, nr->fmt, nr->va_bits,
						    nr->root, nr->did, &n);
		if (err)
			return err;
	}
	iommufd_hwpt_bind(ictx, h, sid);
	ictx->dev[sid].nested = n;
	if (n)
		n->users++;
	return 0;
}

int iommufd_retrieve(struct iommufd_ctx *ictx, const char *session,
		     struct kho_memfd *const *memfds, size_t nr_memfds,
		     struct iommufd_incoming *in, struct kho_err *err)
{
	struct kho *k = ictx->k;
	memset(in, 0, sizeof(*in));
	for (size_t i = 0; i < k->in.nr_objs; i++) {
		const struct kho_pobj *o = &k->in.objs[i];
		if (strcmp(k->in.sessions[o->session], session) ||
		    !k->in.subsys[o->subsys].ss ||
		    strcmp(k->in.subsys[o->subsys].ss->name, IOMMUFD_KHO_IOMMUFD))
			continue;
		int node;
		int e = luo_retrieve(k, session, o->name, IOMMUFD_KHO_IOMMUFD, &node);
		if (e)
			return fail(err, e, "%s/%s: %s", session, o->name, strerror(-e));
		const char *type = kho_fdt_get_str(k->in.fdt, node, "type");
		if (!strcmp(type, "ioas")) {
			if (in->nr_ioas == IOMMUFD_MAX_OBJS)
				return fail(err, -E2BIG, "too many ioas objects");
			e = retrieve_ioas(ictx, k->in.fdt, node, memfds, nr_memfds,
					  in, err);
		} else {
			if (in->nr_hwpt == IOMMUFD_MAX_OBJS)
				return fail(err, -E2BIG, "too many hwpt objects");
			e = iommufd_parse_hwpt(k->in.fdt, node, &in->hwpt[in->nr_hwpt++]);
			if (e)
				fail(err, e, "%s/%s: %s", session, o->name, strerror(-e));
		}
		if (e)
			return e;
	}
	return 0;
}

void iommufd_incoming_free(struct iommufd_incoming *in)
{
	for (unsigned int i = 0; i < in->nr_hwpt; i++)
		free(in->hwpt[i].pages);
	memset(in, 0, sizeof(*in));
}

unsigned int iommufd_reserve_live_ids(struct iommufd_ctx *ictx,
				      const struct iommufd_incoming *in,
				      unsigned int nr_streams)
{
	unsigned int n = 0;
	for (unsigned int i = 0; in && i < in->nr_hwpt; i++)
		n += !iommufd_id_reserve(&ictx->dids, in->hwpt[i].did);
	/*
	 * What the hardware runs now, whatever the records say: a stream
	 * left translating under an ID no record names (a journal's new
	 * table, a table the old kernel kept to itself) still has IOTLB
	 * entries tagged with it.
	 */
	for (unsigned int sid = 0; sid < nr_streams && sid < HW_MAX_DEVS; sid++) {
		uint64_t ste[HW_STE_WORDS];
		if (iommu_drv_read_ste(ictx->drv, sid, ste) ||
		    !(ste[0] & HW_STE0_V))
			continue;
		uint64_t mode = HW_FIELD_GET(HW_STE0_MODE, ste[0]);
		if (mode != HW_STE_MODE_TRANSLATE && mode != HW_STE_MODE_NESTED)
			continue;
		n += !iommufd_id_reserve(&ictx->dids,
					 (uint16_t)HW_FIELD_GET(HW_STE2_DID, ste[2]));
	}
	return n;
}

/* Claims of adopted table pages, undone if adoption fails. */
struct claim_ctx {
	struct kho *k;
	const struct iommufd_hwpt_rec *rec;
	uint64_t *claimed;
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int claim_table_page(void *arg, pt_oaddr_t pa, unsigned int level)
{
	struct claim_ctx *c = arg;
	(void)level;
	/* Only pages the record lists, and each once (claiming clears
	 * INCOMING, so a second visit fails: a cycle or shared table). */
	if (!bsearch(&pa, c->rec->pages, c->rec->nr_pages, sizeof(uint64_t),
		     cmp_u64))
		return -PT_EFAULT;
	if (kho_claim_run(c->k, pa, KHO_4K_LG2, 1))
		return -PT_EEXIST;
	c->claimed[c->n++] = pa;
	return 0;
}

static void unclaim(struct claim_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		kho_folio_run_flags(&c->k->alloc, c->claimed[i], KHO_4K_LG2, 1,
				    0, KHO_FOLIO_INCOMING, 0);
	c->n = 0;
}

static const char *adopt_error(int e)
{
	switch (-e) {
	case PT_EFAULT:
		return "table pointer outside the preserved table pages";
	case PT_EEXIST:
		return "a table page is reached twice (cycle or shared table)";
	case PT_EINVAL:
		return "malformed entry (reserved bits, a misplaced or misaligned "
		       "leaf, or a broken contiguous run)";
	case PT_ERANGE:
		return "output address beyond the table's address width";
	default:
		return pt_strerror(e);
	}
}

int iommufd_adopt_hwpt(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		       const struct iommufd_hwpt_rec *rec, bool immutable,
		       struct iommufd_hwpt **out, struct kho_err *err)
{
	if (rec->fmt != ictx->fmt || rec->va_bits != ictx->va_bits)
		return fail(err, -EINVAL, "hwpt %u: %s/%u-bit table, the IOMMU "
			    "runs %s/%u-bit", rec->id, pt_fmt_name(rec->fmt),
			    rec->va_bits, pt_fmt_name(ictx->fmt), ictx->va_bits);
	qsort(rec->pages, rec->nr_pages, sizeof(uint64_t), cmp_u64);
	struct claim_ctx c = { .k = ictx->k, .rec = rec };
	c.claimed = malloc(rec->nr_pages * sizeof(uint64_t));
	struct iommufd_hwpt *h = ioh_fail("iommufd.alloc") ? NULL :
		calloc(1, sizeof(*h));
	if (!c.claimed || !h) {
		free(c.claimed);
		free(h);
		return fail(err, -ENOMEM, "hwpt %u: out of memory", rec->id);
	}
	struct pt_cfg cfg = {
		.fmt = rec->fmt, .va_bits = rec->va_bits, .oa_bits = rec->oa_bits,
		.pgsizes = iommufd_pgsizes(rec->fmt, rec->features),
	};
	pt_vaddr_t bad = 0;
	int e = pt_adopt(&h->pt, &cfg, &ictx->mem, ictx, rec->root,
			 claim_table_page, &c, &bad);
	if (e) {
		fail(err, e, "hwpt %u: table refused at IOVA 0x%" PRIx64 ": %s",
		     rec->id, bad, adopt_error(e));
	} else if (c.n != rec->nr_pages) {
		e = fail(err, -EINVAL, "hwpt %u: %zu pages preserved, the table "
			 "uses %zu", rec->id, rec->nr_pages, c.n);
	}
	if (e) {
		unclaim(&c);
		free(c.claimed);
		free(h);
		return e;
	}
	h->ictx = ictx;
	h->ioas = ioas;
	h->id = rec->id;
	h->did = rec->did;
	h->features = rec->features;
	h->immutable = immutable;
	e = iommufd_register_hwpt(ictx, h);
	if (e) {
		unclaim(&c);
		free(c.claimed);
		free(h);
		return fail(err, e, "hwpt %u: no room", rec->id);
	}
	free(c.claimed);
	ictx->stats.table_pages += rec->nr_pages;
	if (ictx->stats.table_pages > ictx->stats.table_pages_peak)
		ictx->stats.table_pages_peak = ictx->stats.table_pages;
	*out = h;
	return 0;
}
