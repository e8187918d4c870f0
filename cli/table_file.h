/* SPDX-License-Identifier: MIT */
/*
 * Page tables outside any machine, for dump and check: table memory from
 * an anonymous arena with made-up physical addresses, and the raw
 * table-dump format of docs/dump-format.md (write, read back, rebuild).
 */
#ifndef IOH_CLI_TABLE_FILE_H
#define IOH_CLI_TABLE_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "pt/pt.h"

/* A pt_mem_ops arena of `pages` table pages (reserved, not committed). */
struct cli_ptmem {
	uint8_t *base;
	uint64_t base_pa;
	uint64_t pages;
	uint64_t *free_stack;
	uint64_t nfree;
	struct pt_mem_ops ops;
};
int cli_ptmem_init(struct cli_ptmem *m, uint64_t pages);
void cli_ptmem_destroy(struct cli_ptmem *m);

#define CLI_DUMP_MAGIC "iohandover-table-dump"
#define CLI_DUMP_VERSION 1

/* Write t as a raw dump; comment lines (may be NULL) go in the header. */
int cli_dump_write(FILE *f, const struct pt_table *t, enum pt_format_id fmt,
		   const char *comment);

/* A dump read back and rebuilt into a table of its own. */
struct cli_dump {
	struct cli_ptmem mem;
	struct pt_table t;
	enum pt_format_id fmt;
	unsigned int va_bits;
	uint64_t leaves;
};
/* Read path; on error (-errno) msg says where and why (file:line). */
int cli_dump_read(const char *path, struct cli_dump *d, char *msg, size_t len);
void cli_dump_free(struct cli_dump *d);

#endif /* IOH_CLI_TABLE_FILE_H */
