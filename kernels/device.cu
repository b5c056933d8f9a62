// device.cu — finding out whether a CUDA device can be used here.
#include <cuda_runtime.h>

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

std::shared_ptr<void> gpu_alloc(uint64_t nbytes) {
    if (!gpu_info().available) fail("no GPU: ", gpu_info().reason);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, nbytes ? nbytes : 1);
    if (err != cudaSuccess) fail("cannot allocate ", nbytes, " bytes of GPU memory: ", cudaGetErrorString(err));
    return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

void gpu_memset_zero(void* dst, uint64_t nbytes) { CUDA_CHECK(cudaMemset(dst, 0, nbytes)); }

void gpu_copy(void* dst, bool dst_on_gpu, const void* src, bool src_on_gpu, uint64_t nbytes) {
    const cudaMemcpyKind kind = dst_on_gpu ? (src_on_gpu ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                           : (src_on_gpu ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    CUDA_CHECK(cudaMemcpy(dst, src, nbytes, kind));
}

}  // namespace t2l
