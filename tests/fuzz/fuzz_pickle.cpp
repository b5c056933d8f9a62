// fuzz_pickle.cpp — the restricted pickle machine on arbitrary bytes; the object graph it
// returns (shared and possibly cyclic) is walked the way a reader must: with bounds.
#include "fuzz_util.h"
#include "io/pickle.h"

namespace {
// Shared sub-lists make the tree exponential in the graph: bound the visits, not only the depth.
void walk(const t2l::pickle::Object& o, int depth, size_t* budget) {
    if (depth > 32 || *budget == 0) return;
    --*budget;
    fuzz::touch(o.text.data(), o.text.size());
    if (o.storage) walk(*o.storage, depth + 1, budget);
    for (const t2l::pickle::Object* c : o.items) walk(*c, depth + 1, budget);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    fuzz::refused([&] {
        pickle::Unpickled u(data, size, "fuzz.pkl");
        FUZZ_CHECK(u.object_count() <= size);  // every object costs at least one opcode byte
        FUZZ_CHECK(pickle::kind_name(u.root().kind) != nullptr);
        size_t budget = 4 * size + 16;
        walk(u.root(), 0, &budget);
    });
    return 0;
}
