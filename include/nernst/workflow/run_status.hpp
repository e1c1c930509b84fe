#pragma once
/// \file
/// \brief What a run directory holds, read without writing anything and without taking its lock:
/// for `nernst status DIR` while a run is going (or after it was killed), on a read-only copy, or
/// on a finished directory.
///
/// Per stage directory: done (its `done.json`), or started and not done, with the step of every
/// MD checkpoint generation in it (a damaged one is reported with the reason instead of failing)
/// and, for equilibration and production stages, the fraction of their steps the newest intact
/// checkpoint reached; the configurations the stage ran under (execution_record.hpp). For the
/// directory: who holds (or last held) the lock, and whether that process still runs when it is
/// on this host (a PID check; the lock itself is not touched, so a starting run is never refused
/// because a status was being read).

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/md/restart.hpp>
#include <nernst/workflow/execution_record.hpp>
#include <nernst/workflow/json_file.hpp>
#include <nernst/workflow/run_lock.hpp>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

struct CheckpointStatus {
  std::string file;   ///< name inside the stage directory
  long step = -1;     ///< -1 when it does not read back
  std::string problem;
};

struct StageStatus {
  std::string name;
  bool done = false;
  std::vector<CheckpointStatus> checkpoints;
  double fraction = -1;  ///< of the stage's MD steps reached by its newest intact checkpoint; -1: unknown
  std::vector<ExecutionConfig> runs;
};

struct RunStatus {
  std::string dir;
  std::string lock_holder;  ///< the lock file's "pid P on host H since T"; empty: never locked
  std::string lock_state;   ///< "running", "not running", "unknown (other host)", "none"
  std::vector<StageStatus> stages;
  bool report = false;

  nlohmann::json to_json() const;
  std::string text() const;
};

namespace detail {

/// Pipeline order of the stage names (enumerate, relax, active learning, equilibration,
/// production, analysis, Arrhenius, report), then by name.
inline int stage_order(const std::string& name) {
  static const char* const prefixes[] = {"enumerate", "relax", "al", "active", "equilibrate", "production", "msd", "arrhenius", "report"};
  for (int k = 0; k < 9; ++k)
    if (name.rfind(prefixes[k], 0) == 0) return k;
  return 9;
}

/// "running" / "not running" for a holder on this host (PID check), else "unknown (other host)".
inline std::string lock_state(const std::string& holder) {
  if (holder.empty()) return "none";
  long pid = 0;
  char host[256] = "";
  if (std::sscanf(holder.c_str(), "pid %ld on host %255s", &pid, host) != 2 || pid <= 0) return "unknown (unreadable lock file)";
  char here[256] = "";
  if (::gethostname(here, sizeof here) != 0 || std::string(here) != host) return "unknown (other host)";
  return (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) ? "running" : "not running";
}

/// Steps of an equilibration's NVT part (heating + NVT) and NpT part, from its parameters
/// (run_resumable_protocol's rounding); throws nlohmann::json::exception when they are missing.
inline std::pair<long, long> equilibration_parts(const nlohmann::json& p) {
  const double dt = p.at("dt").get<double>();
  const auto steps = [&](const char* key) { return static_cast<long>(std::llround(p.at(key).get<double>() / dt)); };
  return {steps("heating") + steps("nvt"), steps("npt")};
}

/// Total MD steps of an equilibration or production stage from its parameters.json (-1: unknown).
inline long stage_total_steps(const std::string& name, const nlohmann::json& p) {
  try {
    if (name.rfind("production", 0) == 0) {
      const double dt = p.at("equilibrate").at("dt").get<double>();
      return std::llround(p.at("production_ps").get<double>() * 1000 / dt);
    }
    if (name.rfind("equilibrate", 0) == 0) {
      const auto [nvt, npt] = equilibration_parts(p);
      return nvt + npt;
    }
  } catch (const nlohmann::json::exception&) {
  }
  return -1;
}

/// Steps done by an equilibration's or production's newest intact checkpoint.
inline long stage_steps_done(const std::string& name, const nlohmann::json& p, const std::vector<CheckpointStatus>& cks) {
  auto newest = [&](const std::string& base) {
    long s = -1;
    for (const auto& c : cks)
      if (c.file.rfind(base, 0) == 0) s = std::max(s, c.step);
    return s;
  };
  if (name.rfind("production", 0) == 0) return newest("checkpoint.bin");
  if (name.rfind("equilibrate", 0) == 0) {
    const long npt = newest("eq_npt.chk");
    if (npt < 0) return newest("eq_nvt.chk");
    try {
      return equilibration_parts(p).first + npt;
    } catch (const nlohmann::json::exception&) {
    }
  }
  return -1;
}

inline StageStatus read_stage_status(const std::filesystem::path& sdir) {
  namespace fs = std::filesystem;
  StageStatus st;
  st.name = sdir.filename().string();
  st.done = fs::exists(sdir / "done.json");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(sdir)) {
    const std::string f = e.path().filename().string();
    const bool chk = f.find(".chk") != std::string::npos || f.rfind("checkpoint.bin", 0) == 0;
    if (e.is_regular_file() && chk && f.find(".tmp") == std::string::npos) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    CheckpointStatus c;
    c.file = f.filename().string();
    try {
      c.step = md::read_checkpoint(f.string()).step;
    } catch (const Error& e) {
      c.problem = e.what();
    }
    st.checkpoints.push_back(c);
  }
  if (fs::exists(sdir / "parameters.json")) {
    try {
      const nlohmann::json p = read_json(sdir / "parameters.json");
      const long total = stage_total_steps(st.name, p);
      if (st.done && total > 0) st.fraction = 1;
      else if (total > 0) st.fraction = std::max(0L, stage_steps_done(st.name, p, st.checkpoints)) / static_cast<double>(total);
    } catch (const Error&) {
    }
  }
  try {
    st.runs = stage_executions(sdir);
  } catch (const Error&) {
  }
  return st;
}

}  // namespace detail

/// Reads the status of the run directory `dir` (IOError when it is not a directory).
inline RunStatus read_run_status(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw IOError("'" + dir.string() + "' is not a run directory (no such directory)");
  RunStatus r;
  r.dir = dir.string();
  r.lock_holder = RunLock::holder(dir);
  r.lock_state = detail::lock_state(r.lock_holder);
  r.report = fs::exists(dir / "report.json");
  std::vector<fs::path> sdirs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && (fs::exists(e.path() / "parameters.json") || fs::exists(e.path() / "done.json")))
      sdirs.push_back(e.path());
  std::sort(sdirs.begin(), sdirs.end(), [](const fs::path& a, const fs::path& b) {
    const int ka = detail::stage_order(a.filename().string()), kb = detail::stage_order(b.filename().string());
    return ka != kb ? ka < kb : a.filename() < b.filename();
  });
  for (const auto& s : sdirs) r.stages.push_back(detail::read_stage_status(s));
  if (r.stages.empty() && r.lock_holder.empty())
    throw IOError("'" + dir.string() + "' is not a nernst run directory (no stage directories, no lock file)");
  return r;
}

inline nlohmann::json RunStatus::to_json() const {
  nlohmann::json st = nlohmann::json::array();
  for (const auto& s : stages) {
    nlohmann::json cks = nlohmann::json::array();
    for (const auto& c : s.checkpoints) {
      nlohmann::json cj{{"file", c.file}};
      if (c.problem.empty()) cj["step"] = c.step;
      else cj["problem"] = c.problem;
      cks.push_back(cj);
    }
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& c : s.runs) runs.push_back(c.to_json());
    nlohmann::json j{{"stage", s.name}, {"state", s.done ? "done" : "started"}, {"checkpoints", cks}, {"runs", runs}};
    if (s.fraction >= 0) j["fraction"] = s.fraction;
    st.push_back(j);
  }
  return {{"dir", dir}, {"lock", {{"holder", lock_holder}, {"state", lock_state}}}, {"stages", st}, {"report", report}};
}

inline std::string RunStatus::text() const {
  std::ostringstream os;
  os << "run directory " << dir << "\n";
  if (lock_holder.empty()) os << "lock: never taken\n";
  else os << "lock: " << lock_holder << " (" << lock_state << ")\n";
  for (const auto& s : stages) {
    char b[160];
    std::snprintf(b, sizeof b, "  %-28s %s", s.name.c_str(), s.done ? "done" : "started, not done");
    os << b;
    if (!s.done && s.fraction >= 0) os << ", " << std::lround(100 * s.fraction) << " % of its MD steps checkpointed";
    if (!s.runs.empty()) {
      os << "  [" << s.runs.front().text();
      bool mixed = false;
      for (const auto& c : s.runs) mixed = mixed || c != s.runs.front();
      if (mixed)
        for (std::size_t k = 1; k < s.runs.size(); ++k) os << " → " << s.runs[k].text();
      os << "]";
    }
    os << "\n";
    if (!s.done)
      for (const auto& c : s.checkpoints)
        os << "      " << c.file << ": " << (c.problem.empty() ? "step " + std::to_string(c.step) : "unusable: " + c.problem) << "\n";
  }
  os << (report ? "report: " + (std::filesystem::path(dir) / "report.md").string() + "\n" : std::string("report: not yet written\n"));
  return os.str();
}

}  // namespace workflow
NERNST_NAMESPACE_END
