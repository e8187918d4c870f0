#!/usr/bin/env bash
# One step of make check: runs COMMAND with all its output appended to
# the check log ($CHECK_LOG, default build/check.log) and prints one line,
# the step's name and time. On failure it prints the log's path and the
# step's last lines, and fails.
#
#   scripts/step.sh NAME COMMAND [ARGS...]
set -u
name=$1
shift
log=${CHECK_LOG:-build/check.log}
mkdir -p "$(dirname "$log")"
out=$(mktemp)
start=$(date +%s.%N)
"$@" >"$out" 2>&1
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
{ echo "=== step: $name (exit $rc, $secs s)"; cat "$out"; } >>"$log"
# The step's own summary line, when it printed one ("freestanding-check: ...").
summary=$(grep -E '^[a-z-]+: ' "$out" | grep -v -E '^(make|cc|gcc|clang)' | tail -1 | cut -c1-90)
if [ "$rc" -eq 0 ]; then
	printf '%-24s ok   %6s s  %s\n' "$name" "$secs" "$summary"
	rm -f "$out"
	exit 0
fi
printf '%-24s FAILED (exit %d) after %s s\n' "$name" "$rc" "$secs"
echo "--- last lines (the whole output: $log):"
tail -n 40 "$out"
rm -f "$out"
exit "$rc"
