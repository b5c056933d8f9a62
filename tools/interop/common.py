"""Functions shared by the interop scripts: run the two engines' command lines, read their logits,
compare logit matrices."""
import json
import os
import subprocess
import time

import numpy as np


def run(cmd, env=None, capture=True):
    """Runs a command; returns its stdout. Raises with the command's stderr on failure."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, env=full_env, stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout


class T2l:
    def __init__(self, binary, threads):
        self.binary = binary
        self.env = {"T2L_THREADS": str(threads)}

    def tokenize(self, model, text):
        return json.loads(run([self.binary, "tokenize", "-m", model, text, "--json"], self.env))["ids"]

    def decode(self, model, ids):
        return json.loads(run([self.binary, "tokenize", "-m", model, "--decode", ",".join(map(str, ids)), "--json"], self.env))["text"]

    def _model_env(self, model, env):
        """ggml:PATH is PATH run with llama.cpp's CPU numerics (T2L_NUMERICS=ggml)."""
        if model.startswith("ggml:"):
            return model[len("ggml:"):], {**env, "T2L_NUMERICS": "ggml"}
        return model, env

    def logits(self, model, ids, out, lora=None):
        """(positions, vocab) f32 logits for the ids (one prompt pass, every position)."""
        from safetensors.numpy import load_file
        model, env = self._model_env(model, self.env)
        cmd = [self.binary, "logits", "-m", model, "--device", "cpu", "--tokens", ",".join(map(str, ids)), "--out", out]
        if lora:
            cmd += ["--lora", lora]
        run(cmd, env)
        return load_file(out)["logits"]

    def bench_decode(self, model, prompt_tokens, gen_tokens, threads=None):
        model, env = self._model_env(model, {"T2L_THREADS": str(threads)} if threads else self.env)
        out = run([self.binary, "bench", "decode", "-m", model, "--device", "cpu", "--prompt-tokens", str(prompt_tokens),
                   "--gen-tokens", str(gen_tokens)], env)
        return parse_bench(out)


class Llama:
    """tools/interop/llama_interop.cpp built against llama.cpp."""

    def __init__(self, binary, threads):
        self.binary = binary
        self.threads = threads

    def _cmd(self, mode, gguf, *rest):
        return [self.binary, mode, "-m", gguf, "-t", str(self.threads), *rest]

    def tokenize(self, gguf, text):
        return [int(x) for x in run(self._cmd("tokenize", gguf, "-p", text)).strip().split(",") if x]

    def greedy(self, gguf, ids, n, flags=()):
        out = run(self._cmd("greedy", gguf, "--tokens", ",".join(map(str, ids)), "-n", str(n), *flags))
        return [int(x) for x in out.strip().split(",")]

    def logits(self, gguf, ids, out, lora=None, flags=()):
        extra = ["--lora", lora] if lora else []
        run(self._cmd("logits", gguf, "--tokens", ",".join(map(str, ids)), "-o", out, *extra, *flags))
        return np.load(out)

    def bench_decode(self, gguf, prompt_tokens, gen_tokens, threads=None):
        cmd = self._cmd("bench", gguf, "--prompt-tokens", str(prompt_tokens), "--gen-tokens", str(gen_tokens))
        if threads:
            cmd[cmd.index("-t") + 1] = str(threads)
        return parse_bench(run(cmd))


def parse_bench(text):
    """'decode: prefill P tokens X tok/s, decode G tokens Y tok/s (T threads)' -> (X, Y)."""
    words = text.replace(",", " ").split()
    rates = [float(words[i - 1]) for i, w in enumerate(words) if w == "tok/s"]
    return rates[0], rates[1]


def compare(a, b):
    """Agreement of two (positions, vocab) logit matrices."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    d = np.abs(a - b)
    return {
        "positions": a.shape[0],
        "top1": float((a.argmax(1) == b.argmax(1)).mean()),
        "max_abs": float(d.max()),
        "mean_abs": float(d.mean()),
        "logit_range": float(max(np.abs(a).max(), np.abs(b).max())),
    }


def delta_stats(base_a, lora_a, base_b, lora_b):
    """The adapter's effect in two engines: ||delta_a|| / ||delta_b|| and their cosine."""
    da = np.asarray(lora_a, np.float64) - np.asarray(base_a, np.float64)
    db = np.asarray(lora_b, np.float64) - np.asarray(base_b, np.float64)
    na, nb = np.linalg.norm(da), np.linalg.norm(db)
    return {"norm_ratio": float(na / nb), "cosine": float((da * db).sum() / (na * nb)),
            "rel_diff": float(np.linalg.norm(da - db) / nb), "delta_norm_a": float(na), "delta_norm_b": float(nb)}


class Timer:
    def __enter__(self):
        self.t = time.time()
        return self

    def __exit__(self, *exc):
        self.s = time.time() - self.t
