#pragma once
/// \file
/// \brief matgl's gated MLP (nn::GatedMLP) as Kokkos kernels in any execution space, forward and
/// reverse: y = core(x) ⊙ gate(x), each branch a stack of dense layers (nn/dense_kernel.hpp).
///
/// The device counterpart of nn::GatedMLP for graph networks evaluated where the System lives
/// (docs/threads.md, "Device kernels"): M3GNet's three-body, convolution and readout MLPs are gated
/// MLPs. Same semantics: inner layers SiLU on both branches; the last layer SiLU on the core branch
/// only with `activate_last`, σ on the gate branch. CHGNet's output norms (gMLP_norm) as in
/// nn::GatedMLP: a LayerNorm (nn/layer_norm_kernel.hpp) on each branch's last pre-activation,
/// before that branch's activation, y = act(N1(core)) ⊙ σ(N2(gate)).
///
/// Memory: the forward keeps every layer's pre-activations Z and activations A ([B, 2·width]: core
/// columns first, then gate) in views that grow with the batch and are reused; with output norms
/// the last layer's Z is normalised in place (it is then the activation's input, which is what the
/// activation's reverse needs) and the norms keep their x̂ and 1/σ. The reverse needs nothing else.
/// A copy shares the weights (read only) but not these arrays. Every kernel sums in a
/// fixed order (see dense_kernel.hpp), so a result is bitwise the same on every run and at any
/// thread count.

#include <nernst/core/error.hpp>
#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/dense_kernel.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/layer_norm_kernel.hpp>

#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

namespace detail {

/// Y(r, j) = A(r, j) · A(r, h + j): core output times gate output.
template <class AV, class YV>
struct GateProductKernel {
  AV a;
  YV y;
  int h;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const { y(r, j) = a(r, j) * a(r, h + j); }
};

/// Reverse of the gate product: dA(r, j) = dY(r, j) · A(r, h + j),
/// dA(r, h + j) = dY(r, j) · A(r, j).
template <class AV, class DYV, class DAV>
struct GateProductReverseKernel {
  AV a;
  DYV dy;
  DAV da;
  int h;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const {
    da(r, j) = dy(r, j) * a(r, h + j);
    da(r, h + j) = dy(r, j) * a(r, j);
  }
};

}  // namespace detail

template <class Scalar, class ExecutionSpace = Kokkos::DefaultExecutionSpace>
class GatedMLPKernel {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;

  GatedMLPKernel() = default;
  explicit GatedMLPKernel(const GatedMLP<Scalar>& host) : activate_last_(host.activate_last()) {
    if (host.has_output_norms()) {
      norm_core_ = LayerNormKernel<Scalar, ExecutionSpace>(host.norm_core());
      norm_gate_ = LayerNormKernel<Scalar, ExecutionSpace>(host.norm_gate());
    }
    for (std::size_t l = 0; l < host.depth(); ++l) {
      core_.emplace_back(host.layer(l));
      gate_.emplace_back(host.gate(l));
    }
  }

  std::size_t depth() const { return core_.size(); }
  int in_features() const { return core_.front().in_features(); }
  int out_features() const { return core_.back().out_features(); }
  int width(std::size_t l) const { return core_[l].out_features(); }
  /// Whether the last layer's pre-activations pass through LayerNorms (CHGNet's gMLP_norm).
  bool has_output_norms() const { return !norm_core_.empty(); }

  /// Y = core(X) ⊙ gate(X) for X [B, in]; Y [B, out]. Keeps what backward() needs.
  template <class XV, class YV>
  void forward(const ExecutionSpace& space, const XV& X, const YV& Y) {
    const int B = static_cast<int>(X.extent(0));
    size_batch(B);
    layer_forward(space, 0, X, X);
    layers_after_first(space, Y);
  }

  /// For a caller that computes the first layer's pre-activations itself (M3GNet's convolutions:
  /// per-atom projections gathered per edge, as nn::GatedMLP::first_preactivation): sizes the
  /// buffers for a batch of B rows and returns where they go ([B, 2·width(0)]: the core branch's
  /// columns, then the gate's). Fill it, then call forward_tail().
  auto first_preactivation(const int B) {
    size_batch(B);
    return rows(buf_->z[0], B);
  }

  /// Continues forward() from the first-layer pre-activations in first_preactivation().
  template <class YV>
  void forward_tail(const ExecutionSpace& space, const YV& Y) {
    activate(space, 0);
    layers_after_first(space, Y);
  }

  /// dX = ∂(Σ dY ⊙ Y)/∂X for the last forward (dX += … with `accumulate`). dY [B, out], dX [B, in].
  template <class DYV, class DXV>
  void backward(const ExecutionSpace& space, const DYV& dY, const DXV& dX, const bool accumulate = false) {
    const int B = buf_->batch;
    if (static_cast<int>(dX.extent(0)) != B || static_cast<int>(dX.extent(1)) != in_features())
      throw ValueError("nn::GatedMLPKernel: backward into " + std::to_string(dX.extent(0)) + " x " +
                       std::to_string(dX.extent(1)) + "; the last forward had " + std::to_string(B) + " rows of " +
                       std::to_string(in_features()) + " inputs");
    backward_tail(space, dY);
    const auto& da = buf_->da;
    dense_input_gradient(space, half(da[0], B, 0, 0), core_[0], dX, accumulate);
    dense_input_gradient(space, half(da[0], B, 0, 1), gate_[0], dX, true);
  }

  /// Reverse pass to the first layer's pre-activations: returns dZ1 ([B, 2·width(0)], core columns
  /// then gate; valid until the next backward), as nn::GatedMLP::backward_tail.
  template <class DYV>
  auto backward_tail(const ExecutionSpace& space, const DYV& dY) {
    const int B = buf_->batch;
    const auto& z = buf_->z;
    const auto& a = buf_->a;
    auto& da = buf_->da;
    if (static_cast<int>(dY.extent(0)) != B || static_cast<int>(dY.extent(1)) != out_features())
      throw ValueError("nn::GatedMLPKernel: backward for " + std::to_string(dY.extent(0)) + " x " +
                       std::to_string(dY.extent(1)) + " output gradients; the last forward had " + std::to_string(B) +
                       " rows of " + std::to_string(out_features()) + " outputs");
    const std::size_t L = depth();
    da.resize(L);
    for (std::size_t l = 0; l < L; ++l) grow(da[l], B, 2 * width(l));
    {
      const int h = out_features();
      const auto A = rows(a[L - 1], B);
      const auto dA = rows(da[L - 1], B);
      Kokkos::parallel_for("nernst::nn::GatedMLPKernel::output_reverse", matrix_policy(space, B, h),
                           detail::GateProductReverseKernel<decltype(A), DYV, decltype(dA)>{A, dY, dA, h});
    }
    for (std::size_t l = L; l-- > 0;) {
      // dZ overwrites dA in place (the activations' reverse is element by element; z holds the
      // activations' inputs, after the norms where there are norms).
      activation_reverse(space, activation(l, 0), half(z[l], B, l, 0), half(da[l], B, l, 0), half(da[l], B, l, 0));
      activation_reverse(space, activation(l, 1), half(z[l], B, l, 1), half(da[l], B, l, 1), half(da[l], B, l, 1));
      if (normed(l)) {  // through the norms to the dense layer's pre-activations, in place
        norm_core_.backward(space, half(da[l], B, l, 0));
        norm_gate_.backward(space, half(da[l], B, l, 1));
      }
      if (l == 0) break;
      dense_input_gradient(space, half(da[l], B, l, 0), core_[l], half(da[l - 1], B, l - 1, 0));
      dense_input_gradient(space, half(da[l], B, l, 1), gate_[l], half(da[l - 1], B, l - 1, 1));
    }
    return rows(da[0], B);
  }

 private:
  /// Activation of layer l's core (branch 0) or gate (branch 1): SiLU inside; on the last layer SiLU
  /// on the core only with activate_last, σ on the gate.
  Activation activation(const std::size_t l, const int branch) const {
    const bool last = l + 1 == depth();
    if (branch == 1) return last ? Activation::sigmoid : Activation::silu;
    return !last || activate_last_ ? Activation::silu : Activation::identity;
  }

  /// Whether layer l's pre-activations are normalised (the last layer's, with output norms).
  bool normed(const std::size_t l) const { return has_output_norms() && l + 1 == depth(); }

  /// Layer l from its inputs (core branch, gate branch): Z = dense, then the norms and the
  /// activation. Without norms the dense kernel applies the activation itself (one pass fewer).
  template <class XCV, class XGV>
  void layer_forward(const ExecutionSpace& space, const std::size_t l, const XCV& Xc, const XGV& Xg) {
    const int B = buf_->batch;
    const auto& z = buf_->z;
    const auto& a = buf_->a;
    if (normed(l)) {
      dense_forward(space, Xc, core_[l], half(z[l], B, l, 0), View2(), Activation::identity);
      dense_forward(space, Xg, gate_[l], half(z[l], B, l, 1), View2(), Activation::identity);
      activate(space, l);
    } else {
      dense_forward(space, Xc, core_[l], half(z[l], B, l, 0), half(a[l], B, l, 0), activation(l, 0));
      dense_forward(space, Xg, gate_[l], half(z[l], B, l, 1), half(a[l], B, l, 1), activation(l, 1));
    }
  }

  /// A = act(Z) for layer l whose Z is in place, normalising Z first (in place) on a normed layer.
  void activate(const ExecutionSpace& space, const std::size_t l) {
    const int B = buf_->batch;
    const auto& z = buf_->z;
    const auto& a = buf_->a;
    if (normed(l)) {
      norm_core_.forward(space, half(z[l], B, l, 0));
      norm_gate_.forward(space, half(z[l], B, l, 1));
    }
    activation_forward(space, activation(l, 0), half(z[l], B, l, 0), half(a[l], B, l, 0));
    activation_forward(space, activation(l, 1), half(z[l], B, l, 1), half(a[l], B, l, 1));
  }

  void size_batch(const int B) {
    auto& z = buf_->z;
    auto& a = buf_->a;
    buf_->batch = B;
    z.resize(depth());
    a.resize(depth());
    for (std::size_t l = 0; l < depth(); ++l) {
      grow(z[l], B, 2 * width(l));
      grow(a[l], B, 2 * width(l));
    }
  }

  /// Layers 1, 2, … from layer 0's activations, then Y = core ⊙ gate.
  template <class YV>
  void layers_after_first(const ExecutionSpace& space, const YV& Y) {
    const int B = buf_->batch;
    if (static_cast<int>(Y.extent(0)) != B || static_cast<int>(Y.extent(1)) != out_features())
      throw ValueError("nn::GatedMLPKernel: Y is " + std::to_string(Y.extent(0)) + " x " + std::to_string(Y.extent(1)) +
                       ", expected " + std::to_string(B) + " x " + std::to_string(out_features()));
    const auto& a = buf_->a;
    for (std::size_t l = 1; l < depth(); ++l)
      layer_forward(space, l, half(a[l - 1], B, l - 1, 0), half(a[l - 1], B, l - 1, 1));
    const int h = out_features();
    const auto A = rows(a.back(), B);
    Kokkos::parallel_for("nernst::nn::GatedMLPKernel::output", matrix_policy(space, B, h),
                         detail::GateProductKernel<decltype(A), YV>{A, Y, h});
  }

  static void grow(View2& v, const int rows, const int cols) {
    if (static_cast<int>(v.extent(0)) < rows || static_cast<int>(v.extent(1)) != cols)
      v = View2(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nernst::nn::GatedMLPKernel::activations"),
                rows + rows / 4 + 16, cols);
  }
  static auto rows(const View2& v, const int B) { return Kokkos::subview(v, std::make_pair(0, B), Kokkos::ALL); }
  /// Rows [0, B) and the core (branch 0) or gate (branch 1) columns of layer l's array.
  auto half(const View2& v, const int B, const std::size_t l, const int branch) const {
    const int h = width(l);
    return Kokkos::subview(v, std::make_pair(0, B), std::make_pair(branch * h, (branch + 1) * h));
  }

  std::vector<DenseWeights<Scalar, memory_space>> core_, gate_;
  /// Output norms of the core and gate branches (empty: none). Each keeps its own x̂, 1/σ.
  LayerNormKernel<Scalar, ExecutionSpace> norm_core_, norm_gate_;
  /// Per-evaluation arrays: pre-activations, activations and their adjoints per layer.
  struct Buffers {
    std::vector<View2> z, a, da;
    int batch = 0;
  };
  FreshOnCopy<Buffers> buf_;
  bool activate_last_ = false;
};

}  // namespace nn
NERNST_NAMESPACE_END
