// test_cuda_convert.cpp — [cuda] the dtype conversion kernels against their CPU twin.
// Without a GPU these tests print SKIPPED with the reason and count as skipped.
#include <cstring>
#include <random>
#include <vector>

#include "dtype.h"
#include "gpu.h"
#include "test_util.h"

using namespace t2l;

TEST_CASE("GPU dtype conversion is bit-identical to the CPU twin", "[cuda]") {
    const GpuInfo& g = gpu_info();
    if (!g.available) T2L_SKIP(g.reason);
    std::printf("GPU: %s (sm_%d%d, %.1f GiB)\n", g.name.c_str(), g.cc_major, g.cc_minor, (double)g.total_memory / (1ull << 30));
    const size_t n = (1u << 22) + 3;  // not a multiple of the block size
    std::mt19937 rng(5);
    std::vector<uint32_t> raw(n);
    for (auto& r : raw) r = rng();
    std::vector<float> f32(n);
    std::memcpy(f32.data(), raw.data(), n * 4);
    for (size_t i = 0; i < n; i += 7) f32[i] = (float)((int)(rng() % 200001) - 100000) * 1e-3f;  // ordinary values too
    for (DType narrow : {DType::BF16, DType::F16}) {
        std::vector<uint16_t> cpu(n), gpu(n);
        convert_elements(narrow, cpu.data(), DType::F32, f32.data(), n);
        gpu_convert((int)narrow, gpu.data(), (int)DType::F32, f32.data(), n);
        size_t diff = 0;
        for (size_t i = 0; i < n; i++) {
            const bool both_nan = std::isnan(narrow == DType::BF16 ? bf16_to_f32(cpu[i]) : f16_to_f32(cpu[i])) &&
                                  std::isnan(narrow == DType::BF16 ? bf16_to_f32(gpu[i]) : f16_to_f32(gpu[i]));
            if (cpu[i] != gpu[i] && !both_nan) diff++;
        }
        std::printf("f32 -> %s: %zu of %zu elements differ between GPU and CPU\n", dtype_name(narrow), diff, n);
        CHECK(diff == 0);
        std::vector<float> wide_cpu(n), wide_gpu(n);
        convert_elements(DType::F32, wide_cpu.data(), narrow, cpu.data(), n);
        gpu_convert((int)DType::F32, wide_gpu.data(), (int)narrow, cpu.data(), n);
        size_t wdiff = 0;
        for (size_t i = 0; i < n; i++)
            if (std::memcmp(&wide_cpu[i], &wide_gpu[i], 4) != 0 && !(std::isnan(wide_cpu[i]) && std::isnan(wide_gpu[i]))) wdiff++;
        std::printf("%s -> f32: %zu of %zu elements differ\n", dtype_name(narrow), wdiff, n);
        CHECK(wdiff == 0);
    }
}

TEST_CASE("the GPU probe gives a reason whenever no GPU can be used", "[cuda]") {
    const GpuInfo& g = gpu_info();
    if (g.available) {
        CHECK(g.device_count >= 1);
        CHECK(g.total_memory > 0);
    } else {
        CHECK(!g.reason.empty());
        std::printf("no GPU here: %s\n", g.reason.c_str());
    }
}
