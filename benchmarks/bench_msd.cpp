// Windowed MSD throughput against MDAnalysis EinsteinMSD (timings in
// ../shared/reference/transport/timings_msd.json): the reference LJ trajectory (1001 frames ×
// 500 atoms, all atoms and Li only) and a synthetic Gaussian random walk of 200 particles
// (1e3 … 1e5 frames), with the default FFT backend (FFTW when found) and with kissfft.
// Counters: cpu_s = process CPU time of one MSD (push of every frame + result(), like
// MDAnalysis run()), mda_fft_cpu_s = MDAnalysis FFT CPU time (min over its repeats),
// speedup_cpu = mda_fft_cpu_s / cpu_s (the target: ≥ 5); store_MB = trajectory held by the
// estimator, scratch_MB = what result() allocates on top, positions_MB = N·T·3 doubles;
// peak_rss_MB / rss_before_MB = process high-water mark after / resident size before the run
// (run one benchmark alone for a clean peak: --benchmark_filter='walk<.*FFTW.*>/100000').
#include <benchmark/benchmark.h>

#include <nernst/analysis/msd.hpp>
#include <nernst/io/extxyz.hpp>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"

#include <sys/resource.h>
#include <time.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

using namespace nernst;

namespace {

std::filesystem::path shared() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

/// MDAnalysis time (min over repeats; "run_cpu_s_min" or "run_wall_s_min") for a row of
/// timings_msd.json, or 0 when absent.
double mda_seconds(const std::string& kind, std::size_t frames, std::size_t particles, bool fft,
                   const char* key = "run_cpu_s_min") {
  std::ifstream in(shared() / "reference/transport/timings_msd.json");
  if (!in) return 0.0;
  const auto j = nlohmann::json::parse(in);
  for (const auto& r : j["mdanalysis"])
    if (r["kind"] == kind && r["n_frames"] == frames && r["n_particles"] == particles && r["fft"] == fft)
      return r[key].get<double>();
  return 0.0;
}

double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double peak_rss_MB() { return nernst_bench::peak_resident_bytes() / 1048576.0; }
double rss_MB() { return nernst_bench::resident_bytes() / 1048576.0; }

/// Median of the per-iteration CPU times, and the speed-up counters.
void set_speed_counters(benchmark::State& state, std::vector<double> cpu, double mda_cpu, double mda_wall) {
  std::sort(cpu.begin(), cpu.end());
  const double med = cpu.empty() ? 0.0 : cpu[cpu.size() / 2];
  state.counters["cpu_s"] = med;
  if (mda_cpu > 0 && med > 0) {
    state.counters["mda_fft_cpu_s"] = mda_cpu;
    state.counters["mda_fft_wall_s"] = mda_wall;
    state.counters["speedup_cpu"] = mda_cpu / med;
  }
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
  std::size_t mem = 0, scratch = 0;
  double last = 0;
  const double rss_before = rss_MB();
  std::vector<double> cpu;
  for (auto _ : state) {
    const double c0 = cpu_now();
    analysis::Estimator<analysis::WindowedMSD<Alg>> est(w.n, groups, o);
    for (std::size_t f = 0; f < frames; ++f) est.push(w.pos.data() + f * 600, cell);
    const auto r = est.result();
    last = r.groups[0].tensor.xyz().back();
    cpu.push_back(cpu_now() - c0);
    mem = est.memory_bytes();
    scratch = est.scratch_bytes();
    benchmark::DoNotOptimize(last);
  }
  constexpr bool fft = analysis::detail::is_fft_correlation<Alg>::value;
  set_speed_counters(state, cpu, mda_seconds("random_walk", frames, 200, true),
                     mda_seconds("random_walk", frames, 200, true, "run_wall_s_min"));
  if (!fft) {
    const double ref_same = mda_seconds("random_walk", frames, 200, false);
    if (ref_same > 0) state.counters["mda_windowed_cpu_s"] = ref_same;
  }
  state.counters["store_MB"] = static_cast<double>(mem) / 1048576.0;
  state.counters["scratch_MB"] = static_cast<double>(scratch) / 1048576.0;
  state.counters["positions_MB"] = static_cast<double>(frames * w.n * 3 * sizeof(double)) / 1048576.0;
  state.counters["rss_before_MB"] = rss_before;
  state.counters["peak_rss_MB"] = peak_rss_MB();
}

template <class Alg>
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
  std::vector<double> cpu;
  for (auto _ : state) {
    const double c0 = cpu_now();
    analysis::Estimator<analysis::WindowedMSD<Alg>> est(z.size(), groups, o);
    for (const auto& p : pos) est.push(p.data(), cell);
    auto res = est.result();
    cpu.push_back(cpu_now() - c0);
    benchmark::DoNotOptimize(res.groups[0].tensor.c[0].back());
  }
  set_speed_counters(state, cpu, mda_seconds("trajectory", pos.size(), groups[0].atoms.size(), true),
                     mda_seconds("trajectory", pos.size(), groups[0].atoms.size(), true, "run_wall_s_min"));
}

}  // namespace

using analysis::DirectSum;
using analysis::FFTCorrelation;  // default backend (FFTW when found)
using Kiss = analysis::FFTCorrelationWith<analysis::KissFFT>;
BENCHMARK_TEMPLATE(BM_reference_trajectory, FFTCorrelation)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_reference_trajectory, Kiss)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_random_walk, FFTCorrelation)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_random_walk, Kiss)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_random_walk, DirectSum)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_MAIN();
