/* SPDX-License-Identifier: MIT */
/*
 * The iohandover binary: one subcommand per file (cli/cmd_*.c), each a
 * struct cli_cmd listed in cli/main.c.
 *
 * Exit codes, for every subcommand:
 *   0 success / hitless, 1 ran but not hitless (or check found a problem),
 *   2 usage or input error (with a message naming the option), 3 internal.
 */
#ifndef IOH_CLI_H
#define IOH_CLI_H

enum cli_exit {
	CLI_OK = 0,
	CLI_NOT_HITLESS = 1,
	CLI_USAGE = 2,
	CLI_INTERNAL = 3,
};

struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand */
};

/* Prints "iohandover: <subcommand>: <message>" to stderr. */
void cli_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * After getopt_long returned '?' or ':': a message naming the option
 * (unknown, or missing its value). Returns CLI_USAGE.
 */
int cli_bad_option(const char *cmd, char **argv, int optind, int optopt);
/* Arguments left after the options: an error naming the first
 * (CLI_USAGE), or 0. */
int cli_no_extra_args(const char *cmd, int argc, char **argv, int optind);

/* Path of the running binary, for execve of the next kernel generation. */
const char *cli_self_path(void);

#endif /* IOH_CLI_H */
