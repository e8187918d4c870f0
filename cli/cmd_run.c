// SPDX-License-Identifier: MIT
/*
 * iohandover run: one live update scenario with every option. Every
 * option is checked before anything starts; a bad one is named.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "cli/scenario.h"
#include "iommufd/iommufd.h"

#define CMD "run"

static void usage(FILE *out)
{
	fprintf(out,
"usage: iohandover run [options]\n"
"\n"
"Start the machine and host kernel FROM with a guest whose devices DMA,\n"
"then live-update the host kernel (exec, handover) while DMA runs, and\n"
"report whether every DMA was translated as mapped, without any fault.\n"
"\n"
"  --guest-mem SIZE     guest RAM, a multiple of 2M, at least 8M (default 1G)\n"
"  --folio-mix SPEC     guest memory folios: 1g=PPM,4k=PPM,seed=N,scatter=0|1\n"
"                       (parts per million of 1G folios, of 2M slots split\n"
"                       into 4K folios; default 1g=600000,4k=5000,scatter=1)\n"
"  --devices N          DMA-capable devices, 1-%u (default 2)\n"
"  --preserve K         devices 0 to K-1 survive the update (default all);\n"
"                       the others belong to a VM that does not: they are\n"
"                       stopped and put in abort before the exec\n"
"  --pasids N           device 0 has N PASIDs in use: the live update is\n"
"                       refused (EOPNOTSUPP, exit 1) and the VM runs on\n"
"  --replay-pasids      with --pasids N (1-%u): each PASID of device 0 has\n"
"                       a table of its own and DMAs; the kernels preserve\n"
"                       every PASID's attachment and CD table and replay\n"
"                       it (not with --nested)\n"
"  --naive-pasids       with --replay-pasids: the new kernels switch each\n"
"                       PASID's CD without CFGI_CD, to show what the\n"
"                       machine catches\n"
"  --format F           arm-s1 | arm-s2 | vtd-ss | x86-64 | amd-v1 | riscv\n"
"                       (default arm-s2)\n"
"  --va-bits N          IOVA width of the tables (default 48)\n"
"  --from PROFILE       the first kernel's profile (default v1)\n"
"  --to PROFILES        the updates' profiles, one for all or one per\n"
"                       update, comma separated (default v2); a profile\n"
"                       is a Linux driver's policy (docs/liveupdate.md)\n"
"                       and exists only for its formats:\n"
"%s"
"  --strategy S         deserialize | verify | rebuild | stop-the-world\n"
"                       (default rebuild); a comma list gives one per update\n"
"  --bbm-level L        the IOMMU's break-before-make level, 0-2 (ARM; default 0)\n"
"  --updates N          a chain of N updates, 1-%u (default 1)\n"
"  --hotplug            the VMM hotplugs memory while the new kernel recovers\n"
"  --naive              rebuild with the new kernel's defaults and no\n"
"                       reconcile, to show what the machine catches\n"
"  --ats [N]            the devices have PCIe ATS, each an ATC (a device\n"
"                       TLB) the kernels must invalidate; N: only the\n"
"                       first N devices (default all)\n"
"  --naive-ats          with --ats: the kernels never invalidate the ATCs,\n"
"                       to show what the machine catches\n"
"  --iommus N           IOMMU units, 1-%u (default 1), each its own stream\n"
"                       table, queues and caches; device d is behind unit\n"
"                       d %% N (at most one unit per device)\n"
"  --naive-units        with --iommus 2 or more: the kernels invalidate a\n"
"                       domain on its first unit only, to show what the\n"
"                       machine catches\n"
"  --nested             a vIOMMU guest: the preserved devices translate\n"
"                       nested, the guest's stage 1 (in its RAM) over the\n"
"                       host's stage 2; only stage 2 is replayed and the\n"
"                       guest's stage-1 table is compared byte for byte\n"
"                       after each update (arm-s2 only; not with --ats)\n"
"  --naive-nested       with --nested: a replaced stage 2 leaves the\n"
"                       combined stage 1+2 entries (no TLBI by VMID)\n"
"  --naive-s1           with --nested: the new kernels replay the guest's\n"
"                       stage 1 too, rewriting it in guest memory\n"
"  --inject WHAT        test hook: table-prot (the table disagrees with the\n"
"                       intent), table-outside, table-cycle, table-bad-entry\n"
"                       (the table damaged after the handover is committed),\n"
"                       ioas-memfd, ioas-range (the handover's ioas names a\n"
"                       memfd it does not hold, or an area past its memfd),\n"
"                       unpreserved-running (with --preserve: the devices\n"
"                       not preserved keep their DMA running into abort)\n"
"  --crash-at POINT     SIGKILL the host kernel at POINT of the update; a\n"
"                       recovery kernel takes over ('list' names the points)\n"
"  --seed N             seed of the IOMMU model and of the folio mix (default 1)\n"
"  --run-ms N           DMA time before each update and at the end, and\n"
"                       until every device has done DMA (default 150)\n"
"  --json FILE          write the JSON report (docs/report.md); '-' is\n"
"                       stdout (the summary then goes to stderr)\n"
"  --svg FILE           write the SVG timeline ('-': stdout); each report\n"
"                       replaces FILE only once complete\n"
"  --save-handover DIR  keep a copy of every handover blob a kernel passes\n"
"                       on, DIR/handover-genNNN.dtb (created if missing;\n"
"                       decode with dtc -I dtb -O dts)\n"
"  --quiet              no progress display\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 hitless, 1 ran but not hitless, 2 bad option, 3 internal error.\n",
		HW_MAX_DEVS, IOMMUFD_MAX_PASIDS - 1, cli_profile_help(),
		WORLD_MAX_UPDATES, HW_MAX_UNITS);
}

/* The points of lu_crash_points, in update order, in plain words. */
static void print_crash_points(FILE *out)
{
	static const char *const what[] = {
		"outgoing kernel preserving: no handover committed yet",
		"outgoing kernel, handover committed, before exec",
		"incoming kernel running, handover not yet parsed",
		"incoming kernel, guest memory re-pinned",
		"incoming kernel, new table reconciled, not switched to",
		"a configuration entry rewritten, before its sync",
		"devices of some IOMMU units switched, others not "
		"(--iommus 2 or more)",
		"every device switched, IOMMU TLBs invalidated, device TLBs "
		"not yet (--ats)",
		"every device switched, old table not yet freed",
		"before unclaimed handover state is released",
	};
	for (unsigned int i = 0; lu_crash_points[i]; i++)
		fprintf(out, "%-11s %s\n", lu_crash_points[i],
			i < sizeof(what) / sizeof(what[0]) ? what[i] : "");
}

enum { O_GUEST = 256, O_MIX, O_DEVS, O_FMT, O_VAB, O_FROM, O_TO, O_STRAT,
       O_BBM, O_UPD, O_HOT, O_NAIVE, O_INJ, O_SEED, O_RUNMS, O_JSON, O_SVG,
       O_QUIET, O_CRASH, O_SAVE, O_PRESERVE, O_PASIDS, O_ATS, O_NAIVE_ATS,
       O_NESTED, O_NAIVE_NESTED, O_NAIVE_S1, O_REPLAY_PASIDS,
       O_NAIVE_PASIDS, O_IOMMUS, O_NAIVE_UNITS };

#define ATS_ALL (HW_MAX_DEVS + 1u) /* --ats without a number */

static const struct option opts[] = {
	{ "guest-mem", required_argument, NULL, O_GUEST },
	{ "folio-mix", required_argument, NULL, O_MIX },
	{ "devices", required_argument, NULL, O_DEVS },
	{ "preserve", required_argument, NULL, O_PRESERVE },
	{ "pasids", required_argument, NULL, O_PASIDS },
	{ "replay-pasids", no_argument, NULL, O_REPLAY_PASIDS },
	{ "naive-pasids", no_argument, NULL, O_NAIVE_PASIDS },
	{ "format", required_argument, NULL, O_FMT },
	{ "va-bits", required_argument, NULL, O_VAB },
	{ "from", required_argument, NULL, O_FROM },
	{ "to", required_argument, NULL, O_TO },
	{ "strategy", required_argument, NULL, O_STRAT },
	{ "bbm-level", required_argument, NULL, O_BBM },
	{ "updates", required_argument, NULL, O_UPD },
	{ "hotplug", no_argument, NULL, O_HOT },
	{ "naive", no_argument, NULL, O_NAIVE },
	{ "ats", optional_argument, NULL, O_ATS },
	{ "naive-ats", no_argument, NULL, O_NAIVE_ATS },
	{ "iommus", required_argument, NULL, O_IOMMUS },
	{ "naive-units", no_argument, NULL, O_NAIVE_UNITS },
	{ "nested", no_argument, NULL, O_NESTED },
	{ "naive-nested", no_argument, NULL, O_NAIVE_NESTED },
	{ "naive-s1", no_argument, NULL, O_NAIVE_S1 },
	{ "inject", required_argument, NULL, O_INJ },
	{ "crash-at", required_argument, NULL, O_CRASH },
	{ "seed", required_argument, NULL, O_SEED },
	{ "run-ms", required_argument, NULL, O_RUNMS },
	{ "json", required_argument, NULL, O_JSON },
	{ "svg", required_argument, NULL, O_SVG },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "save-handover", required_argument, NULL, O_SAVE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int number(const char *opt, const char *v, uint64_t lo, uint64_t hi,
		  uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*v == '-' || !*v || *end || errno || x < lo || x > hi) {
		cli_err(CMD, "%s: '%s' is not a number from %" PRIu64 " to %" PRIu64,
			opt, v, lo, hi);
		return -1;
	}
	*out = x;
	return 0;
}

/* Every profile of a comma list exists; returns how many, or -1. */
static int profiles(const char *opt, const char *list)
{
	char buf[4096];
	int n = 0;
	if (strlen(list) >= sizeof(buf) || !*list) {
		cli_err(CMD, "%s: '%s' is not a list of profiles", opt, list);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!iommufd_profile_find(tok)) {
			cli_err(CMD, "%s: unknown profile '%s' (known: %s)", opt,
				tok, iommufd_profile_names());
			return -1;
		}
		n++;
	}
	if (!n || list[strlen(list) - 1] == ',' || strstr(list, ",,")) {
		cli_err(CMD, "%s: '%s' is not a list of profiles", opt, list);
		return -1;
	}
	return n;
}

/* Every strategy of a comma list exists; returns how many (the first in
 * *first), or -1 after a message. */
static int strategies(const char *list, const struct lu_strategy **first)
{
	char buf[4096];
	int n = 0;
	if (strlen(list) >= sizeof(buf) || !*list || list[strlen(list) - 1] == ',' ||
	    strstr(list, ",,")) {
		cli_err(CMD, "--strategy: '%s' is not a list of strategies", list);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		const struct lu_strategy *s = lu_strategy_find(tok);
		if (!s) {
			cli_err(CMD, "--strategy: unknown strategy '%s' (%s)", tok,
				lu_strategy_names());
			return -1;
		}
		if (!n++)
			*first = s;
	}
	return n;
}

/* Strategy of update k (1-based) under --strategy. */
static const struct lu_strategy *update_strategy(const struct world_scenario *sc,
						 unsigned int k)
{
	if (!sc->strategies)
		return sc->strategy;
	const char *p = sc->strategies;
	for (unsigned int i = 1; i < k && strchr(p, ','); i++)
		p = strchr(p, ',') + 1;
	char name[64];
	size_t n = strcspn(p, ",");
	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
	return lu_strategy_find(name);
}

/* Options that contradict each other: refused before anything starts. */
/* --replay-pasids and --naive-pasids need what they act on. */
static int pasid_options(const struct world_scenario *sc)
{
	if (sc->replay_pasids && !sc->pasids) {
		cli_err(CMD, "--replay-pasids preserves and replays device 0's "
			"PASIDs; without --pasids N there are none");
		return -1;
	}
	if (sc->replay_pasids && sc->pasids >= IOMMUFD_MAX_PASIDS) {
		cli_err(CMD, "--replay-pasids: --pasids %u, but a device's CD "
			"table holds PASIDs 1 to %u", sc->pasids,
			IOMMUFD_MAX_PASIDS - 1);
		return -1;
	}
	if (sc->replay_pasids && sc->nested) {
		cli_err(CMD, "--replay-pasids contradicts --nested: a nested "
			"device's substreams are the guest's (its stage-1 CD "
			"table), not the host's");
		return -1;
	}
	if (sc->naive_pasids && !sc->replay_pasids) {
		cli_err(CMD, "--naive-pasids skips the CD invalidations of "
			"replayed PASIDs; without --replay-pasids there are none");
		return -1;
	}
	return 0;
}

static int conflicts(const struct world_scenario *sc)
{
	for (unsigned int k = 1; k <= sc->updates; k++) {
		const struct lu_strategy *s = update_strategy(sc, k);
		if (!s)
			continue;
		if (sc->naive && strcmp(s->name, "rebuild")) {
			cli_err(CMD, "--naive is a rebuild without reconcile; it "
				"contradicts --strategy %s (use --strategy rebuild)",
				s->name);
			return -1;
		}
		if (sc->hotplug && (!s->early_resume || !strcmp(s->name, "deserialize"))) {
			cli_err(CMD, "--hotplug contradicts --strategy %s: %s", s->name,
				s->early_resume ? "a deserialized table is immutable, "
				"so memory cannot be mapped into it" :
				"the guest stays paused until the update is over, "
				"so it cannot hotplug memory meanwhile");
			return -1;
		}
	}
	return 0;
}

int cli_run_parse(const char *cmd, int argc, char **argv,
		  struct cli_scenario *cs, bool *help);

/* Parse run's options into cs; CLI_OK, or CLI_USAGE after a message. */
int cli_run_parse(const char *cmd, int argc, char **argv,
		  struct cli_scenario *cs, bool *help)
{
	struct world_scenario *sc = &cs->sc;
	bool seed_in_mix = false, seed_given = false;
	uint64_t v;
	int c, nto = 1, nstrat = 1;
	(void)cmd;
	*help = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			*help = true;
			return CLI_OK;
		case O_GUEST:
			if (lu_parse_num(optarg, &v) || v % (2ull << 20) ||
			    v < (8ull << 20) || v > KHO_RAM_MAX) {
				cli_err(CMD, "--guest-mem: '%s' is not a size that is a "
					"multiple of 2M from 8M to 64T (like 512M, 4G)",
					optarg);
				return CLI_USAGE;
			}
			sc->guest_mem = v;
			break;
		case O_MIX:
			sc->mix = kho_memfd_mix_default;
			if (lu_parse_mix(optarg, &sc->mix)) {
				cli_err(CMD, "--folio-mix: '%s' is not 1g=PPM,4k=PPM,"
					"seed=N,scatter=0|1 (PPM up to 1000000)", optarg);
				return CLI_USAGE;
			}
			seed_in_mix = strstr(optarg, "seed=") != NULL;
			snprintf(cs->mix_spec, sizeof(cs->mix_spec), "%s", optarg);
			break;
		case O_DEVS:
			if (number("--devices", optarg, 1, HW_MAX_DEVS, &v))
				return CLI_USAGE;
			sc->devices = (unsigned int)v;
			break;
		case O_PRESERVE:
			if (number("--preserve", optarg, 1, HW_MAX_DEVS, &v))
				return CLI_USAGE;
			sc->preserve = (unsigned int)v;
			break;
		case O_PASIDS:
			if (number("--pasids", optarg, 0, LU_MAX_PASIDS, &v))
				return CLI_USAGE;
			sc->pasids = (unsigned int)v;
			break;
		case O_REPLAY_PASIDS:
			sc->replay_pasids = true;
			break;
		case O_NAIVE_PASIDS:
			sc->naive_pasids = true;
			break;
		case O_FMT:
			if (pt_fmt_by_name(optarg, &sc->fmt)) {
				cli_err(CMD, "--format: unknown format '%s' (arm-s1, "
					"arm-s2, vtd-ss, x86-64, amd-v1, riscv)", optarg);
				return CLI_USAGE;
			}
			break;
		case O_VAB:
			if (number("--va-bits", optarg, 12, 64, &v))
				return CLI_USAGE;
			sc->va_bits = (unsigned int)v;
			break;
		case O_FROM:
			if (!iommufd_profile_find(optarg)) {
				cli_err(CMD, "--from: unknown profile '%s' (known: %s)",
					optarg, iommufd_profile_names());
				return CLI_USAGE;
			}
			sc->from = optarg;
			break;
		case O_TO:
			if ((nto = profiles("--to", optarg)) < 0)
				return CLI_USAGE;
			sc->to = optarg;
			break;
		case O_STRAT:
			if ((nstrat = strategies(optarg, &sc->strategy)) < 0)
				return CLI_USAGE;
			sc->strategies = nstrat > 1 ? optarg : NULL;
			break;
		case O_BBM:
			if (number("--bbm-level", optarg, 0, 2, &v))
				return CLI_USAGE;
			sc->bbm_level = (unsigned int)v;
			break;
		case O_UPD:
			if (number("--updates", optarg, 1, WORLD_MAX_UPDATES, &v))
				return CLI_USAGE;
			sc->updates = (unsigned int)v;
			break;
		case O_HOT:
			sc->hotplug = true;
			break;
		case O_NAIVE:
			sc->naive = true;
			break;
		case O_ATS: {
			/* --ats, --ats=N, or --ats N (a number next). */
			const char *n = optarg;
			if (!n && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				n = argv[optind++];
			if (!n) {
				sc->ats = ATS_ALL;
				break;
			}
			if (number("--ats", n, 1, HW_MAX_DEVS, &v))
				return CLI_USAGE;
			sc->ats = (unsigned int)v;
			break;
		}
		case O_NAIVE_ATS:
			sc->naive_ats = true;
			break;
		case O_IOMMUS:
			if (number("--iommus", optarg, 1, HW_MAX_UNITS, &v))
				return CLI_USAGE;
			sc->iommus = (unsigned int)v;
			break;
		case O_NAIVE_UNITS:
			sc->naive_units = true;
			break;
		case O_NESTED:
			sc->nested = true;
			break;
		case O_NAIVE_NESTED:
			sc->naive_nested = true;
			break;
		case O_NAIVE_S1:
			sc->naive_s1 = true;
			break;
		case O_INJ: {
			bool known = false;
			for (unsigned int i = 0; lu_injections[i]; i++)
				known |= !strcmp(lu_injections[i], optarg);
			if (!known) {
				cli_err(CMD, "--inject: unknown injection '%s' "
					"(table-prot, table-outside, table-cycle, "
					"table-bad-entry, ioas-memfd, ioas-range, "
					"hwpt-ioas, unpreserved-running)",
					optarg);
				return CLI_USAGE;
			}
			sc->inject = optarg;
			break;
		}
		case O_CRASH: {
			if (!strcmp(optarg, "list")) {
				print_crash_points(stdout);
				exit(CLI_OK);
			}
			bool known = false;
			for (unsigned int i = 0; lu_crash_points[i]; i++)
				known |= !strcmp(lu_crash_points[i], optarg);
			if (!known) {
				cli_err(CMD, "--crash-at: unknown point '%s' "
					"('--crash-at list' names them)", optarg);
				return CLI_USAGE;
			}
			sc->crash_at = optarg;
			break;
		}
		case O_SAVE:
			if (cli_scenario_save_dir(cs, optarg))
				return CLI_USAGE;
			break;
		case O_SEED:
			if (number("--seed", optarg, 0, UINT64_MAX, &v))
				return CLI_USAGE;
			sc->seed = v;
			seed_given = true;
			break;
		case O_RUNMS:
			if (number("--run-ms", optarg, 1, 3600000, &v))
				return CLI_USAGE;
			sc->run_ms = v;
			break;
		case O_JSON:
			cs->json_path = optarg;
			break;
		case O_SVG:
			cs->svg_path = optarg;
			break;
		case O_QUIET:
			cs->quiet = true;
			break;
		default:
			return cli_bad_option(CMD, argv, optind, optopt);
		}
	}
	if (cli_no_extra_args(CMD, argc, argv, optind))
		return CLI_USAGE;
	if (seed_given && !seed_in_mix)
		sc->mix.seed = sc->seed;
	if (pt_fmt_levels_for(sc->fmt, sc->va_bits) < 0) {
		char w[128];
		cli_va_widths(sc->fmt, w, sizeof(w));
		cli_err(CMD, "--va-bits: %u is not an IOVA width format %s "
			"supports (it supports %s)", sc->va_bits,
			pt_fmt_name(sc->fmt), w);
		return CLI_USAGE;
	}
	char why[256];
	if (world_check_capacity(sc, why, sizeof(why))) {
		cli_err(CMD, "--guest-mem: %s", why);
		return CLI_USAGE;
	}
	if (!cli_profile_ok(CMD, "--from", sc->from, sc->fmt) ||
	    !cli_profiles_ok(CMD, "--to", sc->to, sc->fmt))
		return CLI_USAGE;
	if (nto != 1 && (unsigned int)nto != sc->updates) {
		cli_err(CMD, "--to: %d profiles for %u update%s (give one, or one "
			"per update)", nto, sc->updates, sc->updates == 1 ? "" : "s");
		return CLI_USAGE;
	}
	if (nstrat != 1 && (unsigned int)nstrat != sc->updates) {
		cli_err(CMD, "--strategy: %d strategies for %u update%s (give one, "
			"or one per update)", nstrat, sc->updates,
			sc->updates == 1 ? "" : "s");
		return CLI_USAGE;
	}
	if (sc->bbm_level && !pt_fmt_bbm_levels(sc->fmt)) {
		cli_err(CMD, "--bbm-level: BBM levels are an ARM property; %s has "
			"none (leave it at 0)", pt_fmt_name(sc->fmt));
		return CLI_USAGE;
	}
	if (sc->preserve > sc->devices) {
		cli_err(CMD, "--preserve: %u devices to preserve, but --devices "
			"gives only %u", sc->preserve, sc->devices);
		return CLI_USAGE;
	}
	if (sc->inject && !strcmp(sc->inject, "unpreserved-running") &&
	    (!sc->preserve || sc->preserve == sc->devices)) {
		cli_err(CMD, "--inject unpreserved-running needs a device that is "
			"not preserved (--preserve K with K below --devices)");
		return CLI_USAGE;
	}
	if (sc->ats == ATS_ALL)
		sc->ats = sc->devices;
	if (sc->ats > sc->devices) {
		cli_err(CMD, "--ats: %u devices with ATS, but the scenario has "
			"%u (--devices)", sc->ats, sc->devices);
		return CLI_USAGE;
	}
	if (sc->naive_ats && !sc->ats) {
		cli_err(CMD, "--naive-ats skips the ATC invalidations of ATS "
			"devices; without --ats there are none");
		return CLI_USAGE;
	}
	if (pasid_options(sc))
		return CLI_USAGE;
	if (sc->iommus > sc->devices) {
		cli_err(CMD, "--iommus: %u IOMMU units, but the scenario has %u "
			"device%s (--devices): every unit needs a device behind "
			"it", sc->iommus, sc->devices, sc->devices == 1 ? "" : "s");
		return CLI_USAGE;
	}
	if (sc->naive_units && sc->iommus < 2) {
		cli_err(CMD, "--naive-units invalidates a domain on its first IOMMU "
			"unit only; with one unit (--iommus) that is every unit");
		return CLI_USAGE;
	}
	const char *nwhy = world_nested_refusal(sc);
	if (nwhy) {
		if (!sc->nested)
			cli_err(CMD, "%s: %s", sc->naive_s1 ? "--naive-s1" :
				"--naive-nested", nwhy);
		else
			cli_err(CMD, "--nested (format %s): %s",
				pt_fmt_name(sc->fmt), nwhy);
		return CLI_USAGE;
	}
	if (conflicts(sc))
		return CLI_USAGE;
	return cli_scenario_open_reports(cs);
}

static int cmd_run(int argc, char **argv)
{
	struct cli_scenario cs;
	bool help;
	cli_scenario_init(&cs, CMD);
	int rc = cli_run_parse(CMD, argc, argv, &cs, &help);
	if (help) {
		usage(stdout);
		return CLI_OK;
	}
	if (rc)
		return rc;
	rc = cli_scenario_run(&cs);
	if (!rc) {
		FILE *out = cli_scenario_human_out(&cs);
		cli_scenario_summary(&cs, out);
		rc = cli_scenario_write_reports(&cs);
		if (!rc) {
			if (cs.json_path && !cli_is_stdio(cs.json_path))
				fprintf(out, "report: %s\n", cs.json_path);
			if (cs.svg_path && !cli_is_stdio(cs.svg_path))
				fprintf(out, "timeline: %s\n", cs.svg_path);
			cli_scenario_saved_blobs(&cs, out);
			rc = cli_scenario_exit(&cs);
		}
	}
	cli_scenario_free(&cs);
	return rc;
}

const struct cli_cmd cli_cmd_run = {
	.name = "run",
	.summary = "one live update scenario, every option (--help)",
	.run = cmd_run,
};
