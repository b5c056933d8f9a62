// xxhash64.h — the XXH64 hash (Yann Collet's public algorithm), used as the per-tensor
// checksum of .t2l files: fast enough (several GB/s on one core) that verifying a whole
// model costs about as much as reading it.
//
// Streaming use: XXH64State st(seed); st.update(p, n); ...; st.digest().
#pragma once

#include <cstddef>
#include <cstdint>

namespace t2l {

class XXH64State {
public:
    explicit XXH64State(uint64_t seed = 0);
    void update(const void* data, size_t len);
    uint64_t digest() const;

private:
    uint64_t v_[4];
    uint64_t total_len_ = 0;
    uint64_t seed_;
    uint8_t buf_[32];
    size_t buf_len_ = 0;
};

uint64_t xxh64(const void* data, size_t len, uint64_t seed = 0);

}  // namespace t2l
