// device.cu — finding out whether a CUDA device can be used here.
#include <cuda_runtime.h>

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

}  // namespace t2l
