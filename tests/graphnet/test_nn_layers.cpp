// Native layers: reverse passes against central finite differences.
#include <doctest/doctest.h>

#include <nernst/nn/activation.hpp>
#include <nernst/nn/blocked_gated_mlp.hpp>
#include <nernst/nn/gated_mlp.hpp>
#include <nernst/nn/linear.hpp>
#include <nernst/potential/graphnet/basis.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

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

TEST_CASE("Polynomial exp and the batch activations match the standard library") {
  double worst = 0;
  for (double x = -700.0; x <= 700.0; x += 0.01377)
    worst = std::max(worst, std::abs(nernst::nn::detail::exp_poly(x) - std::exp(x)) / std::exp(x));
  CHECK(worst < 4e-16);
  float worstf = 0;
  for (float x = -80.0f; x <= 80.0f; x += 0.00731f)
    worstf = std::max(worstf, std::abs(nernst::nn::detail::exp_poly(x) - std::exp(x)) / std::exp(x));
  CHECK(worstf < 3e-7f);
  CHECK(std::isnan(nernst::nn::detail::exp_poly(std::nan(""))));
  // Saturation far outside the clamp: σ → 0 / 1, SiLU → 0 / x, never NaN.
  RowMatrix<double> A(2, 5), S(2, 5);
  A << -1e4, -750, -3.5, 0.0, 2.25, 4.0, 30.0, 750, 1e4, -1e-3;
  const RowMatrix<double> Z = A;
  nernst::nn::silu_forward<double>(A, S);
  for (long i = 0; i < Z.size(); ++i) {
    const double z = Z.data()[i], s = 1.0 / (1.0 + std::exp(-z));
    CHECK(std::abs(S.data()[i] - s) <= 1e-15 * s + 1e-300);
    CHECK(std::abs(A.data()[i] - z * s) <= 1e-15 * std::abs(z * s) + 1e-300);
  }
  RowMatrix<double> B = Z;
  nernst::nn::sigmoid_forward<double>(B.block(0, 1, 2, 3));  // a strided column block
  for (long i = 0; i < 2; ++i)
    for (long j = 0; j < 5; ++j) {
      const double expect = (j >= 1 && j <= 3) ? 1.0 / (1.0 + std::exp(-Z(i, j))) : Z(i, j);
      CHECK(std::abs(B(i, j) - expect) <= 1e-15 * std::abs(expect) + 1e-300);
    }
}

TEST_CASE("BlockedGatedMLP keeps or recomputes blocks and agrees with the whole-batch pass") {
  // Reference: one forward/backward over all rows (tested against finite differences above),
  // with the first layer applied to the whole input X. The blocked pass gets the same first
  // layer through `pre`, in blocks of block_rows(G) rows, and must agree for every row, for
  // kept and for recomputed activations, including the parameter gradients.
  std::mt19937 rng(7);
  const auto G = random_gated(rng, {12, 64, 64, 16}, true, true);
  const long rows = 3 * nernst::nn::BlockedGatedMLP<double>::block_rows(G) + 17;  // 4 blocks, last partial
  const RowMatrix<double> X = random_matrix(rng, rows, 12);
  const RowMatrix<double> dY = random_matrix(rng, rows, 16);
  GatedMLPCache<double> c;
  GatedMLPScratch<double> s;
  RowMatrix<double> Y(rows, 16), dX(rows, 12);
  G.forward(X, c, Y);
  G.backward(dY, c, s, dX);
  auto ref_grad = G.cast<double>();
  ref_grad.visit_parameters([](const std::string&, double* d, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (auto k : shape) n *= k;
    std::fill(d, d + n, 0.0);
  });
  G.accumulate_parameter_gradients(X, c, s, ref_grad);

  for (bool recompute : {false, true}) {
    CAPTURE(recompute);
    nernst::nn::BlockedGatedMLP<double> mlp;
    const auto& F = G.first_layer();
    auto pre = [&](auto& Z1, Eigen::Index r0, Eigen::Index n) { F.forward(X.middleRows(r0, n), Z1); };
    RowMatrix<double> Yb(rows, 16), dXb(rows, 12);
    long blocks = 0;
    mlp.forward(G, rows, recompute, pre, [&](const GatedMLPCache<double>& cb, Eigen::Index r0, Eigen::Index n) {
      Yb.middleRows(r0, n) = G.output(cb);
      ++blocks;
    });
    CHECK(blocks == 4);
    CHECK(mlp.recomputes() == recompute);
    CHECK((Yb - Y).cwiseAbs().maxCoeff() < 1e-13);
    auto grad = G.cast<double>();
    grad.visit_parameters([](const std::string&, double* d, const std::vector<std::int64_t>& shape) {
      std::int64_t n = 1;
      for (auto k : shape) n *= k;
      std::fill(d, d + n, 0.0);
    });
    GatedMLPScratch<double> sb;
    mlp.backward(
        G, pre, [&](const GatedMLPCache<double>&, Eigen::Index r0, Eigen::Index n) {
          return nernst::nn::ConstMatRef<double>(dY.middleRows(r0, n));
        },
        [&](const nernst::nn::ConstMatRef<double>& dZ1, const GatedMLPCache<double>&, Eigen::Index r0, Eigen::Index n) {
          F.backward(dZ1, dXb.middleRows(r0, n));
          auto& gF = grad.mutable_first_layer();
          gF.weight.noalias() += dZ1.transpose() * X.middleRows(r0, n);
          gF.bias += dZ1.colwise().sum();
        },
        sb, &grad);
    CHECK((dXb - dX).cwiseAbs().maxCoeff() < 1e-13);
    double maxdiff = 0, maxref = 0;
    std::vector<std::vector<double>> ref;
    ref_grad.visit_parameters([&](const std::string&, double* d, const std::vector<std::int64_t>& shape) {
      std::int64_t n = 1;
      for (auto k : shape) n *= k;
      ref.emplace_back(d, d + n);
    });
    std::size_t t = 0;
    grad.visit_parameters([&](const std::string& name, double* d, const std::vector<std::int64_t>&) {
      CAPTURE(name);
      for (std::size_t i = 0; i < ref[t].size(); ++i) {
        maxdiff = std::max(maxdiff, std::abs(d[i] - ref[t][i]));
        maxref = std::max(maxref, std::abs(ref[t][i]));
      }
      ++t;
    });
    CHECK(t == ref.size());
    CHECK(maxref > 1.0);  // the gradients are not trivially zero
    CHECK(maxdiff < 1e-12 * maxref);
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
