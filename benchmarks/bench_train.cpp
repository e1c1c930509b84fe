// Fine-tuning cost per structure on the 60-atom Li3YCl6-like cell of
// ../shared/reference/m3gnet/timing_structures.json: the double prediction (E, F, σ) and the
// exact parameter gradient of an E+F+S loss (Dual<double> forward + reverse). An epoch over
// 300 such structures costs 300 x (predict + gradient) plus the optimiser steps (see
// docs/training.md).
#include <benchmark/benchmark.h>

#include <nernst/core/elements.hpp>
#include <nernst/train/m3gnet_trainable.hpp>

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

nernst::train::M3GNetTrainable& trainable() {
  static auto m = std::make_unique<nernst::train::M3GNetTrainable>(
      nernst::M3GNet::load((shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  return *m;
}

nernst::train::Sample sample(int natoms) {
  std::ifstream in(shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  const auto j = nlohmann::json::parse(in).at("structures").at(std::to_string(natoms));
  nernst::train::Sample s;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) s.lattice(a, b) = j.at("lattice")[a][b].get<double>();
  for (std::size_t i = 0; i < j.at("positions").size(); ++i) {
    s.x.push_back({j["positions"][i][0].get<double>(), j["positions"][i][1].get<double>(), j["positions"][i][2].get<double>()});
    s.z.push_back(nernst::atomic_number(j["species"][i].get<std::string>()));
  }
  return s;
}

void BM_predict(benchmark::State& st) {
  auto& m = trainable();
  const auto s = sample(int(st.range(0)));
  for (auto _ : st) benchmark::DoNotOptimize(m.predict(s).energy);
}

void BM_loss_gradient(benchmark::State& st) {
  auto& m = trainable();
  const auto s = sample(int(st.range(0)));
  std::vector<double> grad(m.num_parameters(), 0.0);
  std::vector<std::array<double, 3>> dF(s.size(), {0.01, -0.02, 0.03});
  const Eigen::Matrix3d dS = Eigen::Matrix3d::Identity() * 0.1;
  for (auto _ : st) {
    m.accumulate_gradient(s, 0.5, dF, dS, grad);
    benchmark::ClobberMemory();
  }
}

}  // namespace

BENCHMARK(BM_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
