// SPDX-License-Identifier: MIT
/*
 * The iohandover command as a user runs it (the built binary, as a
 * subprocess): every subcommand's --help, every input error refused with
 * exit 2 and the option named before anything starts, a run of each
 * strategy on a small guest checked through its JSON report, the demo's
 * files, dump and check round trips, and the bench suite's merged JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ioh/version.h"
#include "tests/lib/kho_fixture.h"

static char tmpdir[] = "/tmp/ioh-cli-test-XXXXXX";

/* Run `iohandover ARGS` in dir (NULL: tmpdir); stdout+stderr into out. */
static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/iohandover' %s 2>&1 </dev/null",
		 dir ? dir : tmpdir, kho_test_bindir(), args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	while (fgetc(p) != EOF)
		;
	int st = pclose(p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

#define run(out, ...) run_in(NULL, out, sizeof(out), __VA_ARGS__)

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle)) {
		printf("expected \"%s\" in:\n%s\n", needle, text);
		fail();
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;
	return !stat(path, &st);
}

/* ---- minimal JSON reading: the value after "key": from `from` on ---- */

static const char *json_at(const char *from, const char *key)
{
	char pat[96];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(from, pat);
	if (!p) {
		printf("no key %s in report\n", key);
		fail();
	}
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return p;
}

static uint64_t json_num(const char *from, const char *key)
{
	const char *p = json_at(from, key);
	assert_true(*p >= '0' && *p <= '9');
	return strtoull(p, NULL, 10);
}

static bool json_is(const char *from, const char *key, const char *value)
{
	const char *p = json_at(from, key);
	return !strncmp(p, value, strlen(value));
}

/* ---- help and usage ----------------------------------------------------- */

static void test_help(void **state)
{
	(void)state;
	static char out[16384];
	static const char *const cmds[] = { "demo", "run", "check", "dump",
					    "bench" };
	assert_int_equal(run(out, "--help"), 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		char line[64];
		snprintf(line, sizeof(line), "  %-10s ", cmds[i]);
		assert_has(out, line);
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		char u[64];
		snprintf(u, sizeof(u), "usage: iohandover %s", cmds[i]);
		assert_int_equal(run(out, "%s --help", cmds[i]), 0);
		assert_has(out, u);
		assert_has(out, "Exit status");
		assert_int_equal(run(out, "%s -h", cmds[i]), 0);
		assert_has(out, u);
		assert_int_equal(run(out, "%s --frobnicate", cmds[i]), 2);
		assert_has(out, "--frobnicate");
	}
	assert_int_equal(run(out, "frobnicate"), 2);
	assert_has(out, "unknown command 'frobnicate'");
	assert_int_equal(run(out, "%s", ""), 2);
	assert_int_equal(run(out, "demo extra"), 2);
	assert_has(out, "unexpected argument 'extra'");
}

/* ---- run: input errors ---------------------------------------------------- */

static void test_run_input_errors(void **state)
{
	(void)state;
	static char out[8192];
	static const struct {
		const char *args, *names;
	} bad[] = {
		{ "--guest-mem 4X", "--guest-mem: '4X'" },
		{ "--guest-mem 3M", "--guest-mem: '3M'" },
		{ "--guest-mem 4M", "--guest-mem: '4M'" },
		{ "--guest-mem", "--guest-mem needs a value" },
		/* Sizes this machine cannot back, the limit named. */
		{ "--guest-mem 128T", "--guest-mem: '128T'" },
		{ "--guest-mem 64T", "allocator's limit of 65536 GiB (KHO_RAM_MAX)" },
		{ "--guest-mem 1T --va-bits 39", "39-bit IOVA width" },
		{ "--guest-mem 512G --va-bits 39 --hotplug", "with its hotplug slots" },
		{ "--guest-mem 1T --folio-mix 4k=1000000", "(KHO_FDT_MAX)" },
		{ "--guest-mem 4T --folio-mix 4k=1000000,scatter=0",
		  "(KHO_FDT_MAX)" },
		{ "--folio-mix 1g=x", "--folio-mix: '1g=x'" },
		{ "--folio-mix 2g=5", "--folio-mix: '2g=5'" },
		{ "--devices 0", "--devices: '0'" },
		{ "--devices 17", "--devices: '17'" },
		{ "--devices two", "--devices: 'two'" },
		{ "--preserve 3", "--preserve: 3 devices to preserve, but --devices "
				  "gives only 2" },
		{ "--devices 4 --preserve 0", "--preserve: '0'" },
		{ "--preserve 17", "--preserve: '17'" },
		{ "--pasids 1048576", "--pasids: '1048576'" },
		{ "--inject unpreserved-running", "needs a device that is not "
						  "preserved" },
		{ "--format ppc64", "--format: unknown format 'ppc64'" },
		{ "--format vtd-ss --va-bits 40", "--va-bits: 40" },
		{ "--from v9", "--from: unknown profile 'v9'" },
		{ "--to v3", "--to: unknown profile 'v3'" },
		{ "--to v2,v7", "--to: unknown profile 'v7'" },
		{ "--to v2,", "--to: 'v2,'" },
		{ "--updates 3 --to v1,v2", "--to: 2 profiles for 3 updates" },
		{ "--strategy replay", "--strategy: unknown strategy 'replay'" },
		{ "--strategy verify,rebuild", "--strategy: 2 strategies for 1 "
					       "update" },
		{ "--updates 2 --strategy verify,foo", "--strategy: unknown "
						       "strategy 'foo'" },
		{ "--bbm-level 3", "--bbm-level: '3'" },
		{ "--format vtd-ss --bbm-level 2", "--bbm-level: BBM levels" },
		{ "--updates 0", "--updates: '0'" },
		{ "--updates 129", "--updates: '129'" },
		{ "--seed -1", "--seed: '-1'" },
		{ "--run-ms 0", "--run-ms: '0'" },
		{ "--inject everything", "--inject: unknown injection" },
		{ "--json /nonexistent/dir/r.json", "--json: cannot write "
						    "'/nonexistent/dir/r.json'" },
		{ "--svg /nonexistent/dir/t.svg", "--svg: cannot write "
						  "'/nonexistent/dir/t.svg'" },
		{ "--frobnicate", "unknown option '--frobnicate'" },
		{ "stray", "unexpected argument 'stray'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = run(out, "run --json early.json %s", bad[i].args);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("  run %s -> %d: %s", bad[i].args, rc, out);
		assert_int_equal(rc, 2);
		assert_has(out, bad[i].names);
		/* Refused before anything started: no machine, no summary. */
		assert_null(strstr(out, "verdict"));
		assert_false(exists("early.json"));
		assert_true(t1.tv_sec - t0.tv_sec < 5);
	}
	/* The report given with a bad --svg is not left behind. */
	assert_int_equal(run(out, "run --json left.json --svg /nonexistent/t.svg"), 2);
	assert_false(exists("left.json"));
}

/* ---- run: each strategy, through its JSON report -------------------------- */

static const char *const phases[] = {
	"preserve", "unmap_ram", "freeze_to_exec", "boot_parse", "guest_resume",
	"replay_repin", "build", "diff_reconcile", "switch", "free", "finish",
};

static void check_hitless_report(const char *j, const char *strategy,
				  const char *format, unsigned int updates)
{
	assert_true(json_is(j, "verdict", "\"hitless\""));
	const char *dma = json_at(j, "dma");
	assert_true(json_num(dma, "ops") > 0);
	static const char *const zero[] = { "faults", "conflict_aborts",
		"misdirected", "lost_writes", "bbm_violations", "use_after_free" };
	for (size_t i = 0; i < sizeof(zero) / sizeof(*zero); i++)
		assert_int_equal(json_num(dma, zero[i]), 0);
	(void)json_num(dma, "max_gap_us");
	const char *sc = json_at(j, "scenario");
	assert_true(json_is(sc, "strategy", strategy));
	assert_true(json_is(sc, "format", format));
	(void)json_num(sc, "guest_mem");
	(void)json_at(sc, "folio_mix");
	(void)json_num(sc, "seed");
	const char *u = json_at(j, "updates");
	for (unsigned int i = 0; i < updates; i++) {
		u = json_at(u, "index");
		assert_int_equal(strtoull(u, NULL, 10), i + 1);
		assert_true(json_is(u, "strategy", strategy));
		assert_true(json_is(u, "format", format));
		(void)json_num(u, "bbm_level");
		assert_true(json_is(u, "ok", "true"));
		assert_true(json_num(u, "vm_blackout_us") > 0);
		const char *ph = json_at(u, "phases_us");
		for (size_t p = 0; p < sizeof(phases) / sizeof(*phases); p++)
			(void)json_num(ph, phases[p]);
		(void)json_num(u, "extra_table_bytes");
		u = json_at(u, "hotplug_wait_us");
	}
	assert_null(strstr(u, "\"index\":"));
}

static void test_run_strategies(void **state)
{
	(void)state;
	static char out[16384];
	static const char *const strat[] = { "deserialize", "verify", "rebuild",
					     "stop-the-world" };
	for (size_t i = 0; i < sizeof(strat) / sizeof(*strat); i++) {
		int rc = run(out, "run --guest-mem 64M --run-ms 40 --strategy %s "
			     "--json s.json --svg s.svg", strat[i]);
		printf("  %s: exit %d\n", strat[i], rc);
		if (rc)
			printf("%s", out);
		assert_int_equal(rc, 0);
		assert_has(out, "verdict: HITLESS");
		assert_has(out, "report: s.json");
		char q[40];
		snprintf(q, sizeof(q), "\"%s\"", strat[i]);
		const char *j = slurp("s.json");
		assert_non_null(j);
		check_hitless_report(j, q, "\"arm-s2\"", 1);
		const char *svg = slurp("s.svg");
		assert_non_null(svg);
		assert_true(!strncmp(svg, "<svg ", 5));
		assert_has(svg, "</svg>\n");
		assert_has(svg, "HITLESS");
		assert_has(svg, "guest paused");
		assert_has(svg, "device 1 DMA");
	}
}

/* The other formats end to end, a chain of updates, hotplug. */
static void test_run_formats_chain(void **state)
{
	(void)state;
	static char out[16384];
	static const char *const fmts[] = { "arm-s1", "vtd-ss", "x86-64" };
	for (size_t i = 0; i < sizeof(fmts) / sizeof(*fmts); i++) {
		int rc = run(out, "run --guest-mem 64M --run-ms 40 --format %s "
			     "--json f.json", fmts[i]);
		printf("  %s: exit %d\n", fmts[i], rc);
		assert_int_equal(rc, 0);
		char q[40];
		snprintf(q, sizeof(q), "\"%s\"", fmts[i]);
		check_hitless_report(slurp("f.json"), "\"rebuild\"", q, 1);
	}
	int rc = run(out, "run --guest-mem 64M --run-ms 30 --updates 3 "
		     "--to v2,v1,v2 --devices 3 --json c.json --save-handover blobs");
	printf("  chain: exit %d\n", rc);
	assert_int_equal(rc, 0);
	const char *j = slurp("c.json");
	check_hitless_report(j, "\"rebuild\"", "\"arm-s2\"", 3);
	assert_int_equal(json_num(json_at(j, "scenario"), "devices"), 3);
	assert_true(json_is(json_at(j, "updates"), "to", "\"v2\""));
	const char *second = strstr(j, "\"index\": 2,");
	assert_non_null(second);
	assert_true(json_is(second, "to", "\"v1\""));
	/* Plain progress lines when stderr is not a terminal. */
	assert_has(out, "iohandover run: ");
	assert_has(out, "update 3/3");
	/* Every blob passed on, one per update, named at the end. */
	for (int g = 1; g <= 3; g++) {
		char blob[64];
		snprintf(blob, sizeof(blob), "blobs/handover-gen%03d.dtb", g);
		assert_has(out, blob);
		const char *b = slurp(blob);
		assert_non_null(b);
		assert_true(!strncmp(b, "\xd0\x0d\xfe\xed", 4));
	}
	/* The writer names itself in the blob, as --version does. */
	assert_int_equal(run(out, "handover show blobs/handover-gen002.dtb"), 0);
	assert_has(out, "written by: iohandover " IOH_VERSION "\n");
	assert_int_equal(run(out, "handover show --json blobs/handover-gen002.dtb"), 0);
	assert_has(out, "\"producer\": \"iohandover " IOH_VERSION "\"");
	assert_int_equal(run(out, "run --save-handover c.json"), 2);
	assert_has(out, "--save-handover: 'c.json' is not a writable directory");
	assert_int_equal(run(out, "run --save-handover /proc/none/x"), 2);
	assert_has(out, "--save-handover: cannot create");
	rc = run(out, "run --guest-mem 64M --run-ms 30 --hotplug --json h.json");
	printf("  hotplug: exit %d\n", rc);
	assert_int_equal(rc, 0);
	j = slurp("h.json");
	check_hitless_report(j, "\"rebuild\"", "\"arm-s2\"", 1);
	assert_true(json_is(json_at(j, "updates"), "hotplug_done", "true"));
}

/* Not hitless: exit 1, verdict failed, the refusal in the report. */
static void test_run_not_hitless(void **state)
{
	(void)state;
	static char out[16384];
	int rc = run(out, "run --guest-mem 64M --run-ms 30 --inject table-prot "
		     "--json bad.json --svg bad.svg");
	assert_int_equal(rc, 1);
	assert_has(out, "verdict: FAILED");
	const char *j = slurp("bad.json");
	assert_true(json_is(j, "verdict", "\"failed\""));
	assert_true(json_is(json_at(j, "updates"), "ok", "false"));
	assert_has(slurp("bad.svg"), "FAILED");
	/* Naive rebuild on ARM without BBM level 2: the machine sees it. */
	rc = run(out, "run --guest-mem 256M --run-ms 60 --naive --json n.json");
	printf("  naive: exit %d\n", rc);
	assert_int_equal(rc, 1);
	j = slurp("n.json");
	assert_true(json_is(j, "verdict", "\"failed\""));
	assert_true(json_is(json_at(j, "scenario"), "naive", "true"));
}

/* --crash-at: the points listed, a crash recovered (and one before any
 * handover exists, which can only end in abort mode). */
static void test_run_crash(void **state)
{
	(void)state;
	static char out[16384];
	assert_int_equal(run(out, "run --crash-at list"), 0);
	assert_has(out, "serialize");
	assert_has(out, "finish");
	assert_int_equal(run(out, "run --crash-at nowhere"), 2);
	assert_has(out, "--crash-at");
	int rc = run(out, "run --guest-mem 64M --run-ms 30 --crash-at free "
		     "--json crash.json");
	assert_int_equal(rc, 0);
	assert_has(out, "recovery kernel: completed");
	const char *j = slurp("crash.json");
	assert_true(json_is(j, "verdict", "\"hitless\""));
	assert_true(json_is(json_at(j, "crash"), "recovery", "\"completed\""));
	rc = run(out, "run --guest-mem 64M --run-ms 30 --crash-at serialize");
	assert_int_equal(rc, 1);
	assert_has(out, "abort");
}

/* ---- demo --------------------------------------------------------------- */

static void test_demo(void **state)
{
	(void)state;
	static char out[16384];
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/demo", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	int rc = run_in(dir, out, sizeof(out), "demo");
	printf("%s", out);
	assert_int_equal(rc, 0);
	assert_has(out, "v1 -> v2");
	assert_has(out, "strategy rebuild");
	assert_has(out, "IOMMU arm-s2, BBM level 0; guest 4 GiB, 2 devices");
	assert_has(out, "verdict: HITLESS");
	assert_has(out, "guest blackout");
	assert_has(out, "conflict aborts");
	assert_has(out, "report.json");
	assert_has(out, "timeline.svg");
	char p[4300];
	snprintf(p, sizeof(p), "%s/report.json", dir);
	const char *j = slurp(p);
	assert_non_null(j);
	check_hitless_report(j, "\"rebuild\"", "\"arm-s2\"", 1);
	assert_int_equal(json_num(json_at(j, "scenario"), "guest_mem"), 4ull << 30);
	snprintf(p, sizeof(p), "%s/timeline.svg", dir);
	assert_true(exists(p));
	/* report.json cannot be written there: refused before the run. */
	snprintf(p, sizeof(p), "%s/report.json", dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(run_in(dir, out, sizeof(out), "demo"), 2);
	assert_has(out, "demo: current directory: cannot write 'report.json'");
	assert_null(strstr(out, "verdict"));
}

/* ---- dump and check ------------------------------------------------------- */

/* Rewrite a dump with its first leaf, a 2M block at 0, as 512 4K pages. */
#define SPLIT_FIRST_BLOCK(in, out)                                            \
	"awk '/^0x0 0x0 0x200000 1 /{for(i=0;i<512;i++)printf \"0x%x 0x%x "   \
	"0x1000 0 0x7 0\\n\", i*4096, i*4096; next} /^end /{print \"end \" " \
	"($2+511); next} {print}' " in " > " out

/* Write a dump of leaves (iova, size, level, contig) with PA = IOVA. */
static void write_dump(const char *name, const uint64_t (*leaves)[4], size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "iohandover-table-dump 1\nformat arm-s2\nva-bits 48\n");
	uint64_t lines = 0;
	for (size_t i = 0; i < n; i++)
		for (uint64_t va = leaves[i][0]; va < leaves[i][0] + leaves[i][1];
		     va += leaves[i][2], lines++)
			fprintf(f, "0x%llx 0x%llx 0x%llx %llu 0x7 %llu\n",
				(unsigned long long)va, (unsigned long long)va,
				(unsigned long long)leaves[i][2],
				(unsigned long long)leaves[i][3],
				(unsigned long long)(leaves[i][2] == (64ull << 10) ||
						     leaves[i][2] == (32ull << 20)));
	fprintf(f, "end %llu\n", (unsigned long long)lines);
	assert_int_equal(fclose(f), 0);
}

/*
 * AMD v1 and RISC-V: the v2 profile builds replicated pages, v1 does not,
 * so their dumps differ in granule only; with no BBM levels the switch is
 * hitless, and check says why. --bbm-level means nothing there.
 */
static void test_check_replicated_formats(void **state)
{
	(void)state;
	static char out[65536];
	/* AMD: 64M of unscattered 4K folios is 32 x 2M in v1, one 64M
	 * replicated page in v2. */
	assert_int_equal(run(out, "dump --format amd-v1 --profile v1 --guest-mem 64M "
			     "--folio-mix 1g=0,4k=1000000,scatter=0 --raw amd-v1-v1.dump"), 0);
	assert_int_equal(run(out, "dump --format amd-v1 --profile v2 --guest-mem 64M "
			     "--folio-mix 1g=0,4k=1000000,scatter=0 --raw amd-v1-v2.dump"), 0);
	/* RISC-V: 16 x 4K against one 64K NAPOT page, written by hand. */
	static const char *const rv[2] = { "riscv-v1.dump", "riscv-v2.dump" };
	for (unsigned int k = 0; k < 2; k++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", tmpdir, rv[k]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "iohandover-table-dump 1\nformat riscv\nva-bits 48\n");
		if (k)
			fprintf(f, "0x10000 0x50000 0x10000 0 0x7 1\nend 1\n");
		for (unsigned int i = 0; !k && i < 16; i++)
			fprintf(f, "0x%x 0x%x 0x1000 0 0x7 0\n", 0x10000 + i * 4096,
				0x50000 + i * 4096);
		if (!k)
			fprintf(f, "end 16\n");
		assert_int_equal(fclose(f), 0);
	}
	static const char *const fmts[2] = { "amd-v1", "riscv" };
	for (unsigned int f = 0; f < 2; f++) {
		int rc = run(out, "check --quiet %s-v1.dump %s-v2.dump", fmts[f],
			     fmts[f]);
		assert_int_equal(rc, 0);
		assert_has(out, "translation 0 B");
		assert_null(strstr(out, "granule 0 B"));
		assert_has(out, "has no BBM levels, and a change of page size alone");
		assert_int_equal(run(out, "check --bbm-level 1 %s-v1.dump %s-v2.dump",
				     fmts[f], fmts[f]), 2);
		assert_has(out, "has no BBM levels");
	}
}

/*
 * One granule range over two leaf levels: OLD has 4K pages at [30M, 32M)
 * and 2M blocks at [32M, 64M), NEW 64K runs and one 32M run there. At
 * every address only the contiguous hint differs, so BBM level 1 is
 * enough, piece by piece; the whole range taken at once looked like a
 * change of leaf size (level 2).
 */
static void test_check_per_piece(void **state)
{
	(void)state;
	static char out[65536];
	const uint64_t M = 1ull << 20, K = 1ull << 10;
	/* { first iova, total bytes, leaf size, level } */
	static const uint64_t old_leaves[][4] = {
		{ 30ull << 20, 2ull << 20, 4ull << 10, 0 },
		{ 32ull << 20, 32ull << 20, 2ull << 20, 1 },
	};
	const uint64_t new_leaves[][4] = {
		{ 30 * M, 2 * M, 64 * K, 0 },
		{ 32 * M, 32 * M, 32 * M, 1 },
	};
	write_dump("pieces-old.dump", old_leaves, 2);
	write_dump("pieces-new.dump", new_leaves, 2);
	assert_int_equal(run(out, "check --bbm-level 1 pieces-old.dump "
			     "pieces-new.dump"), 0);
	assert_has(out, "needs BBM level 1");
	assert_null(strstr(out, "needs BBM level 2"));
	assert_int_equal(run(out, "check pieces-old.dump pieces-new.dump"), 1);
	/* Blocks at one level, pages at the other: that piece needs 2. */
	const uint64_t mixed[][4] = {
		{ 30 * M, 2 * M, 64 * K, 0 },
		{ 32 * M, 32 * M, 4 * K, 0 },
	};
	write_dump("pieces-mixed.dump", mixed, 2);
	assert_int_equal(run(out, "check --bbm-level 1 pieces-old.dump "
			     "pieces-mixed.dump"), 1);
	assert_has(out, "0x0000000001e00000-0x0000000001ffffff");
	assert_has(out, "0x0000000002000000-0x0000000003ffffff");
	assert_has(out, "needs BBM level 1");
	assert_has(out, "needs BBM level 2");
	assert_int_equal(run(out, "check --bbm-level 2 pieces-old.dump "
			     "pieces-mixed.dump"), 0);
}

static void test_dump_check(void **state)
{
	(void)state;
	static char out[65536];
	/* 2M folios only: v2 builds 32M contiguous runs v1 does not. */
	const char *g = "--guest-mem 128M --folio-mix 1g=0,4k=0";
	assert_int_equal(run(out, "dump --profile v1 %s --raw v1.dump", g), 0);
	assert_has(out, "table arm-s2");
	assert_has(out, "2M x 64");
	assert_has(out, "leaves: 64 (64 x 2M), 3 table pages");
	assert_int_equal(run(out, "dump --profile v2 %s", g), 0);
	assert_has(out, "leaves: 4 (4 x 32M contiguous)");
	assert_int_equal(run(out, "dump --profile v2 %s --raw v2.dump --no-tree", g),
			 0);
	assert_null(strstr(out, "table arm-s2"));
	const char *raw = slurp("v2.dump");
	assert_true(!strncmp(raw, "iohandover-table-dump 1\n", 24));
	assert_has(raw, "\nformat arm-s2\nva-bits 48\n");
	assert_has(raw, "\nend 4\n");

	assert_int_equal(run(out, "check v1.dump v1.dump"), 0);
	assert_has(out, "same");
	assert_has(out, "verdict: hitless");
	assert_int_equal(run(out, "check v1.dump v2.dump"), 1);
	assert_has(out, "granule");
	assert_has(out, "needs BBM level 1");
	assert_has(out, "NOT hitless at BBM level 0");
	assert_int_equal(run(out, "check --bbm-level 1 v1.dump v2.dump"), 0);
	assert_int_equal(run(out, "check --bbm-level 2 v2.dump v1.dump"), 0);
	/* The first 2M block as 512 4K pages: sizes change, level 2 only. */
	assert_int_equal(system(SPLIT_FIRST_BLOCK("v1.dump", "split.dump")), 0);
	assert_int_equal(run(out, "check --bbm-level 1 v1.dump split.dump"), 1);
	assert_has(out, "needs BBM level 2");
	assert_int_equal(run(out, "check --bbm-level 2 v1.dump split.dump"), 0);
	/* A translation that moved: never hitless. */
	assert_int_equal(system("sed 's/^0x2000000 0x2000000 /0x2000000 "
				"0x9e00000 /' v1.dump > moved.dump"), 0);
	assert_int_equal(run(out, "check --bbm-level 2 v1.dump moved.dump"), 1);
	assert_has(out, "translation");
	assert_has(out, "never hitless");
	/* VT-d and x86-64 have no BBM levels: granule is tolerated. */
	assert_int_equal(run(out, "dump --format vtd-ss --profile v1 %s "
			     "--raw t1.dump --no-tree", g), 0);
	assert_int_equal(system(SPLIT_FIRST_BLOCK("t1.dump", "t2.dump")), 0);
	assert_int_equal(run(out, "check t1.dump t2.dump"), 0);
	assert_has(out, "tolerated");
	assert_int_equal(run(out, "check v1.dump t2.dump"), 2);
	assert_has(out, "OLD is arm-s2, NEW is vtd-ss");
	assert_int_equal(run(out, "check --bbm-level 2 t1.dump t2.dump"), 2);
	assert_has(out, "--bbm-level: vtd-ss has no BBM levels");

	/* Bad dumps name the file and line. */
	assert_int_equal(system("head -n 5 v1.dump > cut.dump && "
				"printf 'not a dump\\n' > junk.dump && "
				"sed 's/^0x0 0x0 0x200000 1 /0x0 0x0 0x300000 1 /' "
				"v1.dump > size.dump && "
				"sed 's/^0x200000 /0x100000 /' v1.dump > overlap.dump"), 0);
	assert_int_equal(run(out, "check v1.dump cut.dump"), 2);
	assert_has(out, "cut.dump: no 'end' line");
	assert_int_equal(run(out, "check junk.dump v1.dump"), 2);
	assert_has(out, "junk.dump:1: not a table dump");
	assert_int_equal(run(out, "check v1.dump size.dump"), 2);
	assert_has(out, "size.dump:6: size 0x300000");
	assert_int_equal(run(out, "check v1.dump overlap.dump"), 2);
	assert_has(out, "overlap.dump:7:");
	assert_int_equal(run(out, "check v1.dump /nonexistent.dump"), 2);
	assert_has(out, "/nonexistent.dump: No such file");
	assert_int_equal(run(out, "check v1.dump"), 2);
	assert_has(out, "needs two table dumps");
	assert_int_equal(run(out, "check --bbm-level 5 v1.dump v2.dump"), 2);
	assert_has(out, "--bbm-level: '5'");

	/* dump's own input errors. */
	assert_int_equal(run(out, "dump --profile v9"), 2);
	assert_has(out, "--profile: unknown profile 'v9'");
	assert_int_equal(run(out, "dump --format ppc64"), 2);
	assert_has(out, "--format: unknown format 'ppc64'");
	assert_int_equal(run(out, "dump --guest-mem 4X"), 2);
	assert_has(out, "--guest-mem: '4X'");
	assert_int_equal(run(out, "dump --raw /nonexistent/dir/x.dump"), 2);
	assert_has(out, "--raw: cannot write");
	assert_int_equal(run(out, "dump --folio-mix 4k"), 2);
	assert_has(out, "--folio-mix");
}

/* ---- bench -------------------------------------------------------------- */

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_bench(void **state)
{
	(void)state;
	static char out[65536];
	int rc = run(out, "bench --quick --only hw,pt --json b.json");
	printf("  bench: exit %d\n", rc);
	assert_int_equal(rc, 0);
	assert_has(out, "== bench_hw --quick");
	assert_has(out, "== bench_pt --quick");
	assert_has(out, "wrote b.json");
	const char *j = slurp("b.json");
	assert_non_null(j);
	const char *b = json_at(j, "benches");
	assert_has(b, "\"hw\": {");
	assert_has(b, "\"pt\": {");
	assert_has(j, "\"bench\": \"pt\"");
	assert_has(j, "\"failed\": []");
	/* A benchmark that fails: exit 1, named, the others kept. */
	assert_int_equal(mkdir("fake", 0755), 0);
	write_script("fake/bench_broken", "exit 4\n");
	write_script("fake/bench_fine", "echo '{\"bench\": \"fine\"}' > \"$2\"\n");
	assert_int_equal(run(out, "bench --dir fake --json f.json"), 1);
	assert_has(out, "bench_broken failed (exit status 4)");
	j = slurp("f.json");
	assert_has(j, "\"broken\": {\"error\": \"exit status 4\"}");
	assert_has(j, "\"fine\": {\"bench\": \"fine\"}");
	assert_has(j, "\"failed\": [\"broken\"]");
	assert_int_equal(run(out, "bench --only nope"), 2);
	assert_has(out, "--only: no benchmark 'nope'");
	assert_int_equal(run(out, "bench --json /nonexistent/b.json --only hw"), 2);
	assert_has(out, "--json: cannot write");
	assert_int_equal(run(out, "bench --dir /"), 2);
	assert_has(out, "--dir");
}

/*
 * Ctrl-C: the terminal sends SIGINT to the whole foreground process
 * group. The runner, the machine and every kernel go, none is left
 * behind, and no shared-memory file stays (RAM and the region are
 * memfds, nothing under /dev/shm).
 */
static void test_run_interrupted(void **state)
{
	(void)state;
	char bin[4096];
	snprintf(bin, sizeof(bin), "%s/iohandover", kho_test_bindir());
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		if (!freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(126);
		execl(bin, "iohandover", "run", "--guest-mem", "1G", "--run-ms",
		      "5000", "--json", "int.json", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	/* Mid-run: the run lasts at least 5 s of DMA. */
	struct timespec ts = { 1, 0 };
	nanosleep(&ts, NULL);
	assert_int_equal(killpg(pid, SIGINT), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
	/* Every process of the group ends (orphans are reaped by init). */
	bool gone = false;
	for (int i = 0; i < 300 && !gone; i++) {
		gone = killpg(pid, 0) && errno == ESRCH;
		if (!gone) {
			struct timespec t = { 0, 100000000 };
			nanosleep(&t, NULL);
		}
	}
	assert_true(gone);
	assert_false(exists("int.json"));
	DIR *d = opendir("/dev/shm");
	for (struct dirent *e; d && (e = readdir(d));)
		assert_null(strstr(e->d_name, "ioh"));
	if (d)
		closedir(d);
}

/* ---- profiles of real drivers --------------------------------------------- */

/*
 * Each profile's policy, seen in the leaf sizes of a dump of a known
 * folio layout: 64M of physically contiguous 4K folios (runs and 2M
 * blocks possible everywhere), and 2G of 1G folios.
 */
static void test_profiles_leaf_sizes(void **state)
{
	(void)state;
	static char out[1 << 16];
	static const struct {
		const char *fmt, *prof, *mem, *mix, *leaves;
	} cases[] = {
		{ "arm-s2", "io-pgtable-arm", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 32 (32 x 2M)" },
		{ "arm-s1", "genpt-armv8", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 2 (2 x 32M contiguous)" },
		{ "arm-s2", "io-pgtable-arm", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 2 (2 x 1G)" },
		{ "vtd-ss", "intel-iommu", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 2 (2 x 1G)" },
		{ "vtd-ss", "genpt-vtdss", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 2 (2 x 1G)" },
		{ "vtd-ss", "intel-iommu-sllps-2m", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 1024 (1024 x 2M)" },
		{ "vtd-ss", "genpt-vtdss-sllps-2m", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 1024 (1024 x 2M)" },
		{ "vtd-ss", "intel-iommu-sp_off", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 16384 (16384 x 4K)" },
		{ "vtd-ss", "genpt-vtdss-sp_off", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 16384 (16384 x 4K)" },
		{ "amd-v1", "amd-v1", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 2 (2 x 32M contiguous)" },
		{ "amd-v1", "amd-v1-v2_pgsizes_only", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 32 (32 x 2M)" },
		{ "amd-v1", "amd-v1-v2_pgsizes_only", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 2 (2 x 1G)" },
		{ "amd-v1", "amd-v1-nohugepages", "64M", "1g=0,4k=1000000,scatter=0",
		  "leaves: 16384 (16384 x 4K)" },
		{ "x86-64", "x86-64-fs-no1g", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 1024 (1024 x 2M)" },
		{ "riscv", "riscv-iommu", "2G", "1g=1000000,4k=0,scatter=0",
		  "leaves: 2 (2 x 1G)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		printf("  %s %s %s\n", cases[i].fmt, cases[i].prof, cases[i].mem);
		assert_int_equal(run(out, "dump --format %s --profile %s --guest-mem %s "
				     "--folio-mix %s", cases[i].fmt, cases[i].prof,
				     cases[i].mem, cases[i].mix), 0);
		assert_has(out, cases[i].leaves);
	}
}

/* A profile exists for its formats only: refused elsewhere, with the
 * list of those that do; --help lists them by format. */
static void test_profiles_per_format(void **state)
{
	(void)state;
	static char out[1 << 16];
	assert_int_equal(run(out, "dump --format vtd-ss --profile io-pgtable-arm"), 2);
	assert_has(out, "--profile: profile 'io-pgtable-arm' does not exist for "
		   "format vtd-ss (profiles of vtd-ss: v1, v2, intel-iommu,");
	assert_int_equal(run(out, "run --format amd-v1 --from intel-iommu"), 2);
	assert_has(out, "--from: profile 'intel-iommu' does not exist for format "
		   "amd-v1 (profiles of amd-v1: v1, v2, amd-v1,");
	assert_int_equal(run(out, "run --format arm-s2 --from io-pgtable-arm "
			     "--updates 2 --to genpt-armv8,amd-v1"), 2);
	assert_has(out, "--to: profile 'amd-v1' does not exist for format arm-s2");
	/* The default profiles exist everywhere; a real one alone too. */
	assert_int_equal(run(out, "run --format riscv --to genpt-riscv --guest-mem 64M "
			     "--run-ms 20 --quiet"), 0);
	assert_int_equal(run(out, "run --help"), 0);
	assert_has(out, "arm-s2  v1, v2, io-pgtable-arm, genpt-armv8");
	assert_has(out, "amd-v1-nohugepages");
	assert_int_equal(run(out, "dump --help"), 0);
	assert_has(out, "genpt-vtdss-sp_off");
	assert_int_equal(run(out, "dump --list-profiles"), 0);
	assert_has(out, "amd-v1-nohugepages\n  formats: amd-v1\n  builds:  the same with "
		   "amd_iommu=nohugepages: 4K only\n  source:  drivers/iommu/amd/init.c");
	assert_has(out, "io-pgtable-arm\n  formats: arm-s1 arm-s2\n");
}

/* ---- matrix --------------------------------------------------------------- */

static bool tmp_files_left(void)
{
	static char out[4096];
	run_in(NULL, out, sizeof(out), "--help >/dev/null; ls -a | grep -c tmp");
	return atoi(out) > 0;
}

static void test_matrix(void **state)
{
	(void)state;
	static char out[1 << 16], whole[1 << 16];
	const char *sel = "--formats arm-s2 --bbm-levels 0 --strategies rebuild,naive "
			  "--guest-mem 256M --run-ms 60 --quiet -j 2";
	assert_int_equal(run(out, "matrix %s --md m.md --json m.json --html m.html",
			     sel), 0);
	/* io-pgtable-arm -> genpt-armv8 and back, rebuild and naive. */
	assert_has(out, "4 scenarios: 2 hitless, 2 naive rebuilds not hitless, 0 other");
	assert_has(out, "io-pgtable-arm -> genpt-armv8  plain    rebuild        hitless");
	assert_has(out, "io-pgtable-arm -> genpt-armv8  plain    naive rebuild  DMA errors");
	assert_has(out, "genpt-armv8 -> io-pgtable-arm  plain    rebuild        hitless     reconcile 256 MiB: 0 splits,");
	assert_has(out, "naive rebuild  DMA errors  its own layout, 256 MiB at another page "
		   "size, unreconciled: needs a reconcile or BBM level 2");
	const char *md = slurp("m.md");
	assert_non_null(md);
	assert_has(md, "| format | BBM | from -> to | devices | strategy | verdict |");
	assert_has(md, "| arm-s2 | 0 | genpt-armv8 -> io-pgtable-arm | plain | naive rebuild | **DMA errors** |");
	const char *html = slurp("m.html");
	assert_non_null(html);
	assert_has(html, "<tr class=\"ok\"><td>arm-s2</td>");
	assert_has(html, "<tr class=\"dma\"><td>arm-s2</td>");
	const char *js = slurp("m.json");
	assert_non_null(js);
	assert_has(js, "{\"iohandover_matrix\":1,\"shard\":1,\"shards\":1,\"total\":4,");
	assert_has(js, "\"verdict\":\"DMA errors\"");

	/* VT-d tolerates another page size: rebuild switches without a
	 * reconcile; sp_off's 4K-only limit holds in both directions. */
	assert_int_equal(run(out, "matrix --formats vtd-ss --profiles intel-iommu,"
			     "intel-iommu-sp_off --strategies rebuild --guest-mem 64M "
			     "--run-ms 20 --quiet"), 0);
	assert_has(out, "intel-iommu -> intel-iommu-sp_off  plain    rebuild   hitless  64 MiB at "
		   "another page size, which this IOMMU tolerates");
	assert_has(out, "intel-iommu-sp_off -> intel-iommu  plain    rebuild   hitless  same layout: "
		   "one root store");

	/* Device setups: the naive ones must be caught, the PASID device
	 * refused, partial preservation hitless; each setup runs with the
	 * strategies that apply to it (the naive rebuild with plain only). */
	assert_int_equal(run(out, "matrix --devices ats-naive,partial,pasid,nested,nested-naive,"
			     "units8,units8-naive --formats "
			     "arm-s2 --bbm-levels 0 --profiles v1,v2 --strategies "
			     "rebuild,naive --guest-mem 64M --run-ms 30 --quiet -j 2 "
			     "--json d.json"), 0);
	assert_has(out, "14 scenarios: 6 hitless, 0 naive rebuilds not hitless, 8 naive "
		   "variants caught or refusals refused, 0 other rows not as they must be");
	assert_has(out, "v1 -> v2    ats-naive     rebuild   DMA errors  an ATC invalidation");
	assert_has(out, "v2 -> v1    partial       rebuild   hitless");
	assert_has(out, "v1 -> v2    pasid         rebuild   refused     refused before anything "
		   "changed (live update refused (EOPNOTSUPP): device 0 has 4 PASIDs");
	assert_has(out, "v2 -> v1    nested        rebuild   hitless");
	assert_has(out, "v1 -> v2    nested-naive  rebuild   DMA errors  a TLBI by VMID");
	/* 16 devices behind 8 IOMMU units; the naive kernel invalidates the
	 * first unit only. */
	assert_has(out, "v2 -> v1    units8        rebuild   hitless");
	assert_has(out, "v1 -> v2    units8-naive  rebuild   DMA errors  every unit that "
		   "cached the table invalidated and synced");
	js = slurp("d.json");
	assert_non_null(js);
	assert_has(js, "\"devices\":\"ats-naive\"");
	assert_int_equal(run(out, "matrix --merge d.json"), 0);
	assert_has(out, "14 scenarios: 6 hitless, 0 naive rebuilds not hitless, 8 naive");
	/* PASIDs replayed: hitless; switched without CFGI_CD: caught. */
	assert_int_equal(run(out, "matrix --devices pasid-replay,pasid-naive "
			     "--formats arm-s2 --bbm-levels 0 --profiles v1,v2 "
			     "--strategies rebuild --guest-mem 64M --run-ms 30 "
			     "--quiet -j 2"), 0);
	assert_has(out, "4 scenarios: 2 hitless, 0 naive rebuilds not hitless, 2 naive "
		   "variants caught or refusals refused, 0 other rows not as they must be");
	assert_has(out, "v1 -> v2    pasid-replay  rebuild   hitless");
	assert_has(out, "v1 -> v2    pasid-naive   rebuild   DMA errors  a CFGI_CD and SYNC");

	/* Headless Chromium reads the page: nothing overflows or overlaps. */
	if (!system("command -v chromium >/dev/null 2>&1 || command -v "
		    "chromium-browser >/dev/null 2>&1")) {
		char cmd[8192];
		snprintf(cmd, sizeof(cmd), "cd '%s' && $(command -v chromium || command "
			 "-v chromium-browser) --headless --no-sandbox --disable-gpu "
			 "--window-size=1400,900 --dump-dom 'file://%s/m.html#check' "
			 "2>/dev/null | grep -c 'data-overlaps=\"0\"'", tmpdir, tmpdir);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		char got[32] = "";
		assert_non_null(fgets(got, sizeof(got), p));
		pclose(p);
		assert_int_equal(atoi(got), 1);
	} else {
		printf("  chromium not installed: the HTML page's layout is not checked\n");
	}

	/* Two shards, merged: the same matrix. */
	assert_int_equal(run(whole, "matrix --merge m.json"), 0);
	assert_int_equal(run(out, "matrix %s --shard 1/2 --json s1.json", sel), 0);
	assert_has(out, "2 scenarios:");
	assert_int_equal(run(out, "matrix %s --shard 2/2 --json s2.json", sel), 0);
	assert_int_equal(run(out, "matrix --merge s2.json s1.json --md merged.md"), 0);
	assert_has(out, "4 scenarios: 2 hitless, 2 naive rebuilds not hitless");
	const char *a = strstr(whole, "arm-s2"), *b = strstr(out, "arm-s2");
	assert_non_null(a);
	assert_non_null(b);
	/* Same rows in the same order (timings differ). */
	for (unsigned int r = 0; r < 4; r++) {
		assert_int_equal(strncmp(a, b, 60), 0);
		a = strstr(a + 1, "\narm-s2");
		b = strstr(b + 1, "\narm-s2");
	}
	assert_true(exists("merged.md"));

	/* Bad input: named, exit 2, nothing written. */
	static const struct { const char *args, *msg; } bad[] = {
		{ "matrix --shard 0/2 --json x.json", "--shard: '0/2' is not K/N" },
		{ "matrix --shard 3/2 --json x.json", "--shard: '3/2' is not K/N" },
		{ "matrix --shard 1/2x --json x.json", "--shard: '1/2x' is not K/N" },
		{ "matrix --shard 1/2", "--shard: a shard writes JSON: give --json FILE" },
		{ "matrix --formats ppc", "--formats: unknown 'ppc'" },
		{ "matrix --formats arm-s2,", "--formats: 'arm-s2,' is not a comma list" },
		{ "matrix --bbm-levels 3", "--bbm-levels: unknown '3'" },
		{ "matrix --profiles nope", "--profiles: unknown 'nope'" },
		{ "matrix --strategies fast", "--strategies: unknown 'fast'" },
		{ "matrix --devices gpu", "--devices: unknown 'gpu' (known: plain, ats," },
		{ "matrix --devices pasid --strategies naive", "no scenario" },
		{ "matrix -j 0", "-j: '0' is not 1-64" },
		{ "matrix --guest-mem 3M", "--guest-mem: '3M'" },
		{ "matrix --formats vtd-ss --profiles io-pgtable-arm,genpt-armv8",
		  "no scenario" },
		{ "matrix --merge", "--merge: no files given" },
		{ "matrix --merge nothere.json", "--merge: cannot read 'nothere.json'" },
		{ "matrix --merge m.md", "m.md:1: not an iohandover matrix file" },
		{ "matrix --merge s1.json", "--merge: shards missing: 2/2" },
		{ "matrix --merge s1.json s1.json s2.json", "shard 1/2 given twice" },
		{ "matrix --merge m.json s1.json", "is a shard of another matrix" },
		{ "matrix --merge --shard 1/2 s1.json", "--merge joins files" },
		{ "matrix --json /nonexistent/m.json", "--json: cannot write '/nonexistent/m.json'" },
		{ "matrix --formats arm-s2 extra", "unexpected argument 'extra'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		printf("  %s\n", bad[i].args);
		assert_int_equal(run(out, "%s", bad[i].args), 2);
		assert_has(out, bad[i].msg);
	}
	assert_false(exists("x.json"));
	/* Broken files, each named at its line. */
	FILE *f = fopen("cut.json", "w");
	assert_non_null(f);
	const char *src = slurp("s1.json");
	fwrite(src, 1, strlen(src) - 4, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run(out, "matrix --merge cut.json s2.json"), 2);
	assert_has(out, "cut.json: truncated");
	f = fopen("bent.json", "w");
	assert_non_null(f);
	src = slurp("s1.json");
	const char *nl = strchr(src, '\n');
	fprintf(f, "%.*s{\"i\":0,\"format\":\"arm-s9\"}\n]}\n", (int)(nl - src + 1), src);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run(out, "matrix --merge bent.json s2.json"), 2);
	assert_has(out, "bent.json:2: field \"from\" missing or wrong");
	assert_false(tmp_files_left());
	/* Interrupted: no output, no temporary file left. */
	run(out, "--help >/dev/null; timeout -s INT 1 '%s/iohandover' matrix "
	    "--formats arm-s2 --quiet --json int.json --md int.md", kho_test_bindir());
	assert_false(exists("int.json"));
	assert_false(exists("int.md"));
	assert_false(tmp_files_left());
}

static int setup(void **state)
{
	(void)state;
	/* Files the commands write land in tmpdir, read back from here. */
	return mkdtemp(tmpdir) && !chdir(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return chdir("/") || system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_run_input_errors),
		cmocka_unit_test(test_run_strategies),
		cmocka_unit_test(test_run_formats_chain),
		cmocka_unit_test(test_run_not_hitless),
		cmocka_unit_test(test_run_crash),
		cmocka_unit_test(test_run_interrupted),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_dump_check),
		cmocka_unit_test(test_check_per_piece),
		cmocka_unit_test(test_check_replicated_formats),
		cmocka_unit_test(test_profiles_leaf_sizes),
		cmocka_unit_test(test_profiles_per_format),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
