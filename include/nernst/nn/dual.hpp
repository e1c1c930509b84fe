#pragma once
/// \file
/// \brief Dual numbers a + b·ε (ε² = 0) for forward-mode derivatives through the layer code.
///
/// Running a forward and reverse pass with `Dual<double>` and a tangent seeded on the bond
/// vectors gives, in the tangent part of every reverse-pass quantity, its directional
/// derivative along that seed. This is how the trainer gets parameter gradients of force and
/// stress losses (forward-over-reverse, docs/training.md) from the same first-order code that
/// computes inference forces.
///
/// Provides the arithmetic, comparisons (on the value), `nernst::math` overloads, and Eigen
/// `NumTraits` so that `Eigen::Matrix<Dual<double>, ...>` products compile. Eigen's GEMM kernels
/// are not vectorised for this type; `nn::matmul` (nn/matrix.hpp) has a faster split-product
/// overload in this header.

#include <nernst/core/kokkos.hpp>
#include <nernst/nn/matrix.hpp>

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <ostream>
#include <type_traits>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// v + d·ε with ε² = 0: `v` the value, `d` the tangent (directional derivative).
template <class T>
struct Dual {
  T v{}, d{};

  KOKKOS_INLINE_FUNCTION constexpr Dual() = default;
  /// A constant (zero tangent) from any arithmetic value.
  template <class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>
  KOKKOS_INLINE_FUNCTION constexpr Dual(U value) : v(static_cast<T>(value)), d(0) {}
  KOKKOS_INLINE_FUNCTION constexpr Dual(T value, T tangent) : v(value), d(tangent) {}

  /// The value (drops the tangent): lets `static_cast<double>(x)` work as for plain scalars.
  KOKKOS_INLINE_FUNCTION explicit constexpr operator T() const { return v; }

  KOKKOS_INLINE_FUNCTION Dual& operator+=(const Dual& o) { v += o.v; d += o.d; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator-=(const Dual& o) { v -= o.v; d -= o.d; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator*=(const Dual& o) { d = d * o.v + v * o.d; v *= o.v; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator/=(const Dual& o) {
    const T inv = T(1) / o.v;
    v *= inv;
    d = (d - v * o.d) * inv;
    return *this;
  }
  KOKKOS_INLINE_FUNCTION Dual operator-() const { return {-v, -d}; }
  KOKKOS_INLINE_FUNCTION Dual operator+() const { return *this; }
};

template <class T> KOKKOS_INLINE_FUNCTION Dual<T> operator+(Dual<T> a, const Dual<T>& b) { return a += b; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> operator-(Dual<T> a, const Dual<T>& b) { return a -= b; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> operator*(Dual<T> a, const Dual<T>& b) { return a *= b; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> operator/(Dual<T> a, const Dual<T>& b) { return a /= b; }

#define NERNST_DUAL_MIXED(op)                                                                                   \
  template <class T, class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>                              \
  KOKKOS_INLINE_FUNCTION Dual<T> operator op(const Dual<T>& a, U b) { return a op Dual<T>(b); }                 \
  template <class T, class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>                              \
  KOKKOS_INLINE_FUNCTION Dual<T> operator op(U a, const Dual<T>& b) { return Dual<T>(a) op b; }
NERNST_DUAL_MIXED(+)
NERNST_DUAL_MIXED(-)
NERNST_DUAL_MIXED(*)
NERNST_DUAL_MIXED(/)
#undef NERNST_DUAL_MIXED

// Comparisons look at the value only (branches such as clamps follow the primal path).
#define NERNST_DUAL_CMP(op)                                                                                     \
  template <class T>                                                                                            \
  KOKKOS_INLINE_FUNCTION bool operator op(const Dual<T>& a, const Dual<T>& b) { return a.v op b.v; }            \
  template <class T, class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>                              \
  KOKKOS_INLINE_FUNCTION bool operator op(const Dual<T>& a, U b) { return a.v op static_cast<T>(b); }           \
  template <class T, class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>                              \
  KOKKOS_INLINE_FUNCTION bool operator op(U a, const Dual<T>& b) { return static_cast<T>(a) op b.v; }
NERNST_DUAL_CMP(<)
NERNST_DUAL_CMP(>)
NERNST_DUAL_CMP(<=)
NERNST_DUAL_CMP(>=)
NERNST_DUAL_CMP(==)
NERNST_DUAL_CMP(!=)
#undef NERNST_DUAL_CMP

template <class T>
std::ostream& operator<<(std::ostream& os, const Dual<T>& x) {
  return os << x.v << "+" << x.d << "e";
}

template <class T>
struct is_dual : std::false_type {};
template <class T>
struct is_dual<Dual<T>> : std::true_type {};
/// True for Dual<T>: code that seeds tangents uses it in `if constexpr`.
template <class T>
inline constexpr bool is_dual_v = is_dual<T>::value;

/// Value part of a plain or dual scalar.
template <class S>
KOKKOS_INLINE_FUNCTION double value_of(const S& x) {
  if constexpr (is_dual_v<S>) return static_cast<double>(x.v);
  else return static_cast<double>(x);
}
/// Tangent part (0 for a plain scalar).
template <class S>
KOKKOS_INLINE_FUNCTION double tangent_of(const S& x) {
  if constexpr (is_dual_v<S>) return static_cast<double>(x.d);
  else return 0.0;
}

// Eigen finds these through ADL (numext::abs etc. fall back to unqualified calls).
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> abs(const Dual<T>& x) { return x.v < T(0) ? -x : x; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> real(const Dual<T>& x) { return x; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> conj(const Dual<T>& x) { return x; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> abs2(const Dual<T>& x) { return x * x; }

}  // namespace nn

namespace nn {
// Elementary functions, in nn so that argument-dependent lookup finds them from templates.

template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> sqrt(const Dual<T>& x) {
  const T s = math::sqrt(x.v);
  return {s, x.d / (T(2) * s)};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> exp(const Dual<T>& x) {
  const T e = math::exp(x.v);
  return {e, e * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> log(const Dual<T>& x) {
  return {math::log(x.v), x.d / x.v};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> sin(const Dual<T>& x) {
  return {math::sin(x.v), math::cos(x.v) * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> cos(const Dual<T>& x) {
  return {math::cos(x.v), -math::sin(x.v) * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> acos(const Dual<T>& x) {
  return {math::acos(x.v), -x.d / math::sqrt(T(1) - x.v * x.v)};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> tanh(const Dual<T>& x) {
  const T t = math::tanh(x.v);
  return {t, (T(1) - t * t) * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> fabs(const Dual<T>& x) {
  return x.v < T(0) ? -x : x;
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> pow(const Dual<T>& x, T y) {
  const T p = math::pow(x.v, y);
  return {p, y * math::pow(x.v, y - T(1)) * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> erf(const Dual<T>& x) {
  constexpr T two_over_sqrt_pi = T(1.12837916709551257389615890312154517);
  return {math::erf(x.v), two_over_sqrt_pi * math::exp(-x.v * x.v) * x.d};
}
template <class T>
KOKKOS_INLINE_FUNCTION Dual<T> erfc(const Dual<T>& x) {
  constexpr T two_over_sqrt_pi = T(1.12837916709551257389615890312154517);
  return {math::erfc(x.v), -two_over_sqrt_pi * math::exp(-x.v * x.v) * x.d};
}

}  // namespace nn

namespace math {
// Qualified calls (math::exp(x)) reach the overloads above; unqualified calls after
// `using math::exp` find them by argument-dependent lookup in nn.
using nn::sqrt;
using nn::exp;
using nn::log;
using nn::sin;
using nn::cos;
using nn::acos;
using nn::tanh;
using nn::fabs;
using nn::pow;
using nn::erf;
using nn::erfc;
}  // namespace math
NERNST_NAMESPACE_END

namespace Eigen {
template <class T>
struct NumTraits<nernst::nn::Dual<T>> : GenericNumTraits<nernst::nn::Dual<T>> {
  using Real = nernst::nn::Dual<T>;
  using NonInteger = nernst::nn::Dual<T>;
  using Nested = nernst::nn::Dual<T>;
  using Literal = nernst::nn::Dual<T>;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 0,
    ReadCost = 2,
    AddCost = 2,
    MulCost = 3
  };
  static inline Real epsilon() { return Real(std::numeric_limits<T>::epsilon()); }
  static inline Real dummy_precision() { return Real(NumTraits<T>::dummy_precision()); }
  static inline Real highest() { return Real(std::numeric_limits<T>::max()); }
  static inline Real lowest() { return Real(std::numeric_limits<T>::lowest()); }
  static inline int digits10() { return NumTraits<T>::digits10(); }
};

namespace internal {
/// Large products of Dual matrices (Eigen's GEMM path, column-major result; row-major results
/// are forwarded here transposed by Eigen): split into value and tangent parts and use the
/// vectorised GEMM of T three times, (A + εA')(B + εB') = AB + ε(A'B + AB'). Eigen's generic
/// kernel on the dual type is several times slower.
template <typename Index, typename T, int LhsStorageOrder, bool ConjugateLhs, int RhsStorageOrder, bool ConjugateRhs,
          int ResInnerStride>
struct general_matrix_matrix_product<Index, nernst::nn::Dual<T>, LhsStorageOrder, ConjugateLhs, nernst::nn::Dual<T>,
                                     RhsStorageOrder, ConjugateRhs, ColMajor, ResInnerStride> {
  using D = nernst::nn::Dual<T>;
  using M = Matrix<T, Dynamic, Dynamic, ColMajor>;
  static void run(Index rows, Index cols, Index depth, const D* lhs, Index lhsStride, const D* rhs, Index rhsStride,
                  D* res, Index resIncr, Index resStride, D alpha, level3_blocking<D, D>& /*blocking*/,
                  GemmParallelInfo<Index>* /*info*/ = 0) {
    thread_local M Lv, Ld, Rv, Rd, Pv, Pd;
    Lv.resize(rows, depth), Ld.resize(rows, depth), Rv.resize(depth, cols), Rd.resize(depth, cols);
    for (Index k = 0; k < depth; ++k)
      for (Index i = 0; i < rows; ++i) {
        const D& x = LhsStorageOrder == ColMajor ? lhs[i + k * lhsStride] : lhs[i * lhsStride + k];
        Lv(i, k) = x.v, Ld(i, k) = x.d;
      }
    for (Index j = 0; j < cols; ++j)
      for (Index k = 0; k < depth; ++k) {
        const D& x = RhsStorageOrder == ColMajor ? rhs[k + j * rhsStride] : rhs[k * rhsStride + j];
        Rv(k, j) = x.v, Rd(k, j) = x.d;
      }
    Pv.noalias() = Lv * Rv;
    Pd.noalias() = Ld * Rv;
    Pd.noalias() += Lv * Rd;
    for (Index j = 0; j < cols; ++j)
      for (Index i = 0; i < rows; ++i) res[i * resIncr + j * resStride] += alpha * D(Pv(i, j), Pd(i, j));
  }
};
}  // namespace internal
}  // namespace Eigen
