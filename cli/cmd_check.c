// SPDX-License-Identifier: MIT
/*
 * iohandover check OLD NEW: would switching a device from table OLD to
 * table NEW be hitless? Each range is identical, differs only in
 * granularity, or differs in translation; what each needs is the
 * hardware's break-before-make level (docs/reference.md section 3 rule 2,
 * docs/pt.md):
 *
 *   same         hitless at any level
 *   granule      ARM: level 1 if only contiguous hints differ, else 2;
 *                VT-d and x86-64: tolerated (no levels)
 *   translation  never hitless: DMA would reach another address or fault
 *
 * A side is one of three kinds, told apart by its content
 * (docs/dump-format.md): iohandover's own raw dump (cli/table_file.c), a
 * Linux VT-d debugfs domain_translation_struct listing, or FILE@ROOTPA, a
 * table in a raw physical memory image (both tsrc/). Tables of different
 * depth are reported too: the switch then changes more than the root.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioh/version.h"
#include "cli/cli.h"
#include "cli/parse.h"
#include "cli/scenario.h"
#include "cli/table_file.h"
#include "ioh/ioh.h"
#include "tsrc/tsrc.h"

#define CMD "check"

static void usage(FILE *out)
{
	char fmts[160];
	tsrc_fmt_list(fmts, sizeof(fmts));
	fprintf(out,
"usage: iohandover check [options] OLD NEW\n"
"\n"
"Would switching a device from table OLD to table NEW be hitless? Prints\n"
"each IOVA range that is identical, differs only in granularity (leaf sizes,\n"
"contiguous hints), or differs in translation, with the break-before-make\n"
"level a live switch needs there, and whether the tables' depths differ.\n"
"\n"
"OLD and NEW may each be (recognised from the content; docs/dump-format.md):\n"
"  a raw dump       written by 'iohandover dump --raw'\n"
"  a debugfs file   a copy of Linux's VT-d\n"
"                   /sys/kernel/debug/iommu/intel/<bdf>[/<pasid>]/domain_translation_struct\n"
"                   (or the old global .../intel/domain_translation_struct)\n"
"  IMAGE@ROOTPA     the table at physical address ROOTPA in a raw memory\n"
"                   image (byte offset = physical address: QEMU pmemsave,\n"
"                   iohandover's physmem file); needs --format and a depth\n"
"  -                standard input (any of the above; '-@ROOTPA' an image)\n"
"\n"
"  --bbm-level L        the IOMMU's level, 0-2 (ARM formats; default 0)\n"
"  --format F           how to read images and debugfs files, one of\n"
"                       %s\n"
"                       (debugfs default vtd-ss; first-stage PASIDs: x86-64)\n"
"  --va-bits N          IOVA width of a table that does not show its depth\n"
"  --levels N           (an image, an empty debugfs listing), or the level count\n"
"  --old-va-bits N, --new-va-bits N, --old-levels N, --new-levels N\n"
"                       the same for one side only (a debugfs side must agree)\n"
"  --device BDF         the device whose table to take from a debugfs file\n"
"                       that holds several (0000:00:02.0 or 00:02.0)\n"
"  --pasid P            the PASID (hex, as debugfs prints it)\n"
"  --old-device, --new-device, --old-pasid, --new-pasid   for one side only\n"
"  --input-format K[,K] force the kind: dump, debugfs or image (one for both\n"
"                       sides, or OLD's,NEW's)\n"
"  --json               the result as JSON on standard output\n"
"  --quiet              only the summary\n"
"  -h, --help           this help\n"
"\n"
"Example: is the switch from the table a device has now to the one the\n"
"new kernel built (in a QEMU memory dump) safe?\n"
"  cp /sys/kernel/debug/iommu/intel/0000:00:02.0/domain_translation_struct old.txt\n"
"  iohandover check --format vtd-ss --va-bits 48 old.txt new.img@0x7f3000\n"
"\n"
"Exit status: 0 the switch is hitless at that level, 1 it is not (or the\n"
"depth changes), 2 bad option or unreadable input (the message names the\n"
"line, or the physical address and IOVA), 3 internal error.\n", fmts);
}

/* ---- one side ------------------------------------------------------------ */

enum side_kind { KIND_AUTO = -1, KIND_DUMP, KIND_DEBUGFS, KIND_IMAGE };
static const char *const kind_name[] = { "dump", "debugfs", "image" };
static const char *const kind_desc[] = { "iohandover dump", "VT-d debugfs",
					 "memory image" };

struct side {
	const char *label;    /* OLD, NEW */
	const char *arg;
	int forced;           /* enum side_kind or KIND_AUTO */
	enum side_kind kind;
	char path[4096];
	uint64_t root;        /* image */
	struct tsrc_opts o;
	unsigned int va_bits_opt, levels_opt;  /* this side's own */
	struct cli_dump dump;
	struct tsrc_table ts;
	const struct pt_table *t;
	enum pt_format_id fmt;
	unsigned int va_bits, levels;
	bool depth_known;
	uint64_t leaves;
	char *text;           /* debugfs: the file */
	size_t text_len;
};

static int parse_kind(const char *s, int *k)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, kind_name[i])) {
			*k = i;
			return 0;
		}
	return -1;
}

static bool is_file(const char *p)
{
	struct stat st;
	return !stat(p, &st);
}

static int slurp_file(const char *path, char **out, size_t *len, char *msg,
		      size_t mlen)
{
	struct stat st;
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		snprintf(msg, mlen, "%s: is a directory, not a table", path);
		return -1;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(msg, mlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	while (b) {
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		char *nb = realloc(b, cap * 2);
		if (!nb) {
			free(b);
			b = NULL;
			break;
		}
		b = nb;
		cap *= 2;
	}
	bool bad = !b || ferror(f);
	int rerr = errno;
	fclose(f);
	if (bad) {
		free(b);
		snprintf(msg, mlen, "%s: %s", path, b ? strerror(rerr) : "out of memory");
		return -1;
	}
	*out = b;
	*len = n;
	return 0;
}

/* "-" or "-@ROOTPA": the side comes from standard input. */
static bool is_stdin_arg(const char *a)
{
	return a[0] == '-' && (!a[1] || a[1] == '@');
}

static char stdin_copy[64];

static void unlink_stdin_copy(void)
{
	if (stdin_copy[0])
		unlink(stdin_copy);
}

/* A message names standard input "-", not its temporary copy. */
static char *unspool(char *msg)
{
	char *p;
	size_t n = strlen(stdin_copy);
	while (n && (p = strstr(msg, stdin_copy))) {
		*p = '-';
		memmove(p + 1, p + n, strlen(p + n) + 1);
	}
	return msg;
}

/* Copy standard input to a temporary file and read the side from there
 * (a dump and an image are read by name, perhaps twice). */
static int spool_stdin(struct side *s, char *msg, size_t mlen)
{
	static char arg[4200];
	snprintf(stdin_copy, sizeof(stdin_copy), "/tmp/iohandover-stdin-XXXXXX");
	int fd = mkstemp(stdin_copy);
	if (fd < 0) {
		snprintf(msg, mlen, "-: cannot keep standard input in /tmp: %s",
			 strerror(errno));
		stdin_copy[0] = '\0';
		return -1;
	}
	atexit(unlink_stdin_copy);
	char buf[65536];
	ssize_t n;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	int err = errno;
	close(fd);
	if (n < 0) {
		snprintf(msg, mlen, "-: reading standard input: %s", strerror(err));
		return -1;
	}
	snprintf(arg, sizeof(arg), "%s%s", stdin_copy, s->arg + 1);
	s->arg = arg;
	return 0;
}

/* Which kind a side is; images are split into path and root. */
static int classify(struct side *s, char *msg, size_t mlen)
{
	const char *at = strrchr(s->arg, '@');
	bool image = s->forced == KIND_IMAGE ||
		     (s->forced == KIND_AUTO && at && !is_file(s->arg));
	if (image) {
		if (!at || at == s->arg || (size_t)(at - s->arg) >= sizeof(s->path)) {
			snprintf(msg, mlen, "'%s': an image side is written "
				 "FILE@ROOTPA", s->arg);
			return -1;
		}
		/* 0x... or decimal; a leading 0 is not octal here. */
		const char *num = at + 1;
		bool hex = num[0] == '0' && (num[1] == 'x' || num[1] == 'X');
		char *end;
		errno = 0;
		s->root = strtoull(hex ? num + 2 : num, &end, hex ? 16 : 10);
		if (errno || end == (hex ? num + 2 : num) || *end ||
		    !isxdigit((unsigned char)(hex ? num[2] : num[0]))) {
			snprintf(msg, mlen, "'%s': the root '%s' is not a physical "
				 "address", s->arg, at + 1);
			return -1;
		}
		memcpy(s->path, s->arg, (size_t)(at - s->arg));
		s->path[at - s->arg] = '\0';
		s->kind = KIND_IMAGE;
		return 0;
	}
	snprintf(s->path, sizeof(s->path), "%s", s->arg);
	if (s->forced == KIND_DUMP) {
		s->kind = KIND_DUMP;
		return 0;
	}
	if (slurp_file(s->path, &s->text, &s->text_len, msg, mlen))
		return -1;
	size_t ml = strlen(CLI_DUMP_MAGIC);
	if (s->forced == KIND_DEBUGFS) {
		s->kind = KIND_DEBUGFS;
	} else if (s->text_len >= ml && !memcmp(s->text, CLI_DUMP_MAGIC, ml)) {
		s->kind = KIND_DUMP;
	} else if (tsrc_debugfs_sniff(s->text, s->text_len)) {
		s->kind = KIND_DEBUGFS;
	} else {
		snprintf(msg, mlen, "%s:1: not a table dump ('%s %d'), a VT-d "
			 "debugfs listing ('Device ...' lines) or IMAGE@ROOTPA "
			 "(--input-format forces a kind)", s->path, CLI_DUMP_MAGIC,
			 CLI_DUMP_VERSION);
		return -1;
	}
	if (s->kind == KIND_DUMP) {
		free(s->text);
		s->text = NULL;
	}
	return 0;
}

/* Read a classified side; fmt is what other sides or --format say (-1). */
static int read_side(struct side *s, int fmt, int user_fmt, unsigned int gva,
		     unsigned int glv, char *msg, size_t mlen)
{
	s->o.fmt = fmt;
	switch (s->kind) {
	case KIND_DUMP:
		if (cli_dump_read(s->path, &s->dump, msg, mlen))
			return -1;
		s->t = &s->dump.t;
		s->fmt = s->dump.fmt;
		s->va_bits = s->dump.va_bits;
		s->levels = (unsigned int)pt_fmt_levels_for(s->fmt, s->va_bits);
		s->depth_known = true;
		s->leaves = s->dump.leaves;
		/* Only --format is held against a dump: two dumps of
		 * different formats are refused below, naming both. */
		if (user_fmt >= 0 && (enum pt_format_id)user_fmt != s->fmt) {
			snprintf(msg, mlen, "%s: a %s dump, but --format says %s",
				 s->path, pt_fmt_name(s->fmt),
				 pt_fmt_name((enum pt_format_id)user_fmt));
			return -1;
		}
		return 0;
	case KIND_DEBUGFS:
		/* Its rows show the depth: only this side's options must
		 * agree with them; the global ones serve an empty listing. */
		s->o.va_bits = s->va_bits_opt;
		s->o.levels = s->levels_opt;
		if (tsrc_debugfs_parse(&s->ts, s->path, s->text, s->text_len, &s->o,
				       msg, mlen))
			return -1;
		if (!s->ts.depth_known && !s->va_bits_opt && !s->levels_opt &&
		    (gva || glv)) {
			tsrc_free(&s->ts);
			s->o.va_bits = gva;
			s->o.levels = glv;
			if (tsrc_debugfs_parse(&s->ts, s->path, s->text, s->text_len,
					       &s->o, msg, mlen))
				return -1;
		}
		break;
	case KIND_AUTO:
		return -1;
	case KIND_IMAGE:
		s->o.va_bits = s->va_bits_opt ? s->va_bits_opt :
			       (s->levels_opt ? 0 : gva);
		s->o.levels = s->levels_opt ? s->levels_opt : glv;
		if (tsrc_image_open(&s->ts, s->path, s->root, &s->o, msg, mlen))
			return -1;
		break;
	}
	s->t = &s->ts.t;
	s->fmt = s->ts.fmt;
	s->va_bits = s->ts.va_bits;
	s->levels = s->ts.levels;
	s->depth_known = s->ts.depth_known;
	s->leaves = s->ts.leaves;
	return 0;
}

static void free_side(struct side *s)
{
	if (s->kind == KIND_DUMP)
		cli_dump_free(&s->dump);
	else
		tsrc_free(&s->ts);
	free(s->text);
	s->text = NULL;
}

static void describe(const struct side *s, char *out, size_t len)
{
	char extra[160] = "";
	if (s->kind == KIND_DEBUGFS) {
		snprintf(extra, sizeof(extra), ", device %s", s->ts.device);
		if (s->ts.pasid >= 0)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " pasid %lx", s->ts.pasid);
	}
	if (s->kind != KIND_DUMP)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ", root 0x%" PRIx64, s->ts.root_pa);
	snprintf(out, len, "%s%s, %s, %u levels (%u-bit IOVA)%s, %" PRIu64
		 " leaves", kind_desc[s->kind], extra, pt_fmt_name(s->fmt),
		 s->levels, s->va_bits, s->depth_known ? "" : " assumed: the "
		 "listing is empty", s->leaves);
}

static void json_side(const struct side *s)
{
	printf("{\"input\": ");
	ioh_json_str(stdout, s->arg);
	printf(", \"kind\": \"%s\", \"format\": \"%s\", \"va_bits\": %u, "
	       "\"levels\": %u, \"depth_known\": %s, \"leaves\": %" PRIu64,
	       kind_name[s->kind], pt_fmt_name(s->fmt), s->va_bits, s->levels,
	       s->depth_known ? "true" : "false", s->leaves);
	if (s->kind != KIND_DUMP)
		printf(", \"root\": \"0x%" PRIx64 "\"", s->ts.root_pa);
	if (s->kind == KIND_DEBUGFS) {
		printf(", \"device\": ");
		ioh_json_str(stdout, s->ts.device);
		if (s->ts.pasid >= 0)
			printf(", \"pasid\": %ld", s->ts.pasid);
	}
	printf("}");
}

/* ---- the comparison ------------------------------------------------------ */

struct check {
	const struct pt_table *old, *new;
	bool arm, quiet, json;
	unsigned int bbm;
	uint64_t bytes[3];
	uint64_t ranges[3];
	uint64_t printed;
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

static void print_range(struct check *c, uint64_t va, uint64_t last,
			enum pt_diff_kind kind, const char *need, bool ok)
{
	char size[32];
	if (c->json) {
		printf("%s\n    {\"first\": \"0x%" PRIx64 "\", \"last\": \"0x%"
		       PRIx64 "\", \"bytes\": %" PRIu64 ", \"kind\": \"%s\", "
		       "\"needs\": ", c->printed ? "," : "", va, last,
		       last - va + 1, pt_diff_kind_name(kind));
		ioh_json_str(stdout, need);
		printf(", \"hitless\": %s}", ok ? "true" : "false");
		c->printed++;
		return;
	}
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
	pt_iter_init(&it, c->old, r->va, r->last);
	while (pt_iter_next(c->old, &it, &l)) {
		uint64_t lo = l.va > r->va ? l.va : r->va;
		uint64_t hi = l.va + ((1ull << l.size_lg2) - 1);
		if (hi > r->last)
			hi = r->last;
		unsigned int level = leaves_at(c->new, lo, hi, l.level) ? 1 : 2;
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

/* What a switch between tables of different depth needs, in one text. */
static void depth_needs(char *out, size_t len, const struct side *o,
			const struct side *n)
{
	snprintf(out, len,
		 "OLD has %u levels (%u-bit IOVA), NEW has %u (%u-bit): the switch "
		 "changes the IOVA width the device's entry gives the IOMMU as well "
		 "as its root pointer, so it is not a single-word replace of the "
		 "root. Both must change together: in one store the IOMMU reads as "
		 "a whole (a VT-d scalable-mode PASID entry keeps AW and SSPTPTR in "
		 "one 64-bit word; the legacy context entry keeps AW in its upper "
		 "half and the root in its lower; iohandover's machine keeps VA_BITS "
		 "and ROOT in different STE words, docs/hw.md), or through a "
		 "not-present entry, which faults DMA meanwhile; then invalidate "
		 "the entry's cache and the domain's IOTLB and walk caches. To keep "
		 "the switch one store, build NEW at OLD's depth (%u-bit IOVA).",
		 o->levels, o->va_bits, n->levels, n->va_bits, o->va_bits);
}

/* text after a label, wrapped at 78 columns and indented under it. */
static void print_wrapped(const char *label, const char *text)
{
	size_t ind = strlen(label), col = ind;
	fputs(label, stdout);
	while (*text) {
		size_t w = strcspn(text, " ");
		if (col > ind && col + 1 + w > 78) {
			printf("\n%*s", (int)ind, "");
			col = ind;
		} else if (col > ind) {
			putchar(' ');
			col++;
		}
		fwrite(text, 1, w, stdout);
		col += w;
		text += w;
		while (*text == ' ')
			text++;
	}
	putchar('\n');
}

enum {
	OPT_FORMAT = 256, OPT_VA_BITS, OPT_LEVELS, OPT_OLD_VA, OPT_NEW_VA,
	OPT_OLD_LV, OPT_NEW_LV, OPT_DEVICE, OPT_PASID, OPT_OLD_DEV, OPT_NEW_DEV,
	OPT_OLD_PASID, OPT_NEW_PASID, OPT_INPUT, OPT_JSON,
};

static int parse_uint(const char *opt, const char *v, unsigned int max,
		      unsigned int *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x == 0 || x > max) {
		cli_err(CMD, "--%s: '%s' is not a number from 1 to %u", opt, v, max);
		return -1;
	}
	*out = (unsigned int)x;
	return 0;
}

static int parse_pasid(const char *opt, const char *v, long *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 16);
	if (errno || end == v || *end || *v == '-' || x >= (1ul << 20)) {
		cli_err(CMD, "--%s: '%s' is not a 20-bit hex PASID", opt, v);
		return -1;
	}
	*out = (long)x;
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bbm-level", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "va-bits", required_argument, NULL, OPT_VA_BITS },
		{ "levels", required_argument, NULL, OPT_LEVELS },
		{ "old-va-bits", required_argument, NULL, OPT_OLD_VA },
		{ "new-va-bits", required_argument, NULL, OPT_NEW_VA },
		{ "old-levels", required_argument, NULL, OPT_OLD_LV },
		{ "new-levels", required_argument, NULL, OPT_NEW_LV },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "pasid", required_argument, NULL, OPT_PASID },
		{ "old-device", required_argument, NULL, OPT_OLD_DEV },
		{ "new-device", required_argument, NULL, OPT_NEW_DEV },
		{ "old-pasid", required_argument, NULL, OPT_OLD_PASID },
		{ "new-pasid", required_argument, NULL, OPT_NEW_PASID },
		{ "input-format", required_argument, NULL, OPT_INPUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct check c = { 0 };
	static struct side sd[2];
	memset(sd, 0, sizeof(sd));
	sd[0].label = "OLD";
	sd[1].label = "NEW";
	for (int i = 0; i < 2; i++) {
		tsrc_opts_init(&sd[i].o);
		sd[i].forced = KIND_AUTO;
	}
	int fmt = -1;
	unsigned int gva = 0, glv = 0;
	const char *gdev = NULL;
	long gpasid = -1;
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		struct side *one = NULL;
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
		case OPT_FORMAT: {
			enum pt_format_id id;
			if (pt_fmt_by_name(optarg, &id)) {
				char list[160];
				tsrc_fmt_list(list, sizeof(list));
				cli_err(CMD, "--format: unknown format '%s' (%s)", optarg,
					list);
				return CLI_USAGE;
			}
			fmt = (int)id;
			break;
		}
		case OPT_VA_BITS:
			if (parse_uint("va-bits", optarg, 64, &gva))
				return CLI_USAGE;
			break;
		case OPT_LEVELS:
			if (parse_uint("levels", optarg, PT_MAX_LEVELS, &glv))
				return CLI_USAGE;
			break;
		case OPT_OLD_VA:
		case OPT_NEW_VA:
			one = &sd[o == OPT_NEW_VA];
			if (parse_uint(o == OPT_NEW_VA ? "new-va-bits" : "old-va-bits",
				       optarg, 64, &one->va_bits_opt))
				return CLI_USAGE;
			break;
		case OPT_OLD_LV:
		case OPT_NEW_LV:
			one = &sd[o == OPT_NEW_LV];
			if (parse_uint(o == OPT_NEW_LV ? "new-levels" : "old-levels",
				       optarg, PT_MAX_LEVELS, &one->levels_opt))
				return CLI_USAGE;
			break;
		case OPT_DEVICE:
			gdev = optarg;
			break;
		case OPT_OLD_DEV:
		case OPT_NEW_DEV:
			sd[o == OPT_NEW_DEV].o.device = optarg;
			break;
		case OPT_PASID:
			if (parse_pasid("pasid", optarg, &gpasid))
				return CLI_USAGE;
			break;
		case OPT_OLD_PASID:
		case OPT_NEW_PASID:
			if (parse_pasid(o == OPT_NEW_PASID ? "new-pasid" : "old-pasid",
					optarg, &sd[o == OPT_NEW_PASID].o.pasid))
				return CLI_USAGE;
			break;
		case OPT_INPUT: {
			char a[16] = "", b[16] = "";
			const char *comma = strchr(optarg, ',');
			size_t al = comma ? (size_t)(comma - optarg) : strlen(optarg);
			if (al < sizeof(a))
				memcpy(a, optarg, al);
			snprintf(b, sizeof(b), "%s", comma ? comma + 1 : a);
			if (al >= sizeof(a) || parse_kind(a, &sd[0].forced) ||
			    parse_kind(b, &sd[1].forced)) {
				cli_err(CMD, "--input-format: '%s' is not dump, debugfs "
					"or image (or two of them, OLD's,NEW's)", optarg);
				return CLI_USAGE;
			}
			break;
		}
		case OPT_JSON:
			c.json = true;
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
	for (int i = 0; i < 2; i++) {
		sd[i].arg = argv[optind + i];
		/* --device and --pasid choose in a file of several tables;
		 * --old-device and the like must match. */
		if (!sd[i].o.device && sd[i].o.pasid < 0)
			sd[i].o.loose = true;
		if (!sd[i].o.device)
			sd[i].o.device = gdev;
		if (sd[i].o.pasid < 0)
			sd[i].o.pasid = gpasid;
	}
	char msg[768];
	int rc = CLI_OK;
	if (is_stdin_arg(sd[0].arg) && is_stdin_arg(sd[1].arg)) {
		cli_err(CMD, "OLD and NEW are both '-': only one side can be read "
			"from standard input");
		return CLI_USAGE;
	}
	for (int i = 0; i < 2; i++)
		if (is_stdin_arg(sd[i].arg) && spool_stdin(&sd[i], msg, sizeof(msg))) {
			cli_err(CMD, "%s: %s", sd[i].label, unspool(msg));
			return CLI_USAGE;
		}
	for (int i = 0; i < 2; i++)
		if (classify(&sd[i], msg, sizeof(msg))) {
			cli_err(CMD, "%s: %s", sd[i].label, unspool(msg));
			rc = CLI_USAGE;
			goto out;
		}
	/* Dumps say their format; debugfs files and images are read with
	 * --format, else a dump's, else (debugfs) vtd-ss; an image without
	 * any takes the debugfs side's. */
	int known = fmt;
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < 2; i++) {
			if ((int)sd[i].kind != pass)
				continue;
			if (read_side(&sd[i], known, fmt, gva, glv, msg,
				      sizeof(msg))) {
				cli_err(CMD, "%s: %s", sd[i].label, unspool(msg));
				rc = CLI_USAGE;
				goto out;
			}
			if (known < 0)
				known = (int)sd[i].fmt;
		}
	const struct side *so = &sd[0], *sn = &sd[1];
	if (so->fmt != sn->fmt) {
		cli_err(CMD, "OLD is %s, NEW is %s: a device switches between tables "
			"of one format", pt_fmt_name(so->fmt), pt_fmt_name(sn->fmt));
		rc = CLI_USAGE;
		goto out;
	}
	c.old = so->t;
	c.new = sn->t;
	c.arm = pt_fmt_bbm_levels(so->fmt);
	if (!c.arm && c.bbm) {
		cli_err(CMD, "--bbm-level: %s has no BBM levels (leave it at 0)",
			pt_fmt_name(so->fmt));
		rc = CLI_USAGE;
		goto out;
	}
	bool depth = so->depth_known && sn->depth_known && so->levels != sn->levels;
	char dtext[1024] = "";
	if (depth)
		depth_needs(dtext, sizeof(dtext), so, sn);
	if (c.json) {
		printf("{\n  \"tool\": \"iohandover\",\n  \"version\": \""
		       IOH_VERSION "\",\n  \"old\": ");
		json_side(so);
		printf(",\n  \"new\": ");
		json_side(sn);
		printf(",\n  \"format\": \"%s\",\n  \"bbm_levels\": %s,\n"
		       "  \"bbm_level\": %u,\n  \"ranges\": [", pt_fmt_name(so->fmt),
		       c.arm ? "true" : "false", c.bbm);
	} else {
		char d0[256], d1[256];
		describe(so, d0, sizeof(d0));
		describe(sn, d1, sizeof(d1));
		char a0[4300], a1[4300];
		snprintf(a0, sizeof(a0), "%s", so->arg);
		snprintf(a1, sizeof(a1), "%s", sn->arg);
		printf("check: %s (%" PRIu64 " leaves) -> %s (%" PRIu64 " leaves), %s",
		       unspool(a0), so->leaves, unspool(a1), sn->leaves,
		       pt_fmt_name(so->fmt));
		if (c.arm)
			printf(", BBM level %u", c.bbm);
		printf("\n  OLD: %s\n  NEW: %s\n\n", d0, d1);
	}
	int err = pt_diff(c.old, c.new, 0, ~0ull, on_range, &c);
	if (err < 0) {
		if (c.json)
			printf("]}\n");
		cli_err(CMD, "diff: %s", pt_strerror(err));
		rc = CLI_INTERNAL;
		goto out;
	}
	const char *verdict;
	char vtext[256];
	if (c.ranges[PT_DIFF_TRANSLATION]) {
		verdict = "not_hitless";
		snprintf(vtext, sizeof(vtext), "NOT hitless: translations differ (a "
			 "switch would misdirect or fault DMA)");
		rc = CLI_NOT_HITLESS;
	} else if (c.blocked_bytes) {
		verdict = "not_hitless";
		snprintf(vtext, sizeof(vtext), "NOT hitless at BBM level %u: "
			 "granularity differs, which needs level %u (or reconcile NEW "
			 "to OLD's layout first)", c.bbm, c.worst_level);
		rc = CLI_NOT_HITLESS;
	} else if (depth) {
		verdict = "not_hitless";
		snprintf(vtext, sizeof(vtext), "NOT hitless as a root switch: the "
			 "translations agree, but the depth changes (see depth)");
		rc = CLI_NOT_HITLESS;
	} else if (!c.arm && c.ranges[1]) {
		/* docs/hw.md "Live changes of page size". */
		verdict = "hitless";
		snprintf(vtext, sizeof(vtext), "hitless: %s has no BBM levels, and "
			 "a change of page size alone (same output, same "
			 "permissions) is safe on it; the switch is one root-word "
			 "store and an invalidation of the domain",
			 pt_fmt_name(sd[0].fmt));
	} else {
		verdict = "hitless";
		snprintf(vtext, sizeof(vtext), "hitless%s", c.arm ? (c.ranges[1] ?
			 " at this BBM level" : " at any BBM level") : "");
	}
	if (c.json) {
		printf("\n  ],\n  \"summary\": {\"same_bytes\": %" PRIu64 ", "
		       "\"same_ranges\": %" PRIu64 ", \"granule_bytes\": %" PRIu64 ", "
		       "\"granule_ranges\": %" PRIu64 ", \"translation_bytes\": %"
		       PRIu64 ", \"translation_ranges\": %" PRIu64 ", "
		       "\"worst_bbm_level\": %u},\n  \"depth\": {\"differs\": %s",
		       c.bytes[0], c.ranges[0], c.bytes[1], c.ranges[1], c.bytes[2],
		       c.ranges[2], c.worst_level, depth ? "true" : "false");
		if (depth) {
			printf(", \"needs\": ");
			ioh_json_str(stdout, dtext);
		}
		printf("},\n  \"verdict\": \"%s\",\n  \"message\": ", verdict);
		ioh_json_str(stdout, vtext);
		printf(",\n  \"exit\": %d\n}\n", rc);
		goto out;
	}
	char s0[32], s1[32], s2[32];
	cli_fmt_bytes(s0, sizeof(s0), c.bytes[PT_DIFF_SAME]);
	cli_fmt_bytes(s1, sizeof(s1), c.bytes[PT_DIFF_GRANULE]);
	cli_fmt_bytes(s2, sizeof(s2), c.bytes[PT_DIFF_TRANSLATION]);
	printf("%ssame %s in %" PRIu64 " %s; granule %s in %" PRIu64
	       " %s; translation %s in %" PRIu64 " %s\n",
	       c.quiet ? "" : "\n", s0, c.ranges[0],
	       cli_plural(c.ranges[0], "range", "ranges"), s1, c.ranges[1],
	       cli_plural(c.ranges[1], "range", "ranges"), s2, c.ranges[2],
	       cli_plural(c.ranges[2], "range", "ranges"));
	if (depth)
		print_wrapped("depth: ", dtext);
	printf("verdict: %s\n", vtext);
out:
	free_side(&sd[0]);
	free_side(&sd[1]);
	return rc;
}

const struct cli_cmd cli_cmd_check = {
	.name = "check",
	.summary = "would a switch between two tables (dumps, debugfs, memory images) be hitless",
	.run = cmd_check,
};
