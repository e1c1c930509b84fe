#pragma once
/// \file
/// \brief Diffusion coefficients from MSD curves (Einstein relation MSD = 2 d D Δt + c) with a fit
/// window that skips the ballistic regime and long, poorly averaged lags, error bars after
/// He, Zhu, Epstein, Mo, npj Comput. Mater. 4, 18 (2018), block estimates, and the
/// Nernst–Einstein conductivity.
///
/// Units: lag in ps, MSD in Å², D in cm²/s (1 Å²/ps = 1e-4 cm²/s), σ in mS/cm.

#include <nernst/analysis/linear_fit.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/units.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

inline constexpr double A2_per_ps_to_cm2_per_s = 1e-4;

enum class FitWeighting {
  OLS,         ///< ordinary least squares (what MDAnalysis users and the He et al. code do)
  InverseLag   ///< weights 1/Δt (pymatgen smoothed="max"): later lags, averaged over fewer origins, count less
};

struct DiffusionOptions {
  int dim = 3;                          ///< 3 (xyz), 2 (planar) or 1 (one axis)
  std::optional<double> fit_start_ps;   ///< default: automatic (see auto_fit_start)
  std::optional<double> fit_end_ps;     ///< default: min(max_fraction·t_total, max_lag_ps)
  double max_fraction = 0.7;            ///< He et al.: lags beyond 0.7 t_total are too poorly averaged
  double max_lag_ps = 500.0;
  double min_start_ps = 1.0;            ///< automatic start never earlier than this (ballistic / vibrational)
  double slope_tolerance = 0.15;        ///< automatic start: first lag with |d ln MSD / d ln t − 1| ≤ this
  FitWeighting weighting = FitWeighting::OLS;
  double site_distance_A = 3.0;         ///< He et al. a (mean nearest-neighbour distance between mobile-ion sites)
};

struct DiffusionFit {
  int dim = 3;
  double t_start_ps = 0, t_end_ps = 0;  ///< fit window actually used (inclusive)
  std::size_t n_points = 0;
  LinearFit line;                       ///< MSD [Å²] vs lag [ps]
  double D_A2_per_ps = 0;
  double D_cm2_s = 0;
  double D_err_cm2_s = 0;               ///< He et al. 2018: RSD·D
  double rsd_he = 0;                    ///< σ_D / D = 3.43/√N_eff + 0.04
  double n_eff = 0;                     ///< N_eff = N_mobile · max MSD / a² (effective independent displacements)
  double D_ols_err_cm2_s = 0;           ///< naive OLS slope error (ignores correlation; for information only)
  std::vector<double> D_blocks_cm2_s;   ///< one fit per trajectory block
  double D_block_mean_cm2_s = 0, D_block_std_cm2_s = 0, D_block_sem_cm2_s = 0;
};

/// Local log-log slope d ln MSD / d ln t at lag index m, from MSD(m) and MSD(2m) (or the last lag).
inline double loglog_slope(const std::vector<double>& msd, std::size_t m) {
  if (m == 0 || m >= msd.size()) return 0.0;
  const std::size_t m2 = std::min(2 * m, msd.size() - 1);
  if (m2 == m || msd[m] <= 0 || msd[m2] <= 0) return 0.0;
  return std::log(msd[m2] / msd[m]) / std::log(static_cast<double>(m2) / static_cast<double>(m));
}

/// Default fit start: the first lag ≥ min_start_ps where the log-log slope is within
/// slope_tolerance of 1 (diffusive); min_start_ps if that never happens before `end_ps`.
inline double auto_fit_start(const std::vector<double>& lag_ps, const std::vector<double>& msd, double end_ps,
                             const DiffusionOptions& o) {
  for (std::size_t m = 1; m < lag_ps.size() && lag_ps[m] <= end_ps; ++m) {
    if (lag_ps[m] < o.min_start_ps - 1e-9) continue;
    if (std::abs(loglog_slope(msd, m) - 1.0) <= o.slope_tolerance) return lag_ps[m];
  }
  return o.min_start_ps;
}

/// He et al. 2018, eq. 8-9: relative standard deviation of D from N_eff = N·max MSD/a².
inline double he2018_rsd(double n_eff) {
  if (!(n_eff > 0)) return 1.0;
  return 3.43 / std::sqrt(n_eff) + 0.04;
}

namespace detail {
inline LinearFit fit_msd_window(const std::vector<double>& lag_ps, const std::vector<double>& msd, double lo, double hi,
                                FitWeighting wt, std::size_t& n) {
  std::vector<double> x, y, w;
  const double eps = 1e-9 * (lag_ps.size() > 1 ? lag_ps[1] : 1.0);
  for (std::size_t m = 1; m < lag_ps.size(); ++m) {
    if (lag_ps[m] < lo - eps || lag_ps[m] > hi + eps) continue;
    x.push_back(lag_ps[m]);
    y.push_back(msd[m]);
    if (wt == FitWeighting::InverseLag) w.push_back(1.0 / lag_ps[m]);
  }
  n = x.size();
  if (n < 3)
    throw ValueError("diffusion fit window [" + std::to_string(lo) + ", " + std::to_string(hi) + "] ps holds " +
                     std::to_string(n) + " lag points; need at least 3 (longer trajectory or another window)");
  return fit_line(x, y, w);
}
}  // namespace detail

/// Fits D from one MSD curve (lag 0 … ; Å²) with `n_mobile` ions (for He et al. N_eff).
/// `blocks` are optional MSD curves of trajectory blocks (same lag spacing), fitted with the same
/// start and an end clipped to their own length.
inline DiffusionFit fit_diffusion(const std::vector<double>& lag_ps, const std::vector<double>& msd, std::size_t n_mobile,
                                  const DiffusionOptions& o = {}, const std::vector<std::vector<double>>& blocks = {}) {
  if (lag_ps.size() != msd.size()) throw ValueError("fit_diffusion: lag and MSD lengths differ");
  if (lag_ps.size() < 4) throw ValueError("fit_diffusion: need at least 4 lags");
  if (o.dim < 1 || o.dim > 3) throw ValueError("fit_diffusion: dim must be 1, 2 or 3");
  DiffusionFit f;
  f.dim = o.dim;
  const double t_total = lag_ps.back();
  f.t_end_ps = o.fit_end_ps ? *o.fit_end_ps : std::min(o.max_fraction * t_total, o.max_lag_ps);
  f.t_start_ps = o.fit_start_ps ? *o.fit_start_ps : auto_fit_start(lag_ps, msd, f.t_end_ps, o);
  if (!(f.t_end_ps > f.t_start_ps))
    throw ValueError("diffusion fit window is empty: start " + std::to_string(f.t_start_ps) + " ps ≥ end " +
                     std::to_string(f.t_end_ps) + " ps");
  f.line = detail::fit_msd_window(lag_ps, msd, f.t_start_ps, f.t_end_ps, o.weighting, f.n_points);
  const double two_d = 2.0 * o.dim;
  f.D_A2_per_ps = f.line.slope / two_d;
  f.D_cm2_s = f.D_A2_per_ps * A2_per_ps_to_cm2_per_s;
  f.D_ols_err_cm2_s = f.line.slope_err / two_d * A2_per_ps_to_cm2_per_s;
  const double max_msd = *std::max_element(msd.begin(), msd.end());
  f.n_eff = static_cast<double>(n_mobile) * max_msd / (o.site_distance_A * o.site_distance_A);
  f.rsd_he = he2018_rsd(f.n_eff);
  f.D_err_cm2_s = f.rsd_he * std::abs(f.D_cm2_s);

  for (const auto& b : blocks) {
    if (b.size() < 4) continue;
    std::vector<double> bl(lag_ps.begin(), lag_ps.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), lag_ps.size())));
    const double tb = bl.back();
    const double end = std::min(f.t_end_ps, std::min(o.max_fraction * tb, o.max_lag_ps));
    if (!(end > f.t_start_ps)) continue;
    std::size_t n = 0;
    try {
      const auto lf = detail::fit_msd_window(bl, b, f.t_start_ps, end, o.weighting, n);
      f.D_blocks_cm2_s.push_back(lf.slope / two_d * A2_per_ps_to_cm2_per_s);
    } catch (const ValueError&) {
    }
  }
  if (!f.D_blocks_cm2_s.empty()) {
    const double nb = static_cast<double>(f.D_blocks_cm2_s.size());
    double s = 0;
    for (double d : f.D_blocks_cm2_s) s += d;
    f.D_block_mean_cm2_s = s / nb;
    if (f.D_blocks_cm2_s.size() > 1) {
      double v = 0;
      for (double d : f.D_blocks_cm2_s) v += (d - f.D_block_mean_cm2_s) * (d - f.D_block_mean_cm2_s);
      f.D_block_std_cm2_s = std::sqrt(v / (nb - 1));
      f.D_block_sem_cm2_s = f.D_block_std_cm2_s / std::sqrt(nb);
    }
  }
  return f;
}

/// Bootstrap distribution of D over resampling units.
struct DiffusionBootstrap {
  std::size_t n_units = 0;       ///< units resampled (ions, or trajectory blocks)
  std::size_t resamples = 0;
  std::uint64_t seed = 0;
  double D_cm2_s = 0;            ///< D of the full sample (mean of the unit D's)
  double mean_cm2_s = 0;         ///< mean of the bootstrap replicates
  double std_cm2_s = 0;          ///< bootstrap standard error of D
  double p16_cm2_s = 0, p84_cm2_s = 0;    ///< 68 % percentile interval
  double p2_5_cm2_s = 0, p97_5_cm2_s = 0; ///< 95 % percentile interval
  std::vector<double> unit_D_cm2_s;       ///< D of each unit
};

/// D of each unit's MSD curve (e.g. one ion's MSD over all time origins) fitted on the window
/// [t_lo, t_hi] of `fit` with the same weighting and dimension. The least-squares slope is
/// linear in the MSD, so the D of any (re)sample of units is the mean of their D's: the
/// bootstrap below resamples those numbers instead of refitting curves.
inline std::vector<double> unit_diffusion(const std::vector<double>& lag_ps, const std::vector<std::vector<double>>& unit_msd,
                                          double t_lo, double t_hi, const DiffusionOptions& o = {}) {
  std::vector<double> D;
  for (const auto& u : unit_msd) {
    if (u.size() != lag_ps.size()) throw ValueError("unit_diffusion: an MSD curve's length differs from the lags'");
    std::size_t n = 0;
    const auto lf = detail::fit_msd_window(lag_ps, u, t_lo, t_hi, o.weighting, n);
    D.push_back(lf.slope / (2.0 * o.dim) * A2_per_ps_to_cm2_per_s);
  }
  return D;
}

/// Seeded non-parametric bootstrap of the mean of `unit_D` (n units drawn with replacement,
/// `resamples` times, std::mt19937_64(seed)): standard error and percentile intervals.
inline DiffusionBootstrap bootstrap_diffusion(std::vector<double> unit_D, std::size_t resamples = 2000,
                                              std::uint64_t seed = 20180201) {
  if (unit_D.size() < 2) throw ValueError("bootstrap of D needs at least 2 units, have " + std::to_string(unit_D.size()));
  if (resamples < 10) throw ValueError("bootstrap of D needs at least 10 resamples");
  DiffusionBootstrap b;
  b.n_units = unit_D.size();
  b.resamples = resamples;
  b.seed = seed;
  const double n = static_cast<double>(unit_D.size());
  for (double d : unit_D) b.D_cm2_s += d / n;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, unit_D.size() - 1);
  std::vector<double> rep(resamples);
  double s = 0, s2 = 0;
  for (auto& r : rep) {
    double m = 0;
    for (std::size_t i = 0; i < unit_D.size(); ++i) m += unit_D[pick(rng)];
    r = m / n;
    s += r;
  }
  b.mean_cm2_s = s / static_cast<double>(resamples);
  for (double r : rep) s2 += (r - b.mean_cm2_s) * (r - b.mean_cm2_s);
  b.std_cm2_s = std::sqrt(s2 / static_cast<double>(resamples - 1));
  std::sort(rep.begin(), rep.end());
  auto q = [&](double p) {  // linear interpolation between order statistics
    const double h = p * static_cast<double>(resamples - 1);
    const auto i = static_cast<std::size_t>(h);
    return i + 1 < resamples ? rep[i] + (h - static_cast<double>(i)) * (rep[i + 1] - rep[i]) : rep[i];
  };
  b.p16_cm2_s = q(0.15865), b.p84_cm2_s = q(0.84135), b.p2_5_cm2_s = q(0.025), b.p97_5_cm2_s = q(0.975);
  b.unit_D_cm2_s = std::move(unit_D);
  return b;
}

/// Nernst–Einstein conductivity σ = n q² e² D / (V k_B T) / H_R in mS/cm, for n ions of charge
/// q (e) in volume V (Å³) at T (K) with D in cm²/s and Haven ratio H_R.
inline double nernst_einstein_mS_cm(double D_cm2_s, double n_ions, double charge, double volume_A3, double T_K,
                                    double haven_ratio = 1.0) {
  if (!(volume_A3 > 0) || !(T_K > 0) || !(haven_ratio > 0))
    throw ValueError("Nernst–Einstein: volume, temperature and Haven ratio must be positive");
  const double e = units::elementary_charge_C, kB = units::boltzmann_J_per_K;
  const double sigma_S_m = n_ions * charge * charge * e * e * (D_cm2_s * 1e-4) / (volume_A3 * 1e-30 * kB * T_K);
  return sigma_S_m * 10.0 / haven_ratio;  // 1 S/m = 10 mS/cm
}

}  // namespace analysis
NERNST_NAMESPACE_END
