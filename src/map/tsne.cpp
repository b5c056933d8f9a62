// tsne.cpp — see tsne.h.
#include "map/tsne.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common.h"
#include "map/rng.h"
#include "ops/threads.h"

namespace t2l::map {

namespace {

// The symmetric affinities P as compressed rows: row i's entries are (col[k], val[k]) for k in
// [start[i], start[i + 1]), columns ascending.
struct SparseP {
    std::vector<int64_t> start;
    std::vector<int32_t> col;
    std::vector<double> val;
};

// p_{j|i} over the candidate neighbours, with β chosen so the entropy is log(perplexity).
// d2 are squared distances; shifting them by their minimum leaves p unchanged and keeps exp()
// from underflowing to an all-zero row.
void conditional_row(const std::vector<std::pair<float, int32_t>>& cand, double perplexity, std::vector<double>& p) {
    const size_t k = cand.size();
    p.assign(k, 0.0);
    double dmin = std::numeric_limits<double>::infinity(), dmean = 0;
    for (const auto& c : cand) dmin = std::min(dmin, (double)c.first);
    for (const auto& c : cand) dmean += (double)c.first - dmin;
    dmean /= (double)k;
    const double target = std::log(perplexity);
    // Start at the scale of the distances so bisection needs few steps on any data.
    double beta = dmean > 0 ? 1.0 / dmean : 1.0, lo = 0, hi = std::numeric_limits<double>::infinity();
    for (int it = 0; it < 200; it++) {
        double sum = 0, wsum = 0;
        for (size_t j = 0; j < k; j++) {
            const double dj = (double)cand[j].first - dmin;
            p[j] = std::exp(-beta * dj);
            sum += p[j];
            wsum += p[j] * dj;
        }
        const double entropy = std::log(sum) + beta * wsum / sum;  // H = log Σ e^{-βd} + β <d>
        for (size_t j = 0; j < k; j++) p[j] /= sum;
        if (std::fabs(entropy - target) < 1e-6) break;
        if (entropy > target) {  // too flat: sharpen
            lo = beta;
            beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = (beta + lo) / 2;
        }
    }
}

SparseP affinities(const Matrix& x, double perplexity, bool dense) {
    const int64_t n = x.rows;
    const int64_t k = dense ? n - 1 : std::min<int64_t>(n - 1, (int64_t)(3 * perplexity));
    std::vector<int32_t> nbr((size_t)(n * k));
    std::vector<double> cond((size_t)(n * k));
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        std::vector<std::pair<float, int32_t>> cand;
        std::vector<double> p;
        for (int64_t i = lo; i < hi; i++) {
            cand.clear();
            for (int64_t j = 0; j < n; j++)
                if (j != i) cand.push_back({squared_distance(x.row(i), x.row(j), x.cols), (int32_t)j});
            // Ties broken by index (pair ordering) so the neighbour set never depends on the sort.
            if (k < n - 1) std::partial_sort(cand.begin(), cand.begin() + k, cand.end());
            cand.resize((size_t)k);
            conditional_row(cand, perplexity, p);
            for (int64_t t = 0; t < k; t++) {
                nbr[(size_t)(i * k + t)] = cand[(size_t)t].second;
                cond[(size_t)(i * k + t)] = p[(size_t)t];
            }
        }
    }, 4);
    // Symmetrise: every (i, j, p_{j|i}) also counts as (j, i); sum duplicates, divide by 2N.
    struct Entry {
        int32_t i, j;
        double v;
    };
    std::vector<Entry> e;
    e.reserve((size_t)(2 * n * k));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < k; t++) {
            const int32_t j = nbr[(size_t)(i * k + t)];
            const double v = cond[(size_t)(i * k + t)];
            e.push_back({(int32_t)i, j, v});
            e.push_back({j, (int32_t)i, v});
        }
    std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.i != b.i ? a.i < b.i : a.j < b.j; });
    SparseP P;
    P.start.assign((size_t)n + 1, 0);
    for (size_t s = 0; s < e.size();) {
        size_t t = s;
        double v = 0;
        for (; t < e.size() && e[t].i == e[s].i && e[t].j == e[s].j; t++) v += e[t].v;  // summed in sorted order
        P.col.push_back(e[s].j);
        P.val.push_back(v / (2.0 * (double)n));
        P.start[(size_t)e[s].i + 1]++;
        s = t;
    }
    for (int64_t i = 0; i < n; i++) P.start[(size_t)i + 1] += P.start[(size_t)i];
    return P;
}

// A quadtree over the map points: each cell keeps the count and coordinate sums of its points.
struct QuadTree {
    struct Node {
        double cx, cy, half;      // square cell: centre and half width
        double sx = 0, sy = 0;    // sums of the positions inside (centre of mass = s / count)
        int64_t count = 0;
        int32_t first_child = -1; // four children stored consecutively, -1 for a leaf
    };
    std::vector<Node> nodes;
    std::vector<int32_t> leaf_of;  // (N) the leaf each point ended in

    // What the force pass reads, packed per node (32 bytes) after the build.
    struct Cell {
        double mx, my;        // centre of mass
        double width2;        // (2 half)²
        int32_t count, first_child;
    };
    std::vector<Cell> cells;

    void pack() {
        cells.resize(nodes.size());
        for (size_t k = 0; k < nodes.size(); k++) {
            const Node& nd = nodes[k];
            const double c = nd.count > 0 ? (double)nd.count : 1.0;
            cells[k] = {nd.sx / c, nd.sy / c, 4 * nd.half * nd.half, (int32_t)nd.count, nd.first_child};
        }
    }

    // Points closer than 2^-48 of the root's width share a leaf rather than splitting forever.
    static constexpr int kMaxDepth = 48;

    void build(const std::vector<double>& y, int64_t n) {
        double x0 = y[0], x1 = y[0], y0 = y[1], y1 = y[1];
        for (int64_t i = 1; i < n; i++) {
            x0 = std::min(x0, y[(size_t)(2 * i)]);
            x1 = std::max(x1, y[(size_t)(2 * i)]);
            y0 = std::min(y0, y[(size_t)(2 * i + 1)]);
            y1 = std::max(y1, y[(size_t)(2 * i + 1)]);
        }
        const double half = std::max({x1 - x0, y1 - y0, 1e-12}) * 0.5 * (1 + 1e-9);
        nodes.clear();
        nodes.reserve((size_t)(4 * n + 1));
        nodes.push_back(Node{(x0 + x1) / 2, (y0 + y1) / 2, half});
        leaf_of.assign((size_t)n, -1);
        std::vector<int32_t> resident;  // for a leaf holding one point: which (by node index)
        resident.assign(1, -1);
        for (int64_t i = 0; i < n; i++) insert(y, (int32_t)i, resident);
        pack();
    }

    int quadrant(const Node& nd, double px, double py) const { return (px >= nd.cx ? 1 : 0) + (py >= nd.cy ? 2 : 0); }

    void insert(const std::vector<double>& y, int32_t i, std::vector<int32_t>& resident) {
        const double px = y[(size_t)(2 * i)], py = y[(size_t)(2 * i + 1)];
        int32_t id = 0;
        for (int depth = 0;; depth++) {
            Node& nd = nodes[(size_t)id];
            if (nd.first_child < 0) {
                if (nd.count == 0 || depth >= kMaxDepth) {  // empty leaf, or coincident points
                    nd.count++;
                    nd.sx += px;
                    nd.sy += py;
                    if (resident[(size_t)id] < 0) resident[(size_t)id] = i;
                    leaf_of[(size_t)i] = id;
                    return;
                }
                // Split: make four children and push the resident point down one level.
                const int32_t first = (int32_t)nodes.size();
                const double h = nd.half / 2, cx = nd.cx, cy = nd.cy;
                nodes[(size_t)id].first_child = first;
                for (int q = 0; q < 4; q++) {
                    nodes.push_back(Node{cx + ((q & 1) ? h : -h), cy + ((q & 2) ? h : -h), h});
                    resident.push_back(-1);
                }
                const int32_t r = resident[(size_t)id];
                resident[(size_t)id] = -1;
                const double rx = y[(size_t)(2 * r)], ry = y[(size_t)(2 * r + 1)];
                const int32_t child_id = first + quadrant(nodes[(size_t)id], rx, ry);
                Node& child = nodes[(size_t)child_id];
                child.count = 1;
                child.sx = rx;
                child.sy = ry;
                resident[(size_t)child_id] = r;
                leaf_of[(size_t)r] = child_id;
            }
            Node& cur = nodes[(size_t)id];
            cur.count++;
            cur.sx += px;
            cur.sy += py;
            id = cur.first_child + quadrant(cur, px, py);
        }
    }
};

struct Gradient {
    std::vector<double> grad;  // (N, 2)
    double z = 0;
};

// grad = 4 [exaggeration · attraction - repulsion / Z]; per-point partial sums of Z and of the
// repulsion are kept per point and added in index order.
void gradient(const std::vector<double>& y, int64_t n, const SparseP& P, double exaggeration, double theta, QuadTree& tree,
              Gradient& g) {
    std::vector<double> rep((size_t)(2 * n)), zpart((size_t)n);
    const bool exact = theta <= 0;
    if (!exact) tree.build(y, n);
    const double theta2 = theta * theta;
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        // Depth-first: at most 3 siblings wait per level, and depth is capped at kMaxDepth.
        int32_t stack[4 * QuadTree::kMaxDepth + 8];
        for (int64_t i = lo; i < hi; i++) {
            const double px = y[(size_t)(2 * i)], py = y[(size_t)(2 * i + 1)];
            double z = 0, fx = 0, fy = 0;
            if (exact) {
                for (int64_t j = 0; j < n; j++) {
                    if (j == i) continue;
                    const double dx = px - y[(size_t)(2 * j)], dy = py - y[(size_t)(2 * j + 1)];
                    const double w = 1 / (1 + dx * dx + dy * dy);
                    z += w;
                    fx += w * w * dx;
                    fy += w * w * dy;
                }
            } else {
                const int32_t own_leaf = tree.leaf_of[(size_t)i];
                const QuadTree::Cell* cells = tree.cells.data();
                int top = 0;
                stack[top++] = 0;
                while (top > 0) {
                    const int32_t id = stack[--top];
                    const QuadTree::Cell& c = cells[id];
                    const int32_t cnt = c.count - (id == own_leaf ? 1 : 0);  // never itself
                    if (cnt <= 0) continue;
                    const double dx = px - c.mx, dy = py - c.my;
                    const double d2 = dx * dx + dy * dy;
                    if (c.first_child < 0 || c.width2 < theta2 * d2) {
                        const double w = 1 / (1 + d2), cw = cnt * w;
                        z += cw;
                        fx += cw * w * dx;
                        fy += cw * w * dy;
                    } else {
                        for (int q = 3; q >= 0; q--) stack[top++] = c.first_child + q;
                    }
                }
            }
            zpart[(size_t)i] = z;
            rep[(size_t)(2 * i)] = fx;
            rep[(size_t)(2 * i + 1)] = fy;
        }
    }, 16);
    g.z = 0;
    for (double v : zpart) g.z += v;
    g.grad.assign((size_t)(2 * n), 0.0);
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
            const double px = y[(size_t)(2 * i)], py = y[(size_t)(2 * i + 1)];
            double ax = 0, ay = 0;
            for (int64_t t = P.start[(size_t)i]; t < P.start[(size_t)i + 1]; t++) {
                const int64_t j = P.col[(size_t)t];
                const double dx = px - y[(size_t)(2 * j)], dy = py - y[(size_t)(2 * j + 1)];
                const double pw = P.val[(size_t)t] / (1 + dx * dx + dy * dy);
                ax += pw * dx;
                ay += pw * dy;
            }
            g.grad[(size_t)(2 * i)] = 4 * (exaggeration * ax - rep[(size_t)(2 * i)] / g.z);
            g.grad[(size_t)(2 * i + 1)] = 4 * (exaggeration * ay - rep[(size_t)(2 * i + 1)] / g.z);
        }
    }, 16);
}

}  // namespace

TsneResult tsne(const Matrix& x, const TsneOptions& opt) {
    const int64_t n = x.rows;
    if (opt.perplexity < 1) fail("t-SNE: perplexity must be at least 1, not ", opt.perplexity);
    if (3 * opt.perplexity > (double)(n - 1))
        fail("t-SNE: perplexity ", opt.perplexity, " needs at least ", (int64_t)std::ceil(3 * opt.perplexity) + 1, " points, got ", n);
    if (n > std::numeric_limits<int32_t>::max()) fail("t-SNE: too many points (", n, ")");
    if (opt.iterations < 1) fail("t-SNE: iterations must be positive");
    if (opt.theta < 0 || opt.theta > 1.5) fail("t-SNE: theta must be in [0, 1.5], not ", opt.theta);
    const bool exact = opt.theta <= 0;
    const SparseP P = affinities(x, opt.perplexity, exact);

    Rng rng(opt.seed ^ 0x74736e65ull);
    std::vector<double> y((size_t)(2 * n)), update((size_t)(2 * n), 0.0), gains((size_t)(2 * n), 1.0);
    for (double& v : y) v = 1e-4 * rng.normal();
    const double eta = opt.learning_rate > 0 ? opt.learning_rate : std::max((double)n / opt.early_exaggeration, 50.0);
    QuadTree tree;
    Gradient g;
    for (int it = 0; it < opt.iterations; it++) {
        const bool early = it < opt.exaggeration_iterations;
        gradient(y, n, P, early ? opt.early_exaggeration : 1.0, opt.theta, tree, g);
        const double momentum = early ? 0.5 : 0.8;
        for (size_t c = 0; c < y.size(); c++) {
            // Gains grow while the gradient keeps pointing against the last step's direction,
            // and shrink when it flips.
            gains[c] = (g.grad[c] > 0) != (update[c] > 0) ? gains[c] + 0.2 : std::max(gains[c] * 0.8, 0.01);
            update[c] = momentum * update[c] - eta * gains[c] * g.grad[c];
            y[c] += update[c];
        }
        double mx = 0, my = 0;  // keep the map centred (the cost is translation invariant)
        for (int64_t i = 0; i < n; i++) {
            mx += y[(size_t)(2 * i)];
            my += y[(size_t)(2 * i + 1)];
        }
        for (int64_t i = 0; i < n; i++) {
            y[(size_t)(2 * i)] -= mx / (double)n;
            y[(size_t)(2 * i + 1)] -= my / (double)n;
        }
    }

    TsneResult r;
    gradient(y, n, P, 1.0, opt.theta, tree, g);  // for Z at the final positions
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = P.start[(size_t)i]; t < P.start[(size_t)i + 1]; t++) {
            const int64_t j = P.col[(size_t)t];
            const double dx = y[(size_t)(2 * i)] - y[(size_t)(2 * j)], dy = y[(size_t)(2 * i + 1)] - y[(size_t)(2 * j + 1)];
            const double q = 1 / (1 + dx * dx + dy * dy) / g.z, p = P.val[(size_t)t];
            if (p > 0) r.kl += p * std::log(p / std::max(q, 1e-300));
        }
    r.y = Matrix(n, 2);
    for (int64_t i = 0; i < 2 * n; i++) r.y.data[(size_t)i] = (float)y[(size_t)i];
    return r;
}

}  // namespace t2l::map
