#pragma once
/// \file
/// \brief Which execution configuration (Kokkos back end, host threads) ran each stage of a run
/// directory, including every resumption of a stage.
///
/// A run directory may be resumed by a process with another thread count (a batch job landing on
/// another node, another OMP_NUM_THREADS). That is valid: checkpoints hold the physical state, not
/// the thread layout. It is not bit-identical to an uninterrupted run, though: threaded sums are
/// split differently and agree with each other only to rounding (~1e-12 relative in double,
/// docs/threads.md), and an MD trajectory continued from rounding-level differences departs from
/// the uninterrupted one chaotically. What a stage reports (D, σ, E_A) then agrees with the
/// uninterrupted run within its statistical error, not digit for digit. Each stage therefore keeps
/// `execution.json` (one entry per time its body started), and the report names the stages that
/// ran under more than one configuration (docs/pipeline.md, "Resuming with other threads").

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/workflow/json_file.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// The configuration the calling thread runs kernels with.
struct ExecutionConfig {
  std::string backend;       ///< Kokkos' default execution space ("OpenMP", "Serial", "Cuda", …)
  int threads = 1;           ///< threads Kokkos' host kernels use here (1 inside a one-thread region)
  int graphnet_threads = 1;  ///< row chunks of the graph networks (nn::host_threads())

  bool operator==(const ExecutionConfig& o) const {
    return backend == o.backend && threads == o.threads && graphnet_threads == o.graphnet_threads;
  }
  bool operator!=(const ExecutionConfig& o) const { return !(*this == o); }

  nlohmann::json to_json() const {
    return {{"backend", backend}, {"threads", threads}, {"graphnet_threads", graphnet_threads}};
  }
  static ExecutionConfig from_json(const nlohmann::json& j) {
    ExecutionConfig c;
    c.backend = j.value("backend", std::string("unknown"));
    c.threads = j.value("threads", 1);
    c.graphnet_threads = j.value("graphnet_threads", 1);
    return c;
  }
  std::string text() const {
    std::string s = backend + ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    if (graphnet_threads != threads) s += " (graph networks on " + std::to_string(graphnet_threads) + ")";
    return s;
  }
};

inline ExecutionConfig current_execution() {
  ExecutionConfig c;
  if (!Kokkos::is_initialized()) {
    c.backend = "none (Kokkos not initialised)";
    return c;
  }
  c.backend = Kokkos::DefaultExecutionSpace::name();
  c.threads = std::max(1, static_cast<int>(Kokkos::DefaultHostExecutionSpace().concurrency()));
#if defined(_OPENMP)
  if (omp_get_level() > 0) c.threads = 1;  // inside workflow::on_one_thread (forked workers)
#endif
  c.graphnet_threads = nn::host_threads();
  return c;
}

inline std::filesystem::path execution_file(const std::filesystem::path& stage_dir) { return stage_dir / "execution.json"; }

/// The configurations a stage ran under, oldest first (empty when it has no record: a directory
/// written before records were kept).
inline std::vector<ExecutionConfig> stage_executions(const std::filesystem::path& stage_dir) {
  std::vector<ExecutionConfig> v;
  const auto f = execution_file(stage_dir);
  if (!std::filesystem::exists(f)) return v;
  const nlohmann::json j = read_json(f);
  if (!j.is_array()) throw ParseError(f.string(), 0, "expected a JSON array of execution records");
  for (const auto& e : j) v.push_back(ExecutionConfig::from_json(e));
  return v;
}

/// Appends the calling process' configuration to the stage's record (called each time the
/// stage's body starts: first run or resumption).
inline void record_stage_execution(const std::filesystem::path& stage_dir) {
  nlohmann::json j = nlohmann::json::array();
  try {
    for (const auto& c : stage_executions(stage_dir)) j.push_back(c.to_json());
  } catch (const Error&) {  // a damaged record must not stop a run: it restarts, saying so
    j.push_back(ExecutionConfig{"unknown (earlier record unreadable)", 0, 0}.to_json());
  }
  j.push_back(current_execution().to_json());
  write_file_atomic(execution_file(stage_dir), j.dump(1));
}

/// Over a run directory: every configuration seen (with the stages that used it) and the stages
/// resumed under another configuration than they started with.
inline nlohmann::json execution_summary(const std::filesystem::path& run_dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> stages;
  if (fs::is_directory(run_dir))
    for (const auto& e : fs::directory_iterator(run_dir))
      if (e.is_directory() && fs::exists(execution_file(e.path()))) stages.push_back(e.path());
  std::sort(stages.begin(), stages.end());
  std::vector<ExecutionConfig> configs;
  std::vector<std::vector<std::string>> used_by;
  nlohmann::json mixed = nlohmann::json::array();
  for (const auto& s : stages) {
    const auto runs = stage_executions(s);
    const std::string name = s.filename().string();
    bool differs = false;
    for (const auto& c : runs) {
      differs = differs || c != runs.front();
      const auto it = std::find(configs.begin(), configs.end(), c);
      const auto k = static_cast<std::size_t>(it - configs.begin());
      if (it == configs.end()) configs.push_back(c), used_by.emplace_back();
      if (std::find(used_by[k].begin(), used_by[k].end(), name) == used_by[k].end()) used_by[k].push_back(name);
    }
    if (differs) {
      nlohmann::json r = nlohmann::json::array();
      for (const auto& c : runs) r.push_back(c.to_json());
      mixed.push_back({{"stage", name}, {"runs", r}});
    }
  }
  nlohmann::json cj = nlohmann::json::array();
  for (std::size_t k = 0; k < configs.size(); ++k) {
    auto j = configs[k].to_json();
    j["stages"] = used_by[k];
    cj.push_back(j);
  }
  return {{"configurations", cj}, {"resumed_with_other_configuration", mixed}};
}

/// The report's paragraph on execution: the configurations, and a warning that names the
/// stages resumed under another one and what that means for their results.
inline std::string execution_md(const nlohmann::json& summary) {
  std::ostringstream md;
  md << "## Execution\n\n";
  for (const auto& c : summary["configurations"]) {
    const auto cfg = ExecutionConfig::from_json(c);
    md << "* " << cfg.text() << ": " << c["stages"].size() << (c["stages"].size() == 1 ? " stage" : " stages") << "\n";
  }
  const auto& mixed = summary["resumed_with_other_configuration"];
  if (!mixed.empty()) {
    md << "\n**Resumed with another thread count or back end:** ";
    for (std::size_t i = 0; i < mixed.size(); ++i) {
      md << (i ? "; " : "") << "`" << mixed[i]["stage"].get<std::string>() << "` (";
      for (std::size_t k = 0; k < mixed[i]["runs"].size(); ++k)
        md << (k ? " → " : "") << ExecutionConfig::from_json(mixed[i]["runs"][k]).text();
      md << ")";
    }
    md << ". These stages are not bit-identical to an uninterrupted run: threaded sums agree only to "
          "rounding, and MD continued from rounding-level differences departs from the uninterrupted "
          "trajectory, so their results agree with it within their statistical errors, not digit for digit.\n";
  }
  md << "\n";
  return md.str();
}

}  // namespace workflow
NERNST_NAMESPACE_END
