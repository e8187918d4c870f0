/* SPDX-License-Identifier: MIT */
/* Option values shared by the subcommands. */
#ifndef IOH_CLI_PARSE_H
#define IOH_CLI_PARSE_H

/*
 * Sizes ("4096", "0x1000", "64K", "2M", "4G", "1T") and folio mixes are
 * read as a kernel's command line reads them: lu_parse_num, lu_parse_mix.
 */
#include <stdbool.h>
#include <stdio.h>

#include "lu/lu.h"
#include "pt/pt.h"

/* Profiles by format, lines for --help (cli/profiles.c). */
const char *cli_profile_help(void);
/* name is a profile of fmt; otherwise a message naming opt, the
 * profile and the profiles fmt has, and false. */
bool cli_profile_ok(const char *cmd, const char *opt, const char *name,
		    enum pt_format_id fmt);
/* The same for each of a comma list. */
bool cli_profiles_ok(const char *cmd, const char *opt, const char *list,
		     enum pt_format_id fmt);

/* The IOVA widths fmt supports, as "32-48" or "48, 57". */
void cli_va_widths(enum pt_format_id fmt, char *out, size_t len);
/* one if n is 1, else many. */
const char *cli_plural(uint64_t n, const char *one, const char *many);

/*
 * An output file written beside PATH and renamed over it once complete,
 * so a failed or interrupted write keeps the old file; "-" is stdout.
 * open: 0 or -errno; commit: 0 or -1 (the temporary file removed).
 */
struct cli_outfile {
	FILE *f;
	const char *path;
	char tmp[4200];
};
int cli_outfile_open(struct cli_outfile *o, const char *path);
int cli_outfile_commit(struct cli_outfile *o);
void cli_outfile_abort(struct cli_outfile *o);

/* iohandover kernel with --region-fd: a full host kernel (lu/). */
int cli_kernel_lu(int argc, char **argv);

#endif /* IOH_CLI_PARSE_H */
