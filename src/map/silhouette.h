// silhouette.h — the cluster score that turns "similar descriptions get similar adapters" into a
// number. For point i in group g, with Euclidean distances:
//   a(i) = mean distance to the other points of g
//   b(i) = the smallest, over the other groups h, of the mean distance to the points of h
//   s(i) = (b - a) / max(a, b)             in [-1, 1]; 0 for a point alone in its group
// The score is the mean of s(i) over all points: near 1 = tight, separate groups; near 0 = no
// group structure (what a labelling drawn at random gives); negative = points sit closer to
// another group than to their own.
#pragma once

#include <cstdint>
#include <vector>

#include "map/matrix.h"

namespace t2l::map {

// s(i) for every point under each labelling (labels in [0, groups), at least two groups used).
// The pairwise distances, the O(N² d) part, are computed once for all labellings.
std::vector<std::vector<double>> silhouette(const Matrix& x, const std::vector<std::vector<int>>& labellings);

double mean_of(const std::vector<double>& v);

// The labels permuted by a seeded shuffle: the same group sizes with the structure removed, the
// chance level a score should be compared with.
std::vector<int> shuffled_labels(const std::vector<int>& labels, uint64_t seed);

}  // namespace t2l::map
