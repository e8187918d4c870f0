// SPDX-License-Identifier: MIT
/*
 * Bad input in the iommu and iommufd nodes of a handover: every field a
 * booting kernel would trip over later is refused at validation, with a
 * message naming the object and the field, before anything is touched
 * (docs/liveupdate.md). The blob is tests/lib/iommufd_blob.h's, damaged
 * with libfdt; the handlers are the real ones (iommufd_kho_register).
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "abi/hw_abi_ste.h"
#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "lu/lu.h"
#include "tests/lib/iommufd_blob.h"
#include "tests/lib/kho_fixture.h"

static void *good;
static size_t good_size;

static int group_setup(void **state)
{
	(void)state;
	if (iommufd_kho_register())
		return -1;
	return iommufd_blob_build(&good, &good_size);
}

static int group_teardown(void **state)
{
	(void)state;
	free(good);
	return 0;
}

static void *copy_good(void)
{
	void *b = iommufd_blob_copy(good, good_size);
	assert_non_null(b);
	return b;
}

static int node(void *b, const char *path)
{
	int n = fdt_path_offset(b, path);
	assert_true(n >= 0);
	return n;
}

/* Validate b (packed, then freed); expect refusal with each of msgs. */
static void expect_refused(void *b, const char *const *msgs, size_t n)
{
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(fdt_pack(b), 0);
	int rc = kho_blob_validate(b, fdt_totalsize(b), KHO_FIX_RAM, &p, &err);
	if (rc == 0)
		fail_msg("accepted, expected refusal with '%s'", msgs[0]);
	assert_int_equal(rc, -EINVAL);
	for (size_t i = 0; i < n; i++)
		if (!strstr(err.msg, msgs[i]))
			fail_msg("reason '%s' lacks '%s'", err.msg, msgs[i]);
	free(b);
}

/* b, packed, validates; freed. */
static void expect_read(void *b)
{
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(fdt_pack(b), 0);
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), KHO_FIX_RAM,
					   &p, &err), 0);
	kho_parsed_free(&p);
	free(b);
}

#define REFUSED(b, ...)                                                  \
	do {                                                             \
		static const char *const m_[] = { __VA_ARGS__ };         \
		expect_refused(b, m_, sizeof(m_) / sizeof(m_[0]));       \
	} while (0)

static void test_good_blob_is_valid(void **state)
{
	(void)state;
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(good, good_size, KHO_FIX_RAM, &p,
					   &err),
			 0);
	assert_int_equal(p.nr_sessions, 4);
	assert_int_equal(p.nr_objs, 5);
	kho_parsed_free(&p);
}

/*
 * Golden iommufd blobs (tests/data/iommufd-v*.dtb, tests/lib/iommufd_blob's
 * objects as each version of the writer left them): every version this
 * reader claims to read must still be accepted and give the same records;
 * the current version's file is what the builder writes today, byte for
 * byte. Version 1 knows no ATS: its devices come back without it.
 * To (re)write the current file on purpose: IOH_KHO_GOLDEN_WRITE=1.
 */
struct iommufd_golden {
	const char *file;
	uint32_t version;
	uint32_t unit_version;  /* the iommu node's */
	unsigned int nr_units;  /* unit version 1: one */
	uint32_t ats_mask; /* bit per device of the hwpt */
	unsigned int nr_nested; /* device 0 nested from version 3 on */
	unsigned int nr_pasids; /* device 1's PASID 3 from version 4 on */
};

static const struct iommufd_golden iommufd_goldens[] = {
	{ "iommufd-v1.dtb", 1, 1, 1, 0, 0, 0 },
	{ "iommufd-v2.dtb", 2, 1, 1, 1u << 1, 0, 0 },
	{ "iommufd-v3.dtb", 3, 1, 1, 1u << 1, 1, 0 },
	{ "iommufd-v3-unit2.dtb", 3, 2, IOMMUFD_BLOB_UNITS, 1u << 1, 1, 0 },
	{ "iommufd-v4.dtb", 4, 1, 1, 1u << 1, 1, 1 },
	{ "iommufd-v4-unit2.dtb", 4, 2, IOMMUFD_BLOB_UNITS, 1u << 1, 1, 1 },
};

static void *golden_read(const char *file, size_t *size)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/data/%s", kho_test_srcdir(), file);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot read %s", path);
	void *b = malloc(KHO_FDT_MAX);
	assert_non_null(b);
	*size = fread(b, 1, KHO_FDT_MAX, f);
	fclose(f);
	return b;
}

static void test_golden_blobs_still_read(void **state)
{
	(void)state;
	size_t n = sizeof(iommufd_goldens) / sizeof(iommufd_goldens[0]);
	const struct iommufd_golden *cur = &iommufd_goldens[n - 1];
	if (getenv("IOH_KHO_GOLDEN_WRITE")) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/tests/data/%s",
			 kho_test_srcdir(), cur->file);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(good, 1, good_size, f), good_size);
		fclose(f);
	}
	for (size_t i = 0; i < n; i++) {
		const struct iommufd_golden *g = &iommufd_goldens[i];
		size_t size;
		void *b = golden_read(g->file, &size);
		if (g == cur) {
			/* The writer of this version still writes it (but
			 * for the release it names in 'producer'). */
			size_t cs, gs;
			void *c = kho_test_canon(b, &gs);
			void *w = kho_test_canon(good, &cs);
			assert_non_null(c);
			assert_non_null(w);
			assert_int_equal(gs, cs);
			assert_memory_equal(c, w, cs);
			free(c);
			free(w);
		}
		struct kho_parsed p;
		struct kho_err err = { { 0 } };
		if (kho_blob_validate(b, size, KHO_FIX_RAM, &p, &err))
			fail_msg("%s refused: %s", g->file, err.msg);
		unsigned int seen = 0;
		for (size_t s = 0; s < p.nr_subsys; s++) {
			if (!p.subsys[s].ss)
				continue;
			if (!strcmp(p.subsys[s].ss->name, IOMMUFD_KHO_IOMMUFD)) {
				assert_int_equal(p.subsys[s].version, g->version);
				seen++;
			}
			if (!strcmp(p.subsys[s].ss->name, IOMMUFD_KHO_IOMMU)) {
				assert_int_equal(p.subsys[s].version,
						 g->unit_version);
				seen++;
			}
		}
		assert_int_equal(seen, 2);
		/* Unit version 1 is one unit, every device behind it. */
		struct iommu_unit unit;
		iommufd_parse_unit(b, node(b, IOMMUFD_BLOB_UNIT), &unit);
		assert_int_equal(unit.nr_units, g->nr_units);
		assert_int_equal(unit.strtab_log2, 6);
		for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
			assert_int_equal(unit.dev_unit[d], d % g->nr_units);
		struct iommufd_hwpt_rec rec;
		assert_int_equal(iommufd_parse_hwpt(b, node(b, IOMMUFD_BLOB_HWPT),
						    &rec), 0);
		assert_int_equal(rec.nr_devs, 2);
		assert_int_equal(rec.devs[0], 0);
		assert_int_equal(rec.devs[1], 1);
		assert_int_equal(rec.ats_mask, g->ats_mask);
		assert_int_equal(rec.nr_nested, g->nr_nested);
		assert_int_equal(iommufd_rec_nested(&rec, 0) != NULL,
				 g->nr_nested > 0);
		assert_null(iommufd_rec_nested(&rec, 1));
		if (g->nr_nested) {
			const struct iommufd_nested_rec *nr =
				iommufd_rec_nested(&rec, 0);
			assert_int_equal(nr->fmt, PT_FMT_ARM_S1);
			assert_int_equal(nr->va_bits, 48);
			assert_int_equal(nr->root, 1ull << 30);
			assert_int_equal(nr->did, 5);
			/* The entry the device is expected to have. */
			uint64_t ste[HW_STE_WORDS];
			iommufd_rec_ste(&rec, 0, ste);
			assert_int_equal(HW_FIELD_GET(HW_STE0_MODE, ste[0]),
					 HW_STE_MODE_NESTED);
			assert_int_equal(ste[1] & HW_STE1_ROOT, 1ull << 30);
			assert_int_equal(ste[3] & HW_STE3_S2ROOT, rec.root);
		}
		assert_int_equal(rec.nr_pasids, g->nr_pasids);
		assert_int_equal(rec.nr_cdtabs, g->nr_pasids);
		if (g->nr_pasids) {
			assert_int_equal(rec.pasids[0].sid, 1);
			assert_int_equal(rec.pasids[0].pasid, 3);
			assert_int_equal(rec.cdtabs[0].sid, 1);
			assert_int_equal(rec.cdtabs[0].pa % 4096, 0);
		}
		assert_int_equal(rec.did, 1);
		free(rec.pages);
		kho_parsed_free(&p);
		free(b);
	}
}

/* What a version-3 writer did not write: no PASIDs, no CD tables. */
static void drop_v4(void *b)
{
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "pasids");
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "cd-tables");
}

/* Version 2's ATS devices: a subset of the devices, each once; version 1
 * has none to name. */
static void test_hwpt_ats_devices(void **state)
{
	(void)state;
	static const uint64_t three[1] = { 3 }, twice[2] = { 1, 1 };
	void *b = copy_good();
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "ats-devices", "\0\0\0",
		    3);
	REFUSED(b, "hwpt 2", "malformed 'ats-devices'");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "ats-devices");
	REFUSED(b, "hwpt 2", "missing or malformed 'ats-devices'");
	b = copy_good();
	uint64_t be = __builtin_bswap64(three[0]);
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "ats-devices", &be, 8);
	REFUSED(b, "hwpt 2", "ATS device 3 is not one of its 'devices'");
	b = copy_good();
	uint64_t be2[2] = { __builtin_bswap64(twice[0]),
			    __builtin_bswap64(twice[1]) };
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "ats-devices", be2, 16);
	REFUSED(b, "hwpt 2", "ATS device 1 named twice");
	/* A version-1 node that names ATS devices is not a version-1 node. */
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v1");
	REFUSED(b, "hwpt 2", "'ats-devices' in a version-1 node");
	/* Without them it is one, and still read. */
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v1");
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "ats-devices");
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested");
	drop_v4(b);
	expect_read(b);
}

/* Set hwpt's "nested" to n records of five words. */
static void set_nested(void *b, const uint64_t *w, unsigned int n)
{
	uint64_t be[2 * 5];
	for (unsigned int i = 0; i < 5 * n; i++)
		be[i] = __builtin_bswap64(w[i]);
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested",
				     be, 40 * n), 0);
}

/*
 * Version 3's nested devices: one record each of "devices", once, a
 * stage 1 that can nest over the table, its root an IPA inside stage 2,
 * a DID; versions 1 and 2 have none to name, and are read without.
 */
static void test_hwpt_nested(void **state)
{
	(void)state;
	const uint64_t S1 = PT_FMT_ARM_S1, G = 1ull << 30;
	void *b = copy_good();
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested", "\0\0\0", 3);
	REFUSED(b, "hwpt 2", "missing or malformed 'nested'");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested");
	REFUSED(b, "hwpt 2", "missing or malformed 'nested'");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 3, S1, 48, G, 5 }, 1);
	REFUSED(b, "hwpt 2", "nested device 3 is not one of its 'devices'");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 48, G, 5, 0, S1, 48, G, 6 }, 2);
	REFUSED(b, "hwpt 2", "nested device 0 named twice");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, PT_FMT_VTD_SS, 48, G, 5 }, 1);
	REFUSED(b, "hwpt 2", "nested device 0", "cannot nest",
		"ARM stage-1");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, PT_FMT_COUNT, 48, G, 5 }, 1);
	REFUSED(b, "hwpt 2", "nested device 0", "cannot nest");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 60, G, 5 }, 1);
	REFUSED(b, "hwpt 2", "nested device 0", "bad stage-1 va-bits 60");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 48, G + 8, 5 }, 1);
	REFUSED(b, "hwpt 2", "stage-1 root IPA 0x40000008 misaligned");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 48, 1ull << 48, 5 }, 1);
	REFUSED(b, "hwpt 2", "beyond the 48-bit stage 2");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 48, G, 0 }, 1);
	REFUSED(b, "hwpt 2", "nested device 0", "bad stage-1 did 0x0");
	b = copy_good();
	set_nested(b, (const uint64_t[]){ 0, S1, 48, G, 0x10000 }, 1);
	REFUSED(b, "hwpt 2", "bad stage-1 did 0x10000");
	/* A stage 2 that cannot be a nesting parent. */
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "format", PT_FMT_VTD_SS);
	REFUSED(b, "hwpt 2", "nested device 0", "nesting parent");
	/* A version-2 node that names nested devices is not a version-2
	 * node; without them it is one, and still read. */
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v2");
	REFUSED(b, "hwpt 2", "'nested' in a version-2 node");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v2");
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested");
	drop_v4(b);
	expect_read(b);
	/* An empty list is a version-3 hwpt without nested devices. */
	b = copy_good();
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested",
				     NULL, 0), 0);
	expect_read(b);
}

/* Set hwpt's property name to n records of two words. */
static void set_pairs(void *b, const char *name, const uint64_t *w,
		      unsigned int n)
{
	uint64_t be[2 * 4];
	for (unsigned int i = 0; i < 2 * n; i++)
		be[i] = __builtin_bswap64(w[i]);
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), name, be,
				     16 * n), 0);
}

static uint64_t blob_cdtab(void)
{
	struct iommufd_hwpt_rec rec;
	assert_int_equal(iommufd_parse_hwpt(good, node(good, IOMMUFD_BLOB_HWPT),
					    &rec), 0);
	free(rec.pages);
	assert_int_equal(rec.nr_cdtabs, 1);
	return rec.cdtabs[0].pa;
}

/*
 * Version 4's PASIDs: records { sid, pasid } of a PASID in range, once,
 * whose device has a CD table; CD tables { sid, pa } of a listed, not
 * nested device, once, an aligned preserved page nobody else owns, each
 * serving a PASID. Versions 1 to 3 have none, and are read without.
 */
static void test_hwpt_pasids(void **state)
{
	(void)state;
	const uint64_t cd = blob_cdtab();
	void *b = copy_good();
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "pasids", "\0\0\0", 3);
	REFUSED(b, "hwpt 2", "missing or malformed 'pasids'");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_HWPT), "cd-tables");
	REFUSED(b, "hwpt 2", "missing or malformed 'cd-tables'");
	b = copy_good();
	set_pairs(b, "pasids", (const uint64_t[]){ 1, 0 }, 1);
	REFUSED(b, "hwpt 2", "device 1: bad PASID 0 (1 to 15)");
	b = copy_good();
	set_pairs(b, "pasids", (const uint64_t[]){ 1, 16 }, 1);
	REFUSED(b, "hwpt 2", "bad PASID 16");
	b = copy_good();
	set_pairs(b, "pasids", (const uint64_t[]){ 16, 1 }, 1);
	REFUSED(b, "hwpt 2", "device 16 out of range");
	b = copy_good();
	set_pairs(b, "pasids", (const uint64_t[]){ 1, 3, 1, 3 }, 2);
	REFUSED(b, "hwpt 2", "device 1 PASID 3 named twice");
	/* A PASID of a device without a CD table. */
	b = copy_good();
	set_pairs(b, "pasids", (const uint64_t[]){ 1, 3, 0, 2 }, 2);
	REFUSED(b, "hwpt 2", "device 0 PASID 2", "no CD table");
	/* A CD table serving no PASID. */
	b = copy_good();
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "pasids",
				     NULL, 0), 0);
	REFUSED(b, "device 1 has a CD table but no PASID record");
	b = copy_good();
	set_pairs(b, "cd-tables", (const uint64_t[]){ 3, cd }, 1);
	REFUSED(b, "hwpt 2", "CD table of device 3", "not one of its 'devices'");
	b = copy_good();
	set_pairs(b, "cd-tables", (const uint64_t[]){ 0, cd }, 1);
	REFUSED(b, "hwpt 2", "device 0 is nested and has a CD table");
	b = copy_good();
	set_pairs(b, "cd-tables", (const uint64_t[]){ 1, cd + 8 }, 1);
	REFUSED(b, "hwpt 2", "CD table 0x", "misaligned");
	/* Not preserved memory, or memory another object owns. */
	b = copy_good();
	set_pairs(b, "cd-tables", (const uint64_t[]){ 1, cd + (64ull << 20) }, 1);
	REFUSED(b, "not preserved");
	struct iommufd_hwpt_rec rec;
	assert_int_equal(iommufd_parse_hwpt(good, node(good, IOMMUFD_BLOB_HWPT),
					    &rec), 0);
	b = copy_good();
	set_pairs(b, "cd-tables", (const uint64_t[]){ 1, rec.pages[1] }, 1);
	free(rec.pages);
	REFUSED(b, "both own memory");
	/* A version-3 node with PASIDs is not a version-3 node; without
	 * them it is one, and still read. */
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v3");
	REFUSED(b, "hwpt 2", "'pasids' in a version-3 node");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommufd"), "compatible",
			   "iohandover,iommufd-v3");
	drop_v4(b);
	expect_read(b);
	/* Empty lists: a version-4 hwpt without PASIDs. */
	b = copy_good();
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "pasids",
				     NULL, 0), 0);
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "cd-tables",
				     NULL, 0), 0);
	expect_read(b);
}

/*
 * The incoming kernel's check of the PASID records against the hardware
 * (iommufd_pasids_check), on a fake stream table entry and CD table: the
 * blob's device 1 has PASID 3 on hwpt 2.
 */
struct fake_hw {
	uint64_t ste[HW_STE_WORDS];
	uint64_t cds[16][HW_CD_WORDS];
	uint64_t cdtab;
};

static int fake_ste(void *arg, uint32_t sid, uint64_t ste[HW_STE_WORDS])
{
	struct fake_hw *h = arg;
	if (sid != 1)
		return -EINVAL;
	memcpy(ste, h->ste, sizeof(h->ste));
	return 0;
}

static int fake_cd(void *arg, uint64_t cdtab, uint32_t pasid,
		   uint64_t cd[HW_CD_WORDS])
{
	struct fake_hw *h = arg;
	if (cdtab != h->cdtab || pasid >= 16)
		return -EINVAL;
	memcpy(cd, h->cds[pasid], sizeof(h->cds[pasid]));
	return 0;
}

static void expect_hw(const struct iommufd_incoming *in, struct fake_hw *h,
		      const char *msg)
{
	const struct iommufd_hw_reader hw = { fake_ste, fake_cd, h };
	struct kho_err err = { { 0 } };
	int rc = iommufd_pasids_check(in, &hw, &err);
	if (!msg) {
		if (rc)
			fail_msg("refused: %s", err.msg);
		return;
	}
	assert_int_equal(rc, -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("reason '%s' lacks '%s'", err.msg, msg);
}

static void test_pasids_disagree_with_hardware(void **state)
{
	(void)state;
	struct iommufd_incoming in;
	memset(&in, 0, sizeof(in));
	assert_int_equal(iommufd_parse_hwpt(good, node(good, IOMMUFD_BLOB_HWPT),
					    &in.hwpt[0]), 0);
	in.nr_hwpt = 1;
	const struct iommufd_hwpt_rec *r = &in.hwpt[0];
	struct fake_hw h = { .cdtab = r->cdtabs[0].pa };
	hw_ste_make(h.ste, HW_STE_MODE_TRANSLATE, r->fmt, r->va_bits, r->root,
		    r->did);
	hw_ste_set_cdtab(h.ste, h.cdtab, IOMMUFD_CD_LOG2);
	hw_cd_make(h.cds[3], r->fmt, r->va_bits, r->root, r->did);
	struct fake_hw good_hw = h;
	expect_hw(&in, &h, NULL);
	/* The STE points elsewhere, or at a table of another size. */
	hw_ste_set_cdtab(h.ste, h.cdtab + 4096, IOMMUFD_CD_LOG2);
	expect_hw(&in, &h, "device 1: the handover records its CD table at");
	h = good_hw;
	hw_ste_set_cdtab(h.ste, h.cdtab, IOMMUFD_CD_LOG2 - 1);
	expect_hw(&in, &h, "(2^3)");
	/* PASID 3's CD: invalid, another root, another domain ID. */
	h = good_hw;
	h.cds[3][0] = 0;
	expect_hw(&in, &h, "device 1 PASID 3: its CD (invalid");
	h = good_hw;
	hw_cd_make(h.cds[3], r->fmt, r->va_bits, r->root + 4096, r->did);
	expect_hw(&in, &h, "disagrees with hwpt 2");
	h = good_hw;
	hw_cd_make(h.cds[3], r->fmt, r->va_bits, r->root, r->did + 1);
	expect_hw(&in, &h, "did 2)");
	/* A valid CD nobody recorded. */
	h = good_hw;
	hw_cd_make(h.cds[5], r->fmt, r->va_bits, r->root, r->did);
	expect_hw(&in, &h, "device 1 PASID 5: valid in the CD table, but the "
		  "handover has no record");
	iommufd_incoming_free(&in);
}

/* A sample of what was validated before: the fixture is looked at. */
static void test_existing_checks(void **state)
{
	(void)state;
	void *b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "did", 0);
	REFUSED(b, "iommufd object vm0/hwpt-2", "bad 'did'");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_UNIT), "strtab-log2", 17);
	REFUSED(b, "iommu object iommu/unit", "bad 'strtab-log2'");
	b = copy_good();
	fdt_setprop_string(b, node(b, IOMMUFD_BLOB_IOAS), "type", "iotlb");
	REFUSED(b, "unknown type 'iotlb'");
}

/* Every field of the unit node, each refused by name. */
static void test_unit_fields(void **state)
{
	(void)state;
	void *b = copy_good();
	fdt_setprop_string(b, node(b, IOMMUFD_BLOB_UNIT), "type", "domain");
	REFUSED(b, "iommu object iommu/unit", "is not a unit");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_UNIT), "strtab", 0x1234);
	REFUSED(b, "iommu object iommu/unit", "misaligned 'strtab'");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_UNIT), "strtab");
	REFUSED(b, "iommu object iommu/unit", "missing or misaligned 'strtab'");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_UNIT), "format", PT_FMT_COUNT);
	REFUSED(b, "iommu object iommu/unit", "unknown page-table 'format'");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_UNIT), "va-bits");
	REFUSED(b, "iommu object iommu/unit", "missing or malformed 'va-bits'");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_UNIT), "va-bits", 60);
	REFUSED(b, "iommu object iommu/unit", "bad 'va-bits' 0x3c");
}

/* Set the unit node's "strtab" to n bases, "device-units" to topo. */
static void set_unit_u64s(void *b, const char *prop, const uint64_t *v,
			  unsigned int n)
{
	uint64_t be[HW_MAX_DEVS];
	for (unsigned int i = 0; i < n; i++)
		be[i] = __builtin_bswap64(v[i]);
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_UNIT), prop, be,
				     (int)(8 * n)), 0);
}

static const uint64_t *good_strtabs(void)
{
	static uint64_t pa[IOMMUFD_BLOB_UNITS];
	int len;
	const uint8_t *p = fdt_getprop(good, node(good, IOMMUFD_BLOB_UNIT),
				       "strtab", &len);
	assert_int_equal(len, (int)(8 * IOMMUFD_BLOB_UNITS));
	for (unsigned int u = 0; u < IOMMUFD_BLOB_UNITS; u++) {
		uint64_t be;
		memcpy(&be, p + 8 * u, 8);
		pa[u] = __builtin_bswap64(be);
	}
	return pa;
}

/*
 * Unit version 2: one stream table per unit (1 to 8, each owned once)
 * and the topology; version 1 (one "strtab", no topology) still read as
 * one unit, and a version-1 node naming two units is not one.
 */
static void test_unit_v2_fields(void **state)
{
	(void)state;
	const uint64_t *st = good_strtabs();
	uint64_t nine[9], topo[HW_MAX_DEVS];
	for (unsigned int i = 0; i < 9; i++)
		nine[i] = st[0] + 0x1000ull * 64 * (i + 1);
	void *b = copy_good();
	set_unit_u64s(b, "strtab", nine, 9);
	REFUSED(b, "iommu object iommu/unit", "'strtab'", "1 to 8 units");
	b = copy_good();
	set_unit_u64s(b, "strtab", (const uint64_t[]){ st[0], st[1] + 8 }, 2);
	REFUSED(b, "iommu object iommu/unit", "misaligned 'strtab'");
	b = copy_good();
	set_unit_u64s(b, "strtab", (const uint64_t[]){ st[0], st[0] }, 2);
	REFUSED(b, "iommu object iommu/unit", "units 0 and 1 share stream "
		"table");
	b = copy_good();
	fdt_delprop(b, node(b, IOMMUFD_BLOB_UNIT), "device-units");
	REFUSED(b, "iommu object iommu/unit", "missing or malformed "
		"'device-units'");
	b = copy_good();
	fdt_setprop(b, node(b, IOMMUFD_BLOB_UNIT), "device-units", "\0\0\0",
		    3);
	REFUSED(b, "iommu object iommu/unit", "malformed 'device-units'");
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		topo[d] = d % 2;
	topo[3] = 2;
	b = copy_good();
	set_unit_u64s(b, "device-units", topo, HW_MAX_DEVS);
	REFUSED(b, "iommu object iommu/unit", "device 3 behind unit 2",
		"records 2 units");
	/* One unit: every device behind unit 0. */
	memset(topo, 0, sizeof(topo));
	b = copy_good();
	set_unit_u64s(b, "strtab", st, 1);
	set_unit_u64s(b, "device-units", topo, HW_MAX_DEVS);
	expect_read(b);
	/* A version-1 node: one base, no topology; two bases are refused. */
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommu"), "compatible",
			   "iohandover,iommu-v1");
	REFUSED(b, "iommu object iommu/unit", "misaligned 'strtab'");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommu"), "compatible",
			   "iohandover,iommu-v1");
	set_unit_u64s(b, "strtab", st, 1);
	fdt_delprop(b, node(b, IOMMUFD_BLOB_UNIT), "device-units");
	struct iommu_unit u;
	iommufd_parse_unit(b, node(b, IOMMUFD_BLOB_UNIT), &u);
	assert_int_equal(u.nr_units, 1);
	assert_int_equal(u.strtab_pa[0], st[0]);
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		assert_int_equal(u.dev_unit[d], 0);
	expect_read(b);
}

/*
 * The incoming kernel's check of the handover against the hardware
 * (iommufd_unit_check, at boot and in recovery): the unit count, every
 * device's unit and every unit's stream table must agree, and what
 * disagrees is named. A driver over bare registers stands for the
 * hardware.
 */
static void test_unit_topology_vs_hardware(void **state)
{
	(void)state;
	struct hw_regs *regs = calloc(1, sizeof(*regs));
	assert_non_null(regs);
	struct iommu_drv drv = { .regs = regs, .nr_units = IOMMUFD_BLOB_UNITS };
	struct iommu_unit u;
	char why[160];
	iommufd_parse_unit(good, node(good, IOMMUFD_BLOB_UNIT), &u);
	const uint64_t *st = good_strtabs();
	regs->nr_units = IOMMUFD_BLOB_UNITS;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		regs->dev_unit[d] = (uint8_t)(d % IOMMUFD_BLOB_UNITS);
	for (unsigned int i = 0; i < IOMMUFD_BLOB_UNITS; i++) {
		atomic_store(&regs->unit[i].strtab_base, st[i]);
		atomic_store(&regs->unit[i].strtab_log2, 6);
	}
	assert_int_equal(iommufd_unit_check(&u, &drv, why, sizeof(why)), 0);
	/* More units in the hardware. */
	drv.nr_units = regs->nr_units = 4;
	assert_int_equal(iommufd_unit_check(&u, &drv, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "the handover records 2 IOMMU units, the "
			       "hardware has 4"));
	/* Same count, device 3 elsewhere. */
	drv.nr_units = regs->nr_units = IOMMUFD_BLOB_UNITS;
	regs->dev_unit[3] = 0;
	assert_int_equal(iommufd_unit_check(&u, &drv, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "device 3 is behind IOMMU unit 1 in the "
			       "handover, behind unit 0 in the hardware"));
	regs->dev_unit[3] = 1;
	/* A unit running another stream table. */
	atomic_store(&regs->unit[1].strtab_base, st[1] + 0x1000);
	assert_int_equal(iommufd_unit_check(&u, &drv, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "IOMMU unit 1 runs stream table"));
	/* A version-1 handover (one unit) on two-unit hardware. */
	atomic_store(&regs->unit[1].strtab_base, st[1]);
	u.nr_units = 1;
	memset(u.dev_unit, 0, sizeof(u.dev_unit));
	assert_int_equal(iommufd_unit_check(&u, &drv, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "records 1 IOMMU unit, the hardware has 2"));
	free(regs);
}

/*
 * va-bits is a 64-bit property: a value whose low 32 bits are a valid
 * width (48) is still not one, in either node that carries it.
 */
static const uint64_t wide_va_bits[] = {
	0x100000030ull, 0xffffffff00000030ull, 1ull << 32, (1ull << 63) | 48,
};

static void va_bits_refused(const char *path, const char *what)
{
	for (size_t i = 0; i < sizeof(wide_va_bits) / sizeof(wide_va_bits[0]);
	     i++) {
		void *b = copy_good();
		fdt_setprop_u64(b, node(b, path), "va-bits", wide_va_bits[i]);
		const char *const m[2] = { what, "'va-bits'" };
		expect_refused(b, m, 2);
	}
	/* The valid width itself still passes. */
	void *b = copy_good();
	fdt_setprop_u64(b, node(b, path), "va-bits", 48);
	assert_int_equal(fdt_pack(b), 0);
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), 0, &p, &err), 0);
	kho_parsed_free(&p);
	free(b);
}

static void test_unit_va_bits_full_width(void **state)
{
	(void)state;
	va_bits_refused(IOMMUFD_BLOB_UNIT, "iommu object iommu/unit");
}

static void test_hwpt_va_bits_full_width(void **state)
{
	(void)state;
	va_bits_refused(IOMMUFD_BLOB_HWPT, "iommufd object vm0/hwpt-2");
}

/* Rewrite area i of the ioas (iova, len, offset, prot, memfd index). */
static void set_area(void *b, int i, uint64_t iova, uint64_t len,
		     uint64_t off, uint64_t prot, uint64_t mf)
{
	int alen;
	uint8_t *d = fdt_getprop_w(b, node(b, IOMMUFD_BLOB_IOAS), "areas", &alen);
	assert_non_null(d);
	assert_true((i + 1) * 40 <= alen);
	const uint64_t v[5] = { iova, len, off, prot, mf };
	for (int w = 0; w < 5; w++) {
		fdt64_t be = cpu_to_fdt64(v[w]);
		memcpy(d + 40 * i + 8 * w, &be, 8);
	}
}

static void set_memfds(void *b, const char *names, size_t len)
{
	assert_int_equal(fdt_setprop(b, node(b, IOMMUFD_BLOB_IOAS), "memfds",
				     names, (int)len),
			 0);
}

/*
 * Every memfd an ioas names must be a memfd object of its own session in
 * this handover (retrieval looks it up there); any other name used to
 * pass validation and fail only after the guest resumed.
 */
static void test_ioas_memfd_not_in_handover(void **state)
{
	(void)state;
	void *b = copy_good();
	set_memfds(b, "ghost", sizeof("ghost"));
	REFUSED(b, "iommufd object vm0/ioas-1", "'memfds'", "'ghost'",
		"not in the handover");
	/* A memfd of another session (vm1) is not this ioas's. */
	b = copy_good();
	set_memfds(b, "fragmented", sizeof("fragmented"));
	REFUSED(b, "iommufd object vm0/ioas-1", "'memfds'", "'fragmented'");
	/* Named but used by no area: retrieval still looks it up. */
	b = copy_good();
	set_memfds(b, "guest-ram\0ghost", sizeof("guest-ram\0ghost"));
	REFUSED(b, "iommufd object vm0/ioas-1", "'memfds'", "'ghost'");
	b = copy_good();
	set_memfds(b, "guest-ram\0", sizeof("guest-ram\0"));
	REFUSED(b, "iommufd object vm0/ioas-1", "'memfds'", "empty name");
}

/* Copy node src of from (properties and children) under parent of to. */
static void copy_node(void *to, int parent, const void *from, int src)
{
	int n = fdt_add_subnode(to, parent, fdt_get_name(from, src, NULL));
	int prop, child;
	assert_true(n >= 0);
	fdt_for_each_property_offset(prop, from, src) {
		const char *name;
		int len;
		const void *val = fdt_getprop_by_offset(from, prop, &name, &len);
		assert_int_equal(fdt_setprop(to, n, name, val, len), 0);
	}
	/* fdt_add_subnode puts a new node first: copy children last first. */
	int kids[16], nk = 0;
	fdt_for_each_subnode(child, from, src) {
		assert_true(nk < 16);
		kids[nk++] = child;
	}
	while (nk--)
		copy_node(to, n, from, kids[nk]);
}

/* The blob with the iommufd node moved first, before the memfd node. */
static void *iommufd_first(void)
{
	void *b = copy_good();
	assert_int_equal(fdt_del_node(b, node(b, "/iommufd")), 0);
	copy_node(b, 0, good, node(good, "/iommufd"));
	assert_true(fdt_first_subnode(b, 0) == node(b, "/iommufd"));
	return b;
}

/* The memfds are found wherever their node sits, validated or not yet. */
static void test_ioas_memfd_lookup_any_order(void **state)
{
	(void)state;
	void *b = iommufd_first();
	assert_int_equal(fdt_pack(b), 0);
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), 0, &p, &err), 0);
	assert_int_equal(p.nr_objs, 5);
	kho_parsed_free(&p);
	free(b);
	b = iommufd_first();
	set_memfds(b, "ghost", sizeof("ghost"));
	REFUSED(b, "iommufd object vm0/ioas-1", "'ghost'");
	b = iommufd_first();
	set_area(b, 1, 4ull << 30, 2ull << 30, 2ull << 30, 3, 0);
	REFUSED(b, "iommufd object vm0/ioas-1", "beyond memfd 'guest-ram'");
}

/*
 * An area must lie inside its memfd: offset + len <= the memfd's size,
 * without wrapping. Retrieval checked it, after the guest resumed.
 */
static void test_ioas_area_beyond_memfd(void **state)
{
	(void)state;
	const uint64_t g = IOMMUFD_BLOB_GUEST_SIZE, rw = 3;
	void *b = copy_good();
	set_area(b, 1, 4ull << 30, (1ull << 30) + 4096, g - (1ull << 30), rw, 0);
	REFUSED(b, "iommufd object vm0/ioas-1", "area 1", "'areas'",
		"beyond memfd 'guest-ram'");
	b = copy_good();
	set_area(b, 1, 4ull << 30, 4096, g, rw, 0);
	REFUSED(b, "iommufd object vm0/ioas-1", "area 1", "beyond memfd");
	b = copy_good();
	set_area(b, 0, 0, 8192, ~0ull - 4095, rw, 0);
	REFUSED(b, "iommufd object vm0/ioas-1", "area 0", "beyond memfd");
	/* Up to the last byte is fine. */
	b = copy_good();
	set_area(b, 1, 4ull << 30, 1ull << 30, g - (1ull << 30), rw, 0);
	assert_int_equal(fdt_pack(b), 0);
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), 0, &p, &err), 0);
	kho_parsed_free(&p);
	free(b);
}

/*
 * An area ending at the top of the IOVA space must not make the next
 * one look in order: retrieval refuses the overlap (-EEXIST).
 */
static void test_ioas_area_at_top_of_iova_space(void **state)
{
	(void)state;
	const uint64_t top = 0ull - (1ull << 30);
	void *b = copy_good();
	set_area(b, 0, top, 1ull << 30, 0, 3, 0);
	set_area(b, 1, top, 4096, 0, 3, 0);
	REFUSED(b, "iommufd object vm0/ioas-1", "area 1", "overlaps");
}


/* The blob validated with the live update kernel's whole-blob check too. */
static void expect_valid(void *b, kho_blob_check_fn check)
{
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(fdt_pack(b), 0);
	kho_blob_check_set(check);
	int rc = kho_blob_validate(b, fdt_totalsize(b), KHO_FIX_RAM, &p, &err);
	kho_blob_check_set(NULL);
	if (rc)
		fail_msg("refused: %s", err.msg);
	kho_parsed_free(&p);
	free(b);
}

/* One more ioas under /iommufd: a copy of the fixture's, renamed, with id. */
static void add_ioas(void *b, const char *nn, const char *name, uint64_t id)
{
	int src = fdt_path_offset(good, IOMMUFD_BLOB_IOAS), prop;
	assert_true(src >= 0);
	assert_true(fdt_add_subnode(b, node(b, "/iommufd"), nn) >= 0);
	fdt_for_each_property_offset(prop, good, src) {
		const char *pn;
		int len;
		const void *val = fdt_getprop_by_offset(good, prop, &pn, &len);
		int n = fdt_subnode_offset(b, node(b, "/iommufd"), nn);
		assert_int_equal(fdt_setprop(b, n, pn, val, len), 0);
	}
	int n = fdt_subnode_offset(b, node(b, "/iommufd"), nn);
	assert_int_equal(fdt_setprop_string(b, n, "object", name), 0);
	assert_int_equal(fdt_setprop_u64(b, n, "id", id), 0);
}

/*
 * Fields that only adoption used to check, after the guest resumed: a
 * hwpt in another format or IOVA width than the unit that runs it, an
 * output width the format cannot encode, an 'ioas' that names no ioas.
 */
static void test_hwpt_against_unit_and_ioas(void **state)
{
	(void)state;
	void *b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "format", PT_FMT_VTD_SS);
	/* (VT-d cannot be a nesting parent: that is test_hwpt_nested's.) */
	fdt_setprop(b, node(b, IOMMUFD_BLOB_HWPT), "nested", NULL, 0);
	REFUSED(b, "hwpt 2 of session vm0", "vtd-ss/48-bit", "iommu unit runs "
		"arm-s2/48-bit");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "va-bits", 40);
	REFUSED(b, "hwpt 2 of session vm0", "arm-s2/40-bit", "runs arm-s2/48-bit");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_UNIT), "va-bits", 40);
	REFUSED(b, "hwpt 2", "arm-s2/48-bit", "runs arm-s2/40-bit");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "oa-bits", 52);
	REFUSED(b, "iommufd object vm0/hwpt-2", "bad 'oa-bits' 52", "32 to 48");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "oa-bits", 49);
	REFUSED(b, "iommufd object vm0/hwpt-2", "bad 'oa-bits' 49");
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "ioas", 7);
	REFUSED(b, "hwpt 2 of session vm0", "'ioas' 7 names no ioas");
	b = copy_good();
	assert_int_equal(fdt_del_node(b, node(b, IOMMUFD_BLOB_UNIT)), 0);
	REFUSED(b, "hwpt 2 of session vm0", "0 iommu units");
	/* The widest the format takes is fine. */
	b = copy_good();
	fdt_setprop_u64(b, node(b, IOMMUFD_BLOB_HWPT), "oa-bits", 48);
	expect_valid(b, NULL);
}

/* IOAS ids are unique in a session, and every kind fits the table. */
static void test_ioas_ids_and_counts(void **state)
{
	(void)state;
	void *b = copy_good();
	add_ioas(b, "object-9", "ioas-9", 1);
	REFUSED(b, "session vm0 has two ioas objects with id 1");
	b = copy_good();
	add_ioas(b, "object-9", "ioas-9", 9);
	expect_valid(b, NULL);
	b = copy_good();
	for (unsigned int i = 0; i < IOMMUFD_MAX_OBJS; i++) {
		char nn[16], name[16];
		snprintf(nn, sizeof(nn), "object-%u", 10 + i);
		snprintf(name, sizeof(name), "ioas-%u", 10 + i);
		add_ioas(b, nn, name, 10 + i);
	}
	REFUSED(b, "session vm0 has 17 ioas and 1 hwpt objects, at most 16");
}

/*
 * What the live update kernel needs of the whole handover
 * (lu_handover_check): one unit, the guest's memory, one ioas, 1 to 15
 * hwpts. The generic validation takes each of these; the kernel's check
 * refuses them, at boot.
 */
static void test_live_update_kernel_check(void **state)
{
	(void)state;
	expect_valid(copy_good(), lu_handover_check);
	void *b = copy_good();
	add_ioas(b, "object-9", "ioas-9", 9);
	expect_valid(iommufd_blob_copy(b, fdt_totalsize(b)), NULL);
	kho_blob_check_set(lu_handover_check);
	REFUSED(b, "session vm0 has 2 ioas and 1 hwpt objects, expected one "
		"ioas");
	/* guest-ram under another name, the ioas following it. */
	b = copy_good();
	int m = fdt_node_offset_by_prop_value(b, -1, "object", "guest-ram",
					      sizeof("guest-ram"));
	assert_true(m >= 0);
	assert_int_equal(fdt_setprop_string(b, m, "object", "ram"), 0);
	set_memfds(b, "ram", sizeof("ram"));
	expect_valid(iommufd_blob_copy(b, fdt_totalsize(b)), NULL);
	kho_blob_check_set(lu_handover_check);
	REFUSED(b, "session vm0 has no memfd 'guest-ram'");
	kho_blob_check_set(NULL);
}

/*
 * Every field of the ioas and hwpt nodes damaged in turn, each refused
 * with a message naming the object and the field (before this table only
 * a sample of them was looked at).
 */
enum damage_kind { DEL, U64, RAW };
struct field_damage {
	const char *path, *prop;
	enum damage_kind kind;
	uint64_t v;
	const void *raw;
	int rawlen;
	const char *msg;
};

static const uint8_t bytes7[7];
static const uint64_t pages_misaligned[2] = { 0, 0 };

static void test_every_ioas_and_hwpt_field(void **state)
{
	(void)state;
	const char *I = IOMMUFD_BLOB_IOAS, *H = IOMMUFD_BLOB_HWPT;
	const struct field_damage d[] = {
		{ I, "id", DEL, 0, NULL, 0, "ioas: missing or bad 'id'" },
		{ I, "id", U64, 0, NULL, 0, "ioas: missing or bad 'id'" },
		{ I, "id", U64, 1ull << 32, NULL, 0, "ioas: missing or bad 'id'" },
		{ I, "memfds", DEL, 0, NULL, 0, "ioas 1: malformed 'memfds'" },
		{ I, "memfds", RAW, 0, "guest-ram", 9, "ioas 1: malformed 'memfds'" },
		{ I, "areas", DEL, 0, NULL, 0, "ioas 1: malformed 'areas'" },
		{ I, "areas", RAW, 0, bytes7, 7, "ioas 1: malformed 'areas'" },
		{ H, "id", DEL, 0, NULL, 0, "hwpt: missing or bad 'id'/'ioas'" },
		{ H, "id", U64, 1ull << 32, NULL, 0, "hwpt: missing or bad" },
		{ H, "ioas", DEL, 0, NULL, 0, "hwpt: missing or bad 'id'/'ioas'" },
		{ H, "ioas", U64, 1ull << 32, NULL, 0, "hwpt: missing or bad" },
		{ H, "format", U64, PT_FMT_COUNT, NULL, 0, "hwpt 2: bad 'format'" },
		{ H, "format", DEL, 0, NULL, 0, "hwpt 2: bad 'format'" },
		{ H, "va-bits", DEL, 0, NULL, 0, "hwpt 2: missing or malformed 'va-bits'" },
		{ H, "oa-bits", DEL, 0, NULL, 0, "hwpt 2: missing or malformed 'oa-bits'" },
		{ H, "oa-bits", U64, 31, NULL, 0, "hwpt 2: bad 'oa-bits' 31" },
		{ H, "features", U64, 0x80, NULL, 0, "hwpt 2: unknown 'features'" },
		{ H, "features", DEL, 0, NULL, 0, "hwpt 2: unknown 'features'" },
		{ H, "did", U64, 0x10000, NULL, 0, "hwpt 2: bad 'did'" },
		{ H, "root", U64, 0x1234, NULL, 0, "hwpt 2: bad 'root'" },
		{ H, "root", DEL, 0, NULL, 0, "hwpt 2: bad 'root'" },
		{ H, "root", U64, 0x7000000ull, NULL, 0, "is not one of its pages" },
		{ H, "pages", DEL, 0, NULL, 0, "hwpt 2: malformed 'pages'" },
		{ H, "pages", RAW, 0, bytes7, 7, "hwpt 2: malformed 'pages'" },
		{ H, "pages", RAW, 0, bytes7, 0, "hwpt 2: malformed 'pages'" },
		{ H, "devices", DEL, 0, NULL, 0, "hwpt 2: malformed 'devices'" },
		{ H, "devices", RAW, 0, bytes7, 7, "hwpt 2: malformed 'devices'" },
		{ H, "devices", U64, 16, NULL, 0, "hwpt 2: device 0 out of range" },
		{ H, "pages", RAW, 0, pages_misaligned, 16, "misaligned" },
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		void *b = copy_good();
		int n = node(b, d[i].path);
		if (d[i].kind == DEL)
			assert_int_equal(fdt_delprop(b, n, d[i].prop), 0);
		else if (d[i].kind == U64)
			assert_int_equal(fdt_setprop_u64(b, n, d[i].prop, d[i].v), 0);
		else
			assert_int_equal(fdt_setprop(b, n, d[i].prop, d[i].raw,
						     d[i].rawlen), 0);
		if (d[i].raw == pages_misaligned) {
			/* A page 4 KiB-misaligned: the root's own page + 8. */
			int len;
			const uint8_t *pg = fdt_getprop(good, node(good, H), "pages",
							&len);
			uint8_t buf[16];
			assert_int_equal(len, 16);
			memcpy(buf, pg, 16);
			buf[15] |= 8;
			assert_int_equal(fdt_setprop(b, n, "pages", buf, 16), 0);
		}
		const char *const m[1] = { d[i].msg };
		expect_refused(b, m, 1);
	}
}

/* An area's own fields, and the names it may use. */
static void test_every_area_field(void **state)
{
	(void)state;
	const uint64_t rw = 3;
	void *b = copy_good();
	set_area(b, 0, 0x1000 + 1, 4096, 0, rw, 0);
	REFUSED(b, "ioas 1 area 0: bad iova/len/offset");
	b = copy_good();
	set_area(b, 0, 0, 0, 0, rw, 0);
	REFUSED(b, "ioas 1 area 0: bad iova/len/offset");
	b = copy_good();
	set_area(b, 1, ~0ull - 4095, 8192, 0, rw, 0);
	REFUSED(b, "ioas 1 area 1: bad iova/len/offset");
	b = copy_good();
	set_area(b, 0, 0, 4096, 0, 0, 0);
	REFUSED(b, "ioas 1 area 0: bad prot 0x0");
	b = copy_good();
	set_area(b, 0, 0, 4096, 0, rw | 0x100, 0);
	REFUSED(b, "ioas 1 area 0: bad prot 0x103");
	b = copy_good();
	set_area(b, 0, 0, 4096, 0, rw, 1);
	REFUSED(b, "ioas 1 area 0: no memfd 1");
	/* 65 names: more than an ioas may use. */
	char names[65 * 12];
	size_t len = 0;
	for (int i = 0; i < 65; i++)
		len += (size_t)sprintf(names + len, "guest-ram") + 1;
	b = copy_good();
	set_memfds(b, names, len);
	REFUSED(b, "'memfds' names more than 64 memfds");
	/* A name longer than any memfd's. */
	char lng[80];
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	b = copy_good();
	set_memfds(b, lng, sizeof(lng));
	REFUSED(b, "empty name or longer than 63 bytes");
	/* The memfd it names has no usable size. */
	b = copy_good();
	int m = fdt_node_offset_by_prop_value(b, -1, "object", "guest-ram",
					      sizeof("guest-ram"));
	assert_true(m >= 0);
	assert_int_equal(fdt_setprop(b, m, "size", bytes7, 7), 0);
	expect_refused(b, (const char *const[]){ "size" }, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_blob_is_valid),
		cmocka_unit_test(test_golden_blobs_still_read),
		cmocka_unit_test(test_hwpt_pasids),
		cmocka_unit_test(test_pasids_disagree_with_hardware),
		cmocka_unit_test(test_hwpt_ats_devices),
		cmocka_unit_test(test_hwpt_nested),
		cmocka_unit_test(test_existing_checks),
		cmocka_unit_test(test_unit_fields),
		cmocka_unit_test(test_unit_va_bits_full_width),
		cmocka_unit_test(test_unit_v2_fields),
		cmocka_unit_test(test_unit_topology_vs_hardware),
		cmocka_unit_test(test_hwpt_va_bits_full_width),
		cmocka_unit_test(test_ioas_memfd_not_in_handover),
		cmocka_unit_test(test_ioas_area_beyond_memfd),
		cmocka_unit_test(test_ioas_memfd_lookup_any_order),
		cmocka_unit_test(test_ioas_area_at_top_of_iova_space),
		cmocka_unit_test(test_hwpt_against_unit_and_ioas),
		cmocka_unit_test(test_ioas_ids_and_counts),
		cmocka_unit_test(test_live_update_kernel_check),
		cmocka_unit_test(test_every_ioas_and_hwpt_field),
		cmocka_unit_test(test_every_area_field),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
