// SPDX-License-Identifier: MIT
/*
 * iohandover machine: run the machine model (hw/machine.h) over inherited
 * physmem and register region descriptors until a host writes the
 * shutdown register. Started by the scenario runner; outlives every host
 * kernel generation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hw/machine.h"

static const char machine_usage[] =
	"usage: iohandover machine --physmem-fd N --region-fd N [options]\n"
	"\n"
	"Runs the machine (IOMMU, DMA engines, guest CPU) over RAM and the\n"
	"register region inherited as descriptors, until the region's shutdown\n"
	"register is set. BBM level, DMA engines per device and their\n"
	"parameters are in the region (set by whoever created it).\n"
	"\n"
	"options:\n"
	"  --physmem-fd N       descriptor of the physmem file\n"
	"  --region-fd N        descriptor of the register region\n"
	"  --randomized         randomized caches (default: strict)\n"
	"  --seed N             seed of the randomized mode (default 1)\n"
	"  --tlb-sets-lg2 N     IOTLB sets, log2 (default 8)\n"
	"  --tlb-ways N         IOTLB ways (default 8)\n"
	"  --walk-sets-lg2 N    walk cache sets, log2 (default 6)\n"
	"  --walk-ways N        walk cache ways (default 4)\n"
	"  --dma-window N       strict mode: engine ops before each command\n"
	"                       batch (default 8, 0 disables)\n";

static int parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || x > max || s[0] == '-')
		return -EINVAL;
	*v = x;
	return 0;
}

struct machine_opt {
	const char *name;
	uint64_t max;
	uint64_t *dst;
};

static int machine_run(int argc, char **argv)
{
	struct hw_machine_cfg cfg;
	uint64_t pm_fd = ~0ull, reg_fd = ~0ull, seed = 1, window;
	uint64_t tlb_sets, tlb_ways, wc_sets, wc_ways;
	hw_machine_cfg_default(&cfg);
	tlb_sets = cfg.iommu.tlb_sets_lg2;
	tlb_ways = cfg.iommu.tlb_ways;
	wc_sets = cfg.iommu.walk_sets_lg2;
	wc_ways = cfg.iommu.walk_ways;
	window = cfg.dma_window_ops;
	const struct machine_opt opts[] = {
		{ "--physmem-fd", 1u << 20, &pm_fd },
		{ "--region-fd", 1u << 20, &reg_fd },
		{ "--seed", ~0ull, &seed },
		{ "--tlb-sets-lg2", 20, &tlb_sets },
		{ "--tlb-ways", 64, &tlb_ways },
		{ "--walk-sets-lg2", 20, &wc_sets },
		{ "--walk-ways", 64, &wc_ways },
		{ "--dma-window", 1u << 20, &window },
	};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(machine_usage, stdout);
			return CLI_OK;
		}
		if (!strcmp(argv[i], "--randomized")) {
			cfg.iommu.randomized = true;
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (!strcmp(argv[i], opts[k].name))
				break;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			cli_err("machine", "unknown option '%s'", argv[i]);
			return CLI_USAGE;
		}
		if (i + 1 >= argc ||
		    parse_uint(argv[i + 1], opts[k].max, opts[k].dst)) {
			cli_err("machine", "%s needs a number up to %llu",
				opts[k].name, (unsigned long long)opts[k].max);
			return CLI_USAGE;
		}
		i++;
	}
	if (pm_fd == ~0ull || reg_fd == ~0ull) {
		cli_err("machine", "--physmem-fd and --region-fd are required");
		return CLI_USAGE;
	}
	if (!tlb_ways || !wc_ways) {
		cli_err("machine", "cache ways must be at least 1");
		return CLI_USAGE;
	}
	cfg.iommu.seed = seed;
	cfg.iommu.tlb_sets_lg2 = (unsigned int)tlb_sets;
	cfg.iommu.tlb_ways = (unsigned int)tlb_ways;
	cfg.iommu.walk_sets_lg2 = (unsigned int)wc_sets;
	cfg.iommu.walk_ways = (unsigned int)wc_ways;
	cfg.dma_window_ops = (unsigned int)window;

	int err = hw_machine_run(&cfg, (int)pm_fd, (int)reg_fd);
	if (err) {
		cli_err("machine", "cannot run over physmem fd %llu, region fd "
			"%llu: %s", (unsigned long long)pm_fd,
			(unsigned long long)reg_fd, strerror(-err));
		return err == -EBADF || err == -EINVAL || err == -EPROTO ?
			CLI_USAGE : CLI_INTERNAL;
	}
	return CLI_OK;
}

const struct cli_cmd cli_cmd_machine = {
	.name = "machine",
	.summary = "run the machine model over inherited descriptors",
	.run = machine_run,
};
