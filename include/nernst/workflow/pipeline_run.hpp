#pragma once
/// \file
/// \brief PipelineRun: what every stage of one pipeline run shares (options, the potential
/// factory, the run directory's StageRunner and progress log, the parent structure, the cost
/// model), so that each stage (workflow/stages/*.hpp) is a function of the run and of the
/// results it depends on, and nothing else.

#include <nernst/core/structure.hpp>
#include <nernst/core/system.hpp>
#include <nernst/io/read.hpp>
#include <nernst/md/observers.hpp>
#include <nernst/workflow/pipeline_options.hpp>
#include <nernst/workflow/stage.hpp>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// One pipeline run. `make_potential()` returns a fresh potential each call (a stage may run in a
/// forked worker process, and active learning may change what it returns).
template <class Factory>
struct PipelineRun {
  using Pot = decltype(std::declval<Factory&>()());
  using MS = typename Pot::memory_space;

  PipelineRun(const PipelineOptions& options, Factory& factory, StageRunner& stage_runner, ProgressLog& progress)
      : o(options),
        make_potential(factory),
        runner(stage_runner),
        log(progress),
        out(options.out),
        parent(io::read_structure(options.structure)),
        n_est(static_cast<double>(parent.size()) * std::abs(options.supercell.cast<double>().determinant())),
        eq_steps(std::llround((options.heating + options.nvt + options.npt) / options.timestep)),
        prod_steps(std::llround(options.production_ps * 1000.0 / options.timestep)) {}

  const PipelineOptions& o;
  Factory& make_potential;
  StageRunner& runner;
  ProgressLog& log;
  std::filesystem::path out;  ///< the run directory
  Structure parent;           ///< the (disordered) input structure
  double n_est;               ///< atoms in the supercell: the unit of the stages' cost estimates (atom-steps)
  long eq_steps, prod_steps;  ///< MD steps of one equilibration / one production run
  long production_steps_this_call = 0;  ///< counts towards PipelineOptions::interrupt_after_steps
};

namespace detail {

/// "600K": the temperature's part of a stage name.
inline std::string temp_tag(double T) {
  std::ostringstream os;
  os << std::llround(T) << "K";
  return os.str();
}

/// "m<ordering>_<T>": the suffix of the per-(ordering, temperature) stages.
inline std::string run_tag(std::size_t ordering, double T) { return "m" + std::to_string(ordering) + "_" + temp_tag(T); }

inline nlohmann::json matrix_json(const Eigen::Matrix3d& m) {
  return {{m(0, 0), m(0, 1), m(0, 2)}, {m(1, 0), m(1, 1), m(1, 2)}, {m(2, 0), m(2, 1), m(2, 2)}};
}

template <class MS>
void set_velocities(System<MS>& sys, const std::vector<double>& v) {
  auto hv = Kokkos::create_mirror_view(sys.v);
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int d = 0; d < 3; ++d) hv(i, d) = v[3 * i + static_cast<std::size_t>(d)];
  Kokkos::deep_copy(sys.v, hv);
}
template <class MS>
std::vector<double> get_velocities(const System<MS>& sys) {
  auto hv = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.v);
  std::vector<double> v(3 * sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int d = 0; d < 3; ++d) v[3 * i + static_cast<std::size_t>(d)] = hv(i, d);
  return v;
}

/// Observer forwarding the production progress to the ProgressLog.
template <class MS>
class ProgressForward : public md::Observer<MS> {
 public:
  ProgressForward(ProgressLog* log, long total, long every) : log_(log), total_(total), every_(every) {}
  long every() const override { return every_; }
  void observe(const md::ThermoSample& t, const System<MS>&) override {
    if (log_ && total_ > 0) log_->update(std::min(1.0, static_cast<double>(t.step) / total_));
  }

 private:
  ProgressLog* log_;
  long total_, every_;
};

}  // namespace detail
}  // namespace workflow
NERNST_NAMESPACE_END
