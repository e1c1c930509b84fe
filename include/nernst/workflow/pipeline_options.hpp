#pragma once
/// \file
/// \brief PipelineOptions: everything `run_pipeline` (workflow/pipeline.hpp) is told, with the
/// checks that refuse an impossible run before any stage starts.

#include <nernst/analysis/detection.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/workflow/stage.hpp>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

struct PipelineOptions {
  std::string structure;                         ///< disordered (or ordered) CIF/POSCAR
  Eigen::Matrix3i supercell = Eigen::Matrix3i::Identity();  ///< rows = new vectors in parent units
  std::vector<double> temperatures{500, 600, 700, 800};     ///< K
  std::string out = "nernst_run";
  std::string potential_name = "rigid-ion";      ///< recorded in the report (and stage parameters)
  // enumeration
  std::string occupancy_mode = "per-orbit";
  std::string rounding = "balanced";
  std::size_t top_k = 20;                        ///< kept after the ranking (and relaxed)
  /// How the enumerate stage ranks: "ewald" (formal point charges) or "model" (the static
  /// energy of make_potential() on every ordering, enumerate/model_ranker.hpp; resumable
  /// part-way through enumerate/screen.json).
  std::string rank = "ewald";
  std::size_t prefilter_ewald = 0;               ///< rank "model": only the Ewald top K reach the model (0: all)
  double max_orderings = 5e6;                    ///< refuse to enumerate more
  std::map<int, double> charges;                 ///< formal charges for the Ewald ranking (defaults if empty)
  // relaxation
  std::size_t top_m = 1;                         ///< relaxed orderings sent to MD
  double fmax = 0.01;                            ///< eV/Å
  long relax_steps = 1000;
  // MD (fs unless stated)
  double timestep = 1.0;
  double heating = 2000, nvt = 50000, npt = 140000, average_last = 112000;
  double production_ps = 1000;
  long sample_every = 100;                       ///< steps between trajectory frames
  long checkpoint_every = 5000;                  ///< production steps between checkpoints
  std::uint64_t seed = 1;
  // analysis
  std::string mobile = "Li";
  /// Framework MSD (Å², at the end of the D fit window) above which a temperature counts as
  /// molten/decomposed and is left out of the Arrhenius fit.
  double framework_msd_limit_A2 = 4.0;
  double min_fit_start_ps = 1.0;                 ///< earliest MSD fit start
  /// A fixed MSD fit start (ps) instead of the automatic one (0 = automatic). The automatic
  /// start waits for a log-log slope near 1, which a large vibrational offset delays to the end
  /// of a short trajectory; the fit has an intercept, so a fixed start past the caged regime is
  /// unbiased and keeps the whole window (the demonstration uses 2 ps).
  double fit_start_ps = 0;
  /// When a temperature counts as diffusive (analysis/detection.hpp): D − k·σ_D > 0 and ≥ min_hops hops.
  analysis::DetectionOptions detection;
  double hop_threshold_A = 1.5;                  ///< hop counting (analysis/hops.hpp): displacement of a resting position
  double hop_coarse_ps = 0.5;                    ///< … of positions averaged over blocks of this length (≥ 1 frame)
  double density_interval = 0.5;                 ///< Å
  /// Pressure of the NpT equilibration (bar); the production is NVT in the mean NpT cell. The
  /// seed paper reports 1 bar and 10 kbar.
  double pressure_bar = 1.0;
  /// MD runs (orderings × temperatures) at once, each in its own worker process
  /// (worker_processes.hpp); results are identical to jobs = 1. The driver's default is the
  /// number of cores.
  int jobs = 1;
  /// The top-K relaxations, then the equilibrations and the production runs of all orderings ×
  /// temperatures, advanced together in lockstep in this process (relax_together,
  /// run_resumable_protocols, md::Replicas; `jobs` is then not used): one batched force
  /// evaluation per step, where a potential evaluates batches together (M3GNet and CHGNet with
  /// their kernels: a GPU build) one evaluation of all their Systems, otherwise one relaxation or
  /// replica per host thread. Each relaxation and each trajectory is bitwise that of a one-thread
  /// worker process (jobs > 1).
  bool replicas = false;
  /// Stop (throw Interrupted) after this many production MD steps of this call, at a checkpoint;
  /// 0 = never. The driver's --stop-after-steps (batch-queue slots); tests use it as a kill.
  /// With jobs > 1 each worker process counts its own steps.
  long interrupt_after_steps = 0;
  /// Called after every checkpoint (relaxed ordering saved, equilibration/production chunk,
  /// active-learning stage): tests throw from it to simulate a kill at that point.
  CheckpointHook on_checkpoint;
  /// Optional stage(s) after `relax` that change the potential (active learning,
  /// workflow/active_learning.hpp): called with the runner and the best relaxed ordering's file
  /// (relative to the run directory); returns a JSON identifying the potential now in use (it
  /// joins the parameters of every later stage and the report). Must leave `make_potential()`
  /// returning that potential, also when its stages are skipped on a rerun.
  std::function<nlohmann::json(StageRunner&, const std::string&)> after_relax;
  bool quiet = false;
};

/// Refuses options no run can use (ValueError naming the option), before the run directory is
/// locked or any stage starts.
inline void validate(const PipelineOptions& o) {
  if (o.temperatures.empty()) throw ValueError("pipeline: give at least one temperature");
  for (double T : o.temperatures)
    if (!(T > 0)) throw ValueError("pipeline: temperatures must be positive (K)");
  if (!(o.production_ps > 0) || !(o.timestep > 0) || o.sample_every < 1 || o.checkpoint_every < 1)
    throw ValueError("pipeline: production length, time step, sample and checkpoint intervals must be positive");
  if (o.top_k < 1 || o.top_m < 1) throw ValueError("pipeline: --top-k and --top-m must be >= 1");
  if (!std::isfinite(o.pressure_bar)) throw ValueError("pipeline: the NpT pressure must be a finite number (bar)");
  if (o.jobs < 1) throw ValueError("pipeline: --jobs must be >= 1");
  if (o.interrupt_after_steps < 0) throw ValueError("pipeline: the production steps to stop after must be >= 0 (0: never)");
  if (o.rank != "ewald" && o.rank != "model") throw ValueError("pipeline: rank must be ewald or model, got '" + o.rank + "'");
}

}  // namespace workflow
NERNST_NAMESPACE_END
