// split_patterns.cpp — hand-written matchers for the Llama-3 and GPT-2 split patterns.
//
// A backtracking engine tries the alternatives of a pattern in order at each position and
// takes the first that matches; each function below does the same, alternative by
// alternative, with a comment quoting the alternative it implements. Classes: L = \p{L},
// N = \p{N}, S = \s (White_Space); "other" = none of L, N, S.
#include "tokenizer/split_patterns.h"

#include "tokenizer/unicode.h"

namespace t2l::tok {

namespace {

const char kLlama3Pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
const char kGpt2Pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// The text as code points with the byte offset of each (plus one past the end).
struct Chars {
    std::u32string cp;
    std::vector<size_t> at;
    explicit Chars(std::string_view text) {
        size_t len = 0;
        for (size_t i = 0; i < text.size(); i += len) {
            cp += unicode::decode_utf8(text, i, &len);
            at.push_back(i);
        }
        at.push_back(text.size());
    }
    size_t size() const { return cp.size(); }
    bool letter(size_t i) const { return i < cp.size() && unicode::is_letter(cp[i]); }
    bool number(size_t i) const { return i < cp.size() && unicode::is_number(cp[i]); }
    bool space(size_t i) const { return i < cp.size() && unicode::is_whitespace(cp[i]); }
    bool other(size_t i) const { return i < cp.size() && !letter(i) && !number(i) && !space(i); }
    bool newline(size_t i) const { return i < cp.size() && (cp[i] == '\r' || cp[i] == '\n'); }
    bool is(size_t i, char32_t c) const { return i < cp.size() && cp[i] == c; }
    // End of the run of characters from i that satisfy pred.
    template <typename Pred>
    size_t run(size_t i, Pred pred) const {
        while (i < cp.size() && pred(i)) i++;
        return i;
    }
};

// Case-insensitive ASCII letter test as Oniguruma folds it: "(?i:s)" also matches U+017F
// LATIN SMALL LETTER LONG S, whose case folding is "s". No other letter of the contractions
// has a non-ASCII fold.
bool folds_to(char32_t c, char lower) {
    if (c == (char32_t)lower || c == (char32_t)(lower - 32)) return true;
    return lower == 's' && c == 0x17F;
}

// 's|'t|'re|'ve|'m|'ll|'d (case-insensitive for Llama 3): length in characters, or 0.
size_t contraction(const Chars& t, size_t i, bool ignore_case) {
    if (!t.is(i, '\'') || i + 1 >= t.size()) return 0;
    auto eq = [&](size_t k, char c) {
        if (k >= t.size()) return false;
        return ignore_case ? folds_to(t.cp[k], c) : t.cp[k] == (char32_t)c;
    };
    if (eq(i + 1, 's') || eq(i + 1, 't')) return 2;
    if ((eq(i + 1, 'r') || eq(i + 1, 'v')) && eq(i + 2, 'e')) return 3;
    if (eq(i + 1, 'm')) return 2;
    if (eq(i + 1, 'l') && eq(i + 2, 'l')) return 3;
    if (eq(i + 1, 'd')) return 2;
    return 0;
}

// \s+(?!\S): a whitespace run, minus its last character when a non-space follows it
// (that character then starts the next piece, e.g. the space of " word"). 0 if no match.
size_t spaces_not_before_nonspace(const Chars& t, size_t i) {
    size_t end = t.run(i, [&](size_t k) { return t.space(k); });
    if (end == i) return 0;
    if (end == t.size()) return end - i;
    return end - 1 > i ? end - 1 - i : 0;
}

// Length in characters of the Llama-3 match at i (always >= 1).
size_t llama3_match(const Chars& t, size_t i) {
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (size_t n = contraction(t, i, true)) return n;
    // [^\r\n\p{L}\p{N}]?\p{L}+  (the optional character is tried first, then left out)
    if (!t.newline(i) && !t.letter(i) && !t.number(i) && t.letter(i + 1))
        return t.run(i + 1, [&](size_t k) { return t.letter(k); }) - i;
    if (t.letter(i)) return t.run(i, [&](size_t k) { return t.letter(k); }) - i;
    // \p{N}{1,3}
    if (t.number(i)) {
        size_t end = i;
        while (end < i + 3 && t.number(end)) end++;
        return end - i;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    size_t start = (t.is(i, ' ') && t.other(i + 1)) ? i + 1 : i;
    if (t.other(start)) {
        size_t end = t.run(start, [&](size_t k) { return t.other(k); });
        end = t.run(end, [&](size_t k) { return t.newline(k); });
        return end - i;
    }
    // \s*[\r\n]+  (\s* backs off to the last newline of the whitespace run; [\r\n]+ takes it)
    if (t.space(i)) {
        size_t end = t.run(i, [&](size_t k) { return t.space(k); });
        for (size_t k = end; k > i; k--)
            if (t.newline(k - 1)) return k - i;
    }
    // \s+(?!\S)
    if (size_t n = spaces_not_before_nonspace(t, i)) return n;
    // \s+
    if (t.space(i)) return t.run(i, [&](size_t k) { return t.space(k); }) - i;
    return 1;  // unreachable: every character is L, N, S or other
}

// Length in characters of the GPT-2 match at i (always >= 1).
size_t gpt2_match(const Chars& t, size_t i) {
    // 's|'t|'re|'ve|'m|'ll|'d
    if (size_t n = contraction(t, i, false)) return n;
    //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
    auto optional_space_then = [&](auto pred) -> size_t {
        size_t start = (t.is(i, ' ') && pred(i + 1)) ? i + 1 : i;
        if (!pred(start)) return 0;
        return t.run(start, pred) - i;
    };
    if (size_t n = optional_space_then([&](size_t k) { return t.letter(k); })) return n;
    if (size_t n = optional_space_then([&](size_t k) { return t.number(k); })) return n;
    if (size_t n = optional_space_then([&](size_t k) { return t.other(k); })) return n;
    // \s+(?!\S)
    if (size_t n = spaces_not_before_nonspace(t, i)) return n;
    // \s+
    if (t.space(i)) return t.run(i, [&](size_t k) { return t.space(k); }) - i;
    return 1;
}

}  // namespace

bool recognise_split_pattern(const std::string& pattern, SplitPatternKind* kind) {
    if (pattern == kLlama3Pattern) { *kind = SplitPatternKind::Llama3; return true; }
    if (pattern == kGpt2Pattern) { *kind = SplitPatternKind::Gpt2; return true; }
    return false;
}

const char* split_pattern_text(SplitPatternKind kind) {
    return kind == SplitPatternKind::Llama3 ? kLlama3Pattern : kGpt2Pattern;
}

std::vector<ByteRange> find_pattern_matches(SplitPatternKind kind, std::string_view text) {
    Chars t(text);
    std::vector<ByteRange> out;
    for (size_t i = 0; i < t.size();) {
        size_t n = kind == SplitPatternKind::Llama3 ? llama3_match(t, i) : gpt2_match(t, i);
        out.emplace_back(t.at[i], t.at[i + n]);
        i += n;
    }
    return out;
}

}  // namespace t2l::tok
