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
    "Convert a LoRA adapter. IN is a PEFT folder (adapter_model.safetensors + adapter_config.json),\n"
    "a .t2l adapter or a llama.cpp GGUF adapter. gguf writes llama.cpp's LoRA format with alpha\n"
    "chosen so llama.cpp applies the adapter's own scale (rsLoRA included) and q/k rows permuted\n"
    "for LLaMA-family bases; it needs the base's architecture from --base, or knows it for the\n"
    "released T2L bases. Reading a GGUF undoes the permutation and takes the scale from alpha / r\n"
    "(a GGUF written by t2l also returns its PEFT config); a LLaMA-family GGUF from elsewhere\n"
    "needs --base for its head counts.",
    {
        {"--out", "-o", FlagType::String, nullptr, "OUT", "output folder (peft) or file (gguf, t2l)"},
        {"--format", nullptr, FlagType::String, nullptr, "FORMAT", "peft, gguf or t2l"},
        {"--base", nullptr, FlagType::String, nullptr, "BASE.t2l", "the base model (architecture, head counts) for GGUF in or out"},
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
    GgufBaseInfo base;
    bool have_base = false;
    if (args.has("base")) {
        T2lFile bf(args.str("base"));
        base = gguf_base_from_config(bf.meta_json("hf.config"), bf.path());
        have_base = true;
    }
    LoraAdapter a;
    if (in.size() > 5 && in.substr(in.size() - 5) == ".gguf") {  // load_adapter reads GGUF too, without --base
        GgufBaseInfo from_file;
        a = read_gguf_adapter(in, have_base ? &base : nullptr, &from_file);
        if (!have_base && !from_file.arch.empty() && (!from_file.permute_qk || from_file.n_head > 0)) {
            base = from_file;
            have_base = true;
        }
    } else {
        a = load_adapter(in);
    }
    if (args.flag("portable")) make_portable(a);
    if (format == "peft") {
        json::Value meta = json::Value::new_object();
        meta.set("format", json::Value::from_string("pt"));
        write_peft_adapter(out, a, meta);
    } else if (format == "t2l") {
        write_t2l_adapter(out, a, {{"general.source", in}});
    } else {
        if (!have_base) {
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
