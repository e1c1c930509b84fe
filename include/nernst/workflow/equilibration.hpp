#pragma once
/// \file
/// \brief The published equilibration protocol (md::Protocol: Maxwell–Boltzmann at 100 K,
/// linear heating, NVT, NpT, cell averaged over the end of NpT) run so that a killed process
/// resumes *inside* it: the NVT part (heating + NVT) and the NpT part each write an MD
/// checkpoint (md/restart.hpp) every `checkpoint_every` steps, and the NpT cell samples are
/// saved next to the NpT checkpoint. A resumed run is bit-identical to an uninterrupted one,
/// and both are bit-identical to md::Protocol::run with the same parameters (tests/workflow):
///
/// * heating sets the target temperature with md::Protocol's expression
///   T0 + (T1 − T0)·k/n at every step k, independent of where the run was cut;
/// * the NVT and NpT parts are plain runs (no ramp) split into chunks, which does not change
///   the trajectory; forces, thermostat/barostat states and the step count come from the
///   checkpoint;
/// * the NpT cell average sums the stored samples in the order md::Statistics sums them.
///
/// Files in `dir`: `eq_nvt.chk`, `eq_npt.chk`, `eq_npt_samples.json` (cell samples up to the
/// NpT checkpoint; written before it, so samples after the checkpoint step are dropped on resume).

#include <nernst/core/one_thread.hpp>
#include <nernst/md/protocol.hpp>
#include <nernst/potential/batch_evaluation.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

namespace detail {

/// The NpT cell samples of md::Protocol (md::Statistics subset), with their steps so a resume can
/// drop the ones taken after the checkpoint.
template <class MS>
class CellSamples : public md::Observer<MS> {
 public:
  CellSamples(long every, long from_step) : every_(every), from_(from_step) {}
  long every() const override { return every_; }
  void observe(const md::ThermoSample& t, const System<MS>&) override {
    if (t.step < from_) return;
    step.push_back(t.step);
    T.push_back(t.temperature);
    V.push_back(t.volume);
    cell.push_back(t.cell);
  }
  void resume(long s) override {
    std::size_t keep = 0;
    while (keep < step.size() && step[keep] <= s) ++keep;
    step.resize(keep), T.resize(keep), V.resize(keep), cell.resize(keep);
  }
  /// md::Statistics::mean_cell: the rows summed in sample order, divided by the count.
  Eigen::Matrix3d mean_cell() const {
    Eigen::Matrix3d sum = Eigen::Matrix3d::Zero();
    for (const auto& c : cell) sum += c;
    return T.empty() ? sum : Eigen::Matrix3d(sum / T.size());
  }
  nlohmann::json to_json() const {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& m : cell) c.push_back({m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2), m(2, 0), m(2, 1), m(2, 2)});
    return {{"step", step}, {"T", T}, {"V", V}, {"cell", c}};
  }
  void from_json(const nlohmann::json& j) {
    step = j.at("step").get<std::vector<long>>();
    T = j.at("T").get<std::vector<double>>();
    V = j.at("V").get<std::vector<double>>();
    cell.clear();
    for (const auto& r : j.at("cell")) {
      const auto v = r.get<std::vector<double>>();
      if (v.size() != 9) throw ValueError("equilibration samples: a cell needs 9 numbers");
      Eigen::Matrix3d m;
      for (int k = 0; k < 9; ++k) m(k / 3, k % 3) = v[static_cast<std::size_t>(k)];
      cell.push_back(m);
    }
    if (T.size() != step.size() || V.size() != step.size() || cell.size() != step.size())
      throw ValueError("equilibration samples: arrays of different lengths");
  }
  std::vector<long> step;
  std::vector<double> T, V;
  std::vector<Eigen::Matrix3d> cell;

 private:
  long every_, from_;
};


/// Whether the NpT part can resume from its own checkpoint. When neither generation of
/// `eq_npt.chk` reads back (e.g. the first NpT checkpoint was damaged, so there is no `.prev`)
/// but the NVT part's checkpoint holds its last step, the NpT part restarts from the end of NVT
/// instead of the whole stage: the damaged files are set aside as `.bad` and a warning says so.
/// The restarted NpT part is the uninterrupted run's (it starts from the same state as a run
/// killed between the end of NVT and the first NpT checkpoint).
inline bool npt_resumable(const std::string& npt_chk, const std::filesystem::path& samples_file,
                          const std::string& nvt_chk, long nvt_end) {
  std::string problem;
  for (const std::string& f : {npt_chk, md::previous_checkpoint(npt_chk)}) {
    if (!std::filesystem::exists(f)) continue;
    try {
      (void)md::read_checkpoint(f);
      return true;  // Simulation::restore picks the generation and says which
    } catch (const Error& e) {
      problem += (problem.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  problem = "the NpT checkpoints cannot be read back (" + problem + ")";
  long nvt_step = -1;
  try {
    if (md::checkpoint_exists(nvt_chk)) nvt_step = md::read_checkpoint_generations(nvt_chk).data.step;
  } catch (const md::CheckpointUnusable&) {
  }
  if (nvt_step != nvt_end) throw md::CheckpointUnusable(problem);  // nothing to fall back to
  std::error_code ec;
  for (const std::string& f : {npt_chk, md::previous_checkpoint(npt_chk), samples_file.string()})
    if (std::filesystem::exists(f)) std::filesystem::rename(f, f + ".bad", ec);
  std::cerr << "warning: " << problem << "; restarting the NpT part from the end of NVT ('" << nvt_chk << "', step "
            << nvt_step << ")\n" << std::flush;
  return false;
}
}  // namespace detail

/// One equilibration of run_resumable_protocols: a System (equilibrated in place: the mean NpT
/// cell, the last velocities), its potential, md::Protocol's parameters (production = 0), the
/// directory of its checkpoints, and what it reports (both optional).
template <class Pot>
struct ProtocolJob {
  System<typename Pot::memory_space>* system = nullptr;
  Pot* potential = nullptr;
  md::ProtocolParameters parameters;
  std::filesystem::path dir;
  CheckpointHook hook;                     ///< (what, step) after every checkpoint
  std::function<void(double)> progress;    ///< fraction done after every checkpoint
};

namespace detail {

/// The simulations of one part of the protocol (NVT: heating + NVT; NpT) of several jobs, advanced
/// in lockstep: every step's force evaluations are one `batch` call. With a batch other than
/// InlineBatch (HostBatch: one job per host thread, each with the serial code) the rest of a step
/// runs on the calling thread alone (on_one_thread), so that each job is bitwise its run alone on
/// one thread, as md::Replicas does.
template <class Sim, class Pot, class Batch>
class ProtocolPart {
 public:
  explicit ProtocolPart(const Batch& batch) : batch_(batch) {}
  void add(std::unique_ptr<Sim> sim, ProtocolJob<Pot>* job) { members_.push_back({std::move(sim), job}); }
  std::size_t size() const { return members_.size(); }
  Sim& sim(std::size_t k) { return *members_[k].sim; }
  ProtocolJob<Pot>& job(std::size_t k) { return *members_[k].job; }

  /// Runs f on this thread: alone (one OpenMP thread) with a real batch, else as it is.
  template <class F>
  void serial(F&& f) const {
    if constexpr (std::is_same_v<Batch, InlineBatch>) f();
    else on_one_thread(f);
  }

  /// Advances the members `ks` (all at the same step) by n steps, member k with the thermostat
  /// target `target(k)` (NaN: the ensemble's own), as Simulation::run(n, T, T) would one by one.
  template <class Target>
  void run(const std::vector<std::size_t>& ks, const long n, Target&& target) {
    serial([&] {
      for (std::size_t k : ks) sim(k).start_run(n, target(k), target(k));
    });
    std::vector<std::size_t> fresh;
    for (std::size_t k : ks)
      if (sim(k).needs_initial_forces()) fresh.push_back(k);
    if (!fresh.empty()) {
      auto jobs = make_jobs(fresh, [&](std::size_t k) { return sim(k).initial_request(); });
      batch_(jobs);
      serial([&] {
        for (std::size_t i = 0; i < fresh.size(); ++i) {
          if (jobs[i].error) std::rethrow_exception(jobs[i].error);  // as Simulation::run's first evaluation
          sim(fresh[i]).initialize(jobs[i].result);
        }
      });
    }
    for (long step = 0; step < n; ++step) {
      std::vector<ComputeRequest> req(members_.size());
      serial([&] {
        for (std::size_t k : ks) req[k] = sim(k).begin_step();
      });
      auto jobs = make_jobs(ks, [&](std::size_t k) { return req[k]; });
      batch_(jobs);
      serial([&] {
        for (std::size_t i = 0; i < ks.size(); ++i) sim(ks[i]).end_step(result(jobs[i], ks[i]));
      });
    }
    serial([&] {
      for (std::size_t k : ks) sim(k).finish_run();
    });
  }

  /// The members at the lowest step below `end` (the next to advance); empty when all reached it.
  std::vector<std::size_t> behind(const long end) {
    long low = end;
    for (std::size_t k = 0; k < size(); ++k) low = std::min(low, sim(k).step());
    std::vector<std::size_t> ks;
    if (low < end)
      for (std::size_t k = 0; k < size(); ++k)
        if (sim(k).step() == low) ks.push_back(k);
    return ks;
  }

 private:
  struct Member {
    std::unique_ptr<Sim> sim;
    ProtocolJob<Pot>* job;
  };
  template <class R>
  std::vector<ForceJob<Pot>> make_jobs(const std::vector<std::size_t>& ks, R&& request) {
    std::vector<ForceJob<Pot>> jobs(ks.size());
    for (std::size_t i = 0; i < ks.size(); ++i)
      jobs[i] = {members_[ks[i]].job->potential, members_[ks[i]].job->system, request(ks[i]), {}, nullptr};
    return jobs;
  }
  /// A step's result, or its error through the simulation (a guard's message, a final checkpoint).
  ComputeResult result(ForceJob<Pot>& j, std::size_t k) {
    if (j.error) sim(k).abort_step(j.error);
    return std::move(j.result);
  }
  Batch batch_;
  std::vector<Member> members_;
};

}  // namespace detail

namespace detail {

/// The step counts every job of run_resumable_protocols shares, and its files.
struct ProtocolSchedule {
  long nh = 0, nA = 0, nB = 0;  ///< heating steps; end of heating + NVT; NpT steps
  long every = 1;               ///< checkpoint interval
  double total() const { return static_cast<double>(nA + nB); }
  static long steps(double fs, const md::ProtocolParameters& p) { return static_cast<long>(std::llround(fs / p.timestep)); }
};

inline std::string nvt_checkpoint(const std::filesystem::path& dir) { return (dir / "eq_nvt.chk").string(); }
inline std::string npt_checkpoint(const std::filesystem::path& dir) { return (dir / "eq_npt.chk").string(); }
inline std::filesystem::path npt_samples(const std::filesystem::path& dir) { return dir / "eq_npt_samples.json"; }

inline md::SimulationOptions protocol_options(const md::ProtocolParameters& p) {
  md::SimulationOptions o;
  o.timestep = p.timestep;
  o.seed = p.seed;
  return o;
}

template <class Pot>
void notify(ProtocolJob<Pot>& j, const ProtocolSchedule& sc, const char* what, long step, double done) {
  if (j.hook) j.hook(what, step);
  if (j.progress) j.progress(done / sc.total());
}

/// Heating (one step at a time: the ramp's target depends on the global step only) and NVT of the
/// jobs whose NpT part has no checkpoint yet (`started[k]`), from Maxwell–Boltzmann velocities at
/// T0 or their NVT checkpoint; a checkpoint every `every` steps and at the end.
template <class Pot, class Batch>
void heat_and_nvt(std::vector<ProtocolJob<Pot>>& jobs, const std::vector<char>& started, const ProtocolSchedule& sc,
                  const Batch& batch) {
  using NVT = md::Ensemble<md::NVT, md::NoseHoover>;
  ProtocolPart<md::Simulation<NVT, Pot>, Pot, Batch> part(batch);
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    if (started[k]) continue;
    ProtocolJob<Pot>& j = jobs[k];
    const NVT ens({j.parameters.initial_temperature, j.parameters.tdamp, 3});
    part.add(std::make_unique<md::Simulation<NVT, Pot>>(*j.system, *j.potential, ens, protocol_options(j.parameters)), &j);
  }
  std::vector<std::size_t> fresh;
  for (std::size_t k = 0; k < part.size(); ++k) {
    if (md::checkpoint_exists(nvt_checkpoint(part.job(k).dir))) part.sim(k).restore(nvt_checkpoint(part.job(k).dir));
    else fresh.push_back(k);
  }
  const auto T0 = [&](std::size_t k) { return part.job(k).parameters.initial_temperature; };
  part.serial([&] {
    for (std::size_t k : fresh) md::maxwell_boltzmann(*part.job(k).system, T0(k), part.job(k).parameters.seed);
  });
  part.run(fresh, 0, T0);  // the thermostat set up at T0, as md::Protocol's first run does
  for (auto ks = part.behind(sc.nA); !ks.empty(); ks = part.behind(sc.nA)) {
    const long s = part.sim(ks.front()).step();
    const auto target = [&](std::size_t k) {
      const double T1 = part.job(k).parameters.temperature;
      return s < sc.nh ? T0(k) + (T1 - T0(k)) * static_cast<double>(s + 1) / sc.nh : T1;
    };
    part.run(ks, s < sc.nh ? 1 : std::min(sc.every - s % sc.every, sc.nA - s), target);
    for (std::size_t k : ks) {
      const long now = part.sim(k).step();
      if (now % sc.every != 0 && now != sc.nA) continue;
      part.serial([&] { part.sim(k).write_checkpoint(nvt_checkpoint(part.job(k).dir)); });
      notify(part.job(k), sc, "equilibrate NVT", now, static_cast<double>(now));
    }
  }
}

/// NpT of every job (from the end of NVT or its NpT checkpoint and saved samples), sampling the
/// cell over its last `average_last`; a checkpoint (samples first) every `every` steps and at the
/// end. Returns the protocol results (mean cell, volume, its spread, temperature).
template <class Pot, class Batch>
std::vector<md::ProtocolResult> npt_and_average(std::vector<ProtocolJob<Pot>>& jobs, const std::vector<char>& started,
                                                const ProtocolSchedule& sc, const Batch& batch) {
  using MS = typename Pot::memory_space;
  using NPT = md::Ensemble<md::NpT, md::NoseHoover>;
  ProtocolPart<md::Simulation<NPT, Pot>, Pot, Batch> part(batch);
  std::vector<std::shared_ptr<CellSamples<MS>>> samples;
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    ProtocolJob<Pot>& j = jobs[k];
    const md::ProtocolParameters& p = j.parameters;
    typename NPT::Parameters q;
    q.temperature = p.temperature;
    q.pressure = p.pressure;
    q.tdamp = p.tdamp;
    q.pdamp = p.pdamp;
    q.coupling = p.coupling;
    part.add(std::make_unique<md::Simulation<NPT, Pot>>(*j.system, *j.potential, NPT(q), protocol_options(p)), &j);
    samples.push_back(std::make_shared<CellSamples<MS>>(p.sample_every, sc.nB - ProtocolSchedule::steps(p.average_last, p)));
    part.sim(k).add_observer(samples.back());
    if (started[k]) {
      samples.back()->from_json(read_json(npt_samples(j.dir)));
      part.sim(k).restore(npt_checkpoint(j.dir));  // drops samples taken after the checkpoint step
    }
  }
  for (auto ks = part.behind(sc.nB); !ks.empty(); ks = part.behind(sc.nB)) {
    const long s = part.sim(ks.front()).step();
    part.run(ks, std::min(sc.every - s % sc.every, sc.nB - s), [](std::size_t) { return std::numeric_limits<double>::quiet_NaN(); });
    for (std::size_t k : ks) {
      write_file_atomic(npt_samples(part.job(k).dir), samples[k]->to_json().dump());
      part.serial([&] { part.sim(k).write_checkpoint(npt_checkpoint(part.job(k).dir)); });
      notify(part.job(k), sc, "equilibrate NpT", part.sim(k).step(), static_cast<double>(sc.nA + part.sim(k).step()));
    }
  }
  std::vector<md::ProtocolResult> res(jobs.size());
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    res[k].steps = sc.nA + sc.nB;
    res[k].mean_cell = samples[k]->mean_cell();
    res[k].mean_volume = md::Statistics<MS>::mean(samples[k]->V);
    res[k].volume_std = md::Statistics<MS>::stddev(samples[k]->V);
    res[k].npt_temperature = md::Statistics<MS>::mean(samples[k]->T);
  }
  return res;
}

}  // namespace detail

/// Runs (or resumes) md::Protocol's equilibration of every job, in lockstep: each step's force
/// evaluations of all jobs are one `batch` call (HostBatch: one job per host thread; GraphBatch:
/// one compute_batch; InlineBatch: run_resumable_protocol's one job alone), checkpointing each
/// job into its directory every `checkpoint_every` steps as run_resumable_protocol does. Each job
/// is bitwise run_resumable_protocol of that job alone (on one thread, with a batch other than
/// InlineBatch), also when the jobs resume from checkpoints at different steps: the jobs behind
/// advance first, by the chunks the job alone would take. The jobs must have the same numbers of
/// heating, NVT and NpT steps (their temperatures, pressures and seeds may differ).
template <class Pot, class Batch>
std::vector<md::ProtocolResult> run_resumable_protocols(std::vector<ProtocolJob<Pot>>& jobs, const long checkpoint_every,
                                                        const Batch& batch) {
  using detail::ProtocolSchedule;
  if (checkpoint_every < 1) throw ValueError("run_resumable_protocol: checkpoint interval must be >= 1 step");
  if (jobs.empty()) return {};
  ProtocolSchedule sc;
  const md::ProtocolParameters& p0 = jobs.front().parameters;
  sc.nh = ProtocolSchedule::steps(p0.heating, p0);
  sc.nA = sc.nh + ProtocolSchedule::steps(p0.nvt, p0);
  sc.nB = ProtocolSchedule::steps(p0.npt, p0);
  sc.every = checkpoint_every;
  for (const ProtocolJob<Pot>& j : jobs) {
    const md::ProtocolParameters& p = j.parameters;
    (void)md::Protocol(p);  // validates the parameters
    if (p.production > 0) throw ValueError("run_resumable_protocol: production is run separately (set production = 0)");
    if (ProtocolSchedule::steps(p.heating, p) != sc.nh || sc.nh + ProtocolSchedule::steps(p.nvt, p) != sc.nA ||
        ProtocolSchedule::steps(p.npt, p) != sc.nB)
      throw ValueError("run_resumable_protocols: the jobs need the same numbers of heating, NVT and NpT steps");
    std::filesystem::create_directories(j.dir);
  }
  std::vector<char> npt_started(jobs.size());
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    const std::filesystem::path& dir = jobs[k].dir;
    const std::string npt = detail::npt_checkpoint(dir);
    npt_started[k] = md::checkpoint_exists(npt) &&
                     detail::npt_resumable(npt, detail::npt_samples(dir), detail::nvt_checkpoint(dir), sc.nA);
  }
  detail::heat_and_nvt(jobs, npt_started, sc, batch);  // skipped by a job whose NpT part has a checkpoint
  const auto res = detail::npt_and_average(jobs, npt_started, sc, batch);
  for (std::size_t k = 0; k < jobs.size(); ++k) md::Protocol::set_cell(*jobs[k].system, res[k].mean_cell);
  return res;
}

/// Runs (or resumes) md::Protocol's equilibration of `sys` with `pot` (production = 0 only),
/// checkpointing into `dir` every `checkpoint_every` steps. `progress(fraction)` is called after
/// each chunk when given. (run_resumable_protocols with this one job, evaluated inline.)
template <class Pot>
md::ProtocolResult run_resumable_protocol(System<typename Pot::memory_space>& sys, Pot& pot, const md::ProtocolParameters& p,
                                          const std::filesystem::path& dir, long checkpoint_every,
                                          const CheckpointHook& hook = {},
                                          const std::function<void(double)>& progress = {}) {
  std::vector<ProtocolJob<Pot>> one{{&sys, &pot, p, dir, hook, progress}};
  return run_resumable_protocols(one, checkpoint_every, InlineBatch{}).front();
}

}  // namespace workflow
NERNST_NAMESPACE_END
