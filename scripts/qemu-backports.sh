#!/bin/sh
# Fetch Debian bookworm-backports' QEMU (10.0) into a folder the user
# names, for the QEMU tests' opt-in (docs/testing.md, "QEMU as a second
# machine"), without touching the machine's package sources: apt reads a
# sources list and keeps its package lists in a temporary folder, downloads
# the .deb files (no install) and dpkg -x unpacks them under DIR.
#
#   scripts/qemu-backports.sh DIR
#   IOH_QEMU_DIR=DIR/usr/bin make qemu-check
#
# The libraries QEMU 10 links against are bookworm's (the ones 7.2 uses);
# apt-get download does not check that, so the script runs each binary's
# --version and says which libraries are missing if that fails.
# Needs apt-get and dpkg (Debian or a derivative) and the network.
set -eu
if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR   (QEMU 10 from bookworm-backports unpacked under DIR)" >&2
	exit 2
fi
mkdir -p "$1"
dest=$(cd "$1" && pwd)
suite=${IOH_BACKPORTS_SUITE:-bookworm-backports}
mirror=${IOH_BACKPORTS_MIRROR:-http://deb.debian.org/debian}
tmp=$(mktemp -d /tmp/qemu-backports.XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "deb $mirror $suite main" > "$tmp/sources.list"
mkdir -p "$tmp/lists/partial" "$tmp/debs"
# Only this list, only this folder: nothing of /etc/apt or /var/lib/apt changes.
set -- -o Dir::Etc::sourcelist="$tmp/sources.list" \
	-o Dir::Etc::sourceparts=/dev/null \
	-o Dir::State::Lists="$tmp/lists" \
	-o Dir::Cache::archives="$tmp/debs"
apt-get "$@" -q update
# The backports version of each package (the newest the lists name).
ver=$(apt-cache "$@" madison qemu-system-x86 | awk -v s="$suite" '$0 ~ s { print $3; exit }')
if [ -z "$ver" ]; then
	echo "$0: $suite has no qemu-system-x86" >&2
	exit 1
fi
echo "qemu $ver from $suite"
cd "$tmp/debs"
# apt-get download runs as the _apt user when root: let it write here.
chmod 777 "$tmp/debs" 2>/dev/null || true
apt-get "$@" -q download qemu-system-x86="$ver" qemu-system-arm="$ver" \
	qemu-system-common="$ver" qemu-system-data="$ver"
for deb in ./*.deb; do
	dpkg -x "$deb" "$dest"
done
ok=0
for t in x86_64 aarch64; do
	b="$dest/usr/bin/qemu-system-$t"
	if "$b" --version >/dev/null 2>&1; then
		"$b" --version | head -n 1
	else
		echo "$0: $b does not run; missing libraries:" >&2
		ldd "$b" 2>&1 | grep 'not found' >&2 || true
		ok=1
	fi
done
[ $ok -eq 0 ] && echo "now: IOH_QEMU_DIR=$dest/usr/bin make qemu-check"
exit $ok
