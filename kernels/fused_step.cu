// fused_step.cu — the layers of a LLaMA/Mistral decode step (batch 1, bf16) as one persistent kernel.
//
// Why: a decode step is a stream of weights (15 GB at Llama-8B shapes) with a little arithmetic
// between the matrix products. Launched as ~9 kernels a layer, the stream stops at every kernel
// boundary: the GEMV drains, the norm, RoPE and attention run on an idle memory system, the next
// GEMV ramps up. Measured, those boundaries cost a fifth of the step (decode.cu, linear.cu). Here
// one block per SM lives for the whole step, and its weight stream never waits for activations:
//
//   producer warp (one lane): walks this block's share of every weight of every layer, in the
//     order the consumers use them, and copies it tile by tile (up to 32 KB, whole rows) into a
//     ring of kSlots shared-memory slots with the bulk-copy engine (cp.async.bulk + mbarrier).
//     Weights never depend on activations, so it runs ahead by up to the ring's 192 KB (~6 us of
//     this SM's share of HBM) while the consumers wait for a norm, a barrier or attention.
//   consumer warps (8): per stage, wait until the inputs are complete (a counter per stage in
//     global memory that every block bumps when its part is written), load the input row into
//     registers (warp w multiplies row w / wpr of each tile, segment w % wpr of it, so it keeps
//     the same segment of the input all stage), multiply the tiles as they land and release each
//     slot, then write their rows' results.
//
// Stages of layer l (x is the f32 residual, in global memory; every block owns a slice of rows of
// each projection, rotated by layer so the blocks with one row more change from layer to layer):
//   qkv    h = rms_norm(x)·w_in (each block computes the norm itself), y = W_qkv h; unmerged LoRA
//          on q/k/v: t = A h by a few blocks first, then every block adds B t to its rows
//   attn   items (kv head, chunk of keys): RoPE on q (the group's heads) and on the new k, the new
//          k and v into the bf16 cache, a flash-decoding partial (m, l, o) per query head; then
//          one block per query head merges its chunks into ctx after a barrier (or, with
//          T2L_FUSED_MERGE=last, the block that finishes a KV head's last chunk merges its heads)
//   o      x += W_o ctx
//   gu     h = rms_norm(x)·w_post, act = silu(W_gate h) · (W_up h)
//   down   x += W_down act
// then the final norm and the LM head as one more stage: logits = W_lm rms_norm(x)·w_final.
// CPU twin: Decoder::run_step's op-by-op path (src/models/decoder.cpp), which the [cuda] test
// compares it with step by step (same f32 arithmetic, sums in another order: 1e-5 - 3e-4 of the
// largest logit over 24 steps, with and without a q/v LoRA).
// Requirements (checked by fused_step_supported): sm_90, bf16 weights with q|k|v and gate|up
// stacked, head_dim 128, at most 4 query heads per KV head, hidden <= 4096, every row at most
// 32 KB, a bf16 cache.
//
// Measured (H200, Llama-8B shapes, 512-token context; T2L_FUSED_PROFILE=N with T2L_CUDA_GRAPH=0
// prints where step N's time goes, per layer and stage): it is SLOWER than the op-by-op step, so
// it is off unless T2L_FUSED_STEP=1.
//   (1) consumers as first written (every thread owns columns of every row; a shared-memory
//       atomic and a warp reduction per row and warp): 162 tok/s against 236 — the GEMV stages
//       were compute-bound (0.41 us a 4096-wide row). Streaming alone (no multiplies) reached 246.
//   (2) a warp per row segment, one reduction per tile: 206.5 tok/s. The GEMV stages now run at
//       HBM speed, but ~50 us of every ~142 us layer is spent between them (four windows: qkv ->
//       attention -> merge -> o, o -> gate|up, gate|up -> down, down -> next qkv) and the ring
//       hides only ~6 us of each. Each window is a chain of global round trips (epilogue, release,
//       acquire poll, input load, norm weights), and with the ring refilling at full HBM rate
//       those round trips take microseconds each.
//   (3) asking L2 for 4 - 32 tiles beyond the ring (cp.async.bulk.prefetch): 179 -> 129 tok/s as
//       the distance grows (the prefetched lines are evicted before use and the extra traffic
//       slows the round trips further); weight copies marked evict_first: 188 against 191.
//   (4) norm weights copied (cp.async) and the first keys and values loaded before the barrier,
//       the block's residual rows kept in shared memory, the attention's reductions batched, and
//       the merge done by each KV head's last chunk: 191 tok/s; with the L2 prefetch's walker
//       taken out of the producer again (plain loops) and the merge's loads unrolled: 216.2 -
//       216.6 tok/s, 218.9 - 219.1 with T2L_FUSED_MERGE=stage, 212.4 - 213.3 with an unmerged q/v
//       LoRA, against 236.0 - 236.4 op by op in the same run.
//   (5) the producer keeps at most 2 tiles requested and not yet landed (T2L_FUSED_INFLIGHT; the
//       rest of the ring still fills): 214.9 - 217.8 against 212.5 - 214.6 tok/s for the whole ring,
//       1 tile starves the stream (209); the merge as a stage of its own, now the default
//       (T2L_FUSED_MERGE=last for the other): 219.2 - 220.2, against 233 - 237 op by op. A finer
//       profile (per layer): the GEMVs 89 us, the windows 43 us, of which loading an input row
//       from L2 is 3.3 - 4.7 us per stage and an epilogue's release 2 - 3.5 us: with the weights
//       streaming, one L2 round trip costs ~3 us. Tried and dropped: activations handed over as
//       tagged 8-byte values that every thread polls (no counters, no fences): 182 - 188 tok/s, the
//       polling traffic slows every window; the input row copied into shared memory once per
//       block instead of once per tile row: its load 4.6 -> 3.3 us but the step no faster (219.7);
//       fewer attention chunks per KV head (8, 4), so the merges land on idle blocks: 212.7, 207.7.
// What would make it pay: fewer round trips per window than the op-by-op step's kernel
// boundaries cost, or a deeper on-chip buffer than 192 KB (each window hides only ~6 us).
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops_common.cuh"
#include "ops_cuda.h"

namespace t2l::cuda {

namespace {

constexpr int kConsumerWarps = 8;
constexpr int kConsumers = kConsumerWarps * 32;  // threads that compute
constexpr int kThreads = kConsumers + 32;        // + the producer warp
constexpr int kSlots = 6;
constexpr int kSlotBytes = 32 * 1024;
constexpr int kMaxChunks = 8;       // 16-byte chunks of one weight row per consumer thread: in <= 16384
constexpr int kMaxRows = 2048;      // rows of one stage one block owns
constexpr int kMaxOwn = 64;         // rows of x one block owns (hidden / blocks)
static_assert(kMaxOwn <= kConsumerWarps * 32, "a consumer thread per owned row");
constexpr int kMaxNorm = 4096;      // hidden size
constexpr int kHeadDim = 128;
constexpr int kMaxGroup = 4;        // query heads per KV head
constexpr int kMarks = 17;          // timing marks per layer (T2L_FUSED_PROFILE)
constexpr int kProfLayers = 64;     // layers the profile buffer has room for

// Stage counters (each block adds one when its part is written; a merge adds one per KV head, or
// per query head as a stage of its own), then one per KV head (its attention chunks done).
enum Counter { kQkvDone, kAttnDone, kMergeDone, kODone, kGuDone, kDownDone, kLoraDone, kCounters };
constexpr int kMaxKvHeads = 64;

struct Smem {
    alignas(128) unsigned char ring[kSlots][kSlotBytes];
    float rows[kMaxRows];                                   // this stage's row sums
    float attn_o[kConsumerWarps][kMaxGroup][kHeadDim];      // per warp, per head: unnormalised o
    float attn_ml[kConsumerWarps][kMaxGroup][2];            // and its running max and sum
    float red[kConsumerWarps];
    float xrows[kMaxOwn];                                   // this block's rows of x (o and down)
    alignas(16) __nv_bfloat16 norm[kMaxNorm];               // the stage's RMSNorm weight
    double redd[kConsumerWarps];
    alignas(8) uint64_t full[kSlots], empty[kSlots];
};

// ---- synchronisation primitives -------------------------------------------------------------
// sm_90 instructions: the device code below is compiled for sm_90 only (the sm_80 build of the
// kernel is a trap; the host never launches it there).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900

constexpr int kPart = kHeadDim + 2;  // an attention partial: m, l, o[128]

// T2L_FUSED_PROFILE: thread 0 of each block stamps the time at kMarks points of every layer.
__device__ __forceinline__ void stamp(uint64_t* prof, int layer, int point, uint64_t t) {
    prof[((int64_t)blockIdx.x * kProfLayers + layer) * kMarks + point] = t;
}
__device__ __forceinline__ void mark(uint64_t* prof, int layer, int point) {
    if (prof && threadIdx.x == 0) {
        uint64_t t;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
        stamp(prof, layer, point, t);
    }
}
// The same, once `dep` has been computed (the loads it sums have landed).
__device__ __forceinline__ void mark_after(uint64_t* prof, int layer, int point, double dep) {
    if (prof && threadIdx.x == 0) {
        uint64_t t;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t) : "d"(dep));
        stamp(prof, layer, point, t);
    }
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(uint64_t* b, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(b)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect(uint64_t* b, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
}
// Returns once the barrier's phase with this parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* b, unsigned parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n"
        "}\n" ::"r"(smem_addr(b)),
        "r"(parity)
        : "memory");
}
// The consumer warps' barrier (the producer warp never takes part).
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, %0;" ::"n"(kConsumers) : "memory"); }

// Block-to-block: the writer's threads finish, one thread counts the block in with a release add;
// the reader's first thread polls the count with acquire loads and releases the others. Data
// written by other blocks in this launch is read with __ldcg (L2), never from a stale L1 line.
__device__ __forceinline__ void signal(unsigned* counter) {
    consumers_sync();
    if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
}
__device__ __forceinline__ void wait_for(const unsigned* counter, unsigned target) {
    if (threadIdx.x == 0) {
        unsigned v;
        for (;;) {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(counter) : "memory");
            if (v >= target) break;
        }
    }
    consumers_sync();
}

// ---- the schedule both roles walk ----------------------------------------------------------

// Rows [r0, r1) of a (rows, in) bf16 matrix that block b of g owns.
struct Range {
    const __nv_bfloat16* w;
    int64_t r0, r1;
    int in;
};
__device__ __forceinline__ Range share(const void* w, int64_t rows, int in, int b, int g) {
    return Range{static_cast<const __nv_bfloat16*>(w), rows * b / g, rows * (b + 1) / g, in};
}
// Whole rows per tile: the largest power of two that fits a slot, at most one per consumer warp.
__device__ __forceinline__ int rows_per_tile(int in) {
    int r = 1;
    while (r < kConsumerWarps && 2 * r * in * 2 <= kSlotBytes) r *= 2;
    return r;
}

// The ranges of one stage of one layer (stage 0..3: qkv, o, gate|up, down; 4: the LM head).
struct Stage {
    Range part[2];
    int n;
};
__device__ __forceinline__ Stage stage_ranges(const FusedStepArgs& a, const FusedLayer& L, int layer, int stage) {
    const int g = gridDim.x;
    const int b = (blockIdx.x + layer * 37) % g;  // rotate which blocks own one row more
    const int qkv_rows = (a.n_heads + 2 * a.n_kv_heads) * kHeadDim, qd = a.n_heads * kHeadDim;
    Stage s;
    s.n = 1;
    switch (stage) {
        case 0: s.part[0] = share(L.qkv, qkv_rows, a.hidden, b, g); break;
        case 1: s.part[0] = share(L.o, a.hidden, qd, b, g); break;
        case 2: {  // gate rows and the same rows of up: the activation pairs them in this block
            s.part[0] = share(L.gate_up, a.inter, a.hidden, b, g);
            s.part[1] = s.part[0];
            s.part[1].w += (int64_t)a.inter * a.hidden;
            s.n = 2;
            break;
        }
        case 3: s.part[0] = share(L.down, a.hidden, a.inter, b, g); break;
        default: s.part[0] = share(a.lm_head, a.vocab, a.hidden, blockIdx.x, g); break;
    }
    return s;
}

// ---- producer ---------------------------------------------------------------------------------

__device__ void produce(Smem& sm, const FusedStepArgs& a, const FusedLayer* layers) {
    uint32_t tile = 0;
    const uint32_t ahead = a.inflight > 0 && a.inflight < kSlots ? (uint32_t)a.inflight : kSlots;
    auto stream = [&](const Stage& s) {
        for (int p = 0; p < s.n; p++) {
            const Range& r = s.part[p];
            const int per = rows_per_tile(r.in);
            for (int64_t row = r.r0; row < r.r1; row += per) {
                const unsigned slot = tile % kSlots, round = tile / kSlots;
                mbar_wait(&sm.empty[slot], (round & 1) ^ 1);  // the consumers are done with it
                if (ahead < kSlots && tile >= ahead) {  // at most `ahead` tiles requested, not yet landed
                    const uint32_t t = tile - ahead;
                    mbar_wait(&sm.full[t % kSlots], (t / kSlots) & 1);
                }
                const unsigned bytes = (unsigned)(min((int64_t)per, r.r1 - row) * r.in * 2);
                mbar_arrive_expect(&sm.full[slot], bytes);
                asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                                 smem_addr(sm.ring[slot])),
                             "l"(r.w + row * r.in), "r"(bytes), "r"(smem_addr(&sm.full[slot]))
                             : "memory");
                tile++;
            }
        }
    };
    for (int l = 0; l < a.n_layers; l++) {
        const FusedLayer L = layers[l];
        for (int st = 0; st < 4; st++) stream(stage_ranges(a, L, l, st));
    }
    stream(stage_ranges(a, layers[0], 0, 4));
}

// ---- consumers: the GEMV of one stage ---------------------------------------------------------

// How the consumer warps cover a tile of `rows_per_tile(in)` rows: warp w multiplies row w / wpr of
// the tile, segment w % wpr of it (wpr = warps per row), lane l its 16-byte chunks l, l + 32, ...
// of the segment. Every warp keeps its segment of the input in registers for the whole stage, and
// a tile costs it one batch of independent shared-memory loads and one warp reduction.
struct Cover {
    int chunks;  // 16-byte chunks of a row (in / 8)
    int wpr;     // warps per row
    int seg;     // chunks per segment
    int first;   // this warp's first chunk
    int row;     // this warp's row within a tile
};
__device__ __forceinline__ Cover cover_of(int in) {
    Cover c;
    const int warp = threadIdx.x >> 5;
    c.chunks = in / 8;
    c.wpr = kConsumerWarps / rows_per_tile(in);
    c.seg = (c.chunks + c.wpr - 1) / c.wpr;
    c.first = (warp % c.wpr) * c.seg;
    c.row = warp / c.wpr;
    return c;
}
// Chunk j of this lane, or -1 past the segment's end.
__device__ __forceinline__ int chunk_of(const Cover& c, int j) {
    const int k = (threadIdx.x & 31) + 32 * j;
    return k < c.seg && c.first + k < c.chunks ? c.first + k : -1;
}

// Floats 8c .. 8c + 7 of p, through L2 (p may have been written by another block in this launch).
__device__ __forceinline__ void load8(float (&f)[8], const float* p, int c) {
    const float4 lo = __ldcg(reinterpret_cast<const float4*>(p) + 2 * c);
    const float4 hi = __ldcg(reinterpret_cast<const float4*>(p) + 2 * c + 1);
    f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w, f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
}

// The input row as this lane holds it (chunk j of its segment, widened to f32; normalised when a
// norm weight is given).
struct Input {
    float v[kMaxChunks][8];
};

// The norm weights this lane will scale its input chunks by, loaded before the stage waits for
// its input (they do not depend on it): one memory round trip fewer after the barrier.
// Each lane copies its own chunks into sm.norm asynchronously (cp.async) and waits for them in
// load_input.
__device__ __forceinline__ void load_norm(Smem& sm, const __nv_bfloat16* norm, int n) {
    const Cover cv = cover_of(n);
#pragma unroll
    for (int j = 0; j < kMaxChunks; j++) {
        const int c = chunk_of(cv, j);
        if (c >= 0)
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(&sm.norm[8 * c])), "l"(norm + 8 * c)
                         : "memory");
    }
}

__device__ __forceinline__ void load_input(Input& in, Smem& sm, const float* src, int n, bool norm, float eps,
                                           uint64_t* prof = nullptr, int layer = 0, int point = 0) {
    const Cover cv = cover_of(n);
    double ss = 0.0;
#pragma unroll
    for (int j = 0; j < kMaxChunks; j++) {
        const int c = chunk_of(cv, j);
        if (c >= 0) {
            float f[8];
            load8(f, src, c);
#pragma unroll
            for (int e = 0; e < 8; e++) {
                in.v[j][e] = f[e];
                ss += (double)f[e] * f[e];
            }
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) in.v[j][e] = 0.0f;
        }
    }
    if (!norm) return;
    mark_after(prof, layer, point, ss);
    // rms over the row, as add_rms_norm: double sums, 1 / sqrt(mean + eps) in double. The warps of
    // tile row 0 hold the row once between them.
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) sm.redd[threadIdx.x >> 5] = cv.row == 0 ? ss : 0.0;
    consumers_sync();
    double total = 0.0;
#pragma unroll
    for (int w = 0; w < kConsumerWarps; w++) total += sm.redd[w];
    consumers_sync();
    const float inv = (float)(1.0 / sqrt(total / (double)n + (double)eps));
    asm volatile("cp.async.wait_all;" ::: "memory");  // this lane's norm chunks (load_norm)
#pragma unroll
    for (int j = 0; j < kMaxChunks; j++) {
        if (chunk_of(cv, j) >= 0) {
            float g[8];
            Pack16<__nv_bfloat16>::unpack(*reinterpret_cast<const uint4*>(&sm.norm[8 * chunk_of(cv, j)]), g);
#pragma unroll
            for (int e = 0; e < 8; e++) in.v[j][e] = (in.v[j][e] * inv) * g[e];
        }
    }
}

// This warp's part of w_row · input: its segment of one weight row (bf16, in shared memory), the
// loads issued in batches before their multiplies, two accumulators.
__device__ __forceinline__ float dot_segment(const uint4* row, const Cover& cv, const Input& in) {
    float acc[2] = {0.0f, 0.0f};
#pragma unroll
    for (int j0 = 0; j0 < kMaxChunks; j0 += 4) {  // 4 loads in flight, then their multiplies
        uint4 w[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = chunk_of(cv, j0 + j);
            if (c >= 0) w[j] = row[c];
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (chunk_of(cv, j0 + j) >= 0) {
                float f[8];
                Pack16<__nv_bfloat16>::unpack(w[j], f);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[e & 1] = fmaf(f[e], in.v[j0 + j][e], acc[e & 1]);
            }
        }
    }
    return acc[0] + acc[1];
}

// sm.rows[k] = the dot products of this block's rows of the stage with the input, k counting the
// stage's rows in order (part 0 first). Tiles come from the ring in the producer's order.
__device__ __forceinline__ void gemv_stage(Smem& sm, const Stage& s, const Input& in, uint32_t& tile) {
    const int lane = threadIdx.x & 31;
    int k0 = 0;
    for (int p = 0; p < s.n; p++) {
        const Range& r = s.part[p];
        const Cover cv = cover_of(r.in);
        const int per = rows_per_tile(r.in);
        for (int64_t row = r.r0; row < r.r1; row += per) {
            const int rows = (int)min((int64_t)per, r.r1 - row);
            const unsigned slot = tile % kSlots, round = tile / kSlots;
            mbar_wait(&sm.full[slot], round & 1);
            if (cv.row < rows) {
                const float acc = warp_sum(dot_segment(reinterpret_cast<const uint4*>(sm.ring[slot]) + (int64_t)cv.row * cv.chunks, cv, in));
                if (lane == 0) atomicAdd(&sm.rows[k0 + (int)(row - r.r0) + cv.row], acc);
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(&sm.empty[slot]);
            tile++;
        }
        k0 += (int)(r.r1 - r.r0);
    }
    consumers_sync();  // every warp's sums are in sm.rows
}

__device__ __forceinline__ int stage_rows(const Stage& s) {
    int n = 0;
    for (int p = 0; p < s.n; p++) n += (int)(s.part[p].r1 - s.part[p].r0);
    return n;
}

// ---- consumers: attention --------------------------------------------------------------------

// Rotate-half RoPE of the 4 dims lane holds (dims 4·lane .. 4·lane + 3; the partner of dim d is
// d ± 64, held by lane ^ 16).
__device__ __forceinline__ void rope4(float (&v)[4], const float* cos, const float* sin, int lane) {
    float other[4];
#pragma unroll
    for (int e = 0; e < 4; e++) other[e] = __shfl_xor_sync(0xffffffffu, v[e], 16);
    const int j = (4 * lane) & (kHeadDim / 2 - 1);
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const float c = cos[j + e], s = sin[j + e];
        // first half: a c - b s (b = dim + 64); second half: b c + a s (a = dim - 64)
        v[e] = lane < 16 ? v[e] * c - other[e] * s : v[e] * c + other[e] * s;
    }
}

__device__ __forceinline__ void load4(float (&v)[4], const float* p) {
    const float4 f = __ldcg(reinterpret_cast<const float4*>(p));
    v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
}
__device__ __forceinline__ void bf16x4(float (&v)[4], uint2 raw) {
    v[0] = __uint_as_float(raw.x << 16), v[1] = __uint_as_float(raw.x & 0xffff0000u);
    v[2] = __uint_as_float(raw.y << 16), v[3] = __uint_as_float(raw.y & 0xffff0000u);
}
__device__ __forceinline__ uint2 to_bf16x4(const float (&v)[4]) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 r;
    memcpy(&r.x, &a, 4);
    memcpy(&r.y, &b, 4);
    return r;
}

// ctx[h, d]: the chunks' partials of query head h combined.
__device__ __forceinline__ void merge_head(const FusedStepArgs& a, int h, int d, int chunks) {
    const float* P = a.part + (int64_t)h * chunks * kPart;
    float M = -INFINITY;
#pragma unroll 16
    for (int c = 0; c < chunks; c++) M = fmaxf(M, __ldcg(P + c * kPart));
    float Ls = 0.0f, O = 0.0f;
#pragma unroll 16
    for (int c = 0; c < chunks; c++) {
        const float mc = __ldcg(P + c * kPart);
        const float f = mc == -INFINITY ? 0.0f : expf(mc - M);
        Ls += f * __ldcg(P + c * kPart + 1);
        O += f * __ldcg(P + c * kPart + 2 + d);
    }
    a.ctx[h * kHeadDim + d] = Ls > 0.0f ? O / Ls : 0.0f;
}

// The keys of item (kvh, c) and, loaded before the step's q, k and v exist, the first KB cached
// keys and values each warp will read (rows before pos were written by earlier steps).
constexpr int kAttnKB = 4;
struct KvFirst {
    uint2 k[kAttnKB], v[kAttnKB];
};
__device__ __forceinline__ void item_keys(const FusedStepArgs& a, int c, int chunks, int pos, int* lo, int* hi) {
    const int span_lo = a.window > 0 ? max(0, pos - a.window + 1) : 0;
    const int chunk = (pos + 1 - span_lo + chunks - 1) / chunks;
    *lo = span_lo + c * chunk;
    *hi = min(pos, *lo + chunk - 1);
}
__device__ __forceinline__ void load_kv_first(KvFirst& f, const FusedStepArgs& a, const FusedLayer& L, int kvh, int c,
                                              int chunks, int pos) {
    int lo, hi;
    item_keys(a, c, chunks, pos, &lo, &hi);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t kd = (int64_t)a.n_kv_heads * kHeadDim, off = kvh * kHeadDim + 4 * lane;
#pragma unroll
    for (int u = 0; u < kAttnKB; u++) {
        const int j = lo + warp + u * kConsumerWarps;
        if (j < pos && j <= hi) {
            f.k[u] = __ldg(reinterpret_cast<const uint2*>(static_cast<const __nv_bfloat16*>(L.k_cache) + j * kd + off));
            f.v[u] = __ldg(reinterpret_cast<const uint2*>(static_cast<const __nv_bfloat16*>(L.v_cache) + j * kd + off));
        }
    }
}

// One item: the query heads of KV head kvh over keys [lo, hi] (chunk c of `chunks`).
__device__ void attention_item(Smem& sm, const FusedStepArgs& a, const FusedLayer& L, int kvh, int c, int chunks,
                               int pos, unsigned layer_no, const KvFirst* first) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, group = a.n_heads / a.n_kv_heads;
    const int qd = a.n_heads * kHeadDim, kd = a.n_kv_heads * kHeadDim;
    int lo, hi;
    item_keys(a, c, chunks, pos, &lo, &hi);
    const float* cs = a.cos + (int64_t)pos * (kHeadDim / 2);
    const float* sn = a.sin + (int64_t)pos * (kHeadDim / 2);
    // q of the group's heads, rotated and scaled; the new key (rotated) and value, rounded to the
    // cache's bf16 as the cache will hold them.
    float q[kMaxGroup][4], kn[4], vn[4];
#pragma unroll
    for (int h = 0; h < kMaxGroup; h++) {
        if (h < group) {
            load4(q[h], a.qkv + (kvh * group + h) * kHeadDim + 4 * lane);
            rope4(q[h], cs, sn, lane);
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) q[h][e] = 0.0f;
        }
    }
    load4(kn, a.qkv + qd + kvh * kHeadDim + 4 * lane);
    rope4(kn, cs, sn, lane);
    load4(vn, a.qkv + qd + kd + kvh * kHeadDim + 4 * lane);
    const uint2 kb = to_bf16x4(kn), vb = to_bf16x4(vn);
    bf16x4(kn, kb);
    bf16x4(vn, vb);
    __nv_bfloat16* kc = static_cast<__nv_bfloat16*>(L.k_cache);
    __nv_bfloat16* vc = static_cast<__nv_bfloat16*>(L.v_cache);
    const int64_t row_of = kd;  // cache row stride in elements
    if (lo <= pos && pos <= hi && warp == 0) {  // this chunk holds the new position: store it
        *reinterpret_cast<uint2*>(kc + (int64_t)pos * row_of + kvh * kHeadDim + 4 * lane) = kb;
        *reinterpret_cast<uint2*>(vc + (int64_t)pos * row_of + kvh * kHeadDim + 4 * lane) = vb;
    }
    float m[kMaxGroup], l[kMaxGroup], o[kMaxGroup][4];
#pragma unroll
    for (int h = 0; h < kMaxGroup; h++) {
        m[h] = -INFINITY, l[h] = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; e++) o[h][e] = 0.0f;
    }
    // Keys lo + warp, lo + warp + 8, ...: KB at a time, every load issued before the first use.
    constexpr int KB = kAttnKB;
    for (int j0 = lo + warp; j0 <= hi; j0 += KB * kConsumerWarps) {
        float kf[KB][4], vf[KB][4];
        const bool pre = first && j0 == lo + warp;  // this batch was loaded before the barrier
#pragma unroll
        for (int u = 0; u < KB; u++) {
            const int j = j0 + u * kConsumerWarps;
            if (j < pos && j <= hi) {  // rows before pos were written by earlier steps
                const uint2 kr = pre ? first->k[u] : __ldg(reinterpret_cast<const uint2*>(kc + (int64_t)j * row_of + kvh * kHeadDim + 4 * lane));
                const uint2 vr = pre ? first->v[u] : __ldg(reinterpret_cast<const uint2*>(vc + (int64_t)j * row_of + kvh * kHeadDim + 4 * lane));
                bf16x4(kf[u], kr);
                bf16x4(vf[u], vr);
            } else {
#pragma unroll
                for (int e = 0; e < 4; e++) kf[u][e] = kn[e], vf[u][e] = vn[e];
            }
        }
        // The KB x group scores: partial dots, then all of their warp reductions interleaved
        // (independent shuffles in flight instead of one chain after another).
        float sc[KB][kMaxGroup];
#pragma unroll
        for (int u = 0; u < KB; u++)
#pragma unroll
            for (int h = 0; h < kMaxGroup; h++) {
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < 4; e++) d = fmaf(q[h][e], kf[u][e], d);
                sc[u][h] = d;
            }
#pragma unroll
        for (int off = 16; off >= 1; off /= 2)
#pragma unroll
            for (int u = 0; u < KB; u++)
#pragma unroll
                for (int h = 0; h < kMaxGroup; h++) sc[u][h] += __shfl_xor_sync(0xffffffffu, sc[u][h], off);
        // Online softmax over the KB keys at once: one rescale per head per step.
#pragma unroll
        for (int h = 0; h < kMaxGroup; h++) {
            if (h >= group) break;
            float mx = m[h];
#pragma unroll
            for (int u = 0; u < KB; u++) {
                sc[u][h] = j0 + u * kConsumerWarps <= hi ? sc[u][h] * a.attn_scale : -INFINITY;
                mx = fmaxf(mx, sc[u][h]);
            }
            const float alpha = expf(m[h] - mx);  // key j0 is visible: mx is finite
            float ps = 0.0f;
#pragma unroll
            for (int e = 0; e < 4; e++) o[h][e] *= alpha;
#pragma unroll
            for (int u = 0; u < KB; u++) {
                const float p = expf(sc[u][h] - mx);
                ps += p;
#pragma unroll
                for (int e = 0; e < 4; e++) o[h][e] = fmaf(p, vf[u][e], o[h][e]);
            }
            l[h] = l[h] * alpha + ps;
            m[h] = mx;
        }
    }
#pragma unroll
    for (int h = 0; h < kMaxGroup; h++) {
        if (h < group) {
#pragma unroll
            for (int e = 0; e < 4; e++) sm.attn_o[warp][h][4 * lane + e] = o[h][e];
            if (lane == 0) sm.attn_ml[warp][h][0] = m[h], sm.attn_ml[warp][h][1] = l[h];
        }
    }
    consumers_sync();
    // The 8 warps' partials of each head -> this chunk's partial in global memory.
    for (int idx = tid; idx < group * kHeadDim; idx += kConsumers) {
        const int h = idx / kHeadDim, d = idx % kHeadDim;
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < kConsumerWarps; w++) M = fmaxf(M, sm.attn_ml[w][h][0]);
        float Ls = 0.0f, O = 0.0f;
        if (M != -INFINITY) {
#pragma unroll
            for (int w = 0; w < kConsumerWarps; w++) {
                const float f = expf(sm.attn_ml[w][h][0] - M);
                Ls += f * sm.attn_ml[w][h][1];
                O += f * sm.attn_o[w][h][d];
            }
        }
        float* dst = a.part + ((int64_t)(kvh * group + h) * chunks + c) * kPart;
        dst[2 + d] = O;
        if (d == 0) dst[0] = M, dst[1] = Ls;
    }
    // The block that writes a KV head's last partial merges the group's heads into ctx at once (the
    // threadfence pattern: publish, count in; the last to count sees every partial).
    __shared__ bool last;
    consumers_sync();
    if (a.merge_stage) return;
    if (tid == 0) {
        __threadfence();
        last = atomicAdd(a.counters + kCounters + kvh, 1u) == layer_no * chunks - 1;
    }
    consumers_sync();
    if (!last) return;
    __threadfence();
    for (int idx = tid; idx < group * kHeadDim; idx += kConsumers)
        merge_head(a, kvh * group + idx / kHeadDim, idx % kHeadDim, chunks);
    signal(a.counters + kMergeDone);
}

#endif  // sm_90

// ---- the kernel ---------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads, 1) fused_step_kernel(FusedStepArgs a, const FusedLayer* __restrict__ layers) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    __trap();  // launched only on sm_90 (fused_step_blocks)
#else
    extern __shared__ __align__(128) unsigned char smem_raw[];
    Smem& sm = *reinterpret_cast<Smem*>(smem_raw);
    const int tid = threadIdx.x;
    if (tid == 0) {
        for (int s = 0; s < kSlots; s++) {
            mbar_init(&sm.full[s], 1);
            mbar_init(&sm.empty[s], kConsumerWarps);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    for (int i = tid; i < kMaxRows; i += kThreads) sm.rows[i] = 0.0f;
    __syncthreads();
    if (tid >= kConsumers) {  // the producer warp
        if (tid == kConsumers) produce(sm, a, layers);
        return;
    }

    const int g = gridDim.x, b = blockIdx.x;
    const int pos = *a.pos;
    const int chunks = a.attn_chunks, items = a.n_kv_heads * chunks;
    const int qd = a.n_heads * kHeadDim;
    unsigned* cnt = a.counters;
    uint32_t tile = 0;
    Input in;
    for (int l = 0; l < a.n_layers; l++) {
        const FusedLayer L = layers[l];
        const unsigned ln = (unsigned)(l + 1);
        mark(a.prof, l, 0);
        // -- qkv --
        load_norm(sm, static_cast<const __nv_bfloat16*>(L.in_norm), a.hidden);
        if (l > 0) wait_for(cnt + kDownDone, (unsigned)l * g);
        mark(a.prof, l, 1);
        // This block's rows of x for the o and down epilogues (same rows in both, final until then),
        // requested with the input: one round trip for both.
        const Range own = stage_ranges(a, L, l, 1).part[0];
        const int n_own = (int)(own.r1 - own.r0);  // <= kMaxOwn <= kConsumers
        const float x_own = tid < n_own ? __ldcg(a.x + own.r0 + tid) : 0.0f;
        load_input(in, sm, a.x, a.hidden, true, a.eps, a.prof, l, 2);
        if (tid < n_own) sm.xrows[tid] = x_own;
        mark(a.prof, l, 3);
        for (int j = g - 1 - b; L.lora_A && j >= 0 && j < L.lora_r; j += g) {  // t = A h (f32 A)
            const Cover cv = cover_of(a.hidden);
            const float* A = L.lora_A + (int64_t)j * a.hidden;
            float acc = 0.0f;
#pragma unroll
            for (int jj = 0; jj < kMaxChunks; jj++) {
                const int c = chunk_of(cv, jj);
                if (c >= 0) {
                    float w[8];
                    load8(w, A, c);
#pragma unroll
                    for (int e = 0; e < 8; e++) acc = fmaf(w[e], in.v[jj][e], acc);
                }
            }
            acc = warp_sum(acc);
            if ((tid & 31) == 0) sm.red[tid >> 5] = cv.row == 0 ? acc : 0.0f;  // tile row 0's warps hold the row once
            consumers_sync();
            if (tid == 0) {
                float t = 0.0f;
                for (int w = 0; w < kConsumerWarps; w++) t += sm.red[w];
                a.lora_t[j] = t;
            }
            signal(cnt + kLoraDone);
        }
        Stage s = stage_ranges(a, L, l, 0);
        gemv_stage(sm, s, in, tile);
        mark(a.prof, l, 4);
        if (L.lora_A) wait_for(cnt + kLoraDone, ln * (unsigned)L.lora_r);
        for (int i = tid; i < stage_rows(s); i += kConsumers) {
            const int64_t row = s.part[0].r0 + i;
            float y = sm.rows[i];
            if (L.lora_A) {
                const float* B = L.lora_B + row * L.lora_r;
                for (int k = 0; k < L.lora_r; k++) y = fmaf(B[k], __ldcg(a.lora_t + k), y);
            }
            a.qkv[row] = y;
            sm.rows[i] = 0.0f;
        }
        signal(cnt + kQkvDone);
        mark(a.prof, l, 5);
        // -- attention: items (kv head, chunk); the last chunk of a KV head merges its heads --
        if (b < items) {
            KvFirst kv;
            load_kv_first(kv, a, L, b / chunks, b % chunks, chunks, pos);
            wait_for(cnt + kQkvDone, ln * g);
            for (int it = b; it < items; it += g)
                attention_item(sm, a, L, it / chunks, it % chunks, chunks, pos, ln, it == b ? &kv : nullptr);
            if (a.merge_stage) signal(cnt + kAttnDone);
        }
        if (a.merge_stage)  // the merge as a stage of its own: one block per query head
            for (int h = g - 1 - b; h >= 0 && h < a.n_heads; h += g) {
                wait_for(cnt + kAttnDone, ln * (unsigned)min(items, g));
                if (tid < kHeadDim) merge_head(a, h, tid, chunks);
                signal(cnt + kMergeDone);
            }
        mark(a.prof, l, 6);
        // -- o: x += W_o ctx --
        wait_for(cnt + kMergeDone, ln * (unsigned)(a.merge_stage ? a.n_heads : a.n_kv_heads));
        load_input(in, sm, a.ctx, qd, false, 0.0f);
        mark(a.prof, l, 7);
        s = stage_ranges(a, L, l, 1);
        gemv_stage(sm, s, in, tile);
        mark(a.prof, l, 8);
        for (int i = tid; i < stage_rows(s); i += kConsumers) {
            const float x1 = sm.xrows[i] + sm.rows[i];
            a.x[s.part[0].r0 + i] = x1;
            sm.xrows[i] = x1;
            sm.rows[i] = 0.0f;
        }
        signal(cnt + kODone);
        mark(a.prof, l, 9);
        // -- gate|up: act = silu(gate) * up --
        load_norm(sm, static_cast<const __nv_bfloat16*>(L.post_norm), a.hidden);
        wait_for(cnt + kODone, ln * g);
        mark(a.prof, l, 10);
        load_input(in, sm, a.x, a.hidden, true, a.eps);
        mark(a.prof, l, 11);
        s = stage_ranges(a, L, l, 2);
        gemv_stage(sm, s, in, tile);
        mark(a.prof, l, 12);
        const int half = (int)(s.part[0].r1 - s.part[0].r0);
        for (int i = tid; i < half; i += kConsumers) {
            const float gt = sm.rows[i], up = sm.rows[half + i];
            a.act[s.part[0].r0 + i] = gt / (1.0f + expf(-gt)) * up;
            sm.rows[i] = 0.0f;
            sm.rows[half + i] = 0.0f;
        }
        signal(cnt + kGuDone);
        mark(a.prof, l, 13);
        // -- down: x += W_down act --
        wait_for(cnt + kGuDone, ln * g);
        load_input(in, sm, a.act, a.inter, false, 0.0f);
        mark(a.prof, l, 14);
        s = stage_ranges(a, L, l, 3);
        gemv_stage(sm, s, in, tile);
        mark(a.prof, l, 15);
        for (int i = tid; i < stage_rows(s); i += kConsumers) {
            a.x[s.part[0].r0 + i] = sm.xrows[i] + sm.rows[i];
            sm.rows[i] = 0.0f;
        }
        signal(cnt + kDownDone);
        mark(a.prof, l, 16);
    }
    // -- the final norm and the LM head --
    load_norm(sm, static_cast<const __nv_bfloat16*>(a.final_norm), a.hidden);
    wait_for(cnt + kDownDone, (unsigned)a.n_layers * g);
    load_input(in, sm, a.x, a.hidden, true, a.eps);
    const Stage s = stage_ranges(a, layers[0], 0, 4);
    gemv_stage(sm, s, in, tile);
    for (int i = tid; i < stage_rows(s); i += kConsumers) a.logits[s.part[0].r0 + i] = sm.rows[i];
#endif
}

}  // namespace

// ---- host side ----------------------------------------------------------------------------------

int fused_step_blocks() {
    static const int n = [] {
        if (!sm90_or_newer()) return 0;
        CUDA_CHECK(cudaFuncSetAttribute(fused_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sizeof(Smem)));
        int per_sm = 0;
        CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fused_step_kernel, kThreads, sizeof(Smem)));
        return per_sm >= 1 ? sm_count() : 0;
    }();
    return n;
}

bool fused_step_supported(const FusedStepShape& s, std::string* why) {
    auto no = [&](const char* reason) {
        if (why) *why = reason;
        return false;
    };
    if (fused_step_blocks() == 0) return no("needs sm_90 and room for one 220 KB block per SM");
    if (s.head_dim != kHeadDim) return no("head_dim is not 128");
    if (s.n_kv_heads <= 0 || s.n_kv_heads > kMaxKvHeads || s.n_heads % s.n_kv_heads || s.n_heads / s.n_kv_heads > kMaxGroup)
        return no("more than 4 query heads per KV head");
    const int64_t widest = std::max<int64_t>({(int64_t)s.hidden, (int64_t)s.inter, (int64_t)s.n_heads * kHeadDim});
    if (s.hidden > kMaxNorm) return no("hidden size over 4096");
    if (s.hidden % 8 || s.inter % 8 || widest > kMaxChunks * kConsumers * 8) return no("rows longer than 16384");
    const int g = fused_step_blocks();
    const int64_t most = std::max<int64_t>({(int64_t)(s.n_heads + 2 * s.n_kv_heads) * kHeadDim, (int64_t)2 * s.inter,
                                            (int64_t)s.vocab});
    if ((most + g - 1) / g > kMaxRows || (s.hidden + g - 1) / g > kMaxOwn) return no("too many rows per block");
    return true;
}

int fused_step_attn_chunks(int n_kv_heads) {
    const int most = std::max(1, fused_step_blocks() / std::max(1, n_kv_heads));  // one item per block
    static const int want = [] {
        const char* v = std::getenv("T2L_FUSED_CHUNKS");
        return v ? std::atoi(v) : 0;
    }();
    return want > 0 ? std::min(want, most) : most;
}

namespace {
// T2L_FUSED_PROFILE=N (with T2L_CUDA_GRAPH=0): the N-th step is timed stage by stage and printed.
int profile_step() {
    static const int n = [] {
        const char* v = std::getenv("T2L_FUSED_PROFILE");
        return v ? std::atoi(v) : 0;
    }();
    return n;
}
void print_profile(const uint64_t* p, int blocks, int layers) {
    static const char* const names[kMarks - 1] = {
        "qkv in: wait", "qkv in: load", "qkv in: norm", "qkv GEMV", "qkv out+signal", "attention", "o in: wait+load",
        "o GEMV", "o out+signal", "gu in: wait", "gu in: load+norm", "gate|up GEMV", "gu out+signal",
        "down in: wait+load", "down GEMV", "down out+signal"};
    std::fprintf(stderr, "fused step profile (%d blocks, %d layers): us per layer, mean / max over blocks\n", blocks, layers);
    for (int k = 0; k + 1 < kMarks; k++) {
        double sum = 0, mx = 0;
        for (int b = 0; b < blocks; b++) {
            double per = 0;
            for (int l = 0; l < layers; l++) {
                const uint64_t* m = p + ((int64_t)b * kProfLayers + l) * kMarks;
                per += (double)(m[k + 1] - m[k]) * 1e-3;
            }
            per /= layers;
            sum += per;
            mx = std::max(mx, per);
        }
        std::fprintf(stderr, "  %-20s %7.2f %7.2f\n", names[k], sum / blocks, mx);
    }
    const uint64_t t0 = p[0], t1 = p[(int64_t)(layers - 1) * kMarks + kMarks - 1];
    std::fprintf(stderr, "  layers total (block 0) %.1f us\n", (double)(t1 - t0) * 1e-3);
}
}  // namespace

void fused_step(const FusedStepArgs& args, const FusedLayer* layers) {
    const int g = fused_step_blocks();
    if (g == 0) fail("fused decode step: not supported on this GPU");
    static int calls = 0;
    static uint64_t* prof = nullptr;
    FusedStepArgs a = args;
    a.merge_stage = fused_merge_stage() ? 1 : 0;
    static const int inflight = [] {  // measured best: 2 (a note in the header)
        const char* v = std::getenv("T2L_FUSED_INFLIGHT");
        return v ? std::atoi(v) : 2;
    }();
    a.inflight = inflight;
    const bool profile = profile_step() > 0 && ++calls == profile_step() && a.n_layers <= kProfLayers;
    if (profile) {
        if (!prof) CUDA_CHECK(cudaMalloc(&prof, (size_t)g * kProfLayers * kMarks * sizeof(uint64_t)));
        a.prof = prof;
    }
    CUDA_CHECK(cudaMemsetAsync(a.counters, 0, (kCounters + kMaxKvHeads) * sizeof(unsigned), cudaStreamPerThread));
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)g);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = sizeof(Smem);
    cfg.stream = cudaStreamPerThread;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;  // every block resident at once: they wait on each other
    attr[0].val.cooperative = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    const cudaError_t err = cudaLaunchKernelEx(&cfg, fused_step_kernel, a, layers);
    if (err != cudaSuccess) {
        cudaGetLastError();
        fail("fused decode step: launch failed: ", cudaGetErrorString(err));
    }
    if (profile) {
        std::vector<uint64_t> host((size_t)g * kProfLayers * kMarks);
        CUDA_CHECK(cudaMemcpy(host.data(), prof, host.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost));
        print_profile(host.data(), g, a.n_layers);
    }
}

int fused_step_counters() { return kCounters + kMaxKvHeads; }

namespace {
std::atomic<int> g_fused{-1};  // set_fused_step's override; -1: T2L_FUSED_STEP decides
}
bool fused_step_enabled() {
    const int v = g_fused.load(std::memory_order_relaxed);
    if (v >= 0) return v == 1;
    static const bool on = env_is("T2L_FUSED_STEP", "1");  // opt-in: slower than op by op (header)
    return on;
}
void set_fused_step(int on) { g_fused.store(on < 0 ? -1 : on ? 1 : 0, std::memory_order_relaxed); }

namespace {
std::atomic<int> g_merge{-1};  // set_fused_merge's override; -1: T2L_FUSED_MERGE decides
}
bool fused_merge_stage() {
    const int v = g_merge.load(std::memory_order_relaxed);
    if (v >= 0) return v == 1;
    static const bool last = env_is("T2L_FUSED_MERGE", "last");  // default: the merge stage (measured faster)
    return !last;
}
void set_fused_merge(int stage) { g_merge.store(stage < 0 ? -1 : stage ? 1 : 0, std::memory_order_relaxed); }

}  // namespace t2l::cuda
