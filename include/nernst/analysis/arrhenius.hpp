#pragma once
/// \file
/// \brief Arrhenius fit ln D = ln D₀ − E_A/(k_B T) with propagated uncertainties, extrapolation
/// of D and the Nernst–Einstein conductivity to another temperature (300 K) with an interval
/// that includes the slope–intercept covariance.
///
/// Weighted fit: weights 1/Var(ln D) with Var(ln D) = (σ_D/D)² and absolute errors (the
/// He et al. / Mo-group convention, GEMDAT's ArrheniusFit); without errors an ordinary fit whose
/// covariance is scaled by the residuals (pymatgen fit_arrhenius "linear").

#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/linear_fit.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/units.hpp>

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct ArrheniusPoint {
  double T_K = 0;
  double D_cm2_s = 0;
  double D_err_cm2_s = 0;  ///< 0 = unknown
};

struct ArrheniusFit {
  LinearFit line;      ///< ln D [cm²/s] vs 1/T [1/K]
  double Ea_eV = 0;
  double Ea_err_eV = 0;
  double D0_cm2_s = 0;
  double lnD0_err = 0;  ///< standard error of ln D₀
  bool weighted = false;

  /// Extrapolated D (cm²/s).
  double D_at(double T_K) const { return std::exp(line.at(1.0 / T_K)); }
  /// Standard error of ln D at T (covariance included).
  double lnD_err_at(double T_K) const { return line.err_at(1.0 / T_K); }
  /// [low, high] of D at T for ±z standard errors of ln D.
  std::pair<double, double> D_interval(double T_K, double z = 1.0) const {
    const double l = line.at(1.0 / T_K), e = z * lnD_err_at(T_K);
    return {std::exp(l - e), std::exp(l + e)};
  }
};

/// Fits the Arrhenius law to ≥ 2 points. `weighted` uses the points' D errors (all must be > 0).
inline ArrheniusFit fit_arrhenius(const std::vector<ArrheniusPoint>& pts, bool weighted = true) {
  if (pts.size() < 2) throw ValueError("Arrhenius fit needs at least 2 temperatures, have " + std::to_string(pts.size()));
  std::vector<double> x, y, w;
  for (const auto& p : pts) {
    if (!(p.T_K > 0) || !(p.D_cm2_s > 0))
      throw ValueError("Arrhenius fit: T and D must be positive (T = " + std::to_string(p.T_K) +
                       " K, D = " + std::to_string(p.D_cm2_s) + " cm²/s)");
    x.push_back(1.0 / p.T_K);
    y.push_back(std::log(p.D_cm2_s));
    if (weighted) {
      if (!(p.D_err_cm2_s > 0)) throw ValueError("weighted Arrhenius fit: every point needs a positive D error");
      const double rel = p.D_err_cm2_s / p.D_cm2_s;
      w.push_back(1.0 / (rel * rel));
    }
  }
  ArrheniusFit f;
  f.weighted = weighted;
  f.line = fit_line(x, y, w, /*absolute_sigma=*/weighted);
  f.Ea_eV = -f.line.slope * units::kB;
  f.Ea_err_eV = f.line.slope_err * units::kB;
  f.D0_cm2_s = std::exp(f.line.intercept);
  f.lnD0_err = f.line.intercept_err;
  return f;
}

/// One temperature's result as the Arrhenius fit sees it.
struct TemperatureDiffusivity {
  double T_K = 0;
  DiffusivityVerdict verdict;
  bool framework_mobile = false;  ///< the framework diffuses too (molten / decomposed): not a solid's D
};

/// The points an Arrhenius fit may use, and the temperatures left out (with why).
struct ArrheniusSelection {
  std::vector<ArrheniusPoint> points;     ///< diffusive temperatures with an immobile framework
  std::vector<double> not_diffusive_K;    ///< no diffusion detected (reported as D < limit)
  std::vector<double> framework_mobile_K; ///< framework diffuses
  std::size_t n_excluded() const { return not_diffusive_K.size() + framework_mobile_K.size(); }
};

/// Keeps only temperatures with measured diffusion: ln D of a slope that is noise around zero
/// (or of a melt) would pull E_A anywhere. The error of a point is the detection test's σ_D.
inline ArrheniusSelection select_arrhenius_points(const std::vector<TemperatureDiffusivity>& temps) {
  ArrheniusSelection s;
  for (const auto& t : temps) {
    if (t.framework_mobile)
      s.framework_mobile_K.push_back(t.T_K);
    else if (!t.verdict.diffusive || !(t.verdict.D_cm2_s > 0))
      s.not_diffusive_K.push_back(t.T_K);
    else
      s.points.push_back({t.T_K, t.verdict.D_cm2_s, t.verdict.sigma_D_cm2_s});
  }
  return s;
}

/// Fewest diffusive temperatures from which D and σ are extrapolated to another temperature.
/// Two points always lie exactly on a line: the Arrhenius law itself is then untested (no
/// degree of freedom left), and an extrapolation over hundreds of kelvin rests on nothing but the
/// two points' own errors.
inline constexpr std::size_t min_temperatures_for_extrapolation = 3;

/// Why D(T) / σ(T) are not extrapolated from `n_diffusive` diffusive temperatures (and
/// `n_excluded` left out: no diffusion detected, or a mobile framework); nullopt when they may be.
inline std::optional<std::string> extrapolation_refusal(std::size_t n_diffusive, std::size_t n_excluded = 0) {
  if (n_diffusive >= min_temperatures_for_extrapolation) return std::nullopt;
  std::string r = "only " + std::to_string(n_diffusive) + " temperature" + (n_diffusive == 1 ? "" : "s") +
                  " with measurable diffusion";
  if (n_excluded) r += " (" + std::to_string(n_excluded) + " left out)";
  r += "; extrapolating needs at least " + std::to_string(min_temperatures_for_extrapolation) +
       " (with two, the Arrhenius line passes exactly through both points and is untested)";
  return r;
}

}  // namespace analysis
NERNST_NAMESPACE_END
