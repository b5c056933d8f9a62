// encoder.cpp — gte NewModel and BERT forward passes (see encoder.h).
#include "models/encoder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "ops/ops.h"
#include "ops_cuda.h"
#include "tokenizer/unicode.h"

namespace t2l {

namespace {
int get_int(const json::Value& cfg, const char* key, const std::string& source) {
    const json::Value* v = cfg.find(key);
    if (!v || !v->is_number()) fail(source, ": encoder config has no integer '", key, "'");
    return (int)v->as_int();
}
}  // namespace

EncoderConfig EncoderConfig::from_json(const json::Value& cfg, const std::string& source) {
    EncoderConfig c;
    const json::Value* mt = cfg.find("model_type");
    c.arch = mt && mt->is_string() ? mt->string : "";
    if (c.arch != "new" && c.arch != "bert")
        fail(source, ": encoder model_type '", c.arch, "' is not supported (gte 'new' or 'bert')");
    c.hidden = get_int(cfg, "hidden_size", source);
    c.n_layers = get_int(cfg, "num_hidden_layers", source);
    c.n_heads = get_int(cfg, "num_attention_heads", source);
    c.intermediate = get_int(cfg, "intermediate_size", source);
    c.vocab = get_int(cfg, "vocab_size", source);
    c.max_positions = get_int(cfg, "max_position_embeddings", source);
    const json::Value* tv = cfg.find("type_vocab_size");
    c.type_vocab = tv ? (int)tv->as_int() : 0;
    if (const json::Value* e = cfg.find("layer_norm_eps")) c.ln_eps = (float)e->as_double();
    if (c.hidden <= 0 || c.n_heads <= 0 || c.hidden % c.n_heads)
        fail(source, ": hidden_size ", c.hidden, " is not a multiple of num_attention_heads ", c.n_heads);
    c.head_dim = c.hidden / c.n_heads;
    const json::Value* act = cfg.find("hidden_act");
    if (act && act->is_string() && act->string != "gelu")
        fail(source, ": hidden_act '", act->string, "' is not supported (only exact 'gelu')");
    if (c.arch == "new") {
        if (const json::Value* p = cfg.find("position_embedding_type"); p && p->is_string() && p->string != "rope")
            fail(source, ": position_embedding_type '", p->string, "' is not supported for gte (only rope)");
        if (const json::Value* p = cfg.find("pack_qkv"); p && p->is_bool() && !p->boolean)
            fail(source, ": pack_qkv false is not supported");
        if (const json::Value* p = cfg.find("logn_attention_scale"); p && p->is_bool() && p->boolean)
            fail(source, ": logn_attention_scale is not supported");
        if (const json::Value* p = cfg.find("layer_norm_type"); p && p->is_string() && p->string != "layer_norm")
            fail(source, ": layer_norm_type '", p->string, "' is not supported");
        if (const json::Value* t = cfg.find("rope_theta")) c.rope_theta = t->as_double();
        if (const json::Value* s = cfg.find("rope_scaling"); s && s->is_object()) {
            const json::Value* type = s->find("type");
            if (!type || !type->is_string() || type->string != "ntk")
                fail(source, ": rope_scaling other than {type: ntk} is not supported");
            if (s->find("mixed_b") && !s->at("mixed_b").is_null()) fail(source, ": rope_scaling mixed_b is not supported");
            c.ntk_factor = s->at("factor").as_double();
        }
    }
    return c;
}

SentenceConfig SentenceConfig::from_json(const json::Value& v, const std::string& source) {
    SentenceConfig sc;
    const json::Value* p = v.find("pooling");
    sc.pooling = p && p->is_string() ? p->string : "";
    if (sc.pooling != "cls" && sc.pooling != "mean" && sc.pooling != "max")
        fail(source, ": sentence pooling '", sc.pooling, "' is not cls, mean or max");
    if (const json::Value* n = v.find("normalize"); n && n->is_bool()) sc.normalize = n->boolean;
    if (const json::Value* m = v.find("max_length"); m && m->is_number()) sc.max_length = (int)m->as_int();
    if (sc.max_length < 0) fail(source, ": sentence max_length ", sc.max_length, " is negative");
    return sc;
}

bool SentenceConfig::from_file(const T2lFile& file, const std::string& prefix, SentenceConfig* out) {
    const std::string key = prefix + kMetaKey;
    if (!file.find_meta(key)) return false;
    *out = from_json(file.meta_json(key), file.path() + " " + key);
    return true;
}

TextEncoder::TextEncoder(const T2lFile& file, const std::string& prefix, Device device) : w_(file, prefix, device) {
    const std::string cfg_key = prefix + "hf.config";
    cfg_ = EncoderConfig::from_json(file.meta_json(cfg_key), file.path() + " " + cfg_key);
    const int64_t H = cfg_.hidden, I = cfg_.intermediate;
    word_emb_ = w_.get("embeddings.word_embeddings.weight", {cfg_.vocab, H});
    if (cfg_.type_vocab > 0) type_emb_ = w_.get("embeddings.token_type_embeddings.weight", {cfg_.type_vocab, H});
    if (cfg_.arch == "bert") pos_emb_ = w_.get("embeddings.position_embeddings.weight", {cfg_.max_positions, H});
    emb_ln_w_ = w_.get("embeddings.LayerNorm.weight", {H});
    emb_ln_b_ = w_.get("embeddings.LayerNorm.bias", {H});
    unit_scale_ = Tensor::from_floats(std::vector<float>((size_t)H, 1.0f), {H}).on(device);
    for (int i = 0; i < cfg_.n_layers; i++) {
        const std::string p = cat("encoder.layer.", i, ".");
        Layer L;
        if (cfg_.arch == "new") {
            const Tensor qkv_w = w_.get(p + "attention.qkv_proj.weight", {3 * H, H});  // rows: q | k | v
            const Tensor qkv_b = w_.get(p + "attention.qkv_proj.bias", {3 * H});
            L.qkv_w = qkv_w, L.qkv_b = qkv_b;
            L.q_w = qkv_w.rows(0, H), L.k_w = qkv_w.rows(H, 2 * H), L.v_w = qkv_w.rows(2 * H, 3 * H);
            L.q_b = qkv_b.rows(0, H), L.k_b = qkv_b.rows(H, 2 * H), L.v_b = qkv_b.rows(2 * H, 3 * H);
            L.o_w = w_.get(p + "attention.o_proj.weight", {H, H});
            L.o_b = w_.get(p + "attention.o_proj.bias", {H});
            L.attn_ln_w = w_.get(p + "attn_ln.weight", {H});
            L.attn_ln_b = w_.get(p + "attn_ln.bias", {H});
            const Tensor up_gate = w_.get(p + "mlp.up_gate_proj.weight", {2 * I, H});  // rows: up | gate
            L.up_gate_w = up_gate;
            L.up_w = up_gate.rows(0, I);
            L.gate_w = up_gate.rows(I, 2 * I);
            L.down_w = w_.get(p + "mlp.down_proj.weight", {H, I});
            L.down_b = w_.get(p + "mlp.down_proj.bias", {H});
            L.mlp_ln_w = w_.get(p + "mlp_ln.weight", {H});
            L.mlp_ln_b = w_.get(p + "mlp_ln.bias", {H});
        } else {
            L.q_w = w_.get(p + "attention.self.query.weight", {H, H});
            L.q_b = w_.get(p + "attention.self.query.bias", {H});
            L.k_w = w_.get(p + "attention.self.key.weight", {H, H});
            L.k_b = w_.get(p + "attention.self.key.bias", {H});
            L.v_w = w_.get(p + "attention.self.value.weight", {H, H});
            L.v_b = w_.get(p + "attention.self.value.bias", {H});
            L.o_w = w_.get(p + "attention.output.dense.weight", {H, H});
            L.o_b = w_.get(p + "attention.output.dense.bias", {H});
            L.attn_ln_w = w_.get(p + "attention.output.LayerNorm.weight", {H});
            L.attn_ln_b = w_.get(p + "attention.output.LayerNorm.bias", {H});
            L.up_w = w_.get(p + "intermediate.dense.weight", {I, H});
            L.up_b = w_.get(p + "intermediate.dense.bias", {I});
            L.down_w = w_.get(p + "output.dense.weight", {H, I});
            L.down_b = w_.get(p + "output.dense.bias", {H});
            L.mlp_ln_w = w_.get(p + "output.LayerNorm.weight", {H});
            L.mlp_ln_b = w_.get(p + "output.LayerNorm.bias", {H});
        }
        layers_.push_back(std::move(L));
    }
    // The recorded encoder needs every weight in f32: other dtypes would have linear() stage
    // operands in a scratch buffer a later op may move.
    graphable_ = device == Device::CUDA;
    for (const Layer& L : layers_)
        for (const Tensor* t : {&L.q_w, &L.q_b, &L.k_w, &L.k_b, &L.v_w, &L.v_b, &L.o_w, &L.o_b, &L.gate_w, &L.up_w, &L.up_b,
                                &L.down_w, &L.down_b})
            if (t->data && t->dtype != DType::F32) graphable_ = false;
    if (env_is("T2L_CUDA_GRAPH", "0")) graphable_ = false;
    if (cfg_.arch == "new") {
        // gte's NTK rotary: the constructor builds its cache twice and the second build, for
        // max_positions * factor positions, replaces inv_freq with
        //   inv_freq_j = 1 / (theta * factor)^(2j / d) / factor^(2 / d)
        // (not the textbook NTK base theta * factor^(d / (d - 2))). Those are the frequencies in use.
        const int d = cfg_.head_dim;
        const bool ntk = cfg_.ntk_factor > 0;
        const float base = (float)(ntk ? cfg_.rope_theta * cfg_.ntk_factor : cfg_.rope_theta);
        const float divisor = ntk ? (float)std::pow(cfg_.ntk_factor, 2.0 / d) : 1.0f;
        for (int j = 0; j < d / 2; j++) {
            const float expo = (float)(2 * j) / (float)d;  // f32 arithmetic, as the reference
            inv_freq_.push_back((1.0f / std::pow(base, expo)) / divisor);
        }
    }
}

void TextEncoder::rope_tables(int64_t n, Tensor* cos, Tensor* sin) const {
    const int64_t half = cfg_.head_dim / 2;
    Tensor c = Tensor::empty({n, half}), s = Tensor::empty({n, half});
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < half; j++) {
            const float angle = (float)i * inv_freq_[(size_t)j];  // f32 product, then cos/sin of it
            c.f32()[i * half + j] = (float)std::cos((double)angle);
            s.f32()[i * half + j] = (float)std::sin((double)angle);
        }
    *cos = c.to(device());
    *sin = s.to(device());
}

std::shared_ptr<TextEncoder::Run> TextEncoder::make_run(int64_t n) const {
    const int64_t H = cfg_.hidden, I = cfg_.intermediate;
    const Device dev = device();
    auto run = std::make_shared<Run>();
    auto f32 = [&](std::vector<int64_t> shape) { return Tensor::empty(std::move(shape), DType::F32, dev); };
    std::vector<int32_t> zeros((size_t)n, 0), positions((size_t)n);
    for (int64_t i = 0; i < n; i++) positions[(size_t)i] = (int32_t)i;
    auto ints = [&](const std::vector<int32_t>& v) {
        Tensor t = Tensor::empty({n}, DType::I32);
        std::memcpy(t.data, v.data(), (size_t)n * 4);
        return t.on(dev);
    };
    run->ids = Tensor::zeros({n}, DType::I32, dev);
    run->zeros = ints(zeros);
    run->positions = ints(positions);
    run->x = f32({n, H}), run->t = f32({n, H}), run->q = f32({n, H}), run->k = f32({n, H}), run->v = f32({n, H});
    run->ctx = f32({n, H}), run->attn = f32({n, H}), run->mlp = f32({n, H}), run->up = f32({n, I}), run->gate = f32({n, I});
    if (cfg_.arch == "new") {
        rope_tables(n, &run->cos, &run->sin);
        run->qkv = f32({n, 3 * H}), run->up_gate = f32({n, 2 * I});
    }
    return run;
}

void TextEncoder::encode(Run& r, std::vector<Tensor>* layers) const {
    // Embeddings: word + token type 0 (+ absolute position for BERT), then LayerNorm.
    embedding_at(r.x, word_emb_, r.ids);
    if (type_emb_.defined() && cfg_.type_vocab > 0) {
        embedding_at(r.t, type_emb_, r.zeros);
        add_(r.x, r.t);
    }
    if (cfg_.arch == "bert") {
        embedding_at(r.t, pos_emb_, r.positions);
        add_(r.x, r.t);
    }
    layer_norm(r.x, r.x, emb_ln_w_, emb_ln_b_, cfg_.ln_eps);
    if (layers) layers->assign(1, r.x.to(Device::CPU));

    AttentionParams ap;
    ap.n_heads = ap.n_kv_heads = cfg_.n_heads;
    ap.head_dim = cfg_.head_dim;
    ap.scale = 1.0f / std::sqrt((float)cfg_.head_dim);
    ap.causal = false;  // an encoder sees the whole sequence
    for (const Layer& L : layers_) {
        if (cfg_.arch == "new") {  // gte: one product for q|k|v, then rotary positions on q and k
            linear(r.qkv, r.x, L.qkv_w, &L.qkv_b);
            split_qkv_rope(r.q, r.k, r.v, r.qkv, cfg_.n_heads, cfg_.head_dim, &r.cos, &r.sin);
        } else {
            linear(r.q, r.x, L.q_w, &L.q_b);
            linear(r.k, r.x, L.k_w, &L.k_b);
            linear(r.v, r.x, L.v_w, &L.v_b);
        }
        attention(r.ctx, r.q, r.k, r.v, ap);
        linear(r.attn, r.ctx, L.o_w, &L.o_b);
        layer_norm(r.x, r.attn, L.attn_ln_w, L.attn_ln_b, cfg_.ln_eps, &r.x);  // post-norm: LN(x + attn(x))

        if (cfg_.arch == "new") {
            // gated: down(up * gelu(gate)), one product over the stacked up|gate weight
            linear_glu(r.gate, r.x, L.up_gate_w, Activation::GeluErf, /*act_on_second=*/true, &r.up_gate);
        } else {
            linear_act(r.gate, r.x, L.up_w, &L.up_b, Activation::GeluErf);  // plain: down(gelu(up))
        }
        linear(r.mlp, r.gate, L.down_w, &L.down_b);
        layer_norm(r.x, r.mlp, L.mlp_ln_w, L.mlp_ln_b, cfg_.ln_eps, &r.x);    // post-norm: LN(x + mlp(x))
        if (layers) layers->push_back(r.x.to(Device::CPU));
    }
}

Tensor TextEncoder::forward(const std::vector<int32_t>& ids, std::vector<Tensor>* layers) const {
    const int64_t n = (int64_t)ids.size();
    if (n == 0) fail("encoder: no tokens to encode");
    if (cfg_.arch == "bert" && n > cfg_.max_positions)
        fail("encoder: ", n, " tokens exceed the model's ", cfg_.max_positions, " positions");
    for (int32_t id : ids)
        if (id < 0 || id >= cfg_.vocab) fail("encoder: token id ", id, " is outside the vocabulary (", cfg_.vocab, ")");
    // More than 4 tokens: attention takes its prefill kernel, which needs no scratch buffer.
    const bool replay = graphable_ && !layers && n > 4;
    std::shared_ptr<Run> run;
    if (replay) {
        std::lock_guard<std::mutex> lock(runs_mu_);
        if (!runs_.count(n) && runs_.size() >= 64) runs_.clear();  // bound the lengths kept (a run is a few MB)
        std::shared_ptr<Run>& slot = runs_[n];
        if (!slot) slot = make_run(n);
        run = slot;
    } else {
        run = make_run(n);
    }
    if (device() == Device::CUDA) cuda::copy_to_device_async(run->ids.data, ids.data(), (size_t)n * 4);
    else std::memcpy(run->ids.data, ids.data(), (size_t)n * 4);
    if (replay && run->graph) {
        cuda::graph_launch(run->graph);
    } else {
        encode(*run, layers);
        if (replay && !run->eager) {
            try {
                cuda::graph_begin();
                encode(*run, nullptr);  // recorded, not run
                run->graph = cuda::graph_end();
            } catch (const Error&) {
                cuda::graph_abort();
                run->eager = true;
            }
        }
    }
    // The run's buffers are reused by the next call of this length: hand out a copy.
    return replay ? run->x.to(Device::CUDA) : run->x;
}

Tensor TextEncoder::task_embedding_tensor(const std::vector<int32_t>& ids) const {
    const Tensor cls = forward(ids).rows(0, 1);
    // F.normalize(cls, eps=1e-12) * sqrt(H) = cls / sqrt(mean(cls^2)): an RMS norm with unit weights
    // (its eps stands in for normalize's floor on the norm; a real [CLS] state is far above both).
    Tensor emb = Tensor::empty({1, cfg_.hidden}, DType::F32, device());
    rms_norm(emb, cls, unit_scale_, 1e-24f / (float)cfg_.hidden, /*plus_one=*/false);
    return emb;
}

std::vector<float> TextEncoder::task_embedding(const std::vector<int32_t>& ids) const {
    return task_embedding_tensor(ids).on(Device::CPU).to_floats();
}

std::vector<float> TextEncoder::sentence_embedding(const std::vector<int32_t>& ids, const SentenceConfig& sc) const {
    const Tensor h = forward(ids).to(Device::CPU);
    const int64_t n = (int64_t)ids.size(), H = cfg_.hidden;
    const float* x = h.f32();
    std::vector<float> out((size_t)H);
    for (int64_t j = 0; j < H; j++) {
        if (sc.pooling == "cls") {
            out[(size_t)j] = x[j];
        } else if (sc.pooling == "max") {
            float m = x[j];
            for (int64_t i = 1; i < n; i++) m = std::max(m, x[i * H + j]);
            out[(size_t)j] = m;
        } else {  // mean over every token ([CLS] and [SEP] included: the attention mask is all ones)
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += x[i * H + j];
            out[(size_t)j] = (float)(s / (double)n);
        }
    }
    if (sc.normalize) {  // F.normalize(p=2, dim=1, eps=1e-12)
        double ss = 0;
        for (float v : out) ss += (double)v * v;
        const float norm = (float)std::max(std::sqrt(ss), 1e-12);
        for (float& v : out) v /= norm;
    }
    return out;
}

std::string add_full_stop(const std::string& description) {
    // Python's str.strip() removes Unicode whitespace; the ASCII set plus the common
    // multi-byte spaces cover what descriptions contain.
    static const char* kSpaces[] = {" ", "\t", "\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", "\xc2\x85",
                                    "\xc2\xa0", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83",
                                    "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88",
                                    "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                    "\xe2\x81\x9f", "\xe3\x80\x80", "\xe1\x9a\x80"};
    std::string s = description;
    auto strip_one = [&](bool front) {
        for (const char* sp : kSpaces) {
            const size_t len = std::strlen(sp);
            if (s.size() >= len && (front ? s.compare(0, len, sp) : s.compare(s.size() - len, len, sp)) == 0) {
                s = front ? s.substr(len) : s.substr(0, s.size() - len);
                return true;
            }
        }
        return false;
    };
    while (strip_one(true)) {}
    while (strip_one(false)) {}
    if (s.empty()) fail("the task description is empty");
    // str.isalpha() on the last character (Unicode letters).
    size_t start = s.size() - 1;
    while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80) start--;
    size_t len = 0;
    if (unicode::is_letter(unicode::decode_utf8(s, start, &len))) s += ".";
    return s;
}

}  // namespace t2l
