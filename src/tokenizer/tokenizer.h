// tokenizer.h — text <-> token ids, exactly as Hugging Face `tokenizers` does it, from the
// tokenizer.json (and tokenizer_config.json) a model ships with.
//
// Encoding runs the pipeline the file describes:
//   1. added tokens ("<|eot_id|>", "<s>", "[CLS]", ...) are cut out of the raw text first;
//   2. each remaining piece goes through the normalizer (normalizers.h), and normalized added
//      tokens are cut out of the result;
//   3. the pre-tokenizer splits pieces into pre-tokens (pre_tokenizers.h);
//   4. the model (BPE or WordPiece) turns each pre-token into ids;
//   5. truncation, then the post-processor adds BOS / [CLS] ... [SEP] (when asked to).
// Decoding maps ids to token strings and runs the decoder (decoders.h).
//
// Input text must be valid UTF-8: `tokenizers` only accepts Unicode strings (Python raises
// TypeError on a lone surrogate), so invalid bytes are an Error naming their offset. Use
// unicode::utf8_lossy first to accept such text the way Python's errors="replace" does.
// A Tokenizer is immutable after loading and safe to use from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace t2l {

class T2lFile;

struct EncodeOptions {
    bool add_special_tokens = true;  // run the post-processor: BOS for Llama/Mistral/Gemma, [CLS]/[SEP] for BERT
    // Truncate to at most this many ids, special tokens included (they are kept; the text is
    // cut from the right). 0 = the truncation in tokenizer.json, if any.
    size_t max_length = 0;
};

class Tokenizer {
public:
    // tokenizer_json: the text of tokenizer.json; config_json: tokenizer_config.json or "" (it
    // supplies bos/eos names, model_max_length, and add_bos_token/add_eos_token, which replace
    // the post-processor as transformers does). `source` names the files in errors.
    static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json, const std::string& source);
    // From a converted model: metadata "<key_prefix>tokenizer.json" and, if present,
    // "<key_prefix>tokenizer.config" (key_prefix "encoder." for a T2L file's bundled encoder).
    static Tokenizer from_t2l(const T2lFile& file, const std::string& key_prefix = "");

    std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = EncodeOptions()) const;
    // Ids back to text; ids the tokenizer does not know are skipped (as `tokenizers` does).
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

    // Vocabulary.
    size_t vocab_size() const;                       // largest id + 1, added tokens included
    std::string token(int32_t id) const;             // the token string ("Ġhello", "##ing", "<s>"); "" if unknown
    int32_t token_id(std::string_view token) const;  // -1 if unknown
    bool is_special(int32_t id) const;               // an added token marked special

    // From tokenizer_config.json (or -1 / "" when it does not say).
    int32_t bos_id() const;
    int32_t eos_id() const;
    const std::string& bos_token() const;
    const std::string& eos_token() const;
    size_t model_max_length() const;  // 0 when unlimited or unknown
    const std::string& source() const;

    struct Pipeline;  // the parsed components (tokenizer.cpp)

private:
    Tokenizer() = default;  // only the loaders make one: there is no empty tokenizer
    std::shared_ptr<const Pipeline> p_;
};

// Incremental decoding for printing generated ids as they come: step() returns only text that
// is final, holding back ids whose bytes do not form whole UTF-8 characters yet (a character
// split over byte tokens) and keeping the context decoders need (Metaspace's leading space).
// The concatenation of all step() results and finish() equals decode() of all ids when they
// decode to valid UTF-8 (what is held back at the end comes out of finish()). Where decode()
// itself rewrites printed text (a run of byte tokens that starts valid and turns invalid), the
// reference's stream raises an error; this one keeps what it printed and continues.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
    std::string step(int32_t id);
    std::string finish();  // the held-back rest (U+FFFD for incomplete bytes); resets the stream

private:
    const Tokenizer& tok_;
    bool skip_special_;
    std::vector<int32_t> ids_;  // the window still needed: context + pending ids
    std::string prefix_;        // decode of ids_[0 .. prefix_index_), already returned
    size_t prefix_index_ = 0;
};

}  // namespace t2l
