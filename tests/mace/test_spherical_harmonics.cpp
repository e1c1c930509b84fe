// e3nn spherical harmonics (MACE edge attributes): reference values, normalisation, gradient.

#include "mace_test_support.hpp"

#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/mace/spherical_harmonics.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace mace = nernst::graphnet::mace;
using namespace nernst_test;

TEST_CASE("mace spherical harmonics match the reference intermediates") {
  if (!have_shared()) return;
  const std::vector<std::pair<std::string, int>> models = {{"mace-mp0a-medium-random", 3}, {"mace-small-random", 2}};
  for (const auto& [model, lmax] : models) {
    for (const std::string structure : {"li3ycl6_ordered_40", "li_y_cl_triclinic_rattled", "near_cutoff_cluster"}) {
      const auto ref = read_json(mace_reference_file(model, structure));
      const auto& im = ref["float64"]["intermediates"];
      for (std::size_t e = 0; e < im["edge_vectors_A"].size(); ++e) {
        double r[3];
        for (int k = 0; k < 3; ++k) r[k] = im["edge_vectors_A"][e][k].get<double>();
        std::vector<double> Y(mace::sh_dim(lmax));
        mace::spherical_harmonics(lmax, r, Y.data());
        const auto& want = im["spherical_harmonics"][e];
        REQUIRE(want.size() == Y.size());
        for (std::size_t i = 0; i < Y.size(); ++i) CHECK(std::abs(Y[i] - want[i].get<double>()) <= 1e-12);
      }
    }
  }
}

TEST_CASE("mace spherical harmonics: component normalisation and the zero vector") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    double r[3];
    random_vector(rng, r);
    double Y[16];
    mace::spherical_harmonics(3, r, Y);
    for (int l = 0; l <= 3; ++l) {
      double s = 0;
      for (int m = 0; m < 2 * l + 1; ++m) s += Y[l * l + m] * Y[l * l + m];
      CHECK(s == doctest::Approx(2 * l + 1).epsilon(1e-13));
    }
  }
  const double zero[3] = {0, 0, 0};
  double Y[16];
  mace::spherical_harmonics(3, zero, Y);  // F.normalize's eps: no NaN, only Y_00 survives
  CHECK(Y[0] == 1.0);
  for (int i = 1; i < 16; ++i) CHECK(Y[i] == 0.0);
}

TEST_CASE("mace spherical harmonics: dY/dr against central differences and duals") {
  std::mt19937_64 rng(11);
  const double h = 1e-5;
  for (int trial = 0; trial < 20; ++trial) {
    double r[3];
    random_vector(rng, r);
    double Y[16], dY[48];
    mace::spherical_harmonics_with_gradient(3, r, Y, dY);
    double Yplain[16];
    mace::spherical_harmonics(3, r, Yplain);
    for (int i = 0; i < 16; ++i) CHECK(Y[i] == Yplain[i]);
    for (int k = 0; k < 3; ++k) {
      double rp[3] = {r[0], r[1], r[2]}, rm[3] = {r[0], r[1], r[2]};
      rp[k] += h;
      rm[k] -= h;
      double Yp[16], Ym[16];
      mace::spherical_harmonics(3, rp, Yp);
      mace::spherical_harmonics(3, rm, Ym);
      for (int i = 0; i < 16; ++i) CHECK(dY[3 * i + k] == doctest::Approx((Yp[i] - Ym[i]) / (2 * h)).epsilon(1e-7).scale(1));
      // forward mode through the same template: exact tangent
      using D = nernst::nn::Dual<double>;
      D rd[3] = {D(r[0]), D(r[1]), D(r[2])};
      rd[k].d = 1.0;
      D Yd[16];
      mace::spherical_harmonics(3, rd, Yd);
      for (int i = 0; i < 16; ++i) CHECK(std::abs(Yd[i].d - dY[3 * i + k]) <= 1e-12 * (1 + std::abs(dY[3 * i + k])));
    }
  }
}

TEST_CASE("mace spherical harmonics: float agrees with double") {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    double r[3];
    random_vector(rng, r);
    const float rf[3] = {float(r[0]), float(r[1]), float(r[2])};
    double Y[16], dY[48];
    float Yf[16], dYf[48];
    mace::spherical_harmonics_with_gradient(3, r, Y, dY);
    mace::spherical_harmonics_with_gradient(3, rf, Yf, dYf);
    for (int i = 0; i < 16; ++i) CHECK(std::abs(Yf[i] - Y[i]) <= 5e-6);
    for (int i = 0; i < 48; ++i) CHECK(std::abs(dYf[i] - dY[i]) <= 5e-5);
  }
}

TEST_CASE("mace spherical harmonics: degrees beyond the closed forms are refused by the host check") {
  CHECK_NOTHROW(mace::check_sh_degree(3));
  CHECK_THROWS_AS(mace::check_sh_degree(4), std::runtime_error);
  CHECK_THROWS_AS(mace::check_sh_degree(-1), std::runtime_error);
}
