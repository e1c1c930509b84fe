#pragma once
/// \file
/// \brief The pipeline's `arrhenius_m<m>` stage: E_A from the diffusive temperatures of one
/// ordering only; D(300 K) and σ(300 K) (Nernst–Einstein, Haven ratio 1) only from ≥ 3 of them,
/// otherwise null with the reason; jump-rate and per-plane Arrhenius fits; the Arrhenius figure.
///
/// Inputs: the transport stage's results at every temperature and the relaxed (0 K) volume of the
/// ordering (σ = N e² D / (V k_B T)). Output (`arrhenius_m<m>/done.json`): analysis::arrhenius_summary
/// plus the jump and plane fits and `figure`. Resume rule: reruns whole (seconds).

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/transport_plots.hpp>
#include <nernst/workflow/pipeline_run.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

namespace detail {

/// The Arrhenius plot: the diffusive temperatures, the fit (to 300 K when σ(300 K) is
/// extrapolated, over the data otherwise), the extrapolated point with its interval.
inline analysis::Plot arrhenius_plot(const std::vector<analysis::ArrheniusPoint>& pts, const analysis::ArrheniusFit& f,
                                     const nlohmann::json& summary, const std::string& mobile) {
  using namespace analysis;
  const bool extrapolated = summary["sigma300K_mS_cm"].is_number();
  Plot p;
  p.title = "Arrhenius plot (" + mobile + ")";
  p.xlabel = "1000/T (1/K)";
  p.ylabel = "D (cm²/s)";
  p.log_y = true;
  p.series.push_back(arrhenius_data_series(pts, "MD (diffusive temperatures)"));
  PlotSeries fl;
  fl.label = "fit";
  fl.color = "#000000";
  fl.dashed = true;
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
    p300.y = {summary["D300K_cm2_s"].get<double>()};
    p300.y_lo = {summary["D300K_interval_cm2_s"][0].get<double>()};
    p300.y_hi = {summary["D300K_interval_cm2_s"][1].get<double>()};
    p.series.push_back(p300);
    std::snprintf(b, sizeof b, "E_A = %.3f ± %.3f eV, σ(300 K) = %.3g mS/cm", f.Ea_eV, f.Ea_err_eV, summary["sigma300K_mS_cm"].get<double>());
  } else {
    std::snprintf(b, sizeof b, "E_A = %.3f ± %.3f eV from %zu temperatures; σ(300 K) not extrapolated", f.Ea_eV, f.Ea_err_eV, pts.size());
  }
  p.notes.push_back(b);
  return p;
}

}  // namespace detail

/// Runs (or skips, when done) the Arrhenius analysis of relaxed ordering `mi` (`ordering`: its
/// entry of the relax stage's `ranked`) from its temperatures' transport results `per_T`.
template <class Factory>
nlohmann::json arrhenius_stage(PipelineRun<Factory>& run, std::size_t mi, const nlohmann::json& ordering, const nlohmann::json& per_T) {
  const std::string tag = "m" + std::to_string(mi);
  const nlohmann::json p{{"msd", per_T}, {"volume_A3", ordering["volume_A3"]}};
  return run.runner.run("arrhenius_" + tag, p, run.n_est * 10, [&](const std::filesystem::path& dir) {
    using namespace analysis;
    std::vector<TemperatureDiffusivity> temps;
    for (const auto& m : per_T) temps.push_back(temperature_from_json(m, run.o.detection));
    const ArrheniusSelection sel = select_arrhenius_points(temps);
    nlohmann::json j = arrhenius_summary(sel, ordering["volume_A3"].get<double>(), per_T[0]["n_mobile"].get<double>());
    j.update(jump_and_plane_arrhenius(per_T));
    if (!j["fit_available"].get<bool>()) return j;
    const ArrheniusFit f = fit_arrhenius(sel.points, j["weighted"].get<bool>());
    write_svg_and_png(render_svg(detail::arrhenius_plot(sel.points, f, j, run.o.mobile)), (dir / "arrhenius.svg").string());
    j["figure"] = "arrhenius_" + tag + "/arrhenius.svg";
    return j;
  });
}

}  // namespace workflow
NERNST_NAMESPACE_END
