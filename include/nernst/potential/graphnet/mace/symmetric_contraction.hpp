#pragma once
/// \file
/// \brief MACE's symmetric contraction (the product basis of one node), forward and reverse.
///
/// For a node of element z with features x[c][a] (C channels, a over the D = (lmax+1)² components
/// of 0e+1o+...+lmax) and each output irrep L of hidden_out (mace `SymmetricContraction`,
/// `symmetric_contraction.py`), with correlation order ν ≤ 3:
///
///     B[c][M] = Σ_ν Σ_{a1..aν} (U_ν W_ν)[c][M][a1..aν] x[c][a1] ⋯ x[c][aν],
///     (U_ν W_ν)[c][M][a] = Σ_k U_ν[M][a][k] W_ν[z][k][c]
///
/// (U from u_matrix.hpp, W_ν = `weights_max` for ν = correlation, `weights.0` for ν−1, ...).
/// mace evaluates it as nested contractions (Horner in x); the sum is the same polynomial.
///
/// Because x⊗⋯⊗x is symmetric, only the part of U_ν W_ν symmetric in a1..aν contributes. This
/// struct stores that symmetrised tensor S_ν per (element, irrep), contracted with the weights
/// once, so that one node costs one pass over S_ν and the gradient is as cheap as the value:
///
///     q[a1][a2] = Σ_a3 S3[a1][a2][a3] x[a3]
///     B         = Σ_a1 (S1[a1] + Σ_a2 (S2[a1][a2] + q[a1][a2]) x[a2]) x[a1]
///     ∂B/∂x[b]  = S1[b] + Σ_a (2 S2[b][a] + 3 q[b][a]) x[a]
///
/// S3 is stored for a1 ≤ a2 only (D(D+1)/2 rows of D; q is symmetric), which halves the
/// dominant pass, and channels are interleaved in blocks (ContractionKernel) so the loops vectorise. Output layout as mace's: for each output irrep in hidden_out order, [c] for L = 0 and
/// [c][M] (channel-major) for L > 0, concatenated. Weight gradients use the raw U (∂B/∂W_ν[k][c]
/// = Σ_M g[c][M] Σ_a U_ν[M][a][k] x[a1]⋯x[aν]), through its orbit-summed non-zeros.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/potential/graphnet/mace/u_matrix.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Largest correlation order and feature dimension the per-node kernels support.
inline constexpr int kMaxCorrelation = 3;
inline constexpr int kMaxContractionDim = 16;  ///< D = (lmax+1)², lmax ≤ 3

/// The weights of one output irrep's contraction: W[ν−1] holds [n_elements][n_params(ν)][C]
/// row-major (mace: W[correlation−1] = weights_max, W[correlation−2] = weights.0, ...).
struct ContractionWeights {
  Irrep out;
  std::vector<std::vector<double>> W;  ///< index ν−1
};

/// Channels evaluated together: the storage interleaves them (channel innermost) so that every
/// loop of the kernel runs over this many independent lanes, which the compiler vectorises
/// (64 bytes of lanes: 8 doubles, 16 floats).
template <class S>
inline constexpr int kChannelBlock = sizeof(S) >= 8 ? 8 : 16;

/// The per-node arithmetic of one output irrep over borrowed storage: plain pointers and sizes,
/// callable from a Kokkos kernel (one block of CB = kChannelBlock<S> channels per call, so a team
/// can split the blocks). Storage, per channel block b and lane l (channel c = b·CB + l, lanes
/// past C hold zeros): S1 [b][dM][D][l], S2 [b][dM][D][D][l], S3 [b][dM][D(D+1)/2 pairs a1 ≤ a2][D][l]
/// (S2, S3 null above the correlation order).
template <class S>
struct ContractionKernel {
  static constexpr int CB = kChannelBlock<S>;
  const S* s1 = nullptr;
  const S* s2 = nullptr;
  const S* s3 = nullptr;
  int D = 0, dM = 0, C = 0;

  KOKKOS_INLINE_FUNCTION int blocks() const { return (C + CB - 1) / CB; }

  /// Channels of block b of one node: x[C][D] → B[C][dM] (those channels); with g non-null also
  /// g_x[c][a] += Σ_M g[c][M] ∂B[c][M]/∂x[c][a].
  KOKKOS_INLINE_FUNCTION void block(int b, const S* x, S* B, const S* g, S* g_x) const {
    const int P = D * (D + 1) / 2;
    const int lanes = C - b * CB < CB ? C - b * CB : CB;
    S xt[kMaxContractionDim][CB], gxt[kMaxContractionDim][CB];
    S q[kMaxContractionDim * (kMaxContractionDim + 1) / 2][CB];
    for (int a = 0; a < D; ++a)
      for (int l = 0; l < CB; ++l) {
        xt[a][l] = l < lanes ? x[static_cast<std::size_t>(b * CB + l) * D + a] : S(0);
        gxt[a][l] = S(0);
      }
    for (int M = 0; M < dM; ++M) {
      const std::size_t bm = static_cast<std::size_t>(b) * dM + M;
      if (s3) {  // q[a1 ≤ a2] = Σ_a3 S3[a1][a2][a3] x[a3]
        const S* row = s3 + bm * P * D * CB;
        for (int p = 0; p < P; ++p) {
          S acc[CB] = {};
          for (int a = 0; a < D; ++a, row += CB)
            for (int l = 0; l < CB; ++l) acc[l] += row[l] * xt[a][l];
          for (int l = 0; l < CB; ++l) q[p][l] = acc[l];
        }
      }
      const S* r1 = s1 + bm * D * CB;
      const S* r2 = s2 ? s2 + bm * D * D * CB : nullptr;
      S value[CB] = {}, gm[CB];
      for (int l = 0; l < CB; ++l) gm[l] = g && l < lanes ? g[static_cast<std::size_t>(b * CB + l) * dM + M] : S(0);
      for (int a1 = 0; a1 < D; ++a1) {
        S t1[CB], dt1[CB];
        for (int l = 0; l < CB; ++l) t1[l] = dt1[l] = r1[a1 * CB + l];
        if (r2) {
          for (int a2 = 0; a2 < D; ++a2) {
            const S* s = r2 + (a1 * D + a2) * CB;
            const int lo = a1 < a2 ? a1 : a2, hi = a1 < a2 ? a2 : a1;
            const S* qq = q[lo * D - lo * (lo - 1) / 2 + (hi - lo)];
            if (!s3) qq = nullptr;
            for (int l = 0; l < CB; ++l) {
              const S qv = qq ? qq[l] : S(0);
              t1[l] += (s[l] + qv) * xt[a2][l];
              dt1[l] += (S(2) * s[l] + S(3) * qv) * xt[a2][l];
            }
          }
        }
        for (int l = 0; l < CB; ++l) {
          value[l] += t1[l] * xt[a1][l];
          gxt[a1][l] += gm[l] * dt1[l];
        }
      }
      for (int l = 0; l < lanes; ++l) B[static_cast<std::size_t>(b * CB + l) * dM + M] = value[l];
    }
    if (g_x)
      for (int l = 0; l < lanes; ++l)
        for (int a = 0; a < D; ++a) g_x[static_cast<std::size_t>(b * CB + l) * D + a] += gxt[a][l];
  }
};

/// One output irrep for one element: the symmetrised S_ν[c][M][a1..aν].
template <class S>
struct IrrepContraction {
  Irrep out;
  int correlation = 0, D = 0, C = 0;
  /// S_ν in ContractionKernel's channel-blocked layout.
  std::vector<S> Sym[kMaxCorrelation];

  /// The kernel over this storage (valid while this object lives unchanged).
  ContractionKernel<S> kernel() const {
    return {Sym[0].data(), correlation >= 2 ? Sym[1].data() : nullptr, correlation >= 3 ? Sym[2].data() : nullptr, D,
            out.dim(), C};
  }

  /// B[c][M] of node features x[c][a]; writes C·(2L+1) values (channel-major).
  void forward(const S* x, S* B) const { evaluate(x, B, nullptr, nullptr); }

  /// B and g_x[c][a] += Σ_M g[c][M] ∂B[c][M]/∂x[c][a].
  void forward_backward(const S* x, const S* g, S* B, S* g_x) const { evaluate(x, B, g, g_x); }

 private:
  void evaluate(const S* x, S* B, const S* g, S* g_x) const {
    const auto k = kernel();
    for (int b = 0; b < k.blocks(); ++b) k.block(b, x, B, g, g_x);
  }
};

namespace detail {

/// gW[k][c] += Σ_terms coef · g[c][M] · x[c][a1]⋯x[c][aν] for one irrep and order; x and g are
/// transposed ([a][c], [M][c]) so the channel loop is contiguous.
template <class S>
void accumulate_weight_gradient(const std::vector<SymmetricUTerm>& terms, int nu, int C, const std::vector<S>& xt,
                                const std::vector<S>& gt, S* gW) {
  for (const auto& t : terms) {
    const S* gm = gt.data() + static_cast<std::size_t>(t.M) * C;
    const S* x1 = xt.data() + static_cast<std::size_t>(t.a[0]) * C;
    const S* x2 = xt.data() + static_cast<std::size_t>(t.a[1]) * C;
    const S* x3 = xt.data() + static_cast<std::size_t>(t.a[2]) * C;
    S* out = gW + static_cast<std::size_t>(t.k) * C;
    const S coef = S(t.coef);
    if (nu == 1)
      for (int c = 0; c < C; ++c) out[c] += coef * gm[c] * x1[c];
    else if (nu == 2)
      for (int c = 0; c < C; ++c) out[c] += coef * gm[c] * x1[c] * x2[c];
    else
      for (int c = 0; c < C; ++c) out[c] += coef * gm[c] * x1[c] * x2[c] * x3[c];
  }
}

}  // namespace detail

namespace detail {

/// S[c][M][a] = symmetrisation over a1..aν of Σ_k U[M][a][k] W[z][k][c].
inline std::vector<double> symmetrised_uw(const UMatrix& U, const std::vector<double>& W, int z, int C) {
  const int nu = U.nu, D = U.dim_in, dM = U.out.dim(), K = U.n_paths;
  std::size_t Dnu = 1;
  for (int k = 0; k < nu; ++k) Dnu *= static_cast<std::size_t>(D);
  const double* w = W.data() + static_cast<std::size_t>(z) * K * C;
  std::vector<double> uw(static_cast<std::size_t>(C) * dM * Dnu, 0.0), row(static_cast<std::size_t>(C));
  for (int M = 0; M < dM; ++M)
    for (std::size_t a = 0; a < Dnu; ++a) {
      const double* urow = U.values.data() + (static_cast<std::size_t>(M) * Dnu + a) * K;
      std::fill(row.begin(), row.end(), 0.0);  // row[c] = Σ_k U[M][a][k] W[z][k][c], c contiguous
      for (int k = 0; k < K; ++k) {
        if (urow[k] == 0.0) continue;
        const double* wk = w + static_cast<std::size_t>(k) * C;
        for (int c = 0; c < C; ++c) row[c] += urow[k] * wk[c];
      }
      for (int c = 0; c < C; ++c) uw[(static_cast<std::size_t>(c) * dM + M) * Dnu + a] = row[c];
    }
  if (nu == 1) return uw;
  std::vector<double> sym(uw.size(), 0.0);
  for (std::size_t cm = 0; cm < static_cast<std::size_t>(C) * dM; ++cm) {
    const double* in = uw.data() + cm * Dnu;
    double* o = sym.data() + cm * Dnu;
    for (std::size_t a = 0; a < Dnu; ++a) {
      if (nu == 2) {
        const std::size_t a1 = a / D, a2 = a % D;
        o[a] = 0.5 * (in[a] + in[a2 * D + a1]);
      } else {  // ν = 3: mean over the 6 orders of (a1, a2, a3)
        const std::size_t a1 = a / (D * D), a2 = (a / D) % D, a3 = a % D;
        auto at = [&](std::size_t i, std::size_t j, std::size_t k) { return in[(i * D + j) * D + k]; };
        o[a] = (at(a1, a2, a3) + at(a1, a3, a2) + at(a2, a1, a3) + at(a2, a3, a1) + at(a3, a1, a2) + at(a3, a2, a1)) / 6.0;
      }
    }
  }
  return sym;
}

/// Full symmetric S_ν [C][dM][D^ν] → ContractionKernel's layout [block][dM][entries][lane], where
/// the entries are D^ν, except for ν = 3, whose pairs (a1, a2) with a1 > a2 are dropped (duplicates).
template <class S>
std::vector<S> block_channels(const std::vector<double>& full, int nu, int D, int C, int dM) {
  constexpr int CB = kChannelBlock<S>;
  std::size_t Dnu = 1;
  for (int k = 0; k < nu; ++k) Dnu *= static_cast<std::size_t>(D);
  std::vector<std::size_t> entries;  // kept offsets within one [c][M] row of `full`
  if (nu == 3) {
    for (int a1 = 0; a1 < D; ++a1)
      for (int a2 = a1; a2 < D; ++a2)
        for (int a3 = 0; a3 < D; ++a3) entries.push_back((static_cast<std::size_t>(a1) * D + a2) * D + a3);
  } else {
    for (std::size_t a = 0; a < Dnu; ++a) entries.push_back(a);
  }
  const int blocks = (C + CB - 1) / CB;
  std::vector<S> out(static_cast<std::size_t>(blocks) * dM * entries.size() * CB, S(0));
  for (int c = 0; c < C; ++c)
    for (int M = 0; M < dM; ++M) {
      const double* row = full.data() + (static_cast<std::size_t>(c) * dM + M) * Dnu;
      S* dst = out.data() + (static_cast<std::size_t>(c / CB) * dM + M) * entries.size() * CB + c % CB;
      for (std::size_t e = 0; e < entries.size(); ++e) dst[e * CB] = S(row[entries[e]]);
    }
  return out;
}

}  // namespace detail

/// The symmetric contraction of one product layer: U matrices of every output irrep and order,
/// the weights, and per element (built on first use by `prepare`) the contracted tensors.
template <class S>
class SymmetricContraction {
 public:
  /// `lmax` of the node features, C channels, the weights of each output irrep (hidden_out order).
  SymmetricContraction(int lmax, int channels, int n_elements, std::vector<ContractionWeights> weights)
      : D_(sh_dim_of(lmax)), C_(channels), n_elements_(n_elements), weights_(std::move(weights)) {
    for (const auto& cw : weights_) {
      const int corr = static_cast<int>(cw.W.size());
      if (corr < 1 || corr > kMaxCorrelation)
        throw Error("mace symmetric contraction: correlation " + std::to_string(corr) + " outside 1.." +
                    std::to_string(kMaxCorrelation));
      std::vector<const UMatrix*> us;
      for (int nu = 1; nu <= corr; ++nu) {
        us.push_back(&sh_u_matrix(lmax, cw.out, nu));
        const std::size_t want = static_cast<std::size_t>(n_elements) * us.back()->n_paths * channels;
        if (cw.W[nu - 1].size() != want)
          throw Error("mace symmetric contraction: weights of order " + std::to_string(nu) + " for irrep l=" +
                      std::to_string(cw.out.l) + " hold " + std::to_string(cw.W[nu - 1].size()) + " values, expected " +
                      std::to_string(n_elements) + " x " + std::to_string(us.back()->n_paths) + " x " +
                      std::to_string(channels));
      }
      terms_.emplace_back();
      for (const UMatrix* u : us) terms_.back().push_back(symmetric_u_terms(*u));
      U_.push_back(std::move(us));
    }
    per_element_.resize(static_cast<std::size_t>(n_elements));
  }

  int channels() const { return C_; }
  int feature_dim() const { return D_; }
  /// U_ν (ν = 1..correlation) of output irrep `irrep`.
  const UMatrix& u_matrix_of(std::size_t irrep, int nu) const { return *U_.at(irrep).at(static_cast<std::size_t>(nu - 1)); }

  /// Output size per node: Σ over output irreps of C·(2L+1).
  int output_dim() const {
    int n = 0;
    for (const auto& cw : weights_) n += C_ * cw.out.dim();
    return n;
  }

  /// Builds element z's contracted tensors (host, not thread-safe; call for every element present
  /// before a parallel loop over nodes).
  void prepare(int z) {
    check_element(z);
    auto& pe = per_element_[static_cast<std::size_t>(z)];
    if (!pe.empty()) return;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
      IrrepContraction<S> ic;
      ic.out = weights_[i].out;
      ic.correlation = static_cast<int>(weights_[i].W.size());
      ic.D = D_;
      ic.C = C_;
      for (int nu = 1; nu <= ic.correlation; ++nu) {
        const auto sym = detail::symmetrised_uw(*U_[i][nu - 1], weights_[i].W[nu - 1], z, C_);
        ic.Sym[nu - 1] = detail::block_channels<S>(sym, nu, D_, C_, ic.out.dim());
      }
      pe.push_back(std::move(ic));
    }
  }

  /// Element z's per-irrep contractions (prepared), e.g. for `kernel()` inside a Kokkos loop.
  const std::vector<IrrepContraction<S>>& element(int z) const { return prepared(z); }

  /// B (output_dim values) of node features x[C][D] of element z (prepared).
  void forward(int z, const S* x, S* B) const {
    for (const auto& ic : prepared(z)) {
      ic.forward(x, B);
      B += C_ * ic.out.dim();
    }
  }

  /// B and g_x[C][D] += (∂B/∂x)ᵀ g for the upstream gradient g (output_dim values).
  void forward_backward(int z, const S* x, const S* g, S* B, S* g_x) const {
    for (const auto& ic : prepared(z)) {
      ic.forward_backward(x, g, B, g_x);
      B += C_ * ic.out.dim();
      g += C_ * ic.out.dim();
    }
  }

  /// gW[irrep][ν−1][k][c] += ∂(gᵀB)/∂W_ν[z][k][c] (element z's rows of the weights). Goes through
  /// the orbit-summed non-zeros of U (symmetric_u_terms), not the contracted S.
  void weight_gradient(int z, const S* x, const S* g, std::vector<std::vector<std::vector<S>>>& gW) const {
    check_element(z);
    std::vector<S> xt(static_cast<std::size_t>(D_) * C_);
    for (int c = 0; c < C_; ++c)
      for (int a = 0; a < D_; ++a) xt[static_cast<std::size_t>(a) * C_ + c] = x[static_cast<std::size_t>(c) * D_ + a];
    gW.resize(weights_.size());
    for (std::size_t i = 0; i < weights_.size(); ++i) {
      const int dM = weights_[i].out.dim(), corr = static_cast<int>(weights_[i].W.size());
      std::vector<S> gt(static_cast<std::size_t>(dM) * C_);
      for (int c = 0; c < C_; ++c)
        for (int M = 0; M < dM; ++M) gt[static_cast<std::size_t>(M) * C_ + c] = g[static_cast<std::size_t>(c) * dM + M];
      gW[i].resize(static_cast<std::size_t>(corr));
      for (int nu = 1; nu <= corr; ++nu) {
        gW[i][nu - 1].resize(static_cast<std::size_t>(U_[i][nu - 1]->n_paths) * C_, S(0));
        detail::accumulate_weight_gradient(terms_[i][nu - 1], nu, C_, xt, gt, gW[i][nu - 1].data());
      }
      g += C_ * dM;
    }
  }

 private:
  static int sh_dim_of(int lmax) {
    if (lmax < 0 || (lmax + 1) * (lmax + 1) > kMaxContractionDim)
      throw Error("mace symmetric contraction: lmax " + std::to_string(lmax) + " outside 0..3");
    return (lmax + 1) * (lmax + 1);
  }
  void check_element(int z) const {
    if (z < 0 || z >= n_elements_)
      throw Error("mace symmetric contraction: element index " + std::to_string(z) + " outside 0.." +
                  std::to_string(n_elements_ - 1));
  }
  const std::vector<IrrepContraction<S>>& prepared(int z) const {
    check_element(z);
    const auto& pe = per_element_[static_cast<std::size_t>(z)];
    if (pe.empty()) throw Error("mace symmetric contraction: element " + std::to_string(z) + " not prepared");
    return pe;
  }

  int D_, C_, n_elements_;
  std::vector<ContractionWeights> weights_;
  std::vector<std::vector<const UMatrix*>> U_;  ///< [irrep][ν−1], owned by sh_u_matrix's cache
  std::vector<std::vector<std::vector<SymmetricUTerm>>> terms_;  ///< [irrep][ν−1], for weight gradients
  std::vector<std::vector<IrrepContraction<S>>> per_element_;
};

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
