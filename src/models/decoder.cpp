// decoder.cpp — LLaMA / Mistral / Gemma 2 forward pass (see decoder.h).
#include "models/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.h"
#include "gpu.h"
#include "ops/ops.h"
#include "ops_cuda.h"

namespace t2l {

namespace {
const json::Value* find_any(const json::Value& cfg, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
        if (const json::Value* v = cfg.find(k); v && !v->is_null()) return v;
    return nullptr;
}
int need_int(const json::Value& cfg, const char* key, const std::string& source) {
    const json::Value* v = cfg.find(key);
    if (!v || !v->is_number()) fail(source, ": config has no integer '", key, "'");
    return (int)v->as_int();
}
// Device weights of one dtype stacked by rows into one new buffer (empty if the dtypes differ).
Tensor stack_rows(std::initializer_list<const Tensor*> parts) {
    const Tensor& first = **parts.begin();
    int64_t rows = 0;
    for (const Tensor* t : parts) {
        if (t->dtype != first.dtype || t->dim(1) != first.dim(1)) return Tensor();
        rows += t->dim(0);
    }
    Tensor out = Tensor::empty({rows, first.dim(1)}, first.dtype, first.device);
    uint8_t* dst = static_cast<uint8_t*>(out.data);
    for (const Tensor* t : parts) {
        gpu_copy(dst, true, t->data, true, t->nbytes());
        dst += t->nbytes();
    }
    return out;
}

void add_ids(std::vector<int32_t>& out, const json::Value* v) {
    if (!v) return;
    if (v->is_number()) out.push_back((int32_t)v->as_int());
    if (v->is_array())
        for (const auto& e : v->array) out.push_back((int32_t)e.as_int());
}
}  // namespace

DecoderConfig DecoderConfig::from_json(const json::Value& cfg, const json::Value* gen, const std::string& source) {
    DecoderConfig c;
    const json::Value* mt = cfg.find("model_type");
    c.model_type = mt && mt->is_string() ? mt->string : "";
    if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "gemma2" && c.model_type != "gemma3_text")
        fail(source, ": model_type '", c.model_type, "' is not supported (llama, mistral, gemma2, gemma3_text)");
    const bool gemma = c.model_type == "gemma2" || c.model_type == "gemma3_text";
    c.qk_norm = c.model_type == "gemma3_text";
    c.vocab = need_int(cfg, "vocab_size", source);
    c.hidden = need_int(cfg, "hidden_size", source);
    c.n_layers = need_int(cfg, "num_hidden_layers", source);
    c.n_heads = need_int(cfg, "num_attention_heads", source);
    c.intermediate = need_int(cfg, "intermediate_size", source);
    const json::Value* kv = cfg.find("num_key_value_heads");
    c.n_kv_heads = kv && kv->is_number() ? (int)kv->as_int() : c.n_heads;
    const json::Value* hd = cfg.find("head_dim");
    c.head_dim = hd && hd->is_number() ? (int)hd->as_int() : c.hidden / c.n_heads;
    if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads) fail(source, ": num_attention_heads must be a multiple of num_key_value_heads");
    if (const json::Value* e = cfg.find("rms_norm_eps")) c.rms_eps = (float)e->as_double();
    if (const json::Value* m = cfg.find("max_position_embeddings")) c.max_positions = m->as_int();
    const json::Value* tie = cfg.find("tie_word_embeddings");
    c.tie_embeddings = tie && tie->is_bool() ? tie->boolean : gemma;  // HF defaults: Gemma ties, LLaMA/Mistral do not

    // Activation: hidden_act / hidden_activation.
    const json::Value* act = find_any(cfg, {"hidden_activation", "hidden_act"});
    const std::string a = act && act->is_string() ? act->string : (gemma ? "gelu_pytorch_tanh" : "silu");
    if (a == "silu" || a == "swish") c.act = "silu";
    else if (a == "gelu_pytorch_tanh" || a == "gelu_tanh") c.act = "gelu_tanh";
    else fail(source, ": hidden activation '", a, "' is not supported");

    c.attn_scale = 1.0f / std::sqrt((float)c.head_dim);
    if (gemma) {
        c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = true;
        if (const json::Value* q = cfg.find("query_pre_attn_scalar"); q && q->is_number())
            c.attn_scale = (float)std::pow(q->as_double(), -0.5);
        if (const json::Value* s = cfg.find("attn_logit_softcapping"); s && s->is_number()) c.attn_softcap = (float)s->as_double();
        if (const json::Value* s = cfg.find("final_logit_softcapping"); s && s->is_number()) c.final_softcap = (float)s->as_double();
    }
    if (const json::Value* w = cfg.find("sliding_window"); w && w->is_number()) c.sliding_window = w->as_int();
    c.layer_sliding.assign((size_t)c.n_layers, false);
    if (c.sliding_window > 0) {
        if (const json::Value* lt = cfg.find("layer_types"); lt && lt->is_array()) {
            // transformers 5 spelling: one entry per layer.
            if ((int)lt->array.size() != c.n_layers) fail(source, ": layer_types has ", lt->array.size(), " entries for ", c.n_layers, " layers");
            for (int i = 0; i < c.n_layers; i++) c.layer_sliding[(size_t)i] = lt->array[(size_t)i].as_string() == "sliding_attention";
        } else if (const json::Value* pat = cfg.find("sliding_window_pattern"); pat && pat->is_number()) {
            // Gemma 3 without layer_types: every pattern-th layer is global, the rest local.
            const int64_t k = pat->as_int();
            for (int i = 0; i < c.n_layers; i++) c.layer_sliding[(size_t)i] = k <= 0 || (i + 1) % k != 0;
        } else if (gemma) {
            for (int i = 0; i < c.n_layers; i++) c.layer_sliding[(size_t)i] = i % 2 == 0;  // Gemma 2: even layers are local
        } else {
            for (int i = 0; i < c.n_layers; i++) c.layer_sliding[(size_t)i] = true;       // Mistral v0.1: every layer
        }
    }

    // RoPE: transformers 4 has rope_theta + rope_scaling; transformers 5 has rope_parameters.
    const json::Value* rp = cfg.find("rope_parameters");
    if (rp && !rp->is_object()) rp = nullptr;
    const json::Value* rs = rp && rp->is_object() ? rp : cfg.find("rope_scaling");
    if (const json::Value* t = find_any(cfg, {"rope_local_base_freq"})) c.rope_local_theta = t->as_double();
    if (rp && rp->find("full_attention")) {  // transformers 5 Gemma 3: one RoPE entry per layer type
        if (const json::Value* sl = rp->find("sliding_attention"); sl && sl->find("rope_theta"))
            c.rope_local_theta = sl->at("rope_theta").as_double();
        rp = &rp->at("full_attention");
        rs = rp;
    }
    if (const json::Value* t = find_any(cfg, {"rope_theta"})) c.rope_theta = t->as_double();
    else if (rp && rp->find("rope_theta")) c.rope_theta = rp->at("rope_theta").as_double();
    if (rs && rs->is_object()) {
        const json::Value* type = find_any(*rs, {"rope_type", "type"});
        c.rope_type = type && type->is_string() ? type->string : "default";
        if (c.rope_type == "llama3") {
            c.rope_factor = rs->at("factor").as_double();
            c.low_freq_factor = rs->at("low_freq_factor").as_double();
            c.high_freq_factor = rs->at("high_freq_factor").as_double();
            c.original_max_positions = rs->at("original_max_position_embeddings").as_double();
        } else if (c.rope_type == "linear") {
            c.rope_factor = rs->at("factor").as_double();
        } else if (c.rope_type != "default") {
            fail(source, ": rope type '", c.rope_type, "' is not supported (default, linear, llama3)");
        }
    }
    if (gen) add_ids(c.eos_ids, gen->find("eos_token_id"));
    if (c.eos_ids.empty()) add_ids(c.eos_ids, cfg.find("eos_token_id"));
    if (const json::Value* b = find_any(cfg, {"bos_token_id"}); b && b->is_number()) c.bos_id = (int32_t)b->as_int();
    return c;
}

Decoder::Decoder(const T2lFile& file, Device device) : w_(file, "", device) {
    const MetaValue* gen = file.find_meta("hf.generation_config");
    json::Value gen_json = gen ? file.meta_json("hf.generation_config") : json::Value();
    cfg_ = DecoderConfig::from_json(file.meta_json("hf.config"), gen ? &gen_json : nullptr, file.path() + " hf.config");
    const int64_t H = cfg_.hidden, I = cfg_.intermediate, V = cfg_.vocab;
    const int64_t qd = (int64_t)cfg_.n_heads * cfg_.head_dim, kd = (int64_t)cfg_.n_kv_heads * cfg_.head_dim;
    embed_ = w_.get("model.embed_tokens.weight", {V, H});
    final_norm_ = w_.get("model.norm.weight", {H});
    if (cfg_.tie_embeddings) {
        lm_head_ = embed_;
        if (w_.has("lm_head.weight")) w_.get("lm_head.weight", {V, H});  // some exports store the tied copy too
    } else {
        lm_head_ = w_.get("lm_head.weight", {V, H});
    }
    for (int i = 0; i < cfg_.n_layers; i++) {
        const std::string p = cat("model.layers.", i, ".");
        Layer L;
        L.in_norm = w_.get(p + "input_layernorm.weight", {H});
        L.post_attn_norm = w_.get(p + "post_attention_layernorm.weight", {H});
        if (cfg_.sandwich_norms) {
            L.pre_ff_norm = w_.get(p + "pre_feedforward_layernorm.weight", {H});
            L.post_ff_norm = w_.get(p + "post_feedforward_layernorm.weight", {H});
        }
        if (cfg_.qk_norm) {
            L.q_norm = w_.get(p + "self_attn.q_norm.weight", {cfg_.head_dim});
            L.k_norm = w_.get(p + "self_attn.k_norm.weight", {cfg_.head_dim});
        }
        L.q = w_.get(p + "self_attn.q_proj.weight", {qd, H});
        L.k = w_.get(p + "self_attn.k_proj.weight", {kd, H});
        L.v = w_.get(p + "self_attn.v_proj.weight", {kd, H});
        L.o = w_.get(p + "self_attn.o_proj.weight", {H, qd});
        L.gate = w_.get(p + "mlp.gate_proj.weight", {I, H});
        L.up = w_.get(p + "mlp.up_proj.weight", {I, H});
        L.down = w_.get(p + "mlp.down_proj.weight", {H, I});
        if (device == Device::CUDA) {
            L.qkv = stack_rows({&L.q, &L.k, &L.v});
            L.gate_up = stack_rows({&L.gate, &L.up});
            if (L.qkv.data) {
                L.q = L.qkv.rows(0, qd);
                L.k = L.qkv.rows(qd, qd + kd);
                L.v = L.qkv.rows(qd + kd, qd + 2 * kd);
            }
            if (L.gate_up.data) {
                L.gate = L.gate_up.rows(0, I);
                L.up = L.gate_up.rows(I, 2 * I);
            }
        }
        layers_.push_back(std::move(L));
    }
    read_ggml_numerics(file);
    // A tensor the model never reads means the file is not what the config says it is.
    for (const auto& name : w_.unused())
        if (name.find("rotary_emb.inv_freq") == std::string::npos)
            fail(file.path(), ": tensor '", name, "' is not part of a ", cfg_.model_type, " model");

    // Rotary frequencies, f32 as HF computes them: inv_freq_j = 1 / theta^(2j / d).
    const int d = cfg_.head_dim;
    for (int j = 0; j < d / 2; j++) {
        float inv = 1.0f / std::pow((float)cfg_.rope_theta, (float)(2 * j) / (float)d);
        if (cfg_.rope_type == "linear") inv /= (float)cfg_.rope_factor;
        if (cfg_.rope_type == "llama3") {
            // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, and the band
            // between low and high frequency is blended smoothly.
            const float factor = (float)cfg_.rope_factor, low = (float)cfg_.low_freq_factor, high = (float)cfg_.high_freq_factor;
            const float old_ctx = (float)cfg_.original_max_positions;
            const float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
            const float wavelen = 2.0f * (float)M_PI / inv;
            float scaled = wavelen > low_wavelen ? inv / factor : inv;
            const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
            if (medium) {
                const float smooth = (old_ctx / wavelen - low) / (high - low);
                scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
            }
            inv = scaled;
        }
        inv_freq_.push_back(inv);
        // Gemma 3's sliding layers: plain RoPE with their own base, no scaling.
        if (cfg_.rope_local_theta > 0)
            inv_freq_local_.push_back(1.0f / std::pow((float)cfg_.rope_local_theta, (float)(2 * j) / (float)d));
    }
    lora_.resize((size_t)cfg_.n_layers);
    merged_.resize((size_t)cfg_.n_layers);
    step_lora_.assign((size_t)cfg_.n_layers, std::vector<StepLora>(kGroups));
    merged_group_.assign((size_t)cfg_.n_layers, std::vector<Tensor>(kGroups));
}

namespace {
// Where a projection sits in the step's four groups: the group and its first output row there.
struct GroupSlot {
    int group = -1;
    int64_t row0 = 0;
};
}  // namespace

void Decoder::set_adapter(const LoraAdapter* adapter, bool merged, double scale_override) {
    for (auto& l : lora_) l.clear();
    for (auto& l : merged_) l.clear();
    for (auto& l : step_lora_) l.assign(kGroups, StepLora{});
    for (auto& l : merged_group_) l.assign(kGroups, Tensor());
    adapter_version_++;
    if (!adapter) return;
    const float s = (float)(scale_override != 0 ? scale_override : adapter->scale());
    const int64_t qd = (int64_t)cfg_.n_heads * cfg_.head_dim, kd = (int64_t)cfg_.n_kv_heads * cfg_.head_dim;
    auto slot_of = [&](const std::string& m) -> GroupSlot {
        if (m == "q_proj") return {kQKV, 0};
        if (m == "k_proj") return {kQKV, qd};
        if (m == "v_proj") return {kQKV, qd + kd};
        if (m == "o_proj") return {kO, 0};
        if (m == "gate_proj") return {kGateUp, 0};
        if (m == "up_proj") return {kGateUp, cfg_.intermediate};
        if (m == "down_proj") return {kDown, 0};
        return {};
    };
    std::vector<std::vector<std::vector<const LoraModule*>>> unmerged(
        (size_t)cfg_.n_layers, std::vector<std::vector<const LoraModule*>>(kGroups));
    for (const LoraModule& m : adapter->modules) {
        if (m.layer < 0 || m.layer >= cfg_.n_layers) fail("adapter: layer ", m.layer, " does not exist in this ", cfg_.n_layers, "-layer model");
        const Layer& L = layers_[(size_t)m.layer];
        const Tensor* w = m.module == "q_proj" ? &L.q : m.module == "k_proj" ? &L.k : m.module == "v_proj" ? &L.v
                        : m.module == "o_proj" ? &L.o : m.module == "gate_proj" ? &L.gate : m.module == "up_proj" ? &L.up
                        : m.module == "down_proj" ? &L.down : nullptr;
        if (!w) fail("adapter: module '", m.module, "' is not a projection of this model");
        if (m.A.dim(1) != w->dim(1) || m.B.dim(0) != w->dim(0) || m.A.dim(0) != m.B.dim(1))
            fail("adapter: layer ", m.layer, " ", m.module, ": A ", shape_string(m.A.shape), " and B ", shape_string(m.B.shape),
                 " do not fit the weight ", shape_string(w->shape));
        const GroupSlot slot = slot_of(m.module);
        if (!merged) {
            lora_[(size_t)m.layer].push_back({m.module, LoraRef{m.A.to(device()), m.B.to(device()), s}});
            unmerged[(size_t)m.layer][(size_t)slot.group].push_back(&m);
            continue;
        }
        // W' = W + s * B A, computed on the host in f32; on the CPU it stays an f32 copy of this one
        // weight, on CUDA it is rounded to the weights' dtype (what merging into the model does).
        Tensor wm = w_.get_host(cat("model.layers.", m.layer, ".", projection_parent(m.module), ".", m.module, ".weight"))
                        .to_dtype(DType::F32);
        const int64_t out = w->dim(0), in = w->dim(1), r = m.A.dim(0);
        const float* A = m.A.f32();
        const float* B = m.B.f32();
        float* W = wm.f32();
        for (int64_t o = 0; o < out; o++)
            for (int64_t k = 0; k < r; k++) {
                const float c = s * B[o * r + k];
                for (int64_t i = 0; i < in; i++) W[o * in + i] += c * A[k * in + i];
            }
        if (device() == Device::CPU) {
            merged_[(size_t)m.layer].push_back({m.module, wm});
            if (slot.group == kO || slot.group == kDown) merged_group_[(size_t)m.layer][(size_t)slot.group] = wm;
            continue;
        }
        const Tensor narrow = w->dtype == DType::F32 ? wm : wm.to_dtype(w->dtype);
        const Tensor& stack = slot.group == kQKV ? L.qkv : slot.group == kGateUp ? L.gate_up : Tensor();
        Tensor& group_copy = merged_group_[(size_t)m.layer][(size_t)slot.group];
        if (stack.data) {  // a merged copy of the whole stack, this module's rows replaced
            if (!group_copy.data) group_copy = stack.to(Device::CUDA);
            const Tensor rows = group_copy.rows(slot.row0, slot.row0 + out);
            gpu_copy(rows.data, true, narrow.data, false, narrow.nbytes());
            merged_[(size_t)m.layer].push_back({m.module, rows});
        } else {
            merged_[(size_t)m.layer].push_back({m.module, narrow.to(Device::CUDA)});
            if (slot.group == kO || slot.group == kDown) group_copy = merged_[(size_t)m.layer].back().second;
        }
    }
    // The step's LoRA: per group, every module's A stacked (r_total, in) and B placed block-diagonally
    // at its rows of the group's output (group out, r_total), scaled: y += B_cat (A_cat x).
    const int64_t group_out[kGroups] = {qd + 2 * kd, (int64_t)cfg_.hidden, 2 * (int64_t)cfg_.intermediate, (int64_t)cfg_.hidden};
    for (int l = 0; l < cfg_.n_layers; l++)
        for (int g = 0; g < kGroups; g++) {
            const auto& mods = unmerged[(size_t)l][(size_t)g];
            if (mods.empty()) continue;
            int64_t r_total = 0;
            for (const LoraModule* m : mods) r_total += m->A.dim(0);
            const int64_t in = mods[0]->A.dim(1), out = group_out[g];
            Tensor A = Tensor::zeros({r_total, in}), B = Tensor::zeros({out, r_total});
            int64_t c = 0;
            for (const LoraModule* m : mods) {
                const int64_t r = m->A.dim(0), row0 = slot_of(m->module).row0;
                std::memcpy(A.f32() + c * in, m->A.f32(), (size_t)(r * in) * 4);
                for (int64_t o = 0; o < m->B.dim(0); o++)
                    for (int64_t k = 0; k < r; k++) B.f32()[(row0 + o) * r_total + c + k] = s * m->B.f32()[o * r + k];
                c += r;
            }
            step_lora_[(size_t)l][(size_t)g] = StepLora{A.to(device()), B.to(device())};
        }
}

KVCache Decoder::new_cache(int64_t capacity, bool narrow_kv) const {
    KVCache c;
    c.capacity = capacity;
    const int64_t kd = (int64_t)cfg_.n_kv_heads * cfg_.head_dim;
    // bf16 weights on CUDA get a bf16 cache, as HF keeps it in the model's dtype: half the bytes
    // a decode step reads from it. The CPU's attention reads f32.
    const DType kv = narrow_kv && device() == Device::CUDA && layers_[0].k.dtype == DType::BF16 ? DType::BF16 : DType::F32;
    for (int i = 0; i < cfg_.n_layers; i++) {
        c.k.push_back(Tensor::zeros({capacity, kd}, kv, device()));
        c.v.push_back(Tensor::zeros({capacity, kd}, kv, device()));
    }
    rope_tables(capacity, inv_freq_, &c.cos, &c.sin);
    if (!inv_freq_local_.empty()) rope_tables(capacity, inv_freq_local_, &c.cos_local, &c.sin_local);
    return c;
}

void Decoder::project(Tensor& y, const Tensor& x, const Tensor& w, int layer, const char* module) const {
    const Tensor* weight = &w;
    for (const auto& mw : merged_[(size_t)layer])
        if (mw.first == module) weight = &mw.second;
    matmul(y, x, *weight);
    for (const auto& lr : lora_[(size_t)layer]) {
        if (lr.first != module) continue;
        // Unmerged LoRA: y += s * B (A x), never forming the (out, in) product.
        const int64_t n = x.numel() / x.dim(-1);
        Tensor t = Tensor::empty({n, lr.second.A.dim(0)}, DType::F32, device());
        linear(t, x, lr.second.A);
        Tensor d = Tensor::empty(y.shape, DType::F32, device());
        linear(d, t, lr.second.B);
        scale_(d, lr.second.scale);
        add_(y, d);
    }
}

void Decoder::read_ggml_numerics(const T2lFile& file) {
    const char* env = std::getenv("T2L_NUMERICS");
    if (!env || !*env || std::string(env) == "default") return;
    if (std::string(env) != "ggml") fail("T2L_NUMERICS: '", env, "' is not one of default, ggml");
    if (device() != Device::CPU) fail("T2L_NUMERICS=ggml is a CPU mode (llama.cpp parity runs); use --device cpu");
    if (!file.find_meta("gguf.tensor_types"))
        fail("T2L_NUMERICS=ggml: ", file.path(), " does not record GGUF tensor types (convert it from a GGUF with this t2l-convert)");
    const json::Value types = file.meta_json("gguf.tensor_types");
    ggml_numerics_ = true;
    auto note = [&](const std::string& name, const Tensor& w) {
        const json::Value* t = types.find(name);
        uint32_t code = 0;
        if (!t || !t->is_string() || !ggml_type_from_name(t->as_string().c_str(), &code))
            fail(file.path(), ": gguf.tensor_types has no GGUF type for ", name);
        const GgmlActRounding r = ggml_act_rounding(code);
        const int64_t out = w.dim(0), in = w.dim(1);
        if (in % ggml_act_block(r)) fail(file.path(), ": ", name, " rows of ", in, " are not whole ", ggml_act_rounding_name(r), " blocks");
        act_rounding_[w.data] = r;
        if (code == kGgmlTypeQ4_1 || code == kGgmlTypeQ5_1) {
            // Every block of these formats holds a value equal to its m (ggml's quantiser gives the
            // block's smallest value the code 0), so the dequantised block's minimum is m.
            const Tensor wf = w.to_dtype(DType::F32);
            Tensor mins = Tensor::empty({out, in / 32});
            for (int64_t o = 0; o < out; o++)
                for (int64_t b = 0; b < in / 32; b++) {
                    const float* blk = wf.f32() + o * in + b * 32;
                    mins.f32()[o * (in / 32) + b] = *std::min_element(blk, blk + 32);
                }
            block_mins_[w.data] = mins;
        }
    };
    for (int l = 0; l < cfg_.n_layers; l++) {
        const Layer& L = layers_[(size_t)l];
        const std::string p = cat("model.layers.", l, ".");
        note(p + "self_attn.q_proj.weight", L.q);
        note(p + "self_attn.k_proj.weight", L.k);
        note(p + "self_attn.v_proj.weight", L.v);
        note(p + "self_attn.o_proj.weight", L.o);
        note(p + "mlp.gate_proj.weight", L.gate);
        note(p + "mlp.up_proj.weight", L.up);
        note(p + "mlp.down_proj.weight", L.down);
    }
    note(cfg_.tie_embeddings ? "model.embed_tokens.weight" : "lm_head.weight", lm_head_);
}

void Decoder::ggml_gelu_mul(float* g, const float* u, int64_t n) const {
    for (int64_t i = 0; i < n; i++) g[i] = ggml_gelu_f16_table(g[i]) * u[i];
}

void Decoder::matmul(Tensor& y, const Tensor& x, const Tensor& w) const {
    const auto it = act_rounding_.find(w.data);
    if (it == act_rounding_.end()) {
        linear(y, x, w);
        return;
    }
    // Each row of x as ggml quantises it for this weight's type, then an ordinary f32 product:
    // the sums ggml's integer dot products compute, up to summation order.
    const int64_t in = x.dim(-1), n = x.numel() / in, out = w.dim(0);
    Tensor xr = Tensor::empty(x.shape, DType::F32, Device::CPU);
    const Tensor xc = x.to_dtype(DType::F32);
    for (int64_t i = 0; i < n; i++) ggml_round_activations(it->second, xc.f32() + i * in, xr.f32() + i * in, in);
    linear(y, xr, w);
    const auto mins = block_mins_.find(w.data);
    if (mins == block_mins_.end()) return;
    // Q4_1/Q5_1: each block's m meets ggml's f16 block sum of x, not the sum of the rounded x.
    const int64_t nb = in / 32;
    std::vector<float> corr((size_t)nb);
    for (int64_t i = 0; i < n; i++) {
        ggml_q8_1_sum_corrections(xc.f32() + i * in, corr.data(), in);
        float* yi = y.f32() + i * out;
        for (int64_t o = 0; o < out; o++) {
            const float* m = mins->second.f32() + o * nb;
            float add = 0.0f;
            for (int64_t b = 0; b < nb; b++) add += m[b] * corr[(size_t)b];
            yi[o] += add;
        }
    }
}

void Decoder::rope_tables(int64_t n, const std::vector<float>& inv_freq, Tensor* cos, Tensor* sin) const {
    const int64_t half = cfg_.head_dim / 2;
    Tensor c = Tensor::empty({n, half}), s = Tensor::empty({n, half});
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < half; j++) {
            const float angle = (float)i * inv_freq[(size_t)j];  // f32 product, as HF
            c.f32()[i * half + j] = (float)std::cos((double)angle);
            s.f32()[i * half + j] = (float)std::sin((double)angle);
        }
    *cos = c.to(device());
    *sin = s.to(device());
}

// ---- the decode step -----------------------------------------------------------------------------

// Everything one step touches, allocated once per cache so a recorded graph can keep pointing at it.
struct StepState {
    Tensor tok_pos;  // int32 (2): the token and its position
    Tensor next;     // int32 (1): the argmax of the logits
    Tensor x, h, qkv, q, ctx, o, gu, act, dn, normed, logits, lora_t, attn_scratch;
    // The fused step (CUDA): on when the model, cache and adapter fit it; its per-layer pointers
    // (device), attention partials and stage counters.
    bool fused = false;
    uint64_t fused_version = ~0ull;  // the adapter version `fused` was decided for
    Tensor fused_layers, fused_part, fused_counters;
    std::shared_ptr<void> graph;  // the recorded step (CUDA)
    uint64_t graph_version = 0;   // the adapter version it was recorded with
    const void* owner = nullptr;  // the decoder it belongs to
    bool eager = false;           // recording failed or is switched off: launch op by op
};

float Decoder::embed_multiplier() const {
    if (!cfg_.scale_embeddings) return 1.0f;
    // Gemma multiplies by sqrt(hidden) rounded to the model's dtype (HF builds it as a tensor
    // of the hidden states' dtype): bf16 weights give bf16's sqrt(2304) = 48.0, not 48.0000...
    float normalizer = std::sqrt((float)cfg_.hidden);
    if (embed_.dtype == DType::BF16) normalizer = bf16_to_f32(f32_to_bf16(normalizer));
    if (embed_.dtype == DType::F16) normalizer = f16_to_f32(f32_to_f16(normalizer));
    return normalizer;
}

void Decoder::step_project(StepState& st, Tensor& y, const Tensor& x, int l, Group g, bool expand) const {
    const Layer& L = layers_[(size_t)l];
    const Tensor& merged = merged_group_[(size_t)l][(size_t)g];
    const Tensor* whole = merged.data ? &merged
                        : g == kQKV && L.qkv.data ? &L.qkv
                        : g == kGateUp && L.gate_up.data ? &L.gate_up
                        : g == kO ? &L.o : g == kDown ? &L.down : nullptr;
    const StepLora& lr = step_lora_[(size_t)l][(size_t)g];
    Tensor lora_t;
    if (lr.A.data) lora_t = st.lora_t.reshape({st.lora_t.numel()}).rows(0, lr.A.dim(0)).reshape({1, lr.A.dim(0)});
    if (whole && lr.A.data && !ggml_numerics_) {  // the LoRA's shrink rides along in the same launch
        linear_pair(y, x, *whole, lora_t, lr.A);
        if (expand) linear_add(y, lora_t, lr.B);  // else the caller fuses y += B t into its next op
        return;
    }
    if (whole) {
        matmul(y, x, *whole);
    } else {  // unstacked (CPU): the group's projections into consecutive slices of the one row
        static const char* const qkv_names[] = {"q_proj", "k_proj", "v_proj"};
        static const char* const gate_up_names[] = {"gate_proj", "up_proj"};
        const Tensor* parts[3] = {&L.q, &L.k, &L.v};
        const char* const* names = qkv_names;
        int count = 3;
        if (g == kGateUp) {
            parts[0] = &L.gate;
            parts[1] = &L.up;
            names = gate_up_names;
            count = 2;
        }
        Tensor flat = y.reshape({y.numel()});
        int64_t off = 0;
        for (int i = 0; i < count; i++) {
            const Tensor* w = parts[i];
            for (const auto& mw : merged_[(size_t)l])
                if (mw.first == names[i]) w = &mw.second;
            Tensor slice = flat.rows(off, off + w->dim(0));
            matmul(slice, x, *w);
            off += w->dim(0);
        }
    }
    if (lr.A.data) {
        linear(lora_t, x, lr.A);
        if (expand) linear_add(y, lora_t, lr.B);  // else the caller fuses y += B t into its next op
    }
}

bool Decoder::fused_step_fits(const KVCache& cache, std::string* why) const {
    auto no = [&](const char* reason) {
        if (why) *why = reason;
        return false;
    };
    if (device() != Device::CUDA) return no("not on CUDA");
    if (!cuda::fused_step_enabled()) return no("not switched on (T2L_FUSED_STEP=1)");
    if (ggml_numerics_) return no("llama.cpp numerics");
    if (cfg_.act != "silu" || cfg_.sandwich_norms || cfg_.qk_norm || cfg_.scale_embeddings || cfg_.norm_plus_one ||
        cfg_.attn_softcap > 0 || cfg_.final_softcap > 0 || cache.cos_local.data)
        return no("not a LLaMA/Mistral layer");
    for (bool sliding : cfg_.layer_sliding)
        if (sliding != (bool)cfg_.layer_sliding[0]) return no("sliding and global layers mixed");
    if (cfg_.layer_sliding.empty() || (cfg_.layer_sliding[0] && cfg_.sliding_window > (int64_t)1 << 30))
        return no("window out of range");
    if (cache.k.empty() || cache.k[0].dtype != DType::BF16) return no("the KV cache is not bf16");
    if (final_norm_.dtype != DType::BF16 || lm_head_.dtype != DType::BF16) return no("weights are not bf16");
    for (int l = 0; l < cfg_.n_layers; l++) {
        const Layer& L = layers_[(size_t)l];
        if (!L.qkv.data || !L.gate_up.data) return no("q|k|v or gate|up not stacked");
        for (const Tensor* t : {&L.qkv, &L.o, &L.gate_up, &L.down, &L.in_norm, &L.post_attn_norm})
            if (t->dtype != DType::BF16) return no("weights are not bf16");
        for (int g : {kO, kGateUp, kDown})
            if (step_lora_[(size_t)l][(size_t)g].A.data) return no("an unmerged LoRA beyond q/k/v");
    }
    cuda::FusedStepShape shape;
    shape.hidden = cfg_.hidden, shape.inter = cfg_.intermediate, shape.n_heads = cfg_.n_heads;
    shape.n_kv_heads = cfg_.n_kv_heads, shape.head_dim = cfg_.head_dim, shape.vocab = cfg_.vocab;
    return cuda::fused_step_supported(shape, why);
}

// The per-layer pointers the fused kernel walks: the weights (a merged adapter's stacks when one is
// in place), this cache's K and V, an unmerged q/k/v LoRA.
void Decoder::prepare_fused_step(StepState& st, const KVCache& cache) const {
    std::vector<cuda::FusedLayer> layers((size_t)cfg_.n_layers);
    for (int l = 0; l < cfg_.n_layers; l++) {
        const Layer& L = layers_[(size_t)l];
        const auto& merged = merged_group_[(size_t)l];
        cuda::FusedLayer& f = layers[(size_t)l];
        f.qkv = merged[kQKV].data ? merged[kQKV].data : L.qkv.data;
        f.o = merged[kO].data ? merged[kO].data : L.o.data;
        f.gate_up = merged[kGateUp].data ? merged[kGateUp].data : L.gate_up.data;
        f.down = merged[kDown].data ? merged[kDown].data : L.down.data;
        f.in_norm = L.in_norm.data;
        f.post_norm = L.post_attn_norm.data;
        f.k_cache = cache.k[(size_t)l].data;
        f.v_cache = cache.v[(size_t)l].data;
        const StepLora& lr = step_lora_[(size_t)l][kQKV];
        if (lr.A.data) {
            f.lora_A = lr.A.ptr<float>();
            f.lora_B = lr.B.ptr<float>();
            f.lora_r = (int)lr.A.dim(0);
        }
    }
    const int64_t bytes = (int64_t)(layers.size() * sizeof(cuda::FusedLayer));
    Tensor host = Tensor::empty({(bytes + 3) / 4}, DType::I32);
    std::memcpy(host.data, layers.data(), (size_t)bytes);
    st.fused_layers = host.to(Device::CUDA);
    const int chunks = cuda::fused_step_attn_chunks(cfg_.n_kv_heads);
    st.fused_part = Tensor::zeros({(int64_t)cfg_.n_heads * chunks * (cfg_.head_dim + 2)}, DType::F32, Device::CUDA);
    st.fused_counters = Tensor::zeros({cuda::fused_step_counters()}, DType::I32, Device::CUDA);
}

void Decoder::run_fused_step(StepState& st, KVCache& cache) const {
    const Tensor tok = st.tok_pos.rows(0, 1);
    embedding_at(st.x, embed_, tok, embed_multiplier());
    cuda::FusedStepArgs a;
    a.hidden = cfg_.hidden, a.inter = cfg_.intermediate, a.n_heads = cfg_.n_heads, a.n_kv_heads = cfg_.n_kv_heads;
    a.n_layers = cfg_.n_layers, a.vocab = cfg_.vocab;
    a.window = cfg_.layer_sliding[0] ? (int)cfg_.sliding_window : 0;
    a.attn_chunks = cuda::fused_step_attn_chunks(cfg_.n_kv_heads);
    a.eps = cfg_.rms_eps, a.attn_scale = cfg_.attn_scale;
    a.pos = st.tok_pos.ptr<int32_t>() + 1;
    a.cos = cache.cos.ptr<float>(), a.sin = cache.sin.ptr<float>();
    a.final_norm = final_norm_.data, a.lm_head = lm_head_.data;
    a.x = st.x.ptr<float>(), a.qkv = st.qkv.ptr<float>(), a.ctx = st.ctx.ptr<float>(), a.act = st.act.ptr<float>();
    a.part = st.fused_part.ptr<float>(), a.lora_t = st.lora_t.ptr<float>(), a.logits = st.logits.ptr<float>();
    a.counters = reinterpret_cast<unsigned*>(st.fused_counters.data);
    cuda::fused_step(a, static_cast<const cuda::FusedLayer*>(st.fused_layers.data));
    argmax(st.next, st.logits);
}

void Decoder::run_step(StepState& st, KVCache& cache) const {
    if (st.fused) return run_fused_step(st, cache);
    const Tensor tok = st.tok_pos.rows(0, 1), pos = st.tok_pos.rows(1, 2);
    embedding_at(st.x, embed_, tok, embed_multiplier());
    const bool local_rope = cache.cos_local.data != nullptr;
    for (int l = 0; l < cfg_.n_layers; l++) {
        const Layer& L = layers_[(size_t)l];
        // The previous layer's MLP output (normed first under sandwich norms) joins the residual in
        // the same pass as this norm.
        add_rms_norm(st.x, l == 0 ? nullptr : &st.dn, st.h, L.in_norm, cfg_.rms_eps, cfg_.norm_plus_one,
                     l > 0 && cfg_.sandwich_norms ? &layers_[(size_t)l - 1].post_ff_norm : nullptr);
        // q|k|v: an unmerged LoRA's B t is added inside qkv_rope_cache, one launch fewer.
        step_project(st, st.qkv, st.h, l, kQKV, false);
        const StepLora& qkv_lora = step_lora_[(size_t)l][kQKV];
        const Tensor lora_t = qkv_lora.A.data ? st.lora_t.reshape({st.lora_t.numel()}).rows(0, qkv_lora.A.dim(0)) : Tensor();
        const bool sliding = cfg_.layer_sliding[(size_t)l];
        const Tensor& cos = sliding && local_rope ? cache.cos_local : cache.cos;
        const Tensor& sin = sliding && local_rope ? cache.sin_local : cache.sin;
        qkv_rope_cache(st.q, cache.k[(size_t)l], cache.v[(size_t)l], st.qkv, cos, sin, pos,
                       cfg_.qk_norm ? &L.q_norm : nullptr, cfg_.qk_norm ? &L.k_norm : nullptr, cfg_.n_heads,
                       cfg_.n_kv_heads, cfg_.head_dim, cfg_.rms_eps, cfg_.norm_plus_one,
                       qkv_lora.A.data ? &qkv_lora.B : nullptr, qkv_lora.A.data ? &lora_t : nullptr);
        AttentionParams ap;
        ap.n_heads = cfg_.n_heads;
        ap.n_kv_heads = cfg_.n_kv_heads;
        ap.head_dim = cfg_.head_dim;
        ap.scale = cfg_.attn_scale;
        ap.causal = true;
        ap.window = sliding ? cfg_.sliding_window : 0;
        ap.softcap = cfg_.attn_softcap;
        attention_at(st.ctx, st.q, cache.k[(size_t)l], cache.v[(size_t)l], pos, ap, st.attn_scratch);
        step_project(st, st.o, st.ctx, l, kO);
        add_rms_norm(st.x, &st.o, st.h, cfg_.sandwich_norms ? L.pre_ff_norm : L.post_attn_norm, cfg_.rms_eps,
                     cfg_.norm_plus_one, cfg_.sandwich_norms ? &L.post_attn_norm : nullptr);
        const Activation act = cfg_.act == "silu" ? Activation::SiLU : Activation::GeluTanh;
        const Tensor& merged_gu = merged_group_[(size_t)l][kGateUp];
        const Tensor& gate_up = merged_gu.data ? merged_gu : L.gate_up;
        if (device() == Device::CUDA && gate_up.data && !step_lora_[(size_t)l][kGateUp].A.data) {
            linear_glu(st.act, st.h, gate_up, act, false, &st.gu);  // the activation rides in the product's launch
        } else {
            step_project(st, st.gu, st.h, l, kGateUp);
            if (ggml_numerics_ && cfg_.act != "silu") {  // CPU only
                std::memcpy(st.act.data, st.gu.data, (size_t)cfg_.intermediate * sizeof(float));
                ggml_gelu_mul(st.act.f32(), st.gu.f32() + cfg_.intermediate, cfg_.intermediate);
            } else {
                act_mul(st.act, st.gu, act);
            }
        }
        step_project(st, st.dn, st.act, l, kDown);
    }
    add_rms_norm(st.x, &st.dn, st.normed, final_norm_, cfg_.rms_eps, cfg_.norm_plus_one,
                 cfg_.sandwich_norms ? &layers_.back().post_ff_norm : nullptr);
    {
        // The LM head launches plainly: early, with its first weights requested before the wait
        // like the layers' GEMVs, it measured 0.2 - 0.7% slower (ops_cuda.h GemvPdl).
        const cuda::GemvPdl plain(false);
        matmul(st.logits, st.normed, lm_head_);
    }
    if (cfg_.final_softcap > 0) softcap_(st.logits, cfg_.final_softcap);
    argmax(st.next, st.logits);
}

namespace {
bool graphs_disabled() {
    static const bool off = env_is("T2L_CUDA_GRAPH", "0");
    return off;
}
}  // namespace

void Decoder::step_once(int32_t token, KVCache& cache) const {
    if (token < 0 || token >= cfg_.vocab) fail("decoder: token id ", token, " is outside the vocabulary (", cfg_.vocab, ")");
    if (cache.length + 1 > cache.capacity) fail("decoder: ", cache.length + 1, " tokens exceed the KV cache capacity of ", cache.capacity);
    const Device dev = device();
    if (!cache.step || cache.step->owner != this) {
        auto st = std::make_shared<StepState>();
        const int64_t H = cfg_.hidden, I = cfg_.intermediate;
        const int64_t qd = (int64_t)cfg_.n_heads * cfg_.head_dim, kd = (int64_t)cfg_.n_kv_heads * cfg_.head_dim;
        auto f32 = [&](int64_t n) { return Tensor::zeros({1, n}, DType::F32, dev); };
        st->tok_pos = Tensor::zeros({2}, DType::I32, dev);
        st->next = Tensor::zeros({1}, DType::I32, dev);
        st->x = f32(H), st->h = f32(H), st->qkv = f32(qd + 2 * kd), st->q = f32(qd), st->ctx = f32(qd), st->o = f32(H);
        st->gu = f32(2 * I), st->act = f32(I), st->dn = f32(H), st->normed = f32(H), st->logits = f32(cfg_.vocab);
        // LoRA's middle vector: room for rank 64 on every module of a group; set_adapter may ask more.
        st->lora_t = f32(7 * 64);
        AttentionParams ap;
        ap.n_heads = cfg_.n_heads;
        ap.n_kv_heads = cfg_.n_kv_heads;
        ap.head_dim = cfg_.head_dim;
        AttentionParams local = ap;
        local.window = cfg_.sliding_window;
        const int64_t scratch = std::max(attention_at_scratch(cache.k[0], ap), attention_at_scratch(cache.k[0], local));
        st->attn_scratch = Tensor::zeros({std::max<int64_t>(1, scratch)}, DType::F32, dev);
        st->owner = this;
        cache.step = st;
    }
    StepState& st = *cache.step;
    int64_t r_max = 0;
    for (const auto& layer : step_lora_)
        for (const StepLora& g : layer) r_max = std::max(r_max, g.A.data ? g.A.dim(0) : 0);
    if (r_max > st.lora_t.numel()) {
        st.lora_t = Tensor::zeros({1, r_max}, DType::F32, dev);
        st.graph.reset();
    }
    if (dev == Device::CUDA && st.fused_version != adapter_version_) {
        st.fused = fused_step_fits(cache, nullptr);
        if (st.fused) prepare_fused_step(st, cache);
        st.fused_version = adapter_version_;
    }
    const int32_t tp[2] = {token, (int32_t)cache.length};
    if (dev == Device::CPU) {
        std::memcpy(st.tok_pos.data, tp, sizeof tp);
        run_step(st, cache);
    } else {
        cuda::copy_to_device_async(st.tok_pos.data, tp, sizeof tp);
        if (st.graph && st.graph_version == adapter_version_) {
            cuda::graph_launch(st.graph);
        } else {
            run_step(st, cache);  // this step's result; any lazily made state now exists
            if (!st.eager && !graphs_disabled()) {
                try {
                    cuda::graph_begin();
                    run_step(st, cache);  // recorded, not run
                    st.graph = cuda::graph_end();
                    st.graph_version = adapter_version_;
                } catch (const Error&) {
                    cuda::graph_abort();
                    st.graph.reset();
                    st.eager = true;  // op by op from now on: slower, same results
                }
            }
        }
    }
    cache.length += 1;
}

bool Decoder::step_is_fused(const KVCache& cache) const { return cache.step && cache.step->fused; }

uint64_t Decoder::weight_bytes_per_token() const {
    uint64_t b = final_norm_.nbytes() + lm_head_.nbytes();
    for (const Layer& L : layers_)
        for (const Tensor* t : {&L.in_norm, &L.post_attn_norm, &L.pre_ff_norm, &L.post_ff_norm, &L.q_norm, &L.k_norm, &L.q,
                                &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down})
            if (t->data) b += t->nbytes();
    return b;
}

Tensor Decoder::step(int32_t token, KVCache& cache) const {
    step_once(token, cache);
    return cache.step->logits.to(Device::CPU).reshape({(int64_t)cfg_.vocab});
}

int32_t Decoder::step_greedy(int32_t token, KVCache& cache) const {
    step_once(token, cache);
    const Tensor next = cache.step->next.on(Device::CPU);
    return *next.ptr<int32_t>();
}

Tensor Decoder::forward(const std::vector<int32_t>& tokens, KVCache& cache, bool all_logits,
                        std::vector<Tensor>* hidden_states) const {
    const int64_t n = (int64_t)tokens.size(), H = cfg_.hidden, I = cfg_.intermediate;
    const int64_t pos0 = cache.length;
    if (n == 0) fail("decoder: no tokens");
    if (n == 1 && !hidden_states) {
        Tensor logits = step(tokens[0], cache);
        return all_logits ? logits.reshape({1, (int64_t)cfg_.vocab}) : logits;
    }
    if (pos0 + n > cache.capacity) fail("decoder: ", pos0 + n, " tokens exceed the KV cache capacity of ", cache.capacity);
    const int64_t qd = (int64_t)cfg_.n_heads * cfg_.head_dim, kd = (int64_t)cfg_.n_kv_heads * cfg_.head_dim;

    const Device dev = device();
    auto empty = [&](std::vector<int64_t> shape) { return Tensor::empty(std::move(shape), DType::F32, dev); };
    Tensor x = empty({n, H});
    embedding(x, embed_, tokens.data(), n);
    if (cfg_.scale_embeddings) scale_(x, embed_multiplier());
    if (hidden_states) hidden_states->assign(1, x.to(Device::CPU));

    const Tensor cos = cache.cos.rows(pos0, pos0 + n), sin = cache.sin.rows(pos0, pos0 + n);
    const bool local_rope = cache.cos_local.data != nullptr;
    const Tensor cos_l = local_rope ? cache.cos_local.rows(pos0, pos0 + n) : cos;
    const Tensor sin_l = local_rope ? cache.sin_local.rows(pos0, pos0 + n) : sin;
    Tensor h = empty({n, H}), q = empty({n, qd}), k = empty({n, kd}), v = empty({n, kd});
    Tensor ctx = empty({n, qd}), o = empty({n, H});
    Tensor g = empty({n, I}), u = empty({n, I}), dn = empty({n, H});
    for (int l = 0; l < cfg_.n_layers; l++) {
        const Layer& L = layers_[(size_t)l];
        // Attention block.
        rms_norm(h, x, L.in_norm, cfg_.rms_eps, cfg_.norm_plus_one);
        project(q, h, L.q, l, "q_proj");
        project(k, h, L.k, l, "k_proj");
        project(v, h, L.v, l, "v_proj");
        if (cfg_.qk_norm) {  // Gemma 3: normalise each head of q and k before the rotation
            Tensor qh = q.reshape({n * cfg_.n_heads, (int64_t)cfg_.head_dim});
            Tensor kh = k.reshape({n * cfg_.n_kv_heads, (int64_t)cfg_.head_dim});
            rms_norm(qh, qh, L.q_norm, cfg_.rms_eps, cfg_.norm_plus_one);
            rms_norm(kh, kh, L.k_norm, cfg_.rms_eps, cfg_.norm_plus_one);
        }
        const bool sliding = cfg_.layer_sliding[(size_t)l];
        rope_(q, cfg_.n_heads, cfg_.head_dim, sliding ? cos_l : cos, sliding ? sin_l : sin);
        rope_(k, cfg_.n_kv_heads, cfg_.head_dim, sliding ? cos_l : cos, sliding ? sin_l : sin);
        copy_rows(cache.k[(size_t)l], pos0, k);
        copy_rows(cache.v[(size_t)l], pos0, v);
        AttentionParams ap;
        ap.n_heads = cfg_.n_heads;
        ap.n_kv_heads = cfg_.n_kv_heads;
        ap.head_dim = cfg_.head_dim;
        ap.scale = cfg_.attn_scale;
        ap.causal = true;
        ap.q_pos0 = pos0;
        ap.window = cfg_.layer_sliding[(size_t)l] ? cfg_.sliding_window : 0;
        ap.softcap = cfg_.attn_softcap;
        Tensor keys = cache.k[(size_t)l].rows(0, pos0 + n), values = cache.v[(size_t)l].rows(0, pos0 + n);
        attention(ctx, q, keys, values, ap);
        project(o, ctx, L.o, l, "o_proj");
        if (cfg_.sandwich_norms) rms_norm(o, o, L.post_attn_norm, cfg_.rms_eps, cfg_.norm_plus_one);
        add_(x, o);
        // MLP block.
        rms_norm(h, x, cfg_.sandwich_norms ? L.pre_ff_norm : L.post_attn_norm, cfg_.rms_eps, cfg_.norm_plus_one);
        project(g, h, L.gate, l, "gate_proj");
        project(u, h, L.up, l, "up_proj");
        if (cfg_.act == "silu") {
            silu_(g);
            mul_(g, u);
        } else if (ggml_numerics_) {
            ggml_gelu_mul(g.f32(), u.f32(), g.numel());
        } else {
            gelu_tanh_(g);
            mul_(g, u);
        }
        project(dn, g, L.down, l, "down_proj");
        if (cfg_.sandwich_norms) rms_norm(dn, dn, L.post_ff_norm, cfg_.rms_eps, cfg_.norm_plus_one);
        add_(x, dn);
        if (hidden_states) hidden_states->push_back(x.to(Device::CPU));
    }
    cache.length = pos0 + n;

    Tensor last = all_logits ? x : x.rows(n - 1, n);
    Tensor normed = empty(last.shape);
    rms_norm(normed, last, final_norm_, cfg_.rms_eps, cfg_.norm_plus_one);
    Tensor logits = empty({normed.dim(0), (int64_t)cfg_.vocab});
    matmul(logits, normed, lm_head_);
    if (cfg_.final_softcap > 0) softcap_(logits, cfg_.final_softcap);
    logits = logits.on(Device::CPU);
    return all_logits ? logits : logits.reshape({(int64_t)cfg_.vocab});
}

}  // namespace t2l
