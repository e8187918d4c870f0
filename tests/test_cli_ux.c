// SPDX-License-Identifier: MIT
/*
 * The iohandover command behaving like the tools it sits beside (issue
 * 13), through the built binary: reports replaced only once complete and
 * the old ones kept on SIGINT/SIGTERM with no process left behind,
 * contradictory options refused before anything starts, '-' as standard
 * input and output, ranges and causes named, options of `kernel` checked
 * before its first generation boots, stop-the-world phases labelled as
 * measured, one blackout in the summary, the JSON and the SVG, progress
 * lines off a terminal, and --version.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/lib/kho_fixture.h"

static char tmpdir[] = "/tmp/ioh-cli-ux-XXXXXX";

/* Run `iohandover ARGS` in tmpdir through sh (redirections allowed);
 * stdout (and stderr unless ARGS redirects it) into out. */
static int run_sh(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int run_sh(char *out, size_t len, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && exec 2>&1 && '%s/iohandover' %s",
		 tmpdir, kho_test_bindir(), args);
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

#define run(out, ...) run_sh(out, sizeof(out), __VA_ARGS__)

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle)) {
		printf("expected \"%s\" in:\n%s\n", needle, text);
		fail();
	}
}

static void assert_lacks(const char *text, const char *needle)
{
	if (strstr(text, needle)) {
		printf("did not expect \"%s\" in:\n%s\n", needle, text);
		fail();
	}
}

static char *slurp(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void put(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return !stat(path, &st);
}

/* Files in tmpdir whose name contains part. */
static unsigned int count_files(const char *part)
{
	DIR *d = opendir(tmpdir);
	assert_non_null(d);
	unsigned int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strstr(e->d_name, part) != NULL;
	closedir(d);
	return n;
}

/* Processes other than us whose command line mentions tag. */
static unsigned int processes_with(const char *tag)
{
	DIR *d = opendir("/proc");
	assert_non_null(d);
	unsigned int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    atoi(e->d_name) == getpid())
			continue;
		char path[300], buf[8192];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		/* A zombie not yet reaped has an empty command line. */
		n += len && strstr(buf, tag) != NULL;
	}
	closedir(d);
	return n;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- safe outputs --------------------------------------------------------- */

/* A long run writing r.json and t.svg over older ones, stopped by sig once
 * it is under way: the old files stay, no temporary file or process is
 * left. */
static void interrupted_run(int sig)
{
	put("r.json", "{\"old\": 1}\n");
	put("t.svg", "<svg>old</svg>\n");
	char bin[512], json[600], svg[600], save[600];
	snprintf(bin, sizeof(bin), "%s/iohandover", kho_test_bindir());
	snprintf(json, sizeof(json), "%s/r.json", tmpdir);
	snprintf(svg, sizeof(svg), "%s/t.svg", tmpdir);
	snprintf(save, sizeof(save), "%s/blobs", tmpdir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(bin, bin, "run", "--json", json, "--svg", svg, "--run-ms",
		      "60000", "--guest-mem", "64M", "--quiet", "--save-handover",
		      save, (char *)NULL);
		_exit(127);
	}
	/* Under way: the first kernel is running (its command line names
	 * the blob directory). */
	for (int i = 0; i < 3000 && processes_with(save) < 2; i++)
		sleep_ms(10);
	assert_true(processes_with(save) >= 2);
	assert_int_equal(kill(pid, sig), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == sig);
	/* The machine and the kernel die with the runner. */
	for (int i = 0; i < 500 && processes_with(save); i++)
		sleep_ms(10);
	assert_int_equal(processes_with(save), 0);
	assert_string_equal(slurp("r.json"), "{\"old\": 1}\n");
	assert_string_equal(slurp("t.svg"), "<svg>old</svg>\n");
	assert_int_equal(count_files(".tmp."), 0);
}

/*
 * A run on a terminal of cols columns (a pseudo-terminal on stderr):
 * everything written there, into buf. The run lasts over a second, so
 * the progress bar is drawn.
 */
static size_t run_on_terminal(unsigned short cols, char *buf, size_t len)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	struct winsize ws = { .ws_row = 24, .ws_col = cols };
	assert_int_equal(ioctl(slave, TIOCSWINSZ, &ws), 0);
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/iohandover", kho_test_bindir());
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (chdir(tmpdir) || null < 0)
			_exit(126);
		dup2(null, 1);
		dup2(slave, 2);
		close(master);
		close(slave);
		execl(bin, bin, "run", "--guest-mem", "64M", "--run-ms", "1500",
		      (char *)NULL);
		_exit(127);
	}
	close(slave);
	/* Until the last writer closes the terminal (EIO on Linux). */
	size_t n = 0;
	for (;;) {
		ssize_t r = read(master, buf + n, len - 1 - n);
		if (r > 0 && (n += (size_t)r) < len - 1)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	buf[n] = '\0';
	close(master);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	return n;
}

/* On a terminal the bar is redrawn in place and every redraw fits the
 * terminal's width, narrow or wide. */
static void test_progress_fits_terminal(void **state)
{
	(void)state;
	static const unsigned short widths[] = { 24, 45, 132 };
	static char buf[1 << 18];
	for (size_t w = 0; w < sizeof(widths) / sizeof(*widths); w++) {
		run_on_terminal(widths[w], buf, sizeof(buf));
		size_t bars = 0;
		char *save = NULL;
		for (char *line = strtok_r(buf, "\r\n", &save); line;
		     line = strtok_r(NULL, "\r\n", &save)) {
			/* What the terminal shows: the erase-line sequence
			 * takes no column. */
			size_t shown = 0;
			for (const char *c = line; *c; c++) {
				if (!strncmp(c, "\033[K", 3)) {
					c += 2;
					continue;
				}
				shown++;
			}
			if (line[0] == '\033' || line[0] == '[') {
				bars += strchr(line, '#') != NULL;
				if (shown > widths[w]) {
					printf("%u columns, a %zu-column line: '%s'\n",
					       widths[w], shown, line);
					fail();
				}
			}
		}
		printf("  %u columns: %zu bar redraws\n", widths[w], bars);
		assert_true(bars > 0);
	}
}

static void test_interrupt_keeps_old_reports(void **state)
{
	(void)state;
	interrupted_run(SIGINT);
	interrupted_run(SIGTERM);
	/* A run that completes replaces them. */
	static char out[16384];
	assert_int_equal(run(out, "run --json r.json --svg t.svg --run-ms 30 "
			     "--guest-mem 64M --quiet"), 0);
	assert_has(slurp("r.json"), "\"tool\": \"iohandover\"");
	assert_has(slurp("t.svg"), "</svg>");
	assert_int_equal(count_files(".tmp."), 0);
}

/* ---- contradictions ------------------------------------------------------- */

static void refused(const char *args, const char *n1, const char *n2)
{
	static char out[16384];
	put("keep.json", "old\n");
	int rc = run(out, "run %s --run-ms 30 --guest-mem 64M --quiet "
		     "--json keep.json", args);
	if (rc != 2) {
		printf("run %s: exit %d, expected 2:\n%s\n", args, rc, out);
		fail();
	}
	assert_has(out, n1);
	assert_has(out, n2);
	/* Refused before anything started: nothing ran, nothing written. */
	assert_lacks(out, "verdict");
	assert_string_equal(slurp("keep.json"), "old\n");
}

static void test_contradictions_refused(void **state)
{
	(void)state;
	refused("--naive --strategy verify", "--naive", "verify");
	refused("--naive --strategy deserialize", "--naive", "deserialize");
	refused("--naive --strategy stop-the-world", "--naive", "stop-the-world");
	refused("--naive --updates 2 --strategy rebuild,verify", "--naive", "verify");
	refused("--hotplug --strategy deserialize", "--hotplug", "immutable");
	refused("--hotplug --strategy stop-the-world", "--hotplug", "stop-the-world");
	refused("--ats 3", "--ats", "3 devices with ATS, but the scenario has 2");
	refused("--ats=0", "--ats", "'0' is not a number from 1");
	refused("--devices 4 --ats 17", "--ats", "'17'");
	refused("--naive-ats", "--naive-ats", "without --ats");
	refused("--replay-pasids", "--replay-pasids", "without --pasids N");
	refused("--pasids 16 --replay-pasids", "--replay-pasids",
		"PASIDs 1 to 15");
	refused("--pasids 2 --replay-pasids --nested", "--replay-pasids",
		"--nested");
	refused("--pasids 2 --naive-pasids", "--naive-pasids",
		"without --replay-pasids");
	refused("--nested --format vtd-ss", "--nested (format vtd-ss)",
		"only an ARM stage-2 table can be a nesting parent");
	refused("--nested --format arm-s1", "--nested (format arm-s1)",
		"nesting parent");
	refused("--nested --ats", "--nested", "ATS on nested devices is not "
		"modelled");
	refused("--naive-nested", "--naive-nested", "need a nested guest");
	refused("--naive-s1", "--naive-s1", "need a nested guest");
	refused("--svg keep.json", "same file", "keep.json");
	refused("--svg ./keep.json", "same file", "--svg");
	/* What stays allowed. */
	static char out[16384];
	assert_int_equal(run(out, "run --naive --bbm-level 2 --run-ms 30 "
			     "--guest-mem 64M --quiet"), 0);
	assert_int_equal(run(out, "run --hotplug --strategy verify --run-ms 30 "
			     "--guest-mem 64M --quiet"), 0);
	/* --ats, --ats N, --ats=N: all devices, or the first N. */
	assert_int_equal(run(out, "run --ats --run-ms 30 --guest-mem 64M"), 0);
	assert_has(out, "2 devices, 2 with ATS");
	assert_has(out, "stale ATC entries              0");
	assert_int_equal(run(out, "run --devices 3 --ats 2 --run-ms 30 "
			     "--guest-mem 64M"), 0);
	assert_has(out, "3 devices, 2 with ATS");
	assert_int_equal(run(out, "run --ats=1 --run-ms 30 --guest-mem 64M"), 0);
	assert_has(out, "2 devices, 1 with ATS");
	/* The naive kernels are caught: exit 1. */
	assert_int_equal(run(out, "run --ats --naive-ats --run-ms 30 "
			     "--guest-mem 64M"), 1);
	assert_has(out, "FAILED");
	assert_has(out, "stale ATC entries");
	/* PASIDs: refused by default (exit 1, the VM runs on); replayed,
	 * hitless with their counts shown; the naive switch caught. */
	assert_int_equal(run(out, "run --pasids 2 --run-ms 30 --guest-mem 64M"), 1);
	assert_has(out, "device 0 has 2 PASIDs in use");
	assert_int_equal(run(out, "run --pasids 2 --replay-pasids --run-ms 30 "
			     "--guest-mem 64M"), 0);
	assert_has(out, "PASIDs: device 0 has 2, each on a table of its own");
	assert_has(out, "device 0  PASIDs               2  replayed");
	assert_int_equal(run(out, "run --pasids 2 --replay-pasids --naive-pasids "
			     "--run-ms 30 --guest-mem 64M"), 1);
	assert_has(out, "FAILED");
	assert_lacks(out, "use after free                 0");
	/* A nested guest: hitless, its stage 1 compared; the naive kernels
	 * caught (a stage 2 freed under combined entries; stage 1 rewritten). */
	assert_int_equal(run(out, "run --nested --run-ms 30 --guest-mem 64M"), 0);
	assert_has(out, "nested: the guest's ARM stage 1 over the host's stage 2");
	assert_has(out, "guest stage 1              2 MiB  compared after the update");
	assert_int_equal(run(out, "run --nested --naive-nested --run-ms 30 "
			     "--guest-mem 64M"), 1);
	assert_has(out, "FAILED");
	assert_lacks(out, "use after free                 0");
	assert_int_equal(run(out, "run --nested --naive-s1 --strategy deserialize "
			     "--run-ms 30 --guest-mem 64M"), 1);
	assert_has(out, "the guest's stage-1 table");
	assert_has(out, "changed across the update");
}

/*
 * --iommus: 1 to 8 units, at most one per device, each refused with what
 * is wrong and exit 2 before anything ran; the naive variant needs two
 * units. Devices go round robin over the units, the report has each
 * unit's counters, and the naive kernel (the first unit invalidated
 * only) is caught.
 */
static void test_iommus(void **state)
{
	(void)state;
	refused("--iommus 9", "--iommus", "'9' is not a number from 1 to 8");
	refused("--iommus 0", "--iommus", "'0' is not a number from 1 to 8");
	refused("--iommus two", "--iommus", "'two' is not a number");
	refused("--iommus 3", "--iommus: 3 IOMMU units", "has 2 devices");
	refused("--devices 4 --iommus 5", "--iommus: 5 IOMMU units",
		"has 4 devices");
	refused("--naive-units", "--naive-units", "one unit");
	refused("--iommus 1 --naive-units", "--naive-units", "one unit");
	static char out[16384];
	assert_int_equal(run(out, "run --iommus 4 --devices 8 --run-ms 30 "
			     "--guest-mem 64M"), 0);
	assert_has(out, "IOMMU arm-s2 x 4 units, BBM level 0");
	assert_has(out, "HITLESS");
	assert_has(out, "IOMMU units");
	assert_has(out, "  unit 0                  0,4");
	assert_has(out, "  unit 3                  3,7");
	/* One unit (the default): no units table. */
	assert_int_equal(run(out, "run --run-ms 30 --guest-mem 64M"), 0);
	assert_lacks(out, "IOMMU units");
	assert_int_equal(run(out, "run --iommus 2 --naive-units --run-ms 30 "
			     "--guest-mem 64M"), 1);
	assert_has(out, "(invalidated on the first only)");
	assert_has(out, "FAILED");
	assert_lacks(out, "use after free                 0");
}

/* ---- '-' ------------------------------------------------------------------ */

static void test_dash_is_stdio(void **state)
{
	(void)state;
	static char out[1 << 16];
	/* run --json -: the report alone on stdout, the summary on stderr. */
	assert_int_equal(run(out, "run --json - --run-ms 30 --guest-mem 64M "
			     "--quiet 2>/dev/null"), 0);
	assert_true(out[0] == '{');
	assert_has(out, "\"verdict\": \"hitless\"");
	assert_lacks(out, "wall time");
	assert_false(exists("-"));
	assert_int_equal(run(out, "run --svg - --run-ms 30 --guest-mem 64M "
			     "--quiet 2>/dev/null"), 0);
	assert_true(!strncmp(out, "<svg", 4) || !strncmp(out, "<?xml", 5));
	assert_false(exists("-"));
	assert_int_equal(run(out, "run --json - --svg - --quiet"), 2);
	assert_has(out, "same file");

	/* check reads either side from stdin. */
	const char *src = kho_test_srcdir();
	assert_int_equal(run(out, "check '%s/docs/examples/vtd-debugfs-device.txt' "
			     "- <'%s/docs/examples/vtd-debugfs-pasid.txt'", src, src), 1);
	assert_has(out, "translation 4 KiB in 1 range\n");
	assert_has(out, "-> - (4 leaves)");
	assert_lacks(out, "iohandover-stdin");
	assert_int_equal(run(out, "dump --guest-mem 64M --raw - >d.dump 2>/dev/null"), 0);
	assert_int_equal(run(out, "check - d.dump <d.dump"), 0);
	assert_has(out, "verdict: hitless");
	assert_int_equal(run(out, "check - - <d.dump"), 2);
	assert_has(out, "standard input");
	assert_int_equal(count_files("iohandover-stdin"), 0);
	/* handover show and check read the blob from stdin. */
	assert_int_equal(run(out, "handover show - <'%s/tests/data/kho-v1-basic.dtb'",
			     src), 0);
	assert_has(out, "handover blob, ABI v1");
	assert_int_equal(run(out, "handover check - <'%s/tests/data/kho-v1-basic.dtb'",
			     src), 0);
	assert_has(out, "valid");
}

/* ---- ranges and causes ---------------------------------------------------- */

static void test_ranges_and_causes(void **state)
{
	(void)state;
	static char out[16384];
	const char *src = kho_test_srcdir();
	static const char *const rams[] = { "-1G", "99999999999T", "0", "1K" };
	for (size_t i = 0; i < sizeof(rams) / sizeof(*rams); i++) {
		assert_int_equal(run(out, "handover check --ram %s "
				     "'%s/tests/data/kho-v1-basic.dtb'", rams[i], src), 2);
		assert_has(out, "--ram");
		assert_has(out, "from 16M to 64T");
	}
	assert_int_equal(run(out, "handover check --ram 8G "
			     "'%s/tests/data/kho-v1-basic.dtb'", src), 0);
	assert_has(out, "3 sessions, 2 objects");
	assert_int_equal(run(out, "handover show '%s/tests/data/kho-v1-basic.dtb'",
			     src), 0);
	assert_has(out, "1 GiB folios: 1 in 1 range\n");
	assert_has(out, "session vm0: 1 object\n");
	/* --va-bits lists the widths the format has. */
	assert_int_equal(run(out, "run --va-bits 20"), 2);
	assert_has(out, "(it supports 32-48)");
	assert_int_equal(run(out, "run --format x86-64 --va-bits 20"), 2);
	assert_has(out, "(it supports 48, 57)");
	assert_int_equal(run(out, "dump --va-bits 20"), 2);
	assert_has(out, "(it supports 32-48)");
	/* A directory, a binary file: the cause, not "read error". */
	mkdir("adir", 0777);
	assert_int_equal(run(out, "check adir adir"), 2);
	assert_has(out, "adir: is a directory");
	assert_int_equal(run(out, "check --input-format dump adir adir"), 2);
	assert_has(out, "adir: is a directory");
	assert_int_equal(run(out, "handover show adir"), 2);
	assert_has(out, "is a directory");
	assert_int_equal(run(out, "check --input-format dump "
			     "'%s/tests/data/kho-v1-basic.dtb' d.dump", src), 2);
	assert_has(out, "binary file?");
	assert_lacks(out, "line too long");
}

/* kernel: every option checked before the first generation boots (its
 * report line starts "gen=1"). */
static void test_kernel_checks_first(void **state)
{
	(void)state;
	static char out[16384];
	assert_int_equal(run(out, "kernel --physmem-size 64M --fault frob"), 2);
	assert_has(out, "--fault: unknown fault 'frob'");
	assert_lacks(out, "gen=1");
	assert_int_equal(run(out, "kernel --physmem-size 64M --save-handover "
			     "/nonexistent/dir"), 2);
	assert_has(out, "--save-handover: '/nonexistent/dir'");
	assert_lacks(out, "gen=1");
	put("afile", "x");
	assert_int_equal(run(out, "kernel --physmem-size 64M --save-handover afile"), 2);
	assert_has(out, "not a directory");
	mkdir("blobdir", 0777);
	assert_int_equal(run(out, "kernel --physmem-size 64M --save-handover blobdir "
			     "--fault uncommit"), 0);
	assert_has(out, "gen=1");
}

/* ---- what the summary, the JSON and the SVG say ------------------------- */

/* The summary line of phase name in out. */
static const char *phase_line(const char *out, const char *name, char *line,
			      size_t len)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n  %s ", name);
	const char *p = strstr(out, pat);
	if (!p) {
		printf("no phase %s in:\n%s\n", name, out);
		fail();
	}
	p++;
	size_t n = strcspn(p, "\n");
	snprintf(line, len, "%.*s", (int)n, p);
	return line;
}

static void test_stop_the_world_labels(void **state)
{
	(void)state;
	static char out[16384];
	char line[256];
	assert_int_equal(run(out, "run --strategy stop-the-world --run-ms 30 "
			     "--guest-mem 64M --quiet"), 0);
	/* Preserve runs before the pause, finish after the resume. */
	assert_lacks(phase_line(out, "preserve", line, sizeof(line)), "(guest");
	assert_lacks(phase_line(out, "finish", line, sizeof(line)), "(guest");
	static const char *const in[] = { "freeze_to_exec", "boot_parse",
		"replay_repin", "build", "switch", "free" };
	for (size_t i = 0; i < sizeof(in) / sizeof(*in); i++)
		assert_has(phase_line(out, in[i], line, sizeof(line)),
			   "(guest and DMA stopped)");
	assert_lacks(out, "for the whole update");
	/* The other strategies: exactly the three phases before resume. */
	assert_int_equal(run(out, "run --run-ms 30 --guest-mem 64M --quiet"), 0);
	assert_lacks(phase_line(out, "preserve", line, sizeof(line)), "(guest");
	assert_has(phase_line(out, "guest_resume", line, sizeof(line)), "(guest paused)");
	assert_lacks(phase_line(out, "replay_repin", line, sizeof(line)), "(guest");
}

static void test_one_blackout(void **state)
{
	(void)state;
	static char out[16384];
	assert_int_equal(run(out, "run --updates 2 --run-ms 30 --guest-mem 64M "
			     "--quiet --json r.json --svg t.svg"), 0);
	static char json[1 << 16];
	snprintf(json, sizeof(json), "%s", slurp("r.json"));
	const char *svg = slurp("t.svg");
	assert_non_null(svg);
	const char *key = "\"vm_blackout_us\": ";
	const char *p = json;
	for (int u = 0; u < 2; u++) {
		p = strstr(p, key);
		assert_non_null(p);
		p += strlen(key);
		double ms = (double)strtoull(p, NULL, 10) / 1e3;
		/* As cli/report_svg.c writes a duration (a loaded machine
		 * can stretch a blackout past a second). */
		char d[32], label[96];
		if (ms <= 0)
			snprintf(d, sizeof(d), "0");
		else if (ms < 1)
			snprintf(d, sizeof(d), "%.0f us", ms * 1e3);
		else if (ms < 1000)
			snprintf(d, sizeof(d), "%.1f ms", ms);
		else
			snprintf(d, sizeof(d), "%.2f s", ms / 1e3);
		snprintf(label, sizeof(label), "update %d: guest blackout %s "
			 "(the kernels' clock", u + 1, d);
		assert_has(svg, label);
	}
	/* The summary prints the same number as the JSON. */
	assert_has(out, "guest blackout");
}

static void test_progress_off_terminal(void **state)
{
	(void)state;
	static char out[16384];
	/* 6 s of DMA before the update: a line at least every 5 s. */
	assert_int_equal(run(out, "run --run-ms 6000 --guest-mem 64M >/dev/null"), 0);
	assert_has(out, "DMA running; update 1/1 next");
	assert_has(out, "DMA runs on the last kernel; checking");
}

static void test_version(void **state)
{
	(void)state;
	static char out[16384], v[64];
	assert_int_equal(run(out, "--version"), 0);
	assert_true(!strncmp(out, "iohandover ", 11));
	snprintf(v, sizeof(v), "%.*s", (int)strcspn(out + 11, "\n"), out + 11);
	assert_true(v[0] >= '0' && v[0] <= '9');
	static const char *const cmds[] = { "run", "demo", "check", "dump",
		"bench", "handover", "kernel", "machine" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		char want[128];
		assert_int_equal(run(out, "%s --version", cmds[i]), 0);
		snprintf(want, sizeof(want), "iohandover %s %s\n", cmds[i], v);
		assert_string_equal(out, want);
	}
	assert_int_equal(run(out, "frob --version"), 2);
	assert_int_equal(run(out, "run --json - --run-ms 30 --guest-mem 64M "
			     "--quiet 2>/dev/null"), 0);
	char want[128];
	snprintf(want, sizeof(want), "\"version\": \"%s\"", v);
	assert_has(out, want);
}

/* A naive run's thousands of errors: one tick per pixel column and lane,
 * counts in the tooltips, a small file. */
static void test_svg_errors_binned(void **state)
{
	(void)state;
	static char out[16384];
	assert_int_equal(run(out, "run --naive --run-ms 100 --guest-mem 256M "
			     "--quiet --svg n.svg --json n.json"), 1);
	const char *svg = slurp("n.svg");
	assert_non_null(svg);
	struct stat st;
	assert_int_equal(stat("n.svg", &st), 0);
	assert_true(st.st_size < 256 * 1024);
	static double seen[8192][2];
	size_t n = 0;
	bool counted = false;
	for (const char *p = svg; (p = strstr(p, "<line x1='"));) {
		double x, y;
		p += strlen("<line x1='");
		const char *end = strchr(p, '>');
		if (!end || !strstr(p, "class='fault'") || strstr(p, "class='fault'") > end)
			continue;
		assert_int_equal(sscanf(p, "%lf' y1='%lf'", &x, &y), 2);
		for (size_t i = 0; i < n; i++)
			if ((int)seen[i][0] == (int)x && seen[i][1] == y) {
				printf("two error ticks in pixel column %d at y %.1f\n",
				       (int)x, y);
				fail();
			}
		assert_true(n < 8192);
		seen[n][0] = x;
		seen[n++][1] = y;
		const char *title = strstr(p, "<title>");
		if (title && title[7] >= '1' && title[7] <= '9' && strstr(title, " errors ("))
			counted = true;
	}
	assert_true(n > 0);
	assert_true(counted);
}

/* Validate files (relative to tmpdir) against docs/SCHEMA; skip when
 * python3-jsonschema is absent. */
static void validate_json(const char *schema, const char *files)
{
	static char out[16384];
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cd '%s' && python3 '%s/scripts/validate-json.py' "
		 "'%s/docs/%s' %s 2>&1", tmpdir, kho_test_srcdir(),
		 kho_test_srcdir(), schema, files);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 127)) {
		printf("skipped: %s", n ? out : "no python3\n");
		skip();
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("%s not valid against docs/%s:\n%s", files, schema, out);
		fail();
	}
}

/* Every report validates against docs/report.schema.json (python3 and
 * python3-jsonschema, test-only; skipped when absent). */
static void test_report_schema(void **state)
{
	(void)state;
	static char out[16384];
	static const char *const runs[] = {
		"run --json s1.json --run-ms 30 --guest-mem 64M --quiet",
		"run --json s2.json --naive --run-ms 30 --guest-mem 64M --quiet",
		"run --json s3.json --crash-at freeze --run-ms 30 --guest-mem 64M --quiet",
		"run --json s4.json --updates 3 --strategy stop-the-world,deserialize,verify "
		"--to v2,v1,v2 --run-ms 30 --guest-mem 64M --quiet",
		"run --json s5.json --hotplug --format vtd-ss --run-ms 30 --guest-mem 64M --quiet",
		"run --json s6.json --devices 4 --preserve 2 --run-ms 30 --guest-mem 64M --quiet",
		"run --json s7.json --pasids 2 --run-ms 30 --guest-mem 64M --quiet",
		"run --json s8.json --ats --naive-ats --run-ms 30 --guest-mem 64M --quiet",
		"run --json s9.json --nested --run-ms 30 --guest-mem 64M --quiet",
		"run --json s10.json --iommus 3 --devices 4 --run-ms 30 "
		"--guest-mem 64M --quiet",
		"run --json s11.json --pasids 3 --replay-pasids --run-ms 30 "
		"--guest-mem 64M --quiet",
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(*runs); i++)
		assert_in_range(run(out, "%s >/dev/null", runs[i]), 0, 1);
	validate_json("report.schema.json", "s1.json s2.json s3.json s4.json s5.json "
		      "s6.json s7.json s8.json s9.json s10.json s11.json");
	/* Three units: device d behind unit d % 3, each with its counters. */
	const char *j = slurp("s10.json");
	assert_non_null(strstr(j, "\"iommus\": 3,"));
	assert_non_null(strstr(j, "{\"unit\": 0, \"devices\": [0, 3], "));
	assert_non_null(strstr(j, "{\"unit\": 2, \"devices\": [2], "));
}

/*
 * check, dump and handover show --json validate against their schemas
 * (docs/{dump,check,handover-show}.schema.json), over every kind of input and both outcomes.
 */
static void test_json_schemas(void **state)
{
	(void)state;
	static char out[1 << 16];
	const char *src = kho_test_srcdir();
	assert_int_equal(run(out, "dump --guest-mem 64M --json >d1.json"), 0);
	assert_int_equal(run(out, "dump --guest-mem 64M --format amd-v1 --profile amd-v1 "
			     "--json >d2.json"), 0);
	assert_int_equal(run(out, "dump --guest-mem 64M --format arm-s1 --profile v2 "
			     "--json >d3.json"), 0);
	validate_json("dump.schema.json", "d1.json d2.json d3.json");
	assert_int_equal(run(out, "dump --guest-mem 64M --raw o.dump >/dev/null"), 0);
	assert_int_equal(run(out, "dump --guest-mem 64M --profile v2 --raw n.dump "
			     ">/dev/null"), 0);
	assert_int_equal(run(out, "check --json o.dump o.dump >c1.json"), 0);
	assert_int_equal(run(out, "check --json o.dump n.dump >c2.json"), 1);
	assert_int_equal(run(out, "check --json --format vtd-ss --old-levels 3 "
			     "--new-levels 4 '%s/docs/examples/vtd-ss-memory.img@0x2000' "
			     "'%s/docs/examples/vtd-ss-memory.img@0x1000' >c3.json", src,
			     src), 1);
	assert_int_equal(run(out, "check --json --device 00:02.0 "
			     "'%s/docs/examples/vtd-debugfs-global.txt' "
			     "'%s/docs/examples/vtd-debugfs-pasid.txt' >c4.json", src, src),
			 1);
	validate_json("check.schema.json", "c1.json c2.json c3.json c4.json");
	assert_int_equal(run(out, "handover show --json '%s/tests/data/kho-v1-basic.dtb' "
			     ">h1.json", src), 0);
	assert_int_equal(run(out, "handover show --json '%s/tests/data/kho-v1-bitmaps.dtb' "
			     ">h2.json", src), 0);
	assert_int_equal(run(out, "handover show --json - </dev/null >h3.json"), 2);
	validate_json("handover-show.schema.json", "h1.json h2.json h3.json");
	/* The schemas are not vacuous: a dump leaf without its level, a
	 * check range of an unknown kind, a valid blob without sessions. */
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cd '%s' && sed 's/\"level\": [0-9]*, //' d1.json "
		 ">b1.json && sed 's/\"kind\": \"granule\"/\"kind\": \"big\"/' "
		 "c2.json >b2.json && grep -v '\"sessions\"' h1.json >b3.json", tmpdir);
	assert_int_equal(system(cmd), 0);
	static const char *const bad[][2] = {
		{ "dump.schema.json", "b1.json" },
		{ "check.schema.json", "b2.json" },
		{ "handover-show.schema.json", "b3.json" },
	};
	for (size_t i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "cd '%s' && python3 '%s/scripts/validate-json.py' "
			 "'%s/docs/%s' %s >/dev/null 2>&1", tmpdir, src, src,
			 bad[i][0], bad[i][1]);
		int st = system(cmd);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 1);
	}
}

/* dump --json and handover show --json: one JSON object on stdout. */
static void test_json_outputs(void **state)
{
	(void)state;
	static char out[1 << 16];
	const char *src = kho_test_srcdir();
	assert_int_equal(run(out, "dump --guest-mem 64M --json 2>/dev/null"), 0);
	assert_true(out[0] == '{');
	assert_has(out, "\"format\": \"arm-s2\"");
	assert_has(out, "\"leaves\": [");
	assert_has(out, "\"nr_leaves\": 32");
	assert_int_equal(run(out, "dump --guest-mem 64M --json --raw - 2>&1"), 2);
	assert_has(out, "standard output");
	assert_int_equal(run(out, "handover show --json '%s/tests/data/kho-v1-basic.dtb' "
			     "2>/dev/null", src), 0);
	assert_true(out[0] == '{');
	assert_has(out, "\"valid\": true");
	assert_has(out, "\"generation\": 1");
	assert_has(out, "\"name\": \"vm0\"");
	assert_int_equal(run(out, "handover show --json - </dev/null 2>/dev/null"), 2);
	assert_has(out, "\"valid\": false");
	/* bench --json -: the merged JSON alone on stdout. */
	assert_int_equal(run(out, "bench --quick --only pt --json - 2>/dev/null"), 0);
	assert_true(!strncmp(out, "{\n  \"tool\": \"iohandover bench\"", 30));
	assert_lacks(out, "== bench_pt");
	assert_false(exists("-"));
	/* Well-formed, where python3 can say so. */
	if (!system("python3 -c '' 2>/dev/null")) {
		assert_int_equal(run(out, "dump --guest-mem 64M --json | python3 -m json.tool "
				     ">/dev/null"), 0);
		assert_int_equal(run(out, "handover show --json "
				     "'%s/tests/data/kho-v1-basic.dtb' | python3 -m json.tool "
				     ">/dev/null", src), 0);
	}
}

/* ---- SVG labels ------------------------------------------------------------ */

struct tbox { double x0, y0, x1, y1; char text[96]; };

static const char *attr(const char *el, const char *end, const char *name,
			char *out, size_t len)
{
	char pat[32];
	snprintf(pat, sizeof(pat), " %s='", name);
	const char *p = strstr(el, pat);
	if (!p || p > end)
		return NULL;
	p += strlen(pat);
	size_t n = strcspn(p, "'");
	snprintf(out, len, "%.*s", (int)n, p);
	return out;
}

/*
 * Every <text> of an SVG as a box, the way cli/report_svg.c lays them out:
 * 0.62 em a character (0.68 bold), ascent 0.8 em, descent 0.2 em; sizes,
 * weights and anchors from its stylesheet's classes.
 */
static size_t text_boxes(const char *svg, struct tbox *b, size_t max)
{
	static const struct { const char *cls; double size; bool bold; double anchor; } k[] = {
		{ "h1", 20, true, 0 }, { "h2", 15, true, 0 }, { "lab", 13, true, 1 },
		{ "sub", 11, false, 1 }, { "key", 11, false, 0 }, { "tick", 11, false, 0 },
		{ "band", 12, true, 0 }, { "ph", 11, false, 0 }, { "good", 13, true, 0 },
		{ "bad", 13, true, 0 },
	};
	size_t n = 0;
	for (const char *p = svg; (p = strstr(p, "<text ")) && n < max; p++) {
		const char *gt = strchr(p, '>');
		assert_non_null(gt);
		char v[128];
		double x = attr(p, gt, "x", v, sizeof(v)) ? atof(v) : 0;
		double y = attr(p, gt, "y", v, sizeof(v)) ? atof(v) : 0;
		double size = 13, anchor = 0;
		bool bold = false;
		if (attr(p, gt, "class", v, sizeof(v)))
			for (size_t i = 0; i < sizeof(k) / sizeof(*k); i++)
				if (!strcmp(v, k[i].cls)) {
					size = k[i].size;
					bold = k[i].bold;
					anchor = k[i].anchor;
				}
		if (attr(p, gt, "style", v, sizeof(v))) {
			const char *fs = strstr(v, "font-size:");
			if (fs)
				size = atof(fs + 10);
			if (strstr(v, "bold"))
				bold = true;
		}
		if (attr(p, gt, "text-anchor", v, sizeof(v)))
			anchor = !strcmp(v, "middle") ? 0.5 : !strcmp(v, "end") ? 1 : 0;
		/* Characters up to the first tag; an entity is one. */
		size_t chars = 0, tl = 0;
		for (const char *c = gt + 1; *c && *c != '<'; c++) {
			if (*c == '&')
				c = strchr(c, ';') ? strchr(c, ';') : c;
			if (((unsigned char)*c & 0xc0) == 0x80)
				continue;
			chars++;
			if (tl < sizeof(b[n].text) - 1)
				b[n].text[tl++] = *c;
		}
		b[n].text[tl] = '\0';
		if (!chars)
			continue;
		double w = (double)chars * size * (bold ? 0.68 : 0.62);
		b[n].x0 = x - w * anchor;
		b[n].x1 = b[n].x0 + w;
		b[n].y0 = y - size * 0.8;
		b[n].y1 = y + size * 0.2;
		n++;
	}
	return n;
}

static void assert_no_overlap(const char *name)
{
	const char *svg = slurp(name);
	assert_non_null(svg);
	static struct tbox b[4096];
	size_t n = text_boxes(svg, b, 4096), bad = 0;
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (b[i].x0 < b[j].x1 && b[j].x0 < b[i].x1 &&
			    b[i].y0 < b[j].y1 && b[j].y0 < b[i].y1 && bad++ < 10)
				printf("%s: '%s' (%.0f,%.0f)-(%.0f,%.0f) overlaps '%s' "
				       "(%.0f,%.0f)-(%.0f,%.0f)\n", name, b[i].text,
				       b[i].x0, b[i].y0, b[i].x1, b[i].y1, b[j].text,
				       b[j].x0, b[j].y0, b[j].x1, b[j].y1);
	if (bad)
		fail();
}

/* Render in headless Chromium when it is installed (deps installs it as
 * root where the archive has it); a message and no assertion otherwise. */
static void render(const char *name)
{
	static const char *const browsers[] = { "chromium", "chromium-browser",
						"google-chrome" };
	const char *b = NULL;
	char cmd[2048];
	for (size_t i = 0; i < sizeof(browsers) / sizeof(*browsers) && !b; i++) {
		snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", browsers[i]);
		if (!system(cmd))
			b = browsers[i];
	}
	if (!b) {
		printf("render %s: no chromium installed, not rendered\n", name);
		return;
	}
	/* Generous: a render is well under a second; 60 s means hung. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 60 %s --headless --no-sandbox "
		 "--disable-gpu --window-size=1400,1200 --screenshot='%s/%s.png' "
		 "'file://%s/%s' >/dev/null 2>&1", tmpdir, b, tmpdir, name, tmpdir, name);
	int rc = system(cmd);
	char png[128];
	snprintf(png, sizeof(png), "%s.png", name);
	if (rc || !exists(png)) {
		printf("chromium did not render %s (exit %d)\n", name, rc);
		fail();
	}
}

static void test_svg_labels(void **state)
{
	(void)state;
	static char out[16384];
	static const char *const runs[][2] = {
		{ "v1.svg", "--run-ms 30 --guest-mem 64M" },
		{ "v3.svg", "--updates 3 --run-ms 30 --guest-mem 64M" },
		{ "v3n.svg", "--updates 3 --strategy rebuild,stop-the-world,verify "
			     "--run-ms 20 --guest-mem 256M" },
		{ "vn.svg", "--naive --run-ms 100 --guest-mem 256M" },
		{ "v8.svg", "--updates 8 --devices 4 --run-ms 10 --guest-mem 64M" },
	};
	/* A 1 TiB guest: about 20 s in the release build (its first boot
	 * stamps every folio); not under the sanitizers. */
	size_t nr = sizeof(runs) / sizeof(*runs);
	const char *bin = kho_test_bindir();
	bool rel = strlen(bin) >= 4 && !strcmp(bin + strlen(bin) - 4, "/rel");
	for (size_t i = 0; i < nr + rel; i++) {
		const char *name = i < nr ? runs[i][0] : "v1t.svg";
		const char *args = i < nr ? runs[i][1] : "--guest-mem 1T";
		assert_in_range(run(out, "run %s --quiet --svg %s >/dev/null",
				    args, name), 0, 1);
		assert_no_overlap(name);
		struct stat st;
		assert_int_equal(stat(name, &st), 0);
		assert_true(st.st_size < 256 * 1024);
		render(name);
	}
	if (!rel)
		printf("no 1 TiB run outside the release build\n");
}

static int setup(void **state)
{
	(void)state;
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
		cmocka_unit_test(test_interrupt_keeps_old_reports),
		cmocka_unit_test(test_contradictions_refused),
		cmocka_unit_test(test_iommus),
		cmocka_unit_test(test_dash_is_stdio),
		cmocka_unit_test(test_ranges_and_causes),
		cmocka_unit_test(test_kernel_checks_first),
		cmocka_unit_test(test_stop_the_world_labels),
		cmocka_unit_test(test_one_blackout),
		cmocka_unit_test(test_progress_off_terminal),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_svg_errors_binned),
		cmocka_unit_test(test_report_schema),
		cmocka_unit_test(test_json_schemas),
		cmocka_unit_test(test_progress_fits_terminal),
		cmocka_unit_test(test_json_outputs),
		cmocka_unit_test(test_svg_labels),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
