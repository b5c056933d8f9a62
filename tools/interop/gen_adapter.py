#!/usr/bin/env python3
"""Writes a seeded random LoRA adapter in PEFT layout for SmolLM2-135M (or any LLaMA-shaped base).

    python3 tools/interop/gen_adapter.py -o /tmp/t2l-interop/adapter [--seed 0] [--std-b 0.05]

Shapes follow the base: q_proj A (r, hidden), B (heads * head_dim, r); v_proj A (r, hidden),
B (kv_heads * head_dim, r). The keys and adapter_config.json are the ones `t2l describe` writes
(base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight, r 8, lora_alpha 16,
use_rslora: scale 16 / sqrt(8)). A is drawn N(0, 1/hidden) and B N(0, std_b^2): PEFT initialises
B to zero, so a trained-looking adapter needs B set; std_b is chosen so that the adapter moves
the logits visibly (see README.md for the measured effect) without wrecking the model.
"""
import argparse
import json
import os

import numpy as np
from safetensors.numpy import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", required=True, help="adapter folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std-b", type=float, default=0.03, help="standard deviation of lora_B entries")
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=576)
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--kv-heads", type=int, default=3)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--base-name", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    r, h = args.rank, args.hidden
    outs = {"q_proj": args.heads * args.head_dim, "v_proj": args.kv_heads * args.head_dim}
    tensors = {}
    for module, out in outs.items():  # module-major, then layer: the order t2l writes
        for layer in range(args.layers):
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{key}.lora_A.weight"] = (rng.standard_normal((r, h)) / np.sqrt(h)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((out, r)) * args.std_b).astype(np.float32)

    config = {
        "base_model_name_or_path": args.base_name,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_to_transform": None,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": r,
        "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": True,
    }
    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "adapter_model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print(f"gen_adapter: {len(tensors)} tensors, rank {r}, scale {16 / np.sqrt(r):.4f} -> {args.out}")


if __name__ == "__main__":
    main()
