// test_cuda_step.cpp — the decode step's fused ops (ops.h "the one-token decode step") on CUDA
// against their CPU twins, and the recorded CUDA-graph step against the op-by-op step.
//
// Tolerances as in test_cuda_ops.cpp: f32 sums in another order get a few ulp of Σ|terms|,
// transcendental functions 2e-6 relative, copies and bf16 roundings bit-identical.
// Without a GPU each case prints SKIPPED.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "format/t2l_file.h"
#include "gpu.h"
#include "lora/adapter.h"
#include "models/decoder.h"
#include "ops/ops.h"
#include "ops_cuda.h"
#include "test_util.h"

using namespace t2l;

namespace {

#define NEED_GPU()                                                 \
    do {                                                           \
        if (!gpu_info().available) T2L_SKIP(gpu_info().reason);    \
    } while (0)

Tensor rnd(std::vector<int64_t> shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f, DType dt = DType::F32) {
    Tensor f = Tensor::empty(std::move(shape));
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < f.numel(); i++) f.f32()[i] = u(rng);
    return dt == DType::F32 ? f : f.to_dtype(dt);
}

Tensor nan_gpu(std::vector<int64_t> shape) {
    Tensor t = Tensor::empty(shape);
    for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] = std::numeric_limits<float>::quiet_NaN();
    return t.to(Device::CUDA);
}

Tensor int_tensor(std::vector<int32_t> v, Device d) {
    Tensor t = Tensor::empty({(int64_t)v.size()}, DType::I32);
    std::memcpy(t.data, v.data(), v.size() * 4);
    return t.on(d);
}

// Largest |a - b| / (tol_abs + tol_rel·|b|); NaN counts as infinitely wrong.
double worst(const Tensor& a, const Tensor& b, double tol_abs, double tol_rel, double* max_abs = nullptr) {
    const std::vector<float> x = a.to_floats(), y = b.to_floats();
    REQUIRE(x.size() == y.size());
    double w = 0, m = 0;
    for (size_t i = 0; i < x.size(); i++) {
        const double e = std::fabs((double)x[i] - y[i]);
        if (std::isnan(e)) return INFINITY;
        m = std::max(m, e);
        w = std::max(w, e / (tol_abs + tol_rel * std::fabs((double)y[i])));
    }
    if (max_abs) *max_abs = m;
    return w;
}

void report(const std::string& what, double max_abs, double w) {
    std::printf("  %-60s max|err| %.3g  err/tol %.3f%s\n", what.c_str(), max_abs, w, w <= 1 ? "" : "  FAIL");
    std::fflush(stdout);
}

}  // namespace

TEST_CASE("decode-step ops on CUDA match the CPU: add_rms_norm, act_mul, split_qkv_rope, linear_add, linear_pair, linear_glu, embedding_at, argmax, cast", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(7001);
    double m = 0, w = 0;
    for (int64_t dim : {4096, 2304, 577, 12288}) {  // one float4 per thread, fewer threads, unaligned, four
        for (bool plus_one : {false, true})
            for (bool normed : {false, true}) {  // delta added as it is, or normed first (Gemma's sandwich)
                const Tensor x = rnd({2, dim}, rng, -3, 3), d = rnd({2, dim}, rng), nw = rnd({dim}, rng, -1, 1, DType::BF16);
                const Tensor dw = rnd({dim}, rng, -1, 1, DType::BF16);
                Tensor xc = x.to(Device::CPU), hc = Tensor::empty({2, dim});
                add_rms_norm(xc, &d, hc, nw, 1e-6f, plus_one, normed ? &dw : nullptr);
                Tensor xg = x.to(Device::CUDA), hg = nan_gpu({2, dim});
                const Tensor dg = d.to(Device::CUDA), nwg = nw.to(Device::CUDA), dwg = dw.to(Device::CUDA);
                add_rms_norm(xg, &dg, hg, nwg, 1e-6f, plus_one, normed ? &dwg : nullptr);
                if (!normed) CHECK(worst(xg, xc, 0, 0) == 0);  // the add is exact
                else {
                    w = worst(xg, xc, 1e-6, 1e-6, &m);  // the delta's norm: the CPU's sum order differs
                    report(cat("add_rms_norm x, delta normed, dim=", dim, " plus_one=", plus_one), m, w);
                    CHECK(w <= 1);
                }
                w = worst(hg, hc, 1e-6, 1e-6, &m);
                report(cat("add_rms_norm dim=", dim, " plus_one=", plus_one, normed ? " delta normed" : ""), m, w);
                CHECK(w <= 1);
            }
    }
    for (Activation act : {Activation::SiLU, Activation::GeluTanh, Activation::GeluErf})
        for (bool second : {false, true}) {
            const Tensor gu = rnd({3, 2 * 1000}, rng, -6, 6);
            Tensor yc = Tensor::empty({3, 1000}), yg = nan_gpu({3, 1000});
            act_mul(yc, gu, act, second);
            act_mul(yg, gu.to(Device::CUDA), act, second);
            w = worst(yg, yc, 1e-6, 4e-6, &m);
            report(cat("act_mul ", act == Activation::SiLU ? "silu" : act == Activation::GeluTanh ? "gelu_tanh" : "gelu_erf",
                       second ? " on the second half" : ""), m, w);
            CHECK(w <= 1);
        }
    for (bool with_rope : {true, false}) {  // the encoder's q|k|v split, rotated or not
        const int heads = 16, d = 64;
        const int64_t n = 19;
        const Tensor qkv = rnd({n, 3 * heads * d}, rng, -4, 4), cos = rnd({n, d / 2}, rng), sin = rnd({n, d / 2}, rng);
        Tensor qc = Tensor::empty({n, heads * d}), kc = Tensor::empty({n, heads * d}), vc = Tensor::empty({n, heads * d});
        split_qkv_rope(qc, kc, vc, qkv, heads, d, with_rope ? &cos : nullptr, with_rope ? &sin : nullptr);
        Tensor qg = nan_gpu({n, heads * d}), kg = nan_gpu({n, heads * d}), vg = nan_gpu({n, heads * d});
        const Tensor cg = cos.to(Device::CUDA), sg = sin.to(Device::CUDA);
        split_qkv_rope(qg, kg, vg, qkv.to(Device::CUDA), heads, d, with_rope ? &cg : nullptr, with_rope ? &sg : nullptr);
        double mq = 0, mk = 0;
        const double wq = worst(qg, qc, 1e-6, 1e-6, &mq), wk = worst(kg, kc, 1e-6, 1e-6, &mk);
        report(cat("split_qkv_rope n=", n, with_rope ? " with RoPE" : " (copy)"), std::max(mq, mk), std::max(wq, wk));
        CHECK(wq <= 1);
        CHECK(wk <= 1);
        CHECK(worst(vg, vc, 0, 0) == 0);  // v is copied
        if (!with_rope) CHECK(worst(qg, qc, 0, 0) == 0);
    }
    cuda::set_gemm_split(true);  // cuBLAS with x in two bf16 halves: close to the CPU's f32
    for (int64_t n : {1, 3, 12}) {  // GEMV (accumulate in the epilogue) and cuBLAS (beta = 1)
        const Tensor x = rnd({n, 1024}, rng), wt = rnd({300, 1024}, rng, -1, 1, DType::BF16), y0 = rnd({n, 300}, rng);
        Tensor yc = y0.to(Device::CPU), yg = y0.to(Device::CUDA);
        linear_add(yc, x, wt);
        linear_add(yg, x.to(Device::CUDA), wt.to(Device::CUDA));
        // n > 8 rounds x to bf16 on the tensor cores unless split: allow that rounding.
        w = worst(yg, yc, n > 8 ? 2e-3 : 1e-4, 1e-5, &m);
        report(cat("linear_add bf16 n=", n), m, w);
        CHECK(w <= 1);
    }
    cuda::set_gemm_split(false);
    // One launch for a projection and an unmerged LoRA's A: both rows exact f32 sums of x times the
    // stored weights, as two linear() calls on the CPU. 6144 rows: a warp per row; 28672: 4 rows.
    for (int64_t out : {6144, 28672}) {
        const Tensor x = rnd({1, 1024}, rng), wt = rnd({out, 1024}, rng, -1, 1, DType::BF16), a = rnd({16, 1024}, rng);
        Tensor yc = Tensor::empty({1, out}), tc = Tensor::empty({1, 16});
        linear_pair(yc, x, wt, tc, a);
        Tensor yg = nan_gpu({1, out}), tg = nan_gpu({1, 16});
        linear_pair(yg, x.to(Device::CUDA), wt.to(Device::CUDA), tg, a.to(Device::CUDA));
        double mt = 0;
        w = std::max(worst(yg, yc, 1e-4, 1e-5, &m), worst(tg, tc, 1e-4, 1e-5, &mt));
        report(cat("linear_pair bf16 (", out, ", 1024) + f32 (16, 1024)"), std::max(m, mt), w);
        CHECK(w <= 1);
    }
    for (Activation act : {Activation::SiLU, Activation::GeluTanh})
        for (DType wdt : {DType::BF16, DType::F32}) {  // gate|up with the activation in the GEMV's launch
            const int64_t inter = 1001, in = 512;
            const Tensor x = rnd({1, in}, rng), wt = rnd({2 * inter, in}, rng, -1, 1, wdt);
            Tensor gu = Tensor::empty({1, 2 * inter}), yc = Tensor::empty({1, inter});
            linear(gu, x, wt);
            act_mul(yc, gu, act);
            Tensor yg = nan_gpu({1, inter});
            linear_glu(yg, x.to(Device::CUDA), wt.to(Device::CUDA), act);
            w = worst(yg, yc, 1e-4, 1e-5, &m);
            report(cat("linear_glu ", dtype_name(wdt), " (2 x ", inter, ", ", in, ") ", act == Activation::SiLU ? "silu" : "gelu_tanh"), m, w);
            CHECK(w <= 1);
        }
    {
        const Tensor table = rnd({500, 96}, rng, -1, 1, DType::BF16);
        const Tensor ids = int_tensor({3, 499, 0}, Device::CPU);
        Tensor yc = Tensor::empty({3, 96}), yg = nan_gpu({3, 96});
        embedding_at(yc, table, ids, 48.0f);
        embedding_at(yg, table.to(Device::CUDA), ids.to(Device::CUDA), 48.0f);
        CHECK(worst(yg, yc, 0, 0) == 0);
    }
    {
        Tensor x = rnd({4, 128256}, rng, -5, 5);
        x.f32()[77] = 9.0f;               // row 0: one clear maximum
        x.f32()[128256 + 5] = 9.5f;       // row 1: a tie, the first wins
        x.f32()[128256 + 100000] = 9.5f;
        Tensor ic = Tensor::empty({4}, DType::I32), ig = Tensor::zeros({4}, DType::I32, Device::CUDA);
        argmax(ic, x);
        argmax(ig, x.to(Device::CUDA));
        const Tensor igc = ig.to(Device::CPU);
        CHECK(std::memcmp(ic.data, igc.data, 16) == 0);
        CHECK(ic.ptr<int32_t>()[0] == 77);
        CHECK(ic.ptr<int32_t>()[1] == 5);
        const Tensor odd = rnd({2, 1001}, rng);  // not a multiple of 4: the scalar path
        Tensor oc = Tensor::empty({2}, DType::I32), og = Tensor::zeros({2}, DType::I32, Device::CUDA);
        argmax(oc, odd);
        argmax(og, odd.to(Device::CUDA));
        CHECK(std::memcmp(oc.data, og.to(Device::CPU).data, 8) == 0);
    }
    {  // f32 rows into a bf16 cache: the same rounding as the CPU's conversion
        const Tensor src = rnd({3, 1024}, rng, -100, 100);
        Tensor dc = Tensor::zeros({8, 1024}, DType::BF16), dg = Tensor::zeros({8, 1024}, DType::BF16, Device::CUDA);
        copy_rows(dc, 4, src);
        copy_rows(dg, 4, src.to(Device::CUDA));
        const Tensor dgc = dg.to(Device::CPU);
        CHECK(std::memcmp(dc.data, dgc.data, dc.nbytes()) == 0);
    }
}

TEST_CASE("qkv_rope_cache and attention_at on CUDA match the CPU (GQA, q/k norms, window, softcap, bf16 cache)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(7002);
    struct Case { const char* what; int h, hk, d; bool norms; int64_t window; float softcap; int64_t capacity, pos; };
    const Case cases[] = {
        {"llama", 32, 8, 128, false, 0, 0.0f, 600, 517},
        {"llama pos 0", 32, 8, 128, false, 0, 0.0f, 64, 0},
        {"gemma2 window softcap", 8, 4, 256, false, 64, 50.0f, 300, 250},
        {"gemma3 q/k norms", 4, 1, 256, true, 512, 0.0f, 100, 37},
        {"smollm2", 9, 3, 64, false, 0, 0.0f, 2048, 2047},
        {"tiny d=16 (generic kernel)", 4, 2, 16, false, 0, 0.0f, 40, 21},
    };
    for (const Case& c : cases)
        for (DType kv : {DType::F32, DType::BF16}) {
            const int64_t qd = (int64_t)c.h * c.d, kd = (int64_t)c.hk * c.d, half = c.d / 2;
            const Tensor qkv = rnd({1, qd + 2 * kd}, rng, -2, 2);
            const Tensor cos = rnd({c.capacity, half}, rng), sin = rnd({c.capacity, half}, rng);
            const Tensor qn = rnd({c.d}, rng, -0.5f, 0.5f, DType::BF16), kn = rnd({c.d}, rng, -0.5f, 0.5f, DType::BF16);
            // Caches with earlier rows filled (random, in the cache's dtype).
            const Tensor k0 = rnd({c.capacity, kd}, rng, -1, 1, kv), v0 = rnd({c.capacity, kd}, rng, -2, 2, kv);
            const Tensor pos_c = int_tensor({(int32_t)c.pos}, Device::CPU);
            // CPU: f32 caches (the widened values).
            // Every other case adds an unmerged LoRA's expand step (r 16) inside the op.
            const bool lora = (c.pos + (kv == DType::BF16)) % 2 == 1;
            const Tensor lb = rnd({qd + 2 * kd, 16}, rng, -0.1f, 0.1f), lt = rnd({16}, rng);
            const Tensor lbg = lb.to(Device::CUDA), ltg = lt.to(Device::CUDA);
            Tensor kc = k0.to_dtype(DType::F32), vc = v0.to_dtype(DType::F32), qc = Tensor::empty({1, qd});
            qkv_rope_cache(qc, kc, vc, qkv, cos, sin, pos_c, c.norms ? &qn : nullptr, c.norms ? &kn : nullptr, c.h, c.hk,
                           c.d, 1e-6f, true, lora ? &lb : nullptr, lora ? &lt : nullptr);
            Tensor kg = k0.to(Device::CUDA), vg = v0.to(Device::CUDA), qg = nan_gpu({1, qd});
            const Tensor qnd = qn.to(Device::CUDA), knd = kn.to(Device::CUDA), pos_g = pos_c.to(Device::CUDA);
            qkv_rope_cache(qg, kg, vg, qkv.to(Device::CUDA), cos.to(Device::CUDA), sin.to(Device::CUDA), pos_g,
                           c.norms ? &qnd : nullptr, c.norms ? &knd : nullptr, c.h, c.hk, c.d, 1e-6f, true,
                           lora ? &lbg : nullptr, lora ? &ltg : nullptr);
            double m = 0;
            double w = worst(qg, qc, 1e-6, 1e-6, &m);
            report(cat("qkv_rope_cache ", c.what, " kv=", dtype_name(kv), lora ? " +LoRA" : "", " (q)"), m, w);
            CHECK(w <= 1);
            // The new cache row: the CPU's f32 value rounded to the cache's dtype.
            const Tensor krow = kc.rows(c.pos, c.pos + 1), vrow = vc.rows(c.pos, c.pos + 1);
            const Tensor kref = kv == DType::F32 ? krow : krow.to_dtype(kv).to_dtype(DType::F32);
            const Tensor vref = kv == DType::F32 ? vrow : vrow.to_dtype(kv).to_dtype(DType::F32);
            const double bf = kv == DType::BF16 ? std::ldexp(1.0, -7) : 0;  // one bf16 ulp (8 bits) at most apart
            w = worst(kg.to(Device::CPU).rows(c.pos, c.pos + 1).to_dtype(DType::F32), kref, 1e-6, 1e-6 + bf, &m);
            report(cat("qkv_rope_cache ", c.what, " kv=", dtype_name(kv), " (k row)"), m, w);
            CHECK(w <= 1);
            CHECK(worst(vg.to(Device::CPU).rows(c.pos, c.pos + 1).to_dtype(DType::F32), vref, 0, 0) == 0);

            // attention_at over the cache the GPU wrote (the CPU reads its widened copy).
            AttentionParams p;
            p.n_heads = c.h;
            p.n_kv_heads = c.hk;
            p.head_dim = c.d;
            p.scale = 1.0f / std::sqrt((float)c.d);
            p.window = c.window;
            p.softcap = c.softcap;
            const Tensor kw = kg.to(Device::CPU).to_dtype(DType::F32), vw = vg.to(Device::CPU).to_dtype(DType::F32);
            const Tensor q = rnd({1, qd}, rng, -3, 3);
            Tensor oc = Tensor::empty({1, qd}), none;
            attention_at(oc, q, kw, vw, pos_c, p, none);
            Tensor scratch = Tensor::zeros({std::max<int64_t>(1, attention_at_scratch(kg, p))}, DType::F32, Device::CUDA);
            // Every form of the kernel: the chunks merged through global memory by the last block,
            // and (sm_90) merged inside a cluster of blocks.
            std::vector<int> clusters = {0};
            if (cuda::attention_cluster() > 0) clusters = {0, cuda::attention_cluster()};
            for (int cl : clusters) {
                cuda::set_attention_cluster(cl);
                struct Restore { ~Restore() { cuda::set_attention_cluster(-1); } } restore;
                Tensor og = nan_gpu({1, qd});
                attention_at(og, q.to(Device::CUDA), kg, vg, pos_g, p, scratch);
                w = worst(og, oc, 2e-5, 0, &m);
                report(cat("attention_at ", c.what, " pos=", c.pos, " kv=", dtype_name(kv), " cluster ", cl), m, w);
                CHECK(w <= 1);
                // The last block of each head merges the chunks and re-zeroes its counter (the
                // cluster forms keep nothing): a second launch on the same scratch, the same bits.
                Tensor og2 = nan_gpu({1, qd});
                attention_at(og2, q.to(Device::CUDA), kg, vg, pos_g, p, scratch);
                CHECK(worst(og2, og, 0, 0) == 0);
            }
        }
}

TEST_CASE("lora_a_from_head / lora_b_from_head on CUDA are bit-identical to the CPU (offsets, rescale)", "[cuda]") {
    NEED_GPU();
    std::mt19937 rng(7003);
    const int64_t layers = 3, batch = 2, rows = layers * batch, r = 4, in = 40, out = 24;
    const Tensor ha = rnd({rows, r * in}, rng), hb = rnd({rows, r * out}, rng);
    const Tensor oa = rnd({layers, r, in}, rng), ob = rnd({layers, out, r}, rng);
    const Tensor oag = oa.to(Device::CUDA), obg = ob.to(Device::CUDA);
    for (float div : {1.0f, 100.0f})
        for (bool offsets : {true, false}) {
            Tensor ac = Tensor::empty({rows, r, in}), bc = Tensor::empty({rows, out, r});
            lora_a_from_head(ac, ha, offsets ? &oa : nullptr, layers, div);
            lora_b_from_head(bc, hb, offsets ? &ob : nullptr, layers, div);
            Tensor ag = nan_gpu({rows, r, in}), bg = nan_gpu({rows, out, r});
            lora_a_from_head(ag, ha.to(Device::CUDA), offsets ? &oag : nullptr, layers, div);
            lora_b_from_head(bg, hb.to(Device::CUDA), offsets ? &obg : nullptr, layers, div);
            CHECK(worst(ag, ac, 0, 0) == 0);
            CHECK(worst(bg, bc, 0, 0) == 0);
            // Row 4 is layer 1: A[4, 3, 7] = (head_a[4, 3·in + 7] + offset_a[1, 3, 7]) / div.
            CHECK(ac.f32()[(4 * r + 3) * in + 7] == (ha.f32()[4 * r * in + 3 * in + 7] + (offsets ? oa.f32()[(1 * r + 3) * in + 7] : 0.0f)) / div);
            // B is Bᵀ transposed: row 1, output 5, rank 2 comes from head_b[1, 2·out + 5].
            CHECK(bc.f32()[(1 * out + 5) * r + 2] == (hb.f32()[1 * r * out + 2 * out + 5] + (offsets ? ob.f32()[(1 * out + 5) * r + 2] : 0.0f)) / div);
        }
    Tensor a_bad = Tensor::empty({rows, r, in});
    CHECK_THROWS_AS(lora_a_from_head(a_bad, hb, nullptr, layers, 1.0f), Error);  // head of the wrong half
    CHECK_THROWS_AS(lora_a_from_head(a_bad, ha, &oa, 4, 1.0f), Error);          // rows not a multiple of layers
}

// ---------------------------------------------------------------------------------------------
// The fused decode step (kernels/fused_step.cu: every layer, the final norm and the LM head in one
// persistent kernel) against the op-by-op step on the same random LLaMA-shaped bf16 model, step by
// step from a 200-token prompt: without an adapter, with an unmerged q/v LoRA and with it merged.

namespace {

// A random LLaMA-layout model (bf16, head_dim 128) written as a .t2l file.
void write_random_llama(const std::string& path, int hidden, int heads, int kv_heads, int inter, int layers,
                        int vocab) {
    std::mt19937 rng(1234);
    const std::string config = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                               "\"hidden_size\": " + std::to_string(hidden) + ", \"intermediate_size\": " +
                               std::to_string(inter) + ", \"num_attention_heads\": " + std::to_string(heads) +
                               ", \"num_key_value_heads\": " + std::to_string(kv_heads) +
                               ", \"num_hidden_layers\": " + std::to_string(layers) +
                               ", \"vocab_size\": " + std::to_string(vocab) +
                               ", \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, \"hidden_act\": \"silu\", "
                               "\"max_position_embeddings\": 4096, \"tie_word_embeddings\": false}";
    struct W {
        std::string name;
        std::vector<int64_t> shape;
        float lo, hi;
    };
    const int qd = heads * 128, kd = kv_heads * 128;
    std::vector<W> ws = {{"model.embed_tokens.weight", {vocab, hidden}, -1.0f, 1.0f},
                         {"model.norm.weight", {hidden}, 0.8f, 1.2f},
                         {"lm_head.weight", {vocab, hidden}, -0.05f, 0.05f}};
    for (int l = 0; l < layers; l++) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const float a = 1.7f / std::sqrt((float)hidden), b = 1.7f / std::sqrt((float)inter);
        ws.push_back({p + "input_layernorm.weight", {hidden}, 0.8f, 1.2f});
        ws.push_back({p + "post_attention_layernorm.weight", {hidden}, 0.8f, 1.2f});
        ws.push_back({p + "self_attn.q_proj.weight", {qd, hidden}, -4 * a, 4 * a});  // peaked attention
        ws.push_back({p + "self_attn.k_proj.weight", {kd, hidden}, -4 * a, 4 * a});
        ws.push_back({p + "self_attn.v_proj.weight", {kd, hidden}, -a, a});
        ws.push_back({p + "self_attn.o_proj.weight", {hidden, qd}, -a, a});
        ws.push_back({p + "mlp.gate_proj.weight", {inter, hidden}, -a, a});
        ws.push_back({p + "mlp.up_proj.weight", {inter, hidden}, -a, a});
        ws.push_back({p + "mlp.down_proj.weight", {hidden, inter}, -b, b});
    }
    T2lWriter w(path);
    w.set_meta("hf.config", MetaValue::of_json(config));
    for (const W& t : ws) w.add_tensor(t.name, DType::BF16, t.shape);
    for (const W& t : ws) {
        const Tensor v = rnd(t.shape, rng, t.lo, t.hi, DType::BF16);
        w.write_data(v.data, v.nbytes());
    }
    w.finish();
}

// Logits of `steps` greedy decode steps after `prompt`, one vector per step.
std::vector<std::vector<float>> decode_logits(const Decoder& model, const std::vector<int32_t>& prompt, int steps,
                                              bool* fused) {
    KVCache cache = model.new_cache((int64_t)prompt.size() + steps + 1);
    model.forward(prompt, cache);
    std::vector<std::vector<float>> out;
    int32_t tok = prompt.back() ^ 1;
    for (int i = 0; i < steps; i++) {
        out.push_back(model.step(tok, cache).to_floats());
        tok = (int32_t)(std::max_element(out.back().begin(), out.back().end()) - out.back().begin());
    }
    *fused = model.step_is_fused(cache);
    return out;
}

// Largest |a - b| over all steps, relative to the largest |b|; and how many steps' argmax agree.
double compare_steps(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b, int* same) {
    double worst_abs = 0, big = 0;
    *same = 0;
    for (size_t s = 0; s < b.size(); s++) {
        for (size_t i = 0; i < b[s].size(); i++) {
            worst_abs = std::max(worst_abs, (double)std::fabs(a[s][i] - b[s][i]));
            big = std::max(big, (double)std::fabs(b[s][i]));
        }
        *same += std::max_element(a[s].begin(), a[s].end()) - a[s].begin() ==
                 std::max_element(b[s].begin(), b[s].end()) - b[s].begin();
    }
    return worst_abs / big;
}

}  // namespace

TEST_CASE("the fused decode step equals the op-by-op step (no adapter, unmerged and merged q/v LoRA)", "[cuda]") {
    NEED_GPU();
    cuda::FusedStepShape probe;
    probe.hidden = 512, probe.inter = 1408, probe.n_heads = 4, probe.n_kv_heads = 1, probe.head_dim = 128, probe.vocab = 3000;
    std::string why;
    if (!cuda::fused_step_supported(probe, &why)) T2L_SKIP("the fused step does not run here: " + why);
    struct Restore {
        ~Restore() {
            cuda::set_fused_step(-1);
            cuda::set_fused_merge(-1);
        }
    } restore;
    t2l_test::ScratchDir dir;
    for (int kv_heads : {1, 2}) {  // 4 and 2 query heads per KV head
        const std::string path = dir.file("llama" + std::to_string(kv_heads) + ".t2l");
        write_random_llama(path, 512, 4, kv_heads, 1408, 3, 3000);
        T2lFile f(path);
        Decoder model(f, Device::CUDA);
        std::mt19937 rng(7);
        std::vector<int32_t> prompt(200);
        for (auto& t : prompt) t = (int32_t)(rng() % 3000);
        LoraAdapter ad;
        ad.r = 8, ad.alpha = 16, ad.use_rslora = true;
        for (int l = 0; l < 3; l++)
            for (const char* m : {"q_proj", "v_proj"}) {
                const int out = std::string(m) == "q_proj" ? 512 : kv_heads * 128;
                ad.modules.push_back({l, m, rnd({8, 512}, rng, -0.1f, 0.1f), rnd({out, 8}, rng, -0.1f, 0.1f)});
            }
        std::vector<std::vector<float>> base_ref;
        for (int mode = 0; mode < 3; mode++) {  // 0 no adapter, 1 unmerged, 2 merged
            if (mode == 0) model.set_adapter(nullptr, false);
            else model.set_adapter(&ad, mode == 2);
            bool fused_off = true;
            cuda::set_fused_step(0);
            const auto ref = decode_logits(model, prompt, 24, &fused_off);
            CHECK_FALSE(fused_off);
            double moved = 0;
            if (mode == 0) base_ref = ref;
            else {
                int s2 = 0;
                moved = compare_steps(ref, base_ref, &s2);
            }
            cuda::set_fused_step(1);
            double err = 0;
            for (int stage : {0, 1}) {  // attention's chunks merged by each KV head's last chunk, or as a stage
                cuda::set_fused_merge(stage);
                bool fused_on = false;
                const auto got = decode_logits(model, prompt, 24, &fused_on);
                int same = 0;
                const double e = compare_steps(got, ref, &same);
                err = std::max(err, e);
                static const char* const names[] = {"no adapter", "unmerged q/v LoRA", "merged q/v LoRA"};
                std::printf("  fused step (merge %s), %d query heads per KV head, %-17s: max|diff| / max|logit| %.2e "
                            "over 24 steps, argmax agrees %d/24%s\n", stage ? "stage" : "last ", 4 / kv_heads,
                            names[mode], e, same,
                            mode ? (", the adapter moves the logits by " + std::to_string(moved)).c_str() : "");
                CHECK(fused_on);
                CHECK(e < 2e-3);
                CHECK(same >= 22);
            }
            if (mode) CHECK(moved > 20 * err);  // the adapter's effect is far above the difference
        }
    }
}
