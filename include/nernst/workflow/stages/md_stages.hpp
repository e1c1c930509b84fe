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
///
/// With PipelineOptions::replicas the productions of all orderings and temperatures run together
/// (production_replicas: md::Replicas, one batched force evaluation per step), leaving the same
/// checkpoints and outputs in the same stage directories.

#include <nernst/io/read.hpp>
#include <nernst/md/md.hpp>
#include <nernst/md/replicas.hpp>
#include <nernst/potential/potential.hpp>
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

using ProductionEnsemble = md::Ensemble<md::NVT, md::NoseHoover>;

/// The production's starting point: the equilibrated cell (`equilibrated.vasp` of equilibration
/// `tt`) with the equilibration's final velocities.
template <class Factory>
auto production_system(PipelineRun<Factory>& run, const std::string& tt, const nlohmann::json& eq) {
  using MS = typename PipelineRun<Factory>::MS;
  const Structure s = io::read_structure((run.out / ("equilibrate_" + tt) / "equilibrated.vasp").string());
  auto sys = System<MS>::from_structure(s);
  set_velocities(sys, eq["velocities"].template get<std::vector<double>>());
  return sys;
}

/// NVT Nosé–Hoover at T, the checkpoint in `dir` (written at the end of every chunk).
inline ProductionEnsemble production_ensemble(double T) { return ProductionEnsemble({T, 100.0, 3}); }
inline md::SimulationOptions production_options(const PipelineOptions& o, const std::filesystem::path& dir) {
  md::SimulationOptions so;
  so.timestep = o.timestep;
  so.seed = o.seed;
  so.checkpoint = (dir / "checkpoint.bin").string();
  so.checkpoint_every = 0;  // written at the end of every chunk (production_chunk)
  return so;
}

/// The production's outputs in `dir` (trajectory.extxyz, thermo.csv) and, with `progress`, its
/// progress lines.
template <class Sim, class Factory>
void add_production_observers(Sim& sim, PipelineRun<Factory>& run, const std::filesystem::path& dir, const bool progress) {
  using MS = typename PipelineRun<Factory>::MS;
  const PipelineOptions& o = run.o;
  sim.add_observer(std::make_shared<md::TrajectoryWriter<MS>>((dir / "trajectory.extxyz").string(), o.sample_every));
  sim.add_observer(std::make_shared<md::ThermoLog<MS>>((dir / "thermo.csv").string(), o.sample_every));
  if (progress) sim.add_observer(std::make_shared<ProgressForward<MS>>(&run.log, run.prod_steps, o.sample_every));
}

/// Steps of the next production chunk from `step`: to the next checkpoint, or to the end.
template <class Factory>
long production_chunk(const PipelineRun<Factory>& run, const long step) {
  return std::min(run.o.checkpoint_every - step % run.o.checkpoint_every, run.prod_steps - step);
}

/// After a chunk of `chunk` steps that ended at `step` (checkpointed): counts it towards
/// interrupt_after_steps and throws Interrupted once this call has run that many, unless done.
template <class Factory>
void count_production_steps(PipelineRun<Factory>& run, const long chunk, const long step, const std::string& what) {
  const PipelineOptions& o = run.o;
  run.production_steps_this_call += chunk;
  if (o.interrupt_after_steps > 0 && run.production_steps_this_call >= o.interrupt_after_steps && step < run.prod_steps) {
    run.production_steps_this_call = 0;
    throw Interrupted("stopped after " + std::to_string(o.interrupt_after_steps) + " production steps as asked, at step " +
                      std::to_string(step) + " of " + what + " (checkpointed)");
  }
}

/// The production stage's body: NVT from the equilibrated cell and velocities, in checkpointed
/// chunks; throws Interrupted at a checkpoint once this call has run `interrupt_after_steps`.
template <class Factory>
nlohmann::json produce(PipelineRun<Factory>& run, const std::string& tt, const nlohmann::json& eq, double T,
                       const std::filesystem::path& dir) {
  using Pot = typename PipelineRun<Factory>::Pot;
  auto sys = production_system(run, tt, eq);
  auto pot = run.make_potential();
  const md::SimulationOptions so = production_options(run.o, dir);
  md::Simulation<ProductionEnsemble, Pot> sim(sys, pot, production_ensemble(T), so);
  add_production_observers(sim, run, dir, true);
  if (md::checkpoint_exists(so.checkpoint)) sim.restore(so.checkpoint);
  while (sim.step() < run.prod_steps) {
    const long chunk = production_chunk(run, sim.step());
    sim.run(chunk);
    if (run.o.on_checkpoint) run.o.on_checkpoint("production " + tt, sim.step());
    count_production_steps(run, chunk, sim.step(), "stage 'production_" + tt + "'");
  }
  return {{"steps", run.prod_steps}, {"frames", run.prod_steps / run.o.sample_every + 1}, {"trajectory", "trajectory.extxyz"}};
}

/// A production stage that has not finished: its tag, equilibration, temperature and directory.
struct PendingProduction {
  std::string tt;
  nlohmann::json eq;
  double T = 0;
  std::filesystem::path dir;
};

/// The pending productions advanced together in lockstep (md::Replicas with `batch`), in the
/// same checkpointed chunks as produce(): their checkpoints are what produce() leaves, so each
/// stage then finishes in run_pipeline's loop at once (or, after a kill, every replica resumes from
/// its own checkpoint).
template <class Factory, class Batch>
void run_production_replicas(PipelineRun<Factory>& run, const std::vector<PendingProduction>& pending, Batch batch) {
  using Pot = typename PipelineRun<Factory>::Pot;
  md::Replicas<ProductionEnsemble, Pot, Batch> set(std::move(batch));
  for (const PendingProduction& p : pending) {
    auto& sim = set.add(production_system(run, p.tt, p.eq), run.make_potential(), production_ensemble(p.T),
                        production_options(run.o, p.dir), p.tt);
    add_production_observers(sim, run, p.dir, &p == &pending.front());
  }
  set.restore_checkpoints();
  const long step = set[0].step();
  for (std::size_t k = 1; k < set.size(); ++k)
    if (set[k].step() != step)
      throw ValueError("pipeline --replicas: the unfinished productions were checkpointed at different steps (" +
                       pending[0].tt + " at " + std::to_string(step) + ", " + pending[k].tt + " at " +
                       std::to_string(set[k].step()) + ") by an earlier run without --replicas; finish them the way "
                       "they were started (the same command without --replicas)");
  while (set[0].step() < run.prod_steps) {
    const long chunk = production_chunk(run, set[0].step());
    set.run(chunk);
    for (std::size_t k = 0; k < set.size(); ++k)
      if (run.o.on_checkpoint) run.o.on_checkpoint("production " + pending[k].tt, set[k].step());
    count_production_steps(run, chunk, set[0].step(), std::to_string(set.size()) + " production replicas");
  }
}

}  // namespace detail

/// Runs (or skips, when done) the equilibration of relaxed ordering `mi` (`ordering`: its entry of
/// the relax stage's `ranked`) at T; fills p_eq, eq and p_prod.
template <class Factory>
MdRun equilibration_stage(PipelineRun<Factory>& run, std::size_t mi, const nlohmann::json& ordering,
                          const nlohmann::json& potential_id, double T) {
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
  return r;
}

/// Runs (or skips, when done) equilibration and production of relaxed ordering `mi` at T.
template <class Factory>
MdRun md_stages(PipelineRun<Factory>& run, std::size_t mi, const nlohmann::json& ordering, const nlohmann::json& potential_id, double T) {
  const std::string tt = detail::run_tag(mi, T);
  MdRun r = equilibration_stage(run, mi, ordering, potential_id, T);
  r.prod = run.runner.run("production_" + tt, r.p_prod, run.n_est * run.prod_steps,
                          [&](const std::filesystem::path& dir) { return detail::produce(run, tt, r.eq, T, dir); });
  return r;
}

/// PipelineOptions::replicas: the equilibrations of the best `n_md` orderings at every temperature
/// (as md_stages), then every unfinished production of them advanced together as md::Replicas —
/// one compute_batch per step where the potential evaluates batches together (batched(): M3GNet
/// or CHGNet with their kernels), otherwise one replica per host thread (md::HostBatch: each
/// replica bitwise the run of a one-thread worker process). run_pipeline's loop then finds the
/// productions at their last checkpoint and finishes each stage at once.
template <class Factory>
void production_replicas(PipelineRun<Factory>& run, const nlohmann::json& ranked, const std::size_t n_md,
                         const nlohmann::json& potential_id) {
  using Pot = typename PipelineRun<Factory>::Pot;
  std::vector<detail::PendingProduction> pending;
  double cost = 0;
  for (std::size_t mi = 0; mi < n_md; ++mi)
    for (double T : run.o.temperatures) {
      const MdRun r = equilibration_stage(run, mi, ranked[mi], potential_id, T);
      const std::string stage = "production_" + detail::run_tag(mi, T);
      if (run.runner.finished(stage, r.p_prod)) continue;
      pending.push_back({detail::run_tag(mi, T), r.eq, T, run.runner.open(stage, r.p_prod)});
      cost += run.n_est * run.prod_steps;
    }
  if (pending.empty()) return;
  run.log.begin("production: " + std::to_string(pending.size()) + " replicas in lockstep", cost);
  bool done = false;
  if constexpr (has_batch_compute<Pot>::value) {
    auto shared = std::make_shared<Pot>(run.make_potential());
    if (shared->batched()) {
      detail::run_production_replicas(run, pending, md::GraphBatch<Pot>{shared});
      done = true;
    }
  }
  if (!done) detail::run_production_replicas(run, pending, md::HostBatch{});
  run.log.end(false);
}

}  // namespace workflow
NERNST_NAMESPACE_END
