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

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/matrix.hpp>

#include <string>

NERNST_NAMESPACE_BEGIN
namespace nn {

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
    using math::sqrt;
    const Eigen::Index D = X.cols();
    const Scalar invD = Scalar(1) / Scalar(D);
    const Scalar* g = weight.data();
    const Scalar* be = bias.data();
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      Scalar* x = X.data() + i * X.outerStride();  // rows are contiguous (inner stride 1)
      Scalar* xh = xhat.data() + i * xhat.outerStride();
      const Scalar mean = lane_sum(D, [x](Eigen::Index k) { return x[k]; }) * invD;
      for (Eigen::Index k = 0; k < D; ++k) xh[k] = x[k] - mean;
      const Scalar r = Scalar(1) / sqrt(lane_sum(D, [xh](Eigen::Index k) { return xh[k] * xh[k]; }) * invD + eps);
      rstd(i) = r;
      for (Eigen::Index k = 0; k < D; ++k) {
        xh[k] *= r;
        x[k] = xh[k] * g[k] + be[k];
      }
    }
  }

  /// In place: dY (gradient w.r.t. the output) becomes dX.
  template <class RstdRef>
  void backward(StridedMatRef<Scalar> dY, const ConstMatRef<Scalar>& xhat, const RstdRef& rstd) const {
    const Eigen::Index D = dY.cols();
    const Scalar invD = Scalar(1) / Scalar(D);
    const Scalar* g = weight.data();
    for (Eigen::Index i = 0; i < dY.rows(); ++i) {
      Scalar* d = dY.data() + i * dY.outerStride();
      const Scalar* xh = xhat.data() + i * xhat.outerStride();
      for (Eigen::Index k = 0; k < D; ++k) d[k] *= g[k];
      const Scalar mg = lane_sum(D, [d](Eigen::Index k) { return d[k]; }) * invD;
      const Scalar mgx = lane_sum(D, [d, xh](Eigen::Index k) { return d[k] * xh[k]; }) * invD;
      const Scalar r = rstd(i);
      for (Eigen::Index k = 0; k < D; ++k) d[k] = (d[k] - mg - xh[k] * mgx) * r;
    }
  }

  /// Training: dγ += Σ_rows dY ⊙ x̂, dβ += Σ_rows dY, with dY the gradient w.r.t. the output
  /// (call before backward(), which overwrites it).
  void accumulate_parameter_gradients(const ConstMatRef<Scalar>& dY, const ConstMatRef<Scalar>& xhat,
                                      LayerNorm& grad) const {
    grad.weight += dY.cwiseProduct(xhat).colwise().sum();
    grad.bias += dY.colwise().sum();
  }

  /// Σ_k f(k) over k < D in eight interleaved partial sums: the compiler turns them into one
  /// vector accumulator (a single running sum is a serial chain of dependent adds).
  template <class F>
  static Scalar lane_sum(Eigen::Index D, F&& f) {
    Scalar acc[8] = {Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0), Scalar(0)};
    Eigen::Index k = 0;
    for (; k + 8 <= D; k += 8)
      for (int l = 0; l < 8; ++l) acc[l] += f(k + l);
    Scalar s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; k < D; ++k) s += f(k);
    return s;
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
