/* SPDX-License-Identifier: MIT */
/* Option values shared by the subcommands. */
#ifndef IOH_CLI_PARSE_H
#define IOH_CLI_PARSE_H

/*
 * Sizes ("4096", "0x1000", "64K", "2M", "4G", "1T") and folio mixes are
 * read as a kernel's command line reads them: lu_parse_num, lu_parse_mix.
 */
#include "lu/lu.h"

/* The IOVA widths fmt supports, as "32-48" or "48, 57". */
void cli_va_widths(enum pt_format_id fmt, char *out, size_t len);
/* one if n is 1, else many. */
const char *cli_plural(uint64_t n, const char *one, const char *many);

/* iohandover kernel with --region-fd: a full host kernel (lu/). */
int cli_kernel_lu(int argc, char **argv);

#endif /* IOH_CLI_PARSE_H */
