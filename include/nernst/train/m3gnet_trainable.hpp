#pragma once
/// \file
/// \brief M3GNet as a trainable model: flat parameter vector by state_dict name, predictions,
/// and exact parameter gradients of losses on energies, forces and stresses.
///
/// Second-order gradients by forward-over-reverse (docs/training.md): for one structure with
/// loss weights a = ∂L/∂E, u = ∂L/∂F and v = ∂L/∂σ,
///
///     dL/dθ = a ∂E/∂θ − ∂/∂θ Σ_i u_i·∂E/∂x_i + ∂/∂θ Σ_ab (v_ab/V) ∂E/∂ε_ab
///           = a ∂E/∂θ + ∂/∂θ D_t E,      geometry tangent t = (δx = −u, δε = v/V).
///
/// One forward pass in Dual<double> with the bond vectors' tangents seeded from t, then the
/// reverse pass to the parameters in Dual<double>: the value of each parameter gradient is
/// ∂E/∂θ, its tangent is ∂(D_t E)/∂θ. Both passes are the inference code (M3GNetEvaluator)
/// instantiated with the dual scalar.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/m3gnet_evaluator.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/trainable.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

class M3GNetTrainable {
  // The walk over the learned tensors of weights (or a gradient holder) `w`.
  template <class S>
  static auto visitor(graphnet::M3GNetWeights<S>& w) {
    return [&w](auto&& f) { graphnet::visit_m3gnet_parameters(w, f); };
  }

 public:
  using Dual = nn::Dual<double>;
  static constexpr const char* atomref_name = "element_refs.property_offset";

  explicit M3GNetTrainable(graphnet::M3GNetModel model, graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl)
      : model_(std::move(model)), eval_(model_, mode), deval_(model_, mode) {
    deval_.set_training(true);
    table_.build(visitor(model_.weights), atomref_name,
                 {static_cast<std::int64_t>(model_.config.element_types.size())});
    gradD_ = graphnet::zero_m3gnet_gradients<Dual>(model_.weights);
  }

  const graphnet::M3GNetModel& model() const { return model_; }
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
    graphnet::sync_m3gnet_weights(model_.weights);
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
    const auto& g = graph_of(s);
    eval_.evaluate(s.x, s.lattice, types_of(s), g, true, out_);
    Prediction p;
    p.energy = out_.energy;
    p.forces = out_.forces;
    p.stress = out_.virial / s.volume();
    return p;
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

  /// Writes a matgl model directory (model.json + state.pt) that M3GNet::load, `nernst eval
  /// --model` and matgl read. Tensors not learned here (data_mean, data_std, cutoffs, ...) are
  /// copied from the source model's state.pt. `float64 = false` keeps each tensor's dtype (as
  /// matgl stores it, float32); `true` stores every floating tensor in float64 (bit-exact).
  void save(const std::string& dir, bool float64 = false) {
    save_m3gnet_directory(model_, dir, float64);
  }

  /// See save(); usable with any M3GNetModel loaded from a directory.
  static void save_m3gnet_directory(graphnet::M3GNetModel model, const std::string& dir, bool float64) {
    namespace fs = std::filesystem;
    const fs::path src(model.source);
    if (model.source.empty() || !fs::exists(src / "state.pt") || !fs::exists(src / "model.json"))
      throw IOError("M3GNet save: the source model directory '" + model.source + "' (model.json, state.pt) is needed");
    io::StateDict sd = io::load_state_dict((src / "state.pt").string());
    auto find = [&](const std::string& name) -> io::Tensor* {
      auto it = sd.find(name);
      return it == sd.end() ? nullptr : &it->second;
    };
    graphnet::visit_m3gnet_parameters(model.weights, [&](const std::string& n, double* d, const std::vector<std::int64_t>& shape) {
      std::size_t sz = 1;
      for (auto s : shape) sz *= static_cast<std::size_t>(s);
      put_tensor(find, n, d, sz, "M3GNet");
    });
    put_tensor(find, atomref_name, model.config.element_refs.data(), model.config.element_refs.size(), "M3GNet");
    for (auto& kv : sd) set_saved_precision(kv.second, float64);
    fs::create_directories(dir);
    if (fs::weakly_canonical(src) != fs::weakly_canonical(fs::path(dir))) {
      const fs::path dst = fs::path(dir) / "model.json";
      fs::remove(dst);  // a previous copy may be read-only (copy_file keeps the source's mode)
      fs::copy_file(src / "model.json", dst);
      fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
    }
    io::save_state_dict((fs::path(dir) / "state.pt").string(), sd);
  }

 private:
  const graphnet::PeriodicGraph& graph_of(const Sample& s) {
    return graphs_.get(s, [&](const Sample& x, graphnet::PeriodicGraph& g) {
      graphnet::build_pymatgen_graph(x.x, x.lattice, model_.config.cutoff, g);
    });
  }

  graphnet::M3GNetModel model_;
  graphnet::M3GNetEvaluator<double> eval_;
  graphnet::M3GNetEvaluator<Dual> deval_;
  graphnet::M3GNetWeights<Dual> gradD_;
  graphnet::M3GNetOutput out_;
  ParameterTable table_;
  GraphCache<graphnet::PeriodicGraph> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
