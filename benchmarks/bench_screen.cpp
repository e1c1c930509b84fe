// Screening throughput: static M3GNet-MP-2021 energies of 60-atom orderings (Li3YCl6 1x1x2, per
// element: the seed study's screen), orderings per second, through the screen the driver runs
// (run_static_screen with its heap and counters, no checkpoints):
//   OneAtATime/<threads>  ModelRanker, one ordering after another; each evaluation split over
//                         the threads by the graph network itself (row chunks);
//   Batched/<threads>     BatchModelRanker: batches of 4 x threads orderings, one ordering per
//                         thread, each with the serial code.
// Threads 1..N in one run (nn::set_host_thread_limit); the speed-up of a variant is its
// 1-thread time over its N-thread time. The 64 orderings are the first of the enumeration.
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <nernst/enumerate/model_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <memory>
#include <stdexcept>
#include <vector>

namespace {

using namespace nernst;
using namespace nernst::enumerate;

constexpr std::size_t kOrderings = 64;

/// LYC 1x1x2 per element and its first kOrderings orderings (built once).
struct ScreenCase {
  Structure parent;
  OrderingModel model;
  Enumerator<HNF> e;
  IMat3 hnf;
  std::vector<Candidate> first;

  static OrderingOptions per_element() {
    OrderingOptions o;
    o.mode = OccupancyMode::PerElement;
    return o;
  }
  ScreenCase()
      : parent(io::read_cif((nernst_bench::shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string())),
        model(parent, per_element()),
        e(model.multilattice(), model.derivative_options(false)),
        hnf(IMat3::Identity()) {
    hnf(2, 2) = 2;
    struct Enough {};
    try {
      e.run_supercell(hnf, [&](const Derivative& d) {
        first.push_back(Candidate{d.info.index, std::vector<Label>(d.labels, d.labels + d.active->size())});
        if (first.size() == kOrderings) throw Enough{};
      });
    } catch (const Enough&) {
    }
  }
};

const ScreenCase& screen_case() {
  static const ScreenCase c;
  return c;
}

using Pot = Potential<GraphNet<M3GNet>, float>;

Pot& potential() {
  static Pot pot(M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  return pot;
}

ScreenOptions options() {
  ScreenOptions o;
  o.keep = 10;
  return o;
}

void report(benchmark::State& st) {
  st.counters["orderings_per_s"] = benchmark::Counter(static_cast<double>(kOrderings) * static_cast<double>(st.iterations()),
                                                      benchmark::Counter::kIsRate);
  st.counters["threads"] = static_cast<double>(st.range(0));
  nn::set_host_thread_limit(0);
}

void BM_ScreenOneAtATime(benchmark::State& st) {
  const ScreenCase& c = screen_case();
  const auto ag = c.e.active_group(c.hnf);
  nn::set_host_thread_limit(static_cast<int>(st.range(0)));
  ModelRanker<Pot> ranker(c.e, ag, potential());
  for (auto _ : st) benchmark::DoNotOptimize(run_static_screen(candidate_stream(c.first), ranker, kOrderings, kOrderings, options()));
  report(st);
}

void BM_ScreenBatched(benchmark::State& st) {
  const ScreenCase& c = screen_case();
  const auto ag = c.e.active_group(c.hnf);
  const int threads = static_cast<int>(st.range(0));
  nn::set_host_thread_limit(threads);
  BatchModelRanker<Pot> batched(c.e, ag, potential(), threads);
  for (auto _ : st)
    benchmark::DoNotOptimize(
        run_static_screen_batched(candidate_stream(c.first), batched, batched.preferred_batch(), kOrderings, kOrderings, options()));
  report(st);
}

}  // namespace

int main(int argc, char** argv) {
  KokkosSession kokkos(argc, argv);
  benchmark::RegisterBenchmark("BM_ScreenOneAtATime", BM_ScreenOneAtATime)->Apply(nernst_bench::thread_args);
  benchmark::RegisterBenchmark("BM_ScreenBatched", BM_ScreenBatched)->Apply(nernst_bench::thread_args);
  return nernst_bench::run_specified(argc, argv);
}
