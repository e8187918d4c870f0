/* SPDX-License-Identifier: MIT */
/*
 * Stream table entry helpers shared by the IOMMU and its driver: the
 * "used bits" of a configuration (SMMUv3 IHI 0070 3.21.3, which fields the
 * hardware reads for a given configuration; Linux arm_smmu_get_ste_used
 * follows the same rule) and an entry builder. Field layout: hw_abi.h.
 */
#ifndef IOH_ABI_HW_ABI_STE_H
#define IOH_ABI_HW_ABI_STE_H

#include "abi/hw_abi.h"

/* Bits the IOMMU reads in ste, for the configuration ste itself selects. */
static inline void hw_ste_used(const uint64_t ste[HW_STE_WORDS],
			       uint64_t used[HW_STE_WORDS])
{
	for (unsigned int i = 0; i < HW_STE_WORDS; i++)
		used[i] = 0;
	used[0] = HW_STE0_V;
	if (!(ste[0] & HW_STE0_V))
		return;
	used[0] |= HW_STE0_MODE;
	uint64_t mode = HW_FIELD_GET(HW_STE0_MODE, ste[0]);
	if (mode != HW_STE_MODE_TRANSLATE && mode != HW_STE_MODE_NESTED)
		return;
	used[0] |= HW_STE0_FMT | HW_STE0_VA_BITS;
	used[1] = HW_STE1_ROOT;
	used[2] = HW_STE2_DID;
	used[6] = HW_STE6_CDLOG2;
	if (mode != HW_STE_MODE_NESTED) {
		if (ste[6] & HW_STE6_CDLOG2)
			used[5] = HW_STE5_CDTAB;
		return;
	}
	used[3] = HW_STE3_S2ROOT;
	used[4] = HW_STE4_S2FMT | HW_STE4_S2VA_BITS | HW_STE4_VMID;
}

/* Every bit a valid entry may have set; the rest is RES0. */
static inline uint64_t hw_ste_defined(unsigned int word)
{
	switch (word) {
	case 0:
		return HW_STE0_V | HW_STE0_MODE | HW_STE0_FMT | HW_STE0_VA_BITS;
	case 1:
		return HW_STE1_ROOT;
	case 2:
		return HW_STE2_DID;
	case 3:
		return HW_STE3_S2ROOT;
	case 4:
		return HW_STE4_S2FMT | HW_STE4_S2VA_BITS | HW_STE4_VMID;
	case 5:
		return HW_STE5_CDTAB;
	case 6:
		return HW_STE6_CDLOG2;
	default:
		return 0;
	}
}

/* Whether a and b configure the same thing: equal under a's used bits
 * (which, when they are equal, are b's used bits too). */
static inline int hw_ste_same_config(const uint64_t a[HW_STE_WORDS],
				     const uint64_t b[HW_STE_WORDS])
{
	uint64_t ua[HW_STE_WORDS], ub[HW_STE_WORDS];
	hw_ste_used(a, ua);
	hw_ste_used(b, ub);
	for (unsigned int i = 0; i < HW_STE_WORDS; i++)
		if (ua[i] != ub[i] || ((a[i] ^ b[i]) & ua[i]))
			return 0;
	return 1;
}

static inline void hw_ste_make(uint64_t ste[HW_STE_WORDS],
			       enum hw_ste_mode mode, unsigned int fmt,
			       unsigned int va_bits, uint64_t root,
			       uint16_t did)
{
	for (unsigned int i = 0; i < HW_STE_WORDS; i++)
		ste[i] = 0;
	ste[0] = HW_STE0_V | HW_FIELD_PREP(HW_STE0_MODE, mode);
	if (mode != HW_STE_MODE_TRANSLATE)
		return;
	ste[0] |= HW_FIELD_PREP(HW_STE0_FMT, fmt) |
		  HW_FIELD_PREP(HW_STE0_VA_BITS, va_bits);
	ste[1] = root & HW_STE1_ROOT;
	ste[2] = HW_FIELD_PREP(HW_STE2_DID, did);
}

/* Nested: stage 1 (fmt, va_bits, root IPA, did) over stage 2. */
static inline void hw_ste_make_nested(uint64_t ste[HW_STE_WORDS],
				      unsigned int fmt, unsigned int va_bits,
				      uint64_t root_ipa, uint16_t did,
				      unsigned int s2_fmt,
				      unsigned int s2_va_bits,
				      uint64_t s2_root, uint16_t vmid)
{
	hw_ste_make(ste, HW_STE_MODE_TRANSLATE, fmt, va_bits, root_ipa, did);
	ste[0] = (ste[0] & ~HW_STE0_MODE) |
		 HW_FIELD_PREP(HW_STE0_MODE, HW_STE_MODE_NESTED);
	ste[3] = s2_root & HW_STE3_S2ROOT;
	ste[4] = HW_FIELD_PREP(HW_STE4_S2FMT, s2_fmt) |
		 HW_FIELD_PREP(HW_STE4_S2VA_BITS, s2_va_bits) |
		 HW_FIELD_PREP(HW_STE4_VMID, vmid);
}

/* A translate entry with a substream table of 2^cd_log2 CDs at cdtab
 * (cd_log2 0: none). */
static inline void hw_ste_set_cdtab(uint64_t ste[HW_STE_WORDS],
				    uint64_t cdtab, unsigned int cd_log2)
{
	ste[5] = cd_log2 ? cdtab & HW_STE5_CDTAB : 0;
	ste[6] = HW_FIELD_PREP(HW_STE6_CDLOG2, cd_log2);
}

/* ---- context descriptors (one PASID each) ---- */

static inline void hw_cd_used(const uint64_t cd[HW_CD_WORDS],
			      uint64_t used[HW_CD_WORDS])
{
	for (unsigned int i = 0; i < HW_CD_WORDS; i++)
		used[i] = 0;
	used[0] = HW_CD0_V;
	if (!(cd[0] & HW_CD0_V))
		return;
	used[0] |= HW_CD0_FMT | HW_CD0_VA_BITS;
	used[1] = HW_CD1_ROOT;
	used[2] = HW_CD2_DID;
}

static inline uint64_t hw_cd_defined(unsigned int word)
{
	switch (word) {
	case 0:
		return HW_CD0_V | HW_CD0_FMT | HW_CD0_VA_BITS;
	case 1:
		return HW_CD1_ROOT;
	case 2:
		return HW_CD2_DID;
	default:
		return 0;
	}
}

static inline int hw_cd_same_config(const uint64_t a[HW_CD_WORDS],
				    const uint64_t b[HW_CD_WORDS])
{
	uint64_t ua[HW_CD_WORDS], ub[HW_CD_WORDS];
	hw_cd_used(a, ua);
	hw_cd_used(b, ub);
	for (unsigned int i = 0; i < HW_CD_WORDS; i++)
		if (ua[i] != ub[i] || ((a[i] ^ b[i]) & ua[i]))
			return 0;
	return 1;
}

static inline void hw_cd_make(uint64_t cd[HW_CD_WORDS], unsigned int fmt,
			      unsigned int va_bits, uint64_t root, uint16_t did)
{
	cd[0] = HW_CD0_V | HW_FIELD_PREP(HW_CD0_FMT, fmt) |
		HW_FIELD_PREP(HW_CD0_VA_BITS, va_bits);
	cd[1] = root & HW_CD1_ROOT;
	cd[2] = HW_FIELD_PREP(HW_CD2_DID, did);
	cd[3] = 0;
}

#endif /* IOH_ABI_HW_ABI_STE_H */
