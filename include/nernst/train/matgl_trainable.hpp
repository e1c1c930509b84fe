#pragma once
/// \file
/// \brief A matgl potential (M3GNet, TensorNet) as a trainable model: flat parameter vector by
/// state_dict name, predictions, exact parameter gradients of losses on energies, forces and
/// stresses, and saving as a matgl model directory.
///
/// Second-order gradients by forward-over-reverse (docs/training.md): for one structure with
/// loss weights a = ∂L/∂E, u = ∂L/∂F and v = ∂L/∂σ,
///
///     dL/dθ = a ∂E/∂θ − ∂/∂θ Σ_i u_i·∂E/∂x_i + ∂/∂θ Σ_ab (v_ab/V) ∂E/∂ε_ab
///           = a ∂E/∂θ + ∂/∂θ D_t E,      geometry tangent t = (δx = −u, δε = v/V).
///
/// One forward pass in Dual<double> with the bond vectors' tangents seeded from t, then the
/// reverse pass to the parameters in Dual<double>: the value of each parameter gradient is
/// ∂E/∂θ, its tangent is ∂(D_t E)/∂θ. Both passes are the inference code (the architecture's
/// evaluator) instantiated with the dual scalar.
///
/// `Arch` names the architecture's pieces (M3GNetArch in m3gnet_trainable.hpp, TensorNetArch
/// in tensornet_trainable.hpp): Model, Evaluator<S>, Weights<S>, Output, `name`,
/// visit(weights, f), sync(weights), zero_gradients(weights) and prepare(dual evaluator).

#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/trainable.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

template <class Arch>
class MatglTrainable {
  template <class S>
  using Weights = typename Arch::template Weights<S>;

  // The walk over the learned tensors of weights (or a gradient holder) `w`.
  template <class S>
  static auto visitor(Weights<S>& w) {
    return [&w](auto&& f) { Arch::visit(w, f); };
  }

 public:
  using Dual = nn::Dual<double>;
  using Model = typename Arch::Model;
  static constexpr const char* atomref_name = "element_refs.property_offset";

  /// `eval_args` go to both evaluators' constructors after the model (M3GNet's three-body mode).
  template <class... EvalArgs>
  explicit MatglTrainable(Model model, EvalArgs... eval_args)
      : model_(std::move(model)), eval_(model_, eval_args...), deval_(model_, eval_args...) {
    Arch::prepare(deval_);
    table_.build(visitor(model_.weights), atomref_name,
                 {static_cast<std::int64_t>(model_.config.element_types.size())});
    gradD_ = Arch::template zero_gradients<Dual>(model_.weights);
  }

  const Model& model() const { return model_; }
  const std::vector<ParameterInfo>& parameters() const { return table_.list(); }
  std::size_t num_parameters() const { return table_.size(); }
  double cutoff() const { return model_.config.cutoff; }

  /// All parameters as one flat vector (the order of parameters()).
  std::vector<double> get_parameters() {
    return table_.gather(visitor(model_.weights), model_.config.element_refs.data());
  }

  /// Writes the flat vector into the model and both evaluators.
  void set_parameters(const std::vector<double>& p) {
    model_.config.element_refs.resize(table_.atomref().size);
    table_.scatter(visitor(model_.weights), p, model_.config.element_refs.data());
    Arch::sync(model_.weights);
    eval_.set_model(model_);
    deval_.set_model(model_);
  }

  /// Model types of a sample's atoms (throws for an element the model lacks).
  std::vector<int> types_of(const Sample& s) const {
    std::vector<int> t(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) t[i] = model_.config.type_of(s.z[i]);
    return t;
  }

  /// Energy, forces and stress (double precision).
  Prediction predict(const Sample& s) {
    eval_.evaluate(s.x, s.lattice, types_of(s), graph_of(s), true, out_);
    return prediction_of(out_, s);
  }

  /// Adds dL/dθ to `grad` (flat) for a loss whose derivatives w.r.t. this structure's outputs
  /// are dLdE (per eV), dLdF (per eV/Å, may be empty) and dLdS (per eV/Å³).
  void accumulate_gradient(const Sample& s, double dLdE, const std::vector<std::array<double, 3>>& dLdF,
                           const Eigen::Matrix3d& dLdS, std::vector<double>& grad) {
    const auto& g = graph_of(s);
    const auto types = types_of(s);
    deval_.set_geometry_tangent(force_tangent(s, dLdF), dLdS / s.volume());
    deval_.evaluate(s.x, s.lattice, types, g, false, out_);
    zero_visited(visitor(gradD_));
    deval_.accumulate_parameter_gradients(g, gradD_);
    table_.add_dual_gradient(visitor(gradD_), dLdE, types, grad);
  }

  /// Drops cached graphs (call when samples move in memory or change).
  void clear_graph_cache() { graphs_.clear(); }

  /// Writes a matgl model directory (model.json + state.pt) that the architecture's `load`,
  /// `nernst eval --model` and matgl read. Tensors not learned here (data_mean, data_std,
  /// cutoffs, ...) are copied from the source model's state.pt. `float64 = false` keeps each
  /// tensor's dtype (as matgl stores it: float32, TensorNet's element references float64);
  /// `true` stores every floating tensor in float64 (bit-exact).
  void save(const std::string& dir, bool float64 = false) {
    save_matgl_directory(model_.source, dir, float64, visitor(model_.weights), atomref_name,
                         model_.config.element_refs, Arch::name);
  }

 private:
  const graphnet::PeriodicGraph& graph_of(const Sample& s) {
    return graphs_.get(s, [&](const Sample& x, graphnet::PeriodicGraph& g) {
      graphnet::build_pymatgen_graph(x.x, x.lattice, model_.config.cutoff, g);
    });
  }

  Model model_;
  typename Arch::template Evaluator<double> eval_;
  typename Arch::template Evaluator<Dual> deval_;
  Weights<Dual> gradD_;
  typename Arch::Output out_;
  ParameterTable table_;
  GraphCache<graphnet::PeriodicGraph> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
