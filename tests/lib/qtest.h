/* SPDX-License-Identifier: MIT */
/*
 * QEMU as a second machine (issue 17, docs/testing.md "QEMU"): one QEMU
 * process driven over its qtest text protocol on a pipe (-qtest stdio),
 * TCG with -icount (sleep=off, so a halted CPU lets the virtual clock
 * jump to the next timer: edu's DMA fires at once), a 64 KiB firmware
 * that only halts, and guest RAM in a memory-backend-file this process
 * maps too (guest PA = file offset below 4 GiB).
 */
#ifndef IOH_TESTS_QTEST_H
#define IOH_TESTS_QTEST_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct qtest {
	pid_t pid;
	FILE *to;            /* QEMU's stdin */
	FILE *from;          /* QEMU's stdout */
	uint8_t *ram;        /* guest RAM, shared with QEMU */
	uint64_t ram_size;
	char dir[64];        /* temporary folder: firmware, RAM file (removed once QEMU is up) */
	uint64_t cmds;       /* qtest commands sent */
	int ram_fd;          /* the RAM file (lseek SEEK_DATA finds what was written) */
};

/*
 * The QEMU binary for a target ("x86_64", "aarch64"): $IOH_QEMU_DIR/
 * qemu-system-<t> if that variable is set (an unpacked newer QEMU, see
 * docs/testing.md), else the one on PATH. NULL if there is none; the
 * buffer is static.
 */
const char *qt_find_qemu(const char *target);
/* Its version line ("QEMU emulator version ..."), static buffer. */
const char *qt_qemu_version(const char *binary);
/* Its version as major * 100 + minor (702 for 7.2.22, 1000 for 10.0.2);
 * 0 if the line cannot be read. What a test needs beyond 7.2 (SMMUv3
 * stage 2) is checked against this. */
unsigned int qt_qemu_version_num(const char *binary);

/*
 * Start binary with args (NULL-terminated, the machine and devices; the
 * memory backend, firmware, accelerator and qtest options are added here)
 * and ram_size bytes of shared guest RAM. 0 or -1 (message on stderr).
 */
int qt_start(struct qtest *q, const char *binary, uint64_t ram_size,
	     const char *const *args);
/* The same for another CPU: its halting firmware differs. */
enum qt_arch { QT_X86, QT_ARM };
int qt_start_arch(struct qtest *q, const char *binary, uint64_t ram_size,
		  const char *const *args, enum qt_arch arch);
void qt_stop(struct qtest *q);

/* MMIO and port I/O; a protocol error aborts the test (message). */
void qt_writeq(struct qtest *q, uint64_t addr, uint64_t val);
void qt_writel(struct qtest *q, uint64_t addr, uint32_t val);
uint64_t qt_readq(struct qtest *q, uint64_t addr);
uint32_t qt_readl(struct qtest *q, uint64_t addr);
void qt_outl(struct qtest *q, uint16_t port, uint32_t val);
uint32_t qt_inl(struct qtest *q, uint16_t port);

/* PCI configuration space of bus 0 through ports 0xcf8/0xcfc. */
uint32_t qt_pci_read(struct qtest *q, unsigned int devfn, unsigned int reg);
void qt_pci_write(struct qtest *q, unsigned int devfn, unsigned int reg,
		  uint32_t val);

#endif /* IOH_TESTS_QTEST_H */
