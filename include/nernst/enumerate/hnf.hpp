#pragma once
/// \file
/// \brief Integer lattice machinery for derivative structures: Hermite normal forms (the
/// sublattices of index n), their reduction by a point group, and the Smith normal form that
/// turns a superlattice into its finite group of translations (Hart & Forcade, PRB 77, 224115).
///
/// Convention: a superlattice is given by an integer matrix whose COLUMNS are the supercell
/// vectors in the parent's fractional basis, B_frac = H. The supercell's Cartesian rows are
/// therefore H^T · A (A = parent lattice, rows). An HNF here is lower triangular
/// [[a,0,0],[b,c,0],[d,e,f]] with 0 <= b < c, 0 <= d,e < f (enumlib's form).

#include <nernst/core/error.hpp>

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

using IMat3 = Eigen::Matrix<long, 3, 3>;
using IVec3 = Eigen::Matrix<long, 3, 1>;

/// Number of HNFs of determinant n (OEIS A001001): Σ over a·c·f = n of c·f².
inline std::uint64_t hnf_count(long n) {
  if (n < 1) throw ValueError("hnf_count: index must be >= 1");
  std::uint64_t s = 0;
  for (long a = 1; a <= n; ++a) {
    if (n % a) continue;
    for (long c = 1; c <= n / a; ++c) {
      if ((n / a) % c) continue;
      const long f = n / a / c;
      s += static_cast<std::uint64_t>(c) * static_cast<std::uint64_t>(f * f);
    }
  }
  return s;
}

/// All HNFs of determinant n in a fixed (deterministic) order.
inline std::vector<IMat3> hnfs(long n) {
  if (n < 1) throw ValueError("hnfs: index must be >= 1");
  std::vector<IMat3> out;
  for (long a = 1; a <= n; ++a) {
    if (n % a) continue;
    for (long c = 1; c <= n / a; ++c) {
      if ((n / a) % c) continue;
      const long f = n / a / c;
      for (long b = 0; b < c; ++b)
        for (long d = 0; d < f; ++d)
          for (long e = 0; e < f; ++e) {
            IMat3 h;
            h << a, 0, 0, b, c, 0, d, e, f;
            out.push_back(h);
          }
    }
  }
  return out;
}

namespace detail {
inline long floor_div(long a, long b) {
  long q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
inline long mod_pos(long a, long m) {
  long r = a % m;
  return r < 0 ? r + m : r;
}
}  // namespace detail

/// The HNF of the lattice spanned by the columns of M (column operations only). Throws for a
/// singular matrix.
inline IMat3 hermite_normal_form(IMat3 m) {
  // Row 0: gather the gcd into column 0 by Euclid on columns.
  for (int row = 0; row < 3; ++row) {
    for (;;) {
      // Find the smallest nonzero |m(row, j)| for j >= row; move it to column `row`.
      int piv = -1;
      for (int j = row; j < 3; ++j)
        if (m(row, j) != 0 && (piv < 0 || std::labs(m(row, j)) < std::labs(m(row, piv)))) piv = j;
      if (piv < 0) throw ValueError("hermite_normal_form: singular matrix");
      if (piv != row) m.col(piv).swap(m.col(row));
      bool done = true;
      for (int j = row + 1; j < 3; ++j) {
        if (m(row, j) == 0) continue;
        const long q = m(row, j) / m(row, row);
        m.col(j) -= q * m.col(row);
        if (m(row, j) != 0) done = false;
      }
      if (done) break;
    }
    if (m(row, row) < 0) m.col(row) = -m.col(row);
  }
  // Reduce the entries left of the diagonal: 0 <= m(i, j) < m(i, i) for j < i.
  for (int i = 1; i < 3; ++i)
    for (int j = 0; j < i; ++j) {
      const long q = detail::floor_div(m(i, j), m(i, i));
      m.col(j) -= q * m.col(i);
    }
  return m;
}

/// Lexicographic order of HNFs (by the six free entries) for canonical representatives.
inline bool hnf_less(const IMat3& x, const IMat3& y) {
  const std::array<long, 6> a{x(0, 0), x(1, 1), x(2, 2), x(1, 0), x(2, 0), x(2, 1)};
  const std::array<long, 6> b{y(0, 0), y(1, 1), y(2, 2), y(1, 0), y(2, 0), y(2, 1)};
  return a < b;
}

/// True when the integer matrix R (parent fractional basis) maps the superlattice H to itself.
inline bool stabilizes(const IMat3& r, const IMat3& h) {
  return hermite_normal_form(r * h) == h;
}

/// Superlattices of index n that are distinct under the point operations `rotations` (parent
/// fractional basis, integer). The representative kept is the first HNF of its class in
/// hnfs(n) order.
inline std::vector<IMat3> distinct_hnfs(long n, const std::vector<IMat3>& rotations) {
  const auto all = hnfs(n);
  std::vector<IMat3> out;
  std::set<IMat3, bool (*)(const IMat3&, const IMat3&)> seen(&hnf_less);  // images of kept HNFs
  for (const auto& h : all) {
    if (seen.count(h)) continue;
    out.push_back(h);
    seen.insert(h);
    for (const auto& r : rotations) seen.insert(hermite_normal_form(r * h));
  }
  return out;
}

/// Smith normal form S = L · H · R with L, R unimodular and S = diag(s0, s1, s2), s0 | s1 | s2.
struct SmithForm {
  IMat3 S, L, R;
  IVec3 diagonal() const { return IVec3(S(0, 0), S(1, 1), S(2, 2)); }
};

inline SmithForm smith_normal_form(const IMat3& h) {
  IMat3 s = h, l = IMat3::Identity(), r = IMat3::Identity();
  if (h.cast<double>().determinant() == 0.0) throw ValueError("smith_normal_form: singular matrix");
  for (int k = 0; k < 3; ++k) {
    for (;;) {
      // Pivot: smallest nonzero |entry| in the trailing block.
      int pi = -1, pj = -1;
      for (int i = k; i < 3; ++i)
        for (int j = k; j < 3; ++j)
          if (s(i, j) != 0 && (pi < 0 || std::labs(s(i, j)) < std::labs(s(pi, pj)))) pi = i, pj = j;
      if (pi < 0) throw ValueError("smith_normal_form: singular matrix");
      if (pi != k) s.row(pi).swap(s.row(k)), l.row(pi).swap(l.row(k));
      if (pj != k) s.col(pj).swap(s.col(k)), r.col(pj).swap(r.col(k));
      bool clean = true;
      for (int i = k + 1; i < 3; ++i) {
        const long q = s(i, k) / s(k, k);
        s.row(i) -= q * s.row(k);
        l.row(i) -= q * l.row(k);
        if (s(i, k) != 0) clean = false;
      }
      for (int j = k + 1; j < 3; ++j) {
        const long q = s(k, j) / s(k, k);
        s.col(j) -= q * s.col(k);
        r.col(j) -= q * r.col(k);
        if (s(k, j) != 0) clean = false;
      }
      if (!clean) continue;
      // Divisibility: s(k,k) must divide every entry of the trailing block.
      int bad = -1;
      for (int i = k + 1; i < 3 && bad < 0; ++i)
        for (int j = k + 1; j < 3; ++j)
          if (s(i, j) % s(k, k) != 0) {
            bad = i;
            break;
          }
      if (bad < 0) break;
      s.row(k) += s.row(bad);
      l.row(k) += l.row(bad);
    }
    if (s(k, k) < 0) s.row(k) = -s.row(k), l.row(k) = -l.row(k);
  }
  return {s, l, r};
}

}  // namespace enumerate
NERNST_NAMESPACE_END
