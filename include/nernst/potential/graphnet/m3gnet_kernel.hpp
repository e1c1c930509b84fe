#pragma once
/// \file
/// \brief M3GNet's energy (forward pass) as Kokkos kernels in any execution space: the first graph
/// network that runs where the System lives, on host threads or a GPU, from one source.
///
/// What it is for: static energies of many structures (ranking orderings by the model, the seed's
/// screen) on a GPU. Forces and stress (the reverse pass) still come from the host evaluator
/// (M3GNetEvaluator); this class computes the same energy, to rounding (the dense layers sum in
/// another order than Eigen's GEMMs: 1e-12 relative in double).
///
/// Where each step runs: graph construction (pymatgen order) and the triplet lists stay on the host
/// (they are O(E) bookkeeping and define the summation order); everything with floating point runs
/// as kernels in ExecutionSpace: bond vectors, radial bases and envelopes, triplet bases,
/// embeddings, every block's three-body sums and gated MLPs (nn::GatedMLPKernel), the convolutions
/// and their sums onto atoms (graphnet::segment_sum), and the readout. The per-atom energies come
/// back to the host to be added, in atom order, as the host evaluator adds them.
///
/// Differences from the host evaluator's layout: the convolutions' first layer multiplies the
/// gathered [v_src, v_dst, e] per edge (no per-atom projections yet), and every layer keeps its
/// activations (no recomputation: energy only needs none kept, a later version will drop them).
/// Both M3GNet bases run here: MP-2021's clamped spherical Bessel basis and MatPES's smooth one
/// (its coefficient table is copied into the functor, since device code cannot read host tables).

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
#include <nernst/potential/graphnet/three_body.hpp>

#include <Eigen/Core>

#include <array>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

namespace detail {

/// MatPES's smooth basis g_0..g_{size−1} (values only) with SmoothBesselTable's coefficients held
/// by value, so that the functor can be copied to a device. Same arithmetic as SmoothBesselBasis.
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
  KOKKOS_INLINE_FUNCTION void operator()(const Scalar& r, Scalar* val) const {
    Scalar sn[kTerms];
    for (int k = 0; k < size + 1; ++k) sn[k] = math::sin(Scalar(w[k]) * r);
    for (int m = 0; m < size; ++m) {
      Scalar s(0);
      for (int k = 0; k < m + 2; ++k) s += Scalar(c[m][k]) * sn[k];
      val[m] = s / r;
    }
  }
};

/// Bond vector r_e = x_dst + image·L − x_src (summed in double, then rounded to Scalar, as the host
/// evaluator), its length, the radial functions of the three-body basis (whose first columns are
/// the two-body basis) and the three-body envelope.
template <class Scalar, class MS, class Basis>
struct EdgeGeometryKernel {
  Kokkos::View<const double* [3], MS> x;
  Kokkos::View<const int*, MS> src, dst;
  Kokkos::View<const int* [3], MS> image;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, radial;
  Kokkos::View<Scalar*, MS> dist, envelope;
  double L[3][3];
  Basis basis;
  Scalar rc3;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    const int s = src(e), d = dst(e);
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      const double v = x(d, k) + (image(e, 0) * L[0][k] + image(e, 1) * L[1][k] + image(e, 2) * L[2][k]) - x(s, k);
      rvec(e, k) = Scalar(v);
      r2 += rvec(e, k) * rvec(e, k);
    }
    const Scalar de = math::sqrt(r2);
    dist(e) = de;
    basis(de, &radial(e, 0));
    envelope(e) = polynomial_envelope(de, rc3);
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
    Scalar dot(0);
    for (int k = 0; k < 3; ++k) dot += rvec(a, k) * rvec(b, k);
    const Scalar c = dot * (Scalar(1) / (dist(a) * dist(b)));
    const Scalar lo = Scalar(-1) + Scalar(1e-7), hi = Scalar(1) - Scalar(1e-7);
    const Scalar cosv = c < lo ? lo : (c > hi ? hi : c);
    Scalar Y[3];
    spherical_harmonics_m0(cosv, Y);
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) basis(t, 3 * l + n) = radial(b, 3 * l + n) * Y[l];
    weight(t) = envelope(env_a(t)) * envelope(env_b(t));
  }
};

/// h(e, k) = Σ_{t → e} (B(t, k) · s(gate_atom(t), k)) · w_t, triplets onto their target edge in
/// order.
template <class Scalar, class MS>
struct ThreeBodySumKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> h, basis, gate;
  Kokkos::View<Scalar*, MS> weight;
  Kokkos::View<int*, MS> offset, member;
  Kokkos::View<const int*, MS> gate_atom;
  KOKKOS_INLINE_FUNCTION void operator()(const int q) const {
    const int e = q / 9, k = q % 9;
    Scalar acc(0);
    for (int m = offset(e); m < offset(e + 1); ++m) {
      const int t = member(m);
      acc += (basis(t, k) * gate(gate_atom(t), k)) * weight(t);
    }
    h(e, k) = acc;
  }
};

/// X(e, ·) = [V(src(e), ·), V(dst(e), ·), F(e, ·)]: a convolution's per-edge input.
template <class Scalar, class MS>
struct EdgeInputKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> x, v, f;
  Kokkos::View<const int*, MS> src, dst;
  int u;
  KOKKOS_INLINE_FUNCTION void operator()(const int q) const {
    const int e = q / (3 * u), j = q % (3 * u);
    x(e, j) = j < u ? v(src(e), j) : (j < 2 * u ? v(dst(e), j - u) : f(e, j - 2 * u));
  }
};

/// out = a ⊙ b (out += a ⊙ b with `accumulate`); with b unallocated, out (+)= a.
template <class OV, class AV, class BV>
struct ProductKernel {
  OV out;
  AV a;
  BV b;
  int cols;
  bool accumulate;
  KOKKOS_INLINE_FUNCTION void operator()(const int q) const {
    const int r = q / cols, j = q % cols;
    const auto p = b.data() != nullptr ? a(r, j) * b(r, j) : a(r, j);
    out(r, j) = accumulate ? out(r, j) + p : p;
  }
};

/// V(i, ·) = table(type(i), ·).
template <class Scalar, class MS>
struct EmbeddingKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> v, table;
  Kokkos::View<const int*, MS> type;
  int u;
  KOKKOS_INLINE_FUNCTION void operator()(const int q) const { v(q / u, q % u) = table(type(q / u), q % u); }
};

}  // namespace detail

/// M3GNet energies in ExecutionSpace (see the file comment).
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
      edge_weight_.emplace_back(nn::Linear<Scalar>(w.edge_weight[b]));
      node_weight_.emplace_back(nn::Linear<Scalar>(w.node_weight[b]));
    }
    readout_ = nn::GatedMLPKernel<Scalar, ExecutionSpace>(w.readout);
  }

  const M3GNetConfig& config() const { return cfg_; }

  /// Total energy (eV) on the graph `g`, and per-atom energies into `atom_energy` when given. `x`:
  /// Cartesian positions (Å), `L`: lattice rows, `types`: model types (M3GNetConfig::type_of).
  double energy(const ExecutionSpace& space, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L,
                const std::vector<int>& types, const PeriodicGraph& g, std::vector<double>* atom_energy = nullptr) {
    if (types.size() != x.size()) throw ValueError("M3GNetKernel: types and positions differ in length");
    N_ = static_cast<int>(x.size());
    E_ = static_cast<int>(g.size());
    upload(x, types, g);
    geometry(space, L);
    triplets(space, g);
    forward(space);
    return add_atom_energies(types, atom_energy);
  }

 private:
  // --- inputs and geometry ---------------------------------------------------------------
  void upload(const std::vector<std::array<double, 3>>& x, const std::vector<int>& types, const PeriodicGraph& g) {
    work_->x = Kokkos::View<double* [3], memory_space>("nernst::M3GNetKernel::x", N_);
    work_->type = to_device(types, "type");
    work_->src = to_device(g.src, "src");
    work_->dst = to_device(g.dst, "dst");
    work_->image = Kokkos::View<int* [3], memory_space>("nernst::M3GNetKernel::image", E_);
    auto hx = Kokkos::create_mirror_view(work_->x);
    auto hi = Kokkos::create_mirror_view(work_->image);
    for (int i = 0; i < N_; ++i)
      for (int k = 0; k < 3; ++k) hx(i, k) = x[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)];
    for (int e = 0; e < E_; ++e)
      for (int k = 0; k < 3; ++k) hi(e, k) = g.image[static_cast<std::size_t>(e)][static_cast<std::size_t>(k)];
    Kokkos::deep_copy(work_->x, hx);
    Kokkos::deep_copy(work_->image, hi);
    work_->by_dst = Segments<memory_space>(g.dst, static_cast<std::size_t>(N_));
  }

  void geometry(const ExecutionSpace& space, const Eigen::Matrix3d& L) {
    sized(work_->rvec, "rvec", E_, 3);
    sized(work_->radial, "radial", E_, cfg_.threebody_size());
    sized(work_->dist, "dist", E_);
    sized(work_->envelope, "envelope", E_);
    if (cfg_.use_smooth)
      run_geometry(space, L, detail::SmoothBesselValues<Scalar>(cfg_.threebody_size()));
    else
      run_geometry(space, L, SphericalBesselBasis<Scalar>(cfg_.cutoff));
  }

  template <class Basis>
  void run_geometry(const ExecutionSpace& space, const Eigen::Matrix3d& L, const Basis& basis) {
    detail::EdgeGeometryKernel<Scalar, memory_space, Basis> k{work_->x,
                                                              work_->src,
                                                              work_->dst,
                                                              work_->image,
                                                              work_->rvec,
                                                              work_->radial,
                                                              work_->dist,
                                                              work_->envelope,
                                                              {},
                                                              basis,
                                                              Scalar(cfg_.threebody_cutoff)};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) k.L[a][b] = L(a, b);
    Kokkos::parallel_for("nernst::M3GNetKernel::geometry", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_), k);
  }

  /// Triplet lists on the host from the kernel's bond lengths (the host evaluator's cut, in the
  /// same scalar), then their bases on the device.
  void triplets(const ExecutionSpace& space, const PeriodicGraph& g) {
    auto hd = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), work_->dist);
    std::vector<Scalar> d(static_cast<std::size_t>(E_));
    for (int e = 0; e < E_; ++e) d[static_cast<std::size_t>(e)] = hd(e);
    build_triplets(g.src, g.dst, d, static_cast<std::size_t>(N_), cfg_.threebody_cutoff, mode_, work_->trip,
                   work_->pruned);
    T_ = static_cast<int>(work_->trip.size());
    work_->bond_u = to_device(work_->trip.bond_u, "bond_u");
    work_->bond_w = to_device(work_->trip.bond_w, "bond_w");
    work_->env_a = to_device(work_->trip.env_a, "env_a");
    work_->env_b = to_device(work_->trip.env_b, "env_b");
    work_->gate_atom = to_device(work_->trip.gate_atom, "gate_atom");
    work_->by_target = Segments<memory_space>(work_->trip.target, static_cast<std::size_t>(E_));
    sized(work_->tb_basis, "tb_basis", T_, 9);
    sized(work_->tb_weight, "tb_weight", T_);
    Kokkos::parallel_for("nernst::M3GNetKernel::triplet_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::TripletBasisKernel<Scalar, memory_space>{
                             work_->bond_u, work_->bond_w, work_->env_a, work_->env_b, work_->rvec, work_->radial,
                             work_->tb_basis, work_->dist, work_->envelope, work_->tb_weight});
  }

  // --- forward ---------------------------------------------------------------------------
  void forward(const ExecutionSpace& space) {
    const int u = cfg_.dim;
    sized(work_->v, "v", N_, u);
    Kokkos::parallel_for("nernst::M3GNetKernel::embedding", Kokkos::RangePolicy<ExecutionSpace>(space, 0, N_ * u),
                         detail::EmbeddingKernel<Scalar, memory_space>{work_->v, embedding_, work_->type, u});
    const auto rbf = Kokkos::subview(work_->radial, Kokkos::ALL, std::make_pair(0, cfg_.radial_size()));
    sized(work_->e, "e", E_, u);
    const View2& z = sized(work_->z, "z", E_, u);
    nn::dense_forward(space, rbf, edge_embedding_, z, work_->e, nn::Activation::silu);
    const View2& y = sized(work_->y, "y", E_, u);
    const View2& rw = sized(work_->rw, "rw", E_, u);
    const View2& xin = sized(work_->xin, "conv_input", E_, 3 * u);
    const View2 none;
    for (std::size_t b = 0; b < conv_edge_.size(); ++b) {
      if (T_ > 0) threebody(space, b, y);
      // Edge update: e += G_e([v_src, v_dst, e]) ⊙ (rbf W_ewᵀ).
      edge_input(space, xin, work_->e);
      conv_edge_[b].forward(space, xin, y);
      nn::dense_forward(space, rbf, edge_weight_[b], rw, none);
      product(space, work_->e, y, rw, true);
      // Node update: v_dst += G_n([v_src, v_dst, e']) ⊙ (rbf W_nwᵀ), summed per atom in edge order.
      edge_input(space, xin, work_->e);
      conv_node_[b].forward(space, xin, y);
      nn::dense_forward(space, rbf, node_weight_[b], rw, none);
      product(space, y, y, rw, false);
      segment_sum(space, work_->v, work_->by_dst, y);
    }
    sized(work_->eps, "eps", N_, 1);
    readout_.forward(space, work_->v, work_->eps);
  }

  /// Three-body update of block b: h_e = Σ_{t → e} B_t ⊙ σ(v W_aᵀ + b)_{gate atom} · w_t, e +=
  /// G_tb(h).
  void threebody(const ExecutionSpace& space, const std::size_t b, const View2& y) {
    const View2& zs = sized(work_->gate_z, "gate_z", N_, 9);
    const View2& s = sized(work_->gate, "gate", N_, 9);
    const View2& h = sized(work_->h, "h", E_, 9);
    nn::dense_forward(space, work_->v, tb_atom_[b], zs, s, nn::Activation::sigmoid);
    Kokkos::parallel_for("nernst::M3GNetKernel::three_body", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_ * 9),
                         detail::ThreeBodySumKernel<Scalar, memory_space>{h, work_->tb_basis, s, work_->tb_weight,
                                                                          work_->by_target.offset,
                                                                          work_->by_target.member, work_->gate_atom});
    tb_bond_[b].forward(space, h, y);
    product(space, work_->e, y, View2(), true);
  }

  void edge_input(const ExecutionSpace& space, const View2& xin, const View2& f) const {
    const int u = cfg_.dim;
    Kokkos::parallel_for("nernst::M3GNetKernel::edge_input", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_ * 3 * u),
                         detail::EdgeInputKernel<Scalar, memory_space>{xin, work_->v, f, work_->src, work_->dst, u});
  }

  static void product(const ExecutionSpace& space, const View2& out, const View2& a, const View2& b,
                      const bool accumulate) {
    const int rows = static_cast<int>(out.extent(0)), cols = static_cast<int>(out.extent(1));
    Kokkos::parallel_for("nernst::M3GNetKernel::product", Kokkos::RangePolicy<ExecutionSpace>(space, 0, rows * cols),
                         detail::ProductKernel<View2, View2, View2>{out, a, b, cols, accumulate});
  }

  /// The per-atom energies and their sum from the readout's outputs (M3GNetConfig::atom_energies,
  /// as the host evaluator).
  double add_atom_energies(const std::vector<int>& types, std::vector<double>* atom_energy) {
    const auto eps = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), work_->eps);
    std::vector<double>& out = atom_energy ? *atom_energy : work_->atom_energy;
    return cfg_.atom_energies([&eps](std::size_t i) { return eps(i, 0); }, types, out);
  }

  /// `v` with exactly these extents: kept when it has them, else allocated without a zero fill
  /// (every array here is written whole before it is read).
  static const View2& sized(View2& v, const char* label, const int rows, const int cols) {
    if (static_cast<int>(v.extent(0)) != rows || static_cast<int>(v.extent(1)) != cols)
      v = View2(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string("nernst::M3GNetKernel::") + label), rows,
                cols);
    return v;
  }
  static const View1& sized(View1& v, const char* label, const int rows) {
    if (static_cast<int>(v.extent(0)) != rows)
      v = View1(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string("nernst::M3GNetKernel::") + label), rows);
    return v;
  }

  static Kokkos::View<int*, memory_space> to_device(const std::vector<int>& v, const char* label) {
    Kokkos::View<int*, memory_space> d(std::string("nernst::M3GNetKernel::") + label, v.size());
    auto h = Kokkos::create_mirror_view(d);
    for (std::size_t i = 0; i < v.size(); ++i) h(i) = v[i];
    Kokkos::deep_copy(d, h);
    return d;
  }

  M3GNetConfig cfg_;
  ThreeBodyMode mode_ = ThreeBodyMode::matgl;
  View2 embedding_;
  nn::DenseWeights<Scalar, memory_space> edge_embedding_;
  std::vector<nn::DenseWeights<Scalar, memory_space>> tb_atom_, edge_weight_, node_weight_;
  std::vector<nn::GatedMLPKernel<Scalar, ExecutionSpace>> tb_bond_, conv_edge_, conv_node_;
  nn::GatedMLPKernel<Scalar, ExecutionSpace> readout_;

  int N_ = 0, E_ = 0, T_ = 0;
  /// Per-evaluation arrays (a copy of the kernel gets its own: FreshOnCopy).
  struct Work {
    Kokkos::View<double* [3], memory_space> x;
    Kokkos::View<int* [3], memory_space> image;
    Kokkos::View<int*, memory_space> type, src, dst, bond_u, bond_w, env_a, env_b, gate_atom;
    Segments<memory_space> by_dst, by_target;
    Triplets trip;
    std::vector<int> pruned;
    std::vector<double> atom_energy;  // when the caller asks for none
    View2 rvec, radial, tb_basis, v, e, eps, z, y, rw, xin, gate_z, gate, h;
    View1 dist, envelope, tb_weight;
  };
  FreshOnCopy<Work> work_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
