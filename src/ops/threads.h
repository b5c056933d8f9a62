// threads.h — a small persistent thread pool and parallel_for over an index range.
// Every CPU op splits its outer loop with it; the number of threads is the number of cores
// (T2L_THREADS overrides). Work is split into equal contiguous chunks, one per thread, so
// results never depend on the thread count (each output element is computed by one thread
// in a fixed order).
#pragma once

#include <cstdint>
#include <functional>

namespace t2l {

int num_threads();
// Calls fn(lo, hi) on disjoint chunks covering [0, n); returns when all are done.
// Runs inline when n is small (below `min_per_thread` per thread).
void parallel_for(int64_t n, const std::function<void(int64_t lo, int64_t hi)>& fn, int64_t min_per_thread = 1);

}  // namespace t2l
