// Furthest-point sampling vs brute force, Boltzmann selection frequencies vs exp(−E/kT),
// strain augmentation bounds and geometry.

#include "../test_support.hpp"

#include <nernst/core/units.hpp>
#include <nernst/sampling/boltzmann.hpp>
#include <nernst/sampling/furthest_point.hpp>
#include <nernst/sampling/strain.hpp>

#include <random>

using namespace nernst;
using namespace nernst::sampling;

TEST_CASE("furthest-point sampling equals the brute-force max-min greedy choice") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<Eigen::MatrixXd> frames;
  for (int f = 0; f < 40; ++f) {
    Eigen::MatrixXd x(7, 3);
    for (int i = 0; i < 7; ++i)
      for (int d = 0; d < 3; ++d) x(i, d) = g(rng) * (1 + f % 5);
    frames.push_back(x);
  }
  // distance by explicit loops
  auto dist = [&](std::size_t a, std::size_t b) {
    double s = 0;
    for (int i = 0; i < 7; ++i)
      for (int d = 0; d < 3; ++d) s += (frames[a](i, d) - frames[b](i, d)) * (frames[a](i, d) - frames[b](i, d));
    return s / 7;
  };
  CHECK(mean_squared_difference(frames[3], frames[8]) == doctest::Approx(dist(3, 8)).epsilon(1e-14));
  const auto sel = furthest_point_sampling(frames, 10, 2);
  REQUIRE(sel.indices.size() == 10);
  std::vector<std::size_t> ref{2};
  for (int k = 1; k < 10; ++k) {
    std::size_t best = 0;
    double bd = -1;
    for (std::size_t f = 0; f < frames.size(); ++f) {
      if (std::find(ref.begin(), ref.end(), f) != ref.end()) continue;
      double m = 1e300;
      for (auto r : ref) m = std::min(m, dist(f, r));
      if (m > bd) bd = m, best = f;
    }
    CHECK(sel.distances[static_cast<std::size_t>(k)] == doctest::Approx(bd).epsilon(1e-12));
    ref.push_back(best);
  }
  CHECK(sel.indices == ref);
  // non-increasing min distances; k > n returns every frame once
  for (std::size_t k = 2; k < sel.distances.size(); ++k) CHECK(sel.distances[k] <= sel.distances[k - 1] + 1e-12);
  auto all = furthest_point_sampling(frames, 100);
  std::sort(all.indices.begin(), all.indices.end());
  CHECK(all.indices.size() == frames.size());
  CHECK(std::unique(all.indices.begin(), all.indices.end()) == all.indices.end());
  CHECK_THROWS_AS(mean_squared_difference(frames[0], Eigen::MatrixXd::Zero(3, 3)), ValueError);
}

TEST_CASE("Boltzmann selection: single-draw frequencies follow exp(-E_hull/kT); draws are distinct") {
  const std::vector<double> e{0.0, 0.01, 0.02, 0.05, 0.3};
  const double T = 300;
  const auto p = boltzmann_probabilities(e, T);
  double s = 0;
  for (double x : p) s += x;
  CHECK(s == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(p[1] / p[0] == doctest::Approx(std::exp(-0.01 / (units::kB * T))).epsilon(1e-12));
  std::vector<int> count(e.size(), 0);
  const int n = 40000;
  for (int k = 0; k < n; ++k) ++count[boltzmann_select(e, T, 1, static_cast<std::uint64_t>(k + 1))[0]];
  for (std::size_t i = 0; i < e.size(); ++i) {
    const double sd = std::sqrt(n * p[i] * (1 - p[i]));
    CHECK(std::abs(count[i] - n * p[i]) < 5 * sd + 1);
  }
  // second draw conditional on the first: P(second = j | first = 0) = p_j / (1 - p_0)
  int first0 = 0, second1 = 0;
  for (int k = 0; k < n; ++k) {
    const auto d = boltzmann_select(e, T, 2, static_cast<std::uint64_t>(k + 7));
    CHECK(d[0] != d[1]);
    if (d[0] == 0) {
      ++first0;
      if (d[1] == 1) ++second1;
    }
  }
  const double q = p[1] / (1 - p[0]);
  CHECK(std::abs(second1 - first0 * q) < 5 * std::sqrt(first0 * q * (1 - q)) + 1);
  auto all = boltzmann_select(e, T, 10, 3);
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::size_t>{0, 1, 2, 3, 4});
  // Underflowing weights still give distinct picks, lowest energy first.
  const auto u = boltzmann_select({0.0, 50.0, 40.0}, 10, 3, 1);
  CHECK(u == std::vector<std::size_t>{0, 2, 1});
  CHECK_THROWS_AS(boltzmann_probabilities(e, 0), ValueError);
}

TEST_CASE("strain augmentation: |eps_ij| <= 3 %, symmetric, H' = H(I+eps), fractional coordinates kept") {
  Structure s(Lattice::from_parameters(5, 6, 7, 80, 95, 110));
  s.add_site(3, Eigen::Vector3d(0.1, 0.2, 0.3));
  s.add_site(17, Eigen::Vector3d(0.6, 0.5, 0.4));
  std::vector<Eigen::Matrix3d> eps;
  const auto out = strain_augment(s, 200, 0.03, 11, &eps);
  REQUIRE(out.size() == 200);
  double maxabs = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    CHECK((eps[k] - eps[k].transpose()).norm() == 0.0);
    maxabs = std::max(maxabs, eps[k].cwiseAbs().maxCoeff());
    // recover the strain from the cells: eps = H⁻¹ H' − I
    const Eigen::Matrix3d rec = s.lattice().inverse() * out[k].lattice().matrix() - Eigen::Matrix3d::Identity();
    CHECK((rec - eps[k]).cwiseAbs().maxCoeff() < 1e-12);
    for (std::size_t i = 0; i < s.size(); ++i) CHECK((out[k][i].frac - s[i].frac).norm() < 1e-14);
  }
  CHECK(maxabs <= 0.03);
  CHECK(maxabs > 0.028);  // the range is used
  CHECK_THROWS_AS(strain_augment(s, 1, 0.7), ValueError);
}
