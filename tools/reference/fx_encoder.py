"""The tiny gte-v1.5-style text encoder fixture: config.json with the real checkpoint's keys,
model.safetensors (fp32, names as the public checkpoint), the BERT WordPiece tokenizer files,
and the description -> task-embedding path of the T2L reference:

  formatted = add_full_stop(desc)
  ids = tokenizer(formatted, truncation=True, max_length=8192)   ([CLS] ... [SEP], token_type 0)
  cls = NewModel(ids).last_hidden_state[:, 0]                      (fp32)
  task_emb = normalize(cls) * sqrt(hidden)
"""

import math
import os

import torch
from safetensors.torch import load_file

import fx_tokenizers
from fx_corpus import read_descriptions
from fx_io import ensure_dir, randn, write_json, write_safetensors
from gte_new_model import GTE_LARGE_CONFIG, NewModel, add_full_stop, task_embedding

ENCODER_MAX_LENGTH = 2 ** 13  # the reference's embed_texts(max_length=2**13, truncation=True)


def tiny_config(vocab_size):
    cfg = dict(GTE_LARGE_CONFIG)
    # vocab padded to a multiple of 64 like gte's 30528 (bert-base-uncased has 30522 tokens)
    padded = (vocab_size + 63) // 64 * 64
    cfg.update({"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2,
                "vocab_size": padded})
    return cfg


def full_config():
    return dict(GTE_LARGE_CONFIG)


def init_weights(cfg, seed_name="gte"):
    """Every tensor random and non-trivial (LayerNorm weights/biases and all biases included)."""
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    T = cfg["type_vocab_size"]
    w = {
        "embeddings.word_embeddings.weight": randn((V, H), seed_name, "word", std=1.0),
        "embeddings.token_type_embeddings.weight": randn((T, H), seed_name, "type", std=0.5),
        "embeddings.LayerNorm.weight": randn((H,), seed_name, "eln.w", std=0.2, mean=1.0),
        "embeddings.LayerNorm.bias": randn((H,), seed_name, "eln.b", std=0.1),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        w[p + "attention.qkv_proj.weight"] = randn((3 * H, H), seed_name, p, "qkv.w", std=1.5 / math.sqrt(H))
        w[p + "attention.qkv_proj.bias"] = randn((3 * H,), seed_name, p, "qkv.b", std=0.1)
        w[p + "attention.o_proj.weight"] = randn((H, H), seed_name, p, "o.w", std=1.0 / math.sqrt(H))
        w[p + "attention.o_proj.bias"] = randn((H,), seed_name, p, "o.b", std=0.1)
        w[p + "mlp.up_gate_proj.weight"] = randn((2 * I, H), seed_name, p, "ug.w", std=1.0 / math.sqrt(H))
        w[p + "mlp.down_proj.weight"] = randn((H, I), seed_name, p, "d.w", std=1.0 / math.sqrt(I))
        w[p + "mlp.down_proj.bias"] = randn((H,), seed_name, p, "d.b", std=0.1)
        for ln in ("attn_ln", "mlp_ln"):
            w[p + ln + ".weight"] = randn((H,), seed_name, p, ln, "w", std=0.2, mean=1.0)
            w[p + ln + ".bias"] = randn((H,), seed_name, p, ln, "b", std=0.1)
    return w


def write_encoder(out_dir):
    ensure_dir(out_dir)
    tok, tcfg, _ = fx_tokenizers.get("bert_wordpiece")
    cfg = tiny_config(tok.get_vocab_size())
    w = init_weights(cfg)
    model = NewModel(cfg)
    model.load_state_dict(w, strict=True)  # the names are exactly the module's parameters
    write_safetensors(os.path.join(out_dir, "model.safetensors"), w, metadata={"format": "pt"})
    write_json(os.path.join(out_dir, "config.json"), cfg)
    fx_tokenizers.write_tokenizer_dir(out_dir, "bert_wordpiece")
    return cfg


def load_encoder(enc_dir, device="cpu", dtype=torch.float32):
    import json
    with open(os.path.join(enc_dir, "config.json")) as f:
        cfg = json.load(f)
    model = NewModel(cfg)
    model.load_state_dict(load_file(os.path.join(enc_dir, "model.safetensors")), strict=True)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(enc_dir, "tokenizer.json"))
    tok.enable_truncation(max_length=ENCODER_MAX_LENGTH)  # truncation=True, max_length=2**13
    return model.to(device=device, dtype=dtype).eval(), tok


@torch.no_grad()
def embed_description(model, tok, desc, device="cpu", want_hidden=False):
    formatted = add_full_stop(desc)
    enc = tok.encode(formatted, add_special_tokens=True)
    ids = torch.tensor([enc.ids], dtype=torch.long, device=device)
    tt = torch.tensor([enc.type_ids], dtype=torch.long, device=device)
    out = model(ids, attention_mask=torch.ones_like(ids), token_type_ids=tt)
    cls = out["last_hidden_state"][:, 0].float()
    res = {"formatted": formatted, "input_ids": enc.ids, "cls": cls[0].cpu(),
           "task_emb": task_embedding(cls)[0].cpu()}
    if want_hidden:
        res["hidden_states"] = torch.stack([h[0].float().cpu() for h in out["hidden_states"]])
    return res


def encoder_descriptions():
    """name -> raw description text used by the encoder fixture (and the T2L fixtures' desc0..2)."""
    rows = read_descriptions()
    gsm = next(r[3] for r in rows if r[0] == "gsm8k" and r[1] == "eval_config")
    long_text = " ".join(r[3] for r in rows[2000:2030])           # > 512 WordPieces
    trunc_text = " ".join(r[3] for r in rows[3000:3400])          # > 8192 WordPieces: truncated
    return {
        "desc0": gsm,
        "desc1": "  answer multiple-choice science questions  ",
        "desc2": "Classify the sentiment of café reviews: positive, negative or neutral?",
        "cjk": "将英文句子翻译成中文",
        "long": long_text,
        "truncated": trunc_text,
    }


T2L_DESCRIPTIONS = ["desc0", "desc1", "desc2"]


def expected_encoder(enc_dir, device="cpu", dtype=torch.float32):
    """Tensors + JSON info for tests/fixtures/gte_encoder/expected.*"""
    model, tok = load_encoder(enc_dir, device, dtype)
    tensors, info = {}, {"cases": {}}
    for name, text in encoder_descriptions().items():
        r = embed_description(model, tok, text, device, want_hidden=(name == "desc0"))
        tensors[f"{name}.input_ids"] = torch.tensor(r["input_ids"], dtype=torch.int32)
        tensors[f"{name}.cls"] = r["cls"]
        tensors[f"{name}.task_emb"] = r["task_emb"]
        if "hidden_states" in r:
            tensors[f"{name}.hidden_states"] = r["hidden_states"]
        info["cases"][name] = {"description": text, "formatted": r["formatted"], "n_tokens": len(r["input_ids"]),
                               "truncated": len(r["input_ids"]) == ENCODER_MAX_LENGTH,
                               "has_hidden_states": "hidden_states" in r}
    assert info["cases"]["long"]["n_tokens"] > 512
    assert info["cases"]["truncated"]["truncated"]
    return tensors, info


# ---------------------------------------------------------------------------------------------
# A BERT-style encoder (absolute positions, separate q/k/v; the bge-small / MiniLM family),
# which t2l runs through the same encoder code as gte.
# ---------------------------------------------------------------------------------------------
BERT_DIR = "bert_encoder"


def write_bert_encoder(out_dir):
    from transformers import BertConfig, BertModel
    ensure_dir(out_dir)
    tok, tcfg, _ = fx_tokenizers.get("bert_wordpiece")
    cfg = BertConfig(vocab_size=(tok.get_vocab_size() + 63) // 64 * 64, hidden_size=64, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=128, max_position_embeddings=128, type_vocab_size=2,
                     layer_norm_eps=1e-12, hidden_act="gelu")
    model = BertModel(cfg, add_pooling_layer=False)
    sd = {}
    for name, p in model.state_dict().items():
        if name.endswith("LayerNorm.weight"):
            sd[name] = randn(tuple(p.shape), "bert", name, std=0.2, mean=1.0)
        elif name.endswith(".bias"):
            sd[name] = randn(tuple(p.shape), "bert", name, std=0.1)
        elif "embeddings" in name:
            sd[name] = randn(tuple(p.shape), "bert", name, std=0.5)
        else:
            sd[name] = randn(tuple(p.shape), "bert", name, std=1.0 / math.sqrt(p.shape[-1]))
    sd = {k: v for k, v in sd.items() if "position_ids" not in k}
    model.load_state_dict(sd, strict=False)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd, metadata={"format": "pt"})
    d = cfg.to_dict()
    d["architectures"] = ["BertModel"]
    write_json(os.path.join(out_dir, "config.json"), {k: d[k] for k in sorted(d) if k not in ("transformers_version",)})
    fx_tokenizers.write_tokenizer_dir(out_dir, "bert_wordpiece")


def expected_bert_encoder(enc_dir, device="cpu", dtype=torch.float32):
    from tokenizers import Tokenizer
    from transformers import BertModel
    model = BertModel.from_pretrained(enc_dir, add_pooling_layer=False, attn_implementation="eager").to(device=device, dtype=dtype).eval()
    tok = Tokenizer.from_file(os.path.join(enc_dir, "tokenizer.json"))
    tensors, info = {}, {"cases": {}}
    for name in ("desc0", "desc1", "desc2", "cjk"):
        text = encoder_descriptions()[name]
        formatted = add_full_stop(text)
        enc = tok.encode(formatted, add_special_tokens=True)
        ids = torch.tensor([enc.ids], dtype=torch.long, device=device)
        with torch.no_grad():
            out = model(ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
        cls = out.last_hidden_state[:, 0].float()
        tensors[f"{name}.input_ids"] = torch.tensor(enc.ids, dtype=torch.int32)
        tensors[f"{name}.cls"] = cls[0].cpu()
        tensors[f"{name}.task_emb"] = task_embedding(cls)[0].cpu()
        info["cases"][name] = {"description": text, "formatted": formatted, "n_tokens": len(enc.ids)}
    return tensors, info
