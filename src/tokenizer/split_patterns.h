// split_patterns.h — the two regular expressions byte-level BPE tokenizers split text with,
// written out by hand (no regex engine): the Llama-3 pattern and the GPT-2 pattern.
//
// Each function returns the matches a backtracking regex engine (Oniguruma, what Hugging Face
// `tokenizers` uses) finds scanning valid UTF-8 text left to right: byte ranges [begin, end),
// in order, non-overlapping. Both patterns match every character, so the matches tile the text.
// recognise_split_pattern() maps a pattern string from tokenizer.json to one of them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace t2l::tok {

enum class SplitPatternKind {
    Llama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
};

using ByteRange = std::pair<size_t, size_t>;

// Which hand-written splitter implements `pattern`; false for any other pattern.
bool recognise_split_pattern(const std::string& pattern, SplitPatternKind* kind);
const char* split_pattern_text(SplitPatternKind kind);

std::vector<ByteRange> find_pattern_matches(SplitPatternKind kind, std::string_view text);

}  // namespace t2l::tok
