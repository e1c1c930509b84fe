// Fine-tuning cost per structure (M3GNet, CHGNet and TensorNet) on the 20- and 60-atom Li3YCl6-like cells
// of ../shared/reference/m3gnet/timing_structures.json: the double prediction (E, F, σ) and the
// exact parameter gradient of an E+F+S loss (Dual<double> forward + reverse). An epoch over
// 300 such structures costs 300 x (predict + gradient) plus the optimiser steps (see
// docs/training.md).
//
// BM_*_batch: the loss and parameter gradient of a fine-tuning batch of 8 rattled 60-atom cells
// (train::loss_and_gradient) three ways, in one run: `alone` (the model by itself with all host
// threads: the code before train::ThreadModels), `1` (one thread) and `2` (two model copies, one
// structure per thread).
#include "bench_support.hpp"

#include <nernst/train/chgnet_trainable.hpp>
#include <nernst/train/m3gnet_trainable.hpp>
#include <nernst/train/tensornet_trainable.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/train/trainer.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>

namespace {

using nernst_bench::shared_dir;

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

// Eight rattled copies of the 60-atom cell, labelled with offsets (every residual non-zero).
nernst::train::Dataset batch_of_eight() {
  nernst::train::Dataset d;
  std::mt19937 rng(17);
  std::normal_distribution<double> n(0.0, 0.05);
  for (int k = 0; k < 8; ++k) {
    nernst::train::Sample s = sample(60);
    for (auto& x : s.x)
      for (auto& c : x) c += n(rng);
    s.energy = -250.0 + n(rng);
    s.forces.assign(s.size(), {n(rng), n(rng), n(rng)});
    Eigen::Matrix3d st = Eigen::Matrix3d::Zero();
    st(0, 0) = st(1, 1) = st(2, 2) = 0.001;
    s.stress = st;
    d.samples.push_back(std::move(s));
  }
  return d;
}

// range(0): 0 = the model alone with all host threads, else that many threads, one model copy each.
template <class Model>
void batch_gradient(benchmark::State& st, Model& m) {
  static const nernst::train::Dataset d = batch_of_eight();
  std::vector<std::size_t> idx(d.size());
  std::iota(idx.begin(), idx.end(), std::size_t(0));
  const int threads = int(st.range(0));
  nernst::nn::set_host_thread_limit(threads);
  {
    nernst::train::ThreadModels<Model> models(m, threads == 0 ? 1 : threads);
    std::vector<double> grad(m.num_parameters());
    for (auto _ : st) {
      std::fill(grad.begin(), grad.end(), 0.0);
      benchmark::DoNotOptimize(nernst::train::loss_and_gradient(models, d, idx, nernst::train::Loss{}, {}, &grad));
      benchmark::ClobberMemory();
    }
  }
  nernst::nn::set_host_thread_limit(0);
  st.counters["structures/s"] = benchmark::Counter(double(d.size()) * double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_predict(benchmark::State& st) { predict(st, m3gnet()); }
void BM_loss_gradient(benchmark::State& st) { loss_gradient(st, m3gnet()); }
void BM_chgnet_predict(benchmark::State& st) { predict(st, chgnet()); }
void BM_chgnet_loss_gradient(benchmark::State& st) { loss_gradient(st, chgnet()); }
void BM_tensornet_predict(benchmark::State& st) { predict(st, tensornet()); }
void BM_tensornet_loss_gradient(benchmark::State& st) { loss_gradient(st, tensornet()); }
void BM_m3gnet_batch(benchmark::State& st) { batch_gradient(st, m3gnet()); }
void BM_chgnet_batch(benchmark::State& st) { batch_gradient(st, chgnet()); }
void BM_tensornet_batch(benchmark::State& st) { batch_gradient(st, tensornet()); }

}  // namespace

BENCHMARK(BM_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_chgnet_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_chgnet_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tensornet_predict)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tensornet_loss_gradient)->Arg(20)->Arg(60)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  auto batch_args = [](benchmark::internal::Benchmark* b) {
    b->ArgName("threads")->Arg(0);
    for (int t : nernst_bench::thread_counts()) b->Arg(t);
    b->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  benchmark::RegisterBenchmark("BM_m3gnet_batch", BM_m3gnet_batch)->Apply(batch_args);
  benchmark::RegisterBenchmark("BM_chgnet_batch", BM_chgnet_batch)->Apply(batch_args);
  benchmark::RegisterBenchmark("BM_tensornet_batch", BM_tensornet_batch)->Apply(batch_args);
  return nernst_bench::run_specified(argc, argv);
}
