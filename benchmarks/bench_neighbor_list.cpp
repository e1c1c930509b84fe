// Neighbour-list build time: random liquid-like configurations at 0.05 atoms/Å³ with rc = 5 Å
// (~26 neighbours per atom), 100 ... 100 000 atoms, sorted and unsorted; plus the Li3YCl6-like
// cells that TIMINGS.md used for pymatgen's graph construction (../shared/reference/m3gnet).
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <nernst/core/kokkos.hpp>
#include <nernst/neighbor/neighbor_list.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

using Positions = Kokkos::View<double* [3], nernst::DefaultMemorySpace>;

struct Config {
  Positions x;
  nernst::Lattice cell;
};

Config liquid(int n) {
  const double len = std::cbrt(n / 0.05);
  Eigen::Matrix3d m;
  m << len, 0, 0, 0.1 * len, len, 0, 0.05 * len, -0.1 * len, len;  // mildly triclinic
  // Rescale to exactly 0.05 atoms/Å³.
  m *= std::cbrt(n / 0.05 / std::abs(m.determinant()));
  Config c{Positions("x", n), nernst::Lattice(m)};
  auto h = Kokkos::create_mirror_view(c.x);
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector3d r = c.cell.to_cart(Eigen::Vector3d(u(rng), u(rng), u(rng)));
    for (int d = 0; d < 3; ++d) h(i, d) = r[d];
  }
  Kokkos::deep_copy(c.x, h);
  return c;
}

void run(benchmark::State& state, const Config& c, bool sort, double cutoff = 5.0, bool half = false) {
  const auto exec = nernst::DefaultExecutionSpace();
  std::size_t pairs = 0;
  for (auto _ : state) {
    nernst::NeighborListOptions opt;
    opt.sort = sort;
    opt.half = half;
    auto nl = nernst::build_neighbor_list(exec, c.x, c.cell, cutoff, opt);
    Kokkos::fence();
    pairs = nl.num_pairs();
    benchmark::DoNotOptimize(nl.neighbors.data());
  }
  state.counters["atoms"] = static_cast<double>(c.x.extent(0));
  state.counters["pairs"] = static_cast<double>(pairs);
  state.counters["ns_per_atom"] =
      benchmark::Counter(static_cast<double>(c.x.extent(0)) * state.iterations(),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_NeighborListLiquid(benchmark::State& state) {
  const auto c = liquid(static_cast<int>(state.range(0)));
  run(state, c, state.range(1) != 0);
}

// The MD benchmark's list (bench_md.cpp): 4000 atoms at 0.8 σ⁻³ in a 58.215 Å cube, r_c + skin
// = 10.5 Å (~98 neighbours per atom), sorted; full and half (what Potential<LennardJones> uses
// on one thread).
void BM_NeighborListLJ4000(benchmark::State& state) {
  const int n = 4000;
  const double len = 58.215;
  Config c{Positions("x", n), nernst::Lattice(Eigen::Matrix3d::Identity() * len)};
  auto h = Kokkos::create_mirror_view(c.x);
  std::mt19937 rng(4928);
  std::uniform_real_distribution<double> u(0.0, len);
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) h(i, d) = u(rng);
  Kokkos::deep_copy(c.x, h);
  run(state, c, true, 10.5, state.range(0) != 0);
}

void BM_NeighborListTimingStructures(benchmark::State& state) {
  const auto path = nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json";
  std::ifstream in(path);
  if (!in) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const auto js = nlohmann::json::parse(in).at("structures").at(std::to_string(state.range(0)));
  Eigen::Matrix3d m;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) m(a, b) = js.at("lattice")[a][b].get<double>();
  const auto& pos = js.at("positions");
  Config c{Positions("x", pos.size()), nernst::Lattice(m)};
  auto h = Kokkos::create_mirror_view(c.x);
  for (std::size_t i = 0; i < pos.size(); ++i)
    for (int d = 0; d < 3; ++d) h(i, d) = pos[i][d].get<double>();
  Kokkos::deep_copy(c.x, h);
  run(state, c, true);
}

}  // namespace

BENCHMARK(BM_NeighborListLiquid)
    ->ArgsProduct({{100, 1000, 10000, 100000}, {1, 0}})
    ->ArgNames({"atoms", "sort"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NeighborListLJ4000)->Arg(0)->Arg(1)->ArgNames({"half"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NeighborListTimingStructures)
    ->Arg(20)
    ->Arg(60)
    ->Arg(160)
    ->Arg(500)
    ->ArgNames({"atoms"})
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
