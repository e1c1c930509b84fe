#pragma once
/// \file
/// \brief MACE's learned tensors by their state_dict names: the walk the trainer's flat
/// parameter vector, the gradients and the saved files share (train/trainable.hpp), and a
/// holder of per-tensor gradients in the same layout.
///
/// The learned tensors are the `torch.nn.Parameter`s of a ScaleShiftMACE (mace-torch
/// `model.parameters()`): node embedding, per interaction linear_up, the radial MLP layers,
/// linear and skip_tp, per product the symmetric-contraction weights and linear, and the
/// readouts. They are walked in the flat layout mace stores (e3nn's normalisations are not
/// folded in), so a gradient or an update maps one to one onto the state_dict. The element
/// energies E0 (`atomic_energies_fn.atomic_energies`, a buffer in mace) are the trainer's
/// separate "atomref" entry: they enter the energy linearly.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/potential/graphnet/mace/mace_config.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// state_dict name of the element energies E0 (eV, one per element of the model).
inline constexpr const char* kAtomicEnergiesName = "atomic_energies_fn.atomic_energies";

/// Names of the learned tensors of a model with configuration `cfg`, in the walk's fixed order
/// (mace's module order: embedding, interactions, products, readouts).
inline std::vector<std::string> learned_tensor_names(const MACEConfig& cfg) {
  std::vector<std::string> n{"node_embedding.linear.weight"};
  const int T = cfg.num_interactions();
  for (int t = 0; t < T; ++t) {
    const std::string p = "interactions." + std::to_string(t);
    n.push_back(p + ".linear_up.weight");
    for (std::size_t k = 0; k <= cfg.radial_mlp.size(); ++k) n.push_back(p + ".conv_tp_weights.layer" + std::to_string(k) + ".weight");
    n.push_back(p + ".linear.weight");
    n.push_back(p + ".skip_tp.weight");
  }
  for (int t = 0; t < T; ++t) {
    const std::string p = "products." + std::to_string(t);
    const Irreps out = cfg.layer_out_irreps(t);
    for (std::size_t k = 0; k < out.size(); ++k) {
      const std::string c = p + ".symmetric_contractions.contractions." + std::to_string(k);
      n.push_back(c + ".weights_max");
      for (int j = 0; j + 1 < cfg.correlation; ++j) n.push_back(c + ".weights." + std::to_string(j));
    }
    n.push_back(p + ".linear.weight");
  }
  for (int t = 0; t + 1 < T; ++t) n.push_back("readouts." + std::to_string(t) + ".linear.weight");
  n.push_back("readouts." + std::to_string(T - 1) + ".linear_1.weight");
  n.push_back("readouts." + std::to_string(T - 1) + ".linear_2.weight");
  return n;
}

/// state_dict name of the weights of order ν (1..correlation) of output irrep k of product t
/// (mace: `weights_max` for ν = correlation, `weights.j` for ν = correlation − 1 − j).
inline std::string contraction_weight_name(const MACEConfig& cfg, int t, std::size_t k, int nu) {
  const std::string c = "products." + std::to_string(t) + ".symmetric_contractions.contractions." + std::to_string(k);
  return nu == cfg.correlation ? c + ".weights_max" : c + ".weights." + std::to_string(cfg.correlation - 1 - nu);
}

/// Calls f(name, double* data, shape) for every learned tensor of `sd` (a MACESource's tensors,
/// row-major float64 master copy) in learned_tensor_names order. A missing or non-floating
/// tensor is a ValueError naming it.
template <class F>
void visit_mace_parameters(io::StateDict& sd, const MACEConfig& cfg, F&& f) {
  for (const auto& name : learned_tensor_names(cfg)) {
    const auto it = sd.find(name);
    if (it == sd.end() || !it->second.is_floating())
      throw ValueError("MACE parameters: the model lacks the floating-point tensor '" + name + "'");
    f(name, it->second.values.data(), it->second.shape);
  }
}

/// Per-tensor values in the learned tensors' layout (gradients: double, or Dual for
/// forward-over-reverse), walked in the same order as visit_mace_parameters.
template <class S>
struct MACEParameterTensors {
  std::vector<std::string> names;
  std::vector<std::vector<std::int64_t>> shapes;
  std::vector<std::vector<S>> values;
  std::map<std::string, std::size_t> index;

  /// Zeros shaped as the learned tensors of `sd`.
  static MACEParameterTensors zeros_like(io::StateDict& sd, const MACEConfig& cfg) {
    MACEParameterTensors out;
    visit_mace_parameters(sd, cfg, [&](const std::string& n, const double*, const std::vector<std::int64_t>& shape) {
      std::size_t sz = 1;
      for (auto s : shape) sz *= static_cast<std::size_t>(s);
      out.index[n] = out.names.size();
      out.names.push_back(n);
      out.shapes.push_back(shape);
      out.values.emplace_back(sz, S(0));
    });
    return out;
  }

  /// The values of tensor `name` (ValueError when it is not a learned tensor).
  S* data(const std::string& name) {
    const auto it = index.find(name);
    if (it == index.end()) throw ValueError("MACE parameters: '" + name + "' is not a learned tensor");
    return values[it->second].data();
  }

  void set_zero() {
    for (auto& v : values) std::fill(v.begin(), v.end(), S(0));
  }

  /// f(name, S* data, shape) for every tensor, in order.
  template <class F>
  void visit(F&& f) {
    for (std::size_t i = 0; i < names.size(); ++i) f(names[i], values[i].data(), shapes[i]);
  }
};

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
