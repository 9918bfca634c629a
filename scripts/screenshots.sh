#!/usr/bin/env bash
# Renders the README's screenshots into docs/screenshots/ under Xvfb, with a
# real checkpoint: torchvision's resnet18 (seeded random weights) saved by
# PyTorch, compared against the MLX layout its port expects.
# Usage: scripts/screenshots.sh  (installs xvfb if missing; needs root or sudo for that)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
./scripts/build.sh >&2

if ! command -v xvfb-run > /dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends xvfb xauth >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 - "$WORK/resnet18.pt" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])
PY
CKPT=$ROOT/build/app/ckpt
# What an MLX port of resnet18 loads: the PyTorch names, conv weights OHWI.
"$CKPT" convert -q --no-sync --map pytorch-to-mlx "$WORK/resnet18.pt" "$WORK/resnet18_mlx.safetensors"
"$CKPT" spec "$WORK/resnet18_mlx.safetensors" -o "$WORK/resnet18_mlx_spec.json"
# A GGUF with typed metadata for the metadata page.
"$CKPT" convert -q --no-sync "$WORK/resnet18.pt" "$WORK/resnet18.gguf"

OUT=$ROOT/docs/screenshots
mkdir -p "$OUT"
shot() {
  local name=$1; shift
  xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$ROOT/build/app/ckpt-inspector" -platform xcb --size 1280x800 --screenshot "$OUT/$name.png" "$@"
  echo "wrote docs/screenshots/$name.png"
}
shot main --select layer1.0.conv1.weight "$WORK/resnet18.pt"
shot values --select fc.weight --page tensors "$WORK/resnet18.pt"
shot compare --page compare --compare "$WORK/resnet18_mlx_spec.json" "$WORK/resnet18.pt"
shot compare-mapped --page compare --map pytorch-to-mlx --compare "$WORK/resnet18_mlx_spec.json" "$WORK/resnet18.pt"
shot namemap --page namemap --map pytorch-to-mlx "$WORK/resnet18.pt"
shot metadata --page metadata "$WORK/resnet18.gguf"
shot export --export-dialog --map pytorch-to-mlx "$WORK/resnet18.pt"
