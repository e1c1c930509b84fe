#pragma once
// Helpers for the TensorNet tests: models and reference files from ../shared, comparison with
// matgl's outputs, finite differences. Structures and Cell helpers come from the M3GNet tests
// (the reference structures are the same).

#include "m3gnet_test_util.hpp"

#include <nernst/potential/graphnet/tensornet.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace tensornet_test {

using m3gnet_test::Cell;
using m3gnet_test::host_forces;
using m3gnet_test::kReferences;
using m3gnet_test::make_system;
using m3gnet_test::read_json;
using m3gnet_test::reference_cell;
using m3gnet_test::strained;
template <class Scalar>
using TensorNetPotential = nernst::Potential<nernst::GraphNet<nernst::TensorNet>, Scalar>;

/// tensornet-matpes-{pbe,r2scan}-v2025.1-pes.
inline std::filesystem::path model_dir(const std::string& functional) {
  return nernst_test::shared_dir() / "models" / ("tensornet-matpes-" + functional + "-v2025.1-pes");
}
inline std::filesystem::path ref_dir() {
  return nernst_test::shared_dir() / "reference" / "matpes" / "TensorNet-MatPES-PBE-v2025.1-PES";
}
inline std::filesystem::path worked_example_path() {
  return nernst_test::shared_dir() / "specs" / "tensornet_worked_example.json";
}

/// A model, loaded once per test binary ("pbe" or "r2scan").
inline const nernst::graphnet::TensorNetModel& model(const std::string& functional) {
  static std::map<std::string, std::unique_ptr<nernst::graphnet::TensorNetModel>> cache;
  auto& m = cache[functional];
  if (!m) m = std::make_unique<nernst::graphnet::TensorNetModel>(nernst::TensorNet::load(model_dir(functional).string()));
  return *m;
}

/// Largest deviations of one evaluation from a reference file's outputs.
struct Diff {
  double de = 0, df = 0, ds_gpa = 0, dae = 0;
};

/// Evaluates the PBE model in precision Scalar on reference structure `name` and compares with
/// the outputs under `key` ("outputs" = float32, "outputs_float64"); per-atom energies (float64
/// run) when `per_atom`.
template <class Scalar>
Diff compare_with_reference(const std::string& name, const char* key, bool per_atom) {
  const auto j = read_json(ref_dir() / (name + ".json"));
  auto sys = m3gnet_test::system_from(j.at("structure"));
  TensorNetPotential<Scalar> pot(model("pbe"));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  req.per_atom_energy = per_atom;
  const auto r = pot.compute(sys, req);
  const auto& o = j.at(key);
  Diff d;
  d.de = std::abs(r.energy - o.at("energy_eV").get<double>());
  const auto f = host_forces(sys);
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

struct FdErr {
  double force = 0, stress = 0, fmax = 0, smax = 0;
};

/// Central differences (step h) of the double-precision energy with the graph held fixed,
/// against the analytic forces and stress (eV/Å, eV/Å³).
inline FdErr finite_difference_check(const nernst::graphnet::TensorNetModel& m, const Cell& c, double h = 1e-5) {
  TensorNetPotential<double> pot(m);
  auto sys = make_system(c);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const auto r = pot.compute(sys, req);
  const auto f = host_forces(sys);
  const auto g = pot.graph();
  auto energy = [&](const Cell& cc) {
    auto s = make_system(cc);
    return pot.compute_with_graph(s, {false, false, false}, g).energy;
  };
  FdErr err;
  for (std::size_t i = 0; i < c.x.size(); ++i)
    for (int k = 0; k < 3; ++k) {
      Cell p = c, q = c;
      p.x[i][k] += h;
      q.x[i][k] -= h;
      const double fd = -(energy(p) - energy(q)) / (2 * h);
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

}  // namespace tensornet_test
