// A run directory that nothing can corrupt (the pipeline on a tiny chloride, rigid-ion potential):
// one writer at a time (a second run refuses, naming the holder's PID and host; a killed holder
// leaves no stale lock); kill -9 at random moments and inside the durable writes of every stage,
// then resume = the uninterrupted report and trajectory; damaged checkpoints (latest only: resumes
// from the previous generation; both: an error naming the stage to rerun); a read-only stage
// directory and a full disk stop with an error naming the file and leave no stage marked done.

#include "../test_support.hpp"
#include "../process_support.hpp"
#include "workflow_test_support.hpp"

#include <nernst/core/durable_file.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/pipeline.hpp>
#include <nernst/workflow/run_lock.hpp>

#include <sys/resource.h>

#include <filesystem>
#include <random>

using namespace nernst;
using workflow_test::slurp;
namespace fs = std::filesystem;

namespace {
/// One ordering at one temperature, short runs with checkpoints every 100 steps: every stage
/// kind runs (enumerate, relax, equilibrate, production, msd, arrhenius, report) in seconds.
workflow::PipelineOptions short_run(const fs::path& out) {
  workflow::PipelineOptions o;
  o.structure = (nernst_test::data_dir() / "workflow" / "tiny_LiYCl4.cif").string();
  o.supercell = Eigen::Matrix3i::Identity();
  o.supercell(2, 2) = 2;
  o.occupancy_mode = "per-element";
  o.temperatures = {2000};
  o.out = out.string();
  o.top_k = 2;
  o.top_m = 1;
  o.fmax = 0.05;
  o.relax_steps = 200;
  o.heating = 100;
  o.nvt = 100;
  o.npt = 200;
  o.average_last = 100;
  o.production_ps = 1.0;
  o.sample_every = 10;
  o.checkpoint_every = 100;
  o.quiet = true;
  return o;
}
auto factory = []() { return make_rigid_ion<>(li_y_cl_rigid_ion(1e-5, 7.0, 1.03)); };

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("nernst_rundir_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

const std::string production = "production_m0_2000K", equilibrate = "equilibrate_m0_2000K";

/// The uninterrupted run (in a child, like every run here), computed once; returns its directory.
const fs::path& reference() {
  static const fs::path d = [] {
    const fs::path r = fresh_dir("reference");
    const auto res = nernst_test::run_in_child([&] { workflow::run_pipeline(short_run(r), factory); });
    if (!res.finished) throw std::runtime_error("reference pipeline failed: " + res.error);
    return r;
  }();
  return d;
}

/// Resumes `dir` to the end and checks it against the reference: report and trajectory bytes.
void finish_and_compare(const fs::path& dir) {
  const auto res = nernst_test::run_in_child([&] { workflow::run_pipeline(short_run(dir), factory); });
  REQUIRE_MESSAGE(res.finished, res.error);
  CHECK(workflow::read_json(dir / "report.json") == workflow::read_json(reference() / "report.json"));
  CHECK(slurp(dir / production / "trajectory.extxyz") == slurp(reference() / production / "trajectory.extxyz"));
  CHECK(slurp(dir / equilibrate / "equilibrated.vasp") == slurp(reference() / equilibrate / "equilibrated.vasp"));
}

/// Every stage directory whose done.json exists: its result must match the reference's.
void check_done_stages_are_complete(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory() || !fs::exists(e.path() / "done.json")) continue;
    const auto ref = reference() / e.path().filename();
    CHECK_MESSAGE(workflow::read_json(e.path() / "done.json") == workflow::read_json(ref / "done.json"), e.path());
  }
}
}  // namespace

TEST_CASE("run lock: a second run on the same directory refuses at once, naming the holder's PID and host") {
  const fs::path dir = fresh_dir("lock");
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  std::fflush(nullptr);
  const pid_t holder = ::fork();
  if (holder == 0) {  // a run holding the directory
    int rc = 0;
    try {
      workflow::RunLock lock(dir);
      (void)!::write(ready[1], "x", 1);
      char c;
      (void)!::read(release[0], &c, 1);  // until the parent says so (or kills us)
    } catch (...) {
      rc = 1;
    }
    ::_exit(rc);
  }
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  char host[256] = "";
  ::gethostname(host, sizeof host);
  try {
    workflow::run_pipeline(short_run(dir), factory);
    FAIL("the second run started");
  } catch (const workflow::RunDirectoryLocked& e) {
    const std::string m = e.what();
    MESSAGE(m);
    CHECK(m.find("pid " + std::to_string(holder) + " on host " + host) != std::string::npos);
    CHECK(m.find(dir.string()) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(dir / "enumerate"));  // nothing was written by the refused run
  // reading the directory works meanwhile (reports, status): the holder is on record
  CHECK(workflow::RunLock::holder(dir).find("pid " + std::to_string(holder)) == 0);
  // a killed holder leaves no stale lock
  ::kill(holder, SIGKILL);
  int st = 0;
  ::waitpid(holder, &st, 0);
  CHECK_NOTHROW(workflow::RunLock{dir});
  {
    workflow::RunLock mine(dir);
    CHECK(workflow::RunLock::holder(dir).find("pid " + std::to_string(::getpid())) == 0);
    // a second lock in the same process is refused too (flock is per open file)
    CHECK_THROWS_AS(workflow::RunLock{dir}, workflow::RunDirectoryLocked);
  }
  ::close(ready[0]);
  ::close(ready[1]);
  ::close(release[0]);
  ::close(release[1]);
  fs::remove_all(dir);
}

TEST_CASE("pipeline killed -9 at random moments and inside durable writes, resumed each time: same report and trajectory") {
  const auto t0 = std::chrono::steady_clock::now();
  (void)reference();
  const double t_run = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  MESSAGE("uninterrupted pipeline " << t_run << " s; kills drawn with seed " << seed);
  std::mt19937 rng(seed);
  const fs::path dir = fresh_dir("kills");
  int timed = 0, in_write = 0, runs = 0;
  for (; runs < 60; ++runs) {
    nernst_test::ChildResult r;
    if (runs % 2 == 0) {  // at a random moment
      r = nernst_test::run_in_child([&] { workflow::run_pipeline(short_run(dir), factory); },
                                    std::uniform_real_distribution<double>(0.0, 0.2 * t_run)(rng));
      timed += r.killed;
    } else {  // inside the k-th durable write (checkpoints, done.json, samples), at a random step of it
      const int k = std::uniform_int_distribution<int>(1, 4)(rng);
      const auto point = static_cast<DurableWritePoint>(std::uniform_int_distribution<int>(0, 4)(rng));
      r = nernst_test::run_in_child([&] {
        int n = 0;
        durable_write_hook() = [&](const std::string&, DurableWritePoint p) -> int {
          if (p == point && ++n == k) ::raise(SIGKILL);
          return 0;
        };
        workflow::run_pipeline(short_run(dir), factory);
      });
      in_write += r.killed;
    }
    if (r.finished) break;
    REQUIRE_MESSAGE(r.killed, r.error);
    check_done_stages_are_complete(dir);
  }
  MESSAGE(timed << " kills at random moments, " << in_write << " inside writes, " << runs + 1 << " runs in all");
  CHECK(timed >= 3);
  CHECK(in_write >= 3);
  finish_and_compare(dir);
  fs::remove_all(dir);
}

TEST_CASE("pipeline with damaged checkpoints: latest only → previous generation, same result; both → which stage to rerun") {
  const fs::path dir = fresh_dir("damaged");
  // stop the run inside production, after its checkpoint at step 300
  const auto stop = [&](long at) {
    auto o = short_run(dir);
    o.on_checkpoint = [at](const std::string& w, long step) {
      if (w.rfind("production", 0) == 0 && step == at) ::raise(SIGKILL);
    };
    REQUIRE(nernst_test::run_in_child([&] { workflow::run_pipeline(o, factory); }).killed);
  };
  stop(300);
  const fs::path chk = dir / production / "checkpoint.bin";
  REQUIRE(fs::exists(chk.string() + ".prev"));
  fs::resize_file(chk, fs::file_size(chk) / 3);  // truncated latest
  finish_and_compare(dir);
  CHECK(fs::exists(chk.string() + ".bad"));

  // both generations bad: a clear error naming the stage and how to rerun it; nothing marked done
  fs::remove_all(dir);
  stop(300);
  fs::resize_file(chk, 10);
  fs::resize_file(chk.string() + ".prev", 0);
  const auto r = nernst_test::run_in_child([&] { workflow::run_pipeline(short_run(dir), factory); });
  REQUIRE_FALSE(r.finished);
  MESSAGE(r.error);
  CHECK(r.error.find("stage '" + production + "' cannot resume") == 0);
  CHECK(r.error.find("rm -r " + (dir / production).string()) != std::string::npos);
  CHECK_FALSE(fs::exists(dir / production / "done.json"));
  // following the advice works
  fs::remove_all(dir / production);
  finish_and_compare(dir);

  // the equilibration's checkpoints (NVT and NpT parts) have generations too
  fs::remove_all(dir);
  {
    auto o = short_run(dir);
    o.on_checkpoint = [](const std::string& w, long step) {
      if (w == "equilibrate NpT" && step == 200) ::raise(SIGKILL);
    };
    REQUIRE(nernst_test::run_in_child([&] { workflow::run_pipeline(o, factory); }).killed);
  }
  const fs::path npt = dir / equilibrate / "eq_npt.chk";
  REQUIRE(fs::exists(npt.string() + ".prev"));
  std::fstream(npt, std::ios::in | std::ios::out | std::ios::binary).seekp(100).put('\x7f');
  finish_and_compare(dir);
  fs::remove_all(dir);
}

TEST_CASE("read-only stage directory: the run stops with an error naming the file, no stage is marked done") {
  const fs::path dir = fresh_dir("readonly");
  {
    auto o = short_run(dir);
    o.on_checkpoint = [](const std::string& w, long step) {
      if (w.rfind("production", 0) == 0 && step == 200) ::raise(SIGKILL);
    };
    REQUIRE(nernst_test::run_in_child([&] { workflow::run_pipeline(o, factory); }).killed);
  }
  // As root, permission bits do not deny writes; the child then runs as 'nobody' over a tree
  // nobody owns except the production directory (owned by root, mode 0555): a real EACCES.
  const bool root = ::geteuid() == 0;
  if (root)
    for (const auto& e : fs::recursive_directory_iterator(dir)) REQUIRE(::chown(e.path().c_str(), 65534, 65534) == 0);
  if (root) REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
  if (root) REQUIRE(::chown((dir / production).c_str(), 0, 0) == 0);
  fs::permissions(dir / production, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                        fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  MESSAGE(std::string(root ? "running as root: the resumed run is a child switched to uid 65534 (nobody)"
                           : "not root: chmod denies"));
  const auto r = nernst_test::run_in_child([&] {
    if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0)) throw std::runtime_error("setuid(nobody) failed");
    workflow::run_pipeline(short_run(dir), factory);
  });
  REQUIRE_FALSE(r.finished);
  MESSAGE(r.error);
  CHECK(r.error.find((dir / production).string()) != std::string::npos);
  CHECK(r.error.find("Permission denied") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / production / "done.json"));
  check_done_stages_are_complete(dir);
  // writable again: resumes to the same result
  fs::permissions(dir / production, fs::perms::owner_all, fs::perm_options::add);
  finish_and_compare(dir);
  fs::remove_all(dir);
}

TEST_CASE("full disk during a run: an error naming the file, no half-written stage marked done, then resumes") {
  const fs::path dir = fresh_dir("full");
  // real failures: a file-size limit (RLIMIT_FSIZE; write() then fails with EFBIG exactly where a
  // full disk fails with ENOSPC) small enough to stop the trajectory of the production stage
  const auto r = nernst_test::run_in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{40000, 40000};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    workflow::run_pipeline(short_run(dir), factory);
  });
  REQUIRE_FALSE(r.finished);
  MESSAGE(r.error);
  CHECK(r.error.find("File too large") != std::string::npos);
  CHECK(r.error.find(dir.string()) != std::string::npos);
  CHECK_FALSE(fs::exists(dir / production / "done.json"));
  check_done_stages_are_complete(dir);
  // injected: ENOSPC when each stage's done.json is written (the last act of a stage)
  for (int stage = 0; stage < 3; ++stage) {
    const auto rr = nernst_test::run_in_child([&] {
      durable_write_hook() = [](const std::string& path, DurableWritePoint p) {
        return path.size() > 9 && path.compare(path.size() - 9, 9, "done.json") == 0 && p == DurableWritePoint::half_written
                   ? ENOSPC
                   : 0;
      };
      workflow::run_pipeline(short_run(dir), factory);
    });
    REQUIRE_FALSE(rr.finished);
    MESSAGE(rr.error);
    CHECK(rr.error.find("done.json.tmp': No space left on device") != std::string::npos);
    check_done_stages_are_complete(dir);
    // let that one stage finish before injecting into the next
    const auto ok = nernst_test::run_in_child([&] {
      int n = 0;
      durable_write_hook() = [&n](const std::string& path, DurableWritePoint p) {
        if (path.find("done.json") != std::string::npos && p == DurableWritePoint::renamed && ++n == 1) ::raise(SIGKILL);
        return 0;
      };
      workflow::run_pipeline(short_run(dir), factory);
    });
    CHECK(ok.killed);
  }
  finish_and_compare(dir);
  fs::remove_all(dir);
}
