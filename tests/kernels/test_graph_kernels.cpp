// Gathers, segmented sums and the force reduction as Kokkos kernels
// (potential/graphnet/graph_kernels.hpp) in the default execution space (the GPU in a CUDA build),
// against the host's serial loops (gather_scatter.hpp), which sum in the same order: the kernels'
// results must be the same bits.
#include "kernel_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/gather_scatter.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/graph_kernels.hpp>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

using namespace kernel_test;
using nernst::nn::RowMatrix;
namespace gn = nernst::graphnet;

namespace {

/// A random graph on `natoms` atoms with `edges` edges, sources in non-decreasing order (as the
/// graph builders make them), a few edges from an atom to its own image.
gn::PeriodicGraph random_graph(std::mt19937& rng, int natoms, int edges) {
  std::uniform_int_distribution<int> atom(0, natoms - 1);
  gn::PeriodicGraph g;
  for (int e = 0; e < edges; ++e) {
    g.src.push_back(atom(rng));
    g.dst.push_back(e % 97 == 0 ? -1 : atom(rng));
    g.image.push_back({0, 0, e % 97 == 0 ? 1 : 0});
    g.distance.push_back(1.0);
  }
  std::sort(g.src.begin(), g.src.end());
  for (int e = 0; e < edges; ++e)
    if (g.dst[static_cast<std::size_t>(e)] < 0) g.dst[static_cast<std::size_t>(e)] = g.src[static_cast<std::size_t>(e)];
  return g;
}

bool bitwise_equal(const RowMatrix<double>& a, const RowMatrix<double>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && (a.array() == b.array()).all();
}

}  // namespace

TEST_CASE("gather_sum2 kernel: the host gather's rows, bit for bit") {
  std::mt19937 rng(21);
  const auto g = random_graph(rng, 40, 900);
  const auto P = random_matrix(rng, 40, 24), Q = random_matrix(rng, 40, 24);
  RowMatrix<double> ref(900, 24);
  gn::gather_sum2(ref, P, g.src.data(), Q, g.dst.data());
  View2<double> z("z", 900, 24);
  gn::gather_sum2(ES(), z, to_view<double>(P), to_view(g.src), to_view<double>(Q), to_view(g.dst));
  CHECK(bitwise_equal(to_matrix(z), ref));
}

TEST_CASE("segment_sum kernel: the serial scatter onto atoms, bit for bit") {
  std::mt19937 rng(22);
  const auto g = random_graph(rng, 50, 1500);
  const auto Y = random_matrix(rng, 1500, 16);
  RowMatrix<double> S0 = random_matrix(rng, 50, 16), ref = S0;
  gn::scatter_add_rows(ref, g.dst.data(), Y);
  const gn::Segments<MS> by_dst(g.dst, 50);
  auto s = to_view<double>(S0);
  gn::segment_sum(ES(), s, by_dst, to_view<double>(Y));
  CHECK(bitwise_equal(to_matrix(s), ref));
  // In float too (its own serial reference).
  RowMatrix<float> Sf = S0.cast<float>();
  const RowMatrix<float> Yf = Y.cast<float>();
  gn::scatter_add_rows(Sf, g.dst.data(), Yf);
  auto sf = to_view<float>(S0);
  gn::segment_sum(ES(), sf, by_dst, to_view<float>(Y));
  CHECK(bitwise_equal(to_matrix(sf), Sf.cast<double>()));
}

TEST_CASE("edge_gradients_to_forces kernel: forces bit for bit, virial as the serial sum") {
  std::mt19937 rng(23);
  for (const int edges : {2000, 3 * gn::kVirialBlock + 123}) {
    const int natoms = 60;
    const auto g = random_graph(rng, natoms, edges);
    const auto G = random_matrix(rng, edges, 3), R = random_matrix(rng, edges, 3, 3.0);
    std::vector<std::array<double, 3>> fref;
    Eigen::Matrix3d wref;
    gn::edge_gradients_to_forces(g, G, R, natoms, fref, wref);
    const gn::IncidentEdges<MS> incident(g.src, g.dst, natoms);
    View2<double> f("f", natoms, 3);
    const Eigen::Matrix3d w = gn::edge_gradients_to_forces(ES(), incident, to_view<double>(G), to_view<double>(R), f);
    const auto F = to_matrix(f);
    bool same = true;
    for (int i = 0; i < natoms; ++i)
      for (int c = 0; c < 3; ++c)
        same = same && F(i, c) == fref[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)];
    CHECK(same);
    if (edges <= gn::kVirialBlock)
      CHECK((w.array() == wref.array()).all());  // one block: the serial sum itself
    else
      CHECK((w - wref).cwiseAbs().maxCoeff() <= 1e-13 * wref.cwiseAbs().maxCoeff());
    // Float gradients: forces and virial still summed in double, as the host's.
    const RowMatrix<float> Gf = G.cast<float>(), Rf = R.cast<float>();
    gn::edge_gradients_to_forces(g, Gf, Rf, natoms, fref, wref);
    const Eigen::Matrix3d wf = gn::edge_gradients_to_forces(ES(), incident, to_view<float>(G), to_view<float>(R), f);
    const auto Ff = to_matrix(f);
    same = true;
    for (int i = 0; i < natoms; ++i)
      for (int c = 0; c < 3; ++c)
        same = same && Ff(i, c) == fref[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)];
    CHECK(same);
    CHECK((wf - wref).cwiseAbs().maxCoeff() <= 1e-13 * wref.cwiseAbs().maxCoeff());
  }
}

TEST_CASE("segments refuse keys outside their range with a clear error") {
  CHECK_THROWS_WITH_AS(gn::Segments<MS>(std::vector<int>{0, 3, 1}, 3),
                       doctest::Contains("entry 1 has key 3, outside [0, 3)"), nernst::ValueError);
  CHECK_THROWS_WITH_AS(gn::IncidentEdges<MS>(std::vector<int>{0, 1}, std::vector<int>{1, 5}, 2),
                       doctest::Contains("edge 1 has destination 5"), nernst::ValueError);
  const gn::IncidentEdges<MS> incident(std::vector<int>{0, 1}, std::vector<int>{1, 0}, 2);
  View2<double> g("g", 3, 3), r("r", 3, 3), f("f", 2, 3);
  CHECK_THROWS_AS(gn::edge_gradients_to_forces(ES(), incident, g, r, f), nernst::ValueError);
}
