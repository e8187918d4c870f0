// SPDX-License-Identifier: MIT
/*
 * iohandover kernel --region-fd FD ...: a host kernel generation of a live
 * update scenario (lu/kernel.c). Its command line is written by the
 * scenario runner for the first generation and by the previous kernel for
 * every later one, like a kexec command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "lu/lu.h"

#define CMD "kernel"

static const char *const flags_with_value[] = {
	"--physmem-fd", "--region-fd", "--report-fd", "--handover", "--profile",
	"--from-profile", "--next-profiles", "--strategy", "--format",
	"--va-bits", "--devices", "--guest-size", "--mix", "--run-ms",
	"--t-pause", "--t-freeze", "--preserve-ns", "--save-handover",
	"--keep-fd", "--next", "--inject", "--crash-at", "--candidates",
	"--next-strategies",
};

static bool takes_value(const char *a)
{
	for (size_t i = 0; i < sizeof(flags_with_value) / sizeof(*flags_with_value); i++)
		if (!strcmp(a, flags_with_value[i]))
			return true;
	return false;
}

static int num(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
	if (cli_parse_size(v, out) || *out > max) {
		cli_err(CMD, "%s: '%s' is not a number up to %" PRIu64, opt, v, max);
		return -EINVAL;
	}
	return 0;
}

int cli_kernel_lu(int argc, char **argv)
{
	struct lu_gen_cfg c = {
		.physmem_fd = -1, .region_fd = -1, .report_fd = STDOUT_FILENO,
		.profile = "v1", .next = "", .strategy = LU_REBUILD,
		.fmt = PT_FMT_ARM_S2, .va_bits = 48, .devices = 2,
		.guest_size = 1ull << 30, .mix = kho_memfd_mix_default,
		.run_ms = 100, .exe = cli_self_path(),
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--hotplug")) {
			c.hotplug = true;
			continue;
		}
		if (!strcmp(a, "--naive")) {
			c.naive = true;
			continue;
		}
		if (!strcmp(a, "--recover")) {
			c.recover = true;
			continue;
		}
		if (!takes_value(a) || i + 1 >= argc) {
			cli_err(CMD, "unknown option or missing value: %s", a);
			return CLI_USAGE;
		}
		const char *v = argv[++i];
		uint64_t x = 0;
		int err = 0;
		if (!strcmp(a, "--profile")) {
			c.profile = v;
		} else if (!strcmp(a, "--from-profile")) {
			c.from_profile = v;
		} else if (!strcmp(a, "--next-profiles")) {
			c.next = v;
		} else if (!strcmp(a, "--next-strategies")) {
			c.next_strategies = v;
		} else if (!strcmp(a, "--save-handover")) {
			c.save_dir = v;
		} else if (!strcmp(a, "--next")) {
			c.exe = v;
		} else if (!strcmp(a, "--crash-at")) {
			bool known = false;
			for (unsigned int k = 0; lu_crash_points[k]; k++)
				known |= !strcmp(v, lu_crash_points[k]);
			if (!known) {
				cli_err(CMD, "--crash-at: unknown point '%s'", v);
				return CLI_USAGE;
			}
			c.crash_at = v;
		} else if (!strcmp(a, "--candidates")) {
			char buf[256];
			snprintf(buf, sizeof(buf), "%s", v);
			for (char *save, *tok = strtok_r(buf, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				uint64_t pa;
				if (c.nr_candidates == 8 || cli_parse_size(tok, &pa)) {
					cli_err(CMD, "--candidates: bad list '%s'", v);
					return CLI_USAGE;
				}
				c.candidates[c.nr_candidates++] = pa;
			}
		} else if (!strcmp(a, "--inject")) {
			bool known = false;
			for (unsigned int k = 0; lu_injections[k]; k++)
				known |= !strcmp(v, lu_injections[k]);
			if (!known) {
				cli_err(CMD, "--inject: unknown '%s'", v);
				return CLI_USAGE;
			}
			c.inject = v;
		} else if (!strcmp(a, "--strategy")) {
			if (lu_strategy_by_name(v, &c.strategy)) {
				cli_err(CMD, "--strategy: unknown '%s'", v);
				return CLI_USAGE;
			}
		} else if (!strcmp(a, "--format")) {
			if (pt_fmt_by_name(v, &c.fmt)) {
				cli_err(CMD, "--format: unknown '%s'", v);
				return CLI_USAGE;
			}
		} else if (!strcmp(a, "--mix")) {
			if (cli_parse_mix(v, &c.mix)) {
				cli_err(CMD, "--mix: bad spec '%s'", v);
				return CLI_USAGE;
			}
		} else if (!strcmp(a, "--keep-fd")) {
			err = num(a, v, INT32_MAX, &x);
		} else {
			err = num(a, v, UINT64_MAX, &x);
			if (err)
				return CLI_USAGE;
			if (!strcmp(a, "--physmem-fd")) {
				err = num(a, v, INT32_MAX, &x);
				c.physmem_fd = (int)x;
			} else if (!strcmp(a, "--region-fd")) {
				err = num(a, v, INT32_MAX, &x);
				c.region_fd = (int)x;
			} else if (!strcmp(a, "--report-fd")) {
				err = num(a, v, INT32_MAX, &x);
				c.report_fd = (int)x;
			} else if (!strcmp(a, "--handover")) {
				c.has_handover = true;
				c.handover_pa = x;
			} else if (!strcmp(a, "--va-bits")) {
				err = num(a, v, 64, &x);
				c.va_bits = (unsigned int)x;
			} else if (!strcmp(a, "--devices")) {
				err = num(a, v, 16, &x);
				c.devices = (unsigned int)x;
			} else if (!strcmp(a, "--guest-size")) {
				c.guest_size = x;
			} else if (!strcmp(a, "--run-ms")) {
				c.run_ms = x;
			} else if (!strcmp(a, "--t-pause")) {
				c.t_pause_ns = x;
			} else if (!strcmp(a, "--t-freeze")) {
				c.t_freeze_ns = x;
			} else if (!strcmp(a, "--preserve-ns")) {
				c.preserve_ns = x;
			}
		}
		if (err)
			return CLI_USAGE;
	}
	if (c.physmem_fd < 0 || c.region_fd < 0) {
		cli_err(CMD, "--physmem-fd and --region-fd are both needed");
		return CLI_USAGE;
	}
	if (!c.devices || c.devices > 16) {
		cli_err(CMD, "--devices: 1 to 16");
		return CLI_USAGE;
	}
	return lu_kernel_main(&c);
}
