#pragma once
/// \file
/// \brief MDState (what an ensemble advances) and the per-atom Kokkos kernels the ensembles share.
///
/// Units: x Å, v Å/fs, f eV/Å, m amu, t fs. `a = f/m · units::force_to_accel` is in Å/fs².
/// The kinetic-energy tensor K_ab = Σ m v_a v_b (eV, *not* halved); KE = tr(K)/2.
/// Temperature uses N_dof = 3N − 3 (total momentum removed), like LAMMPS `compute temp`.
/// Pressure tensor P = K/V − σ (σ: ASE stress, positive = tensile), P = tr(P)/3.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/units.hpp>
#include <nernst/core/vec3.hpp>
#include <nernst/potential/potential.hpp>

#include <Eigen/Eigenvalues>

#include <cmath>
#include <cstdint>

NERNST_NAMESPACE_BEGIN
namespace md {

/// The dynamical state an ensemble policy advances: the system, the time step, the result of
/// the last force evaluation and bookkeeping. Forces in `sys->f` always belong to `last`.
template <class MemorySpace>
struct MDState {
  using memory_space = MemorySpace;
  using execution_space = typename MemorySpace::execution_space;
  System<MemorySpace>* sys = nullptr;
  double dt = 1.0;            ///< fs
  long step = 0;              ///< completed steps
  double time = 0.0;          ///< fs
  std::uint64_t seed = 0;     ///< for stochastic ensembles (counter-based: restart-safe)
  ComputeResult last;         ///< energy / stress at the current positions
  int ndof = 0;               ///< kinetic degrees of freedom (3N − 3)

  double volume() const { return sys->cell.volume(); }
  Eigen::Matrix3d kinetic_tensor() const;
  double kinetic_energy() const;
  double temperature() const { return ndof > 0 ? 2.0 * kinetic_energy() / (ndof * units::kB) : 0.0; }
  /// Pressure tensor in eV/Å³ (needs `last.has_stress`).
  Eigen::Matrix3d pressure_tensor() const { return kinetic_tensor() / volume() - last.stress; }
  /// Scalar pressure in bar: 2 KE/(3V) − tr(σ)/3.
  double pressure_bar() const {
    return (2.0 * kinetic_energy() / (3.0 * volume()) - last.stress.trace() / 3.0) * units::eV_per_A3_in_bar;
  }
};

/// Default degrees of freedom: 3N − 3 (N > 1).
inline int default_ndof(std::size_t n) { return n > 1 ? static_cast<int>(3 * n - 3) : static_cast<int>(3 * n); }

namespace detail {

/// splitmix64 finaliser: a good 64-bit mixer, usable in kernels.
KOKKOS_INLINE_FUNCTION std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Standard normal number that is a pure function of (seed, step, atom, component): the random
/// stream of a stochastic ensemble needs no state, so restarts and any backend reproduce it.
KOKKOS_INLINE_FUNCTION double counter_normal(std::uint64_t seed, std::uint64_t step, std::uint64_t i, int d) {
  const std::uint64_t h = mix64(seed ^ mix64(step ^ mix64(i * 4u + static_cast<std::uint64_t>(d))));
  const std::uint64_t h2 = mix64(h ^ 0x5851f42d4c957f2dULL);
  const double u1 = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0,1)
  const double u2 = static_cast<double>(h2 >> 11) * (1.0 / 9007199254740992.0);
  return math::sqrt(-2.0 * math::log(u1)) * math::cos(6.283185307179586 * u2);
}

/// Six components xx yy zz yz xz xy of Σ m v v (amu Å²/fs²).
struct Sym6 {
  double s[6];
  KOKKOS_INLINE_FUNCTION Sym6() { for (int k = 0; k < 6; ++k) s[k] = 0; }
  KOKKOS_INLINE_FUNCTION Sym6& operator+=(const Sym6& o) { for (int k = 0; k < 6; ++k) s[k] += o.s[k]; return *this; }
  KOKKOS_INLINE_FUNCTION void operator+=(const volatile Sym6& o) volatile { for (int k = 0; k < 6; ++k) s[k] += o.s[k]; }
};

template <class MS>
Eigen::Matrix3d kinetic_tensor(const System<MS>& sys) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto m = sys.mass;
  Sym6 acc;
  Kokkos::parallel_reduce(
      "nernst::md::kinetic_tensor", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())),
      KOKKOS_LAMBDA(const int i, Sym6& a) {
        const double mi = m(i);
        a.s[0] += mi * v(i, 0) * v(i, 0);
        a.s[1] += mi * v(i, 1) * v(i, 1);
        a.s[2] += mi * v(i, 2) * v(i, 2);
        a.s[3] += mi * v(i, 1) * v(i, 2);
        a.s[4] += mi * v(i, 0) * v(i, 2);
        a.s[5] += mi * v(i, 0) * v(i, 1);
      },
      acc);
  Eigen::Matrix3d k;
  k << acc.s[0], acc.s[5], acc.s[4], acc.s[5], acc.s[1], acc.s[3], acc.s[4], acc.s[3], acc.s[2];
  return k * units::mvv_to_eV;
}

template <class MS>
double kinetic_energy(const System<MS>& sys) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto m = sys.mass;
  double ke = 0;
  Kokkos::parallel_reduce(
      "nernst::md::kinetic_energy", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())),
      KOKKOS_LAMBDA(const int i, double& a) { a += m(i) * (v(i, 0) * v(i, 0) + v(i, 1) * v(i, 1) + v(i, 2) * v(i, 2)); },
      ke);
  return 0.5 * ke * units::mvv_to_eV;
}

/// v += a · dt.
template <class MS>
void kick(System<MS>& sys, double dt) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto f = sys.f;
  auto m = sys.mass;
  const double c = dt * units::force_to_accel;
  Kokkos::parallel_for(
      "nernst::md::kick", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        const double s = c / m(i);
        for (int d = 0; d < 3; ++d) v(i, d) += s * f(i, d);
      });
}

/// Wraps positions into the cell and counts the crossings in `image` (x + image·cell invariant).
template <class MS>
void wrap(System<MS>& sys) {
  using ES = typename MS::execution_space;
  auto x = sys.x;
  auto img = sys.image;
  const Mat3<double> h = sys.cell.to_mat3();
  const Mat3<double> hi = inverse(h);
  Kokkos::parallel_for(
      "nernst::md::wrap", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        int n[3];
        bool any = false;
        for (int k = 0; k < 3; ++k) {
          const double fk = x(i, 0) * hi(0, k) + x(i, 1) * hi(1, k) + x(i, 2) * hi(2, k);
          n[k] = static_cast<int>(math::floor(fk));
          any = any || n[k] != 0;
        }
        if (!any) return;
        for (int d = 0; d < 3; ++d) x(i, d) -= n[0] * h(0, d) + n[1] * h(1, d) + n[2] * h(2, d);
        for (int k = 0; k < 3; ++k) img(i, k) += n[k];
      });
}

/// x += v · dt, then wrap.
template <class MS>
void drift(System<MS>& sys, double dt) {
  using ES = typename MS::execution_space;
  auto x = sys.x;
  auto v = sys.v;
  Kokkos::parallel_for(
      "nernst::md::drift", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        for (int d = 0; d < 3; ++d) x(i, d) += v(i, d) * dt;
      });
  wrap(sys);
}

/// A velocity-Verlet step is kick(dt/2) · drift(dt) · force · kick(dt/2); these are its halves
/// before and after the force evaluation (which needs no stress).
template <class MS>
void verlet_before_force(MDState<MS>& s) {
  kick(*s.sys, 0.5 * s.dt);
  drift(*s.sys, s.dt);
}
template <class MS>
void verlet_after_force(MDState<MS>& s) {
  kick(*s.sys, 0.5 * s.dt);
}

template <class MS>
void scale_velocities(System<MS>& sys, double s) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  Kokkos::parallel_for(
      "nernst::md::scale_v", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        for (int d = 0; d < 3; ++d) v(i, d) *= s;
      });
}

inline Mat3<double> to_mat3(const Eigen::Matrix3d& m) {
  Mat3<double> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r(i, j) = m(i, j);
  return r;
}

/// v ← E v + D a (a = f/m in Å/fs²): the exact solution of dv/dt = a − A v over a stage.
template <class MS>
void linear_velocity_update(System<MS>& sys, const Eigen::Matrix3d& E, const Eigen::Matrix3d& D) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto f = sys.f;
  auto m = sys.mass;
  const Mat3<double> e = to_mat3(E), dd = to_mat3(D * units::force_to_accel);
  Kokkos::parallel_for(
      "nernst::md::linear_v", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        const double inv = 1.0 / m(i);
        double r[3];
        for (int a = 0; a < 3; ++a) {
          r[a] = 0;
          for (int b = 0; b < 3; ++b) r[a] += e(a, b) * v(i, b) + dd(a, b) * f(i, b) * inv;
        }
        for (int a = 0; a < 3; ++a) v(i, a) = r[a];
      });
}

/// x ← E x + D v (no wrapping; the caller wraps after changing the cell).
template <class MS>
void linear_position_update(System<MS>& sys, const Eigen::Matrix3d& E, const Eigen::Matrix3d& D) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto x = sys.x;
  const Mat3<double> e = to_mat3(E), dd = to_mat3(D);
  Kokkos::parallel_for(
      "nernst::md::linear_x", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        double r[3];
        for (int a = 0; a < 3; ++a) {
          r[a] = 0;
          for (int b = 0; b < 3; ++b) r[a] += e(a, b) * x(i, b) + dd(a, b) * v(i, b);
        }
        for (int a = 0; a < 3; ++a) x(i, a) = r[a];
      });
}

/// Mass-weighted centre-of-mass velocity (Å/fs).
template <class MS>
Eigen::Vector3d com_velocity(const System<MS>& sys) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto m = sys.mass;
  Sym6 acc;  // s[0..2] momentum, s[3] mass
  Kokkos::parallel_reduce(
      "nernst::md::com", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())),
      KOKKOS_LAMBDA(const int i, Sym6& a) {
        for (int d = 0; d < 3; ++d) a.s[d] += m(i) * v(i, d);
        a.s[3] += m(i);
      },
      acc);
  if (!(acc.s[3] > 0)) return Eigen::Vector3d::Zero();
  return Eigen::Vector3d(acc.s[0], acc.s[1], acc.s[2]) / acc.s[3];
}

/// exp(s·M) for a symmetric M (eigen-decomposition).
inline Eigen::Matrix3d sym_expm(const Eigen::Matrix3d& M, double s) {
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(0.5 * (M + M.transpose()));
  const Eigen::Vector3d l = es.eigenvalues();
  Eigen::Vector3d e;
  for (int k = 0; k < 3; ++k) e[k] = std::exp(s * l[k]);
  return es.eigenvectors() * e.asDiagonal() * es.eigenvectors().transpose();
}

/// Number of non-finite force components (NaN or ±inf) in sys.f: the MD guard's test.
template <class MS>
int count_non_finite_forces(const System<MS>& sys) {
  using ES = typename MS::execution_space;
  auto f = sys.f;
  int bad = 0;
  Kokkos::parallel_reduce(
      "nernst::md::guard_forces", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())),
      KOKKOS_LAMBDA(const int i, int& b) {
        for (int d = 0; d < 3; ++d)
          if (!(f(i, d) - f(i, d) == 0.0)) ++b;  // NaN or ±inf
      },
      bad);
  return bad;
}

/// Langevin (BAOAB) O step: v ← c·v + sq/√m · ξ, with ξ the counter-based normal of (seed, step,
/// atom, axis), so the noise does not depend on the back end or the thread count. A free function,
/// not a lambda in Ensemble::step: CUDA's extended lambdas may not sit in a function templated on
/// a local lambda type (the force callback).
template <class MS>
void langevin_velocity_step(const System<MS>& sys, const double c, const double sq, const std::uint64_t seed,
                            const std::uint64_t step) {
  using ES = typename MS::execution_space;
  auto v = sys.v;
  auto m = sys.mass;
  Kokkos::parallel_for(
      "nernst::md::langevin_O", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        const double w = sq / math::sqrt(m(i));
        for (int d = 0; d < 3; ++d)
          v(i, d) = c * v(i, d) + w * counter_normal(seed, step, static_cast<std::uint64_t>(i), d);
      });
}

/// ∫_0^τ exp(s·M·t) dt for symmetric M: O diag(τ e^{sλτ/2} sinhc(sλτ/2)) Oᵀ.
inline Eigen::Matrix3d sym_expm_integral(const Eigen::Matrix3d& M, double s, double tau) {
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(0.5 * (M + M.transpose()));
  const Eigen::Vector3d l = es.eigenvalues();
  Eigen::Vector3d e;
  for (int k = 0; k < 3; ++k) {
    const double x = 0.5 * s * l[k] * tau;
    const double sinhc = std::abs(x) < 1e-4 ? 1.0 + x * x / 6.0 + x * x * x * x / 120.0 : std::sinh(x) / x;
    e[k] = tau * std::exp(x) * sinhc;
  }
  return es.eigenvectors() * e.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace detail

template <class MS>
Eigen::Matrix3d MDState<MS>::kinetic_tensor() const { return detail::kinetic_tensor(*sys); }
template <class MS>
double MDState<MS>::kinetic_energy() const { return detail::kinetic_energy(*sys); }

}  // namespace md
NERNST_NAMESPACE_END
