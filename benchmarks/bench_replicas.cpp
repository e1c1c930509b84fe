// Replica MD throughput: 4 replicas of the first 60-atom ordering of Li3YCl6 1x1x2 (per element,
// the cell of bench_screen), M3GNet-MP-2021 float, NVT Nose-Hoover at 500, 600, 700 and 800 K,
// 1 fs steps; replica-steps per second (4 x steps per iteration):
//   OneAfterAnother/<threads>  one md::Simulation after another (kSteps each); each evaluation
//                              split over the threads by the graph network itself (row chunks);
//   Lockstep/<threads>         md::Replicas: one batched evaluation per step, one replica per
//                              thread, each with the serial code.
// Threads 1..N in one run (nn::set_host_thread_limit, HostBatch::threads); the speed-up of a
// variant is its 1-thread time over its N-thread time. The replicas are set up (initial forces)
// once per benchmark and every iteration continues their MD.
#include "bench_support.hpp"
#include "lyc_orderings.hpp"

#include <benchmark/benchmark.h>

#include <nernst/md/md.hpp>
#include <nernst/md/replicas.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <memory>
#include <vector>

namespace {

using namespace nernst;

using Pot = Potential<GraphNet<M3GNet>, float>;
using Ens = md::Ensemble<md::NVT, md::NoseHoover>;

constexpr long kSteps = 10;  ///< MD steps of every replica per iteration
const std::vector<double> kTemperatures = {500.0, 600.0, 700.0, 800.0};

/// The first ordering of LYC 1x1x2 per element (60 atoms), built once.
const Structure& lyc60() {
  static const Structure s = nernst_bench::lyc112_orderings(1).front();
  return s;
}

const graphnet::M3GNetModel& model() {
  static const auto m = M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  return m;
}

/// Replica k's initial System: velocities at its temperature, its own seed.
System<> initial_system(std::size_t k) {
  System<> s = System<>::from_structure(lyc60());
  md::maxwell_boltzmann(s, kTemperatures[k], 1000 + k);
  return s;
}

md::SimulationOptions options(std::size_t k) {
  md::SimulationOptions o;
  o.timestep = 1.0;
  o.seed = 1000 + k;
  return o;
}

void report(benchmark::State& st) {
  st.counters["replica_steps_per_s"] = benchmark::Counter(
      static_cast<double>(kTemperatures.size() * kSteps) * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["atoms"] = static_cast<double>(lyc60().size());
  st.counters["threads"] = static_cast<double>(st.range(0));
  nn::set_host_thread_limit(0);
}

void BM_ReplicaMD_OneAfterAnother(benchmark::State& st) {
  nn::set_host_thread_limit(static_cast<int>(st.range(0)));
  std::vector<System<>> systems;
  std::vector<Pot> pots;
  std::vector<std::unique_ptr<md::Simulation<Ens, Pot>>> sims;
  for (std::size_t k = 0; k < kTemperatures.size(); ++k) {
    systems.push_back(initial_system(k));
    pots.emplace_back(model());
  }
  for (std::size_t k = 0; k < kTemperatures.size(); ++k) {
    sims.push_back(std::make_unique<md::Simulation<Ens, Pot>>(systems[k], pots[k], Ens({kTemperatures[k], 100.0, 3}), options(k)));
    sims.back()->run(1);  // initial forces outside the timing
  }
  for (auto _ : st)
    for (auto& s : sims) s->run(kSteps);
  report(st);
}

void BM_ReplicaMD_Lockstep(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  nn::set_host_thread_limit(threads);
  md::Replicas<Ens, Pot> set(md::HostBatch{threads});
  for (std::size_t k = 0; k < kTemperatures.size(); ++k)
    set.add(initial_system(k), Pot(model()), Ens({kTemperatures[k], 100.0, 3}), options(k));
  set.run(1);  // initial forces outside the timing
  for (auto _ : st) set.run(kSteps);
  report(st);
}

}  // namespace

int main(int argc, char** argv) {
  KokkosSession kokkos(argc, argv);
  benchmark::RegisterBenchmark("BM_ReplicaMD_OneAfterAnother", BM_ReplicaMD_OneAfterAnother)->Apply(nernst_bench::thread_args);
  benchmark::RegisterBenchmark("BM_ReplicaMD_Lockstep", BM_ReplicaMD_Lockstep)->Apply(nernst_bench::thread_args);
  return nernst_bench::run_specified(argc, argv);
}
