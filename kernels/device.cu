// device.cu — finding out whether a CUDA device can be used here; device memory, copies and
// the weight upload path.
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_util.cuh"
#include "gpu.h"
#include "ops/threads.h"
#include "timing.h"

namespace t2l {

const GpuInfo& gpu_info() {
    static GpuInfo info = [] {
        GpuInfo g;
        int n = 0;
        cudaError_t err = cudaGetDeviceCount(&n);
        if (err != cudaSuccess) {
            g.reason = std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(err) + ")";
            cudaGetLastError();  // clear the sticky error so later probes start clean
            return g;
        }
        if (n == 0) {
            g.reason = "no CUDA device found";
            return g;
        }
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
            g.reason = "cannot read the properties of CUDA device 0";
            return g;
        }
        g.available = true;
        g.device_count = n;
        g.name = prop.name;
        g.cc_major = prop.major;
        g.cc_minor = prop.minor;
        g.total_memory = prop.totalGlobalMem;
        return g;
    }();
    return info;
}

// Page-locked host memory (device -> host copies at full speed), recycled by size like the
// device blocks: an adapter's pages go back to the pool when its last view is dropped.
std::shared_ptr<void> host_pinned_alloc(uint64_t nbytes) {
    static std::mutex mu;
    static auto* pool = new std::unordered_map<uint64_t, std::vector<void*>>();  // never destroyed: see block_cache
    const uint64_t size = (nbytes + 4095) / 4096 * 4096;
    void* p = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu);
        auto it = pool->find(size);
        if (it != pool->end() && !it->second.empty()) {
            p = it->second.back();
            it->second.pop_back();
        }
    }
    if (!p) CUDA_CHECK(cudaMallocHost(&p, size ? size : 4096));
    return std::shared_ptr<void>(p, [size](void* q) {
        std::lock_guard<std::mutex> lock(mu);
        (*pool)[size].push_back(q);
    });
}

uint64_t gpu_memory_used() {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return total_b - free_b;
}

namespace {
// Freed device blocks are kept by size and handed out again: the models allocate the same
// activation sizes at every step, and cudaMalloc/cudaFree (cudaFree synchronises the device)
// would otherwise cost more than a decode step's kernels.
struct BlockCache {
    std::mutex mu;
    std::unordered_map<uint64_t, std::vector<void*>> free_blocks;

    void release_all() {
        for (auto& kv : free_blocks)
            for (void* p : kv.second) cudaFree(p);
        free_blocks.clear();
    }
};
BlockCache& block_cache() {
    static BlockCache* c = new BlockCache();  // never destroyed: blocks may be returned during exit
    return *c;
}
}  // namespace

std::shared_ptr<void> gpu_alloc(uint64_t nbytes) {
    if (!gpu_info().available) fail("no GPU: ", gpu_info().reason);
    const uint64_t size = align_up(nbytes ? nbytes : 1, 256);
    BlockCache& cache = block_cache();
    void* p = nullptr;
    {
        std::lock_guard<std::mutex> lock(cache.mu);
        auto it = cache.free_blocks.find(size);
        if (it != cache.free_blocks.end() && !it->second.empty()) {
            p = it->second.back();
            it->second.pop_back();
        }
    }
    if (!p) {
        const double t0 = timing_on() ? timing_now() : 0;
        cudaError_t err = cudaMalloc(&p, size);
        if (timing_on()) timing_add("cudaMalloc", timing_now() - t0);
        if (err == cudaErrorMemoryAllocation) {  // give back what the cache holds and try once more
            cudaGetLastError();
            std::lock_guard<std::mutex> lock(cache.mu);
            cache.release_all();
            err = cudaMalloc(&p, size);
        }
        if (err != cudaSuccess) fail("cannot allocate ", nbytes, " bytes of GPU memory: ", cudaGetErrorString(err));
    }
    return std::shared_ptr<void>(p, [size](void* q) {
        BlockCache& c = block_cache();
        std::lock_guard<std::mutex> lock(c.mu);
        c.free_blocks[size].push_back(q);
    });
}

void gpu_memset_zero(void* dst, uint64_t nbytes) { CUDA_CHECK(cudaMemset(dst, 0, nbytes)); }

void gpu_copy(void* dst, bool dst_on_gpu, const void* src, bool src_on_gpu, uint64_t nbytes) {
    const cudaMemcpyKind kind = dst_on_gpu ? (src_on_gpu ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                           : (src_on_gpu ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    CUDA_CHECK(cudaMemcpy(dst, src, nbytes, kind));
}

namespace {
struct CopyStream {
    cudaStream_t stream = nullptr;
    cudaEvent_t ready = nullptr;
};
CopyStream& copy_stream() {
    static CopyStream* c = [] {
        auto* cs = new CopyStream();  // never destroyed: the driver may be gone at exit
        CUDA_CHECK(cudaStreamCreateWithFlags(&cs->stream, cudaStreamNonBlocking));
        CUDA_CHECK(cudaEventCreateWithFlags(&cs->ready, cudaEventDisableTiming));
        return cs;
    }();
    return *c;
}
}  // namespace

void gpu_copy_to_host_async(void* dst, const void* src, uint64_t nbytes) {
    CopyStream& cs = copy_stream();
    CUDA_CHECK(cudaEventRecord(cs.ready, cudaStreamPerThread));  // the kernels that write src
    CUDA_CHECK(cudaStreamWaitEvent(cs.stream, cs.ready, 0));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, cs.stream));
}

void gpu_copies_wait() {
    if (!gpu_info().available) return;
    CUDA_CHECK(cudaStreamSynchronize(copy_stream().stream));
}

namespace {
// Host -> device uploads go through a ring of page-locked staging buffers on their own stream:
// the host fills one buffer (several threads) while the copy engine empties the others. A
// pageable cudaMemcpy instead stages through the driver's small buffers on one thread and returns
// only when the copy is done. On an H200 (16 cores) loading the 2.7 GB describe checkpoint:
// 16 MB buffers beat 4 MB (more waits per byte) and 64 MB (pinning them costs more than it saves).
constexpr int kStages = 4;
constexpr uint64_t kStageBytes = 16ull << 20;
constexpr uint64_t kFillPiece = 1ull << 20;  // what one thread copies at a time

bool staged_upload() {
    static const bool on = !env_is("T2L_PINNED_UPLOAD", "0");
    return on;
}

struct Uploader {
    std::mutex mu;
    cudaStream_t stream = nullptr;
    cudaEvent_t done = nullptr;  // after a call's last copy: the caller's stream waits for it
    uint8_t* buf[kStages] = {};
    cudaEvent_t drained[kStages] = {};  // the last copy out of buf[i] has finished
    int cur = 0;                        // the buffer being filled
    uint64_t used = 0;                  // bytes of it handed out
};
Uploader& uploader() {
    static Uploader* u = [] {
        auto* up = new Uploader();  // never destroyed: the driver may be gone at exit
        CUDA_CHECK(cudaStreamCreateWithFlags(&up->stream, cudaStreamNonBlocking));
        CUDA_CHECK(cudaEventCreateWithFlags(&up->done, cudaEventDisableTiming));
        void* mem = nullptr;
        CUDA_CHECK(cudaMallocHost(&mem, kStages * kStageBytes));
        for (int i = 0; i < kStages; i++) {
            up->buf[i] = static_cast<uint8_t*>(mem) + i * kStageBytes;
            CUDA_CHECK(cudaEventCreateWithFlags(&up->drained[i], cudaEventDisableTiming));
        }
        return up;
    }();
    return *u;
}

// src -> dst (page-locked) in 1 MB pieces over the thread pool: one core copies page-cached bytes
// out of a map at a few GB/s (faulting the pages in as it goes), the copy engine takes tens: with
// 4 threads instead of 16 the 2.7 GB checkpoint loads ~90 ms slower. (Reading the file with pread
// instead of through the map measured the same.)
void fill_stage(uint8_t* dst, const uint8_t* src, uint64_t n) {
    parallel_for((int64_t)((n + kFillPiece - 1) / kFillPiece), [&](int64_t lo, int64_t hi) {
        const uint64_t a = (uint64_t)lo * kFillPiece, b = std::min(n, (uint64_t)hi * kFillPiece);
        std::memcpy(dst + a, src + a, b - a);
    });
}
}  // namespace

void gpu_upload(void* dst, const void* src, uint64_t nbytes) {
    if (nbytes == 0) return;
    // A stream being recorded into a CUDA graph cannot wait for the upload stream: the plain copy
    // (which refuses to run there, as before).
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(cudaStreamPerThread, &capture));
    if (!staged_upload() || capture != cudaStreamCaptureStatusNone) {
        gpu_copy(dst, true, src, false, nbytes);
        return;
    }
    const double t0 = timing_on() ? timing_now() : 0;
    Uploader& up = uploader();
    std::lock_guard<std::mutex> lock(up.mu);
    for (uint64_t done = 0; done < nbytes;) {
        if (up.used == kStageBytes) {  // on to the next buffer, once the copies out of it have finished
            CUDA_CHECK(cudaEventRecord(up.drained[up.cur], up.stream));
            up.cur = (up.cur + 1) % kStages;
            up.used = 0;
            CUDA_CHECK(cudaEventSynchronize(up.drained[up.cur]));
        }
        const uint64_t n = std::min(nbytes - done, kStageBytes - up.used);
        uint8_t* stage = up.buf[up.cur] + up.used;
        fill_stage(stage, static_cast<const uint8_t*>(src) + done, n);
        CUDA_CHECK(cudaMemcpyAsync(static_cast<uint8_t*>(dst) + done, stage, n, cudaMemcpyHostToDevice, up.stream));
        up.used = std::min(align_up(up.used + n, 256), kStageBytes);  // the next piece starts aligned
        done += n;
    }
    CUDA_CHECK(cudaEventRecord(up.done, up.stream));
    CUDA_CHECK(cudaStreamWaitEvent(cudaStreamPerThread, up.done, 0));
    if (timing_on()) timing_add("upload", timing_now() - t0, nbytes);
}

void gpu_init() {
    if (!gpu_info().available) fail("no GPU: ", gpu_info().reason);
    const double t0 = timing_on() ? timing_now() : 0;
    CUDA_CHECK(cudaFree(nullptr));  // the first call that needs a context creates it
    const double t1 = timing_on() ? timing_now() : 0;
    if (staged_upload()) uploader();
    if (timing_on()) {
        timing_add("context", t1 - t0);
        timing_add("upload buffers", timing_now() - t1);
    }
}

}  // namespace t2l
