#pragma once
/// \file
/// \brief The end-to-end pipeline, from a disordered CIF to σ(300 K), as resumable stages
/// (workflow/stage.hpp; each one a function in workflow/stages/) in one run directory:
///
///   enumerate      orderings of a fixed supercell (Hart–Forcade), Ewald-ranked, top K kept
///   relax          FIRE (positions + cell, fmax) of the top K with the potential; ranked; top M
///   equilibrate_T  the published protocol (md::Protocol: 100 K → T heating, NVT, NpT, mean cell)
///   production_T   NVT Nosé–Hoover at T, extended-XYZ trajectory, checkpoints (resumes part-way)
///   msd_T          windowed MSD of Li, D (He et al. / ion error), hops, "no diffusion detected,
///                  D < limit" where the slope is not significant, per-axis D, σ(T), density map
///   arrhenius      E_A from the diffusive temperatures only; D(300 K), σ(300 K) (Nernst–Einstein,
///                  Haven ratio 1) only from ≥ 3 of them, otherwise null with the reason
///   report         report.md, report.json, SVG figures
///
/// Every stage's parameters include the results it depends on, so changing an option reruns
/// exactly the stages it affects. MD restarts are bit-identical (md::Simulation checkpoints), so
/// a killed and restarted run writes the same report as an uninterrupted one.
///
/// MD runs on the best M relaxed orderings (M = 1 by default) at every temperature.
/// σ(300 K) uses the Arrhenius-extrapolated D(300 K), the number of Li in the cell and the
/// volume of the relaxed (0 K) cell of that ordering: σ = N e² D / (V k_B T).

#include <nernst/workflow/pipeline_options.hpp>
#include <nernst/workflow/pipeline_run.hpp>
#include <nernst/workflow/run_lock.hpp>
#include <nernst/workflow/stage.hpp>
#include <nernst/workflow/stages/arrhenius_stage.hpp>
#include <nernst/workflow/stages/enumerate_stage.hpp>
#include <nernst/workflow/stages/md_stages.hpp>
#include <nernst/workflow/stages/relax_stage.hpp>
#include <nernst/workflow/stages/report_stage.hpp>
#include <nernst/workflow/stages/transport_stage.hpp>
#include <nernst/workflow/worker_processes.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Stages run and skipped by one call of run_pipeline.
struct StageCounts {
  long executed = 0, skipped = 0;
};

namespace detail {

/// With jobs > 1 (and no replicas) the (ordering, T) MD runs go first to worker processes
/// (worker_processes.hpp); the serial loop of run_pipeline then finds their stages done, as a
/// resumed run would.
template <class Factory>
void md_in_workers(PipelineRun<Factory>& run, const nlohmann::json& ranked, std::size_t n_md, const nlohmann::json& potential_id) {
  const auto& temps = run.o.temperatures;
  const std::size_t nT = temps.size();
  const auto label = [&](std::size_t k) { return "m" + std::to_string(k / nT) + " " + temp_tag(temps[k % nT]); };
  if (!run.o.quiet) std::cerr << "MD: " << n_md * nT << " runs in up to " << run.o.jobs << " worker processes\n" << std::flush;
  run_in_worker_processes(
      n_md * nT, run.o.jobs,
      [&](std::size_t k) {
        run.log.set_worker(label(k));
        md_stages(run, k / nT, ranked[k / nT], potential_id, temps[k % nT]);
      },
      label);
}

/// MD, transport analysis at every temperature and the Arrhenius analysis of each of the best
/// `top_m` relaxed orderings; the report's `md` list.
template <class Factory>
nlohmann::json md_and_transport(PipelineRun<Factory>& run, const nlohmann::json& ranked, const nlohmann::json& potential_id) {
  const std::size_t n_md = std::min<std::size_t>(run.o.top_m, ranked.size());
  if (run.o.replicas) {
    equilibration_replicas(run, ranked, n_md, potential_id);
    production_replicas(run, ranked, n_md, potential_id);
  } else if (run.o.jobs > 1) {
    md_in_workers(run, ranked, n_md, potential_id);
  }
  nlohmann::json orderings = nlohmann::json::array();
  for (std::size_t mi = 0; mi < n_md; ++mi) {
    const nlohmann::json& ordering = ranked[mi];
    nlohmann::json per_T = nlohmann::json::array();
    for (double T : run.o.temperatures) {
      const MdRun md = md_stages(run, mi, ordering, potential_id, T);
      per_T.push_back(transport_stage(run, mi, ordering, T, md.p_prod));
    }
    orderings.push_back({{"ordering", ordering}, {"temperatures", per_T}, {"arrhenius", arrhenius_stage(run, mi, ordering, per_T)}});
  }
  return orderings;
}

}  // namespace detail

/// Runs (or resumes) the pipeline; `make_potential()` returns a fresh potential each call.
/// Returns the report JSON (also written to OUT/report.json).
///
/// The stages, in order (each in workflow/stages/, with its inputs, outputs and resume rule):
/// enumerate_stage, relax_stage, the optional `after_relax` stages (active learning),
/// md_stages + transport_stage per ordering and temperature, arrhenius_stage per ordering,
/// report_stage.
template <class Factory>
nlohmann::json run_pipeline(const PipelineOptions& o, Factory make_potential, StageCounts* counts = nullptr) {
  validate(o);
  ProgressLog log(o.quiet ? nullptr : &std::cerr);
  const RunLock lock(o.out);  // one writer per run directory (a second run stops here)
  StageRunner runner(o.out, &log);
  PipelineRun<Factory> run(o, make_potential, runner, log);
  // Cost model for the ETA: atom-steps (relaxation ~ 300 evaluations per ordering).
  const double nT = static_cast<double>(o.temperatures.size() * o.top_m);
  log.set_plan(run.n_est * (1000 + 300.0 * o.top_k + nT * (run.eq_steps + run.prod_steps) + nT * 50));

  PipelineResults r;
  r.enumerate = enumerate_stage(run);
  r.relax = relax_stage(run, r.enumerate);
  // The potential's identity in the parameters of the MD stages: the name alone (as in runs
  // without active learning), or the name with the active-learning result.
  nlohmann::json potential_id = o.potential_name;
  if (o.after_relax) {
    r.active_learning = o.after_relax(runner, "relax/" + r.relax["ranked"][0]["file"].get<std::string>());
    potential_id = nlohmann::json{{"name", o.potential_name}, {"active_learning", r.active_learning}};
  }
  r.orderings = detail::md_and_transport(run, r.relax["ranked"], potential_id);
  report_stage(run, r);
  if (counts) *counts = {runner.executed(), runner.skipped()};
  return read_json(run.out / "report.json");
}

}  // namespace workflow
NERNST_NAMESPACE_END
