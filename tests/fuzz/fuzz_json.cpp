// fuzz_json.cpp — json::parse on arbitrary text; what it accepts must dump and parse back
// to the same document (dump is a fixed point after one round).
#include "fuzz_util.h"
#include "io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    const std::string text((const char*)data, size);
    fuzz::refused([&] {
        const json::Value v = json::parse(text, "fuzz.json");
        const std::string once = json::dump(v);
        const std::string pretty = json::dump(v, 2);
        FUZZ_CHECK(json::dump(json::parse(once, "dump")) == once);
        FUZZ_CHECK(json::dump(json::parse(pretty, "pretty dump")) == once);
    });
    return 0;
}
