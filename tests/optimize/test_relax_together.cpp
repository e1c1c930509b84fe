// relax_together: many FIRE relaxations in lockstep with one batched evaluation per step. Each
// relaxation is bit for bit Optimizer<FIRE>::run of its structure alone on one thread, whatever
// the number of slots (the order in which relaxations end and slots refill); a relaxation that
// fails is named and the others finish. The refactored Optimizer<FIRE> itself is checked against
// ASE step by step in test_fire.cpp.

#include "../json_support.hpp"
#include "../test_support.hpp"

#include <nernst/core/one_thread.hpp>
#include <nernst/optimize/relax_together.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/lennard_jones.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

using namespace nernst;

namespace {

/// Positions and cell of a System, on the host, as raw doubles.
std::vector<double> state_of(const System<>& s) {
  const auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), s.x);
  std::vector<double> v;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (int d = 0; d < 3; ++d) v.push_back(h(i, d));
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) v.push_back(s.cell.matrix()(r, c));
  return v;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

/// `base` with its atoms displaced and its cell strained, differently for every k.
System<> distorted(const System<>& base, int k, double amplitude, double strain) {
  Structure s = base.to_structure();
  Eigen::Matrix3d L = s.lattice().matrix();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) L(r, c) *= 1.0 + strain * std::sin(1.3 * r + 0.7 * c + 2.1 * k);
  Structure t{Lattice(L)};
  for (std::size_t i = 0; i < s.size(); ++i) {
    Eigen::Vector3d f = s[i].frac;
    for (int d = 0; d < 3; ++d) f[d] += amplitude * std::sin(1.7 * double(i) + 0.9 * d + 2.3 * k);
    t.add_site(s[i].z(), f);
  }
  return System<>::from_structure(t);
}

struct Relaxed {
  RelaxResult result;
  std::vector<double> state;
};

/// Each structure relaxed alone by Optimizer<FIRE>::run on one thread with a fresh copy of `pot`.
template <class Pot>
std::vector<Relaxed> alone(const std::vector<System<>>& start, const Pot& pot, const RelaxOptions& o) {
  std::vector<Relaxed> out;
  for (const auto& s0 : start) {
    System<> s = System<>::from_structure(s0.to_structure());
    Pot p = pot;
    Relaxed r;
    on_one_thread([&] { r.result = Optimizer<FIRE>().run(s, p, o); });
    r.state = state_of(s);
    out.push_back(r);
  }
  return out;
}

/// relax_together over `start`, results by structure index.
template <class Pot, class Batch>
std::map<std::size_t, Relaxed> together(const std::vector<System<>>& start, const Pot& pot, std::size_t slots,
                                        const Batch& batch, const RelaxOptions& o, std::vector<std::size_t>* order = nullptr) {
  std::map<std::size_t, Relaxed> out;
  relax_together(
      pot, start.size(), slots, batch, o, [&](std::size_t k) { return System<>::from_structure(start[k].to_structure()); },
      [&](std::size_t k, System<>& s, const RelaxResult& r) {
        CHECK(out.count(k) == 0);
        out[k] = Relaxed{r, state_of(s)};
        if (order) order->push_back(k);
      });
  return out;
}

void check_same(const std::map<std::size_t, Relaxed>& got, const std::vector<Relaxed>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    CAPTURE(k);
    const Relaxed& g = got.at(k);
    CHECK(g.result.steps == want[k].result.steps);
    CHECK(g.result.evaluations == want[k].result.evaluations);
    CHECK(g.result.converged == want[k].result.converged);
    CHECK(std::memcmp(&g.result.energy, &want[k].result.energy, sizeof(double)) == 0);
    CHECK(std::memcmp(&g.result.fmax, &want[k].result.fmax, sizeof(double)) == 0);
    CHECK(same_bits(g.state, want[k].state));
  }
}

/// LJ argon fcc (4 atoms, a = 5.4 Å), distorted copies.
std::vector<System<>> argon_cells(int count) {
  const double a = 5.4;
  Structure s{Lattice(Eigen::Matrix3d::Identity() * a)};
  for (const auto& f : {Eigen::Vector3d(0, 0, 0), Eigen::Vector3d(0.5, 0.5, 0), Eigen::Vector3d(0.5, 0, 0.5), Eigen::Vector3d(0, 0.5, 0.5)})
    s.add_site(18, f);
  const System<> base = System<>::from_structure(s);
  std::vector<System<>> out;
  for (int k = 0; k < count; ++k) out.push_back(distorted(base, k, 0.02, 0.03));
  return out;
}

}  // namespace

TEST_CASE("relax_together: LJ relaxations (one slot: a pair potential's copies share arrays) equal each alone; failures are named") {
  const Potential<LennardJones> lj({0.0104, 3.40, 8.5});
  const auto start = argon_cells(3);
  RelaxOptions o;
  o.fmax = 1e-3;
  o.max_steps = 300;
  o.cell = CellFilter{};
  const auto want = alone(start, lj, o);
  for (const auto& w : want) CHECK(w.result.converged);
  check_same(together(start, lj, 1, HostBatch{}, o), want);

  // More than one slot would interleave copies that share a neighbour list.
  CHECK_THROWS_WITH_AS(together(start, lj, 2, HostBatch{}, o), doctest::Contains("one slot"), ValueError);

  // A structure that cannot start (make_system throws) and one whose forces are not finite
  // (two atoms on one site): both named, the others finish and are reported as alone.
  std::vector<System<>> bad = start;
  {
    Structure s = start[0].to_structure();
    Structure t{s.lattice()};
    for (std::size_t i = 0; i < s.size(); ++i) t.add_site(s[i].z(), s[i].frac);
    t.add_site(18, s[0].frac);
    bad.push_back(System<>::from_structure(t));
  }
  std::map<std::size_t, Relaxed> got;
  try {
    relax_together(
        lj, 5, 1, HostBatch{}, o,
        [&](std::size_t k) {
          if (k == 1) throw ValueError("no such structure");
          return System<>::from_structure(bad[k == 0 ? 0 : k - 1].to_structure());  // 4: the overlap
        },
        [&](std::size_t k, System<>& s, const RelaxResult& r) { got[k] = Relaxed{r, state_of(s)}; });
    FAIL("relax_together did not throw");
  } catch (const ValueError& e) {
    const std::string m = e.what();
    MESSAGE(m);
    CHECK(m.find("2 of 5 relaxations failed") != std::string::npos);
    CHECK(m.find("relaxation 1: no such structure") != std::string::npos);
    CHECK(m.find("relaxation 4: ") != std::string::npos);
  }
  REQUIRE(got.size() == 3);
  check_same({{0, got.at(0)}, {1, got.at(2)}, {2, got.at(3)}}, want);
}

TEST_CASE("relax_together: M3GNet relaxations on host threads (HostBatch) are bit for bit each alone, at any slot count") {
  NERNST_REQUIRE_SHARED_DATA();
  using P = Potential<GraphNet<M3GNet>, double>;
  const P pot(M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string()));
  std::ifstream in(nernst_test::shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  const auto cell = nlohmann::json::parse(in).at("structures").at("20");
  const System<> base = nernst_test::system_from_json(cell.at("lattice"), cell.at("species"), cell.at("positions"));
  std::vector<System<>> start;
  for (int k = 0; k < 4; ++k) start.push_back(distorted(base, k, 0.004 * (k + 1), 0.005));
  RelaxOptions o;
  o.fmax = 0.3;
  o.max_steps = 25;  // short: the identity, not the minimum, is under test
  o.cell = CellFilter{};
  const auto want = alone(start, pot, o);
  MESSAGE("host threads: " << nn::host_threads() << "; steps alone: " << want[0].result.steps << " " << want[1].result.steps
                           << " " << want[2].result.steps << " " << want[3].result.steps);
  for (std::size_t slots : {1, 2, 3, 4}) {
    CAPTURE(slots);
    check_same(together(start, pot, slots, HostBatch{}, o), want);
  }

  // GraphBatch: one compute_batch (M3GNet's kernels) per FIRE step. On a device each evaluation
  // is bitwise the structure's alone; on host threads the kernels agree with it to rounding.
  P kernels = pot;
  kernels.set_kernels(true);
  const auto want_k = alone(start, kernels, o);
  const auto got_k = together(start, kernels, 4, GraphBatch<P>{std::make_shared<P>(kernels)}, o);
  REQUIRE(got_k.size() == want_k.size());
  if (!runs_on_host_v<DefaultExecutionSpace>) {
    check_same(got_k, want_k);
  } else {
    for (std::size_t k = 0; k < want_k.size(); ++k) {
      CAPTURE(k);
      CHECK(got_k.at(k).result.steps == want_k[k].result.steps);
      CHECK(got_k.at(k).result.energy == doctest::Approx(want_k[k].result.energy).epsilon(1e-10));
      double dx = 0;
      for (std::size_t i = 0; i < want_k[k].state.size(); ++i) dx = std::max(dx, std::abs(got_k.at(k).state[i] - want_k[k].state[i]));
      CHECK(dx < 1e-8);
    }
  }
}
