// convert.cu — dtype conversion kernels: bf16/f16 -> f32 and f32 -> bf16/f16.
//
// CPU twin: convert_elements() in src/dtype.cpp. Both round f32 -> bf16/f16 to nearest,
// ties to even, so results must be bit-identical (tests/test_cuda_convert.cpp).
// One thread per element; the work is bandwidth-bound and this runs at copy speed.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_util.cuh"
#include "dtype.h"
#include "gpu.h"

namespace t2l {

namespace {
__global__ void bf16_to_f32_kernel(float* dst, const __nv_bfloat16* src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __bfloat162float(src[i]);
}
__global__ void f16_to_f32_kernel(float* dst, const __half* src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __half2float(src[i]);
}
__global__ void f32_to_bf16_kernel(__nv_bfloat16* dst, const float* src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2bfloat16_rn(src[i]);
}
__global__ void f32_to_f16_kernel(__half* dst, const float* src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2half_rn(src[i]);
}
}  // namespace

void gpu_convert(int dst_dtype, void* dst, int src_dtype, const void* src, size_t n) {
    const DType dt = (DType)dst_dtype, st = (DType)src_dtype;
    const bool ok = (dt == DType::F32 && (st == DType::BF16 || st == DType::F16)) ||
                    (st == DType::F32 && (dt == DType::BF16 || dt == DType::F16));
    if (!ok) fail("gpu_convert: ", dtype_name(st), " -> ", dtype_name(dt), " is not supported");
    if (n == 0) return;
    void *d_src = nullptr, *d_dst = nullptr;
    CUDA_CHECK(cudaMalloc(&d_src, n * dtype_size(st)));
    CUDA_CHECK(cudaMalloc(&d_dst, n * dtype_size(dt)));
    CUDA_CHECK(cudaMemcpy(d_src, src, n * dtype_size(st), cudaMemcpyHostToDevice));
    const int threads = 256;
    const unsigned blocks = (unsigned)((n + threads - 1) / threads);
    if (dt == DType::F32 && st == DType::BF16) bf16_to_f32_kernel<<<blocks, threads>>>((float*)d_dst, (const __nv_bfloat16*)d_src, n);
    else if (dt == DType::F32) f16_to_f32_kernel<<<blocks, threads>>>((float*)d_dst, (const __half*)d_src, n);
    else if (dt == DType::BF16) f32_to_bf16_kernel<<<blocks, threads>>>((__nv_bfloat16*)d_dst, (const float*)d_src, n);
    else f32_to_f16_kernel<<<blocks, threads>>>((__half*)d_dst, (const float*)d_src, n);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaMemcpy(dst, d_dst, n * dtype_size(dt), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(d_src));
    CUDA_CHECK(cudaFree(d_dst));
}

}  // namespace t2l
