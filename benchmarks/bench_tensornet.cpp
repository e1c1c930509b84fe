// TensorNet-MatPES-PBE energy + forces + stress (graph construction included), one core, on the
// exact cells of ../shared/reference/m3gnet/timing_structures.json (20, 60, 160, 500 atoms),
// float and double, with M3GNet-MatPES-PBE in the same binary and run for the speed ratio.
// Counters: edges and the GEMM rate (graphnet_bench_support.hpp: dense-layer FLOPs per CPU
// second against Eigen's GEMM on the same shapes). Results: docs/tensornet.md.
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

template <class Arch>
const typename Arch::Model& load(const char* dir) {
  static std::map<std::string, std::unique_ptr<typename Arch::Model>> cache;
  auto& m = cache[dir];
  if (!m)
    m = std::make_unique<typename Arch::Model>(Arch::load((nernst_bench::shared_dir() / "models" / dir).string()));
  return *m;
}

nernst::System<> timing_cell(benchmark::State& st) {
  return nernst_bench::timing_system(nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json",
                                     std::to_string(st.range(0)));
}

/// The dense layers of one TensorNet evaluation on N atoms and E directed edges. The distance
/// projections and edge MLPs run once per bond (pair of reverse edges, E/2 rows), as the
/// evaluator does; an edge-MLP recomputation in the reverse pass (graphs beyond the activation
/// budget) would count as time, not FLOPs.
nernst_bench::GemmList tensornet_gemms(const nernst::graphnet::TensorNetModel& model, double N, double E) {
  const Eigen::Index U = model.config.units, R = model.config.max_n;
  const double B = E / 2;
  nernst_bench::GemmList l;
  l.add(B, R, 3 * U);   // distance projections
  l.add(N, U, U, 2);    // pair embedding, per-atom halves
  l.add(N, U, 2 * U);   // embedding scalar MLP
  l.add(N, 2 * U, 3 * U);
  l.add(9 * N, U, U, 3);  // embedding channel mixing
  for (int b = 0; b < model.config.nblocks; ++b) {
    l.add(B, R, U);  // edge MLP
    l.add(B, U, 2 * U);
    l.add(B, 2 * U, 3 * U);
    l.add(9 * N, U, U, 6);  // channel mixing (I, A, S before and after the product)
  }
  l.add(N, 3 * U, U);  // model.linear
  l.add_gated(model.weights.readout, N);
  return l;
}

template <class Scalar>
void BM_TensorNetMatPES(benchmark::State& st) {
  const auto& model = load<nernst::TensorNet>("tensornet-matpes-pbe-v2025.1-pes");
  auto sys = timing_cell(st);
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, Scalar> pot(model);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const double cpu = nernst_bench::time_evaluations(st, pot, sys, req);
  st.counters["edges"] = static_cast<double>(pot.graph().size());
  nernst_bench::report_gemm_rate<Scalar>(st, tensornet_gemms(model, double(sys.size()), double(pot.graph().size())),
                                         true, cpu);
}

/// The same cells with M3GNet-MatPES-PBE (the ratio's denominator; its own benchmark with the
/// GEMM counters is bench_m3gnet).
template <class Scalar>
void BM_M3GNetMatPES(benchmark::State& st) {
  const auto& model = load<nernst::M3GNet>("m3gnet-matpes-pbe-v2025.1-pes");
  auto sys = timing_cell(st);
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar> pot(model);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  nernst_bench::time_evaluations(st, pot, sys, req);
  st.counters["edges"] = static_cast<double>(pot.graph().size());
}

}  // namespace

BENCHMARK_TEMPLATE(BM_TensorNetMatPES, float)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_TensorNetMatPES, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNetMatPES, float)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNetMatPES, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
