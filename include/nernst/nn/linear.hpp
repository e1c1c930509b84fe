#pragma once
/// \file
/// \brief Linear layer y = x Wᵀ + b on row-major batches, with its reverse pass.

#include <nernst/core/error.hpp>
#include <nernst/nn/matrix.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// `nn.Linear` semantics: W has shape [out, in] (PyTorch order), b has [out] or is absent.
template <class Scalar>
struct Linear {
  RowMatrix<Scalar> weight;                          ///< [out, in]
  Eigen::Matrix<Scalar, 1, Eigen::Dynamic> bias;     ///< [out], empty when the layer has none

  Linear() = default;
  Linear(RowMatrix<Scalar> w, Eigen::Matrix<Scalar, 1, Eigen::Dynamic> b = {})
      : weight(std::move(w)), bias(std::move(b)) {
    if (bias.size() != 0 && bias.size() != weight.rows())
      throw ValueError("nn::Linear: bias has " + std::to_string(bias.size()) + " entries for " +
                       std::to_string(weight.rows()) + " outputs");
  }

  Eigen::Index in_features() const { return weight.cols(); }
  Eigen::Index out_features() const { return weight.rows(); }
  bool has_bias() const { return bias.size() != 0; }

  /// Y = X Wᵀ + b. Y may be a column block of a wider batch.
  void forward(const ConstMatRef<Scalar>& X, StridedMatRef<Scalar> Y) const {
    // Eigen's `Y = X Wᵀ` zero-fills Y before accumulating; filling it with the bias instead
    // saves a whole pass over Y.
    if (has_bias()) {
      Y.rowwise() = bias;
      Y.noalias() += X * weight.transpose();
    } else {
      Y.noalias() = X * weight.transpose();
    }
  }

  /// dX = dY W (overwrites dX; `accumulate` adds instead).
  void backward(const ConstMatRef<Scalar>& dY, StridedMatRef<Scalar> dX, bool accumulate = false) const {
    if (accumulate)
      dX.noalias() += dY * weight;
    else
      dX.noalias() = dY * weight;
  }

  /// Parameter gradients for training: dW += dYᵀ X, db += Σ_rows dY.
  void accumulate_parameter_gradients(const ConstMatRef<Scalar>& X, const ConstMatRef<Scalar>& dY,
                                      RowMatrix<Scalar>& dW, Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& db) const {
    dW.noalias() += dY.transpose() * X;
    if (has_bias()) db += dY.colwise().sum();
  }

  /// The same layer in another scalar type (weights are stored once in double by loaders).
  template <class Other>
  Linear<Other> cast() const {
    return Linear<Other>(weight.template cast<Other>(), bias.template cast<Other>());
  }
};

}  // namespace nn
NERNST_NAMESPACE_END
