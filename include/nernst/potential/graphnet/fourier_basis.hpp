#pragma once
/// \file
/// \brief Fourier angular basis with learnable frequencies (CHGNet's `Fourier` expansion).
///
///     ψ(θ) = [1/√2, sin(ν_1 θ), …, sin(ν_M θ), cos(ν_1 θ), …, cos(ν_M θ)] / √π   (K = 2M + 1)
///
/// θ in radians. Canonical frequencies ν_m = m; checkpoints store learned ones.

#include <nernst/core/kokkos.hpp>

#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// ψ(θ) for the M frequencies ν into val[0..2M] and, when given, dψ/dθ into deriv: the one
/// arithmetic of the basis, called by FourierBasis (host loops) and by kernels holding the
/// frequencies by value (CHGNetKernel).
template <class Scalar>
KOKKOS_INLINE_FUNCTION void fourier_values(const Scalar& theta, const Scalar* frequency, const int M, Scalar* val,
                                           Scalar* deriv = nullptr) {
  using math::cos;
  using math::sin;
  // 1/√π and 1/√2 rounded to Scalar once, as the reference code does in its own dtype.
  const Scalar inv_sqrt_pi = Scalar(0.56418958354775628694807945156077259);
  const Scalar inv_sqrt2 = Scalar(0.70710678118654752440084436210484904);
  val[0] = inv_sqrt2 * inv_sqrt_pi;
  if (deriv) deriv[0] = Scalar(0);
  for (int m = 0; m < M; ++m) {
    const Scalar nu = frequency[m];
    const Scalar x = nu * theta;
    const Scalar s = sin(x), c = cos(x);
    val[1 + m] = s * inv_sqrt_pi;
    val[1 + M + m] = c * inv_sqrt_pi;
    if (deriv) {
      deriv[1 + m] = nu * c * inv_sqrt_pi;
      deriv[1 + M + m] = -nu * s * inv_sqrt_pi;
    }
  }
}

template <class Scalar>
struct FourierBasis {
  std::vector<Scalar> frequency;  ///< ν_m, m = 1..M

  FourierBasis() = default;
  explicit FourierBasis(const std::vector<double>& freq) {
    for (double v : freq) frequency.push_back(Scalar(v));
  }

  int order() const { return static_cast<int>(frequency.size()); }
  int size() const { return 2 * order() + 1; }

  static std::vector<double> canonical_frequencies(int M) {
    std::vector<double> f;
    for (int m = 1; m <= M; ++m) f.push_back(double(m));
    return f;
  }

  /// Values at θ into val[0..K); dψ/dθ into deriv when given.
  void operator()(const Scalar& theta, Scalar* val, Scalar* deriv = nullptr) const {
    fourier_values(theta, frequency.data(), order(), val, deriv);
  }
};

}  // namespace graphnet
NERNST_NAMESPACE_END
