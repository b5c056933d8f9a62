// common.h — errors, checked arithmetic and small helpers used by every stage.
//
// Contract: every user-facing failure is a t2l::Error whose message is one line of the form
// "<file or argument>: <what is wrong>". The CLI prints it as "t2l: error: <message>" and
// exits non-zero; nothing below the CLI prints or exits on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

namespace t2l {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Concatenate any streamable values into one string: cat("x=", 3) == "x=3".
template <typename... Args>
std::string cat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}

// Throw an Error built from the streamed arguments.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
    throw Error(cat(args...));
}

// Overflow-checked size arithmetic: false when the result does not fit.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Whether environment variable `name` is set to exactly `value` (the T2L_X=0 switches).
inline bool env_is(const char* name, const char* value) {
    const char* e = std::getenv(name);
    return e && std::strcmp(e, value) == 0;
}

// Little-endian loads from unaligned memory (every file format here is little-endian).
template <typename T>
inline T load_le(const void* p) {
    T v;
    __builtin_memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace t2l
