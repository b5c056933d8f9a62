// ops.h — every computation the models perform, on runtime Tensors.
//
// Each op checks shapes and dtypes, then runs on the tensors' device: the CPU reference in
// src/ops/ops_cpu.cpp (readable, multi-threaded, fp32 accumulation) or, for CUDA tensors, the
// kernel in kernels/ that must match it (each has a [cuda] test against the CPU twin).
//
// Legend for shape comments: n = rows (tokens or batch), in/out = features, h = heads,
// hk = key/value heads, d = head dim, t = key positions.
// Activations are f32; weights (w) may be f32, bf16 or f16 and are converted on the fly.
#pragma once

#include <cstdint>

#include "ops/runtime_tensor.h"

namespace t2l {

// y (n, out) = x (n, in) · wᵀ, w (out, in), plus bias (out) when given. y must not alias x.
void linear(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias = nullptr);
// y += x · wᵀ (LoRA's expand step adds into the projection's output).
void linear_add(Tensor& y, const Tensor& x, const Tensor& w);

// Row-wise normalisations over the last dimension; y may be x. With a residual, layer_norm
// normalises x + residual (a post-norm block's add in the same pass; y may be the residual).
void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                const Tensor* residual = nullptr);
// RMSNorm: y = x / sqrt(mean(x²) + eps) * (plus_one ? 1 + w : w). Gemma stores w - 1, hence plus_one.
void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps, bool plus_one);

// Element-wise, in place.
void silu_(Tensor& x);
void gelu_erf_(Tensor& x);   // exact GELU: x/2 (1 + erf(x/√2))
void gelu_tanh_(Tensor& x);  // tanh approximation, as Gemma's gelu_pytorch_tanh
void add_(Tensor& y, const Tensor& x);        // y += x (same shape)
void mul_(Tensor& y, const Tensor& x);        // y *= x (same shape)
void scale_(Tensor& y, float s);              // y *= s
void softcap_(Tensor& x, float cap);          // x = cap · tanh(x / cap)
// y[i, :] = x[i, :] + row for every row i: row is one row of x's width (broadcast down the rows).
void add_row(Tensor& y, const Tensor& x, const Tensor& row);

// dst rows [row0, row0 + n) = src (n, width): writing new keys/values into a KV cache.
// Same width, one device; an f32 src may go into a bf16 dst (rounded to nearest even).
void copy_rows(Tensor& dst, int64_t row0, const Tensor& src);

// y (n, dim) = table[ids[i]] for ids (n); table (vocab, dim) in any float dtype.
void embedding(Tensor& y, const Tensor& table, const int32_t* ids, int64_t n);

// Rotary embedding in the rotate-half form on x (n, h·d): for each head, with c = cos[i],
// s = sin[i] (n, d/2): x1' = x1·c - x2·s, x2' = x2·c + x1·s where x1, x2 are the two halves.
void rope_(Tensor& x, int n_heads, int head_dim, const Tensor& cos, const Tensor& sin);

struct AttentionParams {
    int n_heads = 1, n_kv_heads = 1, head_dim = 1;
    float scale = 1.0f;        // applied to q·k
    bool causal = false;       // query i (at position q_pos0 + i) sees keys 0..q_pos0 + i
    int64_t q_pos0 = 0;        // position of the first query among the keys (KV cache length before)
    int64_t window = 0;        // > 0: a query at p sees keys p - window + 1 .. p (HF sliding window)
    float softcap = 0.0f;      // > 0: scores = softcap · tanh(scores / softcap) before softmax
};
// out (n, h·d) = softmax(q kᵀ · scale [capped, masked]) v, with q (n, h·d), k and v (t, hk·d);
// query head j reads key/value head j / (h / hk) (grouped-query attention).
void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p);

// ---- the one-token decode step (Decoder::step) ---------------------------------------------
// Fused ops whose token ids and positions live in int32 tensors on the tensors' device, so a
// recorded CUDA graph replays the step with nothing sent from the host.

// y = x wᵀ and y2 = x w2ᵀ for one row x (f32 w2): on CUDA one launch for both (an unmerged LoRA's
// A beside the projection it adapts); elsewhere, or for unaligned rows, two linear() calls.
void linear_pair(Tensor& y, const Tensor& x, const Tensor& w, Tensor& y2, const Tensor& w2);

// x += delta (when given), then h = rms_norm(x): the residual add and the next norm in one pass.
// With delta_weight, delta is normed first (x += rms_norm(delta) · delta_weight; delta unchanged):
// Gemma's norm on a sublayer's output folded into the same pass.
void add_rms_norm(Tensor& x, const Tensor* delta, Tensor& h, const Tensor& weight, float eps, bool plus_one,
                  const Tensor* delta_weight = nullptr);

enum class Activation { SiLU, GeluTanh, GeluErf };
// y (n, I) = act(gu[:, :I]) · gu[:, I:] for the fused gate|up output gu (n, 2I); with
// act_on_second, y = gu[:, :I] · act(gu[:, I:]) (gte's up|gate order).
void act_mul(Tensor& y, const Tensor& gu, Activation act, bool act_on_second = false);

// y (n, I) = act(x · w[:I]ᵀ) · (x · w[I:]ᵀ) for a stacked gate|up weight w (2I, in): the gated MLP's
// first half; with act_on_second, (x · w[:I]ᵀ) · act(x · w[I:]ᵀ) (gte's up|gate order). On CUDA one
// launch, the activation applied where the sums end: one row (any float w) or 2..64 rows (f32 w).
// Otherwise linear into gu (n, 2I) (allocated when null: pass it where a graph is being recorded),
// then act_mul.
void linear_glu(Tensor& y, const Tensor& x, const Tensor& w, Activation act, bool act_on_second = false,
                Tensor* gu = nullptr);

// y = act(x · wᵀ + bias): on CUDA one launch for f32 w and 2..64 rows, else linear then act in place.
void linear_act(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, Activation act);

// A fused q|k|v projection (n, 3·h·d) -> q, k, v (n, h·d), with RoPE (the rope_ rule, row i of
// cos/sin) applied to q and k when cos and sin are given: one pass instead of three copies and
// two rotations.
void split_qkv_rope(Tensor& q, Tensor& k, Tensor& v, const Tensor& qkv, int n_heads, int head_dim, const Tensor* cos,
                    const Tensor* sin);

// One token's fused projection row qkv (1, h·d + 2·hk·d) -> q (1, h·d) and the caches' row *pos:
// q and k get the per-head RMSNorm (when q_norm/k_norm are given, Gemma 3) and RoPE with row
// *pos of cos/sin (capacity, d/2); v is copied. Caches (capacity, hk·d), f32 or bf16.
// lora_B (h·d + 2·hk·d, r) and lora_t (r), when given, add an unmerged LoRA's expand step first:
// qkv += lora_B · lora_t (one launch fewer per layer than a separate linear_add).
void qkv_rope_cache(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv, const Tensor& cos,
                    const Tensor& sin, const Tensor& pos, const Tensor* q_norm, const Tensor* k_norm, int n_heads,
                    int n_kv_heads, int head_dim, float eps, bool plus_one, const Tensor* lora_B = nullptr,
                    const Tensor* lora_t = nullptr);

// One query q (1, h·d) at position *pos over the cache rows 0..*pos (p.causal and p.q_pos0 are
// implied); the caches' row count bounds the position. scratch: f32, attention_at_scratch()
// elements on the caches' device (none on the CPU), zero-filled once and kept by the caller across
// graph replays.
void attention_at(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& pos,
                  const AttentionParams& p, Tensor& scratch);
int64_t attention_at_scratch(const Tensor& k_cache, const AttentionParams& p);

// y (n, dim) = table[ids] · mult with ids an int32 tensor (n) on y's device.
void embedding_at(Tensor& y, const Tensor& table, const Tensor& ids, float mult = 1.0f);

// ids (n) int32 = the index of the first maximum of each row of x (n, dim).
void argmax(Tensor& ids, const Tensor& x);

// ---- T2L's heads -> LoRA factors ----------------------------------------------------------------

// The L hypernetwork's head output, rows i = b·layers + l, holds A (r, in) then Bᵀ (r, out); its two
// halves are taken apart separately (so A can travel while B is computed):
//   lora_a_from_head: head_a (rows, r·in)  -> A_all (rows, r, in)  = (A + offset_a[l]) / div
//   lora_b_from_head: head_b (rows, r·out) -> B_all (rows, out, r) = ((Bᵀ)ᵀ + offset_b[l]) / div
// Offsets (layers, r, in) and (layers, out, r) may be null; div = 1 for none.
void lora_a_from_head(Tensor& A_all, const Tensor& head_a, const Tensor* offset_a, int64_t layers, float div);
void lora_b_from_head(Tensor& B_all, const Tensor& head_b, const Tensor* offset_b, int64_t layers, float div);

}  // namespace t2l
