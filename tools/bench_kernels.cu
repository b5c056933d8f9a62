// bench_kernels.cu — times the CUDA op kernels at Llama-3.1-8B shapes against the GPU's ceilings.
//
// `make bench-kernels` builds and runs it. It measures the two ceilings first (a device-to-
// device copy for memory bandwidth, counting bytes read + written; a cuBLAS bf16 8192³ GEMM on
// random data for matrix throughput), then for each kernel: checks its output against the CPU
// twin (all of it, or a slice where the CPU would take too long), times it (CUDA events around
// batches of launches, median of the batches, inputs rotated through copies that together
// exceed the L2 so nothing is served from cache), and prints the bytes or FLOPs it counted and
// the fraction of the ceilings reached: the datasheet's (4.8 TB/s, ~790 TFLOP/s dense bf16 as
// measured on this H200) and the one measured in this run.
//
//   GEMV (decode, n = 1..8): bytes = weights + x + y; the target is >= 85% of 4.8 TB/s.
//   GEMM (prefill, n = 512 and 2048): FLOPs = 2·n·in·out, including rounding x to bf16.
//   attention prefill: FLOPs = 4·h·d·(visible query-key pairs); decode: bytes = K + V + q + out.
// Options: --quick (fewer repetitions), --no-sweep (skip the GEMV configuration sweep).
//
// Last run (H200, `make -j16 CUDA_ARCHS='-gencode arch=compute_90,code=sm_90' build/bench-kernels
// && build/bench-kernels`): copy 4.28 TB/s, cuBLAS 8192^3 777-797 TFLOP/s;
//   GEMV n=1 down_proj 4096x14336 30.3 us = 80.7% of 4.8 TB/s; gate/up 29.9 us = 81.9%;
//     lm_head 237 us = 92.3%; all of one token's linears 4.30 ms = 72.8% (232 tokens/s bound);
//   GEMM one layer's linears: n=512 0.377 ms = 75% of 790; n=2048 1.29 ms = 88%;
//   attention prefill 2048 causal 1.27-1.34 ms = 26-27 TFLOP/s (f32 SIMT);
//   attention decode t=32768: f32 76 us = 73%, bf16 66 us = 42% of 4.8 TB/s.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "cuda_util.cuh"
#include "dtype.h"
#include "gpu.h"
#include "ops/ops_cpu.h"
#include "ops_cuda.h"

using namespace t2l;

namespace {

constexpr double kPeakBytes = 4.8e12;    // H200 HBM3e, datasheet
constexpr double kPeakFlops = 790e12;    // dense bf16 cuBLAS on random data, as measured on an H200
constexpr double kPeakF32 = 67e12;       // f32 FMA (SIMT), datasheet
double g_copy_bw = 0, g_gemm_flops = 0;  // measured in this run
int g_batches = 15, g_reps = 20;

__global__ void fill_random(void* p, DType t, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;  // splitmix64
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u = ((float)(z >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale;  // [-scale, scale)
        if (t == DType::BF16) static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(u);
        else static_cast<float*>(p)[i] = u;
    }
}

struct Buf {
    std::shared_ptr<void> mem;
    int64_t n = 0;
    DType t = DType::F32;
    void* p() const { return mem.get(); }
};
uint64_t g_seed = 1;
Buf random_buf(int64_t n, DType t, float scale = 1.0f) {
    Buf b;
    b.mem = gpu_alloc((uint64_t)n * dtype_size(t));
    b.n = n;
    b.t = t;
    fill_random<<<1024, 256>>>(b.p(), t, n, g_seed++ * 0x1234567ull, scale);
    CUDA_CHECK(cudaGetLastError());
    return b;
}
std::vector<float> to_host_f32(const void* p, DType t, int64_t n) {
    std::vector<uint8_t> raw((size_t)(n * (int64_t)dtype_size(t)));
    gpu_copy(raw.data(), false, p, true, raw.size());
    std::vector<float> f((size_t)n);
    convert_elements(DType::F32, f.data(), t, raw.data(), (size_t)n);
    return f;
}
// How many copies of `bytes` make the rotation at least 512 MiB (8x the 60 MB L2).
int copies_for(double bytes) { return (int)std::max(2.0, std::ceil(512.0 * 1024 * 1024 / bytes)); }

// Holds the GPU for `cycles` clock ticks, so the launches queued behind it run back to back.
__global__ void spin_kernel(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {
    }
}

// Median over batches of the mean time of one call (ms); fn(i) runs call i (rotate inputs by i).
// Each batch is queued behind a 1 ms spinning kernel and timed by events on the GPU: what is
// measured is the kernels' own time back to back (the gaps between kernels included), not how
// fast this host thread can launch them (several µs a launch, which a CUDA graph removes).
double time_ms(const std::function<void(int)>& fn, int reps = -1, int batches = -1) {
    if (reps < 0) reps = g_reps;
    if (batches < 0) batches = g_batches;
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++) fn(i);  // warm-up: module load, handles, clocks
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<double> ms;
    int call = 0;
    for (int bt = 0; bt < batches; bt++) {
        spin_kernel<<<1, 1>>>(2000000);
        CUDA_CHECK(cudaEventRecord(a));
        for (int r = 0; r < reps; r++) fn(call++);
        CUDA_CHECK(cudaEventRecord(b));
        CUDA_CHECK(cudaEventSynchronize(b));
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
        ms.push_back((double)t / reps);
    }
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaEventDestroy(a));
    CUDA_CHECK(cudaEventDestroy(b));
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// Largest |got - ref| / tol(i); > 1 is a failure (NaN counts as failure).
double check_err(const std::vector<float>& got, const std::vector<float>& ref, const std::function<double(size_t)>& tol) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); i++) {
        const double e = std::fabs((double)got[i] - ref[i]);
        if (std::isnan(got[i]) || std::isnan(e)) return INFINITY;
        worst = std::max(worst, e / tol(i));
    }
    return worst;
}
int g_failures = 0;
void verdict(const char* what, double worst) {
    const bool ok = worst <= 1.0;
    if (!ok) g_failures++;
    std::printf("  check %-52s err/tol %.3f %s\n", what, worst, ok ? "ok" : "FAILED");
}

std::vector<std::string> g_summary;
void summary(const std::string& s) {
    g_summary.push_back(s);
    std::printf("%s\n", s.c_str());
}

// ---- ceilings --------------------------------------------------------------------------------

void measure_ceilings() {
    const int64_t bytes = 2LL << 30;
    auto src = gpu_alloc(bytes), dst = gpu_alloc(bytes);
    CUDA_CHECK(cudaMemset(src.get(), 1, bytes));
    const double ms = time_ms([&](int) { CUDA_CHECK(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice)); }, 5, 7);
    g_copy_bw = 2.0 * bytes / (ms * 1e-3);
    std::printf("ceiling: device-to-device copy of 2 GiB: %.3f ms, %.2f TB/s read+written (%.0f%% of 4.8)\n", ms,
                g_copy_bw / 1e12, 100 * g_copy_bw / kPeakBytes);

    const int N = 8192;
    Buf A = random_buf((int64_t)N * N, DType::BF16), B = random_buf((int64_t)N * N, DType::BF16);
    auto C = gpu_alloc((uint64_t)N * N * 4);
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) fail("cublasCreate failed");
    const float alpha = 1, beta = 0;
    const double gms = time_ms([&](int) {
        if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, N, N, &alpha, A.p(), CUDA_R_16BF, N, B.p(), CUDA_R_16BF, N, &beta,
                         C.get(), CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
            fail("cublasGemmEx failed");
    }, 5, 7);
    g_gemm_flops = 2.0 * N * N * (double)N / (gms * 1e-3);
    std::printf("ceiling: cuBLAS bf16 GEMM 8192^3 (f32 out), random data: %.3f ms, %.0f TFLOP/s\n", gms, g_gemm_flops / 1e12);
    cublasDestroy(h);
}

// ---- GEMV ------------------------------------------------------------------------------------

struct Shape { const char* name; int64_t out, in; };
// Llama-3.1-8B: hidden 4096, 32 query heads and 8 KV heads of 128, MLP 14336, vocab 128256.
const Shape kLlama[] = {{"q_proj", 4096, 4096}, {"k_proj", 1024, 4096}, {"v_proj", 1024, 4096},
                        {"o_proj", 4096, 4096}, {"gate_proj", 14336, 4096}, {"up_proj", 14336, 4096},
                        {"down_proj", 4096, 14336}, {"lm_head", 128256, 4096}};

struct GemvSet {
    std::vector<Buf> w;
    Buf x, y;
    int64_t n, in, out;
};
GemvSet make_gemv(int64_t n, int64_t in, int64_t out) {
    GemvSet s;
    s.n = n;
    s.in = in;
    s.out = out;
    const int c = copies_for((double)in * out * 2);
    for (int i = 0; i < c; i++) s.w.push_back(random_buf(in * out, DType::BF16, 0.05f));
    s.x = random_buf(n * in, DType::F32);
    s.y = random_buf(n * out, DType::F32);
    return s;
}

// Check one configuration against the CPU on copy 0, then time it. Returns µs.
double run_gemv(GemvSet& s, const cuda::GemvConfig& cfg, bool check, const char* label) {
    auto call = [&](int i) {
        cuda::linear_gemv((float*)s.y.p(), (const float*)s.x.p(), s.w[(size_t)i % s.w.size()].p(), DType::BF16, nullptr,
                          DType::F32, s.n, s.in, s.out, cfg);
    };
    if (check) {
        call(0);
        const std::vector<float> got = to_host_f32(s.y.p(), DType::F32, s.n * s.out);
        const std::vector<float> x = to_host_f32(s.x.p(), DType::F32, s.n * s.in);
        std::vector<uint8_t> w((size_t)(s.in * s.out * 2));
        gpu_copy(w.data(), false, s.w[0].p(), true, w.size());
        std::vector<float> ref((size_t)(s.n * s.out));
        cpu::linear(ref.data(), x.data(), w.data(), DType::BF16, nullptr, DType::F32, s.n, s.in, s.out);
        // |x| <= 1, |w| <= 0.05: Σ|x·w| <= 0.05·in; f32 sums in a different order.
        const double tol = (4 * std::sqrt((double)s.in) + 16) * std::ldexp(1.0, -24) * 0.05 * s.in;
        verdict(label, check_err(got, ref, [&](size_t) { return tol; }));
    }
    return 1e3 * time_ms(call);
}

void bench_gemv(bool sweep) {
    std::printf("\n== GEMV (decode), bf16 weights, f32 x/y: bytes = weights + x + y ==\n");
    double layer_us = 0, head_us = 0, layer_bytes = 0, head_bytes = 0;
    for (const Shape& sh : kLlama) {
        GemvSet s = make_gemv(1, sh.in, sh.out);
        const cuda::GemvConfig cfg = cuda::gemv_default_config(1, sh.out, DType::BF16);
        const double us = run_gemv(s, cfg, true, sh.name);
        const double bytes = (double)sh.in * sh.out * 2 + 4.0 * (sh.in + sh.out);
        std::printf("GEMV n=1 %-10s %6lld x %-6lld R=%d U=%d %8.2f us  %7.1f MB  %5.2f TB/s  %5.1f%% of 4.8 TB/s  %5.1f%% of copy\n",
                    sh.name, (long long)sh.out, (long long)sh.in, cfg.rows_per_warp, cfg.unroll, us, bytes / 1e6,
                    bytes / (us * 1e-6) / 1e12, 100 * bytes / (us * 1e-6) / kPeakBytes,
                    100 * bytes / (us * 1e-6) / g_copy_bw);
        if (std::strcmp(sh.name, "lm_head") == 0) {
            head_us = us;
            head_bytes = bytes;
        } else {
            layer_us += us;
            layer_bytes += bytes;
        }
        if (std::strcmp(sh.name, "down_proj") == 0 || std::strcmp(sh.name, "gate_proj") == 0 ||
            std::strcmp(sh.name, "lm_head") == 0)
            summary(cat("GEMV n=1 ", sh.name, " ", sh.out, "x", sh.in, " bf16: ", us, " us, ", bytes / (us * 1e-6) / 1e12,
                        " TB/s = ", 100 * bytes / (us * 1e-6) / kPeakBytes, "% of 4.8 TB/s"));
    }
    const double tok_us = 32 * layer_us + head_us, tok_bytes = 32 * layer_bytes + head_bytes;
    summary(cat("GEMV n=1 all Llama-3.1-8B linears (32 layers + lm_head): ", tok_us / 1e3, " ms/token -> ",
                1e6 / tok_us, " tokens/s from the GEMVs alone, ", 100 * tok_bytes / (tok_us * 1e-6) / kPeakBytes,
                "% of 4.8 TB/s"));

    for (int64_t n : {2, 4, 8}) {
        GemvSet s = make_gemv(n, 14336, 4096);
        const double us = run_gemv(s, cuda::gemv_default_config(n, 4096, DType::BF16), true, cat("down_proj n=", n).c_str());
        const double bytes = 14336.0 * 4096 * 2 + 4.0 * n * (14336 + 4096);
        summary(cat("GEMV n=", n, " down_proj: ", us, " us, ", 100 * bytes / (us * 1e-6) / kPeakBytes, "% of 4.8 TB/s"));
    }

    if (!sweep) return;
    std::printf("\n== GEMV configuration sweep, bf16 (rows per warp R, 16-byte loads in flight per row U) ==\n");
    struct Variant { int n, R, U; bool pf; int threads; };
    std::vector<Variant> vs;
    for (int RU : {11, 12, 14, 18, 22, 24, 28, 41, 42, 44}) {
        vs.push_back({1, RU / 10, RU % 10, false, 256});
        if (RU == 14 || RU == 42) {
            vs.push_back({1, RU / 10, RU % 10, false, 128});
            vs.push_back({1, RU / 10, RU % 10, true, 256});
        }
    }
    for (int RU : {14, 22, 24, 42}) vs.push_back({2, RU / 10, RU % 10, false, 256});
    for (int RU : {14, 22, 24, 41, 42}) vs.push_back({4, RU / 10, RU % 10, false, 256});
    for (int RU : {12, 22, 24, 41, 42, 81}) vs.push_back({8, RU / 10, RU % 10, false, 256});
    for (const Shape& sh : {kLlama[6], kLlama[4], kLlama[0]}) {
        std::string best_label[9];
        double best_us[9];
        for (double& b : best_us) b = 1e30;
        for (int n : {1, 2, 4, 8}) {
            if (n > 1 && std::strcmp(sh.name, "down_proj") != 0) continue;
            GemvSet s = make_gemv(n, sh.in, sh.out);
            const double bytes = (double)sh.in * sh.out * 2 + 4.0 * n * (sh.in + sh.out);
            for (const Variant& v : vs) {
                if (v.n != n) continue;
                cuda::GemvConfig cfg;
                cfg.rows_per_warp = v.R;
                cfg.unroll = v.U;
                cfg.threads = v.threads;
                cfg.l2_prefetch = v.pf;
                const std::string label = cat(sh.name, " n=", n, " R=", v.R, " U=", v.U, " threads=", v.threads,
                                              v.pf ? " +L2::256B" : "");
                const double us = run_gemv(s, cfg, true, label.c_str());
                std::printf("  sweep %-48s %8.2f us  %5.1f%% of 4.8 TB/s\n", label.c_str(), us,
                            100 * bytes / (us * 1e-6) / kPeakBytes);
                if (us < best_us[n]) {
                    best_us[n] = us;
                    best_label[n] = cat(label, ": ", us, " us, ", 100 * bytes / (us * 1e-6) / kPeakBytes, "% of 4.8 TB/s");
                }
            }
        }
        for (int n : {1, 2, 4, 8})
            if (best_us[n] < 1e30) summary("GEMV sweep best: " + best_label[n]);
    }
}

// ---- GEMM ------------------------------------------------------------------------------------

void bench_gemm() {
    std::printf("\n== GEMM (prefill), bf16 weights, f32 x rounded to bf16, f32 y: FLOPs = 2·n·in·out ==\n");
    for (int64_t n : {512, 2048}) {
        double tot_ms = 0, tot_flops = 0;
        for (const Shape& sh : kLlama) {
            if (std::strcmp(sh.name, "lm_head") == 0) continue;
            const int c = copies_for((double)sh.in * sh.out * 2);
            std::vector<Buf> w;
            for (int i = 0; i < c; i++) w.push_back(random_buf(sh.in * sh.out, DType::BF16, 0.05f));
            Buf x = random_buf(n * sh.in, DType::F32), y = random_buf(n * sh.out, DType::F32);
            auto call = [&](int i) {
                cuda::linear_gemm((float*)y.p(), (const float*)x.p(), w[(size_t)i % w.size()].p(), DType::BF16, nullptr,
                                  DType::F32, n, sh.in, sh.out);
            };
            call(0);
            {  // the first 4 rows against the CPU (the whole product would take the CPU minutes)
                const int64_t rows = 4;
                const std::vector<float> got = to_host_f32(y.p(), DType::F32, rows * sh.out);
                const std::vector<float> xf = to_host_f32(x.p(), DType::F32, rows * sh.in);
                std::vector<uint8_t> wb((size_t)(sh.in * sh.out * 2));
                gpu_copy(wb.data(), false, w[0].p(), true, wb.size());
                std::vector<float> ref((size_t)(rows * sh.out));
                cpu::linear(ref.data(), xf.data(), wb.data(), DType::BF16, nullptr, DType::F32, rows, sh.in, sh.out);
                const double tol = std::ldexp(1.0, -8) * 0.05 * sh.in;  // x rounded to bf16: 2^-9 per product, x2
                verdict(cat("GEMM n=", n, " ", sh.name, " (4 rows)").c_str(), check_err(got, ref, [&](size_t) { return tol; }));
            }
            const double ms = time_ms(call, 5, 9);
            const double flops = 2.0 * n * sh.in * sh.out;
            std::printf("GEMM n=%-5lld %-10s %6lld x %-6lld %8.3f ms  %6.0f TFLOP/s  %5.1f%% of 790  %5.1f%% of cuBLAS 8192^3\n",
                        (long long)n, sh.name, (long long)sh.out, (long long)sh.in, ms, flops / (ms * 1e-3) / 1e12,
                        100 * flops / (ms * 1e-3) / kPeakFlops, 100 * flops / (ms * 1e-3) / g_gemm_flops);
            tot_ms += ms;
            tot_flops += flops;
        }
        summary(cat("GEMM n=", n, " one Llama-3.1-8B layer's linears: ", tot_ms, " ms, ", tot_flops / (tot_ms * 1e-3) / 1e12,
                    " TFLOP/s = ", 100 * tot_flops / (tot_ms * 1e-3) / kPeakFlops, "% of 790 (",
                    100 * tot_flops / (tot_ms * 1e-3) / g_gemm_flops, "% of cuBLAS 8192^3 here)"));
    }
}

// ---- skinny GEMM (f32 weights, a few rows of x) ------------------------------------------------

void bench_skinny() {
    std::printf("\n== skinny GEMM, f32 weights and x, f32 accuracy (3 tf32 products): bytes = weights ==\n");
    struct SkinnyShape { const char* name; int64_t n, out, in; };
    // gte-large at a 21-token description; the T2L L heads for Llama-8B q and v over 32 layers.
    const SkinnyShape shapes[] = {{"enc qkv", 21, 3072, 1024}, {"enc o", 21, 1024, 1024},  {"enc up|gate", 21, 8192, 1024},
                                  {"enc down", 21, 1024, 4096}, {"head q", 32, 65536, 2048}, {"head v", 32, 40960, 2048}};
    double def_total = 0, best_total = 0;
    for (const SkinnyShape& sh : shapes) {
        const double bytes = 4.0 * sh.out * sh.in;
        const int c = copies_for(bytes);
        std::vector<Buf> w;
        for (int i = 0; i < c; i++) w.push_back(random_buf(sh.out * sh.in, DType::F32, 0.05f));
        Buf x = random_buf(sh.n * sh.in, DType::F32), y = random_buf(sh.n * sh.out, DType::F32);
        auto call = [&](int i) {
            if (!cuda::linear_skinny((float*)y.p(), (const float*)x.p(), (const float*)w[(size_t)i % w.size()].p(), nullptr,
                                     sh.n, sh.in, sh.out))
                fail("skinny GEMM refused ", sh.name);
        };
        std::vector<std::pair<std::string, cuda::SkinnyConfig>> configs = {{"default", cuda::SkinnyConfig{}}};
        for (int rt : {1, 2})
            for (int ks : {1, 2, 4, 8})
            {
                cuda::SkinnyConfig cf;
                cf.rows_per_warp = rt;
                cf.ks = ks;
                configs.push_back({cat("rt=", rt, " ks=", ks), cf});
            }
        double def_us = 0, best_us = 1e30;
        std::string best;
        for (const auto& lc : configs) {
            const std::string& label = lc.first;
            const cuda::SkinnyConfig& cf = lc.second;
            cuda::set_skinny_config(&cf);
            call(0);
            {  // x rows 0 and 1 against the CPU
                const int64_t rows = 2;
                const std::vector<float> got = to_host_f32(y.p(), DType::F32, rows * sh.out);
                const std::vector<float> xf = to_host_f32(x.p(), DType::F32, rows * sh.in);
                const std::vector<float> wf = to_host_f32(w[0].p(), DType::F32, sh.out * sh.in);
                std::vector<float> ref((size_t)(rows * sh.out));
                cpu::linear(ref.data(), xf.data(), wf.data(), DType::F32, nullptr, DType::F32, rows, sh.in, sh.out);
                const double tol = (4 * std::sqrt((double)sh.in) + 16) * std::ldexp(1.0, -24) * 0.05 * sh.in;
                verdict(cat("skinny ", sh.name, " ", label).c_str(), check_err(got, ref, [&](size_t) { return tol; }));
            }
            const double us = 1e3 * time_ms(call, 5, 9);
            std::printf("skinny %-12s n=%-3lld %6lld x %-5lld %-22s %8.2f us  %5.2f TB/s\n", sh.name, (long long)sh.n,
                        (long long)sh.out, (long long)sh.in, label.c_str(), us, bytes / (us * 1e-6) / 1e12);
            if (label == "default") def_us = us;
            if (us < best_us) best_us = us, best = label;
        }
        cuda::set_skinny_config(nullptr);
        summary(cat("skinny ", sh.name, ": default ", def_us, " us (", bytes / (def_us * 1e-6) / 1e12, " TB/s); best ", best,
                    " ", best_us, " us (", bytes / (best_us * 1e-6) / 1e12, " TB/s)"));
        def_total += def_us;
        best_total += best_us;
    }
    summary(cat("skinny, the six shapes: default ", def_total, " us, best per shape ", best_total, " us"));
}

// ---- attention -------------------------------------------------------------------------------

void check_attention(const char* label, const Buf& q, const Buf& k, const Buf& v, const Buf& out, int64_t n, int64_t t,
                     const AttentionParams& p, int64_t rows_checked, double tol = 1e-5) {
    // The last rows_checked query rows against the CPU (they see the most keys).
    const int64_t qw = (int64_t)p.n_heads * p.head_dim, kw = (int64_t)p.n_kv_heads * p.head_dim;
    const int64_t r0 = n - rows_checked;
    const std::vector<float> all_q = to_host_f32(q.p(), DType::F32, n * qw);
    const std::vector<float> qs(all_q.begin() + r0 * qw, all_q.end());
    const std::vector<float> kf = to_host_f32(k.p(), k.t, t * kw), vf = to_host_f32(v.p(), v.t, t * kw);
    const std::vector<float> all_out = to_host_f32(out.p(), DType::F32, n * qw);
    const std::vector<float> got(all_out.begin() + r0 * qw, all_out.end());
    AttentionParams pc = p;
    pc.q_pos0 = p.q_pos0 + r0;
    std::vector<float> ref((size_t)(rows_checked * qw));
    cpu::attention(ref.data(), qs.data(), kf.data(), vf.data(), rows_checked, t, pc);
    verdict(label, check_err(got, ref, [&](size_t) { return tol; }));  // |v| <= 1
}

// `copies` K and V caches of t rows (enough to cycle through more than L2 holds).
struct KvCopies {
    std::vector<Buf> k, v;
    int copies = 0;
};
KvCopies kv_copies(int64_t t, int64_t kw, DType kvt) {
    KvCopies kv;
    kv.copies = copies_for(2.0 * t * kw * dtype_size(kvt));
    for (int i = 0; i < kv.copies; i++) {
        kv.k.push_back(random_buf(t * kw, kvt));
        kv.v.push_back(random_buf(t * kw, kvt));
    }
    return kv;
}

void bench_attention() {
    std::printf("\n== attention, f32 q/out, K/V f32 or bf16 ==\n");
    AttentionParams p;
    p.n_heads = 32;
    p.n_kv_heads = 8;
    p.head_dim = 128;
    p.scale = 1.0f / std::sqrt(128.0f);
    p.causal = true;
    const int64_t qw = 32 * 128, kw = 8 * 128;
    const std::pair<const char*, cuda::AttentionPath> prompt_paths[] = {
        {"prefill (f32)", cuda::AttentionPath::Prefill},
        {"gemm (cuBLAS bf16)", cuda::AttentionPath::Gemm},
        {"flash (bf16 mma)", cuda::AttentionPath::Flash}};
    for (DType kvt : {DType::F32, DType::BF16})
        for (const auto& pp : prompt_paths) {
            const char* pname = pp.first;
            const cuda::AttentionPath path = pp.second;
            const int64_t n = 2048;
            Buf q = random_buf(n * qw, DType::F32, 2.0f), out = random_buf(n * qw, DType::F32);
            Buf k = random_buf(n * kw, kvt), v = random_buf(n * kw, kvt);
            auto call = [&](int) {
                cuda::attention((float*)out.p(), (const float*)q.p(), k.p(), v.p(), kvt, n, n, p, path);
            };
            call(0);
            // The bf16 paths round q, k, v and the probabilities (2^-9 each).
            const double tol = path == cuda::AttentionPath::Prefill ? 1e-5 : 1e-2;
            check_attention(cat("attention ", pname, " kv=", dtype_name(kvt), " (last 16 rows)").c_str(), q, k, v, out,
                            n, n, p, 16, tol);
            const double ms = time_ms(call, 3, 9);
            const double flops = 4.0 * p.n_heads * p.head_dim * (double)n * (n + 1) / 2;
            summary(cat("attention ", pname, " n=t=2048 causal 32/8 d=128 kv=", dtype_name(kvt), ": ", ms, " ms, ",
                        flops / (ms * 1e-3) / 1e12, " TFLOP/s = ", 100 * flops / (ms * 1e-3) / kPeakF32,
                        "% of f32 FMA peak (67), ", 100 * flops / (ms * 1e-3) / kPeakFlops, "% of bf16 790"));
        }
    {  // the text encoder's attention: gte-large, one 21-token description, 16 heads of 64, not causal
        AttentionParams pe;
        pe.n_heads = pe.n_kv_heads = 16;
        pe.head_dim = 64;
        pe.scale = 0.125f;
        pe.causal = false;
        const int64_t n = 21, w = 16 * 64;
        Buf q = random_buf(n * w, DType::F32, 2.0f), k = random_buf(n * w, DType::F32), v = random_buf(n * w, DType::F32);
        Buf out = random_buf(n * w, DType::F32);
        const std::pair<const char*, cuda::AttentionPath> enc_paths[] = {
            {"prefill", cuda::AttentionPath::Prefill}, {"decode", cuda::AttentionPath::Decode},
            {"generic", cuda::AttentionPath::Generic}};
        for (const auto& ep : enc_paths) {
            auto call = [&](int) {
                cuda::attention((float*)out.p(), (const float*)q.p(), k.p(), v.p(), DType::F32, n, n, pe, ep.second);
            };
            call(0);
            check_attention(cat("attention encoder n=21 [", ep.first, "]").c_str(), q, k, v, out, n, n, pe, n);
            const double us = 1e3 * time_ms(call, 5, 9);
            summary(cat("attention encoder n=t=21, 16 heads of 64, f32 [", ep.first, "]: ", us, " us"));
        }
    }
    // The decode step's attention (attention_at: the position read on the device, as a recorded
    // step replays it), bf16 cache, in both forms: a head's chunks merged in one cluster (sm_90) or
    // through global memory by the last block. Launched back to back, so short caches show the
    // kernel's latency chain, long ones its bandwidth.
    const int cluster_default = cuda::attention_cluster();
    for (int64_t t : {512, 4096, 32768}) {
        const DType kvt = DType::BF16;
        const double kv_bytes = 2.0 * t * kw * dtype_size(kvt);
        const KvCopies kv = kv_copies(t, kw, kvt);
        const std::vector<Buf>&ks = kv.k, &vs = kv.v;
        const int c = kv.copies;
        Buf q = random_buf(qw, DType::F32, 2.0f), out = random_buf(qw, DType::F32);
        const int32_t last = (int32_t)(t - 1);
        std::shared_ptr<void> pos = gpu_alloc(sizeof last);
        gpu_copy(pos.get(), true, &last, false, sizeof last);
        AttentionParams pd = p;
        pd.q_pos0 = t - 1;  // what check_attention compares against
        const int64_t scratch_n = cuda::attention_at_scratch(t, pd);
        std::shared_ptr<void> scratch = gpu_alloc((uint64_t)scratch_n * 4);
        gpu_memset_zero(scratch.get(), (uint64_t)scratch_n * 4);
        for (int form : {cluster_default, 0}) {
            cuda::set_attention_cluster(form);
            auto call = [&](int i) {
                cuda::attention_at((float*)out.p(), (const float*)q.p(), ks[(size_t)i % c].p(), vs[(size_t)i % c].p(), kvt,
                                   static_cast<const int32_t*>(pos.get()), t, pd, static_cast<float*>(scratch.get()));
            };
            call(0);
            const std::string what = form ? cat("cluster of ", form) : std::string("merged through memory");
            check_attention(cat("attention_at t=", t, " [", what, "]").c_str(), q, ks[0], vs[0], out, 1, t, pd, 1);
            const double us = 1e3 * time_ms(call);
            const double bytes = kv_bytes + 8.0 * qw;
            summary(cat("attention_at (decode step) t=", t, " 32/8 d=128 bf16 [", what, "]: ", us, " us, ",
                        bytes / (us * 1e-6) / 1e12, " TB/s"));
            if (!cluster_default) break;  // one form before sm_90
        }
        cuda::set_attention_cluster(-1);
    }
    for (DType kvt : {DType::F32, DType::BF16})
        for (int64_t t : {4096, 32768}) {
            const double kv_bytes = 2.0 * t * kw * dtype_size(kvt);
            const KvCopies kv = kv_copies(t, kw, kvt);
            const std::vector<Buf>&ks = kv.k, &vs = kv.v;
            const int c = kv.copies;
            Buf q = random_buf(qw, DType::F32, 2.0f), out = random_buf(qw, DType::F32);
            AttentionParams pd = p;
            pd.q_pos0 = t - 1;
            auto call = [&](int i) {
                cuda::attention((float*)out.p(), (const float*)q.p(), ks[(size_t)i % c].p(), vs[(size_t)i % c].p(), kvt, 1,
                                t, pd, cuda::AttentionPath::Decode);
            };
            call(0);
            check_attention(cat("attention decode t=", t, " kv=", dtype_name(kvt)).c_str(), q, ks[0], vs[0], out, 1, t, pd, 1);
            const double us = 1e3 * time_ms(call);
            const double bytes = kv_bytes + 8.0 * qw;
            summary(cat("attention decode n=1 t=", t, " 32/8 d=128 kv=", dtype_name(kvt), ": ", us, " us, ",
                        bytes / (us * 1e-6) / 1e12, " TB/s = ", 100 * bytes / (us * 1e-6) / kPeakBytes, "% of 4.8 TB/s"));
        }
}

}  // namespace

int main(int argc, char** argv) {
    bool sweep = true;
    std::string only;  // one group: gemv, gemm, skinny or attention
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--only" && i + 1 < argc) {
            only = argv[++i];
            if (only != "gemv" && only != "gemm" && only != "attention" && only != "skinny") {
                std::fprintf(stderr, "bench-kernels: --only takes gemv, gemm, skinny or attention, not %s\n", only.c_str());
                return 2;
            }
        } else if (a == "--quick") {
            g_batches = 5;
            g_reps = 10;
        } else if (a == "--no-sweep") {
            sweep = false;
        } else if (a == "--help" || a == "-h") {
            std::printf("usage: bench-kernels [--quick] [--no-sweep] [--only gemv|gemm|skinny|attention]\n");
            return 0;
        } else {
            std::fprintf(stderr, "bench-kernels: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    try {
        const GpuInfo& g = gpu_info();
        if (!g.available) {
            std::fprintf(stderr, "bench-kernels: no GPU: %s\n", g.reason.c_str());
            return 1;
        }
        cudaDeviceProp prop;
        CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        std::printf("GPU: %s, sm_%d%d, %d SMs, %.0f MB L2, %.1f GiB\n", prop.name, prop.major, prop.minor,
                    prop.multiProcessorCount, prop.l2CacheSize / 1e6, (double)prop.totalGlobalMem / (1ull << 30));
        measure_ceilings();
        if (only.empty() || only == "gemv") bench_gemv(sweep);
        if (only.empty() || only == "gemm") bench_gemm();
        if (only.empty() || only == "skinny") bench_skinny();
        if (only.empty() || only == "attention") bench_attention();
        std::printf("\n== summary ==\n");
        std::printf("ceilings measured here: copy %.2f TB/s, cuBLAS bf16 %.0f TFLOP/s\n", g_copy_bw / 1e12, g_gemm_flops / 1e12);
        for (const std::string& s : g_summary) std::printf("%s\n", s.c_str());
        std::printf("checks against the CPU: %s\n", g_failures ? "SOME FAILED" : "all passed");
        return g_failures ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-kernels: error: %s\n", e.what());
        return 1;
    }
}
