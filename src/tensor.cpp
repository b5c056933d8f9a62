// tensor.cpp — shape helpers (see tensor.h).
#include "tensor.h"

#include "common.h"

namespace t2l {

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

bool shape_nbytes(const std::vector<int64_t>& shape, DType dtype, uint64_t* out) {
    uint64_t n = dtype_size(dtype);
    for (int64_t d : shape) {
        if (d < 0 || !checked_mul(n, (uint64_t)d, &n)) return false;
    }
    *out = n;
    return true;
}

}  // namespace t2l
