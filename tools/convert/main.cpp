// main.cpp — `t2l-convert SRC -o OUT.t2l [--dtype keep|f32|bf16|f16] [--encoder ENC_DIR]`.
#include <cstdio>
#include <exception>
#include <new>

#include "cli/args.h"
#include "common.h"
#include "convert/convert.h"

namespace {
const t2l::CommandSpec kSpec = {
    "",
    "SRC -o OUT.t2l [--dtype keep|f32|bf16|f16] [--encoder ENC_DIR]",
    "Convert a checkpoint into one self-contained .t2l file. SRC is a Hugging Face model folder\n"
    "(config.json, model.safetensors or sharded + index, tokenizer files), a T2L checkpoint\n"
    "folder (hypermod.pt, args.yaml, adapter_config.json), a PEFT adapter folder, or a llama.cpp\n"
    "GGUF model file (llama, gemma2, gemma3; quantised tensors are dequantised, to bf16 by default).",
    {
        {"--out", "-o", t2l::FlagType::String, nullptr, "OUT.t2l", "output file (written atomically)"},
        {"--dtype", nullptr, t2l::FlagType::String, "keep", "DTYPE", "store float tensors as keep|f32|bf16|f16 (keep: quantised -> bf16)"},
        {"--encoder", nullptr, t2l::FlagType::String, nullptr, "ENC_DIR", "T2L only: bundle this HF text encoder folder"},
        {"--quiet", "-q", t2l::FlagType::Bool, nullptr, nullptr, "print nothing on success"},
    },
    1,
    1,
};
}  // namespace

int main(int argc, char** argv) {
    try {
        t2l::Args args;
        if (!t2l::parse_args("t2l-convert", kSpec, argc, argv, &args)) return 0;
        t2l::ConvertOptions opts;
        opts.src = args.positional[0];
        opts.out = args.str("out");
        opts.dtype = args.str("dtype");
        opts.encoder_dir = args.str("encoder");
        opts.quiet = args.flag("quiet");
        if (opts.out.empty()) t2l::fail("t2l-convert: -o OUT.t2l is required");
        t2l::ConvertReport r = t2l::convert_checkpoint(opts);
        if (!opts.quiet) {
            std::fprintf(stderr, "t2l-convert: %s -> %s: %s, %zu tensors, %.1f MB in %.2f s (%.0f MB/s)\n", opts.src.c_str(),
                         opts.out.c_str(), r.kind.c_str(), r.tensors, (double)r.bytes_out / 1e6, r.seconds,
                         r.seconds > 0 ? (double)r.bytes_in / 1e6 / r.seconds : 0.0);
            for (const auto& note : r.notes) std::fprintf(stderr, "t2l-convert: %s\n", note.c_str());
            if (r.values_dequantized)
                std::fprintf(stderr, "t2l-convert: dequantised %llu values\n", (unsigned long long)r.values_dequantized);
            if (r.values_converted)
                std::fprintf(stderr, "t2l-convert: converted %llu values to %s; %llu changed by rounding (to nearest even)\n",
                             (unsigned long long)r.values_converted, opts.dtype == "keep" ? "bf16" : opts.dtype.c_str(),
                             (unsigned long long)r.values_rounded);
        }
        return 0;
    } catch (const t2l::Error& e) {
        std::fprintf(stderr, "t2l-convert: error: %s\n", e.what());
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "t2l-convert: error: out of memory\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "t2l-convert: error: %s\n", e.what());
    }
    return 1;
}
