#pragma once
/// \file
/// \brief LAMMPS data files (atom_style atomic and charge, orthogonal or triclinic boxes,
/// Masses, Velocities, image flags) read and write, and text dump files (custom columns: id,
/// type, element, x/xu/xs/xsu, ix iy iz, vx…, fx…, q; triclinic bounds) read as a stream.
/// LAMMPS "metal" units are assumed: Å, eV, velocities in Å/ps (converted to nernst's Å/fs).

#include <nernst/io/detail/indexed_reader.hpp>
#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/frame.hpp>

#include <Eigen/Geometry>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

struct LammpsOptions {
  /// Element of each atom type (index 0 = type 1). Empty: from a dump's `element` column, the
  /// "# Li" comments of a data file's Masses section, or the masses themselves.
  std::vector<int> type_to_z;
  /// Velocity unit of the file in Å/fs: metal units (Å/ps) = 1e-3; real units (Å/fs) = 1.
  double velocity_unit_A_per_fs = 1e-3;
};

namespace detail {

/// Lattice and origin of a LAMMPS box: a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz).
inline Lattice lammps_lattice(const LineReader& r, double lx, double ly, double lz, double xy, double xz, double yz) {
  Eigen::Matrix3d m;
  m << lx, 0, 0, xy, ly, 0, xz, yz, lz;
  if (!(lx > 0 && ly > 0 && lz > 0)) r.fail("box has a non-positive length (hi <= lo): singular cell");
  try {
    return Lattice(m);
  } catch (const ValueError& e) {
    r.fail(std::string("singular cell: ") + e.what());
  }
}

/// LAMMPS's restricted triclinic form of a lattice: the same cell rotated so that a ∥ x and b
/// in the xy plane (lower-triangular rows), with the rotation applied to vectors as v' = Q v.
inline Eigen::Matrix3d lammps_cell(const Lattice& lat, Eigen::Matrix3d& rotation) {
  const auto& A = lat.matrix();
  const Eigen::Vector3d a = A.row(0), b = A.row(1), c = A.row(2);
  const double lx = a.norm();
  const Eigen::Vector3d ahat = a / lx;
  const double xy = b.dot(ahat);
  const Eigen::Vector3d acb = a.cross(b);
  const double ly = acb.norm() / lx;
  const double xz = c.dot(ahat);
  const Eigen::Vector3d bhat = acb.normalized().cross(ahat);
  const double yz = c.dot(bhat);
  const double lz = c.dot(acb.normalized());
  Eigen::Matrix3d L;
  L << lx, 0, 0, xy, ly, 0, xz, yz, lz;
  rotation.row(0) = ahat;
  rotation.row(1) = bhat;
  rotation.row(2) = acb.normalized();
  return L;
}

/// Element from a mass (amu) when it is within 0.05 amu of exactly one element's standard mass.
inline int z_from_mass(double m) {
  int best = 0;
  for (int z = 1; z <= max_atomic_number; ++z)
    if (std::abs(atomic_mass(z) - m) < 0.05) {
      if (best) return 0;
      best = z;
    }
  return best;
}

inline std::string strip_comment(const std::string& s, std::string* comment = nullptr) {
  const auto h = s.find('#');
  if (h == std::string::npos) return s;
  if (comment) *comment = s.substr(h + 1);
  return s.substr(0, h);
}

}  // namespace detail

/// Reads a LAMMPS data file (atom_style atomic or charge; the style is taken from the
/// "Atoms # style" comment or from the column count). Atoms are returned in id order.
inline Frame read_lammps_data(detail::LineReader& r, const LammpsOptions& opt = {}) {
  using namespace detail;
  std::string line;
  r.require("the title line");
  long natoms = -1, ntypes = -1;
  double xlo = 0, xhi = 0, ylo = 0, yhi = 0, zlo = 0, zhi = 0, xy = 0, xz = 0, yz = 0;
  bool have_x = false, have_y = false, have_z = false;
  std::size_t box_line[3] = {0, 0, 0};
  std::vector<std::string_view> tok;
  std::string section;
  std::size_t section_line = 0;
  // Header: keyword lines until the first section name.
  while (r.next(line)) {
    const std::string body = strip_comment(line);
    split_ws_into(body, tok);
    if (tok.empty()) continue;
    auto num = [&](std::size_t k, const char* what) { return parse_double(r, tok[k], what); };
    const std::string last = std::string(tok.back());
    if (tok.size() == 2 && last == "atoms") natoms = parse_long(r, tok[0], "the atom count");
    else if (tok.size() == 3 && last == "types" && tok[1] == "atom") ntypes = parse_long(r, tok[0], "the type count");
    else if (tok.size() == 4 && last == "xhi") { xlo = num(0, "xlo"); xhi = num(1, "xhi"); have_x = true; box_line[0] = r.line(); }
    else if (tok.size() == 4 && last == "yhi") { ylo = num(0, "ylo"); yhi = num(1, "yhi"); have_y = true; box_line[1] = r.line(); }
    else if (tok.size() == 4 && last == "zhi") { zlo = num(0, "zlo"); zhi = num(1, "zhi"); have_z = true; box_line[2] = r.line(); }
    else if (tok.size() == 6 && last == "yz") { xy = num(0, "xy"); xz = num(1, "xz"); yz = num(2, "yz"); }
    else if (tok.size() >= 2 && (last == "types" || last == "bonds" || last == "angles" || last == "dihedrals" ||
                                 last == "impropers" || last == "ellipsoids" || last == "lines" || last == "triangles" ||
                                 last == "bodies" || last == "per" || last == "atom"))
      continue;  // counts of things nernst does not use
    else {
      section = std::string(tok[0]);
      section_line = r.line();
      break;
    }
  }
  if (natoms < 0) r.fail("missing 'N atoms' header line");
  if (natoms > 100000000) r.fail("atom count " + std::to_string(natoms) + " is implausibly large");
  if (ntypes < 1) r.fail("missing 'N atom types' header line");
  if (ntypes > 10000) r.fail("implausible number of atom types");
  if (!have_x || !have_y || !have_z) r.fail("missing box bounds (xlo xhi / ylo yhi / zlo zhi)");
  {
    const double len[3] = {xhi - xlo, yhi - ylo, zhi - zlo};
    for (int d = 0; d < 3; ++d)
      if (!(len[d] > 0)) r.fail_at(box_line[d], "box has a non-positive length (hi <= lo): singular cell");
  }
  const Lattice lat = lammps_lattice(r, xhi - xlo, yhi - ylo, zhi - zlo, xy, xz, yz);
  const Eigen::Vector3d origin(xlo, ylo, zlo);

  std::vector<double> masses(static_cast<std::size_t>(ntypes), 0.0);
  std::vector<int> type_z(static_cast<std::size_t>(ntypes), 0);
  std::vector<std::size_t> mass_line(static_cast<std::size_t>(ntypes), 0);
  for (std::size_t t = 0; t < opt.type_to_z.size() && t < type_z.size(); ++t) type_z[t] = opt.type_to_z[t];
  struct AtomRow {
    long id;
    long type;
    double q = 0;
    Eigen::Vector3d x;
    Eigen::Vector3i image = Eigen::Vector3i::Zero();
  };
  std::vector<AtomRow> atoms;
  std::vector<std::pair<long, Eigen::Vector3d>> vel;
  bool have_images = false, charge_style = false;

  auto read_block = [&](long count, auto&& per_line) {
    // One blank line follows the section name, then `count` non-blank lines.
    long got = 0;
    while (got < count) {
      if (!r.next(line))
        r.fail_at(r.line() + 1, "unexpected end of file in section " + section + ": " + std::to_string(got) + " of " +
                                    std::to_string(count) + " lines (truncated file)");
      const std::string body = strip_comment(line);
      split_ws_into(body, tok);
      if (tok.empty()) continue;
      per_line(body);
      ++got;
    }
  };
  while (!section.empty()) {
    std::string comment;
    strip_comment(line, &comment);
    if (section == "Masses") {
      read_block(ntypes, [&](const std::string& body) {
        std::string c;
        strip_comment(line, &c);
        (void)body;
        if (tok.size() < 2) r.fail("Masses line needs 'type mass'");
        const long t = parse_long(r, tok[0], "an atom type");
        if (t < 1 || t > ntypes) r.fail("atom type " + std::to_string(t) + " out of range 1-" + std::to_string(ntypes));
        const double m = parse_double(r, tok[1], "a mass");
        if (!(m > 0)) r.fail("mass must be positive");
        masses[static_cast<std::size_t>(t - 1)] = m;
        mass_line[static_cast<std::size_t>(t - 1)] = r.line();
        if (!type_z[static_cast<std::size_t>(t - 1)]) {
          const auto ct = split_ws(c);
          int z = ct.empty() ? 0 : try_atomic_number(ct[0]);
          if (!z) z = z_from_mass(m);
          type_z[static_cast<std::size_t>(t - 1)] = z;
        }
      });
    } else if (section == "Atoms") {
      const auto ct = split_ws(comment);
      const std::string style = ct.empty() ? std::string() : std::string(ct[0]);
      if (!style.empty() && style != "atomic" && style != "charge")
        r.fail("atom_style '" + style + "' is not supported (atomic or charge)");
      atoms.reserve(static_cast<std::size_t>(std::min<long>(natoms, 1 << 20)));
      read_block(natoms, [&](const std::string&) {
        // atomic: id type x y z [ix iy iz]; charge: id type q x y z [ix iy iz]
        bool charge = style == "charge" || (style.empty() && (tok.size() == 6 || tok.size() == 9));
        const std::size_t want = charge ? 6 : 5;
        if (tok.size() != want && tok.size() != want + 3)
          r.fail("Atoms (" + std::string(charge ? "charge" : "atomic") + ") line needs " + std::to_string(want) + " or " +
                 std::to_string(want + 3) + " columns, found " + std::to_string(tok.size()));
        charge_style |= charge;
        AtomRow a;
        a.id = parse_long(r, tok[0], "an atom id");
        a.type = parse_long(r, tok[1], "an atom type");
        if (a.type < 1 || a.type > ntypes) r.fail("atom type " + std::to_string(a.type) + " out of range 1-" + std::to_string(ntypes));
        const std::size_t o = charge ? 3 : 2;
        if (charge) a.q = parse_double(r, tok[2], "a charge");
        for (int d = 0; d < 3; ++d) a.x[d] = parse_double(r, tok[o + static_cast<std::size_t>(d)], "a coordinate");
        if (tok.size() == want + 3) {
          have_images = true;
          for (int d = 0; d < 3; ++d) {
            const long v = parse_long(r, tok[o + 3 + static_cast<std::size_t>(d)], "an image flag");
            if (std::abs(v) > (1L << 30)) r.fail("image flag out of range");
            a.image[d] = static_cast<int>(v);
          }
        }
        atoms.push_back(a);
      });
    } else if (section == "Velocities") {
      read_block(natoms, [&](const std::string&) {
        if (tok.size() != 4) r.fail("Velocities line needs 'id vx vy vz', found " + std::to_string(tok.size()) + " columns");
        Eigen::Vector3d v;
        for (int d = 0; d < 3; ++d) v[d] = parse_double(r, tok[1 + static_cast<std::size_t>(d)], "a velocity");
        vel.emplace_back(parse_long(r, tok[0], "an atom id"), v * opt.velocity_unit_A_per_fs);
      });
    } else {
      r.fail_at(section_line, "section '" + section + "' is not supported (Masses, Atoms, Velocities)");
    }
    // Next section name.
    section.clear();
    while (r.next(line)) {
      const std::string body = strip_comment(line);
      split_ws_into(body, tok);
      if (tok.empty()) continue;
      if (tok.size() != 1) r.fail("expected a section name, found '" + line.substr(0, 60) + "'");
      section = std::string(tok[0]);
      section_line = r.line();
      break;
    }
  }
  if (atoms.size() != static_cast<std::size_t>(natoms)) r.fail("no Atoms section");
  for (std::size_t t = 0; t < type_z.size(); ++t)
    if (!type_z[t])
      r.fail_at(mass_line[t] ? mass_line[t] : r.line(), "cannot tell the element of atom type " + std::to_string(t + 1) +
             (masses[t] > 0 ? " from its mass " + std::to_string(masses[t]) : std::string(" (no Masses entry)")) +
             ": give a type-to-element map");
  std::vector<std::size_t> order(atoms.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return atoms[a].id < atoms[b].id; });
  for (std::size_t k = 1; k < order.size(); ++k)
    if (atoms[order[k]].id == atoms[order[k - 1]].id) r.fail("duplicate atom id " + std::to_string(atoms[order[k]].id));
  Frame f;
  f.structure = Structure(lat);
  std::map<long, std::size_t> pos_of_id;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const AtomRow& a = atoms[order[k]];
    pos_of_id[a.id] = k;
    f.structure.add_site_cart(type_z[static_cast<std::size_t>(a.type - 1)], a.x - origin);
    if (charge_style) f.charges.push_back(a.q);
    if (have_images) f.images.push_back(a.image);
  }
  if (!vel.empty()) {
    f.velocities.assign(atoms.size(), Eigen::Vector3d::Zero());
    for (const auto& [id, v] : vel) {
      auto it = pos_of_id.find(id);
      if (it == pos_of_id.end()) r.fail("velocity for unknown atom id " + std::to_string(id));
      f.velocities[it->second] = v;
    }
  }
  return f;
}

inline Frame read_lammps_data(const std::string& path, const LammpsOptions& opt = {}) {
  detail::LineReader r(path);
  return read_lammps_data(r, opt);
}

struct LammpsDataWriteOptions {
  bool charge_style = false;   ///< atom_style charge (else atomic)
  std::vector<int> type_order; ///< element of type 1, 2, …; empty: order of first appearance
  double velocity_unit_A_per_fs = 1e-3;  ///< metal units
};

/// Writes a LAMMPS data file. A general cell is rotated into LAMMPS's restricted triclinic form
/// (fractional coordinates are unchanged; velocities are rotated with the cell).
inline void write_lammps_data(std::ostream& out, const Frame& f, const LammpsDataWriteOptions& opt = {}) {
  const auto& s = f.structure;
  const auto z = s.atomic_numbers();
  std::vector<int> types = opt.type_order;
  if (types.empty())
    for (int zi : z)
      if (std::find(types.begin(), types.end(), zi) == types.end()) types.push_back(zi);
  Eigen::Matrix3d Q;
  const Eigen::Matrix3d L = detail::lammps_cell(s.lattice(), Q);
  const Lattice lat(L);
  const bool tri = L(1, 0) != 0 || L(2, 0) != 0 || L(2, 1) != 0;
  char buf[256];
  out << "LAMMPS data file written by nernst (" << s.formula() << ")\n\n";
  out << s.size() << " atoms\n" << types.size() << " atom types\n\n";
  std::snprintf(buf, sizeof buf, "0.0 %.16g xlo xhi\n0.0 %.16g ylo yhi\n0.0 %.16g zlo zhi\n", L(0, 0), L(1, 1), L(2, 2));
  out << buf;
  if (tri) {
    std::snprintf(buf, sizeof buf, "%.16g %.16g %.16g xy xz yz\n", L(1, 0), L(2, 0), L(2, 1));
    out << buf;
  }
  out << "\nMasses\n\n";
  for (std::size_t t = 0; t < types.size(); ++t) {
    std::snprintf(buf, sizeof buf, "%zu %.10g # %s\n", t + 1, atomic_mass(types[t]), element_symbol(types[t]));
    out << buf;
  }
  out << "\nAtoms # " << (opt.charge_style ? "charge" : "atomic") << "\n\n";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const long t = std::find(types.begin(), types.end(), z[i]) - types.begin() + 1;
    if (t > static_cast<long>(types.size()))
      throw ValueError(std::string("element ") + element_symbol(z[i]) + " is missing from the type order");
    const Eigen::Vector3d x = lat.to_cart(s[i].frac);
    if (opt.charge_style) {
      std::snprintf(buf, sizeof buf, "%zu %ld %.16g %.16g %.16g %.16g", i + 1, t, f.charges.empty() ? 0.0 : f.charges[i],
                    x[0], x[1], x[2]);
    } else {
      std::snprintf(buf, sizeof buf, "%zu %ld %.16g %.16g %.16g", i + 1, t, x[0], x[1], x[2]);
    }
    out << buf;
    if (!f.images.empty()) out << ' ' << f.images[i][0] << ' ' << f.images[i][1] << ' ' << f.images[i][2];
    out << "\n";
  }
  if (!f.velocities.empty()) {
    out << "\nVelocities\n\n";
    for (std::size_t i = 0; i < s.size(); ++i) {
      const Eigen::Vector3d v = Q * f.velocities[i] / opt.velocity_unit_A_per_fs;
      std::snprintf(buf, sizeof buf, "%zu %.16g %.16g %.16g\n", i + 1, v[0], v[1], v[2]);
      out << buf;
    }
  }
}

inline void write_lammps_data(const std::string& path, const Frame& f, const LammpsDataWriteOptions& opt = {}) {
  std::ofstream out(path);
  if (!out) throw IOError("cannot open '" + path + "' for writing");
  write_lammps_data(out, f, opt);
  if (!out) throw IOError("error writing '" + path + "'");
}

/// Reads one dump frame; false at a clean end of file. Atoms are sorted by id when the dump
/// has an id column. Positions: unwrapped (xu…) if present, else wrapped (x…), else scaled.
inline bool read_lammps_dump_frame(detail::LineReader& r, Frame& f, const LammpsOptions& opt = {}) {
  using namespace detail;
  std::string line;
  std::vector<std::string_view> tok;
  if (!next_nonblank(r, line, tok)) return false;
  auto expect_item = [&](const std::string& l, const char* what) {
    if (l.compare(0, 6, "ITEM: ") != 0 || l.find(what) == std::string::npos)
      r.fail(std::string("expected 'ITEM: ") + what + "', found '" + l.substr(0, 60) + "'");
  };
  expect_item(line, "TIMESTEP");
  f = Frame{};
  {
    const std::string l = r.require("the timestep");
    const auto t = split_ws(l);
    if (t.size() != 1) r.fail("expected one timestep value");
    f.step = parse_long(r, t[0], "the timestep");
  }
  expect_item(r.require("ITEM: NUMBER OF ATOMS"), "NUMBER OF ATOMS");
  long n;
  {
    const std::string l = r.require("the atom count");
    const auto t = split_ws(l);
    if (t.size() != 1) r.fail("expected one atom count");
    n = parse_long(r, t[0], "the atom count");
    if (n < 0) r.fail("negative atom count");
    if (n > 2000000000L) r.fail("atom count " + std::to_string(n) + " is implausibly large");
  }
  const std::string bline = r.require("ITEM: BOX BOUNDS");
  expect_item(bline, "BOX BOUNDS");
  const bool tri = bline.find("xy xz yz") != std::string::npos;
  double b[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  for (int i = 0; i < 3; ++i) {
    const std::string l = r.require("box bounds");
    const auto t = split_ws(l);
    if (t.size() != (tri ? 3u : 2u)) r.fail("box bounds line needs " + std::to_string(tri ? 3 : 2) + " numbers");
    for (std::size_t k = 0; k < t.size(); ++k) b[i][k] = parse_double(r, t[k], "a box bound");
  }
  const std::size_t box_line = r.line();
  double xy = b[0][2], xz = b[1][2], yz = b[2][2];
  double xlo = b[0][0], xhi = b[0][1], ylo = b[1][0], yhi = b[1][1];
  if (tri) {  // bounding box -> box (LAMMPS Howto triclinic)
    xlo -= std::min({0.0, xy, xz, xy + xz});
    xhi -= std::max({0.0, xy, xz, xy + xz});
    ylo -= std::min(0.0, yz);
    yhi -= std::max(0.0, yz);
  }
  Lattice lat;
  try {
    lat = lammps_lattice(r, xhi - xlo, yhi - ylo, b[2][1] - b[2][0], xy, xz, yz);
  } catch (const ParseError& e) {
    r.fail_at(box_line, e.problem());
  }
  const Eigen::Vector3d origin(xlo, ylo, b[2][0]);
  const std::string aline = r.require("ITEM: ATOMS");
  expect_item(aline, "ATOMS");
  const auto cols = split_ws(std::string_view(aline).substr(aline.find("ATOMS") + 5));
  auto find = [&](std::initializer_list<const char*> names) -> int {
    for (const char* nm : names)
      for (std::size_t k = 0; k < cols.size(); ++k)
        if (cols[k] == nm) return static_cast<int>(k);
    return -1;
  };
  const int cid = find({"id"}), ctype = find({"type"}), cel = find({"element"}), cq = find({"q"});
  int cx = find({"xu"}), mode = 0;  // 0 cart, 1 scaled
  if (cx < 0) cx = find({"x"});
  if (cx < 0) { cx = find({"xsu"}); mode = 1; }
  if (cx < 0) { cx = find({"xs"}); mode = 1; }
  if (cx < 0) r.fail("dump has no position columns (x, xu, xs or xsu)");
  const char* ny = mode ? (cols[static_cast<std::size_t>(cx)].size() == 3 ? "ysu" : "ys") : (cols[static_cast<std::size_t>(cx)].size() == 2 ? "yu" : "y");
  const char* nz = mode ? (cols[static_cast<std::size_t>(cx)].size() == 3 ? "zsu" : "zs") : (cols[static_cast<std::size_t>(cx)].size() == 2 ? "zu" : "z");
  const int cy = find({ny}), cz = find({nz});
  if (cy < 0 || cz < 0) r.fail(std::string("dump lacks ") + ny + " or " + nz);
  const int cix = find({"ix"}), civ = find({"vx"}), cf = find({"fx"});
  if (cel < 0 && ctype < 0) r.fail("dump has neither an element nor a type column");
  // Consecutive triples are read as vectors: check them before touching any atom line.
  if (cix >= 0 && (find({"iy"}) != cix + 1 || find({"iz"}) != cix + 2)) r.fail("image columns must be 'ix iy iz'");
  if (civ >= 0 && (find({"vy"}) != civ + 1 || find({"vz"}) != civ + 2)) r.fail("velocity columns must be 'vx vy vz'");
  if (cf >= 0 && (find({"fy"}) != cf + 1 || find({"fz"}) != cf + 2)) r.fail("force columns must be 'fx fy fz'");

  struct Row {
    long id;
    int z;
    Eigen::Vector3d x, v, fo;
    Eigen::Vector3i im;
    double q;
  };
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(std::min<long>(n, 1 << 20)));
  for (long a = 0; a < n; ++a) {
    if (!r.next(line))
      r.fail_at(r.line() + 1, "unexpected end of file: atom " + std::to_string(a + 1) + " of " + std::to_string(n) +
                                  " (truncated frame)");
    split_ws_into(line, tok);
    if (tok.size() != cols.size())
      r.fail("expected " + std::to_string(cols.size()) + " columns (from ITEM: ATOMS), found " + std::to_string(tok.size()));
    Row row{};
    row.id = cid >= 0 ? parse_long(r, tok[static_cast<std::size_t>(cid)], "id") : a + 1;
    if (cel >= 0) {
      row.z = try_atomic_number(tok[static_cast<std::size_t>(cel)]);
      if (!row.z) r.fail("unknown element '" + std::string(tok[static_cast<std::size_t>(cel)]) + "'");
    } else {
      const long t = parse_long(r, tok[static_cast<std::size_t>(ctype)], "type");
      if (t < 1 || static_cast<std::size_t>(t) > opt.type_to_z.size())
        r.fail("atom type " + std::to_string(t) + " has no element (dump has no element column; give a type-to-element map)");
      row.z = opt.type_to_z[static_cast<std::size_t>(t - 1)];
      if (row.z < 1 || row.z > max_atomic_number) r.fail("type-to-element map gives an invalid Z for type " + std::to_string(t));
    }
    auto v3 = [&](int c0, int c1, int c2, const char* what) {
      return Eigen::Vector3d(parse_double(r, tok[static_cast<std::size_t>(c0)], what),
                             parse_double(r, tok[static_cast<std::size_t>(c1)], what),
                             parse_double(r, tok[static_cast<std::size_t>(c2)], what));
    };
    row.x = v3(cx, cy, cz, "a coordinate");
    if (cix >= 0) {
      for (int d = 0; d < 3; ++d) {
        const long v = parse_long(r, tok[static_cast<std::size_t>(cix + d)], "an image flag");
        if (std::abs(v) > (1L << 30)) r.fail("image flag out of range");
        row.im[d] = static_cast<int>(v);
      }
    }
    if (civ >= 0) row.v = v3(civ, civ + 1, civ + 2, "a velocity") * opt.velocity_unit_A_per_fs;
    if (cf >= 0) row.fo = v3(cf, cf + 1, cf + 2, "a force");
    if (cq >= 0) row.q = parse_double(r, tok[static_cast<std::size_t>(cq)], "a charge");
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.id < b.id; });
  for (std::size_t k = 1; k < rows.size(); ++k)
    if (rows[k].id == rows[k - 1].id) r.fail("duplicate atom id " + std::to_string(rows[k].id));
  f.structure = Structure(lat);
  auto& sites = f.structure.sites();
  sites.reserve(rows.size());
  for (const auto& row : rows) {
    Site s;
    s.frac = mode ? row.x : lat.to_frac(row.x - origin);
    s.species.push_back({row.z, 1.0, std::nullopt});
    s.label = element_symbol(row.z);
    sites.push_back(std::move(s));
    if (cix >= 0) f.images.push_back(row.im);
    if (civ >= 0) f.velocities.push_back(row.v);
    if (cf >= 0) f.forces.push_back(row.fo);
    if (cq >= 0) f.charges.push_back(row.q);
  }
  return true;
}

/// Streaming dump reader with a lazily built frame index (like ExtXYZReader; see
/// IndexedFrameReader for next / frame_count / seek / read).
class LammpsDumpReader : public detail::IndexedFrameReader<LammpsDumpReader> {
 public:
  explicit LammpsDumpReader(const std::string& path, LammpsOptions opt = {})
      : IndexedFrameReader(path), opt_(std::move(opt)) {}
  LammpsDumpReader(std::istream& in, std::string name, LammpsOptions opt = {})
      : IndexedFrameReader(in, std::move(name)), opt_(std::move(opt)) {}

 private:
  friend class detail::IndexedFrameReader<LammpsDumpReader>;

  bool read_one(Frame& f) { return read_lammps_dump_frame(r_, f, opt_); }

  void skip_one() {
    std::string line;
    std::vector<std::string_view> tok;
    if (!detail::next_nonblank(r_, line, tok)) r_.fail("unexpected end of file while indexing");
    if (line.compare(0, 14, "ITEM: TIMESTEP") != 0) r_.fail("expected 'ITEM: TIMESTEP'");
    r_.require("the timestep");
    r_.require("ITEM: NUMBER OF ATOMS");
    const std::string l = r_.require("the atom count");
    const auto t = detail::split_ws(l);
    if (t.size() != 1) r_.fail("expected one atom count");
    const long n = detail::parse_long(r_, t[0], "the atom count");
    if (n < 0) r_.fail("negative atom count");
    if (n > 2000000000L) r_.fail("atom count " + std::to_string(n) + " is implausibly large");
    for (long k = 0; k < n + 5; ++k)  // BOX BOUNDS + 3 lines + ITEM: ATOMS + n atoms
      if (!r_.skip()) r_.fail_at(r_.line() + 1, "unexpected end of file (truncated frame)");
  }

  LammpsOptions opt_;
};

}  // namespace io
NERNST_NAMESPACE_END
