// zip.h — read-only ZIP reader for the archives torch.save writes (hypermod.pt and friends).
//
// Takes: a file path; the file is memory-mapped once and entries are views into the map.
// Gives: the entries of the central directory in their stored order, each with a pointer to
//        its bytes and their size, plus a CRC-32 check on request.
// Assumes: a single-disk archive whose entries are stored (method 0), as torch.save writes
//          them; ZIP64 records are followed (torch writes them always, and needs them above
//          4 GiB). A compressed, encrypted or split archive is an Error naming the file.
// Every offset and length is checked against the file size, overflow-checked, before a byte
// is read; the entry count is bounded by the size of the central directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.h"

namespace t2l {

struct ZipEntry {
    std::string name;
    const uint8_t* data = nullptr;  // points into the archive's mmap
    uint64_t size = 0;
    uint32_t crc32 = 0;             // as recorded in the central directory
};

class ZipArchive {
public:
    explicit ZipArchive(const std::string& path);  // throws Error("<path>: ...")
    explicit ZipArchive(MappedFile file);           // bytes already mapped or in memory
    const std::string& path() const { return file_.path(); }
    uint64_t file_size() const { return file_.size(); }
    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;  // nullptr when absent
    // Recompute the entry's CRC-32 and compare it with the recorded one; throws on mismatch.
    void verify_crc(const ZipEntry& e) const;

private:
    MappedFile file_;
    std::vector<ZipEntry> entries_;
    std::unordered_map<std::string, size_t> index_;
};

// CRC-32 (IEEE 802.3, the one ZIP uses). Pass the previous result to continue a running CRC.
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0);

}  // namespace t2l
