// flash_attention.cu — prompt attention on the tensor cores with the scores kept on chip
// (the FlashAttention-2 scheme, written with mma.sync so it runs on sm_80 and sm_90).
//
// CPU twin: cpu::attention in src/ops/ops_cpu.cpp (the same function: visible keys, scale,
// soft-cap, softmax, weighted sum of v; see attention.cu's header for the rule).
//
// Rounding: q, k, v and the probabilities are bf16 and the products accumulate in f32, as in the
// cuBLAS path it replaces (attention.cu, "gemm") and in bf16 engines; the softmax is f32.
//
// One block of 4 warps per (head, 64-query tile); each warp owns 16 query rows. The Q tile is
// rounded to bf16 into shared memory once; K and V tiles of BK keys stream through two shared
// buffers (cp.async, the next tile in flight while this one is used). Per key tile, a warp:
//   S (16 x BK)  = Q Kᵀ          mma m16n8k16, Q from ldmatrix, K from ldmatrix (rows = keys)
//   s = scale·S, soft-capped, masked to -inf; in log2 units so exp2 does the exponentials
//   m' = max(m, rowmax s);  O ·= 2^(m - m');  l = l·2^(m - m') + Σ 2^(s - m')
//   O (16 x D)  += P V          P straight from S's registers (the accumulator layout of two
//                                 8-key tiles is the A layout of one 16-key step), V by ldmatrix.trans
// and at the end out = O / l (0 for a query that sees no key). Each lane holds two rows (g, g+8)
// of S and O; a row's max and sum are shared among the 4 lanes of a quad.
// Shared rows are padded by 16 bytes so the 8 rows an ldmatrix reads fall in different banks.
// Key tiles outside the whole query tile's visible range are skipped; masks are applied only on
// tiles that cross a row's range; query tiles run longest first (causal: the last ones).
#include <cuda_bf16.h>

#include "attention_common.cuh"
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kFlashBQ = 64;        // query rows per block
constexpr int kFlashThreads = 128;  // 4 warps x 16 rows
constexpr float kLog2e = 1.4426950408889634f;

template <int D>
struct FlashShape {
    static constexpr int BK = D >= 256 ? 32 : 64;  // keys per tile (D = 256: registers hold O of 256 wide)
    static constexpr int LD = D + 8;                // padded shared row, bf16 elements
    static constexpr size_t smem = (size_t)(kFlashBQ + 4 * BK) * LD * 2;  // Q, then K and V in 2 stages
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without a register round trip; zero-filled when !ok.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src), "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

// Four 8x8 bf16 matrices; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

// c (16 x 8, f32) += a (16 x 16, bf16) · b (16 x 8, bf16).
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
}

template <int D>
__global__ void __launch_bounds__(kFlashThreads)
    flash_attn_kernel(float* __restrict__ out, const float* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                      const __nv_bfloat16* __restrict__ v, AttnArgs a) {
    using S = FlashShape<D>;
    constexpr int BK = S::BK, LD = S::LD, BQ = kFlashBQ;
    extern __shared__ uint4 flash_smem[];
    __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(flash_smem);  // [BQ][LD]
    __nv_bfloat16* sK = sQ + BQ * LD;                                   // [2][BK][LD]
    __nv_bfloat16* sV = sK + 2 * BK * LD;                               // [2][BK][LD]

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
    const int h = blockIdx.x, kvh = h / a.group;
    const int64_t i0 = (int64_t)(gridDim.y - 1 - blockIdx.y) * BQ;  // longest tiles first
    const int64_t i_end = min(i0 + BQ, a.n);

    // Keys the tile needs: from the first row's first to the last row's last (both grow with i).
    // A tile that needs no mask lies inside every row's range: [last row's first, first row's last].
    int64_t lo, hi, f_last, l_first;
    visible(a, i0, &lo, &l_first);
    visible(a, i_end - 1, &f_last, &hi);
    // This thread's two rows and their ranges (rows past n get an empty range: zeros, not written).
    int64_t f0, l0, f1, l1;
    const int64_t r0 = i0 + warp * 16 + g, r1 = r0 + 8;
    visible(a, r0, &f0, &l0);
    visible(a, r1, &f1, &l1);
    if (r0 >= a.n) f0 = 1, l0 = 0;
    if (r1 >= a.n) f1 = 1, l1 = 0;

    pdl_wait();

    // K/V tile at key kt into stage st: BK rows of D bf16, zeros past t.
    auto load_kv = [&](int st, int64_t kt) {
        __nv_bfloat16* dk = sK + st * BK * LD;
        __nv_bfloat16* dv = sV + st * BK * LD;
#pragma unroll
        for (int c = tid; c < BK * D / 8; c += kFlashThreads) {
            const int r = c / (D / 8), col = (c % (D / 8)) * 8;
            const bool ok = kt + r < a.t;
            const int64_t off = (ok ? kt + r : 0) * a.kw + (int64_t)kvh * D + col;
            cp_async16(dk + r * LD + col, k + off, ok);
            cp_async16(dv + r * LD + col, v + off, ok);
        }
    };
    const int64_t kt0 = lo / BK * BK;
    if (kt0 <= hi) load_kv(0, kt0);
    cp_async_commit();

    // The Q tile, rounded to bf16 (rows past n: zeros).
    for (int c = tid; c < BQ * D / 4; c += kFlashThreads) {
        const int r = c / (D / 4), col = (c % (D / 4)) * 4;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i0 + r < a.n) x = *reinterpret_cast<const float4*>(q + (i0 + r) * a.qw + (int64_t)h * D + col);
        uint2 packed = make_uint2(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w));
        *reinterpret_cast<uint2*>(sQ + r * LD + col) = packed;
    }

    float o[D / 8][4];
#pragma unroll
    for (int j = 0; j < D / 8; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g and g + 8 (l: this lane's part)
    const float sl2 = a.scale * kLog2e, cap = a.softcap, inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;
    const __nv_bfloat16* qrow = sQ + (warp * 16 + (lane & 15)) * LD + (lane >> 4) * 8;

    int it = 0;
    for (int64_t kt = kt0; kt <= hi; kt += BK, it++) {
        if (kt + BK <= hi) load_kv((it + 1) & 1, kt + BK);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const __nv_bfloat16* tk = sK + (it & 1) * BK * LD;
        const __nv_bfloat16* tv = sV + (it & 1) * BK * LD;

        // S = Q Kᵀ: matrices of one ldmatrix_x4 on K are (keys j..j+7 | j+8..j+15) x (d 0-7 | 8-15).
        float s[BK / 8][4];
#pragma unroll
        for (int j = 0; j < BK / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t qa[4];
            ldmatrix_x4(qa, qrow + kk * 16);
#pragma unroll
            for (int j = 0; j < BK / 8; j += 2) {
                uint32_t kb[4];
                ldmatrix_x4(kb, tk + (j * 8 + (lane >> 4) * 8 + (lane & 7)) * LD + kk * 16 + ((lane >> 3) & 1) * 8);
                mma_bf16(s[j], qa, kb[0], kb[1]);
                mma_bf16(s[j + 1], qa, kb[2], kb[3]);
            }
        }

        // Scale, cap, mask; in log2 units.
        const bool full = kt >= f_last && kt + BK - 1 <= l_first;
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < BK / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float x = s[j][e];
                if (cap > 0.0f) x = cap * tanhf(x * a.scale * inv_cap) * kLog2e;
                else x *= sl2;
                if (!full) {
                    const int64_t key = kt + j * 8 + 2 * tq + (e & 1);
                    const bool in = e < 2 ? key >= f0 && key <= l0 : key >= f1 && key <= l1;
                    if (!in) x = -INFINITY;
                }
                s[j][e] = x;
                mx[e >> 1] = fmaxf(mx[e >> 1], x);
            }
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float base = mx[r] == -INFINITY ? 0.0f : mx[r];  // a row with nothing visible yet
            alpha[r] = exp2f(m[r] - base);
            m[r] = mx[r];
            mx[r] = base;
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int j = 0; j < D / 8; j++) {
            o[j][0] *= alpha[0], o[j][1] *= alpha[0];
            o[j][2] *= alpha[1], o[j][3] *= alpha[1];
        }

        // O += P V, 16 keys per step: P's A fragment is the probabilities of S tiles 2s and 2s+1.
#pragma unroll
        for (int st = 0; st < BK / 16; st++) {
            uint32_t pa[4];
            float p[2][4];
#pragma unroll
            for (int u = 0; u < 2; u++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    p[u][e] = exp2f(s[2 * st + u][e] - mx[e >> 1]);
                    l[e >> 1] += p[u][e];
                }
            pa[0] = pack_bf16(p[0][0], p[0][1]);
            pa[1] = pack_bf16(p[0][2], p[0][3]);
            pa[2] = pack_bf16(p[1][0], p[1][1]);
            pa[3] = pack_bf16(p[1][2], p[1][3]);
            // V (keys x d) transposed by ldmatrix: matrices (keys 0-7 | 8-15) x (d j..j+7 | j+8..j+15).
            const __nv_bfloat16* vrow = tv + (st * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + (lane >> 4) * 8;
#pragma unroll
            for (int j = 0; j < D / 8; j += 2) {
                uint32_t vb[4];
                ldmatrix_x4_trans(vb, vrow + j * 8);
                mma_bf16(o[j], pa, vb[0], vb[1]);
                mma_bf16(o[j + 1], pa, vb[2], vb[3]);
            }
        }
        __syncthreads();  // the stage is refilled two tiles on
    }
    cp_async_wait<0>();

    // out = O / l; l summed over the quad.
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float inv0 = l[0] > 0.0f ? 1.0f / l[0] : 0.0f, inv1 = l[1] > 0.0f ? 1.0f / l[1] : 0.0f;
    float* o0 = out + r0 * a.qw + (int64_t)h * D + 2 * tq;
    float* o1 = o0 + 8 * a.qw;
#pragma unroll
    for (int j = 0; j < D / 8; j++) {
        if (r0 < a.n) *reinterpret_cast<float2*>(o0 + j * 8) = make_float2(o[j][0] * inv0, o[j][1] * inv0);
        if (r1 < a.n) *reinterpret_cast<float2*>(o1 + j * 8) = make_float2(o[j][2] * inv1, o[j][3] * inv1);
    }
}

template <int D>
void launch_flash(float* out, const float* q, const __nv_bfloat16* k, const __nv_bfloat16* v, const AttnArgs& a) {
    constexpr size_t smem = FlashShape<D>::smem;
    static bool configured = [] {
        CUDA_CHECK(cudaFuncSetAttribute(flash_attn_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        return true;
    }();
    (void)configured;
    const dim3 grid((unsigned)a.n_heads, (unsigned)((a.n + kFlashBQ - 1) / kFlashBQ));
    launch_pdl(flash_attn_kernel<D>, grid, dim3(kFlashThreads), smem, out, q, k, v, a);
}

}  // namespace

bool flash_attention_takes(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }

void flash_attention(float* out, const float* q, const void* k_bf16, const void* v_bf16, const AttnArgs& a) {
    const auto* k = static_cast<const __nv_bfloat16*>(k_bf16);
    const auto* v = static_cast<const __nv_bfloat16*>(v_bf16);
    switch (a.head_dim) {
        case 64: launch_flash<64>(out, q, k, v, a); break;
        case 128: launch_flash<128>(out, q, k, v, a); break;
        case 256: launch_flash<256>(out, q, k, v, a); break;
        default: fail("attention (cuda flash): head_dim ", a.head_dim, " has no kernel (64, 128, 256)");
    }
}

}  // namespace t2l::cuda
