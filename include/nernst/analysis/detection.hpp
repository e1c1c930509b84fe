#pragma once
/// \file
/// \brief Whether a fitted MSD slope is a measured diffusivity, and the upper limit when it is not.
///
/// Why: below the temperature where the ions start to hop, the fitted slope of a finite MSD is
/// noise around zero — it can be negative, and a tiny positive value is no diffusivity either.
/// Such a temperature must be reported as "no diffusion detected, D < limit" and must not enter
/// an Arrhenius fit (ln D of noise pulls E_A anywhere).
///
/// Definitions (docs/transport.md, "Detection"):
///  * σ_D = max(σ_He, σ_ions): σ_He = He et al. (2018) RSD·|D| (the error of a diffusive MSD from
///    the number of effective independent hops, N_eff = N·max MSD/a²) and σ_ions = the standard
///    error of the mean of the per-ion D's on the same fit window (std/√N; the ion-resampling
///    bootstrap's s.e. for large N). σ_He alone is proportional to |D| and says nothing about
///    whether a tiny slope differs from zero; σ_ions measures the MSD noise level over the window.
///  * detected ⇔ D − k·σ_D > 0 (k = `k_sigma`, default 2, ≈ 97.7 % one-sided) **and** at least
///    `min_hops` site-to-site hops (hops.hpp) in the analysed trajectory.
///  * upper limit when not detected: D_lim = max(D, 0) + k·σ_D (k-σ one-sided bound).

#include <nernst/analysis/diffusion.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct DetectionOptions {
  double k_sigma = 2.0;         ///< D counts as measured only if D − k·σ_D > 0
  std::size_t min_hops = 10;    ///< … and rests on at least this many site-to-site hops
};

struct DiffusivityVerdict {
  bool diffusive = false;
  double D_cm2_s = 0;               ///< fitted slope / (2d): a diffusivity only when `diffusive`
  double sigma_D_cm2_s = 0;         ///< max(σ_He, σ_ions), the σ of the detection test
  double sigma_he_cm2_s = 0;
  std::optional<double> sigma_ions_cm2_s;  ///< absent when per-ion MSDs were not available
  double D_upper_limit_cm2_s = 0;   ///< max(D, 0) + k·σ_D (the result when not diffusive)
  std::optional<std::size_t> n_hops;  ///< absent when hops were not counted (per-axis verdicts)
  double k_sigma = 2;
  std::size_t min_hops = 0;
  std::string reason;               ///< why not detected; empty when diffusive
};

/// Standard error of the mean of the per-ion D's (std/√n; 0 for fewer than 2 ions).
inline double ion_standard_error(const std::vector<double>& unit_D) {
  const std::size_t n = unit_D.size();
  if (n < 2) return 0.0;
  double m = 0;
  for (double d : unit_D) m += d;
  m /= static_cast<double>(n);
  double v = 0;
  for (double d : unit_D) v += (d - m) * (d - m);
  return std::sqrt(v / static_cast<double>(n - 1) / static_cast<double>(n));
}

/// Applies the detection test to a fitted D (cm²/s) with its He et al. error, the optional
/// ion standard error and the optional hop count.
inline DiffusivityVerdict assess_diffusivity(double D_cm2_s, double sigma_he_cm2_s, std::optional<double> sigma_ions_cm2_s,
                                             std::optional<std::size_t> n_hops, const DetectionOptions& o = {}) {
  if (!(o.k_sigma > 0)) throw ValueError("detection: k_sigma must be positive");
  if (!std::isfinite(D_cm2_s)) throw ValueError("detection: the fitted D is not finite");
  DiffusivityVerdict v;
  v.D_cm2_s = D_cm2_s;
  v.sigma_he_cm2_s = sigma_he_cm2_s;
  v.sigma_ions_cm2_s = sigma_ions_cm2_s;
  v.sigma_D_cm2_s = std::max(sigma_he_cm2_s, sigma_ions_cm2_s.value_or(0.0));
  v.n_hops = n_hops;
  v.k_sigma = o.k_sigma;
  v.min_hops = o.min_hops;
  v.D_upper_limit_cm2_s = std::max(D_cm2_s, 0.0) + o.k_sigma * v.sigma_D_cm2_s;
  char b[240];
  if (!(D_cm2_s - o.k_sigma * v.sigma_D_cm2_s > 0)) {
    std::snprintf(b, sizeof b, "MSD slope not significantly above zero: D - %g sigma_D = %.3g - %g x %.3g <= 0 cm2/s",
                  o.k_sigma, D_cm2_s, o.k_sigma, v.sigma_D_cm2_s);
    v.reason = b;
  } else if (n_hops && *n_hops < o.min_hops) {
    std::snprintf(b, sizeof b, "too few site-to-site hops: %zu < %zu", *n_hops, o.min_hops);
    v.reason = b;
  }
  v.diffusive = v.reason.empty();
  return v;
}

/// The same from a DiffusionFit and the per-ion D's on its window (unit_diffusion; may be empty).
inline DiffusivityVerdict assess_diffusivity(const DiffusionFit& fit, const std::vector<double>& ion_D_cm2_s,
                                             std::optional<std::size_t> n_hops, const DetectionOptions& o = {}) {
  std::optional<double> s_ions;
  if (ion_D_cm2_s.size() >= 2) s_ions = ion_standard_error(ion_D_cm2_s);
  return assess_diffusivity(fit.D_cm2_s, fit.D_err_cm2_s, s_ions, n_hops, o);
}

/// One-line text of a diffusivity for reports and terminals. Never prints a D ≤ 0:
/// "D = 1.23e-05 ± 2.1e-06 cm²/s" when measured, "no diffusion detected, D < 3.1e-08 cm²/s"
/// otherwise (or "no diffusion detected (flat MSD)" when even the limit is 0).
inline std::string format_diffusivity(bool diffusive, double D_cm2_s, double err_cm2_s, double upper_limit_cm2_s) {
  char b[160];
  if (diffusive && D_cm2_s > 0)
    std::snprintf(b, sizeof b, "D = %.3e ± %.1e cm²/s", D_cm2_s, err_cm2_s);
  else if (upper_limit_cm2_s > 0)
    std::snprintf(b, sizeof b, "no diffusion detected, D < %.1e cm²/s", upper_limit_cm2_s);
  else
    std::snprintf(b, sizeof b, "no diffusion detected (flat MSD)");
  return b;
}

inline std::string format_diffusivity(const DiffusivityVerdict& v) {
  return format_diffusivity(v.diffusive, v.D_cm2_s, v.sigma_D_cm2_s, v.D_upper_limit_cm2_s);
}

}  // namespace analysis
NERNST_NAMESPACE_END
