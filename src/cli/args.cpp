// args.cpp — flag parsing and help text (see args.h).
#include "cli/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace t2l {

namespace {
std::string key_of(const Flag& f) { return std::string(f.name).substr(2); }

const Flag* find_flag(const CommandSpec& spec, const std::string& arg) {
    for (const auto& f : spec.flags)
        if (arg == f.name || (f.short_name && arg == f.short_name)) return &f;
    return nullptr;
}

const Flag& flag_or_die(const CommandSpec& spec, const std::string& name) {
    for (const auto& f : spec.flags)
        if (key_of(f) == name) return f;
    fail("internal: flag --", name, " is not declared for '", spec.name, "'");
}

int64_t parse_int(const std::string& what, const std::string& s) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno) fail(what, ": '", s, "' is not an integer");
    return v;
}

double parse_float(const std::string& what, const std::string& s) {
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || errno) fail(what, ": '", s, "' is not a number");
    return v;
}
}  // namespace

bool Args::has(const std::string& name) const { return values.count(name) > 0; }

bool Args::flag(const std::string& name) const {
    flag_or_die(*spec, name);
    return values.count(name) > 0;
}

std::string Args::str(const std::string& name) const {
    const Flag& f = flag_or_die(*spec, name);
    auto it = values.find(name);
    if (it != values.end()) return it->second;
    return f.def ? f.def : "";
}

int64_t Args::integer(const std::string& name) const { return parse_int("--" + name, str(name)); }
double Args::number(const std::string& name) const { return parse_float("--" + name, str(name)); }

bool parse_args(const char* program, const CommandSpec& spec, int argc, char** argv, Args* out) {
    out->spec = &spec;
    const std::string who = std::string(program) + (spec.name[0] ? std::string(" ") + spec.name : "");
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (!only_positional && a == "--") { only_positional = true; continue; }
        if (!only_positional && (a == "--help" || a == "-h")) {
            std::fputs(help_text(program, spec).c_str(), stdout);
            return false;
        }
        if (!only_positional && a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (isdigit((unsigned char)a[1]) || a[1] == '.'))) {
            std::string value;
            bool has_value = false;
            size_t eq = a.find('=');
            if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
                has_value = true;
            }
            const Flag* f = find_flag(spec, a);
            if (!f) fail(who, ": unknown option '", a, "' (see --help)");
            const std::string key = key_of(*f);
            if (f->type == FlagType::Bool) {
                if (has_value) fail(who, ": option ", f->name, " takes no value");
                out->values[key] = "1";
                continue;
            }
            if (!has_value) {
                if (i + 1 >= argc) fail(who, ": option ", f->name, " needs a value (", f->metavar ? f->metavar : "VALUE", ")");
                value = argv[++i];
            }
            if (out->values.count(key)) fail(who, ": option ", f->name, " given twice");
            if (f->type == FlagType::Int) parse_int(who + ": " + f->name, value);
            if (f->type == FlagType::Float) parse_float(who + ": " + f->name, value);
            out->values[key] = value;
            continue;
        }
        out->positional.push_back(a);
    }
    const int n = (int)out->positional.size();
    if (n < spec.min_positional) fail(who, ": missing argument (usage: ", program, " ", spec.name, " ", spec.usage, ")");
    if (n > spec.max_positional) fail(who, ": unexpected argument '", out->positional[(size_t)spec.max_positional], "' (see --help)");
    return true;
}

std::string help_text(const char* program, const CommandSpec& spec) {
    std::string s = cat("usage: ", program, spec.name[0] ? " " : "", spec.name, " ", spec.usage, "\n\n", spec.summary, "\n");
    if (!spec.flags.empty()) s += "\noptions:\n";
    for (const auto& f : spec.flags) {
        std::string left = "  ";
        if (f.short_name) left += std::string(f.short_name) + ", ";
        left += f.name;
        if (f.type != FlagType::Bool) left += std::string(" ") + (f.metavar ? f.metavar : "VALUE");
        if (left.size() < 28) left.append(28 - left.size(), ' ');
        else left += "  ";
        s += left + f.help;
        if (f.def && f.type != FlagType::Bool) s += cat(" (default: ", f.def, ")");
        s += "\n";
    }
    s += "  -h, --help                show this help\n";
    return s;
}

}  // namespace t2l
