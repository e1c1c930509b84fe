#pragma once
/// \file
/// \brief MD checkpoints: a binary snapshot of everything that determines the continuation.
///
/// Format (little-endian, native doubles copied bit for bit): magic "NERNSTMD", u32 version,
/// then length-prefixed records: ensemble name, step, time (fs), dt (fs), seed, ndof, N,
/// species, mass, type, x, v, f, image, cell rows, E_pot, stress, ensemble state, and a
/// trailing FNV-1a hash of everything before it. Forces and the last energy/stress are stored so
/// the continuation does not depend on re-evaluating them (bit-identical restarts).
/// Written to `path.tmp`, flushed, then renamed over `path`: a crash never leaves a torn file.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace md {

/// Host-side content of a checkpoint.
struct Checkpoint {
  std::string ensemble;
  long step = 0;
  double time = 0, dt = 0;
  std::uint64_t seed = 0;
  int ndof = 0;
  std::vector<int> species;
  std::vector<double> mass;
  std::vector<int> type;
  std::vector<double> x, v, f;  ///< 3N each, row-major (atom, axis)
  std::vector<int> image;       ///< 3N
  Eigen::Matrix3d cell = Eigen::Matrix3d::Identity();
  double energy = 0;
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();
  bool has_stress = false;
  std::vector<double> ensemble_state;
  std::size_t natoms() const { return mass.size(); }
};

namespace detail {
inline constexpr char checkpoint_magic[8] = {'N', 'E', 'R', 'N', 'S', 'T', 'M', 'D'};
inline constexpr std::uint32_t checkpoint_version = 1;

class ByteWriter {
 public:
  template <class T>
  void put(const T& v) { append(&v, sizeof(T)); }
  template <class T>
  void put_vec(const std::vector<T>& v) {
    put<std::uint64_t>(v.size());
    if (!v.empty()) append(v.data(), v.size() * sizeof(T));
  }
  void put_str(const std::string& s) {
    put<std::uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void append(const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    buf.insert(buf.end(), c, c + n);
  }
  std::vector<char> buf;
};

class ByteReader {
 public:
  ByteReader(const std::vector<char>& b, std::string path) : buf_(b), path_(std::move(path)) {}
  template <class T>
  T get() {
    T v;
    take(&v, sizeof(T));
    return v;
  }
  template <class T>
  std::vector<T> get_vec(std::size_t expect = SIZE_MAX) {
    const auto n = get<std::uint64_t>();
    if (n > (buf_.size() - pos_) / sizeof(T) || (expect != SIZE_MAX && n != expect))
      throw IOError("checkpoint '" + path_ + "': corrupt array length");
    std::vector<T> v(n);
    if (n) take(v.data(), n * sizeof(T));
    return v;
  }
  std::string get_str() {
    auto v = get_vec<char>();
    return std::string(v.begin(), v.end());
  }
  void take(void* p, std::size_t n) {
    if (pos_ + n > buf_.size()) throw IOError("checkpoint '" + path_ + "': truncated file");
    std::memcpy(p, buf_.data() + pos_, n);
    pos_ += n;
  }
  std::size_t pos() const { return pos_; }

 private:
  const std::vector<char>& buf_;
  std::string path_;
  std::size_t pos_ = 0;
};

inline std::uint64_t fnv1a(const char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ULL;
  }
  return h;
}
}  // namespace detail

/// Writes a checkpoint atomically (temporary file + rename).
inline void write_checkpoint(const std::string& path, const Checkpoint& c) {
  detail::ByteWriter w;
  w.append(detail::checkpoint_magic, 8);
  w.put(detail::checkpoint_version);
  w.put_str(c.ensemble);
  w.put<std::int64_t>(c.step);
  w.put(c.time);
  w.put(c.dt);
  w.put(c.seed);
  w.put<std::int32_t>(c.ndof);
  w.put_vec(c.species);
  w.put_vec(c.mass);
  w.put_vec(c.type);
  w.put_vec(c.x);
  w.put_vec(c.v);
  w.put_vec(c.f);
  w.put_vec(c.image);
  for (int k = 0; k < 9; ++k) w.put(c.cell(k / 3, k % 3));
  w.put(c.energy);
  for (int k = 0; k < 9; ++k) w.put(c.stress(k / 3, k % 3));
  w.put<std::uint8_t>(c.has_stress ? 1 : 0);
  w.put_vec(c.ensemble_state);
  w.put(detail::fnv1a(w.buf.data(), w.buf.size()));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IOError("cannot open checkpoint '" + tmp + "' for writing");
    out.write(w.buf.data(), static_cast<std::streamsize>(w.buf.size()));
    out.flush();
    if (!out) throw IOError("error writing checkpoint '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IOError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

/// Reads and validates a checkpoint (magic, version, lengths, hash).
inline Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot open checkpoint '" + path + "'");
  std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (buf.size() < 8 + 4 + 8 || std::memcmp(buf.data(), detail::checkpoint_magic, 8) != 0)
    throw IOError("'" + path + "' is not a nernst MD checkpoint");
  std::uint64_t stored;
  std::memcpy(&stored, buf.data() + buf.size() - 8, 8);
  if (stored != detail::fnv1a(buf.data(), buf.size() - 8))
    throw IOError("checkpoint '" + path + "' is corrupt (hash mismatch)");
  detail::ByteReader r(buf, path);
  char magic[8];
  r.take(magic, 8);
  const auto version = r.get<std::uint32_t>();
  if (version != detail::checkpoint_version)
    throw IOError("checkpoint '" + path + "' has version " + std::to_string(version) + ", expected " +
                  std::to_string(detail::checkpoint_version));
  Checkpoint c;
  c.ensemble = r.get_str();
  c.step = static_cast<long>(r.get<std::int64_t>());
  c.time = r.get<double>();
  c.dt = r.get<double>();
  c.seed = r.get<std::uint64_t>();
  c.ndof = r.get<std::int32_t>();
  c.species = r.get_vec<int>();
  c.mass = r.get_vec<double>();
  const std::size_t n = c.mass.size();
  c.type = r.get_vec<int>(n);
  c.x = r.get_vec<double>(3 * n);
  c.v = r.get_vec<double>(3 * n);
  c.f = r.get_vec<double>(3 * n);
  c.image = r.get_vec<int>(3 * n);
  for (int k = 0; k < 9; ++k) c.cell(k / 3, k % 3) = r.get<double>();
  c.energy = r.get<double>();
  for (int k = 0; k < 9; ++k) c.stress(k / 3, k % 3) = r.get<double>();
  c.has_stress = r.get<std::uint8_t>() != 0;
  c.ensemble_state = r.get_vec<double>();
  if (r.pos() != buf.size() - 8) throw IOError("checkpoint '" + path + "': trailing data");
  return c;
}

}  // namespace md
NERNST_NAMESPACE_END
