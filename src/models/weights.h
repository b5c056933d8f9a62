// weights.h — named access to the tensors of a .t2l file, with shape checks that name the
// file, the tensor and what was expected. Model constructors use it to bind every weight
// they need up front, so a wrong or incomplete file fails at load, not mid-computation.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "format/t2l_file.h"
#include "ops/runtime_tensor.h"

namespace t2l {

class WeightSource {
public:
    // prefix is prepended to every name ("encoder." for an encoder bundled in a T2L file).
    WeightSource(const T2lFile& file, std::string prefix = "");

    bool has(const std::string& name) const;
    // The tensor, borrowed from the map; throws when missing or (if shape given) misshapen.
    Tensor get(const std::string& name, const std::vector<int64_t>& shape = {}) const;
    const T2lFile& file() const { return file_; }
    const std::string& prefix() const { return prefix_; }

    // Names under the prefix that no get() asked for (the converter table check: a file with
    // tensors a model never reads is probably the wrong file).
    std::vector<std::string> unused() const;

private:
    const T2lFile& file_;
    std::string prefix_;
    mutable std::set<std::string> used_;
};

}  // namespace t2l
