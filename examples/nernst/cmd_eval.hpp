#pragma once
// `nernst eval --model PATH [--precision float|double] [--repeat N] [--frames last|all|INDEX] FILE`:
// energy, forces and stress of a structure with a graph-network potential (matgl M3GNet or TensorNet
// model directory, CHGNet .pth.tar checkpoint or MACE .model file), as JSON. `--frames all`
// evaluates every frame of a multi-frame file (extended XYZ, LAMMPS dump, vasprun.xml), a batch of
// frames per evaluation where the model evaluates batches together (M3GNet and CHGNet with their
// kernels: the default on a GPU).

#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/units.hpp>
#include <nernst/io/read.hpp>
#include <nernst/workflow/labeler.hpp>
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

/// The JSON of a labelled frame common to every eval output: natoms, energy (and per atom), forces,
/// stress in Voigt order (eV/Å³ and GPa).
inline nlohmann::json labelled_json(const io::Frame& f) {
  const std::size_t n = f.structure.size();
  nlohmann::json j;
  j["natoms"] = n;
  j["energy"] = *f.energy;
  j["energy_per_atom"] = n ? *f.energy / double(n) : 0.0;
  nlohmann::json forces = nlohmann::json::array();
  for (const auto& v : f.forces) forces.push_back({v(0), v(1), v(2)});
  j["forces"] = forces;
  ComputeResult r;  // its voigt(): ASE's order, defined once
  r.stress = *f.stress;
  const auto v = r.voigt();
  j["stress"] = std::vector<double>(v.begin(), v.end());
  std::vector<double> gpa;
  for (double x : v) gpa.push_back(x * units::eV_per_A3_in_GPa);
  j["stress_GPa"] = gpa;
  return j;
}

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
  nlohmann::json j = labelled_json(workflow::detail::labelled_frame(s, sys, r));
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

template <class Pot>
const char* architecture_name() {
  using Arch = typename architecture_of<Pot>::type;
  if constexpr (std::is_same_v<Arch, MACE>) return "MACE";
  else if constexpr (std::is_same_v<Arch, M3GNet>) return "M3GNet";
  else if constexpr (std::is_same_v<Arch, CHGNet>) return "CHGNet";
  else {
    static_assert(std::is_same_v<Arch, TensorNet>, "eval: an architecture without its name");
    return "TensorNet";
  }
}

/// What each architecture adds to the common JSON: its name and graph sizes (CHGNet: the
/// magnetic moments, μ_B, too).
template <class Pot>
void add_architecture_facts(const Pot& pot, nlohmann::json& j) {
  using Arch = typename architecture_of<Pot>::type;
  j["architecture"] = architecture_name<Pot>();
  if constexpr (std::is_same_v<Arch, MACE>) {
    j["n_edges"] = pot.state().graph.size();
  } else {
    j["n_edges"] = pot.graph().size();
    if constexpr (std::is_same_v<Arch, M3GNet>) {
      j["n_triplets"] = pot.triplets().size();
    } else if constexpr (std::is_same_v<Arch, CHGNet>) {
      j["magmoms"] = pot.magmoms();
      j["n_angles"] = pot.bond_graph().angles();
    }
  }
}

/// Whether the potential evaluates a batch of structures together (label_batch_with_potential).
template <class Pot>
bool evaluates_batches(const Pot& pot) {
  if constexpr (has_batch_compute<Pot>::value)
    return pot.batched();
  else
    return false;
}

/// Every frame of a file, `batch` frames per evaluation (workflow::label_batch_with_potential: one
/// batched evaluation where the potential evaluates batches together), with progress on stderr.
template <class Pot>
nlohmann::json eval_frames(Pot& pot, const std::vector<Structure>& frames, const std::size_t batch, const bool quiet) {
  nlohmann::json list = nlohmann::json::array();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < frames.size(); k += batch) {
    const std::size_t end = std::min(frames.size(), k + batch);
    for (const io::Frame& f : workflow::label_batch_with_potential(pot, frames.data() + k, frames.data() + end)) {
      list.push_back(labelled_json(f));
    }
    if (!quiet) std::cerr << "eval: " << end << "/" << frames.size() << " frames\n" << std::flush;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out;
  out["architecture"] = architecture_name<Pot>();
  out["n_frames"] = frames.size();
  out["frames"] = std::move(list);
  out["seconds_total"] = seconds;
  out["batched"] = evaluates_batches(pot);
  return out;
}

}  // namespace detail

/// The frame --frames names: "last" (-1) or an integer (negative: from the end).
inline long frame_index(const std::string& text) {
  if (text == "last") return -1;
  std::size_t used = 0;
  long k = 0;
  try {
    k = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw ValueError("eval: --frames '" + text + "' is not last, all or a frame index");
  return k;
}

inline void add_eval_command(CLI::App& app) {
  struct Options {
    std::string model = "default", structure, precision = "double", three_body = "matgl", frames = "last";
    int repeat = 1;
    std::size_t batch = workflow::kLabelBatch;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "eval", "Energy (eV), forces (eV/Å) and stress (eV/Å³ and GPa, ASE sign, Voigt xx yy zz yz xz xy) as JSON");
  cmd->add_option("structure", opt->structure, "structure file (POSCAR, extended XYZ, CIF, ...)")->required();
  cmd->add_option("--frames", opt->frames,
                  "which frames of a multi-frame file: last, all (a JSON list, one entry per frame) or an index "
                  "(negative: from the end)")
      ->capture_default_str();
  cmd->add_option("--batch", opt->batch,
                  "with --frames all: frames per evaluation (batched where the model evaluates batches together: "
                  "M3GNet and CHGNet on a GPU)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "no progress lines (--frames all)");
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
    const bool all = opt->frames == "all";
    if (all && opt->repeat != 1) throw ValueError("eval: --repeat times one structure; it does not combine with --frames all");
    std::vector<Structure> frames;
    if (all) {
      for (auto& f : io::read_frames(opt->structure)) frames.push_back(std::move(f.structure));
      if (frames.empty()) throw ValueError("'" + opt->structure + "' holds no frames");
    } else {
      frames.push_back(io::read_frame(opt->structure, io::Format::Auto, frame_index(opt->frames)).structure);
    }
    for (std::size_t k = 0; k < frames.size(); ++k)
      if (!frames[k].is_ordered())
        throw ValueError("'" + opt->structure + "' frame " + std::to_string(k) +
                         " has partial occupancies; eval needs ordered structures");
    const ModelChoice choice = resolve_model(opt->model);
    if (choice.kind == ModelKind::rigid_ion) throw NotSupported("eval evaluates graph networks; rigid-ion has no model to evaluate");
    const auto mode = opt->three_body == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl;
    nlohmann::json j = with_potential(choice, opt->precision, mode, [&](auto& pot) -> nlohmann::json {
      if constexpr (std::is_same_v<std::decay_t<decltype(pot)>, decltype(make_rigid_ion<>())>) {
        throw Error("eval: the rigid-ion potential was refused above");
      } else {
        if (all) return detail::eval_frames(pot, frames, opt->batch, opt->quiet);
        nlohmann::json out = detail::eval_potential(pot, frames.front(), opt->repeat);
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
