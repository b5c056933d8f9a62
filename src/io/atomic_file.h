// atomic_file.h — write a file so that readers see either the old file or the complete new one.
//
// Bytes go to "<path>.tmp-<pid>" in the same directory; commit() fsyncs, renames over
// <path> and fsyncs the directory. Destroying an uncommitted AtomicFile removes the
// temporary, and SIGINT/SIGTERM/SIGHUP remove every open temporary before the process
// dies, so an interrupted or failing command never leaves a file under the final name
// (after SIGKILL only a stray *.tmp-<pid> can remain, never a partial <path>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace t2l {

class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);  // throws Error naming the path
    ~AtomicFile();                                  // unlinks the temporary unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t n);                  // append at the current end
    void pwrite(uint64_t offset, const void* data, size_t n);  // patch bytes already written
    uint64_t size() const { return size_; }
    void commit();
    const std::string& path() const { return path_; }

private:
    std::string path_, tmp_path_;
    int fd_ = -1;
    uint64_t size_ = 0;
    bool committed_ = false;
};

// Convenience: write a whole small file atomically.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace t2l
