#pragma once
/// \file
/// \brief The graph networks' gathers, segmented sums and force reduction as Kokkos kernels in any
/// execution space: the device counterparts of gather_scatter.hpp.
///
/// With nn/dense_kernel.hpp these are the pieces a graph network is made of when it runs where the
/// System lives (host threads or a GPU, one source): per-edge gathers of per-atom rows, sums of
/// per-edge (or per-triplet) rows onto their atom (or edge), and the reduction of per-edge
/// gradients ∂E/∂r_e to forces and virial (docs/threads.md, "Device kernels").
///
/// Determinism without atomics: a sum onto a row is computed whole by one thread, over the row's
/// members in increasing index order (CSR `Segments`, built on the host once per graph). The
/// results are therefore bitwise the same on every run and at any thread count, and each sum is the
/// one the serial scatter (`scatter_add_rows`, `edge_gradients_to_forces`) computes, in the same
/// order. The virial (nine sums over all edges) is summed per fixed block of edges and the blocks'
/// partials are added in block order on the host: the block count depends on the edge count only,
/// never on scheduling.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/potential/graphnet/gather_scatter.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// A host index array copied into MemorySpace.
template <class MemorySpace>
Kokkos::View<int*, MemorySpace> index_view(const std::vector<int>& v, const std::string& label) {
  Kokkos::View<int*, MemorySpace> d(label, v.size());
  Kokkos::deep_copy(d, Kokkos::View<const int*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(v.data(), v.size()));
  return d;
}

/// Members of each of n segments in CSR form: `member(offset(i) .. offset(i+1))` are segment i's
/// member indices in increasing order (e.g. the edges whose destination is atom i).
template <class MemorySpace>
struct Segments {
  Kokkos::View<int*, MemorySpace> offset;  ///< [n + 1]
  Kokkos::View<int*, MemorySpace> member;  ///< [number of members]

  Segments() = default;
  /// Groups members 0, 1, … by `key[m]` ∈ [0, n): segment key[m] gets member m (in order).
  Segments(const std::vector<int>& key, const std::size_t n) { build(key, n); }

  int size() const { return offset.extent(0) > 0 ? static_cast<int>(offset.extent(0)) - 1 : 0; }

 protected:
  /// Segment key[q] gets entry q, for q = 0, 1, … in order: the host's EdgeGroups (gather_scatter.hpp),
  /// checked and copied into MemorySpace.
  void build(const std::vector<int>& key, const std::size_t n) {
    for (std::size_t q = 0; q < key.size(); ++q)
      if (key[q] < 0 || static_cast<std::size_t>(key[q]) >= n)
        throw ValueError("graphnet::Segments: entry " + std::to_string(q) + " has key " + std::to_string(key[q]) +
                         ", outside [0, " + std::to_string(n) + ")");
    EdgeGroups groups;
    groups.build(key, n);
    offset = index_view<MemorySpace>(groups.offset, "nernst::graphnet::Segments::offset");
    member = index_view<MemorySpace>(groups.edge, "nernst::graphnet::Segments::member");
  }
};

/// The edges incident to each atom, in increasing edge order, each as 2e (the atom is the edge's
/// source) or 2e + 1 (its destination): what F_i = Σ_{src=i} G_e − Σ_{dst=i} G_e sums, in the order
/// the serial loop over edges adds to atom i (for an edge from an atom to its own image, source
/// first, then destination).
template <class MemorySpace>
struct IncidentEdges : Segments<MemorySpace> {
  IncidentEdges() = default;
  IncidentEdges(const std::vector<int>& src, const std::vector<int>& dst, const std::size_t natoms) {
    if (src.size() != dst.size())
      throw ValueError("graphnet::IncidentEdges: " + std::to_string(src.size()) + " sources, " +
                       std::to_string(dst.size()) + " destinations");
    std::vector<int> key(2 * src.size());
    for (std::size_t e = 0; e < src.size(); ++e) {
      check_end(e, src[e], "source", natoms);
      check_end(e, dst[e], "destination", natoms);
      key[2 * e] = src[e];
      key[2 * e + 1] = dst[e];
    }
    this->build(key, natoms);
  }

 private:
  static void check_end(const std::size_t e, const int atom, const char* end, const std::size_t natoms) {
    if (atom < 0 || static_cast<std::size_t>(atom) >= natoms)
      throw ValueError("graphnet::IncidentEdges: edge " + std::to_string(e) + " has " + end + " " +
                       std::to_string(atom) + ", outside [0, " + std::to_string(natoms) + ")");
  }
};

namespace detail {

/// Z(e, j) = P(ia(e), j) + Q(ib(e), j).
template <class ZV, class PV, class IV, class QV>
struct GatherSum2Kernel {
  ZV z;
  PV p;
  IV ia;
  QV q;
  IV ib;
  KOKKOS_INLINE_FUNCTION void operator()(const int e, const int j) const { z(e, j) = p(ia(e), j) + q(ib(e), j); }
};

/// Z(e, j) = P(ia(e), j) + Q(ib(e), j) + R(ic(e), j), summed left to right (gather_sum3).
template <class ZV, class PV, class IV, class QV, class RV>
struct GatherSum3Kernel {
  ZV z;
  PV p;
  IV ia;
  QV q;
  IV ib;
  RV r;
  IV ic;
  KOKKOS_INLINE_FUNCTION void operator()(const int e, const int j) const {
    z(e, j) = p(ia(e), j) + q(ib(e), j) + r(ic(e), j);
  }
};

/// out(e, j) = v(idx(e), j): per-edge copies of per-atom rows.
template <class Scalar, class MS>
struct GatherRowsKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> out, v;
  Kokkos::View<const int*, MS> idx;
  KOKKOS_INLINE_FUNCTION void operator()(const int e, const int j) const { out(e, j) = v(idx(e), j); }
};

/// V(i, ·) = table(type(i), ·).
template <class Scalar, class MS>
struct EmbeddingKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> v, table;
  Kokkos::View<const int*, MS> type;
  KOKKOS_INLINE_FUNCTION void operator()(const int i, const int j) const { v(i, j) = table(type(i), j); }
};

/// out(r, j) = (x(ix(r), j) · w1(i1(r), j)) · w2(i2(r), j): a message or its adjoint from gathered
/// rows. An unallocated index view stands for the row itself; an unallocated w2 drops the second
/// factor.
template <class Scalar, class MS>
struct GatherProductKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> out, x, w1, w2;
  Kokkos::View<const int*, MS> ix, i1, i2;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const {
    Scalar p = x(ix.data() ? ix(r) : r, j) * w1(i1.data() ? i1(r) : r, j);
    if (w2.data()) p = p * w2(i2.data() ? i2(r) : r, j);
    out(r, j) = p;
  }
};

/// out(idx(r), j) += v(r, j) where idx takes each value at most once (one writer per row).
template <class Scalar, class MS>
struct ScatterDistinctAddKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> out, v;
  Kokkos::View<const int*, MS> idx;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const { out(idx(r), j) += v(r, j); }
};

/// out = a ⊙ b (out += a ⊙ b with `accumulate`); with b unallocated, out (+)= a.
template <class OV, class AV, class BV>
struct ProductKernel {
  OV out;
  AV a;
  BV b;
  bool accumulate;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const {
    const auto p = b.data() != nullptr ? a(r, j) * b(r, j) : a(r, j);
    out(r, j) = accumulate ? out(r, j) + p : p;
  }
};

/// out(r, j) += bias(j).
template <class Scalar, class MS>
struct AddBiasKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> out;
  Kokkos::View<Scalar*, MS> bias;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int j) const { out(r, j) += bias(j); }
};

/// S(i, j) += Σ_{m ∈ segment i} Y(m, j), members in order.
template <class SV, class OV, class YV>
struct SegmentSumKernel {
  SV s;
  OV offset, member;
  YV y;
  KOKKOS_INLINE_FUNCTION void operator()(const int i, const int j) const {
    auto acc = s(i, j);
    for (int k = offset(i); k < offset(i + 1); ++k) acc += y(member(k), j);
    s(i, j) = acc;
  }
};

/// Host path of segment_sum: one thread per segment, its members in order, each member's row added
/// whole (a vectorised loop over columns): per element the same sum in the same order.
template <class SV, class OV, class YV>
struct SegmentSumHostRows {
  SV s;
  OV offset, member;
  YV y;
  void operator()(const int i) const {
    const int cols = static_cast<int>(s.extent(1));
    for (int k = offset(i); k < offset(i + 1); ++k) {
      const int m = member(k);
      for (int j = 0; j < cols; ++j) s(i, j) += y(m, j);
    }
  }
};

/// F(i, c) = Σ ±G(e, c) over atom i's incident edges in edge order, in double.
template <class FV, class OV, class GV>
struct IncidentForceKernel {
  FV f;
  OV offset, member;
  GV g;
  KOKKOS_INLINE_FUNCTION void operator()(const int n) const {
    const int i = n / 3, c = n % 3;
    double acc = 0.0;
    for (int k = offset(i); k < offset(i + 1); ++k) {
      const int q = member(k);
      const double gq = static_cast<double>(g(q >> 1, c));
      if (q & 1)
        acc -= gq;
      else
        acc += gq;
    }
    f(i, c) = acc;
  }
};

/// W_ab of block b = Σ_{e in block b} r_ea G_eb, edges [start(b), start(b + 1)) in order, in double.
template <class WV, class SV, class RV, class GV>
struct BlockVirialKernel {
  WV w;
  SV start;
  RV r;
  GV g;
  KOKKOS_INLINE_FUNCTION void operator()(const int blk, const int q) const {
    const int a = q / 3, c = q % 3;
    double acc = 0.0;
    for (int e = start(blk); e < start(blk + 1); ++e) acc += static_cast<double>(r(e, a)) * static_cast<double>(g(e, c));
    w(blk, q) = acc;
  }
};

}  // namespace detail

/// Edges per block of the virial's partial sums.
inline constexpr int kVirialBlock = 4096;

/// Z.row(e) = P.row(ia(e)) + Q.row(ib(e)) for every row e of Z (the split first layer of a
/// convolution: node projections gathered per edge; the device form of gather_sum2).
template <class ExecutionSpace, class ZV, class PV, class IV, class QV>
void gather_sum2(const ExecutionSpace& space, const ZV& Z, const PV& P, const IV& ia, const QV& Q, const IV& ib) {
  const int rows = static_cast<int>(Z.extent(0)), cols = static_cast<int>(Z.extent(1));
  if (static_cast<int>(ia.extent(0)) < rows || static_cast<int>(ib.extent(0)) < rows || P.extent(1) != Z.extent(1) ||
      Q.extent(1) != Z.extent(1))
    throw ValueError("graphnet::gather_sum2: index or feature sizes do not match the " + std::to_string(rows) + " x " +
                     std::to_string(cols) + " output");
  Kokkos::parallel_for("nernst::graphnet::gather_sum2", matrix_policy(space, rows, cols),
                       detail::GatherSum2Kernel<ZV, PV, IV, QV>{Z, P, ia, Q, ib});
}

/// Z.row(e) = P.row(ia(e)) + Q.row(ib(e)) + R.row(ic(e)) for every row e of Z (the device form of
/// gather_sum3: CHGNet's split first layers).
template <class ExecutionSpace, class ZV, class PV, class IV, class QV, class RV>
void gather_sum3(const ExecutionSpace& space, const ZV& Z, const PV& P, const IV& ia, const QV& Q, const IV& ib,
                 const RV& R, const IV& ic) {
  const int rows = static_cast<int>(Z.extent(0)), cols = static_cast<int>(Z.extent(1));
  if (static_cast<int>(ia.extent(0)) < rows || static_cast<int>(ib.extent(0)) < rows ||
      static_cast<int>(ic.extent(0)) < rows || P.extent(1) != Z.extent(1) || Q.extent(1) != Z.extent(1) ||
      R.extent(1) != Z.extent(1))
    throw ValueError("graphnet::gather_sum3: index or feature sizes do not match the " + std::to_string(rows) + " x " +
                     std::to_string(cols) + " output");
  Kokkos::parallel_for("nernst::graphnet::gather_sum3", matrix_policy(space, rows, cols),
                       detail::GatherSum3Kernel<ZV, PV, IV, QV, RV>{Z, P, ia, Q, ib, R, ic});
}

/// `v` with exactly these extents: kept when it has them, else allocated without a zero fill (for
/// the kernels' per-evaluation arrays, each written whole before it is read).
template <class V>
const V& exact_view(V& v, const std::string& label, const int rows, const int cols) {
  if (static_cast<int>(v.extent(0)) != rows || static_cast<int>(v.extent(1)) != cols)
    v = V(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), rows, cols);
  return v;
}
template <class V>
const V& exact_view(V& v, const std::string& label, const int rows) {
  if (static_cast<int>(v.extent(0)) != rows) v = V(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), rows);
  return v;
}

// The graph-network kernels' (M3GNetKernel, CHGNetKernel) small helpers, shared: labels are
// "nernst::graphnet::<label>".

/// exact_view of a kernel's per-evaluation array [rows, cols], labelled "nernst::graphnet::<label>".
template <class V>
const V& sized(V& v, const char* label, const int rows, const int cols) {
  return exact_view(v, std::string("nernst::graphnet::") + label, rows, cols);
}
/// exact_view of a kernel's per-evaluation array [rows], labelled "nernst::graphnet::<label>".
template <class V>
const V& sized(V& v, const char* label, const int rows) {
  return exact_view(v, std::string("nernst::graphnet::") + label, rows);
}

/// index_view labelled "nernst::graphnet::<label>".
template <class MemorySpace>
Kokkos::View<int*, MemorySpace> to_device(const std::vector<int>& v, const char* label) {
  return index_view<MemorySpace>(v, std::string("nernst::graphnet::") + label);
}

/// v = 0 (enqueued on `space`).
template <class ExecutionSpace, class V>
void zero(const ExecutionSpace& space, const V& v) {
  Kokkos::deep_copy(space, v, typename V::non_const_value_type(0));
}

/// out = a ⊙ b (out += a ⊙ b with `accumulate`); with b unallocated, out (+)= a
/// (detail::ProductKernel, one thread per element).
template <class ExecutionSpace, class V>
void product(const ExecutionSpace& space, const V& out, const V& a, const V& b, const bool accumulate) {
  Kokkos::parallel_for("nernst::graphnet::product",
                       matrix_policy(space, static_cast<int>(out.extent(0)), static_cast<int>(out.extent(1))),
                       detail::ProductKernel<V, V, V>{out, a, b, accumulate});
}

/// S.row(i) += Σ_{m ∈ segment i} Y.row(m), members in increasing order: bitwise the serial
/// scatter_add_rows(S, key, Y) of the key the segments were built from.
template <class ExecutionSpace, class SV, class MemorySpace, class YV>
void segment_sum(const ExecutionSpace& space, const SV& S, const Segments<MemorySpace>& seg, const YV& Y) {
  static_assert(is_accessible_v<ExecutionSpace, MemorySpace>, "segments must live where the kernel runs");
  const int rows = seg.size(), cols = static_cast<int>(S.extent(1));
  if (static_cast<int>(S.extent(0)) != rows || Y.extent(1) != S.extent(1))
    throw ValueError("graphnet::segment_sum: " + std::to_string(rows) + " segments, S has " +
                     std::to_string(S.extent(0)) + " rows; S and Y have " + std::to_string(S.extent(1)) + " and " +
                     std::to_string(Y.extent(1)) + " columns");
  if constexpr (runs_on_host_v<ExecutionSpace>)
    Kokkos::parallel_for("nernst::graphnet::segment_sum", Kokkos::RangePolicy<ExecutionSpace>(space, 0, rows),
                         detail::SegmentSumHostRows<SV, decltype(seg.offset), YV>{S, seg.offset, seg.member, Y});
  else
    Kokkos::parallel_for("nernst::graphnet::segment_sum", matrix_policy(space, rows, cols),
                         detail::SegmentSumKernel<SV, decltype(seg.offset), YV>{S, seg.offset, seg.member, Y});
}

/// Forces F_i = Σ_{src=i} G_e − Σ_{dst=i} G_e ([natoms, 3], overwritten) and one virial W_ab = Σ_e
/// r_ea G_eb per structure of a batch (structure k's edges: [edge_offset[k], edge_offset[k + 1]))
/// from per-edge gradients G = ∂E/∂r_e and bond vectors r ([E, 3] each), in double whatever the
/// scalar of G and r. Forces are bitwise the serial reduction's; a virial is summed in blocks of
/// kVirialBlock of its structure's edges, added in block order (bitwise the serial sum up to
/// kVirialBlock edges, and for each structure the same as for that structure alone).
template <class ExecutionSpace, class MemorySpace, class GV, class RV, class FV>
std::vector<Eigen::Matrix3d> edge_gradients_to_forces(const ExecutionSpace& space,
                                                      const IncidentEdges<MemorySpace>& incident, const GV& G,
                                                      const RV& rvec, const FV& F, const std::vector<int>& edge_offset) {
  static_assert(is_accessible_v<ExecutionSpace, MemorySpace>, "incident edges must live where the kernel runs");
  const int natoms = incident.size(), edges = static_cast<int>(G.extent(0));
  if (static_cast<int>(F.extent(0)) != natoms || static_cast<int>(rvec.extent(0)) != edges ||
      2 * static_cast<std::size_t>(edges) != incident.member.extent(0))
    throw ValueError("graphnet::edge_gradients_to_forces: " + std::to_string(edges) + " edge gradients, " +
                     std::to_string(rvec.extent(0)) + " bond vectors, " +
                     std::to_string(incident.member.extent(0) / 2) + " incident edges, " + std::to_string(F.extent(0)) +
                     " force rows for " + std::to_string(natoms) + " atoms");
  if (edge_offset.size() < 2 || edge_offset.front() != 0 || edge_offset.back() != edges ||
      !std::is_sorted(edge_offset.begin(), edge_offset.end()))
    throw ValueError("graphnet::edge_gradients_to_forces: structure edge offsets do not partition the " +
                     std::to_string(edges) + " edges");
  Kokkos::parallel_for(
      "nernst::graphnet::edge_forces", Kokkos::RangePolicy<ExecutionSpace>(space, 0, 3 * natoms),
      detail::IncidentForceKernel<FV, decltype(incident.offset), GV>{F, incident.offset, incident.member, G});
  // Blocks of at most kVirialBlock edges, never across structures; owner[b] = its structure.
  std::vector<int> start, owner;
  for (std::size_t k = 0; k + 1 < edge_offset.size(); ++k)
    for (int e = edge_offset[k]; e < edge_offset[k + 1]; e += kVirialBlock) {
      start.push_back(e);
      owner.push_back(static_cast<int>(k));
    }
  start.push_back(edges);
  const int blocks = static_cast<int>(owner.size());
  using MS = typename ExecutionSpace::memory_space;
  Kokkos::View<int*, MS> starts("nernst::graphnet::virial_block_start", start.size());
  Kokkos::deep_copy(space, starts, Kokkos::View<const int*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(start.data(), start.size()));
  Kokkos::View<double* [9], MS> partial("nernst::graphnet::virial_blocks", blocks);
  Kokkos::parallel_for("nernst::graphnet::edge_virial", matrix_policy(space, blocks, 9),
                       detail::BlockVirialKernel<decltype(partial), decltype(starts), RV, GV>{partial, starts, rvec, G});
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), partial);
  std::vector<Eigen::Matrix3d> W(edge_offset.size() - 1, Eigen::Matrix3d::Zero());
  for (int b = 0; b < blocks; ++b)
    for (int q = 0; q < 9; ++q) W[static_cast<std::size_t>(owner[static_cast<std::size_t>(b)])](q / 3, q % 3) += h(b, q);
  return W;
}

/// The same for one structure: forces and its virial.
template <class ExecutionSpace, class MemorySpace, class GV, class RV, class FV>
Eigen::Matrix3d edge_gradients_to_forces(const ExecutionSpace& space, const IncidentEdges<MemorySpace>& incident,
                                         const GV& G, const RV& rvec, const FV& F) {
  return edge_gradients_to_forces(space, incident, G, rvec, F, {0, static_cast<int>(G.extent(0))}).front();
}

}  // namespace graphnet
NERNST_NAMESPACE_END
