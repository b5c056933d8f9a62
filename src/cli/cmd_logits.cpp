// cmd_logits.cpp — `t2l logits -m BASE.t2l [--lora A] --tokens 1,2,3 [--json|--out FILE]`:
// the model's logits for given token ids, for tests and debugging.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/t2l_inputs.h"
#include "common.h"
#include "format/t2l_file.h"
#include "io/safetensors.h"
#include "lora/adapter.h"
#include "models/decoder.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "logits",
    "-m BASE.t2l [--lora ADAPTER] --tokens 1,2,3 [--json | --out FILE.safetensors]",
    "Run the base model (optionally with a LoRA adapter) over the given token ids and print the\n"
    "logits: by default each position's top token; --json prints every logit; --out writes a\n"
    "safetensors file with a (positions, vocab) f32 tensor named \"logits\".",
    {
        {"--model", "-m", FlagType::String, nullptr, "BASE.t2l", "the converted base model"},
        {"--lora", nullptr, FlagType::String, nullptr, "ADAPTER", "PEFT adapter folder or .t2l adapter"},
        {"--merged", nullptr, FlagType::Bool, nullptr, nullptr, "merge the adapter into the weights (W + s B A)"},
        {"--lora-scale", nullptr, FlagType::Float, "0", "S", "override the adapter's scale (0: from its config)"},
        {"--tokens", nullptr, FlagType::String, nullptr, "1,2,3", "token ids"},
        {"--json", nullptr, FlagType::Bool, nullptr, nullptr, "print all logits as JSON"},
        {"--out", nullptr, FlagType::String, nullptr, "FILE", "write the logits to a safetensors file"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto"},
    },
    0,
    0,
};
}  // namespace

int cmd_logits(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    if (args.str("model").empty()) fail("t2l logits: -m BASE.t2l is required");
    if (args.str("tokens").empty()) fail("t2l logits: --tokens is required");
    T2lFile file(args.str("model"));
    Decoder model(file, resolve_device(args.str("device")));
    LoraAdapter adapter;
    if (args.has("lora")) {
        adapter = load_adapter(args.str("lora"));
        model.set_adapter(&adapter, args.flag("merged"), args.number("lora-scale"));
    }
    const std::vector<int32_t> tokens = parse_id_list(args.str("tokens"), "--tokens");
    for (int32_t t : tokens)
        if (t >= model.config().vocab) fail("--tokens: id ", t, " is outside the vocabulary (", model.config().vocab, ")");
    KVCache cache = model.new_cache((int64_t)tokens.size());
    Tensor logits = model.forward(tokens, cache, /*all_logits=*/true);
    const int64_t n = logits.dim(0), V = logits.dim(1);
    if (args.has("out")) {
        TensorView v;
        v.name = "logits";
        v.dtype = DType::F32;
        v.shape = {n, V};
        v.data = (const uint8_t*)logits.data;
        v.nbytes = logits.nbytes();
        write_safetensors(args.str("out"), {v});
    }
    if (args.flag("json")) {
        json::Value rows = json::Value::new_array();
        for (int64_t i = 0; i < n; i++) {
            json::Value r = json::Value::new_array();
            for (int64_t j = 0; j < V; j++) r.push(json::Value::from_double(logits.f32()[i * V + j]));
            rows.push(r);
        }
        json::Value root = json::Value::new_object();
        json::Value t = json::Value::new_array();
        for (int32_t id : tokens) t.push(json::Value::from_int(id));
        root.set("tokens", t);
        root.set("logits", rows);
        std::printf("%s\n", json::dump(root).c_str());
    } else if (!args.has("out")) {
        for (int64_t i = 0; i < n; i++) {
            const float* row = logits.f32() + i * V;
            int64_t best = 0;
            for (int64_t j = 1; j < V; j++)
                if (row[j] > row[best]) best = j;
            std::printf("position %lld: token %d -> top %lld (logit %.5f)\n", (long long)i, tokens[(size_t)i], (long long)best, row[best]);
        }
    }
    return 0;
}

}  // namespace t2l
