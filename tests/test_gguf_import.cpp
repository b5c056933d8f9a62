// test_gguf_import.cpp — GGUF models into .t2l (tools/convert/gguf_import.h).
//
// 1. Every block format decodes bit for bit like the `gguf` Python package
//    (tests/fixtures/gguf/quants.gguf, made by tools/reference/make_gguf_fixtures.py).
// 2. llama.cpp's q/k row permutation, applied by numpy in that fixture, is undone exactly.
// 3. The oracle's HF checkpoints (LLaMA 3 with byte-level BPE, Mistral with SentencePiece,
//    Gemma 2) are written as llama.cpp's converter writes them (names, permuted q/k, rope_freqs,
//    norms + 1, tokenizer.ggml.*); converting that GGUF gives the same tensors bit for bit, the
//    same config values, the same logits and the same token ids on the tokenizer corpus as
//    converting the HF folder.
// 4. Broken files (truncated, overlapping or misplaced tensors, unknown types, missing or extra
//    tensors, bad merges) fail with one line naming the file.
#include <cmath>
#include <cstring>
#include <map>

#include "common.h"
#include "convert/convert.h"
#include "convert/gguf_import.h"
#include "format/t2l_file.h"
#include "io/gguf.h"
#include "io/gguf_quant.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "models/decoder.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {

std::vector<float> floats(const GgufTensorInfo& t) {
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    std::vector<float> out((size_t)n);
    dequantize_ggml(t.type, t.data, out.data(), out.size());
    return out;
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// ---- writing a GGUF the way llama.cpp's convert_hf_to_gguf.py does -----------------------------

GgufValue gstr(const std::string& s) { return GgufValue::str(s); }
GgufValue gu32(uint32_t v) { return GgufValue::u32(v); }
GgufValue gf32(float v) { return GgufValue::f32(v); }
GgufValue gbool(bool b) {
    GgufValue v;
    v.type = GgufType::BOOL;
    v.i = b;
    return v;
}
GgufValue garray(GgufType elem, std::vector<GgufValue> items) {
    GgufValue v;
    v.type = GgufType::ARRAY;
    v.elem = elem;
    v.arr = std::move(items);
    return v;
}

struct GgufModel {
    std::vector<std::pair<std::string, GgufValue>> kv;
    std::vector<GgufTensorOut> tensors;
    std::vector<std::vector<uint8_t>> owned;  // bytes of tensors made here

    void set(const std::string& key, GgufValue v) {
        for (auto& e : kv)
            if (e.first == key) {
                e.second = std::move(v);
                return;
            }
        kv.emplace_back(key, std::move(v));
    }
    void add(const std::string& name, std::vector<int64_t> shape, DType dt, std::vector<uint8_t> bytes) {
        owned.push_back(std::move(bytes));
        tensors.push_back({name, std::move(shape), dt, owned.back().data()});
    }
    void drop(const std::string& name) {
        for (size_t i = 0; i < tensors.size(); i++)
            if (tensors[i].name == name) tensors.erase(tensors.begin() + (long)i);
    }
    void write(const std::string& path) const { write_gguf(path, kv, tensors); }
};

// llama.cpp's permute: w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols),
// written as the index map it is: new[h][i][t] = old[h][t][i].
std::vector<uint8_t> permute_rows(const TensorView& w, int64_t n_head) {
    const int64_t rows = w.shape[0], cols = w.shape[1], half = rows / n_head / 2;
    const size_t row_bytes = (size_t)cols * dtype_size(w.dtype);
    std::vector<uint8_t> out(w.nbytes);
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t t = 0; t < 2; t++)
            for (int64_t i = 0; i < half; i++) {
                const int64_t old_row = (h * 2 + t) * half + i, new_row = (h * half + i) * 2 + t;
                std::memcpy(&out[(size_t)new_row * row_bytes], w.data + (size_t)old_row * row_bytes, row_bytes);
            }
    return out;
}

std::vector<uint8_t> plus_one_f32(const TensorView& w) {
    std::vector<float> v = Tensor::borrow(w).to_floats();
    std::vector<uint8_t> out(v.size() * 4);
    for (size_t i = 0; i < v.size(); i++) {
        const float x = v[i] + 1.0f;
        std::memcpy(&out[i * 4], &x, 4);
    }
    return out;
}

// Llama 3.1's RoPE scaling as llama.cpp's converter bakes it into rope_freqs.weight (f32 math).
std::vector<uint8_t> llama3_rope_freqs(double theta, int head_dim, float factor, float low, float high, float old_ctx) {
    std::vector<uint8_t> out((size_t)head_dim / 2 * 4);
    for (int j = 0; j < head_dim / 2; j++) {
        const float freq = 1.0f / std::pow((float)theta, (float)(2 * j) / (float)head_dim);
        const float wavelen = 2.0f * (float)M_PI / freq;
        float f;
        if (wavelen < old_ctx / high) f = 1;
        else if (wavelen > old_ctx / low) f = factor;
        else {
            const float smooth = (old_ctx / wavelen - low) / (high - low);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        std::memcpy(&out[(size_t)j * 4], &f, 4);
    }
    return out;
}

// The HF names llama.cpp renames, per architecture.
std::string gguf_name(const std::string& hf, const std::string& arch) {
    static const std::map<std::string, std::string> llama = {
        {"input_layernorm", "attn_norm"},       {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
        {"post_attention_layernorm", "ffn_norm"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"}};
    static const std::map<std::string, std::string> gemma2 = {
        {"input_layernorm", "attn_norm"},       {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
        {"post_attention_layernorm", "post_attention_norm"}, {"pre_feedforward_layernorm", "ffn_norm"},
        {"post_feedforward_layernorm", "post_ffw_norm"},     {"mlp.gate_proj", "ffn_gate"},
        {"mlp.up_proj", "ffn_up"},              {"mlp.down_proj", "ffn_down"}};
    if (hf == "model.embed_tokens.weight") return "token_embd.weight";
    if (hf == "model.norm.weight") return "output_norm.weight";
    if (hf == "lm_head.weight") return "output.weight";
    const std::string pre = "model.layers.";
    REQUIRE(hf.compare(0, pre.size(), pre) == 0);
    const size_t dot = hf.find('.', pre.size());
    const std::string layer = hf.substr(pre.size(), dot - pre.size());
    const std::string rest = hf.substr(dot + 1, hf.size() - dot - 1 - 7);  // without ".weight"
    const auto& m = arch == "llama" ? llama : gemma2;
    REQUIRE(m.count(rest));
    return "blk." + layer + "." + m.at(rest) + ".weight";
}

// tokenizer.ggml.* from an HF tokenizer.json, as llama.cpp's converter fills them.
void add_tokenizer(GgufModel& g, const std::string& dir, bool spm) {
    const json::Value tj = json::parse(t2l_test::read_bytes(dir + "/tokenizer.json"), dir);
    const json::Value tc = json::parse(t2l_test::read_bytes(dir + "/tokenizer_config.json"), dir);
    std::map<int64_t, std::string> by_id;
    for (const auto& kv : tj.at("model").at("vocab").object) by_id[kv.second.as_int()] = kv.first;
    std::map<std::string, bool> special;
    for (const auto& a : tj.at("added_tokens").array) {
        by_id[a.at("id").as_int()] = a.at("content").as_string();
        special[a.at("content").as_string()] = true;
    }
    std::vector<GgufValue> tokens, types, scores;
    int64_t expect = 0;
    for (const auto& e : by_id) {
        REQUIRE(e.first == expect++);  // dense ids
        tokens.push_back(gstr(e.second));
        int type = 1;
        if (special.count(e.second)) type = e.second == "<unk>" ? 2 : 3;
        else if (spm && e.second.size() == 6 && e.second.compare(0, 3, "<0x") == 0) type = 6;
        GgufValue t;
        t.type = GgufType::I32;
        t.i = type;
        types.push_back(t);
        scores.push_back(gf32(type == 1 ? -(float)e.first : 0.0f));  // SentencePiece BPE: earlier pieces score higher
    }
    g.set("tokenizer.ggml.model", gstr(spm ? "llama" : "gpt2"));
    if (!spm) g.set("tokenizer.ggml.pre", gstr("llama-bpe"));
    g.set("tokenizer.ggml.tokens", garray(GgufType::STRING, tokens));
    g.set("tokenizer.ggml.token_type", garray(GgufType::I32, types));
    if (spm) {
        g.set("tokenizer.ggml.scores", garray(GgufType::F32, scores));
    } else {
        std::vector<GgufValue> merges;
        for (const auto& m : tj.at("model").at("merges").array)
            merges.push_back(gstr(m.is_string() ? m.string : m.array[0].string + " " + m.array[1].string));
        g.set("tokenizer.ggml.merges", garray(GgufType::STRING, merges));
    }
    auto id_of = [&](const std::string& tok) {
        for (const auto& e : by_id)
            if (e.second == tok) return (uint32_t)e.first;
        FAIL("no token " << tok);
        return 0u;
    };
    g.set("tokenizer.ggml.bos_token_id", gu32(id_of(tc.at("bos_token").as_string())));
    g.set("tokenizer.ggml.eos_token_id", gu32(id_of(tc.at("eos_token").as_string())));
    if (const json::Value* unk = tc.find("unk_token"); unk && unk->is_string())
        g.set("tokenizer.ggml.unknown_token_id", gu32(id_of(unk->string)));
    const json::Value* add_bos = tc.find("add_bos_token");
    g.set("tokenizer.ggml.add_bos_token", gbool(add_bos ? add_bos->as_bool() : true));
    if (spm) {
        const bool prepend = tj.at("normalizer").at("type").as_string() == "Sequence";  // Prepend + Replace
        g.set("tokenizer.ggml.add_space_prefix", gbool(prepend));
    }
}

// An oracle HF folder written as a GGUF: the layout llama.cpp produces for it.
GgufModel hf_to_gguf(const std::string& dir, const std::string& arch, const SafetensorsCheckpoint& ck) {
    const json::Value cfg = json::parse(t2l_test::read_bytes(dir + "/config.json"), dir);
    const int n_heads = (int)cfg.at("num_attention_heads").as_int(), n_kv = (int)cfg.at("num_key_value_heads").as_int();
    const int hidden = (int)cfg.at("hidden_size").as_int();
    const int head_dim = cfg.find("head_dim") ? (int)cfg.at("head_dim").as_int() : hidden / n_heads;
    GgufModel g;
    g.set("general.architecture", gstr(arch));
    g.set("general.type", gstr("model"));
    const std::string a = arch + ".";
    g.set(a + "block_count", gu32((uint32_t)cfg.at("num_hidden_layers").as_int()));
    g.set(a + "context_length", gu32((uint32_t)cfg.at("max_position_embeddings").as_int()));
    g.set(a + "embedding_length", gu32((uint32_t)hidden));
    g.set(a + "feed_forward_length", gu32((uint32_t)cfg.at("intermediate_size").as_int()));
    g.set(a + "attention.head_count", gu32((uint32_t)n_heads));
    g.set(a + "attention.head_count_kv", gu32((uint32_t)n_kv));
    g.set(a + "attention.layer_norm_rms_epsilon", gf32((float)cfg.at("rms_norm_eps").as_double()));
    double theta = 10000;
    if (const json::Value* t = cfg.find("rope_theta")) theta = t->as_double();
    if (const json::Value* rp = cfg.find("rope_parameters")) theta = rp->at("rope_theta").as_double();
    g.set(a + "rope.freq_base", gf32((float)theta));
    g.set(a + "attention.key_length", gu32((uint32_t)head_dim));
    g.set(a + "attention.value_length", gu32((uint32_t)head_dim));
    if (arch == "llama") g.set(a + "rope.dimension_count", gu32((uint32_t)head_dim));
    if (arch == "gemma2") {
        g.set(a + "attention.sliding_window", gu32((uint32_t)cfg.at("sliding_window").as_int()));
        g.set(a + "attn_logit_softcapping", gf32((float)cfg.at("attn_logit_softcapping").as_double()));
        g.set(a + "final_logit_softcapping", gf32((float)cfg.at("final_logit_softcapping").as_double()));
        // The oracle's query_pre_attn_scalar is not head_dim: it travels as attention.scale.
        g.set(a + "attention.scale", gf32((float)(1.0 / std::sqrt(cfg.at("query_pre_attn_scalar").as_double()))));
    }
    for (const TensorView& t : ck.tensors()) {
        const std::string name = gguf_name(t.name, arch);
        std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
        DType dt = t.dtype;
        if (arch == "llama" && t.name.find("q_proj") != std::string::npos) bytes = permute_rows(t, n_heads);
        if (arch == "llama" && t.name.find("k_proj") != std::string::npos) bytes = permute_rows(t, n_kv);
        if (arch == "gemma2" && t.name.find("norm.weight") != std::string::npos) {
            bytes = plus_one_f32(t);  // llama.cpp stores Gemma's (1 + w), as f32
            dt = DType::F32;
        }
        g.add(name, t.shape, dt, std::move(bytes));
    }
    if (const json::Value* rs = cfg.find("rope_scaling"); rs && rs->is_object())
        g.add("rope_freqs.weight", {head_dim / 2}, DType::F32,
              llama3_rope_freqs(theta, head_dim, (float)rs->at("factor").as_double(), (float)rs->at("low_freq_factor").as_double(),
                                (float)rs->at("high_freq_factor").as_double(),
                                (float)rs->at("original_max_position_embeddings").as_double()));
    add_tokenizer(g, dir, arch != "llama" || cfg.at("model_type").as_string() == "mistral");
    return g;
}

std::string convert(const std::string& src, const std::string& out, const std::string& dtype = "f32") {
    ConvertOptions o;
    o.src = src;
    o.out = out;
    o.dtype = dtype;
    o.quiet = true;
    convert_checkpoint(o);
    return out;
}

std::string convert_error(const std::string& src, const std::string& out) {
    try {
        convert(src, out);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Patches one field of a tensor's entry in a GGUF file: "type" or "offset".
void patch_tensor(const std::string& path, const std::string& name, const char* field, uint64_t value) {
    std::string bytes = t2l_test::read_bytes(path);
    std::string key(8, '\0');
    const uint64_t len = name.size();
    std::memcpy(&key[0], &len, 8);
    key += name;
    const size_t at = bytes.find(key);
    REQUIRE(at != std::string::npos);
    size_t p = at + key.size();
    uint32_t nd;
    std::memcpy(&nd, &bytes[p], 4);
    p += 4 + 8 * nd;
    if (std::string(field) == "type") {
        const uint32_t v = (uint32_t)value;
        std::memcpy(&bytes[p], &v, 4);
    } else {
        std::memcpy(&bytes[p + 4], &value, 8);
    }
    t2l_test::write_bytes(path, bytes);
}

uint64_t tensor_offset(const std::string& path, const std::string& name) {
    GgufFile g(path);
    const GgufTensorInfo* t = g.find_tensor(name);
    REQUIRE(t);
    return t->offset;
}

}  // namespace

TEST_CASE("GGUF block formats dequantise bit for bit like the gguf package", "[gguf]") {
    const std::string path = t2l_test::fixture("gguf/quants.gguf");
    GgufFile g(path);
    int types_checked = 0;
    for (const char* name : {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k", "f16", "bf16"}) {
        const GgufTensorInfo* q = g.find_tensor(name);
        const GgufTensorInfo* ref = g.find_tensor(std::string(name) + ".ref");
        REQUIRE(q);
        REQUIRE(ref);
        REQUIRE(ref->type == kGgmlF32);
        REQUIRE(q->ne == ref->ne);
        const std::vector<float> got = floats(*q), want = floats(*ref);
        size_t differ = 0;
        double max_err = 0, max_abs = 0;
        for (size_t i = 0; i < got.size(); i++) {
            differ += bits(got[i]) != bits(want[i]);
            max_err = std::max(max_err, (double)std::fabs(got[i] - want[i]));
            max_abs = std::max(max_abs, (double)std::fabs(want[i]));
        }
        GgmlTypeInfo info;
        REQUIRE(ggml_type_info(q->type, &info));
        std::printf("  %-5s %3zu blocks, %4zu values up to %.3g: %zu differ in any bit (max |diff| %.3g)\n", info.name,
                    got.size() / info.block_elems, got.size(), max_abs, differ, max_err);
        CHECK(differ == 0);
        CHECK(max_abs > 0);  // the fixture holds real values, not zeros
        types_checked++;
    }
    CHECK(types_checked == 10);
}

// tests/fixtures/gguf/ggml_numerics.json holds what ggml's CPU backend computes (written by
// tools/interop/ggml_numerics_fixture.cpp against llama.cpp): T2L_NUMERICS=ggml must reproduce it.
TEST_CASE("llama.cpp's activation rounding and GELU table are reproduced exactly", "[gguf]") {
    const json::Value f = json::parse(t2l_test::read_bytes(t2l_test::fixture("gguf/ggml_numerics.json")), "ggml_numerics.json");
    auto arr = [&](const char* key) {
        std::vector<float> v;
        for (const json::Value& e : f.at(key).array) v.push_back((float)e.as_double());
        return v;
    };
    const std::vector<float> x = arr("x");
    REQUIRE(x.size() == 512);
    auto count_diffs = [](const char* what, const std::vector<float>& got, const std::vector<float>& want) {
        REQUIRE(got.size() == want.size());
        size_t differ = 0;
        double max_err = 0;
        for (size_t i = 0; i < got.size(); i++) {
            differ += !(got[i] == want[i]);  // as values: ggml's zeros carry the sign of its scale
            max_err = std::max(max_err, (double)std::fabs(got[i] - want[i]));
        }
        std::printf("  %-18s %zu values: %zu differ from ggml's (max |diff| %.3g)\n", what, got.size(), differ, max_err);
        return differ;
    };
    for (GgmlActRounding r : {GgmlActRounding::Q8_0, GgmlActRounding::Q8_K}) {
        std::vector<float> got(x.size());
        ggml_round_activations(r, x.data(), got.data(), (int64_t)x.size());
        const std::vector<float> want = arr(r == GgmlActRounding::Q8_0 ? "q8_0" : "q8_k");
        CHECK(count_diffs(ggml_act_rounding_name(r), got, want) == 0);
        double moved = 0;  // the rounding is real: values move
        for (size_t i = 0; i < x.size(); i++) moved = std::max(moved, (double)std::fabs(got[i] - x[i]));
        CHECK(moved > 1e-3);
    }
    std::vector<float> corr(x.size() / 32);
    ggml_q8_1_sum_corrections(x.data(), corr.data(), (int64_t)x.size());
    CHECK(count_diffs("Q8_1 block sums", corr, arr("q8_1_corrections")) == 0);
    const std::vector<float> gx = arr("gelu_x"), gelu_want = arr("gelu");
    std::vector<float> gelu_got;
    for (float v : gx) gelu_got.push_back(ggml_gelu_f16_table(v));
    CHECK(count_diffs("GELU (f16 table)", gelu_got, gelu_want) == 0);
    // The formats each weight type's activations take, as ggml's CPU type table says.
    CHECK(ggml_act_rounding(kGgmlTypeQ4_1) == GgmlActRounding::Q8_0);
    CHECK(ggml_act_rounding(kGgmlTypeQ5_0) == GgmlActRounding::Q8_0);
    CHECK(ggml_act_rounding(kGgmlTypeQ4_K) == GgmlActRounding::Q8_K);
    CHECK(ggml_act_rounding(kGgmlTypeQ6_K) == GgmlActRounding::Q8_K);
    CHECK(ggml_act_rounding(kGgmlTypeF16) == GgmlActRounding::F16);
    CHECK(ggml_act_rounding(kGgmlTypeF32) == GgmlActRounding::None);
    CHECK_THROWS_WITH(ggml_round_activations(GgmlActRounding::Q8_K, x.data(), corr.data(), 100), Catch::Contains("blocks of 256"));
}

TEST_CASE("llama.cpp's q/k row permutation is undone exactly", "[gguf]") {
    GgufFile g(t2l_test::fixture("gguf/quants.gguf"));
    const std::vector<float> ref = floats(*g.find_tensor("perm.ref"));
    for (const char* name : {"perm.q", "perm.k"}) {
        const GgufTensorInfo* t = g.find_tensor(name);
        REQUIRE(t);
        const int64_t n_head = g.find(std::string(name) + ".n_head")->i;
        const int64_t rows = (int64_t)t->ne[1], cols = (int64_t)t->ne[0];
        const std::vector<float> p = floats(*t);
        size_t wrong = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) wrong += p[(size_t)(llama_permuted_row(r, rows, n_head) * cols + c)] != ref[(size_t)(r * cols + c)];
        std::printf("  %s (%lld heads): %zu of %lld values out of place\n", name, (long long)n_head, wrong, (long long)(rows * cols));
        CHECK(wrong == 0);
    }
    // The map is a permutation (every source row used once) for heads of any even size.
    for (int64_t heads : {1, 2, 4, 8})
        for (int64_t hd : {2, 4, 64}) {
            std::vector<int> used((size_t)(heads * hd), 0);
            for (int64_t r = 0; r < heads * hd; r++) used[(size_t)llama_permuted_row(r, heads * hd, heads)]++;
            CHECK(std::all_of(used.begin(), used.end(), [](int u) { return u == 1; }));
        }
}

TEST_CASE("GGUF of the oracle checkpoints converts to the same model as the HF folders", "[gguf]") {
    struct Case {
        const char* fixture;
        const char* arch;
    };
    for (const Case c : {Case{"llama/base", "llama"}, Case{"mistral/base", "llama"}, Case{"gemma/base", "gemma2"}}) {
        const std::string dir = t2l_test::fixture(c.fixture);
        if (!t2l_test::path_exists(dir + "/config.json")) T2L_SKIP("no oracle fixture " + dir);
        ScratchDir tmp;
        SafetensorsCheckpoint ck(dir);
        hf_to_gguf(dir, c.arch, ck).write(tmp.file("model.gguf"));
        T2lFile from_hf(convert(dir, tmp.file("hf.t2l")));
        T2lFile from_gguf(convert(tmp.file("model.gguf"), tmp.file("gguf.t2l")));
        INFO(c.fixture);

        // Tensors: the same names, shapes and f32 values.
        size_t compared = 0, differ = 0;
        for (const auto& t : from_hf.tensors()) {
            const TensorView* g = from_gguf.find(t.view.name);
            REQUIRE(g);
            REQUIRE(g->shape == t.view.shape);
            REQUIRE(g->nbytes == t.view.nbytes);
            if (std::memcmp(g->data, t.view.data, g->nbytes) != 0) differ++;
            compared++;
        }
        CHECK(from_gguf.tensors().size() == from_hf.tensors().size());
        std::printf("  %s: %zu tensors, %zu differ in any byte\n", c.fixture, compared, differ);
        CHECK(differ == 0);

        // Config: what the decoder reads agrees.
        const DecoderConfig a = DecoderConfig::from_json(from_hf.meta_json("hf.config"), nullptr, "hf");
        const DecoderConfig b = DecoderConfig::from_json(from_gguf.meta_json("hf.config"), nullptr, "gguf");
        CHECK(a.vocab == b.vocab);
        CHECK(a.hidden == b.hidden);
        CHECK(a.n_layers == b.n_layers);
        CHECK(a.n_heads == b.n_heads);
        CHECK(a.n_kv_heads == b.n_kv_heads);
        CHECK(a.head_dim == b.head_dim);
        CHECK(a.intermediate == b.intermediate);
        CHECK(a.rms_eps == b.rms_eps);
        CHECK(a.rope_theta == b.rope_theta);
        CHECK(a.rope_type == b.rope_type);
        CHECK(a.rope_factor == b.rope_factor);
        CHECK(a.low_freq_factor == b.low_freq_factor);
        CHECK(a.high_freq_factor == b.high_freq_factor);
        CHECK(a.original_max_positions == b.original_max_positions);
        CHECK(a.tie_embeddings == b.tie_embeddings);
        CHECK(a.act == b.act);
        CHECK(a.attn_scale == b.attn_scale);
        CHECK(a.attn_softcap == b.attn_softcap);
        CHECK(a.final_softcap == b.final_softcap);
        CHECK(a.sliding_window == b.sliding_window);
        CHECK(a.layer_sliding == b.layer_sliding);
        CHECK(a.max_positions == b.max_positions);

        // Logits of the two files, bitwise.
        Decoder da(from_hf), db(from_gguf);
        std::vector<int32_t> ids;
        for (int i = 0; i < 24; i++) ids.push_back((int32_t)((i * 97 + 13) % a.vocab));
        KVCache ca = da.new_cache(32), cb = db.new_cache(32);
        Tensor la = da.forward(ids, ca, true), lb = db.forward(ids, cb, true);
        REQUIRE(la.numel() == lb.numel());
        const bool same_logits = std::memcmp(la.f32(), lb.f32(), (size_t)la.numel() * 4) == 0;
        std::printf("  %s: logits over %zu tokens %s\n", c.fixture, ids.size(), same_logits ? "identical" : "DIFFER");
        CHECK(same_logits);

        // Tokenizer: the corpus gives the same ids (with special tokens) and decodes the same.
        const Tokenizer ta = Tokenizer::from_t2l(from_hf), tb = Tokenizer::from_t2l(from_gguf);
        const json::Value corpus =
            json::parse(t2l_test::read_bytes(t2l_test::fixture("tokenizers/corpus.json")), "corpus.json");
        size_t n_strings = 0, id_mismatch = 0, text_mismatch = 0;
        for (const auto& s : corpus.at("strings").array) {
            const std::vector<int32_t> x = ta.encode(s.string), y = tb.encode(s.string);
            id_mismatch += x != y;
            text_mismatch += ta.decode(x, true) != tb.decode(x, true);
            n_strings++;
        }
        std::printf("  %s: tokenizer on %zu strings: %zu differ in ids, %zu in decoded text\n", c.fixture, n_strings,
                    id_mismatch, text_mismatch);
        CHECK(n_strings > 1000);
        CHECK(id_mismatch == 0);
        CHECK(text_mismatch == 0);
        CHECK(ta.bos_id() == tb.bos_id());
        CHECK(ta.eos_id() == tb.eos_id());
    }
}

TEST_CASE("GGUF conversion: dtype choice and what it reports", "[gguf]") {
    const std::string dir = t2l_test::fixture("llama/base");
    if (!t2l_test::path_exists(dir + "/config.json")) T2L_SKIP("no oracle fixture " + dir);
    ScratchDir tmp;
    SafetensorsCheckpoint ck(dir);
    hf_to_gguf(dir, "llama", ck).write(tmp.file("model.gguf"));
    // keep: the bf16 tensors stay bf16, f32 stays f32; bf16 asked for: every tensor bf16.
    T2lFile keep(convert(tmp.file("model.gguf"), tmp.file("keep.t2l"), "keep"));
    CHECK(keep.find("model.layers.0.self_attn.q_proj.weight")->dtype == DType::BF16);
    T2lFile f16(convert(tmp.file("model.gguf"), tmp.file("f16.t2l"), "f16"));
    CHECK(f16.find("model.norm.weight")->dtype == DType::F16);
    CHECK(f16.find("model.embed_tokens.weight")->dtype == DType::F16);
    // The conversion notes are in the file.
    const std::string notes = keep.meta_string("gguf.conversion");
    CHECK(notes.find("q/k row permutation in 6 tensors") != std::string::npos);
    CHECK(notes.find("llama3 rope scaling") != std::string::npos);
    CHECK(keep.meta_string("gguf.architecture") == "llama");
    // The command line takes a .gguf too.
    std::string out;
    CHECK(t2l_test::run_binary("t2l-convert", tmp.file("model.gguf") + " -o " + tmp.file("cli.t2l"), &out) == 0);
    CHECK(out.find("undid llama.cpp's q/k row permutation") != std::string::npos);
}

TEST_CASE("broken GGUF files fail with one line naming the file", "[gguf]") {
    const std::string dir = t2l_test::fixture("llama/base");
    if (!t2l_test::path_exists(dir + "/config.json")) T2L_SKIP("no oracle fixture " + dir);
    ScratchDir tmp;
    SafetensorsCheckpoint ck(dir);
    const GgufModel good = hf_to_gguf(dir, "llama", ck);
    const std::string path = tmp.file("bad.gguf");
    auto expect = [&](const std::string& what, const std::string& message) {
        const std::string e = convert_error(path, tmp.file("out.t2l"));
        INFO(what << ": " << e);
        CHECK(e.find(path) != std::string::npos);
        CHECK(e.find(message) != std::string::npos);
        CHECK(e.find('\n') == std::string::npos);
        CHECK_FALSE(t2l_test::path_exists(tmp.file("out.t2l")));
        std::printf("  %-28s -> %s\n", what.c_str(), e.c_str());
    };
    {
        good.write(path);
        const std::string bytes = t2l_test::read_bytes(path);
        t2l_test::write_bytes(path, bytes.substr(0, bytes.size() - 1000));
        expect("truncated data", "past the end of the file");
        t2l_test::write_bytes(path, bytes.substr(0, 100));
        expect("truncated header", "GGUF");
    }
    {
        good.write(path);
        patch_tensor(path, "blk.0.attn_k.weight", "offset", tensor_offset(path, "blk.0.attn_q.weight"));
        expect("overlapping tensors", "overlap");
        good.write(path);
        patch_tensor(path, "blk.0.attn_k.weight", "offset", 1ull << 40);
        expect("offset past the end", "past the end of the file");
        good.write(path);
        patch_tensor(path, "blk.0.attn_k.weight", "offset", 3);
        expect("misaligned offset", "misaligned");
        good.write(path);
        patch_tensor(path, "blk.1.ffn_up.weight", "type", 99);
        expect("unknown tensor type", "type 99");
        good.write(path);
        patch_tensor(path, "blk.1.ffn_up.weight", "type", 9);  // Q8_1: sized, not decoded
        expect("undecodable type", "stored as Q8_1");
        good.write(path);
        patch_tensor(path, "rope_freqs.weight", "type", 8);  // Q8_0 rows of 8 values
        expect("rows not whole blocks", "not a multiple of 32");
    }
    {
        GgufModel g = good;
        g.drop("blk.2.ffn_up.weight");
        g.write(path);
        expect("missing tensor", "model.layers.2.mlp.up_proj.weight");
    }
    {
        GgufModel g = good;
        g.add("blk.0.attn_q.bias", {64}, DType::F32, std::vector<uint8_t>(256, 0));
        g.write(path);
        expect("tensor with no place", "blk.0.attn_q.bias");
        g = good;
        g.add("blk.7.attn_q.weight", {64}, DType::F32, std::vector<uint8_t>(256, 0));
        g.write(path);
        expect("layer out of range", "blk.7.attn_q.weight");
    }
    {
        GgufModel g = good;
        g.set("general.architecture", gstr("qwen2"));
        g.write(path);
        expect("unsupported architecture", "'qwen2' is not supported");
        g = good;
        g.set("llama.attention.head_count", gstr("nine"));
        g.write(path);
        expect("key of the wrong type", "llama.attention.head_count");
        g = good;
        g.set("tokenizer.ggml.merges", garray(GgufType::STRING, {gstr("Ġ t"), gstr("zz qq")}));
        g.write(path);
        expect("merge outside the vocab", "tokenizer.ggml.merges[1]");
        g = good;
        g.set("tokenizer.ggml.pre", gstr("qwen2"));
        g.write(path);
        expect("unknown pre-tokenizer", "tokenizer.ggml.pre 'qwen2'");
        g = good;
        std::vector<uint8_t> ff(8 * 4);
        for (size_t i = 0; i < 8; i++) {
            const float v = 1.0f + 0.37f * (float)i;
            std::memcpy(&ff[i * 4], &v, 4);
        }
        g.drop("rope_freqs.weight");
        g.add("rope_freqs.weight", {8}, DType::F32, ff);
        g.write(path);
        expect("unrecognised rope_freqs", "rope_freqs.weight does not match");
    }
}

TEST_CASE("corrupted GGUF headers are errors, never crashes", "[gguf]") {
    const std::string dir = t2l_test::fixture("llama/base");
    if (!t2l_test::path_exists(dir + "/config.json")) T2L_SKIP("no oracle fixture " + dir);
    ScratchDir tmp;
    SafetensorsCheckpoint ck(dir);
    const std::string path = tmp.file("fuzz.gguf");
    hf_to_gguf(dir, "llama", ck).write(path);
    const std::string good = t2l_test::read_bytes(path);
    // The tables (keys, vocabulary, merges, tensor entries) end where the data section starts;
    // write_gguf pads the last tensor to the alignment, so the data section is that long.
    uint64_t data_len = 0;
    const GgufFile parsed(path);
    for (const auto& t : parsed.tensors()) data_len = std::max(data_len, align_up(t.offset + t.nbytes, 32));
    const size_t tables_end = good.size() - (size_t)data_len;
    REQUIRE(tables_end > 64);
    // Overwrite one to four seeded bytes, in the first 64 (version, counts, the first key) for a
    // third of the rounds and anywhere in the tables for the rest, and import each result,
    // reading every tensor's first and last rows.
    uint32_t state = 12345;
    auto next = [&]() { return state = state * 1664525u + 1013904223u; };
    size_t errors = 0, imported = 0;
    const int rounds = 150;
    for (int round = 0; round < rounds; round++) {
        std::string bad = good;
        const int flips = 1 + (int)(next() % 4);
        for (int k = 0; k < flips; k++) {
            const size_t at = round < rounds / 3 ? next() % 64 : next() % tables_end;
            bad[at] = (char)(next() & 0xFF);
        }
        t2l_test::write_bytes(path, bad);
        try {
            GgufImport imp = import_gguf(path, "keep");
            std::vector<float> row;
            for (const auto& t : imp.tensors) {
                row.resize((size_t)t.row_elems);
                int64_t numel = 1;
                for (int64_t d : t.shape) numel *= d;
                t.rows(0, 1, row.data());
                t.rows(numel / t.row_elems - 1, numel / t.row_elems, row.data());
            }
            imported++;
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
            errors++;
        }
    }
    std::printf("  %d corrupted files: %zu refused with an error, %zu still import (changed bytes nobody checks)\n", rounds,
                errors, imported);
    CHECK(errors + imported == (size_t)rounds);
    CHECK(errors > 30);
}
