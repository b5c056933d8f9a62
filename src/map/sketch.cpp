// sketch.cpp — see sketch.h.
#include "map/sketch.h"

#include "common.h"
#include "map/rng.h"

namespace t2l::map {

CountSketch::CountSketch(uint64_t dim, int64_t k, uint64_t seed) : dim_(dim), k_(k), exact_(dim <= (uint64_t)k) {
    if (k < 1 || k > (1 << 30)) fail("sketch: the sketch dimension must be in [1, 2^30], not ", k);
    if (exact_) {
        k_ = (int64_t)dim;  // nothing to compress: keep the coordinates themselves
        return;
    }
    code_.resize(dim);
    // One hash per coordinate: its low bits pick the bucket (by multiply-shift, unbiased enough
    // for k << 2^32), its top bit the sign.
    const uint64_t salt = mix64(seed ^ 0x736b65746368ull);
    for (uint64_t i = 0; i < dim; i++) {
        const uint64_t h = mix64(i ^ salt);
        const uint32_t bucket = (uint32_t)(((h & 0xffffffffull) * (uint64_t)k) >> 32);
        code_[i] = bucket | (uint32_t)(h >> 63) << 31;
    }
}

void CountSketch::accumulate(const float* x, uint64_t offset, uint64_t n, double* out) const {
    if (offset > dim_ || n > dim_ - offset) fail("sketch: coordinates [", offset, ", ", offset + n, ") past the flat length ", dim_);
    if (exact_) {
        for (uint64_t i = 0; i < n; i++) out[offset + i] += x[i];
        return;
    }
    const uint32_t* c = code_.data() + offset;
    for (uint64_t i = 0; i < n; i++) {
        const double v = x[i];
        out[c[i] & 0x7fffffffu] += (c[i] >> 31) ? -v : v;
    }
}

}  // namespace t2l::map
