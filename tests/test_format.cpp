// test_format.cpp — the .t2l container: round trips, checksums, atomic writes and every
// kind of damaged file the reader must refuse with a clear message.
#include <cstring>
#include <random>
#include <vector>

#include "common.h"
#include "format/t2l_file.h"
#include "format/xxhash64.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {
// A small file with every metadata type and several dtypes, including an empty tensor.
void write_sample(const std::string& path, std::vector<float>* f32_out = nullptr) {
    std::vector<float> a(3 * 5);
    for (size_t i = 0; i < a.size(); i++) a[i] = 0.25f * (float)i - 1.0f;
    std::vector<uint16_t> b(7);
    for (size_t i = 0; i < b.size(); i++) b[i] = f32_to_bf16((float)i * 1.5f);
    std::vector<int64_t> c = {-1, 0, 1LL << 40};
    std::vector<uint8_t> d = {1, 2, 3};
    T2lWriter w(path);
    w.set_meta("general.kind", MetaValue::of_string("model"));
    w.set_meta("n", MetaValue::of_int(-42));
    w.set_meta("x", MetaValue::of_float(0.5));
    w.set_meta("flag", MetaValue::of_bool(true));
    w.set_meta("cfg", MetaValue::of_json(R"({"hidden_size": 64})"));
    w.set_meta("list", MetaValue::of_array(MetaType::String, {MetaValue::of_string("q_proj"), MetaValue::of_string("v_proj")}));
    w.add_tensor("a.weight", DType::F32, {3, 5});
    w.add_tensor("b", DType::BF16, {7});
    w.add_tensor("empty", DType::F16, {0, 4});
    w.add_tensor("c", DType::I64, {3});
    w.add_tensor("d", DType::U8, {1, 3});
    w.write_data(a.data(), 4 * 10);  // in uneven pieces
    w.write_data(a.data() + 10, 4 * 5);
    w.write_data(b.data(), b.size() * 2);
    w.write_data(c.data(), c.size() * 8);
    w.write_data(d.data(), d.size());
    w.finish();
    if (f32_out) *f32_out = a;
}

// Recompute the tables checksum so a deliberately damaged table reaches the field checks.
void rehash_tables(std::string& bytes) {
    uint64_t data_offset = load_le<uint64_t>(bytes.data() + 32);
    uint64_t h = xxh64(bytes.data() + 64, data_offset - 64);
    std::memcpy(&bytes[48], &h, 8);
}

// Offset of the tensor table entry for `name` (its name-length field).
size_t table_entry(const std::string& bytes, const std::string& name) {
    std::string needle;
    uint32_t n = (uint32_t)name.size();
    needle.append((const char*)&n, 4);
    needle += name;
    size_t at = bytes.rfind(needle);
    REQUIRE(at != std::string::npos);
    return at;
}

std::string error_of(const std::string& path) {
    try {
        T2lFile f(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE(".t2l round trip keeps metadata, shapes and bytes; data is aligned", "[format]") {
    ScratchDir dir;
    const std::string path = dir.file("m.t2l");
    std::vector<float> a;
    write_sample(path, &a);
    T2lFile f(path);
    CHECK(f.version() == 1);
    CHECK(f.metadata().size() == 6);
    CHECK(f.meta_string("general.kind") == "model");
    CHECK(f.meta_int("n") == -42);
    CHECK(f.find_meta("x")->f == 0.5);
    CHECK(f.find_meta("flag")->b);
    CHECK(f.meta_json("cfg").at("hidden_size").as_int() == 64);
    CHECK(f.find_meta("list")->arr.size() == 2);
    CHECK(f.find_meta("list")->arr[1].s == "v_proj");
    REQUIRE(f.tensors().size() == 5);
    const TensorView* t = f.find("a.weight");
    REQUIRE(t);
    CHECK(t->shape == std::vector<int64_t>{3, 5});
    CHECK(std::memcmp(t->data, a.data(), a.size() * 4) == 0);
    CHECK(f.find("empty")->nbytes == 0);
    CHECK(load_le<int64_t>(f.find("c")->data + 16) == (1LL << 40));
    for (const auto& tt : f.tensors()) CHECK((uintptr_t)tt.view.data % 64 == 0);
    CHECK(f.verify() == -1);
    CHECK_THROWS_WITH(f.meta_int("missing"), Catch::Contains("metadata 'missing' is missing"));
    // Writing the same content twice gives the same bytes (determinism, bitwise).
    write_sample(dir.file("m2.t2l"));
    CHECK(t2l_test::read_bytes(path) == t2l_test::read_bytes(dir.file("m2.t2l")));
}

TEST_CASE("verify names the first tensor whose bytes changed", "[format]") {
    ScratchDir dir;
    const std::string path = dir.file("m.t2l");
    write_sample(path);
    std::string bytes = t2l_test::read_bytes(path);
    uint64_t data_offset;
    {
        T2lFile f(path);
        data_offset = f.data_offset();
        const auto& b = f.tensors()[1];
        REQUIRE(b.view.name == "b");
        bytes[data_offset + b.offset + 3] ^= 0x10;
    }
    t2l_test::write_bytes(path, bytes);
    T2lFile f(path);  // the tables are intact, so it opens
    CHECK(f.verify() == 1);
    std::string out;
    CHECK(t2l_test::run_binary("t2l", "inspect --verify " + path, &out) == 1);
    CHECK_THAT(out, Catch::Contains("tensor 'b' (#1) does not match its checksum"));
}

TEST_CASE("an unfinished writer leaves no file behind", "[format]") {
    ScratchDir dir;
    const std::string path = dir.file("out.t2l");
    {
        T2lWriter w(path);
        w.add_tensor("x", DType::F32, {4});
        float v[2] = {1, 2};
        w.write_data(v, sizeof v);
        CHECK_THROWS_WITH(w.finish(), Catch::Contains("tensor 'x' got 8 of its 16 bytes"));
    }
    {
        T2lWriter w(path);
        w.add_tensor("x", DType::F32, {1});
        // destroyed without finish(), e.g. by an exception on the way
    }
    CHECK(!t2l_test::path_exists(path));
    CHECK(std::system(("test -z \"$(ls -A " + dir.path + ")\"").c_str()) == 0);  // no temporaries either
    // An existing file survives a failed rewrite untouched.
    write_sample(path);
    std::string before = t2l_test::read_bytes(path);
    {
        T2lWriter w(path);
        w.add_tensor("y", DType::F32, {2});
    }
    CHECK(t2l_test::read_bytes(path) == before);
}

TEST_CASE("damaged .t2l files are refused with one clear message", "[format]") {
    ScratchDir dir;
    const std::string good = dir.file("good.t2l");
    write_sample(good);
    const std::string base = t2l_test::read_bytes(good);
    const std::string path = dir.file("bad.t2l");
    auto expect = [&](const std::string& bytes, const std::string& message) {
        t2l_test::write_bytes(path, bytes);
        std::string e = error_of(path);
        INFO("error: " << e);
        CHECK(e.rfind(path + ": ", 0) == 0);
        CHECK_THAT(e, Catch::Contains(message));
    };
    expect(base.substr(0, 10), "shorter than the 64-byte .t2l header");
    expect(base.substr(0, base.size() - 1), "truncated or appended to");
    expect(base + "x", "truncated or appended to");
    { std::string b = base; b[0] = 'X'; expect(b, "bad magic"); }
    { std::string b = base; b[4] = 9; expect(b, "version 9 is not supported"); }
    { std::string b = base; b[100] ^= 1; expect(b, "checksum mismatch"); }
    { std::string b = base; b[40] = 3; expect(b, "alignment 3 is not a power of two"); }
    {   // data offset past the end
        std::string b = base;
        uint64_t off = b.size() + 64;
        std::memcpy(&b[32], &off, 8);
        expect(b, "outside the file");
    }
    {   // a tensor count the table cannot hold
        std::string b = base;
        uint64_t n = 1ull << 60;
        std::memcpy(&b[24], &n, 8);
        expect(b, "cannot fit");
    }
    {   // offset past the end of the data
        std::string b = base;
        size_t e = table_entry(b, "d") + 4 + 1 + 4 + 4 + 2 * 8;
        uint64_t off = 1ull << 40;
        std::memcpy(&b[e], &off, 8);
        rehash_tables(b);
        expect(b, "tensor 'd': bytes [");
    }
    {   // overlapping tensors: point d at c's bytes
        std::string b = base;
        size_t ec = table_entry(b, "c") + 4 + 1 + 4 + 4 + 1 * 8;
        size_t ed = table_entry(b, "d") + 4 + 1 + 4 + 4 + 2 * 8;
        std::memcpy(&b[ed], &b[ec], 8);
        rehash_tables(b);
        expect(b, "overlap");
    }
    {   // shape product that overflows 64 bits
        std::string b = base;
        size_t e = table_entry(b, "d") + 4 + 1 + 4 + 4;
        uint64_t dim = 1ull << 62;
        std::memcpy(&b[e], &dim, 8);
        std::memcpy(&b[e + 8], &dim, 8);
        rehash_tables(b);
        expect(b, "overflows");
    }
    {   // shape and byte count disagree
        std::string b = base;
        size_t e = table_entry(b, "d") + 4 + 1 + 4 + 4;
        uint64_t dim = 2;
        std::memcpy(&b[e], &dim, 8);
        rehash_tables(b);
        expect(b, "needs 6");
    }
    {   // unknown dtype code
        std::string b = base;
        size_t e = table_entry(b, "d") + 4 + 1;
        uint32_t dt = 77;
        std::memcpy(&b[e], &dt, 4);
        rehash_tables(b);
        expect(b, "unknown dtype code 77");
    }
    {   // a string length running past the tables
        std::string b = base;
        size_t at = b.find("general.kind");
        REQUIRE(at != std::string::npos);
        uint64_t len = 1ull << 50;
        std::memcpy(&b[at + 12 + 4], &len, 8);
        rehash_tables(b);
        expect(b, "header tables end inside a string");
    }
    // Fuzz-style: random single-byte damage anywhere in the tables must never crash.
    std::mt19937 rng(7);
    uint64_t data_offset = load_le<uint64_t>(base.data() + 32);
    int refused = 0;
    for (int i = 0; i < 300; i++) {
        std::string b = base;
        b[64 + rng() % (data_offset - 64)] = (char)rng();
        rehash_tables(b);
        t2l_test::write_bytes(path, b);
        if (!error_of(path).empty()) refused++;
    }
    INFO("random table damage refused " << refused << " of 300 times (the rest was harmless)");
    CHECK(refused > 50);
}

TEST_CASE("t2l inspect prints tables and JSON, and errors are one line", "[format][cli]") {
    ScratchDir dir;
    const std::string path = dir.file("m.t2l");
    write_sample(path);
    std::string out;
    REQUIRE(t2l_test::run_binary("t2l", "inspect " + path, &out) == 0);
    CHECK_THAT(out, Catch::Contains("5 tensors"));
    CHECK_THAT(out, Catch::Contains("a.weight"));
    REQUIRE(t2l_test::run_binary("t2l", "inspect --json --verify " + path, &out) == 0);
    json::Value v = json::parse(out, "inspect --json");
    CHECK(v.at("tensors").array.size() == 5);
    CHECK(v.at("metadata").at("cfg").at("hidden_size").as_int() == 64);
    CHECK(v.at("verified").as_bool());
    CHECK(t2l_test::run_binary("t2l", "inspect " + dir.file("nope.t2l"), &out) == 1);
    CHECK(out == "t2l: error: " + dir.file("nope.t2l") + ": cannot open: No such file or directory\n");
    CHECK(t2l_test::run_binary("t2l", "inspect --bogus " + path, &out) == 1);
    CHECK(out == "t2l: error: t2l inspect: unknown option '--bogus' (see --help)\n");
    CHECK(t2l_test::run_binary("t2l", "inspect --help", &out) == 0);
    CHECK_THAT(out, Catch::Contains("--verify"));
    CHECK(t2l_test::run_binary("t2l", "frobnicate", &out) == 2);
}
