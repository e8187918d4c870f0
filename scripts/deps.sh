#!/usr/bin/env bash
# Makes sure the Debian packages iohandover builds and tests with are
# installed. As root it installs what is missing with apt-get; otherwise it
# prints the one command to run and fails.
set -euo pipefail

pkgs=(gcc make pkg-config libcmocka-dev libfdt-dev device-tree-compiler clang
	libclang-rt-dev spin valgrind man-db groff-base)
# Used by tests when present, skipped with a message when not (the JSON
# Schema check, the SVG renders in headless Chromium): installed
# as root if the archive has them, never a reason to fail.
optional=(python3-jsonschema chromium)

if [ "$(id -u)" -eq 0 ]; then
	want=()
	for p in "${optional[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			want+=("$p")
	done
	if [ ${#want[@]} -gt 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1 ||
			echo "deps: optional ${want[*]} not installed; tests that need it skip" >&2
	fi
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	exit 0
fi

echo "deps: missing Debian packages; run:" >&2
echo "sudo apt-get install -y ${missing[*]}" >&2
exit 1
