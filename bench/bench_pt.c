// SPDX-License-Identifier: MIT
/*
 * pt benchmark: ns per map and unmap call for the shapes Linux's generic
 * page table reports (4K, 2M, 1G, 256 x 4K, 256 x 2M), and the bulk build
 * of 16 GiB at 4K granularity against memset of the same table bytes,
 * measured in the same run on the same machine.
 *
 * The per-call shapes run in tables that already exist (a 4K "pin"
 * mapping keeps each one alive), as in a steady-state domain; the cost
 * of allocating tables is in the bulk figure.
 *
 *   bench_pt [--json FILE] [--quick]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt/pt.h"
#include "ioh/ioh.h"
#include "tests/lib/pt_testmem.h"

#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull
#define SZ_1G 0x40000000ull
#define RW (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)


struct shape {
	const char *name;
	uint64_t len;      /* bytes per call */
	uint64_t stride;   /* distance between calls */
	unsigned int n;    /* calls per round */
	uint64_t region;   /* each pin keeps this aligned region's tables */
	uint64_t target_map_ns; /* 0: none */
};

static const struct shape shapes[] = {
	{ "4K", SZ_4K, SZ_4K, 256, SZ_2M, 60 },
	{ "2M", SZ_2M, SZ_2M, 256, SZ_1G, 0 },
	{ "1G", SZ_1G, SZ_1G, 256, 512 * SZ_1G, 0 },
	{ "256x4K", 256 * SZ_4K, SZ_2M, 8, SZ_2M, 400 },
	{ "256x2M", 256 * SZ_2M, SZ_1G, 64, SZ_1G, 0 },
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

struct result {
	double map_ns, unmap_ns;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_pt: %s: %s\n", what, pt_strerror(err));
	exit(3);
}

static struct result run_shape(enum pt_format_id fmt, const struct shape *s,
			       unsigned int rounds)
{
	struct pt_testmem mem;
	struct pt_table t;
	/* Tables for the pins plus headroom. */
	if (ptm_init(&mem, 4096, 0x100000000000ull))
		die("arena", -PT_ENOMEM);
	struct pt_cfg cfg = { .fmt = fmt, .va_bits = 48, .oa_bits = 48 };
	int err = pt_init(&t, &cfg, &mem.ops, &mem);
	if (err)
		die("init", err);
	const uint64_t base = 512 * SZ_1G;
	/* Pin the last 4K of every region the calls touch. */
	for (uint64_t va = base; va < base + s->n * s->stride; va += s->region) {
		err = pt_map_range(&t, va + s->region - SZ_4K, 0x7000000000ull,
				   SZ_4K, RW, NULL);
		if (err)
			die("pin", err);
	}
	double *map_ns = calloc(rounds, sizeof(double));
	double *unmap_ns = calloc(rounds, sizeof(double));
	for (unsigned int r = 0; r < rounds; r++) {
		uint64_t t0 = ioh_now_ns();
		for (unsigned int k = 0; k < s->n; k++) {
			uint64_t va = base + k * s->stride;
			err = pt_map_range(&t, va, va, s->len, RW, NULL);
			if (err)
				die("map", err);
		}
		uint64_t t1 = ioh_now_ns();
		for (unsigned int k = 0; k < s->n; k++) {
			uint64_t un;
			err = pt_unmap_range(&t, base + k * s->stride, s->len, 0,
					     NULL, &un);
			if (err || un != s->len)
				die("unmap", err ? err : -PT_EINVAL);
		}
		uint64_t t2 = ioh_now_ns();
		map_ns[r] = (double)(t1 - t0) / s->n;
		unmap_ns[r] = (double)(t2 - t1) / s->n;
	}
	qsort(map_ns, rounds, sizeof(double), cmp_double);
	qsort(unmap_ns, rounds, sizeof(double), cmp_double);
	struct result res = { map_ns[rounds / 2], unmap_ns[rounds / 2] };
	free(map_ns);
	free(unmap_ns);
	pt_deinit(&t);
	ptm_invalidate_done(&mem);
	ptm_destroy(&mem);
	return res;
}

/* Push everything else out of the caches (L3 here is 32 MiB) so the
 * two timed operations start from the same cold state. */
static void evict_caches(void)
{
	static uint8_t *scratch;
	const size_t n = 96u << 20;
	if (!scratch)
		scratch = malloc(n);
	memset(scratch, 0x5a, n);
	__asm__ volatile("" : : "r"(scratch) : "memory");
}

struct bulk {
	uint64_t table_bytes;
	double map_ms, memset_ms, ratio;
};

/* 16 GiB at 4K granularity into a fresh table vs memset of its bytes. */
static struct bulk run_bulk(enum pt_format_id fmt, uint64_t bytes,
			    unsigned int rounds)
{
	uint64_t leaves = bytes / SZ_4K;
	uint64_t pages = leaves / 512 + leaves / (512 * 512) + 16;
	struct bulk b = { .map_ms = 1e30, .memset_ms = 1e30 };
	for (unsigned int r = 0; r < rounds; r++) {
		struct pt_testmem mem;
		struct pt_table t;
		if (ptm_init(&mem, pages, 0x100000000000ull))
			die("arena", -PT_ENOMEM);
		struct pt_cfg cfg = { .fmt = fmt, .va_bits = 48, .oa_bits = 48,
				      .pgsizes = PT_SZ_4K };
		int err = pt_init(&t, &cfg, &mem.ops, &mem);
		if (err)
			die("init", err);
		/* Same bytes, memory already faulted in as the arena's is. */
		uint8_t *buf = malloc(pages * PT_TABLE_SIZE);
		memset(buf, 0xa5, pages * PT_TABLE_SIZE);
		evict_caches();
		uint64_t t0 = ioh_now_ns();
		err = pt_map_range(&t, 0, 0x8000000000ull, bytes, RW, NULL);
		uint64_t t1 = ioh_now_ns();
		if (err)
			die("bulk map", err);
		b.table_bytes = t.nr_tables * PT_TABLE_SIZE;

		evict_caches();
		uint64_t t2 = ioh_now_ns();
		memset(buf, 0, b.table_bytes);
		__asm__ volatile("" : : "r"(buf) : "memory");
		uint64_t t3 = ioh_now_ns();
		free(buf);

		double m = (double)(t1 - t0) / 1e6, s = (double)(t3 - t2) / 1e6;
		if (m < b.map_ms)
			b.map_ms = m;
		if (s < b.memset_ms)
			b.memset_ms = s;
		pt_deinit(&t);
		ptm_destroy(&mem);
	}
	b.ratio = b.map_ms / b.memset_ms;
	return b;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else {
			fprintf(stderr, "usage: bench_pt [--json FILE] [--quick]\n");
			return 2;
		}
	}
	/* Every format, in one table. Each maps with all the sizes it has,
	 * as a domain with the format's whole page-size bitmap would: the
	 * 256x4K shape becomes 16 x 64K runs on ARM and RISC-V and one 1M
	 * replicated page on AMD v1. */
	enum pt_format_id fmts[PT_FMT_COUNT];
	const unsigned int nfmts = PT_FMT_COUNT;
	for (unsigned int f = 0; f < nfmts; f++)
		fmts[f] = (enum pt_format_id)f;
	unsigned int rounds = quick ? 5 : 101;
	struct result res[PT_FMT_COUNT][NSHAPES];
	struct bulk bulk[PT_FMT_COUNT];
	uint64_t bulk_bytes = 16 * SZ_1G;

	printf("pt map/unmap, ns per call (median of %u rounds, tables present)\n",
	       rounds);
	printf("%-8s %-8s %10s %10s %10s\n", "format", "shape", "map", "unmap",
	       "target");
	for (unsigned int f = 0; f < nfmts; f++) {
		for (unsigned int s = 0; s < NSHAPES; s++) {
			unsigned int r = shapes[s].len >= SZ_1G ? rounds / 4 + 1 : rounds;
			res[f][s] = run_shape(fmts[f], &shapes[s], r);
			char target[32] = "-";
			if (shapes[s].target_map_ns)
				snprintf(target, sizeof(target), "<= %llu",
					 (unsigned long long)shapes[s].target_map_ns);
			printf("%-8s %-8s %10.1f %10.1f %10s\n", pt_fmt_name(fmts[f]),
			       shapes[s].name, res[f][s].map_ns, res[f][s].unmap_ns,
			       target);
		}
	}
	printf("\nbulk build of 16 GiB at 4K (best of %u) vs memset of the same bytes\n",
	       quick ? 1 : 5);
	for (unsigned int f = 0; f < nfmts; f++) {
		bulk[f] = run_bulk(fmts[f], bulk_bytes, quick ? 1 : 5);
		printf("%-8s table %.1f MiB: map %.2f ms, memset %.2f ms, ratio %.2f (target <= 3)\n",
		       pt_fmt_name(fmts[f]), (double)bulk[f].table_bytes / (1 << 20),
		       bulk[f].map_ms, bulk[f].memset_ms, bulk[f].ratio);
	}

	if (json) {
		FILE *out = fopen(json, "w");
		if (!out) {
			fprintf(stderr, "bench_pt: --json %s: %s\n", json, strerror(errno));
			return 2;
		}
		fprintf(out, "{\n  \"bench\": \"pt\",\n  \"rounds\": %u,\n  \"formats\": [\n", rounds);
		for (unsigned int f = 0; f < nfmts; f++) {
			fprintf(out, "    {\"format\": \"%s\", \"shapes\": [\n", pt_fmt_name(fmts[f]));
			for (unsigned int s = 0; s < NSHAPES; s++)
				fprintf(out, "      {\"shape\": \"%s\", \"map_ns\": %.1f, \"unmap_ns\": %.1f, \"target_map_ns\": %llu}%s\n",
					shapes[s].name, res[f][s].map_ns, res[f][s].unmap_ns,
					(unsigned long long)shapes[s].target_map_ns,
					s + 1 < NSHAPES ? "," : "");
			fprintf(out, "    ], \"bulk_16g_4k\": {\"table_bytes\": %llu, \"map_ms\": %.3f, \"memset_ms\": %.3f, \"ratio\": %.3f, \"target_ratio\": 3}}%s\n",
				(unsigned long long)bulk[f].table_bytes, bulk[f].map_ms,
				bulk[f].memset_ms, bulk[f].ratio, f + 1 < nfmts ? "," : "");
		}
		fprintf(out, "  ]\n}\n");
		fclose(out);
	}
	return 0;
}
