// SPDX-License-Identifier: MIT
/*
 * Scale benchmark (issue 18): live updates of 1 GiB, 64 GiB, 1 TiB and
 * 4 TiB guests (default folio mix, 2 devices with DMA throughout):
 * rebuild and verify on ARM stage 2 at BBM level 0 and on VT-d, and
 * stop-the-world on ARM stage 2, each REPS times; then rebuild at 1 GiB
 * again with two CPU-burning processes beside it. Every row runs in a
 * child process, so that the peak resident set of the largest process
 * (machine or kernel) is that row's own. Prints the medians per size and
 * the target table, as ratios within this one run; JSON with
 * every phase of every row.
 *
 *   bench_scale [--json FILE] [--quick] [--reps N] [--sizes N]
 *     (--quick: 1 GiB and 64 GiB, one repetition; --sizes N: the first N
 *     of 1G, 64G, 1T, 4T, default all four)
 *
 * Run by `make bench`, never by `make check`: the big sizes take seconds
 * each and timings are not assertions.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "world/world.h"

#define MAX_ROWS 256
#define G (1ull << 30)

struct config {
	const char *name;
	enum pt_format_id fmt;
	const struct lu_strategy *strategy;
	bool loaded; /* two CPU burners beside it */
};

static const struct config configs[] = {
	{ "arm-s2 rebuild", PT_FMT_ARM_S2, &lu_strategy_rebuild, false },
	{ "arm-s2 verify", PT_FMT_ARM_S2, &lu_strategy_verify, false },
	{ "vtd-ss rebuild", PT_FMT_VTD_SS, &lu_strategy_rebuild, false },
	{ "vtd-ss verify", PT_FMT_VTD_SS, &lu_strategy_verify, false },
	{ "arm-s2 stop-the-world", PT_FMT_ARM_S2, &lu_strategy_stop_the_world, false },
};
#define NR_CONFIGS (sizeof(configs) / sizeof(configs[0]))
static const struct config loaded_cfg = {
	"arm-s2 rebuild, 2 burners", PT_FMT_ARM_S2,
	&lu_strategy_rebuild, true
};

/* What a row's child sends back. */
struct outcome {
	int err;
	bool hitless;
	uint64_t dma_ops, dma_errors;
	uint64_t wall_us;
	uint64_t maxrss_kb; /* largest process: machine, kernels, runner */
	bool have_upd;
	struct world_update upd;
};

struct row {
	uint64_t guest;
	const struct config *cfg;
	struct outcome o;
};

static char kernel_path[PATH_MAX];

static pid_t burner(void)
{
	pid_t p = fork();
	if (p == 0) {
		volatile uint64_t x = 0;
		for (;;)
			x++;
	}
	return p;
}

static void run_child(const struct row *w, int fd)
{
	struct world_scenario sc;
	struct world_result r;
	struct outcome o = { 0 };
	world_scenario_default(&sc);
	sc.kernel_path = kernel_path;
	sc.guest_mem = w->guest;
	sc.fmt = w->cfg->fmt;
	sc.strategy = w->cfg->strategy;
	sc.from = "v1";
	sc.to = "v2";
	sc.run_ms = 100;
	o.err = world_run(&sc, &r);
	if (!o.err) {
		o.hitless = r.hitless;
		o.dma_ops = r.dma.ops;
		o.dma_errors = r.dma.faults + r.dma.conflicts + r.dma.misdirected +
			       r.dma.lost_writes + r.dma.bbm_violations +
			       r.dma.use_after_free + r.dma.torn_config +
			       r.dma.stale_atc;
		o.wall_us = r.wall_us;
		o.have_upd = r.nr_upd > 0;
		if (o.have_upd)
			o.upd = r.upd[0];
		world_result_free(&r);
	}
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	o.maxrss_kb = (uint64_t)(kids.ru_maxrss > self.ru_maxrss ?
				 kids.ru_maxrss : self.ru_maxrss);
	ssize_t n = write(fd, &o, sizeof(o));
	_exit(n == (ssize_t)sizeof(o) ? 0 : 1);
}

static void run_row(struct row *w)
{
	int pfd[2];
	pid_t burn[2] = { -1, -1 };
	w->o = (struct outcome){ .err = -EIO };
	if (pipe(pfd))
		return;
	if (w->cfg->loaded) {
		burn[0] = burner();
		burn[1] = burner();
	}
	fflush(NULL);
	pid_t p = fork();
	if (p == 0) {
		close(pfd[0]);
		run_child(w, pfd[1]);
	}
	close(pfd[1]);
	if (p > 0) {
		struct outcome o;
		if (read(pfd[0], &o, sizeof(o)) == (ssize_t)sizeof(o))
			w->o = o;
		waitpid(p, NULL, 0);
	}
	close(pfd[0]);
	for (unsigned int i = 0; i < 2; i++)
		if (burn[i] > 0) {
			kill(burn[i], SIGKILL);
			waitpid(burn[i], NULL, 0);
		}
}

static const char *verdict(const struct row *w)
{
	if (w->o.err)
		return "error";
	return w->o.hitless ? "hitless" : "FAILED";
}

static uint64_t ph(const struct row *w, enum lu_phase p)
{
	return w->o.have_upd ? w->o.upd.phases_us[p] : 0;
}

static void print_row(const struct row *w)
{
	printf("%5lluG %-26s %-8s wall %8.2f s  blackout %7.2f ms  "
	       "preserve %7.2f  unmap %6.2f  f2e %6.2f  boot %6.2f  replay %8.2f  "
	       "build %7.2f  diff %7.2f  switch %6.2f  rss %6llu MB\n",
	       (unsigned long long)(w->guest >> 30), w->cfg->name, verdict(w),
	       w->o.wall_us / 1e6, w->o.have_upd ? w->o.upd.blackout_us / 1e3 : 0.0,
	       ph(w, LU_PH_PRESERVE) / 1e3, ph(w, LU_PH_UNMAP) / 1e3,
	       ph(w, LU_PH_FREEZE_TO_EXEC) / 1e3, ph(w, LU_PH_BOOT) / 1e3,
	       ph(w, LU_PH_REPLAY) / 1e3, ph(w, LU_PH_BUILD) / 1e3,
	       ph(w, LU_PH_DIFF) / 1e3, ph(w, LU_PH_SWITCH) / 1e3,
	       (unsigned long long)(w->o.maxrss_kb >> 10));
	fflush(stdout);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* What a row contributes to a median: a phase, or (p < 0) a figure. */
enum figure { F_BLACKOUT = -1, F_WALL = -2, F_RSS = -3, F_PRESERVE_PREPARE = -4 };

static uint64_t figure(const struct row *w, int f)
{
	switch (f) {
	case F_BLACKOUT:
		return w->o.upd.blackout_us;
	case F_WALL:
		return w->o.wall_us;
	case F_RSS:
		return w->o.maxrss_kb;
	case F_PRESERVE_PREPARE:
		return w->o.upd.phases_us[LU_PH_PRESERVE];
	default:
		return w->o.upd.phases_us[f];
	}
}

/* Median over the hitless rows of one size whose configuration matches
 * (NULL: every degraded strategy, i.e. all but stop-the-world, unloaded). */
static uint64_t median(const struct row *rows, unsigned int n, uint64_t guest,
		       const struct config *c, int f, unsigned int *count)
{
	static uint64_t v[MAX_ROWS];
	unsigned int k = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		bool pick = c ? w->cfg == c :
			    !w->cfg->loaded && w->cfg->strategy != &lu_strategy_stop_the_world;
		if (w->guest == guest && pick && !w->o.err && w->o.hitless &&
		    w->o.have_upd)
			v[k++] = figure(w, f);
	}
	if (count)
		*count = k;
	if (!k)
		return 0;
	qsort(v, k, sizeof(v[0]), cmp_u64);
	return v[k / 2];
}

static void json_row(FILE *f, const struct row *w, bool last)
{
	fprintf(f, "    {\"guest_bytes\": %llu, \"config\": \"%s\", \"format\": \"%s\", "
		"\"strategy\": \"%s\", \"loaded\": %s, \"verdict\": \"%s\", "
		"\"error\": %d, \"dma_ops\": %llu, \"dma_errors\": %llu, "
		"\"wall_us\": %llu, \"max_rss_kb\": %llu",
		(unsigned long long)w->guest, w->cfg->name, pt_fmt_name(w->cfg->fmt),
		(w->cfg->strategy)->name, w->cfg->loaded ? "true" : "false",
		verdict(w), w->o.err, (unsigned long long)w->o.dma_ops,
		(unsigned long long)w->o.dma_errors,
		(unsigned long long)w->o.wall_us,
		(unsigned long long)w->o.maxrss_kb);
	if (w->o.have_upd) {
		fprintf(f, ", \"vm_blackout_us\": %llu, \"phases_us\": {",
			(unsigned long long)w->o.upd.blackout_us);
		for (unsigned int p = 0; p < LU_NR_PHASES; p++)
			fprintf(f, "%s\"%s\": %llu", p ? ", " : "",
				lu_phase_name((enum lu_phase)p),
				(unsigned long long)w->o.upd.phases_us[p]);
		fprintf(f, "}");
	}
	fprintf(f, "}%s\n", last ? "" : ",");
}

static void target(FILE *j, bool *first, const char *name, double value,
		   const char *unit, const char *goal)
{
	printf("  %-52s %12.3f %-4s (target %s)\n", name, value, unit, goal);
	if (j) {
		fprintf(j, "%s\n    {\"figure\": ", *first ? "" : ",");
		ioh_json_str(j, name);
		fprintf(j, ", \"value\": %.6g, \"unit\": \"%s\", \"target\": ", value, unit);
		ioh_json_str(j, goal);
		fprintf(j, "}");
	}
	*first = false;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	bool quick = false;
	unsigned int reps = 3, sizes = 4;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc &&
			 atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 9)
			reps = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc &&
			 atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 4)
			sizes = (unsigned int)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_scale [--json FILE] [--quick] "
				"[--reps N (1-9)] [--sizes N (1-4)]\n");
			return 2;
		}
	}
	if (quick)
		reps = 1;
	char self[PATH_MAX - 32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return 3;
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(kernel_path, sizeof(kernel_path), "%s/../iohandover", self);

	static const uint64_t all_sizes[] = { G, 64 * G, 1024 * G, 4096 * G };
	unsigned int nr_sizes = quick ? 2 : sizes;
	static struct row rows[MAX_ROWS];
	unsigned int n = 0;
	for (unsigned int z = 0; z < nr_sizes; z++)
		for (unsigned int r = 0; r < reps; r++)
			for (unsigned int c = 0; c < NR_CONFIGS; c++)
				rows[n++] = (struct row){ all_sizes[z], &configs[c], { 0 } };
	for (unsigned int r = 0; r < reps; r++)
		rows[n++] = (struct row){ G, &loaded_cfg, { 0 } };

	/* The exec floor: the same binary's bare exec round trip per size. */
	uint64_t probe_ns[4] = { 0 };
	{
		/* One discarded round trip: the binary and libraries cold. */
		struct world_scenario sc;
		uint64_t ns;
		world_scenario_default(&sc);
		sc.kernel_path = kernel_path;
		world_exec_probe(&sc, &ns);
	}
	for (unsigned int z = 0; z < nr_sizes; z++) {
		uint64_t v[9];
		unsigned int k = 0;
		for (unsigned int r = 0; r < reps; r++) {
			struct world_scenario sc;
			world_scenario_default(&sc);
			sc.kernel_path = kernel_path;
			sc.guest_mem = all_sizes[z];
			if (!world_exec_probe(&sc, &v[k]))
				k++;
		}
		qsort(v, k, sizeof(v[0]), cmp_u64);
		probe_ns[z] = k ? v[k / 2] : 0;
		printf("%5lluG bare exec round trip (exec, map RAM and region, "
		       "report): %.2f ms\n", (unsigned long long)(all_sizes[z] >> 30),
		       probe_ns[z] / 1e6);
	}
	printf("scale: live updates v1 -> v2, 2 devices with DMA throughout, "
	       "%u repetition(s)\n", reps);
	unsigned int bad = 0;
	for (unsigned int i = 0; i < n; i++) {
		run_row(&rows[i]);
		print_row(&rows[i]);
		bad += rows[i].o.err || !rows[i].o.hitless;
	}

	printf("\nmedians per size            ");
	for (unsigned int z = 0; z < nr_sizes; z++)
		printf(" %10lluG", (unsigned long long)(all_sizes[z] >> 30));
	printf("\n");
	static const struct { const char *name; int f; } figs[] = {
		{ "wall time (s)", F_WALL }, { "blackout (ms)", F_BLACKOUT },
		{ "preserve+prepare (ms)", F_PRESERVE_PREPARE },
		{ "unmap_ram (ms)", LU_PH_UNMAP },
		{ "freeze_to_exec (ms)", LU_PH_FREEZE_TO_EXEC },
		{ "boot_parse (ms)", LU_PH_BOOT }, { "replay_repin (ms)", LU_PH_REPLAY },
		{ "build (ms)", LU_PH_BUILD }, { "diff_reconcile (ms)", LU_PH_DIFF },
		{ "switch (ms)", LU_PH_SWITCH }, { "peak RSS (MB)", F_RSS },
	};
	for (unsigned int c = 0; c <= NR_CONFIGS; c++) {
		const struct config *cf = c < NR_CONFIGS ? &configs[c] : NULL;
		printf("  %s\n", cf ? cf->name : "degraded strategies together");
		for (unsigned int k = 0; k < sizeof(figs) / sizeof(figs[0]); k++) {
			printf("    %-24s", figs[k].name);
			for (unsigned int z = 0; z < nr_sizes; z++) {
				uint64_t v = median(rows, n, all_sizes[z], cf, figs[k].f, NULL);
				double d = figs[k].f == F_WALL ? v / 1e6 :
					   figs[k].f == F_RSS ? v / 1024.0 : v / 1e3;
				printf(" %11.2f", d);
			}
			printf("\n");
		}
	}

	/* The targets, as medians and ratios of this one run. */
	uint64_t top = all_sizes[nr_sizes - 1 < 2 ? nr_sizes - 1 : 2]; /* 1T (64G quick) */
	const struct config *rb = &configs[0], *stw = &configs[4];
	FILE *j = NULL;
	if (json) {
		j = fopen(json, "w");
		if (!j) {
			perror(json);
			return 2;
		}
		fprintf(j, "{\n  \"bench\": \"scale\",\n  \"reps\": %u,\n"
			"  \"exec_round_trip_us\": {", reps);
		for (unsigned int z = 0; z < nr_sizes; z++)
			fprintf(j, "%s\"%llu\": %llu", z ? ", " : "",
				(unsigned long long)all_sizes[z],
				(unsigned long long)(probe_ns[z] / 1000));
		fprintf(j, "},\n  \"rows\": [\n");
		for (unsigned int i = 0; i < n; i++)
			json_row(j, &rows[i], i + 1 == n);
		fprintf(j, "  ],\n  \"targets\": [");
	}
	char name[96];
	bool first = true;
	unsigned long long tg = (unsigned long long)(top >> 30);
	printf("\ntargets (medians; ratios within this run)\n");
	snprintf(name, sizeof(name), "run wall time, %lluG rebuild", tg);
	target(j, &first, name, median(rows, n, top, rb, F_WALL, NULL) / 1e6, "s",
	       "<= 20 s at 1T");
	if (nr_sizes == 4) {
		target(j, &first, "run wall time, 4096G rebuild",
		       median(rows, n, 4096 * G, rb, F_WALL, NULL) / 1e6, "s",
		       "<= 60 s");
	}
	double pp_top = median(rows, n, top, NULL, F_PRESERVE_PREPARE, NULL);
	double pp_1g = median(rows, n, G, NULL, F_PRESERVE_PREPARE, NULL);
	snprintf(name, sizeof(name), "preserve+prepare, %lluG", tg);
	target(j, &first, name, pp_top / 1e3, "ms", "<= 50 ms at 1T");
	snprintf(name, sizeof(name), "preserve+prepare %lluG / 1G", tg);
	target(j, &first, name, pp_1g ? pp_top / pp_1g : 0, "x", "<= 20");
	snprintf(name, sizeof(name), "replay_repin, %lluG", tg);
	target(j, &first, name, median(rows, n, top, NULL, LU_PH_REPLAY, NULL) / 1e3,
	       "ms", "<= 580 ms at 1T");
	snprintf(name, sizeof(name), "boot_parse, %lluG", tg);
	target(j, &first, name, median(rows, n, top, NULL, LU_PH_BOOT, NULL) / 1e3,
	       "ms", "<= 10 ms at 1T");
	double bo_top = median(rows, n, top, NULL, F_BLACKOUT, NULL);
	double bo_1g = median(rows, n, G, NULL, F_BLACKOUT, NULL);
	snprintf(name, sizeof(name), "blackout %lluG / 1G, degraded strategies", tg);
	target(j, &first, name, bo_1g ? bo_top / bo_1g : 0, "x", "<= 1.3");
	double stw_top = median(rows, n, top, stw, F_BLACKOUT, NULL);
	for (unsigned int z = 0; z < nr_sizes; z += nr_sizes - 1 < 2 ? 1 : 2) {
		uint64_t b = median(rows, n, all_sizes[z], NULL, F_BLACKOUT, NULL);
		snprintf(name, sizeof(name), "blackout / bare exec round trip, %lluG",
			 (unsigned long long)(all_sizes[z] >> 30));
		target(j, &first, name, probe_ns[z] ? b * 1e3 / probe_ns[z] : 0,
		       "x", "<= 3");
		if (z == 2)
			break;
	}
	snprintf(name, sizeof(name), "stop-the-world / degraded blackout, %lluG", tg);
	target(j, &first, name, bo_top ? stw_top / bo_top : 0, "x", ">= 10");
	target(j, &first, "switch per HWPT (2 devices, DMA), 1G",
	       median(rows, n, G, NULL, LU_PH_SWITCH, NULL) / 1e3, "ms", "<= 5 ms");
	target(j, &first, "switch per HWPT, 1G, 2 CPU burners beside it",
	       median(rows, n, G, &loaded_cfg, LU_PH_SWITCH, NULL) / 1e3, "ms",
	       "<= 5 ms");
	snprintf(name, sizeof(name), "peak RSS of the largest process, %lluG", tg);
	target(j, &first, name, median(rows, n, top, rb, F_RSS, NULL) / 1024.0, "MB",
	       "<= 512 MB at 1T");
	if (nr_sizes == 4)
		target(j, &first, "peak RSS of the largest process, 4096G",
		       median(rows, n, 4096 * G, rb, F_RSS, NULL) / 1024.0, "MB",
		       "runs on this machine");
	printf("\nrows not hitless or failed: %u of %u\n", bad, n);
	if (j) {
		fprintf(j, "\n  ],\n  \"not_hitless\": %u\n}\n", bad);
		fclose(j);
	}
	return bad ? 1 : 0;
}
