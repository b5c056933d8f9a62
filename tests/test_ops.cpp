// test_ops.cpp — the CPU reference ops against straightforward double-precision formulas.
#include <cmath>
#include <random>
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace t2l;

namespace {
Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed, float scale = 1.0f) {
    Tensor t = Tensor::empty(std::move(shape));
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] = nd(rng);
    return t;
}
double max_abs_diff(const float* a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < b.size(); i++) m = std::max(m, std::fabs((double)a[i] - b[i]));
    return m;
}
}  // namespace

TEST_CASE("linear matches a double-precision product for f32, bf16 and f16 weights", "[ops]") {
    const int64_t n = 37, in = 131, out = 67;  // odd sizes: partial SIMD blocks and output groups
    Tensor x = random_tensor({n, in}, 1), w32 = random_tensor({out, in}, 2, 0.1f), b = random_tensor({out}, 3);
    for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
        Tensor w = w32.to_dtype(wt);
        std::vector<float> wf = w.to_floats();  // the exact values the op sees
        std::vector<double> ref((size_t)(n * out));
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++) {
                double s = b.f32()[o];
                for (int64_t k = 0; k < in; k++) s += (double)x.f32()[i * in + k] * wf[(size_t)(o * in + k)];
                ref[(size_t)(i * out + o)] = s;
            }
        Tensor y = Tensor::empty({n, out});
        linear(y, x, w, &b);
        const double err = max_abs_diff(y.f32(), ref);
        std::printf("linear %s: max abs error %.3g\n", dtype_name(wt), err);
        CHECK(err < 1e-5);
    }
    Tensor bad = Tensor::empty({n, out + 1});
    CHECK_THROWS_WITH(linear(bad, x, w32), Catch::Contains("should have"));
}

TEST_CASE("layer_norm and rms_norm (plain and Gemma's 1 + w)", "[ops]") {
    const int64_t n = 5, d = 96;
    Tensor x = random_tensor({n, d}, 4, 3.0f), w = random_tensor({d}, 5), b = random_tensor({d}, 6);
    Tensor y = Tensor::empty({n, d});
    layer_norm(y, x, w, b, 1e-5f);
    std::vector<double> ref((size_t)(n * d));
    for (int64_t i = 0; i < n; i++) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += x.f32()[i * d + j];
        mean /= d;
        for (int64_t j = 0; j < d; j++) var += std::pow(x.f32()[i * d + j] - mean, 2);
        var /= d;
        for (int64_t j = 0; j < d; j++)
            ref[(size_t)(i * d + j)] = (x.f32()[i * d + j] - mean) / std::sqrt(var + 1e-5) * w.f32()[j] + b.f32()[j];
    }
    double err = max_abs_diff(y.f32(), ref);
    std::printf("layer_norm: max abs error %.3g\n", err);
    CHECK(err < 1e-5);
    for (bool plus_one : {false, true}) {
        rms_norm(y, x, w, 1e-6f, plus_one);
        for (int64_t i = 0; i < n; i++) {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) ss += std::pow(x.f32()[i * d + j], 2);
            const double inv = 1.0 / std::sqrt(ss / d + 1e-6);
            for (int64_t j = 0; j < d; j++) ref[(size_t)(i * d + j)] = x.f32()[i * d + j] * inv * (w.f32()[j] + (plus_one ? 1.0 : 0.0));
        }
        err = max_abs_diff(y.f32(), ref);
        std::printf("rms_norm plus_one=%d: max abs error %.3g\n", plus_one, err);
        CHECK(err < 1e-5);
    }
}

TEST_CASE("add_rms_norm: x += delta, or x += rms_norm(delta) · w2, then h = rms_norm(x) · w", "[ops]") {
    const int64_t n = 3, d = 96;
    const Tensor x0 = random_tensor({n, d}, 7, 3.0f), delta = random_tensor({n, d}, 8, 5.0f);
    const Tensor w = random_tensor({d}, 9), w2 = random_tensor({d}, 10);
    for (bool plus_one : {false, true})
        for (bool normed : {false, true}) {
            // The reference: the ops one after another, in double.
            std::vector<double> xr((size_t)(n * d)), hr((size_t)(n * d));
            for (int64_t i = 0; i < n; i++) {
                const float* di = delta.f32() + i * d;
                double sd = 0, ss = 0;
                for (int64_t j = 0; j < d; j++) sd += (double)di[j] * di[j];
                const double inv_d = 1.0 / std::sqrt(sd / d + 1e-6);
                for (int64_t j = 0; j < d; j++) {
                    const double g2 = w2.f32()[j] + (plus_one ? 1.0 : 0.0);
                    xr[(size_t)(i * d + j)] = x0.f32()[i * d + j] + (normed ? di[j] * inv_d * g2 : di[j]);
                    ss += xr[(size_t)(i * d + j)] * xr[(size_t)(i * d + j)];
                }
                const double inv = 1.0 / std::sqrt(ss / d + 1e-6);
                for (int64_t j = 0; j < d; j++)
                    hr[(size_t)(i * d + j)] = xr[(size_t)(i * d + j)] * inv * (w.f32()[j] + (plus_one ? 1.0 : 0.0));
            }
            Tensor x = x0.to(Device::CPU), h = Tensor::empty({n, d});
            add_rms_norm(x, &delta, h, w, 1e-6f, plus_one, normed ? &w2 : nullptr);
            const double ex = max_abs_diff(x.f32(), xr), eh = max_abs_diff(h.f32(), hr);
            std::printf("add_rms_norm plus_one=%d delta normed=%d: max abs error x %.3g, h %.3g\n", plus_one, normed, ex, eh);
            CHECK(ex < 1e-5);
            CHECK(eh < 1e-5);
        }
    Tensor x = x0.to(Device::CPU), h = Tensor::empty({n, d});
    CHECK_THROWS_WITH(add_rms_norm(x, nullptr, h, w, 1e-6f, false, &w2), Catch::Contains("without a delta"));
}

TEST_CASE("activations, soft-cap and rotary embedding", "[ops]") {
    Tensor x = random_tensor({1000}, 7, 3.0f);
    const std::vector<float> x0 = x.to_floats();
    std::vector<double> ref(1000);
    Tensor y = x.to(Device::CPU);
    silu_(y);
    for (size_t i = 0; i < 1000; i++) ref[i] = x0[i] / (1 + std::exp(-(double)x0[i]));
    CHECK(max_abs_diff(y.f32(), ref) < 1e-6);
    y = x.to(Device::CPU);
    gelu_erf_(y);
    for (size_t i = 0; i < 1000; i++) ref[i] = 0.5 * x0[i] * (1 + std::erf(x0[i] / std::sqrt(2.0)));
    CHECK(max_abs_diff(y.f32(), ref) < 1e-6);
    y = x.to(Device::CPU);
    gelu_tanh_(y);
    for (size_t i = 0; i < 1000; i++) ref[i] = 0.5 * x0[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (x0[i] + 0.044715 * std::pow(x0[i], 3))));
    CHECK(max_abs_diff(y.f32(), ref) < 1e-5);
    y = x.to(Device::CPU);
    softcap_(y, 2.5f);
    for (size_t i = 0; i < 1000; i++) ref[i] = 2.5 * std::tanh(x0[i] / 2.5);
    CHECK(max_abs_diff(y.f32(), ref) < 1e-6);

    // RoPE on 2 heads of dim 8: each pair (j, j + 4) rotates by its angle.
    const int64_t n = 3, heads = 2, hd = 8;
    Tensor q = random_tensor({n, heads * hd}, 8);
    const std::vector<float> q0 = q.to_floats();
    Tensor c = Tensor::empty({n, hd / 2}), s = Tensor::empty({n, hd / 2});
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < hd / 2; j++) {
            c.f32()[i * hd / 2 + j] = (float)std::cos(0.3 * i * (j + 1));
            s.f32()[i * hd / 2 + j] = (float)std::sin(0.3 * i * (j + 1));
        }
    rope_(q, (int)heads, (int)hd, c, s);
    std::vector<double> rref((size_t)(n * heads * hd));
    for (int64_t i = 0; i < n; i++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t j = 0; j < hd / 2; j++) {
                const double a = q0[(size_t)((i * heads + h) * hd + j)], b = q0[(size_t)((i * heads + h) * hd + j + hd / 2)];
                const double th = 0.3 * i * (j + 1);
                rref[(size_t)((i * heads + h) * hd + j)] = a * std::cos(th) - b * std::sin(th);
                rref[(size_t)((i * heads + h) * hd + j + hd / 2)] = b * std::cos(th) + a * std::sin(th);
            }
    CHECK(max_abs_diff(q.f32(), rref) < 1e-5);
}

TEST_CASE("attention: causal, sliding window, soft-cap, GQA and a KV-cache offset", "[ops]") {
    const int heads = 4, kv_heads = 2, d = 16;
    const int64_t t = 11;
    Tensor k = random_tensor({t, kv_heads * d}, 9), v = random_tensor({t, kv_heads * d}, 10);
    struct Case { bool causal; int64_t window; float softcap; int64_t n; };
    for (const Case& cs : {Case{false, 0, 0.0f, 11}, Case{true, 0, 0.0f, 11}, Case{true, 4, 0.0f, 11}, Case{true, 3, 1.5f, 11},
                           Case{true, 5, 0.0f, 2}}) {
        const int64_t n = cs.n, pos0 = cs.causal ? t - n : 0;
        Tensor q = random_tensor({n, heads * d}, 11), out = Tensor::empty({n, heads * d});
        AttentionParams p;
        p.n_heads = heads;
        p.n_kv_heads = kv_heads;
        p.head_dim = d;
        p.scale = 0.3f;
        p.causal = cs.causal;
        p.q_pos0 = pos0;
        p.window = cs.window;
        p.softcap = cs.softcap;
        attention(out, q, k, v, p);
        std::vector<double> ref((size_t)(n * heads * d), 0.0);
        for (int64_t i = 0; i < n; i++)
            for (int h = 0; h < heads; h++) {
                const int g = h / (heads / kv_heads);
                const int64_t pos = pos0 + i;
                std::vector<double> w((size_t)t, 0.0);
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j < t; j++) {
                    const bool visible = (!cs.causal || j <= pos) && (cs.window == 0 || j > pos - cs.window);
                    if (!visible) { w[(size_t)j] = NAN; continue; }
                    double sc = 0;
                    for (int e = 0; e < d; e++) sc += (double)q.f32()[i * heads * d + h * d + e] * k.f32()[j * kv_heads * d + g * d + e];
                    sc *= 0.3;
                    if (cs.softcap > 0) sc = cs.softcap * std::tanh(sc / cs.softcap);
                    w[(size_t)j] = sc;
                    mx = std::max(mx, sc);
                }
                for (int64_t j = 0; j < t; j++)
                    if (!std::isnan(w[(size_t)j])) sum += (w[(size_t)j] = std::exp(w[(size_t)j] - mx));
                for (int64_t j = 0; j < t; j++) {
                    if (std::isnan(w[(size_t)j])) continue;
                    for (int e = 0; e < d; e++)
                        ref[(size_t)(i * heads * d + h * d + e)] += w[(size_t)j] / sum * v.f32()[j * kv_heads * d + g * d + e];
                }
            }
        const double err = max_abs_diff(out.f32(), ref);
        std::printf("attention causal=%d window=%lld softcap=%.1f n=%lld: max abs error %.3g\n", cs.causal,
                    (long long)cs.window, cs.softcap, (long long)n, err);
        CHECK(err < 1e-5);
    }
}
