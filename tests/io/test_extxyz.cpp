#include "io_test_support.hpp"

#include <nernst/io/extxyz.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nernst;

namespace {
Eigen::Matrix3d voigt_to_matrix(const std::vector<double>& v) {
  Eigen::Matrix3d m;
  m << v[0], v[5], v[4], v[5], v[1], v[3], v[4], v[3], v[2];
  return m;
}
}  // namespace

TEST_CASE("extxyz: an ASE-written file reads exactly as ASE reads it") {
  // tests/data/io/ase_licl_3frames.extxyz was written by ASE 3.22.1 (SinglePointCalculator with
  // energy, free_energy, forces, stress; momenta); the JSON holds what ase.io.read returned.
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "ase_licl_3frames_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  const auto frames = io::read_extxyz_all((dir / "ase_licl_3frames.extxyz").string());
  REQUIRE(frames.size() == ref.size());
  for (std::size_t k = 0; k < frames.size(); ++k) {
    INFO("frame " << k);
    const auto& f = frames[k];
    const auto& r = ref[k];
    const std::size_t n = r["numbers"].size();
    REQUIRE(f.structure.size() == n);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) CHECK(f.structure.lattice().matrix()(i, j) == r["cell"][i][j].get<double>());
    for (std::size_t a = 0; a < n; ++a) {
      CHECK(f.structure[a].z() == r["numbers"][a].get<int>());
      const Eigen::Vector3d p = f.structure.cart(a);
      for (int d = 0; d < 3; ++d) {
        CHECK(p[d] == doctest::Approx(r["positions"][a][d].get<double>()).epsilon(1e-13).scale(1.0));
        CHECK(f.forces[a][d] == r["forces"][a][d].get<double>());
        // ASE 3.22 converts with CODATA 2014, nernst with CODATA 2018: 1e-9 relative apart.
        CHECK(f.velocities[a][d] == doctest::Approx(r["velocities_A_per_fs"][a][d].get<double>()).epsilon(1e-8));
      }
    }
    CHECK(*f.energy == r["energy"].get<double>());
    CHECK(*f.free_energy == r["free_energy"].get<double>());
    const Eigen::Matrix3d s = voigt_to_matrix(r["stress_voigt"].get<std::vector<double>>());
    CHECK((*f.stress - s).norm() == doctest::Approx(0.0).epsilon(1e-15));
    CHECK(f.info.at("config_type") == "md");
    CHECK(std::stod(f.info.at("temperature")) == std::stod(r["info"]["temperature"].get<std::string>()));
  }
}

TEST_CASE("extxyz: write then read round trip keeps every field") {
  const auto dir = nernst_test::data_dir() / "io";
  auto frames = io::read_extxyz_all((dir / "ase_licl_3frames.extxyz").string());
  frames[1].images.assign(frames[1].structure.size(), Eigen::Vector3i(1, -2, 3));
  frames[1].charges.assign(frames[1].structure.size(), 0.5);
  frames[2].step = 42;
  for (bool momenta : {true, false}) {
    std::stringstream ss;
    io::ExtXYZWriteOptions opt;
    opt.precision = 17;
    opt.momenta = momenta;
    for (const auto& f : frames) io::write_extxyz_frame(ss, f, opt);
    io::ExtXYZReader r(ss, "mem.extxyz");
    CHECK(r.frame_count() == 3);
    for (std::size_t k = 0; k < 3; ++k) {
      io::Frame g;
      REQUIRE(r.next(g));
      const auto& f = frames[k];
      CHECK((g.structure.lattice().matrix() - f.structure.lattice().matrix()).norm() == 0.0);
      for (std::size_t a = 0; a < f.structure.size(); ++a) {
        CHECK((g.structure.cart(a) - f.structure.cart(a)).norm() < 1e-13);
        CHECK((g.forces[a] - f.forces[a]).norm() == 0.0);
        CHECK((g.velocities[a] - f.velocities[a]).norm() < 1e-14);
      }
      CHECK(g.images == f.images);
      CHECK(g.charges == f.charges);
      CHECK(*g.energy == *f.energy);
      CHECK(*g.free_energy == *f.free_energy);
      CHECK((*g.stress - *f.stress).norm() == 0.0);
      if (!f.info.count("step")) g.info.erase("step");  // frame.step is written as step=
      CHECK(g.info == f.info);
      CHECK(g.step == f.step);
    }
    io::Frame g;
    CHECK_FALSE(r.next(g));
  }
}

TEST_CASE("extxyz: streaming reader, lazy index and random access on the transport trajectory") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = (nernst_test::shared_dir() / "reference/transport/lj_binary_nvt120.extxyz").string();
  io::ExtXYZReader r(path);
  io::Frame f0, f1, f;
  REQUIRE(r.next(f0));
  REQUIRE(r.next(f1));
  CHECK(f0.structure.size() == 500);
  CHECK(f0.images.size() == 500);
  CHECK(f1.step == 100);
  CHECK(f1.info.at("Time") == "0.2000");
  CHECK(r.frame_count() == 1001);  // README: 1001 frames
  CHECK(r.position() == 2);        // counting does not move the cursor
  REQUIRE(r.next(f));
  CHECK(f.step == 200);
  const io::Frame last = r.read(1000);
  CHECK(last.step == 100000);
  const io::Frame mid = r.read(500);
  // Same frame by streaming from the start.
  io::ExtXYZReader s(path);
  for (int k = 0; k <= 500; ++k) REQUIRE(s.next(f));
  CHECK(f.step == mid.step);
  for (std::size_t a = 0; a < 500; a += 37) {
    CHECK(f.structure.cart(a) == mid.structure.cart(a));
    CHECK(f.images[a] == mid.images[a]);
  }
  CHECK_THROWS_AS(r.seek(1002), ValueError);
  r.seek(1001);
  CHECK_FALSE(r.next(f));
  // Fresh reader: seek first (index built up to the frame only), then stream on.
  io::ExtXYZReader t(path);
  t.seek(999);
  REQUIRE(t.next(f));
  CHECK(f.step == 99900);
  REQUIRE(t.next(f));
  CHECK_FALSE(t.next(f));
  CHECK(t.frame_count() == 1001);
}

TEST_CASE("extxyz: malformed input names file, line and problem") {
  const std::string head = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 pbc=\"T T T\"\n";
  using Case = nernst_test::MalformedCase;
  const std::vector<Case> cases = {
      {head + "Li 0 0 0 0 0 0\n", 4, "truncated"},
      {head + "Li 0 0 0 0 0 0\nCl 1 1 1 0 0\n", 4, "expected 7 columns"},
      {head + "Li 0 0 0 0 0 0\nCl 1 1 x 0 0 0\n", 4, "expected a number"},
      {head + "Li 0 0 0 0 0 0\nQq 1 1 1 0 0 0\n", 4, "unknown element"},
      {head + "Li 0 0 0 0 0 0\nCl 1 1 nan 0 0 0\n", 4, "expected a number"},
      {"2\nLattice=\"4 0 0 8 0 0 0 0 4\"\nLi 0 0 0\nCl 1 1 1\n", 2, "singular cell"},
      {"2\nLattice=\"4 0 0 0 4 0 0 0\"\nLi 0 0 0\nCl 1 1 1\n", 2, "Lattice needs 9"},
      {"2\nProperties=species:S:1:pos:R:3\nLi 0 0 0\nCl 1 1 1\n", 2, "no Lattice"},
      {"2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R\n", 2, "malformed Properties"},
      {"2\nLattice=\"4 0 0 0 4 0 0 0 4\" energy=abc\n", 2, "energy"},
      {"2\nLattice=\"4 0 0 0 4 0 0 0 4 stress=1\n", 2, "unterminated"},
      {"x\n", 1, "atom count"},
      {"-3\nLattice=\"4 0 0 0 4 0 0 0 4\"\n", 1, "negative"},
      {"2\n", 2, "comment line"},
  };
  nernst_test::check_malformed(cases, "bad.xyz", [](const std::string& text, const std::string& file) {
    std::istringstream in(text);
    io::detail::LineReader lr(in, file);
    io::Frame f;
    io::read_extxyz_frame(lr, f);
  });
  // A truncated last frame is reported when counting frames too.
  std::istringstream in(head + "Li 0 0 0 0 0 0\nCl 1 1 1 0 0 0\n" + head + "Li 0 0 0 0 0 0\n");
  io::ExtXYZReader r(in, "trunc.xyz");
  CHECK_THROWS_AS(r.frame_count(), ParseError);
}
