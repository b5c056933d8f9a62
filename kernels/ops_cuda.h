// ops_cuda.h — the CUDA kernels behind ops.h, on raw device pointers.
//
// Each function is the GPU twin of the function of the same name in src/ops/ops_cpu.h and
// takes the same arguments: row-major buffers, f32 activations, weights as (pointer, dtype)
// in f32/bf16/f16. Every pointer is device memory unless its comment says host. They run on
// the default stream and return once the work is queued (a later copy to the host waits for
// it). Launchers check their preconditions and throw t2l::Error; src/ops/ops.cpp checks the
// shapes before calling. Built without nvcc, src/gpu_none.cpp throws from each of them.
//
// Legend for shape comments: n = rows (tokens), in/out = features, h = query heads,
// hk = key/value heads, d = head dim, t = key positions.
// Kernel files: kernels/linear.cu, norm.cu, elementwise.cu, rope.cu, attention.cu.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dtype.h"
#include "ops/ops.h"

namespace t2l::cuda {

// y (n, out) = x (n, in) · wᵀ + bias. n <= 8: a hand-written GEMV reading w once with 16-byte
// loads, f32 x and f32 accumulation; n > 8: cuBLAS with x rounded to w's dtype (bf16/f16) and
// f32 accumulation, or plain f32 SGEMM for f32 weights. bias (out) may be null.
// accumulate: y += x · wᵀ (+ bias) instead of y =.
void linear(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n, int64_t in,
            int64_t out, bool accumulate = false);

// residual (or null): normalise x + residual; y may be x or residual.
void layer_norm(float* y, const float* x, const void* w, DType wt, const void* b, DType bt, int64_t n, int64_t dim,
                float eps, const float* residual = nullptr);
void rms_norm(float* y, const float* x, const void* w, DType wt, int64_t n, int64_t dim, float eps, bool plus_one);

void silu(float* x, int64_t n);
void gelu_erf(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);
void add(float* y, const float* x, int64_t n);
void mul(float* y, const float* x, int64_t n);
void add_row(float* y, const float* x, const float* row, int64_t n, int64_t dim);  // y[i] = x[i] + row
void scale(float* y, float s, int64_t n);
void softcap(float* x, float cap, int64_t n);

// y (n, dim) = table[ids[i]]; ids is HOST memory (n), already checked against vocab.
void embedding(float* y, const void* table, DType tt, const int32_t* ids_host, int64_t n, int64_t dim);

// Rotate-half RoPE in place on x (n, n_heads·head_dim) with cos/sin (n, head_dim/2).
void rope(float* x, int64_t n, int n_heads, int head_dim, const float* cos, const float* sin);

// Which attention kernel runs: Auto picks decode (split-K over the keys) for n <= 32; for prompts
// of 64+ tokens when GEMMs round x once, the tensor-core flash kernel (Flash: q, k, v and the
// probabilities rounded to bf16, scores kept on chip; head_dim 64/128/256) or, for other head
// sizes, Gemm (cuBLAS bf16 QKᵀ and PV with an f32 softmax between, the scores in memory); and the
// tiled f32 prefill kernel otherwise. The others force one (tests run every path on one input).
enum class AttentionPath { Auto, Prefill, Decode, Generic, Gemm, Flash };
// out (n, h·d) = softmax(q kᵀ · scale [capped, masked]) v; q (n, h·d) f32, k and v (t, hk·d) in
// kv_dtype (f32, or bf16 to halve the cache's bytes).
void attention(float* out, const float* q, const void* k, const void* v, DType kv_dtype, int64_t n, int64_t t,
               const AttentionParams& p, AttentionPath path = AttentionPath::Auto);

// One query (the decode step) at the position *pos (device memory) over cache rows 0..*pos;
// capacity is the cache's row count (it sizes the split-K launch so a CUDA graph can replay it).
// *pos and the cache rows before it must not be written by the kernel launched just before
// (the step copies pos in first; earlier rows come from earlier steps): they are read early.
// scratch: attention_at_scratch(capacity, p) floats owned by the caller (a recorded graph keeps
// pointing at it), zeroed when allocated: its head holds counters every launch leaves at zero.
int64_t attention_at_scratch(int64_t capacity, const AttentionParams& p);
void attention_at(float* out, const float* q, const void* k, const void* v, DType kv_dtype, const int32_t* pos,
                  int64_t capacity, const AttentionParams& p, float* scratch);
// Blocks per cluster in attention_at's kernel (8 on sm_90, else 0: no clusters); tests set 0 or a
// positive size to run each form (-1: back to the default).
int attention_cluster();
void set_attention_cluster(int size);

// ---- the decode step's fused kernels (kernels/decode.cu) ------------------------------------

// x += delta (delta may be null); h = rms_norm(x) · w. x, h (n, dim). With delta_w (dtype delta_wt),
// delta is normed first: x += rms_norm(delta) · delta_w (delta itself is left as it was).
void add_rms_norm(float* x, const float* delta, float* h, const void* w, DType wt, int64_t n, int64_t dim, float eps,
                  bool plus_one, const void* delta_w = nullptr, DType delta_wt = DType::F32);
// y (n, inter) = act(gu[:, :inter]) · gu[:, inter:], gu (n, 2·inter); act: SiLU or tanh-GELU.
void act_mul(float* y, const float* gu, int64_t n, int64_t inter, int act, bool act_on_second);
void split_qkv_rope(float* q, float* k, float* v, const float* qkv, int64_t n, int n_heads, int head_dim, const float* cos,
                    const float* sin);
// One token's q|k|v row (h·d + 2·hk·d): q (h·d) = rope(norm(q)); cache rows *pos get rope(norm(k))
// and v. cos/sin (capacity, d/2); q_norm/k_norm (d) may be null (no per-head norm).
// lora_B (h·d + 2·hk·d, r) and lora_t (r) may be null; else qkv += lora_B · lora_t first.
void qkv_rope_cache(float* q, void* k_cache, void* v_cache, DType kv_dtype, const float* qkv, const float* cos,
                    const float* sin, const int32_t* pos, const void* q_norm, const void* k_norm, DType norm_dtype,
                    int n_heads, int n_kv_heads, int head_dim, float eps, bool plus_one, const float* lora_B = nullptr,
                    const float* lora_t = nullptr, int64_t r = 0);
// y (n, dim) = table[ids] · mult with ids in DEVICE memory.
void embedding_at(float* y, const void* table, DType tt, const int32_t* ids, int64_t n, int64_t dim, float mult);
// dst (n) in bf16 or f16 = src (n) f32 rounded to nearest even.
void cast_f32(void* dst, DType dt, const float* src, int64_t n);
// ids (n) = index of the first maximum of each row of x (n, dim).
void argmax(int32_t* ids, const float* x, int64_t n, int64_t dim);

// T2L's L-head halves -> A_all (rows, r·in = width) and B_all (rows, out, r), offsets added, divided by div.
void lora_a_from_head(float* A, const float* head_a, const float* offset_a, int64_t rows, int64_t layers, int64_t width,
                      float div);
void lora_b_from_head(float* B, const float* head_b, const float* offset_b, int64_t rows, int64_t layers, int64_t r,
                      int64_t out, float div);

// ---- the whole decode step as one persistent kernel (kernels/fused_step.cu) -----------------

// One layer as the fused step reads it: bf16 weights (out, in) with q|k|v and gate|up stacked,
// bf16 norm weights and caches (capacity, n_kv_heads·128); an unmerged LoRA on q|k|v as
// Decoder's StepLora: A (r, hidden) f32 and B (q|k|v rows, r) f32 with the scale folded in.
struct FusedLayer {
    const void *qkv = nullptr, *o = nullptr, *gate_up = nullptr, *down = nullptr;
    const void *in_norm = nullptr, *post_norm = nullptr;
    void *k_cache = nullptr, *v_cache = nullptr;
    const float *lora_A = nullptr, *lora_B = nullptr;
    int lora_r = 0;
};
struct FusedStepShape {
    int hidden = 0, inter = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab = 0;
};
// The step's arguments. x (hidden) holds the token's embedding on entry; logits (vocab) come out.
// Scratch, owned by the caller: qkv (q|k|v rows), ctx (n_heads·128), act (inter), part
// (n_heads · attn_chunks · 130), lora_t (the largest r), counters (fused_step_counters()).
struct FusedStepArgs {
    int hidden = 0, inter = 0, n_heads = 0, n_kv_heads = 0, n_layers = 0, vocab = 0;
    int window = 0;       // keys a query sees (0: all)
    int attn_chunks = 0;  // fused_step_attn_chunks(n_kv_heads)
    int merge_stage = 0;  // attention chunks merged in a stage of their own (else by each KV head's last chunk)
    int inflight = 0;     // weight tiles the producer keeps requested at once (0: the whole ring)
    float eps = 0, attn_scale = 0;
    const int32_t* pos = nullptr;            // the token's position (device)
    const float *cos = nullptr, *sin = nullptr;  // (capacity, 64) rotary tables
    const void *final_norm = nullptr, *lm_head = nullptr;
    float *x = nullptr, *qkv = nullptr, *ctx = nullptr, *act = nullptr, *part = nullptr, *lora_t = nullptr;
    float* logits = nullptr;
    unsigned* counters = nullptr;
    uint64_t* prof = nullptr;  // timing marks (T2L_FUSED_PROFILE), else null
};
// Whether this GPU and these shapes can take the fused step (why not, when it can't); whether it
// is switched on (off unless T2L_FUSED_STEP=1: measured slower than the op-by-op step, see
// fused_step.cu; tests force either form with set_fused_step: 1 on, 0 off, -1 the default).
bool fused_step_supported(const FusedStepShape& shape, std::string* why = nullptr);
bool fused_step_enabled();
void set_fused_step(int on);
// How attention's chunks are merged: in a stage of their own (the default) or by each KV head's
// last chunk (T2L_FUSED_MERGE=last); tests force either with set_fused_merge (1 stage, 0 last, -1 default).
bool fused_merge_stage();
void set_fused_merge(int stage);
int fused_step_attn_chunks(int n_kv_heads);
int fused_step_counters();
// layers: n_layers FusedLayer in DEVICE memory.
void fused_step(const FusedStepArgs& args, const FusedLayer* layers);

// CUDA graphs of the kernels above and the other ops: begin capturing what this thread launches,
// end (returns the instantiated graph), replay it, or drop a failed capture.
void graph_begin();
std::shared_ptr<void> graph_end();
void graph_launch(const std::shared_ptr<void>& exec);
void graph_abort();
// A small host -> device copy queued in order with the kernels (no wait for them).
void copy_to_device_async(void* dst, const void* src_host, size_t nbytes);

// Prompt GEMMs with bf16/f16 weights: round x once (default, as bf16 engines do) or split it into
// two rounded halves for f32-level accuracy (T2L_GEMM=split). Also picks the prompt attention:
// rounded once, long prompts take the tensor-core attention (attention.cu, "gemm" path).
void set_gemm_split(bool split);
bool gemm_split();

// ---- for the benchmark (tools/bench_kernels.cu) --------------------------------------------

// The GEMV's launch shape: output rows per warp, 16-byte loads in flight per row and lane,
// threads per block. linear() uses gemv_default_config (by n, and for n = 1 by whether a warp
// per output row fits on the GPU at once); the benchmark sweeps the others it was chosen from.
struct GemvConfig {
    int rows_per_warp = 1;     // 1, 2, 4 or 8
    int unroll = 4;            // 1, 2, 4 or 8
    int threads = 256;         // a multiple of 32, at most 1024
    bool l2_prefetch = false;  // the weight loads ask L2 for 256-byte blocks (.L2::256B)
};
GemvConfig gemv_default_config(int64_t n, int64_t out, DType wt);
// One row x times two weights in one launch: y (out) = x wᵀ and y2 (out2) = x w2ᵀ, w2 in f32 (an
// unmerged LoRA's A beside its projection). False, with nothing launched, when the rows are not
// 16-byte aligned: the caller then makes two linear() calls.
bool linear_pair(float* y, const float* x, const void* w, DType wt, int64_t in, int64_t out, float* y2, const float* w2,
                 int64_t out2);
// One row x, the stacked gate|up weight w (2·inter, in): y (inter) = act(x·w[:inter]ᵀ) ∘ (x·w[inter:]ᵀ)
// in one launch (act as in act_mul). False, with nothing launched, when the rows are not 16-byte
// aligned: the caller then runs linear() and act_mul().
bool linear_glu(float* y, const float* x, const void* w, DType wt, int64_t in, int64_t inter, int act);
// While one lives, this thread's GEMV launches (n <= 8: linear, linear_pair, linear_glu) start
// early under programmatic dependent launch only if `allow`; the other kernels keep it. The
// decode step launches its LM head plainly. Measured on the H200, Llama-8B shapes, one machine:
// every GEMV early but the LM head 234.5 - 234.9 tok/s, all early 234.0 - 234.4; before the GEMVs
// requested their first weights before waiting (linear.cu (5)), launching them early was slower
// than plainly for models this wide. T2L_PDL=nogemv forces every GEMV plain, T2L_PDL=1 early,
// T2L_PDL=0 turns every early launch off.
class GemvPdl {
public:
    explicit GemvPdl(bool allow);
    ~GemvPdl();
    GemvPdl(const GemvPdl&) = delete;
    GemvPdl& operator=(const GemvPdl&) = delete;

private:
    bool saved_;
};
// What the skinny GEMM does with each finished sum (before it is stored).
struct SkinnyEpilogue {
    int act = -1;               // -1 none; else y = act(x·wᵀ + bias), act as in act_mul (no accumulate)
    bool glu = false;           // w is a stacked (2·out, in): y = act(x·w[:out]ᵀ) ∘ (x·w[out:]ᵀ), no bias
    bool act_on_second = false; // glu: y = (x·w[:out]ᵀ) ∘ act(x·w[out:]ᵀ) instead (gte's up|gate)
};
// f32 weights and 2..64 rows of x on the tensor cores at f32 accuracy (skinny_gemm.cu); bias f32
// or null. False, with nothing launched, for shapes it does not take (in % 16, alignment, n) or
// with T2L_SKINNY=0: the caller then takes the GEMV / cuBLAS path.
bool linear_skinny(float* y, const float* x, const float* w, const float* bias, int64_t n, int64_t in, int64_t out,
                   bool accumulate = false, SkinnyEpilogue ep = {});
// How the skinny GEMM cuts its work (benchmarks; set_skinny_config(nullptr) restores the defaults).
struct SkinnyConfig {
    int rows_per_warp = 0;         // 16-row tiles per warp: 1 or 2; 0 picks (1)
    int ks = 0;                    // blocks per cluster splitting k (1..8); 0 picks by the rules below
    int blocks_per_sm = 3;         // k is split while it keeps the blocks under this many per SM ...
    int min_kblocks_per_warp = 2;  // ... while each warp keeps at least this many 16-wide k blocks
};
void set_skinny_config(const SkinnyConfig* c);
// The GEMV alone (n <= 8), with an explicit configuration.
void linear_gemv(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n,
                 int64_t in, int64_t out, const GemvConfig& cfg, bool accumulate = false);
// The cuBLAS path alone (any n).
void linear_gemm(float* y, const float* x, const void* w, DType wt, const void* bias, DType bt, int64_t n,
                 int64_t in, int64_t out, bool accumulate = false);
// Block until the queued work is done; throws if any of it failed.
void synchronize();

}  // namespace t2l::cuda
