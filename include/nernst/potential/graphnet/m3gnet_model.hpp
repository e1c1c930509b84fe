#pragma once
/// \file
/// \brief M3GNet model data: hyper-parameters, element table, reference energies and weights,
/// and the loaders for matgl model directories (model.json + state.pt).
///
/// A matgl model directory holds `model.json` (class, init args: element types, cutoffs, basis
/// sizes, ...) and `state.pt` (PyTorch state_dict with every tensor, including data_std and the
/// element reference energies). The tensors printed in model.json are rounded text and are not
/// used. Weights are kept in double and cast to the evaluation scalar by the potential.

#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/io/detail/json_int.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/potential/graphnet/basis.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// What one evaluation returns (M3GNetEvaluator on the host, M3GNetKernel in any execution
/// space; double regardless of the evaluation scalar).
struct M3GNetOutput {
  double energy = 0;                            ///< eV
  std::vector<double> atom_energy;              ///< eV, data_std·ε_i + mean/N + ref(type_i)
  std::vector<std::array<double, 3>> forces;    ///< eV/Å (when gradients were requested)
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  ///< ∂E/∂ε_ab = Σ_e r_ea g_eb (eV)
};

/// Hyper-parameters and per-element data of an M3GNet potential (matgl `Potential(M3GNet)`).
struct M3GNetConfig {
  std::vector<std::string> element_types;  ///< node type = index in this list
  double cutoff = 5.0;                     ///< graph cutoff, Å
  double threebody_cutoff = 4.0;           ///< three-body cutoff, Å
  int max_n = 3, max_l = 3, nblocks = 3;
  int dim = 64;    ///< node and edge feature width (matgl's dim_node_embedding = dim_edge_embedding)
  int units = 64;  ///< hidden width of the convolution and readout gated MLPs (64 MP-2021, 128 MatPES)
  bool use_smooth = false;                 ///< smooth sine-series basis (MatPES) instead of clamped j_l (MP-2021)
  double data_mean = 0.0, data_std = 1.0;  ///< energy scale (eV)
  std::vector<double> element_refs;        ///< eV per atom of each element type

  /// Per-atom energies e_i = data_std·ε_i + data_mean/N + ref(type_i) from the network's outputs
  /// `eps(i)` (any scalar), into `atom_energy`, and their sum in atom order (data_mean when there
  /// are no atoms): what every M3GNet evaluation (host or kernels) reports.
  template <class Eps>
  double atom_energies(const Eps& eps, const std::vector<int>& types, std::vector<double>& atom_energy) const {
    const std::size_t n = types.size();
    const double mean_per_atom = n > 0 ? data_mean / double(n) : 0.0;
    atom_energy.assign(n, 0.0);
    double energy = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double e =
          data_std * static_cast<double>(eps(i)) + mean_per_atom + element_refs[static_cast<std::size_t>(types[i])];
      atom_energy[i] = e;
      energy += e;
    }
    return n == 0 ? data_mean : energy;
  }

  /// Width of the two-body radial basis: max_n smooth functions, or max_n·max_l j_l functions.
  int radial_size() const { return use_smooth ? max_n : max_n * max_l; }
  /// Width of the three-body basis (max_n·max_l in both modes).
  int threebody_size() const { return max_n * max_l; }

  /// Model type of an atomic number; throws ValueError for an element the model lacks.
  int type_of(int z) const {
    const std::string sym = element_symbol(z);
    for (std::size_t i = 0; i < element_types.size(); ++i)
      if (element_types[i] == sym) return static_cast<int>(i);
    throw ValueError("M3GNet: element " + sym + " is not among the model's " + std::to_string(element_types.size()) +
                     " element types");
  }
};

/// The learned tensors, in the evaluation scalar.
template <class Scalar>
struct M3GNetWeights {
  nn::RowMatrix<Scalar> node_embedding;           ///< [ntypes, dim]
  nn::Linear<Scalar> edge_embedding;              ///< rbf (radial_size) -> dim, SiLU after
  std::vector<nn::Linear<Scalar>> tb_atom;        ///< per block: dim -> 9, σ after
  std::vector<nn::GatedMLP<Scalar>> tb_bond;      ///< per block: 9 -> dim, no bias
  std::vector<nn::GatedMLP<Scalar>> conv_edge;    ///< per block: 3 dim -> units -> units -> dim
  std::vector<nn::GatedMLP<Scalar>> conv_node;    ///< per block
  std::vector<nn::RowMatrix<Scalar>> edge_weight; ///< per block: [dim, radial_size], no bias
  std::vector<nn::RowMatrix<Scalar>> node_weight; ///< per block: [dim, radial_size], no bias
  nn::GatedMLP<Scalar> readout;                   ///< dim -> dim -> units -> units -> 1

  template <class Other>
  M3GNetWeights<Other> cast() const {
    M3GNetWeights<Other> w;
    w.node_embedding = node_embedding.template cast<Other>();
    w.edge_embedding = edge_embedding.template cast<Other>();
    for (std::size_t b = 0; b < tb_atom.size(); ++b) {
      w.tb_atom.push_back(tb_atom[b].template cast<Other>());
      w.tb_bond.push_back(tb_bond[b].template cast<Other>());
      w.conv_edge.push_back(conv_edge[b].template cast<Other>());
      w.conv_node.push_back(conv_node[b].template cast<Other>());
      w.edge_weight.push_back(edge_weight[b].template cast<Other>());
      w.node_weight.push_back(node_weight[b].template cast<Other>());
    }
    w.readout = readout.template cast<Other>();
    return w;
  }
};

/// Calls f(name, data, shape) for every learned tensor of `w` under its matgl state_dict name
/// (row-major, contiguous `data`), in a fixed order. The same walk over a gradient holder of
/// the same shapes visits the matching gradients. Element reference energies, data_mean and
/// data_std live in M3GNetConfig and are not visited. After writing weights through it, call
/// `sync_m3gnet_weights`.
template <class Scalar, class F>
void visit_m3gnet_parameters(M3GNetWeights<Scalar>& w, F&& f) {
  const auto sub = [&](const std::string& prefix) {
    return [&f, prefix](const std::string& n, Scalar* d, std::vector<std::int64_t> shape) {
      f(prefix + "." + n, d, std::move(shape));
    };
  };
  const auto mat = [&](const std::string& name, nn::RowMatrix<Scalar>& m) {
    f(name, m.data(), std::vector<std::int64_t>{m.rows(), m.cols()});
  };
  const auto lin = [&](const std::string& prefix, nn::Linear<Scalar>& l) {
    mat(prefix + ".weight", l.weight);
    if (l.has_bias()) f(prefix + ".bias", l.bias.data(), std::vector<std::int64_t>{l.bias.size()});
  };
  mat("model.embedding.layer_node_embedding.weight", w.node_embedding);
  lin("model.embedding.layer_edge_embedding.layers.0", w.edge_embedding);
  for (std::size_t b = 0; b < w.tb_atom.size(); ++b) {
    const std::string tb = "model.three_body_interactions." + std::to_string(b);
    lin(tb + ".update_network_atom.layers.0", w.tb_atom[b]);
    w.tb_bond[b].visit_parameters(sub(tb + ".update_network_bond"));
    const std::string q = "model.graph_layers." + std::to_string(b) + ".conv";
    w.conv_edge[b].visit_parameters(sub(q + ".edge_update_func"));
    w.conv_node[b].visit_parameters(sub(q + ".node_update_func"));
    mat(q + ".edge_weight_func.weight", w.edge_weight[b]);
    mat(q + ".node_weight_func.weight", w.node_weight[b]);
  }
  w.readout.visit_parameters(sub("model.final_layer.gated"));
}

/// Brings the per-branch copies of the gated MLPs' first layers in line with the stacked ones
/// after in-place edits through visit_m3gnet_parameters.
template <class Scalar>
void sync_m3gnet_weights(M3GNetWeights<Scalar>& w) {
  for (std::size_t b = 0; b < w.tb_atom.size(); ++b) {
    w.tb_bond[b].sync_first_layer();
    w.conv_edge[b].sync_first_layer();
    w.conv_node[b].sync_first_layer();
  }
  w.readout.sync_first_layer();
}

/// A holder for parameter gradients: the shapes of `w`, all zero, in scalar Other.
template <class Other, class Scalar>
M3GNetWeights<Other> zero_m3gnet_gradients(const M3GNetWeights<Scalar>& w) {
  M3GNetWeights<Other> g = w.template cast<Other>();
  visit_m3gnet_parameters(g, [](const std::string&, Other* d, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    for (std::int64_t i = 0; i < n; ++i) d[i] = Other(0);
  });
  return g;
}

/// A loaded M3GNet potential (double-precision master copy of the weights).
struct M3GNetModel {
  M3GNetConfig config;
  M3GNetWeights<double> weights;
  std::string source;  ///< where it was loaded from
};

namespace detail {

inline const io::Tensor& sd_get(const io::StateDict& sd, const std::string& key, std::vector<std::int64_t> shape) {
  auto it = sd.find(key);
  if (it == sd.end()) throw ValueError("M3GNet weights: missing tensor '" + key + "'");
  const io::Tensor& t = it->second;
  if (!t.is_floating()) throw ValueError("M3GNet weights: tensor '" + key + "' is not floating point");
  if (t.shape != shape) {
    std::string got, want;
    for (auto s : t.shape) got += std::to_string(s) + ",";
    for (auto s : shape) want += std::to_string(s) + ",";
    throw ValueError("M3GNet weights: tensor '" + key + "' has shape [" + got + "], expected [" + want + "]");
  }
  return t;
}

inline nn::RowMatrix<double> sd_matrix(const io::StateDict& sd, const std::string& key, long rows, long cols) {
  const auto& t = sd_get(sd, key, {rows, cols});
  nn::RowMatrix<double> m(rows, cols);
  for (long i = 0; i < rows * cols; ++i) m.data()[i] = t.values[static_cast<std::size_t>(i)];
  return m;
}

inline Eigen::Matrix<double, 1, Eigen::Dynamic> sd_vector(const io::StateDict& sd, const std::string& key, long n) {
  const auto& t = sd_get(sd, key, {n});
  Eigen::Matrix<double, 1, Eigen::Dynamic> v(n);
  for (long i = 0; i < n; ++i) v[i] = t.values[static_cast<std::size_t>(i)];
  return v;
}

inline double sd_scalar(const io::StateDict& sd, const std::string& key) {
  auto it = sd.find(key);
  if (it == sd.end()) throw ValueError("M3GNet weights: missing tensor '" + key + "'");
  return it->second.item();
}

inline nn::Linear<double> sd_linear(const io::StateDict& sd, const std::string& prefix, long out, long in, bool bias) {
  auto w = sd_matrix(sd, prefix + ".weight", out, in);
  if (!bias) {
    if (sd.count(prefix + ".bias")) throw ValueError("M3GNet weights: unexpected bias '" + prefix + ".bias'");
    return nn::Linear<double>(std::move(w));
  }
  return nn::Linear<double>(std::move(w), sd_vector(sd, prefix + ".bias", out));
}

/// matgl GatedMLP with layer sizes dims = {in, h1, ..., out}: keys prefix.layers.{2l}, prefix.gates.{2l}.
inline nn::GatedMLP<double> sd_gated(const io::StateDict& sd, const std::string& prefix, const std::vector<long>& dims,
                                     bool bias, bool activate_last) {
  std::vector<nn::Linear<double>> layers, gates;
  for (std::size_t l = 0; l + 1 < dims.size(); ++l) {
    layers.push_back(sd_linear(sd, prefix + ".layers." + std::to_string(2 * l), dims[l + 1], dims[l], bias));
    gates.push_back(sd_linear(sd, prefix + ".gates." + std::to_string(2 * l), dims[l + 1], dims[l], bias));
  }
  return nn::GatedMLP<double>(std::move(layers), std::move(gates), activate_last);
}

}  // namespace detail

/// Weights, data_std/data_mean and element references from a matgl state_dict; `config` must
/// already hold the hyper-parameters and element types (from model.json). Shapes follow from
/// dim, units and the basis (specs/m3gnet-matpes.md §2): MP-2021 has dim = units = 64 and 9
/// radial functions, MatPES dim 64, units 128 and 3 smooth radial functions.
inline void load_m3gnet_state_dict(const io::StateDict& sd, M3GNetModel& m) {
  using namespace detail;
  auto& c = m.config;
  const long nt = static_cast<long>(c.element_types.size());
  const long d = c.dim, u = c.units;
  const long nr = c.radial_size(), nb = c.threebody_size();
  c.data_mean = sd_scalar(sd, "data_mean");
  c.data_std = sd_scalar(sd, "data_std");
  {
    const auto& t = sd_get(sd, "element_refs.property_offset", {nt});
    c.element_refs = t.values;
  }
  const double rc = sd_scalar(sd, "model.bond_expansion.rbf.cutoff");
  if (rc != c.cutoff)
    throw ValueError("M3GNet weights: bond_expansion cutoff " + std::to_string(rc) + " differs from model.json's " +
                     std::to_string(c.cutoff));
  auto& w = m.weights;
  w = M3GNetWeights<double>{};
  w.node_embedding = sd_matrix(sd, "model.embedding.layer_node_embedding.weight", nt, d);
  w.edge_embedding = sd_linear(sd, "model.embedding.layer_edge_embedding.layers.0", d, nr, true);
  for (int b = 0; b < c.nblocks; ++b) {
    const std::string tb = "model.three_body_interactions." + std::to_string(b);
    w.tb_atom.push_back(sd_linear(sd, tb + ".update_network_atom.layers.0", nb, d, true));
    w.tb_bond.push_back(sd_gated(sd, tb + ".update_network_bond", {nb, d}, false, true));
    const std::string q = "model.graph_layers." + std::to_string(b) + ".conv";
    w.conv_edge.push_back(sd_gated(sd, q + ".edge_update_func", {3 * d, u, u, d}, true, true));
    w.conv_node.push_back(sd_gated(sd, q + ".node_update_func", {3 * d, u, u, d}, true, true));
    w.edge_weight.push_back(sd_matrix(sd, q + ".edge_weight_func.weight", d, nr));
    w.node_weight.push_back(sd_matrix(sd, q + ".node_weight_func.weight", d, nr));
  }
  // matgl's WeightedReadOut repeats in_feats in front of dims = [units, units].
  w.readout = sd_gated(sd, "model.final_layer.gated", {d, d, u, u, 1}, true, false);
}

namespace detail {
/// Parses a JSON file; IOError when it cannot be opened, ParseError when it is not JSON.
inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers beyond double
    throw ParseError(path, 0, std::string("invalid JSON: ") + e.what());
  }
}
}  // namespace detail

/// Hyper-parameters and element types from a matgl model.json. Configurations this native
/// implementation does not cover are rejected with NotSupported.
inline M3GNetConfig read_m3gnet_model_json(const std::string& path) {
  const nlohmann::json j = detail::read_json_file(path);
  const nlohmann::json* a = nullptr;
  try {
    if (j.value("@class", "") != "Potential") throw ParseError(path, 0, "expected a matgl Potential (\"@class\": \"Potential\")");
    const auto& model = j.at("kwargs").at("model");
    if (j.at("kwargs").value("calc_repuls", false))
      throw NotSupported(path + ": M3GNet with a ZBL repulsion term (calc_repuls = true) is not supported natively");
    if (model.value("@class", "") != "M3GNet")
      throw NotSupported(path + ": a matgl " + model.value("@class", std::string("(unnamed)")) +
                         " model; nernst runs matgl's M3GNet (model directories, MP-2021 and MatPES) and CHGNet "
                         "(.pth.tar checkpoints)");
    a = &model.at("init_args");
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("missing matgl model fields: ") + e.what());
  }
  const auto& args = *a;
  M3GNetConfig c;
  try {
    c.element_types = args.at("element_types").get<std::vector<std::string>>();
    c.cutoff = args.value("cutoff", 5.0);
    c.threebody_cutoff = args.value("threebody_cutoff", 4.0);
    c.max_n = io::detail::json_int(args, "max_n", 3, path);
    c.max_l = io::detail::json_int(args, "max_l", 3, path);
    c.nblocks = io::detail::json_int(args, "nblocks", 3, path);
    c.units = io::detail::json_int(args, "units", 64, path);
    c.dim = io::detail::json_int(args, "dim_node_embedding", 64, path);
    c.use_smooth = args.value("use_smooth", false);
    auto need = [&](bool ok, const std::string& what) {
      if (!ok) throw NotSupported(path + ": M3GNet with " + what + " is not supported natively");
    };
    need(c.max_n == 3 && c.max_l == 3, "max_n/max_l other than 3/3");
    need(!c.use_smooth || c.cutoff == SmoothBesselTable::cutoff, "the smooth basis and a cutoff other than 5 Å");
    need(args.value("rbf_type", "SphericalBessel") == "SphericalBessel", "rbf_type other than SphericalBessel");
    need(!args.value("use_phi", false), "use_phi = true");
    need(!args.value("is_intensive", false), "is_intensive = true");
    need(!args.value("include_state", false), "include_state = true");
    need(args.value("activation_type", "swish") == "swish", "an activation other than swish");
    need(io::detail::json_int(args, "dim_edge_embedding", c.dim, path) == c.dim, "dim_edge_embedding different from dim_node_embedding");
    need(c.dim > 0 && c.units > 0 && c.nblocks > 0, "non-positive layer sizes");
    need(io::detail::json_int(args, "ntargets", 1, path) == 1, "more than one target");
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("bad M3GNet init_args: ") + e.what());
  }
  for (const auto& s : c.element_types)
    if (try_atomic_number(s) == 0) throw ParseError(path, 0, "unknown element '" + s + "' in element_types");
  return c;
}

/// The weights.json dump found next to the shared test model (not a matgl format): used only
/// to cross-check the checkpoint route. Returns a StateDict with every tensor.
inline io::StateDict read_weights_json_state_dict(const std::string& path) {
  const nlohmann::json j = detail::read_json_file(path);
  io::StateDict sd;
  for (auto& [key, t] : j.at("tensors").items()) {
    io::Tensor x;
    x.dtype = io::DType::Float32;
    x.shape = t.at("shape").get<std::vector<std::int64_t>>();
    const auto& data = t.at("data");
    if (data.is_array())
      x.values = data.get<std::vector<double>>();
    else
      x.values = {data.get<double>()};
    if (x.values.size() != x.numel()) throw ParseError(path, 0, "tensor '" + key + "': data does not match its shape");
    sd.emplace(key, std::move(x));
  }
  return sd;
}

}  // namespace graphnet
NERNST_NAMESPACE_END
