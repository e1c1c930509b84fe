#pragma once
// `nernst eval --model PATH [--precision float|double] [--repeat N] STRUCTURE`: energy, forces and
// stress of a structure with a graph-network potential (matgl M3GNet or TensorNet model directory,
// CHGNet .pth.tar checkpoint or MACE .model file), as JSON.

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
#include <type_traits>
#include <vector>

namespace nernst::cli {

namespace detail {

/// Evaluates any Potential on a structure (median time over `repeat` calls) and returns the JSON
/// common to all graph networks: energies, forces, stress (eV/Å³ and GPa), per-atom energies
/// (add_architecture_facts adds the architecture's own).
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

/// The architecture of a graph-network potential type (Potential<GraphNet<Arch>, ...>).
template <class Pot>
struct architecture_of;
template <class Arch, class Scalar, class Space>
struct architecture_of<Potential<GraphNet<Arch>, Scalar, Space>> {
  using type = Arch;
};

/// What each architecture adds to the common JSON: its name and graph sizes (CHGNet: the
/// magnetic moments, μ_B, too).
template <class Pot>
void add_architecture_facts(const Pot& pot, nlohmann::json& j) {
  using Arch = typename architecture_of<Pot>::type;
  if constexpr (std::is_same_v<Arch, MACE>) {
    j["architecture"] = "MACE";
    j["n_edges"] = pot.state().graph.size();
  } else {
    j["n_edges"] = pot.graph().size();
    if constexpr (std::is_same_v<Arch, M3GNet>) {
      j["architecture"] = "M3GNet";
      j["n_triplets"] = pot.triplets().size();
    } else if constexpr (std::is_same_v<Arch, CHGNet>) {
      j["architecture"] = "CHGNet";
      j["magmoms"] = pot.magmoms();
      j["n_angles"] = pot.bond_graph().angles();
    } else {
      static_assert(std::is_same_v<Arch, TensorNet>, "eval: an architecture without its facts");
      j["architecture"] = "TensorNet";
    }
  }
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
    const auto mode = opt->three_body == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl;
    nlohmann::json j = with_potential(choice, opt->precision, mode, [&](auto& pot) -> nlohmann::json {
      if constexpr (std::is_same_v<std::decay_t<decltype(pot)>, decltype(make_rigid_ion<>())>) {
        throw Error("eval: the rigid-ion potential was refused above");
      } else {
        nlohmann::json out = detail::eval_potential(pot, s, opt->repeat);
        detail::add_architecture_facts(pot, out);
        return out;
      }
    });
    j["precision"] = opt->precision;
    j["model"] = choice.path;
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace nernst::cli
