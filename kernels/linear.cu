// linear.cu — y (n, out) = x (n, in) · wᵀ + bias on the GPU, and the device workspace.
//
// CPU twin: cpu::linear in src/ops/ops_cpu.cpp (f32 x, weights widened to f32, f32 sums).
//
// Two regimes, one op:
//   n <= 8 (decode): memory-bound on w, which is read exactly once. gemv_kernel: each warp owns
//     R consecutive output rows; every lane streams 16-byte chunks of those rows (8 bf16/f16
//     or 4 f32) with U chunks per row in flight before the first use, widens them in registers
//     and multiplies by f32 x (read through L1, shared by every warp of the SM); a warp
//     shuffle-reduction ends each row. The product is exact f32 x times the stored weight, so
//     it matches the CPU to f32 rounding (different summation order only).
//   f32 weights, n = 2..64 (the encoder's tokens, the hypernetwork's layers): skinny_gemm.cu,
//     tensor cores with a three-term tf32 split (f32 accuracy); below, where it does not apply.
//   n > 8 (prefill): compute-bound. cuBLAS multiplies with f32 accumulation and f32 output
//     (cublasGemmEx, CUBLAS_COMPUTE_32F); f32 weights use the same call in plain f32 (no TF32).
//     For bf16/f16 weights x must be narrowed too: by default it is rounded once (2^-9 relative
//     per product for bf16, what bf16 engines do); T2L_GEMM=split (or set_gemm_split) splits it
//     into two narrow halves multiplied twice (accurate to ~1e-5 relative, twice the work).
//     f16 weights: activations beyond ±65504 would overflow when rounded; the models here
//     keep f16 checkpoints' activations far inside that.
// Versions that earned their place (H200; bf16 4096x14336 = 117.5 MB; GPU time, launches back to
// back; tools/bench_kernels.cu):
//   (1) one warp per row, 8 loads of 16 bytes in flight per lane: 35.4 us, 69% of 4.8 TB/s.
//   (2) from a sweep of rows per warp R, loads in flight U, block size and an L2 256-byte prefetch
//       hint: U=8 over-subscribes (slower than U=4, even than U=1). Now a warp per row with U=4
//       while a warp per row fits on the GPU at once (down_proj: 30.3 us, 80.7%), else 4 rows per
//       warp with U=2 so the grid is one wave (gate/up 14336x4096: 29.9 us, 81.9%; lm_head 1.05 GB:
//       237 us, 92.3%). The prefetch hint and block sizes 128/256/512 gained nothing.
//   What is left is a fixed ~4 us a launch (launch gap, ramp-up, drain; k_proj's 8.4 MB take
//   6.8 us): CUDA graphs, programmatic dependent launch or fused q|k|v and gate|up weights remove it.
//   (3) programmatic dependent launch, the next kernel released after the main loop: Llama-8B decode
//       201.9 -> 205.2 tok/s. Released at the start: 197.0; plus an L2 prefetch of the first weight
//       lines before waiting: 194.5 (the early blocks hold SMs the running kernel still needs).
//   (4) with the release after the main loop kept: an L2 prefetch of the first 256 B - 8 KB of each
//       weight row before waiting, for every GEMV, for the o projection alone (while attention
//       runs) or for those after a norm: 227.5 - 232.3 tok/s against 230.6 (no gain; worse above 1 KB).
//   (5) a GEMV launched early requests its first U chunks of each row into registers before it
//       waits (weights are not activations), so after the wait only x's L2 round trip precedes the
//       first multiply, and a block that lands as the kernel before drains has its loads in
//       flight. Llama-8B decode, one machine: 226.9 tok/s with every GEMV launched plainly, 229.0 -
//       230.8 with those after a norm or the attention early (q|k|v, o, gate|up), 232.7 - 234.1
//       when they request their first weights before waiting; on another 232.0 - 233.2 -> 234.5 -
//       234.9 with down early too (the LM head stays plain: decoder.cpp). Gemma-2-2b 458 -> 470.
//       The hoisted first batch raised the warp-per-row form from 36 to 47 registers, so q|k|v
//       (6144 rows) no longer fits one wave and takes 4 rows per warp. Tried and dropped on one
//       machine against 231.1 - 231.9 tok/s: launch bounds holding that form to 40 registers (q|k|v
//       a warp per row again) 225.5 - 227.0; two batches requested before the wait 228.8 - 229.5
//       (Gemma-2-2b 453 and 460 against 463 - 467).
//   Tried and dropped: a streaming form for n = 1 (bf16, projections and gate|up): a grid of 1-4
//       blocks of 8 warps per SM (leaving room for the next kernel), rows grid-stride, each warp's
//       first chunks requested before pdl_wait and the next kernel released at once, so its blocks
//       land beside this one with their weights in flight. Llama-8B decode 114.5 - 228.6 tok/s
//       against 234.5 (16 R x U forms): a GEMV needs the whole GPU's warps to reach bandwidth, so
//       there is no room to lend to the next launch.
//   Tried and dropped: a bulk-copy GEMV for n = 1 bf16 (y = W x, y += W x, gate|up + activation):
//       one block per SM of a producer warp and 8 consumer warps (fused_step.cu's layout) with a
//       96 KB ring, small enough that two fit on an SM, so under PDL the next projection's block
//       sits beside the running kernels and fills its ring before its input exists; sums added
//       in a fixed order (deterministic). Llama-8B decode 229.7 - 234.0 tok/s against 233.6 -
//       235.2, Gemma-2-2b 385 against 449; alone on the 1.05 GB LM head it streams 4.16 TB/s
//       against this kernel's 4.43 (96 KB in flight per SM is too little at ~3 us loaded
//       latency), and asking L2 for 2 - 16 tiles beyond the ring made it slower still (230 - 212).
//   Tried and dropped: a deferred RMSNorm (rms_norm(x)·wᵀ = ((x∘g)·wᵀ)/rms): o_proj and down_proj
//       added into the residual and left x∘g and per-block pieces of Σx², the next GEMV summed the
//       pieces and scaled its sums, so no norm launch (2 per layer fewer). Pieces of 8 rows read
//       at each warp's end: 231.9 -> 233.2 tok/s (+0.6%, not worth four more ops); pieces of 32
//       rows (1024-thread producer blocks) loaded as each warp starts: 219.9 (slower).
//   Tried and dropped: the RMSNorm before a projection folded into its GEMV (every warp reads all
//   of x, so it summed x² as it went, read the norm weight beside x and scaled its sums at the
//   end; o and down added straight into the residual): 6 launches a Llama layer instead of 8, but
//   Llama-8B decode went from 220.1 to 205.7 tok/s (a second f32 load and a multiply per weight
//   chunk cost more than the two launches).
//   Tried and dropped: the GEMV widened to 9..32 rows of x for f32 weights (the encoder's ~20
//   tokens) in place of cuBLAS's split-K pair: the gte-large encoder went from 2.55 to 7.55 ms
//   (every row of x re-read from L1 per weight chunk, 2 x 32 accumulators per lane).
//   n = 2..8: every warp re-reads x from L1 per weight row, so R=2 (n <= 4) or R=4 (n > 4):
//   72%, 59%, 43% of 4.8 TB/s at n = 2, 4, 8 on down_proj.
// Rows whose length or base is not 16-byte aligned take the same kernel with scalar loads.
#include <cstdlib>
#include <string>
#include <cublas_v2.h>

#include <atomic>
#include <mutex>

#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

// ---- workspace ------------------------------------------------------------------------------

void* workspace(WorkspaceSlot slot, size_t bytes) {
    static void* buf[kWsSlots] = {};
    static size_t cap[kWsSlots] = {};
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (bytes <= cap[slot]) return buf[slot];
    if (buf[slot]) {
        CUDA_CHECK(cudaDeviceSynchronize());  // queued kernels may still read the old buffer
        CUDA_CHECK(cudaFree(buf[slot]));
        buf[slot] = nullptr;
        cap[slot] = 0;
    }
    const size_t want = bytes + bytes / 4;  // headroom so a slowly growing size reallocates rarely
    const cudaError_t err = cudaMalloc(&buf[slot], want);
    if (err != cudaSuccess) fail("CUDA workspace: cannot allocate ", want, " bytes: ", cudaGetErrorString(err));
    cap[slot] = want;
    return buf[slot];
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

namespace {
std::atomic<int> g_pdl{-1};  // -1: not decided yet
}

bool pdl_enabled() {
    int v = g_pdl.load(std::memory_order_relaxed);
    if (v < 0) {
        v = sm90_or_newer() && !env_is("T2L_PDL", "0") ? 1 : 0;
        g_pdl.store(v, std::memory_order_relaxed);
    }
    return v == 1;
}

void pdl_unsupported() { g_pdl.store(0, std::memory_order_relaxed); }

namespace {
thread_local bool t_gemv_pdl = true;  // GemvPdl's setting for this thread
}
bool gemv_pdl() {
    static const int forced = env_is("T2L_PDL", "nogemv") ? 0 : env_is("T2L_PDL", "1") ? 1 : -1;
    return forced >= 0 ? forced == 1 : t_gemv_pdl;
}
GemvPdl::GemvPdl(bool allow) : saved_(t_gemv_pdl) { t_gemv_pdl = allow; }
GemvPdl::~GemvPdl() { t_gemv_pdl = saved_; }

int sm_count() {
    static const int n = [] {
        int dev = 0, c = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev));
        return c;
    }();
    return n;
}

bool sm90_or_newer() {
    static const bool yes = [] {
        int dev = 0, major = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        return major >= 9;
    }();
    return yes;
}

namespace {

// ---- GEMV (n <= 8) --------------------------------------------------------------------------

// A GEMV requests its first weights before it waits for the kernel before (header, (5); when it
// was launched plainly the wait returns at once); T2L_GEMV_EARLY=0 waits first.
bool gemv_wait_late() {
    static const bool on = !env_is("T2L_GEMV_EARLY", "0");
    return on;
}

// A GEMV launch: early (programmatic dependent launch) unless this thread's GemvPdl says not.
template <typename... Params, typename... Args>
void launch_gemv_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args) {
    if (gemv_pdl()) launch_pdl(kernel, grid, block, 0, args...);
    else kernel<<<grid, block>>>(static_cast<Params>(args)...);
}

// acc[r][i] (this lane's share) = sum over its k of x[i*in + k] * wr[r][k], for R rows of w and
// N rows of x: the main loop every GEMV below shares. The caller has waited for x (pdl_wait), or
// with wait_late this waits itself once the first weights are requested (they are not activations).
template <typename W, int N, int R, int U, bool VEC, bool PF = false>
__device__ __forceinline__ void gemv_rows(float (&acc)[R][N], const float* __restrict__ x, const W* const (&wr)[R],
                                          int64_t in, bool wait_late) {
    constexpr int E = VEC ? Pack16<W>::n : 1;  // weights per chunk
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < N; i++) acc[r][i] = 0.0f;
    if constexpr (VEC) {
        const int64_t chunks = in / E;
        uint4 wv[U][R];
        auto fetch = [&](int64_t c0) {
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int r = 0; r < R; r++)
                    wv[u][r] = c0 + 32 * u < chunks ? load_stream16<PF>(wr[r] + (c0 + 32 * u) * E) : make_uint4(0, 0, 0, 0);
        };
        fetch(lane);
        if (wait_late) pdl_wait();
        for (int64_t c0 = lane; c0 < chunks; c0 += 32 * U) {
            if (c0 != lane) fetch(c0);
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int64_t c = c0 + 32 * u;
                if (c >= chunks) break;
                float wf[R][E];
#pragma unroll
                for (int r = 0; r < R; r++) Pack16<W>::unpack(wv[u][r], wf[r]);
#pragma unroll
                for (int i = 0; i < N; i++) {
                    float xv[E];
                    const float4* xp = reinterpret_cast<const float4*>(x + i * in + c * E);
#pragma unroll
                    for (int q = 0; q < E / 4; q++) {
                        const float4 f = __ldg(xp + q);
                        xv[4 * q] = f.x;
                        xv[4 * q + 1] = f.y;
                        xv[4 * q + 2] = f.z;
                        xv[4 * q + 3] = f.w;
                    }
#pragma unroll
                    for (int r = 0; r < R; r++)
#pragma unroll
                        for (int e = 0; e < E; e++) acc[r][i] = fmaf(wf[r][e], xv[e], acc[r][i]);
                }
            }
        }
    } else {
        if (wait_late) pdl_wait();
        for (int64_t k0 = lane; k0 < in; k0 += 32 * U) {
            float wf[U][R];
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int r = 0; r < R; r++) wf[u][r] = k0 + 32 * u < in ? to_float(wr[r][k0 + 32 * u]) : 0.0f;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int64_t k = k0 + 32 * u;
                if (k >= in) break;
#pragma unroll
                for (int i = 0; i < N; i++) {
                    const float xv = __ldg(x + i * in + k);
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][i] = fmaf(wf[u][r], xv, acc[r][i]);
                }
            }
        }
    }
}

// y[r*out + o] = sum_k x[r*in + k] * w[o*in + k] + bias[o] for r < N: what warp `warp` of the grid
// computes, R rows of w. The caller has waited for x (pdl_wait).
template <typename W, int N, int R, int U, bool VEC, bool PF = false>
__device__ __forceinline__ void gemv_warp(float* __restrict__ y, const float* __restrict__ x, const W* __restrict__ w,
                                          const float* __restrict__ bias, int64_t in, int64_t out, bool accumulate,
                                          int64_t warp, bool wait_late) {
    const int lane = threadIdx.x & 31;
    const int64_t row0 = warp * R;
    if (row0 >= out) return;
    const W* wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = w + (row0 + r < out ? row0 + r : out - 1) * in;  // clamp: never read past w
    float acc[R][N];
    gemv_rows<W, N, R, U, VEC, PF>(acc, x, wr, in, wait_late);
    // The next kernel may launch now: its blocks take the SMs this one leaves during the reduction
    // and stores. (Earlier triggers, and L2 prefetches of the next weights while waiting, measured
    // slower: their blocks sit on SMs this kernel still needs.)
    pdl_trigger();
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < N; i++) {
            const float s = warp_sum(acc[r][i]);
            if (lane == 0 && row0 + r < out) {
                float* dst = y + i * out + row0 + r;
                *dst = s + (bias ? bias[row0 + r] : 0.0f) + (accumulate ? *dst : 0.0f);
            }
        }
}

template <typename W, int N, int R, int U, bool VEC, bool PF = false>
__global__ void gemv_kernel(float* __restrict__ y, const float* __restrict__ x, const W* __restrict__ w,
                            const float* __restrict__ bias, int64_t in, int64_t out, bool accumulate, bool wait_late) {
    if (!wait_late) pdl_wait();  // launched early (PDL): x and y only after the previous kernel is done
    gemv_warp<W, N, R, U, VEC, PF>(y, x, w, bias, in, out, accumulate, ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5,
                                   wait_late);
}

// Two products of one row x in one launch: y = x wᵀ (the first warps1 warps, R rows each) and
// y2 = x w2ᵀ with f32 w2 (a warp per row after them). The decode step multiplies an unmerged
// LoRA's A with the projection's input this way: no launch of its own.
template <typename W, int R, int U>
__global__ void gemv_pair_kernel(float* __restrict__ y, const float* __restrict__ x, const W* __restrict__ w, int64_t in,
                                 int64_t out, float* __restrict__ y2, const float* __restrict__ w2, int64_t out2,
                                 int64_t warps1, bool wait_late) {
    if (!wait_late) pdl_wait();
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    if (warp < warps1) gemv_warp<W, 1, R, U, true>(y, x, w, nullptr, in, out, false, warp, wait_late);
    else gemv_warp<float, 1, 1, 4, true>(y2, x, w2, nullptr, in, out2, false, warp - warps1, wait_late);
}

// y (inter) = act(x · gateᵀ) ∘ (x · upᵀ) for one row x and the stacked gate|up weight (2·inter, in):
// warp w owns outputs [w·P, w·P + P) and reads their gate rows and the matching up rows, so the
// activation is applied as the sums are reduced: the decode step's act_mul launch disappears.
template <typename W, int P, int U>
__global__ void gemv_glu_kernel(float* __restrict__ y, const float* __restrict__ x, const W* __restrict__ w, int64_t in,
                                int64_t inter, int act, bool wait_late) {
    if (!wait_late) pdl_wait();
    const int lane = threadIdx.x & 31;
    const int64_t p0 = (((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5) * P;
    if (p0 >= inter) return;  // (a block whose warps all return here reads nothing of the last kernel's)
    const W* wr[2 * P];
#pragma unroll
    for (int p = 0; p < P; p++) {
        const int64_t o = p0 + p < inter ? p0 + p : inter - 1;  // clamp: never read past w
        wr[p] = w + o * in;
        wr[P + p] = w + (inter + o) * in;
    }
    float acc[2 * P][1];
    gemv_rows<W, 1, 2 * P, U, true>(acc, x, wr, in, wait_late);
    pdl_trigger();
    float s[2 * P];
#pragma unroll
    for (int r = 0; r < 2 * P; r++) s[r] = warp_sum(acc[r][0]);
    if (lane == 0)
#pragma unroll
        for (int p = 0; p < P; p++)
            if (p0 + p < inter) y[p0 + p] = act_fn(s[p], act) * s[P + p];
}

// A GEMV instantiation: how to launch it, and how many of its warps the whole GPU holds at once.
struct GemvKernel {
    void (*launch)(float*, const float*, const void*, const float*, int64_t, int64_t, bool, int) = nullptr;
    int64_t (*resident_warps)(int threads) = nullptr;
};

template <typename W, int N, int R, int U, bool VEC, bool PF>
void launch_gemv(float* y, const float* x, const void* w, const float* bias, int64_t in, int64_t out, bool accumulate,
                 int threads) {
    const int64_t warps = (out + R - 1) / R;
    const int64_t blocks = (warps * 32 + threads - 1) / threads;
    launch_gemv_kernel(gemv_kernel<W, N, R, U, VEC, PF>, dim3((unsigned)blocks), dim3(threads), y, x, static_cast<const W*>(w),
                       bias, in, out, accumulate, gemv_wait_late());
}

template <typename W, int N, int R, int U, bool VEC, bool PF>
int64_t resident_warps(int threads) {
    static const int64_t per_sm_256 = [] {
        int b = 0;
        CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, gemv_kernel<W, N, R, U, VEC, PF>, 256, 0));
        return (int64_t)b * 256 / 32;
    }();
    if (threads == 256) return per_sm_256 * sm_count();
    int b = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, gemv_kernel<W, N, R, U, VEC, PF>, threads, 0));
    return (int64_t)b * threads / 32 * sm_count();
}

template <typename W, int N, int R, int U, bool VEC, bool PF = false>
GemvKernel make_gemv() {
    GemvKernel k;
    k.launch = &launch_gemv<W, N, R, U, VEC, PF>;
    k.resident_warps = &resident_warps<W, N, R, U, VEC, PF>;
    return k;
}

// Defaults, from the sweep in tools/bench_kernels.cu on the H200 (numbers in its header).
// n = 1: a warp per row with 4 loads in flight while all the rows' warps fit on the GPU at once
// (one wave, every warp streams from start to end); otherwise 4 rows per warp with 2 loads each,
// which brings the 14336-row projections back to one wave.
constexpr int kN1SmallR = 1, kN1SmallU = 4, kN1LargeR = 4, kN1LargeU = 2;
// n = 2..8: x is re-read from L1 for every weight row, so more rows per warp pay for themselves.
constexpr int default_rows_per_warp(int n) { return n <= 4 ? 2 : 4; }
constexpr int default_unroll(int n) { return n <= 2 ? 4 : 2; }

template <typename W, int N>
GemvKernel pick_default(bool vec, bool large) {
    if constexpr (N == 1) {
        if (large) return vec ? make_gemv<W, 1, kN1LargeR, kN1LargeU, true>() : make_gemv<W, 1, kN1LargeR, kN1LargeU, false>();
        return vec ? make_gemv<W, 1, kN1SmallR, kN1SmallU, true>() : make_gemv<W, 1, kN1SmallR, kN1SmallU, false>();
    } else {
        constexpr int R = default_rows_per_warp(N), U = default_unroll(N);
        return vec ? make_gemv<W, N, R, U, true>() : make_gemv<W, N, R, U, false>();
    }
}

template <typename W>
GemvKernel pick_for_n(int64_t n, bool vec, bool large) {
    switch (n) {
        case 1: return pick_default<W, 1>(vec, large);
        case 2: return pick_default<W, 2>(vec, large);
        case 3: return pick_default<W, 3>(vec, large);
        case 4: return pick_default<W, 4>(vec, large);
        case 5: return pick_default<W, 5>(vec, large);
        case 6: return pick_default<W, 6>(vec, large);
        case 7: return pick_default<W, 7>(vec, large);
        default: return pick_default<W, 8>(vec, large);
    }
}

GemvKernel pick_dtype(DType wt, int64_t n, bool vec, bool large) {
    return wt == DType::BF16 ? pick_for_n<__nv_bfloat16>(n, vec, large)
         : wt == DType::F16  ? pick_for_n<__half>(n, vec, large)
                             : pick_for_n<float>(n, vec, large);
}

// The sweep's extra instantiations (bf16 weights, aligned rows): (n, R, U, L2 prefetch).
#define T2L_GEMV_SWEEP(X)                                                                                   \
    X(1, 1, 1, false) X(1, 1, 2, false) X(1, 1, 4, false) X(1, 1, 8, false) X(1, 2, 2, false)              \
    X(1, 2, 4, false) X(1, 2, 8, false) X(1, 4, 1, false) X(1, 4, 2, false) X(1, 4, 4, false)              \
    X(1, 1, 4, true) X(1, 4, 2, true) X(2, 1, 4, false) X(2, 2, 2, false) X(2, 2, 4, false)                \
    X(2, 4, 2, false) X(4, 1, 4, false) X(4, 2, 2, false) X(4, 2, 4, false) X(4, 4, 1, false)              \
    X(4, 4, 2, false) X(8, 1, 2, false) X(8, 2, 2, false) X(8, 2, 4, false) X(8, 4, 1, false)              \
    X(8, 4, 2, false) X(8, 8, 1, false)

GemvKernel pick_sweep_bf16(int64_t n, int R, int U, bool pf) {
#define T2L_GEMV_PICK(N_, R_, U_, PF_) \
    if (n == N_ && R == R_ && U == U_ && pf == PF_) return make_gemv<__nv_bfloat16, N_, R_, U_, true, PF_>();
    T2L_GEMV_SWEEP(T2L_GEMV_PICK)
#undef T2L_GEMV_PICK
    return GemvKernel{};
}

// bias (out) in any float dtype -> f32 in the workspace, so the kernels read one type.
__global__ void widen_kernel(float* dst, const void* src, DType t, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = load_any(src, t, i);
}

const float* bias_f32(const void* bias, DType bt, int64_t out) {
    if (!bias) return nullptr;
    if (bt == DType::F32) return static_cast<const float*>(bias);
    float* b = static_cast<float*>(workspace(kWsLinearBias, (size_t)out * 4));
    widen_kernel<<<grid_for(out, 256), 256>>>(b, bias, bt, out);
    check_launch("linear (bias)");
    return b;
}

void check_common(const float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n,
                  int64_t in, int64_t out) {
    if (wt != DType::F32 && wt != DType::BF16 && wt != DType::F16)
        fail("linear (cuda): weights must be f32, bf16 or f16, got ", dtype_name(wt));
    if (bias && bt != DType::F32 && bt != DType::BF16 && bt != DType::F16)
        fail("linear (cuda): bias must be f32, bf16 or f16, got ", dtype_name(bt));
    if (n < 0 || in <= 0 || out <= 0) fail("linear (cuda): bad sizes n=", n, " in=", in, " out=", out);
    if (n > 0 && (!y || !x || !w)) fail("linear (cuda): null device pointer");
}

// ---- GEMM (n > 8) ---------------------------------------------------------------------------

__global__ void round_rows_kernel_bf16(__nv_bfloat16* dst, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}
__global__ void round_rows_kernel_f16(__half* dst, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}
// x = hi + lo with both halves in the narrow type (see linear_gemm).
__global__ void split_kernel_bf16(__nv_bfloat16* hi, __nv_bfloat16* lo, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const __nv_bfloat16 h = __float2bfloat16_rn(src[i]);
        hi[i] = h;
        lo[i] = __float2bfloat16_rn(src[i] - __bfloat162float(h));
    }
}
__global__ void split_kernel_f16(__half* hi, __half* lo, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const __half h = __float2half_rn(src[i]);
        hi[i] = h;
        lo[i] = __float2half_rn(src[i] - __half2float(h));
    }
}
// T2L_GEMM=split: x in two rounded halves (f32-level accuracy); the default rounds x once, as
// bf16 inference engines and HF's bf16 models do. set_gemm_split() overrides it (tests).
std::atomic<int> g_gemm_split{-1};  // -1: not decided yet
bool gemm_split_x() {
    int v = g_gemm_split.load();
    if (v < 0) {
        v = env_is("T2L_GEMM", "split") ? 1 : 0;
        g_gemm_split.store(v);
    }
    return v == 1;
}

// Four at a time when x is 16-byte aligned and n4 = n / 4 (the tail goes through the kernel above).
__global__ void round4_kernel_bf16(__nv_bfloat162* dst, const float4* src, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        const float4 f = src[i];
        dst[2 * i] = __floats2bfloat162_rn(f.x, f.y);
        dst[2 * i + 1] = __floats2bfloat162_rn(f.z, f.w);
    }
}
__global__ void round4_kernel_f16(__half2* dst, const float4* src, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        const float4 f = src[i];
        dst[2 * i] = __floats2half2_rn(f.x, f.y);
        dst[2 * i + 1] = __floats2half2_rn(f.z, f.w);
    }
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t out) {
    const int64_t total = n * out;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += bias[i % out];
}

cublasHandle_t cublas() {
    static cublasHandle_t h = [] {
        cublasHandle_t c = nullptr;
        const cublasStatus_t st = cublasCreate(&c);
        if (st != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: cannot create a handle: ", cublasGetStatusString(st));
        // Default math: f32 GEMMs stay f32 (no TF32), the bf16/f16 ones use the tensor cores.
        cublasSetMathMode(c, CUBLAS_DEFAULT_MATH);
        cublasSetStream(c, cudaStreamPerThread);  // the stream every kernel here runs on
        return c;
    }();
    return h;
}

}  // namespace

cublasHandle_t cublas_handle() { return cublas(); }

void set_gemm_split(bool split) { g_gemm_split.store(split ? 1 : 0); }
bool gemm_split() { return gemm_split_x(); }

GemvConfig gemv_default_config(int64_t n, int64_t out, DType wt) {
    GemvConfig c;
    c.threads = 256;
    c.l2_prefetch = false;
    if (n == 1) {
        // One wave if a warp per row fits on the GPU at once, else 4 rows per warp.
        const GemvKernel small = pick_dtype(wt, 1, true, false);
        const bool fits = out <= small.resident_warps(c.threads);
        c.rows_per_warp = fits ? kN1SmallR : kN1LargeR;
        c.unroll = fits ? kN1SmallU : kN1LargeU;
    } else {
        static constexpr int r[9] = {0, 0, default_rows_per_warp(2), default_rows_per_warp(3), default_rows_per_warp(4),
                                     default_rows_per_warp(5), default_rows_per_warp(6), default_rows_per_warp(7),
                                     default_rows_per_warp(8)};
        static constexpr int u[9] = {0, 0, default_unroll(2), default_unroll(3), default_unroll(4), default_unroll(5),
                                     default_unroll(6), default_unroll(7), default_unroll(8)};
        c.rows_per_warp = r[n < 8 ? n : 8];
        c.unroll = u[n < 8 ? n : 8];
    }
    return c;
}

void linear_gemv(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n,
                 int64_t in, int64_t out, const GemvConfig& cfg, bool accumulate) {
    check_common(y, x, w, wt, bias, bt, n, in, out);
    if (n < 1 || n > 8) fail("linear (cuda GEMV): n must be 1..8, got ", n);
    if (cfg.threads < 32 || cfg.threads > 1024 || cfg.threads % 32) fail("linear (cuda GEMV): bad block size ", cfg.threads);
    const size_t chunk_elems = 16 / dtype_size(wt);
    const bool vec = in % (int64_t)chunk_elems == 0 && aligned16(w) && aligned16(x);  // rows of w and x stay 16-byte aligned
    GemvKernel k;
    if (!cfg.l2_prefetch && n == 1 && cfg.rows_per_warp == kN1SmallR && cfg.unroll == kN1SmallU)
        k = pick_dtype(wt, 1, vec, false);
    else if (!cfg.l2_prefetch && n == 1 && cfg.rows_per_warp == kN1LargeR && cfg.unroll == kN1LargeU)
        k = pick_dtype(wt, 1, vec, true);
    else if (!cfg.l2_prefetch && n > 1 && cfg.rows_per_warp == default_rows_per_warp((int)n) &&
             cfg.unroll == default_unroll((int)n))
        k = pick_dtype(wt, n, vec, false);
    else if (wt == DType::BF16 && vec)
        k = pick_sweep_bf16(n, cfg.rows_per_warp, cfg.unroll, cfg.l2_prefetch);
    if (!k.launch)
        fail("linear (cuda GEMV): no kernel built for rows_per_warp=", cfg.rows_per_warp, " unroll=", cfg.unroll,
             cfg.l2_prefetch ? " +L2 prefetch" : "", " with ", dtype_name(wt), " weights and n=", n,
             vec ? "" : " (unaligned rows)");
    const float* b = bias_f32(bias, bt, out);
    k.launch(y, x, w, b, in, out, accumulate, cfg.threads);
    check_launch("linear (cuda GEMV)");
}

namespace {
template <typename W>
void launch_pair(float* y, const float* x, const void* w, int64_t in, int64_t out, float* y2, const float* w2, int64_t out2,
                 bool large) {
    constexpr int threads = 256;
    const int64_t warps1 = large ? (out + kN1LargeR - 1) / kN1LargeR : out, warps = warps1 + out2;
    const dim3 grid((unsigned)((warps * 32 + threads - 1) / threads));
    if (large)
        launch_gemv_kernel(gemv_pair_kernel<W, kN1LargeR, kN1LargeU>, grid, dim3(threads), y, x, static_cast<const W*>(w), in,
                           out, y2, w2, out2, warps1, gemv_wait_late());
    else
        launch_gemv_kernel(gemv_pair_kernel<W, kN1SmallR, kN1SmallU>, grid, dim3(threads), y, x, static_cast<const W*>(w), in,
                           out, y2, w2, out2, warps1, gemv_wait_late());
}
}  // namespace

bool linear_pair(float* y, const float* x, const void* w, DType wt, int64_t in, int64_t out, float* y2, const float* w2,
                 int64_t out2) {
    check_common(y, x, w, wt, nullptr, DType::F32, 1, in, out);
    check_common(y2, x, w2, DType::F32, nullptr, DType::F32, 1, in, out2);
    const bool vec = in % 8 == 0 && aligned16(w) && aligned16(w2) && aligned16(x);
    if (!vec) return false;  // the caller makes two launches
    // The main product's shape as linear_gemv would run it (one wave of a warp per row, or 4 rows).
    const bool large = gemv_default_config(1, out, wt).rows_per_warp == kN1LargeR;
    if (wt == DType::BF16) launch_pair<__nv_bfloat16>(y, x, w, in, out, y2, w2, out2, large);
    else if (wt == DType::F16) launch_pair<__half>(y, x, w, in, out, y2, w2, out2, large);
    else launch_pair<float>(y, x, w, in, out, y2, w2, out2, large);
    check_launch("linear_pair (cuda)");
    return true;
}

bool linear_glu(float* y, const float* x, const void* w, DType wt, int64_t in, int64_t inter, int act) {
    check_common(y, x, w, wt, nullptr, DType::F32, 1, in, 2 * inter);
    if (in % (int64_t)(16 / dtype_size(wt)) || !aligned16(w) || !aligned16(x)) return false;  // the caller: linear + act_mul
    // Two outputs (four weight rows) per warp with two loads in flight: the shape the n = 1 GEMV
    // takes for projections too tall for a warp per row.
    constexpr int P = kN1LargeR / 2, U = kN1LargeU, threads = 256;
    const int64_t warps = (inter + P - 1) / P;
    const dim3 grid((unsigned)((warps * 32 + threads - 1) / threads));
    if (wt == DType::BF16)
        launch_gemv_kernel(gemv_glu_kernel<__nv_bfloat16, P, U>, grid, dim3(threads), y, x, static_cast<const __nv_bfloat16*>(w),
                           in, inter, act, gemv_wait_late());
    else if (wt == DType::F16)
        launch_gemv_kernel(gemv_glu_kernel<__half, P, U>, grid, dim3(threads), y, x, static_cast<const __half*>(w), in, inter, act,
                           gemv_wait_late());
    else
        launch_gemv_kernel(gemv_glu_kernel<float, P, U>, grid, dim3(threads), y, x, static_cast<const float*>(w), in, inter, act,
                           gemv_wait_late());
    check_launch("linear_glu (cuda)");
    return true;
}

void linear_gemm(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n,
                 int64_t in, int64_t out, bool accumulate) {
    check_common(y, x, w, wt, bias, bt, n, in, out);
    if (n == 0) return;
    if (n > INT32_MAX || in > INT32_MAX || out > INT32_MAX) fail("linear (cuda GEMM): sizes exceed cuBLAS's int range");
    const float alpha = 1.0f, one = 1.0f;
    const float beta0 = accumulate ? 1.0f : 0.0f;  // the first product's beta: y += ... when accumulating
    // Row-major y (n, out) = x (n, in) · wᵀ is column-major yᵀ (out, n) = w (in, out)ᵀ · xᵀ (in, n).
    auto gemm = [&](const void* xin, cudaDataType_t ab, const float* beta) {
        const cublasStatus_t st = cublasGemmEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)n, (int)in, &alpha, w, ab,
                                               (int)in, xin, ab, (int)in, beta, y, CUDA_R_32F, (int)out,
                                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS)
            fail("linear (cuda GEMM): cublasGemmEx failed for n=", n, " in=", in, " out=", out, " (", dtype_name(wt),
                 "): ", cublasGetStatusString(st));
    };
    if (wt == DType::F32) {
        gemm(x, CUDA_R_32F, &beta0);
    } else {
        // cuBLAS multiplies like types only, so x is rounded to the weights' dtype. By default x is
        // split into hi = round(x) and lo = round(x - hi) and both are multiplied (y = w·hi + w·lo):
        // x then keeps ~16 mantissa bits instead of 8, the result matches the f32 CPU path to about
        // 1e-5 relative, at twice the tensor-core work. T2L_GEMM=fast keeps only hi (what bf16
        // inference engines do: half the prefill time, 2^-9 relative error per product).
        const int64_t total = n * in;
        const bool split = gemm_split_x();
        void* hi = workspace(kWsLinearX, (size_t)total * 2 * (split ? 2 : 1));
        void* lo = static_cast<uint8_t*>(hi) + (size_t)total * 2;
        const bool bf = wt == DType::BF16;
        if (split) {
            if (bf) split_kernel_bf16<<<grid_for(total, 256), 256>>>((__nv_bfloat16*)hi, (__nv_bfloat16*)lo, x, total);
            else split_kernel_f16<<<grid_for(total, 256), 256>>>((__half*)hi, (__half*)lo, x, total);
        } else {
            const int64_t n4 = aligned16(x) ? total / 4 : 0;
            if (bf) {
                if (n4) round4_kernel_bf16<<<grid_for(n4, 256), 256>>>((__nv_bfloat162*)hi, (const float4*)x, n4);
                if (total > 4 * n4)
                    round_rows_kernel_bf16<<<grid_for(total - 4 * n4, 256), 256>>>((__nv_bfloat16*)hi + 4 * n4, x + 4 * n4, total - 4 * n4);
            } else {
                if (n4) round4_kernel_f16<<<grid_for(n4, 256), 256>>>((__half2*)hi, (const float4*)x, n4);
                if (total > 4 * n4)
                    round_rows_kernel_f16<<<grid_for(total - 4 * n4, 256), 256>>>((__half*)hi + 4 * n4, x + 4 * n4, total - 4 * n4);
            }
        }
        check_launch("linear (cuda GEMM, rounding x)");
        const cudaDataType_t ab = bf ? CUDA_R_16BF : CUDA_R_16F;
        gemm(hi, ab, &beta0);
        if (split) gemm(lo, ab, &one);  // accumulate the low half into y
    }
    if (bias) {
        const float* b = bias_f32(bias, bt, out);
        add_bias_kernel<<<grid_for(n * out, 256), 256>>>(y, b, n, out);
        check_launch("linear (cuda GEMM, bias)");
    }
}

void linear(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n, int64_t in,
            int64_t out, bool accumulate) {
    if (n == 0) return;
    if (wt == DType::F32 && n >= 2 && n <= 64) {  // f32 weights, a few rows: tensor cores at f32 accuracy
        check_common(y, x, w, wt, bias, bt, n, in, out);
        if (linear_skinny(y, x, static_cast<const float*>(w), bias_f32(bias, bt, out), n, in, out, accumulate)) return;
    }
    if (n <= 8) linear_gemv(y, x, w, wt, bias, bt, n, in, out, gemv_default_config(n, out, wt), accumulate);
    else linear_gemm(y, x, w, wt, bias, bt, n, in, out, accumulate);
}

}  // namespace t2l::cuda
