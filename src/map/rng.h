// rng.h — a seeded random source whose numbers are the same on every machine and standard
// library (std::normal_distribution and friends are implementation-defined), so a map made
// with --seed S today is the same picture tomorrow. Used for sampling descriptions, the count
// sketch's hash, the PCA start vectors and the t-SNE start positions.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace t2l::map {

// splitmix64's output function: a bijective mix of 64 bits, good enough as a hash.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// FNV-1a over the bytes of a string (a stable name hash; std::hash is not stable).
inline uint64_t hash_string(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        state_ += 0x9e3779b97f4a7c15ull;
        return mix64(state_);
    }
    double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    // Standard normal by Box-Muller (both values used in turn).
    double normal() {
        if (have_spare_) {
            have_spare_ = false;
            return spare_;
        }
        double u = 0;
        while (u <= 0) u = uniform();
        const double v = uniform(), r = std::sqrt(-2.0 * std::log(u)), t = 6.283185307179586 * v;
        spare_ = r * std::sin(t);
        have_spare_ = true;
        return r * std::cos(t);
    }

private:
    uint64_t state_;
    double spare_ = 0;
    bool have_spare_ = false;
};

}  // namespace t2l::map
