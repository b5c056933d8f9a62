// ops.cpp — shape checks and device dispatch for the ops in ops.h.
//
// Every op checks shapes and dtypes once, then looks at where its tensors live: all on the CPU
// runs the reference in ops_cpu.cpp, all on CUDA runs the kernel in kernels/ (ops_cuda.h), a mix
// is an error (nothing is copied behind the caller's back).
#include "ops/ops.h"

#include <cstring>
#include <initializer_list>

#include "common.h"
#include "gpu.h"
#include "ops/ops_cpu.h"
#include "ops_cuda.h"

namespace t2l {

namespace {
void need(bool ok, const char* op, const std::string& what) {
    if (!ok) fail(op, ": ", what);
}
void need_f32(const Tensor& t, const char* op) { need(t.dtype == DType::F32, op, "expected f32, got " + t.describe()); }
void need_float(const Tensor& t, const char* op) {
    need(dtype_is_float(t.dtype) && t.dtype != DType::F64, op, "expected f32/bf16/f16, got " + t.describe());
}
// The one device all the tensors live on; a mix of devices is an error.
Device device_of(const char* op, std::initializer_list<const Tensor*> ts) {
    const Tensor* first = *ts.begin();
    for (const Tensor* t : ts)
        if (t->device != first->device)
            fail(op, ": tensors on different devices (", first->describe(), " and ", t->describe(), ")");
    return first->device;
}
float* dptr(const Tensor& t) { return static_cast<float*>(t.data); }  // f32 data on either device
}  // namespace

void linear(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    const Device dev = bias ? device_of("linear", {&y, &x, &w, bias}) : device_of("linear", {&y, &x, &w});
    need_f32(y, "linear");
    need_f32(x, "linear");
    need_float(w, "linear");
    need(w.rank() == 2 && x.rank() >= 1, "linear", "w must be (out, in)");
    const int64_t in = w.dim(1), out = w.dim(0), n = x.numel() / (in ? in : 1);
    need(x.dim(-1) == in, "linear", cat("x ", x.describe(), " does not match w ", w.describe()));
    need(y.numel() == n * out && y.dim(-1) == out, "linear", cat("y ", y.describe(), " should have ", n, " rows of ", out));
    need(y.data != x.data, "linear", "y must not alias x");
    if (bias) {
        need_float(*bias, "linear");
        need(bias->numel() == out, "linear", "bias size " + std::to_string(bias->numel()));
    }
    const void* b = bias ? bias->data : nullptr;
    const DType bt = bias ? bias->dtype : DType::F32;
    if (dev == Device::CUDA) cuda::linear(dptr(y), dptr(x), w.data, w.dtype, b, bt, n, in, out);
    else cpu::linear(y.f32(), x.f32(), w.data, w.dtype, b, bt, n, in, out);
}

void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    const Device dev = device_of("layer_norm", {&y, &x, &weight, &bias});
    need_f32(y, "layer_norm");
    need_f32(x, "layer_norm");
    need_float(weight, "layer_norm");
    need_float(bias, "layer_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && bias.numel() == dim && y.numel() == x.numel(), "layer_norm", "shape mismatch");
    const int64_t n = x.numel() / dim;
    if (dev == Device::CUDA)
        cuda::layer_norm(dptr(y), dptr(x), weight.data, weight.dtype, bias.data, bias.dtype, n, dim, eps);
    else cpu::layer_norm(y.f32(), x.f32(), weight.data, weight.dtype, bias.data, bias.dtype, n, dim, eps);
}

void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps, bool plus_one) {
    const Device dev = device_of("rms_norm", {&y, &x, &weight});
    need_f32(y, "rms_norm");
    need_f32(x, "rms_norm");
    need_float(weight, "rms_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && y.numel() == x.numel(), "rms_norm", "shape mismatch");
    const int64_t n = x.numel() / dim;
    if (dev == Device::CUDA) cuda::rms_norm(dptr(y), dptr(x), weight.data, weight.dtype, n, dim, eps, plus_one);
    else cpu::rms_norm(y.f32(), x.f32(), weight.data, weight.dtype, n, dim, eps, plus_one);
}

void silu_(Tensor& x) {
    need_f32(x, "silu");
    if (x.device == Device::CUDA) cuda::silu(dptr(x), x.numel());
    else cpu::silu(x.f32(), x.numel());
}
void gelu_erf_(Tensor& x) {
    need_f32(x, "gelu");
    if (x.device == Device::CUDA) cuda::gelu_erf(dptr(x), x.numel());
    else cpu::gelu_erf(x.f32(), x.numel());
}
void gelu_tanh_(Tensor& x) {
    need_f32(x, "gelu_tanh");
    if (x.device == Device::CUDA) cuda::gelu_tanh(dptr(x), x.numel());
    else cpu::gelu_tanh(x.f32(), x.numel());
}
void scale_(Tensor& y, float s) {
    need_f32(y, "scale");
    if (y.device == Device::CUDA) cuda::scale(dptr(y), s, y.numel());
    else cpu::scale(y.f32(), s, y.numel());
}
void softcap_(Tensor& x, float cap) {
    need_f32(x, "softcap");
    if (x.device == Device::CUDA) cuda::softcap(dptr(x), cap, x.numel());
    else cpu::softcap(x.f32(), cap, x.numel());
}

void add_(Tensor& y, const Tensor& x) {
    const Device dev = device_of("add", {&y, &x});
    need_f32(y, "add");
    need_f32(x, "add");
    need(y.numel() == x.numel(), "add", "shape mismatch " + y.describe() + " vs " + x.describe());
    if (dev == Device::CUDA) cuda::add(dptr(y), dptr(x), y.numel());
    else cpu::add(y.f32(), x.f32(), y.numel());
}

void mul_(Tensor& y, const Tensor& x) {
    const Device dev = device_of("mul", {&y, &x});
    need_f32(y, "mul");
    need_f32(x, "mul");
    need(y.numel() == x.numel(), "mul", "shape mismatch " + y.describe() + " vs " + x.describe());
    if (dev == Device::CUDA) cuda::mul(dptr(y), dptr(x), y.numel());
    else cpu::mul(y.f32(), x.f32(), y.numel());
}

void copy_rows(Tensor& dst, int64_t row0, const Tensor& src) {
    const Device dev = device_of("copy_rows", {&dst, &src});
    need(dst.dtype == src.dtype, "copy_rows", "dtype mismatch " + dst.describe() + " vs " + src.describe());
    const int64_t width = dst.dim(-1), n = src.numel() / (width ? width : 1);
    need(src.dim(-1) == width && row0 >= 0 && row0 + n <= dst.numel() / (width ? width : 1), "copy_rows",
         cat("rows [", row0, ", ", row0 + n, ") of ", src.describe(), " do not fit ", dst.describe()));
    const uint64_t row_bytes = (uint64_t)width * dtype_size(dst.dtype);
    uint8_t* to = static_cast<uint8_t*>(dst.data) + (uint64_t)row0 * row_bytes;
    if (dev == Device::CUDA) gpu_copy(to, true, src.data, true, (uint64_t)n * row_bytes);
    else std::memcpy(to, src.data, (size_t)((uint64_t)n * row_bytes));
}

void embedding(Tensor& y, const Tensor& table, const int32_t* ids, int64_t n) {
    const Device dev = device_of("embedding", {&y, &table});  // ids are host memory either way
    need_f32(y, "embedding");
    need_float(table, "embedding");
    need(table.rank() == 2 && y.numel() == n * table.dim(1), "embedding", "shape mismatch");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= table.dim(0)) fail("embedding: token id ", ids[i], " is outside the vocabulary (", table.dim(0), ")");
    if (dev == Device::CUDA) cuda::embedding(dptr(y), table.data, table.dtype, ids, n, table.dim(1));
    else cpu::embedding(y.f32(), table.data, table.dtype, ids, n, table.dim(1));
}

void rope_(Tensor& x, int n_heads, int head_dim, const Tensor& cos, const Tensor& sin) {
    const Device dev = device_of("rope", {&x, &cos, &sin});
    need_f32(x, "rope");
    need_f32(cos, "rope");
    need_f32(sin, "rope");
    need(head_dim % 2 == 0, "rope", "head_dim must be even");
    const int64_t n = x.numel() / ((int64_t)n_heads * head_dim);
    need(x.dim(-1) == (int64_t)n_heads * head_dim, "rope", "x rows are not n_heads*head_dim");
    need(cos.numel() == n * head_dim / 2 && sin.numel() == cos.numel(), "rope", "cos/sin must be (n, head_dim/2)");
    if (dev == Device::CUDA) cuda::rope(dptr(x), n, n_heads, head_dim, dptr(cos), dptr(sin));
    else cpu::rope(x.f32(), n, n_heads, head_dim, cos.f32(), sin.f32());
}

void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p) {
    const Device dev = device_of("attention", {&out, &q, &k, &v});
    need_f32(out, "attention");
    need_f32(q, "attention");
    // A bf16 KV cache halves decode's bytes; only the CUDA kernels read it (the CPU twin is f32).
    need(k.dtype == v.dtype, "attention", "k and v must have one dtype, got " + k.describe() + " and " + v.describe());
    need(k.dtype == DType::F32 || (dev == Device::CUDA && k.dtype == DType::BF16), "attention",
         "k/v must be f32 (or bf16 on CUDA), got " + k.describe());
    need(p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0, "attention", "n_heads must be a multiple of n_kv_heads");
    const int64_t qw = (int64_t)p.n_heads * p.head_dim, kw = (int64_t)p.n_kv_heads * p.head_dim;
    need(q.dim(-1) == qw && out.numel() == q.numel(), "attention", "q/out rows must be n_heads*head_dim");
    need(k.dim(-1) == kw && v.numel() == k.numel(), "attention", "k/v rows must be n_kv_heads*head_dim");
    const int64_t n = q.numel() / qw, t = k.numel() / kw;
    need(!p.causal || p.q_pos0 + n <= t, "attention", "causal queries run past the keys");
    if (dev == Device::CUDA) cuda::attention(dptr(out), dptr(q), k.data, v.data, k.dtype, n, t, p);
    else cpu::attention(out.f32(), q.f32(), k.f32(), v.f32(), n, t, p);
}

}  // namespace t2l
