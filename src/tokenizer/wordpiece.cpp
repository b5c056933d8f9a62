// wordpiece.cpp — WordPiece model (see wordpiece.h).
#include "tokenizer/wordpiece.h"

#include <algorithm>
#include <cstdint>

#include "common.h"

namespace t2l::tok {

void WordPieceModel::encode(std::string_view word, std::vector<int32_t>& out) const {
    auto unk = [&]() {
        auto it = vocab.find(unk_token);
        if (it == vocab.end()) fail("tokenizer.json model (WordPiece): unk_token '", unk_token, "' is not in the vocabulary");
        out.push_back(it->second);
    };
    size_t n_chars = 0;
    for (unsigned char c : word) n_chars += (c & 0xC0) != 0x80;
    if (n_chars > max_input_chars_per_word) return unk();

    std::vector<int32_t> pieces;
    std::string key;
    size_t start = 0;
    while (start < word.size()) {
        // Longest match: shrink the candidate one character at a time from the right.
        size_t end = word.size();
        int32_t found = -1;
        while (start < end) {
            key.assign(start > 0 ? continuing_subword_prefix : std::string());
            key.append(word.substr(start, end - start));
            auto it = vocab.find(key);
            if (it != vocab.end()) {
                found = it->second;
                break;
            }
            do end--;
            while (end > start && ((unsigned char)word[end] & 0xC0) == 0x80);
        }
        if (found < 0) return unk();  // one unmatched part makes the whole word unknown
        pieces.push_back(found);
        start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
}

WordPieceModel parse_wordpiece(const json::Value& v, const std::string& where) {
    WordPieceModel m;
    if (const json::Value* u = v.find("unk_token")) {
        if (!u->is_string()) fail(where, ": 'unk_token' must be a string");
        m.unk_token = u->string;
    }
    if (const json::Value* p = v.find("continuing_subword_prefix")) {
        if (!p->is_string()) fail(where, ": 'continuing_subword_prefix' must be a string");
        m.continuing_subword_prefix = p->string;
    }
    if (const json::Value* x = v.find("max_input_chars_per_word")) {
        if (!x->is_number() || !x->is_integer || x->integer < 0)
            fail(where, ": 'max_input_chars_per_word' must be a non-negative integer");
        m.max_input_chars_per_word = (size_t)x->integer;
    }
    const json::Value* vocab = v.find("vocab");
    if (!vocab || !vocab->is_object()) fail(where, ": 'vocab' must be an object {token: id}");
    m.vocab.reserve(vocab->object.size() * 2);
    int32_t max_id = -1;
    for (const auto& kv : vocab->object) {
        if (!kv.second.is_number() || !kv.second.is_integer || kv.second.integer < 0 || kv.second.integer > INT32_MAX)
            fail(where, ": vocab id of '", kv.first, "' must be a non-negative integer");
        m.vocab[kv.first] = (int32_t)kv.second.integer;
        max_id = std::max(max_id, (int32_t)kv.second.integer);
    }
    m.id_to_token.assign((size_t)(max_id + 1), std::string());
    for (const auto& kv : m.vocab) m.id_to_token[(size_t)kv.second] = kv.first;
    return m;
}

}  // namespace t2l::tok
