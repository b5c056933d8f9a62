// cmd_embed.cpp — `t2l embed --encoder ENC.t2l "text" [--json] [--mode auto|task|sentence]`:
// the task embedding T2L's hypernetwork sees for a description (preprocessed, tokenized,
// encoded, CLS, normalised, scaled), or a sentence-transformers model's own sentence
// embedding (its pooling and normalisation, recorded by t2l-convert as "sentence.config").
#include <algorithm>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/t2l_inputs.h"
#include "common.h"
#include "format/t2l_file.h"
#include "models/encoder.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "embed",
    "--encoder ENC.t2l \"text\" [--json] [--mode auto|task|sentence]",
    "Print the embedding of a text. task: the T2L task embedding of a description (a final \".\"\n"
    "added, the encoder's final [CLS] state, L2-normalised and scaled by sqrt(hidden)), exactly\n"
    "what the hypernetwork receives. sentence: the model's own sentence embedding, as\n"
    "sentence-transformers computes it (the text as given, cut to the model's max_seq_length,\n"
    "the pooling of its 1_Pooling/config.json, L2-normalised when modules.json says Normalize);\n"
    "only for an encoder converted from a folder with those files. auto: sentence when the\n"
    "encoder has them, else task. ENC.t2l is a converted text encoder or a T2L file with a\n"
    "bundled encoder (always task).",
    {
        {"--encoder", nullptr, FlagType::String, nullptr, "ENC.t2l", "text encoder (or T2L file with one bundled)"},
        {"--ids", nullptr, FlagType::String, nullptr, "1,2,3", "embed these token ids instead of tokenizing text"},
        {"--json", nullptr, FlagType::Bool, nullptr, nullptr, "print {\"text\", \"ids\", \"mode\", \"embedding\"} as JSON"},
        {"--mode", nullptr, FlagType::String, "auto", "MODE", "task, sentence or auto (sentence when the encoder records one)"},
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

    const std::string mode_arg = args.str("mode");
    if (mode_arg != "auto" && mode_arg != "task" && mode_arg != "sentence")
        fail("t2l embed: --mode must be auto, task or sentence, not '", mode_arg, "'");
    SentenceConfig sc;
    const bool has_sentence = prefix.empty() && SentenceConfig::from_file(file, prefix, &sc);
    if (mode_arg == "sentence" && !has_sentence)
        fail("t2l embed: ", enc_path, " records no sentence embedding (convert the encoder from a sentence-transformers "
             "folder: modules.json, 1_Pooling/config.json)");
    const bool sentence = mode_arg == "sentence" || (mode_arg == "auto" && has_sentence);

    std::string text;
    std::vector<int32_t> ids;
    if (args.has("ids")) {
        if (!args.positional.empty()) fail("t2l embed: give either text or --ids, not both");
        ids = parse_id_list(args.str("ids"), "--ids");
    } else if (args.positional.empty()) {
        fail("t2l embed: missing the text to embed");
    } else if (sentence) {
        // sentence-transformers: the text as it is, truncated to max_seq_length tokens
        // ([CLS] and [SEP] kept, the text cut from the right).
        text = args.positional[0];
        if (!file.find_meta(prefix + "tokenizer.json")) fail(file.path(), ": the encoder has no tokenizer.json");
        EncodeOptions opt;
        const int positions = encoder.config().max_positions;
        opt.max_length = (size_t)(sc.max_length > 0 ? std::min(sc.max_length, positions) : positions);
        ids = Tokenizer::from_t2l(file, prefix).encode(text, opt);
    } else {
        text = add_full_stop(args.positional[0]);
        ids = tokenize_for_encoder(file, prefix, text);
    }
    const std::vector<float> emb = sentence ? encoder.sentence_embedding(ids, sc) : encoder.task_embedding(ids);
    if (args.flag("json")) {
        json::Value root = json::Value::new_object();
        root.set("text", json::Value::from_string(text));
        json::Value jids = json::Value::new_array();
        for (int32_t id : ids) jids.push(json::Value::from_int(id));
        root.set("ids", jids);
        root.set("mode", json::Value::from_string(sentence ? "sentence" : "task"));
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
