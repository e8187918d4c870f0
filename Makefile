# iohandover build: GNU make, no configure step.
#
#   make            build the release variant (build/rel) and build/iohandover
#   make check      install missing Debian packages (as root), then build and
#                   run every test, normally and under ASan+UBSan, the
#                   threaded ones under TSan, unit tests under valgrind
#   make bench      run the benchmarks (release build), tables + JSON, and
#                   the full hitless matrix (build/bench/matrix.*)
#   make soak       100 live updates, random profiles, strategies, hotplug,
#                   and 20 crashes with recovery
#   make demo       the default live update scenario
#   make coverage   line and branch coverage per folder (not in check)
#   make install    PREFIX=/usr/local DESTDIR=: binary, man pages, bash
#                   completion, pt/ as libiohpt.a + iohpt.pc, docs
#   make uninstall  the same files removed
#   make qemu-check the QEMU tests at full length (QEMU as a second machine,
#                   docs/testing.md; make check runs their short version)
#
# Every part (pt ioh tsrc abi hw kho iommufd lu world) is one folder of .c
# files; each tests/test_*.c is one cmocka program; each bench/*.c one
# benchmark. New files are picked up by wildcard, so adding one needs no
# Makefile edit (a new folder goes into PARTS and docs/design.md's rule).

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC ?= cc
PARTS := pt ioh tsrc abi hw kho iommufd lu world
VARIANTS := rel san tsan cov

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2 -Wundef
BASE_CFLAGS := -std=gnu11 -g $(WARN) -I. -D_GNU_SOURCE -fno-strict-aliasing
CFLAGS_rel := -O2
CFLAGS_san := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
# ThreadSanitizer (docs/testing.md). gcc warns that TSan ignores
# atomic_thread_fence (-Wtsan): the three fences (hw/ and iommufd/) order
# the oracle seqlock and the region's publication between the host and the
# machine, which are separate processes TSan cannot see across anyway.
CFLAGS_tsan := -O1 -fno-omit-frame-pointer -fsanitize=thread -Wno-tsan
# Coverage (make coverage, docs/testing.md): gcc's --coverage at -O0.
CFLAGS_cov := -O0 --coverage -DIOH_COVERAGE
LDFLAGS_cov := --coverage
LDFLAGS_rel :=
LDFLAGS_san := -fsanitize=address,undefined
LDFLAGS_tsan := -fsanitize=thread
LDLIBS := -lfdt -lpthread -lm

# pt/ is the freestanding page-table core: no libc beyond string.h.
FREESTANDING := -ffreestanding

LIB_SRCS := $(foreach p,$(PARTS),$(wildcard $(p)/*.c))
CLI_SRCS := $(wildcard cli/*.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TEST_SRCS := $(wildcard tests/test_*.c)
BENCH_SRCS := $(wildcard bench/*.c)

obj = $(patsubst %.c,build/$(1)/obj/%.o,$(2))

define VARIANT_RULES
build/$(1)/obj/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE_CFLAGS) $$(CFLAGS_$(1)) $$(if $$(filter pt/%,$$<),$$(FREESTANDING)) -MMD -MP -c $$< -o $$@

build/$(1)/libioh.a: $(call obj,$(1),$(LIB_SRCS))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^

build/$(1)/libtest.a: $(call obj,$(1),$(TESTLIB_SRCS))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^

build/$(1)/tests/%: build/$(1)/obj/tests/%.o build/$(1)/libtest.a build/$(1)/libioh.a
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_$(1)) $$^ -lcmocka $$(LDLIBS) -o $$@

build/$(1)/bench/%: build/$(1)/obj/bench/%.o build/$(1)/libtest.a build/$(1)/libioh.a
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_$(1)) $$^ $$(LDLIBS) -o $$@

build/$(1)/iohandover: $(call obj,$(1),$(CLI_SRCS)) build/$(1)/libioh.a
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_$(1)) $$^ $$(LDLIBS) -o $$@

TESTS_$(1) := $(patsubst tests/%.c,build/$(1)/tests/%,$(TEST_SRCS))
BENCHES_$(1) := $(patsubst bench/%.c,build/$(1)/bench/%,$(BENCH_SRCS))
CLI_$(1) := $(if $(CLI_SRCS),build/$(1)/iohandover)

build-$(1): build/$(1)/libioh.a $$(TESTS_$(1)) $$(BENCHES_$(1)) $$(CLI_$(1))
endef
$(foreach v,$(VARIANTS),$(eval $(call VARIANT_RULES,$(v))))

.PHONY: install uninstall install-check man-check
.PHONY: coverage all deps check test bench demo clean fuzz fuzz-short freestanding-check standalone-check layering-check protocol-check valgrind-check soak qemu-check $(addprefix build-,$(VARIANTS))
.SECONDARY:

all: build-rel
ifneq ($(CLI_SRCS),)
all: build/iohandover
build/iohandover: build/rel/iohandover
	cp $< $@
endif

deps:
	@bash scripts/deps.sh

# The page-table core must not call into libc beyond <string.h>.
PT_OBJS_rel = $(call obj,rel,$(wildcard pt/*.c))
freestanding-check: build/rel/libioh.a
	@defined=$$(nm --defined-only $(PT_OBJS_rel) | awk 'NF == 3 {print $$3}' | sort -u); \
	bad=$$(nm -u $(PT_OBJS_rel) | awk '{print $$2}' | sort -u | \
		grep -v -x -F "$$defined" | \
		grep -v -E '^(mem(set|cpy|move|cmp)|str(cmp|ncmp|len))$$'); \
	if [ -n "$$bad" ]; then echo "pt/ is not freestanding, it calls: $$bad"; exit 1; fi; \
	echo "freestanding-check: pt/ calls nothing beyond <string.h>"

# The repository stands alone: no tracked file points at a file outside it
# (hardware facts are cited from docs/reference.md).
standalone-check:
	@bash scripts/check-standalone.sh

# The dependency rule of docs/design.md, read from the list written there.
layering-check:
	@bash scripts/check-layers.sh

# Promela model of the page-table switch (docs/protocol.md): the correct
# protocol must verify, every broken variant must be caught.
protocol-check:
	@bash proto/run.sh

# QEMU as a second machine (docs/testing.md "QEMU"): the QEMU tests at
# full length (IOH_QEMU_FULL=1), release build. make check runs them short
# with the other tests; without QEMU they skip with a message.
QEMU_TESTS = $(filter build/rel/tests/test_qemu_%,$(TESTS_rel))
qemu-check: deps
	$(MAKE) $(QEMU_TESTS)
	@IOH_QEMU_FULL=1 bash scripts/run-tests.sh $(QEMU_TESTS)

# Under TSan only what runs threads over shared memory: the machine model
# tests and the live update scenarios (whose kernels are build/tsan's
# iohandover). Suppressions: tests/tsan.supp.
# test_lu_fail is left out: its 250 short scenarios exercise the host's
# error paths, not new threads (test_lu and test_lu_crash run the same
# machine and kernels under TSan), and on a loaded machine its many
# TSan-slowed runs hit the 10 s driver and shutdown timeouts.
TSAN_TESTS := $(filter-out build/tsan/tests/test_lu_fail,$(filter \
	build/tsan/tests/test_hw_% build/tsan/tests/test_lu% \
	build/tsan/tests/test_iommufd,$(TESTS_tsan)))

# valgrind (memcheck, leaks) over the release build of the unit tests that
# stay in one process over small mappings; the rest is covered by ASan, and
# test_pt_random and test_kho_handover take minutes under valgrind.
VALGRIND_TESTS := $(addprefix build/rel/tests/,test_pt_layout test_pt_map \
	test_pt_golden test_kho_alloc test_kho_badblob test_iommufd_badblob \
	test_kho_golden test_hw_iommu test_tsrc)
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full

valgrind-check: $(VALGRIND_TESTS)
	@set -e; for t in $^; do echo "=== valgrind: $$t"; \
		$(VALGRIND) $$t >build/rel/valgrind.log 2>&1 || { cat build/rel/valgrind.log; exit 1; }; \
		grep -E '^\[  (PASSED|SKIPPED) ' build/rel/valgrind.log; done; \
	echo "valgrind-check: $(words $^) programs clean"

# One line per step with its time; everything the compilers and tests
# print goes to CHECK_LOG, whose path is printed with the failing step's
# last lines (scripts/step.sh, scripts/run-tests.sh).
CHECK_LOG ?= build/check.log
# The build step compiles on every core unless make already runs in
# parallel (-jN hands its job server down): `make check` as the README
# writes it would otherwise compile three variants one file at a time.
IOH_JOBS ?= $(shell nproc)
CHECK_JOBS = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(IOH_JOBS))
STEP = @CHECK_LOG=$(CHECK_LOG) bash scripts/step.sh
test: deps
	@mkdir -p build && : >$(CHECK_LOG) && echo "check: full output in $(CHECK_LOG)"
	$(STEP) build $(MAKE) $(CHECK_JOBS) build-rel build-san build/tsan/iohandover \
		$(TSAN_TESTS) build/fuzz/fuzz_kho_blob build/fuzz/fuzz_tsrc build/man/iohandover.1
	$(STEP) freestanding-check $(MAKE) freestanding-check
	$(STEP) standalone-check $(MAKE) standalone-check
	$(STEP) layering-check $(MAKE) layering-check
	$(STEP) protocol-check $(MAKE) protocol-check
	$(STEP) fuzz-short $(MAKE) fuzz-short
	$(STEP) valgrind-check $(MAKE) valgrind-check
	$(STEP) man-check $(MAKE) man-check
	$(STEP) install-check $(MAKE) install-check
	@CHECK_LOG=$(CHECK_LOG) bash scripts/run-tests.sh $(TESTS_rel) -- $(TESTS_san) -- $(TSAN_TESTS)

check: test

# libFuzzer target for the handover blob parser (kho). `make fuzz` runs it
# for FUZZ_SECONDS; `make check` runs a 5 s pass (fuzz-short). New inputs
# go to build/fuzz/corpus; tests/data seeds it.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := fuzz/fuzz_kho_blob.c $(wildcard kho/*.c iommufd/*.c pt/*.c) \
	abi/physmem.c ioh/ioh.c
FUZZ_RUN = build/fuzz/fuzz_kho_blob -max_len=262144 build/fuzz/corpus tests/data
build/fuzz/fuzz_kho_blob: $(FUZZ_SRCS) $(wildcard kho/*.h iommufd/*.h pt/*.h) abi/physmem.h
	@mkdir -p $(@D)/corpus
	clang $(BASE_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
		$(FUZZ_SRCS) $(LDLIBS) -o $@

# The second target, for what check reads from outside (tsrc/: debugfs
# listings, memory images), seeded from docs/examples.
FUZZ_TSRC_SRCS := fuzz/fuzz_tsrc.c $(wildcard tsrc/*.c pt/*.c)
FUZZ_TSRC_RUN = build/fuzz/fuzz_tsrc -max_len=65536 build/fuzz/corpus-tsrc build/fuzz/seed-tsrc
build/fuzz/fuzz_tsrc: $(FUZZ_TSRC_SRCS) $(wildcard tsrc/*.h pt/*.h) $(wildcard docs/examples/*)
	@mkdir -p $(@D)/corpus-tsrc $(@D)/seed-tsrc
	@for f in docs/examples/*; do case $$f in \
		*.txt) { printf '\000'; cat $$f; } > $(@D)/seed-tsrc/$$(basename $$f) ;; \
		*.img) { printf '\005\002\060'; cat $$f; } > $(@D)/seed-tsrc/$$(basename $$f) ;; \
		esac; done
	clang $(BASE_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
		$(FUZZ_TSRC_SRCS) -o $@

fuzz: deps build/fuzz/fuzz_kho_blob build/fuzz/fuzz_tsrc
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)
	$(FUZZ_TSRC_RUN) -max_total_time=$(FUZZ_SECONDS)

fuzz-short: build/fuzz/fuzz_kho_blob build/fuzz/fuzz_tsrc
	@if $(FUZZ_RUN) -max_total_time=5 >build/fuzz/short.log 2>&1; then \
		echo "fuzz-short: kho blob parser, 5 s, $$(grep -c NEW build/fuzz/short.log) new inputs, no crash"; \
	else tail -40 build/fuzz/short.log; exit 1; fi
	@if $(FUZZ_TSRC_RUN) -max_total_time=5 >build/fuzz/short-tsrc.log 2>&1; then \
		echo "fuzz-short: debugfs and image readers, 5 s, $$(grep -c NEW build/fuzz/short-tsrc.log) new inputs, no crash"; \
	else tail -40 build/fuzz/short-tsrc.log; exit 1; fi

# Every device setup but plain (which the full matrix above runs).
MATRIX_SETUPS := ats,ats-naive,partial,partial-naive,pasid,pasid-replay,pasid-naive,nested,nested-naive,nested-s1,units8,units8-naive
bench: deps
	$(MAKE) build-rel
	@mkdir -p build/bench
	@set -e; for b in $(filter-out build/rel/bench/soak,$(BENCHES_rel)); do echo "== $$b"; $$b --json build/bench/$$(basename $$b).json; done
	@echo "== iohandover matrix (every format, BBM level, profile pair, strategy)"
	build/rel/iohandover matrix --json build/bench/matrix.json \
		--md build/bench/matrix.md --html build/bench/matrix.html
	@echo "== iohandover matrix --devices (ATS, partial preservation, PASIDs, nesting, naive variants)"
	build/rel/iohandover matrix --devices $(MATRIX_SETUPS) --formats arm-s2,vtd-ss \
		--profiles v1,v2 --json build/bench/matrix-devices.json \
		--md build/bench/matrix-devices.md --html build/bench/matrix-devices.html

# 100 live updates with random profiles, strategies and hotplug under DMA,
# then 20 with a kernel killed at a random point and recovered
# (bench/soak.c), at most SOAK_SECONDS; table + build/bench/soak.json.
# SOAK_SEED replays a run (the seed is printed).
SOAK_SECONDS ?= 300
SOAK_ARGS = --updates 100 --crashes 20 --max-seconds $(SOAK_SECONDS) $(if $(SOAK_SEED),--seed $(SOAK_SEED))
soak: deps
	$(MAKE) build/rel/bench/soak build/rel/iohandover
	@mkdir -p build/bench
	build/rel/bench/soak $(SOAK_ARGS) --json build/bench/soak.json

# Every unit and scenario test over a --coverage build (the machine and
# the exec'd kernels included), then line and branch coverage per folder
# (scripts/coverage.sh; gcov only). Not part of make check: a few minutes.
coverage: deps
	$(MAKE) build-cov
	@bash scripts/coverage.sh build/cov $(TESTS_cov)

demo: deps
	$(MAKE) all
	@bash scripts/demo.sh

# ---- install (docs/install.md) -------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its man pages
# (generated from the --help texts by scripts/gen-man.sh), bash completion,
# pt/ as libiohpt.a with its headers and iohpt.pc, and the docs.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/iohandover
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
VERSION := $(shell sed -n 's/^\#define IOH_VERSION "\(.*\)"/\1/p' ioh/version.h)
PT_HEADERS := pt/pt.h pt/pt_fmt.h
DOCS := README.md $(wildcard docs/*.md) $(wildcard docs/*.schema.json)
EXAMPLES := $(wildcard docs/examples/*)

build/rel/libiohpt.a: $(PT_OBJS_rel)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

build/iohpt.pc: scripts/install/iohpt.pc.in ioh/version.h
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' $< > $@

build/man/iohandover.1: build/iohandover scripts/gen-man.sh
	@bash scripts/gen-man.sh build/iohandover build/man

# Every page: lexgrog finds its NAME line, man --warnings has nothing to say.
man-check: build/man/iohandover.1
	@set -e; for f in build/man/*.1; do \
		lexgrog "$$f" >/dev/null || { echo "man-check: lexgrog cannot read $$f"; exit 1; }; \
		w=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$$f" 2>&1 >/dev/null); \
		if [ -n "$$w" ]; then echo "man-check: $$f:"; echo "$$w"; exit 1; fi; \
	done; echo "man-check: $$(ls build/man/*.1 | wc -l) pages, lexgrog and man --warnings clean"

install: all build/rel/libiohpt.a build/iohpt.pc build/man/iohandover.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/iohandover/pt \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 build/iohandover $(DESTDIR)$(BINDIR)/iohandover
	install -m 644 build/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 scripts/install/iohandover.bash $(DESTDIR)$(COMPLETIONDIR)/iohandover
	install -m 644 build/rel/libiohpt.a $(DESTDIR)$(LIBDIR)/libiohpt.a
	install -m 644 $(PT_HEADERS) $(DESTDIR)$(INCLUDEDIR)/iohandover/pt/
	install -m 644 build/iohpt.pc $(DESTDIR)$(LIBDIR)/pkgconfig/iohpt.pc
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/iohandover $(DESTDIR)$(MANDIR)/man1/iohandover.1 \
		$(DESTDIR)$(MANDIR)/man1/iohandover-*.1 \
		$(DESTDIR)$(COMPLETIONDIR)/iohandover $(DESTDIR)$(LIBDIR)/libiohpt.a \
		$(DESTDIR)$(LIBDIR)/pkgconfig/iohpt.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/iohandover $(DESTDIR)$(DOCDIR)

# Install into a temporary DESTDIR, build tests/install/pt-hello.c
# against the installed pt/ with pkg-config, run it, run the installed
# binary, uninstall, and find nothing left.
install-check:
	@bash scripts/install-check.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
