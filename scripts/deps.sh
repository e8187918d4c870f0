#!/usr/bin/env bash
# Makes sure the Debian packages iohandover builds and tests with are
# installed. As root it installs what is missing with apt-get; otherwise it
# prints the one command to run and fails.
#
# QEMU (the second machine of the QEMU tests, docs/testing.md "QEMU") is
# installed the same way when root; otherwise its line is printed too, but
# only as a note: without QEMU the QEMU tests skip and everything else runs.
set -euo pipefail

pkgs=(gcc make pkg-config libcmocka-dev libfdt-dev device-tree-compiler clang
	libclang-rt-dev spin valgrind man-db groff-base)
optional=(qemu-system-x86 qemu-system-arm)
# Used by tests when present, skipped with a message when not (the JSON
# Schema check, the SVG renders in headless Chromium): installed as root
# if the archive has them, never a reason to fail.
extras=(python3-jsonschema chromium)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=() missing_opt=() missing_extra=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
for p in "${optional[@]}"; do
	installed "$p" || missing_opt+=("$p")
done
for p in "${extras[@]}"; do
	installed "$p" || missing_extra+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	if [ ${#missing[@]} -gt 0 ] || [ ${#missing_opt[@]} -gt 0 ]; then
		all=("${missing[@]}" "${missing_opt[@]}")
		echo "deps: installing ${all[*]}" >&2
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${all[@]}" >/dev/null
	fi
	if [ ${#missing_extra[@]} -gt 0 ]; then
		apt-get install -y -qq --no-install-recommends "${missing_extra[@]}" \
			>/dev/null 2>&1 ||
			echo "deps: optional ${missing_extra[*]} not installed; tests that need it skip" >&2
	fi
	exit 0
fi

if [ ${#missing_opt[@]} -gt 0 ]; then
	echo "deps: QEMU is not installed, the QEMU tests will skip; to run them:" >&2
	echo "sudo apt-get install -y ${missing_opt[*]}" >&2
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: missing Debian packages; run:" >&2
echo "sudo apt-get install -y ${missing[*]}" >&2
exit 1
