#!/usr/bin/env python3
"""The adapter interop table: every pair of engines whose logits lie in the given folders.

    python3 tools/interop/compare_engines.py /tmp/t2l-interop/logits [HF_OUTPUT_DIR ...]

Each folder holds {engine}_base.npy and {engine}_lora.npy ((positions, vocab) f32 logits of the
same token ids without and with the adapter): adapter_interop.py writes t2l's and llama.cpp's,
hf_peft_logits.py writes hf_*.npy. For each pair: max |diff| and top-1 agreement of the logits
without and with the adapter, and for the adapter's own effect delta = lora - base the norm
ratio ||delta_a|| / ||delta_b|| and the cosine between them. Per engine, the effect's size:
||delta|| / ||base|| and the share of positions whose top-1 token the adapter changes.
"""
import glob
import itertools
import os
import sys

import numpy as np

from common import compare, delta_stats

PREFERRED = ["t2l", "llama.cpp", "llama.cpp-f32", "hf"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    engines = {}
    for d in sys.argv[1:]:
        for f in sorted(glob.glob(os.path.join(d, "*_base.npy"))):
            name = os.path.basename(f)[: -len("_base.npy")]
            lora = os.path.join(d, name + "_lora.npy")
            if os.path.exists(lora):
                engines[name] = (np.load(f), np.load(lora))
    if not engines:
        sys.exit("compare_engines: no {engine}_base.npy / {engine}_lora.npy pairs found")
    shapes = {k: v[0].shape for k, v in engines.items()}
    n = min(s[0] for s in shapes.values())
    V = min(s[1] for s in shapes.values())  # HF may pad the vocabulary; compare the common part
    order = [e for e in PREFERRED if e in engines] + sorted(e for e in engines if e not in PREFERRED)
    engines = {k: (engines[k][0][:n, :V], engines[k][1][:n, :V]) for k in order}

    print(f"{n} positions, vocabulary {V}")
    print("\nthe adapter's effect per engine:")
    print(f"  {'engine':22} {'||delta||/||base||':>19} {'top-1 changed':>14}")
    for k, (b, l) in engines.items():
        rel = np.linalg.norm(l.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64))
        print(f"  {k:22} {rel:19.3f} {100 * (b.argmax(1) != l.argmax(1)).mean():13.1f}%")

    main_names = [e for e in PREFERRED if e in engines]
    others = [e for e in engines if e not in main_names]
    pairs = list(itertools.combinations(main_names, 2))
    pairs += [(a, b) for a in main_names[:1] for b in others]  # t2l against each extra engine/control
    print("\npairs (a - b):")
    print(f"  {'a':13} {'b':22} | {'base max|d|':>11} {'top-1':>6} | {'lora max|d|':>11} {'top-1':>6} | {'delta ratio':>11} {'cosine':>7}")
    for a, b in pairs:
        cb = compare(engines[a][0], engines[b][0])
        cl = compare(engines[a][1], engines[b][1])
        ds = delta_stats(engines[a][0], engines[a][1], engines[b][0], engines[b][1])
        print(f"  {a:13} {b:22} | {cb['max_abs']:11.2e} {100 * cb['top1']:5.1f}% | {cl['max_abs']:11.2e} {100 * cl['top1']:5.1f}% | "
              f"{ds['norm_ratio']:11.5f} {ds['cosine']:7.5f}")


if __name__ == "__main__":
    main()
