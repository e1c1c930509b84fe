#pragma once
/// \file
/// \brief A gated MLP applied to many rows (edges, angles) one cache-sized block at a time.
///
/// A graph network's per-edge MLPs see tens of thousands of rows. Run layer by layer over all
/// rows, every layer's output would go out to memory and come back for the activation and the
/// next GEMM. Run one block of rows at a time through all layers, the block's activations stay
/// in cache between the GEMMs and the activations that consume them.
///
/// The reverse pass needs every block's activations. They are either kept (one cache per
/// block) or, with `recompute`, thrown away and recomputed from the MLP's inputs right before
/// the block is back-propagated: about a third more dense work, but no rows x (6 x width)
/// activation arrays streamed through memory, which is the better trade once they no longer
/// fit in the last-level cache (see `recompute_plan`).
///
/// The caller supplies the first-layer pre-activations of a block (`pre`: usually node
/// projections gathered per edge plus a GEMM of the edge part), consumes its outputs (`post`),
/// provides the output gradient of a block (`dy`) and receives the first-layer gradient
/// (`dz`). Both models' per-edge and per-angle MLPs (M3GNet's edge and node updates, CHGNet's
/// atom convolutions, bond convolutions and angle updates) go through this one class.

#include <nernst/nn/gated_mlp.hpp>

#include <algorithm>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

template <class Scalar>
class BlockedGatedMLP {
 public:
  /// Rows per block: the block's activations A and σ(Z) and its reverse scratch dA (three
  /// arrays of 2·width per layer) within about 1 MB, which stays in a core's L2.
  static Eigen::Index block_rows(const GatedMLP<Scalar>& G) {
    Eigen::Index per_row = 0;
    for (std::size_t l = 0; l < G.depth(); ++l) per_row += 3 * 2 * G.width(l);
    return std::max<Eigen::Index>(32, Eigen::Index(1 << 20) / (per_row * Eigen::Index(sizeof(Scalar))));
  }

  /// Bytes of activations `rows` rows of G keep for the reverse pass (A and σ(Z) of every layer).
  static double activation_bytes(const GatedMLP<Scalar>& G, Eigen::Index rows) {
    double per_row = 0;
    for (std::size_t l = 0; l < G.depth(); ++l) per_row += 2.0 * 2.0 * double(G.width(l));
    return per_row * double(rows) * double(sizeof(Scalar));
  }

  /// Which of a model's blocked MLPs, run in forward order with `bytes[i]` of activations each,
  /// recompute their activations (true) and which keep them. The reverse pass visits them in
  /// the opposite order, so the last ones run are kept, up to kKeepActivationBytes in all:
  /// their activations are the most recently written, still largely in the last-level cache
  /// when the reverse pass starts; the earlier ones would come back from memory, which costs
  /// more than recomputing them (measured on M3GNet and CHGNet: docs/m3gnet.md, docs/chgnet.md).
  static std::vector<bool> recompute_plan(const std::vector<double>& bytes) {
    std::vector<bool> recompute(bytes.size(), true);
    double kept = 0;
    for (std::size_t i = bytes.size(); i-- > 0;) {
      if (kept + bytes[i] > kKeepActivationBytes) break;
      kept += bytes[i];
      recompute[i] = false;
    }
    return recompute;
  }
  static constexpr double kKeepActivationBytes = 56.0 * (1 << 20);

  /// Forward over `rows` rows. `pre(Z1, r0, n)` writes the first-layer pre-activations of rows
  /// [r0, r0 + n) into Z1 ([n, 2·width(0)]); `post(cache, r0, n)` then consumes the block
  /// (`G.output(cache)` is its output).
  template <class Pre, class Post>
  void forward(const GatedMLP<Scalar>& G, Eigen::Index rows, bool recompute, Pre&& pre, Post&& post) {
    forward(G, 0, rows, recompute, pre, post);
  }

  /// Forward over rows [row_begin, row_end) only (one thread's chunk of a batch; each chunk has
  /// its own BlockedGatedMLP). `pre` and `post` see absolute row numbers.
  template <class Pre, class Post>
  void forward(const GatedMLP<Scalar>& G, Eigen::Index row_begin, Eigen::Index row_end, bool recompute, Pre&& pre,
               Post&& post) {
    begin_ = row_begin;
    rows_ = row_end - row_begin;
    recompute_ = recompute;
    block_ = block_rows(G);
    if (!recompute_) kept_.resize(static_cast<std::size_t>((rows_ + block_ - 1) / block_));
    for (Eigen::Index r = 0; r < rows_; r += block_) {
      const Eigen::Index n = std::min(block_, rows_ - r);
      auto& c = recompute_ ? work_ : kept_[static_cast<std::size_t>(r / block_)];
      run_forward(G, c, begin_ + r, n, pre);
      post(static_cast<const GatedMLPCache<Scalar>&>(c), begin_ + r, n);
    }
  }

  /// Reverse over the rows of the last forward, block by block. `pre` must give the same
  /// pre-activations as in the forward (it is called again when activations are recomputed).
  /// `dy(cache, r0, n)` returns the output gradient of the block (a ConstMatRef to [n, out]
  /// that stays valid until `dz` returns); `dz(dZ1, cache, r0, n)` receives the gradient of
  /// the block's first-layer pre-activations. With `grad`, the parameter gradients of the
  /// layers after the first are added to it (the first layer's input is the caller's).
  template <class Pre, class DY, class DZ>
  void backward(const GatedMLP<Scalar>& G, Pre&& pre, DY&& dy, DZ&& dz, GatedMLPScratch<Scalar>& s,
                GatedMLP<Scalar>* grad = nullptr) {
    for (Eigen::Index r = 0; r < rows_; r += block_) {
      const Eigen::Index n = std::min(block_, rows_ - r);
      const Eigen::Index r0 = begin_ + r;
      if (recompute_) run_forward(G, work_, r0, n, pre);
      const auto& c = recompute_ ? work_ : kept_[static_cast<std::size_t>(r / block_)];
      const ConstMatRef<Scalar> dY = dy(c, r0, n);
      auto dZ1 = G.backward_tail(dY, c, s);
      if (grad) G.accumulate_tail_gradients(dY, c, s, *grad);
      dz(ConstMatRef<Scalar>(dZ1), c, r0, n);
    }
  }

  bool recomputes() const { return recompute_; }

 private:
  template <class Pre>
  void run_forward(const GatedMLP<Scalar>& G, GatedMLPCache<Scalar>& c, Eigen::Index r0, Eigen::Index n, Pre& pre) {
    auto Z1 = G.first_preactivation(c, n);
    pre(Z1, r0, n);
    G.forward_tail(c);
  }

  std::vector<GatedMLPCache<Scalar>> kept_;  // one per block, when activations are kept
  GatedMLPCache<Scalar> work_;               // the block being (re)computed, when they are not
  Eigen::Index begin_ = 0, rows_ = 0, block_ = 1;
  bool recompute_ = false;
};

}  // namespace nn
NERNST_NAMESPACE_END
