// cmd_inspect.cpp — `t2l inspect FILE.t2l [--verify] [--json]`: what a .t2l file holds.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "common.h"
#include "format/t2l_file.h"

namespace t2l {

namespace {
const CommandSpec kSpec = {
    "inspect",
    "FILE.t2l [--verify] [--json]",
    "List the metadata and tensors of a .t2l file. --verify recomputes every tensor's checksum\n"
    "and reports the first one that does not match (exit code 1).",
    {
        {"--verify", nullptr, FlagType::Bool, nullptr, nullptr, "recompute checksums of all tensor data"},
        {"--json", nullptr, FlagType::Bool, nullptr, nullptr, "print everything as one JSON document"},
        {"--full", nullptr, FlagType::Bool, nullptr, nullptr, "print long metadata values whole"},
    },
    1,
    1,
};

std::string hex64(uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

// Metadata value as one short line of text.
std::string meta_preview(const MetaValue& v, bool full) {
    auto clip = [&](const std::string& s) {
        std::string one;
        for (char c : s) one += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
        if (full || one.size() <= 96) return one;
        return one.substr(0, 80) + cat(" ... (", s.size(), " bytes)");
    };
    switch (v.type) {
        case MetaType::Bool: return v.b ? "true" : "false";
        case MetaType::Int: return std::to_string(v.i);
        case MetaType::Float: return json::dump(json::Value::from_double(v.f));
        case MetaType::String: return clip(json::dump(json::Value::from_string(v.s)));
        case MetaType::Json: return clip(v.s);
        case MetaType::Array: {
            std::string s = "[";
            for (size_t i = 0; i < v.arr.size(); i++) {
                if (i) s += ", ";
                s += meta_preview(v.arr[i], true);
                if (!full && s.size() > 96) return s.substr(0, 80) + cat(" ... (", v.arr.size(), " items)");
            }
            return s + "]";
        }
    }
    return "";
}

std::string human_bytes(uint64_t n) {
    char buf[32];
    if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", (double)n / (1ull << 20));
    else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", (double)n / 1024);
    else std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
    return buf;
}
}  // namespace

int cmd_inspect(int argc, char** argv) {
    Args args;
    if (!parse_args("t2l", kSpec, argc, argv, &args)) return 0;
    const std::string& path = args.positional[0];
    T2lFile f(path);

    int64_t bad = -1;
    if (args.flag("verify")) {
        uint64_t total = 0;
        for (const auto& t : f.tensors()) total += t.view.nbytes;
        Progress bar("verify", total);
        bad = f.verify([&](uint64_t done, uint64_t) { bar.update(done); });
        bar.finish();
    }

    if (args.flag("json")) {
        json::Value root = json::Value::new_object();
        root.set("path", json::Value::from_string(path));
        root.set("version", json::Value::from_int(f.version()));
        root.set("file_size", json::Value::from_int((int64_t)f.file_size()));
        root.set("alignment", json::Value::from_int(f.alignment()));
        root.set("data_offset", json::Value::from_int((int64_t)f.data_offset()));
        json::Value meta = json::Value::new_object();
        for (const auto& kv : f.metadata()) meta.set(kv.first, meta_to_json(kv.second, path + " metadata '" + kv.first + "'"));
        root.set("metadata", meta);
        json::Value tensors = json::Value::new_array();
        for (const auto& t : f.tensors()) {
            json::Value e = json::Value::new_object();
            e.set("name", json::Value::from_string(t.view.name));
            e.set("dtype", json::Value::from_string(dtype_name(t.view.dtype)));
            json::Value shape = json::Value::new_array();
            for (int64_t d : t.view.shape) shape.push(json::Value::from_int(d));
            e.set("shape", shape);
            e.set("offset", json::Value::from_int((int64_t)t.offset));
            e.set("nbytes", json::Value::from_int((int64_t)t.view.nbytes));
            e.set("xxh64", json::Value::from_string(hex64(t.checksum)));
            tensors.push(e);
        }
        root.set("tensors", tensors);
        if (args.flag("verify")) {
            root.set("verified", json::Value::from_bool(bad < 0));
            if (bad >= 0) root.set("first_bad_tensor", json::Value::from_string(f.tensors()[(size_t)bad].view.name));
        }
        std::printf("%s\n", json::dump(root, 2).c_str());
    } else {
        uint64_t data_bytes = 0;
        for (const auto& t : f.tensors()) data_bytes += t.view.nbytes;
        std::printf("%s: .t2l version %u, %s, %zu metadata keys, %zu tensors (%s of data, aligned to %u)\n", path.c_str(),
                    f.version(), human_bytes(f.file_size()).c_str(), f.metadata().size(), f.tensors().size(),
                    human_bytes(data_bytes).c_str(), f.alignment());
        std::printf("\nmetadata:\n");
        for (const auto& kv : f.metadata())
            std::printf("  %-36s %-6s %s\n", kv.first.c_str(), meta_type_name(kv.second.type),
                        meta_preview(kv.second, args.flag("full")).c_str());
        std::printf("\ntensors:\n");
        size_t w = 4;
        for (const auto& t : f.tensors()) w = std::max(w, t.view.name.size());
        for (const auto& t : f.tensors())
            std::printf("  %-*s %-5s %-20s %10s  @%" PRIu64 "\n", (int)w, t.view.name.c_str(), dtype_name(t.view.dtype),
                        shape_string(t.view.shape).c_str(), human_bytes(t.view.nbytes).c_str(), t.offset);
        if (args.flag("verify") && bad < 0) std::printf("\nverify: all %zu tensors match their checksums\n", f.tensors().size());
    }
    if (bad >= 0) {
        std::fprintf(stderr, "t2l: error: %s: tensor '%s' (#%" PRId64 ") does not match its checksum: the file is corrupt\n",
                     path.c_str(), f.tensors()[(size_t)bad].view.name.c_str(), bad);
        return 1;
    }
    return 0;
}

}  // namespace t2l
