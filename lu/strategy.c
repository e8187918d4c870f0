// SPDX-License-Identifier: MIT
/*
 * strategy: the table of restore strategies, and what several of them
 * share: re-pinning the guest (the start of every replay) and checking a
 * table against the intent. A strategy is one lu/strat_*.c file and one
 * line in builtin[] (docs/liveupdate.md, "Adding a strategy").
 */
#include "lu/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ioh/ioh.h"

static const struct lu_strategy *const builtin[] = {
	&lu_strategy_deserialize,
	&lu_strategy_verify,
	&lu_strategy_rebuild,
	&lu_strategy_stop_the_world,
};
#define NR_BUILTIN (sizeof(builtin) / sizeof(builtin[0]))

static const struct lu_strategy *registered[LU_MAX_STRATEGIES - NR_BUILTIN];
static unsigned int nr_registered;

unsigned int lu_nr_strategies(void)
{
	return NR_BUILTIN + nr_registered;
}

const struct lu_strategy *lu_strategy_at(unsigned int i)
{
	if (i < NR_BUILTIN)
		return builtin[i];
	i -= NR_BUILTIN;
	return i < nr_registered ? registered[i] : NULL;
}

const struct lu_strategy *lu_strategy_find(const char *name)
{
	const struct lu_strategy *s;
	for (unsigned int i = 0; name && (s = lu_strategy_at(i)); i++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

unsigned int lu_strategy_index(const struct lu_strategy *s)
{
	for (unsigned int i = 0; i < lu_nr_strategies(); i++)
		if (lu_strategy_at(i) == s)
			return i;
	return LU_MAX_STRATEGIES;
}

const char *lu_strategy_names(void)
{
	static char buf[LU_MAX_STRATEGIES * 24];
	size_t used = 0;
	const struct lu_strategy *s;
	buf[0] = '\0';
	for (unsigned int i = 0; (s = lu_strategy_at(i)) && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
					 i ? ", " : "", s->name);
	return buf;
}

int lu_strategy_register(const struct lu_strategy *s)
{
	if (!s || !s->name || !s->restore || strlen(s->name) >= 24)
		return -EINVAL;
	if (lu_strategy_find(s->name))
		return -EEXIST;
	if (nr_registered == sizeof(registered) / sizeof(registered[0]))
		return -ENOSPC;
	registered[nr_registered++] = s;
	return 0;
}

/* ---- shared by the strategies -------------------------------------------- */

int lu_replay(struct lu_gen *g)
{
	uint64_t t = g->restore_t0;
	if (!g->ictx.stats.pinned_bytes) {
		int64_t pinned = iommufd_ioas_pin(&g->ictx, g->ioas, true);
		if (pinned < 0)
			return lu_gen_fail(g, LU_EXIT_INTERNAL, "re-pin: %s",
					   strerror((int)-pinned));
	}
	g->phase_ns[LU_PH_REPLAY] += ioh_now_ns() - t;
	lu_crash_point(g, "replay");
	return 0;
}

bool lu_needs_same_granule(const struct lu_gen *g)
{
	/* Only formats with BBM levels, below level 2, need the same
	 * layout; the others tolerate size-only changes (docs/reference.md
	 * section 3 rule 2). */
	return pt_fmt_bbm_levels(g->ictx.fmt) && g->region.regs->bbm_level < 2;
}

/* Walks the intent's maximal runs and the table's leaves side by side. */
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

int lu_verify_table(struct lu_gen *g, const struct pt_table *t)
{
	struct verify_ctx v = { .t = t, .fmt = g->ictx.fmt };
	pt_iter_init(&v.it, t, 0, ~0ull);
	/* Maximal linear runs: a leaf may span the seam of two areas. */
	int ret = iommufd_ioas_for_each_run(g->ioas, true, verify_run, &v);
	if (ret < 0)
		return lu_gen_fail(g, LU_EXIT_INTERNAL, "replay: %s", strerror(-ret));
	if (!ret && (v.have || pt_iter_next(t, &v.it, &v.leaf))) {
		ret = 1;
		v.bad_iova = v.leaf.va;
		v.why = "the table maps beyond the intent";
	}
	if (ret)
		return lu_gen_fail(g, LU_EXIT_NOT_HITLESS, "preserved table disagrees "
				   "with the intent at IOVA 0x%" PRIx64 ": %s; the "
				   "preserved table stays live", v.bad_iova, v.why);
	return 0;
}
