#pragma once
/// \file
/// \brief Plain feed-forward MLP: Linear, SiLU, Linear, SiLU, ..., Linear (no activation after
/// the last layer), with its reverse pass. CHGNet's readout `MLP(in, [h1..hn], out)`.

#include <nernst/core/error.hpp>
#include <nernst/nn/activation.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/nn/matrix.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// Forward activations of one MLP application: per hidden layer SiLU output A and σ(Z).
template <class Scalar>
struct MLPCache {
  std::vector<RowMatrix<Scalar>> A, S;
  std::vector<RowMatrix<Scalar>> dA;  // reverse scratch
  Eigen::Index batch = 0;
};

template <class Scalar>
class MLP {
 public:
  MLP() = default;
  explicit MLP(std::vector<Linear<Scalar>> layers) : layers_(std::move(layers)) {
    if (layers_.empty()) throw ValueError("nn::MLP: needs at least one layer");
    for (std::size_t l = 1; l < layers_.size(); ++l)
      if (layers_[l].in_features() != layers_[l - 1].out_features())
        throw ValueError("nn::MLP: layer " + std::to_string(l) + " input does not match the previous output");
  }

  std::size_t depth() const { return layers_.size(); }
  Eigen::Index in_features() const { return layers_.front().in_features(); }
  Eigen::Index out_features() const { return layers_.back().out_features(); }
  const Linear<Scalar>& layer(std::size_t l) const { return layers_[l]; }
  /// Training only: optimisers write the weights in place.
  Linear<Scalar>& mutable_layer(std::size_t l) { return layers_[l]; }

  /// Y = MLP(X) for a batch X [B, in]; Y is [B, out].
  void forward(const ConstMatRef<Scalar>& X, MLPCache<Scalar>& c, StridedMatRef<Scalar> Y) const {
    const Eigen::Index B = X.rows();
    const std::size_t L = depth();
    c.batch = B;
    c.A.resize(L - 1);
    c.S.resize(L - 1);
    for (std::size_t l = 0; l + 1 < L; ++l) {
      auto A = grow(c.A[l], B, layers_[l].out_features());
      auto S = grow(c.S[l], B, layers_[l].out_features());
      if (l == 0)
        layers_[l].forward(X, A);
      else
        layers_[l].forward(c.A[l - 1].topRows(B), A);
      silu_forward<Scalar>(A, S);
    }
    if (L == 1)
      layers_[0].forward(X, Y);
    else
      layers_[L - 1].forward(c.A[L - 2].topRows(B), Y);
  }

  /// dX = ∂(dY · Y)/∂X for the batch of the last forward (dX overwritten, or added to).
  void backward(const ConstMatRef<Scalar>& dY, MLPCache<Scalar>& c, StridedMatRef<Scalar> dX,
                bool accumulate = false) const {
    const Eigen::Index B = c.batch;
    const std::size_t L = depth();
    if (L == 1) {
      layers_[0].backward(dY, dX, accumulate);
      return;
    }
    c.dA.resize(L - 1);
    for (std::size_t l = 0; l + 1 < L; ++l) grow(c.dA[l], B, layers_[l].out_features());
    layers_[L - 1].backward(dY, c.dA[L - 2].topRows(B));
    for (std::size_t l = L - 1; l-- > 0;) {
      auto dA = c.dA[l].topRows(B);
      silu_backward<Scalar>(dA, c.A[l].topRows(B), c.S[l].topRows(B));
      if (l > 0)
        layers_[l].backward(dA, c.dA[l - 1].topRows(B));
      else
        layers_[0].backward(dA, dX, accumulate);
    }
  }

  template <class Other>
  MLP<Other> cast() const {
    std::vector<Linear<Other>> l;
    for (const auto& x : layers_) l.push_back(x.template cast<Other>());
    return MLP<Other>(std::move(l));
  }

 private:
  std::vector<Linear<Scalar>> layers_;
};

}  // namespace nn
NERNST_NAMESPACE_END
