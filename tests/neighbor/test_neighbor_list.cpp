#include <doctest/doctest.h>

#include <nernst/neighbor/neighbor_list.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>
#include <tuple>
#include <vector>

using namespace nernst;

namespace {

using Pair = std::tuple<int, int, int, int, int>;  // i, j, S0, S1, S2
using HostPositions = Kokkos::View<double* [3], HostSpace>;

/// Every (i, j, S) with |x_j + S·L − x_i|² < rc², by looping over all images that can reach:
/// along reciprocal direction k the fractional separation is bounded by rc / w_k.
std::set<Pair> brute_force(const HostPositions& x, const Lattice& L, double rc) {
  const auto w = L.perpendicular_widths();
  const Mat3<double> m = L.to_mat3<double>();
  const int n = static_cast<int>(x.extent(0));
  std::set<Pair> out;
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector3d fi = L.to_frac(Eigen::Vector3d(x(i, 0), x(i, 1), x(i, 2)));
    for (int j = 0; j < n; ++j) {
      const Eigen::Vector3d fj = L.to_frac(Eigen::Vector3d(x(j, 0), x(j, 1), x(j, 2)));
      std::array<int, 3> lo{}, hi{};
      for (int k = 0; k < 3; ++k) {
        const double df = fj[k] - fi[k];
        lo[k] = static_cast<int>(std::floor(-df - rc / w[k])) - 1;
        hi[k] = static_cast<int>(std::ceil(-df + rc / w[k])) + 1;
      }
      for (int a = lo[0]; a <= hi[0]; ++a)
        for (int b = lo[1]; b <= hi[1]; ++b)
          for (int c = lo[2]; c <= hi[2]; ++c) {
            if (i == j && a == 0 && b == 0 && c == 0) continue;
            const Vec3<double> r = image_vector(Vec3<double>(x(i, 0), x(i, 1), x(i, 2)),
                                                Vec3<double>(x(j, 0), x(j, 1), x(j, 2)), a, b, c, m);
            if (norm2(r) < rc * rc) out.insert({i, j, a, b, c});
          }
    }
  }
  return out;
}

std::set<Pair> as_set(const NeighborList<HostSpace>& nl) {
  std::set<Pair> out;
  for (int i = 0; i < static_cast<int>(nl.num_atoms()); ++i)
    for (int p = nl.begin(i); p < nl.end(i); ++p)
      out.insert({i, nl.neighbors(p), nl.shifts(p, 0), nl.shifts(p, 1), nl.shifts(p, 2)});
  return out;
}

/// Structural invariants every list must satisfy.
void check_invariants(const NeighborList<HostSpace>& nl, const HostPositions& x, const Lattice& L) {
  const int n = static_cast<int>(nl.num_atoms());
  REQUIRE(nl.offsets.extent(0) == static_cast<std::size_t>(n + 1));
  CHECK(nl.offsets(0) == 0);
  CHECK(nl.offsets(n) == static_cast<int>(nl.num_pairs()));
  int maxn = 0;
  const auto counts = nl.counts(Kokkos::DefaultHostExecutionSpace());
  for (int i = 0; i < n; ++i) {
    CHECK(counts(i) == nl.num_neighbors(i));
    maxn = std::max(maxn, nl.num_neighbors(i));
    for (int p = nl.begin(i); p < nl.end(i); ++p) {
      // Pair vectors agree with an independent Eigen evaluation of x_j + S·L − x_i.
      const int j = nl.neighbors(p);
      const Eigen::Vector3d S(nl.shifts(p, 0), nl.shifts(p, 1), nl.shifts(p, 2));
      const Eigen::Vector3d r = Eigen::Vector3d(x(j, 0), x(j, 1), x(j, 2)) + L.to_cart(S) -
                                Eigen::Vector3d(x(i, 0), x(i, 1), x(i, 2));
      CHECK(r.norm() < nl.cutoff + 1e-9);
      if (nl.sorted && p + 1 < nl.end(i)) {
        const auto a = std::make_tuple(nl.neighbors(p), nl.shifts(p, 0), nl.shifts(p, 1), nl.shifts(p, 2));
        const auto b = std::make_tuple(nl.neighbors(p + 1), nl.shifts(p + 1, 0), nl.shifts(p + 1, 1),
                                       nl.shifts(p + 1, 2));
        CHECK(a < b);
      }
    }
  }
  CHECK(nl.max_neighbors == maxn);
  // Full list: (i, j, S) present iff (j, i, −S) present.
  const auto set = as_set(nl);
  CHECK(set.size() == nl.num_pairs());  // no duplicates
  for (const auto& [i, j, a, b, c] : set) CHECK(set.count({j, i, -a, -b, -c}) == 1);
}

HostPositions random_positions(std::mt19937& rng, const Lattice& L, int n, double fmin, double fmax) {
  std::uniform_real_distribution<double> u(fmin, fmax);
  HostPositions x("x", n);
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector3d r = L.to_cart(Eigen::Vector3d(u(rng), u(rng), u(rng)));
    for (int d = 0; d < 3; ++d) x(i, d) = r[d];
  }
  return x;
}

Lattice random_cell(std::mt19937& rng, double scale) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  while (true) {
    Eigen::Matrix3d m = Eigen::Matrix3d::Identity() * scale;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) m(a, b) += 0.6 * scale * u(rng);  // strongly skewed
    const double vol = std::abs(m.determinant());
    if (vol > 0.05 * scale * scale * scale) return Lattice(m);
  }
}

Kokkos::DefaultHostExecutionSpace host() { return Kokkos::DefaultHostExecutionSpace(); }

}  // namespace

TEST_CASE("neighbor list: one atom in a 3 Å cubic cell with a 5 Å cutoff lists its own images") {
  const Lattice L(Eigen::Matrix3d::Identity() * 3.0);
  HostPositions x("x", 1);
  const auto nl = build_neighbor_list(host(), x, L, 5.0);
  // Images S with 0 < 3|S| < 5: |S|² ∈ {1, 2} -> 6 + 12.
  REQUIRE(nl.num_pairs() == 18);
  CHECK(nl.max_neighbors == 18);
  for (int p = 0; p < 18; ++p) {
    CHECK(nl.neighbors(p) == 0);
    const int s2 = nl.shifts(p, 0) * nl.shifts(p, 0) + nl.shifts(p, 1) * nl.shifts(p, 1) + nl.shifts(p, 2) * nl.shifts(p, 2);
    CHECK((s2 == 1 || s2 == 2));
  }
  check_invariants(nl, x, L);
  CHECK(as_set(nl) == brute_force(x, L, 5.0));
  // Extreme aspect: 1 Å cell, 7.5 Å cutoff (R = 8 bins per side).
  const auto big = build_neighbor_list(host(), x, Lattice(Eigen::Matrix3d::Identity()), 7.5);
  CHECK(big.num_pairs() > 1000);  // long lists take the heap-sort path
  check_invariants(big, x, Lattice(Eigen::Matrix3d::Identity()));
  CHECK(as_set(big) == brute_force(x, Lattice(Eigen::Matrix3d::Identity()), 7.5));
}

TEST_CASE("neighbor list: fcc shells and the strict cutoff rule d < rc") {
  const double a = 4.0;
  const Lattice L(Eigen::Matrix3d::Identity() * a);
  HostPositions x("x", 4);
  const double f[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d) x(i, d) = f[i][d] * a;
  // First shell at a/√2 (12), second at a (6), third at a√(3/2) (24).
  for (const auto& shell : std::vector<std::pair<double, int>>{{2.8, 0}, {2.9, 12}, {4.0, 12}, {4.0001, 18}, {4.85, 18}, {4.95, 42}}) {
    const double rc = shell.first;  // not a structured binding: doctest's messages capture it (nvcc)
    const int cn = shell.second;
    const auto nl = build_neighbor_list(host(), x, L, rc);
    for (int i = 0; i < 4; ++i) CHECK_MESSAGE(nl.num_neighbors(i) == cn, "rc = " << rc);
    CHECK(as_set(nl) == brute_force(x, L, rc));
  }
  // The same crystal as a primitive (rhombohedral) cell: every atom still has 12 then 18.
  Eigen::Matrix3d p;
  p << 0, 2, 2, 2, 0, 2, 2, 2, 0;
  HostPositions x1("x1", 1);
  CHECK(build_neighbor_list(host(), x1, Lattice(p), 2.9).num_pairs() == 12);
  CHECK(build_neighbor_list(host(), x1, Lattice(p), 4.0001).num_pairs() == 18);
}

TEST_CASE("neighbor list: random skewed cells, thin cells and unwrapped positions match brute force") {
  std::mt19937 rng(20240601);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int thin = 0, cases = 0;
  for (int t = 0; t < 150; ++t) {
    const double scale = 2.0 + 10.0 * u(rng);
    const Lattice L = random_cell(rng, scale);
    const int n = 1 + static_cast<int>(u(rng) * 25);
    // Half the cases put the atoms well outside the cell (fractional coordinates in [-3, 4)).
    const bool outside = t % 2 == 1;
    const auto x = random_positions(rng, L, n, outside ? -3.0 : 0.0, outside ? 4.0 : 1.0);
    const double rc = 1.0 + 6.0 * u(rng);
    const auto w = L.perpendicular_widths();
    if (*std::min_element(w.begin(), w.end()) < rc) ++thin;
    const auto nl = build_neighbor_list(host(), x, L, rc, NeighborListOptions{t % 3 != 0});
    CHECK(nl.sorted == (t % 3 != 0));
    check_invariants(nl, x, L);
    CHECK_MESSAGE(as_set(nl) == brute_force(x, L, rc), "case " << t << " n=" << n << " rc=" << rc);
    ++cases;
  }
  CHECK(cases == 150);
  CHECK(thin > 50);  // the sample really exercises cells thinner than the cutoff
}

TEST_CASE("neighbor list: positions thousands of cells away from the origin") {
  std::mt19937 rng(11);
  for (int t = 0; t < 20; ++t) {
    const Lattice L = random_cell(rng, 4.0);
    const auto x = random_positions(rng, L, 12, t % 2 ? -5000.0 : 2000.0, t % 2 ? -4990.0 : 2010.0);
    const auto nl = build_neighbor_list(host(), x, L, 4.5);
    check_invariants(nl, x, L);
    CHECK(as_set(nl) == brute_force(x, L, 4.5));
  }
}

TEST_CASE("neighbor list: dense liquid-like box (many bins) matches brute force") {
  std::mt19937 rng(7);
  const int n = 800;
  const double len = std::cbrt(n / 0.05);
  Eigen::Matrix3d m;
  m << len, 0, 0, 0.3 * len, 0.95 * len, 0, -0.2 * len, 0.1 * len, 1.05 * len;
  const Lattice L(m);
  const auto x = random_positions(rng, L, n, -0.5, 1.5);
  const auto nl = build_neighbor_list(host(), x, L, 5.0);
  CHECK(nl.bins[0] * nl.bins[1] * nl.bins[2] > 8);
  check_invariants(nl, x, L);
  CHECK(as_set(nl) == brute_force(x, L, 5.0));
  // ~ density · 4π rc³ / 3 ≈ 26 neighbours on average.
  CHECK(double(nl.num_pairs()) / n == doctest::Approx(0.05 * 4.0 / 3.0 * M_PI * 125.0).epsilon(0.15));
}

TEST_CASE("neighbor list: sparse huge cell caps the bin count and stays exact") {
  std::mt19937 rng(3);
  const Lattice L = Lattice::from_parameters(400, 300, 500, 80, 100, 110);
  const auto x = random_positions(rng, L, 30, 0.0, 1.0);
  const auto nl = build_neighbor_list(host(), x, L, 150.0);
  CHECK(std::int64_t(nl.bins[0]) * nl.bins[1] * nl.bins[2] <= 60);
  CHECK(as_set(nl) == brute_force(x, L, 150.0));
}

TEST_CASE("neighbor list: Structure and System front ends agree with the view front end") {
  Structure s(Lattice::from_parameters(5.64, 5.64, 5.64, 90, 90, 90));
  const double f[8][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5},
                          {0.5, 0, 0}, {0, 0.5, 0}, {0, 0, 0.5}, {0.5, 0.5, 0.5}};
  for (int i = 0; i < 8; ++i) s.add_site(i < 4 ? 11 : 17, Eigen::Vector3d(f[i][0], f[i][1], f[i][2]));
  const auto a = build_neighbor_list(s, 3.0);
  for (int i = 0; i < 8; ++i) CHECK(a.num_neighbors(i) == 6);  // rock salt: 6 at 2.82 Å
  const auto sys = System<HostSpace>::from_structure(s);
  const auto b = build_neighbor_list(host(), sys, 3.0);
  CHECK(as_set(a) == as_set(b));
  for (int p = 0; p < static_cast<int>(a.num_pairs()); ++p) CHECK(a.neighbors(p) == b.neighbors(p));
}

TEST_CASE("neighbor list: empty input and bad arguments") {
  const Lattice L(Eigen::Matrix3d::Identity() * 4.0);
  HostPositions none("none", 0);
  const auto nl = build_neighbor_list(host(), none, L, 3.0);
  CHECK(nl.num_atoms() == 0);
  CHECK(nl.num_pairs() == 0);
  HostPositions x("x", 2);
  CHECK_THROWS_AS(build_neighbor_list(host(), x, L, 0.0), ValueError);
  CHECK_THROWS_AS(build_neighbor_list(host(), x, L, -1.0), ValueError);
  CHECK_THROWS_AS(build_neighbor_list(host(), x, L, std::nan("")), ValueError);
  x(1, 2) = std::nan("");
  CHECK_THROWS_AS(build_neighbor_list(host(), x, L, 3.0), ValueError);
  x(1, 2) = 0.0;
  // A cutoff that would need billions of pairs is refused rather than run for hours.
  CHECK_THROWS_AS(build_neighbor_list(host(), x, Lattice(Eigen::Matrix3d::Identity() * 0.5), 1000.0), ValueError);
}
