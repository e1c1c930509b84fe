#pragma once
/// \file
/// \brief The forward pass of ScaleShiftMACE up to the energy, stage by stage (spec items 1-10),
/// on the host threads (row chunks of edges and atoms, mace_chunks.hpp), keeping every per-edge
/// and per-node quantity a reverse pass needs.
///
/// Stages: edge attributes (spherical harmonics, radial embedding) → node embedding → per layer:
/// interaction (linear_up, conv_tp with per-edge radial-MLP weights, sum onto receivers, linear,
/// / avg_num_neighbors, skip_tp) → product basis → readout → E0 + scale · Σ readouts + shift.
/// Feature rows use e3nn's layout (irreps.hpp); messages keep it too (mace's reshape to
/// [N, C, (lmax+1)²] is only a view: message_component()).

#include <nernst/core/error.hpp>
#include <nernst/nn/matrix.hpp>
#include <nernst/potential/graphnet/mace/mace_chunks.hpp>
#include <nernst/potential/graphnet/mace/mace_graph.hpp>
#include <nernst/potential/graphnet/mace/mace_reader.hpp>
#include <nernst/potential/graphnet/mace/spherical_harmonics.hpp>

#include <cmath>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// What one interaction layer computed.
template <class Scalar>
struct LayerState {
  nn::RowMatrix<Scalar> node_up;     ///< N x node dim: linear_up(h)
  nn::RowMatrix<Scalar> tp_weights;  ///< E x conv weights: radial MLP output
  std::vector<nn::RowMatrix<Scalar>> mlp_hidden;  ///< the radial MLP's hidden pre-activations
  nn::RowMatrix<Scalar> conv;        ///< N x conv-out dim: Σ over incoming edges of conv_tp
  nn::RowMatrix<Scalar> message;     ///< N x target dim: linear(conv) / avg_num_neighbors (, skip_tp)
  nn::RowMatrix<Scalar> sc;          ///< N x layer-out dim: skip_tp(h) (residual blocks), else empty
  nn::RowMatrix<Scalar> features;    ///< N x layer-out dim: product basis output (next layer's h)
};

/// Everything one evaluation computed.
template <class Scalar>
struct ForwardState {
  std::vector<int> element;             ///< element index per atom
  MACEGraph graph;
  MACEChunks chunks;                    ///< edge / atom row chunks and edge index (fixed by forward())
  nn::RowMatrix<Scalar> sh;             ///< E x (lmax+1)²
  nn::RowMatrix<Scalar> radial;         ///< E x num_bessel
  nn::RowMatrix<Scalar> node_embedding; ///< N x C
  std::vector<LayerState<Scalar>> layers;
  nn::RowMatrix<Scalar> readouts;       ///< N x T: raw readout of each layer
  std::vector<double> node_energy;      ///< E0 + scale Σ_t readout + shift (eV)
  double energy = 0;
};

/// Element index of every atom (errors name the atomic number the model lacks).
inline std::vector<int> element_indices(const MACEConfig& cfg, const std::vector<int>& atomic_numbers) {
  std::vector<int> el(atomic_numbers.size());
  for (std::size_t i = 0; i < el.size(); ++i) el[i] = cfg.element_index(atomic_numbers[i]);
  return el;
}

/// Spherical harmonics and radial embedding of every edge (item 4, 5), over the edge chunks.
template <class Scalar>
void edge_attributes(const MACEModel<Scalar>& m, const MACEGraph& g, nn::RowMatrix<Scalar>& sh, nn::RowMatrix<Scalar>& radial,
                     const nn::RowChunks& edges) {
  check_sh_degree(m.config.max_ell);
  const int nsh = sh_dim(m.config.max_ell);
  sh.resize(static_cast<Eigen::Index>(g.size()), nsh);
  radial.resize(static_cast<Eigen::Index>(g.size()), m.weights.radial.size());
  edges.run([&](int, Eigen::Index e0, Eigen::Index e1) {
    for (auto e = static_cast<std::size_t>(e0); e < static_cast<std::size_t>(e1); ++e) {
      const Scalar v[3] = {static_cast<Scalar>(g.vector[e][0]), static_cast<Scalar>(g.vector[e][1]), static_cast<Scalar>(g.vector[e][2])};
      spherical_harmonics<Scalar>(m.config.max_ell, v, sh.row(static_cast<Eigen::Index>(e)).data());
      const Scalar r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      radial_embedding_row(m.weights.radial, r, radial.row(static_cast<Eigen::Index>(e)).data());
    }
  });
}

/// As above, the edges split for the current thread count.
template <class Scalar>
void edge_attributes(const MACEModel<Scalar>& m, const MACEGraph& g, nn::RowMatrix<Scalar>& sh, nn::RowMatrix<Scalar>& radial) {
  nn::RowChunks edges;
  edges.split(static_cast<Eigen::Index>(g.size()), nn::host_threads(), kMinEdgeChunk);
  edge_attributes(m, g, sh, radial, edges);
}

/// h_i = W_emb[z_i, :] / sqrt(n_elements) (item 3: the one-hot product is a row pick).
template <class Scalar>
void embed_nodes(const MACEModel<Scalar>& m, const std::vector<int>& element, nn::RowMatrix<Scalar>& h) {
  const auto& W = m.weights.node_embedding.weights.at(0);
  h.resize(static_cast<Eigen::Index>(element.size()), W.cols());
  for (std::size_t i = 0; i < element.size(); ++i) h.row(static_cast<Eigen::Index>(i)) = W.row(element[i]);
}

namespace detail {

/// A nonzero coupling sqrt(2 l3 + 1) W3j[m1, m2, M] of one conv_tp path.
template <class Scalar>
struct Coupling {
  int m1, m2, M;
  Scalar c;
};

template <class Scalar>
std::vector<Coupling<Scalar>> couplings(const ConvInstruction& ins, const std::vector<Scalar>& w3j) {
  const int d1 = 2 * ins.l1 + 1, d2 = 2 * ins.l2 + 1, d3 = 2 * ins.l3 + 1;
  const Scalar norm = std::sqrt(static_cast<Scalar>(d3));
  std::vector<Coupling<Scalar>> out;
  for (int a = 0; a < d1; ++a)
    for (int b = 0; b < d2; ++b)
      for (int M = 0; M < d3; ++M)
        if (const Scalar w = w3j[static_cast<std::size_t>((a * d2 + b) * d3 + M)]; w != Scalar(0)) out.push_back({a, b, M, norm * w});
  return out;
}

/// Where each conv_tp path reads and writes, with its nonzero couplings (built once per call).
template <class Scalar>
struct ConvPaths {
  std::vector<std::vector<Coupling<Scalar>>> cpl;
  std::vector<int> off1, off2, offo, offw, mul, d1, d3;

  ConvPaths(const InteractionWeights<Scalar>& w, const Irreps& node) {
    int wpos = 0;
    for (std::size_t k = 0; k < w.conv.instructions.size(); ++k) {
      const auto& ins = w.conv.instructions[k];
      cpl.push_back(couplings(ins, w.w3j[k]));
      off1.push_back(node.offset(static_cast<std::size_t>(ins.i_in1)));
      off2.push_back(ins.l2 * ins.l2);
      offo.push_back(w.conv.irreps_out.offset(static_cast<std::size_t>(ins.i_out)));
      offw.push_back(wpos);
      mul.push_back(node[static_cast<std::size_t>(ins.i_in1)].mul);
      d1.push_back(2 * ins.l1 + 1);
      d3.push_back(2 * ins.l3 + 1);
      wpos += mul.back();
    }
  }
  std::size_t size() const { return cpl.size(); }
};

}  // namespace detail

/// Σ over the edges into each receiver of conv_tp(h'_sender, Y_e; w_e) (item 7, `uvu`):
/// out_k[u, M] = w_e,k[u] Σ sqrt(2 l3 + 1) W3j[m1, m2, M] h'[u, m1] Y[m2]. The atom chunks own
/// their receivers' rows and each receiver adds its edges in graph order (c.by_receiver), so the
/// sums are the serial ones at any thread count.
template <class Scalar>
void convolve(const InteractionWeights<Scalar>& w, const Irreps& node, const nn::RowMatrix<Scalar>& h_up,
              const nn::RowMatrix<Scalar>& sh, const nn::RowMatrix<Scalar>& tp_weights, const MACEGraph& g,
              const MACEChunks& c, nn::RowMatrix<Scalar>& out) {
  const detail::ConvPaths<Scalar> P(w, node);
  out.resize(h_up.rows(), w.conv.irreps_out.dim());
  c.nodes.run([&](int, Eigen::Index i0, Eigen::Index i1) {
    out.middleRows(i0, i1 - i0).setZero();
    for (Eigen::Index i = i0; i < i1; ++i) {
      Scalar* o = out.row(i).data();
      for (int j = c.by_receiver.ptr[static_cast<std::size_t>(i)]; j < c.by_receiver.ptr[static_cast<std::size_t>(i) + 1]; ++j) {
        const auto e = static_cast<std::size_t>(c.by_receiver.edge[static_cast<std::size_t>(j)]);
        const Scalar* hs = h_up.row(g.sender[e]).data();
        const Scalar* Y = sh.row(static_cast<Eigen::Index>(e)).data();
        const Scalar* we = tp_weights.row(static_cast<Eigen::Index>(e)).data();
        for (std::size_t k = 0; k < P.size(); ++k)
          for (int u = 0; u < P.mul[k]; ++u) {
            const Scalar wu = we[P.offw[k] + u];
            const Scalar* x = hs + P.off1[k] + u * P.d1[k];
            Scalar* y = o + P.offo[k] + u * P.d3[k];
            for (const auto& cp : P.cpl[k]) y[cp.M] += wu * cp.c * x[cp.m1] * Y[P.off2[k] + cp.m2];
          }
      }
    }
  });
}

/// As above, with the edge index and atom chunks built for this call (current thread count).
template <class Scalar>
void convolve(const InteractionWeights<Scalar>& w, const Irreps& node, const nn::RowMatrix<Scalar>& h_up,
              const nn::RowMatrix<Scalar>& sh, const nn::RowMatrix<Scalar>& tp_weights, const MACEGraph& g,
              nn::RowMatrix<Scalar>& out) {
  check_edge_atoms(g.sender, g.receiver, static_cast<std::size_t>(h_up.rows()), "MACE convolve");
  MACEChunks c;
  c.build(g, static_cast<std::size_t>(h_up.rows()), nn::host_threads());
  convolve(w, node, h_up, sh, tp_weights, g, c, out);
}

/// Interaction block t (item 7) on features h: fills node_up, tp_weights, conv, message, sc.
template <class Scalar>
void interaction(const MACEModel<Scalar>& m, int t, const nn::RowMatrix<Scalar>& h, const ForwardState<Scalar>& s,
                 LayerState<Scalar>& out) {
  const auto& w = m.weights.interactions[static_cast<std::size_t>(t)];
  const Irreps node = m.config.node_irreps(t);
  MACEChunks local;
  const MACEChunks& c = chunks_for(s.chunks, s.graph, static_cast<std::size_t>(h.rows()), local);
  apply_linear(w.linear_up, h, out.node_up, c.nodes);
  apply_radial_mlp(w.radial_mlp, s.radial, out.tp_weights, &out.mlp_hidden, c.edges);
  convolve(w, node, out.node_up, s.sh, out.tp_weights, s.graph, c, out.conv);
  apply_linear(w.linear, out.conv, out.message, c.nodes);
  out.message /= static_cast<Scalar>(m.config.avg_num_neighbors);
  if (w.kind == InteractionKind::Residual) {
    apply_element_linear(w.skip_tp, h, s.element, out.sc, c.nodes);
  } else {
    nn::RowMatrix<Scalar> mixed;
    apply_element_linear(w.skip_tp, out.message, s.element, mixed, c.nodes);
    out.message = std::move(mixed);
    out.sc.resize(0, 0);
  }
}

/// perm[c·D + k] = column of the message row (e3nn layout) that holds mace's reshaped
/// [C][(lmax+1)²] entry (c, k), the symmetric contraction's input layout.
inline std::vector<int> contraction_layout(int C, int lmax) {
  const int D = sh_dim(lmax);
  std::vector<int> perm(static_cast<std::size_t>(C * D));
  for (int l = 0, k = 0; l <= lmax; ++l)
    for (int q = 0; q < 2 * l + 1; ++q, ++k)
      for (int c = 0; c < C; ++c) perm[static_cast<std::size_t>(c * D + k)] = C * l * l + c * (2 * l + 1) + q;
  return perm;
}

/// Product basis of layer t (item 8): h^(t+1) = linear(SymmetricContraction(message)) (+ sc in
/// residual blocks). The message rows are regrouped per node into mace's [C][(lmax+1)²] layout.
/// Over the atom chunks `nodes` (every element present must be prepared).
template <class Scalar>
void product_basis(const MACEModel<Scalar>& m, int t, const std::vector<int>& element, LayerState<Scalar>& L,
                   const nn::RowChunks& nodes) {
  const auto& p = m.weights.products[static_cast<std::size_t>(t)];
  const int C = m.config.channels(), D = sh_dim(m.config.max_ell);
  const Eigen::Index n = L.message.rows();
  nn::RowMatrix<Scalar> B(n, p.contraction.output_dim());
  const auto perm = contraction_layout(C, m.config.max_ell);
  const bool skip = L.sc.size() > 0;
  L.features.resize(n, p.linear.irreps_out.dim());
  nodes.run([&](int, Eigen::Index i0, Eigen::Index i1) {
    std::vector<Scalar> x(static_cast<std::size_t>(C * D));
    for (Eigen::Index i = i0; i < i1; ++i) {
      for (std::size_t j = 0; j < x.size(); ++j) x[j] = L.message(i, perm[j]);
      p.contraction.forward(element[static_cast<std::size_t>(i)], x.data(), B.row(i).data());
    }
    linear_rows(p.linear, B, L.features, i0, i1);
    if (skip) L.features.middleRows(i0, i1 - i0) += L.sc.middleRows(i0, i1 - i0);
  });
}

/// As above, the atoms split for the current thread count.
template <class Scalar>
void product_basis(const MACEModel<Scalar>& m, int t, const std::vector<int>& element, LayerState<Scalar>& L) {
  nn::RowChunks nodes;
  nodes.split(L.message.rows(), nn::host_threads(), kMinNodeChunk);
  product_basis(m, t, element, L, nodes);
}

/// The whole forward pass on a given graph (its edge vectors carry the geometry, so open
/// boundaries need no cell): every layer, readouts, node energies and the energy. Prepares the
/// elements present. A host neighbour list or a domain's owned + ghost atoms come in this way.
///
/// This overload refills `s`, reusing its buffers where the sizes match (a Potential or an MD
/// loop evaluating the same system again: the E x weights matrices are then neither allocated
/// nor page-faulted again). If it throws, `s` is left incomplete (backward() refuses it).
template <class Scalar>
void forward(MACEModel<Scalar>& m, MACEGraph graph, const std::vector<int>& atomic_numbers, ForwardState<Scalar>& s) {
  check_edge_atoms(graph.sender, graph.receiver, atomic_numbers.size(), "MACE");
  s.readouts.resize(0, 0);  // marks the state incomplete until the last layer's readout
  s.energy = 0;
  s.element = element_indices(m.config, atomic_numbers);
  m.prepare_elements(s.element);
  s.graph = std::move(graph);
  s.chunks.build(s.graph, s.element.size(), nn::host_threads());
  edge_attributes(m, s.graph, s.sh, s.radial, s.chunks.edges);
  embed_nodes(m, s.element, s.node_embedding);
  const int T = m.config.num_interactions();
  s.layers.resize(static_cast<std::size_t>(T));
  nn::RowMatrix<Scalar> readouts(static_cast<Eigen::Index>(atomic_numbers.size()), T);
  for (int t = 0; t < T; ++t) {
    auto& L = s.layers[static_cast<std::size_t>(t)];
    interaction(m, t, t == 0 ? s.node_embedding : s.layers[static_cast<std::size_t>(t - 1)].features, s, L);
    product_basis(m, t, s.element, L, s.chunks.nodes);
    nn::RowMatrix<Scalar> e;
    readout(m, t, L.features, e, s.chunks.nodes);
    readouts.col(t) = e.col(0);
  }
  s.readouts = std::move(readouts);
  node_energies(m, s);
}

/// As above, into a new state.
template <class Scalar>
ForwardState<Scalar> forward(MACEModel<Scalar>& m, MACEGraph graph, const std::vector<int>& atomic_numbers) {
  ForwardState<Scalar> s;
  forward(m, std::move(graph), atomic_numbers, s);
  return s;
}

/// The whole forward pass on a periodic cell (positions as given, lattice vectors as rows):
/// MACE's graph of the cell, then forward() on it.
template <class Scalar>
ForwardState<Scalar> forward(MACEModel<Scalar>& m, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& lattice,
                             const std::vector<int>& atomic_numbers) {
  if (x.size() != atomic_numbers.size()) throw ValueError("MACE: positions and atomic numbers differ in length");
  return forward(m, build_mace_graph(x, lattice, m.config.r_max), atomic_numbers);
}

/// Message of atom i, channel c, harmonic index k (0..(lmax+1)²−1) in mace's reshaped layout.
template <class Scalar>
Scalar message_component(const MACEConfig& cfg, const nn::RowMatrix<Scalar>& message, Eigen::Index i, int c, int k) {
  const int l = static_cast<int>(std::sqrt(static_cast<double>(k)) + 1e-9);
  const int C = cfg.channels();
  return message(i, C * l * l + c * (2 * l + 1) + (k - l * l));
}

/// Raw readout of layer t per atom (item 9), over the atom chunks `nodes`.
template <class Scalar>
void readout(const MACEModel<Scalar>& m, int t, const nn::RowMatrix<Scalar>& features, nn::RowMatrix<Scalar>& e,
             const nn::RowChunks& nodes) {
  if (t + 1 < m.config.num_interactions()) {
    apply_linear(m.weights.readouts[static_cast<std::size_t>(t)], features, e, nodes);
    return;
  }
  nn::RowMatrix<Scalar> hidden;
  apply_linear(m.weights.readout_hidden, features, hidden, nodes);
  const Scalar c = static_cast<Scalar>(m.config.act_constant);
  hidden = hidden.unaryExpr([c](Scalar v) { return scaled_silu(v, c); });
  apply_linear(m.weights.readout_out, hidden, e, nodes);
}

/// As above, the atoms split for the current thread count.
template <class Scalar>
void readout(const MACEModel<Scalar>& m, int t, const nn::RowMatrix<Scalar>& features, nn::RowMatrix<Scalar>& e) {
  nn::RowChunks nodes;
  nodes.split(features.rows(), nn::host_threads(), kMinNodeChunk);
  readout(m, t, features, e, nodes);
}

/// E_i = E0[z_i] + scale Σ_t readout_t,i + shift (item 10). The two parts are in precision Scalar
/// (E0 rounded to it, as `model.float()` does) and added in float64, as mace does.
template <class Scalar>
void node_energies(const MACEModel<Scalar>& m, ForwardState<Scalar>& s) {
  const auto n = static_cast<std::size_t>(s.readouts.rows());
  s.node_energy.assign(n, 0.0);
  s.energy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Scalar sum = 0;
    for (Eigen::Index t = 0; t < s.readouts.cols(); ++t) sum += s.readouts(static_cast<Eigen::Index>(i), t);
    const Scalar inter = static_cast<Scalar>(m.config.scale) * sum + static_cast<Scalar>(m.config.shift);
    const Scalar e0 = static_cast<Scalar>(m.config.e0[static_cast<std::size_t>(s.element[i])]);
    s.node_energy[i] = static_cast<double>(e0) + static_cast<double>(inter);
    s.energy += s.node_energy[i];
  }
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
