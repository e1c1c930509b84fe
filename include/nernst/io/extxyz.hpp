#pragma once
/// \file
/// \brief Extended XYZ as ASE writes and reads it: Lattice="…", Properties=species:S:1:pos:R:3:…,
/// pbc, per-frame energy / free_energy / stress (3x3 or Voigt), per-atom forces, momenta or
/// velocities, image flags and charges. Multi-frame files are streamed (ExtXYZReader) with
/// random access through a byte-offset index that is built lazily.

#include <nernst/core/units.hpp>
#include <nernst/io/detail/indexed_reader.hpp>
#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/frame.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

NERNST_NAMESPACE_BEGIN
namespace io {

/// ASE's time unit Å·sqrt(amu/eV) in fs (≈ 10.1805 fs): ASE momenta are amu·Å/(this unit).
inline const double ase_time_unit_fs = std::sqrt(units::amu_A2_per_eV_in_fs2);

namespace detail {

inline std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

/// Parses the key=value pairs of an extended-XYZ comment line (values may be "quoted" or
/// {braced}; a bare key is a true flag, as in ASE). Keys keep their case.
inline std::map<std::string, std::string> parse_xyz_comment(const LineReader& r, const std::string& s) {
  std::map<std::string, std::string> kv;
  std::size_t i = 0;
  auto skip = [&] { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; };
  while (true) {
    skip();
    if (i >= s.size()) break;
    std::size_t k0 = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string key = s.substr(k0, i - k0);
    skip();
    std::string val = "T";
    if (i < s.size() && s[i] == '=') {
      ++i;
      skip();
      if (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == '{')) {
        const char close = s[i] == '{' ? '}' : s[i];
        const std::size_t v0 = ++i;
        while (i < s.size() && s[i] != close) ++i;
        if (i >= s.size()) r.fail("unterminated quoted value for key '" + key + "' in the comment line");
        val = s.substr(v0, i - v0);
        ++i;
      } else {
        const std::size_t v0 = i;
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        val = s.substr(v0, i - v0);
      }
    }
    if (key.empty()) r.fail("'=' without a key in the comment line");
    kv[key] = val;
  }
  return kv;
}

inline std::vector<double> parse_doubles(const LineReader& r, const std::string& s, const std::string& what) {
  std::vector<double> v;
  for (auto t : split_ws(s)) v.push_back(parse_double(r, t, what));
  return v;
}

/// One Properties entry and what nernst does with it.
struct XyzColumn {
  enum Kind { Species, Z, Pos, Forces, Momenta, Velocities, Image, Charge, Other } kind;
  std::string name;
  char type;
  int n;
};

inline std::vector<XyzColumn> parse_properties(const LineReader& r, const std::string& props) {
  std::vector<std::string> parts;
  {
    std::size_t a = 0;
    while (true) {
      const auto b = props.find(':', a);
      parts.push_back(props.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
  }
  if (parts.size() % 3 != 0) r.fail("malformed Properties '" + props + "' (needs name:type:count triples)");
  std::vector<XyzColumn> cols;
  for (std::size_t k = 0; k < parts.size(); k += 3) {
    long nc;
    if (!try_parse_long(parts[k + 2], nc) || nc < 1 || nc > 1000 || parts[k + 1].size() != 1 ||
        std::string("SRILsril").find(parts[k + 1][0]) == std::string::npos)
      r.fail("malformed Properties entry '" + parts[k] + ":" + parts[k + 1] + ":" + parts[k + 2] + "'");
    const std::string name = parts[k];
    const char type = static_cast<char>(std::toupper(static_cast<unsigned char>(parts[k + 1][0])));
    const std::string l = lower(name);
    XyzColumn::Kind kind = XyzColumn::Other;
    if ((l == "species" || l == "symbols") && type == 'S' && nc == 1) kind = XyzColumn::Species;
    else if ((l == "z" || l == "numbers") && type == 'I' && nc == 1) kind = XyzColumn::Z;
    else if ((l == "pos" || l == "positions") && type == 'R' && nc == 3) kind = XyzColumn::Pos;
    else if ((l == "forces" || l == "force") && type == 'R' && nc == 3) kind = XyzColumn::Forces;
    else if (l == "momenta" && type == 'R' && nc == 3) kind = XyzColumn::Momenta;
    else if ((l == "velocities" || l == "velo" || l == "vel") && type == 'R' && nc == 3) kind = XyzColumn::Velocities;
    else if ((l == "image" || l == "images") && type == 'I' && nc == 3) kind = XyzColumn::Image;
    else if ((l == "charge" || l == "charges" || l == "initial_charges") && type == 'R' && nc == 1) kind = XyzColumn::Charge;
    cols.push_back({kind, name, type, static_cast<int>(nc)});
  }
  return cols;
}

inline void set_stress(const LineReader& r, const std::string& v, std::optional<Eigen::Matrix3d>& out) {
  const auto s = parse_doubles(r, v, "stress");
  Eigen::Matrix3d m;
  if (s.size() == 9) {
    for (int i = 0; i < 9; ++i) m(i / 3, i % 3) = s[static_cast<std::size_t>(i)];
  } else if (s.size() == 6) {  // Voigt xx yy zz yz xz xy
    m << s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2];
  } else {
    r.fail("stress needs 9 or 6 numbers, found " + std::to_string(s.size()));
  }
  out = m;
}

/// Reads the atom-count line that starts a frame (blank lines before it are skipped); false at a
/// clean end of file.
inline bool read_xyz_atom_count(LineReader& r, long& n) {
  std::string line;
  std::vector<std::string_view> tok;
  if (!next_nonblank(r, line, tok)) return false;
  if (tok.size() != 1) r.fail("expected the atom count alone on the line, found '" + line.substr(0, 60) + "'");
  n = parse_long(r, tok[0], "the atom count");
  if (n < 0) r.fail("negative atom count");
  if (n > 2000000000L) r.fail("atom count " + std::to_string(n) + " is implausibly large");
  return true;
}

}  // namespace detail

/// Reads one frame from an open reader; returns false at a clean end of file (blank lines
/// between frames are skipped).
inline bool read_extxyz_frame(detail::LineReader& r, Frame& frame) {
  using namespace detail;
  std::string line;
  std::vector<std::string_view> tok;
  long n = 0;
  if (!read_xyz_atom_count(r, n)) return false;
  const std::string comment = r.require("the comment line");
  const auto kv = parse_xyz_comment(r, comment);

  frame = Frame{};
  std::string props = "species:S:1:pos:R:3";
  bool have_lattice = false;
  Lattice lattice;
  for (const auto& [key, v] : kv) {
    const std::string k = lower(key);
    if (k == "lattice") {
      const auto c = parse_doubles(r, v, "Lattice");
      if (c.size() != 9) r.fail("Lattice needs 9 numbers, found " + std::to_string(c.size()));
      Eigen::Matrix3d m;
      for (int i = 0; i < 9; ++i) m(i / 3, i % 3) = c[static_cast<std::size_t>(i)];
      try {
        lattice = Lattice(m);
      } catch (const ValueError& e) {
        r.fail(std::string("singular cell: ") + e.what());
      }
      have_lattice = true;
    } else if (k == "properties") {
      props = v;
    } else if (k == "pbc") {
      // nernst is periodic; pbc is rewritten as "T T T".
    } else if (k == "energy") {
      frame.energy = parse_double(r, v, "energy");
    } else if (k == "free_energy") {
      frame.free_energy = parse_double(r, v, "free_energy");
    } else if (k == "stress") {
      set_stress(r, v, frame.stress);
    } else {
      if (k == "step") {
        long st;
        if (try_parse_long(v, st)) frame.step = st;
      }
      frame.info[key] = v;
    }
  }
  if (!have_lattice) r.fail("frame has no Lattice: nernst needs periodic cells");
  const auto cols = parse_properties(r, props);
  std::size_t total = 0;
  bool has_species = false, has_pos = false;
  for (const auto& c : cols) {
    total += static_cast<std::size_t>(c.n);
    has_species |= c.kind == XyzColumn::Species || c.kind == XyzColumn::Z;
    has_pos |= c.kind == XyzColumn::Pos;
  }
  if (!has_species) r.fail("Properties has no species (or Z) column");
  if (!has_pos) r.fail("Properties has no pos column");

  frame.structure = Structure(lattice);
  auto& sites = frame.structure.sites();
  const std::size_t guess = static_cast<std::size_t>(std::min<long>(n, 1 << 20));
  sites.reserve(guess);
  std::vector<Eigen::Vector3d> momenta;
  for (const auto& c : cols) {
    if (c.kind == XyzColumn::Forces) frame.forces.reserve(guess);
    if (c.kind == XyzColumn::Velocities) frame.velocities.reserve(guess);
    if (c.kind == XyzColumn::Momenta) momenta.reserve(guess);
    if (c.kind == XyzColumn::Image) frame.images.reserve(guess);
    if (c.kind == XyzColumn::Charge) frame.charges.reserve(guess);
  }
  const Eigen::Matrix3d to_frac = lattice.inverse().transpose();
  for (long a = 0; a < n; ++a) {
    if (!r.next(line))
      r.fail_at(r.line() + 1, "unexpected end of file: expected atom line " + std::to_string(a + 1) + " of " +
                                  std::to_string(n) + " (truncated frame)");
    split_ws_into(line, tok);
    if (tok.size() != total)
      r.fail("expected " + std::to_string(total) + " columns (from Properties), found " + std::to_string(tok.size()));
    std::size_t c = 0;
    int z = 0;
    Eigen::Vector3d pos = Eigen::Vector3d::Zero();
    auto vec3 = [&](const XyzColumn& col) {
      Eigen::Vector3d v;
      for (int d = 0; d < 3; ++d) v[d] = parse_double(r, tok[c + static_cast<std::size_t>(d)], col.name);
      return v;
    };
    for (const auto& col : cols) {
      switch (col.kind) {
        case XyzColumn::Species:
          z = try_atomic_number(tok[c]);
          if (z == 0) r.fail("unknown element '" + std::string(tok[c]) + "'");
          break;
        case XyzColumn::Z: {
          const long zz = parse_long(r, tok[c], "Z");
          if (zz < 1 || zz > max_atomic_number) r.fail("unknown element Z=" + std::string(tok[c]));
          z = static_cast<int>(zz);
          break;
        }
        case XyzColumn::Pos: pos = vec3(col); break;
        case XyzColumn::Forces: frame.forces.push_back(vec3(col)); break;
        case XyzColumn::Velocities: frame.velocities.push_back(vec3(col)); break;
        case XyzColumn::Momenta: momenta.push_back(vec3(col)); break;
        case XyzColumn::Image: {
          Eigen::Vector3i im;
          for (int d = 0; d < 3; ++d) {
            const long v = parse_long(r, tok[c + static_cast<std::size_t>(d)], "image");
            if (v < -(1L << 30) || v > (1L << 30)) r.fail("image flag out of range");
            im[d] = static_cast<int>(v);
          }
          frame.images.push_back(im);
          break;
        }
        case XyzColumn::Charge: frame.charges.push_back(parse_double(r, tok[c], col.name)); break;
        case XyzColumn::Other:
          if (col.type == 'R')
            for (int d = 0; d < col.n; ++d) parse_double(r, tok[c + static_cast<std::size_t>(d)], col.name);
          break;
      }
      c += static_cast<std::size_t>(col.n);
    }
    Site s;
    s.frac = to_frac * pos;  // positions are kept as written (not wrapped), like ASE
    s.species.push_back({z, 1.0, std::nullopt});
    s.label = element_symbol(z);
    sites.push_back(std::move(s));
  }
  if (!momenta.empty() && frame.velocities.empty()) {
    frame.velocities.resize(momenta.size());
    for (std::size_t i = 0; i < momenta.size(); ++i)
      frame.velocities[i] = momenta[i] / (atomic_mass(sites[i].species[0].z) * ase_time_unit_fs);
  }
  return true;
}

/// Reads the first frame of a file.
inline Frame read_extxyz(const std::string& path) {
  detail::LineReader r(path);
  Frame f;
  if (!read_extxyz_frame(r, f)) throw ParseError(path, 0, "file holds no frame");
  return f;
}

/// Streaming reader of a multi-frame file: `next` reads frame after frame in bounded memory;
/// `frame_count`, `seek` and `read` use a byte-offset index that grows as frames are read or
/// skipped (one pass over the file at most, never more than needed; see IndexedFrameReader).
class ExtXYZReader : public detail::IndexedFrameReader<ExtXYZReader> {
 public:
  explicit ExtXYZReader(const std::string& path) : IndexedFrameReader(path) {}
  /// Reads from a caller-owned stream (must be seekable for seek/frame_count).
  ExtXYZReader(std::istream& in, std::string name) : IndexedFrameReader(in, std::move(name)) {}

 private:
  friend class detail::IndexedFrameReader<ExtXYZReader>;

  bool read_one(Frame& f) { return read_extxyz_frame(r_, f); }

  void skip_one() {
    long n = 0;
    if (!detail::read_xyz_atom_count(r_, n)) r_.fail("unexpected end of file while indexing");
    for (long k = 0; k < n + 1; ++k)
      if (!r_.skip())
        r_.fail_at(r_.line() + 1, "unexpected end of file: frame declares " + std::to_string(n) + " atoms (truncated frame)");
  }
};

/// All frames of a (small) file. For long trajectories use ExtXYZReader.
inline std::vector<Frame> read_extxyz_all(const std::string& path) {
  ExtXYZReader r(path);
  std::vector<Frame> frames;
  Frame f;
  while (r.next(f)) frames.push_back(std::move(f));
  return frames;
}

struct ExtXYZWriteOptions {
  int precision = 10;      ///< significant digits of real numbers
  bool momenta = true;     ///< velocities as ASE momenta (amu·Å/ASE-time), else velocities:R:3 in Å/fs
};

/// Writes one frame as ASE writes it: species, pos, then momenta/velocities, image, charges,
/// forces; energy, free_energy, 3x3 stress and the info pairs on the comment line.
inline void write_extxyz_frame(std::ostream& out, const Frame& f, const ExtXYZWriteOptions& opt = {}) {
  const auto& s = f.structure;
  const auto z = s.atomic_numbers();
  const std::size_t n = s.size();
  auto check = [&](std::size_t k, const char* what) {
    if (k != 0 && k != n)
      throw ValueError(std::string("frame has ") + std::to_string(k) + " " + what + " for " + std::to_string(n) + " atoms");
  };
  check(f.forces.size(), "forces");
  check(f.velocities.size(), "velocities");
  check(f.images.size(), "image flags");
  check(f.charges.size(), "charges");
  char buf[64];
  const int p = opt.precision;
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    return buf;
  };
  std::string o;
  o.reserve(128 + n * 80);
  o += std::to_string(n) + "\n";
  const auto& m = s.lattice().matrix();
  o += "Lattice=\"";
  for (int i = 0; i < 9; ++i) {
    if (i) o += ' ';
    o += num(m(i / 3, i % 3));
  }
  o += "\" Properties=species:S:1:pos:R:3";
  if (!f.velocities.empty()) o += opt.momenta ? ":momenta:R:3" : ":velocities:R:3";
  if (!f.images.empty()) o += ":image:I:3";
  if (!f.charges.empty()) o += ":charges:R:1";
  if (!f.forces.empty()) o += ":forces:R:3";
  if (f.energy) o += std::string(" energy=") + num(*f.energy);
  if (f.free_energy) o += std::string(" free_energy=") + num(*f.free_energy);
  if (f.stress) {
    o += " stress=\"";
    for (int i = 0; i < 9; ++i) {
      if (i) o += ' ';
      o += num((*f.stress)(i / 3, i % 3));
    }
    o += "\"";
  }
  bool info_has_step = false;
  for (const auto& [k, v] : f.info) {
    const std::string lk = detail::lower(k);
    if (lk == "pbc" || lk == "lattice" || lk == "properties" || lk == "energy" || lk == "stress" || lk == "free_energy")
      continue;
    info_has_step |= lk == "step";
    const bool quote = v.empty() || v.find_first_of(" \t=") != std::string::npos;
    o += ' ' + k + '=' + (quote ? "\"" : "") + v + (quote ? "\"" : "");
  }
  if (f.step && !info_has_step) o += " step=" + std::to_string(*f.step);
  o += " pbc=\"T T T\"\n";
  for (std::size_t i = 0; i < n; ++i) {
    const Eigen::Vector3d r = s.cart(i);
    o += element_symbol(z[i]);
    for (int d = 0; d < 3; ++d) (o += ' ') += num(r[d]);
    if (!f.velocities.empty()) {
      const double scale = opt.momenta ? atomic_mass(z[i]) * ase_time_unit_fs : 1.0;
      for (int d = 0; d < 3; ++d) (o += ' ') += num(f.velocities[i][d] * scale);
    }
    if (!f.images.empty())
      for (int d = 0; d < 3; ++d) (o += ' ') += std::to_string(f.images[i][d]);
    if (!f.charges.empty()) (o += ' ') += num(f.charges[i]);
    if (!f.forces.empty())
      for (int d = 0; d < 3; ++d) (o += ' ') += num(f.forces[i][d]);
    o += '\n';
  }
  out.write(o.data(), static_cast<std::streamsize>(o.size()));
}

inline void write_extxyz(const std::string& path, const Frame& f, bool append = false) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  if (!out) throw IOError("cannot open '" + path + "' for writing");
  write_extxyz_frame(out, f);
  if (!out) throw IOError("error writing '" + path + "'");
}

/// Appends frames to a trajectory file, one `write` per frame.
class ExtXYZWriter {
 public:
  explicit ExtXYZWriter(const std::string& path, bool append = false, ExtXYZWriteOptions opt = {})
      : path_(path), out_(path, append ? std::ios::app : std::ios::trunc), opt_(opt) {
    if (!out_) throw IOError("cannot open '" + path + "' for writing");
  }
  void write(const Frame& f) {
    write_extxyz_frame(out_, f, opt_);
    if (!out_) throw IOError("error writing '" + path_ + "'");
    ++count_;
  }
  void flush() { out_.flush(); }
  std::size_t frames_written() const { return count_; }

 private:
  std::string path_;
  std::ofstream out_;
  ExtXYZWriteOptions opt_;
  std::size_t count_ = 0;
};

}  // namespace io
NERNST_NAMESPACE_END
