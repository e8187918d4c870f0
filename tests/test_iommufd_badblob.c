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

#include "iommufd/preserve.h"
#include "kho/kho.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_blob_is_valid),
		cmocka_unit_test(test_existing_checks),
		cmocka_unit_test(test_unit_va_bits_full_width),
		cmocka_unit_test(test_hwpt_va_bits_full_width),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
