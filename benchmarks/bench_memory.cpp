// Peak memory of one energy + forces + stress evaluation (graph construction included) per atom:
// M3GNet-MP-2021, CHGNet (the 0.3.0 architecture with random weights) and TensorNet-MatPES-PBE,
// float and double, at 2000 and 10^4 atoms (4x and 20x the 500-atom timing cell of
// ../shared/reference/m3gnet).
//
// A peak resident set is a property of a process, so every measurement runs in a fresh one: this
// executable re-executed as `--child NET PRECISION ATOMS` (fork + exec: a forked copy of a process
// whose OpenMP pool has started must not run parallel regions, docs/threads.md). The child loads
// the model, builds the system, notes its resident set (/proc/self/statm), evaluates once and
// reports; the parent reads the child's peak resident set from wait4(). Counters:
//   baseline_MiB   resident before the evaluation (model, system, Kokkos)
//   peak_MiB       the child's peak resident set
//   bytes_per_atom (peak − baseline) / atoms: what the evaluation itself needed
// Time column: the evaluation's wall time (manual time). The evaluators keep edge-MLP activations
// for the reverse pass up to an activation budget (512 MiB by default) and recompute beyond it, so
// above a few thousand atoms the extra memory grows more slowly than the work.
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

nernst::System<> system_of(long atoms) {
  const auto base = nernst_bench::timing_system(nernst_bench::shared_dir() / "reference" / "m3gnet" / "timing_structures.json", "500");
  if (atoms == 2000) return nernst_bench::replicate(base, 2, 2, 1);
  if (atoms == 10000) return nernst_bench::replicate(base, 5, 2, 2);
  throw std::runtime_error("bench_memory: sizes are 2000 and 10000 atoms");
}

template <class Pot>
int measure(Pot&& pot, long atoms) {
  auto sys = system_of(atoms);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const double baseline = nernst_bench::resident_bytes();
  const auto t0 = std::chrono::steady_clock::now();
  (void)pot.compute(sys, req);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.17g %.17g\n", baseline, wall);
  return 0;
}

template <class Scalar>
int child_with(const std::string& net, long atoms) {
  const auto models = nernst_bench::shared_dir() / "models";
  if (net == "m3gnet")
    return measure(nernst::Potential<nernst::GraphNet<nernst::M3GNet>, Scalar>(
                       nernst::M3GNet::load((models / "m3gnet-mp-2021.2.8-pes").string())),
                   atoms);
  if (net == "chgnet")
    return measure(nernst::Potential<nernst::GraphNet<nernst::CHGNet>, Scalar>(
                       nernst::CHGNet::load((models / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string())),
                   atoms);
  return measure(nernst::Potential<nernst::GraphNet<nernst::TensorNet>, Scalar>(
                     nernst::TensorNet::load((models / "tensornet-matpes-pbe-v2025.1-pes").string())),
                 atoms);
}

/// `--child NET PRECISION ATOMS`: one measurement, "baseline_bytes wall_seconds" on stdout.
int child_main(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  const std::string net = argv[2], precision = argv[3];
  const long atoms = std::stol(argv[4]);
  return precision == "float" ? child_with<float>(net, atoms) : child_with<double>(net, atoms);
}

struct ChildOutcome {
  double baseline = 0, wall = 0, peak = 0;
};

/// Runs this executable as a child measurement and collects its report and peak resident set.
ChildOutcome run_child(const std::string& net, const std::string& precision, long atoms) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string n = std::to_string(atoms);
    char* args[] = {const_cast<char*>("nernst_bench_memory"), const_cast<char*>("--child"), const_cast<char*>(net.c_str()),
                    const_cast<char*>(precision.c_str()), const_cast<char*>(n.c_str()), nullptr};
    ::execv("/proc/self/exe", args);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t k;
  while ((k = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(k));
  ::close(fds[0]);
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("bench_memory: the child measurement " + net + "/" + precision + " failed");
  ChildOutcome o;
  std::istringstream(out) >> o.baseline >> o.wall;
  o.peak = static_cast<double>(ru.ru_maxrss) * 1024.0;  // Linux: kilobytes
  return o;
}

void BM_Memory(benchmark::State& st, const std::string& net, const std::string& precision) {
  const long atoms = st.range(0);
  ChildOutcome o;
  for (auto _ : st) {
    o = run_child(net, precision, atoms);
    st.SetIterationTime(o.wall);
  }
  st.counters["atoms"] = static_cast<double>(atoms);
  st.counters["baseline_MiB"] = o.baseline / (1024.0 * 1024.0);
  st.counters["peak_MiB"] = o.peak / (1024.0 * 1024.0);
  st.counters["bytes_per_atom"] = (o.peak - o.baseline) / static_cast<double>(atoms);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--child") == 0) return child_main(argc, argv);
  for (const char* net : {"m3gnet", "chgnet", "tensornet"})
    for (const char* precision : {"float", "double"})
      benchmark::RegisterBenchmark((std::string("BM_Memory/") + net + "/" + precision).c_str(), BM_Memory, net, precision)
          ->Arg(2000)
          ->Arg(10000)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  return nernst_bench::run_specified(argc, argv);
}
