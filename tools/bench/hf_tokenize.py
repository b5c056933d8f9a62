#!/usr/bin/env python3
"""The same tokenize benchmark as `t2l bench tokenize`, with Hugging Face `tokenizers` (one thread).

    python3 tools/bench/hf_tokenize.py TOKENIZER_DIR CORPUS(.tsv|.txt)
"""
import csv
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402


def main():
    tok = Tokenizer.from_file(os.path.join(sys.argv[1], "tokenizer.json"))
    path = sys.argv[2]
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith(".tsv"):
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
            col = rows[0].index("description")
            corpus = [r[col] for r in rows[1:] if len(r) > col]
        else:
            corpus = f.read().split("\n")
    nbytes = sum(len(s.encode("utf-8")) for s in corpus)
    t0 = time.perf_counter()
    ids = sum(len(tok.encode(s, add_special_tokens=False).ids) for s in corpus)
    secs = time.perf_counter() - t0
    print(f"hf tokenize: {len(corpus)} strings, {nbytes / 1e6:.2f} MB, {ids} ids in {secs:.3f} s on 1 thread: "
          f"{nbytes / 1e6 / secs:.2f} MB/s, {ids / 1e6 / secs:.2f} M ids/s")


if __name__ == "__main__":
    main()
