// SPDX-License-Identifier: MIT
#include "ioh/ioh.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

uint64_t ioh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ioh_sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void ioh_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

#ifdef IOH_COVERAGE
void __gcov_dump(void);
#endif

void ioh_coverage_flush(void)
{
#ifdef IOH_COVERAGE
	__gcov_dump();
#endif
}

int ioh_u64vec_push(struct ioh_u64vec *vec, uint64_t x)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 64;
		uint64_t *n = realloc(vec->v, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		vec->v = n;
		vec->cap = cap;
	}
	vec->v[vec->n++] = x;
	return 0;
}

void ioh_u64vec_free(struct ioh_u64vec *vec)
{
	free(vec->v);
	*vec = (struct ioh_u64vec){ 0 };
}
