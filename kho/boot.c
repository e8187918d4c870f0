// SPDX-License-Identifier: MIT
/*
 * Boot of the next kernel from a handover: read the header at the given
 * physical address, validate the whole blob, and only then reserve the
 * preserved folios (INCOMING) and poison everything else.
 *
 * Poisoning is O(preserved ranges), not O(RAM): every gap between
 * preserved ranges is given back to the host (physmem_discard, so devices
 * and every process see zeroes: an IOMMU walk through a table page that was
 * not preserved finds empty entries and faults), and is mapped PROT_NONE in
 * this process, so a CPU read of memory the previous kernel did not
 * preserve traps at once. kho_poison_trap_install() turns that trap into a
 * message naming the physical address. The allocator lifts the guard one
 * 2 MiB (or 1 GiB) block at a time when it first hands out memory there.
 * Where the guard cannot be set (the process ran out of mappings), gaps are
 * filled with KHO_POISON instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kho/bitmap.h"
#include "kho/kho_internal.h"
#include "ioh/ioh.h"

static int reserve_incoming(struct kho *k, uint64_t region_pa,
			    uint64_t region_size, struct kho_err *err)
{
	const struct kho_parsed *p = &k->in;
	int rc;

	for (size_t i = 0; i < p->nr_runs; i++) {
		const struct kho_run *r = &p->runs[i];
		rc = kho_alloc_claim_run(&k->alloc, r->pa, r->size_lg2, r->count,
					 KHO_FOLIO_INCOMING);
		if (rc) {
			kho_errf(err, "reserve: cannot claim 0x%" PRIx64
				 " x %" PRIu64 " (%s)", r->pa, r->count,
				 strerror(-rc));
			return rc;
		}
	}
	for (size_t i = 0; i < p->nr_masks; i++) {
		rc = kho_alloc_claim_4k_mask(&k->alloc, p->masks[i].blk_pa,
					     p->masks[i].bits,
					     KHO_FOLIO_INCOMING);
		if (rc) {
			kho_errf(err, "reserve: cannot claim 4K pages of block "
				 "0x%" PRIx64 " (%s)", p->masks[i].blk_pa,
				 strerror(-rc));
			return rc;
		}
	}
	if (region_size) {
		rc = kho_alloc_claim_run(&k->alloc, region_pa,
					 (unsigned)__builtin_ctzll(region_size),
					 1, KHO_FOLIO_INCOMING);
		if (rc) {
			kho_errf(err, "reserve: cannot claim the handover region");
			return rc;
		}
	}
	return 0;
}

static int boot_common(struct kho *k, void *fdt_copy, size_t size,
		       uint64_t ram_size, uint64_t region_pa,
		       uint64_t region_size, struct kho_err *err)
{
	uint64_t t0 = ioh_now_ns();
	int rc = kho_blob_validate(fdt_copy, size, ram_size, &k->in, err);
	if (rc)
		return rc;
	if (region_size && kho_parsed_overlaps(&k->in, region_pa, region_size)) {
		kho_errf(err, "header: handover region 0x%" PRIx64
			 " overlaps preserved memory", region_pa);
		kho_parsed_free(&k->in);
		return -EINVAL;
	}
	uint64_t t1 = ioh_now_ns();
	rc = kho_alloc_init(&k->alloc, k->in.ram_size);
	if (!rc)
		rc = reserve_incoming(k, region_pa, region_size, err);
	if (rc) {
		kho_parsed_free(&k->in);
		kho_alloc_fini(&k->alloc);
		return rc;
	}
	k->in_fdt = fdt_copy;
	k->has_incoming = true;
	k->generation = k->in.generation + 1;
	k->boot.validate_ns = t1 - t0;
	k->boot.reserve_ns = ioh_now_ns() - t1;
	k->boot.preserved_bytes = k->in.preserved_bytes;
	return 0;
}

int kho_boot_fdt(struct kho *k, const void *fdt, size_t size,
		 uint64_t ram_size, struct kho_err *err)
{
	memset(k, 0, sizeof(*k));
	void *copy = kho_big_alloc(size ? size : 1, true);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, fdt, size);
	int rc = boot_common(k, copy, size, ram_size, 0, 0, err);
	if (rc)
		kho_big_free(copy);
	return rc;
}

/* ---- Poison ----------------------------------------------------------------- */

struct kept {
	uint64_t pa, end;
};

static int cmp_kept(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

static void poison_gap(struct kho *k, uint64_t pa, uint64_t end)
{
	struct kho_boot_stats *st = &k->boot;
	if (pa >= end)
		return;
	if (!physmem_discard(k->pm, pa, end - pa))
		st->discarded_ranges++;
	if (!mprotect(k->pm->base + pa, end - pa, PROT_NONE)) {
		st->guarded_ranges++;
		return;
	}
	/* No guard possible: make the gap at least read as poison. */
	if (end - pa <= KHO_2M) {
		uint64_t *w = (uint64_t *)(k->pm->base + pa);
		for (uint64_t i = 0; i < (end - pa) / 8; i++)
			w[i] = KHO_POISON;
		st->filled_bytes += end - pa;
	}
}

static int poison_unpreserved(struct kho *k, uint64_t region_pa,
			      uint64_t region_size)
{
	const struct kho_parsed *p = &k->in;
	size_t cap = p->nr_runs + 1, n = 0;
	for (size_t i = 0; i < p->nr_masks; i++)
		for (unsigned w = 0; w < 8; w++)
			cap += (size_t)__builtin_popcountll(p->masks[i].bits[w]);
	struct kept *kv = calloc(cap, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	for (size_t i = 0; i < p->nr_runs; i++)
		kv[n++] = (struct kept){ p->runs[i].pa,
					 p->runs[i].pa + (p->runs[i].count
							  << p->runs[i].size_lg2) };
	for (size_t i = 0; i < p->nr_masks; i++) {
		const struct kho_mask *m = &p->masks[i];
		uint64_t b = kho_bit_next_set(m->bits, 0, 512);
		while (b < 512) {
			uint64_t e = kho_bit_next_clear(m->bits, b, 512);
			kv[n++] = (struct kept){ m->blk_pa + (b << KHO_4K_LG2),
						 m->blk_pa + (e << KHO_4K_LG2) };
			b = kho_bit_next_set(m->bits, e, 512);
		}
	}
	kv[n++] = (struct kept){ region_pa, region_pa + region_size };
	qsort(kv, n, sizeof(*kv), cmp_kept);
	uint64_t cur = 0;
	for (size_t i = 0; i < n; i++) {
		poison_gap(k, cur, kv[i].pa);
		if (kv[i].end > cur)
			cur = kv[i].end;
	}
	poison_gap(k, cur, k->pm->size);
	free(kv);
	return 0;
}

static void unguard_cb(void *ctx, uint64_t pa, uint64_t len)
{
	struct kho *k = ctx;
	/* Memory the kernel allocates is its own again; it may hold zeroes
	 * or KHO_POISON, like any freshly allocated page. */
	mprotect(k->pm->base + pa, len, PROT_READ | PROT_WRITE);
}

/*
 * The FDT out of RAM into the kernel's private copy, through the RAM
 * file: the model's process maps physmem lazily, page by page (a kernel
 * reads it through a direct map that is already there), and at 1 TiB
 * mapping the blob's 286 pages cost more CPU than validating it. One
 * huge page for the copy, a read of the page cache, no mapping of RAM.
 */
static void read_blob(const struct physmem *pm, uint64_t pa, const void *in_ram,
		      void *copy, size_t size)
{
	size_t done = 0;
	while (pm->fd >= 0 && done < size) {
		ssize_t n = pread(pm->fd, (uint8_t *)copy + done, size - done,
				  (off_t)(pa + done));
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done < size)
		memcpy((uint8_t *)copy + done, (const uint8_t *)in_ram + done,
		       size - done);
}

int kho_boot_early(struct kho *k, struct physmem *pm, uint64_t pa,
		   struct kho_err *err)
{
	struct kho_header hdr;
	const void *fdt;

	memset(k, 0, sizeof(*k));
	int rc = kho_header_check(pm, pa, &hdr, &fdt, err);
	if (rc)
		return rc;
	uint64_t t0 = ioh_now_ns();
	/*
	 * Validated in a private copy: what is validated is what is used,
	 * and the copy is checked against the committed checksum once. The
	 * copy is the process's own memory, not RAM: it claims nothing, so
	 * it may come before the reservation (docs/handover-abi.md).
	 */
	void *copy = kho_big_alloc(hdr.fdt_size, true);
	if (!copy) {
		kho_errf(err, "header at 0x%" PRIx64 ": out of memory for the "
			 "FDT's copy", pa);
		return -ENOMEM;
	}
	read_blob(pm, pa + KHO_HDR_SIZE, fdt, copy, hdr.fdt_size);
	if (kho_csum(copy, hdr.fdt_size) != hdr.fdt_csum) {
		kho_errf(err, "header at 0x%" PRIx64 ": FDT checksum mismatch "
			 "(blob corrupted)", pa);
		kho_big_free(copy);
		return -EINVAL;
	}
	rc = kho_blob_validate(copy, hdr.fdt_size, pm->size, &k->in, err);
	if (rc) {
		kho_big_free(copy);
		memset(k, 0, sizeof(*k));
		return rc;
	}
	if (kho_parsed_overlaps(&k->in, pa, hdr.region_size)) {
		kho_errf(err, "header: handover region 0x%" PRIx64
			 " overlaps preserved memory", pa);
		kho_parsed_free(&k->in);
		kho_big_free(copy);
		memset(k, 0, sizeof(*k));
		return -EINVAL;
	}
	k->pm = pm;
	k->in_pa = pa;
	k->in_region_size = hdr.region_size;
	k->in_csum = hdr.fdt_csum;
	k->in_fdt = copy;
	k->in_early = true;
	k->generation = k->in.generation + 1;
	k->boot.validate_ns = ioh_now_ns() - t0;
	k->boot.preserved_bytes = k->in.preserved_bytes;
	return 0;
}

int kho_boot_late(struct kho *k, struct kho_err *err)
{
	if (!k->in_early || !k->pm)
		return -EINVAL;
	uint64_t t1 = ioh_now_ns();
	int rc = kho_alloc_init(&k->alloc, k->in.ram_size);
	if (!rc)
		rc = reserve_incoming(k, k->in_pa, k->in_region_size, err);
	if (rc) {
		kho_alloc_fini(&k->alloc);
		if (rc == -ENOMEM && err && !err->msg[0])
			kho_errf(err, "reserve: out of memory");
		kho_big_free(k->in_fdt);
		kho_parsed_free(&k->in);
		memset(k, 0, sizeof(*k));
		return rc;
	}
	k->in_early = false;
	k->has_incoming = true;
	k->boot.reserve_ns = ioh_now_ns() - t1;
	uint64_t t0 = ioh_now_ns();
	rc = poison_unpreserved(k, k->in_pa, k->in_region_size);
	if (rc) {
		kho_errf(err, "poison: out of memory");
		kho_fini(k);
		return rc;
	}
	k->alloc.unguard = unguard_cb;
	k->alloc.unguard_ctx = k;
	kho_alloc_guard_all(&k->alloc);
	k->boot.poison_ns = ioh_now_ns() - t0;
	return 0;
}

int kho_boot(struct kho *k, struct physmem *pm, uint64_t pa,
	     struct kho_err *err)
{
	int rc = kho_boot_early(k, pm, pa, err);
	return rc ? rc : kho_boot_late(k, err);
}

/* ---- Trap: name the poisoned address ---------------------------------- */

static uint8_t *trap_base;
static uint64_t trap_size;

static void trap_write_hex(char *buf, size_t *n, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	buf[(*n)++] = '0';
	buf[(*n)++] = 'x';
	for (int s = 60; s >= 0; s -= 4)
		buf[(*n)++] = hex[(v >> s) & 0xf];
}

static void trap_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uint8_t *a = si->si_addr;
	if (trap_base && a >= trap_base && a < trap_base + trap_size) {
		char buf[200];
		size_t n = 0;
		static const char m1[] =
			"kho: access to physical address ";
		static const char m2[] =
			", which the previous kernel did not preserve "
			"(poisoned at boot)\n";
		memcpy(buf, m1, sizeof(m1) - 1);
		n = sizeof(m1) - 1;
		trap_write_hex(buf, &n, (uint64_t)(a - trap_base));
		memcpy(buf + n, m2, sizeof(m2) - 1);
		n += sizeof(m2) - 1;
		if (write(STDERR_FILENO, buf, n) < 0)
			_exit(128 + sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void kho_poison_trap_install(struct kho *k)
{
	static uint8_t altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;

	if (!k->pm)
		return;
	trap_base = k->pm->base;
	trap_size = k->pm->size;
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}
