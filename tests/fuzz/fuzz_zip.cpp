// fuzz_zip.cpp — the ZIP container (central directory, ZIP64 records, local headers) from
// memory; every entry's bytes are read and its CRC checked.
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "io/zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace t2l;
    fuzz::refused([&] {
        ZipArchive zip(MappedFile::from_bytes("fuzz.zip", data, size));
        for (const ZipEntry& e : zip.entries()) {
            FUZZ_CHECK(zip.find(e.name) == &e);
            fuzz::refused([&] { zip.verify_crc(e); });
        }
    });
    return 0;
}
