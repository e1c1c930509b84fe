// Windowed MSD throughput against MDAnalysis EinsteinMSD (timings in
// ../shared/reference/transport/timings_msd.json): the reference LJ trajectory (1001 frames ×
// 500 atoms) and a synthetic Gaussian random walk of 200 particles (1e3 … 1e5 frames).
// Counters: ratio_vs_mda_fft = MDAnalysis FFT wall time / ours (> 1 means faster),
// mem_MB = trajectory storage held by the estimator; positions_MB = N·T·3 doubles.
#include <benchmark/benchmark.h>

#include <nernst/analysis/msd.hpp>
#include <nernst/io/extxyz.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

using namespace nernst;

namespace {

std::filesystem::path shared() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

/// MDAnalysis wall time (min over repeats) for a row of timings_msd.json, or 0 when absent.
double mda_seconds(const std::string& kind, std::size_t frames, std::size_t particles, bool fft) {
  std::ifstream in(shared() / "reference/transport/timings_msd.json");
  if (!in) return 0.0;
  const auto j = nlohmann::json::parse(in);
  for (const auto& r : j["mdanalysis"])
    if (r["kind"] == kind && r["n_frames"] == frames && r["n_particles"] == particles && r["fft"] == fft)
      return r["run_wall_s_min"].get<double>();
  return 0.0;
}

struct Walk {
  std::size_t n, frames;
  std::vector<double> pos;  // frames × n × 3
};

const Walk& walk(std::size_t frames) {
  static std::map<std::size_t, Walk> cache;
  auto it = cache.find(frames);
  if (it != cache.end()) return it->second;
  Walk w{200, frames, std::vector<double>(frames * 200 * 3)};
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> g(0.0, 1.0);
  for (std::size_t i = 0; i < 600; ++i) w.pos[i] = 0.0;
  for (std::size_t f = 1; f < frames; ++f)
    for (std::size_t i = 0; i < 600; ++i) w.pos[f * 600 + i] = w.pos[(f - 1) * 600 + i] + g(rng);
  return cache.emplace(frames, std::move(w)).first->second;
}

template <class Alg>
void BM_random_walk(benchmark::State& state) {
  const std::size_t frames = static_cast<std::size_t>(state.range(0));
  const Walk& w = walk(frames);
  std::vector<analysis::AtomGroup> groups{{"all", {}}};
  for (std::size_t i = 0; i < w.n; ++i) groups[0].atoms.push_back(i);
  analysis::MSDOptions o;
  o.unwrap = analysis::Unwrap::None;
  const Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 1e6;
  std::size_t mem = 0;
  double last = 0;
  for (auto _ : state) {
    analysis::Estimator<analysis::WindowedMSD<Alg>> est(w.n, groups, o);
    for (std::size_t f = 0; f < frames; ++f) est.push(w.pos.data() + f * 600, cell);
    const auto r = est.result();
    mem = est.memory_bytes();
    last = r.groups[0].tensor.xyz().back();
    benchmark::DoNotOptimize(last);
  }
  const bool fft = std::is_same_v<Alg, analysis::FFTCorrelation>;
  const double ref_fft = mda_seconds("random_walk", frames, 200, true);
  const double ref_same = mda_seconds("random_walk", frames, 200, fft);
  state.counters["seconds"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (ref_fft > 0) state.counters["mda_fft_s"] = ref_fft;
  if (ref_same > 0 && !fft) state.counters["mda_windowed_s"] = ref_same;
  state.counters["mem_MB"] = static_cast<double>(mem) / 1048576.0;
  state.counters["positions_MB"] = static_cast<double>(frames * w.n * 3 * sizeof(double)) / 1048576.0;
}

void BM_reference_trajectory(benchmark::State& state) {
  const bool li_only = state.range(0) == 1;
  static std::vector<std::vector<double>> pos;
  static std::vector<int> z;
  static Eigen::Matrix3d cell;
  if (pos.empty()) {
    io::detail::LineReader r((shared() / "reference/transport/lj_binary_nvt120.extxyz").string());
    io::Frame f;
    while (io::read_extxyz_frame(r, f)) {
      z = f.structure.atomic_numbers();
      cell = f.structure.lattice().matrix();
      std::vector<double> p(3 * z.size());
      for (std::size_t i = 0; i < z.size(); ++i)
        for (int k = 0; k < 3; ++k) p[3 * i + k] = f.structure.cart(i)[k];
      pos.push_back(std::move(p));
    }
  }
  if (pos.empty()) {
    state.SkipWithError("reference trajectory not found");
    return;
  }
  std::vector<analysis::AtomGroup> groups{{li_only ? "Li" : "all", {}}};
  for (std::size_t i = 0; i < z.size(); ++i)
    if (!li_only || z[i] == 3) groups[0].atoms.push_back(i);
  analysis::MSDOptions o;
  o.dt_ps = 0.2;
  for (auto _ : state) {
    analysis::Estimator<analysis::WindowedMSD<>> est(z.size(), groups, o);
    for (const auto& p : pos) est.push(p.data(), cell);
    auto res = est.result();
    benchmark::DoNotOptimize(res.groups[0].tensor.c[0].back());
  }
  const double ref = mda_seconds("trajectory", pos.size(), groups[0].atoms.size(), true);
  state.counters["seconds"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (ref > 0) state.counters["mda_fft_s"] = ref;
}

}  // namespace

BENCHMARK(BM_reference_trajectory)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_random_walk, analysis::FFTCorrelation)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_random_walk, analysis::DirectSum)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_MAIN();
