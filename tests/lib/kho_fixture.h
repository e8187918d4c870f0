/* SPDX-License-Identifier: MIT */
/*
 * kho test fixture: a kernel with a standard set of preserved objects, and
 * where the test binary, the built iohandover and the source tree are.
 */
#ifndef IOH_TESTS_KHO_FIXTURE_H
#define IOH_TESTS_KHO_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "kho/kho.h"
#include "kho/memfd.h"

#define KHO_FIX_RAM (8ull << 30)
#define KHO_FIX_NR_MEMFDS 2

/*
 * Sessions: "vm0" holds memfd "guest-ram" (3 GiB, default mix, seed 7);
 * "vm1" holds "fragmented" (16 MiB of shuffled 4K folios); "idle" is
 * empty. All preserved; stamped when there is physmem.
 */
struct kho_fixture {
	struct physmem pm;
	bool has_pm;
	struct kho k;
	struct kho_memfd *m[KHO_FIX_NR_MEMFDS];
};

extern const char *const kho_fix_session[KHO_FIX_NR_MEMFDS];
extern const char *const kho_fix_name[KHO_FIX_NR_MEMFDS];

int kho_fixture_build(struct kho_fixture *f, bool with_physmem);
/* Frees the kernel's metadata (and the physmem mapping if owned). */
void kho_fixture_fini(struct kho_fixture *f);

/* build/<variant> of the running test binary, and the source tree. */
const char *kho_test_bindir(void);
const char *kho_test_srcdir(void);
/*
 * A handover blob re-serialized without the root's 'producer' (who wrote
 * it: it changes with every release, not with the format), so golden
 * files compare byte for byte across releases. malloc'd; NULL on error.
 */
void *kho_test_canon(const void *fdt, size_t *size);

#endif /* IOH_TESTS_KHO_FIXTURE_H */
