// mapped_file.cpp — mmap wrapper (see mapped_file.h).
#include "io/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace t2l {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(path, ": cannot stat: ", std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, ": not a regular file");
    }
    size_ = (uint64_t)st.st_size;
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail(path, ": cannot map: ", std::strerror(e));
        }
        data_ = (const uint8_t*)p;
    }
    ::close(fd);  // the mapping keeps the file alive
}

MappedFile MappedFile::from_bytes(const std::string& name, const void* data, uint64_t size) {
    MappedFile f;
    f.path_ = name;
    if (size > 0) {
        // Exactly size bytes, so a read past the end is caught by the address sanitizer.
        void* p = ::operator new((size_t)size, std::align_val_t(64));
        std::memcpy(p, data, (size_t)size);
        f.data_ = (const uint8_t*)p;
        f.size_ = size;
        f.owned_ = true;
    }
    return f;
}

void MappedFile::release() {
    if (data_ && owned_) ::operator delete((void*)data_, std::align_val_t(64));
    else if (data_) ::munmap((void*)data_, size_);
    data_ = nullptr;
    size_ = 0;
    owned_ = false;
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(o.data_), size_(o.size_), owned_(o.owned_) {
    o.data_ = nullptr;
    o.size_ = 0;
    o.owned_ = false;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        release();
        path_ = std::move(o.path_);
        data_ = o.data_;
        size_ = o.size_;
        owned_ = o.owned_;
        o.data_ = nullptr;
        o.size_ = 0;
        o.owned_ = false;
    }
    return *this;
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
    MappedFile f(path);
    if (f.size() > max_bytes)
        fail(path, ": ", f.size(), " bytes; a file read whole (config, tokenizer, YAML) may have at most ", max_bytes);
    return std::string((const char*)f.data(), (size_t)f.size());
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    if (dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

std::string base_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

void make_dirs(const std::string& dir) {
    if (dir.empty() || is_directory(dir)) return;
    const size_t slash = dir.find_last_of('/', dir.size() > 1 ? dir.size() - 2 : 0);
    if (slash != std::string::npos && slash > 0) make_dirs(dir.substr(0, slash));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(dir, ": cannot create folder: ", std::strerror(errno));
}

}  // namespace t2l
