// norm.cu — row-wise LayerNorm and RMSNorm over the last dimension, y (n, dim) from x (n, dim).
//
// CPU twins: cpu::layer_norm and cpu::rms_norm in src/ops/ops_cpu.cpp.
//   layer_norm: y = (x - mean) · 1/sqrt(var + eps) · w + b, two passes (mean, then the variance
//               around it: no cancellation), as the CPU does in double.
//   rms_norm:   y = x · 1/sqrt(mean(x²) + eps) · (plus_one ? 1 + w : w); Gemma stores w - 1,
//               and HF adds the 1 in f32, so the GPU does the same.
// One block per row; the sums are in double like the CPU's (a row of large mean and small
// spread would otherwise lose digits in the mean), then the scale is rounded to f32 as there. y may be x: each element is read before it is written, by the
// same thread, after the reductions have finished with the row.
// Versions that earned their place: (1) this one; norms are <1% of a layer's time.
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) layer_norm_kernel(float* y, const float* x, const void* w, DType wt,
                                                              const void* b, DType bt, int64_t dim, float eps) {
    __shared__ double red[32];
    const float* xi = x + blockIdx.x * dim;
    float* yi = y + blockIdx.x * dim;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) s += xi[j];
    const double mean = block_sum(s, red) / (double)dim;
    double v = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const double d = xi[j] - mean;
        v += d * d;
    }
    const double var = block_sum(v, red) / (double)dim;
    const float inv = (float)(1.0 / sqrt(var + (double)eps));
    const float m = (float)mean;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
        yi[j] = (xi[j] - m) * inv * load_any(w, wt, j) + load_any(b, bt, j);
}

__global__ void __launch_bounds__(kThreads) rms_norm_kernel(float* y, const float* x, const void* w, DType wt,
                                                            int64_t dim, float eps, bool plus_one) {
    __shared__ double red[32];
    const float* xi = x + blockIdx.x * dim;
    float* yi = y + blockIdx.x * dim;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) s += (double)xi[j] * xi[j];
    const double ss = block_sum(s, red);
    const float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float wj = plus_one ? 1.0f + load_any(w, wt, j) : load_any(w, wt, j);
        yi[j] = (xi[j] * inv) * wj;
    }
}

void check(const char* op, const float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim) {
    if (n < 0 || dim <= 0) fail(op, " (cuda): bad sizes n=", n, " dim=", dim);
    if (n > INT32_MAX) fail(op, " (cuda): too many rows (", n, ")");
    if (wt != DType::F32 && wt != DType::BF16 && wt != DType::F16)
        fail(op, " (cuda): weight must be f32, bf16 or f16, got ", dtype_name(wt));
    if (n > 0 && (!y || !x || !w)) fail(op, " (cuda): null device pointer");
}

}  // namespace

void layer_norm(float* y, const float* x, const void* w, DType wt, const void* b, DType bt, int64_t n, int64_t dim,
                float eps) {
    check("layer_norm", y, x, w, wt, n, dim);
    if (bt != DType::F32 && bt != DType::BF16 && bt != DType::F16)
        fail("layer_norm (cuda): bias must be f32, bf16 or f16, got ", dtype_name(bt));
    if (n == 0) return;
    layer_norm_kernel<<<(unsigned)n, kThreads>>>(y, x, w, wt, b, bt, dim, eps);
    check_launch("layer_norm (cuda)");
}

void rms_norm(float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim, float eps, bool plus_one) {
    check("rms_norm", y, x, w, wt, n, dim);
    if (n == 0) return;
    rms_norm_kernel<<<(unsigned)n, kThreads>>>(y, x, w, wt, dim, eps, plus_one);
    check_launch("rms_norm (cuda)");
}

}  // namespace t2l::cuda
