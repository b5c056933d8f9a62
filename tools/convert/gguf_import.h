// gguf_import.h — a llama.cpp GGUF model file as the pieces of a .t2l model: an HF config,
// an HF tokenizer.json + tokenizer_config.json, and tensors under their HF names in HF layout.
//
// Takes: a GGUF v2/v3 file of architecture llama (LLaMA, Mistral, SmolLM, ...), gemma2 or
// gemma3, tensors in F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or Q6_K, and a
// tokenizer of model "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE).
// Gives: metadata (hf.config, hf.generation_config, tokenizer.json, tokenizer.config) and one
// ImportedTensor per HF tensor, produced row by row in f32 so a big tensor never has to be
// dequantised whole.
// Undoes what llama.cpp's convert_hf_to_gguf.py did to the HF checkpoint:
//   - names: token_embd -> model.embed_tokens, blk.N.attn_q -> model.layers.N.self_attn.q_proj, ...
//   - layout: ne = {cols, rows} -> row-major (rows, cols) (the bytes are the same);
//   - llama: q and k rows were permuted per head for interleaved RoPE
//     (reshape(n_head, 2, head_dim/2, in).swapaxes(1, 2)); the inverse is applied;
//   - llama 3.x: rope scaling was baked into a rope_freqs.weight tensor; its parameters are
//     recovered into config.rope_scaling (the tensor is checked against them, then dropped);
//   - gemma2/gemma3: every *norm.weight was stored as w + 1 (HF's RMSNorm multiplies by 1 + w);
//     1 is subtracted (exact for the f32 norms llama.cpp writes);
//   - a missing output.weight means lm_head is tied to the embeddings.
// Every GGUF tensor must find a place and every expected tensor must be present.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"
#include "format/t2l_file.h"
#include "io/gguf.h"

namespace t2l {

struct ImportedTensor {
    std::string name;             // HF name
    std::string source_name;      // GGUF name
    uint32_t source_type = 0;     // ggml type code
    std::vector<int64_t> shape;   // HF (row-major) shape
    DType dtype = DType::BF16;    // what the .t2l stores
    int64_t row_elems = 0;        // elements per row (the last dimension)
    uint64_t source_bytes = 0;
    // Writes rows [r0, r1) (row_elems floats each) to out.
    std::function<void(int64_t r0, int64_t r1, float* out)> rows;
};

struct GgufImport {
    std::vector<std::pair<std::string, MetaValue>> metadata;
    std::vector<ImportedTensor> tensors;
    std::shared_ptr<GgufFile> file;
    std::vector<std::string> notes;  // what was undone or chosen, for the converter's summary
};

// dtype_choice: keep | f32 | bf16 | f16. "keep" keeps F32/F16/BF16 tensors as they are and
// stores dequantised tensors as bf16 (a quantised type cannot be kept).
GgufImport import_gguf(const std::string& path, const std::string& dtype_choice);

// ---- pieces exposed for the tests ----

// The row of a llama.cpp-permuted q/k weight (rows = n_head * head_dim) that holds HF row
// `row`: HF row (h, t, i) = h*head_dim + t*head_dim/2 + i sits at h*head_dim + 2*i + t.
int64_t llama_permuted_row(int64_t row, int64_t rows, int64_t n_head);

struct GgufTokenizerFiles {
    std::string tokenizer_json;    // HF tokenizers format
    std::string tokenizer_config;  // tokenizer_config.json
    std::vector<std::string> notes;
};
// Builds both from the tokenizer.ggml.* keys (and tokenizer.chat_template, context_length).
GgufTokenizerFiles gguf_tokenizer_to_hf(const GgufFile& g);

}  // namespace t2l
