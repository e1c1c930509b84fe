// Maxwell-Boltzmann velocities, COM removal, temperature ramps, the equilibration Protocol.
#include "md_test_support.hpp"

using namespace nernst;
using namespace mdt;

TEST_CASE("Maxwell-Boltzmann: seeded, zero momentum, exact T, Gaussian with variance kT/m") {
  System<> a = fcc(6, 5.8215), b = fcc(6, 5.8215), c = fcc(6, 5.8215);
  md::maxwell_boltzmann(a, 300.0, 5);
  md::maxwell_boltzmann(b, 300.0, 5);
  md::maxwell_boltzmann(c, 300.0, 6);
  auto va = Kokkos::create_mirror_view_and_copy(HostSpace(), a.v);
  auto vb = Kokkos::create_mirror_view_and_copy(HostSpace(), b.v);
  auto vc = Kokkos::create_mirror_view_and_copy(HostSpace(), c.v);
  CHECK(va(10, 1) == vb(10, 1));
  CHECK(va(10, 1) != vc(10, 1));
  CHECK(md::temperature(a) == doctest::Approx(300.0).epsilon(1e-12));
  CHECK(md::detail::com_velocity(a).norm() < 1e-15);
  // per-component variance and kurtosis of a Gaussian: <v²> = kT/m, <v⁴>/<v²>² = 3
  double m2 = 0, m4 = 0;
  const std::size_t n = a.size();
  for (std::size_t i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) {
      m2 += va(i, d) * va(i, d);
      m4 += std::pow(va(i, d), 4);
    }
  m2 /= 3 * n;
  m4 /= 3 * n;
  const double kTm = units::kB * 300.0 / 39.948 * units::force_to_accel;
  CHECK(m2 == doctest::Approx(kTm * (3.0 * n - 3) / (3.0 * n)).epsilon(1e-9));
  CHECK(m4 / (m2 * m2) == doctest::Approx(3.0).epsilon(0.1));  // 2592 samples: ±~0.1
}

TEST_CASE("temperature ramp follows the target linearly (Nose-Hoover)") {
  System<> s = clone(liquid120());
  Potential<LennardJones> lj(argon());
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, E({120.0, 100.0, 3}), opts(2.0));
  auto st = std::make_shared<md::Statistics<>>(10, 0);
  sim.add_observer(st);
  sim.run(3000, 120.0, 240.0);
  // T averaged over the last 1 ps: the ramp's target over that window averages 240 − 20 K/ps ×
  // 0.5 ps = 230 K (the thermostat lags by ~tdamp = 0.1 ps, 2 K). 500 atoms: T fluctuates by
  // ~240·√(2/3N) ≈ 9 K, about 4 K on a 1 ps mean; ±5 % ≈ 3σ. (Threads change the rounding and so
  // the trajectory: 230.6 K on one thread, 225.5 K on two.)
  double m = 0;
  int k = 0;
  for (std::size_t i = st->T.size() - 50; i < st->T.size(); ++i, ++k) m += st->T[i];
  m /= k;
  MESSAGE("T at the end of a 120->240 K ramp: " << m);
  CHECK(m == doctest::Approx(230.0).epsilon(0.05));
}

TEST_CASE("Protocol: heating, NVT, NpT, cell averaged over the last window (short durations)") {
  System<> s = fcc(4, 5.8215);
  Potential<LennardJones> lj(argon());
  md::ProtocolParameters p;
  p.initial_temperature = 60;
  p.temperature = 80;
  p.pressure = 1.0;
  p.timestep = 5.0;
  p.heating = 1000;
  p.nvt = 1000;
  p.npt = 6000;
  p.average_last = 3000;
  p.production = 500;
  p.tdamp = 250;
  p.pdamp = 1500;
  md::Protocol proto(p);
  const auto r = proto.run(s, lj);
  CHECK(r.steps == 200 + 200 + 1200 + 100);
  MESSAGE("protocol: mean V " << r.mean_volume << " ± " << r.volume_std << ", T " << r.npt_temperature);
  CHECK(s.cell.volume() == doctest::Approx(r.mean_volume).epsilon(0.01));
  // fcc argon at 80 K, 1 bar (shifted LJ, r_c 8.5 Å): a ~ 5.44 Å, i.e. expanded from 5.8215? no: compressed
  CHECK(std::cbrt(r.mean_volume) / 4 < 5.8215);
  CHECK(std::cbrt(r.mean_volume) / 4 > 5.3);
  CHECK(r.npt_temperature == doctest::Approx(80).epsilon(0.1));
  CHECK_THROWS_AS(md::Protocol(md::ProtocolParameters{100, 600, 1, 1, 0, 0, 100, 200}), ValueError);
}
