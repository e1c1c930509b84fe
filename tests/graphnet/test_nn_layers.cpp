// Native layers: reverse passes against central finite differences.
#include <doctest/doctest.h>

#include <nernst/nn/activation.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/potential/graphnet/basis.hpp>

#include <cmath>
#include <random>

using nernst::nn::GatedMLP;
using nernst::nn::GatedMLPCache;
using nernst::nn::GatedMLPScratch;
using nernst::nn::Linear;
using nernst::nn::RowMatrix;

namespace {
RowMatrix<double> random_matrix(std::mt19937& rng, long r, long c, double scale = 1.0) {
  std::normal_distribution<double> N(0.0, scale);
  RowMatrix<double> m(r, c);
  for (long i = 0; i < r * c; ++i) m.data()[i] = N(rng);
  return m;
}
GatedMLP<double> random_gated(std::mt19937& rng, const std::vector<long>& dims, bool bias, bool activate_last) {
  std::vector<Linear<double>> l, g;
  for (std::size_t k = 0; k + 1 < dims.size(); ++k) {
    const double s = 1.0 / std::sqrt(double(dims[k]));
    for (auto* v : {&l, &g}) {
      Eigen::Matrix<double, 1, Eigen::Dynamic> b;
      if (bias) b = random_matrix(rng, 1, dims[k + 1], 0.3);
      v->emplace_back(random_matrix(rng, dims[k + 1], dims[k], s), b);
    }
  }
  return GatedMLP<double>(std::move(l), std::move(g), activate_last);
}
}  // namespace

TEST_CASE("GatedMLP reverse pass matches finite differences") {
  std::mt19937 rng(42);
  for (bool act_last : {true, false})
    for (bool bias : {true, false}) {
      CAPTURE(act_last);
      CAPTURE(bias);
      const auto G = random_gated(rng, {7, 6, 5, 4}, bias, act_last);
      const RowMatrix<double> X = random_matrix(rng, 5, 7);
      const RowMatrix<double> W = random_matrix(rng, 5, 4);  // loss = Σ W ⊙ Y
      GatedMLPCache<double> c;
      GatedMLPScratch<double> s;
      RowMatrix<double> Y(5, 4), dX(5, 7);
      G.forward(X, c, Y);
      G.backward(W, c, s, dX);
      auto loss = [&](const RowMatrix<double>& Xp) {
        GatedMLPCache<double> c2;
        RowMatrix<double> Y2(5, 4);
        G.forward(Xp, c2, Y2);
        return (Y2.array() * W.array()).sum();
      };
      double maxerr = 0;
      const double h = 1e-6;
      for (long i = 0; i < X.size(); ++i) {
        RowMatrix<double> Xp = X, Xm = X;
        Xp.data()[i] += h;
        Xm.data()[i] -= h;
        const double fd = (loss(Xp) - loss(Xm)) / (2 * h);
        maxerr = std::max(maxerr, std::abs(fd - dX.data()[i]));
      }
      CHECK(maxerr < 1e-8);
      // The output helper equals the forward's result.
      // (Materialised first: inside one expression the compiler may contract the product and
      // the difference into an FMA, which rounds differently.)
      const RowMatrix<double> Yo = G.output(c);
      CHECK((Yo - Y).cwiseAbs().maxCoeff() == 0.0);
    }
}

TEST_CASE("Spherical Bessel basis, harmonics and envelope derivatives match finite differences") {
  nernst::graphnet::SphericalBesselBasis<double> rbf(5.0);
  const double h = 1e-6;
  for (double d : {0.7, 1.9, 2.5, 3.3, 4.2, 4.99}) {
    double v[9], dv[9], vp[9], vm[9];
    rbf(d, v, dv);
    rbf(d + h, vp);
    rbf(d - h, vm);
    for (int k = 0; k < 9; ++k) CHECK(std::abs((vp[k] - vm[k]) / (2 * h) - dv[k]) < 1e-7);
  }
  double v[9];
  rbf(5.0, v);
  for (int k = 0; k < 9; ++k) CHECK(std::abs(v[k]) < 1e-12);  // every function vanishes at the cutoff
  for (double c : {-0.9, -0.2, 0.4, 0.95}) {
    double y[3], dy[3], yp[3], ym[3];
    nernst::graphnet::spherical_harmonics_m0(c, y, dy);
    nernst::graphnet::spherical_harmonics_m0(c + h, yp);
    nernst::graphnet::spherical_harmonics_m0(c - h, ym);
    for (int l = 0; l < 3; ++l) CHECK(std::abs((yp[l] - ym[l]) / (2 * h) - dy[l]) < 1e-8);
  }
  for (double d : {0.5, 2.0, 3.9}) {
    double df;
    nernst::graphnet::polynomial_envelope(d, 4.0, &df);
    const double fd = (nernst::graphnet::polynomial_envelope(d + h, 4.0) - nernst::graphnet::polynomial_envelope(d - h, 4.0)) / (2 * h);
    CHECK(std::abs(fd - df) < 1e-8);
  }
  CHECK(nernst::graphnet::polynomial_envelope(4.0, 4.0) == doctest::Approx(0.0).epsilon(1e-15));
  CHECK(nernst::graphnet::polynomial_envelope(4.0001, 4.0) == 0.0);
}
