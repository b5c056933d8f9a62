// gguf.cpp — GGUF v3 reader and writer (see gguf.h).
#include "io/gguf.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <set>

#include "common.h"
#include "io/atomic_file.h"
#include "io/gguf_quant.h"

namespace t2l {

namespace {
constexpr uint64_t kMaxStringBytes = 1ull << 30;  // vocabularies are large, but not this large
constexpr uint32_t kMaxDims = 4;                  // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 2;
// Array elements in the whole file: a parsed element takes 96 bytes for its one file byte, so
// the count is capped. A 262K-token vocabulary with its types, scores and 500K merges is 1.3M.
constexpr uint64_t kMaxArrayElements = 1ull << 23;

struct Reader {
    const uint8_t* base;
    uint64_t pos, end;
    const std::string& path;
    uint64_t elements_left = kMaxArrayElements;
    template <typename T>
    T get(const char* what) {
        if (end - pos < sizeof(T)) fail(path, ": truncated GGUF file: ends inside ", what, " at byte ", pos);
        T v = load_le<T>(base + pos);
        pos += sizeof(T);
        return v;
    }
    std::string str(const char* what) {
        uint64_t n = get<uint64_t>(what);
        if (n > kMaxStringBytes || n > end - pos) fail(path, ": GGUF string of ", n, " bytes (", what, ") runs past the end of the file");
        std::string s((const char*)base + pos, (size_t)n);
        pos += n;
        return s;
    }
};

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
        case GgufType::U16: case GgufType::I16: return 2;
        case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
        case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
        default: return 0;
    }
}

GgufValue read_value(Reader& r, GgufType t, int depth, const std::string& key) {
    GgufValue v;
    v.type = t;
    switch (t) {
        case GgufType::U8: v.i = r.get<uint8_t>("a value"); break;
        case GgufType::I8: v.i = r.get<int8_t>("a value"); break;
        case GgufType::U16: v.i = r.get<uint16_t>("a value"); break;
        case GgufType::I16: v.i = r.get<int16_t>("a value"); break;
        case GgufType::U32: v.i = r.get<uint32_t>("a value"); break;
        case GgufType::I32: v.i = r.get<int32_t>("a value"); break;
        case GgufType::U64: v.u = r.get<uint64_t>("a value"); v.i = (int64_t)v.u; break;
        case GgufType::I64: v.i = r.get<int64_t>("a value"); break;
        case GgufType::F32: v.f = r.get<float>("a value"); break;
        case GgufType::F64: v.f = r.get<double>("a value"); break;
        case GgufType::BOOL: {
            uint8_t b = r.get<uint8_t>("a bool");
            if (b > 1) fail(r.path, ": GGUF key '", key, "': bool value ", (int)b);
            v.i = b;
            break;
        }
        case GgufType::STRING: v.s = r.str("a string value"); break;
        case GgufType::ARRAY: {
            if (depth >= kMaxArrayNesting) fail(r.path, ": GGUF key '", key, "': arrays nested too deeply");
            v.elem = (GgufType)r.get<uint32_t>("an array type");
            uint64_t n = r.get<uint64_t>("an array length");
            // Each element takes at least one byte (a string at least eight): bound n by the file.
            const uint64_t min_size = v.elem == GgufType::STRING ? 8 : std::max<size_t>(1, scalar_size(v.elem));
            if (v.elem != GgufType::STRING && v.elem != GgufType::ARRAY && scalar_size(v.elem) == 0)
                fail(r.path, ": GGUF key '", key, "': unknown array element type ", (uint32_t)v.elem);
            if (n > (r.end - r.pos) / min_size) fail(r.path, ": GGUF key '", key, "': array of ", n, " elements cannot fit in the file");
            if (n > r.elements_left)
                fail(r.path, ": GGUF arrays hold more than ", kMaxArrayElements, " elements in all; refusing (memory limit)");
            r.elements_left -= n;
            v.arr.reserve((size_t)n);
            for (uint64_t k = 0; k < n; k++) v.arr.push_back(read_value(r, v.elem, depth + 1, key));
            break;
        }
        default: fail(r.path, ": GGUF key '", key, "': unknown value type ", (uint32_t)t);
    }
    return v;
}

void put_str(std::string& out, const std::string& s) {
    uint64_t n = s.size();
    out.append((const char*)&n, 8);
    out += s;
}

void put_value(std::string& out, const GgufValue& v) {
    auto put = [&](const void* p, size_t n) { out.append((const char*)p, n); };
    switch (v.type) {
        case GgufType::U8: case GgufType::I8: case GgufType::BOOL: { uint8_t b = (uint8_t)v.i; put(&b, 1); break; }
        case GgufType::U16: case GgufType::I16: { uint16_t b = (uint16_t)v.i; put(&b, 2); break; }
        case GgufType::U32: case GgufType::I32: { uint32_t b = (uint32_t)v.i; put(&b, 4); break; }
        case GgufType::U64: put(&v.u, 8); break;
        case GgufType::I64: put(&v.i, 8); break;
        case GgufType::F32: { float f = (float)v.f; put(&f, 4); break; }
        case GgufType::F64: put(&v.f, 8); break;
        case GgufType::STRING: put_str(out, v.s); break;
        case GgufType::ARRAY: {
            uint32_t et = (uint32_t)v.elem;
            uint64_t n = v.arr.size();
            put(&et, 4);
            put(&n, 8);
            for (const auto& e : v.arr) put_value(out, e);
            break;
        }
    }
}
}  // namespace

bool ggml_float_type(uint32_t type, DType* dtype) {
    if (type == kGgmlF32) { *dtype = DType::F32; return true; }
    if (type == kGgmlF16) { *dtype = DType::F16; return true; }
    if (type == kGgmlBF16) { *dtype = DType::BF16; return true; }
    return false;
}

GgufFile::GgufFile(const std::string& path) : GgufFile(MappedFile(path)) {}

GgufFile::GgufFile(MappedFile file) : file_(std::move(file)) {
    const std::string& path = file_.path();
    Reader r{file_.data(), 0, file_.size(), path};
    if (file_.size() < 4 || std::memcmp(file_.data(), "GGUF", 4) != 0) fail(path, ": not a GGUF file (bad magic)");
    r.pos = 4;
    const uint32_t version = r.get<uint32_t>("the version");
    if (version != 2 && version != 3) fail(path, ": GGUF version ", version, " is not supported (2 or 3)");
    const uint64_t n_tensors = r.get<uint64_t>("the tensor count");
    const uint64_t n_kv = r.get<uint64_t>("the key count");
    // A key/value pair takes at least 8 + 4 + 1 bytes and a tensor entry at least 8 + 4 + 8 + 4 + 8.
    if (n_kv > file_.size() / 13) fail(path, ": GGUF key count ", n_kv, " cannot fit in the file");
    if (n_tensors > file_.size() / 32) fail(path, ": GGUF tensor count ", n_tensors, " cannot fit in the file");
    std::set<std::string> keys;
    for (uint64_t k = 0; k < n_kv; k++) {
        std::string key = r.str("a key");
        if (!keys.insert(key).second) fail(path, ": GGUF key '", key, "' appears twice");
        GgufType t = (GgufType)r.get<uint32_t>("a value type");
        kv_.emplace_back(key, read_value(r, t, 0, key));
    }
    if (const GgufValue* a = find("general.alignment")) {
        if (a->type != GgufType::U32 || a->i == 0 || (a->i & (a->i - 1)) || a->i > (1 << 20))
            fail(path, ": general.alignment must be a power of two (u32)");
        alignment_ = (uint32_t)a->i;
    }
    std::set<std::string> names;
    for (uint64_t k = 0; k < n_tensors; k++) {
        GgufTensorInfo t;
        t.name = r.str("a tensor name");
        if (!names.insert(t.name).second) fail(path, ": GGUF tensor '", t.name, "' appears twice");
        const uint32_t nd = r.get<uint32_t>("a tensor rank");
        if (nd == 0 || nd > kMaxDims) fail(path, ": GGUF tensor '", t.name, "' has rank ", nd);
        for (uint32_t d = 0; d < nd; d++) t.ne.push_back(r.get<uint64_t>("a dimension"));
        t.type = r.get<uint32_t>("a tensor type");
        t.offset = r.get<uint64_t>("a tensor offset");
        tensors_.push_back(std::move(t));
    }
    const uint64_t data_start = align_up(r.pos, alignment_);
    if (data_start > file_.size()) fail(path, ": GGUF data section starts past the end of the file");
    const uint64_t data_size = file_.size() - data_start;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [offset, end) of every sized tensor
    for (auto& t : tensors_) {
        // Element count: each dimension and the product must fit int64 (shapes become int64 later).
        uint64_t numel = 1;
        for (uint64_t d : t.ne)
            if (d > (uint64_t)INT64_MAX || !checked_mul(numel, d, &numel) || numel > (uint64_t)INT64_MAX)
                fail(path, ": GGUF tensor '", t.name, "' has too many elements");
        GgmlTypeInfo info;
        if (!ggml_type_info(t.type, &info)) continue;  // a type this build cannot size: listed, never read
        // Rows are whole blocks: ne[0] must be a multiple of the block size.
        uint64_t row_bytes, n;
        if (!ggml_row_bytes(t.type, t.ne[0], &row_bytes))
            fail(path, ": GGUF tensor '", t.name, "' (", info.name, ") has rows of ", t.ne[0], " elements, not a multiple of ",
                 info.block_elems);
        if (!checked_mul(row_bytes, t.ne[0] ? numel / t.ne[0] : 0, &n)) fail(path, ": GGUF tensor '", t.name, "' size overflows");
        uint64_t end;
        if (t.offset % alignment_ || !checked_add(t.offset, n, &end) || end > data_size)
            fail(path, ": GGUF tensor '", t.name, "' data [", t.offset, ", +", n, ") is misaligned or past the end of the file");
        t.nbytes = n;
        t.data = file_.data() + data_start + t.offset;
        if (n) ranges.emplace_back(t.offset, end);
    }
    // Two tensors sharing bytes would make one file mean two things: refuse it.
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); i++)
        if (ranges[i].first < ranges[i - 1].second)
            fail(path, ": GGUF tensors overlap at data offset ", ranges[i].first);
}

const GgufValue* GgufFile::find(const std::string& key) const {
    for (const auto& kv : kv_)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorOut>& tensors, uint32_t alignment) {
    std::string head = "GGUF";
    uint32_t version = 3;
    uint64_t n_tensors = tensors.size(), n_kv = kv.size();
    head.append((const char*)&version, 4);
    head.append((const char*)&n_tensors, 8);
    head.append((const char*)&n_kv, 8);
    for (const auto& e : kv) {
        put_str(head, e.first);
        uint32_t t = (uint32_t)e.second.type;
        head.append((const char*)&t, 4);
        put_value(head, e.second);
    }
    uint64_t offset = 0;
    std::vector<uint64_t> sizes;
    for (const auto& t : tensors) {
        put_str(head, t.name);
        uint32_t nd = (uint32_t)t.shape.size();
        head.append((const char*)&nd, 4);
        for (size_t d = t.shape.size(); d-- > 0;) {
            uint64_t ne = (uint64_t)t.shape[d];
            head.append((const char*)&ne, 8);
        }
        uint32_t type = t.dtype == DType::F32 ? kGgmlF32 : t.dtype == DType::F16 ? kGgmlF16 : kGgmlBF16;
        if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
            fail(path, ": GGUF tensor '", t.name, "' must be f32, f16 or bf16");
        head.append((const char*)&type, 4);
        head.append((const char*)&offset, 8);
        uint64_t nbytes;
        shape_nbytes(t.shape, t.dtype, &nbytes);
        sizes.push_back(nbytes);
        offset = align_up(offset + nbytes, alignment);
    }
    head.resize(align_up(head.size(), alignment), '\0');
    AtomicFile f(path);
    f.write(head.data(), head.size());
    for (size_t i = 0; i < tensors.size(); i++) {
        f.write(tensors[i].data, sizes[i]);
        std::string pad(align_up(sizes[i], alignment) - sizes[i], '\0');
        f.write(pad.data(), pad.size());
    }
    f.commit();
}

}  // namespace t2l
