#pragma once
/// \file
/// \brief CHGNet model data (hyper-parameters, AtomRef, weights) and the loader for CHGNet's
/// `.pth.tar` checkpoints (spec: shared/specs/chgnet.md §1, §9).
///
/// A trainer-written checkpoint is a `torch.save` dict `{model: {state_dict, model_args},
/// optimizer, scheduler, training_history, trainer_args}`; only `model` is read. The
/// architecture is worked out from the state_dict itself (widths from weight shapes, hidden
/// layers of every MLP from which `layers.<i>` keys exist, LayerNorms from `bn1`/`bn2`/
/// `readout_norm` keys, the `mlp_out` bias from its key) — never from version defaults, which
/// changed between CHGNet releases. `model_args` supplies only what has no tensor: cutoffs,
/// envelope exponent, activation, pooling and intensive flags. Anything this implementation
/// does not reproduce (another activation, BatchNorm, mean pooling, unknown tensors) is refused
/// with NotSupported naming the file and the feature.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/nn/mlp.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// Hyper-parameters of a CHGNet model (widths are inferred from the weights).
struct CHGNetConfig {
  int atom_fea_dim = 64, bond_fea_dim = 64, angle_fea_dim = 64;
  int num_radial = 31, num_angular = 31;  ///< R, K = 2M + 1
  int n_conv = 4;
  double atom_graph_cutoff = 6.0;  ///< r_a, Å
  double bond_graph_cutoff = 3.0;  ///< r_b, Å
  int cutoff_coeff = 8;            ///< envelope exponent p
  bool gmlp_norm = true;           ///< LayerNorm on both branches of every gated MLP
  bool readout_norm = true;        ///< LayerNorm before the readout MLP
  bool mlp_out_bias = false;       ///< bias of the conv layers' output linears
  bool update_bond = true, update_angle = true;
  std::string version;             ///< model_args["version"] when present (informational)
  std::size_t n_parameters = 0;    ///< number of tensor values in the state_dict
};

/// The learned tensors, in the evaluation scalar.
template <class Scalar>
struct CHGNetWeights {
  std::vector<double> atom_ref;                 ///< [94] AtomRef eV per atom of element Z at Z−1
  nn::RowMatrix<Scalar> atom_embedding;         ///< [94, A], row Z−1
  std::vector<double> rbf_ag_freq, rbf_bg_freq; ///< [R] learned Bessel frequencies
  std::vector<double> fourier_freq;             ///< [M] learned Fourier frequencies
  nn::RowMatrix<Scalar> bond_embedding;         ///< [B, R]
  nn::RowMatrix<Scalar> bond_weights_ag;        ///< [A, R]
  nn::RowMatrix<Scalar> bond_weights_bg;        ///< [B, R]
  nn::RowMatrix<Scalar> angle_embedding;        ///< [G, K]
  std::vector<nn::GatedMLP<Scalar>> atom_conv;  ///< per conv: [a_c, b_u, a_n] -> A
  std::vector<nn::Linear<Scalar>> atom_out;     ///< per conv: A -> A
  std::vector<nn::GatedMLP<Scalar>> bond_conv;  ///< per conv (n_conv−1): [b1, b2, t, a_c] -> B
  std::vector<nn::Linear<Scalar>> bond_out;     ///< B -> B
  std::vector<nn::GatedMLP<Scalar>> angle_update;  ///< [b1, b2, t, a_c] -> G
  nn::Linear<Scalar> site_wise;                 ///< A -> 1 (magnetic moments)
  nn::LayerNorm<Scalar> readout_norm;           ///< empty when absent
  nn::MLP<Scalar> readout;                      ///< A -> ... -> 1 (per-atom energy)

  template <class Other>
  CHGNetWeights<Other> cast() const {
    CHGNetWeights<Other> w;
    w.atom_ref = atom_ref;
    w.atom_embedding = atom_embedding.template cast<Other>();
    w.rbf_ag_freq = rbf_ag_freq;
    w.rbf_bg_freq = rbf_bg_freq;
    w.fourier_freq = fourier_freq;
    w.bond_embedding = bond_embedding.template cast<Other>();
    w.bond_weights_ag = bond_weights_ag.template cast<Other>();
    w.bond_weights_bg = bond_weights_bg.template cast<Other>();
    w.angle_embedding = angle_embedding.template cast<Other>();
    for (const auto& x : atom_conv) w.atom_conv.push_back(x.template cast<Other>());
    for (const auto& x : atom_out) w.atom_out.push_back(x.template cast<Other>());
    for (const auto& x : bond_conv) w.bond_conv.push_back(x.template cast<Other>());
    for (const auto& x : bond_out) w.bond_out.push_back(x.template cast<Other>());
    for (const auto& x : angle_update) w.angle_update.push_back(x.template cast<Other>());
    w.site_wise = site_wise.template cast<Other>();
    if (!readout_norm.empty()) w.readout_norm = readout_norm.template cast<Other>();
    w.readout = readout.template cast<Other>();
    return w;
  }
};

/// What one evaluation returns (double regardless of the evaluation scalar).
struct CHGNetOutput {
  double energy = 0;                          ///< eV, model energy + AtomRef (CHGNet's e · N)
  double model_energy = 0;                    ///< eV, readout sum only (what forces derive from)
  std::vector<double> site_energy;            ///< eV, readout output + AtomRef of the element
  std::vector<double> magmom;                 ///< μ_B, |site_wise(a before the last conv)|
  std::vector<std::array<double, 3>> forces;  ///< eV/Å (when gradients were requested)
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  ///< ∂E/∂ε_ab = Σ_e r_ea g_eb (eV)
};

/// A loaded CHGNet model (double-precision master copy of the weights).
struct CHGNetModel {
  CHGNetConfig config;
  CHGNetWeights<double> weights;
  std::string source;
};

/// Training: a holder for parameter gradients in scalar S: the shapes of the weights, plus the
/// learnable basis frequencies (which CHGNetWeights keeps in double for the bases).
template <class Scalar>
struct CHGNetGradients {
  CHGNetWeights<Scalar> w;
  std::vector<Scalar> rbf_ag_freq, rbf_bg_freq, fourier_freq;
};

namespace detail {

/// Reads tensors of a state_dict by key, remembering which were used.
class CHGNetStateReader {
 public:
  CHGNetStateReader(const io::StateDict& sd, std::string file) : sd_(sd), file_(std::move(file)) {}

  bool has(const std::string& key) const { return sd_.count(key) != 0; }

  const io::Tensor& get(const std::string& key, std::vector<std::int64_t> shape = {}) {
    auto it = sd_.find(key);
    if (it == sd_.end()) throw ValueError(file_ + ": CHGNet state_dict lacks tensor '" + key + "'");
    const io::Tensor& t = it->second;
    if (!t.is_floating()) throw ValueError(file_ + ": tensor '" + key + "' is not floating point");
    if (!shape.empty() && t.shape != shape) {
      std::string got, want;
      for (auto s : t.shape) got += (got.empty() ? "" : ",") + std::to_string(s);
      for (auto s : shape) want += (want.empty() ? "" : ",") + std::to_string(s);
      throw ValueError(file_ + ": tensor '" + key + "' has shape [" + got + "], expected [" + want + "]");
    }
    used_.insert(key);
    return t;
  }

  std::vector<std::int64_t> shape(const std::string& key) {
    auto it = sd_.find(key);
    if (it == sd_.end()) throw ValueError(file_ + ": CHGNet state_dict lacks tensor '" + key + "'");
    return it->second.shape;
  }

  nn::RowMatrix<double> matrix(const std::string& key) {
    const auto sh = shape(key);
    if (sh.size() != 2) throw ValueError(file_ + ": tensor '" + key + "' is not a matrix");
    const auto& t = get(key);
    nn::RowMatrix<double> m(sh[0], sh[1]);
    for (std::size_t i = 0; i < t.values.size(); ++i) m.data()[i] = t.values[i];
    return m;
  }

  std::vector<double> vector(const std::string& key) {
    const auto sh = shape(key);
    if (sh.size() != 1) throw ValueError(file_ + ": tensor '" + key + "' is not a vector");
    return get(key).values;
  }

  Eigen::Matrix<double, 1, Eigen::Dynamic> row(const std::string& key) {
    const auto v = vector(key);
    Eigen::Matrix<double, 1, Eigen::Dynamic> r(static_cast<Eigen::Index>(v.size()));
    for (std::size_t i = 0; i < v.size(); ++i) r[static_cast<Eigen::Index>(i)] = v[i];
    return r;
  }

  /// Linear layer `prefix.weight` (+ `prefix.bias` when present or required).
  nn::Linear<double> linear(const std::string& prefix, bool require_bias) {
    auto w = matrix(prefix + ".weight");
    if (has(prefix + ".bias")) {
      auto b = row(prefix + ".bias");
      return nn::Linear<double>(std::move(w), std::move(b));
    }
    if (require_bias) throw ValueError(file_ + ": CHGNet state_dict lacks tensor '" + prefix + ".bias'");
    return nn::Linear<double>(std::move(w));
  }

  /// CHGNet `MLP`: its linears are `prefix.layers.<i>` for whichever indices exist (the index
  /// pattern depends on the hidden sizes, spec §4.2), in ascending order.
  std::vector<nn::Linear<double>> mlp_linears(const std::string& prefix, bool bias_on_all) {
    std::vector<int> idx;
    const std::string head = prefix + ".layers.", tail = ".weight";
    for (const auto& kv : sd_) {
      const std::string& k = kv.first;
      if (k.size() <= head.size() + tail.size() || k.compare(0, head.size(), head) != 0 ||
          k.compare(k.size() - tail.size(), tail.size(), tail) != 0)
        continue;
      const std::string mid = k.substr(head.size(), k.size() - head.size() - tail.size());
      if (mid.empty() || !std::all_of(mid.begin(), mid.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      idx.push_back(std::stoi(mid));
    }
    if (idx.empty()) throw ValueError(file_ + ": CHGNet state_dict has no linear layers under '" + prefix + "'");
    std::sort(idx.begin(), idx.end());
    std::vector<nn::Linear<double>> out;
    for (int i : idx) out.push_back(linear(head + std::to_string(i), bias_on_all));
    return out;
  }

  nn::LayerNorm<double> norm(const std::string& prefix) {
    if (has(prefix + ".running_mean"))
      throw NotSupported(file_ + ": '" + prefix + "' is a BatchNorm (CHGNet norm \"batch\"); only LayerNorm is supported");
    return nn::LayerNorm<double>(row(prefix + ".weight"), row(prefix + ".bias"), 1e-5);
  }

  /// CHGNet `GatedMLP` at `prefix` (mlp_core, mlp_gate, optional bn1/bn2 LayerNorms).
  nn::GatedMLP<double> gated(const std::string& prefix, bool& normed) {
    auto core = mlp_linears(prefix + ".mlp_core", true);
    auto gate = mlp_linears(prefix + ".mlp_gate", true);
    if (core.size() != gate.size())
      throw ValueError(file_ + ": '" + prefix + "' core and gate MLPs differ in depth");
    nn::GatedMLP<double> g(std::move(core), std::move(gate), /*activate_last=*/true);
    const bool n1 = has(prefix + ".bn1.weight"), n2 = has(prefix + ".bn2.weight");
    if (n1 != n2) throw NotSupported(file_ + ": '" + prefix + "' has a norm on only one branch");
    if (n1) g.set_output_norms(norm(prefix + ".bn1"), norm(prefix + ".bn2"));
    normed = n1;
    return g;
  }

  /// Keys never read (to refuse checkpoints with parts this implementation would ignore).
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& kv : sd_)
      if (!used_.count(kv.first)) out.push_back(kv.first);
    return out;
  }

 private:
  const io::StateDict& sd_;
  std::string file_;
  std::set<std::string> used_;
};

inline const io::PickleValue* model_arg(const io::PickleValue& args, const char* key) { return args.find(key); }

inline double model_arg_number(const io::PickleValue& args, const char* key, const std::string& file) {
  const io::PickleValue* v = args.find(key);
  if (!v) throw ValueError(file + ": CHGNet model_args lacks '" + key + "'");
  if (!v->is_number()) throw ValueError(file + ": CHGNet model_args['" + key + "'] is " + v->type_name() + ", expected a number");
  return v->as_double();
}

}  // namespace detail

/// Builds a CHGNet model from a state_dict and the `model_args` dict of a checkpoint.
inline CHGNetModel load_chgnet_state_dict(const io::StateDict& sd, const io::PickleValue& args, const std::string& file) {
  using detail::model_arg_number;
  CHGNetModel m;
  m.source = file;
  auto& c = m.config;
  if (!args.is_dict()) throw ValueError(file + ": CHGNet model_args is " + args.type_name() + ", expected a dict");

  // Non-tensor hyper-parameters. Cutoffs and the envelope exponent changed defaults between
  // releases, so they must be in the file (trainer-written files always record them).
  c.atom_graph_cutoff = model_arg_number(args, "atom_graph_cutoff", file);
  c.bond_graph_cutoff = model_arg_number(args, "bond_graph_cutoff", file);
  {
    const double p = model_arg_number(args, "cutoff_coeff", file);
    if (p < 0 || p != static_cast<int>(p))
      throw NotSupported(file + ": cutoff_coeff " + std::to_string(p) + " is not a non-negative integer");
    c.cutoff_coeff = static_cast<int>(p);
  }
  if (!(c.atom_graph_cutoff > 0) || !(c.bond_graph_cutoff > 0))
    throw ValueError(file + ": CHGNet cutoffs must be positive");
  auto flag = [&](const char* key, bool def) {
    const io::PickleValue* v = args.find(key);
    if (!v || v->is_none()) return def;
    if (!v->is_bool() && !v->is_int()) throw ValueError(file + ": CHGNet model_args['" + key + "'] is not a bool");
    return v->as_int() != 0;
  };
  auto text = [&](const char* key, const std::string& def) {
    const io::PickleValue* v = args.find(key);
    if (!v || v->is_none()) return def;
    if (!v->is_string()) throw ValueError(file + ": CHGNet model_args['" + key + "'] is not a string");
    return v->as_string();
  };
  const std::string act = text("non_linearity", "silu");
  if (act != "silu")
    throw NotSupported(file + ": CHGNet non_linearity '" + act + "' is not supported natively (only \"silu\")");
  if (!flag("mlp_first", true))
    throw NotSupported(file + ": CHGNet with mlp_first = False (pooling before the readout MLP) is not supported");
  if (!flag("is_intensive", true))
    throw NotSupported(file + ": CHGNet with is_intensive = False is not supported");
  c.version = text("version", "");

  // Architecture from the tensors.
  detail::CHGNetStateReader r(sd, file);
  {
    const auto ar = r.matrix("composition_model.fc.weight");
    if (ar.rows() != 1 || ar.cols() != 94)
      throw ValueError(file + ": composition_model.fc.weight must be [1, 94]");
    if (r.has("composition_model.fc.bias")) throw NotSupported(file + ": AtomRef with a bias is not supported");
    m.weights.atom_ref.assign(ar.data(), ar.data() + 94);
  }
  auto& w = m.weights;
  w.atom_embedding = r.matrix("atom_embedding.embedding.weight");
  if (w.atom_embedding.rows() != 94) throw ValueError(file + ": atom_embedding must have 94 rows");
  c.atom_fea_dim = static_cast<int>(w.atom_embedding.cols());
  const bool learnable = flag("learnable_rbf", true);
  auto freq = [&](const std::string& key, std::vector<double> canonical) {
    if (r.has(key)) return r.vector(key);
    if (learnable) throw ValueError(file + ": CHGNet state_dict lacks tensor '" + key + "'");
    return canonical;
  };
  w.bond_embedding = r.matrix("bond_embedding.weight");
  c.bond_fea_dim = static_cast<int>(w.bond_embedding.rows());
  c.num_radial = static_cast<int>(w.bond_embedding.cols());
  {
    std::vector<double> canon;
    for (int k = 1; k <= c.num_radial; ++k) canon.push_back(k * 3.14159265358979323846);
    w.rbf_ag_freq = freq("bond_basis_expansion.rbf_expansion_ag.frequencies", canon);
    w.rbf_bg_freq = freq("bond_basis_expansion.rbf_expansion_bg.frequencies", canon);
  }
  if (static_cast<int>(w.rbf_ag_freq.size()) != c.num_radial || static_cast<int>(w.rbf_bg_freq.size()) != c.num_radial)
    throw ValueError(file + ": RBF frequencies do not match bond_embedding's " + std::to_string(c.num_radial) + " inputs");
  w.bond_weights_ag = r.matrix("bond_weights_ag.weight");
  w.bond_weights_bg = r.matrix("bond_weights_bg.weight");
  w.angle_embedding = r.matrix("angle_embedding.weight");
  c.angle_fea_dim = static_cast<int>(w.angle_embedding.rows());
  c.num_angular = static_cast<int>(w.angle_embedding.cols());
  if (c.num_angular % 2 != 1) throw ValueError(file + ": angle_embedding input width must be odd (2M+1)");
  {
    std::vector<double> canon;
    for (int k = 1; k <= c.num_angular / 2; ++k) canon.push_back(double(k));
    w.fourier_freq = freq("angle_basis_expansion.fourier_expansion.frequencies", canon);
  }
  if (static_cast<int>(w.fourier_freq.size()) * 2 + 1 != c.num_angular)
    throw ValueError(file + ": Fourier frequencies do not match angle_embedding's " + std::to_string(c.num_angular) + " inputs");
  const long A = c.atom_fea_dim, B = c.bond_fea_dim, G = c.angle_fea_dim, R = c.num_radial;
  if (w.bond_weights_ag.rows() != A || w.bond_weights_ag.cols() != R)
    throw ValueError(file + ": bond_weights_ag.weight must be [" + std::to_string(A) + ", " + std::to_string(R) + "]");
  if (w.bond_weights_bg.rows() != B || w.bond_weights_bg.cols() != R)
    throw ValueError(file + ": bond_weights_bg.weight must be [" + std::to_string(B) + ", " + std::to_string(R) + "]");

  // Convolutions; norms and biases from which keys exist.
  int n_conv = 0;
  while (r.has("atom_conv_layers." + std::to_string(n_conv) + ".mlp_out.layers.1.weight")) ++n_conv;
  if (n_conv < 1) throw ValueError(file + ": CHGNet state_dict has no atom_conv_layers");
  c.n_conv = n_conv;
  int normed_count = 0, gated_count = 0, bias_count = 0, out_count = 0;
  auto check_gated = [&](const nn::GatedMLP<double>& g, long in, long out, const std::string& what) {
    if (g.in_features() != in || g.out_features() != out)
      throw ValueError(file + ": " + what + " maps " + std::to_string(g.in_features()) + " -> " +
                       std::to_string(g.out_features()) + ", expected " + std::to_string(in) + " -> " + std::to_string(out));
  };
  auto out_linear = [&](const std::string& prefix, long dim) {
    auto l = r.linear(prefix + ".mlp_out.layers.1", false);
    if (l.in_features() != dim || l.out_features() != dim) throw ValueError(file + ": " + prefix + ".mlp_out has the wrong shape");
    ++out_count;
    bias_count += l.has_bias() ? 1 : 0;
    return l;
  };
  for (int t = 0; t < n_conv; ++t) {
    const std::string p = "atom_conv_layers." + std::to_string(t);
    bool normed = false;
    w.atom_conv.push_back(r.gated(p + ".twoBody_atom", normed));
    check_gated(w.atom_conv.back(), 2 * A + B, A, p + ".twoBody_atom");
    normed_count += normed;
    ++gated_count;
    w.atom_out.push_back(out_linear(p, A));
  }
  c.update_bond = r.has("bond_conv_layers.0.mlp_out.layers.1.weight");
  c.update_angle = r.has("angle_layers.0.twoBody_bond.mlp_core.layers.0.weight") ||
                   r.has("angle_layers.0.twoBody_bond.mlp_core.layers.1.weight");
  for (int t = 0; t + 1 < n_conv; ++t) {
    if (c.update_bond) {
      const std::string p = "bond_conv_layers." + std::to_string(t);
      bool normed = false;
      w.bond_conv.push_back(r.gated(p + ".twoBody_bond", normed));
      check_gated(w.bond_conv.back(), A + 2 * B + G, B, p + ".twoBody_bond");
      normed_count += normed;
      ++gated_count;
      w.bond_out.push_back(out_linear(p, B));
    }
    if (c.update_angle) {
      const std::string p = "angle_layers." + std::to_string(t);
      bool normed = false;
      w.angle_update.push_back(r.gated(p + ".twoBody_bond", normed));
      check_gated(w.angle_update.back(), A + 2 * B + G, G, p + ".twoBody_bond");
      normed_count += normed;
      ++gated_count;
    }
  }
  if (normed_count != 0 && normed_count != gated_count)
    throw NotSupported(file + ": LayerNorms on only some gated MLPs (CHGNet's gMLP_norm applies to all)");
  if (bias_count != 0 && bias_count != out_count)
    throw NotSupported(file + ": bias on only some mlp_out linears (CHGNet's mlp_out_bias applies to all)");
  c.gmlp_norm = normed_count > 0;
  c.mlp_out_bias = bias_count > 0;

  w.site_wise = r.linear("site_wise", true);
  if (w.site_wise.in_features() != A || w.site_wise.out_features() != 1)
    throw ValueError(file + ": site_wise must map " + std::to_string(A) + " -> 1");
  c.readout_norm = r.has("readout_norm.weight");
  if (c.readout_norm) w.readout_norm = r.norm("readout_norm");
  w.readout = nn::MLP<double>(r.mlp_linears("mlp", true));
  if (w.readout.in_features() != A || w.readout.out_features() != 1)
    throw ValueError(file + ": readout MLP must map " + std::to_string(A) + " -> 1");

  const auto left = r.unused();
  if (!left.empty()) {
    std::string list;
    for (std::size_t i = 0; i < left.size() && i < 5; ++i) list += (i ? ", " : "") + left[i];
    throw NotSupported(file + ": CHGNet state_dict has " + std::to_string(left.size()) +
                       " tensor(s) this implementation does not use (e.g. " + list +
                       "): an architecture variant (conv_norm, attention readout, ...) that is not supported");
  }
  for (const auto& kv : sd) c.n_parameters += kv.second.numel();
  return m;
}

/// Loads a CHGNet `.pth.tar` checkpoint (trainer file `{model: {state_dict, model_args}, ...}`
/// or a bare `{state_dict, model_args}`); trainer state next to it is skipped.
inline CHGNetModel load_chgnet_checkpoint(const std::string& path) {
  const io::PickleValue top = io::load_torch(path);
  const io::PickleValue* model = top.find("model");
  if (!model || !model->is_dict()) model = &top;
  const io::PickleValue* sd = model->find("state_dict");
  const io::PickleValue* args = model->find("model_args");
  if (!sd || !sd->is_dict() || !args)
    throw ValueError(path + ": not a CHGNet checkpoint (expected {\"model\": {\"state_dict\", \"model_args\"}}, found " +
                     top.repr(3) + ")");
  return load_chgnet_state_dict(io::to_state_dict(*sd), *args, path);
}

}  // namespace graphnet
NERNST_NAMESPACE_END
