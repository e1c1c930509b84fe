#pragma once
/// \file
/// \brief The reverse pass of ScaleShiftMACE to its learned tensors (∂E/∂θ for every tensor of
/// mace_parameters.hpp, in the state_dict layout), and a forward pass whose edge vectors carry
/// a geometry tangent: with Scalar = nn::Dual<double> the two give forward-over-reverse
/// gradients of force and stress losses (docs/training.md, train/mace_trainable.hpp).
///
/// Why a second forward here: the inference stages of mace_forward.hpp call std:: functions
/// (std::exp, std::sin, std::sqrt), which do not accept a dual number, and the inference
/// headers are kept as they are. The few stages that need them (edge attributes, radial MLP,
/// convolution couplings, the last readout's activation) are written here once more with
/// `math::` functions; every other stage (embedding, e3nn linears, skip_tp, product basis,
/// node energies) is the public inference function itself. For Scalar = double the state of
/// mace_forward.hpp's `forward()` serves the reverse pass as well.
///
/// Reverse pass, last layer first, for E = Σ_i E_i (seed ∂E/∂readout = scale):
/// readout (weight gradients of the linears, through the SiLU of the last one) → product basis
/// (linear; per node the symmetric contraction's `weight_gradient` and `forward_backward`) →
/// interaction (skip_tp, linear / avg_num_neighbors, conv_tp to the per-edge weights and the
/// up-projected features, the radial MLP's layers, linear_up) → node embedding. E0 is linear in
/// E (∂E/∂E0_z = number of atoms of element z) and handled by the trainer's atomref entry.

#include <nernst/core/error.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/mace/mace_forward.hpp>
#include <nernst/potential/graphnet/mace/mace_parameters.hpp>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// A geometry direction (displacements δx_i in Å and strain δε, r → r(I + ε) with vectors as
/// rows): every edge vector r_e = x_receiver − x_sender + S·L gets δr_e = δx_receiver −
/// δx_sender + r_e δε. Only Dual scalars carry it.
struct EdgeTangent {
  std::vector<std::array<double, 3>> dx;
  Eigen::Matrix3d deps = Eigen::Matrix3d::Zero();
};

namespace train_detail {

/// c · silu(x) with math:: functions (plain or dual scalars).
template <class S>
S silu(const S& x, double c) {
  return S(c) * (x / (S(1) + math::exp(-x)));
}

/// d/dx of silu: c σ(x) (1 + x (1 − σ(x))).
template <class S>
S silu_derivative(const S& x, double c) {
  const S sig = S(1) / (S(1) + math::exp(-x));
  return S(c) * sig * (S(1) + x * (S(1) - sig));
}

template <class S>
nn::RowMatrix<S> activate(const nn::RowMatrix<S>& z, double c) {
  return z.unaryExpr([c](const S& v) { return silu(v, c); });
}

/// Radial embedding of one edge length (RadialEmbedding::apply with math:: functions).
template <class S>
void radial_row(const RadialEmbedding<S>& emb, const S& r, S* out) {
  const double rmax = nn::value_of(emb.r_max), pp = emb.p;
  const S x = r / S(rmax);
  const S u = S(1) - S((pp + 1.0) * (pp + 2.0) / 2.0) * math::pow(x, pp) + S(pp * (pp + 2.0)) * math::pow(x, pp + 1.0) -
              S(pp * (pp + 1.0) / 2.0) * math::pow(x, pp + 2.0);
  const S env = nn::value_of(r) < rmax ? u : S(0);
  for (int n = 0; n < emb.size(); ++n)
    out[n] = emb.prefactor * (math::sin(emb.bessel_weights[static_cast<std::size_t>(n)] * r) / r) * env;
}

/// Where each conv_tp path reads and writes (mace_forward.hpp's ConvPaths, couplings computed in
/// double so that a dual Scalar needs no std::sqrt).
template <class S>
struct ConvPaths {
  struct Coupling {
    int m1, m2, M;
    S c;
  };
  std::vector<std::vector<Coupling>> cpl;
  std::vector<int> off1, off2, offo, offw, mul, d1, d3;

  ConvPaths(const InteractionWeights<S>& w, const Irreps& node) {
    int wpos = 0;
    for (std::size_t k = 0; k < w.conv.instructions.size(); ++k) {
      const auto& ins = w.conv.instructions[k];
      const int a1 = 2 * ins.l1 + 1, a2 = 2 * ins.l2 + 1, a3 = 2 * ins.l3 + 1;
      const double norm = std::sqrt(static_cast<double>(a3));
      cpl.emplace_back();
      for (int a = 0; a < a1; ++a)
        for (int b = 0; b < a2; ++b)
          for (int M = 0; M < a3; ++M)
            if (const double v = nn::value_of(w.w3j[k][static_cast<std::size_t>((a * a2 + b) * a3 + M)]); v != 0.0)
              cpl.back().push_back({a, b, M, S(norm * v)});
      off1.push_back(node.offset(static_cast<std::size_t>(ins.i_in1)));
      off2.push_back(ins.l2 * ins.l2);
      offo.push_back(w.conv.irreps_out.offset(static_cast<std::size_t>(ins.i_out)));
      offw.push_back(wpos);
      mul.push_back(node[static_cast<std::size_t>(ins.i_in1)].mul);
      d1.push_back(a1);
      d3.push_back(a3);
      wpos += mul.back();
    }
  }
  std::size_t size() const { return cpl.size(); }
};

}  // namespace train_detail

/// Spherical harmonics and radial embedding of every edge; with a dual Scalar and `tangent`, the
/// edge vectors carry their tangents (EdgeTangent).
template <class S>
void edge_attributes_with_tangent(const MACEModel<S>& m, const MACEGraph& g, const EdgeTangent* tangent, nn::RowMatrix<S>& sh,
                                  nn::RowMatrix<S>& radial) {
  check_sh_degree(m.config.max_ell);
  sh.resize(static_cast<Eigen::Index>(g.size()), sh_dim(m.config.max_ell));
  radial.resize(static_cast<Eigen::Index>(g.size()), m.weights.radial.size());
  for (std::size_t e = 0; e < g.size(); ++e) {
    S v[3];
    for (int k = 0; k < 3; ++k) v[k] = S(g.vector[e][static_cast<std::size_t>(k)]);
    if constexpr (nn::is_dual_v<S>) {
      if (tangent) {
        const auto& xs = tangent->dx.at(static_cast<std::size_t>(g.sender[e]));
        const auto& xr = tangent->dx.at(static_cast<std::size_t>(g.receiver[e]));
        for (int k = 0; k < 3; ++k) {
          const auto kk = static_cast<std::size_t>(k);
          v[k].d = xr[kk] - xs[kk];
          for (int j = 0; j < 3; ++j) v[k].d += g.vector[e][static_cast<std::size_t>(j)] * tangent->deps(j, k);
        }
      }
    }
    spherical_harmonics<S>(m.config.max_ell, v, sh.row(static_cast<Eigen::Index>(e)).data());
    const S r = math::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    train_detail::radial_row(m.weights.radial, r, radial.row(static_cast<Eigen::Index>(e)).data());
  }
}

/// Y = MLP(X) with the hidden pre-activations kept (RadialMLP::apply with math:: functions).
template <class S>
void radial_mlp_forward(const RadialMLP<S>& mlp, const nn::RowMatrix<S>& X, nn::RowMatrix<S>& Y, std::vector<nn::RowMatrix<S>>& hidden) {
  const double c = nn::value_of(mlp.act_constant);
  hidden.resize(mlp.layers.size() - 1);
  nn::RowMatrix<S> h = X, z;
  for (std::size_t k = 0; k < mlp.layers.size(); ++k) {
    z.noalias() = h * mlp.layers[k];
    if (k + 1 == mlp.layers.size()) break;
    hidden[k] = z;
    h = train_detail::activate(z, c);
  }
  Y = std::move(z);
}

/// convolve() of mace_forward.hpp for any scalar (same sums in the same order).
template <class S>
void convolve_any(const InteractionWeights<S>& w, const Irreps& node, const nn::RowMatrix<S>& h_up, const nn::RowMatrix<S>& sh,
                  const nn::RowMatrix<S>& tp_weights, const MACEGraph& g, nn::RowMatrix<S>& out) {
  const train_detail::ConvPaths<S> P(w, node);
  out.setZero(h_up.rows(), w.conv.irreps_out.dim());
  for (std::size_t e = 0; e < g.size(); ++e) {
    const S* hs = h_up.row(g.sender[e]).data();
    const S* Y = sh.row(static_cast<Eigen::Index>(e)).data();
    const S* we = tp_weights.row(static_cast<Eigen::Index>(e)).data();
    S* o = out.row(g.receiver[e]).data();
    for (std::size_t k = 0; k < P.size(); ++k)
      for (int u = 0; u < P.mul[k]; ++u) {
        const S wu = we[P.offw[k] + u];
        const S* x = hs + P.off1[k] + u * P.d1[k];
        S* y = o + P.offo[k] + u * P.d3[k];
        for (const auto& c : P.cpl[k]) y[c.M] += wu * c.c * x[c.m1] * Y[P.off2[k] + c.m2];
      }
  }
}

/// Interaction block t for any scalar (interaction() of mace_forward.hpp).
template <class S>
void interaction_any(const MACEModel<S>& m, int t, const nn::RowMatrix<S>& h, const ForwardState<S>& s, LayerState<S>& out) {
  const auto& w = m.weights.interactions[static_cast<std::size_t>(t)];
  w.linear_up.apply(h, out.node_up);
  radial_mlp_forward(w.radial_mlp, s.radial, out.tp_weights, out.mlp_hidden);
  convolve_any(w, m.config.node_irreps(t), out.node_up, s.sh, out.tp_weights, s.graph, out.conv);
  w.linear.apply(out.conv, out.message);
  out.message *= S(1.0 / m.config.avg_num_neighbors);
  if (w.kind == InteractionKind::Residual) {
    w.skip_tp.apply(h, s.element, out.sc);
  } else {
    nn::RowMatrix<S> mixed;
    w.skip_tp.apply(out.message, s.element, mixed);
    out.message = std::move(mixed);
    out.sc.resize(0, 0);
  }
}

/// Raw readout of layer t for any scalar (readout() of mace_forward.hpp).
template <class S>
void readout_any(const MACEModel<S>& m, int t, const nn::RowMatrix<S>& features, nn::RowMatrix<S>& e) {
  if (t + 1 < m.config.num_interactions()) {
    m.weights.readouts[static_cast<std::size_t>(t)].apply(features, e);
    return;
  }
  nn::RowMatrix<S> hidden;
  m.weights.readout_hidden.apply(features, hidden);
  m.weights.readout_out.apply(train_detail::activate(hidden, m.config.act_constant), e);
}

/// The forward pass of mace_forward.hpp for any scalar; with S = nn::Dual<double> and a tangent,
/// every quantity carries its derivative along the tangent direction. (1/avg_num_neighbors is
/// applied as a product here, a division there: the double results agree to rounding.)
template <class S>
ForwardState<S> forward_with_tangent(MACEModel<S>& m, MACEGraph graph, const std::vector<int>& atomic_numbers,
                                     const EdgeTangent* tangent = nullptr) {
  check_edge_atoms(graph.sender, graph.receiver, atomic_numbers.size(), "MACE");
  if (tangent && tangent->dx.size() != atomic_numbers.size())
    throw ValueError("MACE tangent forward: " + std::to_string(tangent->dx.size()) + " displacements for " +
                     std::to_string(atomic_numbers.size()) + " atoms");
  ForwardState<S> s;
  s.element = element_indices(m.config, atomic_numbers);
  m.prepare_elements(s.element);
  s.graph = std::move(graph);
  edge_attributes_with_tangent(m, s.graph, tangent, s.sh, s.radial);
  embed_nodes(m, s.element, s.node_embedding);
  const int T = m.config.num_interactions();
  s.layers.resize(static_cast<std::size_t>(T));
  s.readouts.resize(static_cast<Eigen::Index>(atomic_numbers.size()), T);
  for (int t = 0; t < T; ++t) {
    auto& L = s.layers[static_cast<std::size_t>(t)];
    interaction_any(m, t, t == 0 ? s.node_embedding : s.layers[static_cast<std::size_t>(t - 1)].features, s, L);
    product_basis(m, t, s.element, L);
    nn::RowMatrix<S> e;
    readout_any(m, t, L.features, e);
    s.readouts.col(t) = e.col(0);
  }
  node_energies(m, s);
  return s;
}

namespace train_detail {

/// Readout t reversed: weight gradients of its linears, and dE/d(features) into g.
template <class S>
void readout_parameter_backward(const MACEModel<S>& m, int t, const nn::RowMatrix<S>& features, const nn::RowMatrix<S>& g_out,
                                nn::RowMatrix<S>& g, MACEParameterTensors<S>& G) {
  const int T = m.config.num_interactions();
  if (t + 1 < T) {
    const auto& L = m.weights.readouts[static_cast<std::size_t>(t)];
    L.weight_gradient(features, g_out, G.data("readouts." + std::to_string(t) + ".linear.weight"));
    L.backward(g_out, g);
    return;
  }
  const std::string p = "readouts." + std::to_string(T - 1);
  const double c = m.config.act_constant;
  nn::RowMatrix<S> hidden, g_act;
  m.weights.readout_hidden.apply(features, hidden);
  m.weights.readout_out.weight_gradient(activate(hidden, c), g_out, G.data(p + ".linear_2.weight"));
  m.weights.readout_out.backward(g_out, g_act);
  g_act = g_act.cwiseProduct(hidden.unaryExpr([c](const S& v) { return silu_derivative(v, c); }));
  m.weights.readout_hidden.weight_gradient(features, g_act, G.data(p + ".linear_1.weight"));
  m.weights.readout_hidden.backward(g_act, g);
}

/// Product basis t reversed: the linear's and, per node, the contraction's weight gradients
/// (rows of the node's element), and dE/d(message) into g_message.
template <class S>
void product_parameter_backward(const MACEModel<S>& m, int t, const std::vector<int>& element, const LayerState<S>& L,
                                const nn::RowMatrix<S>& g_features, nn::RowMatrix<S>& g_message, MACEParameterTensors<S>& G) {
  const auto& p = m.weights.products[static_cast<std::size_t>(t)];
  const int C = m.config.channels(), D = sh_dim(m.config.max_ell);
  const Eigen::Index n = L.message.rows();
  const auto perm = contraction_layout(C, m.config.max_ell);
  nn::RowMatrix<S> B(n, p.contraction.output_dim()), g_B;
  std::vector<S> x(static_cast<std::size_t>(C * D)), gx(x.size());
  for (Eigen::Index i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = L.message(i, perm[j]);
    p.contraction.forward(element[static_cast<std::size_t>(i)], x.data(), B.row(i).data());
  }
  p.linear.weight_gradient(B, g_features, G.data("products." + std::to_string(t) + ".linear.weight"));
  p.linear.backward(g_features, g_B);
  std::vector<std::vector<std::vector<std::vector<S>>>> gW(static_cast<std::size_t>(m.config.num_elements()));
  std::vector<S> Bi(static_cast<std::size_t>(p.contraction.output_dim()));
  g_message.setZero(n, L.message.cols());
  for (Eigen::Index i = 0; i < n; ++i) {
    const int z = element[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = L.message(i, perm[j]);
    std::fill(gx.begin(), gx.end(), S(0));
    p.contraction.forward_backward(z, x.data(), g_B.row(i).data(), Bi.data(), gx.data());
    p.contraction.weight_gradient(z, x.data(), g_B.row(i).data(), gW[static_cast<std::size_t>(z)]);
    for (std::size_t j = 0; j < x.size(); ++j) g_message(i, perm[j]) = gx[j];
  }
  for (std::size_t z = 0; z < gW.size(); ++z)
    for (std::size_t k = 0; k < gW[z].size(); ++k)
      for (std::size_t nu = 1; nu <= gW[z][k].size(); ++nu) {
        const auto& src = gW[z][k][nu - 1];
        S* dst = G.data(contraction_weight_name(m.config, t, k, static_cast<int>(nu))) + z * src.size();
        for (std::size_t j = 0; j < src.size(); ++j) dst[j] += src[j];
      }
}

/// conv_tp reversed to what depends on parameters: dE/d(up-projected features) (g_up) and
/// dE/d(per-edge weights) (g_w); convolve_backward of mace_backward.hpp without the harmonics.
template <class S>
void convolve_parameter_backward(const InteractionWeights<S>& w, const Irreps& node, const nn::RowMatrix<S>& h_up,
                                 const nn::RowMatrix<S>& sh, const nn::RowMatrix<S>& tp_weights, const MACEGraph& g,
                                 const nn::RowMatrix<S>& g_conv, nn::RowMatrix<S>& g_up, nn::RowMatrix<S>& g_w) {
  const ConvPaths<S> P(w, node);
  g_up.setZero(h_up.rows(), h_up.cols());
  g_w.setZero(tp_weights.rows(), tp_weights.cols());
  std::vector<S> A;
  for (std::size_t e = 0; e < g.size(); ++e) {
    const auto ee = static_cast<Eigen::Index>(e);
    const S* hs = h_up.row(g.sender[e]).data();
    const S* Y = sh.row(ee).data();
    const S* we = tp_weights.row(ee).data();
    const S* go = g_conv.row(g.receiver[e]).data();
    S* ghs = g_up.row(g.sender[e]).data();
    S* gwe = g_w.row(ee).data();
    for (std::size_t k = 0; k < P.size(); ++k) {
      const int d1 = P.d1[k], d3 = P.d3[k];
      A.assign(static_cast<std::size_t>(d1 * d3), S(0));  // A[m1][M] = Σ c·Y[m2]
      for (const auto& c : P.cpl[k]) A[static_cast<std::size_t>(c.m1 * d3 + c.M)] += c.c * Y[P.off2[k] + c.m2];
      for (int u = 0; u < P.mul[k]; ++u) {
        const S wu = we[P.offw[k] + u];
        const S* x = hs + P.off1[k] + u * d1;
        S* gx = ghs + P.off1[k] + u * d1;
        const S* gy = go + P.offo[k] + u * d3;
        S gw(0);
        for (int a = 0; a < d1; ++a) {
          S tt(0);
          for (int M = 0; M < d3; ++M) tt += A[static_cast<std::size_t>(a * d3 + M)] * gy[M];
          gx[a] += wu * tt;
          gw += x[a] * tt;
        }
        gwe[P.offw[k] + u] = gw;
      }
    }
  }
}

/// Radial MLP reversed to its layers' weights (`prefix` + k + ".weight").
template <class S>
void radial_mlp_parameter_backward(const RadialMLP<S>& mlp, const nn::RowMatrix<S>& X, const std::vector<nn::RowMatrix<S>>& hidden,
                                   const nn::RowMatrix<S>& GY, MACEParameterTensors<S>& G, const std::string& prefix) {
  if (hidden.size() + 1 != mlp.layers.size()) throw ValueError("radial MLP: hidden pre-activations were not kept");
  const double c = nn::value_of(mlp.act_constant);
  nn::RowMatrix<S> g = GY;
  for (std::size_t k = mlp.layers.size(); k-- > 0;) {
    const std::string name = prefix + std::to_string(k) + ".weight";
    if (k == 0) {
      mlp.layer_weight_gradient(0, X, g, G.data(name));
      return;
    }
    mlp.layer_weight_gradient(k, activate(hidden[k - 1], c), g, G.data(name));
    nn::RowMatrix<S> gh;
    gh.noalias() = g * mlp.layers[k].transpose();
    g = gh.cwiseProduct(hidden[k - 1].unaryExpr([c](const S& v) { return silu_derivative(v, c); }));
  }
}

/// Interaction t reversed: weight gradients of skip_tp, linear, the radial MLP and linear_up;
/// dE/d(h) (the layer's input features) into g_h. g_sc = dE/d(features) (the residual's share).
template <class S>
void interaction_parameter_backward(const MACEModel<S>& m, int t, const ForwardState<S>& s, const LayerState<S>& L,
                                    const nn::RowMatrix<S>& h, const nn::RowMatrix<S>& g_message, const nn::RowMatrix<S>& g_sc,
                                    nn::RowMatrix<S>& g_h, MACEParameterTensors<S>& G) {
  const auto& w = m.weights.interactions[static_cast<std::size_t>(t)];
  const std::string p = "interactions." + std::to_string(t);
  const S inv_avg = S(1.0 / m.config.avg_num_neighbors);
  nn::RowMatrix<S> g_lin, g_conv, g_up, g_w;
  if (w.kind == InteractionKind::Residual) {
    g_lin = g_message * inv_avg;
    w.skip_tp.weight_gradient(h, s.element, g_sc, G.data(p + ".skip_tp.weight"));
  } else {
    nn::RowMatrix<S> pre, g_pre;  // the messages before skip_tp mixes them
    w.linear.apply(L.conv, pre);
    pre *= inv_avg;
    w.skip_tp.weight_gradient(pre, s.element, g_message, G.data(p + ".skip_tp.weight"));
    w.skip_tp.backward(g_message, s.element, g_pre);
    g_lin = g_pre * inv_avg;
  }
  w.linear.weight_gradient(L.conv, g_lin, G.data(p + ".linear.weight"));
  w.linear.backward(g_lin, g_conv);
  convolve_parameter_backward(w, m.config.node_irreps(t), L.node_up, s.sh, L.tp_weights, s.graph, g_conv, g_up, g_w);
  radial_mlp_parameter_backward(w.radial_mlp, s.radial, L.mlp_hidden, g_w, G, p + ".conv_tp_weights.layer");
  w.linear_up.weight_gradient(h, g_up, G.data(p + ".linear_up.weight"));
  w.linear_up.backward(g_up, g_h);
  if (w.kind == InteractionKind::Residual) {
    nn::RowMatrix<S> g_skip;
    w.skip_tp.backward(g_sc, s.element, g_skip);
    g_h += g_skip;
  }
}

}  // namespace train_detail

/// Adds ∂E/∂θ of every learned tensor (state_dict layout) to G for the energy E = Σ_i E_i of
/// the forward state `s` (forward() or forward_with_tangent() of this model). With dual scalars
/// the tangent of each entry is ∂(D_t E)/∂θ for the tangent the forward pass carried.
template <class S>
void add_parameter_gradient(const MACEModel<S>& m, const ForwardState<S>& s, MACEParameterTensors<S>& G) {
  const int T = m.config.num_interactions();
  if (static_cast<int>(s.layers.size()) != T || s.readouts.rows() != static_cast<Eigen::Index>(s.element.size()))
    throw ValueError("MACE parameter gradient: the forward state is not a complete forward pass of this model");
  const Eigen::Index n = s.readouts.rows();
  const nn::RowMatrix<S> g_readout = nn::RowMatrix<S>::Constant(n, 1, S(m.config.scale));
  nn::RowMatrix<S> g_next, g_feat, g_message, g_h;
  for (int t = T - 1; t >= 0; --t) {
    const auto& L = s.layers[static_cast<std::size_t>(t)];
    train_detail::readout_parameter_backward(m, t, L.features, g_readout, g_feat, G);
    if (g_next.size()) g_feat += g_next;
    train_detail::product_parameter_backward(m, t, s.element, L, g_feat, g_message, G);
    const auto& h = t == 0 ? s.node_embedding : s.layers[static_cast<std::size_t>(t - 1)].features;
    train_detail::interaction_parameter_backward(m, t, s, L, h, g_message, g_feat, g_h, G);
    g_next = g_h;
  }
  // h_i = W_emb[z_i, :] (folded 1/sqrt(n_elements)): the row of the atom's element.
  const S alpha = S(m.weights.node_embedding.path_normalisation().at(0));
  S* ge = G.data("node_embedding.linear.weight");
  const Eigen::Index C = g_next.cols();
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index c = 0; c < C; ++c) ge[s.element[static_cast<std::size_t>(i)] * C + c] += alpha * g_next(i, c);
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
