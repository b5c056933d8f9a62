// normalizers.cpp — tokenizer.json normalizers (see normalizers.h).
#include "tokenizer/normalizers.h"

#include "common.h"
#include "tokenizer/unicode.h"

namespace t2l::tok {

namespace {

bool optional_bool(const json::Value& v, const char* key, bool def, const std::string& where) {
    const json::Value* f = v.find(key);
    if (!f || f->is_null()) return def;
    if (!f->is_bool()) fail(where, ": '", key, "' must be true or false");
    return f->boolean;
}

const std::string& string_field(const json::Value& v, const char* key, const std::string& where) {
    const json::Value* f = v.find(key);
    if (!f || !f->is_string()) fail(where, ": '", key, "' must be a string");
    return f->string;
}

// Replace patterns are {"String": "..."} or {"Regex": "..."}; only literal strings are supported.
std::string literal_pattern(const json::Value& v, const std::string& where) {
    const json::Value* p = v.find("pattern");
    if (!p || !p->is_object()) fail(where, ": 'pattern' must be an object");
    if (const json::Value* s = p->find("String")) {
        if (!s->is_string() || s->string.empty()) fail(where, ": pattern 'String' must be a non-empty string");
        return s->string;
    }
    if (const json::Value* r = p->find("Regex"))
        fail(where, ": Replace with a Regex pattern (", r->is_string() ? r->string : "?", ") is not supported");
    fail(where, ": 'pattern' must hold 'String' or 'Regex'");
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    if (text.find(from) == std::string::npos) return;
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(text, pos, hit - pos);
        out += to;
    }
    out.append(text, pos, std::string::npos);
    text.swap(out);
}

bool all_ascii(const std::string& s) {
    for (char c : s)
        if ((unsigned char)c >= 0x80) return false;
    return true;
}

// BERT's cleanup, in the order BertNormalizer applies it.
void bert_normalize(const Normalizer& n, std::string& text) {
    std::u32string s = unicode::to_u32(text), t;
    t.reserve(s.size());
    if (n.clean_text) {
        // Drop NUL, U+FFFD and control/format/private-use characters; whitespace becomes ' '.
        for (char32_t c : s) {
            if (c == 0 || c == unicode::kReplacementChar || unicode::is_bert_control(c)) continue;
            t += unicode::is_whitespace(c) ? U' ' : c;
        }
        s.swap(t);
        t.clear();
    }
    if (n.handle_chinese_chars) {
        // Each CJK ideograph becomes a word of its own.
        for (char32_t c : s) {
            if (unicode::is_cjk_ideograph(c)) { t += U' '; t += c; t += U' '; }
            else t += c;
        }
        s.swap(t);
        t.clear();
    }
    if (n.strip_accents) {
        // NFD splits accented letters into base + combining mark; the marks (Mn) are dropped.
        for (char32_t c : unicode::nfd(s))
            if (!unicode::is_bert_nonspacing_mark(c)) t += c;
        s.swap(t);
        t.clear();
    }
    if (n.lowercase) s = unicode::lowercase(s);
    text = unicode::to_utf8(s);
}

}  // namespace

Normalizer parse_normalizer(const json::Value& v, const std::string& where) {
    if (!v.is_object()) fail(where, ": expected an object");
    const std::string& type = string_field(v, "type", where);
    const std::string here = where + " (" + type + ")";
    Normalizer n;
    if (type == "Sequence") {
        n.kind = Normalizer::Kind::Sequence;
        const json::Value* list = v.find("normalizers");
        if (!list || !list->is_array()) fail(here, ": 'normalizers' must be an array");
        for (size_t i = 0; i < list->array.size(); i++)
            n.children.push_back(parse_normalizer(list->array[i], cat(where, "[", i, "]")));
    } else if (type == "Replace") {
        n.kind = Normalizer::Kind::Replace;
        n.pattern = literal_pattern(v, here);
        n.content = string_field(v, "content", here);
    } else if (type == "Prepend") {
        n.kind = Normalizer::Kind::Prepend;
        n.content = string_field(v, "prepend", here);
    } else if (type == "Lowercase") {
        n.kind = Normalizer::Kind::Lowercase;
    } else if (type == "NFD") {
        n.kind = Normalizer::Kind::NFD;
    } else if (type == "NFKD") {
        n.kind = Normalizer::Kind::NFKD;
    } else if (type == "NFC") {
        n.kind = Normalizer::Kind::NFC;
    } else if (type == "NFKC") {
        n.kind = Normalizer::Kind::NFKC;
    } else if (type == "StripAccents") {
        n.kind = Normalizer::Kind::StripAccents;
    } else if (type == "Strip") {
        n.kind = Normalizer::Kind::Strip;
        n.strip_left = optional_bool(v, "strip_left", true, here);
        n.strip_right = optional_bool(v, "strip_right", true, here);
    } else if (type == "BertNormalizer") {
        n.kind = Normalizer::Kind::Bert;
        n.clean_text = optional_bool(v, "clean_text", true, here);
        n.handle_chinese_chars = optional_bool(v, "handle_chinese_chars", true, here);
        n.lowercase = optional_bool(v, "lowercase", true, here);
        // strip_accents: null means "follow lowercase" (the uncased BERT models strip accents).
        n.strip_accents = optional_bool(v, "strip_accents", n.lowercase, here);
    } else {
        fail(where, ": normalizer type '", type, "' is not supported");
    }
    return n;
}

void normalize(const Normalizer& n, std::string& text) {
    using K = Normalizer::Kind;
    switch (n.kind) {
        case K::Sequence:
            for (const Normalizer& c : n.children) normalize(c, text);
            return;
        case K::Replace: replace_all(text, n.pattern, n.content); return;
        case K::Prepend:
            if (!text.empty()) text.insert(0, n.content);  // an empty piece stays empty
            return;
        case K::Lowercase:
            if (all_ascii(text)) {
                for (char& c : text)
                    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
            } else {
                text = unicode::to_utf8(unicode::lowercase(unicode::to_u32(text)));
            }
            return;
        case K::NFD:
        case K::NFKD:
        case K::NFC:
        case K::NFKC: {
            if (all_ascii(text)) return;  // ASCII is invariant under all four forms
            std::u32string s = unicode::to_u32(text);
            s = n.kind == K::NFD ? unicode::nfd(s) : n.kind == K::NFKD ? unicode::nfkd(s)
                : n.kind == K::NFC ? unicode::nfc(s) : unicode::nfkc(s);
            text = unicode::to_utf8(s);
            return;
        }
        case K::StripAccents: {
            // Drops combining marks as they stand: the file puts an NFD before it when wanted.
            std::u32string out;
            for (char32_t c : unicode::to_u32(text))
                if (!unicode::is_combining_mark(c)) out += c;
            text = unicode::to_utf8(out);
            return;
        }
        case K::Strip: {
            std::u32string s = unicode::to_u32(text);
            size_t b = 0, e = s.size();
            if (n.strip_left)
                while (b < e && unicode::is_whitespace(s[b])) b++;
            if (n.strip_right)
                while (e > b && unicode::is_whitespace(s[e - 1])) e--;
            text = unicode::to_utf8(std::u32string_view(s).substr(b, e - b));
            return;
        }
        case K::Bert: bert_normalize(n, text); return;
    }
}

}  // namespace t2l::tok
