// SPDX-License-Identifier: MIT
#include "cli/cli.h"
#include "ioh/version.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Subcommands; each defined in its cli/cmd_<name>.c. */
extern const struct cli_cmd cli_cmd_kernel, cli_cmd_handover;
extern const struct cli_cmd cli_cmd_machine;
extern const struct cli_cmd cli_cmd_demo, cli_cmd_run, cli_cmd_check;
extern const struct cli_cmd cli_cmd_dump, cli_cmd_bench, cli_cmd_matrix;
static const struct cli_cmd *const cli_cmds[] = {
	&cli_cmd_demo,
	&cli_cmd_run,
	&cli_cmd_check,
	&cli_cmd_dump,
	&cli_cmd_matrix,
	&cli_cmd_bench,
	&cli_cmd_machine,
	&cli_cmd_kernel,
	&cli_cmd_handover,
	NULL,
};

static char self_path[PATH_MAX];

const char *cli_self_path(void)
{
	return self_path;
}

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "iohandover: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_bad_option(const char *cmd, char **argv, int optind, int optopt)
{
	if (optopt && optopt < 256 && optopt != '?')
		cli_err(cmd, "unknown option '-%c'", optopt);
	else if (optopt)
		cli_err(cmd, "%s needs a value", argv[optind - 1]);
	else
		cli_err(cmd, "unknown option '%s'", argv[optind - 1]);
	fprintf(stderr, "'iohandover %s --help' lists the options\n", cmd);
	return CLI_USAGE;
}

int cli_no_extra_args(const char *cmd, int argc, char **argv, int optind)
{
	if (optind >= argc)
		return 0;
	cli_err(cmd, "unexpected argument '%s'", argv[optind]);
	return CLI_USAGE;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: iohandover <command> [options]\n\ncommands:\n");
	for (size_t i = 0; cli_cmds[i]; i++)
		fprintf(out, "  %-10s %s\n", cli_cmds[i]->name,
			cli_cmds[i]->summary);
	fprintf(out, "\n'iohandover <command> --help' describes one; --version "
		"prints the version.\n");
}

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n < 0) {
		perror("iohandover: readlink /proc/self/exe");
		return CLI_INTERNAL;
	}
	self_path[n] = '\0';

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("iohandover %s\n", IOH_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; cli_cmds[i]; i++) {
		if (strcmp(argv[1], cli_cmds[i]->name))
			continue;
		/* iohandover COMMAND ... --version: the same version. */
		for (int a = 2; a < argc && strcmp(argv[a], "--"); a++)
			if (!strcmp(argv[a], "--version")) {
				printf("iohandover %s %s\n", argv[1], IOH_VERSION);
				return CLI_OK;
			}
		return cli_cmds[i]->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "iohandover: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
