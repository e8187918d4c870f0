// SPDX-License-Identifier: MIT
#include "ioh/ioh.h"
#include "kho/memfd.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kho/kho_internal.h"

const struct kho_memfd_mix kho_memfd_mix_default = {
	.ppm_1g = 600000, /* 60% of whole GiBs are one 1G folio */
	.ppm_4k = 5000,   /* 0.5% of 2M slots fragmented into 4K */
	.seed = 1,
	.scatter_4k = true,
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool chance_ppm(uint64_t *s, uint32_t ppm)
{
	return splitmix64(s) % 1000000u < ppm;
}

static int folios_push(struct kho_memfd *m, size_t *cap, uint64_t off,
		       uint64_t pa, unsigned lg2)
{
	if (m->nr_folios == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct kho_memfd_folio *n =
			realloc(m->folios, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->folios = n;
		*cap = ncap;
	}
	m->folios[m->nr_folios++] =
		(struct kho_memfd_folio){ off, pa, lg2 };
	return 0;
}

static int memfd_build_runs(struct kho_memfd *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nr_folios; i++) {
		const struct kho_memfd_folio *f = &m->folios[i];
		if (i && f->size_lg2 == f[-1].size_lg2 &&
		    f->pa == f[-1].pa + (1ull << f->size_lg2))
			continue;
		n++;
	}
	kho_big_free(m->runs);
	/* Its own mapping: at 1 TiB 17 MB the exec would otherwise tear
	 * down page by page (kho/bigbuf.c). */
	m->runs = kho_big_calloc(n ? n : 1, sizeof(*m->runs));
	if (!m->runs)
		return -ENOMEM;
	m->nr_runs = 0;
	for (size_t i = 0; i < m->nr_folios; i++) {
		const struct kho_memfd_folio *f = &m->folios[i];
		struct kho_memfd_run *r = &m->runs[m->nr_runs - 1];
		if (m->nr_runs && f->size_lg2 == r->size_lg2 &&
		    f->pa == r->pa + (r->count << r->size_lg2)) {
			r->count++;
			continue;
		}
		m->runs[m->nr_runs++] = (struct kho_memfd_run){
			f->offset, f->pa, 1, f->size_lg2
		};
	}
	return 0;
}

static void memfd_free(struct kho_memfd *m)
{
	free(m->folios);
	kho_big_free(m->runs);
	free(m);
}

static void memfd_release_folios(struct kho_memfd *m)
{
	if (!m->runs) {
		/* Creation failed before the runs existed. */
		for (size_t i = 0; i < m->nr_folios; i++)
			kho_folio_free(&m->k->alloc, m->folios[i].pa);
		return;
	}
	for (size_t i = 0; i < m->nr_runs; i++)
		for (uint64_t c = 0; c < m->runs[i].count; c++)
			kho_folio_free(&m->k->alloc,
				       m->runs[i].pa +
					       (c << m->runs[i].size_lg2));
}

/* The per-folio index, built from the runs when first needed. */
static int memfd_index(struct kho_memfd *m)
{
	if (m->folios || !m->nr_folios)
		return 0;
	m->folios = malloc(m->nr_folios * sizeof(*m->folios));
	if (!m->folios)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < m->nr_runs; i++) {
		const struct kho_memfd_run *r = &m->runs[i];
		for (uint64_t c = 0; c < r->count; c++)
			m->folios[n++] = (struct kho_memfd_folio){
				r->offset + (c << r->size_lg2),
				r->pa + (c << r->size_lg2), r->size_lg2
			};
	}
	return 0;
}

int kho_memfd_create(struct kho *k, const char *name, uint64_t size,
		     const struct kho_memfd_mix *mix, struct kho_memfd **out)
{
	if (!name || !name[0] || strlen(name) >= KHO_NAME_MAX || size == 0 ||
	    size % KHO_2M)
		return -EINVAL;
	struct kho_memfd *m = ioh_fail("kho.alloc") ? NULL : calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->k = k;
	strcpy(m->name, name);
	m->size = size;
	uint64_t rng = mix->seed;
	size_t cap = 0;
	int err = 0;
	uint64_t pas[512];

	for (uint64_t off = 0; off < size && !err;) {
		uint64_t pa;
		if (off % KHO_1G == 0 && size - off >= KHO_1G &&
		    chance_ppm(&rng, mix->ppm_1g)) {
			err = kho_folio_alloc(&k->alloc, KHO_1G_LG2, &pa);
			if (!err)
				err = folios_push(m, &cap, off, pa, KHO_1G_LG2);
			off += KHO_1G;
			continue;
		}
		if (!chance_ppm(&rng, mix->ppm_4k)) {
			err = kho_folio_alloc(&k->alloc, KHO_2M_LG2, &pa);
			if (!err)
				err = folios_push(m, &cap, off, pa, KHO_2M_LG2);
			off += KHO_2M;
			continue;
		}
		size_t got = 0;
		for (; got < 512 && !err; got++)
			err = kho_folio_alloc(&k->alloc, KHO_4K_LG2, &pas[got]);
		if (err) {
			for (size_t i = 0; i + 1 < got; i++)
				kho_folio_free(&k->alloc, pas[i]);
			break;
		}
		for (size_t i = 511; mix->scatter_4k && i > 0; i--) {
			size_t j = splitmix64(&rng) % (i + 1);
			uint64_t t = pas[i];
			pas[i] = pas[j];
			pas[j] = t;
		}
		for (size_t i = 0; i < 512 && !err; i++)
			err = folios_push(m, &cap, off + i * KHO_4K, pas[i],
					  KHO_4K_LG2);
		off += KHO_2M;
	}
	if (!err)
		err = memfd_build_runs(m);
	if (err) {
		memfd_release_folios(m);
		memfd_free(m);
		return err;
	}
	*out = m;
	return 0;
}

void kho_memfd_forget(struct kho_memfd *m)
{
	memfd_free(m);
}

int kho_memfd_destroy(struct kho_memfd *m)
{
	if (m->preserved)
		return -EBUSY;
	memfd_release_folios(m);
	memfd_free(m);
	return 0;
}

const struct kho_memfd_folio *kho_memfd_lookup(const struct kho_memfd *m,
					       uint64_t offset)
{
	/* Memoised index: m is logically unchanged. */
	if (offset >= m->size || memfd_index((struct kho_memfd *)m))
		return NULL;
	size_t lo = 0, hi = m->nr_folios;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->folios[mid].offset <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return &m->folios[lo];
}

void kho_memfd_drop_index(struct kho_memfd *m)
{
	free(m->folios);
	m->folios = NULL;
}

void kho_memfd_census(const struct kho_memfd *m, uint64_t count[3])
{
	count[0] = count[1] = count[2] = 0;
	for (size_t i = 0; i < m->nr_runs; i++)
		count[kho_lg2_order(m->runs[i].size_lg2)] += m->runs[i].count;
}

/* ---- LUO object handler -------------------------------------------------- */

static bool shuffled_slot(const struct kho_memfd *m, size_t ri, size_t *end);

/*
 * Set or clear the preserved flag of runs [0, upto): a shuffled 4K slot
 * (its pages a permutation of one 2 MiB block) in one call over the
 * block, not one per page, so preserving costs O(runs of larger folios +
 * fragmented slots). *failed: the run whose call failed.
 */
static int memfd_flag_runs(struct kho *k, struct kho_memfd *m,
			   size_t upto, unsigned set, unsigned clear,
			   size_t *failed)
{
	size_t end;
	m->ser_runs = m->ser_slots = 0;
	for (size_t i = 0; i < upto;) {
		const struct kho_memfd_run *r = &m->runs[i];
		int err;
		if (shuffled_slot(m, i, &end) && end <= upto) {
			m->ser_slots++;
			err = kho_folio_run_flags(&k->alloc, r->pa & ~(KHO_2M - 1),
						  KHO_4K_LG2, KHO_2M / KHO_4K, 0,
						  set, clear);
		} else {
			m->ser_runs++;
			end = i + 1;
			err = kho_folio_run_flags(&k->alloc, r->pa, r->size_lg2,
						  r->count, 0, set, clear);
		}
		if (err) {
			*failed = i;
			return err;
		}
		i = end;
	}
	return 0;
}

static void memfd_unpreserve_runs(struct kho *k, struct kho_memfd *m,
				  size_t upto)
{
	size_t failed;
	memfd_flag_runs(k, m, upto, 0, KHO_FOLIO_PRESERVED, &failed);
}

static int memfd_preserve(struct kho *k, void *obj)
{
	struct kho_memfd *m = obj;
	if (m->preserved)
		return -EBUSY;
	size_t failed;
	int err = memfd_flag_runs(k, m, m->nr_runs, KHO_FOLIO_PRESERVED, 0,
				  &failed);
	if (err) {
		memfd_unpreserve_runs(k, m, failed);
		return err;
	}
	m->preserved = true;
	return 0;
}

static void memfd_unpreserve(struct kho *k, void *obj)
{
	struct kho_memfd *m = obj;
	memfd_unpreserve_runs(k, m, m->nr_runs);
	m->preserved = false;
}

#define MEMFD_REC 24u /* u64 offset, u64 pa, u64 count << 8 | size_lg2 */

/*
 * Version 2 adds "slots-4k": a 2 MiB file slot whose 4K folios all lie,
 * shuffled, in one 2 MiB physical block (what fragmentation leaves)
 * is one record of the block and 512 page indices, instead of up to 512
 * runs: the blob, its validation and the claims at boot then grow with
 * fragmented slots, not with their pages.
 *
 *   folios:    { u64 offset, u64 pa, u64 count << 8 | size_lg2 } per run
 *   slots-4k:  { u64 offset, u64 block pa, u16 page[512] } per slot,
 *              page[i]: 4K page of the block at file offset + i * 4K
 */
#define MEMFD_SLOT_PAGES 512u
#define MEMFD_SLOT_REC (16u + 2u * MEMFD_SLOT_PAGES)
/* A slot of fewer runs is smaller written as its runs. */
#define MEMFD_SLOT_MIN_RUNS 44u

/* Whether the runs from ri cover a 2 MiB file slot with 4K folios all in
 * one 2 MiB block; *end: the first run after the slot. */
static bool shuffled_slot(const struct kho_memfd *m, size_t ri, size_t *end)
{
	const struct kho_memfd_run *r = &m->runs[ri];
	if (r->offset % KHO_2M || r->size_lg2 != KHO_4K_LG2)
		return false;
	uint64_t blk = r->pa & ~(KHO_2M - 1), off = r->offset;
	size_t i = ri;
	for (; i < m->nr_runs && off < r->offset + KHO_2M; i++) {
		const struct kho_memfd_run *q = &m->runs[i];
		uint64_t last = q->pa + (q->count << KHO_4K_LG2) - 1;
		if (q->size_lg2 != KHO_4K_LG2 || q->offset != off ||
		    (q->pa & ~(KHO_2M - 1)) != blk || (last & ~(KHO_2M - 1)) != blk)
			return false;
		off += q->count << KHO_4K_LG2;
	}
	if (off != r->offset + KHO_2M || i - ri < MEMFD_SLOT_MIN_RUNS)
		return false;
	*end = i;
	return true;
}

/* How many records of each kind: runs (v1's) and shuffled slots, as
 * preserving counted them (the runs do not change once created). */
static void memfd_count_recs(const struct kho_memfd *m, size_t *nr, size_t *ns)
{
	*nr = m->ser_runs;
	*ns = m->ser_slots;
}

static size_t memfd_blob_bytes(void *obj)
{
	size_t nr, ns;
	memfd_count_recs(obj, &nr, &ns);
	return nr * MEMFD_REC + ns * MEMFD_SLOT_REC;
}

static int memfd_serialize(struct kho *k, void *obj, void *fdt)
{
	struct kho_memfd *m = obj;
	(void)k;
	size_t nr, ns, end;
	memfd_count_recs(m, &nr, &ns);
	void *rbuf, *sbuf;
	if (kho_fdt_put_u64(fdt, "size", m->size) ||
	    kho_fdt_put_u64(fdt, "nr-folios", m->nr_folios) ||
	    fdt_property_placeholder(fdt, "folios", (int)(nr * MEMFD_REC), &rbuf) ||
	    (ns && fdt_property_placeholder(fdt, "slots-4k",
					    (int)(ns * MEMFD_SLOT_REC), &sbuf)))
		return -ENOSPC;
	uint8_t *d = rbuf, *sd = ns ? sbuf : NULL;
	size_t wr = 0, ws = 0;
	for (size_t i = 0; i < m->nr_runs;) {
		if (shuffled_slot(m, i, &end)) {
			/* Never past what was counted and reserved. */
			if (ws++ == ns)
				return -EINVAL;
			uint64_t blk = m->runs[i].pa & ~(KHO_2M - 1);
			kho_be64_st(sd, m->runs[i].offset);
			kho_be64_st(sd + 8, blk);
			uint8_t *pg = sd + 16;
			for (; i < end; i++) {
				const struct kho_memfd_run *q = &m->runs[i];
				for (uint64_t c = 0; c < q->count; c++, pg += 2) {
					uint64_t idx = (q->pa - blk) / KHO_4K + c;
					pg[0] = (uint8_t)(idx >> 8);
					pg[1] = (uint8_t)idx;
				}
			}
			sd += MEMFD_SLOT_REC;
			continue;
		}
		if (wr++ == nr)
			return -EINVAL;
		const struct kho_memfd_run *r = &m->runs[i++];
		kho_be64_st(d, r->offset);
		kho_be64_st(d + 8, r->pa);
		kho_be64_st(d + 16, r->count << 8 | r->size_lg2);
		d += MEMFD_REC;
	}
	return wr == nr && ws == ns ? 0 : -EINVAL;
}

static int memfd_freeze(struct kho *k, void *obj)
{
	(void)k;
	((struct kho_memfd *)obj)->frozen = true;
	return 0;
}

static void memfd_unfreeze(struct kho *k, void *obj)
{
	(void)k;
	((struct kho_memfd *)obj)->frozen = false;
}

const struct kho_obj_ops kho_memfd_ops = {
	.subsys = KHO_MEMFD_SUBSYS,
	.preserve = memfd_preserve,
	.unpreserve = memfd_unpreserve,
	.serialize = memfd_serialize,
	.freeze = memfd_freeze,
	.unfreeze = memfd_unfreeze,
	.blob_bytes = memfd_blob_bytes,
};

int kho_memfd_preserve(struct luo_session *s, const char *name,
		       struct kho_memfd *m)
{
	return luo_preserve(s, name, &kho_memfd_ops, m);
}

/* Decoded run record; -EINVAL when malformed. */
static int memfd_rec(const uint8_t *d, struct kho_memfd_run *r)
{
	uint64_t cs = kho_be64_ld(d + 16);
	r->offset = kho_be64_ld(d);
	r->pa = kho_be64_ld(d + 8);
	r->count = cs >> 8;
	r->size_lg2 = (uint32_t)(cs & 0xff);
	if (kho_lg2_order(r->size_lg2) == KHO_NR_ORDERS || r->count == 0 ||
	    r->count > (KHO_RAM_MAX >> r->size_lg2))
		return -EINVAL;
	return 0;
}

static unsigned int slot_page(const uint8_t *rec, unsigned int i)
{
	return (unsigned int)rec[16 + 2 * i] << 8 | rec[17 + 2 * i];
}

/* A slot record: aligned, inside the file, a permutation of its block. */
static int memfd_validate_slot(struct kho_vctx *v, const uint8_t *rec,
			       size_t i, uint64_t off, uint64_t size)
{
	uint64_t blk = kho_be64_ld(rec + 8);
	uint64_t seen[MEMFD_SLOT_PAGES / 64] = { 0 };
	if (size - off < KHO_2M || blk % KHO_2M)
		return kho_vctx_fail(v, "slots-4k[%zu]: block 0x%" PRIx64
				     " misaligned or slot past the file size", i, blk);
	/*
	 * 512 indices below 512 that set all 512 bits are a permutation:
	 * one pass without a branch per page (at 1 TiB, 530 K pages inside
	 * the blackout); only a bad slot is walked again to name its page.
	 */
	unsigned int any = 0;
	for (unsigned int p = 0; p < MEMFD_SLOT_PAGES; p++) {
		unsigned int idx = slot_page(rec, p);
		any |= idx;
		seen[(idx / 64) % (MEMFD_SLOT_PAGES / 64)] |= 1ull << (idx % 64);
	}
	uint64_t all = ~0ull;
	for (unsigned int w = 0; w < MEMFD_SLOT_PAGES / 64; w++)
		all &= seen[w];
	if (any >= MEMFD_SLOT_PAGES || all != ~0ull) {
		memset(seen, 0, sizeof(seen));
		for (unsigned int p = 0; p < MEMFD_SLOT_PAGES; p++) {
			unsigned int idx = slot_page(rec, p);
			if (idx >= MEMFD_SLOT_PAGES ||
			    (seen[idx / 64] >> (idx % 64) & 1))
				return kho_vctx_fail(v, "slots-4k[%zu]: page %u of "
						     "the block is out of range "
						     "or used twice", i, idx);
			seen[idx / 64] |= 1ull << (idx % 64);
		}
	}
	return kho_vctx_own(v, blk, KHO_4K_LG2, MEMFD_SLOT_PAGES);
}

static int memfd_get_size(const void *fdt, int node, uint64_t *size)
{
	if (kho_fdt_get_u64(fdt, node, "size", size) || *size == 0 ||
	    *size % KHO_2M || *size > KHO_RAM_MAX)
		return -EINVAL;
	return 0;
}

int kho_memfd_vctx_size(const struct kho_vctx *v, const void *fdt,
			const char *name, uint64_t *size)
{
	int node;
	int err = kho_vctx_find_obj(v, KHO_MEMFD_SUBSYS, name, &node, NULL);
	return err ? err : memfd_get_size(fdt, node, size);
}

static int memfd_validate(struct kho_vctx *v, const void *fdt, int node,
			  uint32_t version)
{
	uint64_t size, nr_folios, off = 0, counted = 0;
	int len, slen = 0, err;

	if (memfd_get_size(fdt, node, &size))
		return kho_vctx_fail(v, "missing or bad 'size'");
	if (kho_fdt_get_u64(fdt, node, "nr-folios", &nr_folios))
		return kho_vctx_fail(v, "missing or bad 'nr-folios'");
	const uint8_t *d = fdt_getprop(fdt, node, "folios", &len);
	if (!d || len < 0 || len % MEMFD_REC)
		return kho_vctx_fail(v, "missing or malformed 'folios'");
	const uint8_t *sd = fdt_getprop(fdt, node, "slots-4k", &slen);
	if (sd && version < 2)
		return kho_vctx_fail(v, "'slots-4k' in a version %u node", version);
	if (sd && (slen <= 0 || slen % MEMFD_SLOT_REC))
		return kho_vctx_fail(v, "malformed 'slots-4k'");
	size_t nr = (size_t)len / MEMFD_REC, ns = sd ? (size_t)slen / MEMFD_SLOT_REC : 0;
	/* Runs and slots interleave in file order, together covering it. */
	for (size_t ri = 0, si = 0; ri < nr || si < ns;) {
		if (si < ns && kho_be64_ld(sd + si * MEMFD_SLOT_REC) == off) {
			err = memfd_validate_slot(v, sd + si * MEMFD_SLOT_REC, si,
						  off, size);
			if (err)
				return err;
			off += KHO_2M;
			counted += MEMFD_SLOT_PAGES;
			si++;
			continue;
		}
		if (ri == nr)
			return kho_vctx_fail(v, "slots-4k[%zu]: offset 0x%" PRIx64
					     " is not 0x%" PRIx64, si,
					     kho_be64_ld(sd + si * MEMFD_SLOT_REC), off);
		struct kho_memfd_run r;
		if (memfd_rec(d + ri * MEMFD_REC, &r))
			return kho_vctx_fail(v, "folios[%zu]: bad size or count",
					     ri);
		if (r.offset != off || off % (1ull << r.size_lg2))
			return kho_vctx_fail(v,
					     "folios[%zu]: offset 0x%" PRIx64
					     " is not 0x%" PRIx64
					     " or not aligned to its folio",
					     ri, r.offset, off);
		if (r.count > (size - off) >> r.size_lg2)
			return kho_vctx_fail(v,
					     "folios[%zu]: runs past the file size "
					     "0x%" PRIx64,
					     ri, size);
		err = kho_vctx_own(v, r.pa, r.size_lg2, r.count);
		if (err)
			return err;
		off += r.count << r.size_lg2;
		counted += r.count;
		ri++;
	}
	if (off != size)
		return kho_vctx_fail(v,
				     "folios cover 0x%" PRIx64
				     " bytes of a 0x%" PRIx64 " byte file",
				     off, size);
	if (counted != nr_folios)
		return kho_vctx_fail(v,
				     "nr-folios says %" PRIu64 ", runs hold %" PRIu64,
				     nr_folios, counted);
	return 0;
}

static void memfd_describe(const void *fdt, int node, uint32_t version,
			   char *buf, size_t len)
{
	uint64_t size = 0, n[3] = { 0 };
	int plen = 0;
	(void)version;
	kho_fdt_get_u64(fdt, node, "size", &size);
	const uint8_t *d = fdt_getprop(fdt, node, "folios", &plen);
	size_t runs = d && plen > 0 ? (size_t)plen / MEMFD_REC : 0;
	for (size_t i = 0; i < runs; i++) {
		struct kho_memfd_run r;
		if (!memfd_rec(d + i * MEMFD_REC, &r))
			n[kho_lg2_order(r.size_lg2)] += r.count;
	}
	int slen = 0;
	size_t slots = fdt_getprop(fdt, node, "slots-4k", &slen) && slen > 0 ?
		       (size_t)slen / MEMFD_SLOT_REC : 0;
	n[KHO_ORDER_4K] += slots * MEMFD_SLOT_PAGES;
	snprintf(buf, len,
		 "guest memory file of %" PRIu64 " MiB; folios: %" PRIu64
		 " x 1 GiB, %" PRIu64 " x 2 MiB, %" PRIu64
		 " x 4 KiB, in %zu physically contiguous runs and %zu "
		 "shuffled 2 MiB slots",
		 size >> 20, n[2], n[1], n[0], runs, slots);
}

const struct kho_subsys kho_memfd_subsys = {
	.name = KHO_MEMFD_SUBSYS,
	.version = KHO_MEMFD_VERSION,
	.min_version = 1,
	.validate_obj = memfd_validate,
	.describe = memfd_describe,
};

/* Back to INCOMING: what a failed retrieval had claimed. */
static void memfd_unclaim(struct kho *k, const struct kho_memfd_run *claims,
			  size_t n)
{
	for (size_t j = 0; j < n; j++)
		kho_folio_run_flags(&k->alloc, claims[j].pa, claims[j].size_lg2,
				    claims[j].count, 0, KHO_FOLIO_INCOMING, 0);
}

/* A retrieval that failed leaves the object to be retrieved again. */
static void unretrieve(struct kho *k, int node)
{
	for (size_t i = 0; i < k->in.nr_objs; i++)
		if (k->in.objs[i].node == node)
			k->in.objs[i].retrieved = false;
}

int kho_memfd_retrieve(struct kho *k, const char *session, const char *name,
		       struct kho_memfd **out)
{
	int node, len, slen = 0, err;
	err = luo_retrieve(k, session, name, KHO_MEMFD_SUBSYS, &node);
	if (err)
		return err;
	const void *fdt = k->in.fdt;
	uint64_t size, nr_folios;
	const uint8_t *d = fdt_getprop(fdt, node, "folios", &len);
	const uint8_t *sd = fdt_getprop(fdt, node, "slots-4k", &slen);
	if (kho_fdt_get_u64(fdt, node, "size", &size) ||
	    kho_fdt_get_u64(fdt, node, "nr-folios", &nr_folios) || !d)
		return -EINVAL; /* validated at boot: cannot happen */
	size_t nr = (size_t)len / MEMFD_REC;
	size_t ns = sd && slen > 0 ? (size_t)slen / MEMFD_SLOT_REC : 0;
	struct kho_memfd *m = ioh_fail("kho.alloc") ? NULL : calloc(1, sizeof(*m));
	/* Claims: one per run, one per slot's block. */
	struct kho_memfd_run *claims = calloc(nr + ns + 1, sizeof(*claims));
	if (!m || !claims) {
		free(claims);
		free(m);
		unretrieve(k, node);
		return -ENOMEM;
	}
	m->k = k;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->size = size;
	m->nr_folios = nr_folios;
	m->runs = kho_big_calloc(nr + ns * MEMFD_SLOT_PAGES + 1,
				 sizeof(*m->runs));
	if (!m->runs) {
		free(claims);
		memfd_free(m);
		unretrieve(k, node);
		return -ENOMEM;
	}
	size_t nc = 0;
	uint64_t off = 0;
	for (size_t ri = 0, si = 0; ri < nr || si < ns;) {
		struct kho_memfd_run c;
		if (si < ns && kho_be64_ld(sd + si * MEMFD_SLOT_REC) == off) {
			const uint8_t *rec = sd + si++ * MEMFD_SLOT_REC;
			uint64_t blk = kho_be64_ld(rec + 8);
			c = (struct kho_memfd_run){ off, blk, MEMFD_SLOT_PAGES,
						    KHO_4K_LG2 };
			/* Its pages as runs, merging those in block order. */
			for (unsigned int p = 0; p < MEMFD_SLOT_PAGES; p++) {
				uint64_t pa = blk + (uint64_t)slot_page(rec, p) * KHO_4K;
				struct kho_memfd_run *last =
					p ? &m->runs[m->nr_runs - 1] : NULL;
				if (last && last->pa + last->count * KHO_4K == pa)
					last->count++;
				else
					m->runs[m->nr_runs++] = (struct kho_memfd_run){
						off + p * KHO_4K, pa, 1, KHO_4K_LG2 };
			}
			off += KHO_2M;
		} else {
			memfd_rec(d + ri++ * MEMFD_REC, &c);
			m->runs[m->nr_runs++] = c;
			off += c.count << c.size_lg2;
		}
		err = kho_claim_run(k, c.pa, c.size_lg2, c.count);
		if (err) {
			memfd_unclaim(k, claims, nc);
			free(claims);
			memfd_free(m);
			unretrieve(k, node);
			return err;
		}
		claims[nc++] = c;
	}
	free(claims);
	*out = m;
	return 0;
}

uint64_t kho_memfd_stamp_value(const char *name, uint64_t offset)
{
	return kho_csum(name, strlen(name)) ^ (offset * 0x9e3779b97f4a7c15ull) ^
	       0x5354414d50ull;
}

/*
 * Every step-th folio in file order, step = ceil(nr_folios / max_folios):
 * calls fn on each, O(runs + folios visited). 1 when fn failed.
 */
static uint64_t stamp_walk(const struct kho_memfd *m, uint64_t max_folios,
			   bool (*fn)(const struct kho_memfd *m, uint64_t off,
				      uint64_t pa, uint64_t len),
			   uint64_t *bad)
{
	uint64_t total = 0;
	for (size_t i = 0; i < m->nr_runs; i++)
		total += m->runs[i].count;
	uint64_t step = max_folios && total > max_folios ?
			(total + max_folios - 1) / max_folios : 1;
	uint64_t first = 0, visited = 0; /* folio index of run i's first */
	for (size_t i = 0; i < m->nr_runs; i++) {
		const struct kho_memfd_run *r = &m->runs[i];
		uint64_t len = 1ull << r->size_lg2;
		for (uint64_t c = (step - first % step) % step; c < r->count;
		     c += step) {
			visited++;
			if (!fn(m, r->offset + c * len, r->pa + c * len, len))
				(*bad)++;
		}
		first += r->count;
	}
	return visited;
}

static bool stamp_one(const struct kho_memfd *m, uint64_t off, uint64_t pa,
		      uint64_t len)
{
	uint64_t *w = kho_va(m->k, pa, len);
	if (!w)
		return false;
	w[0] = kho_memfd_stamp_value(m->name, off);
	w[len / 8 - 1] = ~w[0];
	return true;
}

static bool stamp_intact(const struct kho_memfd *m, uint64_t off, uint64_t pa,
			 uint64_t len)
{
	const uint64_t *w = kho_va(m->k, pa, len);
	uint64_t want = kho_memfd_stamp_value(m->name, off);
	return w && w[0] == want && w[len / 8 - 1] == ~want;
}

int kho_memfd_stamp_some(struct kho_memfd *m, uint64_t max_folios)
{
	uint64_t bad = 0;
	stamp_walk(m, max_folios, stamp_one, &bad);
	return bad ? -ENODEV : 0;
}

uint64_t kho_memfd_check_stamp_some(const struct kho_memfd *m,
				    uint64_t max_folios)
{
	uint64_t bad = 0;
	stamp_walk(m, max_folios, stamp_intact, &bad);
	return bad;
}

int kho_memfd_stamp(struct kho_memfd *m)
{
	return kho_memfd_stamp_some(m, 0);
}

uint64_t kho_memfd_check_stamp(const struct kho_memfd *m)
{
	return kho_memfd_check_stamp_some(m, 0);
}
