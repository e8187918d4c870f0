/* SPDX-License-Identifier: MIT */
/*
 * kho: handover of the host kernel's state across execve (Kexec HandOver
 * plus a Live Update Orchestrator, modelled after Linux's KHO and LUO).
 *
 * Outgoing kernel                        Incoming kernel
 *   luo_session_create()                   kho_boot(): header, validate the
 *   luo_preserve() (object is preserved:     whole blob, reserve preserved
 *     its folios are marked PRESERVED)       folios (INCOMING), poison the rest
 *   kho_prepare(): serialize to an FDT,    luo_retrieve()/kho_memfd_retrieve():
 *     staged uncommitted in RAM              subsystems claim their objects
 *   kho_freeze(): freeze objects, store    kho_finish(): everything nobody
 *     the commit marker (O(1))
 *   kho_exec(): execve the next kernel       claimed is freed
 *   kho_cancel(): back to normal from       (released memory is discarded
 *     PREPARED or FROZEN, nothing leaked      and guarded, as at boot)
 *
 * The blob is described in docs/handover-abi.md. Subsystems (memfd, iommu,
 * iommufd) own one FDT node each, found by compatible string; their objects
 * are child nodes named by (session, name).
 *
 * Errors are negative errno values; functions that read a blob also fill a
 * message naming the problem (struct kho_err).
 */
#ifndef IOH_KHO_H
#define IOH_KHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/physmem.h"
#include "kho/alloc.h"
#include "ioh/version.h"

#define KHO_ABI_VERSION 1u
/* The root's informative 'producer' property: who wrote the blob. */
#define KHO_PRODUCER "iohandover " IOH_VERSION
#define KHO_PRODUCER_MAX 64u
#define KHO_COMPAT_PREFIX "iohandover,"
#define KHO_ROOT_NAME "kho"
/* Largest FDT a kernel accepts (the header page is extra). */
#define KHO_FDT_MAX (16u << 20)
#define KHO_NAME_MAX 64u /* session and object names, with the NUL */

/*
 * The handover header: the page at the physical address given to the next
 * kernel. The FDT follows it in the same folio. Little-endian, fixed size.
 * A handover counts only when commit == KHO_COMMIT_MAGIC ^ fdt_csum; the
 * commit word is stored last, with release ordering, after everything
 * else (including the checksum) is in RAM.
 */
#define KHO_HDR_MAGIC 0x314f484b484f4949ull /* "IIOHKHO1" */
#define KHO_COMMIT_MAGIC 0x54494d4d4f434f4bull /* "KOCOMMIT" */
#define KHO_HDR_VERSION 1u
#define KHO_HDR_SIZE 4096u

struct kho_header {
	uint64_t magic;
	uint32_t hdr_version;
	uint32_t hdr_size;     /* KHO_HDR_SIZE: FDT starts at pa + hdr_size */
	uint64_t fdt_size;     /* bytes of FDT */
	uint64_t fdt_csum;     /* kho_csum() of the FDT bytes */
	uint64_t region_size;  /* folio holding header + FDT (2 MiB or 1 GiB) */
	uint64_t generation;   /* of the kernel that wrote it */
	uint64_t prev_pa;      /* header it booted from; 0 after a fresh boot */
	uint64_t commit;       /* written last */
};

uint64_t kho_csum(const void *buf, size_t len);

/* A message naming what was wrong with a blob or a request. */
struct kho_err {
	char msg[256];
};

/* ---- Objects and subsystems ------------------------------------------- */

struct kho;
struct kho_vctx;
struct kho_parsed;
struct luo_session;

/*
 * How an object type is preserved. preserve() is the heavy step (mark
 * folios PRESERVED) and runs while the workload still runs; serialize()
 * writes the object's properties into its node (libfdt sequential-write
 * API, called with the node open; may run more than once); freeze() runs
 * just before the blob is committed: after it the object must not change
 * until unfreeze() (cancel) or exec.
 */
struct kho_obj_ops {
	const char *subsys; /* name of the owning struct kho_subsys */
	int (*preserve)(struct kho *k, void *obj);
	void (*unpreserve)(struct kho *k, void *obj);
	int (*serialize)(struct kho *k, void *obj, void *fdt);
	int (*freeze)(struct kho *k, void *obj);       /* optional */
	void (*unfreeze)(struct kho *k, void *obj);    /* optional */
	/* Optional: bytes serialize() will write, at least (its property
	 * payloads), so kho_prepare sizes the blob in one pass. */
	size_t (*blob_bytes)(void *obj);
};

/*
 * A subsystem owns the root sub-node whose compatible is
 * "iohandover,<name>-v<version>". A kernel writes `version` and reads
 * [min_version, version]; any other version refuses the handover.
 * validate_obj() checks one object node (it must report the memory the
 * object owns with kho_vctx_own()); a subsystem without it refuses objects.
 * Global state (like an IOMMU unit shared by many objects) goes in
 * properties of the subsystem node: serialize_global / validate_global.
 */
struct kho_subsys {
	const char *name;
	uint32_t version;
	uint32_t min_version;
	int (*validate_obj)(struct kho_vctx *v, const void *fdt, int node,
			    uint32_t version);
	int (*validate_global)(struct kho_vctx *v, const void *fdt, int node,
			       uint32_t version);
	int (*serialize_global)(struct kho *k, void *fdt);
	/*
	 * Optional: after every object of every subsystem passed its own
	 * validator, checks between objects (one naming another, limits
	 * over all of them), with the parsed blob.
	 */
	int (*validate_all)(struct kho_vctx *v, const struct kho_parsed *p);
	/* One line in plain words about a validated object (for tools). */
	void (*describe)(const void *fdt, int node, uint32_t version,
			 char *buf, size_t len);
};

/*
 * A check of the blob as a whole that the booting kernel adds on top of
 * its subsystems' (what it needs of the state it is handed: the live
 * update engine's one VM), run last by kho_blob_validate, so kho_boot
 * refuses such a handover before touching anything. NULL: none.
 */
typedef int (*kho_blob_check_fn)(struct kho_vctx *v, const struct kho_parsed *p);
void kho_blob_check_set(kho_blob_check_fn fn);

#define KHO_MAX_SUBSYS 8
/* Built in: memfd. iommu and iommufd are registered by iommufd/
 * (iommufd_kho_register); until then their nodes parse as empty. */
int kho_subsys_register(const struct kho_subsys *ss); /* replaces by name */
const struct kho_subsys *kho_subsys_find(const char *name);

/* For validate_obj: error with a message (returns -EINVAL). */
int kho_vctx_fail(struct kho_vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The object owns count folios of 2^size_lg2 at pa: they must be preserved
 * at exactly that size, and no other object may own them. */
int kho_vctx_own(struct kho_vctx *v, uint64_t pa, unsigned size_lg2,
		 uint64_t count);
/* For validate_obj: the session of the object being validated. */
const char *kho_vctx_session(const struct kho_vctx *v);
/*
 * For validate_obj of an object that refers to another by name (an
 * iommufd ioas to its memfds): the node of object `name` of subsystem
 * `subsys` in the same session, wherever it sits in the blob. It may not
 * have been validated yet; its own validator still runs, and the whole
 * blob is refused if it fails. -ENOENT when the blob holds no such object.
 */
int kho_vctx_find_obj(const struct kho_vctx *v, const char *subsys,
		      const char *name, int *node, uint32_t *version);
/* Read helpers: property of exactly 8 bytes / a NUL-terminated string. */
int kho_fdt_get_u64(const void *fdt, int node, const char *prop,
		    uint64_t *val);
const char *kho_fdt_get_str(const void *fdt, int node, const char *prop);
int kho_fdt_put_u64(void *fdt, const char *prop, uint64_t val);

/* ---- The parsed (validated) blob -------------------------------------- */

struct kho_run {
	uint64_t pa;
	uint64_t count;
	unsigned size_lg2;
};

struct kho_mask {
	uint64_t blk_pa;
	uint64_t bits[8];
};

struct kho_pobj {
	int node;
	uint32_t subsys; /* index into kho_parsed.subsys */
	uint32_t session;
	const char *name;
	bool retrieved;
};

struct kho_psubsys {
	const struct kho_subsys *ss; /* NULL for an optional unknown node */
	int node;
	uint32_t version;
};

struct kho_parsed {
	const void *fdt;
	size_t fdt_size;
	uint32_t abi_version;
	uint64_t generation;
	uint64_t ram_size;
	/* Who wrote it ("iohandover 0.13.0"): informative, readers never
	 * act on it; "" when the writer did not say (older blobs). */
	const char *producer;
	struct kho_run *runs; /* preserved runs, sorted by pa */
	size_t nr_runs;
	struct kho_mask *masks; /* preserved 4K bitmaps, sorted */
	size_t nr_masks;
	uint64_t preserved_bytes;
	const char **sessions;
	size_t nr_sessions;
	struct kho_pobj *objs;
	size_t nr_objs;
	struct kho_psubsys subsys[KHO_MAX_SUBSYS];
	size_t nr_subsys;
};

/*
 * Validate a whole FDT blob as a booting kernel does, touching nothing.
 * ram_size: the machine's RAM, or 0 to take the blob's word for it (tools).
 * On success *out holds pointers into fdt (keep it alive); free with
 * kho_parsed_free. On failure err says why and returns -EINVAL (or -ENOMEM).
 */
int kho_blob_validate(const void *fdt, size_t size, uint64_t ram_size,
		      struct kho_parsed *out, struct kho_err *err);
void kho_parsed_free(struct kho_parsed *p);

/* Read and check the header at pa (magic, version, commit, checksum,
 * bounds); on success *fdt points at the FDT inside physmem. */
int kho_header_read(const struct physmem *pm, uint64_t pa,
		    struct kho_header *hdr, const void **fdt,
		    struct kho_err *err);

/*
 * Of candidate header addresses (e.g. every "handover pa=" a kernel
 * reported), the committed one with the highest generation: the last
 * handover that was completely written. -ENOENT when none is committed.
 */
int kho_latest_committed(const struct physmem *pm, const uint64_t *pas,
			 size_t n, uint64_t *pa);

/* ---- The kernel's handover state -------------------------------------- */

enum kho_state {
	KHO_NORMAL,   /* running; objects may be preserved */
	KHO_PREPARED, /* blob serialized (in memory) */
	KHO_FROZEN,   /* blob committed to RAM; only exec or cancel remain */
};

struct kho_boot_stats {
	uint64_t validate_ns, reserve_ns, poison_ns;
	uint64_t preserved_bytes;
	uint64_t discarded_ranges;  /* unpreserved ranges given back */
	uint64_t guarded_ranges;    /* made inaccessible in this process */
	uint64_t filled_bytes;      /* written with KHO_POISON (guard failed) */
};

struct kho {
	struct physmem *pm; /* NULL: metadata only (tools, tests) */
	struct kho_alloc alloc;
	enum kho_state state;
	uint64_t generation;
	char save_dir[512]; /* copy each blob passed on here, if set */

	/* Outgoing. */
	struct luo_session *sessions;
	void *out_fdt;
	size_t out_fdt_size;
	uint64_t out_pa; /* header of the committed blob */
	uint64_t out_region_size;

	/* Incoming. */
	bool has_incoming;
	bool in_early;         /* validated (its copy), not yet reserved */
	uint64_t in_pa;
	uint64_t in_region_size;
	uint64_t in_csum;      /* the committed checksum of the FDT */
	void *in_fdt; /* private copy */
	struct kho_parsed in;
	struct kho_boot_stats boot;
};

/* Pattern of poisoned memory that could not be guarded ("KHOPOISN"). */
#define KHO_POISON 0x4e53494f504f484bull

/* A fresh boot: all RAM free. pm may be NULL (metadata only). */
int kho_init(struct kho *k, struct physmem *pm, uint64_t ram_size);
/*
 * Boot from the handover whose header is at pa: read the header, validate
 * the whole blob, then (only then) reserve the preserved folios and the
 * handover region as INCOMING, give back every other page and make it
 * inaccessible to this process. On error nothing was touched and k is not
 * initialised.
 */
int kho_boot(struct kho *k, struct physmem *pm, uint64_t pa,
	     struct kho_err *err);
/*
 * kho_boot in two steps, for a kernel that lets its guest run again in
 * between. Early: read the header, copy the FDT into the kernel's private
 * copy (its own memory, not RAM: read through the RAM file, no mapping
 * of RAM faulted in), check the copy against the committed checksum and
 * validate the whole of it, touching nothing: no allocator, no poison;
 * k->in is readable (luo_peek), nothing can be claimed yet. Late: the
 * allocator, the reservation of everything preserved and the poisoning
 * of the rest, which only have to come before this kernel's first
 * allocation. On an error of either, k is not initialised (late: nothing
 * was claimed).
 */
int kho_boot_early(struct kho *k, struct physmem *pm, uint64_t pa,
		   struct kho_err *err);
int kho_boot_late(struct kho *k, struct kho_err *err);
/* Same from an FDT already in memory, allocator only (no physmem). */
int kho_boot_fdt(struct kho *k, const void *fdt, size_t size,
		 uint64_t ram_size, struct kho_err *err);
void kho_fini(struct kho *k);

/* Install the SIGSEGV handler that names an access to poisoned memory. */
void kho_poison_trap_install(struct kho *k);

/* Serialize the blob and (with physmem) write it, uncommitted, to the
 * region the next kernel will read: the work that grows with the blob
 * happens here, while the workload still runs. */
int kho_prepare(struct kho *k);
/* Freeze objects and store the commit marker of the staged blob; *pa is
 * what the next kernel gets. Also saves a copy to k->save_dir when set. */
int kho_freeze(struct kho *k, uint64_t *pa);
int kho_cancel(struct kho *k);
/* Release everything INCOMING that no subsystem claimed (unretrieved
 * objects, the previous blob); returns the bytes freed. */
int64_t kho_finish(struct kho *k);

/* Write fdt to DIR/handover-gen<generation>.dtb (atomically). */
int kho_save_blob(const char *dir, uint64_t generation, const void *fdt,
		  size_t size);

/*
 * exec the next kernel: path with argv (argv[0] first, NULL-terminated),
 * as the caller wrote it; kho knows nothing of its syntax. physmem's
 * descriptor and each of keep_fds are made inheritable first; the
 * handover's address (from kho_freeze) is for the caller to put in argv,
 * as a kexec'ing kernel writes the next one's command line. Returns only
 * on failure (then kho_cancel is possible).
 */
struct kho_exec_args {
	const char *path;
	char *const *argv;
	const int *keep_fds;
	size_t nr_keep_fds;
};
int kho_exec(struct kho *k, const struct kho_exec_args *args);

/* ---- Sessions (LUO) ----------------------------------------------------- */

int luo_session_create(struct kho *k, const char *name,
		       struct luo_session **out);
/* Cancel a session: unpreserve its objects and free it (NORMAL state
 * only: -EBUSY while a handover is prepared or frozen). */
int luo_session_destroy(struct luo_session *s);
struct luo_session *luo_session_find(struct kho *k, const char *name);
/* Preserve obj (calls ops->preserve now) under name in session s. */
int luo_preserve(struct luo_session *s, const char *name,
		 const struct kho_obj_ops *ops, void *obj);
int luo_unpreserve(struct luo_session *s, const char *name);

/* Incoming: find object (session, name) of subsystem, mark it retrieved
 * and return its node in the incoming FDT. -ENOENT, or -EALREADY. */
int luo_retrieve(struct kho *k, const char *session, const char *name,
		 const char *subsys, int *node);
/* The same without marking it retrieved, also between kho_boot_early
 * and kho_boot_late (a read of the validated blob). */
int luo_peek(const struct kho *k, const char *session, const char *name,
	     const char *subsys, int *node);
/* The incoming node of a subsystem (global state). */
int kho_subsys_node(const struct kho *k, const char *name, int *node,
		    uint32_t *version);
/* Claim count incoming folios at pa (they become the caller's). */
int kho_claim_run(struct kho *k, uint64_t pa, unsigned size_lg2,
		  uint64_t count);

/* ---- Memory ---------------------------------------------------------------- */

/* Host pointer to [pa, pa + len) (NULL without physmem). Reading memory
 * that is neither allocated nor preserved traps after a handover boot. */
void *kho_va(const struct kho *k, uint64_t pa, uint64_t len);

#endif /* IOH_KHO_H */
