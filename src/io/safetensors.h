// safetensors.h — reader for .safetensors files and sharded HF checkpoints.
//
// Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {str: str}}, then the data buffer; offsets are relative to its start.
// Every offset, shape product and dtype is validated against the file before use;
// tensors must not overlap.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/json.h"
#include "io/mapped_file.h"
#include "tensor.h"

namespace t2l {

class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);  // throws Error("<path>: ...")
    explicit SafetensorsFile(MappedFile file);           // bytes already mapped or in memory
    const std::string& path() const { return file_.path(); }
    const std::vector<TensorView>& tensors() const { return tensors_; }  // in file order of offsets
    const TensorView* find(const std::string& name) const;
    const json::Value& metadata() const { return metadata_; }  // "__metadata__" or an empty object

private:
    MappedFile file_;
    std::vector<TensorView> tensors_;
    json::Value metadata_;
};

// A checkpoint folder: model.safetensors, or model.safetensors.index.json naming shards.
// Tensor names are unique across shards (a duplicate is an error).
class SafetensorsCheckpoint {
public:
    explicit SafetensorsCheckpoint(const std::string& dir, const std::string& stem = "model");
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;

private:
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::vector<TensorView> tensors_;
};

// safetensors dtype names ("F32", "BF16", ...) <-> DType.
bool dtype_from_safetensors(const std::string& s, DType* out);
const char* dtype_to_safetensors(DType t);

// Write a safetensors file atomically (temp name, fsync, rename). Used for emitted
// adapters and for tests; metadata values must be strings.
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const json::Value& metadata = json::Value::new_object());
// The same into an open AtomicFile, without committing it (to commit several files together).
class AtomicFile;
void write_safetensors(AtomicFile& out, const std::vector<TensorView>& tensors, const json::Value& metadata);

}  // namespace t2l
