#pragma once
// Shared fixtures for the MD tests: the LJ argon liquid of ../shared/reference/transport.
#include "../test_support.hpp"

#include <nernst/md/md.hpp>
#include <nernst/potential/lennard_jones.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace mdt {
using namespace nernst;

inline md::SimulationOptions opts(double dt) {
  md::SimulationOptions o;
  o.timestep = dt;
  return o;
}

inline LennardJones argon() { return LennardJones{0.010323, 3.405, 8.5, true, false, 2.0}; }

/// fcc argon, n×n×n conventional cells of edge a (Å), optionally with a tilted b vector.
inline System<> fcc(int n, double a, double tilt_xy = 0.0) { return md::fcc_crystal(n, a, 18, 39.948, tilt_xy); }

/// MTK NpT parameters (T K, P bar, damping fs; chains of 3 as the LAMMPS references).
inline md::Ensemble<md::NpT, md::NoseHoover>::Parameters mtk(double T, double P, double tdamp, double pdamp,
                                                             md::Coupling c = md::Coupling::Isotropic) {
  md::Ensemble<md::NpT, md::NoseHoover>::Parameters p;
  p.temperature = T;
  p.pressure = P;
  p.tdamp = tdamp;
  p.pdamp = pdamp;
  p.coupling = c;
  return p;
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

namespace mdt {
/// Tag: LJ argon that turns one force component NaN from a given call on (exercises the guards).
struct NaNForce {};
}  // namespace mdt

NERNST_NAMESPACE_BEGIN
/// Potential<mdt::NaNForce>(calls, atom, axis): argon LJ whose force f(atom, axis) is NaN from
/// call `calls + 1` on (calls 1..calls are clean).
template <>
class Potential<mdt::NaNForce, double, DefaultMemorySpace> {
 public:
  using memory_space = DefaultMemorySpace;
  Potential(long calls, int atom, int axis) : lj_(mdt::argon()), left_(calls), atom_(atom), axis_(axis) {}
  double cutoff() const { return lj_.cutoff(); }
  ComputeResult compute(System<>& s, const ComputeRequest& r) {
    auto res = lj_.compute(s, r);
    if (--left_ < 0) {
      auto f = Kokkos::create_mirror_view_and_copy(HostSpace(), s.f);
      f(atom_, axis_) = std::nan("");
      Kokkos::deep_copy(s.f, f);
    }
    return res;
  }

 private:
  Potential<LennardJones> lj_;
  long left_;
  int atom_, axis_;
};
NERNST_NAMESPACE_END
