// pca.h — principal components, written out: a symmetric eigensolver (cyclic Jacobi rotations)
// for small matrices and subspace iteration with Rayleigh-Ritz for the top few eigenpairs of a
// larger one, then PCA of a point set through its covariance (d <= N) or Gram matrix (N < d).
//
// Conventions: matrices are row-major doubles; eigenvectors are returned as rows, ordered by
// descending eigenvalue; a component's sign is fixed so that its largest-magnitude entry is
// positive (PCA's sign is arbitrary; fixing it makes maps repeatable).
#pragma once

#include <cstdint>
#include <vector>

#include "map/matrix.h"

namespace t2l::map {

// All eigenpairs of the symmetric n x n matrix `a` (taken by value: it is rotated in place).
// values (n) descending; vectors (n, n), row i the unit eigenvector of values[i].
void jacobi_eigen(std::vector<double> a, int64_t n, std::vector<double>* values, std::vector<double>* vectors);

struct EigenResult {
    std::vector<double> values;   // (k) descending
    std::vector<double> vectors;  // (k, n) orthonormal rows
    int iterations = 0;           // subspace iterations (0 when solved by Jacobi directly)
    double residual = 0;          // max_i |A v_i - λ_i v_i| / λ_0 over the k pairs
};

// The k largest eigenpairs of a symmetric positive semi-definite n x n matrix. Small problems
// go straight to Jacobi; otherwise block power iteration on k + 8 seeded random vectors, with a
// Rayleigh-Ritz step (Jacobi on the small projected matrix) each round, until the residual is
// below tol or max_iter rounds have run.
EigenResult top_eigen(const std::vector<double>& a, int64_t n, int64_t k, uint64_t seed, double tol = 1e-9,
                      int max_iter = 1000);

struct PcaResult {
    int64_t k = 0, d = 0;
    std::vector<double> mean;        // (d)
    std::vector<double> components;  // (k, d) orthonormal rows
    std::vector<double> variance;    // (k) variance along each component (divisor N - 1)
    double total_variance = 0;       // trace of the covariance: Σ_j var(x_j)
    Matrix scores;                   // (N, k) centred points in component coordinates
    int iterations = 0;
    double residual = 0;
};

// PCA of the rows of x (N, d), keeping k = min(k, N, d) components. The covariance (d, d) is used
// when d <= N, the Gram matrix of the centred points (N, N) otherwise: both have the same
// nonzero eigenvalues (times N - 1), and the smaller is cheaper to form and to solve.
PcaResult pca(const Matrix& x, int64_t k, uint64_t seed = 0);

}  // namespace t2l::map
