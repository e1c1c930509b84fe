#include <doctest/doctest.h>

#include "../test_support.hpp"

#include <nernst/io/cif.hpp>
#include <nernst/symmetry/symmetry.hpp>

#include <Eigen/Geometry>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace nernst;
using namespace nernst::symmetry;

namespace {

Structure rock_salt(double a = 5.64) {
  Structure s(Lattice(Eigen::Matrix3d::Identity() * a));
  const double f[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  for (const auto& p : f) s.add_site(11, Eigen::Vector3d(p[0], p[1], p[2]));
  for (const auto& p : f) s.add_site(17, Eigen::Vector3d(p[0] + 0.5, p[1], p[2]));
  return s;
}

Structure wurtzite() {
  const double u = 0.382;
  Structure s(Lattice::from_parameters(3.25, 3.25, 5.207, 90, 90, 120));
  s.add_site(30, Eigen::Vector3d(1.0 / 3, 2.0 / 3, 0.0));
  s.add_site(30, Eigen::Vector3d(2.0 / 3, 1.0 / 3, 0.5));
  s.add_site(8, Eigen::Vector3d(1.0 / 3, 2.0 / 3, u));
  s.add_site(8, Eigen::Vector3d(2.0 / 3, 1.0 / 3, 0.5 + u));
  return s;
}

/// Independent check of a set of operations: each maps every site onto a site of the same
/// spglib type (same species and occupancies) within `tol` Å, modulo lattice translations.
void check_operations_map_structure(const Structure& s, const SymmetryDataset& d, double tol) {
  for (const auto& op : d.operations) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const Eigen::Vector3d f = op.apply(s[i].frac);
      double best = 1e300;
      for (std::size_t j = 0; j < s.size(); ++j) {
        if (d.types[j] != d.types[i]) continue;
        Eigen::Vector3d df = f - s[j].frac;
        for (int k = 0; k < 3; ++k) df[k] -= std::round(df[k]);
        best = std::min(best, s.lattice().minimum_image(s.lattice().to_cart(df)).norm());
      }
      CHECK(best < tol);
    }
  }
}

/// Closure: the composition of any two operations is in the set (mod lattice translations).
bool is_group(const std::vector<SymmetryOperation>& ops) {
  for (const auto& a : ops)
    for (const auto& b : ops) {
      SymmetryOperation c;
      c.rotation = a.rotation * b.rotation;
      c.translation = a.rotation.cast<double>() * b.translation + a.translation;
      bool found = false;
      for (const auto& o : ops)
        if (o.equivalent(c)) {
          found = true;
          break;
        }
      if (!found) return false;
    }
  return true;
}

}  // namespace

TEST_CASE("symmetry: rock salt is Fm-3m (225) with Na on 4a and Cl on 4b") {
  const auto s = rock_salt();
  const auto d = get_symmetry_dataset(s, 1e-5);
  CHECK(d.number == 225);
  CHECK(d.international == "Fm-3m");
  CHECK(d.point_group == "m-3m");
  CHECK(space_group_type(d.hall_number).number == 225);
  CHECK(d.operations.size() == 192);  // 48 point operations x 4 centring translations
  for (std::size_t i = 0; i < 8; ++i) CHECK(d.wyckoff(i) == (i < 4 ? "4a" : "4b"));
  CHECK(d.equivalent_atoms[3] == 0);
  CHECK(d.equivalent_atoms[7] == 4);
  check_operations_map_structure(s, d, 1e-8);

  const auto prim = find_primitive(s, 1e-5);
  CHECK(prim.size() == 2);
  CHECK(prim.lattice().volume() == doctest::Approx(s.lattice().volume() / 4));
  // Primitive input, rotated and with a non-reduced basis: still 225, conventional cell recovered.
  Eigen::Matrix3d b = prim.lattice().matrix();
  b.row(2) += b.row(0) - b.row(1);
  const Eigen::Matrix3d rot = Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();
  Structure p2(Lattice(b * rot.transpose()));
  for (const auto& site : prim.sites())
    p2.add_site_cart(site.z(), rot * prim.lattice().to_cart(site.frac));
  const auto d2 = get_symmetry_dataset(p2, 1e-5);
  CHECK(d2.number == 225);
  CHECK(d2.operations.size() == 48);
  CHECK(d2.wyckoff(0) != d2.wyckoff(1));
  CHECK(d2.wyckoff_multiplicities[0] == 4);
  const auto conv = conventional_cell(p2, 1e-5);
  CHECK(conv.size() == 8);
  const auto len = conv.lattice().lengths();
  for (double l : len) CHECK(l == doctest::Approx(5.64).epsilon(1e-10));
  CHECK(conv.composition().at(11) == doctest::Approx(4.0));
}

TEST_CASE("symmetry: CsCl is Pm-3m (221), wurtzite is P6_3mc (186)") {
  Structure cs(Lattice(Eigen::Matrix3d::Identity() * 4.12));
  cs.add_site(55, Eigen::Vector3d(0, 0, 0));
  cs.add_site(17, Eigen::Vector3d(0.5, 0.5, 0.5));
  const auto dc = get_symmetry_dataset(cs, 1e-5);
  CHECK(dc.number == 221);
  CHECK(dc.international == "Pm-3m");
  CHECK(dc.operations.size() == 48);
  CHECK(dc.wyckoff(0) == "1a");
  CHECK(dc.wyckoff(1) == "1b");
  check_operations_map_structure(cs, dc, 1e-8);

  const auto w = wurtzite();
  const auto dw = get_symmetry_dataset(w, 1e-5);
  CHECK(dw.number == 186);
  CHECK(dw.international == "P6_3mc");
  CHECK(dw.operations.size() == 12);
  for (std::size_t i = 0; i < 4; ++i) CHECK(dw.wyckoff(i) == "2b");
  check_operations_map_structure(w, dw, 1e-8);
  CHECK(find_primitive(w, 1e-5).size() == 4);
  // A small rattle is absorbed by symprec but not by a tight tolerance.
  Structure r = w;
  r[2].frac[2] += 0.002;  // ~0.01 Å
  CHECK(get_symmetry_dataset(r, 5e-2).number == 186);
  CHECK(get_symmetry_dataset(r, 1e-5).number != 186);
}

TEST_CASE("symmetry: disordered sites are typed by (species, occupancy)") {
  auto s = rock_salt();
  for (std::size_t i = 0; i < 4; ++i) s[i].species = {{3, 0.5, std::nullopt}, {11, 0.5, std::nullopt}};
  const auto d = get_symmetry_dataset(s, 1e-5);
  CHECK(d.number == 225);
  // The same species with a different occupancy on one site breaks the F centring -> Pm-3m.
  s[1].species = {{3, 0.25, std::nullopt}, {11, 0.75, std::nullopt}};
  const auto d1 = get_symmetry_dataset(s, 1e-5);
  CHECK(d1.number == 221);
  CHECK(d1.types[0] != d1.types[1]);
  check_operations_map_structure(s, d1, 1e-8);
  // Species order within a site does not matter.
  s[1].species = {{11, 0.5, std::nullopt}, {3, 0.5, std::nullopt}};
  CHECK(get_symmetry_dataset(s, 1e-5).number == 225);
  // Standardisation keeps mixed species.
  const auto prim = find_primitive(s, 1e-5);
  REQUIRE(prim.size() == 2);
  int mixed = 0;
  for (const auto& site : prim.sites()) mixed += site.species.size() == 2;
  CHECK(mixed == 1);
}

TEST_CASE("symmetry: space-group database operations") {
  CHECK(hall_number_from_space_group(164) == 456);
  CHECK(space_group_type(456).international_short == "P-3m1");
  CHECK(space_group_type(456).number == 164);
  const auto ops = operations_from_space_group(164);
  CHECK(ops.size() == 12);
  CHECK(is_group(ops));
  CHECK(operations_from_space_group(225).size() == 192);
  CHECK(operations_from_space_group(186).size() == 12);
  // Origin choices of Fd-3m: two settings, both groups of order 192.
  const int h1 = hall_number_from_space_group(227), h2 = hall_number_from_space_group(227, true);
  CHECK(h1 != h2);
  CHECK(space_group_type(h1).choice == "1");
  CHECK(space_group_type(h2).choice == "2");
  CHECK(is_group(operations_from_database(h2)));
  // Every setting gives a closed group and the right order for a few spot checks.
  for (int h : {1, 2, 400, 433, 434, 480, 488, 529, 530}) CHECK(is_group(operations_from_database(h)));
  CHECK_THROWS_AS(operations_from_database(0), ValueError);
  CHECK_THROWS_AS(hall_number_from_space_group(231), ValueError);
}

TEST_CASE("symmetry: experimental Li3YCl6 (OBELiX ei3, disordered) is P-3m1 (164)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = nernst_test::shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif";
  const auto cif = io::read_cif_data(path.string());
  const Structure& s = cif.structure;
  CHECK_FALSE(s.is_ordered());
  // The CIF's coordinates carry ~0.01 noise but were re-symmetrised, so a tight tolerance works;
  // the loose ones (what `nernst info` uses for experimental files) must agree.
  for (double symprec : {1e-5, 2e-3, 1e-2}) {
    CAPTURE(symprec);
    const auto d = get_symmetry_dataset(s, symprec);
    CHECK(d.number == 164);
    CHECK(d.international == "P-3m1");
    CHECK(d.operations.size() == 12);
    check_operations_map_structure(s, d, symprec + 1e-6);
    std::map<std::string, std::set<std::string>> wy;
    for (std::size_t i = 0; i < s.size(); ++i) wy[s[i].label].insert(d.wyckoff(i));
    CHECK(wy["Li0"] == std::set<std::string>{"6h"});
    CHECK(wy["Li1"] == std::set<std::string>{"6g"});
    CHECK(wy["Y2"] == std::set<std::string>{"2d"});
    CHECK(wy["Y3"] == std::set<std::string>{"2d"});
    CHECK(wy["Y4"] == std::set<std::string>{"1a"});
    for (const char* cl : {"Cl5", "Cl6", "Cl7"}) CHECK(wy[cl] == std::set<std::string>{"6i"});
    // The two Li sites differ only by occupancy: they must be different types.
    std::set<int> li_types;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i].label == "Li0" || s[i].label == "Li1") li_types.insert(d.types[i]);
    CHECK(li_types.size() == 2);
  }
  // Dataset operations = the CIF's 12 operations = spglib's database for No. 164.
  const auto d = get_symmetry_dataset(s, 2e-3);
  const auto db = operations_from_space_group(164);
  REQUIRE(cif.operations.size() == 12);
  for (const SymmetryOperation& o : cif.operations) {  // io::SymOp is SymmetryOperation
    int in_db = 0, in_ds = 0;
    for (const auto& x : db) in_db += x.equivalent(o);
    for (const auto& x : d.operations) in_ds += x.equivalent(o, 1e-4);
    CHECK(in_db == 1);
    CHECK(in_ds == 1);
  }
  // P lattice: conventional = primitive = the input cell (35 sites; Li9 Y3 Cl18 by occupancy).
  const auto conv = conventional_cell(s, 2e-3);
  const auto prim = find_primitive(s, 2e-3);
  CHECK(conv.size() == s.size());
  CHECK(prim.size() == s.size());
  CHECK(prim.lattice().volume() == doctest::Approx(s.lattice().volume()).epsilon(1e-6));
  for (const auto& [z, n] : s.composition()) {
    CHECK(conv.composition().at(z) == doctest::Approx(n).epsilon(1e-9));
    CHECK(prim.composition().at(z) == doctest::Approx(n).epsilon(1e-9));
  }
}

TEST_CASE("symmetry: operations of a cell given as arrays equal the dataset's") {
  for (const Structure& s : {rock_salt(), wurtzite()}) {
    const auto d = get_symmetry_dataset(s);
    std::vector<Eigen::Vector3d> frac;
    std::vector<int> types;
    for (std::size_t i = 0; i < s.size(); ++i) {
      frac.push_back(s[i].frac);
      types.push_back(s[i].z());
    }
    const auto ops = get_symmetry_operations(s.lattice(), frac, types);
    REQUIRE(ops.size() == d.operations.size());  // 192 (Fm-3m, conventional cell), 12 (P6_3mc)
    CHECK(ops[0].rotation == Eigen::Matrix3i::Identity());
    CHECK(ops[0].translation.norm() < 1e-12);
    for (const auto& o : ops) {
      int matches = 0;
      for (const auto& x : d.operations) matches += x.equivalent(o, 1e-6);
      CHECK(matches == 1);
    }
    CHECK(is_group(ops));
  }
  const std::vector<Eigen::Vector3d> one{Eigen::Vector3d::Zero()};
  CHECK_THROWS_AS(get_symmetry_operations(Lattice(Eigen::Matrix3d::Identity()), {}, {}), ValueError);
  CHECK_THROWS_AS(get_symmetry_operations(Lattice(Eigen::Matrix3d::Identity()), one, {1, 2}), ValueError);
}

TEST_CASE("symmetry: errors") {
  CHECK_THROWS_AS(get_symmetry_dataset(Structure(Lattice(Eigen::Matrix3d::Identity() * 3.0))), ValueError);
  CHECK_THROWS_AS(get_symmetry_dataset(rock_salt(), 0.0), ValueError);
  // Two atoms closer than symprec: spglib refuses, we report it.
  Structure s(Lattice(Eigen::Matrix3d::Identity() * 4.0));
  s.add_site(3, Eigen::Vector3d(0, 0, 0));
  s.add_site(3, Eigen::Vector3d(0.0001, 0, 0));
  CHECK_THROWS_AS(get_symmetry_dataset(s, 1e-2), ValueError);
}
