// attention.cu — scaled dot-product attention with causal/sliding-window masks, score soft-capping
// and grouped-query heads, for prefill (many queries) and decode (one query, long KV cache).
//
// CPU twin: cpu::attention in src/ops/ops_cpu.cpp. For query row i (at position pos = q_pos0 + i)
// and head h reading key/value head h / (h_q / h_kv):
//   visible keys j: first <= j <= last, first = window > 0 ? pos - window + 1 : 0,
//                   last = causal ? min(pos, t - 1) : t - 1
//   s_j = (q · k_j) · scale;  s_j = softcap · tanh(s_j / softcap) when softcap > 0
//   out = Σ_j softmax(s)_j v_j;  a query that sees no key gets zeros.
// Shapes: q, out (n, h·d) f32; k, v (t, hk·d) f32 or bf16 (widened to f32 on load, so bf16 KV
// changes only the bytes read). All arithmetic is f32 with an online softmax (running max m and
// sum l, rescaled when the max grows): the same function as the CPU's two-pass softmax, rounded
// differently (~1e-6 relative).
//
// Kernels (AttentionPath picks; Auto: decode for n <= 32; for 64+ queries, when products may round
// to bf16 (T2L_GEMM is not split), flash, else gemm; otherwise prefill):
//   flash    flash_attention.cu: bf16 tensor cores, scores kept on chip (its own header).
//   gemm     cuBLAS QKᵀ and PV around an f32 softmax kernel (below), for head sizes flash lacks.
//   prefill  attn_prefill_kernel<D, BK, KV>: one block of 256 threads per (64-query tile, head).
//            Q tile in shared memory; K then V tiles (BK keys) stream through one shared buffer;
//            a 16x16 thread grid holds a 4 x (BK/16) block of scores and a 4 x D/16 block of the
//            output in registers; probabilities go through shared memory for P·V. Rows are padded
//            by 4 floats so the 16-byte shared loads are conflict-free. Key tiles outside the
//            causal/window range of the whole query tile are skipped; tiles are issued longest-
//            first (the last query tiles see the most keys under a causal mask). d = 64/128/256.
//   decode   attn_decode_kernel<D, KV> + attn_combine_kernel (split-K, "flash decoding"): the
//            visible keys are cut into chunks, one block of 4 warps per (chunk, query head, query
//            row), so the KV cache streams through all SMs (the heads of a group share it in L2); each lane
//            owns D/32 dims, a warp scores KB keys per step with the loads of all KB keys in flight,
//            reduces the KB dot products with a butterfly (KB-1 shuffles plus log2(32/KB), not 5 per
//            key), and keeps
//            (m, l, o) per head; a second kernel merges the chunks' partial (m, l, o), or, in the
//            decode step (attention_at), the 8 chunks of a head run as one cluster of 8 blocks (sm_90)
//            and merge through distributed shared memory (before sm_90, or T2L_ATTN_CLUSTER=0: the
//            last block of each (row, head) to finish merges them from global memory).
//            d = 32/64/128/256. Both (and the generic kernel) use programmatic dependent launch:
//            they start while the kernel before drains and wait for its results (ops_common.cuh).
//   generic  attn_generic_kernel<KV>: one warp per (query, head), key by key. Any d <= 256 and any
//            alignment; the fallback for shapes the two fast kernels do not take.
// Versions that earned their place (H200, 32/8 heads, d = 128, tools/bench_kernels.cu):
//   prefill (1) tile loads one at a time; (2) each thread issues its tile loads four at a time
//     before storing them: n = t = 2048 causal in 1.27-1.34 ms, 26-27 TFLOP/s, ~40% of the f32
//     FMA peak. SIMT f32 throughout.
//   gemm (cuBLAS bf16, scores through memory): 0.81-0.83 ms, 41-42 TFLOP/s.
//   flash (bf16 mma.sync, 64 queries x 64 keys per step): 0.18-0.19 ms, 178-196 TFLOP/s (f32/bf16 KV);
//     Llama-8B prefill of 2048 tokens 79.5 -> 60.0 ms.
//   decode (1) 128-key chunks, each load widened as it arrived: bf16 KV slower than f32.
//     (2) all of a step's loads issued before any is widened, 64-key chunks: t = 32768 in 76 us
//     (f32, 73% of 4.8 TB/s) and 66 us (bf16, 42%); t = 4096 in ~20 us, launch-bound (2 kernels).
//     A 16-key bf16 step was tried in registers and spilled 1.3 KB: not kept.
//     (3) one query head per block (was up to 4 of a group, each K/V load serving all) and 32-key
//     chunks (was 64; 16 measured slower): Llama-8B decode 220.7 -> 229.7 tok/s at 2 heads per
//     block, 233.4 at 1; Gemma-2-2b 428.2 -> 445.2. The step's attention (512-token cache) 15.8 ->
//     10.6 us under ncu at 2 heads. The merge of the chunks reads their (m, l) in parallel.
//     (4) decode step: a head's chunks in one cluster, merged through distributed shared memory (no
//     partials in global memory, no fence, no counter): the step's attention (512-token cache,
//     ncu) 9.2 -> 7.7 us with 8 blocks of 4 warps, 7.0 us with 8 warps (4 x 8: 7.2 us, 4 x 4: 11.5,
//     16 x 4: 12.4); Llama-8B decode 231.1 -> 234.8 tok/s. Most of what is left is latency: the
//     kernel reads ~1 MB, mostly from L2, and its SMs are active 9.5k of 14.9k cycles.
//     (5) decode step: the first step's keys and values before the query's own position (stored
//     by earlier steps) are requested before pdl_wait(); only q and the new key wait for the
//     kernel before (AttnArgs::keys_early; T2L_ATTN_EARLY=0 waits first): Llama-8B decode 231.2 ->
//     233.3 tok/s, Gemma-2-2b 451.4 -> 457.5 (one machine, three and two runs).
//   A span that fits one chunk (the text encoder's ~20 keys) is normalised by its own block, so
//   no combine kernel is launched: the encoder's attention 8.6 us (prefill kernel) -> 5.1 us
//   (decode kernel + combine) -> one launch.
//   The combine kernel's weights live in a fixed 1024-float shared array (at most 1024 chunks):
//   compute-sanitizer flagged reads past the dynamically sized one.
#include <algorithm>
#include <type_traits>

#include <cooperative_groups.h>
#include <cublas_v2.h>

#include "attention_common.cuh"
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

cublasHandle_t cublas_handle();  // linear.cu: the one handle, on the kernels' stream

namespace {

__device__ __forceinline__ float cap_score(float s, const AttnArgs& a) {
    s *= a.scale;
    if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
    return s;
}

// E consecutive elements of type T as raw words (E·sizeof(T) bytes, aligned to that size, or to
// 16 when larger), so that a batch of loads can be issued before any of them is widened.
template <typename T, int E>
struct RawVec {
    static constexpr int bytes = E * (int)sizeof(T);
    static constexpr int words = bytes >= 4 ? bytes / 4 : 1;
    uint32_t w[words];
};

template <typename T, int E>
__device__ __forceinline__ void load_raw(const T* p, RawVec<T, E>& r) {
    constexpr int bytes = RawVec<T, E>::bytes;
    if constexpr (bytes % 16 == 0) {
#pragma unroll
        for (int c = 0; c < bytes / 16; c++) {
            const uint4 u = reinterpret_cast<const uint4*>(p)[c];
            r.w[4 * c] = u.x;
            r.w[4 * c + 1] = u.y;
            r.w[4 * c + 2] = u.z;
            r.w[4 * c + 3] = u.w;
        }
    } else if constexpr (bytes == 8) {
        const uint2 u = *reinterpret_cast<const uint2*>(p);
        r.w[0] = u.x;
        r.w[1] = u.y;
    } else if constexpr (bytes == 4) {
        r.w[0] = *reinterpret_cast<const uint32_t*>(p);
    } else {
        r.w[0] = *reinterpret_cast<const uint16_t*>(p);
    }
}

template <typename T, int E>
__device__ __forceinline__ void zero_raw(RawVec<T, E>& r) {
#pragma unroll
    for (int i = 0; i < RawVec<T, E>::words; i++) r.w[i] = 0u;
}

// Widen to f32 (little-endian: element 2i is the low half of word i for the 16-bit types).
template <typename T, int E>
__device__ __forceinline__ void unpack_raw(const RawVec<T, E>& r, float* f) {
#pragma unroll
    for (int e = 0; e < E; e++) {
        if constexpr (std::is_same<T, float>::value) {
            f[e] = __uint_as_float(r.w[e]);
        } else if constexpr (std::is_same<T, __nv_bfloat16>::value) {
            f[e] = __uint_as_float(e % 2 == 0 ? r.w[e / 2] << 16 : r.w[e / 2] & 0xffff0000u);  // bf16 = top half of f32
        } else {
            f[e] = __half2float(__ushort_as_half((unsigned short)(e % 2 == 0 ? r.w[e / 2] & 0xffffu : r.w[e / 2] >> 16)));
        }
    }
}

template <typename T, int E>
__device__ __forceinline__ void load_vec(const T* p, float* f) {
    RawVec<T, E> r;
    load_raw(p, r);
    unpack_raw(r, f);
}

// ---- prefill ---------------------------------------------------------------------------------

constexpr int kPrefillBQ = 64;
constexpr int kPrefillThreads = 256;

template <int D, int BK>
constexpr size_t prefill_smem_bytes() {
    return sizeof(float) * ((size_t)kPrefillBQ * (D + 4) + (size_t)BK * (D + 4) + (size_t)kPrefillBQ * (BK + 4));
}

// rows [kt, kt + BK) of k or v, head kvh, widened to f32 into dst [BK][D + 4]; zeros past t.
// Each thread issues its loads four at a time before widening and storing any of them.
template <int D, int BK, typename KV>
__device__ __forceinline__ void load_kv_tile(float* dst, const KV* src, int64_t kt, int kvh, const AttnArgs& a) {
    constexpr int VE = 16 / (int)sizeof(KV);  // elements per 16-byte load
    constexpr int LD = D + 4;
    constexpr int PER_THREAD = BK * D / VE / kPrefillThreads, GROUP = 4;
    static_assert(BK * D / VE % kPrefillThreads == 0 && PER_THREAD % GROUP == 0 || PER_THREAD < GROUP, "tile split");
    constexpr int G = PER_THREAD < GROUP ? PER_THREAD : GROUP;
#pragma unroll
    for (int g0 = 0; g0 < PER_THREAD; g0 += G) {
        RawVec<KV, VE> raw[G];
#pragma unroll
        for (int g = 0; g < G; g++) {
            const int idx = threadIdx.x + (g0 + g) * kPrefillThreads;
            const int r = idx / (D / VE), c = (idx % (D / VE)) * VE;
            if (kt + r < a.t) load_raw<KV, VE>(src + (kt + r) * a.kw + (int64_t)kvh * D + c, raw[g]);
            else zero_raw(raw[g]);
        }
#pragma unroll
        for (int g = 0; g < G; g++) {
            const int idx = threadIdx.x + (g0 + g) * kPrefillThreads;
            const int r = idx / (D / VE), c = (idx % (D / VE)) * VE;
            float f[VE];
            unpack_raw(raw[g], f);
#pragma unroll
            for (int e = 0; e < VE; e += 4)
                *reinterpret_cast<float4*>(dst + r * LD + c + e) = make_float4(f[e], f[e + 1], f[e + 2], f[e + 3]);
        }
    }
}

template <int D, int BK, typename KV>
__global__ void __launch_bounds__(kPrefillThreads, D >= 256 ? 1 : 2)
    attn_prefill_kernel(float* __restrict__ out, const float* __restrict__ q, const KV* __restrict__ k,
                        const KV* __restrict__ v, AttnArgs a) {
    constexpr int BQ = kPrefillBQ, RQ = BQ / 16, KPT = BK / 16, CG = D / 64, LD = D + 4, LDP = BK + 4;
    extern __shared__ float4 smem4[];
    float* Qs = reinterpret_cast<float*>(smem4);  // [BQ][LD]
    float* KVs = Qs + BQ * LD;                      // [BK][LD]: K tile, then V tile
    float* Ps = KVs + BK * LD;                      // [BQ][LDP]
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t q0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * BQ;  // longest tiles first
    const int h = blockIdx.y, kvh = h / a.group;

    for (int idx = tid; idx < BQ * D / 4; idx += kPrefillThreads) {
        const int r = idx / (D / 4), c = (idx % (D / 4)) * 4;
        float4 val = make_float4(0.f, 0.f, 0.f, 0.f);
        if (q0 + r < a.n) val = *reinterpret_cast<const float4*>(q + (q0 + r) * a.qw + (int64_t)h * D + c);
        *reinterpret_cast<float4*>(Qs + r * LD + c) = val;
    }

    // The keys any row of this tile may see, and each of this thread's rows' own range.
    const int64_t last_row = min(a.n, q0 + BQ) - 1;
    int64_t k_lo, k_hi, unused;
    visible(a, q0, &k_lo, &unused);
    visible(a, last_row, &unused, &k_hi);
    int first[RQ], last[RQ];  // positions fit in int (the launcher checks t)
#pragma unroll
    for (int i = 0; i < RQ; i++) {
        int64_t f, l;
        visible(a, q0 + ty * RQ + i, &f, &l);
        first[i] = (int)max(f, (int64_t)-1);
        last[i] = (int)max(l, (int64_t)-1);
    }

    float o[RQ][CG][4], m[RQ], l[RQ];
#pragma unroll
    for (int i = 0; i < RQ; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < CG; c++)
#pragma unroll
            for (int e = 0; e < 4; e++) o[i][c][e] = 0.0f;
    }

    for (int64_t kt = k_lo / BK * BK; kt <= k_hi; kt += BK) {
        __syncthreads();  // the previous tile's P·V is done with KVs and Ps (and Qs is written)
        load_kv_tile<D, BK>(KVs, k, kt, kvh, a);
        __syncthreads();

        float s[RQ][KPT];
#pragma unroll
        for (int i = 0; i < RQ; i++)
#pragma unroll
            for (int j = 0; j < KPT; j++) s[i][j] = 0.0f;
#pragma unroll 4
        for (int kk = 0; kk < D; kk += 4) {
            float4 qv[RQ], kv[KPT];
#pragma unroll
            for (int i = 0; i < RQ; i++) qv[i] = *reinterpret_cast<const float4*>(Qs + (ty * RQ + i) * LD + kk);
#pragma unroll
            for (int j = 0; j < KPT; j++) kv[j] = *reinterpret_cast<const float4*>(KVs + (tx + 16 * j) * LD + kk);
#pragma unroll
            for (int i = 0; i < RQ; i++)
#pragma unroll
                for (int j = 0; j < KPT; j++) {
                    s[i][j] = fmaf(qv[i].x, kv[j].x, s[i][j]);
                    s[i][j] = fmaf(qv[i].y, kv[j].y, s[i][j]);
                    s[i][j] = fmaf(qv[i].z, kv[j].z, s[i][j]);
                    s[i][j] = fmaf(qv[i].w, kv[j].w, s[i][j]);
                }
        }

        // Online softmax per row: the 16 threads of a row (one half-warp) agree on the new max.
#pragma unroll
        for (int i = 0; i < RQ; i++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < KPT; j++) {
                const int key = (int)kt + tx + 16 * j;
                const float sv = key >= first[i] && key <= last[i] ? cap_score(s[i][j], a) : -INFINITY;
                s[i][j] = sv;
                mx = fmaxf(mx, sv);
            }
#pragma unroll
            for (int off = 8; off >= 1; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float m_new = fmaxf(m[i], mx);
            const float base = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: keep zeros
            const float alpha = expf(m[i] - base);
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < KPT; j++) {
                const float pj = expf(s[i][j] - base);
                Ps[(ty * RQ + i) * LDP + tx + 16 * j] = pj;
                ps += pj;
            }
            l[i] = l[i] * alpha + ps;  // this thread's columns only; summed over the row at the end
            m[i] = m_new;
#pragma unroll
            for (int c = 0; c < CG; c++)
#pragma unroll
                for (int e = 0; e < 4; e++) o[i][c][e] *= alpha;
        }
        __syncthreads();  // Ps complete, K no longer read
        load_kv_tile<D, BK>(KVs, v, kt, kvh, a);
        __syncthreads();

#pragma unroll 2
        for (int k4 = 0; k4 < BK; k4 += 4) {
            float4 pv[RQ];
#pragma unroll
            for (int i = 0; i < RQ; i++) pv[i] = *reinterpret_cast<const float4*>(Ps + (ty * RQ + i) * LDP + k4);
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
#pragma unroll
                for (int c = 0; c < CG; c++) {
                    const float4 vv = *reinterpret_cast<const float4*>(KVs + (k4 + kk) * LD + 4 * (tx + 16 * c));
#pragma unroll
                    for (int i = 0; i < RQ; i++) {
                        const float p = kk == 0 ? pv[i].x : kk == 1 ? pv[i].y : kk == 2 ? pv[i].z : pv[i].w;
                        o[i][c][0] = fmaf(p, vv.x, o[i][c][0]);
                        o[i][c][1] = fmaf(p, vv.y, o[i][c][1]);
                        o[i][c][2] = fmaf(p, vv.z, o[i][c][2]);
                        o[i][c][3] = fmaf(p, vv.w, o[i][c][3]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < RQ; i++) {
        float lt = l[i];
#pragma unroll
        for (int off = 8; off >= 1; off /= 2) lt += __shfl_xor_sync(0xffffffffu, lt, off);
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        const int64_t row = q0 + ty * RQ + i;
        if (row >= a.n) continue;
#pragma unroll
        for (int c = 0; c < CG; c++)
            *reinterpret_cast<float4*>(out + row * a.qw + (int64_t)h * D + 4 * (tx + 16 * c)) =
                make_float4(o[i][c][0] * inv, o[i][c][1] * inv, o[i][c][2] * inv, o[i][c][3] * inv);
    }
}

// ---- decode (split-K) ------------------------------------------------------------------------

constexpr int kDecodeWarps = 4;
// The decode step's form (attention_at, sm_90): one cluster of 8 blocks of 8 warps per head.
constexpr int kStepCluster = 8, kStepWarps = 8;

// Sum over the warp of KB values per lane at once. Each halving step sends half of the values to
// the partner lane and keeps the other half, so KB values cost KB-1 shuffles plus the rest of the
// tree, instead of 5 per value. Returns the total for key (lane / (32 / KB)).
template <int KB>
__device__ __forceinline__ float butterfly_sum(float (&s)[KB], int lane) {
    int off = 16;
#pragma unroll
    for (int w = KB / 2; w >= 1; w /= 2, off /= 2) {
        const bool upper = lane & off;
#pragma unroll
        for (int j = 0; j < w; j++) {
            const float send = upper ? s[j] : s[j + w];
            const float keep = upper ? s[j + w] : s[j];
            s[j] = keep + __shfl_xor_sync(0xffffffffu, send, off);
        }
    }
    float r = s[0];
#pragma unroll
    for (; off >= 1; off /= 2) r += __shfl_xor_sync(0xffffffffu, r, off);
    return r;
}

// out[i, h, :] = Σ_s e^{m_s - M} o_s / Σ_s e^{m_s - M} l_s over the chunks s, by the threads of one
// block; P is the head's (splits, D + 2) partials. Read through L2 (__ldcg): other blocks wrote them.
constexpr int kMaxSplits = 1024;

__device__ void combine_head(float* __restrict__ out, const float* P, int splits, int D, float* wgt) {
    __shared__ float red[32];
    // Every chunk's m and l is read by its own thread (all loads in flight at once), then reduced
    // over the block: two L2 round trips, not a chain of `splits` of them.
    float m_mine = -INFINITY;
    for (int s = threadIdx.x; s < splits; s += blockDim.x) m_mine = fmaxf(m_mine, __ldcg(P + (int64_t)s * (D + 2)));
    const float M = block_max(m_mine, red);
    float l_mine = 0.0f;
    for (int s = threadIdx.x; s < splits; s += blockDim.x) {
        const float w = M == -INFINITY ? 0.0f : expf(__ldcg(P + (int64_t)s * (D + 2)) - M);
        wgt[s] = w;
        l_mine += w * __ldcg(P + (int64_t)s * (D + 2) + 1);
    }
    const float L = block_sum(l_mine, red);  // its barrier also publishes wgt
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = 0.0f;
#pragma unroll 4
        for (int s = 0; s < splits; s++) acc += wgt[s] * __ldcg(P + (int64_t)s * (D + 2) + 2 + d);
        out[d] = acc * inv;
    }
    __syncthreads();  // wgt may be reused by the caller
}

__global__ void attn_combine_kernel(float* __restrict__ out, const float* __restrict__ part, int splits, int D) {
    pdl_trigger();
    pdl_wait();
    __shared__ float wgt[kMaxSplits];
    combine_head(out + (int64_t)blockIdx.x * D, part + (int64_t)blockIdx.x * splits * (D + 2), splits, D, wgt);
}

// part (n, h, splits, D + 2): per chunk and head, the running max m, the sum l and the unnormalised o.
// One block of NW warps per (chunk, query head, query row). With `done` (one zeroed counter per
// (row, head)) the last block of a head to finish merges the chunks itself and resets the counter:
// the combine kernel's launch disappears. With CL > 0 (sm_90) the CL chunks of a head are one
// cluster and merge through each other's shared memory instead.
template <int D, typename KV, int CL = 0, int NW = kDecodeWarps>
__global__ void __launch_bounds__(NW * 32, 16 / NW)  // 16 warps per SM: the launcher sizes one wave by it
    attn_decode_kernel(float* __restrict__ part, const float* __restrict__ q, const KV* __restrict__ k,
                       const KV* __restrict__ v, AttnArgs a, int64_t span_lo, int64_t chunk, int splits,
                       float* __restrict__ out, unsigned* __restrict__ done) {
    pdl_trigger();
    if (!a.keys_early) pdl_wait();
    constexpr int EPL = D / 32;           // dims per lane
    constexpr int KB = EPL >= 8 ? 4 : 8;  // keys per warp step (fewer for d = 256: registers)
    constexpr int LPK = 32 / KB;          // lanes that hold one key's score after the butterfly
    static_assert(KB >= 2 && KB <= 32 && (KB & (KB - 1)) == 0, "keys per step: a power of two up to 32");
    __shared__ float sm_m[NW], sm_l[NW];
    __shared__ float sm_o[NW][D];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int split = blockIdx.x, h = blockIdx.y, kvh = h / a.group;
    const int64_t i = blockIdx.z;
    if (a.pos) {  // one query at *pos over keys 0..*pos: the chunks are cut here, not on the host
        a.q_pos0 = *a.pos;
        a.t = a.q_pos0 + 1;
        span_lo = a.window > 0 ? max((int64_t)0, a.q_pos0 - a.window + 1) : 0;
        chunk = (a.t - span_lo + splits - 1) / splits;
    }
    int64_t first, last;
    visible(a, i, &first, &last);
    const int64_t lo = max(first, span_lo + split * chunk), hi = min(last, span_lo + (split + 1) * chunk - 1);

    const KV* kbase = k + (int64_t)kvh * D + lane * EPL;
    const KV* vbase = v + (int64_t)kvh * D + lane * EPL;
    // A step's keys kb .. kb + KB - 1: those in [from, to] are requested, the others keep their value.
    RawVec<KV, EPL> kr[KB], vr[KB];
    auto request = [&](int64_t kb, int64_t from, int64_t to) {
#pragma unroll
        for (int j = 0; j < KB; j++) {
            if (kb + j >= from && kb + j <= to) {
                load_raw<KV, EPL>(kbase + (kb + j) * a.kw, kr[j]);
                load_raw<KV, EPL>(vbase + (kb + j) * a.kw, vr[j]);
            }
        }
    };
    auto clear = [&] {
#pragma unroll
        for (int j = 0; j < KB; j++) {
            zero_raw(kr[j]);
            zero_raw(vr[j]);
        }
    };
    // keys_early: the keys before the query's own were stored before the kernel this one follows
    // started, so the first step's loads of them go out before the wait; only q and the new key
    // depend on that kernel.
    const int64_t kb0 = lo + warp * KB;
    const int64_t early_hi = a.keys_early ? min(hi, a.q_pos0 - 1) : kb0 - 1;
    clear();
    request(kb0, kb0, early_hi);
    if (a.keys_early) pdl_wait();

    float qr[EPL], o[EPL], m = -INFINITY, l = 0.0f;
    load_vec<float, EPL>(q + i * a.qw + (int64_t)h * D + lane * EPL, qr);
#pragma unroll
    for (int e = 0; e < EPL; e++) o[e] = 0.0f;

    for (int64_t kb = kb0; kb <= hi; kb += NW * KB) {
        // All 2·KB loads are issued before any is widened: one memory round trip per step.
        if (kb == kb0) {
            request(kb, early_hi + 1, hi);
        } else {
            clear();
            request(kb, kb, hi);
        }
        float kf[KB][EPL], vf[KB][EPL];
#pragma unroll
        for (int j = 0; j < KB; j++) {
            unpack_raw(kr[j], kf[j]);
            unpack_raw(vr[j], vf[j]);
        }
        const bool mine_valid = kb + lane / LPK <= hi;
        float s[KB];
#pragma unroll
        for (int j = 0; j < KB; j++) {
            float acc = 0.0f;
#pragma unroll
            for (int e = 0; e < EPL; e++) acc = fmaf(qr[e], kf[j][e], acc);
            s[j] = acc;
        }
        float sc = butterfly_sum<KB>(s, lane);
        sc = mine_valid ? cap_score(sc, a) : -INFINITY;
        float bm = sc;
#pragma unroll
        for (int off = 16; off >= LPK; off /= 2) bm = fmaxf(bm, __shfl_xor_sync(0xffffffffu, bm, off));
        const float m_new = fmaxf(m, bm);  // finite: key kb is visible
        const float alpha = expf(m - m_new);
        const float p = expf(sc - m_new);
        float ps = p;
#pragma unroll
        for (int off = 16; off >= LPK; off /= 2) ps += __shfl_xor_sync(0xffffffffu, ps, off);
        l = l * alpha + ps;
        m = m_new;
#pragma unroll
        for (int e = 0; e < EPL; e++) o[e] *= alpha;
#pragma unroll
        for (int j = 0; j < KB; j++) {
            const float pj = __shfl_sync(0xffffffffu, p, j * LPK);
#pragma unroll
            for (int e = 0; e < EPL; e++) o[e] = fmaf(pj, vf[j][e], o[e]);
        }
    }

    // Merge the NW warps' (m, l, o) and write this chunk's partial result.
    if (lane == 0) {
        sm_m[warp] = m;
        sm_l[warp] = l;
    }
#pragma unroll
    for (int e = 0; e < EPL; e++) sm_o[warp][lane * EPL + e] = o[e];
    __syncthreads();
    const int64_t row = i * a.n_heads + h;  // the (query row, head) this block serves
    __shared__ float mine[CL > 0 ? D + 2 : 1];  // a cluster's chunk: (m, l, o) stay in shared memory
    for (int d = threadIdx.x; d < D; d += NW * 32) {
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < NW; w++) M = fmaxf(M, sm_m[w]);
        float L = 0.0f, O = 0.0f;
        if (M != -INFINITY) {
#pragma unroll
            for (int w = 0; w < NW; w++) {
                const float f = expf(sm_m[w] - M);
                L += f * sm_l[w];
                O += f * sm_o[w][d];
            }
        }
        float* dst = CL > 0 ? mine : part + ((row * splits + split) * (D + 2));
        dst[2 + d] = O;
        if (d == 0) {
            dst[0] = M;
            dst[1] = L;
        }
    }
    if constexpr (CL > 0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        // The CL chunks of this head are one cluster: after its barrier every block reads the
        // others' (m, l, o) from their shared memory, and block r merges dims r, r + CL, ...
        // No partials in global memory, no fence, no counter.
        namespace cg = cooperative_groups;
        cg::cluster_group cluster = cg::this_cluster();
        cluster.sync();
        static_assert(D <= CL * NW * 32, "one dim per thread of the cluster");
        const int d = (int)cluster.block_rank() + CL * (int)threadIdx.x;
        if (d < D) {
            const float* other[CL];
            float ms[CL], ls[CL], Mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < CL; c++) {
                other[c] = cluster.map_shared_rank(mine, c);
                ms[c] = other[c][0];
                ls[c] = other[c][1];
            }
#pragma unroll
            for (int c = 0; c < CL; c++) Mx = fmaxf(Mx, ms[c]);
            float f[CL], Lx = 0.0f;
#pragma unroll
            for (int c = 0; c < CL; c++) {
                f[c] = Mx == -INFINITY ? 0.0f : expf(ms[c] - Mx);
                Lx += f[c] * ls[c];
            }
            const float inv = Lx > 0.0f ? 1.0f / Lx : 0.0f;
            float Ox = 0.0f;
#pragma unroll
            for (int c = 0; c < CL; c++) Ox += f[c] * other[c][2 + d];
            out[row * D + d] = Ox * inv;
        }
        cluster.sync();  // the other blocks read this one's shared memory until here
#endif
        return;
    }
    __shared__ float wgt[kMaxSplits];
    if (!done) {
        if (splits != 1) return;
        // One chunk (short spans): this block holds the whole row and normalises it itself, the
        // same arithmetic the combine kernel would do, whose launch the host then skips.
        __syncthreads();
        combine_head(out + row * D, part + row * (D + 2), 1, D, wgt);
        return;
    }
    // The threadfence pattern: publish this block's partials, count it in; the block that counts
    // last sees every other block's partials.
    __shared__ bool counted_last;
    __threadfence();
    __syncthreads();
    unsigned* counter = done + row;
    if (threadIdx.x == 0) counted_last = atomicAdd(counter, 1u) == (unsigned)splits - 1;
    __syncthreads();
    if (!counted_last) return;
    __threadfence();
    combine_head(out + row * D, part + row * splits * (D + 2), splits, D, wgt);
    if (threadIdx.x == 0) *counter = 0;  // ready for the next launch
}

// ---- generic ---------------------------------------------------------------------------------

constexpr int kGenericMaxD = 256;

template <typename KV>
__global__ void __launch_bounds__(128)
    attn_generic_kernel(float* __restrict__ out, const float* __restrict__ q, const KV* __restrict__ k,
                        const KV* __restrict__ v, AttnArgs a) {
    pdl_trigger();
    pdl_wait();
    constexpr int MAXE = kGenericMaxD / 32;
    const int lane = threadIdx.x & 31;
    if (a.pos) {  // the decode step: one query at *pos over keys 0..*pos
        a.q_pos0 = *a.pos;
        a.t = a.q_pos0 + 1;
    }
    const int64_t job = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (job >= a.n * a.n_heads) return;
    const int64_t i = job / a.n_heads;
    const int h = (int)(job % a.n_heads), kvh = h / a.group, D = a.head_dim;
    int64_t first, last;
    visible(a, i, &first, &last);
    float qv[MAXE], o[MAXE];
#pragma unroll
    for (int e = 0; e < MAXE; e++) {
        const int d = lane + 32 * e;
        qv[e] = d < D ? q[i * a.qw + (int64_t)h * D + d] : 0.0f;
        o[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t j = first; j <= last; j++) {
        const KV* kj = k + j * a.kw + (int64_t)kvh * D;
        const KV* vj = v + j * a.kw + (int64_t)kvh * D;
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < MAXE; e++) {
            const int d = lane + 32 * e;
            if (d < D) s = fmaf(qv[e], to_float(kj[d]), s);
        }
        s = cap_score(warp_sum(s), a);
        const float m_new = fmaxf(m, s);
        const float alpha = expf(m - m_new), p = expf(s - m_new);
        l = l * alpha + p;
        m = m_new;
#pragma unroll
        for (int e = 0; e < MAXE; e++) {
            const int d = lane + 32 * e;
            if (d < D) o[e] = fmaf(p, to_float(vj[d]), o[e] * alpha);
        }
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int e = 0; e < MAXE; e++) {
        const int d = lane + 32 * e;
        if (d < D) out[i * a.qw + (int64_t)h * D + d] = o[e] * inv;
    }
}

// ---- launchers -------------------------------------------------------------------------------

template <int D, int BK, typename KV>
void launch_prefill(float* out, const float* q, const KV* k, const KV* v, const AttnArgs& a) {
    constexpr size_t smem = prefill_smem_bytes<D, BK>();
    static bool configured = [] {
        CUDA_CHECK(cudaFuncSetAttribute(attn_prefill_kernel<D, BK, KV>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
        return true;
    }();
    (void)configured;
    const dim3 grid((unsigned)((a.n + kPrefillBQ - 1) / kPrefillBQ), (unsigned)a.n_heads);
    attn_prefill_kernel<D, BK, KV><<<grid, kPrefillThreads, smem>>>(out, q, k, v, a);
}

template <typename KV>
void prefill(float* out, const float* q, const void* k, const void* v, const AttnArgs& a) {
    const KV* kk = static_cast<const KV*>(k);
    const KV* vv = static_cast<const KV*>(v);
    switch (a.head_dim) {
        case 64: launch_prefill<64, 64>(out, q, kk, vv, a); break;
        case 128: launch_prefill<128, 64>(out, q, kk, vv, a); break;
        case 256: launch_prefill<256, 32>(out, q, kk, vv, a); break;
        default: fail("attention (cuda prefill): head_dim ", a.head_dim, " has no prefill kernel (64, 128, 256)");
    }
}

// The decode step with each head's chunks in one cluster of kStepCluster blocks of kStepWarps warps
// (sm_90): chunk = span / kStepCluster, merged through distributed shared memory.
template <int D, typename KV>
void launch_decode_cluster(const float* q, const KV* k, const KV* v, const AttnArgs& a, float* out) {
    launch_pdl_cluster(attn_decode_kernel<D, KV, kStepCluster, kStepWarps>,
                       dim3((unsigned)kStepCluster, (unsigned)a.n_heads, (unsigned)a.n), dim3(kStepWarps * 32), 0,
                       kStepCluster, (float*)nullptr, q, k, v, a, (int64_t)0, (int64_t)1, kStepCluster, out,
                       (unsigned*)nullptr);
}
template <int D>
void cluster_decode(float* out, const float* q, const void* k, const void* v, bool bf16, const AttnArgs& a) {
    if (bf16)
        launch_decode_cluster<D>(q, static_cast<const __nv_bfloat16*>(k), static_cast<const __nv_bfloat16*>(v), a, out);
    else
        launch_decode_cluster<D>(q, static_cast<const float*>(k), static_cast<const float*>(v), a, out);
}

template <int D, typename KV>
void launch_decode_d(float* part, const float* q, const KV* k, const KV* v, const AttnArgs& a, int64_t span_lo,
                     int64_t chunk, int splits, float* out, unsigned* done) {
    const dim3 grid((unsigned)splits, (unsigned)a.n_heads, (unsigned)a.n);
    launch_pdl(attn_decode_kernel<D, KV>, grid, dim3(kDecodeWarps * 32), 0, part, q, k, v, a, span_lo, chunk, splits, out,
               done);
}

// How decode cuts the keys: the first key any query row sees, keys per chunk, chunks.
struct DecodePlan {
    int64_t span_lo, chunk, splits;
};
DecodePlan plan_decode(const AttnArgs& a) {
    // The keys some query row sees: from row 0's first to row n-1's last (both grow with the row).
    // With a device position (a.pos) the chunks are sized on the device; the split count here is
    // for the longest span the cache holds (t = its capacity), so one recorded launch fits all.
    const int64_t pos0 = a.q_pos0, posn = a.q_pos0 + a.n - 1;
    const int64_t span_lo = a.window > 0 && !a.pos ? std::max<int64_t>(0, pos0 - a.window + 1) : 0;
    const int64_t span_hi = a.causal && !a.pos ? std::min(posn, a.t - 1) : a.t - 1;
    int64_t span = std::max<int64_t>(0, span_hi - span_lo + 1);
    if (a.pos && a.window > 0) span = std::min(span, a.window);
    const int64_t head_blocks = a.n * a.n_heads;
    // Enough chunks for ~4 blocks per SM (one wave at the kernels' register use), but at least 32
    // keys per chunk (one step of 8 keys for each of the 4 warps; 16 measured slower, 212.8 tok/s
    // against 221.0 at 4 heads per block).
    constexpr int64_t kMinChunk = 32;
    int64_t splits = std::max<int64_t>(1, (4 * (int64_t)sm_count() + head_blocks - 1) / head_blocks);
    splits = std::min(splits, std::max<int64_t>(1, (span + kMinChunk - 1) / kMinChunk));
    int64_t chunk = std::max<int64_t>(1, (span + splits - 1) / splits);
    splits = std::max<int64_t>(1, (span + chunk - 1) / chunk);
    if (splits > kMaxSplits) {  // very long caches: longer chunks, never more than the combine kernel holds
        chunk = (span + kMaxSplits - 1) / kMaxSplits;
        splits = (span + chunk - 1) / chunk;
    }
    return {span_lo, chunk, splits};
}

// part: scratch of n·h·splits·(D+2) floats, or null for the shared workspace. done: zeroed
// counters, one per (row, head), for the single-kernel form; null for decode + combine.
template <typename KV>
void decode(float* out, const float* q, const void* k, const void* v, const AttnArgs& a, float* part = nullptr,
            unsigned* done = nullptr) {
    const DecodePlan plan = plan_decode(a);
    const int64_t D = a.head_dim, span_lo = plan.span_lo, chunk = plan.chunk;
    if (!part) part = static_cast<float*>(workspace(kWsAttnPartial, (size_t)(a.n * a.n_heads * plan.splits * (D + 2)) * 4));
    const KV* kk = static_cast<const KV*>(k);
    const KV* vv = static_cast<const KV*>(v);
    const int sp = (int)plan.splits;
    switch (a.head_dim) {
        case 32: launch_decode_d<32>(part, q, kk, vv, a, span_lo, chunk, sp, out, done); break;
        case 64: launch_decode_d<64>(part, q, kk, vv, a, span_lo, chunk, sp, out, done); break;
        case 128: launch_decode_d<128>(part, q, kk, vv, a, span_lo, chunk, sp, out, done); break;
        case 256: launch_decode_d<256>(part, q, kk, vv, a, span_lo, chunk, sp, out, done); break;
        default: fail("attention (cuda decode): head_dim ", a.head_dim, " has no decode kernel (32, 64, 128, 256)");
    }
    check_launch("attention (cuda decode)");
    if (done || sp == 1) return;  // merged by the last block of each head, or by the only one
    launch_pdl(attn_combine_kernel, dim3((unsigned)(a.n * a.n_heads)), dim3(128), 0, out, (const float*)part, sp, a.head_dim);
}

template <typename KV>
void generic(float* out, const float* q, const void* k, const void* v, const AttnArgs& a) {
    if (a.head_dim > kGenericMaxD) fail("attention (cuda): head_dim ", a.head_dim, " is over ", kGenericMaxD);
    const int64_t jobs = a.n * a.n_heads;
    launch_pdl(attn_generic_kernel<KV>, dim3((unsigned)((jobs + 3) / 4)), dim3(128), 0, out, q, static_cast<const KV*>(k),
               static_cast<const KV*>(v), a);
}

// ---- tensor-core prompt attention (cuBLAS) ---------------------------------------------------
// Per KV head j and its g query heads, for a chunk of query rows [i0, i0 + nb):
//   S_h (nb, t) = scale · Q_h Kⱼᵀ         cuBLAS, bf16 in, f32 out (batched over the g heads)
//   P_h = softmax(cap(S_h) masked) in f32, stored bf16
//   O_h (nb, d) = P_h Vⱼ                   cuBLAS, bf16 in, f32 out into the heads' columns of out
// The scores make a round trip through memory (h·nb·t·6 bytes: chunks keep it under ~1 GB), which
// costs less than the f32 SIMT kernel's arithmetic on long prompts.

// One block per score row (head, query): cap, mask, softmax; masked keys get probability 0.
__global__ void __launch_bounds__(256) softmax_rows_kernel(__nv_bfloat16* P, const float* S, int64_t nb, int64_t t,
                                                           int64_t i0, AttnArgs a) {
    __shared__ float red[32];
    const int64_t row = blockIdx.x, i = i0 + row % nb;
    int64_t first, last;
    visible(a, i, &first, &last);
    const float* s = S + row * t;
    __nv_bfloat16* p = P + row * t;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < t; j += blockDim.x)
        if (j >= first && j <= last) {
            float v = s[j];
            if (a.softcap > 0.0f) v = a.softcap * tanhf(v / a.softcap);
            m = fmaxf(m, v);
        }
    m = warp_max(m);
    {
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        if (lane == 0) red[warp] = m;
        __syncthreads();
        float t2 = lane < (int)(blockDim.x >> 5) ? red[lane] : -INFINITY;
        m = warp_max(t2);
        __syncthreads();
    }
    float l = 0.0f;
    for (int64_t j = threadIdx.x; j < t; j += blockDim.x)
        if (j >= first && j <= last) {
            float v = s[j];
            if (a.softcap > 0.0f) v = a.softcap * tanhf(v / a.softcap);
            l += expf(v - m);
        }
    l = block_sum(l, red);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int64_t j = threadIdx.x; j < t; j += blockDim.x) {
        float pj = 0.0f;
        if (j >= first && j <= last) {
            float v = s[j];
            if (a.softcap > 0.0f) v = a.softcap * tanhf(v / a.softcap);
            pj = expf(v - m) * inv;
        }
        p[j] = __float2bfloat16_rn(pj);
    }
}

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, int64_t n) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x)
        dst[e] = __float2bfloat16_rn(src[e]);
}

void check_cublas(cublasStatus_t st, const char* what) {
    if (st != CUBLAS_STATUS_SUCCESS) fail("attention (cuda gemm): ", what, " failed: ", cublasGetStatusString(st));
}

void gemm_attention(float* out, const float* q, const void* k, const void* v, bool kv_bf16, const AttnArgs& a) {
    const int64_t n = a.n, t = a.t, d = a.head_dim, h = a.n_heads, g = a.group, hk = h / g;
    // Query rows per chunk: the scores (f32) and probabilities (bf16) of all heads in ~1 GB.
    const int64_t nb = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t)1e9 / (h * t * 6)));
    const size_t qb = (size_t)(n * h * d) * 2, kvb = kv_bf16 ? 0 : (size_t)(t * hk * d) * 2;
    const size_t sb = (size_t)(h * nb * t) * 4, pb = (size_t)(h * nb * t) * 2;
    uint8_t* ws = static_cast<uint8_t*>(workspace(kWsAttnGemm, qb + 2 * kvb + sb + pb + 64));
    __nv_bfloat16* qh = reinterpret_cast<__nv_bfloat16*>(ws);
    __nv_bfloat16* kh = kv_bf16 ? (__nv_bfloat16*)k : reinterpret_cast<__nv_bfloat16*>(ws + qb);
    __nv_bfloat16* vh = kv_bf16 ? (__nv_bfloat16*)v : reinterpret_cast<__nv_bfloat16*>(ws + qb + kvb);
    float* S = reinterpret_cast<float*>(ws + qb + 2 * kvb);
    __nv_bfloat16* P = reinterpret_cast<__nv_bfloat16*>(ws + qb + 2 * kvb + sb);
    to_bf16_kernel<<<grid_for(n * h * d, 256), 256>>>(qh, q, n * h * d);
    if (!kv_bf16) {
        to_bf16_kernel<<<grid_for(t * hk * d, 256), 256>>>(kh, static_cast<const float*>(k), t * hk * d);
        to_bf16_kernel<<<grid_for(t * hk * d, 256), 256>>>(vh, static_cast<const float*>(v), t * hk * d);
    }
    check_launch("attention (cuda gemm, rounding)");
    cublasHandle_t cb = cublas_handle();
    const float alpha = a.scale, one = 1.0f, zero = 0.0f;
    for (int64_t i0 = 0; i0 < n; i0 += nb) {
        const int64_t rows = std::min(nb, n - i0);
        for (int64_t j = 0; j < hk; j++) {
            // Sᵀ (t, rows) column-major = Kⱼ (t, d) · Q_hᵀ (d, rows), for the g heads of KV head j.
            check_cublas(cublasGemmStridedBatchedEx(
                cb, CUBLAS_OP_T, CUBLAS_OP_N, (int)t, (int)rows, (int)d, &alpha,
                kh + j * d, CUDA_R_16BF, (int)(hk * d), 0,
                qh + i0 * h * d + j * g * d, CUDA_R_16BF, (int)(h * d), d,
                &zero, S + j * g * rows * t, CUDA_R_32F, (int)t, rows * t, (int)g,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "Q Kᵀ");
        }
        // Rows of S are (head, query) for this chunk; the softmax kernel wants the query index.
        AttnArgs b = a;
        softmax_rows_kernel<<<(unsigned)(h * rows), 256>>>(P, S, rows, t, i0, b);
        check_launch("attention (cuda gemm, softmax)");
        for (int64_t j = 0; j < hk; j++) {
            // O_hᵀ (d, rows) column-major = Vⱼᵀ (d, t) · P_hᵀ (t, rows), into out's columns of head h.
            check_cublas(cublasGemmStridedBatchedEx(
                cb, CUBLAS_OP_N, CUBLAS_OP_N, (int)d, (int)rows, (int)t, &one,
                vh + j * d, CUDA_R_16BF, (int)(hk * d), 0,
                P + j * g * rows * t, CUDA_R_16BF, (int)t, rows * t,
                &zero, out + i0 * h * d + j * g * d, CUDA_R_32F, (int)(h * d), d, (int)g,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "P V");
        }
    }
}

// The flash kernel reads bf16 K/V: an f32 cache is rounded into scratch first.
void flash(float* out, const float* q, const void* k, const void* v, bool kv_bf16, const AttnArgs& a) {
    if (kv_bf16) return flash_attention(out, q, k, v, a);
    const int64_t e = a.t * a.kw;
    __nv_bfloat16* kh = static_cast<__nv_bfloat16*>(workspace(kWsAttnGemm, (size_t)e * 4));
    __nv_bfloat16* vh = kh + e;
    to_bf16_kernel<<<grid_for(e, 256), 256>>>(kh, static_cast<const float*>(k), e);
    to_bf16_kernel<<<grid_for(e, 256), 256>>>(vh, static_cast<const float*>(v), e);
    check_launch("attention (cuda flash, rounding)");
    flash_attention(out, q, kh, vh, a);
}

const char* path_name(AttentionPath p) {
    switch (p) {
        case AttentionPath::Prefill: return "prefill";
        case AttentionPath::Decode: return "decode";
        case AttentionPath::Generic: return "generic";
        case AttentionPath::Gemm: return "gemm";
        case AttentionPath::Flash: return "flash";
        default: return "auto";
    }
}

}  // namespace

void attention(float* out, const float* q, const void* k, const void* v, DType kv_dtype, int64_t n, int64_t t,
               const AttentionParams& p, AttentionPath path) {
    if (kv_dtype != DType::F32 && kv_dtype != DType::BF16)
        fail("attention (cuda): k/v must be f32 or bf16, got ", dtype_name(kv_dtype));
    if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads)
        fail("attention (cuda): n_heads (", p.n_heads, ") must be a positive multiple of n_kv_heads (", p.n_kv_heads, ")");
    if (p.head_dim <= 0) fail("attention (cuda): head_dim must be positive");
    if (n < 0 || t < 0 || p.q_pos0 < 0 || p.window < 0) fail("attention (cuda): negative size or position");
    if (n > INT32_MAX || t > INT32_MAX / 2) fail("attention (cuda): sequence too long (n=", n, ", t=", t, ")");
    if (n == 0) return;
    if (!out || !q || (t > 0 && (!k || !v))) fail("attention (cuda): null device pointer");
    const int64_t qw = (int64_t)p.n_heads * p.head_dim;
    if (t == 0) {  // no keys at all: every query gets zeros, as on the CPU
        CUDA_CHECK(cudaMemset(out, 0, (size_t)(n * qw) * 4));
        return;
    }
    AttnArgs a;
    a.pos = nullptr;
    a.n_heads = p.n_heads;
    a.group = p.n_heads / p.n_kv_heads;
    a.head_dim = p.head_dim;
    a.n = n;
    a.t = t;
    a.q_pos0 = p.q_pos0;
    a.window = p.window;
    a.qw = qw;
    a.kw = (int64_t)p.n_kv_heads * p.head_dim;
    a.causal = p.causal;
    a.scale = p.scale;
    a.softcap = p.softcap;

    const int D = p.head_dim;
    const bool aligned = aligned16(out) && aligned16(q) && aligned16(k) && aligned16(v);
    const bool prefill_ok = aligned && (D == 64 || D == 128 || D == 256);
    const bool decode_ok = aligned && (D == 32 || D == 64 || D == 128 || D == 256);
    const bool gemm_ok = D % 8 == 0 && p.n_heads % p.n_kv_heads == 0;
    const bool flash_ok = aligned && flash_attention_takes(D);
    const bool bf16_ok = n >= 64 && !gemm_split();  // rounding to bf16 is allowed (and pays)
    if (path == AttentionPath::Auto)
        path = n <= 32 && decode_ok  ? AttentionPath::Decode  // few queries: split the keys instead
             : bf16_ok && flash_ok   ? AttentionPath::Flash
             : bf16_ok && gemm_ok    ? AttentionPath::Gemm
             : prefill_ok            ? AttentionPath::Prefill
             : decode_ok             ? AttentionPath::Decode
                                     : AttentionPath::Generic;
    if (path == AttentionPath::Flash) {
        if (!flash_ok) fail("attention (cuda): the flash kernel does not take head_dim ", D,
                            aligned ? "" : " with buffers not 16-byte aligned");
        flash(out, q, k, v, kv_dtype == DType::BF16, a);
        check_launch("attention (cuda)");
        return;
    }
    if (path == AttentionPath::Gemm) {
        if (!gemm_ok) fail("attention (cuda): the gemm path needs head_dim a multiple of 8");
        gemm_attention(out, q, k, v, kv_dtype == DType::BF16, a);
        check_launch("attention (cuda)");
        return;
    }
    if ((path == AttentionPath::Prefill && !prefill_ok) || (path == AttentionPath::Decode && !decode_ok) ||
        (path == AttentionPath::Generic && D > kGenericMaxD))
        fail("attention (cuda): the ", path_name(path), " kernel does not take head_dim ", D,
             aligned ? "" : " with buffers not 16-byte aligned");
    const bool bf16 = kv_dtype == DType::BF16;
    if (path == AttentionPath::Prefill) {
        if (bf16) prefill<__nv_bfloat16>(out, q, k, v, a);
        else prefill<float>(out, q, k, v, a);
    } else if (path == AttentionPath::Decode) {
        if (bf16) decode<__nv_bfloat16>(out, q, k, v, a);
        else decode<float>(out, q, k, v, a);
    } else {
        if (bf16) generic<__nv_bfloat16>(out, q, k, v, a);
        else generic<float>(out, q, k, v, a);
    }
    check_launch("attention (cuda)");
}

namespace {
// The decode step's early key loads (header, (5)); T2L_ATTN_EARLY=0 waits before any load.
bool keys_early_enabled() {
    static const bool on = !env_is("T2L_ATTN_EARLY", "0");
    return on;
}
AttnArgs step_args(const int32_t* pos, int64_t capacity, const AttentionParams& p) {
    AttnArgs a;
    a.pos = pos;
    a.n_heads = p.n_heads;
    a.group = p.n_heads / p.n_kv_heads;
    a.head_dim = p.head_dim;
    a.n = 1;
    a.t = capacity;
    a.q_pos0 = 0;
    a.window = p.window;
    a.qw = (int64_t)p.n_heads * p.head_dim;
    a.kw = (int64_t)p.n_kv_heads * p.head_dim;
    a.causal = true;
    a.scale = p.scale;
    a.softcap = p.softcap;
    a.keys_early = pos && keys_early_enabled();
    return a;
}
}  // namespace

// The decode step's attention in clusters on sm_90 unless T2L_ATTN_CLUSTER=0 (then, and before
// sm_90, the chunks' partials go through global memory and the last block merges them).
int g_attention_cluster = -1;
int attention_cluster() {
    if (g_attention_cluster < 0) g_attention_cluster = sm90_or_newer() && !env_is("T2L_ATTN_CLUSTER", "0") ? kStepCluster : 0;
    return g_attention_cluster;
}
void set_attention_cluster(int size) { g_attention_cluster = size < 0 ? -1 : size > 0 ? kStepCluster : 0; }

// The step's scratch: the decode kernel's done-counters (one per head, rounded up to 4 so the
// partials after them stay 16-byte aligned), then the partials.
static int64_t step_counters(const AttentionParams& p) { return (p.n_heads + 3) / 4 * 4; }

int64_t attention_at_scratch(int64_t capacity, const AttentionParams& p) {
    if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads || capacity <= 0) return 0;
    const AttnArgs a = step_args(nullptr, capacity, p);
    AttnArgs b = a;
    b.pos = reinterpret_cast<const int32_t*>(16);  // any non-null: plan as the device-position launch does
    return step_counters(p) + (int64_t)p.n_heads * plan_decode(b).splits * (p.head_dim + 2);
}

void attention_at(float* out, const float* q, const void* k, const void* v, DType kv_dtype, const int32_t* pos,
                  int64_t capacity, const AttentionParams& p, float* scratch) {
    if (kv_dtype != DType::F32 && kv_dtype != DType::BF16)
        fail("attention (cuda): k/v must be f32 or bf16, got ", dtype_name(kv_dtype));
    if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads)
        fail("attention (cuda): n_heads (", p.n_heads, ") must be a positive multiple of n_kv_heads (", p.n_kv_heads, ")");
    if (capacity <= 0 || capacity > INT32_MAX / 2 || p.window < 0) fail("attention (cuda): bad cache capacity ", capacity);
    if (!out || !q || !k || !v || !pos || !scratch) fail("attention (cuda): null device pointer");
    const int D = p.head_dim;
    const AttnArgs a = step_args(pos, capacity, p);
    const bool bf16 = kv_dtype == DType::BF16;
    const int cl = attention_cluster();
    const bool fast = aligned16(out) && aligned16(q) && aligned16(k) && aligned16(v) && (D == 32 || D == 64 || D == 128 || D == 256);
    if (fast && cl > 0) {
        switch (D) {
            case 32: cluster_decode<32>(out, q, k, v, bf16, a); break;
            case 64: cluster_decode<64>(out, q, k, v, bf16, a); break;
            case 128: cluster_decode<128>(out, q, k, v, bf16, a); break;
            default: cluster_decode<256>(out, q, k, v, bf16, a); break;
        }
    } else if (fast) {
        // The counters start zeroed (the caller allocates scratch with zeros) and every launch
        // leaves them zeroed.
        unsigned* done = reinterpret_cast<unsigned*>(scratch);
        float* part = scratch + step_counters(p);
        if (bf16) decode<__nv_bfloat16>(out, q, k, v, a, part, done);
        else decode<float>(out, q, k, v, a, part, done);
    } else {  // other head sizes (the tiny test models): the generic kernel, position read on the device too
        if (D > kGenericMaxD) fail("attention (cuda): head_dim ", D, " is over ", kGenericMaxD);
        if (bf16) generic<__nv_bfloat16>(out, q, k, v, a);
        else generic<float>(out, q, k, v, a);
    }
    check_launch("attention (cuda decode step)");
}

}  // namespace t2l::cuda
