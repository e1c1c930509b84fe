#pragma once
/// \file
/// \brief Full periodic neighbour lists (CSR) for triclinic cells of any size, built with bins.
///
/// Cutoff rule (see docs/conventions.md): j (in image S) is a neighbour of i iff
/// |r_ij|² < r_c², with r_ij = x_j + S · L − x_i computed by `image_vector` below, and
/// (j, S) ≠ (i, 0). The list is *full* by default: both (i, j, S) and (j, i, −S) are stored
/// (`NeighborListOptions::half` keeps only (j, S) after (i, 0)). Cells thinner
/// than the cutoff are handled: every periodic image within r_c is listed, including images of i
/// itself (a one-atom cell gives each of its images as a neighbour).
///
/// Algorithm: wrap the fractional coordinates into [0, 1) internally (the input positions are
/// not changed and need not be wrapped: the shifts refer to the positions as given); bin the
/// atoms on an nb_0 × nb_1 × nb_2 grid along the lattice directions with
/// nb_k = max(1, ⌊2 w_k / r_c⌋), w_k the perpendicular width of the cell along k (capped so that
/// there are at most ~2 bins per atom); then each atom scans R_k = ⌈r_c nb_k / w_k⌉ bins either
/// way along each axis, *without* wrapping the bin index: an unwrapped bin e maps to the stored
/// bin e mod nb_k in image ⌊e / nb_k⌋, so tiny cells loop over as many images as needed and each
/// (j, S) is visited exactly once. Two passes (count, exclusive scan, fill), linear in the atom
/// count at fixed density; on one thread a sorted list is built in one visit plus a transpose
/// (see build_neighbor_list).

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/vec3.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

NERNST_NAMESPACE_BEGIN

/// r_ij = x_j + S · L − x_i for integer image S (rows of `cell` are the lattice vectors). This is
/// the exact expression the builder tests against r_c², so a pair is in the list iff
/// norm2(image_vector(...)) < r_c² evaluated by this function.
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> image_vector(const Vec3<T>& xi, const Vec3<T>& xj, int s0, int s1, int s2,
                                            const Mat3<T>& cell) {
  Vec3<T> r;
  for (int d = 0; d < 3; ++d)
    r[d] = (xj[d] - xi[d]) + (T(s0) * cell(0, d) + T(s1) * cell(1, d) + T(s2) * cell(2, d));
  return r;
}

/// A full neighbour list in compressed-sparse-row form, living in MemorySpace.
///
/// The neighbours of atom i are the pairs p in [offsets(i), offsets(i+1)); for each,
/// j = neighbors(p) and the integer image is shifts(p, 0..2), such that
/// r_ij = x_j + shifts(p) · L − x_i (positions exactly as passed to the builder).
template <class MemorySpace = DefaultMemorySpace>
struct NeighborList {
  using memory_space = MemorySpace;

  Kokkos::View<int*, MemorySpace> offsets;    ///< n + 1 entries; offsets(n) = number of pairs
  Kokkos::View<int*, MemorySpace> neighbors;  ///< j of each pair
  Kokkos::View<int* [3], MemorySpace> shifts; ///< image S of each pair (lattice-vector units)
  double cutoff = 0.0;                        ///< r_c in Å
  int max_neighbors = 0;                      ///< largest per-atom neighbour count
  bool sorted = false;                        ///< each atom's pairs sorted by (j, S) lexicographically
  bool half = false;                          ///< only pairs with (j, S) after (i, 0) (see NeighborListOptions)
  std::array<int, 3> bins{{0, 0, 0}};         ///< bin grid used (diagnostic)
  std::array<int, 3> search_range{{0, 0, 0}}; ///< bins scanned either way per axis (diagnostic)

  std::size_t num_atoms() const { return offsets.extent(0) > 0 ? offsets.extent(0) - 1 : 0; }
  std::size_t num_pairs() const { return neighbors.extent(0); }

  KOKKOS_INLINE_FUNCTION int begin(int i) const { return offsets(i); }
  KOKKOS_INLINE_FUNCTION int end(int i) const { return offsets(i + 1); }
  KOKKOS_INLINE_FUNCTION int num_neighbors(int i) const { return offsets(i + 1) - offsets(i); }

  /// Per-atom neighbour counts (a new view in MemorySpace).
  template <class ExecutionSpace = typename MemorySpace::execution_space>
  Kokkos::View<int*, MemorySpace> counts(const ExecutionSpace& exec = ExecutionSpace()) const {
    const int n = static_cast<int>(num_atoms());
    Kokkos::View<int*, MemorySpace> c(Kokkos::view_alloc(std::string("nernst::NeighborList::counts"),
                                                         Kokkos::WithoutInitializing),
                                      n);
    const auto off = offsets;
    Kokkos::parallel_for(
        "nernst::NeighborList::counts", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n),
        KOKKOS_LAMBDA(const int i) { c(i) = off(i + 1) - off(i); });
    return c;
  }
};

/// Options for build_neighbor_list.
struct NeighborListOptions {
  /// Sort each atom's neighbours by (j, S). Makes the order deterministic on every backend
  /// (otherwise the order within an atom's list depends on atomic bin filling on parallel
  /// backends). Costs O(k log k) per atom.
  bool sort = true;
  /// Half list: keep only the pairs with (j, S) after (i, 0) in lexicographic (index, image)
  /// order, so every unordered pair (and every self-image pair, once per ±S) appears once,
  /// for pair potentials that use Newton's third law. Default: the full list.
  bool half = false;
};

namespace detail {

KOKKOS_INLINE_FUNCTION int floor_div(int a, int b) {
  const int q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Everything the per-atom search needs, as views and PODs (copyable into kernels).
template <class PositionView>
struct NeighborSearch {
  using MemorySpace = typename PositionView::memory_space;
  PositionView x;                              ///< positions as given (any layout)
  Kokkos::View<int* [3], MemorySpace> origin;  ///< ⌊f_i⌋: x_i = (s_i + origin_i) · L, s_i in [0,1)
  Kokkos::View<int* [3], MemorySpace> ibin;    ///< bin coordinates of each atom
  Kokkos::View<int*, MemorySpace> bin_start;   ///< nbins + 1
  Kokkos::View<int*, MemorySpace> bin_atoms;   ///< atoms ordered by bin
  /// Wrapped Cartesian positions x_i − origin_i · L in bin order: the inner loop streams through
  /// these for a cheap pre-filter; survivors are re-tested with the exact image_vector formula.
  Kokkos::View<double* [3], MemorySpace> bin_xw;
  Mat3<double> cell;
  int nb0 = 1, nb1 = 1, nb2 = 1;
  int r0 = 1, r1 = 1, r2 = 1;
  double rc2 = 0;
  double rc2_loose = 0;  ///< (r_c + δ)², δ far above the rounding difference of the two formulas

  /// Calls f(j, s0, s1, s2) for every neighbour (j, S) of atom i, in a fixed order.
  template <class F>
  KOKKOS_INLINE_FUNCTION void visit(const int i, F&& f) const {
    const Vec3<double> xi(x(i, 0), x(i, 1), x(i, 2));
    const int oi0 = origin(i, 0), oi1 = origin(i, 1), oi2 = origin(i, 2);
    const Vec3<double> xwi = image_vector(Vec3<double>(), xi, -oi0, -oi1, -oi2, cell);
    const int b0 = ibin(i, 0), b1 = ibin(i, 1), b2 = ibin(i, 2);
    const int e2lo = b2 - r2, e2hi = b2 + r2;
    for (int e0 = b0 - r0; e0 <= b0 + r0; ++e0) {
      const int n0 = floor_div(e0, nb0), w0 = e0 - n0 * nb0;
      for (int e1 = b1 - r1; e1 <= b1 + r1; ++e1) {
        const int n1 = floor_div(e1, nb1), w1 = e1 - n1 * nb1;
        const int row = (w0 * nb1 + w1) * nb2;
        // Along axis 2 the bins of one image are contiguous in bin order: one stretch of atoms
        // per image instead of one loop per bin (same visiting order).
        for (int e2 = e2lo; e2 <= e2hi;) {
          const int n2 = floor_div(e2, nb2), w2 = e2 - n2 * nb2;
          const int last = (n2 + 1) * nb2 - 1 < e2hi ? (n2 + 1) * nb2 - 1 : e2hi;  // same image
          const int kbeg = bin_start(row + w2), kend = bin_start(row + w2 + (last - e2) + 1);
          e2 = last + 1;
          const bool home = n0 == 0 && n1 == 0 && n2 == 0;
          const Vec3<double> t = image_vector(xwi, Vec3<double>(), n0, n1, n2, cell);  // n·L − xw_i
          for (int k = kbeg; k < kend; ++k) {
            const Vec3<double> r(bin_xw(k, 0) + t.x, bin_xw(k, 1) + t.y, bin_xw(k, 2) + t.z);
            if (!(norm2(r) < rc2_loose)) continue;
            const int j = bin_atoms(k);
            if (home && j == i) continue;
            // Image of j relative to the positions as given (not the wrapped ones).
            const int s0 = n0 + oi0 - origin(j, 0);
            const int s1 = n1 + oi1 - origin(j, 1);
            const int s2 = n2 + oi2 - origin(j, 2);
            const Vec3<double> xj(x(j, 0), x(j, 1), x(j, 2));
            if (norm2(image_vector(xi, xj, s0, s1, s2, cell)) < rc2) f(j, s0, s1, s2);
          }
        }
      }
    }
  }
};

/// Lexicographic (j, s0, s1, s2) order.
template <class NV, class SV>
KOKKOS_INLINE_FUNCTION bool pair_less(const NV& nb, const SV& sh, int a, int b) {
  if (nb(a) != nb(b)) return nb(a) < nb(b);
  for (int d = 0; d < 3; ++d)
    if (sh(a, d) != sh(b, d)) return sh(a, d) < sh(b, d);
  return false;
}

template <class NV, class SV>
KOKKOS_INLINE_FUNCTION void pair_swap(const NV& nb, const SV& sh, int a, int b) {
  const int t = nb(a);
  nb(a) = nb(b);
  nb(b) = t;
  for (int d = 0; d < 3; ++d) {
    const int u = sh(a, d);
    sh(a, d) = sh(b, d);
    sh(b, d) = u;
  }
}

/// In-place sort of pairs [lo, hi): insertion sort for short lists, heap sort otherwise (no
/// recursion, no scratch: fine on GPUs).
template <class NV, class SV>
KOKKOS_INLINE_FUNCTION void heap_sort_pairs(const NV& nb, const SV& sh, int lo, int hi) {
  const int n = hi - lo;
  if (n <= 48) {  // insertion sort: faster for typical lists (tens of pairs, partly ordered)
    for (int a = lo + 1; a < hi; ++a) {
      const int j = nb(a), t0 = sh(a, 0), t1 = sh(a, 1), t2 = sh(a, 2);
      int b = a;
      while (b > lo) {
        const int jb = nb(b - 1);
        const bool greater = jb != j ? jb > j
                                     : (sh(b - 1, 0) != t0 ? sh(b - 1, 0) > t0
                                                           : (sh(b - 1, 1) != t1 ? sh(b - 1, 1) > t1 : sh(b - 1, 2) > t2));
        if (!greater) break;
        nb(b) = jb;
        for (int d = 0; d < 3; ++d) sh(b, d) = sh(b - 1, d);
        --b;
      }
      nb(b) = j;
      sh(b, 0) = t0;
      sh(b, 1) = t1;
      sh(b, 2) = t2;
    }
    return;
  }
  auto sift = [&](int root, int len) {
    while (true) {
      int child = 2 * root + 1;
      if (child >= len) return;
      if (child + 1 < len && pair_less(nb, sh, lo + child, lo + child + 1)) ++child;
      if (!pair_less(nb, sh, lo + root, lo + child)) return;
      pair_swap(nb, sh, lo + root, lo + child);
      root = child;
    }
  };
  for (int start = n / 2 - 1; start >= 0; --start) sift(start, n);
  for (int end = n - 1; end > 0; --end) {
    pair_swap(nb, sh, lo, lo + end);
    sift(0, end);
  }
}

/// (j, S) after (i, 0) in lexicographic (index, image) order: the pairs a half list keeps.
KOKKOS_INLINE_FUNCTION bool pair_after(int i, int j, int s0, int s1, int s2) {
  return j > i || (j == i && (s0 > 0 || (s0 == 0 && (s1 > 0 || (s1 == 0 && s2 > 0)))));
}

/// Sorts a row [lo, hi) that is already ordered by j: only the runs of equal j (several images
/// of one atom, small cells) need ordering by S.
template <class NV, class SV>
KOKKOS_INLINE_FUNCTION void sort_equal_j_runs(const NV& nb, const SV& sh, int lo, int hi) {
  int a = lo;
  while (a < hi) {
    int b = a + 1;
    while (b < hi && nb(b) == nb(a)) ++b;
    if (b - a > 1) heap_sort_pairs(nb, sh, a, b);
    a = b;
  }
}

/// Bin grid and search range for a cell (host). Exposed for the docs and tests.
struct BinGeometry {
  std::array<int, 3> nb{{1, 1, 1}};
  std::array<int, 3> range{{1, 1, 1}};
};

/// `xmax` bounds |x| componentwise (Å); it sets the rounding margin of wrapped coordinates.
inline BinGeometry bin_geometry(const Lattice& cell, double cutoff, std::size_t natoms, double xmax = 0.0) {
  BinGeometry g;
  const auto w = cell.perpendicular_widths();
  // A relative margin on r_c keeps the search complete when w_k is an exact multiple of r_c
  // and rounding puts a pair at d ≈ r_c one bin further than exact arithmetic would.
  const double rcb = cutoff * (1.0 + 1e-9);
  for (int k = 0; k < 3; ++k) {
    // Bins at least r_c / 2 wide: 5³ bins of r_c / 2 cover ~2.3x less volume than 3³ of r_c.
    const double q = std::floor(2.0 * w[k] / rcb);
    g.nb[k] = static_cast<int>(std::max(1.0, std::min(q, 1024.0)));
  }
  // Sparse or huge cells: at most ~2 bins per atom (coarser bins stay correct: R_k adapts).
  const std::int64_t limit = std::max<std::int64_t>(8, 2 * static_cast<std::int64_t>(natoms));
  auto total = [&]() { return std::int64_t(g.nb[0]) * g.nb[1] * g.nb[2]; };
  while (total() > limit) {
    int k = 0;
    for (int d = 1; d < 3; ++d)
      if (g.nb[d] > g.nb[k]) k = d;
    g.nb[k] = std::max(1, std::min(g.nb[k] - 1, (g.nb[k] * 3) / 4));
  }
  // Computed wrapped fractional coordinates are off by ~eps (1 + |f|); a generous margin
  // (1e-12 (1 + |f|_max), both atoms) keeps such rounding from hiding a pair one bin further.
  for (int k = 0; k < 3; ++k) {
    const double frac_margin = 2e-12 * (1.0 + std::sqrt(3.0) * xmax / w[k]);
    g.range[k] = static_cast<int>(std::ceil((rcb / w[k] + frac_margin) * g.nb[k]));
  }
  return g;
}

}  // namespace detail

namespace detail {

// The stages of build_neighbor_list. Free function templates, not one long function: each stage
// reads at once, and nvcc accepts extended lambdas in them (every template parameter named).

/// max_i,d |x_id| (NaN ignored: the binning stage catches it).
template <class ExecutionSpace, class PositionView>
double max_abs_coordinate(const ExecutionSpace& exec, const PositionView& x, const int n) {
  double xmax = 0;
  Kokkos::parallel_reduce(
      "nernst::NeighborList::xmax", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const int i, double& m) {
        for (int d = 0; d < 3; ++d) m = math::max(m, math::fabs(x(i, d)));
      },
      Kokkos::Max<double>(xmax));
  return xmax;
}

/// Stage 1: wrapped fractional coordinates → image origin and bin of every atom; bin_count(b)
/// += atoms in bin b. Returns the number of non-finite or absurdly large coordinates.
template <class ExecutionSpace, class PositionView, class Counts>
int assign_bins(const ExecutionSpace& exec, const NeighborSearch<PositionView>& s, const Mat3<double>& inv,
                const Counts& bin_count, const int n) {
  const auto xs = s.x;
  const auto origin = s.origin;
  const auto ibin = s.ibin;
  const int nb0 = s.nb0, nb1 = s.nb1, nb2 = s.nb2;
  int bad = 0;
  Kokkos::parallel_reduce(
      "nernst::NeighborList::bin", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const int i, int& nbad) {
        const Vec3<double> xi(xs(i, 0), xs(i, 1), xs(i, 2));
        const Vec3<double> f = frac_to_cart(xi, inv);  // x · L⁻¹
        const int nbk[3] = {nb0, nb1, nb2};
        int bk[3] = {0, 0, 0};
        for (int d = 0; d < 3; ++d) {
          if (!(math::fabs(f[d]) < 1e9)) {  // also catches NaN
            ++nbad;
            origin(i, d) = 0;
            ibin(i, d) = 0;
            continue;
          }
          const double o = math::floor(f[d]);
          const double w = f[d] - o;  // in [0, 1] (1 only by rounding)
          origin(i, d) = static_cast<int>(o);
          int b = static_cast<int>(w * nbk[d]);
          b = b < 0 ? 0 : (b >= nbk[d] ? nbk[d] - 1 : b);
          ibin(i, d) = b;
          bk[d] = b;
        }
        Kokkos::atomic_add(&bin_count((bk[0] * nb1 + bk[1]) * nb2 + bk[2]), 1);  // integer: exact in any order
      },
      bad);
  return bad;
}

/// Exclusive scan of `counts` into `offsets` (offsets(n) = the total).
template <class ExecutionSpace, class Counts, class Offsets>
void scan_counts(const ExecutionSpace& exec, const Counts& counts, const Offsets& offsets, const int n,
                    const char* label) {
  Kokkos::parallel_scan(
      label, Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n), KOKKOS_LAMBDA(const int i, int& upd, const bool final) {
        const int c = counts(i);
        if (final) {
          offsets(i) = upd;
          if (i == n - 1) offsets(n) = upd + c;
        }
        upd += c;
      });
}

/// Stage 2: bin offsets, atoms in bin order (within a bin in any order: the visit order of a
/// bin's atoms does not change which pairs are found, and sorted lists are ordered afterwards),
/// and their wrapped Cartesian positions.
template <class ExecutionSpace, class PositionView, class Counts>
void fill_bins(const ExecutionSpace& exec, NeighborSearch<PositionView>& s, const Counts& bin_count, const int n,
               const int nbins) {
  using MS = typename PositionView::memory_space;
  using Policy = Kokkos::RangePolicy<ExecutionSpace>;
  scan_counts(exec, bin_count, s.bin_start, nbins, "nernst::NeighborList::bin_scan");
  Kokkos::deep_copy(exec, bin_count, 0);
  const auto ibin = s.ibin;
  const auto bin_start = s.bin_start;
  const auto bin_atoms = s.bin_atoms;
  const int nb1 = s.nb1, nb2 = s.nb2;
  Kokkos::parallel_for(
      "nernst::NeighborList::bin_fill", Policy(exec, 0, n), KOKKOS_LAMBDA(const int i) {
        const int b = (ibin(i, 0) * nb1 + ibin(i, 1)) * nb2 + ibin(i, 2);
        const int k = Kokkos::atomic_fetch_add(&bin_count(b), 1);
        bin_atoms(bin_start(b) + k) = i;
      });
  s.bin_xw = Kokkos::View<double* [3], MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::bin_xw"), Kokkos::WithoutInitializing), n);
  const auto xs = s.x;
  const auto origin = s.origin;
  const auto bxw = s.bin_xw;
  const auto cm = s.cell;
  Kokkos::parallel_for(
      "nernst::NeighborList::bin_copy", Policy(exec, 0, n), KOKKOS_LAMBDA(const int k) {
        const int i = bin_atoms(k);
        const Vec3<double> w = image_vector(Vec3<double>(), Vec3<double>(xs(i, 0), xs(i, 1), xs(i, 2)),
                                            -origin(i, 0), -origin(i, 1), -origin(i, 2), cm);
        for (int d = 0; d < 3; ++d) bxw(k, d) = w[d];
      });
}

/// Per-row counts of a list: counts(i) pairs kept in row i, lower(i) pairs with (j, S) before
/// (i, 0) (the half of the row a half list drops).
template <class MemorySpace>
struct RowCounts {
  Kokkos::View<int*, MemorySpace> counts, lower;
  explicit RowCounts(const int n)
      : counts(Kokkos::view_alloc(std::string("nernst::NeighborList::counts"), Kokkos::WithoutInitializing), n),
        lower(Kokkos::view_alloc(std::string("nernst::NeighborList::lower"), Kokkos::WithoutInitializing), n) {}
};

/// Stage 3 (parallel): count every atom's pairs, atoms walked in bin order so that neighbouring
/// bins stay in cache.
template <class ExecutionSpace, class PositionView>
void count_pairs(const ExecutionSpace& exec, const NeighborSearch<PositionView>& s,
                 const RowCounts<typename PositionView::memory_space>& rc, const bool half, const int n) {
  const auto counts = rc.counts;
  const auto lower = rc.lower;
  Kokkos::parallel_for(
      "nernst::NeighborList::count", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n), KOKKOS_LAMBDA(const int k) {
        const int i = s.bin_atoms(k);
        int c = 0, up = 0;
        s.visit(i, [&](int j, int s0, int s1, int s2) {
          ++c;
          if (pair_after(i, j, s0, s1, s2)) ++up;
        });
        counts(i) = half ? up : c;
        lower(i) = c - up;
      });
}

/// The mirror rows U of a sorted list built on one thread (see fill_by_transpose): row i of U
/// starts at ubeg(i) in (unb, ush).
template <class MemorySpace>
struct MirrorRows {
  Kokkos::View<int*, MemorySpace> ubeg, unb;
  Kokkos::View<int* [3], MemorySpace> ush;
};

/// Stage 3 (one thread, sorted list): counts every row and writes the mirror rows U in the same
/// visit, in bin order, into a buffer sized from the mean density (`expected` pairs); a second
/// visit only when that guess was too small.
template <class ExecutionSpace, class PositionView>
MirrorRows<typename PositionView::memory_space> count_and_fill_mirror(
    const ExecutionSpace& exec, const NeighborSearch<PositionView>& s,
    const RowCounts<typename PositionView::memory_space>& rc, const bool half, const int n, const double expected) {
  using MS = typename PositionView::memory_space;
  MirrorRows<MS> u;
  u.ubeg = Kokkos::View<int*, MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::ubeg"), Kokkos::WithoutInitializing), n);
  std::int64_t cap = static_cast<std::int64_t>((half ? 0.6 : 1.15) * expected) + 64 * std::int64_t(n) + 1024;
  const auto counts = rc.counts;
  const auto lower = rc.lower;
  for (int attempt = 0; attempt < 2; ++attempt) {
    cap = std::min<std::int64_t>(cap, INT_MAX - 1);
    u.unb = Kokkos::View<int*, MS>(
        Kokkos::view_alloc(std::string("nernst::NeighborList::unb"), Kokkos::WithoutInitializing), cap);
    u.ush = Kokkos::View<int* [3], MS>(
        Kokkos::view_alloc(std::string("nernst::NeighborList::ush"), Kokkos::WithoutInitializing), cap);
    const auto ub = u.ubeg;
    const auto un = u.unb;
    const auto us = u.ush;
    const std::int64_t capacity = cap;
    std::int64_t used = 0;
    Kokkos::parallel_reduce(
        "nernst::NeighborList::count_fill_mirror", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, 1),
        KOKKOS_LAMBDA(const int, std::int64_t& total) {
          std::int64_t q = 0;
          for (int k = 0; k < n; ++k) {
            const int i = s.bin_atoms(k);
            ub(i) = q < capacity ? static_cast<int>(q) : 0;
            int c = 0, up = 0;
            s.visit(i, [&](int j, int s0, int s1, int s2) {
              ++c;
              const bool after = pair_after(i, j, s0, s1, s2);
              if (after) ++up;
              if (half && after) return;
              if (q < capacity) {
                un(q) = j;
                us(q, 0) = s0;
                us(q, 1) = s1;
                us(q, 2) = s2;
              }
              ++q;
            });
            counts(i) = half ? up : c;
            lower(i) = c - up;
          }
          total += q;
        },
        used);
    if (used <= cap) break;
    if (used >= static_cast<std::int64_t>(INT_MAX))
      throw ValueError("neighbour list: " + std::to_string(used) + " pairs do not fit in a 32-bit list");
    cap = used;
  }
  return u;
}

/// Total and largest row count; throws when the list would not fit in 32-bit indices.
template <class ExecutionSpace, class Counts>
std::pair<std::int64_t, int> count_totals(const ExecutionSpace& exec, const Counts& counts, const int n) {
  using Policy = Kokkos::RangePolicy<ExecutionSpace>;
  std::int64_t total = 0;
  int maxn = 0;
  Kokkos::parallel_reduce(
      "nernst::NeighborList::total", Policy(exec, 0, n), KOKKOS_LAMBDA(const int i, std::int64_t& t) { t += counts(i); },
      total);
  Kokkos::parallel_reduce(
      "nernst::NeighborList::max", Policy(exec, 0, n),
      KOKKOS_LAMBDA(const int i, int& m) {
        if (counts(i) > m) m = counts(i);
      },
      Kokkos::Max<int>(maxn));
  if (total >= static_cast<std::int64_t>(INT_MAX))
    throw ValueError("neighbour list: " + std::to_string(total) + " pairs do not fit in a 32-bit list");
  return {total, maxn};
}

/// Stage 4 (one thread, sorted list), without comparison sorts: scatter the mirror rows U, then
/// order the runs of equal j. Row j of U holds the (i, S) that row i of the result receives as
/// (j, −S) (the list is symmetric: image_vector is exactly antisymmetric); scattering the rows of
/// U in increasing j leaves every result row ordered by j, and only runs of equal j (several
/// images of one atom) still need ordering by S. Full list: U = the full rows; half list: U = the
/// lower halves, since (i, S) before (j, 0) ⟺ (j, −S) after (i, 0).
template <class ExecutionSpace, class MemorySpace>
void fill_by_transpose(const ExecutionSpace& exec, NeighborList<MemorySpace>& list, const MirrorRows<MemorySpace>& u,
                       const Kokkos::View<int*, MemorySpace>& ucount, const int n) {
  using Policy = Kokkos::RangePolicy<ExecutionSpace>;
  const auto offsets = list.offsets;
  const auto nbr = list.neighbors;
  const auto sh = list.shifts;
  const auto ubeg = u.ubeg;
  const auto unb = u.unb;
  const auto ush = u.ush;
  Kokkos::View<int*, MemorySpace> cursor(
      Kokkos::view_alloc(std::string("nernst::NeighborList::cursor"), Kokkos::WithoutInitializing), n);
  Kokkos::deep_copy(exec, cursor, Kokkos::subview(offsets, Kokkos::make_pair(0, n)));
  Kokkos::parallel_for(
      "nernst::NeighborList::transpose", Policy(exec, 0, 1), KOKKOS_LAMBDA(const int) {
        for (int j = 0; j < n; ++j)
          for (int q = ubeg(j); q < ubeg(j) + ucount(j); ++q) {
            const int p = cursor(unb(q))++;
            nbr(p) = j;
            sh(p, 0) = -ush(q, 0);
            sh(p, 1) = -ush(q, 1);
            sh(p, 2) = -ush(q, 2);
          }
      });
  Kokkos::parallel_for(
      "nernst::NeighborList::sort_runs", Policy(exec, 0, n),
      KOKKOS_LAMBDA(const int i) { sort_equal_j_runs(nbr, sh, offsets(i), offsets(i + 1)); });
}

/// Stage 4 (parallel): every row filled by a second visit, then sorted by (j, S) when asked.
template <class ExecutionSpace, class PositionView>
void fill_pairs(const ExecutionSpace& exec, const NeighborSearch<PositionView>& s,
                NeighborList<typename PositionView::memory_space>& list, const bool half, const bool sort,
                const int n) {
  const auto offsets = list.offsets;
  const auto nbr = list.neighbors;
  const auto sh = list.shifts;
  Kokkos::parallel_for(
      "nernst::NeighborList::fill", Kokkos::RangePolicy<ExecutionSpace>(exec, 0, n), KOKKOS_LAMBDA(const int k) {
        const int i = s.bin_atoms(k);
        int p = offsets(i);
        s.visit(i, [&](int j, int s0, int s1, int s2) {
          if (half && !pair_after(i, j, s0, s1, s2)) return;
          nbr(p) = j;
          sh(p, 0) = s0;
          sh(p, 1) = s1;
          sh(p, 2) = s2;
          ++p;
        });
        if (sort) heap_sort_pairs(nbr, sh, offsets(i), p);
      });
}

/// The search state of `x` in `cell`: bin grid, search range, cutoffs, and the per-atom and
/// per-bin views (unfilled).
template <class PositionView>
NeighborSearch<PositionView> make_search(const PositionView& x, const Lattice& cell, const double cutoff,
                                         const BinGeometry& geom, const double xmax, const int n) {
  using MS = typename PositionView::memory_space;
  NeighborSearch<PositionView> s;
  s.x = x;
  s.cell = cell.to_mat3<double>();
  s.nb0 = geom.nb[0];
  s.nb1 = geom.nb[1];
  s.nb2 = geom.nb[2];
  s.r0 = geom.range[0];
  s.r1 = geom.range[1];
  s.r2 = geom.range[2];
  s.rc2 = cutoff * cutoff;
  const auto len = cell.lengths();
  const double delta = 1e-10 * (cutoff + xmax + len[0] + len[1] + len[2]) + 1e-12;
  s.rc2_loose = (cutoff + delta) * (cutoff + delta);
  s.origin = Kokkos::View<int* [3], MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::origin"), Kokkos::WithoutInitializing), n);
  s.ibin = Kokkos::View<int* [3], MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::ibin"), Kokkos::WithoutInitializing), n);
  s.bin_start = Kokkos::View<int*, MS>("nernst::NeighborList::bin_start", s.nb0 * s.nb1 * s.nb2 + 1);
  s.bin_atoms = Kokkos::View<int*, MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::bin_atoms"), Kokkos::WithoutInitializing), n);
  return s;
}

}  // namespace detail

/// Builds the full neighbour list of positions `x` (Cartesian Å, an n × 3 view in a memory space
/// `exec` can access; need not be wrapped into the cell) in the periodic cell `cell` with cutoff
/// `cutoff` (Å, pairs with d < cutoff). All three directions are periodic.
///
/// Throws ValueError for a non-positive cutoff, non-finite positions, or a list that would not
/// fit in 32-bit indices (cutoff far too large for the cell).
///
/// Stages: bin the atoms (assign_bins, fill_bins), count every row, scan the counts into row
/// offsets, fill the rows. With one thread and a sorted list the rows are counted and their
/// mirror written in one visit and the list is filled by a transpose (fill_by_transpose);
/// otherwise by a second visit (fill_pairs).
template <class ExecutionSpace, class PositionView,
          class IsView = std::enable_if_t<Kokkos::is_view<PositionView>::value>>  // named for nvcc (see above)
NeighborList<typename PositionView::memory_space> build_neighbor_list(const ExecutionSpace& exec,
                                                                      const PositionView& x, const Lattice& cell,
                                                                      double cutoff,
                                                                      const NeighborListOptions& options = {}) {
  using MS = typename PositionView::memory_space;
  static_assert(is_accessible_v<ExecutionSpace, MS>,
                "build_neighbor_list: the positions' memory space must be accessible from the execution space");
  static_assert(PositionView::rank == 2, "build_neighbor_list: positions must be an n x 3 view");

  if (!(cutoff > 0) || !std::isfinite(cutoff))
    throw ValueError("neighbour list: cutoff must be positive and finite (got " + std::to_string(cutoff) + ")");
  if (x.extent(0) > 0 && x.extent(1) != 3) throw ValueError("neighbour list: positions must have 3 columns");
  if (x.extent(0) >= static_cast<std::size_t>(INT_MAX)) throw ValueError("neighbour list: too many atoms");
  const int n = static_cast<int>(x.extent(0));

  NeighborList<MS> list;
  list.cutoff = cutoff;
  list.sorted = options.sort;
  list.half = options.half;
  list.offsets = Kokkos::View<int*, MS>("nernst::NeighborList::offsets", n + 1);
  if (n == 0) {
    list.neighbors = Kokkos::View<int*, MS>("nernst::NeighborList::neighbors", 0);
    list.shifts = Kokkos::View<int* [3], MS>("nernst::NeighborList::shifts", 0);
    return list;
  }

  // Refuse hopeless requests up front instead of looping for hours: expected pairs
  // ≈ n · (n / V) · 4π r_c³ / 3 must fit in a 32-bit index.
  const double expected = double(n) * double(n) / cell.volume() * 4.18879020478639 * cutoff * cutoff * cutoff;
  if (expected > 1.5e9)
    throw ValueError("neighbour list: cutoff " + std::to_string(cutoff) + " Å gives ~" + std::to_string(expected) +
                     " pairs for this cell, more than a 32-bit list can hold");

  // Bins.
  double xmax = detail::max_abs_coordinate(exec, x, n);
  xmax = std::isfinite(xmax) ? std::min(xmax, 1e12) : 0.0;
  const auto geom = detail::bin_geometry(cell, cutoff, static_cast<std::size_t>(n), xmax);
  list.bins = geom.nb;
  list.search_range = geom.range;
  const int nbins = geom.nb[0] * geom.nb[1] * geom.nb[2];
  auto s = detail::make_search(x, cell, cutoff, geom, xmax, n);
  Mat3<double> inv;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) inv(a, b) = cell.inverse()(a, b);
  Kokkos::View<int*, MS> bin_count("nernst::NeighborList::bin_count", nbins);
  if (const int bad = detail::assign_bins(exec, s, inv, bin_count, n); bad > 0)
    throw ValueError("neighbour list: non-finite or absurdly large positions (" + std::to_string(bad) +
                     " coordinates)");
  detail::fill_bins(exec, s, bin_count, n, nbins);

  // Count, scan, fill.
  const bool transpose = options.sort && exec.concurrency() == 1;
  detail::RowCounts<MS> rows(n);
  detail::MirrorRows<MS> mirror;
  if (transpose)
    mirror = detail::count_and_fill_mirror(exec, s, rows, options.half, n, expected);
  else
    detail::count_pairs(exec, s, rows, options.half, n);
  const auto [total, maxn] = detail::count_totals(exec, rows.counts, n);
  list.max_neighbors = maxn;
  detail::scan_counts(exec, rows.counts, list.offsets, n, "nernst::NeighborList::scan");

  const int npairs = static_cast<int>(total);
  list.neighbors = Kokkos::View<int*, MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::neighbors"), Kokkos::WithoutInitializing), npairs);
  list.shifts = Kokkos::View<int* [3], MS>(
      Kokkos::view_alloc(std::string("nernst::NeighborList::shifts"), Kokkos::WithoutInitializing), npairs);
  if (transpose)
    detail::fill_by_transpose(exec, list, mirror, options.half ? rows.lower : rows.counts, n);
  else
    detail::fill_pairs(exec, s, list, options.half, options.sort, n);
  exec.fence();
  return list;
}

/// Neighbour list of a System's current positions and cell.
template <class ExecutionSpace, class MemorySpace>
NeighborList<MemorySpace> build_neighbor_list(const ExecutionSpace& exec, const System<MemorySpace>& system,
                                              double cutoff, const NeighborListOptions& options = {}) {
  return build_neighbor_list(exec, system.x, system.cell, cutoff, options);
}

/// Host neighbour list of an ordered or disordered Structure (one entry per site; occupancies are
/// ignored). Convenient for analysis and the `info` driver.
inline NeighborList<HostSpace> build_neighbor_list(const Structure& structure, double cutoff,
                                                   const NeighborListOptions& options = {}) {
  Kokkos::View<double* [3], HostSpace> x("nernst::NeighborList::positions", structure.size());
  for (std::size_t i = 0; i < structure.size(); ++i) {
    const Eigen::Vector3d r = structure.cart(i);
    for (int d = 0; d < 3; ++d) x(i, d) = r[d];
  }
  return build_neighbor_list(Kokkos::DefaultHostExecutionSpace(), x, structure.lattice(), cutoff, options);
}

NERNST_NAMESPACE_END
