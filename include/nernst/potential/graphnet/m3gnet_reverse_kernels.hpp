#pragma once
/// \file
/// \brief The M3GNet-specific steps of the reverse pass as Kokkos functors (graphnet::M3GNetKernel's
/// forces and virial): the three-body sum's reverse, the triplet basis' reverse through bond angles
/// and lengths, and each edge's ∂E/∂r_e.
///
/// The generic reverses (dense layers, gated MLPs, activations, per-atom force sums) are in
/// nn/dense_kernel.hpp, nn/gated_mlp_kernel.hpp and graph_kernels.hpp; what is here is the
/// arithmetic of M3GNetEvaluator::threebody_backward and ::forces_and_virial, written so that every
/// sum onto a row is computed whole by one thread over a CSR segment (Segments, members in
/// increasing order): no atomics, the same bits on every run and at any thread count. The host
/// evaluator adds the same terms through per-thread partials, so the two agree to rounding
/// (1e-12 relative in double), not bitwise.

#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/potential/graphnet/basis.hpp>
#include <nernst/potential/graphnet/graph_kernels.hpp>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace detail {

/// Per triplet t (target edge e, gate atom a, basis row B_t, envelope weight w_t) of one block,
/// given dh = ∂E/∂h: dB(t, k) += dh(e, k) s(a, k) w_t and dw_t += Σ_k dh(e, k) B(t, k) s(a, k), the
/// host evaluator's products in its order. One thread per triplet: it owns its rows.
template <class Scalar, class MS>
struct TripletReverseKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> dh, gate, basis, dbasis;
  Kokkos::View<Scalar*, MS> weight, dweight;
  Kokkos::View<const int*, MS> target, gate_atom;
  KOKKOS_INLINE_FUNCTION void operator()(const int t) const {
    const int e = target(t), a = gate_atom(t);
    const Scalar wt = weight(t);
    Scalar dw(0);
    for (int k = 0; k < 9; ++k) {
      dbasis(t, k) += dh(e, k) * gate(a, k) * wt;
      dw += dh(e, k) * basis(t, k) * gate(a, k);
    }
    dweight(t) += dw;
  }
};

/// ds(i, k) = Σ_{t gated by atom i} dh(target(t), k) B(t, k) w_t, triplets in order: ∂E/∂s of the
/// three-body gates σ(v W_aᵀ + b). One thread per atom (its nine sums in one pass).
template <class Scalar, class MS>
struct GateReverseKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> ds, dh, basis;
  Kokkos::View<Scalar*, MS> weight;
  Kokkos::View<int*, MS> offset, member;
  Kokkos::View<const int*, MS> target;
  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    Scalar acc[9] = {};
    for (int m = offset(i); m < offset(i + 1); ++m) {
      const int t = member(m), e = target(t);
      const Scalar wt = weight(t);
      for (int k = 0; k < 9; ++k) acc[k] += dh(e, k) * basis(t, k) * wt;
    }
    for (int k = 0; k < 9; ++k) ds(i, k) = acc[k];
  }
};

/// Per triplet t with bonds u (angle side) and w (radial side, ρ = |w|), from dB = ∂E/∂B_t: the
/// gradients it sends to its two bond vectors, gu = (∂E/∂cos θ) ∂cos/∂u and gw = (∂E/∂cos θ)
/// ∂cos/∂w + (∂E/∂ρ) w/ρ, with ∂B/∂ρ = R_k′(ρ) Y_l and ∂B/∂cos = R_k(ρ) Y_l′. A clamped cosine
/// (|cos θ| > 1 − 1e-7) has zero angular derivative, as in the forward pass.
template <class Scalar, class MS>
struct TripletGeometryReverseKernel {
  Kokkos::View<const int*, MS> bond_u, bond_w;
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> rvec, radial, radial_d, dbasis, gu, gw;
  Kokkos::View<Scalar*, MS> dist;
  KOKKOS_INLINE_FUNCTION void operator()(const int t) const {
    const int a = bond_u(t), b = bond_w(t);
    const Scalar dw = dist(b);
    Scalar dcdu[3], dcdw[3];
    const Scalar cosv = triplet_cosine(&rvec(a, 0), &rvec(b, 0), dist(a), dw, dcdu, dcdw);
    Scalar Y[3], dY[3];
    spherical_harmonics_m0(cosv, Y, dY);
    Scalar drho(0), dcos(0);
    for (int l = 0; l < 3; ++l)
      for (int n = 0; n < 3; ++n) {
        const int k = 3 * l + n;
        const Scalar gb = dbasis(t, k);
        drho += gb * (radial_d(b, k) * Y[l]);
        dcos += gb * (radial(b, k) * dY[l]);
      }
    const Scalar fr = drho / dw;
    for (int k = 0; k < 3; ++k) {
      gu(t, k) = dcos * dcdu[k];
      gw(t, k) = dcos * dcdw[k] + fr * rvec(b, k);
    }
  }
};

/// ∂E/∂r_e of edge e: the radial part ((∂E/∂fc) fc′ + Σ_k ∂E/∂rbf_k rbf_k′) r_e/|r_e|, where ∂E/∂fc
/// sums the triplets whose envelope weight fc_a·fc_b uses edge e, plus the triplets' gradients onto
/// their bond u (gu) and bond w (gw). Every sum runs over the edge's triplets in order.
template <class Scalar, class MS>
struct EdgeGradientKernel {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MS> G, rvec, radial_d, drbf, gu, gw;
  Kokkos::View<Scalar*, MS> dist, envelope, envelope_d, dweight;
  Kokkos::View<const int*, MS> env_a, env_b;
  Segments<MS> by_env_a, by_env_b, by_u, by_w;
  int radial_size;
  KOKKOS_INLINE_FUNCTION void operator()(const int e) const {
    Scalar dfc(0);
    for (int m = by_env_a.offset(e); m < by_env_a.offset(e + 1); ++m) {
      const int t = by_env_a.member(m);
      dfc += dweight(t) * envelope(env_b(t));
    }
    for (int m = by_env_b.offset(e); m < by_env_b.offset(e + 1); ++m) {
      const int t = by_env_b.member(m);
      dfc += dweight(t) * envelope(env_a(t));
    }
    Scalar dd = dfc * envelope_d(e);
    for (int k = 0; k < radial_size; ++k) dd += drbf(e, k) * radial_d(e, k);
    const Scalar f = dd / dist(e);
    for (int k = 0; k < 3; ++k) {
      Scalar g = f * rvec(e, k);
      for (int m = by_u.offset(e); m < by_u.offset(e + 1); ++m) g += gu(by_u.member(m), k);
      for (int m = by_w.offset(e); m < by_w.offset(e + 1); ++m) g += gw(by_w.member(m), k);
      G(e, k) = g;
    }
  }
};


}  // namespace detail
}  // namespace graphnet
NERNST_NAMESPACE_END
