/* SPDX-License-Identifier: MIT */
/* tsrc internals shared by its files. */
#ifndef IOH_TSRC_TSRC_INT_H
#define IOH_TSRC_TSRC_INT_H

#include "tsrc/tsrc.h"

int tsrc_fail(char *msg, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Lookup (NULL if absent, *found says whether present) and insert. */
void *tsrc_store_get(const struct tsrc_store *s, uint64_t pa, bool *found);
int tsrc_store_put(struct tsrc_store *s, uint64_t pa, void *val);
void tsrc_store_free(struct tsrc_store *s, bool free_vals);

/* "level 1 (2 MiB items)" */
void tsrc_level_name(char *out, size_t len, unsigned int level);

/*
 * pt_adopt the table at t->root_pa through t->ops (set by the caller),
 * with t->fmt, t->va_bits already set. On error *bad_va and the pt error;
 * t->dup_pa when a page was reached twice (then the error is -PT_EEXIST).
 */
int tsrc_adopt(struct tsrc_table *t, pt_vaddr_t *bad_va);
/* Count t's leaves. */
uint64_t tsrc_count_leaves(const struct tsrc_table *t);

/* Table page of a debugfs rebuild: its words first (pt reads them). */
struct tsrc_page {
	uint64_t words[PT_TABLE_ITEMS];
	unsigned int line[PT_TABLE_ITEMS]; /* line that set each word */
	unsigned int level;
	uint64_t key;       /* which part of the IOVA space it maps */
	unsigned int first_line;
};

#endif /* IOH_TSRC_TSRC_INT_H */
