// cmd_convert_adapter.cpp — `t2l convert-adapter IN -o OUT --format peft|gguf|t2l`: move a LoRA
// adapter (from T2L or not) between the formats other engines load.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "common.h"
#include "format/t2l_file.h"
#include "lora/adapter.h"
#include "lora/adapter_gguf.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "convert-adapter",
    "IN -o OUT --format peft|gguf|t2l [--base BASE.t2l] [--portable]",
    "Convert a LoRA adapter. IN is a PEFT folder (adapter_model.safetensors + adapter_config.json)\n"
    "or a .t2l adapter. gguf writes llama.cpp's LoRA format with alpha chosen so llama.cpp applies\n"
    "the adapter's own scale (rsLoRA included) and q/k rows permuted for LLaMA-family bases; it\n"
    "needs the base's architecture from --base, or knows it for the released T2L bases.",
    {
        {"--out", "-o", FlagType::String, nullptr, "OUT", "output folder (peft) or file (gguf, t2l)"},
        {"--format", nullptr, FlagType::String, nullptr, "FORMAT", "peft, gguf or t2l"},
        {"--base", nullptr, FlagType::String, nullptr, "BASE.t2l", "gguf: the base model (architecture, head counts)"},
        {"--portable", nullptr, FlagType::Bool, nullptr, nullptr, "fold sqrt(r) into lora_B and write use_rslora false"},
        {"--quiet", "-q", FlagType::Bool, nullptr, nullptr, "print nothing on success"},
    },
    1,
    1,
};
}  // namespace

int cmd_convert_adapter(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const std::string in = args.positional[0], out = args.str("out"), format = args.str("format");
    if (out.empty()) fail("t2l convert-adapter: -o OUT is required");
    if (format != "peft" && format != "gguf" && format != "t2l") fail("t2l convert-adapter: --format must be peft, gguf or t2l");
    if (in.size() > 5 && in.substr(in.size() - 5) == ".gguf")
        fail(in, ": reading GGUF adapters is not supported; convert from the PEFT folder or .t2l it came from");
    LoraAdapter a = load_adapter(in);
    if (args.flag("portable")) make_portable(a);
    if (format == "peft") {
        json::Value meta = json::Value::new_object();
        meta.set("format", json::Value::from_string("pt"));
        write_peft_adapter(out, a, meta);
    } else if (format == "t2l") {
        write_t2l_adapter(out, a, {{"general.source", in}});
    } else {
        GgufBaseInfo base;
        if (args.has("base")) {
            T2lFile bf(args.str("base"));
            base = gguf_base_from_config(bf.meta_json("hf.config"), bf.path());
        } else {
            const json::Value* name = a.config.find("base_model_name_or_path");
            if (!name || !name->is_string() || !gguf_base_from_name(name->string, &base))
                fail("t2l convert-adapter --format gguf: cannot tell the base model's architecture; pass --base BASE.t2l");
        }
        write_gguf_adapter(out, a, base);
    }
    if (!args.flag("quiet"))
        std::fprintf(stderr, "t2l convert-adapter: %s -> %s (%s, %zu modules, rank %d, scale %.4g)\n", in.c_str(), out.c_str(),
                     format.c_str(), a.modules.size(), a.r, a.scale());
    return 0;
}

}  // namespace t2l
