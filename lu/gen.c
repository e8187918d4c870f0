// SPDX-License-Identifier: MIT
/*
 * gen: one generation's console, failure reporting, crash points and the
 * report lines that say where a handover went (lu/gen.h).
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const lu_crash_points[] = {
	"serialize", "freeze", "exec", "replay", "reconcile", "switch",
	"switch-unit", "atc", "free", "finish", NULL,
};

const char *const lu_injections[] = {
	"table-prot", "table-outside", "table-cycle", "table-bad-entry",
	"ioas-memfd", "ioas-range", "hwpt-ioas", "unpreserved-running", NULL,
};

static const char *const phase_names[LU_NR_PHASES] = {
	[LU_PH_PRESERVE] = "preserve",
	[LU_PH_UNMAP] = "unmap_ram",
	[LU_PH_FREEZE_TO_EXEC] = "freeze_to_exec",
	[LU_PH_BOOT] = "boot_parse",
	[LU_PH_RESUME] = "guest_resume",
	[LU_PH_REPLAY] = "replay_repin",
	[LU_PH_BUILD] = "build",
	[LU_PH_DIFF] = "diff_reconcile",
	[LU_PH_SWITCH] = "switch",
	[LU_PH_FREE] = "free",
	[LU_PH_FINISH] = "finish",
};

const char *lu_phase_name(enum lu_phase p)
{
	return (unsigned int)p < LU_NR_PHASES ? phase_names[p] : "unknown";
}

void lu_log(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "iohandover: kernel: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int lu_gen_fail(struct lu_gen *g, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->error, sizeof(g->error), fmt, ap);
	va_end(ap);
	lu_log("%s", g->error);
	return code;
}

static void report_raw(struct lu_gen *g, const char *line)
{
	if (write(g->cfg->report_fd, line, strlen(line)) < 0)
		lu_log("report: %s", strerror(errno));
}

void lu_report_handover(struct lu_gen *g, const char *kind, uint64_t pa)
{
	char line[128];
	snprintf(line, sizeof(line), "{\"event\":\"handover\",\"kind\":\"%s\","
		 "\"pa\":%" PRIu64 "}\n", kind, pa);
	report_raw(g, line);
}

void lu_crash_point(struct lu_gen *g, const char *point)
{
	if (!g->cfg->crash_at || strcmp(g->cfg->crash_at, point))
		return;
	char line[96];
	snprintf(line, sizeof(line), "{\"event\":\"crash\",\"point\":\"%s\"}\n",
		 point);
	report_raw(g, line);
	kill(getpid(), SIGKILL);
}
