#pragma once
/// \file
/// \brief nn::LayerNorm as a Kokkos kernel in any execution space, forward and reverse, in place
/// on a [B, D] batch of rows.
///
/// Why: CHGNet's gated MLPs normalise their last pre-activations (nn::GatedMLPKernel's output
/// norms), and a graph network evaluated where the System lives (docs/threads.md, "Device
/// kernels") cannot call the Eigen LayerNorm there. One thread per row: a row's D features are few
/// (CHGNet: 64) and the statistics are sums over the row, so a thread sums its row alone, without
/// atomics or a reduction tree. The per-row arithmetic is nn::LayerNorm's own
/// (detail::layer_norm_row_forward/backward in nn/layer_norm.hpp, eight interleaved partial sums
/// included), so on host threads the result is bitwise the host LayerNorm's, and on a device it
/// differs only where the compiler contracts a multiply and an add into an FMA.
///
/// Memory: the forward keeps x̂ [B, D] and 1/σ [B] (what the reverse needs) in arrays that grow with
/// the batch and are reused; a copy shares γ and β (read only) but not these arrays.

#include <nernst/core/error.hpp>
#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/layer_norm.hpp>

#include <string>
#include <utility>

NERNST_NAMESPACE_BEGIN
namespace nn {

namespace detail {

/// Row i of a rank-2 view as something indexed by [k]: the row type the per-row LayerNorm
/// arithmetic takes. Holds a reference (a view copy per row would count references on host
/// threads).
template <class V>
struct ViewRow {
  const V& v;
  int i;
  KOKKOS_INLINE_FUNCTION decltype(auto) operator[](const int k) const { return v(i, k); }
};

/// Row i: x becomes LN(x); x̂ and 1/σ kept.
template <class XV, class XHV, class RV, class PV, class Scalar>
struct LayerNormForwardKernel {
  XV x;
  XHV xhat;
  RV rstd;
  PV gamma, beta;
  Scalar eps;
  int D;
  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    rstd(i) = layer_norm_row_forward(D, ViewRow<XV>{x, i}, ViewRow<XHV>{xhat, i}, gamma.data(), beta.data(), eps);
  }
};

/// Row i: dy becomes dx.
template <class DV, class XHV, class RV, class PV>
struct LayerNormBackwardKernel {
  DV dy;
  XHV xhat;
  RV rstd;
  PV gamma;
  int D;
  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    layer_norm_row_backward(D, ViewRow<DV>{dy, i}, ViewRow<XHV>{xhat, i}, gamma.data(), rstd(i));
  }
};

}  // namespace detail

template <class Scalar, class ExecutionSpace = Kokkos::DefaultExecutionSpace>
class LayerNormKernel {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using View1 = Kokkos::View<Scalar*, memory_space>;
  using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;

  LayerNormKernel() = default;
  /// Copies γ, β and eps into memory_space (an empty host LayerNorm gives an empty kernel).
  explicit LayerNormKernel(const LayerNorm<Scalar>& host)
      : gamma_("nernst::nn::LayerNormKernel::gamma", host.features()),
        beta_("nernst::nn::LayerNormKernel::beta", host.features()),
        eps_(host.eps) {
    auto g = Kokkos::create_mirror_view(gamma_);
    auto b = Kokkos::create_mirror_view(beta_);
    for (int k = 0; k < features(); ++k) {
      g(k) = host.weight(k);
      b(k) = host.bias(k);
    }
    Kokkos::deep_copy(gamma_, g);
    Kokkos::deep_copy(beta_, b);
  }

  int features() const { return static_cast<int>(gamma_.extent(0)); }
  bool empty() const { return features() == 0; }
  Scalar eps() const { return eps_; }
  /// Rows of the last forward.
  int batch() const { return buf_->batch; }
  /// x̂ and 1/σ of the last forward ([batch, D], [batch]; training: dγ = Σ_rows dY ⊙ x̂).
  auto xhat() const { return Kokkos::subview(buf_->xhat, std::make_pair(0, batch()), Kokkos::ALL); }
  auto rstd() const { return Kokkos::subview(buf_->rstd, std::make_pair(0, batch())); }

  /// In place: X ([B, D], any rank-2 view in memory_space, e.g. a column range of a wider array)
  /// becomes LN(X). Keeps x̂ and 1/σ for backward().
  template <class XV>
  void forward(const ExecutionSpace& space, const XV& X) {
    static_assert(XV::rank == 2, "nn::LayerNormKernel::forward takes a rank-2 view");
    if (empty()) throw ValueError("nn::LayerNormKernel: forward on an empty LayerNorm");
    const int B = static_cast<int>(X.extent(0)), D = features();
    if (static_cast<int>(X.extent(1)) != D)
      throw ValueError("nn::LayerNormKernel: X has " + std::to_string(X.extent(1)) + " columns, the norm " +
                       std::to_string(D) + " features");
    grow(B);
    buf_->batch = B;
    if (B == 0) return;
    using Kernel = detail::LayerNormForwardKernel<XV, View2, View1, View1, Scalar>;
    Kokkos::parallel_for("nernst::nn::LayerNormKernel::forward", Kokkos::RangePolicy<ExecutionSpace>(space, 0, B),
                         Kernel{X, buf_->xhat, buf_->rstd, gamma_, beta_, eps_, D});
  }

  /// In place: dY (∂/∂output of the last forward, [B, D]) becomes ∂/∂input.
  template <class DYV>
  void backward(const ExecutionSpace& space, const DYV& dY) {
    static_assert(DYV::rank == 2, "nn::LayerNormKernel::backward takes a rank-2 view");
    const int B = buf_->batch, D = features();
    if (static_cast<int>(dY.extent(0)) != B || static_cast<int>(dY.extent(1)) != D)
      throw ValueError("nn::LayerNormKernel: backward for dY of " + std::to_string(dY.extent(0)) + " x " +
                       std::to_string(dY.extent(1)) + "; the last forward had " + std::to_string(B) + " rows of " +
                       std::to_string(D) + " features");
    if (B == 0) return;
    using Kernel = detail::LayerNormBackwardKernel<DYV, View2, View1, View1>;
    Kokkos::parallel_for("nernst::nn::LayerNormKernel::backward", Kokkos::RangePolicy<ExecutionSpace>(space, 0, B),
                         Kernel{dY, buf_->xhat, buf_->rstd, gamma_, D});
  }

 private:
  void grow(const int B) {
    auto& b = *buf_;
    if (static_cast<int>(b.xhat.extent(0)) < B || static_cast<int>(b.xhat.extent(1)) != features()) {
      const int cap = B + B / 4 + 16;
      b.xhat = View2(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nernst::nn::LayerNormKernel::xhat"), cap,
                     features());
      b.rstd = View1(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nernst::nn::LayerNormKernel::rstd"), cap);
    }
  }

  View1 gamma_, beta_;
  Scalar eps_ = Scalar(1e-5);
  /// Per-evaluation arrays: x̂ and 1/σ of the last forward.
  struct Buffers {
    View2 xhat;
    View1 rstd;
    int batch = 0;
  };
  FreshOnCopy<Buffers> buf_;
};

}  // namespace nn
NERNST_NAMESPACE_END
