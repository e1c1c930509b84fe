#pragma once
/// \file
/// \brief Active learning: R rounds of  MD at T_i → furthest-point sampling of the frames →
/// labels from a Labeler (workflow/labeler.hpp) → fine-tuning of the model (M3GNet, TensorNet,
/// CHGNet, the seed study's own model, or MACE; `FineTuning<Arch>`) on every label so far → round i + 1 at
/// T_i + ΔT, starting from the last MD frame of round i.
///
/// Each round is four resumable stages (workflow/stage.hpp) in the run directory:
///
///   al<i>_md      NVT Nosé–Hoover at T_i with the current model: trajectory.extxyz, final.vasp
///   al<i>_select  furthest-point sampling (sampling/furthest_point.hpp; the last frame first,
///                 positions as written, i.e. unwrapped), wrapped copies in selected.extxyz
///   al<i>_label   the Labeler's labels in labels.extxyz (17 digits); stops the run with
///                 LabelsPending while an external calculation is missing (DftExportLabeler)
///   al<i>_train   train::Trainer on the labels of rounds 0..i (all for training), the model saved
///                 in float64 to al<i>_train/model (M3GNet, TensorNet: a matgl directory),
///                 al<i>_train/model.pth.tar (CHGNet) or al<i>_train/model.model (MACE: the source
///                 .model with the trained tensors, in the source's precision), each a file
///                 `--model` accepts
///
/// Every stage's parameters contain the results it depends on (the model of round i is the
/// saved directory of round i − 1 together with its training result), so a rerun skips finished
/// rounds and a killed run resumes at the stage it was in. Later stages always load the model
/// from disk, so a resumed run and an uninterrupted one use the same (bit-identical) weights.

#include <nernst/io/extxyz.hpp>
#include <nernst/io/read.hpp>
#include <nernst/md/md.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/sampling/furthest_point.hpp>
#include <nernst/train/chgnet_trainable.hpp>
#include <nernst/train/m3gnet_trainable.hpp>
#include <nernst/train/mace_trainable.hpp>
#include <nernst/train/tensornet_trainable.hpp>
#include <nernst/train/trainer.hpp>
#include <nernst/workflow/labeler.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

struct ActiveLearningOptions {
  int rounds = 0;                   ///< 0: no active learning
  std::size_t frames = 8;           ///< frames labelled per round
  double T_start = 500;             ///< K, temperature of round 0
  double delta_T = 100;             ///< K, increase per round
  double md_ps = 2;                 ///< MD per round (ps)
  double timestep = 1;              ///< fs
  long sample_every = 10;           ///< steps between trajectory frames
  std::uint64_t seed = 1;           ///< MD velocities (round i uses seed + i) and batch order
  // fine-tuning (train::TrainOptions)
  int epochs = 5;
  double lr = 1e-4;
  std::size_t batch_size = 4;
  train::LossWeights weights;       ///< energy, forces, stress (GPa)
  bool refit_atomref = true;        ///< least-squares element energies first (oracle reference differs)
  graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl;

  nlohmann::json to_json() const {
    return {{"rounds", rounds}, {"frames", frames}, {"T_start", T_start}, {"delta_T", delta_T}, {"md_ps", md_ps},
            {"timestep", timestep}, {"sample_every", sample_every}, {"seed", seed}, {"epochs", epochs}, {"lr", lr},
            {"batch_size", batch_size}, {"weights", {weights.energy, weights.forces, weights.stress}},
            {"refit_atomref", refit_atomref}, {"three_body", mode == graphnet::ThreeBodyMode::smooth ? "smooth" : "matgl"}};
  }
};

/// How active learning fine-tunes a model of architecture `Arch` (the tag with `Arch::load` and
/// `Arch::Model`): `Trainable` (a train::Trainer model), `make` builds it from a loaded model, and
/// `saved` names what a training stage writes in its directory (loaded back with Arch::load).
template <class Arch>
struct FineTuning;  // one specialisation per trainable architecture (all four graph networks)

template <>
struct FineTuning<M3GNet> {
  using Trainable = train::M3GNetTrainable;
  static std::unique_ptr<Trainable> make(graphnet::M3GNetModel m, const ActiveLearningOptions& a) {
    return std::make_unique<Trainable>(std::move(m), a.mode);
  }
  static constexpr const char* saved = "model";  // a matgl directory
};

template <>
struct FineTuning<TensorNet> {
  using Trainable = train::TensorNetTrainable;
  static std::unique_ptr<Trainable> make(graphnet::TensorNetModel m, const ActiveLearningOptions&) {
    return std::make_unique<Trainable>(std::move(m));
  }
  static constexpr const char* saved = "model";  // a matgl directory
};

template <>
struct FineTuning<CHGNet> {
  using Trainable = train::CHGNetTrainable;
  static std::unique_ptr<Trainable> make(graphnet::CHGNetModel m, const ActiveLearningOptions&) {
    return std::make_unique<Trainable>(std::move(m));
  }
  static constexpr const char* saved = "model.pth.tar";  // a CHGNet checkpoint
};

template <>
struct FineTuning<MACE> {
  using Trainable = train::MACETrainable;
  static std::unique_ptr<Trainable> make(MACE::Model m, const ActiveLearningOptions&) {
    return std::make_unique<Trainable>(std::move(m));
  }
  // A mace-torch .model: the source archive with the trained tensors (a .model source is needed;
  // its storages keep their dtype, so a float32 model is saved rounded to float32).
  static constexpr const char* saved = "model.model";
};

namespace detail {

inline Structure wrapped(const Structure& s) {
  Structure w(s.lattice());
  for (const auto& site : s.sites()) {
    Eigen::Vector3d f = site.frac;
    for (int d = 0; d < 3; ++d) f[d] -= std::floor(f[d]);
    w.add_site(site.z(), f, site.label);
  }
  return w;
}

inline void write_frames(const std::filesystem::path& path, const std::vector<io::Frame>& frames) {
  std::ostringstream os;
  io::ExtXYZWriteOptions wo;
  wo.precision = 17;
  for (const auto& f : frames) io::write_extxyz_frame(os, f, wo);
  write_file_atomic(path, os.str());
}

}  // namespace detail

/// Runs (or resumes) the active-learning rounds. `start` is the structure file of round 0
/// (relative paths are relative to the run directory), `model_dir` the model of architecture
/// `Arch` (M3GNet, TensorNet, CHGNet) to fine-tune, `make_pot(const Arch::Model&)` builds the MD potential
/// from a model, `labeler` a Labeler. Returns {"model": final model (directory or file),
/// "rounds": [per-round results]}; with rounds = 0 returns {"model": model_dir}. Paths inside the
/// run directory are stored relative to it (runs in different directories give equal results).
template <class Arch = M3GNet, class MakePot, class Labeler>
nlohmann::json run_active_learning(StageRunner& runner, const ActiveLearningOptions& a, const std::string& start,
                                   const std::string& model_dir, MakePot make_pot, Labeler& labeler,
                                   const CheckpointHook& hook = {}) {
  namespace fs = std::filesystem;
  if (a.rounds < 0 || a.frames < 1 || !(a.md_ps > 0) || !(a.timestep > 0) || a.sample_every < 1 || !(a.T_start > 0) ||
      a.epochs < 0 || a.batch_size < 1)
    throw ValueError("active learning: need rounds >= 0, frames >= 1, positive MD length, time step, sampling interval, "
                     "start temperature and batch size");
  const fs::path out = runner.dir();
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : out / p; };
  std::string model = fs::absolute(model_dir).string();
  nlohmann::json model_id = model;  // the model and how it was made
  std::string start_file = start;
  nlohmann::json start_id = start_file;
  nlohmann::json rounds = nlohmann::json::array(), labels = nlohmann::json::array();
  const long steps = std::llround(a.md_ps * 1000.0 / a.timestep);
  if (steps < a.sample_every) throw ValueError("active learning: the MD of a round is shorter than one sampling interval");
  for (int i = 0; i < a.rounds; ++i) {
    const std::string tag = "al" + std::to_string(i);
    const double T = a.T_start + i * a.delta_T;
    if (!(T > 0)) throw ValueError("active learning: round " + std::to_string(i) + " has a non-positive temperature");
    // ------------------------------------------------------------ MD with the current model
    const nlohmann::json p_md{{"start", start_id}, {"model", model_id}, {"T", T}, {"steps", steps}, {"dt", a.timestep},
                              {"sample_every", a.sample_every}, {"seed", a.seed + static_cast<std::uint64_t>(i)},
                              {"three_body", a.to_json()["three_body"]}};
    const nlohmann::json md_res = runner.run(tag + "_md", p_md, 1.0 * steps, [&](const fs::path& dir) {
      const auto m = Arch::load(resolve(model).string());
      auto pot = make_pot(m);
      using Pot = decltype(pot);
      using MS = typename Pot::memory_space;
      auto sys = System<MS>::from_structure(io::read_structure(resolve(start_file).string()));
      md::maxwell_boltzmann(sys, T, a.seed + static_cast<std::uint64_t>(i));
      md::SimulationOptions so;
      so.timestep = a.timestep;
      so.seed = a.seed + static_cast<std::uint64_t>(i);
      md::Simulation<md::Ensemble<md::NVT, md::NoseHoover>, Pot> sim(sys, pot, md::Ensemble<md::NVT, md::NoseHoover>({T, 100.0, 3}), so);
      sim.add_observer(std::make_shared<md::TrajectoryWriter<MS>>((dir / "trajectory.extxyz").string(), a.sample_every));
      auto stats = std::make_shared<md::Statistics<MS>>(a.sample_every);
      sim.add_observer(stats);
      sim.run(steps);
      io::write_structure((dir / "final.vasp").string(), sys.to_structure(), io::Format::Poscar);
      if (hook) hook(tag + "_md", steps);
      return nlohmann::json{{"T_K", T}, {"steps", steps}, {"frames", steps / a.sample_every + 1},
                            {"mean_temperature_K", md::Statistics<MS>::mean(stats->T)},
                            {"trajectory", tag + "_md/trajectory.extxyz"}, {"final", tag + "_md/final.vasp"}};
    });
    // ------------------------------------------------------------ furthest-point sampling
    const nlohmann::json p_sel{{"md", md_res}, {"md_parameters", p_md}, {"frames", a.frames}};
    const nlohmann::json sel_res = runner.run(tag + "_select", p_sel, 0.01 * steps, [&](const fs::path& dir) {
      const auto traj = io::read_extxyz_all((out / md_res["trajectory"].get<std::string>()).string());
      if (traj.empty()) throw ValueError("active learning: empty trajectory in " + tag + "_md");
      std::vector<Eigen::MatrixXd> xyz;
      for (const auto& f : traj) {
        Eigen::MatrixXd m(static_cast<Eigen::Index>(f.structure.size()), 3);
        for (std::size_t k = 0; k < f.structure.size(); ++k) m.row(static_cast<Eigen::Index>(k)) = f.structure.cart(k).transpose();
        xyz.push_back(std::move(m));
      }
      const auto fps = sampling::furthest_point_sampling(xyz, a.frames, traj.size() - 1);
      std::vector<io::Frame> chosen;
      for (std::size_t k : fps.indices) {
        io::Frame f;
        f.structure = detail::wrapped(traj[k].structure);
        f.info["md_frame"] = std::to_string(k);
        chosen.push_back(std::move(f));
      }
      detail::write_frames(dir / "selected.extxyz", chosen);
      std::vector<double> d(fps.distances.begin(), fps.distances.end());
      d[0] = -1;  // first pick: no distance (JSON has no infinity)
      return nlohmann::json{{"indices", fps.indices}, {"distances_A2", d}, {"selected", tag + "_select/selected.extxyz"}};
    });
    // ------------------------------------------------------------ labels
    const nlohmann::json p_lab{{"select", sel_res}, {"md_parameters", p_md}, {"labeler", labeler.name()}};
    const nlohmann::json lab_res = runner.run(tag + "_label", p_lab, 0.05 * steps, [&](const fs::path& dir) {
      std::vector<Structure> frames;
      for (const auto& f : io::read_extxyz_all((out / sel_res["selected"].get<std::string>()).string()))
        frames.push_back(f.structure);
      const LabelOutcome lo = labeler.label(frames, dir);
      if (!lo.pending.empty()) {
        std::string m = "active learning round " + std::to_string(i) + ": " + std::to_string(lo.pending.size()) + " of " +
                        std::to_string(frames.size()) + " frames wait for labels (vasprun.xml) in:";
        for (const auto& p : lo.pending) m += "\n  " + p;
        m += "\nrun the DFT calculations there, then rerun the same command to continue";
        throw LabelsPending(m);
      }
      detail::write_frames(dir / "labels.extxyz", lo.frames);
      double emin = 1e300, emax = -1e300;
      for (const auto& f : lo.frames) {
        const double e = *f.energy / static_cast<double>(f.structure.size());
        emin = std::min(emin, e), emax = std::max(emax, e);
      }
      if (hook) hook(tag + "_label", static_cast<long>(lo.frames.size()));
      return nlohmann::json{{"labels", tag + "_label/labels.extxyz"}, {"n", lo.frames.size()},
                            {"energy_range_eV_per_atom", {emin, emax}}};
    });
    labels.push_back(lab_res);
    // ------------------------------------------------------------ fine-tuning on all labels so far
    const nlohmann::json p_tr{{"model", model_id}, {"labels", labels}, {"options", a.to_json()}, {"round", i}};
    const nlohmann::json tr_res = runner.run(tag + "_train", p_tr, 0.2 * steps, [&](const fs::path& dir) {
      train::Dataset data;
      for (const auto& l : labels) data.append(train::Dataset::read((out / l["labels"].get<std::string>()).string()));
      train::TrainOptions t;
      t.epochs = a.epochs;
      t.batch_size = a.batch_size;
      t.adam.lr = a.lr;
      t.weights = a.weights;
      t.refit_atomref = a.refit_atomref;
      t.seed = a.seed;
      t.progress = false;
      t.log_csv = (dir / "learning_curve.csv").string();
      const auto tm = FineTuning<Arch>::make(Arch::load(resolve(model).string()), a);
      train::Trainer<typename FineTuning<Arch>::Trainable> trainer(*tm, t);
      const auto r = trainer.fit(data, train::Dataset{});
      tm->save((dir / FineTuning<Arch>::saved).string(), true);
      if (hook) hook(tag + "_train", static_cast<long>(r.history.size()));
      write_file_atomic(dir / "timing.json", nlohmann::json{{"seconds_per_epoch", r.seconds_per_epoch}}.dump());
      return nlohmann::json{{"model", tag + "_train/" + FineTuning<Arch>::saved}, {"n_train", data.size()},
                            {"initial", r.initial_train.to_json()}, {"final", r.final_train.to_json()},
                            {"epochs", r.history.size()}};
    });
    model = tr_res["model"].get<std::string>();
    model_id = nlohmann::json{{"model", model}, {"train", tr_res}};
    start_file = md_res["final"].get<std::string>();
    start_id = nlohmann::json{{"file", start_file}, {"md", md_res}};
    rounds.push_back({{"round", i}, {"T_K", T}, {"md", md_res}, {"select", sel_res}, {"label", lab_res}, {"train", tr_res}});
  }
  return {{"model", model}, {"rounds", rounds}};
}

/// The active-learning stages as PipelineOptions::after_relax: runs run_active_learning from the
/// best relaxed ordering and loads the final model into `*current` (the model the pipeline's
/// potential factory builds from), also when every round was done earlier.
template <class Arch, class MakePot, class Labeler>
std::function<nlohmann::json(StageRunner&, const std::string&)> active_learning_stage(
    ActiveLearningOptions a, std::string model_dir, MakePot make_pot, std::shared_ptr<Labeler> labeler,
    std::shared_ptr<typename Arch::Model> current, CheckpointHook hook = {}) {
  return [=](StageRunner& r, const std::string& start) {
    nlohmann::json res = run_active_learning<Arch>(r, a, start, model_dir, make_pot, *labeler, hook);
    const std::filesystem::path m = res["model"].get<std::string>();
    *current = Arch::load((m.is_absolute() ? m : r.dir() / m).string());
    return res;
  };
}

}  // namespace workflow
NERNST_NAMESPACE_END
