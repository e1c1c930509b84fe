// The pipeline's wall time at 4 temperatures, one temperature after another against the ways it
// runs them at once (the target: on 2 cores the 4-temperature pipeline finishes >= 1.8x
// sooner than one temperature after another on one core). Li3YCl6 1x1x1 per element (30 atoms,
// 124 orderings), M3GNet-MP-2021 float, top 2 orderings relaxed (20 FIRE steps), the best one run
// at 500, 600, 700 and 800 K: 50 heating + 50 NVT + 100 NpT + 200 production steps each, then MSD,
// Arrhenius and report. Every iteration is a fresh run in a fresh directory. Variants:
//   Serial/1        jobs 1 on one thread: one temperature after another, the old code;
//   Serial/2        jobs 1, the graph network splitting each 30-atom graph over 2 threads;
//   Workers/2       --jobs 2: relaxations and (equilibration, production) pairs in 2 forked
//                   one-thread worker processes;
//   Replicas/2      --replicas on 2 threads: the relaxations, then the 4 equilibrations, then the
//                   4 productions in lockstep, one relaxation / replica per thread.
// Wall seconds per pipeline (real time); the speed-up is Serial/1 over the others.
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/workflow/pipeline.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

using namespace nernst;
namespace fs = std::filesystem;

using Pot = Potential<GraphNet<M3GNet>, float>;

const graphnet::M3GNetModel& model() {
  static const auto m = M3GNet::load((nernst_bench::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  return m;
}

workflow::PipelineOptions options(const fs::path& out) {
  workflow::PipelineOptions o;
  o.structure = (nernst_bench::shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string();
  o.supercell = Eigen::Matrix3i::Identity();
  o.occupancy_mode = "per-element";
  o.potential_name = "m3gnet-mp-2021.2.8-pes (float)";
  o.temperatures = {500, 600, 700, 800};
  o.out = out.string();
  o.top_k = 2;
  o.top_m = 1;
  o.fmax = 1e-9;  // 20 steps each
  o.relax_steps = 20;
  o.heating = 50;
  o.nvt = 50;
  o.npt = 100;
  o.average_last = 50;
  o.production_ps = 0.2;
  o.sample_every = 10;
  o.checkpoint_every = 100;
  o.min_fit_start_ps = 0.02;
  o.quiet = true;
  return o;
}

void run(benchmark::State& st, int jobs, bool replicas) {
  const int threads = static_cast<int>(st.range(0));
  nn::set_host_thread_limit(threads);
  const fs::path base = fs::temp_directory_path() / ("nernst_bench_pipeline_" + std::to_string(::getpid()));
  long k = 0;
  for (auto _ : st) {
    auto o = options(base / std::to_string(k++));
    o.jobs = jobs;
    o.replicas = replicas;
    workflow::run_pipeline(o, [] { return Pot(model()); });
  }
  fs::remove_all(base);
  st.counters["threads"] = threads;
  nn::set_host_thread_limit(0);
}

void BM_Pipeline4T_Serial(benchmark::State& st) { run(st, 1, false); }
void BM_Pipeline4T_Workers(benchmark::State& st) { run(st, static_cast<int>(st.range(0)), false); }
void BM_Pipeline4T_Replicas(benchmark::State& st) { run(st, 1, true); }

}  // namespace

int main(int argc, char** argv) {
  KokkosSession kokkos(argc, argv);
  for (auto* b : {benchmark::RegisterBenchmark("BM_Pipeline4T_Serial", BM_Pipeline4T_Serial)->Arg(1)->Arg(2),
                  benchmark::RegisterBenchmark("BM_Pipeline4T_Workers", BM_Pipeline4T_Workers)->Arg(2),
                  benchmark::RegisterBenchmark("BM_Pipeline4T_Replicas", BM_Pipeline4T_Replicas)->Arg(2)})
    b->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
  return nernst_bench::run_specified(argc, argv);
}
