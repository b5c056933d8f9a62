// progress.cpp — see progress.h.
#include "cli/progress.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace t2l {

Progress::Progress(std::string label, uint64_t total_bytes) : label_(std::move(label)), total_(total_bytes) {
    const char* env = std::getenv("T2L_PROGRESS");
    enabled_ = env ? env[0] == '1' : isatty(STDERR_FILENO) != 0;
    start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::update(uint64_t done) {
    if (!enabled_ || finished_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;  // redraw at most 10 times a second
    last_draw_ = now;
    draw(done, false);
}

void Progress::finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    draw(total_, true);
}

void Progress::draw(uint64_t done, bool final) {
    const int width = 30;
    double frac = total_ ? (double)done / (double)total_ : 1.0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * width);
    char bar[width + 1];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double mb = (double)done / 1e6;
    std::fprintf(stderr, "\r%s [%s] %3d%% %.0f/%.0f MB %.0f MB/s%s", label_.c_str(), bar, (int)(frac * 100), mb,
                 (double)total_ / 1e6, secs > 0 ? mb / secs : 0.0, final ? "\n" : "");
    std::fflush(stderr);
}

}  // namespace t2l
