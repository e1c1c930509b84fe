#include "io_test_support.hpp"

#include <nernst/io/poscar.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace nernst;

namespace {
io::Frame parse(const std::string& text, const std::string& name = "POSCAR") {
  std::istringstream in(text);
  io::detail::LineReader r(in, name);
  return io::read_poscar_frame(r);
}
}  // namespace

TEST_CASE("poscar: ASE-written VASP 5 (selective, direct) and VASP 4 (cartesian) files read as ASE reads them") {
  // Written by ASE 3.22.1 (FixAtoms + FixScaled constraints); the JSON holds ase.io.read's result.
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "ase_poscar_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  for (const char* name : {"ase_vasp5_selective.vasp", "ase_vasp4_cartesian.vasp"}) {
    INFO(name);
    const auto& r = ref[name];
    const io::Frame f = io::read_poscar_frame((dir / name).string());
    const std::size_t n = r["numbers"].size();
    REQUIRE(f.structure.size() == n);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) CHECK(f.structure.lattice().matrix()(i, j) == r["cell"][i][j].get<double>());
    REQUIRE(f.movable.size() == n);
    for (std::size_t a = 0; a < n; ++a) {
      CHECK(f.structure[a].z() == r["numbers"][a].get<int>());
      for (int d = 0; d < 3; ++d) {
        CHECK(f.structure.cart(a)[d] == doctest::Approx(r["positions"][a][d].get<double>()).epsilon(1e-14).scale(1));
        CHECK(f.movable[a][static_cast<std::size_t>(d)] == r["movable"][a][d].get<bool>());
      }
    }
  }
}

TEST_CASE("poscar: scale factors, CONTCAR velocities and round trip") {
  const std::string body =
      "  1 0 0\n  0 1 0\n  0 0 2\nLi Cl\n1 1\nCartesian\n0 0 0\n0.5 0.5 1\n";
  // Negative scale = volume (here 64 Å³ from 2 Å³: factor cbrt(32)).
  const io::Frame neg = parse("vol\n-64\n" + body);
  CHECK(neg.structure.lattice().volume() == doctest::Approx(64.0));
  const double k = std::cbrt(32.0);
  CHECK(neg.structure.cart(1)[0] == doctest::Approx(0.5 * k));
  CHECK(neg.structure[1].frac[2] == doctest::Approx(0.5));
  // Three per-axis factors scale Cartesian positions too.
  const io::Frame three = parse("axes\n2 3 4\n" + body);
  CHECK(three.structure.lattice().matrix()(2, 2) == doctest::Approx(8.0));
  CHECK(three.structure[1].frac.isApprox(Eigen::Vector3d(0.5, 0.5, 0.5)));

  // CONTCAR: blank line, then Cartesian velocities (Å/fs).
  const std::string contcar =
      "LiCl md\n1.0\n4 0 0\n0 4 0\n0 0 4\nLi Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n\n"
      "  1.0e-3 -2.0e-3 3.0e-3\n  0.5E-03 0 0\n\n  predictor-corrector junk\n";
  const io::Frame v = parse(contcar, "CONTCAR");
  REQUIRE(v.velocities.size() == 2);
  CHECK(v.velocities[0].isApprox(Eigen::Vector3d(1e-3, -2e-3, 3e-3)));
  CHECK(v.velocities[1][0] == doctest::Approx(5e-4));
  // Direct velocities are lattice vectors per fs.
  const io::Frame vd = parse("x\n1.0\n4 0 0\n0 4 0\n0 0 4\nLi\n1\nDirect\n0 0 0\nDirect\n0.25 0 0\n");
  CHECK(vd.velocities[0][0] == doctest::Approx(1.0));

  for (bool group : {true, false})
    for (bool vasp5 : {true, false})
      for (bool cart : {true, false}) {
        io::Frame f = v;
        f.movable = {{true, false, true}, {false, false, false}};
        io::PoscarWriteOptions opt;
        opt.group = group;
        opt.vasp5 = vasp5;
        opt.cartesian = cart;
        std::ostringstream os;
        io::write_poscar(os, f, "round trip", opt);
        const io::Frame g = parse(os.str());
        REQUIRE(g.structure.size() == 2);
        CHECK((g.structure.lattice().matrix() - f.structure.lattice().matrix()).norm() < 1e-14);
        for (std::size_t a = 0; a < 2; ++a) {
          CHECK(g.structure[a].z() == f.structure[a].z());
          CHECK((g.structure[a].frac - f.structure[a].frac).norm() < 1e-14);
          CHECK((g.velocities[a] - f.velocities[a]).norm() < 1e-18);
          CHECK(g.movable[a] == f.movable[a]);
        }
      }
}

TEST_CASE("poscar: malformed input names file, line and problem") {
  using Case = nernst_test::MalformedCase;
  const std::string cell = "c\n1.0\n4 0 0\n0 4 0\n0 0 4\n";
  const std::vector<Case> cases = {
      {"c\n", 2, "scale factor"},
      {"c\nabc\n", 2, "expected a number"},
      {"c\n1.0\n4 0 0\n0 4\n", 4, "lattice vector needs 3"},
      {"c\n1.0\n4 0 0\n8 0 0\n0 0 4\nLi\n1\nDirect\n0 0 0\n", 5, "singular cell"},
      {cell + "Xy\n1\nDirect\n0 0 0\n", 6, "unknown element"},
      {cell + "Li Cl\n1 1\nDirect\n0 0 0\n", 10, "unexpected end of file"},
      {cell + "Li\n1\nDirect\n0 0\n", 9, "needs 3 coordinates"},
      {cell + "Li\n1\nDirect\n0 0 x\n", 9, "expected a number"},
      {cell + "Li\n1\nSelective\nDirect\n0 0 0 T T\n", 10, "T/F flags"},
      {cell + "Li\n1\nSelective\nDirect\n0 0 0 T Q T\n", 10, "must be T or F"},
      {cell + "Li\n1\nMaybe\n0 0 0\n", 8, "'Direct' or 'Cartesian'"},
      {cell + "1 1\nDirect\n0 0 0\n0 0 0\n", 6, "species names missing"},
      {cell + "Li\n-1\nDirect\n", 7, "negative atom count"},
      {cell + "Li\n1\nDirect\n0 0 0\n\n1 2\n", 11, "velocity needs 3"},
  };
  nernst_test::check_malformed(cases, "bad.vasp", [](const std::string& text, const std::string& file) { parse(text, file); });
}
