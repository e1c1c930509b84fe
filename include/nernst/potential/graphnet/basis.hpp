#pragma once
/// \file
/// \brief Radial and angular bases of M3GNet with their derivatives: spherical Bessel radial
/// functions (MP-2021's clamped j_l basis and MatPES's smooth sine-series basis), the real
/// spherical harmonics Y_l^0, and the polynomial envelope.
///
/// All functions are templated on the scalar and use nernst::math, so they run inside kernels
/// and with a dual-number scalar.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/potential/graphnet/bessel_basis.hpp>

#include <array>
#include <cmath>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// Spherical Bessel functions of the first kind j_0..j_3 in matgl's closed forms.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar spherical_bessel_j(int l, const Scalar& x) {
  using math::cos;
  using math::sin;
  const Scalar s = sin(x), c = cos(x);
  switch (l) {
    case 0: return s / x;
    case 1: return s / (x * x) - c / x;
    case 2: return (Scalar(3) / (x * x * x) - Scalar(1) / x) * s - Scalar(3) * c / (x * x);
    default:
      return (Scalar(15) / (x * x * x * x) - Scalar(6) / (x * x)) * s - (Scalar(15) / (x * x * x) - Scalar(1) / x) * c;
  }
}

/// d j_l / dx for l = 0..2, from j_0' = −j_1 and j_l' = j_{l−1} − (l+1) j_l / x.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar spherical_bessel_j_derivative(int l, const Scalar& x) {
  if (l == 0) return -spherical_bessel_j(1, x);
  return spherical_bessel_j(l - 1, x) - Scalar(l + 1) * spherical_bessel_j(l, x) / x;
}

/// The first `nroots` positive roots of j_l (l ≤ 3), computed by bisection in long double using
/// the interlacing of the zeros of j_{l−1} and j_l (the zeros of j_0 are nπ). They agree with
/// matgl's root table to the last bit or two; a test checks them against it.
inline std::array<std::array<double, 3>, 3> spherical_bessel_roots_3x3() {
  using LD = long double;
  const LD pi = 3.141592653589793238462643383279502884L;
  auto jl = [](int l, LD x) -> LD {  // same closed forms, long double
    const LD s = std::sin(x), c = std::cos(x);
    if (l == 0) return s / x;
    if (l == 1) return s / (x * x) - c / x;
    return (3.0L / (x * x * x) - 1.0L / x) * s - 3.0L * c / (x * x);
  };
  constexpr int kMax = 6;
  LD roots[4][kMax];
  for (int n = 0; n < kMax; ++n) roots[0][n] = pi * LD(n + 1);
  for (int l = 1; l < 3; ++l) {
    for (int n = 0; n + l < kMax; ++n) {
      LD a = roots[l - 1][n], b = roots[l - 1][n + 1];
      LD fa = jl(l, a);
      for (int it = 0; it < 200; ++it) {
        const LD m = 0.5L * (a + b);
        const LD fm = jl(l, m);
        if ((fm < 0) == (fa < 0)) {
          a = m;
          fa = fm;
        } else {
          b = m;
        }
      }
      roots[l][n] = 0.5L * (a + b);
    }
  }
  std::array<std::array<double, 3>, 3> out{};
  for (int l = 0; l < 3; ++l)
    for (int n = 0; n < 3; ++n) out[l][n] = static_cast<double>(roots[l][n]);
  return out;
}

/// Spherical Bessel radial basis, 9 functions (l = 0..2 major, n = 0..2 minor):
///   rbf_{l,n}(d) = j_l(z_{l,n} min(d, rc) / rc) · √(2/rc³) / |j_{l+1}(z_{l,n})|
template <class Scalar>
struct SphericalBesselBasis {
  static constexpr int size = 9;
  Scalar cutoff{5};
  Scalar root[9]{};    ///< z_{l,n} at 3l+n
  Scalar factor[9]{};  ///< normalisation at 3l+n

  SphericalBesselBasis() = default;
  explicit SphericalBesselBasis(double rc) : cutoff(Scalar(rc)) {
    const auto z = spherical_bessel_roots_3x3();
    const double pre = std::sqrt(2.0 / (rc * rc * rc));
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) {
        root[3 * l + n] = Scalar(z[l][n]);
        factor[3 * l + n] = Scalar(pre / std::abs(spherical_bessel_j<double>(l + 1, z[l][n])));
      }
  }

  /// Values (and, when deriv != nullptr, d/dd) at distance d (Å). Beyond the cutoff the
  /// distance is clamped, so the derivative there is 0.
  KOKKOS_INLINE_FUNCTION void operator()(const Scalar& d, Scalar* val, Scalar* deriv = nullptr) const {
    const bool clamped = d > cutoff;
    const Scalar dc = clamped ? cutoff : d;
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) {
        const int k = 3 * l + n;
        const Scalar scale = root[k] / cutoff;
        const Scalar x = dc * scale;
        val[k] = spherical_bessel_j(l, x) * factor[k];
        if (deriv) deriv[k] = clamped ? Scalar(0) : spherical_bessel_j_derivative(l, x) * scale * factor[k];
      }
  }
};

/// matgl's "smooth" spherical Bessel basis (`SphericalBesselFunction(smooth=True)`, Kocer et al.,
/// arXiv:1907.02374), cutoff 5 Å: orthonormalised combinations of sinc functions whose value and
/// first two derivatives vanish at the cutoff. Every function is a finite sine series over r,
///
///     g_n(r) = ( Σ_{k=1}^{n+2} c_{n,k} sin(w_k r) ) / r,      w_k = kπ/5,   n = 0..8,
///
/// with the literals matgl's sympy code generation prints in float64 mode (15 significant
/// digits, specs/m3gnet-matpes.md §3.1), summed left to right and divided by r last, as the
/// generated code does. No clamping at the cutoff. M3GNet-MatPES uses g_0..g_2 as its two-body
/// basis and g_0..g_8 as the radial part of its three-body basis. The float32-mode table of
/// matgl differs by ~1e-7 relative (below float32 noise) and is not used.
struct SmoothBesselTable {
  static constexpr int max_functions = 9;
  static constexpr int max_terms = 10;
  static constexpr double cutoff = 5.0;
  static constexpr double w[max_terms] = {0.628318530717959, 1.25663706143592, 1.88495559215388, 2.51327412287183,
                                          3.14159265358979,  3.76991118430775, 4.39822971502571, 5.02654824574367,
                                          5.65486677646163,  6.28318530717959};
  // c[n][k], zero beyond k = n + 1.
  static constexpr double c[max_functions][max_terms] = {
      {0.565685424949238, 0.282842712474619},
      {0.226778683805536, -0.453557367611073, -0.377964473009227},
      {0.123442679969674, -0.246885359939347, 0.370328039909021, 0.432049379893857},
      {0.0778498944161523, -0.155699788832305, 0.233549683248457, -0.311399577664609, -0.467099366496914},
      {0.0536388187521209, -0.107277637504242, 0.160916456256363, -0.214555275008484, 0.268194093760605,
       0.491689171894442},
      {0.0392232270276368, -0.0784464540552736, 0.11766968108291, -0.156892908110547, 0.196116135138184,
       -0.235339362165821, -0.509901951359279},
      {0.0299392475426048, -0.0598784950852096, 0.0898177426278144, -0.119756990170419, 0.149696237713024,
       -0.179635485255629, 0.209574732798234, 0.523936831995584},
      {0.023606684260939, -0.047213368521878, 0.0708200527828171, -0.0944267370437561, 0.118033421304695,
       -0.141640105565634, 0.165246789826573, -0.188853474087512, -0.535084843247951},
      {0.0190931331365176, -0.0381862662730352, 0.0572793994095528, -0.0763725325460703, 0.0954656656825879,
       -0.114558798819105, 0.133651931955623, -0.152745065092141, 0.171838198228658, 0.544154294390751}};
};

/// The first `size` functions g_0..g_{size−1} of SmoothBesselTable (size ≤ 9) with their
/// derivatives g_n′(r) = ( Σ_k c_{n,k} w_k cos(w_k r) − g_n(r) ) / r.
template <class Scalar>
struct SmoothBesselBasis {
  int size = 3;

  SmoothBesselBasis() = default;
  explicit SmoothBesselBasis(int n) : size(n) {
    if (n < 1 || n > SmoothBesselTable::max_functions)
      throw ValueError("SmoothBesselBasis: between 1 and 9 functions, got " + std::to_string(n));
  }

  /// Values at distance r (Å) into val[0..size); d/dr into deriv when given. Host code: the
  /// table's static constexpr arrays are host variables, which CUDA device code cannot read (the
  /// graph networks run on the host; a device version would take the table as a View).
  void operator()(const Scalar& r, Scalar* val, Scalar* deriv = nullptr) const {
    using math::cos;
    using math::sin;
    using T = SmoothBesselTable;
    Scalar sn[T::max_terms], cs[T::max_terms];
    const int terms = size + 1;
    for (int k = 0; k < terms; ++k) {
      const Scalar x = Scalar(T::w[k]) * r;
      sn[k] = sin(x);
      cs[k] = deriv ? cos(x) : Scalar(0);
    }
    const Scalar inv_r = Scalar(1) / r;
    for (int n = 0; n < size; ++n) {
      Scalar s(0), ds(0);
      for (int k = 0; k < n + 2; ++k) {
        s += Scalar(T::c[n][k]) * sn[k];
        if (deriv) ds += Scalar(T::c[n][k] * T::w[k]) * cs[k];
      }
      val[n] = s / r;
      if (deriv) deriv[n] = (ds - val[n]) * inv_r;
    }
  }
};

/// Real spherical harmonics Y_l^0(cos θ), l = 0..2, and their derivatives with respect to cos θ.
template <class Scalar>
KOKKOS_INLINE_FUNCTION void spherical_harmonics_m0(const Scalar& c, Scalar* y, Scalar* dy = nullptr) {
  // 1/(2√π), √(3/(4π)), √(5/(16π))
  const Scalar c0 = Scalar(0.28209479177387814347403972578039);
  const Scalar c1 = Scalar(0.48860251190291992158638462283835);
  const Scalar c2 = Scalar(0.31539156525252000603089369029571);
  y[0] = c0;
  y[1] = c1 * c;
  y[2] = c2 * (Scalar(3) * c * c - Scalar(1));
  if (dy) {
    dy[0] = Scalar(0);
    dy[1] = c1;
    dy[2] = c2 * Scalar(6) * c;
  }
}

/// cos θ between bond vectors u and w of lengths du, dw (three contiguous components each), clamped
/// to ±(1 − 1e-7) as matgl does; with dcdu and dcdw given, ∂cos/∂u and ∂cos/∂w (zero where the
/// cosine was clamped). The three-body basis' angle, for the host evaluator and the kernels alike.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar triplet_cosine(const Scalar* u, const Scalar* w, const Scalar& du, const Scalar& dw,
                                             Scalar* dcdu = nullptr, Scalar* dcdw = nullptr) {
  Scalar dot(0);
  for (int k = 0; k < 3; ++k) dot += u[k] * w[k];
  const Scalar inv = Scalar(1) / (du * dw);
  const Scalar c = dot * inv;
  const Scalar lo = Scalar(-1) + Scalar(1e-7), hi = Scalar(1) - Scalar(1e-7);
  const bool clamped = c < lo || c > hi;
  if (dcdu && dcdw)
    for (int k = 0; k < 3; ++k) {
      dcdu[k] = clamped ? Scalar(0) : w[k] * inv - c * u[k] / (du * du);
      dcdw[k] = clamped ? Scalar(0) : u[k] * inv - c * w[k] / (dw * dw);
    }
  return c < lo ? lo : (c > hi ? hi : c);
}

/// Polynomial envelope of exponent 3: f(d) = 1 − 10u³ + 15u⁴ − 6u⁵, u = d/rc, for d < rc, else 0:
/// the p = 3 case of GemNet's envelope (one implementation, gemnet_envelope). `deriv` gets df/dd.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar polynomial_envelope(const Scalar& d, const Scalar& rc, Scalar* deriv = nullptr) {
  Scalar ds(0);
  const Scalar f = gemnet_envelope(d / rc, 3, deriv ? &ds : nullptr);
  if (deriv) *deriv = ds / rc;
  return f;
}

}  // namespace graphnet
NERNST_NAMESPACE_END
