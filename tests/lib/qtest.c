// SPDX-License-Identifier: MIT
#include "tests/lib/qtest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *qt_find_qemu(const char *target)
{
	static char path[4096];
	const char *dir = getenv("IOH_QEMU_DIR");
	if (dir && *dir) {
		snprintf(path, sizeof(path), "%s/qemu-system-%s", dir, target);
		return access(path, X_OK) == 0 ? path : NULL;
	}
	const char *p = getenv("PATH");
	if (!p)
		return NULL;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		snprintf(path, sizeof(path), "%.*s/qemu-system-%s", (int)n, p,
			 target);
		if (n && access(path, X_OK) == 0)
			return path;
		p += n + (end ? 1 : 0);
	}
	return NULL;
}

const char *qt_qemu_version(const char *binary)
{
	static char line[256];
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", binary);
	line[0] = 0;
	FILE *f = popen(cmd, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		pclose(f);
	}
	line[strcspn(line, "\n")] = 0;
	return line;
}

unsigned int qt_qemu_version_num(const char *binary)
{
	const char *line = qt_qemu_version(binary), *v = strstr(line, "version ");
	unsigned int major = 0, minor = 0;
	if (!v || sscanf(v + 8, "%u.%u", &major, &minor) != 2)
		return 0;
	return major * 100 + minor;
}

/*
 * 64 KiB of firmware that only halts: for x86 a BIOS whose reset vector
 * (0xffff0) is cli; hlt; jmp back; for ARM (virt starts at 0, in flash)
 * wfi; b back.
 */
static int write_firmware(const char *path, enum qt_arch arch)
{
	static uint8_t fw[65536];
	memset(fw, 0, sizeof(fw));
	if (arch == QT_ARM) {
		static const uint8_t arm[8] = { 0x7f, 0x20, 0x03, 0xd5,   /* wfi */
						0xff, 0xff, 0xff, 0x17 }; /* b .-4 */
		memcpy(fw, arm, sizeof(arm));
	} else {
		fw[0xfff0] = 0xfa;   /* cli */
		fw[0xfff1] = 0xf4;   /* hlt */
		fw[0xfff2] = 0xeb;   /* jmp -3 (to the hlt) */
		fw[0xfff3] = 0xfd;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, fw, sizeof(fw));
	close(fd);
	return w == (ssize_t)sizeof(fw) ? 0 : -1;
}

int qt_start(struct qtest *q, const char *binary, uint64_t ram_size,
	     const char *const *args)
{
	return qt_start_arch(q, binary, ram_size, args, QT_X86);
}

int qt_start_arch(struct qtest *q, const char *binary, uint64_t ram_size,
		  const char *const *args, enum qt_arch arch)
{
	memset(q, 0, sizeof(*q));
	q->pid = -1;
	snprintf(q->dir, sizeof(q->dir), "/dev/shm/qemu-qtest-XXXXXX");
	if (!mkdtemp(q->dir)) {
		snprintf(q->dir, sizeof(q->dir), "/tmp/qemu-qtest-XXXXXX");
		if (!mkdtemp(q->dir)) {
			perror("qtest: mkdtemp");
			q->dir[0] = 0;
			return -1;
		}
	}
	char fw[128], ram[128], obj[256], mem[64];
	snprintf(fw, sizeof(fw), "%s/fw.bin", q->dir);
	snprintf(ram, sizeof(ram), "%s/ram", q->dir);
	if (write_firmware(fw, arch)) {
		perror("qtest: firmware");
		return -1;
	}
	int fd = open(ram, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)ram_size)) {
		perror("qtest: guest RAM file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	q->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	q->ram_fd = fd;
	if (q->ram == MAP_FAILED) {
		q->ram = NULL;
		close(fd);
		q->ram_fd = 0;
		perror("qtest: mmap");
		return -1;
	}
	q->ram_size = ram_size;
	snprintf(obj, sizeof(obj),
		 "memory-backend-file,id=ram0,size=%" PRIu64 ",mem-path=%s,share=on",
		 ram_size, ram);
	snprintf(mem, sizeof(mem), "%" PRIu64 "M", ram_size >> 20);

	const char *argv[64];
	int n = 0;
	argv[n++] = binary;
	argv[n++] = "-nodefaults";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-monitor";
	argv[n++] = "none";
	argv[n++] = "-serial";
	argv[n++] = "none";
	argv[n++] = "-accel";
	argv[n++] = "tcg";
	argv[n++] = "-icount";
	argv[n++] = "shift=0,sleep=off";
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-object";
	argv[n++] = obj;
	argv[n++] = "-bios";
	argv[n++] = fw;
	argv[n++] = "-qtest";
	argv[n++] = "stdio";
	argv[n++] = "-qtest-log";
	argv[n++] = "/dev/null";
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	int in[2], out[2];
	if (pipe(in) || pipe(out)) {
		perror("qtest: pipe");
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("qtest: fork");
		return -1;
	}
	if (pid == 0) {
		/* QEMU does not exit when its qtest pipe closes: die with us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		if (!getenv("IOH_QEMU_VERBOSE")) {
			int nul = open("/dev/null", O_WRONLY);
			if (nul >= 0)
				dup2(nul, 2);
		}
		execv(binary, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	q->pid = pid;
	q->to = fdopen(in[1], "w");
	q->from = fdopen(out[0], "r");
	if (!q->to || !q->from)
		return -1;
	/* The first command's answer tells whether QEMU came up. */
	char line[256];
	fprintf(q->to, "readl 0x0\n");
	fflush(q->to);
	if (!fgets(line, sizeof(line), q->from) || strncmp(line, "OK", 2)) {
		fprintf(stderr, "qtest: %s did not start\n", binary);
		return -1;
	}
	/* QEMU holds its RAM file and firmware now: nothing left behind even
	 * if the test dies (the RAM stays reachable through ram_fd). */
	unlink(fw);
	unlink(ram);
	rmdir(q->dir);
	q->dir[0] = 0;
	return 0;
}

void qt_stop(struct qtest *q)
{
	if (q->to)
		fclose(q->to);
	if (q->pid > 0) {
		kill(q->pid, SIGTERM);
		int st;
		while (waitpid(q->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (q->from)
		fclose(q->from);
	if (q->ram)
		munmap(q->ram, q->ram_size);
	if (q->ram_fd > 0)
		close(q->ram_fd);
	if (q->dir[0]) {
		char p[128];
		snprintf(p, sizeof(p), "%s/fw.bin", q->dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/ram", q->dir);
		unlink(p);
		rmdir(q->dir);
	}
	memset(q, 0, sizeof(*q));
	q->pid = -1;
}

/* Send one command; return the value after "OK" (0 if none). */
static uint64_t qt_cmd(struct qtest *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static uint64_t qt_cmd(struct qtest *q, const char *fmt, ...)
{
	char cmd[128], line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fputs(cmd, q->to);
	fflush(q->to);
	q->cmds++;
	if (!fgets(line, sizeof(line), q->from) || strncmp(line, "OK", 2)) {
		fprintf(stderr, "qtest: '%.*s' answered '%s'\n",
			(int)strcspn(cmd, "\n"), cmd,
			feof(q->from) ? "(QEMU exited)" : line);
		abort();
	}
	return line[2] == ' ' ? strtoull(line + 3, NULL, 0) : 0;
}

void qt_writeq(struct qtest *q, uint64_t addr, uint64_t val)
{
	qt_cmd(q, "writeq 0x%" PRIx64 " 0x%" PRIx64 "\n", addr, val);
}

void qt_writel(struct qtest *q, uint64_t addr, uint32_t val)
{
	qt_cmd(q, "writel 0x%" PRIx64 " 0x%" PRIx32 "\n", addr, val);
}

uint64_t qt_readq(struct qtest *q, uint64_t addr)
{
	return qt_cmd(q, "readq 0x%" PRIx64 "\n", addr);
}

uint32_t qt_readl(struct qtest *q, uint64_t addr)
{
	return (uint32_t)qt_cmd(q, "readl 0x%" PRIx64 "\n", addr);
}

void qt_outl(struct qtest *q, uint16_t port, uint32_t val)
{
	qt_cmd(q, "outl 0x%x 0x%" PRIx32 "\n", port, val);
}

uint32_t qt_inl(struct qtest *q, uint16_t port)
{
	return (uint32_t)qt_cmd(q, "inl 0x%x\n", port);
}

static uint32_t cfg_addr(unsigned int devfn, unsigned int reg)
{
	return 0x80000000u | (devfn & 0xff) << 8 | (reg & 0xfc);
}

uint32_t qt_pci_read(struct qtest *q, unsigned int devfn, unsigned int reg)
{
	qt_outl(q, 0xcf8, cfg_addr(devfn, reg));
	return qt_inl(q, 0xcfc);
}

void qt_pci_write(struct qtest *q, unsigned int devfn, unsigned int reg,
		  uint32_t val)
{
	qt_outl(q, 0xcf8, cfg_addr(devfn, reg));
	qt_outl(q, 0xcfc, val);
}
