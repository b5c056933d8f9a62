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

// The checks every y = x wᵀ op makes: f32 y and x, a float (out, in) w, y (n, y_cols) not
// aliasing x; y_cols is w's out unless given (linear_glu's y has half as many columns).
struct LinearShape {
    int64_t n, in, out;
};
LinearShape check_linear(const char* op, const Tensor& y, const Tensor& x, const Tensor& w, int64_t y_cols = -1) {
    need_f32(y, op);
    need_f32(x, op);
    need_float(w, op);
    need(w.rank() == 2 && x.rank() >= 1, op, "w must be (out, in)");
    const int64_t in = w.dim(1), out = w.dim(0), n = x.numel() / (in ? in : 1), cols = y_cols < 0 ? out : y_cols;
    need(x.dim(-1) == in, op, cat("x ", x.describe(), " does not match w ", w.describe()));
    need(y.numel() == n * cols && y.dim(-1) == cols, op, cat("y ", y.describe(), " should have ", n, " rows of ", cols));
    need(y.data != x.data, op, "y must not alias x");
    return {n, in, out};
}
// A bias, when given, is a float vector of w's out.
void check_bias(const char* op, const Tensor* bias, int64_t out) {
    if (!bias) return;
    need_float(*bias, op);
    need(bias->numel() == out, op, "bias size " + std::to_string(bias->numel()));
}
}  // namespace

void linear(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    const Device dev = bias ? device_of("linear", {&y, &x, &w, bias}) : device_of("linear", {&y, &x, &w});
    const auto [n, in, out] = check_linear("linear", y, x, w);
    check_bias("linear", bias, out);
    const void* b = bias ? bias->data : nullptr;
    const DType bt = bias ? bias->dtype : DType::F32;
    if (dev == Device::CUDA) cuda::linear(dptr(y), dptr(x), w.data, w.dtype, b, bt, n, in, out);
    else cpu::linear(y.f32(), x.f32(), w.data, w.dtype, b, bt, n, in, out);
}

void linear_pair(Tensor& y, const Tensor& x, const Tensor& w, Tensor& y2, const Tensor& w2) {
    const Device dev = device_of("linear_pair", {&y, &x, &w, &y2, &w2});
    const LinearShape a = check_linear("linear_pair", y, x, w), b = check_linear("linear_pair", y2, x, w2);
    if (dev == Device::CUDA && a.n == 1 && w2.dtype == DType::F32 &&
        cuda::linear_pair(dptr(y), dptr(x), w.data, w.dtype, a.in, a.out, dptr(y2), dptr(w2), b.out))
        return;
    linear(y, x, w);
    linear(y2, x, w2);
}

void linear_glu(Tensor& y, const Tensor& x, const Tensor& w, Activation act, bool act_on_second, Tensor* gu) {
    const Device dev = device_of("linear_glu", {&y, &x, &w});
    need(w.rank() == 2 && w.dim(0) % 2 == 0, "linear_glu", cat("w ", w.describe(), " is not a stacked gate|up (2I, in)"));
    const int64_t inter = w.dim(0) / 2;
    const int64_t n = check_linear("linear_glu", y, x, w, inter).n;
    if (dev == Device::CUDA) {
        if (n == 1 && !act_on_second && cuda::linear_glu(dptr(y), dptr(x), w.data, w.dtype, w.dim(1), inter, (int)act))
            return;
        cuda::SkinnyEpilogue ep;
        ep.act = (int)act;
        ep.glu = true;
        ep.act_on_second = act_on_second;
        if (w.dtype == DType::F32 && cuda::linear_skinny(dptr(y), dptr(x), static_cast<const float*>(w.data), nullptr, n, w.dim(1), inter, false, ep))
            return;
    }
    Tensor own;
    if (gu) need(gu->device == dev && gu->dtype == DType::F32 && gu->numel() == n * 2 * inter, "linear_glu",
                 cat("gu ", gu->describe(), " is not (", n, ", ", 2 * inter, ")"));
    else own = Tensor::empty({n, 2 * inter}, DType::F32, dev);
    Tensor& buf = gu ? *gu : own;
    linear(buf, x, w);
    act_mul(y, buf, act, act_on_second);
}

void linear_act(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, Activation act) {
    const Device dev = bias ? device_of("linear_act", {&y, &x, &w, bias}) : device_of("linear_act", {&y, &x, &w});
    const int64_t n = check_linear("linear_act", y, x, w).n;
    check_bias("linear_act", bias, w.dim(0));
    if (dev == Device::CUDA && w.dtype == DType::F32 && (!bias || bias->dtype == DType::F32)) {
        cuda::SkinnyEpilogue ep;
        ep.act = (int)act;
        if (cuda::linear_skinny(dptr(y), dptr(x), static_cast<const float*>(w.data), bias ? dptr(*bias) : nullptr, n, w.dim(1), w.dim(0), false, ep))
            return;
    }
    linear(y, x, w, bias);
    switch (act) {
        case Activation::SiLU: silu_(y); break;
        case Activation::GeluTanh: gelu_tanh_(y); break;
        case Activation::GeluErf: gelu_erf_(y); break;
    }
}

void linear_add(Tensor& y, const Tensor& x, const Tensor& w) {
    const Device dev = device_of("linear_add", {&y, &x, &w});
    const auto [n, in, out] = check_linear("linear_add", y, x, w);
    if (dev == Device::CUDA) {
        cuda::linear(dptr(y), dptr(x), w.data, w.dtype, nullptr, DType::F32, n, in, out, true);
    } else {
        std::vector<float> t((size_t)(n * out));
        cpu::linear(t.data(), x.f32(), w.data, w.dtype, nullptr, DType::F32, n, in, out);
        cpu::add(y.f32(), t.data(), n * out);
    }
}

void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor* residual) {
    const Device dev = residual ? device_of("layer_norm", {&y, &x, &weight, &bias, residual})
                                : device_of("layer_norm", {&y, &x, &weight, &bias});
    need_f32(y, "layer_norm");
    need_f32(x, "layer_norm");
    need_float(weight, "layer_norm");
    need_float(bias, "layer_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && bias.numel() == dim && y.numel() == x.numel(), "layer_norm", "shape mismatch");
    if (residual) {
        need_f32(*residual, "layer_norm");
        need(residual->numel() == x.numel(), "layer_norm", "residual shape mismatch");
    }
    const int64_t n = x.numel() / dim;
    if (dev == Device::CUDA) {
        cuda::layer_norm(dptr(y), dptr(x), weight.data, weight.dtype, bias.data, bias.dtype, n, dim, eps,
                         residual ? dptr(*residual) : nullptr);
    } else if (residual) {  // the CPU adds first, then normalises: the same sums as the GPU's
        std::vector<float> sum((size_t)x.numel());
        for (size_t i = 0; i < sum.size(); i++) sum[i] = x.f32()[i] + residual->f32()[i];
        cpu::layer_norm(y.f32(), sum.data(), weight.data, weight.dtype, bias.data, bias.dtype, n, dim, eps);
    } else {
        cpu::layer_norm(y.f32(), x.f32(), weight.data, weight.dtype, bias.data, bias.dtype, n, dim, eps);
    }
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

void add_row(Tensor& y, const Tensor& x, const Tensor& row) {
    const Device dev = device_of("add_row", {&y, &x, &row});
    need_f32(y, "add_row");
    need_f32(x, "add_row");
    need_f32(row, "add_row");
    const int64_t dim = x.dim(-1);
    need(dim > 0 && row.numel() == dim && y.numel() == x.numel() && y.dim(-1) == dim, "add_row",
         "shape mismatch " + y.describe() + " = " + x.describe() + " + " + row.describe());
    if (dev == Device::CUDA) cuda::add_row(dptr(y), dptr(x), dptr(row), x.numel() / dim, dim);
    else cpu::add_row(y.f32(), x.f32(), row.f32(), x.numel() / dim, dim);
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
    need(dst.dtype == src.dtype || (src.dtype == DType::F32 && (dst.dtype == DType::BF16 || dst.dtype == DType::F16)),
         "copy_rows", "dtype mismatch " + dst.describe() + " vs " + src.describe());
    const int64_t width = dst.dim(-1), n = src.numel() / (width ? width : 1);
    need(src.dim(-1) == width && row0 >= 0 && row0 + n <= dst.numel() / (width ? width : 1), "copy_rows",
         cat("rows [", row0, ", ", row0 + n, ") of ", src.describe(), " do not fit ", dst.describe()));
    const uint64_t row_bytes = (uint64_t)width * dtype_size(dst.dtype);
    uint8_t* to = static_cast<uint8_t*>(dst.data) + (uint64_t)row0 * row_bytes;
    if (dst.dtype != src.dtype) {  // f32 keys/values into a narrower cache
        if (dev == Device::CUDA) cuda::cast_f32(to, dst.dtype, dptr(src), n * width);
        else convert_elements(dst.dtype, to, DType::F32, src.data, (size_t)(n * width));
        return;
    }
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

// ---- the decode step -------------------------------------------------------------------------

namespace {
// The value of a one-element int32 tensor, on either device (for checks and the CPU twins).
int64_t read_index(const Tensor& t, const char* op) {
    need(t.dtype == DType::I32 && t.numel() >= 1, op, "expected an int32 position, got " + t.describe());
    int32_t v = 0;
    if (t.device == Device::CUDA) gpu_copy(&v, false, t.data, true, 4);
    else v = *t.ptr<int32_t>();
    return v;
}
}  // namespace

void add_rms_norm(Tensor& x, const Tensor* delta, Tensor& h, const Tensor& weight, float eps, bool plus_one,
                  const Tensor* delta_weight) {
    const Device dev = delta ? device_of("add_rms_norm", {&x, delta, &h, &weight}) : device_of("add_rms_norm", {&x, &h, &weight});
    if (delta_weight) {
        need(delta != nullptr, "add_rms_norm", "a delta weight without a delta");
        need_float(*delta_weight, "add_rms_norm");
        need(delta_weight->device == dev && delta_weight->numel() == weight.numel(), "add_rms_norm",
             "the delta weight must match the weight (device, size)");
    }
    need_f32(x, "add_rms_norm");
    need_f32(h, "add_rms_norm");
    need_float(weight, "add_rms_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && h.numel() == x.numel() && (!delta || delta->numel() == x.numel()), "add_rms_norm",
         "shape mismatch");
    if (delta) need_f32(*delta, "add_rms_norm");
    const int64_t n = x.numel() / dim;
    const float* d = delta ? dptr(*delta) : nullptr;
    const void* dw = delta_weight ? delta_weight->data : nullptr;
    const DType dwt = delta_weight ? delta_weight->dtype : DType::F32;
    if (dev == Device::CUDA) cuda::add_rms_norm(dptr(x), d, dptr(h), weight.data, weight.dtype, n, dim, eps, plus_one, dw, dwt);
    else cpu::add_rms_norm(x.f32(), d, h.f32(), weight.data, weight.dtype, n, dim, eps, plus_one, dw, dwt);
}

void act_mul(Tensor& y, const Tensor& gu, Activation act, bool act_on_second) {
    const Device dev = device_of("act_mul", {&y, &gu});
    need_f32(y, "act_mul");
    need_f32(gu, "act_mul");
    const int64_t inter = y.dim(-1), n = y.numel() / (inter ? inter : 1);
    need(gu.dim(-1) == 2 * inter && gu.numel() == 2 * y.numel(), "act_mul", cat("gu ", gu.describe(), " is not (n, 2 * ", inter, ")"));
    const int a = (int)act;
    if (dev == Device::CUDA) cuda::act_mul(dptr(y), dptr(gu), n, inter, a, act_on_second);
    else cpu::act_mul(y.f32(), gu.f32(), n, inter, a, act_on_second);
}

void split_qkv_rope(Tensor& q, Tensor& k, Tensor& v, const Tensor& qkv, int n_heads, int head_dim, const Tensor* cos,
                    const Tensor* sin) {
    const Device dev = device_of("split_qkv_rope", {&q, &k, &v, &qkv});
    for (const Tensor* t : {(const Tensor*)&q, (const Tensor*)&k, (const Tensor*)&v, &qkv}) need_f32(*t, "split_qkv_rope");
    need(!cos == !sin, "split_qkv_rope", "cos and sin come together");
    const int64_t w = (int64_t)n_heads * head_dim, n = q.numel() / (w ? w : 1);
    need(head_dim > 0 && head_dim % 2 == 0, "split_qkv_rope", "head_dim must be even");
    need(q.dim(-1) == w && k.numel() == q.numel() && v.numel() == q.numel() && qkv.numel() == 3 * q.numel() && qkv.dim(-1) == 3 * w,
         "split_qkv_rope", cat("qkv ", qkv.describe(), " is not (n, 3 * ", w, ") for q ", q.describe()));
    if (cos) {
        need(cos->device == dev && sin->device == dev, "split_qkv_rope", "cos/sin on another device");
        need_f32(*cos, "split_qkv_rope");
        need_f32(*sin, "split_qkv_rope");
        need(cos->numel() == n * head_dim / 2 && sin->numel() == cos->numel(), "split_qkv_rope", "cos/sin must be (n, head_dim/2)");
    }
    const float* c = cos ? dptr(*cos) : nullptr;
    const float* s = sin ? dptr(*sin) : nullptr;
    if (dev == Device::CUDA) cuda::split_qkv_rope(dptr(q), dptr(k), dptr(v), dptr(qkv), n, n_heads, head_dim, c, s);
    else cpu::split_qkv_rope(q.f32(), k.f32(), v.f32(), qkv.f32(), n, n_heads, head_dim, cos ? cos->f32() : nullptr,
                             sin ? sin->f32() : nullptr);
}

void qkv_rope_cache(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv, const Tensor& cos,
                    const Tensor& sin, const Tensor& pos, const Tensor* q_norm, const Tensor* k_norm, int n_heads,
                    int n_kv_heads, int head_dim, float eps, bool plus_one, const Tensor* lora_B, const Tensor* lora_t) {
    const Device dev = device_of("qkv_rope_cache", {&q, &k_cache, &v_cache, &qkv, &cos, &sin, &pos});
    need_f32(q, "qkv_rope_cache");
    need_f32(qkv, "qkv_rope_cache");
    need_f32(cos, "qkv_rope_cache");
    need_f32(sin, "qkv_rope_cache");
    need(head_dim > 0 && head_dim % 2 == 0 && n_heads > 0 && n_kv_heads > 0, "qkv_rope_cache", "bad head sizes");
    const int64_t qd = (int64_t)n_heads * head_dim, kd = (int64_t)n_kv_heads * head_dim;
    need(q.numel() == qd && qkv.numel() == qd + 2 * kd, "qkv_rope_cache", "q/qkv sizes do not match the heads");
    need(k_cache.dtype == v_cache.dtype && k_cache.rank() == 2 && k_cache.dim(1) == kd && v_cache.shape == k_cache.shape,
         "qkv_rope_cache", "caches must be (capacity, " + std::to_string(kd) + ") of one dtype");
    const int64_t capacity = k_cache.dim(0);
    need(cos.rank() == 2 && cos.dim(0) >= capacity && cos.dim(1) == head_dim / 2 && sin.shape == cos.shape,
         "qkv_rope_cache", "cos/sin must be (capacity, head_dim / 2)");
    for (const Tensor* nw : {q_norm, k_norm})
        if (nw) need(nw->numel() == head_dim && nw->device == dev && dtype_is_float(nw->dtype), "qkv_rope_cache", "bad q/k norm weight");
    need(!q_norm == !k_norm, "qkv_rope_cache", "q and k norms come together");
    const DType nt = q_norm ? q_norm->dtype : DType::F32;
    need(!lora_B == !lora_t, "qkv_rope_cache", "the LoRA's B and t come together");
    const int64_t r = lora_B ? lora_B->dim(-1) : 0;
    if (lora_B) {
        need(lora_B->device == dev && lora_t->device == dev && lora_B->dtype == DType::F32 && lora_t->dtype == DType::F32,
             "qkv_rope_cache", "the LoRA's B and t must be f32 on the same device");
        need(lora_B->rank() == 2 && lora_B->dim(0) == qd + 2 * kd && lora_t->numel() == r, "qkv_rope_cache",
             cat("LoRA B ", lora_B->describe(), " / t ", lora_t->describe(), " do not match the q|k|v row"));
    }
    const float* lb = lora_B ? dptr(*lora_B) : nullptr;
    const float* lt = lora_t ? dptr(*lora_t) : nullptr;
    if (dev == Device::CUDA) {
        need(pos.dtype == DType::I32, "qkv_rope_cache", "pos must be int32");
        cuda::qkv_rope_cache(dptr(q), k_cache.data, v_cache.data, k_cache.dtype, dptr(qkv), dptr(cos), dptr(sin),
                             pos.ptr<int32_t>(), q_norm ? q_norm->data : nullptr, k_norm ? k_norm->data : nullptr, nt,
                             n_heads, n_kv_heads, head_dim, eps, plus_one, lb, lt, r);
    } else {
        const int64_t p = read_index(pos, "qkv_rope_cache");
        need(p >= 0 && p < capacity, "qkv_rope_cache", cat("position ", p, " is outside the cache (", capacity, ")"));
        need_f32(k_cache, "qkv_rope_cache");
        cpu::qkv_rope_cache(q.f32(), k_cache.f32(), v_cache.f32(), qkv.f32(), cos.f32(), sin.f32(), p,
                            q_norm ? q_norm->data : nullptr, k_norm ? k_norm->data : nullptr, nt, n_heads, n_kv_heads,
                            head_dim, eps, plus_one, lb, lt, r);
    }
}

int64_t attention_at_scratch(const Tensor& k_cache, const AttentionParams& p) {
    return k_cache.device == Device::CUDA ? cuda::attention_at_scratch(k_cache.dim(0), p) : 0;
}

void attention_at(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& pos,
                  const AttentionParams& p, Tensor& scratch) {
    const Device dev = device_of("attention_at", {&out, &q, &k_cache, &v_cache, &pos});
    need_f32(out, "attention_at");
    need_f32(q, "attention_at");
    const int64_t qw = (int64_t)p.n_heads * p.head_dim, kw = (int64_t)p.n_kv_heads * p.head_dim;
    need(q.numel() == qw && out.numel() == qw, "attention_at", "q/out must hold one query");
    need(k_cache.rank() == 2 && k_cache.dim(1) == kw && v_cache.shape == k_cache.shape && k_cache.dtype == v_cache.dtype,
         "attention_at", "caches must be (capacity, hk·d) of one dtype");
    need(pos.dtype == DType::I32, "attention_at", "pos must be int32");
    if (dev == Device::CUDA) {
        need(scratch.device == dev && scratch.dtype == DType::F32 && scratch.numel() >= attention_at_scratch(k_cache, p),
             "attention_at", "scratch too small");
        cuda::attention_at(dptr(out), dptr(q), k_cache.data, v_cache.data, k_cache.dtype, pos.ptr<int32_t>(),
                           k_cache.dim(0), p, dptr(scratch));
    } else {
        const int64_t at = read_index(pos, "attention_at");
        need(at >= 0 && at < k_cache.dim(0), "attention_at", cat("position ", at, " is outside the cache"));
        need_f32(k_cache, "attention_at");
        AttentionParams a = p;
        a.causal = true;
        a.q_pos0 = at;
        cpu::attention(out.f32(), q.f32(), k_cache.f32(), v_cache.f32(), 1, at + 1, a);
    }
}

void embedding_at(Tensor& y, const Tensor& table, const Tensor& ids, float mult) {
    const Device dev = device_of("embedding", {&y, &table, &ids});
    need_f32(y, "embedding");
    need_float(table, "embedding");
    need(ids.dtype == DType::I32, "embedding", "ids must be int32");
    const int64_t n = ids.numel();
    need(table.rank() == 2 && y.numel() == n * table.dim(1), "embedding", "shape mismatch");
    if (dev == Device::CUDA) {
        cuda::embedding_at(dptr(y), table.data, table.dtype, ids.ptr<int32_t>(), n, table.dim(1), mult);
    } else {
        embedding(y, table, ids.ptr<int32_t>(), n);
        if (mult != 1.0f) cpu::scale(y.f32(), mult, y.numel());
    }
}

void argmax(Tensor& ids, const Tensor& x) {
    const Device dev = device_of("argmax", {&ids, &x});
    need_f32(x, "argmax");
    const int64_t dim = x.dim(-1), n = x.numel() / (dim ? dim : 1);
    need(ids.dtype == DType::I32 && ids.numel() == n && dim > 0, "argmax", "ids must be int32 (n)");
    if (dev == Device::CUDA) cuda::argmax(ids.ptr<int32_t>(), dptr(x), n, dim);
    else cpu::argmax(ids.ptr<int32_t>(), x.f32(), n, dim);
}

namespace {
// The checks both halves make: an f32 (rows, d1, d2) result, a head of the same size, an offset
// of (layers, d1, d2) on the same device.
void check_lora_half(const char* op, const Tensor& all, const Tensor& head, const Tensor* offset, int64_t layers) {
    const Device dev = device_of(op, {&all, &head});
    need_f32(all, op);
    need_f32(head, op);
    need(all.rank() == 3 && head.numel() == all.numel() && head.dim(0) == all.dim(0), op,
         cat("head ", head.describe(), " does not match ", all.describe()));
    need(layers > 0 && all.dim(0) % layers == 0, op, "rows must be a multiple of layers");
    if (offset)
        need(offset->device == dev && offset->dtype == DType::F32 && offset->numel() == layers * all.dim(1) * all.dim(2), op,
             cat("offset ", offset->describe(), " should be f32 (layers, ", all.dim(1), ", ", all.dim(2), ")"));
}
}  // namespace

void lora_a_from_head(Tensor& A_all, const Tensor& head_a, const Tensor* offset_a, int64_t layers, float div) {
    check_lora_half("lora_a_from_head", A_all, head_a, offset_a, layers);
    const int64_t rows = A_all.dim(0), r = A_all.dim(1), in = A_all.dim(2);
    const float* oa = offset_a ? dptr(*offset_a) : nullptr;
    if (A_all.device == Device::CUDA) cuda::lora_a_from_head(dptr(A_all), dptr(head_a), oa, rows, layers, r * in, div);
    else cpu::lora_a_from_head(A_all.f32(), head_a.f32(), oa, rows, layers, r * in, div);
}

void lora_b_from_head(Tensor& B_all, const Tensor& head_b, const Tensor* offset_b, int64_t layers, float div) {
    check_lora_half("lora_b_from_head", B_all, head_b, offset_b, layers);
    const int64_t rows = B_all.dim(0), out = B_all.dim(1), r = B_all.dim(2);
    const float* ob = offset_b ? dptr(*offset_b) : nullptr;
    if (B_all.device == Device::CUDA) cuda::lora_b_from_head(dptr(B_all), dptr(head_b), ob, rows, layers, r, out, div);
    else cpu::lora_b_from_head(B_all.f32(), head_b.f32(), ob, rows, layers, r, out, div);
}

}  // namespace t2l
