// matgl's gated MLP as Kokkos kernels (nn/gated_mlp_kernel.hpp) against nn::GatedMLP (Eigen),
// forward and reverse, in the default execution space (the GPU in a CUDA build).
#include "kernel_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/gated_mlp_kernel.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace kernel_test;
using nernst::nn::GatedMLP;
using nernst::nn::GatedMLPCache;
using nernst::nn::GatedMLPKernel;
using nernst::nn::GatedMLPScratch;
using nernst::nn::Linear;
using nernst::nn::RowMatrix;

namespace {
GatedMLP<double> random_gated(std::mt19937& rng, const std::vector<long>& dims, bool activate_last) {
  std::vector<Linear<double>> l, g;
  for (std::size_t k = 0; k + 1 < dims.size(); ++k)
    for (auto* v : {&l, &g})
      v->emplace_back(random_matrix(rng, dims[k + 1], dims[k], 1.0 / std::sqrt(double(dims[k]))),
                      Eigen::Matrix<double, 1, Eigen::Dynamic>(random_matrix(rng, 1, dims[k + 1], 0.3)));
  return GatedMLP<double>(std::move(l), std::move(g), activate_last);
}
}  // namespace

TEST_CASE("gated MLP kernel: forward and reverse as nn::GatedMLP (M3GNet's shapes, one to three layers)") {
  std::mt19937 rng(31);
  struct Case {
    std::vector<long> dims;
    bool activate_last;
  };
  for (const auto& c : {Case{{9, 64}, false}, Case{{192, 64, 64}, true}, Case{{64, 64, 64, 1}, false}}) {
    CAPTURE(c.dims.size());
    const auto host = random_gated(rng, c.dims, c.activate_last);
    const long B = 211, in = c.dims.front(), out = c.dims.back();
    const auto X = random_matrix(rng, B, in), dY = random_matrix(rng, B, out);
    GatedMLPCache<double> cache;
    GatedMLPScratch<double> scratch;
    RowMatrix<double> Yref(B, out), dXref(B, in);
    host.forward(X, cache, Yref);
    host.backward(dY, cache, scratch, dXref);

    GatedMLPKernel<double> dev(host);
    View2<double> y("y", B, out), dx("dx", B, in);
    dev.forward(ES(), to_view<double>(X), y);
    dev.backward(ES(), to_view<double>(dY), dx);
    CHECK(relative_difference(to_matrix(y), Yref) < 1e-13);
    CHECK(relative_difference(to_matrix(dx), dXref) < 1e-13);

    // Again on a smaller batch with the grown buffers, and accumulating into dX.
    const auto X2 = X.topRows(50).eval(), dY2 = dY.topRows(50).eval();
    RowMatrix<double> Y2ref(50, out), dX2ref = random_matrix(rng, 50, in);
    const RowMatrix<double> dX2start = dX2ref;
    host.forward(X2, cache, Y2ref);
    host.backward(dY2, cache, scratch, dX2ref, true);
    View2<double> y2("y2", 50, out);
    auto dx2 = to_view<double>(dX2start);
    dev.forward(ES(), to_view<double>(X2), y2);
    dev.backward(ES(), to_view<double>(dY2), dx2, true);
    CHECK(relative_difference(to_matrix(y2), Y2ref) < 1e-13);
    CHECK(relative_difference(to_matrix(dx2), dX2ref) < 1e-13);
  }
}

TEST_CASE("gated MLP kernel in float: the double network's output to float rounding") {
  std::mt19937 rng(32);
  const auto host = random_gated(rng, {64, 64, 64}, true);
  const auto X = random_matrix(rng, 128, 64);
  GatedMLPCache<double> cache;
  RowMatrix<double> Yref(128, 64);
  host.forward(X, cache, Yref);
  std::vector<Linear<float>> l, g;
  for (std::size_t k = 0; k < host.depth(); ++k) {
    l.push_back(host.layer(k).cast<float>());
    g.push_back(host.gate(k).cast<float>());
  }
  GatedMLPKernel<float> dev(GatedMLP<float>(l, g, true));
  View2<float> y("y", 128, 64);
  dev.forward(ES(), to_view<float>(X), y);
  CHECK(relative_difference(to_matrix(y), Yref) < 1e-5);
}

TEST_CASE("gated MLP kernel refuses a wrong output shape and a batch it did not see") {
  std::mt19937 rng(33);
  const auto host = random_gated(rng, {8, 4}, false);
  GatedMLPKernel<double> dev(host);
  View2<double> x("x", 10, 8), y("y", 10, 4), bad("bad", 10, 3);
  CHECK_THROWS_WITH_AS(dev.forward(ES(), x, bad), doctest::Contains("Y is 10 x 3, expected 10 x 4"),
                       nernst::ValueError);
  dev.forward(ES(), x, y);
  View2<double> dy("dy", 7, 4), dx("dx", 7, 8);
  CHECK_THROWS_WITH_AS(dev.backward(ES(), dy, dx), doctest::Contains("the last forward had 10 rows"),
                       nernst::ValueError);
}
