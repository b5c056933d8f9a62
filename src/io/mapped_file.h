// mapped_file.h — read-only memory maps and whole-file reads.
//
// MappedFile maps a file once; every reader in io/ and format/ takes views into it and
// validates offsets against size() before touching a byte. from_bytes() gives the same
// object over a private copy of bytes already in memory (the fuzz harnesses and tests use it).
#pragma once

#include <cstdint>
#include <string>

namespace t2l {

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);  // throws Error("<path>: cannot open: ...")
    // A copy of [data, data + size), 64-byte aligned (a cache line: more than any typed load
    // of a tensor needs); `name` stands in for the path in messages.
    static MappedFile from_bytes(const std::string& name, const void* data, uint64_t size);
    ~MappedFile();
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    void release();
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    bool owned_ = false;  // data_ is a heap copy (from_bytes), not a map
};

// Read a whole (small) file: configs, tokenizer.json, YAML. Throws Error naming the path on
// failure, or when the file is over max_bytes (a file read whole is held in memory twice while
// it is parsed; the largest real tokenizer.json files are ~35 MB).
constexpr uint64_t kMaxReadFileBytes = 256ull << 20;
std::string read_file(const std::string& path, uint64_t max_bytes = kMaxReadFileBytes);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);
// The last component of a path ("a/b/" -> "b").
std::string base_name(const std::string& path);
// mkdir -p; throws Error naming the folder.
void make_dirs(const std::string& dir);

}  // namespace t2l
