#!/usr/bin/env bash
# Runs test programs (release ones, then "--", then sanitizer ones), each
# with a time limit, and sums cmocka's counts into one closing line.
set -u
passed=0 failed=0 broken=()
variant=rel
for t in "$@"; do
	if [ "$t" = "--" ]; then variant=san; continue; fi
	echo "=== $variant: $t"
	out=$(mktemp)
	timeout --kill-after=10 600 "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
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
