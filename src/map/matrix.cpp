// matrix.cpp — see matrix.h.
#include "map/matrix.h"

namespace t2l::map {

// The hot loop of the silhouette and t-SNE's neighbour search: compiled for AVX-512, AVX2 and
// plain x86-64, picked at load time. Each clone sums in the same 16-lane order; FMA contraction
// may move the last bit between machines, never between runs or thread counts on one machine.
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
float squared_distance(const float* a, const float* b, int64_t n) {
    float acc[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) {
            const float d = a[k + j] - b[k + j];
            acc[j] += d * d;
        }
    for (; k < n; k++) {
        const float d = a[k] - b[k];
        acc[k % 16] += d * d;
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

}  // namespace t2l::map
