#pragma once
/// \file
/// \brief Zip archive access for PyTorch checkpoints: reading through libzip, writing a plain
/// "stored" (uncompressed) archive with 64-byte aligned entry data, the layout `torch.save` writes.

#include <nernst/core/error.hpp>

#include <zip.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {
namespace detail {

/// Read-only view of a zip archive's entries (libzip). Every failure is a ParseError naming the file.
class ZipReader {
 public:
  explicit ZipReader(std::string path) : path_(std::move(path)) {
    int err = 0;
    zip_t* z = zip_open(path_.c_str(), ZIP_RDONLY, &err);
    if (!z) {
      if (err == ZIP_ER_OPEN || err == ZIP_ER_NOENT || err == ZIP_ER_READ)
        throw IOError("cannot open '" + path_ + "': " + error_string(err));
      throw ParseError(path_, 0, "not a readable zip archive (" + error_string(err) +
                                     "); PyTorch checkpoints are zip files written by torch.save (torch >= 1.6)");
    }
    zip_.reset(z);
    std::error_code ec;
    file_size_ = static_cast<std::uint64_t>(std::filesystem::file_size(path_, ec));
    if (ec) file_size_ = 0;
    list_names();
  }

  /// Reads an archive held in memory (e.g. the TorchScript archive e3nn pickles inside a module);
  /// `label` names it in error messages.
  static ZipReader from_memory(std::string label, std::string bytes) {
    ZipReader r;
    r.path_ = std::move(label);
    r.bytes_ = std::make_unique<std::string>(std::move(bytes));
    zip_error_t e;
    zip_error_init(&e);
    zip_source_t* src = zip_source_buffer_create(r.bytes_->data(), r.bytes_->size(), 0, &e);
    zip_t* z = src ? zip_open_from_source(src, ZIP_RDONLY, &e) : nullptr;
    if (!z) {
      if (src) zip_source_free(src);
      const std::string why = zip_error_strerror(&e);
      zip_error_fini(&e);
      throw ParseError(r.path_, 0, "not a readable zip archive (" + why + ")");
    }
    zip_error_fini(&e);
    r.zip_.reset(z);
    r.file_size_ = r.bytes_->size();
    r.list_names();
    return r;
  }

  const std::string& path() const noexcept { return path_; }
  const std::vector<std::string>& names() const noexcept { return names_; }

  /// Index of an entry by exact name, or -1.
  std::int64_t find(const std::string& name) const {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == name) return static_cast<std::int64_t>(i);
    return -1;
  }

  /// Uncompressed size of an entry.
  std::uint64_t size(std::int64_t index) const {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      throw ParseError(path_, 0, "cannot stat zip entry '" + names_.at(static_cast<std::size_t>(index)) + "'");
    return st.size;
  }

  /// The whole content of an entry (CRC checked by libzip). `max_bytes` guards against absurd sizes.
  std::vector<unsigned char> read(std::int64_t index,
                                  std::uint64_t max_bytes = std::uint64_t(1) << 36) const {
    const std::string& name = names_.at(static_cast<std::size_t>(index));
    const std::uint64_t n = size(index);
    // Deflate cannot shrink data more than ~1032:1, so a larger claim is a corrupt header; checked
    // before allocating.
    if (n > max_bytes || n > 1100 * file_size_ + (std::uint64_t(1) << 20))
      throw ParseError(path_, 0, "zip entry '" + name + "' claims an implausible size (" + std::to_string(n) + " bytes)");
    zip_file_t* f = zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(index), 0);
    if (!f) throw ParseError(path_, 0, "cannot open zip entry '" + name + "': " + zip_strerror(zip_.get()));
    std::vector<unsigned char> buf(static_cast<std::size_t>(n));
    std::uint64_t got = 0;
    while (got < n) {
      const zip_int64_t r = zip_fread(f, buf.data() + got, n - got);
      if (r <= 0) {
        const std::string why = r < 0 ? zip_file_strerror(f) : "unexpected end of data";
        zip_fclose(f);
        throw ParseError(path_, 0, "cannot read zip entry '" + name + "' (" + why + "); the file may be truncated");
      }
      got += static_cast<std::uint64_t>(r);
    }
    // One more read reaches the end of the entry, where libzip verifies the CRC.
    unsigned char extra;
    const zip_int64_t r = zip_fread(f, &extra, 1);
    const std::string why = r < 0 ? zip_file_strerror(f) : "";
    zip_fclose(f);
    if (r != 0)
      throw ParseError(path_, 0, "zip entry '" + name + "' is corrupt" + (why.empty() ? "" : " (" + why + ")"));
    return buf;
  }

 private:
  ZipReader() = default;
  void list_names() {
    const zip_int64_t n = zip_get_num_entries(zip_.get(), 0);
    if (n < 0) throw ParseError(path_, 0, "cannot list the zip entries");
    names_.reserve(static_cast<std::size_t>(n));
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* name = zip_get_name(zip_.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      names_.emplace_back(name ? name : "");
    }
  }
  static std::string error_string(int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string s = zip_error_strerror(&e);
    zip_error_fini(&e);
    return s;
  }
  struct Closer {
    void operator()(zip_t* z) const noexcept { zip_discard(z); }
  };
  std::string path_;
  std::unique_ptr<std::string> bytes_;  ///< the archive when read from memory (libzip reads it in place; outlives zip_)
  std::unique_ptr<zip_t, Closer> zip_;
  std::uint64_t file_size_ = 0;
  std::vector<std::string> names_;
};

/// CRC-32 (IEEE 802.3, the zip checksum).
inline std::uint32_t crc32(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

/// One entry to write: its name and bytes.
struct ZipEntry {
  std::string name;
  std::string data;
};

/// Writes a zip archive with stored (uncompressed) entries whose data start on 64-byte boundaries
/// (padding goes into a local-header extra field with id 'FB', as PyTorch's writer does). Entries are
/// limited to the classic (non-Zip64) format: < 4 GiB each and in total, < 65535 entries.
inline void write_zip(const std::string& path, const std::vector<ZipEntry>& entries) {
  constexpr std::uint64_t kAlign = 64;
  constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, as torch writes
  std::string out;
  auto u16 = [&](std::uint32_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>((v >> 8) & 0xff));
  };
  auto u32 = [&](std::uint32_t v) {
    u16(v & 0xffff);
    u16(v >> 16);
  };
  if (entries.size() >= 0xffff) throw NotSupported("write_zip: too many entries for '" + path + "'");
  std::vector<std::uint32_t> offsets, crcs;
  for (const ZipEntry& e : entries) {
    if (e.data.size() >= 0xffffffffull || e.name.size() >= 0xffff)
      throw NotSupported("write_zip: entry '" + e.name + "' is too large for a non-Zip64 archive");
    const std::uint64_t offset = out.size();
    const std::uint64_t data_start_unpadded = offset + 30 + e.name.size() + 4;
    const std::uint64_t pad = (kAlign - data_start_unpadded % kAlign) % kAlign;
    const std::uint32_t crc = crc32(reinterpret_cast<const unsigned char*>(e.data.data()), e.data.size());
    offsets.push_back(static_cast<std::uint32_t>(offset));
    crcs.push_back(crc);
    u32(0x04034b50u);
    u16(20);  // version needed
    u16(0);   // flags
    u16(0);   // method: stored
    u16(0);   // time
    u16(kDosDate);
    u32(crc);
    u32(static_cast<std::uint32_t>(e.data.size()));
    u32(static_cast<std::uint32_t>(e.data.size()));
    u16(static_cast<std::uint32_t>(e.name.size()));
    u16(static_cast<std::uint32_t>(4 + pad));
    out += e.name;
    u16(0x4246);  // "FB"
    u16(static_cast<std::uint32_t>(pad));
    out.append(static_cast<std::size_t>(pad), 'Z');
    out += e.data;
    if (out.size() >= 0xffffffffull) throw NotSupported("write_zip: '" + path + "' would exceed 4 GiB (Zip64 not supported)");
  }
  const std::uint64_t cd_start = out.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    u32(0x02014b50u);
    u16(20);  // version made by
    u16(20);  // version needed
    u16(0);
    u16(0);
    u16(0);
    u16(kDosDate);
    u32(crcs[i]);
    u32(static_cast<std::uint32_t>(e.data.size()));
    u32(static_cast<std::uint32_t>(e.data.size()));
    u16(static_cast<std::uint32_t>(e.name.size()));
    u16(0);  // extra
    u16(0);  // comment
    u16(0);  // disk
    u16(0);  // internal attributes
    u32(0);  // external attributes
    u32(offsets[i]);
    out += e.name;
  }
  const std::uint64_t cd_size = out.size() - cd_start;
  if (out.size() >= 0xffffffffull) throw NotSupported("write_zip: '" + path + "' would exceed 4 GiB (Zip64 not supported)");
  u32(0x06054b50u);
  u16(0);
  u16(0);
  u16(static_cast<std::uint32_t>(entries.size()));
  u16(static_cast<std::uint32_t>(entries.size()));
  u32(static_cast<std::uint32_t>(cd_size));
  u32(static_cast<std::uint32_t>(cd_start));
  u16(0);

  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw IOError("cannot open '" + path + "' for writing");
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  f.close();
  if (!f) throw IOError("error writing '" + path + "'");
}

}  // namespace detail
}  // namespace io
NERNST_NAMESPACE_END
