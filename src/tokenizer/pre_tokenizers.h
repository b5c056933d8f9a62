// pre_tokenizers.h — the "pre_tokenizer" stage: split normalized text into pre-tokens, the
// units the model (BPE, WordPiece) encodes one at a time.
//
// Supported types: Sequence, Split (a literal String pattern, or the Llama-3 / GPT-2 regex
// recognised by its exact text; any other regex is an Error), ByteLevel, Metaspace,
// BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit.
// Pieces that became empty are dropped, as Hugging Face `tokenizers` drops them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/json.h"
#include "tokenizer/split_patterns.h"

namespace t2l::tok {

// One piece of the input on its way through the pipeline.
struct PreToken {
    std::string text;             // normalized UTF-8 text
    bool at_input_start = false;  // begins at byte 0 of the caller's text (Metaspace "first" asks)
    int32_t added_id = -1;        // >= 0: an added token matched whole; no later stage touches it
};

// What happens to the delimiters a split finds (Hugging Face's SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

enum class PrependScheme { Always, First, Never };

struct PreTokenizer {
    enum class Kind {
        Sequence, SplitLiteral, SplitPattern, ByteLevel, Metaspace, Bert, Whitespace, WhitespaceSplit,
        Punctuation, Digits, CharDelimiter
    };
    Kind kind = Kind::Sequence;
    std::vector<PreTokenizer> children;  // Sequence
    std::string literal;                 // SplitLiteral: the delimiter text
    SplitPatternKind pattern = SplitPatternKind::Llama3;  // SplitPattern
    SplitBehavior behavior = SplitBehavior::Isolated;     // Split*, Punctuation
    bool invert = false;                 // Split*: the matches are the pieces, the rest delimiters
    bool add_prefix_space = false;       // ByteLevel
    bool use_regex = true;               // ByteLevel: split with the GPT-2 pattern first
    char32_t replacement = U'\u2581';    // Metaspace ("▁"), CharDelimiter
    PrependScheme prepend_scheme = PrependScheme::Always;  // Metaspace
    bool split = true;                   // Metaspace: split before each replacement character
    bool individual_digits = false;      // Digits
};

PreTokenizer parse_pre_tokenizer(const json::Value& v, const std::string& where);
// Split every piece that is not an added token; keeps the order, drops empty pieces.
void pre_tokenize(const PreTokenizer& p, std::vector<PreToken>& pieces);
SplitBehavior parse_split_behavior(const json::Value* v, SplitBehavior def, const std::string& where);

// The byte <-> character table of byte-level BPE (GPT-2): printable bytes map to themselves,
// the others to U+0100 and up, so every byte string becomes a visible UTF-8 string.
char32_t byte_to_char(uint8_t b);
int char_to_byte(char32_t c);  // -1 if c is not one of the 256 characters

}  // namespace t2l::tok
