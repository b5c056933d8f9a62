"""Small tokenizers trained offline with the `tokenizers` package, in the real families' layouts.

Families (all trained on ../shared/data/task_descriptions.tsv plus a little code/numbers):
- llama3_bpe:   byte-level BPE, Llama-3 regex pre-tokenizer (Split isolated + ByteLevel without
                regex), ignore_merges=true, <|begin_of_text|> template, header/eot special tokens
                at the top of the vocab like Llama 3 (128000.. there, V0.. here).
- spm_mistral:  SentencePiece-style BPE with byte_fallback, the *older* converted form:
                normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer,
                decoder Sequence[Replace, ByteFallback, Fuse, Strip(1 left)]; <unk>,<s>,</s> = 0,1,2;
                [INST] is plain text.
- spm_metaspace: the same vocab/merges as spm_mistral in the *newer* form (what transformers'
                LlamaConverter writes with legacy=false): no normalizer, Metaspace pre-tokenizer
                (prepend_scheme "first", split false), the same decoder as spm_mistral.
- spm_gemma:    SentencePiece-style BPE with byte_fallback, Gemma form: normalizer Replace(" ", "▁")
                only (no prefix space), decoder Sequence[Replace, ByteFallback, Fuse];
                <pad>,<eos>,<bos>,<unk>,<mask>,<start_of_turn>,<end_of_turn> special tokens.
- bert_wordpiece: BERT uncased WordPiece (BertNormalizer lowercase + accent stripping,
                BertPreTokenizer, [CLS] $A [SEP] template, WordPiece decoder with cleanup); its
                vocabulary is built from word counts by a deterministic rule (_bert_vocab), not
                by the WordPieceTrainer, whose results vary between runs.

Chat templates: the T2L reference replaces each base model's template with its own
(chat_templates/<model>/chat_template.jinja, with 4-space runs and newlines removed). The
templates below are written for this project to render exactly the same text for
system/user/assistant messages (no tool calls); tools/reference checks this against nothing
external at run time, the README records the equivalence check.
"""

import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from fx_corpus import tokenizer_training_texts
from fx_io import ensure_dir, json_text, write_json, write_text

LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

LLAMA3_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{- bos_token + '<|start_header_id|>system<|end_header_id|>\\n\\n' + messages[0]['content'] | trim + '<|eot_id|>' -}}"
    "{%- set rest = messages[1:] -%}"
    "{%- else -%}{%- set rest = messages -%}{%- endif -%}"
    "{%- for m in rest -%}"
    "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
)

GEMMA_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}{{- bos_token -}}{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}{%- set role = 'model' -%}{%- else -%}{%- set role = m['role'] -%}{%- endif -%}"
    "{{- '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)

MISTRAL_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{- bos_token -}}{%- set sys = messages[0]['content'] -%}{%- set rest = messages[1:] -%}"
    "{%- else -%}{%- set rest = messages -%}{%- endif -%}"
    "{%- for m in rest -%}"
    "{%- if m['role'] == 'user' -%}"
    "{%- if loop.first and sys is defined -%}{{- ' [INST] ' + sys + '\\n\\n' + m['content'] + ' [/INST]' -}}"
    "{%- else -%}{{- ' [INST] ' + m['content'] + ' [/INST]' -}}{%- endif -%}"
    "{%- elif m['role'] == 'assistant' -%}{{- ' ' + m['content'] + eos_token -}}"
    "{%- else -%}{{- raise_exception('Only user and assistant roles are supported, after an optional system message') -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Pre-tokens added whole to the Llama-3-style vocab without merges: with ignore_merges=true they
# must come out as one id; the BPE merges alone would split them.
IGNORE_MERGES_WORDS = [" hypernetwork", " adapters", " Hypernetworks", " LoRA",
                       " gte", " rsLoRA", " tokenizer", " transformers"]


def deterministic_alphabet(texts, k, normalize=None, always=()):
    """The k most frequent characters (ties broken by code point), plus `always`.
    The trainers' own limit_alphabet breaks ties in hash-map order, which varies between runs;
    handing them this alphabet as initial_alphabet with limit_alphabet = its size removes that."""
    from collections import Counter
    counts = Counter()
    for t in texts:
        counts.update(normalize(t) if normalize else t)
    for a in always:
        counts.pop(a, None)
    chars = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], ord(kv[0])))
             if not c.isspace()][: k - len(always)]
    return sorted(set(chars) | set(always))


def _train_bpe(vocab_size, pre_tok, normalizer=None, limit_alphabet=None, initial_alphabet=None):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tok
    kw = dict(vocab_size=vocab_size, show_progress=False, special_tokens=[])
    if limit_alphabet is not None:
        assert initial_alphabet is None
        initial_alphabet = deterministic_alphabet(tokenizer_training_texts(), limit_alphabet, always=("▁",))
        kw["limit_alphabet"] = len(initial_alphabet)
    if initial_alphabet is not None:
        kw["initial_alphabet"] = initial_alphabet
    tok.train_from_iterator(tokenizer_training_texts(), trainers.BpeTrainer(**kw))
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    merges = spec["model"]["merges"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]
    pieces = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return pieces, merges


def _added(content, id_, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": not special, "special": special}


def _added_tokens_decoder(tok):
    out = {}
    for t in json.loads(tok.to_str())["added_tokens"]:
        out[str(t["id"])] = {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
    return out


# ---------------------------------------------------------------------------------------------
# Llama 3 style
# ---------------------------------------------------------------------------------------------
def build_llama3(total_vocab=2048, n_special=64):
    byte_pre = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated", invert=False), byte_pre])
    n_extra = len(IGNORE_MERGES_WORDS)
    pieces, merges = _train_bpe(total_vocab - n_special - n_extra, pre,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Byte-level spelling of the whole-word extras (space -> "Ġ" etc.).
    extras = []
    for w in IGNORE_MERGES_WORDS:
        pt = byte_pre.pre_tokenize_str(w)
        assert len(pt) == 1, pt
        extras.append(pt[0][0])
    for e in extras:
        assert e not in pieces, e
    pieces = pieces + extras
    assert len(pieces) == total_vocab - n_special
    vocab = {p: i for i, p in enumerate(pieces)}
    model = models.BPE(vocab=vocab, merges=merges, ignore_merges=True)
    tok = Tokenizer(model)
    tok.normalizer = None
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    base = len(pieces)
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    names += ["<|reserved_special_token_%d|>" % (i + 3) for i in range(n_special - len(names))]
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in names])
    ids = {n: tok.token_to_id(n) for n in names}
    assert ids["<|begin_of_text|>"] == base and ids[names[-1]] == base + n_special - 1
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, ids[bos])]),
    ])
    assert tok.get_vocab_size() == total_vocab
    # ignore_merges must matter for the extras.
    plain = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    plain.pre_tokenizer = pre
    for w in IGNORE_MERGES_WORDS:
        assert len(tok.encode(w, add_special_tokens=False).ids) == 1, w
        assert len(plain.encode(w, add_special_tokens=False).ids) > 1, w
    config = {
        "added_tokens_decoder": _added_tokens_decoder(tok),
        "bos_token": bos,
        "chat_template": LLAMA3_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    special = {"bos_token_id": ids[bos], "eos_token_id": [ids["<|end_of_text|>"], ids["<|eom_id|>"], ids["<|eot_id|>"]],
               "special_ids": ids}
    return tok, config, special


# ---------------------------------------------------------------------------------------------
# SentencePiece-style BPE with byte fallback (Mistral / Gemma)
# ---------------------------------------------------------------------------------------------
BYTE_TOKENS = ["<0x%02X>" % b for b in range(256)]


def _train_spm_pieces(n_pieces, limit_alphabet):
    # Training splits at "▁" (each word starts with it); the saved pipelines do not split, but no
    # learned piece has "▁" anywhere except at its start, so the merges stay valid on whole strings.
    pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    pieces, merges = _train_bpe(n_pieces, pre, limit_alphabet=limit_alphabet)
    for p in pieces:
        assert "▁" not in p[1:], p
    return pieces, merges


def _spm_model(front, pieces, merges, unk):
    vocab_list = front + BYTE_TOKENS + [p for p in pieces if p not in front and p not in BYTE_TOKENS]
    vocab = {p: i for i, p in enumerate(vocab_list)}
    assert len(vocab) == len(vocab_list)
    model = models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=True, fuse_unk=True)
    return model, vocab_list


def build_mistral(total_vocab=2000, form="legacy"):
    """form: "legacy" (Prepend+Replace normalizer) or "metaspace" (Metaspace pre-tokenizer)."""
    from tokenizers import AddedToken
    front = ["<unk>", "<s>", "</s>"]
    pieces, merges = _train_spm_pieces(total_vocab - len(front) - 256, limit_alphabet=110)
    model, vocab_list = _spm_model(front, pieces, merges, "<unk>")
    assert len(vocab_list) == total_vocab, len(vocab_list)
    tok = Tokenizer(model)
    if form == "legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.pre_tokenizer = None
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    elif form == "metaspace":
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        # transformers' LlamaConverter (legacy=False) keeps the Replace/ByteFallback/Fuse/Strip decoder.
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:
        raise ValueError(form)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in front])
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)])
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": _added_tokens_decoder(tok),
        "bos_token": "<s>",
        "chat_template": MISTRAL_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": form == "legacy",
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": None,
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    special = {"bos_token_id": 1, "eos_token_id": 2, "unk_token_id": 0,
               "special_ids": {t: i for i, t in enumerate(front)}}
    return tok, config, special


def build_gemma(total_vocab=1536):
    from tokenizers import AddedToken
    front = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    pieces, merges = _train_spm_pieces(total_vocab - len(front) - 256, limit_alphabet=100)
    model, vocab_list = _spm_model(front, pieces, merges, "<unk>")
    assert len(vocab_list) == total_vocab, len(vocab_list)
    tok = Tokenizer(model)
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in front])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos>:0 $A:0", pair="<bos>:0 $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", 2)])
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": _added_tokens_decoder(tok),
        "bos_token": "<bos>",
        "chat_template": GEMMA_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<eos>",
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<pad>",
        "padding_side": "left",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "GemmaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    special = {"bos_token_id": 2, "eos_token_id": [1, 6], "pad_token_id": 0, "unk_token_id": 3,
               "special_ids": {t: i for i, t in enumerate(front)}}
    return tok, config, special


# ---------------------------------------------------------------------------------------------
# BERT uncased WordPiece (gte-large-en-v1.5 uses bert-base-uncased's tokenizer)
# ---------------------------------------------------------------------------------------------
BERT_FRONT = ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[unused3]", "[unused4]",
              "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _bert_vocab(words, vocab_size, n_chars=220, n_prefix=260, n_suffix=300):
    """A deterministic WordPiece vocabulary from pre-token counts.

    The tokenizers WordPieceTrainer numbers its "##c" pieces in hash-map order, which changes the
    tie-breaking of its merges from run to run (the learned vocabulary itself can change), so
    the fixture builds its vocabulary directly, with every tie broken by the string:
      front (BERT-like: [PAD] 0, [unusedN], [UNK], [CLS], [SEP], [MASK]),
      the n_chars most frequent characters (code-point order), "##" + each of them,
      the most frequent whole words, the most frequent word-initial pieces,
      the most frequent "##" continuation pieces (lengths 2..6), until vocab_size.
    Only the set of strings matters to WordPiece's greedy longest-match; the ids are fixed by
    this order."""
    from collections import Counter
    chars = Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
    alphabet = sorted(c for c, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))[:n_chars])
    ok = set(alphabet)
    vocab = list(BERT_FRONT) + alphabet + ["##" + c for c in alphabet]
    seen = set(vocab)
    prefixes, suffixes = Counter(), Counter()
    for w, n in words.items():
        if not set(w) <= ok:
            continue
        for L in range(2, min(6, len(w)) + 1):
            if L < len(w):
                prefixes[w[:L]] += n
            for i in range(1, len(w) - L + 1):
                suffixes[w[i:i + L]] += n
    ranked_words = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))
                    if len(w) > 1 and set(w) <= ok]
    ranked_pre = [p for p, _ in sorted(prefixes.items(), key=lambda kv: (-kv[1], kv[0]))]
    ranked_suf = ["##" + s for s, _ in sorted(suffixes.items(), key=lambda kv: (-kv[1], kv[0]))]
    n_words = vocab_size - len(vocab) - n_prefix - n_suffix
    for pool, k in ((ranked_words, n_words), (ranked_pre, n_prefix), (ranked_suf, n_suffix)):
        added = 0
        for t in pool:
            if added == k:
                break
            if t not in seen:
                vocab.append(t)
                seen.add(t)
                added += 1
    assert len(vocab) == vocab_size, len(vocab)
    return vocab


def build_bert(vocab_size=1500):
    from collections import Counter
    from tokenizers import AddedToken
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                      lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter()
    for t in tokenizer_training_texts():
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)):
            words[w] += 1
    order = _bert_vocab(words, vocab_size)
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(order)}, unk_token="[UNK]",
                                     continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer, tok.pre_tokenizer = norm, pre
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    ids = {t: tok.token_to_id(t) for t in specials}
    assert ids == {t: BERT_FRONT.index(t) for t in specials}, ids
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    config = {
        "added_tokens_decoder": _added_tokens_decoder(tok),
        "clean_up_tokenization_spaces": True,
        "cls_token": "[CLS]",
        "do_basic_tokenize": True,
        "do_lower_case": True,
        "mask_token": "[MASK]",
        "model_max_length": 8192,
        "never_split": None,
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
        "unk_token": "[UNK]",
    }
    special = {"cls_token_id": ids["[CLS]"], "sep_token_id": ids["[SEP]"], "pad_token_id": ids["[PAD]"],
               "unk_token_id": ids["[UNK]"], "mask_token_id": ids["[MASK]"]}
    return tok, config, special


BUILDERS = {
    "llama3_bpe": build_llama3,
    "spm_mistral": lambda: build_mistral(form="legacy"),
    "spm_metaspace": lambda: build_mistral(form="metaspace"),
    "spm_gemma": build_gemma,
    "bert_wordpiece": build_bert,
}

# Files written with merges as "a b" strings (the format of the hub's Llama-3 and Mistral files,
# tokenizers < 0.20); the others use the newer [["a", "b"], ...] pairs. Loaders must accept both.
MERGES_AS_STRINGS = {"llama3_bpe", "spm_mistral"}

_CACHE = {}


def tokenizer_json_text(name, tok):
    """The tokenizer.json text exactly as written to disk (pretty-printed like the hub files)."""
    if name not in MERGES_AS_STRINGS:
        return tok.to_str(pretty=True) + "\n"
    spec = json.loads(tok.to_str())
    merges = spec["model"]["merges"]
    for m in merges:
        parts = m.split(" ") if isinstance(m, str) else m
        assert len(parts) == 2 and all(" " not in p for p in parts), m
    spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def preload_from(tokenizers_dir):
    """Use the committed tokenizer files instead of training (compare_devices.py: another
    `tokenizers` version could train a different vocabulary and change the prompts' ids)."""
    for name in BUILDERS:
        d = os.path.join(tokenizers_dir, name)
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        with open(os.path.join(d, "expected.json"), encoding="utf-8") as f:
            special = json.load(f)["special"]
        _CACHE[name] = (Tokenizer.from_str(text), config, special, text)


def get(name):
    """(tokenizer, tokenizer_config dict, special ids). The tokenizer is the one re-read from the
    tokenizer.json text that gets written, so expected values come from the file itself."""
    if name not in _CACHE:
        built, config, special = BUILDERS[name]()
        text = tokenizer_json_text(name, built)
        tok = Tokenizer.from_str(text)
        _CACHE[name] = (tok, config, special, text)
    tok, config, special, _ = _CACHE[name]
    return tok, config, special


def special_tokens_map(config):
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "pad_token", "cls_token", "sep_token", "mask_token"):
        v = config.get(k)
        if v is not None:
            out[k] = v
    return out


def write_tokenizer_dir(out_dir, name):
    """tokenizer.json (pretty-printed, as the hub ships it), tokenizer_config.json,
    special_tokens_map.json; vocab.txt too for WordPiece (as BERT repos ship it)."""
    ensure_dir(out_dir)
    tok, config, _ = get(name)
    text = _CACHE[name][3]
    write_text(os.path.join(out_dir, "tokenizer.json"), text)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), config)
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special_tokens_map(config))
    spec = json.loads(text)
    if spec["model"]["type"] == "WordPiece":
        vocab = spec["model"]["vocab"]
        words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        write_text(os.path.join(out_dir, "vocab.txt"), "".join(w + "\n" for w in words))
