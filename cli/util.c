// SPDX-License-Identifier: MIT
/* Small helpers the subcommands share (cli/parse.h). */
#include <stdio.h>

#include "cli/parse.h"

void cli_va_widths(enum pt_format_id fmt, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned int b = 12; b <= 64; b++) {
		if (pt_fmt_levels_for(fmt, b) < 0)
			continue;
		unsigned int e = b;
		while (e < 64 && pt_fmt_levels_for(fmt, e + 1) >= 0)
			e++;
		int w = e == b ?
			snprintf(out + n, len - n, "%s%u", n ? ", " : "", b) :
			snprintf(out + n, len - n, "%s%u-%u", n ? ", " : "", b, e);
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
		b = e;
	}
}

const char *cli_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}
