#pragma once
/// \file
/// \brief M3GNet forward and reverse pass on a fixed graph: energy, ∂E/∂r_e, forces, virial.
///
/// One forward sweep (embedding, nblocks x [three-body, edge update, node update], gated
/// readout) keeps the activations the reverse sweep needs; one reverse sweep gives ∂E/∂r_e for
/// every bond vector, from which forces (F_i = Σ_{src=i} g_e − Σ_{dst=i} g_e) and the strain
/// derivative ∂E/∂ε = Σ_e r_e ⊗ g_e follow. No autodiff: every layer has a hand-written
/// reverse pass (nernst/nn). The scalar type is a template parameter.
///
/// Layout: per-edge and per-atom features are row-major batches, so every dense layer is one
/// GEMM over all edges. The 192-wide input [v_src, v_dst, e] of the convolution MLPs is never
/// formed: node features are projected once per atom (N x 128 per side) and gathered per edge.
/// The two convolution MLPs of each block run over cache-sized blocks of edges
/// (nn::BlockedGatedMLP) so that a block's activations stay in cache. On large graphs only the
/// last convolutions run keep their activations (they are still in the last-level cache when
/// the reverse pass starts); the others keep only their inputs and output, and the reverse
/// pass recomputes a block's activations right before back-propagating it (more dense work,
/// but no E x 768 activation arrays through memory).
/// The dense work runs on the host (Eigen) threads: edges, triplets and atoms are split into one
/// contiguous chunk per thread of Kokkos' host execution space (nn::RowChunks); each chunk runs
/// its rows' layers as GEMMs with its own workspace, sums onto atoms go per atom over edges
/// grouped by atom (EdgeGroups) or through private partials added in chunk order, so results are
/// bitwise reproducible at a given thread count and exactly the serial ones with one thread.
/// Training (set_training) runs on one chunk. The evaluator is used by
/// `Potential<GraphNet<M3GNet>>`, which moves data between the System's memory space and here.

#include <nernst/nn/activation.hpp>
#include <nernst/nn/blocked_gated_mlp.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/basis.hpp>
#include <nernst/potential/graphnet/gather_scatter.hpp>
#include <nernst/potential/graphnet/geometry_tangent.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/potential/graphnet/three_body.hpp>

#include <algorithm>
#include <array>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

template <class Scalar>
class M3GNetEvaluator {
 public:
  using Mat = nn::RowMatrix<Scalar>;
  using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  M3GNetEvaluator() = default;
  M3GNetEvaluator(const M3GNetModel& model, ThreeBodyMode mode = ThreeBodyMode::matgl)
      : cfg_(model.config), w_(model.weights.template cast<Scalar>()), mode_(mode) {
    set_basis();
  }

  const M3GNetConfig& config() const { return cfg_; }
  ThreeBodyMode mode() const { return mode_; }
  const Triplets& triplets() const { return trip_; }

  /// Evaluates on the graph `g`. `x`: Cartesian positions (Å), `L`: lattice rows, `types`:
  /// model types (M3GNetConfig::type_of). With `gradients` the forces and virial are filled.
  void evaluate(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const std::vector<int>& types,
                const PeriodicGraph& g, bool gradients, M3GNetOutput& out) {
    N_ = static_cast<Eigen::Index>(x.size());
    E_ = static_cast<Eigen::Index>(g.size());
    if (types.size() != x.size()) throw ValueError("M3GNet: types and positions differ in length");
    threads_ = keep_inputs_ ? 1 : nn::host_threads();
    edges_.split(E_, threads_);
    atoms_.split(N_, threads_, 32);
    geometry(x, L, g);
    build_triplets(g.src, g.dst, dist_, x.size(), cfg_.threebody_cutoff, mode_, trip_, pruned_);
    T_ = static_cast<Eigen::Index>(trip_.size());
    triplets_.split_on_key(trip_.target.data(), T_, threads_, 1024);
    by_dst_.build(g.dst, static_cast<std::size_t>(N_));
    recompute_ = nn::BlockedGatedMLP<Scalar>::recompute_plan(conv_activation_bytes());
    triplet_basis();
    forward(types, g);
    out.energy = cfg_.atom_energies([this](std::size_t i) { return eps_(static_cast<Eigen::Index>(i), 0); }, types,
                                    out.atom_energy);
    if (!gradients) return;
    backward(g);
    forces_and_virial(g, out);
  }

  /// Per-atom weights w_i of the energy the reverse pass differentiates: with weights set, the
  /// forces and virial are those of Σ_i w_i e_i (e.g. w = 1 on a rank's owned atoms, 0 on its
  /// ghosts, for an open cluster in domain decomposition). `out.energy` and `out.atom_energy`
  /// are unaffected. An empty vector (the default) means w_i = 1 for every atom.
  void set_energy_weights(std::vector<double> w) { energy_weights_ = std::move(w); }

  /// ∂E/∂r_e of the last evaluation with gradients ([E, 3]).
  const Mat& bond_gradient() const { return gvec_; }

  // --- training (docs/training.md) --------------------------------------------------------

  /// Host threads of the last evaluate() (1 while training).
  int threads() const { return threads_; }

  /// Replaces configuration (element references included) and weights, e.g. after an
  /// optimiser step. Keeps the three-body mode.
  void set_model(const M3GNetModel& model) {
    cfg_ = model.config;
    w_ = model.weights.template cast<Scalar>();
    set_basis();
  }

  /// With `keep`, evaluate() also keeps every layer's inputs, which
  /// accumulate_parameter_gradients() needs. Off by default (inference keeps nothing extra).
  void set_training(bool keep) { keep_inputs_ = keep; }

  /// Dual scalars only: the tangent of the geometry for the next evaluate(): position
  /// displacements δx_i (Å) and a strain δε (r → r(I + ε), rows = Cartesian vectors). Each bond
  /// vector gets the tangent δr_e = δx_dst − δx_src + r_e δε.
  void set_geometry_tangent(const std::vector<std::array<double, 3>>& dx, const Eigen::Matrix3d& deps) {
    static_assert(nn::is_dual_v<Scalar>, "geometry tangents need a Dual scalar");
    tangent_.set(dx, deps);
  }
  void clear_geometry_tangent() { tangent_.clear(); }

  /// Adds ∂E/∂θ for every weight tensor of the last evaluate() (which ran with set_training(true))
  /// to `grad` (same shapes; see zero_m3gnet_gradients). Element reference energies, data_mean
  /// and data_std are not included. With a Dual scalar, the tangent of each gradient is the
  /// parameter gradient of the directional derivative of E along the geometry tangent.
  void accumulate_parameter_gradients(const PeriodicGraph& g, M3GNetWeights<Scalar>& grad) {
    if (!keep_inputs_) throw ValueError("M3GNet: parameter gradients need set_training(true) before evaluate()");
    backward(g, &grad);
  }

 private:
  // --- geometry ---------------------------------------------------------------------------
  void set_basis() {
    if (cfg_.use_smooth)
      smooth_ = SmoothBesselBasis<Scalar>(cfg_.threebody_size());
    else
      rbf_ = SphericalBesselBasis<Scalar>(cfg_.cutoff);
  }

  /// Radial basis of edge e at distance de: the two-body columns into rbfv_/rbfd_ and, with the
  /// smooth basis, all three-body radial functions into tbr_/tbrd_ (their first radial_size()
  /// columns are the two-body ones). MP-2021's three-body radial part is the two-body basis.
  void radial_basis(Eigen::Index e, const Scalar& de) {
    if (!cfg_.use_smooth) {
      rbf_(de, &rbfv_(e, 0), &rbfd_(e, 0));
      return;
    }
    smooth_(de, &tbr_(e, 0), &tbrd_(e, 0));
    for (Eigen::Index k = 0; k < rbfv_.cols(); ++k) {
      rbfv_(e, k) = tbr_(e, k);
      rbfd_(e, k) = tbrd_(e, k);
    }
  }

  void geometry(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const PeriodicGraph& g) {
    nn::grow(rvec_, E_, 3);
    dist_.resize(static_cast<std::size_t>(E_));
    fc_.resize(static_cast<std::size_t>(E_));
    dfc_.resize(static_cast<std::size_t>(E_));
    nn::grow(rbfv_, E_, cfg_.radial_size());
    nn::grow(rbfd_, E_, cfg_.radial_size());
    if (cfg_.use_smooth) {
      nn::grow(tbr_, E_, cfg_.threebody_size());
      nn::grow(tbrd_, E_, cfg_.threebody_size());
    }
    edges_.run([&](int, Eigen::Index e0, Eigen::Index e1) {
      for (Eigen::Index e = e0; e < e1; ++e) edge_geometry(e, x, L, g);
    });
  }

  /// Bond vector, length, radial basis and envelope of edge e.
  void edge_geometry(Eigen::Index e, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L,
                     const PeriodicGraph& g) {
    const Scalar rc3 = Scalar(cfg_.threebody_cutoff);
    const auto s = static_cast<std::size_t>(g.src[static_cast<std::size_t>(e)]);
    const auto d = static_cast<std::size_t>(g.dst[static_cast<std::size_t>(e)]);
    const auto& t = g.image[static_cast<std::size_t>(e)];
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      const double v = x[d][k] + (t[0] * L(0, k) + t[1] * L(1, k) + t[2] * L(2, k)) - x[s][k];
      rvec_(e, k) = Scalar(v);
      r2 += rvec_(e, k) * rvec_(e, k);
    }
    if constexpr (nn::is_dual_v<Scalar>) {
      if (tangent_.active) r2 = tangent_.seed<Scalar>(rvec_.row(e), s, d);
    }
    using math::sqrt;
    const Scalar de = sqrt(r2);
    dist_[static_cast<std::size_t>(e)] = de;
    radial_basis(e, de);
    Scalar dfc;
    fc_[static_cast<std::size_t>(e)] = polynomial_envelope(de, rc3, &dfc);
    dfc_[static_cast<std::size_t>(e)] = dfc;
  }

  /// Activations each convolution MLP would keep on this graph, in forward order (edge and
  /// node update of block 0, of block 1, ...).
  std::vector<double> conv_activation_bytes() const {
    std::vector<double> bytes;
    for (std::size_t b = 0; b < w_.conv_edge.size(); ++b) {
      bytes.push_back(nn::BlockedGatedMLP<Scalar>::activation_bytes(w_.conv_edge[b], E_));
      bytes.push_back(nn::BlockedGatedMLP<Scalar>::activation_bytes(w_.conv_node[b], E_));
    }
    return bytes;
  }

  void triplet_basis() {
    auto B = nn::grow(tb_basis_, T_, 9);
    auto Bdr = nn::grow(tb_drho_, T_, 9);
    auto Bdc = nn::grow(tb_dcos_, T_, 9);
    tb_w_.resize(static_cast<std::size_t>(T_));
    triplets_.run([&](int, Eigen::Index t0, Eigen::Index t1) {
      for (Eigen::Index t = t0; t < t1; ++t) triplet_basis_row(t, B, Bdr, Bdc);
    });
  }

  /// Triplet t's basis row (radial function × Y_l), its ∂/∂ρ and ∂/∂cos θ, and envelope weight.
  template <class Block>
  void triplet_basis_row(Eigen::Index t, Block& B, Block& Bdr, Block& Bdc) {
    const auto ts = static_cast<std::size_t>(t);
    Scalar cosv, rho;
    triplet_geometry(ts, cosv, rho, nullptr, nullptr);
    // ρ is the length of bond w, whose radial basis geometry() already has: no sin/cos again.
    const auto w = static_cast<Eigen::Index>(trip_.bond_w[ts]);
    const Scalar* R = cfg_.use_smooth ? &tbr_(w, 0) : &rbfv_(w, 0);
    const Scalar* dRr = cfg_.use_smooth ? &tbrd_(w, 0) : &rbfd_(w, 0);
    Scalar Y[3], dYc[3];
    spherical_harmonics_m0(cosv, Y, dYc);
    // Column k = 3l + n pairs radial function k with Y_l: rbf_{l,n} for MP-2021, g_k for the
    // smooth basis (nine different radial functions, each Y_l repeated three times).
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) {
        const int k = 3 * l + n;
        B(t, k) = R[k] * Y[l];
        Bdr(t, k) = dRr[k] * Y[l];  // ∂B/∂ρ and ∂B/∂cos, kept for the reverse pass
        Bdc(t, k) = R[k] * dYc[l];
      }
    tb_w_[ts] = fc_[static_cast<std::size_t>(trip_.env_a[ts])] * fc_[static_cast<std::size_t>(trip_.env_b[ts])];
  }

  /// cos θ (clamped) and ρ = |w| of triplet t; optionally ∂cos/∂u, ∂cos/∂w (zero when clamped).
  void triplet_geometry(std::size_t t, Scalar& cosv, Scalar& rho, Scalar* dcdu, Scalar* dcdw) const {
    const auto a = static_cast<Eigen::Index>(trip_.bond_u[t]), b = static_cast<Eigen::Index>(trip_.bond_w[t]);
    rho = dist_[static_cast<std::size_t>(b)];
    cosv = triplet_cosine(&rvec_(a, 0), &rvec_(b, 0), dist_[static_cast<std::size_t>(a)], rho, dcdu, dcdw);
  }

  // --- forward ----------------------------------------------------------------------------
  void forward(const std::vector<int>& types, const PeriodicGraph& g) {
    const int nb = cfg_.nblocks;
    const Eigen::Index u = cfg_.dim;
    caches_.resize(static_cast<std::size_t>(nb));
    auto V = nn::grow(v_, N_, u);
    for (Eigen::Index i = 0; i < N_; ++i) V.row(i) = w_.node_embedding.row(types[static_cast<std::size_t>(i)]);
    // Edge embedding: e = SiLU(rbf W^T + b).
    auto Ecur = nn::grow(e_, E_, u);
    auto Semb = nn::grow(emb_s_, E_, u);
    auto Eemb = nn::grow(emb_a_, E_, u);
    edges_.run([&](int, Eigen::Index e0, Eigen::Index e1) {
      const Eigen::Index n = e1 - e0;
      w_.edge_embedding.forward(rbfv_.middleRows(e0, n), Ecur.middleRows(e0, n));
      nn::silu_forward<Scalar>(Ecur.middleRows(e0, n), Semb.middleRows(e0, n));
      Eemb.middleRows(e0, n) = Ecur.middleRows(e0, n);  // kept for the reverse pass (Ecur is updated in place)
    });
    auto Y = nn::grow(tmp_y_, E_, u);
    auto RW = nn::grow(tmp_rw_, E_, u);
    if (keep_inputs_) types_ = types;
    for (int b = 0; b < nb; ++b) {
      const auto bs = static_cast<std::size_t>(b);
      auto& C = caches_[bs];
      C.resize(edges_.size());
      nn::grow(C.vin, N_, u) = V;
      if (T_ > 0) threebody_forward(bs, V, Ecur, Y);
      nn::grow(C.e_mid, E_, u);
      nn::grow(C.e_upd, E_, u);
      nn::grow(C.y_edge, E_, u);
      nn::grow(C.y_node, E_, u);
      // Edge update: e += G_e([v_src, v_dst, e]) ⊙ (rbf W_ew^T).
      node_projections(w_.conv_edge[bs], V, C.ps_edge, C.pd_edge);
      node_projections(w_.conv_node[bs], V, C.ps_node, C.pd_node);
      edges_.run([&](int c, Eigen::Index e0, Eigen::Index e1) {
        const Eigen::Index n = e1 - e0;
        C.e_mid.middleRows(e0, n) = Ecur.middleRows(e0, n);
        conv_forward(w_.conv_edge[bs], C.e_mid, g, C.ps_edge, C.pd_edge, C.y_edge, C.edge[c], e0, e1,
                     recompute_[2 * bs]);
        RW.middleRows(e0, n).noalias() = rbfv_.middleRows(e0, n) * w_.edge_weight[bs].transpose();
        Ecur.middleRows(e0, n).array() += C.y_edge.middleRows(e0, n).array() * RW.middleRows(e0, n).array();
        C.e_upd.middleRows(e0, n) = Ecur.middleRows(e0, n);
      });
      // Node update: v_dst += G_n([v_src, v_dst, e']) ⊙ (rbf W_nw^T). The node projections use
      // the block's input V (the update is summed onto V only after every edge has its message).
      edges_.run([&](int c, Eigen::Index e0, Eigen::Index e1) {
        const Eigen::Index n = e1 - e0;
        conv_forward(w_.conv_node[bs], C.e_upd, g, C.ps_node, C.pd_node, C.y_node, C.node[c], e0, e1,
                     recompute_[2 * bs + 1]);
        RW.middleRows(e0, n).noalias() = rbfv_.middleRows(e0, n) * w_.node_weight[bs].transpose();
        Y.middleRows(e0, n).array() = C.y_node.middleRows(e0, n).array() * RW.middleRows(e0, n).array();
      });
      segment_add_rows(V, by_dst_, Y, atoms_);
    }
    auto eps = nn::grow(eps_, N_, 1);
    w_.readout.forward(V, readout_, eps);
  }

  /// Three-body update of block bs: h_e = Σ_{t → e} B_t ⊙ s_gate(t) · w_t, e += G_tb(h).
  void threebody_forward(std::size_t bs, const nn::MatRef<Scalar>& V, nn::MatRef<Scalar> Ecur, nn::MatRef<Scalar> Y) {
    auto& C = caches_[bs];
    auto s = nn::grow(C.gate, N_, 9);
    w_.tb_atom[bs].forward(V, s);
    nn::sigmoid_forward<Scalar>(s);
    auto h = nn::grow(tmp_h_, E_, 9);
    h.setZero();
    // Rows are 9 contiguous scalars (row-major, 9 columns): plain loops, no expression overhead.
    // Triplets are sorted by target edge and chunked on target boundaries: one writer per row.
    Scalar* hp = h.data();
    const Scalar* sp = s.data();
    const Scalar* bp = tb_basis_.data();
    triplets_.run([&](int, Eigen::Index t0, Eigen::Index t1) {
      for (Eigen::Index t = t0; t < t1; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        Scalar* ht = hp + 9 * trip_.target[ts];
        const Scalar* st = sp + 9 * trip_.gate_atom[ts];
        const Scalar* bt = bp + 9 * t;
        const Scalar wt = tb_w_[ts];
        for (int k = 0; k < 9; ++k) ht[k] += (bt[k] * st[k]) * wt;
      }
    });
    if (keep_inputs_) nn::grow(C.hin, E_, 9) = h;
    edges_.run([&](int c, Eigen::Index e0, Eigen::Index e1) {
      const Eigen::Index n = e1 - e0;
      w_.tb_bond[bs].forward(h.middleRows(e0, n), C.tb[static_cast<std::size_t>(c)], Y.middleRows(e0, n));
      Ecur.middleRows(e0, n) += Y.middleRows(e0, n);
    });
  }

  /// Node projections of a convolution's first layer, once per atom: Ps = V W_s^T + b,
  /// Pd = V W_d^T (the per-edge pre-activation gathers them).
  void node_projections(const nn::GatedMLP<Scalar>& G, const nn::MatRef<Scalar>& V, Mat& Ps_m, Mat& Pd_m) {
    const Eigen::Index u = cfg_.dim;
    const auto& W = G.first_layer().weight;  // [2h, 3u]
    const Eigen::Index h2 = W.rows();
    auto Ps = nn::grow(Ps_m, N_, h2);
    auto Pd = nn::grow(Pd_m, N_, h2);
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      const Eigen::Index n = i1 - i0;
      Ps.middleRows(i0, n).noalias() = V.middleRows(i0, n) * W.leftCols(u).transpose();
      Pd.middleRows(i0, n).noalias() = V.middleRows(i0, n) * W.middleCols(u, u).transpose();
      if (G.first_layer().has_bias()) Ps.middleRows(i0, n).rowwise() += G.first_layer().bias;
    });
  }

  /// First layer split: Z1 = P_src[src] + P_dst[dst] + e W_e^T + b, with the node projections
  /// Ps, Pd from node_projections(); then the rest of the MLP, one block of edges at a time
  /// (nn::BlockedGatedMLP), into rows [e0, e1) of Yout ([E, out]).
  void conv_forward(const nn::GatedMLP<Scalar>& G, const Mat& Ein, const PeriodicGraph& g, const Mat& Ps_m,
                    const Mat& Pd_m, Mat& Yout, nn::BlockedGatedMLP<Scalar>& mlp, Eigen::Index e0, Eigen::Index e1,
                    bool recompute) {
    mlp.forward(G, e0, e1, recompute, conv_preactivation(G, Ein, Ps_m, Pd_m, g),
                [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index r0, Eigen::Index n) {
                  Yout.middleRows(r0, n) = G.output(c);
                });
  }

  /// The first-layer pre-activations of a block of edges [e0, e0 + n), as `pre` of
  /// nn::BlockedGatedMLP.
  auto conv_preactivation(const nn::GatedMLP<Scalar>& G, const Mat& Ein, const Mat& Ps, const Mat& Pd,
                          const PeriodicGraph& g) const {
    return [&G, &Ein, &Ps, &Pd, &g, u = cfg_.dim](auto& Z1, Eigen::Index e0, Eigen::Index n) {
      // Gathered node parts first: the GEMM then accumulates onto them (no zero-fill pass).
      gather_sum2(Z1, Ps, g.src.data() + e0, Pd, g.dst.data() + e0);
      Z1.noalias() += Ein.middleRows(e0, n) * G.first_layer().weight.rightCols(u).transpose();
    };
  }

  // --- reverse ----------------------------------------------------------------------------
  /// With `pg`, also accumulates the parameter gradients (training; needs keep_inputs_, which
  /// keeps the evaluation on one chunk, so the parameter sums below have one writer).
  void backward(const PeriodicGraph& g, M3GNetWeights<Scalar>* pg = nullptr) {
    const int nb = cfg_.nblocks;
    const Eigen::Index u = cfg_.dim;
    auto dV = nn::grow(dv_, N_, u);
    {
      auto deps = nn::grow(tmp_deps_, N_, 1);
      seed_energy_gradient(deps, cfg_.data_std, energy_weights_, "M3GNet");
      w_.readout.backward(deps, readout_, scratch_readout_, dV);
      if (pg) w_.readout.accumulate_parameter_gradients(v_.topRows(N_), readout_, scratch_readout_, pg->readout);
    }
    auto dE = nn::grow(de_, E_, u);
    auto dR = nn::grow(drbf_acc_, E_, cfg_.radial_size());
    auto dB = nn::grow(dtb_basis_, T_, 9);
    dtb_w_.assign(static_cast<std::size_t>(T_), Scalar(0));
    nn::grow(tmp_y_, E_, u);
    nn::grow(tmp_rw_, E_, u);
    nn::grow(tmp_dm_, E_, u);
    if (T_ > 0) nn::grow(tmp_h_, E_, 9);
    if (scratch_.size() < static_cast<std::size_t>(edges_.size())) scratch_.resize(static_cast<std::size_t>(edges_.size()));
    edges_.run([&](int, Eigen::Index e0, Eigen::Index e1) {
      dE.middleRows(e0, e1 - e0).setZero();
      dR.middleRows(e0, e1 - e0).setZero();
    });
    dB.setZero();
    for (int b = nb - 1; b >= 0; --b) {
      const auto bs = static_cast<std::size_t>(b);
      // Node update: v_new = v + Σ_{dst} m_e, m = Y_n ⊙ (rbf W_nw^T).
      conv_backward(bs, /*node=*/true, g, dV, dE, pg);
      // Edge update: e' = e + Y_e ⊙ (rbf W_ew^T); dE holds ∂/∂e'.
      conv_backward(bs, /*node=*/false, g, dV, dE, pg);
      // Three-body: e_mid = e + G_tb(h), h_e = Σ_t B_t ⊙ s_gate · w_t.
      if (T_ > 0) threebody_backward(bs, dV, dE, pg);
    }
    // Edge embedding: e0 = SiLU(rbf W^T + b).
    edges_.run([&](int, Eigen::Index e0, Eigen::Index e1) {
      const Eigen::Index n = e1 - e0;
      nn::silu_backward<Scalar>(dE.middleRows(e0, n), emb_a_.middleRows(e0, n), emb_s_.middleRows(e0, n));
      dR.middleRows(e0, n).noalias() += dE.middleRows(e0, n) * w_.edge_embedding.weight;
    });
    if (pg) {
      w_.edge_embedding.accumulate_parameter_gradients(rbfv_.topRows(E_), dE, pg->edge_embedding.weight,
                                                       pg->edge_embedding.bias);
      for (Eigen::Index i = 0; i < N_; ++i) pg->node_embedding.row(types_[static_cast<std::size_t>(i)]) += dV.row(i);
    }
  }

  /// Reverse of one convolution (node update when `node`, else edge update) of block bs:
  /// x_out = x + Y ⊙ (rbf W_w^T) with x the atoms (summed over dst) or the edges. Adds ∂/∂V
  /// (through both node projections) and ∂/∂e to dV and dE, and the radial-basis gradient.
  void conv_backward(std::size_t bs, bool node, const PeriodicGraph& g, nn::MatRef<Scalar> dV, nn::MatRef<Scalar> dE,
                     M3GNetWeights<Scalar>* pg) {
    auto& C = caches_[bs];
    const auto& G = node ? w_.conv_node[bs] : w_.conv_edge[bs];
    const auto& Ww = node ? w_.node_weight[bs] : w_.edge_weight[bs];
    const Mat& Yc = node ? C.y_node : C.y_edge;
    const Mat& Ein = node ? C.e_upd : C.e_mid;
    const Mat& Ps = node ? C.ps_node : C.ps_edge;
    const Mat& Pd = node ? C.pd_node : C.pd_edge;
    auto& mlps = node ? C.node : C.edge;
    nn::GatedMLP<Scalar>* gr = pg ? &(node ? pg->conv_node[bs] : pg->conv_edge[bs]) : nullptr;
    const Eigen::Index u = cfg_.dim;
    const auto& W = G.first_layer().weight;  // [2h, 3u]
    const Eigen::Index h2 = W.rows();
    auto dY = tmp_y_.topRows(E_);
    auto RW = tmp_rw_.topRows(E_);
    auto dM = tmp_dm_.topRows(E_);
    auto dR = drbf_acc_.topRows(E_);
    auto dPs = nn::grow(proj_src_, N_, h2);
    auto dPd = nn::grow(proj_dst_, N_, h2);
    dPs.setZero();
    dPd.setZero();
    nn::zero_partials(part_ps_, edges_, N_, h2);
    nn::zero_partials(part_pd_, edges_, N_, h2);
    auto* F = gr ? &gr->mutable_first_layer() : nullptr;
    edges_.run([&](int c, Eigen::Index e0, Eigen::Index e1) {
      const Eigen::Index n = e1 - e0;
      auto dMc = dM.middleRows(e0, n);
      if (node)
        gather_rows(dMc, dV, g.dst.data() + e0);  // ∂/∂m_e = ∂/∂v_dst
      else
        dMc = dE.middleRows(e0, n);
      RW.middleRows(e0, n).noalias() = rbfv_.middleRows(e0, n) * Ww.transpose();
      dY.middleRows(e0, n) = dMc.cwiseProduct(RW.middleRows(e0, n));
      dMc.array() *= Yc.middleRows(e0, n).array();  // now d(rbf W^T)
      dR.middleRows(e0, n).noalias() += dMc * Ww;
      auto dPs_c = nn::partial_of(c, dPs, part_ps_, N_);
      auto dPd_c = nn::partial_of(c, dPd, part_pd_, N_);
      mlps[static_cast<std::size_t>(c)].backward(
          G, conv_preactivation(G, Ein, Ps, Pd, g),
          [&](const nn::GatedMLPCache<Scalar>&, Eigen::Index r0, Eigen::Index m) {
            return nn::ConstMatRef<Scalar>(dY.middleRows(r0, m));
          },
          [&](const nn::ConstMatRef<Scalar>& dZ1, const nn::GatedMLPCache<Scalar>&, Eigen::Index r0, Eigen::Index m) {
            dE.middleRows(r0, m).noalias() += dZ1 * W.rightCols(u);
            scatter_add_rows(dPs_c, g.src.data() + r0, dZ1);
            scatter_add_rows(dPd_c, g.dst.data() + r0, dZ1);
            if (F) {
              // First layer split as in conv_forward: Z1 = V_src W_sᵀ + V_dst W_dᵀ + e W_eᵀ + b.
              F->weight.rightCols(u).noalias() += dZ1.transpose() * Ein.middleRows(r0, m);
              if (F->has_bias()) F->bias += dZ1.colwise().sum();
            }
          },
          scratch_[static_cast<std::size_t>(c)], gr);
    });
    if (pg) (node ? pg->node_weight[bs] : pg->edge_weight[bs]).noalias() += dM.transpose() * rbfv_.topRows(E_);
    nn::add_partials(dPs, part_ps_, edges_, atoms_);
    nn::add_partials(dPd, part_pd_, edges_, atoms_);
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      const Eigen::Index n = i1 - i0;
      dV.middleRows(i0, n).noalias() += dPs.middleRows(i0, n) * W.leftCols(u);
      dV.middleRows(i0, n).noalias() += dPd.middleRows(i0, n) * W.middleCols(u, u);
    });
    if (gr) {
      const auto V0 = C.vin.topRows(N_);
      F->weight.leftCols(u).noalias() += dPs.transpose() * V0;
      F->weight.middleCols(u, u).noalias() += dPd.transpose() * V0;
    }
  }

  /// Reverse of threebody_forward for block bs.
  void threebody_backward(std::size_t bs, nn::MatRef<Scalar> dV, nn::MatRef<Scalar> dE, M3GNetWeights<Scalar>* pg) {
    auto& C = caches_[bs];
    auto dh = tmp_h_.topRows(E_);
    edges_.run([&](int c, Eigen::Index e0, Eigen::Index e1) {
      const Eigen::Index n = e1 - e0;
      const auto cs = static_cast<std::size_t>(c);
      w_.tb_bond[bs].backward(dE.middleRows(e0, n), C.tb[cs], scratch_[cs], dh.middleRows(e0, n));
      if (pg)
        w_.tb_bond[bs].accumulate_parameter_gradients(C.hin.middleRows(e0, n), C.tb[cs], scratch_[cs], pg->tb_bond[bs]);
    });
    auto s = C.gate.topRows(N_);
    auto ds = nn::grow(tmp_ds_, N_, 9);
    ds.setZero();
    nn::zero_partials(part_ds_, triplets_, N_, 9);
    const Scalar* dhp = dh.data();
    const Scalar* sp = s.data();
    const Scalar* bp = tb_basis_.data();
    Scalar* dbp = dtb_basis_.data();
    triplets_.run([&](int c, Eigen::Index t0, Eigen::Index t1) {
      Scalar* dsp = nn::partial_of(c, ds, part_ds_, N_).data();
      for (Eigen::Index t = t0; t < t1; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        const Scalar* dc = dhp + 9 * trip_.target[ts];
        const Scalar* sg = sp + 9 * trip_.gate_atom[ts];
        Scalar* dsg = dsp + 9 * trip_.gate_atom[ts];
        const Scalar* bt = bp + 9 * t;
        Scalar* dbt = dbp + 9 * t;
        const Scalar wt = tb_w_[ts];
        Scalar dw(0);
        for (int k = 0; k < 9; ++k) {
          dbt[k] += dc[k] * sg[k] * wt;
          dsg[k] += dc[k] * bt[k] * wt;
          dw += dc[k] * bt[k] * sg[k];
        }
        dtb_w_[ts] += dw;
      }
    });
    nn::add_partials(ds, part_ds_, triplets_, atoms_);
    nn::sigmoid_backward<Scalar>(ds, s);
    if (pg)
      w_.tb_atom[bs].accumulate_parameter_gradients(C.vin.topRows(N_), ds, pg->tb_atom[bs].weight,
                                                    pg->tb_atom[bs].bias);
    w_.tb_atom[bs].backward(ds, dV, /*accumulate=*/true);
  }

  void forces_and_virial(const PeriodicGraph& g, M3GNetOutput& out) {
    auto G = nn::grow(gvec_, E_, 3);
    // Envelope weights of the triplets: ∂E/∂fc per edge.
    auto dfc = nn::grow(dfc_acc_, E_, 1);
    dfc.setZero();
    nn::zero_partials(part_dfc_, triplets_, E_, 1);
    triplets_.run([&](int c, Eigen::Index t0, Eigen::Index t1) {
      auto acc = nn::partial_of(c, dfc, part_dfc_, E_);
      for (Eigen::Index t = t0; t < t1; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        const auto a = static_cast<std::size_t>(trip_.env_a[ts]), b = static_cast<std::size_t>(trip_.env_b[ts]);
        acc(static_cast<Eigen::Index>(a), 0) += dtb_w_[ts] * fc_[b];
        acc(static_cast<Eigen::Index>(b), 0) += dtb_w_[ts] * fc_[a];
      }
    });
    nn::add_partials(dfc, part_dfc_, triplets_, edges_);
    // Radial terms per edge.
    edges_.run([&](int, Eigen::Index e0, Eigen::Index e1) {
      for (Eigen::Index e = e0; e < e1; ++e) {
        const auto es = static_cast<std::size_t>(e);
        Scalar dd = dfc(e, 0) * dfc_[es];
        for (Eigen::Index k = 0; k < rbfd_.cols(); ++k) dd += drbf_acc_(e, k) * rbfd_(e, k);
        const Scalar f = dd / dist_[es];
        for (int k = 0; k < 3; ++k) G(e, k) = f * rvec_(e, k);
      }
    });
    // Angular/radial terms of the triplet basis.
    nn::zero_partials(part_g_, triplets_, E_, 3);
    triplets_.run([&](int c, Eigen::Index t0, Eigen::Index t1) {
      auto Gc = nn::partial_of(c, G, part_g_, E_);
      for (Eigen::Index t = t0; t < t1; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        Scalar cosv, rho, dcdu[3], dcdw[3];
        triplet_geometry(ts, cosv, rho, dcdu, dcdw);
        Scalar drho(0), dcos(0);
        for (int k = 0; k < 9; ++k) {
          const Scalar gb = dtb_basis_(t, k);
          drho += gb * tb_drho_(t, k);
          dcos += gb * tb_dcos_(t, k);
        }
        const auto a = static_cast<Eigen::Index>(trip_.bond_u[ts]), b = static_cast<Eigen::Index>(trip_.bond_w[ts]);
        const Scalar fr = drho / rho;
        for (int k = 0; k < 3; ++k) {
          Gc(a, k) += dcos * dcdu[k];
          Gc(b, k) += dcos * dcdw[k] + fr * rvec_(b, k);
        }
      }
    });
    nn::add_partials(G, part_g_, triplets_, edges_);
    edge_gradients_to_forces(g, G, rvec_, static_cast<std::size_t>(N_), out.forces, out.virial);
  }

  struct BlockCache {
    Mat gate;                          // [N, 9] three-body atom gates σ(v W^T + b)
    Mat vin, e_mid, e_upd;             // block input V and the edge inputs of both convolutions
    Mat hin;                           // training only: three-body h
    Mat ps_edge, pd_edge, ps_node, pd_node;  // [N, 2h] node projections of both convolutions
    Mat y_edge, y_node;                // [E, u] convolution outputs (before the rbf weights)
    std::vector<nn::GatedMLPCache<Scalar>> tb;            // per edge chunk
    std::vector<nn::BlockedGatedMLP<Scalar>> edge, node;  // the two convolution MLPs, per edge chunk
    void resize(int chunks) {
      const auto n = static_cast<std::size_t>(chunks);
      if (tb.size() < n) tb.resize(n);
      if (edge.size() < n) edge.resize(n);
      if (node.size() < n) node.resize(n);
    }
  };

  M3GNetConfig cfg_;
  M3GNetWeights<Scalar> w_;
  ThreeBodyMode mode_ = ThreeBodyMode::matgl;
  SphericalBesselBasis<Scalar> rbf_;  // MP-2021
  SmoothBesselBasis<Scalar> smooth_;  // MatPES (use_smooth)
  Eigen::Index N_ = 0, E_ = 0, T_ = 0;

  Mat rvec_, rbfv_, rbfd_;  // [E, radial_size] two-body basis and d/dr
  Mat tbr_, tbrd_;          // [E, 9] three-body radial functions and d/dr (smooth basis only)
  std::vector<Scalar> dist_, fc_, dfc_;
  Triplets trip_;
  std::vector<int> pruned_;
  Mat tb_basis_, tb_drho_, tb_dcos_;  // [T, 9] triplet basis and its ∂/∂ρ, ∂/∂cos θ
  std::vector<Scalar> tb_w_;

  std::vector<BlockCache> caches_;
  nn::GatedMLPCache<Scalar> readout_;
  std::vector<nn::GatedMLPScratch<Scalar>> scratch_;  // per edge chunk
  nn::GatedMLPScratch<Scalar> scratch_readout_;
  std::vector<bool> recompute_;  // per convolution MLP (forward order): activations recomputed in the reverse pass
  Mat v_, e_, emb_s_, emb_a_, eps_;
  Mat tmp_y_, tmp_rw_, tmp_h_, tmp_dm_, tmp_ds_, tmp_deps_, proj_src_, proj_dst_;
  Mat dv_, de_, drbf_acc_, dtb_basis_, gvec_, dfc_acc_;
  std::vector<Scalar> dtb_w_;

  int threads_ = 1;
  nn::RowChunks edges_, triplets_, atoms_;  // one chunk per host thread (triplets split on target edges)
  EdgeGroups by_dst_;                       // edges per destination atom: the node-update sums
  std::vector<Mat> part_ps_, part_pd_, part_ds_, part_dfc_, part_g_;  // partial sums of chunks 1, 2, ...

  bool keep_inputs_ = false;
  std::vector<double> energy_weights_;
  std::vector<int> types_;
  GeometryTangent tangent_;  // Dual scalars only
};

}  // namespace graphnet
NERNST_NAMESPACE_END
