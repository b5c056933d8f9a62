// xxhash64.cpp — XXH64, written from the published specification.
#include "format/xxhash64.h"

#include <cstring>

#include "common.h"

namespace t2l {

namespace {
constexpr uint64_t P1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t P3 = 0x165667B19E3779F9ull;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t round1(uint64_t acc, uint64_t lane) { return rotl(acc + lane * P2, 31) * P1; }
inline uint64_t merge(uint64_t acc, uint64_t v) { return (acc ^ round1(0, v)) * P1 + P4; }
}  // namespace

XXH64State::XXH64State(uint64_t seed) : seed_(seed) {
    v_[0] = seed + P1 + P2;
    v_[1] = seed + P2;
    v_[2] = seed;
    v_[3] = seed - P1;
}

void XXH64State::update(const void* data, size_t len) {
    auto* p = (const uint8_t*)data;
    total_len_ += len;
    if (buf_len_ > 0) {  // top up a partial stripe first
        size_t take = 32 - buf_len_ < len ? 32 - buf_len_ : len;
        std::memcpy(buf_ + buf_len_, p, take);
        buf_len_ += take;
        p += take;
        len -= take;
        if (buf_len_ < 32) return;
        for (int i = 0; i < 4; i++) v_[i] = round1(v_[i], load_le<uint64_t>(buf_ + 8 * i));
        buf_len_ = 0;
    }
    // Whole 32-byte stripes: four independent lanes.
    uint64_t a = v_[0], b = v_[1], c = v_[2], d = v_[3];
    while (len >= 32) {
        a = round1(a, load_le<uint64_t>(p));
        b = round1(b, load_le<uint64_t>(p + 8));
        c = round1(c, load_le<uint64_t>(p + 16));
        d = round1(d, load_le<uint64_t>(p + 24));
        p += 32;
        len -= 32;
    }
    v_[0] = a; v_[1] = b; v_[2] = c; v_[3] = d;
    std::memcpy(buf_, p, len);
    buf_len_ = len;
}

uint64_t XXH64State::digest() const {
    uint64_t h;
    if (total_len_ >= 32) {
        h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
        for (int i = 0; i < 4; i++) h = merge(h, v_[i]);
    } else {
        h = seed_ + P5;
    }
    h += total_len_;
    const uint8_t* p = buf_;
    size_t len = buf_len_;
    while (len >= 8) {
        h ^= round1(0, load_le<uint64_t>(p));
        h = rotl(h, 27) * P1 + P4;
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        h ^= (uint64_t)load_le<uint32_t>(p) * P1;
        h = rotl(h, 23) * P2 + P3;
        p += 4;
        len -= 4;
    }
    while (len > 0) {
        h ^= (*p) * P5;
        h = rotl(h, 11) * P1;
        p++;
        len--;
    }
    // Final avalanche.
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t xxh64(const void* data, size_t len, uint64_t seed) {
    XXH64State st(seed);
    st.update(data, len);
    return st.digest();
}

}  // namespace t2l
