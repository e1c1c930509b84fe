#pragma once
/// \file
/// \brief e3nn's real spherical harmonics for l ≤ 3 (MACE's edge attributes) and their gradient
/// with respect to the unnormalised edge vector.
///
/// Convention (e3nn 0.4.4 `o3.spherical_harmonics(..., normalize=True, normalization="component")`,
/// as mace-torch calls it): the vector r is first normalised, u = r / max(|r|, 1e-12), and with
/// (x, y, z) = u the harmonics are homogeneous polynomials in which **y is the polar axis** and
/// the components of each l run m = -l..l in e3nn's real basis:
///
///     l = 0: 1
///     l = 1: √3 (x, y, z)
///     l = 2: √15 xz, √15 xy, √5 (y² − (x²+z²)/2), √15 yz, (√15/2)(z² − x²)
///     l = 3: (√630/12)(3xz² − x³), √105 xyz, (√168/8) x (4y² − x² − z²),
///            (√7/2) y (2y² − 3x² − 3z²), (√168/8) z (4y² − x² − z²),
///            (√105/2) y (z² − x²), (√630/12)(z³ − 3x²z)
///
/// ("component" normalisation: Σ_m Y_lm(u)² = 2l+1 on the unit sphere). The flat output
/// concatenates the blocks l = 0..lmax, (lmax+1)² entries.
///
/// The reverse pass needs dY/dr for the *unnormalised* r: dY/dr = (∂Y/∂u)(1 − u uᵀ)/|r|.
/// Everything is templated on the scalar (float, double, nn::Dual) and allocation-free so a
/// Kokkos kernel can call it per edge.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/dual.hpp>  // math::sqrt of a dual number (training: mace_parameter_gradient.hpp)

#include <string>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Largest l these closed forms cover (MACE-MP uses max_ell = 3).
inline constexpr int kMaxShDegree = 3;

/// Number of harmonics of degrees 0..lmax.
KOKKOS_INLINE_FUNCTION constexpr int sh_dim(int lmax) { return (lmax + 1) * (lmax + 1); }

namespace detail {

/// Y(u) and, when `dYdu` is non-null, ∂Y/∂u (row-major [(lmax+1)²][3]) at a unit vector u.
/// ∂Y/∂u is the derivative of the polynomials themselves (u treated as free), which the chain
/// rule through the normalisation then projects onto the tangent plane.
template <class S>
KOKKOS_INLINE_FUNCTION void sh_polynomials(int lmax, const S& x, const S& y, const S& z, S* Y, S* dYdu) {
  const double s3 = 1.7320508075688772, s5 = 2.23606797749979, s15 = 3.872983346207417;
  auto put = [&](int i, const S& v, const S& dx, const S& dy, const S& dz) {
    Y[i] = v;
    if (dYdu) {
      dYdu[3 * i] = dx;
      dYdu[3 * i + 1] = dy;
      dYdu[3 * i + 2] = dz;
    }
  };
  const S zero(0);
  put(0, S(1), zero, zero, zero);
  if (lmax < 1) return;
  put(1, s3 * x, S(s3), zero, zero);
  put(2, s3 * y, zero, S(s3), zero);
  put(3, s3 * z, zero, zero, S(s3));
  if (lmax < 2) return;
  const S x2 = x * x, y2 = y * y, z2 = z * z;
  put(4, s15 * x * z, s15 * z, zero, s15 * x);
  put(5, s15 * x * y, s15 * y, s15 * x, zero);
  put(6, s5 * (y2 - 0.5 * (x2 + z2)), -s5 * x, 2.0 * s5 * y, -s5 * z);
  put(7, s15 * y * z, zero, s15 * z, s15 * y);
  put(8, 0.5 * s15 * (z2 - x2), -s15 * x, zero, s15 * z);
  if (lmax < 3) return;
  const double a = 2.0916500663351889;   // √630 / 12
  const double b = 10.246950765959598;   // √105
  const double c = 1.6201851746019651;   // √168 / 8
  const double d = 1.3228756555322954;   // √7 / 2
  const double e = 5.123475382979799;    // √105 / 2
  put(9, a * (3.0 * x * z2 - x * x2), a * (3.0 * (z2 - x2)), zero, a * (6.0 * x * z));
  put(10, b * x * y * z, b * y * z, b * x * z, b * x * y);
  put(11, c * x * (4.0 * y2 - x2 - z2), c * (4.0 * y2 - 3.0 * x2 - z2), c * (8.0 * x * y), c * (-2.0 * x * z));
  put(12, d * y * (2.0 * y2 - 3.0 * x2 - 3.0 * z2), d * (-6.0 * x * y), d * (6.0 * y2 - 3.0 * x2 - 3.0 * z2),
      d * (-6.0 * y * z));
  put(13, c * z * (4.0 * y2 - x2 - z2), c * (-2.0 * x * z), c * (8.0 * y * z), c * (4.0 * y2 - x2 - 3.0 * z2));
  put(14, e * y * (z2 - x2), e * (-2.0 * x * y), e * (z2 - x2), e * (2.0 * y * z));
  put(15, a * (z * z2 - 3.0 * x2 * z), a * (-6.0 * x * z), zero, a * (3.0 * (z2 - x2)));
}

/// |r| as F.normalize uses it: max(|r|, 1e-12), so a zero vector gives Y = (1, 0, ...).
template <class S>
KOKKOS_INLINE_FUNCTION S clamped_norm(const S r[3]) {
  const S n = math::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  return n > 1e-12 ? n : S(1e-12);
}

}  // namespace detail

/// Y[(lmax+1)²] of the direction of r (e3nn order and "component" normalisation).
template <class S>
KOKKOS_INLINE_FUNCTION void spherical_harmonics(int lmax, const S r[3], S* Y) {
  const S n = detail::clamped_norm(r);
  detail::sh_polynomials<S>(lmax, r[0] / n, r[1] / n, r[2] / n, Y, nullptr);
}

/// Y as above and dY[(lmax+1)²][3] = ∂Y/∂r with respect to the unnormalised vector r.
template <class S>
KOKKOS_INLINE_FUNCTION void spherical_harmonics_with_gradient(int lmax, const S r[3], S* Y, S* dY) {
  const S n = detail::clamped_norm(r);
  const S u[3] = {r[0] / n, r[1] / n, r[2] / n};
  detail::sh_polynomials<S>(lmax, u[0], u[1], u[2], Y, dY);
  const S inv = S(1) / n;
  for (int i = 0; i < sh_dim(lmax); ++i) {  // (∂Y/∂u)(1 − u uᵀ)/|r|
    S* g = dY + 3 * i;
    const S radial = g[0] * u[0] + g[1] * u[1] + g[2] * u[2];
    for (int k = 0; k < 3; ++k) g[k] = (g[k] - radial * u[k]) * inv;
  }
}

/// Host check for a model's max_ell: throws for an lmax these closed forms do not cover (the
/// kernels above cannot throw; call this when loading a model).
inline void check_sh_degree(int lmax) {
  if (lmax < 0 || lmax > kMaxShDegree)
    throw Error("mace spherical harmonics: max_ell = " + std::to_string(lmax) + " is outside 0.." +
                std::to_string(kMaxShDegree));
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
