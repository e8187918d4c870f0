// SPDX-License-Identifier: MIT
#include "tests/lib/kernel_path.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int test_kernel_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if (snprintf(out, len, "%s/../iohandover", self) >= (int)len ||
	    access(out, X_OK)) {
		fprintf(stderr, "%s: the iohandover binary is not built\n", self);
		return -1;
	}
	return 0;
}
