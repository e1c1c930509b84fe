#pragma once
/// \file
/// \brief Layer normalisation over the feature dimension of a row batch, with its reverse pass.
///
///     y = (x − mean(x)) / sqrt(var(x) + eps) ⊙ γ + β     (var biased: divide by D)
///
/// PyTorch's `nn.LayerNorm(D)` (eps 1e-5 by default). The forward works in place and keeps
/// x̂ = (x − mean) / σ and 1/σ per row, which is all the reverse pass needs:
///
///     dx = (1/σ) (g − mean(g) − x̂ mean(g ⊙ x̂)),   g = dy ⊙ γ.
///
/// The per-row arithmetic lives in detail::layer_norm_row_forward/backward (KOKKOS_INLINE_FUNCTION):
/// this host LayerNorm and the Kokkos kernel nn::LayerNormKernel (nn/layer_norm_kernel.hpp) both
/// call it, so the two round alike (bitwise on host threads).

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/matrix.hpp>

#include <string>

NERNST_NAMESPACE_BEGIN
namespace nn {

namespace detail {

/// Σ_k f(k) over k < D in eight interleaved partial sums: on host threads the compiler turns them
/// into one vector accumulator (a single running sum is a serial chain of dependent adds). The host
/// LayerNorm and the LayerNorm kernels (nn/layer_norm_kernel.hpp) both sum through here, so both
/// add in the same order and round the same.
template <class Scalar, class F>
KOKKOS_INLINE_FUNCTION Scalar lane_sum(const int D, const F& f) {
  Scalar acc[8] = {Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0)};
  int k = 0;
  for (; k + 8 <= D; k += 8)
    for (int l = 0; l < 8; ++l) acc[l] += f(k + l);
  Scalar s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; k < D; ++k) s += f(k);
  return s;
}

/// The summands of the row sums below, as named functors (a lambda inside a device function is
/// not something every nvcc version accepts). A row is anything with operator[](int): a raw
/// pointer (the host LayerNorm) or a view row (the kernels).
template <class R>
struct LaneValue {
  const R& r;
  KOKKOS_INLINE_FUNCTION auto operator()(const int k) const { return r[k]; }
};
template <class R>
struct LaneSquare {
  const R& r;
  KOKKOS_INLINE_FUNCTION auto operator()(const int k) const { return r[k] * r[k]; }
};
template <class R1, class R2>
struct LaneProduct {
  const R1& a;
  const R2& b;
  KOKKOS_INLINE_FUNCTION auto operator()(const int k) const { return a[k] * b[k]; }
};

/// One row of the LayerNorm forward, in place: x (D features) becomes x̂ ⊙ γ + β, xh receives
/// x̂ = (x − mean)/σ; returns 1/σ. The one arithmetic source of nn::LayerNorm and
/// nn::LayerNormKernel: a kernel's result is bitwise the host's wherever the compiler contracts
/// the same way.
template <class Scalar, class XR, class XHR, class GR, class BR>
KOKKOS_INLINE_FUNCTION Scalar layer_norm_row_forward(const int D, const XR& x, const XHR& xh, const GR& g,
                                                     const BR& be, const Scalar eps) {
  using math::sqrt;  // a Dual scalar finds its own sqrt by argument-dependent lookup
  const Scalar invD = Scalar(1) / Scalar(D);
  const Scalar mean = lane_sum<Scalar>(D, LaneValue<XR>{x}) * invD;
  for (int k = 0; k < D; ++k) xh[k] = x[k] - mean;
  const Scalar r = Scalar(1) / sqrt(lane_sum<Scalar>(D, LaneSquare<XHR>{xh}) * invD + eps);
  for (int k = 0; k < D; ++k) {
    xh[k] *= r;
    x[k] = xh[k] * g[k] + be[k];
  }
  return r;
}

/// One row of the LayerNorm reverse, in place: d (∂/∂output) becomes ∂/∂input,
/// dx = r (g − mean(g) − x̂ mean(g ⊙ x̂)) with g = d ⊙ γ and r = 1/σ of the forward.
template <class Scalar, class DR, class XHR, class GR>
KOKKOS_INLINE_FUNCTION void layer_norm_row_backward(const int D, const DR& d, const XHR& xh, const GR& g,
                                                    const Scalar r) {
  const Scalar invD = Scalar(1) / Scalar(D);
  for (int k = 0; k < D; ++k) d[k] *= g[k];
  const Scalar mg = lane_sum<Scalar>(D, LaneValue<DR>{d}) * invD;
  const Scalar mgx = lane_sum<Scalar>(D, LaneProduct<DR, XHR>{d, xh}) * invD;
  for (int k = 0; k < D; ++k) d[k] = (d[k] - mg - xh[k] * mgx) * r;
}

}  // namespace detail

template <class Scalar>
struct LayerNorm {
  using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
  using Col = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  Row weight;  ///< γ [D]
  Row bias;    ///< β [D]
  Scalar eps = Scalar(1e-5);

  LayerNorm() = default;
  LayerNorm(Row w, Row b, double epsilon = 1e-5) : weight(std::move(w)), bias(std::move(b)), eps(Scalar(epsilon)) {
    if (weight.size() != bias.size())
      throw ValueError("nn::LayerNorm: weight has " + std::to_string(weight.size()) + " entries, bias " +
                       std::to_string(bias.size()));
  }

  Eigen::Index features() const { return weight.size(); }
  bool empty() const { return weight.size() == 0; }

  /// In place: X (rows of D features) becomes LN(X). `xhat` ([B, D]) and `rstd` ([B]) receive
  /// x̂ and 1/σ for the reverse pass.
  template <class RstdRef>
  void forward(StridedMatRef<Scalar> X, StridedMatRef<Scalar> xhat, RstdRef&& rstd) const {
    const int D = static_cast<int>(X.cols());
    const Scalar* g = weight.data();
    const Scalar* be = bias.data();
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      Scalar* x = X.data() + i * X.outerStride();  // rows are contiguous (inner stride 1)
      Scalar* xh = xhat.data() + i * xhat.outerStride();
      rstd(i) = detail::layer_norm_row_forward(D, x, xh, g, be, eps);
    }
  }

  /// In place: dY (gradient w.r.t. the output) becomes dX.
  template <class RstdRef>
  void backward(StridedMatRef<Scalar> dY, const ConstMatRef<Scalar>& xhat, const RstdRef& rstd) const {
    const int D = static_cast<int>(dY.cols());
    const Scalar* g = weight.data();
    for (Eigen::Index i = 0; i < dY.rows(); ++i) {
      Scalar* d = dY.data() + i * dY.outerStride();
      const Scalar* xh = xhat.data() + i * xhat.outerStride();
      const Scalar r = rstd(i);
      detail::layer_norm_row_backward(D, d, xh, g, r);
    }
  }

  /// Training: dγ += Σ_rows dY ⊙ x̂, dβ += Σ_rows dY, with dY the gradient w.r.t. the output
  /// (call before backward(), which overwrites it).
  void accumulate_parameter_gradients(const ConstMatRef<Scalar>& dY, const ConstMatRef<Scalar>& xhat,
                                      LayerNorm& grad) const {
    grad.weight += dY.cwiseProduct(xhat).colwise().sum();
    grad.bias += dY.colwise().sum();
  }

  template <class Other>
  LayerNorm<Other> cast() const {
    LayerNorm<Other> n;
    n.weight = weight.template cast<Other>();
    n.bias = bias.template cast<Other>();
    n.eps = Other(eps);
    return n;
  }
};

/// Forward activations of one LayerNorm application.
template <class Scalar>
struct LayerNormCache {
  RowMatrix<Scalar> xhat;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> rstd;
};

}  // namespace nn
NERNST_NAMESPACE_END
