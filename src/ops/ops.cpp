// ops.cpp — shape checks and device dispatch for the ops in ops.h.
#include "ops/ops.h"

#include "common.h"
#include "ops/ops_cpu.h"

namespace t2l {

namespace {
void need(bool ok, const char* op, const std::string& what) {
    if (!ok) fail(op, ": ", what);
}
void need_cpu_f32(const Tensor& t, const char* op) {
    if (t.device != Device::CPU) fail(op, ": the CUDA path for this op is not built yet (", t.describe(), ")");
    need(t.dtype == DType::F32, op, "expected f32, got " + t.describe());
}
void need_cpu_float(const Tensor& t, const char* op) {
    if (t.device != Device::CPU) fail(op, ": the CUDA path for this op is not built yet (", t.describe(), ")");
    need(dtype_is_float(t.dtype) && t.dtype != DType::F64, op, "expected f32/bf16/f16, got " + t.describe());
}
}  // namespace

void linear(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) {
    need_cpu_f32(y, "linear");
    need_cpu_f32(x, "linear");
    need_cpu_float(w, "linear");
    need(w.rank() == 2 && x.rank() >= 1, "linear", "w must be (out, in)");
    const int64_t in = w.dim(1), out = w.dim(0), n = x.numel() / (in ? in : 1);
    need(x.dim(-1) == in, "linear", cat("x ", x.describe(), " does not match w ", w.describe()));
    need(y.numel() == n * out && y.dim(-1) == out, "linear", cat("y ", y.describe(), " should have ", n, " rows of ", out));
    need(y.data != x.data, "linear", "y must not alias x");
    if (bias) {
        need_cpu_float(*bias, "linear");
        need(bias->numel() == out, "linear", "bias size " + std::to_string(bias->numel()));
    }
    cpu::linear(y.f32(), x.f32(), w.data, w.dtype, bias ? bias->data : nullptr, bias ? bias->dtype : DType::F32, n, in, out);
}

void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    need_cpu_f32(y, "layer_norm");
    need_cpu_f32(x, "layer_norm");
    need_cpu_float(weight, "layer_norm");
    need_cpu_float(bias, "layer_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && bias.numel() == dim && y.numel() == x.numel(), "layer_norm", "shape mismatch");
    cpu::layer_norm(y.f32(), x.f32(), weight.data, weight.dtype, bias.data, bias.dtype, x.numel() / dim, dim, eps);
}

void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps, bool plus_one) {
    need_cpu_f32(y, "rms_norm");
    need_cpu_f32(x, "rms_norm");
    need_cpu_float(weight, "rms_norm");
    const int64_t dim = x.dim(-1);
    need(weight.numel() == dim && y.numel() == x.numel(), "rms_norm", "shape mismatch");
    cpu::rms_norm(y.f32(), x.f32(), weight.data, weight.dtype, x.numel() / dim, dim, eps, plus_one);
}

void silu_(Tensor& x) { need_cpu_f32(x, "silu"); cpu::silu(x.f32(), x.numel()); }
void gelu_erf_(Tensor& x) { need_cpu_f32(x, "gelu"); cpu::gelu_erf(x.f32(), x.numel()); }
void gelu_tanh_(Tensor& x) { need_cpu_f32(x, "gelu_tanh"); cpu::gelu_tanh(x.f32(), x.numel()); }
void scale_(Tensor& y, float s) { need_cpu_f32(y, "scale"); cpu::scale(y.f32(), s, y.numel()); }
void softcap_(Tensor& x, float cap) { need_cpu_f32(x, "softcap"); cpu::softcap(x.f32(), cap, x.numel()); }

void add_(Tensor& y, const Tensor& x) {
    need_cpu_f32(y, "add");
    need_cpu_f32(x, "add");
    need(y.numel() == x.numel(), "add", "shape mismatch " + y.describe() + " vs " + x.describe());
    cpu::add(y.f32(), x.f32(), y.numel());
}

void mul_(Tensor& y, const Tensor& x) {
    need_cpu_f32(y, "mul");
    need_cpu_f32(x, "mul");
    need(y.numel() == x.numel(), "mul", "shape mismatch " + y.describe() + " vs " + x.describe());
    cpu::mul(y.f32(), x.f32(), y.numel());
}

void embedding(Tensor& y, const Tensor& table, const int32_t* ids, int64_t n) {
    need_cpu_f32(y, "embedding");
    need_cpu_float(table, "embedding");
    need(table.rank() == 2 && y.numel() == n * table.dim(1), "embedding", "shape mismatch");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= table.dim(0)) fail("embedding: token id ", ids[i], " is outside the vocabulary (", table.dim(0), ")");
    cpu::embedding(y.f32(), table.data, table.dtype, ids, n, table.dim(1));
}

void rope_(Tensor& x, int n_heads, int head_dim, const Tensor& cos, const Tensor& sin) {
    need_cpu_f32(x, "rope");
    need_cpu_f32(cos, "rope");
    need_cpu_f32(sin, "rope");
    need(head_dim % 2 == 0, "rope", "head_dim must be even");
    const int64_t n = x.numel() / ((int64_t)n_heads * head_dim);
    need(x.dim(-1) == (int64_t)n_heads * head_dim, "rope", "x rows are not n_heads*head_dim");
    need(cos.numel() == n * head_dim / 2 && sin.numel() == cos.numel(), "rope", "cos/sin must be (n, head_dim/2)");
    cpu::rope(x.f32(), n, n_heads, head_dim, cos.f32(), sin.f32());
}

void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p) {
    need_cpu_f32(out, "attention");
    need_cpu_f32(q, "attention");
    need_cpu_f32(k, "attention");
    need_cpu_f32(v, "attention");
    need(p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0, "attention", "n_heads must be a multiple of n_kv_heads");
    const int64_t qw = (int64_t)p.n_heads * p.head_dim, kw = (int64_t)p.n_kv_heads * p.head_dim;
    need(q.dim(-1) == qw && out.numel() == q.numel(), "attention", "q/out rows must be n_heads*head_dim");
    need(k.dim(-1) == kw && v.numel() == k.numel(), "attention", "k/v rows must be n_kv_heads*head_dim");
    const int64_t n = q.numel() / qw, t = k.numel() / kw;
    need(!p.causal || p.q_pos0 + n <= t, "attention", "causal queries run past the keys");
    cpu::attention(out.f32(), q.f32(), k.f32(), v.f32(), n, t, p);
}

}  // namespace t2l
