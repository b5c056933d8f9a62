// sampler.cpp — see sampler.h.
#include "models/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace t2l {

int32_t argmax(const float* x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;  // first maximum wins, as torch.argmax
    return (int32_t)best;
}

Sampler::Sampler(const SamplerParams& p) : p_(p), state_(p.seed) {}

double Sampler::uniform() {
    // splitmix64: tiny, fast and the same everywhere.
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::sample(float* logits, int64_t vocab, const std::vector<int32_t>& history) {
    if (p_.repetition_penalty != 1.0f) {
        // CTRL-style penalty as transformers applies it: shrink positive logits, grow negative ones.
        std::vector<bool> seen((size_t)vocab, false);
        for (int32_t t : history)
            if (t >= 0 && t < vocab && !seen[(size_t)t]) {
                seen[(size_t)t] = true;
                float& l = logits[t];
                l = l < 0 ? l * p_.repetition_penalty : l / p_.repetition_penalty;
            }
    }
    if (p_.temperature <= 0.0f) return argmax(logits, vocab);

    // Candidates sorted by logit, cut by top-k, softmax at the temperature, cut by top-p.
    std::vector<int32_t> idx((size_t)vocab);
    std::iota(idx.begin(), idx.end(), 0);
    const size_t k = p_.top_k > 0 ? std::min<size_t>((size_t)p_.top_k, idx.size()) : idx.size();
    std::partial_sort(idx.begin(), idx.begin() + (long)k, idx.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    idx.resize(k);
    std::vector<double> prob(k);
    const double top = logits[idx[0]];
    double sum = 0;
    for (size_t i = 0; i < k; i++) sum += prob[i] = std::exp((logits[idx[i]] - top) / p_.temperature);
    for (auto& q : prob) q /= sum;
    size_t keep = k;
    if (p_.top_p < 1.0f) {
        // Smallest prefix whose mass reaches top_p (always at least one token).
        double acc = 0;
        for (size_t i = 0; i < k; i++) {
            acc += prob[i];
            if (acc >= p_.top_p) { keep = i + 1; break; }
        }
        double kept = 0;
        for (size_t i = 0; i < keep; i++) kept += prob[i];
        for (size_t i = 0; i < keep; i++) prob[i] /= kept;
    }
    double r = uniform(), acc = 0;
    for (size_t i = 0; i < keep; i++) {
        acc += prob[i];
        if (r < acc) return idx[i];
    }
    return idx[keep - 1];
}

}  // namespace t2l
