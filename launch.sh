#!/usr/bin/env bash
# Builds and launches the Checkpoint Inspector desktop app on FILE (default:
# the sample checkpoint in resources/). Needs a display (or QT_QPA_PLATFORM).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/build.sh >&2
exec ./build/app/ckpt-inspector "$@"
