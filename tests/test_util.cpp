// test_util.cpp — see test_util.h.
#include "test_util.h"

#include "common.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace t2l_test {

std::string fixture(const std::string& rel) { return "tests/fixtures/" + rel; }

ScratchDir::ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/t2l-test-XXXXXX";
    char* p = mkdtemp(&templ[0]);
    REQUIRE(p != nullptr);
    path = p;
}

ScratchDir::~ScratchDir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: could not remove %s\n", path.c_str());
}

int run_binary(const std::string& binary, const std::string& args, std::string* output) {
    const char* dir = std::getenv("T2L_BIN_DIR");
    std::string cmd = std::string(dir && *dir ? dir : ".") + "/" + binary + " " + args + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int status = pclose(f);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), (std::streamsize)bytes.size());
    REQUIRE(f.good());
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool path_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const t2l::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace t2l_test
