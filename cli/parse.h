/* SPDX-License-Identifier: MIT */
/* Option values shared by the subcommands. */
#ifndef IOH_CLI_PARSE_H
#define IOH_CLI_PARSE_H

/*
 * Sizes ("4096", "0x1000", "64K", "2M", "4G", "1T") and folio mixes are
 * read as a kernel's command line reads them: lu_parse_num, lu_parse_mix.
 */
#include "lu/lu.h"

/* iohandover kernel with --region-fd: a full host kernel (lu/). */
int cli_kernel_lu(int argc, char **argv);

#endif /* IOH_CLI_PARSE_H */
