// fuzz_safetensors.cpp — a safetensors file (8-byte length, JSON header, data) from memory,
// and a sharded checkpoint's model.safetensors.index.json.
//
// Input byte 0 picks the target: even, the rest is a .safetensors file; odd, the rest is the
// index, written into a scratch folder that holds two small valid shards (a.safetensors with
// "w1", b.safetensors with "w2"), since SafetensorsCheckpoint reads a folder.
#include <unistd.h>

#include <vector>

#include "fuzz_util.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace {
std::string g_dir;

void remove_scratch() {
    for (const char* f : {"a.safetensors", "b.safetensors", "model.safetensors.index.json"})
        ::unlink(t2l::join_path(g_dir, f).c_str());
    ::rmdir(g_dir.c_str());
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace t2l;
    // In memory when the system has a tmpfs: the index is rewritten on every run.
    std::string tmpl = is_directory("/dev/shm") ? "/dev/shm/t2l-fuzz-st-XXXXXX" : "/tmp/t2l-fuzz-st-XXXXXX";
    if (!::mkdtemp(&tmpl[0])) std::abort();
    g_dir = tmpl;
    std::atexit(remove_scratch);
    const float w1[2] = {1.0f, 2.0f}, w2[3] = {3.0f, 4.0f, 5.0f};
    TensorView a, b;
    a.name = "w1", a.dtype = DType::F32, a.shape = {2}, a.data = (const uint8_t*)w1, a.nbytes = sizeof w1;
    b.name = "w2", b.dtype = DType::F32, b.shape = {3}, b.data = (const uint8_t*)w2, b.nbytes = sizeof w2;
    write_safetensors(join_path(g_dir, "a.safetensors"), {a});
    write_safetensors(join_path(g_dir, "b.safetensors"), {b});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    if (size == 0) return 0;
    const uint8_t* body = data + 1;
    const size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        fuzz::refused([&] {
            SafetensorsFile f(MappedFile::from_bytes("fuzz.safetensors", body, n));
            for (const TensorView& t : f.tensors()) {
                fuzz::touch(t.data, t.nbytes);
                FUZZ_CHECK(f.find(t.name) != nullptr);
            }
            json::dump(f.metadata());
        });
    } else {
        // A plain write: the reader under test never sees a half-written index here.
        FILE* f = std::fopen(join_path(g_dir, "model.safetensors.index.json").c_str(), "wb");
        if (!f || std::fwrite(body, 1, n, f) != n || std::fclose(f) != 0) std::abort();
        fuzz::refused([&] {
            SafetensorsCheckpoint ck(g_dir);
            for (const TensorView& t : ck.tensors()) fuzz::touch(t.data, t.nbytes);
        });
    }
    return 0;
}
