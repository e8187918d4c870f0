// SPDX-License-Identifier: MIT
/*
 * cmdline: the option table generated from LU_GEN_OPTIONS (lu/cmdline.h),
 * the defaults, and the writer and parser every generation's command line
 * goes through.
 */
#include "lu/lu.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LU_OPT_ROW(T, field, oname, def, omax, ochoices, ohelp)               \
	{ .type = LU_OPT_##T, .name = oname,                                  \
	  .offset = offsetof(struct lu_gen_cfg, field), .max = (omax),        \
	  .choices = (ochoices), .help = ohelp },
const struct lu_opt lu_gen_options[] = { LU_GEN_OPTIONS(LU_OPT_ROW) };
#undef LU_OPT_ROW
const unsigned int lu_nr_gen_options =
	sizeof(lu_gen_options) / sizeof(lu_gen_options[0]);

void lu_gen_cfg_defaults(struct lu_gen_cfg *c)
{
#define LU_OPT_DEFAULT(T, field, oname, def, ...) .field = def,
	*c = (struct lu_gen_cfg){ LU_GEN_OPTIONS(LU_OPT_DEFAULT) };
#undef LU_OPT_DEFAULT
}

/* ---- values as the table sees them -------------------------------------- */

#define FIELD(c, o, type) ((type *)((char *)(c) + (o)->offset))
#define CFIELD(c, o, type) ((const type *)((const char *)(c) + (o)->offset))

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool mix_eq(const struct kho_memfd_mix *a, const struct kho_memfd_mix *b)
{
	return a->ppm_1g == b->ppm_1g && a->ppm_4k == b->ppm_4k &&
	       a->seed == b->seed && a->scatter_4k == b->scatter_4k;
}

static bool opt_equal(const struct lu_opt *o, const struct lu_gen_cfg *a,
		      const struct lu_gen_cfg *b)
{
	switch (o->type) {
	case LU_OPT_FD:
		return *CFIELD(a, o, int) == *CFIELD(b, o, int);
	case LU_OPT_UINT:
		return *CFIELD(a, o, unsigned int) == *CFIELD(b, o, unsigned int);
	case LU_OPT_U64:
		return *CFIELD(a, o, uint64_t) == *CFIELD(b, o, uint64_t);
	case LU_OPT_BOOL:
		return *CFIELD(a, o, bool) == *CFIELD(b, o, bool);
	case LU_OPT_STR:
	case LU_OPT_CHOICE:
		return str_eq(*CFIELD(a, o, const char *), *CFIELD(b, o, const char *));
	case LU_OPT_STRATEGY:
		return *CFIELD(a, o, const struct lu_strategy *) ==
		       *CFIELD(b, o, const struct lu_strategy *);
	case LU_OPT_FORMAT:
		return *CFIELD(a, o, enum pt_format_id) ==
		       *CFIELD(b, o, enum pt_format_id);
	case LU_OPT_MIX:
		return mix_eq(CFIELD(a, o, struct kho_memfd_mix),
			      CFIELD(b, o, struct kho_memfd_mix));
	case LU_OPT_PA: {
		const struct lu_opt_pa *x = CFIELD(a, o, struct lu_opt_pa);
		const struct lu_opt_pa *y = CFIELD(b, o, struct lu_opt_pa);
		return x->set == y->set && (!x->set || x->pa == y->pa);
	}
	case LU_OPT_PAS: {
		const struct lu_opt_pas *x = CFIELD(a, o, struct lu_opt_pas);
		const struct lu_opt_pas *y = CFIELD(b, o, struct lu_opt_pas);
		if (x->n != y->n)
			return false;
		for (unsigned int i = 0; i < x->n; i++)
			if (x->pa[i] != y->pa[i])
				return false;
		return true;
	}
	}
	return false;
}

bool lu_gen_cfg_equal(const struct lu_gen_cfg *a, const struct lu_gen_cfg *b)
{
	for (unsigned int i = 0; i < lu_nr_gen_options; i++)
		if (!opt_equal(&lu_gen_options[i], a, b))
			return false;
	return true;
}

/* ---- writing ------------------------------------------------------------- */

/* The value of o in c as its option's argument; NULL for none (a flag). */
static int opt_format(const struct lu_opt *o, const struct lu_gen_cfg *c,
		      char **out)
{
	char *s = NULL;
	int n = 0;
	switch (o->type) {
	case LU_OPT_FD:
		n = asprintf(&s, "%d", *CFIELD(c, o, int));
		break;
	case LU_OPT_UINT:
		n = asprintf(&s, "%u", *CFIELD(c, o, unsigned int));
		break;
	case LU_OPT_U64:
		n = asprintf(&s, "%" PRIu64, *CFIELD(c, o, uint64_t));
		break;
	case LU_OPT_BOOL:
		*out = NULL;
		return 0;
	case LU_OPT_STR:
	case LU_OPT_CHOICE: {
		const char *v = *CFIELD(c, o, const char *);
		s = strdup(v ? v : "");
		break;
	}
	case LU_OPT_STRATEGY: {
		const struct lu_strategy *st = *CFIELD(c, o, const struct lu_strategy *);
		if (!st || lu_strategy_find(st->name) != st)
			return -EINVAL;
		s = strdup(st->name);
		break;
	}
	case LU_OPT_FORMAT:
		s = strdup(pt_fmt_name(*CFIELD(c, o, enum pt_format_id)));
		break;
	case LU_OPT_MIX: {
		const struct kho_memfd_mix *m = CFIELD(c, o, struct kho_memfd_mix);
		n = asprintf(&s, "1g=%" PRIu32 ",4k=%" PRIu32 ",seed=%" PRIu64
			     ",scatter=%d", m->ppm_1g, m->ppm_4k, m->seed,
			     m->scatter_4k ? 1 : 0);
		break;
	}
	case LU_OPT_PA:
		n = asprintf(&s, "0x%" PRIx64, CFIELD(c, o, struct lu_opt_pa)->pa);
		break;
	case LU_OPT_PAS: {
		const struct lu_opt_pas *p = CFIELD(c, o, struct lu_opt_pas);
		size_t len = 0;
		FILE *f = open_memstream(&s, &len);
		if (!f)
			return -ENOMEM;
		for (unsigned int i = 0; i < p->n; i++)
			fprintf(f, "%s0x%" PRIx64, i ? "," : "", p->pa[i]);
		if (fclose(f))
			n = -1;
		break;
	}
	}
	if (n < 0 || !s) {
		if (n >= 0)
			free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void lu_argv_free(struct lu_argv *av)
{
	for (unsigned int i = 0; av->argv && i < av->argc; i++)
		free(av->argv[i]);
	free(av->argv);
	*av = (struct lu_argv){ 0 };
}

static int argv_push(struct lu_argv *av, char *s)
{
	if (!s)
		return -ENOMEM;
	av->argv[av->argc++] = s;
	return 0;
}

int lu_cmdline_to_argv(const struct lu_gen_cfg *c, const char *exe,
		       struct lu_argv *out)
{
	struct lu_gen_cfg def;
	struct lu_argv av = { 0 };
	lu_gen_cfg_defaults(&def);
	av.argv = calloc(2 * lu_nr_gen_options + 3, sizeof(char *));
	if (!av.argv)
		return -ENOMEM;
	int err = argv_push(&av, strdup(exe)) ?: argv_push(&av, strdup(LU_KERNEL_VERB));
	for (unsigned int i = 0; i < lu_nr_gen_options && !err; i++) {
		const struct lu_opt *o = &lu_gen_options[i];
		if (opt_equal(o, c, &def))
			continue;
		char *flag, *val;
		if (asprintf(&flag, "--%s", o->name) < 0)
			flag = NULL;
		err = argv_push(&av, flag);
		if (!err)
			err = opt_format(o, c, &val);
		if (!err && val)
			err = argv_push(&av, val);
	}
	if (err) {
		lu_argv_free(&av);
		return err;
	}
	*out = av;
	return 0;
}

/* ---- parsing ------------------------------------------------------------- */

static int perr(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int lu_parse_num(const char *s, uint64_t *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	unsigned int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && x > (UINT64_MAX >> shift)))
		return -EINVAL;
	*v = (uint64_t)x << shift;
	return 0;
}

int lu_parse_mix(const char *s, struct kho_memfd_mix *mix)
{
	char buf[128];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;
		if (!eq || lu_parse_num(eq + 1, &v))
			return -EINVAL;
		*eq = '\0';
		if (!strcmp(tok, "1g") && v <= 1000000)
			mix->ppm_1g = (uint32_t)v;
		else if (!strcmp(tok, "4k") && v <= 1000000)
			mix->ppm_4k = (uint32_t)v;
		else if (!strcmp(tok, "seed"))
			mix->seed = v;
		else if (!strcmp(tok, "scatter") && v <= 1)
			mix->scatter_4k = v;
		else
			return -EINVAL;
	}
	return 0;
}

static int parse_pas(const char *s, struct lu_opt_pas *p)
{
	char buf[LU_MAX_CANDIDATES * 24];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	p->n = 0;
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (p->n == LU_MAX_CANDIDATES || lu_parse_num(tok, &p->pa[p->n]))
			return -EINVAL;
		p->n++;
	}
	return 0;
}

static int parse_value(const struct lu_opt *o, const char *v,
		       struct lu_gen_cfg *c, char *err, size_t len)
{
	uint64_t x;
	switch (o->type) {
	case LU_OPT_FD:
		if (lu_parse_num(v, &x) || x > INT32_MAX)
			return perr(err, len, "--%s: '%s' is not a descriptor",
				    o->name, v);
		*FIELD(c, o, int) = (int)x;
		return 0;
	case LU_OPT_UINT:
	case LU_OPT_U64:
		if (lu_parse_num(v, &x) || x > o->max)
			return perr(err, len, "--%s: '%s' is not a number up to "
				    "%" PRIu64, o->name, v, o->max);
		if (o->type == LU_OPT_UINT)
			*FIELD(c, o, unsigned int) = (unsigned int)x;
		else
			*FIELD(c, o, uint64_t) = x;
		return 0;
	case LU_OPT_BOOL:
		*FIELD(c, o, bool) = true;
		return 0;
	case LU_OPT_STR:
		*FIELD(c, o, const char *) = v;
		return 0;
	case LU_OPT_CHOICE:
		for (unsigned int k = 0; o->choices[k]; k++)
			if (!strcmp(v, o->choices[k])) {
				*FIELD(c, o, const char *) = o->choices[k];
				return 0;
			}
		return perr(err, len, "--%s: unknown '%s'", o->name, v);
	case LU_OPT_STRATEGY: {
		const struct lu_strategy *s = lu_strategy_find(v);
		if (!s)
			return perr(err, len, "--%s: unknown '%s' (known: %s)",
				    o->name, v, lu_strategy_names());
		*FIELD(c, o, const struct lu_strategy *) = s;
		return 0;
	}
	case LU_OPT_FORMAT:
		if (pt_fmt_by_name(v, FIELD(c, o, enum pt_format_id)))
			return perr(err, len, "--%s: unknown '%s'", o->name, v);
		return 0;
	case LU_OPT_MIX:
		if (lu_parse_mix(v, FIELD(c, o, struct kho_memfd_mix)))
			return perr(err, len, "--%s: bad spec '%s'", o->name, v);
		return 0;
	case LU_OPT_PA:
		if (lu_parse_num(v, &x))
			return perr(err, len, "--%s: '%s' is not an address",
				    o->name, v);
		*FIELD(c, o, struct lu_opt_pa) = (struct lu_opt_pa){ true, x };
		return 0;
	case LU_OPT_PAS:
		if (parse_pas(v, FIELD(c, o, struct lu_opt_pas)))
			return perr(err, len, "--%s: bad list '%s'", o->name, v);
		return 0;
	}
	return perr(err, len, "--%s: unhandled option type", o->name);
}

static const struct lu_opt *opt_find(const char *arg)
{
	if (strncmp(arg, "--", 2))
		return NULL;
	for (unsigned int i = 0; i < lu_nr_gen_options; i++)
		if (!strcmp(arg + 2, lu_gen_options[i].name))
			return &lu_gen_options[i];
	return NULL;
}

int lu_cmdline_parse(int argc, char *const argv[], struct lu_gen_cfg *c,
		     char *err, size_t errlen)
{
	struct lu_gen_cfg t;
	lu_gen_cfg_defaults(&t);
	for (int i = 1; i < argc; i++) {
		const struct lu_opt *o = opt_find(argv[i]);
		if (!o)
			return perr(err, errlen, "unknown option: %s", argv[i]);
		const char *v = NULL;
		if (o->type != LU_OPT_BOOL) {
			if (i + 1 >= argc)
				return perr(err, errlen, "--%s needs a value", o->name);
			v = argv[++i];
		}
		int e = parse_value(o, v, &t, err, errlen);
		if (e)
			return e;
	}
	if (t.physmem_fd < 0 || t.region_fd < 0)
		return perr(err, errlen, "--physmem-fd and --region-fd are both needed");
	if (!t.devices)
		return perr(err, errlen, "--devices: 1 to %u", HW_MAX_DEVS);
	if (t.preserve > t.devices)
		return perr(err, errlen, "--preserve: %u devices to preserve, but "
			    "only %u (--devices)", t.preserve, t.devices);
	*c = t;
	return 0;
}
