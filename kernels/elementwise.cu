// elementwise.cu — the element-wise ops and the embedding gather on f32 activations.
//
// CPU twins (src/ops/ops_cpu.cpp), same formulas in the same f32 order:
//   silu       x / (1 + exp(-x))
//   gelu_erf   x/2 · (1 + erf(x/√2))                  (exact GELU)
//   gelu_tanh  x/2 · (1 + tanh(√(2/π)(x + 0.044715x³)))  (Gemma's gelu_pytorch_tanh)
//   add, mul   y ∘= x;  scale  y *= s;  softcap  x = cap · tanh(x / cap)
//   add_row    y[i, :] = x[i, :] + row
//   embedding  y (n, dim) = table (vocab, dim)[ids], table in f32/bf16/f16 (widening is exact)
// expf/erff/tanhf are CUDA's accurate versions (no fast-math), within 2 ulp of the CPU's libm.
// Bandwidth-bound: grid-stride loops over float4 when the buffers are 16-byte aligned, a
// scalar loop for the tail and for unaligned views.
// Versions that earned their place: (1) this one.
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kThreads = 256;

struct Silu {
    __device__ float operator()(float x) const { return x / (1.0f + expf(-x)); }
};
struct GeluErf {
    __device__ float operator()(float x) const { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
};
struct GeluTanh {
    __device__ float operator()(float v) const {
        const float c = 0.79788456080286536f;  // sqrt(2/pi)
        return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
};
struct Scale {
    float s;
    __device__ float operator()(float x) const { return x * s; }
};
struct Softcap {
    float cap;
    __device__ float operator()(float x) const { return cap * tanhf(x / cap); }
};
struct Add {
    __device__ float operator()(float y, float x) const { return y + x; }
};
struct Mul {
    __device__ float operator()(float y, float x) const { return y * x; }
};

template <class F>
__global__ void unary4_kernel(float4* x, int64_t n4, F f) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 v = x[i];
        v.x = f(v.x);
        v.y = f(v.y);
        v.z = f(v.z);
        v.w = f(v.w);
        x[i] = v;
    }
}
template <class F>
__global__ void unary_kernel(float* x, int64_t n, F f) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] = f(x[i]);
}
template <class F>
__global__ void binary4_kernel(float4* y, const float4* x, int64_t n4, F f) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 a = y[i];
        const float4 b = x[i];
        a.x = f(a.x, b.x);
        a.y = f(a.y, b.y);
        a.z = f(a.z, b.z);
        a.w = f(a.w, b.w);
        y[i] = a;
    }
}
template <class F>
__global__ void binary_kernel(float* y, const float* x, int64_t n, F f) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = f(y[i], x[i]);
}

template <class F>
void unary(const char* op, float* x, int64_t n, F f) {
    if (n < 0) fail(op, " (cuda): negative size");
    if (n == 0) return;
    if (!x) fail(op, " (cuda): null device pointer");
    const int64_t n4 = aligned16(x) ? n / 4 : 0;
    if (n4) unary4_kernel<<<grid_for(n4, kThreads), kThreads>>>(reinterpret_cast<float4*>(x), n4, f);
    if (n > 4 * n4) unary_kernel<<<grid_for(n - 4 * n4, kThreads), kThreads>>>(x + 4 * n4, n - 4 * n4, f);
    check_launch(op);
}

template <class F>
void binary(const char* op, float* y, const float* x, int64_t n, F f) {
    if (n < 0) fail(op, " (cuda): negative size");
    if (n == 0) return;
    if (!x || !y) fail(op, " (cuda): null device pointer");
    const int64_t n4 = aligned16(x) && aligned16(y) ? n / 4 : 0;
    if (n4)
        binary4_kernel<<<grid_for(n4, kThreads), kThreads>>>(reinterpret_cast<float4*>(y),
                                                             reinterpret_cast<const float4*>(x), n4, f);
    if (n > 4 * n4) binary_kernel<<<grid_for(n - 4 * n4, kThreads), kThreads>>>(y + 4 * n4, x + 4 * n4, n - 4 * n4, f);
    check_launch(op);
}

__global__ void add_row_kernel(float* y, const float* x, const float* row, int64_t total, int64_t dim) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = x[i] + row[i % dim];
}

// One block per token: y[i, :] = table[ids[i], :] widened to f32.
__global__ void embedding_kernel(float* y, const void* table, DType tt, const int32_t* ids, int64_t dim) {
    const int64_t row = ids[blockIdx.x];
    float* yi = y + (int64_t)blockIdx.x * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yi[j] = load_any(table, tt, row * dim + j);
}

}  // namespace

void silu(float* x, int64_t n) { unary("silu", x, n, Silu{}); }
void gelu_erf(float* x, int64_t n) { unary("gelu", x, n, GeluErf{}); }
void gelu_tanh(float* x, int64_t n) { unary("gelu_tanh", x, n, GeluTanh{}); }
void scale(float* y, float s, int64_t n) { unary("scale", y, n, Scale{s}); }
void softcap(float* x, float cap, int64_t n) {
    if (!(cap > 0.0f)) fail("softcap (cuda): cap must be > 0, got ", cap);
    unary("softcap", x, n, Softcap{cap});
}
void add(float* y, const float* x, int64_t n) { binary("add", y, x, n, Add{}); }
void mul(float* y, const float* x, int64_t n) { binary("mul", y, x, n, Mul{}); }
void add_row(float* y, const float* x, const float* row, int64_t n, int64_t dim) {
    if (n < 0 || dim <= 0) fail("add_row (cuda): bad sizes n=", n, " dim=", dim);
    if (n == 0) return;
    if (!y || !x || !row) fail("add_row (cuda): null device pointer");
    add_row_kernel<<<grid_for(n * dim, kThreads), kThreads>>>(y, x, row, n * dim, dim);
    check_launch("add_row (cuda)");
}

void embedding(float* y, const void* table, DType tt, const int32_t* ids_host, int64_t n, int64_t dim) {
    if (tt != DType::F32 && tt != DType::BF16 && tt != DType::F16)
        fail("embedding (cuda): table must be f32, bf16 or f16, got ", dtype_name(tt));
    if (n < 0 || dim <= 0) fail("embedding (cuda): bad sizes n=", n, " dim=", dim);
    if (n > INT32_MAX) fail("embedding (cuda): too many tokens (", n, ")");
    if (n == 0) return;
    if (!y || !table || !ids_host) fail("embedding (cuda): null pointer");
    int32_t* ids = static_cast<int32_t*>(workspace(kWsEmbeddingIds, (size_t)n * 4));
    // Synchronous copy from pageable memory: the ids are the caller's and may change after we return.
    CUDA_CHECK(cudaMemcpy(ids, ids_host, (size_t)n * 4, cudaMemcpyHostToDevice));
    embedding_kernel<<<(unsigned)n, kThreads>>>(y, table, tt, ids, dim);
    check_launch("embedding (cuda)");
}

}  // namespace t2l::cuda
