// gguf_quant.h — ggml's tensor types: their block sizes, and dequantisation to f32 of the
// block formats a GGUF model is usually stored in.
//
// A ggml tensor row of `n` elements is n / block_elems blocks of block_bytes bytes each,
// stored back to back; within a row, element order is the order the blocks decode to. Every
// quantised format here stores one or two f16 scales per block plus packed integers; the
// value is scale * q (+ min) computed in f32 in exactly the order ggml's reference
// dequantisers use (ggml-quants.c), so results are bit-identical to them and to the
// `gguf` Python package. The block layout of each format is spelled out next to its
// function in gguf_quant.cpp.
//
// Supported for dequantisation: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
// Every other type is only sized (so a reader can validate offsets) and named.
#pragma once

#include <cstddef>
#include <cstdint>

namespace t2l {

// ggml type codes (GGUF tensor info "type"); the numbers are fixed by the file format.
enum GgmlType : uint32_t {
    kGgmlTypeF32 = 0, kGgmlTypeF16 = 1, kGgmlTypeQ4_0 = 2, kGgmlTypeQ4_1 = 3, kGgmlTypeQ5_0 = 6,
    kGgmlTypeQ5_1 = 7, kGgmlTypeQ8_0 = 8, kGgmlTypeQ8_1 = 9, kGgmlTypeQ2_K = 10, kGgmlTypeQ3_K = 11,
    kGgmlTypeQ4_K = 12, kGgmlTypeQ5_K = 13, kGgmlTypeQ6_K = 14, kGgmlTypeQ8_K = 15, kGgmlTypeBF16 = 30,
};

struct GgmlTypeInfo {
    const char* name;      // "Q4_K"
    uint32_t block_elems;  // elements per block (1 for plain types)
    uint32_t block_bytes;  // bytes per block
    bool dequantizable;    // dequantize_ggml handles it
};

// False for a type code this table does not know (a newer ggml type): such a tensor cannot
// even be sized.
bool ggml_type_info(uint32_t type, GgmlTypeInfo* info);
// "Q4_K", or "type 99" for an unknown code.
const char* ggml_type_name(uint32_t type);

// The code of a type name ("Q4_K"); false for a name this table does not know.
bool ggml_type_from_name(const char* name, uint32_t* type);

// Bytes of a row of n elements; false when n is not a whole number of blocks, the type is
// unknown, or the size overflows.
bool ggml_row_bytes(uint32_t type, uint64_t n, uint64_t* bytes);

// Decodes n elements (a whole number of blocks) starting at src into dst. The caller has
// checked that src holds ggml_row_bytes(type, n) bytes. Throws Error for a type that is not
// dequantizable.
void dequantize_ggml(uint32_t type, const uint8_t* src, float* dst, size_t n);

// One function per block format, n_blocks blocks from src to dst (exposed for the tests).
void dequantize_q4_0(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q4_1(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q5_0(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q5_1(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q8_0(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q4_k(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q5_k(const uint8_t* src, float* dst, size_t n_blocks);
void dequantize_q6_k(const uint8_t* src, float* dst, size_t n_blocks);

// ---- llama.cpp's activation rounding (for parity runs) -----------------------------------------
// ggml's CPU matmul does not multiply a quantised weight by f32 activations: it first quantises
// each activation row to the weight type's "vec_dot type" and takes integer dot products.
// Mathematically that equals the f32 dot product of the dequantised weight with the activations
// rounded as below, so an engine holding the dequantised weights reproduces llama.cpp's numbers
// by rounding x the same way before its f32 matmul:
//   Q8_0 (for Q4_0, Q5_0, Q5_1, Q8_0): blocks of 32, d = amax/127 stored as f16, q = round(x*127/amax)
//   Q8_1 (for Q4_1): the same values as Q8_0 (its extra block sum only speeds up the min term)
//   Q8_K (for Q2_K..Q6_K): blocks of 256, s = -127/max (max: the value of largest magnitude),
//        q = min(127, round(s*x)), d = 1/s kept in f32
//   F16 / BF16 (for F16 / BF16 weights): x rounded to the weight's float type
// Rounding is to nearest, ties to even, as the AVX code paths do.
enum class GgmlActRounding { None, F16, BF16, Q8_0, Q8_K };

// The rounding llama.cpp applies to activations multiplied by a weight of this type (None for F32).
GgmlActRounding ggml_act_rounding(uint32_t weight_type);
// "Q8_0", "Q8_K", "F16", "BF16", "none".
const char* ggml_act_rounding_name(GgmlActRounding r);
// The block size of the rounding (1 for None, F16 and BF16).
int64_t ggml_act_block(GgmlActRounding r);
// dst[i] = x[i] rounded as llama.cpp does; n must be a multiple of ggml_act_block(r). dst may be x.
void ggml_round_activations(GgmlActRounding r, const float* x, float* dst, int64_t n);
// Q4_1 and Q5_1 weights (value = d*q + m per block of 32) meet Q8_1 activations, whose block sum
// s is stored as f16 and multiplies the weight block's m in place of the sum of the rounded
// activations. corr[b] = s - sum_j x_rounded[j] for each block b of x (n/32 of them); a product
// with such a weight is then y += sum_b m[b] * corr[b].
void ggml_q8_1_sum_corrections(const float* x, float* corr, int64_t n);
// ggml's CPU GELU (tanh form), as its GeGLU computes it: looked up in a table of f16 inputs
// holding f16 outputs, exact (x or 0) beyond +-10.
float ggml_gelu_f16_table(float x);

}  // namespace t2l
