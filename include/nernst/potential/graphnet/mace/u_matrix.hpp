#pragma once
/// \file
/// \brief MACE's generalised Clebsch–Gordan tensors U_ν of the symmetric contraction
/// (mace-torch `tools/cg.py`, `U_matrix_real`, `use_reduced_cg=False`), computed from e3nn's W3j.
///
/// Input: the coupling irreps of the node features, for MACE the harmonic-like list
/// 0e + 1o + ... + lmax (one copy of each, dimension D = (lmax+1)²). A *coupling path* of order ν
/// is a tensor C[M][a1]...[aν] (a_i over the D input components) that transforms as the irrep
/// (L, p) in M. Order 1: one path per input irrep, the identity on its slice. Order ν: for each
/// path (L', p') of order ν−1 **in its sorted order**, each input irrep (l, q) in order, and each
/// L = |L'−l| .. L'+l (parity p'q):
///
///     C[M][a1..aν−1][aν] = √(2L+1) Σ_j C'[j][a1..aν−1] W3j(L, L', l)[M][j][aν − offset(l)]
///
/// ("component" normalisation). The list of order ν is then **stably sorted** by the irrep,
/// compared as e3nn's Irrep tuple (l, p) (so 1o before 1e). U_ν for an output irrep is the run of
/// paths with that irrep: U[M][a1]..[aν][k] = C_k[M][a1..aν], the columns in that order and with
/// the signs of e3nn's W3j. The columns are not symmetrised in a1..aν (the contraction with
/// x⊗x⊗x symmetrises) and are linearly dependent in general; they must match the model's weights
/// column for column, which is why order and signs are reproduced exactly.
///
/// Correlation 4 in mace restricts every intermediate irrep to parity (−1)^l (`filter_ir_mid`);
/// that rule is applied here too for ν ≥ 4.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/mace/wigner3j.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// An O(3) irrep (l, p), p = ±1, ordered like e3nn's Irrep tuple.
struct Irrep {
  int l = 0;
  int p = 1;
  int dim() const { return 2 * l + 1; }
  friend bool operator==(const Irrep& a, const Irrep& b) { return a.l == b.l && a.p == b.p; }
  friend bool operator!=(const Irrep& a, const Irrep& b) { return !(a == b); }
  friend bool operator<(const Irrep& a, const Irrep& b) { return a.l != b.l ? a.l < b.l : a.p < b.p; }
};

/// "0e + 1o + ... + lmax": the irreps of the spherical harmonics (and of MACE's node features).
inline std::vector<Irrep> sh_irreps(int lmax) {
  std::vector<Irrep> out;
  for (int l = 0; l <= lmax; ++l) out.push_back({l, l % 2 ? -1 : 1});
  return out;
}

/// One coupling path: its irrep and C[(2l+1)][D^ν] row-major.
struct CouplingPath {
  Irrep ir;
  std::vector<double> C;
};

namespace detail {

inline int irreps_dim(const std::vector<Irrep>& irreps) {
  int d = 0;
  for (const auto& ir : irreps) d += ir.dim();
  return d;
}

/// Order 1: the identity on each input irrep's slice.
inline std::vector<CouplingPath> first_order_paths(const std::vector<Irrep>& in) {
  const int D = irreps_dim(in);
  std::vector<CouplingPath> out;
  int offset = 0;
  for (const auto& ir : in) {
    CouplingPath path{ir, std::vector<double>(static_cast<std::size_t>(ir.dim()) * D, 0.0)};
    for (int m = 0; m < ir.dim(); ++m) path.C[static_cast<std::size_t>(m) * D + offset + m] = 1.0;
    out.push_back(std::move(path));
    offset += ir.dim();
  }
  return out;
}

/// Couples one path of order ν−1 (C' of `left_cols` columns) with input irrep `right` at `offset`
/// into irrep `out`: C[M][k][offset + r] = √(2L+1) Σ_j C'[j][k] W3j(L, L', l)[M][j][r].
inline CouplingPath couple(const CouplingPath& left, std::size_t left_cols, const Irrep& right, int offset, int D,
                           const Irrep& out) {
  const auto& W = wigner_3j(out.l, left.ir.l, right.l);
  const int dM = out.dim(), dj = left.ir.dim(), dr = right.dim();
  const double norm = std::sqrt(double(dM));
  CouplingPath path{out, std::vector<double>(static_cast<std::size_t>(dM) * left_cols * D, 0.0)};
  for (int M = 0; M < dM; ++M)
    for (int j = 0; j < dj; ++j)
      for (int r = 0; r < dr; ++r) {
        const double w = norm * W[(static_cast<std::size_t>(M) * dj + j) * dr + r];
        if (w == 0.0) continue;
        const double* cl = left.C.data() + static_cast<std::size_t>(j) * left_cols;
        double* c = path.C.data() + static_cast<std::size_t>(M) * left_cols * D + offset + r;
        for (std::size_t k = 0; k < left_cols; ++k) c[k * D] += w * cl[k];
      }
  return path;
}

}  // namespace detail

/// All coupling paths of order ν over `in`, in mace's order (stable sort by irrep). With `only`,
/// the last order keeps just the paths of that irrep (same relative order; the sort is stable,
/// so this equals filtering afterwards and saves the memory of the others).
inline std::vector<CouplingPath> coupling_paths(const std::vector<Irrep>& in, int nu, const Irrep* only = nullptr) {
  if (nu < 1) throw Error("mace coupling_paths: correlation order " + std::to_string(nu) + " < 1");
  if (nu == 1) {
    auto out = detail::first_order_paths(in);
    if (only) out.erase(std::remove_if(out.begin(), out.end(), [&](const CouplingPath& p) { return p.ir != *only; }), out.end());
    return out;
  }
  const int D = detail::irreps_dim(in);
  const auto left = coupling_paths(in, nu - 1);
  std::size_t left_cols = 1;
  for (int k = 1; k < nu; ++k) left_cols *= static_cast<std::size_t>(D);
  std::vector<CouplingPath> out;
  for (const auto& lp : left) {
    int offset = 0;
    for (const auto& ir : in) {
      for (int L = std::abs(lp.ir.l - ir.l); L <= lp.ir.l + ir.l; ++L) {
        const Irrep ir_out{L, lp.ir.p * ir.p};
        const bool mid_filtered = nu >= 4 && ir_out.p != (L % 2 ? -1 : 1);  // mace's filter_ir_mid
        if (mid_filtered || (only && ir_out != *only)) continue;
        out.push_back(detail::couple(lp, left_cols, ir, offset, D, ir_out));
      }
      offset += ir.dim();
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const CouplingPath& a, const CouplingPath& b) { return a.ir < b.ir; });
  return out;
}

/// U_ν for one output irrep: values[M][a1..aν][k] row-major, `n_paths` columns k.
struct UMatrix {
  Irrep out;
  int nu = 0;
  int dim_in = 0;   ///< D
  int n_paths = 0;  ///< columns (the number of weights per channel of this order)
  std::vector<double> values;

  /// The shape mace stores (`U_matrix_<ν>` buffer): the M axis is squeezed away for L = 0.
  std::vector<std::int64_t> stored_shape() const {
    std::vector<std::int64_t> s;
    if (out.dim() > 1) s.push_back(out.dim());
    for (int k = 0; k < nu; ++k) s.push_back(dim_in);
    s.push_back(n_paths);
    return s;
  }
};

/// mace's `U_matrix_real(irreps_in, out, correlation=nu)[-1]` with `use_reduced_cg=False`.
inline UMatrix u_matrix(const std::vector<Irrep>& in, const Irrep& out, int nu) {
  const auto paths = coupling_paths(in, nu, &out);
  if (paths.empty())
    throw Error("mace u_matrix: no coupling path of order " + std::to_string(nu) + " gives irrep l=" +
                std::to_string(out.l) + (out.p > 0 ? "e" : "o"));
  UMatrix U;
  U.out = out;
  U.nu = nu;
  U.dim_in = detail::irreps_dim(in);
  U.n_paths = static_cast<int>(paths.size());
  const std::size_t rows = paths.front().C.size();
  U.values.resize(rows * paths.size());
  for (std::size_t k = 0; k < paths.size(); ++k)
    for (std::size_t i = 0; i < rows; ++i) U.values[i * paths.size() + k] = paths[k].C[i];
  return U;
}

/// One non-zero of U_ν summed over the orderings of its input indices: Σ_a U[M][a][k] X[a] =
/// Σ_terms coef · X[a1 ≤ … ≤ aν] for any symmetric X (such as x⊗x⊗x).
struct SymmetricUTerm {
  int M = 0, k = 0;
  int a[3] = {0, 0, 0};  ///< sorted input indices (first ν used)
  double coef = 0.0;
};

/// The orbit-summed non-zeros of U_ν (ν ≤ 3), ordered by (M, a, k). Used where a contraction
/// with a symmetric tensor must go through the raw U (weight gradients): a few thousand terms
/// instead of (2L+1)·D^ν·n_paths dense entries.
inline std::vector<SymmetricUTerm> symmetric_u_terms(const UMatrix& U) {
  if (U.nu > 3) throw Error("mace symmetric_u_terms: order " + std::to_string(U.nu) + " > 3");
  const int D = U.dim_in, K = U.n_paths;
  std::size_t Dnu = 1;
  for (int k = 0; k < U.nu; ++k) Dnu *= static_cast<std::size_t>(D);
  std::vector<SymmetricUTerm> raw;
  for (int M = 0; M < U.out.dim(); ++M)
    for (std::size_t a = 0; a < Dnu; ++a) {
      const double* row = U.values.data() + (static_cast<std::size_t>(M) * Dnu + a) * K;
      for (int k = 0; k < K; ++k) {
        if (row[k] == 0.0) continue;
        SymmetricUTerm t;
        t.M = M;
        t.k = k;
        t.coef = row[k];
        for (std::size_t rest = a, i = static_cast<std::size_t>(U.nu); i-- > 0; rest /= D) t.a[i] = static_cast<int>(rest % D);
        auto order = [&](int i, int j) {  // a 3-element sorting network (unused slots stay 0 and first)
          if (t.a[i] > t.a[j]) std::swap(t.a[i], t.a[j]);
        };
        if (U.nu == 3) order(1, 2);
        if (U.nu >= 2) order(0, 1);
        if (U.nu == 3) order(1, 2);
        raw.push_back(t);
      }
    }
  auto key = [](const SymmetricUTerm& t) { return std::make_tuple(t.M, t.a[0], t.a[1], t.a[2], t.k); };
  std::sort(raw.begin(), raw.end(), [&](const SymmetricUTerm& x, const SymmetricUTerm& y) { return key(x) < key(y); });
  std::vector<SymmetricUTerm> out;
  for (const auto& t : raw) {
    if (!out.empty() && key(out.back()) == key(t))
      out.back().coef += t.coef;
    else
      out.push_back(t);
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const SymmetricUTerm& t) { return std::abs(t.coef) < 1e-15; }),
            out.end());
  return out;
}

/// u_matrix over the harmonic irreps 0e + 1o + ... + lmax, computed once per (lmax, irrep, ν) and
/// cached for the process (thread-safe; the reference stays valid). Layers and dtypes share it.
inline const UMatrix& sh_u_matrix(int lmax, const Irrep& out, int nu) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int, int>, UMatrix> cache;  // node-based: references stay valid
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(lmax, out.l, out.p, nu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, u_matrix(sh_irreps(lmax), out, nu)).first;
  return it->second;
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
