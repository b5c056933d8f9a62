// decoder.h — the base LLM: LLaMA 3.x, Mistral and Gemma 2 through one code path driven by
// the HF config, with LoRA on any projection an adapter names, a KV cache, prefill of a
// whole prompt in one pass and token-by-token decode.
//
// Per layer (x is the residual stream, (n, hidden)):
//   LLaMA/Mistral:  x += attn(rms(x));               x += mlp(rms(x))
//   Gemma 2:        x += post_rms(attn(rms(x)));     x += post_rms(mlp(pre_rms(x)))
//   attn: q, k, v projections -> RoPE on q, k -> grouped-query attention (causal; Gemma 2:
//         sliding window on alternating layers, score soft-cap, 1/sqrt(query_pre_attn_scalar))
//   mlp:  down(act(gate(x)) * up(x)), act = SiLU (LLaMA/Mistral) or tanh-GELU (Gemma)
// Gemma also scales the embeddings by sqrt(hidden), stores RMSNorm weights as (w - 1), ties
// lm_head to the embeddings and soft-caps the final logits. Gemma 3 drops the soft-caps, adds
// an RMSNorm on each head of q and k, and gives its local (sliding) layers their own RoPE base.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/t2l_file.h"
#include "io/gguf_quant.h"
#include "lora/adapter.h"
#include "models/weights.h"
#include "ops/runtime_tensor.h"

namespace t2l {

struct DecoderConfig {
    std::string model_type;  // "llama", "mistral", "gemma2", "gemma3_text"
    int vocab = 0, hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, intermediate = 0;
    float rms_eps = 1e-5f;
    bool norm_plus_one = false;     // Gemma: RMSNorm multiplies by (1 + w)
    bool sandwich_norms = false;    // Gemma 2: post-attention and pre/post-feedforward norms
    bool scale_embeddings = false;  // Gemma: x = embed * sqrt(hidden)
    bool qk_norm = false;           // Gemma 3: RMSNorm (1 + w) over head_dim on every q and k head
    bool tie_embeddings = false;
    std::string act = "silu";       // "silu" or "gelu_tanh"
    float attn_scale = 0;           // 1/sqrt(head_dim), or 1/sqrt(query_pre_attn_scalar)
    float attn_softcap = 0, final_softcap = 0;
    int64_t sliding_window = 0;
    std::vector<bool> layer_sliding;  // per layer: uses the sliding window
    // RoPE
    double rope_theta = 10000;
    std::string rope_type = "default";  // default, linear, llama3
    double rope_factor = 1, low_freq_factor = 1, high_freq_factor = 4, original_max_positions = 8192;
    double rope_local_theta = 0;  // Gemma 3: the base of the sliding layers' plain RoPE (0: as global)
    int64_t max_positions = 0;
    // Tokens
    std::vector<int32_t> eos_ids;
    int32_t bos_id = -1;

    static DecoderConfig from_json(const json::Value& cfg, const json::Value* generation, const std::string& source);
};

// The KV cache of one sequence: per layer K and V, (capacity, n_kv_heads * head_dim) f32, and
// the rotary cos/sin tables for every position it can hold (capacity, head_dim / 2), made once
// so a decode step sends nothing to the device but its token id.
// On CUDA the cache is bf16 when the model's weights are (as HF keeps it in the model's dtype).
struct StepState;
struct KVCache {
    int64_t capacity = 0, length = 0;
    std::vector<Tensor> k, v;
    Tensor cos, sin;              // global layers
    Tensor cos_local, sin_local;  // sliding layers (Gemma 3's own base); empty when the same
    std::shared_ptr<StepState> step;  // the decode step's buffers and recorded CUDA graph (made on first use)
};

class Decoder {
public:
    // On CUDA every weight is copied to the GPU once (in its stored dtype), the KV cache and
    // activations live there, and only the logits come back.
    explicit Decoder(const T2lFile& file, Device device = Device::CPU);
    const DecoderConfig& config() const { return cfg_; }
    Device device() const { return w_.device(); }

    // Adapters: unmerged (y = W x + s B A x at every step) or merged (W' = W + s B A, f32 copies
    // of the touched weights). Switching adapters never reloads the base weights.
    void set_adapter(const LoraAdapter* adapter, bool merged, double scale_override = 0);

    // narrow_kv: on CUDA a bf16 model gets a bf16 cache (half the bytes a step reads, as HF keeps
    // the cache in the model's dtype); false keeps f32 (the CPU's attention always reads f32).
    KVCache new_cache(int64_t capacity, bool narrow_kv = true) const;
    // Runs tokens through the model after what the cache already holds; returns the logits of
    // the last token (vocab) or, when all_logits, of every token (n, vocab), as a CPU tensor.
    // One token goes through step() (below) unless hidden states are asked for.
    Tensor forward(const std::vector<int32_t>& tokens, KVCache& cache, bool all_logits = false,
                   std::vector<Tensor>* hidden_states = nullptr) const;

    // The decode step: one token at position cache.length, through fused ops that keep the token
    // and its position on the device. On CUDA the first step of a cache records the whole step as
    // a CUDA graph and later steps replay it with one launch (re-recorded when the adapter
    // changes). step() returns the logits (vocab) on the CPU; step_greedy() only the argmax,
    // computed on the device, so nothing but 4 bytes comes back.
    Tensor step(int32_t token, KVCache& cache) const;
    int32_t step_greedy(int32_t token, KVCache& cache) const;

    // Whether this cache's steps so far went through the fused one-kernel step (CUDA, LLaMA and
    // Mistral shapes; kernels/fused_step.cu) rather than op by op.
    bool step_is_fused(const KVCache& cache) const;

    // Bytes of weights one decode step reads (every layer, the final norm and the LM head).
    uint64_t weight_bytes_per_token() const;

private:
    struct Layer {
        Tensor in_norm, post_attn_norm, pre_ff_norm, post_ff_norm, q_norm, k_norm;
        Tensor q, k, v, o, gate, up, down;  // (out, in) weights
        // On CUDA q|k|v and gate|up are stored stacked, one buffer each (the step reads each stack
        // with one GEMV); q, k, v, gate and up are then row views of these.
        Tensor qkv, gate_up;
    };
    // The four projections of a layer as the step sees them: q|k|v, o, gate|up, down.
    enum Group { kQKV = 0, kO, kGateUp, kDown, kGroups };
    struct StepLora {  // unmerged LoRA on one group: y += B_cat (A_cat x), the scale folded into B_cat
        Tensor A, B;   // (r_total, in) and (group out, r_total): every module's A stacked, B block-diagonal
    };
    void step_project(StepState& st, Tensor& y, const Tensor& x, int layer, Group g, bool expand = true) const;
    void run_step(StepState& st, KVCache& cache) const;
    // The fused step (CUDA, LLaMA/Mistral shapes, kernels/fused_step.cu): whether this model, this
    // cache and the adapter in place can take it (why not, when not), and the step through it.
    bool fused_step_fits(const KVCache& cache, std::string* why) const;
    void prepare_fused_step(StepState& st, const KVCache& cache) const;
    void run_fused_step(StepState& st, KVCache& cache) const;
    void step_once(int32_t token, KVCache& cache) const;
    float embed_multiplier() const;  // Gemma: sqrt(hidden) in the weights' dtype; else 1
    struct LoraRef {  // unmerged LoRA on one projection
        Tensor A, B;
        float scale = 0;
    };
    void project(Tensor& y, const Tensor& x, const Tensor& w, int layer, const char* module) const;
    // y = x wᵀ for a base weight: linear(), except in llama.cpp parity mode (below).
    void matmul(Tensor& y, const Tensor& x, const Tensor& w) const;
    void read_ggml_numerics(const T2lFile& file);
    void rope_tables(int64_t n, const std::vector<float>& inv_freq, Tensor* cos, Tensor* sin) const;  // positions 0 .. n-1

    DecoderConfig cfg_;
    WeightSource w_;
    Tensor embed_, final_norm_, lm_head_;
    std::vector<Layer> layers_;
    std::vector<float> inv_freq_, inv_freq_local_;
    // Active adapter.
    std::vector<std::vector<std::pair<std::string, LoraRef>>> lora_;      // per layer: module -> A, B
    std::vector<std::vector<std::pair<std::string, Tensor>>> merged_;     // per layer: module -> W + sBA
    std::vector<std::vector<StepLora>> step_lora_;   // per layer and group (empty tensors: none)
    std::vector<std::vector<Tensor>> merged_group_;  // per layer and group: a merged stack (CUDA), or empty
    uint64_t adapter_version_ = 0;                   // bumped by set_adapter: recorded graphs go stale
    // T2L_NUMERICS=ggml (CPU, models converted from GGUF): llama.cpp's CPU arithmetic instead of
    // f32, for parity runs on quantised files. Each base weight's activations are rounded the way
    // ggml rounds them for the GGUF type the weight was stored in (keyed by the weight's data;
    // Q4_1/Q5_1 weights also keep their block minimums for ggml's f16 block sums), and GELU goes
    // through ggml's f16 table. See io/gguf_quant.h.
    bool ggml_numerics_ = false;
    std::unordered_map<const void*, GgmlActRounding> act_rounding_;
    std::unordered_map<const void*, Tensor> block_mins_;  // (out, in/32)
    void ggml_gelu_mul(float* g, const float* u, int64_t n) const;  // g = gelu(g) * u, ggml's way
};

}  // namespace t2l
