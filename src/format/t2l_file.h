// t2l_file.h — the .t2l container: one self-describing, mmap-able file per model,
// hypernetwork or adapter. The byte layout is specified in docs/FORMAT.md.
//
//   [64-byte header][metadata entries][tensor table][pad][tensor data, each aligned]
//
// T2lFile validates the whole header, metadata and table on open (every count, length,
// shape product and offset against the file size; no overlaps) and then hands out
// zero-copy TensorViews into the map. T2lWriter streams tensor data to a temporary file,
// computes checksums on the way, patches the table and renames into place at finish().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/xxhash64.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "tensor.h"

namespace t2l {

constexpr char kT2lMagic[4] = {'T', '2', 'L', 'F'};
constexpr uint32_t kT2lVersion = 1;
constexpr uint32_t kT2lDefaultAlignment = 64;  // a cache line and any SIMD load; GPU copies like it too
constexpr size_t kT2lHeaderSize = 64;

// Metadata value types (codes are part of the format).
enum class MetaType : uint32_t { Bool = 1, Int = 2, Float = 3, String = 4, Json = 5, Array = 6 };

struct MetaValue {
    MetaType type = MetaType::Int;
    bool b = false;
    int64_t i = 0;
    double f = 0.0;
    std::string s;               // String, and Json (the document's text)
    MetaType elem_type = MetaType::Int;  // Array only
    std::vector<MetaValue> arr;  // Array only: elements are Bool, Int, Float or String

    static MetaValue of_bool(bool v) { MetaValue m; m.type = MetaType::Bool; m.b = v; return m; }
    static MetaValue of_int(int64_t v) { MetaValue m; m.type = MetaType::Int; m.i = v; return m; }
    static MetaValue of_float(double v) { MetaValue m; m.type = MetaType::Float; m.f = v; return m; }
    static MetaValue of_string(std::string v) { MetaValue m; m.type = MetaType::String; m.s = std::move(v); return m; }
    static MetaValue of_json(std::string text) { MetaValue m; m.type = MetaType::Json; m.s = std::move(text); return m; }
    static MetaValue of_array(MetaType elem, std::vector<MetaValue> v);
};

const char* meta_type_name(MetaType t);
// A metadata value as JSON (a Json value is parsed; `source` names it in errors).
json::Value meta_to_json(const MetaValue& v, const std::string& source);

struct T2lTensor {
    TensorView view;         // name, dtype, shape, data, nbytes
    uint64_t offset = 0;     // relative to the data section
    uint64_t checksum = 0;   // XXH64 of the bytes, seed 0
};

class T2lFile {
public:
    explicit T2lFile(const std::string& path);  // throws Error("<path>: ...")
    explicit T2lFile(MappedFile file);           // bytes already mapped or in memory
    const std::string& path() const { return file_.path(); }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t file_size() const { return file_.size(); }
    uint64_t data_offset() const { return data_offset_; }

    const std::vector<std::pair<std::string, MetaValue>>& metadata() const { return metadata_; }
    const MetaValue* find_meta(const std::string& key) const;
    // Typed lookups; throw Error naming the file and key when missing or of another type.
    std::string meta_string(const std::string& key) const;
    int64_t meta_int(const std::string& key) const;
    json::Value meta_json(const std::string& key) const;

    const std::vector<T2lTensor>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;

    // Recompute checksums in file order; returns the index of the first tensor whose bytes
    // do not match, or -1. `progress(done_bytes, total_bytes)` is called along the way.
    int64_t verify(const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const;

private:
    MappedFile file_;
    uint32_t version_ = 0, alignment_ = 0;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, MetaValue>> metadata_;
    std::vector<T2lTensor> tensors_;
};

class T2lWriter {
public:
    explicit T2lWriter(const std::string& path, uint32_t alignment = kT2lDefaultAlignment);

    // Metadata and tensor declarations come first; keys and names must be unique.
    void set_meta(const std::string& key, MetaValue v);
    void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape);

    // Then the tensors' bytes, in declaration order, in as many pieces as convenient.
    void write_data(const void* data, size_t n);

    // Checks that every declared byte arrived, patches checksums, fsyncs and renames.
    void finish();

    uint64_t total_data_bytes() const { return total_data_; }

private:
    struct Decl {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        uint64_t nbytes = 0, offset = 0, checksum = 0;
    };
    std::string encode_tables() const;  // metadata + tensor table bytes
    void start_data();

    AtomicFile out_;
    uint32_t alignment_;
    std::vector<std::pair<std::string, MetaValue>> metadata_;
    std::vector<Decl> decls_;
    bool data_started_ = false;
    uint64_t data_offset_ = 0, total_data_ = 0;
    size_t cur_ = 0;             // tensor being written
    uint64_t cur_written_ = 0;   // bytes of it so far
    std::unique_ptr<XXH64State> hash_;
};

}  // namespace t2l
