// SPDX-License-Identifier: MIT
/*
 * Running one scenario for the demo, run and bench commands: progress on
 * stderr (a bar redrawn in place on a terminal once the run has taken a
 * second, one plain line per stage otherwise), DMA throughput sampled from
 * the machine's counters through lu's tick hook, then the summary and the
 * reports.
 */
#include "cli/scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

void cli_scenario_init(struct cli_scenario *cs, const char *cmd)
{
	memset(cs, 0, sizeof(*cs));
	world_scenario_default(&cs->sc);
	cs->sc.kernel_path = cli_self_path();
	snprintf(cs->mix_spec, sizeof(cs->mix_spec), "default");
	cs->cmd = cmd;
	cs->json_opt = "--json";
	cs->svg_opt = "--svg";
	cs->last_stage = -1;
	cs->t_start_s = (uint64_t)time(NULL);
}

/*
 * Reports are written to a temporary file beside the target and renamed
 * over it only once complete: an interrupted run leaves the old report in
 * place. A signal that ends the run removes the temporary files (the
 * machine and the kernels die with the runner: PR_SET_PDEATHSIG).
 */
static char tmp_json[4200], tmp_svg[4200];
static pid_t tmp_owner;

static void on_fatal_signal(int sig)
{
	if (getpid() == tmp_owner) {
		if (tmp_json[0])
			unlink(tmp_json);
		if (tmp_svg[0])
			unlink(tmp_svg);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_fatal_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	tmp_owner = getpid();
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

bool cli_is_stdio(const char *path)
{
	return path && !strcmp(path, "-");
}

static FILE *open_report(const struct cli_scenario *cs, const char *opt,
			 const char *path, char *tmp, size_t len)
{
	if (cli_is_stdio(path)) {
		tmp[0] = '\0';
		return stdout;
	}
	if (!*path || (size_t)snprintf(tmp, len, "%s.tmp.XXXXXX", path) >= len) {
		cli_err(cs->cmd, "%s: '%s' is not a usable file name", opt, path);
		tmp[0] = '\0';
		return NULL;
	}
	struct stat st;
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		cli_err(cs->cmd, "%s: cannot write '%s': it is a directory", opt, path);
		tmp[0] = '\0';
		return NULL;
	}
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int fd = mkstemp(tmp);
	int saved = errno;
	if (fd < 0)
		tmp[0] = '\0';
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (fd < 0) {
		cli_err(cs->cmd, "%s: cannot write '%s': %s", opt, path,
			strerror(saved));
		return NULL;
	}
	/* What creat() would have made: 0666 less the umask. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		cli_err(cs->cmd, "%s: cannot write '%s': %s", opt, path,
			strerror(errno));
		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
	}
	return f;
}

/* The same file twice (by name, or an existing file by identity). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (!strcmp(a, b))
		return true;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static void drop_report(FILE **f, char *tmp)
{
	if (!*f)
		return;
	if (*f != stdout)
		fclose(*f);
	*f = NULL;
	if (tmp[0])
		unlink(tmp);
	tmp[0] = '\0';
}

int cli_scenario_open_reports(struct cli_scenario *cs)
{
	if (cs->json_path && cs->svg_path && same_file(cs->json_path, cs->svg_path)) {
		cli_err(cs->cmd, "%s and %s name the same file '%s' (give each "
			"its own)", cs->json_opt, cs->svg_opt, cs->json_path);
		return CLI_USAGE;
	}
	catch_fatal_signals();
	if (cs->json_path && !(cs->json = open_report(cs, cs->json_opt, cs->json_path,
						      tmp_json, sizeof(tmp_json))))
		return CLI_USAGE;
	if (cs->svg_path && !(cs->svg = open_report(cs, cs->svg_opt, cs->svg_path,
						    tmp_svg, sizeof(tmp_svg)))) {
		drop_report(&cs->json, tmp_json);
		return CLI_USAGE;
	}
	return CLI_OK;
}

FILE *cli_scenario_human_out(const struct cli_scenario *cs)
{
	return cs->json == stdout || cs->svg == stdout ? stderr : stdout;
}

/* Close a finished report and move it into place; 0 or -1. */
static int commit_report(FILE **f, char *tmp, const char *path, bool ok)
{
	if (*f == stdout) {
		*f = NULL;
		return fflush(stdout) || !ok ? -1 : 0;
	}
	if (fclose(*f))
		ok = false;
	*f = NULL;
	if (ok && rename(tmp, path))
		ok = false;
	if (!ok)
		unlink(tmp);
	tmp[0] = '\0';
	return ok ? 0 : -1;
}

/* ---- progress ----------------------------------------------------------- */

/* Not on a terminal, a line at least this often while a stage lasts. */
#define CLI_PROGRESS_EVERY_NS 5000000000ull

/*
 * Stages the runner can see from outside the kernels: 2k+1 "update k+1:
 * guest paused" and 2k+2 "recovering" between report lines k+1 and k+2.
 */
static int stage_of(const struct cli_scenario *cs, const struct world_tick *t,
		    char *text, size_t len)
{
	const struct world_scenario *sc = &cs->sc;
	uint64_t pauses = atomic_load(&t->regs->pauses);
	bool paused = atomic_load(&t->regs->guest_paused);
	unsigned int done = t->reports ? t->reports - 1 : 0; /* updates done */
	if (!t->reports) {
		char gm[32];
		cli_fmt_bytes(gm, sizeof(gm), sc->guest_mem);
		snprintf(text, len, "boot: kernel %s builds %s of guest memory, "
			 "its tables, starts DMA", sc->from, gm);
		return 0;
	}
	if (done >= sc->updates) {
		snprintf(text, len, "DMA runs on the last kernel; checking");
		return (int)(3 * sc->updates + 1);
	}
	/* The machine counts a pause when it ends: paused says it began. */
	if (pauses <= done && !paused) {
		snprintf(text, len, "DMA running; update %u/%u next", done + 1,
			 sc->updates);
		return (int)(3 * done + 1);
	}
	if (paused || !sc->strategy->early_resume) {
		snprintf(text, len, "update %u/%u: guest paused: preserve, "
			 "freeze, exec, boot", done + 1, sc->updates);
		return (int)(3 * done + 2);
	}
	snprintf(text, len, "update %u/%u: guest running again; recovering: "
		 "replay, build, diff/reconcile, switch", done + 1, sc->updates);
	return (int)(3 * done + 3);
}

/* Profile of update k (1-based): the k-th of --to, or its only one. */
static void update_profile(const struct world_scenario *sc, unsigned int k,
			   char *out, size_t len)
{
	const char *p = sc->to;
	for (unsigned int i = 1; i < k && strchr(p, ','); i++)
		p = strchr(p, ',') + 1;
	size_t n = strcspn(p, ",");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

static void progress(struct cli_scenario *cs, const struct world_tick *t, int stage,
		     const char *text)
{
	if (cs->quiet)
		return;
	if (!cs->tty) {
		/* Plain lines: every report line the kernels wrote, each
		 * stage seen in between (a short one may pass unseen). */
		for (unsigned int r = cs->last_reports + 1; r <= t->reports; r++) {
			char prof[64];
			if (r == 1)
				snprintf(prof, sizeof(prof), "%s", cs->sc.from);
			else
				update_profile(&cs->sc, r - 1, prof, sizeof(prof));
			if (r == 1)
				fprintf(stderr, "iohandover %s: %6.2f s  kernel %s "
					"booted, DMA running\n", cs->cmd,
					(double)t->ns / 1e9, prof);
			else
				fprintf(stderr, "iohandover %s: %6.2f s  update %u/%u "
					"done: kernel %s running\n", cs->cmd,
					(double)t->ns / 1e9, r - 1, cs->sc.updates,
					prof);
		}
		if (stage != cs->last_stage && stage % 3 != 1) {
			fprintf(stderr, "iohandover %s: %6.2f s  %s\n", cs->cmd,
				(double)t->ns / 1e9, text);
			cs->last_line_ns = t->ns;
		} else if (t->ns - cs->last_line_ns >= CLI_PROGRESS_EVERY_NS) {
			/* Long work (a large guest's first boot, a re-pin):
			 * a line every few seconds that it still runs. */
			fprintf(stderr, "iohandover %s: %6.2f s  still: %s\n",
				cs->cmd, (double)t->ns / 1e9, text);
			cs->last_line_ns = t->ns;
		}
		if (t->reports != cs->last_reports)
			cs->last_line_ns = t->ns;
		cs->last_reports = t->reports;
		return;
	}
	/* Anything over a second gets a bar, redrawn ten times a second. */
	if (t->ns < 1000000000ull ||
	    (stage == cs->last_stage && t->ns - cs->last_draw_ns < 100000000ull))
		return;
	cs->last_draw_ns = t->ns;
	/* The line fits the terminal: bar, time, then as much text as fits. */
	struct winsize ws;
	unsigned int cols = !ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col ?
			    ws.ws_col : 80;
	unsigned int total = 3 * cs->sc.updates + 2;
	unsigned int width = cols >= 60 ? 24 : cols >= 30 ? cols - 30 + 4 : 4;
	int room = (int)cols - (int)width - 12 - 1;
	if (room < 0)
		room = 0;
	unsigned int fill = (unsigned int)((uint64_t)(stage + 1) * width / total);
	char bar[32];
	for (unsigned int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r\033[K[%s] %5.1f s  %.*s", bar, (double)t->ns / 1e9,
		room, text);
	fflush(stderr);
	cs->drawn = true;
}

static void on_tick(void *arg, const struct world_tick *t)
{
	struct cli_scenario *cs = arg;
	if (cs->nr_samples == cs->cap_samples) {
		size_t cap = cs->cap_samples ? cs->cap_samples * 2 : 1024;
		struct cli_sample *s = realloc(cs->samples, cap * sizeof(*s));
		if (!s)
			return;
		cs->samples = s;
		cs->cap_samples = cap;
	}
	struct cli_sample *s = &cs->samples[cs->nr_samples++];
	memset(s, 0, sizeof(*s));
	s->ns = t->ns;
	s->paused = atomic_load(&t->regs->guest_paused);
	s->reports = t->reports;
	for (unsigned int d = 0; d < cs->sc.devices; d++) {
		const struct hw_dev_stats *st = &t->regs->dev_stats[d];
		s->ops[d] = atomic_load(&st->ops);
		s->errors[d] = atomic_load(&st->faults) + atomic_load(&st->conflicts) +
			       atomic_load(&st->misdirected) +
			       atomic_load(&st->lost_writes) +
			       atomic_load(&st->bbm_violations) +
			       atomic_load(&st->use_after_free) +
			       atomic_load(&st->torn_config) +
			       atomic_load(&st->stale_atc);
	}
	char text[160];
	int stage = stage_of(cs, t, text, sizeof(text));
	progress(cs, t, stage, text);
	cs->last_stage = stage;
}

int cli_scenario_save_dir(struct cli_scenario *cs, const char *dir)
{
	struct stat st;
	if (!*dir || (mkdir(dir, 0777) && errno != EEXIST)) {
		cli_err(cs->cmd, "--save-handover: cannot create '%s': %s", dir,
			*dir ? strerror(errno) : "empty name");
		return -1;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK)) {
		cli_err(cs->cmd, "--save-handover: '%s' is not a writable directory",
			dir);
		return -1;
	}
	if (!realpath(dir, cs->save_dir) ||
	    strlen(cs->save_dir) + 32 >= sizeof(cs->save_dir)) {
		cli_err(cs->cmd, "--save-handover: '%s': %s", dir,
			errno ? strerror(errno) : "path too long");
		cs->save_dir[0] = '\0';
		return -1;
	}
	cs->sc.save_dir = cs->save_dir;
	return 0;
}

void cli_scenario_saved_blobs(const struct cli_scenario *cs, FILE *out)
{
	if (!cs->save_dir[0])
		return;
	unsigned int n = 0;
	/* Generation g writes the blob it passes to g + 1. */
	for (unsigned int g = 1; g <= cs->sc.updates + 1; g++) {
		char path[4200];
		struct stat st;
		snprintf(path, sizeof(path), "%s/handover-gen%03u.dtb", cs->save_dir, g);
		if (stat(path, &st) || (uint64_t)st.st_mtime + 1 < cs->t_start_s)
			continue;
		fprintf(out, "%s %s\n", n ? "          " : "handovers:", path);
		n++;
	}
	if (!n)
		fprintf(out, "handovers: none saved in %s (no kernel passed one on)\n",
			cs->save_dir);
}

/*
 * Ctrl-C during a run: the terminal's SIGINT reaches the machine and the
 * kernels too (one process group), and they die with the runner anyway
 * (PR_SET_PDEATHSIG); the reports are still temporary files, which the
 * runner's handler removes (catch_fatal_signals), so the old reports
 * stay as they were.
 */
static int scenario_run(struct cli_scenario *cs);

int cli_scenario_run(struct cli_scenario *cs)
{
	return scenario_run(cs);
}

static int scenario_run(struct cli_scenario *cs)
{
	cs->tty = isatty(STDERR_FILENO);
	cs->sc.tick = on_tick;
	cs->sc.tick_arg = cs;
	fflush(NULL);
	int err = world_run(&cs->sc, &cs->res);
	if (cs->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	if (err) {
		cli_err(cs->cmd, "the scenario could not start or stop cleanly: %s",
			strerror(-err));
		return CLI_INTERNAL;
	}
	cs->ran = true;
	return CLI_OK;
}

int cli_scenario_write_reports(struct cli_scenario *cs)
{
	int rc = CLI_OK;
	if (cs->json) {
		bool ok = !cli_report_json(cs, cs->json) && !ferror(cs->json);
		if (commit_report(&cs->json, tmp_json, cs->json_path, ok)) {
			cli_err(cs->cmd, "%s: writing '%s' failed", cs->json_opt,
				cs->json_path);
			rc = CLI_INTERNAL;
		}
	}
	if (cs->svg) {
		bool ok = !cli_report_svg(cs, cs->svg) && !ferror(cs->svg);
		if (commit_report(&cs->svg, tmp_svg, cs->svg_path, ok)) {
			cli_err(cs->cmd, "%s: writing '%s' failed", cs->svg_opt,
				cs->svg_path);
			rc = CLI_INTERNAL;
		}
	}
	return rc;
}

int cli_scenario_exit(const struct cli_scenario *cs)
{
	return cs->ran && cs->res.hitless ? CLI_OK : CLI_NOT_HITLESS;
}

void cli_scenario_free(struct cli_scenario *cs)
{
	/* Opened but never written (the run failed): leave the old files. */
	drop_report(&cs->json, tmp_json);
	drop_report(&cs->svg, tmp_svg);
	free(cs->samples);
	cs->samples = NULL;
	world_result_free(&cs->res);
}

/* ---- the summary -------------------------------------------------------- */

const char *cli_scenario_strategy(const struct cli_scenario *cs)
{
	return cs->sc.strategies ? cs->sc.strategies :
	       cs->sc.strategy->name;
}

void cli_fmt_bytes(char *out, size_t len, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;
	double v = (double)b;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(out, len, "%.0f %s", v, unit[u]);
	else
		snprintf(out, len, "%.1f %s", v, unit[u]);
}

void cli_fmt_us(char *out, size_t len, uint64_t us)
{
	if (us < 1000)
		snprintf(out, len, "%" PRIu64 " us", us);
	else if (us < 1000000)
		snprintf(out, len, "%.2f ms", (double)us / 1e3);
	else
		snprintf(out, len, "%.2f s", (double)us / 1e6);
}

static const char *nz(uint64_t v)
{
	return v ? "  <-- " : "";
}

static const char *what_happened(const char *strategy, bool naive)
{
	if (!strcmp(strategy, "deserialize"))
		return "the new kernel adopted the preserved table as it was "
		       "(immutable from then on)";
	if (!strcmp(strategy, "verify"))
		return "the new kernel replayed the mappings, checked the "
		       "preserved table holds exactly them, and owns it again";
	if (!strcmp(strategy, "stop-the-world"))
		return "guest and DMA stopped from the freeze (after preserve) "
		       "until the rebuilt tables were\n  switched to and the old "
		       "ones freed";
	if (naive)
		return "the new kernel rebuilt the table with its own defaults "
		       "and switched to it without reconciling the layout";
	return "the new kernel rebuilt the table with the old one's features, "
	       "matched it to the\n  preserved layout (split/join where it "
	       "differed), switched every device to it\n  and freed the old table";
}

/*
 * Whether phase p runs inside the guest blackout (lu/outgoing.c pauses
 * the guest after preserve; lu/boot.c resumes it after guest_resume, or
 * for stop-the-world after the tables were rebuilt, switched and freed,
 * before finish).
 */
bool cli_phase_paused(bool stop_the_world, unsigned int p)
{
	if (stop_the_world)
		return p >= LU_PH_FREEZE_TO_EXEC && p <= LU_PH_FREE;
	return p >= LU_PH_FREEZE_TO_EXEC && p <= LU_PH_RESUME;
}

/* A mask of stream IDs as "0,1,4"; "none" when empty. */
void cli_fmt_devices(char *buf, size_t len, uint32_t mask)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned int d = 0; d < 32 && n + 4 < len; d++)
		if (mask >> d & 1)
			n += (size_t)snprintf(buf + n, len - n, "%s%u", n ? "," : "", d);
	if (!n)
		snprintf(buf, len, "none");
}

/* Per IOMMU unit: its devices and counters (several units only). */
static void units_summary(const struct world_result *r, FILE *out)
{
	fprintf(out, "\nIOMMU units           devices   commands    syncs  IOTLB hits"
		"    misses     walks\n");
	for (unsigned int u = 0; u < r->nr_units; u++) {
		const struct world_unit_totals *t = &r->unit[u];
		uint32_t mask = 0;
		char devs[64];
		for (unsigned int d = 0; d < r->devices; d++)
			if (r->dev_unit[d] == u)
				mask |= 1u << d;
		cli_fmt_devices(devs, sizeof(devs), mask);
		fprintf(out, "  unit %u %20s %10" PRIu64 " %8" PRIu64 " %11" PRIu64
			" %9" PRIu64 " %9" PRIu64 "\n", u, devs, t->cmds, t->syncs,
			t->iotlb_hits, t->iotlb_misses, t->walks);
	}
}

void cli_scenario_summary(const struct cli_scenario *cs, FILE *out)
{
	const struct world_scenario *sc = &cs->sc;
	const struct world_result *r = &cs->res;
	const struct world_dma_totals *t = &r->dma;
	char gm[32], buf[32];
	cli_fmt_bytes(gm, sizeof(gm), sc->guest_mem);
	fprintf(out, "Live update of the host kernel: %s -> %s, %u update%s, "
		"strategy %s%s\n", sc->from, sc->to, sc->updates,
		sc->updates == 1 ? "" : "s", cli_scenario_strategy(cs),
		sc->naive ? " (naive)" : "");
	char bbm[32] = "no BBM levels";
	if (pt_fmt_bbm_levels(sc->fmt))
		snprintf(bbm, sizeof(bbm), "BBM level %u", sc->bbm_level);
	char ats[64] = "";
	if (sc->ats)
		snprintf(ats, sizeof(ats), ", %u with ATS%s", sc->ats,
			 sc->naive_ats ? " (ATCs never invalidated)" : "");
	char part[64] = "";
	if (sc->preserve && sc->preserve < sc->devices)
		snprintf(part, sizeof(part), ", %u of them preserved", sc->preserve);
	char nu[64] = "";
	if (sc->iommus > 1)
		snprintf(nu, sizeof(nu), " x %u units%s", sc->iommus,
			 sc->naive_units ? " (invalidated on the first only)" : "");
	fprintf(out, "IOMMU %s%s, %s; guest %s, %u device%s%s doing DMA "
		"throughout%s%s\n", pt_fmt_name(sc->fmt), nu, bbm, gm,
		sc->devices, sc->devices == 1 ? "" : "s", ats, part,
		sc->hotplug ? ", memory hotplug during recovery" : "");
	if (sc->pasids)
		fprintf(out, "PASIDs: device 0 has %u%s\n", sc->pasids,
			!sc->replay_pasids ? " in use (a live update refuses it)" :
			sc->naive_pasids ? ", each on a table of its own, replayed "
			"(CDs switched without CFGI_CD)" :
			", each on a table of its own, preserved and replayed");
	if (sc->nested)
		fprintf(out, "nested: the guest's ARM stage 1 over the host's stage 2"
			"%s%s\n", sc->naive_nested ? "; combined entries never "
			"invalidated by VMID" : "", sc->naive_s1 ?
			"; the new kernels rewrite the guest's stage 1" : "");
	fputc('\n', out);
	fprintf(out, "verdict: %s\n", r->hitless ? "HITLESS: every DMA was "
		"translated as mapped, no fault of any kind" : "FAILED: not hitless");
	if (r->kernel_error[0])
		fprintf(out, "  kernel: %s\n", r->kernel_error);
	for (unsigned int i = 0; i < r->nr_upd; i++)
		if (!r->upd[i].ok)
			fprintf(out, "  update %u: %s\n", i + 1, r->upd[i].error);
	if (!r->hitless && r->nr_upd < sc->updates)
		fprintf(out, "  %u of %u updates reported (kernel exit status %d)\n",
			r->nr_upd, sc->updates, r->kernel_status);

	fprintf(out, "\nDMA (all devices)\n");
	fprintf(out, "  operations          %12" PRIu64 "\n", t->ops);
	fprintf(out, "  faults              %12" PRIu64 "%s\n", t->faults, nz(t->faults));
	fprintf(out, "  conflict aborts     %12" PRIu64 "%s\n", t->conflicts, nz(t->conflicts));
	fprintf(out, "  misdirected         %12" PRIu64 "%s\n", t->misdirected, nz(t->misdirected));
	fprintf(out, "  lost writes         %12" PRIu64 "%s\n", t->lost_writes, nz(t->lost_writes));
	fprintf(out, "  BBM violations      %12" PRIu64 "%s\n", t->bbm_violations, nz(t->bbm_violations));
	fprintf(out, "  use after free      %12" PRIu64 "%s\n", t->use_after_free, nz(t->use_after_free));
	if (sc->ats) {
		fprintf(out, "  stale ATC entries   %12" PRIu64 "%s\n", t->stale_atc,
			nz(t->stale_atc));
		fprintf(out, "  ATC hits/misses     %12" PRIu64 " / %" PRIu64
			", %" PRIu64 " invalidations\n", t->atc_hits,
			t->atc_misses, t->atc_invalidations);
	}
	cli_fmt_us(buf, sizeof(buf), t->max_gap_us);
	fprintf(out, "  longest DMA gap     %12s\n", buf);
	if (r->nr_units > 1)
		units_summary(r, out);

	for (unsigned int i = 0; i < r->nr_upd; i++) {
		const struct world_update *u = &r->upd[i];
		cli_fmt_us(buf, sizeof(buf), u->blackout_us);
		fprintf(out, "\nupdate %u: %s -> %s, %s, %s\n", i + 1, u->from, u->to,
			u->strategy, u->ok ? "ok" : "FAILED");
		fprintf(out, "  %s\n", what_happened(u->strategy, sc->naive));
		fprintf(out, "  guest blackout      %12s\n", buf);
		bool stw = !strcmp(u->strategy, "stop-the-world");
		for (unsigned int p = 0; p < LU_NR_PHASES; p++) {
			cli_fmt_us(buf, sizeof(buf), u->phases_us[p]);
			fprintf(out, "  %-19s %12s%s\n", lu_phase_name((enum lu_phase)p),
				buf, cli_phase_paused(stw, p) ? stw ?
				"  (guest and DMA stopped)" : "  (guest paused)" : "");
		}
		cli_fmt_bytes(buf, sizeof(buf), u->extra_table_bytes);
		fprintf(out, "  extra table memory  %12s\n", buf);
		if (u->aborted_devices) {
			char pd[64], ad[64];
			cli_fmt_devices(pd, sizeof(pd), u->preserved_devices);
			cli_fmt_devices(ad, sizeof(ad), u->aborted_devices);
			fprintf(out, "  devices preserved   %12s\n", pd);
			fprintf(out, "  devices in abort    %12s  (not preserved)\n", ad);
		}
		if (u->splits || u->joins)
			fprintf(out, "  reconcile           %" PRIu64 " splits, %" PRIu64
				" joins\n", u->splits, u->joins);
		for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
			if (u->pasids[d])
				fprintf(out, "  device %-2u PASIDs    %12u  replayed, "
					"each on its own table\n", d, u->pasids[d]);
		if (u->nested) {
			cli_fmt_bytes(buf, sizeof(buf), u->s1_bytes_checked);
			fprintf(out, "  guest stage 1       %12s  compared after the "
				"update\n", buf);
		}
	}
	if (sc->crash_at) {
		fprintf(out, "\ncrash: the host kernel was killed at '%s'%s\n",
			sc->crash_at, r->crashed ? "" : " (never reached)");
		if (r->crashed)
			fprintf(out, "  recovery kernel: %s%s%s; leaked %" PRIu64
				" bytes, %" PRIu64 " table pages freed twice\n",
				r->recovery_mode, r->recovery_error[0] ? ": " : "",
				r->recovery_error, r->recovery_leaked_bytes,
				r->recovery_bad_frees);
	}
	cli_fmt_us(buf, sizeof(buf), r->wall_us);
	fprintf(out, "\nwall time %s\n", buf);
}
