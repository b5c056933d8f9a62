// ops_cpu.h — the CPU reference implementations behind ops.h, on raw pointers.
// These are the "CPU twins" the CUDA kernels are tested against. Row-major, f32 activations;
// weights in f32/bf16/f16 given as (pointer, dtype).
#pragma once

#include <cstdint>

#include "dtype.h"
#include "ops/ops.h"

namespace t2l::cpu {

void linear(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n, int64_t in,
            int64_t out);
void layer_norm(float* y, const float* x, const void* w, DType wt, const void* b, DType bt, int64_t n, int64_t dim,
                float eps);
void rms_norm(float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim, float eps, bool plus_one);
void silu(float* x, int64_t n);
void gelu_erf(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);
void add(float* y, const float* x, int64_t n);
void mul(float* y, const float* x, int64_t n);
void add_row(float* y, const float* x, const float* row, int64_t n, int64_t dim);
void scale(float* y, float s, int64_t n);
void softcap(float* x, float cap, int64_t n);
void embedding(float* y, const void* table, DType tt, const int32_t* ids, int64_t n, int64_t dim);
void rope(float* x, int64_t n, int n_heads, int head_dim, const float* cos, const float* sin);
void attention(float* out, const float* q, const float* k, const float* v, int64_t n, int64_t t,
               const AttentionParams& p);

void add_rms_norm(float* x, const float* delta, float* h, const void* w, DType wt, int64_t n, int64_t dim, float eps,
                  bool plus_one, const void* delta_w = nullptr, DType delta_wt = DType::F32);
// act: 0 SiLU, 1 GeluTanh, 2 GeluErf (ops.h Activation); act_on_second: y = gu[:, :I] · act(gu[:, I:]).
void act_mul(float* y, const float* gu, int64_t n, int64_t inter, int act, bool act_on_second);
void split_qkv_rope(float* q, float* k, float* v, const float* qkv, int64_t n, int n_heads, int head_dim, const float* cos,
                    const float* sin);
void qkv_rope_cache(float* q, float* k_cache, float* v_cache, const float* qkv, const float* cos, const float* sin,
                    int64_t pos, const void* q_norm, const void* k_norm, DType norm_dtype, int n_heads, int n_kv_heads,
                    int head_dim, float eps, bool plus_one, const float* lora_B, const float* lora_t, int64_t r);
void argmax(int32_t* ids, const float* x, int64_t n, int64_t dim);
void lora_a_from_head(float* A, const float* head_a, const float* offset_a, int64_t rows, int64_t layers, int64_t width,
                      float div);
void lora_b_from_head(float* B, const float* head_b, const float* offset_b, int64_t rows, int64_t layers, int64_t r,
                      int64_t out, float div);

// Dot product with a fixed summation order (16 interleaved partial sums, then a pairwise
// tree), shared by linear and attention so both round the same way on every machine.
float dot(const float* a, const float* b, int64_t n);

// Convert n weights of type wt starting at element `offset` into f32.
void load_f32(float* dst, const void* src, DType wt, int64_t offset, int64_t n);

}  // namespace t2l::cpu
