// encoder.h — the text encoder that turns a task description into T2L's task embedding.
//
// Two BERT-family architectures through one code path, chosen by the HF config:
//   "new"  gte-v1.5 NewModel: RoPE (NTK-scaled), packed qkv, gated GELU MLP, post-LayerNorm
//   "bert" BERT (bge-small, MiniLM, ...): absolute position embeddings, separate q/k/v, GELU MLP
// Both: word + token-type(0) embeddings -> LayerNorm -> N post-norm layers; bidirectional
// attention over one unpadded sequence; fp32 throughout. The task embedding is the final
// hidden state of the first ([CLS]) token, L2-normalised and scaled by sqrt(hidden).
// A sentence-transformers model (all-MiniLM-L6-v2, bge-small, ...) also has its own sentence
// embedding: its pooling (CLS, mean or max over the tokens) and optional L2 normalisation,
// which t2l-convert records as SentenceConfig.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "format/t2l_file.h"
#include "io/json.h"
#include "models/weights.h"
#include "ops/runtime_tensor.h"

namespace t2l {

struct EncoderConfig {
    std::string arch;                // "new" or "bert"
    int hidden = 0, n_layers = 0, n_heads = 0, head_dim = 0, intermediate = 0;
    int vocab = 0, type_vocab = 0, max_positions = 0;
    float ln_eps = 1e-12f;
    double rope_theta = 10000.0, ntk_factor = 0.0;  // "new": ntk_factor > 0 when rope_scaling type is ntk

    static EncoderConfig from_json(const json::Value& cfg, const std::string& source);
};

// How a sentence-transformers model turns its token states into one sentence vector: the
// metadata "sentence.config" = {"pooling": "cls"|"mean"|"max", "normalize": bool,
// "max_length": N}, which t2l-convert reads from modules.json, 1_Pooling/config.json and
// sentence_bert_config.json.
struct SentenceConfig {
    std::string pooling;   // "cls", "mean" or "max"
    bool normalize = false;
    int max_length = 0;    // tokens, [CLS] and [SEP] included (sentence-transformers' max_seq_length)

    static constexpr const char* kMetaKey = "sentence.config";
    // From "<prefix>sentence.config"; false when the file has none.
    static bool from_file(const T2lFile& file, const std::string& prefix, SentenceConfig* out);
    static SentenceConfig from_json(const json::Value& v, const std::string& source);
};

class TextEncoder {
public:
    // prefix "" for an encoder .t2l, "encoder." for one bundled in a T2L file. On CUDA the
    // weights are copied to the GPU once and every activation stays there.
    TextEncoder(const T2lFile& file, const std::string& prefix, Device device = Device::CPU);
    Device device() const { return w_.device(); }
    const EncoderConfig& config() const { return cfg_; }

    // Hidden states of every token after the last layer: (n, hidden), on the encoder's device.
    // When `layers` is given it receives the embedding output and each layer's output
    // (n_layers + 1 CPU tensors).
    Tensor forward(const std::vector<int32_t>& ids, std::vector<Tensor>* layers = nullptr) const;

    // T2L's task embedding: CLS / max(||CLS||, 1e-12) * sqrt(hidden). The tensor form is (1, hidden)
    // on the encoder's device, so a GPU pipeline never waits for it.
    Tensor task_embedding_tensor(const std::vector<int32_t>& ids) const;
    std::vector<float> task_embedding(const std::vector<int32_t>& ids) const;

    // The model's sentence embedding: the final hidden states pooled as `sc` says (cls: the
    // first token; mean: the average over all tokens; max: the per-dimension maximum), then,
    // when sc.normalize, divided by max(||v||, 1e-12), as sentence-transformers does.
    std::vector<float> sentence_embedding(const std::vector<int32_t>& ids, const SentenceConfig& sc) const;

private:
    struct Layer {
        // "new" packs q|k|v into one (3H, H) weight and up|gate into one (2I, H): these are row
        // views of the packed tensors, so both architectures run the same projections.
        Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, attn_ln_w, attn_ln_b;
        Tensor gate_w, up_w, up_b, down_w, down_b, mlp_ln_w, mlp_ln_b;  // gate_w: "new" only (gated MLP)
        Tensor qkv_w, qkv_b, up_gate_w;  // "new": the packed tensors, each multiplied in one product
    };
    void rope_tables(int64_t n, Tensor* cos, Tensor* sin) const;
    // One sequence length's activations (and, on CUDA, its recorded graph): forward() keeps one
    // per length it has seen, so a repeated length replays the whole encoder with one launch.
    struct Run {
        Tensor ids, zeros, positions;  // int32 (n) on the device
        Tensor x, t, q, k, v, ctx, attn, mlp, up, gate, cos, sin;
        Tensor qkv, up_gate;  // "new": the packed products (n, 3H) and (n, 2I)
        std::shared_ptr<void> graph;
        bool eager = false;            // recording failed: op by op
    };
    std::shared_ptr<Run> make_run(int64_t n) const;
    void encode(Run& run, std::vector<Tensor>* layers) const;

    EncoderConfig cfg_;
    WeightSource w_;
    Tensor word_emb_, type_emb_, pos_emb_, emb_ln_w_, emb_ln_b_;
    Tensor unit_scale_;  // (hidden) ones: the task embedding's normalisation as an RMS norm
    std::vector<Layer> layers_;
    std::vector<float> inv_freq_;  // "new": the NTK-scaled rotary frequencies, (head_dim / 2)
    bool graphable_ = false;       // CUDA with f32 weights (no op needs a shared scratch buffer)
    mutable std::mutex runs_mu_;
    mutable std::map<int64_t, std::shared_ptr<Run>> runs_;  // by sequence length (CUDA)
};

// The reference's description preprocessing: strip Unicode whitespace at both ends and
// append "." when the last character is a letter.
std::string add_full_stop(const std::string& description);

}  // namespace t2l
