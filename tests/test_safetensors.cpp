// test_safetensors.cpp — the safetensors reader: round trips, shards, and refusals.
#include <cstring>
#include <vector>

#include "common.h"
#include "io/safetensors.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {
// Raw safetensors bytes from a header text and a data blob (for hand-made damage).
std::string raw_file(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    std::memcpy(&out[0], &n, 8);
    return out + header + data;
}

std::string error_of(const std::string& path) {
    try {
        SafetensorsFile f(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("safetensors written here read back with names, dtypes and bytes", "[safetensors]") {
    ScratchDir dir;
    std::vector<float> a = {1, 2, 3, 4, 5, 6};
    std::vector<uint16_t> b = {0x3f80, 0xc000};
    std::vector<TensorView> ts(2);
    ts[0].name = "layer.0.weight"; ts[0].dtype = DType::F32; ts[0].shape = {2, 3};
    ts[0].data = (const uint8_t*)a.data(); ts[0].nbytes = 24;
    ts[1].name = "bias"; ts[1].dtype = DType::BF16; ts[1].shape = {2};
    ts[1].data = (const uint8_t*)b.data(); ts[1].nbytes = 4;
    json::Value meta = json::Value::new_object();
    meta.set("format", json::Value::from_string("pt"));
    write_safetensors(dir.file("x.safetensors"), ts, meta);
    SafetensorsFile f(dir.file("x.safetensors"));
    REQUIRE(f.tensors().size() == 2);
    const TensorView* w = f.find("layer.0.weight");
    REQUIRE(w);
    CHECK(w->dtype == DType::F32);
    CHECK(w->shape == std::vector<int64_t>{2, 3});
    CHECK(std::memcmp(w->data, a.data(), 24) == 0);
    CHECK(load_le<uint16_t>(f.find("bias")->data + 2) == 0xc000);
    CHECK(f.metadata().at("format").as_string() == "pt");
    // The header is padded so the data section starts 8-byte aligned, as the reference writer does.
    CHECK((8 + load_le<uint64_t>(t2l_test::read_bytes(dir.file("x.safetensors")).data())) % 8 == 0);
}

TEST_CASE("damaged safetensors files are refused with the file and the problem", "[safetensors]") {
    ScratchDir dir;
    const std::string path = dir.file("bad.safetensors");
    auto expect = [&](const std::string& bytes, const std::string& message) {
        t2l_test::write_bytes(path, bytes);
        std::string e = error_of(path);
        INFO("error: " << e);
        CHECK(e.rfind(path, 0) == 0);
        CHECK_THAT(e, Catch::Contains(message));
    };
    const std::string data(16, '\1');
    expect("abc", "truncated safetensors file");
    expect(std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8), "exceeds the 100 MB limit");
    expect(std::string("\x40\x00\x00\x00\x00\x00\x00\x00{}", 10), "runs past the end of the file");
    expect(raw_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", data), "invalid JSON");
    expect(raw_file("[1, 2]", data), "not a JSON object");
    expect(raw_file(R"({"a": {"dtype": "F8_E9", "shape": [2], "data_offsets": [0, 8]}})", data), "unknown dtype 'F8_E9'");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})", data), "past the data section");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", data), "needs 12");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}})", data), "non-negative");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", data),
           "overflows");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", data), "overlap");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", data), "end before begin");
    expect(raw_file(R"({"a": {"dtype": "F32", "shape": [2]}})", data), "data_offsets");
}

TEST_CASE("sharded checkpoints: the index joins shards and a missing shard is named", "[safetensors]") {
    ScratchDir dir;
    std::vector<float> v = {1, 2};
    TensorView t;
    t.dtype = DType::F32; t.shape = {2}; t.data = (const uint8_t*)v.data(); t.nbytes = 8;
    t.name = "a"; write_safetensors(dir.file("model-00001-of-00002.safetensors"), {t});
    t.name = "b"; write_safetensors(dir.file("model-00002-of-00002.safetensors"), {t});
    t2l_test::write_bytes(dir.file("model.safetensors.index.json"),
                          R"({"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                              "b": "model-00002-of-00002.safetensors"}})");
    SafetensorsCheckpoint ck(dir.path);
    CHECK(ck.tensors().size() == 2);
    CHECK(ck.find("b"));
    t2l_test::write_bytes(dir.file("model.safetensors.index.json"),
                          R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00003-of-00002.safetensors"}})");
    CHECK_THROWS_WITH(SafetensorsCheckpoint(dir.path), Catch::Contains("names shard 'model-00003-of-00002.safetensors', which is missing"));
    t2l_test::write_bytes(dir.file("model.safetensors.index.json"),
                          R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})");
    CHECK_THROWS_WITH(SafetensorsCheckpoint(dir.path), Catch::Contains("tensor 'a' is not in its shard"));
    t2l_test::write_bytes(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "../etc/passwd"}})");
    CHECK_THROWS_WITH(SafetensorsCheckpoint(dir.path), Catch::Contains("must be a plain file name"));
}
