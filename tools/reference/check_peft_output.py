#!/usr/bin/env python3
"""Check that adapters written by `t2l describe` load in peft and give the oracle's logits.

For every T2L fixture checkpoint (tests/fixtures/<family>/t2l_*), this converts it with
./t2l-convert (bundling tests/fixtures/gte_encoder), runs ./t2l describe on each fixture
description, loads the PEFT folder with PeftModel.from_pretrained on the fixture base model
(fp32, eager attention, unmerged) and compares the chat-prompt logits with the committed
expected values. Prints one line per adapter and exits non-zero on a mismatch.

    python3 tools/reference/check_peft_output.py [--bin .] [--device cpu|cuda] [--tol 1e-3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIX = os.path.join(REPO, "tests", "fixtures")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=REPO, help="folder holding the built t2l and t2l-convert")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tol", type=float, default=1e-3)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    worst, failures, rows = 0.0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("llama", "mistral", "gemma"):
            base_dir = os.path.join(FIX, family, "base")
            base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
            for name in sorted(os.listdir(os.path.join(FIX, family))):
                if not name.startswith("t2l_"):
                    continue
                ck = os.path.join(FIX, family, name)
                t2l_file = os.path.join(tmp, f"{family}_{name}.t2l")
                subprocess.run([os.path.join(args.bin, "t2l-convert"), ck, "-o", t2l_file, "-q",
                                "--encoder", os.path.join(FIX, "gte_encoder")], check=True)
                info = json.load(open(os.path.join(ck, "expected.json")))
                exp = load_file(os.path.join(ck, "expected.safetensors"))
                ids = exp["chat.input_ids"].long()[None].to(args.device)
                for d, di in sorted(info["descriptions"].items()):
                    out = os.path.join(tmp, f"{family}_{name}_{d}")
                    subprocess.run([os.path.join(args.bin, "t2l"), "describe", di["description"], "--t2l", t2l_file,
                                    "-o", out, "-q"], check=True)
                    model = PeftModel.from_pretrained(base, out).to(args.device).eval()
                    with torch.no_grad():
                        logits = model(ids).logits[0].float().cpu()
                    base = model.unload()  # the same base for the next adapter
                    pos = exp[f"{d}.chat.logits_positions"].long()
                    err = float((logits[pos] - exp[f"{d}.chat.logits"]).abs().max())
                    worst = max(worst, err)
                    rows += 1
                    ok = err <= args.tol
                    failures += not ok
                    print(f"{family:8s} {name:22s} {d}: max |logit diff| vs oracle {err:.2e} {'ok' if ok else 'FAIL'}")
    print(f"{rows} adapters written by t2l describe, loaded in peft on {args.device}: worst {worst:.2e}, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
