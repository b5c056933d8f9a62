// zip.cpp — validating ZIP reader (see zip.h).
//
// Layout read here (APPNOTE.TXT), all little-endian, from the end of the file backwards:
//   end of central directory (EOCD, 22 bytes + comment up to 64 KiB)
//   [ZIP64 EOCD locator (20 bytes) just before it -> ZIP64 EOCD record (56+ bytes)]
//   central directory: one 46-byte header + name + extra + comment per entry
//   each entry's local header (30 bytes + name + extra) followed by its data.
// Sizes and the CRC come from the central directory: torch sets the "data descriptor" flag
// and leaves them zero in the local headers, and pads its data to 64 bytes through the
// local header's extra field, so the local header is read only for its own lengths.
#include "io/zip.h"

#include <array>
#include <cstring>

#include "common.h"

namespace t2l {

namespace {

constexpr uint32_t kSigLocal = 0x04034b50;
constexpr uint32_t kSigCentral = 0x02014b50;
constexpr uint32_t kSigEocd = 0x06054b50;
constexpr uint32_t kSigEocd64 = 0x06064b50;
constexpr uint32_t kSigLocator = 0x07064b50;
constexpr uint64_t kEocdSize = 22, kLocatorSize = 20, kEocd64Size = 56;
constexpr uint64_t kCentralSize = 46, kLocalSize = 30;
constexpr uint64_t kMaxComment = 0xffff;
constexpr uint16_t kZip64ExtraId = 0x0001;

struct Eocd {
    uint64_t n_entries;
    uint64_t cd_size;
    uint64_t cd_offset;
    uint64_t cd_limit;  // the central directory must end at or before this offset
};

// Find the EOCD: scan backwards over the largest allowed comment for a signature whose
// comment length reaches exactly the end of the file (a stray signature inside a comment
// fails that test).
uint64_t find_eocd(const MappedFile& f) {
    const uint64_t size = f.size();
    if (size < kEocdSize) fail(f.path(), ": not a ZIP archive (", size, " bytes, smaller than an end-of-central-directory record)");
    const uint64_t last = size - kEocdSize;
    const uint64_t first = last > kMaxComment ? last - kMaxComment : 0;
    for (uint64_t pos = last + 1; pos-- > first;) {
        const uint8_t* p = f.data() + pos;
        if (load_le<uint32_t>(p) == kSigEocd && pos + kEocdSize + load_le<uint16_t>(p + 20) == size) return pos;
    }
    fail(f.path(), ": not a ZIP archive (no end-of-central-directory record in the last 64 KiB)");
}

Eocd read_eocd(const MappedFile& f) {
    const std::string& path = f.path();
    const uint64_t eocd_pos = find_eocd(f);
    const uint8_t* e = f.data() + eocd_pos;
    Eocd r;
    r.n_entries = load_le<uint16_t>(e + 10);
    r.cd_size = load_le<uint32_t>(e + 12);
    r.cd_offset = load_le<uint32_t>(e + 16);
    r.cd_limit = eocd_pos;
    const uint16_t disk = load_le<uint16_t>(e + 4), cd_disk = load_le<uint16_t>(e + 6);
    const uint16_t n_here = load_le<uint16_t>(e + 8);

    const bool has_locator = eocd_pos >= kLocatorSize && load_le<uint32_t>(f.data() + eocd_pos - kLocatorSize) == kSigLocator;
    if (!has_locator) {
        if (disk != 0 || cd_disk != 0 || n_here != r.n_entries) fail(path, ": multi-disk ZIP archives are not supported");
        if (r.n_entries == 0xffff || r.cd_size == 0xffffffffu || r.cd_offset == 0xffffffffu)
            fail(path, ": ZIP end record says ZIP64 but there is no ZIP64 locator");
        return r;
    }
    // ZIP64: the locator points at the 64-bit end record, whose values replace the 16/32-bit ones.
    const uint8_t* loc = f.data() + eocd_pos - kLocatorSize;
    const uint64_t rec_pos = load_le<uint64_t>(loc + 8);
    const uint32_t n_disks = load_le<uint32_t>(loc + 16);
    if (load_le<uint32_t>(loc + 4) != 0 || n_disks > 1) fail(path, ": multi-disk ZIP archives are not supported");
    const uint64_t loc_pos = eocd_pos - kLocatorSize;
    if (rec_pos > loc_pos || loc_pos - rec_pos < kEocd64Size)
        fail(path, ": ZIP64 end record offset ", rec_pos, " does not leave room for the record before its locator at ", loc_pos);
    const uint8_t* z = f.data() + rec_pos;
    if (load_le<uint32_t>(z) != kSigEocd64) fail(path, ": no ZIP64 end record at offset ", rec_pos);
    if (load_le<uint32_t>(z + 16) != 0 || load_le<uint32_t>(z + 20) != 0 || load_le<uint64_t>(z + 24) != load_le<uint64_t>(z + 32))
        fail(path, ": multi-disk ZIP archives are not supported");
    r.n_entries = load_le<uint64_t>(z + 32);
    r.cd_size = load_le<uint64_t>(z + 40);
    r.cd_offset = load_le<uint64_t>(z + 48);
    r.cd_limit = rec_pos;
    return r;
}

// Replace the 0xffff... placeholders of a central header with the values of its ZIP64 extra
// field, which lists only the replaced ones, in this order.
void apply_zip64_extra(const std::string& path, const std::string& name, const uint8_t* extra, uint64_t extra_len,
                       uint64_t* usize, uint64_t* csize, uint64_t* offset) {
    uint64_t pos = 0;
    while (pos + 4 <= extra_len) {
        const uint16_t id = load_le<uint16_t>(extra + pos), len = load_le<uint16_t>(extra + pos + 2);
        if (len > extra_len - pos - 4) fail(path, ": entry '", name, "' has an extra field running past its header");
        if (id == kZip64ExtraId) {
            const uint8_t* p = extra + pos + 4;
            uint64_t left = len;
            for (uint64_t* v : {usize, csize, offset}) {
                if (*v != 0xffffffffu) continue;
                if (left < 8) fail(path, ": entry '", name, "' has a ZIP64 extra field too short for its placeholders");
                *v = load_le<uint64_t>(p);
                p += 8;
                left -= 8;
            }
            return;
        }
        pos += 4 + len;
    }
    if (*usize == 0xffffffffu || *csize == 0xffffffffu || *offset == 0xffffffffu)
        fail(path, ": entry '", name, "' has ZIP64 placeholders but no ZIP64 extra field");
}

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : ZipArchive(MappedFile(path)) {}

ZipArchive::ZipArchive(MappedFile file) : file_(std::move(file)) {
    const std::string& path = file_.path();
    const uint8_t* base = file_.data();
    const Eocd eocd = read_eocd(file_);

    uint64_t cd_end;
    if (!checked_add(eocd.cd_offset, eocd.cd_size, &cd_end) || cd_end > eocd.cd_limit)
        fail(path, ": central directory (offset ", eocd.cd_offset, ", ", eocd.cd_size, " bytes) runs past its end record at ", eocd.cd_limit);
    // Every central header takes at least 46 bytes: this bounds the count before we reserve.
    if (eocd.n_entries > eocd.cd_size / kCentralSize)
        fail(path, ": ZIP end record claims ", eocd.n_entries, " entries but the central directory has room for ", eocd.cd_size / kCentralSize);
    entries_.reserve((size_t)eocd.n_entries);

    uint64_t pos = eocd.cd_offset;
    for (uint64_t i = 0; i < eocd.n_entries; i++) {
        if (cd_end - pos < kCentralSize) fail(path, ": central directory entry ", i, " runs past the directory");
        const uint8_t* c = base + pos;
        if (load_le<uint32_t>(c) != kSigCentral) fail(path, ": bad central directory signature for entry ", i, " at offset ", pos);
        const uint16_t flags = load_le<uint16_t>(c + 8), method = load_le<uint16_t>(c + 10);
        const uint32_t crc = load_le<uint32_t>(c + 16);
        uint64_t csize = load_le<uint32_t>(c + 20), usize = load_le<uint32_t>(c + 24);
        const uint64_t name_len = load_le<uint16_t>(c + 28), extra_len = load_le<uint16_t>(c + 30);
        const uint64_t comment_len = load_le<uint16_t>(c + 32);
        uint64_t local = load_le<uint32_t>(c + 42);
        const uint64_t header_len = kCentralSize + name_len + extra_len + comment_len;  // <= 46 + 3*65535, no overflow
        if (cd_end - pos < header_len) fail(path, ": central directory entry ", i, " runs past the directory");

        ZipEntry e;
        e.name.assign((const char*)c + kCentralSize, name_len);
        e.crc32 = crc;
        apply_zip64_extra(path, e.name, c + kCentralSize + name_len, extra_len, &usize, &csize, &local);
        if (flags & 1) fail(path, ": entry '", e.name, "' is encrypted");
        if (method != 0)
            fail(path, ": entry '", e.name, "' is compressed (method ", method, "); torch checkpoints store entries uncompressed");
        if (csize != usize) fail(path, ": stored entry '", e.name, "' has different compressed (", csize, ") and plain (", usize, ") sizes");

        // The local header: its own name and extra lengths place the data.
        if (local > eocd.cd_offset || eocd.cd_offset - local < kLocalSize)
            fail(path, ": entry '", e.name, "' has its local header at offset ", local, ", past the start of the central directory");
        const uint8_t* l = base + local;
        if (load_le<uint32_t>(l) != kSigLocal) fail(path, ": entry '", e.name, "' has no local header at offset ", local);
        if (load_le<uint16_t>(l + 8) != method) fail(path, ": entry '", e.name, "' has a different method in its local header");
        // local + 30 + 2*65535 cannot overflow: local <= cd_offset <= file size.
        const uint64_t data_off = local + kLocalSize + load_le<uint16_t>(l + 26) + load_le<uint16_t>(l + 28);
        uint64_t data_end;
        if (data_off > eocd.cd_offset || !checked_add(data_off, usize, &data_end) || data_end > eocd.cd_offset)
            fail(path, ": entry '", e.name, "' (", usize, " bytes at offset ", data_off, ") runs past the start of the central directory at ", eocd.cd_offset);
        if (load_le<uint16_t>(l + 26) != name_len || std::memcmp(l + kLocalSize, e.name.data(), (size_t)name_len) != 0)
            fail(path, ": entry '", e.name, "' has a different name in its local header");
        e.data = base + data_off;
        e.size = usize;

        if (!index_.emplace(e.name, entries_.size()).second) fail(path, ": duplicate entry '", e.name, "'");
        entries_.push_back(std::move(e));
        pos += header_len;
    }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::verify_crc(const ZipEntry& e) const {
    const uint32_t got = crc32(e.data, (size_t)e.size);
    if (got != e.crc32) fail(path(), ": entry '", e.name, "' fails its CRC-32 check (stored ", e.crc32, ", computed ", got, ")");
}

// Table-driven, reflected polynomial 0xEDB88320: one table lookup per byte.
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc) {
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

}  // namespace t2l
