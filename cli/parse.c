// SPDX-License-Identifier: MIT
#include "cli/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_size(const char *s, uint64_t *v)
{
	char *end;
	if (*s == '-' || *s == ' ')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mul = 1;
	switch (*end) {
	case 'K': case 'k': mul = 1ull << 10; end++; break;
	case 'M': case 'm': mul = 1ull << 20; end++; break;
	case 'G': case 'g': mul = 1ull << 30; end++; break;
	case 'T': case 't': mul = 1ull << 40; end++; break;
	default: break;
	}
	if (*end || (x && mul > UINT64_MAX / x))
		return -EINVAL;
	*v = (uint64_t)x * mul;
	return 0;
}

int cli_parse_mix(const char *s, struct kho_memfd_mix *mix)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		uint64_t v;
		if (!eq || cli_parse_size(eq + 1, &v))
			return -EINVAL;
		*eq = '\0';
		if (!strcmp(tok, "1g") && v <= 1000000)
			mix->ppm_1g = (uint32_t)v;
		else if (!strcmp(tok, "4k") && v <= 1000000)
			mix->ppm_4k = (uint32_t)v;
		else if (!strcmp(tok, "seed"))
			mix->seed = v;
		else if (!strcmp(tok, "scatter") && v <= 1)
			mix->scatter_4k = v;
		else
			return -EINVAL;
	}
	return 0;
}

