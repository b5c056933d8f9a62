// fuzz_util.h — what every harness shares: the contract a reader must keep on hostile bytes.
//
// A reader given arbitrary bytes may throw t2l::Error (one line naming the problem) and
// nothing else: any other exception escapes LLVMFuzzerTestOneInput and libFuzzer reports it
// as a crash, as it does a sanitizer report, a hang (-timeout) or memory past -rss_limit_mb.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common.h"
#include "format/xxhash64.h"

namespace fuzz {

// Runs fn; a t2l::Error is a clean refusal and returns false.
template <typename Fn>
bool refused(Fn&& fn) {
    try {
        fn();
        return false;
    } catch (const t2l::Error&) {
        return true;
    }
}

// A property that must hold for any input: print what broke and abort (libFuzzer keeps the input).
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

// Reads every byte of a view the reader handed out, so a view past the input is an ASan report.
inline uint64_t touch(const void* data, uint64_t n) { return n ? t2l::xxh64(data, (size_t)n) : 0; }

}  // namespace fuzz
