/* SPDX-License-Identifier: MIT */
/*
 * Preserving IOMMU and iommufd state across a live update (the iommu and
 * iommufd subsystems of the handover blob, docs/handover-abi.md).
 *
 *   subsystem | object      | what survives
 *   ----------+-------------+-----------------------------------------------
 *   iommu     | unit        | stream table (page, log2): devices keep DMA-ing
 *             |             | through the entries written by the old kernel
 *   iommufd   | ioas-<id>   | the intent: areas (iova, len, memfd, offset, prot)
 *   iommufd   | hwpt-<id>   | format, features it was built with, domain ID,
 *             |             | root, every table page, attached devices,
 *             |             | nested devices' guest stage 1 (root IPA, DID)
 *
 * Table pages and the stream table stay live through the exec; the next
 * kernel claims them while adopting (or replacing) the tables.
 */
#ifndef IOH_IOMMUFD_PRESERVE_H
#define IOH_IOMMUFD_PRESERVE_H

#include "iommufd/iommufd.h"

#define IOMMUFD_KHO_IOMMU "iommu"
#define IOMMUFD_KHO_IOMMUFD "iommufd"
/* Version 2: a hwpt names its ATS devices ("ats-devices"); version 3:
 * its nested devices and their guest stage 1 ("nested"); version 4: the
 * PASIDs attached to it ("pasids") and its devices' CD tables
 * ("cd-tables"). Versions 1 (no ATS), 2 (no nesting) and 3 (no PASIDs)
 * are still read. */
#define IOMMUFD_KHO_VERSION 4u
#define IOMMUFD_KHO_MIN_VERSION 1u
/*
 * The iommu unit node. Version 2: every IOMMU unit's stream table
 * ("strtab" one base per unit) and the topology ("device-units").
 * Version 1 (one unit, "strtab" a single base) is still read: one unit,
 * every device behind it.
 */
#define IOMMUFD_KHO_UNIT_VERSION 2u
#define IOMMUFD_KHO_UNIT_MIN_VERSION 1u

/*
 * The IOMMU units as the driver programmed them (the node keeps the name
 * "unit": one object describes every unit of the host).
 */
struct iommu_unit {
	unsigned int nr_units;
	uint64_t strtab_pa[HW_MAX_UNITS]; /* unit u's stream table */
	unsigned int strtab_log2;         /* every unit's: 2^log2 entries */
	enum pt_format_id fmt;
	unsigned int va_bits;
	uint8_t dev_unit[HW_MAX_DEVS];    /* device d is behind dev_unit[d] */
};

/*
 * Whether the hardware (the driver's view of it) is the one the handover
 * describes: as many units, every device behind the same unit, every unit
 * running the stream table the handover names. 0, or -EPROTO with what
 * disagrees in why (nothing is changed either way).
 */
int iommufd_unit_check(const struct iommu_unit *unit,
		       const struct iommu_drv *drv, char *why, size_t len);

/* The unit node at node of a validated blob (what peek/retrieve read). */
void iommufd_parse_unit(const void *fdt, int node, struct iommu_unit *unit);

/* Register the iommu and iommufd handlers (replacing kho's built-in
 * placeholders, which refuse objects). */
int iommufd_kho_register(void);

/*
 * Whether the devices of keep (a mask of stream IDs; those attached) can
 * be preserved: -EOPNOTSUPP, with the device and the reason in why, for
 * one that depends on I/O page faults or has PASIDs in use (Linux's
 * live-update series refuses both; replaying per PASID is not
 * modelled). Changes nothing: a refused update is not attempted.
 */
int iommufd_preserve_check(const struct iommufd_ctx *ictx, uint32_t keep,
			   char *why, size_t len);

/*
 * Preserve the unit (session unit_session) and every IOAS and HWPT of
 * ictx (session vm_session, where the memfds they use are preserved),
 * but an IOAS iommufd_drop_devices left without tables: unpreserved
 * devices are detached before, and are not recorded. Refused
 * (-EOPNOTSUPP) when an attached device fails iommufd_preserve_check.
 * From here on ictx refuses map and unmap (-EBUSY) until
 * iommufd_unpreserve.
 */
int iommufd_preserve(struct iommufd_ctx *ictx, struct iommu_unit *unit,
		     struct luo_session *unit_session,
		     struct luo_session *vm_session);
void iommufd_unpreserve(struct iommufd_ctx *ictx);

/* ---- incoming ---- */

/* The preserved unit as the validated blob describes it, claiming
 * nothing (between kho_boot_early and kho_boot_late). */
int iommufd_peek_unit(const struct kho *k, const char *session,
		      struct iommu_unit *unit);
int iommufd_retrieve_unit(struct kho *k, const char *session,
			  struct iommu_unit *unit);

/* A nested device of a preserved HWPT (version 3): the guest's stage 1
 * over the HWPT as stage 2. The stage-1 table is guest memory: only its
 * configuration is recorded. */
struct iommufd_nested_rec {
	uint32_t sid;
	enum pt_format_id fmt;
	unsigned int va_bits;
	uint64_t root;      /* IPA */
	uint16_t did;
};

/* A preserved HWPT, as recorded. */
struct iommufd_hwpt_rec {
	uint32_t id;
	uint32_t ioas_id;
	enum pt_format_id fmt;
	unsigned int va_bits, oa_bits;
	uint32_t features;
	uint16_t did;
	uint64_t root;
	uint64_t *pages;   /* table pages (malloc'd) */
	size_t nr_pages;
	uint32_t devs[HW_MAX_DEVS];
	unsigned int nr_devs;
	uint32_t ats_mask;  /* bit sid: device sid has ATS (version 2 on) */
	struct iommufd_nested_rec nested[HW_MAX_DEVS]; /* version 3 on */
	unsigned int nr_nested;
	/* Version 4 on: PASIDs translating through this table, and the CD
	 * tables of its devices that have PASIDs (one page each). */
	struct { uint32_t sid, pasid; } pasids[HW_MAX_DEVS * IOMMUFD_MAX_PASIDS];
	unsigned int nr_pasids;
	struct { uint32_t sid; uint64_t pa; } cdtabs[HW_MAX_DEVS];
	unsigned int nr_cdtabs;
};

/*
 * The incoming kernel's check of the PASID records against the hardware,
 * before it touches anything: for every device with a recorded CD table,
 * its STE points at that table (IOMMUFD_CD_LOG2 entries), every PASID
 * record's CD is valid and runs its HWPT's table (format, width, root,
 * domain ID), and no other CD of the table is valid. read_ste and read_cd
 * give what the hardware has (iommufd_pasids_check_hw: the driver's).
 * 0, or -EINVAL with err naming the device, the PASID and what differs.
 */
struct iommufd_incoming;
struct iommufd_hw_reader {
	int (*read_ste)(void *arg, uint32_t sid, uint64_t ste[HW_STE_WORDS]);
	int (*read_cd)(void *arg, uint64_t cdtab, uint32_t pasid,
		       uint64_t cd[HW_CD_WORDS]);
	void *arg;
};
int iommufd_pasids_check(const struct iommufd_incoming *in,
			 const struct iommufd_hw_reader *hw, struct kho_err *err);
int iommufd_pasids_check_hw(const struct iommufd_incoming *in,
			    struct iommu_drv *drv, struct kho_err *err);
/*
 * After h (adopted from r) is registered: its PASIDs are attached to it
 * again, and the CD tables r records are claimed (once) and owned by
 * their devices. -EINVAL for a record that names a PASID twice.
 */
int iommufd_restore_pasids(struct iommufd_ctx *ictx, struct iommufd_hwpt *h,
			   const struct iommufd_hwpt_rec *r);

/* Device sid's nested record in r, or NULL (not nested). */
const struct iommufd_nested_rec *
iommufd_rec_nested(const struct iommufd_hwpt_rec *r, uint32_t sid);
/* The configuration entry sid has on r's table: nested or not, with the
 * CD table r records for it. */
void iommufd_rec_ste(const struct iommufd_hwpt_rec *r, uint32_t sid,
		     uint64_t ste[HW_STE_WORDS]);
/*
 * Attach sid to h (adopted or rebuilt for r) as its entry already is: its
 * nested HWPT re-created from r (one per stage-1 configuration, shared
 * by the devices that have it), or none. 0, -ENOMEM, -ENOSPC.
 */
int iommufd_restore_device(struct iommufd_ctx *ictx, struct iommufd_hwpt *h,
			   const struct iommufd_hwpt_rec *r, uint32_t sid);

/* The record of a validated hwpt node (pages malloc'd): 0 or -ENOMEM. */
int iommufd_parse_hwpt(const void *fdt, int node, struct iommufd_hwpt_rec *r);

/* Every object of session: ioas (areas re-created against memfds, no
 * pinning yet) and hwpt records. memfds: the session's retrieved memfds. */
struct iommufd_incoming {
	struct iommufd_ioas *ioas[IOMMUFD_MAX_OBJS];
	unsigned int nr_ioas;
	struct iommufd_hwpt_rec hwpt[IOMMUFD_MAX_OBJS];
	unsigned int nr_hwpt;
};
int iommufd_retrieve(struct iommufd_ctx *ictx, const char *session,
		     struct kho_memfd *const *memfds, size_t nr_memfds,
		     struct iommufd_incoming *in, struct kho_err *err);
void iommufd_incoming_free(struct iommufd_incoming *in);

/*
 * The new kernel's first step with IDs: reserve, in ictx's allocator,
 * the domain ID of every preserved record of in and of every valid
 * configuration entry of the first nr_streams streams, so no table it
 * builds is ever tagged like one the hardware may still cache. Returns
 * how many IDs were reserved.
 */
unsigned int iommufd_reserve_live_ids(struct iommufd_ctx *ictx,
				      const struct iommufd_incoming *in,
				      unsigned int nr_streams);

/*
 * Adopt a preserved table as it is (claiming every page) into a HWPT of
 * ictx over ioas. On error (message in err) nothing is claimed.
 */
int iommufd_adopt_hwpt(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
		       const struct iommufd_hwpt_rec *rec, bool immutable,
		       struct iommufd_hwpt **out, struct kho_err *err);

#endif /* IOH_IOMMUFD_PRESERVE_H */
