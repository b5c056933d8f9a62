#!/usr/bin/env python3
"""Small GGUF fixtures for the GGUF importer's tests (tests/test_gguf_import.cpp).

    python3 tools/reference/make_gguf_fixtures.py            # write tests/fixtures/gguf/
    python3 tools/reference/make_gguf_fixtures.py --check    # write to a temp dir, compare bytes

Writes tests/fixtures/gguf/quants.gguf holding, for every block format the importer decodes,
a tensor of seeded random blocks named after the type ("q4_k") and next to it "<name>.ref",
the same values dequantised by the `gguf` Python package (gguf.quants.dequantize) as f32. The
C++ dequantisers must reproduce the reference bit for bit: both compute in f32 in ggml's order.

  - Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: random normal values quantised by gguf.quants.quantize, plus
    one all-zero block and one block of a single repeated value;
  - Q4_K, Q5_K, Q6_K (the package has no quantiser for them): random block bytes with the f16
    scales replaced by finite random halves, so every bit pattern of the packed 6-bit scales,
    high bits and nibbles is exercised;
  - F16, BF16: random values in those types.

It also holds the llama.cpp q/k row permutation applied to a known matrix, as llama.cpp's
convert_hf_to_gguf.py applies it (reshape(n_head, 2, rows / n_head / 2, cols), swap axes 1 and
2, reshape back): "perm.q" (n_head 3) and "perm.k" (n_head 1, as for a single kv head) both
permute M[r, c] = 100 r + c of shape (24, 5); the importer must give M back.

Everything is seeded; the file is a few tens of KB. Needs numpy and gguf (pip install gguf).
"""
import argparse
import filecmp
import importlib.metadata
import os
import sys
import tempfile

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "..", "tests", "fixtures", "gguf")

# (type, rows, blocks per row)
LEGACY = [(T.Q4_0, 3, 3), (T.Q4_1, 3, 3), (T.Q5_0, 3, 3), (T.Q5_1, 3, 3), (T.Q8_0, 3, 3)]
KQUANTS = [(T.Q4_K, 2, 2), (T.Q5_K, 2, 2), (T.Q6_K, 2, 2)]


def legacy_blocks(qtype, rows, nblk, rng):
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    x = rng.standard_normal((rows, nblk * block)).astype(np.float32) * np.float32(0.05)
    x[0, :block] = 0.0           # an all-zero block (scale 0)
    x[1, :block] = np.float32(-0.0375)  # one value repeated (max == min for the affine types)
    x[2, -block:] *= np.float32(40.0)   # a block with large values
    return gguf.quants.quantize(x, qtype)


def k_blocks(qtype, rows, nblk, rng):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * nblk, size), dtype=np.uint8)
    halves = (rng.standard_normal((rows * nblk, 2)) * 0.01).astype(np.float16)
    if qtype == T.Q6_K:
        raw[:, size - 2:] = halves[:, :1].view(np.uint8)  # d is the last 2 bytes
    else:
        raw[:, 0:4] = halves.view(np.uint8).reshape(-1, 4)  # d, dmin lead the block
    return raw.reshape(rows, nblk * size)


def permute(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write(path):
    rng = np.random.default_rng(20260701)
    w = gguf.GGUFWriter(path, arch="t2l-test", use_temp_file=False)
    w.add_string("t2l.fixture", "dequantisation references from gguf " + importlib.metadata.version("gguf"))
    for qtype, rows, nblk in LEGACY + KQUANTS:
        data = legacy_blocks(qtype, rows, nblk, rng) if (qtype, rows, nblk) in LEGACY else k_blocks(qtype, rows, nblk, rng)
        ref = gguf.quants.dequantize(data, qtype).astype(np.float32)
        name = qtype.name.lower()
        w.add_tensor(name, data, raw_dtype=qtype)
        w.add_tensor(name + ".ref", ref)
    x16 = (rng.standard_normal((2, 40)) * 3).astype(np.float16)
    w.add_tensor("f16", x16)
    w.add_tensor("f16.ref", x16.astype(np.float32))
    xb = (rng.standard_normal((2, 40)) * 3).astype(np.float32)
    b16 = gguf.quants.quantize(xb, T.BF16)
    w.add_tensor("bf16", b16, raw_dtype=T.BF16)
    w.add_tensor("bf16.ref", gguf.quants.dequantize(b16, T.BF16).astype(np.float32))

    m = (100 * np.arange(24)[:, None] + np.arange(5)[None, :]).astype(np.float32)
    w.add_tensor("perm.q", permute(m, 3))
    w.add_tensor("perm.k", permute(m, 1))
    w.add_tensor("perm.ref", m)
    w.add_uint32("perm.q.n_head", 3)
    w.add_uint32("perm.k.n_head", 1)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="write to a temporary folder and compare with the committed files")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "quants.gguf")
            write(p)
            same = filecmp.cmp(p, os.path.join(OUT_DIR, "quants.gguf"), shallow=False)
            print("quants.gguf:", "identical" if same else "DIFFERS")
            sys.exit(0 if same else 1)
    os.makedirs(OUT_DIR, exist_ok=True)
    p = os.path.join(OUT_DIR, "quants.gguf")
    write(p)
    print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes)")


if __name__ == "__main__":
    main()
