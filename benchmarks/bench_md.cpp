// MD throughput: 4000-atom LJ argon liquid (fcc 10x10x10 start at 0.8 σ⁻³, r_c 8.5 Å shifted,
// skin 2 Å — the setup of ../shared/reference/transport/lammps/pot_lj.in), one core.
// Compare with LAMMPS on the same machine at the same time, CPU time of both (the machine is
// shared): an input with `lattice fcc 5.8215`, `region box block 0 10 0 10 0 10`, `mass 1 39.948`,
// `include pot_lj.in`, `timestep 0.002`, `velocity all create 300.0 4928 ...`, `fix 1 all nve`,
// `run 200` then `run 3000`, timed with `/usr/bin/time -v lmp -in ...` (user time / steps).
// The ratio (nernst steps/s ÷ LAMMPS steps/s) is what docs/md.md reports.
#include <benchmark/benchmark.h>

#include <nernst/md/md.hpp>
#include <nernst/potential/lennard_jones.hpp>

using namespace nernst;

namespace {

System<> fcc_argon(int n, double a) {
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  System<> s(static_cast<std::size_t>(4 * n * n * n));
  s.cell = Lattice(Eigen::Matrix3d::Identity() * (n * a));
  s.species = {18};
  auto x = Kokkos::create_mirror_view(s.x);
  auto m = Kokkos::create_mirror_view(s.mass);
  int k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < n; ++l)
        for (const auto& b : basis) {
          for (int d = 0; d < 3; ++d) x(k, d) = a * ((d == 0 ? i : d == 1 ? j : l) + b[d]);
          m(k) = 39.948;
          ++k;
        }
  Kokkos::deep_copy(s.x, x);
  Kokkos::deep_copy(s.mass, m);
  Kokkos::deep_copy(s.type, 0);
  Kokkos::deep_copy(s.image, 0);
  return s;
}

template <class E>
void run_bench(benchmark::State& state, E ens) {
  System<> s = fcc_argon(10, 5.8215);
  md::maxwell_boltzmann(s, 300.0, 4928);
  Potential<LennardJones> lj(LennardJones{0.010323, 3.405, 8.5, true, false, 2.0});
  md::SimulationOptions o;
  o.timestep = 2.0;
  o.min_distance = 0;  // guards off: measure the integrator + potential
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, ens, o);
  sim.run(200);  // melt the lattice a little: realistic neighbour-list rebuild rate
  const long builds0 = lj.builds();
  long steps = 0;
  for (auto _ : state) {
    sim.run(100);
    steps += 100;
  }
  state.counters["steps_per_s"] = benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate);
  state.counters["atom_steps_per_s"] =
      benchmark::Counter(static_cast<double>(steps) * s.size(), benchmark::Counter::kIsRate);
  state.counters["steps_per_rebuild"] = static_cast<double>(steps) / std::max<long>(1, lj.builds() - builds0);
}

void BM_LJ4000_NVE(benchmark::State& st) { run_bench(st, md::Ensemble<md::NVE>{}); }
void BM_LJ4000_NVT_NoseHoover(benchmark::State& st) {
  run_bench(st, md::Ensemble<md::NVT, md::NoseHoover>({300.0, 200.0, 3}));
}
void BM_LJ4000_NpT_MTK(benchmark::State& st) {
  md::Ensemble<md::NpT, md::NoseHoover>::Parameters p;
  p.temperature = 300;
  p.pressure = 700;
  p.tdamp = 200;
  p.pdamp = 2000;
  run_bench(st, md::Ensemble<md::NpT, md::NoseHoover>(p));
}

}  // namespace

BENCHMARK(BM_LJ4000_NVE)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_LJ4000_NVT_NoseHoover)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_LJ4000_NpT_MTK)->Unit(benchmark::kMillisecond)->MinTime(3.0);

int main(int argc, char** argv) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
