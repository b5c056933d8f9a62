// args.h — command-line flags declared once: name, type, default and help text. Parsing
// and --help both come from that declaration; unknown flags and bad values are errors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace t2l {

enum class FlagType { Bool, String, Int, Float };

struct Flag {
    const char* name;        // "--out"
    const char* short_name;  // "-o" or nullptr
    FlagType type;
    const char* def;         // default as text, nullptr for none
    const char* metavar;     // "FILE"
    const char* help;
};

struct CommandSpec {
    const char* name;        // "inspect"
    const char* usage;       // "FILE.t2l [--verify] [--json]"
    const char* summary;     // one line
    std::vector<Flag> flags;
    int min_positional = 0, max_positional = 0;
};

class Args {
public:
    std::vector<std::string> positional;
    bool has(const std::string& name) const;  // given on the command line (or a Bool set)
    bool flag(const std::string& name) const;
    std::string str(const std::string& name) const;   // given value or default ("" if none)
    int64_t integer(const std::string& name) const;
    double number(const std::string& name) const;

    std::map<std::string, std::string> values;  // by long name, without dashes
    const CommandSpec* spec = nullptr;
};

// Parses argv[1..] (argv[0] is the command name). Returns false after printing help for
// --help; throws Error("<program> <command>: ...") on a usage mistake.
bool parse_args(const char* program, const CommandSpec& spec, int argc, char** argv, Args* out);
std::string help_text(const char* program, const CommandSpec& spec);

}  // namespace t2l
