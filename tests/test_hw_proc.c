// SPDX-License-Identifier: MIT
/*
 * The machine as its own process: a host process is SIGKILLed in the
 * middle of remapping pages, syncing and pausing the guest; the machine
 * keeps running, DMA keeps flowing without a single error, and the next
 * host generation attaches to the same registers and carries on.
 */
#include <setjmp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/hw_rig.h"

/* Invalidations in these tests go to every unit. */
#define ALL_UNITS IOMMU_DRV_ALL_UNITS

#define IOVA 0x40000000ull
#define LEN (4ull << 20)
#define DEV1_PA (RIG_DATA_PA + (128ull << 20))

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Whether *c moves past v within a generous time. */
static bool advances(_Atomic uint64_t *c, uint64_t v)
{
	for (int i = 0; i < 30000 && atomic_load(c) <= v; i++)
		sleep_ms(1);
	return atomic_load(c) > v;
}

/* Host generation 1: remap dev 1's pages break-before-make, forever. */
static void host_churn(struct hw_rig *r, struct pt_table *t)
{
	struct pt_gather g;
	uint64_t unmapped;
	for (uint64_t i = 0;; i++) {
		uint64_t off = (i % 512) * 4096;
		if (iommu_drv_oracle_unmap(&r->drv, 1, IOVA + off, 4096))
			_exit(2);
		pt_gather_init(&g);
		if (pt_unmap_range(t, IOVA + off, 4096, PT_UNMAP_SPLIT, &g,
				   &unmapped))
			_exit(3);
		if (iommu_drv_tlbi_range(&r->drv, ALL_UNITS, 2, IOVA + off,
					 4096, 0, -1) ||
		    iommu_drv_sync(&r->drv))
			_exit(4);
		hw_rig_free_deferred(r);
		pt_gather_init(&g);
		if (pt_map_range(t, IOVA + off, DEV1_PA + off, 4096,
				 PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE,
				 &g))
			_exit(5);
		if (iommu_drv_oracle_map(&r->drv, 1, IOVA + off, DEV1_PA + off,
					 4096, PT_PROT_READ | PT_PROT_WRITE))
			_exit(6);
		if (i % 16 == 0) {
			if (iommu_drv_guest_pause(&r->drv) ||
			    iommu_drv_guest_resume(&r->drv))
				_exit(7);
		}
	}
}

static void test_host_sigkill_machine_survives(void **state)
{
	(void)state;
	struct hw_rig r;
	struct hw_rig_opts o;
	struct pt_table t0, t1;
	hw_rig_opts_default(&o, 0);
	o.forked = true;
	o.engines[1] = 2;
	assert_int_equal(hw_rig_start(&r, &o), 0);
	struct hw_regs *g = r.region.regs;
	pid_t machine = (pid_t)atomic_load(&g->machine_pid);
	assert_int_equal(machine, r.pid);

	assert_int_equal(hw_rig_table_init(&r, &t0, PT_FMT_ARM_S2, 0), 0);
	assert_int_equal(hw_rig_attach(&r, 0, &t0, 1), 0);
	assert_int_equal(hw_rig_map(&r, 0, &t0, IOVA, RIG_DATA_PA, LEN), 0);
	/* Dev 1 in 4K pages (remapping one never splits a block). */
	assert_int_equal(hw_rig_table_init(&r, &t1, PT_FMT_ARM_S2, PT_SZ_4K), 0);
	assert_int_equal(hw_rig_attach(&r, 1, &t1, 2), 0);
	assert_int_equal(hw_rig_map(&r, 1, &t1, IOVA, DEV1_PA, LEN), 0);
	atomic_store(&g->guest_ram_pa, RIG_GUEST_PA);
	atomic_store(&g->guest_ram_len, 1ull << 20);
	assert_true(hw_rig_wait_ops(&r, 0, 1000));
	assert_true(hw_rig_wait_ops(&r, 1, 1000));

	for (int round = 0; round < 3; round++) {
		uint64_t syncs = atomic_load(&g->syncs);
		pid_t host = fork();
		assert_true(host >= 0);
		if (host == 0)
			host_churn(&r, &t1);
		/* Kill it while it is busy, at a different point each time. */
		while (atomic_load(&g->syncs) < syncs + 20 + 7 * round)
			sleep_ms(1);
		assert_int_equal(kill(host, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(host, &status, 0), host);
		assert_true(WIFSIGNALED(status));

		/* The next host generation attaches to the same hardware. */
		struct iommu_drv drv;
		assert_int_equal(iommu_drv_init(&drv, g, r.region.freed_map,
						&r.pm), 0);
		assert_int_equal(iommu_drv_guest_resume(&drv), 0);
		assert_int_equal(iommu_drv_sync(&drv), 0);
		assert_int_equal(kill(machine, 0), 0);
		uint64_t hb = atomic_load(&g->heartbeat);
		uint64_t guest = atomic_load(&g->guest_ops);
		assert_true(hw_rig_wait_ops(&r, 0, 1000));
		assert_true(hw_rig_wait_ops(&r, 1, 1000));
		hw_rig_settle(&r);
		assert_true(atomic_load(&g->heartbeat) > hb);
		assert_true(advances(&g->guest_ops, guest));
	}
	for (unsigned int d = 0; d < 2; d++) {
		if (hw_rig_errors(&r, d))
			hw_rig_dump(&r, d, "after kills");
		assert_int_equal(hw_rig_errors(&r, d), 0);
	}
	assert_true(atomic_load(&g->pauses) > 0);
	hw_rig_stop(&r);
}

/* build/<variant>/iohandover, next to this test's build/<variant>/tests/. */
static void cli_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(buf, '/');
		assert_non_null(slash);
		*slash = '\0';
	}
	assert_true(strlen(buf) + sizeof("/iohandover") < len);
	strcat(buf, "/iohandover");
}

/* `iohandover machine` over inherited descriptors: DMA flows, shutdown
 * through the register ends it with status 0. */
static void test_cli_machine_process(void **state)
{
	(void)state;
	struct hw_rig r;
	struct pt_table t;
	char exe[PATH_MAX], pm_fd[16], reg_fd[16];
	cli_path(exe, sizeof(exe));
	assert_int_equal(hw_rig_start_bare(&r, 2), 0);
	atomic_store(&r.region.regs->dev_ctl[0].engines, 1);
	atomic_store(&r.region.regs->dev_ctl[0].pace_ns, 100000);
	snprintf(pm_fd, sizeof(pm_fd), "%d", r.pm.fd);
	snprintf(reg_fd, sizeof(reg_fd), "%d", r.region.fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(exe, "iohandover", "machine", "--physmem-fd", pm_fd,
		      "--region-fd", reg_fd, "--seed", "3", (char *)NULL);
		_exit(127);
	}
	hw_rig_settle(&r);
	assert_int_equal(atomic_load(&r.region.regs->machine_pid), pid);
	assert_int_equal(hw_rig_table_init(&r, &t, PT_FMT_ARM_S2, 0), 0);
	assert_int_equal(hw_rig_attach(&r, 0, &t, 1), 0);
	assert_int_equal(hw_rig_map(&r, 0, &t, IOVA, RIG_DATA_PA, LEN), 0);
	assert_true(hw_rig_wait_ops(&r, 0, 1000));
	assert_int_equal(hw_rig_errors(&r, 0), 0);
	atomic_store(&r.region.regs->shutdown, 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	hw_rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_sigkill_machine_survives),
		cmocka_unit_test(test_cli_machine_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
