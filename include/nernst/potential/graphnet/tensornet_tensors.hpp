#pragma once
/// \file
/// \brief Per-channel 3×3 tensor algebra on TensorNet's node stacks, forward and adjoint.
///
/// A node stack holds, for every atom, U channels of a real 3×3 matrix. It is stored as a
/// row-major [9·N, U] batch: row 9·i + 3·a + b holds entry (a, b) of atom i for all channels.
/// This layout makes TensorNet's channel mixing (`mix(W, Q)[c] = Σ_c' W[c][c'] Q[c']`) a single
/// GEMM Q·Wᵀ over all atoms and entries, and it makes every per-channel 3×3 operation below a
/// loop over contiguous channel runs that the compiler vectorises. The functions take the base
/// pointer of one atom's 9 rows (`x + 9·U·i`) and the channel count U.
///
/// Notation as in specs/tensornet.md §6: I = (tr X / 3)·Id, A = ½(X − Xᵀ), S = ½(X + Xᵀ) − I,
/// ‖X‖² the squared Frobenius norm. The projections X ↦ I, A, S are symmetric, so each one is its
/// own adjoint, and the three add up to the identity.

#include <nernst/core/macros.hpp>

#include <Eigen/Core>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace tensornet {

using Index = Eigen::Index;

/// out[c] = Σ_ab x[ab][c]² (+ `add`), per channel.
template <class S>
inline void sq_norm(const S* x, S* out, Index U, S add = S(0)) {
  for (Index c = 0; c < U; ++c) out[c] = add;
  for (int ab = 0; ab < 9; ++ab) {
    const S* r = x + ab * U;
    for (Index c = 0; c < U; ++c) out[c] += r[c] * r[c];
  }
}

/// out[c] (+)= ⟨x[c], y[c]⟩ = Σ_ab x[ab][c]·y[ab][c].
template <class S>
inline void dot(const S* x, const S* y, S* out, Index U, bool accumulate = false) {
  if (!accumulate)
    for (Index c = 0; c < U; ++c) out[c] = S(0);
  for (int ab = 0; ab < 9; ++ab) {
    const S* a = x + ab * U;
    const S* b = y + ab * U;
    for (Index c = 0; c < U; ++c) out[c] += a[c] * b[c];
  }
}

/// (I, A, S) = decompose(x); tr/3 is the mean of the diagonal, as matgl computes it.
template <class S>
inline void decompose(const S* x, S* I, S* A, S* Sy, Index U) {
  const S third = S(1) / S(3);
  for (Index c = 0; c < U; ++c) {
    const S t = (x[0 * U + c] + x[4 * U + c] + x[8 * U + c]) * third;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        const int ab = 3 * a + b, ba = 3 * b + a;
        const S xab = x[ab * U + c], xba = x[ba * U + c];
        const S iab = a == b ? t : S(0);
        I[ab * U + c] = iab;
        A[ab * U + c] = S(0.5) * (xab - xba);
        Sy[ab * U + c] = S(0.5) * (xab + xba) - iab;
      }
  }
}

/// out = s·(P_I(i) + P_A(a) + P_S(sy)) (+ out when `accumulate`): the adjoint of decompose()
/// for incoming adjoints (i, a, sy) of I, A, S (general 3×3 each), scaled by s[c].
template <class S>
inline void decompose_adjoint(const S* i, const S* a, const S* sy, S* out, Index U, const S* s = nullptr,
                              bool accumulate = false) {
  const S third = S(1) / S(3);
  for (Index c = 0; c < U; ++c) {
    const S ti = (i[0 * U + c] + i[4 * U + c] + i[8 * U + c]) * third;
    const S ts = (sy[0 * U + c] + sy[4 * U + c] + sy[8 * U + c]) * third;
    const S f = s ? s[c] : S(1);
    for (int r = 0; r < 3; ++r)
      for (int q = 0; q < 3; ++q) {
        const int rq = 3 * r + q, qr = 3 * q + r;
        const S iso = r == q ? ti - ts : S(0);
        const S v = iso + S(0.5) * (a[rq * U + c] - a[qr * U + c]) + S(0.5) * (sy[rq * U + c] + sy[qr * U + c]);
        if (accumulate)
          out[rq * U + c] += f * v;
        else
          out[rq * U + c] = f * v;
      }
  }
}

/// r += op(p)·op(q) per channel (3×3 products), op = transpose when TP / TQ.
template <bool TP, bool TQ, class S>
inline void matmul_add(const S* p, const S* q, S* r, Index U) {
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      S* rr = r + (3 * a + b) * U;
      for (int k = 0; k < 3; ++k) {
        const S* pp = p + (TP ? 3 * k + a : 3 * a + k) * U;
        const S* qq = q + (TQ ? 3 * b + k : 3 * k + b) * U;
        for (Index c = 0; c < U; ++c) rr[c] += pp[c] * qq[c];
      }
    }
}

}  // namespace tensornet
}  // namespace graphnet
NERNST_NAMESPACE_END
