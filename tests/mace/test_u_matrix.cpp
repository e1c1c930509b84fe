// MACE's U matrices (generalised Clebsch–Gordan of the symmetric contraction): the library's
// generator against the buffers stored in the models (small: state_dict, medium: pickled module).

#include "mace_test_support.hpp"

#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/potential/graphnet/mace/spherical_harmonics.hpp>
#include <nernst/potential/graphnet/mace/u_matrix.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <regex>
#include <string>

namespace mace = nernst::graphnet::mace;
namespace io = nernst::io;
using namespace nernst_test;

namespace {

/// Output irreps of each product layer's contractions, in order (hidden_out of that layer).
struct Layer {
  std::vector<mace::Irrep> outs;
};

/// Compares every `U_matrix_<nu>` of `tensors` with the generator; returns the number compared.
int compare_u_matrices(const io::StateDict& tensors, int lmax, const std::vector<Layer>& layers, double& worst) {
  const std::regex re(R"(products\.(\d+)\.symmetric_contractions\.contractions\.(\d+)\.U_matrix_(\d+))");
  int compared = 0;
  for (const auto& entry : tensors) {
    const std::string& name = entry.first;
    const auto& t = entry.second;
    std::smatch m;
    if (!std::regex_match(name, m, re)) continue;
    const int layer = std::stoi(m[1]), contraction = std::stoi(m[2]), nu = std::stoi(m[3]);
    REQUIRE(layer < int(layers.size()));
    REQUIRE(contraction < int(layers[layer].outs.size()));
    const auto U = mace::u_matrix(mace::sh_irreps(lmax), layers[layer].outs[contraction], nu);
    INFO(name);
    REQUIRE(U.stored_shape() == t.shape);
    double err = 0;
    for (std::size_t i = 0; i < U.values.size(); ++i) err = std::max(err, std::abs(U.values[i] - t.values[i]));
    CHECK(err <= 1e-12);
    worst = std::max(worst, err);
    ++compared;
  }
  return compared;
}

}  // namespace

TEST_CASE("mace U matrices equal the small model's state_dict buffers") {
  if (!have_shared()) return;
  const auto sd = mace_model_tensors("mace-small-random");
  const mace::Irrep e0{0, 1}, o1{1, -1};
  double worst = 0;
  const int n = compare_u_matrices(sd, 2, {{{e0, o1}}, {{e0}}}, worst);
  CHECK(n == 6);  // 2 + 2 contractions in layer 0 (0e, 1o) and 2 in layer 1 (0e), orders 1..2
  MESSAGE("small model: " << n << " U matrices, max |dU| = " << worst);
}

TEST_CASE("mace U matrices equal the medium model's buffers (lmax 3, correlation 3)") {
  if (!have_shared()) return;
  const auto buffers = mace_model_tensors("mace-mp0a-medium-random");
  const mace::Irrep e0{0, 1}, o1{1, -1};
  double worst = 0;
  const int n = compare_u_matrices(buffers, 3, {{{e0, o1}}, {{e0}}}, worst);
  CHECK(n == 9);  // layer 0: 0e and 1o, layer 1: 0e; orders 1..3 each
  MESSAGE("medium model: " << n << " U matrices, max |dU| = " << worst);
}

TEST_CASE("mace coupling paths: e3nn's irrep order, and columns that transform as their irrep") {
  // Order-2 paths over 0e+1o+2e: one per (l1, l2, L) triple, 19 in all, in tuple order (l, p).
  // Contracted with Y(u)⊗Y(u), a path of natural parity (p = (-1)^L) gives a multiple of Y_L(u)
  // (the same multiple for every u), one of unnatural parity gives zero.
  const auto in = mace::sh_irreps(2);
  const auto paths = mace::coupling_paths(in, 2);
  CHECK(paths.size() == 19);
  for (std::size_t k = 1; k < paths.size(); ++k) CHECK(!(paths[k].ir < paths[k - 1].ir));
  std::mt19937_64 rng(2);
  for (const auto& path : paths) {
    double ratio = 0;
    bool have = false;
    for (int trial = 0; trial < 4; ++trial) {
      double r[3], Y[16];
      random_vector(rng, r);
      mace::spherical_harmonics(3, r, Y);
      for (int M = 0; M < path.ir.dim(); ++M) {
        double s = 0;
        for (int a = 0; a < 9; ++a)
          for (int b = 0; b < 9; ++b) s += path.C[(M * 9 + a) * 9 + b] * Y[a] * Y[b];
        const double y = Y[path.ir.l * path.ir.l + M];
        if (path.ir.p != (path.ir.l % 2 ? -1 : 1)) {
          CHECK(std::abs(s) <= 1e-13);
        } else if (std::abs(y) > 0.1) {
          if (!have) ratio = s / y, have = true;
          CHECK(s / y == doctest::Approx(ratio).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("mace u_matrix rejects an irrep no path reaches") {
  CHECK_THROWS_AS(mace::u_matrix(mace::sh_irreps(1), mace::Irrep{3, -1}, 1), std::runtime_error);
  CHECK_THROWS_AS(mace::coupling_paths(mace::sh_irreps(1), 0), std::runtime_error);
}

TEST_CASE("mace symmetric_u_terms contract a symmetric tensor like the dense U") {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> g;
  for (int nu = 1; nu <= 3; ++nu)
    for (const mace::Irrep ir : {mace::Irrep{0, 1}, mace::Irrep{1, -1}, mace::Irrep{2, 1}}) {
      const auto& U = mace::sh_u_matrix(2, ir, nu);
      const auto terms = mace::symmetric_u_terms(U);
      const int D = U.dim_in, K = U.n_paths, dM = ir.dim();
      std::vector<double> x(D), r(static_cast<std::size_t>(dM) * K);
      for (auto& v : x) v = g(rng);
      for (auto& v : r) v = g(rng);
      std::size_t Dnu = 1;
      for (int k = 0; k < nu; ++k) Dnu *= D;
      double dense = 0, sparse = 0;  // Σ r[M][k] Σ_a U[M][a][k] x[a1]⋯x[aν]
      for (int M = 0; M < dM; ++M)
        for (std::size_t a = 0; a < Dnu; ++a) {
          double p = 1;
          for (std::size_t rest = a, i = 0; i < std::size_t(nu); ++i, rest /= D) p *= x[rest % D];
          for (int k = 0; k < K; ++k) dense += r[M * K + k] * U.values[(M * Dnu + a) * K + k] * p;
        }
      for (const auto& t : terms) {
        double p = t.coef * r[t.M * K + t.k];
        for (int i = 0; i < nu; ++i) p *= x[t.a[i]];
        sparse += p;
      }
      INFO("nu=" << nu << " L=" << ir.l);
      CHECK(sparse == doctest::Approx(dense).epsilon(1e-12));
      for (const auto& t : terms)
        for (int i = 1; i < nu; ++i) CHECK(t.a[i - 1] <= t.a[i]);
    }
}
