// convert.h — turning checkpoints in public layouts into one .t2l file.
//
// Sources (detected from what the folder or file holds):
//   HF model folder   config.json + model.safetensors | model-*.safetensors + index,
//                     tokenizer.json, tokenizer_config.json, generation_config.json
//   T2L checkpoint    hypermod.pt + args.yaml + adapter_config.json (+ --encoder HF folder)
//   PEFT adapter      adapter_model.safetensors + adapter_config.json
//   GGUF model file   llama.cpp's format (gguf_import.h): config, tokenizer and tensors are
//                     rebuilt in HF form, quantised tensors dequantised
// Tensor names are kept exactly as the source names them (GGUF: mapped back to HF names); configs and the whole tokenizer
// go into metadata so the .t2l file is self-contained. Metadata keys: docs/FORMAT.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace t2l {

struct ConvertOptions {
    std::string src;
    std::string out;
    std::string dtype = "keep";  // keep | f32 | bf16 | f16 (float tensors; GGUF: quantised ones become bf16 under keep)
    std::string encoder_dir;     // T2L checkpoints: bundle this HF encoder folder
    bool quiet = false;          // no summary lines on stderr
};

struct ConvertReport {
    std::string kind;            // "model", "encoder", "t2l", "adapter"
    size_t tensors = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    uint64_t values_converted = 0;  // elements whose dtype changed
    uint64_t values_rounded = 0;    // of those, elements that changed value (lossy narrowing)
    uint64_t values_dequantized = 0;  // GGUF: elements decoded from a quantised block format
    std::vector<std::string> notes;   // what the conversion undid or decided (GGUF)
    double seconds = 0;
};

// Converts opts.src into opts.out atomically; throws Error naming the source and the problem.
ConvertReport convert_checkpoint(const ConvertOptions& opts);

}  // namespace t2l
