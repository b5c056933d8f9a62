// cmd_describe.cpp — `t2l describe "task"`: description -> task embedding -> hypernetwork ->
// LoRA adapter, written as a PEFT folder (default) or a .t2l adapter file.
#include <cstdio>
#include <fstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/t2l_inputs.h"
#include "common.h"
#include "format/t2l_file.h"
#include "io/mapped_file.h"
#include "lora/adapter.h"
#include "lora/adapter_gguf.h"
#include "models/encoder.h"
#include "models/t2l_pipeline.h"
#include "timing.h"

namespace t2l {

namespace {
constexpr const char* kDefaultT2l = "weights/t2l.t2l";

const CommandSpec kSpec = {
    "describe",
    "\"task description\" [--t2l T2L.t2l] [--encoder ENC.t2l] [-o OUT] [--format peft|t2l|gguf] [--batch FILE]",
    "Generate a LoRA adapter for a task described in words. The description is embedded by the\n"
    "text encoder (bundled in the T2L file, or --encoder), the hypernetwork produces A and B for\n"
    "every layer and target module in one pass, and the adapter is written as a PEFT folder\n"
    "(adapter_model.safetensors + adapter_config.json) or a .t2l file. With --batch, each line\n"
    "of FILE is a description and OUT is a folder receiving 0000/, 0001/, ... (or 0000.t2l, ...).",
    {
        {"--t2l", nullptr, FlagType::String, kDefaultT2l, "T2L.t2l", "the converted T2L hypernetwork"},
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder, when not bundled in the T2L file"},
        {"--out", "-o", FlagType::String, nullptr, "OUT", "output folder (peft) or file (t2l); default adapter/ or adapter.t2l"},
        {"--format", nullptr, FlagType::String, "peft", "FORMAT", "peft, t2l or gguf (llama.cpp --lora)"},
        {"--base", nullptr, FlagType::String, nullptr, "BASE.t2l", "gguf: the base model (architecture, head counts)"},
        {"--portable", nullptr, FlagType::Bool, nullptr, nullptr, "fold sqrt(r) into lora_B and write use_rslora false (for consumers that ignore rsLoRA)"},
        {"--batch", nullptr, FlagType::String, nullptr, "FILE", "one description per line; one adapter each"},
        {"--ids", nullptr, FlagType::String, nullptr, "1,2,3", "use these encoder token ids for the description"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto (the GPU when there is one)"},
        {"--quiet", "-q", FlagType::Bool, nullptr, nullptr, "print nothing on success"},
    },
    0,
    1,
};

std::string embedding_json(const std::vector<float>& e) {
    json::Value a = json::Value::new_array();
    for (float v : e) a.push(json::Value::from_double(v));
    return json::dump(a);
}

void write_adapter(const std::string& out, const std::string& format, const LoraAdapter& a, const std::string& desc,
                   const std::vector<float>& emb, const std::string& source, const GgufBaseInfo& base) {
    if (format == "gguf") {
        write_gguf_adapter(out, a, base, {{"t2l.description", desc}, {"t2l.hypernetwork", source}});
        return;
    }
    if (format == "peft") {
        json::Value meta = json::Value::new_object();
        meta.set("format", json::Value::from_string("pt"));
        meta.set("t2l.description", json::Value::from_string(desc));
        meta.set("t2l.task_embedding", json::Value::from_string(embedding_json(emb)));
        meta.set("t2l.hypernetwork", json::Value::from_string(source));
        write_peft_adapter(out, a, meta);
        return;
    }
    write_t2l_adapter(out, a, {{"general.source", source}, {"t2l.description", desc}, {"t2l.task_embedding_json", embedding_json(emb)}});
}

}  // namespace

int cmd_describe(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    timing_mark("startup");
    const std::string format = args.str("format");
    if (format != "peft" && format != "t2l" && format != "gguf")
        fail("t2l describe: --format must be peft, t2l or gguf, not '", format, "'");
    const bool quiet = args.flag("quiet");
    std::vector<std::string> descriptions;
    if (args.has("batch")) {
        if (!args.positional.empty()) fail("t2l describe: give a description or --batch FILE, not both");
        std::ifstream in(args.str("batch"));
        if (!in) fail(args.str("batch"), ": cannot open");
        std::string line;
        while (std::getline(in, line))
            if (line.find_first_not_of(" \t\r") != std::string::npos) descriptions.push_back(line);
        if (descriptions.empty()) fail(args.str("batch"), ": no descriptions (one per line)");
    } else {
        if (args.positional.empty() && !args.has("ids")) fail("t2l describe: missing the task description (see --help)");
        descriptions.push_back(args.positional.empty() ? "" : args.positional[0]);
    }
    if (args.has("ids") && descriptions.size() != 1) fail("t2l describe: --ids works with one description");

    const std::string t2l_path = args.str("t2l");
    if (!args.has("t2l") && !quiet) std::fprintf(stderr, "t2l describe: using the default hypernetwork %s\n", kDefaultT2l);
    const Device device = resolve_device(args.str("device"));
    timing_mark("device check");  // on a GPU machine: the driver's initialisation
    T2lPipeline pipeline(t2l_path, args.str("encoder"), device);

    // Embed every description, then run the hypernetwork once for all of them.
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> ids;
    const bool given_ids = args.has("ids");
    for (const std::string& d : descriptions) {
        texts.push_back(given_ids && d.empty() ? "" : add_full_stop(d));
        ids.push_back(given_ids ? parse_id_list(args.str("ids"), "--ids") : pipeline.tokenize(texts.back()));
    }
    timing_mark("tokenize");
    std::vector<std::vector<float>> embs;
    Progress bar("embed", descriptions.size());
    for (size_t i = 0; i < descriptions.size(); i++) {
        embs.push_back(pipeline.embed(ids[i]));
        bar.update(i + 1);
    }
    bar.finish();
    timing_mark("encoder");
    std::vector<LoraAdapter> adapters = pipeline.generate(embs);
    timing_mark("hypernet");
    if (args.flag("portable"))
        for (auto& a : adapters) make_portable(a);
    const HypernetConfig& hc = pipeline.hypernet().config();

    const std::string source = base_name(t2l_path);
    std::string out = args.str("out");
    if (out.empty()) out = format == "peft" ? "adapter" : format == "t2l" ? "adapter.t2l" : "adapter.gguf";
    GgufBaseInfo base;
    if (format == "gguf") {
        if (args.has("base")) {
            T2lFile bf(args.str("base"));
            base = gguf_base_from_config(bf.meta_json("hf.config"), bf.path());
        } else if (!gguf_base_from_name(hc.base_model, &base)) {
            fail("t2l describe --format gguf: the base model '", hc.base_model, "' is not one of the released T2L bases; pass --base BASE.t2l");
        }
    }
    if (descriptions.size() == 1) {
        write_adapter(out, format, adapters[0], texts[0], embs[0], source, base);
        if (!quiet)
            std::fprintf(stderr, "t2l describe: wrote %s (%s, %zu layers x %zu modules, rank %d, scale %.4g)\n", out.c_str(),
                         format.c_str(), (size_t)hc.n_layers, hc.modules.size(), hc.r, adapters[0].scale());
    } else {
        make_dirs(out);
        for (size_t i = 0; i < adapters.size(); i++) {
            char name[32];
            std::snprintf(name, sizeof name, format == "peft" ? "%04zu" : format == "t2l" ? "%04zu.t2l" : "%04zu.gguf", i);
            write_adapter(join_path(out, name), format, adapters[i], texts[i], embs[i], source, base);
        }
        if (!quiet) std::fprintf(stderr, "t2l describe: wrote %zu adapters into %s\n", adapters.size(), out.c_str());
    }
    timing_mark("write");
    timing_report();
    return 0;
}

}  // namespace t2l
