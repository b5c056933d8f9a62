// test_zip.cpp — the ZIP reader: stored and ZIP64 archives read back byte for byte, CRC-32,
// and one refusal per kind of damage (fixtures from tools/reference/make_io_fixtures.py;
// damage is applied here to a copy of a good archive, one field at a time).
#include <cstdint>
#include <cstring>
#include <string>

#include "common.h"
#include "io/zip.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::ScratchDir;

namespace {

std::string error_of(const std::string& path) {
    try {
        ZipArchive z(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string entry_text(const ZipEntry& e) { return std::string((const char*)e.data, (size_t)e.size); }

// Where the end record starts (same rule as the reader: its comment must reach the end).
size_t eocd_pos(const std::string& b) {
    for (size_t p = b.size() - 22 + 1; p-- > 0;)
        if (b.compare(p, 4, "PK\x05\x06") == 0 && p + 22 + load_le<uint16_t>(&b[p + 20]) == b.size()) return p;
    FAIL("no end record in the fixture");
    return 0;
}
template <typename T>
void put(std::string& b, size_t pos, T v) { std::memcpy(&b[pos], &v, sizeof v); }

// Write plain.zip with one edit applied and return the reader's error.
template <typename Edit>
std::string damaged(const ScratchDir& dir, Edit edit) {
    std::string b = t2l_test::read_bytes(t2l_test::fixture("io/plain.zip"));
    edit(b);
    const std::string path = dir.file("damaged.zip");
    t2l_test::write_bytes(path, b);
    return error_of(path);
}

}  // namespace

TEST_CASE("crc32 matches the standard check value", "[io][zip]") {
    const char* s = "123456789";
    CHECK(crc32((const uint8_t*)s, 9) == 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
    CHECK(crc32(nullptr, 0) == 0u);
    // A running CRC over two pieces equals the CRC of the whole.
    CHECK(crc32((const uint8_t*)s + 4, 5, crc32((const uint8_t*)s, 4)) == 0xCBF43926u);
}

TEST_CASE("a stored zip reads back with names, sizes and bytes", "[io][zip]") {
    ZipArchive z(t2l_test::fixture("io/plain.zip"));
    REQUIRE(z.entries().size() == 3);
    CHECK(z.entries()[0].name == "hello.txt");
    CHECK(z.entries()[1].name == "dir/bytes.bin");
    CHECK(z.entries()[2].name == "empty");

    const ZipEntry* hello = z.find("hello.txt");
    REQUIRE(hello != nullptr);
    CHECK(entry_text(*hello) == "hello zip\n");
    const ZipEntry* bytes = z.find("dir/bytes.bin");
    REQUIRE(bytes != nullptr);
    REQUIRE(bytes->size == 256);
    for (int i = 0; i < 256; i++) CHECK(bytes->data[i] == i);
    CHECK(z.find("empty")->size == 0);
    CHECK(z.find("missing") == nullptr);
    CHECK(z.find("dir/") == nullptr);
    for (const ZipEntry& e : z.entries()) CHECK_NOTHROW(z.verify_crc(e));
    CHECK(hello->crc32 == crc32((const uint8_t*)"hello zip\n", 10));
}

TEST_CASE("a ZIP64 archive with placeholders in every field reads back", "[io][zip]") {
    ZipArchive z(t2l_test::fixture("io/zip64.zip"));
    REQUIRE(z.entries().size() == 2);
    const ZipEntry* a = z.find("big/a.bin");
    const ZipEntry* b = z.find("big/b.txt");
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    REQUIRE(a->size == 100);
    for (int i = 0; i < 100; i++) CHECK(a->data[i] == i);
    CHECK(entry_text(*b) == "hello zip\n");
    CHECK_NOTHROW(z.verify_crc(*a));
    CHECK_NOTHROW(z.verify_crc(*b));
}

TEST_CASE("torch.save output is a zip with the expected entries", "[io][zip]") {
    ZipArchive z(t2l_test::fixture("io/state_dict.pt"));
    REQUIRE(z.find("state_dict/data.pkl") != nullptr);
    REQUIRE(z.find("state_dict/byteorder") != nullptr);
    CHECK(entry_text(*z.find("state_dict/byteorder")) == "little");
    // torch pads each storage to 64 bytes through the local header's extra field.
    const ZipEntry* d0 = z.find("state_dict/data/0");
    REQUIRE(d0 != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(d0->data) % 64 == 0);  // the mmap starts on a page boundary
    for (const ZipEntry& e : z.entries()) CHECK_NOTHROW(z.verify_crc(e));
}

TEST_CASE("zip refusals name the file and the problem", "[io][zip]") {
    ScratchDir dir;
    const std::string path = dir.file("damaged.zip");

    SECTION("a compressed entry") {
        const std::string p = t2l_test::fixture("io/compressed.zip");
        CHECK(error_of(p) == p + ": entry 'packed.txt' is compressed (method 8); torch checkpoints store entries uncompressed");
    }
    SECTION("a wrong CRC is found by verify_crc only") {
        ZipArchive z(t2l_test::fixture("io/bad_crc.zip"));
        REQUIRE(z.entries().size() == 1);
        CHECK_THROWS_WITH(z.verify_crc(z.entries()[0]), Catch::Contains("fails its CRC-32 check"));
    }
    SECTION("a duplicate name") {
        CHECK_THAT(error_of(t2l_test::fixture("io/dup.zip")), Catch::Contains("duplicate entry 'same'"));
    }
    SECTION("an empty file") {
        t2l_test::write_bytes(path, "");
        CHECK(error_of(path) == path + ": not a ZIP archive (0 bytes, smaller than an end-of-central-directory record)");
    }
    SECTION("a truncated archive (the tail is gone)") {
        std::string b = t2l_test::read_bytes(t2l_test::fixture("io/state_dict.pt"));
        t2l_test::write_bytes(path, b.substr(0, b.size() / 2));
        CHECK(error_of(path) == path + ": not a ZIP archive (no end-of-central-directory record in the last 64 KiB)");
        t2l_test::write_bytes(path, b.substr(0, b.size() - 1));  // one byte short: the end record no longer fits
        CHECK_THAT(error_of(path), Catch::Contains("not a ZIP archive"));
    }
    SECTION("garbage in the end record: the signature") {
        CHECK_THAT(damaged(dir, [](std::string& b) { b[eocd_pos(b)] = 'X'; }), Catch::Contains("no end-of-central-directory record"));
    }
    SECTION("garbage in the end record: the directory offset") {
        CHECK_THAT(damaged(dir, [](std::string& b) { put<uint32_t>(b, eocd_pos(b) + 16, 0xfffffff0u); }),
                   Catch::Contains("central directory (offset 4294967280, ") && Catch::Contains("runs past its end record"));
    }
    SECTION("garbage in the end record: an entry count the directory cannot hold") {
        CHECK_THAT(damaged(dir, [](std::string& b) {
                       put<uint16_t>(b, eocd_pos(b) + 8, 60000);
                       put<uint16_t>(b, eocd_pos(b) + 10, 60000);
                   }),
                   Catch::Contains("claims 60000 entries but the central directory has room for 3"));
    }
    SECTION("a ZIP64 placeholder without the ZIP64 records") {
        CHECK_THAT(damaged(dir, [](std::string& b) { put<uint32_t>(b, eocd_pos(b) + 12, 0xffffffffu); }),
                   Catch::Contains("no ZIP64 locator"));
    }
    SECTION("a local header offset past the end") {
        CHECK_THAT(damaged(dir, [](std::string& b) {
                       const size_t cd = load_le<uint32_t>(&b[eocd_pos(b) + 16]);
                       put<uint32_t>(b, cd + 42, 0x7ffffff0u);
                   }),
                   Catch::Contains("entry 'hello.txt' has its local header at offset 2147483632, past the start of the central directory"));
    }
    SECTION("an entry size past the end") {
        CHECK_THAT(damaged(dir, [](std::string& b) {
                       const size_t cd = load_le<uint32_t>(&b[eocd_pos(b) + 16]);
                       put<uint32_t>(b, cd + 20, 0xfffffff0u);
                       put<uint32_t>(b, cd + 24, 0xfffffff0u);
                   }),
                   Catch::Contains("entry 'hello.txt' (4294967280 bytes at offset 39) runs past the start of the central directory"));
    }
    SECTION("a broken central directory signature") {
        CHECK_THAT(damaged(dir, [](std::string& b) { b[load_le<uint32_t>(&b[eocd_pos(b) + 16])] = 'X'; }),
                   Catch::Contains("bad central directory signature for entry 0"));
    }
    SECTION("a broken local header") {
        CHECK_THAT(damaged(dir, [](std::string& b) { b[0] = 'X'; }), Catch::Contains("entry 'hello.txt' has no local header at offset 0"));
    }
    SECTION("a name that differs between the two headers") {
        CHECK_THAT(damaged(dir, [](std::string& b) { b[30] = 'J'; }),
                   Catch::Contains("entry 'hello.txt' has a different name in its local header"));
    }
    SECTION("a ZIP64 locator pointing nowhere") {
        std::string b = t2l_test::read_bytes(t2l_test::fixture("io/zip64.zip"));
        put<uint64_t>(b, eocd_pos(b) - 20 + 8, 0xffffffffffff0000ull);
        t2l_test::write_bytes(path, b);
        CHECK_THAT(error_of(path), Catch::Contains("ZIP64 end record offset 18446744073709486080 does not leave room"));
    }
    SECTION("a ZIP64 extra field too short for its placeholders") {
        std::string b = t2l_test::read_bytes(t2l_test::fixture("io/zip64.zip"));
        const size_t cd = (size_t)load_le<uint64_t>(&b[eocd_pos(b) - 20 - 56 + 48]);
        // Entry 0's extra: an 8-byte 0xcafe block, then the ZIP64 block; shrink the latter's length.
        const size_t zip64_len = cd + 46 + std::strlen("big/a.bin") + 8 + 2;
        REQUIRE(load_le<uint16_t>(&b[zip64_len]) == 24);
        put<uint16_t>(b, zip64_len, 8);
        t2l_test::write_bytes(path, b);
        CHECK_THAT(error_of(path), Catch::Contains("entry 'big/a.bin' has a ZIP64 extra field too short for its placeholders"));
    }
}
