// SPDX-License-Identifier: MIT
/*
 * iohandover handover show FILE | check FILE: saved handover blobs for
 * people. `check` runs exactly the validation a booting kernel runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "ioh/ioh.h"
#include "ioh/version.h"
#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "lu/lu.h"

#define CMD "handover"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: iohandover handover show [--json] FILE\n"
		"       iohandover handover check [--ram SIZE] FILE\n"
		"  show   print the blob's preserved memory, sessions and objects\n"
		"         (--json: the same as one JSON object)\n"
		"  check  validate it as a booting kernel would (one holding IOMMU\n"
		"         state as the live update kernel does): exit 0 valid,\n"
		"         2 invalid (with the reason); --ram: the machine's RAM\n"
		"         size, 16M to 64T (default: the size the blob states)\n"
		"FILE '-' reads the blob from standard input.\n"
		"A blob is an FDT; `dtc -I dtb -O dts FILE` shows it raw.\n");
}

static int read_file(const char *path, void **buf, size_t *size)
{
	struct stat st;
	bool in = !strcmp(path, "-");
	if (!in && !stat(path, &st) && S_ISDIR(st.st_mode))
		return -EISDIR;
	FILE *f = in ? stdin : fopen(path, "rb");
	if (!f)
		return -errno;
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap);
	while (b) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0 || n > KHO_FDT_MAX)
			break;
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	int err = ferror(f) ? (errno ? -errno : -EIO) : 0;
	if (!in)
		fclose(f);
	if (!b)
		return -ENOMEM;
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*size = n;
	return 0;
}

static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

static void show(const char *path, const struct kho_parsed *p)
{
	char h1[32], h2[32];
	uint64_t n[3] = { 0 }, r[3] = { 0 };
	for (size_t i = 0; i < p->nr_runs; i++) {
		enum kho_order o = kho_lg2_order(p->runs[i].size_lg2);
		n[o] += p->runs[i].count;
		r[o]++;
	}
	printf("%s: handover blob, ABI v%u, written by kernel generation %" PRIu64
	       ", %zu bytes\n",
	       path, p->abi_version, p->generation, p->fdt_size);
	printf("written by: %s\n", *p->producer ? p->producer :
	       "(not recorded: a writer before 0.13.0)");
	printf("machine RAM: %s\n", human(p->ram_size, h1, sizeof(h1)));
	printf("preserved memory: %s in %zu %s and %zu 4K %s\n",
	       human(p->preserved_bytes, h2, sizeof(h2)), p->nr_runs,
	       cli_plural(p->nr_runs, "range", "ranges"), p->nr_masks,
	       cli_plural(p->nr_masks, "bitmap", "bitmaps"));
	for (int o = 2; o >= 0; o--)
		printf("  %s folios: %" PRIu64 " in %" PRIu64 " %s%s", o == 2 ? "1 GiB" :
		       o == 1 ? "2 MiB" : "4 KiB", n[o], r[o],
		       cli_plural(r[o], "range", "ranges"), o ? "\n" : "");
	printf(" + %zu %s\n", p->nr_masks, cli_plural(p->nr_masks, "bitmap", "bitmaps"));
	printf("subsystems:");
	for (size_t i = 0; i < p->nr_subsys; i++)
		printf(" %s v%u", p->subsys[i].ss->name, p->subsys[i].version);
	printf("\n");
	for (size_t s = 0; s < p->nr_sessions; s++) {
		size_t cnt = 0;
		for (size_t i = 0; i < p->nr_objs; i++)
			cnt += p->objs[i].session == s;
		printf("session %s: %zu object%s\n", p->sessions[s], cnt,
		       cnt == 1 ? "" : "s");
		for (size_t i = 0; i < p->nr_objs; i++) {
			const struct kho_pobj *o = &p->objs[i];
			const struct kho_psubsys *ps = &p->subsys[o->subsys];
			char desc[256] = "";
			if (o->session != s)
				continue;
			if (ps->ss->describe)
				ps->ss->describe(p->fdt, o->node, ps->version,
						 desc, sizeof(desc));
			printf("  %s %s: %s\n", ps->ss->name, o->name, desc);
		}
	}
}

/*
 * A blob holding IOMMU state is a live update's: checked as the kernel
 * booting from it checks it (lu_handover_check); one of memfds alone is
 * checked as kho and its subsystems see it.
 */
static int kernel_check(struct kho_vctx *v, const struct kho_parsed *p)
{
	for (size_t i = 0; i < p->nr_objs; i++) {
		const struct kho_subsys *ss = p->subsys[p->objs[i].subsys].ss;
		if (ss && (!strcmp(ss->name, IOMMUFD_KHO_IOMMU) ||
			   !strcmp(ss->name, IOMMUFD_KHO_IOMMUFD)))
			return lu_handover_check(v, p);
	}
	return 0;
}

/* show --json: the same facts for scripts. */
static void show_json(const char *path, const struct kho_parsed *p)
{
	uint64_t n[3] = { 0 }, r[3] = { 0 };
	for (size_t i = 0; i < p->nr_runs; i++) {
		enum kho_order o = kho_lg2_order(p->runs[i].size_lg2);
		n[o] += p->runs[i].count;
		r[o]++;
	}
	printf("{\n  \"tool\": \"iohandover\",\n  \"version\": \"" IOH_VERSION
	       "\",\n  \"file\": ");
	ioh_json_str(stdout, path);
	printf(",\n  \"producer\": ");
	ioh_json_str(stdout, p->producer);
	printf(",\n  \"valid\": true,\n  \"abi_version\": %u,\n  \"generation\": %" PRIu64
	       ",\n  \"fdt_bytes\": %zu,\n  \"ram_bytes\": %" PRIu64
	       ",\n  \"preserved_bytes\": %" PRIu64 ",\n  \"ranges\": %zu,\n"
	       "  \"bitmaps_4k\": %zu,\n  \"folios\": {", p->abi_version,
	       p->generation, p->fdt_size, p->ram_size, p->preserved_bytes,
	       p->nr_runs, p->nr_masks);
	static const char *const name[3] = { "4k", "2m", "1g" };
	for (int o = 2; o >= 0; o--)
		printf("\"%s\": {\"count\": %" PRIu64 ", \"ranges\": %" PRIu64 "}%s",
		       name[o], n[o], r[o], o ? ", " : "");
	printf("},\n  \"subsystems\": [");
	for (size_t i = 0; i < p->nr_subsys; i++) {
		printf("%s{\"name\": ", i ? ", " : "");
		ioh_json_str(stdout, p->subsys[i].ss->name);
		printf(", \"version\": %u}", p->subsys[i].version);
	}
	printf("],\n  \"sessions\": [");
	for (size_t s = 0; s < p->nr_sessions; s++) {
		printf("%s\n    {\"name\": ", s ? "," : "");
		ioh_json_str(stdout, p->sessions[s]);
		printf(", \"objects\": [");
		size_t k = 0;
		for (size_t i = 0; i < p->nr_objs; i++) {
			const struct kho_pobj *o = &p->objs[i];
			const struct kho_psubsys *ps = &p->subsys[o->subsys];
			char desc[256] = "";
			if (o->session != s)
				continue;
			if (ps->ss->describe)
				ps->ss->describe(p->fdt, o->node, ps->version,
						 desc, sizeof(desc));
			printf("%s{\"subsystem\": ", k++ ? ", " : "");
			ioh_json_str(stdout, ps->ss->name);
			printf(", \"name\": ");
			ioh_json_str(stdout, o->name);
			printf(", \"description\": ");
			ioh_json_str(stdout, desc);
			printf("}");
		}
		printf("]}");
	}
	printf("\n  ]\n}\n");
}

int cmd_handover_main(int argc, char **argv);

int cmd_handover_main(int argc, char **argv)
{
	uint64_t ram = 0;
	bool json = false;
	const char *path = NULL;
	int i = 2;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	bool is_show = !strcmp(argv[1], "show");
	if (!is_show && strcmp(argv[1], "check")) {
		cli_err(CMD, "unknown action '%s' (show or check)", argv[1]);
		return CLI_USAGE;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--ram") && !is_show) {
			/* What a machine can have: 16M to 64T. */
			if (i + 1 >= argc) {
				cli_err(CMD, "--ram needs a value");
				return CLI_USAGE;
			}
			const char *v = argv[++i];
			if (*v == '-' || lu_parse_num(v, &ram) ||
			    ram < (16ull << 20) || ram > (64ull << 40)) {
				cli_err(CMD, "--ram: '%s' is not a size from 16M to "
					"64T (like 8G)", v);
				return CLI_USAGE;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json") && is_show) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_err(CMD, "unknown option '%s' ('iohandover handover "
				"--help' lists the options)", argv[i]);
			return CLI_USAGE;		} else if (!path) {
			path = argv[i];
		} else {
			cli_err(CMD, "unexpected argument '%s'", argv[i]);
			return CLI_USAGE;
		}
	}
	if (!path) {
		usage(stderr);
		return CLI_USAGE;
	}
	void *buf = NULL;
	size_t size = 0;
	int rc = read_file(path, &buf, &size);
	if (rc) {
		cli_err(CMD, "%s: %s", path, rc == -EISDIR ?
			"is a directory, not a handover blob" : strerror(-rc));
		return CLI_USAGE;
	}
	struct kho_parsed p;
	struct kho_err err = { { 0 } };
	/* Every subsystem this kernel knows, as a booting kernel has them. */
	rc = iommufd_kho_register();
	if (rc) {
		cli_err(CMD, "register subsystems: %s", strerror(-rc));
		free(buf);
		return CLI_INTERNAL;
	}
	kho_blob_check_set(kernel_check);
	rc = kho_blob_validate(buf, size, ram, &p, &err);
	if (rc && json) {
		printf("{\n  \"tool\": \"iohandover\",\n  \"version\": \"" IOH_VERSION
		       "\",\n  \"file\": ");
		ioh_json_str(stdout, path);
		printf(",\n  \"valid\": false,\n  \"error\": ");
		ioh_json_str(stdout, err.msg);
		printf("\n}\n");
		free(buf);
		return CLI_USAGE;
	}
	if (rc) {
		printf("%s: invalid: %s\n", path, err.msg);
		free(buf);
		return CLI_USAGE;
	}
	if (is_show && json)
		show_json(path, &p);
	else if (is_show)
		show(path, &p);
	else
		printf("%s: valid (ABI v%u, generation %" PRIu64
		       ", %zu %s, %zu %s)\n",
		       path, p.abi_version, p.generation, p.nr_sessions,
		       cli_plural(p.nr_sessions, "session", "sessions"), p.nr_objs,
		       cli_plural(p.nr_objs, "object", "objects"));
	kho_parsed_free(&p);
	free(buf);
	return CLI_OK;
}

const struct cli_cmd cli_cmd_handover = {
	.name = "handover",
	.summary = "show or check a saved handover blob",
	.run = cmd_handover_main,
};
