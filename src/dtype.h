// dtype.h — element types of stored tensors and the exact conversions between them.
//
// Conversions to f32 are exact (bf16 and f16 are subsets of f32). Conversions from f32
// round to nearest, ties to even, as PyTorch's .to(torch.bfloat16/float16) does; NaN stays
// NaN (quiet), infinities and overflow become infinity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace t2l {

// The numeric codes are part of the .t2l file format (docs/FORMAT.md): never renumber.
enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    F64 = 3,
    I8 = 4,
    I16 = 5,
    I32 = 6,
    I64 = 7,
    U8 = 8,
    BOOL = 9,
};
constexpr uint32_t kDTypeCount = 10;

size_t dtype_size(DType t);
const char* dtype_name(DType t);              // "f32", "bf16", ...
bool dtype_from_name(const std::string& s, DType* out);  // accepts the names dtype_name gives
bool dtype_is_valid(uint32_t code);
bool dtype_is_float(DType t);

float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);   // round to nearest even, subnormals kept

// Convert n elements between float dtypes (f32, f16, bf16, f64). dst and src must not
// overlap. Throws Error for a non-float pair unless src == dst (then it copies).
void convert_elements(DType dst_type, void* dst, DType src_type, const void* src, size_t n);

}  // namespace t2l
