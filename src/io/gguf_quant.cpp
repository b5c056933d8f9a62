// gguf_quant.cpp — ggml type table and block dequantisers (see gguf_quant.h).
//
// Notation in the layout comments: f16 = IEEE half (little-endian), u8/i8 = bytes, and
// "q[j]" the integer code of element j of the block. Values are computed in f32; where ggml
// multiplies two scales first (d * sc) the code does the same, so rounding matches.
#include "io/gguf_quant.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common.h"
#include "dtype.h"

namespace t2l {

namespace {

struct TypeRow {
    uint32_t code;
    GgmlTypeInfo info;
};

// Sizes from ggml's type traits (they are part of the GGUF format: a reader needs them to
// find where each tensor ends, whatever it can decode).
const TypeRow kTypes[] = {
    {0, {"F32", 1, 4, true}},        {1, {"F16", 1, 2, true}},       {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, true}},     {6, {"Q5_0", 32, 22, true}},    {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},     {9, {"Q8_1", 32, 40, false}},   {10, {"Q2_K", 256, 84, false}},
    {11, {"Q3_K", 256, 110, false}}, {12, {"Q4_K", 256, 144, true}}, {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},  {15, {"Q8_K", 256, 292, false}}, {16, {"IQ2_XXS", 256, 66, false}},
    {17, {"IQ2_XS", 256, 74, false}}, {18, {"IQ3_XXS", 256, 98, false}}, {19, {"IQ1_S", 256, 50, false}},
    {20, {"IQ4_NL", 32, 18, false}}, {21, {"IQ3_S", 256, 110, false}}, {22, {"IQ2_S", 256, 82, false}},
    {23, {"IQ4_XS", 256, 136, false}}, {24, {"I8", 1, 1, false}},    {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},      {27, {"I64", 1, 8, false}},     {28, {"F64", 1, 8, false}},
    {29, {"IQ1_M", 256, 56, false}}, {30, {"BF16", 1, 2, true}},     {34, {"TQ1_0", 256, 54, false}},
    {35, {"TQ2_0", 256, 66, false}}, {39, {"MXFP4", 32, 17, false}},
};

inline float half(const uint8_t* p) { return f16_to_f32(load_le<uint16_t>(p)); }

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block, packed in 12
// bytes: bytes 0-3 hold scales 0-3 in their low 6 bits, bytes 4-7 mins 0-3 likewise; scales
// and mins 4-7 take their low 4 bits from the two nibbles of bytes 8-11 and their top 2 bits
// from the spare top bits of bytes 0-3 (scales) and 4-7 (mins).
inline void k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *mn = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

}  // namespace

bool ggml_type_info(uint32_t type, GgmlTypeInfo* info) {
    for (const TypeRow& r : kTypes)
        if (r.code == type) {
            *info = r.info;
            return true;
        }
    return false;
}

const char* ggml_type_name(uint32_t type) {
    GgmlTypeInfo info;
    if (ggml_type_info(type, &info)) return info.name;
    static thread_local char buf[24];
    std::snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

bool ggml_type_from_name(const char* name, uint32_t* type) {
    for (const TypeRow& r : kTypes)
        if (std::strcmp(r.info.name, name) == 0) {
            *type = r.code;
            return true;
        }
    return false;
}

bool ggml_row_bytes(uint32_t type, uint64_t n, uint64_t* bytes) {
    GgmlTypeInfo info;
    if (!ggml_type_info(type, &info) || n % info.block_elems) return false;
    return checked_mul(n / info.block_elems, info.block_bytes, bytes);
}

// Q8_0, 34 bytes per 32 elements:  f16 d | i8 q[32]
//   x[j] = q[j] * d
void dequantize_q8_0(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 34, dst += 32) {
        const float d = half(src);
        const int8_t* q = (const int8_t*)(src + 2);
        for (int j = 0; j < 32; j++) dst[j] = (float)q[j] * d;
    }
}

// Q4_0, 18 bytes per 32 elements:  f16 d | u8 qs[16]
//   q[j] = qs[j] & 15 (j < 16), qs[j-16] >> 4 (j >= 16);   x[j] = (q[j] - 8) * d
void dequantize_q4_0(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 18, dst += 32) {
        const float d = half(src);
        const uint8_t* qs = src + 2;
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((qs[j] & 0x0F) - 8) * d;
            dst[j + 16] = (float)((qs[j] >> 4) - 8) * d;
        }
    }
}

// Q4_1, 20 bytes per 32 elements:  f16 d | f16 m | u8 qs[16]
//   q[j] as in Q4_0 (unsigned, 0..15);   x[j] = q[j] * d + m
void dequantize_q4_1(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 20, dst += 32) {
        const float d = half(src), m = half(src + 2);
        const uint8_t* qs = src + 4;
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(qs[j] & 0x0F) * d + m;
            dst[j + 16] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

// Q5_0, 22 bytes per 32 elements:  f16 d | u32 qh (little-endian) | u8 qs[16]
//   q[j] = (low nibble as in Q4_0) | (bit j of qh) << 4;   x[j] = (q[j] - 16) * d
void dequantize_q5_0(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 22, dst += 32) {
        const float d = half(src);
        const uint32_t qh = load_le<uint32_t>(src + 2);
        const uint8_t* qs = src + 6;
        for (int j = 0; j < 16; j++) {
            const int lo = (qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = (float)(lo - 16) * d;
            dst[j + 16] = (float)(hi - 16) * d;
        }
    }
}

// Q5_1, 24 bytes per 32 elements:  f16 d | f16 m | u32 qh | u8 qs[16]
//   q[j] as in Q5_0 (unsigned, 0..31);   x[j] = q[j] * d + m
void dequantize_q5_1(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 24, dst += 32) {
        const float d = half(src), m = half(src + 2);
        const uint32_t qh = load_le<uint32_t>(src + 4);
        const uint8_t* qs = src + 8;
        for (int j = 0; j < 16; j++) {
            const int lo = (qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = (float)lo * d + m;
            dst[j + 16] = (float)hi * d + m;
        }
    }
}

// Q4_K, 144 bytes per 256 elements (8 sub-blocks of 32):
//   f16 d | f16 dmin | u8 scales[12] (6-bit sc, mn per sub-block, see k_scale_min) | u8 qs[128]
//   Sub-blocks come in pairs sharing 32 bytes of qs: sub-block 2p uses the low nibbles of
//   qs[32p .. 32p+31], sub-block 2p+1 the high nibbles.
//   x = (d * sc) * q - (dmin * mn)
void dequantize_q4_k(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 144) {
        const float d = half(src), dmin = half(src + 2);
        const uint8_t* scales = src + 4;
        const uint8_t* qs = src + 16;
        for (int p = 0; p < 4; p++, qs += 32) {
            uint8_t sc0, mn0, sc1, mn1;
            k_scale_min(scales, 2 * p, &sc0, &mn0);
            k_scale_min(scales, 2 * p + 1, &sc1, &mn1);
            const float d0 = d * (float)sc0, m0 = dmin * (float)mn0;
            const float d1 = d * (float)sc1, m1 = dmin * (float)mn1;
            for (int l = 0; l < 32; l++) *dst++ = d0 * (float)(qs[l] & 0x0F) - m0;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)(qs[l] >> 4) - m1;
        }
    }
}

// Q5_K, 176 bytes per 256 elements (8 sub-blocks of 32):
//   f16 d | f16 dmin | u8 scales[12] (as Q4_K) | u8 qh[32] | u8 qs[128]
//   The low 4 bits come from qs exactly as in Q4_K; the 5th bit of element l of sub-block s
//   is bit s of qh[l].   x = (d * sc) * q - (dmin * mn)
void dequantize_q5_k(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 176) {
        const float d = half(src), dmin = half(src + 2);
        const uint8_t* scales = src + 4;
        const uint8_t* qh = src + 16;
        const uint8_t* qs = src + 48;
        for (int p = 0; p < 4; p++, qs += 32) {
            uint8_t sc0, mn0, sc1, mn1;
            k_scale_min(scales, 2 * p, &sc0, &mn0);
            k_scale_min(scales, 2 * p + 1, &sc1, &mn1);
            const float d0 = d * (float)sc0, m0 = dmin * (float)mn0;
            const float d1 = d * (float)sc1, m1 = dmin * (float)mn1;
            const int bit0 = 2 * p, bit1 = 2 * p + 1;
            for (int l = 0; l < 32; l++) *dst++ = d0 * (float)((qs[l] & 0x0F) | (((qh[l] >> bit0) & 1) << 4)) - m0;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)((qs[l] >> 4) | (((qh[l] >> bit1) & 1) << 4)) - m1;
        }
    }
}

// Q6_K, 210 bytes per 256 elements (16 groups of 16 sharing an 8-bit scale):
//   u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
//   Two halves of 128 elements; half h uses ql[64h .. 64h+63], qh[32h .. 32h+31], scales[8h ..].
//   Within a half, element e = 32g + l (g = 0..3, l = 0..31) takes its low 4 bits from
//   ql[l + 32 (g & 1)] (low nibble for g < 2, high nibble for g >= 2) and its top 2 bits from
//   bits 2g, 2g+1 of qh[l].   x = (d * scales[e / 16]) * (q - 32)
void dequantize_q6_k(const uint8_t* src, float* dst, size_t n_blocks) {
    for (size_t b = 0; b < n_blocks; b++, src += 210) {
        const uint8_t* ql = src;
        const uint8_t* qh = src + 128;
        const int8_t* scales = (const int8_t*)(src + 192);
        const float d = half(src + 208);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, scales += 8) {
            for (int g = 0; g < 4; g++) {
                for (int l = 0; l < 32; l++) {
                    const uint8_t lowbyte = ql[l + 32 * (g & 1)];
                    const int low = g < 2 ? (lowbyte & 0x0F) : (lowbyte >> 4);
                    const int q = (low | (((qh[l] >> (2 * g)) & 3) << 4)) - 32;
                    const int e = 32 * g + l;
                    *dst++ = (d * (float)scales[e / 16]) * (float)q;
                }
            }
        }
    }
}

void dequantize_ggml(uint32_t type, const uint8_t* src, float* dst, size_t n) {
    GgmlTypeInfo info;
    if (!ggml_type_info(type, &info) || !info.dequantizable)
        fail("ggml type ", ggml_type_name(type), " cannot be dequantised by this build (F32, F16, BF16, Q4_0, Q4_1, "
             "Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K can)");
    if (n % info.block_elems) fail("ggml type ", info.name, ": ", n, " elements are not a whole number of blocks");
    const size_t nb = n / info.block_elems;
    switch (type) {
        case kGgmlTypeF32:
            for (size_t i = 0; i < n; i++) dst[i] = load_le<float>(src + 4 * i);
            return;
        case kGgmlTypeF16:
            for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(load_le<uint16_t>(src + 2 * i));
            return;
        case kGgmlTypeBF16:
            for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(load_le<uint16_t>(src + 2 * i));
            return;
        case kGgmlTypeQ4_0: dequantize_q4_0(src, dst, nb); return;
        case kGgmlTypeQ4_1: dequantize_q4_1(src, dst, nb); return;
        case kGgmlTypeQ5_0: dequantize_q5_0(src, dst, nb); return;
        case kGgmlTypeQ5_1: dequantize_q5_1(src, dst, nb); return;
        case kGgmlTypeQ8_0: dequantize_q8_0(src, dst, nb); return;
        case kGgmlTypeQ4_K: dequantize_q4_k(src, dst, nb); return;
        case kGgmlTypeQ5_K: dequantize_q5_k(src, dst, nb); return;
        case kGgmlTypeQ6_K: dequantize_q6_k(src, dst, nb); return;
        default: fail("ggml type ", info.name, " has no dequantiser");
    }
}

// ---- llama.cpp's activation rounding --------------------------------------------------------------

GgmlActRounding ggml_act_rounding(uint32_t weight_type) {
    switch (weight_type) {
        case kGgmlTypeF16: return GgmlActRounding::F16;
        case kGgmlTypeBF16: return GgmlActRounding::BF16;
        case kGgmlTypeQ4_0:
        case kGgmlTypeQ4_1:  // its Q8_1 holds the Q8_0 values plus a block sum
        case kGgmlTypeQ5_0:
        case kGgmlTypeQ5_1:
        case kGgmlTypeQ8_0: return GgmlActRounding::Q8_0;
        case kGgmlTypeQ2_K:
        case kGgmlTypeQ3_K:
        case kGgmlTypeQ4_K:
        case kGgmlTypeQ5_K:
        case kGgmlTypeQ6_K: return GgmlActRounding::Q8_K;
        default: return GgmlActRounding::None;
    }
}

const char* ggml_act_rounding_name(GgmlActRounding r) {
    switch (r) {
        case GgmlActRounding::F16: return "F16";
        case GgmlActRounding::BF16: return "BF16";
        case GgmlActRounding::Q8_0: return "Q8_0";
        case GgmlActRounding::Q8_K: return "Q8_K";
        default: return "none";
    }
}

int64_t ggml_act_block(GgmlActRounding r) {
    return r == GgmlActRounding::Q8_0 ? 32 : r == GgmlActRounding::Q8_K ? 256 : 1;
}

void ggml_round_activations(GgmlActRounding r, const float* x, float* dst, int64_t n) {
    const int64_t block = ggml_act_block(r);
    if (n % block) fail("ggml activation rounding: ", n, " values are not whole ", ggml_act_rounding_name(r), " blocks of ", block);
    switch (r) {
        case GgmlActRounding::None:
            if (dst != x) std::memcpy(dst, x, (size_t)n * sizeof(float));
            return;
        case GgmlActRounding::F16:
            for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(f32_to_f16(x[i]));
            return;
        case GgmlActRounding::BF16:
            for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(f32_to_bf16(x[i]));
            return;
        case GgmlActRounding::Q8_0:
        case GgmlActRounding::Q8_K:
            break;
    }
    for (int64_t b = 0; b < n; b += block) {
        float amax = 0.0f;
        for (int64_t i = b; i < b + block; i++) amax = std::max(amax, std::fabs(x[i]));
        // The multiplier 127/amax and the scale the integers are multiplied back by: Q8_0 keeps
        // amax/127 as f16; Q8_K keeps the reciprocal of its multiplier in f32.
        const float mul = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float d = r == GgmlActRounding::Q8_0 ? f16_to_f32(f32_to_f16(amax / 127.0f)) : (amax != 0.0f ? 1.0f / mul : 0.0f);
        for (int64_t i = b; i < b + block; i++) dst[i] = std::nearbyint(x[i] * mul) * d;  // ties to even
    }
}

void ggml_q8_1_sum_corrections(const float* x, float* corr, int64_t n) {
    if (n % 32) fail("ggml Q8_1 sums: ", n, " values are not whole blocks of 32");
    for (int64_t b = 0; b < n; b += 32) {
        float amax = 0.0f;
        for (int64_t i = b; i < b + 32; i++) amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f, mul = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float d16 = f16_to_f32(f32_to_f16(d));
        int sum = 0;
        float rounded = 0.0f;
        for (int64_t i = b; i < b + 32; i++) {
            const float q = std::nearbyint(x[i] * mul);
            sum += (int)q;
            rounded += q * d16;
        }
        corr[b / 32] = f16_to_f32(f32_to_f16(d * (float)sum)) - rounded;
    }
}

float ggml_gelu_f16_table(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float v = f16_to_f32(f32_to_f16(x));
    const float g = 0.5f * v * (1.0f + std::tanh(0.79788456080286535587989211986876f * v * (1.0f + 0.044715f * v * v)));
    return f16_to_f32(f32_to_f16(g));
}

}  // namespace t2l
