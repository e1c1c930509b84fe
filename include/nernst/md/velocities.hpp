#pragma once
/// \file
/// \brief Maxwell–Boltzmann velocities with a seed, centre-of-mass momentum removal, rescaling.

#include <nernst/md/state.hpp>

NERNST_NAMESPACE_BEGIN
namespace md {

/// Removes the centre-of-mass velocity (total momentum becomes zero).
template <class MS>
void remove_com_momentum(System<MS>& sys) {
  using ES = typename MS::execution_space;
  const Eigen::Vector3d vc = detail::com_velocity(sys);
  auto v = sys.v;
  const double c0 = vc[0], c1 = vc[1], c2 = vc[2];
  Kokkos::parallel_for(
      "nernst::md::remove_com", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())), KOKKOS_LAMBDA(const int i) {
        v(i, 0) -= c0;
        v(i, 1) -= c1;
        v(i, 2) -= c2;
      });
}

/// Instantaneous temperature (K) with `ndof` degrees of freedom (default 3N − 3).
template <class MS>
double temperature(const System<MS>& sys, int ndof = -1) {
  if (ndof < 0) ndof = default_ndof(sys.size());
  return ndof > 0 ? 2.0 * detail::kinetic_energy(sys) / (ndof * units::kB) : 0.0;
}

/// Draws velocities from the Maxwell–Boltzmann distribution at T (K), removes the total
/// momentum and rescales to exactly T (as LAMMPS `velocity create ... mom yes dist gaussian`).
/// The draw is a pure function of (seed, atom index), identical on every backend.
template <class MS>
void maxwell_boltzmann(System<MS>& sys, double T, std::uint64_t seed, bool exact_temperature = true) {
  using ES = typename MS::execution_space;
  if (!(T >= 0) || !std::isfinite(T)) throw ValueError("maxwell_boltzmann: temperature must be >= 0 K");
  auto v = sys.v;
  auto m = sys.mass;
  const double kT = units::kB * T;
  const double conv = units::force_to_accel;  // eV/amu -> Å²/fs²
  const std::uint64_t key = detail::mix64(seed ^ 0x4d42ULL);
  Kokkos::parallel_for(
      "nernst::md::maxwell_boltzmann", Kokkos::RangePolicy<ES>(0, static_cast<int>(sys.size())),
      KOKKOS_LAMBDA(const int i) {
        const double s = math::sqrt(kT / m(i) * conv);
        for (int d = 0; d < 3; ++d) v(i, d) = s * detail::counter_normal(key, 0, static_cast<std::uint64_t>(i), d);
      });
  if (sys.size() > 1) remove_com_momentum(sys);
  if (exact_temperature && T > 0 && sys.size() > 1) {
    const double t = temperature(sys);
    if (t > 0) detail::scale_velocities(sys, std::sqrt(T / t));
  }
}

}  // namespace md
NERNST_NAMESPACE_END
