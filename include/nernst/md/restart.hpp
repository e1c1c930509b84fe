#pragma once
/// \file
/// \brief MD checkpoints: a binary snapshot of everything that determines the continuation.
///
/// Format (little-endian, native doubles copied bit for bit): magic "NERNSTMD", u32 version,
/// then length-prefixed records: ensemble name, step, time (fs), dt (fs), seed, ndof, N,
/// species, mass, type, x, v, f, image, cell rows, E_pot, stress, ensemble state, and a
/// trailing FNV-1a hash of everything before it. Forces and the last energy/stress are stored so
/// the continuation does not depend on re-evaluating them (bit-identical restarts).
/// Written durably (core/durable_file.hpp: temporary, fsync, rename, directory fsync): a crash
/// never leaves a torn file.
///
/// Generations: every write first moves the current checkpoint to `<path>.prev`, so the last
/// two are on disk. read_checkpoint_generations() resumes from the newest one that reads back
/// intact (hash, lengths) and says so when that is the previous one; only when both are
/// unusable does it stop, with CheckpointUnusable (the workflow adds which stage to rerun).

#include <nernst/core/durable_file.hpp>
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

/// Serialized checkpoint: the bytes write_checkpoint puts on disk.
inline std::vector<char> checkpoint_bytes(const Checkpoint& c) {
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
  return std::move(w.buf);
}

/// The previous generation of the checkpoint at `path`.
inline std::string previous_checkpoint(const std::string& path) { return path + ".prev"; }

/// True when any generation of the checkpoint exists (a run has something to resume from).
inline bool checkpoint_exists(const std::string& path) {
  return std::filesystem::exists(path) || std::filesystem::exists(previous_checkpoint(path));
}

/// Writes a checkpoint durably, keeping the one it replaces as `<path>.prev`.
inline void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::vector<char> b = checkpoint_bytes(c);
  write_file_durable(path, std::string_view(b.data(), b.size()), /*keep_previous=*/true);
}

/// Reads and validates a checkpoint (magic, version, lengths, hash).
inline Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot open checkpoint '" + path + "'");
  std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (buf.size() < 8 + 4 + 8 || std::memcmp(buf.data(), detail::checkpoint_magic, 8) != 0)
    throw IOError("'" + path + "' is not a nernst MD checkpoint (" + std::to_string(buf.size()) +
                  " bytes: truncated, or another kind of file)");
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

/// No generation of a checkpoint can be read back: the run cannot resume from it.
class CheckpointUnusable : public IOError {
 public:
  using IOError::IOError;
};

/// A checkpoint read back for a resume: its content, the file it came from, and a notice
/// (empty when the latest generation was used) that the caller must show the user.
struct ResumedCheckpoint {
  Checkpoint data;
  std::string path;
  std::string notice;
};

/// Reads the newest intact generation of the checkpoint at `path` (checkpoint_exists(path)
/// must hold). A damaged latest one is renamed to `<path>.bad`, so that the next write keeps
/// the good previous generation as `.prev`. Throws CheckpointUnusable when neither reads back.
inline ResumedCheckpoint read_checkpoint_generations(const std::string& path) {
  namespace fs = std::filesystem;
  std::string latest_problem;
  if (fs::exists(path)) {
    try {
      return {read_checkpoint(path), path, ""};
    } catch (const Error& e) {
      latest_problem = e.what();
    }
  } else {
    latest_problem = "checkpoint '" + path + "' is missing (the run stopped while replacing it)";
  }
  const std::string prev = previous_checkpoint(path);
  if (!fs::exists(prev))
    throw CheckpointUnusable(latest_problem + ", and there is no previous generation '" + prev + "' to resume from");
  ResumedCheckpoint r;
  try {
    r.data = read_checkpoint(prev);
  } catch (const Error& e) {
    throw CheckpointUnusable(latest_problem + ", and the previous generation is unusable too: " + e.what());
  }
  r.path = prev;
  r.notice = "warning: " + latest_problem + "; resuming from the previous checkpoint '" + prev + "' (step " +
             std::to_string(r.data.step) + ")";
  if (fs::exists(path)) {
    std::error_code ec;
    fs::rename(path, path + ".bad", ec);
    if (!ec) r.notice += "; the damaged file is kept as '" + path + ".bad'";
  }
  return r;
}

}  // namespace md
NERNST_NAMESPACE_END
