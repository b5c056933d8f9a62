// test_atomic_outputs.cpp — an interrupted or failing command leaves the previous output intact.
//
// t2l-convert converts the fixture Llama into OUT.t2l; then a second conversion of a much
// larger model (the fixture's layers repeated, built here) is started on the same OUT.t2l and
// killed while its temporary file grows. OUT.t2l must still be the first conversion, byte for
// byte, and still verify. SIGKILL can leave only the temporary "OUT.t2l.tmp-<pid>" behind;
// SIGTERM and SIGINT leave nothing (the handler in io/atomic_file.cpp removes it).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::fixture;
using t2l_test::read_bytes;
using t2l_test::ScratchDir;
using t2l_test::write_bytes;

namespace {

// The fixture Llama with its first layer repeated n_layers times, in one safetensors file.
void write_big_llama(const std::string& dir, int n_layers) {
    const std::string base = fixture("llama/base");
    SafetensorsCheckpoint ck(base);
    std::vector<TensorView> views;
    std::vector<std::string> names;
    for (const TensorView& t : ck.tensors()) {
        const std::string layer0 = "model.layers.0.";
        if (t.name.rfind("model.layers.", 0) != 0) views.push_back(t);
        else if (t.name.rfind(layer0, 0) == 0)
            for (int i = 0; i < n_layers; i++) {
                TensorView v = t;
                v.name = "model.layers." + std::to_string(i) + "." + t.name.substr(layer0.size());
                views.push_back(v);
            }
    }
    write_safetensors(dir + "/model.safetensors", views);
    json::Value config = json::parse(read_bytes(base + "/config.json"), "config.json");
    config.set("num_hidden_layers", json::Value::from_int(n_layers));
    write_bytes(dir + "/config.json", json::dump(config, 2));
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"})
        write_bytes(dir + "/" + f, read_bytes(base + "/" + f));
}

std::string bin_path(const std::string& name) {
    const char* dir = std::getenv("T2L_BIN_DIR");
    return std::string(dir && *dir ? dir : ".") + "/" + name;
}

uint64_t file_size_or_0(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? (uint64_t)st.st_size : 0;
}

// Starts t2l-convert SRC -o OUT --dtype f32 quietly; returns its pid.
pid_t start_convert(const std::string& src, const std::string& out) {
    const std::string bin = bin_path("t2l-convert");
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int null_fd = ::open("/dev/null", O_WRONLY);
        ::dup2(null_fd, 1);
        ::dup2(null_fd, 2);
        ::execl(bin.c_str(), bin.c_str(), src.c_str(), "-o", out.c_str(), "--dtype", "f32", "-q", (char*)nullptr);
        ::_exit(127);
    }
    return pid;
}

// Converts the big model onto `out` and sends `sig` once the temporary holds `min_bytes`.
// Returns false if the conversion finished before that (the caller then makes it bigger).
bool interrupt_convert(const std::string& src, const std::string& out, int sig, uint64_t min_bytes, std::string* tmp) {
    const pid_t pid = start_convert(src, out);
    *tmp = out + ".tmp-" + std::to_string(pid);
    int status = 0;
    bool signalled = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // done before we caught it
        if (file_size_or_0(*tmp) >= min_bytes) {
            ::kill(pid, sig);
            signalled = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!signalled) ::kill(pid, SIGKILL);
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(signalled);
    CHECK(WIFSIGNALED(status));
    return true;
}

// The output a later conversion must leave alone: the small LLaMA fixture converted to `out`.
std::string convert_previous_output(const std::string& out) {
    std::string log;
    REQUIRE(t2l_test::run_binary("t2l-convert", fixture("llama/base") + " -o " + out + " -q", &log) == 0);
    return read_bytes(out);
}

}  // namespace

TEST_CASE("a conversion killed midway leaves the previous output intact", "[io][cli]") {
    if (!t2l_test::path_exists(bin_path("t2l-convert"))) T2L_SKIP("t2l-convert is not built in T2L_BIN_DIR");
    ScratchDir dir;
    const std::string out = dir.file("model.t2l");
    const std::string before = convert_previous_output(out);
    REQUIRE(before.size() > 1000);

    const std::string big = dir.file("big");
    t2l::make_dirs(big);
    int layers = 128;  // about 25 MB of f32 output; doubled if a fast machine finishes first
    write_big_llama(big, layers);

    for (int sig : {SIGKILL, SIGTERM, SIGINT}) {
        CAPTURE(sig);
        std::string tmp;
        while (!interrupt_convert(big, out, sig, 1 << 20, &tmp)) {
            REQUIRE(layers < 4096);
            layers *= 2;
            write_big_llama(big, layers);
        }
        const std::string after = read_bytes(out);
        CHECK(after.size() == before.size());
        CHECK(after == before);
        T2lFile f(out);
        CHECK(f.verify() == -1);
        // SIGKILL cannot be caught: its temporary stays (never under the final name).
        CHECK(t2l_test::path_exists(tmp) == (sig == SIGKILL));
        std::printf("conversion of %d layers stopped by signal %d: previous output intact (%zu bytes)\n", layers, sig,
                    after.size());
        ::unlink(tmp.c_str());
    }
}

TEST_CASE("a failing conversion leaves the previous output intact", "[io][cli]") {
    if (!t2l_test::path_exists(bin_path("t2l-convert"))) T2L_SKIP("t2l-convert is not built in T2L_BIN_DIR");
    ScratchDir dir;
    const std::string out = dir.file("model.t2l");
    const std::string before = convert_previous_output(out);

    // A model whose safetensors file is cut short: the converter refuses it after starting.
    const std::string bad = dir.file("bad");
    t2l::make_dirs(bad);
    write_big_llama(bad, 2);
    const std::string st = read_bytes(bad + "/model.safetensors");
    write_bytes(bad + "/model.safetensors", st.substr(0, st.size() - 100));
    std::string log;
    CHECK(t2l_test::run_binary("t2l-convert", bad + " -o " + out + " -q", &log) != 0);
    CHECK(read_bytes(out) == before);
    CHECK(log.find("model.safetensors") != std::string::npos);
}
