// Thread scaling of the graph networks (energy + forces + stress, graph construction included):
// M3GNet-MP-2021, CHGNet (the 0.3.0 architecture with random weights) and TensorNet-MatPES-PBE,
// float and double, at 60, 500, 2000 and 5000 atoms, 1..N host threads in one run
// (nn::set_host_thread_limit caps the threads of the same Kokkos instance). Wall time
// (UseRealTime): CPU time would add up every thread's. The speed-up of a size is the ratio of its
// 1-thread row to its n-thread row. The 2000- and 5000-atom cells are 2x2x1 and 5x2x1 supercells
// of the 500-atom timing cell of ../shared/reference/m3gnet.
#include "graphnet_bench_support.hpp"

#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>

#include <map>
#include <memory>
#include <string>
#include <thread>

namespace {

/// The benchmark systems by size, built once. Their Kokkos views must go before the Kokkos
/// session ends: main() clears the cache (a function-local static would outlive it and abort).
std::map<long, std::unique_ptr<nernst::System<>>>& system_cache() {
  static std::map<long, std::unique_ptr<nernst::System<>>> cache;
  return cache;
}

const nernst::System<>& system_of(long atoms) {
  auto& s = system_cache()[atoms];
  if (!s) {
    const auto json = nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json";
    if (atoms <= 500) {
      s = std::make_unique<nernst::System<>>(nernst_bench::timing_system(json, std::to_string(atoms)));
    } else {
      const auto base = nernst_bench::timing_system(json, "500");
      s = std::make_unique<nernst::System<>>(atoms == 2000 ? nernst_bench::replicate(base, 2, 2, 1) : nernst_bench::replicate(base, 5, 2, 1));
    }
  }
  return *s;
}

template <class Pot>
void run(benchmark::State& st, Pot& pot) {
  auto sys = system_of(st.range(0));
  nernst::nn::set_host_thread_limit(static_cast<int>(st.range(1)));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  nernst_bench::time_evaluations(st, pot, sys, req);
  nernst::nn::set_host_thread_limit(0);
  st.counters["atoms"] = static_cast<double>(sys.size());
  st.counters["threads"] = static_cast<double>(st.range(1));
}

template <class Scalar>
void BM_M3GNetThreads(benchmark::State& st) {
  static const auto model = nernst::M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar> pot(model);
  run(st, pot);
}

template <class Scalar>
void BM_CHGNetThreads(benchmark::State& st) {
  static const auto model = nernst::CHGNet::load(
      (nernst_bench::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string());
  nernst::Potential<nernst::GraphNet<nernst::CHGNet>, Scalar> pot(model);
  run(st, pot);
}

template <class Scalar>
void BM_TensorNetThreads(benchmark::State& st) {
  static const auto model =
      nernst::TensorNet::load((nernst_bench::shared_dir() / "models" / "tensornet-matpes-pbe-v2025.1-pes").string());
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, Scalar> pot(model);
  run(st, pot);
}

/// Sizes x thread counts 1, 2, 4, ..., all (registered once Kokkos knows its thread count).
void thread_args(benchmark::internal::Benchmark* b) {
  for (long atoms : {60L, 500L, 2000L, 5000L})
    for (int t : nernst_bench::thread_counts()) b->Args({atoms, t});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  benchmark::RegisterBenchmark("BM_M3GNetThreads<float>", BM_M3GNetThreads<float>)->Apply(thread_args);
  benchmark::RegisterBenchmark("BM_M3GNetThreads<double>", BM_M3GNetThreads<double>)->Apply(thread_args);
  benchmark::RegisterBenchmark("BM_CHGNetThreads<float>", BM_CHGNetThreads<float>)->Apply(thread_args);
  benchmark::RegisterBenchmark("BM_CHGNetThreads<double>", BM_CHGNetThreads<double>)->Apply(thread_args);
  benchmark::RegisterBenchmark("BM_TensorNetThreads<float>", BM_TensorNetThreads<float>)->Apply(thread_args);
  benchmark::RegisterBenchmark("BM_TensorNetThreads<double>", BM_TensorNetThreads<double>)->Apply(thread_args);
  const int rc = nernst_bench::run_specified(argc, argv);
  system_cache().clear();
  return rc;
}
