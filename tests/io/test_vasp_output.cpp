#include "../test_support.hpp"

#include <nernst/io/vasp_output.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace nernst;

namespace {
void compare_with_ase(const io::VaspOutput& out, const nlohmann::json& ref, double tol_pos, double tol_stress) {
  REQUIRE(out.frames.size() == ref.size());
  for (std::size_t k = 0; k < ref.size(); ++k) {
    INFO("step " << k);
    const auto& f = out.frames[k];
    const auto& r = ref[k];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) CHECK(f.structure.lattice().matrix()(i, j) == doctest::Approx(r["cell"][i][j].get<double>()));
    for (std::size_t a = 0; a < f.structure.size(); ++a) {
      CHECK(f.structure[a].z() == r["numbers"][a].get<int>());
      for (int d = 0; d < 3; ++d) {
        CHECK(f.structure.cart(a)[d] == doctest::Approx(r["positions"][a][d].get<double>()).epsilon(tol_pos).scale(1));
        CHECK(f.forces[a][d] == doctest::Approx(r["forces"][a][d].get<double>()).epsilon(1e-14));
      }
    }
    // ASE's Voigt order: xx yy zz yz xz xy.
    const auto v = r["stress_voigt"].get<std::vector<double>>();
    const Eigen::Matrix3d& s = *f.stress;
    const double got[6] = {s(0, 0), s(1, 1), s(2, 2), s(1, 2), s(0, 2), s(0, 1)};
    for (int q = 0; q < 6; ++q) CHECK(got[q] == doctest::Approx(v[static_cast<std::size_t>(q)]).epsilon(tol_stress).scale(1e-6));
    CHECK(*f.energy == doctest::Approx(r["energy"].get<double>()).epsilon(1e-13));
    CHECK(*f.free_energy == doctest::Approx(r["free_energy"].get<double>()).epsilon(1e-13));
  }
}
}  // namespace

TEST_CASE("vasprun.xml: every ionic step as ASE reads it (energies, forces, stress sign and units)") {
  // Hand-built vasprun.xml in VASP's layout; the JSON holds ase.io.read(format='vasp-xml').
  // Its calculation-level e_0_energy is deliberately wrong, as in the VASP bug ASE works around.
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "vasp_outputs_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  const auto out = io::read_vasprun((dir / "vasprun_licl_2steps.xml").string());
  CHECK_FALSE(out.truncated);
  CHECK(out.species == std::vector<int>{3, 3, 17});
  // Stress: ASE 3.22 converts with CODATA 2014, nernst with CODATA 2018 (1e-9 relative apart).
  compare_with_ase(out, ref["vasprun_licl_2steps.xml"], 1e-13, 1e-8);
}

TEST_CASE("OUTCAR: the same steps as ASE reads them") {
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "vasp_outputs_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  const auto out = io::read_outcar((dir / "OUTCAR_licl_2steps").string());
  compare_with_ase(out, ref["OUTCAR_licl_2steps"], 1e-13, 1e-8);
  // And it agrees with the vasprun twin to the OUTCAR's printed precision.
  const auto xml = io::read_vasprun((dir / "vasprun_licl_2steps.xml").string());
  for (std::size_t k = 0; k < 2; ++k) {
    CHECK(*out.frames[k].free_energy == doctest::Approx(*xml.frames[k].free_energy));
    CHECK((*out.frames[k].stress - *xml.frames[k].stress).norm() < 1e-7);
    CHECK((out.frames[k].structure.cart(2) - xml.frames[k].structure.cart(2)).norm() < 1e-4);
  }
}

TEST_CASE("vasprun.xml / OUTCAR: truncated and malformed files") {
  const auto dir = nernst_test::data_dir() / "io";
  const std::string full = io::detail::read_text_file((dir / "vasprun_licl_2steps.xml").string());
  // Cut inside the second <calculation>.
  const std::size_t cut = full.rfind("<varray name=\"forces\"");
  std::istringstream t1(full.substr(0, cut));
  CHECK_THROWS_WITH_AS(io::parse_vasprun(t1, "cut.xml"), doctest::Contains("truncated"), ParseError);
  std::istringstream t2(full.substr(0, cut));
  io::VaspReadOptions lenient;
  lenient.allow_truncated = true;
  const auto part = io::parse_vasprun(t2, "cut.xml", lenient);
  CHECK(part.truncated);
  CHECK(part.frames.size() == 1);  // the completed step only, nothing invented
  // A non-number in a force row names the line.
  std::string bad = full;
  const std::size_t fpos = bad.find("<varray name=\"forces\"");
  const std::size_t vpos = bad.find("<v>", fpos) + 3;
  bad.insert(vpos, "x");
  std::istringstream t3(bad);
  try {
    io::parse_vasprun(t3, "bad.xml");
    FAIL("no error");
  } catch (const ParseError& e) {
    CHECK(e.line() == static_cast<std::size_t>(std::count(bad.begin(), bad.begin() + static_cast<long>(vpos), '\n') + 1));
    CHECK(std::string(e.what()).find("expected a number") != std::string::npos);
  }
  std::istringstream t4("<modeling><a></b></modeling>");
  CHECK_THROWS_WITH_AS(io::parse_vasprun(t4, "m.xml"), doctest::Contains("mismatched"), ParseError);

  const std::string outcar = io::detail::read_text_file((dir / "OUTCAR_licl_2steps").string());
  std::istringstream o1(outcar.substr(0, outcar.find('\n', outcar.rfind("POSITION") + 200) + 1));
  io::detail::LineReader r1(o1, "OUTCAR");
  CHECK_THROWS_WITH_AS(io::parse_outcar(r1), doctest::Contains("unexpected end of file"), ParseError);
}
