#!/usr/bin/env bash
# Builds and launches Checkpoint Inspector on FILE (default: the sample checkpoint).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/build.sh >&2
file="${1:-resources/sample.safetensors}"
exec ./build/app/ckpt info "$file"
