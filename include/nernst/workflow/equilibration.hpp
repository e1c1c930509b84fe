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

#include <nernst/md/protocol.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
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

/// Runs (or resumes) md::Protocol's equilibration of `sys` with `pot` (production = 0 only),
/// checkpointing into `dir` every `checkpoint_every` steps. `progress(fraction)` is called after
/// each chunk when given.
template <class Pot>
md::ProtocolResult run_resumable_protocol(System<typename Pot::memory_space>& sys, Pot& pot, const md::ProtocolParameters& p,
                                          const std::filesystem::path& dir, long checkpoint_every,
                                          const CheckpointHook& hook = {},
                                          const std::function<void(double)>& progress = {}) {
  using MS = typename Pot::memory_space;
  namespace fs = std::filesystem;
  (void)md::Protocol(p);  // validates the parameters
  if (p.production > 0) throw ValueError("run_resumable_protocol: production is run separately (set production = 0)");
  if (checkpoint_every < 1) throw ValueError("run_resumable_protocol: checkpoint interval must be >= 1 step");
  fs::create_directories(dir);
  auto nsteps = [&](double fs_) { return static_cast<long>(std::llround(fs_ / p.timestep)); };
  const long nh = nsteps(p.heating), nA = nh + nsteps(p.nvt), nB = nsteps(p.npt);
  const double total = static_cast<double>(nA + nB);
  const std::string nvt_chk = (dir / "eq_nvt.chk").string(), npt_chk = (dir / "eq_npt.chk").string();
  const fs::path samples_file = dir / "eq_npt_samples.json";
  md::SimulationOptions base;
  base.timestep = p.timestep;
  base.seed = p.seed;
  auto notify = [&](const char* what, long step, double done) {
    if (hook) hook(what, step);
    if (progress) progress(done / total);
  };
  md::ProtocolResult res;
  const bool npt_started = md::checkpoint_exists(npt_chk) && detail::npt_resumable(npt_chk, samples_file, nvt_chk, nA);
  if (!npt_started) {  // heating + NVT (skipped entirely once the NpT part has a checkpoint)
    const double T0 = p.initial_temperature, T1 = p.temperature;
    md::Simulation<md::Ensemble<md::NVT, md::NoseHoover>, Pot> sim(sys, pot, md::Ensemble<md::NVT, md::NoseHoover>({T0, p.tdamp, 3}), base);
    if (md::checkpoint_exists(nvt_chk)) {
      sim.restore(nvt_chk);
    } else {
      md::maxwell_boltzmann(sys, T0, p.seed);
      sim.run(0, T0, T0);  // thermostat set up at T0, as md::Protocol's first run does
    }
    while (sim.step() < nA) {
      const long s = sim.step();
      if (s < nh) {  // one step at a time: the ramp's target depends on the global step only
        const double Tk = T0 + (T1 - T0) * static_cast<double>(s + 1) / nh;
        sim.run(1, Tk, Tk);
      } else {
        sim.run(std::min(checkpoint_every - s % checkpoint_every, nA - s), T1, T1);
      }
      if (sim.step() % checkpoint_every == 0 || sim.step() == nA) {
        sim.write_checkpoint(nvt_chk);
        notify("equilibrate NVT", sim.step(), static_cast<double>(sim.step()));
      }
    }
  }
  res.steps += nA;
  {
    typename md::Ensemble<md::NpT, md::NoseHoover>::Parameters q;
    q.temperature = p.temperature;
    q.pressure = p.pressure;
    q.tdamp = p.tdamp;
    q.pdamp = p.pdamp;
    q.coupling = p.coupling;
    md::Simulation<md::Ensemble<md::NpT, md::NoseHoover>, Pot> sim(sys, pot, md::Ensemble<md::NpT, md::NoseHoover>(q), base);
    auto samples = std::make_shared<detail::CellSamples<MS>>(p.sample_every, nB - nsteps(p.average_last));
    sim.add_observer(samples);
    if (npt_started) {
      samples->from_json(read_json(samples_file));
      sim.restore(npt_chk);  // drops samples taken after the checkpoint step
    }
    while (sim.step() < nB) {
      const long s = sim.step();
      sim.run(std::min(checkpoint_every - s % checkpoint_every, nB - s));
      write_file_atomic(samples_file, samples->to_json().dump());
      sim.write_checkpoint(npt_chk);
      notify("equilibrate NpT", sim.step(), static_cast<double>(nA + sim.step()));
    }
    res.steps += nB;
    res.mean_cell = samples->mean_cell();
    res.mean_volume = md::Statistics<MS>::mean(samples->V);
    res.volume_std = md::Statistics<MS>::stddev(samples->V);
    res.npt_temperature = md::Statistics<MS>::mean(samples->T);
  }
  md::Protocol::set_cell(sys, res.mean_cell);
  return res;
}

}  // namespace workflow
NERNST_NAMESPACE_END
