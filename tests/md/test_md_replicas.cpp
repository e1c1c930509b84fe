// Replica MD (md::Replicas): K simulations in lockstep with one batched force evaluation per step
// are, byte for byte (positions, velocities, images, cell, final checkpoint, thermo log), the same
// simulations run alone one after another on one thread (workflow::on_one_thread). Also: a
// failing replica is named and the others' checkpoints stay valid; resuming a set from its
// checkpoints equals an uninterrupted run.
#include "../json_support.hpp"
#include "md_test_support.hpp"

#include <nernst/md/replicas.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/workflow/worker_processes.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>

using namespace nernst;
using namespace mdt;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A thermo log without its last column (steps per second: wall clock).
std::string thermo_rows(const fs::path& p) {
  std::stringstream in(slurp(p)), out;
  std::string l;
  while (std::getline(in, l)) out << l.substr(0, l.rfind(',')) << "\n";
  return out.str();
}

template <class V>
bool same_bytes(const V& a, const V& b) {
  auto ha = Kokkos::create_mirror_view_and_copy(HostSpace(), a);
  auto hb = Kokkos::create_mirror_view_and_copy(HostSpace(), b);
  return ha.span() == hb.span() && std::memcmp(ha.data(), hb.data(), ha.span() * sizeof(typename V::value_type)) == 0;
}

/// Positions, velocities, images and cell, bit for bit.
bool same_state(const System<>& a, const System<>& b) {
  return a.size() == b.size() && same_bytes(a.x, b.x) && same_bytes(a.v, b.v) && same_bytes(a.image, b.image) &&
         std::memcmp(a.cell.matrix().data(), b.cell.matrix().data(), 9 * sizeof(double)) == 0;
}

/// What distinguishes one replica: its ensemble, initial temperature and seeds.
template <class E>
struct ReplicaSpec {
  E ensemble;
  double T0;            ///< K, initial velocities
  std::uint64_t seed;   ///< velocities and the ensemble's noise
  std::string name;
};

/// Where a replica's files go: "<dir>/<tag>_<name>.{csv,ckpt}".
struct Files {
  fs::path dir;
  std::string tag;
  fs::path csv(const std::string& name) const { return dir / (tag + "_" + name + ".csv"); }
  fs::path ckpt(const std::string& name) const { return dir / (tag + "_" + name + ".ckpt"); }
};

md::SimulationOptions replica_options(std::uint64_t seed, const fs::path& ckpt, double dt = 2.0) {
  md::SimulationOptions o = opts(dt);
  o.seed = seed;
  o.checkpoint = ckpt.string();
  o.checkpoint_every = 50;
  return o;
}

/// A replica's initial System: `base` deep-copied with Maxwell-Boltzmann velocities.
System<> initial(const System<>& base, double T0, std::uint64_t seed) {
  System<> s = clone(base);
  md::maxwell_boltzmann(s, T0, seed);
  return s;
}

/// The simulations run alone, one after another, each on one thread (the reference): `runs`
/// run() calls of the given lengths. Returns the final Systems.
template <class E, class Pot, class MakePot>
std::vector<System<>> run_alone(const System<>& base, const std::vector<ReplicaSpec<E>>& specs, MakePot make_pot,
                                const std::vector<long>& runs, const Files& f, double dt = 2.0) {
  std::vector<System<>> out;
  for (const auto& r : specs) {
    System<> s = initial(base, r.T0, r.seed);
    workflow::on_one_thread([&] {
      Pot pot = make_pot(r);
      md::Simulation<E, Pot> sim(s, pot, r.ensemble, replica_options(r.seed, f.ckpt(r.name), dt));
      sim.add_observer(std::make_shared<md::ThermoLog<>>(f.csv(r.name).string(), 10));
      for (long n : runs) sim.run(n);
    });
    out.push_back(std::move(s));
  }
  return out;
}

/// The same simulations as a Replicas set (thermo logs every 10 steps, checkpoints every 50).
template <class E, class Pot, class MakePot>
md::Replicas<E, Pot> make_set(const System<>& base, const std::vector<ReplicaSpec<E>>& specs, MakePot make_pot,
                              const Files& f, double dt = 2.0) {
  md::Replicas<E, Pot> set;
  for (const auto& r : specs) {
    auto& sim = set.add(initial(base, r.T0, r.seed), make_pot(r), r.ensemble, replica_options(r.seed, f.ckpt(r.name), dt),
                        r.name);
    sim.add_observer(std::make_shared<md::ThermoLog<>>(f.csv(r.name).string(), 10));
  }
  return set;
}

/// Every replica of `set` equals its alone run: state, final checkpoint and thermo log.
template <class Set, class E>
void check_equal(Set& set, const std::vector<System<>>& alone, const std::vector<ReplicaSpec<E>>& specs,
                 const Files& ref, const Files& rep) {
  REQUIRE(set.size() == specs.size());
  for (std::size_t k = 0; k < specs.size(); ++k) {
    CAPTURE(set.label(k));
    CHECK(same_state(set.system(k), alone[k]));
    CHECK(slurp(rep.ckpt(specs[k].name)) == slurp(ref.ckpt(specs[k].name)));
    const std::string rows = thermo_rows(rep.csv(specs[k].name));
    CHECK(rows.size() > 100);
    CHECK(rows == thermo_rows(ref.csv(specs[k].name)));
  }
}

/// Lennard-Jones argon, 108 atoms: three replicas of ensemble E in lockstep vs alone.
template <class E>
void check_lj_lockstep(const std::vector<ReplicaSpec<E>>& specs, const std::string& tag) {
  nernst_test::TempDir dir("nernst_replicas_" + tag);
  const System<> base = fcc(3, 5.8215);
  const auto lj = [](const ReplicaSpec<E>&) { return Potential<LennardJones>(argon()); };
  const Files ref{dir.path(), "alone"}, rep{dir.path(), "set"};
  const auto alone = run_alone<E, Potential<LennardJones>>(base, specs, lj, {120, 80}, ref);
  auto set = make_set<E, Potential<LennardJones>>(base, specs, lj, rep);
  set.run(120);
  set.run(80);
  check_equal(set, alone, specs, ref, rep);
  for (std::size_t k = 0; k < set.size(); ++k) CHECK(set[k].step() == 200);
}

}  // namespace

TEST_CASE("replicas: Lennard-Jones NVT Nose-Hoover at three temperatures equal the runs alone, byte for byte") {
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  check_lj_lockstep<E>({{E({60.0, 100.0, 3}), 60.0, 11, "T60"},
                        {E({90.0, 100.0, 3}), 90.0, 12, "T90"},
                        {E({120.0, 100.0, 3}), 120.0, 13, "T120"}},
                       "nh");
}

TEST_CASE("replicas: Lennard-Jones NVT Langevin (per-replica seeds) equal the runs alone, byte for byte") {
  using E = md::Ensemble<md::NVT, md::Langevin>;
  check_lj_lockstep<E>({{E({60.0, 200.0, true}), 60.0, 21, "T60"},
                        {E({90.0, 200.0, true}), 90.0, 22, "T90"},
                        {E({120.0, 200.0, true}), 120.0, 23, "T120"}},
                       "langevin");
}

TEST_CASE("replicas: Lennard-Jones NpT MTK (triclinic) at three pressures equal the runs alone, byte for byte") {
  using E = md::Ensemble<md::NpT, md::NoseHoover>;
  check_lj_lockstep<E>({{E(mtk(80.0, 1.0, 100.0, 500.0, md::Coupling::Triclinic)), 80.0, 31, "P1"},
                        {E(mtk(80.0, 500.0, 100.0, 500.0, md::Coupling::Triclinic)), 80.0, 32, "P500"},
                        {E(mtk(100.0, 1000.0, 100.0, 500.0, md::Coupling::Triclinic)), 100.0, 33, "P1000"}},
                       "npt");
}

TEST_CASE("replicas: a failing replica is named, the others end at the last completed step and resume exactly") {
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  using P = Potential<NaNForce>;
  nernst_test::TempDir dir("nernst_replicas_fail");
  const System<> base = fcc(3, 5.8215);
  const std::vector<ReplicaSpec<E>> specs = {{E({60.0, 100.0, 3}), 60.0, 41, "T60"},
                                             {E({90.0, 100.0, 3}), 90.0, 42, "T90"},
                                             {E({120.0, 100.0, 3}), 120.0, 43, "T120"}};
  // replica 1 turns NaN at its 22nd evaluation: the initial one and 20 steps pass, step 21 fails
  const auto pot = [](const ReplicaSpec<E>& r) { return P(r.name == "T90" ? 21 : 1000000, 5, 2); };
  const Files ref{dir.path(), "alone"}, rep{dir.path(), "set"};
  auto set = make_set<E, P>(base, specs, pot, rep);
  std::string msg;
  std::size_t failed = 99;
  try {
    set.run(100);
  } catch (const md::ReplicaError& e) {
    msg = e.what();
    failed = e.replica();
  }
  MESSAGE(msg);
  CHECK(failed == 1);
  CHECK(msg.find("replica 1 'T90'") != std::string::npos);
  CHECK(msg.find("step 21") != std::string::npos);
  CHECK(msg.find("non-finite force on atom(s) 5") != std::string::npos);
  CHECK(msg.find("replica 0") == std::string::npos);
  CHECK(msg.find("replica 2") == std::string::npos);
  CHECK(md::read_checkpoint(rep.ckpt("T90").string() + ".final").step == 20);
  // the healthy replicas completed step 21 and checkpointed it; resumed alone they continue
  // exactly as runs that never stopped
  for (std::size_t k : {std::size_t(0), std::size_t(2)}) {
    CAPTURE(specs[k].name);
    CHECK(md::read_checkpoint(rep.ckpt(specs[k].name).string()).step == 21);
    CHECK(set[k].step() == 21);
  }
  const std::vector<ReplicaSpec<E>> healthy = {specs[0], specs[2]};
  const auto lj = [](const ReplicaSpec<E>&) { return P(1000000, 5, 2); };
  const auto alone = run_alone<E, P>(base, healthy, lj, {60}, ref);
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    System<> s(1);
    workflow::on_one_thread([&] {
      P p(1000000, 5, 2);
      md::Simulation<E, P> sim(s, p, healthy[i].ensemble, replica_options(healthy[i].seed, rep.ckpt(healthy[i].name)));
      sim.restore(rep.ckpt(healthy[i].name).string());
      sim.run(39);
    });
    CHECK(same_state(s, alone[i]));
  }
}

TEST_CASE("replicas: a set resumed from its checkpoints equals an uninterrupted run") {
  using E = md::Ensemble<md::NVT, md::Langevin>;
  nernst_test::TempDir dir("nernst_replicas_resume");
  const System<> base = fcc(3, 5.8215);
  const std::vector<ReplicaSpec<E>> specs = {{E({60.0, 200.0, true}), 60.0, 51, "T60"},
                                             {E({90.0, 200.0, true}), 90.0, 52, "T90"},
                                             {E({120.0, 200.0, true}), 120.0, 53, "T120"}};
  const auto lj = [](const ReplicaSpec<E>&) { return Potential<LennardJones>(argon()); };
  const Files ref{dir.path(), "alone"}, rep{dir.path(), "set"};
  const auto alone = run_alone<E, Potential<LennardJones>>(base, specs, lj, {200}, ref);
  {
    auto first = make_set<E, Potential<LennardJones>>(base, specs, lj, rep);
    first.run(130);  // checkpoints at 50, 100 and the end (130)
  }
  // a new set with different initial velocities: everything must come from the checkpoints
  std::vector<ReplicaSpec<E>> other = specs;
  for (auto& r : other) r.T0 += 500.0;
  auto second = make_set<E, Potential<LennardJones>>(base, other, lj, rep);
  CHECK(second.restore_checkpoints() == 3);
  for (std::size_t k = 0; k < second.size(); ++k) CHECK(second[k].step() == 130);
  second.run(70);
  check_equal(second, alone, specs, ref, rep);
}

TEST_CASE("replicas: M3GNet NVT at three temperatures, in lockstep and resumed, equal the runs alone") {
  NERNST_REQUIRE_SHARED_DATA();
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  using P = Potential<GraphNet<M3GNet>, float>;
  const auto model = M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  std::ifstream in(nernst_test::shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  const auto cell = nlohmann::json::parse(in).at("structures").at("20");
  const System<> base = nernst_test::system_from_json(cell.at("lattice"), cell.at("species"), cell.at("positions"));
  REQUIRE(base.size() == 20);
  const std::vector<ReplicaSpec<E>> specs = {{E({300.0, 50.0, 3}), 300.0, 61, "T300"},
                                             {E({600.0, 50.0, 3}), 600.0, 62, "T600"},
                                             {E({900.0, 50.0, 3}), 900.0, 63, "T900"}};
  const auto pot = [&](const ReplicaSpec<E>&) { return P(model); };
  nernst_test::TempDir dir("nernst_replicas_m3gnet");
  const Files ref{dir.path(), "alone"}, rep{dir.path(), "set"}, res{dir.path(), "resumed"};
  const double dt = 1.0;
  const auto alone = run_alone<E, P>(base, specs, pot, {12}, ref, dt);
  MESSAGE("host threads: " << nn::host_threads());
  {
    auto set = make_set<E, P>(base, specs, pot, rep, dt);
    set.run(12);
    check_equal(set, alone, specs, ref, rep);
  }
  {
    auto first = make_set<E, P>(base, specs, pot, res, dt);
    first.run(7);
  }
  auto second = make_set<E, P>(base, specs, pot, res, dt);
  CHECK(second.restore_checkpoints() == 3);
  second.run(5);
  check_equal(second, alone, specs, ref, res);
}

/// A rank-2 view's values, row by row, on the host.
template <class V>
std::vector<double> flat_copy(const V& v) {
  const auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), v);
  std::vector<double> out;
  for (std::size_t i = 0; i < h.extent(0); ++i)
    for (std::size_t c = 0; c < h.extent(1); ++c) out.push_back(static_cast<double>(h(i, c)));
  return out;
}

TEST_CASE("replicas: GraphBatch evaluates every replica in one compute_batch, each as alone") {
  NERNST_REQUIRE_SHARED_DATA();
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  using P = Potential<GraphNet<M3GNet>, double>;
  const auto model = M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
  std::ifstream in(nernst_test::shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  const auto cell = nlohmann::json::parse(in).at("structures").at("20");
  const System<> base = nernst_test::system_from_json(cell.at("lattice"), cell.at("species"), cell.at("positions"));
  P kernels(model);
  kernels.set_kernels(true);
  P host(model);
  host.set_kernels(false);
  // Three differently displaced copies of the cell: one force evaluation each.
  std::vector<System<>> systems;
  for (int k = 0; k < 3; ++k) {
    System<> s = clone(base);
    auto hx = Kokkos::create_mirror_view_and_copy(HostSpace(), s.x);
    for (std::size_t i = 0; i < s.size(); ++i)
      for (int c = 0; c < 3; ++c) hx(i, c) += 0.05 * std::sin(1.7 * double(i) + 0.9 * c + 2.3 * k);
    Kokkos::deep_copy(s.x, hx);
    systems.push_back(std::move(s));
  }
  std::vector<P> own(3, kernels);
  std::vector<md::ForceJob<P>> jobs(3);
  ComputeRequest req;
  req.forces = req.stress = true;
  for (std::size_t k = 0; k < 3; ++k) jobs[k] = {&own[k], &systems[k], req, {}, nullptr};
  const md::GraphBatch<P> batch{std::make_shared<P>(kernels)};
  batch(jobs);
  for (std::size_t k = 0; k < 3; ++k) {
    CAPTURE(k);
    REQUIRE(!jobs[k].error);
    const auto forces = flat_copy(systems[k].f);
    System<> again = clone(systems[k]);
    P alone = kernels;
    const auto r = alone.compute(again, req);
    const auto want = flat_copy(again.f);
    const bool device = !runs_on_host_v<DefaultExecutionSpace>;
    double df = 0;
    for (std::size_t i = 0; i < forces.size(); ++i) df = std::max(df, std::abs(forces[i] - want[i]));
    if (device) {  // one block-diagonal graph on a device: bitwise each alone
      CHECK(jobs[k].result.energy == r.energy);
      CHECK(df == 0.0);
    } else {
      CHECK(std::abs(jobs[k].result.energy - r.energy) <= 1e-12 * std::abs(r.energy));
      CHECK(df <= 1e-12);
    }
    CHECK((jobs[k].result.stress - r.stress).cwiseAbs().maxCoeff() <= 1e-12);
    // And the host evaluator's numbers (the reference suites' own).
    System<> h = clone(systems[k]);
    CHECK(std::abs(host.compute(h, req).energy - r.energy) <= 1e-10 * std::abs(r.energy));
  }
  // A short NVT set in lockstep through GraphBatch follows the host set to rounding.
  const std::vector<ReplicaSpec<E>> specs = {{E({300.0, 50.0, 3}), 300.0, 71, "T300"},
                                             {E({900.0, 50.0, 3}), 900.0, 72, "T900"}};
  nernst_test::TempDir dir("nernst_replicas_graph_batch");
  const Files a{dir.path(), "graph"}, b{dir.path(), "host"};
  md::Replicas<E, P, md::GraphBatch<P>> merged(md::GraphBatch<P>{std::make_shared<P>(kernels)});
  md::Replicas<E, P> plain;
  for (const auto& r : specs) {
    merged.add(initial(base, r.T0, r.seed), kernels, r.ensemble, replica_options(r.seed, a.ckpt(r.name), 1.0), r.name);
    plain.add(initial(base, r.T0, r.seed), host, r.ensemble, replica_options(r.seed, b.ckpt(r.name), 1.0), r.name);
  }
  merged.run(6);
  plain.run(6);
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const auto x1 = flat_copy(merged.system(k).x), x2 = flat_copy(plain.system(k).x);
    double dx = 0;
    for (std::size_t i = 0; i < x1.size(); ++i) dx = std::max(dx, std::abs(x1[i] - x2[i]));
    CHECK(dx <= 1e-9);
    CHECK(merged[k].step() == 6);
  }
}

TEST_CASE("replicas: a System shared by two replicas is rejected") {
  using E = md::Ensemble<md::NVE>;
  md::Replicas<E, Potential<LennardJones>> set;
  System<> s = fcc(2, 5.8215);
  set.add(s, Potential<LennardJones>(argon()), E{});
  CHECK_THROWS_AS(set.add(s, Potential<LennardJones>(argon()), E{}), ValueError);
  CHECK_THROWS_AS(set.run(-1), ValueError);
}
