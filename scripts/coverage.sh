#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Line and branch coverage per folder from a --coverage build.
#
#   scripts/coverage.sh BUILD TEST...
#
# Deletes BUILD's old counters, runs every TEST (none given: only the
# report, over the counters there are) (each with a time limit;
# the machine processes and kernel generations they start write their own
# counters: exec and fork are wrapped by gcc, the machine's _exit flushes
# by hand), then asks gcov for each source file's summary and sums it per
# folder. Prints a table and writes BUILD/coverage.txt. A process killed
# with SIGKILL (the crash tests' dying kernels) writes nothing: what only
# it ran counts as not run. Exit 1 when a test fails.
set -u
build=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
[ $# -gt 0 ] && find "$build" -name '*.gcda' -delete

failed=0
for t in "$@"; do
	echo "=== coverage: $t"
	if ! timeout --kill-after=10 1200 "$t" >"$build/coverage-run.log" 2>&1; then
		tail -30 "$build/coverage-run.log"
		echo "coverage: $t failed"
		failed=1
	fi
done

# One gcov summary per source file of the library folders.
declare -A lt lh bt bh
folders=(pt ioh tsrc abi hw kho iommufd lu world cli)
for src in $(cd "$root" && ls pt/*.c ioh/*.c tsrc/*.c abi/*.c hw/*.c kho/*.c iommufd/*.c \
	lu/*.c world/*.c cli/*.c 2>/dev/null); do
	obj=$build/obj/${src%.c}.o
	[ -f "${obj%.o}.gcno" ] || continue
	out=$(gcov -n -b -o "$(dirname "$obj")" "$src" 2>/dev/null |
		awk -v f="$src" '
			/^File / { cur = ($2 == "\x27" f "\x27") }
			cur && /^Lines executed:/ { split($2, a, "%"); sub(/.*:/, "", a[1]); print "L", a[1], $NF }
			cur && /^Taken at least once:/ { split($4, a, "%"); sub(/.*:/, "", a[1]); print "B", a[1], $NF }')
	d=${src%%/*}
	while read -r kind pct total; do
		[ -z "$kind" ] && continue
		hit=$(awk -v p="$pct" -v t="$total" 'BEGIN { printf "%d", p * t / 100 + 0.5 }')
		if [ "$kind" = L ]; then
			lt[$d]=$(( ${lt[$d]:-0} + total )); lh[$d]=$(( ${lh[$d]:-0} + hit ))
		else
			bt[$d]=$(( ${bt[$d]:-0} + total )); bh[$d]=$(( ${bh[$d]:-0} + hit ))
		fi
	done <<<"$out"
done

{
	printf '%-9s %8s %8s %7s   %8s %8s %7s\n' folder lines hit line% branches taken branch%
	for d in "${folders[@]}"; do
		t=${lt[$d]:-0} h=${lh[$d]:-0} b=${bt[$d]:-0} k=${bh[$d]:-0}
		[ "$t" -eq 0 ] && continue
		printf '%-9s %8d %8d %6.1f%%   %8d %8d %6.1f%%\n' "$d" "$t" "$h" \
			"$(awk -v h="$h" -v t="$t" 'BEGIN { print 100 * h / t }')" "$b" "$k" \
			"$(awk -v h="$k" -v t="$b" 'BEGIN { print t ? 100 * h / t : 100 }')"
	done
} | tee "$build/coverage.txt"
echo "coverage: per-file detail with: gcov -b -o $build/obj/<folder> <folder>/<file>.c"
exit $failed
