#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The dependency rule of docs/design.md, enforced from the list written
# there (the ```layers block): each line "folder: allowed..." says which
# other folders' headers files of that folder may include. Fails (exit 1)
# naming file:line for an include the rule does not allow, for a folder
# of the tree with C files that the list does not name, and for a list
# in which a folder allows one listed after it (a cycle could hide
# there). Prints one OK line otherwise.
#
# Usage: scripts/check-layers.sh   (from anywhere inside the repository)
set -u
cd "$(dirname "$0")/.." || exit 2

rules=$(awk '/^```layers$/ {on = 1; next} /^```$/ {on = 0} on' docs/design.md)
if [ -z "$rules" ]; then
	echo "check-layers: no \`\`\`layers block in docs/design.md"
	exit 1
fi

declare -A allow pos
order=()
bad=0
n=0
while read -r line; do
	[ -z "$line" ] && continue
	folder=${line%%:*}
	deps=${line#*:}
	pos[$folder]=$n
	n=$((n + 1))
	order+=("$folder")
	allow[$folder]=" $folder $deps "
	for d in $deps; do
		if [ -z "${pos[$d]+x}" ]; then
			echo "docs/design.md: $folder may use $d, which is not listed above it"
			bad=1
		fi
	done
done <<<"$rules"

# Every folder holding C sources must be in the list.
for dir in $(find . -name build -prune -o -name '.git' -prune -o \
	-name '*.[ch]' -print | sed 's|^\./||; s|/.*||' | sort -u); do
	case $dir in *.c|*.h) continue ;; esac
	if [ -z "${allow[$dir]+x}" ]; then
		echo "$dir/: a folder of C files that docs/design.md's rule does not list"
		bad=1
	fi
done

for folder in "${order[@]}"; do
	[ -d "$folder" ] || continue
	while IFS=: read -r file lineno text; do
		used=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([a-z_]+)\/.*/\1/' <<<"$text")
		case "${allow[$folder]}" in
		*" $used "*) ;;
		*)
			echo "$file:$lineno: $folder/ may not include $used/ (docs/design.md, the dependency rule)"
			bad=1
			;;
		esac
	done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]+/' \
		--include='*.c' --include='*.h' "$folder")
done

[ "$bad" -eq 0 ] || exit 1
echo "layering-check: every include follows docs/design.md (${#order[@]} folders)"
