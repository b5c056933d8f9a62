// ops_cpu.cpp — readable CPU reference ops (see ops_cpu.h).
//
// Accumulation is f32 with a fixed order, so results do not depend on the thread count. The
// hot loops (dot products) keep 16 independent partial sums, which the compiler maps onto SIMD
// registers; target_clones builds AVX-512, AVX2 and baseline versions and picks one at load.
#include "ops/ops_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "ops/threads.h"

namespace t2l::cpu {

#define T2L_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))

void load_f32(float* dst, const void* src, DType wt, int64_t offset, int64_t n) {
    switch (wt) {
        case DType::F32: std::memcpy(dst, (const float*)src + offset, (size_t)n * 4); break;
        case DType::BF16: {
            const uint16_t* s = (const uint16_t*)src + offset;
            for (int64_t i = 0; i < n; i++) {
                uint32_t u = (uint32_t)s[i] << 16;  // bf16 is the top half of an f32
                std::memcpy(&dst[i], &u, 4);
            }
            break;
        }
        case DType::F16: {
            const uint16_t* s = (const uint16_t*)src + offset;
            for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
            break;
        }
        default: fail("unsupported weight dtype ", dtype_name(wt));
    }
}

T2L_SIMD_CLONES
float dot(const float* a, const float* b, int64_t n) {
    float acc[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[k + j] * b[k + j];
    for (; k < n; k++) acc[k % 16] += a[k] * b[k];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

// Four dot products of one x row against four weight rows: x is read once for all four.
T2L_SIMD_CLONES
static void dot4(const float* x, const float* w0, const float* w1, const float* w2, const float* w3, int64_t n,
                 float out[4]) {
    float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        for (int j = 0; j < 16; j++) {
            const float xv = x[k + j];
            a0[j] += xv * w0[k + j];
            a1[j] += xv * w1[k + j];
            a2[j] += xv * w2[k + j];
            a3[j] += xv * w3[k + j];
        }
    }
    for (; k < n; k++) {
        a0[k % 16] += x[k] * w0[k];
        a1[k % 16] += x[k] * w1[k];
        a2[k % 16] += x[k] * w2[k];
        a3[k % 16] += x[k] * w3[k];
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) {
            a0[j] += a0[j + w];
            a1[j] += a1[j + w];
            a2[j] += a2[j + w];
            a3[j] += a3[j + w];
        }
    out[0] = a0[0];
    out[1] = a1[0];
    out[2] = a2[0];
    out[3] = a3[0];
}

void linear(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n, int64_t in,
            int64_t out) {
    // Threads split the output features in groups of four rows of w; each thread walks the
    // x rows in blocks so a block stays in cache while the four weight rows pass over it.
    constexpr int64_t kRowBlock = 32;
    const int64_t groups = (out + 3) / 4;
    std::vector<float> bias_f32;
    if (bias) {
        bias_f32.resize((size_t)out);
        load_f32(bias_f32.data(), bias, bt, 0, out);
    }
    parallel_for(groups, [&](int64_t g_lo, int64_t g_hi) {
        std::vector<float> wbuf(wt == DType::F32 ? 0 : (size_t)(4 * in));
        for (int64_t r0 = 0; r0 < n; r0 += kRowBlock) {
            const int64_t r1 = std::min(n, r0 + kRowBlock);
            for (int64_t g = g_lo; g < g_hi; g++) {
                const int64_t o0 = g * 4, cnt = std::min<int64_t>(4, out - o0);
                const float* rows[4];
                for (int64_t j = 0; j < 4; j++) {
                    const int64_t o = o0 + std::min(j, cnt - 1);  // pad a short group by repeating a row
                    if (wt == DType::F32) {
                        rows[j] = (const float*)w + o * in;
                    } else {
                        if (j < cnt) load_f32(&wbuf[(size_t)(j * in)], w, wt, o * in, in);
                        rows[j] = &wbuf[(size_t)(std::min(j, cnt - 1) * in)];
                    }
                }
                for (int64_t r = r0; r < r1; r++) {
                    float d[4];
                    dot4(x + r * in, rows[0], rows[1], rows[2], rows[3], in, d);
                    for (int64_t j = 0; j < cnt; j++) y[r * out + o0 + j] = d[j] + (bias ? bias_f32[(size_t)(o0 + j)] : 0.0f);
                }
            }
        }
    });
}

void layer_norm(float* y, const float* x, const void* w, DType wt, const void* b, DType bt, int64_t n, int64_t dim,
                float eps) {
    std::vector<float> wf((size_t)dim), bf((size_t)dim);
    load_f32(wf.data(), w, wt, 0, dim);
    load_f32(bf.data(), b, bt, 0, dim);
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
            const float* xi = x + i * dim;
            float* yi = y + i * dim;
            // Two passes in double: the mean first, then the variance around it (no cancellation).
            double mean = 0, var = 0;
            for (int64_t j = 0; j < dim; j++) mean += xi[j];
            mean /= (double)dim;
            for (int64_t j = 0; j < dim; j++) var += (xi[j] - mean) * (xi[j] - mean);
            var /= (double)dim;
            const float inv = (float)(1.0 / std::sqrt(var + (double)eps));
            const float m = (float)mean;
            for (int64_t j = 0; j < dim; j++) yi[j] = (xi[j] - m) * inv * wf[(size_t)j] + bf[(size_t)j];
        }
    }, 16);
}

void rms_norm(float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim, float eps, bool plus_one) {
    std::vector<float> wf((size_t)dim);
    load_f32(wf.data(), w, wt, 0, dim);
    if (plus_one)
        for (auto& v : wf) v += 1.0f;  // Gemma stores (scale - 1); HF computes x * (1 + w) in f32
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
            const float* xi = x + i * dim;
            float* yi = y + i * dim;
            double ss = 0;
            for (int64_t j = 0; j < dim; j++) ss += (double)xi[j] * xi[j];
            const float inv = (float)(1.0 / std::sqrt(ss / (double)dim + (double)eps));
            for (int64_t j = 0; j < dim; j++) yi[j] = (xi[j] * inv) * wf[(size_t)j];
        }
    }, 16);
}

void silu(float* x, int64_t n) {
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) x[i] = x[i] / (1.0f + std::exp(-x[i]));
    }, 4096);
}

void gelu_erf(float* x, int64_t n) {
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
    }, 4096);
}

void gelu_tanh(float* x, int64_t n) {
    const float c = 0.79788456080286536f;  // sqrt(2/pi)
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
            const float v = x[i];
            x[i] = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
        }
    }, 4096);
}

void add(float* y, const float* x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] += x[i]; }
void mul(float* y, const float* x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] *= x[i]; }
void add_row(float* y, const float* x, const float* row, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) y[i * dim + j] = x[i * dim + j] + row[j];
}
void scale(float* y, float s, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] *= s; }
void softcap(float* x, float cap, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = cap * std::tanh(x[i] / cap); }

void embedding(float* y, const void* table, DType tt, const int32_t* ids, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++) load_f32(y + i * dim, table, tt, (int64_t)ids[i] * dim, dim);
}

void rope(float* x, int64_t n, int n_heads, int head_dim, const float* cos, const float* sin) {
    const int half = head_dim / 2;
    for (int64_t i = 0; i < n; i++) {
        const float* c = cos + i * half;
        const float* s = sin + i * half;
        for (int h = 0; h < n_heads; h++) {
            float* v = x + (i * n_heads + h) * head_dim;
            for (int j = 0; j < half; j++) {
                const float a = v[j], b = v[j + half];
                v[j] = a * c[j] - b * s[j];
                v[j + half] = b * c[j] + a * s[j];
            }
        }
    }
}

void attention(float* out, const float* q, const float* k, const float* v, int64_t n, int64_t t,
               const AttentionParams& p) {
    const int d = p.head_dim;
    const int group = p.n_heads / p.n_kv_heads;
    const int64_t qw = (int64_t)p.n_heads * d, kw = (int64_t)p.n_kv_heads * d;
    parallel_for(n * p.n_heads, [&](int64_t lo, int64_t hi) {
        std::vector<float> scores((size_t)t);
        for (int64_t job = lo; job < hi; job++) {
            const int64_t i = job / p.n_heads;
            const int h = (int)(job % p.n_heads);
            const int kvh = h / group;
            const int64_t pos = p.q_pos0 + i;
            int64_t first = 0, last = t - 1;  // the keys this query may see
            if (p.causal) last = std::min(last, pos);
            if (p.window > 0) first = std::max<int64_t>(0, pos - p.window + 1);
            const float* qi = q + i * qw + (int64_t)h * d;
            float m = -INFINITY;
            for (int64_t j = first; j <= last; j++) {
                float s = dot(qi, k + j * kw + (int64_t)kvh * d, d) * p.scale;
                if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
                scores[(size_t)j] = s;
                m = std::max(m, s);
            }
            double sum = 0;
            for (int64_t j = first; j <= last; j++) {
                scores[(size_t)j] = std::exp(scores[(size_t)j] - m);
                sum += scores[(size_t)j];
            }
            const float inv = (float)(1.0 / sum);
            float* oi = out + i * qw + (int64_t)h * d;
            std::fill(oi, oi + d, 0.0f);
            for (int64_t j = first; j <= last; j++) {
                const float pj = scores[(size_t)j] * inv;
                const float* vj = v + j * kw + (int64_t)kvh * d;
                for (int e = 0; e < d; e++) oi[e] += pj * vj[e];
            }
        }
    });
}

// ---- the decode step's fused ops -------------------------------------------------------------

void add_rms_norm(float* x, const float* delta, float* h, const void* w, DType wt, int64_t n, int64_t dim, float eps,
                  bool plus_one, const void* delta_w, DType delta_wt) {
    if (delta && delta_w) {  // h holds rms_norm(delta) until it is overwritten below
        rms_norm(h, delta, delta_w, delta_wt, n, dim, eps, plus_one);
        add(x, h, n * dim);
    } else if (delta) {
        add(x, delta, n * dim);
    }
    rms_norm(h, x, w, wt, n, dim, eps, plus_one);
}

void act_mul(float* y, const float* gu, int64_t n, int64_t inter, int act, bool act_on_second) {
    for (int64_t i = 0; i < n; i++) {
        float* yi = y + i * inter;
        const float* first = gu + i * 2 * inter;
        const float* second = first + inter;
        std::memcpy(yi, act_on_second ? second : first, (size_t)inter * 4);
        if (act == 1) gelu_tanh(yi, inter);
        else if (act == 2) gelu_erf(yi, inter);
        else silu(yi, inter);
        mul(yi, act_on_second ? first : second, inter);
    }
}

void split_qkv_rope(float* q, float* k, float* v, const float* qkv, int64_t n, int n_heads, int head_dim, const float* cos,
                    const float* sin) {
    const int64_t w = (int64_t)n_heads * head_dim;
    for (int64_t i = 0; i < n; i++) {
        std::memcpy(q + i * w, qkv + i * 3 * w, (size_t)w * 4);
        std::memcpy(k + i * w, qkv + i * 3 * w + w, (size_t)w * 4);
        std::memcpy(v + i * w, qkv + i * 3 * w + 2 * w, (size_t)w * 4);
    }
    if (cos) {
        rope(q, n, n_heads, head_dim, cos, sin);
        rope(k, n, n_heads, head_dim, cos, sin);
    }
}

void qkv_rope_cache(float* q, float* k_cache, float* v_cache, const float* qkv, const float* cos, const float* sin,
                    int64_t pos, const void* q_norm, const void* k_norm, DType nt, int n_heads, int n_kv_heads,
                    int d, float eps, bool plus_one, const float* lora_B, const float* lora_t, int64_t r) {
    const int64_t qd = (int64_t)n_heads * d, kd = (int64_t)n_kv_heads * d;
    std::vector<float> row(qkv, qkv + qd + 2 * kd);
    if (lora_B)  // the LoRA's expand step: row += B t, each element's r products in order
        for (int64_t o = 0; o < qd + 2 * kd; o++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < r; k++) acc = std::fma(lora_B[o * r + k], lora_t[k], acc);
            row[(size_t)o] += acc;
        }
    float* k = k_cache + pos * kd;
    std::memcpy(q, row.data(), (size_t)qd * 4);
    std::memcpy(k, row.data() + qd, (size_t)kd * 4);
    std::memcpy(v_cache + pos * kd, row.data() + qd + kd, (size_t)kd * 4);
    if (q_norm) rms_norm(q, q, q_norm, nt, n_heads, d, eps, plus_one);  // per head: rows of d
    if (k_norm) rms_norm(k, k, k_norm, nt, n_kv_heads, d, eps, plus_one);
    rope(q, 1, n_heads, d, cos + pos * (d / 2), sin + pos * (d / 2));
    rope(k, 1, n_kv_heads, d, cos + pos * (d / 2), sin + pos * (d / 2));
}

void argmax(int32_t* ids, const float* x, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++) {
        const float* xi = x + i * dim;
        int64_t best = 0;
        for (int64_t j = 1; j < dim; j++)
            if (xi[j] > xi[best]) best = j;
        ids[i] = (int32_t)best;
    }
}

// width = r·in: A's values per row, in the head's order.
void lora_a_from_head(float* A, const float* head_a, const float* offset_a, int64_t rows, int64_t layers, int64_t width,
                      float div) {
    for (int64_t i = 0; i < rows; i++) {
        const int64_t l = i % layers;
        for (int64_t j = 0; j < width; j++)
            A[i * width + j] = (head_a[i * width + j] + (offset_a ? offset_a[l * width + j] : 0.0f)) / div;
    }
}

void lora_b_from_head(float* B, const float* head_b, const float* offset_b, int64_t rows, int64_t layers, int64_t r,
                      int64_t out, float div) {
    for (int64_t i = 0; i < rows; i++) {
        const int64_t l = i % layers;
        for (int64_t o = 0; o < out; o++)
            for (int64_t k = 0; k < r; k++)  // the head holds Bᵀ: rank k's row of out values
                B[(i * out + o) * r + k] =
                    (head_b[(i * r + k) * out + o] + (offset_b ? offset_b[(l * out + o) * r + k] : 0.0f)) / div;
    }
}

}  // namespace t2l::cpu
