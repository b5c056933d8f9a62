#!/usr/bin/env python3
"""The PyTorch side of `t2l bench` on the same random weights, in the same device call.

    python3 tools/bench/hf_side_by_side.py --base DIR [--adapter PEFT_DIR] [--t2l DIR --encoder DIR]
                                           [--prompt 512] [--gen 32] [--prefill 2048] [--no-compile]

Prints, each a median of warm runs:
  probe      a plain bandwidth probe: a large device-to-device copy (bytes read + written) and a
             read-only reduction, in TB/s, next to the 4.8 TB/s datasheet figure
  HF eager   transformers generate (bf16, sdpa, dynamic cache): decode tok/s for the base model and,
             with --adapter, the PEFT LoRA unmerged (PeftModel) and merged (merge_and_unload)
  HF static  transformers' static cache with the one-token step compiled by
             torch.compile(mode="reduce-overhead"), which replays it as CUDA graphs and removes most
             launch overhead, in a plain greedy loop (the merged LoRA when --adapter is given;
             skipped with --no-compile)
  prefill    one forward pass over --prefill tokens, and the bf16 matrix throughput cuBLAS reaches
             on that pass's projection shapes (torch.matmul), its ceiling
  T2L ref    the reference hypernetwork path (tools/reference: gte NewModel encoder + HyperModulator
             gen_lora, fp32 as released) per adapter: encoder, hypernetwork, total

Decode tok/s is (generate N+1 tokens - generate 1 token) / N, so the prompt's prefill is excluded.
Needs torch, transformers and (for --adapter) peft; runs on CUDA only.
"""
import argparse
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))


def timed(fn, runs=5, warm=1):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def probe():
    n = 2 * 1024 ** 3  # 4 GiB of bf16
    a = torch.empty(n, dtype=torch.bfloat16, device="cuda").normal_()
    b = torch.empty_like(a)
    t = timed(lambda: b.copy_(a), runs=10)
    copy_tbs = 2 * a.numel() * 2 / t / 1e12
    t = timed(lambda: a.sum(dtype=torch.float32), runs=10)
    read_tbs = a.numel() * 2 / t / 1e12
    print(f"probe: device-to-device copy {copy_tbs:.2f} TB/s (read + write), read-only reduction {read_tbs:.2f} TB/s "
          f"(datasheet 4.8 TB/s)")
    del a, b
    torch.cuda.empty_cache()
    return read_tbs


def decode_rate(model, ids, gen):
    def run(n):
        return lambda: model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    t1 = timed(run(1), runs=2)
    tn = timed(run(gen + 1), runs=2)
    return gen / (tn - t1)


def static_decode_rate(model, ids, gen, mode):
    """Greedy decode with transformers' StaticCache and the one-token step compiled by
    torch.compile(mode) (reduce-overhead: replayed as CUDA graphs). The loop is ours, not generate's,
    so nothing but the step runs per token. Returns (tok/s over `gen` steps, seconds to compile)."""
    from transformers import StaticCache
    P = ids.shape[1]
    cache = StaticCache(config=model.config, max_cache_len=P + gen + 8)

    def step(tok, pos):
        out = model(input_ids=tok, past_key_values=cache, cache_position=pos, use_cache=True)
        return out.logits[:, -1].argmax(-1, keepdim=True)

    torch._dynamo.reset()
    compiled = torch.compile(step, mode=mode, fullgraph=True)

    def run(n):
        cache.reset()
        out = model(input_ids=ids, past_key_values=cache, cache_position=torch.arange(P, device="cuda"), use_cache=True)
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            torch.compiler.cudagraph_mark_step_begin()  # the graph's output buffer is reused next step
            tok = compiled(tok, torch.tensor([P + i], device="cuda")).clone()
        torch.cuda.synchronize()
        return time.perf_counter() - t

    t0 = time.perf_counter()
    run(4)
    run(4)  # compiled and recorded
    compile_s = time.perf_counter() - t0
    return statistics.median(gen / run(gen) for _ in range(3)), compile_s


def t2l_reference(args):
    """The reference hypernetwork path: encoder + gen_lora, fp32 as released, median warm."""
    import json
    from fx_encoder import load_encoder, embed_description
    from fx_t2l import load_checkpoint
    from gte_new_model import task_embedding
    base_cfg = json.load(open(os.path.join(args.base, "config.json")))
    enc, tok = load_encoder(args.encoder, device="cuda")
    enc_hidden = json.load(open(os.path.join(args.encoder, "config.json")))["hidden_size"]
    hm, _, _ = load_checkpoint(args.t2l, base_cfg, enc_hidden, device="cuda")
    from hyper_modulator import peft_module_names
    names = peft_module_names(hm.target_modules, hm.max_num_layers)
    layers = torch.arange(hm.max_num_layers, device="cuda")
    desc = "Answer multiple-choice questions about physics, chemistry and biology."
    with torch.no_grad():
        t_enc = timed(lambda: embed_description(enc, tok, desc, device="cuda"), runs=10, warm=2)
        emb = embed_description(enc, tok, desc, device="cuda")["task_emb"].cuda()[None]
        enc_emb = hm.task_encoder(emb)["encoded_task_emb"]
        t_hyp = timed(lambda: hm.gen_lora(layers, hm.task_encoder(emb)["encoded_task_emb"], names), runs=10, warm=2)
    print(f"T2L reference (PyTorch, fp32): encoder {t_enc * 1e3:.1f} ms + gen_lora {t_hyp * 1e3:.1f} ms "
          f"= {(t_enc + t_hyp) * 1e3:.1f} ms per adapter ({hm.max_num_layers} layers x {len(hm.target_modules)} modules)")
    del enc_emb


def main():
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--t2l")
    ap.add_argument("--encoder")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--prefill", type=int, default=2048)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM

    probe()
    if args.t2l and args.encoder:
        t2l_reference(args)
        torch.cuda.empty_cache()
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.bfloat16, attn_implementation="sdpa")
    model = model.cuda().eval()
    weight_bytes = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "embed_tokens" not in n)
    if model.config.tie_word_embeddings:
        weight_bytes += model.get_input_embeddings().weight.numel() * 2
    roof = 4.8e12 / weight_bytes
    print(f"model: {args.base}: {weight_bytes / 1e9:.2f} GB of weights read per decode step; roofline {roof:.0f} tok/s")
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, min(vocab, 2000), (1, args.prompt), generator=g).cuda()

    with torch.no_grad():
        r = decode_rate(model, ids, args.gen)
        print(f"HF eager generate, base: decode {r:.1f} tok/s ({100 * r / roof:.1f}% of roofline)")
        # Prefill: one forward over --prefill tokens, and the matmul ceiling on the same shapes.
        long_ids = torch.randint(0, min(vocab, 2000), (1, args.prefill), generator=g).cuda()
        t = timed(lambda: model(long_ids, use_cache=False, logits_to_keep=1), runs=5)
        print(f"HF prefill {args.prefill} tokens: {t * 1e3:.1f} ms = {args.prefill / t:.0f} tok/s")
        c = model.config
        hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        shapes = [(c.num_attention_heads * hd + 2 * c.num_key_value_heads * hd, c.hidden_size),
                  (c.hidden_size, c.num_attention_heads * hd), (2 * c.intermediate_size, c.hidden_size),
                  (c.hidden_size, c.intermediate_size)]
        x = {k: torch.randn(args.prefill, k, device="cuda", dtype=torch.bfloat16) for k in {s[1] for s in shapes}}
        ws = [torch.randn(o, i, device="cuda", dtype=torch.bfloat16) for o, i in shapes]
        flops = sum(2 * args.prefill * o * i for o, i in shapes)
        t = timed(lambda: [x[w.shape[1]] @ w.t() for w in ws], runs=10)
        print(f"cuBLAS bf16 on one layer's projection shapes at {args.prefill} tokens: {flops / t / 1e12:.0f} TFLOP/s; "
              f"all layers' projections + LM head would take {(flops * c.num_hidden_layers + 2 * args.prefill * c.hidden_size * vocab) / (flops / t) * 1e3:.1f} ms")
        del x, ws

        if args.adapter:
            from peft import PeftModel
            pm = PeftModel.from_pretrained(model, args.adapter).eval()
            r = decode_rate(pm, ids, args.gen)
            print(f"HF eager generate, PEFT LoRA unmerged: decode {r:.1f} tok/s")
            model = pm.merge_and_unload().eval()
            r = decode_rate(model, ids, args.gen)
            print(f"HF eager generate, PEFT LoRA merged: decode {r:.1f} tok/s")

        if not args.no_compile:
            for mode in ("reduce-overhead", "max-autotune-no-cudagraphs"):
                try:
                    r, compile_s = static_decode_rate(model, ids, args.gen, mode)
                    print(f"HF static cache + torch.compile({mode}) step{', LoRA merged' if args.adapter else ''}: "
                          f"decode {r:.1f} tok/s ({100 * r / roof:.1f}% of roofline; compiled in {compile_s:.0f} s)")
                    break
                except Exception as e:  # noqa: BLE001 - report and try the next mode
                    print(f"HF static cache + torch.compile({mode}): failed: {str(e).splitlines()[0][:160]}")
    del model
    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
