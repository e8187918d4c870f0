// SPDX-License-Identifier: MIT
/* The JSON report of a scenario; the schema is docs/report.md. */
#include <inttypes.h>

#include "cli/scenario.h"
#include "ioh/ioh.h"
#include "ioh/version.h"

#define REPORT_SCHEMA 1

static void dma_fields(FILE *f, const struct world_dma_totals *t, const char *ind)
{
	fprintf(f, "%s\"ops\": %" PRIu64 ",\n", ind, t->ops);
	fprintf(f, "%s\"faults\": %" PRIu64 ",\n", ind, t->faults);
	fprintf(f, "%s\"conflict_aborts\": %" PRIu64 ",\n", ind, t->conflicts);
	fprintf(f, "%s\"misdirected\": %" PRIu64 ",\n", ind, t->misdirected);
	fprintf(f, "%s\"lost_writes\": %" PRIu64 ",\n", ind, t->lost_writes);
	fprintf(f, "%s\"bbm_violations\": %" PRIu64 ",\n", ind, t->bbm_violations);
	fprintf(f, "%s\"use_after_free\": %" PRIu64 ",\n", ind, t->use_after_free);
	fprintf(f, "%s\"torn_config\": %" PRIu64 ",\n", ind, t->torn_config);
	fprintf(f, "%s\"stale_atc\": %" PRIu64 ",\n", ind, t->stale_atc);
	fprintf(f, "%s\"atc_hits\": %" PRIu64 ",\n", ind, t->atc_hits);
	fprintf(f, "%s\"atc_misses\": %" PRIu64 ",\n", ind, t->atc_misses);
	fprintf(f, "%s\"atc_invalidations\": %" PRIu64 ",\n", ind,
		t->atc_invalidations);
	fprintf(f, "%s\"max_gap_us\": %" PRIu64, ind, t->max_gap_us);
}

static void scenario(FILE *f, const struct cli_scenario *cs)
{
	const struct world_scenario *sc = &cs->sc;
	fprintf(f, "  \"scenario\": {\n");
	fprintf(f, "    \"guest_mem\": %" PRIu64 ",\n", sc->guest_mem);
	fprintf(f, "    \"folio_mix\": ");
	ioh_json_str(f, cs->mix_spec);
	fprintf(f, ",\n    \"folio_mix_ppm\": {\"1g\": %u, \"4k\": %u, \"seed\": %"
		PRIu64 ", \"scatter\": %s},\n", sc->mix.ppm_1g, sc->mix.ppm_4k,
		sc->mix.seed, sc->mix.scatter_4k ? "true" : "false");
	fprintf(f, "    \"devices\": %u,\n", sc->devices);
	fprintf(f, "    \"format\": \"%s\",\n", pt_fmt_name(sc->fmt));
	fprintf(f, "    \"va_bits\": %u,\n", sc->va_bits);
	fprintf(f, "    \"from\": ");
	ioh_json_str(f, sc->from);
	fprintf(f, ",\n    \"to\": ");
	ioh_json_str(f, sc->to);
	fprintf(f, ",\n    \"strategy\": \"%s\",\n", cli_scenario_strategy(cs));
	fprintf(f, "    \"bbm_level\": %u,\n", sc->bbm_level);
	fprintf(f, "    \"updates\": %u,\n", sc->updates);
	fprintf(f, "    \"hotplug\": %s,\n", sc->hotplug ? "true" : "false");
	fprintf(f, "    \"naive\": %s,\n", sc->naive ? "true" : "false");
	fprintf(f, "    \"preserve\": %u,\n", sc->preserve ? sc->preserve : sc->devices);
	fprintf(f, "    \"pasids\": %u,\n", sc->pasids);
	fprintf(f, "    \"replay_pasids\": %s,\n", sc->replay_pasids ? "true" : "false");
	fprintf(f, "    \"naive_pasids\": %s,\n", sc->naive_pasids ? "true" : "false");
	fprintf(f, "    \"ats\": %u,\n", sc->ats);
	fprintf(f, "    \"naive_ats\": %s,\n", sc->naive_ats ? "true" : "false");
	fprintf(f, "    \"nested\": %s,\n", sc->nested ? "true" : "false");
	fprintf(f, "    \"naive_nested\": %s,\n", sc->naive_nested ? "true" : "false");
	fprintf(f, "    \"naive_s1\": %s,\n", sc->naive_s1 ? "true" : "false");
	fprintf(f, "    \"iommus\": %u,\n", sc->iommus);
	fprintf(f, "    \"naive_units\": %s,\n", sc->naive_units ? "true" : "false");
	fprintf(f, "    \"inject\": ");
	if (sc->inject)
		ioh_json_str(f, sc->inject);
	else
		fputs("null", f);
	fprintf(f, ",\n    \"seed\": %" PRIu64 ",\n", sc->seed);
	fprintf(f, "    \"run_ms\": %" PRIu64 ",\n", sc->run_ms);
	fprintf(f, "    \"engines\": %u\n  },\n", sc->engines);
}

static void update(FILE *f, const struct world_update *u, unsigned int i, bool last)
{
	fprintf(f, "    {\n      \"index\": %u,\n      \"strategy\": ", i + 1);
	ioh_json_str(f, u->strategy);
	fprintf(f, ",\n      \"from\": ");
	ioh_json_str(f, u->from);
	fprintf(f, ",\n      \"to\": ");
	ioh_json_str(f, u->to);
	fprintf(f, ",\n      \"format\": ");
	ioh_json_str(f, u->format);
	fprintf(f, ",\n      \"bbm_level\": %u,\n", u->bbm_level);
	fprintf(f, "      \"ok\": %s,\n      \"error\": ", u->ok ? "true" : "false");
	ioh_json_str(f, u->error);
	fprintf(f, ",\n      \"vm_blackout_us\": %" PRIu64 ",\n", u->blackout_us);
	fprintf(f, "      \"phases_us\": {");
	for (unsigned int p = 0; p < LU_NR_PHASES; p++)
		fprintf(f, "%s\"%s\": %" PRIu64, p ? ", " : "",
			lu_phase_name((enum lu_phase)p), u->phases_us[p]);
	fprintf(f, "},\n      \"extra_table_bytes\": %" PRIu64 ",\n",
		u->extra_table_bytes);
	fprintf(f, "      \"table_bytes\": %" PRIu64 ",\n", u->table_bytes);
	fprintf(f, "      \"splits\": %" PRIu64 ",\n", u->splits);
	fprintf(f, "      \"joins\": %" PRIu64 ",\n", u->joins);
	fprintf(f, "      \"granule_bytes\": %" PRIu64 ",\n", u->granule_bytes);
	fprintf(f, "      \"diff_granule_bytes\": %" PRIu64 ",\n",
		u->diff_granule_bytes);
	fprintf(f, "      \"hotplug_done\": %s,\n", u->hotplug_done ? "true" : "false");
	fprintf(f, "      \"hotplug_waited\": %s,\n", u->hotplug_waited ? "true" : "false");
	fprintf(f, "      \"hotplug_wait_us\": %" PRIu64 ",\n", u->hotplug_wait_us);
	for (unsigned int pass = 0; pass < 2; pass++) {
		uint32_t m = pass ? u->aborted_devices : u->preserved_devices;
		fprintf(f, "      \"%s\": [", pass ? "aborted_devices" :
			"preserved_devices");
		for (unsigned int d = 0, n = 0; d < 32; d++)
			if (m >> d & 1)
				fprintf(f, "%s%u", n++ ? ", " : "", d);
		fprintf(f, "],\n");
	}
	fprintf(f, "      \"reserved_ids\": %u,\n", u->reserved_ids);
	fprintf(f, "      \"ats_devices\": %u,\n", u->ats_devices);
	fprintf(f, "      \"pasids\": [");
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		fprintf(f, "%s%u", d ? ", " : "", u->pasids[d]);
	fprintf(f, "],\n");
	fprintf(f, "      \"nested\": %s,\n", u->nested ? "true" : "false");
	fprintf(f, "      \"s1_bytes_checked\": %" PRIu64 "\n    }%s\n",
		u->s1_bytes_checked, last ? "" : ",");
}

/* Every IOMMU unit: the devices behind it and its counters. */
static void units(FILE *f, const struct world_result *r)
{
	fprintf(f, "  \"iommu_units\": [\n");
	for (unsigned int u = 0; u < r->nr_units; u++) {
		const struct world_unit_totals *t = &r->unit[u];
		fprintf(f, "    {\"unit\": %u, \"devices\": [", u);
		for (unsigned int d = 0, n = 0; d < r->devices; d++)
			if (r->dev_unit[d] == u)
				fprintf(f, "%s%u", n++ ? ", " : "", d);
		fprintf(f, "], \"commands\": %" PRIu64 ", \"syncs\": %" PRIu64
			", \"iotlb_hits\": %" PRIu64 ", \"iotlb_misses\": %" PRIu64
			", \"walks\": %" PRIu64 "}%s\n", t->cmds, t->syncs,
			t->iotlb_hits, t->iotlb_misses, t->walks,
			u + 1 < r->nr_units ? "," : "");
	}
	fprintf(f, "  ],\n");
}

int cli_report_json(const struct cli_scenario *cs, FILE *f)
{
	const struct world_result *r = &cs->res;
	fprintf(f, "{\n  \"tool\": \"iohandover\",\n  \"version\": \"" IOH_VERSION
		"\",\n  \"schema\": %d,\n",
		REPORT_SCHEMA);
	fprintf(f, "  \"verdict\": \"%s\",\n", r->hitless ? "hitless" : "failed");
	scenario(f, cs);
	fprintf(f, "  \"dma\": {\n");
	dma_fields(f, &r->dma, "    ");
	fprintf(f, ",\n    \"devices\": [\n");
	for (unsigned int d = 0; d < r->devices; d++) {
		fprintf(f, "      {\n        \"device\": %u,\n", d);
		dma_fields(f, &r->dev[d], "        ");
		fprintf(f, "\n      }%s\n", d + 1 < r->devices ? "," : "");
	}
	fprintf(f, "    ]\n  },\n");
	units(f, r);
	fprintf(f, "  \"updates\": [\n");
	for (unsigned int i = 0; i < r->nr_upd; i++)
		update(f, &r->upd[i], i, i + 1 == r->nr_upd);
	fprintf(f, "  ],\n");
	fprintf(f, "  \"guest_cpu_ops\": %" PRIu64 ",\n", r->guest_ops);
	fprintf(f, "  \"kernel\": {\"exit_status\": %d, \"error\": ",
		r->kernel_status);
	ioh_json_str(f, r->kernel_error);
	fprintf(f, "},\n  \"crash\": ");
	if (cs->sc.crash_at) {
		fprintf(f, "{\"point\": ");
		ioh_json_str(f, cs->sc.crash_at);
		fprintf(f, ", \"crashed\": %s, \"recovery\": ",
			r->crashed ? "true" : "false");
		ioh_json_str(f, r->recovery_mode);
		fprintf(f, ", \"recovery_status\": %d, \"recovery_error\": ",
			r->recovery_status);
		ioh_json_str(f, r->recovery_error);
		fprintf(f, ", \"leaked_bytes\": %" PRIu64 ", \"bad_frees\": %" PRIu64
			"}", r->recovery_leaked_bytes, r->recovery_bad_frees);
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\n  \"machine_events\": %zu,\n", r->nr_events);
	fprintf(f, "  \"wall_us\": %" PRIu64 "\n}\n", r->wall_us);
	return 0;
}
