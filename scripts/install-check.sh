#!/usr/bin/env bash
# make install-check: install into a temporary DESTDIR, build a tiny
# program against the installed pt/ library through pkg-config, run it and
# the installed binary, then uninstall and find nothing left.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d /tmp/ioh-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
log=$dest.log
fail() { echo "install-check: $*"; cat "$log" 2>/dev/null | tail -20; rm -f "$log"; exit 1; }
make -s install DESTDIR="$dest" PREFIX=/usr >"$log" 2>&1 || fail "make install failed"
for f in usr/bin/iohandover usr/share/man/man1/iohandover.1 \
	usr/share/man/man1/iohandover-run.1 usr/lib/libiohpt.a \
	usr/include/iohandover/pt/pt.h usr/lib/pkgconfig/iohpt.pc \
	usr/share/bash-completion/completions/iohandover \
	usr/share/doc/iohandover/README.md; do
	[ -e "$dest/$f" ] || fail "make install did not install /$f"
done
export PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs iohpt) || fail "pkg-config does not know iohpt"
${CC:-cc} -std=c11 -Wall -Wextra -Werror tests/install/pt-hello.c $flags \
	-o "$dest/pt-hello" >"$log" 2>&1 || fail "pt-hello does not build with: $flags"
out=$("$dest/pt-hello") || fail "pt-hello failed: $out"
ver=$("$dest/usr/bin/iohandover" --version) || fail "the installed binary does not run"
bash -c "source '$dest/usr/share/bash-completion/completions/iohandover' &&
	COMP_WORDS=('$dest/usr/bin/iohandover' ru); COMP_CWORD=1; _iohandover &&
	[ \"\${COMPREPLY[*]}\" = run ]" || fail "bash completion does not complete 'ru' to run"
rm -f "$dest/pt-hello"
make -s uninstall DESTDIR="$dest" PREFIX=/usr >"$log" 2>&1 || fail "make uninstall failed"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
rm -f "$log"
echo "install-check: $ver installed, pt-hello built with '$flags' ran ($out), uninstalled"
