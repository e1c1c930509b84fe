// Checkpoints: bit-identical continuation, trajectories/thermo appended without duplicate or
// missing frames after a "killed" run, atomic writes, guards with a final checkpoint.
#include "md_test_support.hpp"

#include <nernst/io/extxyz.hpp>

#include <cstring>
#include <filesystem>
#include <sstream>

using namespace nernst;
using namespace mdt;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool same_bits(const System<>& a, const System<>& b) {
  auto xa = Kokkos::create_mirror_view_and_copy(HostSpace(), a.x), xb = Kokkos::create_mirror_view_and_copy(HostSpace(), b.x);
  auto va = Kokkos::create_mirror_view_and_copy(HostSpace(), a.v), vb = Kokkos::create_mirror_view_and_copy(HostSpace(), b.v);
  auto ia = Kokkos::create_mirror_view_and_copy(HostSpace(), a.image), ib = Kokkos::create_mirror_view_and_copy(HostSpace(), b.image);
  const std::size_t n = a.size() * 3;
  return a.size() == b.size() && std::memcmp(xa.data(), xb.data(), n * sizeof(double)) == 0 &&
         std::memcmp(va.data(), vb.data(), n * sizeof(double)) == 0 &&
         std::memcmp(ia.data(), ib.data(), n * sizeof(int)) == 0 &&
         std::memcmp(a.cell.matrix().data(), b.cell.matrix().data(), 9 * sizeof(double)) == 0;
}

fs::path tmpdir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("nernst_md_test_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

template <class E>
void check_restart(E ens, const std::string& name) {
  const auto dir = tmpdir(name);
  const long n1 = 300, n2 = 300, every = 20;
  // uninterrupted reference
  System<> a = clone(liquid120());
  {
    Potential<LennardJones> lj(argon());
    md::SimulationOptions o = opts(2.0);
    o.seed = 99;
    md::Simulation<E, Potential<LennardJones>> sim(a, lj, ens, o);
    sim.add_observer(std::make_shared<md::TrajectoryWriter<>>((dir / "ref.xyz").string(), every));
    sim.add_observer(std::make_shared<md::ThermoLog<>>((dir / "ref.csv").string(), every));
    sim.run(n1 + n2);
  }
  // run that checkpoints at n1 and is "killed" at n1 + 50 (frames after the checkpoint exist)
  System<> b = clone(liquid120());
  {
    Potential<LennardJones> lj(argon());
    md::SimulationOptions o = opts(2.0);
    o.seed = 99;
    o.checkpoint = (dir / "run.ckpt").string();
    o.checkpoint_every = n1;
    md::Simulation<E, Potential<LennardJones>> sim(b, lj, ens, o);
    sim.add_observer(std::make_shared<md::TrajectoryWriter<>>((dir / "run.xyz").string(), every));
    sim.add_observer(std::make_shared<md::ThermoLog<>>((dir / "run.csv").string(), every));
    sim.run(n1 + 50);  // writes run.ckpt at step n1 (and at the end: overwrite, so save a copy first)
  }
  // the end-of-run checkpoint overwrote step n1; recreate the situation of a kill at n1 + 50:
  // resume from a checkpoint taken at n1 by re-running to n1 in a scratch simulation
  System<> c = clone(liquid120());
  {
    Potential<LennardJones> lj(argon());
    md::SimulationOptions o = opts(2.0);
    o.seed = 99;
    md::Simulation<E, Potential<LennardJones>> sim(c, lj, ens, o);
    sim.run(n1);
    sim.write_checkpoint((dir / "at_n1.ckpt").string());
  }
  System<> d(1);
  {
    Potential<LennardJones> lj(argon());
    md::SimulationOptions o = opts(2.0);
    o.seed = 12345;  // overwritten by the checkpoint
    md::Simulation<E, Potential<LennardJones>> sim(d, lj, ens, o);
    sim.add_observer(std::make_shared<md::TrajectoryWriter<>>((dir / "run.xyz").string(), every));
    sim.add_observer(std::make_shared<md::ThermoLog<>>((dir / "run.csv").string(), every));
    sim.restore((dir / "at_n1.ckpt").string());
    CHECK(sim.step() == n1);
    sim.run(n2);
  }
  CHECK(same_bits(a, d));
  CHECK(slurp((dir / "ref.xyz").string()) == slurp((dir / "run.xyz").string()));
  // thermo rows identical apart from the wall-clock column
  auto strip = [](const std::string& s) {
    std::stringstream in(s), out;
    std::string l;
    while (std::getline(in, l)) out << l.substr(0, l.rfind(',')) << "\n";
    return out.str();
  };
  CHECK(strip(slurp((dir / "ref.csv").string())) == strip(slurp((dir / "run.csv").string())));
  CHECK_FALSE(fs::exists(dir / "run.ckpt.tmp"));
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("restart is bit-identical and trajectories are appended without duplicates: NVT Nose-Hoover") {
  check_restart(md::Ensemble<md::NVT, md::NoseHoover>({120.0, 200.0, 3}), "nh");
}
TEST_CASE("restart is bit-identical: Langevin (counter-based noise)") {
  check_restart(md::Ensemble<md::NVT, md::Langevin>({120.0, 200.0, true}), "lang");
}
TEST_CASE("restart is bit-identical: NpT MTK triclinic") {
  check_restart(md::Ensemble<md::NpT, md::NoseHoover>(mtk(120, 700, 200, 500, md::Coupling::Triclinic)), "npt");
}
TEST_CASE("restart is bit-identical: NpT Berendsen and NVT Berendsen") {
  md::Ensemble<md::NpT, md::Berendsen>::Parameters p;
  p.temperature = 120;
  p.pressure = 700;
  p.pdamp = 500;
  check_restart(md::Ensemble<md::NpT, md::Berendsen>(p), "nptber");
  check_restart(md::Ensemble<md::NVT, md::Berendsen>({120.0, 200.0}), "nvtber");
}

TEST_CASE("trajectory frames hold unwrapped positions, the cell, Time and Step; readable by io") {
  const auto dir = tmpdir("traj");
  System<> s = clone(liquid120());
  Potential<LennardJones> lj(argon());
  using E = md::Ensemble<md::NVE>;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, E{}, opts(5.0));
  md::TrajectoryWriter<>::Options to;
  to.velocities = true;
  sim.add_observer(std::make_shared<md::TrajectoryWriter<>>((dir / "t.xyz").string(), 50, to));
  sim.run(400);
  io::detail::LineReader r((dir / "t.xyz").string());
  io::Frame f, prev;
  int frames = 0;
  double maxjump = 0;
  while (io::read_extxyz_frame(r, f)) {
    CHECK(std::stol(f.info.at("Step")) == 50 * frames);
    CHECK(std::stod(f.info.at("Time")) == doctest::Approx(0.25 * frames));  // ps
    CHECK(f.velocities.size() == s.size());
    if (frames > 0)
      for (std::size_t i = 0; i < s.size(); ++i)
        maxjump = std::max(maxjump, (f.structure.cart(i) - prev.structure.cart(i)).norm());
    prev = f;
    ++frames;
  }
  CHECK(frames == 9);
  CHECK(maxjump < 8.0);  // wrapped output would jump by ~29 Å for atoms crossing the box
  // last frame: unwrapped = wrapped + image · cell
  auto hx = Kokkos::create_mirror_view_and_copy(HostSpace(), s.x);
  auto hi = Kokkos::create_mirror_view_and_copy(HostSpace(), s.image);
  int crossed = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    Eigen::Vector3d u(hx(i, 0), hx(i, 1), hx(i, 2));
    u += s.cell.to_cart(Eigen::Vector3d(hi(i, 0), hi(i, 1), hi(i, 2)));
    CHECK((u - prev.structure.cart(i)).norm() < 1e-6);
    if (hi(i, 0) || hi(i, 1) || hi(i, 2)) ++crossed;
  }
  CHECK(crossed > 0);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint files: atomic, validated, wrong ensemble rejected") {
  const auto dir = tmpdir("ckpt");
  System<> s = clone(liquid120());
  Potential<LennardJones> lj(argon());
  using E = md::Ensemble<md::NVE>;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, E{}, opts(2.0));
  sim.run(10);
  const auto p = (dir / "c.ckpt").string();
  sim.write_checkpoint(p);
  const auto c = md::read_checkpoint(p);
  CHECK(c.step == 10);
  CHECK(c.natoms() == 500);
  // corrupt one byte -> hash mismatch
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  CHECK_THROWS_AS(md::read_checkpoint(p), IOError);
  CHECK_THROWS_AS(md::read_checkpoint((dir / "missing").string()), IOError);
  using N = md::Ensemble<md::NVT, md::NoseHoover>;
  System<> t(1);
  md::Simulation<N, Potential<LennardJones>> other(t, lj, N({120.0, 100.0, 3}), opts(2.0));
  CHECK_THROWS_AS(other.restore(c), ValueError);
  fs::remove_all(dir);
}

TEST_CASE("guards: non-finite force, close pair and collapsing cell stop with step, atoms and a final checkpoint") {
  const auto dir = tmpdir("guard");
  {
    System<> s = clone(liquid120());
    Potential<NaNForce> pot(21, 7, 1);
    using E = md::Ensemble<md::NVE>;
    md::SimulationOptions o = opts(2.0);
    o.checkpoint = (dir / "g.ckpt").string();
    md::Simulation<E, Potential<NaNForce>> sim(s, pot, E{}, o);
    std::string msg;
    try {
      sim.run(100);
    } catch (const md::SimulationError& e) {
      msg = e.what();
    }
    MESSAGE(msg);
    CHECK(msg.find("step 21") != std::string::npos);
    CHECK(msg.find("atom(s) 7") != std::string::npos);
    CHECK(fs::exists(dir / "g.ckpt.final"));
    CHECK(md::read_checkpoint((dir / "g.ckpt.final").string()).step == 20);  // last completed step; positions are those of the failed step
  }
  {
    System<> s = clone(liquid120());
    auto x = Kokkos::create_mirror_view_and_copy(HostSpace(), s.x);
    for (int d = 0; d < 3; ++d) x(3, d) = x(11, d) + (d == 0 ? 0.3 : 0.0);
    Kokkos::deep_copy(s.x, x);
    Kokkos::deep_copy(s.v, 0.0);
    Potential<LennardJones> lj(argon());
    using E = md::Ensemble<md::NVE>;
    md::SimulationOptions o = opts(0.001);
    o.guard_every = 1;
    md::Simulation<E, Potential<LennardJones>> sim(s, lj, E{}, o);
    std::string msg;
    try {
      sim.run(5);
    } catch (const md::SimulationError& e) {
      msg = e.what();
    }
    MESSAGE(msg);
    CHECK(msg.find("step 0") != std::string::npos);  // caught before the first step
    CHECK(msg.find("(3, 11") != std::string::npos);
  }
  {
    System<> s = clone(liquid120());
    Potential<LennardJones> lj(argon());
    md::Ensemble<md::NpT, md::NoseHoover>::Parameters p;
    p.temperature = 120;
    p.pressure = 1e6;  // 100 GPa on a liquid: the cell collapses
    p.pdamp = 100;
    using E = md::Ensemble<md::NpT, md::NoseHoover>;
    md::SimulationOptions o = opts(2.0);
    o.max_volume_ratio = 1.5;
    md::Simulation<E, Potential<LennardJones>> sim(s, lj, E(p), o);
    std::string msg;
    try {
      sim.run(5000);
    } catch (const md::SimulationError& e) {
      msg = e.what();
    }
    MESSAGE(msg);
    CHECK(msg.find("collapsing") != std::string::npos);
  }
  fs::remove_all(dir);
}
