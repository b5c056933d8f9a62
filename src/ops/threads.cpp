// threads.cpp — see threads.h.
#include "ops/threads.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace t2l {

namespace {
class Pool {
public:
    explicit Pool(int n) : n_(n) {
        for (int i = 1; i < n_; i++) workers_.emplace_back([this, i] { loop(i); });
    }
    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
            generation_++;
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
    }
    int size() const { return n_; }

    // Thread 0 is the caller; the others wake up for each new generation of work.
    void run(int parts, const std::function<void(int)>& job) {
        std::unique_lock<std::mutex> call_lock(call_mu_);  // one parallel region at a time
        {
            std::lock_guard<std::mutex> lock(mu_);
            job_ = &job;
            parts_ = parts;
            pending_ = parts - 1;
            generation_++;
        }
        cv_.notify_all();
        job(0);
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] { return pending_ == 0; });
        job_ = nullptr;
    }

private:
    void loop(int index) {
        uint64_t seen = 0;
        for (;;) {
            const std::function<void(int)>* job;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (stop_) return;
                if (index >= parts_) continue;
                job = job_;
            }
            (*job)(index);
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (--pending_ == 0) done_cv_.notify_one();
            }
        }
    }

    int n_;
    std::vector<std::thread> workers_;
    std::mutex mu_, call_mu_;
    std::condition_variable cv_, done_cv_;
    const std::function<void(int)>* job_ = nullptr;
    int parts_ = 0, pending_ = 0;
    uint64_t generation_ = 0;
    bool stop_ = false;
};

Pool& pool() {
    static Pool p([] {
        const char* env = std::getenv("T2L_THREADS");
        int n = env ? std::atoi(env) : (int)std::thread::hardware_concurrency();
        return std::max(1, std::min(n, 256));
    }());
    return p;
}

thread_local bool t_inside = false;  // nested parallel_for runs inline
}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_per_thread) {
    if (n <= 0) return;
    int parts = (int)std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread)));
    if (parts <= 1 || t_inside) {
        fn(0, n);
        return;
    }
    pool().run(parts, [&](int p) {
        t_inside = true;
        int64_t lo = n * p / parts, hi = n * (p + 1) / parts;
        if (lo < hi) fn(lo, hi);
        t_inside = false;
    });
}

}  // namespace t2l
