// gpu_none.cpp — the GPU entry points of a build without CUDA (make CUDA=0).
#include <cstdlib>

#include "common.h"
#include "gpu.h"
#include "ops_cuda.h"

namespace t2l {

const GpuInfo& gpu_info() {
    static GpuInfo info = [] {
        GpuInfo g;
        g.reason = "this build has no CUDA support (built with CUDA=0 or without nvcc)";
        return g;
    }();
    return info;
}

void gpu_init() { fail("this build has no CUDA support"); }
uint64_t gpu_memory_used() { return 0; }
std::shared_ptr<void> host_pinned_alloc(uint64_t nbytes) {
    void* p = std::malloc(nbytes ? nbytes : 1);
    if (!p) fail("out of memory (", nbytes, " bytes)");
    return std::shared_ptr<void>(p, std::free);
}
std::shared_ptr<void> gpu_alloc(uint64_t) { fail("this build has no CUDA support (rebuild with nvcc for --device cuda)"); }
void gpu_memset_zero(void*, uint64_t) { fail("this build has no CUDA support"); }
void gpu_copy(void*, bool, const void*, bool, uint64_t) { fail("this build has no CUDA support"); }
void gpu_upload(void*, const void*, uint64_t) { fail("this build has no CUDA support"); }
void gpu_copy_to_host_async(void*, const void*, uint64_t) { fail("this build has no CUDA support"); }
void gpu_copies_wait() {}

void gpu_convert(int, void*, int, const void*, size_t) { fail("gpu_convert: this build has no CUDA support"); }

// The op kernels of kernels/ops_cuda.h: ops.cpp only calls them for CUDA tensors, which a
// build without CUDA cannot make, but each still says clearly why it cannot run.
namespace cuda {
namespace {
[[noreturn]] void no_cuda(const char* op) { fail(op, ": this build has no CUDA support"); }
}  // namespace
void linear(float*, const float*, const void*, DType, const void*, DType, int64_t, int64_t, int64_t, bool) { no_cuda("linear"); }
void layer_norm(float*, const float*, const void*, DType, const void*, DType, int64_t, int64_t, float, const float*) {
    no_cuda("layer_norm");
}
void rms_norm(float*, const float*, const void*, DType, int64_t, int64_t, float, bool) { no_cuda("rms_norm"); }
void silu(float*, int64_t) { no_cuda("silu"); }
void gelu_erf(float*, int64_t) { no_cuda("gelu"); }
void gelu_tanh(float*, int64_t) { no_cuda("gelu_tanh"); }
void add(float*, const float*, int64_t) { no_cuda("add"); }
void mul(float*, const float*, int64_t) { no_cuda("mul"); }
void add_row(float*, const float*, const float*, int64_t, int64_t) { no_cuda("add_row"); }
void scale(float*, float, int64_t) { no_cuda("scale"); }
void softcap(float*, float, int64_t) { no_cuda("softcap"); }
void embedding(float*, const void*, DType, const int32_t*, int64_t, int64_t) { no_cuda("embedding"); }
void rope(float*, int64_t, int, int, const float*, const float*) { no_cuda("rope"); }
void attention(float*, const float*, const void*, const void*, DType, int64_t, int64_t, const AttentionParams&,
               AttentionPath) {
    no_cuda("attention");
}
GemvConfig gemv_default_config(int64_t, int64_t, DType) { return GemvConfig{}; }
void linear_gemv(float*, const float*, const void*, DType, const void*, DType, int64_t, int64_t, int64_t,
                 const GemvConfig&, bool) {
    no_cuda("linear");
}
void linear_gemm(float*, const float*, const void*, DType, const void*, DType, int64_t, int64_t, int64_t, bool) {
    no_cuda("linear");
}
int64_t attention_at_scratch(int64_t, const AttentionParams&) { return 0; }
void attention_at(float*, const float*, const void*, const void*, DType, const int32_t*, int64_t,
                  const AttentionParams&, float*) {
    no_cuda("attention");
}
void add_rms_norm(float*, const float*, float*, const void*, DType, int64_t, int64_t, float, bool, const void*, DType) {
    no_cuda("add_rms_norm");
}
void act_mul(float*, const float*, int64_t, int64_t, int, bool) { no_cuda("act_mul"); }
bool linear_pair(float*, const float*, const void*, DType, int64_t, int64_t, float*, const float*, int64_t) {
    no_cuda("linear_pair");
    return false;
}
bool linear_glu(float*, const float*, const void*, DType, int64_t, int64_t, int) {
    no_cuda("linear_glu");
    return false;
}
bool linear_skinny(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t, bool, SkinnyEpilogue) {
    no_cuda("linear_skinny");
    return false;
}
void set_skinny_config(const SkinnyConfig*) {}
void split_qkv_rope(float*, float*, float*, const float*, int64_t, int, int, const float*, const float*) { no_cuda("split_qkv_rope"); }
void qkv_rope_cache(float*, void*, void*, DType, const float*, const float*, const float*, const int32_t*, const void*,
                    const void*, DType, int, int, int, float, bool, const float*, const float*, int64_t) {
    no_cuda("qkv_rope_cache");
}
void embedding_at(float*, const void*, DType, const int32_t*, int64_t, int64_t, float) { no_cuda("embedding"); }
void argmax(int32_t*, const float*, int64_t, int64_t) { no_cuda("argmax"); }
void cast_f32(void*, DType, const float*, int64_t) { no_cuda("cast"); }
void lora_a_from_head(float*, const float*, const float*, int64_t, int64_t, int64_t, float) { no_cuda("lora_a_from_head"); }
void lora_b_from_head(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, float) {
    no_cuda("lora_b_from_head");
}
bool fused_step_supported(const FusedStepShape&, std::string* why) {
    if (why) *why = "built without CUDA";
    return false;
}
bool fused_step_enabled() { return false; }
void set_fused_step(int) {}
bool fused_merge_stage() { return true; }
GemvPdl::GemvPdl(bool) : saved_(true) {}
GemvPdl::~GemvPdl() {}
void set_fused_merge(int) {}
int fused_step_attn_chunks(int) { return 1; }
int fused_step_counters() { return 0; }
void fused_step(const FusedStepArgs&, const FusedLayer*) { no_cuda("fused decode step"); }
void graph_begin() { no_cuda("CUDA graph"); }
std::shared_ptr<void> graph_end() { no_cuda("CUDA graph"); }
void graph_launch(const std::shared_ptr<void>&) { no_cuda("CUDA graph"); }
void graph_abort() {}
void copy_to_device_async(void*, const void*, size_t) { no_cuda("copy"); }
void set_gemm_split(bool) {}
int attention_cluster() { return 0; }
void set_attention_cluster(int) {}
bool gemm_split() { return false; }
void synchronize() { no_cuda("synchronize"); }
}  // namespace cuda

}  // namespace t2l

