// pca.cpp — see pca.h.
#include "map/pca.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common.h"
#include "map/rng.h"
#include "ops/threads.h"

namespace t2l::map {

namespace {
double dot(const double* a, const double* b, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // four chains: the loop is latency-bound otherwise
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

// Flip each row (a vector) so that its largest-magnitude entry is positive.
void fix_signs(std::vector<double>& rows, int64_t k, int64_t n) {
    for (int64_t i = 0; i < k; i++) {
        double* v = rows.data() + i * n;
        int64_t arg = 0;
        for (int64_t j = 1; j < n; j++)
            if (std::fabs(v[j]) > std::fabs(v[arg])) arg = j;
        if (v[arg] < 0)
            for (int64_t j = 0; j < n; j++) v[j] = -v[j];
    }
}

// Orthonormalise the rows of q (p, n) in place by modified Gram-Schmidt, run twice ("twice is
// enough" for orthogonality to working precision). A row that collapses is replaced by a fresh
// random one so the block keeps its size.
void orthonormalise_rows(std::vector<double>& q, int64_t p, int64_t n, Rng& rng) {
    for (int64_t i = 0; i < p; i++) {
        double* qi = q.data() + i * n;
        for (int attempt = 0;; attempt++) {
            const double before = std::sqrt(dot(qi, qi, n));
            for (int pass = 0; pass < 2; pass++)
                for (int64_t j = 0; j < i; j++) {
                    const double* qj = q.data() + j * n;
                    const double c = dot(qi, qj, n);
                    for (int64_t t = 0; t < n; t++) qi[t] -= c * qj[t];
                }
            const double norm = std::sqrt(dot(qi, qi, n));
            if (norm > 1e-10 * before && norm > 0) {
                for (int64_t t = 0; t < n; t++) qi[t] /= norm;
                break;
            }
            if (attempt > 10) fail("pca: cannot build an orthonormal block of ", p, " vectors in ", n, " dimensions");
            for (int64_t t = 0; t < n; t++) qi[t] = rng.normal();
        }
    }
}

// y (p, n) = rows of q times the symmetric a: y_i = a q_i.
void multiply_rows(const std::vector<double>& a, int64_t n, const std::vector<double>& q, int64_t p, std::vector<double>& y) {
    y.assign((size_t)(p * n), 0.0);
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; r++)
            for (int64_t i = 0; i < p; i++) y[(size_t)(i * n + r)] = dot(a.data() + r * n, q.data() + i * n, n);
    });
}
}  // namespace

void jacobi_eigen(std::vector<double> a, int64_t n, std::vector<double>* values, std::vector<double>* vectors) {
    if ((int64_t)a.size() != n * n) fail("jacobi_eigen: matrix has ", a.size(), " entries, expected ", n, " x ", n);
    std::vector<double> v((size_t)(n * n), 0.0);  // columns accumulate the rotations: A = V diag V^T
    for (int64_t i = 0; i < n; i++) v[(size_t)(i * n + i)] = 1.0;
    auto A = [&](int64_t i, int64_t j) -> double& { return a[(size_t)(i * n + j)]; };
    double scale = 0;
    for (double x : a) scale += x * x;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) off += 2 * A(i, j) * A(i, j);
        if (off <= 1e-30 * scale || off == 0) break;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                const double apq = A(p, q);
                if (apq == 0) continue;
                // The rotation in the (p, q) plane that zeroes a_pq: t = tan of the angle, the root
                // of t² + 2θt - 1 = 0 of smaller magnitude (the stable choice, |angle| <= π/4).
                const double theta = (A(q, q) - A(p, p)) / (2 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < n; k++) {
                    if (k == p || k == q) continue;
                    const double akp = A(k, p), akq = A(k, q);
                    A(k, p) = A(p, k) = c * akp - s * akq;
                    A(k, q) = A(q, k) = s * akp + c * akq;
                }
                A(p, p) -= t * apq;
                A(q, q) += t * apq;
                A(p, q) = A(q, p) = 0;
                for (int64_t k = 0; k < n; k++) {
                    const double vkp = v[(size_t)(k * n + p)], vkq = v[(size_t)(k * n + q)];
                    v[(size_t)(k * n + p)] = c * vkp - s * vkq;
                    v[(size_t)(k * n + q)] = s * vkp + c * vkq;
                }
            }
    }
    std::vector<int64_t> order((size_t)n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return A(x, x) > A(y, y); });
    values->assign((size_t)n, 0.0);
    vectors->assign((size_t)(n * n), 0.0);
    for (int64_t i = 0; i < n; i++) {
        (*values)[(size_t)i] = A(order[(size_t)i], order[(size_t)i]);
        for (int64_t k = 0; k < n; k++) (*vectors)[(size_t)(i * n + k)] = v[(size_t)(k * n + order[(size_t)i])];
    }
}

EigenResult top_eigen(const std::vector<double>& a, int64_t n, int64_t k, uint64_t seed, double tol, int max_iter) {
    if (k < 1 || k > n) fail("top_eigen: asked for ", k, " eigenpairs of a ", n, " x ", n, " matrix");
    EigenResult r;
    const int64_t p = std::min(n, k + 8);  // oversampling: convergence goes as (λ_{p+1} / λ_k)^iterations
    if (n <= 64 || p == n) {
        std::vector<double> vals, vecs;
        jacobi_eigen(a, n, &vals, &vecs);
        r.values.assign(vals.begin(), vals.begin() + k);
        r.vectors.assign(vecs.begin(), vecs.begin() + k * n);
        fix_signs(r.vectors, k, n);
        return r;
    }
    Rng rng(seed ^ 0x70636131ull);
    std::vector<double> q((size_t)(p * n)), aq, t((size_t)(p * p)), vals, w, u((size_t)(p * n)), au((size_t)(p * n));
    for (double& x : q) x = rng.normal();
    orthonormalise_rows(q, p, n, rng);
    for (r.iterations = 1;; r.iterations++) {
        multiply_rows(a, n, q, p, aq);
        // Rayleigh-Ritz: the best approximations inside span(q) come from T = Q A Q^T (p x p).
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j <= i; j++)
                t[(size_t)(i * p + j)] = t[(size_t)(j * p + i)] = dot(q.data() + i * n, aq.data() + j * n, n);
        jacobi_eigen(t, p, &vals, &w);
        std::fill(u.begin(), u.end(), 0.0);
        std::fill(au.begin(), au.end(), 0.0);
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                const double c = w[(size_t)(i * p + j)];
                for (int64_t s = 0; s < n; s++) {
                    u[(size_t)(i * n + s)] += c * q[(size_t)(j * n + s)];
                    au[(size_t)(i * n + s)] += c * aq[(size_t)(j * n + s)];
                }
            }
        r.residual = 0;
        for (int64_t i = 0; i < k; i++) {
            double rr = 0;
            for (int64_t s = 0; s < n; s++) {
                const double e = au[(size_t)(i * n + s)] - vals[(size_t)i] * u[(size_t)(i * n + s)];
                rr += e * e;
            }
            r.residual = std::max(r.residual, std::sqrt(rr));
        }
        const double top = std::max(std::fabs(vals[0]), 1e-300);
        r.residual /= top;
        if (r.residual <= tol || r.iterations >= max_iter) break;
        q = au;  // one power step on the Ritz basis, then re-orthonormalise
        orthonormalise_rows(q, p, n, rng);
    }
    r.values.assign(vals.begin(), vals.begin() + k);
    r.vectors.assign(u.begin(), u.begin() + k * n);
    fix_signs(r.vectors, k, n);
    return r;
}

PcaResult pca(const Matrix& x, int64_t k, uint64_t seed) {
    const int64_t N = x.rows, d = x.cols;
    if (N < 2) fail("pca: needs at least 2 points, got ", N);
    if (d < 1) fail("pca: the points have no coordinates");
    PcaResult r;
    r.d = d;
    r.k = k = std::max<int64_t>(1, std::min({k, N, d}));
    r.mean.assign((size_t)d, 0.0);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < d; j++) r.mean[(size_t)j] += x.at(i, j);
    for (double& m : r.mean) m /= (double)N;

    const bool covariance = d <= N;
    const int64_t n = covariance ? d : N;
    // Centred data, laid out so the entries of the small matrix are dots of contiguous rows:
    // covariance: columns of X (d, N); Gram: rows of X (N, d).
    std::vector<double> c((size_t)(N * d));
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < d; j++) {
            const double v = x.at(i, j) - r.mean[(size_t)j];
            c[(size_t)(covariance ? j * N + i : i * d + j)] = v;
        }
    const int64_t len = covariance ? N : d;
    std::vector<double> m((size_t)(n * n));
    parallel_for(n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++)
            for (int64_t j = 0; j <= i; j++)
                m[(size_t)(i * n + j)] = dot(c.data() + i * len, c.data() + j * len, len) / (double)(N - 1);
    });
    for (int64_t i = 0; i < n; i++) {
        r.total_variance += m[(size_t)(i * n + i)];  // the trace is the same for both matrices
        for (int64_t j = 0; j < i; j++) m[(size_t)(j * n + i)] = m[(size_t)(i * n + j)];
    }

    EigenResult e = top_eigen(m, n, k, seed);
    r.iterations = e.iterations;
    r.residual = e.residual;
    r.variance = e.values;
    for (double& v : r.variance) v = std::max(v, 0.0);  // PSD: tiny negatives are rounding
    r.components.assign((size_t)(k * d), 0.0);
    r.scores = Matrix(N, k);
    if (covariance) {
        r.components = e.vectors;
        parallel_for(N, [&](int64_t lo, int64_t hi) {
            std::vector<double> xi((size_t)d);
            for (int64_t i = lo; i < hi; i++) {
                for (int64_t j = 0; j < d; j++) xi[(size_t)j] = x.at(i, j) - r.mean[(size_t)j];
                for (int64_t t = 0; t < k; t++) r.scores.at(i, t) = (float)dot(xi.data(), r.components.data() + t * d, d);
            }
        });
    } else {
        // Gram eigenvector u (N) with eigenvalue λ: component v = X^T u / sqrt((N-1) λ), and the
        // scores X v = sqrt((N-1) λ) u.
        for (int64_t t = 0; t < k; t++) {
            const double lam = r.variance[(size_t)t];
            const double s = std::sqrt(lam * (double)(N - 1));
            if (s <= 0) continue;  // a null direction: component and scores stay zero
            for (int64_t i = 0; i < N; i++) {
                const double ui = e.vectors[(size_t)(t * N + i)];
                for (int64_t j = 0; j < d; j++) r.components[(size_t)(t * d + j)] += c[(size_t)(i * d + j)] * ui / s;
            }
        }
        fix_signs(r.components, k, d);
        for (int64_t i = 0; i < N; i++)
            for (int64_t t = 0; t < k; t++) r.scores.at(i, t) = (float)dot(c.data() + i * d, r.components.data() + t * d, d);
    }
    return r;
}

}  // namespace t2l::map
