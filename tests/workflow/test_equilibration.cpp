// Resumable equilibration (workflow/equilibration.hpp): bit-identical to md::Protocol::run, and a
// run killed inside heating, NVT or NpT (simulated by throwing from the checkpoint hook) and
// resumed from its checkpoints ends in exactly the same state and result.

#include "../test_support.hpp"
#include "workflow_test_support.hpp"

#include <nernst/core/one_thread.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/equilibration.hpp>

#include <filesystem>
#include <fstream>

using namespace nernst;
namespace fs = std::filesystem;

namespace {
using workflow_test::licl_rock_salt;

md::ProtocolParameters tiny_protocol() {
  md::ProtocolParameters p;
  p.temperature = 700;
  p.timestep = 2.0;
  p.heating = 60;        // 30 steps
  p.nvt = 40;            // 20 steps
  p.npt = 120;           // 60 steps
  p.average_last = 80;   // 40 steps
  p.sample_every = 3;
  p.seed = 7;
  return p;
}

struct Final {
  md::ProtocolResult r;
  std::vector<double> x, v;
  Eigen::Matrix3d cell;
};

template <class Sys>
Final snapshot(const md::ProtocolResult& r, const Sys& sys) {
  Final f;
  f.r = r;
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  auto hv = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.v);
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int d = 0; d < 3; ++d) f.x.push_back(hx(i, d)), f.v.push_back(hv(i, d));
  f.cell = sys.cell.matrix();
  return f;
}

void check_identical(const Final& a, const Final& b) {
  CHECK(a.r.steps == b.r.steps);
  CHECK((a.r.mean_cell.array() == b.r.mean_cell.array()).all());
  CHECK(a.r.mean_volume == b.r.mean_volume);
  CHECK(a.r.volume_std == b.r.volume_std);
  CHECK(a.r.npt_temperature == b.r.npt_temperature);
  CHECK((a.cell.array() == b.cell.array()).all());
  CHECK(a.x == b.x);
  CHECK(a.v == b.v);
}

struct Kill {};
}  // namespace

TEST_CASE("resumable equilibration equals md::Protocol and resumes bit-identically after kills") {
  const Structure s = licl_rock_salt(5.2);
  const auto p = tiny_protocol();
  const fs::path base = fs::temp_directory_path() / ("nernst_equil_test_" + std::to_string(::getpid()));
  fs::remove_all(base);

  // reference: md::Protocol in one go
  Final ref;
  {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    const auto r = md::Protocol(p).run(sys, pot);
    ref = snapshot(r, sys);
  }
  REQUIRE(ref.r.steps == 110);
  REQUIRE(ref.r.mean_volume > 0);

  // uninterrupted resumable run (checkpoints every 7 steps: chunk edges everywhere)
  {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    std::vector<std::string> seen;
    const auto r = workflow::run_resumable_protocol(sys, pot, p, base / "full", 7,
                                                    [&](const std::string& w, long) { seen.push_back(w); });
    check_identical(snapshot(r, sys), ref);
    CHECK(seen.size() == 8 + 9);  // NVT: 7..49 every 7 and step 50; NpT: 7..56 and step 60
  }

  // killed in the heating ramp, again in NVT, again twice in NpT; each time a fresh process state
  // (new System from the structure, new potential) resumes from the files
  const std::vector<std::pair<std::string, long>> kills{
      {"equilibrate NVT", 14}, {"equilibrate NVT", 35}, {"equilibrate NpT", 7}, {"equilibrate NpT", 49}};
  const fs::path dir = base / "killed";
  for (const auto& [what, step] : kills) {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    auto hook = [&, w = what, k = step](const std::string& ww, long st) {
      if (ww == w && st == k) throw Kill{};
    };
    CHECK_THROWS_AS(workflow::run_resumable_protocol(sys, pot, p, dir, 7, hook), Kill);
  }
  CHECK(fs::exists(dir / "eq_npt.chk"));
  CHECK(fs::exists(dir / "eq_npt_samples.json"));
  auto sys = System<>::from_structure(s);
  auto pot = make_rigid_ion<>();
  long resumed_calls = 0;
  const auto r = workflow::run_resumable_protocol(sys, pot, p, dir, 7, [&](const std::string&, long) { ++resumed_calls; });
  CHECK(resumed_calls == 2);  // NpT steps 56 and 60 only
  check_identical(snapshot(r, sys), ref);
  fs::remove_all(base);
}

TEST_CASE("a damaged first NpT checkpoint (no previous generation) restarts NpT from the end of NVT") {
  const Structure s = licl_rock_salt(5.2);
  const auto p = tiny_protocol();
  const fs::path dir = fs::temp_directory_path() / ("nernst_equil_npt_fallback_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Final ref;
  {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    ref = snapshot(md::Protocol(p).run(sys, pot), sys);
  }
  const auto kill_at_first_npt_checkpoint = [&] {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    auto hook = [](const std::string& w, long st) {
      if (w == "equilibrate NpT" && st == 7) throw Kill{};
    };
    CHECK_THROWS_AS(workflow::run_resumable_protocol(sys, pot, p, dir, 7, hook), Kill);
  };
  kill_at_first_npt_checkpoint();
  const fs::path npt = dir / "eq_npt.chk";
  REQUIRE(fs::exists(npt));
  REQUIRE_FALSE(fs::exists(npt.string() + ".prev"));
  std::fstream(npt, std::ios::in | std::ios::out | std::ios::binary).seekp(100).put('\x7f');
  {
    auto sys = System<>::from_structure(s);
    auto pot = make_rigid_ion<>();
    check_identical(snapshot(workflow::run_resumable_protocol(sys, pot, p, dir, 7), sys), ref);
  }
  CHECK(fs::exists(npt.string() + ".bad"));  // the damaged file is kept for inspection

  // NVT's checkpoints damaged too: nothing to fall back to, and the error says why
  fs::remove_all(dir);
  kill_at_first_npt_checkpoint();
  for (const fs::path& f : {npt, dir / "eq_nvt.chk", dir / "eq_nvt.chk.prev"})
    if (fs::exists(f)) fs::resize_file(f, 10);
  auto sys = System<>::from_structure(s);
  auto pot = make_rigid_ion<>();
  try {
    workflow::run_resumable_protocol(sys, pot, p, dir, 7);
    FAIL("expected CheckpointUnusable");
  } catch (const md::CheckpointUnusable& e) {
    CHECK(std::string(e.what()).find("the NpT checkpoints cannot be read back") != std::string::npos);
  }
  fs::remove_all(dir);
}

namespace {

/// Equilibrations of three LiCl cells (500, 700, 900 K, their own seeds) in lockstep
/// (run_resumable_protocols with HostBatch) equal each run alone on one thread, bit for bit; also
/// when they resume from checkpoints at different points (one killed in NVT, one in NpT, one not
/// started).
template <class MakePot>
void check_lockstep(const MakePot& make_pot, const fs::path& base) {
  using Pot = decltype(make_pot());
  const Structure s = licl_rock_salt(5.2);
  std::vector<md::ProtocolParameters> ps;
  for (int k = 0; k < 3; ++k) {
    auto p = tiny_protocol();
    p.temperature = 500 + 200 * k;
    p.seed = 7 + static_cast<std::uint64_t>(k);
    ps.push_back(p);
  }
  std::vector<Final> alone;
  for (int k = 0; k < 3; ++k) {
    auto sys = System<>::from_structure(s);
    auto pot = make_pot();
    on_one_thread([&] {
      alone.push_back(snapshot(workflow::run_resumable_protocol(sys, pot, ps[k], base / ("alone" + std::to_string(k)), 7), sys));
    });
  }
  const auto lockstep = [&](const std::string& tag) {
    std::vector<System<>> systems;
    std::vector<Pot> pots;
    for (int k = 0; k < 3; ++k) systems.push_back(System<>::from_structure(s)), pots.push_back(make_pot());
    std::vector<workflow::ProtocolJob<Pot>> jobs;
    for (int k = 0; k < 3; ++k) jobs.push_back({&systems[k], &pots[k], ps[k], base / (tag + std::to_string(k)), {}, {}});
    const auto r = workflow::run_resumable_protocols(jobs, 7, HostBatch{});
    for (int k = 0; k < 3; ++k) {
      CAPTURE(k);
      check_identical(snapshot(r[k], systems[k]), alone[k]);
    }
  };
  lockstep("together");
  // Job 0 killed at NVT step 21, job 1 at NpT step 14 (alone), job 2 not started: the lockstep
  // run advances them from there.
  const std::vector<std::pair<std::string, long>> kills{{"equilibrate NVT", 21}, {"equilibrate NpT", 14}};
  for (int k = 0; k < 2; ++k) {
    auto sys = System<>::from_structure(s);
    auto pot = make_pot();
    auto hook = [&](const std::string& w, long st) {
      if (w == kills[k].first && st == kills[k].second) throw Kill{};
    };
    on_one_thread([&] {
      CHECK_THROWS_AS(workflow::run_resumable_protocol(sys, pot, ps[k], base / ("resumed" + std::to_string(k)), 7, hook), Kill);
    });
  }
  lockstep("resumed");
}

}  // namespace

TEST_CASE("equilibrations in lockstep (run_resumable_protocols) equal each alone on one thread, also resumed from different points") {
  const fs::path base = fs::temp_directory_path() / ("nernst_equil_lockstep_" + std::to_string(::getpid()));
  fs::remove_all(base);
  SUBCASE("rigid ion (copies share arrays: the batch evaluates one after another)") {
    check_lockstep([] { return make_rigid_ion<>(); }, base / "rigid");
  }
  SUBCASE("M3GNet (one replica per host thread)") {
    NERNST_REQUIRE_SHARED_DATA();
    const auto model = M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
    check_lockstep([&] { return Potential<GraphNet<M3GNet>, double>(model); }, base / "m3gnet");
  }
  fs::remove_all(base);
}
