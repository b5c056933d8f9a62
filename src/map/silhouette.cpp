// silhouette.cpp — see silhouette.h.
#include "map/silhouette.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "map/rng.h"
#include "ops/threads.h"

namespace t2l::map {

std::vector<std::vector<double>> silhouette(const Matrix& x, const std::vector<std::vector<int>>& labellings) {
    const int64_t n = x.rows;
    std::vector<int> groups;  // per labelling: how many labels
    std::vector<std::vector<int64_t>> counts;
    for (const auto& lab : labellings) {
        if ((int64_t)lab.size() != n) fail("silhouette: ", lab.size(), " labels for ", n, " points");
        int g = 0;
        for (int l : lab) {
            if (l < 0) fail("silhouette: negative label ", l);
            g = std::max(g, l + 1);
        }
        std::vector<int64_t> c((size_t)g, 0);
        for (int l : lab) c[(size_t)l]++;
        if (std::count_if(c.begin(), c.end(), [](int64_t v) { return v > 0; }) < 2)
            fail("silhouette: needs at least two groups");
        groups.push_back(g);
        counts.push_back(std::move(c));
    }
    std::vector<std::vector<double>> s(labellings.size(), std::vector<double>((size_t)n, 0.0));
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        std::vector<double> dist((size_t)n), sums;
        for (int64_t i = lo; i < hi; i++) {
            for (int64_t j = 0; j < n; j++) dist[(size_t)j] = j == i ? 0.0 : std::sqrt((double)squared_distance(x.row(i), x.row(j), x.cols));
            for (size_t L = 0; L < labellings.size(); L++) {
                const std::vector<int>& lab = labellings[L];
                const std::vector<int64_t>& cnt = counts[L];
                const int own = lab[(size_t)i];
                if (cnt[(size_t)own] < 2) continue;  // alone in its group: s = 0 by convention
                sums.assign((size_t)groups[L], 0.0);
                for (int64_t j = 0; j < n; j++) sums[(size_t)lab[(size_t)j]] += dist[(size_t)j];
                const double a = sums[(size_t)own] / (double)(cnt[(size_t)own] - 1);
                double b = std::numeric_limits<double>::infinity();
                for (int g = 0; g < groups[L]; g++)
                    if (g != own && cnt[(size_t)g] > 0) b = std::min(b, sums[(size_t)g] / (double)cnt[(size_t)g]);
                const double m = std::max(a, b);
                s[L][(size_t)i] = m > 0 ? (b - a) / m : 0.0;
            }
        }
    }, 4);
    return s;
}

double mean_of(const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return v.empty() ? 0.0 : t / (double)v.size();
}

std::vector<int> shuffled_labels(const std::vector<int>& labels, uint64_t seed) {
    std::vector<int> out = labels;
    Rng rng(seed ^ 0x73687566ull);
    for (size_t i = out.size(); i > 1; i--) std::swap(out[i - 1], out[(size_t)(rng.next() % i)]);  // Fisher-Yates
    return out;
}

}  // namespace t2l::map
