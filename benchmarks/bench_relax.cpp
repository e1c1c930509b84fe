// Top-K relaxation throughput: the first 4 orderings of Li3YCl6 1x1x2 (per element, 60 atoms, the
// cells of bench_screen), FIRE on positions + cell (UnitCellFilter) with M3GNet-MP-2021 float,
// kSteps optimizer steps each (fmax 0: every relaxation runs to the step limit, so every
// iteration does the same work); FIRE evaluations per second (4 x (kSteps + 1) per iteration):
//   OneAfterAnother/<threads>  Optimizer<FIRE>::run of one ordering after another; each
//                              evaluation split over the threads by the graph network itself
//                              (row chunks): the relax stage without --replicas or --jobs;
//   Together/<threads>         relax_together with HostBatch: one batched evaluation per FIRE
//                              step, one relaxation per thread (a slot per thread), each with the
//                              serial code: the relax stage with --replicas.
// Threads 1..N in one run (nn::set_host_thread_limit, HostBatch::threads); the speed-up of a
// variant is its 1-thread time over its N-thread time.
#include "bench_support.hpp"
#include "lyc_orderings.hpp"

#include <benchmark/benchmark.h>

#include <nernst/nn/row_chunks.hpp>
#include <nernst/optimize/relax_together.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <vector>

namespace {

using namespace nernst;

using Pot = Potential<GraphNet<M3GNet>, float>;

constexpr long kSteps = 10;         ///< FIRE steps of every relaxation per iteration
constexpr std::size_t kCount = 4;   ///< orderings relaxed per iteration

/// The first kCount orderings of LYC 1x1x2 per element (60 atoms), built once.
const std::vector<Structure>& orderings() {
  static const std::vector<Structure> s = nernst_bench::lyc112_orderings(kCount);
  return s;
}

const graphnet::M3GNetModel& model() {
  static const auto m = M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  return m;
}

RelaxOptions options() {
  RelaxOptions o;
  o.fmax = 1e-12;  // never met: kSteps steps each
  o.max_steps = kSteps;
  o.cell = CellFilter{};
  return o;
}

void report(benchmark::State& st) {
  st.counters["evaluations_per_s"] = benchmark::Counter(
      static_cast<double>(kCount * (kSteps + 1)) * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["atoms"] = static_cast<double>(orderings().front().size());
  st.counters["threads"] = static_cast<double>(st.range(0));
  nn::set_host_thread_limit(0);
}

void BM_Relax_OneAfterAnother(benchmark::State& st) {
  nn::set_host_thread_limit(static_cast<int>(st.range(0)));
  Pot pot(model());
  for (auto _ : st)
    for (const Structure& s : orderings()) {
      auto sys = System<>::from_structure(s);
      benchmark::DoNotOptimize(Optimizer<FIRE>().run(sys, pot, options()).energy);
    }
  report(st);
}

void BM_Relax_Together(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  nn::set_host_thread_limit(threads);
  const Pot pot(model());
  double e = 0;
  for (auto _ : st)
    relax_together(
        pot, kCount, static_cast<std::size_t>(threads), HostBatch{threads}, options(),
        [](std::size_t k) { return System<>::from_structure(orderings()[k]); },
        [&](std::size_t, System<>&, const RelaxResult& r) { e += r.energy; });
  benchmark::DoNotOptimize(e);
  report(st);
}

}  // namespace

int main(int argc, char** argv) {
  KokkosSession kokkos(argc, argv);
  benchmark::RegisterBenchmark("BM_Relax_OneAfterAnother", BM_Relax_OneAfterAnother)->Apply(nernst_bench::thread_args);
  benchmark::RegisterBenchmark("BM_Relax_Together", BM_Relax_Together)->Apply(nernst_bench::thread_args);
  return nernst_bench::run_specified(argc, argv);
}
