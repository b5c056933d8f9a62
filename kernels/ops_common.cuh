// ops_common.cuh — device helpers shared by the op kernels (linear, norm, elementwise, rope,
// attention): element loads from f32/bf16/f16 storage, warp reductions, launch checks and the
// grow-only device workspace the launchers use for scratch.
//
// Everything here runs on the default stream: a kernel launched after another one sees its
// writes, and a workspace slot reused by the next op is safe once the previous op's kernels
// are queued ahead of it. One host thread at a time may call the CUDA ops.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_util.cuh"
#include "dtype.h"

namespace t2l::cuda {

// ---- element loads -----------------------------------------------------------------------

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

// One element of a (pointer, dtype) buffer as f32; the branch is uniform across the grid.
__device__ __forceinline__ float load_any(const void* p, DType t, int64_t i) {
    if (t == DType::BF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    if (t == DType::F16) return __half2float(static_cast<const __half*>(p)[i]);
    return static_cast<const float*>(p)[i];
}

// 16 bytes read through the read-only path without allocating in L1: weights are streamed
// once per call, and L1 is better spent on the activations every warp re-reads.
// With L2_256 the load also asks L2 to fetch the whole 256-byte block around it from memory.
template <bool L2_256 = false>
__device__ __forceinline__ uint4 load_stream16(const void* p) {
    uint4 v;
    if constexpr (L2_256)
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    else
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    return v;
}

// Unpack 16 bytes of storage type T into 16 / sizeof(T) floats.
template <typename T> struct Pack16;
template <> struct Pack16<float> {
    static constexpr int n = 4;
    __device__ __forceinline__ static void unpack(const uint4& v, float* f) {
        f[0] = __uint_as_float(v.x);
        f[1] = __uint_as_float(v.y);
        f[2] = __uint_as_float(v.z);
        f[3] = __uint_as_float(v.w);
    }
};
template <> struct Pack16<__nv_bfloat16> {
    static constexpr int n = 8;
    // bf16 is the top half of an f32: widening is two integer ops per pair, no conversion unit.
    __device__ __forceinline__ static void unpack(const uint4& v, float* f) {
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
};
template <> struct Pack16<__half> {
    static constexpr int n = 8;
    __device__ __forceinline__ static void unpack(const uint4& v, float* f) {
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            __half2 h;
            memcpy(&h, &w[i], 4);
            const float2 p = __half22float2(h);
            f[2 * i] = p.x;
            f[2 * i + 1] = p.y;
        }
    }
};

// ---- reductions --------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o >= 1; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o >= 1; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// `red` is 32 floats of shared memory; the call ends with a barrier so `red` can be reused.
__device__ __forceinline__ float block_sum(float v, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? red[lane] : 0.0f;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

// The maximum over the block, as block_sum.
__device__ __forceinline__ float block_max(float v, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? red[lane] : -INFINITY;
    t = warp_max(t);
    __syncthreads();
    return t;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o >= 1; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
// The same in double, for the norms' sums (as the CPU twin sums): `red` is 32 doubles.
__device__ __forceinline__ double block_sum(double v, double* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    double t = lane < nwarps ? red[lane] : 0.0;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

// The gated activations' act: 0 SiLU, 1 tanh-GELU, 2 erf-GELU (the Activation enum).
__device__ __forceinline__ float act_fn(float v, int act) {
    if (act == 1) {
        const float c = 0.79788456080286536f;  // sqrt(2/pi)
        return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
    if (act == 2) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    return v / (1.0f + expf(-v));
}

// ---- programmatic dependent launch (sm_90) -------------------------------------------------
// A kernel launched with launch_pdl may begin while the kernel before it in the stream is still
// draining: its blocks take SMs as the earlier ones leave and get through their set-up. At
// pdl_wait() they wait until the earlier kernel has finished and its writes are visible.
// pdl_trigger() tells the hardware the next kernel may launch. So a kernel launched this way must
// call pdl_wait() before it reads an activation or writes anything. Without sm_90, or when
// launched normally, both are no-ops.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// ---- host side ---------------------------------------------------------------------------

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// After a launch: a bad configuration or an earlier asynchronous fault surfaces here.
inline void check_launch(const char* what) {
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) t2l::fail(what, ": kernel launch failed: ", cudaGetErrorString(err));
}

// Grid size for a grid-stride loop over n items with `threads` per block.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65535LL * 8) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b < max_blocks ? b : max_blocks);
}

// Device scratch, one buffer per slot, grown on demand and kept for the process (freed at exit
// by the driver). Slots: which op owns the buffer, so two live scratch buffers never collide.
enum WorkspaceSlot : int { kWsLinearX = 0, kWsLinearBias, kWsEmbeddingIds, kWsAttnPartial, kWsAttnGemm, kWsBench, kWsSlots };
void* workspace(WorkspaceSlot slot, size_t bytes);

// Multiprocessors of the current device (read once).
int sm_count();
// Whether the current device is sm_90 or newer (clusters, programmatic dependent launch); read once.
bool sm90_or_newer();

// Whether kernels are launched with programmatic dependent launch: compute capability 9.0 or
// newer, and T2L_PDL is not 0. pdl_unsupported() turns it off for the process (a driver that
// refuses the attribute).
bool pdl_enabled();
void pdl_unsupported();
// Whether this thread's GEMV launches are early ones too (GemvPdl in ops_cuda.h; T2L_PDL=nogemv
// never, T2L_PDL=1 always).
bool gemv_pdl();

// kernel<<<grid, block, smem>>>(args...) on the per-thread default stream, with programmatic
// dependent launch when enabled (the kernel must then follow the pdl_wait() rule above), in
// clusters of `cluster` consecutive blocks when that is over 1 (sm_90).
template <typename... Params, typename... Args>
void launch_pdl_cluster(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, int cluster, Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = cudaStreamPerThread;
    cudaLaunchAttribute attr[2];
    unsigned na = 0;
    if (cluster > 1) {
        attr[na].id = cudaLaunchAttributeClusterDimension;
        attr[na].val.clusterDim.x = (unsigned)cluster;
        attr[na].val.clusterDim.y = 1;
        attr[na].val.clusterDim.z = 1;
        na++;
    }
    const bool pdl = pdl_enabled();
    if (pdl) {  // the last attribute, so a retry can drop it
        attr[na].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[na].val.programmaticStreamSerializationAllowed = 1;
        na++;
    }
    cfg.attrs = attr;
    cfg.numAttrs = na;
    cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
    if (err != cudaSuccess && pdl) {  // refused with programmatic launch: never ask again
        cudaGetLastError();
        pdl_unsupported();
        cfg.numAttrs = na - 1;
        err = cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
    }
    if (err != cudaSuccess) t2l::fail("kernel launch failed: ", cudaGetErrorString(err));
}

template <typename... Params, typename... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
    launch_pdl_cluster(kernel, grid, block, smem, 1, args...);
}

// A row of n4 float4s held in registers by one block (the norms' register forms): V float4s per
// thread (1, 2 or 4) and a multiple of 32 threads, at most 1024. False when the row is longer.
struct RowInRegisters {
    int per_thread;
    unsigned threads;
};
inline bool row_in_registers(int64_t n4, RowInRegisters* r) {
    if (n4 <= 0 || n4 > 4 * 1024) return false;
    r->per_thread = n4 <= 1024 ? 1 : n4 <= 2048 ? 2 : 4;
    r->threads = (unsigned)(((n4 + r->per_thread - 1) / r->per_thread + 31) / 32 * 32);
    return true;
}

}  // namespace t2l::cuda
