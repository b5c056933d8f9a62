// atomic_file.cpp — temp file + fsync + rename (see atomic_file.h).
#include "io/atomic_file.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>

#include "common.h"

namespace t2l {

namespace {
// Open temporaries, kept in a fixed array so the signal handler can walk it without allocating.
constexpr int kMaxOpen = 64;
char g_tmp_paths[kMaxOpen][4096];
volatile sig_atomic_t g_tmp_used[kMaxOpen];
std::mutex g_mutex;
bool g_handlers_installed = false;

void on_fatal_signal(int sig) {
    for (int i = 0; i < kMaxOpen; i++)
        if (g_tmp_used[i]) ::unlink(g_tmp_paths[i]);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

int register_tmp(const std::string& p) {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_handlers_installed) {
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
        g_handlers_installed = true;
    }
    if (p.size() >= sizeof g_tmp_paths[0]) return -1;
    for (int i = 0; i < kMaxOpen; i++) {
        if (!g_tmp_used[i]) {
            std::memcpy(g_tmp_paths[i], p.c_str(), p.size() + 1);
            g_tmp_used[i] = 1;
            return i;
        }
    }
    return -1;  // untracked: still removed by the destructor, only not on a signal
}

void unregister_tmp(const std::string& p) {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (int i = 0; i < kMaxOpen; i++)
        if (g_tmp_used[i] && p == g_tmp_paths[i]) g_tmp_used[i] = 0;
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}
}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
    tmp_path_ = path + ".tmp-" + std::to_string(::getpid());
    register_tmp(tmp_path_);
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        int e = errno;
        unregister_tmp(tmp_path_);
        fail(path, ": cannot create: ", std::strerror(e));
    }
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_path_.c_str());
    unregister_tmp(tmp_path_);
}

void AtomicFile::write(const void* data, size_t n) {
    pwrite(size_, data, n);
}

void AtomicFile::pwrite(uint64_t offset, const void* data, size_t n) {
    auto* p = (const uint8_t*)data;
    uint64_t off = offset;
    while (n > 0) {
        ssize_t w = ::pwrite(fd_, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(path_, ": write failed: ", std::strerror(errno));
        }
        p += w;
        off += (uint64_t)w;
        n -= (size_t)w;
    }
    if (off > size_) size_ = off;
}

void AtomicFile::commit() {
    if (::fsync(fd_) != 0) fail(path_, ": fsync failed: ", std::strerror(errno));
    if (::close(fd_) != 0) { fd_ = -1; fail(path_, ": close failed: ", std::strerror(errno)); }
    fd_ = -1;
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) fail(path_, ": rename failed: ", std::strerror(errno));
    committed_ = true;
    // Make the rename itself durable.
    int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
    AtomicFile f(path);
    f.write(contents.data(), contents.size());
    f.commit();
}

}  // namespace t2l
