// Parameter gradients of energy + force + stress losses (forward-over-reverse with Dual<double>)
// against finite differences of the loss computed by the plain double evaluator.

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

namespace {

struct GradCheck {
  double max_rel_dir = 0, max_rel_entry = 0, max_abs_tiny = 0;
  std::size_t tensors = 0, entries = 0, tiny = 0;
};

// Fourth-order central difference of L along direction r (|r| = 1) in flat parameter space.
template <class F>
double fd_along(F&& loss, const std::vector<double>& theta, const std::vector<double>& r, double h) {
  auto at = [&](double s) {
    std::vector<double> t = theta;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (r[i] != 0) t[i] += s * r[i];
    return loss(t);
  };
  return (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
}

GradCheck check_all_parameters(train::M3GNetTrainable& m, const train::Dataset& d, const train::Loss& loss,
                               const train::LossWeights& w, double h) {
  const std::vector<std::size_t> idx = [&] {
    std::vector<std::size_t> v;
    for (std::size_t i = 0; i < d.size(); ++i) v.push_back(i);
    return v;
  }();
  const std::vector<double> theta0 = m.get_parameters();
  std::vector<double> grad(theta0.size(), 0.0);
  train::loss_and_gradient(m, d, idx, loss, w, &grad);
  auto L = [&](const std::vector<double>& t) {
    m.set_parameters(t);
    return train::loss_and_gradient(m, d, idx, loss, w, nullptr);
  };
  double gnorm = 0;
  for (double g : grad) gnorm += g * g;
  gnorm = std::sqrt(gnorm);
  GradCheck out;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (const auto& p : m.parameters()) {
    // Random direction over the whole tensor: checks every entry at once.
    std::vector<double> r(theta0.size(), 0.0);
    double nrm = 0;
    for (std::size_t k = 0; k < p.size; ++k) nrm += (r[p.offset + k] = u(rng)) * r[p.offset + k];
    nrm = std::sqrt(nrm);
    double an = 0;
    for (std::size_t k = 0; k < p.size; ++k) an += grad[p.offset + k] * (r[p.offset + k] /= nrm);
    // Gradients many orders below the total are below what a difference of losses resolves at
    // h = 1e-3 (round-off ~1e-16 L / h); those get a larger step and are judged against the
    // gradient norm instead.
    const bool tiny = std::abs(an) < 1e-6 * gnorm;
    const double fd = fd_along(L, theta0, r, tiny ? 0.1 : h);
    const double rel = std::abs(an - fd) / (tiny ? gnorm : std::abs(fd));
    if (rel > 1e-6) MESSAGE(p.name << ": direction analytic " << an << " fd " << fd << " rel " << rel);
    CHECK(rel <= 1e-6);
    if (tiny) out.max_abs_tiny = std::max(out.max_abs_tiny, rel), ++out.tiny;
    else out.max_rel_dir = std::max(out.max_rel_dir, rel);
    ++out.tensors;
    // The entry with the largest gradient, alone.
    std::size_t kmax = 0;
    for (std::size_t k = 1; k < p.size; ++k)
      if (std::abs(grad[p.offset + k]) > std::abs(grad[p.offset + kmax])) kmax = k;
    if (std::abs(grad[p.offset + kmax]) > 1e-6 * gnorm) {
      std::vector<double> e(theta0.size(), 0.0);
      e[p.offset + kmax] = 1.0;
      const double fde = fd_along(L, theta0, e, h);
      const double rele = std::abs(grad[p.offset + kmax] - fde) / std::abs(fde);
      if (rele > 1e-6) MESSAGE(p.name << "[" << kmax << "]: analytic " << grad[p.offset + kmax] << " fd " << fde);
      CHECK(rele <= 1e-6);
      out.max_rel_entry = std::max(out.max_rel_entry, rele);
      ++out.entries;
    }
  }
  m.set_parameters(theta0);
  return out;
}

}  // namespace

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
    const auto r = check_all_parameters(m, d, train::Loss{train::LossKind::huber, 0.1}, {0.0, 1.0, 0.0}, 2e-5);
    MESSAGE("Huber forces: max rel err (random direction) " << r.max_rel_dir << ", single entries " << r.max_rel_entry
                                                              << "; tiny: " << r.tiny << ", " << r.max_abs_tiny);
  }
}
