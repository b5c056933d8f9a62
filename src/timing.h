// timing.h — where a command's time goes, with T2L_TIMING=1 (for a cold start: loading,
// CUDA context, weight upload, each stage). Code below the CLI records phases with
// timing_mark(); the command prints them with timing_report(), one line each on stderr:
//   t2l timing: hypernet load             44.3 ms  (ends at   340.3 ms)  cudaMalloc 2.9 ms, upload 0.93 GB in 25.6 ms (36.5 GB/s)
// Times count from the process start as the kernel recorded it (10 ms resolution), so the first
// phase includes the dynamic loader. Without T2L_TIMING a mark costs one test.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"

namespace t2l {

namespace timing_detail {
inline double boot_ms() {  // the clock the kernel dates the process start with
    timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
inline double process_start_ms() {
    // /proc/self/stat field 22: the start time in clock ticks after boot (after the name in
    // parentheses, which may hold spaces: field 3 is the first one after the last ')').
    std::ifstream in("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return boot_ms();
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    for (int i = 3; i <= 22; i++) fields >> field;
    const double ticks = std::strtod(field.c_str(), nullptr);
    return ticks > 0 ? ticks * 1e3 / (double)sysconf(_SC_CLK_TCK) : boot_ms();
}
struct State {
    std::mutex mu;
    double start = process_start_ms();
    double last = -1;  // end of the previous phase
    struct Counter {
        std::string what;
        double ms;
        uint64_t bytes;
    };
    std::vector<Counter> counters;  // of the current phase
    std::vector<std::string> lines;
};
inline State& state() {
    static State s;
    return s;
}
inline void add_line(State& s, const std::string& name, double ms, double end, const std::string& detail) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "t2l timing: %-24s %8.1f ms  (ends at %7.1f ms)", name.c_str(), ms, end);
    s.lines.push_back(buf + (detail.empty() ? "" : "  " + detail));
}
}  // namespace timing_detail

inline bool timing_on() {
    static const bool on = std::getenv("T2L_TIMING") && !env_is("T2L_TIMING", "0");
    return on;
}

// Milliseconds since the process started.
inline double timing_now() { return timing_detail::boot_ms() - timing_detail::state().start; }

// The phase that ran since the previous mark (the first: since the process started) is `phase`.
inline void timing_mark(const std::string& phase) {
    if (!timing_on()) return;
    using namespace timing_detail;
    State& s = state();
    const double now = timing_now();
    std::lock_guard<std::mutex> lock(s.mu);
    std::string detail;
    for (const State::Counter& c : s.counters) {
        char buf[128];
        const char* sep = detail.empty() ? "" : ", ";
        if (c.bytes >= 100000000 && c.ms > 0)
            std::snprintf(buf, sizeof buf, "%s%s %.2f GB in %.1f ms (%.1f GB/s)", sep, c.what.c_str(), (double)c.bytes / 1e9,
                          c.ms, (double)c.bytes / 1e6 / c.ms);
        else if (c.bytes)
            std::snprintf(buf, sizeof buf, "%s%s %.1f kB in %.1f ms", sep, c.what.c_str(), (double)c.bytes / 1e3, c.ms);
        else
            std::snprintf(buf, sizeof buf, "%s%s %.1f ms", sep, c.what.c_str(), c.ms);
        detail += buf;
    }
    add_line(s, phase, now - (s.last < 0 ? 0 : s.last), now, detail);
    s.last = now;
    s.counters.clear();
}

// Time (and bytes, when it moves some) spent on `what` during the current phase, summed and
// shown on the phase's line: "upload 0.93 GB in 25.6 ms (36.5 GB/s)".
inline void timing_add(const std::string& what, double ms, uint64_t bytes = 0) {
    if (!timing_on()) return;
    using namespace timing_detail;
    std::lock_guard<std::mutex> lock(state().mu);
    for (State::Counter& c : state().counters)
        if (c.what == what) {
            c.ms += ms, c.bytes += bytes;
            return;
        }
    state().counters.push_back({what, ms, bytes});
}

// Prints what was recorded (the CLI, at the end of a command).
inline void timing_report() {
    if (!timing_on()) return;
    using namespace timing_detail;
    std::lock_guard<std::mutex> lock(state().mu);
    for (const std::string& l : state().lines) std::fprintf(stderr, "%s\n", l.c_str());
    state().lines.clear();
}

}  // namespace t2l
