// Ranking orderings by a potential (enumerate/model_ranker.hpp, static_screen.hpp,
// relaxed_ranking.hpp): the streamed best-K equals a brute-force loop over all orderings (same
// energies, same order), a screen killed part-way resumes to the identical result, a state
// written for other inputs is refused, the Ewald pre-filter, and the relaxed ranking. The
// cheap rigid-ion potential stands in for the graph network on LYC 1x1x1 per element
// (124 orderings, 30 atoms); one test uses the real M3GNet on a few orderings.
#include "../test_support.hpp"

#include <nernst/enumerate/model_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/enumerate/relaxed_ranking.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

using namespace nernst;
using namespace nernst::enumerate;

namespace {

struct Case {
  Structure parent;
  OrderingModel model;
  Enumerator<HNF> e;
  IMat3 hnf = IMat3::Identity();
  std::uint64_t orderings = 0;
  explicit Case(Structure s)
      : parent(std::move(s)), model(parent, per_element()), e(model.multilattice(), model.derivative_options(false)) {
    const auto ag = e.active_group(hnf);
    orderings = burnside_count(e.problem(ag.group.n, model.label_counts(ag.group.n)), ag.perms);
  }
  static OrderingOptions per_element() {
    OrderingOptions o;
    o.mode = OccupancyMode::PerElement;
    return o;
  }
};

Case lyc111() {
  return Case(io::read_cif((nernst_test::shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string()));
}

/// The reference: every ordering's energy computed directly (structure -> System -> compute),
/// stably sorted by energy per atom, the first k.
struct Ranked {
  std::uint64_t ordering;
  double energy, per_atom;
};
template <class Pot, class Keep>
std::vector<Ranked> brute_force(const Case& c, Pot& pot, std::size_t k, Keep&& keep) {
  std::vector<Ranked> all;
  c.e.run_supercell(c.hnf, [&](const Derivative& d) {
    if (!keep(d)) return;
    const Structure s = c.e.to_structure(d);
    auto sys = System<>::from_structure(s);
    ComputeRequest req;
    req.forces = false;
    const double en = pot.compute(sys, req).energy;
    all.push_back({d.info.index, en, en / static_cast<double>(s.size())});
  });
  std::stable_sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) { return a.per_atom < b.per_atom; });
  all.resize(std::min(k, all.size()));
  return all;
}

void check_same(const std::vector<ScreenEntry>& got, const std::vector<Ranked>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].ordering == want[i].ordering);
    CHECK(got[i].energy == want[i].energy);  // bitwise: the same evaluation
    CHECK(got[i].energy_per_atom == want[i].per_atom);
  }
}

void check_same(const ScreenResult& a, const ScreenResult& b) {
  REQUIRE(a.best.size() == b.best.size());
  for (std::size_t i = 0; i < a.best.size(); ++i) {
    CHECK(a.best[i].ordering == b.best[i].ordering);
    CHECK(a.best[i].energy == b.best[i].energy);
    CHECK(a.best[i].labels == b.best[i].labels);
  }
}

ModelScreenOptions screen_options(std::size_t keep) {
  ModelScreenOptions o;
  o.screen.keep = keep;
  o.screen.checkpoint_seconds = 1e9;  // checkpoints by count only: deterministic positions
  return o;
}

/// With a state file in `tmp`, a checkpoint every `every` energies.
ModelScreenOptions resumable_options(const nernst_test::TempDir& tmp, std::size_t keep, std::uint64_t every) {
  auto o = screen_options(keep);
  o.screen.state_file = tmp.path() / "screen.json";
  o.screen.inputs = inputs_fingerprint({{"keep", keep}});
  o.screen.checkpoint_every = every;
  return o;
}

/// The graph networks on one host thread while it lives.
struct OneThread {
  OneThread() { nn::set_host_thread_limit(1); }
  ~OneThread() { nn::set_host_thread_limit(0); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

}  // namespace

TEST_CASE("model ranking: the streamed best K equals a brute-force loop over all orderings") {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  REQUIRE(c.orderings == 124);  // enum.x's count for this case (test_halides.cpp)
  auto pot = make_rigid_ion<>();
  const auto r = model_screen(c.e, c.hnf, pot, c.orderings, screen_options(15));
  CHECK(r.counters.evaluated == 124);
  CHECK(r.counters.candidates == 124);
  check_same(r.best, brute_force(c, pot, 15, [](const Derivative&) { return true; }));
  // Labels are those of the ordering: its structure has the recorded energy.
  const auto ag = c.e.active_group(c.hnf);
  ModelRanker<decltype(pot)> ranker(c.e, ag, pot);
  CHECK(ranker.energy(r.best[3].labels.data()).energy == r.best[3].energy);
  // The energies differ between orderings (the test would be vacuous otherwise).
  CHECK(r.best.back().energy_per_atom - r.best.front().energy_per_atom > 1e-3);
}

TEST_CASE("model ranking: a screen interrupted part-way resumes to the identical result") {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  auto pot = make_rigid_ion<>();
  const auto whole = model_screen(c.e, c.hnf, pot, c.orderings, screen_options(10));
  nernst_test::TempDir tmp("nernst_screen");
  auto o = resumable_options(tmp, 10, 10);
  o.screen.after_energy = [](std::uint64_t n) {
    if (n == 37) throw std::runtime_error("simulated kill");
  };
  CHECK_THROWS_WITH(model_screen(c.e, c.hnf, pot, c.orderings, o), "simulated kill");
  const auto st = load_screen_state(o.screen.state_file, o.screen.inputs);
  REQUIRE(st.has_value());
  CHECK(st->next == 30);  // the last checkpoint: 7 energies after it are lost, no more
  CHECK(st->counters.evaluated == 30);
  CHECK_FALSE(st->complete);
  std::uint64_t second_run = 0;
  o.screen.after_energy = [&](std::uint64_t n) { second_run = n; };
  const auto resumed = model_screen(c.e, c.hnf, pot, c.orderings, o);
  CHECK(resumed.resumed_from == 30);
  CHECK(second_run == 124 - 30);
  CHECK(resumed.counters.evaluated == 124);
  check_same(resumed, whole);
  // A finished screen is not recomputed.
  second_run = 0;
  check_same(model_screen(c.e, c.hnf, pot, c.orderings, o), whole);
  CHECK(second_run == 0);
}

// Forks a child: suite "fork", run on one thread (tests/CMakeLists.txt).
TEST_CASE("model ranking: a screen killed with SIGKILL resumes to the identical result" * doctest::test_suite("fork")) {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  auto pot = make_rigid_ion<>();
  const auto whole = model_screen(c.e, c.hnf, pot, c.orderings, screen_options(10));
  nernst_test::TempDir tmp("nernst_screen_kill");
  auto o = resumable_options(tmp, 10, 4);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // slowed down so that the parent kills it part-way
    o.screen.after_energy = [](std::uint64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
    try {
      model_screen(c.e, c.hnf, pot, c.orderings, o);
    } catch (...) {
    }
    _exit(0);
  }
  std::uint64_t seen = 0;
  for (int i = 0; i < 500 && seen < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    try {
      if (auto s = load_screen_state(o.screen.state_file, o.screen.inputs)) seen = s->next;
    } catch (const Error&) {
    }
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  const auto st = load_screen_state(o.screen.state_file, o.screen.inputs);  // never torn
  REQUIRE(st.has_value());
  CHECK(st->next >= 40);
  CHECK(st->next < 124);
  const auto resumed = model_screen(c.e, c.hnf, pot, c.orderings, o);
  CHECK(resumed.resumed_from == st->next);
  check_same(resumed, whole);
}

TEST_CASE("model ranking: a state written for other inputs is refused with the file named") {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  auto pot = make_rigid_ion<>();
  nernst_test::TempDir tmp("nernst_screen_hash");
  auto o = resumable_options(tmp, 5, 0);
  model_screen(c.e, c.hnf, pot, c.orderings, o);
  o.screen.inputs = inputs_fingerprint({{"keep", 6}});
  o.screen.keep = 6;
  CHECK_THROWS_WITH_AS(model_screen(c.e, c.hnf, pot, c.orderings, o),
                       doctest::Contains("was written for different inputs"), ValueError);
  CHECK_THROWS_WITH(model_screen(c.e, c.hnf, pot, c.orderings, o), doctest::Contains(o.screen.state_file.string().c_str()));
  // A file that is not a state is a parse error naming it.
  std::ofstream(o.screen.state_file) << "{\"format\": 3}";
  CHECK_THROWS_AS(model_screen(c.e, c.hnf, pot, c.orderings, o), ParseError);
}

TEST_CASE("model ranking: the Ewald pre-filter hands the model exactly the Ewald top K") {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  auto pot = make_rigid_ion<>();
  auto o = screen_options(5);
  o.prefilter_ewald = 20;
  o.label_charges = c.model.label_charges({{3, 1.0}, {39, 3.0}, {17, -1.0}});
  const auto r = model_screen(c.e, c.hnf, pot, c.orderings, o);
  CHECK(r.counters.candidates == 20);
  CHECK(r.counters.evaluated == 20);
  // Independent: the Ewald energies of all orderings, sorted, the first 20.
  const auto ag = c.e.active_group(c.hnf);
  const EwaldRanker ewald(c.e, ag.group, ag.active, o.label_charges, o.ewald);
  std::vector<std::pair<double, std::uint64_t>> all;
  c.e.run_supercell(c.hnf, [&](const Derivative& d) { all.emplace_back(ewald.energy(d.labels) / ewald.atoms(d.labels), d.info.index); });
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::uint64_t> top20;
  for (std::size_t i = 0; i < 20; ++i) top20.push_back(all[i].second);
  check_same(r.best, brute_force(c, pot, 5, [&](const Derivative& d) {
               return std::find(top20.begin(), top20.end(), d.info.index) != top20.end();
             }));
}

TEST_CASE("model ranking: the real M3GNet ranks the Ewald top 6 as a direct evaluation does") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes";
  const Case c = lyc111();
  Potential<GraphNet<M3GNet>, double> pot(M3GNet::load(dir.string()));
  auto o = screen_options(3);
  o.prefilter_ewald = 6;
  o.label_charges = c.model.label_charges({{3, 1.0}, {39, 3.0}, {17, -1.0}});
  const auto r = model_screen(c.e, c.hnf, pot, c.orderings, o);
  const auto ag = c.e.active_group(c.hnf);
  const EwaldRanker ewald(c.e, ag.group, ag.active, o.label_charges, o.ewald);
  TopK<std::uint64_t> top(6);
  c.e.run_supercell(c.hnf, [&](const Derivative& d) { top.push(ewald.energy(d.labels) / ewald.atoms(d.labels), d.info.index); });
  std::vector<std::uint64_t> keep;
  for (const auto& [k, i] : top.sorted()) keep.push_back(i);
  // On several threads the screen ranks batches, each ordering on one thread: the direct
  // evaluation it must equal bitwise is the one-thread one.
  const OneThread one;
  const auto want = brute_force(c, pot, 3, [&](const Derivative& d) { return std::find(keep.begin(), keep.end(), d.info.index) != keep.end(); });
  check_same(r.best, want);
  // Plausible M3GNet energies for a chloride (eV/atom), not a NaN or a unit slip.
  CHECK(r.best.front().energy_per_atom < -3.0);
  CHECK(r.best.front().energy_per_atom > -6.0);
}

TEST_CASE("model ranking: relaxation of the best N, ranked by relaxed energy, files and groups consistent") {
  NERNST_REQUIRE_SHARED_DATA();
  const Case c = lyc111();
  auto pot = make_rigid_ion<>();
  const auto r = model_screen(c.e, c.hnf, pot, c.orderings, screen_options(5));
  nernst_test::TempDir tmp("nernst_relax_rank");
  RelaxRankingOptions ro;
  ro.relax_top = 3;
  ro.fmax = 0.05;
  ro.out_dir = tmp.path() / "out";
  ro.state_dir = tmp.path() / "state";
  const auto ag = c.e.active_group(c.hnf);
  ModelRanker<decltype(pot)> ranker(c.e, ag, pot);
  auto to_structure = [&](const Label* l) { return ranker.structure(l); };
  const auto top = relax_and_rank(r.best, to_structure, pot, ro);
  REQUIRE(top.size() == 3);
  std::vector<std::uint64_t> orderings;
  for (std::size_t i = 0; i < top.size(); ++i) {
    const auto& t = top[i];
    CAPTURE(i);
    CHECK(t["rank"] == i);
    if (i > 0) CHECK(t["energy_per_atom_eV"].get<double>() >= top[i - 1]["energy_per_atom_eV"].get<double>());
    CHECK(t["converged"].get<bool>());
    // Relaxation lowers the energy below the static one.
    CHECK(t["energy_per_atom_eV"].get<double>() < t["static_energy_per_atom_eV"].get<double>());
    // The static energy is the screen's entry at static_rank.
    const auto sr = t["static_rank"].get<std::size_t>();
    CHECK(t["static_energy_per_atom_eV"].get<double>() == r.best[sr].energy_per_atom);
    CHECK(t["ordering_index"].get<std::uint64_t>() == r.best[sr].ordering);
    // The written file: its energy (CIF precision) and space group are those reported.
    const Structure s = io::read_cif(t["file"].get<std::string>());
    auto sys = System<>::from_structure(s);
    CHECK(pot.compute(sys, {}).energy / s.size() == doctest::Approx(t["energy_per_atom_eV"].get<double>()).epsilon(1e-5));
    CHECK(symmetry::space_group(s, 0.1).first == t["space_group"]["number"].get<int>());
    CHECK(t["space_group"]["symprec_A"].get<double>() == 0.1);
    CHECK(t["space_group_ladder"].size() == ro.symprec_ladder.size());
    orderings.push_back(t["ordering_index"].get<std::uint64_t>());
  }
  // Resumed: the relaxed orderings are read back, not recomputed (same answer).
  const auto again = relax_and_rank(r.best, to_structure, pot, ro);
  CHECK(again == top);
}

TEST_CASE("model ranking: batches on the host threads give the one-thread screen bitwise, also resumed after a kill") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes";
  const Case c = lyc111();
  Potential<GraphNet<M3GNet>, float> pot(M3GNet::load(dir.string()));
  static_assert(has_independent_copies<decltype(pot)>::value);
  static_assert(!has_independent_copies<decltype(make_rigid_ion<>())>::value);
  // Reference: all 124 orderings one at a time on one thread (batch 1: ModelRanker).
  ScreenResult serial;
  {
    const OneThread one;
    auto o = screen_options(12);
    o.batch = 1;
    serial = model_screen(c.e, c.hnf, pot, c.orderings, o);
  }
  // Batches of 5 (124 = 24 x 5 + 4: a short last batch) on every host thread; each ordering
  // is evaluated by one thread with the serial code, so the result is bitwise the same.
  auto o = screen_options(12);
  o.batch = 5;
  const auto batched = model_screen(c.e, c.hnf, pot, c.orderings, o);
  CHECK(batched.counters.evaluated == 124);
  check_same(batched, serial);
  // The default (batch 0) batches when there are several threads, and agrees too.
  check_same(model_screen(c.e, c.hnf, pot, c.orderings, screen_options(12)), serial);
  // Killed after 37 energies (inside the 8th batch), checkpoints every 10: resumes to the same result.
  nernst_test::TempDir tmp("nernst_screen_batched");
  auto ro = resumable_options(tmp, 12, 10);
  ro.batch = 5;
  ro.screen.after_energy = [](std::uint64_t n) {
    if (n == 37) throw std::runtime_error("simulated kill");
  };
  CHECK_THROWS_WITH(model_screen(c.e, c.hnf, pot, c.orderings, ro), "simulated kill");
  ro.screen.after_energy = nullptr;
  const auto resumed = model_screen(c.e, c.hnf, pot, c.orderings, ro);
  CHECK(resumed.resumed_from == 30);
  CHECK(resumed.evaluated_this_run == 124 - 30);
  check_same(resumed, serial);
}

TEST_CASE("model ranking: one evaluation per batch (M3GNet's kernels, compute_batch) ranks as one at a time") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes";
  const Case c = lyc111();
  Potential<GraphNet<M3GNet>, double> host(M3GNet::load(dir.string()));
  static_assert(has_batch_compute<decltype(host)>::value);
  static_assert(!has_batch_compute<decltype(make_rigid_ion<>())>::value);
  host.set_kernels(false);
  CHECK(!host.batched());
  auto merged = host;
  merged.set_kernels(true);
  CHECK(merged.batched());
  // Reference: every ordering alone through the host evaluator (batch 1).
  auto o = screen_options(124);
  o.batch = 1;
  const auto alone = model_screen(c.e, c.hnf, host, c.orderings, o);
  // Batches of 17 orderings (124 = 7 x 17 + 5), each one block-diagonal graph through the kernels.
  o.batch = 17;
  const auto together = model_screen(c.e, c.hnf, merged, c.orderings, o);
  CHECK(together.counters.evaluated == 124);
  REQUIRE(together.best.size() == alone.best.size());
  // The same energies to rounding (the kernels sum in another order than the host evaluator), so
  // the same set of orderings; compare by ordering.
  std::map<std::uint64_t, double> want;
  for (const auto& b : alone.best) want[b.ordering] = b.energy;
  for (const auto& b : together.best) {
    CAPTURE(b.ordering);
    REQUIRE(want.count(b.ordering) == 1);
    CHECK(std::abs(b.energy - want[b.ordering]) <= 1e-10 * std::abs(want[b.ordering]));
  }
  for (std::size_t i = 1; i < together.best.size(); ++i)
    CHECK(together.best[i - 1].energy_per_atom <= together.best[i].energy_per_atom);
}
