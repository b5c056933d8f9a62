#!/usr/bin/env python3
"""t2l against llama.cpp on one GGUF model: tokenisation, greedy continuations, per-position
logits and decode speed, measured in one run (run_parity.sh calls it once per model).

    python3 tools/interop/parity.py --name smollm2 --gguf weights/.cache/smollm2.gguf \
        --model weights/smollm2.t2l --model /tmp/t2l-interop/smollm2-f32.t2l \
        --t2l build-h2/t2l --llama /tmp/t2l-interop/llama_interop --work /tmp/t2l-interop

Every t2l model given (the default bf16 conversion, an f32 one) is compared with the same
llama.cpp run. Both engines see the same token ids: t2l's tokenizer encodes each prompt (with
the BOS its tokenizer.json adds) and llama.cpp's tokenizer is only compared against it.

A model given as ggml:PATH runs t2l with T2L_NUMERICS=ggml, llama.cpp's CPU arithmetic: each
activation row is rounded the way ggml quantises it for the weight's GGUF type before an f32
product with the dequantised weight (what ggml's integer dot products compute), and GELU goes
through ggml's f16 table. With f32 weights that reproduces llama.cpp on the published quantised
file, run with an f32 KV cache and no flash attention ("llama.cpp exact").

Greedy: llama.cpp decodes N tokens greedily from the prompt; t2l then scores prompt + those
tokens in one pass and, at every step, its top token must be llama.cpp's. The number of
leading steps that agree is exactly how long t2l's own greedy continuation stays identical.
"""
import argparse
import json
import os

import numpy as np

from common import Llama, T2l, compare

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three primary colors are",
    "Water boils at 100 degrees Celsius at sea level because",
]

# About 260 tokens of plain prose for the per-position comparison (the first --positions are used).
LONG_TEXT = (
    "The lighthouse stood at the end of a narrow spit of rock, and for most of the year the only "
    "visitors were gulls and the keeper's supply boat. Every evening the keeper climbed the spiral "
    "stairs, trimmed the wick, polished the great lens and wrote the weather into a leather-bound "
    "log: wind from the north-west, sea moderate, visibility good. In winter the storms came in "
    "long grey lines from the ocean, and the waves broke so high against the tower that spray "
    "rattled on the lantern glass a hundred feet above the water. Ships passing in the night saw "
    "the light turn once every ten seconds and knew where they were. When the first electric lamp "
    "was installed, the keeper kept his oil can and his brass wick trimmer on the shelf anyway, "
    "because machines fail and the sea does not forgive. He taught his daughter to read the "
    "barometer, to splice a rope and to count the seconds between flashes of the neighbouring "
    "lights along the coast. Years later, when the station was automated and the last keeper "
    "left, she came back with her own children and showed them the log books, the names of the "
    "ships, the storms, and the small careful handwriting that recorded every night the light had "
    "burned. The numbers were simple: 1,862 nights without a failure, 14 shipwrecks avoided, "
    "3 rescues, and one cat that lived to the age of 19."
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--gguf", required=True, help="the GGUF as published (quantised)")
    ap.add_argument("--gguf-f32", help="the same GGUF with every tensor dequantised to F32 by llama.cpp")
    ap.add_argument("--model", action="append", required=True,
                    help="t2l model converted from the GGUF (repeatable); ggml:PATH uses llama.cpp's CPU numerics")
    ap.add_argument("--t2l", default="./t2l")
    ap.add_argument("--llama", required=True, help="the llama_interop binary")
    ap.add_argument("--work", default="/tmp/t2l-interop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--greedy-tokens", type=int, default=32)
    ap.add_argument("--positions", type=int, default=200)
    ap.add_argument("--bench-prompt", type=int, default=128)
    ap.add_argument("--bench-gen", type=int, default=64)
    ap.add_argument("--bench-runs", type=int, default=3)
    ap.add_argument("--bench-threads", default="2,1", help="thread counts for the speed comparison")
    ap.add_argument("--parts", default="tokenize,greedy,logits,speed", help="which comparisons to run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    t2l, llama = T2l(args.t2l, args.threads), Llama(args.llama, args.threads)
    ref = args.model[0].removeprefix("ggml:")
    name = {m: os.path.basename(m.removeprefix("ggml:")) + (" ggml" if m.startswith("ggml:") else "") for m in args.model}
    # llama.cpp as users run it (flash attention in f16 on the CPU), the published file with f32 KV,
    # no flash attention and the weights in their file layout (no runtime repacking into
    # interleaved rows, whose kernels round differently), and (when given the F32 GGUF) on exactly
    # t2l's weights, with its defaults and then exact. Greedy runs skip the F32 GGUF with defaults.
    exact = ("--kv-f32", "--no-fa", "--no-repack")
    configs = [("llama.cpp", args.gguf, ()), ("llama.cpp exact", args.gguf, exact)]
    if args.gguf_f32:
        configs += [("llama.cpp F32", args.gguf_f32, ()), ("llama.cpp F32 exact", args.gguf_f32, exact)]
    res = {"name": args.name, "gguf": args.gguf, "threads": args.threads, "models": args.model, "load_before": os.getloadavg()}
    print(f"== {args.name}: {args.gguf}, {args.threads} threads")

    parts = set(args.parts.split(","))

    # 1. Tokenisation.
    tok = []
    for text in PROMPTS + [LONG_TEXT] if "tokenize" in parts else []:
        a, b = t2l.tokenize(ref, text), llama.tokenize(args.gguf, text)
        first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        tok.append({"text": text[:40], "t2l": len(a), "llama": len(b), "equal": a == b, "first_difference": None if a == b else first,
                    "t2l_head": a[:3], "llama_head": b[:3]})
    res["tokenize"] = tok
    if tok:
        print("tokenisation (t2l vs llama.cpp, each with its own BOS rule):")
    for t in tok:
        print(f"  {t['text']!r:44} t2l {t['t2l']:3} ids, llama.cpp {t['llama']:3} ids, "
              + ("identical" if t["equal"] else f"differ at {t['first_difference']} (heads {t['t2l_head']} vs {t['llama_head']})")
              + f", first ids {t['t2l_head']}")

    # 2. Greedy continuations: llama.cpp decodes, t2l must pick the same token at every step.
    res["greedy"] = []
    if "greedy" in parts:
        print(f"greedy, {args.greedy_tokens} tokens: leading tokens where t2l's top token is llama.cpp's")
    for p in PROMPTS if "greedy" in parts else []:
        ids = t2l.tokenize(ref, p)
        row = {"prompt": p, "prompt_ids": len(ids), "runs": {}}
        for label, gguf, flags in [c for c in configs if c[0] != "llama.cpp F32"]:
            gen = llama.greedy(gguf, ids, args.greedy_tokens, flags)
            run = {"ids": gen, "text": t2l.decode(ref, gen), "match": {}}
            for m in args.model:
                lg = t2l.logits(m, ids + gen[:-1], os.path.join(args.work, "greedy.safetensors"))
                picks = lg[len(ids) - 1:].argmax(1)
                same = int(np.argmin(np.append(picks == np.array(gen), False)))
                run["match"][m] = same
                if same < len(gen):  # how close the call was where they part
                    r = lg[len(ids) - 1 + same]
                    run.setdefault("split", {})[m] = {"step": same, "t2l_top": int(picks[same]), "llama_top": gen[same],
                                                      "t2l_margin": float(r[picks[same]] - r[gen[same]])}
            row["runs"][label] = run
            print(f"  {p[:34]!r:36} {label:20} " + ", ".join(f"{name[m]} {run['match'][m]:2}/{len(gen)}" for m in args.model)
                  + f"  {run['text'][:50]!r}")
        res["greedy"].append(row)

    # 3. Per-position logits over the whole vocabulary.
    if "logits" in parts:
        logits_part(args, t2l, llama, ref, name, configs, res)
    if "speed" in parts:
        speed_part(args, t2l, llama, name, res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


def logits_part(args, t2l, llama, ref, name, configs, res):
    ids = t2l.tokenize(ref, LONG_TEXT)[: args.positions]
    assert len(ids) == args.positions, f"LONG_TEXT gives only {len(ids)} tokens"
    lls = {label: llama.logits(gguf, ids, os.path.join(args.work, "llama.npy"), flags=flags) for label, gguf, flags in configs}
    res["logits"] = {}
    print(f"logits over {len(ids)} positions (whole vocabulary, {lls['llama.cpp'].shape[1]}):")
    for m in args.model:
        tl = t2l.logits(m, ids, os.path.join(args.work, "t2l.safetensors"))
        for label, ll in lls.items():
            c = compare(tl, ll)
            res["logits"][f"{name[m]} vs {label}"] = c
            print(f"  t2l {name[m]:22} vs {label:20}: top-1 {100 * c['top1']:5.1f}%, max |diff| {c['max_abs']:.2e}, "
                  f"mean |diff| {c['mean_abs']:.2e} (|logits| up to {c['logit_range']:.1f})")
    # llama.cpp against itself on the published file: the same run with the work split otherwise.
    exact = next(c for c in configs if c[0] == "llama.cpp exact")
    res["llama_self"] = {}
    for label, extra in [("one token at a time (--ubatch 1)", ("--ubatch", "1")), ("7 tokens at a time", ("--ubatch", "7"))]:
        other = llama.logits(exact[1], ids, os.path.join(args.work, "llama.npy"), flags=exact[2] + extra)
        c = res["llama_self"][label] = compare(lls["llama.cpp exact"], other)
        print(f"  llama.cpp exact vs itself, {label:32}: top-1 {100 * c['top1']:5.1f}%, max |diff| {c['max_abs']:.2e}")
    other = llama.logits(exact[1], ids, os.path.join(args.work, "llama.npy"), flags=tuple(f for f in exact[2] if f != "--no-repack"))
    c = res["llama_self"]["runtime repacking"] = compare(lls["llama.cpp exact"], other)
    print(f"  llama.cpp exact vs itself, {'with runtime repacking':32}: top-1 {100 * c['top1']:5.1f}%, max |diff| {c['max_abs']:.2e}")



def speed_part(args, t2l, llama, name, res):
    """Decode speed: the same synthetic prompt and greedy loop in both (`t2l bench decode`),
    engines alternated, each one's best run kept."""
    res["speed"] = {}
    res["load_bench"] = os.getloadavg()
    print(f"speed (prompt {args.bench_prompt}, {args.bench_gen} greedy tokens, best of {args.bench_runs}; "
          f"load average before {res['load_bench'][0]:.1f}):")
    for th in [int(x) for x in args.bench_threads.split(",")]:
        speed = {}
        for _ in range(args.bench_runs):
            for key, f in [(m, lambda m=m: t2l.bench_decode(m, args.bench_prompt, args.bench_gen, th)) for m in args.model] + \
                          [("llama.cpp", lambda: llama.bench_decode(args.gguf, args.bench_prompt, args.bench_gen, th))]:
                pf, dec = f()
                best = speed.get(key, (0, 0))
                speed[key] = (max(best[0], pf), max(best[1], dec))
        res["speed"][th] = {name.get(k, k): {"prefill_tok_s": v[0], "decode_tok_s": v[1]} for k, v in speed.items()}
        lp, ld = speed["llama.cpp"]
        print(f"  {th} thread(s): llama.cpp ({os.path.basename(args.gguf)}) prefill {lp:7.1f} tok/s, decode {ld:6.2f} tok/s")
        for m in args.model:
            p, d = speed[m]
            print(f"  {th} thread(s): t2l {name[m]:22} prefill {p:7.1f} tok/s, decode {d:6.2f} tok/s"
                  f"  (t2l / llama.cpp: decode {d / ld:.2f}x, prefill {p / lp:.2f}x)")
    res["load_after"] = os.getloadavg()
    print(f"  load average after: {res['load_after'][0]:.1f} ({os.cpu_count()} cores; other work on the machine slows both engines)")


if __name__ == "__main__":
    main()
