// SPDX-License-Identifier: MIT
/*
 * Kernel profiles on the command line: the --help text that lists them
 * by format, and the check that a profile exists for the chosen format
 * (run --from/--to, dump --profile, matrix --profiles).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "iommufd/iommufd.h"

const char *cli_profile_help(void)
{
	static char buf[4096];
	size_t used = 0;
	for (unsigned int f = 0; f < PT_FMT_COUNT; f++) {
		/* "  arm-s2  v1, v2, ..." wrapped at 78 columns. */
		char names[1024];
		snprintf(names, sizeof(names), "%s",
			 iommufd_profile_names_for((enum pt_format_id)f));
		int w = snprintf(buf + used, sizeof(buf) - used, "%25s%-7s",
				 "", pt_fmt_name((enum pt_format_id)f));
		size_t col = 32;
		char *save = NULL;
		for (char *t = strtok_r(names, " ", &save); t && w >= 0 &&
		     (size_t)w < sizeof(buf) - used; t = strtok_r(NULL, " ", &save)) {
			used += (size_t)w;
			if (col + 1 + strlen(t) > 78) {
				w = snprintf(buf + used, sizeof(buf) - used, "\n%33s%s",
					     "", t);
				col = 33 + strlen(t);
			} else {
				w = snprintf(buf + used, sizeof(buf) - used, " %s", t);
				col += 1 + strlen(t);
			}
		}
		if (w < 0 || (size_t)w >= sizeof(buf) - used)
			break;
		used += (size_t)w;
		w = snprintf(buf + used, sizeof(buf) - used, "\n");
		if (w < 0 || (size_t)w >= sizeof(buf) - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

bool cli_profile_ok(const char *cmd, const char *opt, const char *name,
		    enum pt_format_id fmt)
{
	if (!iommufd_profile_find(name)) {
		cli_err(cmd, "%s: unknown profile '%s' (known: %s)", opt, name,
			iommufd_profile_names());
		return false;
	}
	if (!iommufd_profile_find_for(name, fmt)) {
		cli_err(cmd, "%s: profile '%s' does not exist for format %s "
			"(profiles of %s: %s)", opt, name, pt_fmt_name(fmt),
			pt_fmt_name(fmt), iommufd_profile_names_for(fmt));
		return false;
	}
	return true;
}

bool cli_profiles_ok(const char *cmd, const char *opt, const char *list,
		     enum pt_format_id fmt)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!cli_profile_ok(cmd, opt, tok, fmt))
			return false;
	return true;
}
