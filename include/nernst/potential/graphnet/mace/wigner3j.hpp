#pragma once
/// \file
/// \brief e3nn's real Wigner 3j symbols W3j(l1, l2, l3), computed (not tabulated).
///
/// e3nn defines W3j(l1, l2, l3)[m1][m2][m3] as the unique (up to sign) tensor invariant under its
/// real Wigner D matrices, Σ W3j² = 1. It is built, as e3nn's generator does, from the complex
/// Clebsch–Gordan coefficients ⟨l1 m1 l2 m2 | l3 m3⟩ (Racah's formula, Condon–Shortley phase),
/// changed to e3nn's real basis with the matrices Q_l of `change_basis_real_to_complex`
///
///     Q[l+m][l+|m|] = 1/√2,        Q[l+m][l−|m|] = −i/√2          (m < 0)
///     Q[l][l]       = 1
///     Q[l+m][l+m]   = (−1)^m/√2,   Q[l+m][l−m]   = i(−1)^m/√2     (m > 0),   all times (−i)^l,
///
///     W[j][k][n] = Re Σ_{a,b,c} Q1[a][j] Q2[b][k] conj(Q3[c][n]) CG[a][b][c],   then W /= ‖W‖.
///
/// The (−i)^l factors make the result real for every triple (odd l1+l2+l3 included). This basis
/// is the one of e3nn's spherical harmonics (spherical_harmonics.hpp): Σ W3j Y_l1(u) Y_l2(u) ∝
/// Y_l3(u), which the tests check.
///
/// **Sign.** The tensor is unique up to sign, and e3nn 0.4.4 does not use the CG sign: it reads
/// the sorted triples (l1 ≤ l2 ≤ l3) from its `constants.pt`, generated as a null vector with the
/// rule "the central element W[l1][l2][l3] (all m = 0) positive; if it is zero (odd l1+l2+l3),
/// the first non-zero element in row-major order positive" (entries below 1e-14 set to zero),
/// and obtains the other orders by transposing, times (−1)^(l1+l2+l3) for odd permutations. The
/// CG tensor has that same permutation symmetry, so here each triple is the CG tensor times the
/// sign that makes its sorted triple obey the rule. For even l1+l2+l3 this is the CG sign itself;
/// for odd sums it flips some triples, e.g. the 6 columns of the MACE-MP medium model's order-3 1o
/// U matrix that couple through odd intermediate irreps (tests/mace/test_u_matrix.cpp).
///
/// `wigner_3j(l1, l2, l3)` caches each triple (thread-safe) and returns [2l1+1][2l2+1][2l3+1]
/// row-major doubles; an invalid triple (triangle rule) or l > kMaxW3jDegree throws.

#include <nernst/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Largest l the generator accepts (factorials stay exact enough in double well beyond MACE's
/// needs: correlation 3 with max_ell 3 couples through l ≤ 6).
inline constexpr int kMaxW3jDegree = 12;

namespace detail {

inline double factorial(int n) {
  double f = 1;
  for (int k = 2; k <= n; ++k) f *= k;
  return f;
}

/// ⟨j1 m1 j2 m2 | j3 m1+m2⟩ by Racah's formula (Condon–Shortley phase).
inline double clebsch_gordan(int j1, int m1, int j2, int m2, int j3) {
  const int m3 = m1 + m2;
  if (m3 < -j3 || m3 > j3) return 0.0;
  const double pre = std::sqrt((2.0 * j3 + 1) * factorial(j3 + j1 - j2) * factorial(j3 - j1 + j2) *
                               factorial(j1 + j2 - j3) / factorial(j1 + j2 + j3 + 1) * factorial(j3 + m3) *
                               factorial(j3 - m3) * factorial(j1 - m1) * factorial(j1 + m1) * factorial(j2 - m2) *
                               factorial(j2 + m2));
  double sum = 0.0;
  for (int k = 0; k <= j1 + j2 - j3; ++k) {
    const int d[6] = {k, j1 + j2 - j3 - k, j1 - m1 - k, j2 + m2 - k, j3 - j2 + m1 + k, j3 - j1 - m2 + k};
    bool ok = true;
    double den = 1.0;
    for (int v : d) {
      if (v < 0) ok = false;
      else den *= factorial(v);
    }
    if (ok) sum += (k % 2 ? -1.0 : 1.0) / den;
  }
  return pre * sum;
}

/// e3nn's change of basis Q_l (real ↔ complex), row-major (2l+1)², including the (−i)^l factor.
inline std::vector<std::complex<double>> real_to_complex_basis(int l) {
  const int n = 2 * l + 1;
  const double h = 1.0 / std::sqrt(2.0);
  const std::complex<double> I(0.0, 1.0);
  std::vector<std::complex<double>> q(n * n, 0.0);
  for (int m = -l; m < 0; ++m) {
    q[(l + m) * n + (l - m)] = h;
    q[(l + m) * n + (l + m)] = -I * h;
  }
  q[l * n + l] = 1.0;
  for (int m = 1; m <= l; ++m) {
    const double sign = m % 2 ? -1.0 : 1.0;
    q[(l + m) * n + (l + m)] = sign * h;
    q[(l + m) * n + (l - m)] = I * sign * h;
  }
  std::complex<double> phase = 1.0;
  for (int k = 0; k < l; ++k) phase *= -I;
  for (auto& v : q) v *= phase;
  return q;
}

/// The real, normalised CG-based W3j of one valid triple (before e3nn's sign rule).
inline std::vector<double> cg_wigner_3j(int l1, int l2, int l3) {
  const int n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
  const auto Q1 = real_to_complex_basis(l1), Q2 = real_to_complex_basis(l2), Q3 = real_to_complex_basis(l3);
  std::vector<std::complex<double>> W(n1 * n2 * n3, 0.0);
  for (int a = 0; a < n1; ++a)
    for (int b = 0; b < n2; ++b) {
      const int c = a + b - l1 - l2 + l3;  // m3 = m1 + m2 in complex indices
      if (c < 0 || c >= n3) continue;
      const double cg = clebsch_gordan(l1, a - l1, l2, b - l2, l3);
      if (cg == 0.0) continue;
      for (int j = 0; j < n1; ++j) {
        const auto qa = Q1[a * n1 + j];
        if (qa == 0.0) continue;
        for (int k = 0; k < n2; ++k) {
          const auto qab = qa * Q2[b * n2 + k] * cg;
          if (qab == 0.0) continue;
          for (int m = 0; m < n3; ++m) W[(j * n2 + k) * n3 + m] += qab * std::conj(Q3[c * n3 + m]);
        }
      }
    }
  std::vector<double> out(W.size());
  double norm2 = 0.0;
  for (std::size_t i = 0; i < W.size(); ++i) {
    out[i] = W[i].real();
    norm2 += out[i] * out[i];
  }
  const double inv = 1.0 / std::sqrt(norm2);
  for (auto& v : out) {
    v *= inv;
    if (std::abs(v) < 1e-14) v = 0.0;  // as e3nn's generator: what is zero by symmetry is exactly zero
  }
  return out;
}

/// e3nn 0.4.4's sign of the sorted triple relative to the CG tensor: +1 when the central element
/// (or, where that is zero, the first non-zero element) of the CG tensor is positive.
inline double e3nn_sorted_sign(int l1, int l2, int l3) {
  int s[3] = {l1, l2, l3};
  std::sort(s, s + 3);
  const auto W = cg_wigner_3j(s[0], s[1], s[2]);
  const double centre = W[(static_cast<std::size_t>(s[0]) * (2 * s[1] + 1) + s[1]) * (2 * s[2] + 1) + s[2]];
  if (centre != 0.0) return centre > 0 ? 1.0 : -1.0;
  for (double v : W)
    if (v != 0.0) return v > 0 ? 1.0 : -1.0;
  return 1.0;
}

/// The W3j of one valid triple in e3nn 0.4.4's convention (see the file comment).
inline std::vector<double> compute_wigner_3j(int l1, int l2, int l3) {
  auto W = cg_wigner_3j(l1, l2, l3);
  if (e3nn_sorted_sign(l1, l2, l3) < 0)
    for (auto& v : W) v = -v;
  return W;
}

}  // namespace detail

/// True when l3 is in l1 ⊗ l2 (|l1 − l2| ≤ l3 ≤ l1 + l2, all ≥ 0).
inline bool w3j_triangle(int l1, int l2, int l3) {
  return l1 >= 0 && l2 >= 0 && l3 >= 0 && l3 >= (l1 > l2 ? l1 - l2 : l2 - l1) && l3 <= l1 + l2;
}

/// e3nn's W3j(l1, l2, l3), [2l1+1][2l2+1][2l3+1] row-major, computed once per triple and cached.
inline const std::vector<double>& wigner_3j(int l1, int l2, int l3) {
  if (!w3j_triangle(l1, l2, l3) || l1 > kMaxW3jDegree || l2 > kMaxW3jDegree || l3 > kMaxW3jDegree)
    throw Error("wigner_3j(" + std::to_string(l1) + ", " + std::to_string(l2) + ", " + std::to_string(l3) +
                "): not a valid triple (triangle rule, l <= " + std::to_string(kMaxW3jDegree) + ")");
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int>, std::vector<double>> cache;  // node-based: references stay valid
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find({l1, l2, l3});
  if (it == cache.end()) it = cache.emplace(std::make_tuple(l1, l2, l3), detail::compute_wigner_3j(l1, l2, l3)).first;
  return it->second;
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
