// test_convert.cpp — t2l-convert: HF model folders (single and sharded), PEFT adapters and
// T2L checkpoints become .t2l files whose tensors equal the source bit for bit; dtype
// conversion is exact or round-to-nearest-even; bad input gives one line and no output.
#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "common.h"
#include "convert/convert.h"
#include "format/t2l_file.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {
// Owns the bytes of tensors made up for a test.
struct Made {
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<TensorView> views;

    void add(const std::string& name, DType dt, std::vector<int64_t> shape, uint32_t seed) {
        TensorView t;
        t.name = name;
        t.dtype = dt;
        t.shape = std::move(shape);
        REQUIRE(shape_nbytes(t.shape, dt, &t.nbytes));
        std::vector<uint8_t> b(t.nbytes);
        std::mt19937 rng(seed);
        const size_t n = (size_t)t.numel();
        for (size_t i = 0; i < n; i++) {
            float v = (float)((int)(rng() % 20001) - 10000) * 1.37e-4f;
            if (dt == DType::F32) std::memcpy(&b[i * 4], &v, 4);
            else if (dt == DType::BF16) { uint16_t h = f32_to_bf16(v); std::memcpy(&b[i * 2], &h, 2); }
            else if (dt == DType::F16) { uint16_t h = f32_to_f16(v); std::memcpy(&b[i * 2], &h, 2); }
            else for (size_t k = 0; k < dtype_size(dt); k++) b[i * dtype_size(dt) + k] = (uint8_t)rng();
        }
        buffers.push_back(std::move(b));
        t.data = buffers.back().data();
        views.push_back(t);
    }
};

const char* kLlamaConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16,
  "rope_theta": 500000.0, "torch_dtype": "bfloat16"})";
const char* kTokenizer = R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})";

// A tiny Llama-shaped HF folder; sharded into two files when `sharded`.
Made make_hf_folder(const std::string& dir, bool sharded) {
    Made m;
    m.add("model.embed_tokens.weight", DType::BF16, {16, 8}, 1);
    m.add("model.layers.0.self_attn.q_proj.weight", DType::BF16, {8, 8}, 2);
    m.add("model.layers.0.input_layernorm.weight", DType::F32, {8}, 3);
    m.add("lm_head.weight", DType::BF16, {16, 8}, 4);
    t2l_test::write_bytes(dir + "/config.json", kLlamaConfig);
    t2l_test::write_bytes(dir + "/tokenizer.json", kTokenizer);
    t2l_test::write_bytes(dir + "/tokenizer_config.json", R"({"bos_token": "<|begin_of_text|>"})");
    t2l_test::write_bytes(dir + "/generation_config.json", R"({"eos_token_id": [1, 2]})");
    if (!sharded) {
        write_safetensors(dir + "/model.safetensors", m.views);
    } else {
        write_safetensors(dir + "/model-00001-of-00002.safetensors", {m.views[0], m.views[1]});
        write_safetensors(dir + "/model-00002-of-00002.safetensors", {m.views[2], m.views[3]});
        t2l_test::write_bytes(dir + "/model.safetensors.index.json",
                              R"({"metadata": {}, "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "model.layers.0.self_attn.q_proj.weight": "model-00001-of-00002.safetensors",
            "model.layers.0.input_layernorm.weight": "model-00002-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors"}})");
    }
    return m;
}

void require_same_tensors(const T2lFile& f, const std::vector<TensorView>& src) {
    REQUIRE(f.tensors().size() == src.size());
    for (const auto& s : src) {
        const TensorView* t = f.find(s.name);
        INFO("tensor " << s.name);
        REQUIRE(t);
        CHECK(t->dtype == s.dtype);
        CHECK(t->shape == s.shape);
        REQUIRE(t->nbytes == s.nbytes);
        CHECK(std::memcmp(t->data, s.data, s.nbytes) == 0);
    }
}

ConvertReport convert_quiet(const std::string& src, const std::string& out, const std::string& dtype = "keep") {
    ConvertOptions o;
    o.src = src;
    o.out = out;
    o.dtype = dtype;
    o.quiet = true;
    return convert_checkpoint(o);
}
}  // namespace

TEST_CASE("HF folders convert bit-identically, single file and sharded", "[convert]") {
    for (bool sharded : {false, true}) {
        ScratchDir dir;
        Made m = make_hf_folder(dir.path, sharded);
        ConvertReport r = convert_quiet(dir.path, dir.file("m.t2l"));
        CHECK(r.kind == "model");
        CHECK(r.tensors == 4);
        T2lFile f(dir.file("m.t2l"));
        require_same_tensors(f, m.views);
        CHECK(f.verify() == -1);
        CHECK(f.meta_string("general.kind") == "model");
        CHECK(f.meta_string("tokenizer.json") == kTokenizer);  // the tokenizer travels whole and unchanged
        CHECK(f.meta_json("hf.config").at("rope_theta").as_double() == 500000.0);
        CHECK(f.meta_json("hf.generation_config").at("eos_token_id").array.size() == 2);
        CHECK(f.meta_json("tokenizer.config").at("bos_token").as_string() == "<|begin_of_text|>");
    }
}

TEST_CASE("--dtype widens exactly and narrows to nearest even, and says how much it rounded", "[convert]") {
    ScratchDir dir;
    Made m = make_hf_folder(dir.path, false);
    ConvertReport r = convert_quiet(dir.path, dir.file("f32.t2l"), "f32");
    CHECK(r.values_converted == 16 * 8 + 64 + 16 * 8);  // the three bf16 tensors
    CHECK(r.values_rounded == 0);
    T2lFile f32(dir.file("f32.t2l"));
    const TensorView* e = f32.find("model.embed_tokens.weight");
    REQUIRE(e->dtype == DType::F32);
    for (int64_t i = 0; i < e->numel(); i++)
        REQUIRE(load_le<float>(e->data + 4 * i) == bf16_to_f32(load_le<uint16_t>(m.views[0].data + 2 * i)));

    // f32 -> bf16: each element equals the RNE conversion; the f32 norm weights are what round.
    r = convert_quiet(dir.file(""), dir.file("bf16.t2l"), "bf16");
    T2lFile b16(dir.file("bf16.t2l"));
    const TensorView* n = b16.find("model.layers.0.input_layernorm.weight");
    REQUIRE(n->dtype == DType::BF16);
    int rounded = 0;
    for (int64_t i = 0; i < n->numel(); i++) {
        float src = load_le<float>(m.views[2].data + 4 * i);
        REQUIRE(load_le<uint16_t>(n->data + 2 * i) == f32_to_bf16(src));
        if (bf16_to_f32(f32_to_bf16(src)) != src) rounded++;
    }
    CHECK(r.values_converted == 8);
    CHECK(r.values_rounded == (uint64_t)rounded);
    CHECK(b16.find("lm_head.weight")->dtype == DType::BF16);  // already bf16: bytes kept
    CHECK(std::memcmp(b16.find("lm_head.weight")->data, m.views[3].data, m.views[3].nbytes) == 0);
}

TEST_CASE("PEFT adapter folders convert with their config", "[convert]") {
    ScratchDir dir;
    Made m;
    m.add("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", DType::F32, {8, 64}, 5);
    m.add("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", DType::F32, {64, 8}, 6);
    write_safetensors(dir.file("adapter_model.safetensors"), m.views);
    t2l_test::write_bytes(dir.file("adapter_config.json"),
                          R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": true, "target_modules": ["q_proj", "v_proj"]})");
    ConvertReport r = convert_quiet(dir.path, dir.file("a.t2l"));
    CHECK(r.kind == "adapter");
    T2lFile f(dir.file("a.t2l"));
    require_same_tensors(f, m.views);
    CHECK(f.meta_json("peft.adapter_config").at("use_rslora").as_bool());
}

TEST_CASE("T2L checkpoint folders convert: hypermod.pt tensors, args.yaml and adapter config", "[convert]") {
    const std::string pt = t2l_test::fixture("io/state_dict.pt");
    if (!t2l_test::path_exists(pt)) FAIL("missing fixture " << pt);
    ScratchDir dir;
    REQUIRE(std::system(("cp " + pt + " " + dir.file("hypermod.pt")).c_str()) == 0);
    t2l_test::write_bytes(dir.file("args.yaml"),
                          "model_dir: meta-llama/Llama-3.1-8B-Instruct\nhypernet_latent_size: 512\n"
                          "target_modules:\n- q_proj\n- v_proj\nlr: 2.5e-05\nshared_AB_head: false\n");
    t2l_test::write_bytes(dir.file("adapter_config.json"), R"({"r": 8, "lora_alpha": 16, "use_rslora": true})");
    ConvertReport r = convert_quiet(dir.path, dir.file("t.t2l"));
    CHECK(r.kind == "t2l");
    TorchCheckpoint src(dir.file("hypermod.pt"));
    T2lFile f(dir.file("t.t2l"));
    require_same_tensors(f, src.tensors());
    json::Value args = f.meta_json("t2l.args");
    CHECK(args.at("hypernet_latent_size").as_int() == 512);
    CHECK(args.at("target_modules").array[1].as_string() == "v_proj");
    CHECK(args.at("lr").as_double() == 2.5e-05);
    CHECK(!args.at("shared_AB_head").as_bool());
    CHECK(f.meta_json("t2l.adapter_config").at("r").as_int() == 8);
}

TEST_CASE("bad input: one error line naming the file, non-zero exit, no output file", "[convert][cli]") {
    struct Case {
        const char* what;
        std::function<void(const std::string& dir)> make;
        const char* message;
    };
    auto hf = [](const std::string& dir) { make_hf_folder(dir, false); };
    // A T2L folder whose hypermod.pt is one of the io fixtures (most of them damaged on purpose).
    auto t2l_folder = [](const std::string& dir, const std::string& pt) {
        REQUIRE(std::system(("cp " + t2l_test::fixture("io/" + pt) + " " + dir + "/hypermod.pt").c_str()) == 0);
        t2l_test::write_bytes(dir + "/args.yaml", "training_task: sft\n");
        t2l_test::write_bytes(dir + "/adapter_config.json", R"({"r": 8, "lora_alpha": 16})");
    };
    auto damage = [](const std::string& path, const std::function<void(std::string&)>& f) {
        std::string b = t2l_test::read_bytes(path);
        f(b);
        t2l_test::write_bytes(path, b);
    };
    const std::vector<Case> cases = {
        {"truncated safetensors", [&](const std::string& d) {
             hf(d); damage(d + "/model.safetensors", [](std::string& b) { b.resize(b.size() / 2); }); },
         "past the data section"},
        {"header length beyond the file", [&](const std::string& d) {
             hf(d); damage(d + "/model.safetensors", [](std::string& b) { b[1] = 0x10; }); },
         "runs past the end of the file"},
        {"offsets past the end", [&](const std::string& d) {
             t2l_test::write_bytes(d + "/config.json", kLlamaConfig);
             std::string h = R"({"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})";
             std::string f(8, '\0');
             uint64_t n = h.size();
             std::memcpy(&f[0], &n, 8);
             t2l_test::write_bytes(d + "/model.safetensors", f + h + std::string(8, '\0')); },
         "data ends at 64 past the data section (8 bytes)"},
        {"overlapping tensors", [&](const std::string& d) {
             t2l_test::write_bytes(d + "/config.json", kLlamaConfig);
             std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
             std::string f(8, '\0');
             uint64_t n = h.size();
             std::memcpy(&f[0], &n, 8);
             t2l_test::write_bytes(d + "/model.safetensors", f + h + std::string(12, '\0')); },
         "overlap"},
        {"shape product that overflows", [&](const std::string& d) {
             hf(d); damage(d + "/model.safetensors", [](std::string& b) {
                 size_t at = b.find("\"shape\":[16,8]");
                 REQUIRE(at != std::string::npos);
                 b.replace(at, 14, "\"shape\":[9999999999999,9999999999999]");
                 uint64_t n = load_le<uint64_t>(b.data()) + 23;
                 std::memcpy(&b[0], &n, 8);
             }); },
         "overflows"},
        {"unknown dtype", [&](const std::string& d) {
             hf(d); damage(d + "/model.safetensors", [](std::string& b) {
                 size_t at = b.find("\"F32\"");
                 b.replace(at, 5, "\"Q32\"");
             }); },
         "unknown dtype 'Q32'"},
        {"malformed config.json", [&](const std::string& d) { hf(d); t2l_test::write_bytes(d + "/config.json", "{\"a\": }"); },
         "config.json: invalid JSON at byte 6"},
        {"malformed tokenizer.json", [&](const std::string& d) { hf(d); t2l_test::write_bytes(d + "/tokenizer.json", "[1,"); },
         "tokenizer.json: invalid JSON"},
        {"sharded index naming a missing shard", [&](const std::string& d) {
             make_hf_folder(d, true); std::remove((d + "/model-00002-of-00002.safetensors").c_str()); },
         "names shard 'model-00002-of-00002.safetensors', which is missing"},
        {"no weights at all", [&](const std::string& d) { t2l_test::write_bytes(d + "/config.json", kLlamaConfig); },
         "no model.safetensors"},
        {"not a checkpoint folder", [&](const std::string& d) { t2l_test::write_bytes(d + "/readme.txt", "hi"); },
         "not a checkpoint folder"},
        {"pickle asking for os.system", [&](const std::string& d) { t2l_folder(d, "evil_global.pt"); },
         "hypermod.pt: pickle asks for global 'os.system'"},
        {"compressed zip entry", [&](const std::string& d) { t2l_folder(d, "compressed.zip"); },
         "is compressed (method 8)"},
        {"zip entry missing", [&](const std::string& d) { t2l_folder(d, "bad_missing_data.pt"); },
         "has no entry 'archive/data/0'"},
        {"storage smaller than its view", [&](const std::string& d) { t2l_folder(d, "bad_storage_small.pt"); },
         "which has only 8"},
        {"malformed args.yaml", [&](const std::string& d) {
             t2l_folder(d, "state_dict.pt"); t2l_test::write_bytes(d + "/args.yaml", "a: [1, 2\n"); },
         "args.yaml:1: a flow list"},
        {"T2L folder without args.yaml", [&](const std::string& d) {
             t2l_folder(d, "state_dict.pt"); std::remove((d + "/args.yaml").c_str()); },
         "args.yaml: missing"},
        {"PEFT folder without weights", [&](const std::string& d) { t2l_test::write_bytes(d + "/adapter_config.json", "{}"); },
         "adapter_model.safetensors: missing"},
    };
    for (const auto& c : cases) {
        ScratchDir src, out;
        c.make(src.path);
        std::string output;
        int rc = t2l_test::run_binary("t2l-convert", src.path + " -o " + out.file("x.t2l"), &output);
        INFO(c.what << ": " << output);
        CHECK(rc == 1);
        CHECK(output.rfind("t2l-convert: error: ", 0) == 0);
        CHECK(std::count(output.begin(), output.end(), '\n') == 1);
        CHECK_THAT(output, Catch::Contains(c.message));
        CHECK(std::system(("test -z \"$(ls -A " + out.path + ")\"").c_str()) == 0);  // nothing written, no temporaries
    }
}

TEST_CASE("t2l-convert usage errors", "[convert][cli]") {
    std::string out;
    CHECK(t2l_test::run_binary("t2l-convert", "", &out) == 1);
    CHECK_THAT(out, Catch::Contains("missing argument"));
    CHECK(t2l_test::run_binary("t2l-convert", "x", &out) == 1);
    CHECK_THAT(out, Catch::Contains("-o OUT.t2l is required"));
    CHECK(t2l_test::run_binary("t2l-convert", "x -o y --dtype f8", &out) == 1);
    CHECK_THAT(out, Catch::Contains("--dtype: 'f8' is not one of"));
    CHECK(t2l_test::run_binary("t2l-convert", "--help", &out) == 0);
    CHECK_THAT(out, Catch::Contains("--encoder"));
}

TEST_CASE("oracle checkpoints in the public layouts convert bit-identically", "[convert]") {
    // HF folders (sharded bf16, save_pretrained fp32, single-file bf16 with tied embeddings),
    // a gte encoder, T2L checkpoints (with the encoder bundled) and a PEFT adapter.
    struct Src { const char* dir; const char* encoder; const char* kind; };
    const Src srcs[] = {{"llama/base", "", "model"},          {"mistral/base", "", "model"},
                        {"gemma/base", "", "model"},          {"gte_encoder", "", "encoder"},
                        {"llama/t2l_L", "gte_encoder", "t2l"}, {"llama/t2l_S_learnpos", "", "t2l"},
                        {"llama/t2l_L/generated/desc0", "", "adapter"}};
    for (const Src& s : srcs) {
        ScratchDir dir;
        ConvertOptions o;
        o.src = t2l_test::fixture(s.dir);
        o.encoder_dir = s.encoder[0] ? t2l_test::fixture(s.encoder) : "";
        o.out = dir.file("x.t2l");
        o.quiet = true;
        ConvertReport r = convert_checkpoint(o);
        CHECK(r.kind == s.kind);
        T2lFile f(o.out);
        std::vector<TensorView> want;
        std::unique_ptr<SafetensorsCheckpoint> st;
        std::unique_ptr<SafetensorsFile> sf;
        std::unique_ptr<TorchCheckpoint> tc;
        if (r.kind == "t2l") {
            tc = std::make_unique<TorchCheckpoint>(o.src + "/hypermod.pt");
            want = tc->tensors();
            if (!o.encoder_dir.empty()) {
                st = std::make_unique<SafetensorsCheckpoint>(o.encoder_dir);
                for (TensorView t : st->tensors()) {
                    t.name = "encoder." + t.name;
                    want.push_back(t);
                }
            }
        } else if (r.kind == "adapter") {
            sf = std::make_unique<SafetensorsFile>(o.src + "/adapter_model.safetensors");
            want = sf->tensors();
        } else {
            st = std::make_unique<SafetensorsCheckpoint>(o.src);
            want = st->tensors();
        }
        INFO("fixture " << s.dir);
        require_same_tensors(f, want);
        CHECK(f.verify() == -1);
        std::printf("convert %-28s %-7s %3zu tensors, bit-identical\n", s.dir, s.kind, want.size());
    }
}
