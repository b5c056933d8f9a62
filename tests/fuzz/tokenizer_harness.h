// tokenizer_harness.h — the body the three tokenizer harnesses share: arbitrary bytes in, ids
// out, ids back to text. The tokenizers are the fixtures' (tests/fixtures/tokenizers/<name>),
// loaded once; run the harness from the repository root or set T2L_FIXTURES.
//
// Input byte 0: bit 0 add_special_tokens, bit 1 skip_special_tokens when decoding, bits 2-3
// pick max_length (none, 1, 5, 64), bits 4-7 pick the fixture. The rest is the text, and also
// read as 16-bit ids (unknown and negative ones included) for decode and the stream decoder.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace fuzz {

inline std::vector<std::unique_ptr<t2l::Tokenizer>> load_tokenizers(const std::vector<std::string>& names) {
    const char* env = std::getenv("T2L_FIXTURES");
    const std::string root = std::string(env ? env : "tests/fixtures") + "/tokenizers/";
    std::vector<std::unique_ptr<t2l::Tokenizer>> out;
    for (const std::string& name : names) {
        const std::string dir = root + name;
        try {
            const std::string config = t2l::file_exists(dir + "/tokenizer_config.json") ? t2l::read_file(dir + "/tokenizer_config.json") : "";
            out.push_back(std::make_unique<t2l::Tokenizer>(
                t2l::Tokenizer::from_json(t2l::read_file(dir + "/tokenizer.json"), config, dir)));
        } catch (const t2l::Error& e) {
            std::fprintf(stderr, "cannot load the fixture tokenizer: %s\n", e.what());
            std::exit(1);
        }
    }
    return out;
}

inline bool valid(const std::string& s) { return t2l::unicode::find_invalid_utf8(s) == std::string::npos; }

inline void run_tokenizer(const std::vector<std::unique_ptr<t2l::Tokenizer>>& toks, const uint8_t* data, size_t size) {
    using namespace t2l;
    if (size == 0) return;
    const uint8_t flags = data[0];
    const Tokenizer& tok = *toks[(flags >> 4) % toks.size()];
    const std::string text((const char*)data + 1, size - 1);
    EncodeOptions opt;
    opt.add_special_tokens = flags & 1;
    const bool skip = flags & 2;
    static const size_t kMaxLengths[4] = {0, 1, 5, 64};
    opt.max_length = kMaxLengths[(flags >> 2) & 3];

    // Invalid UTF-8 is refused (as tokenizers does); the lossy text must then encode. A
    // max_length too small for the special tokens is refused too; then encode without it.
    const std::string input = valid(text) ? text : unicode::utf8_lossy(text);
    if (input != text) FUZZ_CHECK(refused([&] { tok.encode(text, opt); }));
    std::vector<int32_t> ids;
    if (refused([&] { ids = tok.encode(input, opt); })) {
        FUZZ_CHECK(opt.max_length > 0 && opt.add_special_tokens);
        opt.max_length = 0;
        ids = tok.encode(input, opt);
    }
    if (opt.max_length) FUZZ_CHECK(ids.size() <= opt.max_length);
    for (int32_t id : ids) FUZZ_CHECK(id >= 0 && (size_t)id < tok.vocab_size());
    FUZZ_CHECK(valid(tok.decode(ids, skip)));

    // The bytes as ids: unknown ids are skipped, byte tokens that do not form characters
    // become U+FFFD; the output is always valid UTF-8, whole or streamed.
    std::vector<int32_t> raw;
    const int64_t span = (int64_t)tok.vocab_size() + 8;
    for (size_t i = 1; i + 1 < size; i += 2) raw.push_back((int32_t)((data[i] | data[i + 1] << 8) % span) - 4);
    FUZZ_CHECK(valid(tok.decode(raw, skip)));
    StreamDecoder stream(tok, skip);
    for (size_t i = 0; i < raw.size() && i < 64; i++) FUZZ_CHECK(valid(stream.step(raw[i])));  // each step decodes its window
    FUZZ_CHECK(valid(stream.finish()));
    for (int32_t id : raw) tok.token(id), tok.is_special(id);
}

}  // namespace fuzz
