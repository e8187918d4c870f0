// SPDX-License-Identifier: MIT
/*
 * Live update benchmark: issue 5's acceptance matrix at full size. Guests
 * of 1 GiB and 64 GiB with 2 devices DMA-ing; v1->v2, v2->v1, v2->v2;
 * verify and rebuild; ARM stage 2 at BBM levels 0 and 2 and VT-d. Plus the
 * naive rebuild at BBM 0 (must be caught), stop-the-world at both sizes,
 * and the blackout ratio 64 GiB / 1 GiB per strategy.
 *
 *   bench_lu [--json FILE] [--quick]     (--quick: 256 MiB and 4 GiB)
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "world/world.h"

struct row {
	uint64_t guest;
	enum pt_format_id fmt;
	const char *from, *to;
	const struct lu_strategy *strategy;
	unsigned int bbm;
	bool naive;
	struct world_result r;
	int err;
};

#define MAX_ROWS 96

static char kernel_path[PATH_MAX];

static void run_row(struct row *w)
{
	struct world_scenario sc;
	world_scenario_default(&sc);
	sc.kernel_path = kernel_path;
	sc.guest_mem = w->guest;
	sc.fmt = w->fmt;
	sc.from = w->from;
	sc.to = w->to;
	sc.strategy = w->strategy;
	sc.bbm_level = w->bbm;
	sc.naive = w->naive;
	sc.run_ms = 100;
	w->err = world_run(&sc, &w->r);
}

static const char *verdict(const struct row *w)
{
	if (w->err)
		return "error";
	return w->r.hitless ? "hitless" : "FAILED";
}

static void print_row(const struct row *w)
{
	const struct world_update *u = w->r.nr_upd ? &w->r.upd[0] : NULL;
	printf("%5lluG %-7s %s->%s %-14s bbm%u%-6s %-8s blackout %7.1f ms  "
	       "replay %7.1f  build %6.1f  diff %6.1f  switch %6.1f  extra %6llu KiB  "
	       "conflicts %llu\n",
	       (unsigned long long)(w->guest >> 30), pt_fmt_name(w->fmt), w->from,
	       w->to, w->strategy->name, w->bbm,
	       w->naive ? " naive" : "", verdict(w),
	       u ? u->blackout_us / 1e3 : 0.0,
	       u ? u->phases_us[LU_PH_REPLAY] / 1e3 : 0.0,
	       u ? u->phases_us[LU_PH_BUILD] / 1e3 : 0.0,
	       u ? u->phases_us[LU_PH_DIFF] / 1e3 : 0.0,
	       u ? u->phases_us[LU_PH_SWITCH] / 1e3 : 0.0,
	       u ? (unsigned long long)(u->extra_table_bytes >> 10) : 0ull,
	       (unsigned long long)w->r.dma.conflicts);
	fflush(stdout);
}

static void json_row(FILE *f, const struct row *w, bool last)
{
	const struct world_update *u = w->r.nr_upd ? &w->r.upd[0] : NULL;
	fprintf(f, "    {\"guest_bytes\": %llu, \"format\": \"%s\", \"from\": \"%s\", "
		"\"to\": \"%s\", \"strategy\": \"%s\", \"bbm_level\": %u, "
		"\"naive\": %s, \"verdict\": \"%s\", \"dma_ops\": %llu, "
		"\"faults\": %llu, \"conflict_aborts\": %llu, \"misdirected\": %llu, "
		"\"lost_writes\": %llu, \"use_after_free\": %llu",
		(unsigned long long)w->guest, pt_fmt_name(w->fmt), w->from, w->to,
		w->strategy->name, w->bbm, w->naive ? "true" : "false",
		verdict(w), (unsigned long long)w->r.dma.ops,
		(unsigned long long)w->r.dma.faults,
		(unsigned long long)w->r.dma.conflicts,
		(unsigned long long)w->r.dma.misdirected,
		(unsigned long long)w->r.dma.lost_writes,
		(unsigned long long)w->r.dma.use_after_free);
	if (u) {
		fprintf(f, ", \"vm_blackout_us\": %llu, \"extra_table_bytes\": %llu, "
			"\"phases_us\": {", (unsigned long long)u->blackout_us,
			(unsigned long long)u->extra_table_bytes);
		for (unsigned int p = 0; p < LU_NR_PHASES; p++)
			fprintf(f, "%s\"%s\": %llu", p ? ", " : "",
				lu_phase_name((enum lu_phase)p),
				(unsigned long long)u->phases_us[p]);
		fprintf(f, "}");
	}
	fprintf(f, "}%s\n", last ? "" : ",");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Median blackout of the hitless rows of one size and strategy (or, with
 * NULL, of verify and rebuild together: issue 5's matrix). */
static uint64_t median_blackout(const struct row *rows, unsigned int n,
				uint64_t guest, const struct lu_strategy *s)
{
	uint64_t v[MAX_ROWS];
	unsigned int k = 0;
	for (unsigned int i = 0; i < n; i++) {
		bool pick = !s ?
			(rows[i].strategy == &lu_strategy_verify ||
			 rows[i].strategy == &lu_strategy_rebuild) : rows[i].strategy == s;
		if (rows[i].guest == guest && pick && !rows[i].naive &&
		    rows[i].r.hitless)
			v[k++] = rows[i].r.upd[0].blackout_us;
	}
	if (!k)
		return 0;
	qsort(v, k, sizeof(v[0]), cmp_u64);
	return v[k / 2];
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else {
			fprintf(stderr, "usage: bench_lu [--json FILE] [--quick]\n");
			return 2;
		}
	}
	char self[PATH_MAX - 32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return 3;
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(kernel_path, sizeof(kernel_path), "%s/../iohandover", self);

	const uint64_t sizes[2] = { quick ? 256ull << 20 : 1ull << 30,
				    quick ? 4ull << 30 : 64ull << 30 };
	static const char *const tr[3][2] = { { "v1", "v2" }, { "v2", "v1" },
					      { "v2", "v2" } };
	static struct row rows[MAX_ROWS];
	unsigned int n = 0;
	for (unsigned int z = 0; z < 2; z++) {
		static const enum pt_format_id fmts[4] = {
			PT_FMT_ARM_S2, PT_FMT_VTD_SS, PT_FMT_AMD_V1, PT_FMT_RISCV,
		};
		for (unsigned int f = 0; f < 4; f++)
			for (unsigned int t = 0; t < 3; t++)
				for (unsigned int s = 0; s < 2; s++)
					for (unsigned int bbm = 0; bbm <= 2; bbm += 2) {
						enum pt_format_id fmt = fmts[f];
						if (!pt_fmt_bbm_levels(fmt) && bbm)
							continue;
						rows[n++] = (struct row){
							sizes[z], fmt, tr[t][0], tr[t][1],
							s ? &lu_strategy_rebuild : &lu_strategy_verify, bbm,
							false, { .nr_upd = 0 }, 0 };
					}
		rows[n++] = (struct row){ sizes[z], PT_FMT_ARM_S2, "v1", "v2",
					  &lu_strategy_rebuild, 0, true, { .nr_upd = 0 }, 0 };
		/* Naive on the formats without BBM levels: hitless by the
		 * size-change rule (docs/hw.md), so counted with the rest. */
		rows[n++] = (struct row){ sizes[z], PT_FMT_AMD_V1, "v2", "v1",
					  &lu_strategy_rebuild, 0, true, { .nr_upd = 0 }, 0 };
		rows[n++] = (struct row){ sizes[z], PT_FMT_RISCV, "v2", "v1",
					  &lu_strategy_rebuild, 0, true, { .nr_upd = 0 }, 0 };
		rows[n++] = (struct row){ sizes[z], PT_FMT_ARM_S2, "v1", "v2",
					  &lu_strategy_stop_the_world, 0, false, { .nr_upd = 0 }, 0 };
		rows[n++] = (struct row){ sizes[z], PT_FMT_VTD_SS, "v1", "v2",
					  &lu_strategy_deserialize, 0, false, { .nr_upd = 0 }, 0 };
	}
	printf("live update matrix, 2 devices with DMA running throughout\n");
	unsigned int expected_bad = 0, bad = 0;
	for (unsigned int i = 0; i < n; i++) {
		run_row(&rows[i]);
		print_row(&rows[i]);
		/* A naive rebuild must be caught where BBM levels apply,
		 * and is safe (so must be hitless) where they do not. */
		if (rows[i].naive && pt_fmt_bbm_levels(rows[i].fmt))
			expected_bad += !rows[i].r.hitless && rows[i].r.dma.conflicts;
		else
			bad += !rows[i].r.hitless;
	}
	uint64_t bo[2][LU_MAX_STRATEGIES];
	printf("\nmedian VM blackout (ms)       %10lluG %10lluG   ratio\n",
	       (unsigned long long)(sizes[0] >> 30),
	       (unsigned long long)(sizes[1] >> 30));
	for (unsigned int s = 0; s < lu_nr_strategies(); s++) {
		bo[0][s] = median_blackout(rows, n, sizes[0], lu_strategy_at(s));
		bo[1][s] = median_blackout(rows, n, sizes[1], lu_strategy_at(s));
		printf("  %-26s %10.1f %10.1f   %5.2f\n",
		       lu_strategy_at(s)->name, bo[0][s] / 1e3,
		       bo[1][s] / 1e3,
		       bo[0][s] ? (double)bo[1][s] / (double)bo[0][s] : 0.0);
	}
	uint64_t pool[2] = { median_blackout(rows, n, sizes[0], NULL),
			     median_blackout(rows, n, sizes[1], NULL) };
	printf("  %-26s %10.1f %10.1f   %5.2f   (the acceptance: <= 1.5)\n",
	       "verify + rebuild", pool[0] / 1e3, pool[1] / 1e3,
	       pool[0] ? (double)pool[1] / (double)pool[0] : 0.0);
	printf("\nnot hitless where they must be: %u; naive rebuilds caught: %u of 2\n",
	       bad, expected_bad);

	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) {
			perror(json);
			return 2;
		}
		fprintf(f, "{\n  \"bench\": \"lu\",\n  \"sizes\": [%llu, %llu],\n"
			"  \"rows\": [\n", (unsigned long long)sizes[0],
			(unsigned long long)sizes[1]);
		for (unsigned int i = 0; i < n; i++)
			json_row(f, &rows[i], i + 1 == n);
		fprintf(f, "  ],\n  \"median_blackout_us\": {");
		for (unsigned int s = 0; s < lu_nr_strategies(); s++)
			fprintf(f, "%s\"%s\": [%llu, %llu]", s ? ", " : "",
				lu_strategy_at(s)->name,
				(unsigned long long)bo[0][s],
				(unsigned long long)bo[1][s]);
		fprintf(f, "},\n  \"median_blackout_verify_rebuild_us\": "
			"[%llu, %llu],\n  \"not_hitless\": %u,\n  "
			"\"naive_caught\": %u\n}\n", (unsigned long long)pool[0],
			(unsigned long long)pool[1], bad, expected_bad);
		fclose(f);
	}
	for (unsigned int i = 0; i < n; i++)
		world_result_free(&rows[i].r);
	return bad ? 1 : 0;
}
