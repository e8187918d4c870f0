// SPDX-License-Identifier: MIT
/*
 * iohandover matrix: every format, BBM level, ordered pair of kernel
 * profiles and strategy (and the naive rebuild alongside), for each
 * device setup asked for (plain devices, ATS, partial preservation,
 * PASIDs, with the naive variant of each), each one live
 * update scenario run in its own process, N at a time; a table on the
 * terminal, Markdown, JSON and an HTML page coloured by verdict. --shard
 * K/N runs every N-th scenario and writes JSON; --merge joins shards.
 *
 * A scenario runs in a forked child (the parent has no threads), which
 * writes its result as one JSON line to a pipe: the same line a shard
 * file holds, read back by the same parser as --merge.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "cli/scenario.h"
#include "ioh/ioh.h"
#include "iommufd/iommufd.h"
#include "world/world.h"

#define CMD "matrix"
#define NSTRAT 5
static const char *const all_strategies[NSTRAT] = {
	"deserialize", "verify", "rebuild", "stop-the-world", "naive",
};

/*
 * What sits behind the IOMMU. Each setup says which strategies it runs
 * with and what its rows must show: hitless, caught (a naive variant the
 * machine must count), refused (the outgoing kernel refuses the update
 * before anything changed) or failed (the new kernel's own check refuses
 * the update, its error saying what it found; the VM runs on the
 * preserved tables). Only "plain" pairs with the naive rebuild,
 * whose verdict depends on the format (no expectation).
 */
enum expect { EX_HITLESS, EX_ANY, EX_CAUGHT, EX_REFUSED, EX_FAILED };
#define ST_ALL4 0xfu   /* deserialize, verify, rebuild, stop-the-world */
#define ST_BIT(k) (1u << (k))
struct setup {
	const char *name, *what;
	unsigned int devices, ats, preserve, pasids;
	bool naive_ats, nested, naive_nested, naive_s1;
	bool replay_pasids, naive_pasids;
	unsigned int iommus;           /* IOMMU units (0: 1) */
	bool naive_units;
	const char *inject;
	unsigned int strategies;       /* bits of all_strategies */
	enum expect expect;
	const char *must_say;          /* EX_REFUSED, EX_FAILED: in the error */
	const char *formats;           /* the formats it runs on; NULL: all */
};
static const struct setup setups[] = {
	{ .name = "plain", .what = "2 devices", .devices = 2,
	  .strategies = ST_ALL4 | ST_BIT(4), .expect = EX_HITLESS },
	{ .name = "ats", .what = "2 ATS devices (device TLBs)", .devices = 2,
	  .ats = 2, .strategies = ST_ALL4, .expect = EX_HITLESS },
	{ .name = "ats-naive", .what = "2 ATS devices, their ATCs never invalidated",
	  .devices = 2, .ats = 2, .naive_ats = true,
	  .strategies = ST_BIT(2) | ST_BIT(3), .expect = EX_CAUGHT },
	{ .name = "partial", .what = "4 devices, 2 preserved, 2 put in abort",
	  .devices = 4, .preserve = 2, .strategies = ST_ALL4, .expect = EX_HITLESS },
	{ .name = "partial-naive", .what = "4 devices, 2 preserved, 2 left doing DMA",
	  .devices = 4, .preserve = 2, .inject = "unpreserved-running",
	  .strategies = ST_BIT(1) | ST_BIT(2), .expect = EX_CAUGHT },
	{ .name = "pasid", .what = "device 0 has 4 PASIDs in use: refused",
	  .devices = 2, .pasids = 4, .strategies = ST_ALL4, .expect = EX_REFUSED,
	  .must_say = "EOPNOTSUPP" },
	{ .name = "pasid-replay", .what = "the same, each PASID its own table: "
	  "replayed", .devices = 2, .pasids = 4,
	  .replay_pasids = true, .strategies = ST_ALL4, .expect = EX_HITLESS },
	{ .name = "pasid-naive", .what = "the same, CDs switched without CFGI_CD",
	  .devices = 2, .pasids = 4, .replay_pasids = true, .naive_pasids = true,
	  .strategies = ST_BIT(2) | ST_BIT(3), .expect = EX_CAUGHT },
	{ .name = "nested", .what = "vIOMMU guest: its stage 1 over stage 2",
	  .devices = 2, .nested = true, .strategies = ST_ALL4,
	  .expect = EX_HITLESS, .formats = "arm-s2" },
	{ .name = "nested-naive", .what = "the same, no TLBI by VMID on replace",
	  .devices = 2, .nested = true, .naive_nested = true,
	  .strategies = ST_BIT(2) | ST_BIT(3), .expect = EX_CAUGHT,
	  .formats = "arm-s2" },
	{ .name = "nested-s1", .what = "the same, guest stage 1 rewritten",
	  .devices = 2, .nested = true, .naive_s1 = true, .strategies = ST_ALL4,
	  .expect = EX_FAILED, .must_say = "stage-1 table", .formats = "arm-s2" },
	{ .name = "units8", .what = "16 devices behind 8 IOMMU units",
	  .devices = 16, .iommus = 8, .strategies = ST_ALL4,
	  .expect = EX_HITLESS },
	{ .name = "units8-naive", .what = "the same, invalidated on the first "
	  "unit only", .devices = 16, .iommus = 8, .naive_units = true,
	  .strategies = ST_BIT(2) | ST_BIT(3), .expect = EX_CAUGHT },
};
#define NSETUP (sizeof(setups) / sizeof(setups[0]))

static const struct setup *setup_find(const char *name)
{
	for (size_t i = 0; i < NSETUP; i++)
		if (!strcmp(setups[i].name, name))
			return &setups[i];
	return NULL;
}

struct cell {
	unsigned int i;
	char format[16];
	unsigned int bbm;
	char from[64], to[64], strategy[24], devices[24];
	/* result */
	bool done;
	char verdict[24];   /* hitless, DMA errors, update failed, error */
	char needs[128];
	char error[200];
	uint64_t blackout_us, recovery_us, extra_table_bytes;
	uint64_t faults, conflicts, misdirected, lost_writes, bbm_violations;
	uint64_t use_after_free, stale_atc;
	uint64_t splits, joins, granule_bytes;
};

/* What the row must show. */
static enum expect cell_expect(const struct cell *c)
{
	if (!strcmp(c->strategy, "naive"))
		return EX_ANY;
	const struct setup *st = setup_find(c->devices);
	return st ? st->expect : EX_HITLESS;
}

/* The row shows what it must: hitless where it must be, the naive
 * variants caught, the refusals refused. */
static bool cell_as_expected(const struct cell *c)
{
	switch (cell_expect(c)) {
	case EX_HITLESS:
		return !strcmp(c->verdict, "hitless");
	case EX_CAUGHT:
		return !strcmp(c->verdict, "DMA errors");
	case EX_REFUSED:
		return !strcmp(c->verdict, "refused") &&
		       strstr(c->error, setup_find(c->devices)->must_say);
	case EX_FAILED: /* and if the machine counted DMA errors too, so be it */
		return (!strcmp(c->verdict, "update failed") ||
			!strcmp(c->verdict, "DMA errors")) &&
		       strstr(c->error, setup_find(c->devices)->must_say);
	case EX_ANY:
		break;
	}
	return strcmp(c->verdict, "error") != 0;
}

struct matrix {
	struct cell *cells;
	size_t n, cap;
	unsigned int total;            /* cells of the whole matrix */
	unsigned int shard, shards;    /* 1-based; 1/1 when not sharded */
	uint64_t guest_mem, run_ms;
};

/* ---- cells -------------------------------------------------------------- */

static int push(struct matrix *m, const struct cell *c)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct cell *v = realloc(m->cells, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->cells = v;
		m->cap = cap;
	}
	m->cells[m->n++] = *c;
	return 0;
}

static bool in_list(const char *list, const char *name)
{
	if (!list)
		return true;
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, name, n))
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* The real drivers' profiles unless a list is given (v1 and v2 only when
 * named). */
static bool profile_chosen(const struct iommufd_profile *p, const char *list)
{
	if (list)
		return in_list(list, p->name);
	return strcmp(p->name, "v1") && strcmp(p->name, "v2");
}

struct sel {
	const char *formats, *bbm_levels, *profiles, *strategies, *devices;
};

/* The cells of one setup, format, BBM level and profile pair: one per
 * strategy chosen that the setup runs with. */
static int add_cells(struct matrix *m, const struct sel *s, const struct setup *st,
		     enum pt_format_id fmt, unsigned int bbm,
		     const struct iommufd_profile *pa, const struct iommufd_profile *pz,
		     unsigned int *idx)
{
	for (unsigned int k = 0; k < NSTRAT; k++) {
		if (!in_list(s->strategies, all_strategies[k]) ||
		    !(st->strategies & ST_BIT(k)))
			continue;
		struct cell c = { .i = (*idx)++, .bbm = bbm };
		snprintf(c.format, sizeof(c.format), "%s", pt_fmt_name(fmt));
		snprintf(c.from, sizeof(c.from), "%s", pa->name);
		snprintf(c.to, sizeof(c.to), "%s", pz->name);
		snprintf(c.strategy, sizeof(c.strategy), "%s", all_strategies[k]);
		snprintf(c.devices, sizeof(c.devices), "%s", st->name);
		if ((m->shards <= 1 || c.i % m->shards == m->shard - 1) && push(m, &c))
			return -ENOMEM;
	}
	return 0;
}

static int enumerate(struct matrix *m, const struct sel *s)
{
	unsigned int idx = 0;
	for (size_t d = 0; d < NSETUP; d++) {
		const struct setup *st = &setups[d];
		if (!in_list(s->devices ? s->devices : "plain", st->name))
			continue;
		for (unsigned int f = 0; f < PT_FMT_COUNT; f++) {
			enum pt_format_id fmt = (enum pt_format_id)f;
			if (!in_list(s->formats, pt_fmt_name(fmt)) ||
			    !in_list(st->formats, pt_fmt_name(fmt)))
				continue;
			for (unsigned int bbm = 0; bbm <= 2; bbm++) {
				char b[4];
				snprintf(b, sizeof(b), "%u", bbm);
				if (pt_fmt_bbm_levels(fmt) ? !in_list(s->bbm_levels, b) : bbm)
					continue;
				for (size_t a = 0; a < iommufd_profile_count(); a++)
					for (size_t z = 0; z < iommufd_profile_count(); z++) {
						const struct iommufd_profile *pa = iommufd_profile_at(a);
						const struct iommufd_profile *pz = iommufd_profile_at(z);
						if (a == z || !iommufd_profile_find_for(pa->name, fmt) ||
						    !iommufd_profile_find_for(pz->name, fmt) ||
						    !profile_chosen(pa, s->profiles) ||
						    !profile_chosen(pz, s->profiles))
							continue;
						if (add_cells(m, s, st, fmt, bbm, pa, pz, &idx))
							return -ENOMEM;
					}
			}
		}
	}
	m->total = idx;
	return 0;
}

/* ---- one cell's line: written by a child, read by the parent and --merge */

static void json_u64(FILE *f, const char *k, uint64_t v)
{
	fprintf(f, ",\"%s\":%" PRIu64, k, v);
}

static void json_s(FILE *f, const char *k, const char *v)
{
	fprintf(f, ",\"%s\":", k);
	ioh_json_str(f, v);
}

static void cell_write(FILE *f, const struct cell *c)
{
	fprintf(f, "{\"i\":%u", c->i);
	json_s(f, "format", c->format);
	json_u64(f, "bbm", c->bbm);
	json_s(f, "from", c->from);
	json_s(f, "to", c->to);
	json_s(f, "strategy", c->strategy);
	json_s(f, "devices", c->devices);
	json_s(f, "verdict", c->verdict);
	json_s(f, "needs", c->needs);
	json_u64(f, "blackout_us", c->blackout_us);
	json_u64(f, "recovery_us", c->recovery_us);
	json_u64(f, "extra_table_bytes", c->extra_table_bytes);
	json_u64(f, "faults", c->faults);
	json_u64(f, "conflicts", c->conflicts);
	json_u64(f, "misdirected", c->misdirected);
	json_u64(f, "lost_writes", c->lost_writes);
	json_u64(f, "bbm_violations", c->bbm_violations);
	json_u64(f, "use_after_free", c->use_after_free);
	json_u64(f, "stale_atc", c->stale_atc);
	json_u64(f, "splits", c->splits);
	json_u64(f, "joins", c->joins);
	json_u64(f, "granule_bytes", c->granule_bytes);
	json_s(f, "error", c->error);
	fputc('}', f);
}

/* A flat JSON object of string and unsigned values, one line. */
struct kv {
	char key[32];
	char str[256];
	uint64_t num;
	bool is_str;
};

static const char *parse_string(const char *p, char *out, size_t len)
{
	size_t n = 0;
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		char ch = *p++;
		if (ch == '\\') {
			char e = *p++;
			switch (e) {
			case '"': case '\\': case '/': ch = e; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'u': {
				unsigned int u;
				if (sscanf(p, "%4x", &u) != 1 || strspn(p, "0123456789abcdefABCDEF") < 4)
					return NULL;
				p += 4;
				ch = u < 0x80 ? (char)u : '?';
				break;
			}
			default:
				return NULL;
			}
		} else if ((unsigned char)ch < 0x20) {
			return NULL;
		}
		if (n + 1 >= len)
			return NULL;
		out[n++] = ch;
	}
	if (*p != '"')
		return NULL;
	out[n] = 0;
	return p + 1;
}

/* Parses "{...}" into kvs; returns how many, or -1 (why in *err). */
static int parse_object(const char *p, struct kv *kvs, int max, const char **end,
			const char **err)
{
	int n = 0;
	while (*p == ' ')
		p++;
	if (*p++ != '{') {
		*err = "not a JSON object";
		return -1;
	}
	while (*p && *p != '}') {
		if (n == max) {
			*err = "too many fields";
			return -1;
		}
		struct kv *k = &kvs[n];
		memset(k, 0, sizeof(*k));
		if (!(p = parse_string(p, k->key, sizeof(k->key))) || *p++ != ':') {
			*err = "a field is not \"name\": value";
			return -1;
		}
		if (*p == '"') {
			k->is_str = true;
			if (!(p = parse_string(p, k->str, sizeof(k->str)))) {
				*err = "a string is broken or too long";
				return -1;
			}
		} else {
			char *e;
			if (*p < '0' || *p > '9') {
				*err = "a value is neither a string nor an unsigned number";
				return -1;
			}
			errno = 0;
			k->num = strtoull(p, &e, 10);
			if (errno) {
				*err = "a number is too large";
				return -1;
			}
			p = e;
		}
		n++;
		if (*p == ',')
			p++;
		else if (*p != '}') {
			*err = "fields are not separated by commas";
			return -1;
		}
	}
	if (*p != '}') {
		*err = "the object does not end";
		return -1;
	}
	*end = p + 1;
	return n;
}

static const struct kv *field(const struct kv *kvs, int n, const char *key, bool str)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(kvs[i].key, key) && kvs[i].is_str == str)
			return &kvs[i];
	return NULL;
}

/* A cell from its line; NULL, or the name of what is missing or wrong. */
static const char *cell_parse(const char *line, struct cell *c)
{
	struct kv kvs[32];
	const char *err = NULL, *end;
	int n = parse_object(line, kvs, 32, &end, &err);
	if (n < 0)
		return err;
	memset(c, 0, sizeof(*c));
	static const struct { const char *k; size_t off, len; } strs[] = {
#define S(x) { #x, offsetof(struct cell, x), sizeof(((struct cell *)0)->x) }
		S(format), S(from), S(to), S(strategy), S(verdict), S(needs), S(error),
#undef S
	};
	static const struct { const char *k; size_t off; } nums[] = {
#define N(x) { #x, offsetof(struct cell, x) }
		N(blackout_us), N(recovery_us), N(extra_table_bytes), N(faults),
		N(conflicts), N(misdirected), N(lost_writes), N(bbm_violations),
		N(splits), N(joins), N(granule_bytes),
#undef N
	};
	static char why[64];
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const struct kv *k = field(kvs, n, strs[i].k, true);
		if (!k || strlen(k->str) >= strs[i].len) {
			snprintf(why, sizeof(why), "field \"%s\" missing or wrong", strs[i].k);
			return why;
		}
		memcpy((char *)c + strs[i].off, k->str, strlen(k->str) + 1);
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		const struct kv *k = field(kvs, n, nums[i].k, false);
		if (!k) {
			snprintf(why, sizeof(why), "field \"%s\" missing or not a number",
				 nums[i].k);
			return why;
		}
		memcpy((char *)c + nums[i].off, &k->num, sizeof(uint64_t));
	}
	/* Absent from the files of releases before setups: plain devices,
	 * and those counters were not recorded. */
	const struct kv *kd = field(kvs, n, "devices", true);
	const struct setup *st = setup_find(kd ? kd->str : "plain");
	if (!st)
		return "field \"devices\" names no device setup";
	snprintf(c->devices, sizeof(c->devices), "%s", st->name);
	const struct kv *ku = field(kvs, n, "use_after_free", false);
	const struct kv *ka = field(kvs, n, "stale_atc", false);
	c->use_after_free = ku ? ku->num : 0;
	c->stale_atc = ka ? ka->num : 0;
	const struct kv *ki = field(kvs, n, "i", false);
	const struct kv *kb = field(kvs, n, "bbm", false);
	if (!ki || ki->num > 1000000)
		return "field \"i\" missing or out of range";
	if (!kb || kb->num > 2)
		return "field \"bbm\" missing or not 0-2";
	enum pt_format_id fmt;
	if (pt_fmt_by_name(c->format, &fmt))
		return "field \"format\" names no format";
	if (!in_list("deserialize,verify,rebuild,stop-the-world,naive", c->strategy))
		return "field \"strategy\" names no strategy";
	c->i = (unsigned int)ki->num;
	c->bbm = (unsigned int)kb->num;
	c->done = true;
	return NULL;
}

/* ---- running one cell --------------------------------------------------- */

static void run_cell(struct cell *c, uint64_t guest_mem, uint64_t run_ms)
{
	struct world_scenario sc;
	world_scenario_default(&sc);
	pt_fmt_by_name(c->format, &sc.fmt);
	sc.guest_mem = guest_mem;
	sc.run_ms = run_ms;
	sc.bbm_level = c->bbm;
	sc.from = c->from;
	sc.to = c->to;
	sc.naive = !strcmp(c->strategy, "naive");
	sc.strategy = lu_strategy_find(sc.naive ? "rebuild" : c->strategy);
	sc.kernel_path = cli_self_path();
	const struct setup *st = setup_find(c->devices);
	if (st) {
		sc.devices = st->devices;
		sc.ats = st->ats;
		sc.preserve = st->preserve;
		sc.pasids = st->pasids;
		sc.replay_pasids = st->replay_pasids;
		sc.naive_pasids = st->naive_pasids;
		sc.naive_ats = st->naive_ats;
		sc.inject = st->inject;
		sc.nested = st->nested;
		sc.naive_nested = st->naive_nested;
		sc.naive_s1 = st->naive_s1;
		sc.iommus = st->iommus ? st->iommus : 1;
		sc.naive_units = st->naive_units;
	}
	static struct world_result r;
	int err = world_run(&sc, &r);
	if (err) {
		snprintf(c->verdict, sizeof(c->verdict), "error");
		snprintf(c->error, sizeof(c->error), "scenario: %s", strerror(-err));
		return;
	}
	const struct world_dma_totals *t = &r.dma;
	c->faults = t->faults;
	c->conflicts = t->conflicts;
	c->misdirected = t->misdirected;
	c->lost_writes = t->lost_writes;
	c->bbm_violations = t->bbm_violations;
	c->use_after_free = t->use_after_free;
	c->stale_atc = t->stale_atc;
	uint64_t dma_errors = t->faults + t->conflicts + t->misdirected +
			      t->lost_writes + t->bbm_violations + t->use_after_free +
			      t->torn_config + t->stale_atc;
	const struct world_update *u = r.nr_upd ? &r.upd[0] : NULL;
	if (u) {
		c->blackout_us = u->blackout_us;
		for (unsigned int p = LU_PH_REPLAY; p <= LU_PH_FINISH; p++)
			c->recovery_us += u->phases_us[p];
		c->extra_table_bytes = u->extra_table_bytes;
		c->splits = u->splits;
		c->joins = u->joins;
		c->granule_bytes = u->diff_granule_bytes;
		if (!u->ok)
			snprintf(c->error, sizeof(c->error), "%.199s", u->error);
	} else {
		snprintf(c->error, sizeof(c->error), "%.199s", r.kernel_error[0] ?
			 r.kernel_error : "no update reported");
	}
	/* Refused: the outgoing kernel declined before anything changed
	 * (no update), and the VM ran on without a DMA error. */
	bool refused = !u && !dma_errors && strstr(r.kernel_error, "EOPNOTSUPP");
	snprintf(c->verdict, sizeof(c->verdict), "%s", r.hitless ? "hitless" :
		 dma_errors ? "DMA errors" : refused ? "refused" : "update failed");
	char mib[32];
	cli_fmt_bytes(mib, sizeof(mib), c->granule_bytes);
	if (refused)
		snprintf(c->needs, sizeof(c->needs), "refused before anything "
			 "changed");
	else if (st && st->naive_ats)
		snprintf(c->needs, sizeof(c->needs), "an ATC invalidation after the "
			 "IOMMU's, before the old table is freed");
	else if (st && st->inject)
		snprintf(c->needs, sizeof(c->needs), "the unpreserved devices "
			 "stopped before their streams go to abort");
	else if (st && st->naive_pasids)
		snprintf(c->needs, sizeof(c->needs), "a CFGI_CD and SYNC after "
			 "each PASID's CD switch, before its old table is freed");
	else if (st && st->naive_units)
		snprintf(c->needs, sizeof(c->needs), "every unit that cached the "
			 "table invalidated and synced before it is freed");
	else if (st && st->naive_nested)
		snprintf(c->needs, sizeof(c->needs), "a TLBI by VMID after the "
			 "stage-2 replace, before the old stage 2 is freed");
	else if (st && st->naive_s1)
		snprintf(c->needs, sizeof(c->needs), "the guest's stage 1 left as "
			 "it is: only stage 2 is the host's to replay");
	else if (!strcmp(c->strategy, "deserialize"))
		snprintf(c->needs, sizeof(c->needs), "the old table adopted as is, "
			 "immutable after");
	else if (!strcmp(c->strategy, "verify"))
		snprintf(c->needs, sizeof(c->needs), "the old table kept, checked "
			 "against the intent");
	else if (!strcmp(c->strategy, "stop-the-world"))
		snprintf(c->needs, sizeof(c->needs), "guest and DMA stopped for "
			 "the whole rebuild");
	else if (sc.naive && !c->granule_bytes)
		snprintf(c->needs, sizeof(c->needs), "its own layout is the old "
			 "one: one root store");
	else if (sc.naive)
		snprintf(c->needs, sizeof(c->needs), "its own layout, %s at another "
			 "page size, unreconciled%s", mib, dma_errors ?
			 ": needs a reconcile or BBM level 2" : "");
	else if (c->splits || c->joins)
		snprintf(c->needs, sizeof(c->needs), "reconcile %s: %" PRIu64
			 " splits, %" PRIu64 " joins", mib, c->splits, c->joins);
	else if (c->granule_bytes)
		snprintf(c->needs, sizeof(c->needs), "%s at another page size, "
			 "which this IOMMU tolerates", mib);
	else
		snprintf(c->needs, sizeof(c->needs), "same layout: one root store");
	world_result_free(&r);
}

/* ---- the parallel runner ------------------------------------------------ */

/* Scenario processes running now, killed if the matrix is interrupted. */
#define MAX_JOBS 64
static volatile pid_t live_pids[MAX_JOBS];

struct child {
	pid_t pid;
	int fd;
	size_t cell;
	char buf[4096];
	size_t len;
};

static void progress(const struct matrix *m, size_t done, size_t bad,
		     uint64_t t0, bool tty, bool quiet, const struct cell *last)
{
	if (quiet)
		return;
	double el = (double)(ioh_now_ns() - t0) / 1e9;
	double left = done ? el / (double)done * (double)(m->n - done) : 0;
	if (tty)
		fprintf(stderr, "\riohandover matrix: %zu/%zu scenarios, %zu not "
			"as expected, %.0f s, about %.0f s left   ", done, m->n, bad, el,
			left);
	else if (last)
		fprintf(stderr, "iohandover matrix: %zu/%zu %s bbm %u %s -> %s %s "
			"%s: %s\n", done, m->n, last->format, last->bbm, last->from,
			last->to, last->devices, last->strategy, last->verdict);
	if (tty && done == m->n)
		fputc('\n', stderr);
}

static int run_all(struct matrix *m, unsigned int jobs, bool quiet)
{
	struct child *kids = calloc(jobs, sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	size_t next = 0, done = 0, bad = 0;
	unsigned int running = 0;
	uint64_t t0 = ioh_now_ns();
	bool tty = isatty(2);
	int rc = 0;
	fflush(NULL);
	while (done < m->n) {
		while (running < jobs && next < m->n) {
			int p[2];
			if (pipe(p)) {
				rc = -errno;
				goto out;
			}
			pid_t pid = fork();
			if (pid < 0) {
				rc = -errno;
				close(p[0]);
				close(p[1]);
				goto out;
			}
			if (!pid) {
				signal(SIGINT, SIG_DFL);
				signal(SIGTERM, SIG_DFL);
				signal(SIGHUP, SIG_DFL);
				close(p[0]);
				struct cell *c = &m->cells[next];
				run_cell(c, m->guest_mem, m->run_ms);
				FILE *f = fdopen(p[1], "w");
				if (!f)
					_exit(3);
				cell_write(f, c);
				fputc('\n', f);
				_exit(fclose(f) ? 3 : 0);
			}
			close(p[1]);
			unsigned int slot = 0;
			while (kids[slot].pid)
				slot++;
			kids[slot] = (struct child){ .pid = pid, .fd = p[0], .cell = next++ };
			live_pids[slot] = pid;
			running++;
		}
		struct pollfd pfd[MAX_JOBS];
		unsigned int map[MAX_JOBS], np = 0;
		for (unsigned int s = 0; s < jobs && np < MAX_JOBS; s++)
			if (kids[s].pid) {
				pfd[np] = (struct pollfd){ .fd = kids[s].fd, .events = POLLIN };
				map[np++] = s;
			}
		if (poll(pfd, np, -1) < 0 && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		for (unsigned int q = 0; q < np; q++) {
			if (!pfd[q].revents)
				continue;
			struct child *k = &kids[map[q]];
			ssize_t r = read(k->fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len);
			if (r > 0) {
				k->len += (size_t)r;
				if (k->len < sizeof(k->buf) - 1)
					continue;
			}
			/* End of the child's line. */
			close(k->fd);
			int st = 0;
			waitpid(k->pid, &st, 0);
			k->buf[k->len] = 0;
			struct cell *c = &m->cells[k->cell];
			struct cell got;
			const char *why = NULL;
			if (!WIFEXITED(st) || WEXITSTATUS(st) ||
			    (why = cell_parse(k->buf, &got))) {
				snprintf(c->verdict, sizeof(c->verdict), "error");
				snprintf(c->error, sizeof(c->error), "the scenario's "
					 "process %s", why ? why : "died");
				c->done = true;
			} else {
				got.i = c->i;
				*c = got;
			}
			if (!cell_as_expected(c))
				bad++;
			live_pids[map[q]] = 0;
			memset(k, 0, sizeof(*k));
			running--;
			done++;
			progress(m, done, bad, t0, tty, quiet, c);
		}
	}
out:
	for (unsigned int s = 0; s < jobs; s++)
		if (kids[s].pid) {
			live_pids[s] = 0;
			kill(kids[s].pid, SIGKILL);
			waitpid(kids[s].pid, NULL, 0);
			close(kids[s].fd);
		}
	free(kids);
	return rc;
}

/* ---- outputs -------------------------------------------------------------- */

static void fmt_us(char *b, size_t n, uint64_t us)
{
	cli_fmt_us(b, n, us);
}

/* The columns, as text, for every output. */
enum { C_FMT, C_BBM, C_PAIR, C_DEVS, C_STRAT, C_VERDICT, C_NEEDS, C_BLACK,
       C_REC, C_MEM, C_DMA, NCOL };
static const char *const col_name[NCOL] = {
	"format", "BBM", "from -> to", "devices", "strategy", "verdict",
	"what the switch needs", "blackout", "recovery", "extra table memory",
	"DMA errors/conflicts",
};

static void cell_cols(const struct cell *c, char cols[NCOL][200])
{
	snprintf(cols[C_FMT], 200, "%s", c->format);
	enum pt_format_id fmt = PT_FMT_ARM_S2;
	pt_fmt_by_name(c->format, &fmt);
	snprintf(cols[C_BBM], 200, "%s", pt_fmt_bbm_levels(fmt) ?
		 (const char *[]){ "0", "1", "2" }[c->bbm] : "-");
	snprintf(cols[C_PAIR], 200, "%s -> %s", c->from, c->to);
	snprintf(cols[C_DEVS], 200, "%s", c->devices);
	snprintf(cols[C_STRAT], 200, "%s", !strcmp(c->strategy, "naive") ?
		 "naive rebuild" : c->strategy);
	snprintf(cols[C_VERDICT], 200, "%s", c->verdict);
	if (c->error[0] && strcmp(c->verdict, "hitless"))
		snprintf(cols[C_NEEDS], 200, "%.80s (%.100s)", c->needs, c->error);
	else
		snprintf(cols[C_NEEDS], 200, "%s", c->needs);
	fmt_us(cols[C_BLACK], 200, c->blackout_us);
	fmt_us(cols[C_REC], 200, c->recovery_us);
	cli_fmt_bytes(cols[C_MEM], 200, c->extra_table_bytes);
	snprintf(cols[C_DMA], 200, "%" PRIu64 "/%" PRIu64,
		 c->faults + c->misdirected + c->lost_writes + c->bbm_violations +
		 c->use_after_free + c->stale_atc, c->conflicts);
}

static void write_text(FILE *f, const struct matrix *m)
{
	size_t w[NCOL];
	for (unsigned int k = 0; k < NCOL; k++)
		w[k] = strlen(col_name[k]);
	static char cols[NCOL][200];
	for (size_t i = 0; i < m->n; i++) {
		cell_cols(&m->cells[i], cols);
		for (unsigned int k = 0; k < NCOL; k++)
			if (strlen(cols[k]) > w[k])
				w[k] = strlen(cols[k]);
	}
	for (unsigned int k = 0; k < NCOL; k++)
		fprintf(f, "%-*s%s", k + 1 < NCOL ? (int)w[k] : 0, col_name[k],
			k + 1 < NCOL ? "  " : "\n");
	for (size_t i = 0; i < m->n; i++) {
		cell_cols(&m->cells[i], cols);
		for (unsigned int k = 0; k < NCOL; k++)
			fprintf(f, "%-*s%s", k + 1 < NCOL ? (int)w[k] : 0, cols[k],
				k + 1 < NCOL ? "  " : "\n");
	}
}

static void md_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

struct counts {
	size_t ok;        /* hitless */
	size_t naive_bad; /* naive rebuilds not hitless */
	size_t caught;    /* naive variants caught, refusals refused */
	size_t bad;       /* anything else not as it must be */
};

static struct counts counts(const struct matrix *m)
{
	struct counts k = { 0 };
	for (size_t i = 0; i < m->n; i++) {
		const struct cell *c = &m->cells[i];
		if (!cell_as_expected(c))
			k.bad++;
		else if (!strcmp(c->verdict, "hitless"))
			k.ok++;
		else if (cell_expect(c) == EX_ANY)
			k.naive_bad++;
		else
			k.caught++;
	}
	return k;
}

/* "N hitless, N naive rebuilds not hitless, ...": every output's summary. */
static void summary(FILE *f, const struct counts *k)
{
	fprintf(f, "%zu hitless, %zu naive rebuilds not hitless, ", k->ok,
		k->naive_bad);
	if (k->caught)
		fprintf(f, "%zu naive variants caught or refusals refused, ",
			k->caught);
	fprintf(f, "%zu other rows not as they must be", k->bad);
}

static void write_md(FILE *f, const struct matrix *m)
{
	struct counts tally = counts(m);
	char gm[32];
	cli_fmt_bytes(gm, sizeof(gm), m->guest_mem);
	fprintf(f, "%zu scenarios (guest %s, %" PRIu64 " ms of DMA around each "
		"update): ", m->n, gm, m->run_ms);
	summary(f, &tally);
	fputs(".\n\n", f);
	fputc('|', f);
	for (unsigned int k = 0; k < NCOL; k++)
		fprintf(f, " %s |", col_name[k]);
	fputs("\n|", f);
	for (unsigned int k = 0; k < NCOL; k++)
		fputs("---|", f);
	fputc('\n', f);
	static char cols[NCOL][200];
	for (size_t i = 0; i < m->n; i++) {
		cell_cols(&m->cells[i], cols);
		fputc('|', f);
		for (unsigned int k = 0; k < NCOL; k++) {
			fputc(' ', f);
			if (k == C_VERDICT && strcmp(cols[k], "hitless"))
				fputs("**", f);
			md_escape(f, cols[k]);
			if (k == C_VERDICT && strcmp(cols[k], "hitless"))
				fputs("**", f);
			fputs(" |", f);
		}
		fputc('\n', f);
	}
}

static void write_json(FILE *f, const struct matrix *m, bool whole)
{
	fprintf(f, "{\"iohandover_matrix\":1,\"shard\":%u,\"shards\":%u,"
		"\"total\":%u,\"guest_mem\":%" PRIu64 ",\"run_ms\":%" PRIu64
		",\"cells\":[\n", whole ? 1 : m->shard, whole ? 1 : m->shards,
		m->total, m->guest_mem, m->run_ms);
	for (size_t i = 0; i < m->n; i++) {
		cell_write(f, &m->cells[i]);
		fputs(i + 1 < m->n ? ",\n" : "\n", f);
	}
	fputs("]}\n", f);
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const char *verdict_class(const char *v)
{
	return !strcmp(v, "hitless") ? "ok" : !strcmp(v, "DMA errors") ? "dma" :
	       !strcmp(v, "update failed") || !strcmp(v, "refused") ? "refused" :
	       "error";
}

static void write_html(FILE *f, const struct matrix *m)
{
	struct counts tally = counts(m);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<title>iohandover matrix</title>\n<style>\n"
	      "body{font-family:sans-serif;font-size:14px;margin:1em;}\n"
	      "table{border-collapse:collapse;}\n"
	      "th,td{border:1px solid #999;padding:3px 6px;text-align:left;"
	      "vertical-align:top;white-space:normal;overflow-wrap:anywhere;}\n"
	      "th{background:#eee;position:sticky;top:0;}\n"
	      "td.pair{max-width:22em;} td.needs{max-width:28em;}\n"
	      "tr.ok td.v{background:#c8ecc8;} tr.dma td.v{background:#f4b6b6;}\n"
	      "tr.refused td.v{background:#f6dca8;} tr.error td.v{background:#ccc;}\n"
	      "tr.ok{background:#f3fbf3;} tr.dma{background:#fdf0f0;}\n"
	      "tr.refused{background:#fdf8ec;}\n"
	      "</style></head><body>\n<h1>iohandover matrix</h1>\n", f);
	char gm[32];
	cli_fmt_bytes(gm, sizeof(gm), m->guest_mem);
	fprintf(f, "<p>%zu scenarios, guest %s: ", m->n, gm);
	summary(f, &tally);
	fputs(". Green: hitless; red: DMA errors or conflicts; orange: the "
	      "update refused itself (DMA kept flowing on the old table); grey: "
	      "the scenario did not run.</p>\n<table>\n<tr>", f);
	for (unsigned int k = 0; k < NCOL; k++) {
		fputs("<th>", f);
		html_escape(f, col_name[k]);
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	static char cols[NCOL][200];
	for (size_t i = 0; i < m->n; i++) {
		cell_cols(&m->cells[i], cols);
		fprintf(f, "<tr class=\"%s\">", verdict_class(m->cells[i].verdict));
		for (unsigned int k = 0; k < NCOL; k++) {
			fprintf(f, "<td%s>", k == C_VERDICT ? " class=\"v\"" :
				k == C_PAIR ? " class=\"pair\"" :
				k == C_NEEDS ? " class=\"needs\"" : "");
			html_escape(f, cols[k]);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<script>\n"
	      "/* #check: count cells whose text overflows or overlaps another. */\n"
	      "if (location.hash == '#check') {\n"
	      " var bad = 0, cells = document.querySelectorAll('td,th');\n"
	      " for (var i = 0; i < cells.length; i++) {\n"
	      "  var c = cells[i];\n"
	      "  if (c.scrollWidth > c.clientWidth + 1) bad++;\n"
	      " }\n"
	      " var rows = document.querySelectorAll('tr');\n"
	      " for (var r = 1; r < rows.length; r++) {\n"
	      "  var a = rows[r - 1].getBoundingClientRect(), b = rows[r].getBoundingClientRect();\n"
	      "  if (b.top < a.bottom - 1) bad++;\n"
	      " }\n"
	      " document.body.setAttribute('data-overlaps', String(bad));\n"
	      "}\n</script>\n</body></html>\n", f);
}

/* An output written to a temporary file beside it, renamed at the end. */
struct out {
	const char *path, *opt;
	char tmp[4096];
	FILE *f;
};

/* Temporary files to remove if the matrix is interrupted. */
static const char *volatile tmp_paths[3];

static void on_signal(int sig)
{
	for (unsigned int i = 0; i < MAX_JOBS; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
	for (unsigned int i = 0; i < 3; i++)
		if (tmp_paths[i])
			unlink(tmp_paths[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void track_tmp(const char *path, bool on)
{
	for (unsigned int i = 0; i < 3; i++)
		if (on ? !tmp_paths[i] : tmp_paths[i] == path) {
			tmp_paths[i] = on ? path : NULL;
			return;
		}
}

static int out_open(struct out *o)
{
	if (!o->path)
		return 0;
	if (snprintf(o->tmp, sizeof(o->tmp), "%s.tmpXXXXXX", o->path) >=
	    (int)sizeof(o->tmp)) {
		cli_err(CMD, "%s: path too long", o->opt);
		return -1;
	}
	int fd = mkstemp(o->tmp);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		cli_err(CMD, "%s: cannot write '%s': %s", o->opt, o->path,
			strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		return -1;
	}
	track_tmp(o->tmp, true);
	return 0;
}

static int out_commit(struct out *o)
{
	if (!o->f)
		return 0;
	int bad = ferror(o->f) | fclose(o->f);
	o->f = NULL;
	if (bad || rename(o->tmp, o->path)) {
		cli_err(CMD, "%s: writing '%s' failed: %s", o->opt, o->path,
			strerror(errno));
		unlink(o->tmp);
		track_tmp(o->tmp, false);
		return -1;
	}
	track_tmp(o->tmp, false);
	return 0;
}

static void out_abort(struct out *o)
{
	if (o->f) {
		fclose(o->f);
		unlink(o->tmp);
		track_tmp(o->tmp, false);
		o->f = NULL;
	}
}

/* ---- --merge -------------------------------------------------------------- */

static int merge_file(struct matrix *m, const char *path, bool *seen, bool first)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		cli_err(CMD, "--merge: cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned int ln = 0;
	bool header = false, closed = false;
	int rc = -1;
	while (getline(&line, &cap, f) > 0) {
		ln++;
		line[strcspn(line, "\n")] = 0;
		if (closed) {
			cli_err(CMD, "--merge: %s:%u: text after the end", path, ln);
			goto out;
		}
		if (!header) {
			struct kv kvs[8];
			const char *err = NULL, *end;
			char *cells = strstr(line, ",\"cells\":[");
			if (!cells || strcmp(cells, ",\"cells\":[")) {
				cli_err(CMD, "--merge: %s:%u: not an iohandover matrix "
					"file (from matrix --json)", path, ln);
				goto out;
			}
			strcpy(cells, "}");
			int n = parse_object(line, kvs, 8, &end, &err);
			const struct kv *v = n > 0 ? field(kvs, n, "iohandover_matrix", false) : NULL;
			const struct kv *s = n > 0 ? field(kvs, n, "shard", false) : NULL;
			const struct kv *ss = n > 0 ? field(kvs, n, "shards", false) : NULL;
			const struct kv *t = n > 0 ? field(kvs, n, "total", false) : NULL;
			const struct kv *g = n > 0 ? field(kvs, n, "guest_mem", false) : NULL;
			const struct kv *r = n > 0 ? field(kvs, n, "run_ms", false) : NULL;
			if (!v || v->num != 1 || !s || !ss || !t || !g || !r ||
			    !ss->num || ss->num > 10000 || !s->num || s->num > ss->num ||
			    t->num > 1000000) {
				cli_err(CMD, "--merge: %s:%u: not an iohandover matrix "
					"file (version 1, shard K/N, total)", path, ln);
				goto out;
			}
			if (first) {
				m->shards = (unsigned int)ss->num;
				m->total = (unsigned int)t->num;
				m->guest_mem = g->num;
				m->run_ms = r->num;
			} else if (m->shards != ss->num || m->total != t->num ||
				   m->guest_mem != g->num || m->run_ms != r->num) {
				cli_err(CMD, "--merge: %s is a shard of another matrix "
					"(%" PRIu64 " shards, %" PRIu64 " scenarios, guest %"
					PRIu64 ", %" PRIu64 " ms; the first file: %u, %u, %"
					PRIu64 ", %" PRIu64 ")", path, ss->num, t->num, g->num,
					r->num, m->shards, m->total, m->guest_mem, m->run_ms);
				goto out;
			}
			if (seen[s->num - 1]) {
				cli_err(CMD, "--merge: %s: shard %" PRIu64 "/%u given twice",
					path, s->num, m->shards);
				goto out;
			}
			seen[s->num - 1] = true;
			header = true;
			continue;
		}
		if (!strcmp(line, "]}")) {
			closed = true;
			continue;
		}
		size_t l = strlen(line);
		if (l && line[l - 1] == ',')
			line[--l] = 0;
		struct cell c;
		const char *why = cell_parse(line, &c);
		if (why) {
			cli_err(CMD, "--merge: %s:%u: %s", path, ln, why);
			goto out;
		}
		if (c.i >= m->total) {
			cli_err(CMD, "--merge: %s:%u: scenario %u of a matrix of %u",
				path, ln, c.i, m->total);
			goto out;
		}
		for (size_t i = 0; i < m->n; i++)
			if (m->cells[i].i == c.i) {
				cli_err(CMD, "--merge: %s:%u: scenario %u is in two files",
					path, ln, c.i);
				goto out;
			}
		if (push(m, &c)) {
			cli_err(CMD, "--merge: out of memory");
			goto out;
		}
	}
	if (!header || !closed) {
		cli_err(CMD, "--merge: %s: %s", path, !header ? "empty" :
			"truncated (no closing ']}')");
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

static int cmp_cell(const void *a, const void *b)
{
	const struct cell *x = a, *y = b;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* ---- the command ----------------------------------------------------------- */

static bool ok_setup(const char *s)
{
	return setup_find(s) != NULL;
}

static const char *setup_names(void)
{
	static char b[256];
	size_t n = 0;
	for (size_t i = 0; i < NSETUP && n < sizeof(b); i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "%s%s", i ? ", " : "",
				      setups[i].name);
	return b;
}

/* The setups for --help, one line each. */
static const char *setup_help(void)
{
	static char b[1024];
	size_t n = 0;
	for (size_t i = 0; i < NSETUP && n < sizeof(b); i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "                     "
				      "%-14s %s\n", setups[i].name, setups[i].what);
	return b;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: iohandover matrix [options]\n"
"       iohandover matrix --merge FILE... [--md F] [--json F] [--html F]\n"
"\n"
"Run one live update for every format, BBM level (ARM only), ordered pair\n"
"of kernel profiles (from -> to, both directions) and strategy, plus the\n"
"naive rebuild (the new kernel's own layout, no reconcile) alongside, for\n"
"each device setup, and tell for each whether it was hitless (or, for the\n"
"naive setups and the refusals, caught or refused as it must be), what\n"
"the switch needed and what it cost: guest blackout, recovery time after\n"
"the guest resumed, extra table memory while two tables exist.\n"
"\n"
"  --formats LIST     formats (default all: arm-s1,arm-s2,vtd-ss,x86-64,\n"
"                     amd-v1,riscv)\n"
"  --bbm-levels LIST  ARM BBM levels (default 0,1,2)\n"
"  --profiles LIST    profiles to pair (default every real driver's of a\n"
"                     format; v1 and v2 only when named):\n"
"%s"
"  --strategies LIST  deserialize,verify,rebuild,stop-the-world,naive\n"
"                     (default all)\n"
"  --devices LIST     device setups (default plain; each runs with the\n"
"                     strategies that apply to it):\n"
"%s"
"  --guest-mem SIZE   guest RAM of each scenario (default 256M)\n"
"  --run-ms N         DMA time around each update (default 60)\n"
"  -j N               scenarios at a time (default: the number of cores)\n"
"  --shard K/N        run only scenarios K, K+N, K+2N, ... (1 <= K <= N);\n"
"                     needs --json; join the shards with --merge\n"
"  --merge FILE...    join shards' JSON files instead of running\n"
"  --md FILE          Markdown table\n"
"  --json FILE        JSON (one object per scenario)\n"
"  --html FILE        an HTML page, rows coloured by verdict\n"
"  --quiet            no progress display\n"
"  -h, --help         this help\n"
"\n"
"The table goes to standard output. Files are written whole or not at all.\n"
"Exit status: 0 every row but the naive rebuilds hitless, caught or\n"
"refused as it must be, 1 some row not as it must be, 2 bad option or\n"
"input, 3 internal error.\n",
		cli_profile_help(), setup_help());
}

static int parse_list(const char *opt, const char *list, bool (*ok)(const char *),
		      const char *known)
{
	char buf[4096];
	if (!*list || strlen(list) >= sizeof(buf) || list[strlen(list) - 1] == ',' ||
	    strstr(list, ",,") || *list == ',') {
		cli_err(CMD, "%s: '%s' is not a comma list", opt, list);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!ok(t)) {
			cli_err(CMD, "%s: unknown '%s' (known: %s)", opt, t, known);
			return -1;
		}
	return 0;
}

static bool ok_format(const char *s)
{
	enum pt_format_id f;
	return !pt_fmt_by_name(s, &f);
}

static bool ok_bbm(const char *s)
{
	return !strcmp(s, "0") || !strcmp(s, "1") || !strcmp(s, "2");
}

static bool ok_profile(const char *s)
{
	return iommufd_profile_find(s) != NULL;
}

static bool ok_strategy(const char *s)
{
	return in_list("deserialize,verify,rebuild,stop-the-world,naive", s);
}

enum { O_FORMATS = 256, O_BBM, O_PROFILES, O_STRATS, O_DEVICES, O_GUEST, O_RUNMS,
       O_SHARD, O_MERGE, O_MD, O_JSON, O_HTML, O_QUIET };

static int cmd_matrix(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "formats", required_argument, NULL, O_FORMATS },
		{ "bbm-levels", required_argument, NULL, O_BBM },
		{ "profiles", required_argument, NULL, O_PROFILES },
		{ "strategies", required_argument, NULL, O_STRATS },
		{ "devices", required_argument, NULL, O_DEVICES },
		{ "guest-mem", required_argument, NULL, O_GUEST },
		{ "run-ms", required_argument, NULL, O_RUNMS },
		{ "shard", required_argument, NULL, O_SHARD },
		{ "merge", no_argument, NULL, O_MERGE },
		{ "md", required_argument, NULL, O_MD },
		{ "json", required_argument, NULL, O_JSON },
		{ "html", required_argument, NULL, O_HTML },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sel s = { 0 };
	struct matrix m = { .shard = 1, .shards = 1, .guest_mem = 256ull << 20,
			    .run_ms = 60 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int jobs = cores > 0 ? (unsigned int)cores : 1;
	bool merge = false, quiet = false, shard_given = false, run_opts = false;
	struct out md = { .opt = "--md" }, js = { .opt = "--json" },
		   html = { .opt = "--html" };
	uint64_t v;
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "hj:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case O_FORMATS:
			if (parse_list("--formats", optarg, ok_format,
				       "arm-s1, arm-s2, vtd-ss, x86-64, amd-v1, riscv"))
				return CLI_USAGE;
			s.formats = optarg;
			run_opts = true;
			break;
		case O_BBM:
			if (parse_list("--bbm-levels", optarg, ok_bbm, "0, 1, 2"))
				return CLI_USAGE;
			s.bbm_levels = optarg;
			run_opts = true;
			break;
		case O_PROFILES:
			if (parse_list("--profiles", optarg, ok_profile,
				       iommufd_profile_names()))
				return CLI_USAGE;
			s.profiles = optarg;
			run_opts = true;
			break;
		case O_STRATS:
			if (parse_list("--strategies", optarg, ok_strategy,
				       "deserialize, verify, rebuild, stop-the-world, naive"))
				return CLI_USAGE;
			s.strategies = optarg;
			run_opts = true;
			break;
		case O_DEVICES:
			if (parse_list("--devices", optarg, ok_setup, setup_names()))
				return CLI_USAGE;
			s.devices = optarg;
			run_opts = true;
			break;
		case O_GUEST:
			if (lu_parse_num(optarg, &v) || v % (2ull << 20) ||
			    v < (8ull << 20) || v > (1ull << 40)) {
				cli_err(CMD, "--guest-mem: '%s' is not a multiple of 2M "
					"from 8M to 1T", optarg);
				return CLI_USAGE;
			}
			m.guest_mem = v;
			run_opts = true;
			break;
		case O_RUNMS:
			if (lu_parse_num(optarg, &v) || !v || v > 60000) {
				cli_err(CMD, "--run-ms: '%s' is not 1-60000", optarg);
				return CLI_USAGE;
			}
			m.run_ms = v;
			run_opts = true;
			break;
		case 'j':
			if (lu_parse_num(optarg, &v) || !v || v > MAX_JOBS) {
				cli_err(CMD, "-j: '%s' is not 1-64", optarg);
				return CLI_USAGE;
			}
			jobs = (unsigned int)v;
			break;
		case O_SHARD: {
			unsigned int k, n;
			char tail;
			if (sscanf(optarg, "%u/%u%c", &k, &n, &tail) != 2 || !k || !n ||
			    k > n || n > 10000 || optarg[0] < '0' || optarg[0] > '9') {
				cli_err(CMD, "--shard: '%s' is not K/N with 1 <= K <= N",
					optarg);
				return CLI_USAGE;
			}
			m.shard = k;
			m.shards = n;
			shard_given = true;
			break;
		}
		case O_MERGE:
			merge = true;
			break;
		case O_MD:
			md.path = optarg;
			break;
		case O_JSON:
			js.path = optarg;
			break;
		case O_HTML:
			html.path = optarg;
			break;
		case O_QUIET:
			quiet = true;
			break;
		default:
			return cli_bad_option(CMD, argv, optind, optopt);
		}
	}
	if (merge && (run_opts || shard_given)) {
		cli_err(CMD, "--merge joins files: it takes no --shard and no "
			"option of what to run");
		return CLI_USAGE;
	}
	if (merge && optind >= argc) {
		cli_err(CMD, "--merge: no files given");
		return CLI_USAGE;
	}
	if (!merge && cli_no_extra_args(CMD, argc, argv, optind))
		return CLI_USAGE;
	if (shard_given && !js.path) {
		cli_err(CMD, "--shard: a shard writes JSON: give --json FILE");
		return CLI_USAGE;
	}
	int rc = CLI_INTERNAL;
	if (merge) {
		bool *seen = calloc(10000, sizeof(bool));
		if (!seen)
			return CLI_INTERNAL;
		for (int i = optind; i < argc; i++)
			if (merge_file(&m, argv[i], seen, i == optind)) {
				free(seen);
				free(m.cells);
				return CLI_USAGE;
			}
		char missing[256] = "";
		size_t used = 0;
		for (unsigned int k = 0; k < m.shards && used < 200; k++)
			if (!seen[k])
				used += (size_t)snprintf(missing + used, sizeof(missing) - used,
							 "%s%u/%u", used ? ", " : "", k + 1, m.shards);
		free(seen);
		if (used) {
			cli_err(CMD, "--merge: shards missing: %s", missing);
			free(m.cells);
			return CLI_USAGE;
		}
		if (m.n != m.total) {
			cli_err(CMD, "--merge: %zu scenarios in the files, the matrix "
				"has %u", m.n, m.total);
			free(m.cells);
			return CLI_USAGE;
		}
		qsort(m.cells, m.n, sizeof(*m.cells), cmp_cell);
		m.shard = m.shards = 1;
	} else {
		if (enumerate(&m, &s)) {
			cli_err(CMD, "out of memory");
			return CLI_INTERNAL;
		}
		if (!m.n) {
			cli_err(CMD, "no scenario: no format of --formats has two of "
				"--profiles%s", m.total ? " in this shard" :
				s.devices && s.strategies ? " (or no setup of --devices "
				"runs with --strategies)" : "");
			free(m.cells);
			return CLI_USAGE;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (out_open(&md) || out_open(&js) || out_open(&html)) {
		rc = CLI_USAGE;
		goto fail;
	}
	if (!merge) {
		int err = run_all(&m, jobs, quiet);
		if (err) {
			cli_err(CMD, "running the scenarios: %s", strerror(-err));
			goto fail;
		}
	}
	write_text(stdout, &m);
	if (md.f)
		write_md(md.f, &m);
	if (js.f)
		write_json(js.f, &m, merge);
	if (html.f)
		write_html(html.f, &m);
	if (out_commit(&md) || out_commit(&js) || out_commit(&html))
		goto fail;
	struct counts tally = counts(&m);
	printf("\n%zu scenarios: ", m.n);
	summary(stdout, &tally);
	putchar('\n');
	rc = tally.bad ? CLI_NOT_HITLESS : CLI_OK;
	free(m.cells);
	return rc;
fail:
	out_abort(&md);
	out_abort(&js);
	out_abort(&html);
	free(m.cells);
	return rc;
}

const struct cli_cmd cli_cmd_matrix = {
	.name = "matrix",
	.summary = "every format, BBM level, profile pair and strategy: hitless? (--help)",
	.run = cmd_matrix,
};
