// SPDX-License-Identifier: MIT
/*
 * The smallest program against the installed pt/ library (make
 * install-check builds it with `pkg-config --cflags --libs iohpt`): a
 * VT-d second-stage table in a static arena, one 2M mapping, looked up.
 */
#include <stdint.h>
#include <stdio.h>

#include "pt/pt.h"

static _Alignas(4096) uint8_t arena[64][4096];
static unsigned int used;

static void *page_alloc(void *ctx, pt_oaddr_t *pa)
{
	(void)ctx;
	if (used == 64)
		return NULL;
	*pa = 0x100000ull + used * 4096ull;
	return arena[used++];
}

static void page_free(void *ctx, void *page, pt_oaddr_t pa)
{
	(void)ctx, (void)page, (void)pa;
}

static void *to_virt(void *ctx, pt_oaddr_t pa)
{
	(void)ctx;
	uint64_t i = (pa - 0x100000ull) / 4096;
	return pa >= 0x100000ull && i < used ? arena[i] + pa % 4096 : NULL;
}

int main(void)
{
	static const struct pt_mem_ops mem = {
		.alloc = page_alloc, .free = page_free, .defer_free = page_free,
		.phys_to_virt = to_virt,
	};
	struct pt_cfg cfg = { .fmt = PT_FMT_VTD_SS, .va_bits = 48, .oa_bits = 48 };
	struct pt_table t;
	struct pt_gather g;
	pt_oaddr_t pa = 0;
	int err = pt_init(&t, &cfg, &mem, NULL);
	pt_gather_init(&g);
	if (!err)
		err = pt_map_range(&t, 0x40000000, 0x80000000, 2u << 20,
				   PT_PROT_READ | PT_PROT_WRITE, &g);
	if (!err)
		err = pt_iova_to_phys(&t, 0x40001234, &pa);
	if (err) {
		printf("pt: %s\n", pt_strerror(err));
		return 1;
	}
	printf("%s: IOVA 0x40001234 -> PA 0x%llx, %llu table pages\n",
	       pt_fmt_name(cfg.fmt), (unsigned long long)pa,
	       (unsigned long long)t.nr_tables);
	pt_deinit(&t);
	return pa == 0x80001234 ? 0 : 1;
}
