// Checkpoints that survive damage: the previous generation is kept, a corrupt or truncated
// latest one is skipped (with a notice) and the continuation is bit-identical; both bad is a
// CheckpointUnusable error; kill -9 at random moments and at every point inside a checkpoint
// write, then resume, gives the state and trajectory of an uninterrupted run; write failures
// (disk full, injected) are IOErrors naming the file and leave the old checkpoint intact.
#include "md_test_support.hpp"
#include "../process_support.hpp"

#include <nernst/core/durable_file.hpp>
#include <nernst/io/detail/line_reader.hpp>

#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

using namespace nernst;
using namespace mdt;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) { return io::detail::read_text_file(p.string()); }

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("nernst_chkgen_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

constexpr long total_steps = 300, every = 10;

/// The job under test: 108 LJ argon atoms, NVT Nosé–Hoover, checkpoint every 10 steps,
/// trajectory every 5; resumes from its checkpoint when one exists (as the pipeline does).
void md_job(const fs::path& dir) {
  System<> s = fcc(3, 5.8215);
  md::maxwell_boltzmann(s, 120.0, 4242);
  Potential<LennardJones> lj(argon());
  using E = md::Ensemble<md::NVT, md::NoseHoover>;
  md::SimulationOptions o = opts(2.0);
  o.seed = 7;
  o.checkpoint = (dir / "run.chk").string();
  o.checkpoint_every = every;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, E({120.0, 100.0, 3}), o);
  sim.add_observer(std::make_shared<md::TrajectoryWriter<>>((dir / "traj.xyz").string(), 5));
  if (md::checkpoint_exists(o.checkpoint)) sim.restore(o.checkpoint);
  sim.run(total_steps - sim.step());
}

bool same_state(const md::Checkpoint& a, const md::Checkpoint& b) {
  const auto same = [](const auto& u, const auto& v) {
    return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * sizeof(u[0])) == 0;
  };
  return a.step == b.step && same(a.x, b.x) && same(a.v, b.v) && same(a.f, b.f) && same(a.image, b.image) &&
         same(a.ensemble_state, b.ensemble_state) && std::memcmp(&a.energy, &b.energy, sizeof(double)) == 0;
}

/// Uninterrupted reference (in a child too: same code path), computed once.
const fs::path& reference_dir() {
  static const fs::path d = [] {
    const fs::path r = fresh_dir("reference");
    const auto res = nernst_test::run_in_child([&] { md_job(r); });
    if (!res.finished) throw std::runtime_error("reference MD run failed: " + res.error);
    return r;
  }();
  return d;
}

void check_same_as_reference(const fs::path& dir) {
  const fs::path& ref = reference_dir();
  const auto a = md::read_checkpoint((ref / "run.chk").string());
  const auto b = md::read_checkpoint((dir / "run.chk").string());
  CHECK(b.step == total_steps);
  CHECK(same_state(a, b));
  CHECK(slurp(ref / "traj.xyz") == slurp(dir / "traj.xyz"));
}

void flip_byte(const fs::path& p, std::uintmax_t at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x5a));
}

/// A run that stopped after `steps` steps (checkpoints at every 10th), in `dir`.
void partial_run(const fs::path& dir, long stop_at) {
  const auto r = nernst_test::run_in_child([&] {
    durable_write_hook() = [stop_at](const std::string& path, DurableWritePoint p) -> int {
      if (p == DurableWritePoint::renamed && path.find("run.chk") != std::string::npos &&
          md::read_checkpoint(path).step >= stop_at)
        ::raise(SIGKILL);
      return 0;
    };
    md_job(dir);
  });
  REQUIRE(r.killed);
}

}  // namespace

// Forks children (kill -9 tests): suite "fork", run on one thread (tests/CMakeLists.txt).
TEST_SUITE_BEGIN("fork");

TEST_CASE("checkpoint generations: each write keeps the one it replaces as .prev") {
  const auto dir = fresh_dir("prev");
  partial_run(dir, 50);
  const auto latest = md::read_checkpoint((dir / "run.chk").string());
  const auto prev = md::read_checkpoint((dir / "run.chk.prev").string());
  CHECK(latest.step == 50);
  CHECK(prev.step == 40);
  CHECK_FALSE(fs::exists(dir / "run.chk.tmp"));
  fs::remove_all(dir);
}

TEST_CASE("corrupt or truncated latest checkpoint: resumes from the previous one, says so, same result") {
  for (const char* damage : {"flipped byte", "truncated", "empty", "missing"}) {
    CAPTURE(damage);
    const auto dir = fresh_dir("damaged");
    partial_run(dir, 120);
    const fs::path chk = dir / "run.chk";
    const auto size = fs::file_size(chk);
    if (std::string(damage) == "flipped byte") flip_byte(chk, size / 2);
    if (std::string(damage) == "truncated") fs::resize_file(chk, size - 100);
    if (std::string(damage) == "empty") fs::resize_file(chk, 0);
    if (std::string(damage) == "missing") fs::remove(chk);  // killed between the two renames
    // the notice goes to stderr: capture it
    std::stringstream err;
    auto* old = std::cerr.rdbuf(err.rdbuf());
    const auto r = md::read_checkpoint_generations(chk.string());
    std::cerr.rdbuf(old);
    CHECK(r.data.step == 110);
    CHECK(r.path == chk.string() + ".prev");
    CHECK(r.notice.find("resuming from the previous checkpoint '" + chk.string() + ".prev' (step 110)") != std::string::npos);
    if (std::string(damage) != "missing") {
      CHECK(r.notice.find("kept as '" + chk.string() + ".bad'") != std::string::npos);
      CHECK(fs::exists(dir / "run.chk.bad"));
      CHECK_FALSE(fs::exists(chk));  // the next write must not rotate the damaged file into .prev
    }
    // the resumed run (which reads the generations itself) ends as the uninterrupted one
    if (fs::exists(dir / "run.chk.bad")) fs::rename(dir / "run.chk.bad", chk);  // damage back in place
    const auto res = nernst_test::run_in_child([&] { md_job(dir); });
    REQUIRE_MESSAGE(res.finished, res.error);
    check_same_as_reference(dir);
    CHECK(md::read_checkpoint((dir / "run.chk.prev").string()).step == total_steps - every);
    fs::remove_all(dir);
  }
}

TEST_CASE("both checkpoint generations unusable: CheckpointUnusable naming both problems") {
  const auto dir = fresh_dir("bothbad");
  partial_run(dir, 60);
  const fs::path chk = dir / "run.chk";
  fs::resize_file(chk, fs::file_size(chk) / 2);
  flip_byte(dir / "run.chk.prev", 40);
  try {
    (void)md::read_checkpoint_generations(chk.string());
    FAIL("no error");
  } catch (const md::CheckpointUnusable& e) {
    const std::string m = e.what();
    MESSAGE(m);
    CHECK(m.find("'" + chk.string() + "'") != std::string::npos);
    CHECK(m.find("previous generation is unusable too") != std::string::npos);
    CHECK(m.find("hash mismatch") != std::string::npos);
  }
  // the job itself stops with that error instead of starting over silently
  const auto res = nernst_test::run_in_child([&] { md_job(dir); });
  CHECK_FALSE(res.finished);
  CHECK(res.error.find("previous generation is unusable too") != std::string::npos);
  // only a latest one, no previous generation: same error, saying there is none
  fs::remove(dir / "run.chk.prev");
  CHECK_THROWS_WITH_AS(md::read_checkpoint_generations(chk.string()), doctest::Contains("no previous generation"),
                       md::CheckpointUnusable);
  fs::remove_all(dir);
}

TEST_CASE("kill -9 inside every step of a checkpoint write, then resume: same state and trajectory") {
  const auto dir = fresh_dir("killwrite");
  int kills = 0;
  // kill at each point of the 3rd, 7th, ... checkpoint write of successive runs in one directory
  for (const auto point : {DurableWritePoint::opened, DurableWritePoint::half_written, DurableWritePoint::synced,
                           DurableWritePoint::rotated, DurableWritePoint::renamed}) {
    const auto r = nernst_test::run_in_child([&] {
      int n = 0;
      durable_write_hook() = [&n, point](const std::string& path, DurableWritePoint p) -> int {
        if (p == point && path.find("run.chk") != std::string::npos && ++n == 3) ::raise(SIGKILL);
        return 0;
      };
      md_job(dir);
    });
    CAPTURE(static_cast<int>(point));
    CHECK(r.killed);
    kills += r.killed;
    if (point == DurableWritePoint::half_written) {  // a torn temporary is left; the checkpoint itself is whole
      CHECK(fs::exists(dir / "run.chk.tmp"));
      CHECK_NOTHROW((void)md::read_checkpoint((dir / "run.chk").string()));
    }
    if (point == DurableWritePoint::rotated) CHECK_FALSE(fs::exists(dir / "run.chk"));  // between the renames
  }
  CHECK(kills == 5);
  const auto res = nernst_test::run_in_child([&] { md_job(dir); });
  REQUIRE_MESSAGE(res.finished, res.error);
  check_same_as_reference(dir);
  fs::remove_all(dir);
}

TEST_CASE("kill -9 at random moments, resume each time: same state and trajectory as one uninterrupted run") {
  // time of an uninterrupted run, to spread the kills over it
  const auto t0 = std::chrono::steady_clock::now();
  const auto tmp = fresh_dir("timing");
  REQUIRE(nernst_test::run_in_child([&] { md_job(tmp); }).finished);
  const double t_run = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs::remove_all(tmp);
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  MESSAGE("uninterrupted run " << t_run << " s; kill times drawn with seed " << seed);
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 3; ++trial) {
    const auto dir = fresh_dir("randomkill");
    int kills = 0, runs = 0;
    for (; runs < 40; ++runs) {
      std::uniform_real_distribution<double> when(0.0, 0.6 * t_run);
      const auto r = nernst_test::run_in_child([&] { md_job(dir); }, when(rng));
      if (r.finished) break;
      REQUIRE_MESSAGE(r.killed, r.error);
      ++kills;
    }
    MESSAGE("trial " << trial << ": killed " << kills << " times before the run finished");
    CHECK(kills >= 1);
    check_same_as_reference(dir);
    fs::remove_all(dir);
  }
}

TEST_CASE("checkpoint write failures: IOError naming the file, old checkpoint intact, no temporary left") {
  const auto dir = fresh_dir("writefail");
  partial_run(dir, 30);
  const fs::path chk = dir / "run.chk";
  const std::string before = slurp(chk), before_prev = slurp(dir / "run.chk.prev");
  // injected: disk full in the middle of the data, an I/O error at fsync time
  for (const auto point : {DurableWritePoint::half_written, DurableWritePoint::synced}) {
    durable_write_hook() = [point](const std::string&, DurableWritePoint p) { return p == point ? ENOSPC : 0; };
    md::Checkpoint c = md::read_checkpoint(chk.string());
    c.step += 10;
    CHECK_THROWS_WITH_AS(md::write_checkpoint(chk.string(), c),
                         doctest::Contains(("'" + chk.string() + ".tmp': No space left on device").c_str()), IOError);
    durable_write_hook() = nullptr;
    CHECK(slurp(chk) == before);
    CHECK(slurp(dir / "run.chk.prev") == before_prev);
    CHECK_FALSE(fs::exists(dir / "run.chk.tmp"));
  }
  // real: a file-size limit (RLIMIT_FSIZE) makes write() fail as a full disk does
  const auto r = nernst_test::run_in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    md_job(dir);
  });
  CHECK_FALSE(r.finished);
  MESSAGE(r.error);
  CHECK(r.error.find("File too large") != std::string::npos);
  CHECK(r.error.find(dir.string()) != std::string::npos);
  CHECK(slurp(chk) == before);  // the checkpoint is bigger than 4 KiB: never replaced
  CHECK_FALSE(fs::exists(dir / "run.chk.tmp"));
  // a missing directory
  CHECK_THROWS_WITH_AS(md::write_checkpoint((dir / "no_such_dir" / "x.chk").string(), md::read_checkpoint(chk.string())),
                       doctest::Contains("no_such_dir/x.chk.tmp': No such file or directory"), IOError);
  // and the run resumes normally afterwards
  const auto res = nernst_test::run_in_child([&] { md_job(dir); });
  REQUIRE_MESSAGE(res.finished, res.error);
  check_same_as_reference(dir);
  fs::remove_all(dir);
}

TEST_SUITE_END();
