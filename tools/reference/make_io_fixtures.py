#!/usr/bin/env python3
"""Write the small fixtures of tests/test_zip.cpp, test_pickle.cpp and test_yaml.cpp.

    python3 tools/reference/make_io_fixtures.py [OUT_DIR]     (default tests/fixtures/io)

Needs torch (for real torch.save output) and PyYAML (the loader T2L's reference uses for
args.yaml). Everything else is written byte by byte here, so each broken file is broken in
exactly one, named way. Tensor values are small exact binary fractions (arange-based), so
every dtype holds them exactly and the tests compare with ==. torch.save stamps a random
serialization id into each archive: the .pt files differ run to run, their contents do not.
"""
import collections
import io
import json
import math
import os
import pickle
import pickletools
import struct
import sys
import warnings
import zipfile

import torch
import yaml

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../tests/fixtures/io")


def write(name, data):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes")


def torch_save(name, obj):
    # Saved to a path, as T2L saves hypermod.pt: the archive's prefix is then the file's stem
    # ("state_dict/data.pkl"); saving to a buffer would give "archive/".
    path = os.path.join(OUT, name)
    torch.save(obj, path)
    print(f"{path}: {os.path.getsize(path)} bytes")


# ---------------------------------------------------------------------------------------
# Real torch.save output
# ---------------------------------------------------------------------------------------
def ramp(shape, dtype, scale=1.0, shift=0.0):
    n = math.prod(shape)
    return (torch.arange(n, dtype=torch.float64) * scale + shift).reshape(shape).to(dtype)


class Tiny(torch.nn.Module):
    """Parameter names shaped like HyperModulator's (nested ParameterDict, Sequential)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.norm = torch.nn.LayerNorm(3)
        self.AB_offset = torch.nn.ParameterDict(
            {"A": torch.nn.ParameterDict({"q_proj": torch.nn.Parameter(torch.zeros(2, 2, 4), requires_grad=False)})})
        self.register_buffer("steps", torch.zeros(5, dtype=torch.int64))


def state_dict_fixture():
    m = Tiny()
    with torch.no_grad():
        m.lin.weight.copy_(ramp((3, 4), torch.float32, 0.25, -1.0))
        m.lin.bias.copy_(ramp((3,), torch.float32, 1.0, 0.5))
        m.norm.weight.copy_(ramp((3,), torch.float32, -0.5, 2.0))
        m.norm.bias.copy_(ramp((3,), torch.float32, 0.0, 0.125))
        m.AB_offset["A"]["q_proj"].copy_(ramp((2, 2, 4), torch.float32, 0.125))
        m.steps.copy_(torch.arange(5) - 2)
    sd = m.state_dict()  # an OrderedDict with _metadata: the pickle BUILDs it back
    sd["emb.bf16"] = ramp((2, 3), torch.bfloat16, 0.5, -1.0)
    sd["emb.f16"] = ramp((2, 2, 2), torch.float16, 0.25)
    base = ramp((3, 4), torch.float32)
    sd["base"] = base
    sd["base_t"] = base.t()          # (4, 3), stride (1, 4): shares base's storage, not contiguous
    sd["base_row1"] = base[1]        # storage offset 4, contiguous
    sd["base_col2"] = base[:, 2]     # storage offset 2, stride (4,)
    sd["mask"] = torch.tensor([True, False, True, True])
    sd["i32"] = torch.tensor([-7, 7], dtype=torch.int32)
    sd["f64"] = torch.tensor([0.1, -2.5], dtype=torch.float64)
    sd["u8"] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    torch_save("state_dict.pt", sd)

    names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.float64: "f64",
             torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8",
             torch.uint8: "u8", torch.bool: "bool"}
    expected = []
    for k, t in sd.items():
        vals = t.flatten().tolist()
        expected.append({"name": k, "dtype": names[t.dtype], "shape": list(t.shape),
                         "contiguous": t.is_contiguous(), "values": [float(v) for v in vals]})
    write("state_dict.json", (json.dumps({"tensors": expected}, indent=1) + "\n").encode())


def nested_fixture():
    inner = collections.OrderedDict()
    inner["w"] = ramp((2, 2), torch.float32, 1.0, 1.0)
    inner["layers"] = [ramp((2,), torch.float32, 1.0, 10.0), ramp((1,), torch.bfloat16, 1.0, 20.0)]
    obj = {
        "state_dict": inner,
        "param": torch.nn.Parameter(ramp((2,), torch.float32, 1.0, 5.0)),  # via _rebuild_parameter
        "epoch": 3,
        "big": 2 ** 40,
        "neg": -5,
        "lr": 0.25,
        "name": "t2l",
        "flags": [True, None],
        "empty": {},
    }
    torch_save("nested.pt", obj)


# ---------------------------------------------------------------------------------------
# Pickles written opcode by opcode (layouts as in CPython's pickletools)
# ---------------------------------------------------------------------------------------
def u(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(module, name):  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def i32(v):  # BININT
    return b"J" + struct.pack("<i", v)


def tup(items):  # MARK ... TUPLE
    return b"(" + b"".join(items) + b"t"


def tensor_pickle(tensors):
    """An OrderedDict of _rebuild_tensor_v2 calls: (name, storage_type, key, numel, offset, size, stride)."""
    out = b"\x80\x02" + glob("collections", "OrderedDict") + b")R("
    for name, stype, key, numel, offset, size, stride in tensors:
        pid = tup([u("storage"), glob("torch", stype), u(key), u("cpu"), i32(numel)])
        args = tup([pid + b"Q", i32(offset), tup([i32(s) for s in size]), tup([i32(s) for s in stride]),
                    b"\x89", glob("collections", "OrderedDict") + b")R"])
        out += u(name) + glob("torch._utils", "_rebuild_tensor_v2") + args + b"R"
    out += b"u."
    pickletools.dis(out, out=io.StringIO())  # raises if the bytes are not a well-formed pickle
    return out


def torch_zip(entries, prefix="archive"):
    """A zip laid out like torch.save's (stored entries under one prefix)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(f"{prefix}/{name}", data)
    return buf.getvalue()


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def pickle_fixtures():
    # What a malicious hypermod.pt would carry; the first is hand-written to name os.system
    # exactly (pickling os.system itself names its home module, posix).
    os_system = b"\x80\x02" + glob("os", "system") + b"\x8c\x0aecho pwned\x85R."
    pickletools.dis(os_system, out=io.StringIO())
    write("evil_os_system.pkl", os_system)
    write("evil_eval.pkl", pickle.dumps(Evil(eval, "1+1"), protocol=2, fix_imports=False))  # GLOBAL builtins.eval
    write("evil_stack_global.pkl", pickle.dumps(Evil(os.system, "true"), protocol=4))  # STACK_GLOBAL posix.system
    write("evil_global.pt", torch_zip([("data.pkl", os_system), ("version", b"3\n")], prefix="hypermod"))

    # Plain values through Python's own pickler, protocol 2 and 5 (FRAME, MEMOIZE, STACK_GLOBAL,
    # SHORT_BINUNICODE, SHORT_BINBYTES; bytes pickle as _codecs.encode in protocol 2, so only in 5).
    d = collections.OrderedDict()
    d["f"] = 1.5
    d["ints"] = [0, 255, 65535, -1, 2 ** 31, -(2 ** 40), 2 ** 63 - 1]
    d["s"] = "h\u00e9llo \u2019"
    d["t"] = (None, True, False)
    d["shared"] = d["ints"]  # memo: the same list twice
    write("values_p2.pkl", pickle.dumps(d, protocol=2))
    d["b"] = b"\x00\xff"
    write("values_p5.pkl", pickle.dumps(d, protocol=5))

    f32_8 = struct.pack("<8f", *range(8))
    # Storage '0' has 8 floats; a (4, 4) view needs 16.
    write("bad_storage_small.pt", torch_zip([
        ("data.pkl", tensor_pickle([("w", "FloatStorage", "0", 8, 0, (4, 4), (4, 1))])), ("data/0", f32_8)]))
    write("bad_missing_data.pt", torch_zip([
        ("data.pkl", tensor_pickle([("w", "FloatStorage", "0", 8, 0, (8,), (1,))])), ("version", b"3\n")]))
    write("bad_entry_size.pt", torch_zip([
        ("data.pkl", tensor_pickle([("w", "FloatStorage", "0", 8, 0, (8,), (1,))])), ("data/0", f32_8 + f32_8)]))
    write("bad_byteorder.pt", torch_zip([
        ("data.pkl", tensor_pickle([("w", "FloatStorage", "0", 8, 0, (8,), (1,))])), ("byteorder", b"big"),
        ("data/0", f32_8)]))
    # One storage read as float by one tensor and as int64 by another.
    write("bad_storage_types.pt", torch_zip([
        ("data.pkl", tensor_pickle([("a", "FloatStorage", "0", 8, 0, (8,), (1,)),
                                    ("b", "LongStorage", "0", 4, 0, (4,), (1,))])), ("data/0", f32_8)]))
    # A stride-0 view: 1000 elements read from a 2-element storage.
    write("bad_repeat.pt", torch_zip([
        ("data.pkl", tensor_pickle([("r", "FloatStorage", "0", 2, 0, (1000,), (0,))])), ("data/0", f32_8[:8])]))
    # Eight transposes of one 16x16 storage: 8 KiB of copies from a file a third that size.
    write("bad_copies.pt", torch_zip([
        ("data.pkl", tensor_pickle([(f"t{i}", "FloatStorage", "0", 256, 0, (16, 16), (1, 16)) for i in range(8)])),
        ("data/0", struct.pack("<256f", *range(256)))]))
    # A list that contains itself (legal pickle: APPEND the memoized list to itself).
    cycle = b"\x80\x02" + glob("collections", "OrderedDict") + b")R(" + u("x") + b"]q\x09h\x09au."
    pickletools.dis(cycle, out=io.StringIO())
    write("bad_cycle.pt", torch_zip([("data.pkl", cycle)]))
    write("bad_root.pt", torch_zip([("data.pkl", pickle.dumps([], protocol=2))]))
    # A valid hand-made archive: a (2, 3) view with stride (1, 2) at offset 1 of a 7-element storage.
    write("strided.pt", torch_zip([
        ("data.pkl", tensor_pickle([("v", "DoubleStorage", "s", 7, 1, (2, 3), (1, 2))])),
        ("data/s", struct.pack("<7d", *[float(i) for i in range(7)]))]))


# ---------------------------------------------------------------------------------------
# Zip archives
# ---------------------------------------------------------------------------------------
HELLO = b"hello zip\n"
BYTES = bytes(range(256))


def zip64_archive(files):
    """Every size and offset replaced by its ZIP64 placeholder, as a writer must above 4 GiB."""
    out, central = bytearray(), bytearray()
    for name, data in files:
        n, off, crc = name.encode(), len(out), zipfile.crc32(data)
        lextra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(lextra))
        out += n + lextra + data
        # An unrelated extra block first, so the reader has to walk to the ZIP64 one.
        cextra = struct.pack("<HHI", 0xCAFE, 4, 0) + struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(n), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + n + cextra
    cd_off = len(out)
    out += central
    rec_off = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(files), len(files), len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, rec_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def zip_fixtures():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("hello.txt", HELLO)
        z.writestr("dir/bytes.bin", BYTES)
        z.writestr("empty", b"")
        z.comment = b"an archive comment, PK\x05\x06 included to look like an end record"
    write("plain.zip", buf.getvalue())

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("stored.txt", HELLO, compress_type=zipfile.ZIP_STORED)
        z.writestr("packed.txt", HELLO * 20, compress_type=zipfile.ZIP_DEFLATED)
    write("compressed.zip", buf.getvalue())

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns, then writes the duplicate anyway
        z.writestr("same", b"first")
        z.writestr("same", b"second")
    write("dup.zip", buf.getvalue())

    data = zip64_archive([("big/a.bin", BYTES[:100]), ("big/b.txt", HELLO)])
    z = zipfile.ZipFile(io.BytesIO(data))  # Python's reader agrees with the hand-made layout
    assert z.read("big/a.bin") == BYTES[:100] and z.read("big/b.txt") == HELLO
    write("zip64.zip", data)

    # Right layout, wrong CRC in both headers: opens fine, fails verify_crc.
    raw = bytearray(torch_zip([("x.bin", BYTES[:64])], prefix="crc"))
    crc = struct.pack("<I", zipfile.crc32(BYTES[:64]))
    bad = struct.pack("<I", zipfile.crc32(BYTES[:64]) ^ 1)
    assert raw.count(crc) == 2
    write("bad_crc.zip", bytes(raw.replace(crc, bad)))


# ---------------------------------------------------------------------------------------
# YAML: args.yaml as the reference writes it (yaml.dump(vars(args))), and the subset's corners
# ---------------------------------------------------------------------------------------
def yaml_fixtures():
    # Field names and kinds of T2L's training arguments; the values and texts are ours. The
    # long descriptions make yaml.dump fold lines; the curly apostrophe makes it switch to a
    # double-quoted scalar with \u escapes and escaped line breaks, as in real args.yaml files.
    args = {
        "model_dir": "mistralai/Mistral-7B-Instruct-v0.2",
        "emb_model": "Alibaba-NLP/gte-large-en-v1.5",
        "exp_setup": "hyper_lora",
        "training_task": "sft",
        "encoder_type": "linear",
        "hypernet_latent_size": 512,
        "head_in_size": 2048,
        "shared_AB_head": False,
        "autoreg_gen": False,
        "learnable_pos_emb": False,
        "pred_z_score": True,
        "factorized": False,
        "delta_w_scaling": 10000,
        "mt_lora_path": None,
        "lr": 2.5e-05,
        "weight_decay": 0.01,
        "l2_reg_generated_w": 0.001,
        "max_grad_norm": 1.0,
        "save_freq": 10 ** 100,  # the reference's "never" default: not an int64
        "target_modules": ["q_proj", "v_proj"],
        "train_ds_names": ["lol_001", "lol_002", "lol_017"],
        "additional_eval_descs": ["dogs;cats;bananas;", "7@9.x#/y,s'2OC^0#q", "yes", "1e-4", "0777"],
        "eval_ds_info": {
            "task_b": {"descriptions": [
                "Read a short paragraph about the weather and decide whether the forecast it gives is sunny or rainy.",
                "You\u2019ll sort a list of words by length and then alphabetically, keeping duplicates where they appear."]},
            "task_a": {"descriptions": ["Count the vowels."], "weight": 0.5},
        },
        "notes": "",
        "empty_list": [],
        "empty_map": {},
        "seed": 42,
    }
    text = yaml.dump(args)  # the reference's save_yaml: default style, keys sorted
    write("args.yaml", text.encode())
    write("args.json", (json.dumps(yaml.safe_load(text), indent=1) + "\n").encode())

    subset = """\
# The corners of the YAML subset t2l reads, checked against PyYAML's safe_load.
---
plain: hello world  # a comment
colon_in_value: a:b
quoted_single: 'it''s # not a comment'
quoted_double: "tab\\tnew\\nline \\u00e9 \\x41 \\"q\\" \\\\"
folded_double: "first
  second\\
  \\ third"
multi_line_plain: this scalar
  continues here

  and after a blank line
ints: [0, -17, +3, 1_000, 0x1F, 0777, 0b101, -0x10]
floats: [1.5, -0.25, 2.5e-05, 1.0e+3, .5, 6.]
strings_not_numbers: [1e-4, 1e4, 12e03, 09, 0o17, "12", -.5]
bools: [true, False, yes, No, on, OFF]
nulls: [null, ~, Null, ""]
empty_value:
nested:
  level2:
    key: value
    list:
    - a
    - - inner1
      - inner2
    - k1: v1
      k2: [x, 'y z']
  sibling: 2
indented_list:
  - one
  - two
flow_nested: [a, [b, c], []]
empty_flow_map: {}
"""
    write("subset.yaml", subset.encode())
    write("subset.json", (json.dumps(yaml.safe_load(subset), indent=1) + "\n").encode())


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    state_dict_fixture()
    nested_fixture()
    pickle_fixtures()
    zip_fixtures()
    yaml_fixtures()
