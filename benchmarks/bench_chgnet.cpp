// CHGNet (0.3.0 architecture, random weights) energy + forces + stress, graph construction
// included, one core, on the exact cells of ../shared/reference/chgnet/timing_structures.json.
// Counters: edges, angles and the GEMM rate (graphnet_bench_support.hpp: the model's dense-layer
// FLOPs per CPU second against Eigen's GEMM on exactly the same shapes, timed in this binary).
// Ratios against CHGNet (PyTorch, 1 thread, TIMINGS.md run 2): see docs/chgnet.md.
#include "graphnet_bench_support.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>

#include <memory>

namespace {

const nernst::graphnet::CHGNetModel& model() {
  static auto m = std::make_unique<nernst::graphnet::CHGNetModel>(nernst::CHGNet::load(
      (nernst_bench::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  return *m;
}

nernst::System<> timing_system(int natoms) {
  return nernst_bench::timing_system(nernst_bench::shared_dir() / "reference" / "chgnet" / "timing_structures.json",
                                     "n" + std::to_string(natoms));
}

/// The dense layers of one forward pass: N atoms, U bonds, E edges, Ub bond-graph nodes, T
/// angles. First layers are split: node/bond parts projected once per node.
nernst_bench::GemmList chgnet_gemms(double N, double U, double E, double Ub, double T) {
  const auto& c = model().config;
  const auto& w = model().weights;
  const Eigen::Index A = c.atom_fea_dim, B = c.bond_fea_dim, G = c.angle_fea_dim, R = c.num_radial,
                     K = c.num_angular;
  nernst_bench::GemmList l;
  l.add(U, R, B);   // bond embedding
  l.add(U, R, A);   // atom-graph bond weights
  l.add(Ub, R, B);  // bond-graph bond weights
  l.add(T, K, G);   // angle embedding
  for (std::size_t k = 0; k < w.atom_conv.size(); ++k) {
    l.add_gated(w.atom_conv[k], E, {{N, A}, {N, A}, {U, B}});
    l.add(N, A, A);  // atom_out
  }
  const std::vector<std::pair<double, Eigen::Index>> angle_parts{{Ub, B}, {Ub, B}, {T, G}, {N, A}};
  for (std::size_t k = 0; k < w.bond_conv.size(); ++k) {
    l.add_gated(w.bond_conv[k], T, angle_parts);
    l.add(Ub, B, B);  // bond_out
  }
  for (const auto& G2 : w.angle_update) l.add_gated(G2, T, angle_parts);
  for (std::size_t k = 0; k < w.readout.depth(); ++k)
    l.add(N, w.readout.layer(k).in_features(), w.readout.layer(k).out_features());
  l.add(N, A, 1);  // magnetic moments
  return l;
}

template <class Scalar>
void BM_CHGNet(benchmark::State& st) {
  auto sys = timing_system(static_cast<int>(st.range(0)));
  nernst::Potential<nernst::GraphNet<nernst::CHGNet>, Scalar> pot(model());
  nernst::ComputeRequest req;
  req.forces = req.stress = st.range(1) != 0;
  const double cpu = nernst_bench::time_evaluations(st, pot, sys, req);
  const auto& bg = pot.bond_graph();
  st.counters["edges"] = static_cast<double>(pot.graph().size());
  st.counters["angles"] = static_cast<double>(bg.angles());
  nernst_bench::report_gemm_rate<Scalar>(
      st,
      chgnet_gemms(double(sys.size()), double(bg.bonds()), double(pot.graph().size()), double(bg.nodes()),
                   double(bg.angles())),
      req.forces, cpu);
}

template <class Scalar>
void BM_CHGNetGraph(benchmark::State& st) {
  auto sys = timing_system(static_cast<int>(st.range(0)));
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  std::vector<std::array<double, 3>> x(sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i) x[i] = {hx(i, 0), hx(i, 1), hx(i, 2)};
  nernst::graphnet::PeriodicGraph g;
  nernst::graphnet::BondGraph bg;
  for (auto _ : st) {
    nernst::graphnet::build_pymatgen_graph(x, sys.cell.matrix(), 6.0, g);
    nernst::graphnet::build_bond_graph(g, x.size(), 3.0, bg);
    benchmark::DoNotOptimize(bg.angles());
  }
}

}  // namespace

// Args: atoms, with forces+stress (1) or energy only (0).
BENCHMARK_TEMPLATE(BM_CHGNet, float)
    ->ArgsProduct({{20, 60, 160, 500}, {1, 0}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CHGNet, double)
    ->ArgsProduct({{20, 60, 160, 500}, {1, 0}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CHGNetGraph, double)->Arg(20)->Arg(60)->Arg(160)->Arg(500)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) { return nernst_bench::run_benchmarks(argc, argv); }
