// SPDX-License-Identifier: MIT
#include "tests/lib/kho_fixture.h"

#include <errno.h>
#include <libfdt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const kho_fix_session[KHO_FIX_NR_MEMFDS] = { "vm0", "vm1" };
const char *const kho_fix_name[KHO_FIX_NR_MEMFDS] = { "guest-ram",
						      "fragmented" };

int kho_fixture_build(struct kho_fixture *f, bool with_physmem)
{
	static const struct kho_memfd_mix frag = {
		.ppm_1g = 0, .ppm_4k = 1000000, .seed = 3, .scatter_4k = true
	};
	struct kho_memfd_mix guest = kho_memfd_mix_default;
	struct luo_session *s;
	int err;

	memset(f, 0, sizeof(*f));
	guest.seed = 7;
	if (with_physmem) {
		err = physmem_create(&f->pm, KHO_FIX_RAM);
		if (err)
			return err;
		f->has_pm = true;
	}
	err = kho_init(&f->k, f->has_pm ? &f->pm : NULL, KHO_FIX_RAM);
	if (!err)
		err = kho_memfd_create(&f->k, kho_fix_name[0], 3ull << 30,
				       &guest, &f->m[0]);
	if (!err)
		err = kho_memfd_create(&f->k, kho_fix_name[1], 16ull << 20,
				       &frag, &f->m[1]);
	for (int i = 0; i < KHO_FIX_NR_MEMFDS && !err; i++) {
		if (f->has_pm)
			err = kho_memfd_stamp(f->m[i]);
		if (!err)
			err = luo_session_create(&f->k, kho_fix_session[i], &s);
		if (!err)
			err = kho_memfd_preserve(s, kho_fix_name[i], f->m[i]);
	}
	if (!err)
		err = luo_session_create(&f->k, "idle", &s);
	return err;
}

void kho_fixture_fini(struct kho_fixture *f)
{
	for (int i = 0; i < KHO_FIX_NR_MEMFDS; i++) {
		if (!f->m[i])
			continue;
		kho_memfd_forget(f->m[i]);
	}
	kho_fini(&f->k);
	if (f->has_pm)
		physmem_detach(&f->pm, true);
	memset(f, 0, sizeof(*f));
}

static char bindir[PATH_MAX], srcdir[PATH_MAX];

const char *kho_test_bindir(void)
{
	if (!bindir[0]) {
		ssize_t n = readlink("/proc/self/exe", bindir,
				     sizeof(bindir) - 1);
		if (n < 0)
			return ".";
		bindir[n] = '\0';
		/* .../build/<variant>/tests/<name> -> .../build/<variant> */
		for (int i = 0; i < 2; i++) {
			char *slash = strrchr(bindir, '/');
			if (slash)
				*slash = '\0';
		}
	}
	return bindir;
}

const char *kho_test_srcdir(void)
{
	if (!srcdir[0]) {
		const char *env = getenv("IOH_SRCDIR");
		if (env) {
			snprintf(srcdir, sizeof(srcdir), "%s", env);
		} else {
			snprintf(srcdir, sizeof(srcdir), "%s/../..",
				 kho_test_bindir());
		}
	}
	return srcdir;
}

static int canon_node(const void *in, int node, void *out, int depth)
{
	int off, err;
	const char *name = fdt_get_name(in, node, NULL);
	if (!name)
		return -FDT_ERR_BADSTRUCTURE;
	if ((err = fdt_begin_node(out, depth ? name : "")))
		return err;
	fdt_for_each_property_offset(off, in, node) {
		const char *pn;
		int len;
		const void *v = fdt_getprop_by_offset(in, off, &pn, &len);
		if (!v)
			return len;
		if (!depth && !strcmp(pn, "producer"))
			continue;
		if ((err = fdt_property(out, pn, v, len)))
			return err;
	}
	fdt_for_each_subnode(off, in, node)
		if ((err = canon_node(in, off, out, depth + 1)))
			return err;
	return fdt_end_node(out);
}

void *kho_test_canon(const void *fdt, size_t *size)
{
	void *out = malloc(KHO_FDT_MAX);
	if (!out)
		return NULL;
	if (fdt_create(out, KHO_FDT_MAX) || fdt_finish_reservemap(out) ||
	    canon_node(fdt, 0, out, 0) || fdt_finish(out)) {
		free(out);
		return NULL;
	}
	*size = fdt_totalsize(out);
	return out;
}
