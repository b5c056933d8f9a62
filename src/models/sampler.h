// sampler.h — choosing the next token from logits: greedy, or temperature / top-k / top-p
// sampling with a repetition penalty, applied in that order (as transformers' generate does).
// The random stream is splitmix64 seeded by the user, so a seed gives the same text on every
// machine.
#pragma once

#include <cstdint>
#include <vector>

namespace t2l {

struct SamplerParams {
    float temperature = 0.0f;        // 0: greedy (argmax)
    int top_k = 0;                   // 0: off
    float top_p = 1.0f;              // 1: off
    float repetition_penalty = 1.0f; // 1: off; >1 discourages tokens already in the sequence
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p);
    // logits (vocab) are modified in place by the penalty and temperature.
    int32_t sample(float* logits, int64_t vocab, const std::vector<int32_t>& history);
    // Plain argmax (no temperature, no penalty): the caller may take the argmax on the device.
    bool greedy() const { return p_.temperature <= 0.0f && p_.repetition_penalty == 1.0f; }

private:
    double uniform();  // [0, 1)
    SamplerParams p_;
    uint64_t state_;
};

int32_t argmax(const float* x, int64_t n);

}  // namespace t2l
