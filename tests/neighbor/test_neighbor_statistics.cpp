#include <doctest/doctest.h>

#include <nernst/neighbor/neighbor_statistics.hpp>

#include <cmath>

using namespace nernst;

TEST_CASE("neighbor statistics: rock salt shells by hand") {
  const double a = 5.13;
  Structure s(Lattice(Eigen::Matrix3d::Identity() * a));
  const double f[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  for (const auto& p : f) s.add_site(3, Eigen::Vector3d(p[0], p[1], p[2]));
  for (const auto& p : f) s.add_site(17, Eigen::Vector3d(p[0] + 0.5, p[1], p[2]));
  // Within 5 Å: Li-Cl 6 at a/2 and 8 at a√3/2 (4.44); Li-Li 12 at a/√2 (3.63), 6 at a excluded.
  const auto st = neighbor_statistics(s, 5.0);
  REQUIRE(st.elements == std::vector<int>{3, 17});
  CHECK(st.directed_pairs == 8u * 26u);
  CHECK(st.max_neighbors == 26);
  REQUIRE(st.pairs.size() == 3);
  const auto& lili = st.pairs[0];
  const auto& licl = st.pairs[1];
  const auto& clcl = st.pairs[2];
  CHECK(lili.z_a == 3);
  CHECK(lili.z_b == 3);
  CHECK(licl.z_b == 17);
  CHECK(lili.pairs == 4 * 12 / 2);
  CHECK(clcl.pairs == 4 * 12 / 2);
  CHECK(licl.pairs == 4 * 14);
  CHECK(lili.mean_distance == doctest::Approx(a / std::sqrt(2.0)));
  CHECK(licl.min_distance == doctest::Approx(a / 2));
  CHECK(licl.mean_distance == doctest::Approx((6 * a / 2 + 8 * a * std::sqrt(3.0) / 2) / 14));
  for (const auto& c : st.coordination) {
    CHECK(c.atoms == 4);
    CHECK(c.nearest_distance == doctest::Approx(a / 2));
    CHECK(c.first_shell == doctest::Approx(6.0));
    CHECK(c.total == doctest::Approx(26.0));
  }
  CHECK(st.coordination[0].by_element[0] == doctest::Approx(12.0));
  CHECK(st.coordination[0].by_element[1] == doctest::Approx(14.0));
  CHECK(st.coordination[1].by_element[0] == doctest::Approx(14.0));
}

TEST_CASE("neighbor statistics: CsCl first shell, an element without neighbours, disorder") {
  Structure s(Lattice(Eigen::Matrix3d::Identity() * 4.12));
  s.add_site(55, Eigen::Vector3d(0, 0, 0));
  s.add_site(17, Eigen::Vector3d(0.5, 0.5, 0.5));
  const auto st = neighbor_statistics(s, 4.2);
  // 8 unlike at a√3/2 = 3.57 Å, then 6 like at a = 4.12 Å (> 1.15 x 3.57 = 4.10: not first shell).
  for (const auto& c : st.coordination) {
    CHECK(c.first_shell == doctest::Approx(8.0));
    CHECK(c.total == doctest::Approx(14.0));
  }
  CHECK(st.pairs[1].pairs == 8);
  CHECK(st.pairs[0].pairs == 3);  // Cs-Cs: 6 images of itself, 3 unordered pairs
  // Cutoff below every distance: empty statistics, NaN distances.
  const auto none = neighbor_statistics(s, 1.0);
  CHECK(none.directed_pairs == 0);
  CHECK(std::isnan(none.pairs[0].mean_distance));
  CHECK(std::isinf(none.coordination[0].nearest_distance));
  s[0].species = {{55, 0.5, std::nullopt}};
  CHECK_THROWS_AS(neighbor_statistics(s, 4.2), ValueError);
}
