"""A PyTorch re-implementation of the gte-v1.5 "NewModel" text encoder (Alibaba-NLP/new-impl,
modeling.py + configuration.py; used by gte-large-en-v1.5 through trust_remote_code).

transformers has no class for it, so the oracle carries this one. Parameter names equal the
public checkpoint's (no prefix; NewModel is saved without "new."):

  embeddings.word_embeddings.weight          (vocab, H)   padding_idx = pad_token_id (0)
  embeddings.token_type_embeddings.weight    (type_vocab, H)
  embeddings.LayerNorm.{weight,bias}         (H,)
  encoder.layer.{i}.attention.qkv_proj.{weight,bias}  (3H, H), (3H,)   rows: q | k | v
  encoder.layer.{i}.attention.o_proj.{weight,bias}    (H, H), (H,)
  encoder.layer.{i}.mlp.up_gate_proj.weight           (2I, H)  rows: up | gate, no bias
  encoder.layer.{i}.mlp.down_proj.{weight,bias}       (H, I), (H,)
  encoder.layer.{i}.attn_ln.{weight,bias}, encoder.layer.{i}.mlp_ln.{weight,bias}  (H,)

Forward (inference, no unpadding, no xformers), as the public code computes it:
  x = LayerNorm(word_emb[ids] + type_emb[token_type_ids])          (no absolute positions)
  per layer (post-norm):
    q, k, v = split(qkv_proj(x), H)  -> (B, L, heads, d); rotate-half RoPE on q and k
    [logn_attention_scale: q *= log(len)/log(max_position_embeddings), clipped below at 1]
    scores = q k^T / sqrt(d) + (1 - mask) * finfo.min ; softmax ; @ v ; o_proj
    x = attn_ln(x + attn) ; x = mlp_ln(x + down_proj(act(gate) * up))
  hidden_states = (embedding output, after layer 0, ..., after layer n-1)

RoPE cache (the detail that matters): NTKScalingRotaryEmbedding's constructor first runs the base
constructor, which computes inv_freq from rope_theta and calls the (overridden) cache builder with
seq_len = max_position_embeddings -- not larger than max_position_embeddings, so inv_freq stays
unscaled there -- and then calls the builder again with seq_len = max_position_embeddings * factor.
That second call is larger, so it replaces inv_freq (fixed NTK, mixed_b None) with
    inv_freq_j = 1 / (rope_theta * factor) ** (2j / d)  /  factor ** (2 / d)
and builds cos/sin for positions 0 .. max_position_embeddings*factor - 1. Those are the
frequencies every forward pass uses (all fp32: pow, reciprocal, divide by the python double
factor**(2/d), outer product t*inv_freq, cos/sin). Note this is not the textbook NTK base
rope_theta * factor**(d/(d-2)).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# The keys of Alibaba-NLP/gte-large-en-v1.5's config.json (transformers-4 era PretrainedConfig).
GTE_LARGE_CONFIG = {
    "architectures": ["NewModel"],
    "attention_probs_dropout_prob": 0.0,
    "auto_map": {
        "AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
        "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel",
        "AutoModelForMaskedLM": "Alibaba-NLP/new-impl--modeling.NewForMaskedLM",
        "AutoModelForMultipleChoice": "Alibaba-NLP/new-impl--modeling.NewForMultipleChoice",
        "AutoModelForQuestionAnswering": "Alibaba-NLP/new-impl--modeling.NewForQuestionAnswering",
        "AutoModelForSequenceClassification": "Alibaba-NLP/new-impl--modeling.NewForSequenceClassification",
        "AutoModelForTokenClassification": "Alibaba-NLP/new-impl--modeling.NewForTokenClassification",
    },
    "classifier_dropout": None,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-12,
    "layer_norm_type": "layer_norm",
    "logn_attention_clip1": False,
    "logn_attention_scale": False,
    "max_position_embeddings": 8192,
    "model_type": "new",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "pack_qkv": True,
    "pad_token_id": 0,
    "position_embedding_type": "rope",
    "rope_scaling": {"factor": 2.0, "type": "ntk"},
    "rope_theta": 160000,
    "torch_dtype": "float32",
    "transformers_version": "4.39.1",
    "type_vocab_size": 2,
    "unpad_inputs": False,
    "use_memory_efficient_attention": False,
    "vocab_size": 30528,
}


def gelu_erf(x):
    return F.gelu(x)  # transformers ACT2FN["gelu"] = exact erf GELU


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class NewRotary(nn.Module):
    """cos/sin tables built exactly like the public RotaryEmbedding / NTKScalingRotaryEmbedding."""

    def __init__(self, dim, max_position_embeddings, base, scaling=None):
        super().__init__()
        self.dim = dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        self.scaling_factor = None
        self.mixed_b = None
        self.kind = "none"
        if scaling is not None:
            if scaling.get("type") != "ntk":
                raise ValueError("only rope_scaling type 'ntk' exists in the public NewModel code")
            self.kind = "ntk"
            self.scaling_factor = scaling["factor"]
            self.mixed_b = scaling.get("mixed_b")
        # Base constructor: plain inv_freq, then the cache for max_position_embeddings positions.
        inv = 1.0 / (self.base ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv, persistent=False)
        self._build(max_position_embeddings)
        if self.kind == "ntk":
            # NTK constructor's second call, with the scaled length: this one rescales inv_freq.
            self._build(max_position_embeddings * self.scaling_factor)

    def _build(self, seq_len):
        self.max_seq_len_cached = seq_len
        if self.kind == "ntk" and seq_len > self.max_position_embeddings:
            base = self.base * (self.scaling_factor if self.mixed_b is None else 1)
            inv = 1.0 / (base ** (torch.arange(0, self.dim, 2).float() / self.dim))
            if self.mixed_b is None:
                inv = inv / self.scaling_factor ** (2 / self.dim)
            else:
                a = torch.tensor(self.scaling_factor).log() / (self.dim / 2) ** self.mixed_b
                lam = (a * torch.arange(1, self.dim // 2 + 1).float() ** self.mixed_b).exp()
                inv = inv / lam
            self.register_buffer("inv_freq", inv, persistent=False)
        t = torch.arange(seq_len, dtype=torch.float32, device=self.inv_freq.device)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos().to(torch.get_default_dtype()), persistent=False)
        self.register_buffer("sin_cached", emb.sin().to(torch.get_default_dtype()), persistent=False)

    def forward(self, seq_len, dtype):
        if seq_len > self.max_seq_len_cached:
            self._build(seq_len)
        return self.cos_cached[:seq_len].to(dtype), self.sin_cached[:seq_len].to(dtype)


class NewEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], H, padding_idx=cfg.get("pad_token_id", 0))
        if cfg.get("position_embedding_type", "rope") != "rope":
            raise ValueError("only position_embedding_type 'rope' is implemented")
        self.rotary_emb = NewRotary(H // cfg["num_attention_heads"], cfg["max_position_embeddings"],
                                    cfg["rope_theta"], cfg.get("rope_scaling"))
        self.type_vocab_size = cfg.get("type_vocab_size", 0)
        if self.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(self.type_vocab_size, H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])

    def forward(self, input_ids, token_type_ids=None):
        B, L = input_ids.shape
        x = self.word_embeddings(input_ids)
        position_ids = torch.arange(L, device=input_ids.device).expand(B, -1)
        cos, sin = self.rotary_emb(L, x.dtype)
        cos = cos[position_ids].unsqueeze(2)  # (B, L, 1, d)
        sin = sin[position_ids].unsqueeze(2)
        if self.type_vocab_size > 0:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(position_ids)
            x = x + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x), (cos, sin)


class NewAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.head_dim = H // self.heads
        if not cfg.get("pack_qkv", True):
            raise ValueError("only pack_qkv=true is implemented (the released checkpoints)")
        self.qkv_proj = nn.Linear(H, 3 * H, bias=True)
        self.o_proj = nn.Linear(H, H, bias=True)
        self.logn = cfg.get("logn_attention_scale", False)

    def forward(self, x, bias, rope, attention_scale=None):
        B, L, H = x.shape
        q, k, v = self.qkv_proj(x).split(H, dim=-1)
        q = q.view(B, L, self.heads, self.head_dim)
        k = k.view(B, L, self.heads, self.head_dim)
        v = v.view(B, L, self.heads, self.head_dim)
        cos, sin = rope
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.logn and attention_scale is not None:
            q = q * attention_scale
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, L, d)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if bias is not None:
            scores = scores + bias
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, L, H)
        return self.o_proj(ctx)


class NewGatedMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, I = cfg["hidden_size"], cfg["intermediate_size"]
        self.intermediate_size = I
        self.up_gate_proj = nn.Linear(H, 2 * I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=True)
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError("only hidden_act 'gelu' is implemented")

    def forward(self, x):
        up, gate = torch.split(self.up_gate_proj(x), self.intermediate_size, dim=-1)
        return self.down_proj(gelu_erf(gate) * up)


class NewLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.get("layer_norm_type", "layer_norm") != "layer_norm":
            raise ValueError("only layer_norm_type 'layer_norm' is implemented")
        self.attention = NewAttention(cfg)
        self.mlp = NewGatedMLP(cfg)
        self.attn_ln = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])
        self.mlp_ln = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, x, bias, rope, attention_scale=None):
        x = self.attn_ln(x + self.attention(x, bias, rope, attention_scale))
        return self.mlp_ln(x + self.mlp(x))


class NewEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([NewLayer(cfg) for _ in range(cfg["num_hidden_layers"])])


class NewModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.embeddings = NewEmbeddings(cfg)
        self.encoder = NewEncoder(cfg)

    @torch.no_grad()
    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x, rope = self.embeddings(input_ids, token_type_ids)
        # get_extended_attention_mask: (B, 1, 1, L) additive bias, 0 where attended.
        m = attention_mask[:, None, None, :].to(x.dtype)
        bias = (1.0 - m) * torch.finfo(x.dtype).min
        attention_scale = None
        if self.cfg.get("logn_attention_scale", False):
            attention_scale = attention_mask.sum(1).log() / torch.tensor(self.cfg["max_position_embeddings"]).log()
            if self.cfg.get("logn_attention_clip1", False):
                attention_scale = attention_scale.clip(min=1)
            attention_scale = attention_scale[:, None, None, None].to(x.dtype)
        hidden = [x]
        for layer in self.encoder.layer:
            x = layer(x, bias, rope, attention_scale)
            hidden.append(x)
        return {"last_hidden_state": x, "hidden_states": tuple(hidden)}


def add_full_stop(s):
    """The reference's description preprocessing: strip (Python str.strip: Unicode whitespace),
    then append '.' when the last character is alphabetic (str.isalpha, Unicode letters)."""
    s = s.strip()
    if s[-1].isalpha():
        s += "."
    return s


def task_embedding(cls_vec):
    """normalize(CLS, p=2, eps=1e-12) * sqrt(hidden), in fp32 (reference: _embed_tokens_single_batch)."""
    e = cls_vec.to(torch.float32)
    return F.normalize(e, dim=-1) * math.sqrt(e.shape[-1])
