#!/usr/bin/env bash
# The desktop app on large checkpoints: a synthetic Llama-style checkpoint of
# 100,000 tensors (safetensors and GGUF) — open to a painted tree, filters,
# expand/collapse all (build/bench/ckpt_ui_bench, in-process, offscreen) and
# whole-process launch → tree painted → screenshot → exit; then peak memory
# of the app with a 10 MB and a 10 GB checkpoint of the same 1000 tensors.
# Prints a Markdown report. Usage: bench/run_ui.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
WORK=${1:-${TMPDIR:-/tmp}/ckpt-bench-ui}
RUNS=${RUNS:-5}
. "$ROOT/bench/lib.sh"
mkdir -p "$WORK"
export QT_QPA_PLATFORM=offscreen
# A settings folder of its own: a name map remembered from an earlier
# session would otherwise run its preview in every measured launch.
export XDG_CONFIG_HOME="$WORK/config"
rm -rf "$XDG_CONFIG_HOME"
SYNTH=$BUILD/tools/ckpt_synth
APP=$BUILD/app/ckpt-inspector

for ext in safetensors gguf; do
  f="$WORK/t100k.$ext"
  [ -f "$f" ] || "$SYNTH" "$f" --tensors 100000 --mb 100 --transformer
  cat "$f" > /dev/null
  echo "## 100,000 tensors, $ext ($(du -m "$f" | cut -f1) MB), warm"
  echo
  "$BUILD/bench/ckpt_ui_bench" "$f" "$RUNS" 2>/dev/null
  read -r t r < <(measure warm "$APP" --screenshot "$WORK/shot.png" "$f")
  echo "| whole process: launch, open, paint the tree, grab, exit (median of $RUNS) | $(awk -v a="$t" 'BEGIN { printf "%.1f", a * 1000 }') |"
  echo
  echo "Peak RSS of that process: $((r / 1024)) MiB."
  echo
done

echo "## Memory with the checkpoint open (1000 tensors; the first tensor's statistics computed)"
echo
echo "| file | size | peak RSS (MiB) |"
echo "|---|---|---|"
for mb in 10 10000; do
  f="$WORK/m$mb.safetensors"
  [ -f "$f" ] || "$SYNTH" "$f" --tensors 1000 --mb "$mb"
  RUNS=1 read -r t r < <(RUNS=1 measure cold "$APP" --screenshot "$WORK/shot.png" "$f")
  echo "| m$mb.safetensors | $(du -h "$f" | cut -f1) | $((r / 1024)) |"
done
rm -f "$WORK/shot.png"
