/* SPDX-License-Identifier: MIT */
/*
 * A handover blob holding the iommu and iommufd objects a live update
 * leaves (docs/liveupdate.md), for bad-blob tests of their validation:
 * the kho fixture's blob (tests/lib/kho_fixture.h, no physmem) plus
 *
 *   /iommu/object-0    iommu/unit: two IOMMU units (unit version 2),
 *                      a one-page stream table each, device d behind
 *                      unit d % 2
 *   /iommufd/object-0  vm0/ioas-1: two areas of vm0/guest-ram (3 GiB)
 *   /iommufd/object-1  vm0/hwpt-2: two table pages, devices 0 and 1
 *                      (1 with ATS: iommufd version 2; 0 nested, its
 *                      guest's ARM stage 1 at IPA 1 GiB, DID 5:
 *                      version 3; device 1's PASID 3 through it too,
 *                      its CD table a third page: version 4)
 *
 * with their properties laid out as iommufd/preserve.c writes them and
 * their memory preserved as 4K folios owned by nobody else.
 */
#ifndef IOH_TESTS_IOMMUFD_BLOB_H
#define IOH_TESTS_IOMMUFD_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define IOMMUFD_BLOB_UNIT "/iommu/object-0"
#define IOMMUFD_BLOB_IOAS "/iommufd/object-0"
#define IOMMUFD_BLOB_HWPT "/iommufd/object-1"
#define IOMMUFD_BLOB_GUEST_SIZE (3ull << 30)
#define IOMMUFD_BLOB_UNITS 2u

/* A packed, valid blob (malloc'd; *size bytes). 0 or a negative errno. */
int iommufd_blob_build(void **blob, size_t *size);

/* A writable copy of blob with room for edits (fdt_open_into). */
void *iommufd_blob_copy(const void *blob, size_t size);

#endif /* IOH_TESTS_IOMMUFD_BLOB_H */
