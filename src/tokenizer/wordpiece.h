// wordpiece.h — the WordPiece model of tokenizer.json (BERT, gte): one pre-token in, ids out.
//
// Greedy longest-match-first: take the longest vocabulary entry that starts the word, then
// the longest "##"-prefixed entry that continues it, and so on. A word with a part no entry
// matches, or longer than max_input_chars_per_word characters, becomes the single unk token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/json.h"

namespace t2l::tok {

struct WordPieceModel {
    std::unordered_map<std::string, int32_t> vocab;
    std::vector<std::string> id_to_token;  // "" for ids the vocabulary does not use
    std::string unk_token = "[UNK]";
    std::string continuing_subword_prefix = "##";
    size_t max_input_chars_per_word = 100;

    // Appends the ids of one pre-token (non-empty, valid UTF-8).
    void encode(std::string_view word, std::vector<int32_t>& out) const;
};

WordPieceModel parse_wordpiece(const json::Value& model, const std::string& where);

}  // namespace t2l::tok
