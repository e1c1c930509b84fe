// CHGNet (0.3.0 architecture, random weights) by the host evaluator (CHGNetEvaluator: Eigen GEMMs on
// the host threads) and by the Kokkos kernels (CHGNetKernel) in Kokkos' default execution space:
// the host threads in an OpenMP build, the GPU in a CUDA build. Energy only (screening) and energy +
// forces + stress (an MD step's evaluation), float and double, on the timing cells of
// ../shared/reference/chgnet (60 and 500 atoms; 2000 = 2x2x1 of 500; 10^4 = 2x2x5 of 500 where the
// kernels run on a device). The graph and bond graph are built once outside the timed loop. Wall time
// per evaluation: the ratio of the two rows of a size is the kernels' speed-up (below 1: slower);
// ns_per_atom is the time per atom. BM_KernelBatchScreen: many 60-atom cells in one batched
// evaluation.
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/chgnet_kernel.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

namespace gn = nernst::graphnet;

struct Inputs {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d L;
  std::vector<int> Z;
  gn::PeriodicGraph g;
  gn::BondGraph bg;
};

const gn::CHGNetModel& model() {
  static auto m = std::make_unique<gn::CHGNetModel>(nernst::CHGNet::load(
      (nernst_bench::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  return *m;
}

const Inputs& inputs_of(long atoms) {
  static std::map<long, Inputs> cache;
  auto it = cache.find(atoms);
  if (it != cache.end()) return it->second;
  const auto json = nernst_bench::shared_dir() / "reference" / "chgnet" / "timing_structures.json";
  const int layers = static_cast<int>(atoms / 2000);  // 2000 → 2x2x1, 10000 → 2x2x5 of the 500-atom cell
  const auto sys = atoms <= 500 ? nernst_bench::timing_system(json, "n" + std::to_string(atoms))
                                : nernst_bench::replicate(nernst_bench::timing_system(json, "n500"), 2, 2, layers);
  Inputs in;
  in.L = sys.cell.matrix();
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.type);
  for (std::size_t i = 0; i < sys.size(); ++i) {
    in.x.push_back({hx(i, 0), hx(i, 1), hx(i, 2)});
    in.Z.push_back(sys.species[static_cast<std::size_t>(ht(i))]);
  }
  gn::build_pymatgen_graph(in.x, in.L, model().config.atom_graph_cutoff, in.g);
  gn::build_bond_graph(in.g, in.x.size(), model().config.bond_graph_cutoff, in.bg);
  return cache.emplace(atoms, std::move(in)).first->second;
}

struct EnergyOnly {
  static constexpr bool gradients = false;
};
struct EnergyForcesStress {
  static constexpr bool gradients = true;
};

void counters(benchmark::State& st, const Inputs& in, const gn::CHGNetOutput& out) {
  const auto atoms = static_cast<double>(in.x.size());
  st.counters["atoms"] = atoms;
  st.counters["angles"] = static_cast<double>(in.bg.angles());
  st.counters["energy_eV"] = out.energy;
  st.counters["ns_per_atom"] = benchmark::Counter(atoms * 1e-9, benchmark::Counter::kIsIterationInvariantRate |
                                                                     benchmark::Counter::kInvert);
}

template <class Scalar, class Work>
void BM_HostEvaluator(benchmark::State& st) {
  const Inputs& in = inputs_of(st.range(0));
  gn::CHGNetEvaluator<Scalar> eval(model());
  gn::CHGNetOutput out;
  for (auto _ : st) {
    eval.evaluate(in.x, in.L, in.Z, in.g, in.bg, Work::gradients, out);
    benchmark::DoNotOptimize(out.energy);
  }
  counters(st, in, out);
}

template <class Scalar, class Work>
void BM_Kernel(benchmark::State& st) {
  const Inputs& in = inputs_of(st.range(0));
  gn::CHGNetKernel<Scalar> kernel(model());
  gn::CHGNetOutput out;
  for (auto _ : st) {
    kernel.evaluate(Kokkos::DefaultExecutionSpace(), in.x, in.L, in.Z, in.g, in.bg, Work::gradients, out);
    benchmark::DoNotOptimize(out.energy);
  }
  counters(st, in, out);
}

/// Screening throughput: `range(0)` copies of the 60-atom cell in one evaluate_batch (energy only);
/// the counter is atom-evaluations per second.
template <class Scalar>
void BM_KernelBatchScreen(benchmark::State& st) {
  const Inputs& in = inputs_of(60);
  const auto copies = static_cast<std::size_t>(st.range(0));
  gn::CHGNetKernel<Scalar> kernel(model());
  const std::vector<typename gn::CHGNetKernel<Scalar>::Structure> batch(copies, {in.x, in.L, in.Z, in.g, in.bg});
  std::vector<gn::CHGNetOutput> out(copies);
  for (auto _ : st) {
    kernel.evaluate_batch(Kokkos::DefaultExecutionSpace(), batch.data(), batch.data() + copies, false, out.data());
    benchmark::DoNotOptimize(out.back().energy);
  }
  const double atoms = static_cast<double>(copies * in.x.size());
  st.counters["atoms"] = atoms;
  st.counters["atom_evaluations_per_s"] = benchmark::Counter(atoms, benchmark::Counter::kIsIterationInvariantRate);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (long atoms : {60L, 500L, 2000L}) b->Arg(atoms);
  if (!nernst::runs_on_host_v<Kokkos::DefaultExecutionSpace>) b->Arg(10000);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_TEMPLATE(BM_HostEvaluator, float, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, float, EnergyOnly)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KernelBatchScreen, float)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_HostEvaluator, float, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, float, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_HostEvaluator, double, EnergyForcesStress)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Kernel, double, EnergyForcesStress)->Apply(sizes);

}  // namespace

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
