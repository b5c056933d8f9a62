// pickle.h — a restricted unpickler for the data.pkl that torch.save writes.
//
// Takes: the bytes of a pickle (protocols 2 to 5) and a source name for messages.
// Gives: the object graph it describes, built from plain values (None, bool, int, float,
//        str, bytes, tuple, list, dict) and two torch records: a Storage (the persistent id
//        of a tensor's storage: dtype, zip entry key, element count) and a Tensor (a strided
//        view of a Storage, from torch._utils._rebuild_tensor_v2). No data is read here.
// Assumes nothing about the input: it executes nothing. Every global the pickle names is
// looked up in a fixed whitelist (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter, torch.<Type>Storage); any other is an Error naming it.
// The object count, stack, marks and memo are bounded; every read is bounds-checked; a
// malformed pickle is an Error naming the source, the byte offset and the problem.
// Containers point at other objects, which may be shared (the memo) or even cyclic: a
// reader of the graph must bound its recursion depth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "dtype.h"

namespace t2l::pickle {

enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
const char* kind_name(Kind k);  // "none", "bool", "int", ... for messages

struct Object {
    Kind kind = Kind::None;
    bool boolean = false;
    int64_t integer = 0;
    double number = 0.0;
    std::string text;             // Str (UTF-8), Bytes, Global ("module.name")
    std::vector<Object*> items;   // Tuple, List; Dict: key0, value0, key1, value1, ... in order
    // Storage: numel elements of dtype in the zip entry "<prefix>/data/<key>".
    // Global: a whitelisted name; for a torch.<Type>Storage class boolean is true and dtype set.
    DType dtype = DType::F32;
    std::string key;
    int64_t numel = 0;
    // Tensor: element (i0, i1, ...) sits at storage element offset + sum(i_k * stride[k]).
    const Object* storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> shape, stride;
};

// Runs the pickle at construction; throws Error("<source>: ...") on anything outside the subset.
class Unpickled {
public:
    Unpickled(const uint8_t* data, size_t size, const std::string& source);
    Unpickled(const Unpickled&) = delete;  // objects point at each other inside arena_
    Unpickled& operator=(const Unpickled&) = delete;

    const Object& root() const { return *root_; }
    size_t object_count() const { return arena_.size(); }

private:
    std::deque<Object> arena_;  // a deque never moves its elements, so Object* stay valid
    const Object* root_ = nullptr;
};

}  // namespace t2l::pickle
