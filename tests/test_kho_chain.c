// SPDX-License-Identifier: MIT
/*
 * Real live updates: build/<variant>/iohandover kernel execve()s itself
 * (or another binary) keeping only the RAM file and the handover address.
 * A chain of three kernels keeps the guest's data; a damaged handover is
 * refused with a message and leaves RAM untouched; a kernel relying on
 * memory nobody preserved dies on the poison.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "abi/physmem.h"
#include "kho/kho.h"
#include "kho/memfd.h"
#include "tests/lib/kho_fixture.h"

struct run {
	int status;
	char out[8192]; /* report lines */
	char err[8192]; /* stderr */
};

static void drain(int fd, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == len - 1)
			break;
	}
	buf[n] = '\0';
	close(fd);
}

/* Run `iohandover kernel --physmem-fd FD --report-fd R args...`. */
static void run_kernel(const struct physmem *pm, struct run *r,
		       const char *const *args)
{
	char bin[4096], fdbuf[16], rbuf[16];
	int rep[2], err[2];
	snprintf(bin, sizeof(bin), "%s/iohandover", kho_test_bindir());
	assert_int_equal(access(bin, X_OK), 0);
	assert_int_equal(pipe(rep), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[32];
		size_t n = 0;
		dup2(err[1], STDERR_FILENO);
		close(rep[0]);
		snprintf(fdbuf, sizeof(fdbuf), "%d", pm->fd);
		snprintf(rbuf, sizeof(rbuf), "%d", rep[1]);
		argv[n++] = bin;
		argv[n++] = "kernel";
		argv[n++] = "--physmem-fd";
		argv[n++] = fdbuf;
		argv[n++] = "--report-fd";
		argv[n++] = rbuf;
		for (size_t i = 0; args[i]; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(rep[1]);
	close(err[1]);
	drain(rep[0], r->out, sizeof(r->out));
	drain(err[0], r->err, sizeof(r->err));
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

/* Value of key in the report line of generation gen. */
static const char *field(const struct run *r, int gen, const char *key,
			 char *val, size_t len)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "gen=%d ", gen);
	const char *line = strstr(r->out, prefix);
	if (!line)
		return NULL;
	const char *eol = strchr(line, '\n');
	char k[64];
	snprintf(k, sizeof(k), " %s=", key);
	const char *p = strstr(line, k);
	if (!p || (eol && p > eol))
		return NULL;
	p += strlen(k);
	size_t n = strcspn(p, " \n");
	snprintf(val, len, "%.*s", (int)(n < len - 1 ? n : len - 1), p);
	return val;
}

static void tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/ioh-kho-chain-XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static void test_chain_of_three(void **state)
{
	(void)state;
	struct physmem pm;
	static struct run r;
	char dir[64], blobs[128], next[128], cmd[512], v[256], v1[256];
	assert_int_equal(physmem_create(&pm, 8ull << 30), 0);
	tmpdir(dir, sizeof(dir));
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	/* The next kernel is another binary (a copy at another path). */
	snprintf(next, sizeof(next), "%s/iohandover-next", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s/iohandover' '%s'", kho_test_bindir(),
		 next);
	assert_int_equal(system(cmd), 0);

	const char *args[] = { "--guest-size", "3G", "--generations", "3",
			       "--profile", "lts", "--next", next,
			       "--save-handover", blobs, NULL };
	run_kernel(&pm, &r, args);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
		fail_msg("chain failed (status %d): %s", r.status, r.err);
	assert_string_equal(field(&r, 1, "boot", v, sizeof(v)), "fresh");
	assert_non_null(field(&r, 1, "pid", v1, sizeof(v1)));
	const char *folios1 = field(&r, 1, "folios", (char[32]){ 0 }, 32);
	assert_non_null(folios1);
	for (int gen = 2; gen <= 3; gen++) {
		assert_string_equal(field(&r, gen, "boot", v, sizeof(v)),
				    "handover");
		/* execve: same process, new program image. */
		assert_string_equal(field(&r, gen, "pid", v, sizeof(v)), v1);
		assert_string_equal(field(&r, gen, "exe", v, sizeof(v)), next);
		assert_string_equal(field(&r, gen, "profile", v, sizeof(v)),
				    "lts");
		assert_string_equal(field(&r, gen, "memfds", v, sizeof(v)), "1");
		assert_string_equal(field(&r, gen, "folios", v, sizeof(v)),
				    folios1);
		assert_string_equal(field(&r, gen, "bad", v, sizeof(v)), "0");
		/* All objects claimed: finish frees the old blob's folio. */
		assert_string_equal(field(&r, gen, "finish_freed", v, sizeof(v)),
				    "2097152");
	}
	assert_null(field(&r, 4, "boot", v, sizeof(v)));
	/* Both blobs passed on were saved, and check as valid. */
	for (int gen = 1; gen <= 2; gen++) {
		snprintf(cmd, sizeof(cmd),
			 "'%s/iohandover' handover check '%s/handover-gen%03d.dtb'"
			 " >/dev/null",
			 kho_test_bindir(), blobs, gen);
		assert_int_equal(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	physmem_detach(&pm, true);
}

/* Check the stamps of every memfd in blob against RAM, from outside. */
static void check_ram_intact(const struct physmem *pm, const char *blob)
{
	static char buf[1 << 20];
	FILE *f = fopen(blob, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct kho k;
	struct kho_err err = { { 0 } };
	assert_int_equal(kho_boot_fdt(&k, buf, n, pm->size, &err), 0);
	k.pm = (struct physmem *)pm; /* read-only use: stamps */
	for (size_t i = 0; i < k.in.nr_objs; i++) {
		struct kho_memfd *m;
		assert_int_equal(kho_memfd_retrieve(&k,
						    k.in.sessions[k.in.objs[i].session],
						    k.in.objs[i].name, &m),
				 0);
		assert_true(m->nr_folios > 0);
		assert_int_equal(kho_memfd_check_stamp(m), 0);
		kho_memfd_forget(m);
	}
	k.pm = NULL;
	kho_fini(&k);
}

static void test_chain_refuses_damaged_handover(void **state)
{
	(void)state;
	static const struct {
		const char *fault, *msg;
	} cases[] = {
		{ "uncommit", "not committed" },
		{ "corrupt-fdt", "checksum mismatch" },
		{ "bad-version", "memfd: version v9 is not supported" },
	};
	static struct run r;
	char dir[64], blobs[128], blob[160], cmd[256], v[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct physmem pm;
		assert_int_equal(physmem_create(&pm, 4ull << 30), 0);
		tmpdir(dir, sizeof(dir));
		snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
		const char *args[] = { "--guest-size", "1G", "--generations",
				       "2", "--fault", cases[i].fault,
				       "--save-handover", blobs, NULL };
		run_kernel(&pm, &r, args);
		assert_true(WIFEXITED(r.status));
		assert_int_equal(WEXITSTATUS(r.status), 2);
		if (!strstr(r.err, cases[i].msg))
			fail_msg("%s: stderr lacks '%s': %s", cases[i].fault,
				 cases[i].msg, r.err);
		assert_non_null(strstr(r.err, "refused"));
		assert_string_equal(field(&r, 1, "boot", v, sizeof(v)), "fresh");
		assert_null(field(&r, 2, "boot", v, sizeof(v)));
		/* The refusing kernel touched nothing: the guest is intact. */
		snprintf(blob, sizeof(blob), "%s/handover-gen001.dtb", blobs);
		check_ram_intact(&pm, blob);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
		physmem_detach(&pm, true);
	}
}

static void test_chain_poison_kills_reliance(void **state)
{
	(void)state;
	static struct run r;
	struct physmem pm;
	assert_int_equal(physmem_create(&pm, 4ull << 30), 0);
	const char *args[] = { "--guest-size", "1G", "--generations", "2",
			       "--fault", "rely-unpreserved", NULL };
	run_kernel(&pm, &r, args);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGSEGV);
	if (!strstr(r.err, "did not preserve"))
		fail_msg("no poison message: %s", r.err);
	physmem_detach(&pm, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_of_three),
		cmocka_unit_test(test_chain_refuses_damaged_handover),
		cmocka_unit_test(test_chain_poison_kills_reliance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
