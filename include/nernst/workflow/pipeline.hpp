#pragma once
/// \file
/// \brief The end-to-end pipeline, from a disordered CIF to σ(300 K), as resumable stages
/// (workflow/stage.hpp) in one run directory:
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

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/hops.hpp>
#include <nernst/analysis/jump_plots.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/analysis/planar_diffusion.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_analysis_json.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/transport_plots.hpp>
#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/model_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/read.hpp>
#include <nernst/md/md.hpp>
#include <nernst/optimize/fire.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>
#include <nernst/workflow/equilibration.hpp>
#include <nernst/workflow/run_lock.hpp>
#include <nernst/workflow/stage.hpp>
#include <nernst/workflow/worker_processes.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>
#include <iomanip>
#include <sstream>
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

namespace detail {

inline std::map<int, double> default_charges() {
  return {{1, 1},  {3, 1},  {11, 1}, {19, 1}, {37, 1}, {55, 1}, {12, 2}, {20, 2}, {38, 2}, {56, 2}, {13, 3},
          {21, 3}, {31, 3}, {39, 3}, {49, 3}, {57, 3}, {40, 4}, {72, 4}, {9, -1}, {17, -1}, {35, -1}, {53, -1},
          {8, -2}, {16, -2}, {34, -2}, {7, -3}};
}

inline std::string temp_tag(double T) {
  std::ostringstream os;
  os << std::llround(T) << "K";
  return os.str();
}

inline nlohmann::json matrix_json(const Eigen::Matrix3d& m) {
  return {{m(0, 0), m(0, 1), m(0, 2)}, {m(1, 0), m(1, 1), m(1, 2)}, {m(2, 0), m(2, 1), m(2, 2)}};
}

template <class MS>
void set_velocities(System<MS>& sys, const std::vector<double>& v) {
  auto hv = Kokkos::create_mirror_view(sys.v);
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int d = 0; d < 3; ++d) hv(i, d) = v[3 * i + static_cast<std::size_t>(d)];
  Kokkos::deep_copy(sys.v, hv);
}
template <class MS>
std::vector<double> get_velocities(const System<MS>& sys) {
  auto hv = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.v);
  std::vector<double> v(3 * sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int d = 0; d < 3; ++d) v[3 * i + static_cast<std::size_t>(d)] = hv(i, d);
  return v;
}

/// Observer forwarding the production progress to the ProgressLog.
template <class MS>
class ProgressForward : public md::Observer<MS> {
 public:
  ProgressForward(ProgressLog* log, long total, long every) : log_(log), total_(total), every_(every) {}
  long every() const override { return every_; }
  void observe(const md::ThermoSample& t, const System<MS>&) override {
    if (log_ && total_ > 0) log_->update(std::min(1.0, static_cast<double>(t.step) / total_));
  }

 private:
  ProgressLog* log_;
  long total_, every_;
};

/// Site/jump analysis of a production trajectory (GEMDAT 1.7.2 definitions, docs/jumps.md) on
/// the parent structure's sites of the mobile species repeated into the ordering's cell (an
/// ordering occupies only some of them: the others are where its ions jump to). The sites are
/// placed in the *enumerated* (unrelaxed) supercell, an integer multiple of the parent cell; their
/// fractional coordinates then follow the relaxed and equilibrated cell of the MD. Null with
/// `error` set when the sites cannot be built.
inline std::unique_ptr<analysis::Estimator<analysis::SiteAnalysis>> make_site_analysis(
    const Structure& parent, const std::filesystem::path& enumerated_ordering, int mobile_z, const std::vector<std::size_t>& mobile,
    double dt_ps, double T, const std::string& source, std::string& error) {
  try {
    const Eigen::Matrix3d cell = io::read_structure(enumerated_ordering.string()).lattice().matrix();
    analysis::SiteAnalysisOptions so;
    so.dt_fs = dt_ps * 1000.0;
    so.temperature_K = T;
    so.trajectory_name = source;
    return std::make_unique<analysis::Estimator<analysis::SiteAnalysis>>(
        mobile, analysis::sites_in_supercell(parent, mobile_z, Lattice(cell), source), so);
  } catch (const Error& e) {
    error = e.what();
    return nullptr;
  }
}

/// The report's summary of a site/jump analysis; writes the full JSON (jumps.json) and the jump
/// matrix figure into `dir`. A result GEMDAT would refuse (e.g. too small a default radius, fewer
/// frames than parts) becomes {"error": why}: the MSD results of the temperature stand.
inline nlohmann::json site_analysis_summary(const analysis::Estimator<analysis::SiteAnalysis>* est, const std::string& error,
                                            const std::filesystem::path& dir, const std::string& title, nlohmann::json& figures,
                                            const std::string& figure_prefix) {
  if (!est) return {{"error", error}};
  try {
    const analysis::SiteAnalysisResult r = est->result();
    nlohmann::json full = analysis::site_analysis_json(r);
    write_file_atomic(dir / "jumps.json", full.dump(1));
    analysis::write_svg_and_png(analysis::render_jump_matrix_svg(r, title), (dir / "jump_matrix.svg").string());
    figures.push_back(figure_prefix + "jump_matrix.svg");
    nlohmann::json j;
    for (const char* k : {"n_sites", "site_radius_source", "site_radius_A", "vibration_amplitude_A", "n_jumps", "jumps", "rates_per_s",
                          "activation_energies_eV", "jump_diffusivity_m2_s", "tracer_diffusivity_m2_s", "correlation_factor",
                          "attempt_frequency_Hz", "warnings"})
      j[k] = full[k];
    j["file"] = figure_prefix + "jumps.json";
    return j;
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
}

}  // namespace detail

/// Stages run and skipped by one call of run_pipeline.
struct StageCounts {
  long executed = 0, skipped = 0;
};

/// Runs (or resumes) the pipeline; `make_potential()` returns a fresh potential each call.
/// Returns the report JSON (also written to OUT/report.json).
template <class Factory>
nlohmann::json run_pipeline(const PipelineOptions& o, Factory make_potential, StageCounts* counts = nullptr) {
  using Pot = decltype(make_potential());
  using MS = typename Pot::memory_space;
  namespace fs = std::filesystem;
  if (o.temperatures.empty()) throw ValueError("pipeline: give at least one temperature");
  for (double T : o.temperatures)
    if (!(T > 0)) throw ValueError("pipeline: temperatures must be positive (K)");
  if (!(o.production_ps > 0) || !(o.timestep > 0) || o.sample_every < 1 || o.checkpoint_every < 1)
    throw ValueError("pipeline: production length, time step, sample and checkpoint intervals must be positive");
  if (o.top_k < 1 || o.top_m < 1) throw ValueError("pipeline: --top-k and --top-m must be >= 1");
  if (!std::isfinite(o.pressure_bar)) throw ValueError("pipeline: the NpT pressure must be a finite number (bar)");
  if (o.jobs < 1) throw ValueError("pipeline: --jobs must be >= 1");
  if (o.interrupt_after_steps < 0) throw ValueError("pipeline: the production steps to stop after must be >= 0 (0: never)");
  const fs::path out(o.out);
  ProgressLog log(o.quiet ? nullptr : &std::cerr);
  const RunLock lock(out);  // one writer per run directory (a second run stops here)
  StageRunner runner(out, &log);
  long interrupted_budget = 0;  // production steps run by this call (for interrupt_after_steps)
  const Structure parent = io::read_structure(o.structure);
  const long prod_steps = std::llround(o.production_ps * 1000.0 / o.timestep);
  const long eq_steps = std::llround((o.heating + o.nvt + o.npt) / o.timestep);
  // Cost model for the ETA: atom-steps (relaxation ~ 300 evaluations per ordering).
  const double n_est = static_cast<double>(parent.size()) * std::abs(o.supercell.cast<double>().determinant());
  const double nT = static_cast<double>(o.temperatures.size() * o.top_m);
  log.set_plan(n_est * (1000 + 300.0 * o.top_k + nT * (eq_steps + prod_steps) + nT * 50));

  // ---------------------------------------------------------------- enumerate + Ewald ranking
  nlohmann::json p_enum{{"structure", fs::absolute(o.structure).string()},
                        {"supercell", {{o.supercell(0, 0), o.supercell(0, 1), o.supercell(0, 2)},
                                       {o.supercell(1, 0), o.supercell(1, 1), o.supercell(1, 2)},
                                       {o.supercell(2, 0), o.supercell(2, 1), o.supercell(2, 2)}}},
                        {"occupancy_mode", o.occupancy_mode}, {"rounding", o.rounding}, {"top_k", o.top_k}};
  if (o.rank != "ewald" && o.rank != "model") throw ValueError("pipeline: rank must be ewald or model, got '" + o.rank + "'");
  if (o.rank == "model") {  // only then: earlier Ewald runs keep their parameters (and resume)
    p_enum["rank"] = {{"by", "model"}, {"potential", o.potential_name}, {"prefilter_ewald", o.prefilter_ewald}};
  }
  const nlohmann::json enum_res = runner.run("enumerate", p_enum, n_est * 1000, [&](const fs::path& dir) {
    using namespace enumerate;
    nlohmann::json r;
    r["parent_formula"] = parent.formula();
    std::map<int, double> charges = o.charges.empty() ? detail::default_charges() : o.charges;
    for (const auto& site : parent.sites())
      for (const auto& sp : site.species)
        if (sp.oxidation && o.charges.empty()) charges[sp.z] = *sp.oxidation;
    nlohmann::json files = nlohmann::json::array();
    if (parent.is_ordered()) {
      // Nothing to enumerate: the supercell itself is the only ordering.
      Structure s(Lattice(o.supercell.cast<double>() * parent.lattice().matrix()));
      const Eigen::Matrix3d inv = o.supercell.cast<double>().inverse();
      const int m = static_cast<int>(std::llround(std::abs(o.supercell.cast<double>().determinant())));
      // all lattice points of the supercell: brute force over a box
      for (int a = -m; a <= m; ++a)
        for (int b = -m; b <= m; ++b)
          for (int c = -m; c <= m; ++c)
            for (const auto& site : parent.sites()) {
              Eigen::Vector3d f = inv.transpose() * (site.frac + Eigen::Vector3d(a, b, c));
              if ((f.array() < -1e-9).any() || (f.array() >= 1 - 1e-9).any()) continue;
              s.add_site(site.z(), f, site.label);
            }
      io::write_structure((dir / "top0.vasp").string(), s, io::Format::Poscar);
      files.push_back({{"rank", 0}, {"file", "top0.vasp"}, {"ewald_eV_per_atom", nullptr}, {"degeneracy", 1}});
      r["count"] = 1;
      r["top"] = files;
      return r;
    }
    OrderingOptions oo;
    oo.mode = parse_occupancy_mode(o.occupancy_mode);
    oo.rounding = parse_rounding(o.rounding);
    const OrderingModel model(parent, oo);
    const Enumerator<HNF> e(model.multilattice(), model.derivative_options(false));
    IMat3 m = IMat3::Zero();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) m(j, i) = o.supercell(i, j);  // rows -> columns
    const IMat3 hnf = hermite_normal_form(m);
    const auto ag = e.active_group(hnf);
    const long n = ag.group.n;
    const LabelingProblem prob = e.problem(n, model.label_counts(n));
    const std::uint64_t bc = burnside_count(prob, ag.perms);
    r["burnside_count"] = bc;
    if (static_cast<double>(bc) > o.max_orderings)
      throw ValueError("pipeline: " + std::to_string(bc) + " orderings in this supercell, above the limit " +
                       std::to_string(static_cast<std::uint64_t>(o.max_orderings)));
    nlohmann::json counts = nlohmann::json::array();
    for (const auto& it : model.items(n)) counts.push_back({{"item", it.name}, {"exact", it.exact}, {"used", it.used}, {"how", it.how}});
    r["counts"] = counts;
    EwaldParameters ep;
    ep.accuracy = 1e-8;
    struct Kept {
      std::vector<Label> labels;
      nlohmann::json orbit;  // degeneracy (null when ranked by the model)
      int atoms;
    };
    std::vector<std::pair<double, Kept>> best;  // by increasing ranking energy per atom
    if (o.rank == "model") {
      // Static energy of every ordering (or the Ewald top K) with the potential; the screen
      // checkpoints into this stage's directory, so a killed run continues part-way.
      auto pot = make_potential();
      ModelScreenOptions so;
      so.prefilter_ewald = o.prefilter_ewald;
      so.label_charges = model.label_charges(charges);
      so.ewald = ep;
      so.screen.keep = o.top_k;
      so.screen.state_file = dir / "screen.json";
      so.screen.inputs = inputs_fingerprint(p_enum);
      so.screen.progress = o.quiet ? nullptr : &std::cerr;
      const ScreenResult sr = model_screen(e, hnf, pot, bc, so);
      for (const auto& b : sr.best) best.push_back({b.energy_per_atom, Kept{b.labels, nullptr, b.atoms}});
      r["count"] = sr.counters.orderings;
      r["model_evaluations"] = sr.counters.evaluated;
    } else {
      EwaldRanker ranker(e, ag.group, ag.active, model.label_charges(charges), ep);
      TopK<Kept> top(o.top_k);
      std::uint64_t count = 0;
      e.run_supercell(hnf, [&](const Derivative& d) {
        ++count;
        const double en = ranker.energy(d.labels);
        const int atoms = ranker.atoms(d.labels);
        const double key = en / atoms;
        if (top.admits(key)) top.push(key, Kept{std::vector<Label>(d.labels, d.labels + d.active->size()), d.info.orbit_size, atoms});
      });
      r["count"] = count;
      best = top.sorted();
    }
    const bool by_model = o.rank == "model";
    std::size_t k = 0;
    for (const auto& [key, kept] : best) {
      Derivative d;
      d.index = n;
      d.group = &ag.group;
      d.active = &ag.active;
      d.labels = kept.labels.data();
      const std::string name = "top" + std::to_string(k) + ".vasp";
      io::write_structure((dir / name).string(), e.to_structure(d), io::Format::Poscar);
      files.push_back({{"rank", k}, {"file", name}, {"ewald_eV_per_atom", by_model ? nlohmann::json(nullptr) : nlohmann::json(key)},
                       {"degeneracy", kept.orbit}, {"atoms", kept.atoms}});
      if (by_model) files.back()["static_eV_per_atom"] = key;
      ++k;
    }
    r["top"] = files;
    return r;
  });

  // ---------------------------------------------------------------- relax + rank
  nlohmann::json p_relax{{"enumerate", enum_res}, {"potential", o.potential_name}, {"fmax", o.fmax}, {"max_steps", o.relax_steps}};
  const nlohmann::json relax_res = runner.run("relax", p_relax, n_est * 300.0 * enum_res["top"].size(), [&](const fs::path& dir) {
    nlohmann::json list = nlohmann::json::array();
    std::size_t i = 0;
    for (const auto& t : enum_res["top"]) {
      const std::string name = t["file"].get<std::string>();
      const fs::path done = dir / (name + ".json");
      if (fs::exists(done)) {  // finished before an interruption
        list.push_back(read_json(done));
        ++i;
        continue;
      }
      const Structure s = io::read_structure((out / "enumerate" / name).string());
      auto sys = System<MS>::from_structure(s);
      auto pot = make_potential();
      RelaxOptions ro;
      ro.fmax = o.fmax;
      ro.max_steps = o.relax_steps;
      ro.cell = CellFilter{};
      const auto rr = Optimizer<FIRE>().run(sys, pot, ro);
      const Structure relaxed = sys.to_structure();
      io::write_structure((dir / name).string(), relaxed, io::Format::Poscar);
      const auto sg = symmetry::space_group(relaxed, 0.1);
      nlohmann::json j{{"file", name},        {"ewald_rank", t["rank"]},   {"ewald_eV_per_atom", t["ewald_eV_per_atom"]},
                       {"energy_eV", rr.energy}, {"energy_eV_per_atom", rr.energy / sys.size()}, {"atoms", sys.size()},
                       {"converged", rr.converged}, {"steps", rr.steps},  {"fmax", rr.fmax},
                       {"volume_A3", rr.volume}, {"space_group", sg.second}, {"space_group_number", sg.first},
                       {"cell", detail::matrix_json(relaxed.lattice().matrix())}};
      write_file_atomic(done, j.dump(1));
      list.push_back(j);
      log.update(static_cast<double>(++i) / enum_res["top"].size());
      if (o.on_checkpoint) o.on_checkpoint("relax " + name, static_cast<long>(i));
    }
    std::stable_sort(list.begin(), list.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
      return a["energy_eV_per_atom"].get<double>() < b["energy_eV_per_atom"].get<double>();
    });
    for (std::size_t r = 0; r < list.size(); ++r) list[r]["rank"] = r;
    return nlohmann::json{{"ranked", list}};
  });

  // ---------------------------------------------------------------- optional: active learning
  // The potential's identity in the parameters of the MD stages: the name alone (as in runs
  // without active learning), or the name with the active-learning result.
  nlohmann::json potential_id = o.potential_name;
  nlohmann::json al_res;
  if (o.after_relax) {
    al_res = o.after_relax(runner, "relax/" + relax_res["ranked"][0]["file"].get<std::string>());
    potential_id = nlohmann::json{{"name", o.potential_name}, {"active_learning", al_res}};
  }

  // ---------------------------------------------------------------- MD per ordering and T
  nlohmann::json orderings = nlohmann::json::array();
  const std::size_t n_md = std::min<std::size_t>(o.top_m, relax_res["ranked"].size());
  // Equilibration and production of ordering mi at T (stages equilibrate_<m>_<T>, production_<m>_<T>).
  struct MdRun {
    nlohmann::json p_eq, eq, p_prod, prod;
  };
  const auto md_run = [&](std::size_t mi, double T) {
    const nlohmann::json best = relax_res["ranked"][mi];
    const std::string tt = "m" + std::to_string(mi) + "_" + detail::temp_tag(T);
    MdRun r;
    // equilibrate
    r.p_eq = nlohmann::json{{"ordering", best}, {"potential", potential_id}, {"T", T}, {"dt", o.timestep},
                            {"heating", o.heating}, {"nvt", o.nvt}, {"npt", o.npt}, {"average_last", o.average_last}, {"seed", o.seed},
                            {"pressure_bar", o.pressure_bar}};
    r.eq = runner.run("equilibrate_" + tt, r.p_eq, n_est * eq_steps, [&](const fs::path& dir) {
      const Structure s = io::read_structure((out / "relax" / best["file"].get<std::string>()).string());
      auto sys = System<MS>::from_structure(s);
      auto pot = make_potential();
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
      // checkpoints inside heating/NVT/NpT: a killed run resumes there, bit-identically
      const auto pr = run_resumable_protocol(sys, pot, pp, dir, o.checkpoint_every, o.on_checkpoint,
                                             [&](double f) { log.update(f); });
      io::write_structure((dir / "equilibrated.vasp").string(), sys.to_structure(), io::Format::Poscar);
      nlohmann::json j{{"mean_cell", detail::matrix_json(pr.mean_cell)}, {"mean_volume_A3", pr.mean_volume},
                       {"volume_std_A3", pr.volume_std}, {"npt_temperature_K", pr.npt_temperature}, {"steps", pr.steps},
                       {"velocities", detail::get_velocities(sys)}};
      return j;
    });
    // production
    r.p_prod = nlohmann::json{{"equilibrate", r.p_eq}, {"production_ps", o.production_ps}, {"sample_every", o.sample_every},
                              {"checkpoint_every", o.checkpoint_every}};
    r.prod = runner.run("production_" + tt, r.p_prod, n_est * prod_steps, [&](const fs::path& dir) {
      const Structure s = io::read_structure((out / ("equilibrate_" + tt) / "equilibrated.vasp").string());
      auto sys = System<MS>::from_structure(s);
      detail::set_velocities(sys, r.eq["velocities"].template get<std::vector<double>>());
      auto pot = make_potential();
      md::SimulationOptions so;
      so.timestep = o.timestep;
      so.seed = o.seed;
      so.checkpoint = (dir / "checkpoint.bin").string();
      so.checkpoint_every = 0;  // written at the end of every chunk below
      md::Ensemble<md::NVT, md::NoseHoover> ens({T, 100.0, 3});
      md::Simulation<md::Ensemble<md::NVT, md::NoseHoover>, Pot> sim(sys, pot, ens, so);
      sim.add_observer(std::make_shared<md::TrajectoryWriter<MS>>((dir / "trajectory.extxyz").string(), o.sample_every));
      sim.add_observer(std::make_shared<md::ThermoLog<MS>>((dir / "thermo.csv").string(), o.sample_every));
      sim.add_observer(std::make_shared<detail::ProgressForward<MS>>(&log, prod_steps, o.sample_every));
      if (md::checkpoint_exists(so.checkpoint)) sim.restore(so.checkpoint);
      while (sim.step() < prod_steps) {
        const long chunk = std::min(o.checkpoint_every - sim.step() % o.checkpoint_every, prod_steps - sim.step());
        sim.run(chunk);
        if (o.on_checkpoint) o.on_checkpoint("production " + tt, sim.step());
        interrupted_budget += chunk;
        if (o.interrupt_after_steps > 0 && interrupted_budget >= o.interrupt_after_steps && sim.step() < prod_steps) {
          interrupted_budget = 0;
          throw Interrupted("stopped after " + std::to_string(o.interrupt_after_steps) + " production steps as asked, at step " +
                            std::to_string(sim.step()) + " of stage 'production_" + tt + "' (checkpointed)");
        }
      }
      return nlohmann::json{{"steps", prod_steps}, {"frames", prod_steps / o.sample_every + 1},
                            {"trajectory", "trajectory.extxyz"}};
    });
    return r;
  };
  // The (ordering, T) runs are independent: with jobs > 1 they run first in worker processes
  // (worker_processes.hpp), and the loop below finds their stages done, as a resumed run would.
  if (o.jobs > 1) {
    const std::size_t nT = o.temperatures.size();
    const auto label = [&](std::size_t k) {
      return "m" + std::to_string(k / nT) + " " + detail::temp_tag(o.temperatures[k % nT]);
    };
    if (!o.quiet)
      std::cerr << "MD: " << n_md * nT << " runs in up to " << o.jobs << " worker processes\n" << std::flush;
    run_in_worker_processes(
        n_md * nT, o.jobs,
        [&](std::size_t k) {
          log.set_worker(label(k));
          md_run(k / nT, o.temperatures[k % nT]);
        },
        label);
  }
  for (std::size_t mi = 0; mi < n_md; ++mi) {
    const nlohmann::json best = relax_res["ranked"][mi];
    const std::string tag = "m" + std::to_string(mi);
    nlohmann::json per_T = nlohmann::json::array();
    for (double T : o.temperatures) {
      const std::string tt = tag + "_" + detail::temp_tag(T);
      const MdRun run = md_run(mi, T);
      const nlohmann::json& p_prod = run.p_prod;
      // MSD / D
      nlohmann::json p_msd{{"production", p_prod}, {"mobile", o.mobile}, {"min_fit_start_ps", o.min_fit_start_ps},
                           {"fit_start_ps", o.fit_start_ps},
                           {"density_interval", o.density_interval},
                           {"framework_msd_limit_A2", o.framework_msd_limit_A2},
                           {"detection", {{"k_sigma", o.detection.k_sigma}, {"min_hops", o.detection.min_hops}}},
                           {"hops", {{"threshold_A", o.hop_threshold_A}, {"coarse_ps", o.hop_coarse_ps}}},
                           {"planar_D", {"ab", "ac", "bc"}},
                           {"site_analysis", {{"definitions", "GEMDAT 1.7.2"}, {"sites", "parent structure, mobile species"},
                                              {"ordering", best["file"]}, {"radius", "vibration amplitude"}, {"n_parts", 10}}}};
      const nlohmann::json msd = runner.run("msd_" + tt, p_msd, n_est * 50, [&](const fs::path& dir) {
        using namespace analysis;
        const int mz = atomic_number(o.mobile);
        io::detail::LineReader reader((out / ("production_" + tt) / "trajectory.extxyz").string());
        io::Frame frame;
        std::unique_ptr<Estimator<WindowedMSD<FFTCorrelation>>> est;
        std::unique_ptr<Estimator<DensityMap>> dens;
        std::unique_ptr<Estimator<HopCounting>> hops;
        std::unique_ptr<Estimator<SiteAnalysis>> site_jumps;
        std::string site_jumps_error;
        std::vector<int> z;
        std::vector<std::size_t> mobile;
        std::vector<double> xyz;
        const double dt_ps = o.sample_every * o.timestep / 1000.0;
        while (io::read_extxyz_frame(reader, frame)) {
          if (!est) {
            z = frame.structure.atomic_numbers();
            MSDOptions mo;
            mo.dt_ps = dt_ps;
            mo.per_atom = true;  // per-ion D's: the MSD noise level of the detection test
            for (std::size_t i = 0; i < z.size(); ++i) (z[i] == mz ? mobile : mo.drift_atoms).push_back(i);
            if (mobile.empty()) throw ValueError("pipeline: no " + o.mobile + " atoms in the trajectory");
            // The framework (every other species) is analysed too: if it diffuses, the cell has
            // melted or decomposed and the mobile-ion D is not a solid-state diffusivity.
            std::vector<AtomGroup> groups{{o.mobile, mobile}};
            if (!mo.drift_atoms.empty()) groups.push_back({"framework", mo.drift_atoms});
            est = std::make_unique<Estimator<WindowedMSD<FFTCorrelation>>>(z.size(), groups, mo);
            DensityMapOptions dmo;
            dmo.interval_A = o.density_interval;
            dens = std::make_unique<Estimator<DensityMap>>(mobile, frame.structure.lattice().matrix(), dmo);
            HopOptions ho;
            ho.threshold_A = o.hop_threshold_A;
            ho.dt_ps = dt_ps;
            ho.coarse_frames = static_cast<std::size_t>(std::max(1.0, std::round(o.hop_coarse_ps / dt_ps)));
            hops = std::make_unique<Estimator<HopCounting>>(mobile, ho);
            site_jumps = detail::make_site_analysis(parent, out / "enumerate" / best["file"].get<std::string>(), mz, mobile, dt_ps, T,
                                                    "production_" + tt + "/trajectory.extxyz", site_jumps_error);
          }
          xyz.resize(3 * z.size());
          for (std::size_t i = 0; i < z.size(); ++i) {
            const auto r = frame.structure.cart(i);
            for (int k = 0; k < 3; ++k) xyz[3 * i + static_cast<std::size_t>(k)] = r[k];
          }
          est->push(xyz.data(), frame.structure.lattice().matrix());
          dens->push(xyz.data(), frame.structure.lattice().matrix());
          hops->push(xyz.data(), frame.structure.lattice().matrix());
          if (site_jumps) site_jumps->push(frame.structure);
        }
        if (!est || est->n_frames() < 4) throw ValueError("pipeline: production trajectory has fewer than 4 frames");
        const MSDResult res = est->result();
        const auto& g = res.groups.front();
        const auto lag = res.lag_ps();
        DiffusionOptions d;
        d.min_start_ps = std::min(o.min_fit_start_ps, 0.2 * lag.back());
        if (o.fit_start_ps > 0) {
          if (!(o.fit_start_ps < d.max_fraction * lag.back()))
            throw ValueError("pipeline: --fit-start-ps " + std::to_string(o.fit_start_ps) + " ps is past the fit window's end (" +
                             std::to_string(d.max_fraction * lag.back()) + " ps of a " + std::to_string(lag.back()) +
                             " ps trajectory)");
          d.fit_start_ps = o.fit_start_ps;
        }
        // Short (demonstration) runs: fall back to the middle of the window when no diffusive regime is found.
        DiffusionFit fit;
        try {
          fit = fit_diffusion(lag, g.tensor.xyz(), g.n_atoms, d);
        } catch (const ValueError&) {
          d.fit_start_ps = 0.2 * lag.back();
          fit = fit_diffusion(lag, g.tensor.xyz(), g.n_atoms, d);
        }
        // Is the slope a measured diffusivity? (per-ion D's on the same window, hop count)
        std::vector<std::vector<double>> per_ion(g.n_atoms, std::vector<double>(lag.size()));
        for (std::size_t i = 0; i < g.n_atoms; ++i)
          for (std::size_t m = 0; m < lag.size(); ++m) per_ion[i][m] = g.per_atom(i, m);
        const HopResult hop_res = hops->result();
        const DiffusivityVerdict verdict =
            assess_diffusivity(fit, unit_diffusion(lag, per_ion, fit.t_start_ps, fit.t_end_ps, d), hop_res.n_hops, o.detection);
        std::vector<DiffusivityVerdict> axes;
        for (int a = 0; a < 3; ++a) {
          DiffusionOptions d1 = d;
          d1.dim = 1;
          d1.fit_start_ps = fit.t_start_ps;
          d1.fit_end_ps = fit.t_end_ps;
          const auto fa = fit_diffusion(lag, g.tensor.axis(a), g.n_atoms, d1);
          axes.push_back(assess_diffusivity(fa.D_cm2_s, fa.D_err_cm2_s, std::nullopt, std::nullopt, o.detection));
        }
        // Planar D in the lattice planes (d = 2, same window; measured only with the total D).
        std::vector<std::pair<std::string, DiffusivityVerdict>> planes;
        std::vector<double> plane_err;
        for (const auto plane : {LatticePlane::ab, LatticePlane::ac, LatticePlane::bc}) {
          DiffusionOptions d2 = d;
          d2.fit_start_ps = fit.t_start_ps;
          d2.fit_end_ps = fit.t_end_ps;
          const auto fp = fit_planar_diffusion(res, g.name, plane, g.n_atoms, d2);
          planes.emplace_back(plane_name(plane), assess_diffusivity(fp.D_cm2_s, fp.D_err_cm2_s, std::nullopt, std::nullopt, o.detection));
          plane_err.push_back(fp.D_err_cm2_s);
        }
        // Framework MSD at the end of the fit window; a solid's framework stays near its thermal
        // vibration amplitude (≲ 1 Å² for halides at 800 K), a melt's grows without bound.
        double fw_msd = 0, fw_D = 0;
        if (res.groups.size() > 1) {
          const auto& fw = res.groups[1];
          const auto xyz = fw.tensor.xyz();
          std::size_t k = 0;
          while (k + 1 < lag.size() && lag[k + 1] <= fit.t_end_ps) ++k;
          fw_msd = xyz[k];
          DiffusionOptions dfw = d;
          dfw.fit_start_ps = fit.t_start_ps;
          dfw.fit_end_ps = fit.t_end_ps;
          fw_D = fit_diffusion(lag, xyz, fw.n_atoms, dfw).D_cm2_s;
        }
        const bool framework_mobile = fw_msd > o.framework_msd_limit_A2;
        const auto sigma_of = [&](double D) { return nernst_einstein_mS_cm(D, static_cast<double>(g.n_atoms), 1.0, res.mean_volume, T); };
        // figures
        const Plot p = msd_plot(o.mobile + " MSD at " + detail::temp_tag(T), lag, g.tensor, fit);
        write_svg_and_png(render_svg(p), (dir / "msd.svg").string());
        write_svg_and_png(render_heatmap_svg(dens->projection(2), o.mobile + " density at " + detail::temp_tag(T) + ", ab plane", "b", "a", "Å⁻³"),
                          (dir / "density_ab.svg").string());
        nlohmann::json res_json{{"T_K", T},
                         {"fit_start_ps", fit.t_start_ps},
                         {"fit_end_ps", fit.t_end_ps},
                         {"n_mobile", g.n_atoms},
                         {"frames", res.n_frames},
                         {"mean_volume_A3", res.mean_volume},
                         {"volume_per_atom_A3", res.mean_volume / static_cast<double>(z.size())},
                         {"sigma_mS_cm", verdict.diffusive ? nlohmann::json(sigma_of(verdict.D_cm2_s)) : nlohmann::json()},
                         {"sigma_upper_limit_mS_cm", verdict.diffusive ? nlohmann::json() : nlohmann::json(sigma_of(verdict.D_upper_limit_cm2_s))},
                         {"framework_msd_A2", fw_msd},
                         {"framework_D_cm2_s", fw_D},
                         {"framework_mobile", framework_mobile},
                         {"figures", {"msd_" + tt + "/msd.svg", "msd_" + tt + "/density_ab.svg"}}};
        res_json.update(diffusivity_json(verdict, fit, hop_res, o.detection));
        res_json.update(axes_json(axes, verdict.diffusive));
        res_json["D_plane"] = planes_json(planes, plane_err, verdict.diffusive);
        res_json["jumps"] = detail::site_analysis_summary(site_jumps.get(), site_jumps_error, dir, o.mobile + " jumps at " + detail::temp_tag(T),
                                                          res_json["figures"], "msd_" + tt + "/");
        return res_json;
      });
      per_T.push_back(msd);
    }
    // ---------------------------------------------------------------- Arrhenius, σ(300 K)
    nlohmann::json p_arr{{"msd", per_T}, {"volume_A3", best["volume_A3"]}};
    const nlohmann::json arr = runner.run("arrhenius_" + tag, p_arr, n_est * 10, [&](const fs::path& dir) {
      using namespace analysis;
      std::vector<TemperatureDiffusivity> temps;
      for (const auto& m : per_T) temps.push_back(temperature_from_json(m, o.detection));
      const ArrheniusSelection sel = select_arrhenius_points(temps);
      const double V = best["volume_A3"].get<double>();
      const double nli = per_T[0]["n_mobile"].get<double>();
      nlohmann::json j = arrhenius_summary(sel, V, nli);
      j.update(jump_and_plane_arrhenius(per_T));
      if (!j["fit_available"].get<bool>()) return j;
      const auto& pts = sel.points;
      const ArrheniusFit f = fit_arrhenius(pts, j["weighted"].get<bool>());
      const bool extrapolated = j["sigma300K_mS_cm"].is_number();
      Plot p;
      p.title = "Arrhenius plot (" + o.mobile + ")";
      p.xlabel = "1000/T (1/K)";
      p.ylabel = "D (cm²/s)";
      p.log_y = true;
      p.series.push_back(arrhenius_data_series(pts, "MD (diffusive temperatures)"));
      PlotSeries fl;
      fl.label = "fit";
      fl.color = "#000000";
      fl.dashed = true;
      // The line runs to 300 K only when σ(300 K) is extrapolated; otherwise over the data.
      double T_hi = pts.front().T_K, T_lo = pts.front().T_K;
      for (const auto& q : pts) T_hi = std::max(T_hi, q.T_K), T_lo = std::min(T_lo, q.T_K);
      const double x0 = 1000.0 / T_hi, x1 = extrapolated ? 1000.0 / 300.0 : 1000.0 / T_lo;
      for (int k = 0; k <= 40; ++k) {
        const double x = x0 + (x1 - x0) * k / 40.0;
        fl.x.push_back(x);
        fl.y.push_back(f.D_at(1000.0 / x));
      }
      p.series.push_back(fl);
      char b[240];
      if (extrapolated) {
        PlotSeries p300;
        p300.points = true;
        p300.color = "#d62728";
        p300.label = "300 K (extrapolated)";
        p300.x = {1000.0 / 300.0};
        p300.y = {j["D300K_cm2_s"].get<double>()};
        p300.y_lo = {j["D300K_interval_cm2_s"][0].get<double>()};
        p300.y_hi = {j["D300K_interval_cm2_s"][1].get<double>()};
        p.series.push_back(p300);
        std::snprintf(b, sizeof b, "E_A = %.3f ± %.3f eV, σ(300 K) = %.3g mS/cm", f.Ea_eV, f.Ea_err_eV, j["sigma300K_mS_cm"].get<double>());
      } else {
        std::snprintf(b, sizeof b, "E_A = %.3f ± %.3f eV from %zu temperatures; σ(300 K) not extrapolated", f.Ea_eV, f.Ea_err_eV, pts.size());
      }
      p.notes.push_back(b);
      write_svg_and_png(render_svg(p), (dir / "arrhenius.svg").string());
      j["figure"] = "arrhenius_" + tag + "/arrhenius.svg";
      return j;
    });
    orderings.push_back({{"ordering", best}, {"temperatures", per_T}, {"arrhenius", arr}});
  }

  // ---------------------------------------------------------------- report
  nlohmann::json p_rep{{"enumerate", enum_res}, {"relax", relax_res}, {"md", orderings}, {"options", {
      {"structure", o.structure}, {"potential", o.potential_name}, {"temperatures", o.temperatures},
      {"production_ps", o.production_ps}, {"timestep_fs", o.timestep}, {"heating_fs", o.heating}, {"nvt_fs", o.nvt},
      {"npt_fs", o.npt}, {"average_last_fs", o.average_last}, {"top_k", o.top_k}, {"top_m", o.top_m}, {"fmax", o.fmax},
      {"pressure_bar", o.pressure_bar}}}};
  if (!al_res.is_null()) p_rep["active_learning"] = al_res;
  const nlohmann::json rep = runner.run("report", p_rep, n_est, [&](const fs::path&) {
    using namespace analysis;
    nlohmann::json j = p_rep;
    j["format"] = "nernst pipeline report 1";
    j["execution"] = execution_summary(out);
    // energy ranking figure
    Plot p;
    p.title = "Energy ranking of the orderings";
    p.xlabel = "Ewald rank";
    p.ylabel = "relaxed energy − lowest (meV/atom)";
    PlotSeries s;
    s.points = true;
    s.label = o.potential_name;
    const double e0 = relax_res["ranked"][0]["energy_eV_per_atom"].get<double>();
    for (const auto& r : relax_res["ranked"]) {
      s.x.push_back(r["ewald_rank"].get<double>());
      s.y.push_back(1000 * (r["energy_eV_per_atom"].get<double>() - e0));
    }
    p.series.push_back(s);
    write_svg_and_png(render_svg(p), (out / "ranking.svg").string());
    std::ostringstream md;
    md << std::setprecision(4);
    md << "# nernst pipeline report\n\n";
    md << "* structure: `" << o.structure << "` (" << enum_res["parent_formula"].get<std::string>() << ")\n";
    md << "* supercell: " << p_enum["supercell"].dump() << ", potential: **" << o.potential_name << "**\n";
    md << "* orderings: " << enum_res["count"] << " symmetry-distinct; Ewald top " << enum_res["top"].size()
       << " relaxed (FIRE, positions + cell, fmax " << o.fmax << " eV/Å)\n";
    md << "* MD: time step " << o.timestep << " fs; equilibration " << o.heating / 1000 << " ps heating from 100 K, "
       << o.nvt / 1000 << " ps NVT, " << o.npt / 1000 << " ps NpT at " << o.pressure_bar
       << " bar (cell averaged over the last " << o.average_last / 1000 << " ps); production " << o.production_ps
       << " ps NVT per temperature in that cell\n\n";
    md << summary_table_md(orderings, o.pressure_bar);
    if (!al_res.is_null() && !al_res["rounds"].empty()) {
      md << "## Active learning (the equilibration and production MD below use the fine-tuned model `" << al_res["model"].get<std::string>() << "`)\n\n"
         << "| round | T (K) | frames labelled | training set | E MAE before → after (meV/atom) | F MAE before → after (eV/Å) |\n"
         << "|---|---|---|---|---|---|\n";
      for (const auto& r : al_res["rounds"])
        md << "| " << r["round"] << " | " << r["T_K"].get<double>() << " | " << r["label"]["n"] << " | " << r["train"]["n_train"]
           << " | " << 1000 * r["train"]["initial"]["e"].get<double>() << " → " << 1000 * r["train"]["final"]["e"].get<double>()
           << " | " << r["train"]["initial"]["f"].get<double>() << " → " << r["train"]["final"]["f"].get<double>() << " |\n";
      md << "\n";
    }
    md << "## Orderings (relaxed, ranked)\n\n| rank | Ewald rank | E (eV/atom) | ΔE (meV/atom) | space group | V (Å³) | converged |\n|---|---|---|---|---|---|---|\n";
    for (const auto& r : relax_res["ranked"])
      md << "| " << r["rank"] << " | " << r["ewald_rank"] << " | " << std::setprecision(8) << r["energy_eV_per_atom"].get<double>()
         << std::setprecision(4) << " | " << 1000 * (r["energy_eV_per_atom"].get<double>() - e0) << " | "
         << r["space_group"].get<std::string>() << " (" << r["space_group_number"] << ") | " << r["volume_A3"].get<double>()
         << " | " << (r["converged"].get<bool>() ? "yes" : "no") << " |\n";
    md << "\n![ranking](ranking.svg)\n\n";
    for (const auto& m : orderings) {
      md << "## Transport: ordering " << m["ordering"]["file"].get<std::string>() << " ("
         << m["ordering"]["space_group"].get<std::string>() << ")\n\n";
      md << transport_table_md(m["temperatures"]);
      md << "\n" << planar_and_jumps_md(m["temperatures"]);
      const auto& a = m["arrhenius"];
      md << arrhenius_md(a, o.mobile, o.framework_msd_limit_A2);
      md << jump_arrhenius_md(a);
      if (a.contains("figure")) md << "![Arrhenius](" << a["figure"].get<std::string>() << ")\n\n";
      for (const auto& t : m["temperatures"])
        for (const auto& f : t["figures"]) md << "![" << f.get<std::string>() << "](" << f.get<std::string>() << ")\n";
      md << "\n";
    }
    if (o.production_ps < 100)
      md << "> **Demonstration run**: production trajectories of " << o.production_ps
         << " ps per temperature resolve a fast conductor's order of magnitude, with wide error bars, and nothing "
            "finer; converged diffusivities need ≥ 1 ns per temperature (the default is 1 ns; `--preset paper`: the seed "
            "paper's 2 ns at 400–750 K).\n";
    md << execution_md(j["execution"]);
    write_file_atomic(out / "report.md", md.str());
    write_file_atomic(out / "report.json", j.dump(1));
    return nlohmann::json{{"report_md", "report.md"}, {"report_json", "report.json"}};
  });
  (void)rep;
  if (counts) *counts = {runner.executed(), runner.skipped()};
  return read_json(out / "report.json");
}

}  // namespace workflow
NERNST_NAMESPACE_END
