#pragma once
// Shared support of the graph-network benchmarks (bench_m3gnet, bench_chgnet): the timing cells
// of ../shared/reference/<model>/timing_structures.json as Systems, and the GEMM-rate reference.
//
// GEMM rate, defined honestly: a model's dense work is a list of GEMM shapes (rows m, in k,
// out n) taken from its actual layer sizes and this graph's edge/atom/angle counts, each run
// forward (Y[m,n] = X[m,k] Wᵀ) and backward for the input gradient (dX[m,k] = dY[m,n] W), as
// nn::Linear does. `gemm_pct` = the CPU time Eigen needs for exactly that list, in this binary,
// divided by the model's CPU time per evaluation (x100): the model's dense-layer FLOP rate as a
// percentage of what Eigen's GEMM reaches on the same shapes. Recomputed activations and the
// parameter-free work (gathers, activations, bases) count as time, not as FLOPs.
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <nernst/core/elements.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/nn/gated_mlp.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nernst_bench {

/// Cell `key` of a timing_structures.json ({"structures": {key: {lattice, species, positions}}}).
inline nernst::System<> timing_system(const std::filesystem::path& json, const std::string& key) {
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  const auto& s = j.at("structures").at(key);
  const auto& pos = s.at("positions");
  nernst::System<> sys(pos.size());
  Eigen::Matrix3d L;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) L(a, b) = s.at("lattice")[a][b].get<double>();
  sys.cell = nernst::Lattice(L);
  auto hx = Kokkos::create_mirror_view(sys.x);
  auto ht = Kokkos::create_mirror_view(sys.type);
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const int z = nernst::atomic_number(s.at("species")[i].get<std::string>());
    int t = -1;
    for (std::size_t k = 0; k < sys.species.size(); ++k)
      if (sys.species[k] == z) t = static_cast<int>(k);
    if (t < 0) {
      t = static_cast<int>(sys.species.size());
      sys.species.push_back(z);
    }
    ht(i) = t;
    for (int k = 0; k < 3; ++k) hx(i, k) = pos[i][k].get<double>();
  }
  Kokkos::deep_copy(sys.x, hx);
  Kokkos::deep_copy(sys.type, ht);
  return sys;
}

/// One dense layer application: [m, k] -> [m, n].
struct Gemm {
  Eigen::Index m, k, n;
};

struct GemmList {
  std::vector<Gemm> shapes;
  void add(double m, Eigen::Index k, Eigen::Index n, int times = 1) {
    for (int i = 0; i < times; ++i) shapes.push_back({static_cast<Eigen::Index>(m), k, n});
  }
  /// A gated MLP on a batch of m rows. With `split_first`, the first layer's input is made of
  /// parts: (rows, width) pairs in `parts` (node parts projected per node, edge part per edge).
  template <class S>
  void add_gated(const nernst::nn::GatedMLP<S>& G, double m,
                 const std::vector<std::pair<double, Eigen::Index>>& parts = {}) {
    const Eigen::Index h2 = 2 * G.width(0);
    if (parts.empty())
      add(m, G.in_features(), h2);
    else
      for (const auto& [rows, k] : parts) add(rows, k, h2);
    for (std::size_t l = 1; l < G.depth(); ++l) add(m, G.width(l - 1), G.width(l), 2);
  }
  /// Useful FLOPs: forward and input-gradient GEMM of every shape.
  double flops(bool backward) const {
    double f = 0;
    for (const auto& g : shapes) f += 2.0 * double(g.m) * double(g.k) * double(g.n);
    return backward ? 2 * f : f;
  }
};

/// `base` repeated na x nb x nc times along its lattice vectors.
inline nernst::System<> replicate(const nernst::System<>& base, int na, int nb, int nc) {
  const std::size_t n = base.size();
  nernst::System<> sys(n * std::size_t(na * nb * nc));
  sys.species = base.species;
  const Eigen::Matrix3d L = base.cell.matrix();
  Eigen::Matrix3d S = L;
  S.row(0) *= na;
  S.row(1) *= nb;
  S.row(2) *= nc;
  sys.cell = nernst::Lattice(S);
  auto bx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), base.x);
  auto bt = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), base.type);
  auto hx = Kokkos::create_mirror_view(sys.x);
  auto ht = Kokkos::create_mirror_view(sys.type);
  std::size_t k = 0;
  for (int a = 0; a < na; ++a)
    for (int b = 0; b < nb; ++b)
      for (int c = 0; c < nc; ++c)
        for (std::size_t i = 0; i < n; ++i, ++k) {
          ht(k) = bt(i);
          for (int d = 0; d < 3; ++d) hx(k, d) = bx(i, d) + a * L(0, d) + b * L(1, d) + c * L(2, d);
        }
  Kokkos::deep_copy(sys.x, hx);
  Kokkos::deep_copy(sys.type, ht);
  return sys;
}

inline double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// CPU seconds Eigen needs for the list (forward, and backward when asked), best of `reps`.
template <class Scalar>
double eigen_gemm_seconds(const GemmList& list, bool backward, int reps = 5) {
  using M = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  struct Op {
    M X, W, Y, dX;
  };
  std::vector<Op> ops;
  for (const auto& g : list.shapes)
    ops.push_back({M::Random(std::max<Eigen::Index>(g.m, 1), g.k), M::Random(g.n, g.k),
                   M(std::max<Eigen::Index>(g.m, 1), g.n), M(std::max<Eigen::Index>(g.m, 1), g.k)});
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const double t0 = cpu_seconds();
    for (auto& o : ops) {
      o.Y.noalias() = o.X * o.W.transpose();
      if (backward) o.dX.noalias() = o.Y * o.W;
    }
    benchmark::ClobberMemory();
    best = std::min(best, cpu_seconds() - t0);
  }
  return best;
}

/// Eigen's GEMM rate (GFLOP/s, one core) on a large square product (768³): the machine's
/// best case, for the `peak_pct` counter. Measured once per binary, best of 5.
template <class Scalar>
double peak_gemm_gflops() {
  static const double rate = [] {
    using M = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    const Eigen::Index n = 768;
    const M a = M::Random(n, n), b = M::Random(n, n);
    M c(n, n);
    double best = 1e300;
    for (int r = 0; r < 5; ++r) {
      const double t0 = cpu_seconds();
      c.noalias() = a * b;
      benchmark::DoNotOptimize(c.data());
      best = std::min(best, cpu_seconds() - t0);
    }
    return 2.0 * double(n) * double(n) * double(n) / best * 1e-9;
  }();
  return rate;
}

/// Times `pot.compute(sys, req)` in the benchmark loop (after one warm-up evaluation that
/// allocates and touches the workspaces); returns the CPU seconds of the timed loop.
template <class Pot, class Sys, class Req>
double time_evaluations(benchmark::State& st, Pot& pot, Sys& sys, const Req& req) {
  double e = pot.compute(sys, req).energy;
  const double t0 = cpu_seconds();
  for (auto _ : st) {
    auto r = pot.compute(sys, req);
    Kokkos::fence();
    e += r.energy;
  }
  const double cpu = cpu_seconds() - t0;
  benchmark::DoNotOptimize(e);
  return cpu;
}

/// Sets the counters model_GFLOPS (dense-layer FLOPs / CPU time), gemm_GFLOPS (Eigen on the
/// same shapes), gemm_pct and peak_pct.
template <class Scalar>
void report_gemm_rate(benchmark::State& st, const GemmList& list, bool backward, double cpu_seconds_total) {
  const double flops = list.flops(backward);
  const double per_eval = cpu_seconds_total / double(st.iterations());
  const double ref = eigen_gemm_seconds<Scalar>(list, backward);
  st.counters["model_GFLOPS"] = flops / per_eval * 1e-9;
  st.counters["gemm_GFLOPS"] = flops / ref * 1e-9;
  st.counters["gemm_pct"] = 100.0 * ref / per_eval;
  // Against the large-square rate instead of the same shapes (a stricter reading of "the
  // machine's GEMM rate"; 64-wide layers cannot reach it even in Eigen alone).
  st.counters["peak_pct"] = 100.0 * flops / per_eval * 1e-9 / peak_gemm_gflops<Scalar>();
}

}  // namespace nernst_bench
