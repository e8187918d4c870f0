// SPDX-License-Identifier: MIT
/*
 * iohandover kernel --region-fd FD ...: a host kernel generation of a live
 * update scenario (lu/). Its command line is lu/cmdline.h's, written by
 * the world runner for the first generation and by the previous kernel
 * for every later one, like a kexec command line.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "lu/lu.h"

#define CMD "kernel"

int cli_kernel_lu(int argc, char **argv)
{
	struct lu_gen_cfg c;
	char err[256];
	if (lu_cmdline_parse(argc, argv, &c, err, sizeof(err))) {
		cli_err(CMD, "%s", err);
		return CLI_USAGE;
	}
	return lu_kernel_main(&c);
}
