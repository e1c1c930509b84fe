#pragma once
/// \file
/// \brief The pipeline's `msd_m<m>_<T>` stage: what one production trajectory says about
/// transport. Windowed MSD of the mobile species and of the framework, D with its error bar
/// (He et al. / ion error) and the verdict "diffusive" or "no diffusion detected, D < limit"
/// (per-ion D's and hop counts, analysis/detection.hpp), D per axis and per lattice plane, σ(T)
/// by Nernst–Einstein, the framework's MSD (a melt's grows without bound), the density map and the
/// site/jump analysis (GEMDAT definitions), with figures.
///
/// Inputs: the production stage's parameters and the analysis options. Output
/// (`msd_<tag>/done.json`): the temperature's entry of the report (T_K, D_cm2_s, sigma_mS_cm,
/// D_axes, D_plane, jumps, figures, ...) and `msd.svg`, `density_ab.svg`, `jumps.json`. Resume
/// rule: reruns whole (it reads the finished trajectory; minutes at most).

#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/hops.hpp>
#include <nernst/analysis/jump_plots.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/analysis/planar_diffusion.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_analysis_json.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/transport_plots.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/workflow/pipeline_run.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

namespace detail {

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

/// Everything accumulated over one pass through a production trajectory.
struct TrajectoryEstimators {
  std::vector<int> z;
  std::vector<std::size_t> mobile;
  std::unique_ptr<analysis::Estimator<analysis::WindowedMSD<analysis::FFTCorrelation>>> msd;
  std::unique_ptr<analysis::Estimator<analysis::DensityMap>> density;
  std::unique_ptr<analysis::Estimator<analysis::HopCounting>> hops;
  std::unique_ptr<analysis::Estimator<analysis::SiteAnalysis>> site_jumps;  ///< null with site_jumps_error when not possible
  std::string site_jumps_error;
};

/// Reads the production trajectory of run `tt` once, feeding MSD (mobile ions and framework),
/// density map, hop counting and site analysis.
template <class Factory>
TrajectoryEstimators read_production(const PipelineRun<Factory>& run, const std::string& tt, const std::string& ordering_file, double T) {
  using namespace analysis;
  const PipelineOptions& o = run.o;
  const int mz = atomic_number(o.mobile);
  const std::string trajectory = "production_" + tt + "/trajectory.extxyz";
  io::detail::LineReader reader((run.out / trajectory).string());
  io::Frame frame;
  TrajectoryEstimators t;
  std::vector<double> xyz;
  const double dt_ps = o.sample_every * o.timestep / 1000.0;
  while (io::read_extxyz_frame(reader, frame)) {
    if (!t.msd) {
      t.z = frame.structure.atomic_numbers();
      MSDOptions mo;
      mo.dt_ps = dt_ps;
      mo.per_atom = true;  // per-ion D's: the MSD noise level of the detection test
      for (std::size_t i = 0; i < t.z.size(); ++i) (t.z[i] == mz ? t.mobile : mo.drift_atoms).push_back(i);
      if (t.mobile.empty()) throw ValueError("pipeline: no " + o.mobile + " atoms in the trajectory");
      // The framework (every other species) is analysed too: if it diffuses, the cell has
      // melted or decomposed and the mobile-ion D is not a solid-state diffusivity.
      std::vector<AtomGroup> groups{{o.mobile, t.mobile}};
      if (!mo.drift_atoms.empty()) groups.push_back({"framework", mo.drift_atoms});
      t.msd = std::make_unique<Estimator<WindowedMSD<FFTCorrelation>>>(t.z.size(), groups, mo);
      DensityMapOptions dmo;
      dmo.interval_A = o.density_interval;
      t.density = std::make_unique<Estimator<DensityMap>>(t.mobile, frame.structure.lattice().matrix(), dmo);
      HopOptions ho;
      ho.threshold_A = o.hop_threshold_A;
      ho.dt_ps = dt_ps;
      ho.coarse_frames = static_cast<std::size_t>(std::max(1.0, std::round(o.hop_coarse_ps / dt_ps)));
      t.hops = std::make_unique<Estimator<HopCounting>>(t.mobile, ho);
      t.site_jumps = make_site_analysis(run.parent, run.out / "enumerate" / ordering_file, mz, t.mobile, dt_ps, T, trajectory,
                                        t.site_jumps_error);
    }
    xyz.resize(3 * t.z.size());
    for (std::size_t i = 0; i < t.z.size(); ++i) {
      const auto r = frame.structure.cart(i);
      for (int k = 0; k < 3; ++k) xyz[3 * i + static_cast<std::size_t>(k)] = r[k];
    }
    const Eigen::Matrix3d cell = frame.structure.lattice().matrix();
    t.msd->push(xyz.data(), cell);
    t.density->push(xyz.data(), cell);
    t.hops->push(xyz.data(), cell);
    if (t.site_jumps) t.site_jumps->push(frame.structure);
  }
  if (!t.msd || t.msd->n_frames() < 4) throw ValueError("pipeline: production trajectory has fewer than 4 frames");
  return t;
}

/// The fit window's options: the automatic start (not before min_fit_start_ps, at most a fifth
/// of the trajectory) or the fixed one the user gave, refused when past the window's end.
inline analysis::DiffusionOptions fit_options(const PipelineOptions& o, double last_lag_ps) {
  analysis::DiffusionOptions d;
  d.min_start_ps = std::min(o.min_fit_start_ps, 0.2 * last_lag_ps);
  if (o.fit_start_ps > 0) {
    if (!(o.fit_start_ps < d.max_fraction * last_lag_ps))
      throw ValueError("pipeline: --fit-start-ps " + std::to_string(o.fit_start_ps) + " ps is past the fit window's end (" +
                       std::to_string(d.max_fraction * last_lag_ps) + " ps of a " + std::to_string(last_lag_ps) + " ps trajectory)");
    d.fit_start_ps = o.fit_start_ps;
  }
  return d;
}

/// `d` restricted to the window [start, end] of the total fit.
inline analysis::DiffusionOptions on_window(analysis::DiffusionOptions d, const analysis::DiffusionFit& fit) {
  d.fit_start_ps = fit.t_start_ps;
  d.fit_end_ps = fit.t_end_ps;
  return d;
}

/// The framework's MSD at the end of the fit window, and its D on the window; a solid's
/// framework stays near its thermal vibration amplitude (≲ 1 Å² for halides at 800 K), a melt's
/// grows without bound. Zeros when every atom is mobile.
inline std::pair<double, double> framework_motion(const analysis::MSDResult& res, const std::vector<double>& lag,
                                                  const analysis::DiffusionFit& fit, const analysis::DiffusionOptions& d) {
  if (res.groups.size() < 2) return {0.0, 0.0};
  const auto& fw = res.groups[1];
  const auto xyz = fw.tensor.xyz();
  std::size_t k = 0;
  while (k + 1 < lag.size() && lag[k + 1] <= fit.t_end_ps) ++k;
  return {xyz[k], analysis::fit_diffusion(lag, xyz, fw.n_atoms, on_window(d, fit)).D_cm2_s};
}

/// The stage body: fits and verdicts of one trajectory, figures, the temperature's report entry.
template <class Factory>
nlohmann::json analyse_transport(const PipelineRun<Factory>& run, const std::string& tt, const std::string& ordering_file, double T,
                                 const std::filesystem::path& dir) {
  using namespace analysis;
  const PipelineOptions& o = run.o;
  const TrajectoryEstimators t = read_production(run, tt, ordering_file, T);
  const MSDResult res = t.msd->result();
  const auto& g = res.groups.front();
  const auto lag = res.lag_ps();
  DiffusionOptions d = fit_options(o, lag.back());
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
  const HopResult hop_res = t.hops->result();
  const DiffusivityVerdict verdict =
      assess_diffusivity(fit, unit_diffusion(lag, per_ion, fit.t_start_ps, fit.t_end_ps, d), hop_res.n_hops, o.detection);
  std::vector<DiffusivityVerdict> axes;
  for (int a = 0; a < 3; ++a) {
    DiffusionOptions d1 = on_window(d, fit);
    d1.dim = 1;
    const auto fa = fit_diffusion(lag, g.tensor.axis(a), g.n_atoms, d1);
    axes.push_back(assess_diffusivity(fa.D_cm2_s, fa.D_err_cm2_s, std::nullopt, std::nullopt, o.detection));
  }
  // Planar D in the lattice planes (d = 2, same window; measured only with the total D).
  std::vector<std::pair<std::string, DiffusivityVerdict>> planes;
  std::vector<double> plane_err;
  for (const auto plane : {LatticePlane::ab, LatticePlane::ac, LatticePlane::bc}) {
    const auto fp = fit_planar_diffusion(res, g.name, plane, g.n_atoms, on_window(d, fit));
    planes.emplace_back(plane_name(plane), assess_diffusivity(fp.D_cm2_s, fp.D_err_cm2_s, std::nullopt, std::nullopt, o.detection));
    plane_err.push_back(fp.D_err_cm2_s);
  }
  const auto [fw_msd, fw_D] = framework_motion(res, lag, fit, d);
  const auto sigma_of = [&](double D) { return nernst_einstein_mS_cm(D, static_cast<double>(g.n_atoms), 1.0, res.mean_volume, T); };
  // figures
  const std::string at_T = " at " + temp_tag(T);
  write_svg_and_png(render_svg(msd_plot(o.mobile + " MSD" + at_T, lag, g.tensor, fit)), (dir / "msd.svg").string());
  write_svg_and_png(render_heatmap_svg(t.density->projection(2), o.mobile + " density" + at_T + ", ab plane", "b", "a", "Å⁻³"),
                    (dir / "density_ab.svg").string());
  nlohmann::json j{{"T_K", T},
                   {"fit_start_ps", fit.t_start_ps},
                   {"fit_end_ps", fit.t_end_ps},
                   {"n_mobile", g.n_atoms},
                   {"frames", res.n_frames},
                   {"mean_volume_A3", res.mean_volume},
                   {"volume_per_atom_A3", res.mean_volume / static_cast<double>(t.z.size())},
                   {"sigma_mS_cm", verdict.diffusive ? nlohmann::json(sigma_of(verdict.D_cm2_s)) : nlohmann::json()},
                   {"sigma_upper_limit_mS_cm", verdict.diffusive ? nlohmann::json() : nlohmann::json(sigma_of(verdict.D_upper_limit_cm2_s))},
                   {"framework_msd_A2", fw_msd},
                   {"framework_D_cm2_s", fw_D},
                   {"framework_mobile", fw_msd > o.framework_msd_limit_A2},
                   {"figures", {"msd_" + tt + "/msd.svg", "msd_" + tt + "/density_ab.svg"}}};
  j.update(diffusivity_json(verdict, fit, hop_res, o.detection));
  j.update(axes_json(axes, verdict.diffusive));
  j["D_plane"] = planes_json(planes, plane_err, verdict.diffusive);
  j["jumps"] = site_analysis_summary(t.site_jumps.get(), t.site_jumps_error, dir, o.mobile + " jumps" + at_T, j["figures"], "msd_" + tt + "/");
  return j;
}

}  // namespace detail

/// Runs (or skips, when done) the transport analysis of relaxed ordering `mi` (`ordering`: its
/// entry of the relax stage's `ranked`) at T, whose production stage had parameters `p_prod`.
template <class Factory>
nlohmann::json transport_stage(PipelineRun<Factory>& run, std::size_t mi, const nlohmann::json& ordering, double T,
                               const nlohmann::json& p_prod) {
  const PipelineOptions& o = run.o;
  const std::string tt = detail::run_tag(mi, T);
  const std::string file = ordering["file"].get<std::string>();
  const nlohmann::json p{{"production", p_prod}, {"mobile", o.mobile}, {"min_fit_start_ps", o.min_fit_start_ps},
                         {"fit_start_ps", o.fit_start_ps},
                         {"density_interval", o.density_interval},
                         {"framework_msd_limit_A2", o.framework_msd_limit_A2},
                         {"detection", {{"k_sigma", o.detection.k_sigma}, {"min_hops", o.detection.min_hops}}},
                         {"hops", {{"threshold_A", o.hop_threshold_A}, {"coarse_ps", o.hop_coarse_ps}}},
                         {"planar_D", {"ab", "ac", "bc"}},
                         {"site_analysis", {{"definitions", "GEMDAT 1.7.2"}, {"sites", "parent structure, mobile species"},
                                            {"ordering", file}, {"radius", "vibration amplitude"}, {"n_parts", 10}}}};
  return run.runner.run("msd_" + tt, p, run.n_est * 50,
                        [&](const std::filesystem::path& dir) { return detail::analyse_transport(run, tt, file, T, dir); });
}

}  // namespace workflow
NERNST_NAMESPACE_END
