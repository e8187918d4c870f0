// SPDX-License-Identifier: MIT
/*
 * iohandover check OLD NEW: would switching a device from table OLD to
 * table NEW (two raw dumps, docs/dump-format.md) be hitless? Each range
 * is identical, differs only in granularity, or differs in translation;
 * what each needs is the hardware's break-before-make level
 * (docs/reference.md section 3 rule 2, docs/pt.md):
 *
 *   same         hitless at any level
 *   granule      ARM: level 1 if only contiguous hints differ, else 2;
 *                VT-d and x86-64: tolerated (no levels)
 *   translation  never hitless: DMA would reach another address or fault
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/scenario.h"
#include "cli/table_file.h"

#define CMD "check"

static void usage(FILE *out)
{
	fprintf(out,
"usage: iohandover check [--bbm-level L] [--quiet] OLD NEW\n"
"\n"
"Compare two table dumps (written by 'iohandover dump --raw', format in\n"
"docs/dump-format.md) and print each IOVA range that is identical, differs\n"
"only in granularity (leaf sizes, contiguous hints), or differs in\n"
"translation, with the break-before-make level a live switch from OLD to\n"
"NEW needs there.\n"
"\n"
"  --bbm-level L   the IOMMU's level, 0-2 (ARM formats; default 0)\n"
"  --quiet         only the summary\n"
"  -h, --help      this help\n"
"\n"
"Exit status: 0 the switch is hitless at that level, 1 it is not,\n"
"2 bad option or unreadable dump, 3 internal error.\n");
}

struct check {
	const struct cli_dump *old, *new;
	bool arm, quiet;
	unsigned int bbm;
	uint64_t bytes[3];
	uint64_t ranges[3];
	uint64_t blocked_bytes;  /* granule ranges above the given level */
	unsigned int worst_level; /* highest level a granule range needs */
};

/* Whether every leaf of t in [va, last] is at level. */
static bool leaves_at(const struct pt_table *t, uint64_t va, uint64_t last,
		      unsigned int level)
{
	struct pt_iter it;
	struct pt_leaf l;
	pt_iter_init(&it, t, va, last);
	while (pt_iter_next(t, &it, &l))
		if (l.level != level)
			return false;
	return true;
}

static void print_range(const struct check *c, uint64_t va, uint64_t last,
			enum pt_diff_kind kind, const char *need, bool ok)
{
	char size[32];
	if (c->quiet)
		return;
	cli_fmt_bytes(size, sizeof(size), last - va + 1);
	printf("  0x%016" PRIx64 "-0x%016" PRIx64 "  %-10s  %-11s  %s%s\n",
	       va, last, size, pt_diff_kind_name(kind), need,
	       ok ? "" : "  <-- not hitless here");
}

/* A piece of a granule range and the BBM level a switch needs there. */
static void granule_piece(struct check *c, uint64_t va, uint64_t last,
			  unsigned int level)
{
	char need[64];
	bool ok = level <= c->bbm;
	c->ranges[PT_DIFF_GRANULE]++;
	if (level > c->worst_level)
		c->worst_level = level;
	if (!ok)
		c->blocked_bytes += last - va + 1;
	snprintf(need, sizeof(need), "needs BBM level %u", level);
	print_range(c, va, last, PT_DIFF_GRANULE, need, ok);
}

/*
 * A granule range is judged piece by piece, one old leaf at a time: where
 * the new leaves over it are at the old leaf's level only the contiguous
 * hint differs (level 1 is enough), elsewhere the leaf size changes
 * (level 2). Neighbouring pieces that need the same level are reported as
 * one range; a range whose halves need level 1 each needs no more as a
 * whole.
 */
static void judge_granule(struct check *c, const struct pt_diff_range *r)
{
	struct pt_iter it;
	struct pt_leaf l;
	uint64_t start = r->va, end = r->va;
	unsigned int cur = 0;
	pt_iter_init(&it, &c->old->t, r->va, r->last);
	while (pt_iter_next(&c->old->t, &it, &l)) {
		uint64_t lo = l.va > r->va ? l.va : r->va;
		uint64_t hi = l.va + ((1ull << l.size_lg2) - 1);
		if (hi > r->last)
			hi = r->last;
		unsigned int level = leaves_at(&c->new->t, lo, hi, l.level) ? 1 : 2;
		if (cur && level != cur) {
			granule_piece(c, start, end, cur);
			start = lo;
		}
		cur = level;
		end = hi;
	}
	/* The old table maps all of a granule range; be safe if not. */
	if (!cur)
		granule_piece(c, r->va, r->last, 2);
	else
		granule_piece(c, start, r->last, cur);
}

static int on_range(void *arg, const struct pt_diff_range *r)
{
	struct check *c = arg;
	uint64_t len = r->last - r->va + 1;
	c->bytes[r->kind] += len;
	switch (r->kind) {
	case PT_DIFF_SAME:
		c->ranges[r->kind]++;
		print_range(c, r->va, r->last, r->kind, "hitless at any BBM level", true);
		break;
	case PT_DIFF_GRANULE:
		if (!c->arm) {
			c->ranges[r->kind]++;
			print_range(c, r->va, r->last, r->kind,
				    "tolerated (no BBM levels)", true);
			break;
		}
		judge_granule(c, r);
		break;
	case PT_DIFF_TRANSLATION:
		c->ranges[r->kind]++;
		print_range(c, r->va, r->last, r->kind,
			    "never hitless (translation changes)", false);
		break;
	}
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bbm-level", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct check c = { 0 };
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'q':
			c.quiet = true;
			break;
		case 'b':
			if (strlen(optarg) != 1 || optarg[0] < '0' || optarg[0] > '2') {
				cli_err(CMD, "--bbm-level: '%s' is not 0, 1 or 2", optarg);
				return CLI_USAGE;
			}
			c.bbm = (unsigned int)(optarg[0] - '0');
			break;
		default:
			return cli_bad_option(CMD, argv, optind, optopt);
		}
	}
	if (argc - optind != 2) {
		cli_err(CMD, "needs two table dumps, OLD and NEW (got %d arguments)",
			argc - optind);
		return CLI_USAGE;
	}
	const char *pold = argv[optind], *pnew = argv[optind + 1];
	static struct cli_dump dold, dnew;
	char msg[256];
	if (cli_dump_read(pold, &dold, msg, sizeof(msg))) {
		cli_err(CMD, "OLD: %s", msg);
		return CLI_USAGE;
	}
	if (cli_dump_read(pnew, &dnew, msg, sizeof(msg))) {
		cli_err(CMD, "NEW: %s", msg);
		cli_dump_free(&dold);
		return CLI_USAGE;
	}
	int rc = CLI_OK;
	if (dold.fmt != dnew.fmt) {
		cli_err(CMD, "OLD is %s, NEW is %s: a device switches between tables "
			"of one format", pt_fmt_name(dold.fmt), pt_fmt_name(dnew.fmt));
		rc = CLI_USAGE;
		goto out;
	}
	c.old = &dold;
	c.new = &dnew;
	c.arm = pt_fmt_bbm_levels(dold.fmt);
	if (!c.arm && c.bbm) {
		cli_err(CMD, "--bbm-level: %s has no BBM levels (leave it at 0)",
			pt_fmt_name(dold.fmt));
		rc = CLI_USAGE;
		goto out;
	}
	printf("check: %s (%" PRIu64 " leaves) -> %s (%" PRIu64 " leaves), %s",
	       pold, dold.leaves, pnew, dnew.leaves, pt_fmt_name(dold.fmt));
	if (c.arm)
		printf(", BBM level %u", c.bbm);
	printf("\n\n");
	int err = pt_diff(&dold.t, &dnew.t, 0, ~0ull, on_range, &c);
	if (err < 0) {
		cli_err(CMD, "diff: %s", pt_strerror(err));
		rc = CLI_INTERNAL;
		goto out;
	}
	char s0[32], s1[32], s2[32];
	cli_fmt_bytes(s0, sizeof(s0), c.bytes[PT_DIFF_SAME]);
	cli_fmt_bytes(s1, sizeof(s1), c.bytes[PT_DIFF_GRANULE]);
	cli_fmt_bytes(s2, sizeof(s2), c.bytes[PT_DIFF_TRANSLATION]);
	printf("%ssame %s in %" PRIu64 " ranges; granule %s in %" PRIu64
	       " ranges; translation %s in %" PRIu64 " ranges\n",
	       c.quiet ? "" : "\n", s0, c.ranges[0], s1, c.ranges[1], s2,
	       c.ranges[2]);
	if (c.ranges[PT_DIFF_TRANSLATION]) {
		printf("verdict: NOT hitless: translations differ (a switch would "
		       "misdirect or fault DMA)\n");
		rc = CLI_NOT_HITLESS;
	} else if (c.blocked_bytes) {
		printf("verdict: NOT hitless at BBM level %u: granularity differs, "
		       "which needs level %u (or reconcile NEW to OLD's layout first)\n",
		       c.bbm, c.worst_level);
		rc = CLI_NOT_HITLESS;
	} else {
		if (c.arm)
			printf("verdict: hitless%s\n", c.ranges[1] ?
			       " at this BBM level" : " at any BBM level");
		else if (c.ranges[1])
			/* docs/hw.md "Live changes of page size". */
			printf("verdict: hitless: %s has no BBM levels, and a change "
			       "of page size alone (same output, same permissions) "
			       "is safe on it; the switch is one root-word store "
			       "and an invalidation of the domain\n",
			       pt_fmt_name(dold.fmt));
		else
			printf("verdict: hitless\n");
	}
out:
	cli_dump_free(&dold);
	cli_dump_free(&dnew);
	return rc;
}

const struct cli_cmd cli_cmd_check = {
	.name = "check",
	.summary = "would a switch between two table dumps be hitless (--help)",
	.run = cmd_check,
};
