// gpu.h — the CUDA backend as the rest of the engine sees it.
//
// Built with nvcc, these are implemented in kernels/*.cu; built without it (CUDA=0),
// src/gpu_none.cpp answers "no GPU" so every caller can choose the CPU path the same way.
// Each kernel launcher here has a CPU twin named in its comment, and a [cuda] test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace t2l {

struct GpuInfo {
    bool available = false;
    std::string reason;        // why not, when !available
    int device_count = 0;
    std::string name;          // of device 0
    int cc_major = 0, cc_minor = 0;
    uint64_t total_memory = 0;
};

// Probes the driver once; never throws. Without a GPU, reason says why (no driver,
// no device, built without CUDA).
const GpuInfo& gpu_info();

// Creates the CUDA context (and gpu_upload's staging buffers) now rather than at the first use,
// so that a command's timing can tell the two apart; later calls cost next to nothing. Throws
// Error when CUDA fails. (Creating the context on a background thread while the files are
// opened was tried: the host work before the first upload is ~2 ms, nothing to hide it behind.)
void gpu_init();

// Host memory the GPU copies into at full speed (page-locked; plain malloc without CUDA).
std::shared_ptr<void> host_pinned_alloc(uint64_t nbytes);

// Bytes of device memory in use on the current device (total - free), 0 without a GPU.
uint64_t gpu_memory_used();

// Device memory: freed when the last shared_ptr goes. Throws Error when CUDA fails.
std::shared_ptr<void> gpu_alloc(uint64_t nbytes);
void gpu_memset_zero(void* dst, uint64_t nbytes);
// Copy between host and device memory in any direction (flags say where each side lives).
void gpu_copy(void* dst, bool dst_on_gpu, const void* src, bool src_on_gpu, uint64_t nbytes);
// Host -> device copy through a ring of page-locked staging buffers (4 x 16 MB, filled by the
// thread pool), so the copy engine runs while the host reads: on an H200 the describe checkpoint's
// 2.67 GB take ~95 ms (24-39 GB/s) against ~365 ms as pageable cudaMemcpy calls. Returns once src
// has been read; the copy is ordered before whatever this thread queues next on the kernels'
// stream (like a kernel's output). T2L_PINNED_UPLOAD=0 makes it a plain gpu_copy.
void gpu_upload(void* dst, const void* src, uint64_t nbytes);
// Device -> host copy on a side stream, after everything queued so far on the kernels' stream,
// so it overlaps the kernels queued next. gpu_copies_wait() returns when all such copies are done;
// src must stay allocated and dst unread until then.
void gpu_copy_to_host_async(void* dst, const void* src, uint64_t nbytes);
void gpu_copies_wait();

// Element-wise dtype conversion on the device, host buffers in and out (for tests and the
// converter's self-check). CPU twin: convert_elements() in dtype.cpp (bf16<->f32, f16<->f32).
// Throws Error on a CUDA failure or an unsupported pair.
void gpu_convert(int dst_dtype, void* dst, int src_dtype, const void* src, size_t n);

}  // namespace t2l
