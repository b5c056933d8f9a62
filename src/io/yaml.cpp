// yaml.cpp — line-based reader for the args.yaml subset (see yaml.h).
//
// The text is split into lines (indentation counted, comments and blank lines marked), then
// read by recursive descent: a block node is a sequence ("- " lines), a mapping ("key:" lines)
// or a scalar; a node ends at the first line indented less than it. Scalar resolution copies
// PyYAML's YAML 1.1 resolver (yaml/resolver.py) rule for rule, because the reference reads
// args.yaml with yaml.safe_load and we must see the same values. Where this reader is unsure
// what PyYAML would produce, it stops with an error rather than guess.
#include "io/yaml.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "common.h"
#include "io/mapped_file.h"

namespace t2l::yaml {

namespace {

constexpr int kMaxDepth = 32;  // args.yaml nests three levels; this bounds the recursion
// args.yaml is a few KB; its parsed tree costs up to 56 bytes per byte of flow sequence.
constexpr size_t kMaxBytes = 16u << 20;

struct Line {
    int number = 0;      // 1-based, for messages
    long indent = 0;     // leading spaces
    std::string text;    // the rest of the line
    bool empty = false;  // whitespace only
    bool comment = false;  // only a comment
};

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string rtrim(const std::string& s) {
    size_t e = s.size();
    while (e > 0 && is_space(s[e - 1])) e--;
    return s.substr(0, e);
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += (char)cp;
    else if (cp < 0x800) { out += (char)(0xc0 | (cp >> 6)); out += (char)(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) {
        out += (char)(0xe0 | (cp >> 12)); out += (char)(0x80 | ((cp >> 6) & 0x3f)); out += (char)(0x80 | (cp & 0x3f));
    } else {
        out += (char)(0xf0 | (cp >> 18)); out += (char)(0x80 | ((cp >> 12) & 0x3f));
        out += (char)(0x80 | ((cp >> 6) & 0x3f)); out += (char)(0x80 | (cp & 0x3f));
    }
}

struct Parser {
    const std::string& source;
    std::vector<Line> lines;
    size_t li = 0;  // the current line

    [[noreturn]] void error_at(int line, const std::string& what) const { fail(source, ":", line, ": ", what); }
    [[noreturn]] void error(const std::string& what) const {
        error_at(li < lines.size() ? lines[li].number : (lines.empty() ? 1 : lines.back().number), what);
    }

    Parser(const std::string& text, const std::string& src) : source(src) {
        size_t pos = 0;
        if (text.compare(0, 3, "\xef\xbb\xbf") == 0) pos = 3;  // UTF-8 byte order mark
        for (int number = 1; pos < text.size(); number++) {
            size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            Line l;
            l.number = number;
            std::string raw = text.substr(pos, end - pos);
            if (!raw.empty() && raw.back() == '\r') raw.pop_back();
            size_t i = 0;
            while (i < raw.size() && raw[i] == ' ') i++;
            l.indent = (long)i;
            l.text = raw.substr(i);
            l.empty = rtrim(l.text).empty();
            l.comment = !l.empty && l.text[0] == '#';
            if (!l.empty && l.text[0] == '\t') error_at(number, "tab character in indentation (YAML indents with spaces)");
            lines.push_back(std::move(l));
            pos = end + 1;
        }
    }

    // Skip blank and comment lines; false at the end of the text.
    bool next_content() {
        while (li < lines.size() && (lines[li].empty || lines[li].comment)) li++;
        return li < lines.size();
    }
    static bool is_seq_item(const std::string& t) { return t == "-" || (t.size() >= 2 && t[0] == '-' && t[1] == ' '); }
    static bool is_doc_marker(const Line& l) {
        return l.indent == 0 && (l.text.compare(0, 3, "---") == 0 || l.text.compare(0, 3, "...") == 0) &&
               (l.text.size() == 3 || is_space(l.text[3]));
    }

    // Characters that cannot start a plain scalar (YAML indicators).
    void check_plain_start(const std::string& t, size_t i) const {
        const char c = t[i];
        const bool spaced = i + 1 >= t.size() || t[i + 1] == ' ';
        if (c == '&' || c == '*') error("anchors and aliases (& and *) are not supported");
        if (c == '!') error("tags such as '" + t.substr(i, t.find(' ', i) - i) + "' are not supported");
        if (c == '|' || c == '>') error("block scalars (| and >) are not supported");
        if (std::strchr("%@`,[]{}", c)) error(cat("unexpected '", c, "' at the start of a plain value or key"));
        if (c == '?' && spaced) error("complex keys ('? ') are not supported");
        if (c == '-' && spaced) error("a list item cannot start on this line");
    }

    // --- scalars ---------------------------------------------------------------------

    // One escape after '\' in a double-quoted scalar; returns the column after it.
    size_t escape(const std::string& t, size_t i, std::string& out) const {
        const char e = t[i];
        static const char simple_from[] = "0abt\tnvfre \"/\\";
        static const char simple_to[] = "\0\a\b\t\t\n\v\f\r\x1b \"/\\";
        if (const char* p = e ? std::strchr(simple_from, e) : nullptr) {
            out += simple_to[p - simple_from];
            return i + 1;
        }
        if (e == 'N') { append_utf8(out, 0x85); return i + 1; }
        if (e == '_') { append_utf8(out, 0xa0); return i + 1; }
        if (e == 'L') { append_utf8(out, 0x2028); return i + 1; }
        if (e == 'P') { append_utf8(out, 0x2029); return i + 1; }
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (n == 0) error(cat("unknown escape '\\", e, "' in a double-quoted string"));
        if (t.size() - i - 1 < n) error("truncated \\x/\\u/\\U escape");
        uint32_t cp = 0;
        for (size_t k = 1; k <= n; k++) {
            const char h = t[i + k];
            const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0) error("bad hex digit in an escape");
            cp = cp * 16 + (uint32_t)d;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) error("escape is not a Unicode scalar value");
        append_utf8(out, cp);
        return i + 1 + n;
    }

    // A 'single' or "double" quoted scalar starting at lines[li].text[col]; it may span lines.
    // Folding: a line break becomes a space, n empty lines become n line feeds, whitespace
    // around the break is dropped; in double quotes a '\' at the end of a line joins the
    // lines with nothing between. On return li/col are just past the closing quote.
    std::string quoted(size_t& col) {
        const char q = lines[li].text[col++];
        const int start = lines[li].number;
        std::string out;
        size_t solid = 0;  // out's length up to its last non-blank character (trailing blanks fold away)
        for (;;) {
            const std::string& t = lines[li].text;
            bool joined = false;
            while (col < t.size()) {
                const char c = t[col];
                if (c == q) {
                    if (q == '\'' && col + 1 < t.size() && t[col + 1] == '\'') {  // '' is a quote
                        out += '\'';
                        col += 2;
                        solid = out.size();
                        continue;
                    }
                    col++;
                    return out;
                }
                if (q == '"' && c == '\\') {
                    if (col + 1 == t.size()) { joined = true; break; }
                    col = escape(t, col + 1, out);
                    solid = out.size();
                    continue;
                }
                out += c;
                col++;
                if (!is_space(c)) solid = out.size();
            }
            if (!joined) out.resize(solid);
            li++;
            size_t breaks = 0;
            while (li < lines.size() && lines[li].empty) { breaks++; li++; }
            if (li >= lines.size()) error_at(start, "unterminated quoted string");
            out += breaks ? std::string(breaks, '\n') : (joined ? "" : " ");
            solid = out.size();
            col = 0;  // the next line's indentation is already stripped
        }
    }

    // One line of a plain scalar from col: up to a " #" comment, trimmed. Sets *had_comment.
    std::string plain_line(const std::string& t, size_t col, bool* had_comment) const {
        size_t i = col;
        *had_comment = false;
        for (; i < t.size(); i++) {
            if (t[i] == '#' && i > col && is_space(t[i - 1])) { *had_comment = true; break; }
            if (t[i] == ':' && (i + 1 == t.size() || is_space(t[i + 1])))
                error("': ' inside a plain value (quote the value, or check the indentation)");
        }
        return rtrim(t.substr(col, i - col));
    }

    // A plain scalar from lines[li].text[col], continued on lines indented deeper than the parent.
    json::Value plain(size_t col, long parent_indent) {
        check_plain_start(lines[li].text, col);
        const int first = lines[li].number;
        bool comment = false;
        std::string out = plain_line(lines[li].text, col, &comment);
        li++;
        size_t breaks = 0;
        while (!comment && li < lines.size()) {
            const Line& l = lines[li];
            if (l.empty) { breaks++; li++; continue; }
            if (l.indent <= parent_indent || l.comment || is_doc_marker(l)) break;
            out += breaks ? std::string(breaks, '\n') : " ";
            out += plain_line(l.text, 0, &comment);
            breaks = 0;
            li++;
        }
        return resolve(out, first);
    }

    // --- PyYAML's implicit types -----------------------------------------------------

    json::Value resolve(const std::string& s, int line) const {
        if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json::Value::null();
        for (const char* t : {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
            if (s == t) return json::Value::from_bool(true);
        for (const char* f : {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
            if (s == f) return json::Value::from_bool(false);
        if (s == "<<" || s == "=") error_at(line, "merge keys (<<) and value keys (=) are not supported");
        json::Value v;
        if (resolve_int(s, line, &v) || resolve_float(s, &v)) return v;
        if (is_timestamp(s)) error_at(line, "timestamps ('" + s + "') are not supported; quote the value");
        return json::Value::from_string(s);
    }

    // [-+]? then 0b[01_]+ | 0x[0-9a-fA-F_]+ | 0[0-7_]+ (octal) | 0 | [1-9][0-9_]*
    bool resolve_int(const std::string& s, int line, json::Value* out) const {
        size_t i = 0;
        const bool neg = s[0] == '-';
        if (s[0] == '-' || s[0] == '+') i++;
        if (i >= s.size()) return false;
        auto all_in = [&](size_t from, const char* set) {
            if (from >= s.size()) return false;
            for (size_t k = from; k < s.size(); k++)
                if (!std::strchr(set, s[k])) return false;
            return true;
        };
        unsigned base;
        size_t start;
        if (s.compare(i, 2, "0b") == 0 && all_in(i + 2, "01_")) { base = 2; start = i + 2; }
        else if (s.compare(i, 2, "0x") == 0 && all_in(i + 2, "0123456789abcdefABCDEF_")) { base = 16; start = i + 2; }
        else if (s[i] == '0' && all_in(i + 1, "01234567_")) { base = 8; start = i + 1; }
        else if (s[i] == '0' && i + 1 == s.size()) { base = 10; start = i; }
        else if (s[i] >= '1' && s[i] <= '9' && all_in(i, "0123456789_")) { base = 10; start = i; }
        else {
            // Base-60 ints and floats (1:30, 1:30.5) exist in YAML 1.1; we refuse rather than convert.
            if (is_digit(s[i]) && s.find(':') != std::string::npos && all_in(i, "0123456789_:."))
                error_at(line, "sexagesimal numbers ('" + s + "') are not supported; quote the value");
            return false;
        }
        std::string digits;
        for (size_t k = start; k < s.size(); k++)
            if (s[k] != '_') digits += s[k];
        if (digits.empty()) error_at(line, "number '" + s + "' has no digits");
        uint64_t mag = 0;
        bool fits = true;
        double approx = 0;
        for (char c : digits) {
            const unsigned d = is_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
            approx = approx * base + d;
            fits = fits && checked_mul(mag, base, &mag) && checked_add(mag, d, &mag);
        }
        const uint64_t limit = neg ? (1ull << 63) : (1ull << 63) - 1;
        if (fits && mag <= limit) {
            *out = json::Value::from_int(neg ? (int64_t)(0 - mag) : (int64_t)mag);
        } else {
            // Python ints are unbounded; past int64 we keep the nearest double.
            if (base == 10) approx = std::strtod(digits.c_str(), nullptr);  // digits only: correctly rounded
            *out = json::Value::from_double(neg ? -approx : approx);
        }
        return true;
    }

    // [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)? | [-+]?\.inf | \.nan
    static bool resolve_float(const std::string& s, json::Value* out) {
        if (s == ".nan" || s == ".NaN" || s == ".NAN") { *out = json::Value::from_double(NAN); return true; }
        const bool neg = s[0] == '-';
        const size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        const std::string r = s.substr(i);
        if (r == ".inf" || r == ".Inf" || r == ".INF") { *out = json::Value::from_double(neg ? -INFINITY : INFINITY); return true; }
        auto digits_or_underscores = [&](size_t k) { while (k < s.size() && (is_digit(s[k]) || s[k] == '_')) k++; return k; };
        size_t k = i;
        if (k < s.size() && is_digit(s[k])) {
            k = digits_or_underscores(k);
            if (k >= s.size() || s[k] != '.') return false;
            k = digits_or_underscores(k + 1);
        } else if (i == 0 && s.size() > 1 && s[0] == '.' && is_digit(s[1])) {  // PyYAML: no sign before a bare '.5'
            k = digits_or_underscores(1);
        } else {
            return false;
        }
        if (k < s.size()) {  // the exponent needs its sign in YAML 1.1
            if ((s[k] != 'e' && s[k] != 'E') || k + 2 >= s.size() || (s[k + 1] != '+' && s[k + 1] != '-')) return false;
            size_t e = k + 2;
            while (e < s.size() && is_digit(s[e])) e++;
            if (e == k + 2 || e != s.size()) return false;
        }
        std::string clean;
        for (size_t c = i; c < s.size(); c++)
            if (s[c] != '_') clean += s[c];
        double v = 0;
        const auto res = std::from_chars(clean.data(), clean.data() + clean.size(), v);
        if (res.ec != std::errc() || res.ptr != clean.data() + clean.size()) return false;
        *out = json::Value::from_double(neg ? -v : v);
        return true;
    }

    // YYYY-MM-DD, or YYYY-M-D followed by a time: PyYAML would make a datetime of it.
    static bool is_timestamp(const std::string& s) {
        size_t k = 0;
        for (; k < 4; k++)
            if (k >= s.size() || !is_digit(s[k])) return false;
        auto field = [&](size_t& p) {  // '-' then one or two digits
            if (p >= s.size() || s[p] != '-') return 0;
            size_t n = 0;
            for (p++; p < s.size() && is_digit(s[p]) && n < 2; p++) n++;
            return (int)n;
        };
        const int m = field(k), d = m ? field(k) : 0;
        if (!m || !d) return false;
        if (k == s.size()) return m == 2 && d == 2;
        return s[k] == 'T' || s[k] == 't' || is_space(s[k]);
    }

    // --- flow [ ... ] on one line ----------------------------------------------------

    json::Value flow_seq(size_t& i, int depth) {
        if (depth > kMaxDepth) error("nested deeper than 32 levels");
        const std::string& t = lines[li].text;
        json::Value arr = json::Value::new_array();
        i++;  // '['
        for (;;) {
            while (i < t.size() && t[i] == ' ') i++;
            if (i >= t.size()) error("a flow list [...] must close on the line where it opens");
            if (t[i] == ']') { i++; return arr; }
            const char c = t[i];
            if (c == '[') {
                arr.push(flow_seq(i, depth + 1));
            } else if (c == '{') {
                if (t.compare(i, 2, "{}") != 0) error("flow mappings {...} are not supported (only the empty {})");
                arr.push(json::Value::new_object());
                i += 2;
            } else if (c == '"' || c == '\'') {
                const size_t line = li;
                std::string s = quoted(i);
                if (li != line) { li = line; error("a quoted item in a flow list must close on its line"); }
                arr.push(json::Value::from_string(std::move(s)));
            } else {
                check_plain_start(t, i);
                const size_t s = i;
                while (i < t.size() && t[i] != ',' && t[i] != ']') {
                    if (t[i] == '[' || t[i] == '{' || t[i] == '}') error(cat("unexpected '", t[i], "' inside a flow list"));
                    if (t[i] == ':' && (i + 1 == t.size() || std::strchr(" ,]", t[i + 1])))
                        error("flow mappings (a: b) inside [...] are not supported");
                    if (t[i] == '#' && is_space(t[i - 1])) error("a flow list [...] must close on the line where it opens");
                    i++;
                }
                const std::string item = rtrim(t.substr(s, i - s));
                arr.push(resolve(item, lines[li].number));
            }
            while (i < t.size() && t[i] == ' ') i++;
            if (i >= t.size()) error("a flow list [...] must close on the line where it opens");
            if (t[i] == ',') { i++; continue; }
            if (t[i] == ']') { i++; return arr; }
            error("expected ',' or ']' in a flow list");
        }
    }

    // After a complete value on this line only a comment may follow; then go to the next line.
    void end_of_line(size_t col) {
        const std::string& t = lines[li].text;
        while (col < t.size() && is_space(t[col])) col++;
        if (col < t.size() && t[col] != '#') error("unexpected text after the value: '" + t.substr(col) + "'");
        li++;
    }

    // --- block structure -------------------------------------------------------------

    // A value that starts at lines[li].text[col] (after "key: " or "- ").
    json::Value value(size_t col, long parent_indent, int depth) {
        const std::string& t = lines[li].text;
        if (t[col] == '[') {
            json::Value v = flow_seq(col, depth);
            end_of_line(col);
            return v;
        }
        if (t[col] == '{') {
            if (t.compare(col, 2, "{}") != 0) error("flow mappings {...} are not supported (only the empty {})");
            end_of_line(col + 2);
            return json::Value::new_object();
        }
        if (t[col] == '"' || t[col] == '\'') {
            std::string s = quoted(col);
            end_of_line(col);
            return json::Value::from_string(std::move(s));
        }
        return plain(col, parent_indent);
    }

    // "key:" at the start of text: returns true with the key and the column after the colon.
    bool split_key(std::string* key, size_t* after) {
        const std::string& t = lines[li].text;
        if (t[0] == '"' || t[0] == '\'') {
            const size_t line = li;
            size_t col = 0;
            std::string k = quoted(col);
            const bool one_line = li == line;
            li = line;
            if (!one_line) return false;
            while (col < t.size() && t[col] == ' ') col++;
            if (col >= t.size() || t[col] != ':' || (col + 1 < t.size() && t[col + 1] != ' ')) return false;
            *key = std::move(k);
            *after = col + 1;
            return true;
        }
        for (size_t i = 0; i < t.size(); i++) {
            if (t[i] == '#' && i > 0 && is_space(t[i - 1])) return false;
            if (t[i] == ':' && (i + 1 == t.size() || t[i + 1] == ' ')) {
                *key = rtrim(t.substr(0, i));
                if (key->empty()) error("empty key");
                check_plain_start(t, 0);
                *after = i + 1;
                return true;
            }
        }
        return false;
    }

    // The node on lines[li]; parent_indent bounds where a multi-line scalar may continue.
    json::Value block(long parent_indent, int depth) {
        if (depth > kMaxDepth) error("nested deeper than 32 levels");
        std::string key;
        size_t after;
        if (is_seq_item(lines[li].text)) return sequence(lines[li].indent, depth);
        if (split_key(&key, &after)) return mapping(lines[li].indent, depth);
        return value(0, parent_indent, depth);
    }

    // The value after "key:" or "-" when nothing follows on the line: the next lines, if deeper.
    json::Value nested(long indent, int depth, bool allow_indentless_seq) {
        li++;
        if (!next_content()) return json::Value::null();
        const Line& l = lines[li];
        if (l.indent > indent && !is_doc_marker(l)) return block(indent, depth);
        // yaml.dump writes a mapping's list at the key's own indentation: "key:\n- a\n- b"
        if (allow_indentless_seq && l.indent == indent && is_seq_item(l.text)) return sequence(indent, depth);
        return json::Value::null();
    }

    json::Value mapping(long indent, int depth) {
        json::Value obj = json::Value::new_object();
        std::set<std::string> seen;
        while (next_content()) {
            const Line& l = lines[li];
            if (l.indent < indent || is_doc_marker(l)) break;
            if (l.indent > indent) error("unexpected indentation");
            std::string key;
            size_t after;
            if (!split_key(&key, &after)) {
                if (is_seq_item(l.text)) error("a list item where a 'key: value' line was expected");
                error("expected 'key: value'");
            }
            if (!seen.insert(key).second) error("duplicate key '" + key + "'");
            size_t col = after;
            while (col < l.text.size() && l.text[col] == ' ') col++;
            json::Value v = (col == l.text.size() || l.text[col] == '#') ? nested(indent, depth + 1, true)
                                                                           : value(col, indent, depth + 1);
            obj.set(key, std::move(v));
        }
        return obj;
    }

    json::Value sequence(long indent, int depth) {
        json::Value arr = json::Value::new_array();
        while (next_content()) {
            Line& l = lines[li];
            if (l.indent < indent || is_doc_marker(l)) break;
            if (l.indent > indent) error("unexpected indentation");
            if (!is_seq_item(l.text)) break;  // the end of a list written at its key's indentation
            size_t col = 1;
            while (col < l.text.size() && l.text[col] == ' ') col++;
            if (col == l.text.size() || l.text[col] == '#') {
                arr.push(nested(indent, depth + 1, false));
                continue;
            }
            // "- - x" and "- key: v": the rest of the line is a block node indented to its column.
            l.indent += (long)col;
            l.text = l.text.substr(col);
            std::string key;
            size_t after;
            const bool is_block = is_seq_item(l.text) || split_key(&key, &after);
            arr.push(is_block ? block(indent, depth + 1) : value(0, indent, depth + 1));
        }
        return arr;
    }

    json::Value document() {
        if (!next_content()) error("empty document (expected a mapping of arguments)");
        if (lines[li].indent == 0 && lines[li].text[0] == '%') error("directives (%YAML, %TAG) are not supported");
        if (is_doc_marker(lines[li])) {
            if (rtrim(lines[li].text) != "---") error("'---' must be alone on its line (or begin a second document)");
            li++;
            if (!next_content()) error("empty document (expected a mapping of arguments)");
        }
        const int first = lines[li].number;
        json::Value root = block(-1, 0);
        if (!root.is_object()) error_at(first, "the top level is not a mapping of 'key: value' lines");
        if (next_content()) {
            const Line& l = lines[li];
            if (is_doc_marker(l) && l.text[0] == '.') {
                li++;
                if (next_content()) error("text after the end of the document ('...')");
            } else if (is_doc_marker(l)) {
                error("a second YAML document ('---') is not supported");
            } else {
                error("unexpected indentation");
            }
        }
        return root;
    }
};

}  // namespace

json::Value parse(const std::string& text, const std::string& source) {
    if (text.size() > kMaxBytes) fail(source, ": ", text.size(), " bytes is more than a config file (limit ", kMaxBytes, ")");
    Parser p(text, source);
    return p.document();
}

json::Value load_file(const std::string& path) {
    const MappedFile f(path);  // mapped first, so an oversized file is refused before it is copied
    if (f.size() > kMaxBytes) fail(path, ": ", f.size(), " bytes is more than a config file (limit ", kMaxBytes, ")");
    return parse(std::string((const char*)f.data(), (size_t)f.size()), path);
}

}  // namespace t2l::yaml
