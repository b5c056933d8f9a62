// sketch.h — a count sketch: a fixed, seeded random linear map from R^D to R^k used to hold
// full-size adapters in memory. One Llama-8B adapter flattened is 3.4 M floats (13.6 MB), so
// 5,000 of them (68 GB) do not fit; each adapter is instead folded into k numbers as it is
// generated and then dropped.
//
// Coordinate i of the flat vector is added, with a random sign s(i) = ±1, into bucket h(i):
//   y[b] = Σ_{i : h(i) = b} s(i) x[i].
// For any fixed x, x', E <Sx, Sx'> = <x, x'> and E |Sx - Sx'|² = |x - x'|², with relative spread
// about sqrt(2 / k) for vectors whose mass is not in a few coordinates (a dense Gaussian
// projection gives the same; the sketch costs one add per coordinate instead of k).
// So distances, the covariance and therefore PCA, t-SNE neighbourhoods and silhouettes in the
// sketch approximate those of the full adapters. When D <= k the map is the identity: exact.
#pragma once

#include <cstdint>
#include <vector>

namespace t2l::map {

class CountSketch {
public:
    // dim: D, the flat length; k: buckets. The hash table is D x 4 bytes (13.6 MB for Llama-8B).
    CountSketch(uint64_t dim, int64_t k, uint64_t seed);
    bool exact() const { return exact_; }
    uint64_t in_dim() const { return dim_; }
    int64_t out_dim() const { return k_; }

    // Adds x[0, n), the coordinates [offset, offset + n) of the flat vector, into out (out_dim()
    // doubles). Calling it for consecutive pieces sketches the concatenation.
    void accumulate(const float* x, uint64_t offset, uint64_t n, double* out) const;

private:
    uint64_t dim_;
    int64_t k_;
    bool exact_;
    std::vector<uint32_t> code_;  // (D,) bucket in the low 31 bits, sign in the top bit
};

}  // namespace t2l::map
