// test_sentence_encoder.cpp — sentence-transformers encoders: t2l-convert reads modules.json,
// 1_Pooling/config.json and sentence_bert_config.json into "sentence.config", the encoder pools
// and normalises as it says, and `t2l embed` prints that embedding (the task embedding with
// --mode task). The model is the random-weight BERT fixture; tests/test_real_weights.cpp checks
// the real all-MiniLM-L6-v2 against transformers.
#include <algorithm>
#include <cmath>
#include <sys/stat.h>

#include "common.h"
#include "convert/convert.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "models/encoder.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {

// The BERT fixture as a sentence-transformers folder: `pooling` holds the pooling_mode_* keys
// set to true; `modules` is modules.json ("" for none).
std::string make_folder(const ScratchDir& dir, const std::string& name, const std::vector<std::string>& pooling,
                        const std::string& modules, const std::string& sbert = "{\"max_seq_length\": 8, \"do_lower_case\": false}") {
    const std::string d = dir.file(name);
    REQUIRE(mkdir(d.c_str(), 0755) == 0);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json", "vocab.txt"})
        t2l_test::write_bytes(d + "/" + f, t2l_test::read_bytes(t2l_test::fixture(std::string("bert_encoder/") + f)));
    if (!modules.empty()) t2l_test::write_bytes(d + "/modules.json", modules);
    REQUIRE(mkdir((d + "/1_Pooling").c_str(), 0755) == 0);
    std::string pc = "{\"word_embedding_dimension\": 64";
    for (const char* m : {"cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"}) {
        const bool on = std::find(pooling.begin(), pooling.end(), m) != pooling.end();
        pc += cat(", \"pooling_mode_", m, "\": ", on ? "true" : "false");
    }
    t2l_test::write_bytes(d + "/1_Pooling/config.json", pc + "}");
    if (!sbert.empty()) t2l_test::write_bytes(d + "/sentence_bert_config.json", sbert);
    return d;
}

const char* kModules =
    R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";

ConvertReport convert(const std::string& src, const std::string& out) {
    ConvertOptions o;
    o.src = src;
    o.out = out;
    o.quiet = true;
    return convert_checkpoint(o);
}

bool has_note(const ConvertReport& r, const std::string& part) {
    for (const auto& n : r.notes)
        if (n.find(part) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("t2l-convert records a sentence-transformers pooling as sentence.config", "[convert][encoder]") {
    ScratchDir dir;
    const ConvertReport r = convert(make_folder(dir, "mean", {"mean_tokens"}, kModules), dir.file("mean.t2l"));
    CHECK(r.kind == "encoder");
    CHECK(has_note(r, "mean pooling, L2-normalised, at most 8 tokens"));
    T2lFile f(dir.file("mean.t2l"));
    SentenceConfig sc;
    REQUIRE(SentenceConfig::from_file(f, "", &sc));
    CHECK(sc.pooling == "mean");
    CHECK(sc.normalize);
    CHECK(sc.max_length == 8);

    // CLS without Normalize, and max.
    const std::string no_norm = R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                                    {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])";
    convert(make_folder(dir, "cls", {"cls_token"}, no_norm, ""), dir.file("cls.t2l"));
    T2lFile fc(dir.file("cls.t2l"));
    REQUIRE(SentenceConfig::from_file(fc, "", &sc));
    CHECK(sc.pooling == "cls");
    CHECK_FALSE(sc.normalize);
    CHECK(sc.max_length == 0);
    convert(make_folder(dir, "max", {"max_tokens"}, kModules), dir.file("max.t2l"));
    T2lFile fm(dir.file("max.t2l"));
    REQUIRE(SentenceConfig::from_file(fm, "", &sc));
    CHECK(sc.pooling == "max");

    // What the engine does not reproduce converts without sentence.config, with a note.
    const ConvertReport two = convert(make_folder(dir, "two", {"cls_token", "mean_tokens"}, kModules), dir.file("two.t2l"));
    CHECK(has_note(two, "cls_token+mean_tokens"));
    CHECK_FALSE(SentenceConfig::from_file(T2lFile(dir.file("two.t2l")), "", &sc));
    const std::string dense = R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                                  {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                                  {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}])";
    const ConvertReport d = convert(make_folder(dir, "dense", {"mean_tokens"}, dense), dir.file("dense.t2l"));
    CHECK(has_note(d, "sentence_transformers.models.Dense"));
    CHECK_FALSE(SentenceConfig::from_file(T2lFile(dir.file("dense.t2l")), "", &sc));
    // No modules.json: a plain encoder, no note.
    const ConvertReport plain = convert(make_folder(dir, "plain", {"mean_tokens"}, ""), dir.file("plain.t2l"));
    CHECK(plain.notes.empty());
    CHECK_FALSE(SentenceConfig::from_file(T2lFile(dir.file("plain.t2l")), "", &sc));
    // A pooling folder modules.json names but that is missing is an error.
    const std::string gone = make_folder(dir, "gone", {"mean_tokens"}, kModules);
    REQUIRE(std::remove((gone + "/1_Pooling/config.json").c_str()) == 0);
    CHECK_THROWS_AS(convert(gone, dir.file("gone.t2l")), Error);
}

TEST_CASE("sentence embeddings pool the encoder's final states as sentence.config says", "[models][encoder]") {
    ScratchDir dir;
    convert(make_folder(dir, "mean", {"mean_tokens"}, kModules), dir.file("mean.t2l"));
    T2lFile f(dir.file("mean.t2l"));
    const TextEncoder enc(f, "");
    const std::vector<int32_t> ids = Tokenizer::from_t2l(f).encode("a small test");
    REQUIRE(ids.size() >= 3);
    const Tensor h = enc.forward(ids);
    const int64_t n = (int64_t)ids.size(), H = enc.config().hidden;
    for (const char* pooling : {"cls", "mean", "max"})
        for (bool normalize : {false, true}) {
            SentenceConfig sc;
            sc.pooling = pooling;
            sc.normalize = normalize;
            std::vector<double> want((size_t)H);
            for (int64_t j = 0; j < H; j++) {
                double v = h.f32()[j];
                for (int64_t i = 1; i < n; i++) {
                    const double x = h.f32()[i * H + j];
                    if (sc.pooling == "mean") v += x;
                    if (sc.pooling == "max") v = std::max(v, x);
                }
                want[(size_t)j] = sc.pooling == "mean" ? v / (double)n : v;
            }
            double norm = 0;
            for (double v : want) norm += v * v;
            norm = std::sqrt(norm);
            const std::vector<float> got = enc.sentence_embedding(ids, sc);
            REQUIRE(got.size() == (size_t)H);
            double err = 0, got_norm = 0;
            for (int64_t j = 0; j < H; j++) {
                err = std::max(err, std::fabs(got[(size_t)j] - (normalize ? want[(size_t)j] / norm : want[(size_t)j])));
                got_norm += (double)got[(size_t)j] * got[(size_t)j];
            }
            INFO(pooling << (normalize ? " normalised" : ""));
            CHECK(err < 1e-6);
            if (normalize) CHECK(std::fabs(std::sqrt(got_norm) - 1.0) < 1e-6);
        }
    // The T2L task embedding is the same encoder's CLS, normalised and scaled by sqrt(hidden).
    SentenceConfig cls_norm;
    cls_norm.pooling = "cls";
    cls_norm.normalize = true;
    const std::vector<float> s = enc.sentence_embedding(ids, cls_norm), t = enc.task_embedding(ids);
    double err = 0;
    for (int64_t j = 0; j < H; j++) err = std::max(err, (double)std::fabs(s[(size_t)j] * std::sqrt((float)H) - t[(size_t)j]));
    CHECK(err < 1e-5);
}

TEST_CASE("t2l embed: sentence embedding by default for a sentence encoder, --mode task on request", "[cli][encoder]") {
    ScratchDir dir;
    convert(make_folder(dir, "mean", {"mean_tokens"}, kModules), dir.file("mean.t2l"));
    const std::string enc = dir.file("mean.t2l");
    std::string out;
    // sentence: the text as given, cut to max_seq_length 8 ([CLS] ... [SEP]).
    REQUIRE(t2l_test::run_binary("t2l", cat("embed --encoder ", enc, " --json --device cpu 'one two three four five six seven eight nine'"), &out) == 0);
    json::Value j = json::parse(out, "embed");
    CHECK(j.at("mode").as_string() == "sentence");
    CHECK(j.at("text").as_string() == "one two three four five six seven eight nine");
    CHECK(j.at("ids").array.size() == 8);
    double norm = 0;
    for (const json::Value& v : j.at("embedding").array) norm += v.as_double() * v.as_double();
    CHECK(std::fabs(std::sqrt(norm) - 1.0) < 1e-5);
    // task: a full stop added, the CLS state, norm sqrt(64) = 8.
    REQUIRE(t2l_test::run_binary("t2l", cat("embed --encoder ", enc, " --json --device cpu --mode task 'a small test'"), &out) == 0);
    j = json::parse(out, "embed --mode task");
    CHECK(j.at("mode").as_string() == "task");
    CHECK(j.at("text").as_string() == "a small test.");
    norm = 0;
    for (const json::Value& v : j.at("embedding").array) norm += v.as_double() * v.as_double();
    CHECK(std::fabs(std::sqrt(norm) - 8.0) < 1e-4);
    // --mode sentence on an encoder without sentence.config, and a bad mode: one line, non-zero.
    convert(make_folder(dir, "plain", {"mean_tokens"}, ""), dir.file("plain.t2l"));
    CHECK(t2l_test::run_binary("t2l", cat("embed --encoder ", dir.file("plain.t2l"), " --mode sentence hello"), &out) != 0);
    CHECK(out.find("records no sentence embedding") != std::string::npos);
    REQUIRE(t2l_test::run_binary("t2l", cat("embed --encoder ", dir.file("plain.t2l"), " --json --device cpu hello"), &out) == 0);
    CHECK(json::parse(out, "embed plain").at("mode").as_string() == "task");
    CHECK(t2l_test::run_binary("t2l", cat("embed --encoder ", enc, " --mode other hello"), &out) != 0);
    CHECK(out.find("--mode must be auto, task or sentence") != std::string::npos);
}
