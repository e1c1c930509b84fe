#pragma once
/// \file
/// \brief MACE (mace-torch ScaleShiftMACE) as a trainable model for train::Trainer: flat
/// parameter vector by state_dict name, predictions, exact parameter gradients of losses on
/// energies, forces and stresses, and writing back as state_dict + JSON.
///
/// Gradients by forward-over-reverse, as the matgl architectures (matgl_trainable.hpp): for one
/// structure with a = ∂L/∂E, u = ∂L/∂F, v = ∂L/∂σ, dL/dθ = a ∂E/∂θ + ∂(D_t E)/∂θ along the
/// geometry tangent t = (δx = −u, δε = sym(v)/V). One forward pass in Dual<double> whose edge
/// vectors carry t (mace_parameter_gradient.hpp: forward_with_tangent), then the reverse pass to
/// the learned tensors in Dual<double> (add_parameter_gradient): value = ∂E/∂θ, tangent =
/// ∂(D_t E)/∂θ. Predictions are the inference code's (forward + backward in double).
///
/// The parameters are the learned tensors of mace_parameters.hpp in mace's own flat layout, and
/// the element energies E0 (`atomic_energies_fn.atomic_energies`) as the atomref entry that
/// `refit_atomref` solves for. After every update both evaluation models (double and dual) are
/// rebuilt from the tensors (the product basis precomputes per-element tensors from them).

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/mace/mace_parameter_gradient.hpp>
#include <nernst/potential/graphnet/mace/mace_writer.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/trainable.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// The JSON of hyper-parameters that `MACE::load(state_dict, json)` reads for configuration `c`
/// (mace's `hyper_parameters` names; the SiLU's normalize2mom constant under `architecture`).
inline nlohmann::json mace_hyper_parameters_json(const graphnet::mace::MACEConfig& c) {
  using graphnet::mace::interaction_class_name;
  nlohmann::json h = {{"model", "ScaleShiftMACE"},
                      {"r_max", c.r_max},
                      {"num_bessel", c.num_bessel},
                      {"num_polynomial_cutoff", c.p},
                      {"max_ell", c.max_ell},
                      {"hidden_irreps", c.hidden_irreps.str()},
                      {"correlation", c.correlation},
                      {"num_interactions", c.num_interactions()},
                      {"interaction_first", interaction_class_name(c.interactions.front())},
                      {"interaction", interaction_class_name(c.interactions.back())},
                      {"MLP_irreps", c.mlp_irreps.str()},
                      {"avg_num_neighbors", c.avg_num_neighbors},
                      {"radial_MLP", c.radial_mlp},
                      {"atomic_numbers", c.atomic_numbers},
                      {"radial_type", "bessel"},
                      {"gate", "silu"},
                      {"use_reduced_cg", false},
                      {"pair_repulsion", false}};
  return {{"hyper_parameters", h}, {"architecture", {{"normalize2mom_constants", {{"silu", {{"cst", c.act_constant}}}}}}}};
}

/// Energy, forces and stress of sample `s` on its graph `g` by the inference code of `model`.
inline Prediction mace_prediction(graphnet::mace::MACEModel<double>& model, const graphnet::mace::MACEGraph& g, const Sample& s) {
  const auto st = graphnet::mace::forward(model, g, s.z);
  const auto grad = graphnet::mace::backward(model, st, s.lattice);
  Prediction p;
  p.energy = st.energy;
  p.forces = grad.forces;
  p.stress = grad.stress;
  return p;
}

class MACETrainable {
 public:
  using Dual = nn::Dual<double>;
  static constexpr const char* atomref_name = "atomic_energies_fn.atomic_energies";

  explicit MACETrainable(graphnet::mace::MACESource source) : src_(std::move(source)) {
    auto it = src_.tensors.find(atomref_name);
    if (it == src_.tensors.end() || it->second.numel() != src_.config.e0.size())
      throw ValueError("MACE training: the model lacks '" + std::string(atomref_name) + "' with one entry per element");
    table_.build(visitor(), atomref_name, {static_cast<std::int64_t>(src_.config.e0.size())});
    gradD_ = graphnet::mace::MACEParameterTensors<Dual>::zeros_like(src_.tensors, src_.config);
    rebuild();
  }

  const graphnet::mace::MACESource& source() const { return src_; }
  const graphnet::mace::MACEModel<double>& model() const { return model_; }
  const std::vector<ParameterInfo>& parameters() const { return table_.list(); }
  std::size_t num_parameters() const { return table_.size(); }
  double cutoff() const { return src_.config.r_max; }

  /// All parameters as one flat vector (the order of parameters()).
  std::vector<double> get_parameters() { return table_.gather(visitor(), src_.config.e0.data()); }

  /// Writes the flat vector into the tensors (E0 into the configuration and its tensor) and
  /// rebuilds the evaluation models.
  void set_parameters(const std::vector<double>& p) {
    table_.scatter(visitor(), p, src_.config.e0.data());
    src_.tensors.at(atomref_name).values = src_.config.e0;
    rebuild();
  }

  /// Element indices of a sample's atoms (ValueError for an element the model lacks).
  std::vector<int> types_of(const Sample& s) const { return graphnet::mace::element_indices(src_.config, s.z); }

  /// Energy, forces and stress (float64 inference code).
  Prediction predict(const Sample& s) {
    return mace_prediction(model_, graph_of(s), s);
  }

  /// Adds dL/dθ to `grad` (flat) for a loss whose derivatives w.r.t. this structure's outputs
  /// are dLdE (per eV), dLdF (per eV/Å, may be empty) and dLdS (per eV/Å³).
  void accumulate_gradient(const Sample& s, double dLdE, const std::vector<std::array<double, 3>>& dLdF,
                           const Eigen::Matrix3d& dLdS, std::vector<double>& grad) {
    graphnet::mace::EdgeTangent t;
    t.dx = force_tangent(s, dLdF);
    t.deps = 0.5 * (dLdS + dLdS.transpose()) / s.volume();  // σ is symmetric: only sym(∂L/∂σ) acts
    if (dual_stale_) {
      dmodel_ = graphnet::mace::make_mace_model<Dual>(src_);
      dual_stale_ = false;
    }
    const auto st = graphnet::mace::forward_with_tangent(dmodel_, graph_of(s), s.z, &t);
    gradD_.set_zero();
    graphnet::mace::add_parameter_gradient(dmodel_, st, gradD_);
    table_.add_dual_gradient([&](auto&& f) { gradD_.visit(f); }, dLdE, types_of(s), grad);
  }

  /// Drops cached graphs (call when samples move in memory or change).
  void clear_graph_cache() { graphs_.clear(); }

  /// Writes the model as a state_dict (every tensor of the source, learned ones updated) and
  /// the JSON of its hyper-parameters, which `MACE::load(state_dict, json)` reads. `float64 =
  /// true` stores every floating tensor in float64 (bit-identical reload); `false` keeps each
  /// tensor's dtype (float32 values rounded).
  void save_state_dict(const std::string& state_dict_path, const std::string& json_path, bool float64 = true) const {
    for (std::size_t i = 1; i < src_.config.interactions.size(); ++i)
      if (src_.config.interactions[i] != src_.config.interactions[1])
        throw NotSupported("MACE save: the JSON names one class for the interactions after the first; this model mixes them");
    io::StateDict sd = src_.tensors;
    for (auto& kv : sd) set_saved_precision(kv.second, float64);
    io::save_state_dict(state_dict_path, sd);
    std::ofstream out(json_path);
    if (!out) throw IOError("cannot write '" + json_path + "'");
    out << mace_hyper_parameters_json(src_.config).dump(2) << '\n';
    if (!out) throw IOError("error writing '" + json_path + "'");
  }

  /// The Trainer driver's save (`nernst finetune --out`): a mace `.model` file (save_model_file),
  /// whose storages keep the source's dtype whatever `float64` says. Other paths are refused:
  /// the library's save_state_dict writes state_dict + JSON.
  void save(const std::string& path, bool /*float64*/ = false) const {
    if (path.size() < 6 || path.compare(path.size() - 6, 6, ".model") != 0)
      throw ValueError("MACE save: '" + path + "' is not a .model path (save_state_dict writes state_dict + JSON)");
    save_model_file(path);
  }

  /// Writes a mace `.model` file: the source `.model` (MACE::load(file)) copied with the
  /// learned tensors and E0 replaced in their storages, the pickle kept (mace_writer.hpp), so
  /// that mace-torch and `MACE::load` read it. Values take each storage's dtype.
  void save_model_file(const std::string& path) const { graphnet::mace::write_mace_model_file(src_, path); }

 private:
  /// The walk over the learned tensors of the source (ParameterTable's visitor).
  struct Visitor {
    MACETrainable* self;
    template <class F>
    void operator()(F&& f) const {
      graphnet::mace::visit_mace_parameters(self->src_.tensors, self->src_.config, f);
    }
  };
  Visitor visitor() { return {this}; }

  /// The double model now; the dual one when a gradient is next asked for (loss-only
  /// evaluations, e.g. validation or finite differences, never build it).
  void rebuild() {
    model_ = graphnet::mace::make_mace_model<double>(src_);
    dual_stale_ = true;
  }

  const graphnet::mace::MACEGraph& graph_of(const Sample& s) {
    return graphs_.get(s, [&](const Sample& x, graphnet::mace::MACEGraph& g) {
      g = graphnet::mace::build_mace_graph(x.x, x.lattice, src_.config.r_max);
    });
  }

  graphnet::mace::MACESource src_;
  graphnet::mace::MACEModel<double> model_;
  graphnet::mace::MACEModel<Dual> dmodel_;
  bool dual_stale_ = true;
  graphnet::mace::MACEParameterTensors<Dual> gradD_;
  ParameterTable table_;
  GraphCache<graphnet::mace::MACEGraph> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
