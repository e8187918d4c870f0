// SPDX-License-Identifier: MIT
/* Small helpers the subcommands share (cli/parse.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int cli_outfile_open(struct cli_outfile *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->path = path;
	if (!strcmp(path, "-")) {
		o->f = stdout;
		return 0;
	}
	if (!*path || (size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.XXXXXX",
				       path) >= sizeof(o->tmp)) {
		o->tmp[0] = '\0';
		return -ENAMETOOLONG;
	}
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		int err = -errno;
		o->tmp[0] = '\0';
		return err;
	}
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	if (!(o->f = fdopen(fd, "w"))) {
		int err = -errno;
		close(fd);
		unlink(o->tmp);
		o->tmp[0] = '\0';
		return err;
	}
	return 0;
}

int cli_outfile_commit(struct cli_outfile *o)
{
	int rc = 0;
	if (!o->f)
		return -1;
	if (o->f == stdout)
		rc = fflush(stdout) ? -1 : 0;
	else if (fclose(o->f) || rename(o->tmp, o->path))
		rc = -1;
	if (rc && o->tmp[0])
		unlink(o->tmp);
	o->f = NULL;
	o->tmp[0] = '\0';
	return rc;
}

void cli_outfile_abort(struct cli_outfile *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	if (o->tmp[0])
		unlink(o->tmp);
	o->f = NULL;
	o->tmp[0] = '\0';
}
