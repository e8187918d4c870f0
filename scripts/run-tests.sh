#!/usr/bin/env bash
# Runs test programs (release ones, then "--", then ASan+UBSan ones, then
# "--", then ThreadSanitizer ones), each with a time limit, and sums
# cmocka's counts into one closing line.
#
# TSan programs run with tests/tsan.supp and write their reports to files:
# the machine and kernel processes they fork and exec are TSan builds too,
# and a report there does not always reach the test's exit code, so any
# report file fails the program.
set -u
passed=0 failed=0 broken=()
variants=(rel san tsan) vi=0
variant=rel
root=$(cd "$(dirname "$0")/.." && pwd)
for t in "$@"; do
	if [ "$t" = "--" ]; then vi=$((vi + 1)) variant=${variants[$vi]}; continue; fi
	echo "=== $variant: $t"
	out=$(mktemp)
	if [ "$variant" = tsan ]; then
		logs=$(mktemp -d)
		TSAN_OPTIONS="suppressions=$root/tests/tsan.supp log_path=$logs/tsan ${TSAN_OPTIONS:-}" \
			timeout --kill-after=10 600 "$t" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		if compgen -G "$logs/tsan*" >/dev/null; then
			cat "$logs"/tsan*
			echo "ThreadSanitizer: $(cat "$logs"/tsan* | grep -c '^WARNING: ThreadSanitizer') report(s) in $(basename "$t") and the processes it started"
			[ "$rc" -eq 0 ] && rc=66
		fi
		rm -rf "$logs"
	else
		timeout --kill-after=10 600 "$t" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
	fi
	p=$(grep -oE '\[  PASSED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	f=$(grep -oE '\[  FAILED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	rm -f "$out"
	passed=$((passed + p)) failed=$((failed + f))
	if [ "$rc" -ne 0 ]; then
		broken+=("$variant:$(basename "$t") (exit $rc)")
		[ "$f" -eq 0 ] && failed=$((failed + 1))
	fi
done
echo
if [ ${#broken[@]} -gt 0 ]; then
	echo "failing programs: ${broken[*]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
