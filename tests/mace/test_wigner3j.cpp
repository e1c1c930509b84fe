// e3nn real Wigner 3j symbols: normalisation, orthogonality, permutation symmetry and invariance
// under the rotation matrices of e3nn's spherical harmonics.

#include "mace_test_support.hpp"

#include <nernst/potential/graphnet/mace/spherical_harmonics.hpp>
#include <nernst/potential/graphnet/mace/wigner3j.hpp>

#include <Eigen/Dense>
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

namespace mace = nernst::graphnet::mace;
using namespace nernst_test;

namespace {

/// The real Wigner D of degree l ≤ 3 for rotation R, in the basis of e3nn's harmonics:
/// Y_l(R u) = D Y_l(u). Solved from 2l+1+4 random directions (least squares, exact here).
Eigen::MatrixXd wigner_D_from_sh(int l, const Eigen::Matrix3d& R, std::mt19937_64& rng) {
  const int n = 2 * l + 1, pts = n + 4;
  Eigen::MatrixXd A(pts, n), B(pts, n);
  for (int p = 0; p < pts; ++p) {
    double r[3];
    random_vector(rng, r);
    const Eigen::Vector3d v(r[0], r[1], r[2]);
    const Eigen::Vector3d w = R * v;
    const double rw[3] = {w[0], w[1], w[2]};
    double Y[16], YR[16];
    mace::spherical_harmonics(3, r, Y);
    mace::spherical_harmonics(3, rw, YR);
    for (int m = 0; m < n; ++m) {
      A(p, m) = Y[l * l + m];
      B(p, m) = YR[l * l + m];
    }
  }
  // A Dᵀ = B
  return A.colPivHouseholderQr().solve(B).transpose();
}

Eigen::Matrix3d random_rotation(std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  Eigen::Quaterniond q(g(rng), g(rng), g(rng), g(rng));
  q.normalize();
  return q.toRotationMatrix();
}

double w(const std::vector<double>& W, int n2, int n3, int a, int b, int c) { return W[(a * n2 + b) * n3 + c]; }

}  // namespace

TEST_CASE("wigner_3j: unit norm and orthogonality over (m1, m2)") {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = std::abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const auto& W = mace::wigner_3j(l1, l2, l3);
        const int n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
        REQUIRE(W.size() == std::size_t(n1 * n2 * n3));
        for (int c = 0; c < n3; ++c)
          for (int cp = 0; cp < n3; ++cp) {
            double s = 0;
            for (int a = 0; a < n1; ++a)
              for (int b = 0; b < n2; ++b) s += w(W, n2, n3, a, b, c) * w(W, n2, n3, a, b, cp);
            CHECK(std::abs(s - (c == cp ? 1.0 / n3 : 0.0)) <= 1e-14);
          }
      }
}

TEST_CASE("wigner_3j: swapping two degrees transposes and multiplies by (-1)^(l1+l2+l3)") {
  for (int l1 = 0; l1 <= 5; ++l1)
    for (int l2 = 0; l2 <= 5; ++l2)
      for (int l3 = std::abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const auto& W = mace::wigner_3j(l1, l2, l3);
        const auto& V = mace::wigner_3j(l2, l1, l3);
        const auto& U = mace::wigner_3j(l3, l2, l1);
        const double sign = (l1 + l2 + l3) % 2 ? -1.0 : 1.0;
        const int n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
        for (int a = 0; a < n1; ++a)
          for (int b = 0; b < n2; ++b)
            for (int c = 0; c < n3; ++c) {
              CHECK(std::abs(w(W, n2, n3, a, b, c) - sign * w(V, n1, n3, b, a, c)) <= 1e-14);
              CHECK(std::abs(w(W, n2, n3, a, b, c) - sign * w(U, n2, n1, c, b, a)) <= 1e-14);
            }
      }
}

TEST_CASE("wigner_3j is invariant under e3nn's real Wigner D (built from the harmonics)") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 3; ++trial) {
    const Eigen::Matrix3d R = random_rotation(rng);
    Eigen::MatrixXd D[4];
    for (int l = 0; l <= 3; ++l) {
      D[l] = wigner_D_from_sh(l, R, rng);
      CHECK((D[l] * D[l].transpose() - Eigen::MatrixXd::Identity(2 * l + 1, 2 * l + 1)).norm() <= 1e-12);
    }
    for (int l1 = 0; l1 <= 3; ++l1)
      for (int l2 = 0; l2 <= 3; ++l2)
        for (int l3 = std::abs(l1 - l2); l3 <= std::min(3, l1 + l2); ++l3) {
          const auto& W = mace::wigner_3j(l1, l2, l3);
          const int n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
          double err = 0;
          for (int a = 0; a < n1; ++a)
            for (int b = 0; b < n2; ++b)
              for (int c = 0; c < n3; ++c) {
                double s = 0;  // Σ W[a',b',c'] D1[a',a] D2[b',b] D3[c',c]
                for (int ap = 0; ap < n1; ++ap)
                  for (int bp = 0; bp < n2; ++bp)
                    for (int cp = 0; cp < n3; ++cp)
                      s += w(W, n2, n3, ap, bp, cp) * D[l1](ap, a) * D[l2](bp, b) * D[l3](cp, c);
                err = std::max(err, std::abs(s - w(W, n2, n3, a, b, c)));
              }
          INFO("l1=" << l1 << " l2=" << l2 << " l3=" << l3);
          CHECK(err <= 1e-12);
        }
  }
}

TEST_CASE("wigner_3j couples harmonics of one direction into the harmonic of l3 (even l1+l2+l3)") {
  std::mt19937_64 rng(9);
  for (int l1 = 0; l1 <= 3; ++l1)
    for (int l2 = 0; l2 <= 3; ++l2)
      for (int l3 = std::abs(l1 - l2); l3 <= std::min(3, l1 + l2); ++l3) {
        const auto& W = mace::wigner_3j(l1, l2, l3);
        const int n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
        double ratio = 0;
        bool have_ratio = false;
        for (int trial = 0; trial < 5; ++trial) {
          double r[3], Y[16];
          random_vector(rng, r);
          mace::spherical_harmonics(3, r, Y);
          for (int c = 0; c < n3; ++c) {
            double s = 0;
            for (int a = 0; a < 2 * l1 + 1; ++a)
              for (int b = 0; b < n2; ++b) s += w(W, n2, n3, a, b, c) * Y[l1 * l1 + a] * Y[l2 * l2 + b];
            INFO("l1=" << l1 << " l2=" << l2 << " l3=" << l3);
            if ((l1 + l2 + l3) % 2) {
              CHECK(std::abs(s) <= 1e-13);  // parity: the odd coupling of one vector with itself vanishes
            } else if (std::abs(Y[l3 * l3 + c]) > 0.1) {
              if (!have_ratio) ratio = s / Y[l3 * l3 + c], have_ratio = true;
              CHECK(s / Y[l3 * l3 + c] == doctest::Approx(ratio).epsilon(1e-12));
              CHECK(std::abs(ratio) > 1e-3);  // an even coupling never vanishes for the same direction
            }
          }
        }
      }
}

TEST_CASE("wigner_3j follows e3nn 0.4.4's sign rule on sorted triples") {
  // l1 <= l2 <= l3: the central element (all m = 0) is positive, or, where it vanishes (odd
  // l1+l2+l3), the first non-zero element in row-major order.
  int odd = 0;
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = l1; l2 <= 6; ++l2)
      for (int l3 = l2; l3 <= l1 + l2; ++l3) {
        const auto& W = mace::wigner_3j(l1, l2, l3);
        const double centre = w(W, 2 * l2 + 1, 2 * l3 + 1, l1, l2, l3);
        INFO("l1=" << l1 << " l2=" << l2 << " l3=" << l3);
        if ((l1 + l2 + l3) % 2 == 0) {
          CHECK(centre > 1e-3);
        } else {
          CHECK(centre == 0.0);
          for (double v : W)
            if (v != 0.0) {
              CHECK(v > 0);
              break;
            }
          ++odd;
        }
      }
  CHECK(odd > 0);
}

TEST_CASE("wigner_3j rejects triples outside the triangle rule") {
  CHECK_THROWS_AS(mace::wigner_3j(1, 1, 3), std::runtime_error);
  CHECK_THROWS_AS(mace::wigner_3j(-1, 1, 1), std::runtime_error);
  CHECK_THROWS_AS(mace::wigner_3j(13, 13, 0), std::runtime_error);
}
