// SPDX-License-Identifier: MIT
/*
 * The SVG timeline of a scenario. Sources, all measured, none invented:
 *   - DMA throughput per device: the machine's per-device op counters,
 *     sampled by the runner about every 10 ms (cli/scenario.c), plotted
 *     as ops per millisecond between samples;
 *   - faults: the machine's event log (hardware fault records and the
 *     checker's verdicts), one red mark per event on its device's lane;
 *   - the guest-paused band: GUEST_PAUSED/RESUMED events of the log (the
 *     sampled pause flag when the log has wrapped);
 *   - phase markers: each update's phase durations as its kernels
 *     reported them, laid end to end from the moment the guest was
 *     paused (preserve ends there). Phases after the guest resumed run
 *     per table in the kernel and are summed, so their boundaries are
 *     placed, not measured, to within the other phases' interleaving.
 * Two panels: the whole run, and one update zoomed (the longest blackout).
 * Errors are binned per pixel column; labels are placed only where their
 * box overlaps no other (struct tl.box), else shortened or left to the
 * tooltip.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/scenario.h"

#define W 1400
#define LEFT 170
#define RIGHT 185
#define PLOT_W (W - LEFT - RIGHT)
#define LANE_H 70
#define LANE_GAP 14
#define PHASE_H 34
#define LABEL_ROWS 5 /* rows of phase names under a zoomed strip */
#define AXIS_H 20 /* tick labels between the lanes and the phases */

static const char *const phase_color[LU_NR_PHASES] = {
	"#9ecae1", "#c6dbef", "#fd8d3c", "#fdae6b", "#fdd0a2", "#74c476", "#a1d99b",
	"#9e9ac8", "#6baed6", "#bdbdbd", "#d9d9d9",
};

struct span {
	double t0, t1; /* ms since scenario start */
};

struct tl {
	const struct cli_scenario *cs;
	FILE *f;
	double end_ms;
	struct span pause[WORLD_MAX_UPDATES + 1];
	unsigned int nr_pause;
	/* Per update: phase p spans [ph[u][p], ph[u][p+1]). */
	double ph[WORLD_MAX_UPDATES][LU_NR_PHASES + 1];
	bool ph_ok[WORLD_MAX_UPDATES];
	/* Boxes of the labels placed so far that others must not overlap. */
	struct box { double x0, y0, x1, y1; } box[512];
	unsigned int nr_box;
};

/*
 * A label's box as test_cli_ux computes it back from the SVG: width
 * 0.62 em a character (0.68 bold), ascent 0.8 em, descent 0.2 em; anchor
 * 0 start, 0.5 middle, 1 end.
 */
static struct box text_box(double x, double y, double anchor, double size,
			   bool bold, const char *s)
{
	double w = (double)strlen(s) * size * (bold ? 0.68 : 0.62);
	struct box b = { x - w * anchor, y - size * 0.8, x - w * anchor + w,
			 y + size * 0.2 };
	return b;
}

/*
 * Claim b if it keeps LABEL_GAP pixels from every label placed before;
 * false if it would not. The gap also absorbs the coordinates' rounding
 * to 0.1 px in the file (labels that merely touched here could overlap
 * by a fraction as written).
 */
#define LABEL_GAP 1.0
static bool place(struct tl *t, struct box b)
{
	for (unsigned int i = 0; i < t->nr_box; i++) {
		const struct box *o = &t->box[i];
		if (b.x0 < o->x1 + LABEL_GAP && o->x0 < b.x1 + LABEL_GAP &&
		    b.y0 < o->y1 && o->y0 < b.y1)
			return false;
	}
	if (t->nr_box < sizeof(t->box) / sizeof(t->box[0]))
		t->box[t->nr_box++] = b;
	return true;
}

static double ev_ms(const struct tl *t, uint64_t ts)
{
	uint64_t t0 = t->cs->res.t0_ns;
	return ts > t0 ? (double)(ts - t0) / 1e6 : 0;
}

static bool is_error_event(uint32_t type)
{
	return (type > HW_EVT_NONE && type < 0x80) ||
	       (type >= HW_EVT_MISDIRECTED && type <= HW_EVT_TORN_CONFIG);
}

static const char *event_name(uint32_t type)
{
	switch (type) {
	case HW_EVT_TRANSLATION: return "translation fault";
	case HW_EVT_PERMISSION: return "permission fault";
	case HW_EVT_TLB_CONFLICT: return "TLB conflict abort";
	case HW_EVT_STE_ABORT: return "config abort";
	case HW_EVT_BAD_STE: return "bad config entry";
	case HW_EVT_CD_ABORT: return "PASID abort (invalid CD)";
	case HW_EVT_BAD_SUBSTREAMID: return "bad PASID";
	case HW_EVT_BAD_CD: return "bad context descriptor";
	case HW_EVT_MISDIRECTED: return "misdirected DMA";
	case HW_EVT_LOST_WRITE: return "lost write";
	case HW_EVT_BBM_VIOLATION: return "BBM violation";
	case HW_EVT_USE_AFTER_FREE: return "use after free";
	case HW_EVT_TORN_CONFIG: return "torn config";
	default: return "fault";
	}
}

/* Guest-paused spans: from the event log, else from the samples. */
static void find_pauses(struct tl *t)
{
	const struct world_result *r = &t->cs->res;
	bool open = false;
	for (size_t i = 0; i < r->nr_events && t->nr_pause <= WORLD_MAX_UPDATES; i++) {
		const struct hw_event *e = &r->events[i];
		if (e->type == HW_EVT_GUEST_PAUSED && !open) {
			t->pause[t->nr_pause].t0 = ev_ms(t, e->ts_ns);
			open = true;
		} else if (e->type == HW_EVT_GUEST_RESUMED && open) {
			t->pause[t->nr_pause++].t1 = ev_ms(t, e->ts_ns);
			open = false;
		}
	}
	if (open)
		t->pause[t->nr_pause++].t1 = t->end_ms;
	if (t->nr_pause >= t->cs->res.nr_upd || !t->cs->nr_samples)
		return;
	/* The log wrapped: fall back to the sampled flag (10 ms grain). */
	t->nr_pause = 0;
	open = false;
	for (size_t i = 0; i < t->cs->nr_samples && t->nr_pause <= WORLD_MAX_UPDATES; i++) {
		const struct cli_sample *s = &t->cs->samples[i];
		double ms = (double)s->ns / 1e6;
		if (s->paused && !open) {
			t->pause[t->nr_pause].t0 = ms;
			open = true;
		} else if (!s->paused && open) {
			t->pause[t->nr_pause++].t1 = ms;
			open = false;
		}
	}
	if (open)
		t->pause[t->nr_pause++].t1 = t->end_ms;
}

static void place_phases(struct tl *t)
{
	const struct world_result *r = &t->cs->res;
	for (unsigned int u = 0; u < r->nr_upd && u < t->nr_pause; u++) {
		const uint64_t *us = r->upd[u].phases_us;
		double at = t->pause[u].t0 -
			    (double)(us[LU_PH_PRESERVE] + us[LU_PH_UNMAP]) / 1e3;
		for (unsigned int p = 0; p < LU_NR_PHASES; p++) {
			t->ph[u][p] = at;
			at += (double)us[p] / 1e3;
		}
		t->ph[u][LU_NR_PHASES] = at;
		t->ph_ok[u] = true;
	}
}

/* ---- drawing ----------------------------------------------------------- */

struct view {
	double t0, t1;  /* ms shown */
	double x0, w;   /* pixels */
};

static double vx(const struct view *v, double ms)
{
	if (ms < v->t0)
		ms = v->t0;
	if (ms > v->t1)
		ms = v->t1;
	return v->x0 + (ms - v->t0) / (v->t1 - v->t0) * v->w;
}

static void fmt_ms(char *out, size_t len, double ms)
{
	if (ms <= 0)
		snprintf(out, len, "0");
	else if (ms < 1)
		snprintf(out, len, "%.0f us", ms * 1e3);
	else if (ms < 1000)
		snprintf(out, len, "%.1f ms", ms);
	else
		snprintf(out, len, "%.2f s", ms / 1e3);
}

static double nice_step(double range)
{
	double raw = range / 8, p = 1;
	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	if (p * 5 <= raw)
		return p * 5;
	if (p * 2 <= raw)
		return p * 2;
	return p;
}

/* Grid lines from y0 to y1, tick labels just under ylab. */
static void axis(struct tl *t, const struct view *v, double y0, double y1,
		 double ylab)
{
	FILE *f = t->f;
	double range = v->t1 - v->t0;
	double step = nice_step(range);
	/*
	 * Labels never touch: widen the step (1, 2, 5, 10, ...) until the
	 * distance between ticks exceeds the widest label (its box as
	 * text_box measures it, 11 px tick font) plus a gap.
	 */
	for (int guard = 0; range > 0 && guard < 64; guard++) {
		char a[32], b[32];
		fmt_ms(a, sizeof(a), v->t1);
		fmt_ms(b, sizeof(b), step);
		size_t chars = strlen(a) > strlen(b) ? strlen(a) : strlen(b);
		/* "100.0 ms" can be wider than both ends' labels. */
		if (chars < 8)
			chars = 8;
		double need = (double)chars * 11 * 0.62 + 6;
		if (step / range * v->w >= need)
			break;
		double m = step;
		while (m >= 10)
			m /= 10;
		while (m < 1)
			m *= 10;
		step *= m < 1.5 ? 2 : m < 3 ? 2.5 : 2;
	}
	double first = step * (double)(uint64_t)(v->t0 / step);
	if (first < v->t0)
		first += step;
	for (double ms = first; ms <= v->t1 + 1e-9; ms += step) {
		double x = vx(v, ms);
		char lab[32];
		fmt_ms(lab, sizeof(lab), ms);
		fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
			"stroke='#eee'/>\n", x, y0, x, y1);
		fprintf(f, "<text x='%.1f' y='%.1f' class='tick' "
			"text-anchor='middle'>%s</text>\n", x, ylab + 13, lab);
	}
}

static void pause_bands(struct tl *t, const struct view *v, double y0,
			double y1, bool label)
{
	for (unsigned int i = 0; i < t->nr_pause; i++) {
		const struct span *s = &t->pause[i];
		if (s->t1 < v->t0 || s->t0 > v->t1)
			continue;
		double x0 = vx(v, s->t0), x1 = vx(v, s->t1);
		if (x1 - x0 < 3) /* too short to see: widen, centred */
			x0 -= 1.5, x1 = x0 + 3;
		const struct world_result *r = &t->cs->res;
		char d[32], m[32];
		fmt_ms(m, sizeof(m), s->t1 - s->t0);
		if (i < r->nr_upd)
			fmt_ms(d, sizeof(d), (double)r->upd[i].blackout_us / 1e3);
		else
			snprintf(d, sizeof(d), "%s", m);
		/* One blackout everywhere: the kernels' measure (pause requested
		 * to resumed), as the summary and the JSON have it; the band is
		 * what the machine saw. */
		fprintf(t->f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
			"fill='#f4a259' fill-opacity='0.28' stroke='#e07b24' "
			"stroke-opacity='0.6'><title>update %u: guest blackout %s (the "
			"kernels' clock, as in the summary and the JSON); the band is "
			"the machine's vCPU stopped, %s</title></rect>\n", x0, y0,
			x1 - x0, y1 - y0, i + 1, d, m);
		if (!label)
			continue;
		/* The full label, else the number alone, else none (the
		 * tooltip and the zoomed panel have it). */
		char lab[64];
		snprintf(lab, sizeof(lab), "guest blackout %s", d);
		double cx = (x0 + x1) / 2;
		if (!place(t, text_box(cx, y0 - 4, 0.5, 12, true, lab))) {
			snprintf(lab, sizeof(lab), "%s", d);
			if (!place(t, text_box(cx, y0 - 4, 0.5, 12, true, lab)))
				continue;
		}
		fprintf(t->f, "<text x='%.1f' y='%.1f' class='band' "
			"text-anchor='middle'>%s</text>\n", cx, y0 - 4, lab);
	}
}

/* Before the first kernel reported, it was building the VM: no DMA yet. */
static void boot_band(struct tl *t, const struct view *v, double y0, double y1)
{
	const struct cli_scenario *cs = t->cs;
	double end = -1;
	for (size_t i = 0; i < cs->nr_samples && end < 0; i++)
		if (cs->samples[i].reports)
			end = (double)cs->samples[i].ns / 1e6;
	if (end <= v->t0)
		return;
	double x0 = vx(v, v->t0), x1 = vx(v, end);
	fprintf(t->f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
		"fill='#e8e8e8' fill-opacity='0.6'/>\n", x0, y0, x1 - x0, y1 - y0);
	/* Labelled only where the label fits inside the band. */
	char lab[64];
	snprintf(lab, sizeof(lab), "kernel %s boots the VM", cs->sc.from);
	struct box b1 = text_box((x0 + x1) / 2, y0 + 30, 0.5, 11, false, lab);
	struct box b2 = text_box((x0 + x1) / 2, y0 + 45, 0.5, 11, false, "(no DMA yet)");
	if (b1.x0 >= x0 + 2 && b1.x1 <= x1 - 2 && place(t, b1) && place(t, b2))
		fprintf(t->f, "<text x='%.1f' y='%.1f' class='ph' "
			"text-anchor='middle'>kernel %s boots the VM</text>"
			"<text x='%.1f' y='%.1f' class='ph' text-anchor='middle'>"
			"(no DMA yet)</text>\n", (x0 + x1) / 2, y0 + 30,
			cs->sc.from, (x0 + x1) / 2, y0 + 45);
}

/* One device's throughput and faults between y0 and y0 + LANE_H. */
static void lane(struct tl *t, const struct view *v, unsigned int d, double y0,
		 double peak)
{
	FILE *f = t->f;
	const struct cli_scenario *cs = t->cs;
	double ybase = y0 + LANE_H;
	fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%d' "
		"fill='#fafcff' stroke='#ccd'/>\n", v->x0, y0, v->w, LANE_H);
	fprintf(f, "<path class='tp' d='M%.1f %.1f", v->x0, ybase);
	for (size_t i = 1; i < cs->nr_samples; i++) {
		const struct cli_sample *a = &cs->samples[i - 1], *b = &cs->samples[i];
		double ta = (double)a->ns / 1e6, tb = (double)b->ns / 1e6;
		if (tb < v->t0 || ta > v->t1 || tb <= ta)
			continue;
		double rate = (double)(b->ops[d] - a->ops[d]) / (tb - ta);
		double frac = peak > 0 ? rate / peak : 0;
		/* Above the scale (a burst past the 99th percentile): clipped. */
		double y = ybase - (frac > 1 ? 1 : frac) * (LANE_H - 6);
		fprintf(f, " L%.1f %.1f L%.1f %.1f", vx(v, ta), y, vx(v, tb), y);
	}
	fprintf(f, " L%.1f %.1f Z'/>\n", vx(v, cs->nr_samples ?
		(double)cs->samples[cs->nr_samples - 1].ns / 1e6 : v->t0), ybase);
	/*
	 * Errors: one red tick per pixel column that had any, its count and
	 * kinds in the tooltip (the log keeps the last 8192 events), so a
	 * burst of thousands stays a few hundred elements.
	 */
	unsigned int cols = (unsigned int)v->w + 1;
	struct col { uint32_t n, type[4], nt; double first, last; uint64_t iova; } *c =
		calloc(cols, sizeof(*c));
	if (!c)
		return;
	for (size_t i = 0; i < cs->res.nr_events; i++) {
		const struct hw_event *e = &cs->res.events[i];
		if (e->sid != d || !is_error_event(e->type))
			continue;
		double ms = ev_ms(t, e->ts_ns);
		if (ms < v->t0 || ms > v->t1)
			continue;
		unsigned int x = (unsigned int)(vx(v, ms) - v->x0);
		if (x >= cols)
			x = cols - 1;
		if (!c[x].n++) {
			c[x].first = ms;
			c[x].iova = e->iova;
		}
		c[x].last = ms;
		bool seen = false;
		for (uint32_t k = 0; k < c[x].nt; k++)
			seen |= c[x].type[k] == e->type;
		if (!seen && c[x].nt < 4)
			c[x].type[c[x].nt++] = e->type;
	}
	for (unsigned int x = 0; x < cols; x++) {
		if (!c[x].n)
			continue;
		char kinds[160] = "";
		size_t kl = 0;
		for (uint32_t k = 0; k < c[x].nt && kl < sizeof(kinds) - 40; k++)
			kl += (size_t)snprintf(kinds + kl, sizeof(kinds) - kl, "%s%s",
					       kl ? ", " : "", event_name(c[x].type[k]));
		double px = v->x0 + x + 0.5;
		if (c[x].n == 1)
			fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
				"class='fault'><title>%s at %.3f ms, IOVA 0x%" PRIx64
				"</title></line>\n", px, y0, px, ybase, kinds,
				c[x].first, c[x].iova);
		else
			fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
				"class='fault'><title>%" PRIu32 " errors (%s) from "
				"%.3f to %.3f ms, the first at IOVA 0x%" PRIx64
				"</title></line>\n", px, y0, px, ybase, c[x].n,
				kinds, c[x].first, c[x].last, c[x].iova);
	}
	free(c);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * The throughput scale of a view: the highest rate, unless a short burst
 * would flatten everything else; then the 99th percentile of the rates
 * (the burst is clipped at the top of its lane).
 */
static double peak_rate(const struct tl *t, const struct view *v)
{
	const struct cli_scenario *cs = t->cs;
	size_t n = 0, cap = cs->nr_samples * cs->sc.devices + 1;
	double *rates = malloc(cap * sizeof(*rates)), peak = 0;
	if (!rates)
		return 0;
	for (size_t i = 1; i < cs->nr_samples; i++) {
		const struct cli_sample *a = &cs->samples[i - 1], *b = &cs->samples[i];
		double ta = (double)a->ns / 1e6, tb = (double)b->ns / 1e6;
		if (tb < v->t0 || ta > v->t1 || tb <= ta)
			continue;
		for (unsigned int d = 0; d < cs->sc.devices && n < cap; d++) {
			double rate = (double)(b->ops[d] - a->ops[d]) / (tb - ta);
			rates[n++] = rate;
			if (rate > peak)
				peak = rate;
		}
	}
	if (n >= 50) {
		qsort(rates, n, sizeof(*rates), cmp_double);
		double p99 = rates[n * 99 / 100];
		if (peak > 2 * p99 && p99 > 0)
			peak = p99 * 1.1;
	}
	free(rates);
	return peak;
}

/* Phase bars of every update inside the view, labelled where they fit. */
static void phase_strip(struct tl *t, const struct view *v, double y, bool zoom)
{
	FILE *f = t->f;
	const struct world_result *r = &t->cs->res;
	for (unsigned int u = 0; u < r->nr_upd; u++) {
		if (!t->ph_ok[u])
			continue;
		for (unsigned int p = 0; p < LU_NR_PHASES; p++) {
			double a = t->ph[u][p], b = t->ph[u][p + 1];
			/* A phase that did not run (0 us) gets no bar. */
			if (b < v->t0 || a > v->t1 || !r->upd[u].phases_us[p])
				continue;
			double x0 = vx(v, a), x1 = vx(v, b);
			if (x1 - x0 < 0.8)
				x1 = x0 + 0.8;
			char d[32];
			fmt_ms(d, sizeof(d), b - a);
			fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%d' "
				"fill='%s'><title>update %u: %s %s</title></rect>\n",
				x0, y, x1 - x0, PHASE_H, phase_color[p], u + 1,
				lu_phase_name((enum lu_phase)p), d);
			/* Zoomed: every phase named, in the first row below
			 * where its label does not run into another. */
			if (zoom) {
				char lab[64];
				snprintf(lab, sizeof(lab), "%s %s",
					 lu_phase_name((enum lu_phase)p), d);
				double cx = (x0 + x1) / 2;
				/* The first row where it overlaps nothing; with
				 * none, no label (the bar's tooltip has it). */
				unsigned int row = 0;
				while (row < LABEL_ROWS &&
				       !place(t, text_box(cx, y + PHASE_H + 14 + row * 13,
							  0.5, 11, false, lab)))
					row++;
				if (row == LABEL_ROWS)
					continue;
				double ly = y + PHASE_H + 14 + row * 13;
				fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
					"stroke='#888' stroke-width='0.6'/>\n",
					(x0 + x1) / 2, y + PHASE_H, (x0 + x1) / 2, ly - 10);
				fprintf(f, "<text x='%.1f' y='%.1f' class='ph' "
					"text-anchor='middle'>%s %s</text>\n",
					(x0 + x1) / 2, ly, lu_phase_name((enum lu_phase)p), d);
			}
		}
		double a = vx(v, t->ph[u][0]), b = vx(v, t->ph[u][LU_NR_PHASES]);
		char lab[32];
		snprintf(lab, sizeof(lab), "update %u", u + 1);
		if (!zoom && b > a &&
		    (place(t, text_box((a + b) / 2, y + PHASE_H + 14, 0.5, 11, false, lab)) ||
		     (snprintf(lab, sizeof(lab), "%u", u + 1) > 0 &&
		      place(t, text_box((a + b) / 2, y + PHASE_H + 14, 0.5, 11, false, lab)))))
			fprintf(f, "<text x='%.1f' y='%.1f' class='ph' "
				"text-anchor='middle'>%s</text>\n", (a + b) / 2,
				y + PHASE_H + 14, lab);
	}
}

/* Right of a lane: "0 faults", or each kind of error it had. */
static void error_labels(FILE *f, const struct world_dma_totals *dt, uint64_t errs,
			 double x, double y)
{
	const struct { uint64_t n; const char *what; } kinds[] = {
		{ dt->faults, "faults" }, { dt->conflicts, "conflict aborts" },
		{ dt->misdirected, "misdirected" }, { dt->lost_writes, "lost writes" },
		{ dt->bbm_violations, "BBM violations" },
		{ dt->use_after_free, "use after free" },
		{ dt->torn_config, "torn configs" },
		{ dt->stale_atc, "stale ATC entries" },
	};
	if (!errs) {
		fprintf(f, "<text x='%.1f' y='%.1f' class='good'>0 faults</text>\n"
			"<text x='%.1f' y='%.1f' class='key'>of any kind</text>\n",
			x, y + 8, x, y + 24);
		return;
	}
	unsigned int line = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && line < 3; i++)
		if (kinds[i].n)
			fprintf(f, "<text x='%.1f' y='%.1f' class='bad'>%" PRIu64
				" %s</text>\n", x, y + 16 * line++, kinds[i].n,
				kinds[i].what);
}

static void panel(struct tl *t, const struct view *v, double y, const char *title,
		  bool zoom)
{
	FILE *f = t->f;
	const struct cli_scenario *cs = t->cs;
	unsigned int nd = cs->sc.devices;
	double lanes_h = nd * (LANE_H + LANE_GAP);
	double peak = peak_rate(t, v);
	fprintf(f, "<text x='%d' y='%.1f' class='h2'>%s</text>\n", 20, y, title);
	y += 26;
	axis(t, v, y, y + lanes_h + AXIS_H + PHASE_H, y + lanes_h - LANE_GAP);
	for (unsigned int d = 0; d < nd; d++) {
		double y0 = y + d * (LANE_H + LANE_GAP);
		lane(t, v, d, y0, peak);
		const struct world_dma_totals *dt = &cs->res.dev[d];
		uint64_t errs = dt->faults + dt->conflicts + dt->misdirected +
				dt->lost_writes + dt->bbm_violations +
				dt->use_after_free + dt->torn_config +
				dt->stale_atc;
		fprintf(f, "<text x='%d' y='%.1f' class='lab'>device %u DMA</text>\n",
			LEFT - 12, y0 + 22, d);
		/* Which IOMMU unit translates it (the topology). */
		fprintf(f, "<text x='%d' y='%.1f' class='sub'>IOMMU unit %u, "
			"ops/ms (scale %.0f)</text>\n", LEFT - 12, y0 + 38,
			cs->res.dev_unit[d], peak);
		if (!zoom)
			error_labels(f, dt, errs, v->x0 + v->w + 12, y0 + 20);
	}
	/* Over the lanes, so that they do not hide the boot band's label. */
	boot_band(t, v, y - 2, y + lanes_h - LANE_GAP + 2);
	pause_bands(t, v, y - 2, y + lanes_h - LANE_GAP + 2, true);
	double py = y + lanes_h + AXIS_H;
	fprintf(f, "<text x='%d' y='%.1f' class='lab'>phases</text>\n", LEFT - 12,
		py + 22);
	phase_strip(t, v, py, zoom);
}

static void phase_key(struct tl *t, double y)
{
	FILE *f = t->f;
	double x = LEFT;
	for (unsigned int p = 0; p < LU_NR_PHASES; p++) {
		const char *n = lu_phase_name((enum lu_phase)p);
		fprintf(f, "<rect x='%.1f' y='%.1f' width='12' height='12' fill='%s'/>"
			"<text x='%.1f' y='%.1f' class='key'>%s"
			"</text>\n", x, y - 10, phase_color[p], x + 16, y, n);
		x += 24 + 7.2 * (double)strlen(n);
	}
}

int cli_report_svg(const struct cli_scenario *cs, FILE *f)
{
	static struct tl t;
	memset(&t, 0, sizeof(t));
	t.cs = cs;
	t.f = f;
	const struct world_result *r = &cs->res;
	const struct world_scenario *sc = &cs->sc;
	t.end_ms = (double)r->wall_us / 1e3;
	if (cs->nr_samples && (double)cs->samples[cs->nr_samples - 1].ns / 1e6 > t.end_ms)
		t.end_ms = (double)cs->samples[cs->nr_samples - 1].ns / 1e6;
	if (t.end_ms <= 0)
		t.end_ms = 1;
	find_pauses(&t);
	place_phases(&t);

	unsigned int nd = sc->devices;
	double panel_h = 26 + nd * (LANE_H + LANE_GAP) + AXIS_H + PHASE_H +
			 LABEL_ROWS * 13 + 50;
	bool zoom = r->nr_upd && t.ph_ok[0];
	t.nr_box = 0;
	double h = 144 + panel_h * (zoom ? 2 : 1) + 50;
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%.0f' "
		"viewBox='0 0 %d %.0f' font-family='DejaVu Sans, Helvetica, Arial, "
		"sans-serif'>\n", W, h, W, h);
	fprintf(f, "<style>text{fill:#222;font-size:13px} .h1{font-size:20px;"
		"font-weight:bold} .h2{font-size:15px;font-weight:bold} "
		".lab{font-size:13px;text-anchor:end;font-weight:bold} "
		".sub{font-size:11px;fill:#555;text-anchor:end} .key{font-size:11px;fill:#555} "
		".tick{font-size:11px;fill:#666} .band{font-size:12px;fill:#b35900;"
		"font-weight:bold} .ph{font-size:11px;fill:#333} "
		".good{fill:#1a7f37;font-weight:bold} .bad{fill:#c62828;"
		"font-weight:bold} .tp{fill:#4a90d9;fill-opacity:0.35;"
		"stroke:#1f5fa8;stroke-width:1.2} .fault{stroke:#d32f2f;"
		"stroke-width:1.5}</style>\n");
	fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");

	char gm[32];
	cli_fmt_bytes(gm, sizeof(gm), sc->guest_mem);
	fprintf(f, "<text x='20' y='32' class='h1'>Live update of the host kernel "
		"%s &#8594; %s while %u device%s DMA</text>\n", sc->from, sc->to,
		nd, nd == 1 ? "" : "s");
	fprintf(f, "<text x='20' y='54'>strategy %s%s; IOMMU %s, BBM level %u; "
		"%s guest; %u update%s%s</text>\n", cli_scenario_strategy(cs),
		sc->naive ? " (naive)" : "", pt_fmt_name(sc->fmt), sc->bbm_level,
		gm, sc->updates, sc->updates == 1 ? "" : "s",
		sc->hotplug ? "; memory hotplug during recovery" : "");
	fprintf(f, "<rect x='20' y='66' width='%d' height='28' rx='5' fill='%s'/>"
		"<text x='%d' y='86' style='fill:white;font-weight:bold;"
		"font-size:15px' text-anchor='middle'>%s</text>\n",
		r->hitless ? 110 : 100, r->hitless ? "#1a7f37" : "#c62828",
		r->hitless ? 75 : 70, r->hitless ? "HITLESS" : "FAILED");
	const struct world_dma_totals *d = &r->dma;
	fprintf(f, "<text x='%d' y='86'>%" PRIu64 " DMA ops: %" PRIu64 " faults, "
		"%" PRIu64 " conflict aborts, %" PRIu64 " misdirected, %" PRIu64
		" lost writes, %" PRIu64 " BBM violations, %" PRIu64
		" use after free", r->hitless ? 145 : 135, d->ops, d->faults,
		d->conflicts, d->misdirected, d->lost_writes, d->bbm_violations,
		d->use_after_free);
	if (r->nr_upd) {
		char b[32];
		fmt_ms(b, sizeof(b), (double)r->upd[0].blackout_us / 1e3);
		fprintf(f, "; guest blackout %s%s", b, r->nr_upd > 1 ?
			" (update 1)" : "");
	}
	fprintf(f, "</text>\n");
	/* Why it failed, when the counters do not say it. */
	const char *why = r->kernel_error[0] ? r->kernel_error : NULL;
	unsigned int why_upd = 0;
	for (unsigned int i = 0; i < r->nr_upd && !why; i++)
		if (!r->upd[i].ok && r->upd[i].error[0]) {
			why = r->upd[i].error;
			why_upd = i + 1;
		}
	if (!r->hitless && why) {
		fprintf(f, "<text x='%d' y='108' class='bad'>", r->hitless ? 145 : 135);
		if (why_upd)
			fprintf(f, "update %u: ", why_upd);
		for (const char *c = why; *c; c++) {
			if (*c == '<')
				fputs("&lt;", f);
			else if (*c == '&')
				fputs("&amp;", f);
			else if (*c == '>')
				fputs("&gt;", f);
			else
				fputc(*c, f);
		}
		fprintf(f, "</text>\n");
	}
	phase_key(&t, 130);

	struct view all = { 0, t.end_ms, LEFT, PLOT_W };
	double y = 164;
	panel(&t, &all, y, "Whole run: DMA throughput per device, guest paused "
	      "(orange), update phases", false);
	if (zoom) {
		/* One update zoomed: the only one, or the longest blackout. */
		unsigned int zu = 0;
		for (unsigned int u = 1; u < r->nr_upd; u++)
			if (t.ph_ok[u] && r->upd[u].blackout_us > r->upd[zu].blackout_us)
				zu = u;
		double a = t.ph[zu][0], b = t.ph[zu][LU_NR_PHASES];
		double pad = (b - a) * 0.15 + 2;
		struct view zv = { a - pad, b + pad, LEFT, PLOT_W };
		if (zv.t0 < 0)
			zv.t0 = 0;
		if (zv.t1 > t.end_ms)
			zv.t1 = t.end_ms;
		char title[32];
		fmt_ms(title, sizeof(title), zv.t1 - zv.t0);
		char full[160];
		if (r->nr_upd > 1)
			snprintf(full, sizeof(full), "Update %u zoomed (the longest "
				 "blackout of the %u updates; %s shown): phases as the "
				 "kernels measured them", zu + 1, r->nr_upd, title);
		else
			snprintf(full, sizeof(full), "Update 1 zoomed (%s shown): "
				 "throughput sampled every ~10 ms, phases as the kernels "
				 "measured them", title);
		panel(&t, &zv, y + panel_h, full, true);
	}
	fprintf(f, "<text x='20' y='%.0f' class='key'>"
		"Red lines: DMA faults and checker verdicts from the machine's event "
		"log (hover for detail). Phases after the guest resumed are placed "
		"end to end from their measured durations. iohandover run --help; "
		"docs/report.md.</text>\n", h - 16);
	fprintf(f, "</svg>\n");
	return 0;
}
