// fuzz_torch.cpp — a torch.save archive (zip + data.pkl + storages) from memory, through to
// named tensors: contiguous views and copied strided ones are read byte for byte.
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    fuzz::refused([&] {
        TorchCheckpoint ck(MappedFile::from_bytes("fuzz.pt", data, size));
        for (const TensorView& t : ck.tensors()) {
            fuzz::touch(t.data, t.nbytes);
            FUZZ_CHECK(ck.find(t.name) == &t);
        }
        for (const CheckpointValue& v : ck.values()) fuzz::touch(v.text.data(), v.text.size());
    });
    return 0;
}
