#pragma once
/// \file
/// \brief VASP POSCAR / CONTCAR reader and writer: VASP 5 (species line) and VASP 4 (species
/// on the comment line, as ASE writes them), one or three scale factors, negative scale = cell
/// volume, Direct/Cartesian, selective dynamics, and the velocities block of a CONTCAR.

#include <nernst/core/structure.hpp>
#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/frame.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

namespace detail {
inline char first_char_lower(const std::string& s) {
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return '\0';
}
}  // namespace detail

/// Reads a POSCAR/CONTCAR into a Frame: structure, selective-dynamics flags (`movable`) and
/// velocities (Å/fs, Cartesian) when the file has them. The comment line goes to info["comment"].
inline Frame read_poscar_frame(detail::LineReader& r) {
  using detail::split_ws;
  Frame frame;
  const std::string comment = r.require("the comment line");
  frame.info["comment"] = comment;
  const std::string scale_line = r.require("the scale factor");
  std::vector<double> scale;
  {
    auto tok = split_ws(scale_line);
    if (tok.empty()) r.fail("missing scale factor");
    // VASP reads one or three numbers; anything after them is a comment.
    std::size_t nnum = 0;
    double x;
    while (nnum < tok.size() && nnum < 3 && detail::try_parse_double(tok[nnum], x)) ++nnum;
    if (nnum == 0) r.fail("expected a number for the scale factor, found '" + std::string(tok[0]) + "'");
    if (nnum == 2) r.fail("scale line must hold one value (or three per-axis factors)");
    for (std::size_t k = 0; k < nnum; ++k) scale.push_back(detail::parse_double(r, tok[k], "the scale factor"));
    if (nnum == 3 && std::any_of(scale.begin(), scale.end(), [](double v) { return !(v > 0); }))
      r.fail("per-axis scale factors must be positive");
  }
  Eigen::Matrix3d m;
  for (int i = 0; i < 3; ++i) {
    const std::string line = r.require("lattice vector " + std::to_string(i + 1));
    const auto tok = split_ws(line);
    if (tok.size() < 3) r.fail("lattice vector needs 3 components, found " + std::to_string(tok.size()));
    for (int j = 0; j < 3; ++j) m(i, j) = detail::parse_double(r, tok[static_cast<std::size_t>(j)], "a lattice vector component");
  }
  const std::size_t lattice_line = r.line();
  Eigen::Vector3d axis_scale = Eigen::Vector3d::Ones();  // applied to Cartesian positions too
  if (scale.size() == 1) {
    if (scale[0] < 0) {
      const double v = std::abs(m.determinant());
      if (!(v > 1e-12)) r.fail("singular lattice (zero volume)");
      axis_scale.setConstant(std::cbrt(-scale[0] / v));
    } else {
      if (scale[0] == 0) r.fail("scale factor is zero");
      axis_scale.setConstant(scale[0]);
    }
  } else {
    axis_scale = Eigen::Vector3d(scale[0], scale[1], scale[2]);
  }
  for (int j = 0; j < 3; ++j) m.col(j) *= axis_scale[j];
  Lattice lat;
  try {
    lat = Lattice(m);
  } catch (const ValueError& e) {
    r.fail_at(lattice_line, std::string("singular cell: ") + e.what());
  }

  std::string line1 = r.require("species names or counts"), line2;
  auto tok = split_ws(line1);
  std::vector<std::string> names;
  long dummy;
  if (tok.empty()) r.fail("empty line where species names or counts belong");
  std::size_t names_line = 1;  // VASP 4: the comment line
  if (!detail::try_parse_long(tok[0], dummy)) {
    names_line = r.line();
    for (auto t : tok) names.emplace_back(t);
    line2 = r.require("atom counts");
    tok = split_ws(line2);
  } else {
    for (auto t : split_ws(comment)) names.emplace_back(t);  // VASP 4: ASE puts symbols here
  }
  std::vector<long> counts;
  for (auto t : tok) {
    long c;
    if (!detail::try_parse_long(t, c)) break;
    if (c < 0) r.fail("negative atom count");
    if (c > 100000000) r.fail("atom count " + std::to_string(c) + " is implausibly large");
    counts.push_back(c);
  }
  if (counts.empty()) r.fail("missing atom counts");
  if (names.size() < counts.size())
    r.fail("species names missing: " + std::to_string(counts.size()) + " counts but " + std::to_string(names.size()) +
           " names (VASP 4 files need the symbols on the comment line)");
  std::vector<int> zs;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    std::string sym = names[k];
    // VASP 6 may write "Li_sv/..." style POTCAR names.
    const auto cut = sym.find_first_of("_/");
    if (cut != std::string::npos) sym = sym.substr(0, cut);
    const int z = try_atomic_number(sym);
    if (z == 0) r.fail_at(names_line, "unknown element '" + names[k] + "'");
    zs.push_back(z);
  }

  std::string mode = r.require("'Direct' or 'Cartesian'");
  bool selective = false;
  if (detail::first_char_lower(mode) == 's') {
    selective = true;
    mode = r.require("'Direct' or 'Cartesian'");
  }
  const char c0 = detail::first_char_lower(mode);
  const bool cartesian = (c0 == 'c' || c0 == 'k');
  if (!cartesian && c0 != 'd') r.fail("expected 'Direct' or 'Cartesian', found '" + mode + "'");

  Structure s(lat);
  std::size_t total = 0;
  for (long c : counts) total += static_cast<std::size_t>(c);
  s.sites().reserve(std::min<std::size_t>(total, 1 << 20));
  for (std::size_t k = 0; k < counts.size(); ++k)
    for (long n = 0; n < counts[k]; ++n) {
      const std::string line = r.require("atomic position " + std::to_string(s.size() + 1) + " of " + std::to_string(total));
      const auto t = split_ws(line);
      if (t.size() < (selective ? 6u : 3u))
        r.fail(std::string("atomic position needs ") + (selective ? "3 coordinates and 3 T/F flags" : "3 coordinates") +
               ", found " + std::to_string(t.size()) + " columns");
      Eigen::Vector3d p;
      for (int j = 0; j < 3; ++j) p[j] = detail::parse_double(r, t[static_cast<std::size_t>(j)], "a coordinate");
      if (cartesian) s.add_site_cart(zs[k], p.cwiseProduct(axis_scale));
      else s.add_site(zs[k], p);
      if (selective) {
        std::array<bool, 3> mv{};
        for (int j = 0; j < 3; ++j) {
          const std::string_view f = t[static_cast<std::size_t>(3 + j)];
          if (f == "T" || f == "t") mv[static_cast<std::size_t>(j)] = true;
          else if (f == "F" || f == "f") mv[static_cast<std::size_t>(j)] = false;
          else r.fail("selective-dynamics flag must be T or F, found '" + std::string(f) + "'");
        }
        frame.movable.push_back(mv);
      }
    }

  // Optional velocities (CONTCAR of an MD run): a mode line (blank or C/K = Cartesian Å/fs,
  // D = direct, lattice vectors per fs) and one line per atom. Anything else ends the file.
  std::string vline;
  if (r.next(vline)) {
    const char v0 = detail::first_char_lower(vline);
    const bool v_direct = v0 == 'd';
    if (v0 == '\0' || v0 == 'c' || v0 == 'k' || v_direct) {
      std::string l;
      if (r.next(l) && !split_ws(l).empty()) {
        frame.velocities.reserve(total);
        for (std::size_t a = 0; a < total; ++a) {
          if (a > 0) l = r.require("velocity " + std::to_string(a + 1) + " of " + std::to_string(total));
          const auto t = split_ws(l);
          if (t.size() < 3) r.fail("velocity needs 3 components, found " + std::to_string(t.size()));
          Eigen::Vector3d v;
          for (int j = 0; j < 3; ++j) v[j] = detail::parse_double(r, t[static_cast<std::size_t>(j)], "a velocity component");
          frame.velocities.push_back(v_direct ? lat.to_cart(v) : v);
        }
      }
    }
  }
  frame.structure = std::move(s);
  return frame;
}

inline Frame read_poscar_frame(const std::string& path) {
  detail::LineReader r(path);
  return read_poscar_frame(r);
}

/// Reads a POSCAR/CONTCAR structure (see read_poscar_frame for the extra data).
inline Structure read_poscar(detail::LineReader& r) { return read_poscar_frame(r).structure; }

inline Structure read_poscar(const std::string& path) {
  detail::LineReader r(path);
  return read_poscar(r);
}

struct PoscarWriteOptions {
  bool vasp5 = true;        ///< species line (VASP 5); false: VASP 4, symbols on the comment line
  bool cartesian = false;   ///< Cartesian instead of Direct coordinates
  bool group = true;        ///< group species in order of first appearance (VASP-friendly);
                            ///< false keeps the atom order and writes consecutive runs (ASE sort=False)
};

/// Writes a Frame: structure, selective dynamics when `movable` is set, velocities block when
/// `velocities` is set. Full double precision.
inline void write_poscar(std::ostream& out, const Frame& f, const std::string& comment, const PoscarWriteOptions& opt) {
  const auto& s = f.structure;
  const auto z = s.atomic_numbers();
  const std::size_t n = s.size();
  if (!f.movable.empty() && f.movable.size() != n) throw ValueError("movable flags do not match the atom count");
  if (!f.velocities.empty() && f.velocities.size() != n) throw ValueError("velocities do not match the atom count");
  // Order of output atoms and the species runs.
  std::vector<std::size_t> order;
  std::vector<std::pair<int, long>> runs;
  if (opt.group) {
    std::vector<int> species;
    for (int zi : z)
      if (std::find(species.begin(), species.end(), zi) == species.end()) species.push_back(zi);
    for (int zi : species) {
      long c = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (z[i] == zi) {
          order.push_back(i);
          ++c;
        }
      runs.emplace_back(zi, c);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      order.push_back(i);
      if (runs.empty() || runs.back().first != z[i]) runs.emplace_back(z[i], 0);
      ++runs.back().second;
    }
  }
  std::string symbols;
  for (const auto& [zi, c] : runs) symbols += std::string(symbols.empty() ? "" : " ") + element_symbol(zi);
  std::string head = comment.empty() ? s.formula() : comment;
  for (auto& ch : head)
    if (ch == '\n' || ch == '\r') ch = ' ';
  out << (opt.vasp5 ? head : symbols) << "\n1.0\n";
  char buf[128];
  const auto& m = s.lattice().matrix();
  for (int i = 0; i < 3; ++i) {
    std::snprintf(buf, sizeof buf, " %22.16f %22.16f %22.16f\n", m(i, 0), m(i, 1), m(i, 2));
    out << buf;
  }
  if (opt.vasp5) out << ' ' << symbols << "\n";
  for (const auto& [zi, c] : runs) out << ' ' << c;
  out << "\n";
  if (!f.movable.empty()) out << "Selective dynamics\n";
  out << (opt.cartesian ? "Cartesian\n" : "Direct\n");
  for (std::size_t i : order) {
    const Eigen::Vector3d p = opt.cartesian ? s.cart(i) : s[i].frac;
    std::snprintf(buf, sizeof buf, " %22.16f %22.16f %22.16f", p[0], p[1], p[2]);
    out << buf;
    if (!f.movable.empty())
      for (bool b : f.movable[i]) out << (b ? " T" : " F");
    out << "\n";
  }
  if (!f.velocities.empty()) {
    out << "Cartesian\n";
    for (std::size_t i : order) {
      std::snprintf(buf, sizeof buf, " %22.16e %22.16e %22.16e\n", f.velocities[i][0], f.velocities[i][1], f.velocities[i][2]);
      out << buf;
    }
  }
}

/// Writes VASP 5 format, Direct coordinates, species grouped in order of first appearance.
inline void write_poscar(std::ostream& out, const Structure& s, const std::string& comment = {}) {
  Frame f;
  f.structure = s;
  write_poscar(out, f, comment, PoscarWriteOptions{});
}

inline void write_poscar(const std::string& path, const Frame& f, const std::string& comment = {},
                         const PoscarWriteOptions& opt = {}) {
  std::ofstream out(path);
  if (!out) throw IOError("cannot open '" + path + "' for writing");
  write_poscar(out, f, comment, opt);
  if (!out) throw IOError("error writing '" + path + "'");
}

inline void write_poscar(const std::string& path, const Structure& s, const std::string& comment = {}) {
  Frame f;
  f.structure = s;
  write_poscar(path, f, comment);
}

}  // namespace io
NERNST_NAMESPACE_END
