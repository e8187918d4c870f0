// SPDX-License-Identifier: MIT
/*
 * iohandover bench: the benchmark suite of every part, one JSON document.
 * It runs the benchmark programs the build makes (one per bench/ source: bench_pt,
 * bench_hw, bench_kho, bench_lu; the live update scenario matrix is
 * bench_lu's), each with --json into a temporary file, passes their
 * tables through, and merges their JSON objects under "benches".
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "cli/scenario.h"

#define CMD "bench"
#define MAX_BENCH 16

static void usage(FILE *out)
{
	fprintf(out,
"usage: iohandover bench [--quick] [--only NAMES] [--json FILE] [--dir DIR]\n"
"\n"
"Run the benchmark suite of all parts (page tables, machine model, kernel\n"
"handover, live update scenario matrix) and write one JSON document that\n"
"holds each benchmark's own JSON under \"benches\".\n"
"\n"
"  --quick         smaller sizes and fewer rounds (what the tests use)\n"
"  --only NAMES    comma-separated subset: pt, hw, kho, lu\n"
"  --json FILE     where the merged JSON goes (default bench.json; '-':\n"
"                  stdout); FILE is replaced only once complete\n"
"  --dir DIR       where the benchmark programs are (default: bench/ next\n"
"                  to this binary, or build/rel/bench for build/iohandover)\n"
"  -h, --help      this help\n"
"\n"
"Exit status: 0 every benchmark ran, 1 one failed, 2 bad option,\n"
"3 benchmark programs not found.\n");
}

/* An executable bench_* in dir (build/bench holds make bench's JSON). */
static bool has_benches(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	bool found = false;
	while (dh && !found && (de = readdir(dh))) {
		char p[PATH_MAX + 256];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		found = !strncmp(de->d_name, "bench_", 6) &&
			!strchr(de->d_name, '.') && !access(p, X_OK);
	}
	if (dh)
		closedir(dh);
	return found;
}

static int find_dir(char *out, size_t len)
{
	char self[PATH_MAX];
	snprintf(self, sizeof(self), "%s", cli_self_path());
	const char *dir = dirname(self);
	snprintf(out, len, "%s/bench", dir);
	if (has_benches(out))
		return 0;
	snprintf(out, len, "%s/rel/bench", dir);
	return has_benches(out) ? 0 : -ENOENT;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const char *only, const char *name)
{
	if (!only)
		return true;
	size_t n = strlen(name);
	for (const char *p = only; *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && !strncmp(p, name, n))
			return true;
		p += l + (c ? 1 : 0);
	}
	return false;
}

/* The merged JSON goes to stdout: the programs' own tables to stderr. */
static bool json_on_stdout;

/* Run one program; its exit status, or -1. */
static int run_bench(const char *path, const char *json, bool quick)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *argv[5];
		unsigned int n = 0;
		argv[n++] = (char *)path;
		argv[n++] = "--json";
		argv[n++] = (char *)json;
		if (quick)
			argv[n++] = "--quick";
		argv[n] = NULL;
		if (json_on_stdout)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(path, argv);
		fprintf(stderr, "iohandover: bench: exec %s: %s\n", path,
			strerror(errno));
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Copy a benchmark's JSON object, indented one level; false if absent. */
static bool copy_json(FILE *out, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	int c, prev = '\n';
	bool any = false;
	while ((c = fgetc(f)) != EOF) {
		if (prev == '\n' && any)
			fputs("    ", out);
		any |= c != ' ' && c != '\n' && c != '\t';
		fputc(c, out);
		prev = c;
	}
	fclose(f);
	return any;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, 'j' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool quick = false;
	const char *only = NULL, *json = "bench.json";
	char dir[PATH_MAX] = "";
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'q':
			quick = true;
			break;
		case 'o':
			only = optarg;
			break;
		case 'j':
			json = optarg;
			break;
		case 'd':
			if (!has_benches(optarg)) {
				cli_err(CMD, "--dir: '%s' holds no benchmark programs "
					"(bench_*)", optarg);
				return CLI_USAGE;
			}
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		default:
			return cli_bad_option(CMD, argv, optind, optopt);
		}
	}
	if (cli_no_extra_args(CMD, argc, argv, optind))
		return CLI_USAGE;
	if (!dir[0] && find_dir(dir, sizeof(dir))) {
		cli_err(CMD, "no benchmark programs next to %s (build them with "
			"'make build-rel', or give --dir)", cli_self_path());
		return CLI_INTERNAL;
	}
	char *names[MAX_BENCH];
	unsigned int nr = 0;
	DIR *dh = opendir(dir);
	struct dirent *de;
	while (dh && (de = readdir(dh)) && nr < MAX_BENCH) {
		if (strncmp(de->d_name, "bench_", 6) || strchr(de->d_name, '.') ||
		    !wanted(only, de->d_name + 6))
			continue;
		names[nr++] = strdup(de->d_name);
	}
	if (dh)
		closedir(dh);
	if (only) {
		for (const char *p = only; *p;) {
			const char *c = strchr(p, ',');
			size_t l = c ? (size_t)(c - p) : strlen(p);
			bool found = false;
			for (unsigned int i = 0; i < nr; i++)
				found |= strlen(names[i] + 6) == l &&
					 !strncmp(names[i] + 6, p, l);
			if (!found) {
				cli_err(CMD, "--only: no benchmark '%.*s' in %s", (int)l,
					p, dir);
				for (unsigned int i = 0; i < nr; i++)
					free(names[i]);
				return CLI_USAGE;
			}
			p += l + (c ? 1 : 0);
		}
	}
	if (!nr) {
		cli_err(CMD, "no benchmark programs in %s", dir);
		return CLI_INTERNAL;
	}
	qsort(names, nr, sizeof(*names), cmp_str);
	struct cli_outfile of;
	int oerr = cli_outfile_open(&of, json);
	FILE *out = of.f;
	/* With the JSON on stdout, the progress lines go to stderr. */
	FILE *say = out == stdout ? stderr : stdout;
	json_on_stdout = out == stdout;
	if (oerr) {
		cli_err(CMD, "--json: cannot write '%s': %s", json, strerror(-oerr));
		for (unsigned int i = 0; i < nr; i++)
			free(names[i]);
		return CLI_USAGE;
	}
	char tmpdir[] = "/tmp/iohandover-bench-XXXXXX";
	if (!mkdtemp(tmpdir)) {
		cli_err(CMD, "temporary directory: %s", strerror(errno));
		cli_outfile_abort(&of);
		return CLI_INTERNAL;
	}
	fprintf(out, "{\n  \"tool\": \"iohandover bench\",\n  \"quick\": %s,\n"
		"  \"benches\": {", quick ? "true" : "false");
	int rc = CLI_OK;
	unsigned int written = 0;
	char failed[256] = "";
	for (unsigned int i = 0; i < nr; i++) {
		char prog[PATH_MAX + 64], tmp[PATH_MAX];
		snprintf(prog, sizeof(prog), "%s/%s", dir, names[i]);
		snprintf(tmp, sizeof(tmp), "%s/%s.json", tmpdir, names[i]);
		fprintf(say, "== %s%s\n", names[i], quick ? " --quick" : "");
		fflush(say);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int st = run_bench(prog, tmp, quick);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double)(t1.tv_sec - t0.tv_sec) +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(out, "%s\n    \"%s\": ", written++ ? "," : "", names[i] + 6);
		if (st != 0 || !copy_json(out, tmp)) {
			fprintf(out, "{\"error\": \"exit status %d\"}", st);
			cli_err(CMD, "%s failed (exit status %d)", names[i], st);
			size_t fl = strlen(failed);
			snprintf(failed + fl, sizeof(failed) - fl, "%s\"%s\"",
				 fl ? ", " : "", names[i] + 6);
			rc = CLI_NOT_HITLESS;
		}
		fprintf(say, "   (%.1f s)\n", secs);
		unlink(tmp);
		free(names[i]);
	}
	rmdir(tmpdir);
	fprintf(out, "\n  },\n  \"failed\": [%s]\n}\n", failed);
	if (ferror(out) || cli_outfile_commit(&of)) {
		cli_err(CMD, "--json: writing '%s' failed", json);
		return CLI_INTERNAL;
	}
	if (out != stdout)
		printf("wrote %s\n", json);
	return rc;
}

const struct cli_cmd cli_cmd_bench = {
	.name = "bench",
	.summary = "the benchmark suite of all parts, one JSON (--help)",
	.run = cmd_bench,
};
