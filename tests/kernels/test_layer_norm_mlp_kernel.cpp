// nn::LayerNorm and nn::MLP as Kokkos kernels (nn/layer_norm_kernel.hpp, nn/mlp_kernel.hpp) against
// the Eigen layers, forward and reverse, in the default execution space (the GPU in a CUDA build).
#include "kernel_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/layer_norm.hpp>
#include <nernst/nn/layer_norm_kernel.hpp>
#include <nernst/nn/mlp.hpp>
#include <nernst/nn/mlp_kernel.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

using namespace kernel_test;
using nernst::nn::LayerNorm;
using nernst::nn::LayerNormKernel;
using nernst::nn::Linear;
using nernst::nn::MLP;
using nernst::nn::MLPCache;
using nernst::nn::MLPKernel;
using nernst::nn::RowMatrix;

namespace {
using Row = Eigen::Matrix<double, 1, Eigen::Dynamic>;

LayerNorm<double> random_norm(std::mt19937& rng, const long D) {
  Row w = (Row::Ones(D) + Row(random_matrix(rng, 1, D, 0.4))).eval();
  return LayerNorm<double>(w, Row(random_matrix(rng, 1, D, 0.5)), 1e-5);
}

/// Host kernels share the host LayerNorm's arithmetic bit for bit; a GPU compiler may contract a
/// multiply and an add into an FMA, so there the results agree to rounding.
template <class Scalar>
void check_same(const RowMatrix<double>& kernel, const RowMatrix<double>& host) {
  if constexpr (nernst::runs_on_host_v<ES>) {
    CHECK(kernel == host);
  } else {
    const double d = relative_difference(kernel, host);
    CAPTURE(d);
    CHECK(d < (sizeof(Scalar) == 8 ? 1e-14 : 1e-6));
  }
}

template <class Scalar>
void layer_norm_against_host(std::mt19937& rng, const long B, const long D) {
  const auto host = random_norm(rng, D).cast<Scalar>();
  // Offset and scaled rows: the mean and the variance both matter.
  const RowMatrix<double> X = (random_matrix(rng, B, D, 3.0).array() + 1.5).matrix(), dY = random_matrix(rng, B, D);
  RowMatrix<Scalar> Y = X.cast<Scalar>(), dX = dY.cast<Scalar>(), xhat(B, D);
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> rstd(B);
  host.forward(Y, xhat, rstd);
  host.backward(dX, xhat, rstd);

  LayerNormKernel<Scalar> dev(host);
  CHECK(dev.features() == D);
  CHECK_FALSE(dev.empty());
  auto x = to_view<Scalar>(X);
  auto dy = to_view<Scalar>(dY);
  dev.forward(ES(), x);
  dev.backward(ES(), dy);
  check_same<Scalar>(to_matrix(x), Y.template cast<double>());
  check_same<Scalar>(to_matrix(dy), dX.template cast<double>());
  check_same<Scalar>(to_matrix(dev.xhat()), xhat.template cast<double>());
}
}  // namespace

TEST_CASE("LayerNorm kernel: forward and reverse as nn::LayerNorm (bitwise on host threads), double and float") {
  std::mt19937 rng(41);
  // (a named array and no structured bindings: nvcc 11 deduces neither an initializer list of
  // pairs nor a captured binding)
  const std::vector<std::pair<long, long>> shapes{{97, 64}, {33, 13}, {5, 3}, {1, 8}};
  for (const auto& shape : shapes) {
    const long B = shape.first, D = shape.second;
    CAPTURE(B);
    CAPTURE(D);
    layer_norm_against_host<double>(rng, B, D);
    layer_norm_against_host<float>(rng, B, D);
  }
}

TEST_CASE("LayerNorm kernel: the reverse is the forward's derivative (finite differences)") {
  std::mt19937 rng(42);
  const long B = 4, D = 11;
  LayerNormKernel<double> dev(random_norm(rng, D));
  const RowMatrix<double> X = random_matrix(rng, B, D, 2.0), W = random_matrix(rng, B, D);
  // L(X) = Σ W ⊙ LN(X): its gradient is backward(W).
  const auto loss = [&](const RowMatrix<double>& x) {
    auto v = to_view<double>(x);
    dev.forward(ES(), v);
    return to_matrix(v).cwiseProduct(W).sum();
  };
  loss(X);
  auto g = to_view<double>(W);
  dev.backward(ES(), g);
  const RowMatrix<double> grad = to_matrix(g);
  const double h = 1e-6;
  double worst = 0;
  for (long i = 0; i < B; ++i)
    for (long k = 0; k < D; ++k) {
      RowMatrix<double> xp = X, xm = X;
      xp(i, k) += h;
      xm(i, k) -= h;
      const double fd = (loss(xp) - loss(xm)) / (2 * h);
      worst = std::max(worst, std::abs(fd - grad(i, k)));
    }
  CAPTURE(worst);
  CHECK(worst < 1e-7 * grad.cwiseAbs().maxCoeff());
}

TEST_CASE("LayerNorm kernel on a column range of a wider array (a strided subview), in place") {
  std::mt19937 rng(43);
  const long B = 29, D = 16;
  const auto host = random_norm(rng, D);
  const RowMatrix<double> A = random_matrix(rng, B, 3 * D, 2.0), dA = random_matrix(rng, B, 3 * D);
  RowMatrix<double> Y = A.middleCols(D, D), dX = dA.middleCols(D, D), xhat(B, D);
  Eigen::VectorXd rstd(B);
  host.forward(Y, xhat, rstd);
  host.backward(dX, xhat, rstd);

  LayerNormKernel<double> dev(host);
  auto a = to_view<double>(A);
  auto da = to_view<double>(dA);
  const auto mid = std::make_pair(static_cast<int>(D), static_cast<int>(2 * D));
  dev.forward(ES(), Kokkos::subview(a, Kokkos::ALL, mid));
  dev.backward(ES(), Kokkos::subview(da, Kokkos::ALL, mid));
  const RowMatrix<double> ah = to_matrix(a), dah = to_matrix(da);
  check_same<double>(ah.middleCols(D, D), Y);
  check_same<double>(dah.middleCols(D, D), dX);
  // The other columns are untouched.
  CHECK(ah.leftCols(D) == A.leftCols(D));
  CHECK(ah.rightCols(D) == A.rightCols(D));
  CHECK(dah.leftCols(D) == dA.leftCols(D));
  CHECK(dah.rightCols(D) == dA.rightCols(D));
}

TEST_CASE("LayerNorm kernel refuses a wrong width, a gradient the last forward did not see, and an empty norm") {
  std::mt19937 rng(44);
  LayerNormKernel<double> dev(random_norm(rng, 8));
  View2<double> x("x", 10, 8), bad("bad", 10, 7), dy("dy", 9, 8);
  CHECK_THROWS_WITH_AS(dev.forward(ES(), bad), doctest::Contains("X has 7 columns, the norm 8 features"),
                       nernst::ValueError);
  dev.forward(ES(), x);
  CHECK(dev.batch() == 10);
  CHECK_THROWS_WITH_AS(dev.backward(ES(), dy), doctest::Contains("the last forward had 10 rows of 8 features"),
                       nernst::ValueError);
  CHECK_THROWS_WITH_AS(dev.backward(ES(), bad), doctest::Contains("dY of 10 x 7"), nernst::ValueError);
  LayerNormKernel<double> none{LayerNorm<double>()};
  CHECK(none.empty());
  CHECK(LayerNormKernel<double>().empty());
  CHECK_THROWS_AS(none.forward(ES(), x), nernst::ValueError);
}

namespace {
MLP<double> random_mlp(std::mt19937& rng, const std::vector<long>& dims) {
  std::vector<Linear<double>> l;
  for (std::size_t k = 0; k + 1 < dims.size(); ++k)
    l.emplace_back(random_matrix(rng, dims[k + 1], dims[k], 1.0 / std::sqrt(double(dims[k]))),
                   Row(random_matrix(rng, 1, dims[k + 1], 0.3)));
  return MLP<double>(std::move(l));
}
}  // namespace

TEST_CASE("MLP kernel: forward and reverse as nn::MLP (CHGNet's readout; one and three layers)") {
  std::mt19937 rng(45);
  for (const auto& dims :
       {std::vector<long>{64, 1}, std::vector<long>{64, 64, 64, 1}, std::vector<long>{9, 32, 17, 5}}) {
    CAPTURE(dims.size());
    const auto host = random_mlp(rng, dims);
    MLPKernel<double> dev(host);
    CHECK(dev.depth() == dims.size() - 1);
    CHECK(dev.in_features() == dims.front());
    CHECK(dev.out_features() == dims.back());
    const long in = dims.front(), out = dims.back();
    for (const long B : {157L, 40L}) {  // the second batch reuses the grown arrays
      CAPTURE(B);
      const auto X = random_matrix(rng, B, in), dY = random_matrix(rng, B, out);
      MLPCache<double> cache;
      RowMatrix<double> Yref(B, out), dXref(B, in), dXacc = random_matrix(rng, B, in);
      const RowMatrix<double> dXstart = dXacc;
      host.forward(X, cache, Yref);
      host.backward(dY, cache, dXref);
      host.backward(dY, cache, dXacc, true);

      View2<double> y("y", B, out), dx("dx", B, in);
      auto dxacc = to_view<double>(dXstart);
      dev.forward(ES(), to_view<double>(X), y);
      dev.backward(ES(), to_view<double>(dY), dx);
      dev.backward(ES(), to_view<double>(dY), dxacc, true);
      CHECK(relative_difference(to_matrix(y), Yref) < 1e-13);
      CHECK(relative_difference(to_matrix(dx), dXref) < 1e-13);
      CHECK(relative_difference(to_matrix(dxacc), dXacc) < 1e-13);
    }
  }
}

TEST_CASE("MLP kernel in float, and its shape errors") {
  std::mt19937 rng(46);
  const auto host = random_mlp(rng, {16, 32, 3});
  const auto X = random_matrix(rng, 50, 16);
  MLPCache<double> cache;
  RowMatrix<double> Yref(50, 3);
  host.forward(X, cache, Yref);
  MLPKernel<float> devf(host.cast<float>());
  View2<float> yf("yf", 50, 3);
  devf.forward(ES(), to_view<float>(X), yf);
  CHECK(relative_difference(to_matrix(yf), Yref) < 1e-5);

  MLPKernel<double> dev(host);
  View2<double> x("x", 10, 16), y("y", 10, 3), xbad("xbad", 10, 15), ybad("ybad", 10, 4);
  CHECK_THROWS_WITH_AS(dev.forward(ES(), xbad, y), doctest::Contains("X has 15 columns, the MLP 16 inputs"),
                       nernst::ValueError);
  CHECK_THROWS_WITH_AS(dev.forward(ES(), x, ybad), doctest::Contains("Y is 10 x 4, expected 10 x 3"),
                       nernst::ValueError);
  dev.forward(ES(), x, y);
  View2<double> dy("dy", 7, 3), dx("dx", 10, 16), dxbad("dxbad", 10, 15);
  CHECK_THROWS_WITH_AS(dev.backward(ES(), dy, dx), doctest::Contains("the last forward had 10 rows"),
                       nernst::ValueError);
  CHECK_THROWS_WITH_AS(dev.backward(ES(), y, dxbad), doctest::Contains("backward into 10 x 15"), nernst::ValueError);
}
