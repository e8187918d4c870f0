/* SPDX-License-Identifier: MIT */
/* Option values shared by the subcommands. */
#ifndef IOH_CLI_PARSE_H
#define IOH_CLI_PARSE_H

#include <stdint.h>

#include "kho/memfd.h"

/* "4096", "0x1000", "64K", "2M", "4G", "1T": -EINVAL for anything else. */
int cli_parse_size(const char *s, uint64_t *v);
/* "1g=PPM,4k=PPM,seed=N,scatter=0|1", any subset. */
int cli_parse_mix(const char *s, struct kho_memfd_mix *mix);

/* iohandover kernel with --region-fd: a full host kernel (lu/). */
int cli_kernel_lu(int argc, char **argv);

#endif /* IOH_CLI_PARSE_H */
