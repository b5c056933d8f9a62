// cmd_embed.cpp — `t2l embed --encoder ENC.t2l "text" [--json]`: the task embedding T2L's
// hypernetwork sees for a description (preprocessed, tokenized, encoded, CLS, normalised).
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/t2l_inputs.h"
#include "common.h"
#include "format/t2l_file.h"
#include "models/encoder.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "embed",
    "--encoder ENC.t2l \"task description\" [--json]",
    "Print the task embedding of a description: the encoder's final [CLS] state, L2-normalised\n"
    "and scaled by sqrt(hidden), exactly what the hypernetwork receives. ENC.t2l is a converted\n"
    "text encoder or a T2L file with a bundled encoder.",
    {
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder (or T2L file with one bundled)"},
        {"--ids", nullptr, FlagType::String, nullptr, "1,2,3", "embed these token ids instead of tokenizing text"},
        {"--json", nullptr, FlagType::Bool, nullptr, nullptr, "print {\"text\", \"ids\", \"embedding\"} as JSON"},
        {"--device", nullptr, FlagType::String, "auto", "DEV", "cpu, cuda or auto"},
    },
    0,
    1,
};
}  // namespace

int cmd_embed(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const std::string enc_path = args.str("encoder");
    if (enc_path.empty()) fail("t2l embed: --encoder ENC.t2l is required");
    T2lFile file(enc_path);
    const std::string prefix = encoder_prefix(file);
    TextEncoder encoder(file, prefix, resolve_device(args.str("device")));

    std::string text;
    std::vector<int32_t> ids;
    if (args.has("ids")) {
        if (!args.positional.empty()) fail("t2l embed: give either text or --ids, not both");
        ids = parse_id_list(args.str("ids"), "--ids");
    } else {
        if (args.positional.empty()) fail("t2l embed: missing the text to embed");
        text = add_full_stop(args.positional[0]);
        ids = tokenize_for_encoder(file, prefix, text);
    }
    const std::vector<float> emb = encoder.task_embedding(ids);
    if (args.flag("json")) {
        json::Value root = json::Value::new_object();
        root.set("text", json::Value::from_string(text));
        json::Value jids = json::Value::new_array();
        for (int32_t id : ids) jids.push(json::Value::from_int(id));
        root.set("ids", jids);
        json::Value e = json::Value::new_array();
        for (float v : emb) e.push(json::Value::from_double(v));
        root.set("embedding", e);
        std::printf("%s\n", json::dump(root).c_str());
    } else {
        for (size_t i = 0; i < emb.size(); i++) std::printf("%s%.7g", i ? " " : "", emb[i]);
        std::printf("\n");
    }
    return 0;
}

}  // namespace t2l
