#pragma once
/// \file
/// \brief TensorNet model data (matgl's `TensorNet`, PyG code path): hyper-parameters, element
/// table, reference energies and weights, and the loader for a matgl model directory
/// (model.json + state.pt), e.g. TensorNet-MatPES-{PBE,r2SCAN}-v2025.1-PES.
///
/// The weights are kept exactly as matgl stores them (PyTorch layouts, double master copy);
/// the evaluator derives its own layouts from them (specs/tensornet.md §2 lists every tensor).
/// Everything outside the configuration this native code implements (other basis, SO(3)
/// products, global state, ZBL repulsion, matgl's DGL variant, ...) is refused with an error
/// that names the file, rather than evaluated wrongly.

#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/io/detail/json_int.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/potential/graphnet/basis.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// Hyper-parameters and per-element data of a TensorNet potential.
struct TensorNetConfig {
  std::vector<std::string> element_types;  ///< node type = index in this list
  double cutoff = 5.0;                     ///< graph and cosine-cutoff radius, Å
  int units = 128;                         ///< channels U of every node tensor stack
  int nblocks = 2;                         ///< interaction layers
  int max_n = 3;                           ///< smooth spherical Bessel functions of the radial basis
  double data_mean = 0.0, data_std = 1.0;  ///< energy scale (eV)
  std::vector<double> element_refs;        ///< eV per atom of each element type (float64 in state.pt)

  /// Model type of an atomic number; throws ValueError for an element the model lacks.
  int type_of(int z) const {
    const std::string sym = element_symbol(z);
    for (std::size_t i = 0; i < element_types.size(); ++i)
      if (element_types[i] == sym) return static_cast<int>(i);
    throw ValueError("TensorNet: element " + sym + " is not among the model's " + std::to_string(element_types.size()) +
                     " element types");
  }
};

/// One interaction layer (`model.layers.{l}`).
template <class Scalar>
struct TensorNetLayerWeights {
  std::array<nn::Linear<Scalar>, 3> edge_mlp;  ///< linears_scalar.{0,1,2}: max_n → U → 2U → 3U, SiLU after each
  std::array<nn::RowMatrix<Scalar>, 6> mix;    ///< linears_tensor.{0..5}.weight [U, U] (no bias)

  template <class Other>
  TensorNetLayerWeights<Other> cast() const {
    TensorNetLayerWeights<Other> w;
    for (std::size_t k = 0; k < 3; ++k) w.edge_mlp[k] = edge_mlp[k].template cast<Other>();
    for (std::size_t k = 0; k < 6; ++k) w.mix[k] = mix[k].template cast<Other>();
    return w;
  }
};

/// The learned tensors in matgl's layouts (spec §2), in scalar Scalar.
template <class Scalar>
struct TensorNetWeights {
  std::array<nn::Linear<Scalar>, 3> distance_proj;     ///< tensor_embedding.distance_proj{1,2,3}: max_n → U
  nn::RowMatrix<Scalar> element_embedding;             ///< tensor_embedding.emb.weight [ntypes, U]
  nn::Linear<Scalar> pair_embedding;                   ///< tensor_embedding.emb2: [x_src, x_dst] (2U) → U
  std::array<nn::RowMatrix<Scalar>, 3> embedding_mix;  ///< tensor_embedding.linears_tensor.{0,1,2} [U, U]
  std::array<nn::Linear<Scalar>, 2> embedding_mlp;     ///< tensor_embedding.linears_scalar.{0,1}: U → 2U → 3U
  nn::LayerNorm<Scalar> init_norm;                     ///< tensor_embedding.init_norm [U]
  std::vector<TensorNetLayerWeights<Scalar>> layers;
  nn::LayerNorm<Scalar> out_norm;  ///< [3U]
  nn::Linear<Scalar> linear;       ///< model.linear: 3U → U, no activation
  nn::GatedMLP<Scalar> readout;    ///< model.final_layer.gated: U → U → U → U → 1

  template <class Other>
  TensorNetWeights<Other> cast() const {
    TensorNetWeights<Other> w;
    for (std::size_t k = 0; k < 3; ++k) {
      w.distance_proj[k] = distance_proj[k].template cast<Other>();
      w.embedding_mix[k] = embedding_mix[k].template cast<Other>();
    }
    w.element_embedding = element_embedding.template cast<Other>();
    w.pair_embedding = pair_embedding.template cast<Other>();
    for (std::size_t k = 0; k < 2; ++k) w.embedding_mlp[k] = embedding_mlp[k].template cast<Other>();
    w.init_norm = init_norm.template cast<Other>();
    for (const auto& l : layers) w.layers.push_back(l.template cast<Other>());
    w.out_norm = out_norm.template cast<Other>();
    w.linear = linear.template cast<Other>();
    w.readout = readout.template cast<Other>();
    return w;
  }
};

/// Calls f(name, data, shape) for every learned tensor of `w` under its matgl state_dict name
/// (row-major, contiguous `data`), in state.pt's order. The same walk over a gradient holder of
/// the same shapes (zero_tensornet_gradients) visits the matching gradients. data_std, data_mean
/// and the element references live in TensorNetConfig and are not visited. After writing
/// weights through it, call `sync_tensornet_weights`.
template <class Scalar, class F>
void visit_tensornet_parameters(TensorNetWeights<Scalar>& w, F&& f) {
  const auto mat = [&](const std::string& name, nn::RowMatrix<Scalar>& m) {
    f(name, m.data(), std::vector<std::int64_t>{m.rows(), m.cols()});
  };
  const auto vec = [&](const std::string& name, Eigen::Matrix<Scalar, 1, Eigen::Dynamic>& v) {
    f(name, v.data(), std::vector<std::int64_t>{v.size()});
  };
  const auto lin = [&](const std::string& prefix, nn::Linear<Scalar>& l) {
    mat(prefix + ".weight", l.weight);
    if (l.has_bias()) vec(prefix + ".bias", l.bias);
  };
  const std::string te = "model.tensor_embedding.";
  for (std::size_t k = 0; k < 3; ++k) lin(te + "distance_proj" + std::to_string(k + 1), w.distance_proj[k]);
  mat(te + "emb.weight", w.element_embedding);
  lin(te + "emb2", w.pair_embedding);
  for (std::size_t k = 0; k < 3; ++k) mat(te + "linears_tensor." + std::to_string(k) + ".weight", w.embedding_mix[k]);
  for (std::size_t k = 0; k < 2; ++k) lin(te + "linears_scalar." + std::to_string(k), w.embedding_mlp[k]);
  vec(te + "init_norm.weight", w.init_norm.weight);
  vec(te + "init_norm.bias", w.init_norm.bias);
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (std::size_t k = 0; k < 3; ++k) lin(p + "linears_scalar." + std::to_string(k), w.layers[l].edge_mlp[k]);
    for (std::size_t k = 0; k < 6; ++k) mat(p + "linears_tensor." + std::to_string(k) + ".weight", w.layers[l].mix[k]);
  }
  vec("model.out_norm.weight", w.out_norm.weight);
  vec("model.out_norm.bias", w.out_norm.bias);
  lin("model.linear", w.linear);
  w.readout.visit_parameters([&f](const std::string& n, Scalar* d, std::vector<std::int64_t> shape) {
    f("model.final_layer.gated." + n, d, std::move(shape));
  });
}

/// Brings the readout's per-branch first-layer copies in line with its stacked first layer
/// after in-place edits through visit_tensornet_parameters.
template <class Scalar>
void sync_tensornet_weights(TensorNetWeights<Scalar>& w) {
  w.readout.sync_first_layer();
}

/// A holder for parameter gradients: the shapes of `w`, all zero, in scalar Other.
template <class Other, class Scalar>
TensorNetWeights<Other> zero_tensornet_gradients(const TensorNetWeights<Scalar>& w) {
  TensorNetWeights<Other> g = w.template cast<Other>();
  visit_tensornet_parameters(g, [](const std::string&, Other* d, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    for (std::int64_t i = 0; i < n; ++i) d[i] = Other(0);
  });
  sync_tensornet_weights(g);
  return g;
}

/// A loaded TensorNet potential (double-precision master copy of the weights).
struct TensorNetModel {
  TensorNetConfig config;
  TensorNetWeights<double> weights;
  std::string source;  ///< where it was loaded from
};

namespace detail {

/// Reads tensors of a matgl state_dict, naming `file` in every error.
class TensorNetStateReader {
 public:
  TensorNetStateReader(const io::StateDict& sd, std::string file) : sd_(sd), file_(std::move(file)) {}

  const io::Tensor& get(const std::string& key, const std::vector<std::int64_t>& shape) const {
    auto it = sd_.find(key);
    if (it == sd_.end()) fail("missing tensor '" + key + "'");
    const io::Tensor& t = it->second;
    if (!t.is_floating()) fail("tensor '" + key + "' is not floating point");
    if (t.shape != shape) fail("tensor '" + key + "' has shape " + str(t.shape) + ", expected " + str(shape));
    return t;
  }

  double scalar(const std::string& key) const {
    const auto& t = get(key, {});
    return t.values.at(0);
  }

  nn::RowMatrix<double> matrix(const std::string& key, long rows, long cols) const {
    const auto& t = get(key, {rows, cols});
    nn::RowMatrix<double> m(rows, cols);
    for (long i = 0; i < rows * cols; ++i) m.data()[i] = t.values[static_cast<std::size_t>(i)];
    return m;
  }

  Eigen::Matrix<double, 1, Eigen::Dynamic> vector(const std::string& key, long n) const {
    const auto& t = get(key, {n});
    Eigen::Matrix<double, 1, Eigen::Dynamic> v(n);
    for (long i = 0; i < n; ++i) v[i] = t.values[static_cast<std::size_t>(i)];
    return v;
  }

  nn::Linear<double> linear(const std::string& prefix, long out, long in, bool bias) const {
    auto w = matrix(prefix + ".weight", out, in);
    if (!bias) {
      if (sd_.count(prefix + ".bias")) fail("unexpected bias '" + prefix + ".bias'");
      return nn::Linear<double>(std::move(w));
    }
    return nn::Linear<double>(std::move(w), vector(prefix + ".bias", out));
  }

  nn::LayerNorm<double> layer_norm(const std::string& prefix, long n) const {
    return nn::LayerNorm<double>(vector(prefix + ".weight", n), vector(prefix + ".bias", n), 1e-5);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError("TensorNet weights '" + file_ + "': " + what);
  }

 private:
  static std::string str(const std::vector<std::int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
  }
  const io::StateDict& sd_;
  std::string file_;
};

}  // namespace detail

/// Weights, data_std/data_mean and element references from a matgl state_dict (`file` names it
/// in errors); `m.config` must already hold the hyper-parameters (read_tensornet_model_json).
inline void load_tensornet_state_dict(const io::StateDict& sd, TensorNetModel& m,
                                      const std::string& file = "state.pt") {
  const detail::TensorNetStateReader r(sd, file);
  auto& c = m.config;
  const long nt = static_cast<long>(c.element_types.size());
  const long u = c.units, nr = c.max_n;
  c.data_mean = r.scalar("data_mean");
  c.data_std = r.scalar("data_std");
  c.element_refs = r.get("element_refs.property_offset", {nt}).values;
  const double rc = r.scalar("model.bond_expansion.rbf.cutoff");
  if (rc != c.cutoff)
    r.fail("bond_expansion cutoff " + std::to_string(rc) + " differs from model.json's " + std::to_string(c.cutoff));
  auto& w = m.weights;
  w = TensorNetWeights<double>{};
  const std::string te = "model.tensor_embedding";
  for (int k = 0; k < 3; ++k)
    w.distance_proj[static_cast<std::size_t>(k)] = r.linear(te + ".distance_proj" + std::to_string(k + 1), u, nr, true);
  w.element_embedding = r.matrix(te + ".emb.weight", nt, u);
  w.pair_embedding = r.linear(te + ".emb2", u, 2 * u, true);
  for (int k = 0; k < 3; ++k)
    w.embedding_mix[static_cast<std::size_t>(k)] =
        r.matrix(te + ".linears_tensor." + std::to_string(k) + ".weight", u, u);
  w.embedding_mlp[0] = r.linear(te + ".linears_scalar.0", 2 * u, u, true);
  w.embedding_mlp[1] = r.linear(te + ".linears_scalar.1", 3 * u, 2 * u, true);
  w.init_norm = r.layer_norm(te + ".init_norm", u);
  for (int l = 0; l < c.nblocks; ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    TensorNetLayerWeights<double> L;
    L.edge_mlp[0] = r.linear(p + ".linears_scalar.0", u, nr, true);
    L.edge_mlp[1] = r.linear(p + ".linears_scalar.1", 2 * u, u, true);
    L.edge_mlp[2] = r.linear(p + ".linears_scalar.2", 3 * u, 2 * u, true);
    for (int k = 0; k < 6; ++k)
      L.mix[static_cast<std::size_t>(k)] = r.matrix(p + ".linears_tensor." + std::to_string(k) + ".weight", u, u);
    w.layers.push_back(std::move(L));
  }
  if (sd.count("model.layers." + std::to_string(c.nblocks) + ".linears_tensor.0.weight"))
    r.fail("holds more interaction layers than model.json's nblocks = " + std::to_string(c.nblocks));
  w.out_norm = r.layer_norm("model.out_norm", 3 * u);
  w.linear = r.linear("model.linear", u, 3 * u, true);
  // WeightedReadOut: GatedMLP(in = U, dims = [U, U, U, 1]); keys layers/gates.{0,2,4,6}.
  std::vector<nn::Linear<double>> core, gate;
  const long dims[5] = {u, u, u, u, 1};
  for (int k = 0; k < 4; ++k) {
    const std::string i = std::to_string(2 * k);
    core.push_back(r.linear("model.final_layer.gated.layers." + i, dims[k + 1], dims[k], true));
    gate.push_back(r.linear("model.final_layer.gated.gates." + i, dims[k + 1], dims[k], true));
  }
  w.readout = nn::GatedMLP<double>(std::move(core), std::move(gate), /*activate_last=*/false);
  for (const char* unsupported : {"repuls", "model.state_embedding"})
    for (const auto& kv : sd)
      if (kv.first.rfind(unsupported, 0) == 0) r.fail("unsupported tensor '" + kv.first + "' (ZBL or global state)");
}

namespace detail {
inline nlohmann::json read_tensornet_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers beyond double
    throw ParseError(path, 0, std::string("invalid JSON: ") + e.what());
  }
}
}  // namespace detail

/// True when `path` (a matgl model.json) describes a TensorNet model (any variant); false for
/// other architectures or files that are not matgl Potentials. Never throws on content.
inline bool is_tensornet_model_json(const std::string& path) {
  try {
    const auto j = detail::read_tensornet_json(path);
    return j.at("kwargs").at("model").value("@class", "") == "TensorNet";
  } catch (const std::exception&) {
    return false;
  }
}

/// Hyper-parameters and element types from a matgl model.json. Configurations this native code
/// does not implement are refused with NotSupported naming the file and the setting.
inline TensorNetConfig read_tensornet_model_json(const std::string& path) {
  const nlohmann::json j = detail::read_tensornet_json(path);
  TensorNetConfig c;
  try {
    if (j.value("@class", "") != "Potential")
      throw ParseError(path, 0, "expected a matgl Potential (\"@class\": \"Potential\")");
    const auto& kw = j.at("kwargs");
    const auto& model = kw.at("model");
    if (model.value("@class", "") != "TensorNet")
      throw NotSupported(path + ": a matgl " + model.value("@class", std::string("(unnamed)")) +
                         " model, not TensorNet");
    const std::string module = model.value("@module", std::string());
    if (module.find("dgl") != std::string::npos)
      throw NotSupported(path + ": matgl's DGL TensorNet (" + module +
                         ") sums interaction messages differently; nernst implements the PyG TensorNet "
                         "(matgl.models._tensornet_pyg)");
    if (kw.value("calc_repuls", false))
      throw NotSupported(path + ": TensorNet with a ZBL repulsion term (calc_repuls = true) is not supported natively");
    const auto& args = model.at("init_args");
    auto need = [&](bool ok, const std::string& what) {
      if (!ok) throw NotSupported(path + ": TensorNet with " + what + " is not supported natively");
    };
    c.element_types = args.at("element_types").get<std::vector<std::string>>();
    c.cutoff = args.value("cutoff", 5.0);
    c.units = io::detail::json_int(args, "units", 64, path);
    c.nblocks = io::detail::json_int(args, "nblocks", 2, path);
    c.max_n = io::detail::json_int(args, "max_n", 3, path);
    need(args.value("rbf_type", std::string("Gaussian")) == "SphericalBessel", "rbf_type other than SphericalBessel");
    need(args.value("use_smooth", false), "the non-smooth spherical Bessel basis (use_smooth = false)");
    need(c.cutoff == SmoothBesselTable::cutoff, "a cutoff other than 5 Å (the smooth basis table is for 5 Å)");
    need(c.max_n >= 1 && c.max_n <= SmoothBesselTable::max_functions, "max_n outside 1..9");
    need(args.value("equivariance_invariance_group", std::string("O(3)")) == "O(3)",
         "equivariance_invariance_group other than O(3)");
    need(args.value("activation_type", std::string("swish")) == "swish", "an activation other than swish");
    need(!args.value("include_state", false), "include_state = true");
    need(!args.value("is_intensive", false), "is_intensive = true");
    need(io::detail::json_int(args, "ntargets", 1, path) == 1, "more than one target");
    need(c.units > 0 && c.nblocks > 0, "non-positive layer sizes");
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("missing or malformed matgl TensorNet fields: ") + e.what());
  }
  for (const auto& s : c.element_types)
    if (try_atomic_number(s) == 0) throw ParseError(path, 0, "unknown element '" + s + "' in element_types");
  return c;
}

}  // namespace graphnet
NERNST_NAMESPACE_END
