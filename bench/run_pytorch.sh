#!/usr/bin/env bash
# PyTorch benchmarks: listing a 2 GB .pt state_dict (200 float32 tensors)
# with `ckpt info` against `torch.load` of the same file (Debian
# python3-torch), and `ckpt convert big.pt out.safetensors` against `cp`.
# Prints a Markdown report. Usage: bench/run_pytorch.sh [WORKDIR] (~6 GB free)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
CKPT=$BUILD/app/ckpt
WORK=${1:-${TMPDIR:-/tmp}/ckpt-bench-pt}
RUNS=${RUNS:-5}
. "$ROOT/bench/lib.sh"
PY=/usr/bin/python3
mkdir -p "$WORK"
[ -x "$CKPT" ] || { echo "build first: ./scripts/build.sh" >&2; exit 1; }
$PY -c "import torch" 2>/dev/null || { echo "needs Debian python3-torch (/usr/bin/python3 -c 'import torch')" >&2; exit 1; }

PT="$WORK/big.pt"
if [ ! -f "$PT" ]; then
  $PY - "$PT" <<'PYEOF'
import sys, torch
from collections import OrderedDict
torch.manual_seed(0)
sd = OrderedDict()
per = 2_000_000_000 // 4 // 200          # 200 float32 tensors, 2 GB in all
cols = 1000
for k in range(200):
    sd[f"layers.{k}.weight"] = torch.randn(per // cols, cols)
torch.save(sd, sys.argv[1])
PYEOF
fi

modes=warm
[ $can_drop = 1 ] && modes="cold warm"
echo "## PyTorch: list a 2 GB .pt (200 float32 tensors), median of $RUNS runs"
echo
echo "| mode | ckpt info --json (s) | torch.load (s) | torch.load / ckpt | ckpt peak RSS (MiB) | torch.load peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for mode in $modes; do
  [ "$mode" = warm ] && cat "$PT" > /dev/null
  read -r tc rc < <(measure "$mode" "$CKPT" info --json "$PT")
  read -r tt rt < <(measure "$mode" $PY -c "import sys, torch; torch.load(sys.argv[1])" "$PT")
  ratio=$(awk -v a="$tt" -v b="$tc" 'BEGIN { printf "%.0f", a / b }')
  echo "| $mode | $tc | $tt | ${ratio}× | $((rc / 1024)) | $((rt / 1024)) |"
done

echo
echo "## PyTorch: convert the 2 GB .pt to .safetensors against cp, median of $RUNS runs"
echo
echo "| mode | cp (s) | ckpt convert --no-sync (s) | cp / ours | ckpt convert, fsync (s) | cp / ours, fsync | our peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|"
OUT="$WORK/out.safetensors"; CP="$WORK/copy.bin"
for mode in $modes; do
  [ "$mode" = warm ] && cat "$PT" > /dev/null
  read -r tc rc < <(measure "$mode" cp "$PT" "$CP")
  [ "$mode" = warm ] && cat "$PT" > /dev/null
  read -r tn rn < <(measure "$mode" "$CKPT" convert -q --no-sync "$PT" "$OUT")
  [ "$mode" = warm ] && cat "$PT" > /dev/null
  read -r ts rs < <(measure "$mode" "$CKPT" convert -q "$PT" "$OUT")
  rn=$(( rn > rs ? rn : rs ))
  echo "| $mode | $tc | $tn | $(awk -v a="$tc" -v b="$tn" 'BEGIN { printf "%.2f", a / b }') | $ts | $(awk -v a="$tc" -v b="$ts" 'BEGIN { printf "%.2f", a / b }') | $((rn / 1024)) |"
done
rm -f "$OUT" "$CP"
