// bpe.h — the BPE model of tokenizer.json: one pre-token in, token ids out.
//
// Both flavours the target models use are this one model with different options:
//   byte-level BPE (Llama 3): pre-tokens are already byte-level characters (pre_tokenizers.h),
//     ignore_merges = true;
//   SentencePiece-style BPE (Llama 2, Mistral, Gemma): pre-tokens are raw text with "▁" for
//     spaces, byte_fallback = true (unknown characters become <0xNN> byte tokens), fuse_unk.
// Merging follows `tokenizers` exactly: the pair with the lowest merge rank merges first,
// the leftmost one among equal ranks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/json.h"

namespace t2l::tok {

struct BpeModel {
    std::unordered_map<std::string, int32_t> vocab;
    std::vector<std::string> id_to_token;  // "" for ids the vocabulary does not use
    struct Merge {
        uint32_t rank;
        int32_t result;  // id of the merged token
    };
    std::unordered_map<uint64_t, Merge> merges;  // key: (left id << 32) | right id
    std::string unk_token;            // empty: none (unknown characters are then dropped)
    std::string continuing_subword_prefix, end_of_word_suffix;
    bool fuse_unk = false;            // consecutive unknown characters become one unk token
    bool byte_fallback = false;       // unknown characters become their UTF-8 bytes as <0xNN> tokens
    // A pre-token found whole in the vocabulary is one id, without merging. Llama 3 needs it:
    // its vocabulary holds words its merge list cannot build.
    bool ignore_merges = false;
    int32_t byte_token[256];          // id of "<0xNN>", or -1

    // Appends the ids of one pre-token (non-empty, valid UTF-8).
    void encode(std::string_view word, std::vector<int32_t>& out) const;
};

BpeModel parse_bpe(const json::Value& model, const std::string& where);

}  // namespace t2l::tok
