// SPDX-License-Identifier: MIT
/*
 * Soak: a long run of live updates with random choices, DMA running
 * throughout, and the totals. The updates are split into chains (one
 * machine, one first kernel, then each update exec's the next kernel);
 * per chain a random format and BBM level, per update a random profile
 * (v1/v2) and strategy. Half of the chains hotplug memory during every
 * update's recovery (the scenario's flag applies to every update of a
 * chain); those have 2 to 7 updates, since the VM keeps each hotplug as a
 * memfd and has at most IOMMUFD_MAX_MEMFDS (8), the guest's included.
 *
 * Strategies: all four in chains without hotplug (deserialize leaves an
 * immutable domain, which the next update preserves and takes over
 * again); all but deserialize with hotplug, since an immutable domain
 * refuses the hotplug map by design (test_lu's test_deserialize).
 * Stop-the-world has no degraded recovery for a hotplug to arrive in: its
 * updates in a hotplug chain do not hotplug, which makes the hotplugs
 * random per update too.
 *
 * Then --crashes runs (default 20) of one update each that a host kernel
 * dies in (SIGKILL at a random crash point the strategy reaches, from
 * freeze on: before that no handover exists and abort mode faults by
 * design), each followed by a recovery kernel: every one must recover
 * (completed, fell back or split) with every DMA counter at zero, nothing
 * leaked and nothing freed twice.
 *
 *   soak [--updates N] [--crashes N] [--seed S] [--max-seconds T]
 *        [--run-ms MS] [--json FILE]
 *
 * Exit 0 when every update succeeded and every DMA error counter is 0;
 * 1 otherwise; 2 on bad usage; 3 when a scenario could not run.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iommufd/iommufd.h"
#include "world/world.h"
#include "ioh/ioh.h"

#define MAX_CHAINS 128
#define MAX_UPDATES 1000

struct chain {
	enum pt_format_id fmt;
	unsigned int bbm, updates;
	bool hotplug;
	uint64_t seed;
	char to[WORLD_MAX_UPDATES * 4];
	char strategies[WORLD_MAX_UPDATES * 16];
	int err;             /* world_run's */
	int kernel_status;
	unsigned int done;   /* updates that reported ok */
	unsigned int hotplugs;
	char error[320];
	uint64_t wall_ms;
	struct world_dma_totals dma;
	uint64_t guest_ops;
};

#define MAX_CRASHES 200

struct crash {
	enum pt_format_id fmt;
	const struct lu_strategy *strategy;
	const char *point;
	unsigned int devices;
	uint64_t seed;
	int err;
	bool ok;
	char mode[24];
	char error[320];
	struct world_dma_totals dma;
};

struct soak {
	struct chain chains[MAX_CHAINS];
	unsigned int nr_chains;
	struct crash crashes[MAX_CRASHES];
	unsigned int nr_crashes, crashes_ok;
	/* every update's blackout, by strategy */
	uint64_t blackout[LU_MAX_STRATEGIES][MAX_UPDATES];
	unsigned int nr_blackout[LU_MAX_STRATEGIES];
	unsigned int by_profile[2];
	unsigned int updates_ok, updates_failed, hotplugs;
	struct world_dma_totals dma;
	uint64_t guest_ops, wall_ms;
};

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64: any seed, including 0, gives a good stream */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void plan_chain(struct chain *c, unsigned int updates, bool hotplug,
		       uint64_t *prng)
{
	c->fmt = rnd(prng) % 2 ? PT_FMT_VTD_SS : PT_FMT_ARM_S2;
	c->bbm = pt_fmt_bbm_levels(c->fmt) && rnd(prng) % 2 ? 2 : 0;
	c->hotplug = hotplug;
	c->seed = rnd(prng);
	c->updates = updates;
	size_t pt = 0, ps = 0;
	for (unsigned int i = 0; i < updates; i++) {
		const struct lu_strategy *s;
		/* With hotplug, deserialize would refuse the map. */
		do
			s = lu_strategy_at((unsigned int)(rnd(prng) % lu_nr_strategies()));
		while (c->hotplug && s == &lu_strategy_deserialize);
		pt += (size_t)snprintf(c->to + pt, sizeof(c->to) - pt, "%sv%u",
				       i ? "," : "", (unsigned int)(rnd(prng) % 2) + 1);
		ps += (size_t)snprintf(c->strategies + ps, sizeof(c->strategies) - ps,
				       "%s%s", i ? "," : "", s->name);
	}
}

static void add_dma(struct world_dma_totals *t, const struct world_dma_totals *a)
{
	t->ops += a->ops;
	t->faults += a->faults;
	t->conflicts += a->conflicts;
	t->misdirected += a->misdirected;
	t->lost_writes += a->lost_writes;
	t->bbm_violations += a->bbm_violations;
	t->use_after_free += a->use_after_free;
	t->torn_config += a->torn_config;
	t->stale_atc += a->stale_atc;
	if (a->max_gap_us > t->max_gap_us)
		t->max_gap_us = a->max_gap_us;
}

static uint64_t dma_errors(const struct world_dma_totals *t)
{
	return t->faults + t->conflicts + t->misdirected + t->lost_writes +
	       t->bbm_violations + t->use_after_free + t->torn_config +
	       t->stale_atc;
}

/* A scenario of the soak's defaults, and a result to fill; NULL, with
 * *err and msg set, when there is no memory for it. */
static struct world_result *new_scenario(struct world_scenario *sc,
					 const char *kernel, enum pt_format_id fmt,
					 uint64_t seed, uint64_t run_ms,
					 int *err, char *msg, size_t len)
{
	struct world_result *r = calloc(1, sizeof(*r));
	if (!r) {
		*err = -1;
		snprintf(msg, len, "out of memory");
		return NULL;
	}
	world_scenario_default(sc);
	sc->kernel_path = kernel;
	sc->fmt = fmt;
	sc->seed = seed;
	sc->mix.seed = seed;
	sc->run_ms = run_ms;
	return r;
}

static void run_chain(struct soak *sk, struct chain *c, const char *kernel,
		      uint64_t run_ms)
{
	struct world_scenario sc;
	struct world_result *r = new_scenario(&sc, kernel, c->fmt, c->seed, run_ms,
					       &c->err, c->error, sizeof(c->error));
	if (!r)
		return;
	sc.bbm_level = c->bbm;
	sc.hotplug = c->hotplug;
	sc.updates = c->updates;
	sc.from = c->to[1] == '1' ? "v2" : "v1"; /* the first update changes profile */
	sc.to = c->to;
	sc.strategy = &lu_strategy_rebuild;
	sc.strategies = c->strategies;
	uint64_t t0 = now_ms();
	c->err = world_run(&sc, r);
	c->wall_ms = now_ms() - t0;
	c->kernel_status = r->kernel_status;
	c->dma = r->dma;
	c->guest_ops = r->guest_ops;
	for (unsigned int i = 0; i < r->nr_upd; i++) {
		const struct world_update *u = &r->upd[i];
		unsigned int s = lu_strategy_index(lu_strategy_find(u->strategy));
		if (!u->ok) {
			if (!c->error[0])
				snprintf(c->error, sizeof(c->error), "update %u (%s): %s",
					 i + 1, u->strategy, u->error);
			continue;
		}
		c->done++;
		c->hotplugs += u->hotplug_done;
		if (s < LU_MAX_STRATEGIES && sk->nr_blackout[s] < MAX_UPDATES)
			sk->blackout[s][sk->nr_blackout[s]++] = u->blackout_us;
		sk->by_profile[!strcmp(u->to, "v2")]++;
	}
	if (!c->error[0] && c->err)
		snprintf(c->error, sizeof(c->error), "scenario: %s", strerror(-c->err));
	if (!c->error[0] && r->kernel_error[0])
		snprintf(c->error, sizeof(c->error), "kernel: %s", r->kernel_error);
	if (!c->error[0] && c->done != c->updates)
		snprintf(c->error, sizeof(c->error), "%u of %u updates reported",
			 c->done, c->updates);
	world_result_free(r);
	free(r);
}

/* Crash points each strategy reaches after its handover is committed. */
static const char *pick_point(const struct lu_strategy *s, uint64_t *prng)
{
	static const char *const replaying[] = {
		"freeze", "exec", "replay", "reconcile", "switch", "free", "finish",
	};
	static const char *const verifying[] = {
		"freeze", "exec", "replay", "finish",
	};
	static const char *const adopting[] = { "freeze", "exec", "finish" };
	if (s == &lu_strategy_verify)
		return verifying[rnd(prng) % 4];
	if (s == &lu_strategy_deserialize)
		return adopting[rnd(prng) % 3];
	return replaying[rnd(prng) % 7];
}

static void run_crash(struct crash *c, const char *kernel, uint64_t run_ms)
{
	struct world_scenario sc;
	struct world_result *r = new_scenario(&sc, kernel, c->fmt, c->seed, run_ms,
					       &c->err, c->error, sizeof(c->error));
	if (!r)
		return;
	sc.strategy = c->strategy;
	sc.crash_at = c->point;
	sc.devices = c->devices;
	sc.guest_mem = 256ull << 20;
	c->err = world_run(&sc, r);
	c->dma = r->dma;
	snprintf(c->mode, sizeof(c->mode), "%s", r->recovery_mode);
	if (c->err)
		snprintf(c->error, sizeof(c->error), "scenario: %s", strerror(-c->err));
	else if (!r->crashed)
		snprintf(c->error, sizeof(c->error), "the kernel never reached %s",
			 c->point);
	else if (r->recovery_status || !strcmp(r->recovery_mode, "abort"))
		snprintf(c->error, sizeof(c->error), "recovery %s (%d): %s",
			 r->recovery_mode, r->recovery_status, r->recovery_error);
	else if (dma_errors(&r->dma) || !r->dma.ops)
		snprintf(c->error, sizeof(c->error), "DMA: %" PRIu64 " errors in %"
			 PRIu64 " ops", dma_errors(&r->dma), r->dma.ops);
	else if (r->recovery_leaked_bytes || r->recovery_bad_frees)
		snprintf(c->error, sizeof(c->error), "recovery leaked %" PRIu64
			 " bytes, freed %" PRIu64 " pages twice",
			 r->recovery_leaked_bytes, r->recovery_bad_frees);
	c->ok = !c->error[0];
	world_result_free(r);
	free(r);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_table(const struct soak *sk, uint64_t seed)
{
	printf("\nsoak: %u updates in %u chains (seed %" PRIu64 "), %.1f s\n",
	       sk->updates_ok + sk->updates_failed, sk->nr_chains, seed,
	       (double)sk->wall_ms / 1e3);
	printf("  %-5s %-7s %-4s %-7s %7s %7s %10s %7s  %s\n", "chain", "format",
	       "bbm", "hotplug", "updates", "ok", "dma ops", "errors", "wall");
	for (unsigned int i = 0; i < sk->nr_chains; i++) {
		const struct chain *c = &sk->chains[i];
		printf("  %-5u %-7s %-4u %-7s %7u %7u %10" PRIu64 " %7" PRIu64
		       "  %.1f s\n", i + 1, pt_fmt_name(c->fmt), c->bbm,
		       c->hotplug ? "on" : "off", c->updates, c->done, c->dma.ops,
		       dma_errors(&c->dma), (double)c->wall_ms / 1e3);
		if (c->error[0])
			printf("        %s\n", c->error);
	}
	printf("\n  %-16s %10s %10s %10s %8s\n", "strategy", "updates",
	       "min ms", "median ms", "max ms");
	for (unsigned int s = 0; s < lu_nr_strategies(); s++) {
		unsigned int n = sk->nr_blackout[s];
		const uint64_t *v = sk->blackout[s];
		printf("  %-16s %10u %10.2f %10.2f %8.2f\n",
		       lu_strategy_at(s)->name, n,
		       n ? v[0] / 1e3 : 0.0, n ? v[n / 2] / 1e3 : 0.0,
		       n ? v[n - 1] / 1e3 : 0.0);
	}
	const struct world_dma_totals *t = &sk->dma;
	printf("\n  updates ok %u, failed %u; to v1 %u, to v2 %u; hotplugs done %u\n",
	       sk->updates_ok, sk->updates_failed, sk->by_profile[0],
	       sk->by_profile[1], sk->hotplugs);
	printf("  crashes %u, recovered cleanly %u\n", sk->nr_crashes,
	       sk->crashes_ok);
	printf("  dma ops %" PRIu64 ", guest ops %" PRIu64 ", max DMA gap %" PRIu64
	       " us\n", t->ops, sk->guest_ops, t->max_gap_us);
	printf("  faults %" PRIu64 ", conflicts %" PRIu64 ", misdirected %" PRIu64
	       ", lost writes %" PRIu64 ", bbm violations %" PRIu64
	       ", use after free %" PRIu64 ", torn config %" PRIu64 "\n",
	       t->faults, t->conflicts, t->misdirected, t->lost_writes,
	       t->bbm_violations, t->use_after_free, t->torn_config);
}

static void json_dma(FILE *f, const struct world_dma_totals *t)
{
	fprintf(f, "{\"ops\":%" PRIu64 ",\"faults\":%" PRIu64 ",\"conflicts\":%" PRIu64
		",\"misdirected\":%" PRIu64 ",\"lost_writes\":%" PRIu64
		",\"bbm_violations\":%" PRIu64 ",\"use_after_free\":%" PRIu64
		",\"torn_config\":%" PRIu64 ",\"max_gap_us\":%" PRIu64 "}",
		t->ops, t->faults, t->conflicts, t->misdirected, t->lost_writes,
		t->bbm_violations, t->use_after_free, t->torn_config, t->max_gap_us);
}

static int write_json(const char *path, const struct soak *sk, uint64_t seed,
		      uint64_t run_ms, bool pass)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "{\"soak\":{\"seed\":%" PRIu64 ",\"run_ms\":%" PRIu64
		",\"wall_ms\":%" PRIu64 ",\"pass\":%s,\"updates\":%u,"
		"\"updates_ok\":%u,\"updates_failed\":%u,\"to_v1\":%u,\"to_v2\":%u,"
		"\"hotplugs\":%u,\"guest_ops\":%" PRIu64 ",\"dma\":",
		seed, run_ms, sk->wall_ms, pass ? "true" : "false",
		sk->updates_ok + sk->updates_failed, sk->updates_ok,
		sk->updates_failed, sk->by_profile[0], sk->by_profile[1],
		sk->hotplugs, sk->guest_ops);
	json_dma(f, &sk->dma);
	fprintf(f, ",\"blackout_us\":{");
	for (unsigned int s = 0; s < lu_nr_strategies(); s++) {
		unsigned int n = sk->nr_blackout[s];
		const uint64_t *v = sk->blackout[s];
		fprintf(f, "%s\"%s\":{\"updates\":%u,\"min\":%" PRIu64
			",\"median\":%" PRIu64 ",\"max\":%" PRIu64 "}", s ? "," : "",
			lu_strategy_at(s)->name, n, n ? v[0] : 0,
			n ? v[n / 2] : 0, n ? v[n - 1] : 0);
	}
	fprintf(f, "},\"crashes\":{\"runs\":%u,\"ok\":%u,\"runs_list\":[",
		sk->nr_crashes, sk->crashes_ok);
	for (unsigned int i = 0; i < sk->nr_crashes; i++) {
		const struct crash *c = &sk->crashes[i];
		fprintf(f, "%s{\"format\":\"%s\",\"strategy\":\"%s\",\"point\":"
			"\"%s\",\"devices\":%u,\"mode\":", i ? "," : "",
			pt_fmt_name(c->fmt), c->strategy->name, c->point, c->devices);
		ioh_json_str(f, c->mode);
		fprintf(f, ",\"ok\":%s,\"error\":", c->ok ? "true" : "false");
		ioh_json_str(f, c->error);
		fprintf(f, ",\"dma\":");
		json_dma(f, &c->dma);
		fputc('}', f);
	}
	fprintf(f, "]},\"chains\":[");
	for (unsigned int i = 0; i < sk->nr_chains; i++) {
		const struct chain *c = &sk->chains[i];
		fprintf(f, "%s{\"format\":\"%s\",\"bbm\":%u,\"hotplug\":%s,"
			"\"updates\":%u,\"ok\":%u,\"hotplugs\":%u,\"kernel_status\":%d,"
			"\"wall_ms\":%" PRIu64 ",\"profiles\":", i ? "," : "",
			pt_fmt_name(c->fmt), c->bbm, c->hotplug ? "true" : "false",
			c->updates, c->done, c->hotplugs, c->kernel_status, c->wall_ms);
		ioh_json_str(f, c->to);
		fprintf(f, ",\"strategies\":");
		ioh_json_str(f, c->strategies);
		fprintf(f, ",\"error\":");
		ioh_json_str(f, c->error);
		fprintf(f, ",\"dma\":");
		json_dma(f, &c->dma);
		fputc('}', f);
	}
	fprintf(f, "]}}\n");
	return fclose(f) ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: soak [--updates N] [--crashes N] [--seed S] "
		"[--max-seconds T] [--run-ms MS] [--json FILE]\n");
}

int main(int argc, char **argv)
{
	unsigned int updates = 100, crashes = 20;
	uint64_t seed = (uint64_t)time(NULL), max_s = 300, run_ms = 150;
	const char *json = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--updates"))
			updates = (unsigned int)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--crashes"))
			crashes = (unsigned int)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--max-seconds"))
			max_s = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--run-ms"))
			run_ms = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--json"))
			json = v;
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!updates || updates > MAX_UPDATES) {
		fprintf(stderr, "soak: --updates 1..%u\n", MAX_UPDATES);
		return 2;
	}
	if (crashes > MAX_CRASHES) {
		fprintf(stderr, "soak: --crashes 0..%u\n", MAX_CRASHES);
		return 2;
	}
	char self[PATH_MAX - 32], kernel[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return 3;
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(kernel, sizeof(kernel), "%s/../iohandover", self);
	if (access(kernel, X_OK)) {
		fprintf(stderr, "soak: %s is not built\n", kernel);
		return 3;
	}

	static struct soak sk;
	uint64_t prng = seed, t0 = now_ms();
	printf("soak: %u updates, seed %" PRIu64 ", at most %" PRIu64 " s\n",
	       updates, seed, max_s);
	unsigned int left = updates;
	bool scenario_error = false;
	while (left && sk.nr_chains < MAX_CHAINS) {
		if (now_ms() - t0 > max_s * 1000) {
			printf("soak: time is up, %u updates not run\n", left);
			break;
		}
		/* Chains of 8 to 32 updates without hotplug, of 2 to 7 with. */
		bool hotplug = rnd(&prng) % 2 == 0;
		unsigned int n = hotplug ?
			2 + (unsigned int)(rnd(&prng) % (IOMMUFD_MAX_MEMFDS - 2)) :
			8 + (unsigned int)(rnd(&prng) % 25);
		if (n > left)
			n = left;
		struct chain *c = &sk.chains[sk.nr_chains++];
		plan_chain(c, n, hotplug, &prng);
		printf("  chain %u: %s bbm%u hotplug %s, %u updates ...",
		       sk.nr_chains, pt_fmt_name(c->fmt), c->bbm,
		       c->hotplug ? "on" : "off", n);
		fflush(stdout);
		run_chain(&sk, c, kernel, run_ms);
		printf(" %u ok, %" PRIu64 " dma ops, %.1f s%s%s\n", c->done,
		       c->dma.ops, (double)c->wall_ms / 1e3, c->error[0] ? ": " : "",
		       c->error);
		scenario_error |= c->err != 0;
		sk.updates_ok += c->done;
		sk.updates_failed += n - c->done;
		sk.hotplugs += c->hotplugs;
		sk.guest_ops += c->guest_ops;
		add_dma(&sk.dma, &c->dma);
		left -= n;
	}
	for (unsigned int i = 0; i < crashes; i++) {
		if (now_ms() - t0 > max_s * 1000) {
			printf("soak: time is up, %u crash runs not done\n", crashes - i);
			break;
		}
		struct crash *c = &sk.crashes[sk.nr_crashes++];
		c->fmt = rnd(&prng) % 2 ? PT_FMT_VTD_SS : PT_FMT_ARM_S2;
		c->strategy = lu_strategy_at((unsigned int)(rnd(&prng) % lu_nr_strategies()));
		c->point = pick_point(c->strategy, &prng);
		c->devices = 1 + (unsigned int)(rnd(&prng) % 3);
		c->seed = rnd(&prng);
		printf("  crash %u: %s %s, %u device%s, killed at %s ...", i + 1,
		       pt_fmt_name(c->fmt), c->strategy->name, c->devices,
		       c->devices == 1 ? "" : "s", c->point);
		fflush(stdout);
		run_crash(c, kernel, run_ms);
		printf(" recovery %s, %" PRIu64 " dma ops%s%s\n", c->mode, c->dma.ops,
		       c->error[0] ? ": " : "", c->error);
		scenario_error |= c->err != 0;
		sk.crashes_ok += c->ok;
		add_dma(&sk.dma, &c->dma);
	}
	sk.wall_ms = now_ms() - t0;
	for (unsigned int s = 0; s < lu_nr_strategies(); s++)
		qsort(sk.blackout[s], sk.nr_blackout[s], sizeof(uint64_t), cmp_u64);
	bool pass = !left && !sk.updates_failed && !dma_errors(&sk.dma) &&
		    sk.dma.ops && sk.nr_crashes == crashes &&
		    sk.crashes_ok == sk.nr_crashes;
	print_table(&sk, seed);
	printf("\nsoak: %s\n", pass ? "PASS" : "FAIL");
	if (json && write_json(json, &sk, seed, run_ms, pass))
		return 3;
	if (scenario_error)
		return 3;
	return pass ? 0 : 1;
}
