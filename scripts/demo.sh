#!/usr/bin/env bash
# make demo: the default live update scenario (iohandover demo), run in the
# repository's top directory, where it writes report.json and timeline.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/iohandover demo
