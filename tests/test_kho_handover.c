// SPDX-License-Identifier: MIT
/*
 * Handover in one process (the exec chain is test_kho_chain): every
 * preserved object comes back the same, finish releases what nobody
 * claimed, cancel leaves nothing behind, and the poison catches a kernel
 * that relies on memory the previous one did not preserve.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ioh/ioh.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "tests/lib/kho_fixture.h"

#define MIB (1ull << 20)

static int count_run(void *ctx, uint64_t pa, unsigned lg2, uint64_t n)
{
	(void)pa;
	*(uint64_t *)ctx += n << lg2;
	return 0;
}

static int count_mask(void *ctx, uint64_t blk, const uint64_t m[8])
{
	(void)blk;
	for (int i = 0; i < 8; i++)
		*(uint64_t *)ctx += (uint64_t)__builtin_popcountll(m[i]) << 12;
	return 0;
}

/* Bytes of folios carrying flag. */
static uint64_t flagged_bytes(const struct kho *k, unsigned flag)
{
	static const struct kho_walk_ops ops = { count_run, count_mask };
	uint64_t n = 0;
	assert_int_equal(kho_alloc_walk(&k->alloc, flag, &ops, &n), 0);
	return n;
}

static uint64_t handover(struct kho *k)
{
	uint64_t pa;
	assert_int_equal(kho_prepare(k), 0);
	assert_int_equal(kho_freeze(k, &pa), 0);
	return pa;
}

/* Read pa in a child with the trap installed; returns its stderr. */
static void read_in_child(struct kho *b, uint64_t pa, char *out, size_t len,
			  int *status)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		kho_poison_trap_install(b);
		volatile uint64_t *p = kho_va(b, pa, 8);
		uint64_t v = *p;
		fprintf(stderr, "read %llx without a fault\n",
			(unsigned long long)v);
		_exit(0);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho b;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_fixture_build(&f, true), 0);
	uint64_t pa = handover(&f.k);

	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_int_equal(b.generation, 2);
	assert_int_equal(b.in.nr_sessions, 3);
	assert_int_equal(b.in.nr_objs, 2);
	assert_int_equal(flagged_bytes(&b, KHO_FOLIO_INCOMING),
			 (3ull << 30) + 16 * MIB + 2 * MIB);
	for (int i = 0; i < KHO_FIX_NR_MEMFDS; i++) {
		struct kho_memfd *m;
		assert_int_equal(kho_memfd_retrieve(&b, kho_fix_session[i],
						    kho_fix_name[i], &m),
				 0);
		assert_int_equal(m->size, f.m[i]->size);
		assert_int_equal(m->nr_folios, f.m[i]->nr_folios);
		assert_int_equal(m->nr_runs, f.m[i]->nr_runs);
		for (size_t j = 0; j < m->nr_runs; j++) {
			assert_int_equal(m->runs[j].offset,
					 f.m[i]->runs[j].offset);
			assert_int_equal(m->runs[j].pa, f.m[i]->runs[j].pa);
			assert_int_equal(m->runs[j].count, f.m[i]->runs[j].count);
			assert_int_equal(m->runs[j].size_lg2,
					 f.m[i]->runs[j].size_lg2);
		}
		/* Folio by folio, through the lookup index built on demand. */
		assert_null(m->folios);
		for (size_t j = 0; j < f.m[i]->nr_folios; j++) {
			const struct kho_memfd_folio *a = &f.m[i]->folios[j];
			const struct kho_memfd_folio *r =
				kho_memfd_lookup(m, a->offset + 4095);
			assert_non_null(r);
			assert_int_equal(r->offset, a->offset);
			assert_int_equal(r->pa, a->pa);
			assert_int_equal(r->size_lg2, a->size_lg2);
		}
		assert_null(kho_memfd_lookup(m, m->size));
		assert_int_equal(kho_memfd_check_stamp(m), 0);
		assert_int_equal(kho_memfd_retrieve(&b, kho_fix_session[i],
						    kho_fix_name[i], &m),
				 -EALREADY);
		f.m[i]->k = NULL;
		kho_memfd_forget(m);
	}
	struct kho_memfd *m;
	int node;
	uint32_t ver;
	assert_int_equal(kho_memfd_retrieve(&b, "vm0", "nope", &m), -ENOENT);
	assert_int_equal(luo_retrieve(&b, "vm1", "fragmented", "iommufd", &node),
			 -ENOENT);
	assert_int_equal(kho_subsys_node(&b, "iommu", &node, &ver), 0);
	assert_int_equal(ver, 1);
	/* Everything was claimed: finish frees only the old blob. */
	assert_int_equal(kho_finish(&b), 2 * MIB);
	assert_int_equal(flagged_bytes(&b, KHO_FOLIO_INCOMING), 0);
	assert_int_equal(b.alloc.free_bytes,
			 KHO_FIX_RAM - (3ull << 30) - 16 * MIB);
	/* New allocations are usable (their guard is lifted). */
	uint64_t npa;
	assert_int_equal(kho_folio_alloc(&b.alloc, KHO_2M_LG2, &npa), 0);
	memset(kho_va(&b, npa, KHO_2M), 0xab, KHO_2M);
	assert_int_equal(kho_folio_alloc(&b.alloc, KHO_4K_LG2, &npa), 0);
	memset(kho_va(&b, npa, KHO_4K), 0xcd, KHO_4K);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

static void test_finish_releases_unclaimed(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho b;
	struct kho_err err = { { 0 } };
	struct kho_memfd *m;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	uint64_t frag_pa = f.m[1]->folios[0].pa;
	uint64_t pa = handover(&f.k);
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_int_equal(kho_memfd_retrieve(&b, "vm0", "guest-ram", &m), 0);
	uint64_t free0 = b.alloc.free_bytes;
	assert_int_equal(kho_finish(&b), 16 * MIB + 2 * MIB);
	assert_int_equal(b.alloc.free_bytes, free0 + 16 * MIB + 2 * MIB);
	assert_int_equal(kho_finish(&b), -ENOENT);
	/* The unclaimed data is gone for every observer of RAM, and a late
	 * reader in this kernel traps. */
	uint64_t w = 1;
	assert_int_equal(pread(f.pm.fd, &w, 8, (off_t)frag_pa), 8);
	assert_int_equal(w, 0);
	char msg[512];
	int status;
	read_in_child(&b, frag_pa, msg, sizeof(msg), &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	/* Memory handed out again is usable (its guard is lifted). */
	for (int i = 0; i < 5000; i++) {
		uint64_t pa4k;
		assert_int_equal(kho_folio_alloc(&b.alloc, KHO_4K_LG2, &pa4k), 0);
		*(volatile uint64_t *)kho_va(&b, pa4k, 8) = 1;
		assert_int_equal(kho_folio_free(&b.alloc, pa4k), 0);
	}
	uint64_t pa2m[8];
	for (int i = 0; i < 8; i++) {
		assert_int_equal(kho_folio_alloc(&b.alloc, KHO_2M_LG2, &pa2m[i]),
				 0);
		*(volatile uint64_t *)kho_va(&b, pa2m[i], 8) = 1;
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(kho_folio_free(&b.alloc, pa2m[i]), 0);
	assert_int_equal(kho_memfd_check_stamp(m), 0);
	assert_int_equal(kho_memfd_destroy(m), 0);
	assert_int_equal(b.alloc.free_bytes, KHO_FIX_RAM);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

static void test_cancel_leaves_nothing(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho_alloc fresh;
	struct kho_err err = { { 0 } };
	struct kho_header hdr;
	const void *fdt;
	uint64_t pa;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	assert_int_equal(kho_alloc_init(&fresh, KHO_FIX_RAM), 0);
	uint64_t free1 = f.k.alloc.free_bytes;
	uint64_t meta1 = f.k.alloc.meta_bytes;
	assert_int_equal(flagged_bytes(&f.k, KHO_FOLIO_PRESERVED),
			 (3ull << 30) + 16 * MIB);

	/* Cancel from PREPARED. */
	assert_int_equal(kho_prepare(&f.k), 0);
	assert_int_equal(kho_prepare(&f.k), -EBUSY);
	assert_int_equal(kho_cancel(&f.k), 0);
	assert_int_equal(f.k.state, KHO_NORMAL);
	assert_null(f.k.sessions);
	assert_int_equal(flagged_bytes(&f.k, KHO_FOLIO_PRESERVED), 0);
	assert_false(f.m[0]->preserved);

	/* Again, from FROZEN: the blob is uncommitted and freed. */
	struct luo_session *s;
	for (int i = 0; i < KHO_FIX_NR_MEMFDS; i++) {
		assert_int_equal(luo_session_create(&f.k, kho_fix_session[i], &s),
				 0);
		assert_int_equal(kho_memfd_preserve(s, kho_fix_name[i], f.m[i]),
				 0);
	}
	pa = handover(&f.k);
	assert_int_equal(f.k.alloc.free_bytes, free1 - 2 * MIB);
	assert_int_equal(luo_session_create(&f.k, "late", &s), -EBUSY);
	assert_int_equal(luo_session_destroy(f.k.sessions), -EBUSY);
	assert_int_equal(kho_memfd_destroy(f.m[0]), -EBUSY);
	assert_true(f.m[0]->frozen);
	assert_int_equal(kho_header_read(&f.pm, pa, &hdr, &fdt, &err), 0);
	assert_int_equal(kho_cancel(&f.k), 0);
	assert_false(f.m[0]->frozen);
	assert_int_not_equal(kho_header_read(&f.pm, pa, &hdr, &fdt, &err), 0);
	assert_non_null(strstr(err.msg, "no handover there"));
	assert_int_equal(f.k.alloc.free_bytes, free1);
	assert_int_equal(f.k.alloc.meta_bytes, meta1);
	assert_int_equal(flagged_bytes(&f.k, KHO_FOLIO_PRESERVED), 0);

	/* The objects are normal again: they can be destroyed... */
	for (int i = 0; i < KHO_FIX_NR_MEMFDS; i++) {
		assert_int_equal(kho_memfd_check_stamp(f.m[i]), 0);
		assert_int_equal(kho_memfd_destroy(f.m[i]), 0);
		f.m[i] = NULL;
	}
	assert_int_equal(f.k.alloc.free_bytes, KHO_FIX_RAM);
	assert_int_equal(f.k.alloc.meta_bytes, fresh.meta_bytes);
	/* ...and a new update after a cancel works. */
	struct kho_memfd *m;
	struct kho b;
	assert_int_equal(kho_memfd_create(&f.k, "again", 64 * MIB,
					  &kho_memfd_mix_default, &m),
			 0);
	assert_int_equal(kho_memfd_stamp(m), 0);
	assert_int_equal(luo_session_create(&f.k, "vm2", &s), 0);
	assert_int_equal(kho_memfd_preserve(s, "again", m), 0);
	pa = handover(&f.k);
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_int_equal(b.in.nr_objs, 1);
	struct kho_memfd *m2;
	assert_int_equal(kho_memfd_retrieve(&b, "vm2", "again", &m2), 0);
	assert_int_equal(kho_memfd_check_stamp(m2), 0);
	kho_memfd_forget(m2);
	kho_memfd_forget(m);
	kho_fini(&b);
	kho_alloc_fini(&fresh);
	kho_fixture_fini(&f);
}


/*
 * Every allocation of creating a memfd and of handing it over (session,
 * object, blob buffer, the region the blob is staged in), failed in turn:
 * each attempt returns an error, and after the caller's cancel nothing
 * stays allocated or preserved; then the same steps succeed and the
 * memfd comes back intact on the other side.
 */
static void test_failures_leave_nothing(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_fixture_build(&f, true), 0);
	assert_int_equal(kho_cancel(&f.k), 0);
	const uint64_t free0 = f.k.alloc.free_bytes;
	struct kho_memfd *m = NULL;
	unsigned int n, steps = 0;
	for (n = 1;; n++) {
		ioh_fail_arm("kho.", n);
		int e = kho_memfd_create(&f.k, "walk", 64 * MIB,
					 &kho_memfd_mix_default, &m);
		bool fired = ioh_fail_fired();
		ioh_fail_arm(NULL, 0);
		if (!fired) {
			assert_int_equal(e, 0);
			break;
		}
		assert_int_equal(e, -ENOMEM);
		assert_int_equal(f.k.alloc.free_bytes, free0);
		steps++;
	}
	assert_true(steps > 10);
	assert_int_equal(kho_memfd_stamp(m), 0);
	const uint64_t free1 = f.k.alloc.free_bytes;

	uint64_t pa = 0;
	for (n = 1;; n++) {
		struct luo_session *s;
		ioh_fail_arm("kho.", n);
		int e = luo_session_create(&f.k, "vm", &s);
		if (!e)
			e = kho_memfd_preserve(s, "walk", m);
		if (!e)
			e = kho_prepare(&f.k);
		if (!e)
			e = kho_freeze(&f.k, &pa);
		bool fired = ioh_fail_fired();
		ioh_fail_arm(NULL, 0);
		if (!fired) {
			assert_int_equal(e, 0);
			break;
		}
		assert_true(e < 0);
		assert_int_equal(kho_cancel(&f.k), 0);
		assert_int_equal(f.k.state, KHO_NORMAL);
		assert_null(f.k.sessions);
		assert_false(m->preserved);
		assert_int_equal(flagged_bytes(&f.k, KHO_FOLIO_PRESERVED), 0);
		assert_int_equal(f.k.alloc.free_bytes, free1);
	}
	assert_true(n > 3);
	struct kho b;
	struct kho_memfd *m2;
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	/* Retrieval too: a failed one claims nothing and may be retried. */
	const uint64_t incoming = flagged_bytes(&b, KHO_FOLIO_INCOMING);
	for (n = 1;; n++) {
		ioh_fail_arm("kho.", n);
		int e = kho_memfd_retrieve(&b, "vm", "walk", &m2);
		bool fired = ioh_fail_fired();
		ioh_fail_arm(NULL, 0);
		if (!fired) {
			assert_int_equal(e, 0);
			break;
		}
		assert_int_equal(e, -ENOMEM);
		assert_int_equal(flagged_bytes(&b, KHO_FOLIO_INCOMING), incoming);
	}
	assert_true(n > 2);
	assert_int_equal(kho_memfd_check_stamp(m2), 0);
	kho_memfd_forget(m2);
	kho_memfd_forget(m);
	kho_fini(&b);
	kho_fixture_fini(&f);
}


static int nop_preserve(struct kho *k, void *obj)
{
	(void)k;
	(void)obj;
	return 0;
}

static void nop_unpreserve(struct kho *k, void *obj)
{
	(void)k;
	(void)obj;
}

static int nop_serialize(struct kho *k, void *obj, void *fdt)
{
	(void)k;
	(void)obj;
	(void)fdt;
	return 0;
}

/*
 * Calls out of order or with bad arguments are refused with their own
 * error and change nothing; the handover made afterwards is unaffected.
 */
static void test_misuse_refused(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho_err err = { { 0 } };
	struct luo_session *s, *s2;
	struct kho_memfd *m;
	uint64_t pa;
	int node;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	assert_int_equal(kho_cancel(&f.k), 0);
	char lng[KHO_NAME_MAX + 1];
	memset(lng, 'n', KHO_NAME_MAX);
	lng[KHO_NAME_MAX] = '\0';
	assert_int_equal(luo_session_create(&f.k, "", &s), -EINVAL);
	assert_int_equal(luo_session_create(&f.k, lng, &s), -EINVAL);
	assert_int_equal(luo_session_create(&f.k, "vm", &s), 0);
	assert_int_equal(luo_session_create(&f.k, "vm", &s2), -EEXIST);
	assert_int_equal(kho_memfd_create(&f.k, "", 2 * MIB,
					  &kho_memfd_mix_default, &m), -EINVAL);
	assert_int_equal(kho_memfd_create(&f.k, "m", 3 * MIB,
					  &kho_memfd_mix_default, &m), -EINVAL);
	assert_int_equal(kho_memfd_create(&f.k, "m", 0,
					  &kho_memfd_mix_default, &m), -EINVAL);
	assert_int_equal(kho_memfd_create(&f.k, "m", 4 * MIB,
					  &kho_memfd_mix_default, &m), 0);
	const struct kho_obj_ops no_ser = { "memfd", nop_preserve,
					    nop_unpreserve, NULL, NULL, NULL,
					    NULL };
	const struct kho_obj_ops unknown = { "nosuch", nop_preserve,
					     nop_unpreserve, nop_serialize,
					     NULL, NULL, NULL };
	int dummy;
	assert_int_equal(luo_preserve(s, "x", &no_ser, &dummy), -EINVAL);
	assert_int_equal(luo_preserve(s, "", &unknown, &dummy), -EINVAL);
	assert_int_equal(luo_preserve(s, "x", &unknown, &dummy), -ENOENT);
	assert_int_equal(kho_memfd_preserve(s, "m", m), 0);
	assert_int_equal(kho_memfd_preserve(s, "m", f.m[0]), -EEXIST);
	assert_int_equal(kho_memfd_preserve(s, "m2", m), -EEXIST);
	assert_int_equal(luo_unpreserve(s, "nosuch"), -ENOENT);
	/* Only in order: freeze after prepare, exec after freeze. */
	assert_int_equal(kho_freeze(&f.k, &pa), -EBUSY);
	char *argv[] = { "true", NULL };
	const struct kho_exec_args ea = { .path = "/bin/true", .argv = argv };
	assert_int_equal(kho_exec(&f.k, &ea), -EBUSY);
	assert_int_equal(kho_prepare(&f.k), 0);
	assert_int_equal(luo_preserve(s, "late", &unknown, &dummy), -EBUSY);
	assert_int_equal(luo_unpreserve(s, "m"), -EBUSY);
	assert_int_equal(kho_freeze(&f.k, &pa), 0);
	const struct kho_exec_args nopath = { .path = NULL, .argv = argv };
	assert_int_equal(kho_exec(&f.k, &nopath), -EINVAL);
	assert_int_equal(kho_save_blob("/proc/none/dir", 1, f.k.out_fdt,
				       f.k.out_fdt_size), -ENOENT);
	/* The other side: nothing retrieved twice, nothing unknown. */
	struct kho b;
	struct kho_memfd *m2;
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_int_equal(kho_memfd_retrieve(&b, "vm", "nosuch", &m2), -ENOENT);
	assert_int_equal(luo_retrieve(&b, "vm", "m", "iommu", &node), -ENOENT);
	assert_int_equal(kho_memfd_retrieve(&b, "vm", "m", &m2), 0);
	assert_int_equal(kho_memfd_retrieve(&b, "vm", "m", &m2), -EALREADY);
	uint32_t ver;
	assert_int_equal(kho_subsys_node(&b, "nosuch", &node, &ver), -ENOENT);
	assert_int_equal(kho_subsys_node(&b, "memfd", &node, &ver), 0);
	kho_memfd_forget(m2);
	kho_fini(&b);
	/* A kernel that booted fresh has nothing incoming. */
	assert_int_equal(luo_retrieve(&f.k, "vm", "m", "memfd", &node), -ENOENT);
	assert_int_equal(kho_subsys_node(&f.k, "memfd", &node, &ver), -ENOENT);
	kho_memfd_forget(m);
	kho_fixture_fini(&f);
}

static void test_poison_catches_unpreserved(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho b;
	struct kho_err err = { { 0 } };
	uint64_t lone, kept, next_to_kept, big;
	char msg[512], want[64];
	int status;

	assert_int_equal(kho_fixture_build(&f, true), 0);
	/* State the old kernel forgot to preserve: a whole 2M folio, a 4K
	 * page alone in its block, and a 4K page next to a preserved one. */
	assert_int_equal(kho_folio_alloc(&f.k.alloc, KHO_2M_LG2, &big), 0);
	assert_int_equal(kho_folio_alloc(&f.k.alloc, KHO_4K_LG2, &kept), 0);
	assert_int_equal(kho_folio_alloc(&f.k.alloc, KHO_4K_LG2, &next_to_kept),
			 0);
	assert_int_equal(next_to_kept, kept + KHO_4K);
	assert_int_equal(kho_folio_run_flags(&f.k.alloc, kept, KHO_4K_LG2, 1, 0,
					     KHO_FOLIO_PRESERVED, 0),
			 0);
	lone = big + KHO_2M - KHO_4K;
	*(uint64_t *)kho_va(&f.k, big, 8) = 0x1111;
	*(uint64_t *)kho_va(&f.k, kept, 8) = 0x2222;
	*(uint64_t *)kho_va(&f.k, next_to_kept, 8) = 0x3333;
	uint64_t pa = handover(&f.k);
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_true(b.boot.guarded_ranges > 0);

	uint64_t probes[] = { big, lone, next_to_kept };
	for (size_t i = 0; i < 3; i++) {
		/* Given back: a device (any other mapping) reads zero... */
		uint64_t w = 1;
		assert_int_equal(pread(f.pm.fd, &w, 8, (off_t)probes[i]), 8);
		assert_int_equal(w, 0);
		/* ...and the new kernel's CPU read traps, loudly. */
		read_in_child(&b, probes[i], msg, sizeof(msg), &status);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGSEGV);
		snprintf(want, sizeof(want), "0x%016llx",
			 (unsigned long long)probes[i]);
		assert_non_null(strstr(msg, want));
		assert_non_null(strstr(msg, "did not preserve"));
	}
	/* Preserved memory is intact and readable. */
	read_in_child(&b, kept, msg, sizeof(msg), &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(*(uint64_t *)kho_va(&b, kept, 8), 0x2222);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

static void test_latest_committed(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho b, c;
	struct kho_err err = { { 0 } };
	uint64_t pas[3], latest;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	pas[0] = handover(&f.k);
	assert_int_equal(kho_boot(&b, &f.pm, pas[0], &err), 0);
	struct luo_session *s;
	assert_int_equal(luo_session_create(&b, "keep", &s), 0);
	pas[1] = handover(&b);
	assert_int_equal(kho_boot(&c, &f.pm, pas[1], &err), 0);
	pas[2] = handover(&c);
	/* An observer with its own view of RAM (the kernels' mapping has
	 * the old blobs guarded). */
	struct physmem view;
	assert_int_equal(physmem_attach(&view, f.pm.fd), 0);
	assert_int_equal(kho_latest_committed(&view, pas, 3, &latest), 0);
	assert_int_equal(latest, pas[2]);
	struct kho_header h;
	const void *fdt;
	assert_int_equal(kho_header_read(&view, pas[2], &h, &fdt, &err), 0);
	assert_int_equal(h.generation, 3);
	assert_int_equal(h.prev_pa, pas[1]);
	/* Generation 3 crashed before its commit: generation 2 is the last
	 * complete handover. */
	struct kho_header *raw = kho_va(&c, pas[2], KHO_HDR_SIZE);
	raw->commit = 0;
	assert_int_equal(kho_latest_committed(&view, pas, 3, &latest), 0);
	assert_int_equal(latest, pas[1]);
	assert_int_equal(kho_latest_committed(&view, pas + 2, 1, &latest),
			 -ENOENT);
	physmem_detach(&view, false);
	kho_fini(&c);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

/* The record of preserved-memory/bitmaps-4k for block blk, or NULL. */
static const struct kho_mask *find_mask(const struct kho_parsed *p,
					uint64_t blk)
{
	for (size_t i = 0; i < p->nr_masks; i++)
		if (p->masks[i].blk_pa == blk)
			return &p->masks[i];
	return NULL;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * A 2 MiB block whose preserved 4K folios are too scattered for ranges
 * travels as a bitmap record (preserved-memory/bitmaps-4k). The record
 * is FDT bytes, so it lives in the handover region, not in pages of its
 * own. Boot must reserve both the 4K folios the bitmap names and the
 * region the bitmap is stored in while the handover is being read: they
 * are INCOMING, poisoning keeps their contents, and an allocator drained
 * to its last free page never hands one of them out.
 */
static void test_bitmap_blocks_reserved(void **state)
{
	(void)state;
	struct kho_fixture f;
	struct kho b;
	struct kho_err err = { { 0 } };
	struct kho_folio_info fi;
	uint64_t blk;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	/* A free 2 MiB block as 512 4K folios; every other one preserved
	 * (256 runs: written as a bitmap, not as ranges). */
	assert_int_equal(kho_folio_alloc(&f.k.alloc, KHO_2M_LG2, &blk), 0);
	assert_int_equal(kho_folio_free(&f.k.alloc, blk), 0);
	assert_int_equal(kho_alloc_claim_run(&f.k.alloc, blk, KHO_4K_LG2, 512, 0),
			 0);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t pa = blk + i * KHO_4K;
		*(uint64_t *)kho_va(&f.k, pa, 8) = 0xb17b10c000000000ull + i;
		if (i % 2 == 0)
			assert_int_equal(kho_folio_run_flags(&f.k.alloc, pa,
							     KHO_4K_LG2, 1, 0,
							     KHO_FOLIO_PRESERVED,
							     0),
					 0);
	}
	uint64_t pa = handover(&f.k);
	struct kho_header *h = kho_va(&f.k, pa, KHO_HDR_SIZE);
	uint64_t region = h->region_size;
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);

	/* The block travels as a bitmap, inside the handover region. */
	const struct kho_mask *m = find_mask(&b.in, blk);
	assert_non_null(m);
	for (unsigned w = 0; w < 8; w++)
		assert_int_equal(m->bits[w], 0x5555555555555555ull);
	const uint8_t *rv = kho_va(&b, pa, region);
	const uint8_t *fdt = rv + KHO_HDR_SIZE;
	int len, mem = fdt_path_offset(fdt, "/preserved-memory");
	const uint8_t *bm = fdt_getprop(fdt, mem, "bitmaps-4k", &len);
	assert_non_null(bm);
	assert_true(bm >= rv && bm + len <= rv + region);
	assert_int_equal(kho_folio_info(&b.alloc, pa, &fi), 0);
	assert_int_equal(fi.size_lg2, __builtin_ctzll(region));
	assert_int_equal(fi.flags, KHO_FOLIO_INCOMING);

	/* Drain the allocator: 1G, then 2M, then the last free 4K pages
	 * (those of partly used blocks, the odd pages of blk among them). */
	static const unsigned lg2s[] = { KHO_1G_LG2, KHO_2M_LG2, KHO_4K_LG2 };
	uint64_t in_blk = 0, handed = 0;
	for (int s = 0; s < 3; s++) {
		uint64_t got;
		while (kho_folio_alloc(&b.alloc, lg2s[s], &got) == 0) {
			uint64_t sz = 1ull << lg2s[s];
			handed++;
			assert_false(overlaps(got, sz, pa, region));
			for (uint64_t i = 0; i < 512; i += 2)
				if (overlaps(got, sz, blk + i * KHO_4K, KHO_4K))
					fail_msg("allocated 0x%llx (2^%u) over "
						 "preserved page 0x%llx of a "
						 "bitmap block",
						 (unsigned long long)got,
						 lg2s[s],
						 (unsigned long long)(blk + i * KHO_4K));
			in_blk += overlaps(got, sz, blk, KHO_2M);
		}
	}
	assert_int_equal(b.alloc.free_bytes, 0);
	assert_true(handed > 0);
	/* The free half of the block was handed out, and only that. */
	assert_int_equal(in_blk, 256);
	/* Preserved pages: still INCOMING and still holding their data,
	 * for every observer; the others were given back (poisoned). */
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t p = blk + i * KHO_4K, w = 1;
		assert_int_equal(pread(f.pm.fd, &w, 8, (off_t)p), 8);
		if (i % 2)
			continue;
		assert_int_equal(w, 0xb17b10c000000000ull + i);
		assert_int_equal(kho_folio_info(&b.alloc, p, &fi), 0);
		assert_int_equal(fi.size_lg2, KHO_4K_LG2);
		assert_int_equal(fi.flags, KHO_FOLIO_INCOMING);
	}
	/* The blob in RAM is intact too. */
	assert_int_equal(kho_csum(fdt, h->fdt_size), h->fdt_csum);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

/* A blob that cannot be saved is withdrawn: back to PREPARED. */
static void test_freeze_save_failure(void **state)
{
	(void)state;
	struct kho_fixture f;
	uint64_t pa = 0;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	uint64_t free0 = f.k.alloc.free_bytes;
	snprintf(f.k.save_dir, sizeof(f.k.save_dir), "/proc/nonexistent/x");
	assert_int_equal(kho_prepare(&f.k), 0);
	assert_int_equal(kho_freeze(&f.k, &pa), -ENOENT);
	assert_int_equal(f.k.state, KHO_PREPARED);
	assert_int_equal(f.k.alloc.free_bytes, free0);
	assert_false(f.m[0]->frozen);
	assert_non_null(luo_session_find(&f.k, "vm0"));
	f.k.save_dir[0] = '\0';
	assert_int_equal(kho_freeze(&f.k, &pa), 0);
	assert_int_equal(kho_cancel(&f.k), 0);
	kho_fixture_fini(&f);
}

static unsigned int serialize_calls;

static int counted_serialize(struct kho *k, void *obj, void *fdt)
{
	serialize_calls++;
	return kho_memfd_ops.serialize(k, obj, fdt);
}

/*
 * Whether p lies in a mapping advised for huge pages (VmFlags "hg") that
 * starts 2 MiB aligned: where kho keeps its large buffers, so an exec
 * tears them down per 2 MiB. -1: the host has no transparent huge pages.
 */
static int in_huge_mapping(const void *p)
{
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK))
		return -1;
	FILE *fp = fopen("/proc/self/smaps", "r");
	assert_non_null(fp);
	char line[512];
	uintptr_t a = (uintptr_t)p, lo = 0, hi = 0;
	bool inside = false;
	int found = 0;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long x, y;
		if (sscanf(line, "%lx-%lx ", &x, &y) == 2 && strchr(line, '-') <
		    strchr(line, ' ')) {
			lo = x;
			hi = y;
			inside = a >= lo && a < hi;
		} else if (inside && !strncmp(line, "VmFlags:", 8)) {
			found = strstr(line, " hg") && lo % (2 * MIB) == 0;
			break;
		}
	}
	fclose(fp);
	return found;
}

/* A blob over 2 MiB needs a 1 GiB handover region. */
static void test_large_blob(void **state)
{
	(void)state;
	static const struct kho_memfd_mix shards = {
		.ppm_4k = 1000000, .seed = 5, .scatter_4k = true
	};
	struct kho_fixture f;
	struct kho b;
	struct kho_err err = { { 0 } };
	struct kho_memfd *m, *r;
	struct luo_session *s;
	assert_int_equal(kho_fixture_build(&f, true), 0);
	/* Room for the shards and a free 1 GiB block: the guest goes. */
	assert_int_equal(luo_unpreserve(luo_session_find(&f.k, kho_fix_session[0]),
					kho_fix_name[0]),
			 0);
	assert_int_equal(kho_memfd_destroy(f.m[0]), 0);
	f.m[0] = NULL;
	/* Shuffled 4K slots take 1040 bytes each (memfd v2): 2 MiB of blob
	 * needs over 2000 of them. */
	assert_int_equal(kho_memfd_create(&f.k, "shards", 4200 * MIB, &shards,
					  &m),
			 0);
	assert_int_equal(luo_session_create(&f.k, "vm3", &s), 0);
	/* The memfd's own ops, counting its serialize calls: without the
	 * size it reports, the blob is written into guesses that double. */
	struct kho_obj_ops counted = kho_memfd_ops;
	counted.serialize = counted_serialize;
	counted.blob_bytes = NULL;
	assert_int_equal(luo_preserve(s, "shards", &counted, m), 0);
	serialize_calls = 0;
	assert_int_equal(kho_prepare(&f.k), 0);
	assert_true(serialize_calls > 1);
	assert_int_equal(kho_cancel(&f.k), 0);
	assert_int_equal(luo_session_create(&f.k, "vm3", &s), 0);
	counted.blob_bytes = kho_memfd_ops.blob_bytes;
	assert_int_equal(luo_preserve(s, "shards", &counted, m), 0);
	serialize_calls = 0;
	uint64_t pa = handover(&f.k);
	/* With it: one pass (kho_cancel dropped the other sessions). */
	assert_int_equal(serialize_calls, 1);
	assert_true(f.k.out_fdt_size > 2 * MIB);
	/* Megabytes of per-folio state and blob, each in huge pages. */
	int huge = in_huge_mapping(m->runs);
	if (huge >= 0) {
		assert_int_equal(huge, 1);
		assert_int_equal(in_huge_mapping(f.k.out_fdt), 1);
	}
	struct kho_header *h = kho_va(&f.k, pa, KHO_HDR_SIZE);
	assert_int_equal(h->region_size, KHO_1G);
	assert_int_equal(pa % KHO_1G, 0);
	assert_int_equal(kho_boot(&b, &f.pm, pa, &err), 0);
	assert_int_equal(kho_memfd_retrieve(&b, "vm3", "shards", &r), 0);
	if (huge >= 0) {
		assert_int_equal(in_huge_mapping(r->runs), 1);
		assert_int_equal(in_huge_mapping(b.in_fdt), 1);
	}
	assert_int_equal(r->nr_runs, m->nr_runs);
	for (size_t i = 0; i < r->nr_runs; i++) {
		assert_int_equal(r->runs[i].offset, m->runs[i].offset);
		assert_int_equal(r->runs[i].pa, m->runs[i].pa);
		assert_int_equal(r->runs[i].count, m->runs[i].count);
	}
	/* Unclaimed: the handover region (the fixture's sessions went with
	 * the cancel above). */
	assert_int_equal(kho_finish(&b), KHO_1G);
	kho_memfd_forget(r);
	kho_memfd_forget(m);
	kho_fini(&b);
	kho_fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_finish_releases_unclaimed),
		cmocka_unit_test(test_cancel_leaves_nothing),
		cmocka_unit_test(test_failures_leave_nothing),
		cmocka_unit_test(test_misuse_refused),
		cmocka_unit_test(test_poison_catches_unpreserved),
		cmocka_unit_test(test_bitmap_blocks_reserved),
		cmocka_unit_test(test_latest_committed),
		cmocka_unit_test(test_large_blob),
		cmocka_unit_test(test_freeze_save_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
