#pragma once
// `nernst md STRUCTURE --potential SPEC --ensemble E ...`: molecular dynamics with any potential,
// thermo log, trajectory, checkpoints/restart and a JSON summary.

#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/io/read.hpp>
#include <nernst/md/md.hpp>
#include <nernst/potential/lennard_jones.hpp>

#include "model_choice.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

namespace nernst::cli {

namespace detail {

struct MDOptions {
  std::string structure, potential = "default", ensemble = "nvt-nh", coupling = "iso", traj, thermo, summary, checkpoint, restart;
  std::string three_body = "matgl";
  double temperature = 300, pressure = 1.0, tdamp = 100, pdamp = 1000, timestep = 1.0, modulus = 1e4;
  double initial_temperature = -1;
  long steps = 0, every = 100, thermo_every = 100, equilibration = 0, checkpoint_every = 0;
  std::uint64_t seed = 12345;
  int chain = 3;
  bool velocities = false, progress = true;
};

/// Parses `lj:epsilon=…,sigma=…,cutoff=…[,shift=1][,tail=0][,skin=2]`.
inline LennardJones parse_lj_spec(const std::string& spec) {
  LennardJones p;
  p.cutoff = 0;
  const std::string body = spec.substr(3);
  std::size_t i = 0;
  while (i < body.size()) {
    std::size_t j = body.find(',', i);
    if (j == std::string::npos) j = body.size();
    const std::string kv = body.substr(i, j - i);
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw ValueError("--potential '" + spec + "': expected key=value, got '" + kv + "'");
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    double x;
    try {
      std::size_t used = 0;
      x = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
    } catch (const std::exception&) {
      throw ValueError("--potential '" + spec + "': '" + v + "' is not a number");
    }
    if (k == "epsilon") p.epsilon = x;
    else if (k == "sigma") p.sigma = x;
    else if (k == "cutoff") p.cutoff = x;
    else if (k == "skin") p.skin = x;
    else if (k == "shift") p.shift = x != 0;
    else if (k == "tail") p.tail = x != 0;
    else throw ValueError("--potential '" + spec + "': unknown key '" + k + "' (epsilon, sigma, cutoff, skin, shift, tail)");
    i = j + 1;
  }
  if (p.cutoff == 0) p.cutoff = 2.5 * p.sigma;
  return p;
}

inline md::Coupling parse_coupling(const std::string& c) {
  return c == "iso" ? md::Coupling::Isotropic : (c == "aniso" ? md::Coupling::Anisotropic : md::Coupling::Triclinic);
}

template <class Ens, class Pot>
nlohmann::json run_md(const MDOptions& o, System<>& sys, Pot& pot, Ens ens) {
  md::SimulationOptions so;
  so.timestep = o.timestep;
  so.seed = o.seed;
  so.checkpoint = o.checkpoint;
  so.checkpoint_every = o.checkpoint_every;
  md::Simulation<Ens, Pot> sim(sys, pot, std::move(ens), so);
  const long sample = std::max<long>(1, std::min(o.thermo_every, o.every > 0 ? o.every : o.thermo_every));
  auto stats = std::make_shared<md::Statistics<>>(std::min<long>(sample, 10), o.equilibration);
  sim.add_observer(stats);
  if (!o.thermo.empty()) sim.add_observer(std::make_shared<md::ThermoLog<>>(o.thermo, o.thermo_every));
  if (!o.traj.empty()) {
    md::TrajectoryWriter<>::Options t;
    t.velocities = o.velocities;
    sim.add_observer(std::make_shared<md::TrajectoryWriter<>>(o.traj, o.every, t));
  }
  if (o.progress) sim.add_observer(std::make_shared<md::ProgressBar<>>(o.steps, std::max<long>(1, o.steps / 200)));
  if (!o.restart.empty()) {
    sim.restore(o.restart);
  } else {
    md::maxwell_boltzmann(sys, o.initial_temperature >= 0 ? o.initial_temperature : o.temperature, o.seed);
  }
  const long todo = std::max<long>(0, o.steps - sim.step());
  const auto t0 = std::chrono::steady_clock::now();
  sim.run(todo);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  using S = md::Statistics<>;
  nlohmann::json j;
  j["natoms"] = sys.size();
  j["ensemble"] = Ens::name;
  j["steps"] = sim.step();
  j["timestep_fs"] = o.timestep;
  j["samples"] = stats->T.size();
  j["T_mean_K"] = S::mean(stats->T);
  j["T_std_K"] = S::stddev(stats->T);
  j["P_mean_bar"] = S::mean(stats->P);
  j["P_std_bar"] = S::stddev(stats->P);
  j["V_mean_A3"] = S::mean(stats->V);
  j["V_std_A3"] = S::stddev(stats->V);
  j["Epot_mean_eV_per_atom"] = S::mean(stats->U);
  j["conserved_drift_eV_per_atom_ps"] = stats->conserved_drift_per_ps();
  j["steps_per_second"] = wall > 0 ? todo / wall : 0.0;
  j["wall_seconds"] = wall;
  return j;
}

template <class Pot>
nlohmann::json dispatch(const MDOptions& o, System<>& sys, Pot& pot) {
  using namespace md;
  if (o.ensemble == "nve") return run_md(o, sys, pot, Ensemble<NVE>{});
  if (o.ensemble == "nvt-nh") return run_md(o, sys, pot, Ensemble<NVT, NoseHoover>({o.temperature, o.tdamp, o.chain}));
  if (o.ensemble == "nvt-berendsen") return run_md(o, sys, pot, Ensemble<NVT, Berendsen>({o.temperature, o.tdamp}));
  if (o.ensemble == "nvt-langevin") return run_md(o, sys, pot, Ensemble<NVT, Langevin>({o.temperature, o.tdamp, true}));
  if (o.ensemble == "npt-nh") {
    Ensemble<NpT, NoseHoover>::Parameters p;
    p.temperature = o.temperature;
    p.pressure = o.pressure;
    p.tdamp = o.tdamp;
    p.pdamp = o.pdamp;
    p.coupling = parse_coupling(o.coupling);
    p.tchain = p.pchain = o.chain;
    return run_md(o, sys, pot, Ensemble<NpT, NoseHoover>(p));
  }
  Ensemble<NpT, Berendsen>::Parameters p;
  p.temperature = o.temperature;
  p.pressure = o.pressure;
  p.tdamp = o.tdamp;
  p.pdamp = o.pdamp;
  p.modulus = o.modulus;
  p.coupling = parse_coupling(o.coupling);
  p.tchain = o.chain;
  return run_md(o, sys, pot, Ensemble<NpT, Berendsen>(p));
}

}  // namespace detail

inline void add_md_command(CLI::App& app) {
  auto o = std::make_shared<detail::MDOptions>();
  auto* cmd = app.add_subcommand("md", "Molecular dynamics (NVE, NVT, NpT) with a JSON summary");
  cmd->add_option("structure", o->structure, "structure file (POSCAR, extended XYZ, CIF, ...)")->required();
  cmd->add_option("--potential", o->potential,
                  "default (the bundled M3GNet-MatPES-r2SCAN), rigid-ion, lj:epsilon=EV,sigma=A,cutoff=A[,skin=A,shift=1,"
                  "tail=0] or a matgl M3GNet or TensorNet model directory")
      ->capture_default_str();
  cmd->add_option("--ensemble", o->ensemble, "nve | nvt-nh | nvt-berendsen | nvt-langevin | npt-nh | npt-berendsen")
      ->check(CLI::IsMember({"nve", "nvt-nh", "nvt-berendsen", "nvt-langevin", "npt-nh", "npt-berendsen"}))
      ->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "target temperature, K")->capture_default_str();
  cmd->add_option("--initial-temperature", o->initial_temperature, "Maxwell-Boltzmann temperature (default: --temperature)");
  cmd->add_option("--pressure", o->pressure, "target pressure, bar")->capture_default_str();
  cmd->add_option("--coupling", o->coupling, "barostat cell DOF: iso | aniso | tri")
      ->check(CLI::IsMember({"iso", "aniso", "tri"}))
      ->capture_default_str();
  cmd->add_option("--tdamp", o->tdamp, "thermostat damping time, fs")->capture_default_str();
  cmd->add_option("--pdamp", o->pdamp, "barostat damping time, fs")->capture_default_str();
  cmd->add_option("--modulus", o->modulus, "bulk modulus estimate for Berendsen, bar")->capture_default_str();
  cmd->add_option("--chain", o->chain, "Nose-Hoover chain length")->capture_default_str();
  cmd->add_option("--timestep", o->timestep, "time step, fs")->capture_default_str();
  cmd->add_option("--steps", o->steps, "total number of steps (a restarted run continues up to it)")->required();
  cmd->add_option("--seed", o->seed, "seed for velocities and Langevin noise")->capture_default_str();
  cmd->add_option("--traj", o->traj, "extended-XYZ trajectory (unwrapped positions)");
  cmd->add_option("--every", o->every, "steps between trajectory frames")->capture_default_str();
  cmd->add_flag("--velocities", o->velocities, "also write velocities to the trajectory");
  cmd->add_option("--thermo", o->thermo, "CSV thermo log");
  cmd->add_option("--thermo-every", o->thermo_every, "steps between thermo rows")->capture_default_str();
  cmd->add_option("--equilibration-steps", o->equilibration, "steps excluded from the summary averages")
      ->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "checkpoint file (written atomically)");
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "steps between checkpoints (0: at the end)")
      ->capture_default_str();
  cmd->add_option("--restart", o->restart, "continue from this checkpoint (bit-identical)");
  cmd->add_option("--summary-json", o->summary, "write the run summary as JSON");
  cmd->add_flag("!--no-progress", o->progress, "no progress bar");
  cmd->add_option("--three-body", o->three_body,
                  "M3GNet: matgl (reproduce matgl exactly) or smooth (repaired index handling, edge-order independent)")
      ->check(CLI::IsMember({"matgl", "smooth"}))
      ->capture_default_str();
  cmd->callback([o]() {
    const Structure s = io::read_structure(o->structure);
    if (!s.is_ordered()) throw ValueError("'" + o->structure + "' has partial occupancies; md needs an ordered structure");
    if (!(o->timestep > 0)) throw ValueError("--timestep must be positive");
    auto sys = System<>::from_structure(s);
    nlohmann::json j;
    if (o->potential.rfind("lj:", 0) == 0) {
      Potential<LennardJones> lj(detail::parse_lj_spec(o->potential));
      j = detail::dispatch(*o, sys, lj);
    } else {
      const ModelChoice m = resolve_model(o->potential);
      if (m.kind == ModelKind::chgnet)
        throw NotSupported("md runs M3GNet, TensorNet, rigid-ion and LJ; CHGNet checkpoints run in `nernst pipeline --model`");
      if (m.kind == ModelKind::rigid_ion) {
        auto pot = make_rigid_ion<>();
        j = detail::dispatch(*o, sys, pot);
      } else if (m.kind == ModelKind::mace) {
        Potential<GraphNet<MACE>> pot(MACE::load(m.path));
        j = detail::dispatch(*o, sys, pot);
      } else if (m.kind == ModelKind::tensornet) {
        Potential<GraphNet<TensorNet>> pot(TensorNet::load(m.path));
        j = detail::dispatch(*o, sys, pot);
      } else {
        const auto model = M3GNet::load(m.path);
        Potential<GraphNet<M3GNet>> pot(
            model, o->three_body == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl);
        j = detail::dispatch(*o, sys, pot);
        j["three_body"] = o->three_body;
      }
      j["model"] = m.path;
      j["potential_name"] = m.name;
    }
    j["potential"] = o->potential;
    j["structure"] = o->structure;
    if (!o->summary.empty()) {
      std::ofstream out(o->summary);
      if (!out) throw IOError("cannot write '" + o->summary + "'");
      out << j.dump(2) << "\n";
    }
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace nernst::cli
