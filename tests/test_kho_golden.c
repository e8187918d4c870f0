// SPDX-License-Identifier: MIT
/*
 * Golden handover blobs: tests/data/kho-v1-*.dtb were written by the first
 * version of the v1 writer. This version (and every later one that still
 * claims to read v1) must accept them and restore the same objects; and as
 * long as the writer says v1, it must still write them byte for byte, but
 * for the root's informative 'producer' (who wrote it, added in 0.13.0;
 * it changes with every release): both sides are compared re-serialized
 * without it.
 *
 * To (re)write the files on purpose: IOH_KHO_GOLDEN_WRITE=1 ./test_kho_golden
 * Only do that together with an ABI version bump or for a new file: an old
 * golden file changing is exactly what this test exists to catch.
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
#include <unistd.h>
#include <cmocka.h>

#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "tests/lib/kho_fixture.h"

/* The fixture's sessions, plus 1G folios and 4K bitmaps. */
static void build_basic(struct kho_fixture *f)
{
	assert_int_equal(kho_fixture_build(f, false), 0);
}

static void build_bitmaps(struct kho_fixture *f)
{
	static const struct kho_memfd_mix all_1g = { .ppm_1g = 1000000,
						     .seed = 1 };
	struct luo_session *s;
	uint64_t pa;
	memset(f, 0, sizeof(*f));
	assert_int_equal(kho_init(&f->k, NULL, 4ull << 30), 0);
	assert_int_equal(kho_memfd_create(&f->k, "huge", 2ull << 30, &all_1g,
					  &f->m[0]),
			 0);
	assert_int_equal(luo_session_create(&f->k, "big", &s), 0);
	assert_int_equal(kho_memfd_preserve(s, "huge", f->m[0]), 0);
	/* Every other 4K page of a block: a bitmap, not 32 ranges. */
	for (int i = 0; i < 64; i++) {
		assert_int_equal(kho_folio_alloc(&f->k.alloc, KHO_4K_LG2, &pa), 0);
		if (i % 2 == 0)
			assert_int_equal(kho_folio_run_flags(&f->k.alloc, pa,
							     KHO_4K_LG2, 1, 0,
							     KHO_FOLIO_PRESERVED,
							     0),
					 0);
	}
}

struct golden {
	const char *file;
	void (*build)(struct kho_fixture *f);
	/* What a reader must find. */
	size_t sessions, objs, runs, masks;
	uint64_t preserved_bytes, ram;
	uint64_t folios[KHO_FIX_NR_MEMFDS][3]; /* 4K, 2M, 1G per memfd */
	/* Written by this version's writer, which must still reproduce it
	 * (older files are only read). */
	bool current;
};

/*
 * kho-v1-*: ABI v1 with memfd v1 (one run per physically contiguous
 * group of folios). kho-v1-memfd2-*: the same objects with memfd v2
 * (shuffled 4K slots as one record each).
 */
static const struct golden goldens[] = {
	{ "kho-v1-basic.dtb", build_basic, 3, 2, 17, 0,
	  (3ull << 30) + (16ull << 20), 8ull << 30,
	  { { 3584, 1017, 1 }, { 4096, 0, 0 } }, false },
	{ "kho-v1-bitmaps.dtb", build_bitmaps, 1, 1, 1, 1,
	  (2ull << 30) + 32 * 4096, 4ull << 30,
	  { { 0, 0, 2 } }, false },
	{ "kho-v1-memfd2-basic.dtb", build_basic, 3, 2, 17, 0,
	  (3ull << 30) + (16ull << 20), 8ull << 30,
	  { { 3584, 1017, 1 }, { 4096, 0, 0 } }, true },
	{ "kho-v1-memfd2-bitmaps.dtb", build_bitmaps, 1, 1, 1, 1,
	  (2ull << 30) + 32 * 4096, 4ull << 30,
	  { { 0, 0, 2 } }, true },
};

static void *read_all(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	void *b = malloc(KHO_FDT_MAX);
	*size = fread(b, 1, KHO_FDT_MAX, f);
	fclose(f);
	return b;
}

static void golden_path(const struct golden *g, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tests/data/%s", kho_test_srcdir(), g->file);
}

static void fixture_free(struct kho_fixture *f)
{
	kho_fixture_fini(f);
}

static void write_goldens(void)
{
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		if (!goldens[i].current)
			continue;
		struct kho_fixture f;
		char path[4096];
		goldens[i].build(&f);
		assert_int_equal(kho_prepare(&f.k), 0);
		golden_path(&goldens[i], path, sizeof(path));
		FILE *out = fopen(path, "wb");
		assert_non_null(out);
		assert_int_equal(fwrite(f.k.out_fdt, 1, f.k.out_fdt_size, out),
				 f.k.out_fdt_size);
		fclose(out);
		fixture_free(&f);
	}
}

static void check_goldens_read(void)
{
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		char path[4096];
		size_t size = 0;
		golden_path(g, path, sizeof(path));
		void *b = read_all(path, &size);
		if (!b)
			fail_msg("cannot read %s", path);
		struct kho k;
		struct kho_err err = { { 0 } };
		if (kho_boot_fdt(&k, b, size, 0, &err))
			fail_msg("%s refused: %s", g->file, err.msg);
		assert_int_equal(k.in.abi_version, 1);
		assert_string_equal(k.in.producer, "");
		assert_int_equal(k.in.generation, 1);
		assert_int_equal(k.in.ram_size, g->ram);
		assert_int_equal(k.in.nr_sessions, g->sessions);
		assert_int_equal(k.in.nr_objs, g->objs);
		assert_int_equal(k.in.nr_runs, g->runs);
		assert_int_equal(k.in.nr_masks, g->masks);
		assert_int_equal(k.in.preserved_bytes, g->preserved_bytes);
		for (size_t o = 0; o < g->objs; o++) {
			struct kho_memfd *m;
			uint64_t c[3];
			const struct kho_pobj *ob = &k.in.objs[o];
			assert_int_equal(kho_memfd_retrieve(
						 &k, k.in.sessions[ob->session],
						 ob->name, &m),
					 0);
			kho_memfd_census(m, c);
			for (int s = 0; s < 3; s++)
				assert_int_equal(c[s], g->folios[o][s]);
			kho_memfd_forget(m);
		}
		assert_true(kho_finish(&k) >= 0);
		kho_fini(&k);
		free(b);
	}
}

static void test_golden_still_read(void **state)
{
	(void)state;
	check_goldens_read();
}

/* With every subsystem's real handler registered, as a booting kernel
 * has them (iommu and iommufd replace the built-in placeholders). Last:
 * registration cannot be undone. */
static void test_golden_read_by_full_kernel(void **state)
{
	(void)state;
	assert_int_equal(iommufd_kho_register(), 0);
	assert_non_null(kho_subsys_find("iommufd")->validate_obj);
	check_goldens_read();
}

static void test_writer_unchanged(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		if (!goldens[i].current)
			continue;
		struct kho_fixture f;
		char path[4096];
		size_t size = 0;
		golden_path(&goldens[i], path, sizeof(path));
		void *b = read_all(path, &size);
		assert_non_null(b);
		goldens[i].build(&f);
		assert_int_equal(kho_prepare(&f.k), 0);
		/* The writer names itself; the rest must not have moved. */
		assert_string_equal(fdt_getprop(f.k.out_fdt, 0, "producer", NULL),
				    KHO_PRODUCER);
		size_t csize, gsize;
		void *c = kho_test_canon(f.k.out_fdt, &csize);
		void *gc = kho_test_canon(b, &gsize);
		assert_non_null(c);
		assert_non_null(gc);
		if (csize != gsize || memcmp(c, gc, csize))
			fail_msg("%s: the v%u writer no longer writes this blob; "
				 "if the format changed, bump the version and "
				 "keep the old file",
				 goldens[i].file, KHO_ABI_VERSION);
		free(c);
		free(gc);
		fixture_free(&f);
		free(b);
	}
}

static void test_dtc_reads_golden(void **state)
{
	(void)state;
	if (system("command -v dtc >/dev/null 2>&1"))
		skip();
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		char path[4096], cmd[4200];
		golden_path(&goldens[i], path, sizeof(path));
		snprintf(cmd, sizeof(cmd),
			 "dtc -q -I dtb -O dts '%s' | grep -q 'iohandover,kho-v1'",
			 path);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_save_blob(void **state)
{
	(void)state;
	char dir[] = "/tmp/ioh-kho-save-XXXXXX", path[128], cmd[160];
	size_t size = 0;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(kho_save_blob(path, 7, "abc", 3), 0);
	snprintf(path, sizeof(path), "%s/sub/handover-gen007.dtb", dir);
	void *b = read_all(path, &size);
	assert_non_null(b);
	assert_int_equal(size, 3);
	assert_memory_equal(b, "abc", 3);
	free(b);
	assert_int_equal(kho_save_blob("/proc/nonexistent/x", 1, "a", 1),
			 -ENOENT);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	if (getenv("IOH_KHO_GOLDEN_WRITE"))
		write_goldens();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_still_read),
		cmocka_unit_test(test_writer_unchanged),
		cmocka_unit_test(test_dtc_reads_golden),
		cmocka_unit_test(test_save_blob),
		cmocka_unit_test(test_golden_read_by_full_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
