// adapter.h — a LoRA adapter in memory: low-rank A (r, in) and B (out, r) per (layer, module),
// applied as y = W x + s · B (A x) with s = alpha / sqrt(r) under rsLoRA, alpha / r otherwise.
#pragma once

#include <string>
#include <vector>

#include "io/json.h"
#include "ops/runtime_tensor.h"

namespace t2l {

struct LoraModule {
    int layer = 0;
    std::string module;  // "q_proj", "v_proj", ... (the code never assumes which)
    Tensor A;            // (r, in)  f32
    Tensor B;            // (out, r) f32
};

struct LoraAdapter {
    int r = 0;
    double alpha = 0;
    bool use_rslora = false;
    std::vector<std::string> target_modules;
    json::Value config;               // the adapter_config.json to write (PEFT LoraConfig fields)
    std::vector<LoraModule> modules;  // module-major, then layer (the reference's key order)

    double scale() const;
    const LoraModule* find(int layer, const std::string& module) const;
    // The A (which 'A') or B slot of (layer, module), adding the module when it is new; a slot
    // already filled means the file names the tensor twice (source and name say which).
    Tensor& slot(int layer, const std::string& module, char which, const std::string& source, const std::string& name);
};

// The same adapter for consumers that ignore use_rslora: sqrt(r) is folded into every B and the
// config says use_rslora false, so alpha / r times the new B A equals alpha / sqrt(r) times the
// old one. A no-op for adapters without rsLoRA.
void make_portable(LoraAdapter& a);

// PEFT state-dict names: base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight
std::string peft_key(int layer, const std::string& module, char which);
// The submodule a projection lives in for LLaMA/Mistral/Gemma decoders.
const char* projection_parent(const std::string& module);

// Writes DIR/adapter_model.safetensors (f32, keys as PEFT names them) and
// DIR/adapter_config.json (keys sorted, 2-space indent, as peft's save_pretrained does).
// The folder is created if needed; each file is written atomically. `metadata` goes into the
// safetensors header (strings only).
void write_peft_adapter(const std::string& dir, const LoraAdapter& a, const json::Value& metadata);

// Writes a .t2l adapter (general.kind "adapter", peft.adapter_config, PEFT tensor names, f32);
// `metadata` adds string entries (description, source, ...) and json entries (keys ending in
// "_json" are stored as json without the suffix).
void write_t2l_adapter(const std::string& path, const LoraAdapter& a,
                       const std::vector<std::pair<std::string, std::string>>& metadata);

// Reads a PEFT folder (adapter_model.safetensors + adapter_config.json), a .t2l adapter or a
// llama.cpp GGUF adapter (*.gguf, see read_gguf_adapter in lora/adapter_gguf.h).
// Every tensor must be a lora_A/lora_B weight of a decoder layer, paired, with consistent ranks;
// values are converted to f32.
LoraAdapter load_adapter(const std::string& path);

}  // namespace t2l
