// Derivative-structure enumeration against enumlib's optimised build
// (../shared/reference/enumeration/timings.json, enumlib_wall_s.*.opt). Reported counters:
// structures, and ratio_vs_enumlib = our time / enumlib's time (< 1 is faster).
#include <benchmark/benchmark.h>

#include <nernst/enumerate/enumerator.hpp>

#include "../tests/enumerate/enumlib_reference.hpp"
#include "bench_support.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>

using namespace nernst;
using namespace nernst::enumerate;

namespace {
nlohmann::json load(const char* name) {
  std::ifstream in(nernst_bench::shared_dir() / "reference" / "enumeration" / name);
  if (!in) return {};
  return nlohmann::json::parse(in);
}
Multilattice lattice(const std::string& name, int k) {
  return nernst_test::lattice_from_ref(load("derivative_structure_counts.json")["lattices"][name], k);
}

void run_case(benchmark::State& state, const std::string& lat, int k, long nmax, const std::string& timing_key) {
  if (load("timings.json").is_null()) {
    state.SkipWithError("shared reference data not found");
    return;
  }
  const Enumerator<HNF> e(lattice(lat, k), DerivativeOptions::part());
  std::uint64_t total = 0;
  for (auto _ : state) {
    total = 0;
    for (const auto& is : e.count(1, nmax)) total += is.structures;
    benchmark::DoNotOptimize(total);
  }
  state.counters["structures"] = static_cast<double>(total);
  const auto t = load("timings.json")["enumlib_wall_s"];
  if (t.contains(timing_key) && t[timing_key].contains("opt")) state.counters["enumlib_opt_s"] = t[timing_key]["opt"].get<double>();
}
}  // namespace

static void BM_fcc_binary_n12(benchmark::State& s) { run_case(s, "fcc", 2, 12, "fcc_binary_part_n1_12"); }
static void BM_fcc_binary_n16(benchmark::State& s) { run_case(s, "fcc", 2, 16, "fcc_binary_part_n1_16"); }
static void BM_fcc_binary_n20(benchmark::State& s) { run_case(s, "fcc", 2, 20, "fcc_binary_part_n1_20"); }
static void BM_sc_binary_n16(benchmark::State& s) { run_case(s, "sc", 2, 16, "sc_binary_part_n1_16"); }
static void BM_hcp_binary_n8(benchmark::State& s) { run_case(s, "hcp", 2, 8, "hcp_binary_part_n1_8"); }
static void BM_hcp_binary_n10(benchmark::State& s) { run_case(s, "hcp", 2, 10, "hcp_binary_part_n1_10"); }
static void BM_fcc_ternary_n10(benchmark::State& s) { run_case(s, "fcc", 3, 10, "fcc_ternary_part_n1_10"); }
BENCHMARK(BM_fcc_binary_n12)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_fcc_binary_n16)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_fcc_binary_n20)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_sc_binary_n16)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_hcp_binary_n8)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_hcp_binary_n10)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_fcc_ternary_n10)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_MAIN();
