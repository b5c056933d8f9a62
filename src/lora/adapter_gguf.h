// adapter_gguf.h — LoRA adapters as llama.cpp reads them (`llama-cli --lora FILE.gguf`).
//
// llama.cpp applies y = W x + (alpha / r) · B A x and knows nothing of rsLoRA, so the file's
// adapter.lora.alpha is chosen as scale · r: llama.cpp's alpha / r then equals the intended
// scale (16 / sqrt(8) for T2L's adapters, not the 2.0 a plain alpha/r would give).
// Tensor names follow llama.cpp: blk.N.attn_q.weight.lora_a (A) and .lora_b (B). For LLaMA-
// family bases llama.cpp stores q and k weights with their rows permuted for its RoPE layout,
// so B of q_proj / k_proj is permuted the same way here (A acts on inputs and is unchanged).
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

// llama.cpp's tensor name stem for a projection: q_proj -> attn_q, down_proj -> ffn_down, ...
const char* gguf_projection_name(const std::string& module);

}  // namespace t2l
