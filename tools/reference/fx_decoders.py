"""Tiny random-weight base models (Llama-3.1, Mistral-v0.2, Gemma-2 styles) and their expected
outputs (logits, greedy continuations, per-layer hidden states), computed with transformers.

Each family is described by a FamilySpec: the tokenizer it uses, its config, how its weights are
initialised (every tensor non-trivial: norms and lm_head too) and how it is written:
- llama:   hub layout, transformers-4 config spelling (rope_theta + rope_scaling{rope_type:llama3},
           torch_dtype), bf16 weights in 2 shards + model.safetensors.index.json. Untied lm_head.
- mistral: transformers-5 save_pretrained layout and spelling (rope_parameters, dtype), fp32,
           one model.safetensors. Untied lm_head. num_key_value_heads = 1.
- gemma:   hub layout, transformers-4 spelling (no layer_types: even layers slide), bf16, one file,
           tied embeddings (no lm_head.weight), head_dim 32 != hidden/heads, query_pre_attn_scalar 24,
           sliding_window 16 (the test prompts are longer), soft-caps 50 / 30.
Expected values are always computed by loading the written files back with
from_pretrained(dtype=float32, attn_implementation="eager") on the chosen device.
"""

import copy
import math
import os

import torch

import fx_tokenizers
from fx_io import dtype_kwarg, ensure_dir, randn, write_json, write_safetensors

GREEDY_TOKENS = 16


class FamilySpec:
    def __init__(self, name, tokenizer, model_type, config_hub, weight_dtype, layout, init_rules,
                 generation_extra=None):
        self.name = name
        self.tokenizer = tokenizer
        self.model_type = model_type
        self.config_hub = config_hub      # dict (hub / transformers-4 spelling)
        self.weight_dtype = weight_dtype  # torch.bfloat16 or torch.float32 (storage)
        self.layout = layout              # "hub-sharded" | "hub-single" | "save_pretrained"
        self.init_rules = init_rules      # callable(name, shape) -> fp32 tensor
        self.generation_extra = generation_extra or {}


def _linear(name, shape, gain=1.0):
    return randn(shape, name, std=gain / math.sqrt(shape[-1]))


def llama_like_init(family, lm_head_gain=5.0, qk_gain=2.0):
    def init(name, shape):
        key = f"{family}/{name}"
        if name.endswith("embed_tokens.weight"):
            return randn(shape, key, std=1.0)
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            return randn(shape, key, std=0.2, mean=1.0)
        if name == "lm_head.weight":
            return _linear(key, shape, lm_head_gain)
        if name.endswith(("q_proj.weight", "k_proj.weight")):
            return _linear(key, shape, qk_gain)
        if name.endswith(".weight"):
            return _linear(key, shape, 1.0)
        raise ValueError(f"no init rule for {name}")
    return init


def gemma_init(family):
    def init(name, shape):
        key = f"{family}/{name}"
        if name.endswith("embed_tokens.weight"):
            return randn(shape, key, std=0.25)
        if name == "model.norm.weight":
            return randn(shape, key, std=0.2, mean=1.0)  # applied as (1 + w) ~ 2: logits up to ~16, where
                                                         # the final soft-cap 30*tanh(x/30) bends them
        if name.endswith(("post_attention_layernorm.weight", "post_feedforward_layernorm.weight")):
            # (1 + w) ~ 7: the blocks outweigh the embedding; with tied embeddings a residual
            # stream dominated by the input token makes greedy decoding repeat that token
            return randn(shape, key, std=0.2, mean=6.0)
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            return randn(shape, key, std=0.2)            # applied as (1 + w)
        if name.endswith(("q_proj.weight", "k_proj.weight")):
            return _linear(key, shape, 3.0)              # large scores: the attention soft-cap matters
        if name.endswith(".weight"):
            return _linear(key, shape, 1.0)
        raise ValueError(f"no init rule for {name}")
    return init


def family_specs():
    ll_tok, _, ll_sp = fx_tokenizers.get("llama3_bpe")
    mi_tok, _, mi_sp = fx_tokenizers.get("spm_mistral")
    ge_tok, _, ge_sp = fx_tokenizers.get("spm_gemma")
    llama = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ll_sp["bos_token_id"],
        "eos_token_id": ll_sp["eos_token_id"],
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 192,
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.2",
        "use_cache": True,
        "vocab_size": ll_tok.get_vocab_size(),
    }
    mistral = {  # fed to MistralConfig, then written by save_pretrained (transformers-5 spelling)
        "bos_token_id": mi_sp["bos_token_id"],
        "eos_token_id": mi_sp["eos_token_id"],
        "hidden_act": "silu",
        "hidden_size": 64,
        "intermediate_size": 160,
        "max_position_embeddings": 32768,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "vocab_size": mi_tok.get_vocab_size(),
    }
    gemma = {
        "architectures": ["Gemma2ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 50.0,
        "bos_token_id": ge_sp["bos_token_id"],
        "cache_implementation": "hybrid",
        "eos_token_id": ge_sp["eos_token_id"],
        "final_logit_softcapping": 30.0,
        "head_dim": 32,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 8192,
        "model_type": "gemma2",
        "num_attention_heads": 4,
        "num_hidden_layers": 4,
        "num_key_value_heads": 2,
        "pad_token_id": ge_sp["pad_token_id"],
        "query_pre_attn_scalar": 24,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "sliding_window": 16,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.2",
        "use_cache": True,
        "vocab_size": ge_tok.get_vocab_size(),
    }
    return {
        "llama": FamilySpec("llama", "llama3_bpe", "llama", llama, torch.bfloat16, "hub-sharded", llama_like_init("llama"),
                            generation_extra={"do_sample": True, "temperature": 0.6, "top_p": 0.9}),
        "mistral": FamilySpec("mistral", "spm_mistral", "mistral", mistral, torch.float32, "save_pretrained",
                              llama_like_init("mistral")),
        "gemma": FamilySpec("gemma", "spm_gemma", "gemma2", gemma, torch.bfloat16, "hub-single", gemma_init("gemma"),
                            generation_extra={"_from_model_config": True, "cache_implementation": "hybrid"}),
    }


def _hf_model_from_config(spec):
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM
    # deep copy: transformers 5 config classes edit nested dicts in place (it would add
    # rope_theta inside rope_scaling), and config_hub is what gets written as config.json
    cfg = {k: copy.deepcopy(v) for k, v in spec.config_hub.items()
           if k not in ("architectures", "model_type", "torch_dtype", "transformers_version")}
    cls = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
           "gemma2": (Gemma2Config, Gemma2ForCausalLM)}[spec.model_type]
    config = cls[0](**cfg)
    torch.manual_seed(0)
    return cls[1](config)


def build_weights(spec):
    """{name: tensor in storage dtype} for every parameter the checkpoint stores."""
    model = _hf_model_from_config(spec)
    out = {}
    for name, p in model.named_parameters():  # tied lm_head is deduplicated away
        t = spec.init_rules(name, tuple(p.shape))
        assert t.shape == p.shape, (name, t.shape, p.shape)
        out[name] = t.to(spec.weight_dtype)
    return model, out


def _write_hub(spec, weights, out_dir, n_shards):
    names = sorted(weights)
    sizes = [weights[n].numel() * weights[n].element_size() for n in names]
    total = sum(sizes)
    if n_shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), weights, metadata={"format": "pt"})
    else:
        # contiguous groups of sorted names, about total/n_shards bytes each
        bounds, acc, start = [], 0, 0
        target = total / n_shards
        for i, s in enumerate(sizes):
            acc += s
            if acc >= target * (len(bounds) + 1) and len(bounds) < n_shards - 1:
                bounds.append((start, i + 1))
                start = i + 1
        bounds.append((start, len(names)))
        assert len(bounds) == n_shards
        weight_map = {}
        for k, (a, b) in enumerate(bounds):
            fn = "model-%05d-of-%05d.safetensors" % (k + 1, n_shards)
            part = {n: weights[n] for n in names[a:b]}
            write_safetensors(os.path.join(out_dir, fn), part, metadata={"format": "pt"})
            for n in part:
                weight_map[n] = fn
        write_json(os.path.join(out_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": weight_map})
    write_json(os.path.join(out_dir, "config.json"), spec.config_hub)
    gen = {"bos_token_id": spec.config_hub["bos_token_id"], "eos_token_id": spec.config_hub["eos_token_id"],
           "transformers_version": spec.config_hub["transformers_version"]}
    gen.update(spec.generation_extra)  # the hub files' sampling defaults / cache hints
    if "pad_token_id" in spec.config_hub:
        gen["pad_token_id"] = spec.config_hub["pad_token_id"]
    write_json(os.path.join(out_dir, "generation_config.json"), gen)


def write_base(spec, out_dir):
    """Write the base model folder (weights, config, tokenizer files)."""
    ensure_dir(out_dir)
    model, weights = build_weights(spec)
    if spec.layout == "hub-sharded":
        _write_hub(spec, weights, out_dir, n_shards=2)
    elif spec.layout == "hub-single":
        _write_hub(spec, weights, out_dir, n_shards=1)
    elif spec.layout == "save_pretrained":
        sd = {k: v.to(torch.float32) for k, v in weights.items()}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert not unexpected and all("lm_head" in m for m in missing if spec.config_hub.get("tie_word_embeddings")) \
            and (spec.config_hub.get("tie_word_embeddings") or not missing), (missing, unexpected)
        model.to(spec.weight_dtype).save_pretrained(out_dir)
        # save_pretrained stamps the running transformers version: keep it (it is the writer).
    else:
        raise ValueError(spec.layout)
    tok, tcfg, _ = fx_tokenizers.get(spec.tokenizer)
    fx_tokenizers.write_tokenizer_dir(out_dir, spec.tokenizer)
    return weights


def load_base(base_dir, device="cpu", dtype=torch.float32, **config_overrides):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation="eager", **dtype_kwarg(dtype),
                                             **config_overrides)
    return m.to(device).eval()


def _no_rope_scaling(base_dir):
    """Config overrides that turn the llama3 rope scaling off (spelling depends on transformers)."""
    from fx_io import transformers_major
    import json as _json
    with open(os.path.join(base_dir, "config.json")) as f:
        theta = _json.load(f)["rope_theta"]
    if transformers_major() >= 5:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}
    return {"rope_scaling": None}


SENSITIVITY = {
    # family: [(name, case, overrides)] -- each feature switched off in turn; the max |logit change|
    # it causes on that case is recorded, proving the fixture exercises the feature.
    "llama": [("no_llama3_rope_scaling", "long", _no_rope_scaling)],
    "gemma": [("no_sliding_window", "chat", lambda d: {"sliding_window": 1 << 20}),
              ("no_attn_logit_softcapping", "chat", lambda d: {"attn_logit_softcapping": None}),
              ("no_final_logit_softcapping", "chat", lambda d: {"final_logit_softcapping": None})],
    "mistral": [],
}


@torch.no_grad()
def sensitivity(family, base_dir, prompts, reference_logits):
    out = {}
    for name, case, overrides in SENSITIVITY[family]:
        m = load_base(base_dir, **overrides(base_dir))
        ids = prompts[case][1]
        logits, _ = forward_logits(m, ids, "cpu")
        out[name] = {"case": case, "max_abs_logit_change": float((logits - reference_logits[case]).abs().max())}
    return out


def _decoder_layers(model):
    inner = model
    # PeftModel -> LoraModel -> *ForCausalLM -> *Model
    while not hasattr(inner, "layers"):
        if hasattr(inner, "model"):
            inner = inner.model
        elif hasattr(inner, "base_model"):
            inner = inner.base_model
        else:
            raise AttributeError("no .layers found")
    return inner


@torch.no_grad()
def forward_logits(model, ids, device, want_hidden=False):
    """Logits (T, V) fp32 for one sequence; optionally the per-layer trace:
    'embed' = the input of layer 0 (after Gemma's sqrt(hidden) scaling), 'layer{i}' = output of
    decoder layer i (before the final norm), 'final_norm' = output of the final norm."""
    x = torch.tensor([ids], dtype=torch.long, device=device)
    trace, hooks = {}, []
    if want_hidden:
        inner = _decoder_layers(model)

        def pre_hook(mod, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            trace["embed"] = h[0].detach().float().cpu()

        hooks.append(inner.layers[0].register_forward_pre_hook(pre_hook, with_kwargs=True))
        for i, layer in enumerate(inner.layers):
            def post(mod, inp, out, i=i):
                o = out[0] if isinstance(out, (tuple, list)) else out
                trace[f"layer{i}"] = o[0].detach().float().cpu()
            hooks.append(layer.register_forward_hook(post))
        hooks.append(inner.norm.register_forward_hook(
            lambda mod, inp, out: trace.__setitem__("final_norm", out[0].detach().float().cpu())))
    try:
        logits = model(input_ids=x, use_cache=False).logits[0].float().cpu()
    finally:
        for h in hooks:
            h.remove()
    return logits, trace


@torch.no_grad()
def greedy(model, ids, device, n=GREEDY_TOKENS):
    """Greedy continuation without a KV cache (full recompute each step): tokens and the gap
    between the best and second-best logit at each step (a small gap = a fragile comparison)."""
    seq = list(ids)
    toks, gaps = [], []
    for _ in range(n):
        logits = model(input_ids=torch.tensor([seq], device=device), use_cache=False).logits[0, -1].float().cpu()
        top = torch.topk(logits, 2)
        t = int(top.indices[0])
        toks.append(t)
        gaps.append(float(top.values[0] - top.values[1]))
        seq.append(t)
    return toks, gaps


def prompts_for(spec):
    """Token-id prompts for a family: name -> (text, ids, logits positions)."""
    tok, tcfg, _ = fx_tokenizers.get(spec.tokenizer)
    from fx_corpus import read_descriptions
    rows = read_descriptions()
    chat_msgs = [{"role": "user", "content": "Solve step by step: a farmer has 12 rows of 7 apple trees. How many trees are there?"}]
    chat_text = render_chat(spec.tokenizer, chat_msgs, add_generation_prompt=True)
    plain_text = rows[500][3]
    out = {}
    ids = tok.encode(chat_text, add_special_tokens=True).ids
    out["chat"] = (chat_text, ids, list(range(len(ids))))          # logits at every position
    ids = tok.encode(plain_text, add_special_tokens=True).ids
    out["plain"] = (plain_text, ids, list(range(len(ids) - 4, len(ids))))
    if spec.name == "llama":
        # long enough (~400 tokens) that the llama3-scaled low frequencies rotate visibly
        long_text = " ".join(r[3] for r in rows[1000:1014])
        ids = tok.encode(long_text, add_special_tokens=True).ids
        out["long"] = (long_text, ids, list(range(len(ids) - 4, len(ids))))
    if spec.name == "gemma":
        sw = spec.config_hub["sliding_window"]
        for name, (_, ids, _) in out.items():
            assert len(ids) > sw + 4, (name, len(ids), sw)
    return out


def render_chat(tokenizer_name, messages, add_generation_prompt):
    """Render with jinja2 the way transformers' apply_chat_template does (trim/lstrip blocks)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    tok, tcfg, _ = fx_tokenizers.get(tokenizer_name)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    tpl = env.from_string(tcfg["chat_template"])
    return tpl.render(messages=messages, add_generation_prompt=add_generation_prompt,
                      bos_token=tcfg.get("bos_token") or "", eos_token=tcfg.get("eos_token") or "")
