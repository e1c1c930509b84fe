// Parameter gradients of energy + force + stress losses (forward-over-reverse with Dual<double>)
// against finite differences of the loss computed by the plain double evaluator.

#include "grad_check.hpp"
#include "train_test_util.hpp"

#include <nernst/nn/dual.hpp>
#include <nernst/train/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>

using namespace nernst;

TEST_CASE("Dual numbers: arithmetic and math against analytic derivatives") {
  using D = nn::Dual<double>;
  const D x(0.7, 1.0);
  const D y = math::exp(x) * math::sin(x) / (D(1) + x * x) + math::sqrt(x) - 3.0 * x;
  const double v = 0.7;
  const double f = std::exp(v) * std::sin(v) / (1 + v * v) + std::sqrt(v) - 3 * v;
  const double df = (std::exp(v) * std::sin(v) + std::exp(v) * std::cos(v)) / (1 + v * v) -
                    std::exp(v) * std::sin(v) * 2 * v / ((1 + v * v) * (1 + v * v)) + 0.5 / std::sqrt(v) - 3;
  CHECK(y.v == doctest::Approx(f).epsilon(1e-15));
  CHECK(y.d == doctest::Approx(df).epsilon(1e-14));
  // Eigen products with the dual scalar: (A + εA')(B + εB') tangent = A'B + AB'. Small sizes use
  // Eigen's coefficient-wise product, large ones the split GEMM of dual.hpp; blocks, transposes
  // and accumulation as the layers use them.
  for (int n : {3, 37}) {
    nn::RowMatrix<D> A(n + 2, n), B(n + 1, n);
    Eigen::MatrixXd Av(n + 2, n), Ad(n + 2, n), Bv(n + 1, n), Bd(n + 1, n);
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-1, 1);
    for (int i = 0; i < A.rows(); ++i)
      for (int j = 0; j < n; ++j) A(i, j) = D(Av(i, j) = u(rng), Ad(i, j) = u(rng));
    for (int i = 0; i < B.rows(); ++i)
      for (int j = 0; j < n; ++j) B(i, j) = D(Bv(i, j) = u(rng), Bd(i, j) = u(rng));
    nn::RowMatrix<D> C = nn::RowMatrix<D>::Constant(n + 2, n + 1, D(1.0, 2.0));
    C.noalias() += A * B.transpose();
    nn::RowMatrix<D> G = A.topRows(n).transpose() * B.topRows(n);
    const Eigen::MatrixXd Cv = (Av * Bv.transpose()).array() + 1.0, Cd = (Ad * Bv.transpose() + Av * Bd.transpose()).array() + 2.0;
    const Eigen::MatrixXd Gv = Av.topRows(n).transpose() * Bv.topRows(n);
    const Eigen::MatrixXd Gd = Ad.topRows(n).transpose() * Bv.topRows(n) + Av.topRows(n).transpose() * Bd.topRows(n);
    double err = 0;
    for (int i = 0; i < C.rows(); ++i)
      for (int j = 0; j < C.cols(); ++j) err = std::max({err, std::abs(C(i, j).v - Cv(i, j)), std::abs(C(i, j).d - Cd(i, j))});
    for (int i = 0; i < G.rows(); ++i)
      for (int j = 0; j < G.cols(); ++j) err = std::max({err, std::abs(G(i, j).v - Gv(i, j)), std::abs(G(i, j).d - Gd(i, j))});
    CHECK(err < 1e-12);
  }
}

using train_test::check_all_parameters;

TEST_CASE("M3GNet: every parameter gradient of an E+F+S loss matches finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::model());
  train::Dataset d;
  d.samples.push_back(train_test::reference_sample("li_y_cl_triclinic_rattled"));
  d.samples.push_back(train_test::reference_sample("licl_rocksalt_prim"));
  for (std::size_t i = 0; i < d.size(); ++i) train_test::label_with_offsets(d.samples[i], m.predict(d.samples[i]), 11 + unsigned(i));
  d.samples[1].weight = 0.5;
  SUBCASE("MSE, weights 1 : 1.5 : 0.15") {
    const auto r = check_all_parameters(m, d, train::Loss{}, {1.0, 1.5, 0.15}, 1e-3);
    MESSAGE("MSE: " << r.tensors << " tensors, max rel err (random direction) " << r.max_rel_dir << ", "
                    << r.entries << " single entries, max rel err " << r.max_rel_entry << "; " << r.tiny
                    << " tensors with |g| < 1e-6 |grad L|: max err / |grad L| " << r.max_abs_tiny);
    CHECK(r.tensors == m.parameters().size());
  }
  SUBCASE("Huber (delta 0.1): forces alone") {
    // Huber's second derivative jumps at |r| = delta, so the difference step must stay small
    // (2e-5); the round-off of a loss difference, ~1e-16 L / h, then resolves gradients only down
    // to ~1e-5 of |grad L| (one tensor sits at 3e-7 and differs from FD in the 6th digit).
    const auto r = check_all_parameters(m, d, train::Loss{train::LossKind::huber, 0.1}, {0.0, 1.0, 0.0}, 2e-5, 1e-5);
    MESSAGE("Huber forces: max rel err (random direction) " << r.max_rel_dir << ", single entries " << r.max_rel_entry
                                                              << "; tiny: " << r.tiny << ", " << r.max_abs_tiny);
  }
}

TEST_CASE("M3GNet-MatPES (smooth basis, 128 units): every parameter gradient of an E+F+S loss matches finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::matpes_model());
  train::Dataset d;
  d.samples.push_back(train_test::reference_sample("li_y_cl_triclinic_rattled"));
  train_test::label_with_offsets(d.samples[0], m.predict(d.samples[0]), 5);
  const auto r = check_all_parameters(m, d, train::Loss{}, {1.0, 1.5, 0.15}, 1e-3);
  MESSAGE("MatPES MSE: " << r.tensors << " tensors, max rel err (random direction) " << r.max_rel_dir << ", "
                         << r.entries << " single entries, max rel err " << r.max_rel_entry);
  CHECK(r.tensors == m.parameters().size());
}
