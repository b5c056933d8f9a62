#!/usr/bin/env python3
"""The third engine of the adapter interop: HF transformers + peft on the same GGUF and tokens.

    python3 tools/interop/hf_peft_logits.py --gguf weights/.cache/smollm2.gguf \
        --adapter /tmp/t2l-interop/adapter --tokens /tmp/t2l-interop/logits/tokens.json --out OUT_DIR

Loads the base with transformers' GGUF support (from_pretrained(..., gguf_file=...): it
dequantises every tensor and undoes llama.cpp's q/k permutation; the `gguf` pip package must be
installed), in f32 with TF32 off and eager attention, runs the token ids of tokens.json, then
applies the PEFT folder with PeftModel.from_pretrained and runs them again. Writes
OUT_DIR/hf_base.npy and OUT_DIR/hf_lora.npy ((positions, vocab) f32) for compare_engines.py, and
checks that peft's disable_adapter() gives back the base logits. Runs on a GPU when there is one.
"""
import argparse
import json
import os

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--adapter", required=True, help="PEFT adapter folder")
    ap.add_argument("--tokens", required=True, help="tokens.json written by adapter_interop.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)

    ids = json.load(open(args.tokens))["ids"]
    gguf = os.path.abspath(args.gguf)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32,
                                                 attn_implementation="eager").to(args.device).eval()
    x = torch.tensor([ids], device=args.device)
    with torch.no_grad():
        base = model(x).logits[0].float().cpu().numpy()
        model = PeftModel.from_pretrained(model, args.adapter).to(args.device).eval()
        lora = model(x).logits[0].float().cpu().numpy()
        with model.disable_adapter():
            off = model(x).logits[0].float().cpu().numpy()
    np.save(os.path.join(args.out, "hf_base.npy"), base.astype(np.float32))
    np.save(os.path.join(args.out, "hf_lora.npy"), lora.astype(np.float32))
    scale = model.peft_config["default"]
    print(f"hf_peft_logits: {len(ids)} positions, vocab {base.shape[1]}, device {args.device}, "
          f"r {scale.r}, lora_alpha {scale.lora_alpha}, use_rslora {scale.use_rslora}; "
          f"max |lora - base| {np.abs(lora - base).max():.4f}, disable_adapter() vs base {np.abs(off - base).max():.2e}")


if __name__ == "__main__":
    main()
