// t2l_inputs.h — small pieces shared by the commands that read models: finding a bundled
// encoder, tokenizing a description for it, parsing id lists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/t2l_file.h"
#include "ops/runtime_tensor.h"

namespace t2l {

// "" when the file is an encoder itself, "encoder." when a T2L file bundles one; throws otherwise.
std::string encoder_prefix(const T2lFile& file);

// WordPiece ids ([CLS] ... [SEP], truncated at the reference's 8192) for the encoder's tokenizer.
std::vector<int32_t> tokenize_for_encoder(const T2lFile& file, const std::string& prefix, const std::string& text);

// --device: "cpu", "cuda" (an error naming the reason when no GPU is usable) or "auto" (the GPU
// when one is usable, else the CPU).
Device resolve_device(const std::string& choice);

// "1,2,3" -> {1, 2, 3}; `what` names the flag in errors.
std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what);

}  // namespace t2l
