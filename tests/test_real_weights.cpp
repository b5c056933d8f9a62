// test_real_weights.cpp — real models end to end: SmolLM2-135M-Instruct from its PyPI GGUF
// (`make weights` puts it at weights/smollm2.t2l), Gemma 3 270M, and the sentence encoder
// all-MiniLM-L6-v2 (weights/all-minilm-l6-v2.t2l). Each is skipped, with the reason, when absent.
//
// Expected values come from transformers 5.24 loading the same GGUF itself
// (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...), f32, its own dequantisation and
// q/k un-permutation) and from its tokenizer, on this machine: prompt ids, greedy
// continuations, and the last position's top logits. The .t2l holds bf16 weights by default, so
// the logits are compared within a bf16 bound; with --dtype f32 they agree to 4.7e-5.
#include <algorithm>
#include <cmath>

#include "common.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "models/decoder.h"
#include "models/encoder.h"
#include "models/sampler.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace t2l;

namespace {
const char* kModel = "weights/smollm2.t2l";

std::vector<int32_t> greedy_until_eos(const Decoder& model, const std::vector<int32_t>& prompt, int max_new) {
    KVCache cache = model.new_cache((int64_t)prompt.size() + max_new);
    Tensor logits = model.forward(prompt, cache);
    std::vector<int32_t> out;
    const auto& eos = model.config().eos_ids;
    for (int i = 0; i < max_new; i++) {
        const int32_t next = argmax(logits.f32(), model.config().vocab);
        out.push_back(next);
        if (std::find(eos.begin(), eos.end(), next) != eos.end() || i + 1 == max_new) break;
        logits = model.forward({next}, cache);
    }
    return out;
}
}  // namespace

TEST_CASE("SmolLM2-135M-Instruct from GGUF: tokens, logits and greedy answers match transformers", "[real]") {
    if (!t2l_test::path_exists(kModel)) T2L_SKIP(std::string(kModel) + " is not there (make weights fetches and converts it)");
    T2lFile f(kModel);
    Decoder model(f);
    const Tokenizer tok = Tokenizer::from_t2l(f);

    // A plain prompt: no BOS for this tokenizer.
    const std::vector<int32_t> prompt = tok.encode("The capital of France is");
    CHECK(prompt == std::vector<int32_t>{504, 3575, 282, 4649, 314});

    // The last position's five best logits (transformers, f32 dequantised weights).
    KVCache cache = model.new_cache(8);
    Tensor logits = model.forward(prompt, cache);
    const int32_t want_ids[5] = {7042, 260, 4528, 2250, 1315};
    const float want_val[5] = {17.3713f, 14.8886f, 13.2450f, 13.0095f, 12.9515f};
    const bool bf16 = f.find("model.layers.0.self_attn.q_proj.weight")->dtype == DType::BF16;
    const double tol = bf16 ? 0.15 : 1e-3;  // bf16 rounding of the weights moves logits by up to ~0.11 here
    double err = 0;
    for (int i = 0; i < 5; i++) err = std::max(err, (double)std::fabs(logits.f32()[want_ids[i]] - want_val[i]));
    std::printf("  top-5 logits vs transformers: max |diff| %.3g (%s weights, bound %.3g)\n", err, bf16 ? "bf16" : "f32", tol);
    CHECK(err < tol);
    CHECK(argmax(logits.f32(), model.config().vocab) == 7042);  // " Paris"

    // Greedy continuation of the plain prompt.
    const std::vector<int32_t> cont = greedy_until_eos(model, prompt, 12);
    CHECK(cont == std::vector<int32_t>{7042, 30, 198, 198, 504, 2988, 314, 42, 216, 34, 32, 33});
    std::printf("  \"The capital of France is\" -> %s\n", tok.decode(cont).c_str());
    CHECK(tok.decode(cont) == " Paris.\n\nThe answer is: 201");

    // The chat template's rendering (ChatML with SmolLM's default system turn), then the answer.
    const std::string chat =
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    const std::vector<int32_t> chat_ids = tok.encode(chat);
    CHECK(chat_ids == std::vector<int32_t>{1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519,
                                           28, 7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 1780, 314, 260,
                                           3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198});
    const std::vector<int32_t> answer = greedy_until_eos(model, chat_ids, 40);
    CHECK(answer == std::vector<int32_t>{504, 3575, 282, 4649, 314, 7042, 30, 2});
    std::printf("  chat: What is the capital of France? -> %s\n", tok.decode(answer, true).c_str());
    CHECK(tok.decode(answer, true) == "The capital of France is Paris.");
}

TEST_CASE("Gemma 3 270M from GGUF: the greedy continuation transformers gives", "[real]") {
    const char* path = "weights/gemma3-270m.t2l";
    if (!t2l_test::path_exists(path)) T2L_SKIP(std::string(path) + " is not there (make weights WEIGHTS_MODELS=\"smollm2 gemma3-270m\")");
    T2lFile f(path);
    Decoder model(f, Device::CPU);
    CHECK(model.config().qk_norm);
    const Tokenizer tok = Tokenizer::from_t2l(f);
    const std::vector<int32_t> prompt = tok.encode("The capital of France is");
    const std::vector<int32_t> got = greedy_until_eos(model, prompt, 16);
    const std::string text = tok.decode(got, true);
    std::printf("gemma3-270m: \"The capital of France is%s\"\n", text.c_str());
    // transformers (its own GGUF loading, f32) continues with exactly this.
    CHECK(text == " the capital of the country of France. It is the largest city in France and");
}

// all-MiniLM-L6-v2's sentence embeddings (mean pooling, L2-normalised), against transformers
// 5.24 (AutoModel, f32, CPU, one sentence at a time) with the pooling and normalisation of the
// model's sentence-transformers files: tools/reference/check_sentence_encoder.py, whose first
// six default sentences these are (t2l vs transformers there: max |diff| 1.2e-7 over 18).
TEST_CASE("all-MiniLM-L6-v2: sentence embeddings match transformers", "[real]") {
    const char* path = "weights/all-minilm-l6-v2.t2l";
    if (!t2l_test::path_exists(path)) T2L_SKIP(std::string(path) + " is not there (make weights WEIGHTS_MODELS=all-minilm-l6-v2)");
    T2lFile f(path);
    SentenceConfig sc;
    REQUIRE(SentenceConfig::from_file(f, "", &sc));
    CHECK(sc.pooling == "mean");
    CHECK(sc.normalize);
    CHECK(sc.max_length == 256);
    const TextEncoder enc(f, "", Device::CPU);
    CHECK(enc.config().arch == "bert");
    CHECK(enc.config().hidden == 384);
    const Tokenizer tok = Tokenizer::from_t2l(f);
    EncodeOptions opt;
    opt.max_length = 256;

    struct Want {
        const char* text;
        std::vector<int32_t> ids;
        float first[8];
        double sum;  // of all 384 components
    };
    const Want want[6] = {
        {"A man is playing a guitar.", {101, 1037, 2158, 2003, 2652, 1037, 2858, 1012, 102},
         {0.0216641f, -0.0048642f, -0.0096491f, -0.0634012f, -0.1674935f, 0.0046764f, 0.0805998f, -0.0241421f}, 0.0402640},
        {"Someone is playing an instrument.", {101, 2619, 2003, 2652, 2019, 6602, 1012, 102},
         {0.0314371f, 0.0088075f, 0.0025053f, -0.0947114f, -0.1935103f, 0.0560570f, 0.1096075f, 0.0461144f}, -0.0263970},
        {"The cat sits on the mat.", {101, 1996, 4937, 7719, 2006, 1996, 13523, 1012, 102},
         {0.1341771f, -0.0329003f, -0.0248037f, 0.0414390f, -0.0363476f, 0.0418142f, 0.0312167f, 0.0372016f}, 0.0875496},
        {"A kitten is lying on a rug.", {101, 1037, 18401, 2003, 4688, 2006, 1037, 20452, 1012, 102},
         {0.0278125f, 0.0230605f, 0.0099230f, 0.0506099f, -0.0300198f, 0.0226926f, -0.0299595f, 0.0019183f}, 0.0992940},
        {"The stock market fell sharply today.", {101, 1996, 4518, 3006, 3062, 9249, 2651, 1012, 102},
         {0.0604550f, 0.0054453f, 0.0765658f, 0.0538295f, -0.0147930f, -0.0060963f, -0.0293773f, 0.0537153f}, 0.2173957},
        {"Quantum computers use qubits.", {101, 8559, 7588, 2224, 24209, 16313, 2015, 1012, 102},
         {-0.0208473f, 0.0215709f, -0.0821393f, 0.0068258f, -0.1443636f, -0.0354266f, -0.0254676f, -0.0476964f}, 0.0939788},
    };
    std::vector<std::vector<float>> embs;
    double err = 0;
    for (const Want& w : want) {
        const std::vector<int32_t> ids = tok.encode(w.text, opt);
        CHECK(ids == w.ids);
        const std::vector<float> e = enc.sentence_embedding(ids, sc);
        REQUIRE(e.size() == 384);
        double norm = 0, sum = 0;
        for (float v : e) norm += (double)v * v, sum += v;
        CHECK(std::fabs(std::sqrt(norm) - 1.0) < 1e-6);
        for (int i = 0; i < 8; i++) err = std::max(err, (double)std::fabs(e[(size_t)i] - w.first[i]));
        err = std::max(err, std::fabs(sum - w.sum));
        embs.push_back(e);
    }
    std::printf("  all-MiniLM-L6-v2: max |diff| vs transformers (first 8 components and sums of 6 sentences) %.2g\n", err);
    CHECK(err < 1e-5);  // the recorded values have 7 decimals; the engine agrees to ~1e-7

    // Cosine similarities (transformers): the paraphrases are close, the rest are not.
    auto cos = [&](int a, int b) {
        double s = 0;
        for (size_t i = 0; i < 384; i++) s += (double)embs[(size_t)a][i] * embs[(size_t)b][i];
        return s;
    };
    CHECK(std::fabs(cos(0, 1) - 0.675212) < 1e-5);  // guitar ~ instrument
    CHECK(std::fabs(cos(2, 3) - 0.558664) < 1e-5);  // cat on the mat ~ kitten on a rug
    CHECK(std::fabs(cos(0, 4) - -0.054027) < 1e-5);
    CHECK(std::fabs(cos(2, 5) - -0.020788) < 1e-5);
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            if (a == b || (a / 2 == b / 2 && a < 4)) continue;
            CHECK(cos(0, 1) > cos(a, b) + 0.3);  // every unrelated pair is far below each paraphrase pair
            CHECK(cos(2, 3) > cos(a, b) + 0.3);
        }

    // Longer than max_seq_length: 256 ids, [CLS] ... [SEP], as sentence-transformers truncates.
    std::string long_text;
    for (int i = 0; i < 40; i++) long_text += i ? " The quick brown fox jumps over the lazy dog." : "The quick brown fox jumps over the lazy dog.";
    const std::vector<int32_t> long_ids = tok.encode(long_text, opt);
    CHECK(long_ids.size() == 256);
    CHECK(long_ids.front() == 101);
    CHECK(long_ids.back() == 102);

    // The command line: `t2l embed` prints the sentence embedding by default, the T2L task
    // embedding (CLS, scaled to norm sqrt(384)) with --mode task.
    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", cat("embed --encoder ", path, " --json --device cpu 'A man is playing a guitar.'"), &out) == 0);
    const json::Value j = json::parse(out, "t2l embed --json");
    CHECK(j.at("mode").as_string() == "sentence");
    CHECK(j.at("text").as_string() == "A man is playing a guitar.");
    REQUIRE(j.at("embedding").array.size() == 384);
    double cli_err = 0;
    for (size_t i = 0; i < 384; i++) cli_err = std::max(cli_err, std::fabs(j.at("embedding").array[i].as_double() - embs[0][i]));
    CHECK(cli_err < 1e-6);
    REQUIRE(t2l_test::run_binary("t2l", cat("embed --encoder ", path, " --json --device cpu --mode task 'A man is playing a guitar.'"), &out) == 0);
    const json::Value jt = json::parse(out, "t2l embed --json --mode task");
    CHECK(jt.at("mode").as_string() == "task");
    double tn = 0;
    for (const json::Value& v : jt.at("embedding").array) tn += v.as_double() * v.as_double();
    CHECK(std::fabs(std::sqrt(tn) - std::sqrt(384.0)) < 1e-3);
}
