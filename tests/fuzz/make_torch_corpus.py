#!/usr/bin/python3
"""Writes the seed corpora of the pickle and torch fuzz harnesses.

    /usr/bin/python3 tests/fuzz/make_torch_corpus.py [CKPT]

Run once with Debian's python3 (python3-torch, python3-numpy); the outputs
are committed under tests/fuzz/corpus/{pickle,torch}/. With the path of a
built `ckpt` binary, the name_map and spec seeds are also refreshed from it
(`ckpt map invert`, `ckpt map suggest`, `ckpt spec`), so they are exactly
what our own writers (model::to_json) produce.

Seeds are small on purpose (every file < 64 KiB): the fuzzer mutates them
byte by byte, and a seed's size is paid on every execution.
"""
import collections
import io
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
LIMIT = 64 * 1024


def write(sub, name, data):
    if len(data) >= LIMIT:
        raise SystemExit(f"{sub}/{name} is {len(data)} bytes, over the {LIMIT}-byte seed limit")
    path = os.path.join(CORPUS, sub, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- plain pickles, every protocol ------------------------------------------

def plain_objects():
    shared = [1, 2, 3]  # memoised once, fetched twice
    return {
        "dict": {"a": 1, "b": -2, "c": 3.5, "d": None, "e": True, "f": False},
        "list": [0, 1, 255, 256, 65535, 65536, -1, 2**31 - 1, -2**31, 2**40, -2**63, 2**63 - 1],
        "tuple": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
        "strings": ["", "ascii", "naïve ☃ 𝄞", "quote ' \" \\ \n end", "x" * 300],
        "bytes": [b"", b"\x00\x01\xff", bytes(range(256)), bytearray(b"abc")],
        "nested": {"layers": [{"w": [1.0, -0.0, float("inf")], "name": "l0"}, {"w": [], "name": "l1"}]},
        "shared": {"x": shared, "y": shared, "z": (shared, shared)},
        "sets": [set(), {1, 2, 3}, frozenset({"a"})],
        "ordered": collections.OrderedDict([("k1", 1), ("k2", [2, 3]), (3, "int key")]),
        "floats": [0.0, 1e-310, 1.5e300, float("nan"), -float("inf")],
    }


def write_pickles():
    for name, obj in plain_objects().items():
        for proto in range(0, 6):
            try:
                data = pickle.dumps(obj, protocol=proto)
            except Exception:
                continue
            write("pickle", f"{name}-p{proto}.pkl", pickletools.optimize(data) if name == "list" and proto == 2 else data)
    # Several pickles back to back (as the legacy torch format holds them).
    write("pickle", "concatenated-p2.pkl", pickle.dumps(1001, protocol=2) + pickle.dumps({"a": [1]}, protocol=2))


# ---- torch.save, zip and legacy ------------------------------------------------

def state_dicts():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    seq = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(), torch.nn.Linear(3, 2))
    base = torch.arange(24, dtype=torch.float32)
    views = {
        "base": base,
        "slice": base[2:10],                # storage offset 2
        "column": base.view(4, 6)[:, 1],    # stride 6
        "transposed": base.view(2, 12).t(), # strides (1, 12)
        "expanded": base[:1].expand(3, 2),  # stride 0
    }
    dtypes = {
        "f16": torch.linspace(-2, 2, 6).half(),
        "bf16": torch.linspace(-2, 2, 6).bfloat16(),
        "f64": torch.linspace(-2, 2, 6).double(),
        "i64": torch.arange(-3, 3, dtype=torch.int64),
        "i32": torch.arange(-3, 3, dtype=torch.int32),
        "i16": torch.arange(-3, 3, dtype=torch.int16),
        "i8": torch.arange(-3, 3, dtype=torch.int8),
        "u8": torch.arange(0, 6, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "c64": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
    }
    tied = torch.randn(5, 2)
    training = {
        "model": lin.state_dict(),
        "epoch": 3,
        "lr": 0.1,
        "name": "run-7",
        "flags": [True, False],
        "optimizer": {"state": {0: {"step": torch.tensor(2.0), "exp_avg": torch.zeros(3, 4)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}]},
    }
    return {
        "linear": lin.state_dict(),
        "conv_bn_linear": seq.state_dict(),
        "views": views,
        "dtypes": dtypes,
        "tied": {"embed.weight": tied, "lm_head.weight": tied},
        "training": training,
        "parameters": {"p": torch.nn.Parameter(torch.ones(2, 2)), "frozen": torch.nn.Parameter(torch.ones(3), requires_grad=False)},
        "bare_tensor": torch.arange(6, dtype=torch.float32).view(2, 3),
        "list_of_tensors": [torch.ones(2), torch.zeros(1, dtype=torch.int64)],
    }


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def write_torch():
    for name, obj in state_dicts().items():
        zipped = torch_bytes(obj)
        write("torch", f"{name}-zip.pt", zipped)
        write("torch", f"{name}-legacy.pt", torch_bytes(obj, _use_new_zipfile_serialization=False))
        # data.pkl alone is also a pickle seed (persistent ids included).
        with zipfile.ZipFile(io.BytesIO(zipped)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            write("pickle", f"torch-{name}-data.pkl", z.read(pkl))
    # Other pickle protocols torch.save accepts.
    write("torch", "linear-zip-p4.pt", torch_bytes(state_dicts()["linear"], pickle_protocol=4))
    write("torch", "views-legacy-p4.pt", torch_bytes(state_dicts()["views"], _use_new_zipfile_serialization=False, pickle_protocol=4))


# ---- name maps and specs, from our own writers ----------------------------------

def write_model_seeds(ckpt):
    def run(*args):
        return subprocess.run([ckpt, *args], check=True, capture_output=True).stdout

    with tempfile.TemporaryDirectory() as tmp:
        # Our presets as model::to_json writes maps: the inverse of
        # mlx-to-pytorch is pytorch-to-mlx's conv rules.
        for preset in ("mlx-to-pytorch", "pytorch-to-mlx"):
            out = os.path.join(tmp, "inv.json")
            r = subprocess.run([ckpt, "map", "invert", preset, "-o", out], capture_output=True)
            if r.returncode == 0:
                with open(out, "rb") as f:
                    write("name_map", f"inverse-{preset}.json", f.read())
        # A suggested map and specs of small checkpoints.
        pt = os.path.join(tmp, "seq.pt")
        torch.save(state_dicts()["conv_bn_linear"], pt)
        write("spec", "conv_bn_linear.json", run("spec", pt))
        mlx = os.path.join(tmp, "mlx.json")
        spec = {"parameters": {k: list(v.permute(0, 2, 3, 1).shape) if v.dim() == 4 else list(v.shape)
                               for k, v in state_dicts()["conv_bn_linear"].items()}}
        import json
        with open(mlx, "w") as f:
            json.dump(spec, f)
        out = os.path.join(tmp, "suggested.json")
        run("map", "suggest", pt, "--spec", mlx, "-o", out)
        with open(out, "rb") as f:
            write("name_map", "suggested-conv_bn_linear.json", f.read())


def main():
    write_pickles()
    write_torch()
    if len(sys.argv) > 1:
        write_model_seeds(sys.argv[1])


if __name__ == "__main__":
    main()
