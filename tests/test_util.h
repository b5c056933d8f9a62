// test_util.h — helpers shared by the Catch2 tests: fixture paths, scratch folders,
// running the built binaries, and visible skips.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace t2l_test {

extern int g_skipped_in_case;

// Mark the current test case as skipped (counted by the summary line) and say why.
#define T2L_SKIP(reason)                                                      \
    do {                                                                      \
        std::printf("SKIPPED %s: %s\n",                                       \
                    Catch::getResultCapture().getCurrentTestName().c_str(),   \
                    std::string(reason).c_str());                             \
        std::fflush(stdout);                                                  \
        t2l_test::g_skipped_in_case = 1;                                      \
        return;                                                               \
    } while (0)

// tests/fixtures/<rel>, found from the working directory (make test runs from the top).
std::string fixture(const std::string& rel);

// A fresh empty folder under $TMPDIR (or /tmp), removed when the object dies.
struct ScratchDir {
    std::string path;
    ScratchDir();
    ~ScratchDir();
    std::string file(const std::string& name) const { return path + "/" + name; }
};

// Run one of the built binaries ("t2l" or "t2l-convert") with shell-quoted args;
// returns its exit status and captures stdout+stderr into *output.
int run_binary(const std::string& binary, const std::string& args, std::string* output);

void write_bytes(const std::string& path, const std::string& bytes);
std::string read_bytes(const std::string& path);
bool path_exists(const std::string& path);

// "" when fn returns, the message when it throws t2l::Error; any other exception propagates.
std::string error_of(const std::function<void()>& fn);

}  // namespace t2l_test
