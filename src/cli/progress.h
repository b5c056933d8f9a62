// progress.h — a one-line progress bar on stderr, shown only when stderr is a terminal
// (quiet when piped or in CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace t2l {

class Progress {
public:
    Progress(std::string label, uint64_t total_bytes);
    ~Progress();
    void update(uint64_t done_bytes);
    void finish();
    bool enabled() const { return enabled_; }

private:
    void draw(uint64_t done, bool final);
    std::string label_;
    uint64_t total_;
    bool enabled_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace t2l
