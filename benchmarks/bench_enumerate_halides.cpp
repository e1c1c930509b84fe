// Fixed-supercell enumeration of the disordered halides (../shared/structures), with and
// without Ewald ranking of every ordering, against the `supercell` program's wall times
// (../shared/reference/enumeration/timings.json). Counter supercell_s: the reference time.
#include <benchmark/benchmark.h>

#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/io/cif.hpp>

#include "bench_support.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace nernst;
using namespace nernst::enumerate;

namespace {
using nernst_bench::shared_dir;
double reference(const std::string& prefix) {
  std::ifstream in(shared_dir() / "reference" / "enumeration" / "timings.json");
  if (!in) return 0;
  const auto t = nlohmann::json::parse(in)["halide_fixed_supercell"]["supercell_program_-m_-q_-n_l100_wall_s"];
  for (const auto& [k, v] : t.items())
    if (k.rfind(prefix, 0) == 0) return v.get<double>();
  return 0;
}

void run(benchmark::State& state, const char* cif, std::map<std::string, long> counts, const char* ref, bool rank) {
  const auto path = shared_dir() / "structures" / cif;
  if (!std::filesystem::exists(path)) {
    state.SkipWithError("shared structures not found");
    return;
  }
  const Structure s = io::read_cif(path.string());
  OrderingOptions opt;
  opt.rounding = Rounding::Nearest;
  opt.counts = std::move(counts);
  IMat3 sc = IMat3::Identity();
  sc(2, 2) = 2;
  std::uint64_t n = 0;
  double best = 0;
  for (auto _ : state) {
    // Everything from the parsed structure on: symmetry, group, Burnside count, enumeration, ranking.
    const OrderingModel model(s, opt);
    const Enumerator<HNF> e(model.multilattice(), model.derivative_options(false));
    const auto ag = e.active_group(sc);
    benchmark::DoNotOptimize(burnside_count(e.problem(2, model.label_counts(2)), ag.perms));
    std::unique_ptr<EwaldRanker> ranker;
    if (rank) ranker = std::make_unique<EwaldRanker>(e, ag.group, ag.active, model.label_charges({{3, 1}, {39, 3}, {17, -1}, {35, -1}}));
    TopK<std::uint64_t> top(100);
    n = 0;
    e.run_supercell(sc, [&](const Derivative& d) {
      ++n;
      if (ranker) top.push(ranker->energy(d.labels), d.info.rank);
    });
    best = top.size() ? top.sorted()[0].first : 0;
    benchmark::DoNotOptimize(best);
  }
  state.counters["structures"] = static_cast<double>(n);
  state.counters["supercell_s"] = reference(ref);
}
}  // namespace

static void BM_LYC_11_7(benchmark::State& s) { run(s, "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif", {}, "LYC_1x1x2_11/7", false); }
static void BM_LYC_11_7_ranked(benchmark::State& s) { run(s, "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif", {}, "LYC_1x1x2_11/7", true); }
static void BM_LYC_10_8(benchmark::State& s) { run(s, "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif", {{"Li0", 10}, {"Li1", 8}}, "LYC_1x1x2_10/8", false); }
static void BM_LYC_10_8_ranked(benchmark::State& s) { run(s, "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif", {{"Li0", 10}, {"Li1", 8}}, "LYC_1x1x2_10/8", true); }
static void BM_LYB(benchmark::State& s) { run(s, "Li3YBr6_C2m_Schlem2021_obelix-elz.cif", {}, "LYB_1x1x2", false); }
static void BM_LYB_ranked(benchmark::State& s) { run(s, "Li3YBr6_C2m_Schlem2021_obelix-elz.cif", {}, "LYB_1x1x2", true); }
BENCHMARK(BM_LYC_11_7)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LYC_11_7_ranked)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LYC_10_8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LYC_10_8_ranked)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LYB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LYB_ranked)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
