#!/usr/bin/env python3
"""Logits of SmolLM2 with and without one LoRA adapter, from t2l (the PEFT folder) and llama.cpp
(the GGUF `t2l convert-adapter` wrote from it), for compare_engines.py. hf_peft_logits.py adds
the third engine from the same tokens.json.

    python3 tools/interop/adapter_interop.py --gguf weights/.cache/smollm2.gguf \
        --model /tmp/t2l-interop/smollm2-f32.t2l --adapter /tmp/t2l-interop/adapter \
        --adapter-gguf /tmp/t2l-interop/adapter.gguf --t2l build-h2/t2l \
        --llama /tmp/t2l-interop/llama_interop --out /tmp/t2l-interop/logits

Writes OUT/tokens.json and OUT/{engine}_{base,lora}.npy ((positions, vocab) f32). Engines:
`t2l` (first --model), `t2l-<name>` for further models, `t2l-gguf` (t2l reading the GGUF
adapter back instead of the PEFT folder), `llama.cpp` (the quantised GGUF, default
settings), `llama.cpp-f32` (--gguf-f32: the GGUF dequantised by llama.cpp, f32 KV cache, no
flash attention: t2l's weights and arithmetic); and two deliberately wrong GGUF adapters as
controls that the comparison must catch (run on the F32 GGUF when given): `llama.cpp-alpha16`
(adapter.lora.alpha = the PEFT lora_alpha, what llama.cpp's own converter writes for an rsLoRA
adapter: 2.83x too weak) and `llama.cpp-unpermuted` (q_proj's B without llama.cpp's row
permutation).
"""
import argparse
import json
import os

import numpy as np

from common import Llama, T2l

TEXT = (
    "Question: A student mixes baking soda and vinegar in a cup and sees bubbles. Which gas is "
    "produced? Options: oxygen, carbon dioxide, nitrogen, hydrogen. Answer: The bubbles are carbon "
    "dioxide, released when the acid in vinegar reacts with sodium bicarbonate. Question: Why does "
    "ice float on water? Options: it is colder, it is less dense than liquid water, it is lighter "
    "in colour, it contains air. Answer:"
)


def rewrite_gguf(src, dst, alpha=None, unpermute_q=None):
    """A copy of a GGUF adapter with alpha replaced, or q_proj's B rows put back in HF order."""
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, arch=bytes(r.fields["general.architecture"].parts[-1]).decode())
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        t = field.types[0]
        if t == gguf.GGUFValueType.STRING:
            w.add_string(name, bytes(field.parts[-1]).decode())
        elif t == gguf.GGUFValueType.FLOAT32:
            w.add_float32(name, alpha if name == "adapter.lora.alpha" and alpha is not None else float(field.parts[-1][0]))
        elif t == gguf.GGUFValueType.UINT32:
            w.add_uint32(name, int(field.parts[-1][0]))
    for t in r.tensors:
        data = np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        if unpermute_q and ".attn_q.weight.lora_b" in t.name:
            n_head = unpermute_q
            out, rank = data.shape
            hd = out // n_head
            # interleaved pairs (2j + t) back to halves (t * hd/2 + j)
            data = data.reshape(n_head, hd // 2, 2, rank).transpose(0, 2, 1, 3).reshape(out, rank)
        w.add_tensor(t.name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True, help="the base model GGUF")
    ap.add_argument("--gguf-f32", help="the same GGUF dequantised to F32 by llama.cpp")
    ap.add_argument("--model", action="append", required=True, help="t2l model(s) converted from the GGUF")
    ap.add_argument("--adapter", required=True, help="PEFT adapter folder")
    ap.add_argument("--adapter-gguf", required=True, help="the same adapter as a llama.cpp GGUF")
    ap.add_argument("--t2l", default="./t2l")
    ap.add_argument("--llama", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--positions", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-controls", action="store_true", help="skip the two wrong GGUFs (needs the gguf package)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t2l, llama = T2l(args.t2l, args.threads), Llama(args.llama, args.threads)

    ids = t2l.tokenize(args.model[0], TEXT)[: args.positions]
    assert len(ids) == args.positions, f"TEXT gives only {len(ids)} tokens"
    with open(os.path.join(args.out, "tokens.json"), "w") as f:
        json.dump({"ids": ids, "text": TEXT}, f)

    def save(engine, kind, logits):
        np.save(os.path.join(args.out, f"{engine}_{kind}.npy"), np.asarray(logits, np.float32))

    tmp = os.path.join(args.out, "tmp.safetensors")
    for i, m in enumerate(args.model):
        engine = "t2l" if i == 0 else "t2l-" + os.path.basename(m).replace(".t2l", "")
        save(engine, "base", t2l.logits(m, ids, tmp))
        save(engine, "lora", t2l.logits(m, ids, tmp, lora=args.adapter))
        if i == 0:
            save("t2l-gguf", "base", np.load(os.path.join(args.out, "t2l_base.npy")))
            save("t2l-gguf", "lora", t2l.logits(m, ids, tmp, lora=args.adapter_gguf))
    os.remove(tmp)
    tmp = os.path.join(args.out, "tmp.npy")
    configs = [("llama.cpp", args.gguf, ())]
    if args.gguf_f32:
        configs.append(("llama.cpp-f32", args.gguf_f32, ("--kv-f32", "--no-fa")))
    for engine, gguf, flags in configs:
        save(engine, "base", llama.logits(gguf, ids, tmp, flags=flags))
        save(engine, "lora", llama.logits(gguf, ids, tmp, lora=args.adapter_gguf, flags=flags))
    if not args.no_controls:
        engine0, gguf, flags = configs[-1]
        cfg = json.load(open(os.path.join(args.adapter, "adapter_config.json")))
        for engine, kw in (("llama.cpp-alpha16", {"alpha": float(cfg["lora_alpha"])}), ("llama.cpp-unpermuted", {"unpermute_q": 9})):
            bad = os.path.join(args.out, engine + ".gguf")
            rewrite_gguf(args.adapter_gguf, bad, **kw)
            save(engine, "base", np.load(os.path.join(args.out, engine0 + "_base.npy")))
            save(engine, "lora", llama.logits(gguf, ids, tmp, lora=bad, flags=flags))
            os.remove(bad)
    os.remove(tmp)
    print(f"adapter_interop: {len(ids)} positions -> {args.out}")


if __name__ == "__main__":
    main()
