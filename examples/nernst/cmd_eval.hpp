#pragma once
// `nernst eval --model PATH [--precision float|double] [--repeat N] STRUCTURE`: energy, forces and
// stress of a structure with a graph-network potential (matgl M3GNet or TensorNet model directory
// or CHGNet .pth.tar checkpoint), as JSON.

#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/units.hpp>
#include <nernst/io/read.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>

#include <nlohmann/json.hpp>

#include "model_choice.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace nernst::cli {

namespace detail {

/// Evaluates any Potential on a structure (median time over `repeat` calls) and returns the JSON
/// common to all graph networks: energies, forces, stress (eV/Å³ and GPa), per-atom energies
/// (each architecture's wrapper below adds its graph sizes).
template <class Pot>
nlohmann::json eval_potential(Pot& pot, const Structure& s, int repeat) {
  auto sys = System<>::from_structure(s);
  ComputeRequest req;
  req.forces = req.stress = true;
  req.per_atom_energy = true;
  ComputeResult r;
  std::vector<double> times;
  for (int k = 0; k < std::max(1, repeat); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    r = pot.compute(sys, req);
    Kokkos::fence();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
  nlohmann::json j;
  const std::size_t n = sys.size();
  j["natoms"] = n;
  j["energy"] = r.energy;
  j["energy_per_atom"] = n ? r.energy / double(n) : 0.0;
  nlohmann::json f = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) f.push_back({hf(i, 0), hf(i, 1), hf(i, 2)});
  j["forces"] = f;
  const auto v = r.voigt();
  j["stress"] = std::vector<double>(v.begin(), v.end());
  std::vector<double> gpa;
  for (double x : v) gpa.push_back(x * units::eV_per_A3_in_GPa);
  j["stress_GPa"] = gpa;
  j["per_atom_energy"] = r.per_atom_energy;
  j["seconds_per_eval"] = times[times.size() / 2];
  return j;
}

template <class Scalar>
nlohmann::json eval_m3gnet(const graphnet::M3GNetModel& model, graphnet::ThreeBodyMode mode, const Structure& s,
                           int repeat) {
  Potential<GraphNet<M3GNet>, Scalar> pot(model, mode);
  nlohmann::json j = eval_potential(pot, s, repeat);
  j["n_edges"] = pot.graph().size();
  j["n_triplets"] = pot.triplets().size();
  return j;
}

/// TensorNet (matgl model directory): the common JSON.
template <class Scalar>
nlohmann::json eval_tensornet(const graphnet::TensorNetModel& model, const Structure& s, int repeat) {
  Potential<GraphNet<TensorNet>, Scalar> pot(model);
  nlohmann::json j = eval_potential(pot, s, repeat);
  j["n_edges"] = pot.graph().size();
  return j;
}

/// MACE (mace-torch .model file): the common JSON.
template <class Scalar>
nlohmann::json eval_mace(const MACE::Model& model, const Structure& s, int repeat) {
  Potential<GraphNet<MACE>, Scalar> pot(model);
  nlohmann::json j = eval_potential(pot, s, repeat);
  j["n_edges"] = pot.state().graph.size();
  return j;
}

/// CHGNet (.pth.tar checkpoint): the same JSON as for M3GNet plus "magmoms" (μ_B) and graph sizes.
template <class Scalar>
nlohmann::json eval_chgnet(const graphnet::CHGNetModel& model, const Structure& s, int repeat) {
  Potential<GraphNet<CHGNet>, Scalar> pot(model);
  nlohmann::json j = eval_potential(pot, s, repeat);
  j["n_edges"] = pot.graph().size();
  j["magmoms"] = pot.magmoms();
  j["n_angles"] = pot.bond_graph().angles();
  return j;
}

}  // namespace detail

inline void add_eval_command(CLI::App& app) {
  struct Options {
    std::string model = "default", structure, precision = "double", three_body = "matgl";
    int repeat = 1;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "eval", "Energy (eV), forces (eV/Å) and stress (eV/Å³ and GPa, ASE sign, Voigt xx yy zz yz xz xy) as JSON");
  cmd->add_option("structure", opt->structure, "structure file (POSCAR, extended XYZ, CIF, ...)")->required();
  cmd->add_option("--model", opt->model,
                  "default (the bundled M3GNet-MatPES-r2SCAN), a matgl M3GNet or TensorNet model directory (model.json + state.pt), "
                  "a MACE .model file or a CHGNet checkpoint file (.pth.tar)")
      ->capture_default_str();
  cmd->add_option("--precision", opt->precision, "float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  cmd->add_option("--repeat", opt->repeat, "evaluate N times and report the median time per evaluation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--three-body", opt->three_body,
                  "matgl (reproduce matgl exactly) or smooth (repaired index handling, edge-order independent)")
      ->check(CLI::IsMember({"matgl", "smooth"}))
      ->capture_default_str();
  cmd->callback([opt]() {
    const Structure s = io::read_structure(opt->structure);
    if (!s.is_ordered()) throw ValueError("'" + opt->structure + "' has partial occupancies; eval needs an ordered structure");
    const ModelChoice choice = resolve_model(opt->model);
    if (choice.kind == ModelKind::rigid_ion) throw NotSupported("eval evaluates graph networks; rigid-ion has no model to evaluate");
    if (choice.kind == ModelKind::chgnet) {
      const auto model = CHGNet::load(choice.path);
      nlohmann::json j = opt->precision == "float" ? detail::eval_chgnet<float>(model, s, opt->repeat)
                                                   : detail::eval_chgnet<double>(model, s, opt->repeat);
      j["precision"] = opt->precision;
      j["model"] = choice.path;
      std::cout << j.dump(2) << "\n";
      return;
    }
    if (choice.kind == ModelKind::mace) {
      const auto model = MACE::load(choice.path);
      nlohmann::json j = opt->precision == "float" ? detail::eval_mace<float>(model, s, opt->repeat)
                                                   : detail::eval_mace<double>(model, s, opt->repeat);
      j["precision"] = opt->precision;
      j["model"] = choice.path;
      j["architecture"] = "MACE";
      std::cout << j.dump(2) << "\n";
      return;
    }
    if (choice.kind == ModelKind::tensornet) {
      const auto model = TensorNet::load(choice.path);
      nlohmann::json j = opt->precision == "float" ? detail::eval_tensornet<float>(model, s, opt->repeat)
                                                   : detail::eval_tensornet<double>(model, s, opt->repeat);
      j["precision"] = opt->precision;
      j["model"] = choice.path;
      j["architecture"] = "TensorNet";
      std::cout << j.dump(2) << "\n";
      return;
    }
    const auto model = M3GNet::load(choice.path);
    const auto mode = opt->three_body == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl;
    nlohmann::json j = opt->precision == "float" ? detail::eval_m3gnet<float>(model, mode, s, opt->repeat)
                                                 : detail::eval_m3gnet<double>(model, mode, s, opt->repeat);
    j["precision"] = opt->precision;
    j["model"] = choice.path;
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace nernst::cli
