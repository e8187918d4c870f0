// SPDX-License-Identifier: MIT
/*
 * hw benchmark: translations per second of the IOMMU model on one core,
 * with a warm IOTLB (4K pages and 2M blocks), with a cold IOTLB (every
 * lookup misses; walk cache warm, then walk cache cold too), and DMA
 * operations per second per engine with 1 and 2 engines running in the
 * machine (pace 0, strict mode, ARM stage 2 in 4K pages, BBM level 2),
 * with the round trip of a CMD_SYNC (alone, and after a 4K invalidation)
 * while they run.
 *
 *   bench_hw [--json FILE] [--quick]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi/hw_abi_ste.h"
#include "hw/iommu.h"
#include "ioh/ioh.h"
#include "tests/lib/hw_rig.h"

#define IOVA 0x40000000ull
#define DID 1
#define RW (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)

struct xlate_result {
	const char *name;
	double per_sec;
	double hit_rate;
};

struct dma_result {
	unsigned int engines;
	double ops_per_engine;
	double ops_total;
	double sync_us;    /* CMD_SYNC round trip with the engines running */
	double inv_sync_us; /* 4K range invalidation + sync */
};


static void die(const char *what, int err)
{
	fprintf(stderr, "bench_hw: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(3);
}

/* Rig with tables mapping len bytes of pgsizes leaves, STE written raw. */
static void rig_up(struct hw_rig *r, struct pt_table *t, uint64_t pgsizes,
		   uint64_t len)
{
	struct pt_gather g;
	int err = hw_rig_start_bare(r, 2);
	if (!err)
		err = hw_rig_table_init(r, t, PT_FMT_ARM_S2, pgsizes);
	pt_gather_init(&g);
	if (!err)
		err = pt_map_range(t, IOVA, RIG_DATA_PA, len, RW, &g);
	if (err)
		die("setup", err);
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, PT_FMT_ARM_S2, 48, t->top_pa,
		    DID);
	_Atomic uint64_t *e = physmem_ptr(&r->pm, RIG_STRTAB_PA, HW_STE_SIZE);
	for (unsigned int w = 0; w < HW_STE_WORDS; w++)
		atomic_store(&e[w], ste[w]);
}

/*
 * Translate pages [0, npages) of IOVA in a pseudo-random order for about
 * dur_ns; returns translations per second.
 */
static double xlate_loop(struct hw_iommu *m, uint64_t npages,
			 unsigned int page_lg2, uint64_t dur_ns)
{
	uint64_t x = 88172645463325252ull, n = 0;
	uint64_t t0 = ioh_now_ns(), t1 = t0;
	while (t1 - t0 < dur_ns) {
		for (int i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			struct hw_xlate xl;
			uint64_t iova = IOVA + ((x % npages) << page_lg2) + (x & 0xfc0);
			if (hw_iommu_translate(m, 0, iova, HW_ACCESS_READ, &xl))
				die("translate", EFAULT);
		}
		n += 4096;
		t1 = ioh_now_ns();
	}
	return (double)n * 1e9 / (double)(t1 - t0);
}

static struct xlate_result bench_xlate(const char *name, uint64_t pgsizes,
				       uint64_t npages, unsigned int page_lg2,
				       unsigned int walk_sets_lg2,
				       unsigned int walk_ways, uint64_t dur_ns)
{
	struct hw_rig r;
	struct pt_table t;
	struct hw_iommu *m;
	struct hw_iommu_cfg cfg;
	rig_up(&r, &t, pgsizes, npages << page_lg2);
	hw_iommu_cfg_default(&cfg);
	cfg.walk_sets_lg2 = walk_sets_lg2;
	cfg.walk_ways = walk_ways;
	int err = hw_iommu_create(&m, &cfg, &r.pm, r.region.regs,
				  r.region.freed_map);
	if (err)
		die("iommu", err);
	struct hw_regs *g = r.region.regs;
	/* Warm up: fill what fits. */
	xlate_loop(m, npages, page_lg2, dur_ns / 10);
	uint64_t h0 = atomic_load(&g->iotlb_hits);
	uint64_t m0 = atomic_load(&g->iotlb_misses);
	struct xlate_result res = { .name = name };
	res.per_sec = xlate_loop(m, npages, page_lg2, dur_ns);
	uint64_t hits = atomic_load(&g->iotlb_hits) - h0;
	uint64_t miss = atomic_load(&g->iotlb_misses) - m0;
	res.hit_rate = hits + miss ? (double)hits / (double)(hits + miss) : 0;
	hw_iommu_destroy(m);
	hw_rig_stop(&r);
	return res;
}

/* Mean microseconds per sync (optionally after a 4K invalidation). */
static double sync_round_trip(struct hw_rig *r, bool with_inv)
{
	const unsigned int n = 200;
	uint64_t t0 = ioh_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		int err = with_inv ?
			iommu_drv_tlbi_range(&r->drv, IOMMU_DRV_ALL_UNITS, DID,
					     IOVA + (i % 512) * 4096ull, 4096,
					     0, -1) : 0;
		if (!err)
			err = iommu_drv_sync(&r->drv);
		if (err)
			die("sync", err);
	}
	return (double)(ioh_now_ns() - t0) / n / 1000.0;
}

static struct dma_result bench_dma(unsigned int engines, uint64_t dur_ns)
{
	struct hw_rig r;
	struct hw_rig_opts o;
	struct pt_table t;
	hw_rig_opts_default(&o, 2);
	o.engines[0] = engines;
	o.pace_ns = 0;
	int err = hw_rig_start(&r, &o);
	if (!err)
		err = hw_rig_table_init(&r, &t, PT_FMT_ARM_S2, PT_SZ_4K);
	if (!err)
		err = hw_rig_attach(&r, 0, &t, DID);
	if (!err)
		err = hw_rig_map(&r, 0, &t, IOVA, RIG_DATA_PA, 64ull << 20);
	/* The IOTLB holds 1024 entries of 4K pages the engines keep warm. */
	hw_rig_window(&r, 0, IOVA, IOVA + (4ull << 20) - 1);
	if (err)
		die("machine", err);
	hw_rig_wait_ops(&r, 0, 10000);
	struct dma_result res = { .engines = engines };
	res.sync_us = sync_round_trip(&r, false);
	res.inv_sync_us = sync_round_trip(&r, true);
	const struct hw_dev_stats *s = hw_rig_stats(&r, 0);
	uint64_t ops0 = atomic_load(&s->ops), t0 = ioh_now_ns();
	struct timespec ts = { .tv_sec = (time_t)(dur_ns / 1000000000ull),
			       .tv_nsec = (long)(dur_ns % 1000000000ull) };
	nanosleep(&ts, NULL);
	uint64_t ops = atomic_load(&s->ops) - ops0, dt = ioh_now_ns() - t0;
	if (hw_rig_errors(&r, 0))
		die("dma errors", EIO);
	hw_rig_stop(&r);
	res.ops_total = (double)ops * 1e9 / (double)dt;
	res.ops_per_engine = res.ops_total / engines;
	return res;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	uint64_t dur = 500000000ull;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--quick")) {
			dur = 50000000ull;
		} else {
			fprintf(stderr, "usage: bench_hw [--json FILE] [--quick]\n");
			return 2;
		}
	}

	struct xlate_result x[4] = {
		/* 1024 4K pages fit the 2048-entry IOTLB. */
		bench_xlate("warm_4k", PT_SZ_4K, 1024, 12, 6, 4, dur),
		bench_xlate("warm_2m", PT_SZ_2M, 64, 21, 6, 4, dur),
		/* 64K pages: nearly every lookup misses; their 128 tables
		 * fit the 256-entry walk cache, or not with one entry. */
		bench_xlate("cold_tlb", PT_SZ_4K, 1u << 16, 12, 6, 4, dur),
		bench_xlate("cold_all", PT_SZ_4K, 1u << 16, 12, 0, 1, dur),
	};
	struct dma_result d[2] = { bench_dma(1, dur * 2), bench_dma(2, dur * 2) };

	printf("%-10s %16s %9s\n", "iommu", "translations/s", "hit rate");
	for (unsigned int i = 0; i < 4; i++)
		printf("%-10s %16.0f %8.1f%%\n", x[i].name, x[i].per_sec,
		       x[i].hit_rate * 100);
	printf("\n%-8s %16s %12s %9s %13s\n", "engines", "DMA ops/s/engine",
	       "DMA ops/s", "sync us", "inv+sync us");
	for (unsigned int i = 0; i < 2; i++)
		printf("%-8u %16.0f %12.0f %9.1f %13.1f\n", d[i].engines,
		       d[i].ops_per_engine, d[i].ops_total, d[i].sync_us,
		       d[i].inv_sync_us);

	if (json) {
		FILE *out = fopen(json, "w");
		if (!out) {
			fprintf(stderr, "bench_hw: --json %s: %s\n", json,
				strerror(errno));
			return 3;
		}
		fprintf(out, "{\n  \"bench\": \"hw\",\n  \"translate\": {\n");
		for (unsigned int i = 0; i < 4; i++)
			fprintf(out, "    \"%s\": { \"per_sec\": %.0f, "
				"\"iotlb_hit_rate\": %.4f }%s\n", x[i].name,
				x[i].per_sec, x[i].hit_rate, i < 3 ? "," : "");
		fprintf(out, "  },\n  \"dma\": [\n");
		for (unsigned int i = 0; i < 2; i++)
			fprintf(out, "    { \"engines\": %u, \"ops_per_sec_per_engine\":"
				" %.0f, \"ops_per_sec\": %.0f, \"sync_us\": %.1f,"
				" \"inv_sync_us\": %.1f }%s\n", d[i].engines,
				d[i].ops_per_engine, d[i].ops_total, d[i].sync_us,
				d[i].inv_sync_us, i < 1 ? "," : "");
		fprintf(out, "  ]\n}\n");
		fclose(out);
	}
	return 0;
}
