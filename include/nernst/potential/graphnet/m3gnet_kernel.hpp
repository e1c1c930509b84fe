#pragma once
/// \file
/// \brief M3GNet's energy (forward pass) as Kokkos kernels in any execution space: the first graph
/// network that runs where the System lives, on host threads or a GPU, from one source.
///
/// What it is for: static energies of many structures (ranking orderings by the model, the
/// seed's screen) on a GPU. Forces and stress (the reverse pass) still come from the host
/// evaluator (M3GNetEvaluator); this class computes the same energy, to rounding (the dense
/// layers sum in another order than Eigen's GEMMs: 1e-12 relative in double).
///
/// Where each step runs: graph construction (pymatgen order) and the triplet lists stay on the
/// host (they are O(E) bookkeeping and define the summation order); everything with floating
/// point runs as kernels in ExecutionSpace: bond vectors, radial bases and envelopes, triplet
/// bases, embeddings, every block's three-body sums and gated MLPs (nn::GatedMLPKernel), the
/// convolutions and their sums onto atoms (graphnet::segment_sum), and the readout. The per-atom
/// energies come back to the host to be added, in atom order, as the host evaluator adds them.
///
/// Differences from the host evaluator's layout: the convolutions' first layer multiplies the
/// gathered [v_src, v_dst, e] per edge (no per-atom projections yet), and every layer keeps its
/// activations (no recomputation: energy only needs none kept, a later version will drop them).
/// Both M3GNet bases run here: MP-2021's clamped spherical Bessel basis and MatPES's smooth one
/// (its coefficient table is copied into the functor, since device code cannot read host tables).

#include <nernst/core/error.hpp>
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

/// Bond vector r_e = x_dst + image·L − x_src (summed in double, then rounded to Scalar, as the
/// host evaluator), its length, the radial functions of the three-body basis (whose first
/// columns are the two-body basis) and the three-body envelope.
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

/// h(e, k) = Σ_{t → e} (B(t, k) · s(gate_atom(t), k)) · w_t, triplets onto their target edge in order.
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

  /// Total energy (eV) on the graph `g`, and per-atom energies into `atom_energy` when given.
  /// `x`: Cartesian positions (Å), `L`: lattice rows, `types`: model types (M3GNetConfig::type_of).
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
  // --- inputs and geometry ----------------------------------------------------------------
  void upload(const std::vector<std::array<double, 3>>& x, const std::vector<int>& types, const PeriodicGraph& g) {
    x_ = Kokkos::View<double* [3], memory_space>("nernst::M3GNetKernel::x", N_);
    type_ = to_device(types, "type");
    src_ = to_device(g.src, "src");
    dst_ = to_device(g.dst, "dst");
    image_ = Kokkos::View<int* [3], memory_space>("nernst::M3GNetKernel::image", E_);
    auto hx = Kokkos::create_mirror_view(x_);
    auto hi = Kokkos::create_mirror_view(image_);
    for (int i = 0; i < N_; ++i)
      for (int k = 0; k < 3; ++k) hx(i, k) = x[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)];
    for (int e = 0; e < E_; ++e)
      for (int k = 0; k < 3; ++k) hi(e, k) = g.image[static_cast<std::size_t>(e)][static_cast<std::size_t>(k)];
    Kokkos::deep_copy(x_, hx);
    Kokkos::deep_copy(image_, hi);
    by_dst_ = Segments<memory_space>(g.dst, static_cast<std::size_t>(N_));
  }

  void geometry(const ExecutionSpace& space, const Eigen::Matrix3d& L) {
    rvec_ = View2("nernst::M3GNetKernel::rvec", E_, 3);
    radial_ = View2("nernst::M3GNetKernel::radial", E_, cfg_.threebody_size());
    dist_ = View1("nernst::M3GNetKernel::dist", E_);
    envelope_ = View1("nernst::M3GNetKernel::envelope", E_);
    if (cfg_.use_smooth)
      run_geometry(space, L, detail::SmoothBesselValues<Scalar>(cfg_.threebody_size()));
    else
      run_geometry(space, L, SphericalBesselBasis<Scalar>(cfg_.cutoff));
  }

  template <class Basis>
  void run_geometry(const ExecutionSpace& space, const Eigen::Matrix3d& L, const Basis& basis) {
    detail::EdgeGeometryKernel<Scalar, memory_space, Basis> k{x_, src_, dst_, image_, rvec_, radial_, dist_, envelope_, {}, basis,
                                                              Scalar(cfg_.threebody_cutoff)};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) k.L[a][b] = L(a, b);
    Kokkos::parallel_for("nernst::M3GNetKernel::geometry", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_), k);
  }

  /// Triplet lists on the host from the kernel's bond lengths (the host evaluator's cut, in the
  /// same scalar), then their bases on the device.
  void triplets(const ExecutionSpace& space, const PeriodicGraph& g) {
    auto hd = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), dist_);
    std::vector<Scalar> d(static_cast<std::size_t>(E_));
    for (int e = 0; e < E_; ++e) d[static_cast<std::size_t>(e)] = hd(e);
    build_triplets(g.src, g.dst, d, static_cast<std::size_t>(N_), cfg_.threebody_cutoff, mode_, trip_, pruned_);
    T_ = static_cast<int>(trip_.size());
    bond_u_ = to_device(trip_.bond_u, "bond_u");
    bond_w_ = to_device(trip_.bond_w, "bond_w");
    env_a_ = to_device(trip_.env_a, "env_a");
    env_b_ = to_device(trip_.env_b, "env_b");
    gate_atom_ = to_device(trip_.gate_atom, "gate_atom");
    by_target_ = Segments<memory_space>(trip_.target, static_cast<std::size_t>(E_));
    tb_basis_ = View2("nernst::M3GNetKernel::tb_basis", T_, 9);
    tb_weight_ = View1("nernst::M3GNetKernel::tb_weight", T_);
    Kokkos::parallel_for("nernst::M3GNetKernel::triplet_basis", Kokkos::RangePolicy<ExecutionSpace>(space, 0, T_),
                         detail::TripletBasisKernel<Scalar, memory_space>{bond_u_, bond_w_, env_a_, env_b_, rvec_, radial_,
                                                                           tb_basis_, dist_, envelope_, tb_weight_});
  }

  // --- forward ----------------------------------------------------------------------------
  void forward(const ExecutionSpace& space) {
    const int u = cfg_.dim;
    v_ = View2("nernst::M3GNetKernel::v", N_, u);
    Kokkos::parallel_for("nernst::M3GNetKernel::embedding", Kokkos::RangePolicy<ExecutionSpace>(space, 0, N_ * u),
                         detail::EmbeddingKernel<Scalar, memory_space>{v_, embedding_, type_, u});
    const auto rbf = Kokkos::subview(radial_, Kokkos::ALL, std::make_pair(0, cfg_.radial_size()));
    e_ = View2("nernst::M3GNetKernel::e", E_, u);
    View2 z("nernst::M3GNetKernel::z", E_, u);
    nn::dense_forward(space, rbf, edge_embedding_, z, e_, nn::Activation::silu);
    View2 y("nernst::M3GNetKernel::y", E_, u), rw("nernst::M3GNetKernel::rw", E_, u);
    View2 xin("nernst::M3GNetKernel::conv_input", E_, 3 * u), none;
    for (std::size_t b = 0; b < conv_edge_.size(); ++b) {
      if (T_ > 0) threebody(space, b, y);
      // Edge update: e += G_e([v_src, v_dst, e]) ⊙ (rbf W_ewᵀ).
      edge_input(space, xin, e_);
      conv_edge_[b].forward(space, xin, y);
      nn::dense_forward(space, rbf, edge_weight_[b], rw, none);
      product(space, e_, y, rw, true);
      // Node update: v_dst += G_n([v_src, v_dst, e']) ⊙ (rbf W_nwᵀ), summed per atom in edge order.
      edge_input(space, xin, e_);
      conv_node_[b].forward(space, xin, y);
      nn::dense_forward(space, rbf, node_weight_[b], rw, none);
      product(space, y, y, rw, false);
      segment_sum(space, v_, by_dst_, y);
    }
    eps_ = View2("nernst::M3GNetKernel::eps", N_, 1);
    readout_.forward(space, v_, eps_);
  }

  /// Three-body update of block b: h_e = Σ_{t → e} B_t ⊙ σ(v W_aᵀ + b)_{gate atom} · w_t, e += G_tb(h).
  void threebody(const ExecutionSpace& space, const std::size_t b, const View2& y) {
    View2 zs("nernst::M3GNetKernel::gate_z", N_, 9), s("nernst::M3GNetKernel::gate", N_, 9), h("nernst::M3GNetKernel::h", E_, 9);
    nn::dense_forward(space, v_, tb_atom_[b], zs, s, nn::Activation::sigmoid);
    Kokkos::parallel_for("nernst::M3GNetKernel::three_body", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_ * 9),
                         detail::ThreeBodySumKernel<Scalar, memory_space>{h, tb_basis_, s, tb_weight_, by_target_.offset,
                                                                           by_target_.member, gate_atom_});
    tb_bond_[b].forward(space, h, y);
    product(space, e_, y, View2(), true);
  }

  void edge_input(const ExecutionSpace& space, const View2& xin, const View2& f) const {
    const int u = cfg_.dim;
    Kokkos::parallel_for("nernst::M3GNetKernel::edge_input", Kokkos::RangePolicy<ExecutionSpace>(space, 0, E_ * 3 * u),
                         detail::EdgeInputKernel<Scalar, memory_space>{xin, v_, f, src_, dst_, u});
  }

  static void product(const ExecutionSpace& space, const View2& out, const View2& a, const View2& b, const bool accumulate) {
    const int rows = static_cast<int>(out.extent(0)), cols = static_cast<int>(out.extent(1));
    Kokkos::parallel_for("nernst::M3GNetKernel::product", Kokkos::RangePolicy<ExecutionSpace>(space, 0, rows * cols),
                         detail::ProductKernel<View2, View2, View2>{out, a, b, cols, accumulate});
  }

  /// data_std·ε_i + mean/N + ref(type_i) per atom, added in atom order (the host evaluator's sum).
  double add_atom_energies(const std::vector<int>& types, std::vector<double>* atom_energy) const {
    auto he = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), eps_);
    const double mean_per_atom = N_ > 0 ? cfg_.data_mean / double(N_) : 0.0;
    double energy = 0;
    if (atom_energy) atom_energy->assign(static_cast<std::size_t>(N_), 0.0);
    for (int i = 0; i < N_; ++i) {
      const double e = cfg_.data_std * static_cast<double>(he(i, 0)) + mean_per_atom +
                       cfg_.element_refs[static_cast<std::size_t>(types[static_cast<std::size_t>(i)])];
      if (atom_energy) (*atom_energy)[static_cast<std::size_t>(i)] = e;
      energy += e;
    }
    return N_ == 0 ? cfg_.data_mean : energy;
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
  Kokkos::View<double* [3], memory_space> x_;
  Kokkos::View<int* [3], memory_space> image_;
  Kokkos::View<int*, memory_space> type_, src_, dst_, bond_u_, bond_w_, env_a_, env_b_, gate_atom_;
  Segments<memory_space> by_dst_, by_target_;
  Triplets trip_;
  std::vector<int> pruned_;
  View2 rvec_, radial_, tb_basis_, v_, e_, eps_;
  View1 dist_, envelope_, tb_weight_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
