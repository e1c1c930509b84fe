#pragma once
/// \file
/// \brief Extended XYZ (ASE's format): Lattice, Properties, energy, stress, forces, velocities.

#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/frame.hpp>

#include <cctype>
#include <fstream>
#include <iomanip>
#include <sstream>

NERNST_NAMESPACE_BEGIN
namespace io {
namespace detail {

/// Parses the key=value pairs of an extended-XYZ comment line (values may be "quoted").
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
    std::string val = "T";  // a bare key is a true flag, as in ASE
    if (i < s.size() && s[i] == '=') {
      ++i;
      skip();
      if (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == '{')) {
        const char close = s[i] == '{' ? '}' : s[i];
        const std::size_t v0 = ++i;
        while (i < s.size() && s[i] != close) ++i;
        if (i >= s.size()) r.fail("unterminated quoted value for key '" + key + "'");
        val = s.substr(v0, i - v0);
        ++i;
      } else {
        const std::size_t v0 = i;
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        val = s.substr(v0, i - v0);
      }
    }
    std::string lower = key;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    kv[lower] = val;
  }
  return kv;
}

inline std::vector<double> parse_doubles(const LineReader& r, const std::string& s, const std::string& what) {
  std::vector<double> v;
  for (auto t : split_ws(s)) v.push_back(parse_double(r, t, what));
  return v;
}

}  // namespace detail

/// Reads one frame from an open reader; returns false at a clean end of file.
inline bool read_extxyz_frame(detail::LineReader& r, Frame& frame) {
  using namespace detail;
  std::string line;
  do {
    if (!r.next(line)) return false;
  } while (split_ws(line).empty());
  long n = parse_long(r, split_ws(line)[0], "the atom count");
  if (n < 0) r.fail("negative atom count");
  const std::string comment = r.require("the comment line");
  auto kv = parse_xyz_comment(r, comment);

  Lattice lattice;
  bool periodic = false;
  if (auto it = kv.find("lattice"); it != kv.end()) {
    const auto v = parse_doubles(r, it->second, "Lattice");
    if (v.size() != 9) r.fail("Lattice needs 9 numbers, found " + std::to_string(v.size()));
    Eigen::Matrix3d m;
    for (int i = 0; i < 9; ++i) m(i / 3, i % 3) = v[static_cast<std::size_t>(i)];
    try {
      lattice = Lattice(m);
    } catch (const ValueError& e) {
      r.fail(e.what());
    }
    periodic = true;
  }
  if (!periodic) r.fail("frame has no Lattice: nernst needs periodic cells");

  // Properties=name:type:ncols:...
  std::string props = "species:S:1:pos:R:3";
  if (auto it = kv.find("properties"); it != kv.end()) props = it->second;
  struct Col { std::string name; char type; int n; };
  std::vector<Col> cols;
  {
    std::vector<std::string> parts;
    std::stringstream ss(props);
    std::string p;
    while (std::getline(ss, p, ':')) parts.push_back(p);
    if (parts.size() % 3 != 0) r.fail("malformed Properties '" + props + "'");
    for (std::size_t k = 0; k < parts.size(); k += 3) {
      long nc;
      if (!try_parse_long(parts[k + 2], nc) || nc < 1 || parts[k + 1].size() != 1)
        r.fail("malformed Properties entry '" + parts[k] + "'");
      std::string name = parts[k];
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      cols.push_back({name, static_cast<char>(std::toupper(parts[k + 1][0])), static_cast<int>(nc)});
    }
  }
  std::size_t total = 0;
  for (const auto& c : cols) total += static_cast<std::size_t>(c.n);

  frame = Frame{};
  frame.structure = Structure(lattice);
  for (const auto& [k, v] : kv) {
    if (k == "energy") frame.energy = parse_double(r, v, "energy");
    else if (k == "stress") {
      const auto s = parse_doubles(r, v, "stress");
      Eigen::Matrix3d m;
      if (s.size() == 9) {
        for (int i = 0; i < 9; ++i) m(i / 3, i % 3) = s[static_cast<std::size_t>(i)];
      } else if (s.size() == 6) {  // Voigt xx yy zz yz xz xy
        m << s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2];
      } else {
        r.fail("stress needs 9 or 6 numbers, found " + std::to_string(s.size()));
      }
      frame.stress = m;
    } else if (k != "lattice" && k != "properties") {
      frame.info[k] = v;
    }
  }

  for (long a = 0; a < n; ++a) {
    const std::string l = r.require("atom line " + std::to_string(a + 1) + " of " + std::to_string(n));
    const auto tok = split_ws(l);
    if (tok.size() != total)
      r.fail("expected " + std::to_string(total) + " columns, found " + std::to_string(tok.size()));
    std::size_t c = 0;
    int z = 0;
    Eigen::Vector3d pos = Eigen::Vector3d::Zero();
    for (const auto& col : cols) {
      if (col.name == "species") {
        z = try_atomic_number(tok[c]);
        if (z == 0) r.fail("unknown element '" + std::string(tok[c]) + "'");
      } else if (col.type == 'R' && col.n == 3 && (col.name == "pos" || col.name == "forces" || col.name == "force" || col.name == "velocities" || col.name == "vel")) {
        Eigen::Vector3d v;
        for (int d = 0; d < 3; ++d) v[d] = parse_double(r, tok[c + static_cast<std::size_t>(d)], col.name);
        if (col.name == "pos") pos = v;
        else if (col.name[0] == 'f') frame.forces.push_back(v);
        else frame.velocities.push_back(v);
      }
      c += static_cast<std::size_t>(col.n);
    }
    if (z == 0) r.fail("Properties has no species column");
    frame.structure.add_site_cart(z, pos);
  }
  return true;
}

inline Frame read_extxyz(const std::string& path) {
  detail::LineReader r(path);
  Frame f;
  if (!read_extxyz_frame(r, f)) throw ParseError(path, 0, "file holds no frame");
  return f;
}

/// Writes one frame as ASE writes it (species, pos, optional forces and velocities).
inline void write_extxyz_frame(std::ostream& out, const Frame& f) {
  const auto& s = f.structure;
  const auto z = s.atomic_numbers();
  out << s.size() << "\n";
  out << std::setprecision(10);
  const auto& m = s.lattice().matrix();
  out << "Lattice=\"";
  for (int i = 0; i < 9; ++i) out << (i ? " " : "") << m(i / 3, i % 3);
  out << "\" Properties=species:S:1:pos:R:3";
  if (!f.forces.empty()) out << ":forces:R:3";
  if (!f.velocities.empty()) out << ":velocities:R:3";
  if (f.energy) out << " energy=" << std::setprecision(12) << *f.energy << std::setprecision(10);
  if (f.stress) {
    out << " stress=\"";
    for (int i = 0; i < 9; ++i) out << (i ? " " : "") << (*f.stress)(i / 3, i % 3);
    out << "\"";
  }
  for (const auto& [k, v] : f.info) {
    const bool quote = v.find_first_of(" \t") != std::string::npos;
    out << ' ' << k << '=' << (quote ? "\"" : "") << v << (quote ? "\"" : "");
  }
  out << " pbc=\"T T T\"\n";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Eigen::Vector3d r = s.cart(i);
    out << element_symbol(z[i]) << ' ' << r[0] << ' ' << r[1] << ' ' << r[2];
    if (!f.forces.empty()) out << ' ' << f.forces[i][0] << ' ' << f.forces[i][1] << ' ' << f.forces[i][2];
    if (!f.velocities.empty())
      out << ' ' << f.velocities[i][0] << ' ' << f.velocities[i][1] << ' ' << f.velocities[i][2];
    out << "\n";
  }
}

inline void write_extxyz(const std::string& path, const Frame& f, bool append = false) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  if (!out) throw IOError("cannot open '" + path + "' for writing");
  write_extxyz_frame(out, f);
  if (!out) throw IOError("error writing '" + path + "'");
}

}  // namespace io
NERNST_NAMESPACE_END
