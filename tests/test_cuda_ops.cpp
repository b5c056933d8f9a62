// test_cuda_ops.cpp — [cuda] every op of ops.h on CUDA tensors against its CPU twin.
//
// Each case draws fresh random inputs, runs the op on the CPU and on the GPU (output poisoned
// with NaN first, so an element the kernel never writes fails), and checks every element against
// a tolerance derived from the dtype and the magnitudes involved:
//   f32 arithmetic in a different order: a few ulp of the terms summed, (4√k + 16)·2⁻²⁴·Σ|terms|
//   x rounded to bf16 / f16 for the tensor cores: 2⁻⁸ / 2⁻¹⁰ · Σ|x·w| (one rounding is 2⁻⁹ / 2⁻¹¹)
//   transcendental functions: CUDA's expf/erff/tanhf are within 2 ulp, so 2e-6 · max(1, |x|)
//   copies and exact arithmetic (add, mul, scale, embedding): bit-identical.
// Every case prints the largest error it measured and the ratio to its tolerance.
// Without a GPU each case prints SKIPPED and counts as skipped.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "gpu.h"
#include "ops/ops.h"
#include "ops/ops_cpu.h"
#include "ops_cuda.h"
#include "test_util.h"

using namespace t2l;

namespace {

#define NEED_GPU()                                                 \
    do {                                                           \
        if (!gpu_info().available) T2L_SKIP(gpu_info().reason);    \
    } while (0)

// A CPU tensor of uniform values in [lo, hi), rounded to dt.
Tensor random_tensor(std::vector<int64_t> shape, DType dt, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    Tensor f = Tensor::empty(std::move(shape));
    std::uniform_real_distribution<float> u(lo, hi);
    float* p = f.f32();
    for (int64_t i = 0; i < f.numel(); i++) p[i] = u(rng);
    return dt == DType::F32 ? f : f.to_dtype(dt);
}

// A CUDA f32 tensor full of NaN: whatever the kernel does not write stays NaN and fails.
Tensor poisoned_gpu(std::vector<int64_t> shape) {
    Tensor t = Tensor::empty(shape);
    float* p = t.f32();
    for (int64_t i = 0; i < t.numel(); i++) p[i] = std::numeric_limits<float>::quiet_NaN();
    return t.to(Device::CUDA);
}

// Σ|x·w| for every (row of x, row of w), row-major (n, out): the bound on every rounding error of
// each dot product of y = x wᵀ.
std::vector<double> product_magnitudes(const Tensor& x, const Tensor& w) {
    const int64_t n = x.dim(0), in = x.dim(1), out = w.dim(0);
    const std::vector<float> xf = x.to_floats(), wf = w.to_floats();
    std::vector<double> mag((size_t)(n * out));
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t k = 0; k < in; k++) s += std::fabs((double)xf[(size_t)(i * in + k)] * wf[(size_t)(o * in + k)]);
            mag[(size_t)(i * out + o)] = s;
        }
    return mag;
}

struct Measured {
    double max_abs = 0;    // largest |gpu - cpu|
    double worst = 0;      // largest |gpu - cpu| / tolerance
    int64_t bad = 0;       // elements over tolerance or NaN
};

Measured compare(const std::vector<float>& got, const std::vector<float>& ref, const std::function<double(size_t)>& tol) {
    Measured m;
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < got.size(); i++) {
        const double e = std::fabs((double)got[i] - (double)ref[i]);
        const double t = tol(i);
        if (std::isnan(got[i]) != std::isnan(ref[i]) || e > t) m.bad++;
        if (!std::isnan(e)) {
            m.max_abs = std::max(m.max_abs, e);
            m.worst = std::max(m.worst, t > 0 ? e / t : (e > 0 ? INFINITY : 0.0));
        }
    }
    return m;
}

void report(const std::string& what, const Measured& m) {
    std::printf("  %-64s max|err| %.3g  err/tol %.3f%s\n", what.c_str(), m.max_abs, m.worst, m.bad ? "  FAIL" : "");
    std::fflush(stdout);
}

bool bit_equal(const Tensor& a, const Tensor& b) {
    const Tensor ca = a.to(Device::CPU), cb = b.to(Device::CPU);
    return ca.nbytes() == cb.nbytes() && std::memcmp(ca.data, cb.data, ca.nbytes()) == 0;
}

double f32_sum_tol(int64_t k) { return (4.0 * std::sqrt((double)k) + 16.0) * std::ldexp(1.0, -24); }

}  // namespace

TEST_CASE("linear on CUDA matches the CPU (GEMV n <= 8, cuBLAS n > 8, f32 skinny GEMM n = 2..32; bf16/f16/f32 weights)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(101);
    struct Case { int64_t n, in, out; DType wt; bool bias; };
    const Case cases[] = {
        {1, 4096, 1000, DType::BF16, false}, {1, 14336, 512, DType::BF16, false}, {3, 4096, 517, DType::BF16, true},
        {8, 1024, 300, DType::BF16, true},   {1, 1001, 77, DType::BF16, false},  // in % 8 != 0: scalar loads
        {5, 1001, 77, DType::F16, true},     {2, 768, 2304, DType::F16, false},  {7, 768, 64, DType::F32, true},
        {1, 770, 33, DType::F32, false},     // in % 4 != 0
        {9, 4096, 1000, DType::BF16, false}, {37, 1024, 517, DType::BF16, true}, {128, 4096, 1024, DType::BF16, false},
        {37, 768, 300, DType::F16, true},    {37, 1001, 77, DType::F32, true},   {64, 768, 768, DType::F32, false},
        // f32 weights, 2..64 rows: the tensor-core skinny GEMM (blocks of 16 rows x 32 rows of x, a
        // cluster splitting k when rows are few; rows 33..64 of x a second group of blocks)
        {2, 1024, 3072, DType::F32, true},   {20, 1024, 1024, DType::F32, true}, {20, 4096, 1024, DType::F32, false},
        {32, 2048, 4100, DType::F32, false}, {13, 512, 77, DType::F32, true},    {9, 4096, 200, DType::F32, false},
        {5, 512, 4096, DType::F32, true},    {3, 256, 16500, DType::F32, false},
        {45, 1024, 3000, DType::F32, true},  {33, 512, 4100, DType::F32, false},  // and {64, 768, 768} above
    };
    for (const Case& c : cases) {
        const Tensor x = random_tensor({c.n, c.in}, DType::F32, rng);
        const Tensor w = random_tensor({c.out, c.in}, c.wt, rng);
        const Tensor b = random_tensor({c.out}, c.wt == DType::F32 ? DType::F32 : DType::BF16, rng);
        Tensor y_cpu = Tensor::empty({c.n, c.out});
        linear(y_cpu, x, w, c.bias ? &b : nullptr);
        const Tensor xg = x.to(Device::CUDA), wg = w.to(Device::CUDA), bg = b.to(Device::CUDA);
        Tensor y_gpu = poisoned_gpu({c.n, c.out});
        linear(y_gpu, xg, wg, c.bias ? &bg : nullptr);
        const std::vector<double> mag = product_magnitudes(x, w);
        const bool skinny = c.wt == DType::F32 && c.n >= 2 && c.n <= 64 && c.in % 16 == 0;
        const bool gemm = c.n > 8 && !skinny;
        // The skinny GEMM's three-term tf32 split drops terms of ~2^-22 of each product.
        const double rel = skinny ? f32_sum_tol(c.in) + std::ldexp(1.0, -19)
                         : !gemm || c.wt == DType::F32 ? f32_sum_tol(c.in)
                         : c.wt == DType::BF16         ? std::ldexp(1.0, -8)
                                                       : std::ldexp(1.0, -10);
        const std::vector<float> got = y_gpu.to_floats(), ref = y_cpu.to_floats();
        const Measured m = compare(got, ref, [&](size_t i) { return rel * mag[i] + 1e-6; });
        double num = 0, den = 0;
        for (size_t i = 0; i < got.size(); i++) {
            num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        const double normwise = std::sqrt(num / den);
        report(cat(skinny ? "skinny " : gemm ? "GEMM " : "GEMV ", dtype_name(c.wt), " n=", c.n, " in=", c.in, " out=", c.out,
                   c.bias ? " +bias" : "", cat(" (‖err‖/‖y‖ ", normwise, ")")), m);
        CHECK(m.bad == 0);
        CHECK(normwise < (gemm && c.wt != DType::F32 ? 1e-2 : 1e-5));
        if (!gemm) {  // the GEMV and the skinny GEMM are deterministic: same input, same bytes
            Tensor again = poisoned_gpu({c.n, c.out});
            linear(again, xg, wg, c.bias ? &bg : nullptr);
            CHECK(bit_equal(again, y_gpu));
        }
        if (skinny) {  // y += x wᵀ: the accumulating form the encoder's residuals use
            Tensor acc_cpu = y_cpu.to(Device::CPU), acc_gpu = y_cpu.to(Device::CUDA);
            linear_add(acc_cpu, x, w);
            linear_add(acc_gpu, xg, wg);
            const Measured ma = compare(acc_gpu.to_floats(), acc_cpu.to_floats(),
                                        [&](size_t i) { return 2 * (rel * mag[i] + 1e-6); });
            report(cat("  accumulate (linear_add) n=", c.n), ma);
            CHECK(ma.bad == 0);
        }
    }
}

TEST_CASE("skinny GEMM epilogues on CUDA match the CPU: linear_act, linear_glu (f32 weights, 2..64 rows)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(111);
    const char* const act_names[] = {"silu", "gelu_tanh", "gelu_erf"};
    // act' stays below 1.2 and |act(v)| <= |v| for all three activations.
    struct Glu { int64_t n, in, inter; Activation act; bool second; };
    for (const Glu& c : {Glu{21, 1024, 4096, Activation::GeluErf, true}, Glu{3, 4096, 100, Activation::SiLU, false},
                         Glu{45, 512, 333, Activation::GeluTanh, false}, Glu{64, 256, 64, Activation::GeluErf, true}}) {
        const Tensor x = random_tensor({c.n, c.in}, DType::F32, rng), w = random_tensor({2 * c.inter, c.in}, DType::F32, rng);
        Tensor gu = Tensor::empty({c.n, 2 * c.inter}), y_cpu = Tensor::empty({c.n, c.inter});
        linear_glu(y_cpu, x, w, c.act, c.second, &gu);
        Tensor y_gpu = poisoned_gpu({c.n, c.inter});
        linear_glu(y_gpu, x.to(Device::CUDA), w.to(Device::CUDA), c.act, c.second);
        const std::vector<double> mag = product_magnitudes(x, w);
        const double rel = f32_sum_tol(c.in) + std::ldexp(1.0, -19);
        const float* g = gu.f32();
        const std::vector<float> ref = y_cpu.to_floats();
        const Measured m = compare(y_gpu.to_floats(), ref, [&](size_t e) {
            const size_t i = e / (size_t)c.inter, o = e % (size_t)c.inter, a = i * 2 * (size_t)c.inter + o, b = a + (size_t)c.inter;
            return 1.2 * rel * (mag[a] * std::fabs(g[b]) + mag[b] * std::fabs(g[a])) + 4e-6 * std::fabs(ref[e]) + 1e-6;
        });
        report(cat("skinny glu ", act_names[(int)c.act], c.second ? " on the second half" : "", " n=", c.n, " in=", c.in,
                   " inter=", c.inter), m);
        CHECK(m.bad == 0);
    }
    struct Act { int64_t n, in, out; Activation act; bool bias; };
    for (const Act& c : {Act{32, 2048, 2048, Activation::SiLU, true}, Act{64, 512, 2048, Activation::SiLU, false},
                         Act{7, 4096, 77, Activation::GeluErf, true}, Act{40, 1024, 4096, Activation::GeluErf, true}}) {
        const Tensor x = random_tensor({c.n, c.in}, DType::F32, rng), w = random_tensor({c.out, c.in}, DType::F32, rng);
        const Tensor b = random_tensor({c.out}, DType::F32, rng);
        Tensor y_cpu = Tensor::empty({c.n, c.out}), y_gpu = poisoned_gpu({c.n, c.out});
        linear_act(y_cpu, x, w, c.bias ? &b : nullptr, c.act);
        const Tensor bg = b.to(Device::CUDA);
        linear_act(y_gpu, x.to(Device::CUDA), w.to(Device::CUDA), c.bias ? &bg : nullptr, c.act);
        const std::vector<double> mag = product_magnitudes(x, w);
        const double rel = f32_sum_tol(c.in) + std::ldexp(1.0, -19);
        const std::vector<float> ref = y_cpu.to_floats();
        const Measured m = compare(y_gpu.to_floats(), ref, [&](size_t e) { return 1.2 * rel * mag[e] + 4e-6 * std::fabs(ref[e]) + 1e-6; });
        report(cat("skinny act ", act_names[(int)c.act], c.bias ? " +bias" : "", " n=", c.n, " in=", c.in, " out=", c.out), m);
        CHECK(m.bad == 0);
    }
}

TEST_CASE("layer_norm and rms_norm on CUDA match the CPU", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(202);
    for (int64_t n : {1, 37})
        for (int64_t dim : {768, 1003, 4096, 9000})
            for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
                // A large mean over a small spread: a one-pass f32 variance would lose it.
                const Tensor x = random_tensor({n, dim}, DType::F32, rng, 2.0f, 4.0f);
                const Tensor w = random_tensor({dim}, wt, rng, -2.0f, 2.0f), b = random_tensor({dim}, wt, rng);
                const Tensor xg = x.to(Device::CUDA), wg = w.to(Device::CUDA), bg = b.to(Device::CUDA);
                auto tol_rel = [](const std::vector<float>& ref) {
                    return [&ref](size_t i) { return 1e-5 * std::max(1.0, std::fabs((double)ref[i])); };
                };
                {
                    Tensor y = Tensor::empty({n, dim});
                    layer_norm(y, x, w, b, 1e-5f);
                    Tensor yg = poisoned_gpu({n, dim});
                    layer_norm(yg, xg, wg, bg, 1e-5f);
                    const std::vector<float> ref = y.to_floats();
                    const Measured m = compare(yg.to_floats(), ref, tol_rel(ref));
                    report(cat("layer_norm ", dtype_name(wt), " n=", n, " dim=", dim), m);
                    CHECK(m.bad == 0);
                }
                {  // y = LN(x + residual), written over the residual (the encoder's post-norm)
                    const Tensor res = random_tensor({n, dim}, DType::F32, rng, -1.0f, 1.0f);
                    Tensor y = res.to(Device::CPU);
                    layer_norm(y, x, w, b, 1e-5f, &y);
                    Tensor yg = res.to(Device::CUDA);
                    layer_norm(yg, xg, wg, bg, 1e-5f, &yg);
                    const std::vector<float> ref = y.to_floats();
                    const Measured m = compare(yg.to_floats(), ref, tol_rel(ref));
                    report(cat("layer_norm + residual ", dtype_name(wt), " n=", n, " dim=", dim), m);
                    CHECK(m.bad == 0);
                }
                for (bool plus_one : {false, true}) {
                    Tensor y = Tensor::empty({n, dim});
                    rms_norm(y, x, w, 1e-6f, plus_one);
                    Tensor yg = xg.to(Device::CUDA);  // in place on the GPU: y is x
                    rms_norm(yg, yg, wg, 1e-6f, plus_one);
                    const std::vector<float> ref = y.to_floats();
                    const Measured m = compare(yg.to_floats(), ref, tol_rel(ref));
                    report(cat("rms_norm ", dtype_name(wt), plus_one ? " (1+w)" : "", " n=", n, " dim=", dim, " in place"), m);
                    CHECK(m.bad == 0);
                }
            }
}

TEST_CASE("element-wise ops on CUDA match the CPU (aligned, odd sizes, unaligned views)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(303);
    for (int64_t n : {1, 37, (1 << 20) + 3}) {
        for (int offset : {0, 1}) {  // offset 1: a view starting 4 bytes in, so no float4 path
            if (offset >= n) continue;
            const Tensor base = random_tensor({n}, DType::F32, rng, -12.0f, 12.0f);
            const Tensor other = random_tensor({n}, DType::F32, rng, -3.0f, 3.0f);
            auto view = [&](const Tensor& t) { return t.reshape({n, 1}).rows(offset, n); };
            const std::vector<float> xin = view(base).to_floats();
            auto transcendental = [&](size_t i) { return 2e-6 * std::max(1.0, std::fabs((double)xin[i])); };
            auto exact = [](size_t) { return 0.0; };
            struct Unary { const char* name; std::function<void(Tensor&)> op; bool exact; };
            const Unary ops[] = {
                {"silu", [](Tensor& t) { silu_(t); }, false},
                {"gelu_erf", [](Tensor& t) { gelu_erf_(t); }, false},
                {"gelu_tanh", [](Tensor& t) { gelu_tanh_(t); }, false},
                {"softcap 30", [](Tensor& t) { softcap_(t, 30.0f); }, false},
                {"scale 0.125", [](Tensor& t) { scale_(t, 0.125f); }, true},
                {"scale 1.7", [](Tensor& t) { scale_(t, 1.7f); }, true},
            };
            for (const Unary& u : ops) {
                Tensor c = view(base).to(Device::CPU);
                u.op(c);
                Tensor gfull = base.to(Device::CUDA);
                Tensor g = view(gfull);
                u.op(g);
                const Measured m = u.exact ? compare(g.to_floats(), c.to_floats(), exact)
                                           : compare(g.to_floats(), c.to_floats(), transcendental);
                report(cat(u.name, " n=", n - offset, offset ? " (unaligned view)" : ""), m);
                CHECK(m.bad == 0);
                // The element before an unaligned view must be untouched.
                if (offset) CHECK(gfull.to_floats()[0] == base.to_floats()[0]);
            }
            for (int which = 0; which < 2; which++) {
                Tensor c = view(base).to(Device::CPU);
                const Tensor oc = view(other).to(Device::CPU);
                Tensor gfull = base.to(Device::CUDA);
                Tensor g = view(gfull);
                const Tensor og = view(other.to(Device::CUDA));
                if (which == 0) { add_(c, oc); add_(g, og); }
                else { mul_(c, oc); mul_(g, og); }
                const Measured m = compare(g.to_floats(), c.to_floats(), exact);
                report(cat(which ? "mul" : "add", " n=", n - offset, offset ? " (unaligned view)" : ""), m);
                CHECK(m.bad == 0);
            }
        }
    }
}

TEST_CASE("add_row on CUDA is bit-identical to the CPU (a row broadcast down a matrix, into a row slice)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(313);
    for (auto [n, dim] : {std::pair<int64_t, int64_t>{1, 1}, {32, 2048}, {7, 333}}) {
        const Tensor x = random_tensor({n, dim}, DType::F32, rng, -3.0f, 3.0f);
        const Tensor row = random_tensor({1, dim}, DType::F32, rng, -3.0f, 3.0f);
        Tensor c = Tensor::empty({n + 2, dim});  // rows 1..n written; rows 0 and n + 1 must stay
        Tensor g = Tensor::zeros({n + 2, dim}, DType::F32, Device::CUDA);
        for (int64_t i = 0; i < (n + 2) * dim; i++) c.f32()[i] = 0.0f;
        Tensor cv = c.rows(1, n + 1), gv = g.rows(1, n + 1);
        add_row(cv, x, row);
        add_row(gv, x.to(Device::CUDA), row.to(Device::CUDA));
        const Measured m = compare(g.to_floats(), c.to_floats(), [](size_t) { return 0.0; });
        report(cat("add_row n=", n, " dim=", dim), m);
        CHECK(m.bad == 0);
        CHECK(c.f32()[dim] == x.f32()[0] + row.f32()[0]);  // the twin itself: y = x + row
    }
    Tensor y = Tensor::empty({4, 8}), x = Tensor::zeros({4, 8}), bad_row = Tensor::zeros({1, 7});
    CHECK_THROWS_AS(add_row(y, x, bad_row), Error);
}

TEST_CASE("embedding gather on CUDA is bit-identical to the CPU for f32/bf16/f16 tables", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(404);
    const int64_t vocab = 1000, dim = 771;
    for (DType tt : {DType::F32, DType::BF16, DType::F16}) {
        const Tensor table = random_tensor({vocab, dim}, tt, rng, -0.1f, 0.1f);
        const Tensor tg = table.to(Device::CUDA);
        for (int64_t n : {1, 37}) {
            std::vector<int32_t> ids((size_t)n);
            for (auto& id : ids) id = (int32_t)(rng() % vocab);
            ids[0] = (int32_t)(vocab - 1);
            if (n > 1) ids[1] = 0;
            Tensor y = Tensor::empty({n, dim});
            embedding(y, table, ids.data(), n);
            Tensor yg = poisoned_gpu({n, dim});
            embedding(yg, tg, ids.data(), n);
            const Measured m = compare(yg.to_floats(), y.to_floats(), [](size_t) { return 0.0; });
            report(cat("embedding ", dtype_name(tt), " n=", n, " dim=", dim), m);
            CHECK(m.bad == 0);
        }
    }
    // An id past the vocabulary is refused before anything reaches the GPU.
    Tensor yg = poisoned_gpu({1, dim});
    const Tensor tg = random_tensor({vocab, dim}, DType::BF16, rng).to(Device::CUDA);
    const int32_t bad = (int32_t)vocab;
    CHECK_THROWS_AS(embedding(yg, tg, &bad, 1), Error);
}

TEST_CASE("rope on CUDA matches the CPU (rotate-half, heads 32 and 8, head_dim 64/128/256)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(505);
    for (int64_t n : {1, 37})
        for (int heads : {32, 8})
            for (int hd : {64, 128, 256}) {
                const Tensor x = random_tensor({n, (int64_t)heads * hd}, DType::F32, rng, -4.0f, 4.0f);
                const Tensor ang = random_tensor({n, hd / 2}, DType::F32, rng, -100.0f, 100.0f);
                Tensor cs = Tensor::empty({n, hd / 2}), sn = Tensor::empty({n, hd / 2});
                for (int64_t i = 0; i < ang.numel(); i++) {
                    cs.f32()[i] = std::cos(ang.f32()[i]);
                    sn.f32()[i] = std::sin(ang.f32()[i]);
                }
                Tensor c = x.to(Device::CPU);
                rope_(c, heads, hd, cs, sn);
                Tensor g = x.to(Device::CUDA);
                rope_(g, heads, hd, cs.to(Device::CUDA), sn.to(Device::CUDA));
                // Each output is a·c ± b·s: three roundings of values <= |a| + |b| <= 8 on each side.
                const Measured m = compare(g.to_floats(), c.to_floats(), [](size_t) { return 8.0 * 8 * std::ldexp(1.0, -24); });
                report(cat("rope n=", n, " heads=", heads, " head_dim=", hd), m);
                CHECK(m.bad == 0);
            }
}

TEST_CASE("attention on CUDA matches the CPU on every kernel path (causal, window, softcap, GQA, bf16 KV)", "[cuda]") {
    NEED_GPU();
    cuda::set_gemm_split(true);  // "auto" then means the f32 kernels; the gemm path is asked for by name
    struct Restore { ~Restore() { cuda::set_gemm_split(false); } } restore;
    std::mt19937 rng(606);
    struct Case {
        const char* what;
        int64_t n, t;      // queries, keys (q_pos0 = t - n when causal)
        int h, hk, d;
        bool causal;
        int64_t window;
        float softcap;
    };
    const Case cases[] = {
        {"llama prefill", 37, 37, 32, 8, 128, true, 0, 0.0f},
        {"llama prefill after a cache", 37, 137, 32, 8, 128, true, 0, 0.0f},
        {"llama prefill 2 tiles", 130, 130, 32, 8, 128, true, 0, 0.0f},
        {"llama decode", 1, 1000, 32, 8, 128, true, 0, 0.0f},
        {"llama decode n=3", 3, 700, 32, 8, 128, true, 0, 0.0f},
        {"gemma window<seq softcap", 70, 70, 8, 4, 256, true, 16, 50.0f},
        {"llama window, 4 tiles after a cache", 200, 333, 32, 8, 128, true, 100, 0.0f},
        {"gemma 3 tiles softcap after a cache", 150, 170, 8, 4, 256, true, 0, 50.0f},
        {"gemma decode window softcap", 1, 300, 8, 4, 256, true, 64, 50.0f},
        {"gemma decode softcap", 1, 301, 16, 8, 256, true, 0, 50.0f},
        {"encoder (not causal)", 45, 45, 12, 12, 64, false, 0, 0.0f},
        {"mha d=64 one key", 1, 1, 4, 4, 64, true, 0, 0.0f},
        {"d=32 (decode/generic)", 5, 40, 4, 2, 32, true, 0, 0.0f},
        {"d=96 (generic only)", 19, 19, 6, 2, 96, true, 8, 0.0f},
    };
    using cuda::AttentionPath;
    for (const Case& c : cases)
        for (DType kvt : {DType::F32, DType::BF16}) {
            AttentionParams p;
            p.n_heads = c.h;
            p.n_kv_heads = c.hk;
            p.head_dim = c.d;
            p.scale = 1.0f / std::sqrt((float)c.d);
            p.causal = c.causal;
            p.q_pos0 = c.causal ? c.t - c.n : 0;
            p.window = c.window;
            p.softcap = c.softcap;
            // Scores with a spread of a few units, so the softmax is far from uniform.
            const Tensor q = random_tensor({c.n, (int64_t)c.h * c.d}, DType::F32, rng, -3.0f, 3.0f);
            const Tensor k = random_tensor({c.t, (int64_t)c.hk * c.d}, kvt, rng);
            const Tensor v = random_tensor({c.t, (int64_t)c.hk * c.d}, kvt, rng, -2.0f, 2.0f);
            // The CPU twin reads f32 K/V: give it the bf16 values widened (exact).
            const Tensor k32 = k.to_dtype(DType::F32), v32 = v.to_dtype(DType::F32);
            Tensor ref = Tensor::empty({c.n, (int64_t)c.h * c.d});
            attention(ref, q, k32, v32, p);
            const std::vector<float> rf = ref.to_floats();
            double vmax = 0;
            for (float x : v32.to_floats()) vmax = std::max(vmax, (double)std::fabs(x));
            const Tensor qg = q.to(Device::CUDA), kg = k.to(Device::CUDA), vg = v.to(Device::CUDA);
            const bool fast_d = c.d == 64 || c.d == 128 || c.d == 256;
            std::vector<std::pair<const char*, AttentionPath>> paths = {{"auto", AttentionPath::Auto},
                                                                         {"generic", AttentionPath::Generic}};
            if (fast_d) paths.push_back({"prefill", AttentionPath::Prefill});
            if (fast_d || c.d == 32) paths.push_back({"decode", AttentionPath::Decode});
            if (c.d % 8 == 0) paths.push_back({"gemm", AttentionPath::Gemm});
            if (fast_d) paths.push_back({"flash", AttentionPath::Flash});
            for (const auto& [pname, path] : paths) {
                Tensor out = poisoned_gpu({c.n, (int64_t)c.h * c.d});
                if (path == AttentionPath::Auto) attention(out, qg, kg, vg, p);  // through ops.h's dispatch
                else cuda::attention(static_cast<float*>(out.data), static_cast<const float*>(qg.data), kg.data, vg.data,
                                     kvt, c.n, c.t, p, path);
                // An output is a convex combination of v rows: f32 rounding of the scores and
                // weights moves it by ~1e-6 of max|v|; 1e-5 leaves room for the scores' spread.
                // The gemm and flash paths round q, k, v and the probabilities to bf16 (2^-9
                // each): 1e-2.
                const bool bf16_path = path == AttentionPath::Gemm || path == AttentionPath::Flash;
                const double tol = (bf16_path ? 1e-2 : 1e-5) * vmax;
                const Measured m = compare(out.to_floats(), rf, [&](size_t) { return tol; });
                report(cat("attention ", c.what, " n=", c.n, " t=", c.t, " h=", c.h, "/", c.hk, " d=", c.d, " kv=",
                           dtype_name(kvt), " [", pname, "]"), m);
                CHECK(m.bad == 0);
                if (path == AttentionPath::Decode) {  // split-K merges in a fixed order: deterministic
                    Tensor again = poisoned_gpu({c.n, (int64_t)c.h * c.d});
                    cuda::attention(static_cast<float*>(again.data), static_cast<const float*>(qg.data), kg.data,
                                    vg.data, kvt, c.n, c.t, p, path);
                    CHECK(bit_equal(again, out));
                }
            }
        }
}

TEST_CASE("ops refuse tensors on different devices", "[ops]") {
    // Device checks come before any memory is touched, so fake CUDA tensors are enough here.
    Tensor x = Tensor::zeros({2, 4}), w = Tensor::zeros({3, 4}), y = Tensor::zeros({2, 3});
    Tensor wg = w;
    wg.device = Device::CUDA;
    try {
        linear(y, x, wg);
        FAIL("linear accepted a CUDA weight with CPU activations");
    } catch (const Error& e) {
        const std::string msg = e.what();
        std::printf("  mixed devices: %s\n", msg.c_str());
        CHECK(msg.find("different devices") != std::string::npos);
    }
    Tensor yg = y;
    yg.device = Device::CUDA;
    CHECK_THROWS_AS(add_(yg, y), Error);
    Tensor k = Tensor::zeros({3, 4}), v = Tensor::zeros({3, 4}), q = Tensor::zeros({1, 4}), out = Tensor::zeros({1, 4});
    Tensor kb = k.to_dtype(DType::BF16), vb = v.to_dtype(DType::BF16);
    AttentionParams p;
    p.head_dim = 4;
    CHECK_THROWS_AS(attention(out, q, kb, vb, p), Error);  // bf16 K/V: CUDA only
}
