#!/usr/bin/env python3
"""Rerun the committed fixtures' expected outputs on another device and print how far they are.

    python3 tools/reference/compare_devices.py                       # CUDA if available, fp32
    python3 tools/reference/compare_devices.py --dtype bfloat16      # the same inputs in bf16
    python3 tools/reference/compare_devices.py --only llama --report /tmp/cmp.json

Nothing under tests/fixtures is modified: the checkpoints there are read, the recomputed values
stay in memory (generated adapters go to a temporary folder). For every expected tensor it
prints the max |difference| against the committed CPU value and the max |committed value|, and
for greedy continuations how many tokens agree. Exit code 0 unless something could not run:
this tool measures tolerances, it does not judge them.

TF32 is left off for fp32 matmuls (PyTorch's default for torch.matmul on CUDA); pass --tf32 to
measure with it on. Attention is "eager" as in the fixtures.
"""

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import make_fixtures  # noqa: E402  (sets deterministic mode, one CPU thread)
import fx_encoder  # noqa: E402
import fx_tokenizers  # noqa: E402
import fx_t2l  # noqa: E402
from fx_io import library_versions  # noqa: E402

GROUPS = ["encoder"] + make_fixtures.FAMILIES


def compare_tensors(label, committed, fresh, rows):
    for name in sorted(committed):
        if name not in fresh:
            rows.append({"where": label, "tensor": name, "error": "missing in rerun"})
            continue
        a = committed[name]
        b = fresh[name].detach().cpu()
        if a.shape != b.shape:
            rows.append({"where": label, "tensor": name, "error": f"shape {tuple(b.shape)} != {tuple(a.shape)}"})
            continue
        if not a.is_floating_point():
            n_diff = int((a.to(torch.int64) != b.to(torch.int64)).sum())
            rows.append({"where": label, "tensor": name, "kind": "int", "n": a.numel(), "n_different": n_diff})
            continue
        d = (a.double() - b.double()).abs()
        rows.append({"where": label, "tensor": name, "kind": "float", "n": a.numel(),
                     "max_abs_diff": float(d.max()) if d.numel() else 0.0,
                     "max_abs_value": float(a.abs().max()) if a.numel() else 0.0})


def compare_adapters(label, committed_dir, fresh_dir, rows):
    for desc in sorted(os.listdir(committed_dir)):
        a = load_file(os.path.join(committed_dir, desc, "adapter_model.safetensors"))
        b = load_file(os.path.join(fresh_dir, desc, "adapter_model.safetensors"))
        compare_tensors(f"{label}/generated/{desc}", a, b, rows)


def print_rows(rows):
    width = max(len(f"{r['where']}:{r['tensor']}") for r in rows)
    for r in rows:
        key = f"{r['where']}:{r['tensor']}".ljust(width)
        if "error" in r:
            print(f"{key}  ERROR {r['error']}")
        elif r["kind"] == "int":
            print(f"{key}  ints   {r['n_different']:6d} of {r['n']:6d} differ")
        else:
            print(f"{key}  max|diff| {r['max_abs_diff']:.3e}   max|value| {r['max_abs_value']:.3e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.join(REPO, "tests", "fixtures"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--only", action="append", choices=GROUPS)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in CUDA fp32 matmuls")
    ap.add_argument("--report", help="also write every row as JSON to this file")
    a = ap.parse_args()
    if a.device == "cpu":
        print("note: no CUDA device: comparing CPU against CPU (expect zeros)", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.use_deterministic_algorithms(False)  # some CUDA kernels have no deterministic variant
    dtype = getattr(torch, a.dtype)
    out = os.path.abspath(a.fixtures)
    fx_tokenizers.preload_from(os.path.join(out, "tokenizers"))
    groups = a.only or GROUPS
    rows = []
    if "encoder" in groups:
        d = os.path.join(out, make_fixtures.ENCODER_DIR)
        fresh, _ = fx_encoder.expected_encoder(d, a.device, dtype)
        compare_tensors(make_fixtures.ENCODER_DIR, load_file(os.path.join(d, "expected.safetensors")), fresh, rows)
    for fam in make_fixtures.FAMILIES:
        if fam not in groups:
            continue
        fresh, _ = make_fixtures.family_expected(out, fam, a.device, dtype)
        compare_tensors(f"{fam}/base", load_file(os.path.join(out, fam, "expected.safetensors")), fresh, rows)
        for variant in fx_t2l.VARIANTS[fam]:
            ckpt = os.path.join(out, fam, variant.name)
            with tempfile.TemporaryDirectory() as td:
                fresh, _, _ = make_fixtures.t2l_expected(out, fam, variant.name, a.device, dtype, adapters_out=td)
                compare_tensors(f"{fam}/{variant.name}", load_file(os.path.join(ckpt, "expected.safetensors")),
                                fresh, rows)
                compare_adapters(f"{fam}/{variant.name}", os.path.join(ckpt, "generated"), td, rows)
        print(f"{fam}: done", flush=True)
    print_rows(rows)
    floats = [r for r in rows if r.get("kind") == "float"]
    ints = [r for r in rows if r.get("kind") == "int"]
    errors = [r for r in rows if "error" in r]
    print(f"\n{len(floats)} float tensors: largest max|diff| "
          f"{max((r['max_abs_diff'] for r in floats), default=0):.3e}; "
          f"{sum(r['n_different'] > 0 for r in ints)} of {len(ints)} integer tensors differ; {len(errors)} errors")
    print(f"device {a.device} ({torch.cuda.get_device_name() if a.device.startswith('cuda') else 'cpu'}), "
          f"dtype {a.dtype}, tf32 {a.tf32}, {library_versions()}")
    if a.report:
        with open(a.report, "w") as f:
            json.dump({"device": a.device, "dtype": a.dtype, "tf32": a.tf32, "libraries": library_versions(),
                       "rows": rows}, f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
