// adapter_gguf.cpp — see adapter_gguf.h.
#include "lora/adapter_gguf.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common.h"
#include "io/gguf.h"

namespace t2l {

const char* gguf_projection_name(const std::string& m) {
    if (m == "q_proj") return "attn_q";
    if (m == "k_proj") return "attn_k";
    if (m == "v_proj") return "attn_v";
    if (m == "o_proj") return "attn_output";
    if (m == "gate_proj") return "ffn_gate";
    if (m == "up_proj") return "ffn_up";
    if (m == "down_proj") return "ffn_down";
    return nullptr;
}

GgufBaseInfo gguf_base_from_config(const json::Value& cfg, const std::string& source) {
    GgufBaseInfo b;
    const std::string mt = cfg.find("model_type") ? cfg.at("model_type").as_string() : "";
    if (mt == "llama" || mt == "mistral") {
        b.arch = "llama";  // llama.cpp runs Mistral v0.2 as its llama architecture
        b.permute_qk = true;
    } else if (mt == "gemma2" || mt == "gemma3_text" || mt == "gemma3") {
        b.arch = mt == "gemma2" ? "gemma2" : "gemma3";  // NeoX-style RoPE in llama.cpp: no permutation
    } else {
        fail(source, ": model_type '", mt, "' has no known llama.cpp architecture");
    }
    b.n_head = (int)cfg.at("num_attention_heads").as_int();
    b.n_head_kv = cfg.find("num_key_value_heads") ? (int)cfg.at("num_key_value_heads").as_int() : b.n_head;
    return b;
}

bool gguf_base_from_name(const std::string& model_dir, GgufBaseInfo* out) {
    std::string n = model_dir;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    struct Known { const char* key; GgufBaseInfo info; };
    const Known known[] = {
        {"llama-3.1-8b", {"llama", 32, 8, true}},
        {"mistral-7b", {"llama", 32, 8, true}},
        {"gemma-2-2b", {"gemma2", 8, 4, false}},
    };
    for (const auto& k : known)
        if (n.find(k.key) != std::string::npos) { *out = k.info; return true; }
    return false;
}

namespace {
// llama.cpp's q/k permutation on the output rows: within each head, the two rotary halves
// (x0..x_{d/2-1}, x_{d/2}..) become interleaved pairs: new row 2j + t <- old row t*(d/2) + j.
Tensor permute_rows(const Tensor& B, int n_head) {
    const int64_t out = B.dim(0), r = B.dim(1);
    if (n_head <= 0 || out % (2 * n_head)) fail("GGUF adapter: ", out, " rows do not split into ", n_head, " rotary heads");
    const int64_t hd = out / n_head, half = hd / 2;
    Tensor P = Tensor::empty({out, r});
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < half; j++)
            for (int64_t t = 0; t < 2; t++)
                std::memcpy(P.f32() + (h * hd + 2 * j + t) * r, B.f32() + (h * hd + t * half + j) * r, (size_t)r * 4);
    return P;
}
}  // namespace

void write_gguf_adapter(const std::string& path, const LoraAdapter& a, const GgufBaseInfo& base,
                        const std::vector<std::pair<std::string, std::string>>& extra_strings) {
    std::vector<std::pair<std::string, GgufValue>> kv;
    kv.emplace_back("general.architecture", GgufValue::str(base.arch));
    kv.emplace_back("general.type", GgufValue::str("adapter"));
    kv.emplace_back("adapter.type", GgufValue::str("lora"));
    // llama.cpp scales by alpha / r: store scale * r so it applies exactly the PEFT scale.
    kv.emplace_back("adapter.lora.alpha", GgufValue::f32((float)(a.scale() * a.r)));
    for (const auto& e : extra_strings) kv.emplace_back(e.first, GgufValue::str(e.second));

    std::vector<Tensor> keep;  // permuted copies live until the file is written
    std::vector<GgufTensorOut> tensors;
    for (const auto& m : a.modules) {
        const char* stem = gguf_projection_name(m.module);
        if (!stem) fail(path, ": module '", m.module, "' has no llama.cpp tensor name");
        Tensor B = m.B;
        if (base.permute_qk && m.module == "q_proj") B = permute_rows(m.B, base.n_head);
        if (base.permute_qk && m.module == "k_proj") B = permute_rows(m.B, base.n_head_kv);
        keep.push_back(B);
        const std::string name = cat("blk.", m.layer, ".", stem, ".weight");
        tensors.push_back({name + ".lora_a", m.A.shape, DType::F32, m.A.data});
        tensors.push_back({name + ".lora_b", B.shape, DType::F32, keep.back().data});
    }
    write_gguf(path, kv, tensors);
}

}  // namespace t2l
