// attention_common.cuh — what the attention kernels share (attention.cu, flash_attention.cu): the
// launch arguments and the rule for which keys a query row sees.
#pragma once

#include <cstdint>

namespace t2l::cuda {

struct AttnArgs {
    int n_heads, group;          // query heads; query heads per KV head
    int head_dim;
    int64_t n, t, q_pos0, window;
    int64_t qw, kw;              // row strides of q/out and k/v, in elements
    bool causal;
    float scale, softcap;
    const int32_t* pos;          // decode step in a graph: the query's position, read on the device
    bool keys_early = false;     // decode step: keys before *pos may be read before pdl_wait()
};

// The keys query row i may see (may be empty: first > last).
__device__ __forceinline__ void visible(const AttnArgs& a, int64_t i, int64_t* first, int64_t* last) {
    const int64_t pos = a.q_pos0 + i;
    *first = a.window > 0 ? max((int64_t)0, pos - a.window + 1) : 0;
    *last = a.causal ? min(pos, a.t - 1) : a.t - 1;
}

// Tensor-core prompt attention (flash_attention.cu): bf16 q·kᵀ and p·v with f32 accumulation and an
// f32 online softmax, the scores never leaving the SM. k, v bf16 (t, hk·d); head_dim 64/128/256.
void flash_attention(float* out, const float* q, const void* k_bf16, const void* v_bf16, const AttnArgs& a);
bool flash_attention_takes(int head_dim);

}  // namespace t2l::cuda
