// t2l_pipeline.cpp — see t2l_pipeline.h.
#include "models/t2l_pipeline.h"

#include "cli/t2l_inputs.h"
#include "common.h"
#include "gpu.h"
#include "ops/ops.h"
#include "timing.h"

namespace t2l {

T2lPipeline::T2lPipeline(const std::string& t2l_path, const std::string& encoder_path, Device device) {
    t2l_file_ = std::make_unique<T2lFile>(t2l_path);
    timing_mark("open");
    if (device == Device::CUDA) {
        gpu_init();
        timing_mark("cuda init");
    }
    hypernet_ = std::make_unique<Hypernet>(*t2l_file_, device);
    timing_mark("hypernet load");
    if (!encoder_path.empty()) enc_file_ = std::make_unique<T2lFile>(encoder_path);
    const T2lFile& ef = enc_file_ ? *enc_file_ : *t2l_file_;
    if (!enc_file_ && !ef.find_meta("encoder.hf.config"))
        fail(t2l_path, ": has no bundled text encoder; pass --encoder ENC.t2l (or convert with t2l-convert --encoder)");
    const std::string prefix = encoder_prefix(ef);
    encoder_ = std::make_unique<TextEncoder>(ef, prefix, device);
    timing_mark("encoder load");
    if (encoder_->config().hidden != hypernet_->config().emb_size)
        fail(ef.path(), ": the encoder's hidden size ", encoder_->config().hidden,
             " does not match the hypernetwork's task embedding size ", hypernet_->config().emb_size);
    if (ef.find_meta(prefix + "tokenizer.json")) tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_t2l(ef, prefix));
    adapter_config_ = t2l_file_->meta_json("t2l.adapter_config");
    timing_mark("tokenizer");
}

std::vector<int32_t> T2lPipeline::tokenize(const std::string& text) const {
    if (!tokenizer_) fail("the text encoder has no tokenizer.json; convert it from a folder that has one");
    EncodeOptions opt;
    opt.max_length = kEncoderMaxTokens;
    return tokenizer_->encode(text, opt);
}

std::vector<LoraAdapter> T2lPipeline::with_config(std::vector<LoraAdapter> adapters) const {
    for (auto& a : adapters) a.config = adapter_config_;
    return adapters;
}

std::vector<LoraAdapter> T2lPipeline::generate(const std::vector<std::vector<float>>& embeddings) const {
    return with_config(hypernet_->generate(embeddings));
}

std::vector<LoraAdapter> T2lPipeline::generate(const Tensor& embeddings) const {
    return with_config(hypernet_->generate(embeddings));
}

std::vector<DescribedAdapter> T2lPipeline::describe(const std::vector<std::string>& descriptions,
                                                    const std::function<void(size_t, size_t)>& progress) const {
    std::vector<DescribedAdapter> out(descriptions.size());
    if (out.empty()) return out;
    // The embeddings stay where the encoder left them until the adapters are done: on a GPU the
    // host queues the whole path without waiting.
    const int64_t H = encoder_->config().hidden;
    Tensor embs = Tensor::empty({(int64_t)out.size(), H}, DType::F32, encoder_->device());
    for (size_t i = 0; i < descriptions.size(); i++) {
        out[i].text = add_full_stop(descriptions[i]);
        out[i].ids = tokenize(out[i].text);
        copy_rows(embs, (int64_t)i, embed_tensor(out[i].ids));
        if (progress) progress(i + 1, descriptions.size());
    }
    std::vector<LoraAdapter> adapters = generate(embs);
    const Tensor embs_h = embs.on(Device::CPU);
    for (size_t i = 0; i < out.size(); i++) {
        out[i].embedding.assign(embs_h.f32() + (int64_t)i * H, embs_h.f32() + (int64_t)(i + 1) * H);
        out[i].adapter = std::move(adapters[i]);
    }
    return out;
}

}  // namespace t2l
