// json.cpp — recursive-descent JSON parser and writer (see json.h).
#include "io/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "common.h"

namespace t2l::json {

Value Value::from_bool(bool b) { Value v; v.type = Type::Bool; v.boolean = b; return v; }
Value Value::from_int(int64_t i) {
    Value v; v.type = Type::Number; v.integer = i; v.number = (double)i; v.is_integer = true; return v;
}
Value Value::from_double(double d) { Value v; v.type = Type::Number; v.number = d; return v; }
Value Value::from_string(std::string s) { Value v; v.type = Type::String; v.string = std::move(s); return v; }
Value Value::new_array() { Value v; v.type = Type::Array; return v; }
Value Value::new_object() { Value v; v.type = Type::Object; return v; }

const Value* Value::find(const std::string& key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& kv : object)
        if (kv.first == key) return &kv.second;
    return nullptr;
}
Value* Value::find(const std::string& key) { return const_cast<Value*>(static_cast<const Value*>(this)->find(key)); }

const Value& Value::at(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail("missing key '", key, "'");
    return *v;
}
int64_t Value::as_int() const {
    if (type == Type::Number && is_integer) return integer;
    if (type == Type::Number && std::nearbyint(number) == number && std::fabs(number) < 9.0e18) return (int64_t)number;
    fail("expected an integer");
}
double Value::as_double() const {
    if (type != Type::Number) fail("expected a number");
    return number;
}
bool Value::as_bool() const {
    if (type != Type::Bool) fail("expected true or false");
    return boolean;
}
const std::string& Value::as_string() const {
    if (type != Type::String) fail("expected a string");
    return string;
}
Value& Value::set(const std::string& key, Value v) {
    if (type != Type::Object) fail("set on a non-object");
    if (Value* old = find(key)) { *old = std::move(v); return *old; }
    object.emplace_back(key, std::move(v));
    return object.back().second;
}
Value& Value::push(Value v) {
    if (type != Type::Array) fail("push on a non-array");
    array.push_back(std::move(v));
    return array.back();
}

namespace {

constexpr int kMaxDepth = 512;  // deeper nesting is certainly not a config file; avoids stack exhaustion

struct Parser {
    const char* s;
    size_t n;
    size_t pos = 0;
    const std::string& source;
    size_t max_values, values = 0;

    [[noreturn]] void error(const char* what) { fail(source, ": invalid JSON at byte ", pos, ": ", what); }

    void skip_ws() {
        while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) pos++;
    }
    bool consume(const char* lit) {
        size_t len = std::strlen(lit);
        if (n - pos >= len && std::memcmp(s + pos, lit, len) == 0) { pos += len; return true; }
        return false;
    }

    Value parse_value(int depth) {
        if (depth > kMaxDepth) error("nesting too deep");
        if (++values > max_values) fail(source, ": JSON document has more than ", max_values, " values (memory limit)");
        skip_ws();
        if (pos >= n) error("unexpected end of input");
        char c = s[pos];
        if (c == '{') return parse_object(depth);
        if (c == '[') return parse_array(depth);
        if (c == '"') return Value::from_string(parse_string());
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        if (consume("true")) return Value::from_bool(true);
        if (consume("false")) return Value::from_bool(false);
        if (consume("null")) return Value::null();
        error("unexpected character");
    }

    Value parse_object(int depth) {
        Value v = Value::new_object();
        pos++;  // '{'
        skip_ws();
        if (pos < n && s[pos] == '}') { pos++; return v; }
        // Duplicate keys: the last one wins, as in Python's json module. An index keeps this
        // linear for the 100k-key vocabularies of tokenizer.json.
        std::unordered_map<std::string, size_t> index;
        for (;;) {
            skip_ws();
            if (pos >= n || s[pos] != '"') error("expected a string key");
            std::string key = parse_string();
            skip_ws();
            if (pos >= n || s[pos] != ':') error("expected ':'");
            pos++;
            Value item = parse_value(depth + 1);
            auto it = index.find(key);
            if (it != index.end()) {
                v.object[it->second].second = std::move(item);
            } else {
                index.emplace(key, v.object.size());
                v.object.emplace_back(std::move(key), std::move(item));
            }
            skip_ws();
            if (pos < n && s[pos] == ',') { pos++; continue; }
            if (pos < n && s[pos] == '}') { pos++; return v; }
            error("expected ',' or '}'");
        }
    }

    Value parse_array(int depth) {
        Value v = Value::new_array();
        pos++;  // '['
        skip_ws();
        if (pos < n && s[pos] == ']') { pos++; return v; }
        for (;;) {
            v.array.push_back(parse_value(depth + 1));
            skip_ws();
            if (pos < n && s[pos] == ',') { pos++; continue; }
            if (pos < n && s[pos] == ']') { pos++; return v; }
            error("expected ',' or ']'");
        }
    }

    uint32_t parse_hex4() {
        if (n - pos < 4) error("truncated \\u escape");
        uint32_t u = 0;
        for (int i = 0; i < 4; i++) {
            char c = s[pos++];
            u <<= 4;
            if (c >= '0' && c <= '9') u |= (uint32_t)(c - '0');
            else if (c >= 'a' && c <= 'f') u |= (uint32_t)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') u |= (uint32_t)(c - 'A' + 10);
            else error("bad hex digit in \\u escape");
        }
        return u;
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) out += (char)cp;
        else if (cp < 0x800) { out += (char)(0xc0 | (cp >> 6)); out += (char)(0x80 | (cp & 0x3f)); }
        else if (cp < 0x10000) {
            out += (char)(0xe0 | (cp >> 12)); out += (char)(0x80 | ((cp >> 6) & 0x3f)); out += (char)(0x80 | (cp & 0x3f));
        } else {
            out += (char)(0xf0 | (cp >> 18)); out += (char)(0x80 | ((cp >> 12) & 0x3f));
            out += (char)(0x80 | ((cp >> 6) & 0x3f)); out += (char)(0x80 | (cp & 0x3f));
        }
    }

    std::string parse_string() {
        pos++;  // opening quote
        std::string out;
        for (;;) {
            if (pos >= n) error("unterminated string");
            unsigned char c = (unsigned char)s[pos++];
            if (c == '"') return out;
            if (c < 0x20) error("control character in string");
            if (c != '\\') { out += (char)c; continue; }
            if (pos >= n) error("unterminated escape");
            char e = s[pos++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = parse_hex4();
                    if (cp >= 0xd800 && cp < 0xdc00) {
                        // A high surrogate must pair with a following low one.
                        if (n - pos >= 6 && s[pos] == '\\' && s[pos + 1] == 'u') {
                            size_t save = pos;
                            pos += 2;
                            uint32_t lo = parse_hex4();
                            if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                            else { pos = save; cp = 0xfffd; }
                        } else {
                            cp = 0xfffd;  // lone surrogate: replaced, as Python's decoders with errors='replace'
                        }
                    } else if (cp >= 0xdc00 && cp < 0xe000) {
                        cp = 0xfffd;
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: error("unknown escape");
            }
        }
    }

    Value parse_number() {
        size_t start = pos;
        bool integral = true;
        if (s[pos] == '-') pos++;
        if (pos >= n || !(s[pos] >= '0' && s[pos] <= '9')) error("bad number");
        if (s[pos] == '0') pos++;
        else while (pos < n && s[pos] >= '0' && s[pos] <= '9') pos++;
        if (pos < n && s[pos] == '.') {
            integral = false;
            pos++;
            if (pos >= n || !(s[pos] >= '0' && s[pos] <= '9')) error("bad fraction");
            while (pos < n && s[pos] >= '0' && s[pos] <= '9') pos++;
        }
        if (pos < n && (s[pos] == 'e' || s[pos] == 'E')) {
            integral = false;
            pos++;
            if (pos < n && (s[pos] == '+' || s[pos] == '-')) pos++;
            if (pos >= n || !(s[pos] >= '0' && s[pos] <= '9')) error("bad exponent");
            while (pos < n && s[pos] >= '0' && s[pos] <= '9') pos++;
        }
        std::string lit(s + start, pos - start);
        Value v;
        v.type = Type::Number;
        v.number = std::strtod(lit.c_str(), nullptr);
        if (integral) {
            errno = 0;
            long long i = std::strtoll(lit.c_str(), nullptr, 10);
            if (errno == 0) { v.integer = i; v.is_integer = true; }
        }
        return v;
    }
};

void dump_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += (char)c;  // UTF-8 passes through unchanged
                }
        }
    }
    out += '"';
}

void dump_number(std::string& out, const Value& v) {
    char buf[40];
    if (v.is_integer) std::snprintf(buf, sizeof buf, "%lld", (long long)v.integer);
    else if (!std::isfinite(v.number)) std::snprintf(buf, sizeof buf, "null");  // JSON has no inf/nan
    else {
        // Shortest form that reads back to the same double.
        for (int prec = 1; prec <= 17; prec++) {
            std::snprintf(buf, sizeof buf, "%.*g", prec, v.number);
            if (std::strtod(buf, nullptr) == v.number) break;
        }
        // Keep it a float literal so it reads back as non-integer.
        if (!std::strpbrk(buf, ".eEn")) std::strncat(buf, ".0", sizeof buf - std::strlen(buf) - 1);
    }
    out += buf;
}

void dump_value(std::string& out, const Value& v, int indent, int level) {
    auto newline = [&](int lvl) {
        if (indent < 0) return;
        out += '\n';
        out.append((size_t)(indent * lvl), ' ');
    };
    switch (v.type) {
        case Type::Null: out += "null"; break;
        case Type::Bool: out += v.boolean ? "true" : "false"; break;
        case Type::Number: dump_number(out, v); break;
        case Type::String: dump_string(out, v.string); break;
        case Type::Array:
            out += '[';
            for (size_t i = 0; i < v.array.size(); i++) {
                if (i) out += ',';
                newline(level + 1);
                dump_value(out, v.array[i], indent, level + 1);
            }
            if (!v.array.empty()) newline(level);
            out += ']';
            break;
        case Type::Object:
            out += '{';
            for (size_t i = 0; i < v.object.size(); i++) {
                if (i) out += ',';
                newline(level + 1);
                dump_string(out, v.object[i].first);
                out += indent < 0 ? ":" : ": ";
                dump_value(out, v.object[i].second, indent, level + 1);
            }
            if (!v.object.empty()) newline(level);
            out += '}';
            break;
    }
}

}  // namespace

Value parse(const std::string& text, const std::string& source, size_t max_values) {
    Parser p{text.data(), text.size(), 0, source, max_values};
    Value v = p.parse_value(0);
    p.skip_ws();
    if (p.pos != p.n) p.error("trailing characters after the value");
    return v;
}

std::string dump(const Value& v, int indent) {
    std::string out;
    dump_value(out, v, indent, 0);
    return out;
}

}  // namespace t2l::json
