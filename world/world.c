// SPDX-License-Identifier: MIT
/*
 * world: the scenario runner (world/world.h). The machine process, the
 * first kernel generation (the rest follow by exec), a recovery kernel
 * after a crash, and afterwards the result: each generation's report
 * line, the machine's DMA counters and its event log.
 */
#include "world/world.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hw/machine.h"
#include "iommufd/iommufd.h"
#include "ioh/ioh.h"


void world_scenario_default(struct world_scenario *sc)
{
	/* What a kernel is not told otherwise is what a scenario runs. */
	struct lu_gen_cfg k;
	lu_gen_cfg_defaults(&k);
	memset(sc, 0, sizeof(*sc));
	sc->guest_mem = k.guest_size;
	sc->mix = k.mix;
	sc->devices = k.devices;
	sc->fmt = k.fmt;
	sc->va_bits = k.va_bits;
	sc->from = k.profile;
	sc->to = "v2";
	sc->strategy = k.strategy;
	sc->bbm_level = 0;
	sc->updates = 1;
	sc->seed = 1;
	sc->run_ms = k.run_ms;
	sc->engines = 2;
	sc->iommus = 1;
}

/* Profiles of the updates as "a,b,c": one per update, or one for all. */
static int update_profiles(const struct world_scenario *sc, char *out, size_t len)
{
	char buf[4096];
	unsigned int n = 0;
	snprintf(buf, sizeof(buf), "%s", sc->to);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!iommufd_profile_find_for(tok, sc->fmt))
			return -EINVAL;
		n++;
	}
	if (n == sc->updates) {
		snprintf(out, len, "%s", sc->to);
		return 0;
	}
	if (n != 1)
		return -ERANGE;
	size_t used = 0;
	for (unsigned int i = 0; i < sc->updates; i++) {
		int w = snprintf(out + used, len - used, "%s%s", i ? "," : "",
				 sc->to);
		if (w < 0 || (size_t)w >= len - used)
			return -E2BIG;
		used += (size_t)w;
	}
	return 0;
}

/* A strategy list names one known strategy per update. */
static bool strategies_ok(const struct world_scenario *sc)
{
	if (!sc->strategies)
		return true;
	char buf[4096];
	unsigned int n = 0;
	if (strlen(sc->strategies) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", sc->strategies);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!lu_strategy_find(tok))
			return false;
		n++;
	}
	return n == sc->updates;
}

/* ---- the report lines (flat JSON written by lu/report.c) ---------------- */

static const char *json_find(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	return p ? p + strlen(pat) : NULL;
}

static uint64_t json_u64(const char *line, const char *key)
{
	const char *p = json_find(line, key);
	return p ? strtoull(p, NULL, 10) : 0;
}

static bool json_bool(const char *line, const char *key)
{
	const char *p = json_find(line, key);
	return p && !strncmp(p, "true", 4);
}

/* A flat array of small numbers, as a mask: [0,1,3] -> 0xb. */
static uint32_t json_mask(const char *line, const char *key)
{
	const char *p = json_find(line, key);
	uint32_t m = 0;
	if (!p || *p != '[')
		return 0;
	for (p++; *p && *p != ']';) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (v < 32)
			m |= 1u << v;
		p = *end == ',' ? end + 1 : end;
	}
	return m;
}

/* A flat array of small numbers into out[0 .. n) (the rest 0). */
static void json_u32s(const char *line, const char *key, unsigned int *out,
		      unsigned int n)
{
	const char *p = json_find(line, key);
	for (unsigned int i = 0; i < n; i++)
		out[i] = 0;
	if (!p || *p != '[')
		return;
	p++;
	for (unsigned int i = 0; i < n && *p && *p != ']'; i++) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		out[i] = (unsigned int)v;
		p = *end == ',' ? end + 1 : end;
	}
}

static void json_string(const char *line, const char *key, char *out,
			size_t len)
{
	const char *p = json_find(line, key);
	size_t n = 0;
	if (p && *p == '"') {
		for (p++; *p && *p != '"' && n + 1 < len; p++) {
			unsigned int u;
			/* ioh_json_str's escapes: \" \\ and \u00XX. */
			if (*p == '\\' && p[1] == 'u' && sscanf(p + 2, "%4x", &u) == 1) {
				out[n++] = (char)u;
				p += 5;
				continue;
			}
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

static void parse_report(const char *text, struct world_result *res,
			 unsigned int bbm)
{
	const char *line = text;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *l = strndup(line, len);
		if (!l)
			return;
		char event[16];
		json_string(l, "event", event, sizeof(event));
		if (!res->injected[0])
			json_string(l, "injected", res->injected, sizeof(res->injected));
		if (!strcmp(event, "handover")) {
			if (res->nr_handovers < 8)
				res->handovers[res->nr_handovers++] =
					json_u64(l, "pa");
		} else if (!strcmp(event, "crash")) {
			res->crashed = true;
		} else if (!strcmp(event, "recovery")) {
			json_string(l, "mode", res->recovery_mode,
				    sizeof(res->recovery_mode));
			json_string(l, "error", res->recovery_error,
				    sizeof(res->recovery_error));
			res->recovery_leaked_bytes = json_u64(l, "leaked_bytes");
			res->recovery_bad_frees = json_u64(l, "bad_frees");
		} else if (!strcmp(event, "update") && res->nr_upd < WORLD_MAX_UPDATES) {
			struct world_update *u = &res->upd[res->nr_upd++];
			json_string(l, "strategy", u->strategy, sizeof(u->strategy));
			json_string(l, "from", u->from, sizeof(u->from));
			json_string(l, "profile", u->to, sizeof(u->to));
			json_string(l, "format", u->format, sizeof(u->format));
			json_string(l, "error", u->error, sizeof(u->error));
			u->bbm_level = bbm;
			u->ok = json_bool(l, "ok");
			u->blackout_us = json_u64(l, "blackout_us");
			for (unsigned int p = 0; p < LU_NR_PHASES; p++)
				u->phases_us[p] = json_u64(l, lu_phase_name((enum lu_phase)p));
			u->extra_table_bytes = json_u64(l, "extra_table_bytes");
			u->table_bytes = json_u64(l, "table_bytes");
			u->splits = json_u64(l, "splits");
			u->joins = json_u64(l, "joins");
			u->granule_bytes = json_u64(l, "granule_bytes");
			u->diff_granule_bytes = json_u64(l, "diff_granule_bytes");
			u->hotplug_done = json_bool(l, "hotplug_done");
			u->hotplug_waited = json_bool(l, "hotplug_waited");
			u->hotplug_wait_us = json_u64(l, "hotplug_wait_us");
			u->preserved_devices = json_mask(l, "preserved_devices");
			u->aborted_devices = json_mask(l, "aborted_devices");
			u->reserved_ids = (unsigned int)json_u64(l, "reserved_ids");
			u->ats_devices = (unsigned int)json_u64(l, "ats_devices");
			json_u32s(l, "pasids", u->pasids, HW_MAX_DEVS);
			u->nested = json_bool(l, "nested");
			u->s1_bytes_checked = json_u64(l, "s1_bytes_checked");
		} else if (!json_bool(l, "ok") && !res->kernel_error[0]) {
			json_string(l, "error", res->kernel_error,
				    sizeof(res->kernel_error));
		}
		free(l);
		line = nl ? nl + 1 : NULL;
	}
}

static void read_report(int fd, struct world_result *res, unsigned int bbm)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *text = len > 0 ? calloc(1, (size_t)len + 1) : NULL;
	if (text && pread(fd, text, (size_t)len, 0) == len) {
		if (getenv("IOH_REPORT_DEBUG"))
			fputs(text, stderr);
		parse_report(text, res, bbm);
	}
	free(text);
}

static void collect_units(const struct hw_regs *regs, struct world_result *res)
{
	res->nr_units = regs->nr_units;
	memcpy(res->dev_unit, regs->dev_unit, sizeof(res->dev_unit));
	for (unsigned int u = 0; u < regs->nr_units && u < HW_MAX_UNITS; u++) {
		const struct hw_unit_regs *r = &regs->unit[u];
		res->unit[u] = (struct world_unit_totals){
			.cmds = atomic_load(&r->cmds),
			.syncs = atomic_load(&r->syncs),
			.iotlb_hits = atomic_load(&r->iotlb_hits),
			.iotlb_misses = atomic_load(&r->iotlb_misses),
			.walks = atomic_load(&r->walks),
		};
	}
}

static void collect_dma(const struct hw_regs *regs, struct world_result *res)
{
	for (unsigned int d = 0; d < res->devices; d++) {
		if (atomic_load(&regs->dev_ctl[d].enabled))
			res->dma_enabled |= 1u << d;
		const struct hw_dev_stats *s = &regs->dev_stats[d];
		struct world_dma_totals *t = &res->dev[d];
		t->ops = atomic_load(&s->ops);
		t->faults = atomic_load(&s->faults);
		t->conflicts = atomic_load(&s->conflicts);
		t->misdirected = atomic_load(&s->misdirected);
		t->lost_writes = atomic_load(&s->lost_writes);
		t->bbm_violations = atomic_load(&s->bbm_violations);
		t->use_after_free = atomic_load(&s->use_after_free);
		t->torn_config = atomic_load(&s->torn_config);
		t->stale_atc = atomic_load(&s->stale_atc);
		t->atc_hits = atomic_load(&s->atc_hits);
		t->atc_misses = atomic_load(&s->atc_misses);
		t->atc_invalidations = atomic_load(&s->atc_invalidations);
		t->max_gap_us = atomic_load(&s->max_gap_ns) / 1000;
		res->dma.ops += t->ops;
		res->dma.faults += t->faults;
		res->dma.conflicts += t->conflicts;
		res->dma.misdirected += t->misdirected;
		res->dma.lost_writes += t->lost_writes;
		res->dma.bbm_violations += t->bbm_violations;
		res->dma.use_after_free += t->use_after_free;
		res->dma.torn_config += t->torn_config;
		res->dma.stale_atc += t->stale_atc;
		res->dma.atc_hits += t->atc_hits;
		res->dma.atc_misses += t->atc_misses;
		res->dma.atc_invalidations += t->atc_invalidations;
		if (t->max_gap_us > res->dma.max_gap_us)
			res->dma.max_gap_us = t->max_gap_us;
	}
	res->guest_ops = atomic_load(&regs->guest_ops);
}

static void collect_events(const struct hw_regs *regs, struct world_result *res)
{
	uint64_t prod = atomic_load(&regs->log_prod);
	uint64_t first = prod > HW_LOG_ENTRIES ? prod - HW_LOG_ENTRIES : 0;
	res->events = calloc(prod - first + 1, sizeof(struct hw_event));
	if (!res->events)
		return;
	for (uint64_t i = first; i < prod; i++)
		res->events[res->nr_events++] = regs->log[i % HW_LOG_ENTRIES];
}

/* fork and exec a kernel with cfg's command line. */
static pid_t exec_kernel(const struct world_scenario *sc,
			 const struct lu_gen_cfg *cfg)
{
	struct lu_argv av;
	int err = lu_cmdline_to_argv(cfg, sc->kernel_path, &av);
	if (err) {
		errno = -err;
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* Kernels go with the runner, as the machine does (kept
		 * across their execs). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(3);
		execv(sc->kernel_path, av.argv);
		fprintf(stderr, "iohandover: exec %s: %s\n", sc->kernel_path,
			strerror(errno));
		_exit(3);
	}
	int saved = errno;
	lu_argv_free(&av);
	errno = saved;
	return pid;
}

static void machine_fds(struct lu_gen_cfg *k, int pm_fd, int region_fd,
			int report_fd)
{
	k->physmem_fd = pm_fd;
	k->region_fd = region_fd;
	k->report_fd = report_fd;
}

static pid_t start_kernel(const struct world_scenario *sc, int pm_fd, int region_fd,
			  int report_fd, const char *next)
{
	struct lu_gen_cfg k;
	lu_gen_cfg_defaults(&k);
	machine_fds(&k, pm_fd, region_fd, report_fd);
	k.profile = sc->from;
	k.next = next;
	k.strategy = sc->strategy;
	k.next_strategies = sc->strategies;
	k.fmt = sc->fmt;
	k.va_bits = sc->va_bits;
	k.devices = sc->devices;
	k.guest_size = sc->guest_mem;
	k.mix = sc->mix;
	k.run_ms = sc->run_ms;
	k.hotplug = sc->hotplug;
	k.naive = sc->naive;
	k.preserve = sc->preserve;
	k.pasids = sc->pasids;
	k.replay_pasids = sc->replay_pasids;
	k.naive_pasids = sc->naive_pasids;
	k.ats = sc->ats;
	k.naive_ats = sc->naive_ats;
	k.nested = sc->nested;
	k.naive_nested = sc->naive_nested;
	k.naive_units = sc->naive_units;
	k.naive_s1 = sc->naive_s1;
	k.inject = sc->inject;
	k.crash_at = sc->crash_at;
	k.fail_at = sc->fail_at;
	k.save_dir = sc->save_dir;
	return exec_kernel(sc, &k);
}

/*
 * A crash kernel: told where the dead kernels said they wrote handovers,
 * it recovers from the last one completely written.
 */
static pid_t start_recovery(const struct world_scenario *sc, int pm_fd,
			    int region_fd, int report_fd,
			    const struct world_result *res)
{
	struct lu_gen_cfg k;
	lu_gen_cfg_defaults(&k);
	machine_fds(&k, pm_fd, region_fd, report_fd);
	k.recover = true;
	k.profile = strrchr(sc->to, ',') ? strrchr(sc->to, ',') + 1 : sc->to;
	k.fmt = sc->fmt;
	k.devices = sc->devices;
	k.run_ms = sc->run_ms;
	k.naive_ats = sc->naive_ats;
	k.replay_pasids = sc->replay_pasids;
	k.naive_pasids = sc->naive_pasids;
	k.naive_units = sc->naive_units;
	for (unsigned int i = 0; i < res->nr_handovers && i < LU_MAX_CANDIDATES; i++)
		k.candidates.pa[k.candidates.n++] = res->handovers[i];
	if (sc->fail_at && !strncmp(sc->fail_at, "recover:", 8))
		k.fail_at = sc->fail_at;
	return exec_kernel(sc, &k);
}

/* Generations reported so far: the "boot" and "update" report lines
 * (a kernel also writes others, such as where its handover went). */
static unsigned int report_lines(int fd)
{
	static const char boot[] = "{\"event\":\"boot\"";
	static const char upd[] = "{\"event\":\"update\"";
	char buf[4096], head[24];
	unsigned int n = 0, col = 0;
	ssize_t r;
	for (off_t off = 0; (r = pread(fd, buf, sizeof(buf), off)) > 0; off += r)
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				col = 0;
				continue;
			}
			if (col < sizeof(head))
				head[col] = buf[i];
			if (++col == sizeof(upd) - 1 &&
			    !memcmp(head, upd, sizeof(upd) - 1))
				n++;
			else if (col == sizeof(boot) - 1 &&
				 !memcmp(head, boot, sizeof(boot) - 1))
				n++;
		}
	return n;
}

/* Wait for pid at most timeout_ms; SIGKILL it after. Exit code or -1.
 * With sc->tick, calls it every tick_ms / 2 polls (report_fd: the kernels'). */
static int wait_exit(pid_t pid, uint64_t timeout_ms,
		     const struct world_scenario *sc, const struct hw_regs *regs,
		     int report_fd, uint64_t t0_ns)
{
	uint64_t deadline = ioh_now_ns() + timeout_ms * 1000000ull;
	unsigned int every = sc && sc->tick_ms ? (sc->tick_ms + 1) / 2 : 5;
	for (unsigned int polls = 0;; polls++) {
		if (sc && sc->tick && polls % every == 0) {
			struct world_tick t = { ioh_now_ns() - t0_ns, regs,
					     report_lines(report_fd) };
			sc->tick(sc->tick_arg, &t);
		}
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (ioh_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(2000);
	}
}

/* ---- capacity ---------------------------------------------------------- */

#define MIB ((uint64_t)1 << 20)

/* Fragmented 2 MiB slots (4K folios) and slots in all, of the mix. */
static void mix_counts(const struct world_scenario *sc, double *gigs,
		       double *slots, double *slots4k)
{
	*gigs = (double)sc->guest_mem / (double)(1ull << 30);
	*slots = *gigs * (1.0 - sc->mix.ppm_1g / 1e6) * 512.0;
	if (*slots < 1)
		*slots = 1;
	*slots4k = *slots * (sc->mix.ppm_4k / 1e6);
}

/*
 * The handover blob (kho_prepare's FDT): a shuffled 4K slot is one
 * record of 1040 bytes (a run of 24 when not shuffled), other folios are
 * runs of 24 bytes, broken by each fragmented slot; the preserved-memory
 * map about as many ranges of 16; the table page list 8 per page.
 */
static uint64_t blob_estimate(const struct world_scenario *sc)
{
	double gigs, slots, s4k;
	mix_counts(sc, &gigs, &slots, &s4k);
	double runs = gigs * (sc->mix.ppm_1g / 1e6) + 2 * s4k + 16;
	double pages = gigs + s4k + 16;
	return (uint64_t)(s4k * (sc->mix.scatter_4k ? 1040.0 : 24.0) +
			  runs * (24.0 + 16.0) + pages * 8.0) + 65536;
}

uint64_t world_memory_estimate(const struct world_scenario *sc)
{
	/*
	 * Folios of the mix: 1 GiB chunks, a share of them one folio, the
	 * rest 512 slots of 2 MiB, a share of those 512 folios of 4 KiB.
	 */
	double gigs, slots, s4k;
	mix_counts(sc, &gigs, &slots, &s4k);
	double f4k = s4k * 512.0;
	double folios = gigs * (sc->mix.ppm_1g / 1e6) + slots + f4k;
	/*
	 * Per folio, in the kernel: its index and run (about 60 bytes), the
	 * pins (4), the blob's share and its copy in the next kernel (about
	 * 60): 128 bytes. Table pages: one per GiB above the 2M level, one
	 * per fragmented slot for its 4K leaves, twice while rebuild's new
	 * table exists; touched RAM pages count in both processes. Fixed:
	 * the DMA windows (256 MiB), the guest CPU's (16 MiB), stamps of the
	 * guest's data (32 MiB) and the machine's bitmap of freed pages (one
	 * bit per 4 KiB of RAM, touched where tables come and go), plus
	 * 128 MiB of slack for everything else.
	 */
	double tables = (gigs + f4k / 512.0 + 16) * 4096.0 * 2;
	double ram = (double)lu_vmm_ram_size(sc->guest_mem);
	return (uint64_t)(folios * 128.0 + tables + ram / 4096.0 / 8.0 / 8.0) +
	       (256 + 16 + 32 + 128) * MIB;
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	uint64_t kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

int world_check_capacity(const struct world_scenario *sc, char *why, size_t len)
{
	const uint64_t g = sc->guest_mem;
	/* Hotplug slots: 1 GiB each above the guest, one per update. */
	uint64_t top = sc->hotplug ? ((g + (1ull << 30)) & ~((1ull << 30) - 1)) +
				     (uint64_t)sc->updates * (1ull << 30) : g;
	if (sc->va_bits < 64 && top > (1ull << sc->va_bits)) {
		snprintf(why, len, "a guest of %" PRIu64 " MiB%s needs IOVAs up to "
			 "%" PRIu64 " MiB, beyond the %u-bit IOVA width of the "
			 "tables (%" PRIu64 " MiB; --va-bits)", g / MIB,
			 sc->hotplug ? " with its hotplug slots" : "", top / MIB,
			 sc->va_bits, (uint64_t)((1ull << sc->va_bits) / MIB));
		return -ERANGE;
	}
	uint64_t ram = lu_vmm_ram_size(g);
	if (ram > KHO_RAM_MAX) {
		snprintf(why, len, "a guest of %" PRIu64 " GiB needs %" PRIu64
			 " GiB of machine RAM, beyond the host allocator's limit "
			 "of %llu GiB (KHO_RAM_MAX)", g >> 30, ram >> 30,
			 (unsigned long long)(KHO_RAM_MAX >> 30));
		return -E2BIG;
	}
	uint64_t blob = blob_estimate(sc);
	if (blob > KHO_FDT_MAX) {
		snprintf(why, len, "a guest of %" PRIu64 " GiB with this folio mix "
			 "needs a handover blob of about %" PRIu64 " MiB, beyond "
			 "its limit of %u MiB (KHO_FDT_MAX)", g >> 30, blob / MIB,
			 KHO_FDT_MAX >> 20);
		return -E2BIG;
	}
	uint64_t need = world_memory_estimate(sc), have = mem_available();
	if (have && need > have) {
		snprintf(why, len, "a guest of %" PRIu64 " GiB with this folio mix "
			 "needs about %" PRIu64 " MiB of memory (folios, tables, "
			 "DMA windows), more than the %" PRIu64 " MiB this machine "
			 "has available (MemAvailable)", g >> 30, need / MIB,
			 have / MIB);
		return -ENOMEM;
	}
	return 0;
}

const char *world_units_refusal(const struct world_scenario *sc)
{
	if (!sc->iommus || sc->iommus > HW_MAX_UNITS)
		return "the IOMMU unit count must be 1 to 8";
	if (sc->iommus > sc->devices)
		return "more IOMMU units than devices (each unit needs a device "
		       "behind it)";
	if (sc->naive_units && sc->iommus < 2)
		return "the naive units variant needs at least 2 IOMMU units";
	return NULL;
}

const char *world_nested_refusal(const struct world_scenario *sc)
{
	const char *why;
	if ((sc->naive_nested || sc->naive_s1) && !sc->nested)
		return "the naive nested variants need a nested guest (--nested)";
	if (!sc->nested)
		return NULL;
	if (iommufd_nest_check(PT_FMT_ARM_S1, sc->fmt, &why))
		return why;
	if (sc->ats)
		return "ATS on nested devices is not modelled (the ATC of a "
		       "nested device would cache combined translations)";
	return NULL;
}

int world_run(const struct world_scenario *sc, struct world_result *res)
{
	memset(res, 0, sizeof(*res));
	char next[4096];
	if (!sc->kernel_path || !iommufd_profile_find_for(sc->from, sc->fmt) ||
	    !sc->devices || sc->devices > HW_MAX_DEVS || !sc->updates ||
	    sc->updates > WORLD_MAX_UPDATES || sc->guest_mem % (2ull << 20) ||
	    sc->guest_mem < (8ull << 20) || sc->bbm_level > 2 ||
	    !sc->engines || sc->engines > HW_MAX_ENGINES ||
	    sc->preserve > sc->devices || sc->pasids > LU_MAX_PASIDS ||
	    sc->ats > sc->devices || (sc->naive_ats && !sc->ats) ||
	    (sc->replay_pasids && !sc->pasids) ||
	    (sc->naive_pasids && !sc->replay_pasids) ||
	    world_units_refusal(sc) || world_nested_refusal(sc) ||
	    update_profiles(sc, next, sizeof(next)) || !strategies_ok(sc))
		return -EINVAL;
	char why[256];
	int cap = world_check_capacity(sc, why, sizeof(why));
	if (cap)
		return cap;
	res->devices = sc->devices;
	res->t0_ns = ioh_now_ns();

	uint64_t ram = lu_vmm_ram_size(sc->guest_mem);
	struct physmem pm;
	struct hw_region region;
	int err = physmem_create(&pm, ram);
	if (err)
		return err;
	err = hw_region_create(&region, ram, sc->bbm_level);
	if (err) {
		physmem_detach(&pm, true);
		return err;
	}
	/* Checked above (world_units_refusal): cannot fail. */
	hw_region_set_units(&region, sc->iommus);
	struct hw_regs *regs = region.regs;
	for (unsigned int d = 0; d < sc->devices; d++) {
		struct hw_dev_ctl *c = &regs->dev_ctl[d];
		atomic_store(&c->engines, sc->engines);
		atomic_store(&c->write_pct, 50);
		atomic_store(&c->size, 256);
		/* Paced so that the host's work, not DMA, owns the cores. */
		atomic_store(&c->pace_ns, 20000);
	}
	struct hw_machine_cfg mcfg;
	hw_machine_cfg_default(&mcfg);
	mcfg.iommu.seed = sc->seed;
	pid_t mpid;
	err = hw_machine_fork(&mcfg, pm.fd, region.fd, &mpid);
	if (err)
		goto out;

	int report_fd = memfd_create("ioh-report", 0);
	if (report_fd < 0) {
		err = -errno;
		goto stop;
	}
	pid_t kpid = start_kernel(sc, pm.fd, region.fd, report_fd, next);
	if (kpid < 0) {
		err = -errno;
		close(report_fd);
		goto stop;
	}
	/* Generous: a TiB guest stamps a lot of folios at first boot. */
	uint64_t budget_ms = 120000 + sc->updates * (sc->run_ms + 60000);
	res->kernel_status = wait_exit(kpid, budget_ms, sc, regs, report_fd,
				       res->t0_ns);

	read_report(report_fd, res, sc->bbm_level);
	if (sc->crash_at && res->crashed) {
		pid_t rpid = start_recovery(sc, pm.fd, region.fd, report_fd, res);
		res->recovery_status = rpid < 0 ? -1 :
			wait_exit(rpid, 60000 + sc->run_ms, sc, regs, report_fd,
				  res->t0_ns);
		/* Read again from the start: the recovery line is new. */
		struct world_result again = { .nr_upd = 0 };
		read_report(report_fd, &again, sc->bbm_level);
		memcpy(res->recovery_mode, again.recovery_mode,
		       sizeof(res->recovery_mode));
		memcpy(res->recovery_error, again.recovery_error,
		       sizeof(res->recovery_error));
		res->recovery_leaked_bytes = again.recovery_leaked_bytes;
		res->recovery_bad_frees = again.recovery_bad_frees;
		if (!res->injected[0])
			memcpy(res->injected, again.injected, sizeof(res->injected));
	}
	close(report_fd);
	if (res->kernel_status == -1)
		snprintf(res->kernel_error, sizeof(res->kernel_error),
			 "kernel did not finish in time and was killed");

	collect_dma(regs, res);
	collect_units(regs, res);
	collect_events(regs, res);
	bool all_ok = res->nr_upd == sc->updates;
	for (unsigned int i = 0; i < res->nr_upd; i++)
		all_ok &= res->upd[i].ok;
	const struct world_dma_totals *t = &res->dma;
	bool clean = t->ops && !(t->faults | t->conflicts | t->misdirected |
				 t->lost_writes | t->bbm_violations |
				 t->use_after_free | t->torn_config |
				 t->stale_atc);
	/* After a crash the update itself never finished: hitless means a
	 * recovery kernel took over with not a single DMA error. */
	res->hitless = res->crashed ?
		res->recovery_status == 0 && clean && !res->recovery_leaked_bytes &&
		!res->recovery_bad_frees :
		res->kernel_status == 0 && all_ok && clean;
stop:
	atomic_store(&regs->shutdown, 1);
	if (wait_exit(mpid, 10000, NULL, NULL, -1, 0) && !err)
		err = -EIO;
out:
	res->wall_us = (ioh_now_ns() - res->t0_ns) / 1000;
	hw_region_detach(&region, true);
	physmem_detach(&pm, true);
	return err;
}

void world_result_free(struct world_result *res)
{
	free(res->events);
	res->events = NULL;
	res->nr_events = 0;
}

int world_exec_probe(const struct world_scenario *sc, uint64_t *round_trip_ns)
{
	uint64_t ram = lu_vmm_ram_size(sc->guest_mem);
	struct physmem pm;
	struct hw_region region;
	int err = physmem_create(&pm, ram);
	if (err)
		return err;
	err = hw_region_create(&region, ram, sc->bbm_level);
	if (err) {
		physmem_detach(&pm, true);
		return err;
	}
	int report_fd = memfd_create("ioh-probe", 0);
	err = report_fd < 0 ? -errno : 0;
	if (!err) {
		struct lu_gen_cfg k;
		lu_gen_cfg_defaults(&k);
		machine_fds(&k, pm.fd, region.fd, report_fd);
		k.probe = true;
		uint64_t t0 = ioh_now_ns();
		k.t_pause_ns = t0;
		fflush(NULL);
		pid_t pid = exec_kernel(sc, &k);
		int status = 0;
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			err = -ECHILD;
		*round_trip_ns = ioh_now_ns() - t0;
		if (!err && (!WIFEXITED(status) || WEXITSTATUS(status)))
			err = -EIO;
		close(report_fd);
	}
	hw_region_detach(&region, true);
	physmem_detach(&pm, true);
	return err;
}
