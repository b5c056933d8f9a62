// runtime_tensor.cpp — allocation, views and copies of runtime tensors (see runtime_tensor.h).
#include "ops/runtime_tensor.h"

#include <cstdlib>
#include <cstring>

#include "common.h"
#include "gpu.h"

namespace t2l {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

namespace {
std::shared_ptr<void> allocate(uint64_t nbytes, Device device) {
    if (device == Device::CUDA) return gpu_alloc(nbytes);
    // 64-byte alignment: whole cache lines, and aligned SIMD loads never straddle.
    void* p = std::aligned_alloc(64, align_up(nbytes ? nbytes : 1, 64));
    if (!p) fail("out of memory allocating ", nbytes, " bytes");
    return std::shared_ptr<void>(p, std::free);
}
}  // namespace

Tensor Tensor::empty(std::vector<int64_t> shape, DType dtype, Device device) {
    Tensor t;
    t.dtype = dtype;
    t.device = device;
    t.shape = std::move(shape);
    uint64_t nbytes;
    if (!shape_nbytes(t.shape, dtype, &nbytes)) fail("tensor shape ", shape_string(t.shape), " overflows");
    t.storage = allocate(nbytes, device);
    t.data = t.storage.get();
    return t;
}

Tensor Tensor::empty_pinned(std::vector<int64_t> shape, DType dtype) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    uint64_t nbytes;
    if (!shape_nbytes(t.shape, dtype, &nbytes)) fail("tensor shape ", shape_string(t.shape), " overflows");
    t.storage = host_pinned_alloc(nbytes);
    t.data = t.storage.get();
    return t;
}

Tensor Tensor::zeros(std::vector<int64_t> shape, DType dtype, Device device) {
    Tensor t = empty(std::move(shape), dtype, device);
    if (device == Device::CPU) std::memset(t.data, 0, t.nbytes());
    else gpu_memset_zero(t.data, t.nbytes());
    return t;
}

Tensor Tensor::borrow(const TensorView& v) {
    Tensor t;
    t.dtype = v.dtype;
    t.device = Device::CPU;
    t.shape = v.shape;
    t.data = const_cast<uint8_t*>(v.data);
    return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, std::vector<int64_t> shape) {
    Tensor t = empty(std::move(shape));
    if ((size_t)t.numel() != values.size()) fail("from_floats: ", values.size(), " values for shape ", shape_string(t.shape));
    std::memcpy(t.data, values.data(), values.size() * 4);
    return t;
}

float* Tensor::f32() const {
    if (dtype != DType::F32 || device != Device::CPU) fail("expected an f32 CPU tensor, got ", describe());
    return static_cast<float*>(data);
}

Tensor Tensor::reshape(std::vector<int64_t> new_shape) const {
    Tensor t = *this;
    t.shape = std::move(new_shape);
    if (t.numel() != numel()) fail("reshape ", shape_string(shape), " -> ", shape_string(t.shape), " changes the size");
    return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
    if (shape.empty() || begin < 0 || end < begin || end > shape[0])
        fail("rows [", begin, ", ", end, ") out of range for ", describe());
    Tensor t = *this;
    t.shape[0] = end - begin;
    const uint64_t row_bytes = shape[0] ? nbytes() / (uint64_t)shape[0] : 0;
    t.data = static_cast<uint8_t*>(data) + (uint64_t)begin * row_bytes;
    return t;
}

Tensor Tensor::to(Device d) const {
    Tensor t = empty(shape, dtype, d);
    if (device == Device::CPU && d == Device::CPU) std::memcpy(t.data, data, nbytes());
    else if (device == Device::CPU) gpu_upload(t.data, data, nbytes());  // staged: see gpu.h
    else gpu_copy(t.data, d == Device::CUDA, data, device == Device::CUDA, nbytes());
    return t;
}

Tensor Tensor::to_dtype(DType dt) const {
    if (device != Device::CPU) fail("to_dtype: CPU tensors only");
    Tensor t = empty(shape, dt);
    convert_elements(dt, t.data, dtype, data, (size_t)numel());
    return t;
}

std::vector<float> Tensor::to_floats() const {
    Tensor c = device == Device::CPU ? *this : to(Device::CPU);
    std::vector<float> out((size_t)numel());
    convert_elements(DType::F32, out.data(), c.dtype, c.data, out.size());
    return out;
}

std::string Tensor::describe() const {
    return cat(dtype_name(dtype), " ", shape_string(shape), " ", device_name(device));
}

}  // namespace t2l
