// Convex hull: binary hull vs an independent monotone-chain lower hull; ternary analytic cases;
// compound end members (pseudo-binary); polymorph energy-difference table.

#include "../test_support.hpp"

#include <nernst/analysis/hull.hpp>

#include <random>

using namespace nernst;
using namespace nernst::analysis;

namespace {
/// Andrew's monotone chain lower hull, evaluated at x by linear interpolation.
double lower_hull_at(std::vector<std::pair<double, double>> p, double x) {
  std::sort(p.begin(), p.end());
  std::vector<std::pair<double, double>> h;
  for (const auto& q : p) {
    while (h.size() >= 2) {
      const auto& a = h[h.size() - 2];
      const auto& b = h[h.size() - 1];
      const double cross = (b.first - a.first) * (q.second - a.second) - (b.second - a.second) * (q.first - a.first);
      if (cross <= 0) h.pop_back();
      else break;
    }
    h.push_back(q);
  }
  for (std::size_t i = 0; i + 1 < h.size(); ++i)
    if (x >= h[i].first - 1e-12 && x <= h[i + 1].first + 1e-12) {
      if (h[i + 1].first - h[i].first < 1e-14) return std::min(h[i].second, h[i + 1].second);
      const double t = (x - h[i].first) / (h[i + 1].first - h[i].first);
      return (1 - t) * h[i].second + t * h[i + 1].second;
    }
  return h.front().second;
}
}  // namespace

TEST_CASE("binary hull (Li-Cl-like A-B) matches an independent monotone-chain lower hull") {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(-0.3, 0.1);
  std::vector<HullEntry> es;
  const int A = 3, B = 17;
  es.push_back({"A", {{A, 2}}, -1.0 * 2});
  es.push_back({"B", {{B, 1}}, -2.0});
  es.push_back({"A_hi", {{A, 1}}, -0.9});
  for (int k = 0; k < 30; ++k) {
    const int na = 1 + k % 7, nb = 1 + (k * 3) % 5;
    const double ef = u(rng);
    const double e = (na * -1.0 + nb * -2.0) + ef * (na + nb);
    es.push_back({"c" + std::to_string(k), {{A, double(na)}, {B, double(nb)}}, e});
  }
  ConvexHull hull({{{A, 1}}, {{B, 1}}}, es);
  std::vector<std::pair<double, double>> pts;
  for (const auto& p : hull.points()) pts.emplace_back(p.x[1], p.formation);
  int on = 0;
  for (const auto& p : hull.points()) {
    const double ref = lower_hull_at(pts, p.x[1]);
    CHECK(p.hull_energy == doctest::Approx(ref).epsilon(1e-12).scale(1));
    CHECK(p.e_above_hull >= 0);
    CHECK(p.e_above_hull == doctest::Approx(p.formation - ref).epsilon(1e-12).scale(1));
    on += p.on_hull;
  }
  CHECK(on >= 3);
  // end members have formation energy 0 (lowest of their composition), A_hi is 0.1 above
  CHECK(hull.points()[0].formation == doctest::Approx(0.0));
  CHECK(hull.points()[2].e_above_hull == doctest::Approx(0.1));
  CHECK(hull.reference_energies()[0] == doctest::Approx(-1.0));
}

TEST_CASE("ternary hull: analytic pyramid, points above and below facets") {
  const int A = 3, B = 39, C = 17;
  // End members at 0; ABC (x = 1/3 each) at −0.3 eV/atom: the hull is three planes through it.
  std::vector<HullEntry> es{{"A", {{A, 1}}, -1.0}, {"B", {{B, 1}}, -2.0}, {"C", {{C, 1}}, -3.0},
                            {"ABC", {{A, 1}, {B, 1}, {C, 1}}, (-1 - 2 - 3) - 0.9},
                            {"AB", {{A, 1}, {B, 1}}, (-1 - 2) - 2 * 0.05},        // ef = −0.05 at (½,½,0)
                            {"A2BC", {{A, 2}, {B, 1}, {C, 1}}, (-2 - 2 - 3) - 4 * 0.1}};  // (½,¼,¼)
  ConvexHull hull({{{A, 1}}, {{B, 1}}, {{C, 1}}}, es);
  const auto& p = hull.points();
  CHECK(p[3].formation == doctest::Approx(-0.3));
  CHECK(p[3].on_hull);
  // hull at (½,½,0): edge A–B, not touched by the apex: 0 → AB (−0.05) is on the hull
  CHECK(p[4].on_hull);
  // (½,¼,¼) = ¼(1,0,0)·2 ... = ¼ A + ¾ ABC → h = ¾·(−0.3) = −0.225; A2BC at −0.1 is 0.125 above
  CHECK(p[5].hull_energy == doctest::Approx(-0.225));
  CHECK(p[5].e_above_hull == doctest::Approx(0.125));
  // a hypothetical entry below the hull has a negative E_above_hull
  HullEntry low{"low", {{A, 2}, {B, 1}, {C, 1}}, (-2 - 2 - 3) - 4 * 0.3};
  CHECK(hull.e_above_hull(low) == doctest::Approx(-0.075));
  CHECK_THROWS_AS(hull.e_above_hull(HullEntry{"x", {{11, 1}}, 0}), ValueError);
}

TEST_CASE("pseudo-binary with compound end members Li3YCl6 - Li3YBr6 and the polymorph table") {
  const int Li = 3, Y = 39, Cl = 17, Br = 35;
  auto comp = [&](int nbr) { return std::map<int, double>{{Li, 3}, {Y, 1}, {Cl, 6.0 - nbr}, {Br, double(nbr)}}; };
  std::vector<HullEntry> trig, mono;
  for (int k = 0; k <= 6; ++k) {
    const double x = k / 6.0;
    // linear in x + bowing: trigonal favoured at low x, monoclinic at high x
    trig.push_back({"P-3m1_" + std::to_string(k), comp(k), 10 * (-4.0 + 0.5 * x) - 10 * 0.02 * x * (1 - x)});
    mono.push_back({"C2/m_" + std::to_string(k), comp(k), 10 * (-4.0 + 0.5 * x + 0.01 - 0.02 * x)});
  }
  std::vector<HullEntry> all = trig;
  all.insert(all.end(), mono.begin(), mono.end());
  ConvexHull hull({comp(0), comp(6)}, all);
  for (const auto& p : hull.points()) {
    CHECK(p.x[0] + p.x[1] == doctest::Approx(1.0));
    CHECK(p.e_above_hull >= 0);
  }
  // x coordinate of Li3YCl3Br3 is 1/2 (half the atoms from each end member)
  CHECK(hull.points()[3].x[1] == doctest::Approx(0.5));
  const auto table = polymorph_energy_table(trig, mono, [&](const HullEntry& e) { return element_fraction(e, Br, {Cl, Br}); });
  REQUIRE(table.size() == 7);
  for (std::size_t k = 0; k < table.size(); ++k) {
    const double x = k / 6.0;
    CHECK(table[k].x == doctest::Approx(x));
    CHECK(table[k].delta_meV == doctest::Approx(1000 * (0.01 - 0.02 * x + 0.02 * x * (1 - x))).epsilon(1e-9));
  }
  CHECK(table[0].best_a == "P-3m1_0");
}
