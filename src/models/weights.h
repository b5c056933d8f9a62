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
    // device: where get() puts the weights (CUDA: copied to the GPU once, in their stored dtype).
    WeightSource(const T2lFile& file, std::string prefix = "", Device device = Device::CPU);

    bool has(const std::string& name) const;
    // The tensor on the source's device (CPU: borrowed from the map, no copy); throws when
    // missing or (if shape given) misshapen.
    Tensor get(const std::string& name, const std::vector<int64_t>& shape = {}) const;
    // The same, always the CPU view of the map (for values the model uses on the host).
    Tensor get_host(const std::string& name, const std::vector<int64_t>& shape = {}) const;
    Device device() const { return device_; }
    const T2lFile& file() const { return file_; }
    const std::string& prefix() const { return prefix_; }

    // Names under the prefix that no get() asked for (the converter table check: a file with
    // tensors a model never reads is probably the wrong file).
    std::vector<std::string> unused() const;

private:
    const T2lFile& file_;
    std::string prefix_;
    Device device_;
    mutable std::set<std::string> used_;
};

}  // namespace t2l
