// gpu_none.cpp — the GPU entry points of a build without CUDA (make CUDA=0).
#include "common.h"
#include "gpu.h"

namespace t2l {

const GpuInfo& gpu_info() {
    static GpuInfo info = [] {
        GpuInfo g;
        g.reason = "this build has no CUDA support (built with CUDA=0 or without nvcc)";
        return g;
    }();
    return info;
}

std::shared_ptr<void> gpu_alloc(uint64_t) { fail("this build has no CUDA support (rebuild with nvcc for --device cuda)"); }
void gpu_memset_zero(void*, uint64_t) { fail("this build has no CUDA support"); }
void gpu_copy(void*, bool, const void*, bool, uint64_t) { fail("this build has no CUDA support"); }

void gpu_convert(int, void*, int, const void*, size_t) { fail("gpu_convert: this build has no CUDA support"); }

}  // namespace t2l
