#pragma once
/// \file
/// \brief VASP POSCAR / CONTCAR reader and writer.

#include <nernst/core/structure.hpp>
#include <nernst/io/detail/line_reader.hpp>

#include <cctype>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

/// Reads a POSCAR/CONTCAR (VASP 5 with a species line; VASP 4 takes the species from the
/// comment line, as ASE writes it). A negative scale factor is the cell volume.
inline Structure read_poscar(detail::LineReader& r) {
  using detail::split_ws;
  const std::string comment = r.require("the comment line");
  const std::string scale_line = r.require("the scale factor");
  const auto scale_tok = split_ws(scale_line);
  if (scale_tok.empty()) r.fail("missing scale factor");
  if (scale_tok.size() != 1 && scale_tok.size() != 3)
    r.fail("scale line must hold one value (or three per-axis factors)");
  std::vector<double> scale;
  for (auto t : scale_tok) scale.push_back(detail::parse_double(r, t, "the scale factor"));
  Eigen::Matrix3d m;
  for (int i = 0; i < 3; ++i) {
    const std::string line = r.require("lattice vector " + std::to_string(i + 1));
    const auto tok = split_ws(line);
    if (tok.size() < 3) r.fail("lattice vector needs 3 components, found " + std::to_string(tok.size()));
    for (int j = 0; j < 3; ++j) m(i, j) = detail::parse_double(r, tok[j], "a lattice vector component");
  }
  if (scale.size() == 1) {
    if (scale[0] < 0) {
      const double v = std::abs(m.determinant());
      if (!(v > 0)) r.fail("singular lattice");
      m *= std::cbrt(-scale[0] / v);
    } else {
      if (scale[0] == 0) r.fail("scale factor is zero");
      m *= scale[0];
    }
  } else {
    for (int j = 0; j < 3; ++j) m.col(j) *= scale[j];
  }
  Lattice lat;
  try {
    lat = Lattice(m);
  } catch (const ValueError& e) {
    r.fail(e.what());
  }

  std::string line1 = r.require("species names or counts"), line2;
  auto tok = split_ws(line1);
  std::vector<std::string> names;
  long dummy;
  if (!tok.empty() && !detail::try_parse_long(tok[0], dummy)) {
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
    counts.push_back(c);
  }
  if (counts.empty()) r.fail("missing atom counts");
  if (names.size() < counts.size())
    r.fail("species names missing: " + std::to_string(counts.size()) + " counts but " +
           std::to_string(names.size()) + " names (VASP 4 files need the symbols on the comment line)");
  std::vector<int> zs;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    std::string sym = names[k];
    // VASP 6 may write "Li_sv/..." style POTCAR names.
    const auto cut = sym.find_first_of("_/");
    if (cut != std::string::npos) sym = sym.substr(0, cut);
    const int z = try_atomic_number(sym);
    if (z == 0) r.fail("unknown element '" + names[k] + "'");
    zs.push_back(z);
  }

  std::string mode = r.require("'Direct' or 'Cartesian'");
  bool selective = false;
  auto first = [](const std::string& s) {
    for (char c : s)
      if (!std::isspace(static_cast<unsigned char>(c))) return static_cast<char>(std::tolower(c));
    return '\0';
  };
  if (first(mode) == 's') {
    selective = true;
    mode = r.require("'Direct' or 'Cartesian'");
  }
  const char c0 = first(mode);
  const bool cartesian = (c0 == 'c' || c0 == 'k');
  if (!cartesian && c0 != 'd') r.fail("expected 'Direct' or 'Cartesian', found '" + mode + "'");
  (void)selective;

  Structure s(lat);
  for (std::size_t k = 0; k < counts.size(); ++k)
    for (long n = 0; n < counts[k]; ++n) {
      const std::string line = r.require("atomic position");
      const auto t = split_ws(line);
      if (t.size() < 3) r.fail("atomic position needs 3 coordinates, found " + std::to_string(t.size()));
      Eigen::Vector3d p;
      for (int j = 0; j < 3; ++j) p[j] = detail::parse_double(r, t[j], "a coordinate");
      if (cartesian) {
        const double sc = scale.size() == 1 && scale[0] > 0 ? scale[0] : 1.0;
        s.add_site_cart(zs[k], p * sc);
      } else {
        s.add_site(zs[k], p);
      }
    }
  return s;
}

inline Structure read_poscar(const std::string& path) {
  detail::LineReader r(path);
  return read_poscar(r);
}

/// Writes VASP 5 format, Direct coordinates, species grouped in order of first appearance.
inline void write_poscar(std::ostream& out, const Structure& s, const std::string& comment = {}) {
  const auto z = s.atomic_numbers();
  std::vector<int> order;
  for (int zi : z)
    if (std::find(order.begin(), order.end(), zi) == order.end()) order.push_back(zi);
  out << (comment.empty() ? s.formula() : comment) << "\n";
  out << "1.0\n";
  out << std::setprecision(16) << std::fixed;
  const auto& m = s.lattice().matrix();
  for (int i = 0; i < 3; ++i) out << ' ' << m(i, 0) << ' ' << m(i, 1) << ' ' << m(i, 2) << "\n";
  for (int zi : order) out << ' ' << element_symbol(zi);
  out << "\n";
  for (int zi : order) out << ' ' << std::count(z.begin(), z.end(), zi);
  out << "\nDirect\n";
  for (int zi : order)
    for (std::size_t i = 0; i < s.size(); ++i)
      if (z[i] == zi) out << ' ' << s[i].frac[0] << ' ' << s[i].frac[1] << ' ' << s[i].frac[2] << "\n";
}

inline void write_poscar(const std::string& path, const Structure& s, const std::string& comment = {}) {
  std::ofstream f(path);
  if (!f) throw IOError("cannot open '" + path + "' for writing");
  write_poscar(f, s, comment);
  if (!f) throw IOError("error writing '" + path + "'");
}

}  // namespace io
NERNST_NAMESPACE_END
