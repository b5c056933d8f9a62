#!/usr/bin/env python3
"""Regenerate every committed test fixture under tests/fixtures/ (deterministic, CPU, fp32).

    python3 tools/reference/make_fixtures.py                 # everything (about 50 s on 2 cores)
    python3 tools/reference/make_fixtures.py --only llama    # one group: tokenizers|encoder|llama|mistral|gemma
    python3 tools/reference/make_fixtures.py --check         # regenerate into a temp dir and compare sha256
    python3 tools/reference/make_fixtures.py --full-size llama8b --out DIR   # benchmark shapes, never committed
                                                       # (llama8b|mistral7b|gemma2b|gte-large|t2l-*|all)

See tools/reference/README.md for what each file is. Adding a case: each group has one function
below (make_tokenizers, make_encoder, make_family, make_t2l); cases are listed in fx_* tables
(fx_corpus, fx_encoder.encoder_descriptions, fx_decoders.prompts_for, fx_t2l.VARIANTS).
"""

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures")

import torch  # noqa: E402

# Reproducibility first: one thread (no reduction-order differences), deterministic kernels.
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import fx_decoders  # noqa: E402
import fx_full_size  # noqa: E402
import fx_encoder  # noqa: E402
import fx_t2l  # noqa: E402
import fx_tokenizers  # noqa: E402
from fx_corpus import tokenizer_test_corpus  # noqa: E402
from fx_io import (FIXTURE_FORMAT_VERSION, ensure_dir, flatten_ragged, library_versions, tree_listing,  # noqa: E402
                   write_json, write_safetensors)

FAMILIES = ["llama", "mistral", "gemma"]
N_SPECIAL_EXAMPLES = 64
GROUPS = ["tokenizers", "encoder"] + FAMILIES
TOKENIZER_OF_FAMILY = {"llama": "llama3_bpe", "mistral": "spm_mistral", "gemma": "spm_gemma"}
CHAT_CASES = [
    {"messages": [{"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": True},
    {"messages": [{"role": "system", "content": "  You are a concise assistant.  "},
                  {"role": "user", "content": "Solve 2+2.\n"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": " a1 "},
                  {"role": "user", "content": "q2"}], "add_generation_prompt": True},
    {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "café 中文 👍"},
                  {"role": "assistant", "content": "ok"}, {"role": "user", "content": "again"}],
     "add_generation_prompt": False},
]


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------------
# tokenizers
# ---------------------------------------------------------------------------------------------
def tokenizer_expected(name, corpus):
    tok, tcfg, special = fx_tokenizers.get(name)
    plain = [tok.encode(s, add_special_tokens=False).ids for s in corpus]
    ids, off = flatten_ragged(plain)
    tensors = {"ids": ids, "offsets": off}
    # add_special_tokens=True (the post-processor template) on a spread of strings
    examples = []
    for i in list(range(0, len(corpus), max(1, len(corpus) // N_SPECIAL_EXAMPLES)))[:N_SPECIAL_EXAMPLES] + \
            [i for i, s in enumerate(corpus) if s == ""]:
        w = tok.encode(corpus[i], add_special_tokens=True).ids
        examples.append({"index": i, "ids": w, "decoded_skip_special": tok.decode(w, skip_special_tokens=True)})
    info = {
        "format_version": FIXTURE_FORMAT_VERSION,
        "tokenizer": name,
        "n_strings": len(corpus),
        "vocab_size": tok.get_vocab_size(),
        "special": special,
        "decoded": [tok.decode(x, skip_special_tokens=False) for x in plain],
        "with_special_tokens": examples,
    }
    if tcfg.get("chat_template"):
        chats = []
        for case in CHAT_CASES:
            text = fx_decoders.render_chat(name, case["messages"], case["add_generation_prompt"])
            chats.append(dict(case, text=text, ids=tok.encode(text, add_special_tokens=False).ids,
                              ids_special=tok.encode(text, add_special_tokens=True).ids))
        info["chat"] = chats
    if name == "bert_wordpiece":
        info["truncation"] = {"max_length": fx_encoder.ENCODER_MAX_LENGTH,
                              "note": "applied only by the encoder path (fx_encoder.load_encoder)"}
    return tensors, info


def make_tokenizers(out):
    corpus = tokenizer_test_corpus()
    root = ensure_dir(os.path.join(out, "tokenizers"))
    write_json(os.path.join(root, "corpus.json"), {"format_version": FIXTURE_FORMAT_VERSION, "strings": corpus})
    for name in fx_tokenizers.BUILDERS:
        d = ensure_dir(os.path.join(root, name))
        tok, tcfg, _ = fx_tokenizers.get(name)
        fx_tokenizers.write_tokenizer_dir(d, name)
        tensors, info = tokenizer_expected(name, corpus)
        write_safetensors(os.path.join(d, "expected.safetensors"), tensors)
        write_json(os.path.join(d, "expected.json"), info)
        log(f"  tokenizers/{name}: {len(corpus)} strings, {int(tensors['ids'].numel())} ids")


# ---------------------------------------------------------------------------------------------
# encoder
# ---------------------------------------------------------------------------------------------
ENCODER_DIR = "gte_encoder"


def make_encoder(out):
    d = ensure_dir(os.path.join(out, ENCODER_DIR))
    fx_encoder.write_encoder(d)
    tensors, info = fx_encoder.expected_encoder(d)
    info.update({"format_version": FIXTURE_FORMAT_VERSION, "compute": compute_note("cpu")})
    write_safetensors(os.path.join(d, "expected.safetensors"), tensors)
    write_json(os.path.join(d, "expected.json"), info)
    log(f"  {ENCODER_DIR}: {len(info['cases'])} descriptions")
    d = ensure_dir(os.path.join(out, fx_encoder.BERT_DIR))
    fx_encoder.write_bert_encoder(d)
    tensors, info = fx_encoder.expected_bert_encoder(d)
    info.update({"format_version": FIXTURE_FORMAT_VERSION, "compute": compute_note("cpu")})
    write_safetensors(os.path.join(d, "expected.safetensors"), tensors)
    write_json(os.path.join(d, "expected.json"), info)
    log(f"  {fx_encoder.BERT_DIR}: {len(info['cases'])} descriptions")


def compute_note(device):
    return {"device": device, "dtype": "float32", "attn_implementation": "eager", "torch_threads": 1,
            "libraries": library_versions()}


# ---------------------------------------------------------------------------------------------
# base models
# ---------------------------------------------------------------------------------------------
def family_expected(out, family, device="cpu", dtype=torch.float32, want_sensitivity=False):
    """Base-model expected outputs; device/dtype are parameters so compare_devices can rerun it."""
    spec = fx_decoders.family_specs()[family]
    base_dir = os.path.join(out, family, "base")
    model = fx_decoders.load_base(base_dir, device, dtype)
    tensors, cases = {}, {}
    full_logits = {}
    for case, (text, ids, positions) in fx_decoders.prompts_for(spec).items():
        logits, trace = fx_decoders.forward_logits(model, ids, device, want_hidden=(case == "chat"))
        full_logits[case] = logits
        g, gaps = fx_decoders.greedy(model, ids, device)
        tensors[f"{case}.input_ids"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"{case}.logits"] = logits[positions].contiguous()
        tensors[f"{case}.logits_positions"] = torch.tensor(positions, dtype=torch.int32)
        tensors[f"{case}.greedy_ids"] = torch.tensor(g, dtype=torch.int32)
        tensors[f"{case}.greedy_gap"] = torch.tensor(gaps, dtype=torch.float32)
        for k, v in trace.items():
            tensors[f"{case}.hidden.{k}"] = v
        cases[case] = {"text": text, "n_tokens": len(ids), "logits_positions": positions, "greedy_ids": g,
                       "min_greedy_gap": min(gaps), "hidden_states": sorted(trace)}
    if want_sensitivity:
        return tensors, cases, fx_decoders.sensitivity(family, base_dir, fx_decoders.prompts_for(spec), full_logits)
    return tensors, cases


def make_family(out, family):
    spec = fx_decoders.family_specs()[family]
    base_dir = ensure_dir(os.path.join(out, family, "base"))
    fx_decoders.write_base(spec, base_dir)
    tensors, cases, sens = family_expected(out, family, want_sensitivity=True)
    info = {"format_version": FIXTURE_FORMAT_VERSION, "family": family, "base_dir": "base",
            "tokenizer": spec.tokenizer, "storage_dtype": str(spec.weight_dtype).replace("torch.", ""),
            "layout": spec.layout, "cases": cases, "sensitivity": sens, "compute": compute_note("cpu")}
    write_safetensors(os.path.join(out, family, "expected.safetensors"), tensors)
    write_json(os.path.join(out, family, "expected.json"), info)
    summary = ", ".join("%s (%d tok)" % (c, v["n_tokens"]) for c, v in cases.items())
    log(f"  {family}/base: {summary}")
    for variant in fx_t2l.VARIANTS[family]:
        make_t2l(out, family, variant)


# ---------------------------------------------------------------------------------------------
# T2L checkpoints
# ---------------------------------------------------------------------------------------------
def t2l_expected(out, family, variant_name, device="cpu", dtype=torch.float32, adapters_out=None):
    """Run the reference generation path from the checkpoint files and apply each adapter with
    PEFT. Returns (tensors, info, {desc: adapter state dict})."""
    from peft import PeftModel
    ckpt = os.path.join(out, family, variant_name)
    base_dir = os.path.join(out, family, "base")
    enc_dir = os.path.join(out, ENCODER_DIR)
    import json
    with open(os.path.join(base_dir, "config.json")) as f:
        bcfg = json.load(f)
    enc, etok = fx_encoder.load_encoder(enc_dir, device, dtype)
    hm, args, acfg = fx_t2l.load_checkpoint(ckpt, bcfg, enc.cfg["hidden_size"], device)
    n_layers = hm.max_num_layers
    module_names = fx_t2l.peft_module_names(hm.target_modules, n_layers)
    spec = fx_decoders.family_specs()[family]
    text, ids, _ = fx_decoders.prompts_for(spec)["chat"]
    descs = fx_encoder.encoder_descriptions()
    tensors, info_descs, adapters = {}, {}, {}
    for k in fx_encoder.T2L_DESCRIPTIONS:
        r = fx_encoder.embed_description(enc, etok, descs[k], device)
        task_emb = r["task_emb"].to(device)[None]
        encoded = hm.task_encoder(task_emb)["encoded_task_emb"].detach()
        traces = {} if k == "desc0" else None
        layer_indices = torch.arange(n_layers, device=device)
        sd = hm.gen_lora(layer_indices, encoded, module_names, traces)
        adapters[k] = sd
        tensors[f"{k}.encoder_input_ids"] = torch.tensor(r["input_ids"], dtype=torch.int32)
        tensors[f"{k}.task_emb"] = r["task_emb"]
        tensors[f"{k}.encoded_task_emb"] = encoded[0].float().cpu()
        if traces:
            for m, tr in traces.items():
                for name, v in tr.items():
                    tensors[f"{k}.trace.{m}.{name}"] = v.float().cpu().contiguous()
        adir = os.path.join(adapters_out if adapters_out else os.path.join(ckpt, "generated"), k)
        fx_t2l.save_generated_adapter(sd, os.path.join(ckpt, "adapter_config.json"), adir)
        # PEFT application (unmerged) of the adapter just written
        base = fx_decoders.load_base(base_dir, device, dtype)
        pm = PeftModel.from_pretrained(base, adir).to(device).eval()
        want_hidden = k == "desc0"
        logits, trace = fx_decoders.forward_logits(pm, ids, device, want_hidden=want_hidden)
        # desc0: every 8th position and the last; desc1/desc2: the last position only
        positions = sorted(set(range(0, len(ids), 8)) | {len(ids) - 1}) if k == "desc0" else [len(ids) - 1]
        g, gaps = fx_decoders.greedy(pm, ids, device)
        tensors[f"{k}.chat.logits"] = logits[positions].contiguous()
        tensors[f"{k}.chat.logits_positions"] = torch.tensor(positions, dtype=torch.int32)
        tensors[f"{k}.chat.greedy_ids"] = torch.tensor(g, dtype=torch.int32)
        tensors[f"{k}.chat.greedy_gap"] = torch.tensor(gaps, dtype=torch.float32)
        for name, v in trace.items():
            tensors[f"{k}.chat.hidden.{name}"] = v
        info_descs[k] = {"description": descs[k], "formatted": r["formatted"], "adapter_dir": f"generated/{k}",
                         "logits_positions": positions, "greedy_ids": g, "min_greedy_gap": min(gaps)}
    tensors["chat.input_ids"] = torch.tensor(ids, dtype=torch.int32)
    info = {
        "format_version": FIXTURE_FORMAT_VERSION,
        "family": family, "variant": variant_name, "base_dir": "../base", "encoder_dir": f"../../{ENCODER_DIR}",
        "target_modules": hm.target_modules, "module_index": hm.module_to_int,
        "n_layers": n_layers, "in_features": hm.in_features, "out_features": hm.out_features,
        "r": acfg["r"], "lora_alpha": acfg["lora_alpha"], "use_rslora": acfg.get("use_rslora", False),
        "lora_scaling": hm.scaling,
        "hypernet": {"latent_size": args["hypernet_latent_size"], "head_in_size": args["head_in_size"],
                     "shared_AB_head": hm.shared_AB_head, "autoreg_gen": hm.autoreg_gen,
                     "learnable_pos_emb": hm.learnable_pos_emb, "training_task": hm.training_task,
                     "pred_z_score": hm.pred_z_score, "factorized": hm.factorized,
                     "delta_w_scaling": hm.delta_w_scaling,
                     "head_use_bias": hm.heads[hm.target_modules[0]].bias is not None},
        "chat_prompt": text, "descriptions": info_descs,
    }
    return tensors, info, adapters


def make_t2l(out, family, variant):
    ckpt = ensure_dir(os.path.join(out, family, variant.name))
    base_dir = os.path.join(out, family, "base")
    enc_dir = os.path.join(out, ENCODER_DIR)
    enc, etok = fx_encoder.load_encoder(enc_dir)
    with open(os.path.join(base_dir, "config.json")) as f:
        import json
        bcfg = json.load(f)
    # the reference's get_lora_module_names (via peft) must give the names we write
    n_layers, _, _ = fx_t2l.base_shapes(bcfg)
    fx_t2l.check_module_names_against_peft(fx_decoders.load_base(base_dir), variant.target_modules, n_layers)
    rel_model_dir = f"tests/fixtures/{family}/base"
    rel_emb = f"tests/fixtures/{ENCODER_DIR}"
    fx_t2l.write_checkpoint(variant, family, base_dir, enc_dir, ckpt, enc, etok, rel_model_dir, rel_emb,
                            calibration_desc=fx_encoder.encoder_descriptions()["desc0"])
    tensors, info, _ = t2l_expected(out, family, variant.name)
    info["compute"] = compute_note("cpu")
    write_safetensors(os.path.join(ckpt, "expected.safetensors"), tensors)
    write_json(os.path.join(ckpt, "expected.json"), info)
    base = torch.load(os.path.join(ckpt, "hypermod.pt"), map_location="cpu", weights_only=True)
    log(f"  {family}/{variant.name}: {len(base)} tensors in hypermod.pt, greedy desc0 "
        f"{info['descriptions']['desc0']['greedy_ids'][:6]}...")


# ---------------------------------------------------------------------------------------------
FOREIGN = ("io/", "gguf/")  # written by make_io_fixtures.py and make_gguf_fixtures.py, not by this script


def own_listing(out):
    return [(p, n, h) for p, n, h in tree_listing(out) if not p.startswith(FOREIGN)]


def write_manifest(out):
    files = [{"path": p, "bytes": n, "sha256": h} for p, n, h in own_listing(out) if p != "MANIFEST.json"]
    write_json(os.path.join(out, "MANIFEST.json"), {
        "format_version": FIXTURE_FORMAT_VERSION,
        "command": "python3 tools/reference/make_fixtures.py",
        "libraries": library_versions(),
        "total_bytes": sum(f["bytes"] for f in files),
        "files": files,
    })


def generate(out, groups):
    ensure_dir(out)
    if "tokenizers" in groups:
        log("tokenizers")
        make_tokenizers(out)
    if "encoder" in groups or any(f in groups for f in FAMILIES):
        if "encoder" in groups or not os.path.exists(os.path.join(out, ENCODER_DIR, "model.safetensors")):
            log("encoder")
            make_encoder(out)
    for fam in FAMILIES:
        if fam in groups:
            log(fam)
            make_family(out, fam)
    write_manifest(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="output folder (default tests/fixtures; required with --full-size)")
    ap.add_argument("--only", action="append", choices=GROUPS, help="regenerate only these groups (repeatable)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate everything into a temporary folder and compare sha256 with --out")
    ap.add_argument("--full-size", choices=["all"] + fx_full_size.NAMES,
                    help="write benchmark-sized random checkpoints (sharded bf16 like the hub) to --out/NAME/")
    a = ap.parse_args()
    if a.full_size:
        if not a.out:
            ap.error("--full-size needs --out DIR (full-size files are never written into tests/fixtures)")

        torch.set_num_threads(os.cpu_count() or 1)
        fx_full_size.write(a.full_size, a.out)
        return
    out = os.path.abspath(a.out or DEFAULT_OUT)
    groups = a.only or GROUPS
    if a.check:
        with tempfile.TemporaryDirectory() as td:
            generate(td, GROUPS)
            mine = {p: h for p, _, h in own_listing(td)}
            theirs = {p: h for p, _, h in own_listing(out)}
            bad = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
            for p in bad:
                log(f"DIFFERS: {p}")
            log(f"{len(mine)} files regenerated, {len(bad)} differ")
            sys.exit(1 if bad else 0)
    if not a.only and os.path.isdir(out):
        # full regeneration: start clean (io/ and gguf/ belong to other tools: keep them)
        for entry in os.listdir(out):
            if entry in ("io", "gguf"):
                continue
            p = os.path.join(out, entry)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    generate(out, groups)
    log("done:", out)


if __name__ == "__main__":
    main()
