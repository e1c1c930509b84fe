#pragma once
/// \file
/// \brief VASP outputs as training labels: vasprun.xml (every ionic step: lattice, positions,
/// forces, stress, energies) and OUTCAR as a fallback. Units as in ASE: energies in eV
/// (`energy` = E(σ→0), `free_energy` = F = TOTEN), forces eV/Å, stress converted from VASP's
/// kBar to eV/Å³ with ASE's sign (σ = −p: VASP prints pressure-like values).

#include <nernst/core/units.hpp>
#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/detail/xml_reader.hpp>
#include <nernst/io/frame.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

struct VaspOutput {
  std::vector<Frame> frames;     ///< one per completed ionic step
  bool truncated = false;        ///< the file ended inside a step (only with allow_truncated)
  std::vector<int> species;      ///< atomic number of each atom
};

struct VaspReadOptions {
  /// A run killed mid-step leaves a truncated file: accept the completed steps (and set
  /// VaspOutput::truncated) instead of failing. No step is ever made up from partial data.
  bool allow_truncated = false;
};

namespace detail {

/// VASP kBar (pressure-like, positive = compressive) to eV/Å³ with ASE's sign.
inline Eigen::Matrix3d vasp_kbar_to_stress(const Eigen::Matrix3d& kbar) { return -kbar / units::eV_per_A3_in_kbar; }

inline std::vector<double> xml_numbers(const XmlReader& x, const std::string& text, std::size_t line, const char* what) {
  std::vector<double> v;
  for (auto t : split_ws(text)) {
    double d;
    if (!try_parse_double(t, d))
      x.fail(line, std::string("expected a number in ") + what + ", found '" + std::string(t).substr(0, 30) + "'");
    v.push_back(d);
  }
  return v;
}

/// Splits Fortran fixed-width output where negative numbers run into each other
/// ("1.000-2.000" -> "1.000 -2.000").
inline std::string unglue_fortran(const std::string& s) {
  std::string o;
  o.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-' && i > 0 && (std::isdigit(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '.')) o.push_back(' ');
    o.push_back(s[i]);
  }
  return o;
}

}  // namespace detail

/// Parses vasprun.xml from a stream (streaming: memory grows with the kept frames only).
inline VaspOutput parse_vasprun(std::istream& in, const std::string& name, const VaspReadOptions& opt = {}) {
  using namespace detail;
  XmlReader x(in, name);
  VaspOutput out;
  struct Open {
    std::string tag, name;
  };
  std::vector<Open> stack;
  std::vector<std::string> symbols;
  // Per-step accumulators.
  bool in_calc = false;
  std::size_t calc_line = 0;
  std::vector<Eigen::Vector3d> basis, positions, forces, stress;
  // NaN = not seen (file values are always finite: the number parser rejects others).
  const double unset = std::numeric_limits<double>::quiet_NaN();
  double e_fr = unset, e_0 = unset, scf_de = unset, scf_fr = unset;
  auto seen = [](double v) { return !std::isnan(v); };
  std::size_t rc_index = 0;
  std::string text;
  auto parent = [&](std::size_t up) -> const Open* { return stack.size() > up ? &stack[stack.size() - 1 - up] : nullptr; };
  auto vec3 = [&](std::vector<Eigen::Vector3d>& dst, const char* what) {
    const auto v = xml_numbers(x, text, x.tag_line(), what);
    if (v.size() != 3) x.fail(x.tag_line(), std::string(what) + " row needs 3 numbers, found " + std::to_string(v.size()));
    dst.emplace_back(v[0], v[1], v[2]);
  };
  bool ended = false;
  while (true) {
    const auto ev = x.next();
    if (ev == XmlReader::Event::Eof) break;
    if (ev == XmlReader::Event::Text) {
      text += x.text();
      continue;
    }
    if (ev == XmlReader::Event::Start) {
      stack.push_back({x.name(), x.attr("name")});
      text.clear();
      if (x.name() == "calculation" && stack.size() == 2) {
        in_calc = true;
        calc_line = x.tag_line();
        basis.clear();
        positions.clear();
        forces.clear();
        stress.clear();
        e_fr = e_0 = scf_de = scf_fr = unset;
      }
      if (x.name() == "rc") rc_index = 0;
      continue;
    }
    // End tag.
    if (stack.empty() || stack.back().tag != x.name())
      x.fail(x.tag_line(), "mismatched end tag </" + x.name() + ">" +
                               (stack.empty() ? std::string() : " (open: <" + stack.back().tag + ">)"));
    const Open cur = stack.back();
    const Open* p1 = parent(1);
    const Open* p2 = parent(2);
    if (cur.tag == "c" && p1 && p1->tag == "rc") {
      // atominfo/array[@name="atoms"]/set/rc/c: first column is the element.
      const Open* arr = parent(3);
      const Open* info = parent(4);
      if (arr && arr->tag == "array" && arr->name == "atoms" && info && info->tag == "atominfo" && rc_index++ == 0) {
        std::string sym;
        for (char ch : text)
          if (!std::isspace(static_cast<unsigned char>(ch))) sym.push_back(ch);
        const int z = try_atomic_number(sym);
        if (!z) x.fail(x.tag_line(), "unknown element '" + sym + "'");
        out.species.push_back(z);
      }
    } else if (cur.tag == "v" && in_calc && p1 && p1->tag == "varray") {
      if (p1->name == "basis" && p2 && p2->tag == "crystal") vec3(basis, "basis");
      else if (p1->name == "positions" && p2 && p2->tag == "structure") vec3(positions, "positions");
      else if (p1->name == "forces" && p2 && p2->tag == "calculation") vec3(forces, "forces");
      else if (p1->name == "stress" && p2 && p2->tag == "calculation") vec3(stress, "stress");
    } else if (cur.tag == "i" && in_calc && p1 && p1->tag == "energy") {
      const bool step_level = p2 && p2->tag == "calculation";
      const bool scf_level = p2 && p2->tag == "scstep";
      if (cur.name == "e_fr_energy" || cur.name == "e_0_energy") {
        const auto v = xml_numbers(x, text, x.tag_line(), cur.name.c_str());
        if (v.size() != 1) x.fail(x.tag_line(), cur.name + " needs one number");
        if (step_level) (cur.name == "e_fr_energy" ? e_fr : e_0) = v[0];
        if (scf_level) {
          // Keep e_0 − e_fr of the last SCF step (ASE's workaround for VASP's e_0_energy bug).
          if (cur.name == "e_fr_energy") scf_fr = v[0];
          else if (seen(scf_fr)) scf_de = v[0] - scf_fr;
        }
      }
    } else if (cur.tag == "calculation" && stack.size() == 2) {
      in_calc = false;
      const std::size_t n = out.species.size();
      if (n == 0) x.fail(calc_line, "no <atominfo> atoms before the first <calculation>");
      if (basis.size() != 3) x.fail(calc_line, "ionic step without a 3-vector lattice basis");
      if (positions.size() != n)
        x.fail(calc_line, "ionic step has " + std::to_string(positions.size()) + " positions for " + std::to_string(n) + " atoms");
      if (!forces.empty() && forces.size() != n) x.fail(calc_line, "ionic step has a wrong number of forces");
      if (!stress.empty() && stress.size() != 3) x.fail(calc_line, "stress needs 3 rows");
      if (!seen(e_fr)) x.fail(calc_line, "ionic step without e_fr_energy");
      Eigen::Matrix3d m;
      for (int i = 0; i < 3; ++i) m.row(i) = basis[static_cast<std::size_t>(i)].transpose();
      Frame f;
      try {
        f.structure = Structure(Lattice(m));
      } catch (const ValueError& e) {
        x.fail(calc_line, std::string("singular cell: ") + e.what());
      }
      for (std::size_t a = 0; a < n; ++a) f.structure.add_site(out.species[a], positions[a]);
      f.forces = forces;
      if (!stress.empty()) {
        Eigen::Matrix3d s;
        for (int i = 0; i < 3; ++i) s.row(i) = stress[static_cast<std::size_t>(i)].transpose();
        f.stress = vasp_kbar_to_stress(s);
      }
      f.free_energy = e_fr;
      if (seen(scf_de)) f.energy = e_fr + scf_de;
      else if (seen(e_0)) f.energy = e_0;
      else f.energy = e_fr;
      f.step = static_cast<long>(out.frames.size());
      out.frames.push_back(std::move(f));
    } else if (cur.tag == "modeling" && stack.size() == 1) {
      ended = true;
    }
    stack.pop_back();
    text.clear();
  }
  if (!ended) {
    if (!opt.allow_truncated)
      x.fail(x.line(), "unexpected end of file inside <" + (stack.empty() ? std::string("?") : stack.back().tag) +
                           "> (truncated vasprun.xml; " + std::to_string(out.frames.size()) + " complete ionic steps)");
    out.truncated = true;
  }
  if (out.frames.empty()) x.fail(x.line(), "no complete ionic step in the file");
  return out;
}

inline VaspOutput read_vasprun(const std::string& path, const VaspReadOptions& opt = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot open '" + path + "' for reading");
  return parse_vasprun(in, path, opt);
}

/// Parses an OUTCAR (fallback when vasprun.xml is missing or broken): species from the
/// POTCAR TITEL (or VRHFIN) lines and "ions per type", then per ionic step the lattice
/// ("direct lattice vectors"), stress ("in kB", order xx yy zz xy yz zx), Cartesian positions
/// and forces ("POSITION … TOTAL-FORCE") and energies (TOTEN, energy(sigma->0)).
inline VaspOutput parse_outcar(detail::LineReader& r, const VaspReadOptions& opt = {}) {
  using namespace detail;
  VaspOutput out;
  std::vector<int> type_z, counts;
  std::vector<std::string> titel, vrhfin;
  std::optional<Eigen::Matrix3d> lattice, stress;
  std::vector<Eigen::Vector3d> pos, frc;
  bool in_energy_block = false;
  double free_e = std::numeric_limits<double>::quiet_NaN();
  std::string line;
  std::size_t step_start = 0;
  auto numbers = [&](const std::string& s, const char* what) {
    std::vector<double> v;
    for (auto t : split_ws(s)) v.push_back(parse_double(r, t, what));
    return v;
  };
  while (r.next(line)) {
    if (line.find("TITEL") != std::string::npos && line.find('=') != std::string::npos) {
      const auto t = split_ws(std::string_view(line).substr(line.find('=') + 1));
      if (t.size() >= 2) titel.emplace_back(t[1]);
    } else if (line.find("VRHFIN") != std::string::npos && line.find('=') != std::string::npos) {
      std::string s = line.substr(line.find('=') + 1);
      s = s.substr(0, s.find(':'));
      const auto t = split_ws(s);
      if (!t.empty()) vrhfin.emplace_back(t[0]);
    } else if (line.find("ions per type") != std::string::npos) {
      counts.clear();
      for (auto t : split_ws(std::string_view(line).substr(line.find('=') + 1))) {
        const long c = parse_long(r, t, "ions per type");
        if (c < 0 || c > 10000000) r.fail("implausible ion count");
        counts.push_back(static_cast<int>(c));
      }
      const auto& names = !titel.empty() ? titel : vrhfin;
      if (names.size() < counts.size())
        r.fail("found " + std::to_string(counts.size()) + " ion types but " + std::to_string(names.size()) +
               " POTCAR species (TITEL/VRHFIN lines)");
      out.species.clear();
      for (std::size_t k = 0; k < counts.size(); ++k) {
        std::string sym = names[k].substr(0, names[k].find_first_of("_."));
        const int z = try_atomic_number(sym);
        if (!z) r.fail("unknown element '" + names[k] + "'");
        out.species.insert(out.species.end(), static_cast<std::size_t>(counts[k]), z);
      }
    } else if (line.find("direct lattice vectors") != std::string::npos) {
      Eigen::Matrix3d m;
      for (int i = 0; i < 3; ++i) {
        const auto v = numbers(unglue_fortran(r.require("lattice vector")), "a lattice vector");
        if (v.size() < 3) r.fail("lattice vector needs 3 numbers");
        for (int j = 0; j < 3; ++j) m(i, j) = v[static_cast<std::size_t>(j)];
      }
      lattice = m;
    } else if (line.find("in kB") != std::string::npos) {
      const auto v = numbers(unglue_fortran(line.substr(line.find("in kB") + 5)), "stress");
      if (v.size() != 6) r.fail("'in kB' line needs 6 numbers, found " + std::to_string(v.size()));
      Eigen::Matrix3d m;
      m << v[0], v[3], v[5], v[3], v[1], v[4], v[5], v[4], v[2];  // xx yy zz xy yz zx
      stress = vasp_kbar_to_stress(m);
    } else if (line.find("POSITION") != std::string::npos && line.find("TOTAL-FORCE") != std::string::npos) {
      if (out.species.empty()) r.fail("POSITION block before 'ions per type'");
      step_start = r.line();
      r.require("the dashed line");
      pos.clear();
      frc.clear();
      for (std::size_t a = 0; a < out.species.size(); ++a) {
        const std::string l = r.require("position and force of ion " + std::to_string(a + 1));
        const auto v = numbers(unglue_fortran(l), "a position or force");
        if (v.size() != 6) r.fail("expected 6 numbers (position, force), found " + std::to_string(v.size()));
        pos.emplace_back(v[0], v[1], v[2]);
        frc.emplace_back(v[3], v[4], v[5]);
      }
    } else if (line.find("FREE ENERGIE OF THE ION-ELECTRON SYSTEM") != std::string::npos) {
      in_energy_block = true;
      free_e = std::numeric_limits<double>::quiet_NaN();
    } else if (in_energy_block && line.find("TOTEN") != std::string::npos) {
      const auto t = split_ws(std::string_view(line).substr(line.find('=') + 1));
      if (t.empty()) r.fail("TOTEN without a value");
      free_e = parse_double(r, t[0], "TOTEN");
    } else if (in_energy_block && line.find("energy(sigma->0)") != std::string::npos) {
      const auto t = split_ws(std::string_view(line).substr(line.rfind('=') + 1));
      if (t.empty()) r.fail("energy(sigma->0) without a value");
      const double e0 = parse_double(r, t[0], "energy(sigma->0)");
      in_energy_block = false;
      if (std::isnan(free_e)) r.fail("energy block without TOTEN");
      if (pos.empty()) r.fail("energies without a POSITION/TOTAL-FORCE block");
      if (!lattice) r.fail("no 'direct lattice vectors' before the first ionic step");
      Frame f;
      try {
        f.structure = Structure(Lattice(*lattice));
      } catch (const ValueError& e) {
        r.fail_at(step_start, std::string("singular cell: ") + e.what());
      }
      for (std::size_t a = 0; a < pos.size(); ++a) f.structure.add_site_cart(out.species[a], pos[a]);
      f.forces = frc;
      f.stress = stress;
      f.free_energy = free_e;
      f.energy = e0;
      f.step = static_cast<long>(out.frames.size());
      out.frames.push_back(std::move(f));
      pos.clear();
      stress.reset();
    }
  }
  if (!pos.empty() || in_energy_block) {
    if (!opt.allow_truncated)
      r.fail("unexpected end of file inside an ionic step (truncated OUTCAR; " + std::to_string(out.frames.size()) +
             " complete steps)");
    out.truncated = true;
  }
  if (out.frames.empty()) r.fail("no complete ionic step in the OUTCAR");
  return out;
}

inline VaspOutput read_outcar(const std::string& path, const VaspReadOptions& opt = {}) {
  detail::LineReader r(path);
  return parse_outcar(r, opt);
}

}  // namespace io
NERNST_NAMESPACE_END
