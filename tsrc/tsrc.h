/* SPDX-License-Identifier: MIT */
/*
 * tsrc: page tables that come from outside iohandover, read into a pt
 * table so `check` can compare them (docs/dump-format.md, "Real tables"):
 *
 *   - a Linux VT-d debugfs domain_translation_struct listing (the old
 *     one-file-for-all-devices layout with five columns on every row, the
 *     per-device layout with columns down to the leaf only, and the
 *     per-PASID file), and
 *   - the bytes of a table in a raw physical memory image (byte offset =
 *     physical address: QEMU pmemsave, an extracted kdump, iohandover's
 *     own physmem file), walked from a root physical address.
 *
 * Both end as the same thing: table pages at their physical addresses,
 * taken over with pt_adopt, which checks every entry with pt's own
 * decoders. A debugfs listing is turned back into those pages (each row
 * gives the entries of its walk, at the slots its IOVA indexes); rows
 * that disagree about a slot are a walk that raced with a map or unmap.
 *
 * Every refusal is a message naming the line (debugfs) or the physical
 * address and IOVA (image) and what is wrong; nothing here exits or
 * prints. Formats are pt's, looked up by name (pt_fmt_by_name), so a
 * format pt/ learns is read here without a change.
 */
#ifndef IOH_TSRC_TSRC_H
#define IOH_TSRC_TSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pt/pt.h"

enum tsrc_kind { TSRC_DEBUGFS, TSRC_IMAGE };

/* How to read a source; zero/negative fields are "not given". */
struct tsrc_opts {
	int fmt;               /* enum pt_format_id, or -1 (debugfs: vtd-ss) */
	unsigned int va_bits;  /* 0: not given */
	unsigned int levels;   /* 0: not given (va_bits wins when both) */
	const char *device;    /* debugfs: which device, e.g. 0000:00:02.0 */
	long pasid;            /* debugfs: which PASID, or -1 */
	bool loose;            /* device and pasid only choose among several
				* tables: a listing of one is taken as it is */
};
void tsrc_opts_init(struct tsrc_opts *o);

/* Physical address -> pointer, an open hash (a set when values are NULL). */
struct tsrc_store {
	uint64_t *keys;   /* pa + 1; 0 is an empty slot */
	void **vals;
	size_t nslot, n;
};

struct tsrc_table {
	enum tsrc_kind kind;
	enum pt_format_id fmt;
	unsigned int va_bits, levels;
	bool depth_known;       /* false: an empty debugfs table, depth guessed */
	pt_oaddr_t root_pa;
	char device[64];        /* debugfs: the device of the table */
	long pasid;             /* debugfs: its PASID, or -1 */
	uint64_t leaves;        /* debugfs: rows; image: leaves walked */
	struct pt_table t;      /* adopted: valid once a read succeeded */

	/* private */
	struct pt_mem_ops ops;
	struct tsrc_store pages;    /* debugfs: the rebuilt table pages */
	struct tsrc_store claimed;  /* pages pt_adopt reached */
	pt_oaddr_t dup_pa;          /* a page reached twice */
	unsigned int dup_level;     /* as a table of this level */
	const uint8_t *img;
	size_t img_len;
	void *map;
	size_t map_len;
	bool adopted;
};

/*
 * Parse a debugfs listing (len bytes, need not be NUL-terminated); name is
 * used in messages ("name:line: ..."). On error (-errno), msg says where.
 */
int tsrc_debugfs_parse(struct tsrc_table *t, const char *name,
		       const char *text, size_t len, const struct tsrc_opts *o,
		       char *msg, size_t mlen);
/* Whether text looks like a debugfs listing (its first non-blank line). */
bool tsrc_debugfs_sniff(const char *text, size_t len);

/*
 * Walk the table at root in a memory image: the file at path (mapped
 * read-only), or img[0, len) (which must stay valid while t is used).
 * o->fmt and a depth (va_bits or levels) are required.
 */
int tsrc_image_open(struct tsrc_table *t, const char *path, pt_oaddr_t root,
		    const struct tsrc_opts *o, char *msg, size_t mlen);
int tsrc_image_mem(struct tsrc_table *t, const char *name, const uint8_t *img,
		   size_t len, pt_oaddr_t root, const struct tsrc_opts *o,
		   char *msg, size_t mlen);

void tsrc_free(struct tsrc_table *t);

/* The largest IOVA width of fmt with that many levels, or 0. */
unsigned int tsrc_va_bits_for_levels(enum pt_format_id fmt, unsigned int levels);
/* "arm-s1, arm-s2, ..." : every format pt knows, for messages. */
void tsrc_fmt_list(char *out, size_t len);

#endif /* IOH_TSRC_TSRC_H */
