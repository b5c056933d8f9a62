// fuzz_yaml.cpp — the args.yaml subset on arbitrary text; an accepted document is an object
// that dumps as JSON and parses back.
#include "fuzz_util.h"
#include "io/json.h"
#include "io/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    const std::string text((const char*)data, size);
    fuzz::refused([&] {
        const json::Value v = yaml::parse(text, "fuzz.yaml");
        FUZZ_CHECK(v.is_object());
        const std::string once = json::dump(v);
        FUZZ_CHECK(json::dump(json::parse(once, "dump")) == once);
    });
    return 0;
}
