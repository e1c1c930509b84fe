#pragma once
/// \file
/// \brief The pipeline's MD stages for one relaxed ordering m at one temperature T:
///
///   equilibrate_m<m>_<T>  the published protocol (md::Protocol: 100 K → T heating, NVT, NpT at
///                         the pressure, mean cell); output {mean_cell, mean_volume_A3,
///                         volume_std_A3, npt_temperature_K, steps, velocities} and
///                         `equilibrated.vasp`. Resume rule: checkpoints inside heating, NVT and
///                         NpT; a killed run continues there bit-identically.
///   production_m<m>_<T>   NVT Nosé–Hoover at T in that cell; `trajectory.extxyz`, `thermo.csv`.
///                         Resume rule: a checkpoint every `checkpoint_every` steps; a restart
///                         continues bit-identically. `interrupt_after_steps` stops it there.
///
/// Inputs of both: the relaxed ordering's entry, the potential's identity (its name, or the
/// name with the active-learning result), the MD options.

#include <nernst/io/read.hpp>
#include <nernst/md/md.hpp>
#include <nernst/workflow/equilibration.hpp>
#include <nernst/workflow/pipeline_run.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// The parameters and results of one ordering's MD at one temperature.
struct MdRun {
  nlohmann::json p_eq, eq, p_prod, prod;
};

namespace detail {

inline md::ProtocolParameters protocol_parameters(const PipelineOptions& o, double T) {
  md::ProtocolParameters pp;
  pp.temperature = T;
  pp.pressure = o.pressure_bar;
  pp.timestep = o.timestep;
  pp.heating = o.heating;
  pp.nvt = o.nvt;
  pp.npt = o.npt;
  pp.average_last = o.average_last;
  pp.seed = o.seed;
  pp.sample_every = std::max<long>(1, std::min<long>(10, std::llround(o.average_last / o.timestep) / 4));
  return pp;
}

/// The equilibration stage's body: the relaxed ordering `file`, heated, NVT, NpT.
template <class Factory>
nlohmann::json equilibrate(PipelineRun<Factory>& run, const std::string& file, double T, const std::filesystem::path& dir) {
  using MS = typename PipelineRun<Factory>::MS;
  const Structure s = io::read_structure((run.out / "relax" / file).string());
  auto sys = System<MS>::from_structure(s);
  auto pot = run.make_potential();
  // checkpoints inside heating/NVT/NpT: a killed run resumes there, bit-identically
  const auto pr = run_resumable_protocol(sys, pot, protocol_parameters(run.o, T), dir, run.o.checkpoint_every, run.o.on_checkpoint,
                                         [&](double f) { run.log.update(f); });
  io::write_structure((dir / "equilibrated.vasp").string(), sys.to_structure(), io::Format::Poscar);
  return {{"mean_cell", matrix_json(pr.mean_cell)}, {"mean_volume_A3", pr.mean_volume},
          {"volume_std_A3", pr.volume_std},         {"npt_temperature_K", pr.npt_temperature},
          {"steps", pr.steps},                      {"velocities", get_velocities(sys)}};
}

/// The production stage's body: NVT from the equilibrated cell and velocities, in checkpointed
/// chunks; throws Interrupted at a checkpoint once this call has run `interrupt_after_steps`.
template <class Factory>
nlohmann::json produce(PipelineRun<Factory>& run, const std::string& tt, const nlohmann::json& eq, double T,
                       const std::filesystem::path& dir) {
  using MS = typename PipelineRun<Factory>::MS;
  using Pot = typename PipelineRun<Factory>::Pot;
  using ProductionEnsemble = md::Ensemble<md::NVT, md::NoseHoover>;
  const PipelineOptions& o = run.o;
  const Structure s = io::read_structure((run.out / ("equilibrate_" + tt) / "equilibrated.vasp").string());
  auto sys = System<MS>::from_structure(s);
  set_velocities(sys, eq["velocities"].template get<std::vector<double>>());
  auto pot = run.make_potential();
  md::SimulationOptions so;
  so.timestep = o.timestep;
  so.seed = o.seed;
  so.checkpoint = (dir / "checkpoint.bin").string();
  so.checkpoint_every = 0;  // written at the end of every chunk below
  ProductionEnsemble ens({T, 100.0, 3});
  md::Simulation<ProductionEnsemble, Pot> sim(sys, pot, ens, so);
  sim.add_observer(std::make_shared<md::TrajectoryWriter<MS>>((dir / "trajectory.extxyz").string(), o.sample_every));
  sim.add_observer(std::make_shared<md::ThermoLog<MS>>((dir / "thermo.csv").string(), o.sample_every));
  sim.add_observer(std::make_shared<ProgressForward<MS>>(&run.log, run.prod_steps, o.sample_every));
  if (md::checkpoint_exists(so.checkpoint)) sim.restore(so.checkpoint);
  while (sim.step() < run.prod_steps) {
    const long chunk = std::min(o.checkpoint_every - sim.step() % o.checkpoint_every, run.prod_steps - sim.step());
    sim.run(chunk);
    if (o.on_checkpoint) o.on_checkpoint("production " + tt, sim.step());
    run.production_steps_this_call += chunk;
    if (o.interrupt_after_steps > 0 && run.production_steps_this_call >= o.interrupt_after_steps && sim.step() < run.prod_steps) {
      run.production_steps_this_call = 0;
      throw Interrupted("stopped after " + std::to_string(o.interrupt_after_steps) + " production steps as asked, at step " +
                        std::to_string(sim.step()) + " of stage 'production_" + tt + "' (checkpointed)");
    }
  }
  return {{"steps", run.prod_steps}, {"frames", run.prod_steps / o.sample_every + 1}, {"trajectory", "trajectory.extxyz"}};
}

}  // namespace detail

/// Runs (or skips, when done) equilibration and production of relaxed ordering `mi` (`ordering`:
/// its entry of the relax stage's `ranked`) at T.
template <class Factory>
MdRun md_stages(PipelineRun<Factory>& run, std::size_t mi, const nlohmann::json& ordering, const nlohmann::json& potential_id, double T) {
  const PipelineOptions& o = run.o;
  const std::string tt = detail::run_tag(mi, T);
  MdRun r;
  r.p_eq = nlohmann::json{{"ordering", ordering}, {"potential", potential_id}, {"T", T}, {"dt", o.timestep},
                          {"heating", o.heating}, {"nvt", o.nvt}, {"npt", o.npt}, {"average_last", o.average_last}, {"seed", o.seed},
                          {"pressure_bar", o.pressure_bar}};
  r.eq = run.runner.run("equilibrate_" + tt, r.p_eq, run.n_est * run.eq_steps, [&](const std::filesystem::path& dir) {
    return detail::equilibrate(run, ordering["file"].get<std::string>(), T, dir);
  });
  r.p_prod = nlohmann::json{{"equilibrate", r.p_eq}, {"production_ps", o.production_ps}, {"sample_every", o.sample_every},
                            {"checkpoint_every", o.checkpoint_every}};
  r.prod = run.runner.run("production_" + tt, r.p_prod, run.n_est * run.prod_steps,
                          [&](const std::filesystem::path& dir) { return detail::produce(run, tt, r.eq, T, dir); });
  return r;
}

}  // namespace workflow
NERNST_NAMESPACE_END
