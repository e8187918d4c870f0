// SPDX-License-Identifier: MIT
/*
 * The outgoing side of a live update: serialize the preserved state into
 * an FDT (prepare), commit it to RAM behind a header (freeze), execve the
 * next kernel, or undo everything (cancel). Also the end of the incoming
 * side (finish) and saving copies of blobs for people.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kho/kho_internal.h"
#include "ioh/ioh.h"


int kho_init(struct kho *k, struct physmem *pm, uint64_t ram_size)
{
	memset(k, 0, sizeof(*k));
	k->pm = pm;
	k->generation = 1;
	return kho_alloc_init(&k->alloc, pm ? pm->size : ram_size);
}

void *kho_va(const struct kho *k, uint64_t pa, uint64_t len)
{
	return k->pm ? physmem_ptr(k->pm, pa, len) : NULL;
}

void kho_fini(struct kho *k)
{
	while (k->sessions) {
		struct luo_session *s = k->sessions;
		k->sessions = s->next;
		while (s->objs) {
			struct luo_obj *o = s->objs;
			s->objs = o->next;
			free(o);
		}
		free(s);
	}
	kho_big_free(k->out_fdt);
	kho_big_free(k->in_fdt);
	kho_parsed_free(&k->in);
	kho_alloc_fini(&k->alloc);
	memset(k, 0, sizeof(*k));
}

/* ---- Preserved-memory map ---------------------------------------------- */

struct map_builder {
	struct ioh_u64vec ranges[KHO_NR_ORDERS]; /* (pa, count) pairs */
	struct ioh_u64vec masks;                 /* (blk, 8 words) records */
};

static int map_add_run(struct map_builder *mb, uint64_t pa, unsigned lg2,
		       uint64_t count)
{
	struct ioh_u64vec *r = &mb->ranges[kho_lg2_order(lg2)];
	if (r->n && r->v[r->n - 2] + (r->v[r->n - 1] << lg2) == pa) {
		r->v[r->n - 1] += count;
		return 0;
	}
	return ioh_u64vec_push(r, pa) ?: ioh_u64vec_push(r, count);
}

static int map_run_cb(void *ctx, uint64_t pa, unsigned lg2, uint64_t count)
{
	return map_add_run(ctx, pa, lg2, count);
}

/* A 2 MiB block of preserved 4K pages: as ranges when that is smaller. */
static int map_mask_cb(void *ctx, uint64_t blk_pa, const uint64_t mask[8])
{
	struct map_builder *mb = ctx;
	unsigned runs = 0;
	for (unsigned i = 0; i < 512; i++) {
		bool cur = (mask[i / 64] >> (i % 64)) & 1;
		bool prev = i && ((mask[(i - 1) / 64] >> ((i - 1) % 64)) & 1);
		runs += cur && !prev;
	}
	if (runs * 2 <= 9) {
		for (unsigned i = 0; i < 512;) {
			if (!((mask[i / 64] >> (i % 64)) & 1)) {
				i++;
				continue;
			}
			unsigned j = i;
			while (j < 512 && ((mask[j / 64] >> (j % 64)) & 1))
				j++;
			int err = map_add_run(mb, blk_pa + ((uint64_t)i << 12),
					      KHO_4K_LG2, j - i);
			if (err)
				return err;
			i = j;
		}
		return 0;
	}
	int err = ioh_u64vec_push(&mb->masks, blk_pa);
	for (unsigned w = 0; w < 8 && !err; w++)
		err = ioh_u64vec_push(&mb->masks, mask[w]);
	return err;
}

static void map_free(struct map_builder *mb)
{
	for (int o = 0; o < KHO_NR_ORDERS; o++)
		ioh_u64vec_free(&mb->ranges[o]);
	ioh_u64vec_free(&mb->masks);
}

static int fdt_prop_be64s(void *fdt, const char *name, const struct ioh_u64vec *v)
{
	void *buf;
	if (fdt_property_placeholder(fdt, name, (int)(v->n * 8), &buf))
		return -ENOSPC;
	for (size_t i = 0; i < v->n; i++)
		kho_be64_st((uint8_t *)buf + i * 8, v->v[i]);
	return 0;
}

/* ---- Serialization ------------------------------------------------------ */

static int fdt_compat(void *fdt, const char *name, uint32_t version)
{
	char c[96];
	snprintf(c, sizeof(c), KHO_COMPAT_PREFIX "%s-v%u", name, version);
	return fdt_property_string(fdt, "compatible", c) ? -ENOSPC : 0;
}

/* libfdt calls: their errors are FDT_ERR codes, not errno values. */
#define FDT(x)                                                         \
	do {                                                           \
		int _e = (x);                                          \
		if (_e < 0)                                            \
			return _e == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL; \
	} while (0)
/* Our own calls (and subsystem callbacks): errno values. */
#define TRY(x)                      \
	do {                        \
		int _e = (x);       \
		if (_e)             \
			return _e;  \
	} while (0)

static int serialize_into(struct kho *k, void *fdt, size_t cap,
			  const struct map_builder *mb)
{
	static const char *const range_props[KHO_NR_ORDERS] = {
		"ranges-4k", "ranges-2m", "ranges-1g"
	};
	char nn[32];

	FDT(fdt_create(fdt, (int)cap));
	FDT(fdt_finish_reservemap(fdt));
	FDT(fdt_begin_node(fdt, ""));
	TRY(fdt_compat(fdt, KHO_ROOT_NAME, KHO_ABI_VERSION));
	TRY(kho_fdt_put_u64(fdt, "generation", k->generation));
	TRY(kho_fdt_put_u64(fdt, "ram-size", k->alloc.ram_size));
	FDT(fdt_property_string(fdt, "producer", KHO_PRODUCER));

	FDT(fdt_begin_node(fdt, "preserved-memory"));
	TRY(fdt_compat(fdt, "preserved-memory", 1));
	for (int o = KHO_NR_ORDERS - 1; o >= 0; o--)
		if (mb->ranges[o].n)
			TRY(fdt_prop_be64s(fdt, range_props[o], &mb->ranges[o]));
	if (mb->masks.n)
		TRY(fdt_prop_be64s(fdt, "bitmaps-4k", &mb->masks));
	FDT(fdt_end_node(fdt));

	FDT(fdt_begin_node(fdt, "luo"));
	TRY(fdt_compat(fdt, "luo", 1));
	unsigned si = 0;
	for (struct luo_session *s = k->sessions; s; s = s->next, si++) {
		snprintf(nn, sizeof(nn), "session-%u", si);
		FDT(fdt_begin_node(fdt, nn));
		FDT(fdt_property_string(fdt, "session", s->name));
		FDT(fdt_end_node(fdt));
	}
	FDT(fdt_end_node(fdt));

	for (size_t i = 0; kho_subsys_at(i); i++) {
		const struct kho_subsys *ss = kho_subsys_at(i);
		FDT(fdt_begin_node(fdt, ss->name));
		TRY(fdt_compat(fdt, ss->name, ss->version));
		if (ss->serialize_global)
			TRY(ss->serialize_global(k, fdt));
		unsigned oi = 0;
		for (struct luo_session *s = k->sessions; s; s = s->next) {
			for (struct luo_obj *o = s->objs; o; o = o->next) {
				if (strcmp(o->ops->subsys, ss->name))
					continue;
				snprintf(nn, sizeof(nn), "object-%u", oi++);
				FDT(fdt_begin_node(fdt, nn));
				FDT(fdt_property_string(fdt, "session",
							s->name));
				FDT(fdt_property_string(fdt, "object", o->name));
				TRY(o->ops->serialize(k, o->obj, fdt));
				FDT(fdt_end_node(fdt));
			}
		}
		FDT(fdt_end_node(fdt));
	}
	FDT(fdt_end_node(fdt));
	FDT(fdt_finish(fdt));
	return 0;
}

/*
 * Write the serialized blob, uncommitted, to the region the next kernel
 * will find it in. Done at prepare, while the workload still runs: the
 * copy and checksum grow with the blob, freeze must not.
 */
static int blob_stage(struct kho *k)
{
	uint64_t need = KHO_HDR_SIZE + k->out_fdt_size;
	unsigned lg2 = need <= KHO_2M ? KHO_2M_LG2 : KHO_1G_LG2;
	uint64_t region;
	int err = kho_folio_alloc(&k->alloc, lg2, &region);
	if (err)
		return err;
	struct kho_header *h = kho_va(k, region, 1ull << lg2);
	if (!h) {
		kho_folio_free(&k->alloc, region);
		return -EFAULT;
	}
	/* Uncommit first: a header reused from an older handover must not
	 * count while its FDT is being overwritten. */
	__atomic_store_n(&h->commit, 0, __ATOMIC_RELEASE);
	/* Through the file: the FDT's pages of RAM are not faulted into
	 * this process, which is about to exec (see physmem_write). */
	err = physmem_write(k->pm, region + KHO_HDR_SIZE, k->out_fdt,
			    k->out_fdt_size);
	if (err) {
		kho_folio_free(&k->alloc, region);
		return err;
	}
	h->magic = KHO_HDR_MAGIC;
	h->hdr_version = KHO_HDR_VERSION;
	h->hdr_size = KHO_HDR_SIZE;
	h->fdt_size = k->out_fdt_size;
	h->fdt_csum = kho_csum(k->out_fdt, k->out_fdt_size);
	h->region_size = 1ull << lg2;
	h->generation = k->generation;
	h->prev_pa = k->in_pa;
	k->out_pa = region;
	k->out_region_size = 1ull << lg2;
	return 0;
}

/* Give the staged region back (it is not committed). */
static void blob_unstage(struct kho *k)
{
	if (!k->out_pa)
		return;
	kho_folio_free(&k->alloc, k->out_pa);
	if (k->pm)
		physmem_discard(k->pm, k->out_pa, k->out_region_size);
	k->out_pa = 0;
	k->out_region_size = 0;
}

int kho_prepare(struct kho *k)
{
	struct map_builder mb = { 0 };
	static const struct kho_walk_ops walk = { map_run_cb, map_mask_cb };
	int err;

	if (k->state != KHO_NORMAL)
		return -EBUSY;
	for (struct luo_session *s = k->sessions; s; s = s->next)
		for (struct luo_obj *o = s->objs; o; o = o->next)
			if (!kho_subsys_find(o->ops->subsys))
				return -ENOENT;
	err = kho_alloc_walk(&k->alloc, KHO_FOLIO_PRESERVED, &walk, &mb);
	if (err) {
		map_free(&mb);
		return err;
	}
	/*
	 * Sized from the records before writing (the objects say how much
	 * they write), so even a 1 TiB guest's blob is serialized once; a
	 * guess that still runs out of room doubles. libfdt clears the whole
	 * buffer, so it is not simply made as large as the largest blob.
	 */
	size_t cap = 4096 + 8 * (mb.masks.n + mb.ranges[0].n +
				 mb.ranges[1].n + mb.ranges[2].n);
	for (const struct luo_session *s = k->sessions; s; s = s->next)
		for (const struct luo_obj *o = s->objs; o; o = o->next)
			cap += 512 + (o->ops->blob_bytes ?
				      o->ops->blob_bytes(o->obj) : 0);
	cap += cap / 16;
	if (cap > KHO_FDT_MAX)
		cap = KHO_FDT_MAX;
	for (;;) {
		/* Its own mapping, huge pages from 1 MiB: the exec tears
		 * it down per 2 MiB (kho/bigbuf.c). */
		void *fdt = kho_big_alloc(cap, true);
		if (!fdt) {
			err = -ENOMEM;
			break;
		}
		err = serialize_into(k, fdt, cap, &mb);
		if (!err) {
			k->out_fdt = fdt;
			k->out_fdt_size = fdt_totalsize(fdt);
			kho_big_trim(fdt, k->out_fdt_size);
			break;
		}
		kho_big_free(fdt);
		if (err != -ENOSPC || cap >= KHO_FDT_MAX) {
			err = err == -ENOSPC ? -E2BIG : err;
			break;
		}
		cap = cap * 2 > KHO_FDT_MAX ? KHO_FDT_MAX : cap * 2;
	}
	map_free(&mb);
	if (!err && k->pm) {
		err = blob_stage(k);
		if (err) {
			kho_big_free(k->out_fdt);
			k->out_fdt = NULL;
			k->out_fdt_size = 0;
		}
	}
	if (!err)
		k->state = KHO_PREPARED;
	return err;
}

static void unfreeze_all(struct kho *k)
{
	for (struct luo_session *s = k->sessions; s; s = s->next)
		for (struct luo_obj *o = s->objs; o; o = o->next) {
			if (o->frozen && o->ops->unfreeze)
				o->ops->unfreeze(k, o->obj);
			o->frozen = false;
		}
}

/* FROZEN -> PREPARED: uncommit and free the blob, unfreeze objects. */
static void blob_withdraw(struct kho *k)
{
	struct kho_header *h = kho_va(k, k->out_pa, KHO_HDR_SIZE);
	if (h)
		__atomic_store_n(&h->commit, 0, __ATOMIC_RELEASE);
	blob_unstage(k);
	unfreeze_all(k);
	k->state = KHO_PREPARED;
}

int kho_freeze(struct kho *k, uint64_t *pa)
{
	if (k->state != KHO_PREPARED)
		return -EBUSY;
	if (!k->pm)
		return -ENODEV;
	for (struct luo_session *s = k->sessions; s; s = s->next) {
		for (struct luo_obj *o = s->objs; o; o = o->next) {
			/* Injected: an object that cannot be frozen now. */
			int err = ioh_fail("kho.freeze") ? -EAGAIN :
				  o->ops->freeze ? o->ops->freeze(k, o->obj) : 0;
			if (err) {
				unfreeze_all(k);
				return err;
			}
			o->frozen = true;
		}
	}
	/* Staged at prepare; again only after a withdrawn freeze. */
	int err = k->out_pa ? 0 : blob_stage(k);
	if (err) {
		unfreeze_all(k);
		return err;
	}
	struct kho_header *h = kho_va(k, k->out_pa, KHO_HDR_SIZE);
	/* The one store that makes the handover count. */
	__atomic_store_n(&h->commit, KHO_COMMIT_MAGIC ^ h->fdt_csum,
			 __ATOMIC_RELEASE);
	k->state = KHO_FROZEN;
	if (k->save_dir[0]) {
		err = kho_save_blob(k->save_dir, k->generation, k->out_fdt,
				    k->out_fdt_size);
		if (err) {
			/* Back to PREPARED: the caller may retry or cancel. */
			blob_withdraw(k);
			return err;
		}
	}
	*pa = k->out_pa;
	return 0;
}

int kho_cancel(struct kho *k)
{
	if (k->state == KHO_NORMAL && !k->sessions)
		return 0;
	if (k->state == KHO_FROZEN)
		blob_withdraw(k);
	blob_unstage(k);
	kho_big_free(k->out_fdt);
	k->out_fdt = NULL;
	k->out_fdt_size = 0;
	k->state = KHO_NORMAL;
	while (k->sessions)
		luo_session_destroy(k->sessions);
	return 0;
}

/* Released at finish: gone for every observer, and a late reader in this
 * kernel traps just as on unpreserved memory. */
static void release_cb(void *ctx, uint64_t pa, uint64_t len)
{
	struct kho *k = ctx;
	if (!k->pm)
		return;
	physmem_discard(k->pm, pa, len);
	if (!mprotect(k->pm->base + pa, len, PROT_NONE))
		kho_alloc_guard_range(&k->alloc, pa, len);
}

int64_t kho_finish(struct kho *k)
{
	if (!k->has_incoming)
		return -ENOENT;
	uint64_t freed = kho_alloc_free_flagged(&k->alloc, KHO_FOLIO_INCOMING,
						release_cb, k);
	k->has_incoming = false;
	kho_big_free(k->in_fdt);
	k->in_fdt = NULL;
	kho_parsed_free(&k->in);
	return (int64_t)freed;
}

int kho_save_blob(const char *dir, uint64_t generation, const void *fdt,
		  size_t size)
{
	char path[1024], tmp[1100];
	if (mkdir(dir, 0777) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/handover-gen%03" PRIu64 ".dtb", dir,
		 generation);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	const uint8_t *p = fdt;
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, p + done, size - done);
		if (n < 0) {
			int err = -errno;
			close(fd);
			unlink(tmp);
			return err;
		}
		done += (size_t)n;
	}
	if (close(fd) || rename(tmp, path)) {
		int err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

static int fd_inherit(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int kho_exec(struct kho *k, const struct kho_exec_args *args)
{
	extern char **environ;
	if (k->state != KHO_FROZEN)
		return -EBUSY;
	if (!k->pm || !args->path || !args->argv || !args->argv[0])
		return -EINVAL;
	int err = ioh_fail("kho.exec") ? -ENOEXEC : fd_inherit(k->pm->fd);
	for (size_t i = 0; i < args->nr_keep_fds && !err; i++)
		err = fd_inherit(args->keep_fds[i]);
	if (err)
		return err;
	execve(args->path, args->argv, environ);
	return -errno;
}
