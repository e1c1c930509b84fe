// MACE on the host threads (mace_chunks.hpp): two threads against nn::set_host_thread_limit(1) in
// double (energy, per-atom energies, forces, stress), repeated runs at a fixed thread count bitwise
// identical, and the threaded path really taken (two edge and two atom chunks). ctest runs this
// module with OMP_NUM_THREADS=2 (test `mace`); with one host thread the comparisons hold
// trivially and the chunk-count checks are reported as not exercised.
//
// Measured (2 threads vs 1, double): medium model on li3ycl6_ordered_40 and small model on
// li3ycl6_supercell_180_rattled, energy / per-atom energies / forces / stress bitwise identical
// (max relative difference 0); the bound below is the 1e-12 the design allows for Eigen's GEMM
// kernels blocking a chunk's rows differently from the whole batch's.

#include "mace_test_util.hpp"

#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/mace/mace_backward.hpp>

#include <algorithm>
#include <cmath>

using namespace mace_test;

namespace {

struct Run {
  double energy = 0;
  std::vector<double> node_energy;
  std::vector<std::array<double, 3>> forces;
  Eigen::Matrix3d stress;
  int edge_chunks = 0, node_chunks = 0;
};

/// forward + backward of a reference structure with the host threads capped at `threads`.
Run evaluate(gm::MACEModel<double>& m, const Structure& st, int threads) {
  nernst::nn::set_host_thread_limit(threads);
  const auto s = gm::forward(m, st.x, st.lattice, st.z);
  const auto g = gm::backward(m, s, st.lattice);
  nernst::nn::set_host_thread_limit(0);
  return {s.energy, s.node_energy, g.forces, g.stress, s.chunks.edges.size(), s.chunks.nodes.size()};
}

/// Largest |a − b| / max |b| over every energy, force and stress entry of two runs.
double max_rel_gap(const Run& a, const Run& b) {
  auto rel = [](double d, double scale) { return d / std::max(scale, 1e-300); };
  double g = rel(std::abs(a.energy - b.energy), std::abs(b.energy));
  double de = 0, se = 0, df = 0, sf = 0;
  for (std::size_t i = 0; i < b.node_energy.size(); ++i) {
    de = std::max(de, std::abs(a.node_energy[i] - b.node_energy[i]));
    se = std::max(se, std::abs(b.node_energy[i]));
    for (std::size_t k = 0; k < 3; ++k) {
      df = std::max(df, std::abs(a.forces[i][k] - b.forces[i][k]));
      sf = std::max(sf, std::abs(b.forces[i][k]));
    }
  }
  g = std::max({g, rel(de, se), rel(df, sf), rel((a.stress - b.stress).cwiseAbs().maxCoeff(), b.stress.cwiseAbs().maxCoeff())});
  return g;
}

bool bitwise_equal(const Run& a, const Run& b) {
  return a.energy == b.energy && a.node_energy == b.node_energy && a.forces == b.forces && a.stress == b.stress;
}

void check_threads(const std::string& model, const std::string& structure) {
  NERNST_REQUIRE_SHARED_DATA();
  auto m = gm::make_mace_model<double>(source(model));
  const auto st = structure_of(reference(model, structure));
  const Run one = evaluate(m, st, 1);
  CHECK(one.edge_chunks == 1);
  CHECK(one.node_chunks == 1);
  const Run two = evaluate(m, st, 2);
  const Run again = evaluate(m, st, 2);
  if (nernst::nn::host_threads() >= 2) {
    CHECK(two.edge_chunks == 2);  // the threaded path is taken for edges and atoms
    CHECK(two.node_chunks == 2);
  } else {
    MESSAGE("one host thread: the threaded path of " << model << " is not exercised here");
  }
  const double gap = max_rel_gap(two, one);
  MESSAGE(model << " / " << structure << ": 2 threads vs 1, max relative gap " << gap << std::string(bitwise_equal(two, one) ? " (bitwise equal)" : ""));
  CHECK(gap <= 1e-12);
  CHECK(bitwise_equal(two, again));
  // The forces add up to zero (translation invariance) on the threaded path too.
  double fx = 0;
  for (const auto& f : two.forces) fx += f[0];
  CHECK(std::abs(fx) < 1e-9);
}

}  // namespace

TEST_CASE("MACE on 2 host threads equals 1 thread (medium model, 40 atoms) and repeats bitwise") {
  check_threads("mace-mp0a-medium-random", "li3ycl6_ordered_40");
}

TEST_CASE("MACE on 2 host threads equals 1 thread (small model, 180 atoms) and repeats bitwise") {
  check_threads("mace-small-random", "li3ycl6_supercell_180_rattled");
}

TEST_CASE("MACE convolve and convolve_backward called on their own equal the forward state's threaded ones") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string model = "mace-small-random";
  auto m = gm::make_mace_model<double>(source(model));
  const auto st = structure_of(reference(model, "li3ycl6_supercell_180_rattled"));
  nernst::nn::set_host_thread_limit(2);
  const auto s = gm::forward(m, st.x, st.lattice, st.z);
  nernst::nn::set_host_thread_limit(0);
  const auto& w = m.weights.interactions[0];
  const auto& L = s.layers[0];
  nernst::nn::set_host_thread_limit(1);  // the stand-alone overloads build their own (one-chunk) plan
  nernst::nn::RowMatrix<double> conv;
  gm::convolve(w, m.config.node_irreps(0), L.node_up, s.sh, L.tp_weights, s.graph, conv);
  CHECK(conv == L.conv);  // receiver sums in graph order: bitwise the same at any thread count
  nernst::nn::RowMatrix<double> g_conv = nernst::nn::RowMatrix<double>::Ones(L.conv.rows(), L.conv.cols());
  nernst::nn::RowMatrix<double> g_up1, g_w1, g_up2, g_w2;
  nernst::nn::RowMatrix<double> g_sh1 = nernst::nn::RowMatrix<double>::Zero(s.sh.rows(), s.sh.cols()), g_sh2 = g_sh1;
  gm::convolve_backward(w, m.config.node_irreps(0), L.node_up, s.sh, L.tp_weights, s.graph, g_conv, g_up1, g_w1, g_sh1);
  nernst::nn::set_host_thread_limit(0);
  gm::convolve_backward(w, m.config.node_irreps(0), L.node_up, s.sh, L.tp_weights, s.graph, s.chunks, g_conv, g_up2, g_w2, g_sh2);
  CHECK(g_up1 == g_up2);
  CHECK(g_w1 == g_w2);
  CHECK(g_sh1 == g_sh2);
}

TEST_CASE("MACE edge index: every edge once, grouped by atom in graph order") {
  gm::EdgeIndex idx;
  idx.build({2, 0, 2, 1, 0}, 4);
  CHECK(idx.ptr == std::vector<int>{0, 2, 3, 5, 5});
  CHECK(idx.edge == std::vector<int>{1, 4, 3, 0, 2});
}

TEST_CASE("MACE forward/backward refilling a state and workspace of another structure equal fresh ones") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string model = "mace-small-random";
  auto m = gm::make_mace_model<double>(source(model));
  const auto big = structure_of(reference(model, "li3ycl6_supercell_180_rattled"));
  const auto small = structure_of(reference(model, "li3ycl6_ordered_40"));
  gm::ForwardState<double> s;
  gm::BackwardWorkspace<double> ws;
  for (const auto* st : {&big, &small, &small, &big}) {
    gm::forward(m, gm::build_mace_graph(st->x, st->lattice, m.config.r_max), st->z, s);
    const auto g = gm::backward(m, s, st->lattice, ws);
    const auto fresh = gm::forward(m, st->x, st->lattice, st->z);
    const auto gf = gm::backward(m, fresh, st->lattice);
    CHECK(s.energy == fresh.energy);
    CHECK(s.node_energy == fresh.node_energy);
    CHECK(g.forces == gf.forces);
    CHECK(g.stress == gf.stress);
  }
  // A forward pass that fails part-way (an element the model lacks) leaves the state incomplete:
  // the reverse pass refuses it instead of using the previous structure's intermediates.
  auto bad = small.z;
  bad[0] = 118;
  CHECK_THROWS(gm::forward(m, gm::build_mace_graph(small.x, small.lattice, m.config.r_max), bad, s));
  CHECK_THROWS_AS(gm::backward(m, s, small.lattice, ws), nernst::ValueError);
}
