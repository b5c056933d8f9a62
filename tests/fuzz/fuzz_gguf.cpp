// fuzz_gguf.cpp — the GGUF container from memory: key/values, tensor infos, offsets; every
// sized tensor is read, small quantised ones are dequantised, and the tokenizer keys go
// through the converter's GGUF -> tokenizer.json step and into a Tokenizer.
#include <vector>

#include "convert/gguf_import.h"
#include "fuzz_util.h"
#include "io/gguf.h"
#include "io/gguf_quant.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    fuzz::refused([&] {
        const GgufFile g(MappedFile::from_bytes("fuzz.gguf", data, size));
        for (const auto& kv : g.kv()) FUZZ_CHECK(g.find(kv.first) != nullptr);
        for (const GgufTensorInfo& t : g.tensors()) {
            FUZZ_CHECK(g.find_tensor(t.name) == &t);
            if (!t.data) continue;
            fuzz::touch(t.data, t.nbytes);
            GgmlTypeInfo info;
            uint64_t numel = 1;
            for (uint64_t d : t.ne) numel *= d;  // the reader checked the product fits
            if (ggml_type_info(t.type, &info) && info.dequantizable && numel <= (1u << 16)) {
                std::vector<float> out((size_t)numel);
                dequantize_ggml(t.type, t.data, out.data(), (size_t)numel);
            }
        }
        fuzz::refused([&] {
            const GgufTokenizerFiles files = gguf_tokenizer_to_hf(g);
            const Tokenizer tok = Tokenizer::from_json(files.tokenizer_json, files.tokenizer_config, "fuzz.gguf tokenizer");
            tok.decode(tok.encode("Hello, world! 12 questions."));
        });
    });
    return 0;
}
