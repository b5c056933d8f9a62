// cmd_run.cpp — `t2l run`: generate text with a base model, optionally with a LoRA adapter
// read from disk (--lora) or generated on the spot from a task description (--describe).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sys/resource.h>

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
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

namespace {
constexpr const char* kDefaultModel = "weights/model.t2l";
constexpr const char* kDefaultT2l = "weights/t2l.t2l";

const CommandSpec kSpec = {
    "run",
    "[-m BASE.t2l] [--lora ADAPTER | --describe \"task\"] (-p PROMPT | --chat) [-n N] [--temp T] [--top-p P] [--seed S]",
    "Generate text. The prompt is given with -p, or --chat formats it as a user turn (with -p)\n"
    "or runs an interactive chat on standard input. With --describe the T2L hypernetwork makes\n"
    "an adapter for the task first and it is applied at once. Text streams to stdout; speed\n"
    "and memory go to stderr.",
    {
        {"--model", "-m", FlagType::String, kDefaultModel, "BASE.t2l", "the converted base model"},
        {"--lora", nullptr, FlagType::String, nullptr, "ADAPTER", "PEFT adapter folder or .t2l adapter"},
        {"--describe", nullptr, FlagType::String, nullptr, "TASK", "generate the adapter from this description"},
        {"--t2l", nullptr, FlagType::String, kDefaultT2l, "T2L.t2l", "hypernetwork for --describe"},
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder for --describe, if not bundled"},
        {"--merged", nullptr, FlagType::Bool, nullptr, nullptr, "merge the adapter into the weights"},
        {"--lora-scale", nullptr, FlagType::Float, "0", "S", "override the adapter's scale (0: from its config)"},
        {"--prompt", "-p", FlagType::String, nullptr, "TEXT", "the prompt"},
        {"--chat", nullptr, FlagType::Bool, nullptr, nullptr, "use the model's chat format"},
        {"--system", nullptr, FlagType::String, nullptr, "TEXT", "system message for --chat"},
        {"--chat-format", nullptr, FlagType::String, nullptr, "NAME", "llama3, mistral, gemma or chatml (default: detected)"},
        {"--n-tokens", "-n", FlagType::Int, "256", "N", "maximum tokens to generate"},
        {"--temp", nullptr, FlagType::Float, "0", "T", "sampling temperature (0: greedy)"},
        {"--top-k", nullptr, FlagType::Int, "0", "K", "keep the K most likely tokens (0: all)"},
        {"--top-p", nullptr, FlagType::Float, "1", "P", "nucleus sampling mass (1: off)"},
        {"--repeat-penalty", nullptr, FlagType::Float, "1", "R", "repetition penalty (1: off)"},
        {"--seed", nullptr, FlagType::Int, "0", "S", "random seed for sampling"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto"},
    },
    0,
    0,
};

double peak_rss_mb() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

struct Generation {
    std::vector<int32_t> tokens;  // prompt + generated
    double prefill_s = 0, decode_s = 0;
    int64_t prompt_len = 0, generated = 0;
};

// Prefill the prompt in one pass, then decode token by token, streaming text to stdout.
void generate(const Decoder& model, KVCache& cache, const Tokenizer& tok, Sampler& sampler, std::vector<int32_t>& history,
              const std::vector<int32_t>& prompt, int64_t max_new, Generation* g) {
    using clock = std::chrono::steady_clock;
    const int64_t V = model.config().vocab;
    auto t0 = clock::now();
    Tensor logits = model.forward(prompt, cache);
    history.insert(history.end(), prompt.begin(), prompt.end());
    g->prefill_s += std::chrono::duration<double>(clock::now() - t0).count();
    g->prompt_len += (int64_t)prompt.size();
    StreamDecoder stream(tok, /*skip_special_tokens=*/true);
    auto t1 = clock::now();
    // Greedy decoding takes each next token's argmax on the model's device (step_greedy): only the
    // token id comes back, not the vocabulary's logits.
    int32_t argmax_next = -1;
    for (int64_t i = 0; i < max_new; i++) {
        int32_t next = argmax_next;
        if (next < 0) {
            std::vector<float> row(logits.f32(), logits.f32() + V);
            next = sampler.sample(row.data(), V, history);
        }
        const auto& eos = model.config().eos_ids;
        if (std::find(eos.begin(), eos.end(), next) != eos.end() || next == tok.eos_id()) break;
        history.push_back(next);
        g->generated++;
        std::fputs(stream.step(next).c_str(), stdout);
        std::fflush(stdout);
        if (cache.length >= cache.capacity) break;
        if (sampler.greedy()) argmax_next = model.step_greedy(next, cache);
        else logits = model.forward({next}, cache);
    }
    std::fputs(stream.finish().c_str(), stdout);
    std::fflush(stdout);
    g->decode_s += std::chrono::duration<double>(clock::now() - t1).count();
}
}  // namespace

int cmd_run(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const Device device = resolve_device(args.str("device"));
    if (args.has("lora") && args.has("describe")) fail("t2l run: give --lora or --describe, not both");
    if (!args.has("prompt") && !args.flag("chat")) fail("t2l run: give a prompt with -p, or --chat");
    const int64_t max_new = args.integer("n-tokens");
    if (max_new < 0) fail("--n-tokens: must not be negative");
    if (!args.has("model")) std::fprintf(stderr, "t2l run: using the default model %s\n", kDefaultModel);

    T2lFile file(args.str("model"));
    Decoder model(file, device);
    const Tokenizer tok = Tokenizer::from_t2l(file);
    LoraAdapter adapter;
    if (args.has("lora")) {
        adapter = load_adapter(args.str("lora"));
    } else if (args.has("describe")) {
        if (!args.has("t2l")) std::fprintf(stderr, "t2l run: using the default hypernetwork %s\n", kDefaultT2l);
        auto t0 = std::chrono::steady_clock::now();
        T2lPipeline pipeline(args.str("t2l"), args.str("encoder"), device);
        adapter = pipeline.describe({args.str("describe")})[0].adapter;
        std::fprintf(stderr, "t2l run: adapter generated in %.1f ms\n",
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!adapter.modules.empty()) model.set_adapter(&adapter, args.flag("merged"), args.number("lora-scale"));

    SamplerParams sp;
    sp.temperature = (float)args.number("temp");
    sp.top_k = (int)args.integer("top-k");
    sp.top_p = (float)args.number("top-p");
    sp.repetition_penalty = (float)args.number("repeat-penalty");
    sp.seed = (uint64_t)args.integer("seed");
    if (sp.top_p <= 0 || sp.top_p > 1) fail("--top-p: must be in (0, 1]");
    Sampler sampler(sp);

    // The context: the model's, capped at 8192 positions (the KV cache is f32: 8 bytes per
    // position and KV feature and layer); a plain prompt needs only prompt + N.
    int64_t ctx = std::min<int64_t>(model.config().max_positions > 0 ? model.config().max_positions : 4096, 8192);
    std::vector<int32_t> history;
    Generation g;
    if (!args.flag("chat")) {
        EncodeOptions opt;  // with the tokenizer's BOS
        std::vector<int32_t> prompt = tok.encode(args.str("prompt"), opt);
        if ((int64_t)prompt.size() >= ctx) fail("-p: the prompt has ", prompt.size(), " tokens; the context holds ", ctx);
        ctx = std::min<int64_t>(ctx, (int64_t)prompt.size() + max_new);
        KVCache cache = model.new_cache(ctx);
        std::fputs(args.str("prompt").c_str(), stdout);
        generate(model, cache, tok, sampler, history, prompt, std::min(max_new, ctx - (int64_t)prompt.size()), &g);
        std::fputs("\n", stdout);
        std::fflush(stdout);
    } else {
        KVCache cache = model.new_cache(ctx);
        ChatFormat fmt;
        if (args.has("chat-format")) fmt = chat_format_from_name(args.str("chat-format"));
        else if (!detect_chat_format(tok, &fmt)) fail("t2l run --chat: cannot tell the chat format of this model; pass --chat-format");
        std::vector<ChatMessage> messages;
        if (args.has("system")) messages.push_back({"system", args.str("system")});
        EncodeOptions raw;
        raw.add_special_tokens = false;  // the chat text carries its own special tokens
        auto turn = [&](const std::string& user) {
            messages.push_back({"user", user});
            // Re-render the whole conversation and feed only the tokens the cache does not hold.
            const std::string text = render_chat(fmt, messages, true, tok.bos_token(), tok.eos_token());
            std::vector<int32_t> all = tok.encode(text, raw);
            if ((int64_t)all.size() >= ctx) fail("the conversation no longer fits the context of ", ctx, " tokens");
            size_t same = 0;
            while (same < all.size() && same < history.size() && all[same] == history[same]) same++;
            if (same < history.size()) {  // the rendering changed earlier text: start over
                cache.length = 0;
                history.clear();
                same = 0;
            }
            cache.length = (int64_t)same;
            std::vector<int32_t> fresh(all.begin() + (long)same, all.end());
            const size_t before = history.size() + fresh.size();
            generate(model, cache, tok, sampler, history, fresh, std::min(max_new, ctx - (int64_t)all.size()), &g);
            std::vector<int32_t> reply(history.begin() + (long)before, history.end());
            messages.push_back({"assistant", tok.decode(reply, true)});
            std::fputs("\n", stdout);
            std::fflush(stdout);
        };
        if (args.has("prompt")) {
            turn(args.str("prompt"));
        } else {
            std::string line;
            std::fprintf(stderr, "> ");
            while (std::getline(std::cin, line)) {
                if (!line.empty()) turn(line);
                std::fprintf(stderr, "> ");
            }
            std::fprintf(stderr, "\n");
        }
    }
    std::fprintf(stderr, "t2l run: prompt %lld tokens in %.2f s (%.1f tok/s), generated %lld tokens in %.2f s (%.1f tok/s), peak memory %.0f MB\n",
                 (long long)g.prompt_len, g.prefill_s, g.prefill_s > 0 ? g.prompt_len / g.prefill_s : 0.0, (long long)g.generated,
                 g.decode_s, g.decode_s > 0 ? g.generated / g.decode_s : 0.0, peak_rss_mb());
    return 0;
}

}  // namespace t2l
