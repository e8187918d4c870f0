// SPDX-License-Identifier: MIT
#include "tests/lib/kho_fixture.h"

#include <errno.h>
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
