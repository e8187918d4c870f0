// SPDX-License-Identifier: MIT
#include "tests/lib/iommufd_blob.h"
#include "iommufd/preserve.h"

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "abi/hw_abi.h"
#include "pt/pt.h"
#include "tests/lib/kho_fixture.h"

#define SLACK (64 * 1024)
#define STRTAB_LOG2 6u

/* An area record of an ioas's "areas": iova, len, offset, prot, memfd. */
static void put_area(uint8_t *d, uint64_t iova, uint64_t len, uint64_t off,
		     uint64_t prot, uint64_t memfd)
{
	const uint64_t v[5] = { iova, len, off, prot, memfd };
	for (int i = 0; i < 5; i++) {
		fdt64_t be = cpu_to_fdt64(v[i]);
		memcpy(d + 8 * i, &be, 8);
	}
}

static int put_u64s(void *b, int node, const char *prop, const uint64_t *v,
		    size_t n)
{
	uint8_t buf[8 * HW_MAX_DEVS];
	if (n > HW_MAX_DEVS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		fdt64_t be = cpu_to_fdt64(v[i]);
		memcpy(buf + 8 * i, &be, 8);
	}
	return fdt_setprop(b, node, prop, buf, (int)(n * 8));
}

static int object(void *b, const char *parent, const char *nn,
		  const char *session, const char *name, const char *type)
{
	int p = fdt_path_offset(b, parent);
	int n = p < 0 ? p : fdt_add_subnode(b, p, nn);
	if (n < 0 || fdt_setprop_string(b, n, "session", session) ||
	    fdt_setprop_string(b, n, "object", name) ||
	    fdt_setprop_string(b, n, "type", type))
		return -1;
	return n;
}

void *iommufd_blob_copy(const void *blob, size_t size)
{
	void *b = malloc(size + SLACK);
	if (b && fdt_open_into(blob, b, (int)(size + SLACK))) {
		free(b);
		return NULL;
	}
	return b;
}

static int add_objects(void *b, const uint64_t strtabs[IOMMUFD_BLOB_UNITS],
		       const uint64_t pages[3])
{
	/* Unit version 2: device d behind unit d % IOMMUFD_BLOB_UNITS. */
	uint64_t topo[HW_MAX_DEVS];
	for (unsigned int d = 0; d < HW_MAX_DEVS; d++)
		topo[d] = d % IOMMUFD_BLOB_UNITS;
	int n = object(b, "/iommu", "object-0", "iommu", "unit", "unit");
	if (n < 0 || put_u64s(b, n, "strtab", strtabs, IOMMUFD_BLOB_UNITS) ||
	    fdt_setprop_u64(b, n, "strtab-log2", STRTAB_LOG2) ||
	    fdt_setprop_u64(b, n, "format", PT_FMT_ARM_S2) ||
	    fdt_setprop_u64(b, n, "va-bits", 48) ||
	    put_u64s(b, n, "device-units", topo, HW_MAX_DEVS))
		return -EINVAL;
	uint8_t areas[2 * 40];
	put_area(areas, 0, 1ull << 30, 0, PT_PROT_READ | PT_PROT_WRITE, 0);
	put_area(areas + 40, 4ull << 30, 1ull << 30, 2ull << 30,
		 PT_PROT_READ, 0);
	n = object(b, "/iommufd", "object-0", "vm0", "ioas-1", "ioas");
	if (n < 0 || fdt_setprop_u64(b, n, "id", 1) ||
	    fdt_setprop(b, n, "memfds", "guest-ram", sizeof("guest-ram")) ||
	    fdt_setprop(b, n, "areas", areas, sizeof(areas)))
		return -EINVAL;
	static const uint64_t devs[2] = { 0, 1 };
	static const uint64_t ats_devs[1] = { 1 };
	/* Device 0 nested (version 3): the guest's ARM stage 1 at IPA 1 GiB. */
	static const uint64_t nested[5] = { 0, PT_FMT_ARM_S1, 48, 1ull << 30, 5 };
	/* Device 1's PASID 3 through this table too, its CD table the third
	 * page (version 4). */
	static const uint64_t pasids[2] = { 1, 3 };
	const uint64_t cdtabs[2] = { 1, pages[2] };
	n = object(b, "/iommufd", "object-1", "vm0", "hwpt-2", "hwpt");
	if (n < 0 || fdt_setprop_u64(b, n, "id", 2) ||
	    fdt_setprop_u64(b, n, "ioas", 1) ||
	    fdt_setprop_u64(b, n, "format", PT_FMT_ARM_S2) ||
	    fdt_setprop_u64(b, n, "va-bits", 48) ||
	    fdt_setprop_u64(b, n, "oa-bits", 48) ||
	    fdt_setprop_u64(b, n, "features", 0) ||
	    fdt_setprop_u64(b, n, "did", 1) ||
	    fdt_setprop_u64(b, n, "root", pages[0]) ||
	    put_u64s(b, n, "pages", pages, 2) ||
	    put_u64s(b, n, "devices", devs, 2) ||
	    put_u64s(b, n, "ats-devices", ats_devs, 1) ||
	    put_u64s(b, n, "nested", nested, 5) ||
	    put_u64s(b, n, "pasids", pasids, 2) ||
	    put_u64s(b, n, "cd-tables", cdtabs, 2))
		return -EINVAL;
	return fdt_pack(b) ? -EINVAL : 0;
}

int iommufd_blob_build(void **blob, size_t *size)
{
	struct kho_fixture f;
	struct luo_session *s;
	uint64_t pa[4 + IOMMUFD_BLOB_UNITS - 1];
	/* The nodes are written in the versions the real handlers have. */
	int err = iommufd_kho_register();
	if (err)
		return err;
	err = kho_fixture_build(&f, false);
	if (!err)
		err = luo_session_create(&f.k, "iommu", &s);
	/* Unit 0's stream table (64 entries: one page), two table pages,
	 * a CD table, then the other units' stream tables. */
	for (int i = 0; i < 4 + (int)IOMMUFD_BLOB_UNITS - 1 && !err; i++) {
		err = kho_folio_alloc(&f.k.alloc, KHO_4K_LG2, &pa[i]);
		if (!err)
			err = kho_folio_run_flags(&f.k.alloc, pa[i], KHO_4K_LG2,
						  1, 0, KHO_FOLIO_PRESERVED, 0);
	}
	if (!err && ((uint64_t)HW_STE_SIZE << STRTAB_LOG2) > KHO_4K)
		err = -EINVAL;
	if (!err)
		err = kho_prepare(&f.k);
	void *b = NULL;
	if (!err) {
		b = iommufd_blob_copy(f.k.out_fdt, f.k.out_fdt_size);
		uint64_t strtabs[IOMMUFD_BLOB_UNITS] = { pa[0] };
		for (unsigned int u = 1; u < IOMMUFD_BLOB_UNITS; u++)
			strtabs[u] = pa[3 + u];
		err = b ? add_objects(b, strtabs, pa + 1) : -ENOMEM;
	}
	kho_fixture_fini(&f);
	if (err) {
		free(b);
		return err;
	}
	*blob = b;
	*size = fdt_totalsize(b);
	return 0;
}
