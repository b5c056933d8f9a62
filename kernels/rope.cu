// rope.cu — rotary position embedding, rotate-half form, in place on x (n, h·d).
//
// CPU twin: cpu::rope in src/ops/ops_cpu.cpp. For token i, head h and j < d/2, with
// c = cos[i, j], s = sin[i, j] (tables (n, d/2), computed once per call by the model code):
//   x1 = x[i, h, j], x2 = x[i, h, j + d/2];  x1' = x1·c - x2·s;  x2' = x2·c + x1·s
// (the Llama/HF convention; GPT-J's interleaved pairs would be a different function).
// One thread per rotated pair; each thread reads and writes only its own pair, so in place is safe.
// Versions that earned their place: (1) this one; bandwidth-bound and tiny next to attention.
#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

__global__ void rope_kernel(float* x, int64_t pairs, int n_heads, int half, const float* cos, const float* sin) {
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pairs; p += (int64_t)gridDim.x * blockDim.x) {
        const int j = (int)(p % half);
        const int64_t ih = p / half;           // i * n_heads + h
        const int64_t i = ih / n_heads;
        float* v = x + ih * (2 * half);
        const float c = cos[i * half + j], s = sin[i * half + j];
        const float a = v[j], b = v[j + half];
        v[j] = a * c - b * s;
        v[j + half] = b * c + a * s;
    }
}

}  // namespace

void rope(float* x, int64_t n, int n_heads, int head_dim, const float* cos, const float* sin) {
    if (n < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2)
        fail("rope (cuda): bad sizes n=", n, " heads=", n_heads, " head_dim=", head_dim, " (must be even)");
    if (n == 0) return;
    if (!x || !cos || !sin) fail("rope (cuda): null device pointer");
    const int half = head_dim / 2;
    const int64_t pairs = n * n_heads * half;
    rope_kernel<<<grid_for(pairs, 256), 256>>>(x, pairs, n_heads, half, cos, sin);
    check_launch("rope (cuda)");
}

}  // namespace t2l::cuda
