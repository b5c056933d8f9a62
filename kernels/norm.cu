// norm.cu — row-wise LayerNorm and RMSNorm over the last dimension, y (n, dim) from x (n, dim).
//
// CPU twins: cpu::layer_norm and cpu::rms_norm in src/ops/ops_cpu.cpp.
//   layer_norm: y = (x - mean) · 1/sqrt(var + eps) · w + b, two passes (mean, then the variance
//               around it: no cancellation), as the CPU does in double; optionally of x + residual
//               (a post-norm block's residual add in the same pass).
//   rms_norm:   y = x · 1/sqrt(mean(x²) + eps) · (plus_one ? 1 + w : w); Gemma stores w - 1,
//               and HF adds the 1 in f32, so the GPU does the same.
// One block per row; the sums are in double like the CPU's (a row of large mean and small
// spread would otherwise lose digits in the mean), then the scale is rounded to f32 as there. y may be x: each element is read before it is written, by the
// same thread, after the reductions have finished with the row.
// Versions that earned their place: (1) the loop over the row in strides of 256 threads;
// (2) layer_norm_vec_kernel for the aligned rows (6.3 µs a call for 32 rows of 1024 with cold
// caches before).
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kThreads = 256;

// x + r, or x when there is no residual.
__device__ __forceinline__ float with_residual(const float* x, const float* r, int64_t j) { return r ? x[j] + r[j] : x[j]; }

__global__ void __launch_bounds__(kThreads) layer_norm_kernel(float* y, const float* x, const float* res, const void* w,
                                                              DType wt, const void* b, DType bt, int64_t dim, float eps) {
    pdl_trigger();
    __shared__ double red[32];
    const float* xi = x + blockIdx.x * dim;
    const float* ri = res ? res + blockIdx.x * dim : nullptr;
    float* yi = y + blockIdx.x * dim;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) s += with_residual(xi, ri, j);
    const double mean = block_sum(s, red) / (double)dim;
    double v = 0.0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const double d = with_residual(xi, ri, j) - mean;
        v += d * d;
    }
    const double var = block_sum(v, red) / (double)dim;
    const float inv = (float)(1.0 / sqrt(var + (double)eps));
    const float m = (float)mean;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)  // reads j of x and r before writing j of y
        yi[j] = (with_residual(xi, ri, j) - m) * inv * load_any(w, wt, j) + load_any(b, bt, j);
}

// The same for rows of a multiple of 4 floats on 16-byte boundaries, up to 4 float4 per thread
// of 1024: the row stays in registers, every load is issued before the first sum (one memory
// round trip instead of dim / 256 dependent ones per pass; the encoder runs 49 per description).
template <int V>
__global__ void __launch_bounds__(1024) layer_norm_vec_kernel(float* y, const float* x, const float* res, const void* w,
                                                             DType wt, const void* b, DType bt, int64_t dim, float eps) {
    pdl_trigger();
    __shared__ double red[32];
    const int64_t n4 = dim / 4;
    const float4* xi = reinterpret_cast<const float4*>(x + blockIdx.x * dim);
    const float4* ri = res ? reinterpret_cast<const float4*>(res + blockIdx.x * dim) : nullptr;
    float4* yi = reinterpret_cast<float4*>(y + blockIdx.x * dim);
    float4 v[V], r[V];
    double s = 0.0;
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        v[j] = c < n4 ? xi[c] : make_float4(0, 0, 0, 0);
        r[j] = ri && c < n4 ? ri[c] : make_float4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < V; j++) v[j] = make_float4(v[j].x + r[j].x, v[j].y + r[j].y, v[j].z + r[j].z, v[j].w + r[j].w);
#pragma unroll
    for (int j = 0; j < V; j++) s += (double)v[j].x + (double)v[j].y + (double)v[j].z + (double)v[j].w;
    const double mean = block_sum(s, red) / (double)dim;
    double q = 0.0;
#pragma unroll
    for (int j = 0; j < V; j++) {
        if (threadIdx.x + (int64_t)j * blockDim.x >= n4) continue;
        const double d0 = v[j].x - mean, d1 = v[j].y - mean, d2 = v[j].z - mean, d3 = v[j].w - mean;
        q += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
    }
    const double var = block_sum(q, red) / (double)dim;
    const float inv = (float)(1.0 / sqrt(var + (double)eps));
    const float m = (float)mean;
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        if (c >= n4) continue;
        const float e[4] = {v[j].x, v[j].y, v[j].z, v[j].w};
        float o[4];
#pragma unroll
        for (int k = 0; k < 4; k++) o[k] = (e[k] - m) * inv * load_any(w, wt, 4 * c + k) + load_any(b, bt, 4 * c + k);
        yi[c] = make_float4(o[0], o[1], o[2], o[3]);
    }
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
                float eps, const float* residual) {
    check("layer_norm", y, x, w, wt, n, dim);
    if (bt != DType::F32 && bt != DType::BF16 && bt != DType::F16)
        fail("layer_norm (cuda): bias must be f32, bf16 or f16, got ", dtype_name(bt));
    if (n == 0) return;
    RowInRegisters rr;
    if (dim % 4 == 0 && aligned16(x) && aligned16(y) && (!residual || aligned16(residual)) && row_in_registers(dim / 4, &rr)) {
        const int V = rr.per_thread;
        auto kernel = V == 1 ? layer_norm_vec_kernel<1> : V == 2 ? layer_norm_vec_kernel<2> : layer_norm_vec_kernel<4>;
        kernel<<<(unsigned)n, rr.threads>>>(y, x, residual, w, wt, b, bt, dim, eps);
    } else {
        layer_norm_kernel<<<(unsigned)n, kThreads>>>(y, x, residual, w, wt, b, bt, dim, eps);
    }
    check_launch("layer_norm (cuda)");
}

void rms_norm(float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim, float eps, bool plus_one) {
    check("rms_norm", y, x, w, wt, n, dim);
    if (n == 0) return;
    rms_norm_kernel<<<(unsigned)n, kThreads>>>(y, x, w, wt, dim, eps, plus_one);
    check_launch("rms_norm (cuda)");
}

}  // namespace t2l::cuda
