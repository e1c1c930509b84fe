#pragma once
/// \file
/// \brief Sine-Bessel radial basis with learnable frequencies and GemNet's polynomial envelope
/// of exponent p (CHGNet's `RadialBessel`, DimeNet/GemNet family).
///
///     φ_k(r) = sqrt(2/rc) · sin(ω_k r / rc) / r · E_p(r / rc),   k = 1..R
///     E_p(s) = 1 − (p+1)(p+2)/2 s^p + p(p+2) s^(p+1) − p(p+1)/2 s^(p+2)   (s < 1),  0 otherwise
///     E_p'(s) = −p(p+1)(p+2)/2 · s^(p−1) (1 − s)²
///
/// For p = 3 the envelope is M3GNet's 1 − 10u³ + 15u⁴ − 6u⁵ (graphnet::polynomial_envelope).
/// The canonical frequencies are ω_k = kπ (sin(kπ r/rc)/r is then j_0-shaped and vanishes at
/// rc); checkpoints store learned ones.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>

#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// GemNet polynomial envelope of integer exponent p ≥ 1 at s = r/rc; E = 0 for s ≥ 1.
/// Writes dE/ds to `deriv` when given. p = 0 means no envelope (E ≡ 1).
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar gemnet_envelope(const Scalar& s, int p, Scalar* deriv = nullptr) {
  if (p == 0) {
    if (deriv) *deriv = Scalar(0);
    return Scalar(1);
  }
  if (!(s < Scalar(1))) {
    if (deriv) *deriv = Scalar(0);
    return Scalar(0);
  }
  Scalar sp1(1);  // s^(p-1)
  for (int k = 1; k < p; ++k) sp1 *= s;
  const Scalar sp = sp1 * s;
  const Scalar a = Scalar(0.5 * (p + 1) * (p + 2)), b = Scalar(p * (p + 2)), c = Scalar(0.5 * p * (p + 1));
  if (deriv) {
    const Scalar om = Scalar(1) - s;
    *deriv = -Scalar(0.5 * p * (p + 1) * (p + 2)) * sp1 * om * om;
  }
  return Scalar(1) - a * sp + b * sp * s - c * sp * s * s;
}

/// φ_k(r) for k < R into val and, when given, dφ_k/dr into deriv: the one arithmetic of the basis,
/// called by SineBesselBasis (host loops) and by kernels holding the frequencies by value
/// (CHGNetKernel), so both compute the same bits.
template <class Scalar>
KOKKOS_INLINE_FUNCTION void sine_bessel_values(const Scalar& r, const Scalar& cutoff, const Scalar& prefactor,
                                               const int envelope_exponent, const Scalar* frequency, const int R,
                                               Scalar* val, Scalar* deriv = nullptr) {
  using math::cos;
  using math::sin;
  const Scalar inv_rc = Scalar(1) / cutoff;
  const Scalar s = r * inv_rc;
  Scalar dE;
  const Scalar E = gemnet_envelope(s, envelope_exponent, &dE);
  const Scalar inv_r = Scalar(1) / r;
  for (int k = 0; k < R; ++k) {
    const Scalar x = frequency[k] * s;
    const Scalar sn = sin(x);
    const Scalar f = prefactor * sn * inv_r;
    val[k] = f * E;
    if (deriv) {
      const Scalar df = prefactor * (frequency[k] * inv_rc * cos(x) - sn * inv_r) * inv_r;
      deriv[k] = df * E + f * dE * inv_rc;
    }
  }
}

/// R sine-Bessel functions of cutoff rc with frequencies ω (host data, used from host loops).
template <class Scalar>
struct SineBesselBasis {
  Scalar cutoff{5};
  int envelope_exponent = 5;
  std::vector<Scalar> frequency;  ///< ω_k
  Scalar prefactor{0};            ///< sqrt(2/rc)

  SineBesselBasis() = default;
  SineBesselBasis(double rc, const std::vector<double>& freq, int p)
      : cutoff(Scalar(rc)), envelope_exponent(p), prefactor(Scalar(std::sqrt(2.0 / rc))) {
    if (!(rc > 0)) throw ValueError("SineBesselBasis: cutoff must be positive");
    if (p < 0) throw ValueError("SineBesselBasis: envelope exponent must be ≥ 0, got " + std::to_string(p));
    for (double w : freq) frequency.push_back(Scalar(w));
  }

  int size() const { return static_cast<int>(frequency.size()); }

  /// Canonical (untrained) frequencies kπ, k = 1..R.
  static std::vector<double> canonical_frequencies(int R) {
    std::vector<double> f;
    for (int k = 1; k <= R; ++k) f.push_back(k * 3.14159265358979323846);
    return f;
  }

  /// Values at distance r (Å) into val[0..R); d/dr into deriv when given.
  void operator()(const Scalar& r, Scalar* val, Scalar* deriv = nullptr) const {
    sine_bessel_values(r, cutoff, prefactor, envelope_exponent, frequency.data(), size(), val, deriv);
  }
};

}  // namespace graphnet
NERNST_NAMESPACE_END
