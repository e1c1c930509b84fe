#pragma once
/// \file
/// \brief nn::MLP (Linear, SiLU, …, Linear; no activation after the last layer) as Kokkos kernels
/// in any execution space, forward and reverse.
///
/// Why: CHGNet's readout is a plain MLP, and a graph network evaluated where the System lives
/// (docs/threads.md, "Device kernels") needs it there. Built from the dense-layer kernels
/// (nn/dense_kernel.hpp), so it inherits their determinism: a result is bitwise the same on every
/// run and at any thread count.
///
/// Memory: the forward keeps each hidden layer's pre-activations Z (the SiLU's reverse needs them)
/// and activations A (the next layer's input) in views that grow with the batch and are reused, and
/// the reverse its adjoints; a copy shares the weights (read only) but not these arrays.

#include <nernst/core/error.hpp>
#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/dense_kernel.hpp>
#include <nernst/nn/mlp.hpp>

#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

template <class Scalar, class ExecutionSpace = Kokkos::DefaultExecutionSpace>
class MLPKernel {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;

  MLPKernel() = default;
  explicit MLPKernel(const MLP<Scalar>& host) {
    for (std::size_t l = 0; l < host.depth(); ++l) layers_.emplace_back(host.layer(l));
  }

  std::size_t depth() const { return layers_.size(); }
  int in_features() const { return layers_.front().in_features(); }
  int out_features() const { return layers_.back().out_features(); }
  int width(const std::size_t l) const { return layers_[l].out_features(); }

  /// Y = MLP(X) for X [B, in]; Y [B, out]. Keeps what backward() needs.
  template <class XV, class YV>
  void forward(const ExecutionSpace& space, const XV& X, const YV& Y) {
    const int B = static_cast<int>(X.extent(0));
    if (static_cast<int>(X.extent(1)) != in_features())
      throw ValueError("nn::MLPKernel: X has " + std::to_string(X.extent(1)) + " columns, the MLP " +
                       std::to_string(in_features()) + " inputs");
    if (static_cast<int>(Y.extent(0)) != B || static_cast<int>(Y.extent(1)) != out_features())
      throw ValueError("nn::MLPKernel: Y is " + std::to_string(Y.extent(0)) + " x " + std::to_string(Y.extent(1)) +
                       ", expected " + std::to_string(B) + " x " + std::to_string(out_features()));
    size_batch(B);
    const std::size_t L = depth();
    if (L == 1) {
      dense_forward(space, X, layers_[0], Y, View2(), Activation::identity);
      return;
    }
    const auto& z = buf_->z;
    const auto& a = buf_->a;
    dense_forward(space, X, layers_[0], rows(z[0], B), rows(a[0], B), Activation::silu);
    for (std::size_t l = 1; l + 1 < L; ++l)
      dense_forward(space, rows(a[l - 1], B), layers_[l], rows(z[l], B), rows(a[l], B), Activation::silu);
    dense_forward(space, rows(a[L - 2], B), layers_[L - 1], Y, View2(), Activation::identity);
  }

  /// dX = ∂(Σ dY ⊙ Y)/∂X for the last forward (dX += … with `accumulate`). dY [B, out], dX [B, in].
  template <class DYV, class DXV>
  void backward(const ExecutionSpace& space, const DYV& dY, const DXV& dX, const bool accumulate = false) {
    const int B = buf_->batch;
    if (static_cast<int>(dY.extent(0)) != B || static_cast<int>(dY.extent(1)) != out_features())
      throw ValueError("nn::MLPKernel: backward for " + std::to_string(dY.extent(0)) + " x " +
                       std::to_string(dY.extent(1)) + " output gradients; the last forward had " + std::to_string(B) +
                       " rows of " + std::to_string(out_features()) + " outputs");
    if (static_cast<int>(dX.extent(0)) != B || static_cast<int>(dX.extent(1)) != in_features())
      throw ValueError("nn::MLPKernel: backward into " + std::to_string(dX.extent(0)) + " x " +
                       std::to_string(dX.extent(1)) + "; the last forward had " + std::to_string(B) + " rows of " +
                       std::to_string(in_features()) + " inputs");
    const std::size_t L = depth();
    if (L == 1) {
      dense_input_gradient(space, dY, layers_[0], dX, accumulate);
      return;
    }
    const auto& z = buf_->z;
    auto& da = buf_->da;
    da.resize(L - 1);
    for (std::size_t l = 0; l + 1 < L; ++l) grow(da[l], B, width(l));
    dense_input_gradient(space, dY, layers_[L - 1], rows(da[L - 2], B));
    for (std::size_t l = L - 1; l-- > 0;) {
      const auto dA = rows(da[l], B);
      activation_reverse(space, Activation::silu, rows(z[l], B), dA, dA);  // dZ overwrites dA
      if (l > 0)
        dense_input_gradient(space, dA, layers_[l], rows(da[l - 1], B));
      else
        dense_input_gradient(space, dA, layers_[0], dX, accumulate);
    }
  }

 private:
  /// Sizes the hidden layers' arrays for a batch of B rows (the last layer writes Y directly).
  void size_batch(const int B) {
    auto& z = buf_->z;
    auto& a = buf_->a;
    buf_->batch = B;
    const std::size_t hidden = depth() - 1;
    z.resize(hidden);
    a.resize(hidden);
    for (std::size_t l = 0; l < hidden; ++l) {
      grow(z[l], B, width(l));
      grow(a[l], B, width(l));
    }
  }

  static void grow(View2& v, const int rows, const int cols) {
    if (static_cast<int>(v.extent(0)) < rows || static_cast<int>(v.extent(1)) != cols)
      v = View2(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nernst::nn::MLPKernel::activations"),
                rows + rows / 4 + 16, cols);
  }
  static auto rows(const View2& v, const int B) { return Kokkos::subview(v, std::make_pair(0, B), Kokkos::ALL); }

  std::vector<DenseWeights<Scalar, memory_space>> layers_;
  /// Per-evaluation arrays of the hidden layers: pre-activations, activations, their adjoints.
  struct Buffers {
    std::vector<View2> z, a, da;
    int batch = 0;
  };
  FreshOnCopy<Buffers> buf_;
};

}  // namespace nn
NERNST_NAMESPACE_END
