// Native MACE energy (forward pass, graph construction included) and energy + forces + stress
// (forward and the hand-written reverse pass), one core, on the cells of
// ../shared/reference/m3gnet/timing_structures.json, with the MACE-MP-0a-architecture medium model
// (random weights, shared/models/mace-random) and the small debugging model, float and double.
// mace-torch's own timing of E+F+S on the 60-atom cell is in shared/specs/mace.md. Results:
// docs/mace.md.
//
// BM_MACEThreads: thread scaling of E+F+S (medium model, float and double, the 20-, 60-, 160- and 500-atom
// cells) at 1 and 2 host threads in one run (nn::set_host_thread_limit caps the threads of the
// same Kokkos instance); wall time (UseRealTime), since CPU time would add up every thread's. The
// speed-up of a cell is the ratio of its 1-thread row to its 2-thread row. The forward state and
// the reverse pass's workspace are kept between evaluations (as the Potential keeps them), so
// BM_MACEThreads<float>/60/1 against BM_MACEMediumForcesFloat/60 (fresh buffers every call; run
// with OMP_NUM_THREADS=1 so that it too uses one thread) is the gain of reusing them.
#include "graphnet_bench_support.hpp"

#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/mace/mace_backward.hpp>

#include <array>
#include <string>
#include <vector>

namespace {

namespace gm = nernst::graphnet::mace;

/// Positions, lattice and atomic numbers of a timing cell, as the forward pass takes them.
struct Cell {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d lattice;
  std::vector<int> z;
};

Cell timing_cell(int n) {
  const auto sys = nernst_bench::timing_system(nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json",
                                               std::to_string(n));
  Cell c;
  auto hx = Kokkos::create_mirror_view(sys.x);
  Kokkos::deep_copy(hx, sys.x);
  for (std::size_t i = 0; i < sys.size(); ++i) c.x.push_back({hx(i, 0), hx(i, 1), hx(i, 2)});
  c.lattice = sys.cell.matrix();
  c.z = sys.atomic_numbers();
  return c;
}

/// Times the energy (with_gradient false) or energy + forces + stress of a timing cell.
template <class Scalar>
void BM_MACE(benchmark::State& st, const char* model, bool with_gradient) {
  auto m = gm::make_mace_model<Scalar>(
      gm::read_mace_model_file((nernst_bench::shared_dir() / "models" / "mace-random" / (std::string(model) + ".model")).string()));
  const Cell c = timing_cell(static_cast<int>(st.range(0)));
  double e = 0;
  std::size_t edges = 0;
  for (auto _ : st) {
    const auto s = gm::forward(m, c.x, c.lattice, c.z);
    e = s.energy;
    if (with_gradient) e += gm::backward(m, s, c.lattice).stress(0, 0);
    edges = s.graph.size();
    benchmark::DoNotOptimize(e);
  }
  st.counters["edges"] = static_cast<double>(edges);
}

template <class Scalar>
void BM_MACEEnergy(benchmark::State& st, const char* model) { BM_MACE<Scalar>(st, model, false); }
template <class Scalar>
void BM_MACEForces(benchmark::State& st, const char* model) { BM_MACE<Scalar>(st, model, true); }

/// E+F+S of the medium model on a timing cell (range 0: atoms) at range 1 host threads.
template <class Scalar>
void BM_MACEThreads(benchmark::State& st) {
  static auto m = gm::make_mace_model<Scalar>(gm::read_mace_model_file(
      (nernst_bench::shared_dir() / "models" / "mace-random" / "mace-mp0a-medium-random.model").string()));
  const Cell c = timing_cell(static_cast<int>(st.range(0)));
  nernst::nn::set_host_thread_limit(static_cast<int>(st.range(1)));
  double e = 0;
  gm::ForwardState<Scalar> s;      // kept between evaluations, as Potential<GraphNet<MACE>> keeps them
  gm::BackwardWorkspace<Scalar> ws;
  // One untimed evaluation fills the state and workspace: a 500-atom row may time a single
  // iteration, which would otherwise include the first allocation and page faults.
  gm::forward(m, gm::build_mace_graph(c.x, c.lattice, m.config.r_max), c.z, s);
  gm::backward(m, s, c.lattice, ws);
  for (auto _ : st) {
    gm::forward(m, gm::build_mace_graph(c.x, c.lattice, m.config.r_max), c.z, s);
    e = s.energy + gm::backward(m, s, c.lattice, ws).stress(0, 0);
    benchmark::DoNotOptimize(e);
  }
  const int node_chunks = s.chunks.nodes.size();
  nernst::nn::set_host_thread_limit(0);
  st.counters["threads"] = static_cast<double>(st.range(1));
  st.counters["chunks"] = static_cast<double>(node_chunks);
}

}  // namespace

void BM_MACEMediumFloat(benchmark::State& st) { BM_MACEEnergy<float>(st, "mace-mp0a-medium-random"); }
void BM_MACEMediumDouble(benchmark::State& st) { BM_MACEEnergy<double>(st, "mace-mp0a-medium-random"); }
void BM_MACESmallFloat(benchmark::State& st) { BM_MACEEnergy<float>(st, "mace-small-random"); }
void BM_MACESmallDouble(benchmark::State& st) { BM_MACEEnergy<double>(st, "mace-small-random"); }

void BM_MACEMediumForcesFloat(benchmark::State& st) { BM_MACEForces<float>(st, "mace-mp0a-medium-random"); }
void BM_MACEMediumForcesDouble(benchmark::State& st) { BM_MACEForces<double>(st, "mace-mp0a-medium-random"); }
void BM_MACESmallForcesFloat(benchmark::State& st) { BM_MACEForces<float>(st, "mace-small-random"); }

BENCHMARK(BM_MACEMediumFloat)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACEMediumDouble)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACESmallFloat)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACESmallDouble)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACEMediumForcesFloat)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACEMediumForcesDouble)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MACESmallForcesFloat)->Arg(60)->Unit(benchmark::kMillisecond);

BENCHMARK_TEMPLATE(BM_MACEThreads, float)->ArgsProduct({{20, 60, 160, 500}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_MACEThreads, double)->ArgsProduct({{20, 60, 160, 500}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
