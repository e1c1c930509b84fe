#pragma once
/// \file
/// \brief The hand-written reverse pass of ScaleShiftMACE (spec item 11): dE/d(edge vector) from
/// the ForwardState, then forces F = −dE/dx and the stress (1/V) dE/dε (ASE sign).
///
/// Stage by stage, in the reverse order of mace_forward.hpp: readouts → product basis (linear,
/// symmetric contraction) → interaction (linear / avg_num_neighbors, skip_tp, receiver sums,
/// conv_tp, linear_up) → per-edge weights (radial MLP) and edge attributes (radial embedding and
/// spherical harmonics, both functions of the edge vector r_e). Every layer is linear in its
/// weights' inputs except the contraction, the activations and the edge attributes, whose
/// derivatives come from their own headers. All in precision Scalar; forces and stress are summed
/// in double. The stages run on the host threads over the forward pass's row chunks
/// (ForwardState::chunks, mace_chunks.hpp); every sum onto an atom or an edge is in graph order.

#include <nernst/potential/graphnet/mace/mace_forward.hpp>

#include <Eigen/Core>
#include <Eigen/LU>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// What the reverse pass gives.
struct MACEGradient {
  std::vector<std::array<double, 3>> edge_gradient;  ///< dE/dr_e per edge (eV/Å)
  std::vector<std::array<double, 3>> forces;         ///< −dE/dx_i (eV/Å)
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  ///< dE/dε = sym(Σ_e r_e ⊗ dE/dr_e), symmetric strain ε (eV)
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();  ///< virial / V (eV/Å³, ASE sign, positive = tensile)
};

/// Gradients of the energy with respect to the edge attributes, accumulated over the layers.
template <class Scalar>
struct EdgeAttributeGradient {
  nn::RowMatrix<Scalar> sh;      ///< E x (lmax+1)²
  nn::RowMatrix<Scalar> radial;  ///< E x num_bessel
};

/// The reverse pass's per-layer matrices, kept between calls (a Potential holds one): the largest,
/// dE/d(tp weights), is E x conv weights (E x 1280 for the medium model); reused, it is neither
/// allocated nor page-faulted again while the system keeps its size.
template <class Scalar>
struct BackwardWorkspace {
  nn::RowMatrix<Scalar> g_lin, g_conv, g_up, g_w, g_r, g_skip;  ///< interaction_backward
  nn::RowMatrix<Scalar> g_next, g_feat, g_message;              ///< layers_backward
};

/// dE/d(readout_t,i) = w_i · scale for the energy E = Σ_i w_i E_i (item 10 reversed). All weights
/// are 1 for the whole structure (`weights` empty); a domain of owned + ghost atoms weighs its
/// owned atoms 1 and its ghosts 0, so that the ranks' energies add up to the total.
template <class Scalar>
nn::RowMatrix<Scalar> readout_seed(const MACEModel<Scalar>& m, Eigen::Index n, const std::vector<double>& weights) {
  const Scalar scale = static_cast<Scalar>(m.config.scale);
  nn::RowMatrix<Scalar> g = nn::RowMatrix<Scalar>::Constant(n, 1, scale);
  if (!weights.empty())
    for (Eigen::Index i = 0; i < n; ++i) g(i, 0) = static_cast<Scalar>(weights[static_cast<std::size_t>(i)]) * scale;
  return g;
}

/// dE/d(features of layer t) through its readout, from dE/d(readout) = g_out (item 9 reversed),
/// over the atom chunks `nodes`.
template <class Scalar>
void readout_backward(const MACEModel<Scalar>& m, int t, const nn::RowMatrix<Scalar>& features, const nn::RowMatrix<Scalar>& g_out,
                      nn::RowMatrix<Scalar>& g, const nn::RowChunks& nodes) {
  if (t + 1 < m.config.num_interactions()) {
    backward_linear(m.weights.readouts[static_cast<std::size_t>(t)], g_out, g, nodes);
    return;
  }
  nn::RowMatrix<Scalar> hidden, g_act;
  apply_linear(m.weights.readout_hidden, features, hidden, nodes);
  backward_linear(m.weights.readout_out, g_out, g_act, nodes);
  const Scalar c = static_cast<Scalar>(m.config.act_constant);
  g_act = g_act.cwiseProduct(hidden.unaryExpr([c](Scalar v) { return scaled_silu_derivative(v, c); }));
  backward_linear(m.weights.readout_hidden, g_act, g, nodes);
}

/// As above, the atoms split for the current thread count.
template <class Scalar>
void readout_backward(const MACEModel<Scalar>& m, int t, const nn::RowMatrix<Scalar>& features, const nn::RowMatrix<Scalar>& g_out,
                      nn::RowMatrix<Scalar>& g) {
  nn::RowChunks nodes;
  nodes.split(features.rows(), nn::host_threads(), kMinNodeChunk);
  readout_backward(m, t, features, g_out, g, nodes);
}

/// dE/d(message) of layer t from dE/d(features) through the product basis (item 8 reversed):
/// features = linear(SymmetricContraction(message)) (+ sc, whose gradient is g_features itself).
/// Over the atom chunks `nodes`.
template <class Scalar>
void product_backward(const MACEModel<Scalar>& m, int t, const std::vector<int>& element, const LayerState<Scalar>& L,
                      const nn::RowMatrix<Scalar>& g_features, nn::RowMatrix<Scalar>& g_message, const nn::RowChunks& nodes) {
  const auto& p = m.weights.products[static_cast<std::size_t>(t)];
  const int C = m.config.channels(), D = sh_dim(m.config.max_ell);
  nn::RowMatrix<Scalar> g_B(g_features.rows(), p.linear.irreps_in.dim());
  const auto perm = contraction_layout(C, m.config.max_ell);
  g_message.resize(L.message.rows(), L.message.cols());
  nodes.run([&](int, Eigen::Index i0, Eigen::Index i1) {
    linear_backward_rows(p.linear, g_features, g_B, i0, i1);
    g_message.middleRows(i0, i1 - i0).setZero();
    std::vector<Scalar> x(static_cast<std::size_t>(C * D)), gx(x.size()), B(static_cast<std::size_t>(p.contraction.output_dim()));
    for (Eigen::Index i = i0; i < i1; ++i) {
      for (std::size_t j = 0; j < x.size(); ++j) x[j] = L.message(i, perm[j]);
      std::fill(gx.begin(), gx.end(), Scalar(0));
      p.contraction.forward_backward(element[static_cast<std::size_t>(i)], x.data(), g_B.row(i).data(), B.data(), gx.data());
      for (std::size_t j = 0; j < x.size(); ++j) g_message(i, perm[j]) = gx[j];
    }
  });
}

/// As above, the atoms split for the current thread count.
template <class Scalar>
void product_backward(const MACEModel<Scalar>& m, int t, const std::vector<int>& element, const LayerState<Scalar>& L,
                      const nn::RowMatrix<Scalar>& g_features, nn::RowMatrix<Scalar>& g_message) {
  nn::RowChunks nodes;
  nodes.split(L.message.rows(), nn::host_threads(), kMinNodeChunk);
  product_backward(m, t, element, L, g_features, g_message, nodes);
}

/// Reverse of convolve: from dE/d(conv) the gradients of the node features h' (g_up, resized),
/// the per-edge weights (g_w, resized; each weight feeds one path and channel, so it is written,
/// not accumulated) and the harmonics (added to g_sh).
///
/// Per edge and path the couplings are first folded with the harmonics, A[m1][M] =
/// Σ c·Y[m2], so each channel u costs two small d1 x d3 products: t = A gy_u gives
/// dE/dh'_u = w_u t and dE/dw_u = h'_u · t, and Pm += w_u h'_u ⊗ gy_u collects what the
/// harmonics receive, Σ c·Pm[m1][M], once per path.
///
/// Threaded over senders (the atom chunks of `c`): a sender's row of g_up adds its outgoing
/// edges in graph order (c.by_sender), and an edge's rows of g_w and g_sh belong to that edge
/// alone, so every sum is the serial one at any thread count.
template <class Scalar>
void convolve_backward(const InteractionWeights<Scalar>& w, const Irreps& node, const nn::RowMatrix<Scalar>& h_up,
                       const nn::RowMatrix<Scalar>& sh, const nn::RowMatrix<Scalar>& tp_weights, const MACEGraph& g,
                       const MACEChunks& c, const nn::RowMatrix<Scalar>& g_conv, nn::RowMatrix<Scalar>& g_up,
                       nn::RowMatrix<Scalar>& g_w, nn::RowMatrix<Scalar>& g_sh) {
  const detail::ConvPaths<Scalar> P(w, node);
  g_up.resize(h_up.rows(), h_up.cols());
  g_w.resize(tp_weights.rows(), tp_weights.cols());  // every entry is written once below
  std::size_t dmax = 0;
  for (std::size_t k = 0; k < P.size(); ++k) dmax = std::max(dmax, static_cast<std::size_t>(P.d1[k] * P.d3[k]));
  c.nodes.run([&](int, Eigen::Index s0, Eigen::Index s1) {
    g_up.middleRows(s0, s1 - s0).setZero();
    std::vector<Scalar> A(dmax), Pm(dmax);
    for (Eigen::Index sn = s0; sn < s1; ++sn) {
      Scalar* ghs = g_up.row(sn).data();
      const Scalar* hs = h_up.row(sn).data();
      for (int j = c.by_sender.ptr[static_cast<std::size_t>(sn)]; j < c.by_sender.ptr[static_cast<std::size_t>(sn) + 1]; ++j) {
        const auto e = static_cast<std::size_t>(c.by_sender.edge[static_cast<std::size_t>(j)]);
        const auto ee = static_cast<Eigen::Index>(e);
        const Scalar* Y = sh.row(ee).data();
        const Scalar* we = tp_weights.row(ee).data();
        const Scalar* go = g_conv.row(g.receiver[e]).data();
        Scalar* gY = g_sh.row(ee).data();
        Scalar* gwe = g_w.row(ee).data();
        for (std::size_t k = 0; k < P.size(); ++k) {
          const int d1 = P.d1[k], d3 = P.d3[k];
          std::fill(A.begin(), A.end(), Scalar(0));
          std::fill(Pm.begin(), Pm.end(), Scalar(0));
          for (const auto& cp : P.cpl[k]) A[static_cast<std::size_t>(cp.m1 * d3 + cp.M)] += cp.c * Y[P.off2[k] + cp.m2];
          for (int u = 0; u < P.mul[k]; ++u) {
            const Scalar wu = we[P.offw[k] + u];
            const Scalar* x = hs + P.off1[k] + u * d1;
            Scalar* gx = ghs + P.off1[k] + u * d1;
            const Scalar* gy = go + P.offo[k] + u * d3;
            Scalar gw = 0;
            for (int a = 0; a < d1; ++a) {
              const Scalar* Aa = A.data() + a * d3;
              Scalar* Pa = Pm.data() + a * d3;
              Scalar t = 0;
              const Scalar wx = wu * x[a];
              for (int M = 0; M < d3; ++M) {
                t += Aa[M] * gy[M];
                Pa[M] += wx * gy[M];
              }
              gx[a] += wu * t;
              gw += x[a] * t;
            }
            gwe[P.offw[k] + u] = gw;
          }
          for (const auto& cp : P.cpl[k]) gY[P.off2[k] + cp.m2] += cp.c * Pm[static_cast<std::size_t>(cp.m1 * d3 + cp.M)];
        }
      }
    }
  });
}

/// As above, with the edge index and atom chunks built for this call (current thread count).
template <class Scalar>
void convolve_backward(const InteractionWeights<Scalar>& w, const Irreps& node, const nn::RowMatrix<Scalar>& h_up,
                       const nn::RowMatrix<Scalar>& sh, const nn::RowMatrix<Scalar>& tp_weights, const MACEGraph& g,
                       const nn::RowMatrix<Scalar>& g_conv, nn::RowMatrix<Scalar>& g_up, nn::RowMatrix<Scalar>& g_w,
                       nn::RowMatrix<Scalar>& g_sh) {
  check_edge_atoms(g.sender, g.receiver, static_cast<std::size_t>(h_up.rows()), "MACE convolve_backward");
  MACEChunks c;
  c.build(g, static_cast<std::size_t>(h_up.rows()), nn::host_threads());
  convolve_backward(w, node, h_up, sh, tp_weights, g, c, g_conv, g_up, g_w, g_sh);
}

/// Reverse of interaction t: from dE/d(message) and dE/d(sc) (used in residual blocks only)
/// gives dE/d(h) (resized; h itself is not needed: every map of h is linear) and adds to the
/// edge-attribute gradients.
template <class Scalar>
void interaction_backward(const MACEModel<Scalar>& m, int t, const ForwardState<Scalar>& s,
                          const LayerState<Scalar>& L, const nn::RowMatrix<Scalar>& g_message,
                          const nn::RowMatrix<Scalar>& g_sc, nn::RowMatrix<Scalar>& g_h, EdgeAttributeGradient<Scalar>& ge,
                          BackwardWorkspace<Scalar>& ws) {
  const auto& w = m.weights.interactions[static_cast<std::size_t>(t)];
  MACEChunks local;
  const MACEChunks& c = chunks_for(s.chunks, s.graph, s.element.size(), local);
  const Scalar inv_avg = Scalar(1) / static_cast<Scalar>(m.config.avg_num_neighbors);
  auto& g_lin = ws.g_lin;
  auto& g_conv = ws.g_conv;
  auto& g_up = ws.g_up;
  auto& g_w = ws.g_w;
  auto& g_r = ws.g_r;
  if (w.kind == InteractionKind::Residual) {
    g_lin = g_message * inv_avg;
  } else {
    backward_element_linear(w.skip_tp, g_message, s.element, g_lin, c.nodes);
    g_lin *= inv_avg;
  }
  backward_linear(w.linear, g_lin, g_conv, c.nodes);
  convolve_backward(w, m.config.node_irreps(t), L.node_up, s.sh, L.tp_weights, s.graph, c, g_conv, g_up, g_w, ge.sh);
  backward_radial_mlp(w.radial_mlp, L.mlp_hidden, g_w, g_r, c.edges);
  ge.radial += g_r;
  backward_linear(w.linear_up, g_up, g_h, c.nodes);
  if (w.kind == InteractionKind::Residual) {
    backward_element_linear(w.skip_tp, g_sc, s.element, ws.g_skip, c.nodes);
    g_h += ws.g_skip;
  }
}

/// As above with a workspace of its own.
template <class Scalar>
void interaction_backward(const MACEModel<Scalar>& m, int t, const ForwardState<Scalar>& s,
                          const LayerState<Scalar>& L, const nn::RowMatrix<Scalar>& g_message,
                          const nn::RowMatrix<Scalar>& g_sc, nn::RowMatrix<Scalar>& g_h, EdgeAttributeGradient<Scalar>& ge) {
  BackwardWorkspace<Scalar> ws;
  interaction_backward(m, t, s, L, g_message, g_sc, g_h, ge, ws);
}

/// dE/d(edge attributes) through every layer, last to first, for E = Σ_i w_i E_i (readout_seed).
template <class Scalar>
EdgeAttributeGradient<Scalar> layers_backward(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s,
                                              const std::vector<double>& weights, BackwardWorkspace<Scalar>& ws) {
  const nn::RowMatrix<Scalar> g_readout = readout_seed(m, s.readouts.rows(), weights);
  EdgeAttributeGradient<Scalar> ge;
  ge.sh.setZero(s.sh.rows(), s.sh.cols());
  ge.radial.setZero(s.radial.rows(), s.radial.cols());
  MACEChunks local;
  const MACEChunks& c = chunks_for(s.chunks, s.graph, s.element.size(), local);
  auto& g_next = ws.g_next;
  auto& g_feat = ws.g_feat;
  auto& g_message = ws.g_message;
  g_next.resize(0, 0);
  for (int t = m.config.num_interactions() - 1; t >= 0; --t) {
    const auto& L = s.layers[static_cast<std::size_t>(t)];
    readout_backward(m, t, L.features, g_readout, g_feat, c.nodes);
    if (g_next.size()) g_feat += g_next;
    product_backward(m, t, s.element, L, g_feat, g_message, c.nodes);
    interaction_backward(m, t, s, L, g_message, g_feat, g_next, ge, ws);
  }
  return ge;
}

/// As above with a workspace of its own.
template <class Scalar>
EdgeAttributeGradient<Scalar> layers_backward(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s,
                                              const std::vector<double>& weights = {}) {
  BackwardWorkspace<Scalar> ws;
  return layers_backward(m, s, weights, ws);
}

/// dE/dr_e of every edge from the edge-attribute gradients: harmonics through ∂Y/∂r, the radial
/// embedding through d/d|r| times r/|r|. Over the edge chunks `edges` (each edge on its own).
template <class Scalar>
std::vector<std::array<double, 3>> edge_gradients(const MACEModel<Scalar>& m, const MACEGraph& g, const EdgeAttributeGradient<Scalar>& ge,
                                                  const nn::RowChunks& edges) {
  const int lmax = m.config.max_ell, nsh = sh_dim(lmax);
  std::vector<std::array<double, 3>> out(g.size());
  edges.run([&](int, Eigen::Index e0, Eigen::Index e1) {
    std::vector<Scalar> Y(static_cast<std::size_t>(nsh)), dY(static_cast<std::size_t>(3 * nsh));
    for (auto e = static_cast<std::size_t>(e0); e < static_cast<std::size_t>(e1); ++e) {
      const auto ee = static_cast<Eigen::Index>(e);
      const Scalar v[3] = {static_cast<Scalar>(g.vector[e][0]), static_cast<Scalar>(g.vector[e][1]), static_cast<Scalar>(g.vector[e][2])};
      spherical_harmonics_with_gradient<Scalar>(lmax, v, Y.data(), dY.data());
      const Scalar r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      const Scalar dr = m.weights.radial.backward(r, ge.radial.row(ee).data()) / r;
      for (int k = 0; k < 3; ++k) {
        Scalar gk = dr * v[k];
        for (int q = 0; q < nsh; ++q) gk += ge.sh(ee, q) * dY[static_cast<std::size_t>(3 * q + k)];
        out[e][static_cast<std::size_t>(k)] = static_cast<double>(gk);
      }
    }
  });
  return out;
}

/// As above, the edges split for the current thread count.
template <class Scalar>
std::vector<std::array<double, 3>> edge_gradients(const MACEModel<Scalar>& m, const MACEGraph& g, const EdgeAttributeGradient<Scalar>& ge) {
  nn::RowChunks edges;
  edges.split(static_cast<Eigen::Index>(g.size()), nn::host_threads(), kMinEdgeChunk);
  return edge_gradients(m, g, ge, edges);
}

/// Forces and virial of E = Σ_i w_i E_i (every weight 1 when `weights` is empty) from a forward
/// pass on any graph, periodic or open: F_sender += g_e, F_receiver −= g_e (r_e = x_receiver −
/// x_sender + S·L) and virial = sym(Σ_e r_e ⊗ g_e). No cell is needed: with open boundaries (a
/// domain's owned + ghost atoms) the virial is the domain's share and there is no stress.
template <class Scalar>
MACEGradient gradient(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s, const std::vector<double>& weights,
                      BackwardWorkspace<Scalar>& ws) {
  if (static_cast<int>(s.layers.size()) != m.config.num_interactions() || s.sh.rows() != static_cast<Eigen::Index>(s.graph.size()) ||
      s.readouts.rows() != static_cast<Eigen::Index>(s.element.size()))
    throw ValueError("MACE backward: the forward state has " + std::to_string(s.layers.size()) + " layers and " +
                     std::to_string(s.sh.rows()) + " edge rows for " + std::to_string(s.graph.size()) +
                     " edges; it is not a complete forward() of this model");
  if (!weights.empty() && weights.size() != s.element.size())
    throw ValueError("MACE backward: " + std::to_string(weights.size()) + " energy weights for " + std::to_string(s.element.size()) + " atoms");
  MACEGradient out;
  MACEChunks local;
  const MACEChunks& c = chunks_for(s.chunks, s.graph, s.element.size(), local);
  out.edge_gradient = edge_gradients(m, s.graph, layers_backward(m, s, weights, ws), c.edges);
  // Forces and virial: ~20 flops per edge, serial (estimated far below 1% of the reverse pass).
  out.forces.assign(s.element.size(), {0.0, 0.0, 0.0});
  Eigen::Matrix3d M = Eigen::Matrix3d::Zero();
  for (std::size_t e = 0; e < s.graph.size(); ++e) {
    const auto& ge = out.edge_gradient[e];
    for (int a = 0; a < 3; ++a) {
      out.forces[static_cast<std::size_t>(s.graph.sender[e])][static_cast<std::size_t>(a)] += ge[static_cast<std::size_t>(a)];
      out.forces[static_cast<std::size_t>(s.graph.receiver[e])][static_cast<std::size_t>(a)] -= ge[static_cast<std::size_t>(a)];
      for (int b = 0; b < 3; ++b) M(a, b) += s.graph.vector[e][static_cast<std::size_t>(a)] * ge[static_cast<std::size_t>(b)];
    }
  }
  out.virial = 0.5 * (M + M.transpose());
  return out;
}

/// As above with a workspace of its own.
template <class Scalar>
MACEGradient gradient(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s, const std::vector<double>& weights = {}) {
  BackwardWorkspace<Scalar> ws;
  return gradient(m, s, weights, ws);
}

/// Forces and stress of a forward pass on the cell `lattice` (rows): gradient() of the whole
/// energy, stress = virial / V.
template <class Scalar>
MACEGradient backward(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s, const Eigen::Matrix3d& lattice,
                      BackwardWorkspace<Scalar>& ws) {
  const double volume = std::abs(lattice.determinant());
  if (!(volume > 0)) throw ValueError("MACE backward: the cell has zero volume (stress undefined)");
  MACEGradient out = gradient(m, s, {}, ws);
  out.stress = out.virial / volume;
  return out;
}

/// As above with a workspace of its own.
template <class Scalar>
MACEGradient backward(const MACEModel<Scalar>& m, const ForwardState<Scalar>& s, const Eigen::Matrix3d& lattice) {
  BackwardWorkspace<Scalar> ws;
  return backward(m, s, lattice, ws);
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
