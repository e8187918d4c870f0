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
	libclang-rt-dev spin valgrind)
optional=(qemu-system-x86 qemu-system-arm)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=() missing_opt=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
for p in "${optional[@]}"; do
	installed "$p" || missing_opt+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#missing_opt[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	all=("${missing[@]}" "${missing_opt[@]}")
	echo "deps: installing ${all[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${all[@]}" >/dev/null
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
