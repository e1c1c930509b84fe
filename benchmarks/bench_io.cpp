// I/O throughput: streaming extended-XYZ read (frames/s, MB/s), index build, write, CIF read.
// Inputs are the shared reference trajectory (../shared/reference/transport) and CIFs.
// BM_ExtXYZStreamBig streams a >= 1 GB file built from that trajectory when NERNST_BENCH_BIG_XYZ
// names where to write it (e.g. /tmp/big.extxyz); it reports peak RSS to show memory is bounded.
#include <benchmark/benchmark.h>

#include <nernst/io/cif.hpp>
#include <nernst/io/extxyz.hpp>

#include "bench_support.hpp"

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {
namespace fs = std::filesystem;
using namespace nernst;

using nernst_bench::shared_dir;
fs::path trajectory() { return shared_dir() / "reference/transport/lj_binary_nvt120.extxyz"; }
/// False (and the benchmark marked skipped) when the shared trajectory is missing.
bool have_trajectory(benchmark::State& state) {
  if (fs::exists(trajectory())) return true;
  state.SkipWithError("shared trajectory not found");
  return false;
}

double peak_rss_mb() { return nernst_bench::peak_resident_bytes() / 1048576.0; }

void stream_file(benchmark::State& state, const std::string& path) {
  const auto bytes = static_cast<std::int64_t>(fs::file_size(path));
  std::int64_t frames = 0;
  for (auto _ : state) {
    io::ExtXYZReader r(path);
    io::Frame f;
    std::int64_t n = 0;
    while (r.next(f)) ++n;
    benchmark::DoNotOptimize(f);
    frames += n;
  }
  state.SetBytesProcessed(bytes * static_cast<std::int64_t>(state.iterations()));
  state.SetItemsProcessed(frames);
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e6, benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
}

void BM_ExtXYZStreamRead(benchmark::State& state) {
  if (!have_trajectory(state)) return;
  stream_file(state, trajectory().string());
}
BENCHMARK(BM_ExtXYZStreamRead)->Unit(benchmark::kMillisecond);

void BM_ExtXYZIndexBuild(benchmark::State& state) {
  if (!have_trajectory(state)) return;
  const auto bytes = static_cast<std::int64_t>(fs::file_size(trajectory()));
  for (auto _ : state) {
    io::ExtXYZReader r(trajectory().string());
    benchmark::DoNotOptimize(r.frame_count());
  }
  state.SetBytesProcessed(bytes * static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ExtXYZIndexBuild)->Unit(benchmark::kMillisecond);

void BM_ExtXYZRandomAccess(benchmark::State& state) {
  if (!have_trajectory(state)) return;
  io::ExtXYZReader r(trajectory().string());
  const std::size_t n = r.frame_count();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.read((i * 7919) % n));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ExtXYZRandomAccess)->Unit(benchmark::kMicrosecond);

void BM_ExtXYZWrite(benchmark::State& state) {
  if (!have_trajectory(state)) return;
  io::ExtXYZReader r(trajectory().string());
  io::Frame f;
  r.next(f);
  std::int64_t bytes = 0;
  for (auto _ : state) {
    std::ostringstream os;
    io::write_extxyz_frame(os, f);
    bytes += static_cast<std::int64_t>(os.tellp());
  }
  state.SetBytesProcessed(bytes);
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ExtXYZWrite)->Unit(benchmark::kMicrosecond);

void BM_CifRead(benchmark::State& state) {
  const fs::path dir = shared_dir() / "structures";
  if (!fs::exists(dir)) {
    state.SkipWithError("shared structures not found");
    return;
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".cif") files.push_back(e.path().string());
  for (auto _ : state)
    for (const auto& f : files) benchmark::DoNotOptimize(io::read_cif(f));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * files.size()));
}
BENCHMARK(BM_CifRead)->Unit(benchmark::kMillisecond);

void BM_ExtXYZStreamBig(benchmark::State& state) {
  const char* big = std::getenv("NERNST_BENCH_BIG_XYZ");
  if (!big || !*big) {
    state.SkipWithError("set NERNST_BENCH_BIG_XYZ=/path/to/scratch.extxyz to run the 1 GB streaming benchmark");
    return;
  }
  if (!fs::exists(big) || fs::file_size(big) < (std::uintmax_t(1) << 30)) {
    // Build it by repeating the reference trajectory (>= 1 GiB).
    const std::string chunk = io::detail::read_text_file(trajectory().string());
    std::ofstream out(big, std::ios::binary);
    std::uintmax_t written = 0;
    while (written < (std::uintmax_t(1) << 30)) {
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      written += chunk.size();
    }
  }
  state.counters["rss_before_MB"] = peak_rss_mb();
  stream_file(state, big);
}
BENCHMARK(BM_ExtXYZStreamBig)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
