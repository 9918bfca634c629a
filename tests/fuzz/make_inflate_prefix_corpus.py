#!/usr/bin/python3
"""Writes the seed corpus of the prefix-decoder fuzz harness.

    /usr/bin/python3 tests/fuzz/make_inflate_prefix_corpus.py

Each seed is two bytes choosing the prefix lengths asked for (see
tests/fuzz/fuzz_inflate_prefix.cpp: 12 and 132, about an npy header's
preamble and extent) followed by a raw deflate stream (zlib, windowBits
-15) of an npy member, text, random bytes or runs, at levels 0, 1, 6, 9
and the fixed, Huffman-only and RLE strategies, some with flushes between
pieces (stored, empty stored and several Huffman blocks). The outputs are
committed under tests/fuzz/corpus/inflate_prefix/.
"""
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "inflate_prefix")


def npy_member(n, seed):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % n
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    rng = random.Random(seed)
    data = b"".join(struct.pack("<f", rng.gauss(0, 0.02)) for _ in range(n))
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def deflate(pieces, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    out = b""
    for data, flush in pieces:
        out += c.compress(data)
        if flush is not None:
            out += c.flush(flush)
    return out + c.flush(zlib.Z_FINISH)


def main():
    os.makedirs(OUT, exist_ok=True)
    wants = bytes([12, 15])  # 12, then 12 + 15 * 8 = 132
    npy = npy_member(256, 1)
    rng = random.Random(2)
    text = b"the weights of layer 3 and the attention norm, 0.25\n" * 8
    noise = bytes(rng.randrange(256) for _ in range(300))
    seeds = {
        "npy-level6": deflate([(npy, None)], 6),
        "npy-level1": deflate([(npy, None)], 1),
        "npy-level9": deflate([(npy, None)], 9),
        "npy-stored": deflate([(npy, None)], 0),
        "npy-fixed": deflate([(npy, None)], 6, zlib.Z_FIXED),
        "npy-huffman-only": deflate([(npy, None)], 6, zlib.Z_HUFFMAN_ONLY),
        "npy-rle": deflate([(npy, None)], 6, zlib.Z_RLE),
        "text-level9": deflate([(text, None)], 9),
        "random-level6": deflate([(noise, None)], 6),
        "runs-level6": deflate([(b" " * 300 + b"\n" + b"\0" * 200, None)], 6),
        "flushes": deflate([(npy[:40], zlib.Z_SYNC_FLUSH), (b"", zlib.Z_SYNC_FLUSH), (npy[40:], zlib.Z_FULL_FLUSH), (text, None)], 6),
        "empty": deflate([(b"", None)], 6),
    }
    for name, stream in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(wants + stream)


if __name__ == "__main__":
    main()
