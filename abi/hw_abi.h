/* SPDX-License-Identifier: MIT */
/*
 * hw_abi: the programming interface of the machine's IOMMU, as a hardware
 * manual would give it. Modelled on SMMUv3 (IHI 0070): stream table
 * entries (5.2), command queue and CMD_SYNC (4.1-4.7), event queue and
 * fault records (7.3), TLB conflict (3.20), break-before-make levels
 * (3.21.1); page-table formats are those of pt/pt.h, VT-d second stage and
 * x86-64 included (VT-d 6.5 invalidation maps onto the range command).
 *
 *   manual                    | here
 *   --------------------------+-------------------------------------------
 *   one SMMU's page of regs   | struct hw_unit_regs, HW_REG unit[u]
 *   IORT ID mapping (SMMU of  | hw_regs.dev_unit[d] (fixed at creation)
 *     a root complex's RIDs)  |
 *   STRTAB_BASE, linear table | unit[u].strtab_base / strtab_log2 (in RAM)
 *   STE (8 doublewords)       | struct of HW_STE_WORDS words, HW_STE_*
 *   STE.Config abort/bypass/S2| HW_STE_MODE_ABORT / _BYPASS / _TRANSLATE
 *   STE.Config S1+S2 (nested) | HW_STE_MODE_NESTED
 *   S2VMID / VT-d DID         | HW_STE2_DID (the IOTLB tag "domain")
 *   S2TTB / SLPTPTR           | HW_STE1_ROOT
 *   CMD_CFGI_STE, CFGI_ALL    | HW_CMD_CFGI_STE, HW_CMD_CFGI_ALL
 *   STE S1ContextPtr, S1CDMax | HW_STE5_CDTAB, HW_STE6_CDLOG2 (substreams)
 *   CD (context descriptor)   | HW_CD_WORDS words, HW_CD*_ (a PASID's table)
 *   VT-d scalable PASID entry | the same CD (the PASID table is the CD table)
 *   CMD_CFGI_CD, CFGI_CD_ALL  | HW_CMD_CFGI_CD (SID, SSID), HW_CMD_CFGI_CD_ALL
 *   C_BAD_SUBSTREAMID, C_BAD_CD| HW_EVT_BAD_SUBSTREAMID, HW_EVT_BAD_CD
 *   CMD_TLBI_NH_ASID          | HW_CMD_TLBI_DOMAIN
 *   CMD_TLBI_S12_VMALL        | HW_CMD_TLBI_VMID (nested)
 *   CMD_TLBI_S2_IPA           | HW_CMD_TLBI_S2_RANGE (nested)
 *   STE S2TTB/S2VMID, nested  | HW_STE3_S2ROOT, HW_STE4_VMID
 *   CMD_TLBI_NH_VA (RIL), PSI | HW_CMD_TLBI_RANGE (NUM, SCALE, TTL, LEAF)
 *   CMD_TLBI_NSNH_ALL         | HW_CMD_TLBI_ALL
 *   CMD_ATC_INV (SID, Size)   | HW_CMD_ATC_INV (device TLB of an ATS device)
 *   VT-d Device-TLB invalidate| HW_CMD_ATC_INV (SID = source ID, S bit size)
 *   AMD INVALIDATE_IOTLB_PAGES| HW_CMD_ATC_INV (DeviceID, S bit size)
 *   CMD_SYNC (+ MSI write)    | HW_CMD_SYNC, completion in sync_done
 *   SMMU_IDR3.BBML            | hw_regs.bbm_level
 *   TTL / levels              | pt levels: 0 = 4 KiB leaves, counted upward
 *
 * Everything the host and the machine share lives in physmem (stream
 * table, page tables) or in the register region described here (one
 * shared memory file, passed down by descriptor, mapped by every process).
 * Every field the other side may change concurrently is accessed with
 * 64- or 32-bit atomic loads and stores.
 *
 * Beyond the hardware, the region carries the test rig around it: the
 * DMA engines' oracle (expected IOVA -> PA, fed by the host), per-device
 * counters, the time-stamped event log and the freed-table-page bitmap
 * the host uses to declare pages it has freed. None of that is visible to
 * the modelled IOMMU's translation logic except as a checker.
 */
#ifndef IOH_ABI_HW_ABI_H
#define IOH_ABI_HW_ABI_H

#include <stdatomic.h>
#include <stdint.h>

#include "ioh/ioh.h"

#define HW_BIT(n) (1ull << (n))
#define HW_GENMASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))
#define HW_FIELD_PREP(mask, v) \
	(((uint64_t)(v) << __builtin_ctzll(mask)) & (mask))
#define HW_FIELD_GET(mask, e) (((e) & (mask)) >> __builtin_ctzll(mask))

#define HW_ABI_MAGIC 0x314d574848484f49ull /* "IOHHHWM1" little endian */
#define HW_ABI_VERSION 6u

#define HW_MAX_DEVS 16u         /* devices; device d issues stream ID d */
#define HW_MAX_UNITS 8u         /* IOMMU units (SMMUs), each its own queues */
#define HW_MAX_ENGINES 4u       /* DMA engine threads per device */
#define HW_CMDQ_ENTRIES 256u    /* power of two */
#define HW_EVTQ_ENTRIES 256u    /* power of two */
#define HW_LOG_ENTRIES 8192u    /* power of two */
#define HW_ORACLE_RANGES 64u
#define HW_STRTAB_MAX_LOG2 16u
#define HW_ATC_ENTRIES 32u      /* device TLB entries (4 KiB to a block) per ATS device */
#define HW_CD_MAX_LOG2 8u       /* substreams (PASIDs) per stream: at most 2^8 */

/* ---- Stream table entry (configuration entry), 8 x 64-bit words ---- */
/*
 * The stream table is HW_STE_SIZE * 2^strtab_log2 bytes of physmem at
 * strtab_base. The IOMMU reads an entry one word at a time, in any order,
 * and may fetch (and cache) any entry at any time, invalid ones too: so
 * making an entry valid needs HW_CMD_CFGI_STE like any other change.
 *
 * Used bits ("the bits the hardware reads for this configuration"):
 *   V=0:                 word 0 V only
 *   V=1, abort/bypass:   word 0 V, MODE
 *   V=1, translate:      word 0 V, MODE, FMT, VA_BITS; word 1 ROOT;
 *                        word 2 DID
 *   V=1, nested:         as translate, plus word 3 S2ROOT and word 4
 *                        S2FMT, S2VA_BITS, VMID
 *   V=1, translate with substreams (word 6 CDLOG2 != 0): also word 5
 *                        CDTAB (word 6 CDLOG2 is used in every translate
 *                        entry; CDLOG2 != 0 in a nested entry is malformed)
 * Every bit outside these fields is RES0: set in a valid entry, the entry
 * is malformed (HW_EVT_BAD_STE).
 */
#define HW_STE_WORDS 8u
#define HW_STE_SIZE (HW_STE_WORDS * 8u)

#define HW_STE0_V HW_BIT(0)
#define HW_STE0_MODE HW_GENMASK(3, 1)
#define HW_STE0_FMT HW_GENMASK(7, 4)      /* enum pt_format_id */
#define HW_STE0_VA_BITS HW_GENMASK(14, 8) /* IOVA width (to 64): picks the levels */
#define HW_STE1_ROOT HW_GENMASK(51, 12)   /* top table PA */
#define HW_STE2_DID HW_GENMASK(15, 0)     /* domain: the IOTLB tag */
/* Nested (stage 1 over stage 2): ROOT and table addresses are IPAs. */
#define HW_STE3_S2ROOT HW_GENMASK(51, 12) /* stage-2 top table PA */
#define HW_STE4_S2FMT HW_GENMASK(3, 0)
#define HW_STE4_S2VA_BITS HW_GENMASK(14, 8)
#define HW_STE4_VMID HW_GENMASK(31, 16)   /* stage-2 tag */
/*
 * Substreams (PASIDs): a translate entry may point at a context-descriptor
 * table of 2^CDLOG2 entries (CDLOG2 0: none; at most HW_CD_MAX_LOG2). A
 * DMA without a PASID, or with PASID 0, uses the entry's own ROOT and DID
 * (like SMMUv3 S1DSS=substream 0 or VT-d RID_PASID): the table's entry 0
 * is never read and must be zero. PASID p >= 1 uses CD p; p >= 2^CDLOG2,
 * or any PASID on a stream without a table, is HW_EVT_BAD_SUBSTREAMID.
 */
#define HW_STE5_CDTAB HW_GENMASK(51, 12)  /* CD table PA, 4 KiB aligned */
#define HW_STE6_CDLOG2 HW_GENMASK(3, 0)   /* log2 of CD entries; 0: none */

/*
 * Context descriptor (one PASID's address space), HW_CD_WORDS words. The
 * IOMMU reads a CD a word at a time, in any order, and caches it by
 * (stream, substream): a change needs HW_CMD_CFGI_CD (or CFGI_CD_ALL, or
 * CFGI_ALL) and a SYNC, like an STE; CFGI_STE does not drop cached CDs.
 *   V=0: word 0 V only (a DMA on it: HW_EVT_CD_ABORT)
 *   V=1: word 0 V, FMT, VA_BITS; word 1 ROOT; word 2 DID; word 3 RES0
 * A bit outside these in a valid CD, a format or width the walker does
 * not know, or a misaligned ROOT makes it malformed (HW_EVT_BAD_CD).
 */
#define HW_CD_WORDS 4u
#define HW_CD_SIZE (HW_CD_WORDS * 8u)
#define HW_CD0_V HW_BIT(0)
#define HW_CD0_FMT HW_GENMASK(7, 4)
#define HW_CD0_VA_BITS HW_GENMASK(14, 8)
#define HW_CD1_ROOT HW_GENMASK(51, 12)
#define HW_CD2_DID HW_GENMASK(15, 0)

enum hw_ste_mode {
	HW_STE_MODE_ABORT = 0,     /* every transaction terminated */
	HW_STE_MODE_BYPASS = 1,    /* IOVA = PA, no translation */
	HW_STE_MODE_TRANSLATE = 2, /* through the tables at ROOT */
	HW_STE_MODE_NESTED = 3,    /* stage 1 at ROOT (IPA) over stage 2 */
};

/* ---- Commands: 2 words each ---- */
#define HW_CMD_OP HW_GENMASK(7, 0)
/* HW_CMD_CFGI_STE */
#define HW_CMD_SID HW_GENMASK(63, 32)
/* HW_CMD_CFGI_CD: SID and SSID (the PASID); CFGI_CD_ALL: SID only */
#define HW_CMD_SSID HW_GENMASK(31, 12)
/* HW_CMD_TLBI_DOMAIN, HW_CMD_TLBI_RANGE; the VMID for HW_CMD_TLBI_VMID
 * and HW_CMD_TLBI_S2_RANGE */
#define HW_CMD_DID HW_GENMASK(63, 48)
/* HW_CMD_TLBI_RANGE: [addr, addr + (NUM+1) * 2^SCALE * 4 KiB) */
#define HW_CMD_LEAF HW_BIT(8)          /* leaf entries only: walk caches stay */
#define HW_CMD_TTL HW_GENMASK(11, 9)   /* 0: any level; n: pt level n-1 only */
#define HW_CMD_NUM HW_GENMASK(16, 12)  /* 5 bits */
#define HW_CMD_SCALE HW_GENMASK(22, 17) /* 6 bits */
#define HW_CMD1_ADDR HW_GENMASK(63, 12) /* word 1: IOVA, 4 KiB aligned */
/* HW_CMD_SYNC: word 1 is the sequence written to sync_done on completion */
/*
 * HW_CMD_ATC_INV: SID 63:32, SIZE 13:8; word 1 = ADDR (63:12), aligned to
 * the range: [ADDR, ADDR + 2^SIZE * 4 KiB). SIZE = HW_ATC_INV_SIZE_ALL
 * (ADDR 0) is the whole address space. A SIZE above that, an unaligned
 * ADDR or a SID >= HW_MAX_DEVS is HW_CERR_ILL. Removes the device's ATC
 * entries in the range (a device without ATS has none); completion is the
 * next CMD_SYNC, which waits for every DMA that started before it
 * (IHI 0070 4.5.1, PCIe ATS 3.0: invalidation completion).
 */
#define HW_CMD_ATC_SIZE HW_GENMASK(13, 8)
#define HW_ATC_INV_SIZE_ALL 52u

enum hw_cmd_op {
	HW_CMD_CFGI_STE = 0x03,
	HW_CMD_CFGI_ALL = 0x04,
	HW_CMD_CFGI_CD = 0x05,       /* one CD of a stream (SID, SSID) */
	HW_CMD_CFGI_CD_ALL = 0x06,   /* every CD of a stream */
	HW_CMD_TLBI_VMID = 0x28,     /* every entry with the stage-2 tag */
	HW_CMD_TLBI_DOMAIN = 0x2a,
	HW_CMD_TLBI_RANGE = 0x2b,
	HW_CMD_TLBI_S2_RANGE = 0x2c, /* stage-2-only entries, by IPA */
	HW_CMD_TLBI_ALL = 0x30,
	HW_CMD_ATC_INV = 0x40,       /* an ATS device's TLB (the ATC) */
	HW_CMD_SYNC = 0x46,
};

struct hw_cmd {
	uint64_t w[2];
};

/* Why a command was refused (cmdq_error, HW_EVT_CMD_ERROR info). */
enum hw_cmd_err {
	HW_CERR_NONE = 0,
	HW_CERR_ILL = 1,     /* unknown opcode or reserved field set */
	HW_CERR_OVERRUN = 2, /* prod ran more than a queue ahead of cons */
};

/* ---- Events ---- */
/*
 * Types below 0x80 are hardware fault records (they also go to the event
 * queue); 0x80 and up are the rig's checker verdicts and timeline marks
 * (event log only).
 */
enum hw_evt_type {
	HW_EVT_NONE = 0,
	HW_EVT_BAD_STREAMID = 0x02, /* SID beyond the stream table */
	HW_EVT_STE_FETCH = 0x03,    /* stream table outside physmem */
	HW_EVT_BAD_STE = 0x04,      /* malformed configuration entry */
	HW_EVT_STE_ABORT = 0x05,    /* V=0 or MODE abort */
	HW_EVT_CD_ABORT = 0x06,     /* PASID's CD has V=0 */
	HW_EVT_BAD_SUBSTREAMID = 0x08, /* PASID beyond the CD table, or none */
	HW_EVT_CD_FETCH = 0x09,     /* CD table outside physmem */
	HW_EVT_BAD_CD = 0x0a,       /* malformed CD */
	HW_EVT_WALK_EABT = 0x0b,    /* table pointer outside physmem */
	HW_EVT_TRANSLATION = 0x10,  /* no valid leaf (or a malformed one) */
	HW_EVT_PERMISSION = 0x13,
	HW_EVT_TLB_CONFLICT = 0x20, /* multi-hit at BBM level 0/1 */
	HW_EVT_CMD_ERROR = 0x30,    /* info: index << 8 | enum hw_cmd_err */

	HW_EVT_MISDIRECTED = 0x80,  /* info: the PA reached */
	HW_EVT_LOST_WRITE = 0x81,   /* info: the PA whose stamp is missing */
	HW_EVT_BBM_VIOLATION = 0x82, /* info: the PA the live entry had */
	HW_EVT_USE_AFTER_FREE = 0x83, /* info: freed table page PA */
	HW_EVT_TORN_CONFIG = 0x84,  /* info: mask of words that tore */
	HW_EVT_STALE_ATC = 0x85,    /* info: the PA the ATC entry gives */
	HW_EVT_SYNC_DONE = 0x90,    /* info: sync sequence; sid: the unit */
	HW_EVT_GUEST_PAUSED = 0x91,
	HW_EVT_GUEST_RESUMED = 0x92, /* info: paused nanoseconds */
	HW_EVT_MACHINE_START = 0x93,
};

struct hw_event {
	uint64_t ts_ns;  /* CLOCK_MONOTONIC */
	uint32_t type;   /* enum hw_evt_type */
	uint32_t sid;
	uint64_t iova;
	uint64_t info;
};

/* ---- Per-device state for the rig ---- */

/* Expected translations of one device, as the host last declared them. */
struct hw_oracle_range {
	uint64_t iova;
	uint64_t len;
	uint64_t pa;
	uint32_t prot; /* PT_PROT_READ / PT_PROT_WRITE */
	uint32_t pasid; /* the substream the device uses for it (0: none) */
};

struct hw_oracle {
	_Atomic uint64_t seq; /* odd while the host is writing */
	uint32_t nr;
	uint32_t pad;
	struct hw_oracle_range r[HW_ORACLE_RANGES];
};

/* DMA engine parameters of one device; read by its engines every op. */
struct hw_dev_ctl {
	_Atomic uint32_t engines;   /* threads running (set at machine start) */
	_Atomic uint32_t enabled;   /* 0 (as created): engines idle */
	_Atomic uint32_t write_pct; /* share of writes, 0-100 */
	_Atomic uint32_t size;      /* bytes per op, 16..4096, power of two */
	_Atomic uint64_t win_lo;    /* engines use oracle IOVAs in [lo, hi] */
	_Atomic uint64_t win_hi;
	_Atomic uint64_t pace_ns;   /* sleep after every 64 ops (0: none) */
	/*
	 * PCIe ATS enabled (the host sets it, as it would the ATS
	 * capability's Enable bit): the device caches translations in its
	 * ATC and DMAs through them until HW_CMD_ATC_INV removes them.
	 */
	_Atomic uint32_t ats;
	uint32_t pad;
};

/* Counters of one device. Errors are all but ops/reads/writes/max_gap
 * and the atc_hits/misses/invalidations. */
struct hw_dev_stats {
	_Atomic uint64_t ops;
	_Atomic uint64_t reads;
	_Atomic uint64_t writes;
	_Atomic uint64_t faults;        /* translation/permission/config */
	_Atomic uint64_t conflicts;     /* TLB conflict aborts */
	_Atomic uint64_t misdirected;   /* translated PA != oracle PA */
	_Atomic uint64_t lost_writes;   /* stamp missing from the oracle PA */
	_Atomic uint64_t bbm_violations;/* live entry changed without a break */
	_Atomic uint64_t use_after_free;/* freed table page walked or cached */
	_Atomic uint64_t torn_config;   /* config entry read torn */
	_Atomic uint64_t max_gap_ns;    /* longest gap without a good translation */
	/* ATS device TLB (ATC). stale_atc is an error: ATC entries found
	 * stale (once each), docs/hw.md "Device TLBs (ATS)". */
	_Atomic uint64_t atc_hits;      /* DMAs translated by the ATC */
	_Atomic uint64_t atc_misses;    /* DMAs that asked the IOMMU (ATS request) */
	_Atomic uint64_t atc_invalidations; /* ATC_INV commands for this device */
	_Atomic uint64_t stale_atc;     /* entry outlived its translation */
};

/* A DMA engine's in-flight state, for sync completion and oracle updates. */
struct hw_engine_slot {
	_Atomic uint64_t inflight_epoch; /* 0 idle, else invalidation epoch + 1 */
	_Atomic uint64_t oracle_seq;     /* 0 idle, else oracle seq in use */
	_Atomic uint64_t ops;
};

/* Write stamp: first 16 bytes of every DMA write. */
#define HW_STAMP_MAGIC 0x5354u /* "TS" */
struct hw_stamp {
	uint64_t dev_magic; /* HW_STAMP_MAGIC << 32 | device */
	uint64_t seq;       /* per engine thread: engine << 56 | sequence */
};

/* ---- The register region ---- */

/*
 * One IOMMU unit's registers and queues (an SMMU's register page). The
 * host programs the stream table and produces commands; the machine
 * consumes them, completes syncs and produces events for this unit only.
 */
struct hw_unit_regs {
	/* Host-programmed. */
	_Atomic uint64_t strtab_base;  /* PA of the stream table */
	_Atomic uint32_t strtab_log2;  /* entries = 2^log2; 0: no table */
	uint32_t pad;

	/* Command queue: host writes entries then prod; machine advances cons. */
	_Atomic uint64_t cmdq_prod;
	_Atomic uint64_t cmdq_cons;
	_Atomic uint64_t cmdq_error;   /* last error: index << 8 | hw_cmd_err */
	_Atomic uint64_t sync_done;    /* last completed sync sequence */
	struct hw_cmd cmdq[HW_CMDQ_ENTRIES];

	/* Event queue: machine writes entries then prod; host advances cons. */
	_Atomic uint64_t evtq_prod;
	_Atomic uint64_t evtq_cons;
	_Atomic uint64_t evtq_overflow;
	struct hw_event evtq[HW_EVTQ_ENTRIES];

	/* This unit's counters (hw_regs holds their sums). */
	_Atomic uint64_t cmds;
	_Atomic uint64_t cmd_errors;
	_Atomic uint64_t syncs;
	_Atomic uint64_t iotlb_hits;
	_Atomic uint64_t iotlb_misses;
	_Atomic uint64_t walks;
};
struct hw_regs {
	/* Identification, written by the creator, read-only after. */
	uint64_t magic;
	uint32_t abi_version;
	uint32_t bbm_level;       /* 0, 1 or 2 (ARM formats) */
	uint64_t region_size;     /* bytes of the whole region */
	uint64_t physmem_size;
	uint64_t freed_map_off;   /* offset of the freed-page bitmap */

	/*
	 * Topology, written by the creator (as firmware's IORT describes
	 * which SMMU a device's stream IDs go to), read-only after: nr_units
	 * IOMMU units, device d behind unit dev_unit[d] (< nr_units).
	 */
	uint32_t nr_units;
	uint32_t pad0;
	uint8_t dev_unit[HW_MAX_DEVS];

	_Atomic uint32_t shutdown;     /* 1: the machine process exits */
	uint32_t pad1;

	/* The IOMMU units: each its own stream table, queues and caches. */
	struct hw_unit_regs unit[HW_MAX_UNITS];

	/* Guest CPU: host writes pause_req; machine acknowledges in paused. */
	_Atomic uint32_t guest_pause_req;
	_Atomic uint32_t guest_paused;
	_Atomic uint64_t guest_ram_pa;  /* region the guest CPU writes */
	_Atomic uint64_t guest_ram_len; /* 0: guest CPU idle */
	_Atomic uint64_t guest_ops;
	_Atomic uint64_t blackout_ns;   /* total paused time */
	_Atomic uint64_t blackout_max_ns;
	_Atomic uint64_t pauses;

	/* Machine liveness and global counters. */
	_Atomic uint64_t heartbeat;     /* advanced by the machine loop */
	_Atomic uint64_t machine_pid;
	/* Sums over the units of their counters of the same name. */
	_Atomic uint64_t cmds;
	_Atomic uint64_t cmd_errors;
	_Atomic uint64_t syncs;
	_Atomic uint64_t iotlb_hits;
	_Atomic uint64_t iotlb_misses;
	_Atomic uint64_t walks;
	_Atomic uint64_t bad_input;     /* malformed STE/table/command records */
	_Atomic uint64_t scrubs;        /* checker passes over the caches */

	/* Rig: per device. */
	struct hw_dev_ctl dev_ctl[HW_MAX_DEVS];
	struct hw_dev_stats dev_stats[HW_MAX_DEVS];
	struct hw_engine_slot engines[HW_MAX_DEVS][HW_MAX_ENGINES];
	struct hw_oracle oracle[HW_MAX_DEVS];

	/* Rig: event log, a ring; entry i is valid while log_prod - i <= size. */
	_Atomic uint64_t log_prod;
	struct hw_event log[HW_LOG_ENTRIES];

	/*
	 * Doorbells (futex words, docs/hw.md): whoever waits for the other
	 * side sleeps on one instead of polling; the side that changes what
	 * it waits for rings it after the store.
	 */
	struct ioh_bell cmd_bell;    /* host -> machine: commands queued on
				      * any unit (the machine scans them all) */
	struct ioh_bell host_bell;   /* machine -> host: a unit's cmdq_cons,
				      * sync_done,
				      * guest_paused or an engine's oracle_seq moved */
	struct ioh_bell engine_bell; /* engines -> machine: an operation ended */
	struct ioh_bell guest_bell;  /* host -> guest CPU: guest_pause_req changed */

	/* Followed at freed_map_off by one bit per physmem page (set = freed). */
};

/* The unit device dev sits behind (the topology is checked at attach). */
static inline unsigned int hw_dev_unit(const struct hw_regs *g,
				       unsigned int dev)
{
	return dev < HW_MAX_DEVS && g->dev_unit[dev] < HW_MAX_UNITS ?
	       g->dev_unit[dev] : 0;
}

#endif /* IOH_ABI_HW_ABI_H */
