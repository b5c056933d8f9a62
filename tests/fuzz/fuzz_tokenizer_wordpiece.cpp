// fuzz_tokenizer_wordpiece.cpp — WordPiece (BERT / gte) on arbitrary bytes (tokenizer_harness.h).
#include "tokenizer_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto toks = fuzz::load_tokenizers({"bert_wordpiece"});
    fuzz::run_tokenizer(toks, data, size);
    return 0;
}
