#pragma once
/// \file
/// \brief Simple crystals to start MD from: fcc n×n×n conventional cells of one element
/// (the LJ argon systems of the LAMMPS comparisons and the benchmarks).

#include <nernst/core/system.hpp>

NERNST_NAMESPACE_BEGIN
namespace md {

/// fcc crystal of n×n×n conventional cells of edge `a` (Å), one species (atomic number `z`,
/// `mass` amu), at rest, images zero. `tilt_xy` (Å) adds an x component to the b vector
/// (a sheared, triclinic cell); atoms sit at the same fractional coordinates.
inline System<> fcc_crystal(int n, double a, int z, double mass, double tilt_xy = 0.0) {
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  Eigen::Matrix3d h = Eigen::Matrix3d::Identity() * (n * a);
  h(1, 0) = tilt_xy;
  System<> s(static_cast<std::size_t>(4 * n * n * n));
  s.cell = Lattice(h);
  s.species = {z};
  auto x = Kokkos::create_mirror_view(s.x);
  auto m = Kokkos::create_mirror_view(s.mass);
  int k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < n; ++l)
        for (const auto& b : basis) {
          const Eigen::Vector3d f((i + b[0]) / n, (j + b[1]) / n, (l + b[2]) / n);
          const Eigen::Vector3d r = s.cell.to_cart(f);
          for (int d = 0; d < 3; ++d) x(k, d) = r[d];
          m(k) = mass;
          ++k;
        }
  Kokkos::deep_copy(s.x, x);
  Kokkos::deep_copy(s.mass, m);
  Kokkos::deep_copy(s.type, 0);
  Kokkos::deep_copy(s.image, 0);
  Kokkos::deep_copy(s.v, 0.0);
  Kokkos::deep_copy(s.f, 0.0);
  return s;
}

}  // namespace md
NERNST_NAMESPACE_END
