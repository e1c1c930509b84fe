// CHGNet (0.3.0 architecture, random weights) energy + forces + stress, graph construction
// included, one core, on the exact cells of ../shared/reference/chgnet/timing_structures.json,
// plus a single-core Eigen GEMM for the machine's FLOP rate. Ratios against CHGNet (PyTorch,
// 1 thread, TIMINGS.md run 2): see docs/chgnet.md.
#include <benchmark/benchmark.h>

#include <nernst/core/elements.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

namespace {

std::filesystem::path shared_dir() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

const nernst::graphnet::CHGNetModel& model() {
  static auto m = std::make_unique<nernst::graphnet::CHGNetModel>(
      nernst::CHGNet::load((shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  return *m;
}

nernst::System<> timing_system(int natoms) {
  std::ifstream in(shared_dir() / "reference" / "chgnet" / "timing_structures.json");
  const auto j = nlohmann::json::parse(in);
  const auto& s = j.at("structures").at("n" + std::to_string(natoms));
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

/// Multiply-add count (x2 = FLOPs) of the dense layers for one forward pass of the 0.3.0
/// architecture (widths 64, hidden 64), node/bond parts of the first layers projected once.
double forward_flops(double N, double U, double E, double Ub, double T) {
  const double H2 = 128, A = 64;
  double m = 0;
  m += U * 31 * 128 + Ub * 31 * 64 + T * 31 * 64;          // embeddings and bond weights
  const double atom_conv = 2 * N * A * H2 + U * A * H2 + E * 2 * 64 * 64 + N * A * A;
  const double angle_in = 2 * Ub * A * H2 + N * A * H2 + T * A * H2;  // projections + t part
  const double bond_conv = angle_in + T * 2 * 64 * 64 + Ub * A * A;
  const double angle_upd = angle_in;                          // single layer (hidden 0)
  m += 4 * atom_conv + 3 * bond_conv + 2 * angle_upd;
  m += N * (3 * 64 * 64 + 64);                                // readout
  return 2 * m;
}

template <class Scalar>
void BM_CHGNet(benchmark::State& st) {
  auto sys = timing_system(static_cast<int>(st.range(0)));
  nernst::Potential<nernst::GraphNet<nernst::CHGNet>, Scalar> pot(model());
  nernst::ComputeRequest req;
  req.forces = req.stress = st.range(1) != 0;
  double e = pot.compute(sys, req).energy;  // warm-up: workspaces allocated and touched once
  for (auto _ : st) {
    auto r = pot.compute(sys, req);
    Kokkos::fence();
    e += r.energy;
  }
  benchmark::DoNotOptimize(e);
  const auto& bg = pot.bond_graph();
  st.counters["edges"] = static_cast<double>(pot.graph().size());
  st.counters["angles"] = static_cast<double>(bg.angles());
  // The reverse pass costs about two forwards (input gradients through every GEMM).
  const double fwd = forward_flops(double(sys.size()), double(bg.bonds()), double(pot.graph().size()),
                                   double(bg.nodes()), double(bg.angles()));
  st.counters["model_FLOPS"] =
      benchmark::Counter(req.forces ? 3 * fwd : fwd, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_CHGNetGraph(benchmark::State& st) {
  auto sys = timing_system(static_cast<int>(st.range(0)));
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  std::vector<std::array<double, 3>> x(sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i) x[i] = {hx(i, 0), hx(i, 1), hx(i, 2)};
  nernst::graphnet::PeriodicGraph g;
  nernst::graphnet::BondGraph bg;
  for (auto _ : st) {
    nernst::graphnet::build_pymatgen_graph(x, sys.cell.matrix(), 6.0, g);
    nernst::graphnet::build_bond_graph(g, x.size(), 3.0, bg);
    benchmark::DoNotOptimize(bg.angles());
  }
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

// Args: atoms, with forces+stress (1) or energy only (0).
BENCHMARK_TEMPLATE(BM_CHGNet, float)
    ->ArgsProduct({{20, 60, 160, 500}, {1, 0}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CHGNet, double)
    ->ArgsProduct({{20, 60, 160, 500}, {1, 0}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CHGNetGraph, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);
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
