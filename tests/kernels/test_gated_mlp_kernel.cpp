// matgl's gated MLP as Kokkos kernels (nn/gated_mlp_kernel.hpp) against nn::GatedMLP (Eigen),
// forward and reverse, in the default execution space (the GPU in a CUDA build).
#include "kernel_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/gated_mlp_kernel.hpp>

#include <algorithm>
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

namespace {
/// Random output norms with non-trivial γ (around 1) and β.
void add_random_norms(std::mt19937& rng, GatedMLP<double>& g) {
  using Row = Eigen::Matrix<double, 1, Eigen::Dynamic>;
  const long h = g.out_features();
  auto norm = [&] {
    Row w = (Row::Ones(h) + Row(random_matrix(rng, 1, h, 0.4))).eval();
    return nernst::nn::LayerNorm<double>(w, Row(random_matrix(rng, 1, h, 0.5)), 1e-5);
  };
  auto core = norm();
  auto gate = norm();
  g.set_output_norms(core, gate);
}

/// Host mirror of a device view, filled from an Eigen matrix (the view may be a row range).
template <class V>
void fill_view(const V& v, const RowMatrix<double>& m) {
  auto h = Kokkos::create_mirror_view(v);
  for (long i = 0; i < m.rows(); ++i)
    for (long j = 0; j < m.cols(); ++j) h(i, j) = static_cast<typename V::non_const_value_type>(m(i, j));
  Kokkos::deep_copy(v, h);
}

/// Kernel against host for a gated MLP with output norms, through forward/backward and through
/// first_preactivation/forward_tail/backward_tail. Returns the largest relative difference.
template <class Scalar>
double compare_normed(const GatedMLP<double>& host_double, std::mt19937& rng, const long B) {
  const auto host = host_double.cast<Scalar>();
  const long in = host.in_features(), out = host.out_features();
  const RowMatrix<double> X = random_matrix(rng, B, in), dY = random_matrix(rng, B, out);
  const RowMatrix<Scalar> Xs = X.cast<Scalar>(), dYs = dY.cast<Scalar>();
  GatedMLPCache<Scalar> cache;
  GatedMLPScratch<Scalar> scratch;
  RowMatrix<Scalar> Yref(B, out), dXref(B, in);
  host.forward(Xs, cache, Yref);
  host.backward(dYs, cache, scratch, dXref);

  GatedMLPKernel<Scalar> dev(host);
  CHECK(dev.has_output_norms());
  View2<Scalar> y("y", B, out), dx("dx", B, in);
  dev.forward(ES(), to_view<Scalar>(X), y);
  dev.backward(ES(), to_view<Scalar>(dY), dx);
  double worst = relative_difference(to_matrix(y), Yref.template cast<double>());
  worst = std::max(worst, relative_difference(to_matrix(dx), dXref.template cast<double>()));

  // The caller fills the first-layer pre-activations (as M3GNet's/CHGNet's convolutions do).
  auto Z1 = host.first_preactivation(cache, B);
  host.first_layer().forward(Xs, Z1);
  const RowMatrix<double> Z1start = Z1.template cast<double>();
  RowMatrix<Scalar> Ytail(B, out);
  host.forward_tail(cache, Ytail);
  const RowMatrix<double> dZ1ref = host.backward_tail(dYs, cache, scratch).template cast<double>();
  fill_view(dev.first_preactivation(static_cast<int>(B)), Z1start);
  View2<Scalar> ytail("ytail", B, out);
  dev.forward_tail(ES(), ytail);
  const auto dz1 = dev.backward_tail(ES(), to_view<Scalar>(dY));
  worst = std::max(worst, relative_difference(to_matrix(ytail), Ytail.template cast<double>()));
  worst = std::max(worst, relative_difference(to_matrix(dz1), dZ1ref));
  return worst;
}
}  // namespace

TEST_CASE("gated MLP kernel with output LayerNorms (CHGNet's gMLP_norm) as nn::GatedMLP, double and float") {
  std::mt19937 rng(34);
  struct Case {
    std::vector<long> dims;
    bool activate_last;
  };
  for (const auto& c : {Case{{24, 16}, true}, Case{{24, 16}, false}, Case{{40, 64, 64}, true},
                        Case{{40, 64, 13}, false}}) {
    CAPTURE(c.dims.size());
    CAPTURE(c.activate_last);
    auto host = random_gated(rng, c.dims, c.activate_last);
    add_random_norms(rng, host);
    const double d = compare_normed<double>(host, rng, 173);
    CAPTURE(d);
    CHECK(d < 1e-13);
    const double f = compare_normed<float>(host, rng, 91);
    CAPTURE(f);
    CHECK(f < 1e-5);
    MESSAGE("gated MLP with output norms, depth " << c.dims.size() - 1 << ", activate_last " << c.activate_last
                                                       << ": kernel vs host, double " << d << ", float " << f);
    // The norms change the result (so the comparison above is not blind to them).
    GatedMLPKernel<double> with(host);
    std::vector<Linear<double>> l, g;
    for (std::size_t k = 0; k < host.depth(); ++k) {
      l.push_back(host.layer(k));
      g.push_back(host.gate(k));
    }
    GatedMLPKernel<double> without(GatedMLP<double>(l, g, c.activate_last));
    CHECK_FALSE(without.has_output_norms());
    const auto X = random_matrix(rng, 20, c.dims.front());
    View2<double> y1("y1", 20, c.dims.back()), y2("y2", 20, c.dims.back());
    with.forward(ES(), to_view<double>(X), y1);
    without.forward(ES(), to_view<double>(X), y2);
    CHECK(relative_difference(to_matrix(y1), to_matrix(y2)) > 1e-3);
  }
}

TEST_CASE("gated MLP kernel with output norms: a copy keeps its own arrays, a smaller batch reuses them") {
  std::mt19937 rng(35);
  auto host = random_gated(rng, {12, 16, 8}, true);
  add_random_norms(rng, host);
  GatedMLPKernel<double> dev(host);
  for (const long B : {64L, 10L}) {
    const auto X = random_matrix(rng, B, 12), dY = random_matrix(rng, B, 8);
    GatedMLPCache<double> cache;
    GatedMLPScratch<double> scratch;
    RowMatrix<double> Yref(B, 8), dXref = random_matrix(rng, B, 12);
    const RowMatrix<double> dXstart = dXref;
    host.forward(X, cache, Yref);
    host.backward(dY, cache, scratch, dXref, true);
    auto copy = dev;
    View2<double> y("y", B, 8);
    auto dx = to_view<double>(dXstart);
    copy.forward(ES(), to_view<double>(X), y);
    dev.forward(ES(), to_view<double>(random_matrix(rng, B, 12)), y);  // the original's arrays only
    copy.backward(ES(), to_view<double>(dY), dx, true);
    copy.forward(ES(), to_view<double>(X), y);
    CHECK(relative_difference(to_matrix(y), Yref) < 1e-13);
    CHECK(relative_difference(to_matrix(dx), dXref) < 1e-13);
  }
}
