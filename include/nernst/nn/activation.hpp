#pragma once
/// \file
/// \brief SiLU and sigmoid: scalar forms (usable in kernels) and batch forms with their
/// reverse passes.
///
/// The batch forms keep what the reverse pass needs: S = σ(Z) next to the activation A, so that
///   SiLU:    A = Z σ(Z),   dZ = dA ⊙ (S + A ⊙ (1 − S))
///   sigmoid: A = σ(Z),     dZ = dA ⊙ S ⊙ (1 − S)
/// need no second exponential. For float and double the batch forms use Eigen's vectorised
/// exp; other scalars (a dual number) go through nernst::math::exp found by overload.

#include <nernst/core/kokkos.hpp>
#include <nernst/nn/matrix.hpp>

#include <type_traits>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// σ(x) = 1 / (1 + e^(−x)).
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar sigmoid(const Scalar& x) {
  using math::exp;
  return Scalar(1) / (Scalar(1) + exp(-x));
}

/// SiLU (swish) x σ(x).
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar silu(const Scalar& x) {
  return x * sigmoid(x);
}

/// d SiLU / dx = σ(x) (1 + x (1 − σ(x))).
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar silu_derivative(const Scalar& x) {
  const Scalar s = sigmoid(x);
  return s * (Scalar(1) + x * (Scalar(1) - s));
}

namespace detail {
template <class Scalar>
inline constexpr bool eigen_fast_exp_v = std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>;

/// True when a batch block is one contiguous run of rows·cols scalars (full-width row blocks).
template <class M>
bool contiguous(const M& m) {
  return m.outerStride() == m.cols() || m.rows() <= 1;
}

/// The contiguous block as a flat array (only when `contiguous(m)`).
template <class Scalar, class M>
auto flat(M& m) {
  return Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>(m.data(), m.rows() * m.cols());
}
template <class Scalar, class M>
auto flat_const(const M& m) {
  return Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(m.data(), m.rows() * m.cols());
}
}  // namespace detail

/// In place: on entry `A` holds pre-activations Z; on exit A = σ(Z). Nothing else is needed for
/// the reverse pass (it uses A itself).
template <class Scalar>
void sigmoid_forward(StridedMatRef<Scalar> A) {
  if constexpr (detail::eigen_fast_exp_v<Scalar>) {
    if (detail::contiguous(A)) {
      auto a = detail::flat<Scalar>(A);
      a = (Scalar(1) + (-a).exp()).inverse();
      return;
    }
    for (Eigen::Index i = 0; i < A.rows(); ++i)
      A.row(i).array() = (Scalar(1) + (-A.row(i).array()).exp()).inverse();
  } else {
    A = A.unaryExpr([](const Scalar& z) { return sigmoid(z); });
  }
}

/// In place: on entry `A` holds Z; on exit A = SiLU(Z) and S = σ(Z). Full-width blocks (the
/// common case: both branches of an inner gated-MLP layer at once) run as one flat vector loop.
template <class Scalar>
void silu_forward(StridedMatRef<Scalar> A, StridedMatRef<Scalar> S) {
  if constexpr (detail::eigen_fast_exp_v<Scalar>) {
    if (detail::contiguous(A) && detail::contiguous(S)) {
      auto a = detail::flat<Scalar>(A);
      auto s = detail::flat<Scalar>(S);
      s = (Scalar(1) + (-a).exp()).inverse();
      a *= s;
      return;
    }
    for (Eigen::Index i = 0; i < A.rows(); ++i) {
      S.row(i).array() = (Scalar(1) + (-A.row(i).array()).exp()).inverse();
      A.row(i).array() *= S.row(i).array();
    }
  } else {
    S = A.unaryExpr([](const Scalar& z) { return sigmoid(z); });
    A.array() *= S.array();
  }
}

/// In place: dA (gradient w.r.t. the SiLU output) becomes dZ.
template <class Scalar>
void silu_backward(StridedMatRef<Scalar> dA, const ConstMatRef<Scalar>& A, const ConstMatRef<Scalar>& S) {
  if (detail::contiguous(dA) && detail::contiguous(A) && detail::contiguous(S)) {
    auto d = detail::flat<Scalar>(dA);
    const auto a = detail::flat_const<Scalar>(A);
    const auto s = detail::flat_const<Scalar>(S);
    d *= s + a * (Scalar(1) - s);
    return;
  }
  for (Eigen::Index i = 0; i < dA.rows(); ++i)
    dA.row(i).array() *= S.row(i).array() + A.row(i).array() * (Scalar(1) - S.row(i).array());
}

/// In place: dA (gradient w.r.t. the sigmoid output A) becomes dZ.
template <class Scalar>
void sigmoid_backward(StridedMatRef<Scalar> dA, const ConstMatRef<Scalar>& A) {
  if (detail::contiguous(dA) && detail::contiguous(A)) {
    auto d = detail::flat<Scalar>(dA);
    const auto a = detail::flat_const<Scalar>(A);
    d *= a * (Scalar(1) - a);
    return;
  }
  for (Eigen::Index i = 0; i < dA.rows(); ++i)
    dA.row(i).array() *= A.row(i).array() * (Scalar(1) - A.row(i).array());
}

}  // namespace nn
NERNST_NAMESPACE_END
