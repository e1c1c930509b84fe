#pragma once
// `nernst pipeline STRUCTURE.cif --supercell "1 1 2" --temperatures 500,600,700,800 [--model DIR]
//  [--production-ps PS] [--out DIR] ...`: the whole workflow (enumerate → Ewald top K → relax top
// → equilibrate → NVT production per T → MSD/D → Arrhenius/σ(300 K) → report), resumable: rerun
// the same command after an interruption and finished stages are skipped.

#include <CLI/CLI.hpp>

#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/pipeline.hpp>

#include <iostream>
#include <memory>
#include <sstream>
#include <string>
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
}  // namespace detail_pipeline

inline void add_pipeline_command(CLI::App& app) {
  struct Opt {
    std::string structure, supercell = "1 1 1", temps = "500,600,700,800", model, out = "nernst_run", precision = "double";
    workflow::PipelineOptions p;
    double heating_ps = 2, nvt_ps = 50, npt_ps = 140, average_ps = 112;
    bool demo = false;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("pipeline", "Disordered CIF -> orderings -> relaxation -> MD -> D, E_A, sigma(300 K) report (resumable)");
  cmd->add_option("structure", o->structure, "disordered structure (CIF with occupancies) or an ordered one")->required();
  cmd->add_option("--supercell", o->supercell, "fixed supercell: \"1 1 2\" or 9 integers (rows)")->capture_default_str();
  cmd->add_option("--temperatures", o->temps, "MD temperatures in K, comma separated")->capture_default_str();
  cmd->add_option("--model", o->model, "M3GNet model directory (model.json + state.pt); default: the bundled rigid-ion potential");
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
  cmd->add_option("--checkpoint-every", o->p.checkpoint_every, "production steps between checkpoints")->capture_default_str();
  cmd->add_option("--top-k", o->p.top_k, "orderings kept after the Ewald ranking (relaxed)")->capture_default_str();
  cmd->add_option("--top-m", o->p.top_m, "relaxed orderings sent to MD")->capture_default_str();
  cmd->add_option("--fmax", o->p.fmax, "relaxation force criterion (eV/Å)")->capture_default_str();
  cmd->add_option("--relax-steps", o->p.relax_steps, "maximum FIRE steps per ordering")->capture_default_str();
  cmd->add_option("--occupancy-mode", o->p.occupancy_mode, "per-orbit or per-element")->capture_default_str();
  cmd->add_option("--rounding", o->p.rounding, "non-integral counts: error, nearest, floor, ceil, balanced")->capture_default_str();
  cmd->add_option("--seed", o->p.seed, "MD random seed")->capture_default_str();
  cmd->add_option("--mobile", o->p.mobile, "mobile species")->capture_default_str();
  cmd->add_flag("--demo", o->demo, "demonstration lengths: 0.5+1+2 ps equilibration (1 ps averaged), 10 ps production, "
                                   "--top-k 5, fmax 0.05 (not converged science)");
  cmd->add_flag("--quiet", o->p.quiet, "no progress output");
  cmd->callback([o]() {
    auto p = o->p;
    p.structure = o->structure;
    p.out = o->out;
    p.supercell = detail_pipeline::parse_supercell(o->supercell);
    p.temperatures = detail_pipeline::parse_list(o->temps, "--temperatures");
    p.heating = o->heating_ps * 1000;
    p.nvt = o->nvt_ps * 1000;
    p.npt = o->npt_ps * 1000;
    p.average_last = o->average_ps * 1000;
    if (o->demo) {
      p.heating = 500, p.nvt = 1000, p.npt = 2000, p.average_last = 1000;
      p.production_ps = 10;
      p.top_k = 5;
      p.fmax = 0.05;
    }
    nlohmann::json rep;
    if (o->model.empty()) {
      p.potential_name = "rigid-ion (Tosi-Fumi Li-Cl + formal charges, bundled)";
      rep = workflow::run_pipeline(p, []() { return make_rigid_ion<>(); });
    } else {
      const auto model = M3GNet::load(o->model);
      p.potential_name = "M3GNet " + o->model + " (" + o->precision + ")";
      if (o->precision == "float")
        rep = workflow::run_pipeline(
            p, [&]() { return Potential<GraphNet<M3GNet>, float>(model, graphnet::ThreeBodyMode::matgl); });
      else
        rep = workflow::run_pipeline(p, [&]() { return Potential<GraphNet<M3GNet>>(model, graphnet::ThreeBodyMode::matgl); });
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
