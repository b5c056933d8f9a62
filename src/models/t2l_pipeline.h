// t2l_pipeline.h — the whole Text-to-LoRA path in one object:
//   description -> add_full_stop -> WordPiece ids -> encoder -> task embedding -> hypernetwork
//   -> LoRA adapter (every layer and target module).
// Loading opens the T2L file (and a separate encoder file when the T2L file has none bundled);
// describe() then runs any number of descriptions with one batched hypernetwork pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/t2l_file.h"
#include "lora/adapter.h"
#include "models/encoder.h"
#include "models/hypernet.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

struct DescribedAdapter {
    std::string text;              // the description after preprocessing
    std::vector<int32_t> ids;      // its encoder tokens
    std::vector<float> embedding;  // the task embedding
    LoraAdapter adapter;
};

class T2lPipeline {
public:
    // encoder_path "" = the encoder bundled in the T2L file. device: where the encoder and the
    // hypernetwork's matrices run.
    T2lPipeline(const std::string& t2l_path, const std::string& encoder_path, Device device = Device::CPU);
    const Hypernet& hypernet() const { return *hypernet_; }
    const TextEncoder& encoder() const { return *encoder_; }
    const T2lFile& t2l_file() const { return *t2l_file_; }

    // Preprocessing and tokenization as the reference: strip, add a full stop after a final
    // letter, WordPiece with [CLS]/[SEP], truncated at 8192 tokens.
    std::vector<int32_t> tokenize(const std::string& text) const;
    std::vector<float> embed(const std::vector<int32_t>& ids) const { return encoder_->task_embedding(ids); }
    // The same as a (1, hidden) tensor on the pipeline's device.
    Tensor embed_tensor(const std::vector<int32_t>& ids) const { return encoder_->task_embedding_tensor(ids); }

    // progress(done, total) is called after each description is embedded.
    std::vector<DescribedAdapter> describe(const std::vector<std::string>& descriptions,
                                           const std::function<void(size_t, size_t)>& progress = nullptr) const;
    // Adapters for embeddings computed elsewhere (or ids given directly).
    std::vector<LoraAdapter> generate(const std::vector<std::vector<float>>& embeddings) const;
    std::vector<LoraAdapter> generate(const Tensor& embeddings) const;  // (tasks, hidden), any device

private:
    std::vector<LoraAdapter> with_config(std::vector<LoraAdapter> adapters) const;  // adapter_config.json attached

    std::unique_ptr<T2lFile> t2l_file_, enc_file_;
    std::unique_ptr<Hypernet> hypernet_;
    std::unique_ptr<TextEncoder> encoder_;
    std::unique_ptr<Tokenizer> tokenizer_;
    json::Value adapter_config_;
};

// The T2L reference truncates descriptions at 2^13 encoder tokens.
constexpr size_t kEncoderMaxTokens = 8192;

}  // namespace t2l
