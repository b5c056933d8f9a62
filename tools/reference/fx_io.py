"""Deterministic writers and seeded random helpers shared by the fixture generators.

Everything the oracle writes goes through here so that two runs on the same machine give
byte-identical files: JSON with sorted keys and a trailing newline, safetensors with a fixed
(sorted) tensor order and fixed metadata, seeds derived from names with CRC32 (never Python's
randomised hash()).
"""

import hashlib
import json
import os
import zlib

import torch
from safetensors.torch import save_file

FIXTURE_FORMAT_VERSION = 1


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def json_text(obj, indent=2):
    # ensure_ascii=False: strings stay readable UTF-8; control characters are still \u-escaped.
    return json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path, obj, indent=2):
    ensure_dir(os.path.dirname(path) or ".")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json_text(obj, indent=indent))


def write_text(path, text):
    ensure_dir(os.path.dirname(path) or ".")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_safetensors(path, tensors, metadata=None):
    """Write a safetensors file; tensors are made contiguous and inserted in sorted-name order.

    metadata None -> no __metadata__ block (what safetensors.torch.save_file(sd, path) writes,
    e.g. the T2L reference's adapter files); the hub model files carry {"format": "pt"}.
    """
    ensure_dir(os.path.dirname(path) or ".")
    ordered = {k: tensors[k].detach().contiguous().clone() for k in sorted(tensors)}
    save_file(ordered, path, metadata=metadata)


def name_seed(*parts):
    """A stable 31-bit seed from a sequence of names (CRC32 of the joined text)."""
    text = "/".join(str(p) for p in parts)
    return zlib.crc32(text.encode("utf-8")) & 0x7FFFFFFF


def generator(*parts):
    g = torch.Generator(device="cpu")
    g.manual_seed(name_seed(*parts))
    return g


def randn(shape, *parts, std=1.0, mean=0.0):
    """fp32 normal values, seeded by name, always generated on the CPU."""
    t = torch.randn(*shape, generator=generator(*parts), dtype=torch.float32)
    return t * std + mean


def rand_uniform(shape, lo, hi, *parts):
    t = torch.rand(*shape, generator=generator(*parts), dtype=torch.float32)
    return lo + (hi - lo) * t


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_listing(root):
    """Sorted (relative path, size, sha256) for every file under root."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            out.append((os.path.relpath(p, root), os.path.getsize(p), sha256_file(p)))
    out.sort()
    return out


def flatten_ragged(seqs, dtype=torch.int32):
    """CSR layout for a list of int lists: (values, offsets) with offsets[i]..offsets[i+1]."""
    offsets = [0]
    values = []
    for s in seqs:
        values.extend(int(x) for x in s)
        offsets.append(len(values))
    return torch.tensor(values, dtype=dtype), torch.tensor(offsets, dtype=torch.int64)


def library_versions():
    import numpy
    import peft
    import safetensors
    import tokenizers
    import transformers
    import yaml

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        "pyyaml": yaml.__version__,
    }


def transformers_major():
    import transformers

    return int(transformers.__version__.split(".")[0])


def dtype_kwarg(dtype):
    """from_pretrained's dtype keyword: `dtype` in transformers 5, `torch_dtype` in 4."""
    return {"dtype": dtype} if transformers_major() >= 5 else {"torch_dtype": dtype}
