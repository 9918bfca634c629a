#!/usr/bin/env bash
# Model-layer benchmarks: ParamTree build for 100,000 names and statistics
# throughput (Google Benchmark, build/bench/ckpt_micro_model), and
# `ckpt convert` of 1 GB of Conv2d weights with a name map that permutes
# every tensor (pytorch-to-mlx), with a map that only renames, and with no
# map. Prints a Markdown report. Usage: bench/run_model.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
CKPT=$BUILD/app/ckpt
WORK=${1:-${TMPDIR:-/tmp}/ckpt-bench-model}
RUNS=${RUNS:-5}
. "$ROOT/bench/lib.sh"
mkdir -p "$WORK"

echo "## Micro-benchmarks (build/bench/ckpt_micro_model)"
echo
echo '```'
"$BUILD/bench/ckpt_micro_model" --benchmark_min_time=0.5 2>/dev/null | grep -E '^(BM_|Benchmark|-)' || true
echo '```'

SRC="$WORK/conv.safetensors"
[ -f "$SRC" ] || "$BUILD/tools/ckpt_synth" "$SRC" --tensors 200 --mb 1000 --conv
RENAME="$WORK/rename.json"
echo '{"rules": [{"match": "prefix", "pattern": "features.", "replace": "backbone.features."}]}' > "$RENAME"
OUT="$WORK/out.safetensors"
cat "$SRC" > /dev/null
echo
echo "## Convert 1 GB of Conv2d weights (200 float32 tensors), safetensors → safetensors, warm, median of $RUNS"
echo
echo "| map | time (s) | ratio to no map | peak RSS (MiB) |"
echo "|---|---|---|---|"
read -r t0 r0 < <(measure warm "$CKPT" convert -q --no-sync "$SRC" "$OUT")
echo "| none (kernel copy) | $t0 | 1.00 | $((r0 / 1024)) |"
read -r t1 r1 < <(measure warm "$CKPT" convert -q --no-sync --map "$RENAME" "$SRC" "$OUT")
echo "| renames only | $t1 | $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a / b }') | $((r1 / 1024)) |"
read -r t2 r2 < <(measure warm "$CKPT" convert -q --no-sync --map pytorch-to-mlx "$SRC" "$OUT")
echo "| pytorch-to-mlx (every tensor permuted OIHW → OHWI) | $t2 | $(awk -v a="$t2" -v b="$t0" 'BEGIN { printf "%.2f", a / b }') | $((r2 / 1024)) |"
rm -f "$OUT"
