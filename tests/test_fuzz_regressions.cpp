// test_fuzz_regressions.cpp — inputs that once crashed, hung or exhausted a reader, and the
// limits that keep hostile files bounded (tests/fuzz/README.md).
//
// tests/fixtures/fuzz/<reader>/ holds the committed inputs, one folder per harness; every one
// must be read or refused with a t2l::Error, nothing else. The named cases below say what each
// input did before its fix. Inputs too large to commit are built in the test.
#include <dirent.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common.h"
#include "format/t2l_file.h"
#include "format/xxhash64.h"
#include "io/gguf.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/yaml.h"
#include "io/zip.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

using namespace t2l;
using t2l_test::fixture;
using t2l_test::read_bytes;

namespace {

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
        ::closedir(d);
    }
    return out;
}

using t2l_test::error_of;

MappedFile bytes_of(const std::string& name, const std::string& s) { return MappedFile::from_bytes(name, s.data(), s.size()); }

double seconds_of(const std::function<void()>& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Tokenizer fixture_tokenizer(const std::string& name) {
    const std::string dir = fixture("tokenizers/" + name);
    return Tokenizer::from_json(read_bytes(dir + "/tokenizer.json"), read_bytes(dir + "/tokenizer_config.json"), dir);
}

// What each harness does with its input, minus the fuzzing (tests/fuzz/fuzz_<reader>.cpp).
void read_as(const std::string& reader, const std::string& path) {
    const std::string b = read_bytes(path);
    if (reader == "json") json::parse(b, path);
    else if (reader == "yaml") yaml::parse(b, path);
    else if (reader == "safetensors") { SafetensorsFile f(bytes_of(path, b)); for (const auto& t : f.tensors()) xxh64(t.data, (size_t)t.nbytes); }
    else if (reader == "zip") { ZipArchive z(bytes_of(path, b)); for (const auto& e : z.entries()) error_of([&] { z.verify_crc(e); }); }
    else if (reader == "pickle") pickle::Unpickled((const uint8_t*)b.data(), b.size(), path);
    else if (reader == "torch") { TorchCheckpoint ck(bytes_of(path, b)); for (const auto& t : ck.tensors()) xxh64(t.data, (size_t)t.nbytes); }
    else if (reader == "gguf") GgufFile g(bytes_of(path, b));
    else if (reader == "t2l") { T2lFile f(bytes_of(path, b)); f.verify(); Tokenizer::from_t2l(f); }
    else if (reader.rfind("tokenizer_", 0) == 0) {
        const std::string name = reader == "tokenizer_bpe" ? "llama3_bpe" : reader == "tokenizer_wordpiece" ? "bert_wordpiece" : "spm_gemma";
        const Tokenizer tok = fixture_tokenizer(name);
        const std::string text = unicode::utf8_lossy(b);
        tok.decode(tok.encode(text));
    } else FAIL("no reader named " << reader);
}

}  // namespace

TEST_CASE("committed fuzz inputs are read or refused, never a crash", "[io][fuzz]") {
    const std::string root = fixture("fuzz");
    size_t n = 0, refused = 0;
    for (const char* reader : {"json", "yaml", "safetensors", "zip", "pickle", "torch", "gguf", "t2l",
                               "tokenizer_bpe", "tokenizer_wordpiece", "tokenizer_spm"}) {
        for (const std::string& path : files_in(root + "/" + reader)) {
            CAPTURE(path);
            const std::string err = error_of([&] { read_as(reader, path); });
            n++;
            refused += !err.empty();
        }
    }
    std::printf("fuzz regressions: %zu inputs, %zu refused with an error, %zu read\n", n, refused, n - refused);
    CHECK(n > 0);
}

TEST_CASE("torch: shared sub-lists are refused, not expanded exponentially", "[io][fuzz]") {
    // x = []; 30 times x = [x, x]; {"a": x}: 228 pickle bytes naming 2^30 leaves. The walk
    // used to follow every path (a hang); now it stops after one visit per pickle byte.
    std::string err;
    const double s = seconds_of([&] { err = error_of([] { TorchCheckpoint ck(fixture("fuzz/torch/shared_lists.pt")); }); });
    std::printf("shared_lists.pt refused in %.3f s: %s\n", s, err.c_str());
    CHECK(err.find("expand") != std::string::npos);
    CHECK(s < 2.0);
}

TEST_CASE("json: the value limit refuses documents of many small values", "[io][json][fuzz]") {
    std::string text = "[";
    for (int i = 0; i < 1000; i++) text += "0,";
    text += "0]";
    CHECK(error_of([&] { json::parse(text, "small.json", 1001); }).find("more than 1001 values") != std::string::npos);
    CHECK(error_of([&] { json::parse(text, "small.json", 1002); }).empty());
    CHECK(json::parse(text, "small.json").array.size() == 1001);
}

TEST_CASE("safetensors: a header of a million tiny values is refused", "[io][safetensors][fuzz]") {
    // 2 MB of "[0,0,...]" in the 100 MB the header may take: ~120 MB of parsed tree at most.
    std::string header = "{\"__metadata__\":{},\"x\":[";
    for (int i = 0; i < (1 << 20); i++) header += "0,";
    header += "0]}";
    std::string file(8, '\0');
    const uint64_t len = header.size();
    std::memcpy(&file[0], &len, 8);
    file += header;
    const std::string err = error_of([&] { SafetensorsFile f(bytes_of("many.safetensors", file)); });
    CHECK(err.find("values") != std::string::npos);
}

TEST_CASE("gguf: array elements are capped before they are parsed", "[io][gguf][fuzz]") {
    // One u8 array of 2^23 + 1 elements: 8 MB of file would have been 800 MB of GgufValue.
    const uint64_t n = (1ull << 23) + 1;
    std::string f = "GGUF";
    auto put = [&](const void* p, size_t k) { f.append((const char*)p, k); };
    const uint32_t version = 3, arr = 9, u8 = 0;
    const uint64_t n_tensors = 0, n_kv = 1, key_len = 3;
    put(&version, 4), put(&n_tensors, 8), put(&n_kv, 8), put(&key_len, 8), f += "big", put(&arr, 4), put(&u8, 4), put(&n, 8);
    f.append((size_t)n, '\1');
    const std::string err = error_of([&] { GgufFile g(bytes_of("big.gguf", f)); });
    CHECK(err.find("memory limit") != std::string::npos);
}

TEST_CASE("t2l: metadata arrays are bounded by their element size and a total cap", "[io][format][fuzz]") {
    // A hand-made header: one int array claiming more elements than its bytes can hold.
    std::string tables;
    auto put = [&](const void* p, size_t k) { tables.append((const char*)p, k); };
    const uint32_t klen = 1, type_array = 6, type_int = 2;
    const uint64_t count = 100;
    put(&klen, 4), tables += "a", put(&type_array, 4), put(&type_int, 4), put(&count, 8);
    tables.append(200, '\0');  // room for 25 ints, or 200 bools
    tables.resize(align_up(tables.size(), 64), '\0');
    std::string file(64, '\0');
    std::memcpy(&file[0], "T2LF", 4);
    const uint32_t version = 1, alignment = 64;
    const uint64_t size = 64 + tables.size(), n_meta = 1, n_tensors = 0, data_offset = size, sum = xxh64(tables.data(), tables.size());
    std::memcpy(&file[4], &version, 4), std::memcpy(&file[8], &size, 8), std::memcpy(&file[16], &n_meta, 8);
    std::memcpy(&file[24], &n_tensors, 8), std::memcpy(&file[32], &data_offset, 8), std::memcpy(&file[40], &alignment, 4);
    std::memcpy(&file[48], &sum, 8);
    file += tables;
    CHECK(error_of([&] { T2lFile f(bytes_of("ints.t2l", file)); }).find("array length 100 exceeds the table") != std::string::npos);
}

TEST_CASE("yaml: a config file over 16 MB is refused before parsing", "[io][yaml][fuzz]") {
    const std::string big((16u << 20) + 1, '#');  // one long comment: valid YAML, but not an args.yaml
    CHECK(error_of([&] { yaml::parse(big, "big.yaml"); }).find("more than a config file") != std::string::npos);
    CHECK(error_of([&] { yaml::parse(big.substr(0, 1000) + "\na: 1\n", "small.yaml"); }).empty());
}

TEST_CASE("files read whole (configs, tokenizers) are refused over 256 MiB before they are copied", "[io][fuzz]") {
    t2l_test::ScratchDir dir;
    const std::string path = dir.file("config.json");
    {  // a sparse 300 MiB file: no disk blocks, but a size no config has
        FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        REQUIRE(std::fseek(f, (300l << 20) - 1, SEEK_SET) == 0);
        REQUIRE(std::fputc('}', f) == '}');
        std::fclose(f);
    }
    const std::string err = error_of([&] { read_file(path); });
    std::printf("  read_file of a 300 MiB config: %s\n", err.c_str());
    CHECK(err.find("may have at most 268435456") != std::string::npos);
    CHECK(read_file(path, 400ull << 20).size() == (300ull << 20));  // a caller may allow more
}
