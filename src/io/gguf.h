// gguf.h — the GGUF container (llama.cpp's model and adapter format), version 3.
//
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv
//   n_kv x   { gguf string key, u32 value type, value }
//   n_tensors x { gguf string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
//   padding to general.alignment (32 by default), then tensor data, each at its offset.
// A gguf string is u64 length + bytes. ne[] lists dimensions fastest-varying first: a
// row-major (rows, cols) matrix is ne = {cols, rows}.
// The reader validates every count, length and offset against the file before use: keys and
// tensor names unique, ranks 1..4, element counts within int64, rows a whole number of blocks,
// each tensor's bytes aligned, inside the data section and disjoint from every other tensor's.
// Tensors of every ggml type with a known block size (io/gguf_quant.h) get a view of their
// bytes; a type this build cannot size is listed with data == nullptr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/json.h"
#include "io/mapped_file.h"
#include "tensor.h"

namespace t2l {

enum class GgufType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// ggml tensor types this engine reads or writes as plain floats.
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlBF16 = 30;

struct GgufValue {
    GgufType type = GgufType::U32;
    int64_t i = 0;       // every integer type and bool
    uint64_t u = 0;      // U64 exactly
    double f = 0;        // F32, F64
    std::string s;       // STRING
    GgufType elem = GgufType::U32;
    std::vector<GgufValue> arr;  // ARRAY

    static GgufValue str(std::string v) { GgufValue g; g.type = GgufType::STRING; g.s = std::move(v); return g; }
    static GgufValue f32(float v) { GgufValue g; g.type = GgufType::F32; g.f = v; return g; }
    static GgufValue u32(uint32_t v) { GgufValue g; g.type = GgufType::U32; g.i = v; g.u = v; return g; }
};

struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> ne;  // fastest-varying first
    uint32_t type = 0;
    uint64_t offset = 0;       // relative to the data section
    uint64_t nbytes = 0;       // validated size (0 when the type is unknown)
    const uint8_t* data = nullptr;  // nullptr when the type is unknown
};

class GgufFile {
public:
    explicit GgufFile(const std::string& path);
    explicit GgufFile(MappedFile file);  // bytes already mapped or in memory
    const std::vector<std::pair<std::string, GgufValue>>& kv() const { return kv_; }
    const GgufValue* find(const std::string& key) const;
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(const std::string& name) const;
    uint32_t alignment() const { return alignment_; }
    const std::string& path() const { return file_.path(); }

private:
    MappedFile file_;
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::vector<GgufTensorInfo> tensors_;
    uint32_t alignment_ = 32;
};

// The DType of a plain float ggml type (F32, F16, BF16); false for every other type.
bool ggml_float_type(uint32_t type, DType* dtype);

struct GgufTensorOut {
    std::string name;
    std::vector<int64_t> shape;  // row-major, outermost first (written reversed as ne)
    DType dtype = DType::F32;    // f32, f16 or bf16
    const void* data = nullptr;
};

// Writes a GGUF v3 file atomically (temp name, fsync, rename).
void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorOut>& tensors, uint32_t alignment = 32);

}  // namespace t2l
