// tensor.h — a named, typed view of tensor bytes owned by someone else (usually an mmap).
//
// Shapes are row-major (C order), outermost dimension first, as PyTorch and safetensors
// store them: a Linear weight is (out_features, in_features).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtype.h"

namespace t2l {

struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;  // contiguous, row-major
    uint64_t nbytes = 0;            // == numel() * dtype_size(dtype)

    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

// "(4096, 128)"-style text for messages and `inspect`.
std::string shape_string(const std::vector<int64_t>& shape);

// Product of dims as bytes for dtype; false on a negative dim or on overflow.
bool shape_nbytes(const std::vector<int64_t>& shape, DType dtype, uint64_t* out);

}  // namespace t2l
