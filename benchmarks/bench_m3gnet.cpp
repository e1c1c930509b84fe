// M3GNet energy + forces + stress (graph construction included), one core, on the exact cells of
// ../shared/reference/m3gnet/timing_structures.json. Counters: edges, triplets, and the GEMM rate
// (graphnet_bench_support.hpp: the model's dense-layer FLOPs per CPU second against Eigen's GEMM
// on exactly the same shapes, timed in this binary). Ratios against matgl: docs/m3gnet.md
// (TIMINGS.md, 1 thread).
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/m3gnet.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

const nernst::graphnet::M3GNetModel& load(const char* dir) {
  static std::map<std::string, std::unique_ptr<nernst::graphnet::M3GNetModel>> cache;
  auto& m = cache[dir];
  if (!m)
    m = std::make_unique<nernst::graphnet::M3GNetModel>(
        nernst::M3GNet::load((nernst_bench::shared_dir() / "models" / dir).string()));
  return *m;
}

/// The dense layers of one evaluation on a graph of N atoms and E edges.
nernst_bench::GemmList m3gnet_gemms(const nernst::graphnet::M3GNetModel& model, double N, double E) {
  const auto& w = model.weights;
  const Eigen::Index u = model.config.dim, R = w.edge_embedding.in_features();
  nernst_bench::GemmList l;
  l.add(E, R, u);  // edge embedding
  for (std::size_t b = 0; b < w.conv_edge.size(); ++b) {
    l.add(N, u, w.tb_atom[b].out_features());  // three-body atom gates
    l.add_gated(w.tb_bond[b], E);
    for (const auto* G : {&w.conv_edge[b], &w.conv_node[b]})  // [v_src, v_dst, e]: node parts per atom
      l.add_gated(*G, E, {{N, u}, {N, u}, {E, u}});
    l.add(E, R, u, 2);  // rbf weights of both updates
  }
  l.add_gated(w.readout, N);
  return l;
}

/// MP-2021.2.8 (64 units, 9 radial functions) or MatPES-PBE v2025.1 (128 hidden units, smooth
/// basis with 3 radial functions).
template <class Scalar>
void run_m3gnet(benchmark::State& st, const nernst::graphnet::M3GNetModel& model) {
  auto sys = nernst_bench::timing_system(
      nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json", std::to_string(st.range(0)));
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar> pot(model);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const double cpu = nernst_bench::time_evaluations(st, pot, sys, req);
  st.counters["edges"] = static_cast<double>(pot.graph().size());
  st.counters["triplets"] = static_cast<double>(pot.triplets().size());
  nernst_bench::report_gemm_rate<Scalar>(st, m3gnet_gemms(model, double(sys.size()), double(pot.graph().size())), true, cpu);
}

template <class Scalar>
void BM_M3GNet(benchmark::State& st) {
  run_m3gnet<Scalar>(st, load("m3gnet-mp-2021.2.8-pes"));
}

template <class Scalar>
void BM_M3GNetMatPES(benchmark::State& st) {
  run_m3gnet<Scalar>(st, load("m3gnet-matpes-pbe-v2025.1-pes"));
}

}  // namespace

BENCHMARK_TEMPLATE(BM_M3GNet, float)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNet, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNetMatPES, float)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNetMatPES, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
