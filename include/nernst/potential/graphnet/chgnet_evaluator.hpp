#pragma once
/// \file
/// \brief CHGNet forward and reverse pass on a fixed graph: energy, site energies, magnetic
/// moments, ∂E/∂r_e, forces and the strain derivative (spec: shared/specs/chgnet.md §3–§7).
///
/// One forward sweep (embeddings; n_conv atom convolutions, each but the last followed by a
/// bond convolution and an angle update; LayerNorm + MLP readout) keeps what the reverse
/// sweep needs; one hand-written reverse sweep gives ∂E/∂r_e for every directed edge vector
/// (through the radial bases of the bond lengths and the Fourier basis of the angles), from
/// which F_i and ∂E/∂ε = Σ_e r_e ⊗ ∂E/∂r_e follow. The scalar type is a template parameter.
///
/// Layout and cost: features are row-major batches (atoms [N, A], undirected bonds [U, B],
/// angles [T, G]); every dense layer is one GEMM. The first layer of each gated MLP is never
/// applied to the concatenated input: its column blocks are applied once per atom / bond /
/// bond-graph node and the per-edge (per-angle) pre-activation is a gathered sum, so the
/// per-edge work is the second layer only. Every gated MLP runs over cache-sized blocks of
/// edges or angles (nn::BlockedGatedMLP, as M3GNet's convolutions); on large graphs the first
/// atom convolutions recompute their activations in the reverse pass instead of keeping them.
/// The last angle update is skipped: CHGNet computes it but never uses its output (spec §4.7).
///
/// Host threads (nn::RowChunks, as M3GNet's evaluator): edges, bonds, bond-graph nodes, angles
/// and atoms are split into one contiguous chunk per host thread, each with its own blocked MLPs,
/// scratch and message buffers. Edges are chunked where their source atom changes and angles
/// where their centre atom changes, so the atom-convolution message sums (onto the source), the
/// centre-atom gradients and the edge gradients of the force pass have one writer per row; sums
/// onto rows shared across chunks (bond-graph nodes, bonds, destination atoms) go into private
/// partials added in chunk order. One chunk reproduces the serial sums exactly; training
/// (set_training) runs on one chunk.

#include <nernst/core/error.hpp>
#include <nernst/nn/activation.hpp>
#include <nernst/nn/blocked_gated_mlp.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/mlp.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/bessel_basis.hpp>
#include <nernst/potential/graphnet/bond_graph.hpp>
#include <nernst/potential/graphnet/chgnet_model.hpp>
#include <nernst/potential/graphnet/fourier_basis.hpp>
#include <nernst/potential/graphnet/gather_scatter.hpp>
#include <nernst/potential/graphnet/geometry_tangent.hpp>
#include <nernst/potential/graphnet/graph.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {



template <class Scalar>
class CHGNetEvaluator {
 public:
  using Mat = nn::RowMatrix<Scalar>;

  CHGNetEvaluator() = default;
  explicit CHGNetEvaluator(const CHGNetModel& model)
      : cfg_(model.config),
        w_(model.weights.template cast<Scalar>()),
        rbf_ag_(model.config.atom_graph_cutoff, model.weights.rbf_ag_freq, model.config.cutoff_coeff),
        rbf_bg_(model.config.bond_graph_cutoff, model.weights.rbf_bg_freq, model.config.cutoff_coeff),
        fourier_(model.weights.fourier_freq) {}

  const CHGNetConfig& config() const { return cfg_; }

  /// Evaluates on the graph `g` with bond graph `bg`. `x`: Cartesian positions (Å), `L`: lattice
  /// rows, `Z`: atomic numbers (1..94). With `gradients` the forces and virial are filled.
  void evaluate(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const std::vector<int>& Z,
                const PeriodicGraph& g, const BondGraph& bg, bool gradients, CHGNetOutput& out) {
    N_ = static_cast<Eigen::Index>(x.size());
    E_ = static_cast<Eigen::Index>(g.size());
    U_ = static_cast<Eigen::Index>(bg.bonds());
    Ub_ = static_cast<Eigen::Index>(bg.nodes());
    T_ = static_cast<Eigen::Index>(bg.angles());
    if (Z.size() != x.size()) throw ValueError("CHGNet: atomic numbers and positions differ in length");
    for (std::size_t i = 0; i < Z.size(); ++i)
      if (Z[i] < 1 || Z[i] > 94)
        throw ValueError("CHGNet: atom " + std::to_string(i) + " has Z = " + std::to_string(Z[i]) + " (only 1..94 are supported)");
    split_rows(g, bg);
    geometry(x, L, g, bg, gradients);
    forward(Z, g, bg);
    out.site_energy.assign(x.size(), 0.0);
    out.magmom.assign(x.size(), 0.0);
    out.model_energy = 0;
    out.energy = 0;
    for (Eigen::Index i = 0; i < N_; ++i) {
      const auto is = static_cast<std::size_t>(i);
      const double eps = static_cast<double>(eps_(i, 0));
      const double ref = w_.atom_ref[static_cast<std::size_t>(Z[is] - 1)];
      out.site_energy[is] = eps + ref;
      out.model_energy += eps;
      out.energy += eps + ref;
      out.magmom[is] = std::abs(static_cast<double>(mag_(i, 0)));
    }
    if (!gradients) return;
    backward(g, bg);
    forces_and_virial(g, bg, out);
  }

  /// Atom features after n_conv − 1 convolutions ([N, A]) of the last evaluation.
  const Mat& atom_features_before_last_conv() const { return a_last_; }
  /// ∂E/∂r_e of the last evaluation with gradients ([E, 3]).
  const Mat& edge_gradient() const { return gvec_; }

  // --- training (docs/training.md) --------------------------------------------------------

  /// Replaces configuration and weights (AtomRef and basis frequencies included).
  void set_model(const CHGNetModel& model) {
    cfg_ = model.config;
    w_ = model.weights.template cast<Scalar>();
    rbf_ag_ = SineBesselBasis<Scalar>(cfg_.atom_graph_cutoff, model.weights.rbf_ag_freq, cfg_.cutoff_coeff);
    rbf_bg_ = SineBesselBasis<Scalar>(cfg_.bond_graph_cutoff, model.weights.rbf_bg_freq, cfg_.cutoff_coeff);
    fourier_ = FourierBasis<Scalar>(model.weights.fourier_freq);
  }

  /// With `keep`, evaluate() also keeps the layer inputs that accumulate_parameter_gradients()
  /// needs. Off by default (inference keeps nothing extra).
  void set_training(bool keep) { keep_inputs_ = keep; }

  /// Dual scalars only: geometry tangent for the next evaluate(): displacements δx_i (Å) and
  /// strain δε; each edge vector gets the tangent δr_e = δx_dst − δx_src + r_e δε.
  void set_geometry_tangent(const std::vector<std::array<double, 3>>& dx, const Eigen::Matrix3d& deps) {
    static_assert(nn::is_dual_v<Scalar>, "geometry tangents need a Dual scalar");
    tangent_.set(dx, deps);
  }
  void clear_geometry_tangent() { tangent_.clear(); }

  /// Adds ∂E_model/∂θ for every learned tensor of the last evaluate() (run with
  /// set_training(true)) to `grad`: weights, LayerNorms, embeddings and the basis frequencies
  /// (AtomRef is linear in E and left to the caller; site_wise does not enter E). With a Dual
  /// scalar each gradient's tangent is ∂(D_t E)/∂θ along the geometry tangent.
  void accumulate_parameter_gradients(const PeriodicGraph& g, const BondGraph& bg, CHGNetGradients<Scalar>& grad) {
    if (!keep_inputs_) throw ValueError("CHGNet: parameter gradients need set_training(true) before evaluate()");
    backward(g, bg, &grad);
    embedding_gradients(bg, grad);
  }

 private:
  /// One atom convolution: first-layer projections (kept: a recomputed block needs them),
  /// the blocked MLP, and in training the message sum S (atom_out's input).
  struct AtomConvState {
    Mat pc, pn, qb;  // [N, 2H] centre (with the bias), [N, 2H] neighbour, [U, 2H] bond
    Mat s;           // [N, A], training only
    std::vector<nn::BlockedGatedMLP<Scalar>> mlp;  // per edge chunk
  };

  // --- rows over host threads ---------------------------------------------------------------
  /// Chunks for this evaluation (nn::RowChunks). Edges split where the source atom changes and
  /// angles where the centre changes (one writer per message-sum row); a graph whose edges are
  /// not grouped by source (build_pymatgen_graph's are) runs its edges on one chunk.
  void split_rows(const PeriodicGraph& g, const BondGraph& bg) {
    const int threads = keep_inputs_ ? 1 : nn::host_threads();
    const bool grouped = std::is_sorted(g.src.begin(), g.src.end()) &&
                         std::is_sorted(bg.angle_center.begin(), bg.angle_center.end());
    edges_.split_on_key(g.src.data(), E_, grouped ? threads : 1);
    angles_.split_on_key(bg.angle_center.data(), T_, grouped ? threads : 1);
    bonds_.split(U_, threads);
    nodes_.split(Ub_, threads);
    atoms_.split(N_, threads, 32);
    const auto most = static_cast<std::size_t>(std::max(edges_.size(), angles_.size()));
    if (scratch_.size() < most) scratch_.resize(most);
    if (msg_.size() < most) msg_.resize(most);
  }

  // --- geometry and bases -----------------------------------------------------------------
  void geometry(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const PeriodicGraph& g,
                const BondGraph& bg, bool grad) {
    using math::acos;
    using math::sqrt;
    auto rv = nn::grow(rvec_, E_, 3);
    len_.resize(static_cast<std::size_t>(E_));
    edges_.run([&](int, Eigen::Index e_begin, Eigen::Index e_end) {
      for (Eigen::Index e = e_begin; e < e_end; ++e) {
        const auto es = static_cast<std::size_t>(e);
        const auto s = static_cast<std::size_t>(g.src[es]);
        const auto d = static_cast<std::size_t>(g.dst[es]);
        const auto& n = g.image[es];
        Scalar r2(0);
        for (int k = 0; k < 3; ++k) {
          const double v = x[d][static_cast<std::size_t>(k)] + (n[0] * L(0, k) + n[1] * L(1, k) + n[2] * L(2, k)) -
                           x[s][static_cast<std::size_t>(k)];
          rv(e, k) = Scalar(v);
          r2 += rv(e, k) * rv(e, k);
        }
        if constexpr (nn::is_dual_v<Scalar>) {
          if (tangent_.active) r2 = tangent_.seed<Scalar>(rv.row(e), s, d);
        }
        len_[es] = sqrt(r2);
      }
    });
    const int R = cfg_.num_radial;
    auto pa = nn::grow(phi_ag_, U_, R);
    auto dpa = nn::grow(dphi_ag_, grad ? U_ : 0, R);
    bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) {
      for (Eigen::Index u = u0; u < u1; ++u) {
        const Scalar r = len_[static_cast<std::size_t>(bg.bond_edge[static_cast<std::size_t>(u)])];
        rbf_ag_(r, &pa(u, 0), grad ? &dpa(u, 0) : nullptr);
      }
    });
    auto pb = nn::grow(phi_bg_, Ub_, R);
    auto dpb = nn::grow(dphi_bg_, grad ? Ub_ : 0, R);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      for (Eigen::Index k = k0; k < k1; ++k) {
        const auto u = static_cast<std::size_t>(bg.node_bond[static_cast<std::size_t>(k)]);
        const Scalar r = len_[static_cast<std::size_t>(bg.bond_edge[u])];
        rbf_bg_(r, &pb(k, 0), grad ? &dpb(k, 0) : nullptr);
      }
    });
    const int K = cfg_.num_angular;
    auto ps = nn::grow(psi_, T_, K);
    auto dps = nn::grow(dpsi_, grad ? T_ : 0, K);
    cos_.resize(static_cast<std::size_t>(T_));
    const Scalar shrink = Scalar(1) - Scalar(1e-6);
    angles_.run([&](int, Eigen::Index t_begin, Eigen::Index t_end) {
      for (Eigen::Index t = t_begin; t < t_end; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        const auto e1 = static_cast<Eigen::Index>(bg.angle_edge1[ts]), e2 = static_cast<Eigen::Index>(bg.angle_edge2[ts]);
        Scalar dot(0);
        for (int k = 0; k < 3; ++k) dot += rv(e1, k) * rv(e2, k);
        const Scalar c = dot / (len_[static_cast<std::size_t>(e1)] * len_[static_cast<std::size_t>(e2)]);
        cos_[ts] = c;
        const Scalar theta = acos(c * shrink);
        fourier_(theta, &ps(t, 0), grad ? &dps(t, 0) : nullptr);
      }
    });
  }

  // --- forward ----------------------------------------------------------------------------
  void forward(const std::vector<int>& Z, const PeriodicGraph& g, const BondGraph& bg) {
    const Eigen::Index A = cfg_.atom_fea_dim;
    const int nc = cfg_.n_conv;
    auto a = nn::grow(a_, N_, A);
    for (Eigen::Index i = 0; i < N_; ++i) a.row(i) = w_.atom_embedding.row(Z[static_cast<std::size_t>(i)] - 1);
    auto b = nn::grow(b_, U_, cfg_.bond_fea_dim);
    auto wa = nn::grow(wa_, U_, A);
    bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) {
      const auto phi = phi_ag_.middleRows(u0, u1 - u0);
      b.middleRows(u0, u1 - u0).noalias() = phi * w_.bond_embedding.transpose();
      wa.middleRows(u0, u1 - u0).noalias() = phi * w_.bond_weights_ag.transpose();
    });
    auto wb = nn::grow(wb_, Ub_, cfg_.bond_fea_dim);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      wb.middleRows(k0, k1 - k0).noalias() = phi_bg_.middleRows(k0, k1 - k0) * w_.bond_weights_bg.transpose();
    });
    auto t = nn::grow(t_, T_, cfg_.angle_fea_dim);
    angles_.run([&](int, Eigen::Index t0, Eigen::Index t1) {
      t.middleRows(t0, t1 - t0).noalias() = psi_.middleRows(t0, t1 - t0) * w_.angle_embedding.transpose();
    });

    atom_conv_.resize(static_cast<std::size_t>(nc));
    std::vector<double> bytes;
    for (const auto& G : w_.atom_conv) bytes.push_back(nn::BlockedGatedMLP<Scalar>::activation_bytes(G, E_));
    recompute_ = nn::BlockedGatedMLP<Scalar>::recompute_plan(bytes);
    bond_conv_.resize(static_cast<std::size_t>(nc));
    angle_update_.resize(static_cast<std::size_t>(nc));
    const bool angles = T_ > 0;
    if (keep_inputs_) z_ = Z;
    for (int k = 0; k < nc; ++k) {
      if (keep_inputs_) keep_block_inputs(k);
      if (k == nc - 1) {
        nn::grow(a_last_, N_, A) = a;
        auto m = nn::grow(mag_, N_, 1);
        w_.site_wise.forward(a, m);
      }
      atom_conv_forward(k, g, bg);
      if (k == nc - 1 || !angles) continue;
      if (cfg_.update_bond) bond_conv_forward(k, bg);
      if (cfg_.update_angle && k != nc - 2) angle_update_forward(k, bg);
    }
    // Readout: ã = LN(a), ε = MLP(ã).
    auto at = nn::grow(a_read_, N_, A);
    at = a;
    if (!w_.readout_norm.empty()) {
      auto xh = nn::grow(read_norm_.xhat, N_, A);
      read_norm_.rstd.resize(N_);
      w_.readout_norm.forward(at, xh, read_norm_.rstd);
    }
    auto eps = nn::grow(eps_, N_, 1);
    w_.readout.forward(at, readout_cache_, eps);
  }

  void atom_conv_forward(int k, const PeriodicGraph& g, const BondGraph& bg) {
    const Eigen::Index A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.atom_conv[ks];
    const auto& W = G.first_layer().weight;  // [2H, 2A + B]: centre | bond | neighbour
    const Eigen::Index h2 = W.rows();
    auto& st = atom_conv_[ks];
    auto a = a_.topRows(N_);
    auto Pc = nn::grow(st.pc, N_, h2);
    auto Pn = nn::grow(st.pn, N_, h2);
    auto Qb = nn::grow(st.qb, U_, h2);
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      const Eigen::Index n = i1 - i0;
      Pc.middleRows(i0, n).noalias() = a.middleRows(i0, n) * W.leftCols(A).transpose();
      if (G.first_layer().has_bias()) Pc.middleRows(i0, n).rowwise() += G.first_layer().bias;
      Pn.middleRows(i0, n).noalias() = a.middleRows(i0, n) * W.rightCols(A).transpose();
    });
    bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) {
      Qb.middleRows(u0, u1 - u0).noalias() = b_.middleRows(u0, u1 - u0) * W.middleCols(A, B).transpose();
    });
    // S_c = Σ_{src(e)=c} Y_e ⊙ wa_u(e), summed block by block while the block is in cache (edge
    // chunks end where the source changes: one writer per row of S).
    auto S = nn::grow(sum_a_, N_, A);
    S.setZero();
    st.mlp.resize(static_cast<std::size_t>(edges_.size()));
    edges_.run([&](int ch, Eigen::Index e_begin, Eigen::Index e_end) {
      st.mlp[static_cast<std::size_t>(ch)].forward(G, e_begin, e_end, recompute_[ks], atom_conv_preactivation(st, g, bg),
                     [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index e0, Eigen::Index n) {
                       const auto& Al = c.A[G.depth() - 1];  // [core | gate] of the last layer
                       for (Eigen::Index i = 0; i < n; ++i) {
                         const auto es = static_cast<std::size_t>(e0 + i);
                         if (i + detail::kPrefetchAhead < n)
                           detail::prefetch_row(&wa_(bg.edge_bond[es + static_cast<std::size_t>(detail::kPrefetchAhead)], 0), A);
                         Scalar* sc = &S(g.src[es], 0);
                         const Scalar* yc = Al.data() + i * Al.cols();
                         const Scalar* yg = yc + A;
                         const Scalar* w = &wa_(bg.edge_bond[es], 0);
                         for (Eigen::Index j = 0; j < A; ++j) sc[j] += (yc[j] * yg[j]) * w[j];
                       }
                     });
    });
    if (keep_inputs_) nn::grow(st.s, N_, A) = S;
    const auto& O = w_.atom_out[ks];
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      a.middleRows(i0, i1 - i0).noalias() += S.middleRows(i0, i1 - i0) * O.weight.transpose();
      if (O.has_bias()) a.middleRows(i0, i1 - i0).rowwise() += O.bias;
    });
  }

  /// Atom convolution pre-activations of edges [e0, e0 + n): Pc[src] + Qb[bond] + Pn[dst]
  /// (`pre` of nn::BlockedGatedMLP).
  auto atom_conv_preactivation(const AtomConvState& st, const PeriodicGraph& g, const BondGraph& bg) const {
    return [&st, &g, &bg](auto& Z1, Eigen::Index e0, Eigen::Index) {
      gather_sum3(Z1, st.pc, g.src.data() + e0, st.qb, bg.edge_bond.data() + e0, st.pn, g.dst.data() + e0);
    };
  }

  /// Node projections of a bond-graph gated MLP's first layer (input [b1 | b2 | t | a_c] per
  /// angle): Q1 (with the bias) and Q2 per bond-graph node, Pa per atom.
  void angle_projections(const nn::GatedMLP<Scalar>& G, const BondGraph& bg) {
    const Eigen::Index A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    const auto& W = G.first_layer().weight;  // [2H, 2B + G + A]
    const Eigen::Index h2 = W.rows();
    auto Bn = nn::grow(bnode_, Ub_, B);
    auto Q1 = nn::grow(proj_q1_, Ub_, h2);
    auto Q2 = nn::grow(proj_q2_, Ub_, h2);
    auto Pa = nn::grow(proj_c_, N_, h2);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      const Eigen::Index n = k1 - k0;
      for (Eigen::Index k = k0; k < k1; ++k) Bn.row(k) = b_.row(bg.node_bond[static_cast<std::size_t>(k)]);
      Q1.middleRows(k0, n).noalias() = Bn.middleRows(k0, n) * W.leftCols(B).transpose();
      if (G.first_layer().has_bias()) Q1.middleRows(k0, n).rowwise() += G.first_layer().bias;
      Q2.middleRows(k0, n).noalias() = Bn.middleRows(k0, n) * W.middleCols(B, B).transpose();
    });
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      Pa.middleRows(i0, i1 - i0).noalias() = a_.middleRows(i0, i1 - i0) * W.rightCols(A).transpose();
    });
  }

  /// Pre-activations of angles [t0, t0 + n): Q1[node1] + Q2[node2] + Pa[centre] + t W_tᵀ
  /// (`pre` of nn::BlockedGatedMLP, after angle_projections).
  auto angle_preactivation(const nn::GatedMLP<Scalar>& G, const BondGraph& bg) {
    return [this, &G, &bg](auto& Z1, Eigen::Index t0, Eigen::Index n) {
      const Eigen::Index B = cfg_.bond_fea_dim, Gd = cfg_.angle_fea_dim;
      gather_sum3(Z1, proj_q1_, bg.angle_node1.data() + t0, proj_q2_, bg.angle_node2.data() + t0, proj_c_,
                  bg.angle_center.data() + t0);
      Z1.noalias() += t_.middleRows(t0, n) * G.first_layer().weight.middleCols(2 * B, Gd).transpose();
    };
  }

  void bond_conv_forward(int k, const BondGraph& bg) {
    const Eigen::Index B = cfg_.bond_fea_dim;
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.bond_conv[ks];
    angle_projections(G, bg);
    // S_n = Σ_{node1(τ)=n} Y_τ ⊙ wb_n1 ⊙ wb_n2, summed block by block (a node's angles lie at
    // both ends of its bond, so in two chunks: chunks ≥ 1 sum into private partials).
    auto S = nn::grow(sum_b_, Ub_, B);
    S.setZero();
    nn::zero_partials(part_node_, angles_, Ub_, B);
    // Bond- and angle-graph activations are always kept: they are a fraction of the atom
    // convolutions', and the angle update's input is overwritten by its output.
    bond_conv_[ks].mlp.resize(static_cast<std::size_t>(angles_.size()));
    angles_.run([&](int ch, Eigen::Index t_begin, Eigen::Index t_end) {
      auto Sc = nn::partial_of(ch, S, part_node_, Ub_);
      bond_conv_[ks].mlp[static_cast<std::size_t>(ch)].forward(G, t_begin, t_end, false, angle_preactivation(G, bg),
                                 [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index t0, Eigen::Index n) {
                                   const auto& Al = c.A[G.depth() - 1];
                                   for (Eigen::Index i = 0; i < n; ++i) {
                                     const auto ts = static_cast<std::size_t>(t0 + i);
                                     Scalar* sn = &Sc(bg.angle_node1[ts], 0);
                                     const Scalar* yc = Al.data() + i * Al.cols();
                                     const Scalar* yg = yc + B;
                                     const Scalar* w1 = &wb_(bg.angle_node1[ts], 0);
                                     const Scalar* w2 = &wb_(bg.angle_node2[ts], 0);
                                     for (Eigen::Index j = 0; j < B; ++j) sn[j] += ((yc[j] * yg[j]) * w1[j]) * w2[j];
                                   }
                                 });
    });
    nn::add_partials(S, part_node_, angles_, nodes_);
    if (keep_inputs_) nn::grow(bond_conv_[ks].s, Ub_, B) = S;
    const auto& O = w_.bond_out[ks];
    auto D = nn::grow(tmp_b_, Ub_, B);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      D.middleRows(k0, k1 - k0).noalias() = S.middleRows(k0, k1 - k0) * O.weight.transpose();
      for (Eigen::Index n = k0; n < k1; ++n) b_.row(bg.node_bond[static_cast<std::size_t>(n)]) += D.row(n);
    });
    if (O.has_bias())  // every bond, as CHGNet's mlp_out does
      bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) { b_.middleRows(u0, u1 - u0).rowwise() += O.bias; });
  }

  void angle_update_forward(int k, const BondGraph& bg) {
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.angle_update[ks];
    angle_projections(G, bg);
    // t ← t + Y block by block: a block's pre-activations read only its own rows of t.
    auto& mlps = angle_update_[ks].mlp;
    mlps.resize(static_cast<std::size_t>(angles_.size()));
    angles_.run([&](int ch, Eigen::Index t_begin, Eigen::Index t_end) {
      mlps[static_cast<std::size_t>(ch)].forward(G, t_begin, t_end, false, angle_preactivation(G, bg),
                                                 [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index t0, Eigen::Index n) {
                                                   t_.middleRows(t0, n) += G.output(c);
                                                 });
    });
  }

  // --- reverse ----------------------------------------------------------------------------
  /// With `pg`, also accumulates the parameter gradients (training; needs keep_inputs_).
  void backward(const PeriodicGraph& g, const BondGraph& bg, CHGNetGradients<Scalar>* pg = nullptr) {
    const Eigen::Index A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    const int nc = cfg_.n_conv;
    auto da = nn::grow(da_, N_, A);
    {
      auto deps = nn::grow(tmp_deps_, N_, 1);
      deps.setOnes();
      w_.readout.backward(deps, readout_cache_, da);
      if (pg) readout_gradients(deps, da, *pg);
      if (!w_.readout_norm.empty()) w_.readout_norm.backward(da, read_norm_.xhat.topRows(N_), read_norm_.rstd);
    }
    auto db = nn::grow(db_, U_, B);
    db.setZero();
    auto dt = nn::grow(dt_, T_, cfg_.angle_fea_dim);
    dt.setZero();
    auto dwa = nn::grow(dwa_, U_, A);
    dwa.setZero();
    auto dwb = nn::grow(dwb_, Ub_, B);
    dwb.setZero();
    const bool angles = T_ > 0;
    for (int k = nc - 1; k >= 0; --k) {
      if (k != nc - 1 && angles) {
        if (cfg_.update_angle && k != nc - 2) angle_update_backward(k, bg, pg);
        if (cfg_.update_bond) bond_conv_backward(k, bg, pg);
      }
      atom_conv_backward(k, g, bg, pg);
    }
    // Embeddings: b0 = φag W_be^T, wa = φag W_wa^T, wb = φbg W_wb^T, t0 = ψ W_an^T.
    auto dpa = nn::grow(gphi_ag_, U_, cfg_.num_radial);
    bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) {
      const Eigen::Index n = u1 - u0;
      dpa.middleRows(u0, n).noalias() = db.middleRows(u0, n) * w_.bond_embedding;
      dpa.middleRows(u0, n).noalias() += dwa.middleRows(u0, n) * w_.bond_weights_ag;
    });
    auto dpb = nn::grow(gphi_bg_, Ub_, cfg_.num_radial);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      dpb.middleRows(k0, k1 - k0).noalias() = dwb.middleRows(k0, k1 - k0) * w_.bond_weights_bg;
    });
    auto dps = nn::grow(gpsi_, T_, cfg_.num_angular);
    angles_.run([&](int, Eigen::Index t0, Eigen::Index t1) {
      dps.middleRows(t0, t1 - t0).noalias() = dt.middleRows(t0, t1 - t0) * w_.angle_embedding;
    });
  }

  void atom_conv_backward(int k, const PeriodicGraph& g, const BondGraph& bg, CHGNetGradients<Scalar>* pg = nullptr) {
    const Eigen::Index A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.atom_conv[ks];
    auto& st = atom_conv_[ks];
    const auto& W = G.first_layer().weight;
    const Eigen::Index h2 = W.rows();
    auto da = da_.topRows(N_);
    // a_out = a_in + S W_out^T, S_c = Σ_{src(e)=c} Y_e ⊙ wa_u(e).
    if (pg) {
      auto& O = pg->w.atom_out[ks];
      w_.atom_out[ks].accumulate_parameter_gradients(st.s.topRows(N_), da, O.weight, O.bias);
    }
    auto dS = nn::grow(sum_a_, N_, A);
    w_.atom_out[ks].backward(da, dS);
    auto dPc = nn::grow(proj_c_, N_, h2);
    auto dPn = nn::grow(proj_n_, N_, h2);
    auto dQb = nn::grow(proj_b_, U_, h2);
    dPc.setZero();
    dPn.setZero();
    dQb.setZero();
    // Edge chunks end where the source changes: dPc has one writer per row; the destination,
    // bond and wa sums go into private partials of chunks ≥ 1.
    nn::zero_partials(part_atom_, edges_, N_, h2);
    nn::zero_partials(part_bond_, edges_, U_, h2);
    nn::zero_partials(part_wa_, edges_, U_, A);
    nn::GatedMLP<Scalar>* gG = pg ? &pg->w.atom_conv[ks] : nullptr;
    edges_.run([&](int ch, Eigen::Index, Eigen::Index) {
      const auto chs = static_cast<std::size_t>(ch);
      auto dPn_c = nn::partial_of(ch, dPn, part_atom_, N_);
      auto dQb_c = nn::partial_of(ch, dQb, part_bond_, U_);
      auto dwa_c = nn::partial_of(ch, dwa_.topRows(U_), part_wa_, U_);
      st.mlp[chs].backward(
          G, atom_conv_preactivation(st, g, bg),
          [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index e0, Eigen::Index n) {
            // Gated output Y = core ⊙ gate from the last layer's activations.
            const auto& Al = c.A[G.depth() - 1];
            auto dY = nn::grow(msg_[chs], n, A);
            for (Eigen::Index i = 0; i < n; ++i) {
              const auto es = static_cast<std::size_t>(e0 + i);
              if (i + detail::kPrefetchAhead < n) {
                const auto uf = bg.edge_bond[es + static_cast<std::size_t>(detail::kPrefetchAhead)];
                detail::prefetch_row(&wa_(uf, 0), A);
                detail::prefetch_row(&dwa_c(uf, 0), A);
              }
              const Eigen::Index u = bg.edge_bond[es];
              const Scalar* ds = &dS(g.src[es], 0);
              const Scalar* w = &wa_(u, 0);
              const Scalar* yc = Al.data() + i * Al.cols();
              const Scalar* yg = yc + A;
              Scalar* dw = &dwa_c(u, 0);
              Scalar* dy = &dY(i, 0);
              for (Eigen::Index j = 0; j < A; ++j) {
                dy[j] = ds[j] * w[j];
                dw[j] += ds[j] * yc[j] * yg[j];
              }
            }
            return nn::ConstMatRef<Scalar>(dY);
          },
          [&](const nn::ConstMatRef<Scalar>& dZ1, const nn::GatedMLPCache<Scalar>&, Eigen::Index e0, Eigen::Index) {
            scatter_add_rows(dPc, g.src.data() + e0, dZ1);
            scatter_add_rows(dPn_c, g.dst.data() + e0, dZ1);
            scatter_add_rows(dQb_c, bg.edge_bond.data() + e0, dZ1);
            if (gG && G.first_layer().has_bias()) gG->mutable_first_layer().bias += dZ1.colwise().sum();
          },
          scratch_[chs], gG);
    });
    nn::add_partials(dPn, part_atom_, edges_, atoms_);
    nn::add_partials(dQb, part_bond_, edges_, bonds_);
    nn::add_partials(dwa_.topRows(U_), part_wa_, edges_, bonds_);
    if (gG) {
      // First layer split as in the forward: Z1 = a_c W_cᵀ + b_u W_bᵀ + a_n W_nᵀ + bias.
      auto& gW = gG->mutable_first_layer().weight;
      const auto ain = a_in_[ks].topRows(N_);
      gW.leftCols(A).noalias() += dPc.transpose() * ain;
      gW.rightCols(A).noalias() += dPn.transpose() * ain;
      gW.middleCols(A, B).noalias() += dQb.transpose() * b_in_[ks].topRows(U_);
    }
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      const Eigen::Index n = i1 - i0;
      da.middleRows(i0, n).noalias() += dPc.middleRows(i0, n) * W.leftCols(A);
      da.middleRows(i0, n).noalias() += dPn.middleRows(i0, n) * W.rightCols(A);
    });
    bonds_.run([&](int, Eigen::Index u0, Eigen::Index u1) {
      db_.middleRows(u0, u1 - u0).noalias() += dQb.middleRows(u0, u1 - u0) * W.middleCols(A, B);
    });
  }

  /// `dz` of a bond-graph MLP's blocked reverse pass in angle chunk `ch`: the block's dZ1 to dt
  /// (in place), to dQ1, dQ2 (proj_q1_, proj_q2_ or the chunk's partials), dPa (proj_c_: angle
  /// chunks end where the centre changes) — all zeroed by angle_backward_begin — and, in
  /// training, to the first layer's angle-part weight and bias gradients (input t_in_[k]).
  auto angle_dz(const nn::GatedMLP<Scalar>& G, const BondGraph& bg, nn::GatedMLP<Scalar>* gG, int k, int ch) {
    return [this, &G, &bg, gG, k, ch](const nn::ConstMatRef<Scalar>& dZ1, const nn::GatedMLPCache<Scalar>&,
                                      Eigen::Index t0, Eigen::Index n) {
      const Eigen::Index B = cfg_.bond_fea_dim, Gd = cfg_.angle_fea_dim;
      dt_.middleRows(t0, n).noalias() += dZ1 * G.first_layer().weight.middleCols(2 * B, Gd);
      scatter_add_rows(nn::partial_of(ch, proj_q1_.topRows(Ub_), part_q1_, Ub_), bg.angle_node1.data() + t0, dZ1);
      scatter_add_rows(nn::partial_of(ch, proj_q2_.topRows(Ub_), part_q2_, Ub_), bg.angle_node2.data() + t0, dZ1);
      scatter_add_rows(proj_c_, bg.angle_center.data() + t0, dZ1);
      if (gG) {
        auto& F = gG->mutable_first_layer();
        F.weight.middleCols(2 * B, Gd).noalias() +=
            dZ1.transpose() * t_in_[static_cast<std::size_t>(k)].middleRows(t0, n);
        if (F.has_bias()) F.bias += dZ1.colwise().sum();
      }
    };
  }

  /// `pre` of the bond-graph MLPs' reverse pass. They run with recompute = false, so it is never
  /// called; the forward's `pre` could not stand in: by then proj_q1_, proj_q2_, proj_c_ hold
  /// gradients and the angle update has overwritten its input t.
  static auto kept_not_recomputed() {
    return [](auto&, Eigen::Index, Eigen::Index) {
      throw std::logic_error("CHGNet: bond-graph MLP activations are kept, not recomputed");
    };
  }

  void angle_backward_begin(const nn::GatedMLP<Scalar>& G) {
    const Eigen::Index h2 = G.first_layer().weight.rows();
    nn::grow(proj_q1_, Ub_, h2).setZero();
    nn::grow(proj_q2_, Ub_, h2).setZero();
    nn::grow(proj_c_, N_, h2).setZero();
    nn::zero_partials(part_q1_, angles_, Ub_, h2);
    nn::zero_partials(part_q2_, angles_, Ub_, h2);
  }

  /// After all blocks: dQ1, dQ2 to db (bond-graph nodes), dPa to da; in training, the node
  /// parts of the first layer's weight gradient. Inputs: bonds b_in_[kb] (kb = k for the bond
  /// conv, k + 1 for the angle update, which sees the updated bonds), atoms a_in_[k + 1].
  void angle_backward_end(const nn::GatedMLP<Scalar>& G, const BondGraph& bg, nn::GatedMLP<Scalar>* gG, int k, int kb) {
    const Eigen::Index A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    const auto& W = G.first_layer().weight;
    nn::add_partials(proj_q1_.topRows(Ub_), part_q1_, angles_, nodes_);
    nn::add_partials(proj_q2_.topRows(Ub_), part_q2_, angles_, nodes_);
    const auto dQ1 = proj_q1_.topRows(Ub_);
    const auto dQ2 = proj_q2_.topRows(Ub_);
    const auto dPa = proj_c_.topRows(N_);
    if (gG) {
      const auto& bin = b_in_[static_cast<std::size_t>(kb)];
      Mat Bn(Ub_, B);
      for (Eigen::Index n = 0; n < Ub_; ++n) Bn.row(n) = bin.row(bg.node_bond[static_cast<std::size_t>(n)]);
      auto& gW = gG->mutable_first_layer().weight;
      gW.leftCols(B).noalias() += dQ1.transpose() * Bn;
      gW.middleCols(B, B).noalias() += dQ2.transpose() * Bn;
      gW.rightCols(A).noalias() += dPa.transpose() * a_in_[static_cast<std::size_t>(k + 1)].topRows(N_);
    }
    auto dBn = nn::grow(tmp_b_, Ub_, B);
    nodes_.run([&](int, Eigen::Index k0, Eigen::Index k1) {
      const Eigen::Index n = k1 - k0;
      dBn.middleRows(k0, n).noalias() = dQ1.middleRows(k0, n) * W.leftCols(B);
      dBn.middleRows(k0, n).noalias() += dQ2.middleRows(k0, n) * W.middleCols(B, B);
      for (Eigen::Index r = k0; r < k1; ++r) db_.row(bg.node_bond[static_cast<std::size_t>(r)]) += dBn.row(r);
    });
    atoms_.run([&](int, Eigen::Index i0, Eigen::Index i1) {
      da_.middleRows(i0, i1 - i0).noalias() += dPa.middleRows(i0, i1 - i0) * W.rightCols(A);
    });
  }

  void angle_update_backward(int k, const BondGraph& bg, CHGNetGradients<Scalar>* pg = nullptr) {
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.angle_update[ks];
    nn::GatedMLP<Scalar>* gG = pg ? &pg->w.angle_update[ks] : nullptr;
    angle_backward_begin(G);
    // t_out = t_in + Y: dY = dt_out, read by the block's reverse pass before its dz adds to dt.
    angles_.run([&](int ch, Eigen::Index, Eigen::Index) {
      const auto chs = static_cast<std::size_t>(ch);
      angle_update_[ks].mlp[chs].backward(
          G, kept_not_recomputed(),
          [&](const nn::GatedMLPCache<Scalar>&, Eigen::Index t0, Eigen::Index n) {
            return nn::ConstMatRef<Scalar>(dt_.middleRows(t0, n));
          },
          angle_dz(G, bg, gG, k, ch), scratch_[chs], gG);
    });
    angle_backward_end(G, bg, gG, k, k + 1);
  }

  void bond_conv_backward(int k, const BondGraph& bg, CHGNetGradients<Scalar>* pg = nullptr) {
    const Eigen::Index B = cfg_.bond_fea_dim;
    const auto ks = static_cast<std::size_t>(k);
    const auto& G = w_.bond_conv[ks];
    // b_out[node n] = b_in + (S W_out^T)[n], S_n = Σ_{node1(τ)=n} Y_τ ⊙ wb_n1 ⊙ wb_n2.
    auto dBo = nn::grow(bnode_, Ub_, B);
    for (Eigen::Index n = 0; n < Ub_; ++n) dBo.row(n) = db_.row(bg.node_bond[static_cast<std::size_t>(n)]);
    if (pg) {
      auto& O = pg->w.bond_out[ks];
      O.weight.noalias() += dBo.transpose() * bond_conv_[ks].s.topRows(Ub_);
      if (O.has_bias()) O.bias += db_.topRows(U_).colwise().sum();  // the bias is added to every bond
    }
    auto dS = nn::grow(sum_b_, Ub_, B);
    w_.bond_out[ks].backward(dBo, dS);
    nn::GatedMLP<Scalar>* gG = pg ? &pg->w.bond_conv[ks] : nullptr;
    angle_backward_begin(G);
    nn::zero_partials(part_wb_, angles_, Ub_, B);
    angles_.run([&](int ch, Eigen::Index, Eigen::Index) {
      const auto chs = static_cast<std::size_t>(ch);
      auto dwb_c = nn::partial_of(ch, dwb_.topRows(Ub_), part_wb_, Ub_);  // a node's angles lie in two chunks
      bond_conv_[ks].mlp[chs].backward(
          G, kept_not_recomputed(),
          [&](const nn::GatedMLPCache<Scalar>& c, Eigen::Index t0, Eigen::Index n) {
            const auto& Al = c.A[G.depth() - 1];
            auto dY = nn::grow(msg_[chs], n, B);
            for (Eigen::Index i = 0; i < n; ++i) {
              const auto ts = static_cast<std::size_t>(t0 + i);
              const Eigen::Index n1 = bg.angle_node1[ts], n2 = bg.angle_node2[ts];
              const Scalar* ds = &dS(n1, 0);
              const Scalar* w1 = &wb_(n1, 0);
              const Scalar* w2 = &wb_(n2, 0);
              const Scalar* yc = Al.data() + i * Al.cols();
              const Scalar* yg = yc + B;
              Scalar* dw1 = &dwb_c(n1, 0);
              Scalar* dw2 = &dwb_c(n2, 0);
              Scalar* dy = &dY(i, 0);
              for (Eigen::Index j = 0; j < B; ++j) {
                const Scalar y = yc[j] * yg[j];
                dy[j] = ds[j] * w1[j] * w2[j];
                dw1[j] += ds[j] * y * w2[j];
                dw2[j] += ds[j] * y * w1[j];
              }
            }
            return nn::ConstMatRef<Scalar>(dY);
          },
          angle_dz(G, bg, gG, k, ch), scratch_[chs], gG);
    });
    nn::add_partials(dwb_.topRows(Ub_), part_wb_, angles_, nodes_);
    angle_backward_end(G, bg, gG, k, k);
  }

  void forces_and_virial(const PeriodicGraph& g, const BondGraph& bg, CHGNetOutput& out) {
    auto Gv = nn::grow(gvec_, E_, 3);
    Gv.setZero();
    const int R = cfg_.num_radial, K = cfg_.num_angular;
    // Radial: bond lengths (representative edges: one bond per row of Gv).
    bonds_.run([&](int, Eigen::Index u_begin, Eigen::Index u_end) {
      for (Eigen::Index u = u_begin; u < u_end; ++u) {
        const auto us = static_cast<std::size_t>(u);
        const Eigen::Index e = bg.bond_edge[us];
        Scalar dr(0);
        for (int k = 0; k < R; ++k) dr += gphi_ag_(u, k) * dphi_ag_(u, k);
        const int n = bg.bond_node[us];
        if (n >= 0)
          for (int k = 0; k < R; ++k) dr += gphi_bg_(n, k) * dphi_bg_(n, k);
        const Scalar f = dr / len_[static_cast<std::size_t>(e)];
        for (int c = 0; c < 3; ++c) Gv(e, c) += f * rvec_(e, c);
      }
    });
    // Angular: θ = acos((û1·û2)(1 − 1e-6)). Both edges of an angle leave its centre, and angle
    // chunks end where the centre changes: one writer per row of Gv, in the serial order.
    using math::sqrt;
    const Scalar shrink = Scalar(1) - Scalar(1e-6);
    angles_.run([&](int, Eigen::Index t_begin, Eigen::Index t_end) {
      for (Eigen::Index t = t_begin; t < t_end; ++t) {
        const auto ts = static_cast<std::size_t>(t);
        Scalar dth(0);
        for (int k = 0; k < K; ++k) dth += gpsi_(t, k) * dpsi_(t, k);
        const Scalar c = cos_[ts], cs = c * shrink;
        const Scalar dc = -dth * shrink / sqrt(Scalar(1) - cs * cs);
        const Eigen::Index e1 = bg.angle_edge1[ts], e2 = bg.angle_edge2[ts];
        const Scalar l1 = len_[static_cast<std::size_t>(e1)], l2 = len_[static_cast<std::size_t>(e2)];
        for (int k = 0; k < 3; ++k) {
          const Scalar u1 = rvec_(e1, k) / l1, u2 = rvec_(e2, k) / l2;
          Gv(e1, k) += dc * (u2 - c * u1) / l1;
          Gv(e2, k) += dc * (u1 - c * u2) / l2;
        }
      }
    });
    edge_gradients_to_forces(g, Gv, rvec_, static_cast<std::size_t>(N_), out.forces, out.virial);
  }

  // --- training helpers (used only with keep_inputs_ / a gradient holder) --------------------

  /// Before block k: a, b (all bonds) and t as they enter atom conv k.
  void keep_block_inputs(int k) {
    const auto ks = static_cast<std::size_t>(k);
    a_in_.resize(static_cast<std::size_t>(cfg_.n_conv));
    b_in_.resize(a_in_.size());
    t_in_.resize(a_in_.size());
    nn::grow(a_in_[ks], N_, cfg_.atom_fea_dim) = a_.topRows(N_);
    nn::grow(b_in_[ks], U_, cfg_.bond_fea_dim) = b_.topRows(U_);
    nn::grow(t_in_[ks], T_, cfg_.angle_fea_dim) = t_.topRows(T_);
  }

  void readout_gradients(const nn::ConstMatRef<Scalar>& deps, const nn::ConstMatRef<Scalar>& da, CHGNetGradients<Scalar>& pg) {
    const auto& R = w_.readout;
    const std::size_t L = R.depth();
    for (std::size_t l = 0; l < L; ++l) {
      auto& gl = pg.w.readout.mutable_layer(l);
      const nn::ConstMatRef<Scalar> X = l == 0 ? nn::ConstMatRef<Scalar>(a_read_.topRows(N_))
                                               : nn::ConstMatRef<Scalar>(readout_cache_.A[l - 1].topRows(N_));
      const nn::ConstMatRef<Scalar> dZ = l + 1 == L ? deps : nn::ConstMatRef<Scalar>(readout_cache_.dA[l].topRows(N_));
      R.layer(l).accumulate_parameter_gradients(X, dZ, gl.weight, gl.bias);
    }
    if (!w_.readout_norm.empty())
      w_.readout_norm.accumulate_parameter_gradients(da, read_norm_.xhat.topRows(N_), pg.w.readout_norm);
  }

  /// Embeddings and basis frequencies, from the gradients backward() left in da_, db_, dt_,
  /// dwa_, dwb_, gphi_ag_, gphi_bg_, gpsi_.
  void embedding_gradients(const BondGraph& bg, CHGNetGradients<Scalar>& pg) {
    using math::cos;
    using math::sin;
    using math::acos;
    for (Eigen::Index i = 0; i < N_; ++i) pg.w.atom_embedding.row(z_[static_cast<std::size_t>(i)] - 1) += da_.row(i);
    pg.w.bond_embedding.noalias() += db_.topRows(U_).transpose() * phi_ag_.topRows(U_);
    pg.w.bond_weights_ag.noalias() += dwa_.topRows(U_).transpose() * phi_ag_.topRows(U_);
    pg.w.bond_weights_bg.noalias() += dwb_.topRows(Ub_).transpose() * phi_bg_.topRows(Ub_);
    pg.w.angle_embedding.noalias() += dt_.topRows(T_).transpose() * psi_.topRows(T_);
    // φ_k = c sin(ω_k r/rc) E(r/rc) / r  =>  ∂φ_k/∂ω_k = c cos(ω_k r/rc) E(r/rc) / rc.
    auto freq = [&](const SineBesselBasis<Scalar>& basis, const Mat& gphi, Eigen::Index rows, bool bond_graph,
                    std::vector<Scalar>& out) {
      const int R = basis.size();
      const Scalar inv_rc = Scalar(1) / basis.cutoff;
      for (Eigen::Index u = 0; u < rows; ++u) {
        const auto us = static_cast<std::size_t>(u);
        const auto bond = bond_graph ? static_cast<std::size_t>(bg.node_bond[us]) : us;
        const Scalar s = len_[static_cast<std::size_t>(bg.bond_edge[bond])] * inv_rc;
        const Scalar c = basis.prefactor * gemnet_envelope(s, basis.envelope_exponent) * inv_rc;
        for (int k = 0; k < R; ++k)
          out[static_cast<std::size_t>(k)] += gphi(u, k) * c * cos(basis.frequency[static_cast<std::size_t>(k)] * s);
      }
    };
    freq(rbf_ag_, gphi_ag_, U_, false, pg.rbf_ag_freq);
    freq(rbf_bg_, gphi_bg_, Ub_, true, pg.rbf_bg_freq);
    // ψ_{1+m} = sin(ν_m θ)/√π, ψ_{1+M+m} = cos(ν_m θ)/√π with θ = acos(c (1 − 1e-6)).
    const int M = fourier_.order();
    const Scalar inv_sqrt_pi = Scalar(0.56418958354775628694807945156077259);
    const Scalar shrink = Scalar(1) - Scalar(1e-6);
    for (Eigen::Index t = 0; t < T_; ++t) {
      const Scalar th = acos(cos_[static_cast<std::size_t>(t)] * shrink);
      for (int m = 0; m < M; ++m) {
        const Scalar x = fourier_.frequency[static_cast<std::size_t>(m)] * th;
        pg.fourier_freq[static_cast<std::size_t>(m)] +=
            th * inv_sqrt_pi * (gpsi_(t, 1 + m) * cos(x) - gpsi_(t, 1 + M + m) * sin(x));
      }
    }
  }

  CHGNetConfig cfg_;
  CHGNetWeights<Scalar> w_;
  SineBesselBasis<Scalar> rbf_ag_, rbf_bg_;
  FourierBasis<Scalar> fourier_;
  Eigen::Index N_ = 0, E_ = 0, U_ = 0, Ub_ = 0, T_ = 0;

  Mat rvec_, phi_ag_, dphi_ag_, phi_bg_, dphi_bg_, psi_, dpsi_;
  std::vector<Scalar> len_, cos_;
  Mat a_, b_, t_, wa_, wb_, a_last_, mag_, a_read_, eps_;
  std::vector<AtomConvState> atom_conv_;
  std::vector<bool> recompute_;  // per atom convolution: activations recomputed in the reverse pass
  /// A bond-graph gated MLP (bond convolution or angle update) over blocks of angles; the bond
  /// convolution also keeps its message sum S in training (bond_out's input).
  struct AngleMLPState {
    std::vector<nn::BlockedGatedMLP<Scalar>> mlp;  // per angle chunk
    Mat s;
  };
  std::vector<AngleMLPState> bond_conv_, angle_update_;
  nn::LayerNormCache<Scalar> read_norm_;
  nn::MLPCache<Scalar> readout_cache_;
  std::vector<nn::GatedMLPScratch<Scalar>> scratch_;  // per edge / angle chunk
  std::vector<Mat> msg_;                              // per edge / angle chunk: a block's dY
  Mat proj_c_, proj_n_, proj_b_, proj_q1_, proj_q2_, bnode_, sum_a_, sum_b_, tmp_b_, tmp_deps_;
  Mat da_, db_, dt_, dwa_, dwb_, gphi_ag_, gphi_bg_, gpsi_, gvec_;
  // training only
  bool keep_inputs_ = false;
  GeometryTangent tangent_;  // Dual scalars only
  nn::RowChunks edges_, bonds_, nodes_, angles_, atoms_;  // one chunk per host thread
  // Private partial sums of chunks 1, 2, ... (nn::zero_partials): atoms and bonds from edge
  // chunks; bond-graph nodes (and their first-layer projections) from angle chunks.
  std::vector<Mat> part_atom_, part_bond_, part_wa_, part_node_, part_q1_, part_q2_, part_wb_;
  std::vector<Mat> a_in_, b_in_, t_in_;  // per conv block: inputs of atom conv k
  std::vector<int> z_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
