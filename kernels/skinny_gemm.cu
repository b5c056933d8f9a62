// skinny_gemm.cu — y (n, out) = x (n, in) · wᵀ (+ bias) for f32 weights and a few rows of x
// (2 <= n <= 64): the text encoder's tokens of one description and the hypernetwork's 32 layers
// (x 2 modules). Rows 33..64 of x are a second group of blocks (blockIdx.y) in the same launch.
//
// CPU twin: cpu::linear in src/ops/ops_cpu.cpp (f32 products, f32 sums).
//
// Such a product is a weight stream: every weight is used n times, so at n = 20 it needs
// 40 f32 FLOP per 4-byte weight, ~60 TFLOP/s at the HBM rate — the whole f32 FMA peak. So the
// tensor cores do the arithmetic, with f32 accuracy kept by the three-term split: each f32
// value is a = big + small with both halves in tf32 (10-bit mantissa, rounded to nearest), and
//   a·b ≈ big_a·big_b + big_a·small_b + small_a·big_b
// (the small·small term lies below f32 rounding; accumulation is f32 in the tensor core).
//
// The epilogue may apply an activation, or (glu) take a stacked gate|up weight whose 16-row tile is
// 8 rows of each half: a lane then holds both halves of its outputs and writes act(gate) ∘ up.
//
// Layout: mma.sync m16n8k8 with the weights as A (16 output rows) and xᵀ as B (8 rows of x).
// Each lane loads 16 bytes of a weight row (4 consecutive k) and 16 bytes of a row of x: the
// k8 steps use the 4 values in the order (k, k+1) -> (col t, col t+4) of the fragment, the same
// permutation for A and B, so the sum over k is unchanged and every load is one float4.
// A block of 4 warps owns 16 output rows and splits k between its warps; when the rows give fewer
// than ~1.5 blocks per SM, a cluster of ks blocks (sm_90) splits k further and block 0 of the
// cluster adds the others' totals through distributed shared memory. Every sum is taken in a
// fixed order: the result is deterministic, and there is no second launch.
// The tensor core truncates as it accumulates, so the error of one long mma chain grows with k
// (‖err‖/‖y‖ 3.6e-6 at k = 4096): each 32- or 64-wide k step starts from zero and is added into f32
// sums in the CUDA cores.
// Versions that earned their place (H200, gte-large encoder at ~20 tokens + the L hypernetwork):
//   (1) 4 warps x 16 rows per block, k split only across a cluster: 347-657 GB/s on the encoder's
//       products (too few warps in flight: 1-4 per SM with ~16 KB of loads each).
//   (2) the block's warps split k too: the encoder 2.33 -> 2.00 ms, the hypernetwork 1.20 ->
//       1.11 ms (warm, 15 tokens). Still 0.5-0.9 TB/s on the encoder's products under ncu: each
//       warp streams 2-8 KB with one batch of loads in flight and no pipelining across batches.
//   (3) 32 rows per warp for the heads: 323 -> 309 us for the 537 MB q head (x re-read half as often).
//   (4) the tf32 split by integer rounding instead of cvt.rna (a slow conversion unit): q head
//       275 -> 244 us, encoder products 2-8% faster; the same accuracy (‖err‖/‖y‖ 2.6e-7-5.5e-7).
//   (5) a sweep of rows per warp x cluster size (bench-kernels --only skinny) retuned the picks:
//       16 rows per warp everywhere (q head 244 -> 215 us, 2.5 TB/s) and less k splitting (the
//       encoder's four products of a layer 56 -> 45 us).
//   (6) up to 64 rows of x as two groups of blocks in one launch, so the hypernetwork runs its
//       trunk once for both modules (32 layers x 2): hypernetwork 0.82 -> 0.71-0.76 ms warm.
//   (7) epilogues (an activation; a gated pair of weight halves): the encoder's up|gate product and
//       the hypernetwork's SiLU layers lose their separate activation launches (describe 1.95 ->
//       1.91-1.94 ms warm).
//   Tried and dropped: the next step's weight loads issued before this step's products (two
//   register sets): slower at every shape (fewer warps fit; q head 215 -> 441 us). The weights
//   staged through shared memory by cp.async, 2 steps ahead (no registers held): slower too
//   (q head 217 -> 231 us, encoder up|gate 14.8 -> 18.3 us). Under ncu the encoder's 8192-row
//   product runs one wave at 25% occupancy with the SMs 35% busy and DRAM at 45%: neither
//   bound; the next step would share each x fragment's split among the warps of a block.
//   Also measured and dropped (sum over the six shapes of bench-kernels --only skinny, 400 us as
//   kept): the three products' small terms in their own accumulator (477 us; faster only on the
//   small split-k products, e.g. enc down 13.5 -> 12.8 us, slower on the heads, 217 -> 263 us),
//   x's fragments loaded one k block at a time to free registers (435 us), both (436 us), and
//   each of these with 8 k blocks per step (452-490 us).
#include <cooperative_groups.h>
#include <algorithm>

#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kWarps = 4;                // warps per block, each a slice of k of the block's 16 rows
constexpr int kMaxCluster = 8;           // the portable cluster size

// f's bits rounded to the nearest tf32 (ties away from zero) with integer ops: add half of tf32's
// last place to the magnitude, clear the 13 bits tf32 drops. (cvt.rna.tf32.f32 does the same in
// the conversion unit, at a fraction of the integer units' rate.)
__device__ __forceinline__ uint32_t tf32_round_bits(float f) { return (__float_as_uint(f) + 0x1000u) & 0xffffe000u; }

// f = big + small (+ what lies below tf32's precision of the remainder).
__device__ __forceinline__ void split_tf32(float f, uint32_t& big, uint32_t& small) {
    big = tf32_round_bits(f);
    small = tf32_round_bits(f - __uint_as_float(big));
}

// c (16 x 8) += a (16 x 8) · b (8 x 8), tf32 in, f32 accumulate.
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ float4 ld_stream_f4(const float* p) {
    const uint4 v = load_stream16(p);
    return make_float4(__uint_as_float(v.x), __uint_as_float(v.y), __uint_as_float(v.z), __uint_as_float(v.w));
}

__device__ __forceinline__ float4 pick_zero(bool ok, const float* p) {
    return ok ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

// One step of kUnroll 16-wide k blocks: the weight rows' loads (A: row g, B: row g + 8 of each
// 16-row tile), issued together. Past kb1 they give zeros.
template <int U, int RT>
__device__ __forceinline__ void load_w(float4 (&A)[U][RT], float4 (&B)[U][RT], const float* const (&wa)[RT],
                                       const float* const (&wb)[RT], int64_t kb, int64_t kb1) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        const bool ok = kb + u < kb1;
        const int64_t k = (kb + u) * 16;
#pragma unroll
        for (int rt = 0; rt < RT; rt++) {
            A[u][rt] = ok ? ld_stream_f4(wa[rt] + k) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            B[u][rt] = ok ? ld_stream_f4(wb[rt] + k) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
    }
}

// The matching fragments of x (row nt·8 + g of each 8-row tile; zeros past n and kb1).
template <int U, int NT>
__device__ __forceinline__ void load_x(float4 (&X)[U][NT], const float* const (&xr)[NT], const bool (&x_ok)[NT], int64_t kb,
                                       int64_t kb1) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) X[u][nt] = pick_zero(kb + u < kb1 && x_ok[nt], xr[nt] + (kb + u) * 16);
}

// sum += the step's products. The tensor core truncates as it accumulates, so its error grows with
// the length of the chain: the step's products are accumulated in c from zero, then added into
// sum in f32 (rounded).
template <int U, int NT, int RT>
__device__ __forceinline__ void mma_step(float (&sum)[RT][NT][4], const float4 (&A)[U][RT], const float4 (&B)[U][RT],
                                         const float4 (&X)[U][NT], int64_t kb, int64_t kb1) {
    float c[RT][NT][4];
#pragma unroll
    for (int rt = 0; rt < RT; rt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) c[rt][nt][0] = c[rt][nt][1] = c[rt][nt][2] = c[rt][nt][3] = 0.0f;
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (kb + u >= kb1) break;
#pragma unroll
        for (int h = 0; h < 2; h++) {  // k8 step h takes elements (2h, 2h + 1) of each float4
            uint32_t bb[NT][2], bs[NT][2];
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                split_tf32(h ? X[u][nt].z : X[u][nt].x, bb[nt][0], bs[nt][0]);  // k t,     x row g
                split_tf32(h ? X[u][nt].w : X[u][nt].y, bb[nt][1], bs[nt][1]);  // k t + 4, x row g
            }
#pragma unroll
            for (int rt = 0; rt < RT; rt++) {
                uint32_t ab[4], as[4];
                split_tf32(h ? A[u][rt].z : A[u][rt].x, ab[0], as[0]);  // row g,     col t
                split_tf32(h ? B[u][rt].z : B[u][rt].x, ab[1], as[1]);  // row g + 8, col t
                split_tf32(h ? A[u][rt].w : A[u][rt].y, ab[2], as[2]);  // row g,     col t + 4
                split_tf32(h ? B[u][rt].w : B[u][rt].y, ab[3], as[3]);  // row g + 8, col t + 4
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    mma_tf32(c[rt][nt], as, bb[nt]);  // the small terms first, then the large one
                    mma_tf32(c[rt][nt], ab, bs[nt]);
                    mma_tf32(c[rt][nt], ab, bb[nt]);
                }
            }
        }
    }
#pragma unroll
    for (int rt = 0; rt < RT; rt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) sum[rt][nt][e] += c[rt][nt][e];
}

// NT: 8-row tiles of x (n <= 8·NT); RT: 16-row tiles of w per warp (each x fragment serves RT
// weight tiles). Grid: ceil(out / (16·RT)) · ks blocks; ks consecutive blocks form a cluster over
// the same output rows, and block rank r with its warp w takes k slice r·kWarps + w.
template <int NT, int RT>
__global__ void __launch_bounds__(kWarps * 32) skinny_gemm_kernel(float* __restrict__ y, const float* __restrict__ x,
                                                                  const float* __restrict__ w,
                                                                  const float* __restrict__ bias, int n, int64_t in,
                                                                  int64_t out, int ks, bool accumulate, SkinnyEpilogue ep) {
    constexpr int U = RT == 1 ? 4 : 2;  // 16-wide k blocks per step
    pdl_wait();  // x (and y, when accumulating) only after the kernel before has finished
    // Blocks with blockIdx.y = 1 take x rows 32..63 (n up to 64: two groups of 32 in one launch).
    x += (int64_t)blockIdx.y * 32 * in;
    y += (int64_t)blockIdx.y * 32 * out;
    n = min(n - 32 * (int)blockIdx.y, 32);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;  // the fragment's row group and column in the group
    // The block's first output: a tile is 16 rows of w, which for glu are 8 outputs (rows g of the
    // first half, rows g + 8 of the second).
    const int64_t o0 = (int64_t)(blockIdx.x / ks) * (ep.glu ? 8 : 16) * RT;
    const int part = (int)(blockIdx.x % ks);
    // Rows past the end read the last row (never past w) and are not stored.
    const float* wa[RT];
    const float* wb[RT];
#pragma unroll
    for (int rt = 0; rt < RT; rt++) {
        if (ep.glu) {
            const int64_t o = min(o0 + 8 * rt + g, out - 1);
            wa[rt] = w + o * in + 4 * t;
            wb[rt] = w + (out + o) * in + 4 * t;
        } else {
            wa[rt] = w + min(o0 + 16 * rt + g, out - 1) * in + 4 * t;
            wb[rt] = w + min(o0 + 16 * rt + g + 8, out - 1) * in + 4 * t;
        }
    }
    const float* xr[NT];
    bool x_ok[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        x_ok[nt] = nt * 8 + g < n;
        xr[nt] = x + (x_ok[nt] ? nt * 8 + g : 0) * in + 4 * t;
    }
    const int slices = ks * kWarps, slice = part * kWarps + warp;
    const int64_t kblocks = in / 16, per = (kblocks + slices - 1) / slices;
    const int64_t kb0 = slice * per, kb1 = min(kblocks, kb0 + per);

    float sum[RT][NT][4];
#pragma unroll
    for (int rt = 0; rt < RT; rt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) sum[rt][nt][0] = sum[rt][nt][1] = sum[rt][nt][2] = sum[rt][nt][3] = 0.0f;

    for (int64_t kb = kb0; kb < kb1; kb += U) {
        float4 A[U][RT], B[U][RT], X[U][NT];
        load_w(A, B, wa, wb, kb, kb1);  // every load of the step in flight before any use
        load_x(X, xr, x_ok, kb, kb1);
        mma_step(sum, A, B, X, kb, kb1);
    }

    pdl_trigger();  // the next kernel may start its blocks while these reduce and store

    // The block's warps add their slices in warp order through shared memory.
    constexpr int kTile = RT * NT * 4 * 32;  // one warp's sums
    __shared__ float partial[kWarps][kTile];
#pragma unroll
    for (int rt = 0; rt < RT; rt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) partial[warp][((rt * NT + nt) * 4 + e) * 32 + lane] = sum[rt][nt][e];
    __syncthreads();
    float* mine = &partial[0][0];  // warp 0's slot receives the block's total
    for (int i = threadIdx.x; i < kTile; i += blockDim.x) {
        float s = mine[i];
#pragma unroll
        for (int v = 1; v < kWarps; v++) s += mine[v * kTile + i];
        mine[i] = s;
    }
    // Entry (rt, nt, e, lane): w row 16·rt + g (+ 8 for e >= 2), x row nt·8 + 2t + (e & 1).
    // total(i) is entry i's sum over the whole of k.
    auto store = [&](int i, auto total) {
        const int l = i % 32, e = (i / 32) % 4, nt = (i / 128) % NT, rt = i / (128 * NT);
        const int xrow = nt * 8 + 2 * (l & 3) + (e & 1);
        if (ep.glu) {  // e < 2 holds the first half's output, entry i + 64 (e + 2) the second's
            if (e >= 2) return;
            const int64_t o = o0 + 8 * rt + (l >> 2);
            if (o < out && xrow < n) {
                const float a = total(i), b = total(i + 64);
                y[(int64_t)xrow * out + o] = ep.act_on_second ? a * act_fn(b, ep.act) : act_fn(a, ep.act) * b;
            }
            return;
        }
        const int64_t row = o0 + 16 * rt + (l >> 2) + (e >= 2 ? 8 : 0);
        if (row < out && xrow < n) {
            float* dst = y + (int64_t)xrow * out + row;
            float v = total(i) + (bias ? bias[row] : 0.0f) + (accumulate ? *dst : 0.0f);
            *dst = ep.act >= 0 ? act_fn(v, ep.act) : v;
        }
    };
    if (ks == 1) {
        __syncthreads();
        for (int i = threadIdx.x; i < kTile; i += blockDim.x) store(i, [&](int j) { return mine[j]; });
        return;
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // Split over a cluster: block 0 adds the other blocks' totals, in rank order, from their
    // shared memory.
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    if (part == 0) {
        auto cluster_total = [&](int j) {
            float v[kMaxCluster];  // all remote loads in flight, then the sum in rank order
#pragma unroll
            for (int r = 0; r < kMaxCluster; r++) v[r] = r < ks ? cluster.map_shared_rank(mine, r)[j] : 0.0f;
            float s = 0.0f;
#pragma unroll
            for (int r = 0; r < kMaxCluster; r++) s += v[r];
            return s;
        };
        for (int i = threadIdx.x; i < kTile; i += blockDim.x) store(i, cluster_total);
    }
    cluster.sync();  // the other blocks' shared memory stays until block 0 has read it
#endif
}

template <int NT, int RT>
void launch(float* y, const float* x, const float* w, const float* bias, int64_t n, int64_t in, int64_t out, int ks,
            bool accumulate, SkinnyEpilogue ep) {
    const int64_t per_tile = (ep.glu ? 8 : 16) * RT, tiles = (out + per_tile - 1) / per_tile;
    // A cluster when k is split; programmatic dependent launch when on (the blocks start while
    // the kernel before drains, and wait at pdl_wait).
    const unsigned groups = (unsigned)((n + 31) / 32);  // of 32 rows of x, side by side in the grid
    launch_pdl_cluster(skinny_gemm_kernel<NT, RT>, dim3((unsigned)(tiles * ks), groups), dim3(kWarps * 32), 0, ks, y, x,
                       w, bias, (int)n, in, out, ks, accumulate, ep);
}

SkinnyConfig g_config;  // set_skinny_config (benchmarks); the defaults otherwise

bool skinny_disabled() {
    static const bool off = env_is("T2L_SKINNY", "0");
    return off;
}

}  // namespace

void set_skinny_config(const SkinnyConfig* c) { g_config = c ? *c : SkinnyConfig{}; }

bool linear_skinny(float* y, const float* x, const float* w, const float* bias, int64_t n, int64_t in, int64_t out,
                   bool accumulate, SkinnyEpilogue ep) {
    if (skinny_disabled() || n < 2 || n > 64 || in % 16 || in > INT32_MAX || out <= 0 || !aligned16(x) || !aligned16(w))
        return false;
    if (ep.act > 2 || (ep.act >= 0 && accumulate) || (ep.glu && (ep.act < 0 || bias || accumulate)))
        fail("linear (cuda skinny GEMM): an epilogue it does not take (act ", ep.act, ", glu ", ep.glu, ")");
    const bool clusters = sm90_or_newer();
    // 16 rows per warp; k split over a cluster while the blocks stay under ~3 per SM (with ks
    // doubled) and each warp keeps >= 2 k blocks. Measured (bench-kernels --only skinny): more
    // splitting costs more in reductions and cluster syncs than it gains in loads in flight.
    const SkinnyConfig& cf = g_config;
    const int RT = cf.rows_per_warp ? cf.rows_per_warp : 1;
    const int64_t per_tile = (ep.glu ? 8 : 16) * RT;  // outputs per tile of 16·RT weight rows
    const int64_t tiles = (out + per_tile - 1) / per_tile * ((n + 31) / 32), kblocks = in / 16;
    int ks = 1;
    while (clusters && ks < kMaxCluster && tiles * ks * 2 <= cf.blocks_per_sm * sm_count() &&
           kblocks >= cf.min_kblocks_per_warp * kWarps * ks * 2)
        ks *= 2;
    if (cf.ks) ks = clusters ? std::min(cf.ks, kMaxCluster) : 1;
    const int NT = (int)((std::min<int64_t>(n, 32) + 7) / 8);
#define T2L_SKINNY_CASE(NT_, RT_) \
    if (NT == NT_ && RT == RT_) launch<NT_, RT_>(y, x, w, bias, n, in, out, ks, accumulate, ep);
    T2L_SKINNY_CASE(1, 1) T2L_SKINNY_CASE(2, 1) T2L_SKINNY_CASE(3, 1) T2L_SKINNY_CASE(4, 1)
    T2L_SKINNY_CASE(1, 2) T2L_SKINNY_CASE(2, 2) T2L_SKINNY_CASE(3, 2) T2L_SKINNY_CASE(4, 2)
#undef T2L_SKINNY_CASE
    check_launch("linear (cuda skinny GEMM)");
    return true;
}

}  // namespace t2l::cuda
