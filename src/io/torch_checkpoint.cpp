// torch_checkpoint.cpp — torch.save archive -> named TensorViews (see torch_checkpoint.h).
#include "io/torch_checkpoint.h"

#include <cstdio>
#include <cstring>

#include "common.h"
#include "io/pickle.h"

namespace t2l {

namespace {

constexpr int kMaxDepth = 32;  // a state dict nests a few levels; deeper means a cycle or an attack

// torch.save before PyTorch 1.6 wrote a bare pickle stream; say so instead of "not a zip".
ZipArchive open_archive(MappedFile f) {
    const std::string path = f.path();
    const bool bare_pickle = f.size() >= 2 && f.data()[0] == 0x80 && f.data()[1] <= 5;
    try {
        return ZipArchive(std::move(f));
    } catch (const Error&) {
        if (bare_pickle)
            fail(path, ": legacy torch.save format (a bare pickle, PyTorch < 1.6) is not supported; "
                       "re-save it with a recent PyTorch");
        throw;
    }
}

// The single "<prefix>/data.pkl" entry names the prefix every other entry shares.
std::string find_prefix(const ZipArchive& zip) {
    std::string prefix;
    for (const ZipEntry& e : zip.entries()) {
        const size_t slash = e.name.find('/');
        if (slash == std::string::npos || e.name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
        if (!prefix.empty()) fail(zip.path(), ": two pickles ('", prefix, "/data.pkl' and '", e.name, "'); not a torch.save archive");
        prefix = e.name.substr(0, slash);
    }
    if (prefix.empty()) fail(zip.path(), ": no '<prefix>/data.pkl' entry; not a torch.save archive");
    return prefix;
}

bool is_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
    int64_t expected = 1;
    for (size_t d = shape.size(); d-- > 0;) {
        if (shape[d] != 1 && stride[d] != expected) return false;  // size-1 dims may carry any stride
        expected *= shape[d];
    }
    return true;
}

std::string value_text(const pickle::Object& o) {
    switch (o.kind) {
    case pickle::Kind::None: return "None";
    case pickle::Kind::Bool: return o.boolean ? "true" : "false";
    case pickle::Kind::Int: return std::to_string(o.integer);
    case pickle::Kind::Float: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", o.number);
        return buf;
    }
    case pickle::Kind::Str: return o.text;
    case pickle::Kind::Global: return o.text;
    case pickle::Kind::Bytes: return cat(o.text.size(), " bytes");
    case pickle::Kind::Storage: return cat("storage '", o.key, "'");
    case pickle::Kind::Tuple: return "()";
    case pickle::Kind::List: return "[]";
    case pickle::Kind::Dict: return "{}";
    case pickle::Kind::Tensor: break;
    }
    return "";
}

struct StorageInfo {
    const ZipEntry* entry;
    DType dtype;
    int64_t numel;
};

struct Loader {
    const ZipArchive& zip;
    const std::string& prefix;
    std::vector<TensorView>& tensors;
    std::vector<CheckpointValue>& values;
    std::unordered_map<std::string, size_t>& index;
    std::vector<std::vector<uint8_t>>& owned;
    std::unordered_map<std::string, StorageInfo> storages;
    uint64_t copy_budget;  // bytes left for materialised strided views
    // Every reference to an object costs at least a byte of pickle, so a plain tree visits at
    // most that many nodes; more means shared containers expanding exponentially (x = [y, y], ...).
    uint64_t visit_budget;

    const std::string& path() const { return zip.path(); }

    // Storage key -> its zip entry, checked once; later tensors on the same key must agree.
    const StorageInfo& storage(const pickle::Object& s) {
        auto it = storages.find(s.key);
        if (it != storages.end()) {
            if (it->second.dtype != s.dtype || it->second.numel != s.numel)
                fail(path(), ": storage '", s.key, "' is used as both ", dtype_name(it->second.dtype), "[", it->second.numel,
                     "] and ", dtype_name(s.dtype), "[", s.numel, "]");
            return it->second;
        }
        const std::string name = prefix + "/data/" + s.key;
        const ZipEntry* e = zip.find(name);
        if (!e) fail(path(), ": storage '", s.key, "' has no entry '", name, "'");
        uint64_t nbytes;
        if (!checked_mul((uint64_t)s.numel, dtype_size(s.dtype), &nbytes) || nbytes != e->size)
            fail(path(), ": entry '", name, "' holds ", e->size, " bytes but its storage is ", s.numel, " x ",
                 dtype_name(s.dtype), " (", s.numel, " * ", dtype_size(s.dtype), " bytes)");
        return storages.emplace(s.key, StorageInfo{e, s.dtype, s.numel}).first->second;
    }

    void add_tensor(const std::string& name, const pickle::Object& t) {
        const StorageInfo& s = storage(*t.storage);
        TensorView v;
        v.name = name;
        v.dtype = s.dtype;
        v.shape = t.shape;
        const uint64_t es = dtype_size(s.dtype);
        if (!shape_nbytes(t.shape, s.dtype, &v.nbytes)) fail(path(), ": tensor '", name, "' has an impossible shape");
        // pickle.cpp checked that the view's last element lies inside the storage.
        const uint8_t* base = s.entry->data;
        if (v.nbytes == 0 || is_contiguous(t.shape, t.stride)) {
            v.data = v.nbytes == 0 ? base : base + (uint64_t)t.offset * es;
        } else {
            // Strided view: gather element by element with an odometer over the indices. The
            // copies are bounded by the file's size, so a crafted view cannot ask for terabytes.
            if (v.nbytes > s.entry->size)
                fail(path(), ": tensor '", name, "' repeats elements of its storage (", v.nbytes, " bytes from a ",
                     s.entry->size, "-byte storage: a stride-0 view); not supported");
            if (v.nbytes > copy_budget)
                fail(path(), ": strided views need more than the file's size in copies at tensor '", name, "'; refusing");
            copy_budget -= v.nbytes;
            std::vector<uint8_t> buf((size_t)v.nbytes);
            std::vector<int64_t> idx(t.shape.size(), 0);
            uint64_t src = (uint64_t)t.offset;
            const uint64_t numel = v.nbytes / es;
            for (uint64_t i = 0; i < numel; i++) {
                std::memcpy(buf.data() + i * es, base + src * es, es);
                for (size_t d = t.shape.size(); d-- > 0;) {
                    if (++idx[d] < t.shape[d]) { src += (uint64_t)t.stride[d]; break; }
                    src -= (uint64_t)t.stride[d] * (uint64_t)(t.shape[d] - 1);
                    idx[d] = 0;
                }
            }
            owned.push_back(std::move(buf));
            v.data = owned.back().data();
        }
        if (!index.emplace(name, tensors.size()).second) fail(path(), ": duplicate tensor name '", name, "'");
        tensors.push_back(std::move(v));
    }

    void walk(const pickle::Object& o, const std::string& name, int depth) {
        if (depth > kMaxDepth) fail(path(), ": '", name, "' is nested deeper than ", kMaxDepth, " levels (or is cyclic)");
        if (visit_budget-- == 0)
            fail(path(), ": the pickle's shared containers expand to more entries than it has bytes; refusing");
        auto child = [&](const std::string& key) { return name.empty() ? key : name + "." + key; };
        switch (o.kind) {
        case pickle::Kind::Tensor: add_tensor(name, o); return;
        case pickle::Kind::Dict:
            if (o.items.empty() && depth > 0) break;  // an empty sub-dict is reported as a value
            for (size_t i = 0; i < o.items.size(); i += 2) {
                const pickle::Object& k = *o.items[i];
                if (k.kind != pickle::Kind::Str)
                    fail(path(), ": dict '", name, "' has a ", pickle::kind_name(k.kind), " key; state dict keys are strings");
                walk(*o.items[i + 1], child(k.text), depth + 1);
            }
            return;
        case pickle::Kind::List:
        case pickle::Kind::Tuple:
            if (o.items.empty()) break;  // reported as a value
            for (size_t i = 0; i < o.items.size(); i++) walk(*o.items[i], child(std::to_string(i)), depth + 1);
            return;
        default: break;
        }
        values.push_back({name, pickle::kind_name(o.kind), value_text(o)});
    }
};

}  // namespace

TorchCheckpoint::TorchCheckpoint(const std::string& path) : TorchCheckpoint(MappedFile(path)) {}

TorchCheckpoint::TorchCheckpoint(MappedFile file) : zip_(open_archive(std::move(file))) {
    const std::string& path = zip_.path();
    const std::string prefix = find_prefix(zip_);
    if (const ZipEntry* bo = zip_.find(prefix + "/byteorder")) {
        const std::string order((const char*)bo->data, (size_t)bo->size);
        if (order != "little") fail(path, ": byte order '", order, "' (only little-endian checkpoints are supported)");
    }
    const ZipEntry* pkl = zip_.find(prefix + "/data.pkl");
    pickle::Unpickled doc(pkl->data, (size_t)pkl->size, path);
    if (doc.root().kind != pickle::Kind::Dict)
        fail(path, ": the pickle holds a ", pickle::kind_name(doc.root().kind), ", not a dict of tensors (a state dict)");
    Loader loader{zip_, prefix, tensors_, values_, index_, owned_, {}, zip_.file_size(), pkl->size};
    loader.walk(doc.root(), "", 0);
}

const TensorView* TorchCheckpoint::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace t2l
