#pragma once
// `nernst pipeline STRUCTURE.cif --supercell "1 1 2" --temperatures 500,600,700,800 [--model DIR]
//  [--production-ps PS] [--out DIR] ...`: the whole workflow (enumerate → Ewald top K → relax top
// → equilibrate → NVT production per T → MSD/D → Arrhenius/σ(300 K) → report), resumable: rerun
// the same command after an interruption and finished stages are skipped. `--model` takes the
// bundled default (M3GNet-MatPES-r2SCAN), rigid-ion, a matgl M3GNet/TensorNet directory, a CHGNet .pth.tar or a MACE .model
// checkpoint (model_choice.hpp); `--active-learning R` fine-tunes that graph network before the MD
// (workflow/active_learning.hpp), labels from a potential or from DFT.

#include <CLI/CLI.hpp>

#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/active_learning.hpp>
#include <nernst/workflow/pipeline.hpp>

#include "model_choice.hpp"
#include "number_validators.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace nernst::cli {

namespace detail_pipeline {
inline Eigen::Matrix3i parse_supercell(const std::string& s) {
  std::stringstream ss(s);
  std::vector<int> v;
  std::string tok;
  while (ss >> tok) {
    try {
      std::size_t used = 0;
      v.push_back(std::stoi(tok, &used));
      if (used != tok.size()) throw std::invalid_argument(tok);
    } catch (const std::exception&) {
      throw ValueError("--supercell: '" + tok + "' is not an integer");
    }
  }
  Eigen::Matrix3i m = Eigen::Matrix3i::Zero();
  if (v.size() == 3) {
    for (int i = 0; i < 3; ++i) m(i, i) = v[static_cast<std::size_t>(i)];
  } else if (v.size() == 9) {
    for (int i = 0; i < 9; ++i) m(i / 3, i % 3) = v[static_cast<std::size_t>(i)];
  } else {
    throw ValueError("--supercell: give 3 integers (diagonal) or 9 (rows)");
  }
  if (m.cast<double>().determinant() < 0.5) throw ValueError("--supercell: the matrix must have a positive determinant");
  return m;
}
inline std::vector<double> parse_list(const std::string& s, const char* what) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      out.push_back(std::stod(item));
    } catch (const std::exception&) {
      throw ValueError(std::string(what) + ": '" + item + "' is not a number");
    }
  }
  return out;
}

/// A labeler evaluating the model of architecture Arch at `path` (double precision).
template <class Arch>
workflow::AnyLabeler model_labeler(const std::string& path, const std::string& name) {
  auto m = std::make_shared<typename Arch::Model>(Arch::load(path));
  return workflow::AnyLabeler(workflow::make_potential_labeler([m] { return make_graphnet<Arch>(*m); }, name));
}

/// The oracle of --al-label-with: "dft-export", "rigid-ion", a matgl M3GNet or TensorNet directory
/// or a CHGNet file.
inline workflow::AnyLabeler make_labeler(const std::string& spec) {
  if (spec == "dft-export") return workflow::AnyLabeler(workflow::DftExportLabeler());
  if (spec == "rigid-ion")
    return workflow::AnyLabeler(workflow::make_potential_labeler([] { return make_rigid_ion<>(); }, "rigid-ion (bundled)"));
  if (!std::filesystem::exists(spec))
    throw ValueError("--al-label-with: '" + spec + "' is not dft-export, rigid-ion or an existing model path");
  const ModelChoice c = resolve_model(spec);
  if (c.kind == ModelKind::tensornet) return model_labeler<TensorNet>(c.path, c.name);
  if (c.kind == ModelKind::mace) return model_labeler<MACE>(c.path, c.name);
  if (c.kind == ModelKind::m3gnet) return model_labeler<M3GNet>(c.path, c.name);
  return model_labeler<CHGNet>(c.path, c.name);
}

/// Runs the pipeline with a graph-network model of architecture Arch, fine-tuned by active
/// learning first when asked (workflow::FineTuning<Arch>).
template <class Arch, class Scalar>
nlohmann::json run_graphnet(workflow::PipelineOptions p, const std::string& path, const workflow::ActiveLearningOptions& al,
                            const std::string& label_with) {
  auto model = std::make_shared<typename Arch::Model>(Arch::load(path));
  auto make = [](const typename Arch::Model& m) { return make_graphnet<Arch, Scalar>(m); };
  if (al.rounds > 0)  // the MD after it uses the fine-tuned model
    p.after_relax = workflow::active_learning_stage<Arch>(
        al, path, make, std::make_shared<workflow::AnyLabeler>(make_labeler(label_with)), model, p.on_checkpoint);
  return workflow::run_pipeline(p, [model, make]() { return make(*model); });
}

template <class Arch>
nlohmann::json run_graphnet(const workflow::PipelineOptions& p, const std::string& path, const std::string& precision,
                            const workflow::ActiveLearningOptions& al, const std::string& label_with) {
  return precision == "float" ? run_graphnet<Arch, float>(p, path, al, label_with)
                              : run_graphnet<Arch, double>(p, path, al, label_with);
}

/// `--demo`: lengths for a first look in minutes on two cores (docs/pipeline.md, "Demonstration"),
/// not converged science.
struct Demo {
  static constexpr double heating_ps = 0.5, nvt_ps = 0.5, npt_ps = 2.0, average_ps = 1.0;
  static constexpr double production_ps = 13.0, timestep_fs = 2.0, fmax = 0.05, fit_start_ps = 2.0;
  static constexpr long sample_every = 25;
  static constexpr std::size_t top_k = 3;
  static constexpr const char* precision = "float";
};
}  // namespace detail_pipeline

inline void add_pipeline_command(CLI::App& app) {
  struct Opt {
    std::string structure, supercell = "1 1 1", temps = "500,600,700,800", model = "default", out = "nernst_run", precision = "double";
    workflow::PipelineOptions p;
    double heating_ps = 2, nvt_ps = 50, npt_ps = 140, average_ps = 112;
    bool demo = false;
    std::string preset;
    workflow::ActiveLearningOptions al;
    std::string al_label_with = "rigid-ion";
    double al_T_start = 0;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("pipeline", "Disordered CIF -> orderings -> relaxation -> MD -> D, E_A, sigma(300 K) report (resumable)");
  cmd->add_option("structure", o->structure, "disordered structure (CIF with occupancies) or an ordered one")->required();
  cmd->add_option("--supercell", o->supercell, "fixed supercell: \"1 1 2\" or 9 integers (rows)")->capture_default_str();
  cmd->add_option("--temperatures", o->temps, "MD temperatures in K, comma separated")->capture_default_str();
  cmd->add_option("--model", o->model,
                  "default (the bundled M3GNet-MatPES-r2SCAN), rigid-ion (toy), a matgl M3GNet or TensorNet model directory (model.json + "
                  "state.pt) or a CHGNet checkpoint (.pth.tar)")
      ->capture_default_str();
  cmd->add_option("--precision", o->precision, "graph-network arithmetic: float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  cmd->add_option("--out", o->out, "run directory (rerun with the same directory to resume)")->capture_default_str();
  cmd->add_option("--production-ps", o->p.production_ps, "NVT production per temperature (ps)")->capture_default_str();
  cmd->add_option("--heating-ps", o->heating_ps, "equilibration: heating from 100 K (ps)")->capture_default_str();
  cmd->add_option("--nvt-ps", o->nvt_ps, "equilibration: NVT (ps)")->capture_default_str();
  cmd->add_option("--npt-ps", o->npt_ps, "equilibration: NpT (ps)")->capture_default_str();
  cmd->add_option("--average-ps", o->average_ps, "equilibration: cell averaged over the last ... ps of NpT")->capture_default_str();
  cmd->add_option("--timestep", o->p.timestep, "MD time step (fs)")->capture_default_str();
  cmd->add_option("--sample-every", o->p.sample_every, "steps between trajectory frames")->capture_default_str();
  cmd->add_option("--checkpoint-every", o->p.checkpoint_every, "MD steps between checkpoints (equilibration and production)")->capture_default_str();
  cmd->add_option("--top-k", o->p.top_k, "orderings kept after the ranking (relaxed)")->capture_default_str();
  cmd->add_option("--rank", o->p.rank, "ranking of the orderings: ewald (formal charges) or model (static energy of --model on every ordering)")
      ->check(CLI::IsMember({"ewald", "model"}))
      ->capture_default_str();
  cmd->add_option("--prefilter-ewald", o->p.prefilter_ewald, "--rank model: only the K lowest Ewald energies reach the model (0: all)")
      ->capture_default_str();
  cmd->add_option("--top-m", o->p.top_m, "relaxed orderings sent to MD")->capture_default_str();
  cmd->add_option("--fmax", o->p.fmax, "relaxation force criterion (eV/Å)")->capture_default_str();
  cmd->add_option("--relax-steps", o->p.relax_steps, "maximum FIRE steps per ordering")->capture_default_str();
  cmd->add_option("--occupancy-mode", o->p.occupancy_mode, "per-orbit or per-element")->capture_default_str();
  cmd->add_option("--rounding", o->p.rounding, "non-integral counts: error, nearest, floor, ceil, balanced")->capture_default_str();
  cmd->add_option("--seed", o->p.seed, "MD random seed")->capture_default_str();
  cmd->add_option("--mobile", o->p.mobile, "mobile species")->capture_default_str();
  cmd->add_option("--framework-msd-limit", o->p.framework_msd_limit_A2,
                  "framework MSD (Å²) above which a temperature counts as molten and is left out of the Arrhenius fit")
      ->capture_default_str();
  auto* demo = cmd->add_flag("--demo", o->demo,
                             "demonstration preset (explicit options win): 0.5+0.5+2 ps equilibration (1 ps averaged), "
                             "13 ps production, 2 fs steps, float, MSD fit from 2 ps, --top-k 3, fmax 0.05; minutes, not "
                             "converged science");
  cmd->add_option("--preset", o->preset,
                  "paper: the seed paper's production, 2 ns NVT per temperature at 400-750 K every 50 K (explicit "
                  "--temperatures/--production-ps win)")
      ->check(CLI::IsMember({"paper"}))
      ->excludes(demo);
  cmd->add_option("--fit-start-ps", o->p.fit_start_ps, "fixed MSD fit start (ps); 0: automatic")
      ->check(non_negative)
      ->capture_default_str();
  cmd->add_option("--pressure", o->p.pressure_bar, "NpT equilibration pressure (bar), e.g. 1 or 10000")
      ->capture_default_str();
  cmd->add_flag("--quiet", o->p.quiet, "no progress output");
  cmd->add_option("--stop-after-steps", o->p.interrupt_after_steps,
                  "stop after this many production MD steps in this invocation, at a checkpoint (the same command "
                  "continues): fits a long run into batch-queue slots; 0: run to the end")
      ->check(non_negative)
      ->capture_default_str();
  o->p.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cmd->add_option("--jobs", o->p.jobs,
                  "relaxations, then MD runs (temperatures x orderings), at once, one worker process each (default: the number of cores)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--replicas", o->p.replicas,
                "run the top-K relaxations, then the equilibration and production MD of all temperatures x "
                "orderings, together in lockstep in this process (instead of --jobs workers): one batched force "
                "evaluation per step (on a GPU: M3GNet and CHGNet evaluate all of them at once; on CPUs one per "
                "thread); each relaxation and trajectory is the one a one-thread worker process writes");
  cmd->add_option("--active-learning", o->al.rounds,
                  "active-learning rounds before the MD (M3GNet, TensorNet, CHGNet or MACE --model): MD, furthest-point sampling, labels, "
                  "fine-tuning")
      ->capture_default_str();
  cmd->add_option("--al-frames", o->al.frames, "frames labelled per round")->capture_default_str();
  cmd->add_option("--al-label-with", o->al_label_with,
                  "labels from: rigid-ion, a matgl M3GNet/TensorNet directory or CHGNet .pth.tar (a potential as oracle), or dft-export "
                  "(POSCAR folders; rerun once each holds a vasprun.xml)")
      ->capture_default_str();
  cmd->add_option("--al-T-start", o->al_T_start, "temperature of the first round (K; default: the lowest --temperatures)");
  cmd->add_option("--al-delta-T", o->al.delta_T, "temperature increase per round (K)")->capture_default_str();
  cmd->add_option("--al-md-ps", o->al.md_ps, "MD per round (ps)")->capture_default_str();
  cmd->add_option("--al-sample-every", o->al.sample_every, "steps between the frames sampling chooses from")->capture_default_str();
  cmd->add_option("--al-epochs", o->al.epochs, "fine-tuning epochs per round")->capture_default_str();
  cmd->add_option("--al-lr", o->al.lr, "fine-tuning learning rate")->capture_default_str();
  cmd->callback([o, cmd]() {
    if (o->demo) {
      // The demonstration preset: each value applies unless its option was given explicitly.
      const auto preset = [&](const char* option, auto& field, auto value) {
        if (cmd->count(option) == 0) field = value;
      };
      preset("--heating-ps", o->heating_ps, detail_pipeline::Demo::heating_ps);
      preset("--nvt-ps", o->nvt_ps, detail_pipeline::Demo::nvt_ps);
      preset("--npt-ps", o->npt_ps, detail_pipeline::Demo::npt_ps);
      preset("--average-ps", o->average_ps, detail_pipeline::Demo::average_ps);
      preset("--production-ps", o->p.production_ps, detail_pipeline::Demo::production_ps);
      preset("--timestep", o->p.timestep, detail_pipeline::Demo::timestep_fs);
      preset("--sample-every", o->p.sample_every, detail_pipeline::Demo::sample_every);
      preset("--top-k", o->p.top_k, detail_pipeline::Demo::top_k);
      preset("--fmax", o->p.fmax, detail_pipeline::Demo::fmax);
      preset("--fit-start-ps", o->p.fit_start_ps, detail_pipeline::Demo::fit_start_ps);
      preset("--precision", o->precision, std::string(detail_pipeline::Demo::precision));
    }
    if (o->preset == "paper") {
      if (cmd->count("--temperatures") == 0) o->temps = "400,450,500,550,600,650,700,750";
      if (cmd->count("--production-ps") == 0) o->p.production_ps = 2000;
    }
    auto p = o->p;
    p.structure = o->structure;
    p.out = o->out;
    p.supercell = detail_pipeline::parse_supercell(o->supercell);
    p.temperatures = detail_pipeline::parse_list(o->temps, "--temperatures");
    p.heating = o->heating_ps * 1000;
    p.nvt = o->nvt_ps * 1000;
    p.npt = o->npt_ps * 1000;
    p.average_last = o->average_ps * 1000;
    auto al = o->al;
    if (o->al_T_start > 0) al.T_start = o->al_T_start;
    else if (!p.temperatures.empty()) al.T_start = *std::min_element(p.temperatures.begin(), p.temperatures.end());
    al.timestep = p.timestep;
    al.seed = p.seed;
    const ModelChoice choice = resolve_model(o->model);
    if (al.rounds > 0 && choice.kind == ModelKind::rigid_ion)
      throw ValueError("--active-learning fine-tunes a graph network: give --model with a matgl M3GNet/TensorNet directory, a CHGNet checkpoint or a MACE .model");
    nlohmann::json rep;
    try {
      if (choice.kind == ModelKind::rigid_ion) {
        p.potential_name = choice.name;
        rep = workflow::run_pipeline(p, []() { return make_rigid_ion<>(); });
      } else {
        p.potential_name = choice.name + " (" + o->precision + ")";
        using detail_pipeline::run_graphnet;
        if (choice.kind == ModelKind::mace) rep = run_graphnet<MACE>(p, choice.path, o->precision, al, o->al_label_with);
        else if (choice.kind == ModelKind::chgnet) rep = run_graphnet<CHGNet>(p, choice.path, o->precision, al, o->al_label_with);
        else if (choice.kind == ModelKind::tensornet) rep = run_graphnet<TensorNet>(p, choice.path, o->precision, al, o->al_label_with);
        else rep = run_graphnet<M3GNet>(p, choice.path, o->precision, al, o->al_label_with);
      }
    } catch (const workflow::LabelsPending& e) {
      // not a failure: the run continues from here once the external labels exist
      std::cout << e.what() << "\n";
      return;
    } catch (const workflow::Interrupted& e) {
      // --stop-after-steps: not a failure either
      std::cout << e.what() << "; run the same command to continue\n";
      return;
    }
    std::cout << "report: " << (std::filesystem::path(p.out) / "report.md").string() << "\n";
    for (const auto& m : rep["md"]) {
      const auto& a = m["arrhenius"];
      std::cout << m["ordering"]["file"].get<std::string>() << " (" << m["ordering"]["space_group"].get<std::string>() << "): ";
      if (a["available"].get<bool>())
        std::cout << "E_A = " << a["Ea_eV"].get<double>() << " ± " << a["Ea_err_eV"].get<double>()
                  << " eV, sigma(300 K) = " << a["sigma300K_mS_cm"].get<double>() << " mS/cm\n";
      else
        std::cout << a["reason"].get<std::string>() << "\n";
    }
  });
}

}  // namespace nernst::cli
