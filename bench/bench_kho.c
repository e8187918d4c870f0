// SPDX-License-Identifier: MIT
/*
 * bench_kho: the handover of a 1 TiB guest (2 MiB folios, about 1% of the
 * folios 4 KiB, physically scattered) across a real execve.
 *
 *   bench_kho [--json FILE] [--quick] [--guest-size SIZE]
 *
 * Each run forks a kernel that builds the guest memfd over a sparse
 * physmem, preserves it, serializes (prepare) and commits (freeze) the
 * blob, and execve()s this program, which boots from the blob's address:
 * header, validation, reservation, poisoning; then retrieves the memfd
 * and finishes. Handover work = prepare + freeze + boot (everything but
 * the exec itself). Targets: under 10 ms, blob under 1 MiB.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/physmem.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "ioh/ioh.h"

#define TARGET_WORK_MS 10.0
#define TARGET_BLOB_BYTES (1u << 20)


enum metric {
	M_CREATE, M_PRESERVE, M_PREPARE, M_FREEZE, M_EXEC, M_BOOT,
	M_VALIDATE, M_RESERVE, M_POISON, M_RETRIEVE, M_FINISH, M_WORK,
	M_BLOB, M_FOLIOS_2M, M_FOLIOS_4K, M_RUNS, M_RANGES, NR_METRICS
};

static const char *const metric_name[NR_METRICS] = {
	"create_ns", "preserve_ns", "prepare_ns", "freeze_ns", "exec_ns",
	"boot_ns", "validate_ns", "reserve_ns", "poison_ns", "retrieve_ns",
	"finish_ns", "work_ns", "blob_bytes", "folios_2m", "folios_4k",
	"memfd_runs", "map_ranges",
};

/* The next kernel: boot from the handover, retrieve, finish, report. */
static int child_main(char **argv)
{
	uint64_t t_start = ioh_now_ns();
	uint64_t m[NR_METRICS] = { 0 };
	int pmfd = atoi(argv[0]);
	uint64_t pa = strtoull(argv[1], NULL, 0);
	int rfd = atoi(argv[2]);
	for (int i = 0; i < NR_METRICS; i++)
		m[i] = strtoull(argv[3 + i], NULL, 0);
	m[M_EXEC] = t_start - m[M_EXEC];

	struct physmem pm;
	struct kho k;
	struct kho_err err = { { 0 } };
	struct kho_memfd *mf;
	if (physmem_attach(&pm, pmfd))
		return 3;
	uint64_t t0 = ioh_now_ns();
	if (kho_boot(&k, &pm, pa, &err)) {
		fprintf(stderr, "bench_kho: boot refused: %s\n", err.msg);
		return 3;
	}
	uint64_t t1 = ioh_now_ns();
	m[M_RANGES] = k.in.nr_runs + k.in.nr_masks;
	if (kho_memfd_retrieve(&k, "vm0", "guest-ram", &mf))
		return 3;
	uint64_t t2 = ioh_now_ns();
	if (kho_finish(&k) < 0)
		return 3;
	uint64_t t3 = ioh_now_ns();
	m[M_BOOT] = t1 - t0;
	m[M_VALIDATE] = k.boot.validate_ns;
	m[M_RESERVE] = k.boot.reserve_ns;
	m[M_POISON] = k.boot.poison_ns;
	m[M_RETRIEVE] = t2 - t1;
	m[M_FINISH] = t3 - t2;
	m[M_WORK] = m[M_PREPARE] + m[M_FREEZE] + m[M_BOOT];
	char line[1024];
	size_t n = 0;
	for (int i = 0; i < NR_METRICS; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%" PRIu64 "%c",
				      m[i], i + 1 < NR_METRICS ? ' ' : '\n');
	return write(rfd, line, n) == (ssize_t)n ? 0 : 3;
}

/* The outgoing kernel: build, preserve, serialize, commit, exec. */
static void parent_kernel(const char *self, uint64_t guest, int rfd)
{
	uint64_t m[NR_METRICS] = { 0 };
	struct physmem pm;
	struct kho k;
	struct kho_memfd *mf;
	struct luo_session *s;
	/* About 1% of folios 4K: a 2M slot becomes 512 4K folios with
	 * probability 20 ppm (0.01 / 511 of the slots). */
	const struct kho_memfd_mix mix = {
		.ppm_1g = 0, .ppm_4k = 20, .seed = 6, .scatter_4k = true,
	};
	uint64_t pa, t;

	if (physmem_create(&pm, guest + (2ull << 30)) ||
	    kho_init(&k, &pm, 0))
		_exit(3);
	t = ioh_now_ns();
	if (kho_memfd_create(&k, "guest-ram", guest, &mix, &mf))
		_exit(3);
	m[M_CREATE] = ioh_now_ns() - t;
	uint64_t census[3];
	kho_memfd_census(mf, census);
	m[M_FOLIOS_4K] = census[0];
	m[M_FOLIOS_2M] = census[1];
	m[M_RUNS] = mf->nr_runs;
	t = ioh_now_ns();
	if (luo_session_create(&k, "vm0", &s) ||
	    kho_memfd_preserve(s, "guest-ram", mf))
		_exit(3);
	m[M_PRESERVE] = ioh_now_ns() - t;
	t = ioh_now_ns();
	if (kho_prepare(&k))
		_exit(3);
	m[M_PREPARE] = ioh_now_ns() - t;
	t = ioh_now_ns();
	if (kho_freeze(&k, &pa))
		_exit(3);
	m[M_FREEZE] = ioh_now_ns() - t;
	m[M_BLOB] = k.out_fdt_size;

	char a[NR_METRICS + 6][32];
	char *argv[NR_METRICS + 8];
	size_t n = 0;
	argv[n++] = (char *)self;
	argv[n++] = "--child";
	snprintf(a[0], 32, "%d", pm.fd);
	snprintf(a[1], 32, "0x%" PRIx64, pa);
	snprintf(a[2], 32, "%d", rfd);
	for (int i = 0; i < 3; i++)
		argv[n++] = a[i];
	m[M_EXEC] = ioh_now_ns();
	for (int i = 0; i < NR_METRICS; i++) {
		snprintf(a[3 + i], 32, "%" PRIu64, m[i]);
		argv[n++] = a[3 + i];
	}
	argv[n] = NULL;
	execv(self, argv);
	_exit(3);
}

static int run_once(const char *self, uint64_t guest, uint64_t m[NR_METRICS])
{
	int p[2];
	if (pipe(p))
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(p[0]);
		parent_kernel(self, guest, p[1]);
	}
	close(p[1]);
	char line[1024];
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof(line) - 1 &&
	       (r = read(p[0], line + n, sizeof(line) - 1 - (size_t)n)) > 0)
		n += r;
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -EIO;
	line[n] = '\0';
	char *c = line;
	for (int i = 0; i < NR_METRICS; i++)
		m[i] = strtoull(c, &c, 10);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	unsigned runs = 7;
	uint64_t guest = 1ull << 40;
	char self[4096];

	if (argc > 1 && !strcmp(argv[1], "--child")) {
		if (argc != 2 + 3 + NR_METRICS)
			return 2;
		return child_main(argv + 2);
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--quick")) {
			runs = 3;
		} else if (!strcmp(argv[i], "--guest-size") && i + 1 < argc) {
			guest = strtoull(argv[++i], NULL, 0) << 30;
		} else {
			fprintf(stderr, "usage: bench_kho [--json FILE] [--quick] "
					"[--guest-size GIB]\n");
			return 2;
		}
	}
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl < 0)
		return 3;
	self[sl] = '\0';

	static uint64_t all[NR_METRICS][64];
	for (unsigned r = 0; r < runs; r++) {
		uint64_t m[NR_METRICS];
		int err = run_once(self, guest, m);
		if (err) {
			fprintf(stderr, "bench_kho: run %u failed (%d)\n", r, err);
			return 3;
		}
		for (int i = 0; i < NR_METRICS; i++)
			all[i][r] = m[i];
	}
	uint64_t med[NR_METRICS], min[NR_METRICS];
	for (int i = 0; i < NR_METRICS; i++) {
		qsort(all[i], runs, sizeof(uint64_t), cmp_u64);
		med[i] = all[i][runs / 2];
		min[i] = all[i][0];
	}
	double pct4k = 100.0 * (double)med[M_FOLIOS_4K] /
		       (double)(med[M_FOLIOS_4K] + med[M_FOLIOS_2M]);
	double work_ms = (double)med[M_WORK] / 1e6;
	bool work_ok = work_ms < TARGET_WORK_MS;
	bool blob_ok = med[M_BLOB] < TARGET_BLOB_BYTES;

	printf("kho handover of a %" PRIu64 " GiB guest: %" PRIu64
	       " folios of 2 MiB, %" PRIu64 " of 4 KiB (%.2f%%), %" PRIu64
	       " memfd runs; median and min of %u runs\n",
	       guest >> 30, med[M_FOLIOS_2M], med[M_FOLIOS_4K], pct4k,
	       med[M_RUNS], runs);
	printf("%-34s %10s %10s\n", "phase", "median ms", "min ms");
	static const struct {
		enum metric m;
		const char *label;
	} rows[] = {
		{ M_CREATE, "build guest memfd (setup)" },
		{ M_PRESERVE, "preserve (before blackout)" },
		{ M_PREPARE, "prepare: serialize FDT" },
		{ M_FREEZE, "freeze: write + commit" },
		{ M_EXEC, "exec (excluded)" },
		{ M_BOOT, "boot: header+validate+reserve+poison" },
		{ M_VALIDATE, "  of which validate" },
		{ M_RESERVE, "  of which reserve" },
		{ M_POISON, "  of which poison" },
		{ M_WORK, "handover work (prepare..boot)" },
		{ M_RETRIEVE, "retrieve memfd (after boot)" },
		{ M_FINISH, "finish" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%-34s %10.3f %10.3f\n", rows[i].label,
		       (double)med[rows[i].m] / 1e6, (double)min[rows[i].m] / 1e6);
	printf("handover work %.3f ms: %s (target < %.0f ms)\n", work_ms,
	       work_ok ? "met" : "MISSED", TARGET_WORK_MS);
	printf("blob %" PRIu64 " bytes, %" PRIu64
	       " preserved-memory entries: %s (target < %u bytes)\n",
	       med[M_BLOB], med[M_RANGES], blob_ok ? "met" : "MISSED",
	       TARGET_BLOB_BYTES);

	if (json) {
		FILE *out = fopen(json, "w");
		if (!out) {
			fprintf(stderr, "bench_kho: --json %s: %s\n", json,
				strerror(errno));
			return 2;
		}
		fprintf(out, "{\n  \"bench\": \"kho\",\n  \"guest_bytes\": %" PRIu64
			     ",\n  \"runs\": %u,\n  \"pct_4k_folios\": %.3f,\n",
			guest, runs, pct4k);
		fprintf(out, "  \"target_work_ms\": %.1f,\n  \"target_blob_bytes\": %u,\n",
			TARGET_WORK_MS, TARGET_BLOB_BYTES);
		fprintf(out, "  \"work_met\": %s,\n  \"blob_met\": %s,\n",
			work_ok ? "true" : "false", blob_ok ? "true" : "false");
		for (int k = 0; k < 2; k++) {
			fprintf(out, "  \"%s\": {", k ? "min" : "median");
			for (int i = 0; i < NR_METRICS; i++)
				fprintf(out, "\"%s\": %" PRIu64 "%s", metric_name[i],
					k ? min[i] : med[i],
					i + 1 < NR_METRICS ? ", " : "");
			fprintf(out, "}%s\n", k ? "" : ",");
		}
		fprintf(out, "}\n");
		fclose(out);
	}
	return 0;
}
