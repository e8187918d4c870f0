// SPDX-License-Identifier: MIT
/*
 * The handover tools as a person uses them: `iohandover handover check`
 * exits 0 for a valid blob and 2 with the reason for a bad one, `show`
 * prints sessions and objects in plain words, and `iohandover kernel`
 * refuses bad options and a missing handover with exit 2 and a message.
 */
#include <libfdt.h>
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

#include "abi/physmem.h"
#include "tests/lib/iommufd_blob.h"
#include "tests/lib/kho_fixture.h"

/* Run `iohandover ARGS` through the shell; stdout+stderr into out. */
static int run(char *out, size_t len, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s/iohandover' %s 2>&1", kho_test_bindir(),
		 args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void golden(char *buf, size_t len)
{
	snprintf(buf, len, "%s/tests/data/kho-v1-basic.dtb", kho_test_srcdir());
}

static void test_check(void **state)
{
	(void)state;
	static char out[8192];
	char g[4096], cut[64] = "/tmp/ioh-kho-cli-XXXXXX";
	golden(g, sizeof(g));
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", g), 0);
	assert_non_null(strstr(out, "valid (ABI v1, generation 1, 3 sessions, "
				    "2 objects)"));
	assert_int_equal(run(out, sizeof(out), "handover check --ram 4G '%s'",
			     g),
			 2);
	assert_non_null(strstr(out, "invalid: root: blob is for"));
	/* A truncated copy. */
	int fd = mkstemp(cut);
	assert_true(fd >= 0);
	close(fd);
	char cmd[8300];
	snprintf(cmd, sizeof(cmd), "head -c 5000 '%s' > '%s'", g, cut);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", cut), 2);
	assert_non_null(strstr(out, "invalid: blob: truncated"));
	unlink(cut);
	assert_int_equal(run(out, sizeof(out), "handover check /nonexistent"),
			 2);
	assert_non_null(strstr(out, "No such file"));
	assert_int_equal(run(out, sizeof(out), "handover frob x"), 2);
	assert_non_null(strstr(out, "unknown action"));
}

/* Write size bytes of blob to a new temporary file; its path in path. */
static void write_tmp(char path[64], const void *blob, size_t size)
{
	snprintf(path, 64, "/tmp/ioh-kho-cli-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, blob, size), (ssize_t)size);
	close(fd);
}

/* Rewrite the len and offset of area i of the blob's ioas. */
static void set_area_range(void *b, int i, uint64_t len, uint64_t off)
{
	int alen;
	uint8_t *d = fdt_getprop_w(b, fdt_path_offset(b, IOMMUFD_BLOB_IOAS),
				   "areas", &alen);
	assert_non_null(d);
	assert_true((i + 1) * 40 <= alen);
	fdt64_t be = cpu_to_fdt64(len);
	memcpy(d + 40 * i + 8, &be, 8);
	be = cpu_to_fdt64(off);
	memcpy(d + 40 * i + 16, &be, 8);
}

/*
 * `handover check` on blobs with iommu and iommufd objects: valid as
 * written, invalid (exit 2, the reason printed) when an ioas names a
 * memfd the handover does not hold or an area runs past its memfd, a
 * hwpt's 'ioas' names none, or the VM has no hwpt, as a booting kernel
 * refuses them.
 */
static void test_check_iommufd(void **state)
{
	(void)state;
	static char out[8192];
	char path[64];
	void *blob, *b;
	size_t size;
	assert_int_equal(iommufd_blob_build(&blob, &size), 0);
	write_tmp(path, blob, size);
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", path), 0);
	assert_non_null(strstr(out, "valid (ABI v1, generation 1, 4 sessions, "
				    "5 objects)"));
	unlink(path);

	b = iommufd_blob_copy(blob, size);
	assert_non_null(b);
	assert_int_equal(fdt_setprop(b, fdt_path_offset(b, IOMMUFD_BLOB_IOAS),
				     "memfds", "ghost", sizeof("ghost")),
			 0);
	assert_int_equal(fdt_pack(b), 0);
	write_tmp(path, b, fdt_totalsize(b));
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", path), 2);
	assert_non_null(strstr(out, "invalid: iommufd object vm0/ioas-1: "));
	assert_non_null(strstr(out, "'ghost'"));
	unlink(path);
	free(b);

	b = iommufd_blob_copy(blob, size);
	assert_non_null(b);
	set_area_range(b, 1, 2ull << 30, 2ull << 30);
	assert_int_equal(fdt_pack(b), 0);
	write_tmp(path, b, fdt_totalsize(b));
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", path), 2);
	assert_non_null(strstr(out, "invalid: iommufd object vm0/ioas-1: "));
	assert_non_null(strstr(out, "beyond memfd 'guest-ram'"));
	unlink(path);
	free(b);

	/* Between objects: a hwpt's 'ioas' naming none. */
	b = iommufd_blob_copy(blob, size);
	assert_non_null(b);
	assert_int_equal(fdt_setprop_u64(b, fdt_path_offset(b, IOMMUFD_BLOB_HWPT),
					 "ioas", 7), 0);
	assert_int_equal(fdt_pack(b), 0);
	write_tmp(path, b, fdt_totalsize(b));
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", path), 2);
	assert_non_null(strstr(out, "invalid: iommufd: hwpt 2 of session vm0: "
				    "'ioas' 7 names no ioas"));
	unlink(path);
	free(b);

	/* What the live update kernel needs: the VM's one ioas. */
	b = iommufd_blob_copy(blob, size);
	assert_non_null(b);
	assert_int_equal(fdt_del_node(b, fdt_path_offset(b, IOMMUFD_BLOB_HWPT)),
			 0);
	assert_int_equal(fdt_pack(b), 0);
	write_tmp(path, b, fdt_totalsize(b));
	assert_int_equal(run(out, sizeof(out), "handover check '%s'", path), 2);
	assert_non_null(strstr(out, "invalid: live update: session vm0 has 1 "
				    "ioas and 0 hwpt objects"));
	unlink(path);
	free(b);
	free(blob);
}

static void test_show(void **state)
{
	(void)state;
	static char out[8192];
	char g[4096];
	golden(g, sizeof(g));
	assert_int_equal(run(out, sizeof(out), "handover show '%s'", g), 0);
	assert_non_null(strstr(out, "ABI v1, written by kernel generation 1"));
	assert_non_null(strstr(out, "machine RAM: 8.0 GiB"));
	assert_non_null(strstr(out, "subsystems: memfd v1 iommu v1 iommufd v1"));
	assert_non_null(strstr(out, "session vm0: 1 object\n"));
	assert_non_null(strstr(out, "  memfd guest-ram: guest memory file of "
				    "3072 MiB"));
	assert_non_null(strstr(out, "session idle: 0 objects"));

	/* The iommu and iommufd objects described in plain words. */
	void *blob;
	size_t size;
	char path[64];
	assert_int_equal(iommufd_blob_build(&blob, &size), 0);
	write_tmp(path, blob, size);
	assert_int_equal(run(out, sizeof(out), "handover show '%s'", path), 0);
	assert_non_null(strstr(out, "iommufd ioas-1: ioas 1: 2 areas"));
	assert_non_null(strstr(out, "iommufd hwpt-2: hwpt 2: arm-s2 table at "));
	assert_non_null(strstr(out, ", 2 pages, features 0x0"));
	unlink(path);
	free(blob);
}

static void test_kernel_refusals(void **state)
{
	(void)state;
	static char out[8192];
	struct physmem pm;
	assert_int_equal(run(out, sizeof(out), "kernel"), 2);
	assert_non_null(strstr(out, "exactly one of --physmem-fd"));
	assert_int_equal(run(out, sizeof(out),
			     "kernel --physmem-size 64M --handover 0x1000"),
			 2);
	assert_non_null(strstr(out, "--handover needs --physmem-fd"));
	assert_int_equal(run(out, sizeof(out), "kernel --physmem-size lots"), 2);
	assert_non_null(strstr(out, "is not a number"));
	assert_int_equal(run(out, sizeof(out), "kernel --frob 1"), 2);
	assert_non_null(strstr(out, "unknown or bad option --frob"));
	/* RAM without a handover at that address. */
	assert_int_equal(physmem_create(&pm, 64ull << 20), 0);
	assert_int_equal(run(out, sizeof(out),
			     "kernel --physmem-fd %d --handover 0x200000",
			     pm.fd),
			 2);
	assert_non_null(strstr(out, "handover at 0x200000 refused: header at "
				    "0x200000: bad magic"));
	/* A live update kernel (both machine descriptors): a profile no
	 * kernel has; a register region that is not open. */
	assert_int_equal(run(out, sizeof(out), "kernel --physmem-fd %d "
			     "--region-fd 901 --profile v9", pm.fd), 2);
	assert_non_null(strstr(out, "unknown profile 'v9' (known: v1, v2, "));
	assert_int_equal(run(out, sizeof(out), "kernel --physmem-fd %d "
			     "--region-fd 901", pm.fd), 2);
	assert_non_null(strstr(out, "machine: "));
	/* A fresh kernel with no guest and one generation just boots. */
	assert_int_equal(run(out, sizeof(out), "kernel --physmem-fd %d", pm.fd),
			 0);
	assert_non_null(strstr(out, "gen=1 "));
	assert_non_null(strstr(out, "boot=fresh memfds=0"));
	physmem_detach(&pm, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_iommufd),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_kernel_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
