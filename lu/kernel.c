// SPDX-License-Identifier: MIT
/*
 * One host kernel generation: boot (fresh or from a handover), the VMM's
 * script, and the live update to the next generation.
 */
#include "lu/lu.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/hw_abi_ste.h"
#include "hw/machine.h"
#include "iommufd/preserve.h"
#include "kho/kho.h"
#include "kho/memfd.h"

#define VM_SESSION "vm0"
#define UNIT_SESSION "iommu"
#define GUEST_MEMFD "guest-ram"
#define HOTPLUG_MEMFD "hotplug"
#define HOTPLUG_SIZE (64ull << 20)
#define STRTAB_LOG2 6u
#define DMA_WINDOW_MAX (256ull << 20)
#define GUEST_CPU_MAX (16ull << 20)
#define RW_CACHE (PT_PROT_READ | PT_PROT_WRITE | PT_PROT_CACHE)

static const char *const strategy_names[LU_NR_STRATEGIES] = {
	[LU_DESERIALIZE] = "deserialize",
	[LU_VERIFY] = "verify",
	[LU_REBUILD] = "rebuild",
	[LU_STOP_THE_WORLD] = "stop-the-world",
};

const char *lu_strategy_name(enum lu_strategy s)
{
	return (unsigned int)s < LU_NR_STRATEGIES ? strategy_names[s] : "unknown";
}

int lu_strategy_by_name(const char *name, enum lu_strategy *s)
{
	for (unsigned int i = 0; i < LU_NR_STRATEGIES; i++) {
		if (!strcmp(strategy_names[i], name)) {
			*s = (enum lu_strategy)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const phase_names[LU_NR_PHASES] = {
	[LU_PH_PRESERVE] = "preserve",
	[LU_PH_FREEZE_TO_EXEC] = "freeze_to_exec",
	[LU_PH_BOOT] = "boot_parse",
	[LU_PH_RESUME] = "guest_resume",
	[LU_PH_REPLAY] = "replay_repin",
	[LU_PH_BUILD] = "build",
	[LU_PH_DIFF] = "diff_reconcile",
	[LU_PH_SWITCH] = "switch",
	[LU_PH_FREE] = "free",
	[LU_PH_FINISH] = "finish",
};

const char *lu_phase_name(enum lu_phase p)
{
	return (unsigned int)p < LU_NR_PHASES ? phase_names[p] : "unknown";
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Everything one generation holds. */
struct gen {
	const struct lu_gen_cfg *cfg;
	struct physmem pm;
	struct hw_region region;
	struct kho k;
	struct iommu_drv drv;
	struct iommufd_ctx ictx;
	struct iommu_unit unit;
	struct kho_memfd *guest;
	/* Every memfd the VM's IOAS uses: the guest's, then hotplugged ones. */
	struct kho_memfd *memfds[IOMMUFD_MAX_MEMFDS];
	unsigned int nr_memfds;
	struct iommufd_ioas *ioas;
	const struct iommufd_profile *profile;

	/* This generation's report. */
	uint64_t phase_ns[LU_NR_PHASES];
	uint64_t blackout_ns;
	uint64_t extra_table_pages;
	struct pt_reconcile_stats rec;
	bool hotplug_done;
	uint64_t hotplug_wait_ns;
	char error[256];
	const char *from;
	uint64_t commit_ns;  /* guest paused -> handover committed */
	/* Recovery after a crash. */
	const char *recovery_mode;
	uint64_t leaked_bytes;
};

static void lu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The kernel's console: stderr, one line per message. */
static void lu_log(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "iohandover: kernel: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int gen_fail(struct gen *g, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int gen_fail(struct gen *g, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->error, sizeof(g->error), fmt, ap);
	va_end(ap);
	lu_log("%s", g->error);
	return code;
}

/* ---- the report line ---------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void report(struct gen *g, const char *event, bool ok)
{
	const struct lu_gen_cfg *c = g->cfg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	fprintf(f, "{\"event\":\"%s\",\"ok\":%s,\"generation\":%" PRIu64
		",\"profile\":", event, ok ? "true" : "false", g->k.generation);
	json_str(f, c->profile);
	fprintf(f, ",\"from\":");
	json_str(f, g->from ? g->from : "");
	fprintf(f, ",\"strategy\":\"%s\",\"format\":\"%s\",\"naive\":%s"
		",\"blackout_us\":%" PRIu64 ",\"phases_us\":{",
		lu_strategy_name(c->strategy), pt_fmt_name(c->fmt),
		c->naive ? "true" : "false", g->blackout_ns / 1000);
	for (unsigned int p = 0; p < LU_NR_PHASES; p++)
		fprintf(f, "%s\"%s\":%" PRIu64, p ? "," : "", phase_names[p],
			g->phase_ns[p] / 1000);
	fprintf(f, "},\"extra_table_bytes\":%" PRIu64
		",\"table_bytes\":%" PRIu64 ",\"splits\":%" PRIu64
		",\"joins\":%" PRIu64 ",\"granule_bytes\":%" PRIu64
		",\"hotplug_done\":%s,\"hotplug_wait_us\":%" PRIu64
		",\"kho_validate_us\":%" PRIu64 ",\"kho_reserve_us\":%" PRIu64
		",\"kho_poison_us\":%" PRIu64 ",\"commit_us\":%" PRIu64
		",\"mode\":\"%s\",\"leaked_bytes\":%" PRIu64
		",\"bad_frees\":%" PRIu64 ",\"error\":",
		g->extra_table_pages * PT_TABLE_SIZE,
		g->ictx.stats.table_pages * PT_TABLE_SIZE, g->rec.splits,
		g->rec.joins, g->rec.granule_bytes,
		g->hotplug_done ? "true" : "false", g->hotplug_wait_ns / 1000,
		g->k.boot.validate_ns / 1000, g->k.boot.reserve_ns / 1000,
		g->k.boot.poison_ns / 1000, g->commit_ns / 1000,
		g->recovery_mode ? g->recovery_mode : "",
		g->leaked_bytes, g->ictx.stats.bad_frees);
	json_str(f, g->error);
	fputs("}\n", f);
	fclose(f);
	if (write(c->report_fd, buf, len) != (ssize_t)len)
		lu_log("report: %s", strerror(errno));
	free(buf);
}

/* ---- crash tests and the handovers a crash kernel looks for ------------- */

const char *const lu_crash_points[] = {
	"serialize", "freeze", "exec", "replay", "reconcile", "switch",
	"free", "finish", NULL,
};

static void report_raw(struct gen *g, const char *line)
{
	if (write(g->cfg->report_fd, line, strlen(line)) < 0)
		lu_log("report: %s", strerror(errno));
}

/* A handover committed at pa: where a recovery kernel will look. */
static void report_handover(struct gen *g, const char *kind, uint64_t pa)
{
	char line[128];
	snprintf(line, sizeof(line), "{\"event\":\"handover\",\"kind\":\"%s\","
		 "\"pa\":%" PRIu64 "}\n", kind, pa);
	report_raw(g, line);
}

static void crash_point(struct gen *g, const char *point)
{
	if (!g->cfg->crash_at || strcmp(g->cfg->crash_at, point))
		return;
	char line[96];
	snprintf(line, sizeof(line), "{\"event\":\"crash\",\"point\":\"%s\"}\n",
		 point);
	report_raw(g, line);
	kill(getpid(), SIGKILL);
}

static void inject_point(void *arg, const char *point)
{
	crash_point(arg, point);
}

/* ---- fresh boot: the VMM sets up a VM ----------------------------------- */

struct oracle_feed {
	struct gen *g;
	uint64_t lo, hi; /* window */
	unsigned int n;
};

static int feed_oracle(void *arg, const struct iommufd_run *r)
{
	struct oracle_feed *o = arg;
	if (r->iova > o->hi)
		return 1;
	uint64_t end = r->iova + r->len - 1;
	if (end > o->hi)
		end = o->hi;
	if (o->n == HW_ORACLE_RANGES) {
		/* Out of oracle slots: the window ends here. */
		o->hi = r->iova - 1;
		return 1;
	}
	for (unsigned int d = 0; d < o->g->cfg->devices; d++) {
		int err = iommu_drv_oracle_map(&o->g->drv, d, r->iova, r->pa,
					       end - r->iova + 1, r->prot);
		if (err)
			return err;
	}
	o->n++;
	return 0;
}

/*
 * Guest memory first, while RAM is still unfragmented: as hugetlb pools
 * are set aside at boot, so its folios are aligned as they would be.
 */
static int create_guest_memory(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = kho_memfd_create(&g->k, GUEST_MEMFD, c->guest_size, &c->mix,
				   &g->guest);
	if (!err)
		err = kho_memfd_stamp(g->guest);
	if (err)
		return gen_fail(g, LU_EXIT_INPUT, "guest memory of %" PRIu64
				" bytes: %s", c->guest_size, strerror(-err));
	g->memfds[g->nr_memfds++] = g->guest;
	return 0;
}

static int setup_vm(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = iommufd_ioas_alloc(&g->ictx, &g->ioas);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "ioas: %s", strerror(-err));
	/*
	 * Guest RAM in two areas that continue each other, as a VMM maps
	 * RAM below and above a hole it later fills: a kernel that
	 * coalesces areas builds other leaves across the seam.
	 */
	uint64_t half = c->guest_size / 2 & ~(KHO_2M - 1);
	uint64_t seam = half ? half : c->guest_size;
	err = iommufd_ioas_map_file(g->ioas, &g->ictx, g->guest, 0, seam, 0,
				    RW_CACHE);
	if (!err && seam < c->guest_size)
		err = iommufd_ioas_map_file(g->ioas, &g->ictx, g->guest, seam,
					    c->guest_size - seam, seam, RW_CACHE);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "map guest memory: %s",
				strerror(-err));
	struct iommufd_hwpt *h;
	err = iommufd_hwpt_alloc(&g->ictx, g->ioas, 0, &h);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "hwpt: %s", strerror(-err));
	for (unsigned int d = 0; d < c->devices && !err; d++)
		err = iommufd_device_attach(&g->ictx, d, h);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "attach: %s", strerror(-err));

	/* DMA into the start of guest RAM, the guest CPU writes its end. */
	uint64_t win = c->guest_size / 2 < DMA_WINDOW_MAX ? c->guest_size / 2 :
		       DMA_WINDOW_MAX;
	struct oracle_feed o = { .g = g, .lo = 0, .hi = win - 1 };
	err = iommufd_ioas_for_each_run(g->ioas, true, feed_oracle, &o);
	if (err < 0)
		return gen_fail(g, LU_EXIT_INTERNAL, "oracle: %s", strerror(-err));
	/*
	 * Each device gets its own slice of the window: two devices writing
	 * one buffer would overwrite each other's stamps, which the machine
	 * rightly counts as lost writes.
	 */
	struct hw_regs *regs = g->region.regs;
	uint64_t slice = ((o.hi - o.lo + 1) / c->devices) & ~(KHO_4K - 1);
	for (unsigned int d = 0; d < c->devices; d++) {
		atomic_store(&regs->dev_ctl[d].win_lo, o.lo + d * slice);
		atomic_store(&regs->dev_ctl[d].win_hi, o.lo + (d + 1) * slice - 1);
		iommu_drv_dma_enable(&g->drv, d, true);
	}
	/*
	 * The vCPU writes the tail of the last run: at the top of guest
	 * memory, at most a quarter of it, so never where devices DMA (the
	 * bottom half); its stores would wipe their stamps.
	 */
	const struct kho_memfd_run *last = &g->guest->runs[g->guest->nr_runs - 1];
	uint64_t run_len = last->count << last->size_lg2;
	uint64_t cpu_len = c->guest_size / 4 < GUEST_CPU_MAX ? c->guest_size / 4 :
			   GUEST_CPU_MAX;
	if (cpu_len > run_len)
		cpu_len = run_len;
	atomic_store(&regs->guest_ram_pa, last->pa + run_len - cpu_len);
	atomic_store(&regs->guest_ram_len, cpu_len);
	return 0;
}

static int boot_fresh(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	int err = kho_init(&g->k, &g->pm, 0);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "allocator: %s", strerror(-err));
	err = create_guest_memory(g);
	if (err)
		return err;
	err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "iommu: %s", strerror(-err));
	uint64_t strtab;
	err = kho_folio_alloc(&g->k.alloc, KHO_4K_LG2, &strtab);
	if (!err) {
		memset(kho_va(&g->k, strtab, KHO_4K), 0, KHO_4K);
		err = iommu_drv_set_strtab(&g->drv, strtab, STRTAB_LOG2);
	}
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "stream table: %s", strerror(-err));
	g->unit = (struct iommu_unit){ strtab, STRTAB_LOG2, c->fmt, c->va_bits };
	err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, c->fmt, c->va_bits);
	if (err)
		return gen_fail(g, LU_EXIT_INPUT, "iommufd: %s", strerror(-err));
	return setup_vm(g);
}

/* ---- boot from a handover ----------------------------------------------- */

struct hotplug {
	struct gen *g;
	pthread_t thread;
	struct kho_memfd *memfd;
	uint64_t iova;
	int err;
	uint64_t wait_ns;
};

/* The VMM hot-adds memory while the kernel is still recovering. */
static void *hotplug_thread(void *arg)
{
	struct hotplug *hp = arg;
	uint64_t t0 = now_ns();
	hp->err = iommufd_ioas_map_file(hp->g->ioas, &hp->g->ictx, hp->memfd, 0,
					HOTPLUG_SIZE, hp->iova, RW_CACHE);
	hp->wait_ns = now_ns() - t0;
	return NULL;
}

/* Every leaf of t is exactly what the intent says, and nothing is missing. */
struct verify_ctx {
	const struct pt_table *t;
	enum pt_format_id fmt;
	struct pt_iter it;
	struct pt_leaf leaf;
	bool have;
	uint64_t bad_iova;
	const char *why;
};

static int verify_run(void *arg, const struct iommufd_run *r)
{
	struct verify_ctx *v = arg;
	uint64_t at = r->iova, end = r->iova + r->len;
	uint32_t prot = pt_fmt_canon_prot(v->fmt, r->prot);
	while (at < end) {
		if (!v->have || v->leaf.va + (1ull << v->leaf.size_lg2) <= at) {
			v->have = pt_iter_next(v->t, &v->it, &v->leaf);
			if (!v->have) {
				v->bad_iova = at;
				v->why = "intent maps it, the table does not";
				return 1;
			}
			continue;
		}
		uint64_t lend = v->leaf.va + (1ull << v->leaf.size_lg2);
		if (v->leaf.va > at || v->leaf.va < r->iova || lend > end) {
			v->bad_iova = v->leaf.va > at ? at : v->leaf.va;
			v->why = v->leaf.va > at ? "intent maps it, the table does not" :
				 "the table maps beyond the intent";
			return 1;
		}
		if (v->leaf.oa != r->pa + (v->leaf.va - r->iova)) {
			v->bad_iova = v->leaf.va;
			v->why = "translation differs from the intent";
			return 1;
		}
		if (v->leaf.prot != prot) {
			v->bad_iova = v->leaf.va;
			v->why = "permissions differ from the intent";
			return 1;
		}
		at = lend;
		v->have = false;
	}
	return 0;
}

static int verify_table(struct gen *g, const struct pt_table *t)
{
	struct verify_ctx v = { .t = t, .fmt = g->ictx.fmt };
	pt_iter_init(&v.it, t, 0, ~0ull);
	/* Maximal linear runs: a leaf may span the seam of two areas. */
	int ret = iommufd_ioas_for_each_run(g->ioas, true, verify_run, &v);
	if (ret < 0)
		return gen_fail(g, LU_EXIT_INTERNAL, "replay: %s", strerror(-ret));
	if (!ret && (v.have || pt_iter_next(t, &v.it, &v.leaf))) {
		ret = 1;
		v.bad_iova = v.leaf.va;
		v.why = "the table maps beyond the intent";
	}
	if (ret)
		return gen_fail(g, LU_EXIT_NOT_HITLESS, "preserved table disagrees "
				"with the intent at IOVA 0x%" PRIx64 ": %s; the "
				"preserved table stays live", v.bad_iova, v.why);
	return 0;
}

struct diff_count {
	uint64_t bytes[3];
};

static int count_diff(void *arg, const struct pt_diff_range *r)
{
	struct diff_count *d = arg;
	d->bytes[r->kind] += r->last - r->va + 1;
	return 0;
}

static bool needs_same_granule(const struct gen *g)
{
	/* docs/reference.md section 3 rule 2: only ARM below BBM level 2
	 * needs the same layout; x86-style IOMMUs tolerate size-only
	 * changes. */
	bool arm = g->ictx.fmt == PT_FMT_ARM_S1 || g->ictx.fmt == PT_FMT_ARM_S2;
	return arm && g->region.regs->bbm_level < 2;
}

static int attach_restored(struct gen *g, struct iommufd_hwpt *h,
			   const struct iommufd_hwpt_rec *rec)
{
	for (unsigned int i = 0; i < rec->nr_devs; i++) {
		uint32_t sid = rec->devs[i];
		uint64_t ste[HW_STE_WORDS], want[HW_STE_WORDS];
		int err = iommu_drv_read_ste(&g->drv, sid, ste);
		hw_ste_make(want, HW_STE_MODE_TRANSLATE, rec->fmt, rec->va_bits,
			    rec->root, rec->did);
		if (err || !hw_ste_same_config(ste, want))
			return gen_fail(g, LU_EXIT_NOT_HITLESS, "device %u: its "
					"configuration entry does not point at "
					"the preserved table 0x%" PRIx64, sid,
					rec->root);
		g->ictx.dev[sid].hwpt = h;
		h->users++;
	}
	return 0;
}

static int preserve_memfds(struct gen *g, struct luo_session *vm)
{
	int err = 0;
	for (unsigned int i = 0; i < g->nr_memfds && !err; i++)
		err = kho_memfd_preserve(vm, g->memfds[i]->name, g->memfds[i]);
	return err;
}

/* Every memfd of the VM's session; the guest's is the one named so. */
static int retrieve_memfds(struct gen *g)
{
	const struct kho_parsed *p = &g->k.in;
	for (size_t i = 0; i < p->nr_objs; i++) {
		const struct kho_pobj *o = &p->objs[i];
		if (!p->subsys[o->subsys].ss ||
		    strcmp(p->subsys[o->subsys].ss->name, KHO_MEMFD_SUBSYS) ||
		    strcmp(p->sessions[o->session], VM_SESSION))
			continue;
		if (g->nr_memfds == IOMMUFD_MAX_MEMFDS)
			return -E2BIG;
		struct kho_memfd *m;
		int err = kho_memfd_retrieve(&g->k, VM_SESSION, o->name, &m);
		if (err)
			return err;
		g->memfds[g->nr_memfds++] = m;
		if (!strcmp(m->name, GUEST_MEMFD))
			g->guest = m;
	}
	return g->guest ? 0 : -ENOENT;
}

/* Release what the previous kernel preserved and nobody claimed. */
static void finish_incoming(struct gen *g)
{
	if (!g->k.has_incoming)
		return;
	crash_point(g, "finish");
	uint64_t t = now_ns();
	kho_finish(&g->k);
	g->phase_ns[LU_PH_FINISH] += now_ns() - t;
}

static int commit_journal(struct gen *g)
{
	struct luo_session *vm, *unit;
	uint64_t pa;
	int err = luo_session_create(&g->k, VM_SESSION, &vm);
	if (!err)
		err = luo_session_create(&g->k, UNIT_SESSION, &unit);
	if (!err)
		err = preserve_memfds(g, vm);
	if (!err)
		err = iommufd_preserve(&g->ictx, &g->unit, unit, vm);
	if (!err)
		err = kho_prepare(&g->k);
	if (!err)
		err = kho_freeze(&g->k, &pa);
	if (err) {
		kho_cancel(&g->k);
		iommufd_unpreserve(&g->ictx);
		return err;
	}
	report_handover(g, "journal", pa);
	return 0;
}

/* The switch is complete and the old table gone: no handover stays. */
static void withdraw_journal(struct gen *g)
{
	kho_cancel(&g->k);
	iommufd_unpreserve(&g->ictx);
}

static int restore_hwpt(struct gen *g, const struct iommufd_hwpt_rec *rec)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct kho_err kerr = { { 0 } };
	struct iommufd_hwpt *old, *nh;
	uint64_t t = now_ns();
	bool immutable = c->strategy == LU_DESERIALIZE;
	int err = iommufd_adopt_hwpt(&g->ictx, g->ioas, rec, immutable, &old, &kerr);
	if (err)
		return gen_fail(g, LU_EXIT_NOT_HITLESS, "%s; the preserved table stays "
				"live", kerr.msg);
	err = attach_restored(g, old, rec);
	if (err)
		return err;
	if (c->strategy == LU_DESERIALIZE)
		return 0;

	/* Replay starts by pinning the guest's memory again. */
	if (!g->ictx.stats.pinned_bytes) {
		int64_t pinned = iommufd_ioas_pin(&g->ictx, g->ioas, true);
		if (pinned < 0)
			return gen_fail(g, LU_EXIT_INTERNAL, "re-pin: %s",
					strerror((int)-pinned));
	}
	g->phase_ns[LU_PH_REPLAY] += now_ns() - t;
	crash_point(g, "replay");

	if (c->strategy == LU_VERIFY) {
		t = now_ns();
		err = verify_table(g, &old->pt);
		g->phase_ns[LU_PH_DIFF] += now_ns() - t;
		if (!err)
			old->immutable = false;
		return err;
	}

	/* rebuild / stop-the-world: a fresh table with the old features
	 * (less what this kernel does not have), or its own defaults. */
	t = now_ns();
	uint32_t feats = c->naive ? g->profile->features :
			 rec->features & g->profile->features;
	uint32_t flags = (feats & IOMMUFD_FEAT_CONTIG ? 0 : IOMMUFD_HWPT_NO_CONTIG) |
			 (feats & IOMMUFD_FEAT_COALESCE ? 0 : IOMMUFD_HWPT_NO_COALESCE);
	uint64_t pages_before = g->ictx.stats.table_pages;
	err = iommufd_hwpt_alloc(&g->ictx, g->ioas, flags, &nh);
	g->phase_ns[LU_PH_BUILD] += now_ns() - t;
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "build: %s; the preserved table "
				"stays live", strerror(-err));
	g->extra_table_pages = g->ictx.stats.table_pages - pages_before;
	/*
	 * It will run under the old domain ID (only the root word of the
	 * configuration changes): record that now, so the journal says
	 * what the hardware will use.
	 */
	nh->did = old->did;

	t = now_ns();
	struct diff_count dc = { { 0 } };
	err = pt_diff(&nh->pt, &old->pt, 0, ~0ull, count_diff, &dc);
	if (!err && dc.bytes[PT_DIFF_TRANSLATION]) {
		iommufd_hwpt_destroy(&g->ictx, nh);
		return gen_fail(g, LU_EXIT_NOT_HITLESS, "rebuilt table translates "
				"0x%" PRIx64 " bytes differently from the "
				"preserved one; switch aborted, the preserved "
				"table stays live", dc.bytes[PT_DIFF_TRANSLATION]);
	}
	if (!err && dc.bytes[PT_DIFF_GRANULE] && !c->naive &&
	    c->strategy == LU_REBUILD && needs_same_granule(g)) {
		struct pt_gather pg;
		pt_gather_init(&pg);
		err = pt_reconcile(&nh->pt, &old->pt, &pg, &g->rec);
		/* The new table is not live: its removed pages can go now. */
		iommufd_free_deferred(&g->ictx);
		memset(&dc, 0, sizeof(dc));
		if (!err)
			err = pt_diff(&nh->pt, &old->pt, 0, ~0ull, count_diff, &dc);
		if (!err && dc.bytes[PT_DIFF_GRANULE]) {
			iommufd_hwpt_destroy(&g->ictx, nh);
			return gen_fail(g, LU_EXIT_INTERNAL, "reconcile left 0x%" PRIx64
					" bytes at another granularity",
					dc.bytes[PT_DIFF_GRANULE]);
		}
	}
	g->phase_ns[LU_PH_DIFF] += now_ns() - t;
	if (err) {
		iommufd_hwpt_destroy(&g->ictx, nh);
		return gen_fail(g, LU_EXIT_INTERNAL, "diff: %s", pt_strerror(err));
	}
	crash_point(g, "reconcile");

	/*
	 * From the first configuration write on, the hardware may use the
	 * new table, which the incoming handover does not describe: commit
	 * a journal naming both tables first, so a crash from here on
	 * leaves a handover a recovery kernel can complete the switch from.
	 */
	finish_incoming(g);
	err = commit_journal(g);
	if (err) {
		iommufd_hwpt_destroy(&g->ictx, nh);
		return gen_fail(g, LU_EXIT_INTERNAL, "journal: %s; the preserved "
				"table stays live", strerror(-err));
	}
	t = now_ns();
	for (unsigned int i = 0; i < rec->nr_devs && !err; i++)
		err = iommufd_device_replace(&g->ictx, rec->devs[i], nh);
	g->phase_ns[LU_PH_SWITCH] += now_ns() - t;
	if (err)
		return gen_fail(g, LU_EXIT_NOT_HITLESS, "replace: %s", strerror(-err));
	crash_point(g, "free");

	t = now_ns();
	iommufd_hwpt_destroy(&g->ictx, old);
	g->phase_ns[LU_PH_FREE] += now_ns() - t;
	withdraw_journal(g);
	return 0;
}

static int boot_handover(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct kho_err kerr = { { 0 } };
	uint64_t t0 = now_ns();
	crash_point(g, "exec");
	int err = kho_boot(&g->k, &g->pm, c->handover_pa, &kerr);
	if (err)
		return gen_fail(g, LU_EXIT_INPUT, "handover at 0x%" PRIx64 " refused: "
				"%s; devices keep running on the preserved tables",
				c->handover_pa, kerr.msg);
	kho_poison_trap_install(&g->k);
	err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (!err)
		err = iommufd_retrieve_unit(&g->k, UNIT_SESSION, &g->unit);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "iommu unit: %s", strerror(-err));
	if (atomic_load(&g->region.regs->strtab_base) != g->unit.strtab_pa)
		return gen_fail(g, LU_EXIT_NOT_HITLESS, "the IOMMU runs stream table "
				"0x%" PRIx64 ", the handover says 0x%" PRIx64,
				(uint64_t)atomic_load(&g->region.regs->strtab_base),
				g->unit.strtab_pa);
	/*
	 * Degraded mode: the validated handover and the hardware agree on
	 * the configuration, which is all the devices need; the VM runs
	 * again now, before anything that grows with guest memory (claiming
	 * its folios, reading the intent).
	 */
	bool stw = c->strategy == LU_STOP_THE_WORLD;
	uint64_t t_parse = now_ns() - t0;
	if (!stw) {
		uint64_t t = now_ns();
		int rerr = iommu_drv_guest_resume(&g->drv);
		g->blackout_ns = now_ns() - c->t_pause_ns;
		g->phase_ns[LU_PH_RESUME] = now_ns() - t;
		if (rerr)
			lu_log("guest resume: %s", strerror(-rerr));
	}
	uint64_t t_after_resume = now_ns();
	err = retrieve_memfds(g);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "guest memory: %s", strerror(-err));
	err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, g->unit.fmt,
			   g->unit.va_bits);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "iommufd: %s", strerror(-err));
	g->ictx.inject = inject_point;
	g->ictx.inject_arg = g;
	struct iommufd_incoming in;
	err = iommufd_retrieve(&g->ictx, VM_SESSION, g->memfds, g->nr_memfds, &in,
			       &kerr);
	if (!err && (in.nr_ioas != 1 || in.nr_hwpt < 1)) {
		err = -EINVAL;
		snprintf(kerr.msg, sizeof(kerr.msg), "expected one ioas and its "
			 "hwpts, found %u and %u", in.nr_ioas, in.nr_hwpt);
	}
	if (err) {
		iommufd_incoming_free(&in);
		return gen_fail(g, LU_EXIT_INTERNAL, "iommufd state: %s", kerr.msg);
	}
	g->ioas = in.ioas[0];

	/* Only what the guest waited for counts as boot; reading guest
	 * memory and the intent after it resumed starts the replay. */
	g->phase_ns[LU_PH_BOOT] = t_parse;
	g->phase_ns[LU_PH_REPLAY] += now_ns() - t_after_resume;
	struct hotplug hp = { .g = g };
	if (!stw)
		iommufd_begin_recovery(&g->ictx);
	if (c->hotplug && !stw) {
		/* Each update's hotplug gets its own 1 GiB slot above RAM. */
		char name[32];
		snprintf(name, sizeof(name), HOTPLUG_MEMFD "-%" PRIu64,
			 g->k.generation);
		hp.iova = ((c->guest_size + KHO_1G) & ~(KHO_1G - 1)) +
			  (g->k.generation - 2) * KHO_1G;
		err = g->nr_memfds == IOMMUFD_MAX_MEMFDS ? -E2BIG :
		      kho_memfd_create(&g->k, name, HOTPLUG_SIZE,
				       &kho_memfd_mix_default, &hp.memfd);
		if (!err && pthread_create(&hp.thread, NULL, hotplug_thread, &hp))
			err = -EAGAIN;
		if (err) {
			iommufd_end_recovery(&g->ictx);
			iommufd_incoming_free(&in);
			return gen_fail(g, LU_EXIT_INTERNAL, "hotplug: %s", strerror(-err));
		}
	}

	for (unsigned int i = 0; i < in.nr_hwpt && !err; i++)
		err = restore_hwpt(g, &in.hwpt[i]);
	iommufd_incoming_free(&in);

	if (!stw)
		iommufd_end_recovery(&g->ictx);
	if (c->hotplug && !stw) {
		pthread_join(hp.thread, NULL);
		g->memfds[g->nr_memfds++] = hp.memfd;
		g->hotplug_wait_ns = hp.wait_ns;
		g->hotplug_done = !hp.err;
		if (hp.err && !err)
			err = gen_fail(g, LU_EXIT_NOT_HITLESS, "hotplug map: %s",
				       strerror(-hp.err));
		if (!hp.err)
			for (uint64_t off = 0; off < HOTPLUG_SIZE && !err; off += KHO_2M) {
				pt_oaddr_t pa;
				const struct kho_memfd_folio *f =
					kho_memfd_lookup(hp.memfd, off);
				struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
				if (pt_iova_to_phys(&h->pt, hp.iova + off, &pa) ||
				    pa != f->pa + (off - f->offset))
					err = gen_fail(g, LU_EXIT_NOT_HITLESS,
						       "hotplugged IOVA 0x%" PRIx64
						       " is not translated as mapped",
						       hp.iova + off);
			}
	}
	if (stw) {
		for (unsigned int d = 0; d < c->devices; d++)
			iommu_drv_dma_enable(&g->drv, d, true);
		iommu_drv_guest_resume(&g->drv);
		g->blackout_ns = now_ns() - c->t_pause_ns;
	}
	if (err)
		return err;
	finish_incoming(g);
	return 0;
}

/* ---- recovery after a crash --------------------------------------------- */

/*
 * No complete handover: nothing in RAM can be trusted to describe what
 * the devices use, so every stream goes to abort. DMA faults from now
 * on, but nothing is misdirected and nothing lands outside guest memory.
 */
static int recover_abort(struct gen *g, const char *why)
{
	struct hw_regs *regs = g->region.regs;
	unsigned int log2 = atomic_load(&regs->strtab_log2);
	unsigned int n = log2 ? 1u << log2 : 0;
	uint64_t ste[HW_STE_WORDS];
	hw_ste_make(ste, HW_STE_MODE_ABORT, 0, 0, 0, 0);
	int err = 0;
	for (unsigned int sid = 0; sid < n && sid < HW_MAX_DEVS && !err; sid++)
		err = iommu_drv_write_ste(&g->drv, sid, ste, NULL);
	if (!err)
		err = iommu_drv_tlbi_all(&g->drv);
	if (!err)
		err = iommu_drv_sync(&g->drv);
	iommu_drv_guest_resume(&g->drv);
	g->recovery_mode = "abort";
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "abort mode: %s", strerror(-err));
	return gen_fail(g, LU_EXIT_NOT_HITLESS, "%s: devices put in abort mode",
			why);
}

/* Bytes allocated beyond what the recovered kernel owns: a leak. */
static uint64_t leaked_bytes(struct gen *g)
{
	uint64_t used = g->k.alloc.ram_size - g->k.alloc.free_bytes;
	uint64_t owned = g->ictx.stats.table_pages * KHO_4K +
			 (((uint64_t)HW_STE_SIZE << g->unit.strtab_log2) + KHO_4K - 1) /
			 KHO_4K * KHO_4K;
	for (unsigned int i = 0; i < g->nr_memfds; i++)
		owned += g->memfds[i]->size;
	return used > owned ? used - owned : 0;
}

/*
 * Boot from the last handover that was completely written (the crashed
 * kernels reported where they wrote them) and keep each device on the
 * table it uses now: the old one (the update falls back) or, if a journal
 * shows the switch began, the new one (the update completes). Tables no
 * device uses are released after a sync.
 */
static int boot_recovery(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	struct kho_err kerr = { { 0 } };
	uint64_t pa;
	int err = iommu_drv_init(&g->drv, g->region.regs, g->region.freed_map, &g->pm);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "iommu: %s", strerror(-err));
	if (kho_latest_committed(&g->pm, c->candidates, c->nr_candidates, &pa))
		return recover_abort(g, "no complete handover");
	err = kho_boot(&g->k, &g->pm, pa, &kerr);
	if (err)
		return recover_abort(g, kerr.msg);
	kho_poison_trap_install(&g->k);
	err = iommufd_retrieve_unit(&g->k, UNIT_SESSION, &g->unit);
	if (!err)
		err = retrieve_memfds(g);
	if (!err)
		err = iommufd_init(&g->ictx, &g->k, &g->drv, g->profile, g->unit.fmt,
				   g->unit.va_bits);
	if (err)
		return recover_abort(g, "handover state unusable");
	struct iommufd_incoming in;
	err = iommufd_retrieve(&g->ictx, VM_SESSION, g->memfds, g->nr_memfds, &in,
			       &kerr);
	if (err || in.nr_ioas != 1) {
		iommufd_incoming_free(&in);
		return recover_abort(g, err ? kerr.msg : "no ioas");
	}
	g->ioas = in.ioas[0];

	/* Which preserved table does each device use right now? */
	unsigned int newest = 0, used_newest = 0, nr_hwpt = in.nr_hwpt;
	for (unsigned int i = 0; i < in.nr_hwpt; i++)
		if (in.hwpt[i].id > in.hwpt[newest].id)
			newest = i;
	for (unsigned int i = 0; i < in.nr_hwpt && !err; i++) {
		struct iommufd_hwpt_rec *rec = &in.hwpt[i];
		struct iommufd_hwpt_rec users = *rec;
		users.nr_devs = 0;
		for (unsigned int d = 0; d < c->devices; d++) {
			uint64_t ste[HW_STE_WORDS], want[HW_STE_WORDS];
			hw_ste_make(want, HW_STE_MODE_TRANSLATE, rec->fmt,
				    rec->va_bits, rec->root, rec->did);
			if (!iommu_drv_read_ste(&g->drv, d, ste) &&
			    hw_ste_same_config(ste, want))
				users.devs[users.nr_devs++] = d;
		}
		if (!users.nr_devs)
			continue;
		struct iommufd_hwpt *h;
		err = iommufd_adopt_hwpt(&g->ictx, g->ioas, rec, false, &h, &kerr);
		if (!err)
			err = attach_restored(g, h, &users);
		if (!err)
			err = verify_table(g, &h->pt);
		used_newest += i == newest ? users.nr_devs : 0;
	}
	iommufd_incoming_free(&in);
	if (err)
		return recover_abort(g, kerr.msg[0] ? kerr.msg : g->error);
	for (unsigned int d = 0; d < c->devices; d++)
		if (!g->ictx.dev[d].hwpt)
			return recover_abort(g, "a device uses no preserved table");
	/* Walk caches may still reach tables no device uses: flush them
	 * before finish releases their pages. */
	err = iommu_drv_tlbi_all(&g->drv);
	if (!err)
		err = iommu_drv_sync(&g->drv);
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "sync: %s", strerror(-err));
	int64_t pinned = iommufd_ioas_pin(&g->ictx, g->ioas, true);
	if (pinned < 0)
		return gen_fail(g, LU_EXIT_INTERNAL, "re-pin: %s",
				strerror((int)-pinned));
	for (unsigned int d = 0; d < c->devices; d++)
		iommu_drv_dma_enable(&g->drv, d, true);
	iommu_drv_guest_resume(&g->drv);
	finish_incoming(g);
	/* completed: all on the new table; fell-back: all on the old one;
	 * split: the crash came mid-switch, each device stays where it is
	 * (both tables translate alike). */
	bool journal = nr_hwpt > 1;
	g->recovery_mode = journal && used_newest == c->devices ? "completed" :
			   journal && used_newest ? "split" : "fell-back";
	g->leaked_bytes = leaked_bytes(g);
	return 0;
}

/* ---- the outgoing side: preserve, freeze, exec --------------------------- */

const char *const lu_injections[] = {
	"table-prot", "table-outside", "table-cycle", "table-bad-entry", NULL,
};

/*
 * The slot of the last block leaf of the table (at the top of guest
 * memory, where no device DMAs), for damage done after the handover is
 * committed: what a stray write or a hostile agent would leave for the
 * next kernel to find.
 */
static _Atomic uint64_t *last_block_slot(struct gen *g, unsigned int *level)
{
	struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
	const struct pt_fmt *f = pt_fmt_get(g->ictx.fmt);
	struct pt_iter it;
	struct pt_leaf l, last = { 0 };
	pt_iter_init(&it, &h->pt, 0, ~0ull);
	while (pt_iter_next(&h->pt, &it, &l))
		if (l.level > 0 && !l.contig)
			last = l;
	if (!last.level)
		return NULL;
	uint64_t *table = h->pt.top;
	for (unsigned int lv = h->pt.top_level;; lv--) {
		_Atomic uint64_t *slot = (_Atomic uint64_t *)&table[pt_level_index(last.va, lv)];
		if (lv == last.level) {
			*level = lv;
			return slot;
		}
		struct pt_entry_info info;
		pt_fmt_decode(f, atomic_load(slot), lv, &info);
		table = kho_va(&g->k, info.oa, PT_TABLE_SIZE);
	}
}

static int inject_after_freeze(struct gen *g, const char *what)
{
	const struct pt_fmt *f = pt_fmt_get(g->ictx.fmt);
	unsigned int level;
	_Atomic uint64_t *slot = last_block_slot(g, &level);
	if (!slot)
		return -ENOENT;
	if (!strcmp(what, "table-outside"))
		atomic_store(slot, pt_fmt_table_entry(f, g->pm.size + (1ull << 30)));
	else if (!strcmp(what, "table-cycle"))
		atomic_store(slot, pt_fmt_table_entry(f, g->ictx.dev[0].hwpt->pt.top_pa));
	else
		/* Bit 12 inside a block's output: misaligned, RES0. */
		atomic_store(slot, atomic_load(slot) | (1ull << 12));
	return 0;
}

/*
 * table-prot: remap the last leaf read-only behind the intent's back,
 * with a proper break (unmap, invalidate, map): the hardware is fine, the
 * table and the intent now disagree.
 */
static int inject_table_prot(struct gen *g)
{
	struct iommufd_hwpt *h = g->ictx.dev[0].hwpt;
	struct pt_iter it;
	struct pt_leaf l, last = { 0 };
	bool any = false;
	pt_iter_init(&it, &h->pt, 0, ~0ull);
	while (pt_iter_next(&h->pt, &it, &l)) {
		last = l;
		any = true;
	}
	if (!any)
		return -ENOENT;
	struct pt_gather pg;
	pt_gather_init(&pg);
	uint64_t size = 1ull << last.size_lg2;
	int err = pt_unmap_range(&h->pt, last.va, size, 0, &pg, NULL);
	if (!err)
		err = iommufd_flush(&g->ictx, h, &pg);
	if (!err)
		err = pt_map_range(&h->pt, last.va, last.oa, size,
				   PT_PROT_READ | PT_PROT_CACHE, NULL);
	return err;
}

static int live_update(struct gen *g)
{
	const struct lu_gen_cfg *c = g->cfg;
	char next_profile[16], rest[4096] = "";
	const char *comma = strchr(c->next, ',');
	size_t n = comma ? (size_t)(comma - c->next) : strlen(c->next);
	if (n >= sizeof(next_profile))
		return gen_fail(g, LU_EXIT_INPUT, "bad profile list '%s'", c->next);
	memcpy(next_profile, c->next, n);
	next_profile[n] = '\0';
	if (comma)
		snprintf(rest, sizeof(rest), "%s", comma + 1);
	/* The strategy of the update about to happen, and those after. */
	enum lu_strategy out = c->strategy;
	char srest[4096] = "";
	if (c->next_strategies && c->next_strategies[0]) {
		char first[24];
		const char *sc = strchr(c->next_strategies, ',');
		size_t sn = sc ? (size_t)(sc - c->next_strategies) :
			    strlen(c->next_strategies);
		if (sn >= sizeof(first))
			return gen_fail(g, LU_EXIT_INPUT, "bad strategy list '%s'",
					c->next_strategies);
		memcpy(first, c->next_strategies, sn);
		first[sn] = '\0';
		if (lu_strategy_by_name(first, &out))
			return gen_fail(g, LU_EXIT_INPUT, "unknown strategy '%s'",
					first);
		if (sc)
			snprintf(srest, sizeof(srest), "%s", sc + 1);
	}

	if (c->inject && !strcmp(c->inject, "table-prot")) {
		int ierr = inject_table_prot(g);
		if (ierr)
			return gen_fail(g, LU_EXIT_INTERNAL, "inject: %s",
					strerror(-ierr));
	}
	uint64_t t = now_ns();
	struct luo_session *vm, *unit;
	int err = luo_session_create(&g->k, VM_SESSION, &vm);
	if (!err)
		err = luo_session_create(&g->k, UNIT_SESSION, &unit);
	if (!err)
		err = preserve_memfds(g, vm);
	if (!err)
		err = iommufd_preserve(&g->ictx, &g->unit, unit, vm);
	/*
	 * Serialize while the VM still runs (LUO's prepare): the blob grows
	 * with guest memory, the blackout must not.
	 */
	crash_point(g, "serialize");
	if (!err)
		err = kho_prepare(&g->k);
	if (err) {
		kho_cancel(&g->k);
		iommufd_unpreserve(&g->ictx);
		return gen_fail(g, LU_EXIT_INTERNAL, "preserve: %s", strerror(-err));
	}
	/* Still outside the blackout: leave the exec nothing to tear down. */
	physmem_drop_mappings(&g->pm);
	uint64_t preserve_ns = now_ns() - t;

	/* The VMM stops the vCPUs; stop-the-world stops the devices too. */
	err = iommu_drv_guest_pause(&g->drv);
	uint64_t t_pause = now_ns();
	if (out == LU_STOP_THE_WORLD)
		for (unsigned int d = 0; d < c->devices; d++)
			iommu_drv_dma_enable(&g->drv, d, false);
	uint64_t pa = 0;
	if (!err)
		err = kho_freeze(&g->k, &pa);
	if (err) {
		kho_cancel(&g->k);
		iommufd_unpreserve(&g->ictx);
		iommu_drv_guest_resume(&g->drv);
		return gen_fail(g, LU_EXIT_INTERNAL, "handover: %s", strerror(-err));
	}
	report_handover(g, "update", pa);
	crash_point(g, "freeze");
	if (c->inject && strcmp(c->inject, "table-prot")) {
		int ierr = inject_after_freeze(g, c->inject);
		if (ierr)
			lu_log("inject %s: %s", c->inject, strerror(-ierr));
	}
	char s_pause[24], s_freeze[24], s_pres[24], s_region[16], s_report[16];
	snprintf(s_pause, sizeof(s_pause), "%" PRIu64, t_pause);
	snprintf(s_freeze, sizeof(s_freeze), "%" PRIu64, now_ns());
	snprintf(s_pres, sizeof(s_pres), "%" PRIu64, preserve_ns);
	snprintf(s_region, sizeof(s_region), "%d", c->region_fd);
	snprintf(s_report, sizeof(s_report), "%d", c->report_fd);
	char *extra[32];
	unsigned int ne = 0;
	extra[ne++] = "--region-fd";
	extra[ne++] = s_region;
	extra[ne++] = "--report-fd";
	extra[ne++] = s_report;
	extra[ne++] = "--strategy";
	extra[ne++] = (char *)lu_strategy_name(out);
	if (srest[0]) {
		extra[ne++] = "--next-strategies";
		extra[ne++] = srest;
	}
	extra[ne++] = "--from-profile";
	extra[ne++] = (char *)c->profile;
	if (rest[0]) {
		extra[ne++] = "--next-profiles";
		extra[ne++] = rest;
	}
	extra[ne++] = "--t-pause";
	extra[ne++] = s_pause;
	extra[ne++] = "--t-freeze";
	extra[ne++] = s_freeze;
	extra[ne++] = "--preserve-ns";
	extra[ne++] = s_pres;
	char s_run[24], s_size[24], s_devs[8], s_vab[8];
	snprintf(s_run, sizeof(s_run), "%" PRIu64, c->run_ms);
	snprintf(s_size, sizeof(s_size), "%" PRIu64, c->guest_size);
	snprintf(s_devs, sizeof(s_devs), "%u", c->devices);
	snprintf(s_vab, sizeof(s_vab), "%u", c->va_bits);
	extra[ne++] = "--run-ms";
	extra[ne++] = s_run;
	extra[ne++] = "--guest-size";
	extra[ne++] = s_size;
	extra[ne++] = "--devices";
	extra[ne++] = s_devs;
	extra[ne++] = "--format";
	extra[ne++] = (char *)pt_fmt_name(c->fmt);
	extra[ne++] = "--va-bits";
	extra[ne++] = s_vab;
	if (c->hotplug)
		extra[ne++] = "--hotplug";
	if (c->naive)
		extra[ne++] = "--naive";
	if (c->save_dir) {
		extra[ne++] = "--save-handover";
		extra[ne++] = (char *)c->save_dir;
	}
	if (c->crash_at) {
		extra[ne++] = "--crash-at";
		extra[ne++] = (char *)c->crash_at;
	}
	extra[ne] = NULL;
	int keep[2] = { c->region_fd, c->report_fd };
	const struct kho_exec_args ea = {
		.path = c->exe,
		.profile = next_profile,
		.keep_fds = keep,
		.nr_keep_fds = 2,
		.extra = extra,
	};
	fflush(NULL);
	err = kho_exec(&g->k, &ea);
	/* Only on failure: back to normal, the VM runs on. */
	kho_cancel(&g->k);
	iommufd_unpreserve(&g->ictx);
	iommu_drv_guest_resume(&g->drv);
	return gen_fail(g, LU_EXIT_INTERNAL, "exec %s: %s", c->exe, strerror(-err));
}

int lu_kernel_main(const struct lu_gen_cfg *cfg)
{
	static struct gen gs;
	struct gen *g = &gs;
	uint64_t t_start = now_ns();
	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	g->from = cfg->from_profile ? cfg->from_profile : "";
	if (cfg->has_handover) {
		g->phase_ns[LU_PH_PRESERVE] = cfg->preserve_ns;
		/* From the guest's pause (freeze begins) to this kernel's start. */
		g->phase_ns[LU_PH_FREEZE_TO_EXEC] = t_start - cfg->t_pause_ns;
		g->commit_ns = cfg->t_freeze_ns - cfg->t_pause_ns;
	}
	g->profile = iommufd_profile_find(cfg->profile);
	if (!g->profile)
		return gen_fail(g, LU_EXIT_INPUT, "unknown profile '%s' (known: %s)",
				cfg->profile, iommufd_profile_names());
	int err = iommufd_kho_register();
	if (err)
		return gen_fail(g, LU_EXIT_INTERNAL, "kho: %s", strerror(-err));
	err = physmem_attach(&g->pm, cfg->physmem_fd);
	if (!err)
		err = hw_region_attach(&g->region, cfg->region_fd);
	if (err)
		return gen_fail(g, LU_EXIT_INPUT, "machine: %s", strerror(-err));

	int rc = cfg->recover ? boot_recovery(g) :
		 cfg->has_handover ? boot_handover(g) : boot_fresh(g);
	if (cfg->save_dir)
		snprintf(g->k.save_dir, sizeof(g->k.save_dir), "%s", cfg->save_dir);
	report(g, cfg->recover ? "recovery" : cfg->has_handover ? "update" : "boot",
	       rc == 0);
	if (rc)
		return rc;
	sleep_ms(cfg->run_ms);
	if (cfg->recover)
		return LU_EXIT_OK;
	if (!cfg->next || !cfg->next[0])
		return LU_EXIT_OK;
	return live_update(g);
}
