// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what `iohandover check` reads from outside
 * (tsrc/): VT-d debugfs listings and tables in raw memory images. The
 * first byte picks the kind and the options; the rest is the input.
 * Whatever is accepted is walked and compared with itself (it must be
 * all "same"), as check would. Built by `make fuzz` (clang
 * -fsanitize=fuzzer,address,undefined); `make check` runs it briefly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pt/pt.h"
#include "tsrc/tsrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int only_same(void *arg, const struct pt_diff_range *r)
{
	(void)arg;
	if (r->kind != PT_DIFF_SAME)
		abort(); /* a table differs from itself */
	return 0;
}

static void use(struct tsrc_table *t)
{
	struct pt_iter it;
	struct pt_leaf l;
	uint64_t n = 0;
	pt_iter_init(&it, &t->t, 0, ~0ull);
	while (pt_iter_next(&t->t, &it, &l))
		n++;
	/* A row is a leaf, or one item of a contiguous run (one leaf). */
	if (t->kind == TSRC_DEBUGFS && n > t->leaves)
		abort();
	if (pt_diff(&t->t, &t->t, 0, ~0ull, only_same, NULL))
		abort();
	tsrc_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int widths[] = { 0, 39, 48, 57 };
	char msg[768];
	struct tsrc_opts o;
	struct tsrc_table t;
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	tsrc_opts_init(&o);
	if (!(sel & 1)) {
		if (sel & 2)
			o.device = (sel & 4) ? "00:02.0" : "0000:00:03.0";
		if (sel & 8)
			o.pasid = 1;
		o.va_bits = widths[(sel >> 4) & 3];
		if (sel & 0x40)
			o.fmt = (int)((sel >> 7) % PT_FMT_COUNT);
		if (!tsrc_debugfs_parse(&t, "fuzz", (const char *)data + 1, size - 1,
					&o, msg, sizeof(msg)))
			use(&t);
		return 0;
	}
	if (size < 3)
		return 0;
	o.fmt = (int)(data[1] % PT_FMT_COUNT);
	if (sel & 2)
		o.levels = (unsigned int)(data[2] % 6);
	else
		o.va_bits = (unsigned int)(data[2] % 65);
	uint64_t root = (uint64_t)((sel >> 2) & 7) * 4096;
	size_t len = size - 3;
	/* 8-byte aligned, as a mapped image is. */
	uint8_t *img = malloc(len ? len : 1);
	if (!img)
		return 0;
	memcpy(img, data + 3, len);
	if (!tsrc_image_mem(&t, "fuzz", img, len, root, &o, msg, sizeof(msg)))
		use(&t);
	free(img);
	return 0;
}
