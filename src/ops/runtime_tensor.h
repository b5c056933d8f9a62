// runtime_tensor.h — the runtime tensor the model code computes with: a typed, shaped buffer on a
// device (CPU memory or CUDA memory), owning its memory or viewing someone else's.
//
// Model code (src/models/) only ever calls the ops in ops.h on Tensors; each op looks at the
// tensors' device and runs the CPU reference (src/ops/*.cpp) or the CUDA kernel (kernels/).
// Shapes are row-major, outermost first. Activations are f32 on the CPU; weights keep the
// dtype they were stored in (f32, bf16 or f16) and are read through an mmap.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"
#include "tensor.h"

namespace t2l {

enum class Device : uint8_t { CPU = 0, CUDA = 1 };
const char* device_name(Device d);

struct Tensor {
    DType dtype = DType::F32;
    Device device = Device::CPU;
    std::vector<int64_t> shape;
    void* data = nullptr;
    std::shared_ptr<void> storage;  // owns `data` (or a larger buffer it points into); empty for borrowed views

    // New uninitialised / zeroed tensors owned by themselves.
    static Tensor empty(std::vector<int64_t> shape, DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor zeros(std::vector<int64_t> shape, DType dtype = DType::F32, Device device = Device::CPU);
    // A CPU tensor in page-locked memory (the GPU copies into it at full speed); needs CUDA.
    static Tensor empty_pinned(std::vector<int64_t> shape, DType dtype = DType::F32);
    // A CPU tensor borrowing a stored tensor's bytes (e.g. an mmapped weight); read-only by convention.
    static Tensor borrow(const TensorView& v);
    // A CPU f32 tensor holding a copy of `values`.
    static Tensor from_floats(const std::vector<float>& values, std::vector<int64_t> shape);

    int64_t numel() const;
    int64_t dim(int i) const { return shape[(size_t)(i < 0 ? (int)shape.size() + i : i)]; }
    int rank() const { return (int)shape.size(); }
    uint64_t nbytes() const { return (uint64_t)numel() * dtype_size(dtype); }
    bool defined() const { return data != nullptr || numel() == 0; }

    template <typename T> T* ptr() const { return static_cast<T*>(data); }
    float* f32() const;  // checks dtype == F32 and device == CPU

    // Views sharing the storage.
    Tensor reshape(std::vector<int64_t> new_shape) const;   // same numel
    Tensor rows(int64_t begin, int64_t end) const;          // slice of the leading dimension

    // Copies.
    // Same dtype, always a copy. To the GPU it is queued on the kernels' stream (ordered before
    // the next op of this thread, like a kernel's output); the source may be reused at once.
    Tensor to(Device d) const;
    Tensor on(Device d) const { return d == device ? *this : to(d); }  // a copy only when it must move
    Tensor to_dtype(DType t) const;            // CPU only; float dtypes
    std::vector<float> to_floats() const;      // CPU copy as f32 values

    std::string describe() const;              // "f32 (3, 4) cpu" for messages
};

}  // namespace t2l
