// safetensors.cpp — validating safetensors reader/writer (see safetensors.h).
#include "io/safetensors.h"

#include <algorithm>
#include <map>
#include <set>

#include "common.h"
#include "io/atomic_file.h"

namespace t2l {

namespace {
// The reference implementation refuses headers above 100 MB; a larger one is not a real file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// A tensor entry is 7 JSON values; 2^20 values is 150K tensors, far above any real shard, and
// bounds the parsed header at ~120 MB whatever its 100 MB of text hold.
constexpr size_t kMaxHeaderValues = 1 << 20;
constexpr size_t kMaxDims = 8;

struct StName {
    const char* name;
    DType dtype;
};
const StName kStNames[] = {
    {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
    {"I8", DType::I8},   {"I16", DType::I16}, {"I32", DType::I32},   {"I64", DType::I64},
    {"U8", DType::U8},   {"BOOL", DType::BOOL},
};
}  // namespace

bool dtype_from_safetensors(const std::string& s, DType* out) {
    for (const auto& e : kStNames)
        if (s == e.name) { *out = e.dtype; return true; }
    return false;
}

const char* dtype_to_safetensors(DType t) {
    for (const auto& e : kStNames)
        if (e.dtype == t) return e.name;
    return "?";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : SafetensorsFile(MappedFile(path)) {}

SafetensorsFile::SafetensorsFile(MappedFile file) : file_(std::move(file)) {
    const std::string& path = file_.path();
    const uint64_t size = file_.size();
    if (size < 8) fail(path, ": truncated safetensors file (", size, " bytes, the header length alone needs 8)");
    const uint64_t header_len = load_le<uint64_t>(file_.data());
    if (header_len > kMaxHeaderBytes) fail(path, ": safetensors header length ", header_len, " exceeds the 100 MB limit");
    if (header_len > size - 8) fail(path, ": safetensors header length ", header_len, " runs past the end of the file (", size, " bytes)");
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = size - data_start;
    const uint8_t* data = file_.data() + data_start;

    json::Value header = json::parse(std::string((const char*)file_.data() + 8, (size_t)header_len),
                                     path + " (safetensors header)", kMaxHeaderValues);
    if (!header.is_object()) fail(path, ": safetensors header is not a JSON object");
    metadata_ = json::Value::new_object();

    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const auto& kv : header.object) {
        const std::string& name = kv.first;
        const json::Value& e = kv.second;
        if (name == "__metadata__") {
            if (!e.is_object()) fail(path, ": __metadata__ is not an object");
            metadata_ = e;
            continue;
        }
        auto bad = [&](const std::string& what) { fail(path, ": tensor '", name, "': ", what); };
        if (!e.is_object()) bad("entry is not an object");
        const json::Value* dt = e.find("dtype");
        const json::Value* sh = e.find("shape");
        const json::Value* off = e.find("data_offsets");
        if (!dt || !dt->is_string()) bad("missing dtype");
        if (!sh || !sh->is_array()) bad("missing shape");
        if (!off || !off->is_array() || off->array.size() != 2) bad("data_offsets must be [begin, end]");
        TensorView t;
        t.name = name;
        if (!dtype_from_safetensors(dt->string, &t.dtype)) bad("unknown dtype '" + dt->string + "'");
        if (sh->array.size() > kMaxDims) bad("too many dimensions");
        for (const auto& d : sh->array) {
            if (!d.is_number() || !d.is_integer || d.integer < 0) bad("shape entries must be non-negative integers");
            t.shape.push_back(d.integer);
        }
        uint64_t nbytes;
        if (!shape_nbytes(t.shape, t.dtype, &nbytes)) bad("shape " + shape_string(t.shape) + " overflows");
        for (const auto& o : off->array)
            if (!o.is_number() || !o.is_integer || o.integer < 0) bad("data_offsets must be non-negative integers");
        uint64_t begin = (uint64_t)off->array[0].integer, end = (uint64_t)off->array[1].integer;
        if (end < begin) bad("data_offsets end before begin");
        if (end > data_size) bad(cat("data ends at ", end, " past the data section (", data_size, " bytes)"));
        if (end - begin != nbytes)
            bad(cat("data_offsets span ", end - begin, " bytes but ", dt->string, " ", shape_string(t.shape), " needs ", nbytes));
        t.data = data + begin;
        t.nbytes = nbytes;
        tensors_.push_back(std::move(t));
        ranges.emplace_back(begin, end);
    }
    // Tensors may not share bytes: sort by offset and compare neighbours.
    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
    for (size_t i = 1; i < order.size(); i++) {
        const auto& prev = ranges[order[i - 1]];
        const auto& cur = ranges[order[i]];
        if (cur.first < prev.second && cur.second > cur.first)
            fail(path, ": tensors '", tensors_[order[i - 1]].name, "' and '", tensors_[order[i]].name, "' overlap");
    }
    std::vector<TensorView> sorted;
    for (size_t i : order) sorted.push_back(std::move(tensors_[i]));
    tensors_ = std::move(sorted);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir, const std::string& stem) {
    const std::string single = join_path(dir, stem + ".safetensors");
    const std::string index = join_path(dir, stem + ".safetensors.index.json");
    std::vector<std::string> shard_names;
    if (file_exists(index)) {
        json::Value idx = json::parse(read_file(index), index);
        const json::Value* map = idx.find("weight_map");
        if (!map || !map->is_object()) fail(index, ": missing \"weight_map\" object");
        std::set<std::string> seen;
        for (const auto& kv : map->object) {
            if (!kv.second.is_string()) fail(index, ": weight_map entry '", kv.first, "' is not a file name");
            const std::string& f = kv.second.string;
            if (f.find('/') != std::string::npos || f == ".." || f.empty())
                fail(index, ": shard name '", f, "' must be a plain file name in the same folder");
            if (seen.insert(f).second) shard_names.push_back(f);
        }
        for (const auto& f : shard_names)
            if (!file_exists(join_path(dir, f))) fail(index, ": names shard '", f, "', which is missing");
        std::sort(shard_names.begin(), shard_names.end());
        for (const auto& f : shard_names) shards_.push_back(std::make_unique<SafetensorsFile>(join_path(dir, f)));
        for (const auto& kv : map->object) {
            const auto it = std::find(shard_names.begin(), shard_names.end(), kv.second.string);
            const SafetensorsFile& sf = *shards_[(size_t)(it - shard_names.begin())];
            if (!sf.find(kv.first)) fail(index, ": tensor '", kv.first, "' is not in its shard '", kv.second.string, "'");
        }
    } else if (file_exists(single)) {
        shards_.push_back(std::make_unique<SafetensorsFile>(single));
    } else {
        fail(dir, ": no ", stem, ".safetensors or ", stem, ".safetensors.index.json");
    }
    std::set<std::string> names;
    for (const auto& s : shards_) {
        for (const auto& t : s->tensors()) {
            if (!names.insert(t.name).second) fail(s->path(), ": tensor '", t.name, "' also appears in another shard");
            tensors_.push_back(t);
        }
    }
}

const TensorView* SafetensorsCheckpoint::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors, const json::Value& metadata) {
    AtomicFile f(path);
    write_safetensors(f, tensors, metadata);
    f.commit();
}

void write_safetensors(AtomicFile& f, const std::vector<TensorView>& tensors, const json::Value& metadata) {
    json::Value header = json::Value::new_object();
    if (metadata.is_object() && !metadata.object.empty()) header.set("__metadata__", metadata);
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        json::Value e = json::Value::new_object();
        e.set("dtype", json::Value::from_string(dtype_to_safetensors(t.dtype)));
        json::Value shape = json::Value::new_array();
        for (int64_t d : t.shape) shape.push(json::Value::from_int(d));
        e.set("shape", shape);
        json::Value offs = json::Value::new_array();
        offs.push(json::Value::from_int((int64_t)offset));
        offs.push(json::Value::from_int((int64_t)(offset + t.nbytes)));
        e.set("data_offsets", offs);
        header.set(t.name, e);
        offset += t.nbytes;
    }
    std::string h = json::dump(header);
    h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data section starts 8-byte aligned
    uint64_t len = h.size();
    f.write(&len, 8);
    f.write(h.data(), h.size());
    for (const auto& t : tensors) f.write(t.data, t.nbytes);
}

}  // namespace t2l
