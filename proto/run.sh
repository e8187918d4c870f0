#!/usr/bin/env bash
# Verifies the page-table switch protocol model (proto/switch.pml) with spin.
#
# For every row below: spin -a generates the verifier for one set of macros,
# cc compiles pan, pan searches the whole (finite) state space, and the
# outcome is compared with the expected one:
#   pass        no error, search complete (max depth not hit)
#   fail        an assertion is violated (the broken protocol is caught)
#   fail:NAME   the assertion NAME is violated
# One line per row, then "protocol: N passed, N failed"; exit status 1 when
# any row had an unexpected outcome (a broken variant NOT caught counts as
# a failure).
#
#   proto/run.sh [-j JOBS] [-k] [ROW-NAME...]
#     -j JOBS  rows run in parallel (default 2)
#     -k       keep the work directory (pan sources, outputs, trails)
#     ROW-NAME run only the rows whose name contains one of these words
set -u

here=$(cd "$(dirname "$0")" && pwd)
model=$here/switch.pml
jobs=2 keep=0
while getopts "j:k" o; do
	case $o in
	j) jobs=$OPTARG ;;
	k) keep=1 ;;
	*) echo "usage: $0 [-j JOBS] [-k] [ROW-NAME...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

for tool in spin cc; do
	if ! command -v $tool >/dev/null; then
		echo "protocol: $tool not found (apt-get install spin gcc)" >&2
		echo "protocol: 0 passed, 1 failed"
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ioh-proto.XXXXXX")
if [ "$keep" -eq 1 ]; then
	echo "protocol: work directory $work"
else
	trap 'rm -rf "$work"' EXIT
fi

# name | spin macros | kind | expected
#   kind small: cc -O0, pan -w22; big: cc -O1 -DCOLLAPSE, pan -w23;
#   live: the LTL claim, pan -a -f (weak fairness)
# Defaults: the driver's sequence (CFGI, SYNC, TLBI, SYNC), hardware that
# may perform queued invalidations in any order before a SYNC, 2 walkers,
# 2 levels. "1sync-inorder" rows: the single-SYNC sequence (CFGI, TLBI,
# SYNC) on hardware performing commands in order, where it is correct.
S1="-DSINGLE_SYNC -DIN_ORDER_HW"
rows=(
	"correct|                                  |small|pass"
	"correct-3-levels|-DLEVELS=3               |big  |pass"
	"correct-liveness|-DLIVENESS               |live |pass"
	"correct-1sync-inorder|$S1                 |small|pass"
	"single-sync-any-order-hw|-DSINGLE_SYNC    |small|fail"
	"a-free-before-sync|-DBUG_FREE_BEFORE_SYNC |small|fail"
	"a-free-before-sync/P1|-DBUG_FREE_BEFORE_SYNC -DNO_P2 -DNO_P3|small|fail:P1_no_read_of_freed_page"
	"a-free-before-sync/P2|-DBUG_FREE_BEFORE_SYNC -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"a-free-before-sync/1sync|-DBUG_FREE_BEFORE_SYNC $S1|small|fail"
	"b-sync-no-wait|-DBUG_SYNC_NO_WAIT         |small|fail"
	"b-sync-no-wait/P1|-DBUG_SYNC_NO_WAIT -DNO_P2 -DNO_P3|small|fail:P1_no_read_of_freed_page"
	"b-sync-no-wait/P2|-DBUG_SYNC_NO_WAIT -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"b-sync-no-wait/1sync|-DBUG_SYNC_NO_WAIT $S1|small|fail"
	"c-skip-cfgi|-DBUG_SKIP_CFGI               |small|fail"
	"c-skip-cfgi/P1|-DBUG_SKIP_CFGI -DNO_P2 -DNO_P3|small|fail:P1_no_read_of_freed_page"
	"c-skip-cfgi/P2|-DBUG_SKIP_CFGI -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"c-skip-cfgi/1sync|-DBUG_SKIP_CFGI $S1     |small|fail"
	"d-publish-before-build|-DBUG_PUBLISH_BEFORE_BUILD|small|fail"
	"d-publish-before-build/P2|-DBUG_PUBLISH_BEFORE_BUILD -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"d-publish-before-build/1sync|-DBUG_PUBLISH_BEFORE_BUILD $S1|small|fail"
	"e-skip-tlbi|-DBUG_SKIP_TLBI               |small|fail"
	"e-skip-tlbi/P1|-DBUG_SKIP_TLBI -DNO_P2 -DNO_P3|small|fail:P1_no_read_of_freed_page"
	"e-skip-tlbi/P2|-DBUG_SKIP_TLBI -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"e-skip-tlbi/1sync|-DBUG_SKIP_TLBI $S1     |small|fail"
	"f-tlbi-before-cfgi|-DBUG_TLBI_BEFORE_CFGI |small|fail"
	"f-tlbi-before-cfgi/P1|-DBUG_TLBI_BEFORE_CFGI -DNO_P2 -DNO_P3|small|fail:P1_no_read_of_freed_page"
	"f-tlbi-before-cfgi/P2|-DBUG_TLBI_BEFORE_CFGI -DNO_P1 -DNO_P3|small|fail:P2_translation_old_or_new"
	"f-tlbi-before-cfgi/1sync|-DBUG_TLBI_BEFORE_CFGI $S1|small|fail"
	"vacuity-new-table-used|-DVAC_NEVER_NEW    |small|fail:vac_never_new"
	"vacuity-stale-walks|-DVAC_NO_STALE_WALK   |small|fail:vac_no_stale_walk"
	"vacuity-sync-waits|-DVAC_SYNC_NEVER_WAITS |small|fail:vac_sync_never_waits"
)

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; echo "${s%"${s##*[![:space:]]}"}"; }

# Runs row $1 in its own directory; writes one result line to res.
run_row() {
	local idx=$1 name=$2 macros=$3 kind=$4 expect=$5
	local d=$work/$idx cflags panflags line verdict got
	mkdir -p "$d" && cp "$model" "$d/switch.pml"
	case $kind in
	small) cflags="-O0 -DSAFETY"; panflags="-m50000 -w22" ;;
	big) cflags="-O1 -DSAFETY -DCOLLAPSE"; panflags="-m50000 -w23" ;;
	live) cflags="-O0"; panflags="-a -f -m50000 -w22" ;;
	esac
	# to replay a counterexample (with -k): sh replay.sh in the row's directory
	echo "spin -t -p -g $macros switch.pml" >"$d/replay.sh"
	local t0=$(date +%s.%N)
	(
		cd "$d" || exit 1
		# shellcheck disable=SC2086
		spin -a $macros switch.pml >spin.out 2>&1 && [ -f pan.c ] &&
			cc $cflags -w -o pan pan.c >cc.out 2>&1 || exit 0
		# pan's own CPU time (the elapsed time pan prints is wall time)
		TIMEFORMAT='%3U %3S'
		# shellcheck disable=SC2086
		{ time ./pan $panflags >pan.out 2>&1; } 2>pan.time
		true
	)
	local t1=$(date +%s.%N)
	local wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local out=$d/pan.out
	local states="?" depth="?" ptime="?"
	if [ -f "$out" ]; then
		states=$(awk '/states, stored/ { print $1; exit }' "$out")
		# a violation: the counterexample's length; else the deepest path
		depth=$(grep -o '(at depth [0-9]*' "$out" | head -1 | awk '{ print $3 }')
		[ -n "$depth" ] || depth="max $(grep -o 'depth reached [0-9]*' "$out" | awk '{ print $3 }')"
	fi
	[ -f "$d/pan.time" ] && ptime=$(awk '{ printf "%.2f", $1 + $2 }' "$d/pan.time")
	if [ ! -x "$d/pan" ] || [ ! -f "$out" ] || ! grep -q 'errors: [0-9]' "$out"; then
		verdict=BAD got="no verdict (spin, cc or pan failed: see $d)"
		[ "$keep" -eq 1 ] || got="no verdict (spin, cc or pan failed)"
		cat "$d"/spin.out "$d"/cc.out 2>/dev/null | head -5 >"$d/why"
	elif grep -q 'errors: 0' "$out"; then
		got=pass
		if grep -q 'max search depth too small' "$out"; then
			got="pass, but search depth limit hit (incomplete)"
		fi
	else
		got=$(grep -o 'assertion violated [A-Za-z0-9_]*' "$out" | head -1 | awk '{ print $3 }')
		if [ -n "$got" ]; then
			got="fail:$got"
		elif grep -q 'acceptance cycle' "$out"; then
			got="fail:acceptance-cycle"
		elif grep -q 'invalid end state' "$out"; then
			got="fail:invalid-end-state"
		else
			got="fail:other"
		fi
	fi
	verdict=BAD
	case $expect in
	pass) [ "$got" = pass ] && verdict=ok ;;
	fail) case $got in fail:?*) [ "$got" != fail:other ] && verdict=ok ;; esac ;;
	*) [ "$got" = "$expect" ] && verdict=ok ;;
	esac
	local what
	case $got in
	pass) what="verified" ;;
	fail:*) what="caught: ${got#fail:}" ;;
	*) what=$got ;;
	esac
	printf '%-4s %-28s %-36s %8s states  depth %-9s pan cpu %5ss  wall %5ss%s\n' \
		"$verdict" "$name" "$what" "$states" "$depth" "$ptime" "$wall" \
		"$([ "$verdict" = ok ] || echo "  (expected $expect)")" >"$d/res"
	if [ -f "$d/why" ] && [ -s "$d/why" ]; then sed 's/^/     | /' "$d/why" >>"$d/res"; fi
}

selected=()
for i in "${!rows[@]}"; do
	IFS='|' read -r name macros kind expect <<<"${rows[$i]}"
	name=$(trim "$name")
	if [ $# -gt 0 ]; then
		hit=0
		for w in "$@"; do [[ $name == *"$w"* ]] && hit=1; done
		[ $hit -eq 1 ] || continue
	fi
	selected+=("$i")
done

echo "protocol: spin $(spin -V | awk '{ print $3 }'), ${#selected[@]} runs of proto/switch.pml, $jobs at a time"
start=$(date +%s)
running=0
for i in "${selected[@]}"; do
	IFS='|' read -r name macros kind expect <<<"${rows[$i]}"
	run_row "$i" "$(trim "$name")" "$(trim "$macros")" "$(trim "$kind")" \
		"$(trim "$expect")" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

passed=0 failed=0
for i in "${selected[@]}"; do
	if [ -f "$work/$i/res" ]; then
		cat "$work/$i/res"
		if [[ $(head -c 2 "$work/$i/res") == ok ]]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	else
		echo "BAD  row $i: no result"
		failed=$((failed + 1))
	fi
done
echo "protocol: all runs took $(($(date +%s) - start)) s"
echo "protocol: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "${#selected[@]}" -gt 0 ]
