#pragma once
/// \file
/// \brief Periodic crystal graph in pymatgen's edge order (`find_points_in_spheres`).
///
/// matgl builds M3GNet's graph with pymatgen's cell-list search, and M3GNet's three-body step
/// indexes edges by position (see three_body.hpp), so the energy depends on the edge order at
/// the 1e-5 eV level. This builder reproduces pymatgen's order operation by operation in double
/// precision (spec: shared/specs/m3gnet.md §2): fractional coordinates through the adjugate
/// inverse, wrapped image points enumerated translation-major, a cell grid of edge r with
/// head-inserted (descending) point lists, and the 27 neighbour cells in lexicographic order.
/// Products are kept out of fused multiply-adds so that -march=native builds give the same
/// edges as pymatgen's (non-FMA) build on points that sit exactly on a cell boundary.
///
/// Edges are directed, grouped by source atom in ascending order, bond vector
/// r_e = x_dst + image·L − x_src; periodic self-images are kept, the zero-distance self pair
/// is dropped. Positions are used as given (not wrapped).
///
/// Host threads: each atom's neighbour search only reads the shared image points and cell grid,
/// so atoms are split into one contiguous chunk per host thread (nn::RowChunks) and the chunks'
/// edge lists are concatenated in atom order: the same graph, edge for edge, at any thread count.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/row_chunks.hpp>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// Directed edges of a periodic graph (host arrays).
struct PeriodicGraph {
  std::vector<int> src;                   ///< centre atom
  std::vector<int> dst;                   ///< neighbour atom
  std::vector<std::array<int, 3>> image;  ///< lattice translation of dst
  std::vector<double> distance;           ///< Å, from the search (float64)

  std::size_t size() const { return src.size(); }
  void clear() {
    src.clear();
    dst.clear();
    image.clear();
    distance.clear();
  }
};

namespace detail {

/// a*b rounded to double before any following add (blocks contraction into an FMA).
inline double mul_rounded(double a, double b) {
  double p = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
  __asm__ volatile("" : "+x"(p));
#elif defined(__GNUC__)
  __asm__ volatile("" : "+m"(p));
#else
  volatile double q = p;
  p = q;
#endif
  return p;
}

/// Python's float `a % 1.0` (result in [0, 1], sign of the divisor).
inline double python_mod1(double a) {
  double r = std::fmod(a, 1.0);
  if (r != 0.0 && r < 0.0) r += 1.0;
  return r;
}

}  // namespace detail

/// Builds the graph with pymatgen's algorithm. `x` holds N Cartesian positions (Å) as rows,
/// `lattice` has the lattice vectors as rows. Fully periodic cells only. The result is written
/// into `g` (its storage is reused).
inline void build_pymatgen_graph(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& lattice,
                                 double r, PeriodicGraph& g, double tol = 1e-8) {
  using detail::mul_rounded;
  g.clear();
  const std::size_t n = x.size();
  if (n == 0) return;
  if (!(r > 0.1)) throw ValueError("graph cutoff must be larger than 0.1 Å");
  double L[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) L[i][j] = lattice(i, j);

  // Determinant and adjugate inverse in pymatgen's order of operations.
  const double det = L[0][0] * (mul_rounded(L[1][1], L[2][2]) - mul_rounded(L[1][2], L[2][1])) +
                     L[0][1] * (mul_rounded(L[1][2], L[2][0]) - mul_rounded(L[1][0], L[2][2])) +
                     L[0][2] * (mul_rounded(L[1][0], L[2][1]) - mul_rounded(L[1][1], L[2][0]));
  if (!(std::abs(det) > 0) || !std::isfinite(det)) throw ValueError("graph: singular lattice");
  double inv[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      inv[i][j] = (mul_rounded(L[(j + 1) % 3][(i + 1) % 3], L[(j + 2) % 3][(i + 2) % 3]) -
                   mul_rounded(L[(j + 2) % 3][(i + 1) % 3], L[(j + 1) % 3][(i + 2) % 3])) /
                  det;

  // Fractional coordinates, wrapped ones, integer shifts, wrapped Cartesian points.
  std::vector<std::array<double, 3>> frac(n), shift(n), cin(n);
  for (std::size_t p = 0; p < n; ++p) {
    for (int j = 0; j < 3; ++j) {
      double s = 0.0;
      for (int k = 0; k < 3; ++k) s += mul_rounded(x[p][k], inv[k][j]);
      frac[p][j] = s;
    }
    std::array<double, 3> w;
    for (int j = 0; j < 3; ++j) {
      w[j] = detail::python_mod1(frac[p][j]);
      shift[p][j] = frac[p][j] - w[j];
    }
    for (int j = 0; j < 3; ++j) {
      double s = 0.0;
      for (int k = 0; k < 3; ++k) s += mul_rounded(w[k], L[k][j]);
      cin[p][j] = s;
    }
  }

  // Repetitions from the reciprocal lattice, translation bounds from the unwrapped centres.
  const double two_pi = 2.0 * 3.14159265358979323846;
  long lo[3], hi[3];
  {
    double maxr[3];
    for (int i = 0; i < 3; ++i) {
      const double* a1 = L[i];
      const double* a2 = L[(i + 1) % 3];
      const double* a3 = L[(i + 2) % 3];
      const double cr[3] = {mul_rounded(a2[1], a3[2]) - mul_rounded(a2[2], a3[1]),
                            mul_rounded(a2[2], a3[0]) - mul_rounded(a2[0], a3[2]),
                            mul_rounded(a2[0], a3[1]) - mul_rounded(a2[1], a3[0])};
      double prod = 0.0;
      for (int k = 0; k < 3; ++k) prod += mul_rounded(a1[k], cr[k]);
      double nrm = 0.0;
      for (int k = 0; k < 3; ++k) {
        const double b = mul_rounded(two_pi, cr[k]) / prod;
        nrm += mul_rounded(b, b);
      }
      maxr[i] = std::ceil(mul_rounded(r + 0.15, std::sqrt(nrm)) / two_pi);
    }
    for (int k = 0; k < 3; ++k) {
      double fmin = frac[0][k], fmax = frac[0][k];
      for (std::size_t p = 0; p < n; ++p) {
        fmin = std::min(fmin, frac[p][k]);
        fmax = std::max(fmax, frac[p][k]);
      }
      lo[k] = static_cast<long>(std::floor(fmin - maxr[k] - 1e-8));
      hi[k] = static_cast<long>(std::ceil(fmax + maxr[k] + 1e-8));
    }
  }

  // Bounding box of the centres.
  double vmin[3], vmax[3];
  for (int k = 0; k < 3; ++k) {
    vmin[k] = vmax[k] = x[0][k];
    for (std::size_t p = 0; p < n; ++p) {
      vmin[k] = std::min(vmin[k], x[p][k]);
      vmax[k] = std::max(vmax[k], x[p][k]);
    }
    vmax[k] = vmax[k] + r + tol;
    vmin[k] = vmin[k] - r - tol;
  }

  // Candidate image points, translation-major then atom.
  std::vector<std::array<double, 3>> pts;
  std::vector<std::array<long, 3>> trans;
  std::vector<int> owner;
  const std::size_t ntrans = static_cast<std::size_t>((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]));
  if (ntrans * n > (std::size_t(1) << 31)) throw ValueError("graph: cell too small for the cutoff (too many images)");
  for (long i = lo[0]; i < hi[0]; ++i)
    for (long j = lo[1]; j < hi[1]; ++j)
      for (long k = lo[2]; k < hi[2]; ++k)
        for (std::size_t p = 0; p < n; ++p) {
          std::array<double, 3> y;
          for (int m = 0; m < 3; ++m)
            y[m] = mul_rounded(double(i), L[0][m]) + mul_rounded(double(j), L[1][m]) +
                   mul_rounded(double(k), L[2][m]) + cin[p][m];
          if (y[0] > vmin[0] && y[0] < vmax[0] && y[1] > vmin[1] && y[1] < vmax[1] && y[2] > vmin[2] &&
              y[2] < vmax[2]) {
            pts.push_back(y);
            trans.push_back({i, j, k});
            owner.push_back(static_cast<int>(p));
          }
        }

  // Cell grid of edge r; each cell's points linked in descending order (head insertion).
  const double h = r;
  long nc[3];
  for (int k = 0; k < 3; ++k) nc[k] = static_cast<long>(std::ceil((vmax[k] - vmin[k]) / h));
  auto cell_of = [&](const double* y, long* c3) {
    for (int k = 0; k < 3; ++k) c3[k] = static_cast<long>(std::floor((y[k] - vmin[k] + 1e-8) / h));
  };
  const long ncells = nc[0] * nc[1] * nc[2];
  std::vector<long> head(static_cast<std::size_t>(ncells), -1), next(pts.size(), -1);
  for (std::size_t q = 0; q < pts.size(); ++q) {
    long c3[3];
    cell_of(pts[q].data(), c3);
    const long c = c3[0] * nc[1] * nc[2] + c3[1] * nc[2] + c3[2];
    if (c < 0 || c >= ncells) continue;  // cannot happen for points inside the box
    next[q] = head[static_cast<std::size_t>(c)];
    head[static_cast<std::size_t>(c)] = static_cast<long>(q);
  }

  const double r2 = r * r;
  // Edges of centre i, appended to `out` in pymatgen's order.
  auto search_atom = [&](std::size_t i, PeriodicGraph& out) {
    long c3[3];
    cell_of(x[i].data(), c3);
    for (int o1 = -1; o1 <= 1; ++o1)
      for (int o2 = -1; o2 <= 1; ++o2)
        for (int o3 = -1; o3 <= 1; ++o3) {
          const long a = c3[0] + o1, b = c3[1] + o2, c = c3[2] + o3;
          if (a < 0 || a >= nc[0] || b < 0 || b >= nc[1] || c < 0 || c >= nc[2]) continue;
          for (long q = head[static_cast<std::size_t>(a * nc[1] * nc[2] + b * nc[2] + c)]; q != -1;
               q = next[static_cast<std::size_t>(q)]) {
            const auto& y = pts[static_cast<std::size_t>(q)];
            double d2 = 0.0;
            for (int m = 0; m < 3; ++m) {
              const double dd = y[m] - x[i][m];
              d2 += mul_rounded(dd, dd);
            }
            if (!(d2 < r2 + tol)) continue;
            const int p = owner[static_cast<std::size_t>(q)];
            const double d = std::sqrt(d2);
            if (p == static_cast<int>(i) && d <= tol) continue;  // the atom itself
            const auto& t = trans[static_cast<std::size_t>(q)];
            std::array<int, 3> img;
            for (int m = 0; m < 3; ++m) img[m] = static_cast<int>(std::llround(double(t[m]) - shift[p][m]));
            out.src.push_back(static_cast<int>(i));
            out.dst.push_back(p);
            out.image.push_back(img);
            out.distance.push_back(d);
          }
        }
  };
  nn::RowChunks atoms;
  atoms.split(static_cast<Eigen::Index>(n), nn::host_threads(), 16);
  if (atoms.size() <= 1) {
    for (std::size_t i = 0; i < n; ++i) search_atom(i, g);
    return;
  }
  std::vector<PeriodicGraph> parts(static_cast<std::size_t>(atoms.size()));
  atoms.run([&](int c, Eigen::Index i0, Eigen::Index i1) {
    for (Eigen::Index i = i0; i < i1; ++i) search_atom(static_cast<std::size_t>(i), parts[static_cast<std::size_t>(c)]);
  });
  for (const auto& part : parts) {
    g.src.insert(g.src.end(), part.src.begin(), part.src.end());
    g.dst.insert(g.dst.end(), part.dst.begin(), part.dst.end());
    g.image.insert(g.image.end(), part.image.begin(), part.image.end());
    g.distance.insert(g.distance.end(), part.distance.begin(), part.distance.end());
  }
}

}  // namespace graphnet
NERNST_NAMESPACE_END
