// hypernet.h — T2L's hypernetwork (HyperModulator): task embedding -> LoRA A/B for every
// (layer, target module) of a base model, in one batched pass per module type.
//
// Sizes: d = latent (hypernet_latent_size), h = head_in (head_in_size), r = LoRA rank,
// in/out = the target projection's features (read from the AB_offset tensors' shapes).
//   enc    = LayerNorm(Linear(emb -> d/2))                     task_encoder
//   depth  = LayerNorm(Embedding(layer) : d/4)                 layer_depth_encoder
//   type   = LayerNorm(Embedding(module index) : d/4)          layer_type_encoder
//   x      = mixer([enc, depth, type])                         Linear(d,4d) SiLU Linear(4d,d) SiLU
//   x      = mlp1(x)                                           residual: x + SiLU(L(SiLU(L(LN(x)))))
//   L:  head(mlp3(mlp2(x)))  -> r*(in+out), split into A (r, in) and B^T (r, out)
//   M:  (shared_AB_head) per A/B: mlp2(x + LN(out_emb[m][A|B])) -> mlp3 -> head -> (r, max) sliced
//   S:  (autoreg_gen) one rank row per pass: the rank index enters by rotary embedding over d
//       (or a learned position embedding) before mlp2
//   SFT checkpoints add AB_offset[module][layer]; reconstruction ("recon") checkpoints rescale:
//   non-factorized divides by sqrt(delta_w_scaling), factorized un-standardises with the stored
//   mean/std (z-scores) and adds AB_offset.
#pragma once

#include <string>
#include <vector>

#include "format/t2l_file.h"
#include "lora/adapter.h"
#include "models/weights.h"

namespace t2l {

struct HypernetConfig {
    int emb_size = 0, latent = 0, head_in = 0, r = 0, n_layers = 0;
    std::vector<std::string> modules;           // order = layer-type index (adapter_config.json order)
    std::vector<int64_t> in_features, out_features;
    bool shared_AB_head = false, autoreg_gen = false, learnable_pos_emb = false, head_use_bias = false;
    std::string training_task = "sft";          // "sft" or "recon"
    bool pred_z_score = false, factorized = false;
    double delta_w_scaling = 10000;
    double lora_alpha = 16;
    bool use_rslora = true;
    std::string base_model;                     // args.yaml model_dir

    std::string variant() const;                // "L", "M", "S", ...
};

class Hypernet {
public:
    // On CUDA the matrices run on the GPU; the L variant also cuts A and B out of its heads there
    // and copies them once into page-locked host memory (the adapters' tensors are views of it).
    // The other variants' small glue (rank rows, offsets) runs on the host.
    explicit Hypernet(const T2lFile& file, Device device = Device::CPU);
    const HypernetConfig& config() const { return cfg_; }
    Device device() const { return w_.device(); }

    // One adapter per task embedding (each emb_size floats): every layer and module.
    std::vector<LoraAdapter> generate(const std::vector<std::vector<float>>& task_embs) const;
    // The same from a (tasks, emb_size) f32 tensor on any device (on the GPU nothing waits for it).
    std::vector<LoraAdapter> generate(const Tensor& task_embs) const;

private:
    struct Linear { Tensor w, b; };
    struct Norm { Tensor w, b; };
    struct ResBlock { Norm ln; Linear l1, l2; };
    Tensor lin(const Tensor& x, const Linear& l, bool silu = false) const;  // x lᵀ + b, then SiLU if asked
    Tensor norm(const Tensor& x, const Norm& n) const;
    Tensor res_block(const Tensor& x, const ResBlock& b) const;
    Tensor mlp3(const Tensor& x) const;
    Tensor add_rank_position(const Tensor& x, int64_t rows) const;  // S: (rows*r, d) with rank k in row i*r+k; host

    HypernetConfig cfg_;
    WeightSource w_;
    Linear task_lin_, mixer2_, mlp3_l1_, mlp3_l2_;
    Norm task_ln_, depth_ln_, type_ln_, mlp3_ln_, out_emb_ln_, pos_ln_;
    Tensor depth_emb_, type_emb_, pos_emb_;
    ResBlock mlp1_, mlp2_;
    std::vector<Linear> heads_;                 // per module
    std::vector<Tensor> out_emb_a_, out_emb_b_; // per module (M)
    std::vector<Tensor> offset_a_, offset_b_, mean_a_, mean_b_, std_a_, std_b_;  // per module, host
    std::vector<Tensor> offset_a_dev_, offset_b_dev_;  // per module on the GPU (L variant on CUDA)
    // mixer.1 split by what its input holds (see the constructor): the columns that see the task
    // encoding, and the task-free rest already applied to every (module, layer).
    Tensor mixer1_task_w_;   // (4d, d/2) f32
    Tensor mixer1_fixed_;    // (modules · n_layers, 4d): row mi · n_layers + l
};

}  // namespace t2l
