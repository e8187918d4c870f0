/* SPDX-License-Identifier: MIT */
/* kho internals shared between its files; not for other parts. */
#ifndef IOH_KHO_INTERNAL_H
#define IOH_KHO_INTERNAL_H

#include "kho/kho.h"
#include "ioh/ioh.h"

void kho_errf(struct kho_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int kho_compat_parse(const char *compat, char *name, size_t namesz,
		     uint32_t *version);
const struct kho_subsys *kho_subsys_at(size_t i);
/* True when [pa, pa + len) shares a byte with preserved memory. */
bool kho_parsed_overlaps(const struct kho_parsed *p, uint64_t pa,
			 uint64_t len);

extern const struct kho_subsys kho_memfd_subsys;

/*
 * Large buffers in mappings of their own (kho/bigbuf.c): zeroed, and of
 * 1 MiB or more with huge_ok in whole 2 MiB pages advised huge, so the
 * exec tears them down per 2 MiB, not per 4 KiB. kho_big_trim gives back
 * the pages past the first `used` bytes. NULL (and ioh_fail "kho.alloc")
 * when out of memory; kho_big_free(NULL) does nothing.
 */
void *kho_big_alloc(size_t len, bool huge_ok);
/* kho_header_read without the FDT's checksum (the caller checks its copy). */
int kho_header_check(const struct physmem *pm, uint64_t pa,
		     struct kho_header *hdr, const void **fdt,
		     struct kho_err *err);
void *kho_big_calloc(size_t n, size_t size);
void kho_big_trim(void *buf, size_t used);
void kho_big_free(void *buf);

struct luo_obj {
	char name[KHO_NAME_MAX];
	const struct kho_obj_ops *ops;
	void *obj;
	bool frozen;
	struct luo_obj *next;
};

struct luo_session {
	struct kho *k;
	char name[KHO_NAME_MAX];
	struct luo_obj *objs;
	size_t nr_objs;
	struct luo_session *next;
};


/* Big-endian (FDT byte order) 64-bit load/store at any alignment. */
static inline uint64_t kho_be64_ld(const void *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline void kho_be64_st(void *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	__builtin_memcpy(p, &v, 8);
}

#endif /* IOH_KHO_INTERNAL_H */
