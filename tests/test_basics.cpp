// test_basics.cpp — dtype conversions, XXH64 and JSON: the small pieces every reader uses.
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "common.h"
#include "dtype.h"
#include "format/xxhash64.h"
#include "io/json.h"
#include "test_util.h"

using namespace t2l;

namespace {
uint32_t bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Independent bf16 reference: of the two bf16 neighbours, the nearer one (ties to even),
// decided in double precision.
uint16_t bf16_reference(float f) {
    uint32_t u = bits(f);
    uint16_t lo = (uint16_t)(u >> 16);
    uint16_t hi = (uint16_t)(lo + 1);
    double x = std::fabs((double)f);
    double a = std::fabs((double)bf16_to_f32(lo)), b = std::fabs((double)bf16_to_f32(hi));
    if ((hi & 0x7f80) == 0x7f80 && (hi & 0x7f) == 0) b = std::ldexp(1.0, 128);  // next after max is "2^128"
    double da = x - a, db = b - x;
    if (da < db) return lo;
    if (db < da) return hi;
    return (lo & 1) ? hi : lo;
}
}  // namespace

TEST_CASE("bf16 widening is exact and narrowing rounds to nearest even", "[dtype]") {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (std::isnan(f)) continue;
        REQUIRE(f32_to_bf16(f) == h);  // every bf16 survives the round trip
    }
    // Pinned cases: halfway between 1.0 and the next bf16 (1 + 2^-7) goes to even (1.0);
    // just above halfway goes up; halfway above an odd mantissa goes up.
    CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
    CHECK(f32_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)) == 0x3f81);
    CHECK(f32_to_bf16(bf16_to_f32(0x3f81) + std::ldexp(1.0f, -8)) == 0x3f82);
    CHECK(f32_to_bf16(3.4028235e38f) == 0x7f80);  // rounds past the largest bf16 into infinity
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));

    std::mt19937 rng(1234);
    int mismatches = 0;
    const int n = 2000000;
    for (int i = 0; i < n; i++) {
        float f = from_bits(rng());
        if (std::isnan(f)) continue;
        if (f32_to_bf16(f) != bf16_reference(f)) mismatches++;
    }
    INFO("random f32 -> bf16 mismatches vs the nearest-neighbour reference: " << mismatches << " of " << n);
    CHECK(mismatches == 0);
}

TEST_CASE("f16 conversions match the compiler's IEEE _Float16", "[dtype]") {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        std::memcpy(&ref, &hb, 2);
        if (std::isnan(f)) { REQUIRE(std::isnan((float)ref)); continue; }
        REQUIRE(bits(f) == bits((float)ref));   // widening: exact, subnormals included
        REQUIRE(f32_to_f16(f) == h);            // and back
    }
    std::mt19937 rng(99);
    int mismatches = 0;
    const int n = 2000000;
    for (int i = 0; i < n; i++) {
        // Bias toward the f16 range so subnormals, ties and overflow all occur.
        float f = std::ldexp((float)(rng() % 2000001) / 1000000.0f - 1.0f, (int)(rng() % 50) - 30);
        if (i % 4 == 0) f = from_bits(rng());
        if (std::isnan(f)) continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        std::memcpy(&rb, &ref, 2);
        if (f32_to_f16(f) != rb) mismatches++;
    }
    INFO("random f32 -> f16 mismatches vs _Float16: " << mismatches << " of " << n);
    CHECK(mismatches == 0);
}

TEST_CASE("convert_elements converts between float dtypes and refuses integer pairs", "[dtype]") {
    float src[4] = {1.0f, -2.5f, 1.0f + std::ldexp(1.0f, -8), 65504.0f};
    uint16_t b[4], h[4];
    convert_elements(DType::BF16, b, DType::F32, src, 4);
    convert_elements(DType::F16, h, DType::F32, src, 4);
    CHECK(b[0] == 0x3f80);
    CHECK(b[1] == 0xc020);
    CHECK(b[2] == 0x3f80);
    CHECK(h[3] == 0x7bff);
    float back[4];
    convert_elements(DType::F32, back, DType::F16, h, 4);
    CHECK(back[1] == -2.5f);
    int32_t i32[1] = {1};
    CHECK_THROWS_AS(convert_elements(DType::F32, back, DType::I32, i32, 1), Error);
}

TEST_CASE("XXH64 matches published vectors, whole and streamed", "[format]") {
    CHECK(xxh64("", 0) == 0xef46db3751d8e999ull);
    CHECK(xxh64("a", 1) == 0xd24ec4f1a98c6e5bull);
    CHECK(xxh64("abc", 3) == 0x44bc2cf5ad770999ull);
    CHECK(xxh64("abc", 3, 2654435761u) == 0x1318df30094a85fdull);
    const std::string s = "Nobody inspects the spammish repetition";
    CHECK(xxh64(s.data(), s.size()) == 0xfbcea83c8a378bf1ull);
    std::string big;
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 256; i++) big += (char)i;
    big += "xyz";
    CHECK(xxh64(big.data(), big.size()) == 0xe146cb31b65bc21aull);
    CHECK(xxh64(big.data(), big.size(), 2654435761u) == 0x8a66b45747ef9df4ull);
    // Any split into pieces gives the same digest.
    for (size_t piece : {1u, 7u, 31u, 32u, 33u, 100u}) {
        XXH64State st(0);
        for (size_t i = 0; i < big.size(); i += piece) st.update(big.data() + i, std::min(piece, big.size() - i));
        CHECK(st.digest() == 0xe146cb31b65bc21aull);
    }
}

TEST_CASE("JSON parses what real config files contain and dumps it back", "[json]") {
    const std::string text =
        R"({"a": 1, "b": [true, false, null], "c": {"d": "x\ny\u00e9\ud83d\ude00"}, "e": -1.5e-3, "f": 12345678901234})";
    json::Value v = json::parse(text, "test");
    CHECK(v.at("a").as_int() == 1);
    CHECK(v.at("b").array.size() == 3);
    CHECK(v.at("b").array[2].is_null());
    CHECK(v.at("c").at("d").as_string() == "x\ny\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(v.at("e").as_double() == -1.5e-3);
    CHECK(!v.at("e").is_integer);
    CHECK(v.at("f").as_int() == 12345678901234LL);
    // Key order survives a round trip; numbers read back identically.
    json::Value again = json::parse(json::dump(v), "dump");
    CHECK(json::dump(again) == json::dump(v));
    CHECK(v.object[0].first == "a");
    CHECK(v.object[3].first == "e");
    CHECK(json::dump(json::Value::from_double(0.1)) == "0.1");
    CHECK(json::dump(json::Value::from_double(1.0)) == "1.0");
    CHECK(json::parse("1e400", "t").number == HUGE_VAL);
}

TEST_CASE("JSON rejects malformed input with the source and offset", "[json]") {
    const char* bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"abc", "01", "1.", "-", "[1] x",
                         "{\"a\":\"\\q\"}", "\"\\u12G4\"", "tru", "\"\x01\""};
    for (const char* b : bad) {
        INFO("input: " << b);
        try {
            json::parse(b, "cfg.json");
            FAIL("accepted malformed JSON");
        } catch (const Error& e) {
            CHECK(std::string(e.what()).rfind("cfg.json: invalid JSON at byte ", 0) == 0);
        }
    }
    std::string deep(100000, '[');
    CHECK_THROWS_WITH(json::parse(deep, "deep.json"), Catch::Contains("nesting too deep"));
}
