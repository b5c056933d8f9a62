// adapter_gguf.h — LoRA adapters as llama.cpp reads them (`llama-cli --lora FILE.gguf`).
//
// llama.cpp applies y = W x + (alpha / r) · B A x and knows nothing of rsLoRA, so the file's
// adapter.lora.alpha is chosen as scale · r: llama.cpp's alpha / r then equals the intended
// scale (16 / sqrt(8) for T2L's adapters, not the 2.0 a plain alpha/r would give).
// Tensor names follow llama.cpp: blk.N.attn_q.weight.lora_a (A) and .lora_b (B). For LLaMA-
// family bases llama.cpp stores q and k weights with their rows permuted for its RoPE layout,
// so B of q_proj / k_proj is permuted the same way here (A acts on inputs and is unchanged).
//
// Files written here also carry t2l.base.head_count / head_count_kv and the adapter's PEFT
// config as a JSON string (t2l.peft.adapter_config); llama.cpp ignores keys it does not know.
// Reading undoes what writing did, so PEFT -> GGUF -> PEFT returns the same A, B and config.
// A GGUF adapter from elsewhere (llama.cpp's convert_lora_to_gguf.py) has neither: its PEFT
// config is rebuilt as r = rank, lora_alpha = the file's alpha, use_rslora false (the scale
// llama.cpp applies, alpha / r), and un-permuting q/k of a LLaMA-family file needs the head
// counts from the base model.
#pragma once

#include <string>

#include "lora/adapter.h"

namespace t2l {

struct GgufBaseInfo {
    std::string arch;       // llama.cpp architecture name: "llama" (LLaMA, Mistral), "gemma2", ...
    int n_head = 0, n_head_kv = 0;
    bool permute_qk = false;  // llama.cpp permutes q/k rows for this architecture
};

// The base model's facts from its HF config (model_type, head counts).
GgufBaseInfo gguf_base_from_config(const json::Value& hf_config, const std::string& source);
// The released T2L bases by name (args.yaml model_dir); false when the name is not one of them.
bool gguf_base_from_name(const std::string& model_dir, GgufBaseInfo* out);

void write_gguf_adapter(const std::string& path, const LoraAdapter& a, const GgufBaseInfo& base,
                        const std::vector<std::pair<std::string, std::string>>& extra_strings = {});

// Reads a llama.cpp LoRA adapter (general.type adapter, adapter.type lora, tensors
// blk.N.<proj>.weight.lora_a / lora_b in any float or dequantizable ggml type) into f32 A, B in
// PEFT orientation. `base` supplies head counts for files that do not record them (nullptr: the
// file's own, else an error when q/k rows must be un-permuted). `file_base`, when given,
// receives the architecture and head counts the file names (what writing it back needs).
LoraAdapter read_gguf_adapter(const std::string& path, const GgufBaseInfo* base = nullptr, GgufBaseInfo* file_base = nullptr);

// llama.cpp's tensor name stem for a projection: q_proj -> attn_q, down_proj -> ffn_down, ...
const char* gguf_projection_name(const std::string& module);

}  // namespace t2l
