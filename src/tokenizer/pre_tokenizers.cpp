// pre_tokenizers.cpp — tokenizer.json pre-tokenizers (see pre_tokenizers.h).
//
// Every splitter works the same way: find the delimiters ("matches") in a piece, label the
// rest as non-matches, then let the SplitBehavior decide which runs become pieces.
#include "tokenizer/pre_tokenizers.h"

#include <array>

#include "common.h"
#include "tokenizer/unicode.h"

namespace t2l::tok {

namespace {

struct Segment {
    size_t begin, end;
    bool is_match;
};

// Segments for a per-character predicate: each matching character is a match of its own,
// the characters between matches form one non-match.
template <typename Pred>
std::vector<Segment> char_segments(const std::string& s, Pred is_delim) {
    std::vector<Segment> out;
    size_t last = 0, len = 0;
    for (size_t i = 0; i < s.size(); i += len) {
        char32_t c = unicode::decode_utf8(s, i, &len);
        if (!is_delim(c)) continue;
        if (last < i) out.push_back({last, i, false});
        out.push_back({i, i + len, true});
        last = i + len;
    }
    if (last < s.size()) out.push_back({last, s.size(), false});
    return out;
}

// Segments from sorted, non-overlapping match ranges.
std::vector<Segment> range_segments(const std::string& s, const std::vector<ByteRange>& matches) {
    std::vector<Segment> out;
    size_t last = 0;
    for (const ByteRange& m : matches) {
        if (last < m.first) out.push_back({last, m.first, false});
        out.push_back({m.first, m.second, true});
        last = m.second;
    }
    if (last < s.size()) out.push_back({last, s.size(), false});
    return out;
}

std::vector<ByteRange> literal_matches(const std::string& s, const std::string& lit) {
    std::vector<ByteRange> out;
    for (size_t pos = 0, hit; (hit = s.find(lit, pos)) != std::string::npos; pos = hit + lit.size())
        out.emplace_back(hit, hit + lit.size());
    return out;
}

// Regex \w+|[^\w\s]+ (the Whitespace pre-tokenizer keeps these runs and drops the rest).
std::vector<ByteRange> word_or_symbol_runs(const std::string& s) {
    std::vector<ByteRange> out;
    size_t len = 0;
    for (size_t i = 0; i < s.size();) {
        char32_t c = unicode::decode_utf8(s, i, &len);
        if (unicode::is_whitespace(c) && !unicode::is_word(c)) { i += len; continue; }
        bool word = unicode::is_word(c);
        size_t j = i + len;
        while (j < s.size()) {
            char32_t d = unicode::decode_utf8(s, j, &len);
            bool same = word ? unicode::is_word(d) : (!unicode::is_word(d) && !unicode::is_whitespace(d));
            if (!same) break;
            j += len;
        }
        out.emplace_back(i, j);
        i = j;
    }
    return out;
}

// Which byte ranges become pieces; mirrors NormalizedString::split in `tokenizers`.
std::vector<ByteRange> apply_behavior(std::vector<Segment> segs, SplitBehavior behavior) {
    std::vector<ByteRange> out;
    switch (behavior) {
        case SplitBehavior::Isolated:
            for (const Segment& s : segs) out.emplace_back(s.begin, s.end);
            break;
        case SplitBehavior::Removed:
            for (const Segment& s : segs)
                if (!s.is_match) out.emplace_back(s.begin, s.end);
            break;
        case SplitBehavior::Contiguous: {
            // Neighbouring segments of the same kind fuse (e.g. "123" of single digits).
            bool prev = false;
            for (const Segment& s : segs) {
                if (s.is_match == prev && !out.empty()) out.back().second = s.end;
                else out.emplace_back(s.begin, s.end);
                prev = s.is_match;
            }
            break;
        }
        case SplitBehavior::MergedWithPrevious: {
            bool prev = false;
            for (const Segment& s : segs) {
                if (s.is_match && !prev && !out.empty()) out.back().second = s.end;
                else out.emplace_back(s.begin, s.end);
                prev = s.is_match;
            }
            break;
        }
        case SplitBehavior::MergedWithNext: {
            // The same from the right: a delimiter joins the piece after it.
            bool prev = false;
            std::vector<ByteRange> rev;
            for (size_t i = segs.size(); i-- > 0;) {
                const Segment& s = segs[i];
                if (s.is_match && !prev && !rev.empty()) rev.back().first = s.begin;
                else rev.emplace_back(s.begin, s.end);
                prev = s.is_match;
            }
            out.assign(rev.rbegin(), rev.rend());
            break;
        }
    }
    return out;
}

// Replace `piece` by its sub-pieces (empty ones dropped) in `out`.
void emit_split(const PreToken& piece, std::vector<Segment> segs, SplitBehavior behavior, bool invert,
                std::vector<PreToken>& out) {
    if (invert)
        for (Segment& s : segs) s.is_match = !s.is_match;
    for (const ByteRange& r : apply_behavior(std::move(segs), behavior)) {
        if (r.first >= r.second) continue;
        PreToken t;
        t.text = piece.text.substr(r.first, r.second - r.first);
        t.at_input_start = piece.at_input_start && r.first == 0;
        out.push_back(std::move(t));
    }
}

// Apply fn(piece, out) to every piece that is not an added token.
template <typename Fn>
void for_each_piece(std::vector<PreToken>& pieces, Fn fn) {
    std::vector<PreToken> out;
    out.reserve(pieces.size());
    for (PreToken& p : pieces) {
        if (p.added_id >= 0) out.push_back(std::move(p));
        else if (!p.text.empty()) fn(p, out);
    }
    pieces.swap(out);
}

const std::array<char32_t, 256>& byte_chars() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; b++) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[b] = printable ? (char32_t)b : next++;
        }
        return t;
    }();
    return table;
}

std::string byte_level_encode(const std::string& s) {
    std::string out;
    out.reserve(s.size() * 2);
    for (unsigned char b : s) unicode::append_utf8(out, byte_to_char(b));
    return out;
}

char32_t single_char(const std::string& s, const std::string& where, const char* key) {
    std::u32string cps = unicode::to_u32(s);
    if (cps.size() != 1) fail(where, ": '", key, "' must be exactly one character");
    return cps[0];
}

bool optional_bool(const json::Value& v, const char* key, bool def, const std::string& where) {
    const json::Value* f = v.find(key);
    if (!f || f->is_null()) return def;
    if (!f->is_bool()) fail(where, ": '", key, "' must be true or false");
    return f->boolean;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return byte_chars()[b]; }

int char_to_byte(char32_t c) {
    if (c < 0x100) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        return printable ? (int)c : -1;
    }
    if (c >= 0x100 + 68) return -1;  // 68 non-printable bytes map to U+0100..U+0143
    static const std::array<int, 68> inverse = [] {
        std::array<int, 68> t{};
        for (int b = 0; b < 256; b++)
            if (byte_chars()[b] >= 0x100) t[byte_chars()[b] - 0x100] = b;
        return t;
    }();
    return inverse[c - 0x100];
}

SplitBehavior parse_split_behavior(const json::Value* v, SplitBehavior def, const std::string& where) {
    if (!v || v->is_null()) return def;
    if (!v->is_string()) fail(where, ": 'behavior' must be a string");
    const std::string& b = v->string;
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    fail(where, ": unknown split behavior '", b, "'");
}

PreTokenizer parse_pre_tokenizer(const json::Value& v, const std::string& where) {
    if (!v.is_object()) fail(where, ": expected an object");
    const json::Value* type_v = v.find("type");
    if (!type_v || !type_v->is_string()) fail(where, ": 'type' must be a string");
    const std::string& type = type_v->string;
    const std::string here = where + " (" + type + ")";
    PreTokenizer p;
    using K = PreTokenizer::Kind;
    if (type == "Sequence") {
        p.kind = K::Sequence;
        const json::Value* list = v.find("pretokenizers");
        if (!list || !list->is_array()) fail(here, ": 'pretokenizers' must be an array");
        for (size_t i = 0; i < list->array.size(); i++)
            p.children.push_back(parse_pre_tokenizer(list->array[i], cat(where, "[", i, "]")));
    } else if (type == "Split") {
        const json::Value* pat = v.find("pattern");
        if (!pat || !pat->is_object()) fail(here, ": 'pattern' must be an object");
        if (const json::Value* s = pat->find("String")) {
            if (!s->is_string() || s->string.empty()) fail(here, ": pattern 'String' must be a non-empty string");
            p.kind = K::SplitLiteral;
            p.literal = s->string;
        } else if (const json::Value* r = pat->find("Regex")) {
            if (!r->is_string()) fail(here, ": pattern 'Regex' must be a string");
            p.kind = K::SplitPattern;
            if (!recognise_split_pattern(r->string, &p.pattern))
                fail(here, ": regex ", json::dump(*r),
                     " is not supported (only the Llama-3 and GPT-2 split patterns are implemented)");
        } else {
            fail(here, ": 'pattern' must hold 'String' or 'Regex'");
        }
        p.behavior = parse_split_behavior(v.find("behavior"), SplitBehavior::Isolated, here);
        p.invert = optional_bool(v, "invert", false, here);
    } else if (type == "ByteLevel") {
        p.kind = K::ByteLevel;
        p.add_prefix_space = optional_bool(v, "add_prefix_space", true, here);
        p.use_regex = optional_bool(v, "use_regex", true, here);
    } else if (type == "Metaspace") {
        p.kind = K::Metaspace;
        const json::Value* r = v.find("replacement");
        if (!r || !r->is_string()) fail(here, ": 'replacement' must be a string");
        p.replacement = single_char(r->string, here, "replacement");
        p.prepend_scheme = PrependScheme::Always;
        if (const json::Value* s = v.find("prepend_scheme"); s && !s->is_null()) {
            if (!s->is_string()) fail(here, ": 'prepend_scheme' must be a string");
            if (s->string == "always") p.prepend_scheme = PrependScheme::Always;
            else if (s->string == "first") p.prepend_scheme = PrependScheme::First;
            else if (s->string == "never") p.prepend_scheme = PrependScheme::Never;
            else fail(here, ": unknown prepend_scheme '", s->string, "'");
        }
        // Older files say add_prefix_space: false instead of prepend_scheme: "never".
        if (!optional_bool(v, "add_prefix_space", true, here)) p.prepend_scheme = PrependScheme::Never;
        p.split = optional_bool(v, "split", true, here);
    } else if (type == "BertPreTokenizer") {
        p.kind = K::Bert;
    } else if (type == "Whitespace") {
        p.kind = K::Whitespace;
    } else if (type == "WhitespaceSplit") {
        p.kind = K::WhitespaceSplit;
    } else if (type == "Punctuation") {
        p.kind = K::Punctuation;
        p.behavior = parse_split_behavior(v.find("behavior"), SplitBehavior::Isolated, here);
    } else if (type == "Digits") {
        p.kind = K::Digits;
        p.individual_digits = optional_bool(v, "individual_digits", false, here);
    } else if (type == "CharDelimiterSplit") {
        p.kind = K::CharDelimiter;
        const json::Value* d = v.find("delimiter");
        if (!d || !d->is_string()) fail(here, ": 'delimiter' must be a string");
        p.replacement = single_char(d->string, here, "delimiter");
    } else {
        fail(where, ": pre-tokenizer type '", type, "' is not supported");
    }
    return p;
}

void pre_tokenize(const PreTokenizer& p, std::vector<PreToken>& pieces) {
    using K = PreTokenizer::Kind;
    switch (p.kind) {
        case K::Sequence:
            for (const PreTokenizer& c : p.children) pre_tokenize(c, pieces);
            return;
        case K::SplitLiteral:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, range_segments(t.text, literal_matches(t.text, p.literal)), p.behavior, p.invert, out);
            });
            return;
        case K::SplitPattern:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, range_segments(t.text, find_pattern_matches(p.pattern, t.text)), p.behavior, p.invert,
                           out);
            });
            return;
        case K::ByteLevel:
            for_each_piece(pieces, [&](PreToken& t, std::vector<PreToken>& out) {
                // Every piece gets the space, not only the first: that is what the reference does.
                if (p.add_prefix_space && t.text[0] != ' ') t.text.insert(0, 1, ' ');
                size_t first = out.size();
                if (p.use_regex)
                    emit_split(t, range_segments(t.text, find_pattern_matches(SplitPatternKind::Gpt2, t.text)),
                               SplitBehavior::Isolated, false, out);
                else
                    out.push_back(t);
                for (size_t i = first; i < out.size(); i++) out[i].text = byte_level_encode(out[i].text);
            });
            return;
        case K::Metaspace: {
            std::string rep;
            unicode::append_utf8(rep, p.replacement);
            for_each_piece(pieces, [&](PreToken& t, std::vector<PreToken>& out) {
                std::string s;
                s.reserve(t.text.size() + 8);
                for (char c : t.text) {
                    if (c == ' ') s += rep;
                    else s += c;
                }
                bool starts = s.compare(0, rep.size(), rep) == 0;
                if (!starts && (p.prepend_scheme == PrependScheme::Always ||
                                (p.prepend_scheme == PrependScheme::First && t.at_input_start)))
                    s.insert(0, rep);
                t.text = std::move(s);
                if (!p.split) {
                    out.push_back(t);
                    return;
                }
                emit_split(t, char_segments(t.text, [&](char32_t c) { return c == p.replacement; }),
                           SplitBehavior::MergedWithNext, false, out);
            });
            return;
        }
        case K::Bert:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, unicode::is_whitespace), SplitBehavior::Removed, false, out);
            });
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, unicode::is_bert_punctuation), SplitBehavior::Isolated, false, out);
            });
            return;
        case K::Whitespace:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, range_segments(t.text, word_or_symbol_runs(t.text)), SplitBehavior::Removed, true, out);
            });
            return;
        case K::WhitespaceSplit:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, unicode::is_whitespace), SplitBehavior::Removed, false, out);
            });
            return;
        case K::Punctuation:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, unicode::is_bert_punctuation), p.behavior, false, out);
            });
            return;
        case K::Digits:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, unicode::is_number),
                           p.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false, out);
            });
            return;
        case K::CharDelimiter:
            for_each_piece(pieces, [&](const PreToken& t, std::vector<PreToken>& out) {
                emit_split(t, char_segments(t.text, [&](char32_t c) { return c == p.replacement; }),
                           SplitBehavior::Removed, false, out);
            });
            return;
    }
}

}  // namespace t2l::tok
