#pragma once
/// \file
/// \brief GEMDAT 1.7.2's ArrheniusFit (shared/reference/jumps/README.md, point 19): per
/// temperature the tracer diffusivity of each of P equal parts of the trajectory, D(T) = their
/// mean, σ_D(T) = their population std; across temperatures a fit of ln D = m/T + b weighted by
/// (D/σ_D)² whose covariance is scaled by the weighted residuals, cov = (AᵀWA)⁻¹·rss/(n_T − 2).
///
/// Why beside fit_arrhenius (arrhenius.hpp, absolute errors, MSD-slope D): so that an E_A can be
/// compared with a GEMDAT number computed the GEMDAT way. The two differ in D (single-origin
/// displacement over a part vs an MSD slope) and in the error (scaled by the scatter of the
/// points, not by their stated errors).

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/layer_diffusion.hpp>
#include <nernst/analysis/linear_fit.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/units.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Point 19.1–19.3 at one temperature.
struct PartTracerDiffusivity {
  std::vector<double> D_parts_m2_s;
  std::size_t frames_per_part = 0;  ///< the shortest part (all parts trimmed to it)
  double mean_m2_s = 0, std_m2_s = 0;  ///< std: population (ddof 0)
};

/// Parts [τ_p, τ_p + L) with τ = int(linspace(0, N−1, P+1)) and L the shortest τ_{p+1} − τ_p;
/// D_p = mean over ions of |r(τ_p + L − 1) − r(τ_p)|² / (2·dim·L·Δt) (point 12 on the part:
/// one origin, L·Δt). Positions: the unwrapped track (minimum-image steps, as GEMDAT's).
inline PartTracerDiffusivity tracer_diffusivity_per_part(const UnwrappedIons& traj, std::size_t P, int dim, double dt_s) {
  const std::size_t N = traj.n_frames(), n = traj.n_ions();
  if (P < 1 || N < 2 * P) throw ValueError("tracer diffusivity per part: " + std::to_string(N) + " frames for " + std::to_string(P) + " parts");
  const auto tau = site_detail::linspace_int(0.0, static_cast<double>(N - 1), P + 1);
  long L = tau[1] - tau[0];
  for (std::size_t p = 0; p < P; ++p) L = std::min(L, tau[p + 1] - tau[p]);
  PartTracerDiffusivity r;
  r.frames_per_part = static_cast<std::size_t>(L);
  for (std::size_t p = 0; p < P; ++p) {
    const auto t0 = static_cast<std::size_t>(tau[p]), t1 = t0 + static_cast<std::size_t>(L) - 1;
    double msd = 0;
    for (std::size_t k = 0; k < n; ++k) msd += (traj.cart(t1, k) - traj.cart(t0, k)).squaredNorm();
    msd /= static_cast<double>(n);
    r.D_parts_m2_s.push_back(msd * 1e-20 / (2.0 * dim * static_cast<double>(L) * dt_s));
  }
  const ValueStd m = site_detail::mean_std(r.D_parts_m2_s, 0);
  r.mean_m2_s = m.value;
  r.std_m2_s = m.std;
  return r;
}

/// GEMDAT's fit (point 19) of points {T, D, σ_D} (m²/s in the D fields). Needs ≥ 3 temperatures
/// (GEMDAT divides by n_T − 2) and σ_D > 0 everywhere. E_A and its std in eV; D0_cm2_s holds D0 in
/// the points' unit; lnD0_err = √cov₁₁ (GEMDAT's D0 std = D0·lnD0_err).
inline ArrheniusFit fit_arrhenius_gemdat(const std::vector<ArrheniusPoint>& pts) {
  if (pts.size() < 3) throw ValueError("GEMDAT's Arrhenius fit needs at least 3 temperatures (it divides by n - 2), have " + std::to_string(pts.size()));
  std::vector<double> x, y, w;
  for (const auto& p : pts) {
    if (!(p.T_K > 0) || !(p.D_cm2_s > 0) || !(p.D_err_cm2_s > 0))
      throw ValueError("GEMDAT's Arrhenius fit: T, D and sigma_D must be positive (T = " + std::to_string(p.T_K) + " K)");
    x.push_back(1.0 / p.T_K);
    y.push_back(std::log(p.D_cm2_s));
    w.push_back((p.D_cm2_s / p.D_err_cm2_s) * (p.D_cm2_s / p.D_err_cm2_s));
  }
  ArrheniusFit f;
  f.weighted = true;
  f.line = fit_line(x, y, w, /*absolute_sigma=*/false);  // covariance × rss/(n − 2), as GEMDAT's
  f.Ea_eV = -f.line.slope * units::kB;
  f.Ea_err_eV = f.line.slope_err * units::kB;
  f.D0_cm2_s = std::exp(f.line.intercept);
  f.lnD0_err = f.line.intercept_err;
  return f;
}

}  // namespace analysis
NERNST_NAMESPACE_END
