// test_lora.cpp — adapter files: PEFT round trip, refusals, GGUF adapters for llama.cpp,
// and the sampler.
#include <cmath>
#include <cstring>
#include <random>

#include "common.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "lora/adapter.h"
#include "lora/adapter_gguf.h"
#include "models/sampler.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {
LoraAdapter make_adapter(int layers, int64_t in, int64_t q_out, int64_t v_out) {
    LoraAdapter a;
    a.r = 4;
    a.alpha = 16;
    a.use_rslora = true;
    a.target_modules = {"q_proj", "v_proj"};
    a.config = json::parse(R"({"r": 4, "lora_alpha": 16, "use_rslora": true, "target_modules": ["q_proj", "v_proj"],
                              "peft_type": "LORA", "base_model_name_or_path": "tiny"})", "cfg");
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    for (const char* m : {"q_proj", "v_proj"})
        for (int l = 0; l < layers; l++) {
            LoraModule lm;
            lm.layer = l;
            lm.module = m;
            const int64_t out = std::string(m) == "q_proj" ? q_out : v_out;
            lm.A = Tensor::empty({4, in});
            lm.B = Tensor::empty({out, 4});
            for (int64_t i = 0; i < lm.A.numel(); i++) lm.A.f32()[i] = nd(rng);
            for (int64_t i = 0; i < lm.B.numel(); i++) lm.B.f32()[i] = nd(rng);
            a.modules.push_back(lm);
        }
    return a;
}
}  // namespace

TEST_CASE("PEFT adapters: written names, config and a lossless round trip", "[lora]") {
    ScratchDir dir;
    LoraAdapter a = make_adapter(2, 16, 16, 8);
    CHECK(std::fabs(a.scale() - 16.0 / 2.0) < 1e-12);  // rsLoRA: alpha / sqrt(r)
    write_peft_adapter(dir.path, a, json::Value::new_object());
    SafetensorsFile st(dir.file("adapter_model.safetensors"));
    REQUIRE(st.find("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"));
    CHECK(st.find("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")->shape == std::vector<int64_t>{8, 4});
    CHECK(st.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")->dtype == DType::F32);
    const std::string cfg = t2l_test::read_bytes(dir.file("adapter_config.json"));
    CHECK(cfg.find("\"base_model_name_or_path\"") < cfg.find("\"lora_alpha\""));  // keys sorted, as peft writes them
    LoraAdapter b = load_adapter(dir.path);
    CHECK(b.r == 4);
    CHECK(b.use_rslora);
    REQUIRE(b.modules.size() == 4);
    for (const auto& m : a.modules) {
        const LoraModule* mb = b.find(m.layer, m.module);
        REQUIRE(mb);
        CHECK(std::memcmp(mb->A.data, m.A.data, m.A.nbytes()) == 0);
        CHECK(std::memcmp(mb->B.data, m.B.data, m.B.nbytes()) == 0);
    }
    CHECK(peft_key(3, "down_proj", 'B') == "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight");
}

TEST_CASE("adapters with foreign or unpaired tensors are refused", "[lora]") {
    ScratchDir dir;
    t2l_test::write_bytes(dir.file("adapter_config.json"), R"({"r": 4, "lora_alpha": 8})");
    std::vector<float> v(16, 1.0f);
    TensorView t;
    t.dtype = DType::F32;
    t.shape = {4, 4};
    t.data = (const uint8_t*)v.data();
    t.nbytes = 64;
    t.name = "base_model.model.layers.0.self_attn.q_proj.lora_A.weight";  // one "model." short: PEFT would load zeros
    write_safetensors(dir.file("adapter_model.safetensors"), {t});
    CHECK_THROWS_WITH(load_adapter(dir.path), Catch::Contains("is not a PEFT LoRA weight"));
    t.name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    write_safetensors(dir.file("adapter_model.safetensors"), {t});
    CHECK_THROWS_WITH(load_adapter(dir.path), Catch::Contains("has only one of lora_A / lora_B"));
}

TEST_CASE("GGUF adapters carry llama.cpp's metadata, alpha = scale * r, and permuted q rows", "[lora][gguf]") {
    ScratchDir dir;
    const int n_head = 2;
    LoraAdapter a = make_adapter(2, 16, 16, 8);
    GgufBaseInfo base{"llama", n_head, 1, true};
    write_gguf_adapter(dir.file("a.gguf"), a, base);
    GgufFile g(dir.file("a.gguf"));
    CHECK(g.find("general.type")->s == "adapter");
    CHECK(g.find("adapter.type")->s == "lora");
    CHECK(g.find("general.architecture")->s == "llama");
    CHECK(std::fabs(g.find("adapter.lora.alpha")->f - 16.0 / std::sqrt(4.0) * 4) < 1e-5);  // 32, so alpha/r = 8 = scale
    const GgufTensorInfo* qa = g.find_tensor("blk.1.attn_q.weight.lora_a");
    const GgufTensorInfo* qb = g.find_tensor("blk.1.attn_q.weight.lora_b");
    const GgufTensorInfo* vb = g.find_tensor("blk.0.attn_v.weight.lora_b");
    REQUIRE(qa);
    REQUIRE(qb);
    REQUIRE(vb);
    CHECK(qa->ne == std::vector<uint64_t>{16, 4});  // ne lists the fastest dimension first
    CHECK(qb->ne == std::vector<uint64_t>{4, 16});
    const LoraModule* m = a.find(1, "q_proj");
    CHECK(std::memcmp(qa->data, m->A.data, m->A.nbytes()) == 0);
    // Within each head of dim 8, new row 2j + t holds old row t * 4 + j.
    const float* got = (const float*)qb->data;
    int mismatches = 0;
    for (int h = 0; h < n_head; h++)
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < 2; t++)
                for (int k = 0; k < 4; k++)
                    if (got[(h * 8 + 2 * j + t) * 4 + k] != m->B.f32()[(h * 8 + t * 4 + j) * 4 + k]) mismatches++;
    CHECK(mismatches == 0);
    CHECK(std::memcmp(vb->data, a.find(0, "v_proj")->B.data, 8 * 4 * 4) == 0);  // v is not permuted
    // Gemma: no permutation.
    write_gguf_adapter(dir.file("g.gguf"), a, GgufBaseInfo{"gemma2", 2, 1, false});
    GgufFile gg(dir.file("g.gguf"));
    CHECK(std::memcmp(gg.find_tensor("blk.1.attn_q.weight.lora_b")->data, m->B.data, m->B.nbytes()) == 0);
}

namespace {
// A and B of every module bit-identical, in the same order.
void check_same_weights(const LoraAdapter& got, const LoraAdapter& want) {
    REQUIRE(got.modules.size() == want.modules.size());
    for (size_t i = 0; i < want.modules.size(); i++) {
        const LoraModule &g = got.modules[i], &w = want.modules[i];
        CHECK(g.layer == w.layer);
        CHECK(g.module == w.module);
        REQUIRE(g.A.shape == w.A.shape);
        REQUIRE(g.B.shape == w.B.shape);
        CHECK(std::memcmp(g.A.data, w.A.data, w.A.nbytes()) == 0);
        CHECK(std::memcmp(g.B.data, w.B.data, w.B.nbytes()) == 0);
    }
}
}  // namespace

TEST_CASE("GGUF adapters read back: PEFT -> GGUF -> PEFT returns the same adapter", "[lora][gguf]") {
    ScratchDir dir;
    LoraAdapter a = make_adapter(3, 16, 16, 8);
    LoraModule k;  // k_proj: 1 kv head of dim 8, un-permuted with head_count_kv
    k.layer = 1;
    k.module = "k_proj";
    k.A = a.modules[0].A;
    k.B = Tensor::empty({8, 4});
    for (int64_t i = 0; i < k.B.numel(); i++) k.B.f32()[i] = (float)i * 0.25f - 3.0f;
    a.modules.insert(a.modules.begin() + 3, k);  // q (3 layers), k, v: the order reading restores
    write_peft_adapter(dir.file("peft"), a, json::Value::new_object());
    const LoraAdapter peft = load_adapter(dir.file("peft"));
    for (const GgufBaseInfo& base : {GgufBaseInfo{"llama", 2, 1, true}, GgufBaseInfo{"gemma3", 2, 1, false}}) {
        write_gguf_adapter(dir.file("a.gguf"), peft, base);
        GgufBaseInfo seen;
        const LoraAdapter back = read_gguf_adapter(dir.file("a.gguf"), nullptr, &seen);
        check_same_weights(back, peft);
        CHECK(seen.arch == base.arch);
        CHECK(seen.n_head == 2);
        CHECK(seen.n_head_kv == 1);
        CHECK(back.r == 4);
        CHECK(back.alpha == 16);
        CHECK(back.use_rslora);
        CHECK(json::dump(back.config) == json::dump(peft.config));
        // ... and back to a PEFT folder whose bytes equal the original's.
        write_peft_adapter(dir.file("back"), back, json::Value::new_object());
        CHECK(t2l_test::read_bytes(dir.file("back/adapter_model.safetensors")) == t2l_test::read_bytes(dir.file("peft/adapter_model.safetensors")));
        CHECK(t2l_test::read_bytes(dir.file("back/adapter_config.json")) == t2l_test::read_bytes(dir.file("peft/adapter_config.json")));
    }
    // The same through the command line: GGUF in, PEFT and GGUF out (base taken from the file).
    write_gguf_adapter(dir.file("a.gguf"), peft, GgufBaseInfo{"llama", 2, 1, true});
    check_same_weights(load_adapter(dir.file("a.gguf")), peft);  // what run / logits --lora read
    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("a.gguf") + " --format peft -o " + dir.file("cli") + " -q", &out) == 0);
    check_same_weights(load_adapter(dir.file("cli")), peft);
    REQUIRE(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("a.gguf") + " --format gguf -o " + dir.file("again.gguf") + " -q", &out) == 0);
    GgufFile g1(dir.file("a.gguf")), g2(dir.file("again.gguf"));
    const GgufTensorInfo *q1 = g1.find_tensor("blk.2.attn_q.weight.lora_b"), *q2 = g2.find_tensor("blk.2.attn_q.weight.lora_b");
    REQUIRE(q1);
    REQUIRE(q2);
    CHECK(std::memcmp(q1->data, q2->data, q1->nbytes) == 0);  // permuted again the same way
}

TEST_CASE("GGUF adapters from llama.cpp's converter: scale from alpha / r, head counts from --base", "[lora][gguf]") {
    ScratchDir dir;
    const LoraAdapter a = make_adapter(2, 16, 16, 8);  // rank 4, rsLoRA, alpha 16
    // What convert_lora_to_gguf.py writes: alpha as in the PEFT config, B permuted, no t2l keys.
    std::vector<Tensor> keep;
    std::vector<GgufTensorOut> tensors;
    for (const auto& m : a.modules) {
        Tensor B = Tensor::empty(m.B.shape);
        const int64_t hd = 8, half = 4, r = 4;
        for (int64_t row = 0; row < m.B.dim(0); row++) {
            const int64_t h = row / hd, j = (row % hd) / 2, t = row % 2;  // new row 2j + t <- old row t * half + j
            const int64_t src = m.module == "q_proj" ? h * hd + t * half + j : row;
            std::memcpy(B.f32() + row * r, m.B.f32() + src * r, r * 4);
        }
        keep.push_back(B);
        const std::string name = cat("blk.", m.layer, ".", gguf_projection_name(m.module), ".weight");
        tensors.push_back({name + ".lora_a", m.A.shape, DType::F32, m.A.data});
        tensors.push_back({name + ".lora_b", B.shape, DType::F32, keep.back().data});
    }
    std::vector<std::pair<std::string, GgufValue>> kv = {{"general.architecture", GgufValue::str("llama")},
                                                         {"general.type", GgufValue::str("adapter")},
                                                         {"adapter.type", GgufValue::str("lora")},
                                                         {"adapter.lora.alpha", GgufValue::f32(16)}};
    write_gguf(dir.file("foreign.gguf"), kv, tensors);
    CHECK_THROWS_WITH(read_gguf_adapter(dir.file("foreign.gguf")), Catch::Contains("pass --base BASE.t2l"));
    const GgufBaseInfo base{"llama", 2, 2, true};
    const LoraAdapter b = read_gguf_adapter(dir.file("foreign.gguf"), &base);
    check_same_weights(b, a);
    CHECK(b.r == 4);
    CHECK(!b.use_rslora);
    CHECK(std::fabs(b.scale() - 16.0 / 4) < 1e-12);  // what llama.cpp applies: alpha / r
    CHECK(b.config.at("lora_alpha").as_double() == 16);
    CHECK(b.config.at("target_modules").array.size() == 2);
    // Not an adapter, or a tensor that is not a projection's LoRA: refused by name.
    kv[1].second = GgufValue::str("model");
    write_gguf(dir.file("model.gguf"), kv, tensors);
    CHECK_THROWS_WITH(read_gguf_adapter(dir.file("model.gguf")), Catch::Contains("not a llama.cpp LoRA adapter"));
    kv[1].second = GgufValue::str("adapter");
    tensors[0].name = "token_embd.weight.lora_a";
    write_gguf(dir.file("embd.gguf"), kv, tensors);
    CHECK_THROWS_WITH(read_gguf_adapter(dir.file("embd.gguf"), &base), Catch::Contains("token_embd.weight.lora_a"));
}

TEST_CASE("damaged GGUF files are refused", "[gguf]") {
    ScratchDir dir;
    write_gguf_adapter(dir.file("a.gguf"), make_adapter(1, 8, 8, 8), GgufBaseInfo{"llama", 2, 2, true});
    const std::string good = t2l_test::read_bytes(dir.file("a.gguf"));
    auto expect = [&](std::string bytes, const char* msg) {
        t2l_test::write_bytes(dir.file("b.gguf"), bytes);
        CHECK_THROWS_WITH(GgufFile(dir.file("b.gguf")), Catch::Contains(msg));
    };
    expect("GGUX" + good.substr(4), "bad magic");
    expect(good.substr(0, 200), "runs past the end of the file");
    std::string b = good;
    uint64_t huge = 1ull << 60;
    std::memcpy(&b[8], &huge, 8);
    expect(b, "tensor count");
    b = good;
    std::memcpy(&b[16], &huge, 8);
    expect(b, "key count");
    expect(good.substr(0, good.size() - 8), "past the end of the file");
}

TEST_CASE("sampling: greedy, seeded, top-k, top-p and repetition penalty", "[sampler]") {
    std::vector<float> logits = {0.1f, 2.0f, 1.9f, -1.0f, 0.5f};
    Sampler greedy(SamplerParams{});
    std::vector<float> l = logits;
    CHECK(greedy.sample(l.data(), 5, {}) == 1);
    SamplerParams p;
    p.repetition_penalty = 2.0f;
    Sampler pen(p);
    l = logits;
    CHECK(pen.sample(l.data(), 5, {1}) == 2);  // 2.0 / 2 = 1.0 < 1.9
    CHECK(l[1] == 1.0f);
    p = SamplerParams{};
    p.temperature = 1.0f;
    p.top_k = 1;
    Sampler k1(p);
    for (int i = 0; i < 20; i++) { l = logits; CHECK(k1.sample(l.data(), 5, {}) == 1); }
    p.top_k = 0;
    p.top_p = 0.3f;  // the top token alone holds more than 30%
    Sampler tp(p);
    for (int i = 0; i < 20; i++) { l = logits; CHECK(tp.sample(l.data(), 5, {}) == 1); }
    // Same seed, same choices; different seed, different sequence; frequencies follow softmax.
    p = SamplerParams{};
    p.temperature = 1.0f;
    p.seed = 42;
    Sampler s1(p), s2(p);
    std::vector<int> counts(5, 0);
    bool same = true;
    for (int i = 0; i < 20000; i++) {
        std::vector<float> a = logits, b = logits;
        const int x = s1.sample(a.data(), 5, {}), y = s2.sample(b.data(), 5, {});
        same = same && x == y;
        counts[(size_t)x]++;
    }
    CHECK(same);
    double z = 0;
    for (float v : logits) z += std::exp(v);
    for (int i = 0; i < 5; i++) {
        const double expect = std::exp(logits[(size_t)i]) / z;
        INFO("token " << i << " frequency " << counts[(size_t)i] / 20000.0 << " expected " << expect);
        CHECK(std::fabs(counts[(size_t)i] / 20000.0 - expect) < 0.015);
    }
}

TEST_CASE("portable adapters fold sqrt(r) into B and apply the same delta", "[lora]") {
    LoraAdapter a = make_adapter(1, 16, 16, 8);
    LoraAdapter p = a;
    make_portable(p);
    CHECK(!p.use_rslora);
    CHECK(!p.config.at("use_rslora").as_bool());
    CHECK(std::fabs(p.scale() - 16.0 / 4.0) < 1e-12);  // alpha / r
    for (size_t i = 0; i < a.modules.size(); i++) {
        // s * B is unchanged: alpha/sqrt(r) * B == alpha/r * (sqrt(r) * B).
        const float* b0 = a.modules[i].B.f32();
        const float* b1 = p.modules[i].B.f32();
        double worst = 0;
        for (int64_t k = 0; k < a.modules[i].B.numel(); k++)
            worst = std::max(worst, std::fabs(a.scale() * b0[k] - p.scale() * b1[k]));
        CHECK(worst < 1e-5);
        CHECK(a.modules[i].B.data != p.modules[i].B.data);  // the original is untouched
    }
}

TEST_CASE("t2l convert-adapter moves adapters between PEFT, .t2l and GGUF losslessly", "[lora][cli]") {
    ScratchDir dir;
    LoraAdapter a = make_adapter(2, 16, 16, 8);
    write_peft_adapter(dir.file("peft"), a, json::Value::new_object());
    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("peft") + " --format t2l -o " + dir.file("a.t2l") + " -q", &out) == 0);
    REQUIRE(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("a.t2l") + " --format peft -o " + dir.file("back") + " -q", &out) == 0);
    LoraAdapter back = load_adapter(dir.file("back"));
    REQUIRE(back.modules.size() == a.modules.size());
    for (const auto& m : a.modules) {
        const LoraModule* mb = back.find(m.layer, m.module);
        REQUIRE(mb);
        CHECK(std::memcmp(mb->A.data, m.A.data, m.A.nbytes()) == 0);
        CHECK(std::memcmp(mb->B.data, m.B.data, m.B.nbytes()) == 0);
    }
    CHECK(back.use_rslora);
    CHECK(back.r == 4);
    // GGUF needs the architecture; the config's base model ("tiny") is not a known one.
    CHECK(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("peft") + " --format gguf -o " + dir.file("a.gguf"), &out) == 1);
    CHECK_THAT(out, Catch::Contains("pass --base BASE.t2l"));
    CHECK(!t2l_test::path_exists(dir.file("a.gguf")));
    CHECK(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("a.gguf") + " --format peft -o " + dir.file("x"), &out) == 1);
    CHECK_THAT(out, Catch::Contains("a.gguf"));  // no such file: the error names it
    // --portable: same delta, rsLoRA off.
    REQUIRE(t2l_test::run_binary("t2l", "convert-adapter " + dir.file("peft") + " --portable --format peft -o " + dir.file("portable") + " -q", &out) == 0);
    LoraAdapter p = load_adapter(dir.file("portable"));
    CHECK(!p.use_rslora);
    CHECK(std::fabs(p.scale() * p.modules[0].B.f32()[0] - a.scale() * a.modules[0].B.f32()[0]) < 1e-5);
}
