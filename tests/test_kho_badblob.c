// SPDX-License-Identifier: MIT
/*
 * Bad input: every way a handover blob or header can be wrong is refused
 * with a message naming the problem, and a refused boot touches nothing.
 * Blobs are produced by kho itself and then damaged with libfdt.
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
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "kho/kho.h"
#include "kho/memfd.h"
#include "tests/lib/kho_fixture.h"

#define SLACK (512 * 1024)

static void *good;
static size_t good_size;

static int group_setup(void **state)
{
	(void)state;
	struct kho_fixture f;
	if (kho_fixture_build(&f, false) || kho_prepare(&f.k))
		return -1;
	good_size = f.k.out_fdt_size;
	good = malloc(good_size);
	memcpy(good, f.k.out_fdt, good_size);
	kho_fixture_fini(&f);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(good);
	return 0;
}

/* A writable copy of the good blob with room to grow. */
static void *copy_good(void)
{
	void *b = malloc(good_size + SLACK);
	assert_int_equal(fdt_open_into(good, b, (int)(good_size + SLACK)), 0);
	return b;
}

static int node(void *b, const char *path)
{
	int n = fdt_path_offset(b, path);
	assert_true(n >= 0);
	return n;
}

static void set_u64s(void *b, const char *path, const char *prop,
		     const uint64_t *v, size_t n)
{
	uint8_t buf[256];
	assert_true(n * 8 <= sizeof(buf));
	for (size_t i = 0; i < n; i++) {
		uint64_t be = __builtin_bswap64(v[i]);
		memcpy(buf + i * 8, &be, 8);
	}
	assert_int_equal(fdt_setprop(b, node(b, path), prop, buf, (int)(n * 8)),
			 0);
}

static uint64_t get_u64(void *b, const char *path, const char *prop,
			size_t idx)
{
	int len;
	const uint8_t *p = fdt_getprop(b, node(b, path), prop, &len);
	assert_non_null(p);
	assert_true((idx + 1) * 8 <= (size_t)len);
	uint64_t v;
	memcpy(&v, p + idx * 8, 8);
	return __builtin_bswap64(v);
}

/* Validate b (packed); expect refusal with msg in the reason. */
static void expect_refused(void *b, size_t size, uint64_t ram,
			   const char *msg)
{
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	int rc = kho_blob_validate(b, size, ram, &p, &err);
	if (rc == 0)
		fail_msg("accepted, expected refusal with '%s'", msg);
	assert_int_equal(rc, -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("reason '%s' lacks '%s'", err.msg, msg);
}

static void expect_refused_fdt(void *b, const char *msg)
{
	assert_int_equal(fdt_pack(b), 0);
	expect_refused(b, fdt_totalsize(b), 0, msg);
	free(b);
}

static void test_good_blob_is_valid(void **state)
{
	(void)state;
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(good, good_size, KHO_FIX_RAM, &p,
					   &err),
			 0);
	assert_int_equal(p.nr_sessions, 3);
	assert_int_equal(p.nr_objs, 2);
	kho_parsed_free(&p);
}

static void test_framing(void **state)
{
	(void)state;
	void *b = copy_good();
	assert_int_equal(fdt_pack(b), 0);
	size_t size = fdt_totalsize(b);
	expect_refused(b, size - 1, 0, "truncated");
	expect_refused(b, 100, 0, "truncated");
	expect_refused(b, 20, 0, "truncated");
	expect_refused(b, KHO_FDT_MAX + 1ull, 0, "oversized");
	expect_refused(b, size, KHO_FIX_RAM * 2, "this machine has");
	((uint8_t *)b)[0] ^= 1;
	expect_refused(b, size, 0, "bad magic");
	((uint8_t *)b)[0] ^= 1;
	/* An FDT of an older format version: refused by name, before
	 * libfdt walks it (version 16 and below crashed libfdt 1.6.1's
	 * fdt_check_full when the root name had no '/'). */
	fdt_set_version(b, 16);
	expect_refused(b, size, 0, "FDT format version 16");
	fdt_set_version(b, 17);
	fdt_set_last_comp_version(b, 18);
	expect_refused(b, size, 0, "compatible with 18");
	fdt_set_last_comp_version(b, 16);
	/* Structure block pointing past the blob. */
	fdt_set_off_dt_struct(b, (uint32_t)size);
	expect_refused(b, size, 0, "corrupted FDT");
	free(b);
}

static void test_versions(void **state)
{
	(void)state;
	void *b = copy_good();
	fdt_setprop_string(b, 0, "compatible", "iohandover,kho-v2");
	expect_refused_fdt(b, "ABI version v2 is not supported");
	b = copy_good();
	fdt_setprop_string(b, 0, "compatible", "vendor,other-v1");
	expect_refused_fdt(b, "is not a handover blob");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/memfd"), "compatible",
			   "iohandover,memfd-v3");
	expect_refused_fdt(b, "memfd: version v3 is not supported");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/iommu"), "compatible",
			   "iohandover,iommu-v7");
	expect_refused_fdt(b, "iommu: version v7 is not supported");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/preserved-memory"), "compatible",
			   "iohandover,preserved-memory-v2");
	expect_refused_fdt(b, "preserved-memory: version v2");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/luo"), "compatible", "iohandover,luo");
	expect_refused_fdt(b, "malformed compatible");
	/* A version that is no number, zero, or too large for 32 bits. */
	static const char *const bad_ver[] = {
		"iohandover,luo-v", "iohandover,luo-vx", "iohandover,luo-v1x",
		"iohandover,luo-v0", "iohandover,luo-v99999999999",
		"iohandover,-v1",
	};
	for (size_t i = 0; i < sizeof(bad_ver) / sizeof(bad_ver[0]); i++) {
		b = copy_good();
		fdt_setprop_string(b, node(b, "/luo"), "compatible", bad_ver[i]);
		expect_refused_fdt(b, "malformed compatible");
	}
	/* The producer: optional, but one short printable line. */
	b = copy_good();
	assert_string_equal(fdt_getprop(b, 0, "producer", NULL), KHO_PRODUCER);
	fdt_delprop(b, 0, "producer");
	assert_int_equal(fdt_pack(b), 0);
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), 0, &p, &err), 0);
	assert_string_equal(p.producer, "");
	kho_parsed_free(&p);
	free(b);
	b = copy_good();
	fdt_setprop_string(b, 0, "producer", "iohandover\n0.1");
	expect_refused_fdt(b, "'producer' has a non-printable byte at 10");
	b = copy_good();
	fdt_setprop(b, 0, "producer", "abc", 3);
	expect_refused_fdt(b, "'producer' is not a string");
	b = copy_good();
	char longname[KHO_PRODUCER_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	fdt_setprop_string(b, 0, "producer", longname);
	expect_refused_fdt(b, "at most 64 bytes");
	b = copy_good();
	fdt_delprop(b, 0, "generation");
	expect_refused_fdt(b, "generation");
	b = copy_good();
	uint64_t odd = 3;
	set_u64s(b, "/", "ram-size", &odd, 1);
	expect_refused_fdt(b, "ram-size");
}

/* A subsystem handler that could not read its own nodes is refused. */
static void test_subsys_register_refused(void **state)
{
	(void)state;
	const struct kho_subsys noname = { .version = 1 };
	const struct kho_subsys nover = { .name = "x" };
	const struct kho_subsys minmax = { .name = "x", .version = 1,
					   .min_version = 2 };
	const struct kho_subsys longname = {
		.name = "a-subsystem-name-of-32-characters", .version = 1 };
	assert_int_equal(kho_subsys_register(&noname), -EINVAL);
	assert_int_equal(kho_subsys_register(&nover), -EINVAL);
	assert_int_equal(kho_subsys_register(&minmax), -EINVAL);
	assert_int_equal(kho_subsys_register(&longname), -EINVAL);
	assert_null(kho_subsys_find("x"));
}

static void test_sub_nodes(void **state)
{
	(void)state;
	static const char *const required[] = { "/iommu", "/iommufd", "/memfd",
						"/luo", "/preserved-memory" };
	for (size_t i = 0; i < 5; i++) {
		void *b = copy_good();
		char want[64];
		assert_int_equal(fdt_del_node(b, node(b, required[i])), 0);
		snprintf(want, sizeof(want), "missing sub-node %s",
			 required[i] + 1);
		expect_refused_fdt(b, want);
	}
	void *b = copy_good();
	int n = fdt_add_subnode(b, 0, "memfd-again");
	fdt_setprop_string(b, n, "compatible", "iohandover,memfd-v1");
	expect_refused_fdt(b, "duplicate sub-node memfd");
	b = copy_good();
	n = fdt_add_subnode(b, 0, "luo2");
	fdt_setprop_string(b, n, "compatible", "iohandover,luo-v1");
	expect_refused_fdt(b, "duplicate sub-node luo");
	b = copy_good();
	n = fdt_add_subnode(b, 0, "mystery");
	fdt_setprop_string(b, n, "compatible", "iohandover,mystery-v1");
	expect_refused_fdt(b, "unknown to this kernel and not optional");
	/* An optional node this kernel does not know is ignored. */
	b = copy_good();
	n = fdt_add_subnode(b, 0, "mystery");
	fdt_setprop_string(b, n, "compatible", "iohandover,mystery-v1");
	fdt_setprop_empty(b, n, "optional");
	assert_int_equal(fdt_pack(b), 0);
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_blob_validate(b, fdt_totalsize(b), 0, &p, &err), 0);
	kho_parsed_free(&p);
	free(b);
	b = copy_good();
	n = fdt_add_subnode(b, node(b, "/iommu"), "object-0");
	fdt_setprop_string(b, n, "session", "vm0");
	fdt_setprop_string(b, n, "object", "domain");
	expect_refused_fdt(b, "has no iommu handler");
}

static void test_memory_map(void **state)
{
	(void)state;
	const char *pm = "/preserved-memory";
	uint64_t r0 = get_u64(good, pm, "ranges-2m", 0);
	uint64_t c0 = get_u64(good, pm, "ranges-2m", 1);
	uint64_t ram = get_u64(good, "/", "ram-size", 0);

	void *b = copy_good();
	uint64_t two[] = { r0, c0, r0, 1 };
	set_u64s(b, pm, "ranges-2m", two, 4);
	expect_refused_fdt(b, "overlaps or is out of order");
	b = copy_good();
	uint64_t out[] = { ram - KHO_2M, 2 };
	set_u64s(b, pm, "ranges-2m", out, 2);
	expect_refused_fdt(b, "outside RAM");
	b = copy_good();
	uint64_t mis[] = { r0 + 4096, 1 };
	set_u64s(b, pm, "ranges-2m", mis, 2);
	expect_refused_fdt(b, "misaligned");
	b = copy_good();
	uint64_t zero[] = { r0, 0 };
	set_u64s(b, pm, "ranges-2m", zero, 2);
	expect_refused_fdt(b, "empty");
	b = copy_good();
	fdt_setprop(b, node(b, pm), "ranges-4k", "12345", 5);
	expect_refused_fdt(b, "not a multiple of 16");
	/* A 1G range over memory already listed as 2M folios. */
	b = copy_good();
	uint64_t g[] = { r0 & ~(KHO_1G - 1), 1 };
	set_u64s(b, pm, "ranges-1g", g, 2);
	expect_refused_fdt(b, "overlap");
	/* A 4K bitmap over a 2M range. */
	b = copy_good();
	uint64_t m[9] = { r0, 1 };
	set_u64s(b, pm, "bitmaps-4k", m, 9);
	expect_refused_fdt(b, "overlaps the range");
	b = copy_good();
	uint64_t m0[9] = { KHO_FIX_RAM - KHO_2M, 0 };
	set_u64s(b, pm, "bitmaps-4k", m0, 9);
	expect_refused_fdt(b, "empty bitmap");
	b = copy_good();
	fdt_setprop(b, node(b, pm), "bitmaps-4k", "12345", 5);
	expect_refused_fdt(b, "not a multiple of 72");
	b = copy_good();
	uint64_t mmis[9] = { KHO_FIX_RAM - KHO_2M + 4096, 1 };
	set_u64s(b, pm, "bitmaps-4k", mmis, 9);
	expect_refused_fdt(b, "misaligned or outside RAM");
	b = copy_good();
	uint64_t mout[9] = { KHO_FIX_RAM, 1 };
	set_u64s(b, pm, "bitmaps-4k", mout, 9);
	expect_refused_fdt(b, "misaligned or outside RAM");
	b = copy_good();
	uint64_t mdup[18] = { KHO_FIX_RAM - KHO_2M, 1, 0, 0, 0, 0, 0, 0, 0,
			      KHO_FIX_RAM - KHO_2M, 2 };
	set_u64s(b, pm, "bitmaps-4k", mdup, 18);
	expect_refused_fdt(b, "duplicated or out of order");
	/* Memory a memfd uses but nobody preserved. */
	b = copy_good();
	fdt_delprop(b, node(b, pm), "ranges-2m");
	expect_refused_fdt(b, "is not preserved");
}

static void test_objects(void **state)
{
	(void)state;
	void *b = copy_good();
	fdt_setprop_string(b, node(b, "/memfd/object-0"), "session", "vm9");
	expect_refused_fdt(b, "unknown session 'vm9'");
	b = copy_good();
	fdt_setprop_string(b, node(b, "/memfd/object-1"), "session", "vm0");
	fdt_setprop_string(b, node(b, "/memfd/object-1"), "object",
			   "guest-ram");
	expect_refused_fdt(b, "duplicate object 'vm0/guest-ram'");
	b = copy_good();
	int n = fdt_add_subnode(b, node(b, "/luo"), "session-9");
	fdt_setprop_string(b, n, "session", "vm0");
	expect_refused_fdt(b, "duplicate session 'vm0'");
	/* Two objects claiming the same folios. */
	b = copy_good();
	int len;
	const void *fol = fdt_getprop(good, node(good, "/memfd/object-1"),
				      "folios", &len);
	void *dup = malloc((size_t)len);
	memcpy(dup, fol, (size_t)len);
	n = fdt_add_subnode(b, node(b, "/memfd"), "object-2");
	fdt_setprop_string(b, n, "session", "vm1");
	fdt_setprop_string(b, n, "object", "thief");
	fdt_setprop_u64(b, n, "size", 16ull << 20);
	fdt_setprop_u64(b, n, "nr-folios", 4096);
	fdt_setprop(b, n, "folios", dup, len);
	free(dup);
	/* Shuffled 4K slots (memfd v2) are owned through "slots-4k". */
	const void *slots = fdt_getprop(good, node(good, "/memfd/object-1"),
					"slots-4k", &len);
	if (slots) {
		dup = malloc((size_t)len);
		memcpy(dup, slots, (size_t)len);
		fdt_setprop(b, n, "slots-4k", dup, len);
		free(dup);
	}
	expect_refused_fdt(b, "both own memory");
	/* A slot's pages must be a permutation of its block: a page given
	 * twice, or one past the block, is named. */
	assert_non_null(slots);
	uint8_t *bad = malloc((size_t)len);
	memcpy(bad, slots, (size_t)len);
	unsigned int p6 = (unsigned int)bad[16 + 12] << 8 | bad[16 + 13];
	bad[16 + 10] = (uint8_t)(p6 >> 8);
	bad[16 + 11] = (uint8_t)p6;
	b = copy_good();
	fdt_setprop(b, node(b, "/memfd/object-1"), "slots-4k", bad, len);
	char want[96];
	snprintf(want, sizeof(want), "slots-4k[0]: page %u of the block is out "
		 "of range or used twice", p6);
	expect_refused_fdt(b, want);
	memcpy(bad, slots, (size_t)len);
	/* The last page's index plus 512: the same bit modulo the block. */
	unsigned int past = ((unsigned int)bad[16 + 2 * 511] << 8 |
			     bad[16 + 2 * 511 + 1]) + 512;
	bad[16 + 2 * 511] = (uint8_t)(past >> 8);
	bad[16 + 2 * 511 + 1] = (uint8_t)past;
	b = copy_good();
	fdt_setprop(b, node(b, "/memfd/object-1"), "slots-4k", bad, len);
	snprintf(want, sizeof(want), "slots-4k[0]: page %u of the block", past);
	expect_refused_fdt(b, want);
	free(bad);
	b = copy_good();
	fdt_setprop_u64(b, node(b, "/memfd/object-0"), "size",
			(3ull << 30) + KHO_2M);
	expect_refused_fdt(b, "folios cover");
	b = copy_good();
	fdt_setprop_u64(b, node(b, "/memfd/object-0"), "nr-folios", 1);
	expect_refused_fdt(b, "nr-folios says");
	b = copy_good();
	fdt_delprop(b, node(b, "/memfd/object-0"), "object");
	expect_refused_fdt(b, "lacks a valid session or name");
	b = copy_good();
	fdt_setprop(b, node(b, "/memfd/object-0"), "folios", "x", 1);
	expect_refused_fdt(b, "malformed 'folios'");
}

/* Random damage: refused with a reason or (rarely) still valid; never a
 * crash or a sanitizer report. */
static void test_random_damage(void **state)
{
	(void)state;
	uint8_t *b = malloc(good_size);
	uint64_t rng = 99;
	unsigned refused = 0;
	for (int i = 0; i < 3000; i++) {
		memcpy(b, good, good_size);
		for (int j = 0; j < 1 + i % 4; j++) {
			rng = rng * 6364136223846793005ull + 1;
			b[(rng >> 33) % good_size] ^= (uint8_t)(1u << (rng >> 60) % 8);
		}
		struct kho_parsed p;
		struct kho_err err = { { 0 } };
		int rc = kho_blob_validate(b, good_size, 0, &p, &err);
		if (rc) {
			assert_int_equal(rc, -EINVAL);
			assert_true(err.msg[0] != '\0');
			refused++;
		} else {
			kho_parsed_free(&p);
		}
	}
	assert_true(refused > 1000);
	free(b);
}

/* ---- Header and boot: refusal touches nothing ----------------------------- */

struct boot_env {
	struct kho_fixture f;
	uint64_t pa;       /* committed handover */
	uint64_t marker;   /* unpreserved page with data */
	struct kho_header *h;
	uint8_t *fdt;
};

static void env_build(struct boot_env *e)
{
	assert_int_equal(kho_fixture_build(&e->f, true), 0);
	assert_int_equal(kho_folio_alloc(&e->f.k.alloc, KHO_4K_LG2, &e->marker),
			 0);
	*(uint64_t *)kho_va(&e->f.k, e->marker, 8) = 0xfeedface;
	assert_int_equal(kho_prepare(&e->f.k), 0);
	assert_int_equal(kho_freeze(&e->f.k, &e->pa), 0);
	e->h = kho_va(&e->f.k, e->pa, KHO_HDR_SIZE);
	e->fdt = (uint8_t *)e->h + KHO_HDR_SIZE;
}

static void recommit(struct boot_env *e)
{
	e->h->fdt_csum = kho_csum(e->fdt, e->h->fdt_size);
	e->h->commit = KHO_COMMIT_MAGIC ^ e->h->fdt_csum;
}

static void expect_boot_refused_at(struct boot_env *e, uint64_t pa,
				   const char *msg, bool data_intact)
{
	struct kho k;
	struct kho_err err = { { 0 } };
	int rc = kho_boot(&k, &e->f.pm, pa, &err);
	if (rc == 0)
		fail_msg("boot accepted, expected '%s'", msg);
	if (!strstr(err.msg, msg))
		fail_msg("reason '%s' lacks '%s'", err.msg, msg);
	/* Nothing was discarded or guarded: the unpreserved marker and the
	 * guest data are still there, readable in this process. */
	assert_int_equal(*(volatile uint64_t *)kho_va(&e->f.k, e->marker, 8),
			 0xfeedface);
	for (int i = 0; i < KHO_FIX_NR_MEMFDS && data_intact; i++)
		assert_int_equal(kho_memfd_check_stamp(e->f.m[i]), 0);
}

static void expect_boot_refused(struct boot_env *e, uint64_t pa,
				const char *msg)
{
	expect_boot_refused_at(e, pa, msg, true);
}

static void test_header_and_boot(void **state)
{
	(void)state;
	struct boot_env e;
	env_build(&e);
	struct kho_header saved = *e.h;

	e.h->commit = 0;
	expect_boot_refused(&e, e.pa, "not committed");
	*e.h = saved;
	e.h->magic ^= 1;
	expect_boot_refused(&e, e.pa, "no handover there");
	*e.h = saved;
	e.h->hdr_version = 2;
	expect_boot_refused(&e, e.pa, "not supported");
	*e.h = saved;
	e.fdt[100] ^= 0x10;
	expect_boot_refused(&e, e.pa, "checksum mismatch");
	e.fdt[100] ^= 0x10;
	e.h->fdt_size = KHO_FDT_MAX + 1ull;
	recommit(&e);
	expect_boot_refused(&e, e.pa, "out of bounds");
	*e.h = saved;
	e.h->region_size = 12345;
	expect_boot_refused(&e, e.pa, "region");
	*e.h = saved;
	expect_boot_refused(&e, KHO_FIX_RAM, "outside RAM");
	expect_boot_refused(&e, e.pa + 8, "misaligned");
	/* A well-framed blob whose content is wrong. */
	int n = fdt_path_offset(e.fdt, "/memfd");
	assert_int_equal(fdt_setprop_inplace(e.fdt, n, "compatible",
					     "iohandover,memfd-v8",
					     sizeof("iohandover,memfd-v8")),
			 0);
	recommit(&e);
	expect_boot_refused(&e, e.pa, "memfd: version v8");
	char cur[64];
	snprintf(cur, sizeof(cur), "iohandover,memfd-v%u", KHO_MEMFD_VERSION);
	assert_int_equal(fdt_setprop_inplace(e.fdt, n, "compatible", cur,
					     (int)strlen(cur) + 1),
			 0);
	recommit(&e);
	/* The handover region inside preserved memory. */
	uint64_t victim = e.f.m[0]->runs[1].pa & ~(KHO_2M - 1);
	assert_int_equal(e.f.m[0]->runs[1].size_lg2, KHO_2M_LG2);
	void *v = kho_va(&e.f.k, victim, KHO_2M);
	void *keep = malloc(KHO_2M);
	memcpy(keep, v, KHO_2M);
	memcpy(v, e.h, KHO_HDR_SIZE + e.h->fdt_size);
	/* (the copy itself overwrote one guest folio's stamp) */
	expect_boot_refused_at(&e, victim, "overlaps preserved memory", false);
	memcpy(v, keep, KHO_2M);
	for (int i = 0; i < KHO_FIX_NR_MEMFDS; i++)
		assert_int_equal(kho_memfd_check_stamp(e.f.m[i]), 0);
	free(keep);
	/* And the real one still boots. */
	struct kho k;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_boot(&k, &e.f.pm, e.pa, &err), 0);
	kho_fini(&k);
	kho_fixture_fini(&e.f);
}

/*
 * A committed header whose fdt_size runs past its region: refused before
 * a byte of the FDT is read. RAM here is 4 MiB followed by inaccessible
 * address space, the handover in its last 2 MiB, so reading fdt_size
 * bytes would fault (in every build, not only under ASan).
 */
static void test_fdt_size_beyond_region(void **state)
{
	(void)state;
	const uint64_t ram = 2 * KHO_2M, pa = KHO_2M;
	const size_t span = ram + KHO_FDT_MAX + KHO_2M;
	uint8_t *base = mmap(NULL, span, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(base != MAP_FAILED);
	assert_int_equal(mprotect(base, ram, PROT_READ | PROT_WRITE), 0);
	struct physmem pm = { .fd = -1, .base = base, .size = ram };
	struct kho_header *h = (struct kho_header *)(base + pa);
	static const uint64_t sizes[] = {
		KHO_2M - KHO_HDR_SIZE + 1, /* one byte past the region */
		KHO_2M,                    /* the header page too many */
		KHO_FDT_MAX,               /* the largest FDT allowed */
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(h, 0, sizeof(*h));
		h->magic = KHO_HDR_MAGIC;
		h->hdr_version = KHO_HDR_VERSION;
		h->hdr_size = KHO_HDR_SIZE;
		h->fdt_size = sizes[i];
		h->fdt_csum = 0x1234;
		h->region_size = KHO_2M;
		h->generation = 1;
		h->commit = KHO_COMMIT_MAGIC ^ h->fdt_csum;
		struct kho_header hdr;
		const void *fdt;
		struct kho_err err = { { 0 } };
		assert_int_equal(kho_header_read(&pm, pa, &hdr, &fdt, &err),
				 -EINVAL);
		if (!strstr(err.msg, "exceeds the handover region"))
			fail_msg("fdt_size %llu: reason '%s' does not say it "
				 "exceeds the region",
				 (unsigned long long)sizes[i], err.msg);
		struct kho k;
		assert_int_equal(kho_boot(&k, &pm, pa, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "exceeds the handover region"));
		uint64_t latest;
		assert_int_equal(kho_latest_committed(&pm, &pa, 1, &latest),
				 -ENOENT);
	}
	munmap(base, span);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_blob_is_valid),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_sub_nodes),
		cmocka_unit_test(test_subsys_register_refused),
		cmocka_unit_test(test_memory_map),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_random_damage),
		cmocka_unit_test(test_header_and_boot),
		cmocka_unit_test(test_fdt_size_beyond_region),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
