#pragma once
// Shared fixtures for the MD tests: the LJ argon liquid of ../shared/reference/transport.
#include "../test_support.hpp"

#include <nernst/md/md.hpp>
#include <nernst/potential/lennard_jones.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

namespace mdt {
using namespace nernst;

inline md::SimulationOptions opts(double dt) {
  md::SimulationOptions o;
  o.timestep = dt;
  return o;
}

inline LennardJones argon() { return LennardJones{0.010323, 3.405, 8.5, true, false, 2.0}; }

/// fcc argon, n×n×n conventional cells of edge a (Å), optionally with a tilted c vector.
inline System<> fcc(int n, double a, double tilt_xy = 0.0) {
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  Eigen::Matrix3d h = Eigen::Matrix3d::Identity() * (n * a);
  h(1, 0) = tilt_xy;
  System<> s(static_cast<std::size_t>(4 * n * n * n));
  s.cell = Lattice(h);
  s.species = {18};
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
          m(k) = 39.948;
          ++k;
        }
  Kokkos::deep_copy(s.x, x);
  Kokkos::deep_copy(s.mass, m);
  Kokkos::deep_copy(s.type, 0);
  Kokkos::deep_copy(s.image, 0);
  return s;
}

/// A deep copy (Systems share views on copy).
inline System<> clone(const System<>& a) {
  System<> b(a.size());
  Kokkos::deep_copy(b.x, a.x);
  Kokkos::deep_copy(b.v, a.v);
  Kokkos::deep_copy(b.f, a.f);
  Kokkos::deep_copy(b.mass, a.mass);
  Kokkos::deep_copy(b.type, a.type);
  Kokkos::deep_copy(b.image, a.image);
  b.cell = a.cell;
  b.species = a.species;
  return b;
}

/// The 500-atom liquid at 0.8 σ⁻³ and 120 K (melt 300 K, cool, equilibrate; as ar_prep.in, shorter).
inline const System<>& liquid120() {
  // never destroyed: a static Kokkos view must not outlive Kokkos::finalize
  static System<>* s = new System<>([] {
    System<> t = fcc(5, 5.8215);
    md::maxwell_boltzmann(t, 300.0, 777);
    Potential<LennardJones> lj(argon());
    using E = md::Ensemble<md::NVT, md::NoseHoover>;
    md::Simulation<E, Potential<LennardJones>> sim(t, lj, E({300.0, 200.0, 3}), opts(2.0));
    sim.run(2000);
    sim.run(1500, 300.0, 120.0);
    sim.run(2500, 120.0, 120.0);
    return t;
  }());
  return *s;
}

inline nlohmann::json thermo_reference() {
  std::ifstream in(nernst_test::shared_dir() / "reference/transport/ar_thermo_reference.json");
  return nlohmann::json::parse(in);
}

/// Standard error of a correlated mean from the reference statistical inefficiency g (in
/// samples of 0.02 ps): SEM = std · sqrt(g · 0.02 ps / run length).
inline double sem(double std, double g_samples, double run_ps) { return std * std::sqrt(std::max(1.0, g_samples) * 0.02 / run_ps); }

}  // namespace mdt
