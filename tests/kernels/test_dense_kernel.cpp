// Dense layers as Kokkos kernels (nn/dense_kernel.hpp) in the default execution space (the GPU in a
// CUDA build): against nn::Linear's Eigen GEMMs, central finite differences for the activations,
// bitwise equality across repeated runs, and across row tiles where the kernels run on a device (on
// host threads each tile is one Eigen GEMM, and the tiles are fixed by the row count: other tiles
// round differently, the same tile the same).
#include "kernel_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/nn/dense_kernel.hpp>
#include <nernst/nn/linear.hpp>

#include <cmath>
#include <random>

using namespace kernel_test;
using nernst::nn::Activation;
using nernst::nn::DenseWeights;
using nernst::nn::Linear;
using nernst::nn::RowMatrix;

namespace {

Linear<double> random_linear(std::mt19937& rng, long in, long out, bool bias) {
  Eigen::Matrix<double, 1, Eigen::Dynamic> b;
  if (bias) b = random_matrix(rng, 1, out, 0.3);
  return Linear<double>(random_matrix(rng, out, in, 1.0 / std::sqrt(double(in))), b);
}

RowMatrix<double> silu(const RowMatrix<double>& z) {
  return z.unaryExpr([](double v) { return v / (1.0 + std::exp(-v)); });
}

bool bitwise_equal(const RowMatrix<double>& a, const RowMatrix<double>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && (a.array() == b.array()).all();
}

/// Results of two row tiles: the same bits on a device (one thread per output, summed in order),
/// equal to rounding on the host (Eigen GEMMs of other shapes).
bool same_across_tiles(const RowMatrix<double>& a, const RowMatrix<double>& b) {
  if (!nernst::runs_on_host_v<ES>) return bitwise_equal(a, b);
  return a.rows() == b.rows() && a.cols() == b.cols() && relative_difference(a, b) < 1e-15;
}

}  // namespace

TEST_CASE("dense kernel forward: X Wᵀ + b and SiLU as nn::Linear for every row tile, the same bits on every run") {
  std::mt19937 rng(11);
  for (const bool bias : {true, false}) {
    const auto layer = random_linear(rng, 37, 23, bias);
    const auto X = random_matrix(rng, 101, 37);
    RowMatrix<double> Zref(101, 23);
    layer.forward(X, Zref);
    const DenseWeights<double, MS> w(layer);
    const auto x = to_view<double>(X);
    RowMatrix<double> first_z, first_a;
    for (const int tile : {0, 1, 5, 32}) {
      View2<double> z("z", 101, 23), a("a", 101, 23);
      nernst::nn::dense_forward(ES(), x, w, z, a, Activation::silu, false, tile);
      const auto Z = to_matrix(z), A = to_matrix(a);
      CHECK(relative_difference(Z, Zref) < 1e-14);
      CHECK(relative_difference(A, silu(Zref)) < 1e-14);
      if (tile == 0) {
        first_z = Z;
        first_a = A;
      } else {
        CHECK(same_across_tiles(Z, first_z));
        CHECK(same_across_tiles(A, first_a));
      }
    }
    // Again, same inputs: the same bits.
    View2<double> z("z", 101, 23), a;
    nernst::nn::dense_forward(ES(), x, w, z, a);
    CHECK(bitwise_equal(to_matrix(z), first_z));
    // accumulate: Z += X Wᵀ (no bias added a second time).
    nernst::nn::dense_forward(ES(), x, w, z, a, Activation::identity, true);
    RowMatrix<double> twice = 2.0 * Zref;
    if (bias) twice.rowwise() -= layer.bias;
    CHECK(relative_difference(to_matrix(z), twice) < 1e-14);
  }
}

TEST_CASE("dense kernel forward in float agrees with the double GEMM to float rounding") {
  std::mt19937 rng(12);
  const auto layer = random_linear(rng, 64, 48, true);
  const auto X = random_matrix(rng, 300, 64);
  RowMatrix<double> Zref(300, 48);
  layer.forward(X, Zref);
  const DenseWeights<float, MS> w(layer.cast<float>());
  View2<float> z("z", 300, 48), a("a", 300, 48);
  nernst::nn::dense_forward(ES(), to_view<float>(X), w, z, a, Activation::sigmoid);
  CHECK(relative_difference(to_matrix(z), Zref) < 2e-6);
  const RowMatrix<double> S = Zref.unaryExpr([](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  CHECK(relative_difference(to_matrix(a), S) < 2e-6);
}

TEST_CASE("dense kernel reverse: dX = dZ W as nn::Linear::backward, accumulate adds") {
  std::mt19937 rng(13);
  const auto layer = random_linear(rng, 29, 40, true);
  const auto dZ = random_matrix(rng, 77, 40);
  RowMatrix<double> dXref(77, 29);
  layer.backward(dZ, dXref);
  const DenseWeights<double, MS> w(layer);
  const auto dz = to_view<double>(dZ);
  View2<double> dx("dx", 77, 29);
  nernst::nn::dense_input_gradient(ES(), dz, w, dx);
  const auto dX = to_matrix(dx);
  CHECK(relative_difference(dX, dXref) < 1e-14);
  View2<double> dx3("dx3", 77, 29);
  nernst::nn::dense_input_gradient(ES(), dz, w, dx3, false, 3);
  CHECK(same_across_tiles(to_matrix(dx3), dX));
  View2<double> again("again", 77, 29);
  nernst::nn::dense_input_gradient(ES(), dz, w, again);
  CHECK(bitwise_equal(to_matrix(again), dX));
  nernst::nn::dense_input_gradient(ES(), dz, w, dx, true);
  CHECK(relative_difference(to_matrix(dx), 2.0 * dXref) < 1e-14);
}

TEST_CASE("activation reverse: dZ = dA ⊙ a'(Z) against central finite differences") {
  std::mt19937 rng(14);
  const auto Z = random_matrix(rng, 13, 9, 2.0);
  const auto dA = random_matrix(rng, 13, 9);
  for (const auto act : {Activation::identity, Activation::silu, Activation::sigmoid}) {
    View2<double> dz("dz", 13, 9);
    nernst::nn::activation_reverse(ES(), act, to_view<double>(Z), to_view<double>(dA), dz);
    const auto dZ = to_matrix(dz);
    const double h = 1e-5;
    double worst = 0;
    for (long i = 0; i < Z.rows(); ++i)
      for (long j = 0; j < Z.cols(); ++j) {
        const double fd = (nernst::nn::activate(act, Z(i, j) + h) - nernst::nn::activate(act, Z(i, j) - h)) / (2 * h);
        worst = std::max(worst, std::abs(dZ(i, j) - dA(i, j) * fd));
      }
    CHECK(worst < 1e-9);
  }
}

TEST_CASE("dense kernel parameter gradients: dW += dZᵀ X, db += Σ dZ as nn::Linear") {
  std::mt19937 rng(15);
  const auto layer = random_linear(rng, 17, 11, true);
  const auto X = random_matrix(rng, 250, 17);
  const auto dZ = random_matrix(rng, 250, 11);
  RowMatrix<double> dWref = random_matrix(rng, 11, 17);
  Eigen::Matrix<double, 1, Eigen::Dynamic> dbref = random_matrix(rng, 1, 11);
  const auto dW = to_view<double>(dWref);
  const auto db = Kokkos::subview(to_view<double>(RowMatrix<double>(dbref)), 0, Kokkos::ALL);
  layer.accumulate_parameter_gradients(X, dZ, dWref, dbref);
  nernst::nn::dense_parameter_gradients(ES(), to_view<double>(X), to_view<double>(dZ), dW, db);
  CHECK(relative_difference(to_matrix(dW), dWref) < 1e-13);
  auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), db);
  RowMatrix<double> got(1, 11);
  for (int o = 0; o < 11; ++o) got(0, o) = hb(o);
  CHECK(relative_difference(got, dbref) < 1e-13);
}

TEST_CASE("dense kernels refuse mismatched shapes with a clear error") {
  std::mt19937 rng(16);
  const DenseWeights<double, MS> w(random_linear(rng, 8, 4, true));
  View2<double> x("x", 10, 7), z("z", 10, 4), a;
  CHECK_THROWS_WITH_AS(nernst::nn::dense_forward(ES(), x, w, z, a),
                       doctest::Contains("X has 7 columns, the layer 8 inputs"), nernst::ValueError);
  View2<double> x8("x8", 10, 8), z5("z5", 9, 4);
  CHECK_THROWS_WITH_AS(nernst::nn::dense_forward(ES(), x8, w, z5, a), doctest::Contains("Z is 9 x 4, expected 10 x 4"),
                       nernst::ValueError);
  View2<double> dx("dx", 10, 8);
  CHECK_THROWS_AS(nernst::nn::dense_input_gradient(ES(), x8, w, dx), nernst::ValueError);
}
