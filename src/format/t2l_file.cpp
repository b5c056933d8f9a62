// t2l_file.cpp — reading and writing .t2l files (layout: docs/FORMAT.md).
#include "format/t2l_file.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common.h"

namespace t2l {

namespace {
constexpr uint32_t kMaxKeyBytes = 1u << 16;    // keys and tensor names are identifiers, not documents
constexpr uint32_t kMaxDims = 8;
constexpr uint32_t kMaxAlignment = 1u << 20;
// Metadata array elements in the whole file: each costs 88 bytes parsed for as little as one
// byte stored, so the count is capped well above any model's token lists.
constexpr uint64_t kMaxArrayElements = 1ull << 23;

// Bounded little-endian reader over [begin, end) of the map; every read checks the bound.
struct Cursor {
    const uint8_t* base;
    uint64_t pos, end;
    const std::string& path;

    [[noreturn]] void truncated(const char* what) const {
        fail(path, ": header tables end inside ", what, " at byte ", pos, " (tables end at ", end, ")");
    }
    template <typename T>
    T read(const char* what) {
        if (end - pos < sizeof(T)) truncated(what);
        T v = load_le<T>(base + pos);
        pos += sizeof(T);
        return v;
    }
    std::string read_bytes(uint64_t n, const char* what) {
        if (end - pos < n) truncated(what);
        std::string s((const char*)base + pos, (size_t)n);
        pos += n;
        return s;
    }
};

MetaValue read_scalar(Cursor& c, MetaType t, const std::string& key) {
    MetaValue v;
    v.type = t;
    switch (t) {
        case MetaType::Bool: {
            uint8_t b = c.read<uint8_t>("a bool");
            if (b > 1) fail(c.path, ": metadata '", key, "': bool byte is ", (int)b);
            v.b = b;
            break;
        }
        case MetaType::Int: v.i = c.read<int64_t>("an int"); break;
        case MetaType::Float: v.f = c.read<double>("a float"); break;
        case MetaType::String:
        case MetaType::Json: {
            uint64_t n = c.read<uint64_t>("a string length");
            v.s = c.read_bytes(n, "a string");
            break;
        }
        default: fail(c.path, ": metadata '", key, "': unknown value type ", (uint32_t)t);
    }
    return v;
}

void write_scalar(std::string& out, const MetaValue& v) {
    auto put = [&](const void* p, size_t n) { out.append((const char*)p, n); };
    switch (v.type) {
        case MetaType::Bool: { uint8_t b = v.b; put(&b, 1); break; }
        case MetaType::Int: put(&v.i, 8); break;
        case MetaType::Float: put(&v.f, 8); break;
        case MetaType::String:
        case MetaType::Json: { uint64_t n = v.s.size(); put(&n, 8); put(v.s.data(), v.s.size()); break; }
        case MetaType::Array: break;
    }
}
}  // namespace

MetaValue MetaValue::of_array(MetaType elem, std::vector<MetaValue> v) {
    MetaValue m;
    m.type = MetaType::Array;
    m.elem_type = elem;
    m.arr = std::move(v);
    return m;
}

const char* meta_type_name(MetaType t) {
    switch (t) {
        case MetaType::Bool: return "bool";
        case MetaType::Int: return "int";
        case MetaType::Float: return "float";
        case MetaType::String: return "string";
        case MetaType::Json: return "json";
        case MetaType::Array: return "array";
    }
    return "?";
}

json::Value meta_to_json(const MetaValue& v, const std::string& source) {
    switch (v.type) {
        case MetaType::Bool: return json::Value::from_bool(v.b);
        case MetaType::Int: return json::Value::from_int(v.i);
        case MetaType::Float: return json::Value::from_double(v.f);
        case MetaType::String: return json::Value::from_string(v.s);
        case MetaType::Json: return json::parse(v.s, source);
        case MetaType::Array: {
            json::Value a = json::Value::new_array();
            for (const auto& e : v.arr) a.push(meta_to_json(e, source));
            return a;
        }
    }
    return json::Value();
}

// ---------------------------------------------------------------------------------------
// Reader

T2lFile::T2lFile(const std::string& path) : T2lFile(MappedFile(path)) {}

T2lFile::T2lFile(MappedFile file) : file_(std::move(file)) {
    const std::string& path = file_.path();
    const uint8_t* p = file_.data();
    const uint64_t size = file_.size();
    if (size < kT2lHeaderSize) fail(path, ": truncated: ", size, " bytes is shorter than the 64-byte .t2l header");
    if (std::memcmp(p, kT2lMagic, 4) != 0) fail(path, ": not a .t2l file (bad magic)");
    version_ = load_le<uint32_t>(p + 4);
    if (version_ != kT2lVersion) fail(path, ": .t2l version ", version_, " is not supported (this build reads version ", kT2lVersion, ")");
    const uint64_t declared_size = load_le<uint64_t>(p + 8);
    const uint64_t n_meta = load_le<uint64_t>(p + 16);
    const uint64_t n_tensors = load_le<uint64_t>(p + 24);
    data_offset_ = load_le<uint64_t>(p + 32);
    alignment_ = load_le<uint32_t>(p + 40);
    const uint32_t flags = load_le<uint32_t>(p + 44);
    const uint64_t tables_checksum = load_le<uint64_t>(p + 48);

    if (declared_size != size)
        fail(path, ": file is ", size, " bytes but its header says ", declared_size, " (truncated or appended to)");
    if (alignment_ < 8 || alignment_ > kMaxAlignment || (alignment_ & (alignment_ - 1)))
        fail(path, ": alignment ", alignment_, " is not a power of two in [8, 2^20]");
    if (flags != 0) fail(path, ": unknown header flags 0x", std::hex, flags);
    if (data_offset_ < kT2lHeaderSize || data_offset_ > size || data_offset_ % alignment_)
        fail(path, ": data offset ", data_offset_, " is outside the file or not aligned to ", alignment_);
    if (xxh64(p + kT2lHeaderSize, (size_t)(data_offset_ - kT2lHeaderSize)) != tables_checksum)
        fail(path, ": metadata/tensor tables are corrupt (checksum mismatch)");

    Cursor c{p, kT2lHeaderSize, data_offset_, path};
    const uint64_t table_bytes = data_offset_ - kT2lHeaderSize;
    // Each metadata entry takes at least 9 bytes and each tensor entry at least 36.
    if (n_meta > table_bytes / 9) fail(path, ": metadata count ", n_meta, " cannot fit in ", table_bytes, " table bytes");
    if (n_tensors > table_bytes / 36) fail(path, ": tensor count ", n_tensors, " cannot fit in ", table_bytes, " table bytes");

    std::set<std::string> keys;
    uint64_t array_elements_left = kMaxArrayElements;
    for (uint64_t k = 0; k < n_meta; k++) {
        uint32_t klen = c.read<uint32_t>("a metadata key length");
        if (klen == 0 || klen > kMaxKeyBytes) fail(path, ": metadata key length ", klen, " is out of range");
        std::string key = c.read_bytes(klen, "a metadata key");
        if (!keys.insert(key).second) fail(path, ": metadata key '", key, "' appears twice");
        MetaType t = (MetaType)c.read<uint32_t>("a metadata type");
        MetaValue v;
        if (t == MetaType::Array) {
            MetaType et = (MetaType)c.read<uint32_t>("an array type");
            if (et == MetaType::Array || et == MetaType::Json || (uint32_t)et < 1 || (uint32_t)et > 6)
                fail(path, ": metadata '", key, "': arrays hold bool, int, float or string");
            uint64_t count = c.read<uint64_t>("an array length");
            const uint64_t min_size = et == MetaType::Bool ? 1 : 8;  // a string is at least its 8-byte length
            if (count > (c.end - c.pos) / min_size) fail(path, ": metadata '", key, "': array length ", count, " exceeds the table");
            if (count > array_elements_left)
                fail(path, ": metadata arrays hold more than ", kMaxArrayElements, " elements in all; refusing (memory limit)");
            array_elements_left -= count;
            std::vector<MetaValue> elems;
            elems.reserve((size_t)count);
            for (uint64_t j = 0; j < count; j++) elems.push_back(read_scalar(c, et, key));
            v = MetaValue::of_array(et, std::move(elems));
        } else {
            v = read_scalar(c, t, key);
        }
        metadata_.emplace_back(std::move(key), std::move(v));
    }

    const uint64_t data_size = size - data_offset_;
    std::set<std::string> names;
    for (uint64_t k = 0; k < n_tensors; k++) {
        uint32_t nlen = c.read<uint32_t>("a tensor name length");
        if (nlen == 0 || nlen > kMaxKeyBytes) fail(path, ": tensor name length ", nlen, " is out of range");
        T2lTensor t;
        t.view.name = c.read_bytes(nlen, "a tensor name");
        const std::string& name = t.view.name;
        if (!names.insert(name).second) fail(path, ": tensor '", name, "' appears twice");
        uint32_t dt = c.read<uint32_t>("a dtype");
        if (!dtype_is_valid(dt)) fail(path, ": tensor '", name, "': unknown dtype code ", dt);
        t.view.dtype = (DType)dt;
        uint32_t nd = c.read<uint32_t>("a rank");
        if (nd > kMaxDims) fail(path, ": tensor '", name, "': rank ", nd, " exceeds ", kMaxDims);
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t dim = c.read<uint64_t>("a dimension");
            if (dim > (uint64_t)INT64_MAX) fail(path, ": tensor '", name, "': dimension ", dim, " is too large");
            t.view.shape.push_back((int64_t)dim);
        }
        t.offset = c.read<uint64_t>("a tensor offset");
        t.view.nbytes = c.read<uint64_t>("a tensor size");
        t.checksum = c.read<uint64_t>("a tensor checksum");
        uint64_t expect;
        if (!shape_nbytes(t.view.shape, t.view.dtype, &expect))
            fail(path, ": tensor '", name, "': shape ", shape_string(t.view.shape), " overflows");
        if (expect != t.view.nbytes)
            fail(path, ": tensor '", name, "': ", t.view.nbytes, " bytes stored but ", dtype_name(t.view.dtype), " ",
                 shape_string(t.view.shape), " needs ", expect);
        if (t.offset % alignment_) fail(path, ": tensor '", name, "': offset ", t.offset, " is not aligned to ", alignment_);
        uint64_t end;
        if (!checked_add(t.offset, t.view.nbytes, &end) || end > data_size)
            fail(path, ": tensor '", name, "': bytes [", t.offset, ", +", t.view.nbytes, ") run past the end of the file");
        t.view.data = p + data_offset_ + t.offset;
        tensors_.push_back(std::move(t));
    }
    if (c.pos != c.end && c.end - c.pos >= alignment_)
        fail(path, ": ", c.end - c.pos, " unexplained bytes after the tensor table");

    std::vector<const T2lTensor*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const T2lTensor* a, const T2lTensor* b) { return a->offset < b->offset; });
    for (size_t k = 1; k < by_offset.size(); k++) {
        const T2lTensor* a = by_offset[k - 1];
        const T2lTensor* b = by_offset[k];
        if (b->view.nbytes > 0 && a->offset + a->view.nbytes > b->offset)
            fail(path, ": tensors '", a->view.name, "' and '", b->view.name, "' overlap");
    }
}

const MetaValue* T2lFile::find_meta(const std::string& key) const {
    for (const auto& kv : metadata_)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

std::string T2lFile::meta_string(const std::string& key) const {
    const MetaValue* v = find_meta(key);
    if (!v) fail(path(), ": metadata '", key, "' is missing");
    if (v->type != MetaType::String && v->type != MetaType::Json) fail(path(), ": metadata '", key, "' is not a string");
    return v->s;
}

int64_t T2lFile::meta_int(const std::string& key) const {
    const MetaValue* v = find_meta(key);
    if (!v) fail(path(), ": metadata '", key, "' is missing");
    if (v->type != MetaType::Int) fail(path(), ": metadata '", key, "' is not an int");
    return v->i;
}

json::Value T2lFile::meta_json(const std::string& key) const {
    const MetaValue* v = find_meta(key);
    if (!v) fail(path(), ": metadata '", key, "' is missing");
    return meta_to_json(*v, path() + " metadata '" + key + "'");
}

const TensorView* T2lFile::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.view.name == name) return &t.view;
    return nullptr;
}

int64_t T2lFile::verify(const std::function<void(uint64_t, uint64_t)>& progress) const {
    uint64_t total = 0, done = 0;
    for (const auto& t : tensors_) total += t.view.nbytes;
    constexpr uint64_t kChunk = 64ull << 20;
    for (size_t k = 0; k < tensors_.size(); k++) {
        const T2lTensor& t = tensors_[k];
        XXH64State st(0);
        for (uint64_t off = 0; off < t.view.nbytes; off += kChunk) {
            uint64_t n = std::min(kChunk, t.view.nbytes - off);
            st.update(t.view.data + off, (size_t)n);
            done += n;
            if (progress) progress(done, total);
        }
        if (st.digest() != t.checksum) return (int64_t)k;
    }
    return -1;
}

// ---------------------------------------------------------------------------------------
// Writer

T2lWriter::T2lWriter(const std::string& path, uint32_t alignment) : out_(path), alignment_(alignment) {
    if (alignment < 8 || (alignment & (alignment - 1))) fail(path, ": alignment must be a power of two >= 8");
}

void T2lWriter::set_meta(const std::string& key, MetaValue v) {
    if (data_started_) fail(out_.path(), ": metadata '", key, "' set after tensor data began");
    if (key.empty() || key.size() > kMaxKeyBytes) fail(out_.path(), ": bad metadata key length");
    for (auto& kv : metadata_)
        if (kv.first == key) { kv.second = std::move(v); return; }
    metadata_.emplace_back(key, std::move(v));
}

void T2lWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
    if (data_started_) fail(out_.path(), ": tensor '", name, "' declared after tensor data began");
    if (name.empty() || name.size() > kMaxKeyBytes) fail(out_.path(), ": bad tensor name length");
    if (shape.size() > kMaxDims) fail(out_.path(), ": tensor '", name, "' has rank ", shape.size(), " > ", kMaxDims);
    for (const auto& d : decls_)
        if (d.name == name) fail(out_.path(), ": tensor '", name, "' declared twice");
    Decl d;
    d.name = name;
    d.dtype = dtype;
    d.shape = shape;
    if (!shape_nbytes(shape, dtype, &d.nbytes)) fail(out_.path(), ": tensor '", name, "': shape overflows");
    d.offset = decls_.empty() ? 0 : align_up(decls_.back().offset + decls_.back().nbytes, alignment_);
    decls_.push_back(std::move(d));
}

std::string T2lWriter::encode_tables() const {
    std::string out;
    auto put = [&](const void* p, size_t n) { out.append((const char*)p, n); };
    for (const auto& kv : metadata_) {
        uint32_t klen = (uint32_t)kv.first.size();
        put(&klen, 4);
        put(kv.first.data(), klen);
        uint32_t t = (uint32_t)kv.second.type;
        put(&t, 4);
        if (kv.second.type == MetaType::Array) {
            uint32_t et = (uint32_t)kv.second.elem_type;
            uint64_t count = kv.second.arr.size();
            put(&et, 4);
            put(&count, 8);
            for (const auto& e : kv.second.arr) write_scalar(out, e);
        } else {
            write_scalar(out, kv.second);
        }
    }
    for (const auto& d : decls_) {
        uint32_t nlen = (uint32_t)d.name.size(), dt = (uint32_t)d.dtype, nd = (uint32_t)d.shape.size();
        put(&nlen, 4);
        put(d.name.data(), nlen);
        put(&dt, 4);
        put(&nd, 4);
        for (int64_t dim : d.shape) put(&dim, 8);
        put(&d.offset, 8);
        put(&d.nbytes, 8);
        put(&d.checksum, 8);
    }
    return out;
}

void T2lWriter::start_data() {
    for (const auto& kv : metadata_)
        if (kv.second.type == MetaType::Array)
            for (const auto& e : kv.second.arr)
                if (e.type != kv.second.elem_type) fail(out_.path(), ": metadata '", kv.first, "': mixed array element types");
    data_started_ = true;
    std::string tables = encode_tables();  // checksums are placeholders until finish()
    data_offset_ = align_up(kT2lHeaderSize + tables.size(), alignment_);
    total_data_ = decls_.empty() ? 0 : decls_.back().offset + decls_.back().nbytes;
    std::string head(data_offset_, '\0');  // header + tables + padding, rewritten at finish()
    out_.write(head.data(), head.size());
    cur_ = 0;
    cur_written_ = 0;
    hash_ = std::make_unique<XXH64State>(0);
}

void T2lWriter::write_data(const void* data, size_t n) {
    if (!data_started_) start_data();
    auto* p = (const uint8_t*)data;
    while (n > 0) {
        // Skip tensors with no bytes (their checksum is the empty hash).
        while (cur_ < decls_.size() && cur_written_ == decls_[cur_].nbytes) {
            decls_[cur_].checksum = hash_->digest();
            cur_++;
            cur_written_ = 0;
            hash_ = std::make_unique<XXH64State>(0);
        }
        if (cur_ >= decls_.size()) fail(out_.path(), ": more tensor data written than declared");
        Decl& d = decls_[cur_];
        if (cur_written_ == 0) {
            // Pad up to this tensor's aligned offset.
            uint64_t at = data_offset_ + d.offset;
            if (out_.size() < at) {
                std::string pad(at - out_.size(), '\0');
                out_.write(pad.data(), pad.size());
            }
        }
        size_t take = (size_t)std::min<uint64_t>(n, d.nbytes - cur_written_);
        hash_->update(p, take);
        out_.write(p, take);
        cur_written_ += take;
        p += take;
        n -= take;
    }
}

void T2lWriter::finish() {
    if (!data_started_) start_data();
    // Close out the current tensor and any trailing empty ones.
    while (cur_ < decls_.size() && cur_written_ == decls_[cur_].nbytes) {
        decls_[cur_].checksum = hash_->digest();
        cur_++;
        cur_written_ = 0;
        hash_ = std::make_unique<XXH64State>(0);
    }
    if (cur_ < decls_.size())
        fail(out_.path(), ": tensor '", decls_[cur_].name, "' got ", cur_written_, " of its ", decls_[cur_].nbytes, " bytes");
    const uint64_t file_size = data_offset_ + total_data_;
    if (out_.size() < file_size) {
        std::string pad(file_size - out_.size(), '\0');
        out_.write(pad.data(), pad.size());
    }
    std::string tables = encode_tables();
    uint8_t header[kT2lHeaderSize] = {0};
    std::memcpy(header, kT2lMagic, 4);
    uint32_t version = kT2lVersion;
    std::memcpy(header + 4, &version, 4);
    std::memcpy(header + 8, &file_size, 8);
    uint64_t n_meta = metadata_.size(), n_tensors = decls_.size();
    std::memcpy(header + 16, &n_meta, 8);
    std::memcpy(header + 24, &n_tensors, 8);
    std::memcpy(header + 32, &data_offset_, 8);
    std::memcpy(header + 40, &alignment_, 4);
    // bytes 44..47: flags (0)
    std::string padded = tables;
    padded.resize(data_offset_ - kT2lHeaderSize, '\0');
    uint64_t tables_checksum = xxh64(padded.data(), padded.size());
    std::memcpy(header + 48, &tables_checksum, 8);
    out_.pwrite(0, header, sizeof header);
    out_.pwrite(kT2lHeaderSize, padded.data(), padded.size());
    out_.commit();
}

}  // namespace t2l
