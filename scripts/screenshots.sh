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
# Settings of their own, so the shots neither read nor change the user's.
export XDG_CONFIG_HOME="$WORK/config"
/usr/bin/python3 - "$WORK/resnet18.pt" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])
PY
CKPT=$ROOT/build/app/ckpt
# What an MLX port of resnet18 loads: the PyTorch names, conv weights OHWI.
"$CKPT" convert -q --no-sync --map pytorch-to-mlx "$WORK/resnet18.pt" "$WORK/resnet18_mlx.safetensors"
"$CKPT" spec "$WORK/resnet18_mlx.safetensors" -o "$WORK/resnet18_mlx_spec.json"
# A small GGUF with llama.cpp-style typed metadata (a 32,000-token vocabulary)
# for the metadata page, written field by field from the GGUF v3 layout.
/usr/bin/python3 - "$WORK/tiny-llama.gguf" <<'PY'
import struct, sys
import numpy as np
def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b
kv = [
    ("general.architecture", 8, s("llama")),
    ("general.name", 8, s("tiny-llama (synthetic)")),
    ("llama.context_length", 4, struct.pack("<I", 4096)),
    ("llama.embedding_length", 4, struct.pack("<I", 64)),
    ("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
    ("general.alignment", 4, struct.pack("<I", 32)),
    ("tokenizer.ggml.model", 8, s("llama")),
    ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 32000) + b"".join(s(t) for t in ["<unk>", "<s>", "</s>"] + [f"tok{i}" for i in range(3, 32000)])),
    ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 32000) + np.linspace(0, -1, 32000, dtype="<f4").tobytes()),
    ("tokenizer.ggml.add_bos_token", 7, b"\x01"),
]
w = np.random.default_rng(0).standard_normal((32000, 64)).astype("<f2")
out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
for k, t, v in kv:
    out += s(k) + struct.pack("<I", t) + v
out += s("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 64, 32000) + struct.pack("<IQ", 1, 0)
out += b"\0" * (-len(out) % 32)
open(sys.argv[1], "wb").write(out + w.tobytes())
PY

OUT=$ROOT/docs/screenshots
mkdir -p "$OUT"
shot() {
  local name=$1; shift
  xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$ROOT/build/app/ckpt-inspector" -platform xcb --size 1280x800 --screenshot "$OUT/$name.png" "$@"
  echo "wrote docs/screenshots/$name.png"
}
shot main --select layer1.0.conv1.weight "$WORK/resnet18.pt"
shot values --select fc.weight --page values "$WORK/resnet18.pt"
shot compare --page compare --compare "$WORK/resnet18_mlx_spec.json" "$WORK/resnet18.pt"
shot compare-mapped --page compare --map pytorch-to-mlx --compare "$WORK/resnet18_mlx_spec.json" "$WORK/resnet18.pt"
shot compare-checkpoints --page compare --map pytorch-to-mlx --compare "$WORK/resnet18_mlx.safetensors" "$WORK/resnet18.pt"
shot namemap --page namemap --map pytorch-to-mlx "$WORK/resnet18.pt"
shot metadata --page metadata "$WORK/tiny-llama.gguf"
shot export --export-dialog --map pytorch-to-mlx "$WORK/resnet18.pt"
