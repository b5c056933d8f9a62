// decoders.h — the "decoder" stage: token strings back to text.
//
// A decoder maps the list of token strings to a new list (Hugging Face's decode_chain); the
// text is the concatenation of the final list. Supported types: Sequence, ByteLevel,
// Metaspace, WordPiece (with cleanup), BPEDecoder, Replace (literal pattern), ByteFallback,
// Fuse, Strip. Any other type is an Error naming it.
#pragma once

#include <string>
#include <vector>

#include "io/json.h"
#include "tokenizer/pre_tokenizers.h"

namespace t2l::tok {

struct Decoder {
    enum class Kind { Sequence, ByteLevel, Metaspace, WordPiece, Bpe, Replace, ByteFallback, Fuse, Strip };
    Kind kind = Kind::Sequence;
    std::vector<Decoder> children;          // Sequence
    std::string pattern, content;           // Replace: literal pattern -> content
    char32_t replacement = U'\u2581';       // Metaspace
    PrependScheme prepend_scheme = PrependScheme::Always;  // Metaspace
    std::string prefix = "##";              // WordPiece
    bool cleanup = true;                    // WordPiece: undo the spaces before punctuation
    std::string suffix = "</w>";            // BPEDecoder
    char32_t strip_char = U' ';             // Strip: remove up to strip_start leading and
    size_t strip_start = 0, strip_stop = 0; //   strip_stop trailing copies of this character
};

Decoder parse_decoder(const json::Value& v, const std::string& where);
std::vector<std::string> decode_chain(const Decoder& d, std::vector<std::string> tokens);

}  // namespace t2l::tok
