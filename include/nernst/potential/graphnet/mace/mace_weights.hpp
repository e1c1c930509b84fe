#pragma once
/// \file
/// \brief MACEWeights: every learned tensor and stored constant of a ScaleShiftMACE, arranged for
/// evaluation, built from a mace state_dict (the names of `model.state_dict()`) and a MACEConfig.
///
/// Both ways of loading a model (state_dict.pt + JSON, or the pickled `.model`) end here with the
/// same tensors, so the arrangement below is written once. Every tensor's size is checked against
/// what the configuration implies; a missing or misshapen one is an error naming the tensor.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/nn/matrix.hpp>
#include <nernst/potential/graphnet/mace/conv_tp.hpp>
#include <nernst/potential/graphnet/mace/e3nn_linear.hpp>
#include <nernst/potential/graphnet/mace/mace_config.hpp>
#include <nernst/potential/graphnet/mace/radial.hpp>
#include <nernst/potential/graphnet/mace/symmetric_contraction.hpp>

#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// One interaction block (`interactions.t`).
template <class Scalar>
struct InteractionWeights {
  InteractionKind kind = InteractionKind::Residual;
  E3nnLinear<Scalar> linear_up;      ///< node irreps → node irreps
  RadialMLP<Scalar> radial_mlp;      ///< conv_tp_weights: num_bessel → ... → conv weight_numel
  ConvLayout conv;                   ///< paths of conv_tp
  std::vector<std::vector<Scalar>> w3j;  ///< per conv path: W3j(l1, l2, l3) [d1][d2][d3]
  E3nnLinear<Scalar> linear;         ///< conv output irreps → target irreps
  ElementLinear<Scalar> skip_tp;     ///< residual: node → layer out; non-residual: target → target
};

/// One product-basis block (`products.t`).
template <class Scalar>
struct ProductWeights {
  SymmetricContraction<Scalar> contraction;  ///< per node: target-irreps messages [C][(lmax+1)²] → layer out
  E3nnLinear<Scalar> linear;                 ///< layer out → layer out
};

/// All weights of a ScaleShiftMACE in precision Scalar.
template <class Scalar>
struct MACEWeights {
  E3nnLinear<Scalar> node_embedding;  ///< n_elements x 0e → C x 0e (row z of the one-hot product)
  RadialEmbedding<Scalar> radial;
  std::vector<InteractionWeights<Scalar>> interactions;
  std::vector<ProductWeights<Scalar>> products;  ///< contractions prepared per element on demand (prepare_elements)
  std::vector<E3nnLinear<Scalar>> readouts;  ///< layers 0..T-2: hidden → 1x0e
  E3nnLinear<Scalar> readout_hidden;         ///< last layer: C x 0e → MLP irreps
  E3nnLinear<Scalar> readout_out;            ///< MLP irreps → 1x0e
};

namespace detail {

/// The tensor `name` of `sd`; `numel` (when >= 0) is checked. Errors name `file` and the tensor.
inline const io::Tensor& sd_tensor(const io::StateDict& sd, const std::string& name, const std::string& file,
                                   std::int64_t numel = -1) {
  const auto it = sd.find(name);
  if (it == sd.end()) throw ParseError(file, 0, "MACE model lacks the tensor '" + name + "'");
  if (numel >= 0 && static_cast<std::int64_t>(it->second.numel()) != numel)
    throw ParseError(file, 0, "MACE tensor '" + name + "' has " + std::to_string(it->second.numel()) +
                                  " elements, the configuration implies " + std::to_string(numel));
  if (!it->second.is_floating()) throw ParseError(file, 0, "MACE tensor '" + name + "' is not floating-point");
  return it->second;
}

template <class Scalar>
RadialMLP<Scalar> radial_mlp(const io::StateDict& sd, const std::string& prefix, const MACEConfig& cfg, int n_out,
                             const std::string& file) {
  RadialMLP<Scalar> mlp;
  mlp.act_constant = static_cast<Scalar>(cfg.act_constant);
  std::vector<int> hs{cfg.num_bessel};
  hs.insert(hs.end(), cfg.radial_mlp.begin(), cfg.radial_mlp.end());
  hs.push_back(n_out);
  for (std::size_t k = 0; k + 1 < hs.size(); ++k) {
    const auto& t = sd_tensor(sd, prefix + ".layer" + std::to_string(k) + ".weight", file,
                              static_cast<std::int64_t>(hs[k]) * hs[k + 1]);
    const double s = 1.0 / std::sqrt(static_cast<double>(hs[k]));
    nn::RowMatrix<Scalar> w(hs[k], hs[k + 1]);
    for (int i = 0; i < hs[k]; ++i)
      for (int j = 0; j < hs[k + 1]; ++j) w(i, j) = static_cast<Scalar>(t.values[static_cast<std::size_t>(i * hs[k + 1] + j)] * s);
    mlp.layers.push_back(std::move(w));
  }
  return mlp;
}

template <class Scalar>
InteractionWeights<Scalar> interaction(const io::StateDict& sd, const MACEConfig& cfg, int t, const std::string& file) {
  const std::string p = "interactions." + std::to_string(t);
  InteractionWeights<Scalar> w;
  w.kind = cfg.interactions[static_cast<std::size_t>(t)];
  const Irreps node = cfg.node_irreps(t), target = cfg.target_irreps();
  w.linear_up = E3nnLinear<Scalar>::from_flat(node, node, sd_tensor(sd, p + ".linear_up.weight", file).values, file + ": " + p + ".linear_up");
  w.conv = ConvLayout::build(node, spherical_irreps(cfg.max_ell), target);
  w.radial_mlp = radial_mlp<Scalar>(sd, p + ".conv_tp_weights", cfg, w.conv.weight_numel(node), file);
  for (const auto& ins : w.conv.instructions) {
    if (w3j_is_implicit(ins)) {
      const auto v = implicit_w3j(ins);
      w.w3j.emplace_back(v.begin(), v.end());
      continue;
    }
    const auto& t3 = sd_tensor(sd, p + ".conv_tp._compiled_main_left_right." + w3j_buffer_name(ins.l1, ins.l2, ins.l3), file,
                               (2 * ins.l1 + 1) * (2 * ins.l2 + 1) * (2 * ins.l3 + 1));
    w.w3j.emplace_back(t3.values.begin(), t3.values.end());
  }
  w.linear = E3nnLinear<Scalar>::from_flat(w.conv.irreps_out, target, sd_tensor(sd, p + ".linear.weight", file).values, file + ": " + p + ".linear");
  const bool residual = w.kind == InteractionKind::Residual;
  w.skip_tp = ElementLinear<Scalar>::from_flat(residual ? node : target, residual ? cfg.layer_out_irreps(t) : target,
                                               cfg.num_elements(), sd_tensor(sd, p + ".skip_tp.weight", file).values,
                                               file + ": " + p + ".skip_tp");
  return w;
}

/// The contraction weights of products.t (mace: weights_max is the highest order, weights.0 the
/// next lower, ...; spec item 8). The U matrices are generated from the Wigner 3j symbols
/// (u_matrix.hpp), which reproduces the stored `U_matrix_<nu>` buffers.
template <class Scalar>
ProductWeights<Scalar> product(const io::StateDict& sd, const MACEConfig& cfg, int t, const std::string& file) {
  const std::string p = "products." + std::to_string(t);
  const Irreps out = cfg.layer_out_irreps(t);
  std::vector<ContractionWeights> cws;
  for (std::size_t k = 0; k < out.size(); ++k) {
    const std::string c = p + ".symmetric_contractions.contractions." + std::to_string(k);
    ContractionWeights cw{out[k].ir, std::vector<std::vector<double>>(static_cast<std::size_t>(cfg.correlation))};
    cw.W.back() = sd_tensor(sd, c + ".weights_max", file).values;
    for (int j = 0; j + 1 < cfg.correlation; ++j)
      cw.W[static_cast<std::size_t>(cfg.correlation - 2 - j)] = sd_tensor(sd, c + ".weights." + std::to_string(j), file).values;
    cws.push_back(std::move(cw));
  }
  try {
    return ProductWeights<Scalar>{SymmetricContraction<Scalar>(cfg.max_ell, cfg.channels(), cfg.num_elements(), std::move(cws)),
                                  E3nnLinear<Scalar>::from_flat(out, out, sd_tensor(sd, p + ".linear.weight", file).values,
                                                                file + ": " + p + ".linear")};
  } catch (const ParseError&) {
    throw;
  } catch (const Error& e) {
    throw ParseError(file, 0, p + ".symmetric_contractions: " + e.what());
  }
}

}  // namespace detail

/// Arranges the tensors of a mace state_dict for evaluation (`file` names the source in errors).
template <class Scalar>
MACEWeights<Scalar> make_mace_weights(const io::StateDict& sd, const MACEConfig& cfg, const std::string& file) {
  using detail::sd_tensor;
  cfg.validate(file);
  MACEWeights<Scalar> w;
  const Irreps onehot{{{cfg.num_elements(), {0, 1}}}};
  w.node_embedding = E3nnLinear<Scalar>::from_flat(onehot, cfg.scalar_irreps(), sd_tensor(sd, "node_embedding.linear.weight", file).values,
                                                   file + ": node_embedding");
  w.radial.r_max = static_cast<Scalar>(cfg.r_max);
  w.radial.p = cfg.p;
  w.radial.prefactor = static_cast<Scalar>(sd_tensor(sd, "radial_embedding.bessel_fn.prefactor", file, 1).values[0]);
  const auto& bw = sd_tensor(sd, "radial_embedding.bessel_fn.bessel_weights", file, cfg.num_bessel).values;
  w.radial.bessel_weights.assign(bw.begin(), bw.end());
  const int T = cfg.num_interactions();
  for (int t = 0; t < T; ++t) {
    w.interactions.push_back(detail::interaction<Scalar>(sd, cfg, t, file));
    w.products.push_back(detail::product<Scalar>(sd, cfg, t, file));
  }
  const Irreps one{{{1, {0, 1}}}};
  for (int t = 0; t + 1 < T; ++t) {
    const std::string p = "readouts." + std::to_string(t) + ".linear";
    w.readouts.push_back(E3nnLinear<Scalar>::from_flat(cfg.layer_out_irreps(t), one, sd_tensor(sd, p + ".weight", file).values, file + ": " + p));
  }
  const std::string last = "readouts." + std::to_string(T - 1);
  w.readout_hidden = E3nnLinear<Scalar>::from_flat(cfg.scalar_irreps(), cfg.mlp_irreps, sd_tensor(sd, last + ".linear_1.weight", file).values,
                                                   file + ": " + last + ".linear_1");
  w.readout_out = E3nnLinear<Scalar>::from_flat(cfg.mlp_irreps, one, sd_tensor(sd, last + ".linear_2.weight", file).values,
                                                file + ": " + last + ".linear_2");
  return w;
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
