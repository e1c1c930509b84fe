#pragma once
/// \file
/// \brief TensorNet forward and reverse pass on a fixed graph: energy, ∂E/∂r_e, forces, virial.
///
/// Implements specs/tensornet.md §3–§11 (matgl's PyG TensorNet, O(3) products). The forward
/// sweep is embedding → nblocks interaction layers → output head; the reverse sweep, written by
/// hand, gives ∂E/∂r_e for every directed edge, from which forces and the strain derivative
/// follow (edge_gradients_to_forces). The scalar type is a template parameter (float, double,
/// nn::Dual<double> for training).
///
/// Layouts. Node features are stacks of U 3×3 matrices per atom, stored as [9·N, U] row-major
/// batches (tensornet_tensors.hpp), so every channel mixing is one GEMM over all atoms. The edge
/// MLPs' outputs are interleaved per channel in matgl ((I, A, S) of channel c at 3c..3c+2); the
/// evaluator permutes the rows of those layers once, at construction, so that the three
/// factors come out as three contiguous blocks of U (same values, no gather per edge).
///
/// Bonds. Every directed edge (i, j, t) has its reverse (j, i, −t) at the same distance, and
/// everything TensorNet computes from an edge except û and Z depends on the distance only (the
/// embedding's distance projections, the layers' edge MLPs, the cutoff). These are computed
/// once per bond (pair of reverse edges) and used for both directions; in the reverse pass both
/// directions' adjoints are summed before going back through them. This halves the dominant
/// dense work. (The pair's two distances agree to rounding; the first edge's is used.)
///
/// Messages. I′ = mix(Wt0, I) is a multiple of Id, A′ antisymmetric and S′ symmetric, so the
/// per-edge messages and their adjoints run on the 10 independent entries of the three parts
/// instead of 27 (pack_parts and friends).
///
/// Memory. Bond-wise work runs in blocks of kEdgeBlock bonds, consumed at once (scattered onto
/// the atoms). The edge MLPs' activations (12·U values per bond and layer) are kept for the
/// reverse pass while they fit in the activation budget (set_activation_budget); above it the
/// reverse pass recomputes each block's activations right before back-propagating through it
/// (one more edge-MLP forward, but no E-sized activation arrays). Per edge only the geometry
/// (r, d, û, basis, cutoff and derivatives) is kept; per atom about a dozen U×9 stacks per
/// layer. All buffers only grow (nn::grow), so repeated evaluations on similar graphs do not
/// allocate.
///
/// Parameter gradients. accumulate_parameter_gradients() reruns the reverse pass with ∂E/∂θ
/// accumulation for every learned tensor (energy only), on one chunk.
///
/// Training (Scalar = nn::Dual<double>, docs/training.md). With a geometry tangent
/// (set_geometry_tangent) every edge vector carries δr_e, and the per-edge geometry is then
/// evaluated in Scalar (dual_edge_geometry) so that the tangent flows through d, û, the basis
/// and the cutoff, and their derivatives; the parameter gradients' tangents are then
/// ∂(D_t E)/∂θ. float and double keep the double-precision geometry path (`if constexpr`).
///
/// Host threads (nn::RowChunks, as CHGNet's and M3GNet's evaluators): edges (geometry), bonds
/// (embedding, messages, edge MLPs and their adjoints) and atoms (the per-atom 3×3 work and the
/// stacks' channel mixing, as row blocks of one GEMM) are split into one contiguous chunk per
/// host thread. Each bond chunk has its own scratch and block buffers. A bond scatters onto both
/// of its atoms (as source of one edge and destination of the other) in the same array, so no
/// edge order gives those sums one writer: every bond chunk but the first sums into a private
/// partial, added in chunk order (no floating-point atomics: bitwise repeatable at a fixed
/// thread count; one chunk runs the serial sums exactly). Per-edge and per-bond outputs (∂E/∂r_e,
/// rbf̄, C̄) have one writer. The bond chunking does not depend on how the graph is ordered.

#include <nernst/core/error.hpp>
#include <nernst/nn/activation.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/basis.hpp>
#include <nernst/potential/graphnet/gather_scatter.hpp>
#include <nernst/potential/graphnet/geometry_tangent.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/tensornet_model.hpp>
#include <nernst/potential/graphnet/tensornet_tensors.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// What one evaluation returns (double regardless of the evaluation scalar).
struct TensorNetOutput {
  double energy = 0;                                 ///< eV
  std::vector<double> atom_energy;                   ///< eV, data_std·ε_i + mean/N + ref(type_i)
  std::vector<std::array<double, 3>> forces;         ///< eV/Å (when gradients were requested)
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  ///< ∂E/∂ε_ab = Σ_e r_ea g_eb (eV)
};

template <class Scalar>
class TensorNetEvaluator {
 public:
  using Mat = nn::RowMatrix<Scalar>;
  using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
  using Index = Eigen::Index;

  /// Bonds per block of the bond-wise work (embedding projections, edge MLPs). With U = 128 a
  /// block's edge-MLP activations (6·U values per bond, twice for σ) take ~0.8 MB in double.
  static constexpr Index kEdgeBlock = 64;
  /// Default of set_activation_budget(): 512 MiB (a ~1900-atom cell in double, ~3800 in float).
  static constexpr double kDefaultActivationBudget = 512.0 * 1024 * 1024;

  TensorNetEvaluator() = default;
  explicit TensorNetEvaluator(const TensorNetModel& model) { set_model(model); }

  const TensorNetConfig& config() const { return cfg_; }

  /// Memory (bytes) the forward may spend on keeping the edge MLPs' activations for the reverse
  /// pass; above it (large graphs) the reverse pass recomputes them block by block instead.
  void set_activation_budget(double bytes) { activation_budget_ = bytes; }
  double activation_budget() const { return activation_budget_; }

  /// Dual scalars only: the geometry tangent of the next evaluate(): displacements δx_i (Å)
  /// and strain δε; every edge vector gets δr_e = δx_dst − δx_src + r_e δε.
  void set_geometry_tangent(const std::vector<std::array<double, 3>>& dx, const Eigen::Matrix3d& deps) {
    static_assert(nn::is_dual_v<Scalar>, "geometry tangents need a Dual scalar");
    tangent_.set(dx, deps);
  }
  void clear_geometry_tangent() { tangent_.clear(); }

  /// Replaces configuration and weights (keeps the workspace).
  void set_model(const TensorNetModel& model) {
    cfg_ = model.config;
    w_ = model.weights.template cast<Scalar>();
    U_ = cfg_.units;
    basis_ = SmoothBesselBasis<double>(cfg_.max_n);
    if constexpr (nn::is_dual_v<Scalar>) dual_basis_ = SmoothBesselBasis<Scalar>(cfg_.max_n);
    // matgl interleaves (I, A, S) per channel in the outputs of the embedding's second scalar
    // layer and of each layer's last edge-MLP layer; permute their rows to three blocks of U.
    w_.embedding_mlp[1] = deinterleave(w_.embedding_mlp[1]);
    for (auto& l : w_.layers) l.edge_mlp[2] = deinterleave(l.edge_mlp[2]);
    // The three distance projections stacked: one [max_n → 3U] layer.
    nn::RowMatrix<Scalar> P(3 * U_, cfg_.max_n);
    Row p(3 * U_);
    for (Index k = 0; k < 3; ++k) {
      P.middleRows(k * U_, U_) = w_.distance_proj[static_cast<std::size_t>(k)].weight;
      p.segment(k * U_, U_) = w_.distance_proj[static_cast<std::size_t>(k)].bias;
    }
    proj_ = nn::Linear<Scalar>(std::move(P), std::move(p));
    // emb2 split into its source and destination halves (projected once per atom).
    pair_src_ = w_.pair_embedding.weight.leftCols(U_);
    pair_dst_ = w_.pair_embedding.weight.rightCols(U_);
  }

  /// Weights w_i of the atoms' energies in the quantity the reverse pass differentiates:
  /// forces and virial become those of Σ_i w_i E_i (empty = all 1). Local evaluation (C API,
  /// LAMMPS) weights owned atoms 1 and ghosts 0; the energies themselves are not weighted.
  void set_energy_weights(std::vector<double> w) { energy_weights_ = std::move(w); }

  /// Evaluates on the graph `g`. `x`: Cartesian positions (Å), `L`: lattice rows, `types`:
  /// model types (TensorNetConfig::type_of). With `gradients` the forces and virial are filled.
  void evaluate(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const std::vector<int>& types,
                const PeriodicGraph& g, bool gradients, TensorNetOutput& out) {
    N_ = static_cast<Index>(x.size());
    E_ = static_cast<Index>(g.size());
    if (types.size() != x.size()) throw ValueError("TensorNet: types and positions differ in length");
    for (int t : types)
      if (t < 0 || static_cast<std::size_t>(t) >= cfg_.element_types.size())
        throw ValueError("TensorNet: atom type " + std::to_string(t) + " outside the model's element table");
    pair_edges(g);
    split_rows(nn::host_threads());
    geometry(x, L, g);
    gather_bond_features();
    types_ = types;
    embedding_forward(types, g);
    caches_.resize(w_.layers.size());
    for (std::size_t l = 0; l < w_.layers.size(); ++l) layer_forward(l, g);
    output_forward();
    out.energy = 0;
    out.atom_energy.assign(x.size(), 0.0);
    const double mean_per_atom = N_ > 0 ? cfg_.data_mean / double(N_) : 0.0;
    for (Index i = 0; i < N_; ++i) {
      const double e = cfg_.data_std * static_cast<double>(eps_(i, 0)) + mean_per_atom +
                       cfg_.element_refs[static_cast<std::size_t>(types[static_cast<std::size_t>(i)])];
      out.atom_energy[static_cast<std::size_t>(i)] = e;
      out.energy += e;
    }
    if (N_ == 0) out.energy = cfg_.data_mean;
    if (!gradients) return;
    backward(g);
    edge_gradients_to_forces(g, gvec_.topRows(E_), rvec_.topRows(E_), static_cast<std::size_t>(N_), out.forces,
                             out.virial);
  }

  /// Adds ∂E/∂θ of the last evaluate() (on the same graph `g`) for every learned tensor to `grad`
  /// (matgl's layouts, the shapes of the model's weights: zero_tensornet_gradients). E is the
  /// energy only (no force or stress terms); data_std, data_mean and the element references are
  /// not included. Runs one more reverse pass.
  void accumulate_parameter_gradients(const PeriodicGraph& g, TensorNetWeights<Scalar>& grad) {
    if (static_cast<Index>(g.size()) != E_ || static_cast<Index>(types_.size()) != N_)
      throw ValueError("TensorNet: parameter gradients need the graph of the last evaluate()");
    grad_ = zero_tensornet_gradients<Scalar>(w_);
    grad_proj_ = nn::Linear<Scalar>(nn::RowMatrix<Scalar>::Zero(proj_.weight.rows(), proj_.weight.cols()),
                                    Row::Zero(proj_.bias.size()));
    split_rows(1);  // the parameter gradients' sums run on one chunk
    backward(g, &grad_);
    add_to_matgl_layout(grad_, grad);
  }

  /// ∂E/∂r_e of the last evaluation with gradients ([E, 3]).
  auto bond_gradient() const { return gvec_.topRows(E_); }

  /// Node stack X after the embedding (layer = 0) or after interaction layer `layer` − 1
  /// (layer ≥ 1) of the last evaluation: [9·N, U], row 9i + 3a + b (tensornet_tensors.hpp).
  /// For checks against matgl's intermediates.
  const Mat& node_tensors(std::size_t layer) const { return layer == 0 ? x_embed_ : caches_.at(layer - 1).xout; }
  /// Per-atom ε_i of the last evaluation ([N, 1]), before data_std and the references.
  auto atom_outputs() const { return eps_.topRows(N_); }

 private:
  // --- set-up -----------------------------------------------------------------------------
  /// Rows 3c + k of matgl's layout go to row k·U + c.
  nn::Linear<Scalar> deinterleave(const nn::Linear<Scalar>& l) const {
    nn::RowMatrix<Scalar> W(l.weight.rows(), l.weight.cols());
    Row b(l.weight.rows());
    for (Index c = 0; c < U_; ++c)
      for (Index k = 0; k < 3; ++k) {
        W.row(k * U_ + c) = l.weight.row(3 * c + k);
        b[k * U_ + c] = l.bias[3 * c + k];
      }
    return nn::Linear<Scalar>(std::move(W), std::move(b));
  }

  /// grad += g, from the evaluator's layout (two interleaved layers permuted, distance
  /// projections stacked in grad_proj_) to matgl's.
  void add_to_matgl_layout(TensorNetWeights<Scalar>& g, TensorNetWeights<Scalar>& grad) const {
    const auto interleave = [this](const nn::Linear<Scalar>& from, nn::Linear<Scalar>& to) {
      for (Index c = 0; c < U_; ++c)
        for (Index k = 0; k < 3; ++k) {
          to.weight.row(3 * c + k) += from.weight.row(k * U_ + c);
          to.bias[3 * c + k] += from.bias[k * U_ + c];
        }
    };
    interleave(g.embedding_mlp[1], grad.embedding_mlp[1]);
    g.embedding_mlp[1].weight.setZero();
    g.embedding_mlp[1].bias.setZero();
    for (std::size_t l = 0; l < g.layers.size(); ++l) {
      interleave(g.layers[l].edge_mlp[2], grad.layers[l].edge_mlp[2]);
      g.layers[l].edge_mlp[2].weight.setZero();
      g.layers[l].edge_mlp[2].bias.setZero();
    }
    for (Index k = 0; k < 3; ++k) {
      auto& d = grad.distance_proj[static_cast<std::size_t>(k)];
      d.weight += grad_proj_.weight.middleRows(k * U_, U_);
      d.bias += grad_proj_.bias.segment(k * U_, U_);
    }
    // Everything else has the same layout: add tensor by tensor.
    std::vector<Scalar*> src;
    visit_tensornet_parameters(
        g, [&](const std::string&, Scalar* d, const std::vector<std::int64_t>&) { src.push_back(d); });
    std::size_t t = 0;
    visit_tensornet_parameters(grad, [&](const std::string&, Scalar* d, const std::vector<std::int64_t>& shape) {
      std::int64_t n = 1;
      for (auto x : shape) n *= x;
      for (std::int64_t i = 0; i < n; ++i) d[i] += src[t][i];
      ++t;
    });
    sync_tensornet_weights(grad);
  }

  Scalar* node(Mat& m, Index i) const { return m.data() + 9 * U_ * i; }
  const Scalar* node(const Mat& m, Index i) const { return m.data() + 9 * U_ * i; }
  auto stack(Mat& m) const { return nn::grow(m, 9 * N_, U_); }

  // --- geometry (§3–§5) -------------------------------------------------------------------
  /// Per edge: r_e, d_e, û_e, the radial basis, the cosine cutoff and their derivatives. They
  /// are computed in double whatever Scalar is and then rounded once: the basis functions are
  /// sums of sines that cancel near the cutoff, which float arithmetic would resolve poorly,
  /// and this per-edge work is negligible beside the dense layers.
  void geometry(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const PeriodicGraph& g) {
    nn::grow(rvec_, E_, 3);
    nn::grow(unit_, E_, 3);
    nn::grow(rbf_, E_, cfg_.max_n);
    nn::grow(drbf_, E_, cfg_.max_n);
    dist_.resize(static_cast<std::size_t>(E_));
    fc_.resize(static_cast<std::size_t>(E_));
    dfc_.resize(static_cast<std::size_t>(E_));
    if constexpr (nn::is_dual_v<Scalar>)
      if (tangent_.active && tangent_.dx.size() != x.size())
        throw ValueError("TensorNet: the geometry tangent has " + std::to_string(tangent_.dx.size()) +
                         " displacements for " + std::to_string(x.size()) + " atoms");
    edges_.run([&](int, Index e0, Index e1) {
      for (Index e = e0; e < e1; ++e) edge_geometry(x, L, g, e);
    });
  }

  /// geometry() of edge e.
  void edge_geometry(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const PeriodicGraph& g,
                     Index e) {
    const Index nr = cfg_.max_n;
    const double rc = cfg_.cutoff;
    const double pi = 3.14159265358979323846;
    double val[SmoothBesselTable::max_functions], der[SmoothBesselTable::max_functions];
    const auto es = static_cast<std::size_t>(e);
    const auto s = static_cast<std::size_t>(g.src[es]);
    const auto d = static_cast<std::size_t>(g.dst[es]);
    const auto& t = g.image[es];
    double r[3], r2 = 0;
    for (int k = 0; k < 3; ++k) {
      const auto ks = static_cast<std::size_t>(k);
      r[k] = x[d][ks] + (t[0] * L(0, k) + t[1] * L(1, k) + t[2] * L(2, k)) - x[s][ks];
      r2 += r[k] * r[k];
    }
    const double de = std::sqrt(r2);
    if (!(de > 0))
      throw ValueError("TensorNet: edge " + std::to_string(e) + " joins atoms " + std::to_string(s) + " and " +
                       std::to_string(d) + " at zero distance (overlapping atoms)");
    if constexpr (nn::is_dual_v<Scalar>) {
      dual_edge_geometry(e, r, s, d);
      return;
    }
    dist_[es] = Scalar(de);
    const double du = de > 1e-6 ? de : 1e-6;  // E3's clamp (never active for real structures)
    for (int k = 0; k < 3; ++k) {
      rvec_(e, k) = Scalar(r[k]);
      unit_(e, k) = Scalar(r[k] / du);
    }
    basis_(de, val, der);
    for (Index k = 0; k < nr; ++k) {
      rbf_(e, k) = Scalar(val[k]);
      drbf_(e, k) = Scalar(der[k]);
    }
    // Cosine cutoff (§5), computed as cos((π·d)/5).
    const bool inside = de <= rc;
    fc_[es] = inside ? Scalar(0.5 * (std::cos((pi * de) / rc) + 1.0)) : Scalar(0);
    dfc_[es] = inside ? Scalar(-0.5 * (pi / rc) * std::sin((pi * de) / rc)) : Scalar(0);
  }

  /// edge_geometry() in Scalar = Dual (training): the edge vector `r` seeded with the geometry
  /// tangent (when one is set), then d, û, the basis, the cosine cutoff and their derivatives
  /// by the Dual arithmetic, which carries δd into all of them (and into the derivatives the
  /// reverse pass uses, so that ∂E/∂r_e gets its tangent too). Same operations as the double path.
  void dual_edge_geometry(Index e, const double* r, std::size_t s, std::size_t d) {
    using math::cos;
    using math::sin;
    using math::sqrt;
    const auto es = static_cast<std::size_t>(e);
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      rvec_(e, k) = Scalar(r[k]);
      r2 += rvec_(e, k) * rvec_(e, k);
    }
    if (tangent_.active) r2 = tangent_.template seed<Scalar>(rvec_.row(e), s, d);
    const Scalar de = sqrt(r2);
    dist_[es] = de;
    const Scalar du = de > Scalar(1e-6) ? de : Scalar(1e-6);
    for (int k = 0; k < 3; ++k) unit_(e, k) = rvec_(e, k) / du;
    Scalar val[SmoothBesselTable::max_functions], der[SmoothBesselTable::max_functions];
    dual_basis_(de, val, der);
    for (Index k = 0; k < cfg_.max_n; ++k) {
      rbf_(e, k) = val[k];
      drbf_(e, k) = der[k];
    }
    const double pi = 3.14159265358979323846, rc = cfg_.cutoff;
    const bool inside = de <= Scalar(rc);
    const Scalar arg = (Scalar(pi) * de) / Scalar(rc);
    fc_[es] = inside ? Scalar(0.5) * (cos(arg) + Scalar(1)) : Scalar(0);
    dfc_[es] = inside ? Scalar(-0.5 * (pi / rc)) * sin(arg) : Scalar(0);
  }

  /// Pairs every edge with its reverse (same atoms swapped, opposite image): bond b holds edges
  /// bond_edge_[2b] and bond_edge_[2b + 1] (−1 for an edge without a reverse, which a symmetric
  /// neighbour list never has). On one thread (a sort: a few % of an evaluation).
  void pair_edges(const PeriodicGraph& g) {
    using Key = std::array<int, 5>;
    const auto key = [&g](std::size_t e, bool reverse) {
      const auto& t = g.image[e];
      return reverse ? Key{g.dst[e], g.src[e], -t[0], -t[1], -t[2]} : Key{g.src[e], g.dst[e], t[0], t[1], t[2]};
    };
    const auto E = static_cast<std::size_t>(E_);
    edge_order_.resize(E);
    for (std::size_t e = 0; e < E; ++e) edge_order_[e] = static_cast<int>(e);
    std::sort(edge_order_.begin(), edge_order_.end(), [&](int a, int b) {
      return key(static_cast<std::size_t>(a), false) < key(static_cast<std::size_t>(b), false);
    });
    paired_.assign(E, 0);
    bond_edge_.clear();
    for (std::size_t e = 0; e < E; ++e) {
      if (paired_[e]) continue;
      paired_[e] = 1;
      const Key rk = key(e, true);
      auto it = std::lower_bound(edge_order_.begin(), edge_order_.end(), rk,
                                 [&](int a, const Key& k) { return key(static_cast<std::size_t>(a), false) < k; });
      int partner = -1;
      if (it != edge_order_.end() && key(static_cast<std::size_t>(*it), false) == rk &&
          !paired_[static_cast<std::size_t>(*it)]) {
        partner = *it;
        paired_[static_cast<std::size_t>(partner)] = 1;
      }
      bond_edge_.push_back(static_cast<int>(e));
      bond_edge_.push_back(partner);
    }
    B_ = static_cast<Index>(bond_edge_.size() / 2);
  }

  /// The first edge's radial basis and cutoff per bond.
  void gather_bond_features() {
    auto R = nn::grow(bond_rbf_, B_, cfg_.max_n);
    bond_fc_.resize(static_cast<std::size_t>(B_));
    bonds_.run([&](int, Index b0, Index b1) {
      for (Index b = b0; b < b1; ++b) {
        const Index e = bond_edge_[static_cast<std::size_t>(2 * b)];
        R.row(b) = rbf_.row(e);
        bond_fc_[static_cast<std::size_t>(b)] = fc_[static_cast<std::size_t>(e)];
      }
    });
  }

  // --- rows over host threads (nn::RowChunks) ----------------------------------------------
  /// What one chunk works in: scratch and the bond blocks' buffers.
  struct ChunkWork {
    std::vector<Scalar> scratch;
    Mat a, da;                          // the embedding's per-bond factors and their adjoints
    std::array<Mat, 3> act, sig, dact;  // a block's edge-MLP activations, σ (when not kept), adjoints
  };

  /// Chunks for this evaluation: edges, bonds (at least 256 per chunk), atoms (at least 16: each
  /// carries 9 rows of U channels) and the rows of the 9- and 10-row stacks (adding partials).
  void split_rows(int threads) {
    edges_.split(E_, threads);
    bonds_.split(B_, threads);
    atoms_.split(N_, threads, 16);
    node_rows_.split(9 * N_, threads, 9 * 16);
    packed_rows_.split(kPacked * N_, threads, kPacked * 16);
    const auto most = static_cast<std::size_t>(std::max({edges_.size(), bonds_.size(), atoms_.size()}));
    if (work_.size() < most) work_.resize(most);
  }

  /// f(chunk, i) for every atom i, atoms split over the chunks.
  template <class F>
  void for_atoms(const F& f) const {
    atoms_.run([&](int ch, Index a0, Index a1) {
      for (Index i = a0; i < a1; ++i) f(ch, i);
    });
  }

  /// out = in·w (out += in·w with `add`) on the rows of atoms [a0, a1) of [9N, U] stacks (`out`
  /// already sized): one GEMM per atom chunk, inside the chunk's region.
  template <class W>
  static void mix(Mat& out, const Mat& in, const W& w, Index a0, Index a1, bool add = false) {
    const Index r0 = 9 * a0, n = 9 * (a1 - a0);
    if (add)
      out.middleRows(r0, n).noalias() += in.middleRows(r0, n) * w;
    else
      out.middleRows(r0, n).noalias() = in.middleRows(r0, n) * w;
  }

  /// Base of the [rows, U] sum that bond chunk ch adds into: `dest` for chunk 0, its private
  /// partial otherwise (nn::partial_of; the partials zeroed by nn::zero_partials).
  Scalar* sum_of(int ch, Mat& dest, std::vector<Mat>& parts, Index rows) const {
    return nn::partial_of(ch, dest.topRows(rows), parts, rows).data();
  }

  /// The edges of bond b (one or two).
  int bond_size(Index b) const { return bond_edge_[static_cast<std::size_t>(2 * b + 1)] < 0 ? 1 : 2; }
  Index bond_edge(Index b, int k) const { return bond_edge_[static_cast<std::size_t>(2 * b + k)]; }

  /// Z_e = emb2([x_src, x_dst]) of edge e into z ([U]).
  void pair_embedding_of(const PeriodicGraph& g, Index e, Scalar* z) const {
    const Scalar* ps = &pair_ps_(g.src[static_cast<std::size_t>(e)], 0);
    const Scalar* pd = &pair_pd_(g.dst[static_cast<std::size_t>(e)], 0);
    for (Index c = 0; c < U_; ++c) z[c] = ps[c] + pd[c];
  }

  /// skew(û) and sym(û) of edge e (§6), row-major 3×3.
  void edge_frames(Index e, Scalar* sk, Scalar* sy) const {
    const Scalar ux = unit_(e, 0), uy = unit_(e, 1), uz = unit_(e, 2);
    sk[0] = Scalar(0), sk[1] = -uz, sk[2] = uy;
    sk[3] = uz, sk[4] = Scalar(0), sk[5] = -ux;
    sk[6] = -uy, sk[7] = ux, sk[8] = Scalar(0);
    const Scalar u[3] = {ux, uy, uz};
    const Scalar n3 = (ux * ux + uy * uy + uz * uz) / Scalar(3);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) sy[3 * a + b] = u[a] * u[b] - (a == b ? n3 : Scalar(0));
  }

  // --- embedding (§7) ---------------------------------------------------------------------
  /// The embedding's per-bond factors for bonds [b0, b0 + n): a = rbf·Pᵀ + p ([n, 3U], the
  /// un-cut W1..W3).
  void embedding_bond_block(ChunkWork& wk, Index b0, Index n) const {
    auto a = nn::grow(wk.a, n, 3 * U_);
    proj_.forward(bond_rbf_.middleRows(b0, n), a);
  }

  /// E5: Ī, Ā, S̄ summed onto the destination atoms (emb_i_, emb_a_, emb_s_), bonds in chunks.
  void embedding_scatter(const PeriodicGraph& g) {
    const Index U = U_;
    stack(emb_i_).setZero();
    stack(emb_a_).setZero();
    stack(emb_s_).setZero();
    nn::zero_partials(part_i_, bonds_, 9 * N_, U);
    nn::zero_partials(part_a_, bonds_, 9 * N_, U);
    nn::zero_partials(part_s_, bonds_, 9 * N_, U);
    bonds_.run([&](int ch, Index bb, Index be) {
      ChunkWork& wk = work_[static_cast<std::size_t>(ch)];
      Scalar* const sums[3] = {sum_of(ch, emb_i_, part_i_, 9 * N_), sum_of(ch, emb_a_, part_a_, 9 * N_),
                               sum_of(ch, emb_s_, part_s_, 9 * N_)};
      Scalar* w1 = scratch(wk, 4 * U);
      for (Index b0 = bb; b0 < be; b0 += kEdgeBlock) {
        const Index n = std::min(kEdgeBlock, be - b0);
        embedding_bond_block(wk, b0, n);
        for (Index k = 0; k < n; ++k)
          for (int side = 0; side < bond_size(b0 + k); ++side)
            embedding_edge(g, bond_edge(b0 + k, side), bond_fc_[static_cast<std::size_t>(b0 + k)], &wk.a(k, 0), w1,
                           sums);
      }
    });
    // nn::add_partials for the three stacks in one region.
    node_rows_.run([&](int, Index r0, Index r1) {
      for (std::size_t c = 0; c + 1 < static_cast<std::size_t>(bonds_.size()); ++c) {
        emb_i_.middleRows(r0, r1 - r0) += part_i_[c].middleRows(r0, r1 - r0);
        emb_a_.middleRows(r0, r1 - r0) += part_a_[c].middleRows(r0, r1 - r0);
        emb_s_.middleRows(r0, r1 - r0) += part_s_[c].middleRows(r0, r1 - r0);
      }
    });
  }

  /// Edge e's share of E5 onto its destination's Ī, Ā, S̄ in `sums` (bases of three [9N, U]
  /// stacks); `a`: the bond's factors, C its cutoff, `w` scratch of 4U.
  void embedding_edge(const PeriodicGraph& g, Index e, Scalar C, const Scalar* a, Scalar* w,
                      Scalar* const sums[3]) const {
    const Index U = U_;
    Scalar *w1 = w, *w2 = w1 + U, *w3 = w2 + U, *z = w3 + U;
    const Index i = g.dst[static_cast<std::size_t>(e)];
    pair_embedding_of(g, e, z);
    for (Index c = 0; c < U; ++c) {
      w1[c] = z[c] * (a[c] * C);
      w2[c] = z[c] * (a[U + c] * C);
      w3[c] = z[c] * (a[2 * U + c] * C);
    }
    Scalar sk[9], sy[9];
    edge_frames(e, sk, sy);
    Scalar* I = sums[0] + 9 * U * i;
    Scalar* A = sums[1] + 9 * U * i;
    Scalar* S = sums[2] + 9 * U * i;
    for (int d = 0; d < 3; ++d) axpy(w1, Scalar(1), I + 4 * d * U);
    for (int ab = 0; ab < 9; ++ab) {
      if (sk[ab] != Scalar(0) || ab % 4 != 0) axpy(w2, sk[ab], A + ab * U);
      axpy(w3, sy[ab], S + ab * U);
    }
  }

  void embedding_forward(const std::vector<int>& types, const PeriodicGraph& g) {
    const Index U = U_;
    // Z_e = x_src·Wz_srcᵀ + x_dst·Wz_dstᵀ + bz, with the node halves projected once per atom.
    auto xe = nn::grow(tmp_nu_, N_, U);
    for (Index i = 0; i < N_; ++i) xe.row(i) = w_.element_embedding.row(types[static_cast<std::size_t>(i)]);
    nn::grow(pair_ps_, N_, U).noalias() = xe * pair_src_.transpose();
    auto pd = nn::grow(pair_pd_, N_, U);
    pd.rowwise() = w_.pair_embedding.bias;
    pd.noalias() += xe * pair_dst_.transpose();
    embedding_scatter(g);
    // E6, E7: n = ‖Ī + Ā + S̄‖², LayerNorm.
    auto nl = nn::grow(emb_n_, N_, U);
    for_atoms([&](int ch, Index i) {
      Scalar* sum = scratch(ch, 9 * U);
      part_sum(node(emb_i_, i), node(emb_a_, i), node(emb_s_, i), sum);
      tensornet::sq_norm(sum, &nl(i, 0), U);
    });
    nn::grow(emb_xhat_, N_, U);
    emb_rstd_.resize(N_);
    w_.init_norm.forward(nl, emb_xhat_.topRows(N_), emb_rstd_);
    // E8: h = SiLU(SiLU(n′ Ws0ᵀ + b) Ws1ᵀ + b), h in blocks (fI | fA | fS).
    auto h0 = nn::grow(emb_h0_, N_, 2 * U);
    w_.embedding_mlp[0].forward(nl, h0);
    nn::silu_forward<Scalar>(h0, nn::grow(emb_h0s_, N_, 2 * U));
    auto h = nn::grow(emb_h_, N_, 3 * U);
    w_.embedding_mlp[1].forward(h0, h);
    nn::silu_forward<Scalar>(h, nn::grow(emb_hs_, N_, 3 * U));
    // E10: X = fI·mix(Wt0, Ī) + fA·mix(Wt1, Ā) + fS·mix(Wt2, S̄).
    stack(emb_mi_), stack(emb_ma_), stack(emb_ms_), stack(x_embed_);
    atoms_.run([&](int, Index a0, Index a1) {
      mix(emb_mi_, emb_i_, w_.embedding_mix[0].transpose(), a0, a1);
      mix(emb_ma_, emb_a_, w_.embedding_mix[1].transpose(), a0, a1);
      mix(emb_ms_, emb_s_, w_.embedding_mix[2].transpose(), a0, a1);
      for (Index i = a0; i < a1; ++i) {
        const Scalar* f = &emb_h_(i, 0);
        const Scalar *mi = node(emb_mi_, i), *ma = node(emb_ma_, i), *ms = node(emb_ms_, i);
        Scalar* X = node(x_embed_, i);
        for (int ab = 0; ab < 9; ++ab)
          for (Index c = 0; c < U; ++c)
            X[ab * U + c] = f[c] * mi[ab * U + c] + f[U + c] * ma[ab * U + c] + f[2 * U + c] * ms[ab * U + c];
      }
    });
  }

  static void axpy_n(const Scalar* x, Scalar a, Scalar* y, Index n) {
    for (Index c = 0; c < n; ++c) y[c] += a * x[c];
  }
  void axpy(const Scalar* x, Scalar a, Scalar* y) const { axpy_n(x, a, y, U_); }

  /// A scratch run of at least n scalars of one chunk (one at a time; grows, never shrinks).
  static Scalar* scratch(ChunkWork& wk, Index n) {
    if (wk.scratch.size() < static_cast<std::size_t>(n)) wk.scratch.resize(static_cast<std::size_t>(n));
    return wk.scratch.data();
  }
  Scalar* scratch(int ch, Index n) { return scratch(work_[static_cast<std::size_t>(ch)], n); }

  /// out = i + a + s for one atom's 9×U block.
  void part_sum(const Scalar* i, const Scalar* a, const Scalar* s, Scalar* out) const {
    for (Index k = 0; k < 9 * U_; ++k) out[k] = i[k] + a[k] + s[k];
  }

  // --- interaction layers (§8) ------------------------------------------------------------
  struct LayerCache {
    std::array<Mat, 3> act, sig;  // edge-MLP activations and σ per bond (when kept)
    bool kept = false;
    Mat xhat, s;        // X̂ = X/s and s = ‖X‖² + 1 ([N, U])
    Mat ip, ap, sp, y;  // I′, A′, S′ and Y = I′ + A′ + S′
    Mat m;              // M (messages)
    Mat packed;         // I′, A′, S′ packed (pack_parts)
    Mat it, at, st, p;  // Ĩ, Ã, S̃ (the parts of T divided by p) and p = ‖T‖² + 1
    Mat dx, xout;       // dX and the layer output
  };

  /// Where a block's edge-MLP activations live: rows [r0, r0 + n) of act/sig (the layer's kept
  /// arrays, r0 = b0) or rows [0, n) of the block scratch (r0 = 0).
  struct MlpRows {
    std::array<Mat, 3>* act;
    std::array<Mat, 3>* sig;
    Index r0;
  };

  /// The rows of the block of bonds from b0: the layer's kept activations or the chunk's block.
  static MlpRows block_rows(LayerCache& C, ChunkWork& wk, Index b0) {
    return C.kept ? MlpRows{&C.act, &C.sig, b0} : MlpRows{&wk.act, &wk.sig, 0};
  }

  /// Sizes `act`/`sig` for `rows` rows of the three layer widths.
  void grow_mlp(std::array<Mat, 3>& act, std::array<Mat, 3>& sig, Index rows) const {
    const Index widths[3] = {U_, 2 * U_, 3 * U_};
    for (std::size_t k = 0; k < 3; ++k) {
      nn::grow(act[k], rows, widths[k]);
      nn::grow(sig[k], rows, widths[k]);
    }
  }

  /// Every bond chunk's block activations (for edge MLPs whose activations are not kept).
  void grow_block_mlps() {
    for (int ch = 0; ch < bonds_.size(); ++ch) {
      ChunkWork& wk = work_[static_cast<std::size_t>(ch)];
      grow_mlp(wk.act, wk.sig, kEdgeBlock);
    }
  }

  /// True when both layers' edge-MLP activations (6U values and their σ per bond) fit in the
  /// activation budget: then the forward keeps them and the reverse pass does not recompute.
  bool keep_edge_activations() const {
    const double bytes = double(B_) * double(12 * U_) * double(sizeof(Scalar)) * double(w_.layers.size());
    return bytes <= activation_budget_;
  }

  /// The edge MLP of a layer on bonds [b0, b0 + n) into `r`; φ (before ×C) is act[2], in blocks
  /// (gI | gA | gS).
  void edge_mlp_block(const TensorNetLayerWeights<Scalar>& w, Index b0, Index n, const MlpRows& r) {
    for (std::size_t k = 0; k < 3; ++k) {
      auto A = (*r.act)[k].middleRows(r.r0, n);
      if (k == 0)
        w.edge_mlp[0].forward(bond_rbf_.middleRows(b0, n), A);
      else
        w.edge_mlp[k].forward((*r.act)[k - 1].middleRows(r.r0, n), A);
      nn::silu_forward<Scalar>(A, (*r.sig)[k].middleRows(r.r0, n));
    }
  }

  // --- packed parts (L5) ------------------------------------------------------------------
  // I′ = mix(Wt0, I) is a multiple of Id, A′ is antisymmetric and S′ symmetric (channel mixing
  // keeps each class exactly). The messages only need their independent entries, 10 rows per
  // atom: r0 = I′₀₀; r1..3 = A′₀₁, A′₀₂, A′₁₂; r4..6 = S′₀₀, S′₁₁, S′₂₂; r7..9 = S′₀₁, S′₀₂, S′₁₂.
  static constexpr int kPacked = 10;
  /// Which factor (0 = gI, 1 = gA, 2 = gS) multiplies packed row r.
  static int packed_class(int r) { return r == 0 ? 0 : (r < 4 ? 1 : 2); }
  Scalar* packed(Mat& m, Index i) const { return m.data() + kPacked * U_ * i; }
  const Scalar* packed(const Mat& m, Index i) const { return m.data() + kPacked * U_ * i; }

  /// y[c] += a[c]·x[c].
  void axpy_mul(const Scalar* a, const Scalar* x, Scalar* y) const {
    for (Index c = 0; c < U_; ++c) y[c] += a[c] * x[c];
  }

  /// I′, A′, S′ of atom i → its packed rows (C.packed).
  void pack_parts(LayerCache& C, Index i) const {
    const Index U = U_;
    static constexpr int kA[3] = {1, 2, 5}, kS[6] = {0, 4, 8, 1, 2, 5};
    Scalar* p = packed(C.packed, i);
    const Scalar *ip = node(C.ip, i), *ap = node(C.ap, i), *sp = node(C.sp, i);
    const auto copy = [&](int r, const Scalar* src, int ab) {
      for (Index c = 0; c < U; ++c) p[r * U + c] = src[ab * U + c];
    };
    copy(0, ip, 0);
    for (int k = 0; k < 3; ++k) copy(1 + k, ap, kA[k]);
    for (int k = 0; k < 6; ++k) copy(4 + k, sp, kS[k]);
  }

  /// Packed message sums (tmp_mc_) → the full M of atom i (C.m):
  /// M = m0·Id + antisym(m1..3) + sym(m4..9).
  void unpack_messages(LayerCache& C, Index i) const {
    const Index U = U_;
    const Scalar* q = packed(tmp_mc_, i);
    Scalar* M = node(C.m, i);
    for (Index c = 0; c < U; ++c) {
      const auto r = [&](int k) { return q[k * U + c]; };
      M[0 * U + c] = r(0) + r(4);
      M[4 * U + c] = r(0) + r(5);
      M[8 * U + c] = r(0) + r(6);
      M[1 * U + c] = r(1) + r(7);
      M[3 * U + c] = r(7) - r(1);
      M[2 * U + c] = r(2) + r(8);
      M[6 * U + c] = r(8) - r(2);
      M[5 * U + c] = r(3) + r(9);
      M[7 * U + c] = r(9) - r(3);
    }
  }

  /// M̄ (tmp_mb_) → its packed pairing with the parts (tmp_mc_): ⟨M̄, I′⟩ = I′₀₀·tr M̄,
  /// ⟨M̄, A′⟩ = Σ A′_ab (M̄_ab − M̄_ba), ⟨M̄, S′⟩ = Σ S′_aa M̄_aa + Σ S′_ab (M̄_ab + M̄_ba) (a < b).
  void pack_message_adjoint(Index i) {
    const Index U = U_;
    const Scalar* M = node(tmp_mb_, i);
    Scalar* q = packed(tmp_mc_, i);
    for (Index c = 0; c < U; ++c) {
      const auto m = [&](int ab) { return M[ab * U + c]; };
      q[0 * U + c] = m(0) + m(4) + m(8);
      q[1 * U + c] = m(1) - m(3);
      q[2 * U + c] = m(2) - m(6);
      q[3 * U + c] = m(5) - m(7);
      q[4 * U + c] = m(0);
      q[5 * U + c] = m(4);
      q[6 * U + c] = m(8);
      q[7 * U + c] = m(1) + m(3);
      q[8 * U + c] = m(2) + m(6);
      q[9 * U + c] = m(5) + m(7);
    }
  }

  /// The messages' adjoints of the parts, packed in tmp_qc_ (the I part's trace, the A part's
  /// differences a_ab − a_ba, the S part's diagonal and sums s_ab + s_ba), plus Ȳ → adjoints of
  /// I′, A′, S′ (tmp_ipb_, tmp_apb_, tmp_spb_), Ȳ in tmp_yb_; for atom i. Only each one's class
  /// projection matters (L4 mixes channels, L3 projects), so a packed adjoint becomes the matrix
  /// of its class with that projection.
  void unpack_part_adjoints(Index i) {
    const Index U = U_;
    const Scalar third = Scalar(1) / Scalar(3), half = Scalar(0.5);
    const Scalar* q = packed(tmp_qc_, i);
    Scalar *I = node(tmp_ipb_, i), *A = node(tmp_apb_, i), *S = node(tmp_spb_, i);
    const Scalar* y = node(tmp_yb_, i);
    std::copy(y, y + 9 * U, I);
    std::copy(y, y + 9 * U, A);
    std::copy(y, y + 9 * U, S);
    for (Index c = 0; c < U; ++c) {
      const auto r = [&](int k) { return q[k * U + c]; };
      const Scalar ti = r(0) * third;
      I[0 * U + c] += ti;
      I[4 * U + c] += ti;
      I[8 * U + c] += ti;
      A[1 * U + c] += half * r(1);
      A[3 * U + c] -= half * r(1);
      A[2 * U + c] += half * r(2);
      A[6 * U + c] -= half * r(2);
      A[5 * U + c] += half * r(3);
      A[7 * U + c] -= half * r(3);
      const Scalar ts = (r(4) + r(5) + r(6)) * third;
      S[0 * U + c] += r(4) - ts;
      S[4 * U + c] += r(5) - ts;
      S[8 * U + c] += r(6) - ts;
      S[1 * U + c] += half * r(7);
      S[3 * U + c] += half * r(7);
      S[2 * U + c] += half * r(8);
      S[6 * U + c] += half * r(8);
      S[5 * U + c] += half * r(9);
      S[7 * U + c] += half * r(9);
    }
  }

  /// The stacks a layer writes (sized before the chunks run).
  void grow_layer(LayerCache& C) {
    for (Mat* m : {&C.xhat, &tmp_i_, &tmp_a_, &tmp_s_, &C.ip, &C.ap, &C.sp, &C.y, &C.m, &tmp_t_, &C.it, &C.at, &C.st,
                   &C.dx, &C.xout, &tmp_dx_, &tmp_mb_, &tmp_yb_, &tmp_ipb_, &tmp_apb_, &tmp_spb_})
      stack(*m);
    nn::grow(C.s, N_, U_);
    nn::grow(C.p, N_, U_);
    nn::grow(C.packed, kPacked * N_, U_);
    nn::grow(tmp_mc_, kPacked * N_, U_);
    nn::grow(tmp_qc_, kPacked * N_, U_);
  }

  /// Interaction layer l: the per-atom work before the messages, the messages (bond chunks),
  /// the per-atom work after them; each per-atom stage one region over the atom chunks.
  void layer_forward(std::size_t l, const PeriodicGraph& g) {
    const auto& w = w_.layers[l];
    auto& C = caches_[l];
    const Mat& Xin = l == 0 ? x_embed_ : caches_[l - 1].xout;
    grow_layer(C);
    atoms_.run([&](int, Index a0, Index a1) { layer_nodes_in(w, C, Xin, a0, a1); });
    layer_messages(w, C, g);
    atoms_.run([&](int ch, Index a0, Index a1) { layer_nodes_out(w, C, a0, a1, scratch(ch, 9 * U_)); });
  }

  /// L2–L4 for atoms [a0, a1): X̂ = X / (‖X‖² + 1); its parts mixed per class into I′, A′, S′
  /// (packed for the messages); Y = I′ + A′ + S′.
  void layer_nodes_in(const TensorNetLayerWeights<Scalar>& w, LayerCache& C, const Mat& Xin, Index a0, Index a1) {
    const Index U = U_;
    for (Index i = a0; i < a1; ++i) {
      Scalar* s = &C.s(i, 0);
      tensornet::sq_norm(node(Xin, i), s, U, Scalar(1));
      const Scalar* x = node(Xin, i);
      Scalar* o = node(C.xhat, i);
      for (int ab = 0; ab < 9; ++ab)
        for (Index c = 0; c < U; ++c) o[ab * U + c] = x[ab * U + c] / s[c];
      tensornet::decompose(node(C.xhat, i), node(tmp_i_, i), node(tmp_a_, i), node(tmp_s_, i), U);
    }
    mix(C.ip, tmp_i_, w.mix[0].transpose(), a0, a1);
    mix(C.ap, tmp_a_, w.mix[1].transpose(), a0, a1);
    mix(C.sp, tmp_s_, w.mix[2].transpose(), a0, a1);
    for (Index i = a0; i < a1; ++i) {
      const Scalar *ip = node(C.ip, i), *ap = node(C.ap, i), *sp = node(C.sp, i);
      Scalar* y = node(C.y, i);
      for (Index k = 0; k < 9 * U; ++k) y[k] = ip[k] + ap[k] + sp[k];
      pack_parts(C, i);
    }
  }

  /// L6–L9 for atoms [a0, a1): M from the packed message sums; T = M·Y + Y·M normalised;
  /// dX = mix(Wt3, Ĩ) + mix(Wt4, Ã) + mix(Wt5, S̃); X = X̂ + dX + dX·dX. `sum`: scratch of 9U.
  void layer_nodes_out(const TensorNetLayerWeights<Scalar>& w, LayerCache& C, Index a0, Index a1, Scalar* sum) {
    const Index U = U_;
    for (Index i = a0; i < a1; ++i) {
      unpack_messages(C, i);
      normalized_products(C, i, sum);
    }
    mix(C.dx, C.it, w.mix[3].transpose(), a0, a1);
    mix(C.dx, C.at, w.mix[4].transpose(), a0, a1, true);
    mix(C.dx, C.st, w.mix[5].transpose(), a0, a1, true);
    for (Index i = a0; i < a1; ++i) {
      const Scalar *xh = node(C.xhat, i), *dx = node(C.dx, i);
      Scalar* xo = node(C.xout, i);
      for (Index k = 0; k < 9 * U; ++k) xo[k] = xh[k] + dx[k];
      tensornet::matmul_add<false, false>(dx, dx, xo, U);
    }
  }

  /// L1 + L5: M_src += gI·I′_dst + gA·A′_dst + gS·S′_dst with g = φ·C, into tmp_mc_ (packed),
  /// the edge MLPs run per block of bonds (their activations kept in C when they fit).
  void layer_messages(const TensorNetLayerWeights<Scalar>& w, LayerCache& C, const PeriodicGraph& g) {
    const Index U = U_;
    tmp_mc_.topRows(kPacked * N_).setZero();
    nn::zero_partials(part_mc_, bonds_, kPacked * N_, U);
    C.kept = keep_edge_activations();
    if (C.kept)
      grow_mlp(C.act, C.sig, B_);
    else
      grow_block_mlps();
    bonds_.run([&](int ch, Index bb, Index be) {
      ChunkWork& wk = work_[static_cast<std::size_t>(ch)];
      Scalar* Mc = sum_of(ch, tmp_mc_, part_mc_, kPacked * N_);
      Scalar* gv = scratch(wk, 3 * U);
      for (Index b0 = bb; b0 < be; b0 += kEdgeBlock) {
        const Index n = std::min(kEdgeBlock, be - b0);
        const MlpRows rows = block_rows(C, wk, b0);
        edge_mlp_block(w, b0, n, rows);
        for (Index k = 0; k < n; ++k) {
          const Scalar Cf = bond_fc_[static_cast<std::size_t>(b0 + k)];
          const Scalar* phi = &(*rows.act)[2](rows.r0 + k, 0);
          for (Index c = 0; c < 3 * U; ++c) gv[c] = phi[c] * Cf;
          for (int side = 0; side < bond_size(b0 + k); ++side) {
            const auto es = static_cast<std::size_t>(bond_edge(b0 + k, side));
            const Scalar* pj = packed(C.packed, g.dst[es]);
            Scalar* mi = Mc + kPacked * U * g.src[es];
            for (int r = 0; r < kPacked; ++r) axpy_mul(gv + packed_class(r) * U, pj + r * U, mi + r * U);
          }
        }
      }
    });
    nn::add_partials(tmp_mc_.topRows(kPacked * N_), part_mc_, bonds_, packed_rows_);
  }

  /// L6, L7 of atom i: T = M·Y + Y·M (tmp_t_), its parts divided by p = ‖T‖² + 1 (C.it, C.at,
  /// C.st) and p (C.p); `sum` scratch of 9U.
  void normalized_products(LayerCache& C, Index i, Scalar* sum) {
    const Index U = U_;
    Scalar* t = node(tmp_t_, i);
    std::fill(t, t + 9 * U, Scalar(0));
    tensornet::matmul_add<false, false>(node(C.m, i), node(C.y, i), t, U);
    tensornet::matmul_add<false, false>(node(C.y, i), node(C.m, i), t, U);
    Scalar *pi = node(C.it, i), *pa = node(C.at, i), *ps = node(C.st, i);
    tensornet::decompose(t, pi, pa, ps, U);
    part_sum(pi, pa, ps, sum);
    Scalar* p = &C.p(i, 0);
    tensornet::sq_norm(sum, p, U, Scalar(1));
    for (int ab = 0; ab < 9; ++ab)
      for (Index c = 0; c < U; ++c) {
        pi[ab * U + c] /= p[c];
        pa[ab * U + c] /= p[c];
        ps[ab * U + c] /= p[c];
      }
  }

  // --- output head (§9) -------------------------------------------------------------------
  void output_forward() {
    const Index U = U_;
    const Mat& X = caches_.empty() ? x_embed_ : caches_.back().xout;
    stack(out_i_), stack(out_a_), stack(out_s_);
    auto q = nn::grow(out_q_, N_, 3 * U);
    for_atoms([&](int, Index i) {
      tensornet::decompose(node(X, i), node(out_i_, i), node(out_a_, i), node(out_s_, i), U);
      tensornet::sq_norm(node(out_i_, i), &q(i, 0), U);
      tensornet::sq_norm(node(out_a_, i), &q(i, U), U);
      tensornet::sq_norm(node(out_s_, i), &q(i, 2 * U), U);
    });
    nn::grow(out_xhat_, N_, 3 * U);
    out_rstd_.resize(N_);
    w_.out_norm.forward(q, out_xhat_.topRows(N_), out_rstd_);
    auto v = nn::grow(out_v_, N_, U);
    w_.linear.forward(q, v);
    w_.readout.forward(v, readout_, nn::grow(eps_, N_, 1));
  }

  // --- reverse (§11) ----------------------------------------------------------------------
  /// With `pg` (the evaluator's own layout, see accumulate_parameter_gradients) also adds ∂E/∂θ.
  void backward(const PeriodicGraph& g, TensorNetWeights<Scalar>* pg = nullptr) {
    const Index U = U_;
    auto G = nn::grow(gvec_, E_, 3);
    G.setZero();
    auto dR = nn::grow(drbf_acc_, B_, cfg_.max_n);
    dR.setZero();
    dc_acc_.assign(static_cast<std::size_t>(B_), Scalar(0));
    // R1: readout, linear, LayerNorm.
    auto deps = nn::grow(tmp_deps_, N_, 1);
    seed_energy_gradient(deps, cfg_.data_std, energy_weights_, "TensorNet");
    auto dv = nn::grow(out_dv_, N_, U);
    w_.readout.backward(deps, readout_, scratch_readout_, dv);
    if (pg) w_.readout.accumulate_parameter_gradients(out_v_.topRows(N_), readout_, scratch_readout_, pg->readout);
    auto dq = nn::grow(out_dq_, N_, 3 * U);
    w_.linear.backward(dv, dq);
    if (pg) {
      w_.linear.accumulate_parameter_gradients(out_q_.topRows(N_), dv, pg->linear.weight, pg->linear.bias);
      w_.out_norm.accumulate_parameter_gradients(dq, out_xhat_.topRows(N_), pg->out_norm);
    }
    w_.out_norm.backward(dq, out_xhat_.topRows(N_), out_rstd_);
    // R2: X̄ = 2(q̄_I I + q̄_A A + q̄_S S).
    stack(xbar_);
    for_atoms([&](int, Index i) {
      const Scalar* d = &dq(i, 0);
      const Scalar *I = node(out_i_, i), *A = node(out_a_, i), *S = node(out_s_, i);
      Scalar* xb = node(xbar_, i);
      for (int ab = 0; ab < 9; ++ab)
        for (Index c = 0; c < U; ++c)
          xb[ab * U + c] = Scalar(2) * (d[c] * I[ab * U + c] + d[U + c] * A[ab * U + c] + d[2 * U + c] * S[ab * U + c]);
    });
    for (std::size_t l = w_.layers.size(); l-- > 0;) layer_backward(l, g, pg ? &pg->layers[l] : nullptr);
    embedding_backward(g, pg);
    // R5: radial terms per bond, both directions' share on its first edge (∂d/∂r_rev = −∂d/∂r
    // and r_rev = −r, so the reverse edge's share has the same effect on forces and virial).
    bonds_.run([&](int, Index b0, Index b1) {
      for (Index b = b0; b < b1; ++b) {
        const Index e = bond_edge(b, 0);
        const auto es = static_cast<std::size_t>(e);
        Scalar dd = dc_acc_[static_cast<std::size_t>(b)] * dfc_[es];
        for (Index k = 0; k < cfg_.max_n; ++k) dd += drbf_acc_(b, k) * drbf_(e, k);
        const Scalar f = dd / dist_[es];
        for (int k = 0; k < 3; ++k) G(e, k) += f * rvec_(e, k);
      }
    });
  }

  /// Reverse of layer l: on entry xbar_ holds ∂E/∂(layer output), on exit ∂E/∂(layer input).
  /// The per-atom work before and after the messages' reverse runs as one region each.
  void layer_backward(std::size_t l, const PeriodicGraph& g, TensorNetLayerWeights<Scalar>* pg = nullptr) {
    const auto& w = w_.layers[l];
    auto& C = caches_[l];
    atoms_.run([&](int ch, Index a0, Index a1) { layer_nodes_out_backward(w, C, a0, a1, scratch(ch, 2 * U_)); });
    if (pg) {  // dX = Ĩ·Wt3ᵀ + Ã·Wt4ᵀ + S̃·Wt5ᵀ
      const auto dXb = stack(tmp_dx_);
      pg->mix[3].noalias() += dXb.transpose() * stack(C.it);
      pg->mix[4].noalias() += dXb.transpose() * stack(C.at);
      pg->mix[5].noalias() += dXb.transpose() * stack(C.st);
    }
    layer_messages_backward(w, C, g, pg);
    atoms_.run([&](int ch, Index a0, Index a1) { layer_nodes_in_backward(w, C, a0, a1, scratch(ch, U_)); });
    if (pg) {  // I′ = I·Wt0ᵀ, ... with (I, A, S) = decompose(X̂), recomputed into free scratch
      auto I = stack(tmp_t_), A = stack(tmp_dx_), S = stack(tmp_yb_);
      for (Index i = 0; i < N_; ++i)
        tensornet::decompose(node(C.xhat, i), node(tmp_t_, i), node(tmp_dx_, i), node(tmp_yb_, i), U_);
      pg->mix[0].noalias() += stack(tmp_ipb_).transpose() * I;
      pg->mix[1].noalias() += stack(tmp_apb_).transpose() * A;
      pg->mix[2].noalias() += stack(tmp_spb_).transpose() * S;
    }
  }

  /// L9–L6 reversed for atoms [a0, a1): dX̄ = X̄ + X̄·dXᵀ + dXᵀ·X̄ (tmp_dx_; X̂̄ = X̄ stays in
  /// xbar_); the adjoints of Ĩ, Ã, S̃ (general 3×3); M̄ and Ȳ; M̄ packed against the parts
  /// (tmp_mc_). `q`: scratch of 2U.
  void layer_nodes_out_backward(const TensorNetLayerWeights<Scalar>& w, const LayerCache& C, Index a0, Index a1,
                                Scalar* q) {
    const Index U = U_;
    for (Index i = a0; i < a1; ++i) {
      std::copy(node(xbar_, i), node(xbar_, i) + 9 * U, node(tmp_dx_, i));
      tensornet::matmul_add<false, true>(node(xbar_, i), node(C.dx, i), node(tmp_dx_, i), U);
      tensornet::matmul_add<true, false>(node(C.dx, i), node(xbar_, i), node(tmp_dx_, i), U);
    }
    mix(tmp_i_, tmp_dx_, w.mix[3], a0, a1);
    mix(tmp_a_, tmp_dx_, w.mix[4], a0, a1);
    mix(tmp_s_, tmp_dx_, w.mix[5], a0, a1);
    for (Index i = a0; i < a1; ++i) {
      normalized_products_backward(C, i, q);
      pack_message_adjoint(i);
    }
  }

  /// L5–L2 reversed for atoms [a0, a1): I′̄ = A′̄ = S′̄ = Ȳ plus the messages' adjoints; back
  /// through the mixing to X̂̄ (added to X̄); X̄_in = X̂̄/s − 2·X̂·⟨X̂̄, X̂⟩. `q`: scratch of U.
  void layer_nodes_in_backward(const TensorNetLayerWeights<Scalar>& w, const LayerCache& C, Index a0, Index a1,
                               Scalar* q) {
    const Index U = U_;
    for (Index i = a0; i < a1; ++i) unpack_part_adjoints(i);
    mix(tmp_i_, tmp_ipb_, w.mix[0], a0, a1);
    mix(tmp_a_, tmp_apb_, w.mix[1], a0, a1);
    mix(tmp_s_, tmp_spb_, w.mix[2], a0, a1);
    for (Index i = a0; i < a1; ++i) {
      tensornet::decompose_adjoint(node(tmp_i_, i), node(tmp_a_, i), node(tmp_s_, i), node(xbar_, i), U,
                                   static_cast<const Scalar*>(nullptr), true);
      Scalar* xb = node(xbar_, i);
      const Scalar* xh = node(C.xhat, i);
      tensornet::dot(xb, xh, q, U);
      const Scalar* s = &C.s(i, 0);
      for (int ab = 0; ab < 9; ++ab)
        for (Index c = 0; c < U; ++c) xb[ab * U + c] = xb[ab * U + c] / s[c] - Scalar(2) * xh[ab * U + c] * q[c];
    }
  }

  /// L7 and L6 reversed for atom i: T̄ = (P_I(Ĩ̄) + P_A(Ã̄) + P_S(S̃̄))/p
  /// − 2·(⟨Ĩ̄,Ĩ⟩ + ⟨Ã̄,Ã⟩ + ⟨S̃̄,S̃⟩)·(Ĩ + Ã + S̃) (tmp_t_), then M̄ = T̄·Yᵀ + Yᵀ·T̄
  /// (tmp_mb_) and Ȳ = Mᵀ·T̄ + T̄·Mᵀ (tmp_yb_). `q`: scratch of 2U.
  void normalized_products_backward(const LayerCache& C, Index i, Scalar* q) {
    const Index U = U_;
    Scalar* rp = q + U;
    const Scalar *pi = node(C.it, i), *pa = node(C.at, i), *ps = node(C.st, i);
    tensornet::dot(node(tmp_i_, i), pi, q, U);
    tensornet::dot(node(tmp_a_, i), pa, q, U, true);
    tensornet::dot(node(tmp_s_, i), ps, q, U, true);
    for (Index c = 0; c < U; ++c) rp[c] = Scalar(1) / C.p(i, c);
    Scalar* t = node(tmp_t_, i);
    tensornet::decompose_adjoint(node(tmp_i_, i), node(tmp_a_, i), node(tmp_s_, i), t, U, rp);
    for (int ab = 0; ab < 9; ++ab)
      for (Index c = 0; c < U; ++c)
        t[ab * U + c] -= Scalar(2) * q[c] * (pi[ab * U + c] + pa[ab * U + c] + ps[ab * U + c]);
    Scalar *mb = node(tmp_mb_, i), *yb = node(tmp_yb_, i);
    std::fill(mb, mb + 9 * U, Scalar(0));
    std::fill(yb, yb + 9 * U, Scalar(0));
    tensornet::matmul_add<false, true>(t, node(C.y, i), mb, U);
    tensornet::matmul_add<true, false>(node(C.y, i), t, mb, U);
    tensornet::matmul_add<true, false>(node(C.m, i), t, yb, U);
    tensornet::matmul_add<false, true>(t, node(C.m, i), yb, U);
  }

  /// Reverse of layer_messages: from the packed M̄ pairings (tmp_mc_) to the packed adjoints of
  /// the destinations' parts (tmp_qc_), C̄ (dc_acc_) and through the edge MLPs to rbf̄.
  void layer_messages_backward(const TensorNetLayerWeights<Scalar>& w, LayerCache& C, const PeriodicGraph& g,
                               TensorNetLayerWeights<Scalar>* pg) {
    const Index U = U_;
    tmp_qc_.topRows(kPacked * N_).setZero();
    nn::zero_partials(part_qc_, bonds_, kPacked * N_, U);
    if (!C.kept) grow_block_mlps();
    bonds_.run([&](int ch, Index bb, Index be) {
      ChunkWork& wk = work_[static_cast<std::size_t>(ch)];
      Scalar* Qc = sum_of(ch, tmp_qc_, part_qc_, kPacked * N_);
      Scalar* gv = scratch(wk, 3 * U);
      for (Index b0 = bb; b0 < be; b0 += kEdgeBlock) {
        const Index n = std::min(kEdgeBlock, be - b0);
        const MlpRows rows = block_rows(C, wk, b0);
        if (!C.kept) edge_mlp_block(w, b0, n, rows);  // recompute the block's activations
        auto dphi = nn::grow(wk.dact[2], n, 3 * U);
        for (Index k = 0; k < n; ++k)
          message_bond_backward(C, g, b0 + k, &(*rows.act)[2](rows.r0 + k, 0), &dphi(k, 0), gv, Qc);
        edge_mlp_block_backward(w, b0, n, rows, wk, pg);
      }
    });
    nn::add_partials(tmp_qc_.topRows(kPacked * N_), part_qc_, bonds_, packed_rows_);
  }

  /// Bond b's messages reversed: ∂E/∂φ into dg ([3U], with the cutoff), C̄ into dc_acc_[b], the
  /// destinations' packed adjoints into Qc (base of a [10N, U] sum); `phi`: the bond's edge-MLP
  /// output, gv scratch of 3U.
  void message_bond_backward(const LayerCache& C, const PeriodicGraph& g, Index b, const Scalar* phi, Scalar* dg,
                             Scalar* gv, Scalar* Qc) {
    const Index U = U_;
    const Scalar Cf = bond_fc_[static_cast<std::size_t>(b)];
    for (Index c = 0; c < 3 * U; ++c) gv[c] = phi[c] * Cf;
    for (Index c = 0; c < 3 * U; ++c) dg[c] = Scalar(0);
    for (int side = 0; side < bond_size(b); ++side) {
      const auto es = static_cast<std::size_t>(bond_edge(b, side));
      const Index i = g.src[es], j = g.dst[es];
      // ∂E/∂(φ·C) of this direction (summed over the bond's directions) and the adjoints of
      // the destination's parts, both on the packed rows.
      const Scalar* mi = packed(tmp_mc_, i);
      const Scalar* pj = packed(C.packed, j);
      Scalar* qj = Qc + kPacked * U * j;
      for (int r = 0; r < kPacked; ++r) {
        axpy_mul(mi + r * U, pj + r * U, dg + packed_class(r) * U);
        axpy_mul(gv + packed_class(r) * U, mi + r * U, qj + r * U);
      }
    }
    Scalar cb(0);
    for (Index c = 0; c < 3 * U; ++c) {
      cb += dg[c] * phi[c];
      dg[c] *= Cf;
    }
    dc_acc_[static_cast<std::size_t>(b)] += cb;
  }

  /// Reverse of edge_mlp_block (activations in `r`): from ∂E/∂φ in wk.dact[2]
  /// to rbf̄ of bonds [b0, b0 + n).
  void edge_mlp_block_backward(const TensorNetLayerWeights<Scalar>& w, Index b0, Index n, const MlpRows& r,
                               ChunkWork& wk, TensorNetLayerWeights<Scalar>* pg = nullptr) {
    const Index widths[3] = {U_, 2 * U_, 3 * U_};
    for (std::size_t k = 3; k-- > 0;) {
      auto dA = wk.dact[k].topRows(n);
      nn::silu_backward<Scalar>(dA, (*r.act)[k].middleRows(r.r0, n), (*r.sig)[k].middleRows(r.r0, n));
      if (pg) {
        auto& gl = pg->edge_mlp[k];
        if (k == 0)
          w.edge_mlp[0].accumulate_parameter_gradients(bond_rbf_.middleRows(b0, n), dA, gl.weight, gl.bias);
        else
          w.edge_mlp[k].accumulate_parameter_gradients((*r.act)[k - 1].middleRows(r.r0, n), dA, gl.weight, gl.bias);
      }
      if (k > 0)
        w.edge_mlp[k].backward(dA, nn::grow(wk.dact[k - 1], n, widths[k - 1]));
      else
        w.edge_mlp[0].backward(dA, drbf_acc_.middleRows(b0, n), /*accumulate=*/true);
    }
  }

  /// Reverse of the embedding: xbar_ holds ∂E/∂X of its output.
  void embedding_backward(const PeriodicGraph& g, TensorNetWeights<Scalar>* pg = nullptr) {
    embedding_nodes_backward(pg);
    embedding_bonds_backward(g, pg);
    if (pg) pair_embedding_gradients(*pg);
  }

  /// E10 to E6 reversed: from X̄ (xbar_) to the adjoints of Ī, Ā, S̄ (tmp_i_, tmp_a_, tmp_s_).
  void embedding_nodes_backward(TensorNetWeights<Scalar>* pg) {
    const Index U = U_;
    // E10: f̄ = ⟨X̄, mix(Wt_k, ·)⟩; Ī̄ = mix(Wt0ᵀ, fI⊙X̄), ...
    auto dh = nn::grow(emb_dh_, N_, 3 * U);
    stack(tmp_t_), stack(tmp_i_), stack(tmp_a_), stack(tmp_s_);
    atoms_.run([&](int, Index a0, Index a1) {
      for (Index i = a0; i < a1; ++i) {
        const Scalar* xb = node(xbar_, i);
        tensornet::dot(xb, node(emb_mi_, i), &dh(i, 0), U);
        tensornet::dot(xb, node(emb_ma_, i), &dh(i, U), U);
        tensornet::dot(xb, node(emb_ms_, i), &dh(i, 2 * U), U);
      }
      Mat* outs[3] = {&tmp_i_, &tmp_a_, &tmp_s_};
      const Mat* part[3] = {&emb_i_, &emb_a_, &emb_s_};
      for (Index k = 0; k < 3; ++k) {
        for (Index i = a0; i < a1; ++i) {
          const Scalar* f = &emb_h_(i, k * U);
          const Scalar* xb = node(xbar_, i);
          Scalar* o = node(tmp_t_, i);
          for (int ab = 0; ab < 9; ++ab)
            for (Index c = 0; c < U; ++c) o[ab * U + c] = f[c] * xb[ab * U + c];
        }
        mix(*outs[k], tmp_t_, w_.embedding_mix[static_cast<std::size_t>(k)], a0, a1);
        if (pg)  // mix(Wt_k, part_k) is part_k·Wt_kᵀ (one chunk with pg)
          pg->embedding_mix[static_cast<std::size_t>(k)].noalias() +=
              tmp_t_.middleRows(9 * a0, 9 * (a1 - a0)).transpose() * part[k]->middleRows(9 * a0, 9 * (a1 - a0));
      }
    });
    // E9, E8: through both SiLU layers; E7: LayerNorm.
    nn::silu_backward<Scalar>(dh, emb_h_.topRows(N_), emb_hs_.topRows(N_));
    auto dh0 = nn::grow(emb_dh0_, N_, 2 * U);
    w_.embedding_mlp[1].backward(dh, dh0);
    if (pg)
      w_.embedding_mlp[1].accumulate_parameter_gradients(emb_h0_.topRows(N_), dh, pg->embedding_mlp[1].weight,
                                                         pg->embedding_mlp[1].bias);
    nn::silu_backward<Scalar>(dh0, emb_h0_.topRows(N_), emb_h0s_.topRows(N_));
    auto dn = nn::grow(emb_dn_, N_, U);
    w_.embedding_mlp[0].backward(dh0, dn);
    if (pg) {
      w_.embedding_mlp[0].accumulate_parameter_gradients(emb_n_.topRows(N_), dh0, pg->embedding_mlp[0].weight,
                                                         pg->embedding_mlp[0].bias);
      w_.init_norm.accumulate_parameter_gradients(dn, emb_xhat_.topRows(N_), pg->init_norm);
      nn::grow(grad_ps_, N_, U).setZero();
      nn::grow(grad_pd_, N_, U).setZero();
    }
    w_.init_norm.backward(dn, emb_xhat_.topRows(N_), emb_rstd_);
    // E6: V̄ = 2·n̄·(Ī + Ā + S̄), added to each part's adjoint.
    for_atoms([&](int, Index i) {
      const Scalar *I = node(emb_i_, i), *A = node(emb_a_, i), *S = node(emb_s_, i);
      Scalar *ib = node(tmp_i_, i), *ab_ = node(tmp_a_, i), *sb = node(tmp_s_, i);
      const Scalar* d = &dn(i, 0);
      for (int ab = 0; ab < 9; ++ab)
        for (Index c = 0; c < U; ++c) {
          const Scalar v = Scalar(2) * d[c] * (I[ab * U + c] + A[ab * U + c] + S[ab * U + c]);
          ib[ab * U + c] += v;
          ab_[ab * U + c] += v;
          sb[ab * U + c] += v;
        }
    });
  }

  /// E5, E2, E3 reversed, per bond chunk: into ā (rbf̄ through the projections, per bond), C̄
  /// and r̄ (through û; every edge has one bond, so one writer per row of ∂E/∂r).
  void embedding_bonds_backward(const PeriodicGraph& g, TensorNetWeights<Scalar>* pg) {
    bonds_.run([&](int ch, Index bb, Index be) {
      ChunkWork& wk = work_[static_cast<std::size_t>(ch)];
      Scalar* t = scratch(wk, 6 * U_);
      for (Index b0 = bb; b0 < be; b0 += kEdgeBlock) {
        const Index n = std::min(kEdgeBlock, be - b0);
        embedding_bond_block(wk, b0, n);
        auto da = nn::grow(wk.da, n, 3 * U_);
        da.setZero();
        for (Index k = 0; k < n; ++k)
          for (int side = 0; side < bond_size(b0 + k); ++side)
            embedding_edge_backward(g, b0 + k, bond_edge(b0 + k, side), &wk.a(k, 0), &da(k, 0), t, pg != nullptr);
        proj_.backward(da, drbf_acc_.middleRows(b0, n), /*accumulate=*/true);
        if (pg)
          proj_.accumulate_parameter_gradients(bond_rbf_.middleRows(b0, n), da, grad_proj_.weight, grad_proj_.bias);
      }
    });
  }

  /// Edge e (of bond b) in E5 reversed: ā of the bond into d ([3U]), C̄ into dc_acc_[b], r̄ into
  /// gvec_; with `pg` Z̄ onto both atoms' pair projections. `a`: the bond's factors; t scratch of 6U.
  void embedding_edge_backward(const PeriodicGraph& g, Index b, Index e, const Scalar* a, Scalar* d, Scalar* t,
                               bool pg) {
    const Index U = U_;
    Scalar *t1 = t, *t2 = t1 + U, *t3 = t2 + U, *z = t3 + U, *zw2 = z + U, *zw3 = zw2 + U;
    const auto bs = static_cast<std::size_t>(b);
    const auto es = static_cast<std::size_t>(e);
    const Scalar Cf = bond_fc_[bs];
    const Index i = g.dst[es];
    pair_embedding_of(g, e, z);
    Scalar sk[9], sy[9];
    edge_frames(e, sk, sy);
    const Scalar *Ib_i = node(tmp_i_, i), *Ab_i = node(tmp_a_, i), *Sb_i = node(tmp_s_, i);
    // t1 = tr Ī̄_i, t2 = ⟨Ā̄_i, skew(û)⟩, t3 = ⟨S̄̄_i, sym(û)⟩ per channel.
    for (Index c = 0; c < U; ++c) {
      t1[c] = Ib_i[0 * U + c] + Ib_i[4 * U + c] + Ib_i[8 * U + c];
      t2[c] = Scalar(0);
      t3[c] = Scalar(0);
    }
    for (int ab = 0; ab < 9; ++ab) {
      axpy(Ab_i + ab * U, sk[ab], t2);
      axpy(Sb_i + ab * U, sy[ab], t3);
    }
    Scalar cb(0);
    for (Index c = 0; c < U; ++c) {
      const Scalar w1b = z[c] * t1[c];
      const Scalar w2b = z[c] * t2[c];
      const Scalar w3b = z[c] * t3[c];
      cb += w1b * a[c] + w2b * a[U + c] + w3b * a[2 * U + c];
      d[c] += w1b * Cf;
      d[U + c] += w2b * Cf;
      d[2 * U + c] += w3b * Cf;
      zw2[c] = z[c] * (a[U + c] * Cf);
      zw3[c] = z[c] * (a[2 * U + c] * Cf);
    }
    dc_acc_[bs] += cb;
    if (pg) {  // Z̄ = Σ_k W̄k-factor: t1·a1·C + t2·a2·C + t3·a3·C, onto both atoms' projections
      Scalar* zs = &grad_ps_(g.src[es], 0);
      Scalar* zd = &grad_pd_(g.dst[es], 0);
      for (Index c = 0; c < U; ++c) {
        const Scalar zb = (t1[c] * a[c] + t2[c] * a[U + c] + t3[c] * a[2 * U + c]) * Cf;
        zs[c] += zb;
        zd[c] += zb;
      }
    }
    // skew̄ = Σ_c Z·W2·Ā̄_i[c], sym̄ = Σ_c Z·W3·S̄̄_i[c]; then ū and r̄.
    Scalar kb[9], sb[9];
    for (int ab = 0; ab < 9; ++ab) {
      Scalar sk_acc(0), sy_acc(0);
      const Scalar *ar = Ab_i + ab * U, *sr = Sb_i + ab * U;
      for (Index c = 0; c < U; ++c) {
        sk_acc += zw2[c] * ar[c];
        sy_acc += zw3[c] * sr[c];
      }
      kb[ab] = sk_acc;
      sb[ab] = sy_acc;
    }
    edge_direction_backward(e, kb, sb);
  }

  /// r̄_e += ∂û/∂r_eᵀ ū, where ū collects skew̄ (kb) and sym̄ (sb) of edge e's frames.
  void edge_direction_backward(Index e, const Scalar* kb, const Scalar* sb) {
    const auto es = static_cast<std::size_t>(e);
    const Scalar u[3] = {unit_(e, 0), unit_(e, 1), unit_(e, 2)};
    Scalar ub[3] = {kb[7] - kb[5], kb[2] - kb[6], kb[3] - kb[1]};
    const Scalar tr = sb[0] + sb[4] + sb[8];
    for (int r = 0; r < 3; ++r) {
      Scalar v(0);
      for (int q = 0; q < 3; ++q) v += (sb[3 * r + q] + sb[3 * q + r]) * u[q];
      ub[r] += v - Scalar(2) / Scalar(3) * tr * u[r];
    }
    const Scalar udot = ub[0] * u[0] + ub[1] * u[1] + ub[2] * u[2];
    const Scalar de = dist_[es] > Scalar(1e-6) ? dist_[es] : Scalar(1e-6);
    for (int r = 0; r < 3; ++r) gvec_(e, r) += (ub[r] - udot * u[r]) / de;
  }

  /// Z = x_src·Wz_srcᵀ + x_dst·Wz_dstᵀ + bz with x = emb[type]: the pair embedding's and the
  /// element embedding's gradients from Z̄ on the pair projections (grad_ps_, grad_pd_).
  void pair_embedding_gradients(TensorNetWeights<Scalar>& pg) {
    const Index U = U_;
    const auto xe = tmp_nu_.topRows(N_);
    const auto dps = grad_ps_.topRows(N_), dpd = grad_pd_.topRows(N_);
    pg.pair_embedding.weight.leftCols(U).noalias() += dps.transpose() * xe;
    pg.pair_embedding.weight.rightCols(U).noalias() += dpd.transpose() * xe;
    pg.pair_embedding.bias += dpd.colwise().sum();
    auto dx = nn::grow(tmp_dx_, N_, U);
    dx.noalias() = dps * pair_src_;
    dx.noalias() += dpd * pair_dst_;
    for (Index i = 0; i < N_; ++i) pg.element_embedding.row(types_[static_cast<std::size_t>(i)]) += dx.row(i);
  }

  TensorNetConfig cfg_;
  TensorNetWeights<Scalar> w_;  // with the two interleaved layers permuted (set_model)
  nn::Linear<Scalar> proj_;     // distance_proj1..3 stacked: max_n → 3U
  nn::RowMatrix<Scalar> pair_src_, pair_dst_;
  std::vector<double> energy_weights_;  // set_energy_weights(); empty = all 1
  SmoothBesselBasis<double> basis_;  // evaluated in double (geometry())
  SmoothBesselBasis<Scalar> dual_basis_;  // Dual scalars only (dual_edge_geometry)
  GeometryTangent tangent_;               // Dual scalars only
  Index U_ = 0, N_ = 0, E_ = 0, B_ = 0;
  std::vector<int> types_;  // of the last evaluation (element-embedding gradients)
  double activation_budget_ = kDefaultActivationBudget;

  // per edge
  Mat rvec_, unit_, rbf_, drbf_;
  std::vector<Scalar> dist_, fc_, dfc_;
  // edge blocks
  // bonds (pairs of reverse edges)
  std::vector<int> edge_order_, bond_edge_;
  std::vector<char> paired_;
  Mat bond_rbf_;
  std::vector<Scalar> bond_fc_;
  // host threads: chunks, each chunk's workspace, private partials of bond chunks 1, 2, ...
  nn::RowChunks edges_, bonds_, atoms_, node_rows_, packed_rows_;
  std::vector<ChunkWork> work_;
  std::vector<Mat> part_i_, part_a_, part_s_, part_mc_, part_qc_;
  // embedding
  Mat pair_ps_, pair_pd_, emb_i_, emb_a_, emb_s_, emb_n_, emb_xhat_, emb_h0_, emb_h0s_, emb_h_, emb_hs_;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> emb_rstd_, out_rstd_;
  Mat emb_mi_, emb_ma_, emb_ms_, x_embed_;
  std::vector<LayerCache> caches_;
  // output
  Mat out_i_, out_a_, out_s_, out_q_, out_xhat_, out_v_, eps_;
  nn::GatedMLPCache<Scalar> readout_;
  nn::GatedMLPScratch<Scalar> scratch_readout_;
  // reverse
  Mat gvec_, drbf_acc_, tmp_deps_, out_dv_, out_dq_, xbar_, emb_dh_, emb_dh0_, emb_dn_;
  std::vector<Scalar> dc_acc_;
  // scratch stacks
  // parameter gradients (accumulate_parameter_gradients): evaluator layout, projections' inputs
  TensorNetWeights<Scalar> grad_;
  nn::Linear<Scalar> grad_proj_;
  Mat grad_ps_, grad_pd_;
  Mat tmp_mc_, tmp_qc_;  // packed messages or their pairing with M̄; packed adjoints of the parts
  Mat tmp_nu_, tmp_i_, tmp_a_, tmp_s_, tmp_t_, tmp_dx_, tmp_mb_, tmp_yb_, tmp_ipb_, tmp_apb_, tmp_spb_;
};

}  // namespace graphnet
NERNST_NAMESPACE_END
