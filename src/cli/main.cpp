// main.cpp — `t2l <command> [options]`: dispatch to a subcommand, turn errors into one
// line on stderr and a non-zero exit code.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "cli/commands.h"
#include "common.h"

namespace t2l {

const CommandEntry* command_table(int* count) {
    static const CommandEntry table[] = {
        {"describe", "describe a task in words, get a LoRA adapter (PEFT folder or .t2l)", cmd_describe},
        {"run", "generate text with a base model, with an adapter or a described task", cmd_run},
        {"embed", "print the task embedding of a description", cmd_embed},
        {"logits", "the base model's logits for token ids (tests, debugging)", cmd_logits},
        {"map", "the LoRA manifold: adapters for many descriptions as a labelled 2D map, with a cluster score", cmd_map},
        {"convert-adapter", "convert a LoRA adapter between PEFT, llama.cpp GGUF and .t2l", cmd_convert_adapter},
        {"bench", "benchmarks: tokenize, describe, decode", cmd_bench},
        {"inspect", "list a .t2l file's metadata and tensors; --verify recomputes checksums", cmd_inspect},
        {"tokenize", "token ids of a text under a model's tokenizer (--verbose: with token strings)", cmd_tokenize},
    };
    *count = (int)(sizeof table / sizeof table[0]);
    return table;
}

}  // namespace t2l

static void print_usage(FILE* out) {
    int n = 0;
    const t2l::CommandEntry* cmds = t2l::command_table(&n);
    std::fprintf(out,
                 "t2l %s — Text-to-LoRA: describe a task, get a LoRA adapter.\n\n"
                 "usage: t2l <command> [options]   (t2l <command> --help for its options)\n\ncommands:\n",
                 t2l::kVersion);
    for (int i = 0; i < n; i++) std::fprintf(out, "  %-16s %s\n", cmds[i].name, cmds[i].summary);
    std::fprintf(out, "\nweights are converted with ./t2l-convert (see weights/README.md)\n");
}

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        print_usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!std::strcmp(argv[1], "--version")) {
        std::printf("t2l %s\n", t2l::kVersion);
        return 0;
    }
    int n = 0;
    const t2l::CommandEntry* cmds = t2l::command_table(&n);
    for (int i = 0; i < n; i++) {
        if (std::strcmp(argv[1], cmds[i].name) != 0) continue;
        try {
            return cmds[i].run(argc - 1, argv + 1);
        } catch (const t2l::Error& e) {
            std::fprintf(stderr, "t2l: error: %s\n", e.what());
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "t2l: error: out of memory\n");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "t2l: error: %s\n", e.what());
        }
        return 1;
    }
    std::fprintf(stderr, "t2l: error: unknown command '%s' (see t2l --help)\n", argv[1]);
    return 2;
}
