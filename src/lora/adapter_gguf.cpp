// adapter_gguf.cpp — see adapter_gguf.h.
#include "lora/adapter_gguf.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "common.h"
#include "io/gguf.h"
#include "io/gguf_quant.h"

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
// `inverse` maps the interleaved rows back to the halves.
Tensor permute_rows(const Tensor& B, int n_head, bool inverse = false) {
    const int64_t out = B.dim(0), r = B.dim(1);
    if (n_head <= 0 || out % (2 * n_head)) fail("GGUF adapter: ", out, " rows do not split into ", n_head, " rotary heads");
    const int64_t hd = out / n_head, half = hd / 2;
    Tensor P = Tensor::empty({out, r});
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < half; j++)
            for (int64_t t = 0; t < 2; t++) {
                const int64_t interleaved = h * hd + 2 * j + t, halves = h * hd + t * half + j;
                const int64_t dst = inverse ? halves : interleaved, src = inverse ? interleaved : halves;
                std::memcpy(P.f32() + dst * r, B.f32() + src * r, (size_t)r * 4);
            }
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
    // What reading needs to return the same adapter; llama.cpp ignores these keys.
    if (base.n_head > 0) kv.emplace_back("t2l.base.head_count", GgufValue::u32((uint32_t)base.n_head));
    if (base.n_head_kv > 0) kv.emplace_back("t2l.base.head_count_kv", GgufValue::u32((uint32_t)base.n_head_kv));
    if (a.config.is_object()) kv.emplace_back("t2l.peft.adapter_config", GgufValue::str(json::dump(a.config)));
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

namespace {
const char* module_from_gguf(const std::string& stem) {
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
        if (stem == gguf_projection_name(m)) return m;
    return nullptr;
}

// "blk.12.attn_q.weight.lora_a" -> (12, "q_proj", 'A').
bool parse_gguf_lora_name(const std::string& name, int* layer, std::string* module, char* which) {
    if (name.compare(0, 4, "blk.") != 0) return false;
    size_t p = 4, dot = name.find('.', p);
    if (dot == std::string::npos || dot == p) return false;
    for (size_t i = p; i < dot; i++)
        if (!std::isdigit((unsigned char)name[i])) return false;
    const std::string rest = name.substr(dot + 1);  // attn_q.weight.lora_a
    for (const char* suffix : {".weight.lora_a", ".weight.lora_b"}) {
        const size_t sl = std::strlen(suffix);
        if (rest.size() > sl && rest.compare(rest.size() - sl, sl, suffix) == 0) {
            const char* m = module_from_gguf(rest.substr(0, rest.size() - sl));
            if (!m) return false;
            *layer = std::atoi(name.substr(p, dot - p).c_str());
            *module = m;
            *which = suffix[sl - 1] == 'a' ? 'A' : 'B';
            return true;
        }
    }
    return false;
}

// A (rows, cols) f32 tensor from a 2-D GGUF tensor of any dequantizable type (ne = {cols, rows}).
Tensor gguf_matrix(const GgufTensorInfo& t, const std::string& path) {
    if (t.ne.size() != 2) fail(path, ": tensor '", t.name, "' must be a matrix");
    GgmlTypeInfo info;
    if (!t.data || !ggml_type_info(t.type, &info) || !info.dequantizable)
        fail(path, ": tensor '", t.name, "' has type ", ggml_type_name(t.type), ", which cannot be read");
    Tensor m = Tensor::empty({(int64_t)t.ne[1], (int64_t)t.ne[0]});
    dequantize_ggml(t.type, t.data, m.f32(), (size_t)m.numel());
    return m;
}

int gguf_int(const GgufFile& g, const std::string& key) {
    const GgufValue* v = g.find(key);
    return v && v->type != GgufType::STRING && v->type != GgufType::ARRAY ? (int)v->i : 0;
}
}  // namespace

LoraAdapter read_gguf_adapter(const std::string& path, const GgufBaseInfo* base, GgufBaseInfo* file_base) {
    GgufFile g(path);
    auto str = [&](const char* key) {
        const GgufValue* v = g.find(key);
        return v && v->type == GgufType::STRING ? v->s : std::string();
    };
    if (str("general.type") != "adapter" || str("adapter.type") != "lora")
        fail(path, ": not a llama.cpp LoRA adapter (general.type '", str("general.type"), "', adapter.type '", str("adapter.type"), "')");
    const std::string arch = str("general.architecture");
    const GgufValue* alpha_v = g.find("adapter.lora.alpha");
    // llama.cpp: scale = alpha / rank, or 1 when alpha is absent or 0.
    const double file_alpha = alpha_v && (alpha_v->type == GgufType::F32 || alpha_v->type == GgufType::F64) ? alpha_v->f : 0.0;

    LoraAdapter a;
    for (const auto& t : g.tensors()) {
        int layer;
        std::string module;
        char which;
        if (!parse_gguf_lora_name(t.name, &layer, &module, &which))
            fail(path, ": tensor '", t.name, "' is not a LoRA weight of a decoder projection (blk.N.<proj>.weight.lora_a/b)");
        a.slot(layer, module, which, path, t.name) = gguf_matrix(t, path);
    }
    if (a.modules.empty()) fail(path, ": holds no LoRA weights");
    for (const auto& m : a.modules) {
        if (!m.A.data || !m.B.data) fail(path, ": layer ", m.layer, " ", m.module, " has only one of lora_a / lora_b");
        if (m.A.dim(0) != m.B.dim(1)) fail(path, ": layer ", m.layer, " ", m.module, ": lora_a rank ", m.A.dim(0), " != lora_b rank ", m.B.dim(1));
        if (m.A.dim(0) != a.modules[0].A.dim(0)) fail(path, ": ranks differ between modules (", m.A.dim(0), " and ", a.modules[0].A.dim(0), ")");
    }
    const int r = (int)a.modules[0].A.dim(0);

    // The module order PEFT and the reference use: target module, then layer.
    std::vector<std::string> targets;
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
        for (const auto& e : a.modules)
            if (e.module == m) { targets.push_back(m); break; }
    std::stable_sort(a.modules.begin(), a.modules.end(), [&](const LoraModule& x, const LoraModule& y) {
        const auto ix = std::find(targets.begin(), targets.end(), x.module), iy = std::find(targets.begin(), targets.end(), y.module);
        return ix != iy ? ix < iy : x.layer < y.layer;
    });

    // Undo the q/k row permutation of LLaMA-family files.
    bool permuted;
    if (arch == "llama") permuted = true;
    else if (arch == "gemma" || arch == "gemma2" || arch == "gemma3") permuted = false;
    else {
        permuted = false;
        for (const auto& m : a.modules)
            if (m.module == "q_proj" || m.module == "k_proj")
                fail(path, ": architecture '", arch, "': its q/k row layout is not known here");
    }
    int n_head = gguf_int(g, "t2l.base.head_count"), n_head_kv = gguf_int(g, "t2l.base.head_count_kv");
    if (base && base->n_head > 0) { n_head = base->n_head; n_head_kv = base->n_head_kv; }
    if (file_base) *file_base = GgufBaseInfo{arch, n_head, n_head_kv, permuted};
    if (permuted) {
        for (auto& m : a.modules) {
            if (m.module != "q_proj" && m.module != "k_proj") continue;
            const int heads = m.module == "q_proj" ? n_head : n_head_kv;
            if (heads <= 0) fail(path, ": the file does not record the base's head counts, needed to un-permute ", m.module, "; pass --base BASE.t2l (t2l convert-adapter)");
            m.B = permute_rows(m.B, heads, /*inverse=*/true);
        }
    }

    // The PEFT config: the one recorded at writing, when it still gives the file's scale.
    const double file_scale = file_alpha != 0 ? file_alpha / r : 1.0;
    const std::string recorded = str("t2l.peft.adapter_config");
    if (!recorded.empty()) {
        LoraAdapter c;
        c.config = json::parse(recorded, path + ": t2l.peft.adapter_config");
        if (c.config.find("r") && c.config.find("lora_alpha")) {
            c.r = (int)c.config.at("r").as_int();
            c.alpha = c.config.at("lora_alpha").as_double();
            c.use_rslora = c.config.find("use_rslora") && c.config.at("use_rslora").is_bool() && c.config.at("use_rslora").boolean;
            if (c.r == r && std::fabs(c.scale() - file_scale) <= 1e-5 * std::fabs(file_scale)) {
                a.r = c.r;
                a.alpha = c.alpha;
                a.use_rslora = c.use_rslora;
                a.config = c.config;
                if (const json::Value* tm = a.config.find("target_modules"); tm && tm->is_array())
                    for (const auto& m : tm->array) a.target_modules.push_back(m.as_string());
                return a;
            }
        }
    }
    a.r = r;
    a.alpha = file_scale * r;
    a.use_rslora = false;
    a.target_modules = targets;
    json::Value cfg = json::Value::new_object();
    cfg.set("peft_type", json::Value::from_string("LORA"));
    cfg.set("task_type", json::Value::from_string("CAUSAL_LM"));
    cfg.set("r", json::Value::from_int(r));
    if (a.alpha == std::floor(a.alpha)) cfg.set("lora_alpha", json::Value::from_int((int64_t)a.alpha));
    else cfg.set("lora_alpha", json::Value::from_double(a.alpha));
    cfg.set("use_rslora", json::Value::from_bool(false));
    json::Value tm = json::Value::new_array();
    for (const auto& t : targets) tm.push(json::Value::from_string(t));
    cfg.set("target_modules", tm);
    cfg.set("lora_dropout", json::Value::from_double(0.0));
    cfg.set("bias", json::Value::from_string("none"));
    cfg.set("fan_in_fan_out", json::Value::from_bool(false));
    cfg.set("inference_mode", json::Value::from_bool(true));
    a.config = cfg;
    return a;
}

}  // namespace t2l
