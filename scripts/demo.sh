#!/usr/bin/env bash
# make demo: the default live update scenario once `iohandover demo` exists;
# until then, the page-table benchmark that the update is built on.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x build/iohandover ] && build/iohandover demo --help >/dev/null 2>&1; then
	exec build/iohandover demo
fi
cat <<'MSG'
iohandover demo: the live update scenario is not built yet (issue 5/6).
Meanwhile, the page-table library every update is made of: building the
tables IOMMU hardware walks, per call and in bulk against memset.

MSG
exec build/rel/bench/bench_pt --quick
