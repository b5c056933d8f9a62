// cmd_bench.cpp — `t2l bench WHAT ...`: timings people quote, measured the same way each time.
//   tokenize  MB/s of encoding a text corpus (one string per line or the TSV's description column)
//   describe  warm latency of description -> adapter (encoder + hypernetwork), median of N runs
//   decode    prefill and decode tokens/s of a base model (greedy, no sampling cost)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/t2l_inputs.h"
#include "common.h"
#include "format/t2l_file.h"
#include "gpu.h"
#include "lora/adapter.h"
#include "models/decoder.h"
#include "models/sampler.h"
#include "models/t2l_pipeline.h"
#include "ops/threads.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "bench",
    "tokenize|describe|decode [-m MODEL.t2l] [--t2l T2L.t2l] [--file CORPUS] [--runs N] [--prompt-tokens N] [--gen-tokens N] [--lora DIR [--merged]]",
    "Benchmarks. tokenize: encode every line of --file (for a .tsv, its 'description' column) with\n"
    "the model's tokenizer on one thread and report MB/s. describe: time description -> adapter,\n"
    "warm, median of --runs. decode: prefill --prompt-tokens then greedy-decode --gen-tokens\n"
    "(warm: a first pass is not timed), optionally with --lora ADAPTER (unmerged or --merged).",
    {
        {"--model", "-m", FlagType::String, nullptr, "MODEL.t2l", "model whose tokenizer / decoder to use"},
        {"--t2l", nullptr, FlagType::String, nullptr, "T2L.t2l", "hypernetwork (describe)"},
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder when not bundled (describe)"},
        {"--file", nullptr, FlagType::String, nullptr, "CORPUS", "text corpus (tokenize)"},
        {"--runs", nullptr, FlagType::Int, "5", "N", "repetitions (describe)"},
        {"--prompt-tokens", nullptr, FlagType::Int, "128", "N", "prompt length (decode)"},
        {"--gen-tokens", nullptr, FlagType::Int, "64", "N", "tokens to generate (decode)"},
        {"--lora", nullptr, FlagType::String, nullptr, "ADAPTER", "run decode with this adapter (decode)"},
        {"--merged", nullptr, FlagType::Bool, nullptr, nullptr, "merge the adapter into the weights (decode)"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto"},
    },
    1,
    1,
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<std::string> read_corpus(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(path, ": cannot open");
    std::vector<std::string> lines;
    std::string line;
    const bool tsv = path.size() > 4 && path.substr(path.size() - 4) == ".tsv";
    int column = -1;
    while (std::getline(in, line)) {
        if (tsv) {
            std::vector<std::string> cols;
            size_t start = 0;
            for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) cols.push_back(line.substr(start, tab - start));
            cols.push_back(line.substr(start));
            if (column < 0) {  // the header names the columns
                column = (int)(std::find(cols.begin(), cols.end(), "description") - cols.begin());
                if (column >= (int)cols.size()) fail(path, ": no 'description' column in the header");
                continue;
            }
            if (column < (int)cols.size()) lines.push_back(cols[(size_t)column]);
        } else {
            lines.push_back(line);
        }
    }
    return lines;
}
}  // namespace

int cmd_bench(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const std::string what = args.positional[0];
    if (what == "tokenize") {
        if (!args.has("model") || !args.has("file")) fail("t2l bench tokenize: needs -m MODEL.t2l and --file CORPUS");
        T2lFile f(args.str("model"));
        const std::string prefix = f.find_meta("tokenizer.json") ? "" : "encoder.";
        const Tokenizer tok = Tokenizer::from_t2l(f, prefix);
        const std::vector<std::string> corpus = read_corpus(args.str("file"));
        uint64_t bytes = 0, ids = 0;
        for (const auto& s : corpus) bytes += s.size();
        EncodeOptions opt;
        opt.add_special_tokens = false;
        auto t0 = Clock::now();
        for (const auto& s : corpus) ids += tok.encode(s, opt).size();
        const double secs = seconds_since(t0);
        std::printf("tokenize: %zu strings, %.2f MB, %llu ids in %.3f s on 1 thread: %.2f MB/s, %.2f M ids/s\n", corpus.size(),
                    bytes / 1e6, (unsigned long long)ids, secs, bytes / 1e6 / secs, ids / 1e6 / secs);
    } else if (what == "describe") {
        if (!args.has("t2l")) fail("t2l bench describe: needs --t2l T2L.t2l");
        auto t_load = Clock::now();
        T2lPipeline pipe(args.str("t2l"), args.str("encoder"), resolve_device(args.str("device")));
        const double load_s = seconds_since(t_load);
        const std::string desc = "Answer multiple-choice questions about physics, chemistry and biology.";
        std::vector<double> times, enc_times, hyp_times;
        for (int64_t i = 0; i < std::max<int64_t>(1, args.integer("runs")); i++) {
            auto t0 = Clock::now();
            std::vector<DescribedAdapter> out = pipe.describe({desc});
            times.push_back(seconds_since(t0));
            // The two stages alone: tokenizer + encoder, then the hypernetwork.
            auto t1 = Clock::now();
            const std::vector<float> emb = pipe.embed(pipe.tokenize(add_full_stop(desc)));
            enc_times.push_back(seconds_since(t1));
            auto t2 = Clock::now();
            pipe.generate({emb});
            hyp_times.push_back(seconds_since(t2));
        }
        auto median_ms = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2] * 1e3;
        };
        const HypernetConfig& hc = pipe.hypernet().config();
        std::printf("describe: load %.3f s; warm description -> adapter in host memory (%d layers x %zu modules, encoder %d x %d) "
                    "median %.2f ms (encoder %.2f ms, hypernetwork %.2f ms), best %.2f ms over %zu runs, %d threads\n",
                    load_s, hc.n_layers, hc.modules.size(), pipe.encoder().config().n_layers, pipe.encoder().config().hidden,
                    median_ms(times), median_ms(enc_times), median_ms(hyp_times), *std::min_element(times.begin(), times.end()) * 1e3,
                    times.size(), num_threads());
    } else if (what == "decode") {
        if (!args.has("model")) fail("t2l bench decode: needs -m MODEL.t2l");
        T2lFile f(args.str("model"));
        const Device dev = resolve_device(args.str("device"));
        Decoder model(f, dev);
        LoraAdapter adapter;
        if (args.has("lora")) {
            adapter = load_adapter(args.str("lora"));
            model.set_adapter(&adapter, args.flag("merged"));
        }
        const int64_t np = args.integer("prompt-tokens"), ng = args.integer("gen-tokens");
        if (np < 1 || ng < 1) fail("t2l bench decode: token counts must be positive");
        std::vector<int32_t> prompt((size_t)np);
        for (int64_t i = 0; i < np; i++) prompt[(size_t)i] = (int32_t)((i * 7919 + 13) % model.config().vocab);
        KVCache cache = model.new_cache(np + ng);
        // Two passes over the same cache: the first warms up (cuBLAS plans, the recorded decode
        // graph), the second is timed.
        double prefill = 0, decode = 0;
        for (int pass = 0; pass < 2; pass++) {
            cache.length = 0;
            auto t0 = Clock::now();
            Tensor logits = model.forward(prompt, cache);
            prefill = seconds_since(t0);
            int32_t next = argmax(logits.f32(), model.config().vocab);
            auto t1 = Clock::now();
            for (int64_t i = 0; i < (pass == 0 ? std::min<int64_t>(ng, 4) : ng); i++) next = model.step_greedy(next, cache);
            decode = seconds_since(t1);
        }
        const double bytes = (double)model.weight_bytes_per_token();
        std::printf("decode: prefill %lld tokens %.1f tok/s (%.1f ms), decode %lld tokens %.2f tok/s (%.3f ms/token)",
                    (long long)np, np / prefill, prefill * 1e3, (long long)ng, ng / decode, decode / ng * 1e3);
        if (dev == Device::CUDA) {
            // The HBM roofline of a decode step: every weight read once at the H200's 4.8 TB/s.
            const double roof = bytes / 4.8e12;
            std::printf(", weights %.2f GB/token: %.1f%% of the 4.8 TB/s roofline (%.0f tok/s); GPU memory in use %.1f GB; %s\n",
                        bytes / 1e9, 100.0 * roof / (decode / ng), 1.0 / roof, gpu_memory_used() / 1e9,
                        model.step_is_fused(cache) ? "fused step" : "step op by op");
        } else {
            std::printf(" (%d threads)\n", num_threads());
        }
        if (args.has("lora")) std::printf("  with the adapter %s (%s)\n", args.str("lora").c_str(), args.flag("merged") ? "merged" : "unmerged");
    } else {
        fail("t2l bench: unknown benchmark '", what, "' (tokenize, describe, decode)");
    }
    return 0;
}

}  // namespace t2l
