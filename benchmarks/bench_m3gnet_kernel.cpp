// M3GNet by the host evaluator (M3GNetEvaluator: Eigen GEMMs on the host threads) and by the Kokkos
// kernels (M3GNetKernel) in Kokkos' default execution space: the host threads in an OpenMP build,
// the GPU in a CUDA build. Two workloads: energy only (screening) and energy + forces + stress (one
// MD step's evaluation). M3GNet-MP-2021, float and double, 60, 500 and 2000 atoms (the timing cells
// of ../shared/reference/m3gnet; 2000 = 2x2x1 of 500) and, where the kernels run on a device, 10^4
// atoms (2x2x5 of 500). The graph is built once outside the timed loop (the same for both). Wall
// time per evaluation; the ratio of the two rows of a size is the kernels' speed-up (below 1:
// slower); the counter ns_per_atom is the time per atom. BM_KernelBatchScreen: many 60-atom cells
// in one batched evaluation (the model screen on a GPU).
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/m3gnet_kernel.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

namespace gn = nernst::graphnet;

/// One timing cell as the evaluators' inputs (built once per size).
struct Inputs {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d L;
  std::vector<int> types;
  gn::PeriodicGraph g;
};

const gn::M3GNetModel& model() {
  static const auto m =
      nernst::M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  return m;
}

const Inputs& inputs_of(long atoms) {
  static std::map<long, Inputs> cache;
  auto it = cache.find(atoms);
  if (it != cache.end()) return it->second;
  const auto json = nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json";
  const int layers = static_cast<int>(atoms / 2000);  // 2000 → 2x2x1, 10000 → 2x2x5 of the 500-atom cell
  const auto sys = atoms <= 500 ? nernst_bench::timing_system(json, std::to_string(atoms))
                                : nernst_bench::replicate(nernst_bench::timing_system(json, "500"), 2, 2, layers);
  Inputs in;
  in.L = sys.cell.matrix();
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.type);
  for (std::size_t i = 0; i < sys.size(); ++i) {
    in.x.push_back({hx(i, 0), hx(i, 1), hx(i, 2)});
    in.types.push_back(model().config.type_of(sys.species[static_cast<std::size_t>(ht(i))]));
  }
  gn::build_pymatgen_graph(in.x, in.L, model().config.cutoff, in.g);
  return cache.emplace(atoms, std::move(in)).first->second;
}

/// What one evaluation computes.
struct EnergyOnly {
  static constexpr bool gradients = false;
};
struct EnergyForcesStress {
  static constexpr bool gradients = true;
};

void counters(benchmark::State& st, const Inputs& in, const gn::M3GNetOutput& out) {
  const auto atoms = static_cast<double>(in.x.size());
  st.counters["atoms"] = atoms;
  st.counters["energy_eV"] = out.energy;
  st.counters["ns_per_atom"] = benchmark::Counter(atoms * 1e-9, benchmark::Counter::kIsIterationInvariantRate |
                                                                     benchmark::Counter::kInvert);
}

template <class Scalar, class Work>
void BM_HostEvaluator(benchmark::State& st) {
  const Inputs& in = inputs_of(st.range(0));
  gn::M3GNetEvaluator<Scalar> eval(model());
  gn::M3GNetOutput out;
  for (auto _ : st) {
    eval.evaluate(in.x, in.L, in.types, in.g, Work::gradients, out);
    benchmark::DoNotOptimize(out.energy);
  }
  counters(st, in, out);
}

template <class Scalar, class Work>
void BM_Kernel(benchmark::State& st) {
  const Inputs& in = inputs_of(st.range(0));
  gn::M3GNetKernel<Scalar> kernel(model());
  gn::M3GNetOutput out;
  for (auto _ : st) {
    kernel.evaluate(Kokkos::DefaultExecutionSpace(), in.x, in.L, in.types, in.g, Work::gradients, out);
    benchmark::DoNotOptimize(out.energy);
  }
  counters(st, in, out);
}

/// Screening throughput: `range(0)` copies of the 60-atom cell in one evaluate_batch (energy only),
/// as GraphBatchModelRanker evaluates orderings; the counter is atom-evaluations per second (the
/// ≥ 10⁶ target of a GPU). Compare with BM_HostEvaluator / BM_Kernel <…, EnergyOnly>/60 (one at a
/// time).
template <class Scalar>
void BM_KernelBatchScreen(benchmark::State& st) {
  const Inputs& in = inputs_of(60);
  const auto copies = static_cast<std::size_t>(st.range(0));
  gn::M3GNetKernel<Scalar> kernel(model());
  const std::vector<typename gn::M3GNetKernel<Scalar>::Structure> batch(copies, {in.x, in.L, in.types, in.g});
  std::vector<gn::M3GNetOutput> out(copies);
  for (auto _ : st) {
    kernel.evaluate_batch(Kokkos::DefaultExecutionSpace(), batch.data(), batch.data() + copies, false, out.data());
    benchmark::DoNotOptimize(out.back().energy);
  }
  const double atoms = static_cast<double>(copies * in.x.size());
  st.counters["atoms"] = atoms;
  st.counters["atom_evaluations_per_s"] = benchmark::Counter(atoms, benchmark::Counter::kIsIterationInvariantRate);
}

/// 60, 500, 2000 atoms; 10^4 as well where the kernels run on a device (on a CPU an evaluation of
/// that size takes tens of seconds).
void sizes(benchmark::internal::Benchmark* b) {
  for (long atoms : {60L, 500L, 2000L}) b->Arg(atoms);
  if (!nernst::runs_on_host_v<Kokkos::DefaultExecutionSpace>) b->Arg(10000);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_TEMPLATE(BM_HostEvaluator, float, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, float, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_HostEvaluator, double, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, double, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KernelBatchScreen, float)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_HostEvaluator, float, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, float, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_HostEvaluator, double, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, double, EnergyForcesStress)->Apply(sizes);

}  // namespace

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
