// SPDX-License-Identifier: MIT
/*
 * iohandover kernel: one generation of the host kernel. It boots fresh or
 * from a handover (the blob's physical address is the only thing passed on,
 * like a kernel command line), claims what was preserved, and, if asked to
 * go on, preserves its state and execve()s the next kernel binary.
 */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "kho/kho.h"
#include "kho/memfd.h"

#define CMD "kernel"
#define MAX_MEMFDS 16
#define MAX_KEEP 16

static void usage(FILE *out)
{
	fprintf(out,
		"usage: iohandover kernel [options]\n"
		"  --physmem-fd FD       RAM inherited from the machine (or:)\n"
		"  --physmem-size SIZE   create a private RAM (e.g. 8G)\n"
		"  --handover PA         boot from the handover at physical address PA\n"
		"  --profile NAME        kernel profile (passed on to later generations)\n"
		"  --keep-fd FD          descriptor kept across exec (repeatable)\n"
		"  --guest-size SIZE     fresh boot: create memfd vm0/guest-ram\n"
		"  --mix SPEC            1g=PPM,4k=PPM,seed=N,scatter=0|1\n"
		"  --generations N       boot N kernels in a row (this one included)\n"
		"  --next PATH           binary of the next kernel (default: this one)\n"
		"  --save-handover DIR   keep a copy of every blob passed on (DIR is\n"
		"                        created if missing)\n"
		"  --report-fd FD        one report line per generation (default stdout)\n"
		"  --fault NAME          test hook: uncommit, corrupt-fdt, bad-version,\n"
		"                        rely-unpreserved\n");
}

struct opts {
	int physmem_fd;
	uint64_t physmem_size;
	bool has_handover;
	uint64_t handover_pa;
	const char *profile;
	int keep[MAX_KEEP];
	size_t nr_keep;
	uint64_t guest_size;
	struct kho_memfd_mix mix;
	uint64_t generations;
	const char *next;
	const char *save_dir;
	int report_fd;
	const char *fault;
	bool has_peek;
	uint64_t peek_pa;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .physmem_fd = -1, .generations = 1,
			    .report_fd = STDOUT_FILENO,
			    .mix = kho_memfd_mix_default };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(CLI_OK);
		}
		if (!v) {
			cli_err(CMD, "option %s needs a value", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--profile")) {
			o->profile = v;
		} else if (!strcmp(a, "--next")) {
			o->next = v;
		} else if (!strcmp(a, "--save-handover")) {
			o->save_dir = v;
		} else if (!strcmp(a, "--fault")) {
			o->fault = v;
		} else if (!strcmp(a, "--mix")) {
			if (lu_parse_mix(v, &o->mix)) {
				cli_err(CMD, "--mix: bad spec '%s'", v);
				return -EINVAL;
			}
		} else if (lu_parse_num(v, &x)) {
			cli_err(CMD, "option %s: '%s' is not a number", a, v);
			return -EINVAL;
		} else if (!strcmp(a, "--physmem-fd") && x <= INT32_MAX) {
			o->physmem_fd = (int)x;
		} else if (!strcmp(a, "--physmem-size")) {
			o->physmem_size = x;
		} else if (!strcmp(a, "--handover")) {
			o->has_handover = true;
			o->handover_pa = x;
		} else if (!strcmp(a, "--keep-fd") && x <= INT32_MAX &&
			   o->nr_keep < MAX_KEEP) {
			o->keep[o->nr_keep++] = (int)x;
		} else if (!strcmp(a, "--guest-size")) {
			o->guest_size = x;
		} else if (!strcmp(a, "--generations") && x >= 1) {
			o->generations = x;
		} else if (!strcmp(a, "--report-fd") && x <= INT32_MAX) {
			o->report_fd = (int)x;
		} else if (!strcmp(a, "--peek")) {
			o->has_peek = true;
			o->peek_pa = x;
		} else {
			cli_err(CMD, "unknown or bad option %s %s", a, v);
			return -EINVAL;
		}
	}
	if (o->fault && strcmp(o->fault, "uncommit") &&
	    strcmp(o->fault, "corrupt-fdt") && strcmp(o->fault, "bad-version") &&
	    strcmp(o->fault, "rely-unpreserved")) {
		cli_err(CMD, "--fault: unknown fault '%s' (uncommit, corrupt-fdt, "
			"bad-version, rely-unpreserved)", o->fault);
		return -EINVAL;
	}
	struct stat st;
	if (o->save_dir) {
		/* Created if missing, as the first blob would create it. */
		if (stat(o->save_dir, &st) && errno == ENOENT)
			mkdir(o->save_dir, 0777);
		const char *why = stat(o->save_dir, &st) ? strerror(errno) :
			!S_ISDIR(st.st_mode) ? "not a directory" :
			access(o->save_dir, W_OK | X_OK) ? strerror(errno) : NULL;
		if (why) {
			cli_err(CMD, "--save-handover: '%s': %s (it must be a "
				"writable directory)", o->save_dir, why);
			return -EINVAL;
		}
	}
	if ((o->physmem_fd < 0) == !o->physmem_size) {
		cli_err(CMD, "give exactly one of --physmem-fd and --physmem-size");
		return -EINVAL;
	}
	if (o->has_handover && o->physmem_fd < 0) {
		cli_err(CMD, "--handover needs --physmem-fd (RAM must survive)");
		return -EINVAL;
	}
	return 0;
}

/* Test hooks that damage the committed handover, as a crash or bug would. */
static int apply_fault(struct kho *k, const char *fault, uint64_t *peek)
{
	struct kho_header *h = kho_va(k, k->out_pa, KHO_HDR_SIZE);
	uint8_t *fdt = (uint8_t *)h + KHO_HDR_SIZE;
	if (!strcmp(fault, "uncommit")) {
		h->commit = 0;
	} else if (!strcmp(fault, "corrupt-fdt")) {
		fdt[h->fdt_size / 2] ^= 0x40;
	} else if (!strcmp(fault, "bad-version")) {
		/* Same length as the current compatible: set in place. */
		char cur[64];
		snprintf(cur, sizeof(cur), KHO_COMPAT_PREFIX "memfd-v%u",
			 KHO_MEMFD_VERSION);
		int node = fdt_node_offset_by_compatible(fdt, -1, cur);
		if (node < 0 ||
		    fdt_setprop_inplace(fdt, node, "compatible",
					KHO_COMPAT_PREFIX "memfd-v9",
					sizeof(KHO_COMPAT_PREFIX "memfd-v9")))
			return -EINVAL;
		h->fdt_csum = kho_csum(fdt, h->fdt_size);
		h->commit = KHO_COMMIT_MAGIC ^ h->fdt_csum;
	} else if (!strcmp(fault, "rely-unpreserved")) {
		/* State the next kernel will read but that nobody preserved. */
		int err = kho_folio_alloc(&k->alloc, KHO_4K_LG2, peek);
		if (err)
			return err;
		*(uint64_t *)kho_va(k, *peek, 8) = 0x1234567890abcdefull;
	} else {
		return -EINVAL;
	}
	return 0;
}

static void teardown(struct kho *k, struct physmem *pm,
		     struct kho_memfd **memfds, size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		if (!memfds[i])
			continue;
		memfds[i]->preserved = false;
		kho_memfd_destroy(memfds[i]);
	}
	kho_fini(k);
	physmem_detach(pm, false);
}

int cmd_kernel_main(int argc, char **argv);

int cmd_kernel_main(int argc, char **argv)
{
	struct opts o;
	struct physmem pm;
	struct kho k;
	struct kho_err err = { { 0 } };
	struct kho_memfd *memfds[MAX_MEMFDS] = { NULL };
	const char *sessions[MAX_MEMFDS];
	size_t nr = 0;
	uint64_t folios = 0, bad = 0;
	int64_t freed = 0;
	int rc;

	/* With the machine's registers it is a full host kernel (lu/). */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--region-fd"))
			return cli_kernel_lu(argc, argv);
	if (parse_opts(argc, argv, &o))
		return CLI_USAGE;
	rc = o.physmem_fd >= 0 ? physmem_attach(&pm, o.physmem_fd)
			       : physmem_create(&pm, o.physmem_size);
	if (rc) {
		cli_err(CMD, "physmem: %s", strerror(-rc));
		return CLI_USAGE;
	}
	if (o.has_handover) {
		rc = kho_boot(&k, &pm, o.handover_pa, &err);
		if (rc) {
			cli_err(CMD, "handover at 0x%" PRIx64 " refused: %s",
				o.handover_pa, err.msg);
			physmem_detach(&pm, false);
			return CLI_USAGE;
		}
		kho_poison_trap_install(&k);
		if (o.has_peek) {
			/* Relying on memory the previous kernel did not
			 * preserve: the poison must catch this read. */
			volatile uint64_t *p = kho_va(&k, o.peek_pa, 8);
			fprintf(stderr, "kernel: reading 0x%" PRIx64 ": %" PRIx64
				"\n", o.peek_pa, p ? *p : 0);
		}
		for (size_t i = 0; i < k.in.nr_objs && nr < MAX_MEMFDS; i++) {
			const struct kho_pobj *ob = &k.in.objs[i];
			if (strcmp(k.in.subsys[ob->subsys].ss->name,
				   KHO_MEMFD_SUBSYS))
				continue;
			sessions[nr] = k.in.sessions[ob->session];
			rc = kho_memfd_retrieve(&k, sessions[nr], ob->name,
						&memfds[nr]);
			if (rc) {
				cli_err(CMD, "retrieve %s/%s: %s", sessions[nr],
					ob->name, strerror(-rc));
				teardown(&k, &pm, memfds, nr);
				return CLI_INTERNAL;
			}
			nr++;
		}
	} else {
		rc = kho_init(&k, &pm, 0);
		if (rc) {
			cli_err(CMD, "allocator: %s", strerror(-rc));
			physmem_detach(&pm, false);
			return CLI_INTERNAL;
		}
		if (o.guest_size) {
			rc = kho_memfd_create(&k, "guest-ram", o.guest_size,
					      &o.mix, &memfds[0]);
			if (!rc)
				rc = kho_memfd_stamp(memfds[0]);
			if (rc) {
				cli_err(CMD, "guest memfd of %" PRIu64
					" bytes: %s", o.guest_size,
					strerror(-rc));
				teardown(&k, &pm, memfds, 1);
				return CLI_USAGE;
			}
			sessions[0] = "vm0";
			nr = 1;
		}
	}
	for (size_t i = 0; i < nr; i++) {
		folios += memfds[i]->nr_folios;
		bad += kho_memfd_check_stamp(memfds[i]);
	}
	/* Session names live in the incoming blob, gone after finish. */
	char names[MAX_MEMFDS][KHO_NAME_MAX];
	for (size_t i = 0; i < nr; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", sessions[i]);
		sessions[i] = names[i];
	}
	if (k.has_incoming)
		freed = kho_finish(&k);

	dprintf(o.report_fd,
		"gen=%" PRIu64 " pid=%d exe=%s profile=%s boot=%s memfds=%zu "
		"folios=%" PRIu64 " bad=%" PRIu64 " finish_freed=%" PRId64
		" validate_ns=%" PRIu64 " reserve_ns=%" PRIu64
		" poison_ns=%" PRIu64 "\n",
		k.generation, (int)getpid(), cli_self_path(),
		o.profile ? o.profile : "-", o.has_handover ? "handover" : "fresh",
		nr, folios, bad, freed, k.boot.validate_ns, k.boot.reserve_ns,
		k.boot.poison_ns);
	if (bad || o.generations <= 1) {
		teardown(&k, &pm, memfds, nr);
		return bad ? CLI_NOT_HITLESS : CLI_OK;
	}

	/* Live update: preserve, serialize, freeze, exec. */
	if (o.save_dir)
		snprintf(k.save_dir, sizeof(k.save_dir), "%s", o.save_dir);
	for (size_t i = 0; i < nr; i++) {
		struct luo_session *s = luo_session_find(&k, sessions[i]);
		rc = s ? 0 : luo_session_create(&k, sessions[i], &s);
		if (!rc)
			rc = kho_memfd_preserve(s, memfds[i]->name, memfds[i]);
		if (rc) {
			cli_err(CMD, "preserve %s/%s: %s", sessions[i],
				memfds[i]->name, strerror(-rc));
			kho_cancel(&k);
			teardown(&k, &pm, memfds, nr);
			return CLI_INTERNAL;
		}
	}
	uint64_t pa, peek = 0;
	rc = kho_prepare(&k);
	if (!rc)
		rc = kho_freeze(&k, &pa);
	if (!rc && o.fault)
		rc = apply_fault(&k, o.fault, &peek);
	if (!rc)
		dprintf(o.report_fd, "handover pa=0x%" PRIx64 " from=%" PRIu64 "\n",
			pa, k.generation);
	if (rc) {
		cli_err(CMD, "handover: %s", strerror(-rc));
		kho_cancel(&k);
		teardown(&k, &pm, memfds, nr);
		return CLI_INTERNAL;
	}
	/* The next generation's command line: what this one was told,
	 * less one generation, plus where the handover is. */
	const char *path = o.next ? o.next : cli_self_path();
	char pmfd[16], pas[32], gens[24], rfd[16], peeks[24], keeps[MAX_KEEP][16];
	snprintf(pmfd, sizeof(pmfd), "%d", pm.fd);
	snprintf(pas, sizeof(pas), "0x%" PRIx64, pa);
	snprintf(gens, sizeof(gens), "%" PRIu64, o.generations - 1);
	snprintf(rfd, sizeof(rfd), "%d", o.report_fd);
	snprintf(peeks, sizeof(peeks), "0x%" PRIx64, peek);
	char *av[24 + 2 * MAX_KEEP];
	size_t n = 0;
	av[n++] = (char *)path;
	av[n++] = CMD;
	av[n++] = "--physmem-fd";
	av[n++] = pmfd;
	av[n++] = "--handover";
	av[n++] = pas;
	if (o.profile) {
		av[n++] = "--profile";
		av[n++] = (char *)o.profile;
	}
	for (size_t i = 0; i < o.nr_keep; i++) {
		snprintf(keeps[i], sizeof(keeps[i]), "%d", o.keep[i]);
		av[n++] = "--keep-fd";
		av[n++] = keeps[i];
	}
	av[n++] = "--generations";
	av[n++] = gens;
	av[n++] = "--report-fd";
	av[n++] = rfd;
	if (o.save_dir) {
		av[n++] = "--save-handover";
		av[n++] = (char *)o.save_dir;
	}
	if (peek) {
		av[n++] = "--peek";
		av[n++] = peeks;
	}
	av[n] = NULL;
	int keep[MAX_KEEP + 1];
	size_t nk = 0;
	for (size_t i = 0; i < o.nr_keep; i++)
		keep[nk++] = o.keep[i];
	bool have_report = o.report_fd <= STDERR_FILENO;
	for (size_t i = 0; i < nk; i++)
		have_report |= keep[i] == o.report_fd;
	if (!have_report)
		keep[nk++] = o.report_fd;
	const struct kho_exec_args ea = {
		.path = path,
		.argv = av,
		.keep_fds = keep,
		.nr_keep_fds = nk,
	};
	fflush(NULL);
	rc = kho_exec(&k, &ea);
	cli_err(CMD, "exec %s: %s", ea.path, strerror(-rc));
	kho_cancel(&k);
	teardown(&k, &pm, memfds, nr);
	return CLI_INTERNAL;
}

const struct cli_cmd cli_cmd_kernel = {
	.name = "kernel",
	.summary = "one host kernel generation (boot, handover, exec)",
	.run = cmd_kernel_main,
};
