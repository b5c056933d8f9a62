// fuzz_tokenizer_bpe.cpp — byte-level BPE (Llama 3) on arbitrary bytes (tokenizer_harness.h).
#include "tokenizer_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto toks = fuzz::load_tokenizers({"llama3_bpe"});
    fuzz::run_tokenizer(toks, data, size);
    return 0;
}
