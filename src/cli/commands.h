// commands.h — the subcommands of ./t2l. Each takes (argc, argv) with argv[0] = its name
// and returns the process exit code; errors are thrown as t2l::Error and printed by main.
#pragma once

namespace t2l {

int cmd_inspect(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_describe(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_convert_adapter(int argc, char** argv);
int cmd_map(int argc, char** argv);

struct CommandEntry {
    const char* name;
    const char* summary;
    int (*run)(int argc, char** argv);
};

// All commands, in the order `t2l --help` lists them.
const CommandEntry* command_table(int* count);

constexpr const char* kVersion = "0.1.0";

}  // namespace t2l
