// fuzz_t2l.cpp — the .t2l reader from memory: header, metadata, tensor table, checksums, and
// the tokenizer a model file carries in its metadata (Tokenizer::from_t2l).
//
// Input byte 0 is a flag; the rest is the file. The header carries the file's size and an
// XXH64 of the tables, which random mutations almost never keep right, so unless flag bit 0
// is set the harness rewrites both first and the fuzzer reaches the tables behind them.
#include <cstring>
#include <vector>

#include "format/t2l_file.h"
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    if (size == 0) return 0;
    std::vector<uint8_t> bytes(data + 1, data + size);
    const uint64_t n = bytes.size();
    if (!(data[0] & 1) && n >= kT2lHeaderSize) {
        std::memcpy(&bytes[8], &n, 8);
        const uint64_t data_offset = load_le<uint64_t>(&bytes[32]);
        if (data_offset >= kT2lHeaderSize && data_offset <= n) {
            const uint64_t sum = xxh64(&bytes[kT2lHeaderSize], (size_t)(data_offset - kT2lHeaderSize));
            std::memcpy(&bytes[48], &sum, 8);
        }
    }
    fuzz::refused([&] {
        T2lFile f(MappedFile::from_bytes("fuzz.t2l", bytes.data(), n));
        for (const auto& kv : f.metadata()) fuzz::refused([&] { json::dump(meta_to_json(kv.second, kv.first)); });
        for (const T2lTensor& t : f.tensors()) FUZZ_CHECK(f.find(t.view.name) == &t.view);
        f.verify();
        for (const char* prefix : {"", "encoder."}) {
            fuzz::refused([&] {
                const Tokenizer tok = Tokenizer::from_t2l(f, prefix);
                const std::vector<int32_t> ids = tok.encode("Hello, world! Answer 12 questions.");
                tok.decode(ids);
                tok.decode(ids, true);
            });
        }
    });
    return 0;
}
