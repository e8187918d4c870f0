/* SPDX-License-Identifier: MIT */
/*
 * cmdline: a host kernel generation's command line, stated once. Every
 * place that starts or execs a kernel (the world runner for the first
 * generation and for a recovery kernel, the outgoing kernel for the next
 * one) fills a struct lu_gen_cfg and writes it with lu_cmdline_to_argv;
 * `iohandover kernel` reads it back with lu_cmdline_parse. The struct and
 * the option table are both generated from LU_GEN_OPTIONS, so an option
 * cannot exist in one and not the other, and one set of defaults serves
 * everyone.
 *
 * The line is `EXE kernel --name value ... --flag ...`: only options whose
 * value differs from its default are written.
 */
#ifndef IOH_LU_CMDLINE_H
#define IOH_LU_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/hw_abi.h"
#include "kho/memfd.h"
#include "pt/pt.h"

struct lu_strategy;

#define LU_KERNEL_VERB "kernel"
#define LU_MAX_CANDIDATES 8
#define LU_MAX_PASIDS ((1u << 20) - 1) /* 20-bit PASIDs, 0 meaning none */

/* A physical address that may be absent (0 is a valid one). */
struct lu_opt_pa {
	bool set;
	uint64_t pa;
};

/* Physical addresses, written as "0x1000,0x2000". */
struct lu_opt_pas {
	uint64_t pa[LU_MAX_CANDIDATES];
	unsigned int n;
};

/*
 * X(TYPE, field, "option", default, max, choices, "help"). TYPE is one of
 * FD, UINT, U64 (numbers up to max, with K/M/G/T suffixes), BOOL (a flag,
 * no value), STR, CHOICE (one of the NULL-terminated choices), STRATEGY,
 * FORMAT, MIX (1g=PPM,4k=PPM,seed=N,scatter=0|1), PA, PAS.
 */
#define LU_GEN_OPTIONS(X)                                                     \
	X(FD, physmem_fd, "physmem-fd", -1, 0, NULL,                          \
	  "descriptor of the machine's RAM (physmem)")                        \
	X(FD, region_fd, "region-fd", -1, 0, NULL,                            \
	  "descriptor of the machine's register region")                      \
	X(FD, report_fd, "report-fd", 1, 0, NULL,                             \
	  "where the report lines go (kept across exec)")                     \
	X(PA, handover, "handover", { 0 }, 0, NULL,                           \
	  "boot from the handover blob at this physical address")             \
	X(BOOL, recover, "recover", false, 0, NULL,                           \
	  "a recovery kernel after a crash")                                  \
	X(BOOL, probe, "probe", false, 0, NULL,                               \
	  "only the bare exec round trip: map RAM and the region, report")    \
	X(PAS, candidates, "candidates", { { 0 } }, 0, NULL,                  \
	  "recovery: handovers the crashed kernels reported")                 \
	X(STR, profile, "profile", "v1", 0, NULL,                             \
	  "this kernel's profile")                                            \
	X(STR, from_profile, "from-profile", NULL, 0, NULL,                   \
	  "the previous generation's profile")                                \
	X(STR, next, "next-profiles", NULL, 0, NULL,                          \
	  "profiles of the updates still to do, \"v2,v1\"")                   \
	X(STRATEGY, strategy, "strategy", &lu_strategy_rebuild, 0, NULL,      \
	  "strategy of the update into this generation")                      \
	X(STR, next_strategies, "next-strategies", NULL, 0, NULL,             \
	  "strategies of the updates still to do (default: the same)")        \
	X(FORMAT, fmt, "format", PT_FMT_ARM_S2, 0, NULL,                      \
	  "page-table format of a fresh boot")                                \
	X(UINT, va_bits, "va-bits", 48, 64, NULL, "IOVA width")               \
	X(UINT, devices, "devices", 2, HW_MAX_DEVS, NULL,                     \
	  "devices doing DMA (at least 1)")                                   \
	X(UINT, preserve, "preserve", 0, HW_MAX_DEVS, NULL,                   \
	  "devices 0 to K-1 survive each update; the others are stopped and " \
	  "put in abort before it (0: all)")                                  \
	X(UINT, pasids, "pasids", 0, LU_MAX_PASIDS, NULL,                     \
	  "PASIDs in use on device 0 (a live update refuses it, unless "      \
	  "replay-pasids)")                                                   \
	X(BOOL, replay_pasids, "replay-pasids", false, 0, NULL,               \
	  "fresh boot: device 0's PASIDs are attached, each to a table of "   \
	  "its own; every kernel preserves and replays them")                 \
	X(BOOL, naive_pasids, "naive-pasids", false, 0, NULL,                 \
	  "test hook: this kernel switches a PASID's CD without CFGI_CD")     \
	X(U64, guest_size, "guest-size", 1ull << 30, UINT64_MAX, NULL,        \
	  "guest RAM of a fresh boot")                                        \
	X(MIX, mix, "mix", kho_memfd_mix_default, 0, NULL,                    \
	  "folio mix of the guest's memory")                                  \
	X(BOOL, hotplug, "hotplug", false, 0, NULL,                           \
	  "hot-add memory while recovering from each update")                 \
	X(BOOL, naive, "naive", false, 0, NULL,                               \
	  "rebuild with this kernel's own features, no reconcile")            \
	X(UINT, ats, "ats", 0, HW_MAX_DEVS, NULL,                             \
	  "fresh boot: the first N devices have PCIe ATS (an ATC); later "     \
	  "generations learn it from the handover")                           \
	X(BOOL, naive_ats, "naive-ats", false, 0, NULL,                       \
	  "test hook: this kernel never invalidates ATCs")                    \
	X(BOOL, nested, "nested", false, 0, NULL,                             \
	  "fresh boot: the preserved devices translate nested, the guest's "   \
	  "ARM stage 1 (in its memory) over the host's stage 2")              \
	X(BOOL, naive_nested, "naive-nested", false, 0, NULL,                 \
	  "test hook: this kernel replaces a stage 2 without invalidating "    \
	  "the combined entries (no TLBI by VMID)")                           \
	X(BOOL, naive_units, "naive-units", false, 0, NULL,                   \
	  "test hook: this kernel invalidates a domain on the first of its "   \
	  "IOMMU units only")                                                 \
	X(BOOL, naive_s1, "naive-s1", false, 0, NULL,                         \
	  "test hook: this kernel replays the guest's stage 1 too, "           \
	  "rewriting it in guest memory")                                     \
	X(U64, s1_hash, "s1-hash", 0, UINT64_MAX, NULL,                       \
	  "nested: the VMM's hash of the guest's stage-1 table region")       \
	X(CHOICE, inject, "inject", NULL, 0, lu_injections,                   \
	  "test hook applied at the first update")                            \
	X(CHOICE, crash_at, "crash-at", NULL, 0, lu_crash_points,             \
	  "SIGKILL at this point of every update")                            \
	X(STR, fail_at, "fail-at", NULL, 0, NULL,                             \
	  "test hook: fail the Nth call at SITE (ioh_fail) from PHASE on, "    \
	  "PHASE:SITE:N: fresh (this kernel's fresh boot), update (its "       \
	  "update), boot (the next kernel's boot), recover (a recovery "       \
	  "kernel's)")                                                        \
	X(U64, run_ms, "run-ms", 150, UINT64_MAX, NULL,                       \
	  "DMA time before each update and at the end, and until every "      \
	  "device has done DMA")                                              \
	X(U64, t_pause_ns, "t-pause", 0, UINT64_MAX, NULL,                    \
	  "when the previous generation paused the guest (CLOCK_MONOTONIC)")  \
	X(U64, t_freeze_ns, "t-freeze", 0, UINT64_MAX, NULL,                  \
	  "when it committed its handover")                                   \
	X(U64, preserve_ns, "preserve-ns", 0, UINT64_MAX, NULL,               \
	  "how long it spent preserving")                                     \
	X(U64, unmap_ns, "unmap-ns", 0, UINT64_MAX, NULL,                     \
	  "how long it spent dropping its mappings of RAM")                   \
	X(STR, save_dir, "save-handover", NULL, 0, NULL,                      \
	  "keep a copy of every blob passed on in this directory")            \
	X(STR, exe, "next", NULL, 0, NULL,                                    \
	  "binary of the next kernel (default: this one)")

#define LU_CTYPE_FD int
#define LU_CTYPE_UINT unsigned int
#define LU_CTYPE_U64 uint64_t
#define LU_CTYPE_BOOL bool
#define LU_CTYPE_STR const char *
#define LU_CTYPE_CHOICE const char *
#define LU_CTYPE_STRATEGY const struct lu_strategy *
#define LU_CTYPE_FORMAT enum pt_format_id
#define LU_CTYPE_MIX struct kho_memfd_mix
#define LU_CTYPE_PA struct lu_opt_pa
#define LU_CTYPE_PAS struct lu_opt_pas

/* What one kernel generation is told. */
struct lu_gen_cfg {
#define LU_CFG_FIELD(T, field, ...) LU_CTYPE_##T field;
	LU_GEN_OPTIONS(LU_CFG_FIELD)
#undef LU_CFG_FIELD
};

enum lu_opt_type {
	LU_OPT_FD, LU_OPT_UINT, LU_OPT_U64, LU_OPT_BOOL, LU_OPT_STR,
	LU_OPT_CHOICE, LU_OPT_STRATEGY, LU_OPT_FORMAT, LU_OPT_MIX, LU_OPT_PA,
	LU_OPT_PAS,
};

/* One row of the option table (for parsers, help and tests). */
struct lu_opt {
	enum lu_opt_type type;
	const char *name;        /* without the leading "--" */
	size_t offset;           /* of the field in struct lu_gen_cfg */
	uint64_t max;            /* FD, UINT, U64 */
	const char *const *choices; /* CHOICE */
	const char *help;
};

extern const struct lu_opt lu_gen_options[];
extern const unsigned int lu_nr_gen_options;

void lu_gen_cfg_defaults(struct lu_gen_cfg *c);
/* Every field equal (strings by content). */
bool lu_gen_cfg_equal(const struct lu_gen_cfg *a, const struct lu_gen_cfg *b);

/* A written command line: argv[0..argc) then NULL, all heap-owned. */
struct lu_argv {
	char **argv;
	unsigned int argc;
};
/* EXE kernel options...; -ENOMEM, or -EINVAL for a value no parser would
 * take back (an unregistered strategy, say). */
int lu_cmdline_to_argv(const struct lu_gen_cfg *c, const char *exe,
		       struct lu_argv *out);
void lu_argv_free(struct lu_argv *av);

/*
 * Parse the options of argv[1..argc) (argv[0] is the verb) over the
 * defaults into c. Strings point into argv. On a bad option or value:
 * -EINVAL and a message naming it in err. Also checks what a kernel
 * cannot start without: both machine descriptors and at least one device.
 */
int lu_cmdline_parse(int argc, char *const argv[], struct lu_gen_cfg *c,
		     char *err, size_t errlen);

/* The value syntax, for other command lines that take the same values:
 * a number with an optional K/M/G/T suffix (powers of two), no sign; a
 * folio mix "1g=PPM,4k=PPM,seed=N,scatter=0|1", any subset, over *mix. */
int lu_parse_num(const char *s, uint64_t *v);
int lu_parse_mix(const char *s, struct kho_memfd_mix *mix);

#endif /* IOH_LU_CMDLINE_H */
