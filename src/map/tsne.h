// tsne.h — t-SNE (van der Maaten & Hinton 2008) with the Barnes-Hut approximation (van der Maaten
// 2014), seeded and deterministic: the same points, options and seed give the same bits whatever
// the number of threads (each point's sums are computed by one thread in a fixed order; the
// quadtree is built serially).
//
//   input affinities  p_{j|i} ∝ exp(-β_i |x_i - x_j|²) over i's K = 3·perplexity nearest
//                     neighbours (all other points when exact), β_i set by bisection so that
//                     the entropy of p_{.|i} is log(perplexity); P_ij = (p_{j|i} + p_{i|j}) / 2N
//   map affinities    w_ij = 1 / (1 + |y_i - y_j|²), Q_ij = w_ij / Z, Z = Σ_{k≠l} w_kl
//   gradient of KL(P‖Q)  ∂/∂y_i = 4 Σ_j (P_ij - Q_ij) w_ij (y_i - y_j)
//                     = 4 [Σ_j P_ij w_ij (y_i - y_j)  -  Σ_j w_ij² (y_i - y_j) / Z]
//                        attraction: sparse P        repulsion: every pair, or quadtree cells
//                        whose width / distance < θ treated as one point at their centre of mass
// Optimiser: gradient descent with momentum (0.5, then 0.8) and per-coordinate gains; P is
// multiplied by the early exaggeration for the first iterations so groups form before they
// spread. Start: N(0, 1e-4²) positions drawn from the seed.
#pragma once

#include <cstdint>

#include "map/matrix.h"

namespace t2l::map {

struct TsneOptions {
    double perplexity = 30;
    int iterations = 1000;
    double theta = 0.5;               // Barnes-Hut opening angle; 0 = exact O(N²) gradient and dense P
    uint64_t seed = 0;
    double learning_rate = 0;         // 0 = max(N / early_exaggeration, 50), which scales with N
    double early_exaggeration = 12;
    int exaggeration_iterations = 250;
};

struct TsneResult {
    Matrix y;          // (N, 2)
    double kl = 0;     // KL(P‖Q) at the end (Z from the same approximation as the gradient)
};

// Embeds the rows of x (N, d) in 2D. Needs 3·perplexity <= N - 1 and perplexity >= 1.
TsneResult tsne(const Matrix& x, const TsneOptions& opt);

}  // namespace t2l::map
