/* SPDX-License-Identifier: MIT */
/*
 * The scenario commands (demo, run, bench): one live update scenario run
 * through world_run, with a progress display, DMA throughput sampled
 * while it runs, a human summary and the JSON and SVG reports.
 */
#ifndef IOH_CLI_SCENARIO_H
#define IOH_CLI_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "world/world.h"

/* Cumulative counters read from the machine every ~10 ms. */
struct cli_sample {
	uint64_t ns;                  /* since the scenario started */
	uint64_t ops[HW_MAX_DEVS];
	uint64_t errors[HW_MAX_DEVS]; /* faults, conflicts, checker verdicts */
	bool paused;                  /* guest CPU paused */
	unsigned int reports;         /* kernel generations reported */
};

struct cli_scenario {
	struct world_scenario sc;
	char mix_spec[128];      /* --folio-mix as given ("default" if not) */
	const char *json_path;   /* NULL: no report */
	const char *svg_path;
	const char *json_opt;    /* what messages call them ("--json") */
	const char *svg_opt;
	FILE *json, *svg;        /* opened before the run starts */
	bool quiet;              /* no progress display */
	const char *cmd;         /* for messages */
	char save_dir[4096];     /* --save-handover, absolute; "" if not */
	uint64_t t_start_s;      /* wall clock at the start, for saved blobs */

	/* Filled by cli_scenario_run. */
	struct cli_sample *samples;
	size_t nr_samples, cap_samples;
	struct world_result res;
	bool ran;

	/* Progress display state. */
	bool tty;
	int last_stage;
	unsigned int last_reports;
	uint64_t last_draw_ns;
	uint64_t last_line_ns;      /* last plain progress line (not a tty) */
	bool drawn;
};

void cli_scenario_init(struct cli_scenario *cs, const char *cmd);
/* "-": standard output (or input). */
bool cli_is_stdio(const char *path);
/* Where the summary goes: stdout, or stderr when a report is written to
 * stdout. */
FILE *cli_scenario_human_out(const struct cli_scenario *cs);
/* Open the report files now, so an unwritable path fails before the run
 * (message names the option); CLI_OK or CLI_USAGE. */
int cli_scenario_open_reports(struct cli_scenario *cs);
/* --save-handover DIR: created if missing, must be a writable directory
 * (checked now, before anything starts); 0, or -1 after a message. */
int cli_scenario_save_dir(struct cli_scenario *cs, const char *dir);
/* Name the blobs this run saved there. */
void cli_scenario_saved_blobs(const struct cli_scenario *cs, FILE *out);
/* Run it; CLI_OK when it ran (hitless or not), CLI_INTERNAL otherwise. */
int cli_scenario_run(struct cli_scenario *cs);
/* Write and close the reports; CLI_OK or CLI_INTERNAL. */
int cli_scenario_write_reports(struct cli_scenario *cs);
/* Verdict, DMA counters, phase timings and blackout, for people. */
void cli_scenario_summary(const struct cli_scenario *cs, FILE *out);
/* Phase p (enum lu_phase) runs while the guest is paused. */
bool cli_phase_paused(bool stop_the_world, unsigned int p);
/* CLI_OK if hitless, else CLI_NOT_HITLESS. */
int cli_scenario_exit(const struct cli_scenario *cs);
void cli_scenario_free(struct cli_scenario *cs);

/* The strategy, or the list of one per update. */
const char *cli_scenario_strategy(const struct cli_scenario *cs);

/* Reports (cli/report_json.c, cli/report_svg.c). */
int cli_report_json(const struct cli_scenario *cs, FILE *f);
int cli_report_svg(const struct cli_scenario *cs, FILE *f);

/* Shared helpers. */
/* "4 GiB", "512 MiB", "12 KiB", "100 B" */
void cli_fmt_bytes(char *out, size_t len, uint64_t bytes);
/* "1.23 ms", "456 us", "2.1 s" */
void cli_fmt_us(char *out, size_t len, uint64_t us);

/* A mask of stream IDs as "0,1,4" ("none" when empty). */
void cli_fmt_devices(char *buf, size_t len, uint32_t mask);

#endif /* IOH_CLI_SCENARIO_H */
