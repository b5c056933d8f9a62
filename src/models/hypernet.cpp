// hypernet.cpp — the HyperModulator forward pass (see hypernet.h for the math).
#include "models/hypernet.h"

#include <cmath>
#include <cstring>

#include "common.h"
#include "gpu.h"
#include "ops/ops.h"

namespace t2l {

namespace {
constexpr float kLayerNormEps = 1e-5f;  // nn.LayerNorm's default, used by every norm in the hypernet

bool arg_bool(const json::Value& args, const char* key, bool def) {
    const json::Value* v = args.find(key);
    if (!v || v->is_null()) return def;
    if (!v->is_bool()) fail("args.yaml: '", key, "' should be true or false");
    return v->boolean;
}

// Copy row `src_row` of a (rows, width) f32 tensor's columns [col, col + n) to dst.
inline const float* row_ptr(const Tensor& t, int64_t row, int64_t col) { return t.f32() + row * t.dim(-1) + col; }
}  // namespace

std::string HypernetConfig::variant() const {
    if (shared_AB_head && autoreg_gen) return learnable_pos_emb ? "S (learned rank positions)" : "S";
    if (shared_AB_head) return "M";
    if (autoreg_gen) return learnable_pos_emb ? "autoregressive (learned rank positions)" : "autoregressive";
    return "L";
}

Hypernet::Hypernet(const T2lFile& file, Device device) : w_(file, "", device) {
    const std::string path = file.path();
    if (file.find_meta("general.kind") && file.meta_string("general.kind") != "t2l")
        fail(path, ": is a '", file.meta_string("general.kind"), "' file, not a T2L hypernetwork");
    const json::Value args = file.meta_json("t2l.args");
    const json::Value acfg = file.meta_json("t2l.adapter_config");

    cfg_.training_task = args.find("training_task") ? args.at("training_task").as_string() : "sft";
    if (cfg_.training_task != "sft" && cfg_.training_task != "recon")
        fail(path, ": training_task '", cfg_.training_task, "' is not sft or recon");
    cfg_.shared_AB_head = arg_bool(args, "shared_AB_head", false);
    cfg_.autoreg_gen = arg_bool(args, "autoreg_gen", false);
    cfg_.learnable_pos_emb = arg_bool(args, "learnable_pos_emb", false);
    cfg_.pred_z_score = arg_bool(args, "pred_z_score", false);
    cfg_.factorized = arg_bool(args, "factorized", false);
    if (const json::Value* v = args.find("delta_w_scaling"); v && v->is_number()) cfg_.delta_w_scaling = v->as_double();
    if (const json::Value* v = args.find("model_dir"); v && v->is_string()) cfg_.base_model = v->string;
    if (const json::Value* v = args.find("encoder_type"); v && v->is_string() && v->string != "linear")
        fail(path, ": encoder_type '", v->string, "' is not supported (the released checkpoints use 'linear')");
    if (cfg_.training_task == "recon" && !cfg_.factorized && cfg_.pred_z_score)
        fail(path, ": a reconstruction checkpoint with pred_z_score must be factorized (the reference cannot generate from this one either)");
    if (cfg_.learnable_pos_emb && !cfg_.autoreg_gen) fail(path, ": learnable_pos_emb needs autoreg_gen");

    cfg_.r = (int)acfg.at("r").as_int();
    cfg_.lora_alpha = acfg.at("lora_alpha").as_double();
    cfg_.use_rslora = acfg.find("use_rslora") && acfg.at("use_rslora").is_bool() && acfg.at("use_rslora").boolean;
    const json::Value& tm = acfg.at("target_modules");
    if (!tm.is_array() || tm.array.empty()) fail(path, ": adapter_config target_modules must be a non-empty list");
    for (const auto& m : tm.array) cfg_.modules.push_back(m.as_string());

    // Sizes from the tensors themselves: AB_offset.A.m is (n_layers, r, in), AB_offset.B.m is (n_layers, out, r).
    for (const auto& m : cfg_.modules) {
        Tensor oa = w_.get_host("AB_offset.A." + m), ob = w_.get_host("AB_offset.B." + m);
        if (oa.rank() != 3 || ob.rank() != 3 || oa.dim(1) != cfg_.r || ob.dim(2) != cfg_.r || oa.dim(0) != ob.dim(0))
            fail(path, ": AB_offset for '", m, "' has shapes ", shape_string(oa.shape), " / ", shape_string(ob.shape),
                 ", expected (layers, r=", cfg_.r, ", in) / (layers, out, r)");
        if (cfg_.n_layers && oa.dim(0) != cfg_.n_layers) fail(path, ": modules disagree on the number of layers");
        cfg_.n_layers = (int)oa.dim(0);
        cfg_.in_features.push_back(oa.dim(2));
        cfg_.out_features.push_back(ob.dim(1));
        offset_a_.push_back(oa.to_dtype(DType::F32));
        offset_b_.push_back(ob.to_dtype(DType::F32));
        if (cfg_.training_task == "recon" && cfg_.factorized && cfg_.pred_z_score) {
            mean_a_.push_back(w_.get_host("mean_recon_target.A." + m, oa.shape).to_dtype(DType::F32));
            mean_b_.push_back(w_.get_host("mean_recon_target.B." + m, ob.shape).to_dtype(DType::F32));
            std_a_.push_back(w_.get_host("std_recon_target.A." + m, oa.shape).to_dtype(DType::F32));
            std_b_.push_back(w_.get_host("std_recon_target.B." + m, ob.shape).to_dtype(DType::F32));
        }
    }

    // The latent and head sizes, checked against args.yaml where it says them.
    task_lin_ = {w_.get("task_encoder.mlp.0.weight"), w_.get("task_encoder.mlp.0.bias")};
    const int64_t d = task_lin_.w.dim(0) * 2;
    cfg_.latent = (int)d;
    cfg_.emb_size = (int)task_lin_.w.dim(1);
    if (const json::Value* v = args.find("hypernet_latent_size"); v && v->is_number() && v->as_int() != d)
        fail(path, ": args.yaml says hypernet_latent_size ", v->as_int(), " but task_encoder is sized for ", d);
    task_ln_ = {w_.get("task_encoder.mlp.1.weight", {d / 2}), w_.get("task_encoder.mlp.1.bias", {d / 2})};
    depth_emb_ = w_.get("layer_depth_encoder.0.weight", {cfg_.n_layers, d / 4});
    depth_ln_ = {w_.get("layer_depth_encoder.1.weight", {d / 4}), w_.get("layer_depth_encoder.1.bias", {d / 4})};
    type_emb_ = w_.get("layer_type_encoder.0.weight", {(int64_t)cfg_.modules.size(), d / 4});
    type_ln_ = {w_.get("layer_type_encoder.1.weight", {d / 4}), w_.get("layer_type_encoder.1.bias", {d / 4})};
    mixer2_ = {w_.get("mixer.4.weight", {d, 4 * d}), w_.get("mixer.4.bias", {d})};
    for (int k = 1; k <= 2; k++) {
        ResBlock& b = k == 1 ? mlp1_ : mlp2_;
        const std::string p = cat("mlp", k, ".mlp.");
        b.ln = {w_.get(p + "0.weight", {d}), w_.get(p + "0.bias", {d})};
        b.l1 = {w_.get(p + "1.weight", {4 * d, d}), w_.get(p + "1.bias", {4 * d})};
        b.l2 = {w_.get(p + "4.weight", {d, 4 * d}), w_.get(p + "4.bias", {d})};
    }
    mlp3_ln_ = {w_.get("mlp3.0.weight", {d}), w_.get("mlp3.0.bias", {d})};
    mlp3_l1_ = {w_.get("mlp3.1.weight", {4 * d, d}), w_.get("mlp3.1.bias", {4 * d})};
    mlp3_l2_ = {w_.get("mlp3.4.weight"), w_.get("mlp3.4.bias")};
    cfg_.head_in = (int)mlp3_l2_.w.dim(0);
    if (mlp3_l2_.w.dim(1) != 4 * d) fail(path, ": mlp3.4.weight should have ", 4 * d, " inputs");
    if (const json::Value* v = args.find("head_in_size"); v && v->is_number() && v->as_int() != cfg_.head_in)
        fail(path, ": args.yaml says head_in_size ", v->as_int(), " but mlp3 produces ", cfg_.head_in);
    const int64_t h = cfg_.head_in;
    if (cfg_.autoreg_gen && cfg_.learnable_pos_emb) {
        pos_emb_ = w_.get("pos_emb.0.weight", {cfg_.r, d});
        pos_ln_ = {w_.get("pos_emb.1.weight", {d}), w_.get("pos_emb.1.bias", {d})};
    }
    if (cfg_.shared_AB_head) out_emb_ln_ = {w_.get("out_emb_norm.weight", {d}), w_.get("out_emb_norm.bias", {d})};

    // The head bias exists or not by the reference's own rule; trust the tensors.
    cfg_.head_use_bias = w_.has("heads." + cfg_.modules[0] + ".bias");
    for (size_t mi = 0; mi < cfg_.modules.size(); mi++) {
        const std::string& m = cfg_.modules[mi];
        const int64_t in = cfg_.in_features[mi], out = cfg_.out_features[mi], wide = std::max(in, out);
        const int64_t rows_out = cfg_.shared_AB_head ? (cfg_.autoreg_gen ? wide : cfg_.r * wide)
                                                     : (cfg_.autoreg_gen ? in + out : cfg_.r * (in + out));
        Linear head{w_.get("heads." + m + ".weight", {rows_out, h}), Tensor()};
        if (cfg_.head_use_bias) head.b = w_.get("heads." + m + ".bias", {rows_out});
        heads_.push_back(head);
        if (cfg_.shared_AB_head) {
            out_emb_a_.push_back(w_.get_host("out_emb." + m + ".A", {d}).to_dtype(DType::F32).reshape({1, d}).on(device));
            out_emb_b_.push_back(w_.get_host("out_emb." + m + ".B", {d}).to_dtype(DType::F32).reshape({1, d}).on(device));
        }
    }
    // mixer.1 sees x = [enc | depth | type], and only enc depends on the task:
    //   W x + b = W[:, :d/2] enc + (W[:, d/2:] [depth_l | type_m] + b)
    // The second term, one row per (module, layer), is computed here once; generate() then adds
    // the task's term to it, on the device, without assembling x.
    {
        // W's two column blocks as their own (4d, d/2) matrices.
        const Tensor w = w_.get_host("mixer.1.weight", {4 * d, d}).to_dtype(DType::F32);
        Tensor w_task = Tensor::empty({4 * d, d / 2}), w_fixed = Tensor::empty({4 * d, d / 2});
        for (int64_t o = 0; o < 4 * d; o++) {
            std::memcpy(w_task.f32() + o * (d / 2), row_ptr(w, o, 0), (size_t)(d / 2) * 4);
            std::memcpy(w_fixed.f32() + o * (d / 2), row_ptr(w, o, d / 2), (size_t)(d / 2) * 4);
        }
        mixer1_task_w_ = w_task.on(device);
        const int64_t L = cfg_.n_layers, M = (int64_t)cfg_.modules.size();
        std::vector<int32_t> layer_ids((size_t)L);
        for (int64_t l = 0; l < L; l++) layer_ids[(size_t)l] = (int32_t)l;
        Tensor depth = Tensor::empty({L, d / 4}, DType::F32, device);
        embedding(depth, depth_emb_, layer_ids.data(), L);
        const Tensor depth_h = norm(depth, depth_ln_).on(Device::CPU);
        Tensor x = Tensor::empty({M * L, d / 2});  // [depth | type] for row mi * L + l
        for (int64_t mi = 0; mi < M; mi++) {
            Tensor type = Tensor::empty({1, d / 4}, DType::F32, device);
            const int32_t type_id = (int32_t)mi;
            embedding(type, type_emb_, &type_id, 1);
            const Tensor type_h = norm(type, type_ln_).on(Device::CPU);
            for (int64_t l = 0; l < L; l++) {
                float* row = x.f32() + (mi * L + l) * (d / 2);
                std::memcpy(row, row_ptr(depth_h, l, 0), (size_t)(d / 4) * 4);
                std::memcpy(row + d / 4, type_h.f32(), (size_t)(d / 4) * 4);
            }
        }
        mixer1_fixed_ = lin(x.on(device), {w_fixed.on(device), w_.get("mixer.1.bias", {4 * d})});
    }
    // The L variant assembles A and B where its heads ran: the offsets live there too.
    if (device == Device::CUDA && !cfg_.shared_AB_head && !cfg_.autoreg_gen)
        for (size_t mi = 0; mi < cfg_.modules.size(); mi++) {
            offset_a_dev_.push_back(offset_a_[mi].to(device));
            offset_b_dev_.push_back(offset_b_[mi].to(device));
        }
    // Every tensor of a released checkpoint is used, except the statistics a variant ignores.
    for (const auto& name : w_.unused()) {
        if (name.rfind("mean_recon_target.", 0) == 0 || name.rfind("std_recon_target.", 0) == 0) continue;
        if (name.rfind("encoder.", 0) == 0) continue;  // a bundled text encoder
        fail(path, ": tensor '", name, "' is not part of a ", cfg_.variant(), " hypernetwork (wrong args.yaml?)");
    }
}

Tensor Hypernet::lin(const Tensor& x, const Linear& l, bool silu) const {
    Tensor y = Tensor::empty({x.numel() / x.dim(-1), l.w.dim(0)}, DType::F32, device());
    if (silu) linear_act(y, x, l.w, l.b.data ? &l.b : nullptr, Activation::SiLU);
    else linear(y, x, l.w, l.b.data ? &l.b : nullptr);
    return y;
}

Tensor Hypernet::norm(const Tensor& x, const Norm& n) const {
    Tensor y = Tensor::empty(x.shape, DType::F32, device());
    layer_norm(y, x, n.w, n.b, kLayerNormEps);
    return y;
}

// x + SiLU(l2(SiLU(l1(LN(x)))))  (dropouts are the identity at inference)
Tensor Hypernet::res_block(const Tensor& x, const ResBlock& b) const {
    Tensor y = lin(lin(norm(x, b.ln), b.l1, true), b.l2, true);
    add_(y, x);
    return y;
}

// SiLU(l2(SiLU(l1(LN(x)))))  -> (rows, head_in)
Tensor Hypernet::mlp3(const Tensor& x) const {
    return lin(lin(norm(x, mlp3_ln_), mlp3_l1_, true), mlp3_l2_, true);
}

// S variants: x is (rows, d); returns (rows * r, d) where row i*r + k carries rank k:
// rotary (rotate-half over all d dims, theta 10000, position k) or x + LN(pos_emb[k]).
Tensor Hypernet::add_rank_position(const Tensor& x, int64_t rows) const {
    const int64_t d = cfg_.latent, r = cfg_.r;
    Tensor y = Tensor::empty({rows * r, d});
    for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < r; k++) std::memcpy(y.f32() + (i * r + k) * d, row_ptr(x, i, 0), (size_t)d * 4);
    if (cfg_.learnable_pos_emb) return y;  // the caller adds the (transformed) position embedding
    // LlamaRotaryEmbedding(dim = d): inv_freq_j = 1 / 10000^(2j / d) in f32, angle = k * inv_freq_j.
    Tensor cos = Tensor::empty({rows * r, d / 2}), sin = Tensor::empty({rows * r, d / 2});
    for (int64_t i = 0; i < rows * r; i++) {
        const int64_t k = i % r;
        for (int64_t j = 0; j < d / 2; j++) {
            const float inv = 1.0f / std::pow(10000.0f, (float)(2 * j) / (float)d);
            const float angle = (float)k * inv;
            cos.f32()[i * (d / 2) + j] = (float)std::cos((double)angle);
            sin.f32()[i * (d / 2) + j] = (float)std::sin((double)angle);
        }
    }
    rope_(y, 1, (int)d, cos, sin);
    return y;
}

std::vector<LoraAdapter> Hypernet::generate(const std::vector<std::vector<float>>& task_embs) const {
    std::vector<float> flat;
    for (const auto& e : task_embs) {
        if ((int64_t)e.size() != cfg_.emb_size) fail("hypernet: task embedding has ", e.size(), " values, expected ", cfg_.emb_size);
        flat.insert(flat.end(), e.begin(), e.end());
    }
    return generate(Tensor::from_floats(flat, {(int64_t)task_embs.size(), cfg_.emb_size}));
}

std::vector<LoraAdapter> Hypernet::generate(const Tensor& task_embs) const {
    if (task_embs.dtype != DType::F32 || task_embs.rank() != 2 || task_embs.dim(1) != cfg_.emb_size)
        fail("hypernet: task embeddings should be f32 (tasks, ", cfg_.emb_size, "), got ", task_embs.describe());
    const int64_t B = task_embs.dim(0), L = cfg_.n_layers, d = cfg_.latent, r = cfg_.r;
    const int64_t rows = B * L;  // row b * L + layer
    const Device dev = device(), host = Device::CPU;
    if (B == 0) return {};

    std::vector<LoraAdapter> out((size_t)B);
    for (auto& a : out) {
        a.r = cfg_.r;
        a.alpha = cfg_.lora_alpha;
        a.use_rslora = cfg_.use_rslora;
        a.target_modules = cfg_.modules;
    }
    // Device buffers whose copies to the host are in flight. Every way out of this function waits
    // for them first (also on an error: the buffers go back to the allocator's cache after).
    std::vector<Tensor> copying;
    struct WaitCopies {
        std::vector<Tensor>& bufs;
        ~WaitCopies() {
            if (bufs.empty()) return;
            try {
                gpu_copies_wait();
            } catch (...) {
            }
        }
    } wait_copies{copying};
    // The trunk (mixer and mlp1; for L also mlp2 and mlp3) has the same weights for every module:
    // only the module-type encoding differs. So all modules' rows go through it together,
    // module mi's rows at [mi·rows, (mi + 1)·rows): half the launches, each over twice the rows.
    const int64_t M = (int64_t)cfg_.modules.size();
    // mixer.1 for every (module, task, layer) row: the task's term W[:, :d/2] enc, added to the
    // precomputed (module, layer) rows; then SiLU, mixer.4 and mlp1.
    const Tensor enc = norm(lin(task_embs.on(dev), task_lin_), task_ln_);  // (B, d/2)
    Tensor enc_term = Tensor::empty({B, 4 * d}, DType::F32, dev);
    linear(enc_term, enc, mixer1_task_w_);
    Tensor mix = Tensor::empty({M * rows, 4 * d}, DType::F32, dev);
    for (int64_t mi = 0; mi < M; mi++)
        for (int64_t b = 0; b < B; b++) {
            Tensor dst = mix.rows((mi * B + b) * L, (mi * B + b + 1) * L);
            add_row(dst, mixer1_fixed_.rows(mi * L, (mi + 1) * L), enc_term.rows(b, b + 1));
        }
    silu_(mix);
    mix = lin(mix, mixer2_, true);
    const Tensor mlp_out_all = res_block(mix, mlp1_);  // on the device

    const bool sft = cfg_.training_task == "sft";
    const bool z = cfg_.training_task == "recon" && cfg_.factorized && cfg_.pred_z_score;
    const bool add_offset = sft || (cfg_.training_task == "recon" && cfg_.factorized);
    // Non-factorized recon targets were trained scaled by delta_w_scaling on the product:
    // each factor comes back divided by its square root.
    const bool rescale = cfg_.training_task == "recon" && !cfg_.factorized;
    const float root = (float)std::sqrt(cfg_.delta_w_scaling);
    const bool plain_heads = !cfg_.shared_AB_head && !cfg_.autoreg_gen && !z;  // L: one head per module
    const Tensor head_in_all = plain_heads ? mlp3(res_block(mlp_out_all, mlp2_)) : Tensor();

    for (size_t mi = 0; mi < cfg_.modules.size(); mi++) {
        const std::string& m = cfg_.modules[mi];
        const int64_t in = cfg_.in_features[mi], outf = cfg_.out_features[mi];
        const int64_t r0 = (int64_t)mi * rows;
        const Tensor mlp_out = mlp_out_all.rows(r0, r0 + rows);

        if (plain_heads) {
            // L: head output rows are [A flat (r*in) | B^T flat (r*out)]. The head runs as its two
            // halves (weight rows [0, r·in) and the rest): A is cut out, offset and rescaled where
            // it was computed and starts its copy to the host while B's half runs.
            const Tensor hin = head_in_all.rows(r0, r0 + rows);
            const Linear& head = heads_[mi];
            const int64_t na = r * in, nb = r * outf;
            const Linear half_a{head.w.rows(0, na), head.b.data ? head.b.rows(0, na) : Tensor()};
            const Linear half_b{head.w.rows(na, na + nb), head.b.data ? head.b.rows(na, na + nb) : Tensor()};
            const bool on_gpu = dev == Device::CUDA;
            const Tensor* oa = !add_offset ? nullptr : on_gpu ? &offset_a_dev_[mi] : &offset_a_[mi];
            const Tensor* ob = !add_offset ? nullptr : on_gpu ? &offset_b_dev_[mi] : &offset_b_[mi];
            const float div = rescale ? root : 1.0f;
            Tensor A_all = Tensor::empty({rows, r, in}, DType::F32, dev), B_all = Tensor::empty({rows, outf, r}, DType::F32, dev);
            auto to_host = [&](Tensor& t) {  // the copy overlaps what follows; waited for after the loop
                if (!on_gpu) return;
                Tensor h = Tensor::empty_pinned(t.shape);
                gpu_copy_to_host_async(h.data, t.data, t.nbytes());
                copying.push_back(t);  // the device buffer stays allocated until its copy ends
                t = h;
            };
            lora_a_from_head(A_all, lin(hin, half_a), oa, L, div);
            to_host(A_all);
            lora_b_from_head(B_all, lin(hin, half_b), ob, L, div);
            to_host(B_all);
            for (int64_t b = 0; b < B; b++)
                for (int64_t l = 0; l < L; l++) {
                    const int64_t i = b * L + l;
                    LoraModule lm;
                    lm.layer = (int)l;
                    lm.module = m;
                    lm.A = A_all.rows(i, i + 1).reshape({r, in});  // views of the two buffers
                    lm.B = B_all.rows(i, i + 1).reshape({outf, r});
                    out[(size_t)b].modules.push_back(std::move(lm));
                }
            continue;
        }
        const Tensor mlp_out_h = mlp_out.on(host);          // for the host-side glue below

        // A (rows, r, in) and B^T (rows, r, out), filled by the variant's head.
        Tensor A = Tensor::empty({rows, r, in}), Bt = Tensor::empty({rows, r, outf});
        auto take_rank_rows = [&](const Tensor& head_out, Tensor& dst, int64_t nf, int64_t col0, bool per_rank_rows) {
            // head_out rows are either one per (task, layer) holding r blocks of width W, or one per
            // (task, layer, rank); either way copy nf values per rank starting at col0 of the block.
            const int64_t W = per_rank_rows ? head_out.dim(-1) : head_out.dim(-1) / r;
            for (int64_t i = 0; i < rows; i++)
                for (int64_t k = 0; k < r; k++) {
                    const float* src = per_rank_rows ? row_ptr(head_out, i * r + k, col0) : row_ptr(head_out, i, k * W + col0);
                    std::memcpy(dst.f32() + (i * r + k) * nf, src, (size_t)nf * 4);
                }
        };
        if (!cfg_.shared_AB_head) {
            if (!cfg_.autoreg_gen) {
                // L with z-scores: the same head, assembled on the host below.
                const Tensor head_out = lin(mlp3(res_block(mlp_out, mlp2_)), heads_[mi]).on(host);
                for (int64_t i = 0; i < rows; i++) {
                    std::memcpy(A.f32() + i * r * in, row_ptr(head_out, i, 0), (size_t)(r * in) * 4);
                    std::memcpy(Bt.f32() + i * r * outf, row_ptr(head_out, i, r * in), (size_t)(r * outf) * 4);
                }
            } else {
                Tensor hin = add_rank_position(mlp_out_h, rows);
                if (cfg_.learnable_pos_emb) {
                    std::vector<int32_t> ranks((size_t)r);
                    for (int64_t k = 0; k < r; k++) ranks[(size_t)k] = (int32_t)k;
                    Tensor pe = Tensor::empty({r, d}, DType::F32, dev);
                    embedding(pe, pos_emb_, ranks.data(), r);
                    pe = norm(pe, pos_ln_).on(host);
                    for (int64_t i = 0; i < rows * r; i++)
                        for (int64_t j = 0; j < d; j++) hin.f32()[i * d + j] += pe.f32()[(i % r) * d + j];
                }
                const Tensor head_out = lin(mlp3(res_block(hin.on(dev), mlp2_)), heads_[mi]).on(host);  // (rows*r, in+out)
                take_rank_rows(head_out, A, in, 0, true);
                take_rank_rows(head_out, Bt, outf, in, true);
            }
        } else {
            for (int which = 0; which < 2; which++) {
                const Tensor& emb = which == 0 ? out_emb_a_[mi] : out_emb_b_[mi];
                const int64_t nf = which == 0 ? in : outf;
                Tensor& dst = which == 0 ? A : Bt;
                // mlp2(x + LN(out_emb)): the module/matrix identity enters before mlp2.
                const Tensor e = norm(emb, out_emb_ln_).on(host);
                Tensor shifted = Tensor::empty({rows, d});
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < d; j++) shifted.f32()[i * d + j] = mlp_out_h.f32()[i * d + j] + e.f32()[j];
                const Tensor hin = res_block(shifted.on(dev), mlp2_);
                if (!cfg_.autoreg_gen) {
                    const Tensor head_out = lin(mlp3(hin), heads_[mi]).on(host);  // (rows, r*max): view (r, max), keep [:nf]
                    take_rank_rows(head_out, dst, nf, 0, false);
                } else if (cfg_.learnable_pos_emb) {
                    // The reference transforms the position embedding alone with mlp2 and adds it.
                    std::vector<int32_t> ranks((size_t)r);
                    for (int64_t k = 0; k < r; k++) ranks[(size_t)k] = (int32_t)k;
                    Tensor pe = Tensor::empty({r, d}, DType::F32, dev);
                    embedding(pe, pos_emb_, ranks.data(), r);
                    const Tensor pe2 = res_block(norm(pe, pos_ln_), mlp2_).on(host);
                    Tensor h2 = add_rank_position(hin.on(host), rows);
                    for (int64_t i = 0; i < rows * r; i++)
                        for (int64_t j = 0; j < d; j++) h2.f32()[i * d + j] += pe2.f32()[(i % r) * d + j];
                    const Tensor head_out = lin(mlp3(h2.on(dev)), heads_[mi]).on(host);
                    take_rank_rows(head_out, dst, nf, 0, true);
                } else {
                    // ... while the rotary branch rotates and runs mlp2 a second time.
                    const Tensor h2 = res_block(add_rank_position(hin.on(host), rows).on(dev), mlp2_);
                    const Tensor head_out = lin(mlp3(h2), heads_[mi]).on(host);
                    take_rank_rows(head_out, dst, nf, 0, true);
                }
            }
        }

        // Per (task, layer): A (r, in); B = (B^T)^T (out, r); then the checkpoint's offsets/rescaling.
        for (int64_t b = 0; b < B; b++) {
            for (int64_t l = 0; l < L; l++) {
                const int64_t i = b * L + l;
                LoraModule lm;
                lm.layer = (int)l;
                lm.module = m;
                lm.A = Tensor::empty({r, in});
                lm.B = Tensor::empty({outf, r});
                float* a = lm.A.f32();
                float* bm = lm.B.f32();
                std::memcpy(a, A.f32() + i * r * in, (size_t)(r * in) * 4);
                for (int64_t k = 0; k < r; k++)
                    for (int64_t o = 0; o < outf; o++) bm[o * r + k] = Bt.f32()[(i * r + k) * outf + o];
                // Recon z-scores: x * (std + 1e-10) + mean, then (factorized) + AB_offset.
                if (z) {
                    const float* ma = mean_a_[mi].f32() + l * r * in;
                    const float* sa = std_a_[mi].f32() + l * r * in;
                    for (int64_t j = 0; j < r * in; j++) a[j] = a[j] * (sa[j] + 1e-10f) + ma[j];
                    const float* mb = mean_b_[mi].f32() + l * outf * r;
                    const float* sb = std_b_[mi].f32() + l * outf * r;
                    for (int64_t j = 0; j < outf * r; j++) bm[j] = bm[j] * (sb[j] + 1e-10f) + mb[j];
                }
                if (add_offset) {
                    const float* oa = offset_a_[mi].f32() + l * r * in;
                    const float* ob = offset_b_[mi].f32() + l * outf * r;
                    for (int64_t j = 0; j < r * in; j++) a[j] += oa[j];
                    for (int64_t j = 0; j < outf * r; j++) bm[j] += ob[j];
                }
                if (rescale) {
                    for (int64_t j = 0; j < r * in; j++) a[j] /= root;
                    for (int64_t j = 0; j < outf * r; j++) bm[j] /= root;
                }
                out[(size_t)b].modules.push_back(std::move(lm));
            }
        }
    }
    if (!copying.empty()) {  // the adapters' host buffers are complete after this
        gpu_copies_wait();
        copying.clear();
    }
    return out;
}

}  // namespace t2l
