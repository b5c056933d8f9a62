// device.cu — finding out whether a CUDA device can be used here.
#include <cuda_runtime.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_util.cuh"
#include "gpu.h"

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
        cudaError_t err = cudaMalloc(&p, size);
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

}  // namespace t2l
