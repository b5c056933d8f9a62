#!/usr/bin/env python3
"""check_sentence_encoder.py — `t2l embed` against transformers on a real sentence encoder.

The reference: transformers' AutoTokenizer + AutoModel in float32 on the CPU, one sentence at a
time (no padding), then the pooling the model's own sentence-transformers files name
(modules.json -> 1_Pooling/config.json: cls, mean or max) and L2 normalisation when modules.json
lists Normalize; the text is cut to sentence_bert_config.json's max_seq_length and lower-cased
first when it says do_lower_case, as sentence-transformers does. When the sentence_transformers
package is there, SentenceTransformer(MODEL).encode is printed next to it as a second opinion.

t2l's side is `t2l embed --encoder ENC.t2l --json TEXT` for every sentence: run here
(--t2l BIN --encoder ENC.t2l, once per --device), or read from a JSON-lines file recorded
earlier (--t2l-json FILE, written by --record FILE). Token ids and embeddings are compared;
the run fails when any id differs or the largest |difference| exceeds --tol (1e-4).

    # everything in one go (torch + transformers needed)
    python3 tools/reference/check_sentence_encoder.py --model weights/.cache/all-minilm-l6-v2 \\
        --sentences tools/reference/sentences.txt --t2l ./t2l --encoder weights/all-minilm-l6-v2.t2l
    # record t2l's outputs where torch is missing, compare elsewhere
    python3 tools/reference/check_sentence_encoder.py --sentences FILE --t2l ./t2l \\
        --encoder weights/all-minilm-l6-v2.t2l --record t2l_embeddings.jsonl
    python3 tools/reference/check_sentence_encoder.py --model DIR --sentences FILE --t2l-json t2l_embeddings.jsonl
    # a smaller copy of the model folder for a machine that takes little data (no torch needed):
    # word-embedding rows no sentence uses are zeroed and the weights gzip-compressed
    python3 tools/reference/check_sentence_encoder.py --model DIR --sentences FILE --pack OUT_DIR

--model also accepts such a packed folder: it is unpacked into a temporary folder first, and
every token id the reference meets must be one of the rows the pack kept. --convert
T2L_CONVERT converts the model folder with t2l-convert into a temporary .t2l and uses it as
--encoder (so the same packed folder serves both sides).
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

KEPT_ROWS = "kept_vocab_rows.json"  # written by --pack: the word-embedding rows kept

# The default sentences (--sentences replaces them). The first six are the ones
# tests/test_real_weights.cpp checks: two paraphrase pairs and two unrelated sentences.
DEFAULT_SENTENCES = [
    "A man is playing a guitar.",
    "Someone is playing an instrument.",
    "The cat sits on the mat.",
    "A kitten is lying on a rug.",
    "The stock market fell sharply today.",
    "Quantum computers use qubits.",
    "Answer multiple-choice science questions",
    "Translate English sentences into French.",
    "How do I bake sourdough bread at home?",
    "  Leading and trailing spaces, and   inner   runs.  ",
    "UPPER case, MiXeD case and lower case",
    "Café, naïve, résumé, Straße and Ångström.",
    "東京は日本の首都です。",
    "Emoji \U0001f600 and symbols: \u00a9 \u2122 \u20ac 42% #hashtag @user",
    "-dash first, then numbers 3.14159 and 1,000,000",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "Tabs\tand\u00a0no-break spaces",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 40),  # > 256 tokens: truncated
]


def read_sentences(path):
    if not path:
        return list(DEFAULT_SENTENCES)
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    sents = [l for l in lines if l.strip() and not l.startswith("#")]
    if not sents:
        sys.exit(f"{path}: no sentences")
    return sents


def sentence_config(model_dir):
    """(pooling, normalize, max_seq_length, do_lower_case) from the sentence-transformers files."""
    with open(os.path.join(model_dir, "modules.json")) as f:
        modules = json.load(f)
    pooling_dir, normalize = None, False
    for m in modules:
        kind = m["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            pooling_dir = m["path"]
        elif kind == "Normalize":
            normalize = True
        elif kind != "Transformer":
            sys.exit(f"modules.json: module {m['type']} is not handled here")
    if pooling_dir is None:
        sys.exit("modules.json: no Pooling module")
    with open(os.path.join(model_dir, pooling_dir, "config.json")) as f:
        pc = json.load(f)
    modes = [k[len("pooling_mode_"):] for k, v in pc.items() if k.startswith("pooling_mode_") and v is True]
    names = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}
    if len(modes) != 1 or modes[0] not in names:
        sys.exit(f"{pooling_dir}/config.json: pooling {modes} is not cls, mean or max")
    max_len, lower = None, False
    sb = os.path.join(model_dir, "sentence_bert_config.json")
    if os.path.exists(sb):
        with open(sb) as f:
            sbc = json.load(f)
        max_len = sbc.get("max_seq_length")
        lower = bool(sbc.get("do_lower_case", False))
    return names[modes[0]], normalize, max_len, lower


# ---- safetensors without torch (for --pack and unpacking) ----

def read_safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def hf_token_ids(model_dir, sentences, max_len, lower):
    """Token ids with the HF `tokenizers` package (truncation and padding of tokenizer.json off)."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    if max_len:
        tok.enable_truncation(max_len)
    else:
        tok.no_truncation()
    return [tok.encode(s.lower() if lower else s).ids for s in sentences]


def pack(model_dir, sentences, out_dir, extra_ids):
    pooling, normalize, max_len, lower = sentence_config(model_dir)
    keep = set(range(0, 1000))  # [PAD], [unused*], [UNK], [CLS], [SEP], [MASK] and the first pieces
    try:
        for ids in hf_token_ids(model_dir, sentences, max_len, lower):
            keep.update(ids)
    except ImportError:
        if not extra_ids:
            sys.exit("--pack needs the `tokenizers` package or --t2l-json with t2l's ids")
    keep.update(extra_ids)
    st = os.path.join(model_dir, "model.safetensors")
    header, data_start = read_safetensors_header(st)
    key = next(k for k in header if k.endswith("word_embeddings.weight"))
    info = header[key]
    if info["dtype"] != "F32":
        sys.exit(f"{key}: {info['dtype']}, only F32 is handled")
    vocab, hidden = info["shape"]
    begin, end = info["data_offsets"]
    row = hidden * 4
    os.makedirs(out_dir, exist_ok=True)
    for root, _, files in os.walk(model_dir):
        for name in files:
            if name == "model.safetensors" or name.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(root, name), model_dir)
            if name.endswith(".md") or rel == "data_config.json":
                continue  # not needed to run the model
            os.makedirs(os.path.dirname(os.path.join(out_dir, rel)) or out_dir, exist_ok=True)
            shutil.copyfile(os.path.join(root, name), os.path.join(out_dir, rel))
    with open(st, "rb") as f:
        blob = bytearray(f.read())
    base = data_start + begin
    zero = bytes(row)
    for r in range(vocab):
        if r not in keep:
            blob[base + r * row: base + (r + 1) * row] = zero
    assert base + vocab * row == data_start + end
    with gzip.open(os.path.join(out_dir, "model.safetensors.gz"), "wb", compresslevel=6) as g:
        g.write(blob)
    with open(os.path.join(out_dir, KEPT_ROWS), "w") as f:
        json.dump(sorted(keep), f)
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, fs in os.walk(out_dir) for n in fs)
    print(f"packed {model_dir} -> {out_dir}: {len(keep)} of {vocab} word-embedding rows kept, "
          f"{size / 2**20:.1f} MiB ({pooling} pooling, normalize {normalize}, max_seq_length {max_len})")


def usable_model_dir(model_dir, tmp):
    """The model folder itself, or a packed one unpacked into tmp; also the kept rows (or None)."""
    if os.path.exists(os.path.join(model_dir, "model.safetensors")):
        return model_dir, None
    gz = os.path.join(model_dir, "model.safetensors.gz")
    if not os.path.exists(gz):
        sys.exit(f"{model_dir}: no model.safetensors (or model.safetensors.gz from --pack)")
    out = os.path.join(tmp, "model")
    shutil.copytree(model_dir, out, ignore=shutil.ignore_patterns("model.safetensors.gz"))
    with gzip.open(gz, "rb") as g, open(os.path.join(out, "model.safetensors"), "wb") as f:
        shutil.copyfileobj(g, f)
    kept = None
    if os.path.exists(os.path.join(model_dir, KEPT_ROWS)):
        with open(os.path.join(model_dir, KEPT_ROWS)) as f:
            kept = set(json.load(f))
    return out, kept


# ---- t2l's side ----

def run_t2l(t2l, encoder, sentences, device):
    out = []
    for s in sentences:
        cmd = [t2l, "embed", "--encoder", encoder, "--json"]
        if device:
            cmd += ["--device", device]
        cmd += ["--", s]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd[:-1])} {s!r}: exit {r.returncode}: {r.stderr.strip()}")
        out.append(json.loads(r.stdout))
    return out


def read_jsonl(path, sentences):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    if len(rows) != len(sentences):
        sys.exit(f"{path}: {len(rows)} rows for {len(sentences)} sentences")
    for r, s in zip(rows, sentences):
        if r["text"] != s:
            sys.exit(f"{path}: row for {r['text']!r} where {s!r} was expected")
    return rows


# ---- the reference ----

def reference(model_dir, sentences, kept, ref_device):
    import torch
    from transformers import AutoModel, AutoTokenizer

    pooling, normalize, max_len, lower = sentence_config(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    try:
        model = AutoModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    except TypeError:  # transformers before `dtype`
        model = AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model = model.to(ref_device).eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"reference: transformers AutoModel ({type(model).__name__}), float32 on {ref_device}; "
          f"{pooling} pooling, normalize {normalize}, max_seq_length {max_len}, do_lower_case {lower}")
    ids_out, embs = [], []
    with torch.no_grad():
        for s in sentences:
            enc = tok(s.lower() if lower else s, truncation=max_len is not None, max_length=max_len,
                      return_tensors="pt")
            ids = enc["input_ids"][0].tolist()
            if kept is not None and any(i not in kept for i in ids):
                sys.exit(f"{s!r}: uses word-embedding rows the packed model zeroed; pack with these sentences")
            h = model(**{k: v.to(ref_device) for k, v in enc.items()}).last_hidden_state[0]  # (n, hidden)
            mask = enc["attention_mask"][0].to(ref_device).unsqueeze(-1).to(h.dtype)
            if pooling == "cls":
                v = h[0]
            elif pooling == "mean":  # sentence-transformers: sum(h * mask) / clamp(sum(mask), 1e-9)
                v = (h * mask).sum(0) / mask.sum(0).clamp(min=1e-9)
            else:
                v = h.masked_fill(mask == 0, -1e9).max(0).values
            if normalize:
                v = torch.nn.functional.normalize(v, p=2, dim=0)
            ids_out.append(ids)
            embs.append(v.double().cpu().tolist())
    st = None
    try:
        from sentence_transformers import SentenceTransformer
        m = SentenceTransformer(model_dir, device=ref_device)
        st = m.encode(sentences, convert_to_numpy=True, batch_size=8).astype("float64").tolist()
    except ImportError:
        print("(sentence_transformers not installed: no second opinion)")
    except Exception as e:  # an old folder layout the installed version rejects: say so, go on
        print(f"(sentence_transformers could not load the folder: {e})")
    return ids_out, embs, st


def max_abs(a, b):
    return max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) else float("inf")


def compare(name, rows, ref_ids, ref_embs, tol):
    worst, worst_s, bad_ids = 0.0, "", 0
    for r, ids, e in zip(rows, ref_ids, ref_embs):
        if r["ids"] != ids:
            bad_ids += 1
            print(f"  {name}: token ids differ for {r['text']!r}:\n    t2l {r['ids']}\n    ref {ids}")
        if r.get("mode") not in (None, "sentence"):
            print(f"  {name}: t2l gave a {r.get('mode')} embedding for {r['text']!r} (expected sentence)")
            bad_ids += 1
        d = max_abs(r["embedding"], e)
        if d > worst:
            worst, worst_s = d, r["text"]
    ok = bad_ids == 0 and worst <= tol
    print(f"{name}: {len(rows)} sentences, token ids {'identical' if bad_ids == 0 else f'DIFFER in {bad_ids}'}, "
          f"max |t2l - reference| = {worst:.3g} (worst: {worst_s[:60]!r}) -> {'OK' if ok else 'FAIL'} (tol {tol:g})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="the HF model folder (config.json, model.safetensors, tokenizer, modules.json, 1_Pooling/) or a --pack folder")
    ap.add_argument("--sentences", help="text file: one sentence a line (empty lines and # comments skipped); default: a built-in set")
    ap.add_argument("--t2l", help="the t2l binary to run")
    ap.add_argument("--encoder", help="ENC.t2l for --t2l")
    ap.add_argument("--convert", metavar="T2L_CONVERT", help="convert --model with this t2l-convert and use that as --encoder")
    ap.add_argument("--device", action="append", help="t2l --device (repeatable: cpu, cuda); default: t2l's auto")
    ap.add_argument("--t2l-json", action="append", default=[], help="t2l outputs recorded with --record (repeatable)")
    ap.add_argument("--record", metavar="FILE", help="only run t2l and write its outputs here (JSON lines)")
    ap.add_argument("--pack", metavar="OUT_DIR", help="only write a smaller copy of --model for these sentences")
    ap.add_argument("--ref-device", default="cpu", help="where transformers runs (default cpu)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--write-expected", metavar="FILE", help="also write the reference embeddings (JSON) here")
    args = ap.parse_args()
    sentences = read_sentences(args.sentences)

    if args.pack:
        if not args.model:
            sys.exit("--pack needs --model")
        extra = set()
        for path in args.t2l_json:
            for r in read_jsonl(path, sentences):
                extra.update(r["ids"])
        pack(args.model, sentences, args.pack, extra)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        model_dir, kept = (usable_model_dir(args.model, tmp) if args.model else (None, None))
        encoder = args.encoder
        if args.convert:
            if not model_dir:
                sys.exit("--convert needs --model")
            encoder = os.path.join(tmp, "encoder.t2l")
            subprocess.run([args.convert, model_dir, "-o", encoder, "-q"], check=True)
        runs = []  # (name, rows)
        if args.t2l:
            if not encoder:
                sys.exit("--t2l needs --encoder ENC.t2l (or --convert)")
            for dev in args.device or [None]:
                runs.append((f"t2l embed{' --device ' + dev if dev else ''}", run_t2l(args.t2l, encoder, sentences, dev)))
        for path in args.t2l_json:
            runs.append((path, read_jsonl(path, sentences)))
        if args.record:
            if not args.t2l:
                sys.exit("--record needs --t2l and --encoder")
            with open(args.record, "w", encoding="utf-8") as f:
                for r in runs[0][1]:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            print(f"wrote {len(runs[0][1])} t2l embeddings to {args.record}")
            return 0
        if not model_dir:
            sys.exit("--model is needed for the reference")
        if not runs:
            sys.exit("nothing to compare: give --t2l and --encoder, --convert, or --t2l-json")

        ref_ids, ref_embs, st = reference(model_dir, sentences, kept, args.ref_device)
        if args.write_expected:
            with open(args.write_expected, "w") as f:
                json.dump([{"text": s, "ids": i, "embedding": e} for s, i, e in zip(sentences, ref_ids, ref_embs)], f)
        if st is not None:
            d = max(max_abs(a, b) for a, b in zip(st, ref_embs))
            print(f"sentence_transformers.encode vs the transformers reference: max |diff| {d:.3g}")
        ok = True
        for name, rows in runs:
            ok &= compare(name, rows, ref_ids, ref_embs, args.tol)
            if st is not None:
                print(f"  (vs sentence_transformers.encode: max |diff| {max(max_abs(r['embedding'], e) for r, e in zip(rows, st)):.3g})")
        # Structure: the closest other sentence of each, by cosine (the vectors are unit length).
        e = ref_embs
        print("nearest neighbours (reference, cosine):")
        for i, s in enumerate(sentences[:12]):
            sims = [(sum(a * b for a, b in zip(e[i], e[j])), j) for j in range(len(e)) if j != i]
            c, j = max(sims)
            print(f"  {c:6.3f}  {s[:48]!r} ~ {sentences[j][:48]!r}")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
