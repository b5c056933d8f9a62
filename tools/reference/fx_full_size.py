"""Benchmark-sized random checkpoints in the released layouts (never committed).

    python3 tools/reference/make_fixtures.py --full-size llama8b --out DIR      # DIR/llama8b/
    python3 tools/reference/make_fixtures.py --full-size all --out DIR          # everything below

What each name writes (under DIR/<name>/):
  llama8b     Llama-3.1-8B-Instruct shapes, bf16, hub-style shards of <= 5 GB + index, hub config
  mistral7b   Mistral-7B-Instruct-v0.2 shapes, bf16, shards + index
  gemma2b     gemma-2-2b-it shapes, bf16, shards + index (tied embeddings: no lm_head)
  gte-large   gte-large-en-v1.5 shapes, fp32, one model.safetensors (NewModel names), config.json
  t2l-llama8b / t2l-mistral7b / t2l-gemma2b
              the released T2L "L" layout for that base: hypermod.pt (torch.save(state_dict), fp32,
              latent 512, head 2048, task embedding 1024 = gte-large), args.yaml, adapter_config.json
Weights are drawn with torch.randn on CUDA when it is available (one generator per tensor, seeded
from the tensor's name), so the same command gives the same values on the same device type.

Tokenizers: the fixture tokenizers of the same family (small vocabularies) are copied in; their
ids all fall inside the full vocabulary. config.json/generation_config.json keep the hub's values
except bos/eos/pad ids, which follow the copied tokenizer so chat prompts end where they should.
"""

import json
import math
import os
import time

import torch
from safetensors.torch import save_file

import fx_tokenizers
from fx_io import ensure_dir, name_seed, write_json, write_text

MAX_SHARD_BYTES = 5 * 10 ** 9  # transformers' default max_shard_size "5GB" (what the hub files used)

LLAMA8B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama", "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256,
}
MISTRAL7B = {
    "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.36.0", "use_cache": True, "vocab_size": 32000,
}
GEMMA2B = {
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 107],
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
    "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2",
    "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
    # torch_dtype says float32 while the shards hold bf16: loaders must read the safetensors dtypes
    "torch_dtype": "float32", "transformers_version": "4.42.4", "use_cache": True, "vocab_size": 256000,
}

# A mid-size LLaMA-layout model (about 0.4B parameters) for CPU benchmarks of the decoder.
LLAMA_MID = dict(LLAMA8B, hidden_size=896, intermediate_size=4864, num_attention_heads=14, num_key_value_heads=2,
                 num_hidden_layers=24, vocab_size=32000, max_position_embeddings=32768, bos_token_id=1984,
                 eos_token_id=[1985, 1993])

BASES = {
    # name: (config, tokenizer fixture, hub id written into T2L args.yaml/adapter_config.json, generation extras)
    "llama8b": (LLAMA8B, "llama3_bpe", "meta-llama/Llama-3.1-8B-Instruct",
                {"do_sample": True, "temperature": 0.6, "top_p": 0.9}),
    "mistral7b": (MISTRAL7B, "spm_mistral", "mistralai/Mistral-7B-Instruct-v0.2", {}),
    "gemma2b": (GEMMA2B, "spm_gemma", "google/gemma-2-2b-it",
                {"_from_model_config": True, "cache_implementation": "hybrid"}),
    "llama-mid": (LLAMA_MID, "llama3_bpe", "t2l/llama-mid-0.4b", {}),
}
NAMES = list(BASES) + ["gte-large"] + ["t2l-" + b for b in BASES]


def device():
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def drandn(shape, *parts, std=1.0, mean=0.0, dev=None):
    """fp32 normal values seeded by name, drawn on the device (values differ between CPU and CUDA
    generators; the full-size files are for speed and CPU-vs-GPU agreement, not committed)."""
    dev = dev or device()
    g = torch.Generator(device=dev)
    g.manual_seed(name_seed(*parts))
    t = torch.randn(*shape, generator=g, device=dev, dtype=torch.float32)
    return t.mul_(std).add_(mean)


def _meta_params(cls_cfg, cls_model, cfg):
    kw = {k: v for k, v in json.loads(json.dumps(cfg)).items()
          if k not in ("architectures", "model_type", "torch_dtype", "transformers_version")}
    config = cls_cfg(**kw)
    with torch.device("meta"):
        model = cls_model(config)
    return [(n, tuple(p.shape)) for n, p in model.named_parameters()]  # model order, tied deduplicated


def decoder_param_shapes(cfg):
    from transformers import (Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                              MistralForCausalLM)
    cls = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
           "gemma2": (Gemma2Config, Gemma2ForCausalLM)}[cfg["model_type"]]
    return _meta_params(cls[0], cls[1], cfg)


def decoder_init(family, name, shape, dev):
    key = (family, name)
    gemma = family.startswith("gemma")
    if name.endswith("embed_tokens.weight"):
        return drandn(shape, *key, std=0.25 if gemma else 1.0, dev=dev)
    if name.endswith("norm.weight"):
        # Gemma applies (1 + w); Llama/Mistral apply w
        return drandn(shape, *key, std=0.1, mean=0.0 if gemma else 1.0, dev=dev)
    if name.endswith(".weight") and len(shape) == 2:
        return drandn(shape, *key, std=1.0 / math.sqrt(shape[1]), dev=dev)
    raise ValueError(f"no init rule for {name}")


def write_sharded(out_dir, params, make, dtype):
    """Greedy shards in model order, each <= MAX_SHARD_BYTES, named and indexed like the hub."""
    groups, cur, cur_bytes = [], [], 0
    esize = torch.tensor([], dtype=dtype).element_size()
    for name, shape in params:
        nbytes = math.prod(shape) * esize
        if cur and cur_bytes + nbytes > MAX_SHARD_BYTES:
            groups.append(cur)
            cur, cur_bytes = [], 0
        cur.append((name, shape))
        cur_bytes += nbytes
    groups.append(cur)
    n = len(groups)
    weight_map, total = {}, 0
    for k, group in enumerate(groups):
        fn = "model.safetensors" if n == 1 else "model-%05d-of-%05d.safetensors" % (k + 1, n)
        part = {}
        for name, shape in group:
            part[name] = make(name, shape).to(dtype).cpu().contiguous()
            total += part[name].numel() * part[name].element_size()
            weight_map[name] = fn
        save_file(part, os.path.join(out_dir, fn), metadata={"format": "pt"})
        del part
        print(f"    {fn} ({len(group)} tensors)", flush=True)
    if n > 1:
        write_json(os.path.join(out_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    return total


def write_base(name, out_dir):
    cfg, tok_name, _, gen_extra = BASES[name]
    cfg = json.loads(json.dumps(cfg))
    ensure_dir(out_dir)
    _, _, special = fx_tokenizers.get(tok_name)
    cfg["bos_token_id"] = special["bos_token_id"]
    cfg["eos_token_id"] = special["eos_token_id"]
    if "pad_token_id" in cfg:
        cfg["pad_token_id"] = special.get("pad_token_id", cfg["pad_token_id"])
    dev = device()
    params = decoder_param_shapes(cfg)
    total = write_sharded(out_dir, params, lambda n, s: decoder_init(name, n, s, dev), torch.bfloat16)
    write_json(os.path.join(out_dir, "config.json"), cfg)
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
           "transformers_version": cfg["transformers_version"]}
    gen.update(gen_extra)
    if "pad_token_id" in cfg:
        gen["pad_token_id"] = cfg["pad_token_id"]
    write_json(os.path.join(out_dir, "generation_config.json"), gen)
    fx_tokenizers.write_tokenizer_dir(out_dir, tok_name)
    return total


def write_gte_large(out_dir):
    from gte_new_model import GTE_LARGE_CONFIG, NewModel
    ensure_dir(out_dir)
    cfg = dict(GTE_LARGE_CONFIG)
    with torch.device("meta"):
        model = NewModel(cfg)
    params = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    dev = device()

    def make(name, shape):
        key = ("gte-large", name)
        if name.endswith("LayerNorm.weight") or name.endswith("_ln.weight"):
            return drandn(shape, *key, std=0.1, mean=1.0, dev=dev)
        if name.endswith(".bias"):
            return drandn(shape, *key, std=0.02, dev=dev)
        if "embeddings" in name:
            return drandn(shape, *key, std=0.5, dev=dev)
        return drandn(shape, *key, std=1.0 / math.sqrt(shape[1]), dev=dev)

    # one fp32 file, as the hub's model.safetensors (about 1.7 GB)
    part = {n: make(n, s).cpu().contiguous() for n, s in params}
    save_file(part, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out_dir, "config.json"), cfg)
    fx_tokenizers.write_tokenizer_dir(out_dir, "bert_wordpiece")
    return sum(t.numel() * 4 for t in part.values())


def write_t2l(base_name, out_dir, latent=512, head_in=2048, emb_size=1024):
    import fx_t2l
    cfg, _, hub_id, _ = BASES[base_name]
    ensure_dir(out_dir)
    variant = fx_t2l.Variant("t2l_L")
    n_layers, in_f, out_f = fx_t2l.base_shapes(cfg)
    dev = device()
    hm = fx_t2l.construct(variant, n_layers, in_f, out_f, emb_size, latent, head_in).to(dev)
    with torch.no_grad():
        for name, p in hm.named_parameters():
            key = ("t2l-" + base_name, name)
            shape = tuple(p.shape)
            if name.startswith(("AB_offset.", "mean_recon_target.")):
                v = drandn(shape, *key, std=0.01, dev=dev)
            elif name.startswith("std_recon_target."):
                v = drandn(shape, *key, std=0.005, mean=0.03, dev=dev).abs_()
            elif name.endswith(".weight") and p.dim() == 2 and "encoder.0." in name:
                v = drandn(shape, *key, std=1.0, dev=dev)
            elif name.endswith(".weight") and p.dim() == 2:
                v = drandn(shape, *key, std=1.0 / math.sqrt(shape[1]), dev=dev)
            elif name.endswith(".weight") and p.dim() == 1:
                v = drandn(shape, *key, std=0.1, mean=1.0, dev=dev)
            elif name.endswith(".bias"):
                v = drandn(shape, *key, std=0.05, dev=dev)
            else:
                raise ValueError(name)
            p.copy_(v)
        emb = drandn((1, emb_size), "t2l-" + base_name, "calibration", dev=dev)
        emb = torch.nn.functional.normalize(emb, dim=-1) * math.sqrt(emb_size)
        fx_t2l.calibrate_heads(hm, hm.task_encoder(emb)["encoded_task_emb"], 0.02)
    # saved from the device it lives on: from CUDA the pickle says "cuda:0", as the released files
    fx_t2l.save_state_dict(hm.state_dict(), os.path.join(out_dir, "hypermod.pt"),
                           None if dev.type == "cuda" else "cuda:0")
    args = fx_t2l.make_args(variant, hub_id, "Alibaba-NLP/gte-large-en-v1.5", latent, head_in)
    write_text(os.path.join(out_dir, "args.yaml"), fx_t2l.dump_args_yaml(args))
    write_text(os.path.join(out_dir, "adapter_config.json"), fx_t2l.peft_config_json(hub_id, variant.target_modules))
    return sum(p.numel() * 4 for p in hm.state_dict().values())


def write(name, out):
    names = NAMES if name == "all" else [name]
    for n in names:
        d = os.path.join(out, n)
        t0 = time.time()
        print(f"{n} -> {d} (device {device()})", flush=True)
        if n in BASES:
            nbytes = write_base(n, d)
        elif n == "gte-large":
            nbytes = write_gte_large(d)
        else:
            nbytes = write_t2l(n[len("t2l-"):], d)
        print(f"  {nbytes / 1e9:.2f} GB of tensors in {time.time() - t0:.1f} s", flush=True)
