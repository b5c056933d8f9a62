// test_map.cpp — `t2l map` and its parts: the eigensolvers and PCA against decompositions known
// by construction, the count sketch, the silhouette against hand-computed values, t-SNE's
// determinism (bitwise, per seed) and that it separates separated clusters, the description
// sampling, the plot's pixels and PNG, and the command end to end on the tiny T2L fixture.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>

#include "common.h"
#include "convert/convert.h"
#include "map/descriptions.h"
#include "map/pca.h"
#include "map/plot.h"
#include "map/rng.h"
#include "map/silhouette.h"
#include "map/sketch.h"
#include "map/tsne.h"
#include "test_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

using namespace t2l;
using namespace t2l::map;
using t2l_test::ScratchDir;

namespace {
// n orthonormal vectors of length n (rows), from seeded Gaussian vectors by Gram-Schmidt.
std::vector<double> random_orthonormal(int64_t n, uint64_t seed) {
    Rng rng(seed);
    std::vector<double> q((size_t)(n * n));
    for (double& v : q) v = rng.normal();
    for (int64_t i = 0; i < n; i++) {
        double* qi = q.data() + i * n;
        for (int64_t j = 0; j < i; j++) {
            const double* qj = q.data() + j * n;
            double c = 0;
            for (int64_t t = 0; t < n; t++) c += qi[t] * qj[t];
            for (int64_t t = 0; t < n; t++) qi[t] -= c * qj[t];
        }
        double norm = 0;
        for (int64_t t = 0; t < n; t++) norm += qi[t] * qi[t];
        for (int64_t t = 0; t < n; t++) qi[t] /= std::sqrt(norm);
    }
    return q;
}

// A = Σ_k λ_k q_k q_kᵀ
std::vector<double> compose(const std::vector<double>& q, const std::vector<double>& lambda, int64_t n) {
    std::vector<double> a((size_t)(n * n), 0.0);
    for (size_t k = 0; k < lambda.size(); k++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) a[(size_t)(i * n + j)] += lambda[k] * q[k * n + i] * q[k * n + j];
    return a;
}

double abs_dot(const double* a, const double* b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return std::fabs(s);
}

// Three Gaussian blobs in 10-d, centres 20 apart, unit spread: 50 points each.
Matrix blobs(std::vector<int>* labels) {
    Rng rng(11);
    Matrix x(150, 10);
    for (int64_t i = 0; i < 150; i++) {
        const int g = (int)(i / 50);
        labels->push_back(g);
        for (int64_t j = 0; j < 10; j++) x.at(i, j) = (float)(rng.normal() + (j == g ? 20.0 : 0.0));
    }
    return x;
}
}  // namespace

TEST_CASE("Jacobi eigensolver recovers a known decomposition", "[map]") {
    const int64_t n = 6;
    const std::vector<double> lambda = {9, 5, 3, 2, 1, 0.5};
    const std::vector<double> q = random_orthonormal(n, 1);
    std::vector<double> values, vectors;
    jacobi_eigen(compose(q, lambda, n), n, &values, &vectors);
    double worst_value = 0, worst_vector = 0;
    for (int64_t k = 0; k < n; k++) {
        worst_value = std::max(worst_value, std::fabs(values[(size_t)k] - lambda[(size_t)k]));
        worst_vector = std::max(worst_vector, 1 - abs_dot(vectors.data() + k * n, q.data() + k * n, n));
    }
    std::printf("jacobi 6x6: max eigenvalue error %.2e, max 1 - |<v, q>| %.2e\n", worst_value, worst_vector);
    CHECK(worst_value < 1e-12);
    CHECK(worst_vector < 1e-12);
}

TEST_CASE("subspace iteration finds the top eigenpairs of a 300 x 300 matrix", "[map]") {
    const int64_t n = 300;
    std::vector<double> lambda((size_t)n);
    for (int64_t i = 0; i < n; i++) lambda[(size_t)i] = 100.0 / (1.0 + i);
    const std::vector<double> q = random_orthonormal(n, 2);
    const EigenResult e = top_eigen(compose(q, lambda, n), n, 3, 0);
    REQUIRE(e.values.size() == 3);
    double worst_value = 0, worst_vector = 0;
    for (int64_t k = 0; k < 3; k++) {
        worst_value = std::max(worst_value, std::fabs(e.values[(size_t)k] - lambda[(size_t)k]) / lambda[(size_t)k]);
        worst_vector = std::max(worst_vector, 1 - abs_dot(e.vectors.data() + k * n, q.data() + k * n, n));
    }
    std::printf("subspace iteration 300x300: %d iterations, residual %.1e, max relative eigenvalue error %.2e, max 1 - |<v, q>| %.2e\n",
                e.iterations, e.residual, worst_value, worst_vector);
    CHECK(e.iterations > 1);  // really iterated, not solved by the small-matrix path
    CHECK(e.residual <= 1e-9);
    CHECK(worst_value < 1e-12);
    CHECK(worst_vector < 1e-12);
}

TEST_CASE("PCA of points with a known decomposition (covariance and Gram paths)", "[map]") {
    // Points m ± a_k q_k for orthonormal q_k: the covariance is Σ_k (2 a_k² / (N - 1)) q_k q_kᵀ,
    // so the components are ±q_k, the variances 2 a_k² / (N - 1), and m + a_k q_k scores a_k
    // (up to the sign) on component k and 0 elsewhere.
    for (int64_t d : {5, 40}) {  // N = 10: d = 5 uses the covariance, d = 40 the Gram matrix
        const std::vector<double> a = {4, 3, 2, 1, 0.5};
        const std::vector<double> q = random_orthonormal(d, 3);
        std::vector<double> m((size_t)d);
        for (int64_t j = 0; j < d; j++) m[(size_t)j] = 0.25 * (double)j - 1;
        Matrix x(10, d);
        for (int64_t k = 0; k < 5; k++)
            for (int s = 0; s < 2; s++)
                for (int64_t j = 0; j < d; j++) x.at(2 * k + s, j) = (float)(m[(size_t)j] + (s ? -1 : 1) * a[(size_t)k] * q[(size_t)(k * d + j)]);
        const PcaResult p = pca(x, 3);
        REQUIRE(p.k == 3);
        double worst_var = 0, worst_vec = 0, worst_score = 0;
        for (int64_t k = 0; k < 3; k++) {
            const double want = 2 * a[(size_t)k] * a[(size_t)k] / 9.0;
            worst_var = std::max(worst_var, std::fabs(p.variance[(size_t)k] - want) / want);
            worst_vec = std::max(worst_vec, 1 - abs_dot(p.components.data() + k * d, q.data() + k * d, d));
            for (int64_t t = 0; t < 3; t++) {
                const double want_score = t == k ? a[(size_t)k] : 0.0;
                worst_score = std::max(worst_score, std::fabs(std::fabs(p.scores.at(2 * k, t)) - want_score));
            }
        }
        double total = 0;
        for (double v : a) total += 2 * v * v / 9.0;
        std::printf("PCA d=%lld N=10: max relative variance error %.2e, max 1 - |<c, q>| %.2e, max score error %.2e, total variance %.6f (want %.6f)\n",
                    (long long)d, worst_var, worst_vec, worst_score, p.total_variance, total);
        CHECK(worst_var < 1e-5);   // the points are f32: 1e-7 relative per coordinate
        CHECK(worst_vec < 1e-6);
        CHECK(worst_score < 1e-5);
        CHECK(std::fabs(p.total_variance - total) < 1e-5 * total);
        for (int64_t k = 0; k < 3; k++) {  // sign convention: the largest-magnitude entry is positive
            const double* c = p.components.data() + k * d;
            CHECK(*std::max_element(c, c + d, [](double u, double v) { return std::fabs(u) < std::fabs(v); }) > 0);
        }
    }
}

TEST_CASE("count sketch: exact when short, keeps distances, same sums piecewise", "[map]") {
    const CountSketch small(4, 8, 0);
    CHECK(small.exact());
    const float v[4] = {1, -2, 3, 0.5f};
    std::vector<double> out(4, 0.0);
    small.accumulate(v, 0, 4, out.data());
    CHECK(out == std::vector<double>{1, -2, 3, 0.5});

    const uint64_t D = 100000;
    const CountSketch s(D, 512, 7);
    REQUIRE(!s.exact());
    Rng rng(5);
    std::vector<std::vector<float>> xs(12, std::vector<float>(D));
    std::vector<std::vector<double>> ys(12, std::vector<double>(512, 0.0));
    for (size_t i = 0; i < xs.size(); i++) {
        for (float& f : xs[i]) f = (float)rng.normal();
        s.accumulate(xs[i].data(), 0, D, ys[i].data());
    }
    double worst = 0, mean_dev = 0;
    int pairs = 0;
    for (size_t i = 0; i < xs.size(); i++)
        for (size_t j = i + 1; j < xs.size(); j++) {
            double full = 0, sk = 0;
            for (uint64_t t = 0; t < D; t++) full += (double)(xs[i][t] - xs[j][t]) * (xs[i][t] - xs[j][t]);
            for (size_t t = 0; t < 512; t++) sk += (ys[i][t] - ys[j][t]) * (ys[i][t] - ys[j][t]);
            const double dev = std::fabs(std::sqrt(sk / full) - 1);
            worst = std::max(worst, dev);
            mean_dev += dev;
            pairs++;
        }
    mean_dev /= pairs;
    std::printf("count sketch 100000 -> 512: distance ratio off by %.3f on average, %.3f at worst over %d pairs\n", mean_dev, worst, pairs);
    CHECK(mean_dev < 0.06);  // the distance's spread is about sqrt(2/k)/2 = 3%
    CHECK(worst < 0.2);
    std::vector<double> pieces(512, 0.0);
    s.accumulate(xs[0].data(), 0, 40000, pieces.data());
    s.accumulate(xs[0].data() + 40000, 40000, D - 40000, pieces.data());
    CHECK(pieces == ys[0]);
    CHECK_THROWS_AS(s.accumulate(xs[0].data(), 99999, 2, pieces.data()), Error);
}

TEST_CASE("silhouette: hand-computed values", "[map]") {
    // 1-D points 0, 1 (group 0) and 4, 6 (group 1).
    Matrix x(4, 1);
    x.data = {0, 1, 4, 6};
    const std::vector<double> s = silhouette(x, {{0, 0, 1, 1}})[0];
    const double want[4] = {(5.0 - 1) / 5.0, (4.0 - 1) / 4.0, (3.5 - 2) / 3.5, (5.5 - 2) / 5.5};
    for (int i = 0; i < 4; i++) CHECK(std::fabs(s[(size_t)i] - want[i]) < 1e-12);
    CHECK(std::fabs(mean_of(s) - (want[0] + want[1] + want[2] + want[3]) / 4) < 1e-12);
    // A point alone in its group scores 0; fewer than two groups is an error.
    CHECK(silhouette(x, {{0, 0, 0, 1}})[0][3] == 0.0);
    CHECK_THROWS_AS(silhouette(x, {{2, 2, 2, 2}}), Error);
    // Shuffling keeps the group sizes.
    std::vector<int> labels = {0, 0, 0, 1, 1, 2, 2, 2, 2, 2};
    std::vector<int> sh = shuffled_labels(labels, 3);
    CHECK(sh != labels);
    std::sort(sh.begin(), sh.end());
    CHECK(sh == labels);
}

TEST_CASE("t-SNE is deterministic per seed and separates separated clusters", "[map]") {
    std::vector<int> labels;
    const Matrix x = blobs(&labels);
    for (double theta : {0.5, 0.0}) {
        TsneOptions o;
        o.perplexity = 10;
        o.iterations = 400;
        o.theta = theta;
        o.seed = 42;
        const TsneResult a = tsne(x, o), b = tsne(x, o);
        o.seed = 43;
        const TsneResult c = tsne(x, o);
        REQUIRE(a.y.rows == 150);
        REQUIRE(a.y.cols == 2);
        CHECK(std::memcmp(a.y.data.data(), b.y.data.data(), a.y.data.size() * sizeof(float)) == 0);
        CHECK(a.kl == b.kl);
        CHECK(a.y.data != c.y.data);
        const double sa = mean_of(silhouette(a.y, {labels})[0]), sc = mean_of(silhouette(c.y, {labels})[0]);
        std::printf("t-SNE theta %.1f: KL %.3f (seed 42) %.3f (seed 43); 2D silhouette of three separated blobs %.3f, %.3f\n", theta, a.kl, c.kl,
                    sa, sc);
        CHECK(sa > 0.7);  // t-SNE draws each blob as a disc about a third of the gap wide: 0.75 - 0.85
        CHECK(sc > 0.7);
        CHECK(std::isfinite(a.kl));
        CHECK(a.kl < 1.0);
    }
    TsneOptions bad;
    bad.perplexity = 50;  // needs 151 points
    CHECK_THROWS_AS(tsne(x, bad), Error);
}

TEST_CASE("descriptions: TSV and TXT grouping, seeded selection", "[map]") {
    ScratchDir dir;
    std::string tsv = "task\tsource\tdescription\n";
    for (int g = 0; g < 6; g++)
        for (int i = 0; i < 5; i++) tsv += cat("task", g, "\t", i % 2 ? "a" : "b", "\tdescribe ", g, " ", i, "\n");
    t2l_test::write_bytes(dir.file("d.tsv"), tsv);
    const DescriptionSet all = read_descriptions(dir.file("d.tsv"), "");
    CHECK(all.texts.size() == 30);
    CHECK(all.names.size() == 6);
    CHECK(read_descriptions(dir.file("d.tsv"), "source").names.size() == 2);
    CHECK_THROWS_WITH(read_descriptions(dir.file("d.tsv"), "nope"), Catch::Contains("no 'nope' column"));

    const DescriptionSet a = select_descriptions(all, 3, 2, 9), b = select_descriptions(all, 3, 2, 9);
    CHECK(a.texts.size() == 6);
    CHECK(a.names.size() == 3);
    CHECK(a.texts == b.texts);
    CHECK(std::is_sorted(a.names.begin(), a.names.end()));
    for (size_t i = 0; i < a.texts.size(); i++)  // each text belongs to the group it is labelled with
        CHECK(a.texts[i].substr(9, 1) == a.names[(size_t)a.group[i]].substr(4));
    // Another seed picks other groups or rows; 0 = keep everything.
    bool differs = false;
    for (uint64_t s = 10; s < 20 && !differs; s++) differs = select_descriptions(all, 3, 2, s).texts != a.texts;
    CHECK(differs);
    CHECK(select_descriptions(all, 0, 0, 1).texts == all.texts);

    t2l_test::write_bytes(dir.file("d.txt"), "# maths\nadd numbers\nmultiply numbers\n\nwrite a poem\n\n#   code\nfix a bug\n");
    const DescriptionSet t = read_descriptions(dir.file("d.txt"), "");
    CHECK(t.names == std::vector<std::string>{"maths", "group 1", "code"});
    CHECK(t.group == std::vector<int>{0, 0, 1, 2});
    CHECK_THROWS_AS(read_descriptions(dir.file("d.txt"), "task"), Error);
    t2l_test::write_bytes(dir.file("bad.tsv"), "task\tdescription\nx\ty\tz\n");
    CHECK_THROWS_WITH(read_descriptions(dir.file("bad.tsv"), ""), Catch::Contains(":2: 3 tab-separated fields"));
}

TEST_CASE("plot: points land on their pixels in their colours; the PNG decodes to the image", "[map]") {
    ScatterSpec spec;
    spec.title = "title";
    spec.subtitle = "line one\nline two";
    spec.x_label = "x";
    spec.y_label = "y";
    spec.group_names = {"first", "second"};
    spec.x = {-1.03f, 0.51f, 1.27f};
    spec.y = {0.37f, -0.73f, 1.11f};
    spec.group = {0, 1, 1};
    spec.width = 900;
    spec.height = 600;
    spec.label_groups = false;
    ScatterLayout L;
    const Image img = draw_scatter(spec, &L);
    for (size_t i = 0; i < 3; i++) {
        const double px = L.to_px(spec.x[i]), py = L.to_py(spec.y[i]);
        CHECK(px > L.frame_x0);
        CHECK(px < L.frame_x1);
        CHECK(py > L.frame_y0);
        CHECK(py < L.frame_y1);
        const Colour got = img.pixel((int)px, (int)py), want = group_colour(spec.group[i]);
        // 80% of the colour over white (or a light grid line).
        CHECK(std::abs(got.r - (255 + (want.r - 255) * 0.8)) < 12);
        CHECK(std::abs(got.g - (255 + (want.g - 255) * 0.8)) < 12);
        CHECK(std::abs(got.b - (255 + (want.b - 255) * 0.8)) < 12);
    }
    // One scale for both axes, and the data inside the frame.
    CHECK(L.to_px(1) - L.to_px(0) == Approx(L.to_py(0) - L.to_py(1)));
    CHECK(group_colour(0).r != group_colour(1).r);

    const std::string png = encode_png(img);
    REQUIRE(png.size() > 8);
    CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    int w = 0, h = 0, c = 0;
    unsigned char* pixels = stbi_load_from_memory((const unsigned char*)png.data(), (int)png.size(), &w, &h, &c, 3);
    REQUIRE(pixels != nullptr);
    CHECK(w == 900);
    CHECK(h == 600);
    CHECK(std::memcmp(pixels, img.rgb().data(), img.rgb().size()) == 0);
    stbi_image_free(pixels);
    // Text draws ink; a string outside ASCII does not crash the font.
    Image t(200, 40, {255, 255, 255});
    t.draw_text(2, 2, "Ag caf\xc3\xa9", 2.0, {0, 0, 0});
    size_t dark = 0;
    for (size_t p = 0; p < t.rgb().size(); p++) dark += t.rgb()[p] < 128;
    CHECK(dark > 50);
}

TEST_CASE("t2l map end to end on the tiny T2L checkpoint", "[map][cli]") {
    ScratchDir dir;
    ConvertOptions o;
    o.src = t2l_test::fixture("llama/t2l_L");
    o.encoder_dir = t2l_test::fixture("gte_encoder");
    o.out = dir.file("t2l.t2l");
    o.quiet = true;
    convert_checkpoint(o);
    std::string tsv = "task\tdescription\n";
    const char* topics[3] = {"arithmetic word problems", "translate English to French", "classify the sentiment of reviews"};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 8; i++) tsv += cat("task", g, "\tVariant ", i, ": ", topics[g], " carefully.\n");
    t2l_test::write_bytes(dir.file("d.tsv"), tsv);
    const std::string common = "map --t2l " + o.out + " --descriptions " + dir.file("d.tsv");

    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", common + " --per-group 6 -o " + dir.file("a.png") + " --csv " + dir.file("a.csv"), &out) == 0);
    std::printf("%s", out.c_str());
    CHECK(out.find("cluster score") != std::string::npos);
    CHECK(out.find("18 descriptions, 3 groups by task") != std::string::npos);
    const std::string png = t2l_test::read_bytes(dir.file("a.png"));
    CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    const std::string csv = t2l_test::read_bytes(dir.file("a.csv"));
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 19);
    CHECK(csv.rfind("index,group,x,y,silhouette,description\n", 0) == 0);

    // The same command twice draws the same bytes; t-SNE and the embedding space run too.
    REQUIRE(t2l_test::run_binary("t2l", common + " --per-group 6 -o " + dir.file("b.png") + " -q", &out) == 0);
    CHECK(out.empty());
    CHECK(t2l_test::read_bytes(dir.file("b.png")) == png);
    REQUIRE(t2l_test::run_binary("t2l", common + " --method tsne --space embedding -o " + dir.file("c.png"), &out) == 0);
    CHECK(out.find("perplexity lowered") != std::string::npos);
    CHECK(out.find("task embedding (64-d)") != std::string::npos);

    // t-SNE's picture does not depend on the number of threads (90 points: every loop is split).
    std::string tsv90 = "task\tdescription\n";
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 30; i++) tsv90 += cat("task", g, "\tCase ", i, ": ", topics[g], ".\n");
    t2l_test::write_bytes(dir.file("d90.tsv"), tsv90);
    const std::string tsne90 = "map --t2l " + o.out + " --descriptions " + dir.file("d90.tsv") + " --method tsne --iterations 300 -q -o ";
    REQUIRE(t2l_test::run_binary("t2l", tsne90 + dir.file("t2.png"), &out) == 0);
    setenv("T2L_THREADS", "1", 1);
    const int rc1 = t2l_test::run_binary("t2l", tsne90 + dir.file("t1.png"), &out);
    unsetenv("T2L_THREADS");
    REQUIRE(rc1 == 0);
    CHECK(t2l_test::read_bytes(dir.file("t1.png")) == t2l_test::read_bytes(dir.file("t2.png")));

    // Errors: one line, non-zero, nothing left under the output name.
    REQUIRE(t2l_test::run_binary("t2l", common + " --method tsne --perplexity 30 -o " + dir.file("d.png"), &out) == 1);
    CHECK(out.rfind("t2l: error: t2l map: --perplexity 30 needs at least 91 descriptions", 0) == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK(!t2l_test::path_exists(dir.file("d.png")));
    REQUIRE(t2l_test::run_binary("t2l", common + " --group-by source -o " + dir.file("e.png"), &out) == 1);
    CHECK(out.find("no 'source' column") != std::string::npos);
    CHECK(!t2l_test::path_exists(dir.file("e.png")));
    CHECK(t2l_test::run_binary("t2l", common + " --method umap", &out) == 1);
    CHECK(t2l_test::run_binary("t2l", common + " -o " + dir.file("no/such/dir/x.png"), &out) == 1);
    CHECK(t2l_test::run_binary("t2l", "map --help", &out) == 0);
    CHECK(out.find("count sketch") != std::string::npos);
}
