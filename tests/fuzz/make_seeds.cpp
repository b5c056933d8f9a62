// make_seeds.cpp — writes the seed corpora tests/fuzz/corpus/<harness>/ from tests/fixtures
// (`make fuzz-seeds`; run from the repository root). The seeds are committed; this program
// says where each came from and remakes them after a format change.
//
// Small on purpose: a harness runs fastest on small inputs, and libFuzzer's default input
// size limit follows the largest seed. Big fixtures are shrunk rather than copied: tokenizers
// keep the first few hundred tokens, checkpoints a couple of tiny tensors.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "convert/gguf_import.h"
#include "format/t2l_file.h"
#include "io/gguf.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/zip.h"
#include "tokenizer/tokenizer.h"

using namespace t2l;

namespace {

const std::string kFix = "tests/fixtures/";
const std::string kOut = "tests/fuzz/corpus/";
std::string g_tmp;  // scratch file for the writers that only write to paths

void put(const std::string& harness, const std::string& name, const std::string& bytes) {
    make_dirs(kOut + harness);
    FILE* f = std::fopen((kOut + harness + "/" + name).c_str(), "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0)
        fail(kOut, harness, "/", name, ": cannot write");
}
void copy(const std::string& harness, const std::string& fixture, const std::string& prefix = "") {
    put(harness, base_name(fixture), prefix + read_file(kFix + fixture));
}

// A fixture tokenizer with its model vocabulary cut to ids < keep (merges that need a dropped
// token go too); added tokens stay, so the special-token paths are still there.
std::string shrink_tokenizer(const std::string& dir, int64_t keep) {
    json::Value t = json::parse(read_file(kFix + dir + "/tokenizer.json"), dir);
    json::Value& model = *t.find("model");
    json::Value vocab = json::Value::new_object();
    std::set<std::string> kept;
    for (const auto& kv : model.at("vocab").object)
        if (kv.second.as_int() < keep) vocab.set(kv.first, kv.second), kept.insert(kv.first);
    model.set("vocab", vocab);
    if (json::Value* merges = model.find("merges")) {
        json::Value out = json::Value::new_array();
        for (const json::Value& m : merges->array) {
            std::string a, b;
            if (m.is_string()) {
                const size_t sp = m.string.find(' ');
                a = m.string.substr(0, sp), b = m.string.substr(sp + 1);
            } else {
                a = m.array[0].string, b = m.array[1].string;
            }
            if (kept.count(a) && kept.count(b) && kept.count(a + b)) out.push(m);
        }
        model.set("merges", out);
    }
    const std::string text = json::dump(t);
    Tokenizer::from_json(text, "", dir);  // the seed must load
    return text;
}

std::string config_of(const std::string& dir) { return read_file(kFix + dir + "/tokenizer_config.json"); }

std::string safetensors_bytes(const std::vector<TensorView>& ts, const json::Value& meta) {
    write_safetensors(g_tmp, ts, meta);
    return read_file(g_tmp);
}

TensorView view(const char* name, DType dt, std::vector<int64_t> shape, const void* data, uint64_t nbytes) {
    TensorView v;
    v.name = name, v.dtype = dt, v.shape = std::move(shape), v.data = (const uint8_t*)data, v.nbytes = nbytes;
    return v;
}

void seeds_text() {
    for (const char* f : {"io/args.json", "io/subset.json", "io/state_dict.json", "llama/base/config.json",
                          "gte_encoder/config.json", "llama/t2l_L/adapter_config.json", "gte_encoder/tokenizer_config.json"})
        put("json", std::string(f).substr(0, std::string(f).find('/')) + "_" + base_name(f), read_file(kFix + f));
    put("json", "edges.json", "{\"a\":[1,-2.5e-3,1e400,true,false,null,\"\\u00e9\\ud83d\\ude00\\n\"],\"b\":{},\"c\":[[[]]]}");
    for (const char* f : {"io/args.yaml", "io/subset.yaml"}) put("yaml", base_name(f), read_file(kFix + f));
    put("yaml", "t2l_L_args.yaml", read_file(kFix + "llama/t2l_L/args.yaml"));
    put("yaml", "edges.yaml",
        "---\n# comment\na: yes\nb: 0777\nc: 1_000\nd: .inf\ne: 1.0e-4\nf: 1e-4\ng: [x, 'y', [\"z\"]]\nh: {}\n"
        "i:\n- 1\n- k: v\n  l: w\nj:\n  deep:\n    deeper: 'it''s'\nm: \"tab\\there\"\nn: plain\n  folded\n");
}

void seeds_safetensors() {
    const float f[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    const uint16_t h[4] = {0x3f80, 0xbf80, 0x0000, 0x7f80};
    const int64_t l[2] = {-1, 1 << 20};
    const uint8_t b[3] = {1, 0, 1};
    json::Value meta = json::Value::new_object();
    meta.set("format", json::Value::from_string("pt"));
    meta.set("t2l.description", json::Value::from_string("Answer science questions"));
    put("safetensors", "two_f32", std::string(1, '\0') +
        safetensors_bytes({view("a.weight", DType::F32, {2, 3}, f, 24), view("b", DType::F32, {}, f, 4)}, meta));
    put("safetensors", "dtypes", std::string(1, '\0') +
        safetensors_bytes({view("bf", DType::BF16, {4}, h, 8), view("i64", DType::I64, {2, 1}, l, 16),
                           view("flag", DType::BOOL, {3}, b, 3), view("empty", DType::F16, {0, 3}, f, 0)},
                          json::Value::new_object()));
    put("safetensors", "index_two", "\x01{\"metadata\":{\"total_size\":20},\"weight_map\":{\"w1\":\"a.safetensors\",\"w2\":\"b.safetensors\"}}");
    put("safetensors", "index_one", "\x01{\"weight_map\":{\"w2\":\"b.safetensors\"}}");
}

void seeds_torch() {
    for (const char* f : {"state_dict.pt", "nested.pt", "strided.pt", "bad_copies.pt", "bad_cycle.pt", "bad_repeat.pt",
                          "bad_storage_small.pt", "evil_global.pt", "bad_byteorder.pt"})
        copy("torch", std::string("io/") + f);
    for (const char* f : {"plain.zip", "zip64.zip", "dup.zip", "compressed.zip", "bad_crc.zip", "strided.pt"})
        copy("zip", std::string("io/") + f);
    for (const char* f : {"values_p2.pkl", "values_p5.pkl", "evil_eval.pkl", "evil_global.pkl"})
        if (file_exists(kFix + "io/" + f)) copy("pickle", std::string("io/") + f);
    // The pickles inside the torch archives: state dicts, nesting, strided views.
    for (const char* f : {"state_dict.pt", "nested.pt", "strided.pt", "bad_cycle.pt"}) {
        ZipArchive zip(kFix + "io/" + f);
        for (const ZipEntry& e : zip.entries())
            if (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0)
                put("pickle", std::string(f) + ".pkl", std::string((const char*)e.data, (size_t)e.size));
    }
}

// GGUF tokenizers: the fixture BPE and SentencePiece vocabularies, shrunk, as llama.cpp keys.
std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer(const std::string& dir, bool spm, int64_t keep) {
    const json::Value t = json::parse(shrink_tokenizer(dir, keep), dir);
    std::vector<std::string> tokens((size_t)keep);
    for (const auto& kv : t.at("model").at("vocab").object) tokens[(size_t)kv.second.as_int()] = kv.first;
    GgufValue toks, types, scores, merges;
    toks.type = types.type = scores.type = merges.type = GgufType::ARRAY;
    toks.elem = merges.elem = GgufType::STRING, types.elem = GgufType::I32, scores.elem = GgufType::F32;
    for (size_t i = 0; i < tokens.size(); i++) {
        toks.arr.push_back(GgufValue::str(tokens[i]));
        GgufValue ty;
        ty.type = GgufType::I32;
        ty.i = i < 3 ? 3 : (spm && tokens[i].size() == 6 && tokens[i].compare(0, 3, "<0x") == 0) ? 6 : 1;
        types.arr.push_back(ty);
        scores.arr.push_back(GgufValue::f32(-(float)i));
    }
    for (const json::Value& m : t.at("model").at("merges").array)
        merges.arr.push_back(GgufValue::str(m.is_string() ? m.string : m.array[0].string + " " + m.array[1].string));
    std::vector<std::pair<std::string, GgufValue>> kv = {
        {"general.architecture", GgufValue::str("llama")},
        {"tokenizer.ggml.model", GgufValue::str(spm ? "llama" : "gpt2")},
        {"tokenizer.ggml.tokens", toks},
        {"tokenizer.ggml.token_type", types},
        {"tokenizer.ggml.bos_token_id", GgufValue::u32(1)},
        {"tokenizer.ggml.eos_token_id", GgufValue::u32(2)},
    };
    if (spm) kv.push_back({"tokenizer.ggml.scores", scores});
    else kv.push_back({"tokenizer.ggml.merges", merges}), kv.push_back({"tokenizer.ggml.pre", GgufValue::str("llama-bpe")});
    return kv;
}

void seeds_gguf() {
    copy("gguf", "gguf/quants.gguf");
    const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (bool spm : {false, true}) {
        auto kv = gguf_tokenizer(spm ? "tokenizers/spm_mistral" : "tokenizers/llama3_bpe", spm, spm ? 300 : 280);
        write_gguf(g_tmp, kv, {{"token_embd.weight", {2, 4}, DType::F32, w}});
        const std::string bytes = read_file(g_tmp);
        const GgufFile g(MappedFile::from_bytes("seed", bytes.data(), bytes.size()));
        gguf_tokenizer_to_hf(g);  // the seed must reach the tokenizer
        put("gguf", spm ? "spm_tokenizer.gguf" : "bpe_tokenizer.gguf", bytes);
    }
}

void seeds_t2l() {
    struct Seed { const char* name; const char* tok; int64_t keep; const char* prefix; };
    const Seed seeds[] = {{"wordpiece.t2l", "tokenizers/bert_wordpiece", 200, "encoder."},
                          {"bpe.t2l", "tokenizers/llama3_bpe", 280, ""},
                          {"spm.t2l", "tokenizers/spm_gemma", 300, ""}};
    const float w[6] = {1, 2, 3, 4, 5, 6};
    for (const Seed& s : seeds) {
        T2lWriter out(g_tmp);
        out.set_meta("general.kind", MetaValue::of_string("model"));
        out.set_meta("hf.config", MetaValue::of_json("{\"hidden_size\":4,\"num_hidden_layers\":1}"));
        out.set_meta("n", MetaValue::of_int(-7));
        out.set_meta("x", MetaValue::of_float(0.5));
        out.set_meta("flag", MetaValue::of_bool(true));
        out.set_meta("targets", MetaValue::of_array(MetaType::String, {MetaValue::of_string("q_proj"), MetaValue::of_string("v_proj")}));
        out.set_meta(std::string(s.prefix) + "tokenizer.json", MetaValue::of_json(shrink_tokenizer(s.tok, s.keep)));
        // Llama 3's config is mostly its chat template: a short stand-in keeps the seed small.
        const std::string config = std::string(s.tok) == "tokenizers/llama3_bpe"
                                       ? "{\"bos_token\":\"<|begin_of_text|>\",\"eos_token\":\"<|eot_id|>\",\"model_max_length\":131072}"
                                       : config_of(s.tok);
        out.set_meta(std::string(s.prefix) + "tokenizer.config", MetaValue::of_json(config));
        out.add_tensor("w", DType::F32, {2, 3});
        out.add_tensor("b", DType::F32, {0});
        out.write_data(w, sizeof w);
        out.finish();
        put("t2l", s.name, std::string(1, '\0') + read_file(g_tmp));
    }
}

// Tokenizer inputs: the oracle corpus's strings (every 20th: scripts, emoji, whitespace runs,
// special tokens), each behind a flag byte cycling through the harness's options.
void seeds_tokenizers() {
    const json::Value corpus = json::parse(read_file(kFix + "tokenizers/corpus.json"), "corpus.json");
    const std::vector<json::Value>& strings = corpus.at("strings").array;
    for (const char* h : {"tokenizer_bpe", "tokenizer_wordpiece", "tokenizer_spm"}) {
        for (size_t i = 0; i < strings.size(); i += 20) {
            const uint8_t flags = (uint8_t)((i / 20) * 37);
            put(h, "corpus_" + std::to_string(i), std::string(1, (char)flags) + strings[i].string);
        }
        put(h, "invalid_utf8", std::string("\x01" "caf\xc3" "\xa9 \xff\xfe \xed\xa0\x80 ok", 17));
    }
    put("tokenizer_bpe", "specials", "\x01<|begin_of_text|>Hi<|eot_id|><|start_header_id|>user<|end_header_id|>");
    put("tokenizer_wordpiece", "specials", "\x01[CLS] Hello, WORLD! naïve 中文 [SEP][MASK]");
    put("tokenizer_spm", "specials", "\x01<s>  two  spaces </s><unk>\t<0x0A>");
}

}  // namespace

int main() {
    try {
        g_tmp = "/tmp/t2l-make-seeds-" + std::to_string(::getpid());
        seeds_text();
        seeds_safetensors();
        seeds_torch();
        seeds_gguf();
        seeds_t2l();
        seeds_tokenizers();
        std::remove(g_tmp.c_str());
    } catch (const Error& e) {
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
