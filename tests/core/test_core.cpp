#include <doctest/doctest.h>

#include <nernst/core/elements.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/units.hpp>

#include <random>

using namespace nernst;

TEST_CASE("units: CODATA 2018 values and derived conversions") {
  CHECK(units::kB == doctest::Approx(8.617333262e-5).epsilon(1e-12));
  CHECK(units::eV_per_A3_in_GPa == doctest::Approx(160.2176634).epsilon(1e-14));
  // ASE: units.fs = 1e-15 * 1e10 * sqrt(e / amu) = 0.09822694...; natural time unit 10.1805 fs.
  CHECK(std::sqrt(units::amu_A2_per_eV_in_fs2) == doctest::Approx(10.180505710774).epsilon(1e-11));
  // σ for 1 e carrier per 1000 Å³ with D = 1e-5 cm²/s at 300 K: n e² D / (kB T) by hand.
  const double sigma_SI = 1e27 * 1.602176634e-19 * 1.602176634e-19 * 1e-9 / (1.380649e-23 * 300.0);  // S/m
  const double D_A2_fs = 1e-5 / units::A2_per_fs_in_cm2_per_s;
  CHECK(units::nernst_einstein_mS_per_cm * D_A2_fs / (1000.0 * 300.0) == doctest::Approx(sigma_SI * 10.0).epsilon(1e-12));
}

TEST_CASE("elements: symbols, masses, errors") {
  CHECK(atomic_number("Li") == 3);
  CHECK(atomic_number("cl") == 17);
  CHECK(atomic_number("BR") == 35);
  CHECK(std::string(element_symbol(39)) == "Y");
  CHECK(atomic_mass(3) == doctest::Approx(6.94));
  CHECK(atomic_mass(94) == doctest::Approx(244.06421));
  for (int z = 1; z <= max_atomic_number; ++z) CHECK(element(z).z == z);
  CHECK_THROWS_AS(atomic_number("Xx"), ValueError);
  CHECK_THROWS_AS(element(95), ValueError);
}

TEST_CASE("lattice: parameters, volume, reciprocal, wrapping, minimum image") {
  const auto L = Lattice::from_parameters(11.209337, 11.209337, 6.046941, 90, 90, 120);
  CHECK(L.volume() == doctest::Approx(658.00048706).epsilon(1e-8));
  const auto ang = L.angles();
  CHECK(ang[2] == doctest::Approx(120.0));
  const Eigen::Matrix3d prod = L.matrix() * L.reciprocal().transpose();
  CHECK((prod - Eigen::Matrix3d::Identity()).norm() < 1e-12);
  const Eigen::Vector3d f(1.25, -0.5, 2.999999);
  const auto w = Lattice::wrap_frac(f);
  CHECK(w[0] == doctest::Approx(0.25));
  CHECK(w[1] == doctest::Approx(0.5));
  CHECK(w[2] < 1.0);
  CHECK((L.to_frac(L.to_cart(f)) - f).norm() < 1e-12);
  CHECK_THROWS_AS(Lattice(Eigen::Matrix3d::Zero()), ValueError);

  // Minimum image against brute force over a skewed cell.
  Eigen::Matrix3d m;
  m << 4.0, 0.0, 0.0, 3.1, 2.0, 0.0, 1.7, 1.1, 3.0;
  const Lattice sk(m);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-8, 8);
  for (int t = 0; t < 200; ++t) {
    const Eigen::Vector3d d(u(rng), u(rng), u(rng));
    double best = 1e300;
    for (int a = -6; a <= 6; ++a)
      for (int b = -6; b <= 6; ++b)
        for (int c = -6; c <= 6; ++c) best = std::min(best, (d + sk.to_cart(Eigen::Vector3d(a, b, c))).norm());
    CHECK(sk.minimum_image(d).norm() == doctest::Approx(best).epsilon(1e-12));
  }
}

TEST_CASE("lattice: LLL reduction keeps the lattice and shortens the basis") {
  Eigen::Matrix3d m;
  m << 3, 0, 0, 6, 3, 0, 9, 12, 3;  // a badly skewed basis of a simple cubic lattice
  const Lattice L(m);
  const Lattice R = L.lll_reduced();
  CHECK(R.volume() == doctest::Approx(L.volume()));
  // Same lattice: the change of basis is integral with |det| = 1.
  const Eigen::Matrix3d t = R.matrix() * L.inverse();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) CHECK(std::abs(t(i, j) - std::round(t(i, j))) < 1e-9);
  for (auto l : R.lengths()) CHECK(l == doctest::Approx(3.0));
}

TEST_CASE("structure: disordered sites, composition, formula, density") {
  Structure s(Lattice::from_parameters(5.64, 5.64, 5.64, 90, 90, 90));
  for (auto f : {Eigen::Vector3d(0, 0, 0), Eigen::Vector3d(0, .5, .5), Eigen::Vector3d(.5, 0, .5), Eigen::Vector3d(.5, .5, 0)}) {
    s.add_site(11, f);
    s.add_site(17, f + Eigen::Vector3d(.5, .5, .5));
  }
  CHECK(s.is_ordered());
  CHECK(s.formula() == "Na4Cl4");
  CHECK(s.formula(true) == "NaCl");
  // NaCl: 4 × 58.443 amu in (5.64 Å)³ = 2.164 g/cm³
  CHECK(s.density() == doctest::Approx(4 * (22.98976928 + 35.45) * 1.66053906660 / (5.64 * 5.64 * 5.64)));

  Site mixed;
  mixed.label = "X1";
  mixed.species = {{17, 0.5, -1.0}, {35, 0.5, -1.0}};
  s.add_site(mixed);
  CHECK_FALSE(s.is_ordered());
  CHECK(s.composition().at(35) == doctest::Approx(0.5));
  CHECK_THROWS_AS(s.atomic_numbers(), ValueError);

  Site over;
  over.label = "bad";
  over.species = {{3, 0.7, std::nullopt}, {39, 0.5, std::nullopt}};
  CHECK_THROWS_WITH_AS(s.add_site(over), doctest::Contains("occupancy"), ValueError);
}

TEST_CASE("system: round trip through Kokkos views") {
  Structure s(Lattice::from_parameters(4, 5, 6, 90, 90, 90));
  s.add_site(3, {0.1, 0.2, 0.3});
  s.add_site(17, {0.5, 0.5, 0.5});
  s.add_site(3, {0.9, 0.1, 0.4});
  auto sys = System<>::from_structure(s);
  CHECK(sys.size() == 3);
  CHECK(sys.species == std::vector<int>{3, 17});
  const auto back = sys.to_structure();
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((back[i].frac - s[i].frac).norm() < 1e-12);
    CHECK(back[i].z() == s[i].z());
  }
  auto hm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.mass);
  CHECK(hm(1) == doctest::Approx(35.45));
}
