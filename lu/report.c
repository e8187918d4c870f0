// SPDX-License-Identifier: MIT
/*
 * report: the one JSON line a generation writes when it has booted (or
 * failed to): phases, blackout, table memory, recovery outcome, error.
 * The fields are those docs/report.md lists and world/ reads back; the
 * line is written with one write() to a descriptor kept across exec.
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioh/ioh.h"

/* Devices this generation knows to have ATS (from its boot or the
 * handover): the ones whose ATCs it invalidates. */
static unsigned int ats_devices(const struct lu_gen *g)
{
	unsigned int n = 0;
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		n += g->ictx.dev[d].ats;
	return n;
}

/* PASIDs attached (replayed) per device, as a JSON array. */
static void put_pasids(FILE *f, const struct lu_gen *g)
{
	fputs(",\"pasids\":[", f);
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		fprintf(f, "%s%u", d ? "," : "",
			iommufd_device_nr_pasids(&g->ictx, d));
	fputc(']', f);
}

void lu_report(struct lu_gen *g, const char *event, bool ok)
{
	const struct lu_gen_cfg *c = g->cfg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	fprintf(f, "{\"event\":\"%s\",\"ok\":%s,\"generation\":%" PRIu64
		",\"profile\":", event, ok ? "true" : "false", g->k.generation);
	ioh_json_str(f, c->profile);
	fprintf(f, ",\"from\":");
	ioh_json_str(f, g->from ? g->from : "");
	fprintf(f, ",\"strategy\":");
	ioh_json_str(f, c->strategy->name);
	fprintf(f, ",\"format\":\"%s\",\"naive\":%s"
		",\"blackout_us\":%" PRIu64 ",\"phases_us\":{",
		pt_fmt_name(c->fmt), c->naive ? "true" : "false",
		g->blackout_ns / 1000);
	for (unsigned int p = 0; p < LU_NR_PHASES; p++)
		fprintf(f, "%s\"%s\":%" PRIu64, p ? "," : "",
			lu_phase_name((enum lu_phase)p), g->phase_ns[p] / 1000);
	fprintf(f, "},\"extra_table_bytes\":%" PRIu64
		",\"table_bytes\":%" PRIu64 ",\"splits\":%" PRIu64
		",\"joins\":%" PRIu64 ",\"granule_bytes\":%" PRIu64
		",\"diff_granule_bytes\":%" PRIu64
		",\"hotplug_done\":%s,\"hotplug_waited\":%s"
		",\"hotplug_wait_us\":%" PRIu64
		",\"kho_validate_us\":%" PRIu64 ",\"kho_reserve_us\":%" PRIu64
		",\"kho_poison_us\":%" PRIu64 ",\"commit_us\":%" PRIu64
		",\"mode\":\"%s\",\"leaked_bytes\":%" PRIu64
		",\"bad_frees\":%" PRIu64 ",\"ats_devices\":%u"
		",\"naive_ats\":%s,\"nested\":%s,\"s1_bytes_checked\":%" PRIu64
		",\"error\":",
		g->extra_table_pages * PT_TABLE_SIZE,
		g->ictx.stats.table_pages * PT_TABLE_SIZE, g->rec.splits,
		g->rec.joins, g->rec.granule_bytes, g->diff_granule_bytes,
		g->hotplug_done ? "true" : "false",
		g->hotplug_waited ? "true" : "false", g->hotplug_wait_ns / 1000,
		g->k.boot.validate_ns / 1000, g->k.boot.reserve_ns / 1000,
		g->k.boot.poison_ns / 1000, g->commit_ns / 1000,
		g->recovery_mode ? g->recovery_mode : "",
		g->leaked_bytes, g->ictx.stats.bad_frees, ats_devices(g),
		c->naive_ats ? "true" : "false", c->nested ? "true" : "false",
		g->s1_bytes_checked);
	ioh_json_str(f, g->error);
	put_pasids(f, g);
	/* Partial preservation: stream IDs on tables, and in abort. */
	for (unsigned int pass = 0; pass < 2; pass++) {
		uint32_t m = pass ? g->aborted_mask : g->preserved_mask;
		fprintf(f, pass ? "],\"aborted_devices\":[" :
			",\"preserved_devices\":[");
		for (unsigned int d = 0, n = 0; d < HW_MAX_DEVS; d++)
			if (m >> d & 1)
				fprintf(f, "%s%u", n++ ? "," : "", d);
	}
	fprintf(f, "],\"reserved_ids\":%u", g->reserved_ids);
	/* Where an injected failure fired (tests: lu/cmdline.h fail-at). */
	fputs(",\"injected\":", f);
	ioh_json_str(f, ioh_fail_site() ? ioh_fail_site() : "");
	fputs("}\n", f);
	fclose(f);
	if (write(c->report_fd, buf, len) != (ssize_t)len)
		lu_log("report: %s", strerror(errno));
	free(buf);
}
