// torch_checkpoint.h — reader for torch.save(state_dict) files (T2L's hypermod.pt).
//
// Takes: the path of a zip archive as torch.save writes it since PyTorch 1.6:
//   <prefix>/data.pkl     the pickle (see io/pickle.h) describing the dict and its tensors
//   <prefix>/data/<key>   one entry per storage, raw little-endian elements
//   <prefix>/byteorder    optional; must say "little"      (plus version and bookkeeping)
// Gives: the tensors in pickle order, named by their dict keys. Nested dicts and lists are
//   flattened with '.' ({"state_dict": {"w": t}} gives "state_dict.w"; a list gives "x.0").
//   Contiguous tensors are zero-copy views into the file's mmap; a strided view (a
//   transpose, a slice sharing storage) is copied into a contiguous buffer owned here.
//   Non-tensor leaves (ints, floats, strings, None, ...) are kept as printable values.
// Assumes nothing: every storage must exist with exactly its stated size and every view must
// fit its storage; anything else is an Error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/zip.h"
#include "tensor.h"

namespace t2l {

// A non-tensor leaf of the checkpoint: kind is the pickle kind ("int", "float", "str",
// "bool", "none", "bytes", "dict"/"list"/"tuple" when empty, ...), text its value in print.
struct CheckpointValue {
    std::string name;
    std::string kind;
    std::string text;
};

class TorchCheckpoint {
public:
    explicit TorchCheckpoint(const std::string& path);  // throws Error("<path>: ...")
    explicit TorchCheckpoint(MappedFile file);           // bytes already mapped or in memory
    const std::string& path() const { return zip_.path(); }
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;
    const std::vector<CheckpointValue>& values() const { return values_; }
    size_t copied_count() const { return owned_.size(); }  // tensors materialised from strided views

private:
    ZipArchive zip_;
    std::vector<TensorView> tensors_;
    std::vector<CheckpointValue> values_;
    std::unordered_map<std::string, size_t> index_;
    std::vector<std::vector<uint8_t>> owned_;  // moving the outer vector keeps each buffer in place
};

}  // namespace t2l
