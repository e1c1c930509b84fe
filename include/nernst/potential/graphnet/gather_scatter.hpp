#pragma once
/// \file
/// \brief Per-edge gathers and scatters of row-major feature batches, and the reduction of
/// per-edge gradients ∂E/∂r_e to forces and virial, shared by M3GNet and CHGNet.
///
/// Rows are short contiguous runs (the feature width), so these are plain pointer loops over
/// rows: no per-row Eigen expression set-up. Any row-major Eigen matrix, block or Ref with unit
/// inner stride works. Rows reached through an index are prefetched a few rows ahead.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/graph.hpp>

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace detail {
/// Prefetches `n` scalars from p (a feature row that an edge loop will gather from or scatter
/// to a few edges later: rows indexed by bond or neighbour are scattered over arrays larger
/// than the caches, and the loops otherwise wait on each of them).
template <class Scalar>
inline void prefetch_row(const Scalar* p, Eigen::Index n) {
#if defined(__GNUC__)
  const char* c = reinterpret_cast<const char*>(p);
  for (std::size_t off = 0; off < std::size_t(n) * sizeof(Scalar); off += 64) __builtin_prefetch(c + off, 1, 3);
#else
  (void)p;
  (void)n;
#endif
}
constexpr Eigen::Index kPrefetchAhead = 8;  // edges
}  // namespace detail

/// Z.row(i) = P.row(ia[i]) + Q.row(ib[i]) for every row i of Z (the split first layer of a
/// convolution MLP: node projections gathered per edge).
template <class ZM, class PM, class QM>
void gather_sum2(ZM&& Z, const PM& P, const int* ia, const QM& Q, const int* ib) {
  const Eigen::Index w = Z.cols();
  for (Eigen::Index i = 0; i < Z.rows(); ++i) {
    if (i + detail::kPrefetchAhead < Z.rows()) detail::prefetch_row(&Q(ib[i + detail::kPrefetchAhead], 0), w);
    auto* z = &Z(i, 0);
    const auto* p = &P(ia[i], 0);
    const auto* q = &Q(ib[i], 0);
    for (Eigen::Index j = 0; j < w; ++j) z[j] = p[j] + q[j];
  }
}

/// Z.row(i) = P.row(ia[i]) + Q.row(ib[i]) + R.row(ic[i]) for every row i of Z (CHGNet's split
/// first layers: centre atom, bond and neighbour per edge; two bonds and the centre per angle).
/// `ia` is expected to run in order (edges grouped by source), so only Q's and R's rows are
/// prefetched.
template <class ZM, class PM, class QM, class RM>
void gather_sum3(ZM&& Z, const PM& P, const int* ia, const QM& Q, const int* ib, const RM& R, const int* ic) {
  const Eigen::Index w = Z.cols();
  for (Eigen::Index i = 0; i < Z.rows(); ++i) {
    if (i + detail::kPrefetchAhead < Z.rows()) {
      detail::prefetch_row(&Q(ib[i + detail::kPrefetchAhead], 0), w);
      detail::prefetch_row(&R(ic[i + detail::kPrefetchAhead], 0), w);
    }
    auto* z = &Z(i, 0);
    const auto* p = &P(ia[i], 0);
    const auto* q = &Q(ib[i], 0);
    const auto* r = &R(ic[i], 0);
    for (Eigen::Index j = 0; j < w; ++j) z[j] = p[j] + q[j] + r[j];
  }
}

/// D.row(i) = S.row(idx[i]) for every row i of D.
template <class DM, class SM>
void gather_rows(DM&& D, const SM& S, const int* idx) {
  const Eigen::Index w = D.cols();
  for (Eigen::Index i = 0; i < D.rows(); ++i) {
    if (i + detail::kPrefetchAhead < D.rows()) detail::prefetch_row(&S(idx[i + detail::kPrefetchAhead], 0), w);
    auto* d = &D(i, 0);
    const auto* s = &S(idx[i], 0);
    for (Eigen::Index j = 0; j < w; ++j) d[j] = s[j];
  }
}

/// S.row(idx[i]) += Y.row(i) for every row i of Y (sum of edge messages onto atoms).
template <class SM, class YM>
void scatter_add_rows(SM&& S, const int* idx, const YM& Y) {
  const Eigen::Index w = Y.cols();
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    if (i + detail::kPrefetchAhead < Y.rows()) detail::prefetch_row(&S(idx[i + detail::kPrefetchAhead], 0), w);
    auto* s = &S(idx[i], 0);
    const auto* y = Y.data() + i * Y.outerStride();  // also for read-only Refs
    for (Eigen::Index j = 0; j < w; ++j) s[j] += y[j];
  }
}

/// Edges grouped by an atom index (e.g. their destination): `edge[offset[i] .. offset[i+1])` are
/// the edges of atom i in increasing edge order. A scatter onto atoms then becomes a sum per
/// atom, which threads can share out by atom without two threads ever adding to the same row.
struct EdgeGroups {
  std::vector<int> offset, edge;

  void build(const std::vector<int>& key, std::size_t ngroups) {
    offset.assign(ngroups + 1, 0);
    for (int k : key) ++offset[static_cast<std::size_t>(k) + 1];
    for (std::size_t i = 0; i < ngroups; ++i) offset[i + 1] += offset[i];
    edge.resize(key.size());
    std::vector<int> next(offset.begin(), offset.end() - 1);
    for (std::size_t e = 0; e < key.size(); ++e) edge[static_cast<std::size_t>(next[static_cast<std::size_t>(key[e])]++)] = static_cast<int>(e);
  }
};

/// S.row(i) += Σ_{e of atom i} Y.row(e), edges in increasing order: the same sums, in the same
/// order, as scatter_add_rows(S, key, Y), with the atoms shared out over `atoms` chunks.
template <class SM, class YM>
void segment_add_rows(SM&& S, const EdgeGroups& groups, const YM& Y, const nn::RowChunks& atoms) {
  const Eigen::Index w = Y.cols();
  atoms.run([&](int, Eigen::Index i0, Eigen::Index i1) {
    for (Eigen::Index i = i0; i < i1; ++i) {
      auto* s = &S(i, 0);
      for (int k = groups.offset[static_cast<std::size_t>(i)]; k < groups.offset[static_cast<std::size_t>(i) + 1]; ++k) {
        const auto* y = Y.data() + Eigen::Index(groups.edge[static_cast<std::size_t>(k)]) * Y.outerStride();
        for (Eigen::Index j = 0; j < w; ++j) s[j] += y[j];
      }
    }
  });
}

/// Seeds a reverse pass: ∂(Σ_i w_i E_i)/∂ε_i = data_std · w_i, with ε_i the network's per-atom
/// output before scaling. `weights` empty = all 1; otherwise one per atom (the evaluators'
/// set_energy_weights(): local evaluation weights owned atoms 1 and ghosts 0).
template <class Column>
void seed_energy_gradient(Column&& deps, double data_std, const std::vector<double>& weights, const char* arch) {
  using Scalar = typename std::decay_t<Column>::Scalar;
  deps.setConstant(Scalar(data_std));
  if (weights.empty()) return;
  if (weights.size() != static_cast<std::size_t>(deps.rows()))
    throw ValueError(std::string(arch) + ": energy weights for " + std::to_string(weights.size()) + " atoms, the graph has " +
                     std::to_string(deps.rows()));
  for (Eigen::Index i = 0; i < deps.rows(); ++i) deps(i, 0) *= Scalar(weights[static_cast<std::size_t>(i)]);
}

/// Forces and virial from per-edge gradients G_e = ∂E/∂r_e (r_e = x_dst + image − x_src):
/// F_src += G_e, F_dst −= G_e, W_ab = Σ_e r_ea G_eb. `forces` is resized to `natoms` and zeroed.
template <class GM, class RM>
void edge_gradients_to_forces(const PeriodicGraph& g, const GM& G, const RM& rvec, std::size_t natoms,
                              std::vector<std::array<double, 3>>& forces, Eigen::Matrix3d& virial) {
  forces.assign(natoms, {0.0, 0.0, 0.0});
  virial.setZero();
  for (std::size_t e = 0; e < g.size(); ++e) {
    const auto s = static_cast<std::size_t>(g.src[e]);
    const auto d = static_cast<std::size_t>(g.dst[e]);
    const auto ei = static_cast<Eigen::Index>(e);
    for (int k = 0; k < 3; ++k) {
      const double gk = static_cast<double>(G(ei, k));
      forces[s][static_cast<std::size_t>(k)] += gk;
      forces[d][static_cast<std::size_t>(k)] -= gk;
      for (int a = 0; a < 3; ++a) virial(a, k) += static_cast<double>(rvec(ei, a)) * gk;
    }
  }
}

}  // namespace graphnet
NERNST_NAMESPACE_END
