// test_models.cpp — the engine against the PyTorch oracle (tests/fixtures, made by
// tools/reference/make_fixtures.py): the gte encoder, the three decoder families with and
// without LoRA (unmerged and merged), greedy continuations, and every T2L variant's adapter.
// Each check prints the error it measured.
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "common.h"
#include "ops_cuda.h"
#include "convert/convert.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "lora/adapter.h"
#include "models/decoder.h"
#include "models/encoder.h"
#include "models/sampler.h"
#include "models/t2l_pipeline.h"
#include "test_util.h"
#include "gpu.h"
#include "tokenizer/tokenizer.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {
// Converted fixtures, made once per test run (conversion is exercised in test_convert.cpp).
const std::string& converted(const std::string& src, const std::string& encoder = "") {
    static ScratchDir dir;
    static std::map<std::string, std::string> done;
    const std::string key = src + "|" + encoder;
    auto it = done.find(key);
    if (it != done.end()) return it->second;
    std::string name = src + (encoder.empty() ? "" : "+enc");
    for (char& c : name)
        if (c == '/') c = '_';
    ConvertOptions o;
    o.src = t2l_test::fixture(src);
    o.encoder_dir = encoder.empty() ? "" : t2l_test::fixture(encoder);
    o.out = dir.file(name + ".t2l");
    o.quiet = true;
    convert_checkpoint(o);
    return done[key] = o.out;
}

std::vector<int32_t> ids_of(const TensorView* t) {
    REQUIRE(t);
    REQUIRE(t->dtype == DType::I32);
    std::vector<int32_t> v((size_t)t->numel());
    std::memcpy(v.data(), t->data, t->nbytes);
    return v;
}

std::vector<float> floats_of(const TensorView* t) {
    REQUIRE(t);
    return Tensor::borrow(*t).to_floats();
}

double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
}

// Compare logits rows at the given positions: returns the max abs error.
double logits_error(const Tensor& all, const SafetensorsFile& exp, const std::string& prefix, int64_t V) {
    const std::vector<int32_t> pos = ids_of(exp.find(prefix + ".logits_positions"));
    const std::vector<float> want = floats_of(exp.find(prefix + ".logits"));
    REQUIRE(want.size() == pos.size() * (size_t)V);
    double err = 0;
    for (size_t i = 0; i < pos.size(); i++)
        err = std::max(err, max_abs_diff(all.f32() + pos[i] * V, want.data() + i * V, (size_t)V));
    return err;
}

// Greedy continuation with the KV cache: prefill, then one token at a time.
std::vector<int32_t> greedy(const Decoder& model, const std::vector<int32_t>& prompt, int n, bool narrow_kv = true) {
    KVCache cache = model.new_cache((int64_t)prompt.size() + n, narrow_kv);
    Tensor logits = model.forward(prompt, cache);
    std::vector<int32_t> out;
    for (int i = 0; i < n; i++) {
        const int32_t next = argmax(logits.f32(), model.config().vocab);
        out.push_back(next);
        if (i + 1 < n) logits = model.forward({next}, cache);
    }
    return out;
}

constexpr double kLogitTol = 1e-3;  // the issue's bound; measured errors are printed and are far smaller
}  // namespace

TEST_CASE("gte encoder: CLS, task embedding and hidden states match PyTorch", "[models][encoder]") {
    T2lFile f(converted("gte_encoder"));
    TextEncoder enc(f, "");
    SafetensorsFile exp(t2l_test::fixture("gte_encoder/expected.safetensors"));
    for (const char* c : {"desc0", "desc1", "desc2", "cjk", "long", "truncated"}) {
        const std::string cs = c;
        const std::vector<int32_t> ids = ids_of(exp.find(cs + ".input_ids"));
        std::vector<Tensor> layers;
        Tensor h = enc.forward(ids, cs == "desc0" ? &layers : nullptr);
        const std::vector<float> cls = floats_of(exp.find(cs + ".cls"));
        const double cls_err = max_abs_diff(h.f32(), cls.data(), cls.size());
        const std::vector<float> emb = enc.task_embedding(ids);
        const std::vector<float> want = floats_of(exp.find(cs + ".task_emb"));
        const double emb_err = max_abs_diff(emb.data(), want.data(), want.size());
        std::printf("encoder %-9s %5zu tokens: CLS max abs error %.2e, task embedding %.2e\n", c, ids.size(), cls_err, emb_err);
        CHECK(cls_err < 1e-4);
        CHECK(emb_err < 1e-4);
        if (cs == "desc0") {
            const std::vector<float> hs = floats_of(exp.find("desc0.hidden_states"));
            const size_t per = ids.size() * 64;
            REQUIRE(layers.size() * per == hs.size());
            for (size_t l = 0; l < layers.size(); l++) {
                const double e = max_abs_diff(layers[l].f32(), hs.data() + l * per, per);
                std::printf("encoder desc0 hidden state %zu: max abs error %.2e\n", l, e);
                CHECK(e < 1e-4);
            }
        }
    }
}

TEST_CASE("BERT-style encoder (absolute positions) through the same code", "[models][encoder]") {
    T2lFile f(converted("bert_encoder"));
    TextEncoder enc(f, "");
    CHECK(enc.config().arch == "bert");
    SafetensorsFile exp(t2l_test::fixture("bert_encoder/expected.safetensors"));
    const json::Value info = json::parse(read_file(t2l_test::fixture("bert_encoder/expected.json")), "bert");
    const Tokenizer tok = Tokenizer::from_t2l(f);
    for (const char* c : {"desc0", "desc1", "desc2", "cjk"}) {
        const std::string cs = c;
        const std::vector<int32_t> ids = ids_of(exp.find(cs + ".input_ids"));
        CHECK(tok.encode(add_full_stop(info.at("cases").at(cs).at("description").as_string())) == ids);
        const std::vector<float> emb = enc.task_embedding(ids), want = floats_of(exp.find(cs + ".task_emb"));
        Tensor h = enc.forward(ids);
        const std::vector<float> cls = floats_of(exp.find(cs + ".cls"));
        const double cls_err = max_abs_diff(h.f32(), cls.data(), cls.size()), emb_err = max_abs_diff(emb.data(), want.data(), want.size());
        std::printf("bert encoder %-5s %3zu tokens: CLS max abs error %.2e, task embedding %.2e\n", c, ids.size(), cls_err, emb_err);
        CHECK(cls_err < 1e-4);
        CHECK(emb_err < 1e-4);
    }
}

TEST_CASE("decoders: logits, hidden states and greedy continuations match transformers", "[models][decoder]") {
    for (const char* fam : {"llama", "mistral", "gemma"}) {
        const std::string family = fam;
        T2lFile f(converted(family + "/base"));
        Decoder model(f);
        SafetensorsFile exp(t2l_test::fixture(family + "/expected.safetensors"));
        const int64_t V = model.config().vocab;
        for (const char* c : {"chat", "plain", "long"}) {
            const std::string cs = c;
            if (!exp.find(cs + ".input_ids")) continue;
            const std::vector<int32_t> ids = ids_of(exp.find(cs + ".input_ids"));
            KVCache cache = model.new_cache((int64_t)ids.size());
            std::vector<Tensor> hidden;
            Tensor logits = model.forward(ids, cache, true, cs == "chat" ? &hidden : nullptr);
            const double err = logits_error(logits, exp, cs, V);
            const std::vector<int32_t> want = ids_of(exp.find(cs + ".greedy_ids"));
            const std::vector<int32_t> got = greedy(model, ids, (int)want.size());
            std::printf("%-7s %-5s %4zu tokens: max abs logit error %.2e, greedy %s\n", fam, c, ids.size(), err,
                        got == want ? "identical (16 tokens)" : "DIFFERS");
            CHECK(err < kLogitTol);
            CHECK(got == want);
            if (cs == "chat") {
                // hidden: embed, layer0..n-1 (our last entry is before the final norm).
                const size_t per = ids.size() * (size_t)model.config().hidden;
                double worst = 0;
                for (size_t l = 0; l + 1 < hidden.size() + 1 && l < hidden.size(); l++) {
                    const std::string name = l == 0 ? "chat.hidden.embed" : cat("chat.hidden.layer", l - 1);
                    const std::vector<float> w = floats_of(exp.find(name));
                    REQUIRE(w.size() == per);
                    const double e = max_abs_diff(hidden[l].f32(), w.data(), per);
                    // Relative to the magnitude: Gemma's residual stream grows large.
                    double mag = 0;
                    for (float v : w) mag = std::max(mag, (double)std::fabs(v));
                    worst = std::max(worst, e / std::max(1.0, mag));
                }
                std::printf("%-7s hidden states: max error relative to magnitude %.2e\n", fam, worst);
                CHECK(worst < 5e-5);
            }
        }
    }
}

TEST_CASE("T2L: every variant's adapter, and the base model with it, match the reference", "[models][t2l]") {
    struct Ckpt { const char* family; const char* name; };
    const Ckpt ckpts[] = {{"llama", "t2l_L"}, {"llama", "t2l_M"}, {"llama", "t2l_S"}, {"llama", "t2l_S_learnpos"},
                          {"llama", "t2l_autoreg"}, {"llama", "t2l_autoreg_learnpos"}, {"llama", "t2l_recon"},
                          {"llama", "t2l_recon_z"}, {"mistral", "t2l_L"}, {"gemma", "t2l_L"}};
    for (const Ckpt& c : ckpts) {
        const std::string dir = std::string(c.family) + "/" + c.name;
        T2lPipeline pipe(converted(dir, "gte_encoder"), "");
        T2lFile base_file(converted(std::string(c.family) + "/base"));
        Decoder model(base_file);
        SafetensorsFile exp(t2l_test::fixture(dir + "/expected.safetensors"));
        const json::Value info = json::parse(read_file(t2l_test::fixture(dir + "/expected.json")), dir);
        const std::vector<int32_t> prompt = ids_of(exp.find("chat.input_ids"));
        const int64_t V = model.config().vocab;
        std::vector<std::string> descriptions;
        std::vector<std::vector<float>> one_embs;
        std::vector<LoraAdapter> one_adapters;  // each description on its own, for the batch below
        for (const char* d : {"desc0", "desc1", "desc2"}) {
            const std::string ds = d;
            const json::Value& di = info.at("descriptions").at(ds);
            // Preprocessing and tokenization as the reference.
            CHECK(add_full_stop(di.at("description").as_string()) == di.at("formatted").as_string());
            const std::vector<int32_t> enc_ids = ids_of(exp.find(ds + ".encoder_input_ids"));
            CHECK(pipe.tokenize(di.at("formatted").as_string()) == enc_ids);
            const std::vector<float> emb = pipe.embed(enc_ids);
            const std::vector<float> want_emb = floats_of(exp.find(ds + ".task_emb"));
            const double emb_err = max_abs_diff(emb.data(), want_emb.data(), emb.size());
            LoraAdapter a = pipe.generate({emb})[0];
            // The adapter, tensor by tensor, against the reference's adapter_model.safetensors.
            SafetensorsFile gen(t2l_test::fixture(dir + "/generated/" + ds + "/adapter_model.safetensors"));
            REQUIRE(gen.tensors().size() == a.modules.size() * 2);
            double lora_err = 0, lora_mag = 0;
            for (const auto& m : a.modules)
                for (char which : {'A', 'B'}) {
                    const TensorView* t = gen.find(peft_key(m.layer, m.module, which));
                    REQUIRE(t);
                    const Tensor& mine = which == 'A' ? m.A : m.B;
                    REQUIRE(t->shape == mine.shape);
                    const std::vector<float> w = floats_of(t);
                    lora_err = std::max(lora_err, max_abs_diff(mine.f32(), w.data(), w.size()));
                    for (float v : w) lora_mag = std::max(lora_mag, (double)std::fabs(v));
                }
            // The base model with the adapter, unmerged then merged.
            model.set_adapter(&a, false);
            KVCache cache = model.new_cache((int64_t)prompt.size());
            Tensor logits = model.forward(prompt, cache, true);
            const double logit_err = logits_error(logits, exp, ds + ".chat", V);
            const std::vector<int32_t> want = ids_of(exp.find(ds + ".chat.greedy_ids"));
            const std::vector<int32_t> got = greedy(model, prompt, (int)want.size());
            model.set_adapter(&a, true);
            KVCache cache2 = model.new_cache((int64_t)prompt.size());
            Tensor merged = model.forward(prompt, cache2, true);
            const double merge_diff = max_abs_diff(merged.f32(), logits.f32(), (size_t)logits.numel());
            model.set_adapter(nullptr, false);
            std::printf("%-7s %-20s %s: task emb %.1e, LoRA max abs error %.1e (|max| %.2f), logits %.1e, merged vs unmerged %.1e, greedy %s\n",
                        c.family, c.name, d, emb_err, lora_err, lora_mag, logit_err, merge_diff, got == want ? "identical" : "DIFFERS");
            CHECK(emb_err < 1e-4);
            CHECK(lora_err < 1e-5 * std::max(1.0, lora_mag));
            CHECK(logit_err < kLogitTol);
            CHECK(merge_diff < kLogitTol);
            CHECK(got == want);
            descriptions.push_back(di.at("description").as_string());
            one_embs.push_back(emb);
            one_adapters.push_back(std::move(a));
        }
        // The three in one batch (describe: one hypernetwork pass, rows task-major): the same
        // embeddings and adapters as one at a time.
        const std::vector<DescribedAdapter> batch = pipe.describe(descriptions);
        REQUIRE(batch.size() == 3);
        double batch_diff = 0;
        for (size_t k = 0; k < 3; k++) {
            REQUIRE(batch[k].embedding.size() == one_embs[k].size());
            batch_diff = std::max(batch_diff, max_abs_diff(batch[k].embedding.data(), one_embs[k].data(), one_embs[k].size()));
            const LoraAdapter& b = batch[k].adapter;
            REQUIRE(b.modules.size() == one_adapters[k].modules.size());
            for (size_t j = 0; j < b.modules.size(); j++) {
                const LoraModule &x = b.modules[j], &y = one_adapters[k].modules[j];
                REQUIRE((x.layer == y.layer && x.module == y.module && x.A.shape == y.A.shape && x.B.shape == y.B.shape));
                batch_diff = std::max(batch_diff, max_abs_diff(x.A.f32(), y.A.f32(), (size_t)y.A.numel()));
                batch_diff = std::max(batch_diff, max_abs_diff(x.B.f32(), y.B.f32(), (size_t)y.B.numel()));
            }
        }
        std::printf("%-7s %-20s three descriptions in one batch vs one at a time: max abs difference %.1e\n", c.family, c.name, batch_diff);
        CHECK(batch_diff < 1e-6);
    }
}

TEST_CASE("bad adapters are refused with a clear message before any compute", "[models][lora]") {
    T2lFile f(converted("llama/base"));
    Decoder model(f);
    // An adapter made for another base (Gemma: q_proj has 128 outputs here, Llama's 64).
    LoraAdapter gemma = load_adapter(t2l_test::fixture("gemma/t2l_L/generated/desc0"));
    CHECK_THROWS_WITH(model.set_adapter(&gemma, false), Catch::Contains("do not fit the weight"));
    LoraAdapter a = load_adapter(t2l_test::fixture("llama/t2l_L/generated/desc0"));
    LoraAdapter deep = a;
    deep.modules[0].layer = 7;  // the model has 3 layers
    CHECK_THROWS_WITH(model.set_adapter(&deep, false), Catch::Contains("layer 7 does not exist in this 3-layer model"));
    LoraAdapter alien = a;
    alien.modules[0].module = "lm_head";
    CHECK_THROWS_WITH(model.set_adapter(&alien, true), Catch::Contains("module 'lm_head' is not a projection"));
    LoraAdapter odd = a;
    odd.modules[0].A = Tensor::zeros({8, 63});
    CHECK_THROWS_WITH(model.set_adapter(&odd, false), Catch::Contains("do not fit the weight"));
    // Rank in the config disagreeing with the tensors.
    ScratchDir dir;
    REQUIRE(std::system(("cp " + t2l_test::fixture("llama/t2l_L/generated/desc0/adapter_model.safetensors") + " " + dir.path).c_str()) == 0);
    t2l_test::write_bytes(dir.file("adapter_config.json"), R"({"r": 4, "lora_alpha": 16, "use_rslora": true})");
    CHECK_THROWS_WITH(load_adapter(dir.path), Catch::Contains("rank 8 does not match r = 4"));
    // A refused adapter leaves the model as it was: the base logits are unchanged.
    SafetensorsFile exp(t2l_test::fixture("llama/expected.safetensors"));
    const std::vector<int32_t> ids = ids_of(exp.find("chat.input_ids"));
    KVCache cache = model.new_cache((int64_t)ids.size());
    Tensor logits = model.forward(ids, cache, true);
    CHECK(logits_error(logits, exp, "chat", model.config().vocab) < kLogitTol);
}

TEST_CASE("t2l describe: PEFT, .t2l and GGUF outputs, bit-identical on repeated runs", "[models][cli]") {
    ScratchDir dir;
    const std::string t2l = converted("llama/t2l_L", "gte_encoder");
    const std::string desc = "\"Answer multiple-choice science questions\"";
    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", "describe " + desc + " --device cpu --t2l " + t2l + " -o " + dir.file("a") + " -q", &out) == 0);
    REQUIRE(t2l_test::run_binary("t2l", "describe " + desc + " --device cpu --t2l " + t2l + " -o " + dir.file("b") + " -q", &out) == 0);
    const std::string a = t2l_test::read_bytes(dir.file("a/adapter_model.safetensors"));
    CHECK(a.size() > 1000);
    CHECK(a == t2l_test::read_bytes(dir.file("b/adapter_model.safetensors")));
    CHECK(t2l_test::read_bytes(dir.file("a/adapter_config.json")) == t2l_test::read_bytes(dir.file("b/adapter_config.json")));
    // The description and embedding travel in the metadata.
    SafetensorsFile st(dir.file("a/adapter_model.safetensors"));
    CHECK(st.metadata().at("t2l.description").as_string() == "Answer multiple-choice science questions.");
    CHECK(json::parse(st.metadata().at("t2l.task_embedding").as_string(), "emb").array.size() == 64);
    // .t2l adapter: same tensors.
    REQUIRE(t2l_test::run_binary("t2l", "describe " + desc + " --device cpu --t2l " + t2l + " --format t2l -o " + dir.file("a.t2l") + " -q", &out) == 0);
    LoraAdapter from_t2l = load_adapter(dir.file("a.t2l")), from_peft = load_adapter(dir.file("a"));
    REQUIRE(from_t2l.modules.size() == from_peft.modules.size());
    for (size_t i = 0; i < from_t2l.modules.size(); i++)
        CHECK(std::memcmp(from_t2l.modules[i].B.data, from_peft.modules[i].B.data, from_peft.modules[i].B.nbytes()) == 0);
    // GGUF needs the base's architecture: from --base here (the fixture's model_dir is a local path).
    CHECK(t2l_test::run_binary("t2l", "describe x --t2l " + t2l + " --format gguf -o " + dir.file("a.gguf"), &out) == 1);
    CHECK_THAT(out, Catch::Contains("pass --base BASE.t2l"));
    REQUIRE(t2l_test::run_binary("t2l", "describe x --t2l " + t2l + " --format gguf --base " + converted("llama/base") + " -o " +
                                            dir.file("a.gguf") + " -q", &out) == 0);
    CHECK(t2l_test::path_exists(dir.file("a.gguf")));
    // Batch: one adapter per line, the same as one at a time.
    t2l_test::write_bytes(dir.file("descs.txt"), "Answer multiple-choice science questions\nTranslate English to French\n");
    REQUIRE(t2l_test::run_binary("t2l", "describe --device cpu --batch " + dir.file("descs.txt") + " --t2l " + t2l + " -o " + dir.file("batch") + " -q", &out) == 0);
    CHECK(t2l_test::read_bytes(dir.file("batch/0000/adapter_model.safetensors")) == a);
    CHECK(t2l_test::path_exists(dir.file("batch/0001/adapter_config.json")));
    // Errors: one line, no output.
    CHECK(t2l_test::run_binary("t2l", "describe x --t2l " + dir.file("missing.t2l") + " -o " + dir.file("c"), &out) == 1);
    CHECK(out == "t2l: error: " + dir.file("missing.t2l") + ": cannot open: No such file or directory\n");
    CHECK(!t2l_test::path_exists(dir.file("c")));
}

TEST_CASE("t2l run generates with a described adapter and reports speed", "[models][cli]") {
    std::string out;
    const std::string base = converted("llama/base"), t2l = converted("llama/t2l_L", "gte_encoder");
    REQUIRE(t2l_test::run_binary("t2l", "run -m " + base + " --describe 'solve math problems' --t2l " + t2l +
                                            " --chat -p 'What is 2+2?' -n 8", &out) == 0);
    CHECK_THAT(out, Catch::Contains("adapter generated in"));
    CHECK_THAT(out, Catch::Contains("tok/s"));
    // Greedy generation through the CLI equals the oracle's continuation of the same prompt.
    SafetensorsFile exp(t2l_test::fixture("llama/expected.safetensors"));
    const std::vector<int32_t> ids = ids_of(exp.find("plain.input_ids"));
    T2lFile f(base);
    Decoder model(f);
    CHECK(greedy(model, ids, 16) == ids_of(exp.find("plain.greedy_ids")));
}

// ---------------------------------------------------------------------------------------------
// The same models on the GPU: weights in their stored dtype, f32 activations; prompts go through
// bf16 tensor-core GEMMs with x split into two bf16 halves (set here; the default rounds x once),
// so the tolerances are a little wider than the CPU path's.

TEST_CASE("CUDA: encoder, hypernetwork and decoders against the oracle", "[cuda][models]") {
    const GpuInfo& g = gpu_info();
    if (!g.available) T2L_SKIP(g.reason);
    // The engine's arithmetic against the f32 oracle: prompt GEMMs with x in two bf16 halves.
    cuda::set_gemm_split(true);
    struct Restore { ~Restore() { cuda::set_gemm_split(false); } } restore;
    {
        T2lFile f(converted("gte_encoder"));
        TextEncoder enc(f, "", Device::CUDA);
        SafetensorsFile exp(t2l_test::fixture("gte_encoder/expected.safetensors"));
        for (const char* c : {"desc0", "cjk", "long", "truncated"}) {
            const std::string cs = c;
            const std::vector<int32_t> ids = ids_of(exp.find(cs + ".input_ids"));
            const std::vector<float> emb = enc.task_embedding(ids), want = floats_of(exp.find(cs + ".task_emb"));
            const double err = max_abs_diff(emb.data(), want.data(), want.size());
            std::printf("cuda encoder %-9s %5zu tokens: task embedding max abs error %.2e\n", c, ids.size(), err);
            CHECK(err < 1e-4);     // measured: 3.6e-6 (f32 weights, f32 GEMMs)
        }
    }
    for (const char* fam : {"llama", "mistral", "gemma"}) {
        const std::string family = fam;
        T2lFile f(converted(family + "/base"));
        Decoder model(f, Device::CUDA);
        SafetensorsFile exp(t2l_test::fixture(family + "/expected.safetensors"));
        const int64_t V = model.config().vocab;
        for (const char* c : {"chat", "plain"}) {
            const std::string cs = c;
            const std::vector<int32_t> ids = ids_of(exp.find(cs + ".input_ids"));
            // The engine's arithmetic against the f32 oracle: an f32 KV cache (bf16 models on CUDA
            // default to a bf16 cache, as HF keeps it in the model's dtype: reported below).
            KVCache cache = model.new_cache((int64_t)ids.size() + 16, false);
            Tensor logits = model.forward(ids, cache, true);
            const double err = logits_error(logits, exp, cs, V);
            // Decode path (n = 1 per step, GEMV, the recorded graph): continue greedily.
            const std::vector<int32_t> want = ids_of(exp.find(cs + ".greedy_ids"));
            const std::vector<int32_t> got = greedy(model, ids, (int)want.size(), false);
            size_t same = 0;
            while (same < want.size() && got[same] == want[same]) same++;
            KVCache narrow = model.new_cache((int64_t)ids.size() + 16);
            const double err_narrow = logits_error(model.forward(ids, narrow, true), exp, cs, V);
            std::printf("cuda %-7s %-5s: max abs logit error %.2e, greedy agrees for %zu of %zu tokens; with the %s KV cache %.2e\n",
                        fam, c, err, same, want.size(), dtype_name(narrow.k[0].dtype), err_narrow);
            CHECK(err < 2e-2);     // measured on an H200: 2.2e-5 (f32 Mistral) to 4.5e-3 (bf16 Gemma, logits ~16)
            CHECK(same >= 12);     // measured: 16 of 16 for every case
        }
    }
    {
        T2lPipeline pipe(converted("llama/t2l_M", "gte_encoder"), "", Device::CUDA);
        SafetensorsFile exp(t2l_test::fixture("llama/t2l_M/expected.safetensors"));
        SafetensorsFile gen(t2l_test::fixture("llama/t2l_M/generated/desc0/adapter_model.safetensors"));
        LoraAdapter a = pipe.generate({floats_of(exp.find("desc0.task_emb"))})[0];
        double err = 0;
        for (const auto& m : a.modules)
            for (char which : {'A', 'B'}) {
                const std::vector<float> w = floats_of(gen.find(peft_key(m.layer, m.module, which)));
                err = std::max(err, max_abs_diff((which == 'A' ? m.A : m.B).f32(), w.data(), w.size()));
            }
        std::printf("cuda hypernetwork (M variant): LoRA max abs error %.2e\n", err);
        CHECK(err < 1e-4);
    }
}
