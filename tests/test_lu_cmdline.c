// SPDX-License-Identifier: MIT
/*
 * A kernel generation's command line (lu/cmdline.h) and strategies that
 * plug in. Every option of the table survives lu_cmdline_to_argv and
 * lu_cmdline_parse, defaults and non-defaults alike; bad options and
 * values are refused naming the option; and a strategy registered by this
 * test build runs whole live updates: this program is also the kernel
 * binary of its own scenarios (argv[1] "kernel"), so every generation
 * knows the strategy, as a kernel built with one more lu/strat_*.c would.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lu/gen.h"
#include "world/world.h"

/* ---- a strategy of this test build -------------------------------------- */

/*
 * trust: re-pin the guest and own the preserved table as it is, without
 * checking it against the intent. Hitless on sound tables; unlike verify
 * it keeps a table the intent disagrees with, which is how the tests
 * below tell it ran.
 */
static int trust_restore(struct lu_gen *g, struct iommufd_hwpt *old,
			 const struct iommufd_hwpt_rec *rec)
{
	(void)rec;
	int err = lu_replay(g);
	if (!err)
		old->immutable = false;
	return err;
}

static const struct lu_strategy trust = {
	.name = "trust",
	.summary = "own the preserved tables unchecked (test build)",
	.early_resume = true,
	.restore = trust_restore,
};

/* ---- the command line ---------------------------------------------------- */

static struct lu_gen_cfg defaults(void)
{
	struct lu_gen_cfg c;
	lu_gen_cfg_defaults(&c);
	return c;
}

/* Give option o a value other than its default (strings point at buf). */
static void set_other(const struct lu_opt *o, struct lu_gen_cfg *c, char *buf)
{
	void *p = (char *)c + o->offset;
	switch (o->type) {
	case LU_OPT_FD:
		*(int *)p = 7;
		break;
	case LU_OPT_UINT:
		/* preserve: at most the default --devices, 2. */
		*(unsigned int *)p = !strcmp(o->name, "preserve") ? 1u :
			(unsigned int)(o->max > 3 ? 3 : o->max);
		break;
	case LU_OPT_U64:
		*(uint64_t *)p = 0x123456789ull;
		break;
	case LU_OPT_BOOL:
		*(bool *)p = true;
		break;
	case LU_OPT_STR:
		snprintf(buf, 64, "value of %s", o->name);
		*(const char **)p = buf;
		break;
	case LU_OPT_CHOICE: {
		unsigned int n = 0;
		while (o->choices[n])
			n++;
		*(const char **)p = o->choices[n - 1];
		break;
	}
	case LU_OPT_STRATEGY:
		*(const struct lu_strategy **)p = &lu_strategy_verify;
		break;
	case LU_OPT_FORMAT:
		*(enum pt_format_id *)p = PT_FMT_X86_64;
		break;
	case LU_OPT_MIX:
		*(struct kho_memfd_mix *)p = (struct kho_memfd_mix){
			.ppm_1g = 123, .ppm_4k = 456, .seed = 789, .scatter_4k = true };
		break;
	case LU_OPT_PA:
		*(struct lu_opt_pa *)p = (struct lu_opt_pa){ true, 0 };
		break;
	case LU_OPT_PAS:
		*(struct lu_opt_pas *)p = (struct lu_opt_pas){
			{ 0x1000, 0, 0xfffffffff000ull }, 3 };
		break;
	default:
		fail_msg("option --%s: a type this test cannot give a value", o->name);
	}
}

/* Write c, parse it back, compare. */
static void round_trip(const struct lu_gen_cfg *c)
{
	struct lu_argv av;
	struct lu_gen_cfg back;
	char err[256] = "";
	assert_int_equal(lu_cmdline_to_argv(c, "/bin/kernel", &av), 0);
	assert_string_equal(av.argv[0], "/bin/kernel");
	assert_string_equal(av.argv[1], LU_KERNEL_VERB);
	assert_null(av.argv[av.argc]);
	int rc = lu_cmdline_parse((int)av.argc - 1, av.argv + 1, &back, err,
				  sizeof(err));
	if (rc)
		fail_msg("parse: %s", err);
	assert_true(lu_gen_cfg_equal(c, &back));
	lu_argv_free(&av);
}

/* The fds a kernel cannot start without, so that parse accepts. */
static void machine(struct lu_gen_cfg *c)
{
	c->physmem_fd = 3;
	c->region_fd = 4;
}

static void test_defaults_write_nothing(void **state)
{
	(void)state;
	struct lu_gen_cfg c = defaults();
	struct lu_argv av;
	assert_int_equal(lu_cmdline_to_argv(&c, "k", &av), 0);
	assert_int_equal(av.argc, 2);
	lu_argv_free(&av);
	machine(&c);
	round_trip(&c);
}

static void test_every_option_round_trips(void **state)
{
	(void)state;
	static char bufs[64][64];
	assert_true(lu_nr_gen_options <= 64);
	struct lu_gen_cfg all = defaults();
	for (unsigned int i = 0; i < lu_nr_gen_options; i++) {
		const struct lu_opt *o = &lu_gen_options[i];
		/* Alone: the option is written and read back. */
		struct lu_gen_cfg one = defaults(), def = defaults();
		machine(&one);
		machine(&def);
		set_other(o, &one, bufs[i]);
		if (lu_gen_cfg_equal(&one, &def))
			fail_msg("--%s: the test's value is the default", o->name);
		round_trip(&one);
		set_other(o, &all, bufs[i]);
	}
	/* All together. */
	round_trip(&all);
}

static void test_extremes_round_trip(void **state)
{
	(void)state;
	struct lu_gen_cfg c = defaults();
	machine(&c);
	c.guest_size = UINT64_MAX;
	c.t_pause_ns = UINT64_MAX - 1;
	c.handover = (struct lu_opt_pa){ true, UINT64_MAX };
	c.va_bits = 64;
	c.devices = HW_MAX_DEVS;
	c.preserve = HW_MAX_DEVS;
	c.pasids = LU_MAX_PASIDS;
	c.physmem_fd = INT32_MAX;
	c.candidates.n = LU_MAX_CANDIDATES;
	for (unsigned int i = 0; i < LU_MAX_CANDIDATES; i++)
		c.candidates.pa[i] = UINT64_MAX - i;
	c.profile = "a \"quoted\", spaced profile";
	c.strategy = &trust;
	round_trip(&c);
}

/* parse's verdict on one command line ("kernel" first). */
static int parse_line(const char *line, char *err, size_t len)
{
	char buf[512], *argv[32];
	int argc = 0;
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *save, *t = strtok_r(buf, " ", &save); t && argc < 31;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	struct lu_gen_cfg c = defaults();
	struct lu_gen_cfg before = c;
	int rc = lu_cmdline_parse(argc, argv, &c, err, len);
	/* A refused line leaves the configuration as it was. */
	if (rc)
		assert_true(lu_gen_cfg_equal(&c, &before));
	return rc;
}

static void test_bad_lines_name_the_option(void **state)
{
	(void)state;
	static const struct {
		const char *line, *msg;
	} bad[] = {
		{ "kernel --region-fd 4", "--physmem-fd and --region-fd" },
		{ "kernel --physmem-fd 3 --region-fd 4 --devices 0", "--devices" },
		{ "kernel --physmem-fd 3 --region-fd 4 --devices 17", "--devices" },
		{ "kernel --physmem-fd 3 --region-fd 4 --devices 2 --preserve 3",
		  "--preserve: 3 devices to preserve, but only 2" },
		{ "kernel --physmem-fd 3 --region-fd 4 --pasids 1048576", "--pasids" },
		{ "kernel --physmem-fd 3 --region-fd 4 --va-bits 65", "--va-bits" },
		{ "kernel --physmem-fd -1 --region-fd 4", "--physmem-fd" },
		{ "kernel --physmem-fd 3 --region-fd 4 --strategy frob", "--strategy" },
		{ "kernel --physmem-fd 3 --region-fd 4 --format frob", "--format" },
		{ "kernel --physmem-fd 3 --region-fd 4 --inject frob", "--inject" },
		{ "kernel --physmem-fd 3 --region-fd 4 --crash-at frob", "--crash-at" },
		{ "kernel --physmem-fd 3 --region-fd 4 --mix 1g=2000000", "--mix" },
		{ "kernel --physmem-fd 3 --region-fd 4 --candidates 1,,x", "--candidates" },
		{ "kernel --physmem-fd 3 --region-fd 4 --guest-size 99999999999T",
		  "--guest-size" },
		{ "kernel --physmem-fd 3 --region-fd 4 --run-ms", "--run-ms" },
		{ "kernel --physmem-fd 3 --region-fd 4 --keep-fd 5", "--keep-fd" },
		{ "kernel --physmem-fd 3 --region-fd 4 frob", "frob" },
		{ "kernel --physmem-fd 3 --region-fd 4 --handover nowhere",
		  "--handover: 'nowhere' is not an address" },
		{ "kernel --physmem-fd 3 --region-fd 4 --mix 4k=2000000",
		  "--mix: bad spec" },
		{ "kernel --physmem-fd 3 --region-fd 4 --mix scatter=2",
		  "--mix: bad spec" },
		{ "kernel --physmem-fd 3 --region-fd 4 --physmem-fd 99999999999",
		  "--physmem-fd" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		if (!parse_line(bad[i].line, err, sizeof(err)))
			fail_msg("accepted: %s", bad[i].line);
		if (!strstr(err, bad[i].msg))
			fail_msg("'%s': message '%s' does not name %s", bad[i].line,
				 err, bad[i].msg);
	}
	char err[256];
	assert_int_equal(parse_line("kernel --physmem-fd 3 --region-fd 4 "
				    "--guest-size 2G --hotplug --strategy trust",
				    err, sizeof(err)), 0);
}

/* ---- strategies ---------------------------------------------------------- */

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(lu_strategy_find("rebuild"), &lu_strategy_rebuild);
	assert_ptr_equal(lu_strategy_find("trust"), &trust);
	assert_null(lu_strategy_find("frob"));
	assert_int_equal(lu_strategy_register(&trust), -EEXIST);
	assert_int_equal(lu_strategy_register(NULL), -EINVAL);
	unsigned int i = lu_strategy_index(&trust);
	assert_true(i < lu_nr_strategies());
	assert_ptr_equal(lu_strategy_at(i), &trust);
	assert_null(lu_strategy_at(lu_nr_strategies()));
	assert_non_null(strstr(lu_strategy_names(), "trust"));
	for (unsigned int k = 0; k < lu_nr_strategies(); k++)
		assert_non_null(lu_strategy_at(k)->restore);
	/* Refused: no name, no restore, a name too long; none of it added. */
	const struct lu_strategy noname = { .restore = trust.restore };
	const struct lu_strategy norestore = { .name = "norestore" };
	const struct lu_strategy longname = {
		.name = "a-strategy-name-of-24-chars", .restore = trust.restore };
	const struct lu_strategy unlisted = { .name = "unlisted",
					      .restore = trust.restore };
	unsigned int n = lu_nr_strategies();
	assert_int_equal(lu_strategy_register(&noname), -EINVAL);
	assert_int_equal(lu_strategy_register(&norestore), -EINVAL);
	assert_int_equal(lu_strategy_register(&longname), -EINVAL);
	assert_int_equal(lu_nr_strategies(), n);
	assert_int_equal(lu_strategy_index(&unlisted), LU_MAX_STRATEGIES);
	/* Until the table is full (the rest of this process sees them). */
	static struct lu_strategy extra[LU_MAX_STRATEGIES];
	static char names[LU_MAX_STRATEGIES][16];
	int err = 0;
	for (unsigned int k = 0; k < LU_MAX_STRATEGIES && !err; k++) {
		snprintf(names[k], sizeof(names[k]), "extra%u", k);
		extra[k] = (struct lu_strategy){ .name = names[k],
						 .restore = trust.restore };
		err = lu_strategy_register(&extra[k]);
	}
	assert_int_equal(err, -ENOSPC);
	assert_null(lu_strategy_find(names[lu_nr_strategies() - n]));
}

static char self[PATH_MAX];

static void run_with(const struct lu_strategy *s, const char *inject,
		     struct world_result *r)
{
	struct world_scenario sc;
	world_scenario_default(&sc);
	sc.kernel_path = self;
	sc.guest_mem = 64ull << 20;
	sc.run_ms = 30;
	sc.strategy = s;
	sc.inject = inject;
	assert_int_equal(world_run(&sc, r), 0);
	printf("  %s%s%s: status %d, %s, update %s%s%s\n", s->name,
	       inject ? " with " : "", inject ? inject : "", r->kernel_status,
	       r->hitless ? "hitless" : "NOT hitless",
	       r->nr_upd && r->upd[0].ok ? "ok" : "failed",
	       r->nr_upd && r->upd[0].error[0] ? ": " : "",
	       r->nr_upd ? r->upd[0].error : "");
}

static void test_registered_strategy_updates(void **state)
{
	(void)state;
	struct world_result r;
	run_with(&trust, NULL, &r);
	assert_true(r.hitless);
	assert_int_equal(r.nr_upd, 1);
	assert_string_equal(r.upd[0].strategy, "trust");
	assert_int_equal(r.dma.faults, 0);
	world_result_free(&r);

	/* A table the intent disagrees with: verify refuses it, trust (which
	 * never looks) keeps it: so it was trust's restore that ran. */
	run_with(&lu_strategy_verify, "table-prot", &r);
	assert_false(r.upd[0].ok);
	assert_non_null(strstr(r.upd[0].error, "disagrees with the intent"));
	world_result_free(&r);
	run_with(&trust, "table-prot", &r);
	assert_true(r.upd[0].ok);
	assert_string_equal(r.upd[0].strategy, "trust");
	world_result_free(&r);
}

int main(int argc, char **argv)
{
	if (lu_strategy_register(&trust))
		return 3;
	/* As the kernel binary of the scenarios below. */
	if (argc > 1 && !strcmp(argv[1], LU_KERNEL_VERB)) {
		struct lu_gen_cfg c;
		char err[256];
		if (lu_cmdline_parse(argc - 1, argv + 1, &c, err, sizeof(err))) {
			fprintf(stderr, "test_lu_cmdline: kernel: %s\n", err);
			return LU_EXIT_INPUT;
		}
		return lu_kernel_main(&c);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 3;
	self[n] = '\0';
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_write_nothing),
		cmocka_unit_test(test_every_option_round_trips),
		cmocka_unit_test(test_extremes_round_trip),
		cmocka_unit_test(test_bad_lines_name_the_option),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_registered_strategy_updates),
	};
	return cmocka_run_group_tests_name("lu_cmdline", tests, NULL, NULL);
}
