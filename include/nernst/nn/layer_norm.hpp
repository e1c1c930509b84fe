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
  using Array = Eigen::Array<Scalar, 1, Eigen::Dynamic>;

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
  /// x̂ and 1/σ for the reverse pass. Row sums go through Eigen's reductions, which vectorise
  /// (a plain `sum += x[k]` loop is one serial chain of dependent adds).
  template <class RstdRef>
  void forward(StridedMatRef<Scalar> X, StridedMatRef<Scalar> xhat, RstdRef&& rstd) const {
    using math::sqrt;
    const Eigen::Index D = X.cols();
    const Scalar invD = Scalar(1) / Scalar(D);
    const auto g = weight.array();
    const auto be = bias.array();
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      Eigen::Map<Array> x(X.row(i).data(), D);  // rows are contiguous (inner stride 1)
      Eigen::Map<Array> xh(xhat.row(i).data(), D);
      const Scalar mean = x.sum() * invD;
      xh = x - mean;
      const Scalar r = Scalar(1) / sqrt(xh.square().sum() * invD + eps);
      rstd(i) = r;
      xh *= r;
      x = xh * g + be;
    }
  }

  /// In place: dY (gradient w.r.t. the output) becomes dX.
  template <class RstdRef>
  void backward(StridedMatRef<Scalar> dY, const ConstMatRef<Scalar>& xhat, const RstdRef& rstd) const {
    const Eigen::Index D = dY.cols();
    const Scalar invD = Scalar(1) / Scalar(D);
    const auto g = weight.array();
    for (Eigen::Index i = 0; i < dY.rows(); ++i) {
      Eigen::Map<Array> d(dY.row(i).data(), D);
      Eigen::Map<const Array> xh(xhat.row(i).data(), D);
      d *= g;
      const Scalar mg = d.sum() * invD;
      const Scalar mgx = (d * xh).sum() * invD;
      d = (d - mg - xh * mgx) * rstd(i);
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
