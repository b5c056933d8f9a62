// cmd_tokenize.cpp — `t2l tokenize -m MODEL.t2l "text" [--json] [--verbose]`: the token ids
// of a text under a converted model's tokenizer (or, with --decode, the text of ids).
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli/args.h"
#include "cli/commands.h"
#include "common.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "tokenize",
    "-m MODEL.t2l TEXT [--json] [--verbose] [--no-special] [--max-length N] | -m MODEL.t2l --decode IDS",
    "Print the token ids of TEXT (use - to read it from stdin) under the tokenizer stored in a .t2l\n"
    "file, the way Hugging Face tokenizers encodes it (special tokens such as BOS included unless\n"
    "--no-special). --verbose adds each id's token string; --decode 1,2,3 prints text instead.",
    {
        {"--model", "-m", FlagType::String, nullptr, "FILE", "converted model (.t2l) holding tokenizer.json"},
        {"--json", nullptr, FlagType::Bool, nullptr, nullptr, "print one JSON object {ids, tokens?, count}"},
        {"--verbose", "-v", FlagType::Bool, nullptr, nullptr, "print each id with its token string"},
        {"--no-special", nullptr, FlagType::Bool, nullptr, nullptr, "do not add special tokens (BOS, [CLS]/[SEP])"},
        {"--max-length", nullptr, FlagType::Int, "0", "N", "truncate to N ids (0: the tokenizer's own setting)"},
        {"--encoder", nullptr, FlagType::Bool, nullptr, nullptr, "use a T2L file's bundled encoder tokenizer"},
        {"--decode", nullptr, FlagType::String, nullptr, "IDS", "comma-separated ids to turn back into text"},
        {"--skip-special", nullptr, FlagType::Bool, nullptr, nullptr, "with --decode: leave special tokens out"},
    },
    0,
    1,
};

std::vector<int32_t> parse_ids(const std::string& s) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end || v < 0 || v > INT32_MAX) fail("t2l tokenize: --decode: '", item, "' is not a token id");
        ids.push_back((int32_t)v);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return ids;
}
}  // namespace

int cmd_tokenize(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    if (!args.has("model")) fail("t2l tokenize: -m MODEL.t2l is required");
    const bool decoding = args.has("decode");
    if (decoding == (args.positional.size() == 1))
        fail("t2l tokenize: give either TEXT or --decode IDS (see --help)");
    if (args.integer("max-length") < 0) fail("t2l tokenize: --max-length must be >= 0");

    T2lFile file(args.str("model"));
    Tokenizer tok = Tokenizer::from_t2l(file, args.flag("encoder") ? "encoder." : "");

    if (decoding) {
        std::string text = tok.decode(parse_ids(args.str("decode")), args.flag("skip-special"));
        if (args.flag("json")) {
            json::Value root = json::Value::new_object();
            root.set("text", json::Value::from_string(text));
            std::printf("%s\n", json::dump(root).c_str());
        } else {
            std::printf("%s\n", text.c_str());
        }
        return 0;
    }

    std::string text = args.positional[0];
    if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    EncodeOptions opt;
    opt.add_special_tokens = !args.flag("no-special");
    opt.max_length = (size_t)args.integer("max-length");
    std::vector<int32_t> ids = tok.encode(text, opt);

    if (args.flag("json")) {
        json::Value root = json::Value::new_object();
        json::Value arr = json::Value::new_array();
        for (int32_t id : ids) arr.push(json::Value::from_int(id));
        root.set("ids", arr);
        if (args.flag("verbose")) {
            json::Value toks = json::Value::new_array();
            for (int32_t id : ids) toks.push(json::Value::from_string(tok.token(id)));
            root.set("tokens", toks);
        }
        root.set("count", json::Value::from_int((int64_t)ids.size()));
        std::printf("%s\n", json::dump(root).c_str());
    } else if (args.flag("verbose")) {
        for (int32_t id : ids) std::printf("%d\t%s\n", id, json::dump(json::Value::from_string(tok.token(id))).c_str());
        std::printf("(%zu tokens)\n", ids.size());
    } else {
        for (size_t i = 0; i < ids.size(); i++) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    }
    return 0;
}

}  // namespace t2l
