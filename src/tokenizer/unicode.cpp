// unicode.cpp — UTF-8 helpers, character classes and normalization (see unicode.h).
#include "tokenizer/unicode.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "common.h"
#include "tokenizer/unicode_tables.h"

namespace t2l::unicode {

namespace tb = tables;

// ---- UTF-8 ----------------------------------------------------------------------------------

namespace {

// Length of the valid sequence starting at s[i], or 0 when it is invalid; *consumed gets the
// length of the maximal subpart (the bytes that one U+FFFD replaces) in the invalid case.
size_t valid_sequence_length(std::string_view s, size_t i, size_t* consumed) {
    const auto byte = [&](size_t k) { return (unsigned char)s[k]; };
    unsigned char b0 = byte(i);
    *consumed = 1;
    if (b0 < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 2;
    else if (b0 == 0xE0) need = 3, lo = 0xA0;       // no overlong 3-byte forms
    else if (b0 == 0xED) need = 3, hi = 0x9F;       // no surrogates
    else if (b0 >= 0xE1 && b0 <= 0xEF) need = 3;
    else if (b0 == 0xF0) need = 4, lo = 0x90;       // no overlong 4-byte forms
    else if (b0 == 0xF4) need = 4, hi = 0x8F;       // nothing past U+10FFFF
    else if (b0 >= 0xF1 && b0 <= 0xF3) need = 4;
    else return 0;                                  // 0x80..0xC1, 0xF5..0xFF never start a sequence
    for (size_t k = 1; k < need; k++) {
        if (i + k >= s.size()) { *consumed = k; return 0; }
        unsigned char b = byte(i + k);
        bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) { *consumed = k; return 0; }
    }
    return need;
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
    size_t i = 0, consumed = 0;
    while (i < s.size()) {
        if ((unsigned char)s[i] < 0x80) { i++; continue; }
        size_t n = valid_sequence_length(s, i, &consumed);
        if (n == 0) return i;
        i += n;
    }
    return std::string_view::npos;
}

void check_utf8(std::string_view s, const std::string& what) {
    size_t bad = find_invalid_utf8(s);
    if (bad == std::string_view::npos) return;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", (unsigned)(unsigned char)s[bad]);
    fail(what, ": invalid UTF-8 at byte ", bad, " (", hex, "); the text must be UTF-8");
}

std::string utf8_lossy(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0, consumed = 0;
    while (i < s.size()) {
        size_t n = valid_sequence_length(s, i, &consumed);
        if (n) {
            out.append(s.data() + i, n);
            i += n;
        } else {
            append_utf8(out, kReplacementChar);
            i += consumed;
        }
    }
    return out;
}

size_t utf8_complete_prefix(std::string_view s) {
    // Only the last 3 bytes can belong to an unfinished sequence.
    size_t start = s.size() > 3 ? s.size() - 3 : 0;
    for (size_t i = start; i < s.size(); i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0xC2 || b > 0xF4) continue;  // not a lead byte
        size_t consumed = 0;
        if (valid_sequence_length(s, i, &consumed) == 0 && i + consumed == s.size()) return i;
    }
    return s.size();
}

char32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
    unsigned char b0 = (unsigned char)s[i];
    if (b0 < 0x80) { *len = 1; return b0; }
    if (b0 < 0xE0) { *len = 2; return ((char32_t)(b0 & 0x1F) << 6) | (s[i + 1] & 0x3F); }
    if (b0 < 0xF0) {
        *len = 3;
        return ((char32_t)(b0 & 0x0F) << 12) | ((char32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    }
    *len = 4;
    return ((char32_t)(b0 & 0x07) << 18) | ((char32_t)(s[i + 1] & 0x3F) << 12) | ((char32_t)(s[i + 2] & 0x3F) << 6) |
           (s[i + 3] & 0x3F);
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += (char)cp;
    } else if (cp < 0x800) {
        out += (char)(0xC0 | (cp >> 6));
        out += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char)(0xE0 | (cp >> 12));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    } else {
        out += (char)(0xF0 | (cp >> 18));
        out += (char)(0x80 | ((cp >> 12) & 0x3F));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    }
}

std::u32string to_u32(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t len = 0;
    for (size_t i = 0; i < s.size(); i += len) out += decode_utf8(s, i, &len);
    return out;
}

std::string to_utf8(std::u32string_view cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t c : cps) append_utf8(out, c);
    return out;
}

// ---- Character classes ----------------------------------------------------------------------

namespace {

uint8_t flags_by_search(char32_t c) {
    const tb::FlagRange* begin = tb::kFlagRanges;
    const tb::FlagRange* end = tb::kFlagRanges + tb::kFlagRangeCount;
    const tb::FlagRange* it = std::upper_bound(begin, end, c, [](char32_t v, const tb::FlagRange& r) { return v < r.first; });
    if (it == begin) return 0;
    --it;
    return c <= it->last ? it->flags : 0;
}

// The Basic Multilingual Plane is looked up directly (64 KiB, built once); the rest of the
// code space by binary search over the ranges.
const uint8_t* bmp_flags() {
    static const std::vector<uint8_t> table = [] {
        std::vector<uint8_t> t(0x10000, 0);
        for (size_t i = 0; i < tb::kFlagRangeCount; i++) {
            const tb::FlagRange& r = tb::kFlagRanges[i];
            for (char32_t c = r.first; c <= r.last && c < 0x10000; c++) t[c] = r.flags;
        }
        return t;
    }();
    return table.data();
}

inline uint8_t flags_of(char32_t c) { return c < 0x10000 ? bmp_flags()[c] : flags_by_search(c); }

}  // namespace

bool is_letter(char32_t c) { return flags_of(c) & tb::kLetter; }
bool is_number(char32_t c) { return flags_of(c) & tb::kNumber; }
bool is_whitespace(char32_t c) { return flags_of(c) & tb::kWhiteSpace; }
bool is_word(char32_t c) { return flags_of(c) & tb::kWord; }
bool is_bert_punctuation(char32_t c) { return flags_of(c) & tb::kBertPunct; }
bool is_bert_control(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;  // control characters BERT treats as whitespace
    return flags_of(c) & tb::kBertOther;
}
bool is_bert_nonspacing_mark(char32_t c) { return flags_of(c) & tb::kBertNonspacing; }
bool is_combining_mark(char32_t c) { return flags_of(c) & tb::kCombiningMark9; }

bool is_cjk_ideograph(char32_t c) {
    // "CJK Unified Ideographs" and extensions A-E plus the compatibility blocks, as BERT lists
    // them (Hangul, Hiragana and Katakana are not in the list on purpose).
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_python_space(char32_t c) {
    // White_Space plus the information separators U+001C..U+001F, which Python also strips.
    return is_whitespace(c) || (c >= 0x1C && c <= 0x1F);
}

// ---- Case ------------------------------------------------------------------------------------

void append_lowercase(std::u32string& out, char32_t c) {
    if (c < 0x80) {
        out += (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return;
    }
    for (size_t i = 0; i < tb::kLowercaseSpecialCount; i++) {
        const tb::MultiMapping& m = tb::kLowercaseSpecial[i];
        if (m.from == c) {
            out.append(m.to, m.count);
            return;
        }
    }
    const tb::CaseMapping* begin = tb::kLowercase;
    const tb::CaseMapping* end = tb::kLowercase + tb::kLowercaseCount;
    const tb::CaseMapping* it =
        std::lower_bound(begin, end, c, [](const tb::CaseMapping& m, char32_t v) { return m.from < v; });
    out += (it != end && it->from == c) ? it->to : c;
}

std::u32string lowercase(std::u32string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (char32_t c : s) append_lowercase(out, c);
    return out;
}

// ---- Normalization (UAX #15) -------------------------------------------------------------------

namespace {

// Hangul syllables decompose and compose by arithmetic, not by table.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t c) {
    if (c < 0x300) return 0;
    const tb::CombiningRange* begin = tb::kCombiningClasses;
    const tb::CombiningRange* end = tb::kCombiningClasses + tb::kCombiningClassCount;
    const tb::CombiningRange* it =
        std::upper_bound(begin, end, c, [](char32_t v, const tb::CombiningRange& r) { return v < r.first; });
    if (it == begin) return 0;
    --it;
    return c <= it->last ? it->ccc : 0;
}

void append_decomposed(std::u32string& out, char32_t c, bool compat) {
    if (c >= kSBase && c < kSBase + (char32_t)kSCount) {
        int s = (int)(c - kSBase);
        out += kLBase + s / kNCount;
        out += kVBase + (s % kNCount) / kTCount;
        if (s % kTCount) out += kTBase + s % kTCount;
        return;
    }
    if (c < 0xA0) {  // nothing below U+00A0 decomposes
        out += c;
        return;
    }
    const tb::Decomposition* begin = tb::kDecompositions;
    const tb::Decomposition* end = tb::kDecompositions + tb::kDecompositionCount;
    const tb::Decomposition* it =
        std::lower_bound(begin, end, c, [](const tb::Decomposition& d, char32_t v) { return d.cp < v; });
    const tb::Decomposition* use = nullptr;
    for (; it != end && it->cp == c; ++it) {
        if (!it->compat) use = it;        // canonical: used by both forms unless a compat entry follows
        else if (compat) use = it;        // compatibility entry wins for NFKD
    }
    if (!use) {
        out += c;
        return;
    }
    out.append(tb::kDecompositionPool + use->offset, use->length);
}

// Canonical ordering: within each run of non-starters, a stable sort by combining class.
void canonical_order(std::u32string& s) {
    size_t i = 0;
    while (i < s.size()) {
        if (combining_class(s[i]) == 0) { i++; continue; }
        size_t j = i;
        while (j < s.size() && combining_class(s[j]) != 0) j++;
        std::stable_sort(s.begin() + (ptrdiff_t)i, s.begin() + (ptrdiff_t)j,
                         [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
        i = j;
    }
}

std::u32string decompose(std::u32string_view s, bool compat) {
    std::u32string out;
    out.reserve(s.size());
    for (char32_t c : s) append_decomposed(out, c, compat);
    canonical_order(out);
    return out;
}

// The primary composite of (a, b), or 0.
char32_t compose_pair(char32_t a, char32_t b) {
    if (a >= kLBase && a < kLBase + (char32_t)kLCount && b >= kVBase && b < kVBase + (char32_t)kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + (char32_t)kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
        b < kTBase + (char32_t)kTCount)
        return a + (b - kTBase);
    const tb::Composition* begin = tb::kCompositions;
    const tb::Composition* end = tb::kCompositions + tb::kCompositionCount;
    const tb::Composition* it = std::lower_bound(begin, end, std::make_pair(a, b), [](const tb::Composition& c, std::pair<char32_t, char32_t> v) {
        return c.first < v.first || (c.first == v.first && c.second < v.second);
    });
    return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

// Canonical composition of a decomposed string (the algorithm of UAX #15's sample code).
std::u32string compose(std::u32string s) {
    if (s.empty()) return s;
    size_t starter_pos = 0, out = 1;
    int last_class = combining_class(s[0]) ? 256 : 0;  // a leading non-starter blocks everything
    for (size_t i = 1; i < s.size(); i++) {
        char32_t c = s[i];
        int cls = combining_class(c);
        char32_t composite = compose_pair(s[starter_pos], c);
        if (composite && (last_class < cls || last_class == 0)) {
            s[starter_pos] = composite;
            continue;
        }
        if (cls == 0) starter_pos = out;
        last_class = cls;
        s[out++] = c;
    }
    s.resize(out);
    return s;
}

}  // namespace

std::u32string nfd(std::u32string_view s) { return decompose(s, false); }
std::u32string nfkd(std::u32string_view s) { return decompose(s, true); }
std::u32string nfc(std::u32string_view s) { return compose(decompose(s, false)); }
std::u32string nfkc(std::u32string_view s) { return compose(decompose(s, true)); }

}  // namespace t2l::unicode
