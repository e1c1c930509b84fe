// M3GNet energy + forces + stress (graph construction included), one core, on the exact cells of
// ../shared/reference/m3gnet/timing_structures.json, plus a single-core Eigen GEMM for the
// machine's FLOP rate. Ratios against matgl: see docs/m3gnet.md (TIMINGS.md, 1 thread).
#include <benchmark/benchmark.h>

#include <nernst/core/elements.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

namespace {

std::filesystem::path shared_dir() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

const nernst::graphnet::M3GNetModel& model() {
  static auto m = std::make_unique<nernst::graphnet::M3GNetModel>(
      nernst::M3GNet::load((shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  return *m;
}

nernst::System<> timing_system(int natoms) {
  std::ifstream in(shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  const auto j = nlohmann::json::parse(in);
  const auto& s = j.at("structures").at(std::to_string(natoms));
  const auto& pos = s.at("positions");
  nernst::System<> sys(pos.size());
  Eigen::Matrix3d L;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) L(a, b) = s.at("lattice")[a][b].get<double>();
  sys.cell = nernst::Lattice(L);
  auto hx = Kokkos::create_mirror_view(sys.x);
  auto ht = Kokkos::create_mirror_view(sys.type);
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const int z = nernst::atomic_number(s.at("species")[i].get<std::string>());
    int t = -1;
    for (std::size_t k = 0; k < sys.species.size(); ++k)
      if (sys.species[k] == z) t = static_cast<int>(k);
    if (t < 0) {
      t = static_cast<int>(sys.species.size());
      sys.species.push_back(z);
    }
    ht(i) = t;
    for (int k = 0; k < 3; ++k) hx(i, k) = pos[i][k].get<double>();
  }
  Kokkos::deep_copy(sys.x, hx);
  Kokkos::deep_copy(sys.type, ht);
  return sys;
}

template <class Scalar>
void BM_M3GNet(benchmark::State& st) {
  auto sys = timing_system(static_cast<int>(st.range(0)));
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar> pot(model());
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  double e = 0;
  for (auto _ : st) {
    auto r = pot.compute(sys, req);
    Kokkos::fence();
    e += r.energy;
  }
  benchmark::DoNotOptimize(e);
  st.counters["edges"] = static_cast<double>(pot.graph().size());
  st.counters["triplets"] = static_cast<double>(pot.triplets().size());
  // Dense work per evaluation (forward + reverse, the reverse costs about the same as the
  // forward for input gradients): per block and edge two gated MLPs with a 64->128 first layer
  // (node parts projected per atom) and two 64->64 layers per branch, plus the rbf weights.
  const double E = static_cast<double>(pot.graph().size()), N = static_cast<double>(sys.size());
  const double per_block = E * (2 * (2 * 64 * 128 + 4 * 2 * 64 * 64) + 2 * 2 * 9 * 64) + N * 4 * 2 * 64 * 128;
  st.counters["model_FLOPS"] =
      benchmark::Counter(2.0 * 3 * per_block, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_EigenGEMM(benchmark::State& st) {
  // The shape of the hot path: [E, 64] x [64, 64] with E = 4096, row-major.
  using M = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index n = st.range(0), k = 64, m = 64;
  M A = M::Random(n, k), B = M::Random(m, k), C(n, m);
  for (auto _ : st) {
    C.noalias() = A * B.transpose();
    benchmark::ClobberMemory();
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * double(n) * double(k) * double(m) * double(st.iterations()),
                                            benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_M3GNet, float)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_M3GNet, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_EigenGEMM, float)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_EigenGEMM, double)->Arg(4096)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
