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
/// With PipelineOptions::replicas the equilibrations, then the productions, of all orderings and
/// temperatures run together (equilibration_replicas: run_resumable_protocols; production_replicas:
/// md::Replicas; one batched force evaluation per step), leaving the same checkpoints and outputs
/// in the same stage directories.

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

/// The equilibration stage's parameters (what its done.json must match).
inline nlohmann::json equilibration_parameters(const PipelineOptions& o, const nlohmann::json& ordering,
                                               const nlohmann::json& potential_id, double T) {
  return {{"ordering", ordering}, {"potential", potential_id}, {"T", T}, {"dt", o.timestep},
          {"heating", o.heating}, {"nvt", o.nvt}, {"npt", o.npt}, {"average_last", o.average_last}, {"seed", o.seed},
          {"pressure_bar", o.pressure_bar}};
}

/// The relaxed ordering `file` as the equilibration starts from it.
template <class Factory>
auto relaxed_system(PipelineRun<Factory>& run, const std::string& file) {
  using MS = typename PipelineRun<Factory>::MS;
  return System<MS>::from_structure(io::read_structure((run.out / "relax" / file).string()));
}

/// The equilibration stage's body: the relaxed ordering `file`, heated, NVT, NpT.
template <class Factory>
nlohmann::json equilibrate(PipelineRun<Factory>& run, const std::string& file, double T, const std::filesystem::path& dir) {
  auto sys = relaxed_system(run, file);
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
/// its own checkpoint). `first` is the first replica's potential (the others' are made here).
template <class Factory, class Batch>
void run_production_replicas(PipelineRun<Factory>& run, const std::vector<PendingProduction>& pending,
                             typename PipelineRun<Factory>::Pot first, Batch batch) {
  using Pot = typename PipelineRun<Factory>::Pot;
  md::Replicas<ProductionEnsemble, Pot, Batch> set(std::move(batch));
  for (std::size_t k = 0; k < pending.size(); ++k) {
    const PendingProduction& p = pending[k];
    Pot pot = k == 0 ? std::move(first) : run.make_potential();
    auto& sim = set.add(production_system(run, p.tt, p.eq), std::move(pot), production_ensemble(p.T),
                        production_options(run.o, p.dir), p.tt);
    add_production_observers(sim, run, p.dir, k == 0);
  }
  set.restore_checkpoints();
  const long step = set[0].step();
  for (std::size_t k = 1; k < set.size(); ++k)
    if (set[k].step() != step)
      throw ValueError("pipeline --replicas: the unfinished productions were checkpointed at different steps (" +
                       pending[0].tt + " at " + std::to_string(step) + ", " + pending[k].tt + " at " +
                       std::to_string(set[k].step()) + "): by an earlier run without --replicas, or by a kill between "
                       "the replicas' checkpoint writes; finish them with the same command without --replicas (each "
                       "production then resumes alone from its own checkpoint, with the same result)");
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
  r.p_eq = detail::equilibration_parameters(o, ordering, potential_id, T);
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

/// PipelineOptions::replicas, first part: every unfinished equilibration of the best `n_md`
/// orderings at every temperature advanced together (run_resumable_protocols: one batched force
/// evaluation per step, GraphBatch where the potential batches, else HostBatch), each into its
/// stage directory with the checkpoints its stage body leaves; the stages (equilibration_stage)
/// then finish at once from their last checkpoints, or after a kill every one resumes from its own.
template <class Factory>
void equilibration_replicas(PipelineRun<Factory>& run, const nlohmann::json& ranked, const std::size_t n_md,
                            const nlohmann::json& potential_id) {
  using Pot = typename PipelineRun<Factory>::Pot;
  using MS = typename PipelineRun<Factory>::MS;
  struct Pending {
    Pending(System<MS> s, Pot p) : system(std::move(s)), potential(std::move(p)) {}
    System<MS> system;
    Pot potential;
  };
  std::vector<std::unique_ptr<Pending>> pending;  // the jobs refer to them: they never move
  std::vector<ProtocolJob<Pot>> jobs;
  double cost = 0;
  for (std::size_t mi = 0; mi < n_md; ++mi)
    for (double T : run.o.temperatures) {
      const nlohmann::json p_eq = detail::equilibration_parameters(run.o, ranked[mi], potential_id, T);
      const std::string stage = "equilibrate_" + detail::run_tag(mi, T);
      if (run.runner.finished(stage, p_eq)) continue;
      const auto dir = run.runner.open(stage, p_eq);
      pending.push_back(std::make_unique<Pending>(detail::relaxed_system(run, ranked[mi]["file"].get<std::string>()), run.make_potential()));
      jobs.push_back({&pending.back()->system, &pending.back()->potential, detail::protocol_parameters(run.o, T), dir,
                      run.o.on_checkpoint, {}});
      cost += run.n_est * run.eq_steps;
    }
  if (jobs.empty()) return;
  jobs.front().progress = [&](double f) { run.log.update(f); };
  run.log.begin("equilibration: " + std::to_string(jobs.size()) + " replicas in lockstep", cost);
  bool batched = false;
  if constexpr (has_batch_compute<Pot>::value) batched = jobs.front().potential->batched();
  if (!batched) {
    run_resumable_protocols(jobs, run.o.checkpoint_every, HostBatch{});
  } else if constexpr (has_batch_compute<Pot>::value) {
    run_resumable_protocols(jobs, run.o.checkpoint_every, GraphBatch<Pot>{});  // the first job's potential evaluates
  }
  run.log.end(false);
}

/// PipelineOptions::replicas, second part: the equilibrations of the best `n_md` orderings at every temperature
/// (as md_stages; after equilibration_replicas they finish at once), then every unfinished production of them advanced together as md::Replicas —
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
  // The first replica's potential; where it batches, it evaluates the batches too (GraphBatch
  // without a potential of its own): no potential is made for the batch alone.
  Pot first = run.make_potential();
  bool batched = false;
  if constexpr (has_batch_compute<Pot>::value) batched = first.batched();
  if (!batched) {
    detail::run_production_replicas(run, pending, std::move(first), md::HostBatch{});
  } else if constexpr (has_batch_compute<Pot>::value) {
    detail::run_production_replicas(run, pending, std::move(first), md::GraphBatch<Pot>{});
  }
  run.log.end(false);
}

}  // namespace workflow
NERNST_NAMESPACE_END
