// decode.cu — the fused kernels of the one-token decode step (Decoder::step), and CUDA graphs.
//
// A decode step at Llama-8B shapes reads 16 GB of weights in ~3.5 ms; everything that is not a
// weight read is overhead: kernel launches, their ramp-up and drain, host round trips. So the
// step fuses what the layer does between its matrix products, and keeps the token id and its
// position in device memory so the whole step can be recorded once as a CUDA graph and
// replayed with one launch. CPU twins (src/ops/ops_cpu.cpp), same formulas:
//   add_rms_norm    x += delta; h = x / sqrt(mean(x²) + eps) · (plus_one ? 1 + w : w); with a delta
//                   weight dw, delta is normed first (x += rms_norm(delta) · dw: Gemma's sandwich norm
//                   on a sublayer's output and the next pre-norm in one launch)
//   act_mul         y = act(gu[:, :I]) · gu[:, I:]          (act: SiLU, tanh- or erf-GELU; or
//                   gu[:, :I] · act(gu[:, I:]), gte's up|gate order)
//   split_qkv_rope  a q|k|v projection (n, 3·h·d) -> q, k, v with RoPE on q and k (the encoder)
//   qkv_rope_cache  split a q|k|v row; optional per-head RMSNorm of q and k (Gemma 3); RoPE at
//                   position pos on q and k; q out, k and v into row pos of the caches
//   embedding_at    y = table[ids] with the ids in device memory
//   argmax          ids[i] = the first index of the largest value of row i
//   lora_a_from_head, lora_b_from_head  T2L's L-head halves -> A (r, in) and B = (Bᵀ)ᵀ (out, r)
//                   per row, offsets added
//   cast_f32        f32 -> bf16/f16, round to nearest even (keys and values into a narrow cache)
// Every kernel here is launched with programmatic dependent launch (ops_common.cuh): it starts
// while the kernel before it drains and waits at pdl_wait() before touching activations.
// Versions that earned their place: (1) the ops above, one launch each; (2) add_rms_norm takes
// the sublayer output's own norm weight (Gemma's sandwich norm), so the step's separate rms_norm
// launches after o and down (2 per layer) disappear: Gemma-2-2b decode 466.4 - 468.1 -> 538.9 -
// 539.7 tok/s on one machine (+15%): the standalone rms_norm (norm.cu) is a plain launch of the
// loop form, ~5 µs each, and it broke the chain of early launches.
//   Tried and dropped: the norm weight, the RoPE position and table row requested before
//   pdl_wait() (they are not activations): Llama-8B decode 229.0 -> 229.7 tok/s, Gemma-2-2b
//   459.4 -> 458.1, within the noise of one machine.
#include <cuda_bf16.h>

#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kThreads = 256;

// The factor that norms a row: 1 / sqrt(mean(v²) + eps), from this thread's share s of Σv².
__device__ __forceinline__ float rms_factor(double s, double* red, int64_t dim, float eps) {
    return (float)(1.0 / sqrt(block_sum(s, red) / (double)dim + (double)eps));
}
__device__ __forceinline__ float norm_weight(const void* w, DType wt, int64_t j, bool plus_one) {
    return plus_one ? 1.0f + load_any(w, wt, j) : load_any(w, wt, j);
}
__device__ __forceinline__ double sum_sq(float4 v) {
    return (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
}
// (v · inv) · w for the four values at elements 4c .. 4c + 3, as rms_norm rounds them.
__device__ __forceinline__ float4 normed4(float4 v, float inv, const void* w, DType wt, int64_t c, bool plus_one) {
    float g[4];
#pragma unroll
    for (int e = 0; e < 4; e++) g[e] = norm_weight(w, wt, 4 * c + e, plus_one);
    return make_float4((v.x * inv) * g[0], (v.y * inv) * g[1], (v.z * inv) * g[2], (v.w * inv) * g[3]);
}

// One block per row. The row of x is updated first (each thread its own elements), then summed.
// The general form: any width and alignment.
__global__ void __launch_bounds__(kThreads) add_rms_norm_kernel(float* x, const float* delta, float* h, const void* w,
                                                                const void* dw, DType wt, DType dwt, int64_t dim,
                                                                float eps, bool plus_one) {
    pdl_trigger();
    pdl_wait();
    __shared__ double red[32];
    float* xi = x + blockIdx.x * dim;
    float* hi = h + blockIdx.x * dim;
    const float* di = delta ? delta + blockIdx.x * dim : nullptr;
    float inv_d = 1.0f;
    if (di && dw) {
        double sd = 0.0;
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) sd += (double)di[j] * di[j];
        inv_d = rms_factor(sd, red, dim, eps);
    }
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float v = di ? xi[j] + (dw ? (di[j] * inv_d) * norm_weight(dw, dwt, j, plus_one) : di[j]) : xi[j];
        xi[j] = v;
        s += (double)v * v;
    }
    const float inv = rms_factor(s, red, dim, eps);
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) hi[j] = (xi[j] * inv) * norm_weight(w, wt, j, plus_one);
}

// The decode step's form: rows of a multiple of 4 floats, 16-byte aligned, at most 4 float4 per
// thread of up to 1024. Every load of x and delta is issued before the first use and the row stays
// in registers between the sum and the scaling: one memory round trip per phase, where the loop
// above makes dim / 256 dependent ones (16 µs for one 4096-wide row, 2 µs here).
template <int V>
__global__ void __launch_bounds__(1024) add_rms_norm_vec_kernel(float* x, const float* delta, float* h, const void* w,
                                                               const void* dw, DType wt, DType dwt, int64_t dim,
                                                               float eps, bool plus_one) {
    pdl_trigger();
    pdl_wait();
    __shared__ double red[32];
    const int64_t n4 = dim / 4;
    float4* xi = reinterpret_cast<float4*>(x + blockIdx.x * dim);
    float4* hi = reinterpret_cast<float4*>(h + blockIdx.x * dim);
    const float4* di = delta ? reinterpret_cast<const float4*>(delta + blockIdx.x * dim) : nullptr;
    float4 v[V], d[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        v[j] = c < n4 ? xi[c] : make_float4(0, 0, 0, 0);
        d[j] = di && c < n4 ? di[c] : make_float4(0, 0, 0, 0);
    }
    if (di && dw) {  // delta normed first, as rms_norm would (its own sum, then (d · inv) · dw)
        double sd = 0.0;
#pragma unroll
        for (int j = 0; j < V; j++) sd += sum_sq(d[j]);
        const float inv_d = rms_factor(sd, red, dim, eps);
#pragma unroll
        for (int j = 0; j < V; j++) {
            const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
            if (c < n4) d[j] = normed4(d[j], inv_d, dw, dwt, c, plus_one);
        }
    }
    double s = 0.0;
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        v[j] = make_float4(v[j].x + d[j].x, v[j].y + d[j].y, v[j].z + d[j].z, v[j].w + d[j].w);
        if (c < n4) {
            if (di) xi[c] = v[j];
            s += sum_sq(v[j]);
        }
    }
    const float inv = rms_factor(s, red, dim, eps);
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        if (c < n4) hi[c] = normed4(v[j], inv, w, wt, c, plus_one);
    }
}

__global__ void act_mul_kernel(float* y, const float* gu, int64_t n, int64_t inter, int act, bool act_on_second) {
    pdl_trigger();
    pdl_wait();
    const int64_t total = n * inter;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e / inter, j = e % inter;
        const float* row = gu + i * 2 * inter;
        y[e] = act_on_second ? row[j] * act_fn(row[inter + j], act) : act_fn(row[j], act) * row[inter + j];
    }
}

// One block per head of q, k or v (n_heads + 2 n_kv_heads blocks). The head's d values (plus the
// LoRA's B t when given) are staged in shared memory, then normed, rotated and stored.
constexpr int kMaxHeadDim = 512;
template <typename KV>
__global__ void __launch_bounds__(128) qkv_rope_cache_kernel(float* q_out, KV* k_cache, KV* v_cache, const float* qkv,
                                                             const float* cos, const float* sin, const int32_t* pos_p,
                                                             const void* q_norm, const void* k_norm, DType nt,
                                                             int n_heads, int n_kv_heads, int d, float eps,
                                                             bool plus_one, const float* lora_B, const float* lora_t,
                                                             int64_t r) {
    pdl_trigger();
    pdl_wait();
    __shared__ double red[32];
    __shared__ float vals[kMaxHeadDim];
    const int head = blockIdx.x, half = d / 2;
    const int64_t pos = *pos_p;
    const int64_t kw = (int64_t)n_kv_heads * d;
    const bool is_q = head < n_heads, is_v = head >= n_heads + n_kv_heads;
    const int64_t base = (int64_t)head * d;  // q heads, then k heads, then v heads
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float v = qkv[base + j];
        if (lora_B) {  // the unmerged LoRA's expand step, in the CPU's order
            const float* b = lora_B + (base + j) * r;
            float acc = 0.0f;
            for (int64_t k = 0; k < r; k++) acc = fmaf(b[k], lora_t[k], acc);
            v += acc;
        }
        vals[j] = v;
    }
    __syncthreads();
    if (is_v) {
        KV* dst = v_cache + pos * kw + (int64_t)(head - n_heads - n_kv_heads) * d;
        for (int j = threadIdx.x; j < d; j += blockDim.x) dst[j] = KV(vals[j]);
        return;
    }
    // Gemma 3: RMSNorm over the head, (1 + w), before the rotation.
    const void* nw = is_q ? q_norm : k_norm;
    float inv = 1.0f;
    if (nw) {
        double s = 0.0;
        for (int j = threadIdx.x; j < d; j += blockDim.x) s += (double)vals[j] * vals[j];
        inv = (float)(1.0 / sqrt(block_sum(s, red) / (double)d + (double)eps));
    }
    const float* c = cos + pos * half;
    const float* sn = sin + pos * half;
    for (int j = threadIdx.x; j < half; j += blockDim.x) {
        float a = vals[j], b = vals[j + half];
        if (nw) {
            const float wa = load_any(nw, nt, j), wb = load_any(nw, nt, j + half);
            a = (a * inv) * (plus_one ? 1.0f + wa : wa);
            b = (b * inv) * (plus_one ? 1.0f + wb : wb);
        }
        const float ra = a * c[j] - b * sn[j], rb = b * c[j] + a * sn[j];
        if (is_q) {
            q_out[base + j] = ra;
            q_out[base + j + half] = rb;
        } else {
            KV* dst = k_cache + pos * kw + (int64_t)(head - n_heads) * d;
            dst[j] = KV(ra);
            dst[j + half] = KV(rb);
        }
    }
}

// One thread per pair (j, j + d/2) of one head of q, k or v in one row: v pairs are copied, q and
// k pairs rotated (when cos is given).
__global__ void split_qkv_rope_kernel(float* q, float* k, float* v, const float* qkv, int64_t pairs, int n_heads, int half,
                                      const float* cos, const float* sin) {
    pdl_trigger();
    pdl_wait();
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pairs; p += (int64_t)gridDim.x * blockDim.x) {
        const int j = (int)(p % half);
        const int64_t rest = p / half;            // (i * 3 + part) * n_heads + h
        const int h = (int)(rest % n_heads);
        const int64_t ip = rest / n_heads, i = ip / 3;
        const int part = (int)(ip % 3);           // 0 q, 1 k, 2 v
        const int64_t w = (int64_t)n_heads * 2 * half;
        const float* src = qkv + i * 3 * w + part * w + (int64_t)h * 2 * half;
        float* dst = (part == 0 ? q : part == 1 ? k : v) + i * w + (int64_t)h * 2 * half;
        float a = src[j], b = src[j + half];
        if (part < 2 && cos) {
            const float c = cos[i * half + j], s = sin[i * half + j];
            const float ra = a * c - b * s, rb = b * c + a * s;
            a = ra;
            b = rb;
        }
        dst[j] = a;
        dst[j + half] = b;
    }
}

__global__ void embedding_at_kernel(float* y, const void* table, DType tt, const int32_t* ids, int64_t dim, float mult) {
    pdl_trigger();
    pdl_wait();
    const int64_t row = ids[blockIdx.x];
    float* yi = y + (int64_t)blockIdx.x * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yi[j] = load_any(table, tt, row * dim + j) * mult;
}

// One block per row; ties go to the lowest index, as the CPU's first-maximum scan. Rows of a
// multiple of 4 floats on a 16-byte boundary are read as float4, four in flight per thread
// (a 128k-entry vocabulary: 59 µs with one scalar load per step, a few µs this way).
__device__ __forceinline__ void argmax_take(float v, int64_t j, float& bv, int64_t& bi) {
    if (v > bv) {  // strictly greater, in increasing j: each thread keeps its first maximum
        bv = v;
        bi = j;
    }
}

__global__ void __launch_bounds__(1024) argmax_kernel(int32_t* ids, const float* x, int64_t dim, bool vec) {
    pdl_trigger();
    pdl_wait();
    __shared__ float best_v[32];
    __shared__ int64_t best_i[32];
    const float* xi = x + blockIdx.x * dim;
    float bv = -INFINITY;
    int64_t bi = dim;  // beyond every index: loses every tie
    if (vec) {
        constexpr int U = 4;
        const float4* x4 = reinterpret_cast<const float4*>(xi);
        const int64_t n4 = dim / 4;
        for (int64_t c0 = threadIdx.x; c0 < n4; c0 += (int64_t)U * blockDim.x) {
            float4 f[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int64_t c = c0 + (int64_t)u * blockDim.x;
                f[u] = c < n4 ? x4[c] : make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int64_t j = 4 * (c0 + (int64_t)u * blockDim.x);
                argmax_take(f[u].x, j, bv, bi);
                argmax_take(f[u].y, j + 1, bv, bi);
                argmax_take(f[u].z, j + 2, bv, bi);
                argmax_take(f[u].w, j + 3, bv, bi);
            }
        }
    } else {
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) argmax_take(xi[j], j, bv, bi);
    }
    for (int o = 16; o >= 1; o /= 2) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) {
            bv = ov;
            bi = oi;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        best_v[warp] = bv;
        best_i[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++)
            if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
                bv = best_v[w];
                bi = best_i[w];
            }
        ids[blockIdx.x] = (int32_t)(bi == dim ? 0 : bi);
    }
}

template <typename T>
__global__ void cast_kernel(T* dst, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = T(src[i]);
}

// One thread per output element of A (rows·r·in) then of B (rows·out·r).
__global__ void lora_a_kernel(float* A, const float* head, const float* oa, int64_t rows, int64_t layers, int64_t width,
                              float div) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < rows * width; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t l = (e / width) % layers;
        A[e] = (head[e] + (oa ? oa[l * width + e % width] : 0.0f)) / div;
    }
}

// One thread per element of B (rows, out, r), read from Bᵀ (rows, r, out).
__global__ void lora_b_kernel(float* B, const float* head, const float* ob, int64_t rows, int64_t layers, int64_t r,
                              int64_t out, float div) {
    for (int64_t f = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; f < rows * out * r; f += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = f / (out * r), o = f % (out * r) / r, k = f % r, l = i % layers;
        B[f] = (head[(i * r + k) * out + o] + (ob ? ob[(l * out + o) * r + k] : 0.0f)) / div;
    }
}

}  // namespace

void lora_a_from_head(float* A, const float* head_a, const float* offset_a, int64_t rows, int64_t layers, int64_t width,
                      float div) {
    if (rows <= 0 || layers <= 0 || width <= 0) fail("lora_a_from_head (cuda): bad sizes");
    if (!A || !head_a) fail("lora_a_from_head (cuda): null device pointer");
    lora_a_kernel<<<grid_for(rows * width, kThreads), kThreads>>>(A, head_a, offset_a, rows, layers, width, div);
    check_launch("lora_a_from_head (cuda)");
}

void lora_b_from_head(float* B, const float* head_b, const float* offset_b, int64_t rows, int64_t layers, int64_t r,
                      int64_t out, float div) {
    if (rows <= 0 || layers <= 0 || r <= 0 || out <= 0) fail("lora_b_from_head (cuda): bad sizes");
    if (!B || !head_b) fail("lora_b_from_head (cuda): null device pointer");
    lora_b_kernel<<<grid_for(rows * out * r, kThreads), kThreads>>>(B, head_b, offset_b, rows, layers, r, out, div);
    check_launch("lora_b_from_head (cuda)");
}

void cast_f32(void* dst, DType dt, const float* src, int64_t n) {
    if (n <= 0) return;
    if (!dst || !src) fail("cast (cuda): null device pointer");
    if (dt == DType::BF16) cast_kernel<__nv_bfloat16><<<grid_for(n, kThreads), kThreads>>>(static_cast<__nv_bfloat16*>(dst), src, n);
    else if (dt == DType::F16) cast_kernel<__half><<<grid_for(n, kThreads), kThreads>>>(static_cast<__half*>(dst), src, n);
    else fail("cast (cuda): cannot narrow f32 to ", dtype_name(dt));
    check_launch("cast (cuda)");
}

void add_rms_norm(float* x, const float* delta, float* h, const void* w, DType wt, int64_t n, int64_t dim, float eps,
                  bool plus_one, const void* delta_w, DType delta_wt) {
    if (n < 0 || dim <= 0 || n > INT32_MAX) fail("add_rms_norm (cuda): bad sizes n=", n, " dim=", dim);
    if (n == 0) return;
    if (!x || !h || !w) fail("add_rms_norm (cuda): null device pointer");
    RowInRegisters rr;
    if (dim % 4 == 0 && aligned16(x) && aligned16(h) && (!delta || aligned16(delta)) && row_in_registers(dim / 4, &rr)) {
        const int V = rr.per_thread;
        auto kernel = V == 1 ? add_rms_norm_vec_kernel<1> : V == 2 ? add_rms_norm_vec_kernel<2> : add_rms_norm_vec_kernel<4>;
        launch_pdl(kernel, dim3((unsigned)n), dim3(rr.threads), 0, x, delta, h, w, delta_w, wt, delta_wt, dim, eps,
                   plus_one);
    } else {
        launch_pdl(add_rms_norm_kernel, dim3((unsigned)n), dim3(kThreads), 0, x, delta, h, w, delta_w, wt, delta_wt,
                   dim, eps, plus_one);
    }
    check_launch("add_rms_norm (cuda)");
}

void act_mul(float* y, const float* gu, int64_t n, int64_t inter, int act, bool act_on_second) {
    if (n < 0 || inter <= 0) fail("act_mul (cuda): bad sizes n=", n, " inter=", inter);
    if (n == 0) return;
    if (!y || !gu) fail("act_mul (cuda): null device pointer");
    launch_pdl(act_mul_kernel, dim3(grid_for(n * inter, kThreads)), dim3(kThreads), 0, y, gu, n, inter, act, act_on_second);
    check_launch("act_mul (cuda)");
}

void qkv_rope_cache(float* q, void* k_cache, void* v_cache, DType kv_dtype, const float* qkv, const float* cos,
                    const float* sin, const int32_t* pos, const void* q_norm, const void* k_norm, DType norm_dtype,
                    int n_heads, int n_kv_heads, int head_dim, float eps, bool plus_one, const float* lora_B,
                    const float* lora_t, int64_t r) {
    if (n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || head_dim % 2 || head_dim > kMaxHeadDim)
        fail("qkv_rope_cache (cuda): bad head sizes (head_dim ", head_dim, ", at most ", kMaxHeadDim, ")");
    if (!lora_B != !lora_t || (lora_B && r <= 0)) fail("qkv_rope_cache (cuda): bad LoRA arguments");
    if (!q || !k_cache || !v_cache || !qkv || !cos || !sin || !pos) fail("qkv_rope_cache (cuda): null device pointer");
    const unsigned blocks = (unsigned)(n_heads + 2 * n_kv_heads);
    if (kv_dtype == DType::BF16)
        launch_pdl(qkv_rope_cache_kernel<__nv_bfloat16>, dim3(blocks), dim3(128), 0, q, static_cast<__nv_bfloat16*>(k_cache),
                   static_cast<__nv_bfloat16*>(v_cache), qkv, cos, sin, pos, q_norm, k_norm, norm_dtype, n_heads, n_kv_heads,
                   head_dim, eps, plus_one, lora_B, lora_t, r);
    else if (kv_dtype == DType::F32)
        launch_pdl(qkv_rope_cache_kernel<float>, dim3(blocks), dim3(128), 0, q, static_cast<float*>(k_cache),
                   static_cast<float*>(v_cache), qkv, cos, sin, pos, q_norm, k_norm, norm_dtype, n_heads, n_kv_heads, head_dim,
                   eps, plus_one, lora_B, lora_t, r);
    else
        fail("qkv_rope_cache (cuda): the cache must be f32 or bf16, got ", dtype_name(kv_dtype));
    check_launch("qkv_rope_cache (cuda)");
}

void split_qkv_rope(float* q, float* k, float* v, const float* qkv, int64_t n, int n_heads, int head_dim, const float* cos,
                    const float* sin) {
    if (n < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2) fail("split_qkv_rope (cuda): bad sizes");
    if (n == 0) return;
    if (!q || !k || !v || !qkv) fail("split_qkv_rope (cuda): null device pointer");
    const int64_t pairs = n * 3 * n_heads * (head_dim / 2);
    launch_pdl(split_qkv_rope_kernel, dim3(grid_for(pairs, kThreads)), dim3(kThreads), 0, q, k, v, qkv, pairs, n_heads,
               head_dim / 2, cos, sin);
    check_launch("split_qkv_rope (cuda)");
}

void embedding_at(float* y, const void* table, DType tt, const int32_t* ids, int64_t n, int64_t dim, float mult) {
    if (n < 0 || dim <= 0 || n > INT32_MAX) fail("embedding (cuda): bad sizes n=", n, " dim=", dim);
    if (n == 0) return;
    if (!y || !table || !ids) fail("embedding (cuda): null device pointer");
    launch_pdl(embedding_at_kernel, dim3((unsigned)n), dim3(kThreads), 0, y, table, tt, ids, dim, mult);
    check_launch("embedding (cuda)");
}

void argmax(int32_t* ids, const float* x, int64_t n, int64_t dim) {
    if (n < 0 || dim <= 0 || n > INT32_MAX) fail("argmax (cuda): bad sizes n=", n, " dim=", dim);
    if (n == 0) return;
    if (!ids || !x) fail("argmax (cuda): null device pointer");
    const bool vec = dim % 4 == 0 && aligned16(x);
    launch_pdl(argmax_kernel, dim3((unsigned)n), dim3(1024), 0, ids, x, dim, vec);
    check_launch("argmax (cuda)");
}

// ---- CUDA graphs ------------------------------------------------------------------------------
// The kernels run on the per-thread default stream (nvcc --default-stream per-thread), which can
// be captured; legacy-stream copies elsewhere still wait for it (it is a blocking stream).

void graph_begin() {
    CUDA_CHECK(cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeThreadLocal));
}

std::shared_ptr<void> graph_end() {
    cudaGraph_t g = nullptr;
    CUDA_CHECK(cudaStreamEndCapture(cudaStreamPerThread, &g));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (err != cudaSuccess) fail("CUDA graph: cannot instantiate: ", cudaGetErrorString(err));
    return std::shared_ptr<void>(exec, [](void* e) { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(e)); });
}

void graph_abort() {
    cudaGraph_t g = nullptr;
    cudaStreamCaptureStatus st;
    if (cudaStreamIsCapturing(cudaStreamPerThread, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
        cudaStreamEndCapture(cudaStreamPerThread, &g);
        if (g) cudaGraphDestroy(g);
    }
    cudaGetLastError();
}

void graph_launch(const std::shared_ptr<void>& exec) {
    CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec.get()), cudaStreamPerThread));
}

void copy_to_device_async(void* dst, const void* src_host, size_t nbytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src_host, nbytes, cudaMemcpyHostToDevice, cudaStreamPerThread));
}

}  // namespace t2l::cuda
