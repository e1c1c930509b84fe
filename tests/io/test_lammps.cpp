#include "io_test_support.hpp"

#include <nernst/io/lammps.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace nernst;

TEST_CASE("lammps data: ASE-written triclinic charge-style file reads as ASE reads it") {
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "ase_licl_charge_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  io::LammpsOptions opt;
  opt.type_to_z = {3, 17};  // ASE writes no Masses section
  const io::Frame f = io::read_lammps_data((dir / "ase_licl_charge.lmp").string(), opt);
  REQUIRE(f.structure.size() == ref["numbers"].size());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) CHECK(f.structure.lattice().matrix()(i, j) == doctest::Approx(ref["cell"][i][j].get<double>()));
  for (std::size_t a = 0; a < f.structure.size(); ++a) {
    CHECK(f.structure[a].z() == ref["numbers"][a].get<int>());
    CHECK(f.charges[a] == ref["charges"][a].get<double>());
    for (int d = 0; d < 3; ++d)
      CHECK(f.structure.cart(a)[d] == doctest::Approx(ref["positions"][a][d].get<double>()).epsilon(1e-13).scale(1));
  }
  // Without a map and without Masses the element cannot be known: an error, not a guess.
  CHECK_THROWS_AS(io::read_lammps_data((dir / "ase_licl_charge.lmp").string()), ParseError);
}

TEST_CASE("lammps data: write/read round trip (general cell rotated to LAMMPS form), masses identify elements") {
  Eigen::Matrix3d m;
  m << 4.0, 0.3, 0.2, -0.5, 4.2, 0.1, 0.4, -0.3, 5.0;  // not lower triangular
  io::Frame f;
  f.structure = Structure(Lattice(m));
  f.structure.add_site(3, Eigen::Vector3d(0.1, 0.2, 0.3));
  f.structure.add_site(39, Eigen::Vector3d(0.6, 0.5, 0.4));
  f.structure.add_site(17, Eigen::Vector3d(0.9, 0.1, 0.7));
  f.velocities = {Eigen::Vector3d(1e-3, 2e-3, -3e-3), Eigen::Vector3d(0, 0, 1e-4), Eigen::Vector3d(-5e-4, 0, 0)};
  f.images = {Eigen::Vector3i(0, 1, -1), Eigen::Vector3i(2, 0, 0), Eigen::Vector3i(0, 0, 0)};
  f.charges = {1, 3, -1};
  for (bool charge : {false, true}) {
    std::stringstream ss;
    io::LammpsDataWriteOptions wo;
    wo.charge_style = charge;
    io::write_lammps_data(ss, f, wo);
    io::detail::LineReader r(ss, "rt.data");
    const io::Frame g = io::read_lammps_data(r);
    REQUIRE(g.structure.size() == 3);
    // Same cell up to a rotation: lengths, angles and fractional coordinates agree.
    for (int k = 0; k < 3; ++k) {
      CHECK(g.structure.lattice().lengths()[k] == doctest::Approx(f.structure.lattice().lengths()[k]).epsilon(1e-13));
      CHECK(g.structure.lattice().angles()[k] == doctest::Approx(f.structure.lattice().angles()[k]).epsilon(1e-12));
    }
    for (std::size_t a = 0; a < 3; ++a) {
      CHECK(g.structure[a].z() == f.structure[a].z());
      CHECK((g.structure[a].frac - f.structure[a].frac).norm() < 1e-13);
      // Speeds and the velocity-lattice relation survive the rotation.
      CHECK(g.velocities[a].norm() == doctest::Approx(f.velocities[a].norm()).epsilon(1e-12));
      CHECK(g.structure.lattice().to_frac(g.velocities[a]).isApprox(f.structure.lattice().to_frac(f.velocities[a]), 1e-12));
      CHECK(g.images[a] == f.images[a]);
    }
    if (charge) CHECK(g.charges == f.charges);
    else CHECK(g.charges.empty());
  }
}

TEST_CASE("lammps dump: triclinic bounds, unsorted ids, unwrapped coordinates, streaming and random access") {
  const auto dir = nernst_test::data_dir() / "io";
  std::ifstream jf(dir / "licl_triclinic_dump_ase_read.json");
  const auto ref = nlohmann::json::parse(jf);
  io::LammpsDumpReader r((dir / "licl_triclinic.dump").string());
  CHECK(r.frame_count() == 2);
  for (std::size_t k = 0; k < 2; ++k) {
    io::Frame f;
    REQUIRE(r.next(f));
    const auto& e = ref[k];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) CHECK(f.structure.lattice().matrix()(i, j) == doctest::Approx(e["cell"][i][j].get<double>()));
    for (std::size_t a = 0; a < 3; ++a) {
      CHECK(f.structure[a].z() == e["numbers"][a].get<int>());
      for (int d = 0; d < 3; ++d) {
        // nernst puts the box origin at 0; ASE keeps it as celldisp.
        CHECK(f.structure.cart(a)[d] ==
              doctest::Approx(e["positions"][a][d].get<double>() - e["celldisp"][d].get<double>()).scale(1).epsilon(1e-13));
        CHECK(f.forces[a][d] == e["forces"][a][d].get<double>());
      }
    }
    CHECK(f.images[1] == Eigen::Vector3i(1, -1, 0));
    CHECK(f.velocities[2][1] == doctest::Approx(2.0e-3));  // Å/ps -> Å/fs
  }
  const io::Frame last = r.read(1);
  CHECK(last.step == 100);
  CHECK(r.read(0).step == 0);
}

TEST_CASE("lammps: malformed data and dump files name file, line and problem") {
  using Case = nernst_test::MalformedCase;
  const std::string head = "ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 4\n0 4\n0 4\n";
  const std::vector<Case> cases = {
      {head + "ITEM: ATOMS id element x y z\n1 Li 0 0 0\n", 11, "truncated"},
      {head + "ITEM: ATOMS id element x y z\n1 Li 0 0 0\n2 Li 1 1\n", 11, "expected 5 columns"},
      {head + "ITEM: ATOMS id element x y z\n1 Li 0 0 0\n2 Qq 1 1 1\n", 11, "unknown element"},
      {head + "ITEM: ATOMS id type x y z\n1 1 0 0 0\n2 1 1 1 1\n", 10, "no element"},
      {head + "ITEM: ATOMS id element x y z\n1 Li 0 0 0\n1 Li 1 1 1\n", 11, "duplicate atom id"},
      {"ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 4\n0 0\n0 4\n", 8, "singular cell"},
      {"ITEM: TIMESTEP\nx\n", 2, "expected an integer"},
      {"ITEM: TIMESTAMP\n", 1, "TIMESTEP"},
  };
  nernst_test::check_malformed(cases, "bad.dump", [](const std::string& text, const std::string& file) {
    std::istringstream in(text);
    io::detail::LineReader lr(in, file);
    io::Frame f;
    io::read_lammps_dump_frame(lr, f);
  });
  const std::string data = "t\n\n2 atoms\n1 atom types\n0 4 xlo xhi\n0 4 ylo yhi\n0 4 zlo zhi\n\nMasses\n\n1 6.94\n\nAtoms # atomic\n\n";
  const std::vector<Case> dcases = {
      {data + "1 1 0 0 0\n", 16, "truncated"},
      {data + "1 1 0 0 0\n2 1 0 0\n", 16, "columns"},
      {data + "1 1 0 0 0\n2 3 0 0 0\n", 16, "out of range"},
      {"t\n\n2 atoms\n1 atom types\n0 4 xlo xhi\n0 4 ylo yhi\n0 4 zlo zhi\n\nMasses\n\n1 777\n\nAtoms\n\n1 1 0 0 0\n2 1 1 1 1\n",
       11, "element of atom type 1"},
      {"t\n\n2 atoms\n1 atom types\n0 4 xlo xhi\n0 0 ylo yhi\n0 4 zlo zhi\n\nAtoms\n\n", 6, "singular cell"},
      {"t\n\n2 atoms\n1 atom types\n0 4 xlo xhi\n0 4 ylo yhi\n0 4 zlo zhi\n\nAtoms # full\n\n", 9, "not supported"},
  };
  nernst_test::check_malformed(dcases, "bad.data", [](const std::string& text, const std::string& file) {
    std::istringstream in(text);
    io::detail::LineReader lr(in, file);
    io::read_lammps_data(lr);
  });
  // Masses identify elements; ids are sorted.
  std::istringstream in(data + "2 1 1 1 1\n1 1 0 0 0\n");
  io::detail::LineReader lr(in, "ok.data");
  const io::Frame f = io::read_lammps_data(lr);
  CHECK(f.structure[0].z() == 3);
  CHECK(f.structure.cart(1)[0] == doctest::Approx(1.0));
}
