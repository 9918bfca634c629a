#!/usr/bin/env bash
# Foundation benchmarks (issue: I/O core). Prints a Markdown report.
#  1. open+list (`ckpt info --json`) of synthetic safetensors and GGUF files with
#     1000 tensors at 4 MB and 4 GB, and with 50,000 tensors: listing must not
#     grow with data size.
#  2. `ckpt convert` safetensors → gguf → npz (stored) of a 2 GB file against
#     `cp` of the same file, cold (page cache dropped, needs root) and warm,
#     with peak RSS from /usr/bin/time; ours with and without the fsync it
#     does by default before renaming the result into place (cp does none).
#     Every timed run starts after `sync`, so no run pays for the previous
#     run's writeback.
# Usage: bench/run_foundation.sh [WORKDIR]   (needs ~16 GB free in WORKDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
CKPT=$BUILD/app/ckpt
SYNTH=$BUILD/tools/ckpt_synth
WORK=${1:-${TMPDIR:-/tmp}/ckpt-bench}
RUNS=${RUNS:-5}
. "$ROOT/bench/lib.sh"
mkdir -p "$WORK"
[ -x "$CKPT" ] && [ -x "$SYNTH" ] || { echo "build first: ./scripts/build.sh" >&2; exit 1; }

warm() { cat "$@" > /dev/null; }

gen() {  # file tensors megabytes
  [ -f "$1" ] || "$SYNTH" "$1" --tensors "$2" --mb "$3"
}

echo "## Open and list (\`ckpt info --json FILE\`), median of $RUNS warm runs"
echo
echo "| file | tensors | data | time (s) | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for fmt in safetensors gguf; do
  for spec in "1000 4" "1000 4000" "50000 50"; do
    set -- $spec
    f="$WORK/list_${1}_${2}MB.$fmt"
    gen "$f" "$1" "$2"
    warm "$f" 2>/dev/null || true
    read -r t r < <(measure warm "$CKPT" info --json "$f")
    echo "| $fmt | $1 | $2 MB | $t | $((r / 1024)) |"
  done
done
rm -f "$WORK"/list_1000_4000MB.*

echo
echo "## Convert 2 GB (1000 float32 tensors) against cp, median of $RUNS runs"
echo
SRC="$WORK/conv_2000MB.safetensors"
gen "$SRC" 1000 2000
GG="$WORK/conv.gguf"; NPZ="$WORK/conv.npz"; CP="$WORK/conv_copy.bin"
"$CKPT" convert -q "$SRC" "$GG"
echo "| step | mode | cp (s) | ours --no-sync (s) | cp / ours --no-sync | ours, fsync (s) | cp / ours, fsync | our peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
modes="warm"
if [ $can_drop = 1 ]; then modes="cold warm"; fi
for mode in $modes; do
  for step in "safetensors→gguf:$SRC:$GG" "gguf→npz(stored):$GG:$NPZ"; do
    IFS=: read -r name in out <<< "$step"
    [ "$mode" = warm ] && warm "$in"
    read -r tc rc < <(measure "$mode" cp "$in" "$CP")
    [ "$mode" = warm ] && warm "$in"
    read -r tn rn < <(measure "$mode" "$CKPT" convert -q --no-sync "$in" "$out")
    [ "$mode" = warm ] && warm "$in"
    read -r ts rs < <(measure "$mode" "$CKPT" convert -q "$in" "$out")
    rn=$(( rn > rs ? rn : rs ))
    r1=$(awk -v a="$tc" -v b="$tn" 'BEGIN { printf "%.2f", a / b }')
    r2=$(awk -v a="$tc" -v b="$ts" 'BEGIN { printf "%.2f", a / b }')
    echo "| $name | $mode | $tc | $tn | $r1 | $ts | $r2 | $((rn / 1024)) |"
  done
done
[ $can_drop = 1 ] || echo "(cold runs skipped: /proc/sys/vm/drop_caches is not writable; run as root)"
rm -f "$CP" "$GG" "$NPZ" "$SRC"
