#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The repository must stand alone: no tracked file may point at a file
# outside it. Fails (exit 1), naming file:line, when a tracked text file
# (binary files and tests/data excepted) mentions
#   - one of the notes kept outside the repository that the project was
#     first written from (a hardware reference and research reports, whose
#     facts now live in docs/reference.md), or
#   - a path outside the repository (the machine's work and shared
#     directories);
# the exact patterns are in $pat below. Fails too when docs/*.md or
# README.md has a relative link [..](x) whose target does not exist.
# Prints one OK line otherwise.
#
# Usage: scripts/check-standalone.sh   (from anywhere inside the repository)
set -u

cd "$(dirname "$0")/.." || exit 2

# The names are written with a bracket so that this file does not match
# its own patterns.
pat='[R]EFERENCE\.md|[h]wmodel\.md|[a]nchors-2026-11\.md|[g]eneric_pt\.md'
pat+='|/[w]ork/|\.\./[s]hared|[s]hared/research'

# Tracked files; outside a git checkout (a release tarball), every file
# but the build tree.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	in_git=1
	list_files() { git ls-files -z; }
else
	in_git=0
	list_files() {
		find . -path ./.git -prune -o -path ./build -prune -o \
			-type f -print0 | sed -z 's|^\./||'
	}
fi

bad=0

# 1. Mentions of files and paths outside the repository. grep -I skips
#    binary files.
hits=$(list_files | grep -z -v -E '^tests/data/' |
	xargs -0 -r grep -I -n -H -E "$pat" -- 2>/dev/null)
if [ -n "$hits" ]; then
	while IFS= read -r h; do
		f=${h%%:*}; rest=${h#*:}; ln=${rest%%:*}; text=${rest#*:}
		what=$(printf '%s\n' "$text" | grep -o -E "$pat" | sort -u | paste -s -d ' ')
		echo "$f:$ln: points outside the repository: $what"
	done <<<"$hits"
	bad=1
fi

# 2. Relative markdown links whose target is missing.
for md in docs/*.md README.md; do
	[ -f "$md" ] || continue
	if [ "$in_git" = 1 ] && ! git ls-files --error-unmatch -- "$md" >/dev/null 2>&1; then
		continue
	fi
	dir=$(dirname "$md")
	while IFS= read -r m; do
		[ -n "$m" ] || continue
		ln=${m%%:*}
		target=${m#*:}
		target=${target#](}
		target=${target%)}
		target=${target%% *}        # [x](file "title")
		case $target in
		'' | \#* | *://* | mailto:*) continue ;;
		esac
		path=${target%%#*}
		[ -n "$path" ] || continue
		if [ ! -e "$dir/$path" ]; then
			echo "$md:$ln: link to a missing file: $target"
			bad=1
		fi
	done < <(grep -n -o -E '\]\([^)]+\)' -- "$md")
done

if [ "$bad" -ne 0 ]; then
	echo "standalone-check: FAILED: the lines above point outside the repository or at missing files" >&2
	exit 1
fi
echo "standalone-check: no tracked file points outside the repository"
