#pragma once
/// \file
/// \brief Gated MLP (matgl's GatedMLP): two MLP branches on the same input, multiplied.
///
///     branch 1: h = x; per layer: h = Lin(h); SiLU   (no SiLU after the last unless activate_last)
///     branch 2: g = x; per layer: g = Lin(g); SiLU on inner layers, σ on the last
///     y = h ⊙ g
///
/// Both branches' first layers are stored concatenated ([2·h1, in]) so one GEMM computes them,
/// and the forward can start from precomputed first-layer pre-activations (`forward_tail`): a
/// graph network whose input is [v_src, v_dst, e] projects the node parts once per node and
/// adds them per edge instead of multiplying a 192-wide input per edge.
///
/// The cache keeps, per layer, A (activation output, both branches side by side) and S = σ(Z),
/// which is all the reverse pass needs.
///
/// Optional output norms (CHGNet's gMLP_norm): a LayerNorm on each branch's last
/// pre-activation, before its activation: y = act(N1(core)) ⊙ σ(N2(gate)). The cache then also
/// keeps x̂ and 1/σ of both norms.

#include <nernst/core/error.hpp>
#include <nernst/nn/activation.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/nn/matrix.hpp>

#include <cstdint>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// Forward activations of one GatedMLP application (reused between evaluations).
template <class Scalar>
struct GatedMLPCache {
  std::vector<RowMatrix<Scalar>> A;  ///< per layer [B, 2·width]: [branch 1 | branch 2] outputs
  std::vector<RowMatrix<Scalar>> S;  ///< per layer σ(Z), same shape
  RowMatrix<Scalar> xhat;            ///< [B, 2·out] normalised last pre-activations (output norms only)
  RowMatrix<Scalar> rstd;            ///< [B, 2] 1/σ of both branches (output norms only)
  Eigen::Index batch = 0;
};

/// Reverse-pass scratch (shared by all applications of all gated MLPs of a model).
template <class Scalar>
struct GatedMLPScratch {
  std::vector<RowMatrix<Scalar>> dA;
};

template <class Scalar>
class GatedMLP {
 public:
  using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  GatedMLP() = default;

  /// From the two branches' layers (same shapes), in order. All layers must have biases or none.
  GatedMLP(std::vector<Linear<Scalar>> layers, std::vector<Linear<Scalar>> gates, bool activate_last)
      : activate_last_(activate_last) {
    if (layers.empty() || layers.size() != gates.size())
      throw ValueError("nn::GatedMLP: both branches need the same, non-zero number of layers");
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (layers[l].weight.rows() != gates[l].weight.rows() || layers[l].weight.cols() != gates[l].weight.cols())
        throw ValueError("nn::GatedMLP: layer " + std::to_string(l) + " differs in shape between the branches");
      if (l > 0 && layers[l].in_features() != layers[l - 1].out_features())
        throw ValueError("nn::GatedMLP: layer " + std::to_string(l) + " input does not match the previous output");
    }
    const Eigen::Index h = layers[0].out_features(), in = layers[0].in_features();
    first_.weight.resize(2 * h, in);
    first_.weight.topRows(h) = layers[0].weight;
    first_.weight.bottomRows(h) = gates[0].weight;
    if (layers[0].has_bias() && gates[0].has_bias()) {
      first_.bias.resize(2 * h);
      first_.bias.head(h) = layers[0].bias;
      first_.bias.tail(h) = gates[0].bias;
    }
    layers_ = std::move(layers);
    gates_ = std::move(gates);
  }

  std::size_t depth() const { return layers_.size(); }
  Eigen::Index in_features() const { return first_.weight.cols(); }
  Eigen::Index out_features() const { return layers_.back().out_features(); }
  Eigen::Index width(std::size_t l) const { return layers_[l].out_features(); }
  bool activate_last() const { return activate_last_; }

  /// Adds LayerNorms on the last pre-activation of each branch (before its activation).
  void set_output_norms(LayerNorm<Scalar> core, LayerNorm<Scalar> gate) {
    if (core.features() != out_features() || gate.features() != out_features())
      throw ValueError("nn::GatedMLP: output norms must have " + std::to_string(out_features()) + " features");
    norm_core_ = std::move(core);
    norm_gate_ = std::move(gate);
  }
  bool has_output_norms() const { return !norm_core_.empty(); }
  const LayerNorm<Scalar>& norm_core() const { return norm_core_; }
  const LayerNorm<Scalar>& norm_gate() const { return norm_gate_; }

  /// Both branches' first layers stacked: [2·h1, in] (branch 1 rows first), and their biases.
  const Linear<Scalar>& first_layer() const { return first_; }
  const Linear<Scalar>& layer(std::size_t l) const { return layers_[l]; }
  const Linear<Scalar>& gate(std::size_t l) const { return gates_[l]; }

  /// Sizes the cache for a batch of B and returns the block the first-layer pre-activations go
  /// in ([B, 2·h1]); fill it, then call forward_tail.
  auto first_preactivation(GatedMLPCache<Scalar>& c, Eigen::Index B) const {
    c.A.resize(depth());
    c.S.resize(depth());
    c.batch = B;
    for (std::size_t l = 0; l < depth(); ++l) {
      grow(c.A[l], B, 2 * width(l));
      grow(c.S[l], B, 2 * width(l));
    }
    if (has_output_norms()) {
      grow(c.xhat, B, 2 * out_features());
      grow(c.rstd, B, 2);
    }
    return c.A[0].topRows(B);
  }

  /// Y = gated(X) for a batch X of [B, in]; Y is [B, out].
  void forward(const ConstMatRef<Scalar>& X, GatedMLPCache<Scalar>& c, StridedMatRef<Scalar> Y) const {
    auto Z1 = first_preactivation(c, X.rows());
    first_.forward(X, Z1);
    forward_tail(c, Y);
  }

  /// Continues from the first-layer pre-activations already in the cache.
  void forward_tail(GatedMLPCache<Scalar>& c, StridedMatRef<Scalar> Y) const {
    forward_tail(c);
    Y = output(c);
  }

  /// Same, leaving the output in the cache only (read it with `output(c)`).
  void forward_tail(GatedMLPCache<Scalar>& c) const {
    const Eigen::Index B = c.batch;
    const std::size_t L = depth();
    for (std::size_t l = 0; l < L; ++l) {
      const Eigen::Index h = width(l);
      auto A = c.A[l].topRows(B);
      auto S = c.S[l].topRows(B);
      if (l > 0) {
        auto Ap = c.A[l - 1].topRows(B);
        const Eigen::Index hp = width(l - 1);
        layers_[l].forward(Ap.leftCols(hp), A.leftCols(h));
        gates_[l].forward(Ap.rightCols(hp), A.rightCols(h));
      }
      const bool last = l + 1 == L;
      if (last && has_output_norms()) {
        auto xh = c.xhat.topRows(B);
        auto rs = c.rstd.topRows(B);
        norm_core_.forward(A.leftCols(h), xh.leftCols(h), rs.col(0));
        norm_gate_.forward(A.rightCols(h), xh.rightCols(h), rs.col(1));
      }
      if (!last) {
        silu_forward<Scalar>(A, S);  // both branches in one flat pass
      } else {
        if (activate_last_) silu_forward<Scalar>(A.leftCols(h), S.leftCols(h));
        sigmoid_forward<Scalar>(A.rightCols(h));
      }
    }
  }

  /// The output of the last forward, recomputed from the cache ([B, out]).
  auto output(const GatedMLPCache<Scalar>& c) const {
    const Eigen::Index h = out_features();
    auto A = c.A[depth() - 1].topRows(c.batch);
    return A.leftCols(h).cwiseProduct(A.rightCols(h));
  }

  /// Reverse pass to the first-layer pre-activations: returns dZ1 ([B, 2·h1], a block of the
  /// scratch, valid until the next backward call with the same scratch).
  auto backward_tail(const ConstMatRef<Scalar>& dY, const GatedMLPCache<Scalar>& c, GatedMLPScratch<Scalar>& s) const {
    const Eigen::Index B = c.batch;
    const std::size_t L = depth();
    s.dA.resize(std::max(s.dA.size(), L));
    for (std::size_t l = 0; l < L; ++l) grow(s.dA[l], B, 2 * width(l));
    {
      const Eigen::Index h = width(L - 1);
      auto A = c.A[L - 1].topRows(B);
      auto dA = s.dA[L - 1].topRows(B);
      dA.leftCols(h) = dY.cwiseProduct(A.rightCols(h));
      dA.rightCols(h) = dY.cwiseProduct(A.leftCols(h));
    }
    for (std::size_t l = L; l-- > 0;) {
      const Eigen::Index h = width(l);
      auto A = c.A[l].topRows(B);
      auto S = c.S[l].topRows(B);
      auto dA = s.dA[l].topRows(B);
      const bool last = l + 1 == L;
      if (!last) {
        silu_backward<Scalar>(dA, A, S);  // both branches in one flat pass
      } else {
        if (activate_last_) silu_backward<Scalar>(dA.leftCols(h), A.leftCols(h), S.leftCols(h));
        sigmoid_backward<Scalar>(dA.rightCols(h), A.rightCols(h));
      }
      if (last && has_output_norms()) {
        auto xh = c.xhat.topRows(B);
        auto rs = c.rstd.topRows(B);
        norm_core_.backward(dA.leftCols(h), xh.leftCols(h), rs.col(0));
        norm_gate_.backward(dA.rightCols(h), xh.rightCols(h), rs.col(1));
      }
      if (l > 0) {
        const Eigen::Index hp = width(l - 1);
        auto dAp = s.dA[l - 1].topRows(B);
        layers_[l].backward(dA.leftCols(h), dAp.leftCols(hp));
        gates_[l].backward(dA.rightCols(h), dAp.rightCols(hp));
      }
    }
    return s.dA[0].topRows(B);
  }

  /// Full reverse pass: dX = ∂(dY · y)/∂X for the batch of the last forward.
  void backward(const ConstMatRef<Scalar>& dY, const GatedMLPCache<Scalar>& c, GatedMLPScratch<Scalar>& s,
                StridedMatRef<Scalar> dX, bool accumulate = false) const {
    auto dZ1 = backward_tail(dY, c, s);
    first_.backward(dZ1, dX, accumulate);
  }

  // --- training (additive; the inference path does not use these) -------------------------

  /// Mutable access for optimisers. After editing the first layer's weights in place through
  /// `visit_parameters`, call `sync_first_layer()` so that cast() and the per-branch copies agree.
  Linear<Scalar>& mutable_first_layer() { return first_; }

  /// Parameter gradients of the layers after the first, from the dZ the last `backward_tail`
  /// with scratch `s` left there (call right after it, before the scratch is reused). `grad` is
  /// a GatedMLP of the same shapes holding the running sums.
  void accumulate_tail_gradients(const GatedMLPCache<Scalar>& c, const GatedMLPScratch<Scalar>& s,
                                 GatedMLP& grad) const {
    if (has_output_norms())
      throw NotSupported("nn::GatedMLP: parameter gradients with output norms need dY (the overload taking it)");
    accumulate_linear_tail_gradients(c, s, grad);
  }

  /// Same, for gated MLPs with or without output norms: `dY` is the output gradient the last
  /// `backward_tail` received. The norms' γ and β need ∂/∂(norm output), which backward_tail
  /// overwrites in place; it is recomputed here from dY and the cached activations.
  void accumulate_tail_gradients(const ConstMatRef<Scalar>& dY, const GatedMLPCache<Scalar>& c,
                                 const GatedMLPScratch<Scalar>& s, GatedMLP& grad) const {
    accumulate_linear_tail_gradients(c, s, grad);
    if (!has_output_norms()) return;
    const Eigen::Index B = c.batch, h = out_features();
    auto A = c.A[depth() - 1].topRows(B);
    auto S = c.S[depth() - 1].topRows(B);
    RowMatrix<Scalar> dN(B, 2 * h);  // ∂/∂(norm outputs), both branches
    dN.leftCols(h) = dY.cwiseProduct(A.rightCols(h));
    dN.rightCols(h) = dY.cwiseProduct(A.leftCols(h));
    if (activate_last_) silu_backward<Scalar>(dN.leftCols(h), A.leftCols(h), S.leftCols(h));
    sigmoid_backward<Scalar>(dN.rightCols(h), A.rightCols(h));
    auto xh = c.xhat.topRows(B);
    norm_core_.accumulate_parameter_gradients(dN.leftCols(h), xh.leftCols(h), grad.norm_core_);
    norm_gate_.accumulate_parameter_gradients(dN.rightCols(h), xh.rightCols(h), grad.norm_gate_);
  }

  /// Mutable output norms (training: visiting and writing γ, β).
  LayerNorm<Scalar>& mutable_norm_core() { return norm_core_; }
  LayerNorm<Scalar>& mutable_norm_gate() { return norm_gate_; }

 private:
  void accumulate_linear_tail_gradients(const GatedMLPCache<Scalar>& c, const GatedMLPScratch<Scalar>& s,
                                        GatedMLP& grad) const {
    const Eigen::Index B = c.batch;
    for (std::size_t l = 1; l < depth(); ++l) {
      const Eigen::Index h = width(l), hp = width(l - 1);
      auto Ap = c.A[l - 1].topRows(B);
      auto dZ = s.dA[l].topRows(B);
      layers_[l].accumulate_parameter_gradients(Ap.leftCols(hp), dZ.leftCols(h), grad.layers_[l].weight,
                                                grad.layers_[l].bias);
      gates_[l].accumulate_parameter_gradients(Ap.rightCols(hp), dZ.rightCols(h), grad.gates_[l].weight,
                                               grad.gates_[l].bias);
    }
  }

 public:
  /// All parameter gradients for the input X of the last forward (after `backward` or
  /// `backward_tail` with scratch `s`). The first layer's go to grad's stacked first layer.
  void accumulate_parameter_gradients(const ConstMatRef<Scalar>& X, const GatedMLPCache<Scalar>& c,
                                      const GatedMLPScratch<Scalar>& s, GatedMLP& grad) const {
    accumulate_tail_gradients(c, s, grad);
    first_.accumulate_parameter_gradients(X, s.dA[0].topRows(c.batch), grad.first_.weight, grad.first_.bias);
  }

  /// Calls f(name, data, shape) for every parameter tensor under its matgl state_dict suffix
  /// (`layers.{2l}.weight`, `layers.{2l}.bias`, `gates.{2l}.…`). Layer 0 points into the
  /// stacked first layer (the copy inference uses). `data` is row-major and contiguous.
  template <class F>
  void visit_parameters(F&& f) {
    visit_parameters(std::forward<F>(f), [](int branch, std::size_t l) {
      static const char* const names[4] = {"layers.", "gates.", "norm_core", "norm_gate"};
      return branch < 2 ? names[branch] + std::to_string(2 * l) : std::string(names[branch]);
    });
  }

  /// Same with other names: `prefix(branch, l)` names layer l of branch 0 (core) or 1 (gate),
  /// or the output norm of branch 2 (core) or 3 (gate); ".weight"/".bias" are appended.
  template <class F, class Namer>
  void visit_parameters(F&& f, Namer&& prefix) {
    for (std::size_t l = 0; l < depth(); ++l) {
      const std::string pc = prefix(0, l), pg = prefix(1, l);
      const std::int64_t h = width(l), in = layers_[l].in_features();
      Scalar* wc = l == 0 ? first_.weight.data() : layers_[l].weight.data();
      Scalar* wg = l == 0 ? first_.weight.data() + h * in : gates_[l].weight.data();
      f(pc + ".weight", wc, std::vector<std::int64_t>{h, in});
      f(pg + ".weight", wg, std::vector<std::int64_t>{h, in});
      if (layers_[l].has_bias()) {
        Scalar* bc = l == 0 ? first_.bias.data() : layers_[l].bias.data();
        Scalar* bg = l == 0 ? first_.bias.data() + h : gates_[l].bias.data();
        f(pc + ".bias", bc, std::vector<std::int64_t>{h});
        f(pg + ".bias", bg, std::vector<std::int64_t>{h});
      }
    }
    if (has_output_norms()) {
      const std::int64_t h = out_features();
      const std::string nc = prefix(2, 0), ng = prefix(3, 0);
      f(nc + ".weight", norm_core_.weight.data(), std::vector<std::int64_t>{h});
      f(nc + ".bias", norm_core_.bias.data(), std::vector<std::int64_t>{h});
      f(ng + ".weight", norm_gate_.weight.data(), std::vector<std::int64_t>{h});
      f(ng + ".bias", norm_gate_.bias.data(), std::vector<std::int64_t>{h});
    }
  }

  /// Copies the stacked first layer back into the per-branch layer-0 copies.
  void sync_first_layer() {
    const Eigen::Index h = width(0);
    layers_[0].weight = first_.weight.topRows(h);
    gates_[0].weight = first_.weight.bottomRows(h);
    if (first_.has_bias()) {
      layers_[0].bias = first_.bias.head(h);
      gates_[0].bias = first_.bias.tail(h);
    }
  }

  template <class Other>
  GatedMLP<Other> cast() const {
    std::vector<Linear<Other>> l, g;
    for (std::size_t i = 0; i < depth(); ++i) {
      l.push_back(layers_[i].template cast<Other>());
      g.push_back(gates_[i].template cast<Other>());
    }
    GatedMLP<Other> out(std::move(l), std::move(g), activate_last_);
    if (has_output_norms()) out.set_output_norms(norm_core_.template cast<Other>(), norm_gate_.template cast<Other>());
    return out;
  }

 private:
  std::vector<Linear<Scalar>> layers_, gates_;
  Linear<Scalar> first_;  // both branches' first layers stacked
  LayerNorm<Scalar> norm_core_, norm_gate_;  // optional output norms (empty: none)
  bool activate_last_ = true;
};

}  // namespace nn
NERNST_NAMESPACE_END
