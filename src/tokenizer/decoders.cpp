// decoders.cpp — tokenizer.json decoders (see decoders.h).
#include "tokenizer/decoders.h"

#include "common.h"
#include "tokenizer/unicode.h"

namespace t2l::tok {

namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    if (from.empty() || text.find(from) == std::string::npos) return;
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(text, pos, hit - pos);
        out += to;
    }
    out.append(text, pos, std::string::npos);
    text.swap(out);
}

// "<0xNN>" -> NN, or -1.
int byte_token_value(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

// Byte-level tokens back to bytes, then bytes to text (invalid UTF-8 -> U+FFFD).
std::vector<std::string> decode_byte_level(const std::vector<std::string>& tokens) {
    std::string bytes;
    for (const std::string& t : tokens) {
        size_t start = bytes.size(), len = 0;
        bool all = true;
        for (size_t i = 0; i < t.size() && all; i += len) {
            int b = char_to_byte(unicode::decode_utf8(t, i, &len));
            if (b < 0) all = false;
            else bytes += (char)b;
        }
        // A token with characters outside the byte alphabet (an added token, say) stays as is.
        if (!all) bytes.replace(start, std::string::npos, t);
    }
    return {unicode::utf8_lossy(bytes)};
}

// Runs of <0xNN> tokens become their bytes when those are valid UTF-8; otherwise each byte
// becomes one U+FFFD (as `tokenizers` does).
std::vector<std::string> decode_byte_fallback(const std::vector<std::string>& tokens) {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&]() {
        if (pending.empty()) return;
        if (unicode::find_invalid_utf8(pending) == std::string::npos) {
            out.push_back(pending);
        } else {
            for (size_t i = 0; i < pending.size(); i++) out.push_back("\xEF\xBF\xBD");
        }
        pending.clear();
    };
    for (const std::string& t : tokens) {
        int b = byte_token_value(t);
        if (b >= 0) {
            pending += (char)b;
            continue;
        }
        flush();
        out.push_back(t);
    }
    flush();
    return out;
}

// The WordPiece decoder's cleanup: no space before punctuation and in English contractions.
std::string wordpiece_cleanup(std::string s) {
    static const char* const kPairs[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (const auto& p : kPairs) replace_all(s, p[0], p[1]);
    return s;
}

std::string strip_token(const std::string& token, char32_t c, size_t start, size_t stop) {
    std::u32string s = unicode::to_u32(token);
    size_t begin = 0, end = s.size();
    for (size_t i = 0; i < start && i < s.size() && s[i] == c; i++) begin = i + 1;
    for (size_t i = 0; i < stop && i < s.size() && s[s.size() - 1 - i] == c; i++) end = s.size() - 1 - i;
    if (end < begin) end = begin;
    return unicode::to_utf8(std::u32string_view(s).substr(begin, end - begin));
}

const std::string& string_field(const json::Value& v, const char* key, const std::string& where) {
    const json::Value* f = v.find(key);
    if (!f || !f->is_string()) fail(where, ": '", key, "' must be a string");
    return f->string;
}

char32_t single_char(const json::Value& v, const char* key, const std::string& where) {
    std::u32string cps = unicode::to_u32(string_field(v, key, where));
    if (cps.size() != 1) fail(where, ": '", key, "' must be exactly one character");
    return cps[0];
}

size_t count_field(const json::Value& v, const char* key, const std::string& where) {
    const json::Value* f = v.find(key);
    if (!f || !f->is_number() || !f->is_integer || f->integer < 0) fail(where, ": '", key, "' must be a non-negative integer");
    return (size_t)f->integer;
}

}  // namespace

Decoder parse_decoder(const json::Value& v, const std::string& where) {
    if (!v.is_object()) fail(where, ": expected an object");
    const std::string& type = string_field(v, "type", where);
    const std::string here = where + " (" + type + ")";
    Decoder d;
    using K = Decoder::Kind;
    if (type == "Sequence") {
        d.kind = K::Sequence;
        const json::Value* list = v.find("decoders");
        if (!list || !list->is_array()) fail(here, ": 'decoders' must be an array");
        for (size_t i = 0; i < list->array.size(); i++)
            d.children.push_back(parse_decoder(list->array[i], cat(where, "[", i, "]")));
    } else if (type == "ByteLevel") {
        d.kind = K::ByteLevel;
    } else if (type == "Metaspace") {
        d.kind = K::Metaspace;
        d.replacement = single_char(v, "replacement", here);
        if (const json::Value* s = v.find("prepend_scheme"); s && s->is_string()) {
            if (s->string == "always") d.prepend_scheme = PrependScheme::Always;
            else if (s->string == "first") d.prepend_scheme = PrependScheme::First;
            else if (s->string == "never") d.prepend_scheme = PrependScheme::Never;
            else fail(here, ": unknown prepend_scheme '", s->string, "'");
        }
        if (const json::Value* a = v.find("add_prefix_space"); a && a->is_bool() && !a->boolean)
            d.prepend_scheme = PrependScheme::Never;
    } else if (type == "WordPiece") {
        d.kind = K::WordPiece;
        if (v.find("prefix")) d.prefix = string_field(v, "prefix", here);
        if (const json::Value* c = v.find("cleanup"); c && c->is_bool()) d.cleanup = c->boolean;
    } else if (type == "BPEDecoder") {
        d.kind = K::Bpe;
        if (v.find("suffix")) d.suffix = string_field(v, "suffix", here);
    } else if (type == "Replace") {
        d.kind = K::Replace;
        const json::Value* p = v.find("pattern");
        const json::Value* s = p && p->is_object() ? p->find("String") : nullptr;
        if (!s || !s->is_string() || s->string.empty())
            fail(here, ": only a non-empty literal {\"String\": ...} pattern is supported");
        d.pattern = s->string;
        d.content = string_field(v, "content", here);
    } else if (type == "ByteFallback") {
        d.kind = K::ByteFallback;
    } else if (type == "Fuse") {
        d.kind = K::Fuse;
    } else if (type == "Strip") {
        d.kind = K::Strip;
        d.strip_char = single_char(v, "content", here);
        d.strip_start = count_field(v, "start", here);
        d.strip_stop = count_field(v, "stop", here);
    } else {
        fail(where, ": decoder type '", type, "' is not supported");
    }
    return d;
}

std::vector<std::string> decode_chain(const Decoder& d, std::vector<std::string> tokens) {
    using K = Decoder::Kind;
    switch (d.kind) {
        case K::Sequence:
            for (const Decoder& c : d.children) tokens = decode_chain(c, std::move(tokens));
            return tokens;
        case K::ByteLevel: return decode_byte_level(tokens);
        case K::Metaspace:
            for (size_t i = 0; i < tokens.size(); i++) {
                // The first token's "▁" is the prefix the encoder added: it disappears.
                bool drop = i == 0 && d.prepend_scheme != PrependScheme::Never;
                std::string out;
                size_t len = 0;
                for (size_t k = 0; k < tokens[i].size(); k += len) {
                    char32_t c = unicode::decode_utf8(tokens[i], k, &len);
                    if (c != d.replacement) out.append(tokens[i], k, len);
                    else if (!drop) out += ' ';
                }
                tokens[i] = std::move(out);
            }
            return tokens;
        case K::WordPiece:
            for (size_t i = 0; i < tokens.size(); i++) {
                std::string& t = tokens[i];
                if (i != 0) {
                    if (t.compare(0, d.prefix.size(), d.prefix) == 0) t.erase(0, d.prefix.size());
                    else t.insert(0, 1, ' ');
                }
                if (d.cleanup) t = wordpiece_cleanup(std::move(t));
            }
            return tokens;
        case K::Bpe:
            for (size_t i = 0; i < tokens.size(); i++) replace_all(tokens[i], d.suffix, i + 1 == tokens.size() ? "" : " ");
            return tokens;
        case K::Replace:
            for (std::string& t : tokens) replace_all(t, d.pattern, d.content);
            return tokens;
        case K::ByteFallback: return decode_byte_fallback(tokens);
        case K::Fuse: {
            std::string all;
            for (const std::string& t : tokens) all += t;
            return {all};
        }
        case K::Strip:
            for (std::string& t : tokens) t = strip_token(t, d.strip_char, d.strip_start, d.strip_stop);
            return tokens;
    }
    return tokens;
}

}  // namespace t2l::tok
