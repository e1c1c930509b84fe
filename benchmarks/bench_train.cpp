// Fine-tuning cost per structure (M3GNet, CHGNet and TensorNet) on the 20- and 60-atom Li3YCl6-like cells
// of ../shared/reference/m3gnet/timing_structures.json: the double prediction (E, F, σ) and the
// exact parameter gradient of an E+F+S loss (Dual<double> forward + reverse). An epoch over
// 300 such structures costs 300 x (predict + gradient) plus the optimiser steps (see
// docs/training.md).
#include <benchmark/benchmark.h>

#include <nernst/train/chgnet_trainable.hpp>
#include <nernst/train/m3gnet_trainable.hpp>
#include <nernst/train/tensornet_trainable.hpp>

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

nernst::train::M3GNetTrainable& m3gnet() {
  static auto m = std::make_unique<nernst::train::M3GNetTrainable>(
      nernst::M3GNet::load((shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  return *m;
}

// CHGNet 0.3.0 architecture (random weights: the cost does not depend on the values).
nernst::train::CHGNetTrainable& chgnet() {
  static auto m = std::make_unique<nernst::train::CHGNetTrainable>(nernst::CHGNet::load(
      (shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  return *m;
}

// TensorNet-MatPES-PBE (U = 128, two interaction layers).
nernst::train::TensorNetTrainable& tensornet() {
  static auto m = std::make_unique<nernst::train::TensorNetTrainable>(
      nernst::TensorNet::load((shared_dir() / "models" / "tensornet-matpes-pbe-v2025.1-pes").string()));
  return *m;
}

nernst::train::Sample sample(int natoms) {
  std::ifstream in(shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  return nernst::train::sample_from_json(nlohmann::json::parse(in).at("structures").at(std::to_string(natoms)));
}

template <class Model>
void predict(benchmark::State& st, Model& m) {
  const auto s = sample(int(st.range(0)));
  for (auto _ : st) benchmark::DoNotOptimize(m.predict(s).energy);
}

template <class Model>
void loss_gradient(benchmark::State& st, Model& m) {
  const auto s = sample(int(st.range(0)));
  std::vector<double> grad(m.num_parameters(), 0.0);
  std::vector<std::array<double, 3>> dF(s.size(), {0.01, -0.02, 0.03});
  const Eigen::Matrix3d dS = Eigen::Matrix3d::Identity() * 0.1;
  for (auto _ : st) {
    m.accumulate_gradient(s, 0.5, dF, dS, grad);
    benchmark::ClobberMemory();
  }
}

void BM_predict(benchmark::State& st) { predict(st, m3gnet()); }
void BM_loss_gradient(benchmark::State& st) { loss_gradient(st, m3gnet()); }
void BM_chgnet_predict(benchmark::State& st) { predict(st, chgnet()); }
void BM_chgnet_loss_gradient(benchmark::State& st) { loss_gradient(st, chgnet()); }
void BM_tensornet_predict(benchmark::State& st) { predict(st, tensornet()); }
void BM_tensornet_loss_gradient(benchmark::State& st) { loss_gradient(st, tensornet()); }

}  // namespace

BENCHMARK(BM_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_chgnet_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_chgnet_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tensornet_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tensornet_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
