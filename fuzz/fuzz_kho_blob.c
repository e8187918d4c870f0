// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the handover blob parser: any byte string goes
 * through the validation a booting kernel runs (memfd, iommu and iommufd
 * nodes with their real handlers); what validates is then
 * booted (allocator only) and every object retrieved, as a kernel would.
 * Built by `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "kho/memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The iommu and iommufd validators are fuzzed too, as a kernel
	 * registers them before it boots. */
	static int registered;
	if (!registered && iommufd_kho_register())
		abort();
	registered = 1;
	struct kho_parsed p;
	struct kho_err err;
	if (kho_blob_validate(data, size, 0, &p, &err))
		return 0;
	/* Keep each input cheap: booting allocates per GiB of RAM and a
	 * retrieved memfd per folio. */
	uint64_t ram = p.ram_size;
	kho_parsed_free(&p);
	if (ram > (4ull << 30))
		return 0;
	struct kho k;
	if (kho_boot_fdt(&k, data, size, 0, &err))
		abort(); /* validated blobs must reserve cleanly */
	for (size_t i = 0; i < k.in.nr_objs; i++) {
		struct kho_memfd *m;
		const struct kho_pobj *o = &k.in.objs[i];
		if (kho_memfd_retrieve(&k, k.in.sessions[o->session], o->name,
				       &m))
			continue;
		kho_memfd_forget(m);
	}
	kho_finish(&k);
	kho_fini(&k);
	return 0;
}
