// unicode.h — UTF-8 helpers and the Unicode character properties the tokenizers need.
//
// Contract: strings are std::string holding UTF-8. Functions that take "valid" text assume
// it passed check_utf8 (the tokenizer checks its input once, at the door). Property tests
// answer exactly what Hugging Face `tokenizers` answers for every code point assigned in
// Unicode 15.0 (the tables are generated from the UCD by tools/gen_unicode_tables.py; code
// points first assigned in Unicode 16.0 count as unassigned here).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace t2l::unicode {

constexpr char32_t kReplacementChar = 0xFFFD;  // U+FFFD, what invalid bytes decode to

// ---- UTF-8 ----------------------------------------------------------------------------------
// Byte offset of the first invalid sequence (overlong forms, surrogates and code points past
// U+10FFFF are invalid, as in Rust's str), or npos when the whole string is valid.
size_t find_invalid_utf8(std::string_view s);
// Throws Error("<what>: invalid UTF-8 at byte N (0xXX)") unless s is valid.
void check_utf8(std::string_view s, const std::string& what);
// Lossy decode: every maximal invalid subpart becomes one U+FFFD (the substitution Rust's
// String::from_utf8_lossy and Python's bytes.decode(errors="replace") both make).
std::string utf8_lossy(std::string_view bytes);
// Length of the longest prefix that ends on a character boundary and leaves out only an
// incomplete-but-still-possible sequence at the end (what a stream must hold back).
size_t utf8_complete_prefix(std::string_view bytes);

// Decode the character at s[i] of valid text; *len gets its byte length.
char32_t decode_utf8(std::string_view s, size_t i, size_t* len);
void append_utf8(std::string& out, char32_t cp);
std::u32string to_u32(std::string_view valid);
std::string to_utf8(std::u32string_view cps);

// ---- Character classes ----------------------------------------------------------------------
bool is_letter(char32_t c);       // \p{L}
bool is_number(char32_t c);       // \p{N}; Rust char::is_numeric
bool is_whitespace(char32_t c);   // \s; Rust char::is_whitespace (White_Space)
bool is_word(char32_t c);         // regex \w
bool is_bert_punctuation(char32_t c);  // ASCII punctuation or P* (Unicode 8.0 tables)
bool is_bert_control(char32_t c);      // Cc/Cf/Co (Unicode 8.0) except \t \n \r
bool is_bert_nonspacing_mark(char32_t c);  // Mn (Unicode 8.0)
bool is_combining_mark(char32_t c);        // M* (Unicode 9.0)
bool is_cjk_ideograph(char32_t c);     // the CJK blocks BERT puts spaces around
bool is_python_space(char32_t c);      // Python's str.isspace (what Jinja's trim strips)

// ---- Case and normalization -----------------------------------------------------------------
// Full lowercase mapping of one character (Rust char::to_lowercase: U+0130 gives two).
void append_lowercase(std::u32string& out, char32_t c);
std::u32string lowercase(std::u32string_view s);
std::u32string nfd(std::u32string_view s);
std::u32string nfkd(std::u32string_view s);
std::u32string nfc(std::u32string_view s);
std::u32string nfkc(std::u32string_view s);

}  // namespace t2l::unicode
