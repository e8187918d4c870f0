#!/usr/bin/env bash
# Runs test programs (release ones, then "--", then ASan+UBSan ones, then
# "--", then ThreadSanitizer ones), each with a time limit, and sums
# cmocka's counts into one closing line.
#
# TSan programs run with tests/tsan.supp and write their reports to files:
# the machine and kernel processes they fork and exec are TSan builds too,
# and a report there does not always reach the test's exit code, so any
# report file fails the program.
#
# With CHECK_LOG set (make check), each program's output goes to that log
# and one line per program is printed (variant, name, counts, time); a
# failing program's last lines are shown with the log's path.
set -u
log=${CHECK_LOG:-}
passed=0 failed=0 broken=()
variants=(rel san tsan) vi=0
variant=rel
root=$(cd "$(dirname "$0")/.." && pwd)
for t in "$@"; do
	if [ "$t" = "--" ]; then vi=$((vi + 1)) variant=${variants[$vi]}; continue; fi
	out=$(mktemp)
	start=$(date +%s.%N)
	if [ -z "$log" ]; then
		echo "=== $variant: $t"
		sink=/dev/stdout
	else
		echo "=== $variant: $t" >>"$log"
		sink=$log
	fi
	if [ "$variant" = tsan ]; then
		logs=$(mktemp -d)
		TSAN_OPTIONS="suppressions=$root/tests/tsan.supp log_path=$logs/tsan ${TSAN_OPTIONS:-}" \
			timeout --kill-after=10 600 "$t" 2>&1 | tee "$out" >>"$sink"
		rc=${PIPESTATUS[0]}
		if compgen -G "$logs/tsan*" >/dev/null; then
			{
				cat "$logs"/tsan*
				echo "ThreadSanitizer: $(cat "$logs"/tsan* | grep -c '^WARNING: ThreadSanitizer') report(s) in $(basename "$t") and the processes it started"
			} | tee -a "$out" >>"$sink"
			[ "$rc" -eq 0 ] && rc=66
		fi
		rm -rf "$logs"
	else
		timeout --kill-after=10 600 "$t" 2>&1 | tee "$out" >>"$sink"
		rc=${PIPESTATUS[0]}
	fi
	p=$(grep -oE '\[  PASSED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	f=$(grep -oE '\[  FAILED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	sk=$(grep -oE '\[  SKIPPED \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	passed=$((passed + p)) failed=$((failed + f))
	if [ -n "$log" ]; then
		secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
		printf '%-4s %-24s %4d passed %s%6s s%s\n' "$variant" "$(basename "$t")" "$p" \
			"$([ "$sk" -gt 0 ] && echo "$sk skipped ")" "$secs" \
			"$([ "$rc" -ne 0 ] && echo "  FAILED (exit $rc)")"
		if [ "$rc" -ne 0 ]; then
			echo "--- last lines of $(basename "$t") (the whole output: $log):"
			tail -n 30 "$out"
			echo "---"
		fi
	fi
	rm -f "$out"
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
