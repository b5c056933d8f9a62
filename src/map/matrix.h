// matrix.h — the point sets the map works on: a dense row-major (rows, cols) f32 matrix,
// one point per row, and the squared Euclidean distance between two rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace t2l::map {

struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<float> data;  // (rows, cols)

    Matrix() = default;
    Matrix(int64_t r, int64_t c) : rows(r), cols(c), data((size_t)(r * c), 0.0f) {}
    float* row(int64_t i) { return data.data() + i * cols; }
    const float* row(int64_t i) const { return data.data() + i * cols; }
    float& at(int64_t i, int64_t j) { return data[(size_t)(i * cols + j)]; }
    float at(int64_t i, int64_t j) const { return data[(size_t)(i * cols + j)]; }
};

// Σ (a[k] - b[k])² in a fixed summation order (16 partial sums then a pairwise tree), so the
// same inputs give the same bits whatever the thread split; computed directly rather than as
// |a|² + |b|² - 2ab, which loses the small distances t-SNE's neighbourhoods are made of.
float squared_distance(const float* a, const float* b, int64_t n);

}  // namespace t2l::map
