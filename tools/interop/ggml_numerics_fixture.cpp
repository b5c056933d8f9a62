// ggml_numerics_fixture.cpp — writes tests/fixtures/gguf/ggml_numerics.json, the values ggml's
// CPU backend itself computes for what T2L_NUMERICS=ggml reproduces (io/gguf_quant.h): an
// activation row quantised to Q8_0 and Q8_K and read back, the Q8_1 block sums, and GELU.
// Built against a llama.cpp tree outside this repository (ggml's headers and libraries):
//
//   g++ -O2 -std=c++17 tools/interop/ggml_numerics_fixture.cpp -o /tmp/ggml_numerics \
//       -I$LLAMA_CPP_DIR/ggml/include -L$LLAMA_CPP_DIR/build/bin -lggml -lggml-base -lggml-cpu \
//       -Wl,-rpath,$LLAMA_CPP_DIR/build/bin
//   /tmp/ggml_numerics > tests/fixtures/gguf/ggml_numerics.json
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace {

void print_array(const char* name, const std::vector<float>& v, bool last = false) {
    std::printf("  \"%s\": [", name);
    for (size_t i = 0; i < v.size(); i++) std::printf("%s%.9g", i ? ", " : "", v[i]);
    std::printf("]%s\n", last ? "" : ",");
}

// A row through from_float (the CPU backend's quantiser), read back as scale * code:
// Q8_0 blocks are {f16 d, int8 q[32]}, Q8_K blocks {f32 d, int8 q[256], int16 sums[16]}.
std::vector<float> round_trip(ggml_type t, const std::vector<float>& x) {
    std::vector<uint8_t> q(ggml_row_size(t, (int64_t)x.size()));
    ggml_get_type_traits_cpu(t)->from_float(x.data(), q.data(), (int64_t)x.size());
    const bool k = t == GGML_TYPE_Q8_K;
    const size_t block = k ? 256 : 32, bytes = k ? 4 + 256 + 32 : 2 + 32, head = k ? 4 : 2;
    std::vector<float> out(x.size());
    for (size_t b = 0; b < x.size() / block; b++) {
        const uint8_t* blk = q.data() + b * bytes;
        float d;
        if (k) {
            std::memcpy(&d, blk, 4);
        } else {
            ggml_fp16_t h;
            std::memcpy(&h, blk, 2);
            d = ggml_fp16_to_fp32(h);
        }
        for (size_t j = 0; j < block; j++) out[b * block + j] = (float)(int8_t)blk[head + j] * d;
    }
    return out;
}

}  // namespace

int main() {
    ggml_cpu_init();  // fills the f16 tables
    // 512 values (two Q8_K blocks, sixteen of 32): smooth, signed, a few outliers, a zero block,
    // and values that land exactly halfway between two codes.
    std::vector<float> x(512);
    for (int i = 0; i < 512; i++) x[i] = std::sin(0.37f * (float)i) * (1.0f + 0.25f * (float)(i % 7));
    x[5] = 90.0f;
    x[300] = -250.0f;
    for (int i = 64; i < 96; i++) x[i] = 0.0f;
    for (int i = 96; i < 128; i++) x[i] = (float)(i - 112) * 0.5f;  // amax 8: codes 127/8 * k/2, ties at odd k... and 127
    x[127] = 8.0f;

    std::vector<float> q8_0 = round_trip(GGML_TYPE_Q8_0, x), q8_k = round_trip(GGML_TYPE_Q8_K, x);

    // Q8_1: per block {f16 d, f16 s, int8 q[32]}; the correction is s - sum(d * q).
    std::vector<uint8_t> q1(ggml_row_size(GGML_TYPE_Q8_1, 512));
    ggml_get_type_traits_cpu(GGML_TYPE_Q8_1)->from_float(x.data(), q1.data(), 512);
    std::vector<float> corr;
    for (int b = 0; b < 16; b++) {
        const uint8_t* blk = q1.data() + b * 36;
        ggml_fp16_t d16, s16;
        std::memcpy(&d16, blk, 2);
        std::memcpy(&s16, blk + 2, 2);
        const float d = ggml_fp16_to_fp32(d16);
        float rounded = 0.0f;
        for (int j = 0; j < 32; j++) rounded += (float)(int8_t)blk[4 + j] * d;
        corr.push_back(ggml_fp16_to_fp32(s16) - rounded);
    }

    // GELU through the CPU backend's op (its f16 table).
    std::vector<float> gx;
    for (int i = -60; i <= 60; i++) gx.push_back(0.2f * (float)i + 0.013f * (float)(i % 5));
    gx.push_back(-12.0f);
    gx.push_back(15.5f);
    ggml_init_params ip{16 << 20, nullptr, false};
    ggml_context* ctx = ggml_init(ip);
    ggml_tensor* a = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, (int64_t)gx.size());
    std::memcpy(a->data, gx.data(), gx.size() * 4);
    ggml_tensor* g = ggml_gelu(ctx, a);
    ggml_cgraph* gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, g);
    ggml_graph_compute_with_ctx(ctx, gf, 1);
    std::vector<float> gelu((float*)g->data, (float*)g->data + gx.size());
    ggml_free(ctx);

    std::printf("{\n  \"made_by\": \"tools/interop/ggml_numerics_fixture.cpp with ggml %s\",\n", ggml_version());
    print_array("x", x);
    print_array("q8_0", q8_0);
    print_array("q8_k", q8_k);
    print_array("q8_1_corrections", corr);
    print_array("gelu_x", gx);
    print_array("gelu", gelu, true);
    std::printf("}\n");
    return 0;
}
