// MD throughput, one core, CPU time.
//
// 1. LJ: 4000-atom argon liquid (fcc 10x10x10 start at 0.8 σ⁻³, r_c 8.5 Å shifted, skin 2 Å —
//    the setup of ../shared/reference/transport/lammps/pot_lj.in). Compare with LAMMPS on the
//    same machine at the same time, CPU time of both (the machine is shared): an input with
//    `lattice fcc 5.8215`, `region box block 0 10 0 10 0 10`, `mass 1 39.948`,
//    `include pot_lj.in`, `timestep 0.002`, `velocity all create 300.0 4928 ...`, `fix 1 all nve`,
//    `run 200` then `run 3000`, timed with `/usr/bin/time -f %U lmp -in ...` (user time / steps).
//    The ratio (nernst steps/s ÷ LAMMPS steps/s) is what docs/md.md reports.
// 2. M3GNet (../shared/models/m3gnet-mp-2021.2.8-pes) NVT at 600 K, dt 1 fs, on the 60-atom
//    ordered Li3YCl6-like cell "60" of ../shared/reference/m3gnet/timing_structures.json, float
//    and double. Counters: ns_per_day and its ratio to the published GPU LAMMPS run (48 ms per
//    1 fs step for 60 atoms = 1.8 ns/day).
#include "graphnet_bench_support.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/md/md.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/lennard_jones.hpp>

#include <memory>

using namespace nernst;

namespace {

template <class E>
void run_bench(benchmark::State& state, E ens) {
  System<> s = md::fcc_crystal(10, 5.8215, 18, 39.948);
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

const graphnet::M3GNetModel& m3gnet_model() {
  static auto m = std::make_unique<graphnet::M3GNetModel>(
      M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  return *m;
}

/// M3GNet NVT (Nosé–Hoover, 600 K, τ 100 fs, dt 1 fs) on the 60-atom Li3YCl6-like cell.
template <class Scalar>
void BM_M3GNet60_NVT(benchmark::State& state) {
  System<> s = nernst_bench::timing_system(
      nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json", "60");
  {
    auto m = Kokkos::create_mirror_view(s.mass);
    auto t = Kokkos::create_mirror_view_and_copy(HostSpace(), s.type);
    for (std::size_t i = 0; i < s.size(); ++i) m(i) = atomic_mass(s.species[t(i)]);
    Kokkos::deep_copy(s.mass, m);
  }
  md::maxwell_boltzmann(s, 600.0, 7);
  using Pot = Potential<GraphNet<M3GNet>, Scalar>;
  Pot pot(m3gnet_model());
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  md::SimulationOptions o;
  o.timestep = 1.0;
  md::Simulation<E, Pot> sim(s, pot, E({600.0, 100.0, 3}), o);
  sim.run(5);  // warm-up: workspaces allocated and touched
  const double t0 = nernst_bench::cpu_seconds();
  long steps = 0;
  for (auto _ : state) {
    sim.run(10);
    steps += 10;
  }
  const double cpu = nernst_bench::cpu_seconds() - t0;
  const double ns_per_day = steps * o.timestep * 1e-6 / cpu * 86400.0;
  state.counters["ms_per_step"] = 1e3 * cpu / std::max<long>(1, steps);
  state.counters["ns_per_day"] = ns_per_day;
  // published GPU LAMMPS M3GNet: 48 ms per 1 fs step for 60 atoms
  state.counters["x_gpu_lammps"] = ns_per_day / (1e-6 * 86400.0 / 0.048);
  state.counters["T_K"] = md::temperature(s);
}

}  // namespace

BENCHMARK(BM_LJ4000_NVE)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_LJ4000_NVT_NoseHoover)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_LJ4000_NpT_MTK)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK_TEMPLATE(BM_M3GNet60_NVT, float)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK_TEMPLATE(BM_M3GNet60_NVT, double)->Unit(benchmark::kMillisecond)->MinTime(3.0);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
