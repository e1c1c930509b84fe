#pragma once
/// \file
/// \brief Resumable workflow stages: each stage writes its outputs under the run directory and
/// finishes by atomically writing `<dir>/<stage>/done.json` = {parameters, result}. A rerun with
/// the same parameters skips the stage and returns the stored result; a run killed inside a
/// stage has no done.json, so the stage runs again (stages that can resume part-way, such as MD
/// production, pick up their own checkpoints). Changed parameters rerun the stage and every
/// stage after it (the parameters of a stage include the results it depends on).

#include <nernst/core/durable_file.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/md/restart.hpp>
#include <nernst/workflow/execution_record.hpp>
#include <nernst/workflow/json_file.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// A run stopped on request at a checkpoint (PipelineOptions::interrupt_after_steps): not a
/// failure; the same command continues it.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& m) : Error(m) {}
};

/// Called after every checkpoint a resumable stage writes: (what, step). Tests throw from it to
/// simulate a kill; drivers may use it for logging.
using CheckpointHook = std::function<void(const std::string& what, long step)>;

/// Progress lines (stage k/N, elapsed, ETA of the whole run from the stage cost estimates).
class ProgressLog {
 public:
  explicit ProgressLog(std::ostream* os = &std::cerr) : os_(os) {}
  void set_plan(double total_cost) { total_ = total_cost; }
  /// Worker-process mode (several processes share one terminal): every line carries `label`,
  /// stage lines are whole lines, and in-stage progress is a line per 10 % instead of one
  /// line rewritten with '\r'. The whole-run ETA is left to the parent.
  void set_worker(std::string label) {
    worker_ = std::move(label);
    total_ = 0;
  }
  void begin(const std::string& name, double cost) {
    name_ = name;
    cost_ = cost;
    t0_ = clock::now();
    next_tenth_ = 1;
    if (!os_) return;
    if (!worker_.empty())
      *os_ << "[" << worker_ << "] " << name << " started\n" << std::flush;
    else
      *os_ << "[" << fmt_time(elapsed()) << "] " << name << " ..." << std::flush;
  }
  void end(bool skipped) {
    const double dt = std::chrono::duration<double>(clock::now() - t0_).count();
    done_ += cost_;
    if (!skipped) {
      spent_ += dt;
      done_run_ += cost_;
    }
    if (!os_) return;
    if (!worker_.empty()) {
      *os_ << "[" << worker_ << "] " << name_ << (skipped ? " done earlier (skipped)" : " done in " + fmt_time(dt))
           << "\n" << std::flush;
      return;
    }
    *os_ << (skipped ? " done earlier (skipped)" : " done in " + fmt_time(dt));
    if (done_run_ > 0 && total_ > done_) *os_ << ", ETA " << fmt_time(spent_ / done_run_ * (total_ - done_));
    *os_ << "\n" << std::flush;
  }
  /// A fractional progress line inside a long stage (fraction in [0, 1]).
  void update(double fraction) {
    if (!os_ || !(fraction > 0)) return;
    const double dt = std::chrono::duration<double>(clock::now() - t0_).count();
    const double eta = dt / fraction * (1 - fraction);
    if (!worker_.empty()) {
      if (fraction * 10 < next_tenth_) return;
      while (next_tenth_ <= fraction * 10) ++next_tenth_;
      char b[96];
      std::snprintf(b, sizeof b, "  %5.1f%%  stage ETA %s", 100 * fraction, fmt_time(eta).c_str());
      *os_ << "[" << worker_ << "] " << name_ << b << "\n" << std::flush;
      return;
    }
    char b[96];
    std::snprintf(b, sizeof b, "\r  %-28s %5.1f%%  stage ETA %s   ", name_.c_str(), 100 * fraction, fmt_time(eta).c_str());
    *os_ << b << std::flush;
    if (fraction >= 1) *os_ << "\n";
  }
  static std::string fmt_time(double s) {
    char b[32];
    const long t = static_cast<long>(s + 0.5);
    std::snprintf(b, sizeof b, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    return b;
  }

 private:
  using clock = std::chrono::steady_clock;
  double elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
  std::ostream* os_;
  clock::time_point start_ = clock::now(), t0_;
  std::string name_, worker_;
  int next_tenth_ = 1;
  double total_ = 0, cost_ = 0, done_ = 0, done_run_ = 0, spent_ = 0;
};

/// The run directory: `run(stage, parameters, cost, body)` executes `body(stage_dir)` unless the
/// stage finished earlier with identical parameters; returns the stage's result JSON.
class StageRunner {
 public:
  StageRunner(std::filesystem::path dir, ProgressLog* log = nullptr) : dir_(std::move(dir)), log_(log) {
    std::filesystem::create_directories(dir_);
  }
  const std::filesystem::path& dir() const { return dir_; }
  long executed() const { return executed_; }
  long skipped() const { return skipped_; }

  nlohmann::json run(const std::string& stage, const nlohmann::json& parameters, double cost,
                     const std::function<nlohmann::json(const std::filesystem::path&)>& body) {
    const auto sdir = dir_ / stage;
    const auto done = sdir / "done.json";
    if (log_) log_->begin(stage, cost);
    if (const auto stored = finished(stage, parameters)) {
      ++skipped_;
      if (log_) log_->end(true);
      return *stored;
    }
    open(stage, parameters);
    record_stage_execution(sdir);  // which threads ran (or resumed) it: execution_record.hpp
    nlohmann::json result = run_body(stage, sdir, body);
    write_file_atomic(done, nlohmann::json{{"stage", stage}, {"parameters", parameters}, {"result", result}}.dump(1));
    ++executed_;
    if (log_) log_->end(false);
    return result;
  }

  /// The stored result of `stage` when it finished with these parameters (a done.json with other
  /// parameters is removed: the stage will run again).
  std::optional<nlohmann::json> finished(const std::string& stage, const nlohmann::json& parameters) {
    const auto done = dir_ / stage / "done.json";
    if (!std::filesystem::exists(done)) return std::nullopt;
    const auto j = read_json(done);
    if (j.value("parameters", nlohmann::json()) == parameters) return j.at("result");
    std::filesystem::remove(done);  // parameters changed: redo
    return std::nullopt;
  }

  /// The directory of an unfinished stage, ready for its body: partial outputs of an interrupted run
  /// are kept only when they were made with the same parameters, otherwise it starts empty. For work
  /// done ahead of run() (the pipeline's lockstep production replicas): run() then finds the same
  /// directory and the stage's body resumes from what was left there.
  std::filesystem::path open(const std::string& stage, const nlohmann::json& parameters) {
    const auto sdir = dir_ / stage;
    const auto pfile = sdir / "parameters.json";
    if (std::filesystem::exists(sdir) && (!std::filesystem::exists(pfile) || read_json(pfile) != parameters))
      std::filesystem::remove_all(sdir);
    std::filesystem::create_directories(sdir);
    if (!std::filesystem::exists(pfile)) write_file_atomic(pfile, parameters.dump(1));
    return sdir;
  }

 private:
  /// The stage body; a checkpoint it cannot resume from becomes an error that says how to
  /// rerun just this stage.
  nlohmann::json run_body(const std::string& stage, const std::filesystem::path& sdir,
                          const std::function<nlohmann::json(const std::filesystem::path&)>& body) {
    try {
      return body(sdir);
    } catch (const md::CheckpointUnusable& e) {
      throw md::CheckpointUnusable("stage '" + stage + "' cannot resume: " + e.what() +
                                   ". To rerun this stage from its beginning (earlier stages are kept), remove its "
                                   "directory ('rm -r " + sdir.string() + "') and run the same command again");
    }
  }

  std::filesystem::path dir_;
  ProgressLog* log_;
  long executed_ = 0, skipped_ = 0;
};

}  // namespace workflow
NERNST_NAMESPACE_END
