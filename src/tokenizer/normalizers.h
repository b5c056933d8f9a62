// normalizers.h — the "normalizer" stage of a tokenizer.json pipeline: text -> text.
//
// Built from the JSON object of tokenizer.json; applied to each piece of the input that is not
// an added token (Hugging Face normalizes pieces separately, so a Prepend runs once per piece).
// Supported types: Sequence, Replace (literal pattern), Prepend, Lowercase, NFD, NFKD, NFC,
// NFKC, StripAccents, Strip, BertNormalizer. Any other type is an Error naming it.
#pragma once

#include <string>
#include <vector>

#include "io/json.h"

namespace t2l::tok {

struct Normalizer {
    enum class Kind { Sequence, Replace, Prepend, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip, Bert };
    Kind kind = Kind::Sequence;
    std::vector<Normalizer> children;  // Sequence
    std::string pattern;               // Replace: the literal text to find
    std::string content;               // Replace: its replacement; Prepend: the prefix
    bool strip_left = false, strip_right = false;  // Strip
    // BertNormalizer
    bool clean_text = true, handle_chinese_chars = true, strip_accents = false, lowercase = true;
};

// `where` names the file/field in errors ("tokenizer.json normalizer").
Normalizer parse_normalizer(const json::Value& v, const std::string& where);
void normalize(const Normalizer& n, std::string& text);  // text: valid UTF-8

}  // namespace t2l::tok
