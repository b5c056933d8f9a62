// llama_interop.cpp — the llama.cpp side of tools/interop: tokenize, per-position logits,
// greedy continuations and a decode benchmark through libllama, so that t2l and llama.cpp
// see the same token ids. Built by run_parity.sh against $LLAMA_CPP_DIR (never part of t2l).
//
//   llama_interop tokenize -m M.gguf -p TEXT                      ids with llama.cpp's BOS rule
//   llama_interop logits   -m M.gguf --tokens 1,2,3 -o OUT.npy [--lora A.gguf] [--lora-scale S]
//   llama_interop greedy   -m M.gguf --tokens 1,2,3 -n N        N greedy ids (EOS not special)
//   llama_interop bench    -m M.gguf --prompt-tokens P --gen-tokens G
//   llama_interop dequantize -m M.gguf -o M-f32.gguf          every tensor to F32 (llama_model_quantize)
// Every mode takes -t THREADS (default 2), --kv-f32 (f32 KV cache instead of f16), --no-repack
// (weights kept in their file layout: no runtime repacking into interleaved rows), --ubatch N
// (a prompt goes through the model N tokens at a time: another summation order), --no-fa
// (no flash attention: llama.cpp's default, auto, uses it on the CPU) and --poll N (the thread
// pool's busy-wait level, 0-100; without it llama.cpp's default pool, which polls).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "llama.h"

namespace {
struct Opts {
    std::string mode, model, prompt, tokens, out, lora;
    float lora_scale = 1.0f;
    int threads = 2, n = 32, prompt_tokens = 128, gen_tokens = 64, poll = -1;
    bool kv_f32 = false, no_fa = false, no_repack = false;
    int ubatch = 0;  // tokens per forward pass inside one decode call (0: all)
};

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "llama_interop: %s\n", msg.c_str());
    std::exit(1);
}

std::vector<llama_token> parse_ids(const std::string& s) {
    std::vector<llama_token> ids;
    for (size_t p = 0; p < s.size();) {
        size_t q = s.find(',', p);
        if (q == std::string::npos) q = s.size();
        ids.push_back((llama_token)std::atoi(s.substr(p, q - p).c_str()));
        p = q + 1;
    }
    return ids;
}

void print_ids(const std::vector<llama_token>& ids) {
    for (size_t i = 0; i < ids.size(); i++) std::printf(i ? ",%d" : "%d", ids[i]);
    std::printf("\n");
}

// A (rows, cols) little-endian f32 .npy file.
void write_npy(const std::string& path, const std::vector<float>& v, size_t rows, size_t cols) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " + std::to_string(cols) + "), }";
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) die("cannot write " + path);
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t hl = (uint16_t)h.size();
    std::fwrite(magic, 1, 8, f);
    std::fwrite(&hl, 2, 1, f);
    std::fwrite(h.data(), 1, h.size(), f);
    std::fwrite(v.data(), 4, v.size(), f);
    if (std::fclose(f) != 0) die("cannot write " + path);
}

// Decodes ids at positions pos0.. in one batch; logits for every position when `all`, else the last.
void decode(llama_context* ctx, const std::vector<llama_token>& ids, int pos0, bool all) {
    llama_batch b = llama_batch_init((int32_t)ids.size(), 0, 1);
    for (size_t i = 0; i < ids.size(); i++) {
        b.token[i] = ids[i];
        b.pos[i] = pos0 + (int)i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = all || i + 1 == ids.size();
    }
    b.n_tokens = (int32_t)ids.size();
    if (llama_decode(ctx, b) != 0) die("llama_decode failed");
    llama_batch_free(b);
}

llama_token argmax(const float* row, int V) {
    int best = 0;
    for (int j = 1; j < V; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

int main(int argc, char** argv) {
    Opts o;
    if (argc < 2) die("usage: llama_interop tokenize|logits|greedy|bench -m MODEL.gguf ... (see the header of llama_interop.cpp)");
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { if (i + 1 >= argc) die(a + " needs a value"); return argv[++i]; };
        if (a == "-m") o.model = next();
        else if (a == "-p") o.prompt = next();
        else if (a == "--tokens") o.tokens = next();
        else if (a == "-o") o.out = next();
        else if (a == "--lora") o.lora = next();
        else if (a == "--lora-scale") o.lora_scale = std::strtof(next().c_str(), nullptr);
        else if (a == "-t") o.threads = std::atoi(next().c_str());
        else if (a == "-n") o.n = std::atoi(next().c_str());
        else if (a == "--prompt-tokens") o.prompt_tokens = std::atoi(next().c_str());
        else if (a == "--gen-tokens") o.gen_tokens = std::atoi(next().c_str());
        else if (a == "--kv-f32") o.kv_f32 = true;
        else if (a == "--no-fa") o.no_fa = true;
        else if (a == "--no-repack") o.no_repack = true;
        else if (a == "--ubatch") o.ubatch = std::atoi(next().c_str());
        else if (a == "--poll") o.poll = std::atoi(next().c_str());
        else die("unknown argument " + a);
    }
    if (o.model.empty()) die("-m MODEL.gguf is required");
    if (o.mode == "dequantize") {  // before loading: llama_model_quantize reads the file itself
        if (o.out.empty()) die("dequantize: -o OUT.gguf is required");
        llama_model_quantize_params qp = llama_model_quantize_default_params();
        qp.ftype = LLAMA_FTYPE_ALL_F32;
        qp.allow_requantize = true;
        qp.pure = true;
        qp.nthread = o.threads;
        llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
        if (llama_model_quantize(o.model.c_str(), o.out.c_str(), &qp) != 0) die("cannot dequantize " + o.model);
        return 0;
    }
    llama_log_set([](ggml_log_level level, const char* text, void*) { if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr); }, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.progress_callback = [](float, void*) { return true; };  // no progress dots
    if (o.no_repack) mp.use_extra_bufts = false;  // keep Q4_0/Q4_K/... in their file layout
    llama_model* model = llama_model_load_from_file(o.model.c_str(), mp);
    if (!model) die("cannot load " + o.model);
    const llama_vocab* vocab = llama_model_get_vocab(model);
    const int V = llama_vocab_n_tokens(vocab);

    if (o.mode == "tokenize") {
        std::vector<llama_token> ids(o.prompt.size() + 8);
        const int n = llama_tokenize(vocab, o.prompt.data(), (int32_t)o.prompt.size(), ids.data(), (int32_t)ids.size(), true, false);
        if (n < 0) die("tokenize failed");
        ids.resize((size_t)n);
        print_ids(ids);
        llama_model_free(model);
        return 0;
    }

    std::vector<llama_token> ids = parse_ids(o.tokens);
    if (o.mode == "bench") {  // the synthetic prompt of `t2l bench decode`
        ids.clear();
        for (int i = 0; i < o.prompt_tokens; i++) ids.push_back((llama_token)(((long long)i * 7919 + 13) % V));
    }
    if (ids.empty()) die("--tokens is required");
    const int total = (int)ids.size() + (o.mode == "greedy" ? o.n : o.mode == "bench" ? o.gen_tokens : 0);
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)((total + 255) / 256 * 256);
    cp.n_batch = cp.n_ubatch = (uint32_t)std::max<int>(512, (int)ids.size());
    if (o.ubatch > 0) cp.n_ubatch = (uint32_t)o.ubatch;
    cp.n_threads = cp.n_threads_batch = o.threads;
    cp.no_perf = true;
    if (o.kv_f32) cp.type_k = cp.type_v = GGML_TYPE_F32;
    if (o.no_fa) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create a context");
    if (o.poll >= 0) {
        ggml_threadpool_params tpp = ggml_threadpool_params_default(o.threads);
        tpp.poll = (uint32_t)o.poll;
        ggml_threadpool* tp = ggml_threadpool_new(&tpp);
        if (!tp) die("cannot create a thread pool");
        llama_attach_threadpool(ctx, tp, tp);
    }
    if (!o.lora.empty()) {
        llama_adapter_lora* ad = llama_adapter_lora_init(model, o.lora.c_str());
        if (!ad) die("cannot load LoRA " + o.lora);
        if (llama_set_adapters_lora(ctx, &ad, 1, &o.lora_scale) != 0) die("cannot apply LoRA " + o.lora);
    }

    if (o.mode == "logits") {
        if (o.out.empty()) die("logits: -o OUT.npy is required");
        decode(ctx, ids, 0, true);
        std::vector<float> all((size_t)ids.size() * V);
        for (size_t i = 0; i < ids.size(); i++) std::memcpy(&all[i * V], llama_get_logits_ith(ctx, (int32_t)i), (size_t)V * 4);
        write_npy(o.out, all, ids.size(), (size_t)V);
    } else if (o.mode == "greedy" || o.mode == "bench") {
        const int n_new = o.mode == "greedy" ? o.n : o.gen_tokens;
        auto t0 = std::chrono::steady_clock::now();
        decode(ctx, ids, 0, false);
        const double prefill = since(t0);
        std::vector<llama_token> out;
        auto t1 = std::chrono::steady_clock::now();
        for (int i = 0; i < n_new; i++) {
            const llama_token next = argmax(llama_get_logits_ith(ctx, -1), V);
            out.push_back(next);
            decode(ctx, {next}, (int)ids.size() + i, false);
        }
        const double dec = since(t1);
        if (o.mode == "greedy") print_ids(out);
        else
            std::printf("decode: prefill %zu tokens %.1f tok/s, decode %d tokens %.2f tok/s (%d threads)\n", ids.size(),
                        ids.size() / prefill, n_new, n_new / dec, o.threads);
    } else {
        die("unknown mode " + o.mode);
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
