#pragma once
/// \file
/// \brief Weighted straight-line least squares y = slope·x + intercept with the parameter
/// covariance (closed form, centred for conditioning). Used by the Einstein (MSD) and Arrhenius fits.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct LinearFit {
  double slope = 0.0;
  double intercept = 0.0;
  double slope_err = 0.0;      ///< standard error of the slope
  double intercept_err = 0.0;  ///< standard error of the intercept
  double cov = 0.0;            ///< covariance(slope, intercept)
  double r2 = 0.0;             ///< coefficient of determination (weighted)
  double chi2 = 0.0;           ///< weighted residual sum of squares
  std::size_t n = 0;

  double at(double x) const { return slope * x + intercept; }
  /// Standard error of the fitted line at x (covariance included).
  double err_at(double x) const {
    const double v = x * x * slope_err * slope_err + intercept_err * intercept_err + 2.0 * x * cov;
    return std::sqrt(std::max(v, 0.0));
  }
};

/// Fits y = a·x + b with weights w (empty = all 1). With `absolute_sigma` the weights are
/// 1/σ² of absolute errors and the covariance is (AᵀWA)⁻¹; otherwise it is scaled by
/// χ²/(n − 2), which for unit weights reproduces scipy.stats.linregress's stderr.
inline LinearFit fit_line(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& w = {},
                          bool absolute_sigma = false) {
  const std::size_t n = x.size();
  if (y.size() != n || (!w.empty() && w.size() != n)) throw ValueError("fit_line: x, y and weights differ in length");
  if (n < 2) throw ValueError("fit_line: need at least 2 points, have " + std::to_string(n));
  // Centre x for conditioning, then shift back.
  double sw = 0, sx = 0, sy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double wi = w.empty() ? 1.0 : w[i];
    if (!(wi > 0.0) || !std::isfinite(x[i]) || !std::isfinite(y[i])) throw ValueError("fit_line: non-finite data or non-positive weight");
    sw += wi;
    sx += wi * x[i];
    sy += wi * y[i];
  }
  const double xm = sx / sw, ym = sy / sw;
  double sxx = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double wi = w.empty() ? 1.0 : w[i];
    const double dx = x[i] - xm, dy = y[i] - ym;
    sxx += wi * dx * dx;
    sxy += wi * dx * dy;
    syy += wi * dy * dy;
  }
  if (!(sxx > 0.0)) throw ValueError("fit_line: all x values are equal");
  LinearFit f;
  f.n = n;
  f.slope = sxy / sxx;
  f.intercept = ym - f.slope * xm;
  for (std::size_t i = 0; i < n; ++i) {
    const double wi = w.empty() ? 1.0 : w[i];
    const double r = y[i] - f.at(x[i]);
    f.chi2 += wi * r * r;
  }
  f.r2 = syy > 0 ? 1.0 - f.chi2 / syy : 1.0;
  // Covariance of (slope, intercept): var(a) = 1/Sxx, var(b) = 1/Sw + xm²/Sxx, cov = −xm/Sxx.
  double scale = 1.0;
  if (!absolute_sigma) scale = n > 2 ? f.chi2 / static_cast<double>(n - 2) : 0.0;
  f.slope_err = std::sqrt(scale / sxx);
  f.intercept_err = std::sqrt(scale * (1.0 / sw + xm * xm / sxx));
  f.cov = -scale * xm / sxx;
  return f;
}

}  // namespace analysis
NERNST_NAMESPACE_END
