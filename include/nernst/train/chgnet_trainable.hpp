#pragma once
/// \file
/// \brief CHGNet as a trainable model: the interface of M3GNetTrainable (flat parameters by
/// state_dict name, predictions, exact parameter gradients of energy/force/stress losses by
/// forward-over-reverse with Dual<double>), saving to CHGNet's own `.pth.tar` layout.
///
/// The learned tensors are every tensor of the checkpoint's state_dict: embeddings, the
/// learnable RBF and Fourier frequencies (when the checkpoint has them), all gated MLPs with
/// their LayerNorms (bn1/bn2), the conv output linears, site_wise (magnetic moments; it does
/// not enter E, F or σ, so its gradient is zero for those losses), the readout LayerNorm and
/// MLP, and the AtomRef `composition_model.fc.weight` [1, 94] (last in the flat vector).

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/bond_graph.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/chgnet_evaluator.hpp>
#include <nernst/potential/graphnet/chgnet_model.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/trainable.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// State_dict names of the linears of CHGNet's MLPs: `prefix.layers.<i>` where the indices
/// depend on the hidden sizes and dropout layers, so they are read off the checkpoint's keys.
class CHGNetLayerNames {
 public:
  CHGNetLayerNames() = default;
  explicit CHGNetLayerNames(const io::PickleValue& state_dict) {
    for (const auto& kv : state_dict.as_dict().items) {
      const std::string k = kv.first.as_string();
      keys_.push_back(k);
      const std::string tag = ".layers.", tail = ".weight";
      const auto p = k.rfind(tag);
      if (p == std::string::npos || k.size() <= tail.size() || k.compare(k.size() - tail.size(), tail.size(), tail) != 0)
        continue;
      const std::string mid = k.substr(p + tag.size(), k.size() - tail.size() - p - tag.size());
      if (mid.empty() || !std::all_of(mid.begin(), mid.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      idx_[k.substr(0, p)].push_back(std::stoi(mid));
    }
    for (auto& kv : idx_) std::sort(kv.second.begin(), kv.second.end());
  }

  /// `prefix.layers.<i>` of the l-th linear (0-based) of the MLP at `prefix`.
  std::string linear(const std::string& prefix, std::size_t l) const {
    auto it = idx_.find(prefix);
    if (it == idx_.end() || l >= it->second.size())
      throw ValueError("CHGNet trainable: the checkpoint has no linear " + std::to_string(l) + " under '" + prefix + "'");
    return prefix + ".layers." + std::to_string(it->second[l]);
  }
  bool has(const std::string& key) const { return std::find(keys_.begin(), keys_.end(), key) != keys_.end(); }

 private:
  std::map<std::string, std::vector<int>> idx_;
  std::vector<std::string> keys_;
};

/// Calls f(name, data, shape) for every learned tensor of a CHGNet model but AtomRef, under
/// its state_dict name, in state_dict order. `fag`, `fbg`, `ffo` are the RBF (atom graph, bond
/// graph) and Fourier frequencies (visited when the checkpoint has them). After writing weights
/// through it, call `sync_chgnet_weights`.
template <class Scalar, class F>
void visit_chgnet_parameters(graphnet::CHGNetWeights<Scalar>& w, std::vector<Scalar>& fag, std::vector<Scalar>& fbg,
                             std::vector<Scalar>& ffo, const CHGNetLayerNames& names, F&& f) {
  using shape_t = std::vector<std::int64_t>;
  const auto mat = [&](const std::string& name, nn::RowMatrix<Scalar>& m) { f(name, m.data(), shape_t{m.rows(), m.cols()}); };
  const auto vec = [&](const std::string& name, std::vector<Scalar>& v) {
    if (names.has(name)) f(name, v.data(), shape_t{static_cast<std::int64_t>(v.size())});
  };
  const auto lin = [&](const std::string& prefix, nn::Linear<Scalar>& l) {
    mat(prefix + ".weight", l.weight);
    if (l.has_bias()) f(prefix + ".bias", l.bias.data(), shape_t{l.bias.size()});
  };
  const auto gated = [&](const std::string& p, nn::GatedMLP<Scalar>& g) {
    g.visit_parameters(f, [&](int branch, std::size_t l) {
      switch (branch) {
        case 0: return names.linear(p + ".mlp_core", l);
        case 1: return names.linear(p + ".mlp_gate", l);
        case 2: return p + ".bn1";
        default: return p + ".bn2";
      }
    });
  };
  const auto norm = [&](const std::string& p, nn::LayerNorm<Scalar>& n) {
    f(p + ".weight", n.weight.data(), shape_t{n.weight.size()});
    f(p + ".bias", n.bias.data(), shape_t{n.bias.size()});
  };
  mat("atom_embedding.embedding.weight", w.atom_embedding);
  vec("bond_basis_expansion.rbf_expansion_ag.frequencies", fag);
  vec("bond_basis_expansion.rbf_expansion_bg.frequencies", fbg);
  mat("bond_embedding.weight", w.bond_embedding);
  mat("bond_weights_ag.weight", w.bond_weights_ag);
  mat("bond_weights_bg.weight", w.bond_weights_bg);
  vec("angle_basis_expansion.fourier_expansion.frequencies", ffo);
  mat("angle_embedding.weight", w.angle_embedding);
  for (std::size_t k = 0; k < w.atom_conv.size(); ++k) {
    const std::string p = "atom_conv_layers." + std::to_string(k);
    gated(p + ".twoBody_atom", w.atom_conv[k]);
    lin(p + ".mlp_out.layers.1", w.atom_out[k]);
  }
  for (std::size_t k = 0; k < w.bond_conv.size(); ++k) {
    const std::string p = "bond_conv_layers." + std::to_string(k);
    gated(p + ".twoBody_bond", w.bond_conv[k]);
    lin(p + ".mlp_out.layers.1", w.bond_out[k]);
  }
  for (std::size_t k = 0; k < w.angle_update.size(); ++k)
    gated("angle_layers." + std::to_string(k) + ".twoBody_bond", w.angle_update[k]);
  lin("site_wise", w.site_wise);
  if (!w.readout_norm.empty()) norm("readout_norm", w.readout_norm);
  for (std::size_t l = 0; l < w.readout.depth(); ++l) lin(names.linear("mlp", l), w.readout.mutable_layer(l));
}

/// Brings the per-branch copies of the gated MLPs' first layers in line with the stacked ones.
template <class Scalar>
void sync_chgnet_weights(graphnet::CHGNetWeights<Scalar>& w) {
  for (auto& g : w.atom_conv) g.sync_first_layer();
  for (auto& g : w.bond_conv) g.sync_first_layer();
  for (auto& g : w.angle_update) g.sync_first_layer();
}

class CHGNetTrainable {
  // The walk over the learned tensors of weights (or a gradient holder) `w` and frequencies.
  template <class S>
  auto visitor(graphnet::CHGNetWeights<S>& w, std::vector<S>& fag, std::vector<S>& fbg, std::vector<S>& ffo) {
    return [&w, &fag, &fbg, &ffo, this](auto&& f) { visit_chgnet_parameters(w, fag, fbg, ffo, names_, f); };
  }

 public:
  using Dual = nn::Dual<double>;
  static constexpr const char* atomref_name = "composition_model.fc.weight";

  /// `model` must come from a `.pth.tar` file (its `source`), which supplies the state_dict
  /// names and everything save() writes besides the learned tensors.
  explicit CHGNetTrainable(graphnet::CHGNetModel model)
      : model_(std::move(model)), eval_(model_), deval_(model_) {
    top_ = io::load_torch(model_.source);
    names_ = CHGNetLayerNames(state_dict_node());
    deval_.set_training(true);
    table_.build(visitor(model_.weights, model_.weights.rbf_ag_freq, model_.weights.rbf_bg_freq, model_.weights.fourier_freq),
                 atomref_name, {1, 94});
    gradD_.w = model_.weights.template cast<Dual>();
    gradD_.rbf_ag_freq.assign(model_.weights.rbf_ag_freq.size(), Dual(0));
    gradD_.rbf_bg_freq.assign(model_.weights.rbf_bg_freq.size(), Dual(0));
    gradD_.fourier_freq.assign(model_.weights.fourier_freq.size(), Dual(0));
  }

  const graphnet::CHGNetModel& model() const { return model_; }
  const std::vector<ParameterInfo>& parameters() const { return table_.list(); }
  std::size_t num_parameters() const { return table_.size(); }
  double cutoff() const { return model_.config.atom_graph_cutoff; }

  std::vector<double> get_parameters() {
    auto& w = model_.weights;
    return table_.gather(visitor(w, w.rbf_ag_freq, w.rbf_bg_freq, w.fourier_freq), w.atom_ref.data());
  }

  void set_parameters(const std::vector<double>& p) {
    auto& w = model_.weights;
    w.atom_ref.resize(94);
    table_.scatter(visitor(w, w.rbf_ag_freq, w.rbf_bg_freq, w.fourier_freq), p, w.atom_ref.data());
    sync_chgnet_weights(w);
    eval_.set_model(model_);
    deval_.set_model(model_);
  }

  /// CHGNet's "types" are Z − 1 (the AtomRef column).
  std::vector<int> types_of(const Sample& s) const {
    std::vector<int> t(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s.z[i] < 1 || s.z[i] > 94)
        throw ValueError("CHGNet: " + s.origin + " atom " + std::to_string(i) + " has Z = " + std::to_string(s.z[i]));
      t[i] = s.z[i] - 1;
    }
    return t;
  }

  Prediction predict(const Sample& s) {
    const auto& g = graph_of(s);
    eval_.evaluate(s.x, s.lattice, s.z, g.first, g.second, true, out_);
    Prediction p;
    p.energy = out_.energy;
    p.forces = out_.forces;
    p.stress = out_.virial / s.volume();
    return p;
  }

  /// Magnetic moments (μ_B) of the last predict().
  const std::vector<double>& magmoms() const { return out_.magmom; }

  /// Adds dL/dθ to `grad` (see M3GNetTrainable::accumulate_gradient).
  void accumulate_gradient(const Sample& s, double dLdE, const std::vector<std::array<double, 3>>& dLdF,
                           const Eigen::Matrix3d& dLdS, std::vector<double>& grad) {
    const auto& g = graph_of(s);
    deval_.set_geometry_tangent(force_tangent(s, dLdF), dLdS / s.volume());
    deval_.evaluate(s.x, s.lattice, s.z, g.first, g.second, false, out_);
    zero_visited(visitor(gradD_.w, gradD_.rbf_ag_freq, gradD_.rbf_bg_freq, gradD_.fourier_freq));
    deval_.accumulate_parameter_gradients(g.first, g.second, gradD_);
    table_.add_dual_gradient(visitor(gradD_.w, gradD_.rbf_ag_freq, gradD_.rbf_bg_freq, gradD_.fourier_freq), dLdE,
                             types_of(s), grad);
  }

  void clear_graph_cache() { graphs_.clear(); }

  /// Writes a CHGNet `.pth.tar` in the layout of the source file ({"model": {"state_dict",
  /// "model_args"}, ...}; the rest of the source's top-level dict is kept) with the learned
  /// tensors replaced. `float64 = false` keeps each tensor's dtype (float32 in CHGNet's files);
  /// `true` stores float64 (the reload is bit-identical).
  void save(const std::string& path, bool float64 = false) {
    io::PickleValue top = top_;
    io::PickleValue* sd = state_dict_node(top);
    auto find = [&](const std::string& name) -> io::Tensor* {
      io::PickleValue* v = sd->find(io::PickleValue(name));
      return v && v->is_tensor() ? &v->as_tensor() : nullptr;
    };
    auto& w = model_.weights;
    visitor(w, w.rbf_ag_freq, w.rbf_bg_freq, w.fourier_freq)(
        [&](const std::string& n, double* d, const std::vector<std::int64_t>& shape) {
          std::size_t sz = 1;
          for (auto x : shape) sz *= static_cast<std::size_t>(x);
          put_tensor(find, n, d, sz, "CHGNet");
        });
    put_tensor(find, atomref_name, w.atom_ref.data(), 94, "CHGNet");
    for (auto& kv : sd->as_dict().items)
      if (kv.second.is_tensor()) set_saved_precision(kv.second.as_tensor(), float64);
    io::save_torch(path, top);
  }

 private:
  using Graphs = std::pair<graphnet::PeriodicGraph, graphnet::BondGraph>;

  static io::PickleValue* state_dict_node(io::PickleValue& top) {
    io::PickleValue* m = top.find(io::PickleValue("model"));
    if (!m || !m->is_dict()) m = &top;
    io::PickleValue* sd = m->find(io::PickleValue("state_dict"));
    if (!sd || !sd->is_dict()) throw ValueError("CHGNet trainable: the source checkpoint has no model.state_dict");
    return sd;
  }
  const io::PickleValue& state_dict_node() { return *state_dict_node(top_); }

  const Graphs& graph_of(const Sample& s) {
    return graphs_.get(s, [&](const Sample& x, Graphs& g) {
      graphnet::build_pymatgen_graph(x.x, x.lattice, model_.config.atom_graph_cutoff, g.first);
      graphnet::build_bond_graph(g.first, x.size(), model_.config.bond_graph_cutoff, g.second);
    });
  }

  graphnet::CHGNetModel model_;
  graphnet::CHGNetEvaluator<double> eval_;
  graphnet::CHGNetEvaluator<Dual> deval_;
  graphnet::CHGNetGradients<Dual> gradD_;
  graphnet::CHGNetOutput out_;
  io::PickleValue top_;
  CHGNetLayerNames names_;
  ParameterTable table_;
  GraphCache<Graphs> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
