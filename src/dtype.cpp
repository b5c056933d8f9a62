// dtype.cpp — sizes, names and bit-exact float conversions (see dtype.h).
#include "dtype.h"

#include <cstring>

#include "common.h"

namespace t2l {

namespace {
struct DTypeInfo {
    const char* name;
    size_t size;
    bool is_float;
};
// Indexed by the DType code.
const DTypeInfo kInfo[kDTypeCount] = {
    {"f32", 4, true}, {"f16", 2, true}, {"bf16", 2, true}, {"f64", 8, true}, {"i8", 1, false},
    {"i16", 2, false}, {"i32", 4, false}, {"i64", 8, false}, {"u8", 1, false}, {"bool", 1, false},
};

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace

bool dtype_is_valid(uint32_t code) { return code < kDTypeCount; }
size_t dtype_size(DType t) { return kInfo[(uint32_t)t].size; }
const char* dtype_name(DType t) { return kInfo[(uint32_t)t].name; }
bool dtype_is_float(DType t) { return kInfo[(uint32_t)t].is_float; }

bool dtype_from_name(const std::string& s, DType* out) {
    for (uint32_t i = 0; i < kDTypeCount; i++) {
        if (s == kInfo[i].name) { *out = (DType)i; return true; }
    }
    return false;
}

// bf16 is the top half of an f32: widening is a shift.
float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays a quiet NaN
    uint32_t lsb = (u >> 16) & 1;   // ties go to the even neighbour
    u += 0x7fffu + lsb;             // overflow past the largest finite value carries into infinity
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));  // inf / NaN
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        // subnormal: mant * 2^-24, exact in f32
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00);       // NaN
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);      // >= 65520 rounds to infinity
    if (ax >= 0x38800000u) {                                       // normal half: |f| >= 2^-14
        uint32_t odd = (ax >> 13) & 1;
        ax += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;         // rebias and round to nearest even
        return (uint16_t)(sign | (ax >> 13));
    }
    if (ax <= 0x33000000u) return (uint16_t)sign;                  // <= 2^-25: ties to even give zero
    // Subnormal half: value = m * 2^-24 with m < 1024.
    uint32_t e = ax >> 23;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;
    uint32_t m = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1))) m++;               // m may reach 1024: the smallest normal
    return (uint16_t)(sign | m);
}

namespace {
float load_as_f32(DType t, const uint8_t* p) {
    switch (t) {
        case DType::F32: return load_le<float>(p);
        case DType::F16: return f16_to_f32(load_le<uint16_t>(p));
        case DType::BF16: return bf16_to_f32(load_le<uint16_t>(p));
        case DType::F64: return (float)load_le<double>(p);
        default: return 0.0f;
    }
}
void store_from_f32(DType t, uint8_t* p, float v) {
    switch (t) {
        case DType::F32: std::memcpy(p, &v, 4); break;
        case DType::F16: { uint16_t h = f32_to_f16(v); std::memcpy(p, &h, 2); break; }
        case DType::BF16: { uint16_t h = f32_to_bf16(v); std::memcpy(p, &h, 2); break; }
        case DType::F64: { double d = v; std::memcpy(p, &d, 8); break; }
        default: break;
    }
}
}  // namespace

void convert_elements(DType dst_type, void* dst, DType src_type, const void* src, size_t n) {
    if (dst_type == src_type) { std::memcpy(dst, src, n * dtype_size(src_type)); return; }
    if (!dtype_is_float(dst_type) || !dtype_is_float(src_type))
        fail("cannot convert ", dtype_name(src_type), " to ", dtype_name(dst_type));
    auto* d = (uint8_t*)dst;
    auto* s = (const uint8_t*)src;
    const size_t ds = dtype_size(dst_type), ss = dtype_size(src_type);
    // f64 -> f16/bf16 goes through f32 (double rounding); f64 never occurs in the model files seen.
    if (src_type == DType::F64 && dst_type == DType::F32) {
        for (size_t i = 0; i < n; i++) store_from_f32(dst_type, d + i * ds, (float)load_le<double>(s + i * ss));
        return;
    }
    if (dst_type == DType::F64) {
        for (size_t i = 0; i < n; i++) {
            double v = load_as_f32(src_type, s + i * ss);
            std::memcpy(d + i * ds, &v, 8);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) store_from_f32(dst_type, d + i * ds, load_as_f32(src_type, s + i * ss));
}

}  // namespace t2l
