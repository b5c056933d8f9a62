// fuzz_tokenizer_spm.cpp — SentencePiece BPE (Gemma, Mistral, Metaspace) on arbitrary bytes.
#include "tokenizer_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto toks = fuzz::load_tokenizers({"spm_gemma", "spm_mistral", "spm_metaspace"});
    fuzz::run_tokenizer(toks, data, size);
    return 0;
}
