// SPDX-License-Identifier: MIT
/*
 * iohandover dump: the IOMMU table a host kernel of a given profile builds
 * for a guest, as a readable listing and in the raw format check reads.
 *
 * The table is built the way a first-boot kernel builds it, with the
 * VMM's own functions (lu/vmm.c): the guest's memfd is allocated first
 * from a fresh page allocator over a RAM of the size the world runner
 * gives the machine, mapped as the VMM maps it, and the table is built by
 * iommufd_build_table with the profile's features. Only the
 * table pages come from elsewhere (an arena here, not physmem), so PAs of
 * guest memory match a scenario's, table addresses do not.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "ioh/ioh.h"
#include "ioh/version.h"
#include "cli/scenario.h"
#include "cli/table_file.h"
#include "abi/physmem.h"
#include "iommufd/iommufd.h"
#include "kho/kho.h"
#include "kho/memfd.h"

#define CMD "dump"

static void usage(FILE *out)
{
	fprintf(out,
"usage: iohandover dump [options]\n"
"\n"
"Build the IOMMU table a kernel of PROFILE builds for a guest and print it\n"
"as a readable listing (leaves by level, runs folded), and/or write it in\n"
"the raw format (docs/dump-format.md) that 'iohandover check' compares.\n"
"\n"
"  --profile P        kernel profile (default v1); each exists for its\n"
"                     formats only (docs/liveupdate.md):\n"
"%s"
"  --format F         arm-s1 | arm-s2 | vtd-ss | x86-64 | amd-v1 | riscv\n"
"                     (default arm-s2)\n"
"  --va-bits N        IOVA width (default 48)\n"
"  --guest-mem SIZE   guest RAM, a multiple of 2M (default 1G)\n"
"  --folio-mix SPEC   1g=PPM,4k=PPM,seed=N,scatter=0|1 (as run)\n"
"  --raw FILE         write the raw dump to FILE ('-': standard output,\n"
"                     then no listing)\n"
"  --no-tree          no readable listing\n"
"  --list-profiles    every profile: formats, what it builds, its source\n"
"  --json             the listing as JSON on stdout: the table, every leaf\n"
"                     (va, pa, size, level, prot), the census\n"
"  -h, --help         this help\n"
"\n"
"Example: is v1 -> v2 hitless on ARM without BBM level 2?\n"
"  iohandover dump --profile v1 --raw v1.dump --no-tree\n"
"  iohandover dump --profile v2 --raw v2.dump --no-tree\n"
"  iohandover check --bbm-level 0 v1.dump v2.dump\n"
"\n"
"Exit status: 0 done, 2 bad option or unwritable file, 3 internal error.\n",
		cli_profile_help());
}

static void emit_line(void *arg, const char *s)
{
	FILE *f = arg;
	/* Indent by level: "  L<n>  " follows the size column. */
	const char *lv = strstr(s, "  L");
	unsigned int level = lv ? (unsigned int)atoi(lv + 3) : 0;
	if (!strncmp(s, "table ", 6))
		fprintf(f, "%s\n", s);
	else
		fprintf(f, "%*s%s\n", 2 + 4 * (4 - (level > 4 ? 4 : level)), "", s);
}

/* --json: the table and its leaves for scripts. */
static void dump_json(const struct pt_table *t, enum pt_format_id fmt,
		      const char *comment)
{
	printf("{\n  \"tool\": \"iohandover\",\n  \"version\": \"" IOH_VERSION
	       "\",\n  \"comment\": ");
	ioh_json_str(stdout, comment);
	printf(",\n  \"format\": \"%s\",\n  \"va_bits\": %u,\n  \"oa_bits\": %u,"
	       "\n  \"levels\": %u,\n  \"top_pa\": %" PRIu64 ",\n  \"table_pages\": %"
	       PRIu64 ",\n  \"leaves\": [", pt_fmt_name(fmt), t->va_bits,
	       t->oa_bits, t->top_level + 1, (uint64_t)t->top_pa, t->nr_tables);
	struct pt_iter it;
	struct pt_leaf l;
	uint64_t n = 0;
	pt_iter_init(&it, t, 0, ~0ull);
	while (pt_iter_next(t, &it, &l)) {
		char prot[8];
		snprintf(prot, sizeof(prot), "%c%c%c%c",
			 l.prot & PT_PROT_READ ? 'r' : '-',
			 l.prot & PT_PROT_WRITE ? 'w' : '-',
			 l.prot & PT_PROT_NOEXEC ? '-' : 'x',
			 l.prot & PT_PROT_PRIV ? 'p' : '-');
		printf("%s\n    {\"va\": %" PRIu64 ", \"pa\": %" PRIu64 ", \"size\": %"
		       PRIu64 ", \"level\": %u, \"contiguous\": %s, \"prot\": \"%s\","
		       " \"cache\": %s}", n++ ? "," : "", (uint64_t)l.va,
		       (uint64_t)l.oa, (uint64_t)1 << l.size_lg2, l.level,
		       l.contig ? "true" : "false", prot,
		       l.prot & PT_PROT_CACHE ? "true" : "false");
	}
	printf("\n  ],\n  \"nr_leaves\": %" PRIu64 "\n}\n", n);
}

/* Leaves by size, the line a reader looks for first. */
static void census(const struct pt_table *t)
{
	static const unsigned int sizes[] = { 30, 25, 21, 16, 12 };
	uint64_t count[5] = { 0 }, total = 0;
	struct pt_iter it;
	struct pt_leaf l;
	pt_iter_init(&it, t, 0, ~0ull);
	while (pt_iter_next(t, &it, &l)) {
		for (unsigned int i = 0; i < 5; i++)
			if (l.size_lg2 == sizes[i])
				count[i]++;
		total++;
	}
	printf("leaves: %" PRIu64 " (", total);
	static const char *const names[] = { "1G", "32M contiguous", "2M",
					     "64K contiguous", "4K" };
	bool first = true;
	for (unsigned int i = 0; i < 5; i++)
		if (count[i]) {
			printf("%s%" PRIu64 " x %s", first ? "" : ", ", count[i],
			       names[i]);
			first = false;
		}
	printf("), %" PRIu64 " table pages\n", t->nr_tables);
}

struct guest {
	struct physmem pm;
	struct kho k;
	struct kho_memfd *m;
	struct iommufd_ctx ictx;
	struct iommufd_ioas *ioas;
	bool pm_ok, k_ok, ictx_ok;
};

static int build_guest(struct guest *g, uint64_t size,
		       const struct kho_memfd_mix *mix,
		       const struct iommufd_profile *prof, enum pt_format_id fmt,
		       unsigned int va_bits)
{
	int err = physmem_create(&g->pm, lu_vmm_ram_size(size));
	if (err)
		return err;
	g->pm_ok = true;
	err = kho_init(&g->k, &g->pm, 0);
	if (err)
		return err;
	g->k_ok = true;
	err = lu_vmm_create_guest(&g->k, size, mix, &g->m);
	if (err)
		return err;
	err = iommufd_init(&g->ictx, &g->k, NULL, prof, fmt, va_bits);
	if (err)
		return err;
	g->ictx_ok = true;
	err = iommufd_ioas_alloc(&g->ictx, &g->ioas);
	if (!err)
		err = lu_vmm_map_guest(&g->ictx, g->ioas, g->m, size);
	return err;
}

static void free_guest(struct guest *g)
{
	if (g->ictx_ok)
		iommufd_fini(&g->ictx);
	if (g->m)
		kho_memfd_forget(g->m);
	if (g->k_ok)
		kho_fini(&g->k);
	if (g->pm_ok)
		physmem_detach(&g->pm, true);
}

/* Every profile: name, formats, what it builds, where it was read from. */
static void list_profiles(FILE *out)
{
	for (size_t i = 0; i < iommufd_profile_count(); i++) {
		const struct iommufd_profile *p = iommufd_profile_at(i);
		fprintf(out, "%s\n  formats:", p->name);
		for (unsigned int f = 0; f < PT_FMT_COUNT; f++)
			if (p->formats & IOMMUFD_FMT_BIT(f))
				fprintf(out, " %s", pt_fmt_name((enum pt_format_id)f));
		fprintf(out, "\n  builds:  %s\n  source:  %s\n", p->summary, p->source);
	}
}

static int cmd_dump(int argc, char **argv)
{
	enum { O_PROF = 256, O_FMT, O_VAB, O_GUEST, O_MIX, O_RAW, O_NOTREE, O_LIST,
	       O_JSON };
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, O_PROF },
		{ "format", required_argument, NULL, O_FMT },
		{ "va-bits", required_argument, NULL, O_VAB },
		{ "guest-mem", required_argument, NULL, O_GUEST },
		{ "folio-mix", required_argument, NULL, O_MIX },
		{ "raw", required_argument, NULL, O_RAW },
		{ "no-tree", no_argument, NULL, O_NOTREE },
		{ "list-profiles", no_argument, NULL, O_LIST },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct iommufd_profile *prof = NULL;
	const char *prof_name = "v1";
	enum pt_format_id fmt = PT_FMT_ARM_S2;
	unsigned int va_bits = 48;
	uint64_t size = 1ull << 30, v;
	struct kho_memfd_mix mix = kho_memfd_mix_default;
	char mix_spec[128] = "default";
	const char *raw = NULL;
	bool tree = true, json = false;
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case O_PROF:
			if (!iommufd_profile_find(optarg)) {
				cli_err(CMD, "--profile: unknown profile '%s' (known: %s)",
					optarg, iommufd_profile_names());
				return CLI_USAGE;
			}
			prof_name = optarg;
			break;
		case O_FMT:
			if (pt_fmt_by_name(optarg, &fmt)) {
				cli_err(CMD, "--format: unknown format '%s' (arm-s1, "
					"arm-s2, vtd-ss, x86-64, amd-v1, riscv)", optarg);
				return CLI_USAGE;
			}
			break;
		case O_VAB:
			if (lu_parse_num(optarg, &v) || v > 64) {
				cli_err(CMD, "--va-bits: '%s' is not a number up to 63",
					optarg);
				return CLI_USAGE;
			}
			va_bits = (unsigned int)v;
			break;
		case O_GUEST:
			if (lu_parse_num(optarg, &v) || v % (2ull << 20) || !v ||
			    v > (1ull << 42)) {
				cli_err(CMD, "--guest-mem: '%s' is not a size that is a "
					"multiple of 2M up to 4T (like 512M, 4G)", optarg);
				return CLI_USAGE;
			}
			size = v;
			break;
		case O_MIX:
			if (lu_parse_mix(optarg, &mix)) {
				cli_err(CMD, "--folio-mix: '%s' is not 1g=PPM,4k=PPM,"
					"seed=N,scatter=0|1", optarg);
				return CLI_USAGE;
			}
			snprintf(mix_spec, sizeof(mix_spec), "%s", optarg);
			break;
		case O_RAW:
			raw = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_NOTREE:
			tree = false;
			break;
		case O_LIST:
			list_profiles(stdout);
			return CLI_OK;
		default:
			return cli_bad_option(CMD, argv, optind, optopt);
		}
	}
	if (cli_no_extra_args(CMD, argc, argv, optind))
		return CLI_USAGE;
	if (!cli_profile_ok(CMD, "--profile", prof_name, fmt))
		return CLI_USAGE;
	prof = iommufd_profile_find_for(prof_name, fmt);
	if (pt_fmt_levels_for(fmt, va_bits) < 0) {
		char w[128];
		cli_va_widths(fmt, w, sizeof(w));
		cli_err(CMD, "--va-bits: %u is not an IOVA width %s supports "
			"(it supports %s)", va_bits, pt_fmt_name(fmt), w);
		return CLI_USAGE;
	}
	if (va_bits < 64 && size > (1ull << va_bits)) {
		cli_err(CMD, "--guest-mem: the guest does not fit %u-bit IOVAs",
			va_bits);
		return CLI_USAGE;
	}
	bool raw_stdout = raw && !strcmp(raw, "-");
	if (raw_stdout && json) {
		cli_err(CMD, "--json and --raw - both write to standard output "
			"(give --raw a file)");
		return CLI_USAGE;
	}
	/* Written beside FILE and renamed over it once complete. */
	struct cli_outfile ro = { 0 };
	if (raw) {
		int oerr = cli_outfile_open(&ro, raw);
		if (oerr) {
			cli_err(CMD, "--raw: cannot write '%s': %s", raw,
				strerror(-oerr));
			return CLI_USAGE;
		}
	}
	if (raw_stdout)
		tree = false;

	static struct guest g;
	struct cli_ptmem mem = { 0 };
	struct pt_table t = { 0 };
	int rc = CLI_INTERNAL;
	int err = build_guest(&g, size, &mix, prof, fmt, va_bits);
	if (err) {
		cli_err(CMD, "guest of %" PRIu64 " bytes: %s", size, strerror(-err));
		goto out;
	}
	/* Level-0 tables at most one per 2M, level-1 one per 1G, ... */
	err = cli_ptmem_init(&mem, size / (2ull << 20) + size / (1ull << 30) + 64);
	uint32_t features = iommufd_features(prof, 0);
	struct pt_cfg cfg = {
		.fmt = fmt, .va_bits = va_bits, .oa_bits = 48,
		.pgsizes = iommufd_pgsizes(fmt, features),
	};
	if (!err)
		err = pt_init(&t, &cfg, &mem.ops, &mem);
	if (!err)
		err = iommufd_build_table(g.ioas, &t, features);
	if (err) {
		cli_err(CMD, "building the table: %s", err < 0 && err > -200 ?
			pt_strerror(err) : "failed");
		goto out;
	}
	char comment[256];
	snprintf(comment, sizeof(comment), "built by iohandover dump: profile %s "
		 "(%s), guest %" PRIu64 " bytes, folio mix %s", prof->name,
		 prof->summary, size, mix_spec);
	if (ro.f && (cli_dump_write(ro.f, &t, fmt, comment) ||
		     cli_outfile_commit(&ro))) {
		cli_err(CMD, "--raw: writing '%s' failed", raw);
		goto out;
	}
	if (json) {
		dump_json(&t, fmt, comment);
	} else if (tree) {
		printf("# %s\n", comment);
		pt_dump(&t, emit_line, stdout);
		census(&t);
	}
	rc = CLI_OK;
out:
	cli_outfile_abort(&ro);
	if (t.fmt)
		pt_deinit(&t);
	cli_ptmem_destroy(&mem);
	free_guest(&g);
	return rc;
}

const struct cli_cmd cli_cmd_dump = {
	.name = "dump",
	.summary = "a kernel profile's table for a guest, readable and raw (--help)",
	.run = cmd_dump,
};
