#pragma once
/// \file
/// \brief CHGNet as Kokkos kernels in any execution space, forward and reverse (energy, site
/// energies, magnetic moments, forces, virial), for one structure or a batch: CHGNet where the
/// System lives, on host threads or a GPU, from one source (the counterpart of M3GNetKernel).
///
/// It computes CHGNetEvaluator's numbers to rounding (its dense layers sum in another order than
/// the evaluator's GEMMs; tests/kernels checks both against CHGNet's own outputs). The steps are the
/// evaluator's (spec: shared/specs/chgnet.md §3–§7):
///
/// - geometry: bond vectors and lengths per directed edge; the sine-Bessel bases of every bond and
///   bond-graph node, the Fourier basis of every angle, with their derivatives when a reverse pass
///   follows (bessel_basis.hpp / fourier_basis.hpp: the same functions the evaluator calls, the
///   frequencies held by value so that the functors can be copied to a device);
/// - embeddings; n_conv atom convolutions, each but the last followed by a bond convolution and an
///   angle update (the last angle update is skipped, as CHGNet never uses it); LayerNorm + MLP
///   readout; magnetic moments from the atom features before the last convolution;
/// - every gated MLP from its split first layer (per-atom and per-bond projections gathered per edge
///   or angle, as the evaluator), nn::GatedMLPKernel with CHGNet's output LayerNorms;
/// - sums onto atoms, bonds and bond-graph nodes as segmented sums over CSR lists built on the host
///   (graph_kernels.hpp): one thread per row, members in order, no atomics, so results are bitwise
///   the same on every run and at any thread count;
/// - the reverse of all of it down to ∂E/∂r_e per edge (radial terms on each bond's representative
///   edge, angular terms on both edges of every angle, summed per edge in the evaluator's order),
///   then forces and per-structure virials (edge_gradients_to_forces).
///
/// The atom graph and the bond graph (bonds, bond-graph nodes, angles) are built on the host from
/// the float64 search distances (build_bond_graph) and passed in; a batch concatenates them with
/// renumbered indices, so every sum stays within its structure.

#include <nernst/core/error.hpp>
#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/dense_kernel.hpp>
#include <nernst/nn/gated_mlp_kernel.hpp>
#include <nernst/nn/layer_norm_kernel.hpp>
#include <nernst/nn/mlp_kernel.hpp>
#include <nernst/potential/graphnet/bessel_basis.hpp>
#include <nernst/potential/graphnet/bond_graph.hpp>
#include <nernst/potential/graphnet/chgnet_model.hpp>
#include <nernst/potential/graphnet/fourier_basis.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/graph_kernels.hpp>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

namespace detail {

/// A sine-Bessel basis (SineBesselBasis) held by value for device code.
template <class Scalar>
struct SineBesselValues {
  static constexpr int kMax = 64;
  Scalar cutoff{}, prefactor{};
  int exponent = 0, size = 0;
  Scalar frequency[kMax]{};

  SineBesselValues() = default;
  explicit SineBesselValues(const SineBesselBasis<Scalar>& b)
      : cutoff(b.cutoff), prefactor(b.prefactor), exponent(b.envelope_exponent), size(b.size()) {
    if (size > kMax)
      throw NotSupported("CHGNetKernel: " + std::to_string(size) + " radial functions (at most " +
                         std::to_string(kMax) + ")");
    for (int k = 0; k < size; ++k) frequency[k] = b.frequency[static_cast<std::size_t>(k)];
  }
  KOKKOS_INLINE_FUNCTION void operator()(const Scalar& r, Scalar* val, Scalar* deriv) const {
    sine_bessel_values(r, cutoff, prefactor, exponent, frequency, size, val, deriv);
  }
};

/// Bond vector r_e = x_dst + shift_e − x_src (summed in double, rounded to Scalar, as the
/// evaluator) and its length.
template <class Scalar, class MS>
struct BondVectorKernel {
  Kokkos::View<const double* [3], MS> x, shift;
  Kokkos::View<const int*, MS> src, dst;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec;
  Kokkos::View<Scalar*, MS> len;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    const int s = src(e), d = dst(e);
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      rvec(e, k) = Scalar(x(d, k) + shift(e, k) - x(s, k));
      r2 += rvec(e, k) * rvec(e, k);
    }
    len(e) = math::sqrt(r2);
  }
};

/// Radial basis of row r (a bond or a bond-graph node) at the length of its edge edge(r); with
/// `deriv` allocated, d/dr as well.
template <class Scalar, class MS>
struct RadialBasisKernel {
  Kokkos::View<const int*, MS> edge;
  Kokkos::View<Scalar*, MS> len;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> val, deriv;
  SineBesselValues<Scalar> basis;
  KOKKOS_INLINE_FUNCTION void operator()(const int r) const {
    basis(len(edge(r)), &val(r, 0), deriv.data() ? &deriv(r, 0) : nullptr);
  }
};

/// Angle τ between edges e1, e2 leaving its centre: cos θ = r1·r2 / (|r1||r2|), θ = acos(cos θ ·
/// (1 − 1e-6)) (CHGNet's clamp), the Fourier basis at θ and, with `deriv`, dψ/dθ.
template <class Scalar, class MS>
struct AngleBasisKernel {
  static constexpr int kMaxOrder = 32;
  Kokkos::View<const int*, MS> e1, e2;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, val, deriv;
  Kokkos::View<Scalar*, MS> len, cosine;
  Scalar frequency[kMaxOrder]{};
  int order = 0;
  KOKKOS_INLINE_FUNCTION void operator()(const int t) const {
    const int a = e1(t), b = e2(t);
    Scalar dot(0);
    for (int k = 0; k < 3; ++k) dot += rvec(a, k) * rvec(b, k);
    const Scalar c = dot / (len(a) * len(b));
    cosine(t) = c;
    const Scalar theta = math::acos(c * (Scalar(1) - Scalar(1e-6)));
    fourier_values(theta, frequency, order, &val(t, 0), deriv.data() ? &deriv(t, 0) : nullptr);
  }
};

/// Reverse of an angle's basis through θ and cos θ onto its two edge vectors: rows 2τ (edge e1) and
/// 2τ + 1 (edge e2) of `ga`, as CHGNetEvaluator::forces_and_virial.
template <class Scalar, class MS>
struct AngleGradientKernel {
  Kokkos::View<const int*, MS> e1, e2;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, gpsi, dpsi, ga;
  Kokkos::View<Scalar*, MS> len, cosine;
  KOKKOS_INLINE_FUNCTION void operator()(const int t) const {
    const Scalar shrink = Scalar(1) - Scalar(1e-6);
    Scalar dth(0);
    for (int k = 0; k < static_cast<int>(gpsi.extent(1)); ++k) dth += gpsi(t, k) * dpsi(t, k);
    const Scalar c = cosine(t), cs = c * shrink;
    const Scalar dc = -dth * shrink / math::sqrt(Scalar(1) - cs * cs);
    const int a = e1(t), b = e2(t);
    const Scalar l1 = len(a), l2 = len(b);
    for (int k = 0; k < 3; ++k) {
      const Scalar u1 = rvec(a, k) / l1, u2 = rvec(b, k) / l2;
      ga(2 * t, k) = dc * (u2 - c * u1) / l1;
      ga(2 * t + 1, k) = dc * (u1 - c * u2) / l2;
    }
  }
};

/// ∂E/∂r_e: on a bond's representative edge the radial terms (both bases of its length), then the
/// angular terms of the angles the edge belongs to (`ends`: rows 2τ / 2τ + 1 of ga, in order).
template <class Scalar, class MS>
struct CHGNetEdgeGradientKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> grad, rvec, gphi_ag, dphi_ag, gphi_bg, dphi_bg, ga;
  Kokkos::View<Scalar*, MS> len;
  Kokkos::View<const int*, MS> edge_bond, bond_edge, bond_node, offset, member;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    Scalar g[3] = {Scalar(0), Scalar(0), Scalar(0)};
    const int u = edge_bond(e);
    if (bond_edge(u) == e) {
      Scalar dr(0);
      for (int k = 0; k < static_cast<int>(gphi_ag.extent(1)); ++k) dr += gphi_ag(u, k) * dphi_ag(u, k);
      const int n = bond_node(u);
      if (n >= 0)
        for (int k = 0; k < static_cast<int>(gphi_bg.extent(1)); ++k) dr += gphi_bg(n, k) * dphi_bg(n, k);
      const Scalar f = dr / len(e);
      for (int c = 0; c < 3; ++c) g[c] += f * rvec(e, c);
    }
    for (int m = offset(e); m < offset(e + 1); ++m)
      for (int c = 0; c < 3; ++c) g[c] += ga(member(m), c);
    for (int c = 0; c < 3; ++c) grad(e, c) = g[c];
  }
};

}  // namespace detail

/// CHGNet energies, magnetic moments, forces and virial in ExecutionSpace (see the file comment).
template <class Scalar, class ExecutionSpace = Kokkos::DefaultExecutionSpace>
class CHGNetKernel {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using View1 = Kokkos::View<Scalar*, memory_space>;
  using IndexView = Kokkos::View<int*, memory_space>;
  using Dense = nn::DenseWeights<Scalar, memory_space>;
  using GatedMLP = nn::GatedMLPKernel<Scalar, ExecutionSpace>;

  CHGNetKernel() = default;
  explicit CHGNetKernel(const CHGNetModel& model) : cfg_(model.config), atom_ref_(model.weights.atom_ref) {
    const auto w = model.weights.template cast<Scalar>();
    const int A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim;
    rbf_ag_ = detail::SineBesselValues<Scalar>(
        SineBesselBasis<Scalar>(cfg_.atom_graph_cutoff, w.rbf_ag_freq, cfg_.cutoff_coeff));
    rbf_bg_ = detail::SineBesselValues<Scalar>(
        SineBesselBasis<Scalar>(cfg_.bond_graph_cutoff, w.rbf_bg_freq, cfg_.cutoff_coeff));
    if (static_cast<int>(w.fourier_freq.size()) > detail::AngleBasisKernel<Scalar, memory_space>::kMaxOrder)
      throw NotSupported("CHGNetKernel: Fourier basis of order " + std::to_string(w.fourier_freq.size()));
    fourier_ = w.fourier_freq;
    embedding_ = View2("nernst::CHGNetKernel::atom_embedding", w.atom_embedding.rows(), w.atom_embedding.cols());
    auto he = Kokkos::create_mirror_view(embedding_);
    for (int z = 0; z < static_cast<int>(w.atom_embedding.rows()); ++z)
      for (int j = 0; j < static_cast<int>(w.atom_embedding.cols()); ++j) he(z, j) = w.atom_embedding(z, j);
    Kokkos::deep_copy(embedding_, he);
    bond_embedding_ = Dense(nn::Linear<Scalar>(w.bond_embedding));
    bond_weights_ag_ = Dense(nn::Linear<Scalar>(w.bond_weights_ag));
    bond_weights_bg_ = Dense(nn::Linear<Scalar>(w.bond_weights_bg));
    angle_embedding_ = Dense(nn::Linear<Scalar>(w.angle_embedding));
    for (std::size_t k = 0; k < w.atom_conv.size(); ++k) {
      atom_conv_.emplace_back(w.atom_conv[k]);
      atom_first_.push_back(split_atom_layer(w.atom_conv[k], A, B));
      atom_out_.emplace_back(w.atom_out[k]);
    }
    for (std::size_t k = 0; k < w.bond_conv.size(); ++k) {
      bond_conv_.emplace_back(w.bond_conv[k]);
      bond_first_.push_back(split_angle_layer(w.bond_conv[k], A, B, cfg_.angle_fea_dim));
      bond_out_.emplace_back(w.bond_out[k]);
    }
    for (std::size_t k = 0; k < w.angle_update.size(); ++k) {
      angle_update_.emplace_back(w.angle_update[k]);
      angle_first_.push_back(split_angle_layer(w.angle_update[k], A, B, cfg_.angle_fea_dim));
    }
    site_wise_ = Dense(w.site_wise);
    if (!w.readout_norm.empty()) readout_norm_ = nn::LayerNormKernel<Scalar, ExecutionSpace>(w.readout_norm);
    readout_ = nn::MLPKernel<Scalar, ExecutionSpace>(w.readout);
  }

  const CHGNetConfig& config() const { return cfg_; }

  /// One structure of a batch, as evaluate() takes it (referenced, not copied): Cartesian positions
  /// (Å), lattice rows, atomic numbers (1..94), its atom graph and bond graph.
  struct Structure {
    const std::vector<std::array<double, 3>>& x;
    const Eigen::Matrix3d& L;
    const std::vector<int>& Z;
    const PeriodicGraph& g;
    const BondGraph& bg;
  };

  /// Evaluates on the graph `g` with bond graph `bg`: energy, site energies and magnetic moments,
  /// and with `gradients` the forces and the virial as well (CHGNetEvaluator::evaluate's output).
  void evaluate(const ExecutionSpace& space, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L,
                const std::vector<int>& Z, const PeriodicGraph& g, const BondGraph& bg, const bool gradients,
                CHGNetOutput& out) {
    const Structure one{x, L, Z, g, bg};
    evaluate_batch(space, &one, &one + 1, gradients, &out);
  }

  /// Evaluates the structures [first, last) together as one block-diagonal graph; out[k] receives
  /// structure k's results. On a device each structure's result is bitwise what evaluate() gives for
  /// it alone; on host threads it agrees to rounding (GEMM tiles then span structures).
  void evaluate_batch(const ExecutionSpace& space, const Structure* first, const Structure* last, const bool gradients,
                      CHGNetOutput* out) {
    upload(first, last, gradients);
    geometry(space, gradients);
    forward(space);
    site_results(first, last, out);
    if (!gradients) return;
    reverse(space);
    forces_and_virial(space, out);
  }

 private:
  /// An atom convolution's first layer ([2H, 2A + B]: centre | bond | neighbour) split by input
  /// block: Z1 = a_c W_cᵀ + b + b_u W_bᵀ + a_n W_nᵀ.
  struct AtomFirstLayer {
    Dense centre, bond, neighbour;
  };
  /// A bond-graph MLP's first layer ([2H, 2B + G + A]: bond 1 | bond 2 | angle | centre atom).
  struct AngleFirstLayer {
    Dense bond1, bond2, angle, centre;
  };
  static AtomFirstLayer split_atom_layer(const nn::GatedMLP<Scalar>& G, const int A, const int B) {
    using M = nn::RowMatrix<Scalar>;
    const auto& F = G.first_layer();
    return {Dense(nn::Linear<Scalar>(M(F.weight.leftCols(A)), F.bias)),
            Dense(nn::Linear<Scalar>(M(F.weight.middleCols(A, B)))),
            Dense(nn::Linear<Scalar>(M(F.weight.rightCols(A))))};
  }
  static AngleFirstLayer split_angle_layer(const nn::GatedMLP<Scalar>& G, const int A, const int B, const int Gd) {
    using M = nn::RowMatrix<Scalar>;
    const auto& F = G.first_layer();
    return {Dense(nn::Linear<Scalar>(M(F.weight.leftCols(B)), F.bias)),
            Dense(nn::Linear<Scalar>(M(F.weight.middleCols(B, B)))),
            Dense(nn::Linear<Scalar>(M(F.weight.middleCols(2 * B, Gd)))),
            Dense(nn::Linear<Scalar>(M(F.weight.rightCols(A))))};
  }

  // --- inputs ------------------------------------------------------------------------------
  /// Offsets of structure k's atoms, edges, bonds, bond-graph nodes and angles in the batch.
  struct Offsets {
    std::vector<int> atom{0}, edge{0}, bond{0}, node{0}, angle{0};
  };

  /// The batch as one graph on the device: atoms, edges, bonds, nodes and angles concatenated in
  /// batch order with their indices renumbered; each edge's lattice shift with its own cell.
  void upload(const Structure* first, const Structure* last, const bool gradients) {
    Work& w = *work_;
    w.off = Offsets{};
    for (const Structure* s = first; s != last; ++s) check_structure(*s, static_cast<int>(s - first));
    for (const Structure* s = first; s != last; ++s) {
      w.off.atom.push_back(w.off.atom.back() + static_cast<int>(s->x.size()));
      w.off.edge.push_back(w.off.edge.back() + static_cast<int>(s->g.size()));
      w.off.bond.push_back(w.off.bond.back() + static_cast<int>(s->bg.bonds()));
      w.off.node.push_back(w.off.node.back() + static_cast<int>(s->bg.nodes()));
      w.off.angle.push_back(w.off.angle.back() + static_cast<int>(s->bg.angles()));
    }
    N_ = w.off.atom.back();
    E_ = w.off.edge.back();
    U_ = w.off.bond.back();
    Ub_ = w.off.node.back();
    T_ = w.off.angle.back();
    Host& h = w.host;
    h.clear();
    w.x = Kokkos::View<double* [3], memory_space>("nernst::CHGNetKernel::x", N_);
    w.shift = Kokkos::View<double* [3], memory_space>("nernst::CHGNetKernel::shift", E_);
    auto hx = Kokkos::create_mirror_view(w.x);
    auto hs = Kokkos::create_mirror_view(w.shift);
    for (const Structure* s = first; s != last; ++s) {
      const auto k = static_cast<std::size_t>(s - first);
      const int a0 = w.off.atom[k], e0 = w.off.edge[k], u0 = w.off.bond[k], n0 = w.off.node[k];
      for (std::size_t i = 0; i < s->x.size(); ++i) {
        for (int c = 0; c < 3; ++c) hx(static_cast<std::size_t>(a0) + i, c) = s->x[i][static_cast<std::size_t>(c)];
        h.type.push_back(s->Z[i] - 1);
      }
      const PeriodicGraph& g = s->g;
      for (std::size_t e = 0; e < g.size(); ++e) {
        h.src.push_back(g.src[e] + a0);
        h.dst.push_back(g.dst[e] + a0);
        h.edge_bond.push_back(s->bg.edge_bond[e] + u0);
        const auto& n = g.image[e];
        for (int c = 0; c < 3; ++c)
          hs(static_cast<std::size_t>(e0) + e, c) = n[0] * s->L(0, c) + n[1] * s->L(1, c) + n[2] * s->L(2, c);
      }
      const BondGraph& bg = s->bg;
      for (std::size_t u = 0; u < bg.bonds(); ++u) {
        h.bond_edge.push_back(bg.bond_edge[u] + e0);
        h.bond_node.push_back(bg.bond_node[u] < 0 ? -1 : bg.bond_node[u] + n0);
      }
      for (std::size_t n = 0; n < bg.nodes(); ++n) {
        h.node_bond.push_back(bg.node_bond[n] + u0);
        h.node_edge.push_back(bg.bond_edge[static_cast<std::size_t>(bg.node_bond[n])] + e0);
      }
      for (std::size_t t = 0; t < bg.angles(); ++t) {
        h.center.push_back(bg.angle_center[t] + a0);
        h.edge1.push_back(bg.angle_edge1[t] + e0);
        h.edge2.push_back(bg.angle_edge2[t] + e0);
        h.node1.push_back(bg.angle_node1[t] + n0);
        h.node2.push_back(bg.angle_node2[t] + n0);
      }
    }
    Kokkos::deep_copy(w.x, hx);
    Kokkos::deep_copy(w.shift, hs);
    w.type = to_device<memory_space>(h.type, "type");
    w.src = to_device<memory_space>(h.src, "src");
    w.dst = to_device<memory_space>(h.dst, "dst");
    w.edge_bond = to_device<memory_space>(h.edge_bond, "edge_bond");
    w.bond_edge = to_device<memory_space>(h.bond_edge, "bond_edge");
    w.bond_node = to_device<memory_space>(h.bond_node, "bond_node");
    w.node_bond = to_device<memory_space>(h.node_bond, "node_bond");
    w.node_edge = to_device<memory_space>(h.node_edge, "node_edge");
    w.center = to_device<memory_space>(h.center, "angle_center");
    w.edge1 = to_device<memory_space>(h.edge1, "angle_edge1");
    w.edge2 = to_device<memory_space>(h.edge2, "angle_edge2");
    w.node1 = to_device<memory_space>(h.node1, "angle_node1");
    w.node2 = to_device<memory_space>(h.node2, "angle_node2");
    w.by_src = Segments<memory_space>(h.src, static_cast<std::size_t>(N_));
    w.by_node1 = Segments<memory_space>(h.node1, static_cast<std::size_t>(Ub_));
    if (!gradients) return;
    w.by_dst = Segments<memory_space>(h.dst, static_cast<std::size_t>(N_));
    w.by_bond = Segments<memory_space>(h.edge_bond, static_cast<std::size_t>(U_));
    w.by_node2 = Segments<memory_space>(h.node2, static_cast<std::size_t>(Ub_));
    w.by_center = Segments<memory_space>(h.center, static_cast<std::size_t>(N_));
    std::vector<int> ends(2 * h.edge1.size());  // row 2τ of the angular gradients: edge1's, 2τ + 1: edge2's
    for (std::size_t t = 0; t < h.edge1.size(); ++t) {
      ends[2 * t] = h.edge1[t];
      ends[2 * t + 1] = h.edge2[t];
    }
    w.angle_ends = Segments<memory_space>(ends, static_cast<std::size_t>(E_));
    w.incident = IncidentEdges<memory_space>(h.src, h.dst, static_cast<std::size_t>(N_));
  }

  static void check_structure(const Structure& s, const int k) {
    const std::string where = "CHGNetKernel: structure " + std::to_string(k) + ": ";
    if (s.Z.size() != s.x.size())
      throw ValueError(where + std::to_string(s.Z.size()) + " atomic numbers for " + std::to_string(s.x.size()) +
                       " positions");
    for (std::size_t i = 0; i < s.Z.size(); ++i)
      if (s.Z[i] < 1 || s.Z[i] > 94)
        throw ValueError(where + "atom " + std::to_string(i) + " has Z = " + std::to_string(s.Z[i]) +
                         " (only 1..94 are supported)");
    if (s.bg.edge_bond.size() != s.g.size())
      throw ValueError(where + "the bond graph was built for " + std::to_string(s.bg.edge_bond.size()) +
                       " edges, the graph has " + std::to_string(s.g.size()));
  }

  void geometry(const ExecutionSpace& space, const bool gradients) {
    Work& w = *work_;
    using MS = memory_space;
    Kokkos::parallel_for("nernst::CHGNetKernel::bond_vectors", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_),
                         detail::BondVectorKernel<Scalar, MS>{w.x, w.shift, w.src, w.dst, sized(w.rvec, "rvec", E_, 3),
                                                              sized(w.len, "len", E_)});
    const int R = cfg_.num_radial, K = cfg_.num_angular;
    Kokkos::parallel_for("nernst::CHGNetKernel::bond_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, U_),
                         detail::RadialBasisKernel<Scalar, MS>{w.bond_edge, w.len, sized(w.phi_ag, "phi_ag", U_, R),
                                                               gradients ? sized(w.dphi_ag, "dphi_ag", U_, R) : View2(),
                                                               rbf_ag_});
    Kokkos::parallel_for("nernst::CHGNetKernel::node_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, Ub_),
                         detail::RadialBasisKernel<Scalar, MS>{w.node_edge, w.len, sized(w.phi_bg, "phi_bg", Ub_, R),
                                                               gradients ? sized(w.dphi_bg, "dphi_bg", Ub_, R) : View2(),
                                                               rbf_bg_});
    detail::AngleBasisKernel<Scalar, MS> angles{w.edge1, w.edge2, w.rvec, sized(w.psi, "psi", T_, K),
                                                gradients ? sized(w.dpsi, "dpsi", T_, K) : View2(), w.len,
                                                sized(w.cosine, "cosine", T_)};
    angles.order = static_cast<int>(fourier_.size());
    for (int m = 0; m < angles.order; ++m) angles.frequency[m] = Scalar(fourier_[static_cast<std::size_t>(m)]);
    Kokkos::parallel_for("nernst::CHGNetKernel::angle_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_), angles);
  }

  // --- forward -----------------------------------------------------------------------------
  void forward(const ExecutionSpace& space) {
    Work& w = *work_;
    const int A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim, Gd = cfg_.angle_fea_dim, nc = cfg_.n_conv;
    Kokkos::parallel_for("nernst::CHGNetKernel::atom_embedding", matrix_policy(space, N_, A),
                         detail::EmbeddingKernel<Scalar, memory_space>{sized(w.a, "a", N_, A), embedding_, w.type});
    nn::dense_forward(space, w.phi_ag, bond_embedding_, sized(w.b, "b", U_, B), View2());
    nn::dense_forward(space, w.phi_ag, bond_weights_ag_, sized(w.wa, "wa", U_, A), View2());
    nn::dense_forward(space, w.phi_bg, bond_weights_bg_, sized(w.wb, "wb", Ub_, B), View2());
    nn::dense_forward(space, w.psi, angle_embedding_, sized(w.t, "t", T_, Gd), View2());
    w.y_atom.resize(static_cast<std::size_t>(nc));
    w.y_bond.resize(static_cast<std::size_t>(nc));
    for (int k = 0; k < nc; ++k) {
      const auto ks = static_cast<std::size_t>(k);
      if (k == nc - 1) nn::dense_forward(space, w.a, site_wise_, sized(w.mag, "mag", N_, 1), View2());
      atom_conv_forward(space, ks);
      if (k == nc - 1 || T_ == 0) continue;
      if (cfg_.update_bond) bond_conv_forward(space, ks);
      if (cfg_.update_angle && k != nc - 2) {
        const View2& y = sized(w.msg_t, "angle_update", T_, Gd);
        angle_mlp_forward(space, angle_update_[ks], angle_first_[ks], y);
        product(space, w.t, y, View2(), true);  // t ← t + Y
      }
    }
    // Readout: ε = MLP(LN(a)).
    const View2& at = sized(w.a_read, "a_read", N_, A);
    Kokkos::deep_copy(space, at, w.a);
    if (!readout_norm_.empty()) readout_norm_.forward(space, at);
    readout_.forward(space, at, sized(w.eps, "eps", N_, 1));
  }

  /// a += (Σ_{src(e)=c} G([a_c, b_u, a_n])_e ⊙ wa_u(e)) W_outᵀ + b_out.
  void atom_conv_forward(const ExecutionSpace& space, const std::size_t k) {
    Work& w = *work_;
    const int A = cfg_.atom_fea_dim;
    const AtomFirstLayer& F = atom_first_[k];
    const int h2 = F.centre.out_features();
    nn::dense_forward(space, w.a, F.centre, sized(w.pc, "pc", N_, h2), View2());
    nn::dense_forward(space, w.a, F.neighbour, sized(w.pn, "pn", N_, h2), View2());
    nn::dense_forward(space, w.b, F.bond, sized(w.qb, "qb", U_, h2), View2());
    const auto z1 = atom_conv_[k].first_preactivation(E_);
    gather_sum3(space, z1, w.pc, w.src, w.qb, w.edge_bond, w.pn, w.dst);
    const View2& y = sized(w.y_atom[k], "y_atom", E_, A);
    atom_conv_[k].forward_tail(space, y);
    const View2& msg = sized(w.msg_e, "msg_e", E_, A);
    gather_product(space, msg, y, IndexView(), w.wa, w.edge_bond, View2(), IndexView());
    const View2& S = sized(w.sum_a, "sum_a", N_, A);
    zero(space, S);
    segment_sum(space, S, w.by_src, msg);
    nn::dense_forward(space, S, atom_out_[k], w.a, View2(), nn::Activation::identity, /*accumulate=*/true);
    add_bias(space, w.a, atom_out_[k]);
  }

  /// Y = G([b_n1, b_n2, t, a_c]) over the angles, from the split first layer: per-node and per-atom
  /// projections gathered per angle, plus t W_tᵀ.
  void angle_mlp_forward(const ExecutionSpace& space, GatedMLP& mlp, const AngleFirstLayer& F, const View2& y) {
    Work& w = *work_;
    const int B = cfg_.bond_fea_dim, h2 = F.bond1.out_features();
    const View2& bn = sized(w.bn, "bn", Ub_, B);
    Kokkos::parallel_for("nernst::CHGNetKernel::node_bonds", matrix_policy(space, Ub_, B),
                         detail::GatherRowsKernel<Scalar, memory_space>{bn, w.b, w.node_bond});
    nn::dense_forward(space, bn, F.bond1, sized(w.q1, "q1", Ub_, h2), View2());
    nn::dense_forward(space, bn, F.bond2, sized(w.q2, "q2", Ub_, h2), View2());
    nn::dense_forward(space, w.a, F.centre, sized(w.pa, "pa", N_, h2), View2());
    const auto z1 = mlp.first_preactivation(T_);
    gather_sum3(space, z1, w.q1, w.node1, w.q2, w.node2, w.pa, w.center);
    nn::dense_forward(space, w.t, F.angle, z1, View2(), nn::Activation::identity, /*accumulate=*/true);
    mlp.forward_tail(space, y);
  }

  /// b_u += (Σ_{node1(τ)=n} Y_τ ⊙ wb_n1 ⊙ wb_n2) W_outᵀ for the bond u of node n; then + b_out on
  /// every bond (CHGNet's mlp_out).
  void bond_conv_forward(const ExecutionSpace& space, const std::size_t k) {
    Work& w = *work_;
    const int B = cfg_.bond_fea_dim;
    const View2& y = sized(w.y_bond[k], "y_bond", T_, B);
    angle_mlp_forward(space, bond_conv_[k], bond_first_[k], y);
    const View2& msg = sized(w.msg_t, "msg_t", T_, B);
    gather_product(space, msg, y, IndexView(), w.wb, w.node1, w.wb, w.node2);
    const View2& S = sized(w.sum_b, "sum_b", Ub_, B);
    zero(space, S);
    segment_sum(space, S, w.by_node1, msg);
    const View2& D = sized(w.dnode, "dnode", Ub_, B);
    zero(space, D);  // D = S W_outᵀ without the bias (accumulating adds none): it goes to every bond below
    nn::dense_forward(space, S, bond_out_[k], D, View2(), nn::Activation::identity, /*accumulate=*/true);
    Kokkos::parallel_for("nernst::CHGNetKernel::bond_update", matrix_policy(space, Ub_, B),
                         detail::ScatterDistinctAddKernel<Scalar, memory_space>{w.b, D, w.node_bond});
    add_bias(space, w.b, bond_out_[k]);
  }

  /// Each structure's site energies (readout + AtomRef), energies summed in atom order, and magnetic
  /// moments, as CHGNetEvaluator::evaluate.
  void site_results(const Structure* first, const Structure* last, CHGNetOutput* out) const {
    const auto eps = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), work_->eps);
    const auto mag = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), work_->mag);
    for (const Structure* s = first; s != last; ++s) {
      const auto k = static_cast<std::size_t>(s - first);
      const auto a0 = static_cast<std::size_t>(work_->off.atom[k]);
      CHGNetOutput& o = out[k];
      const std::size_t n = s->x.size();
      o.site_energy.assign(n, 0.0);
      o.magmom.assign(n, 0.0);
      o.model_energy = 0;
      o.energy = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double e = static_cast<double>(eps(a0 + i, 0));
        const double ref = atom_ref_[static_cast<std::size_t>(s->Z[i] - 1)];
        o.site_energy[i] = e + ref;
        o.model_energy += e;
        o.energy += e + ref;
        o.magmom[i] = std::abs(static_cast<double>(mag(a0 + i, 0)));
      }
    }
  }

  // --- reverse -----------------------------------------------------------------------------
  /// ∂E/∂(model energy) back through the readout, the blocks (last first) and the embeddings, into
  /// the gradients of the radial and angular bases: CHGNetEvaluator::backward's steps, as kernels.
  void reverse(const ExecutionSpace& space) {
    Work& w = *work_;
    const int A = cfg_.atom_fea_dim, B = cfg_.bond_fea_dim, Gd = cfg_.angle_fea_dim, nc = cfg_.n_conv;
    const View2& deps = sized(w.deps, "deps", N_, 1);
    Kokkos::deep_copy(space, deps, Scalar(1));
    const View2& da = sized(w.da, "da", N_, A);
    readout_.backward(space, deps, da);
    if (!readout_norm_.empty()) readout_norm_.backward(space, da);
    zero(space, sized(w.db, "db", U_, B));
    zero(space, sized(w.dt, "dt", T_, Gd));
    zero(space, sized(w.dwa, "dwa", U_, A));
    zero(space, sized(w.dwb, "dwb", Ub_, B));
    for (int k = nc - 1; k >= 0; --k) {
      const auto ks = static_cast<std::size_t>(k);
      if (k != nc - 1 && T_ > 0) {
        if (cfg_.update_angle && k != nc - 2)
          angle_mlp_reverse(space, angle_first_[ks], angle_update_[ks].backward_tail(space, w.dt));
        if (cfg_.update_bond) bond_conv_reverse(space, ks);
      }
      atom_conv_reverse(space, ks);
    }
    // Embeddings: b0 = φ_ag W_beᵀ, wa = φ_ag W_waᵀ, wb = φ_bg W_wbᵀ, t0 = ψ W_anᵀ.
    const int R = cfg_.num_radial;
    nn::dense_input_gradient(space, w.db, bond_embedding_, sized(w.gphi_ag, "gphi_ag", U_, R));
    nn::dense_input_gradient(space, w.dwa, bond_weights_ag_, w.gphi_ag, /*accumulate=*/true);
    nn::dense_input_gradient(space, w.dwb, bond_weights_bg_, sized(w.gphi_bg, "gphi_bg", Ub_, R));
    nn::dense_input_gradient(space, w.dt, angle_embedding_, sized(w.gpsi, "gpsi", T_, cfg_.num_angular));
  }

  /// Reverse of atom conv k: a_out = a_in + S W_outᵀ + b, S_c = Σ_{src(e)=c} Y_e ⊙ wa_u(e).
  void atom_conv_reverse(const ExecutionSpace& space, const std::size_t k) {
    Work& w = *work_;
    const int A = cfg_.atom_fea_dim;
    const View2& dS = sized(w.sum_a, "sum_a", N_, A);
    nn::dense_input_gradient(space, w.da, atom_out_[k], dS);
    const View2& dY = sized(w.msg_e, "msg_e", E_, A);
    gather_product(space, dY, dS, w.src, w.wa, w.edge_bond, View2(), IndexView());  // dS_src ⊙ wa_u
    const View2& cw = sized(w.cw_e, "cw_e", E_, A);
    gather_product(space, cw, dS, w.src, w.y_atom[k], IndexView(), View2(), IndexView());  // dS_src ⊙ Y
    segment_sum(space, w.dwa, w.by_bond, cw);
    const auto dz1 = atom_conv_[k].backward_tail(space, dY);
    const AtomFirstLayer& F = atom_first_[k];
    const int h2 = F.centre.out_features();
    const View2& dpc = sized(w.pc, "pc", N_, h2);  // the projections are not needed again
    const View2& dpn = sized(w.pn, "pn", N_, h2);
    const View2& dqb = sized(w.qb, "qb", U_, h2);
    zero(space, dpc);
    zero(space, dpn);
    zero(space, dqb);
    segment_sum(space, dpc, w.by_src, dz1);
    segment_sum(space, dpn, w.by_dst, dz1);
    segment_sum(space, dqb, w.by_bond, dz1);
    nn::dense_input_gradient(space, dpc, F.centre, w.da, /*accumulate=*/true);
    nn::dense_input_gradient(space, dpn, F.neighbour, w.da, /*accumulate=*/true);
    nn::dense_input_gradient(space, dqb, F.bond, w.db, /*accumulate=*/true);
  }

  /// Reverse of bond conv k: b_u(n) += (S W_outᵀ)_n (+ b_out on every bond), S_n = Σ_{node1(τ)=n}
  /// Y_τ ⊙ wb_n1 ⊙ wb_n2.
  void bond_conv_reverse(const ExecutionSpace& space, const std::size_t k) {
    Work& w = *work_;
    const int B = cfg_.bond_fea_dim;
    const View2& dbo = sized(w.bn, "bn", Ub_, B);
    Kokkos::parallel_for("nernst::CHGNetKernel::node_bond_gradients", matrix_policy(space, Ub_, B),
                         detail::GatherRowsKernel<Scalar, memory_space>{dbo, w.db, w.node_bond});
    const View2& dS = sized(w.sum_b, "sum_b", Ub_, B);
    nn::dense_input_gradient(space, dbo, bond_out_[k], dS);
    const View2& dY = sized(w.msg_t, "msg_t", T_, B);
    gather_product(space, dY, dS, w.node1, w.wb, w.node1, w.wb, w.node2);  // dS_n1 ⊙ wb_n1 ⊙ wb_n2
    const View2& cw = sized(w.cw_t, "cw_t", T_, B);
    gather_product(space, cw, dS, w.node1, w.y_bond[k], IndexView(), w.wb, w.node2);  // → dwb_n1
    segment_sum(space, w.dwb, w.by_node1, cw);
    gather_product(space, cw, dS, w.node1, w.y_bond[k], IndexView(), w.wb, w.node1);  // → dwb_n2
    segment_sum(space, w.dwb, w.by_node2, cw);
    angle_mlp_reverse(space, bond_first_[k], bond_conv_[k].backward_tail(space, dY));
  }

  /// Reverse of a bond-graph MLP's split first layer from dZ1 ([T, 2H]): onto t, the bonds of both
  /// nodes and the centre atoms.
  template <class DZ>
  void angle_mlp_reverse(const ExecutionSpace& space, const AngleFirstLayer& F, const DZ& dz1) {
    Work& w = *work_;
    const int B = cfg_.bond_fea_dim, h2 = F.bond1.out_features();
    nn::dense_input_gradient(space, dz1, F.angle, w.dt, /*accumulate=*/true);
    const View2& dq1 = sized(w.q1, "q1", Ub_, h2);
    const View2& dq2 = sized(w.q2, "q2", Ub_, h2);
    const View2& dpa = sized(w.pa, "pa", N_, h2);
    zero(space, dq1);
    zero(space, dq2);
    zero(space, dpa);
    segment_sum(space, dq1, w.by_node1, dz1);
    segment_sum(space, dq2, w.by_node2, dz1);
    segment_sum(space, dpa, w.by_center, dz1);
    const View2& dbn = sized(w.dnode, "dnode", Ub_, B);
    nn::dense_input_gradient(space, dq1, F.bond1, dbn);
    nn::dense_input_gradient(space, dq2, F.bond2, dbn, /*accumulate=*/true);
    Kokkos::parallel_for("nernst::CHGNetKernel::node_bond_reverse", matrix_policy(space, Ub_, B),
                         detail::ScatterDistinctAddKernel<Scalar, memory_space>{w.db, dbn, w.node_bond});
    nn::dense_input_gradient(space, dpa, F.centre, w.da, /*accumulate=*/true);
  }

  /// ∂E/∂r_e per edge, then forces and each structure's virial; copied into out[k].
  void forces_and_virial(const ExecutionSpace& space, CHGNetOutput* out) {
    Work& w = *work_;
    using MS = memory_space;
    const View2& ga = sized(w.ga, "angle_gradient", 2 * T_, 3);
    Kokkos::parallel_for("nernst::CHGNetKernel::angle_gradient", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::AngleGradientKernel<Scalar, MS>{w.edge1, w.edge2, w.rvec, w.gpsi, w.dpsi, ga, w.len,
                                                                 w.cosine});
    const View2& G = sized(w.grad, "edge_gradient", E_, 3);
    Kokkos::parallel_for("nernst::CHGNetKernel::edge_gradient", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_),
                         detail::CHGNetEdgeGradientKernel<Scalar, MS>{
                             G, w.rvec, w.gphi_ag, w.dphi_ag, w.gphi_bg, w.dphi_bg, ga, w.len, w.edge_bond,
                             w.bond_edge, w.bond_node, w.angle_ends.offset, w.angle_ends.member});
    auto& F = w.forces;
    if (static_cast<int>(F.extent(0)) != N_)
      F = Kokkos::View<double**, Kokkos::LayoutRight, MS>("nernst::CHGNetKernel::forces", N_, 3);
    const auto virials = edge_gradients_to_forces(space, w.incident, G, w.rvec, F, w.off.edge);
    const auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), F);
    for (std::size_t k = 0; k + 1 < w.off.atom.size(); ++k) {
      const int a0 = w.off.atom[k], n = w.off.atom[k + 1] - a0;
      out[k].virial = virials[k];
      out[k].forces.resize(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out[k].forces[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)] = hf(a0 + i, c);
    }
  }

  // --- small kernels -----------------------------------------------------------------------
  /// out(r) = (x(ix(r)) ⊙ w1(i1(r))) ⊙ w2(i2(r)) row by row (detail::GatherProductKernel).
  static void gather_product(const ExecutionSpace& space, const View2& out, const View2& x, const IndexView& ix,
                             const View2& w1, const IndexView& i1, const View2& w2, const IndexView& i2) {
    Kokkos::parallel_for("nernst::CHGNetKernel::gather_product",
                         matrix_policy(space, static_cast<int>(out.extent(0)), static_cast<int>(out.extent(1))),
                         detail::GatherProductKernel<Scalar, memory_space>{out, x, w1, w2, ix, i1, i2});
  }
  static void add_bias(const ExecutionSpace& space, const View2& out, const Dense& layer) {
    if (!layer.has_bias()) return;
    Kokkos::parallel_for("nernst::CHGNetKernel::add_bias",
                         matrix_policy(space, static_cast<int>(out.extent(0)), static_cast<int>(out.extent(1))),
                         detail::AddBiasKernel<Scalar, memory_space>{out, layer.bias});
  }
  // product, zero, sized, to_device: graph_kernels.hpp (shared with M3GNetKernel).

  CHGNetConfig cfg_;
  std::vector<double> atom_ref_;
  detail::SineBesselValues<Scalar> rbf_ag_, rbf_bg_;
  std::vector<double> fourier_;
  View2 embedding_;
  Dense bond_embedding_, bond_weights_ag_, bond_weights_bg_, angle_embedding_, site_wise_;
  std::vector<GatedMLP> atom_conv_, bond_conv_, angle_update_;
  std::vector<AtomFirstLayer> atom_first_;
  std::vector<AngleFirstLayer> bond_first_, angle_first_;
  std::vector<Dense> atom_out_, bond_out_;
  nn::LayerNormKernel<Scalar, ExecutionSpace> readout_norm_;
  nn::MLPKernel<Scalar, ExecutionSpace> readout_;

  int N_ = 0, E_ = 0, U_ = 0, Ub_ = 0, T_ = 0;
  /// The batch's indices on the host, renumbered (upload()).
  struct Host {
    std::vector<int> type, src, dst, edge_bond, bond_edge, bond_node, node_bond, node_edge;
    std::vector<int> center, edge1, edge2, node1, node2;
    void clear() {
      for (auto* v : {&type, &src, &dst, &edge_bond, &bond_edge, &bond_node, &node_bond, &node_edge, &center, &edge1,
                      &edge2, &node1, &node2})
        v->clear();
    }
  };
  /// Per-evaluation arrays (a copy of the kernel gets its own: FreshOnCopy).
  struct Work {
    Offsets off;
    Host host;
    Kokkos::View<double* [3], memory_space> x, shift;
    IndexView type, src, dst, edge_bond, bond_edge, bond_node, node_bond, node_edge, center, edge1, edge2, node1, node2;
    Segments<memory_space> by_src, by_node1;                                   // forward sums
    Segments<memory_space> by_dst, by_bond, by_node2, by_center, angle_ends;  // reverse sums
    IncidentEdges<memory_space> incident;
    View2 rvec, phi_ag, dphi_ag, phi_bg, dphi_bg, psi, dpsi;
    View1 len, cosine;
    View2 a, b, t, wa, wb, mag, a_read, eps;
    View2 pc, pn, qb, bn, q1, q2, pa, msg_e, msg_t, sum_a, sum_b, dnode;
    std::vector<View2> y_atom, y_bond;  // per conv: the gated MLPs' outputs (the reverse pass needs them)
    View2 deps, da, db, dt, dwa, dwb, cw_e, cw_t, gphi_ag, gphi_bg, gpsi, ga, grad;
    Kokkos::View<double**, Kokkos::LayoutRight, memory_space> forces;
  };
  FreshOnCopy<Work> work_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
