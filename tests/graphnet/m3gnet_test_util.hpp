#pragma once
// Helpers for the M3GNet tests: reference files from ../shared as Systems.

#include "graphnet_test_util.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <nlohmann/json.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <vector>
#include <map>
#include <memory>
#include <string>

namespace m3gnet_test {

inline const char* kReferences[] = {"licl_rocksalt_prim",        "licl_conv8_rattled",
                                    "libr_rocksalt_prim",        "li_y_cl_triclinic_rattled",
                                    "li_single_atom_small_cell", "li3ycl6_ordered_40",
                                    "li3ycl6_supercell_180_rattled", "near_cutoff_cluster"};

inline std::filesystem::path model_dir() { return nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes"; }
inline std::filesystem::path ref_dir() { return nernst_test::shared_dir() / "reference" / "m3gnet"; }

using graphnet_test::read_json;

/// A System with the Cartesian positions exactly as stored (not wrapped, no round trip).
inline nernst::System<> system_from(const nlohmann::json& s) {
  return nernst_test::system_from_json(s.at("lattice"), s.at("species"), s.at("positions"));
}

/// A model directory, loaded once per test binary.
inline const nernst::graphnet::M3GNetModel& load_model(const std::filesystem::path& dir) {
  static std::map<std::string, std::unique_ptr<nernst::graphnet::M3GNetModel>> cache;
  auto& m = cache[dir.string()];
  if (!m) m = std::make_unique<nernst::graphnet::M3GNetModel>(nernst::M3GNet::load(dir.string()));
  return *m;
}

/// M3GNet-MP-2021.2.8-PES.
inline const nernst::graphnet::M3GNetModel& model() { return load_model(model_dir()); }

/// M3GNet-MatPES-{PBE,r2SCAN}-v2025.1-PES ("pbe" or "r2scan") and the PBE reference outputs.
inline std::filesystem::path matpes_dir(const std::string& functional) {
  return nernst_test::shared_dir() / "models" / ("m3gnet-matpes-" + functional + "-v2025.1-pes");
}
inline const nernst::graphnet::M3GNetModel& matpes_model(const std::string& functional) {
  return load_model(matpes_dir(functional));
}
inline std::filesystem::path matpes_ref_dir() {
  return nernst_test::shared_dir() / "reference" / "matpes" / "M3GNet-MatPES-PBE-v2025.1-PES";
}

/// Largest deviations of one evaluation from a reference file's outputs.
struct Diff {
  double de = 0, df = 0, ds_gpa = 0, dae = 0;
};

/// Evaluates `m` in precision Scalar on reference structure `name` of `refs` and compares with
/// its outputs under `key` ("outputs" = float32, "outputs_float64"); per-atom energies too when
/// `per_atom`.
template <class Scalar>
Diff compare_with_reference(const nernst::graphnet::M3GNetModel& m, const std::filesystem::path& refs,
                            const std::string& name, const char* key, bool per_atom) {
  const auto j = read_json(refs / (name + ".json"));
  auto sys = system_from(j.at("structure"));
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar> pot(m);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  req.per_atom_energy = per_atom;
  const auto r = pot.compute(sys, req);
  const auto& o = j.at(key);
  Diff d;
  d.de = std::abs(r.energy - o.at("energy_eV").get<double>());
  const auto f = graphnet_test::host_forces(sys);
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int k = 0; k < 3; ++k)
      d.df = std::max(d.df, std::abs(f[i][static_cast<std::size_t>(k)] - o.at("forces_eV_per_A")[i][k].get<double>()));
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      d.ds_gpa = std::max(d.ds_gpa, std::abs(r.stress(a, b) * 160.21766208 - o.at("stress_GPa")[a][b].get<double>()));
  if (per_atom)
    for (std::size_t i = 0; i < sys.size(); ++i)
      d.dae = std::max(d.dae, std::abs(r.per_atom_energy[i] - j.at("per_atom").at("energy_eV")[i].get<double>()));
  return d;
}

using graphnet_test::host_forces;
using nernst::graphnet::ThreeBodyMode;

/// A structure as plain arrays (positions Cartesian, Å), easy to displace and strain.
struct Cell {
  Eigen::Matrix3d L;
  std::vector<Eigen::Vector3d> x;  // Cartesian
  std::vector<int> z;
};

inline Cell cell_from_json(const nlohmann::json& s) {
  Cell c;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) c.L(i, j) = s.at("lattice")[i][j].get<double>();
  for (std::size_t i = 0; i < s.at("positions").size(); ++i) {
    c.x.emplace_back(s.at("positions")[i][0].get<double>(), s.at("positions")[i][1].get<double>(),
                     s.at("positions")[i][2].get<double>());
    c.z.push_back(nernst::atomic_number(s.at("species")[i].get<std::string>()));
  }
  return c;
}

inline Cell reference_cell(const std::string& name) { return cell_from_json(read_json(ref_dir() / (name + ".json")).at("structure")); }

inline nernst::System<> make_system(const Cell& c) {
  nernst::System<> sys(c.x.size());
  sys.cell = nernst::Lattice(c.L);
  auto hx = Kokkos::create_mirror_view(sys.x);
  auto ht = Kokkos::create_mirror_view(sys.type);
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    int t = -1;
    for (std::size_t k = 0; k < sys.species.size(); ++k)
      if (sys.species[k] == c.z[i]) t = static_cast<int>(k);
    if (t < 0) {
      t = static_cast<int>(sys.species.size());
      sys.species.push_back(c.z[i]);
    }
    ht(i) = t;
    for (int k = 0; k < 3; ++k) hx(i, k) = c.x[i][k];
  }
  Kokkos::deep_copy(sys.x, hx);
  Kokkos::deep_copy(sys.type, ht);
  return sys;
}

inline void rattle(Cell& c, double amp, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> U(-amp, amp);
  for (auto& p : c.x)
    for (int k = 0; k < 3; ++k) p[k] += U(rng);
}

/// Strain: L -> L (I + eps), x -> x (I + eps) (row vectors).
inline Cell strained(const Cell& c, const Eigen::Matrix3d& eps) {
  Cell s = c;
  const Eigen::Matrix3d F = Eigen::Matrix3d::Identity() + eps;
  s.L = c.L * F;
  for (auto& p : s.x) p = (p.transpose() * F).transpose();
  return s;
}

struct FdErr {
  double force = 0, stress = 0, fmax = 0, smax = 0;
};

/// Central differences (h) of the energy with the graph held fixed (or rebuilt when `rebuild`).
inline FdErr finite_difference_check(const Cell& c, ThreeBodyMode mode, bool rebuild, double h = 1e-5,
                                     std::size_t max_atoms = static_cast<std::size_t>(-1),
                                     const nernst::graphnet::M3GNetModel& m = model()) {
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, double> pot(m, mode);
  auto sys = make_system(c);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const auto r = pot.compute(sys, req);
  const auto f = host_forces(sys);
  const auto g = pot.graph();
  auto energy = [&](const Cell& cc) {
    auto s = make_system(cc);
    return rebuild ? pot.compute(s, {false, false, false}).energy : pot.compute_with_graph(s, {false, false, false}, g).energy;
  };
  FdErr err;
  for (std::size_t i = 0; i < std::min(c.x.size(), max_atoms); ++i)
    for (int k = 0; k < 3; ++k) {
      Cell p = c, m = c;
      p.x[i][k] += h;
      m.x[i][k] -= h;
      const double fd = -(energy(p) - energy(m)) / (2 * h);
      err.force = std::max(err.force, std::abs(fd - f[i][static_cast<std::size_t>(k)]));
      err.fmax = std::max(err.fmax, std::abs(fd));
    }
  const double V = std::abs(c.L.determinant());
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      Eigen::Matrix3d e = Eigen::Matrix3d::Zero();
      e(a, b) = h;
      const double fd = (energy(strained(c, e)) - energy(strained(c, -e))) / (2 * h) / V;
      err.stress = std::max(err.stress, std::abs(fd - r.stress(a, b)));
      err.smax = std::max(err.smax, std::abs(fd));
    }
  return err;
}

/// Double precision against matgl's float64 outputs on all reference structures of `refs`:
/// energy, forces, stress (eV/Å³) and per-atom energies within `tol`; prints each structure and
/// the largest deviations under `label`.
inline void check_double_against_matgl(const nernst::graphnet::M3GNetModel& m, const std::filesystem::path& refs,
                                       double tol, const char* label) {
  Diff worst;
  for (const char* name : kReferences) {
    CAPTURE(name);
    const Diff d = compare_with_reference<double>(m, refs, name, "outputs_float64", true);
    std::printf("  %s double %-32s |dE| %.2e eV  max|dF| %.2e eV/A  max|dS| %.2e GPa  max|dE_i| %.2e eV\n", label, name,
                d.de, d.df, d.ds_gpa, d.dae);
    CHECK(d.de <= tol);
    CHECK(d.df <= tol);
    CHECK(d.ds_gpa / 160.21766208 <= tol);
    CHECK(d.dae <= tol);
    worst.de = std::max(worst.de, d.de);
    worst.df = std::max(worst.df, d.df);
    worst.ds_gpa = std::max(worst.ds_gpa, d.ds_gpa);
    worst.dae = std::max(worst.dae, d.dae);
  }
  MESSAGE(label << " double vs matgl float64: max |dE| " << worst.de << " eV, max |dF| " << worst.df
                << " eV/A, max |dS| " << worst.ds_gpa << " GPa, per-atom " << worst.dae << " eV");
}

}  // namespace m3gnet_test
