#pragma once
/// \file
/// \brief The standard transport figures as Plot models (analysis/svg_plot.hpp): the MSD with its
/// fit window and fitted line, and the Arrhenius plot with error bars, the fit, its interval and
/// the extrapolated point. Shared by `nernst msd`, `nernst arrhenius` and the pipeline; render
/// with render_svg() and write with write_svg_and_png() (analysis/png.hpp).

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/analysis/svg_plot.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// MSD figure: total and per-axis MSD (Å²) vs lag (ps), the fit window shaded, the fitted line
/// dashed, and D ± error, N_eff and the window written in the corner.
inline Plot msd_plot(const std::string& title, const std::vector<double>& lag_ps, const MSDTensor& msd,
                     const DiffusionFit& fit) {
  Plot p;
  p.title = title;
  p.xlabel = "lag time (ps)";
  p.ylabel = "MSD (Å²)";
  p.bands.push_back({fit.t_start_ps, fit.t_end_ps, "fit window"});
  p.series.push_back({lag_ps, msd.xyz(), {}, {}, "total (xyz)", "#1f77b4"});
  const char* cols[3] = {"#d62728", "#2ca02c", "#9467bd"};
  const char* names[3] = {"x", "y", "z"};
  for (int a = 0; a < 3; ++a) p.series.push_back({lag_ps, msd.axis(a), {}, {}, names[a], cols[a]});
  PlotSeries line{{0.0, lag_ps.back()}, {fit.line.intercept, fit.line.at(lag_ps.back())}, {}, {}, "linear fit", "#000000"};
  line.dashed = true;
  p.series.push_back(line);
  char b[160];
  std::snprintf(b, sizeof b, "D = %.3e ± %.1e cm²/s (He et al., N_eff = %.0f)", fit.D_cm2_s, fit.D_err_cm2_s, fit.n_eff);
  p.notes.push_back(b);
  std::snprintf(b, sizeof b, "fit %.3g–%.3g ps, %zu points", fit.t_start_ps, fit.t_end_ps, fit.n_points);
  p.notes.push_back(b);
  return p;
}

/// Arrhenius data points: D vs 1000/T with ±error bars (the lower end kept above `floor_fraction`·D
/// so that the log axis stays readable when the error exceeds D).
inline PlotSeries arrhenius_data_series(const std::vector<ArrheniusPoint>& pts, const std::string& label,
                                        double floor_fraction = 0.05) {
  PlotSeries s;
  s.points = true;
  s.label = label;
  for (const auto& q : pts) {
    s.x.push_back(1000.0 / q.T_K);
    s.y.push_back(q.D_cm2_s);
    s.y_lo.push_back(std::max(q.D_cm2_s - q.D_err_cm2_s, q.D_cm2_s * floor_fraction));
    s.y_hi.push_back(q.D_cm2_s + q.D_err_cm2_s);
  }
  return s;
}

/// Arrhenius figure: data with error bars, the fit over 1000/T from the hottest point to
/// `T_extrap`, its ±z·σ(ln D) interval (dashed), and the extrapolated D(T_extrap) with its
/// interval; `notes` go in the corner (e.g. σ(300 K)).
inline Plot arrhenius_plot(const std::string& title, const std::vector<ArrheniusPoint>& pts, const ArrheniusFit& fit,
                           double T_extrap = 300.0, double z = 1.0, const std::vector<std::string>& notes = {}) {
  Plot p;
  p.title = title;
  p.xlabel = "1000 / T (1/K)";
  p.ylabel = "D (cm²/s)";
  p.log_y = true;
  p.series.push_back(arrhenius_data_series(pts, "MD (error bars)"));
  double xmin = 1000.0 / T_extrap, xmax = xmin;
  for (double x : p.series[0].x) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  PlotSeries line, lo, hi;
  char b[160];
  std::snprintf(b, sizeof b, "fit, Ea = %.3f ± %.3f eV", fit.Ea_eV, fit.Ea_err_eV);
  line.label = b;
  line.color = "#000000";
  lo.color = hi.color = "#888888";
  lo.dashed = hi.dashed = true;
  std::snprintf(b, sizeof b, "±%.2g σ interval", z);
  lo.label = b;
  for (int k = 0; k <= 50; ++k) {
    const double x = xmin + (xmax - xmin) * k / 50.0;
    const auto in = fit.D_interval(1000.0 / x, z);
    line.x.push_back(x), line.y.push_back(fit.D_at(1000.0 / x));
    lo.x.push_back(x), lo.y.push_back(in.first);
    hi.x.push_back(x), hi.y.push_back(in.second);
  }
  p.series.push_back(line);
  p.series.push_back(lo);
  p.series.push_back(hi);
  const auto iv = fit.D_interval(T_extrap, z);
  PlotSeries ex;
  ex.points = true;
  ex.color = "#d62728";
  std::snprintf(b, sizeof b, "extrapolated %g K", T_extrap);
  ex.label = b;
  ex.x = {1000.0 / T_extrap};
  ex.y = {fit.D_at(T_extrap)};
  ex.y_lo = {iv.first};
  ex.y_hi = {iv.second};
  p.series.push_back(ex);
  std::snprintf(b, sizeof b, "%g K", T_extrap);
  p.markers.push_back({1000.0 / T_extrap, b});
  p.notes = notes;
  p.notes_bottom = true;  // the upper left holds the extrapolated point
  std::snprintf(b, sizeof b, "D(%g K) = %.3e cm²/s [%.2e, %.2e]", T_extrap, fit.D_at(T_extrap), iv.first, iv.second);
  p.notes.push_back(b);
  return p;
}

}  // namespace analysis
NERNST_NAMESPACE_END
