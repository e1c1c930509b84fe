#pragma once
/// \file
/// \brief M3GNet as Kokkos kernels in any execution space, forward and reverse (energy, per-atom
/// energies, forces, virial), for one structure or a batch: the graph network that runs where the
/// System lives, on host threads or a GPU, from one source.
///
/// What it is for: everything a GPU build evaluates (MD forces, relaxations, static screening). It
/// computes the host evaluator's (M3GNetEvaluator's) numbers to rounding: the dense layers sum in
/// another order than its GEMMs (1e-12 relative in double; tests/kernels).
///
/// Where each step runs: graph construction (pymatgen order) and the triplet lists stay on the host
/// (they are O(E) bookkeeping and define the summation order); everything with floating point runs
/// as kernels in ExecutionSpace: bond vectors, radial bases and envelopes (with their derivatives
/// for a reverse pass), triplet bases, embeddings, every block's three-body sums and gated MLPs
/// (nn::GatedMLPKernel), the convolutions (from per-atom projections of their split first layer, as
/// the host evaluator) and their sums onto atoms (graphnet::segment_sum), the readout; then the
/// reverse of all of it (m3gnet_reverse_kernels.hpp for the M3GNet-specific steps) down to ∂E/∂r_e
/// per edge, and forces and virial from those (graph_kernels.hpp). The per-atom energies come back to
/// the host to be added in atom order, as the host evaluator adds them; forces and virials come back
/// in double.
///
/// Batches: evaluate_batch() takes many structures as one block-diagonal graph (atoms and edges
/// concatenated, triplets built per structure and renumbered, virials summed per structure), so one
/// launch of each kernel covers them all: what fills a GPU with small cells.
///
/// Memory: the forward keeps what the reverse needs (each gated MLP its activations, each block its
/// gates and convolution outputs); nothing is recomputed. Both M3GNet bases run here: MP-2021's
/// clamped spherical Bessel basis and MatPES's smooth one (its coefficient table is copied into the
/// functor, since device code cannot read host tables).

#include <nernst/core/error.hpp>
#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/dense_kernel.hpp>
#include <nernst/nn/gated_mlp_kernel.hpp>
#include <nernst/potential/graphnet/basis.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/graph_kernels.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/potential/graphnet/m3gnet_reverse_kernels.hpp>
#include <nernst/potential/graphnet/three_body.hpp>

#include <Eigen/Core>

#include <array>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

namespace detail {

/// MatPES's smooth basis g_0..g_{size−1} and, when asked, its derivatives, with SmoothBesselTable's
/// coefficients held by value, so that the functor can be copied to a device. Same arithmetic as
/// SmoothBesselBasis.
template <class Scalar>
struct SmoothBesselValues {
  static constexpr int kTerms = SmoothBesselTable::max_terms;
  static constexpr int kFunctions = SmoothBesselTable::max_functions;
  int size = 9;
  double w[kTerms]{};
  double c[kFunctions][kTerms]{};

  SmoothBesselValues() = default;
  explicit SmoothBesselValues(const int n) : size(n) {
    for (int k = 0; k < kTerms; ++k) w[k] = SmoothBesselTable::w[k];
    for (int m = 0; m < kFunctions; ++m)
      for (int k = 0; k < kTerms; ++k) c[m][k] = SmoothBesselTable::c[m][k];
  }
  KOKKOS_INLINE_FUNCTION void operator()(const Scalar& r, Scalar* val, Scalar* deriv = nullptr) const {
    Scalar sn[kTerms], cs[kTerms];
    for (int k = 0; k < size + 1; ++k) {
      const Scalar x = Scalar(w[k]) * r;
      sn[k] = math::sin(x);
      cs[k] = deriv ? math::cos(x) : Scalar(0);
    }
    const Scalar inv_r = Scalar(1) / r;
    for (int m = 0; m < size; ++m) {
      Scalar s(0), ds(0);
      for (int k = 0; k < m + 2; ++k) {
        s += Scalar(c[m][k]) * sn[k];
        if (deriv) ds += Scalar(c[m][k] * w[k]) * cs[k];
      }
      val[m] = s / r;
      if (deriv) deriv[m] = (ds - val[m]) * inv_r;
    }
  }
};

/// Bond vector r_e = x_dst + shift_e − x_src, shift_e = image_e·L of the edge's structure (summed in
/// double, then rounded to Scalar, as the host evaluator), its length, the radial functions of the three-body basis (whose first columns are
/// the two-body basis) and the three-body envelope; with `radial_d` allocated (a reverse pass
/// follows), their derivatives with respect to the length as well.
template <class Scalar, class MS, class Basis>
struct EdgeGeometryKernel {
  Kokkos::View<const double* [3], MS> x;
  Kokkos::View<const int*, MS> src, dst;
  Kokkos::View<const double* [3], MS> shift;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, radial, radial_d;
  Kokkos::View<Scalar*, MS> dist, envelope, envelope_d;
  Basis basis;
  Scalar rc3;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    const int s = src(e), d = dst(e);
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      const double v = x(d, k) + shift(e, k) - x(s, k);
      rvec(e, k) = Scalar(v);
      r2 += rvec(e, k) * rvec(e, k);
    }
    const Scalar de = math::sqrt(r2);
    dist(e) = de;
    const bool derivatives = radial_d.data() != nullptr;
    basis(de, &radial(e, 0), derivatives ? &radial_d(e, 0) : nullptr);
    envelope(e) = polynomial_envelope(de, rc3, derivatives ? &envelope_d(e) : nullptr);
  }
};

/// Triplet t's basis row B(t, 3l + n) = R_{3l+n}(|w|) · Y_l(cos θ) and envelope weight.
template <class Scalar, class MS>
struct TripletBasisKernel {
  Kokkos::View<const int*, MS> bond_u, bond_w, env_a, env_b;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, radial, basis;
  Kokkos::View<Scalar*, MS> dist, envelope, weight;
  KOKKOS_INLINE_FUNCTION void operator()(const int t) const {
    const int a = bond_u(t), b = bond_w(t);
    const Scalar cosv = triplet_cosine(&rvec(a, 0), &rvec(b, 0), dist(a), dist(b));
    Scalar Y[3];
    spherical_harmonics_m0(cosv, Y);
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) basis(t, 3 * l + n) = radial(b, 3 * l + n) * Y[l];
    weight(t) = envelope(env_a(t)) * envelope(env_b(t));
  }
};

/// h(e, k) = Σ_{t → e} (B(t, k) · s(gate_atom(t), k)) · w_t, triplets onto their target edge in
/// order. One thread per edge (its nine sums at once: one pass over its triplets).
template <class Scalar, class MS>
struct ThreeBodySumKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> h, basis, gate;
  Kokkos::View<Scalar*, MS> weight;
  Kokkos::View<int*, MS> offset, member;
  Kokkos::View<const int*, MS> gate_atom;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    Scalar acc[9] = {};
    for (int m = offset(e); m < offset(e + 1); ++m) {
      const int t = member(m), a = gate_atom(t);
      const Scalar wt = weight(t);
      for (int k = 0; k < 9; ++k) acc[k] += (basis(t, k) * gate(a, k)) * wt;
    }
    for (int k = 0; k < 9; ++k) h(e, k) = acc[k];
  }
};



}  // namespace detail

/// M3GNet energies, forces and virial in ExecutionSpace (see the file comment).
template <class Scalar, class ExecutionSpace = Kokkos::DefaultExecutionSpace>
class M3GNetKernel {
 public:
  using execution_space = ExecutionSpace;
  using memory_space = typename ExecutionSpace::memory_space;
  using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using View1 = Kokkos::View<Scalar*, memory_space>;

  M3GNetKernel() = default;
  explicit M3GNetKernel(const M3GNetModel& model, const ThreeBodyMode mode = ThreeBodyMode::matgl)
      : cfg_(model.config), mode_(mode) {
    const auto w = model.weights.template cast<Scalar>();
    const int types = static_cast<int>(w.node_embedding.rows()), u = static_cast<int>(w.node_embedding.cols());
    embedding_ = View2("nernst::M3GNetKernel::embedding", types, u);
    auto he = Kokkos::create_mirror_view(embedding_);
    for (int t = 0; t < types; ++t)
      for (int j = 0; j < u; ++j) he(t, j) = w.node_embedding(t, j);
    Kokkos::deep_copy(embedding_, he);
    edge_embedding_ = nn::DenseWeights<Scalar, memory_space>(w.edge_embedding);
    for (std::size_t b = 0; b < w.tb_atom.size(); ++b) {
      tb_atom_.emplace_back(w.tb_atom[b]);
      tb_bond_.emplace_back(w.tb_bond[b]);
      conv_edge_.emplace_back(w.conv_edge[b]);
      conv_node_.emplace_back(w.conv_node[b]);
      first_edge_.push_back(split_first_layer(w.conv_edge[b], u));
      first_node_.push_back(split_first_layer(w.conv_node[b], u));
      edge_weight_.emplace_back(nn::Linear<Scalar>(w.edge_weight[b]));
      node_weight_.emplace_back(nn::Linear<Scalar>(w.node_weight[b]));
    }
    readout_ = nn::GatedMLPKernel<Scalar, ExecutionSpace>(w.readout);
  }

  const M3GNetConfig& config() const { return cfg_; }

  /// Per-atom weights w_i of the energy the reverse pass differentiates (forces and virial of
  /// Σ_i w_i e_i), as M3GNetEvaluator::set_energy_weights; empty (the default): every w_i = 1.
  void set_energy_weights(std::vector<double> w) { energy_weights_ = std::move(w); }

  /// One structure of a batch, as evaluate() takes it (referenced, not copied): Cartesian positions
  /// (Å), lattice rows, model types (M3GNetConfig::type_of) and its graph.
  struct Structure {
    const std::vector<std::array<double, 3>>& x;
    const Eigen::Matrix3d& L;
    const std::vector<int>& types;
    const PeriodicGraph& g;
  };

  /// Evaluates on the graph `g`: energy and per-atom energies, and with `gradients` the forces and
  /// the virial ∂E/∂ε as well (into `out`'s host arrays, as M3GNetEvaluator::evaluate).
  void evaluate(const ExecutionSpace& space, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L,
                const std::vector<int>& types, const PeriodicGraph& g, const bool gradients, M3GNetOutput& out) {
    const Structure one{x, L, types, g};
    evaluate_batch(space, &one, &one + 1, gradients, &out);
  }

  /// Evaluates the structures [first, last) together, as one block-diagonal graph: every kernel runs
  /// once over all their atoms, edges and triplets (what fills a GPU with small cells), and out[k]
  /// receives structure k's energy, per-atom energies and, with `gradients`, its forces and virial.
  /// On a device each structure's result is bitwise what evaluate() gives for it alone (every sum is
  /// over that structure's own rows, in the same order); on host threads it agrees to rounding (a
  /// dense layer's GEMM tiles then span structures). Energy weights need a batch of one.
  void evaluate_batch(const ExecutionSpace& space, const Structure* first, const Structure* last, const bool gradients,
                      M3GNetOutput* out) {
    if (!energy_weights_.empty() && last - first != 1)
      throw ValueError("M3GNetKernel: energy weights are for one structure at a time, not a batch of " +
                       std::to_string(last - first));
    upload(first, last, gradients);
    geometry(space, gradients);
    triplets(space, first, last, gradients);
    forward(space);
    add_atom_energies(first, last, out);
    if (!gradients) return;
    reverse(space);
    forces_and_virial(space, out);
  }

  /// Total energy (eV) on the graph `g`, and per-atom energies into `atom_energy` when given.
  double energy(const ExecutionSpace& space, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L,
                const std::vector<int>& types, const PeriodicGraph& g, std::vector<double>* atom_energy = nullptr) {
    M3GNetOutput& out = work_->out;
    evaluate(space, x, L, types, g, false, out);
    if (atom_energy) *atom_energy = out.atom_energy;
    return out.energy;
  }

 private:
  /// A convolution MLP's first layer (both branches' rows stacked, as nn::GatedMLP::first_layer)
  /// split by input block: Z1 = v_src W_sᵀ + b + v_dst W_dᵀ + e W_eᵀ.
  struct SplitFirstLayer {
    nn::DenseWeights<Scalar, memory_space> src, dst, edge;
  };
  static SplitFirstLayer split_first_layer(const nn::GatedMLP<Scalar>& G, const int u) {
    using Matrix = nn::RowMatrix<Scalar>;
    const auto& F = G.first_layer();  // [2·width, 3u]
    return {nn::DenseWeights<Scalar, memory_space>(nn::Linear<Scalar>(Matrix(F.weight.leftCols(u)), F.bias)),
            nn::DenseWeights<Scalar, memory_space>(nn::Linear<Scalar>(Matrix(F.weight.middleCols(u, u)))),
            nn::DenseWeights<Scalar, memory_space>(nn::Linear<Scalar>(Matrix(F.weight.rightCols(u))))};
  }

  // --- inputs and geometry ---------------------------------------------------------------
  /// The batch as one graph on the device: atoms and edges concatenated in batch order (structure
  /// k's atoms from atom_offset[k], its edges from edge_offset[k]), edge ends renumbered, and each
  /// edge's lattice shift image·L computed with its own structure's cell.
  void upload(const Structure* first, const Structure* last, const bool gradients) {
    Work& w = *work_;
    w.atom_offset.assign(1, 0);
    w.edge_offset.assign(1, 0);
    for (const Structure* s = first; s != last; ++s) {
      if (s->types.size() != s->x.size())
        throw ValueError("M3GNetKernel: structure " + std::to_string(s - first) + ": " + std::to_string(s->types.size()) +
                         " types for " + std::to_string(s->x.size()) + " positions");
      w.atom_offset.push_back(w.atom_offset.back() + static_cast<int>(s->x.size()));
      w.edge_offset.push_back(w.edge_offset.back() + static_cast<int>(s->g.size()));
    }
    N_ = w.atom_offset.back();
    E_ = w.edge_offset.back();
    w.x = Kokkos::View<double* [3], memory_space>("nernst::M3GNetKernel::x", N_);
    w.shift = Kokkos::View<double* [3], memory_space>("nernst::M3GNetKernel::shift", E_);
    auto hx = Kokkos::create_mirror_view(w.x);
    auto hs = Kokkos::create_mirror_view(w.shift);
    w.type_h.resize(static_cast<std::size_t>(N_));
    w.src_h.resize(static_cast<std::size_t>(E_));
    w.dst_h.resize(static_cast<std::size_t>(E_));
    for (const Structure* s = first; s != last; ++s) {
      const auto k = static_cast<std::size_t>(s - first);
      const int a0 = w.atom_offset[k], e0 = w.edge_offset[k];
      for (std::size_t i = 0; i < s->x.size(); ++i) {
        const auto a = static_cast<std::size_t>(a0) + i;
        for (int c = 0; c < 3; ++c) hx(a, c) = s->x[i][static_cast<std::size_t>(c)];
        w.type_h[a] = s->types[i];
      }
      const PeriodicGraph& g = s->g;
      for (std::size_t e = 0; e < g.size(); ++e) {
        const auto q = static_cast<std::size_t>(e0) + e;
        w.src_h[q] = g.src[e] + a0;
        w.dst_h[q] = g.dst[e] + a0;
        const auto& t = g.image[e];
        for (int c = 0; c < 3; ++c) hs(q, c) = t[0] * s->L(0, c) + t[1] * s->L(1, c) + t[2] * s->L(2, c);
      }
    }
    Kokkos::deep_copy(w.x, hx);
    Kokkos::deep_copy(w.shift, hs);
    w.type = to_device<memory_space>(w.type_h, "type");
    w.src = to_device<memory_space>(w.src_h, "src");
    w.dst = to_device<memory_space>(w.dst_h, "dst");
    w.by_dst = Segments<memory_space>(w.dst_h, static_cast<std::size_t>(N_));
    if (!gradients) return;
    w.by_src = Segments<memory_space>(w.src_h, static_cast<std::size_t>(N_));
    w.incident = IncidentEdges<memory_space>(w.src_h, w.dst_h, static_cast<std::size_t>(N_));
  }

  void geometry(const ExecutionSpace& space, const bool gradients) {
    sized(work_->rvec, "rvec", E_, 3);
    sized(work_->radial, "radial", E_, cfg_.threebody_size());
    sized(work_->dist, "dist", E_);
    sized(work_->envelope, "envelope", E_);
    if (gradients) {
      sized(work_->radial_d, "radial_d", E_, cfg_.threebody_size());
      sized(work_->envelope_d, "envelope_d", E_);
    }
    if (cfg_.use_smooth)
      run_geometry(space, gradients, detail::SmoothBesselValues<Scalar>(cfg_.threebody_size()));
    else
      run_geometry(space, gradients, SphericalBesselBasis<Scalar>(cfg_.cutoff));
  }

  template <class Basis>
  void run_geometry(const ExecutionSpace& space, const bool gradients, const Basis& basis) {
    const Work& w = *work_;
    Kokkos::parallel_for("nernst::M3GNetKernel::geometry", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_),
                         detail::EdgeGeometryKernel<Scalar, memory_space, Basis>{
                             w.x, w.src, w.dst, w.shift, w.rvec, w.radial, gradients ? w.radial_d : View2(), w.dist,
                             w.envelope, gradients ? w.envelope_d : View1(), basis, Scalar(cfg_.threebody_cutoff)});
  }

  /// Triplet lists on the host, structure by structure (matgl's index handling is per graph), from
  /// the kernel's bond lengths (the host evaluator's cut, in the same scalar), renumbered into the
  /// batch; then their bases on the device. With `gradients`, also the triplets grouped by gate atom
  /// and by each of their edges: the sums of the reverse pass.
  void triplets(const ExecutionSpace& space, const Structure* first, const Structure* last, const bool gradients) {
    Work& w = *work_;
    const auto hd = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), w.dist);
    Triplets& trip = w.trip;
    trip.clear();
    for (const Structure* s = first; s != last; ++s) {
      const auto k = static_cast<std::size_t>(s - first);
      const int a0 = w.atom_offset[k], e0 = w.edge_offset[k];
      w.dist_h.assign(hd.data() + e0, hd.data() + w.edge_offset[k + 1]);
      build_triplets(s->g.src, s->g.dst, w.dist_h, s->x.size(), cfg_.threebody_cutoff, mode_, w.part, w.pruned);
      append_triplets(trip, w.part, e0, a0);
    }
    T_ = static_cast<int>(trip.size());
    w.bond_u = to_device<memory_space>(trip.bond_u, "bond_u");
    w.bond_w = to_device<memory_space>(trip.bond_w, "bond_w");
    w.env_a = to_device<memory_space>(trip.env_a, "env_a");
    w.env_b = to_device<memory_space>(trip.env_b, "env_b");
    w.gate_atom = to_device<memory_space>(trip.gate_atom, "gate_atom");
    const auto edges = static_cast<std::size_t>(E_);
    w.by_target = Segments<memory_space>(trip.target, edges);
    if (gradients) {
      w.target = to_device<memory_space>(trip.target, "target");
      w.by_gate = Segments<memory_space>(trip.gate_atom, static_cast<std::size_t>(N_));
      w.by_env_a = Segments<memory_space>(trip.env_a, edges);
      w.by_env_b = Segments<memory_space>(trip.env_b, edges);
      w.by_u = Segments<memory_space>(trip.bond_u, edges);
      w.by_w = Segments<memory_space>(trip.bond_w, edges);
    }
    sized(w.tb_basis, "tb_basis", T_, 9);
    sized(w.tb_weight, "tb_weight", T_);
    Kokkos::parallel_for("nernst::M3GNetKernel::triplet_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::TripletBasisKernel<Scalar, memory_space>{w.bond_u, w.bond_w, w.env_a, w.env_b, w.rvec,
                                                                          w.radial, w.tb_basis, w.dist, w.envelope,
                                                                          w.tb_weight});
  }

  /// Appends one structure's triplets to the batch's: edge indices shifted by e0, atoms by a0.
  static void append_triplets(Triplets& all, const Triplets& part, const int e0, const int a0) {
    for (std::size_t t = 0; t < part.size(); ++t) {
      all.bond_u.push_back(part.bond_u[t] + e0);
      all.bond_w.push_back(part.bond_w[t] + e0);
      all.env_a.push_back(part.env_a[t] + e0);
      all.env_b.push_back(part.env_b[t] + e0);
      all.gate_atom.push_back(part.gate_atom[t] + a0);
      all.target.push_back(part.target[t] + e0);
    }
  }

  // --- forward ---------------------------------------------------------------------------
  /// What block b keeps for the reverse pass (its gated MLPs keep their own activations).
  struct BlockState {
    View2 gate_z, gate;    // [N, 9] three-body gates: pre-activations and σ of them
    View2 y_edge, y_node;  // [E, u] the convolution MLPs' outputs, before the radial weights
  };

  void forward(const ExecutionSpace& space) {
    const int u = cfg_.dim;
    sized(work_->v, "v", N_, u);
    Kokkos::parallel_for("nernst::M3GNetKernel::embedding", matrix_policy(space, N_, u),
                         detail::EmbeddingKernel<Scalar, memory_space>{work_->v, embedding_, work_->type});
    const auto rbf = radial_basis();
    sized(work_->e, "e", E_, u);
    nn::dense_forward(space, rbf, edge_embedding_, sized(work_->z, "z", E_, u), work_->e, nn::Activation::silu);
    const View2& rw = sized(work_->rw, "rw", E_, u);
    const View2& msg = sized(work_->msg, "msg", E_, u);
    const View2 none;
    work_->blocks.resize(conv_edge_.size());
    for (std::size_t b = 0; b < conv_edge_.size(); ++b) {
      BlockState& s = work_->blocks[b];
      if (T_ > 0) threebody(space, b, s);
      // Edge update: e += G_e([v_src, v_dst, e]) ⊙ (rbf W_ewᵀ).
      conv_forward(space, conv_edge_[b], first_edge_[b], sized(s.y_edge, "y_edge", E_, u));
      nn::dense_forward(space, rbf, edge_weight_[b], rw, none);
      product(space, work_->e, s.y_edge, rw, true);
      // Node update: v_dst += G_n([v_src, v_dst, e']) ⊙ (rbf W_nwᵀ), summed per atom in edge order.
      conv_forward(space, conv_node_[b], first_node_[b], sized(s.y_node, "y_node", E_, u));
      nn::dense_forward(space, rbf, node_weight_[b], rw, none);
      product(space, msg, s.y_node, rw, false);
      segment_sum(space, work_->v, work_->by_dst, msg);
    }
    sized(work_->eps, "eps", N_, 1);
    readout_.forward(space, work_->v, work_->eps);
  }

  /// Three-body update of block b: h_e = Σ_{t → e} B_t ⊙ σ(v W_aᵀ + b)_{gate atom} · w_t, e +=
  /// G_tb(h).
  void threebody(const ExecutionSpace& space, const std::size_t b, BlockState& s) {
    const View2& h = sized(work_->h, "h", E_, 9);
    const View2& y = sized(work_->y, "y", E_, cfg_.dim);
    nn::dense_forward(space, work_->v, tb_atom_[b], sized(s.gate_z, "gate_z", N_, 9), sized(s.gate, "gate", N_, 9),
                      nn::Activation::sigmoid);
    Kokkos::parallel_for("nernst::M3GNetKernel::three_body", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_),
                         detail::ThreeBodySumKernel<Scalar, memory_space>{h, work_->tb_basis, s.gate, work_->tb_weight,
                                                                          work_->by_target.offset,
                                                                          work_->by_target.member, work_->gate_atom});
    tb_bond_[b].forward(space, h, y);
    product(space, work_->e, y, View2(), true);
  }

  /// A convolution MLP over the edges, y = G([v_src, v_dst, e]), without forming the per-edge input:
  /// its first layer is split by input block, the atom blocks projected once per atom (P_s = v W_sᵀ
  /// + b, P_d = v W_dᵀ) and gathered per edge, Z1 = P_s[src] + P_d[dst] + e W_eᵀ (the host
  /// evaluator's node projections).
  void conv_forward(const ExecutionSpace& space, nn::GatedMLPKernel<Scalar, ExecutionSpace>& mlp,
                    const SplitFirstLayer& first, const View2& y) {
    const int h2 = first.src.out_features();
    const View2& ps = sized(work_->ps, "ps", N_, h2);
    const View2& pd = sized(work_->pd, "pd", N_, h2);
    nn::dense_forward(space, work_->v, first.src, ps, View2());
    nn::dense_forward(space, work_->v, first.dst, pd, View2());
    const auto z1 = mlp.first_preactivation(E_);
    gather_sum2(space, z1, ps, work_->src, pd, work_->dst);
    nn::dense_forward(space, work_->e, first.edge, z1, View2(), nn::Activation::identity, /*accumulate=*/true);
    mlp.forward_tail(space, y);
  }

  /// The two-body radial basis: the first radial_size() columns of the three-body radial functions.
  auto radial_basis() const {
    return Kokkos::subview(work_->radial, Kokkos::ALL, std::make_pair(0, cfg_.radial_size()));
  }

  /// Each structure's per-atom energies and their sum from the readout's outputs
  /// (M3GNetConfig::atom_energies, as the host evaluator: in atom order).
  void add_atom_energies(const Structure* first, const Structure* last, M3GNetOutput* out) const {
    const auto eps = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), work_->eps);
    for (const Structure* s = first; s != last; ++s) {
      const auto k = static_cast<std::size_t>(s - first);
      const auto a0 = static_cast<std::size_t>(work_->atom_offset[k]);
      out[k].energy =
          cfg_.atom_energies([&eps, a0](std::size_t i) { return eps(a0 + i, 0); }, s->types, out[k].atom_energy);
    }
  }

  // --- reverse ---------------------------------------------------------------------------
  /// ∂E/∂v, ∂E/∂e back through the readout, the blocks (last first) and the edge embedding, into
  /// the gradients of the radial basis (drbf), of the triplet bases (dbasis) and of the triplets'
  /// envelope weights (dweight): M3GNetEvaluator::backward's steps, as kernels.
  void reverse(const ExecutionSpace& space) {
    const int u = cfg_.dim;
    seed_readout(space);
    readout_.backward(space, work_->deps, sized(work_->dv, "dv", N_, u));
    zero(space, sized(work_->de, "de", E_, u));
    zero(space, sized(work_->drbf, "drbf", E_, cfg_.radial_size()));
    zero(space, sized(work_->dbasis, "dbasis", T_, 9));
    zero(space, sized(work_->dweight, "dweight", T_));
    sized(work_->dy, "dy", E_, u);
    sized(work_->dm, "dm", E_, u);
    for (std::size_t b = conv_edge_.size(); b-- > 0;) {
      conv_reverse(space, b, /*node=*/true);
      conv_reverse(space, b, /*node=*/false);
      if (T_ > 0) threebody_reverse(space, b);
    }
    // Edge embedding: e = SiLU(rbf Wᵀ + b).
    nn::activation_reverse(space, nn::Activation::silu, work_->z, work_->de, work_->de);
    nn::dense_input_gradient(space, work_->de, edge_embedding_, work_->drbf, /*accumulate=*/true);
  }

  /// ∂E/∂ε_i = data_std · w_i (seed_energy_gradient, the host evaluator's seed).
  void seed_readout(const ExecutionSpace& space) {
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> seed(N_);
    seed_energy_gradient(seed, cfg_.data_std, energy_weights_, "M3GNetKernel");
    const View2& deps = sized(work_->deps, "deps", N_, 1);
    auto h = Kokkos::create_mirror_view(deps);
    for (int i = 0; i < N_; ++i) h(i, 0) = seed(i);
    Kokkos::deep_copy(space, deps, h);
  }

  /// Reverse of block b's node update (`node`: v_dst += Y ⊙ (rbf W_nwᵀ)) or edge update (e += Y ⊙
  /// (rbf W_ewᵀ)), Y = G([v_src, v_dst, e]): adds to dv, de and drbf.
  void conv_reverse(const ExecutionSpace& space, const std::size_t b, const bool node) {
    const BlockState& s = work_->blocks[b];
    const int u = cfg_.dim;
    // ∂E/∂(the update): of an edge's message, ∂E/∂v of its destination; of an edge, ∂E/∂e.
    if (node)
      Kokkos::parallel_for("nernst::M3GNetKernel::gather_dst", matrix_policy(space, E_, u),
                           detail::GatherRowsKernel<Scalar, memory_space>{work_->dm, work_->dv, work_->dst});
    const View2& dupdate = node ? work_->dm : work_->de;
    const auto& radial_weight = node ? node_weight_[b] : edge_weight_[b];
    const View2& rw = work_->rw;
    nn::dense_forward(space, radial_basis(), radial_weight, rw, View2());  // rbf W_wᵀ again (cheap)
    product(space, work_->dy, dupdate, rw, false);                          // ∂E/∂Y
    product(space, work_->dm, dupdate, node ? s.y_node : s.y_edge, false);  // ∂E/∂(rbf W_wᵀ)
    nn::dense_input_gradient(space, work_->dm, radial_weight, work_->drbf, /*accumulate=*/true);
    // Through the MLP to its first layer's pre-activations, then back through the split first layer:
    // onto the edges directly, onto the atoms through the projections' per-atom sums.
    const SplitFirstLayer& first = (node ? first_node_ : first_edge_)[b];
    const auto dz1 = (node ? conv_node_ : conv_edge_)[b].backward_tail(space, work_->dy);
    nn::dense_input_gradient(space, dz1, first.edge, work_->de, /*accumulate=*/true);
    const View2& dps = work_->ps;  // ∂E/∂P_s, ∂E/∂P_d (the projections are not needed again)
    const View2& dpd = work_->pd;
    zero(space, dps);
    zero(space, dpd);
    segment_sum(space, dps, work_->by_src, dz1);
    segment_sum(space, dpd, work_->by_dst, dz1);
    nn::dense_input_gradient(space, dps, first.src, work_->dv, /*accumulate=*/true);
    nn::dense_input_gradient(space, dpd, first.dst, work_->dv, /*accumulate=*/true);
  }

  /// Reverse of block b's three-body update: de passes through (e += G_tb(h)) and also back through
  /// G_tb into h, then into the triplet bases, envelope weights and the gates σ(v W_aᵀ + b).
  void threebody_reverse(const ExecutionSpace& space, const std::size_t b) {
    const BlockState& s = work_->blocks[b];
    const View2& dh = work_->h;  // ∂E/∂h (h itself is not needed again)
    tb_bond_[b].backward(space, work_->de, dh);
    Kokkos::parallel_for("nernst::M3GNetKernel::triplet_reverse", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::TripletReverseKernel<Scalar, memory_space>{dh, s.gate, work_->tb_basis,
                                                                            work_->dbasis, work_->tb_weight,
                                                                            work_->dweight, work_->target,
                                                                            work_->gate_atom});
    const View2& ds = sized(work_->ds, "ds", N_, 9);
    Kokkos::parallel_for("nernst::M3GNetKernel::gate_reverse", Kokkos::RangePolicy<ExecutionSpace>(space, 0, N_),
                         detail::GateReverseKernel<Scalar, memory_space>{ds, dh, work_->tb_basis, work_->tb_weight,
                                                                         work_->by_gate.offset, work_->by_gate.member,
                                                                         work_->target});
    nn::activation_reverse(space, nn::Activation::sigmoid, s.gate_z, ds, ds);
    nn::dense_input_gradient(space, ds, tb_atom_[b], work_->dv, /*accumulate=*/true);
  }

  /// ∂E/∂r_e per edge from the reverse pass' basis gradients, then forces and each structure's
  /// virial (edge_gradients_to_forces); copied into out[k]'s host arrays.
  void forces_and_virial(const ExecutionSpace& space, M3GNetOutput* out) {
    const View2& gu = sized(work_->gu, "gu", T_, 3);
    const View2& gw = sized(work_->gw, "gw", T_, 3);
    Kokkos::parallel_for("nernst::M3GNetKernel::triplet_geometry_reverse",
                         Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::TripletGeometryReverseKernel<Scalar, memory_space>{
                             work_->bond_u, work_->bond_w, work_->rvec, work_->radial, work_->radial_d, work_->dbasis,
                             gu, gw, work_->dist});
    const View2& G = sized(work_->grad, "bond_gradient", E_, 3);
    Kokkos::parallel_for("nernst::M3GNetKernel::edge_gradient", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_),
                         detail::EdgeGradientKernel<Scalar, memory_space>{
                             G, work_->rvec, work_->radial_d, work_->drbf, gu, gw, work_->dist, work_->envelope,
                             work_->envelope_d, work_->dweight, work_->env_a, work_->env_b, work_->by_env_a,
                             work_->by_env_b, work_->by_u, work_->by_w, cfg_.radial_size()});
    auto& F = work_->forces;
    if (static_cast<int>(F.extent(0)) != N_)
      F = Kokkos::View<double**, Kokkos::LayoutRight, memory_space>("nernst::M3GNetKernel::forces", N_, 3);
    const auto virials = edge_gradients_to_forces(space, work_->incident, G, work_->rvec, F, work_->edge_offset);
    const auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), F);
    for (std::size_t k = 0; k + 1 < work_->atom_offset.size(); ++k) {
      const int a0 = work_->atom_offset[k], n = work_->atom_offset[k + 1] - a0;
      out[k].virial = virials[k];
      out[k].forces.resize(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out[k].forces[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)] = hf(a0 + i, c);
    }
  }

  M3GNetConfig cfg_;
  ThreeBodyMode mode_ = ThreeBodyMode::matgl;
  View2 embedding_;
  nn::DenseWeights<Scalar, memory_space> edge_embedding_;
  std::vector<nn::DenseWeights<Scalar, memory_space>> tb_atom_, edge_weight_, node_weight_;
  std::vector<nn::GatedMLPKernel<Scalar, ExecutionSpace>> tb_bond_, conv_edge_, conv_node_;
  std::vector<SplitFirstLayer> first_edge_, first_node_;  // the convolutions' first layers, split
  nn::GatedMLPKernel<Scalar, ExecutionSpace> readout_;
  std::vector<double> energy_weights_;

  int N_ = 0, E_ = 0, T_ = 0;
  /// Per-evaluation arrays (a copy of the kernel gets its own: FreshOnCopy).
  struct Work {
    Kokkos::View<double* [3], memory_space> x, shift;
    std::vector<int> atom_offset, edge_offset;  // structure k: atoms [atom_offset[k], atom_offset[k + 1]), edges alike
    std::vector<int> type_h, src_h, dst_h;      // the batch's types and renumbered edge ends, on the host
    std::vector<Scalar> dist_h;                 // one structure's bond lengths (for its triplets)
    Triplets part;                              // one structure's triplets
    Kokkos::View<int*, memory_space> type, src, dst, bond_u, bond_w, env_a, env_b, gate_atom, target;
    Segments<memory_space> by_dst, by_target;
    Segments<memory_space> by_src, by_gate, by_env_a, by_env_b, by_u, by_w;  // the reverse pass' sums
    IncidentEdges<memory_space> incident;
    Triplets trip;
    std::vector<int> pruned;
    M3GNetOutput out;  // energy(): the result before it is handed over
    View2 rvec, radial, radial_d, tb_basis, v, e, eps, z, y, rw, msg, ps, pd, h;
    View1 dist, envelope, envelope_d, tb_weight;
    std::vector<BlockState> blocks;
    View2 deps, dv, de, drbf, dbasis, dy, dm, ds, gu, gw, grad;  // reverse pass
    View1 dweight;
    Kokkos::View<double**, Kokkos::LayoutRight, memory_space> forces;
  };
  FreshOnCopy<Work> work_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
